"""Django settings, read from the environment only (see .env.example for every knob)."""

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from kombu import Exchange, Queue

from config import logs

from . import env

BASE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BASE_DIR.parent

# --- Core -------------------------------------------------------------------------------
SECRET_KEY = env.required("DJANGO_SECRET_KEY")
DEBUG = env.boolean("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.words("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_results",
    # Request metrics for Prometheus at /metrics (config/urls.py; nginx keeps it internal).
    "django_prometheus",
    "workflow",
    "signups",
    "taskqueue",
    "ops",
]

MIDDLEWARE = [
    # First and last: they time and count every request with what the others did to it.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "api.middleware.ProxyClientAddressMiddleware",
    "config.tracing.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env.required("DATABASE_URL"),
        # Persistent connections: web and worker processes reuse one connection for many
        # requests/tasks; health checks drop a connection that died (e.g. a PostgreSQL restart).
        conn_max_age=env.integer("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.integer("DB_CONNECT_TIMEOUT", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- HTTP security (served behind nginx) ------------------------------------------------
# nginx overwrites X-Forwarded-Proto, so Django may trust it to know the client's scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# DJANGO_HTTPS says whether clients reach the site over TLS (terminated at nginx or before).
HTTPS = env.boolean("DJANGO_HTTPS", True)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.integer("DJANGO_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Health probes and Prometheus come from load balancers and monitors over plain HTTP on the inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.words("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# Bodies larger than this are refused by Django too, not only by nginx.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("DJANGO_MAX_BODY_BYTES", 1024 * 1024)

# --- Static files (collected by deploy/bin/migrate, served by nginx) ----------------------
STATIC_URL = "/static/"
STATIC_ROOT = env.string("DJANGO_STATIC_ROOT", str(REPO_DIR / ".run" / "static"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- E-mail: console by default, SMTP in production -------------------------------------
EMAIL_BACKEND = env.string("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.string("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "noreply@localhost")

# --- Logging: one line per event on stderr; files and rotation are the supervisor's job --
# [request id]: the id of the request (or of the request that started the task) a line
# belongs to, "-" outside one (config/tracing.py). LOG_FORMAT=json: one JSON object per line
# instead, the id in its request_id field (config/logs.py; Celery's lines too, config/celery.py).
LOG_FORMAT = logs.log_format()
# Any case, as gunicorn and Celery take it; anything else stops start-up in one line (Python's
# logging would refuse "info" with a traceback from inside Django's set-up).
LOG_LEVEL = env.string("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise env.ConfigError(f"LOG_LEVEL={LOG_LEVEL.lower()}: use debug, info, warning, error or critical")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.tracing.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Celery (read by config/celery.py through the CELERY_ namespace) ----------------------
# One URL, or one per node of a RabbitMQ cluster separated by ";": kombu connects to the
# first that answers and fails over to the next when its node dies.
CELERY_BROKER_URL = env.required("CELERY_BROKER_URL")
broker_schemes = {urlsplit(url.strip()).scheme for url in CELERY_BROKER_URL.split(";")}
if not broker_schemes <= {"amqp", "pyamqp"} and broker_schemes != {"amqps"}:
    raise env.ConfigError(
        "CELERY_BROKER_URL must be amqp:// URLs to RabbitMQ, or amqps:// (TLS) for every node, separated by ;"
    )
# amqps://: TLS to the broker, its certificate verified against CELERY_BROKER_CA_FILE (the
# deployment's CA, deploy/bin/make-certs) or the system's CAs, and its host name checked.
# kombu fills in the host name of the first node it connects to and keeps it for the next
# ones, so the nodes of a cluster share one certificate that names them all (docs/cluster.md).
if broker_schemes == {"amqps"}:
    broker_ca_file = env.string("CELERY_BROKER_CA_FILE", "") or None
    if broker_ca_file and not Path(broker_ca_file).is_file():
        raise env.ConfigError(f"CELERY_BROKER_CA_FILE={broker_ca_file} is not a file")
    CELERY_BROKER_USE_SSL = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": broker_ca_file, "server_hostname": None}
CELERY_RESULT_BACKEND = "django-db"
# JSON only: a worker that accepted pickle would run code sent by anyone who can publish.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# Celery's own log lines (worker, beat) with the request id, as Django's (config/tracing.py).
CELERY_WORKER_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] [%(request_id)s] %(message)s"
CELERY_WORKER_TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [%(request_id)s] %(task_name)s[%(task_id)s]: %(message)s"
)

# Delivery. Ack after the task ran, so a crash mid-task redelivers it instead of losing it.
CELERY_TASK_ACKS_LATE = True
# ...and a child killed by the OOM killer or SIGKILL requeues its task instead of failing it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# With late acks each prefetched message waits behind a long task; 1 keeps work flowing
# to idle workers (https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits).
CELERY_WORKER_PREFETCH_MULTIPLIER = env.integer("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
CELERY_WORKER_CONCURRENCY = env.integer("CELERY_WORKER_CONCURRENCY", 4)
# Publisher confirms: delay() returns only once RabbitMQ has taken the message, so a 202
# is only sent for a task the broker holds.
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": env.boolean("CELERY_CONFIRM_PUBLISH", True)}
# Seconds a publish waits for that confirm before it counts as a lost connection (retried
# once on a fresh connection, else 503): taskqueue/publishing.py hands it to every publish.
CELERY_TASK_PUBLISH_CONFIRM_TIMEOUT = 5
# The app's queue is a quorum queue: replicated by Raft on a RabbitMQ cluster (one replica
# on a single node), and the only kind that counts deliveries. A task that kills its worker
# process (OOM, segfault) is redelivered by late acks + reject on worker lost; after
# TASK_DELIVERY_LIMIT redeliveries RabbitMQ moves it to TASK_DEAD_LETTER_QUEUE instead
# of looping forever (deploy/bin/manage deadletters lists, requeues or purges them).
# At-least-once dead-lettering (which needs reject-publish overflow) keeps the message in
# the queue until the dead-letter queue has confirmed it. The topic exchange is what Celery's
# native delayed delivery needs for countdown/ETA tasks (the e-mail retries) on quorum
# queues; the names are new so that no older classic "celery" queue blocks the declare.
# The limit is part of the queue's definition, not an environment setting: RabbitMQ refuses
# to declare an existing queue with other arguments, so a changed value would stop every
# worker. 5: a redelivery after a lost worker or a broker failover is normal, five is not.
TASK_DELIVERY_LIMIT = 5
TASK_QUEUE = "tasks"
TASK_DEAD_LETTER_QUEUE = "tasks.dead"
CELERY_TASK_DEFAULT_QUEUE = TASK_QUEUE
CELERY_TASK_DEFAULT_EXCHANGE = TASK_QUEUE
CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
CELERY_TASK_DEFAULT_ROUTING_KEY = TASK_QUEUE
CELERY_TASK_QUEUES = [
    Queue(
        TASK_QUEUE,
        Exchange(TASK_QUEUE, type="topic"),
        routing_key=TASK_QUEUE,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": TASK_DELIVERY_LIMIT,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": TASK_DEAD_LETTER_QUEUE,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )
]
# Celery's command line reads CELERY_WORKER_QUEUES as `worker --queues` (its CELERY_ prefix
# for options): a name that is no queue of this release, such as the "celery" of an older
# env file, would leave the workers on a queue nobody publishes to.
unknown_queues = set(env.words("CELERY_WORKER_QUEUES", TASK_QUEUE)) - {queue.name for queue in CELERY_TASK_QUEUES}
if unknown_queues:
    raise env.ConfigError(
        f"CELERY_WORKER_QUEUES names {', '.join(sorted(unknown_queues))}, not a queue of this release: use {TASK_QUEUE}"
    )
CELERY_TASK_DEFAULT_DELIVERY_MODE = "persistent"
# Broker connections each process keeps open for publishing (Celery's producer pool, used by
# delay(): the welcome e-mail): one per concurrent publisher, reused, instead of a connect per
# task. POST /tasks/ publishes on its gunicorn thread's own connection (taskqueue/publishing.py).
CELERY_BROKER_POOL_LIMIT = 10
# A web request waits at most ~2 connection timeouts for RabbitMQ, then answers 503.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Keep retrying the broker at start-up (containers start in any order) and after loss.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = env.integer("CELERY_BROKER_CONNECTION_TIMEOUT", 2)
# AMQP heartbeats detect a dead broker connection (half-open TCP) within ~2 intervals.
CELERY_BROKER_HEARTBEAT = 30
# On connection loss the unacked (late-ack) messages go back to the queue; cancelling the
# running copies avoids running a task twice at once when it is redelivered elsewhere.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Time limits: the longest seed task sleeps 30 s; a stuck task is stopped, not left forever.
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 90)
# The supervisors' patience with a warm shutdown (deploy scripts read it): shorter than the
# time limit, a stop would kill running tasks. Checked here so every process refuses it.
WORKER_STOP_SECONDS = env.integer("WORKER_STOP_SECONDS", CELERY_TASK_TIME_LIMIT + 10)
if WORKER_STOP_SECONDS <= CELERY_TASK_TIME_LIMIT:
    raise env.ConfigError(f"WORKER_STOP_SECONDS={WORKER_STOP_SECONDS} must be above CELERY_TASK_TIME_LIMIT")

# Results in PostgreSQL (django-celery-results), expired after a week by the beat cleanup.
CELERY_RESULT_EXPIRES = env.integer("CELERY_RESULT_EXPIRES_SECONDS", 7 * 24 * 3600)
# Store task name, arguments and worker with each result, so the admin shows what ran where.
CELERY_RESULT_EXTENDED = True
# Retry result writes when PostgreSQL drops out (restart, failover) instead of losing them.
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 20
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 100
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 5000
# Celery's Django fixup closes the worker's DB connection after every task unless this is
# set; reopening it costs a TCP + auth round trip per task (bench/: ~3.5x fewer tasks/s).
CELERY_DB_REUSE_MAX = env.integer("CELERY_DB_REUSE_MAX", 1000)

# Task events: Flower's task list is built from them (deploy/bin/flower only asks workers to
# send them when this is true). They are published without confirms, which blocked the
# worker's event loop (taskqueue/worker_consumer.py).
CELERY_WORKER_SEND_TASK_EVENTS = env.boolean("CELERY_WORKER_SEND_TASK_EVENTS", True)
CELERY_WORKER_CONSUMER = "taskqueue.worker_consumer:EventsWithoutConfirmsConsumer"
# task-sent events cost one more publish (and confirm) per enqueue for Flower's SENT state
# only; off: +15-40% POST /tasks/ throughput (bench/results/tuning). Flower still shows
# every task from the moment a worker receives it.
CELERY_TASK_SEND_SENT_EVENT = env.boolean("CELERY_TASK_SEND_SENT_EVENT", False)
CELERY_BEAT_SCHEDULE = {
    # Delete results older than CELERY_RESULT_EXPIRES (django-db cannot expire by itself).
    "cleanup-expired-results": {"task": "celery.backend_cleanup", "schedule": 3600.0},
    # Re-enqueues welcome e-mails whose signup committed while RabbitMQ was unreachable.
    "overdue-welcome-emails": {"task": "signups.tasks.enqueue_overdue_welcome_emails", "schedule": 300.0},
    # Proves beat and a worker are alive end to end; deploy/bin/healthcheck reads it.
    "beat-heartbeat": {"task": "ops.tasks.record_beat_heartbeat", "schedule": 30.0},
}
