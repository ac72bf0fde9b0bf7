"""End to end, run as a child process with the variant's environment (so Celery and Django
read that variant's settings): submit N no-op tasks, wait until all N are done, print JSON.

"Done" is the same for every variant: the worker's task_postrun time, appended to
BENCH_DONE_FILE by bench/done (after the result row is written, when there is one). The
bench polls that file: no query or event consumer of its own takes CPU from the stack.

    python -m bench.e2e N [publishing threads] [rounds]
"""

import json
import os
import statistics
import sys
import threading
import time

import django

from . import cpu

POLL_SECONDS = 0.1
# Set (by bench/table_growth.py) to measure against a full results table: the rounds then
# keep the rows already there instead of starting from an empty table.
KEEP_RESULTS = os.environ.get("BENCH_E2E_KEEP_RESULTS") == "1"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class DoneFile:
    """{task_id: the worker's done time} from BENCH_DONE_FILE, read on from where it was left."""

    def __init__(self, path):
        self.path, self.offset, self.times, self.partial = path, 0, {}, ""

    def read(self):
        try:
            with open(self.path) as done:
                done.seek(self.offset)
                chunk = done.read()
                self.offset = done.tell()
        except FileNotFoundError:
            return self.times
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()  # a line still being written
        for line in lines:
            task_id, at = line.split()
            self.times.setdefault(task_id, float(at))  # a redelivered task: its first finish
        return self.times


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


def run(n, threads, rounds):
    django.setup()
    from django.db import connection

    from config.celery import app
    from workflow.tasks import create_task

    wait_for(lambda: app.control.ping(timeout=0.5), 90, "a worker to answer a ping")
    cursor = connection.cursor()
    done = DoneFile(os.environ["BENCH_DONE_FILE"])

    def finished(ids):
        return ids.keys() <= done.read().keys()

    def done_times(ids):
        times = done.read()
        return {i: times[i] for i in ids}

    # Warm-up: every pool process imports, connects and caches before the clock starts.
    warm = submit(create_task, 200, threads)
    wait_for(lambda: finished(warm), 60, "the warm-up tasks")

    def measured_round():
        if not KEEP_RESULTS:
            cursor.execute("TRUNCATE django_celery_results_taskresult")
        before = cpu.snapshot()
        submitted = submit(create_task, n, threads)
        wait_for(lambda: finished(submitted), max(60, n / 20), f"{n} tasks to finish")
        # This round alone (no warm-up), both stacks: the idle one adds its background.
        cpu_ms_per_task = cpu.ms_per_item(before, cpu.snapshot(), n)
        done = done_times(submitted)
        first_submit, last_submit = min(submitted.values()), max(submitted.values())
        latencies_ms = [(done[i] - submitted[i]) * 1000 for i in submitted]
        return {
            "tasks": n,
            "seconds": round(max(done.values()) - first_submit, 3),
            "tasks_per_s": round(n / (max(done.values()) - first_submit), 1),
            "submitted_per_s": round(n / max(last_submit - first_submit, 1e-6), 1),
            "latency_p50_ms": round(percentile(latencies_ms, 0.50), 1),
            "latency_p99_ms": round(percentile(latencies_ms, 0.99), 1),
            "latency_mean_ms": round(statistics.fmean(latencies_ms), 1),
            "cpu_ms_per_task": cpu_ms_per_task,
        }

    # Rounds, and the median one reported: this shared machine has slow moments of seconds.
    results = sorted((measured_round() for _ in range(rounds)), key=lambda result: result["tasks_per_s"])
    median = results[len(results) // 2]
    return {**median, "rounds_tasks_per_s": [result["tasks_per_s"] for result in results]}


if __name__ == "__main__":
    count = int(sys.argv[1])
    publishers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    print(json.dumps(run(count, publishers, rounds)))
