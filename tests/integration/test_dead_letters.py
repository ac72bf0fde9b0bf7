"""Poison messages: a task that kills its worker process on every delivery ends in the
dead-letter queue after TASK_DELIVERY_LIMIT redeliveries, the other tasks keep flowing,
the health check says degraded, and `deploy/bin/manage deadletters` lists, requeues or
purges it."""

import json
import os

import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue

from config.celery import app
from taskqueue import dead_letters
from tests.stack_app.journal import executions
from tests.support.stack import wait_until

OTHER_TASKS = 20


def dead_letter_depth():
    # Declared as the health check does: right after start-up no worker may have yet.
    with Connection(os.environ["CELERY_BROKER_URL"], connect_timeout=5) as conn:
        return dead_letters.declare(conn.default_channel)


def starts_of(task_id):
    return sum(1 for started, _ in executions() if started == task_id)


def manage(stack, *args):
    return stack.script("deploy/bin/manage", "deadletters", *args, check=False, timeout=60)


@pytest.fixture
def poisoned(stack, tmp_path):
    """A poison task, dead-lettered, and the other tasks sent beside it; (task id, marker)."""
    assert dead_letter_depth() == 0, "an earlier test left dead letters"
    marker = tmp_path / "poison"
    marker.touch()
    poison_id = app.send_task("stack_app.poison", args=[str(marker)]).id
    others = [stack.submit(0) for _ in range(OTHER_TASKS)]
    wait_until(lambda: dead_letter_depth() == 1, 120, 0.5, "the poison task to be dead-lettered")
    yield poison_id, marker, others
    marker.unlink(missing_ok=True)
    manage(stack, "purge", "--all")


def test_a_task_that_kills_its_worker_is_dead_lettered_and_the_rest_flow(stack, poisoned):
    poison_id, _, others = poisoned
    # One delivery, then TASK_DELIVERY_LIMIT redeliveries; then RabbitMQ gives up on it.
    assert starts_of(poison_id) == settings.TASK_DELIVERY_LIMIT + 1
    for task_id in others:
        assert stack.wait_final(task_id)["task_status"] == "SUCCESS"
    assert stack.status(poison_id)["task_status"] == "PENDING"  # never finished, not lost

    result = stack.healthcheck("--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1, result.stdout
    assert report["status"] == "degraded"
    assert report["checks"]["deadletters"]["ok"] is False
    assert f"1 task(s) in {settings.TASK_DEAD_LETTER_QUEUE}" in report["checks"]["deadletters"]["detail"]
    assert report["checks"]["workers"]["ok"] is True  # the worker replaced its killed processes

    listing = manage(stack, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    (entry,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert entry["task_id"] == poison_id
    assert entry["task"] == "stack_app.poison"
    assert dead_letter_depth() == 1, "listing must not consume"


def test_requeue_sends_it_back_and_it_runs(stack, poisoned):
    poison_id, marker, _ = poisoned
    marker.unlink()  # the cause is fixed; its next delivery succeeds

    requeued = manage(stack, "requeue", "--id", poison_id)

    assert requeued.returncode == 0, requeued.stderr
    assert stack.wait_final(poison_id) == {"task_id": poison_id, "task_status": "SUCCESS", "task_result": "survived"}
    assert dead_letter_depth() == 0
    wait_until(lambda: stack.healthcheck().returncode == 0, 60, 2, "a healthy stack after the requeue")


def test_purge_drops_only_the_named_task(stack, poisoned):
    poison_id, _, _ = poisoned

    refused = manage(stack, "purge")
    unknown = manage(stack, "purge", "--id", "00000000-0000-4000-8000-000000000000")

    assert refused.returncode != 0 and "needs --id TASK_ID" in refused.stderr
    assert unknown.returncode != 0 and "not in" in unknown.stderr and "Traceback" not in unknown.stderr
    assert dead_letter_depth() == 1, "a refused command settles nothing"
    purged = manage(stack, "purge", "--id", poison_id)
    assert purged.returncode == 0, purged.stderr
    assert dead_letter_depth() == 0
    assert stack.status(poison_id)["task_status"] == "PENDING"


def test_requeue_from_the_classic_queue_of_an_older_release(stack):
    """After an upgrade, what the old classic queue `celery` still holds is moved to `tasks`
    (docs/delivery.md) and runs."""
    legacy = Queue("celery", Exchange("celery", type="direct"), routing_key="celery", durable=True)
    task_id = app.send_task("workflow.tasks.create_task", args=[0], queue=legacy, declare=[legacy]).id

    moved = manage(stack, "requeue", "--all", "--queue", "celery")

    assert moved.returncode == 0, moved.stderr
    assert f"requeued {task_id}" in moved.stdout
    assert stack.wait_final(task_id) == {"task_id": task_id, "task_status": "SUCCESS", "task_result": True}
    with Connection(os.environ["CELERY_BROKER_URL"], connect_timeout=5) as conn:
        assert conn.default_channel.queue_declare("celery", passive=True).message_count == 0
