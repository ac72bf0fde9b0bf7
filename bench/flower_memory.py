"""Flower's memory after a million tasks: one Flower, the events of N tasks, its RSS sampled.

    bench/run flower-memory [--tasks 1000000] [--max-tasks 100000] [--sample-every 50000]
                            [--max-seconds 2400] [--short-max-tasks 50000,10000] [--short-tasks 200000]
                            [--out FILE]

Flower keeps task state in celery.events.state.State: an LRU of --max_tasks tasks (Flower's
default 100000, the main series; production passes FLOWER_MAX_TASKS, 10000 by default, a
short series) and a list of 4 x max_tasks event times, so its RSS should stop growing once
both are full. No stack: one Flower started by
deploy/bin/flower (production's script, bench settings and vhost, BENCH_FLOWER_PORT + 20).

The bench sends what a prefork worker sends per task (celery/worker/strategy.py, request.py):
task-received (uuid, name, args and kwargs reprs, root_id, parent_id, retries, eta, expires),
task-started, task-succeeded (result, runtime), stamped by the dispatcher with hostname,
timestamp, utcoffset, pid and clock (Flower's receiver adds local_received). The app's own
EventDispatcher sends them as the worker's Events bootstep has it: task events 24 to a
task.multi message, no publisher confirms (taskqueue/worker_consumer.py), a heartbeat every 2 s.

Flower consumes without acks: a backlog would wait in its own memory (event loop callbacks),
inflating the RSS measured, or expire in its queue (event_queue_ttl, 5 s). So after every
--chunk tasks the bench reads how many of our task events Flower applied (flower_events_total
on /flower/metrics) and waits until at most --lag are outstanding; before a sample (VmRSS and
VmHWM of Flower and its children), until none are. Events not counted after 15 s without
progress are reported missing; a series stops at its time bound, marked incomplete. Flower's
event queue is exclusive: it goes with Flower's connection. Shorter series follow. Each series
sets FLOWER_MAX_TASKS, which deploy/bin/flower passes as --max_tasks.
Writes bench/results/flower_memory.json and .svg and prints a markdown summary.
"""

import argparse
import base64
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from celery.utils.sysinfo import load_average
from celery.worker.state import SOFTWARE_INFO
from kombu.utils.uuid import uuid

