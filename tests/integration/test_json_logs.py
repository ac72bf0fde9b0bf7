"""LOG_FORMAT=json in a real process of the stack (config/logs.py): deploy/bin/worker, started
with LOG_FORMAT=json beside the test stack (which logs plain), runs a task published with a
request id. Every line it writes, from start-up to shutdown, is a JSON object with time,
level, logger and message, and the lines of that task carry its request_id, task_id and
task_name.

The extra worker stays out of the stack's way: a queue of its own (deleted afterwards), no
events, heartbeats or gossip (Flower and its metrics never see it), its own task journal,
and it is stopped within the test."""

import contextlib
import json
import os
import signal
import subprocess
import uuid

import pytest

from config.celery import app
from config.tracing import current_request_id
from tests.support.stack import ROOT, wait_until

pytestmark = pytest.mark.stack


@contextlib.contextmanager
def json_worker(tmp_path):
    """A worker node on a queue of its own, writing to tmp_path/worker.log: (queue, log path)."""
    queue = f"jsonlog-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "CELERY_WORKER_NAME": queue,
        "CELERY_WORKER_CONCURRENCY": "1",
        "CELERY_LOG_FILE": "",
        "TASK_JOURNAL_FILE": str(tmp_path / "journal.log"),
        # Silent on the event bus (Celery's command line reads CELERY_WORKER_<OPTION>).
        "CELERY_WORKER_SEND_TASK_EVENTS": "false",
        "CELERY_WORKER_WITHOUT_HEARTBEAT": "true",
        "CELERY_WORKER_WITHOUT_GOSSIP": "true",
    }
    with log.open("w") as output:
        worker = subprocess.Popen(
            [ROOT / "deploy/bin/worker", queue], env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: worker.poll() is not None or " ready." in log.read_text(), 60, 0.5, "the JSON worker")
        assert worker.poll() is None, f"the worker exited {worker.returncode}:\n{log.read_text()}"
        yield queue, log
    finally:
        worker.terminate()  # a warm shutdown: its shutdown lines are checked too
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
            conn.default_channel.exchange_delete(queue)


def json_objects(log):
    lines = log.read_text().splitlines()
    not_json = []
    objects = []
    for line in lines:
        try:
            objects.append(json.loads(line))
        except ValueError:
            not_json.append(line)
    assert not not_json, "lines that are not JSON:\n" + "\n".join(not_json)
    assert all(isinstance(obj, dict) for obj in objects), lines
    return objects


def test_a_worker_in_json_mode_writes_json_lines_with_the_request_id(stack, tmp_path):
    request_id = f"jsonlog-{uuid.uuid4()}"
    with json_worker(tmp_path) as (queue, log):
        token = current_request_id.set(request_id)  # as a web request publishing it would
        try:
            task_id = app.send_task("workflow.tasks.create_task", args=[0], queue=queue).id
        finally:
            current_request_id.reset(token)

        def succeeded():
            return [line for line in log.read_text().splitlines() if task_id in line and "succeeded" in line]

        wait_until(succeeded, 30, 0.5, f"task {task_id} to succeed on the JSON worker")

    objects = json_objects(log)
    for obj in objects:
        assert {"time", "level", "logger", "message"} <= obj.keys(), obj
    assert any(obj["message"].endswith(" ready.") for obj in objects)
    task_lines = [obj for obj in objects if task_id in obj["message"]]
    # received (main process), the link to its request (config/tracing.py), succeeded (the child)
    assert len(task_lines) >= 3, task_lines
    link = [obj for obj in task_lines if obj["logger"] == "config.tracing"]
    assert link and link[0]["request_id"] == request_id, task_lines
    [done] = [obj for obj in task_lines if "succeeded" in obj["message"]]
    assert done["request_id"] == request_id
    assert done["task_id"] == task_id
    assert done["task_name"] == "workflow.tasks.create_task"
    # Lines outside the task carry no request id.
    assert not any("request_id" in obj for obj in objects if task_id not in obj["message"])
