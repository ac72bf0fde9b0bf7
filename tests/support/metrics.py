"""What Prometheus reads from each part of a deployment, whatever the flavour: the path of
the part's metrics and a series that must be in them (the alert rules use each)."""

SERIES = {
    "web": ("/metrics", 'django_http_requests_total_by_method_total{method="GET"}'),
    "flower": ("/flower/metrics", "flower_worker_online{"),
    "rabbitmq": ("/metrics/detailed?family=queue_consumer_count",
                 'rabbitmq_detailed_queue_consumers{vhost="app",queue="tasks"} '),
    "postgres": ("/metrics", "app_beat_heartbeat_age_seconds{"),
    "node": ("/metrics", "node_filesystem_avail_bytes{"),
}  # fmt: skip


def check_every_part(fetch, addresses):
    """fetch(url) -> body; addresses: {part: "host:port"} of the parts this flavour runs."""
    for part, address in addresses.items():
        path, series = SERIES[part]
        body = fetch(f"http://{address}{path}")
        assert series in body, f"{part}: {series} not in http://{address}{path}"
    if "postgres" in addresses:
        assert "pg_up 1" in fetch(f"http://{addresses['postgres']}/metrics"), "the exporter does not reach PostgreSQL"
