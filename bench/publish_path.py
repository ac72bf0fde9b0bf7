"""The publish path, in two parts, with RabbitMQ and no web server in between.

1. CPU per publish: Celery's `create_task.delay(0)` against the app's
   `taskqueue.publishing.publish(create_task, (0,))` (what POST /tasks/ calls), in one
   process with the bench's settings, to the production queue with confirms. Both run from
   1 thread and from 8 threads at once (gunicorn's threads share a process and its GIL:
   there, a syscall that gives up the GIL costs more than the call). Batches alternate
   (delay, publish, delay, ...) and each figure is the median batch: process CPU time per
   publish, and publishes per second.
2. What the confirm waits for: the time from sending a message to its confirm, by queue
   kind, for 1 and 8 publishers (threads, each on its own connection). A durable message is
   confirmed once the broker has written it to disk (a quorum queue: its Raft log, fsynced);
   a transient one on a transient classic queue at once. The difference is the disk write.

    bench/run publish-path [--calls N] [--messages N]

Writes bench/results/publish_path.json and prints two tables.
"""

import argparse
import json
import os
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from amqp.exceptions import MessageNacked
from kombu import Connection, Exchange, Queue

from . import machine
from .openloop import percentile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results") / "publish_path.json"
# A task message's body, as the app sends it (the headers do not change the disk write).
BODY = b'[[0], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'
KINDS = {
    "quorum (production)": ({"x-queue-type": "quorum"}, True),
    "classic, durable": ({"x-queue-type": "classic"}, True),
    "classic, transient": ({"x-queue-type": "classic"}, False),
}


def publish_batch(send, calls, threads):
    """calls publishes from `threads` threads: (process CPU seconds, wall seconds)."""
    per_thread = calls // threads
    failures = []

    def publisher():
        try:
            for _ in range(per_thread):
                send()
        except Exception as error:  # counted and reported: a batch with a failed publish is void
            failures.append(error)

    workers = [threading.Thread(target=publisher) for _ in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if failures or any(worker.is_alive() for worker in workers):
        raise SystemExit(f"publish-path: {len(failures)} publishes failed ({failures[:1]}) or a thread hung")
    return cpu, wall


def cpu_per_publish(calls, rounds):
    """Celery's delay() against the app's publish(), batches in turns: one row per thread count."""
    import django

    django.setup()
    from config.celery import app
    from taskqueue.publishing import publish
    from workflow.tasks import create_task

    paths = {"delay": lambda: create_task.delay(0), "publish": lambda: publish(create_task, (0,))}
    rows = []
    try:
        for threads in (1, 8):
            for send in paths.values():
                publish_batch(send, 200, threads)  # warm-up: connections, imports, the declare
            samples = {name: [] for name in paths}
            for _ in range(rounds):
                for name, send in paths.items():
                    samples[name].append(publish_batch(send, calls, threads))
            row = {"threads": threads, "calls": calls // threads * threads, "rounds": rounds}
            for name, batches in samples.items():
                cpu, wall = sorted(batches)[len(batches) // 2]
                row[f"{name}_cpu_ms"] = round(cpu / row["calls"] * 1000, 3)
                row[f"{name}_per_s"] = round(row["calls"] / wall)
            row["cpu_ratio"] = round(row["publish_cpu_ms"] / row["delay_cpu_ms"], 3)
            rows.append(row)
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(app.conf.task_default_queue)
    return rows


def confirm_times(queue_name, durable, count):
    """count publishes with confirms, one after another on one connection: (seconds of each
    confirmed one, how many were nacked)."""
    times, nacked = [], 0
    with Connection(os.environ["CELERY_BROKER_URL"], transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        properties = {"delivery_mode": 2 if durable else 1}
        for _ in range(count):
            message = channel.prepare_message(BODY, 0, "application/json", "utf-8", {}, properties)
            started = time.perf_counter()
            try:
                channel.basic_publish(message, exchange="", routing_key=queue_name, confirm_timeout=5)
            except MessageNacked:
                nacked += 1
                continue
            times.append(time.perf_counter() - started)
    return times, nacked


def measure(kind, publishers, messages):
    arguments, durable = KINDS[kind]
    queue_name = f"bench-confirm-{kind.split()[0].strip(',')}-{'durable' if durable else 'transient'}-{publishers}"
    queue = Queue(queue_name, Exchange(""), routing_key=queue_name, durable=durable, queue_arguments=arguments)
    with Connection(os.environ["CELERY_BROKER_URL"]) as connection:
        queue(connection.default_channel).declare()  # once, before the publishers start
    results = [([], 0)] * publishers

    def publisher(index):
        results[index] = confirm_times(queue_name, durable, messages // publishers)

    threads = [threading.Thread(target=publisher, args=(i,)) for i in range(publishers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    seconds = time.perf_counter() - started
    with Connection(os.environ["CELERY_BROKER_URL"]) as connection:
        connection.default_channel.queue_delete(queue_name)
    times = [t for each, _ in results for t in each]
    nacked = sum(n for _, n in results)
    sent = messages // publishers * publishers
    if len(times) + nacked != sent:
        raise SystemExit(f"publish-path: {kind}, {publishers} publishers: {len(times) + nacked} outcomes of {sent}")
    return {
        "kind": kind,
        "publishers": publishers,
        "confirmed": len(times),
        "nacked": nacked,
        "per_s": round(len(times) / seconds),
        "p50_ms": round(percentile(times, 0.50) * 1000, 3),
        "p99_ms": round(percentile(times, 0.99) * 1000, 3),
    }


def main():
    parser = argparse.ArgumentParser(prog="bench/run publish-path", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4000, help="publishes per batch")
    parser.add_argument("--rounds", type=int, default=3, help="batches of each path, in turns")
    parser.add_argument("--messages", type=int, default=4000, help="per queue kind and publisher count")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "deploy/native/provision")], check=True, timeout=300)  # server, vhost, user
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(dict(os.environ)),
        "cpu_per_publish": cpu_per_publish(args.calls, args.rounds),
        "confirms": [measure(kind, publishers, args.messages) for publishers in (1, 8) for kind in KINDS],
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("| threads | delay() CPU ms | publish() CPU ms | ratio | delay()/s | publish()/s |")
    print("|--:|--:|--:|--:|--:|--:|")
    for row in results["cpu_per_publish"]:
        print(
            f"| {row['threads']} | {row['delay_cpu_ms']} | {row['publish_cpu_ms']} | {row['cpu_ratio']} "
            f"| {row['delay_per_s']} | {row['publish_per_s']} |"
        )
    print("\n| queue | publishers | confirms/s | p50 ms | p99 ms | nacked |\n|---|--:|--:|--:|--:|--:|")
    for row in results["confirms"]:
        print(
            f"| {row['kind']} | {row['publishers']} | {row['per_s']} | {row['p50_ms']} | {row['p99_ms']} "
            f"| {row['nacked']} |"
        )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
