"""Micro-benchmark of one result write, in-process against the bench database (no stack):
the project's backend (django-celery-results' get_or_create: SELECT, then BEGIN, INSERT,
COMMIT) against a single INSERT ... ON CONFLICT DO UPDATE in autocommit. Informs the
"result writes" tuning decision; bench/run does not call it.

    bench/run result-writes [N]
"""

import json
import sys
import time
import uuid

import django

UPSERT = """
INSERT INTO django_celery_results_taskresult
    (task_id, status, result, content_type, content_encoding, date_created, date_done, meta)
VALUES (%s, 'SUCCESS', 'true', 'application/json', 'utf-8', now(), now(), %s)
ON CONFLICT (task_id) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result,
    date_done = EXCLUDED.date_done, meta = EXCLUDED.meta
"""


def timed(write, n):
    started = time.perf_counter()
    for _ in range(n):
        write(str(uuid.uuid4()))
    return round((time.perf_counter() - started) / n * 1000, 3)


def main(n):
    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from config.celery import app

    backend = app.backend
    meta = '{"children": []}'
    project = lambda task_id: backend.store_result(task_id, True, "SUCCESS")  # noqa: E731
    upsert = lambda task_id: connection.cursor().execute(UPSERT, [task_id, meta])  # noqa: E731
    for write in (project, upsert):  # warm-up: connection, statement caches
        timed(write, 50)
    with CaptureQueriesContext(connection) as queries:
        project(str(uuid.uuid4()))
    result = {
        "writes": n,
        "project_ms_per_write": timed(project, n),
        "project_statements_seen_by_django": len(queries.captured_queries),
        "upsert_ms_per_write": timed(upsert, n),
        "upsert_statements_seen_by_django": 1,
    }
    connection.cursor().execute("TRUNCATE django_celery_results_taskresult")
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
