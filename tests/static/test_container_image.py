"""The Dockerfile and its build context, checked without building (no Docker engine here)."""

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from container_model import REPO

DOCKERFILE = REPO / "Dockerfile"
EXACT_TAG = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$")  # e.g. python:3.11.14-slim-bookworm


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def stages() -> dict[str, list[tuple[str, str]]]:
    result, current = {}, None
    for keyword, args in instructions():
        if keyword == "FROM":
            current = args.split()[-1]
            result[current] = []
        result[current].append((keyword, args))
    return result


def dockerignore_sends(path: str) -> bool:
    """Whether .dockerignore lets PATH into the build context (last matching pattern wins;
    a pattern matching a parent folder matches everything in it, as Docker's matcher does)."""
    sent = True
    parents = [str(Path(path).parents[i]) for i in range(len(Path(path).parts) - 1)]
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in [path, *parents]):
            sent = negated
    return sent


def test_hadolint_passes_with_no_ignored_rule(tmp_path):
    hadolint = shutil.which("hadolint") or str(REPO / ".venv" / "bin" / "hadolint")
    # An empty configuration: no rule ignored, whatever a user or repository config says.
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")
    result = subprocess.run(
        [hadolint, "--config", str(config), "--failure-threshold", "info", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not re.search(r"hadolint\s+ignore", DOCKERFILE.read_text()), "no inline ignore pragmas either"


def test_base_images_pinned_to_exact_versions():
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        assert EXACT_TAG.match(base), f"{base} is not pinned to an exact version"
    assert any(base.startswith("python:3.11.") and base.endswith("-slim-bookworm") for base in bases)


def test_runtime_is_the_default_target_and_runs_unprivileged():
    runtime_name, runtime = list(stages().items())[-1]
    assert runtime_name == "app", "the last stage (docker build's default) must be the app image"
    assert ("USER", "10001:10001") in runtime
    body = " ".join(args for _, args in runtime)
    assert "--uid 10001" in body
    # No compiler, pip cache or wheels reach the runtime: it only copies the built venv.
    assert not any(word in body for word in ("apt-get", "build-essential", "gcc", "pip install", "/wheels"))


def test_runtime_environment_matches_deploy_scripts():
    env = " ".join(args for keyword, args in stages()["app"] if keyword == "ENV")
    for setting in ("APP_ROOT=/app", "VENV_DIR=/opt/venv", "DJANGO_STATIC_ROOT=/app/static", "PATH=/opt/venv/bin:"):
        assert setting in env
    # Secrets never live in image metadata.
    assert not re.search(r"(SECRET|PASSWORD|DATABASE_URL|BROKER_URL)", env)


def test_build_time_collectstatic_uses_inline_throwaway_values():
    runs = [args for keyword, args in instructions() if keyword == "RUN" and "collectstatic" in args]
    assert len(runs) == 1
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"):
        value = re.search(rf"{name}=(\S+)", runs[0])
        assert value, f"{name} must be given inline to collectstatic"
        # Settings refuse placeholders (config/env.py), so change-me values would fail the build.
        assert not value.group(1).startswith("change-me")
    env_lines = " ".join(args for keyword, args in instructions() if keyword in {"ENV", "ARG"})
    assert "DJANGO_SECRET_KEY" not in env_lines


def test_start_commands_are_exec_form_deploy_scripts():
    runtime = stages()["app"]
    cmd = [args for keyword, args in runtime if keyword == "CMD"]
    assert cmd == ['["/app/deploy/bin/web"]']
    healthcheck = " ".join(args for keyword, args in runtime if keyword == "HEALTHCHECK")
    assert 'CMD ["/app/deploy/bin/probe-web"]' in healthcheck
    for keyword, args in runtime:
        if keyword in {"CMD", "ENTRYPOINT"}:
            assert args.startswith("["), f"{keyword} must be exec form"


def test_every_copied_file_exists_and_is_sent_by_dockerignore():
    sources = []
    for keyword, args in instructions():
        if keyword == "COPY" and "--from=" not in args:
            words = [word for word in args.split() if not word.startswith("--")]
            sources.extend(words[:-1])
    assert sources
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: no such file"
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        for file in files:
            relative = str(file.relative_to(REPO))
            assert dockerignore_sends(relative), f"{relative} is copied but .dockerignore drops it"


@pytest.mark.parametrize(
    "path",
    [".env", ".git/HEAD", ".venv/bin/python", ".run/state/celerybeat-schedule", "tests/conftest.py",
     "bench/run", "src/config/__pycache__/settings.cpython-311.pyc", ".pytest_cache/v/x", "README.md",
     "requirements/dev.lock"],
)  # fmt: skip
def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context(path):
    assert not dockerignore_sends(path)
