""".env.example is the single list of knobs: every variable the project reads from its
environment must be documented there. Readers scanned: the Django code (env.* helpers and
os.environ), the deploy scripts (bash ${VAR} reads, supervisord %(ENV_VAR)s), the compose
file, the systemd units, the nginx templates, and the test and bench entry scripts."""

import re
import subprocess
from pathlib import Path

import pytest
from container_model import REPO, compose_variables, load_compose

from tests.support.env_file import read_env_file

# Read from the environment, yet rightly absent from .env.example. Keep each reason honest.
NOT_SETTINGS = {
    "PYTHONPATH": "common.sh prepends src/ to whatever the caller had",
    "HOSTNAME": "set by bash; names this worker's node (worker@hostname) in probe-worker",
    "SECONDS": "bash's own clock, used for deadlines",
    "MAINPID": "set by systemd for ExecReload",
    "DJANGO_SETTINGS_MODULE": "Django's selector of the settings module; there is one, common.sh pins it",
    "BASH_SOURCE": "set by bash; common.sh locates the checkout with it",
    "DESTDIR": "staged-install folder given on deploy/install's command line, not an app setting",
    "BENCH_HOLDS_LOCK": "bench/run's marker that it re-executed itself under the machine lock",
    "BENCH_DONE_FILE": "bench/run derives it from the bench stack's run folder (bench/done writes it)",
    "BENCH_E2E_KEEP_RESULTS": "bench/stack.py sets it for bench/e2e.py's child (a full results table)",
    "BENCH_TASK_IDS": "bench/table_growth.py sets it for wrk/status.lua (the ids file)",
    "FLAVOUR": "make up's choice of runner (make up FLAVOUR=native), read before any .env is",
    "PGSSLMODE": "libpq's, set by deploy/lib/pg-env.sh from DATABASE_URL's ?sslmode=",
    "PGSSLROOTCERT": "libpq's, set by deploy/lib/pg-env.sh from DATABASE_URL's ?sslrootcert=",
}
# ${VAR}s of the nginx templates that each renderer derives from its own layout (socket or
# host:port, folders) rather than reading a setting: checked below to be set by every one.
TEMPLATE_DERIVED = {
    "WEB_UPSTREAM", "FLOWER_UPSTREAM", "STATIC_ROOT", "HTPASSWD_FILE", "NGINX_WORKER_USER", "NGINX_ACCESS_LOG",
    "NGINX_LOG_FORMAT",
}  # fmt: skip

PY_READ = re.compile(
    r"""(?:env\.(?:required|string|boolean|integer|words)\(|os\.environ\.get\(|os\.getenv\(|os\.environ\[)"""
    r"""\s*["']([A-Z_][A-Z0-9_]*)["']"""
)
SH_READ = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)(?![a-z])")  # not dpkg's ${Status}
SH_READ_WITH_DEFAULT = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):?[-=?+]")
SH_ASSIGN = re.compile(r"(?:^|[\s;(&|])(?:export\s+|local\s+|readonly\s+|declare\s+-\w+\s+)?([A-Z_][A-Z0-9_]*)=")
SH_READ_BUILTIN = re.compile(r"\bread\s+(?:-\w+\s+)*([\w\s]+?)\s*(?:[<;]|$)", re.M)
SH_FOR = re.compile(r"\bfor\s+([A-Z_][A-Z0-9_]*)\s+in\b")
SUPERVISOR_READ = re.compile(r"%\(ENV_([A-Z_][A-Z0-9_]*)\)s")
SYSTEMD_READ = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)(?![a-z])")
TEMPLATE_READ = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def files(*patterns: str, root: Path = REPO) -> list[Path]:
    return sorted({path for pattern in patterns for path in root.glob(pattern) if path.is_file()})


