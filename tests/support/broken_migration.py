"""A migration that fails when it runs (it selects from a table that does not exist), for the
upgrade tests: deploy/upgrade must then leave `current` and every process alone."""

FILE_NAME = "9999_broken.py"
ERROR_MARK = "no_such_table"  # in the error: it failed on this step, not on a conflict


def broken_migration(latest: str) -> str:
    """The source of a migration of the ops app that runs after `latest` and fails."""
    return TEMPLATE.replace("LATEST", latest)


TEMPLATE = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ops", "LATEST")]
    operations = [migrations.RunSQL("SELECT * FROM no_such_table")]
"""
