import os
import time

from celery.signals import task_postrun
from django.apps import AppConfig


class DoneConfig(AppConfig):
    """One definition of "done" for every variant: the worker appends "task_id time" to
    BENCH_DONE_FILE when a task has finished, result written or not (results-ignored and
    events-off variants included). O_APPEND keeps each short line whole among the pool's
    processes; a line costs every variant the same."""

    name = "bench.done"
    label = "bench_done"

    def ready(self):
        path = os.environ["BENCH_DONE_FILE"]

        def record(task_id=None, **kwargs):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{task_id} {time.time():.6f}\n".encode())
            finally:
                os.close(fd)

        task_postrun.connect(record, weak=False)
