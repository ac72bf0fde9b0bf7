"""Settings of the stack the test suite starts: production's, plus the test-only app."""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.stack_app"]  # noqa: F405
ROOT_URLCONF = "tests.stack_app.urls"
