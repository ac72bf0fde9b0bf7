"""The systemd flavour on a booted Debian host (see conftest.py): the units deploy/install
started, end to end through the host's nginx, crash and stop behaviour of the workers, a
reload and an upgrade under load, a failed migration, the journal, the sandbox's exposure,
and a reboot. The tests run in this order on the same host; each prints how long it took."""

import re
import shlex
import threading
import time

import pytest
import requests

from tests.support import broken_migration, stages
from tests.support.metrics import check_every_part
from tests.support.stack import wait_until
from tests.systemd_host.conftest import CHECKOUT, CONTAINER, HOSTNAME, timed

# The session's host is booted and installed in the first test's setup.
pytestmark = pytest.mark.timeout(900)

SERVICES = ["app-web.service", "app-worker@1.service", "app-beat.service", "app-flower.service",
            "app-postgres-exporter.service", "app-node-exporter.service"]  # fmt: skip
MAX_EXPOSURE = 2.0
MARKER = "<!-- release: systemd-host upgrade -->"


class Load(threading.Thread):
    """GET /healthz and POST /tasks/ type=0 through nginx in a loop, below nginx's rate limit
    on POST /tasks/ (20 r/s). Every request that raises or answers other than 2xx is a
    failure, and the loop goes on: the test sees every request, not only the first error."""

    def __init__(self, host):
        super().__init__(daemon=True)
        self.host = host
        self.stop = threading.Event()
        self.requests = 0
        self.failures = []
        self.task_ids = []

    def run(self):
        deadline = time.monotonic() + 300
        while not self.stop.is_set() and time.monotonic() < deadline:
            for request in (self.healthz, self.post):
                self.requests += 1
                try:
                    request()
                except Exception as error:  # noqa: BLE001 (every failure is counted, none ends the loop)
                    self.failures.append(repr(error))
            time.sleep(0.05)

    def healthz(self):
        response = self.host.get("/healthz")
        assert response.status_code == 200, f"/healthz {response.status_code}"

    def post(self):
        response = self.host.post("/tasks/", json={"type": 0})
        assert response.status_code == 202, f"POST /tasks/ {response.status_code} {response.text[:200]}"
        self.task_ids.append(response.json()["task_id"])

    def finish(self, seconds_after=3):
        """Keeps the load on a little longer, then stops it and returns the failures."""
        time.sleep(seconds_after)
        self.stop.set()
        self.join(timeout=30)
        assert not self.is_alive()
        stages.note(f"systemd host: load: {self.requests} requests, {len(self.failures)} failed, "
                    f"{len(self.task_ids)} tasks accepted")  # fmt: skip
        return self.failures


@pytest.fixture
def load(host):
    running = Load(host)
    yield running
    running.stop.set()


def seconds(timespan):
    """systemd's "1min 40s" (systemctl show) in seconds."""
    units = {"min": 60, "s": 1, "ms": 0.001}
    return sum(float(value) * units[unit] for value, unit in re.findall(r"([\d.]+)(min|ms|s)\b", timespan))


def app_units(host):
    out = host.sh("systemctl list-units --plain --no-legend --all 'app-*'")
    return [line.split()[0] for line in out.splitlines() if line.split()[0].endswith(".service")]


def test_install_started_app_target_and_every_unit_runs_as_app(host):
    with timed("check: units and users"):
        # psql ran from / (not root's private checkout); migrate found the release's python.
        for symptom in ("could not change directory", "command not found", "Permission denied"):
            assert symptom not in host.install_output, host.install_output
        assert host.sh("systemctl is-active app.target").strip() == "active"
        assert sorted(app_units(host)) == sorted(SERVICES)
        # (unit, user) of every process on the host: ps tells the systemd unit of each.
        processes = [tuple(line.split()) for line in host.sh("ps -e -o unit=,user=").splitlines()]
        for unit in SERVICES:
            assert host.show(unit, "ActiveState") == "active", unit
            assert host.show(unit, "User") == "app", unit
            # Every process of the unit (gunicorn's and celery's children too), not only the main one.
            users = [user for owner, user in processes if owner == unit]
            assert users and set(users) == {"app"}, (unit, users)


