"""deploy/compose/workers.yml, the worker hosts of the container flavour: a project with
workers only, given the broker's and the database's URLs, consumes what the main stack
accepts while the main stack's own worker is stopped."""

import subprocess

from tests.containers.conftest import PROJECT
from tests.support.stack import ROOT

WORKERS_PROJECT = f"{PROJECT}-workers"
TASKS = 20
# Stands in for the network between hosts: the worker joins the main project's network,
# where the names in the URLs (db, rabbitmq) resolve.
ATTACH = f"""
services:
  worker:
    networks: [main]
networks:
  main:
    name: {PROJECT}_default
    external: true
"""


def test_a_worker_only_project_consumes_the_main_stacks_tasks(compose_stack, tmp_path):
    (web,) = compose_stack.containers("web")
    urls = {name: compose_stack.docker("exec", web, "printenv", name).strip()
            for name in ("DATABASE_URL", "CELERY_BROKER_URL")}  # fmt: skip
    attach = tmp_path / "attach.yml"
    attach.write_text(ATTACH)
    tls_dir = tmp_path / "tls"  # the file mounts the CA; the main stack's URLs are plain
    subprocess.run([ROOT / "deploy/bin/make-certs", tls_dir, "worker"], check=True, capture_output=True, timeout=60)

    def workers_compose(*args):
        command = ["docker", "compose", "-p", WORKERS_PROJECT, "-f", "deploy/compose/workers.yml", "-f", str(attach),
                   "--env-file", ".env", *args]  # fmt: skip
        env = {**compose_stack.env, **urls, "TLS_DIR": str(tls_dir)}
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
        return result.stdout

    services = workers_compose("config", "--services").split()
    assert services == ["worker"], "a worker host runs no broker, database, web or nginx"

    compose_stack.compose("stop", "worker")
    try:
        workers_compose("up", "-d", "--no-build", "--wait")
        (worker,) = compose_stack.docker(
            "ps", "-q", "--filter", f"label=com.docker.compose.project={WORKERS_PROJECT}"
        ).split()
        task_ids = [compose_stack.submit(0) for _ in range(TASKS)]
        compose_stack.wait_all_succeeded(task_ids)
        ran_on = {worker_name for _, _, worker_name in compose_stack.results(task_ids).values()}
        assert ran_on == {f"worker@{worker[:12]}"}, ran_on
    finally:
        workers_compose("down", "--timeout", "30")
        compose_stack.compose("up", "-d", "--wait", "--no-recreate", "worker", timeout=300)
