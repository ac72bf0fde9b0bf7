"""Every test run starts from nothing: the run's own *_test database and RabbitMQ vhost are
dropped and created again, its run folder is emptied, and the database is migrated.

tests/run calls `python -m tests.support.fresh` after provisioning (the servers answer and
the app's role and user exist) and before pytest, so no table, queue, message or file left
by an earlier run can make this one pass or fail. Only names ending in _test are touched:
never the database or vhost of a stack that `make up` started.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
# Plain names only: they are spliced into SQL and rabbitmqctl arguments.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_]+_test$")


class RefusedName(Exception):
    pass


def url_target(url: str) -> tuple[str, str]:
    """(user, database or vhost) of a DATABASE_URL or CELERY_BROKER_URL, refused unless *_test."""
    parts = urlsplit(url)
    name, user = unquote(parts.path.lstrip("/")), unquote(parts.username or "")
    if not SAFE_NAME.match(name) or not re.match(r"^[A-Za-z0-9_]+$", user):
        raise RefusedName(f"refusing to reset {name!r} (user {user!r}): only plain names ending in _test")
    return user, name


def run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def psql(sql: str, database: str = "postgres") -> str:
    # cwd=/: the postgres user may not enter the folder this runs from (e.g. under /root).
    return run(["runuser", "-u", "postgres", "--", "psql", "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-d", database,
                "-c", sql], cwd="/")  # fmt: skip


def reset_database(database_url: str) -> str:
    role, name = url_target(database_url)
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}" OWNER "{role}"')
    return name


def reset_vhost(broker_url: str) -> str:
    user, vhost = url_target(broker_url)
    if vhost in run(["rabbitmqctl", "-q", "list_vhosts", "--no-table-headers"]).split():
        run(["rabbitmqctl", "-q", "delete_vhost", vhost])  # its queues, messages and policies go with it
    run(["rabbitmqctl", "-q", "add_vhost", vhost])
    run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"])
    return vhost


def reset_run_dir(run_dir: Path):
    """Stop a test stack an interrupted run left behind, then remove its folder."""
    if run_dir.resolve() == (ROOT / ".run").resolve() or run_dir.name != "test":
        raise RefusedName(f"refusing to empty {run_dir}: only a test run folder (.../test)")
    pidfile = run_dir / "supervisord.pid"
    if pidfile.exists():
        subprocess.run([ROOT / "deploy/native/down"], timeout=300, check=False)
        _stop(int(pidfile.read_text().strip() or 0))
    shutil.rmtree(run_dir, ignore_errors=True)


def _stop(pid: int):
    """Last resort when deploy/native/down could not stop the old supervisord."""
    if pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(300):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def main() -> int:
    env = os.environ
    started = time.monotonic()
    try:
        url_target(env["DATABASE_URL"]), url_target(env["CELERY_BROKER_URL"])  # refuse before touching anything
        reset_run_dir(Path(env["RUN_DIR"]))
        database = reset_database(env["DATABASE_URL"])
        vhost = reset_vhost(env["CELERY_BROKER_URL"])
        run([ROOT / "deploy/bin/migrate", "--skip-static"])
    except (RefusedName, RuntimeError) as error:
        print(f"tests: cannot reset the test state: {error}", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    print(f"==> fresh test state: database {database} and vhost {vhost} recreated and migrated ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
