"""Drives the test stack through the project's own scripts (deploy/native/up and down)."""

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout, interval=0.2, message="condition"):
    """Poll predicate() until it returns a truthy value; fail after timeout seconds.
    message: what was awaited, or a callable that says it (with what was seen last)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            awaited = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {awaited}")
        time.sleep(interval)


class SeedClient:
    """The seeds' HTTP contract as the tests speak it to any flavour's stack, through its
    nginx at `self.url` (this native stack, the compose stack, the systemd host)."""

    url: str
    verify = True  # or the CA file that verifies the stack's HTTPS certificate

    def get(self, path, url=None, **kwargs):
        """GET path on the stack's URL (or on url, another of its addresses)."""
        return requests.get((url or self.url) + path, timeout=10, verify=self.verify, **kwargs)

    def post(self, path, **kwargs):
        return requests.post(self.url + path, timeout=10, verify=self.verify, **kwargs)

    def submit(self, task_type=0):
        response = self.post("/tasks/", json={"type": task_type})
        assert response.status_code == 202, response.text
        return response.json()["task_id"]

    def status(self, task_id):
        return self.get(f"/tasks/{task_id}/").json()

    def wait_final(self, task_id, timeout=90):
        def final():
            body = self.status(task_id)
            return body if body["task_status"] in {"SUCCESS", "FAILURE"} else None

        return wait_until(final, timeout, 0.5, f"task {task_id} to finish")


@dataclass
class Stack(SeedClient):
    http_port: int
    https_port: int
    run_dir: Path
    flower_user: str
    flower_password: str

    @classmethod
    def from_environment(cls):
        return cls(
            http_port=int(os.environ["HTTP_PORT"]),
            https_port=int(os.environ["HTTPS_PORT"]),
            run_dir=Path(os.environ["RUN_DIR"]),
            flower_user=os.environ["FLOWER_USER"],
            flower_password=os.environ["FLOWER_PASSWORD"],
        )

    @property
    def url(self):
        """The site as clients reach it: HTTPS (DJANGO_HTTPS=true; requests trusts the CA through
        REQUESTS_CA_BUNDLE, which tests/run points at the one deploy/native/up makes)."""
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def plain_url(self):
        """Plain HTTP: redirected to HTTPS, except health probes and ACME challenges."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ca_file(self):
        return self.run_dir / "tls" / "ca.crt"

    @property
    def verify(self):
        return str(self.ca_file)

    @property
    def nginx_worker_user(self):
        """The user deploy/native/up chose for nginx's workers (www-data, or root's fallback)."""
        conf = (self.run_dir / "nginx" / "nginx.conf").read_text()
        return re.search(r"^user (\S+);", conf, re.M).group(1)

    @property
    def flower_auth(self):
        return (self.flower_user, self.flower_password)

    def script(self, *args, timeout=300, check=True):
        result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def up(self):
        return self.script("deploy/native/up")

    def down(self):
        self.pids_at_down = self.all_pids()
        return self.script("deploy/native/down", timeout=240)

    def supervisorctl(self, *args, check=True):
        return self.script("deploy/native/ctl", *args, check=check)

    def pid(self, program):
        """The program's pid; 0 while it is not running (supervisorctl then exits 7)."""
        return int(self.supervisorctl("pid", program, check=False).stdout.strip() or 0)

    def all_pids(self):
        pids = [int(Path(self.run_dir, "supervisord.pid").read_text())]
        out = subprocess.run(["pgrep", "-s", str(os.getsid(pids[0]))], capture_output=True, text=True).stdout
        return sorted(set(pids + [int(p) for p in out.split()]))

    def kill(self, program, sig=signal.SIGKILL):
        os.kill(self.pid(program), sig)

    def wait_running(self, program, timeout=60):
        wait_until(
            lambda: "RUNNING" in self.supervisorctl("status", program, check=False).stdout, timeout, 0.5, program
        )

    def healthcheck(self, *args):
        return self.script("deploy/bin/healthcheck", *args, check=False, timeout=60)

    def port_open(self, port):
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def assert_fully_stopped(self):
        alive = [pid for pid in self.pids_at_down if _alive(pid)]
        assert not alive, f"processes of the stack still running after make down: {alive}"
        assert not self.port_open(self.http_port), "nginx still listens after make down"
        assert not self.port_open(self.https_port), "nginx still listens on HTTPS after make down"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