def kind(path: Path) -> str:
    first = path.read_text(errors="replace").split("\n", 1)[0]
    if path.suffix == ".py" or (first.startswith("#!") and "python" in first):
        return "python"
    if path.suffix == ".sh" or (first.startswith("#!") and re.search(r"\b(ba)?sh\b", first)):
        return "shell"
    return "other"


def shell_code(path: Path) -> str:
    """The script without comments (a comment may name a variable it does not read)."""
    lines = (re.sub(r"(^|\s)#.*$", "", line) for line in path.read_text().splitlines())
    return "\n".join(lines)


def shell_assigned(code: str) -> set[str]:
    names = set(SH_ASSIGN.findall(code)) | set(SH_FOR.findall(code))
    for words in SH_READ_BUILTIN.findall(code):
        names |= {word for word in words.split() if re.fullmatch(r"[A-Z_][A-Z0-9_]*", word)}
    return names


def shell_reads(path: Path, common_sh: Path) -> set[str]:
    """Variables the script takes from its environment: those it reads with a default or a
    check (${VAR:-x}, ${VAR:?}), and those it reads without assigning them itself (or in a
    deploy/lib/*.sh it sources)."""
    code = shell_code(path)
    assigned = shell_assigned(code)
    for library in common_sh.parent.glob("*.sh"):  # what the libraries it sources assign
        if f"lib/{library.name}" in code:
            assigned |= shell_assigned(shell_code(library))
    # A library of steps (deploy/lib/postgresql.sh, ...) reads what the scripts that source
    # it have set (provision's DB_* from DATABASE_URL): those are not settings either.
    if path.parent == common_sh.parent and path != common_sh:
        for script in files("deploy/**/*", root=common_sh.parents[1].parent):
            if kind(script) == "shell" and f"lib/{path.name}" in shell_code(script):
                assigned |= shell_assigned(shell_code(script))
    return set(SH_READ_WITH_DEFAULT.findall(code)) | (set(SH_READ.findall(code)) - assigned)


# Filled by deploy/install when it renders the units (the host layout), not by systemd.
UNIT_RENDERED = {"APP_CURRENT", "APP_ENV_FILE", "APP_USER", "GUNICORN_SOCKET"}


def systemd_reads(path: Path) -> set[str]:
    code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith(("#", ";")))
    return set(SYSTEMD_READ.findall(code)) - UNIT_RENDERED


def project_reads(root: Path = REPO) -> dict[str, set[str]]:
    """variable -> files that read it."""
    compose_file = root / "docker-compose.prod.yml"
    readers: dict[str, set[str]] = {}

    def add(names, path):
        for name in names:
            readers.setdefault(name, set()).add(str(path.relative_to(root)))

    scripts = ("src/**/*.py", "deploy/**/*", "nginx/compose/*", "tests/run", "bench/run", "bench/tune", "bench/*.py")
    for path in files(*scripts, root=root):
        if kind(path) == "python":
            add(PY_READ.findall(path.read_text()), path)
        elif kind(path) == "shell":
            add(shell_reads(path, root / "deploy" / "lib" / "common.sh"), path)
    for path in files("deploy/**/supervisord*.conf", root=root):
        # Its values come from the script beside it that starts supervisord (deploy/native/up).
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith(";"))
        exported = set().union(*(shell_assigned(shell_code(s)) for s in path.parent.iterdir() if kind(s) == "shell"))
        add(set(SUPERVISOR_READ.findall(code)) - exported, path)
    units = ("deploy/systemd/**/*.service", "deploy/systemd/**/*.socket", "deploy/systemd/**/*.conf")
    for path in files(*units, root=root):
        add(systemd_reads(path), path)
    for path in files("nginx/*.template", root=root):
        add(set(TEMPLATE_READ.findall(path.read_text())) - TEMPLATE_DERIVED, path)
    add(compose_variables(compose_file.read_text()), compose_file)
    return readers


