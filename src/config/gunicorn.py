"""gunicorn's settings (deploy/bin/web runs `gunicorn -c python:config.gunicorn`), read from
the environment and checked like Django's: a bad value stops start-up in one line, exit 78.

nginx buffers slow clients, so threads only wait on PostgreSQL and RabbitMQ (publisher
confirms): gthread overlaps those waits at low memory cost. Workers: about cores + 1
processes x threads. Reload code gracefully with SIGHUP; SIGTERM finishes in-flight
requests first.
"""

from config import env, logs

LOG_LEVELS = {"debug", "info", "warning", "error", "critical"}


def at_least_one(name, default):
    value = env.integer(name, default)
    if value < 1:
        raise env.ConfigError(f"{name}={value} must be 1 or more")
    return value


def one_of(name, default, allowed):
    value = env.string(name, default).lower()
    if value not in allowed:
        raise env.ConfigError(f"{name}={value!r}: use one of {', '.join(sorted(allowed))}")
    return value


# Set by every flavour (native/up derives it from its run folder, host.env and the compose
# file name theirs); systemd's socket (LISTEN_FDS) wins over it when app-web.socket starts web.
bind = env.required("GUNICORN_BIND")
worker_class = one_of("GUNICORN_WORKER_CLASS", "gthread", {"gthread", "sync"})
workers = at_least_one("WEB_CONCURRENCY", 3)
threads = at_least_one("GUNICORN_THREADS", 4)
# Recycling a worker bounds slow leaks; at 2,000 req/s a limit of 5,000 re-imported Django
# every few seconds and showed in p99 (bench/), hence 100,000.
max_requests = 100_000
max_requests_jitter = 10_000
timeout = 30
graceful_timeout = 30
# Above nginx's upstream keepalive_timeout (60 s by default), so nginx, not gunicorn, closes
# an idle kept-alive connection (no request sent on a connection gunicorn just closed).
keepalive = 75
# Only nginx reaches gunicorn (a unix socket nginx alone may enter, or an internal network):
# its X-Forwarded-Proto is trusted.
forwarded_allow_ips = "*"
control_socket_disable = True
errorlog = "-"
loglevel = one_of("GUNICORN_LOG_LEVEL", "info", LOG_LEVELS)
# LOG_FORMAT=json: the error log (and the access log, when enabled) as JSON lines.
if logs.log_format() == "json":
    logger_class = logs.GunicornLogger


def child_exit(server, worker):
    """A worker process ended: its live gauges leave /metrics (django-prometheus sums the
    processes' files in PROMETHEUS_MULTIPROC_DIR, which deploy/bin/web sets)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
