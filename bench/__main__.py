"""make bench: every variant's stack in turn, the measurements, then the report.

    bench/run [--variants project,naive,...] [--tasks N] [--rounds K] [--seconds S] [--repeats R]
              [--out FILE] [--label TEXT]

Environment variables set for bench/run reach every variant's stack (e.g. WEB_CONCURRENCY=6
to measure a tuning candidate); a variant's own settings (bench/variants.py) win over them.
"""

import argparse
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from . import load, machine, report
from .stack import Stack, baseline_env, e2e_in_turns, variant_env
from .variants import ALL, BY_KEY

RESULTS = Path(__file__).with_name("results")
TASK_BODY = '{"type": 0}'  # the seeds' no-op task type


def arguments():
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(v.key for v in ALL), help="comma-separated keys")
    parser.add_argument("--tasks", type=int, default=1500, help="tasks per end-to-end round")
    parser.add_argument("--rounds", type=int, default=3, help="end-to-end rounds per variant, each in turn with "
                        "a round of the baseline; the medians are kept")  # fmt: skip
    parser.add_argument("--publishers", type=int, default=4, help="threads publishing them")
    parser.add_argument("--seconds", type=int, default=5, help="length of each HTTP load run")
    parser.add_argument("--repeats", type=int, default=3, help="HTTP runs per row, in turns; the median is kept")
    parser.add_argument("--connections", help="comma-separated wrk connection counts for every variant")
    parser.add_argument("--no-e2e", action="store_true", help="only the HTTP measurements")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--label", default="", help="a note stored with the results")
    return parser.parse_args()


def http_runs(stack, variant, args):
    """POST /tasks/ (and /healthz) through nginx. Workers are stopped, so the figures are
    the accept path alone and the 2 cores are not shared with task execution; the queue is
    purged after each run so every run starts from the same broker state.

    The ceiling and the enqueue rows are measured in turns (/healthz, POST, /healthz, POST,
    ...), args.repeats times each, and each row is the run with the median req/s: a slow
    moment of this shared machine then lands on both sides of the ratio, or on neither."""
    runs = []

    def measure(what, path, count, body=None):
        run = load.wrk(stack.url + path, count, args.seconds, body)
        stack.purge_queue()
        return {"variant": variant.key, "what": what, **run}

    def report(row):
        figures = f"{row['rps']:>6.0f} req/s  p99 {row['p99_ms']:5.1f} ms  runs {row['rps_runs']}"
        print(f"  {row['what']:<22} c={row['connections']:<3} {figures}  cpu% {row['cpu_percent']}", flush=True)

    def median_row(samples):
        row = sorted(samples, key=lambda run: run["rps"])[len(samples) // 2]
        row["rps_runs"] = [run["rps"] for run in samples]
        report(row)
        return row

    requests = [("POST /tasks/", "/tasks/", TASK_BODY)]
    if variant.http_ceiling:
        requests.insert(0, ("GET /healthz", "/healthz", None))
        # The mixed case: the same 2 cores also run the tasks the requests enqueue. Warmed
        # up and repeated like every other row.
        load.wrk(stack.url + "/tasks/", 32, 2, TASK_BODY)
        stack.purge_queue()
        mixed = [measure("POST /tasks/ +workers", "/tasks/", 32, TASK_BODY) for _ in range(args.repeats)]
        runs.append(median_row(mixed))
    stack.workers("stop")
    for _, path, body in requests:
        load.wrk(stack.url + path, 32, 2, body)  # warm-up: connections, imports, caches
    stack.purge_queue()
    for count in variant.enqueue:
        samples = {what: [] for what, _, _ in requests}
        for _ in range(args.repeats):
            for what, path, body in requests:
                samples[what].append(measure(what, path, count, body))
        runs += [median_row(rows) for rows in samples.values()]
    stack.workers("start")
    return runs


def report_e2e(baseline, stack, variant, args):
    """args.rounds rounds of the variant, each right after a round of the baseline."""
    run, base = e2e_in_turns(baseline, stack, args.tasks, args.publishers, args.rounds)
    ratio = run["tasks_per_s"] / base["tasks_per_s"]
    print(
        f"  end to end: {run['tasks_per_s']:.0f} tasks/s (rounds {run['rounds_tasks_per_s']}), baseline in turns "
        f"{base['tasks_per_s']:.0f} (rounds {base['rounds_tasks_per_s']}): {ratio:.2f}x  cpu% {run['cpu_percent']}",
        flush=True,
    )
    return {"variant": variant.key, **run, "baseline": base, "ratio_to_baseline": round(ratio, 3)}


def main():
    args = arguments()
    variants = [BY_KEY[key] for key in args.variants.split(",")]
    if args.connections:
        counts = tuple(int(count) for count in args.connections.split(","))
        variants = [replace(v, enqueue=counts if v.enqueue else ()) for v in variants]
    started = time.monotonic()
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "machine": machine.describe(variant_env({})),
        "parameters": {
            "tasks": args.tasks,
            "publishers": args.publishers,
            "e2e_rounds": args.rounds,
            "http_seconds": args.seconds,
            "http_repeats": args.repeats,
        },
        "variants": {v.key: {"title": v.title, "env": v.env} for v in variants},
        "http": [],
        "e2e": [],
    }
    # The project's settings run as a baseline stack beside every variant's; end-to-end
    # rounds alternate between the two (baseline, variant, baseline, ...), so each ratio
    # compares figures taken minutes apart at most, and a slow moment lands on both.
    with Stack(baseline_env()) as baseline:
        for variant in variants:
            print(f"== {variant.key}: {variant.title} {variant.env or ''}", flush=True)
            with Stack(variant_env(variant.env)) as stack:
                if variant.enqueue:
                    results["http"] += http_runs(stack, variant, args)
                if not args.no_e2e:
                    results["e2e"].append(report_e2e(baseline, stack, variant, args))
    results["duration_s"] = round(time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    report.chart(results, args.out.with_suffix(".png"))
    print(report.markdown(results))
    print(f"\nwrote {args.out} and {args.out.with_suffix('.png')} in {results['duration_s']} s")


if __name__ == "__main__":
    main()