def test_only_nginx_listens_beyond_loopback(host):
    """provision's loopback settings hold under systemd: RabbitMQ, its distribution port,
    epmd (socket-activated by systemd: the epmd.socket drop-in), PostgreSQL, Flower."""
    with timed("check: listeners"):
        listeners = host.sh("ss -Hltunp").splitlines()
        assert listeners
        # ss lists every bound UDP socket, clients too: Erlang's DNS resolver in RabbitMQ binds
        # one to an ephemeral port for its replies (seen once as 0.0.0.0:50551). A port the
        # kernel picked from its ephemeral range is a client's; a UDP service binds a fixed one.
        low, high = map(int, host.sh("cat /proc/sys/net/ipv4/ip_local_port_range").split())

        def client_udp(line):
            port = re.search(r":(\d+)\s", line)
            return line.startswith("udp") and port and low <= int(port.group(1)) <= high

        beyond = [line for line in listeners if not re.search(r"\s(127\.0\.0\.1|\[::1\]):\d+\s", line)]
        beyond = [line for line in beyond if not client_udp(line)]
        assert beyond and all('"nginx"' in line for line in beyond), beyond
        assert any(":4369 " in line and "127.0.0.1" in line for line in listeners), listeners
        # rabbitmqctl reaches the node (it could not when the node took the host's name).
        host.sh("rabbitmq-diagnostics -q ping", timeout=60)