# Where the test run's and the benchmark's own settings are documented: a variable only they
# read belongs there, never in .env.example (which becomes production's /etc/app/app.env).
OWN_ENV_FILES = {"tests/": REPO / "tests/test.env", "bench/": REPO / "bench/bench.env"}


def documented_for(paths: set[str]) -> set[str]:
    """Variables documented for readers that all live under one of OWN_ENV_FILES' folders."""
    for folder, env_file in OWN_ENV_FILES.items():
        if all(path.startswith(folder) for path in paths):
            return set(read_env_file(env_file))
    return set()


def test_every_variable_the_project_reads_is_in_env_example(env_example):
    readers = project_reads()
    missing = {
        name: sorted(paths)
        for name, paths in readers.items()
        if name not in env_example and name not in documented_for(paths)
    }
    # TEMPLATE_DERIVED names are checked by the next test to be set wherever they are needed.
    missing = {name: paths for name, paths in missing.items() if name not in NOT_SETTINGS.keys() | TEMPLATE_DERIVED}
    assert not missing, "document these in .env.example:\n" + "\n".join(
        f"  {name}  (read by {', '.join(paths)})" for name, paths in sorted(missing.items())
    )


def test_env_example_holds_no_test_or_bench_setting(env_example):
    """.env.example becomes a host's /etc/app/app.env: test and bench knobs live with them."""
    for own in OWN_ENV_FILES.values():
        assert not set(read_env_file(own)) & set(env_example), own
    assert not [name for name in env_example if name.startswith(("TEST_", "BENCH_", "FAULT_"))]


def test_every_exception_is_still_needed():
    unused = NOT_SETTINGS.keys() - project_reads().keys()
    assert not unused, f"nothing reads {sorted(unused)} any more: drop them from NOT_SETTINGS"


def test_host_env_overrides_only_documented_settings(env_example):
    for path in files("deploy/systemd/*.env"):
        assert set(read_env_file(path)) <= set(env_example), path


@pytest.mark.parametrize("template", sorted(p.name for p in (REPO / "nginx").glob("*.template")))
def test_derived_template_variables_are_set_by_every_renderer(template, env_example):
    derived = set(TEMPLATE_READ.findall((REPO / "nginx" / template).read_text())) - set(env_example)
    assert derived <= TEMPLATE_DERIVED, f"{template} reads undocumented {sorted(derived - TEMPLATE_DERIVED)}"
    renderers = [path for path in files("deploy/**/*") if kind(path) == "shell" and template in path.read_text()]
    for renderer in renderers:
        unset = derived - shell_assigned(shell_code(renderer))
        assert not unset, f"{renderer.relative_to(REPO)} renders {template} without setting {sorted(unset)}"
    if template == "app.conf.template":
        nginx_env = load_compose(read_env_file(REPO / ".env.example"))["services"]["nginx"]["environment"]
        assert derived <= set(nginx_env), f"compose's nginx lacks {sorted(derived - set(nginx_env))}"


def test_the_scanner_notices_a_new_read(tmp_path):
    """The contract above can fail: each kind of reader is detected."""
    samples = {
        "src/app/settings.py": 'X = env.integer("NEW_PY_KNOB", 3)\nY = os.environ.get("NEW_OS_KNOB")\n',
        "deploy/bin/tool": "#!/usr/bin/env bash\nsource lib/common.sh\nlocal_var=1\nOWN=1\n"
        'echo "${NEW_SH_KNOB:-1} $UNSET_SH_KNOB $OWN $APP_ROOT $local_var"\n',
        "deploy/systemd/app-x.service": "[Service]\nExecStart=/bin/x $NEW_UNIT_KNOB\n",
        "nginx/x.conf.template": "listen ${NEW_NGINX_KNOB};\nreturn $host;\n",
    }
    for relative, text in samples.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "deploy/lib").mkdir()
    (tmp_path / "deploy/lib/common.sh").write_text("APP_ROOT=${APP_ROOT:-/x}\n")
    (tmp_path / "docker-compose.prod.yml").write_text("services:\n  a:\n    image: ${NEW_COMPOSE_KNOB}\n")
    found = set(project_reads(tmp_path))
    expected = {"NEW_PY_KNOB", "NEW_OS_KNOB", "NEW_SH_KNOB", "UNSET_SH_KNOB", "NEW_UNIT_KNOB", "NEW_NGINX_KNOB"}
    assert expected | {"NEW_COMPOSE_KNOB", "APP_ROOT"} == found


