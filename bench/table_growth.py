"""What a big results table costs, and what its hourly cleanup does to the stack under load.

    bench/run table-growth [--sizes 0,1000000,2500000,5000000] [--expired 5000000] [--chunk 500000]
                           [--tasks 1500] [--rounds 3] [--get-seconds 10] [--get-repeats 3] [--load-rate 100]

Growth, the bench stack with the project's settings: for each size, ascending, the results table is
filled to that many synthetic rows shaped like a worker's (INSERT ... SELECT from
generate_series, --chunk rows a statement, sorted by task id so the unique indexes are written
in one sweep; date_done spread over the retention period less 12 h, so nothing expires during
the run), then VACUUM ANALYZE, as autovacuum leaves a table that grew over days, and a wait
until the kernel has written the fill back (settle()). Then:
- end to end: bench/e2e.py's rounds, keeping the rows (no TRUNCATE), the median of --rounds;
- GET /tasks/<id>/ through nginx: wrk (wrk/status.lua), 8 connections, the median of
  --get-repeats runs, over --sample ids of rows that exist, drawn across the whole table
  (TABLESAMPLE BERNOULLI); 20 first read with urllib must answer 200 SUCCESS, and wrk counts
  every answer that is not a 200 SUCCESS as an error.
A second stack with the project's settings, the baseline (its own database, vhost and ports,
bench/stack.py), keeps an almost empty results table (bench/e2e.py empties it before each of
its rounds). Every e2e round and GET run at a size comes right after one on the baseline, and
the ratios compare the two medians (targets: GET p99 <= 1.2x, e2e >= 0.9x): a slow moment of
this shared machine lands on both sides, or on neither.

Cleanup: --expired rows 1 to 7 days past CELERY_RESULT_EXPIRES are added to the live ones. A
publisher process submits --load-rate tasks/s (workers write results all along), a probe
process stores a result every 20 ms as workers do (StoredTaskResult.objects.store_result), a
thread GETs a sampled id every 50 ms; after --before s a process runs celery.backend_cleanup as
a worker does when beat sends it (app.backend.cleanup(): django-celery-results' delete_expired),
timed, its SQL and peak RSS kept; --after s later the probes stop and every task must be done.

Writes bench/results/table_growth.json and .svg and prints a markdown summary. The bench's own
database (app_bench) is truncated at the start and at the end.
"""

import argparse
import json
import multiprocessing
import os
import random
import threading
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from .openloop import done_file_from_now, percentile, truncate_results, wait_for_done, warm_up

RESULTS = Path(__file__).with_name("results")
STATUS_SCRIPT = Path(__file__).with_name("wrk") / "status.lua"
TABLE = "django_celery_results_taskresult"
DAY = 86400
GET_P99_BOUND, E2E_BOUND = 1.2, 0.9
# Every column as a worker writes a no-op task's result with result_extended (the NOT NULL
# ones: task_id, status, content_type, content_encoding, date_created, date_done; id from its
# sequence; date_started, traceback, periodic_task_name NULL). results["worker_row"] holds one.
FILL = """
INSERT INTO django_celery_results_taskresult (task_id, status, result, content_type, content_encoding,
    task_name, task_args, task_kwargs, worker, meta, date_created, date_done)
SELECT task_id, 'SUCCESS', 'true', 'application/json', 'utf-8', 'workflow.tasks.create_task', '"(0,)"', '"{}"',
    'benchworker0@host', '{"children": []}', done, done
FROM (SELECT md5(%(tag)s || i)::uuid::text AS task_id,
             now() - make_interval(secs => %(min_age)s + random() * (%(max_age)s - %(min_age)s)) AS done
      FROM generate_series(%(first)s, %(last)s) AS i) AS generated
ORDER BY task_id
"""
EXPIRED = "FROM django_celery_results_taskresult WHERE date_done < now() - make_interval(secs => %s)"
COUNTERS = """SELECT pg_current_wal_lsn(), (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter),
    n_dead_tup, autovacuum_count, last_autovacuum::text FROM pg_stat_user_tables WHERE relname = %s"""


