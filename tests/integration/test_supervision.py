"""Processes are supervised; health reporting follows the real state of each dependency."""

import json
import signal
import subprocess

import pytest

from tests.support.stack import wait_until

pytestmark = pytest.mark.stack


def test_killed_worker_is_restarted_and_its_task_still_succeeds(stack):
    task_id = stack.submit(1)  # 10 s
    wait_until(lambda: "received" in _worker_log(stack, task_id), 20, message="the worker to receive the task")
    old_pid = stack.pid("worker:worker0")
    stack.kill("worker:worker0", signal.SIGKILL)
    wait_until(lambda: stack.pid("worker:worker0") not in (0, old_pid), 30, 0.5, "supervisord to restart the worker")
    assert stack.wait_final(task_id, timeout=90) == {"task_id": task_id, "task_status": "SUCCESS", "task_result": True}


def _worker_log(stack, task_id):
    return "\n".join(
        line for line in (stack.run_dir / "log" / "worker0.log").read_text().splitlines() if task_id in line
    )


def test_healthcheck_healthy(stack):
    last = []
    wait_until(lambda: last.append(stack.healthcheck()) or last[-1].returncode == 0, 60, 2,
               lambda: f"a healthy stack; the last check said:\n{last[-1].stdout}")  # fmt: skip
    result = stack.healthcheck("--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["status"] == "healthy"
    assert set(report["checks"]) == {
        "nginx",
        "web",
        "postgresql",
        "migrations",
        "rabbitmq",
        "queues",
        "deadletters",
        "workers",
        "beat",
    }


def test_healthcheck_degraded_without_a_worker(stack):
    stack.supervisorctl("stop", "worker:*")
    try:
        result = stack.healthcheck()
        assert result.returncode == 1, result.stdout
        assert "FAIL workers" in result.stdout
        assert "stack: degraded" in result.stdout
    finally:
        stack.supervisorctl("start", "worker:*")
        stack.wait_running("worker:worker0")


def test_readyz_and_healthcheck_follow_the_broker(stack):
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=60)
    try:
        response = stack.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["broker"]["ok"] is False
        assert response.json()["checks"]["database"]["ok"] is True
        result = stack.healthcheck("--json")
        assert result.returncode == 2
        assert json.loads(result.stdout)["checks"]["rabbitmq"]["ok"] is False
        # Publishing during the outage: a clear 503, not a 500 with a trace.
        refused = stack.post("/tasks/", json={"type": 0})
        assert refused.status_code == 503
        assert "error" in refused.json()
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    wait_until(lambda: stack.get("/readyz").status_code == 200, 60, 1, "/readyz back to 200")
    # Workers resume consuming by themselves.
    assert stack.wait_final(stack.submit(0), timeout=90)["task_status"] == "SUCCESS"