def test_a_setting_missing_from_the_env_file_stops_a_script_in_one_line(tmp_path):
    """Scripts keep no second default for what .env.example sets (require_settings)."""
    env_file = tmp_path / "app.env"
    env_file.write_text("NGINX_TASKS_RATE=20r/s\n")
    script = f"source {REPO}/deploy/lib/common.sh && require_settings NGINX_TASKS_RATE NGINX_TASKS_BURST"
    result = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", "ENV_FILE": str(env_file)},
                            capture_output=True, text=True, timeout=10)  # fmt: skip
    assert result.returncode == 1
    expected = f"NGINX_TASKS_BURST is not set: copy its line from .env.example into {env_file}"
    assert result.stderr.strip() == f"bash: error: {expected}"


def test_the_configuration_reference_lists_every_setting_with_its_default(env_example):
    """docs/configuration.md is checked against .env.example: same variables, same defaults."""
    rows = re.findall(r"^\| `([A-Z_][A-Z0-9_]*)` \| (.*?) \|", (REPO / "docs/configuration.md").read_text(), re.M)
    documented = dict(rows)
    assert sorted(documented) == sorted(env_example), "docs/configuration.md and .env.example list other variables"
    for name, value in env_example.items():
        expected = "random (generated)" if value.startswith("change-me") else (f"`{value}`" if value else "(empty)")
        assert documented[name] == expected, f"{name}: docs say {documented[name]}, .env.example says {value!r}"


def load_with_common_sh(path: Path) -> subprocess.CompletedProcess:
    """load_env_file (deploy/lib/env-file.sh, sourced by common.sh), the project's one reader of env files."""
    # common.sh's own defaults (RUN_DIR, ...) are unset first: they would win over the file.
    script = f"""source {REPO}/deploy/lib/common.sh
        unset $(grep -o '^[A-Za-z_][A-Za-z0-9_]*=' "$1" | tr -d =)
        load_env_file "$1" && env"""
    environment = {"PATH": "/usr/bin:/bin", "ENV_FILE": "/dev/null"}
    command = ["bash", "-c", script, "-", str(path)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=30)


def test_env_files_use_the_subset_every_reader_parses_alike():
    """.env is read by deploy/lib/common.sh (every script, which hands it to Django), systemd
    (EnvironmentFile=) and compose (env_file): the shipped files load, value for value."""
    for path in (REPO / ".env.example", REPO / "deploy/systemd/host.env", REPO / "tests/test.env",
                 REPO / "bench/bench.env"):  # fmt: skip
        result = load_with_common_sh(path)
        assert result.returncode == 0, result.stderr
        loaded = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        for key, value in read_env_file(path).items():
            assert loaded[key] == value, f"{path.name}: {key}"


DISPUTED_LINES = ['PASSWORD="secret"', "PASSWORD=a b", "PASSWORD=x$HOME", "PASSWORD=a#b", "PASS WORD=x"]


@pytest.mark.parametrize("line", DISPUTED_LINES)
def test_a_line_the_readers_would_disagree_on_is_refused_with_its_line_number(tmp_path, line):
    env_file = tmp_path / "app.env"
    env_file.write_text(f"# a comment\nDJANGO_DEBUG=false\n{line}\n")
    result = load_with_common_sh(env_file)
    assert result.returncode != 0
    assert f"{env_file}:3:" in result.stderr, result.stderr
