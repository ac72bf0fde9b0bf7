from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: /healthz and /readyz, the healthcheck and migrate_locked commands, and
    the beat heartbeat the health check reads."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"
