"""JSON answers shared by the API views: errors, method checks, and safe enqueueing."""

import functools
import logging

from django.http import JsonResponse

from taskqueue.publishing import PUBLISH_ERRORS, UnconfirmedPublish

log = logging.getLogger(__name__)


def json_error(status: int, message: str, fields=None, **headers) -> JsonResponse:
    """{"error": message} and any other fields; headers by keyword (Retry_After=...)."""
    response = JsonResponse({"error": message, **(fields or {})}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def json_only_methods(*methods):
    """Like require_http_methods, but the 405 answer is JSON, as the rest of the API."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return json_error(405, f"method {request.method} not allowed", Allow=", ".join(methods))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def enqueue_or_503(publish, status_url) -> JsonResponse:
    """Publish a task (publish() returns its id); 202 only once RabbitMQ confirmed it, with the
    task's status URL (status_url(task_id)) in Location, a clear 503 when it could not."""
    try:
        task_id = publish()
    except UnconfirmedPublish as error:
        # Not "nothing was enqueued": RabbitMQ may hold the task and run it later (seen after a
        # memory alarm cleared). Its id lets the client look before it sends the task again.
        log.warning("task %s sent but not confirmed: %s", error.task_id, type(error.__cause__).__name__)
        return json_error(
            503,
            "task queue did not confirm the task; it may still run: check its status before retrying",
            {"task_id": error.task_id},
            Retry_After="5",
        )
    except PUBLISH_ERRORS as error:
        log.warning("task not accepted, broker unavailable: %s", type(error).__name__)
        return json_error(503, "task queue unavailable, nothing was enqueued; retry later", Retry_After="5")
    # Location: the status monitor a 202 points to (RFC 9110, 15.3.3). nginx's access line
    # logs it beside the request id (docs/operations.md, request tracing): that line ties the
    # request to its task, so the web writes none of its own. A line per task through the
    # process's log pipe cost about 5% of a POST's CPU (docs/performance.md).
    response = JsonResponse({"task_id": task_id}, status=202)
    response["Location"] = status_url(task_id)
    return response