def arguments():
    parser = argparse.ArgumentParser(prog="bench/run table-growth", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="0,1000000,2500000,5000000", help="synthetic rows, comma-separated")
    parser.add_argument("--expired", type=int, default=5_000_000, help="expired rows for the cleanup (0: none)")
    parser.add_argument("--chunk", type=int, default=500_000, help="rows per INSERT")
    parser.add_argument("--tasks", type=int, default=1500, help="tasks per end-to-end round")
    parser.add_argument("--rounds", type=int, default=3, help="end-to-end rounds per size; the median")
    parser.add_argument("--publishers", type=int, default=4, help="threads publishing them")
    parser.add_argument("--get-seconds", type=int, default=10, help="length of each wrk GET run")
    parser.add_argument("--get-repeats", type=int, default=3, help="wrk GET runs per size; the median")
    parser.add_argument("--sample", type=int, default=10_000, help="task ids the GETs pick from")
    parser.add_argument("--load-rate", type=float, default=100, help="tasks/s published during the cleanup")
    parser.add_argument("--before", type=float, default=15, help="seconds of probes before the cleanup")
    parser.add_argument("--after", type=float, default=5, help="seconds of probes after it")
    parser.add_argument("--cleanup-timeout", type=float, default=900, help="seconds the cleanup may take")
    parser.add_argument("--out", type=Path, default=RESULTS / "table_growth.json")
    return parser.parse_args()


# -- The database


def connect(env):
    import psycopg2

    connection = psycopg2.connect(env["DATABASE_URL"], connect_timeout=5, options="-c statement_timeout=900s")
    connection.autocommit = True  # VACUUM, and each chunk its own transaction
    return connection


def query(db, sql, params=None):
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def grow(db, tag, first, last, min_age, max_age, chunk):
    """Inserts rows first..last-1 (ids md5(tag || i), ages in seconds); returns the seconds taken."""
    started = time.monotonic()
    with db.cursor() as cursor:
        for start in range(first, last, chunk):
            ages = {"min_age": min_age, "max_age": max_age}
            cursor.execute(FILL, {"tag": tag, "first": start, "last": min(start + chunk, last) - 1, **ages})
    return round(time.monotonic() - started, 1)


def worker_row(db):
    """A row a worker wrote, kept in the results beside the synthetic rows' values."""
    with db.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {TABLE} LIMIT 1")  # noqa: S608 (a constant)
        row = zip((column.name for column in cursor.description), cursor.fetchone(), strict=True)
        return {name: value if value is None or isinstance(value, str | int) else str(value) for name, value in row}


def vacuum(db):
    started = time.monotonic()
    db.cursor().execute(f"VACUUM ANALYZE {TABLE}")
    return round(time.monotonic() - started, 1)


def dirty_mb():
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return sum(int(fields[name].split()[0]) for name in ("Dirty", "Writeback")) // 1024


def settle(limit=180, quiet_mb=64):
    """Waits (at most `limit` s) until the kernel has written back what a fill left dirty:
    right after one, every commit's fsync queues behind gigabytes of writeback, a cost of
    the fill and not of the table's size. Returns what it found and how long it waited."""
    started, found = time.monotonic(), dirty_mb()
    while dirty_mb() > quiet_mb and time.monotonic() - started < limit:
        time.sleep(1)
    return {"dirty_mb_after_fill": found, "settle_s": round(time.monotonic() - started, 1)}


def table_figures(db):
    """Rows, size with indexes and heap, and what autovacuum saw and did."""
    (rows,) = query(db, f"SELECT count(*) FROM {TABLE}")[0]  # noqa: S608 (a constant)
    (total, heap) = query(db, "SELECT pg_total_relation_size(%s), pg_relation_size(%s)", (TABLE, TABLE))[0]
    _, checkpoints, dead, autovacuums, _ = query(db, COUNTERS, (TABLE,))[0]
    return {"rows": rows, "total_mb": round(total / 2**20), "heap_mb": round(heap / 2**20), "dead_tuples": dead,
            "autovacuum_count": autovacuums, "checkpoints_so_far": checkpoints}  # fmt: skip


