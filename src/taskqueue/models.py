"""django-celery-results' TaskResult, written in one statement per result."""

from django.db import connections
from django.utils import timezone
from django_celery_results.managers import TaskResultManager
from django_celery_results.models import TaskResult


class UpsertTaskResultManager(TaskResultManager):
    """Writes a task result in one INSERT ... ON CONFLICT DO UPDATE, in autocommit.

    django-celery-results' store_result runs get_or_create (SELECT, then BEGIN, INSERT,
    COMMIT): four round trips per finished task. One upsert does the same job, and two
    workers storing the same task id (a redelivery) cannot race (bench/: result writes).
    """

    def store_result(self, content_type, content_encoding, task_id, result, status, using=None, **fields):
        fields.pop("exception_retry_count", None)
        now = timezone.now()
        if "date_started" in fields:  # upstream passes a Now() expression
            fields["date_started"] = now
        values = {
            "task_id": task_id,
            "status": status,
            "result": result,
            "content_type": content_type,
            "content_encoding": content_encoding,
            "date_created": now,
            "date_done": now,
            **fields,
        }
        connection = connections[using or self.db]
        quote = connection.ops.quote_name
        columns = [quote(self.model._meta.get_field(name).column) for name in values]
        updates = [
            f"{column} = EXCLUDED.{column}"
            for name, column in zip(values, columns, strict=True)
            if name not in ("task_id", "date_created")
        ]
        # Identifiers come from the model's metadata (quoted), values are parameters.
        sql = (
            f"INSERT INTO {quote(self.model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({quote('task_id')}) DO UPDATE SET {', '.join(updates)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, list(values.values()))


class StoredTaskResult(TaskResult):
    """django-celery-results' TaskResult, written with UpsertTaskResultManager."""

    objects = UpsertTaskResultManager()

    class Meta:
        proxy = True
