"""docker-compose.prod.yml: valid Compose, and shaped the way the deployment relies on."""

import json
import os
import re
import subprocess
from urllib.parse import urlsplit

import jsonschema
import pytest
from container_model import COMPOSE_FILE, REPO, compose_variables, load_compose, repo_script

from tests.support.env_file import read_env_file

SERVICES = {"nginx", "web", "worker", "beat", "flower", "migrate", "rabbitmq", "db", "postgres-exporter"}
ONE_SHOT = {"migrate"}
BACKING = {"db", "rabbitmq"}  # depend on nothing
APP = {"web", "worker", "beat", "flower", "migrate"}  # run from the app image
AFTER_MIGRATE = {"web", "worker", "beat"}
EXACT_TAG = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+[\w.-]*$")
POSTGRES_EXACT_TAG = re.compile(r"^postgres:\d+\.\d+-[\w.-]+$")  # PostgreSQL versions are MAJOR.MINOR
GRACE_MARGIN_SECONDS = 15


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def megabytes(size: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG])[bB]?", size).groups()
    return float(number) * {"k": 1 / 1024, "m": 1, "g": 1024}[unit.lower()]


def long_running(compose):
    return {name: service for name, service in compose["services"].items() if name not in ONE_SHOT}


def test_validates_against_the_compose_specification(compose):
    schema = json.loads((REPO / "tests" / "static" / "compose-spec.json").read_text())
    # The schema names draft-07 in a form jsonschema does not recognise by itself.
    jsonschema.Draft7Validator(schema).validate(compose)
    assert "version" not in compose, "the Compose spec dropped `version:`"


def test_services(compose):
    assert set(compose["services"]) == SERVICES


def test_only_nginx_publishes_a_port(compose):
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"nginx"}
    # Plain HTTP and HTTPS; HTTPS under the same number inside, the one nginx redirects to.
    assert compose["services"]["nginx"]["ports"] == ["8080:8080", "8443:8443"]
    assert str(compose["services"]["nginx"]["environment"]["HTTPS_PORT"]) == "8443"
    assert not any(service.get("network_mode") == "host" for service in compose["services"].values())


@pytest.mark.parametrize("name", sorted(SERVICES - ONE_SHOT))
def test_long_running_services_are_supervised(compose, name):
    service = compose["services"][name]
    assert service["restart"] == "unless-stopped"
    healthcheck = service["healthcheck"]
    assert not healthcheck.get("disable") and healthcheck["test"][0] == "CMD"
    assert {"interval", "timeout", "retries", "start_period"} <= set(healthcheck)
    if name in BACKING:
        assert "depends_on" not in service
    else:
        assert service["depends_on"], f"{name} must wait for what it needs"
        for dependency, rule in service["depends_on"].items():
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}, (name, dependency)


def test_health_conditions_point_at_services_with_health_checks(compose):
    for name, service in compose["services"].items():
        for dependency, rule in service.get("depends_on", {}).items():
            target = compose["services"][dependency]
            if rule["condition"] == "service_healthy":
                assert not target.get("healthcheck", {}).get("disable"), (name, dependency)
            if rule["condition"] == "service_completed_successfully":
                assert dependency in ONE_SHOT and target["restart"] == "no", (name, dependency)


