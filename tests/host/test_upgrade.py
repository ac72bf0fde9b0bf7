"""deploy/upgrade on a live (native, pid-file) deployment: requests keep succeeding, new
code is served, a worker restarted warmly loses no task; a failed migration changes nothing."""

import json
import threading
import time
from pathlib import Path

import pytest

from tests.host import support
from tests.host.conftest import copy_release_source

MARKER = "<!-- release: new -->"


def upgrade(prefix, source, env_file, pid_dir=None):
    args = [support.REPO / "deploy/upgrade", "--source", source, "--prefix", prefix, "--env-file", env_file]
    args += ["--user", "root", "--venv", support.REPO / ".venv"]
    args += ["--pid-dir", pid_dir] if pid_dir else ["--no-restart"]
    return support.run(args, env=support.base_env(), timeout=300, check=False, start_new_session=True)


@pytest.fixture
def releases(tmp_path):
    old = copy_release_source(tmp_path / "source-old")
    new = copy_release_source(tmp_path / "source-new")
    home = new / "src/workflow/templates/workflow/home.html"
    home.write_text(home.read_text() + MARKER + "\n")
    return tmp_path / "srv", old, new


class Load(threading.Thread):
    """GET /healthz and POST /tasks/ type=0 in a loop; remembers every status and task id.

    A request that raises (a reset connection, a timeout) is recorded as a failure and the
    loop goes on: the test sees every request, not only those before the first error.
    """

    def __init__(self, socket_path):
        super().__init__(daemon=True)
        self.socket_path = socket_path
        self.stop = threading.Event()
        self.statuses = []
        self.failures = []
        self.task_ids = []

    def run(self):
        deadline = time.monotonic() + 180
        while not self.stop.is_set() and time.monotonic() < deadline:
            for request in (self.healthz, self.post):
                try:
                    request()
                except Exception as error:  # noqa: BLE001 (every failure is counted, none ends the loop)
                    self.failures.append(repr(error))
            time.sleep(0.05)

    def healthz(self):
        self.statuses.append(support.unix_request(self.socket_path, "GET", "/healthz")[0])

    def post(self):
        status, body = post_task(self.socket_path, 0)
        self.statuses.append(status)
        if status == 202:
            self.task_ids.append(json.loads(body)["task_id"])


def post_task(socket_path, task_type):
    headers = {"Content-Type": "application/json"}
    return support.unix_request(socket_path, "POST", "/tasks/", json.dumps({"type": task_type}), headers)


def task_status(socket_path, task_id):
    status, body = support.unix_request(socket_path, "GET", f"/tasks/{task_id}/")
    assert status == 200, body
    return json.loads(body)["task_status"]


def test_upgrade_reloads_web_and_restarts_workers_without_losing_anything(host_env_file, processes, releases, tmp_path):
    prefix, old, new = releases
    result = upgrade(prefix, old, host_env_file)
    assert result.returncode == 0, result.stderr
    old_release = (prefix / "current").readlink()

    # The deployment as systemd runs it, from `current`, with pid files for deploy/upgrade.
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    env = {**support.base_env(), **support.read_env(host_env_file)}
    current = prefix / "current/deploy/bin"
    socket_path = tmp_path / "web.sock"
    activated = support.ActivatedSocket(socket_path, tmp_path / "notify.sock")
    load = Load(socket_path)
    try:
        web = processes.start(
            activated.command([current / "web"]),
            activated.env(env),
            tmp_path / "web.log",
            pass_fds=(activated.listener.fileno(),),
        )
        (pid_dir / "web.pid").write_text(f"{web.pid}\n")
        worker = processes.start(
            [current / "worker"], {**env, "CELERY_WORKER_NAME": "worker1"}, pid_dir / "worker1.log"
        )
        (pid_dir / "worker1.pid").write_text(f"{worker.pid}\n")
        # As init would: reap it when it exits, so deploy/upgrade sees it gone (not a zombie).
        threading.Thread(target=worker.wait, daemon=True).start()
        activated.wait_ready(timeout=60)
        assert MARKER not in support.unix_request(socket_path, "GET", "/")[1].decode()

        status, body = post_task(socket_path, 1)  # 10 s: running while the worker restarts
        assert status == 202, body
        long_task = json.loads(body)["task_id"]
        support.wait_for(
            lambda: "create_task[" + long_task in (pid_dir / "worker1.log").read_text(), 30, "worker took it"
        )
        load.start()
        time.sleep(1)

        result = upgrade(prefix, new, host_env_file, pid_dir)
        new_worker = int((pid_dir / "worker1.pid").read_text())
        if new_worker != worker.pid:
            processes.adopt(new_worker)
        assert result.returncode == 0, result.stderr
        assert (prefix / "current").readlink() != old_release
        assert not support.alive(worker.pid)  # the old worker is gone, after its task
        # The pid file names the worker itself (its pid becomes celery's), not a shell around it.
        support.wait_for(lambda: "celery" in Path(f"/proc/{new_worker}/cmdline").read_text(), 30, "worker pid")

        # New gunicorn workers serve the new release through `current`.
        support.wait_for(
            lambda: MARKER in support.unix_request(socket_path, "GET", "/")[1].decode(), 60, "new code served"
        )
        time.sleep(2)
    finally:
        load.stop.set()
        if load.is_alive():
            load.join(timeout=30)
    try:
        assert not load.is_alive()
        assert load.failures == []
        assert len(load.statuses) > 20 and all(200 <= status < 300 for status in load.statuses), sorted(
            set(load.statuses)
        )
        every_task = [long_task, *load.task_ids]
        support.wait_for(
            lambda: all(task_status(socket_path, task_id) == "SUCCESS" for task_id in every_task),
            120,
            f"all {len(every_task)} tasks succeeded",
            interval=2,
        )
    finally:
        processes.stop_all()
        activated.close()


def test_failed_migration_leaves_current_alone(host_env_file, releases):
    prefix, old, new = releases
    assert upgrade(prefix, old, host_env_file).returncode == 0
    old_release = (prefix / "current").readlink()
    migrations = new / "src/ops/migrations"
    latest = max(path.stem for path in migrations.glob("0*.py"))
    broken = (
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        '    dependencies = [("ops", "LATEST")]\n'
        '    operations = [migrations.RunSQL("SELECT * FROM no_such_table")]\n'
    )
    (migrations / "9999_broken.py").write_text(broken.replace("LATEST", latest))
    result = upgrade(prefix, new, host_env_file)
    assert result.returncode != 0
    assert "migrate failed: current still points to" in result.stderr
    assert "no_such_table" in result.stderr  # it failed on the broken step, not on a conflict
    assert (prefix / "current").readlink() == old_release
