"""Result writes: one statement each, a second write of the same task id updates the row."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from config.celery import app

pytestmark = pytest.mark.django_db


def test_a_result_is_written_in_one_statement():
    task_id = str(uuid.uuid4())
    with CaptureQueriesContext(connection) as queries:
        app.backend.store_result(task_id, True, "SUCCESS")
    assert len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].startswith("INSERT INTO")
    assert app.AsyncResult(task_id).result is True


def test_a_redelivered_task_updates_its_row():
    task_id = str(uuid.uuid4())
    app.backend.store_result(task_id, None, "RETRY")
    first = TaskResult.objects.get(task_id=task_id)
    app.backend.store_result(task_id, {"answer": 42}, "SUCCESS")
    row = TaskResult.objects.get(task_id=task_id)
    assert TaskResult.objects.filter(task_id=task_id).count() == 1
    assert (row.status, row.result) == ("SUCCESS", '{"answer": 42}')
    assert row.date_created == first.date_created
    assert row.date_done >= first.date_done
