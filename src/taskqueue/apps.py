from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "taskqueue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import beat_lock  # noqa: F401  (connects Celery signals)
