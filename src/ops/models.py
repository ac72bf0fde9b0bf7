from django.db import models


class Heartbeat(models.Model):
    """Last time a periodic task ran: beat scheduled it and a worker executed it."""

    name = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
