"""The bench's CPU account (bench/cpu.py): a worker's pool processes are told apart from the
worker's main process, and CPU time is shared out per task by part."""

import os
import signal
import subprocess
import sys
import time

from bench import cpu

# A stand-in worker: a process named like one ("celery ... worker") that forks a pool process,
# which keeps its parent's command line, as prefork's children do.
FORKING_WORKER = """
import os, sys, time
if os.fork() == 0:
    time.sleep(30)
    os._exit(0)
print("forked", flush=True)
time.sleep(30)
"""


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None  # it ended meanwhile


def test_a_workers_forked_child_is_its_pool_and_the_parent_its_main_process():
    worker = subprocess.Popen(
        [sys.executable, "-c", FORKING_WORKER, "celery", "worker"], stdout=subprocess.PIPE, text=True
    )
    pool = []
    try:
        assert worker.stdout.readline().strip() == "forked"
        deadline = time.monotonic() + 10
        while True:
            found = cpu.snapshot()
            # Only this worker's: a stack's real workers may run meanwhile.
            pool = [
                pid for pid, (part, _) in found.items() if part == "celery worker pool" and parent_of(pid) == worker.pid
            ]
            if pool or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert found[worker.pid][0] == "celery worker"
        assert len(pool) == 1
    finally:
        for pid in pool:
            os.kill(pid, signal.SIGKILL)
        worker.kill()
        worker.wait(timeout=10)


def test_cpu_is_shared_out_per_task_by_part_and_new_processes_count_fully():
    before = {1: ("rabbitmq", 10.0), 2: ("celery worker", 4.0), 3: ("celery worker pool", 1.0)}
    after = {
        1: ("rabbitmq", 10.5),
        2: ("celery worker", 4.25),
        3: ("celery worker pool", 1.5),
        4: ("celery worker pool", 0.25),  # born during the round
    }
    assert cpu.ms_per_item(before, after, 500) == {
        "rabbitmq": 1.0,
        "celery worker pool": 1.5,
        "celery worker": 0.5,
        "total": 3.0,
    }
