"""Micro-benchmark of one result write, in-process against the bench database (no stack):
django-celery-results' own backend (get_or_create: SELECT, then BEGIN, INSERT, COMMIT)
against the project's (one INSERT ... ON CONFLICT DO UPDATE, taskqueue.models). Informs the
"result writes" tuning decision; bench/run does not call it.

    bench/run result-writes [N]
"""

import json
import sys
import time
import uuid

import django


def timed(write, n):
    started = time.perf_counter()
    for _ in range(n):
        write(str(uuid.uuid4()))
    return round((time.perf_counter() - started) / n * 1000, 3)


def main(n):
    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_celery_results.backends.database import DatabaseBackend

    from config.celery import app

    writers = {
        "upstream": DatabaseBackend(app=app),  # django-celery-results as shipped
        "project": app.backend,  # taskqueue.result_backend.RetryingDatabaseBackend
    }
    result = {"writes": n}
    for name, backend in writers.items():
        write = lambda task_id, backend=backend: backend.store_result(task_id, True, "SUCCESS")  # noqa: E731
        timed(write, 50)  # warm-up: connection, statement caches
        with CaptureQueriesContext(connection) as queries:
            write(str(uuid.uuid4()))
        result[f"{name}_ms_per_write"] = timed(write, n)
        result[f"{name}_statements_seen_by_django"] = len(queries.captured_queries)
    connection.cursor().execute("TRUNCATE django_celery_results_taskresult")
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
