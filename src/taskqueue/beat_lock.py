"""Exactly one celery beat per deployment, enforced by a PostgreSQL advisory lock.

Two beats would schedule every periodic task twice. beat takes a session-level advisory
lock at start-up and holds it on its own connection for its whole life; a second beat
exits, and its supervisor's restarts make it a standby that takes over when the first dies.
"""

import logging
import os
import sys
import threading
import time

import psycopg2
from celery.signals import beat_init
from django.db import connection

log = logging.getLogger(__name__)
BEAT_LOCK_KEY = 0x6265617400  # "beat\0": an arbitrary key shared by every beat of the deployment
LOCK_CHECK_SECONDS = 15
_lock_connection = None


@beat_init.connect
def hold_beat_lock(sender=None, **kwargs):
    # Celery swallows a signal handler's exceptions: beat would then run without the lock.
    try:
        acquired = take_lock()
    except Exception as error:
        leave(f"cannot take the beat lock ({type(error).__name__}: {error}); exiting", 75)
    if not acquired:
        leave("another celery beat holds the beat lock for this database; exiting", 3)
    log.info("beat lock acquired: this is the only beat of the deployment")
    threading.Thread(target=watch_lock, name="beat-lock-watch", daemon=True).start()
    # Announce at once instead of after the first 30 s interval (deploy/bin/healthcheck).
    sender.app.send_task("ops.tasks.record_beat_heartbeat")


def take_lock():
    global _lock_connection
    _lock_connection = psycopg2.connect(**connection.get_connection_params())
    _lock_connection.autocommit = True
    with _lock_connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
        return cursor.fetchone()[0]


def watch_lock():
    """The lock lives as long as its connection: when PostgreSQL drops it (a restart), a
    standby beat may take the lock, so this one must stop; its supervisor restarts it."""
    while True:
        time.sleep(LOCK_CHECK_SECONDS)
        try:
            with _lock_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except psycopg2.Error as error:
            leave(f"lost the beat lock's database connection ({type(error).__name__}); exiting", 75)


def leave(message, status):
    log.critical(message)
    sys.stderr.flush()
    os._exit(status)  # SystemExit would be swallowed like any exception
