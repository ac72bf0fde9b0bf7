"""The suites' own settings files (tests/test.env, bench/bench.env) win over .env: each entry
script loads its file before deploy/lib/common.sh loads .env, and load_env_file keeps what is
already set. An .env made by an older release may still set one of those settings; loaded the
other way round, CELERY_QUEUE_TYPE=classic in such a file made the bench's project variant
measure a classic queue in place of production's quorum queue."""

import subprocess

import pytest
from container_model import REPO

ENTRY_SCRIPTS = {"tests/run": "tests/test.env", "bench/run": "bench/bench.env", "bench/tune": "bench/bench.env"}


@pytest.mark.parametrize(("script", "settings_file"), ENTRY_SCRIPTS.items())
def test_the_suites_settings_file_is_loaded_before_env(script, settings_file):
    lines = (REPO / script).read_text().splitlines()
    loads = [n for n, line in enumerate(lines) if line.startswith("load_env_file") and settings_file in line]
    sources_common = [n for n, line in enumerate(lines) if line.startswith("source") and "lib/common.sh" in line]
    assert loads and sources_common, f"{script} loads {settings_file} and sources common.sh"
    assert loads[0] < sources_common[0], f"{script} loads {settings_file} after common.sh has loaded .env"


def test_the_caller_wins_then_the_suites_file_then_env(tmp_path):
    (tmp_path / "suite.env").write_text("QUEUE_KIND=quorum\nSUITE_PORT=1\n")
    (tmp_path / "old.env").write_text("QUEUE_KIND=classic\nSUITE_PORT=2\nONLY_IN_ENV=3\n")
    script = f"""source {REPO}/deploy/lib/env-file.sh
        load_env_file {tmp_path}/suite.env
        source {REPO}/deploy/lib/common.sh
        echo "$QUEUE_KIND $SUITE_PORT $ONLY_IN_ENV" """
    environment = {"PATH": "/usr/bin:/bin", "ENV_FILE": str(tmp_path / "old.env"), "SUITE_PORT": "9"}
    result = subprocess.run(["bash", "-c", script], env=environment, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["quorum", "9", "3"]


def test_make_env_names_what_an_older_env_file_still_sets(tmp_path):
    example, target = tmp_path / "example", tmp_path / "env"
    example.write_text("# comment\nDATABASE_URL=change-me-x\nLOG_LEVEL=info\n")
    kept = "DATABASE_URL=postgres://a\nLOG_LEVEL=info\nCELERY_QUEUE_TYPE=classic\n"
    target.write_text(kept)
    command = [REPO / "deploy/native/make-env", "--plain-http", example, target]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "CELERY_QUEUE_TYPE" in result.stderr and "LOG_LEVEL" not in result.stderr, result.stderr
    assert target.read_text() == kept  # warned about, never changed
    target.write_text("DATABASE_URL=postgres://a\n")
    assert subprocess.run(command, capture_output=True, text=True, timeout=30).stderr == ""
