"""deploy/upgrade without systemd: a failed migration changes nothing. (The upgrade of live
units under load runs on a real systemd host: tests/systemd_host.)"""

import pytest

from tests.host import support
from tests.host.conftest import copy_release_source

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
    broken = (
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        '    dependencies = [("ops", "LATEST")]\n'
        '    operations = [migrations.RunSQL("SELECT * FROM no_such_table")]\n'
    )
    (migrations / "9999_broken.py").write_text(broken.replace("LATEST", latest))
    result = upgrade(prefix, new, host_env_file)
    assert result.returncode != 0
    assert "migrate failed: current still points to" in result.stderr
    assert "no_such_table" in result.stderr  # it failed on the broken step, not on a conflict
    assert (prefix / "current").readlink() == old_release
