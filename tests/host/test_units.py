"""The systemd units: systemd-analyze verify and security (exposure <= 3.0 per service)."""

import functools
import re
import shutil
import stat

import pytest

from tests.host import support
from tests.support.env_file import read_env_file

MAX_EXPOSURE = 3.0


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory, installed_root):
    """A root with the units deploy/install rendered, where every path they name exists."""
    root = tmp_path_factory.mktemp("unitroot")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copytree(installed_root / "etc/systemd/system", root / "etc/systemd/system")
    for executable in ["bin/kill", "usr/bin/env"] + [
        f"srv/app/current/deploy/bin/{name}" for name in ("web", "worker", "beat", "flower")
    ]:
        path = root / executable
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755 | stat.S_IFREG)
    (root / "etc/app").mkdir(parents=True)
    (root / "etc/app/app.env").write_text("DJANGO_DEBUG=false\n")
    for folder in ("var/log/app", "var/lib/app"):
        (root / folder).mkdir(parents=True)
    return root


def test_systemd_analyze_verify_accepts_every_unit(unit_root):
    units = ["app.target", "app-web.socket", "app-web.service", "app-worker@1.service", "app-worker@2.service"]
    units += ["app-beat.service", "app-flower.service"]
    result = support.run(["systemd-analyze", "verify", f"--root={unit_root}", *units], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("unit", support.SERVICES)
def test_security_exposure_is_at_most_3(unit_root, unit):
    result = support.run(["systemd-analyze", "security", "--offline=yes", f"--root={unit_root}", unit], check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    print(f"\nsystemd-analyze security {unit}: {exposure}")
    assert exposure <= MAX_EXPOSURE


def test_every_service_shares_the_hardening_and_environment_file(installed_root):
    for unit in support.SERVICES:
        settings = functools.partial(support.unit_settings, installed_root, unit)
        assert settings("EnvironmentFile") == ["/etc/app/app.env"]
        assert settings("User") == ["app"]
        assert settings("WorkingDirectory") == ["/srv/app/current"]
        assert settings("RestartPreventExitStatus") == ["78"]
        assert settings("KillMode") == ["mixed"]
        (exec_start,) = settings("ExecStart")
        assert "/srv/app/current/deploy/bin/" in exec_start  # never gunicorn or celery directly


def test_the_unit_templates_leave_the_layout_to_deploy_install():
    """The paths live in deploy/lib/host-layout.sh; a unit that wrote one itself would drift."""
    for path in support.UNIT_DIR.rglob("*"):
        if path.suffix in (".service", ".socket", ".target", ".conf"):
            text = path.read_text()
            for literal in ("/srv/app", "/etc/app/app.env", "/run/app/"):
                assert literal not in text, f"{path.name} names {literal}"


def test_the_worker_stop_timeout_is_rendered_from_the_env_file(installed_root):
    """WORKER_STOP_SECONDS has one home, the env file; deploy/install renders the drop-in."""
    dropin = installed_root / "etc/systemd/system/app-worker@.service.d/20-stop-timeout.conf"
    env = read_env_file(installed_root / "etc/app/app.env")
    assert f"TimeoutStopSec={env['WORKER_STOP_SECONDS']}" in dropin.read_text().splitlines()
    assert int(env["WORKER_STOP_SECONDS"]) > int(env["CELERY_TASK_TIME_LIMIT"])
    assert support.unit_settings(installed_root, "app-worker@.service", "TimeoutStopSec") == []  # no second value
