"""One request traced to its tasks (docs/operations.md): the id nginx gives each request
(X-Request-ID: the client's when well-formed, else nginx's own $request_id) goes into the
Django log lines of that request, into the headers of every task it publishes, and into the
worker's log lines of those tasks. `grep <id>` across the logs then shows the request (nginx's
access log, the web's log) and what its tasks did."""

import contextvars
import logging
import re

from celery.signals import before_task_publish, task_postrun, task_prerun, task_received

NONE = "-"  # the id of log lines outside any request or task
HEADER = "request_id"  # the task message header that carries it
WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{8,128}")  # nginx checks the same before passing it on

current_request_id = contextvars.ContextVar("request_id", default=NONE)
log = logging.getLogger(__name__)


def well_formed(value):
    return value if isinstance(value, str) and WELL_FORMED.fullmatch(value) else NONE


class RequestIdMiddleware:
    """Binds the request's X-Request-ID for its log lines and the tasks it publishes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request_id.set(well_formed(request.META.get("HTTP_X_REQUEST_ID")))
        try:
            return self.get_response(request)
        finally:
            current_request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every log record a request_id (NONE outside a request or task) for the format."""

    def filter(self, record):
        record.request_id = current_request_id.get()
        return True


@before_task_publish.connect
def put_request_id_in_headers(headers=None, **kwargs):
    request_id = current_request_id.get()
    if headers is not None and request_id != NONE:
        headers.setdefault(HEADER, request_id)


@task_received.connect
def log_the_link(request=None, **kwargs):
    """The worker's "received" line is logged before any task context exists: one line
    links the task id to its request id in the worker's main process."""
    request_id = well_formed((request.request_dict or {}).get(HEADER)) if request is not None else NONE
    if request_id != NONE:
        token = current_request_id.set(request_id)
        try:
            log.info("task %s[%s] comes from request %s", request.name, request.id, request_id)
        finally:
            current_request_id.reset(token)


@task_prerun.connect
def bind_the_tasks_request_id(task=None, **kwargs):
    current_request_id.set(well_formed(getattr(task.request, HEADER, None)) if task is not None else NONE)


@task_postrun.connect
def unbind_the_tasks_request_id(**kwargs):
    current_request_id.set(NONE)
