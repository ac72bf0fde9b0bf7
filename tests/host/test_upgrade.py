"""deploy/upgrade without systemd: a failed migration changes nothing. (The upgrade of live
units under load runs on a real systemd host: tests/systemd_host.)"""

import pytest

from tests.host import support
from tests.host.conftest import copy_release_source
from tests.support import broken_migration

MARKER = "<!-- release: new -->"


def upgrade(prefix, source, env_file):
    args = [support.REPO / "deploy/upgrade", "--source", source, "--prefix", prefix, "--env-file", env_file]
    args += ["--user", "root", "--venv", support.REPO / ".venv", "--no-restart"]
    return support.run(args, env=support.base_env(), timeout=300, check=False, start_new_session=True)


@pytest.fixture
def releases(tmp_path):
    old = copy_release_source(tmp_path / "source-old")
    new = copy_release_source(tmp_path / "source-new")
    home = new / "src/workflow/templates/workflow/home.html"
    home.write_text(home.read_text() + MARKER + "\n")
    return tmp_path / "srv", old, new


def test_failed_migration_leaves_current_alone(host_env_file, releases):
    prefix, old, new = releases
    assert upgrade(prefix, old, host_env_file).returncode == 0
    old_release = (prefix / "current").readlink()
    migrations = new / "src/ops/migrations"
    latest = max(path.stem for path in migrations.glob("0*.py"))
    (migrations / broken_migration.FILE_NAME).write_text(broken_migration.broken_migration(latest))
    result = upgrade(prefix, new, host_env_file)
    assert result.returncode != 0
    assert "migrate failed: current still points to" in result.stderr
    assert broken_migration.ERROR_MARK in result.stderr
    assert (prefix / "current").readlink() == old_release
