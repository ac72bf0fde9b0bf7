"""Three systemd hosts, each a container with its own address on one network, installed with
deploy/install and roles as docs/cluster.md tells: a data host (broker, database) serving TLS
from HOST_TLS_DIR, a web host (web, beat, flower) and a worker host (worker), both given the
data host's amqps:// and verify-full URLs. A task posted to the web host's nginx runs on the
worker host; plaintext AMQP and PostgreSQL from another host are refused."""

import io
import re
import secrets
import subprocess
import tarfile

import pytest

from tests.support.env_file import read_env_file
from tests.support.stack import ROOT
from tests.systemd_host.conftest import CHECKOUT, IMAGE, Host, build_image, checkout_tar, timed

NETWORK = "app-test-hosts"
DATA, WEB, WORKER = "datahost", "webhost", "workerhost"
WEB_PORT = 28181
TLS = "/etc/ssl/app"  # HOST_TLS_DIR on the data host; the CA for the others


def env_file(tls_dir):
    """One /etc/app/app.env for the three hosts: .env.example with the host values, secrets
    made once, and URLs naming the data host over TLS."""
    made = {}
    text = re.sub(r"change-me-[a-z0-9-]+", lambda m: made.setdefault(m.group(0), secrets.token_urlsafe(32)),
                  (ROOT / ".env.example").read_text())  # fmt: skip
    example = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    overrides = {
        **read_env_file(ROOT / "deploy/systemd/host.env"),
        "DJANGO_HTTPS": "false",
        "DATABASE_URL": example["DATABASE_URL"].replace("@127.0.0.1:5432/", f"@{DATA}:5432/")
        + f"?sslmode=verify-full&sslrootcert={TLS}/ca.crt",
        "CELERY_BROKER_URL": example["CELERY_BROKER_URL"]
        .replace("amqp://", "amqps://")
        .replace("@127.0.0.1:5672/", f"@{DATA}:5671/"),
        "CELERY_BROKER_CA_FILE": f"{TLS}/ca.crt",
        "HOST_TLS_DIR": TLS,
    }
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        setting = "=" in line and not line.startswith("#")
        lines.append(f"{key}={overrides[key]}" if setting and key in overrides else line)
    return "\n".join(lines) + "\n"


def tar_of(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in files:
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


def boot(host, name, publish=()):
    host.docker("rm", "-f", name, check=False)
    host.docker("run", "-d", "--name", name, "--hostname", name, "--network", NETWORK,
                "--cgroupns", "private", "--tmpfs", "/run", "--tmpfs", "/run/lock",
                "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE", "--stop-signal", "SIGRTMIN+3",
                *publish, IMAGE)  # fmt: skip
    host.wait_booted()


def install(host, roles, env_text, tls_files):
    host.sh(f"mkdir -p {CHECKOUT} /etc/app {TLS} && chmod 0700 /etc/app")
    host.docker("exec", "-i", host.container, "tar", "-xf", "-", "-C", CHECKOUT, input=checkout_tar())
    host.docker("exec", "-i", host.container, "tar", "-xf", "-", "-C", TLS, input=tar_of(tls_files))
    host.sh(f"chmod 0600 {TLS}/*.key 2>/dev/null; true")
    host.docker("exec", "-i", host.container, "sh", "-c", "umask 077 && cat >/etc/app/app.env",
                input=env_text.encode())  # fmt: skip
    with timed(f"deploy/install --roles {roles} on {host.container}"):
        host.install_output = host.sh(f"deploy/install --roles {roles} --plain-http 2>&1", timeout=900, cwd=CHECKOUT)


@pytest.fixture(scope="module")
def hosts(docker_engine, tmp_path_factory):
    env = docker_engine
    build_image(env)
    tls_dir = tmp_path_factory.mktemp("hosts-tls")
    subprocess.run([ROOT / "deploy/bin/make-certs", tls_dir, f"broker,{DATA}", f"db,{DATA}"], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    env_text = env_file(tls_dir)
    data, web, worker = Host(env, DATA), Host(env, WEB, WEB_PORT), Host(env, WORKER)
    data.docker("network", "rm", NETWORK, check=False)
    data.docker("network", "create", NETWORK)
    try:
        with timed("boot three hosts"):
            boot(data, DATA)
            boot(web, WEB, ("-p", f"127.0.0.1:{WEB_PORT}:80"))
            boot(worker, WORKER)
        server_files = [tls_dir / name for name in ("ca.crt", "broker.crt", "broker.key", "db.crt", "db.key")]
        install(data, "broker,database", env_text, server_files)
        install(web, "web,beat,flower", env_text, [tls_dir / "ca.crt"])
        install(worker, "worker", env_text, [tls_dir / "ca.crt"])
        yield data, web, worker
    finally:
        for name in (DATA, WEB, WORKER):
            data.docker("rm", "-f", name, check=False)
        data.docker("network", "rm", NETWORK, check=False)


@pytest.mark.timeout(1200)
def test_a_task_posted_on_the_web_host_runs_on_the_worker_host_over_tls(hosts):
    data, web, worker = hosts
    task_id = web.submit(0)
    assert web.wait_final(task_id, timeout=120)["task_status"] == "SUCCESS"
    query = "SELECT worker FROM django_celery_results_taskresult WHERE task_id = :'id'"
    ran_on = data.sh(f'echo "{query}" | runuser -u postgres -- psql -X -Atq -d app -v id={task_id}').strip()
    assert ran_on.endswith(f"@{WORKER}"), ran_on
    # Roles: the worker host has no server of its own, the data host no app process.
    assert worker.returncode("dpkg-query -W -f='${Status}' nginx postgresql rabbitmq-server | grep -q installed") != 0
    assert data.returncode("systemctl is-active --quiet app-web.service") != 0


@pytest.mark.timeout(600)
def test_plaintext_from_another_host_is_refused(hosts):
    data, _, worker = hosts
    assert worker.returncode(f"timeout 5 bash -c '</dev/tcp/{DATA}/5672'") != 0, "plain AMQP reachable"
    assert worker.returncode(f"timeout 5 bash -c '</dev/tcp/{DATA}/5671'") == 0, "AMQP over TLS not reachable"
    probe = (
        "import os, psycopg2\n"
        "try:\n"
        f"    psycopg2.connect(host='{DATA}', dbname='app', user='app', password='x', sslmode='disable',"
        " connect_timeout=5)\n"
        "except psycopg2.OperationalError as error:\n"
        "    print(error)\n"
    )
    out = worker.sh(f'/srv/app/current/.venv/bin/python -c "{probe}"')
    assert "no encryption" in out, out
    # And the server side of it: PostgreSQL listens beyond loopback with TLS on.
    assert data.sh("runuser -u postgres -- psql -X -Atq -c 'SHOW ssl'").strip() == "on"
