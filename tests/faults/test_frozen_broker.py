"""RabbitMQ stops answering without closing anything: its process frozen (SIGSTOP), the
kernel still acknowledges every byte and keepalive probe, no confirm comes back. That is
also what a web process sees when its broker node is cut off after it took a publish. A
POST /tasks/ then answers 503 within the publish's bounds (taskqueue/publishing.py), not a
request hung until a proxy gives up, and tasks are accepted again once RabbitMQ answers."""

import contextlib
import os
import signal
import subprocess

import pytest
import requests

from taskqueue.publishing import PUBLISH_ERRORS, publish
from tests.support.stack import wait_until
from workflow.tasks import create_task

WARM_UP_POSTS = 30  # gunicorn's processes and threads hold their broker connections afterwards
CLIENT_TIMEOUT = 60  # far above the publish's bounds, below nothing that could answer for it


@contextlib.contextmanager
def frozen_rabbitmq():
    """RabbitMQ's process stopped (SIGSTOP) for the block, and thawed whatever happens in it."""
    pid = int(rabbitmqctl("eval", "os:getpid().").strip().strip('"'))
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_frozen_broker_gets_a_503_not_a_hung_request(stack):
    for _ in range(WARM_UP_POSTS):
        requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=30).raise_for_status()
    with frozen_rabbitmq():
        response = requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=CLIENT_TIMEOUT)
    assert response.status_code == 503, f"{response.status_code}: {response.text[:200]}"
    assert response.headers["Content-Type"] == "application/json"

    def accepted_again():
        return requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=30).status_code == 202

    wait_until(accepted_again, 120, 1, "POST /tasks/ accepted once RabbitMQ answers again")


def test_the_thread_that_got_the_error_publishes_again_once_rabbitmq_answers(stack):
    """publish() keeps a producer per thread. A reconnect that fails while RabbitMQ is frozen
    leaves that producer without a channel: the same thread must still publish once RabbitMQ
    answers, not fail on every later request (here the test's own thread publishes)."""
    publish(create_task, (0,))
    with frozen_rabbitmq(), pytest.raises(PUBLISH_ERRORS):
        publish(create_task, (0,))
    task_id = publish(create_task, (0,))
    assert stack.wait_final(task_id)["task_status"] == "SUCCESS"  # taken, and run by the stack's worker


def rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def configured_memory_watermark():
    """The relative watermark deploy/rabbitmq/rabbitmq.conf gives the node, to put back."""
    conf = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "rabbitmq", "rabbitmq.conf")
    with open(conf) as lines:
        for line in lines:
            name, _, value = line.partition("=")
            if name.strip() == "vm_memory_high_watermark.relative":
                return value.strip()
    raise AssertionError(f"no vm_memory_high_watermark.relative in {conf}")


def test_a_memory_alarm_gets_a_503_that_names_the_task_it_may_still_run(stack):
    """Under a memory alarm RabbitMQ stops reading from publishing connections: the publish is
    never confirmed, yet RabbitMQ takes it once the alarm clears. The 503 must say so and give
    the task's id, and that task must then run (not "nothing was enqueued")."""
    requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=30).raise_for_status()
    watermark = configured_memory_watermark()
    rabbitmqctl("set_vm_memory_high_watermark", "absolute", "1")
    try:
        wait_until(lambda: "memory" in rabbitmqctl("eval", "rabbit_alarm:get_alarms()."), 30, 0.5, "the memory alarm")
        response = requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=CLIENT_TIMEOUT)
    finally:
        rabbitmqctl("set_vm_memory_high_watermark", watermark)
    assert response.status_code == 503, f"{response.status_code}: {response.text[:200]}"
    body = response.json()
    assert "may still run" in body["error"]
    assert stack.wait_final(body["task_id"])["task_status"] == "SUCCESS"
