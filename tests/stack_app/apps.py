from django.apps import AppConfig


class StackAppConfig(AppConfig):
    """Test-only additions to the stack the suite starts: never installed in production."""

    name = "tests.stack_app"
    label = "stack_app"

    def ready(self):
        from . import journal  # noqa: F401  (connects a Celery signal)
