from django.db import models


class Heartbeat(models.Model):
    """Last time a periodic task ran: beat scheduled it and a worker executed it."""

    name = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class TaskExecution(models.Model):
    """One row each time a worker starts a task (TASK_JOURNAL=true).

    Late acks make delivery at-least-once: this journal shows which tasks ran twice
    (after a worker was killed, a broker restart, ...). The fault suite counts from it.
    """

    task_id = models.CharField(max_length=255, db_index=True)
    task_name = models.CharField(max_length=255)
    worker = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.task_name}[{self.task_id}] on {self.worker}"
