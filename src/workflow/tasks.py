import time

from celery import shared_task

TASK_TYPES = range(0, 4)  # 0 is the seeds' test type; the page's buttons are 1, 2 and 3.


@shared_task
def create_task(task_type):
    """The seeds' sample task: sleeps task_type * 10 seconds."""
    time.sleep(int(task_type) * 10)
    return True
