from django.db import migrations


class Migration(migrations.Migration):
    """The execution journal moved to the test suite (tests/stack_app): drop its table."""

    dependencies = [("ops", "0003_stored_task_result")]

    operations = [migrations.DeleteModel(name="TaskExecution")]
