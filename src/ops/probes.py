"""Dependency probes shared by /readyz and deploy/bin/healthcheck. Each is bounded in time."""

import time

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from config.celery import app

BROKER_TIMEOUT_SECONDS = 2
_migrations_applied = False  # once true it stays true until new code (a restart) arrives


def timed(check):
    started = time.monotonic()
    try:
        detail = check()
        ok = True
    except Exception as error:  # a check reports any failure; it never raises
        detail, ok = f"{type(error).__name__}: {error}".strip(), False
    entry = {"ok": ok, "ms": round((time.monotonic() - started) * 1000, 1)}
    if detail:
        entry["detail"] = str(detail)[:300]
    return entry


def database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def migrations():
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            raise DatabaseError(f"{len(pending)} migration(s) not applied; run deploy/bin/migrate")
        _migrations_applied = True


def broker():
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)


def readiness() -> dict:
    checks = {"database": timed(database)}
    # Migrations can only be checked through a working database connection.
    checks["migrations"] = timed(migrations) if checks["database"]["ok"] else {"ok": False, "detail": "database down"}
    checks["broker"] = timed(broker)
    return checks