def test_end_to_end_through_the_hosts_nginx(host):
    with timed("check: end to end"):
        task_id = host.submit(0)
        body = host.wait_final(task_id, timeout=60)
        assert body == {"task_id": task_id, "task_status": "SUCCESS", "task_result": True}

        form = host.post("/tasks/", data={"type": "0"})
        assert form.status_code == 202, form.text
        form_body = host.wait_final(form.json()["task_id"], timeout=60)
        assert (form_body["task_status"], form_body["task_result"]) == ("SUCCESS", True)

        assert host.post("/tasks/", json={"type": 9}).status_code == 400
        not_json = host.post("/tasks/", data="{not json", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 400, not_json.text

        env = host.app_env()
        assert host.get("/flower/").status_code == 401
        assert host.get("/flower/", auth=(env["FLOWER_USER"], env["FLOWER_PASSWORD"])).status_code == 200
        assert host.get("/healthz").status_code == 200
        assert host.get("/readyz").status_code == 200, host.get("/readyz").text


def test_nginx_serves_https_with_the_pair_install_made(host):
    """No certificate in app.env: install made one from a private CA, naming the host. (Asked
    of nginx itself: Django answers 400 to a host name not in DJANGO_ALLOWED_HOSTS.)"""
    with timed("check: https"):
        for name in ("localhost", HOSTNAME):
            url = f"https://{name}/nginx_status"
            out = host.sh(f"curl -sS --http2 --resolve {name}:443:127.0.0.1 --cacert /etc/app/site-tls/ca.crt "
                          f"-o /dev/null -w '%{{http_version}} %{{http_code}}' {url}")  # fmt: skip
            assert out.strip() == "2 200", (url, out)


def test_every_part_exposes_prometheus_metrics_on_the_host(host):
    with timed("check: metrics"):
        host.get("/")
        addresses = {"web": "127.0.0.1", "flower": "127.0.0.1:5555", "rabbitmq": "127.0.0.1:15692",
                     "postgres": "127.0.0.1:9187", "node": "127.0.0.1:9100"}  # fmt: skip
        check_every_part(lambda url: host.sh(f"curl -sS --max-time 10 '{url}'"), addresses)


def test_installed_healthcheck_says_healthy(host):
    with timed("check: deploy/bin/healthcheck"):
        # As the README's ops guide runs it: the environment file loaded, as the app user.
        script = "set -a && . /etc/app/app.env && set +a && runuser -u app -- deploy/bin/healthcheck"
        result = host.docker("exec", "-w", "/srv/app/current", CONTAINER, "bash", "-c", script, check=False)
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_the_readme_one_liner_runs_a_management_command_as_app(host):
    """README, "Operating it": systemd-run with the host's environment file, as the app user."""
    probe = "import os; print(os.getuid(), os.environ['DATABASE_URL'][:11])"
    line = (
        "systemd-run --pipe --wait --collect -p User=app -p EnvironmentFile=/etc/app/app.env "
        f'/srv/app/current/deploy/bin/manage shell --no-imports -c "{probe}"'
    )
    out = host.sh(line)
    uid = host.sh("id -u app").strip()
    assert out.split() == [uid, "postgres://"], out


def test_worker_ready_line_is_in_the_journal(host):
    with timed("check: journal"):
        assert f"worker1@{HOSTNAME} ready." in host.journal("app-worker@1")


@pytest.mark.parametrize("unit", SERVICES)
def test_live_unit_exposure_is_at_most_2(host, unit):
    out = host.sh(f"systemd-analyze security --no-pager {unit}")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
    assert match, out
    stages.note(f"systemd host: systemd-analyze security {unit}: {match.group(1)}")
    assert float(match.group(1)) <= MAX_EXPOSURE


def test_sigkilled_worker_is_restarted_and_its_task_still_succeeds(host):
    unit = "app-worker@1.service"
    task_id = host.submit(1)  # 10 s
    host.wait_received(task_id)
    main_pid, restarts = host.show(unit, "MainPID"), int(host.show(unit, "NRestarts"))
    with timed("check: SIGKILL of the worker's main process until its task succeeded"):
        host.sh(f"systemctl kill --kill-who=main --signal=KILL {unit}")
        wait_until(lambda: int(host.show(unit, "NRestarts")) > restarts, 60, 0.5, "systemd restarted the worker")
        wait_until(lambda: host.show(unit, "ActiveState") == "active", 60, 0.5, "the worker active again")
        assert host.show(unit, "MainPID") != main_pid
        # Late acks: the killed worker never acked it, so RabbitMQ redelivered it to the new
        # worker (received twice: no orphaned pool process finished the first run).
        assert host.wait_final(task_id, timeout=90)["task_status"] == "SUCCESS"
        assert host.journal("app-worker@*").count(f"create_task[{task_id}] received") == 2


def test_stopped_worker_finishes_its_running_task_first(host):
    unit = "app-worker@1.service"
    timeout_stop = seconds(host.show(unit, "TimeoutStopUSec"))
    task_id = host.submit(1)  # 10 s
    host.wait_received(task_id)
    try:
        with timed("check: systemctl stop of a worker mid-task"):
            started = time.monotonic()
            host.sh(f"systemctl stop {unit}", timeout=timeout_stop + 30)
            took = time.monotonic() - started
        stages.note(f"systemd host: stop took {took:.1f} s (TimeoutStopSec {timeout_stop:.0f} s)")
        # Warm shutdown: the task finished before the worker exited, not killed at the timeout.
        assert took < timeout_stop
        assert host.show(unit, "Result") == "success"
        assert host.get(f"/tasks/{task_id}/").json()["task_status"] == "SUCCESS"
        journal = host.journal("app-worker@*")
        assert journal.count(f"create_task[{task_id}] received") == 1, "the task ran more than once"
        assert f"create_task[{task_id}] succeeded" in journal
    finally:
        start_worker_until_ready(host, unit)


def start_worker_until_ready(host, unit):
    ready = f"worker1@{HOSTNAME} ready."
    before = host.journal(unit).count(ready)
    host.sh(f"systemctl start {unit}")
    wait_until(lambda: host.journal(unit).count(ready) > before, 60, 0.5, f"{unit} ready again")


def gunicorn_workers(host):
    return set(host.sh(f"pgrep -P {host.show('app-web.service', 'MainPID')}").split())


def test_reload_of_the_web_under_load_fails_no_request(host, load):
    master, workers = host.show("app-web.service", "MainPID"), gunicorn_workers(host)
    load.start()
    time.sleep(2)
    with timed("check: systemctl reload app-web under load"):
        host.sh("systemctl reload app-web")
        # New workers replace every old one; the master (and systemd's socket) stays.
        wait_until(lambda: not gunicorn_workers(host) & workers, 60, 0.5, "gunicorn replaced its workers")
    assert host.show("app-web.service", "MainPID") == master
    assert load.finish() == []
    host.wait_all_succeeded(load.task_ids)


def stage_source(host, name, change):
    """A copy of the operator's checkout, as `git pull` would leave it with one change."""
    source = f"/root/{name}"
    host.sh(f"rm -rf {source} && cp -a {CHECKOUT} {source} && cd {source} && {change}")
    return source


def current_release(host):
    return host.sh("readlink /srv/app/current").strip()


def test_upgrade_under_load_serves_the_new_release_and_loses_nothing(host, load):
    source = stage_source(host, "app-new", f"echo '{MARKER}' >> src/workflow/templates/workflow/home.html")
    old = current_release(host)
    assert MARKER not in host.get("/").text
    # A 10 s task running while the upgrade restarts the worker: the restart waits for it.
    long_task = host.submit(1)
    host.wait_received(long_task)
    load.start()
    time.sleep(2)
    with timed("check: deploy/upgrade under load"):
        # As the README's operator: `cd /root/app && git pull && deploy/upgrade`.
        output = host.sh("deploy/upgrade 2>&1", timeout=600, cwd=source)
        wait_until(lambda: MARKER in host.get("/").text, 60, 0.5, "the new release served")
    print("\n" + "\n".join(line for line in output.splitlines() if line.startswith("==>")))
    assert current_release(host) != old, output
    assert "restarting app-worker@1.service (warm shutdown)" in output, output
    failures = load.finish()
    assert failures == [], failures[:10]
    with timed("check: every task accepted during the upgrade succeeded"):
        host.wait_all_succeeded([long_task, *load.task_ids])
    journal = host.journal("app-worker@*")
    assert journal.count(f"create_task[{long_task}] received") == 1, "the running task was cut short"


def test_failed_migration_leaves_current_on_the_old_release(host):
    old = current_release(host)
    migrations = f"{CHECKOUT}/src/ops/migrations"
    latest = max(name.removesuffix(".py") for name in host.sh(f"ls {migrations}").split() if name[0].isdigit())
    broken = shlex.quote(broken_migration.broken_migration(latest))
    source = stage_source(host, "app-broken", f"printf %s {broken} > src/ops/migrations/{broken_migration.FILE_NAME}")
    with timed("check: deploy/upgrade with a failing migration"):
        result = host.docker("exec", "-w", source, CONTAINER, "deploy/upgrade", timeout=600, check=False)
    stderr = result.stderr.decode()
    assert result.returncode != 0, stderr
    assert broken_migration.ERROR_MARK in stderr
    assert "migrate failed: current still points to" in stderr
    assert current_release(host) == old
    assert host.get("/healthz").status_code == 200


def test_rabbitmq_stops_cleanly_through_its_cli(host):
    """The package's ExecStop is `rabbitmqctl stop`: it reaches the node by its name, which
    failed while the node was named after the host (127.0.1.1, where nothing listened)."""
    with timed("check: systemctl stop rabbitmq-server"):
        host.sh("systemctl stop rabbitmq-server", timeout=120)
        assert host.show("rabbitmq-server.service", "Result") == "success"
        host.sh("systemctl start rabbitmq-server", timeout=180)


def test_app_target_comes_back_after_a_restart_of_the_host(host):
    with timed("check: docker restart until app.target active"):
        host.docker("restart", "-t", "120", CONTAINER, timeout=240)
        host.wait_booted()
        host.wait_target_active()
    # Through nginx again, with PostgreSQL and RabbitMQ back too.
    wait_until(lambda: _ready(host), 120, 1, "/readyz 200 after the restart")
    assert host.wait_final(host.submit(0), timeout=90)["task_status"] == "SUCCESS"


def _ready(host):
    try:
        return host.get("/readyz").status_code == 200
    except requests.RequestException:
        return False
