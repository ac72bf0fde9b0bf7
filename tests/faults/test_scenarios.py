"""No accepted task is lost: faults injected into the running stack, counted from PostgreSQL.

Each scenario submits a batch over HTTP through nginx, injects one fault while the batch is
submitted and processed, waits (bounded) and counts: every task that got a 202 must reach
SUCCESS. Redeliveries are allowed (late acks make delivery at-least-once) and counted.
"""

import os
import signal
import subprocess
import time

import pytest
import requests

from config.celery import app
from tests.faults.conftest import BATCH
from tests.faults.ledger import execution_counts, query, settle
from tests.faults.load import Submitter
from tests.support.stack import wait_until

pytestmark = pytest.mark.stack
WORKER = "worker:worker0"
SETTLE_SECONDS = 180


def assert_nothing_lost(outcome, expect_failed=0):
    assert outcome.lost == 0, outcome
    assert outcome.server_errors == 0, outcome
    assert outcome.failed == expect_failed, outcome
    assert outcome.completed == outcome.accepted - expect_failed, outcome


def running_pid(task_id, timeout=30):
    """The pool process running a task, from the execution journal."""

    def pid():
        rows = query("SELECT pid FROM ops_taskexecution WHERE task_id = %s ORDER BY id DESC", [task_id])
        return rows[0][0] if rows else None

    return wait_until(pid, timeout, 0.2, f"task {task_id} to start")


def pool_children(stack):
    out = subprocess.run(["pgrep", "-P", str(stack.pid(WORKER))], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def test_1_pool_process_killed_mid_task(stack, record):
    long_task = stack.submit(1)
    os.kill(running_pid(long_task), signal.SIGKILL)  # certainly mid-task: it sleeps 10 s
    fault_time = time.monotonic()
    load = Submitter(stack.url, BATCH).start()
    kills = 0
    while load._thread.is_alive() and kills < 20:  # more children killed while the batch flows
        time.sleep(0.3)
        children = pool_children(stack)
        if children:
            os.kill(children[kills % len(children)], signal.SIGKILL)
            kills += 1
    load.join()
    outcome = record(
        settle("1. pool process SIGKILLed mid-task", [long_task, *load.accepted], fault_time, SETTLE_SECONDS)
    )
    outcome.notes.append(f"{kills + 1} pool processes killed")
    assert_nothing_lost(outcome)
    assert execution_counts([long_task])[long_task] >= 2  # redelivered (maybe killed again), not failed


def signal_worker_during_a_batch(stack, scenario, signum):
    """Send signum to the worker's main process while a 10 s task runs and a batch flows."""
    long_task = stack.submit(1)
    running_pid(long_task)
    load = Submitter(stack.url, BATCH).start()
    time.sleep(0.5)
    old = stack.pid(WORKER)
    os.kill(old, signum)
    fault_time = time.monotonic()
    wait_until(lambda: stack.pid(WORKER) not in (0, old), 60, 0.5, "supervisord to restart the worker")
    load.join()
    return long_task, settle(scenario, [long_task, *load.accepted], fault_time, SETTLE_SECONDS)


def test_2_whole_worker_killed_and_restarted(stack, record):
    _, outcome = signal_worker_during_a_batch(stack, "2. worker SIGKILLed, restarted by supervisor", signal.SIGKILL)
    assert_nothing_lost(record(outcome))


def test_3_warm_shutdown_during_a_task(stack, record):
    long_task, outcome = signal_worker_during_a_batch(
        stack, "3. worker SIGTERM (warm shutdown) mid-task", signal.SIGTERM
    )
    assert_nothing_lost(record(outcome))
    # Warm: the running task finished in the old worker instead of being cut and redelivered.
    assert execution_counts([long_task])[long_task] == 1


def restart_rabbitmq():
    subprocess.run(["rabbitmqctl", "-q", "stop"], check=True, timeout=120)
    subprocess.run(["rabbitmq-server", "-detached"], check=True, timeout=30)
    subprocess.run(
        ["timeout", "120", "bash", "-c", "until rabbitmq-diagnostics -q ping >/dev/null 2>&1; do sleep 1; done"],
        check=True,
    )
    subprocess.run(["rabbitmqctl", "-q", "await_startup"], check=True, timeout=120)


def test_4_rabbitmq_restarted_during_submission(stack, record):
    load = Submitter(stack.url, BATCH * 10, seconds=45).start()
    wait_until(lambda: len(load.accepted) >= BATCH // 4, 60, 0.1, "the batch to get going")
    fault_time = time.monotonic()
    restart_rabbitmq()
    wait_until(lambda: len(load.accepted) >= BATCH, 120, 0.5, "submissions to be accepted again")
    load._left = 0  # stop submitting once the batch is reached
    load.join()
    outcome = record(
        settle("4. RabbitMQ restarted", load.accepted, fault_time, SETTLE_SECONDS, load.refused, load.server_errors)
    )
    outcome.notes.append(f"{load.refused} requests answered 503 during the outage")
    assert_nothing_lost(outcome)
    assert load.refused > 0  # the outage was real and answered clearly
    # Workers resumed consuming by themselves: a fresh task completes.
    assert stack.wait_final(stack.submit(0), timeout=60)["task_status"] == "SUCCESS"


def postgresql_cluster():
    version, name = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout.split()[:2]
    return version, name


def test_5_postgresql_restarted_while_results_are_stored(stack, record):
    version, name = postgresql_cluster()
    load = Submitter(stack.url, BATCH, seconds=60, threads=2).start()
    wait_until(lambda: len(load.accepted) >= BATCH // 4, 60, 0.1, "the batch to get going")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "stop", "-m", "fast"], check=True)
    fault_time = time.monotonic()
    try:
        ready = requests.get(stack.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
        time.sleep(3)  # workers keep finishing tasks whose results now wait to be stored
    finally:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"], check=True)
    wait_until(lambda: requests.get(stack.url + "/readyz", timeout=10).status_code == 200, 60, 0.5, "/readyz 200")
    load.join()
    outcome = record(settle("5. PostgreSQL restarted", load.accepted, fault_time, SETTLE_SECONDS, load.refused))
    assert_nothing_lost(outcome)


def test_6_task_over_its_time_limit(stack, record):
    from workflow.tasks import create_task

    limited = [create_task.apply_async((1,), soft_time_limit=1, time_limit=2).id for _ in range(2)]
    fault_time = time.monotonic()
    load = Submitter(stack.url, BATCH).start().join()
    outcome = record(settle("6. task over its time limit", [*limited, *load.accepted], fault_time, SETTLE_SECONDS))
    assert_nothing_lost(outcome, expect_failed=len(limited))
    for task_id in limited:
        assert "TimeLimitExceeded" in stack.status(task_id)["task_result"]
    assert app.control.ping(timeout=2)  # the worker goes on
