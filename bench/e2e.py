"""End to end, run as a child process with the variant's environment (so Celery and Django
read that variant's settings): submit N no-op tasks, wait until all N are done, print JSON.

"Done" is a SUCCESS row in django_celery_results_taskresult (its date_done, written by the
worker) or, when results are ignored, the task's succeeded time in Flower (the worker's
task-succeeded event, which Flower collects in every variant anyway). The bench adds no
event consumer of its own: it would take CPU from the stack it measures.

    python -m bench.e2e N [publishing threads] [rounds]
"""

import base64
import json
import os
import statistics
import sys
import threading
import time
import urllib.request

import django
from kombu import Connection

from .stack import QUEUE

POLL_SECONDS = 0.1
SUCCESS_ROWS = "FROM django_celery_results_taskresult WHERE task_id = ANY(%s) AND status = 'SUCCESS'"
# While waiting: a count over the (truncated) table, cheap enough to poll without taking
# CPU from the stack; a lookup of thousands of ids per poll cost PostgreSQL and the bench
# several percent of the 2 cores. The exact per-id query runs once this count is reached.
ALL_SUCCESS_ROWS = "SELECT count(*) FROM django_celery_results_taskresult WHERE status = 'SUCCESS'"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class FlowerTasks:
    """Succeeded times (uuid -> the worker's timestamp) from Flower's API, on loopback."""

    def __init__(self):
        port = os.environ.get("FLOWER_PORT", "5555")
        self.url = f"http://127.0.0.1:{port}/flower/api/tasks?state=SUCCESS"
        credentials = f"{os.environ['FLOWER_USER']}:{os.environ['FLOWER_PASSWORD']}".encode()
        self.headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}

    def succeeded(self):
        request = urllib.request.Request(self.url, headers=self.headers)  # noqa: S310 (fixed http URL)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return {uuid: task["succeeded"] for uuid, task in json.load(response).items()}


class QueueDepth:
    """Messages waiting in the task queue (a passive declare: one broker round trip)."""

    def __init__(self, broker_url):
        self.channel = Connection(broker_url).default_channel

    def ready(self):
        return self.channel.queue_declare(QUEUE, passive=True).message_count


def submit(task, n, threads):
    """Publish n tasks from `threads` threads; returns {task_id: submit time}."""
    submitted = {}

    def publish(count):
        for _ in range(count):
            started = time.time()
            submitted[task.apply_async((0,)).id] = started

    workers = [threading.Thread(target=publish, args=(n // threads + (i < n % threads),)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return submitted


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"e2e: timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(POLL_SECONDS)


def stored_done_times(cursor, ids):
    """{task_id: date_done} of those of ids that have a SUCCESS row."""
    cursor.execute(f"SELECT task_id, date_done {SUCCESS_ROWS}", [list(ids)])
    return {task_id: done.timestamp() for task_id, done in cursor.fetchall()}


def stored_count(cursor, ids):
    cursor.execute(ALL_SUCCESS_ROWS)
    if cursor.fetchone()[0] < len(ids):
        return 0  # not all there yet (other rows, e.g. beat's, may be among those counted)
    cursor.execute(f"SELECT count(*) {SUCCESS_ROWS}", [list(ids)])
    return cursor.fetchone()[0]


def run(n, threads, rounds):
    django.setup()
    from django.conf import settings
    from django.db import connection

    from config.celery import app
    from workflow.tasks import create_task

    ignored = settings.CELERY_TASK_IGNORE_RESULT
    if ignored and not settings.CELERY_WORKER_SEND_TASK_EVENTS:
        raise SystemExit("e2e: with results ignored, only task events (in Flower) tell when tasks are done")
    wait_for(lambda: app.control.ping(timeout=0.5), 90, "a worker to answer a ping")
    cursor = connection.cursor()
    flower, queue = FlowerTasks(), QueueDepth(settings.CELERY_BROKER_URL)

    def finished(ids):
        if ignored:
            # Flower is asked only once the queue is empty (a few tasks at most still running).
            return queue.ready() == 0 and ids.keys() <= flower.succeeded().keys()
        return stored_count(cursor, ids) == len(ids)

    def done_times(ids):
        if ignored:
            succeeded = flower.succeeded()
            return {i: succeeded[i] for i in ids}
        return stored_done_times(cursor, ids)

    # Warm-up: every pool process imports, connects and caches before the clock starts.
    warm = submit(create_task, 200, threads)
    wait_for(lambda: finished(warm), 60, "the warm-up tasks")

    def measured_round():
        cursor.execute("TRUNCATE django_celery_results_taskresult")
        submitted = submit(create_task, n, threads)
        wait_for(lambda: finished(submitted), max(60, n / 20), f"{n} tasks to finish")
        done = done_times(submitted)
        first_submit, last_submit = min(submitted.values()), max(submitted.values())
        latencies_ms = [(done[i] - submitted[i]) * 1000 for i in submitted]
        return {
            "tasks": n,
            "done_by": "task-succeeded (Flower)" if ignored else "SUCCESS rows",
            "seconds": round(max(done.values()) - first_submit, 3),
            "tasks_per_s": round(n / (max(done.values()) - first_submit), 1),
            "submitted_per_s": round(n / max(last_submit - first_submit, 1e-6), 1),
            "latency_p50_ms": round(percentile(latencies_ms, 0.50), 1),
            "latency_p99_ms": round(percentile(latencies_ms, 0.99), 1),
            "latency_mean_ms": round(statistics.fmean(latencies_ms), 1),
        }

    # Rounds, and the median one reported: this shared machine has slow moments of seconds.
    results = sorted((measured_round() for _ in range(rounds)), key=lambda result: result["tasks_per_s"])
    median = results[len(results) // 2]
    return {**median, "rounds_tasks_per_s": [result["tasks_per_s"] for result in results]}


if __name__ == "__main__":
    count = int(sys.argv[1])
    publishers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    print(json.dumps(run(count, publishers, rounds)))
