"""Shared fixtures. tests/run exports the test stack's environment before pytest starts."""

import os

import pytest

from tests.support.stack import Stack


def pytest_configure(config):
    # Never run against the database or vhost of a stack someone uses: tests/run sets these.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if not os.environ.get(name, "").endswith("_test"):
            pytest.exit(f"{name} does not point at a *_test database/vhost: run the suite with 'make test'", 2)


@pytest.fixture(scope="session")
def django_db_setup():
    """Use the test stack's database as it is: deploy/bin/migrate has migrated it.

    Unit tests still run inside a transaction that is rolled back (the `db` fixture).
    """


@pytest.fixture(scope="session")
def stack():
    """The whole stack, started exactly as `make up` starts it, stopped at the end."""
    running = Stack.from_environment()
    running.up()
    yield running
    running.down()
    running.assert_fully_stopped()
