"""Every bad input gets a 4xx JSON answer and enqueues nothing (publishing is mocked)."""

import json
from unittest.mock import patch

import pytest
from amqp.exceptions import RecoverableConnectionError
from kombu.exceptions import OperationalError

from taskqueue.publishing import UnconfirmedPublish
from workflow.tasks import create_task

TASK_ID = "d3b07384-d9a0-4c1b-9f5e-0d2f3c4b5a69"


@pytest.fixture
def publish():
    with patch("workflow.views.publish", return_value=TASK_ID) as publish:
        yield publish


def post_json(client, body):
    return client.post("/tasks/", data=body, content_type="application/json")


def test_form_body_enqueues(client, publish):
    response = client.post("/tasks/", {"type": "1"})
    assert response.status_code == 202
    assert response.json() == {"task_id": TASK_ID}
    publish.assert_called_once_with(create_task, (1,))


def test_json_body_enqueues(client, publish):
    response = post_json(client, json.dumps({"type": 3}))
    assert response.status_code == 202
    publish.assert_called_once_with(create_task, (3,))


@pytest.mark.parametrize(
    "body",
    [
        "{bad json",
        "[1]",
        "{}",
        '{"type": "x"}',
        '{"type": 1.5}',
        '{"type": true}',
        '{"type": null}',
        '{"type": -1}',
        '{"type": 4}',
        '{"type": 99999999999999999999}',
        '"1"',
        "\xff\xfe",
    ],
)
def test_bad_json_is_refused(client, publish, body):
    response = post_json(client, body)
    assert response.status_code == 400
    assert "error" in response.json()
    publish.assert_not_called()


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"type": ""},
        {"type": "abc"},
        {"type": "1.0"},
        {"type": "7"},
        {"type": "٣"},
        {"type": "--1"},
        {"type": "1_0"},
    ],
)
def test_bad_form_is_refused(client, publish, form):
    response = client.post("/tasks/", form)
    assert response.status_code == 400
    assert "error" in response.json()
    publish.assert_not_called()


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_wrong_method_on_tasks(client, publish, method):
    response = getattr(client, method)("/tasks/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "error" in response.json()
    publish.assert_not_called()


def test_wrong_method_on_status(client):
    response = client.post(f"/tasks/{TASK_ID}/")
    assert response.status_code == 405
    assert "error" in response.json()


@pytest.mark.parametrize("task_id", ["nope", "1234", "d3b07384-d9a0-4c1b-9f5e-0d2f3c4b5a6", "' OR 1=1 --"])
def test_status_refuses_ids_that_are_not_uuids(client, task_id):
    response = client.get(f"/tasks/{task_id}/")
    assert response.status_code == 400
    assert response.json() == {"error": "task id must be a UUID"}


@pytest.mark.parametrize("error", [OperationalError("refused"), RecoverableConnectionError("gone"), TimeoutError()])
def test_broker_down_is_a_clear_503(client, error):
    with patch("workflow.views.publish", side_effect=error):
        response = client.post("/tasks/", {"type": "1"})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "nothing was enqueued" in response.json()["error"]


def test_a_task_sent_but_not_confirmed_is_a_503_that_names_it(client):
    """RabbitMQ may still queue it (a memory alarm that clears): the answer must not say that
    nothing was enqueued, and gives the id to look up before sending the task again."""
    with patch("workflow.views.publish", side_effect=UnconfirmedPublish(TASK_ID)):
        response = client.post("/tasks/", {"type": "1"})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["task_id"] == TASK_ID
    assert "may still run" in body["error"] and "nothing was enqueued" not in body["error"]


@pytest.mark.django_db
def test_unknown_task_is_pending(client):
    response = client.get(f"/tasks/{TASK_ID}/")
    assert response.json() == {"task_id": TASK_ID, "task_status": "PENDING", "task_result": None}
