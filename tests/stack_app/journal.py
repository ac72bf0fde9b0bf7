"""Every task start, one line in a file: how the fault suite counts redeliveries.

A file rather than a table: appending never waits for PostgreSQL, so a database outage
runs exactly as in production. O_APPEND keeps each short line whole among the prefork
pool's processes.
"""

import os

from celery.signals import task_prerun

JOURNAL_FILE = os.environ["TASK_JOURNAL_FILE"]


@task_prerun.connect(weak=False)
def record_start(task_id=None, task=None, **kwargs):
    line = f"{task_id} {os.getpid()} {task.request.hostname or '-'}\n".encode()
    fd = os.open(JOURNAL_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def executions(path=JOURNAL_FILE):
    """(task_id, pid) of every task start, oldest first."""
    try:
        with open(path) as journal:
            return [tuple(line.split()[:2]) for line in journal if line.strip()]
    except FileNotFoundError:
        return []
