"""The seeds' workflow through nginx, gunicorn, RabbitMQ, a worker and PostgreSQL."""

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from tests.support.stack import wait_until

pytestmark = pytest.mark.stack


def result_row(task_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, result FROM django_celery_results_taskresult WHERE task_id = %s", [task_id])
        return cursor.fetchone()


def test_seed_integration_flow(stack, stack_db_blocker):
    """Seed 000's test: PENDING first, then SUCCESS with result true (type 0).

    The worker stops consuming while the first status is read, so PENDING is certain,
    not a race against a task that takes no time.
    """
    # Retried until a worker answers: right after start-up it may not listen yet.
    pause = lambda: app.control.cancel_consumer(settings.TASK_QUEUE, reply=True, timeout=2)  # noqa: E731
    wait_until(pause, 60, message="a worker to pause")
    try:
        task_id = stack.submit(0)
        assert stack.status(task_id) == {"task_id": task_id, "task_status": "PENDING", "task_result": None}
    finally:
        app.control.add_consumer(settings.TASK_QUEUE, reply=True, timeout=5)
    content = stack.wait_final(task_id, timeout=60)
    assert content == {"task_id": task_id, "task_status": "SUCCESS", "task_result": True}
    with stack_db_blocker.unblock():
        assert result_row(task_id) == ("SUCCESS", "true")


def test_form_post_like_curl(stack):
    response = stack.post("/tasks/", files={"type": (None, "0")})  # curl -F type=0
    assert response.status_code == 202
    assert stack.wait_final(response.json()["task_id"])["task_status"] == "SUCCESS"


def test_the_202_points_to_the_tasks_status(stack):
    response = stack.post("/tasks/", json={"type": 0})
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert response.headers["Location"] == f"/tasks/{task_id}/"
    stack.wait_final(task_id)
    assert stack.get(response.headers["Location"]).json()["task_status"] == "SUCCESS"


@pytest.mark.parametrize(
    "kwargs,status",
    [
        ({"json": {"type": 5}}, 400),
        ({"data": "{oops", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": {"type": "one"}}, 400),
        ({"data": {}}, 400),
    ],
)
def test_bad_input_through_nginx(stack, kwargs, status):
    response = stack.post("/tasks/", **kwargs)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert "error" in response.json()


def test_wrong_method_and_bad_id_through_nginx(stack):
    assert stack.get("/tasks/").status_code == 405
    assert stack.get("/tasks/not-a-uuid/").status_code == 400


def test_task_over_its_time_limit_fails_with_a_reason(stack):
    from workflow.tasks import create_task

    result = create_task.apply_async((1,), soft_time_limit=1, time_limit=3)
    content = stack.wait_final(result.id, timeout=30)
    assert content["task_status"] == "FAILURE"
    assert "TimeLimitExceeded" in content["task_result"]
    # the worker goes on
    assert stack.wait_final(stack.submit(0))["task_status"] == "SUCCESS"


def test_results_are_visible_in_the_admin_model(stack, stack_db_blocker):
    from django_celery_results.models import TaskResult

    task_id = stack.submit(0)
    stack.wait_final(task_id)
    with stack_db_blocker.unblock():
        row = wait_until(lambda: TaskResult.objects.filter(task_id=task_id).first(), 10, message="result row")
    assert row.status == "SUCCESS"
    assert row.task_name == "workflow.tasks.create_task"