from .cpu import TICKS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
HOSTNAME = f"flower-memory@{socket.gethostname()}"  # no real worker is named so
TASK_NAME = "workflow.tasks.create_task"  # the seeds' task, as POST /tasks/ sends it
HEARTBEAT_SECONDS = 2.0  # a worker's default interval
POLL_SECONDS = 0.1
STALL_SECONDS = 15
REPORT_AT = (10_000, 100_000, 500_000, 1_000_000)
EVENTS = re.compile(r"^flower_events_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)
ONLINE = re.compile(r'^flower_worker_online\{worker="([^"]*)"\} 1\.0$', re.M)


def arguments(argv=None):
    parser = argparse.ArgumentParser(prog="bench/run flower-memory", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks of the main series")
    parser.add_argument("--max-tasks", type=int, default=100_000, help="FLOWER_MAX_TASKS of the main series")
    parser.add_argument("--sample-every", type=int, default=50_000, help="tasks between RSS samples")
    parser.add_argument("--chunk", type=int, default=500, help="tasks between reads of Flower's counter")
    parser.add_argument("--lag", type=int, default=3000, help="task events allowed outstanding at Flower")
    parser.add_argument("--max-seconds", type=int, default=2400, help="time bound of the main series")
    parser.add_argument("--short-max-tasks", default="50000,10000", help="FLOWER_MAX_TASKS of the short series")
    parser.add_argument("--short-tasks", type=int, default=200_000, help="tasks of each short series (0: none)")
    parser.add_argument("--short-max-seconds", type=int, default=600, help="time bound of each short series")
    parser.add_argument("--out", type=Path, default=RESULTS / "flower_memory.json")
    return parser.parse_args(argv)


def memory_kb(pid):
    """(VmRSS, VmHWM) in kB of pid plus its children (Flower starts none, but they would count)."""
    children = [int(c) for f in Path(f"/proc/{pid}/task").glob("*/children") for c in f.read_text().split()]
    rss = hwm = 0
    for one in [pid, *children]:
        status = dict(line.split(":", 1) for line in Path(f"/proc/{one}/status").read_text().splitlines())
        rss, hwm = rss + int(status["VmRSS"].split()[0]), hwm + int(status["VmHWM"].split()[0])
    return rss, hwm


class Flower:
    """One Flower started by deploy/bin/flower, reached on loopback with basic auth."""

    def __init__(self, port, max_tasks=None):
        self.port, self.max_tasks, self.process = port, max_tasks, None
        self.log = Path(os.environ["RUN_DIR"]) / f"flower-memory-{max_tasks}.log"
        credentials = f"{os.environ['FLOWER_USER']}:{os.environ['FLOWER_PASSWORD']}"
        self.auth = "Basic " + base64.b64encode(credentials.encode()).decode()

    def start(self):
        env = dict(os.environ, FLOWER_PORT=str(self.port), FLOWER_ADDRESS="127.0.0.1")
        env["FLOWER_MAX_TASKS"] = str(self.max_tasks)  # deploy/bin/flower passes it as --max_tasks
        if self.status("healthcheck") is not None:  # else we would measure someone else's
            raise RuntimeError(f"port {self.port} already answers: choose another BENCH_FLOWER_PORT")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as log:
            self.process = subprocess.Popen([ROOT / "deploy/bin/flower"], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while self.status("healthcheck") != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Flower did not answer within 60 s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self):
        if self.process:  # by its PID: deploy/bin/flower execs celery
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def get(self, path):
        url, headers = f"http://127.0.0.1:{self.port}/flower/{path}", {"Authorization": self.auth}
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (http to loopback)
            return answer.read().decode()

    def status(self, path):
        try:
            self.get(path)
            return 200
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def events_counted(self):
        """Task events of our worker that Flower has applied to its state."""
        found = EVENTS.finditer(self.get("metrics"))
        return round(sum(float(m["value"]) for m in found if f'worker="{HOSTNAME}"' in m["labels"]))

    def workers_online(self):
        return set(ONLINE.findall(self.get("metrics")))

    def tasks_held(self):
        page = "tasks/datatable?draw=1&start=0&length=1&order%5B0%5D%5Bcolumn%5D=0&columns%5B0%5D%5Bdata%5D=name"
        return json.loads(self.get(page))["recordsTotal"]  # len(State.tasks)

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


class Publisher:
    """What a worker sends, through Celery's own EventDispatcher, every event counted."""

    def __init__(self, app, connection):
        # As the worker's Events bootstep: task events buffered, 24 to a task.multi message.
        # No offline buffer: a failed publish raises instead of being counted as sent.
        self.dispatcher = app.events.Dispatcher(
            connection, hostname=HOSTNAME, buffer_group=["task"], buffer_while_offline=False
        )
        self.task_events = self.heartbeats = 0
        self.next_heartbeat = 0.0

    def task(self, number):
        task_id, send = uuid(), self.dispatcher.send
        args = f"({number % 4},)"  # create_task.delay(type): argsrepr of the tuple
        send("task-received", uuid=task_id, name=TASK_NAME, args=args, kwargs="{}", root_id=task_id,
             parent_id=None, retries=0, eta=None, expires=None)  # fmt: skip
        send("task-started", uuid=task_id)
        send("task-succeeded", uuid=task_id, result="True", runtime=0.0025)
        self.task_events += 3
        return task_id

    def heartbeat(self, processed, force=False):
        if force or time.monotonic() >= self.next_heartbeat:
            self.next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
            self.dispatcher.send("worker-heartbeat", freq=HEARTBEAT_SECONDS, active=0, processed=processed,
                                 loadavg=load_average(), **SOFTWARE_INFO)  # fmt: skip
            self.heartbeats += 1


class Series:
    """One Flower fed `tasks` tasks; RSS against tasks seen."""

    def __init__(self, flower, publisher, deadline):
        self.flower, self.publisher, self.deadline = flower, publisher, deadline
        self.missing, self.sent, self.samples, self.notes = 0, 0, [], []
        self.first = self.last = None

    def note(self, text):
        self.notes.append(text)
        print(f"  !! {text}", flush=True)

    def wait(self, allowed):
        """Until Flower has counted all but `allowed` task events sent; bounded (see the docstring)."""
        last, moved = None, time.monotonic()
        while True:
            counted = self.flower.events_counted()
            outstanding = self.publisher.task_events - self.missing - counted
            if outstanding <= allowed or time.monotonic() > self.deadline:
                return counted
            if counted != last:
                last, moved = counted, time.monotonic()
            elif time.monotonic() - moved > STALL_SECONDS:
                self.missing += outstanding
                self.note(f"{outstanding} task events not counted after {self.sent} tasks")
                return counted
            self.publisher.heartbeat(self.sent)  # a wait is no reason for Flower to see us offline
            time.sleep(POLL_SECONDS)

    def sample(self, started):
        counted = self.wait(0)
        rss, hwm = memory_kb(self.flower.process.pid)
        row = {"tasks": self.sent, "events_counted": counted, "rss_mb": round(rss / 1024, 1),
               "hwm_mb": round(hwm / 1024, 1), "seconds": round(time.monotonic() - started, 1),
               "flower_cpu_s": round(self.flower.cpu_seconds(), 1)}  # fmt: skip
        self.samples.append(row)
        print(f"  {row['tasks']:>8} tasks  RSS {row['rss_mb']:7.1f} MB  peak {row['hwm_mb']:7.1f} MB  "
              f"{row['seconds']:7.1f} s", flush=True)  # fmt: skip

    def run(self, tasks, points, chunk, lag):
        """Sends `tasks` tasks, `chunk` at a time, with a sample at each of `points` and at the end."""
        while HOSTNAME not in self.flower.workers_online():  # its event queue is bound: nothing is lost
            if time.monotonic() > self.deadline:
                raise RuntimeError("Flower never saw our heartbeats")
            self.publisher.heartbeat(0, force=True)
            time.sleep(0.5)
        started = time.monotonic()
        self.sample(started)
        points = sorted({*(p for p in points if 0 < p < tasks), tasks})
        while points:
            for _ in range(min(chunk, points[0] - self.sent)):  # a chunk ends at the next sample
                self.sent += 1
                self.last = self.publisher.task(self.sent)
                self.first = self.first or self.last
            self.publisher.dispatcher.flush()
            self.publisher.heartbeat(self.sent)
            self.wait(lag)
            if time.monotonic() > self.deadline:
                self.note(f"time bound reached after {self.sent} of {tasks} tasks: stopped")
                self.deadline += 2 * STALL_SECONDS  # for the last sample to count what is in flight
                points = [self.sent]
            if self.sent == points[0]:
                self.sample(started)
                points.pop(0)


def series(app, args, max_tasks, tasks, max_seconds):
    from taskqueue.worker_consumer import EVENTS_TRANSPORT_OPTIONS

    print(f"== Flower, max_tasks {max_tasks}: {tasks} tasks", flush=True)
    flower = Flower(int(os.environ["BENCH_FLOWER_PORT"]) + 20, max_tasks)
    try:
        flower.start()
        with app.connection_for_write(transport_options=EVENTS_TRANSPORT_OPTIONS) as connection:
            publisher = Publisher(app, connection)
            run = Series(flower, publisher, time.monotonic() + max_seconds)
            run.run(tasks, {1_000, 5_000, *REPORT_AT, *range(0, tasks, args.sample_every)}, args.chunk, args.lag)
            held, others = flower.tasks_held(), sorted(flower.workers_online() - {HOSTNAME})
            first_kept, last_kept = (flower.status(f"api/task/info/{t}") == 200 for t in (run.first, run.last))
    finally:
        flower.stop()
    last = run.samples[-1]
    return {
        "max_tasks": max_tasks,
        "tasks": run.sent, "task_events_sent": publisher.task_events, "heartbeats_sent": publisher.heartbeats,
        "task_events_counted": last["events_counted"], "difference": publisher.task_events - last["events_counted"],
        "complete": run.sent == tasks and not run.notes, "notes": run.notes, "seconds": last["seconds"],
        "events_per_s": round(last["events_counted"] / last["seconds"]) if last["seconds"] else None,
        "tasks_held": held, "first_task_kept": first_kept, "last_task_kept": last_kept,
        "other_workers_seen": others, "samples": run.samples, "log": str(flower.log),
    }  # fmt: skip


def markdown(results):
    def rss_at(row, tasks):
        found = [s["rss_mb"] for s in row["samples"] if s["tasks"] == tasks]
        return f"{found[0]:.1f}" if found else "—"

    lines = ["| max_tasks | tasks | RSS at start, MB | " + " | ".join(f"at {n // 1000}k" for n in REPORT_AT)
             + " | peak | events/s | tasks held | task events sent / counted |",
             "|--:|--:|--:|" + "--:|" * len(REPORT_AT) + "--:|--:|--:|--:|"]  # fmt: skip
    for row in results["series"]:
        cells = " | ".join(rss_at(row, n) for n in REPORT_AT)
        lines.append(f"| {row['max_tasks']} | {row['tasks']} | {row['samples'][0]['rss_mb']:.1f} | {cells} "
                     f"| {max(s['hwm_mb'] for s in row['samples']):.1f} | {row['events_per_s']} | {row['tasks_held']} "
                     f"| {row['task_events_sent']} / {row['task_events_counted']} |")  # fmt: skip
    for row in results["series"]:
        others = [f"other workers' events too: {row['other_workers_seen']}"] if row["other_workers_seen"] else []
        lines += [f"\nmax_tasks {row['max_tasks']}: {note}" for note in row["notes"] + others]
    return "\n".join(lines)


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "flower-memory"  # the same figures give the same file
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for row in results["series"]:
        x, rss = [s["tasks"] / 1000 for s in row["samples"]], [s["rss_mb"] for s in row["samples"]]
        (line,) = axes.plot(x, rss, marker="o", markersize=3, label=f"max_tasks {row['max_tasks']}")
        axes.axvline(row["max_tasks"] / 1000, color=line.get_color(), alpha=0.3, linestyle=":")
    axes.set(xlabel="tasks seen, thousands (3 task events each)", ylabel="Flower RSS, MB", ylim=(0, None))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    figure.suptitle(f"Flower {results['versions']['flower']} RSS against tasks seen, {results['started_at']}")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)


def main(argv=None):
    import django

    django.setup()
    from config.celery import app

    from . import machine, output

    args = arguments(argv)
    results = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "parameters": vars(args) | {"out": None},
               "machine": machine.describe(os.environ),
               "versions": {name: version(name) for name in ("flower", "celery", "kombu")}, "series": []}  # fmt: skip
    results["series"].append(series(app, args, args.max_tasks, args.tasks, args.max_seconds))
    for max_tasks in [int(n) for n in args.short_max_tasks.split(",") if n] if args.short_tasks else []:
        results["series"].append(series(app, args, max_tasks, args.short_tasks, args.short_max_seconds))
    output.save(results, args.out, chart, markdown)


if __name__ == "__main__":
    main()
