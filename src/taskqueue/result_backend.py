"""django-celery-results' database backend, made to survive a PostgreSQL restart and to
write each result in one statement (taskqueue.models.UpsertTaskResultManager).

Upstream retries only InterfaceError ("connection already closed"). While PostgreSQL
restarts, writes fail with OperationalError ("connection refused", "terminating connection")
instead, and the result of a task that already ran would be dropped. Closing the broken
connection lets the retry loop (result_backend_always_retry) reconnect with backoff.
"""

import logging

from django.db import InterfaceError, OperationalError, connection
from django_celery_results.backends.database import DatabaseBackend

log = logging.getLogger(__name__)


class RetryingDatabaseBackend(DatabaseBackend):
    @property
    def TaskModel(self):  # noqa: N802 (upstream's attribute name)
        from .models import StoredTaskResult  # the app registry is ready by the first write

        return StoredTaskResult

    def exception_safe_to_retry(self, exc):
        if isinstance(exc, (InterfaceError, OperationalError)):
            # Logged because the retry loop itself is silent: ops see the outage being waited out.
            log.warning("result not stored (%s: %s): retrying", type(exc).__name__, str(exc).strip()[:200])
            connection.close()
            return True
        return super().exception_safe_to_retry(exc)
