"""HTTP load through nginx with wrk: requests/s, latency percentiles and errors."""

import json
import os
import subprocess
import time
from pathlib import Path

from . import cpu

SCRIPT = Path(__file__).with_name("wrk") / "report.lua"


def wrk(url, connections, seconds, body=None, script=SCRIPT):
    """One wrk run; body (a JSON string) makes it a POST; script: another wrk script that
    prints the same BENCH_RESULT line (wrk/status.lua). Returns the figures as a dict.

    One wrk thread: on a 2-core machine a second one would only take CPU from the stack,
    and one thread drives well over the rates measured here.
    """
    env = dict(os.environ, BENCH_POST_BODY=body or "")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), url]
    before, started = cpu.snapshot("wrk"), time.monotonic()
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    profile = cpu.usage(before, cpu.snapshot("wrk"), time.monotonic() - started)
    line = next(line for line in out.splitlines() if line.startswith("BENCH_RESULT "))
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    return {
        "connections": connections,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": sum(raw["errors"].values()),
        "error_kinds": {kind: n for kind, n in raw["errors"].items() if n},
        "cpu_percent": profile,
    }
