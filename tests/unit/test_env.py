"""Configuration from the environment: required values, placeholders, types."""

import os
import subprocess
import sys

import pytest

from bench.variants import ALL
from config import env
from tests.support.env_file import read_env_file
from tests.support.stack import ROOT


def test_required_refuses_a_missing_value(monkeypatch, capsys):
    monkeypatch.delenv("SOME_SECRET", raising=False)
    with pytest.raises(env.ConfigError) as error:
        env.required("SOME_SECRET")
    assert error.value.code == env.EX_CONFIG
    assert "SOME_SECRET is not set" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["change-me-django-secret-key", "postgres://app:change-me-db-password@127.0.0.1/app"])
def test_required_refuses_placeholders(monkeypatch, value):
    monkeypatch.setenv("SOME_SECRET", value)
    with pytest.raises(env.ConfigError):
        env.required("SOME_SECRET")


def test_empty_value_means_default(monkeypatch):
    monkeypatch.setenv("SOME_SETTING", "")
    assert env.string("SOME_SETTING", "fallback") == "fallback"
    assert env.integer("SOME_SETTING", 7) == 7
    assert env.boolean("SOME_SETTING", True) is True


@pytest.mark.parametrize("raw,expected", [("true", True), ("0", False), ("Yes", True), ("off", False)])
def test_boolean_words(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env.boolean("SOME_FLAG", not expected) is expected


def test_garbage_boolean_and_integer_are_refused(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(env.ConfigError):
        env.boolean("SOME_FLAG", False)
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(env.ConfigError):
        env.integer("SOME_NUMBER", 1)


BENCH = {"DJANGO_SETTINGS_MODULE": "bench.settings"}


def run_manage_check(**overrides):
    environment = {**os.environ, **overrides, "ENV_FILE": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "src/manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is not set"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}, "must be amqp:// URLs"),
        ({"CELERY_BROKER_URL": "amqp://a@h1/v;redis://h2/0"}, "must be amqp:// URLs"),
        ({"DJANGO_SECRET_KEY": "change-me-django-secret-key"}, "placeholder"),
        ({**BENCH, "CELERY_QUEUE_TYPE": "qourum"}, "use classic or quorum"),
        ({"WORKER_STOP_SECONDS": "90", "CELERY_TASK_TIME_LIMIT": "90"}, "must be above CELERY_TASK_TIME_LIMIT"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL=verbose: use debug, info, warning, error or critical"),
        # An env file of a release whose queue was the classic "celery".
        ({"CELERY_WORKER_QUEUES": "celery"}, "CELERY_WORKER_QUEUES names celery, not a queue of this release"),
        # The bench's knob (bench/settings.py): production has no transient queue at all.
        ({**BENCH, "CELERY_QUEUE_TYPE": "quorum", "CELERY_QUEUE_DURABLE": "false"}, "quorum queues are durable"),
    ],
)
def test_start_up_refuses_with_one_line(overrides, message):
    result = run_manage_check(**overrides)
    assert result.returncode == env.EX_CONFIG
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("variant", ALL, ids=lambda variant: variant.key)
def test_every_bench_variant_starts(variant):
    """Each variant's knobs over bench/bench.env's (production's quorum queue), as bench/run
    gives them, make settings that start: a full bench run stopped at the transient variant
    once a stale .env no longer supplied the classic type it needs."""
    knobs = read_env_file(ROOT / "bench" / "bench.env")
    result = run_manage_check(**{**BENCH, **knobs, **variant.env, "BENCH_DONE_FILE": os.devnull})
    assert result.returncode == 0, result.stderr


def test_production_settings_pass_check_deploy():
    result = subprocess.run(
        [sys.executable, "src/manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_HTTPS": "true", "DJANGO_DEBUG": "false"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY=0 must be 1 or more"),
        ({"GUNICORN_THREADS": "four"}, "is not an integer"),
        ({"GUNICORN_WORKER_CLASS": "eventlet"}, "use one of gthread, sync"),
    ],
)
def test_gunicorn_settings_refuse_bad_values_with_one_line(overrides, message):
    result = subprocess.run(
        [sys.executable, "-c", "import config.gunicorn"],
        cwd=ROOT / "src",
        env={**os.environ, "GUNICORN_BIND": "unix:/tmp/web.sock", **overrides, "ENV_FILE": "/nonexistent"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == env.EX_CONFIG
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr
