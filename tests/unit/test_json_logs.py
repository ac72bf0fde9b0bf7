"""LOG_FORMAT (config/logs.py): with json, Django's, Celery's and gunicorn's log lines are JSON
objects carrying the request id; with plain (the default) they are the lines of before; any
other value stops start-up in one line.

Each case runs in a fresh interpreter started with the LOG_FORMAT under test, as a process
of the stack starts: logging is configured once per process, by Django, Celery or gunicorn."""

import json
import os
import re
import subprocess
import sys

import pytest

from config import env
from tests.support.stack import ROOT

REQUEST_ID = "unit-json-0001"
TASK_ID = "0b7f3c55-unit-json-task"

# A request through the tracing middleware logs a line, as the web's views do.
DJANGO_LINE = f"""
import logging
from types import SimpleNamespace

import django

django.setup()
from django.utils.log import log_response

from config.tracing import RequestIdMiddleware


def view(request):
    logging.getLogger("api.responses").info("task %s enqueued", "t-1")
    return SimpleNamespace(status_code=400)


logging.getLogger("api.responses").info("outside any request")
request = SimpleNamespace(META={{"HTTP_X_REQUEST_ID": "{REQUEST_ID}"}})
response = RequestIdMiddleware(view)(request)
# Django's handler logs a 4xx answer once the middleware has returned (django.request).
log_response("Bad Request: %s", "/tasks/", response=response, request=request)
"""

# Logging set up as the worker sets it up (app.log.setup: Celery's handlers, then the
# after_setup_* signals of config/celery.py), then a task of a request runs and logs.
CELERY_TASK_LINE = f"""
import logging

import django

django.setup()
from celery._state import _task_stack
from celery.signals import task_postrun, task_prerun
from celery.utils.log import get_task_logger

from config.celery import app
from workflow.tasks import create_task as task

app.log.setup(logging.INFO)
task.push_request(id="{TASK_ID}", request_id="{REQUEST_ID}")
_task_stack.push(task)
task_prerun.send(sender=task, task_id="{TASK_ID}", task=task, args=(), kwargs={{}})
get_task_logger("workflow.tasks").info("sleeping %s s", 0)
task_postrun.send(sender=task, task_id="{TASK_ID}", task=task, args=(), kwargs={{}})
_task_stack.pop()
task.pop_request()
"""

# gunicorn's master and workers log through the logger class config.gunicorn names.
GUNICORN_LINE = """
from gunicorn.config import Config
from gunicorn.glogging import Logger

import config.gunicorn

cfg = Config()
for name in ("errorlog", "loglevel"):
    cfg.set(name, getattr(config.gunicorn, name))
logger_class = getattr(config.gunicorn, "logger_class", Logger)
logger_class(cfg).info("Booting worker with pid: %s", 42)
"""


def environment(log_format):
    """The test run's environment with production's settings and LOG_FORMAT=log_format
    (None: unset)."""
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT / "src"),
        "ENV_FILE": "/nonexistent",
        "GUNICORN_BIND": "unix:/tmp/unit.sock",
    }
    environ.pop("LOG_FORMAT", None)
    return environ if log_format is None else {**environ, "LOG_FORMAT": log_format}


