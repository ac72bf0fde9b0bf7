from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import beat_lock, journal  # noqa: F401  (they connect Celery signals)
