"""The stack of docker-compose.prod.yml, started by `make up` on a Docker engine, checked from
outside like the native stack: the seeds' contract, bad input, the page, Flower, health, the
result row, and the container faults an operator meets. Tests run in file order: the faults
and the scaling come last."""

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.faults.load import Submitter
from tests.support import stages
from tests.support.browser import chromium, click_short_until_success
from tests.support.metrics import check_every_part
from tests.support.stack import wait_until

pytestmark = pytest.mark.containers
APP_IMAGE = "django-celery-stack/app:local"
# What `make up` in a new checkout of the same deployment reads.
RELEASE_FILES = ["Makefile", "Dockerfile", ".dockerignore", "docker-compose.prod.yml", ".env", ".env.example",
                 "deploy", "nginx", "requirements", "src"]  # fmt: skip


def test_seed_contract_with_json_and_form_bodies(compose_stack):
    json_id = compose_stack.submit(0)
    form = compose_stack.post("/tasks/", data={"type": "0"})
    assert form.status_code == 202 and set(form.json()) == {"task_id"}
    for task_id in (json_id, form.json()["task_id"]):
        assert compose_stack.wait_final(task_id) == {"task_id": task_id, "task_status": "SUCCESS", "task_result": True}


@pytest.mark.parametrize(
    ("body", "headers"),
    [('{"type": 9}', {"Content-Type": "application/json"}), ("not json", {"Content-Type": "application/json"})],
)
def test_bad_input_is_a_clear_400(compose_stack, body, headers):
    response = compose_stack.post("/tasks/", data=body, headers=headers)
    assert response.status_code == 400
    assert "error" in response.json()
    assert compose_stack.get("/tasks/not-a-uuid/").json() == {"error": "task id must be a UUID"}


