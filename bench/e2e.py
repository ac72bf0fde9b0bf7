"""End to end, run as a child process with the variant's environment (so Celery and Django
read that variant's settings): submit N no-op tasks, wait until all N are done, print JSON.

"Done" is a SUCCESS row in django_celery_results_taskresult (its date_done, written by the
worker) or, when results are ignored, the worker's task-succeeded event (its timestamp).
The event listener runs in every variant so each pays the same for it.

    python -m bench.e2e N [publishing threads]
"""

import json
import os
import statistics
import sys
import threading
import time

import django

POLL_SECONDS = 0.1
SUCCESS_ROWS = "FROM django_celery_results_taskresult WHERE task_id = ANY(%s) AND status = 'SUCCESS'"
# While waiting: a count over the (truncated) table, cheap enough to poll without taking
# CPU from the stack; a lookup of thousands of ids per poll cost PostgreSQL and the bench
# several percent of the 2 cores. The exact per-id query runs once this count is reached.
ALL_SUCCESS_ROWS = "SELECT count(*) FROM django_celery_results_taskresult WHERE status = 'SUCCESS'"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class SucceededEvents:
    """Collects task-succeeded events (uuid -> worker timestamp) on a background thread."""

    def __init__(self, app):
        self.app = app
        self.done = {}
        self.ready = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()
        if not self.ready.wait(30):
            raise RuntimeError("the event listener did not start")

    def _listen(self):
        events = self

        class Receiver(self.app.events.Receiver):
            def on_consume_ready(self, *args, **kwargs):
                events.ready.set()

            def event_from_message(self, body, localize=False, **kwargs):
                # The worker's own time.time(): the same clock as the submit times here.
                return super().event_from_message(body, localize=False, **kwargs)

        def on_succeeded(event):
            self.done[event["uuid"]] = event["timestamp"]

        with self.app.connection_for_read() as connection:
            # Task events only (the worker batches them under task.multi), not worker heartbeats.
            receiver = Receiver(connection, handlers={"task-succeeded": on_succeeded}, routing_key="task.#")
            receiver.capture(limit=None, timeout=None, wakeup=False)


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


def run(n, threads):
    django.setup()
    from django.conf import settings
    from django.db import connection

    from config.celery import app
    from workflow.tasks import create_task

    ignored = settings.CELERY_TASK_IGNORE_RESULT
    wait_for(lambda: app.control.ping(timeout=0.5), 90, "a worker to answer a ping")
    events = SucceededEvents(app)
    cursor = connection.cursor()

    def finished(ids):
        if ignored:
            return len(ids.keys() & events.done.keys()) == len(ids)
        return stored_count(cursor, ids) == len(ids)

    # Warm-up: every pool process imports, connects and caches before the clock starts.
    warm = submit(create_task, 200, threads)
    wait_for(lambda: finished(warm), 60, "the warm-up tasks")
    cursor.execute("TRUNCATE django_celery_results_taskresult")

    submitted = submit(create_task, n, threads)
    wait_for(lambda: finished(submitted), max(60, n / 20), f"{n} tasks to finish")
    done = {i: events.done[i] for i in submitted} if ignored else stored_done_times(cursor, submitted.keys())
    first_submit, last_submit = min(submitted.values()), max(submitted.values())
    latencies_ms = [(done[i] - submitted[i]) * 1000 for i in submitted]
    return {
        "tasks": n,
        "done_by": "task-succeeded events" if ignored else "SUCCESS rows",
        "seconds": round(max(done.values()) - first_submit, 3),
        "tasks_per_s": round(n / (max(done.values()) - first_submit), 1),
        "submitted_per_s": round(n / max(last_submit - first_submit, 1e-6), 1),
        "latency_p50_ms": round(percentile(latencies_ms, 0.50), 1),
        "latency_p99_ms": round(percentile(latencies_ms, 0.99), 1),
        "latency_mean_ms": round(statistics.fmean(latencies_ms), 1),
    }


if __name__ == "__main__":
    count = int(sys.argv[1])
    publishers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    print(json.dumps(run(count, publishers)))
    sys.stdout.flush()
    os._exit(0)  # the listener thread blocks in a socket read; nothing left to flush
