"""make bench's cluster variant: end-to-end tasks/s of the container flavour on the three-node
RabbitMQ cluster (quorum queue replicated on three nodes, TLS between hosts: docs/cluster.md)
against the single node of docker-compose.prod.yml. Both stacks run at once on the test
engine and are measured in turns, so a slow moment of the machine lands on both sides.

    bench/run cluster [--tasks N] [--rounds K] [--threads T]

A round: N POST /tasks/ (type 0) through nginx from T threads, every answer read and counted,
then wait until the N result rows say SUCCESS. tasks/s = N / (last date_done - first submit).
Writes bench/results/cluster.json and prints the ratio.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

from tests.support import engine
from tests.support.env_file import read_env_file

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SINGLE = ("docker-compose.prod.yml",)
CLUSTER = SINGLE + ("deploy/compose/rabbitmq-cluster.yml", "deploy/compose/database-tls.yml")
ROUND_TIMEOUT = 600  # seconds a round may take before the bench gives up on it


class ComposeProject:
    def __init__(self, name, files, port, env):
        self.name, self.files, self.port = name, files, port
        self.env = {**env, "COMPOSE_PROJECT_NAME": name, "HTTP_PORT": str(port), "HTTPS_PORT": str(port + 400)}

    def compose(self, *args, timeout=900, stdin=None):
        files = [arg for name in self.files for arg in ("-f", name)]
        result = subprocess.run(["docker", "compose", *files, "--env-file", ".env", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=timeout, input=stdin)  # fmt: skip
        if result.returncode != 0:
            command = " ".join(args)
            raise SystemExit(f"bench: {self.name}: compose {command} exited {result.returncode}:\n{result.stderr}")
        return result.stdout

    def sql(self, statement):
        values = read_env_file(ROOT / ".env")
        user, db = values.get("POSTGRES_USER", "app"), values.get("POSTGRES_DB", "app")
        return self.compose("exec", "-T", "db", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db,
                            timeout=60, stdin=statement)  # fmt: skip

    def done(self, task_ids):
        """(how many of these tasks are SUCCESS, the epoch of the last one's date_done)."""
        ids = ",".join(str(uuid.UUID(task_id)) for task_id in task_ids)
        # The ids went through uuid.UUID above: nothing but hex digits and dashes is spliced in.
        query = "SELECT count(*), coalesce(extract(epoch FROM max(date_done)), 0) FROM django_celery_results_taskresult"
        out = self.sql(f"{query} WHERE status = 'SUCCESS' AND task_id = ANY('{{{ids}}}')")  # noqa: S608
        count, last = out.strip().split("|")
        return int(count), float(last)


def submit_all(url, tasks, threads):
    """POST /tasks/ `tasks` times from `threads` threads; every future is read. Returns the ids."""
    lock, left, accepted, failures = threading.Lock(), [tasks], [], []

    def publisher():
        with requests.Session() as session:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                try:
                    response = session.post(url + "/tasks/", json={"type": 0}, timeout=30)
                    outcome = response.json()["task_id"] if response.status_code == 202 else response.status_code
                except requests.RequestException as error:
                    outcome = type(error).__name__
                with lock:
                    (accepted if isinstance(outcome, str) and len(outcome) == 36 else failures).append(outcome)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(publisher) for _ in range(threads)]:
            future.result()
    if failures or len(accepted) != tasks:
        kinds = sorted(set(map(str, failures)))
        raise SystemExit(f"bench: {len(failures)} of {tasks} POST /tasks/ not accepted: {kinds}")
    return accepted


def one_round(project, tasks, threads):
    started = time.time()
    task_ids = submit_all(f"http://127.0.0.1:{project.port}", tasks, threads)
    deadline = time.monotonic() + ROUND_TIMEOUT
    while True:
        count, last = project.done(task_ids)
        if count == tasks:
            seconds = last - started
            return {"tasks": tasks, "tasks_per_s": round(tasks / seconds, 1), "seconds": round(seconds, 2)}
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {project.name}: {count} of {tasks} tasks done after {ROUND_TIMEOUT} s")
        time.sleep(1)


def arguments():
    parser = argparse.ArgumentParser(prog="bench/run cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1500, help="tasks per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per stack, in turns; the medians are kept")
    parser.add_argument("--threads", type=int, default=8, help="threads posting the tasks")
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster.json")
    return parser.parse_args()


def main():
    args = arguments()
    env, started_engine = engine.start()
    tls_dir = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    subprocess.run([ROOT / "deploy/bin/make-certs", tls_dir, "broker,rabbitmq,rabbitmq2,rabbitmq3", "db", "site"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    (tls_dir / "acme").mkdir()
    # As in the tests: the production rate limit would cap the measurement. Measured over
    # plain HTTP (DJANGO_HTTPS as .env has it): nginx's HTTPS port only has to start.
    common = {**env, "TLS_DIR": str(tls_dir), "NGINX_TASKS_RATE": "100000r/s", "NGINX_TASKS_BURST": "100000",
              "NGINX_TLS_CERT": str(tls_dir / "site.crt"), "NGINX_TLS_KEY": str(tls_dir / "site.key"),
              "ACME_WEBROOT": str(tls_dir / "acme")}  # fmt: skip
    projects = [ComposeProject("appbench-single", SINGLE, 28090, common),
                ComposeProject("appbench-cluster", CLUSTER, 28091, common)]  # fmt: skip
    try:
        engine.run("bench: images", [ROOT / "tests/containers/images"], env, 900)
        for project in projects:
            print(f"==> bench: {project.name} up", flush=True)
            project.compose("up", "-d", "--wait", "--build")
            one_round(project, 200, args.threads)  # warm-up: connections, caches, the queue declared
        rounds = {project.name: [] for project in projects}
        for number in range(args.rounds):
            for project in projects:
                run = one_round(project, args.tasks, args.threads)
                rounds[project.name].append(run["tasks_per_s"])
                print(f"  round {number + 1} {project.name:<17} {run['tasks_per_s']:>6.1f} tasks/s", flush=True)
    finally:
        for project in projects:
            project.compose("down", "--volumes", "--timeout", "30", timeout=300)
        if started_engine:
            engine.stop(env)
        shutil.rmtree(tls_dir, ignore_errors=True)
    single, cluster = (statistics.median(rounds[project.name]) for project in projects)
    result = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tasks_per_round": args.tasks,
        "threads": args.threads,
        "rounds_tasks_per_s": rounds,
        "single_node_tasks_per_s": single,
        "cluster_tasks_per_s": cluster,
        "cluster_to_single": round(cluster / single, 3),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| three-node cluster (TLS) | {cluster:.0f} tasks/s | single node | {single:.0f} tasks/s | "
          f"{cluster / single:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
