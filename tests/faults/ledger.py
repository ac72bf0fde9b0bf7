"""Counts a batch's fate from PostgreSQL: completed, failed, lost, run more than once."""

import os
import time
from dataclasses import asdict, dataclass, field

import dj_database_url
import psycopg2

FINAL_STATES = ("SUCCESS", "FAILURE")


def connect():
    params = dj_database_url.parse(os.environ["DATABASE_URL"])
    return psycopg2.connect(
        dbname=params["NAME"],
        user=params["USER"],
        password=params["PASSWORD"],
        host=params["HOST"],
        port=params["PORT"],
        connect_timeout=3,
    )


def query(sql, args):
    """A fresh connection per query: the suite restarts PostgreSQL under our feet."""
    with connect() as conn, conn.cursor() as cursor:
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


def execution_counts(task_ids):
    rows = query(
        "SELECT task_id, count(*) FROM ops_taskexecution WHERE task_id = ANY(%s) GROUP BY task_id", [list(task_ids)]
    )
    return dict(rows)


@dataclass
class Outcome:
    scenario: str
    accepted: int
    refused: int = 0  # 503 answers while a dependency was down: the client knows to retry
    server_errors: int = 0  # 5xx other than 503: must stay 0
    completed: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_seconds: float = 0.0
    notes: list = field(default_factory=list)

    def as_dict(self):
        return asdict(self)


def settle(scenario, accepted_ids, fault_time, timeout, refused=0, server_errors=0):
    """Wait (bounded) until every accepted task is final, then count."""
    accepted_ids = list(accepted_ids)
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
    executions = execution_counts(accepted_ids)
    return Outcome(
        scenario=scenario,
        accepted=len(accepted_ids),
        refused=refused,
        server_errors=server_errors,
        completed=sum(1 for s in states.values() if s == "SUCCESS"),
        failed=sum(1 for s in states.values() if s == "FAILURE"),
        lost=len(accepted_ids) - len(states),
        duplicated=sum(1 for count in executions.values() if count > 1),
        recovery_seconds=round(recovery, 1),
    )
