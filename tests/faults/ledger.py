"""Counts a batch's fate: final states from PostgreSQL, executions from the task journal
(tests/stack_app/journal.py), and what the app queue still holds from RabbitMQ."""

import os
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import unquote, urlsplit

import psycopg2
from django.conf import settings

FINAL_STATES = ("SUCCESS", "FAILURE")
QUEUE = settings.TASK_QUEUE


def query(sql, args):
    """A fresh connection per query: the suite restarts PostgreSQL under our feet."""
    with psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn, conn.cursor() as cursor:
        cursor.execute(sql, args)
        rows = cursor.fetchall()
    conn.close()
    return rows


def final_states(task_ids):
    rows = query(
        "SELECT task_id, status FROM django_celery_results_taskresult WHERE task_id = ANY(%s) AND status = ANY(%s)",
        [list(task_ids), list(FINAL_STATES)],
    )
    return dict(rows)


def journal():
    """(task_id, pid) of every task start in the test stack, oldest first."""
    try:
        with open(os.environ["TASK_JOURNAL_FILE"]) as lines:
            return [tuple(line.split()[:2]) for line in lines if line.strip()]
    except FileNotFoundError:
        return []


def execution_counts(task_ids):
    wanted = set(task_ids)
    return Counter(task_id for task_id, _ in journal() if task_id in wanted)


def queue_depth():
    """(ready, unacknowledged) messages in the app queue of the test vhost."""
    vhost = unquote(urlsplit(os.environ["CELERY_BROKER_URL"]).path.lstrip("/"))
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "messages_ready",
         "messages_unacknowledged"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        name, ready, unacked = line.split()
        if name == QUEUE:
            return int(ready), int(unacked)
    raise AssertionError(f"queue {QUEUE!r} not found in vhost {vhost!r}:\n{out}")


@dataclass
class Outcome:
    scenario: str
    accepted: int
    refused: int = 0  # 503 answers while a dependency was down: the client knows to retry
    server_errors: int = 0  # 5xx other than 503: must stay 0
    unexpected: list = field(default_factory=list)  # 4xx, timeouts, resets: must stay empty
    completed: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0  # tasks that started more than once (late acks: at-least-once)
    duplicate_bound: int = 0
    queue_left: tuple = (0, 0)  # (ready, unacknowledged) once settled: must be (0, 0)
    recovery_seconds: float = 0.0
    notes: list = field(default_factory=list)

    def as_dict(self):
        return asdict(self)


def settle(scenario, load, fault_time, timeout, extra_ids=(), duplicate_bound=0):
    """Wait (bounded) until every accepted task is final and the queue is drained, then count.

    load is the scenario's Submitter (joined): its counts are taken from it, never passed
    by hand. extra_ids are tasks the scenario submitted itself.
    """
    accepted_ids = [*extra_ids, *load.accepted]
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        try:
            states = final_states(accepted_ids)
        except psycopg2.OperationalError:
            states = {}
        if len(states) == len(accepted_ids):
            break
        time.sleep(0.5)
    recovery = time.monotonic() - fault_time
    # The last acks follow the last result writes by a moment.
    left, drain_deadline = queue_depth(), time.monotonic() + 30
    while left != (0, 0) and time.monotonic() < drain_deadline:
        time.sleep(0.5)
        left = queue_depth()
    executions = execution_counts(accepted_ids)
    return Outcome(
        scenario=scenario,
        accepted=len(accepted_ids),
        refused=load.refused,
        server_errors=load.server_errors,
        unexpected=list(load.unexpected),
        completed=sum(1 for s in states.values() if s == "SUCCESS"),
        failed=sum(1 for s in states.values() if s == "FAILURE"),
        lost=len(accepted_ids) - len(states),
        duplicated=sum(1 for count in executions.values() if count > 1),
        duplicate_bound=duplicate_bound,
        queue_left=left,
        recovery_seconds=round(recovery, 1),
    )