def run(code, log_format):
    """The lines a fresh interpreter running code writes (stdout, then stderr)."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "src", env=environment(log_format), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return (result.stdout + result.stderr).splitlines()


def json_lines(lines):
    """Every line parsed; fails on the first one that is not a JSON object."""
    objects = [json.loads(line) for line in lines]
    assert all(isinstance(obj, dict) for obj in objects), lines
    return objects


def assert_common_fields(line):
    assert {"time", "level", "logger", "message"} <= line.keys(), line
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"]), line


def test_django_lines_are_json_with_the_request_id():
    outside, inside, answer = json_lines(run(DJANGO_LINE, "json"))
    for line in (outside, inside, answer):
        assert_common_fields(line)
    assert outside["level"] == inside["level"] == "INFO"
    assert outside["logger"] == inside["logger"] == "api.responses"
    assert inside["message"] == "task t-1 enqueued"
    assert inside["request_id"] == REQUEST_ID
    assert "request_id" not in outside  # no "-" field outside a request
    assert answer["logger"] == "django.request" and answer["level"] == "WARNING"
    assert answer["message"] == "Bad Request: /tasks/"
    assert answer["request_id"] == REQUEST_ID  # from the request Django logs it with


def test_celery_task_lines_are_json_with_the_request_and_task_ids():
    lines = json_lines(run(CELERY_TASK_LINE, "json"))
    [task_line] = [line for line in lines if line["logger"] == "workflow.tasks"]
    assert_common_fields(task_line)
    assert task_line["message"] == "sleeping 0 s"
    assert task_line["level"] == "INFO"
    assert task_line["request_id"] == REQUEST_ID
    assert task_line["task_id"] == TASK_ID
    assert task_line["task_name"] == "workflow.tasks.create_task"


def test_gunicorn_lines_are_json():
    [line] = json_lines(run(GUNICORN_LINE, "json"))
    assert_common_fields(line)
    assert line["logger"] == "gunicorn.error"
    assert line["message"] == "Booting worker with pid: 42"


def test_nginx_json_access_lines_are_json_objects_with_the_request_id():
    """nginx fills in log_format app_json (JSON-escaped strings; numbers where it always
    writes one): each variable stands for a value here, quoted or not as in the template."""
    template = (ROOT / "nginx" / "app.conf.template").read_text()
    strings = re.search(r"log_format app_json escape=json\s+((?:'[^']*'\s*)+);", template).group(1)
    line_format = "".join(re.findall(r"'([^']*)'", strings))
    line = json.loads(re.sub(r"\$\w+", "1", line_format))
    assert {"time", "level", "logger", "message", "request_id", "status"} <= line.keys()
    assert '"request_id":"$app_request_id"' in line_format  # the id traced to the web and the tasks
    assert "access_log ${NGINX_ACCESS_LOG} ${NGINX_LOG_FORMAT} buffer=64k flush=1s;" in template


def test_gunicorns_master_imports_no_app_code_for_json():
    """The workers it forks, after a reload too, keep what the master imported (config/__init__.py)."""
    apps = ("api", "ops", "signups", "taskqueue", "workflow", "celery", "django")
    loaded = f"import sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {apps}))"
    assert run(f"{GUNICORN_LINE}\n{loaded}", "json")[0] == "[]"


@pytest.mark.parametrize("log_format", [None, "plain"])
def test_plain_lines_are_unchanged(log_format):
    time = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    outside, inside, answer = run(DJANGO_LINE, log_format)
    assert re.fullmatch(rf"{time} INFO api\.responses \[-\] outside any request", outside), outside
    assert re.fullmatch(rf"{time} INFO api\.responses \[{REQUEST_ID}\] task t-1 enqueued", inside), inside
    assert re.fullmatch(rf"{time} WARNING django\.request \[-\] Bad Request: /tasks/", answer), answer
    [task_line] = [line for line in run(CELERY_TASK_LINE, log_format) if "sleeping" in line]
    expected = rf"\[{time}: INFO/MainProcess\] \[{REQUEST_ID}\] workflow\.tasks\.create_task\[{TASK_ID}\]: sleeping 0 s"
    assert re.fullmatch(expected, task_line), task_line
    [gunicorn_line] = run(GUNICORN_LINE, log_format)
    expected = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] Booting worker with pid: 42"
    assert re.fullmatch(expected, gunicorn_line), gunicorn_line


@pytest.mark.parametrize("command", [["src/manage.py", "check"], ["-c", "import config.gunicorn"]])
def test_another_log_format_stops_start_up_in_one_line(command):
    result = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=environment("xml"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == env.EX_CONFIG
    assert result.stderr.strip() == "configuration error: LOG_FORMAT='xml': use plain or json"
