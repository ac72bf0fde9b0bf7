from django.db import migrations


class Migration(migrations.Migration):
    """StoredTaskResult moved to the taskqueue app (a proxy: no table changes)."""

    dependencies = [("ops", "0004_delete_task_execution"), ("taskqueue", "0001_initial")]

    operations = [migrations.DeleteModel(name="StoredTaskResult")]
