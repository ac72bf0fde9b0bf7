"""What Prometheus reads from each part of a deployment, whatever the flavour: the path of
the part's metrics and a series that must be in them (the alert rules use each)."""

from tests.support.stack import wait_until

SERIES = {
    "web": ("/metrics", 'django_http_requests_total_by_method_total{method="GET"}'),
    "flower": ("/flower/metrics", "flower_worker_online{"),
    "rabbitmq": ("/metrics/detailed?family=queue_consumer_count",
                 'rabbitmq_detailed_queue_consumers{vhost="app",queue="tasks"} '),
    "postgres": ("/metrics", "app_beat_heartbeat_age_seconds{"),
    "node": ("/metrics", "node_filesystem_avail_bytes{"),
}  # fmt: skip


def check_every_part(fetch, addresses, timeout=60):
    """fetch(url) -> body; addresses: {part: "host:port"} of the parts this flavour runs.
    Each part gets `timeout` seconds: a part publishes some series only after its first
    statistics round (RabbitMQ's per-queue figures: every 5 s) or a worker's heartbeat."""
    for part, address in addresses.items():
        path, series = SERIES[part]
        url = f"http://{address}{path}"
        seen = {}

        def found(url=url, series=series, seen=seen):
            seen["body"] = fetch(url)
            return series in seen["body"]

        def said(url=url, series=series, seen=seen):
            name = series.split("{")[0]
            lines = [line for line in seen.get("body", "").splitlines() if name in line][:20]
            return f"{series} in {url}; its lines in the last answer: {lines}"

        wait_until(found, timeout, 2, said)
    if "postgres" in addresses:
        assert "pg_up 1" in fetch(f"http://{addresses['postgres']}/metrics"), "the exporter does not reach PostgreSQL"
