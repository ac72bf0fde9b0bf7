"""The test run's Docker engine (tests/containers/engine), shared by the container and the
systemd-host tests: started once, stopped at the end if this session started it."""

import os
import subprocess
from pathlib import Path

from tests.support import stages
from tests.support.stack import ROOT

ENGINE = ROOT / "tests/containers/engine"
PIDFILE = Path(os.environ.get("ENGINE_DIR", "/var/tmp/app-test-engine")) / "dockerd.pid"


def run(name, args, env, timeout):
    """Run a stage, fail with its output; its time goes to the run's summary."""
    with stages.stage(name):
        result = subprocess.run([str(arg) for arg in args], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=timeout)  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"{name} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def pid():
    try:
        value = int(PIDFILE.read_text())
        os.kill(value, 0)
        return value
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def environment():
    """What `engine env` exports, over a minimal environment (nothing of the native test stack)."""
    out = subprocess.run([ENGINE, "env"], capture_output=True, text=True, check=True).stdout
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    for line in out.splitlines():
        key, value = line.removeprefix("export ").split("=", 1)
        env[key] = value.replace("$PATH", env["PATH"])
    return env


def start():
    """Start the engine; returns (its environment, whether this call started it)."""
    already_running = pid()
    env = environment()
    run("engine start", [ENGINE, "start"], env, 600)
    return env, not already_running


def stop(env):
    """Stop the engine and check that nothing of it is left running."""
    running = pid()
    run("engine stop", [ENGINE, "stop"], env, 300)
    assert running and not Path(f"/proc/{running}").exists(), "dockerd still runs after engine stop"
    shims = subprocess.run(["pgrep", "-f", "containerd-shim"], capture_output=True, text=True).stdout.split()
    assert shims == [], f"container processes left after engine stop: {shims}"
