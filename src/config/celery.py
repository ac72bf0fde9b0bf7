"""The Celery app, set up as the Celery docs describe for Django."""

import logging.config
import logging.handlers
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_ready, worker_shutting_down
from django.conf import settings

from config.logs import JsonFormatter
from config.tracing import RequestIdFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The publisher waits for RabbitMQ's confirm a bounded time (taskqueue/publishing.py).
app = Celery("config", amqp="taskqueue.publishing:BoundedConfirmAMQP")
app.config_from_object("django.conf:settings", namespace="CELERY")
# result_backend stays "django-db"; this subclass of its backend class also retries
# through PostgreSQL restarts. (A loader alias would lose to the package's entry point.)
app.backend_cls = "taskqueue.result_backend:RetryingDatabaseBackend"
app.autodiscover_tasks()

# LOG_FORMAT=json: a process the `celery` command starts (worker, beat, Flower) logs through
# Django's JSON handler from the start, warnings too (the worker's about running as root).
# Flower needs it: tornado gives a root logger without a handler its own plain one. The
# worker and beat swap in Celery's handlers, made JSON below.
if settings.LOG_FORMAT == "json" and not logging.getLogger().handlers:
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


@after_setup_logger.connect
@after_setup_task_logger.connect
def request_ids_and_log_file(logger, format, **kwargs):
    """Every handler Celery set up gives its lines the request id (its formats name it),
    as JSON objects with LOG_FORMAT=json (config/logs.py).

    CELERY_LOG_FILE: logs go to this file as well as to the process output.
    WatchedFileHandler reopens the file after logrotate moves it, which is safe with
    the prefork pool's many writers (a rotating handler in each process is not).
    """
    path = os.environ.get("CELERY_LOG_FILE")
    if path:
        handler = logging.handlers.WatchedFileHandler(path)
        handler.setFormatter(logging.Formatter(format))
        logger.addHandler(handler)
    for handler in logger.handlers:
        handler.addFilter(RequestIdFilter())
        if settings.LOG_FORMAT == "json":
            handler.setFormatter(JsonFormatter())


@worker_ready.connect
def no_plain_shutdown_notice(sender, **kwargs):
    """On SIGTERM Celery writes "worker: Warm shutdown (MainProcess)" straight to the output,
    past logging and --quiet. LOG_FORMAT=json: its handler again, without that line; the
    receiver below logs it instead."""
    if settings.LOG_FORMAT == "json":
        from celery.apps.worker import install_worker_term_handler  # the worker's alone

        install_worker_term_handler(sender.controller, verbose=False)


@worker_shutting_down.connect
def log_the_shutdown(sig, how, **kwargs):
    if settings.LOG_FORMAT == "json":
        logging.getLogger(__name__).info("%s shutdown (%s)", how, sig)
