from django.db import migrations


class Migration(migrations.Migration):
    """StoredTaskResult moved here from ops (a proxy: no table changes)."""

    initial = True
    dependencies = [("django_celery_results", "0014_alter_taskresult_status")]

    operations = [
        migrations.CreateModel(
            name="StoredTaskResult",
            fields=[],
            options={"proxy": True, "indexes": [], "constraints": []},
            bases=("django_celery_results.taskresult",),
        ),
    ]
