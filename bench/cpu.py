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
    process's children that already ended (wrk, the e2e child), which /proc no longer shows."""
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = {0: (children, reaped.ru_utime + reaped.ru_stime)}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        found[int(proc.name)] = (_part(cmdline), (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def usage(before, after, seconds):
    """% of one core per part between two snapshots (processes born meanwhile count fully)."""
    totals = {}
    for pid, (part, cpu) in after.items():
        spent = cpu - before.get(pid, (part, 0.0))[1]
        totals[part] = totals.get(part, 0.0) + spent
    return {
        part: round(100 * spent / seconds) for part, spent in sorted(totals.items(), key=lambda kv: -kv[1]) if spent > 0
    }
