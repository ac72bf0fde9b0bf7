"""The systemd flavour for real: a Debian 12 "host" container with systemd as PID 1, the
checkout copied in as an operator's clone, and `deploy/install --plain-http` run in it as the
README tells (it installs Debian's PostgreSQL, RabbitMQ and nginx itself). The tests then
work on the live units. One host for the whole session: booting and installing take minutes.

Needs the test engine (the docker_engine fixture, tests/support/engine.py) and the
local base image app-test/debian:bookworm (tests/containers/images, built here when missing).
Anything missing fails the session; nothing is skipped.
"""

import io
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.support import stages
from tests.support.stack import ROOT, SeedClient, wait_until

HERE = Path(__file__).resolve().parent
BASE_IMAGE = "app-test/debian:bookworm"
IMAGE = "app-test/systemd-host:latest"
CONTAINER = "app-test-host"
HOSTNAME = "apphost"
HTTP_PORT = 28180
# Where the README's operator clones the project (`git clone <repo> /root/app`).
CHECKOUT = "/root/app"
# Never part of a clone: the checkout's own venv, run folder, secrets and git database.
NOT_CLONED = (".venv", ".run", ".git", ".env")


def timed(name):
    """The stage's time goes to the run's summary (tests/support/stages.py), also when it fails."""
    return stages.stage(f"systemd host: {name}")


def run(args, env, timeout, input=None, check=True):
    result = subprocess.run([str(arg) for arg in args], env=env, input=input, capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{out[-6000:]}\n{err[-6000:]}")
    return result


def checkout_tar() -> bytes:
    """The working tree as a clone of it would hold it: tracked and new files, not ignored ones."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in sorted(set(filter(None, listed.split("\0")))):
            path = ROOT / name
            # Deleted but not yet committed files are listed too; a clone would not have them.
            if name.split("/")[0] in NOT_CLONED or "__pycache__" in name or not path.is_file():
                continue
            tar.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


class Host(SeedClient):
    """The host container: commands run in it as root, HTTP through its nginx."""

    def __init__(self, env, container=CONTAINER, http_port=HTTP_PORT):
        self.env, self.container = env, container
        self.url = f"http://127.0.0.1:{http_port}"

    def docker(self, *args, input=None, timeout=120, check=True):
        return run(["docker", *args], self.env, timeout, input=input, check=check)

    def sh(self, script, timeout=120, check=True, cwd="/"):
        """A bash script run as root in the host (from / unless told); stdout as text."""
        result = self.docker("exec", "-w", cwd, self.container, "bash", "-c", script, timeout=timeout, check=check)
        return result.stdout.decode(errors="replace")

    def returncode(self, script, timeout=120, cwd="/"):
        result = self.docker("exec", "-w", cwd, self.container, "bash", "-c", script, timeout=timeout, check=False)
        return result.returncode

    def show(self, unit, prop):
        return self.sh(f"systemctl show -p {prop} --value {unit}").strip()

    def app_env(self):
        """/etc/app/app.env as deploy/install wrote it (root's, 0600)."""
        values = {}
        for line in self.sh("cat /etc/app/app.env").splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
        return values

    def journal(self, unit_pattern):
        return self.sh(f"journalctl --no-pager -o cat -u '{unit_pattern}'", timeout=60)

    def sql(self, statement):
        """A query as postgres in the app's database (from /: postgres cannot enter /root)."""
        database = self.app_env()["DATABASE_URL"].rsplit("/", 1)[1]
        return self.sh(f'runuser -u postgres -- psql -X -Atq -d {database} -c "{statement}"').strip()

    def wait_received(self, task_id, timeout=30):
        """Until a worker logged that it took the task (it is running from then on)."""
        line = f"create_task[{task_id}] received"
        wait_until(lambda: line in self.journal("app-worker@*"), timeout, 0.5, f"a worker to take {task_id}")

    def succeeded(self, task_ids):
        """How many of these tasks have a SUCCESS row in the result table."""
        ids = ",".join(str(uuid.UUID(task_id)) for task_id in task_ids)
        query = "SELECT count(*) FROM django_celery_results_taskresult WHERE status = 'SUCCESS' AND task_id = ANY"
        return int(self.sql(f"{query}('{{{ids}}}'::text[])"))

    def wait_all_succeeded(self, task_ids, timeout=180):
        wait_until(
            lambda: self.succeeded(task_ids) == len(task_ids), timeout, 2, f"all {len(task_ids)} tasks to succeed"
        )

    def wait_booted(self, timeout=120):
        """Until systemd finished booting (degraded counts: the checks say what failed)."""
        states = {"running", "degraded"}
        wait_until(
            lambda: self.sh("systemctl is-system-running", check=False).strip() in states, timeout, 1, "systemd booted"
        )

    def wait_target_active(self, timeout=180):
        wait_until(
            lambda: self.sh("systemctl is-active app.target", check=False).strip() == "active",
            timeout,
            1,
            "app.target active",
        )


def build_image(env):
    if run(["docker", "image", "inspect", BASE_IMAGE], env, 60, check=False).returncode != 0:
        with timed("base image (tests/containers/images)"):
            run([ROOT / "tests/containers/images"], env, 900)
    with timed("host image build"):
        run(["docker", "build", "-q", "-t", IMAGE, HERE], env, 900)


def boot(host):
    """systemd as PID 1: a cgroup namespace of its own, /run on tmpfs, SIGRTMIN+3 to stop.
    (--privileged does not boot on this engine; these two capabilities suffice.)"""
    host.docker("rm", "-f", CONTAINER, check=False)
    with timed("boot"):
        host.docker(
            "run", "-d", "--name", CONTAINER, "--hostname", HOSTNAME,
            "--cgroupns", "private", "--tmpfs", "/run", "--tmpfs", "/run/lock",
            "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE", "--stop-signal", "SIGRTMIN+3",
            "-p", f"127.0.0.1:{HTTP_PORT}:80",
            IMAGE,
        )  # fmt: skip
        host.wait_booted()


def install(host):
    with timed("copy the checkout in"):
        host.sh(f"mkdir -p {CHECKOUT}")
        host.docker("exec", "-i", CONTAINER, "tar", "-xf", "-", "-C", CHECKOUT, input=checkout_tar())
    # As the README's operator: `cd /root/app && deploy/install --plain-http` (the tests
    # reach nginx over plain HTTP).
    with timed("deploy/install"):
        host.install_output = host.sh("deploy/install --plain-http 2>&1", timeout=900, cwd=CHECKOUT)


@pytest.fixture(scope="session")
def host(docker_engine):
    env = docker_engine
    build_image(env)
    running = Host(env)
    try:
        boot(running)
        install(running)
        yield running
    finally:
        running.docker("rm", "-f", CONTAINER, check=False)
