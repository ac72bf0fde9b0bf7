"""deploy/bin/backup and deploy/bin/restore against the real stack: a backup restored into
an empty database gives the app back its task results and signups; the broker's definitions
are in the backup; a database that holds tables is refused; old backups are pruned."""

import json
import os
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.stack
RESTORED = "app_restore_test"

# Run by deploy/bin/manage shell against the restored database: what the app serves there.
SERVED = """
import json
from django.test import Client
from signups.models import Signup
answer = Client(headers={{"X-Forwarded-Proto": "https"}}).get("/tasks/{task_id}/", HTTP_HOST="localhost")
print(json.dumps({{"status": answer.status_code, "body": answer.json(),
                  "signup": Signup.objects.filter(email="{email}").exists()}}))
"""


def deploy_bin(name, *args, **env):
    return subprocess.run([ROOT / "deploy" / "bin" / name, *map(str, args)], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def as_postgres(statement):
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement],
                   cwd="/", check=True, capture_output=True, timeout=60)  # fmt: skip


@pytest.fixture
def empty_database():
    """A new database owned by the app's role, as the recovery procedure creates it."""
    owner = urlsplit(os.environ["DATABASE_URL"]).username
    as_postgres(f"DROP DATABASE IF EXISTS {RESTORED} WITH (FORCE)")
    as_postgres(f'CREATE DATABASE {RESTORED} OWNER "{owner}"')
    yield os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + RESTORED
    as_postgres(f"DROP DATABASE IF EXISTS {RESTORED} WITH (FORCE)")


def test_a_backup_restored_into_an_empty_database_serves_results_and_signups(stack, empty_database, tmp_path):
    task_id = stack.submit(0)
    assert stack.wait_final(task_id)["task_status"] == "SUCCESS"
    email = f"restore-{uuid.uuid4().hex[:12]}@example.com"
    assert stack.post("/signups/", data={"email": email}).status_code == 201

    backup = deploy_bin("backup", tmp_path)
    assert backup.returncode == 0, backup.stderr
    (dump,) = tmp_path.glob("db-*.dump")
    (definitions,) = tmp_path.glob("rabbitmq-*.json")
    vhost = urlsplit(os.environ["CELERY_BROKER_URL"]).path.lstrip("/")
    queues = {(queue["vhost"], queue["name"]) for queue in json.loads(definitions.read_text())["queues"]}
    assert (vhost, "tasks") in queues

    restore = deploy_bin("restore", dump, DATABASE_URL=empty_database)
    assert restore.returncode == 0, restore.stderr
    served = deploy_bin("manage", "shell", "-c", SERVED.format(task_id=task_id, email=email),
                        DATABASE_URL=empty_database)  # fmt: skip
    assert served.returncode == 0, served.stderr
    answer = json.loads(served.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200 and answer["body"]["task_status"] == "SUCCESS", answer
    assert answer["signup"], f"signup {email} not in the restored database"

    # Once restored, the database holds tables: a second restore is refused, nothing mixed in.
    again = deploy_bin("restore", dump, DATABASE_URL=empty_database)
    assert again.returncode != 0 and "restore into an empty one" in again.stderr, again.stderr


def test_backups_beyond_backup_keep_are_pruned(stack, tmp_path):
    for _ in range(3):
        assert deploy_bin("backup", tmp_path, BACKUP_KEEP="2").returncode == 0
    assert len(list(tmp_path.glob("db-*.dump"))) == 2
    assert len(list(tmp_path.glob("rabbitmq-*.json"))) == 2
    assert list(tmp_path.glob("*.partial")) == []


def test_restore_refuses_a_missing_file_before_touching_anything(tmp_path):
    result = deploy_bin("restore", tmp_path / "no-such.dump")
    assert result.returncode != 0 and "no such readable file" in result.stderr
