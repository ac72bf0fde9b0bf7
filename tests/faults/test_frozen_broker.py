"""RabbitMQ stops answering without closing anything: its process frozen (SIGSTOP), the
kernel still acknowledges every byte and keepalive probe, no confirm comes back. That is
also what a web process sees when its broker node is cut off after it took a publish. A
POST /tasks/ then answers 503 within the publish's bounds (taskqueue/publishing.py), not a
request hung until a proxy gives up, and tasks are accepted again once RabbitMQ answers."""

import os
import signal
import subprocess

import requests

from tests.support.stack import wait_until

WARM_UP_POSTS = 30  # every gunicorn process holds a pooled broker connection afterwards
CLIENT_TIMEOUT = 60  # far above the publish's bounds, below nothing that could answer for it


def rabbitmq_pid():
    out = subprocess.run(["rabbitmqctl", "-q", "eval", "os:getpid()."], capture_output=True, text=True, check=True,
                         timeout=60).stdout  # fmt: skip
    return int(out.strip().strip('"'))


def test_a_frozen_broker_gets_a_503_not_a_hung_request(stack):
    for _ in range(WARM_UP_POSTS):
        requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=30).raise_for_status()
    pid = rabbitmq_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        response = requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=CLIENT_TIMEOUT)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert response.status_code == 503, f"{response.status_code}: {response.text[:200]}"
    assert response.headers["Content-Type"] == "application/json"

    def accepted_again():
        return requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=30).status_code == 202

    wait_until(accepted_again, 120, 1, "POST /tasks/ accepted once RabbitMQ answers again")
