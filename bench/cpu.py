"""A coarse profile: CPU time each part of the stack used during a measurement, read from
/proc before and after (no sampling overhead). Shown as % of one core, so on 2 cores the
parts add up to at most 200%."""

import os
import resource
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
# First match wins: the command line names the part of the stack a process belongs to.
PARTS = [
    ("wrk", "wrk"),
    ("nginx", "nginx"),
    ("gunicorn", "gunicorn"),
    ("flower", "flower"),
    ("beat", " beat"),
    ("celery worker", "celery"),
    ("rabbitmq", "beam.smp"),
    ("postgresql", "postgres"),
    ("bench", "bench"),
]


def _part(cmdline):
    return next((part for part, needle in PARTS if needle in cmdline), "other")


def snapshot(children="bench"):
    """{pid: (part, cpu seconds)} for every process now. Key 0 holds the CPU time of this
    process's children that already ended (wrk, the e2e child), which /proc no longer shows.
    A worker's pool processes (their parent is a worker too) are a part of their own: they
    run the tasks and write the results, the parent receives, dispatches, acks and sends events."""
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = {0: (children, reaped.ru_utime + reaped.ru_stime)}
    parents = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        found[int(proc.name)] = (_part(cmdline), (int(fields[11]) + int(fields[12])) / TICKS)
        parents[int(proc.name)] = int(fields[1])
    for pid, (part, spent) in found.items():
        if part == "celery worker" and found.get(parents.get(pid), ("",))[0] == "celery worker":
            found[pid] = ("celery worker pool", spent)
    return found


def _spent(before, after):
    """CPU seconds per part between two snapshots, largest first (processes born meanwhile
    count fully); parts that spent nothing are left out."""
    totals = {}
    for pid, (part, cpu) in after.items():
        totals[part] = totals.get(part, 0.0) + cpu - before.get(pid, (part, 0.0))[1]
    return {part: spent for part, spent in sorted(totals.items(), key=lambda kv: -kv[1]) if spent > 0}


def usage(before, after, seconds):
    """% of one core per part between two snapshots."""
    return {part: round(100 * spent / seconds) for part, spent in _spent(before, after).items()}


def ms_per_item(before, after, items):
    """CPU milliseconds per item (a task) of each part between two snapshots, and their total."""
    per_item = {part: round(1000 * spent / items, 3) for part, spent in _spent(before, after).items()}
    return {**per_item, "total": round(sum(per_item.values()), 3)}
