"""The Prometheus side of monitoring (deploy/prometheus/): the alert rules pass `promtool check
rules`, their unit tests pass `promtool test rules`, every alert has a test showing it
firing and one showing it silent, and the scrape configuration renders to a valid file.

promtool comes from Debian's prometheus package: when it is missing, deploy/native/provision
installs it (as root; otherwise it says what to install).
"""

import os
import shutil
import subprocess

import pytest
import yaml
from container_model import REPO

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
SCRAPE_TEMPLATE = PROMETHEUS_DIR / "prometheus.yml"
# What deploy/native/render fills the scrape template with here: any well-formed values.
TEMPLATE_VALUES = {
    "WEB_METRICS_ADDRESS": "127.0.0.1:8000",
    "FLOWER_ADDRESS": "127.0.0.1",
    "FLOWER_PORT": "5555",
    "FLOWER_USER": "ops",
    "FLOWER_PASSWORD": "not-a-real-password",
    "BROKER_HOST": "127.0.0.1",
    "POSTGRES_EXPORTER_ADDRESS": "127.0.0.1:9187",
    "NODE_EXPORTER_ADDRESS": "127.0.0.1:9100",
    "RABBITMQ_VHOST": "app_test",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    # The package only: --servers "" sets up no PostgreSQL, RabbitMQ or nginx here. provision's
    # own checks of those servers may still fail afterwards; what matters is whether promtool
    # is now installed.
    provision = subprocess.run(
        [str(REPO / "deploy" / "native" / "provision"), "--servers", "", "prometheus"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = shutil.which("promtool")
    if not found:
        pytest.fail(
            "promtool (Debian package prometheus) is not on PATH, and `deploy/native/provision "
            "prometheus` did not install it (it installs packages only as root): as root, run "
            "`apt-get install prometheus`.\n"
            f"provision said:\n{provision.stdout}{provision.stderr}",
            pytrace=False,
        )
    return found


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_alert_rules_are_valid(promtool):
    result = run([promtool, "check", "rules", str(ALERTS)])
    assert result.returncode == 0, f"promtool check rules {ALERTS.name} failed:\n{result.stdout}{result.stderr}"


def test_alert_rule_unit_tests_pass(promtool):
    result = run([promtool, "test", "rules", str(ALERT_TESTS)])
    assert result.returncode == 0, f"promtool test rules {ALERT_TESTS.name} failed:\n{result.stdout}{result.stderr}"


def alerts() -> dict[str, dict]:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    return {rule["alert"]: rule for rule in rules if "alert" in rule}


def test_every_alert_is_tested_firing_and_silent():
    firing, silent = set(), set()
    for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = set(alerts())
    # A misspelt name in a test would pass silently: promtool finds no such alert firing.
    assert (firing | silent) <= names, f"tests of alerts that alerts.yml lacks: {sorted((firing | silent) - names)}"
    assert not names - firing, f"alerts never shown firing in alerts.test.yml: {sorted(names - firing)}"
    assert not names - silent, f"alerts never shown silent in alerts.test.yml: {sorted(names - silent)}"


def test_every_alert_has_a_severity_and_says_what_happened():
    for name, rule in alerts().items():
        assert rule.get("labels", {}).get("severity") in ("page", "ticket"), f"{name}: severity must be page or ticket"
        assert {"summary", "description"} <= set(rule.get("annotations", {})), f"{name}: needs summary and description"


def test_scrape_configuration_renders_to_a_valid_file(promtool, tmp_path):
    rendered = tmp_path / "prometheus.yml"
    render = subprocess.run(
        [str(REPO / "deploy" / "native" / "render"), str(SCRAPE_TEMPLATE), str(rendered)],
        env={**os.environ, **TEMPLATE_VALUES},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert render.returncode == 0, f"render failed (a placeholder this test does not set?):\n{render.stderr}"
    shutil.copy(ALERTS, tmp_path / "alerts.yml")  # rule_files are relative to the configuration
    result = run([promtool, "check", "config", str(rendered)])
    assert result.returncode == 0, f"promtool check config failed:\n{result.stdout}{result.stderr}"
    jobs = {job["job_name"] for job in yaml.safe_load(rendered.read_text())["scrape_configs"]}
    assert jobs == {"web", "flower", "rabbitmq", "rabbitmq-queues", "postgres", "node"}
