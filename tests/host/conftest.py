"""Fixtures of the host tests: a dedicated database and vhost, an environment file like
/etc/app/app.env with free ports, and helpers to run and stop the deploy/bin processes."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.host import support
from tests.support import fresh
from tests.support.env_file import read_env_file


def test_urls():
    env = read_env_file(support.repo_env_file())
    db, broker = env["DATABASE_URL"], env["CELERY_BROKER_URL"]
    return db.rsplit("/", 1)[0] + "/" + support.DB_NAME, broker.rsplit("/", 1)[0] + "/" + support.DB_NAME


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # tests/conftest.py refuses URLs that do not end in _test. Run alone (pytest tests/host),
    # point them at this folder's database; under tests/run, leave the suite's own alone.
    # The host tests themselves only use the environment file of host_env_file.
    urls = test_urls()
    for name, url in zip(("DATABASE_URL", "CELERY_BROKER_URL"), urls, strict=True):
        if not os.environ.get(name, "").endswith("_test"):
            os.environ[name] = url


@pytest.fixture(scope="session")
def host_env_file(tmp_path_factory):
    """An environment file as deploy/install writes it, pointing at app_systemd_test and free ports."""
    tmp = tmp_path_factory.mktemp("hostenv")
    database_url, broker_url = test_urls()
    values = read_env_file(support.repo_env_file())
    values.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        DJANGO_HTTPS="false",
        GUNICORN_BIND=f"unix:{tmp}/gunicorn.sock",
        WEB_CONCURRENCY="2",
        CELERY_WORKER_CONCURRENCY="2",
        FLOWER_PORT=str(support.FLOWER_PORT),
        HTTP_PORT=str(support.HTTP_PORT),
        DJANGO_STATIC_ROOT=str(tmp / "static"),
        CELERY_LOG_FILE=str(tmp / "celery.log"),
        CELERY_BEAT_STATE_DIR=str(tmp / "beat"),
        MIGRATE_DB_WAIT_SECONDS="10",
        APP_ROOT="",
        VENV_DIR="",
        ENV_FILE="",
    )
    path = tmp / "app.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    path.chmod(0o600)
    env = {**support.base_env(), "ENV_FILE": str(path)}
    support.run([support.REPO / "deploy/native/provision"], env=env, timeout=300)
    # From nothing, as the suite's own database and vhost (tests/support/fresh.py).
    fresh.reset_database(database_url)
    fresh.reset_vhost(broker_url)
    support.run([support.REPO / "deploy/bin/migrate"], env=env, timeout=300)
    return path


@pytest.fixture
def processes():
    """Started processes, stopped by pid (SIGTERM, then SIGKILL) when the test ends."""
    started = support.Processes()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def scratch_database():
    """A fresh, empty database owned by the app's role, dropped afterwards."""
    database_url, _ = test_urls()
    role = urlsplit(database_url).username
    name = "app_migrate_test"
    support.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    support.psql(f'CREATE DATABASE "{name}" OWNER "{role}"')
    try:
        yield name, database_url.rsplit("/", 1)[0] + "/" + name
    finally:
        support.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def installed_root(tmp_path_factory):
    """DESTDIR=<tmp> deploy/install, run once per session."""
    root = tmp_path_factory.mktemp("destdir")
    support.run([support.REPO / "deploy/install"], env={**support.base_env(), "DESTDIR": str(root)}, timeout=120)
    return root


def copy_release_source(target: Path) -> Path:
    """What deploy/upgrade stages from a checkout, copied to target (no caches)."""
    target.mkdir(parents=True)
    for name in ("src", "deploy", "nginx", "requirements"):
        shutil.copytree(support.REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(support.REPO / ".env.example", target / ".env.example")
    return target
