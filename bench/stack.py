"""One bench stack per variant, started and stopped by the project's own scripts
(deploy/native/up and down) with the variant's environment."""

import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from kombu import Connection

from . import cpu

ROOT = Path(__file__).resolve().parents[1]


class Stack:
    def __init__(self, env):
        self.env = env
        self.url = f"http://127.0.0.1:{env['HTTP_PORT']}"

    def _run(self, *command, timeout=300):
        result = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def __enter__(self):
        # Down first: a stack left over by an interrupted run would keep its old settings.
        self.down()
        # The stack's own database and vhost exist before its queue is deleted (the
        # baseline's are new on a machine's first run).
        self._run("deploy/native/provision")
        # A queue's type and arguments are fixed when it is declared: each variant starts
        # from no queue, so it gets its own type, and no message left by the previous one.
        self.delete_queue()
        started = time.monotonic()
        self._run("deploy/native/up")
        self.startup_seconds = round(time.monotonic() - started, 1)
        self.check_queue_type()
        return self

    def __exit__(self, *exc):
        self.down()
        # Leave no queue of this variant's type behind (a worker started later on the bench
        # vhost with other settings would stop on PRECONDITION_FAILED).
        self.delete_queue()

    def down(self):
        self._run("deploy/native/down", timeout=240)

    def workers(self, action):
        """Stop or start every worker node (supervisorctl stop|start worker:*)."""
        self._run("deploy/native/ctl", action, "worker:*", timeout=150)

    def _broker(self):
        return Connection(self.env["CELERY_BROKER_URL"], connect_timeout=5)

    def delete_queue(self):
        with self._broker() as connection:
            connection.default_channel.queue_delete(settings.TASK_QUEUE)

    def check_queue_type(self):
        """The queue the workers declared is of the variant's type: a setting that reached the
        stack from elsewhere (an old .env) once made the project variant a classic queue."""
        vhost = unquote(urlsplit(self.env["CELERY_BROKER_URL"]).path[1:])
        listed = self._run("rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "type")
        types = dict(line.split("\t")[:2] for line in listed.splitlines() if "\t" in line)
        declared, expected = types.get(settings.TASK_QUEUE), self.env["CELERY_QUEUE_TYPE"]
        if declared != expected:
            raise RuntimeError(f"queue {settings.TASK_QUEUE} on vhost {vhost} is {declared}, not {expected}")

    def purge_queue(self):
        with self._broker() as connection:
            return connection.default_channel.queue_purge(settings.TASK_QUEUE)

    def e2e(self, tasks, publishers, rounds, keep_results=False):
        """Runs bench/e2e.py in a child process that reads this variant's settings;
        keep_results: without emptying the results table before each round."""
        env = dict(self.env, PYTHONPATH=f"{ROOT / 'src'}:{ROOT}")
        if keep_results:
            env["BENCH_E2E_KEEP_RESULTS"] = "1"
        command = [str(ROOT / ".venv/bin/python"), "-m", "bench.e2e", str(tasks), str(publishers), str(rounds)]
        before, started = cpu.snapshot("bench e2e"), time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"bench.e2e exited {result.returncode}:\n{result.stderr[-3000:]}")
        run = json.loads(result.stdout.strip().splitlines()[-1])
        # The child's whole life (warm-up included): a profile of shares, not of rates.
        run["cpu_percent"] = cpu.usage(before, cpu.snapshot("bench e2e"), time.monotonic() - started)
        return run


def median_round(rounds):
    """The end-to-end round with the median tasks/s, with every round's figure beside it."""
    ordered = sorted(rounds, key=lambda run: run["tasks_per_s"])
    return {**ordered[len(ordered) // 2], "rounds_tasks_per_s": [run["tasks_per_s"] for run in rounds]}


def e2e_in_turns(baseline, stack, tasks, publishers, rounds, keep_results=False):
    """`rounds` end-to-end rounds of `stack`, each right after one of `baseline`, so a slow
    moment of the shared machine lands on both sides: (stack's median, baseline's median)."""
    runs = {"baseline": [], "stack": []}
    for _ in range(rounds):
        runs["baseline"].append(baseline.e2e(tasks, publishers, 1))
        runs["stack"].append(stack.e2e(tasks, publishers, 1, keep_results=keep_results))
    return median_round(runs["stack"]), median_round(runs["baseline"])


def variant_env(overrides):
    """The bench's environment (set by bench/run) with a variant's settings on top."""
    return {**os.environ, **overrides}


def baseline_env():
    """A second stack with the project's settings, up for the whole run beside each variant's,
    so that the two are measured in turns: its own ports, run folder, database and vhost."""
    env = dict(os.environ)
    run_dir = f"{env['RUN_DIR']}-baseline"
    return {
        **env,
        "HTTP_PORT": str(int(env["HTTP_PORT"]) + 10),
        "HTTPS_PORT": str(int(env["HTTPS_PORT"]) + 10),
        "POSTGRES_EXPORTER_ADDRESS": f"127.0.0.1:{int(env['BENCH_POSTGRES_EXPORTER_PORT']) + 10}",
        "NODE_EXPORTER_ADDRESS": f"127.0.0.1:{int(env['BENCH_NODE_EXPORTER_PORT']) + 10}",
        "FLOWER_PORT": str(int(env["FLOWER_PORT"]) + 10),
        "RUN_DIR": run_dir,
        "BENCH_DONE_FILE": f"{run_dir}/state/done.log",
        "DATABASE_URL": env["DATABASE_URL"] + "_baseline",
        "CELERY_BROKER_URL": env["CELERY_BROKER_URL"] + "_baseline",
        "CELERY_WORKER_NAME": "baseline",
    }
