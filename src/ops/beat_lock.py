"""Exactly one celery beat per deployment, enforced by a PostgreSQL advisory lock.

Two beats would schedule every periodic task twice. beat takes a session-level advisory
lock at start-up and holds it on its own connection for its whole life; a second beat
exits, and its supervisor's restarts make it a standby that takes over when the first dies.
"""

import logging
import os
import sys

import psycopg2
from celery.signals import beat_init
from django.db import connection

log = logging.getLogger(__name__)
BEAT_LOCK_KEY = 0x6265617400  # "beat\0": an arbitrary key shared by every beat of the deployment
_lock_connection = None


@beat_init.connect
def hold_beat_lock(sender=None, **kwargs):
    global _lock_connection
    params = connection.get_connection_params()
    _lock_connection = psycopg2.connect(**params)
    _lock_connection.autocommit = True
    with _lock_connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
        (acquired,) = cursor.fetchone()
    if not acquired:
        log.critical("another celery beat holds the beat lock for this database; exiting")
        sys.stderr.flush()
        # Signal handlers' exceptions are swallowed by Celery, so leave the process directly.
        os._exit(3)
    log.info("beat lock acquired: this is the only beat of the deployment")
    # Announce at once instead of after the first 30 s interval (deploy/bin/healthcheck).
    sender.app.send_task("ops.tasks.record_beat_heartbeat")
