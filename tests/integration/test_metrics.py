"""Prometheus against the running test stack: every part exposes its metrics, and the shipped
alert rules fire when the workers stop and resolve when they are back.

A real Prometheus (Debian's package) scrapes the stack with deploy/prometheus/prometheus.yml
rendered for the test stack's addresses. Only the scrape and evaluation intervals and the
rules' hold times (`for:`) are shortened, so the test waits seconds instead of minutes; the
expressions are the shipped ones."""

import os
import re
import shutil
import subprocess
import time

import pytest
import requests
import yaml

from tests.support.stack import ROOT, wait_until

pytestmark = pytest.mark.stack
PROMETHEUS_PORT = 19090
EXPECTED_JOBS = {"web", "flower", "rabbitmq", "rabbitmq-queues", "postgres", "node"}


def render(template, output, env):
    subprocess.run([ROOT / "deploy/native/render", template, output], env={**os.environ, **env}, check=True)


@pytest.fixture(scope="module")
def prometheus(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prometheus")
    assert shutil.which("prometheus"), "Prometheus is not installed: tests/run provisions Debian's package"
    render(ROOT / "deploy/prometheus/prometheus.yml", tmp / "prometheus.yml", {
        "WEB_METRICS_ADDRESS": f"127.0.0.1:{stack.http_port}",
        "FLOWER_ADDRESS": "127.0.0.1",
        "BROKER_HOST": "127.0.0.1",
        "RABBITMQ_VHOST": os.environ["CELERY_BROKER_URL"].rsplit("/", 1)[1],
    })  # fmt: skip
    config = yaml.safe_load((tmp / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(tmp / "alerts.yml")]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    rules = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    (tmp / "alerts.yml").write_text(re.sub(r"(?m)^(\s+for:) \S+$", r"\1 3s", rules))
    check = subprocess.run(["promtool", "check", "config", tmp / "prometheus.yml"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(tmp / "prometheus.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        ["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: api("/-/ready", raw=True), 60, 0.5, "Prometheus to be ready")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def api(path, raw=False, **params):
    try:
        response = requests.get(f"http://127.0.0.1:{PROMETHEUS_PORT}{path}", params=params, timeout=5)
    except requests.ConnectionError:
        return None
    if raw:
        return response.status_code == 200
    response.raise_for_status()
    return response.json()["data"]


def query(expr):
    """{labels: value} of an instant query."""
    results = api("/api/v1/query", query=expr)["result"]
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in results}


def firing():
    return {alert["labels"]["alertname"] for alert in api("/api/v1/alerts")["alerts"] if alert["state"] == "firing"}


def test_every_part_of_the_stack_is_scraped(stack, prometheus):
    def health():
        targets = api("/api/v1/targets")["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets}

    def all_up():
        seen = health()
        return set(seen) == EXPECTED_JOBS and all(value == "up" for value in seen.values())

    wait_until(all_up, 60, 1, lambda: f"every target up, saw {health()}")
    for _ in range(5):
        stack.get("/")
    # One series from each part, with the values a healthy stack has.
    wait_until(lambda: query('sum(django_http_requests_total_by_method_total{method="GET"})'),
               30, 1, "the web app's request counter")  # fmt: skip
    assert query("sum(flower_worker_online)") == {(): 1.0}
    consumers = query('rabbitmq_detailed_queue_consumers{queue="tasks"}')
    assert list(consumers.values()) and list(consumers.values())[0] >= 1, consumers
    assert query("pg_up") and set(query("pg_up").values()) == {1.0}
    (age,) = query("app_beat_heartbeat_age_seconds").values()
    assert 0 <= age < 300
    assert query("app_task_results_rows_estimate")
    assert query('node_filesystem_avail_bytes{mountpoint="/"}')


@pytest.mark.timeout(400)
def test_stopped_workers_page_and_the_alerts_resolve_when_they_are_back(stack, prometheus):
    wanted = {"TaskQueueNoConsumer", "CeleryWorkerOffline"}
    wait_until(lambda: query("sum(flower_worker_online)") == {(): 1.0}, 60, 1, "Flower to see the worker")
    time.sleep(5)  # a few evaluations with the worker up
    assert not wanted & firing()
    stack.supervisorctl("stop", "worker:*")
    try:
        wait_until(lambda: wanted <= firing(), 120, 1, lambda: f"{sorted(wanted)} firing, saw {sorted(firing())}")
    finally:
        stack.supervisorctl("start", "worker:*")
    wait_until(lambda: not wanted & firing(), 120, 1, lambda: f"{sorted(wanted)} resolved, saw {sorted(firing())}")