def sample_ids(db, count, rows):
    """`count` ids drawn across the whole table: a Bernoulli sample of about twice as many rows,
    shuffled (LIMIT alone would keep the sample's first, physically lowest, rows)."""
    share = min(100.0, 200.0 * count / max(rows, 1))
    sql = f"SELECT task_id FROM {TABLE} TABLESAMPLE BERNOULLI (%s) ORDER BY random() LIMIT %s"  # noqa: S608
    return [task_id for (task_id,) in query(db, sql, (share, count))]


# -- GET /tasks/<id>/


def read_status(url, task_id):
    with urllib.request.urlopen(f"{url}/tasks/{task_id}/", timeout=10) as answer:  # noqa: S310 (loopback)
        return answer.status, json.load(answer).get("task_status")


def check_ids(url, ids):
    wrong = [(task_id, found) for task_id in ids[:20] if (found := read_status(url, task_id)) != (200, "SUCCESS")]
    if wrong or not ids:
        raise SystemExit(f"table-growth: sampled ids do not read 200 SUCCESS: {wrong[:3] or 'no ids'}")


def get_run(url, ids, name, seconds):
    """One wrk run at 8 connections over the sampled ids (written to a file wrk/status.lua reads)."""
    from . import load

    path = Path(os.environ["RUN_DIR"]) / "state" / f"table_growth_ids_{name}.txt"
    path.write_text("\n".join(ids) + "\n")
    os.environ["BENCH_TASK_IDS"] = str(path)  # read by wrk/status.lua
    return load.wrk(url + "/tasks/", 8, seconds, script=STATUS_SCRIPT)


