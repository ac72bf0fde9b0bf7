"""deploy/bin/healthcheck: the whole stack's state for monitoring, in bounded time."""

import functools
import json
import os
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from config.celery import app
from ops import probes
from ops.models import Heartbeat
from ops.tasks import BEAT_HEARTBEAT
from taskqueue import dead_letters as taskqueue_dead_letters

HEALTHY, DEGRADED, DOWN = 0, 1, 2
# deploy/bin/healthcheck maps these back to 0/1/2; any other status (a crash) means down.
EXIT_STATUS_BASE = 10
STATE_NAMES = {HEALTHY: "healthy", DEGRADED: "degraded", DOWN: "down"}
HTTP_TIMEOUT_SECONDS = 3
PING_TIMEOUT_SECONDS = 2.0
BEAT_STALE_SECONDS = 120  # four missed 30 s heartbeats


class CheckFailed(Exception):
    pass


@functools.cache  # nginx and web read the same answer: one request per run
def http_get(path):
    base = os.environ.get("HEALTHCHECK_URL") or f"http://127.0.0.1:{os.environ.get('HTTP_PORT', '8080')}"
    try:
        # The URL comes from the operator's own configuration, never from a request.
        with urllib.request.urlopen(base + path, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.headers.get("Server", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Server", "")


def nginx():
    status, server = http_get("/healthz")
    return f"HTTP {status} from {server or 'unknown server'}"


def web():
    status, _ = http_get("/healthz")
    if status != 200:
        raise CheckFailed(f"/healthz answered HTTP {status} through nginx")


def queues():
    """Depth and consumers of every queue the app publishes to (a passive declare)."""
    report = []
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=probes.BROKER_TIMEOUT_SECONDS)
        channel = conn.channel()
        for queue in app.conf.task_queues:
            _, depth, consumers = channel.queue_declare(queue=queue.name, passive=True)
            report.append(f"{queue.name}: {depth} ready, {consumers} consumer(s)")
            if consumers == 0:
                raise CheckFailed("; ".join(report) + " - nothing consumes it")
    return "; ".join(report)


def dead_letters():
    """Tasks RabbitMQ gave up on after too many deliveries wait for an operator."""
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=probes.BROKER_TIMEOUT_SECONDS)
        depth = taskqueue_dead_letters.declare(conn.default_channel)
    if depth:
        raise CheckFailed(
            f"{depth} task(s) in {settings.TASK_DEAD_LETTER_QUEUE}: see deploy/bin/manage deadletters list"
        )
    return f"{settings.TASK_DEAD_LETTER_QUEUE}: empty"


def workers():
    replies = app.control.ping(timeout=PING_TIMEOUT_SECONDS)
    if not replies:
        raise CheckFailed(f"no worker answered a ping within {PING_TIMEOUT_SECONDS}s")
    return ", ".join(sorted(name for reply in replies for name in reply))


def beat():
    heartbeat = Heartbeat.objects.filter(name=BEAT_HEARTBEAT).first()
    if heartbeat is None:
        raise CheckFailed("no beat heartbeat recorded yet")
    age = (timezone.now() - heartbeat.seen_at).total_seconds()
    if age > BEAT_STALE_SECONDS:
        raise CheckFailed(f"last beat heartbeat {age:.0f}s ago")
    return f"last heartbeat {age:.0f}s ago"


# name -> (check, state of the stack when it fails). Without these the service is down;
# without a worker or beat it still accepts work but does not finish it: degraded.
CHECKS = {
    "nginx": (nginx, DOWN),
    "web": (web, DOWN),
    "postgresql": (probes.database, DOWN),
    "migrations": (probes.migrations, DOWN),
    "rabbitmq": (probes.broker, DOWN),
    "queues": (queues, DEGRADED),
    "deadletters": (dead_letters, DEGRADED),
    "workers": (workers, DEGRADED),
    "beat": (beat, DEGRADED),
}


def run_checks():
    results, state = {}, HEALTHY
    for name, (check, severity) in CHECKS.items():
        results[name] = probes.timed(check)
        if not results[name]["ok"]:
            state = max(state, severity)
    return state, results


class Command(BaseCommand):
    help = "Check nginx, the web app, PostgreSQL, RabbitMQ, queues, dead letters, workers and beat. Exit 0/1/2."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **options):
        state, results = run_checks()
        if options["json"]:
            self.stdout.write(json.dumps({"status": STATE_NAMES[state], "checks": results}))
        else:
            for name, entry in results.items():
                mark = "ok  " if entry["ok"] else "FAIL"
                self.stdout.write(f"{mark} {name:<12} {entry.get('detail', '')}".rstrip())
            self.stdout.write(f"stack: {STATE_NAMES[state]}")
        raise SystemExit(EXIT_STATUS_BASE + state)