def test_migrations_run_once_before_the_app(compose):
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["/app/deploy/bin/migrate", "--skip-static"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in AFTER_MIGRATE:
        assert compose["services"][name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_commands_and_health_checks_are_deploy_scripts(compose):
    for name in APP:
        service = compose["services"][name]
        commands = [service["command"]]
        if not service["healthcheck"].get("disable"):
            commands.append(service["healthcheck"]["test"][1:])
        for command in commands:
            script = repo_script(command[0])
            assert script.parent == REPO / "deploy" / "bin", (name, command)
            assert script.is_file() and os.access(script, os.X_OK), f"{script} is not an executable script"


def test_app_services_share_one_image_built_from_the_dockerfile(compose):
    images = {compose["services"][name]["image"] for name in APP}
    assert len(images) == 1
    for name in APP:
        assert compose["services"][name]["build"] == {"context": ".", "target": "app"}
    assert compose["services"]["nginx"]["build"] == {"context": ".", "target": "nginx"}
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+ AS app$", dockerfile, re.M) and re.search(r"^FROM \S+ AS nginx$", dockerfile, re.M)


def test_pulled_images_are_pinned(compose):
    for name, service in compose["services"].items():
        if "build" not in service:
            exact = EXACT_TAG.match(service["image"]) or POSTGRES_EXACT_TAG.match(service["image"])
            assert exact, f"{name}: {service['image']} is not an exact version"


def test_workers_scale_and_stop_warmly(compose, env_example):
    worker = compose["services"]["worker"]
    assert not {"container_name", "hostname"} & set(worker), "a fixed name or hostname prevents --scale"
    assert worker["command"] == ["/app/deploy/bin/worker"]
    time_limit = int(env_example["CELERY_TASK_TIME_LIMIT"])
    assert seconds(worker["stop_grace_period"]) >= time_limit + GRACE_MARGIN_SECONDS


def test_exactly_one_beat(compose):
    beat = compose["services"]["beat"]
    assert beat["deploy"]["replicas"] == 1
    assert "scale" not in beat


def test_every_service_rotates_logs_and_has_a_memory_limit(compose):
    for name, service in compose["services"].items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert {"max-size", "max-file"} <= set(logging["options"]), name
        assert megabytes(service["deploy"]["resources"]["limits"]["memory"]) > 0, name


def test_rabbitmq_uses_the_deployment_config_and_its_own_user(compose, env_example):
    rabbitmq = compose["services"]["rabbitmq"]
    assert "management" not in rabbitmq["image"]
    assert "./deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/10-app.conf:ro" in rabbitmq["volumes"]
    assert rabbitmq["environment"]["RABBITMQ_DEFAULT_USER"] not in {"", "guest"}
    assert rabbitmq["hostname"] == "rabbitmq", "its data directory is named after the hostname"
    # The memory alarm is sized from the container limit, not from the host's RAM.
    override = (REPO / "deploy" / "compose" / "rabbitmq.conf").read_text()
    value = re.search(r"^total_memory_available_override_value\s*=\s*(\S+)$", override, re.M).group(1)
    assert megabytes(value) == megabytes(rabbitmq["deploy"]["resources"]["limits"]["memory"])


def test_app_containers_override_the_native_layout(compose):
    dockerfile = (REPO / "Dockerfile").read_text()
    for name in APP:
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        environment = service["environment"]
        for setting in ("APP_ROOT", "VENV_DIR", "DJANGO_STATIC_ROOT"):
            assert f"{setting}={environment[setting]}" in dockerfile, setting
        assert urlsplit(environment["DATABASE_URL"]).hostname == "db"
        assert urlsplit(environment["CELERY_BROKER_URL"]).hostname == "rabbitmq"
        # The health checks' Host headers: web's own probe and deploy/bin/healthcheck via nginx.
        assert {"127.0.0.1", "nginx"} <= set(environment["DJANGO_ALLOWED_HOSTS"].split(","))
        assert urlsplit(environment["HEALTHCHECK_URL"]).hostname == "nginx"


def test_upstreams_match_where_web_and_flower_listen(compose):
    nginx = compose["services"]["nginx"]["environment"]
    web = compose["services"]["web"]
    flower = compose["services"]["flower"]["environment"]
    port = web["environment"]["GUNICORN_BIND"].rsplit(":", 1)[1]
    assert nginx["WEB_UPSTREAM"] == f"web:{port}"
    # The health checks read the same settings (deploy/bin/probe-web, probe-flower).
    assert web["healthcheck"]["test"] == ["CMD", "/app/deploy/bin/probe-web"]
    assert compose["services"]["flower"]["healthcheck"]["test"] == ["CMD", "/app/deploy/bin/probe-flower"]
    assert flower["FLOWER_ADDRESS"] == "0.0.0.0"  # noqa: S104 - the internal network only; not published
    assert nginx["FLOWER_UPSTREAM"] == f"flower:{flower['FLOWER_PORT']}"
    # nginx's own probe asks nginx itself, over plain HTTP, on a path the HTTPS redirect spares.
    url = compose["services"]["nginx"]["healthcheck"]["test"][-1]
    assert url == f"http://127.0.0.1:{nginx['HTTP_PORT']}/nginx_status"
    template = (REPO / "nginx" / "app.conf.template").read_text()
    assert "location = /nginx_status {\n        stub_status;" in template
    assert "|nginx_status|" in template


def test_one_generated_env_gives_matching_credentials(tmp_path):
    """deploy/native/make-env writes one value per placeholder: the URLs the app gets in
    compose carry the very passwords PostgreSQL and RabbitMQ are created with."""
    env_file = tmp_path / ".env"
    subprocess.run(
        [REPO / "deploy" / "native" / "make-env", "--plain-http", REPO / ".env.example", env_file], check=True
    )
    env = read_env_file(env_file)
    compose = load_compose(env)
    app_env = compose["services"]["web"]["environment"]
    database, broker = urlsplit(app_env["DATABASE_URL"]), urlsplit(app_env["CELERY_BROKER_URL"])
    db = compose["services"]["db"]["environment"]
    assert (database.username, database.password, database.path) == (
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
        "/" + db["POSTGRES_DB"],
    )
    rabbitmq = compose["services"]["rabbitmq"]["environment"]
    assert (broker.username, broker.password, broker.path) == (
        rabbitmq["RABBITMQ_DEFAULT_USER"],
        rabbitmq["RABBITMQ_DEFAULT_PASS"],
        "/" + rabbitmq["RABBITMQ_DEFAULT_VHOST"],
    )
    # ... and the native runner's URLs in the same .env agree with them.
    assert urlsplit(env["DATABASE_URL"]).password == database.password
    assert urlsplit(env["CELERY_BROKER_URL"]).password == broker.password
    assert not database.password.startswith("change-me")


def test_every_interpolated_variable_is_documented(env_example):
    missing = compose_variables(COMPOSE_FILE.read_text()) - set(env_example)
    assert not missing, f"add to .env.example: {sorted(missing)}"
