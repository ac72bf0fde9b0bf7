from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "taskqueue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The Celery app, loaded whenever Django starts, so that shared_task binds to it
        # (a publish before that would go to a default app on amqp://guest@localhost).
        import config.celery  # noqa: F401

        from . import beat_lock, dead_letters  # noqa: F401  (connect Celery signals)
