"""LOG_FORMAT: how every process of the stack writes its log lines.

plain (the default): one readable line, "[request id]" in it (config/settings.py's LOGGING,
CELERY_WORKER_LOG_FORMAT). json: one JSON object per line, for log shippers, with the fields

    time (ISO 8601, UTC), level, logger, message, process (pid)
    request_id      the line belongs to a request, or to a task a request started (tracing.py)
    task_id, task_name      logged inside a Celery task
    exc_info        the traceback, when there is one
    and whatever a caller passed as `extra=`.

Django's LOGGING names this formatter; Celery's worker and beat get it from config/celery.py,
gunicorn from GunicornLogger (config/gunicorn.py). nginx writes the same fields with its
log_format app_json (nginx/app.conf.template).

gunicorn's master imports this module, and the workers it forks keep the master's copy of
whatever it imported, also after a reload (config/__init__.py): so nothing of the app is
imported here, and a change to this file needs a restart of web, not a reload.
"""

import sys
from datetime import UTC, datetime

from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from config import env

FORMATS = ("plain", "json")
# The record's attributes that make the first fields of every line, and their names there.
FIELDS = {
    "asctime": "time",
    "levelname": "level",
    "name": "logger",
    "message": "message",
    "request_id": "request_id",  # set by tracing.RequestIdFilter where the handler has it
    "process": "process",
}


def log_format() -> str:
    """LOG_FORMAT, checked: anything but plain or json stops start-up (exit 78)."""
    value = env.string("LOG_FORMAT", "plain")
    if value not in FORMATS:
        raise env.ConfigError(f"LOG_FORMAT={value!r}: use plain or json")
    return value


class JsonFormatter(BaseJsonFormatter):
    """One log record as one JSON object, with the fields above."""

    def __init__(self):
        renames = {name: field for name, field in FIELDS.items() if name != field}
        super().__init__(list(FIELDS), rename_fields=renames)

    def formatTime(self, record, datefmt=None):
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        request_id = request_id_of(record)
        if request_id is None:  # outside any request: no field rather than "-"
            del log_data["request_id"]
        else:
            log_data["request_id"] = request_id
        task = current_task()
        if task is not None and task.request.id:
            log_data.setdefault("task_id", task.request.id)
            log_data.setdefault("task_name", task.name)


def request_id_of(record):
    """The request id of a line of Django or Celery (config/tracing.py), else None."""
    if not hasattr(record, "request_id") and not hasattr(record, "request"):
        return None  # gunicorn's own lines (its master never imports config.tracing)
    from config.tracing import NONE, well_formed

    request_id = getattr(record, "request_id", NONE)
    if request_id == NONE and hasattr(record, "request"):
        # django.request logs a 4xx answer after the middleware has let go of the id.
        request_id = well_formed(getattr(record.request, "META", {}).get("HTTP_X_REQUEST_ID"))
    return None if request_id == NONE else request_id


def current_task():
    """The Celery task this process runs, found as Celery's own TaskFormatter finds it."""
    state = sys.modules.get("celery._state")  # Celery not loaded: no task either
    return state.get_current_task() if state else None


class GunicornLogger(glogging.Logger):
    """gunicorn's error log, and its access log when enabled, as JSON lines."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())
