from celery import shared_task
from django.utils import timezone

from .models import Heartbeat

BEAT_HEARTBEAT = "beat"


@shared_task(ignore_result=True)
def record_beat_heartbeat():
    Heartbeat.objects.update_or_create(name=BEAT_HEARTBEAT, defaults={"seen_at": timezone.now()})
