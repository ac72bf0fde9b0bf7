"""make up's choice of flavour (deploy/lib/flavour.sh), with a stand-in docker command."""

import subprocess

import pytest

from tests.support.stack import ROOT

FAKE_DOCKER = """#!/bin/sh
case "$1" in
  info) exit {info} ;;
  compose) [ -n "{compose}" ] || {{ echo "docker: unknown command: docker compose" >&2; exit 125; }}
           echo "{compose}" ;;
esac
"""


def choose(tmp_path, flavour=None, info=0, compose="v2.40.3"):
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER.format(info=info, compose=compose))
    docker.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", **({"FLAVOUR": flavour} if flavour else {})}
    script = f"source {ROOT}/deploy/lib/flavour.sh && choose_flavour"
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=10)
    return result.returncode, result.stdout.strip(), result.stderr.strip()


def test_containers_when_engine_and_compose_answer(tmp_path):
    assert choose(tmp_path) == (0, "containers", "")


def test_native_without_an_engine_says_nothing(tmp_path):
    assert choose(tmp_path, info=1) == (0, "native", "")


@pytest.mark.parametrize(
    ("compose", "missing"),
    [("", "the Docker Compose v2 plugin is not installed"), ("2.19.1", "Docker Compose 2.19.1 is older than 2.20")],
)
def test_engine_without_a_usable_compose_falls_back_in_one_line(tmp_path, compose, missing):
    code, flavour, message = choose(tmp_path, compose=compose)
    assert (code, flavour) == (0, "native")
    assert missing in message and "FLAVOUR=native|containers" in message
    assert len(message.splitlines()) == 1


def test_forced_containers_refuses_in_one_line_what_is_missing(tmp_path):
    code, flavour, message = choose(tmp_path, flavour="containers", compose="")
    assert (code, flavour) == (1, "")
    assert message == (
        "FLAVOUR=containers, but the Docker Compose v2 plugin is not installed (docker compose version failed)"
    )


def test_forced_native_ignores_the_engine(tmp_path):
    assert choose(tmp_path, flavour="native") == (0, "native", "")


def test_unknown_flavour_is_refused(tmp_path):
    assert choose(tmp_path, flavour="kubernetes")[0] == 1