def get_figures(runs):
    """The (lower) median of each figure over the runs."""
    keep = ("rps", "p50_ms", "p99_ms", "requests", "cpu_percent")  # cpu_percent: "other" is load from outside
    median = {name: sorted(run[name] for run in runs)[(len(runs) - 1) // 2] for name in ("rps", "p50_ms", "p99_ms")}
    kinds = sum((Counter(run["error_kinds"]) for run in runs), Counter())
    return {**median, "max_ms": max(run["max_ms"] for run in runs), "errors": sum(run["errors"] for run in runs),
            "error_kinds": dict(kinds), "runs": [{name: run[name] for name in keep} for run in runs]}  # fmt: skip


def measure_size(stack, db, baseline, baseline_db, size, args):
    """End to end and GET at this size, each round right after one on the baseline stack
    (the project's settings, its results table emptied before each of its rounds): a slow
    moment of the shared machine lands on both sides of the ratio, or on neither."""
    from .stack import e2e_in_turns

    e2e, baseline_e2e = e2e_in_turns(baseline, stack, args.tasks, args.publishers, args.rounds, keep_results=True)
    table = table_figures(db)
    ids = sample_ids(db, args.sample, table["rows"])
    base_ids = sample_ids(baseline_db, args.sample, table_figures(baseline_db)["rows"])
    check_ids(stack.url, ids)
    check_ids(baseline.url, base_ids)
    # The status query itself (Django's get() by task_id), outside the load: its plan and buffers.
    sql = f"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM {TABLE} WHERE task_id = %s LIMIT 21"  # noqa: S608
    plan = [line for (line,) in query(db, sql, (ids[-1],))]
    get_run(baseline.url, base_ids, "baseline", 2)  # warm-up: connections, caches of this size
    get_run(stack.url, ids, "table", 2)
    gets = {"baseline": [], "table": []}
    for _ in range(args.get_repeats):
        gets["baseline"].append(get_run(baseline.url, base_ids, "baseline", args.get_seconds))
        gets["table"].append(get_run(stack.url, ids, "table", args.get_seconds))
    row = {"synthetic_rows": size, **table, "loadavg_1m": os.getloadavg()[0]}
    row |= {"get": get_figures(gets["table"]), "e2e": e2e}
    row |= {"baseline_get": get_figures(gets["baseline"]), "baseline_e2e": baseline_e2e}
    return {**row, "get_plan": plan}, ids


# -- The cleanup under load: three children, spawned (fresh interpreters with the bench's
#    environment: no GIL or state shared with this process), each sends one result back.
#    Probe samples are (wall time at start, seconds).


def paced(stop, interval, seconds):
    """Yields every `interval` seconds (late ones at once) until `stop` is set or `seconds` passed."""
    started = time.monotonic()
    for index in range(int(seconds / interval)):
        if stop.wait(max(0.0, started + index * interval - time.monotonic())):
            return
        yield


def publish_steadily(out, stop, rate, seconds):
    import django

    django.setup()
    from workflow.tasks import create_task

    submitted, errors = {}, Counter()
    for _ in paced(stop, 1 / rate, seconds):
        try:
            submitted[create_task.apply_async((0,)).id] = time.time()
        except Exception as error:  # counted: a failed publish is an outcome too
            errors[type(error).__name__] += 1
    out.send({"submitted": submitted, "errors": dict(errors)})


def write_probe(out, stop, interval, seconds):
    """A result stored every `interval` as a worker stores it (one upsert, autocommit)."""
    import django

    django.setup()
    from django.db import DatabaseError

    from taskqueue.models import StoredTaskResult

    samples, errors = [], Counter()
    for _ in paced(stop, interval, seconds):
        at, begun = time.time(), time.perf_counter()
        try:
            StoredTaskResult.objects.store_result(
                "application/json", "utf-8", str(uuid.uuid4()), "true", "SUCCESS", task_name="bench.write_probe",
                task_args="[0]", task_kwargs="{}", worker="writeprobe@host", meta='{"children": []}',
                traceback=None, periodic_task_name=None)  # fmt: skip
        except DatabaseError as error:
            errors[type(error).__name__] += 1
        samples.append((at, time.perf_counter() - begun))
    out.send({"samples": samples, "errors": dict(errors)})


def backend_cleanup(out, stop):
    """What a worker runs when beat sends celery.backend_cleanup: app.backend.cleanup(), i.e.
    django-celery-results' delete_expired. Its SQL, time and this process's peak RSS."""
    import resource

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from config.celery import app

    task = app.tasks["celery.backend_cleanup"]
    connection.ensure_connection()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with CaptureQueriesContext(connection) as queries:
        started, begun = time.time(), time.perf_counter()
        task()
        seconds = time.perf_counter() - begun
    out.send({"started": started, "ended": time.time(), "seconds": round(seconds, 2),
              "backend": type(app.backend).__name__, "statements": [q["sql"][:300] for q in queries.captured_queries],
              "rss_before_mb": rss_before // 1024,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024})  # fmt: skip


def start_child(context, target, *args):
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(sender, *args), name=target.__name__, daemon=True)
    process.start()
    return process, receiver


def child_result(child, seconds):
    process, receiver = child
    if not receiver.poll(seconds):
        process.kill()
        raise RuntimeError(f"table-growth: {process.name} sent nothing in {seconds:.0f} s")
    result = receiver.recv()
    process.join(10)
    return result


def get_probe(url, ids, stop, samples, interval=0.05):
    """GET a random sampled id every `interval` until stopped (bounded: an hour)."""
    for _ in paced(stop, interval, 3600):
        at, begun = time.time(), time.perf_counter()
        try:
            ok = read_status(url, random.choice(ids)) == (200, "SUCCESS")
        except (OSError, ValueError):  # HTTPError and timeouts are OSErrors
            ok = False
        samples.append((at, time.perf_counter() - begun, ok))


def window(samples, start, end):
    """p50, p99, max (ms) and stalls over 1 s of the samples that started in [start, end)."""
    seconds = [sample[1] for sample in samples if start <= sample[0] < end]
    if not seconds:
        return {"count": 0}
    return {"count": len(seconds), "p50_ms": round(percentile(seconds, 0.5) * 1000, 1),
            "p99_ms": round(percentile(seconds, 0.99) * 1000, 1), "max_ms": round(max(seconds) * 1000, 1),
            "over_1s": sum(1 for s in seconds if s > 1)}  # fmt: skip


def add_expired(db, args, expires):
    """args.expired rows 1 to 7 days past their expiry, vacuumed; their count and the DELETE's plan."""
    figures = {"expired_inserted": args.expired, "expires_s": expires}
    figures["fill_s"] = grow(db, "expired", 0, args.expired, expires + DAY, expires + 7 * DAY, args.chunk)
    figures["vacuum_s"] = vacuum(db)
    figures.update(settle())
    figures["table_before"] = table_figures(db)
    figures["delete_plan"] = [line for (line,) in query(db, f"EXPLAIN DELETE {EXPIRED}", (expires,))]
    return figures


def cleanup_under_load(stack, db, args, ids):
    from django.conf import settings

    expires = settings.CELERY_RESULT_EXPIRES
    figures = add_expired(db, args, expires)
    count_expired = f"SELECT count(*) {EXPIRED}"  # noqa: S608 (a constant)
    (expired_before,) = query(db, count_expired, (expires,))[0]
    lsn, checkpoints, *_ = query(db, COUNTERS, (TABLE,))[0]
    context, limit = multiprocessing.get_context("spawn"), args.before + args.cleanup_timeout + 60
    stop, done = context.Event(), done_file_from_now()
    publisher = start_child(context, publish_steadily, stop, args.load_rate, limit)
    writer = start_child(context, write_probe, stop, 0.02, limit)
    get_samples, get_stop = [], threading.Event()
    getter = threading.Thread(target=get_probe, args=(stack.url, ids, get_stop, get_samples), daemon=True)
    getter.start()
    try:
        time.sleep(args.before)
        cleanup = child_result(start_child(context, backend_cleanup, stop), args.cleanup_timeout)
        time.sleep(args.after)
    finally:
        stop.set()
        get_stop.set()
    published, writes = child_result(publisher, 60), child_result(writer, 60)
    getter.join(15)
    (expired_after,) = query(db, count_expired, (expires,))[0]
    (wal,) = query(db, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn,))[0]
    _, checkpoints_after, dead, _, last_autovacuum = query(db, COUNTERS, (TABLE,))[0]
    times = wait_for_done(done, published["submitted"].keys(), 180)
    latencies = [times[i] - at for i, at in published["submitted"].items() if i in times]
    start, end = cleanup["started"], cleanup["ended"]
    before = (start - args.before + 3, start)  # the probes' first 3 s (their start-up) left out
    # The slowest result write of each second from the cleanup's start: the stalls, compactly.
    slowest = {}
    for at, seconds in writes["samples"]:
        slowest[int((at - start) // 1)] = max(slowest.get(int((at - start) // 1), 0), round(seconds * 1000, 1))
    return {**figures, "cleanup": cleanup, "rows_deleted": expired_before - expired_after,
            "expired_left": expired_after, "wal_mb": round(float(wal) / 2**20),
            "checkpoints": checkpoints_after - checkpoints, "dead_tuples_after": dead,
            "last_autovacuum": last_autovacuum,
            "writes": {"before": window(writes["samples"], *before), "during": window(writes["samples"], start, end),
                       "after": window(writes["samples"], end, end + args.after), "errors": writes["errors"]},
            "gets": {"before": window(get_samples, *before), "during": window(get_samples, start, end),
                     "not_success": sum(1 for sample in get_samples if not sample[2])},
            "load": {"rate": args.load_rate, "submitted": len(published["submitted"]),
                     "publish_errors": published["errors"], "done": len(latencies),
                     "e2e_p99_ms": round(percentile(latencies, 0.99) * 1000) if latencies else None},
            "table_after": table_figures(db), "slowest_write_per_second": sorted(slowest.items())}  # fmt: skip


# -- Report


def ratios(sizes):
    """Each size against the baseline measured in turns with it (targets: GET p99 <= 1.2x, e2e >= 0.9x)."""
    for row in sizes:
        row["get_p99_ratio"] = round(row["get"]["p99_ms"] / row["baseline_get"]["p99_ms"], 2)
        row["e2e_ratio"] = round(row["e2e"]["tasks_per_s"] / row["baseline_e2e"]["tasks_per_s"], 2)
        get_met, e2e_met = row["get_p99_ratio"] <= GET_P99_BOUND, row["e2e_ratio"] >= E2E_BOUND
        row["met"] = get_met and e2e_met and not row["get"]["errors"]


def _figures(w):
    return f"{w.get('p50_ms')} / {w.get('p99_ms')} / {w.get('max_ms')} ({w['count']})"


def markdown(results):
    header = (
        "| rows in table | fill s | table+indexes MB | GET req/s | GET p50 ms | GET p99 ms (baseline) "
        "| p99 ratio (<=1.2) | GET errors | e2e tasks/s (baseline) | e2e ratio (>=0.9) |"
    )
    lines = [header, "|" + "--:|" * 10]
    for row in results["sizes"]:
        get, base = row["get"], row["baseline_get"]
        lines.append(f"| {row['rows']:,} | {row['fill_s']} | {row['total_mb']:,} | {get['rps']:.0f} "
                     f"| {get['p50_ms']:.2f} | {get['p99_ms']:.2f} ({base['p99_ms']:.2f}) | {row['get_p99_ratio']:.2f} "
                     f"| {get['errors']} | {row['e2e']['tasks_per_s']:.0f} ({row['baseline_e2e']['tasks_per_s']:.0f}) "
                     f"| {row['e2e_ratio']:.2f} |")  # fmt: skip
    if c := results.get("cleanup"):
        before, after, run, load = c["table_before"], c["table_after"], c["cleanup"], c["load"]
        rows = [
            ("rows deleted (expired left)", f"{c['rows_deleted']:,} ({c['expired_left']:,})"),
            ("table before / after", f"{before['rows']:,} rows, {before['total_mb']:,} MB / "
             f"{after['rows']:,} rows, {after['total_mb']:,} MB, {c['dead_tuples_after']:,} dead"),
            ("cleanup: seconds, SQL statements", f"{run['seconds']} s, {len(run['statements'])}"),
            ("cleanup process RSS: after start-up / peak", f"{run['rss_before_mb']} / {run['peak_rss_mb']} MB"),
            ("WAL written, checkpoints (while the probes ran)", f"{c['wal_mb']:,} MB, {c['checkpoints']}"),
            ("result writes before: p50 / p99 / max ms (n)", _figures(c["writes"]["before"])),
            ("result writes during: p50 / p99 / max ms (n)", _figures(c["writes"]["during"])),
            ("result writes over 1 s during (target 0); errors", f"{c['writes']['during'].get('over_1s')}; "
             f"{c['writes']['errors']}"),
            ("GET before: p50 / p99 / max ms (n)", _figures(c["gets"]["before"])),
            ("GET during: p50 / p99 / max ms (n); not 200 SUCCESS", f"{_figures(c['gets']['during'])}; "
             f"{c['gets']['not_success']}"),
            (f"background tasks at {load['rate']:g}/s: submitted / done; publish errors; e2e p99",
             f"{load['submitted']} / {load['done']}; {load['publish_errors']}; {load['e2e_p99_ms']} ms"),
        ]  # fmt: skip
        lines += ["", "| cleanup under load | |", "|---|--:|", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join(lines)


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "table_growth"  # the same figures give the same file
    sizes, cleanup = results["sizes"], results.get("cleanup")
    figure, axes = plt.subplots(1, 3 if cleanup else 2, figsize=(14 if cleanup else 10, 4.5))
    rows = [row["rows"] / 1e6 for row in sizes]
    for name, style in (("p99_ms", "-"), ("p50_ms", "--")):
        axes[0].plot(rows, [row["get"][name] for row in sizes], marker="o", linestyle=style, label=name[:3])
    # Hollow markers: the baseline (an almost empty table) measured in turns with each size.
    axes[0].scatter(rows, [row["baseline_get"]["p99_ms"] for row in sizes], facecolors="none",
                    edgecolors="tab:blue", label="p99, baseline in turns")  # fmt: skip
    axes[0].plot(rows, [row["baseline_get"]["p99_ms"] * GET_P99_BOUND for row in sizes], color="tab:red",
                 alpha=0.4, label="1.2x baseline p99")  # fmt: skip
    axes[0].set(title="GET /tasks/<id>/, wrk c=8", ylabel="ms", ylim=(0, None))
    axes[1].plot(rows, [row["e2e"]["tasks_per_s"] for row in sizes], marker="o", label="tasks/s")
    axes[1].scatter(rows, [row["baseline_e2e"]["tasks_per_s"] for row in sizes], facecolors="none",
                    edgecolors="tab:blue", label="baseline in turns")  # fmt: skip
    axes[1].plot(rows, [row["baseline_e2e"]["tasks_per_s"] * E2E_BOUND for row in sizes], color="tab:red",
                 alpha=0.4, label="0.9x baseline")  # fmt: skip
    axes[1].set(title="end to end", ylabel="tasks/s", ylim=(0, None))
    for axis in axes[:2]:
        axis.set_xlabel("rows in table, millions")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    if cleanup:
        timeline, seconds = cleanup["slowest_write_per_second"], cleanup["cleanup"]["seconds"]
        axes[2].step([t for t, _ in timeline], [ms for _, ms in timeline], where="post", label="slowest write per s")
        axes[2].axvspan(0, seconds, color="tab:orange", alpha=0.2, label=f"cleanup, {seconds} s")
        axes[2].axhline(1000, color="tab:red", alpha=0.4, label="1 s")
        axes[2].set(title=f"result writes, cleanup of {cleanup['rows_deleted']:,} rows", yscale="log",
                    xlabel="seconds from the cleanup's start", ylabel="ms (log)")  # fmt: skip
        axes[2].legend(fontsize="small")
    figure.suptitle(f"Results table growth, {results['started_at']}, {results['machine']['cores']} cores")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)


def main():
    from django.conf import settings

    from . import machine, output
    from .stack import Stack, baseline_env, variant_env

    args = arguments()
    started = time.monotonic()
    parameters = {**vars(args), "out": str(args.out)}
    results = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "parameters": parameters, "sizes": []}
    with Stack(baseline_env()) as baseline, Stack(variant_env({})) as stack:
        results["machine"] = machine.describe(stack.env)
        for env in (baseline.env, stack.env):
            truncate_results(env)
        db, baseline_db = connect(stack.env), connect(baseline.env)
        try:
            warm_up(baseline)
            warm_up(stack)
            results["worker_row"] = worker_row(db)
            synthetic, ids, live_age = 0, [], settings.CELERY_RESULT_EXPIRES - DAY / 2  # none expires in the run
            for size in sorted(int(size) for size in args.sizes.split(",")):
                fill_s = grow(db, "live", synthetic, size, 0, live_age, args.chunk)
                synthetic, vacuum_s = size, vacuum(db)
                settled = settle()
                row, ids = measure_size(stack, db, baseline, baseline_db, size, args)
                results["sizes"].append({**row, "fill_s": fill_s, "vacuum_s": vacuum_s, **settled})
                print(f"  {row['rows']:>10,} rows  {row['total_mb']:>6,} MB  fill {fill_s} s  GET p99 "
                      f"{row['get']['p99_ms']:.2f} ms (baseline {row['baseline_get']['p99_ms']:.2f})  "
                      f"errors {row['get']['errors']}  e2e {row['e2e']['tasks_per_s']:.0f} tasks/s (baseline "
                      f"{row['baseline_e2e']['tasks_per_s']:.0f})  (dirty {settled['dirty_mb_after_fill']} MB "
                      f"after the fill, settled in {settled['settle_s']} s)", flush=True)  # fmt: skip
            if args.expired:
                results["cleanup"] = cleanup_under_load(stack, db, args, ids)
        finally:
            for env in (baseline.env, stack.env):
                truncate_results(env)
            db.close()
            baseline_db.close()
    ratios(results["sizes"])
    results["duration_s"] = round(time.monotonic() - started)
    output.save(results, args.out, chart, markdown, results["duration_s"])


if __name__ == "__main__":
    main()
