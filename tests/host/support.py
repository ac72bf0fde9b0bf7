"""Helpers of the host tests: environment files, processes stopped by pid, HTTP over a unix
socket, and systemd's socket activation emulated (fd 3, $LISTEN_PID, $NOTIFY_SOCKET)."""

import http.client
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "deploy/systemd"
HTTP_PORT = 28080
FLOWER_PORT = 28555
# Database and vhost of these tests (the _test suffix: never a live stack's).
DB_NAME = "app_systemd_test"
SERVICES = ["app-web.service", "app-worker@.service", "app-beat.service", "app-flower.service"]


def repo_env_file() -> Path:
    """The checkout's .env (created with random secrets as `make up` does when missing)."""
    subprocess.run([REPO / "deploy/native/make-env", "--plain-http"], check=True, timeout=30)
    return REPO / ".env"


def base_env() -> dict[str, str]:
    """What systemd gives a service besides its environment file."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}


def run(args, env=None, timeout=60, check=True, **kwargs):
    result = subprocess.run(
        [str(arg) for arg in args], env=env, timeout=timeout, capture_output=True, text=True, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def psql(sql: str, database: str = "postgres") -> str:
    return run(["runuser", "-u", "postgres", "--", "psql", "-X", "-Atq", "-d", database, "-c", sql]).stdout.strip()


def unit_settings(root: Path, unit: str, key: str) -> list[str]:
    """Values of KEY in an installed unit and the shared drop-in, in systemd's order."""
    values = []
    units = root / "etc/systemd/system"
    for path in (units / unit, units / "app-.service.d/10-hardening.conf"):
        for line in path.read_text().splitlines():
            if line.startswith(f"{key}="):
                values.append(line.split("=", 1)[1])
    return values


def exec_start(unit: str, instance: str = "1") -> list[str]:
    """The unit's ExecStart, with %i expanded and the live release being this checkout."""
    (line,) = [line for line in (UNIT_DIR / unit).read_text().splitlines() if line.startswith("ExecStart=")]
    line = line.removeprefix("ExecStart=").replace("%i", instance).replace("${APP_CURRENT}", str(REPO))
    return shlex.split(line)


class Processes:
    def __init__(self):
        self.started = []

    def start(self, args, env, log: Path, **kwargs) -> subprocess.Popen:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [str(arg) for arg in args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **kwargs,
            )
        self.started.append(process.pid)
        return process

    def adopt(self, pid: int):
        """A process some script started for the test (e.g. deploy/upgrade's new worker)."""
        self.started.append(pid)

    def stop_all(self, timeout=120):
        for pid in reversed(self.started):
            stop_pid(pid, timeout)


def stop_pid(pid: int, timeout: float):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.2)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def wait_for(check, timeout: float, what: str, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, http.client.HTTPException) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"{what} within {timeout} s (last error: {last})")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def unix_request(socket_path, method, url, body=None, headers=None):
    """(status, body) of one request to gunicorn on its unix socket."""
    connection = UnixHTTPConnection(str(socket_path))
    try:
        connection.request(method, url, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class ActivatedSocket:
    """The listening socket and notify socket systemd would hand to app-web.service."""

    def __init__(self, socket_path: Path, notify_path: Path):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(socket_path))
        self.listener.listen(128)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(notify_path))
        self.notify_path = notify_path

    def command(self, args):
        """args, run with the socket as fd 3 and $LISTEN_PID set to the process's own pid."""
        fd = self.listener.fileno()
        script = 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@" 3<&' + str(fd)
        return ["/bin/bash", "-c", script, "bash", *args]

    def env(self, env):
        return {**env, "NOTIFY_SOCKET": str(self.notify_path)}

    def wait_ready(self, timeout: float) -> str:
        self.notify.settimeout(timeout)
        message = self.notify.recv(4096).decode()
        assert "READY=1" in message, message
        return message

    def close(self):
        self.listener.close()
        self.notify.close()
