"""Shared fixtures. tests/run exports the test stack's environment before pytest starts."""

import contextlib
import os
from types import SimpleNamespace

import pytest
from django.db import connection

from tests.support import engine, stages
from tests.support.stack import Stack


def pytest_configure(config):
    # Never run against the database or vhost of a stack someone uses: tests/run sets these.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if not os.environ.get(name, "").endswith("_test"):
            pytest.exit(f"{name} does not point at a *_test database/vhost: run the suite with 'make test'", 2)


def pytest_terminal_summary(terminalreporter):
    if stages.TIMES:
        terminalreporter.section("time per stage")
        for name, seconds in stages.TIMES:
            terminalreporter.write_line(f"{seconds:7.1f} s  {name}")
    if stages.FIGURES:
        terminalreporter.section("figures")
        for line in stages.FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def django_db_setup():
    """Use the test stack's database as it is: tests/run recreated and migrated it
    (tests/support/fresh.py) before pytest started.

    Unit tests still run inside a transaction that is rolled back (the `db` fixture).
    """


@pytest.fixture(scope="session")
def docker_engine():
    """The test engine's environment (tests/support/engine.py); stopped at the end if started here."""
    env, started_here = engine.start()
    yield env
    if started_here:
        engine.stop(env)


@pytest.fixture(scope="session")
def stack():
    """The whole stack, started exactly as `make up` starts it, stopped at the end."""
    running = Stack.from_environment()
    with stages.stage("native: deploy/native/up"):
        running.up()
    yield running
    with stages.stage("native: deploy/native/down"):
        running.down()
    running.assert_fully_stopped()


@pytest.fixture
def stack_db_blocker(django_db_blocker):
    """django_db_blocker for the stack's database, starting from a fresh connection.

    The fault suite restarts PostgreSQL, which leaves this process's connection dead.
    """

    @contextlib.contextmanager
    def unblock():
        with django_db_blocker.unblock():
            connection.close()
            yield

    return SimpleNamespace(unblock=unblock)
