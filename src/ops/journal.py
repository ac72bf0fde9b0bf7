"""TASK_JOURNAL: record every task execution in PostgreSQL (see models.TaskExecution)."""

import logging
import os
import time

from celery.signals import task_prerun
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from .models import TaskExecution

log = logging.getLogger(__name__)
RETRY_SECONDS = 60  # outlasts a PostgreSQL restart; a task must not run unrecorded


def record_execution(task):
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            TaskExecution.objects.create(
                task_id=task.request.id, task_name=task.name, worker=task.request.hostname or "", pid=os.getpid()
            )
            return
        except (InterfaceError, OperationalError) as error:
            if time.monotonic() >= deadline:
                raise
            log.warning("task journal: database unavailable (%s), retrying", type(error).__name__)
            connection.close()
            time.sleep(0.5)


if settings.TASK_JOURNAL:
    task_prerun.connect(lambda sender=None, task=None, **kwargs: record_execution(task), weak=False)
