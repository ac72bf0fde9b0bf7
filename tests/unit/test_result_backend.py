"""Result writes: one statement each, a second write of the same task id updates the row, a
write that meets a database outage is retried until it is stored."""

import uuid
from unittest.mock import patch

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from config.celery import app
from taskqueue.models import StoredTaskResult

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


@pytest.mark.django_db(transaction=True)  # the retry closes the connection: no wrapping transaction
def test_a_write_that_meets_a_database_outage_is_retried_and_stored(caplog):
    task_id = str(uuid.uuid4())
    manager = StoredTaskResult._default_manager
    real_store = manager.store_result
    calls = []

    def refused_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")
        return real_store(*args, **kwargs)

    with patch.object(manager, "store_result", side_effect=refused_once):
        app.backend.store_result(task_id, {"answer": 42}, "SUCCESS")

    assert len(calls) == 2
    assert TaskResult.objects.get(task_id=task_id).status == "SUCCESS"
    assert "result not stored (OperationalError" in caplog.text