def test_https_only_with_the_certificate_the_settings_name(compose_stack):
    """DJANGO_HTTPS=true: plain HTTP is redirected, HTTPS answers over HTTP/2 with HSTS and
    the certificate of NGINX_TLS_CERT (verified against its CA), cookies secure-only."""
    plain = compose_stack.get("/tasks/", allow_redirects=False, url=f"http://127.0.0.1:{compose_stack.http_port}")
    assert plain.status_code == 308
    assert plain.headers["Location"] == f"{compose_stack.url}/tasks/"
    head = subprocess.run(
        ["curl", "-sS", "--http2", "--head", "--cacert", compose_stack.verify, compose_stack.url + "/admin/login/"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert head.returncode == 0, head.stderr
    lines = head.stdout.lower()
    assert lines.startswith("http/2 200") and "strict-transport-security: max-age=31536000" in lines
    assert re.search(r"set-cookie: csrftoken=[^\n]*; secure", lines)


FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"


def test_every_part_exposes_prometheus_metrics_on_the_internal_network(compose_stack):
    """From inside the network (the web container): the web app through nginx, Flower,
    RabbitMQ, the PostgreSQL exporter; the host's disks are the Docker host's exporter's."""
    compose_stack.get("/")
    addresses = {"web": "nginx:8080", "flower": "flower:5555", "rabbitmq": "rabbitmq:15692",
                 "postgres": "postgres-exporter:9187"}  # fmt: skip
    check_every_part(lambda url: compose_stack.compose("exec", "-T", "web", "python", "-c", FETCH, url).stdout,
                     addresses)  # fmt: skip


def test_the_page_in_chromium(compose_stack, tmp_path):
    with chromium(tmp_path / "profile", trusted_certificate=Path(compose_stack.env["NGINX_TLS_CERT"])) as driver:
        click_short_until_success(driver, compose_stack.url)


def test_flower_only_with_credentials_and_its_api_sees_the_worker(compose_stack):
    assert compose_stack.get("/flower/").status_code == 401
    assert compose_stack.get("/flower/", auth=("admin", "admin")).status_code == 401
    assert compose_stack.get("/flower/", auth=compose_stack.flower_auth).status_code == 200

    def workers():
        response = compose_stack.get("/flower/api/workers", auth=compose_stack.flower_auth, params={"refresh": 1})
        return response.status_code == 200 and list(response.json())

    assert wait_until(workers, 60, 1, "Flower to list a worker")


def test_health_endpoints_and_the_healthcheck_inside_web(compose_stack):
    assert compose_stack.get("/healthz").json() == {"status": "ok"}
    ready = compose_stack.get("/readyz")
    assert ready.status_code == 200 and set(ready.json()["checks"]) == {"database", "migrations", "broker"}
    check = compose_stack.compose("exec", "-T", "web", "deploy/bin/healthcheck", "--json", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["status"] == "healthy"


def test_the_result_row_is_in_postgresql(compose_stack):
    task_id = compose_stack.submit(0)
    compose_stack.wait_final(task_id)
    status, result, _ = compose_stack.results([task_id])[task_id]
    assert (status, result) == ("SUCCESS", "true")


def compose_script(compose_stack, name, *args, **env):
    return subprocess.run([compose_stack.project_dir / "deploy/compose" / name, *map(str, args)],
                          env={**compose_stack.env, **env}, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_backup_and_restore_with_the_containers_tools(compose_stack, tmp_path):
    task_id = compose_stack.submit(0)
    compose_stack.wait_final(task_id)
    backups = tmp_path / "backups"
    for _ in range(2):  # the second run prunes to BACKUP_KEEP
        taken = compose_script(compose_stack, "backup", backups, BACKUP_KEEP="1")
        assert taken.returncode == 0, taken.stderr
    (dump,) = backups.glob("db-*.dump")
    (definitions,) = backups.glob("rabbitmq-*.json")
    assert not list(backups.glob("*.partial"))
    assert "tasks" in {queue["name"] for queue in json.loads(definitions.read_text())["queues"]}
    refused = compose_script(compose_stack, "restore", dump)
    assert refused.returncode == 1 and "holds" in refused.stderr, refused.stderr
    compose_stack.compose("exec", "-T", "db", "createdb", "-U", "app", "-O", "app", "restored")
    try:
        restored = compose_script(compose_stack, "restore", dump, POSTGRES_DB="restored")
        assert restored.returncode == 0, restored.stderr
        row = compose_stack.compose(
            "exec",
            "-T",
            "db",
            "psql",
            "-X",
            "-At",
            "-U",
            "app",
            "-d",
            "restored",
            "-c",
            f"SELECT status FROM django_celery_results_taskresult WHERE task_id = '{uuid.UUID(task_id)}'",  # noqa: S608
        )
        assert row.stdout.strip() == "SUCCESS"
    finally:
        compose_stack.compose("exec", "-T", "db", "dropdb", "-U", "app", "restored")


def test_the_app_image_runs_as_non_root_without_a_compiler_or_env_file(compose_stack):
    run = ("run", "--rm", "--entrypoint", "sh", APP_IMAGE, "-c")
    assert compose_stack.docker(*run, "id -u").strip() == "10001"
    assert compose_stack.docker(*run, "command -v gcc cc c++ make || true").strip() == ""
    assert compose_stack.docker(*run, "ls -a /app").split().count(".env") == 0
    size = int(compose_stack.docker("image", "inspect", "--format", "{{.Size}}", APP_IMAGE))
    stages.note(f"containers: {APP_IMAGE}: {size / 1e6:.0f} MB")


def worker_took(compose_stack, container, task_id):
    return f"[{task_id}] received" in compose_stack.logs(container)


def running_task_on(compose_stack, container, task_type=1):
    task_id = compose_stack.submit(task_type)
    wait_until(lambda: worker_took(compose_stack, container, task_id), 30, 0.5, "the worker to take the task")
    return task_id


def test_docker_kill_of_a_worker_is_an_operator_stop_and_loses_nothing(compose_stack):
    """Docker treats `docker kill` as an operator's stop: the restart policy leaves the
    container down. The task it was running waits in RabbitMQ (late acks) and completes once
    `make up` brings the worker back."""
    (worker,) = compose_stack.containers("worker")
    task_id = running_task_on(compose_stack, worker)
    compose_stack.docker("kill", worker)
    time.sleep(5)
    assert compose_stack.docker("inspect", "--format", "{{.State.Status}}", worker).strip() == "exited"
    assert compose_stack.get(f"/tasks/{task_id}/").json()["task_status"] == "PENDING"
    compose_stack.make("up")
    assert compose_stack.wait_final(task_id, timeout=120)["task_status"] == "SUCCESS"


def test_a_crashed_worker_is_restarted_and_its_task_completes(compose_stack):
    """A crash (the container's init SIGKILLed, as the kernel's OOM killer would) is not an
    operator's stop: the restart policy brings the worker back and the task is redelivered."""
    (worker,) = compose_stack.containers("worker")
    task_id = running_task_on(compose_stack, worker)
    restarts = int(compose_stack.docker("inspect", "--format", "{{.RestartCount}}", worker))
    os.kill(int(compose_stack.docker("inspect", "--format", "{{.State.Pid}}", worker)), signal.SIGKILL)
    wait_until(
        lambda: int(compose_stack.docker("inspect", "--format", "{{.RestartCount}}", worker)) > restarts,
        60, 1, "Docker to restart the worker",
    )  # fmt: skip
    assert compose_stack.wait_final(task_id, timeout=120)["task_status"] == "SUCCESS"


def test_rabbitmq_restarted_under_load_answers_503_never_500_and_every_202_completes(compose_stack):
    # Paced, and long enough to outlast the restart and the broker's boot in any run: fast
    # 503s during the outage must not use up the requests before the broker is back (one run
    # did). stop() ends it.
    load = Submitter(
        compose_stack.url, 100_000, seconds=300, threads=4, pause=0.02, verify=compose_stack.verify
    ).start()
    wait_until(lambda: len(load.accepted) >= 50, 60, 0.2, "the load to get going")
    compose_stack.compose("restart", "rabbitmq", timeout=120)
    wait_until(lambda: compose_stack.get("/readyz").status_code == 200, 120, 1, "/readyz 200 after the restart")
    accepted_before = len(load.accepted)
    wait_until(lambda: len(load.accepted) >= accepted_before + 50, 120, 0.2, "tasks accepted again")
    load.stop().join()
    stages.note(f"containers: rabbitmq restart: {len(load.accepted)} accepted, {load.refused} answered 503")
    assert load.server_errors == 0 and load.unexpected == []
    assert load.refused > 0  # the outage was real and answered clearly
    compose_stack.wait_all_succeeded(load.accepted)


def test_scaled_to_three_workers_tasks_spread_and_scaling_down_is_warm(compose_stack):
    compose_stack.compose("up", "-d", "--wait", "--no-recreate", "--scale", "worker=3", "worker", timeout=300)
    workers = compose_stack.containers("worker")
    assert len(workers) == 3
    # One 10 s task per pool slot on three nodes (prefetch 1): each node must take some.
    tasks = [compose_stack.submit(1) for _ in range(12)]
    wait_until(lambda: all(any(worker_took(compose_stack, w, t) for t in tasks) for w in workers), 60, 1, "3 nodes")
    compose_stack.compose("up", "-d", "--wait", "--no-recreate", "--scale", "worker=1", "worker", timeout=300)
    assert len(compose_stack.containers("worker")) == 1
    for task_id in tasks:
        assert compose_stack.wait_final(task_id, timeout=120)["task_status"] == "SUCCESS"
    # Warm: the removed replicas finished what they were running; none ran twice.
    assert len({worker for _, _, worker in compose_stack.results(tasks).values()}) == 3


def test_make_up_again_after_a_code_change_migrates_first_and_loses_nothing(compose_stack, tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    for name in RELEASE_FILES:
        subprocess.run(["cp", "-a", str(compose_stack.project_dir / name), str(release / name)], check=True)
    (release / ".venv").symlink_to(compose_stack.project_dir / ".venv")  # make's stamp: nothing to install
    (release / "src/workflow/templates/workflow/home.html").write_text(
        (release / "src/workflow/templates/workflow/home.html").read_text() + "<!-- release: new -->\n"
    )
    migrations = release / "src/ops/migrations"
    latest = max(path.stem for path in migrations.glob("0*.py"))
    (migrations / "9000_release_marker.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f'    dependencies = [("ops", "{latest}")]\n'
        "    operations = []\n"
    )
    load = Submitter(
        compose_stack.url, 100_000, seconds=600, threads=2, pause=0.05, verify=compose_stack.verify
    ).start()
    upgraded = type(compose_stack)(compose_stack.env, release)
    upgraded.make("up")
    time.sleep(2)
    load.stop().join()
    assert "<!-- release: new -->" in compose_stack.get("/").text
    assert "9000_release_marker" in compose_stack.sql("SELECT name FROM django_migrations WHERE app = 'ops'")
    started = {
        service: compose_stack.docker("inspect", "--format", "{{.State.StartedAt}}", *upgraded.containers(service))
        for service in ("web", "worker")
    }
    (migrate,) = upgraded.containers("migrate", all_states=True)
    finished = compose_stack.docker("inspect", "--format", "{{.State.FinishedAt}}", migrate).strip()
    assert all(finished < value.strip() for value in started.values()), (finished, started)
    # Requests may fail while nginx and web are recreated (the systemd flavour reloads in
    # place instead); what must hold is that no accepted task is lost.
    compose_stack.wait_all_succeeded(load.accepted)
    stages.note(
        f"containers: upgrade under load: {len(load.accepted)} accepted, {load.refused} answered 503, "
        f"{load.server_errors} other 5xx, {len(load.unexpected)} failed ({sorted(set(map(str, load.unexpected)))})"
    )
