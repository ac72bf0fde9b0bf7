"""Each unit's ExecStart, run as systemd would (its environment file, socket activation for
the web), answers: gunicorn /healthz, a worker runs a task, Flower asks for credentials, beat
schedules."""

import base64
import json
import urllib.error
import urllib.request

from tests.host import support
from tests.support.env_file import read_env_file


def unit_env(env_file):
    return {**support.base_env(), **read_env_file(env_file)}


def flower_status(path, credentials=None):
    request = urllib.request.Request(f"http://127.0.0.1:{support.FLOWER_PORT}{path}")
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (a fixed local URL)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_every_unit_command_line_serves(host_env_file, processes, tmp_path):
    env = unit_env(host_env_file)
    socket_path = tmp_path / "web.sock"
    activated = support.ActivatedSocket(socket_path, tmp_path / "notify.sock")
    try:
        web = activated.command(support.exec_start("app-web.service"))
        processes.start(web, activated.env(env), tmp_path / "web.log", pass_fds=(activated.listener.fileno(),))
        processes.start(support.exec_start("app-worker@.service"), env, tmp_path / "worker.log")
        processes.start(support.exec_start("app-beat.service"), env, tmp_path / "beat.log")
        processes.start(support.exec_start("app-flower.service"), env, tmp_path / "flower.log")

        # Type=notify: gunicorn's master says READY=1, then answers on the inherited socket.
        activated.wait_ready(timeout=60)
        status, body = support.unix_request(socket_path, "GET", "/healthz")
        assert status == 200, body

        # The worker (named worker1 by the template's instance) runs a task published here.
        snippet = "from workflow.tasks import create_task; print(create_task.delay(0).get(timeout=60))"
        result = support.run([support.REPO / "deploy/bin/manage", "shell", "-c", snippet], env=env, timeout=90)
        assert result.stdout.strip().endswith("True"), result.stdout

        support.wait_for(lambda: flower_status("/flower/") == 401, 60, "Flower answered 401 without credentials")
        credentials = f"{env['FLOWER_USER']}:{env['FLOWER_PASSWORD']}"
        assert flower_status("/flower/api/workers", credentials) == 200

        def flower_knows_worker1():
            workers = json.loads(urllib.request.urlopen(_authorized(credentials), timeout=10).read())  # noqa: S310
            return any(name.startswith("worker1@") for name in workers)

        support.wait_for(flower_knows_worker1, 60, "Flower listed worker1")

        # beat holds the lock and its heartbeat task reaches the database through the worker.
        beat_log = tmp_path / "beat.log"
        support.wait_for(lambda: "beat lock acquired" in beat_log.read_text(), 60, "beat took its lock")
        seen = "SELECT count(*) FROM ops_heartbeat WHERE name = 'beat' AND seen_at > now() - interval '1 minute'"
        support.wait_for(lambda: support.psql(seen, support.DB_NAME) == "1", 60, "beat's heartbeat was recorded")
        # CELERY_LOG_FILE: the file logrotate rotates gets the same lines.
        assert "beat lock acquired" in (host_env_file.parent / "celery.log").read_text()
    finally:
        processes.stop_all()
        activated.close()


def _authorized(credentials):
    request = urllib.request.Request(f"http://127.0.0.1:{support.FLOWER_PORT}/flower/api/workers?refresh=1")
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    return request
