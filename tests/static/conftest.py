"""Fixtures of the static checks of the container flavour.

These tests need no Docker engine and no running service: they read the Dockerfile, the
compose file, the nginx template and .env.example, and run hadolint and `nginx -t`.
"""

import pytest
from container_model import REPO, load_compose

from tests.support.env_file import read_env_file


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return read_env_file(REPO / ".env.example")


@pytest.fixture(scope="session")
def compose(env_example) -> dict:
    """The compose model as `make up` sees it with the documented defaults."""
    return load_compose(env_example)
