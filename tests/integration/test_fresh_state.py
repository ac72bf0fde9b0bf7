"""The reset tests/run makes before pytest (python -m tests.support.fresh): whatever an
earlier run left in its database, vhost and run folder is gone when the suite starts."""

import os
import subprocess
import sys

import psycopg2
import pytest
from django.conf import settings
from kombu import Connection

from tests.support.fresh import ROOT

QUEUE = settings.TASK_QUEUE
PLANTED_RESULT = """
    INSERT INTO django_celery_results_taskresult
        (task_id, status, content_type, content_encoding, date_done, date_created)
    VALUES ('planted', 'SUCCESS', 'application/json', 'utf-8', now(), now())
"""


def scratch(url: str) -> str:
    """The same server and credentials, a name of this test's own (app_test -> app_fresh_test)."""
    base, name = url.rsplit("/", 1)
    return f"{base}/{name.removesuffix('_test')}_fresh_test"


@pytest.fixture
def scratch_env(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": scratch(os.environ["DATABASE_URL"]),
        "CELERY_BROKER_URL": scratch(os.environ["CELERY_BROKER_URL"]),
        "RUN_DIR": str(tmp_path / "test"),
    }
    yield env
    for drop in (
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-c",
         f'DROP DATABASE IF EXISTS "{env["DATABASE_URL"].rsplit("/", 1)[1]}" WITH (FORCE)'],
        ["rabbitmqctl", "-q", "delete_vhost", env["CELERY_BROKER_URL"].rsplit("/", 1)[1]],
    ):  # fmt: skip
        subprocess.run(drop, cwd="/", capture_output=True, timeout=60, check=False)


def reset(env):
    return subprocess.run(
        [sys.executable, "-m", "tests.support.fresh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def query(database_url, sql):
    with psycopg2.connect(database_url) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else None


def queued_messages(broker_url):
    """Messages in the app queue, or None when the queue does not exist."""
    with Connection(broker_url, connect_timeout=10) as conn:
        channel = conn.channel()
        try:
            return channel.queue_declare(QUEUE, passive=True).message_count
        except conn.channel_errors:
            return None


def test_a_planted_row_message_and_file_are_gone_after_the_reset(scratch_env):
    first = reset(scratch_env)
    assert first.returncode == 0, first.stderr
    db, broker = scratch_env["DATABASE_URL"], scratch_env["CELERY_BROKER_URL"]

    # What an earlier run could leave: a result row, a stray table, a queued task, run files.
    query(db, PLANTED_RESULT)
    query(db, "CREATE TABLE left_behind (id int)")
    with Connection(broker, connect_timeout=10) as conn:
        conn.SimpleQueue(QUEUE).put({"task": "planted"})
    run_dir = scratch_env["RUN_DIR"]
    os.makedirs(f"{run_dir}/state", exist_ok=True)
    open(f"{run_dir}/state/celerybeat-schedule", "w").close()
    assert query(db, "SELECT count(*) FROM django_celery_results_taskresult") == [(1,)]
    assert queued_messages(broker) == 1

    second = reset(scratch_env)

    assert second.returncode == 0, second.stderr
    assert query(db, "SELECT count(*) FROM django_celery_results_taskresult") == [(0,)]
    assert query(db, "SELECT to_regclass('left_behind')") == [(None,)]
    assert query(db, "SELECT count(*) FROM signups_signup") == [(0,)], "migrated again"
    assert queued_messages(broker) is None
    assert not os.path.exists(run_dir)


@pytest.mark.parametrize("variable", ["DATABASE_URL", "CELERY_BROKER_URL"])
def test_names_without_the_test_suffix_are_refused_before_anything_is_touched(scratch_env, variable):
    scratch_env[variable] = scratch_env[variable].removesuffix("_fresh_test") + "_fresh"
    os.makedirs(scratch_env["RUN_DIR"])

    result = reset(scratch_env)

    assert result.returncode == 1
    assert "only plain names ending in _test" in result.stderr
    assert os.path.isdir(scratch_env["RUN_DIR"])
