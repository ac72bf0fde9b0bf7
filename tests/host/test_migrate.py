"""Two deploy/bin/migrate runs started at once on an empty database both succeed, and each
migration is applied exactly once."""

import subprocess

from tests.host import support
from tests.support.env_file import read_env_file


def test_concurrent_migrate_runs_apply_each_migration_once(host_env_file, scratch_database, tmp_path):
    name, database_url = scratch_database
    env = {
        **support.base_env(),
        **read_env_file(host_env_file),
        "DATABASE_URL": database_url,
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
    }
    runs = [
        subprocess.Popen(
            [support.REPO / "deploy/bin/migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    rows = support.psql("SELECT count(*), count(DISTINCT (app, name)) FROM django_migrations", name)
    total, distinct = map(int, rows.split("|"))
    plan = support.run([support.REPO / "deploy/bin/manage", "showmigrations", "--plan"], env=env, timeout=120)
    applied = [line for line in plan.stdout.splitlines() if line.startswith("[X]")]
    assert total == distinct == len(applied) > 0
    assert "[ ]" not in plan.stdout
