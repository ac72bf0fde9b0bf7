from celery.result import AsyncResult
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from api.responses import enqueue_or_503, json_error, json_only_methods
from taskqueue.publishing import publish

from .inputs import BadRequest, checked_task_id, task_type_from
from .tasks import create_task


@require_GET
def home(request):
    return render(request, "workflow/home.html")


@csrf_exempt  # a JSON/form API for scripts (curl -F type=1) as in the seeds; nginx rate-limits it
@json_only_methods("POST")
def run_task(request):
    try:
        task_type = task_type_from(request)
    except BadRequest as error:
        return json_error(400, str(error))
    return enqueue_or_503(lambda: publish(create_task, (task_type,)), status_url)


def status_url(task_id):
    return reverse("get_status", args=[task_id])


@json_only_methods("GET")
def get_status(request, task_id):
    try:
        task_id = checked_task_id(task_id)
    except BadRequest as error:
        return json_error(400, str(error))
    task = AsyncResult(task_id)
    # Status first: a final state is cached, so the result read next belongs to it (read the
    # other way round, a task finishing in between would show SUCCESS with no result).
    status = task.status
    result = task.result
    if isinstance(result, BaseException):
        # A failed task's result is its exception: show its type and message, not a trace.
        result = f"{type(result).__name__}: {result}"
    return JsonResponse({"task_id": task_id, "task_status": status, "task_result": result})
