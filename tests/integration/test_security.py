"""Security properties of the running stack, checked from outside like an attacker would."""

import json
import os
import re
import subprocess
import time

import psycopg2
import pytest
from amqp.exceptions import AccessRefused
from django.conf import settings
from kombu import Connection, Exchange, Producer

from tests.faults.ledger import execution_counts

pytestmark = pytest.mark.stack
STACK_PROCESSES = {"gunicorn", "python", "python3", "celery", "postgres", "beam.smp", "epmd", "nginx"}


def secrets_of_the_deployment():
    values = [os.environ["DJANGO_SECRET_KEY"], os.environ["FLOWER_PASSWORD"]]
    values += re.findall(r"://[^:]+:([^@]+)@", os.environ["DATABASE_URL"] + " " + os.environ["CELERY_BROKER_URL"])
    assert len(values) == 4
    return values


def test_admin_requires_login(stack):
    response = stack.get("/admin/", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login/")


def test_rabbitmq_management_is_not_exposed(stack):
    assert not stack.port_open(15672)


def test_guest_and_default_credentials_do_not_work(stack):
    with pytest.raises(AccessRefused):
        with Connection("amqp://guest:guest@127.0.0.1:5672//", connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", user="postgres", password="postgres", dbname="postgres", connect_timeout=3)
    assert stack.get("/flower/", auth=("admin", "admin")).status_code == 401


def listeners():
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        address = fields[3].rsplit(":", 1)[0].strip("[]")
        names = set(re.findall(r'\("([^"]+)"', line))
        yield address, names


def test_only_nginx_listens_beyond_loopback(stack):
    found = list(listeners())
    # Positive control: ss names the owners of other users' sockets (postgres, rabbitmq), so
    # none of them can be missed below for want of rights.
    assert {"postgres", "beam.smp", "epmd", "nginx"} <= set().union(*(names for _, names in found))
    exposed = [
        (address, names)
        for address, names in found
        if names & STACK_PROCESSES and names != {"nginx"} and address not in {"127.0.0.1", "::1"}
    ]
    assert exposed == []


def test_secrets_never_reach_logs_or_error_pages(stack):
    pages = [stack.get("/no-such-page/").text, stack.get("/", headers={"Host": "evil.example"}).text]
    logs = [path.read_text(errors="replace") for path in (stack.run_dir / "log").glob("*.log")]
    assert logs
    for secret in secrets_of_the_deployment():
        for text in pages + logs:
            assert secret not in text
    assert all("Traceback" not in page for page in pages)


def test_worker_refuses_pickle(stack):
    task_id = "00000000-0000-4000-8000-00000000beef"
    with Connection(os.environ["CELERY_BROKER_URL"]) as conn:
        Producer(conn).publish(
            ((0,), {}, {}),
            exchange=Exchange(settings.TASK_QUEUE, type="topic"),
            routing_key=settings.TASK_QUEUE,
            serializer="pickle",
            headers={"id": task_id, "task": "workflow.tasks.create_task", "lang": "py"},
        )
    log = stack.run_dir / "log" / "worker0.log"
    deadline = time.monotonic() + 20
    while "ContentDisallowed" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "ContentDisallowed" in log.read_text() or "Refusing to deserialize" in log.read_text()
    assert execution_counts([task_id]) == {}  # never started
    # Rejected, not dropped: it waits in the dead-letter queue for an operator.
    listing = stack.script("deploy/bin/manage", "deadletters", "list", "--json")
    (entry,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert entry["task_id"] == task_id and entry["reason"].startswith("rejected")
    stack.script("deploy/bin/manage", "deadletters", "purge", "--id", task_id)


def test_other_local_users_cannot_reach_gunicorn_directly(stack):
    """gunicorn trusts nginx's X-Real-IP/X-Forwarded-Proto, so only nginx may talk to it."""
    sock = stack.run_dir / "sock" / "gunicorn.sock"
    assert sock.is_socket()
    probe = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(sock)!r})"
    result = subprocess.run(["runuser", "-u", "nobody", "--", "python3", "-c", probe], capture_output=True, text=True)
    assert result.returncode != 0
    assert "PermissionError" in result.stderr
