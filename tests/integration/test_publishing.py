"""The web's lean publish (taskqueue.publishing.publish) sends Celery's own message: the same
protocol-v2 headers, properties and body as task.delay(), and a stock Celery worker (an app
that shares nothing with this project but the task's name) runs it.

Both run on a queue of their own in the test vhost, so the stack's workers never see them."""

import json
import os
import subprocess
import sys
import uuid

import pytest
from celery import Celery
from kombu import Connection, Exchange, Queue

from config.tracing import current_request_id
from taskqueue.publishing import publish
from tests.support.stack import wait_until
from workflow.tasks import create_task

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASK_NAME = create_task.name
# Headers that differ between any two messages: the task id and what is derived from it.
PER_MESSAGE = {"id", "root_id"}


@pytest.fixture
def queue_name():
    name = f"publishing-test-{uuid.uuid4().hex[:8]}"
    yield name
    with Connection(os.environ["CELERY_BROKER_URL"], connect_timeout=5) as connection:
        connection.default_channel.queue_delete(name)


def app_routed_to(queue_name):
    """The project's Celery app as config/celery.py builds it, routed to a queue of its own."""
    app = Celery("config", amqp="taskqueue.publishing:BoundedConfirmAMQP", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    queue = Queue(queue_name, Exchange(queue_name, type="topic"), routing_key=queue_name, auto_delete=False)
    app.conf.task_queues = [queue]
    app.conf.task_default_queue = queue_name
    app.conf.task_default_exchange = queue_name
    app.conf.task_default_routing_key = queue_name
    return app, app.tasks[TASK_NAME]  # the project's task (a shared task), bound to this app


def take_messages(queue_name, count):
    with Connection(os.environ["CELERY_BROKER_URL"], connect_timeout=5) as connection:
        channel = connection.default_channel
        messages = [channel.basic_get(queue_name, no_ack=True) for _ in range(count)]
    assert all(messages), f"expected {count} messages on {queue_name}"
    return messages


def test_the_lean_publish_sends_what_delay_sends(queue_name):
    app, task = app_routed_to(queue_name)
    token = current_request_id.set("req-publishing-test")  # the tracing header, as in a request
    try:
        by_celery = task.delay(2).id
        by_publish = publish(task, (2,))
    finally:
        current_request_id.reset(token)
        app.close()
    celery_message, lean_message = take_messages(queue_name, 2)

    celery_headers, lean_headers = celery_message.headers, lean_message.headers
    assert (celery_headers["id"], lean_headers["id"]) == (by_celery, by_publish)
    assert lean_headers["root_id"] == by_publish
    assert {k: v for k, v in lean_headers.items() if k not in PER_MESSAGE} == {
        k: v for k, v in celery_headers.items() if k not in PER_MESSAGE
    }
    assert lean_headers["request_id"] == "req-publishing-test"
    assert lean_headers["task"] == TASK_NAME and lean_headers["argsrepr"] == "(2,)"

    celery_properties, lean_properties = (
        {k: v for k, v in message.properties.items() if k not in ("correlation_id", "application_headers")}
        for message in (celery_message, lean_message)
    )
    assert lean_properties == celery_properties
    assert lean_message.properties["correlation_id"] == by_publish
    assert lean_properties["delivery_mode"] == 2  # persistent
    assert lean_message.body == celery_message.body
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    assert json.loads(lean_message.body) == [[2], {}, embed]
    assert lean_message.delivery_info["exchange"] == queue_name


@pytest.mark.parametrize("args", [("x" * 2000,), ([[[[["deep"]]]]],)], ids=["long", "nested"])
def test_the_lean_publish_abbreviates_arguments_as_delay_does(queue_name, args):
    """argsrepr, the arguments as Flower and the results table show them, cut at Celery's
    length and depth limits (read once per task by publish, on every call by Celery)."""
    app, task = app_routed_to(queue_name)
    try:
        task.delay(*args)
        publish(task, args)
    finally:
        app.close()
    by_celery, by_publish = (message.headers["argsrepr"] for message in take_messages(queue_name, 2))
    assert by_publish == by_celery
    assert len(by_celery) < len(repr(args)) or "..." in by_celery  # the limit applied


STOCK_WORKER_APP = """
import json, os, sys
from celery import Celery

app = Celery("stock", broker=os.environ["STOCK_BROKER_URL"])
app.conf.task_default_queue = os.environ["STOCK_QUEUE"]
app.conf.task_default_exchange_type = "topic"  # the queue's exchange, as the project declares it
app.conf.worker_hijack_root_logger = False


@app.task(name="workflow.tasks.create_task", bind=True)
def create_task(self, task_type):
    record = {"task_type": task_type, "id": self.request.id, "argsrepr": self.request.argsrepr,
              "request_id": getattr(self.request, "request_id", None)}
    with open(os.environ["STOCK_RECORD"], "a") as out:
        out.write(json.dumps(record) + "\\n")
"""


def test_a_stock_celery_worker_runs_what_the_lean_publish_sends(queue_name, tmp_path):
    app, task = app_routed_to(queue_name)
    (tmp_path / "stock_worker.py").write_text(STOCK_WORKER_APP)
    record = tmp_path / "runs.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),  # the stock app alone: nothing of the project's code
        "DJANGO_SETTINGS_MODULE": "",
        "STOCK_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        "STOCK_QUEUE": queue_name,
        "STOCK_RECORD": str(record),
    }
    token = current_request_id.set("req-stock-worker")
    try:
        published = [publish(task, (task_type,)) for task_type in (0, 1, 2)]
    finally:
        current_request_id.reset(token)
        app.close()
    command = [sys.executable, "-m", "celery", "--app", "stock_worker", "worker", "--pool", "solo",
               "--queues", queue_name, "--without-gossip", "--without-mingle", "--loglevel", "INFO"]  # fmt: skip
    worker = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def ran_all():
        return record.exists() and len(record.read_text().splitlines()) >= 3

    try:
        wait_until(lambda: ran_all() or worker.poll() is not None, 60, 0.2, "the stock worker's runs")
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert ran_all(), output
    runs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(run["id"], run["task_type"]) for run in runs] == list(zip(published, (0, 1, 2), strict=True)), output
    assert [run["argsrepr"] for run in runs] == ["(0,)", "(1,)", "(2,)"]
    assert {run["request_id"] for run in runs} == {"req-stock-worker"}
