"""The container flavour for real: the test engine (./engine), the images no registry can
give here (./images), and the stack `make up` starts from docker-compose.prod.yml on a
port and project name of the test run's own."""

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import engine
from tests.support.env_file import read_env_file
from tests.support.stack import ROOT, SeedClient, wait_until

HERE = Path(__file__).resolve().parent
PROJECT = "apptest"
HTTP_PORT = 18090
HTTPS_PORT = 18490


def timed(name, args, env, timeout):
    return engine.run(f"containers: {name}", args, env, timeout)


def site_tls(directory, https_port):
    """Settings that name nginx's certificate files (a pair deploy/bin/make-certs makes in
    directory) and its HTTPS port, as an operator's .env would."""
    subprocess.run([ROOT / "deploy/bin/make-certs", directory, "site,localhost,127.0.0.1"], check=True,
                   capture_output=True)  # fmt: skip
    (Path(directory) / "acme").mkdir(exist_ok=True)
    return {"NGINX_TLS_CERT": f"{directory}/site.crt", "NGINX_TLS_KEY": f"{directory}/site.key",
            "ACME_WEBROOT": f"{directory}/acme", "HTTPS_PORT": str(https_port)}  # fmt: skip


@dataclass
class ComposeStack(SeedClient):
    env: dict
    project_dir: Path = ROOT
    files: tuple = ("docker-compose.prod.yml",)
    http_port: int = HTTP_PORT

    @property
    def url(self):
        """HTTPS when the stack runs HTTPS-only (DJANGO_HTTPS=true), its own CA verified."""
        if self.env.get("DJANGO_HTTPS") == "true":
            return f"https://127.0.0.1:{self.env['HTTPS_PORT']}"
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def verify(self):
        return str(Path(self.env["NGINX_TLS_CERT"]).parent / "ca.crt") if "NGINX_TLS_CERT" in self.env else True

    @property
    def flower_auth(self):
        values = read_env_file(ROOT / ".env")
        return values["FLOWER_USER"], values["FLOWER_PASSWORD"]

    def compose(self, *args, check=True, timeout=300, stdin=None):
        files = [arg for name in self.files for arg in ("-f", name)]
        command = ["docker", "compose", *files, "--env-file", ".env", *args]
        result = subprocess.run(command, cwd=self.project_dir, env=self.env, capture_output=True, text=True,
                                timeout=timeout, input=stdin)  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def docker(self, *args, check=True, timeout=120):
        result = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result.stdout

    def logs(self, container):
        """A container's output, stdout and stderr together (Celery logs to stderr)."""
        return subprocess.run(["docker", "logs", container], env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60).stdout  # fmt: skip

    def containers(self, service, all_states=False):
        project = self.env["COMPOSE_PROJECT_NAME"]
        args = ["ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                "--filter", f"label=com.docker.compose.service={service}"]  # fmt: skip
        return self.docker(*args, *(["-a"] if all_states else [])).split()

    def make(self, target, extra_env=None, timeout=900):
        return timed(f"make {target}", ["make", "-C", self.project_dir, target], {**self.env, **(extra_env or {})},
                     timeout)  # fmt: skip

    def results(self, task_ids):
        """{task_id: (status, result, worker)} of the rows stored for these ids (uuids only)."""
        ids = ",".join(str(uuid.UUID(task_id)) for task_id in task_ids)
        query = "SELECT task_id, status, result, worker FROM django_celery_results_taskresult WHERE task_id = ANY"
        rows = self.sql(f"{query}('{{{ids}}}'::text[])")
        return {task_id: rest for task_id, *rest in (line.split("|") for line in rows.splitlines())}

    def wait_all_succeeded(self, task_ids, timeout=180):
        def succeeded():
            return sum(status == "SUCCESS" for status, _, _ in self.results(task_ids).values()) == len(task_ids)

        wait_until(succeeded, timeout, 2, f"all {len(task_ids)} accepted tasks to succeed")

    def sql(self, statement):
        values = read_env_file(ROOT / ".env")
        user, db = values.get("POSTGRES_USER", "app"), values.get("POSTGRES_DB", "app")
        # On stdin: a statement naming thousands of task ids is too long for a command line.
        return self.compose("exec", "-T", "db", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db,
                            stdin=statement).stdout  # fmt: skip


@pytest.fixture(scope="session")
def container_images(docker_engine):
    """The base image and the stand-ins of the pinned images, built on the test engine."""
    timed("images (base and stand-ins)", [HERE / "images"], docker_engine, 900)


@pytest.fixture(scope="session")
def compose_stack(docker_engine, container_images, tmp_path_factory):
    """`make up` on the engine: the images built from the Dockerfile, the stack healthy,
    HTTPS-only with the certificate files the settings name."""
    env = {
        **docker_engine,
        **site_tls(tmp_path_factory.mktemp("site-tls"), HTTPS_PORT),
        "DJANGO_HTTPS": "true",
        "FLAVOUR": "containers",
        "COMPOSE_PROJECT_NAME": PROJECT,
        "HTTP_PORT": str(HTTP_PORT),
        # As the native test stack: the fault tests submit faster than the production limit.
        "NGINX_TASKS_RATE": "1000r/s",
        "NGINX_TASKS_BURST": "2000",
    }
    stack = ComposeStack(env)
    stack.make("up")
    yield stack
    stack.make("down")
    left = stack.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}").split()
    assert left == [], f"containers left after make down: {left}"
    networks = stack.docker("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}")
    assert networks.split() == [], "a network of the stack is left after make down"
