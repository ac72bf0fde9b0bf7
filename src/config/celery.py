"""The Celery app, set up as the Celery docs describe for Django."""

import logging.handlers
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from ops.tracing import RequestIdFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The publisher waits for RabbitMQ's confirm a bounded time (taskqueue/publishing.py).
app = Celery("config", amqp="taskqueue.publishing:BoundedConfirmAMQP")
app.config_from_object("django.conf:settings", namespace="CELERY")
# result_backend stays "django-db"; this subclass of its backend class also retries
# through PostgreSQL restarts. (A loader alias would lose to the package's entry point.)
app.backend_cls = "taskqueue.result_backend:RetryingDatabaseBackend"
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def request_ids_and_log_file(logger, format, **kwargs):
    """Every handler Celery set up gives its lines the request id (its formats name it).

    CELERY_LOG_FILE: logs go to this file as well as to the process output.
    WatchedFileHandler reopens the file after logrotate moves it, which is safe with
    the prefork pool's many writers (a rotating handler in each process is not).
    """
    path = os.environ.get("CELERY_LOG_FILE")
    if path:
        handler = logging.handlers.WatchedFileHandler(path)
        handler.setFormatter(logging.Formatter(format))
        logger.addHandler(handler)
    for handler in logger.handlers:
        handler.addFilter(RequestIdFilter())
