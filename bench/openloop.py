"""Latency at fixed offered loads: an open-loop load generator for POST /tasks/ and its sweep.

    bench/run openloop [--fractions 0.25,0.5,...] [--seconds S] [--warmup W] [--max-rate R]
                       [--max-connections 32] [--connections 256] [--timeout 5] [--out FILE]

Open loop: request i is due at t0 + i/R, whatever happened to the ones before it. Each
request runs on its own (asyncio, a pool of keep-alive connections, up to --connections at
once), so a slow answer never holds back the next send. A closed-loop generator (wrk: each
connection sends its next request when the last one is answered) slows down with the server:
while the server stalls it stops sending, and the requests that would have waited are never
timed ("coordinated omission"). Here latency runs from the *due* time, not the send, so time spent waiting for
a connection or for this process counts too.

Every request ends in exactly one outcome: its status ("202" only with a task id in the
body, "503", any other code), "timeout" (no whole answer within --timeout of its due time)
or "error <kind>" (connection refused, closed or reset, an answer that is not HTTP).
Latency percentiles take every answer (any status) and every timeout, counted at the
timeout, a lower bound; connection errors are counted, not timed.

End to end (POST due time -> the task done): the bench's one definition of done, the
worker's task_postrun time that bench/done appends to BENCH_DONE_FILE after the result row
is written; a GET from then on reads SUCCESS. Reading that file costs the stack nothing.
After the sweep, one more step at --poll-at checks those times against the API's own
answer: a sample of its accepted tasks (--poll-sample) is polled with GET /tasks/<id>/ every
--poll-interval until it reads SUCCESS. Its GETs add load, so that step is kept apart from
the sweep's figures.

The sweep (the project's settings, workers running as in production): the maximum rate is
wrk's POST /tasks/ req/s at --max-connections (median of --max-repeats runs, or --max-rate),
then one open-loop step per fraction, each from an empty results table and a drained queue.
Writes bench/results/openloop.json and openloop.svg and prints a markdown table.
"""

import argparse
import asyncio
import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

RESULTS = Path(__file__).with_name("results")
TASK_BODY = '{"type": 0}'  # the seeds' no-op task type
FRACTIONS = (0.25, 0.5, 0.65, 0.8, 0.9, 1.0, 1.1)
POST_P99_GOAL_MS = 50  # at 50% of the maximum rate
E2E_P99_GOAL_MS = 250  # at 50% of the maximum rate
PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p99_9", 0.999))


def percentile(values, fraction):
    """Nearest rank: the smallest value with at least `fraction` of them at or below it
    (p50 of 1..100 is 50, p99.9 of 1..1000 is 999). None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def distribution_ms(seconds):
    """p50, p90, p99, p99.9, max and mean (ms) of durations in seconds, and how many."""
    ordered = sorted(seconds)
    figures = {"count": len(ordered)}
    for name, fraction in PERCENTILES:
        value = percentile(ordered, fraction)
        figures[f"{name}_ms"] = None if value is None else round(value * 1000, 2)
    figures["max_ms"] = round(ordered[-1] * 1000, 2) if ordered else None
    figures["mean_ms"] = round(sum(ordered) / len(ordered) * 1000, 2) if ordered else None
    return figures


# -- A minimal HTTP/1.1 client over asyncio streams, keep-alive, one request at a time per
#    connection. It reads exactly what nginx and http.server send: Content-Length, chunked,
#    or a body up to the connection's end.


class Closed(Exception):
    """The connection ended before a whole answer."""


class ProtocolError(Exception):
    """An answer this client cannot read as HTTP/1.x."""


def request_bytes(method, path, host, body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench-openloop\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _line(reader):
    try:
        line = await reader.readline()
    except ValueError as error:  # longer than the stream's limit
        raise ProtocolError("line too long") from error
    if not line.endswith(b"\n"):
        raise Closed
    return line


async def _exactly(reader, size):
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as error:
        raise Closed from error


async def read_answer(reader):
    """(status, body, keep_alive) of one answer."""
    while True:
        parts = (await _line(reader)).split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError("not an HTTP/1.x status line")
        version, status = parts[0], int(parts[1])
        headers = {}
        while (line := await _line(reader)) not in (b"\r\n", b"\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if status >= 200:
            break  # an interim 1xx answer is followed by the real one
    connection = headers.get(b"connection", b"")
    keep_alive = connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        chunks = []
        while size := int((await _line(reader)).split(b";")[0], 16):
            chunks.append((await _exactly(reader, size + 2))[:-2])
        while await _line(reader) not in (b"\r\n", b"\n"):
            pass  # trailers
        return status, b"".join(chunks), keep_alive
    if b"content-length" in headers:
        return status, await _exactly(reader, int(headers[b"content-length"])), keep_alive
    if status in (204, 304):
        return status, b"", keep_alive
    return status, await reader.read(), False  # the body runs to the connection's end


class Pool:
    """Up to `size` keep-alive connections to one server; a request that finds them all busy
    waits for one (counted in `waited`), inside its own deadline."""

    def __init__(self, host, port, size):
        self.host, self.port = host, port
        self.slots = asyncio.Semaphore(size)
        self.idle = []
        self.opened = 0
        self.waited = 0

    async def exchange(self, data):
        """Send one request, read its answer: (status, body, monotonic time of the send)."""
        if self.slots.locked():
            self.waited += 1
        async with self.slots:
            if self.idle:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                self.opened += 1
            keep = False
            try:
                writer.write(data)
                sent = asyncio.get_running_loop().time()
                await writer.drain()
                status, body, keep = await read_answer(reader)
            finally:
                # Cancelled (a deadline) or failed halfway: the connection's state is unknown.
                if keep:
                    self.idle.append((reader, writer))
                else:
                    writer.close()
            return status, body, sent

    def close(self):
        while self.idle:
            self.idle.pop()[1].close()


# -- The generator


@dataclass(slots=True)
class Record:
    due: float  # monotonic: when the schedule said to send it
    sent: float | None = None  # when it was written to a connection (None: never sent)
    answered: float | None = None  # when its outcome was known (answer, error or deadline)
    outcome: str = ""
    task_id: str | None = None


def classify(status, body):
    """(outcome, task id) of an HTTP answer to POST /tasks/."""
    if status == 202:
        try:
            task_id = json.loads(body)["task_id"]
        except (ValueError, KeyError, TypeError):
            return "202 without a task id", None
        if isinstance(task_id, str) and task_id:
            return "202", task_id
        return "202 without a task id", None
    return str(status), None


def task_status(body):
    """task_status of a GET /tasks/<id>/ answer (None when the body does not hold one)."""
    try:
        found = json.loads(body)
    except ValueError:
        return None
    return found.get("task_status") if isinstance(found, dict) else None


class OpenLoop:
    """POST `body` to `url` at `rate` requests/s for `warmup` + `seconds` seconds, on a fixed
    schedule; figures cover the `seconds` after the warm-up. `run()` returns self."""

    def __init__(self, url, rate, seconds, *, warmup=0.0, timeout=5.0, connections=256, body=TASK_BODY,
                 path="/tasks/", poll_sample=0, poll_interval=0.005, poll_timeout=30.0):  # fmt: skip
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url}: only http://host:port URLs")
        if rate <= 0 or seconds < 0 or warmup < 0:
            raise ValueError(f"rate {rate}/s for {seconds} s after {warmup} s: a positive rate, no negative time")
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.rate, self.seconds, self.warmup, self.timeout = rate, seconds, warmup, timeout
        self.connections = connections
        hostport = f"{self.host}:{self.port}"
        self.request = request_bytes("POST", self.prefix + path, hostport, body.encode())
        self.get_request = lambda task_id: request_bytes("GET", f"{self.prefix}/tasks/{task_id}/", hostport)
        self.total = max(1, round((warmup + seconds) * rate))  # the run's bound in count
        self.records = [Record(0.0) for _ in range(self.total)]
        # GET polls: about `poll_sample` accepted tasks spread over the measured window.
        self.poll_every = max(1, round(seconds * rate / poll_sample)) if poll_sample else 0
        self.poll_interval, self.poll_timeout = poll_interval, poll_timeout
        self.polls = []  # one dict per polled task
        self.t0 = self.wall_offset = None

    def run(self):
        try:
            asyncio.run(self._run())
        except TimeoutError as error:
            raise RuntimeError("openloop: the run outlived its bound (every request has its own deadline)") from error
        self._check()
        return self

    async def _run(self):
        loop = asyncio.get_running_loop()
        self.pool = Pool(self.host, self.port, self.connections)
        self.poll_pool = Pool(self.host, self.port, 16)
        self.poll_tasks = []
        # The run's bound in time: the last due time, its deadline and its poll, then a margin.
        bound = (self.total / self.rate) + self.timeout + (self.poll_timeout if self.poll_every else 0) + 30
        try:
            async with asyncio.timeout(bound):
                self.t0 = loop.time() + 0.05  # a moment to set up before the first due time
                self.wall_offset = time.time() - loop.time()
                requests = []
                for index in range(self.total):
                    due = self.t0 + index / self.rate
                    # sleep(0) when late: requests already due still go out at once, and the
                    # answers are read in between.
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    requests.append(loop.create_task(self._one(index, due)))
                await asyncio.gather(*requests)
                await asyncio.gather(*self.poll_tasks)
        finally:
            self.pool.close()
            self.poll_pool.close()

    async def _one(self, index, due):
        record = self.records[index]
        record.due = due
        try:
            async with asyncio.timeout_at(due + self.timeout):
                status, body, record.sent = await self.pool.exchange(self.request)
            record.outcome, record.task_id = classify(status, body)
        except TimeoutError:  # before OSError: the deadline's TimeoutError is one
            record.outcome = "timeout"
        except Closed:
            record.outcome = "error closed"
        except (OSError, ProtocolError, ValueError) as error:
            record.outcome = f"error {type(error).__name__}"
        record.answered = asyncio.get_running_loop().time()
        measured = index - round(self.warmup * self.rate)
        if record.task_id and self.poll_every and measured >= 0 and measured % self.poll_every == 0:
            self.poll_tasks.append(asyncio.get_running_loop().create_task(self._poll(record)))

    async def _poll(self, record):
        """GET /tasks/<id>/ until it reads SUCCESS: when that answer came, and how many GETs."""
        poll = {"task_id": record.task_id, "due": record.due, "success_at": None, "gets": 0, "outcome": ""}
        try:
            async with asyncio.timeout_at(record.due + self.poll_timeout):
                while True:
                    status, body, _ = await self.poll_pool.exchange(self.get_request(record.task_id))
                    poll["gets"] += 1
                    if status == 200 and task_status(body) == "SUCCESS":
                        poll["success_at"], poll["outcome"] = asyncio.get_running_loop().time(), "SUCCESS"
                        break
                    await asyncio.sleep(self.poll_interval)
        except TimeoutError:
            poll["outcome"] = "timeout"
        except Closed:
            poll["outcome"] = "error closed"
        except (OSError, ProtocolError, ValueError) as error:
            poll["outcome"] = f"error {type(error).__name__}"
        self.polls.append(poll)

    def _check(self):
        unfinished = sum(1 for record in self.records if not record.outcome)
        if unfinished:
            raise RuntimeError(f"openloop: {unfinished} of {self.total} requests have no outcome")

    # -- Figures

    @property
    def measured(self):
        """The records of the measured window (after the warm-up)."""
        return self.records[round(self.warmup * self.rate) :]

    def accepted(self, measured_only=True):
        """{task id: due time on the wall clock} of the 202 answers."""
        records = self.measured if measured_only else self.records
        return {r.task_id: r.due + self.wall_offset for r in records if r.outcome == "202"}

    def summary(self):
        records = self.measured
        outcomes = Counter(record.outcome for record in records)
        timed = [r.answered - r.due for r in records if r.outcome[0].isdigit()]
        timed += [self.timeout] * outcomes["timeout"]
        sends = [r.sent for r in records if r.sent is not None]
        lag = [r.sent - r.due for r in records if r.sent is not None]
        answers = [r.answered for r in records if r.outcome == "202"]
        first_due = records[0].due if records else 0.0
        statuses = {k: n for k, n in outcomes.items() if k[0].isdigit() and k not in ("202", "503")}
        return {
            "offered_rps": round(self.rate, 1),
            "requests": len(records),
            # Sends per second, first to last: the generator kept its schedule when ~offered.
            "sent_rps": round((len(sends) - 1) / (max(sends) - min(sends)), 1) if len(sends) > 1 else None,
            # 202 answers per second, from the window's first due time to its last answer.
            "throughput_rps": round(len(answers) / (max(answers) - first_due), 1) if answers else 0.0,
            "latency": distribution_ms(timed),
            "outcomes": dict(sorted(outcomes.items())),
            "accepted": outcomes["202"],
            "refused_503": outcomes["503"],
            "other_status": sum(statuses.values()),
            "errors": sum(n for k, n in outcomes.items() if k.startswith("error")),
            "timeouts": outcomes["timeout"],
            # How late this process wrote requests: a large figure means the generator, not
            # the server, was short of CPU (the delay is still in the latency above).
            "send_lag": {"p99_ms": round(percentile(lag, 0.99) * 1000, 2), "max_ms": round(max(lag) * 1000, 2)}
            if lag
            else None,
            "connections_opened": self.pool.opened,
            "waited_for_a_connection": self.pool.waited,
        }

    def poll_summary(self, done_times=None):
        """The GET polls: how many read SUCCESS, due time -> that answer, and (with the done
        file's {task id: wall time}) how long after the worker's done time the GET read it."""
        readable = [p for p in self.polls if p["outcome"] == "SUCCESS"]
        figures = {
            "sampled": len(self.polls),
            "read_success": len(readable),
            "outcomes": dict(Counter(p["outcome"] for p in self.polls)),
            "gets": sum(p["gets"] for p in self.polls),
            "latency": distribution_ms([p["success_at"] - p["due"] for p in readable]),
        }
        if done_times is not None:
            gaps = [p["success_at"] + self.wall_offset - done_times[p["task_id"]] for p in readable
                    if p["task_id"] in done_times]  # fmt: skip
            figures["after_done"] = distribution_ms(gaps)
        return figures


def end_to_end(accepted, done_times):
    """Due time -> done time of each accepted task ({id: wall time} both); missing ones counted."""
    done = [done_times[task_id] - due for task_id, due in accepted.items() if task_id in done_times]
    return {"tasks": len(accepted), "not_done": len(accepted) - len(done), "latency": distribution_ms(done)}


# -- The sweep against the bench stack (bench/run openloop)


def arguments(argv=None):
    parser = argparse.ArgumentParser(prog="bench/run openloop", description=__doc__.split("\n")[0])
    parser.add_argument("--fractions", default=",".join(map(str, FRACTIONS)), help="of the maximum rate")
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=2, help="seconds at the step's rate before it, not counted")
    parser.add_argument("--max-rate", type=float, help="req/s taken as the maximum (no wrk runs)")
    parser.add_argument("--max-connections", default="32", help="wrk connection counts; the best median wins")
    parser.add_argument("--max-seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--max-repeats", type=int, default=3, help="wrk runs per connection count; the median")
    parser.add_argument("--connections", type=int, default=256, help="the generator's connection limit")
    parser.add_argument("--timeout", type=float, default=5, help="seconds from a request's due time")
    parser.add_argument("--poll-at", type=float, default=0.5, help="the fraction of the GET check step")
    parser.add_argument("--poll-seconds", type=float, default=10, help="measured seconds of the GET check step")
    parser.add_argument("--poll-sample", type=int, default=100, help="tasks polled with GET (0: no check step)")
    parser.add_argument("--poll-interval", type=float, default=0.005, help="seconds between a task's GETs")
    parser.add_argument("--drain-timeout", type=float, default=120, help="seconds to wait for a step's tasks")
    parser.add_argument("--out", type=Path, default=RESULTS / "openloop.json")
    parser.add_argument("--label", default="", help="a note stored with the results")
    return parser.parse_args(argv)


def wait_for_done(done_file, task_ids, seconds):
    """The done file's {task id: time} once all of task_ids are in it, or when `seconds` passed."""
    deadline = time.monotonic() + seconds
    while not task_ids <= (times := done_file.read()).keys() and time.monotonic() < deadline:
        time.sleep(0.1)
    return times


def done_file_from_now(path=None):
    """The done file (this bench stack's unless `path` names another's), read from its end."""
    from .e2e import DoneFile

    path = path or os.environ["BENCH_DONE_FILE"]
    done = DoneFile(path)
    if os.path.exists(path):  # earlier lines skipped: start after the file's last whole line
        with open(path, "rb") as file:
            end = file.seek(0, os.SEEK_END)
            file.seek(max(0, end - 4096))
            tail = file.read()
        done.offset = end - len(tail) + tail.rfind(b"\n") + 1
    return done


def truncate_results(env):
    import psycopg2

    with psycopg2.connect(env["DATABASE_URL"], connect_timeout=5) as connection, connection.cursor() as cursor:
        cursor.execute("TRUNCATE django_celery_results_taskresult")


def warm_up(stack):
    """200 tasks at 50/s, waited for: the workers answer, every process has imported and
    connected before anything is measured."""
    done = done_file_from_now(stack.env["BENCH_DONE_FILE"])
    run = OpenLoop(stack.url, 50, 4).run()
    accepted = run.accepted()
    if len(accepted) != run.total:
        raise SystemExit(f"openloop: warm-up: {run.summary()['outcomes']}")
    if not accepted.keys() <= wait_for_done(done, accepted.keys(), 90).keys():
        raise SystemExit("openloop: warm-up tasks not done after 90 s: are the workers up?")


def measure_max(stack, args):
    """wrk's POST /tasks/ req/s, workers running (closed loop: the rate the stack sustains)."""
    from . import load

    load.wrk(stack.url + "/tasks/", 32, 2, TASK_BODY)  # warm-up: connections, caches
    stack.purge_queue()
    rows = []
    for connections in (int(count) for count in args.max_connections.split(",")):
        runs = []
        for _ in range(args.max_repeats):
            runs.append(load.wrk(stack.url + "/tasks/", connections, args.max_seconds, TASK_BODY))
            stack.purge_queue()
            time.sleep(1)
        row = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
        row["rps_runs"] = [run["rps"] for run in runs]
        print(f"  max: wrk c={connections:<3} {row['rps']:>6.0f} req/s  runs {row['rps_runs']}", flush=True)
        rows.append(row)
    return max(rows, key=lambda row: row["rps"])["rps"], rows


def step(stack, fraction, rate, args, seconds=None, poll_sample=0):
    """One open-loop run from an empty results table, then its tasks waited for."""
    from . import cpu

    truncate_results(stack.env)
    done = done_file_from_now()
    generator = OpenLoop(stack.url, rate, seconds or args.seconds, warmup=args.warmup, timeout=args.timeout,
                         connections=args.connections, poll_sample=poll_sample,
                         poll_interval=args.poll_interval)  # fmt: skip
    before, started = cpu.snapshot(), time.monotonic()
    generator.run()
    profile = cpu.usage(before, cpu.snapshot(), time.monotonic() - started)
    # Every accepted task, warm-up's included, is waited for: the next step starts drained.
    everything = generator.accepted(measured_only=False)
    times = wait_for_done(done, everything.keys(), args.drain_timeout)
    stack.purge_queue()  # what did not finish in time must not run into the next step
    row = {"fraction": fraction, **generator.summary(), "e2e": end_to_end(generator.accepted(), times)}
    if poll_sample:
        row["get_poll"] = generator.poll_summary(times)
    row["cpu_percent"] = profile
    return row


def headline(steps):
    """The issue's figures: POST latency at 50% and 80% of the maximum, end to end at 50%."""
    at = {row["fraction"]: row for row in steps}
    figures = {}
    for fraction in (0.5, 0.8):
        if fraction in at:
            latency = at[fraction]["latency"]
            figures[f"post_at_{round(fraction * 100)}"] = {
                "offered_rps": at[fraction]["offered_rps"],
                **{name: latency[name] for name in ("p50_ms", "p99_ms", "p99_9_ms")},
            }
    if 0.5 in at:
        figures["post_at_50"]["goal"] = f"p99 < {POST_P99_GOAL_MS} ms"
        figures["post_at_50"]["met"] = _below(figures["post_at_50"]["p99_ms"], POST_P99_GOAL_MS)
        e2e = at[0.5]["e2e"]
        figures["e2e_at_50"] = {
            "p50_ms": e2e["latency"]["p50_ms"],
            "p99_ms": e2e["latency"]["p99_ms"],
            "not_done": e2e["not_done"],
            "goal": f"p99 < {E2E_P99_GOAL_MS} ms",
            "met": _below(e2e["latency"]["p99_ms"], E2E_P99_GOAL_MS) and e2e["not_done"] == 0,
        }
    return figures


def _below(value, limit):
    return value is not None and value < limit


def _ms(value):
    return "-" if value is None else f"{value:.1f}"


def markdown(results):
    lines = [
        f"**Open loop** (POST /tasks/ on a fixed schedule, latency from each request's due time; "
        f"{results['parameters']['seconds']:g} s per step after {results['parameters']['warmup']:g} s of warm-up; "
        f"workers running; maximum {results['max_rps']:.0f} req/s, {results['max_source']})",
        "",
        "| load | offered req/s | sent req/s | 202/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
        "| 202 | 503 | other | errors | timeouts | e2e p50 ms | e2e p99 ms |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in results["steps"]:
        latency, e2e = row["latency"], row["e2e"]["latency"]
        lines.append(
            f"| {row['fraction']:.0%} | {row['offered_rps']:.0f} | {row['sent_rps'] or 0:.0f} "
            f"| {row['throughput_rps']:.0f} | {_ms(latency['p50_ms'])} | {_ms(latency['p90_ms'])} "
            f"| {_ms(latency['p99_ms'])} | {_ms(latency['p99_9_ms'])} | {_ms(latency['max_ms'])} "
            f"| {row['accepted']} | {row['refused_503']} | {row['other_status']} | {row['errors']} "
            f"| {row['timeouts']} | {_ms(e2e['p50_ms'])} | {_ms(e2e['p99_ms'])} |"
        )
    check = results.get("get_check")
    if check:
        poll, e2e = check["get_poll"], check["e2e"]["latency"]
        after = poll.get("after_done", {})
        lines += [
            "",
            f"GET check (a step of its own at {check['fraction']:.0%}, {check['offered_rps']:.0f} req/s): "
            f"{poll['read_success']} of {poll['sampled']} sampled tasks read SUCCESS by GET /tasks/<id>/ "
            f"({poll['gets']} GETs, every {results['parameters']['poll_interval_s'] * 1000:g} ms); due time -> "
            f"SUCCESS read p50 {_ms(poll['latency']['p50_ms'])} ms, p99 {_ms(poll['latency']['p99_ms'])} ms "
            f"(done file, all of the step's tasks: p50 {_ms(e2e['p50_ms'])}, p99 {_ms(e2e['p99_ms'])}); "
            f"GET read minus done file time: p50 {_ms(after.get('p50_ms'))} ms, max {_ms(after.get('max_ms'))} ms.",
        ]
    figures = results["headline"]
    rows = []
    if "post_at_50" in figures:
        rows.append(("POST p99 < 50 ms at 50% load", _ms(figures["post_at_50"]["p99_ms"]) + " ms",
                     figures["post_at_50"]["met"]))  # fmt: skip
    if "e2e_at_50" in figures:
        rows.append(("end to end p99 < 250 ms at 50% load", _ms(figures["e2e_at_50"]["p99_ms"]) + " ms",
                     figures["e2e_at_50"]["met"]))  # fmt: skip
    if rows:
        lines += ["", "| target | measured | met |", "|---|--:|---|"]
        lines += [f"| {name} | {value} | {'yes' if met else '**no**'} |" for name, value, met in rows]
    return "\n".join(lines)


def chart(results, path):
    """Throughput and latency against offered load: the knee."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "openloop"  # the same figures give the same file
    steps = results["steps"]
    offered = [row["offered_rps"] for row in steps]
    figure, left = plt.subplots(figsize=(8, 4.5))
    left.plot(offered, offered, color="0.7", linestyle=":", label="offered")
    left.plot(offered, [row["throughput_rps"] for row in steps], marker="o", color="tab:blue", label="202/s")
    left.set(xlabel="offered load, req/s (fraction of the maximum)", ylabel="throughput, 202 answers/s", ylim=(0, None))
    left.set_xticks(offered, [f"{rate:.0f}\n{row['fraction']:.0%}" for rate, row in zip(offered, steps, strict=True)])
    left.grid(alpha=0.3)
    right = left.twinx()
    for name, style in (("p99_ms", "-"), ("p50_ms", "--")):
        values = [math.nan if row["latency"][name] is None else row["latency"][name] for row in steps]
        right.plot(offered, values, marker="s", linestyle=style, color="tab:red", label=name.replace("_ms", " latency"))
    right.axhline(POST_P99_GOAL_MS, color="tab:red", alpha=0.3, linewidth=1, label=f"{POST_P99_GOAL_MS} ms")
    right.set_yscale("log")
    right.set_ylabel("POST latency from due time, ms (log)")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles=handles, loc="upper left", fontsize="small")
    figure.suptitle(f"Open loop POST /tasks/, {results['started_at']}, {results['machine']['cores']} cores")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)


def main(argv=None):
    from . import machine, output
    from .stack import Stack, variant_env

    args = arguments(argv)
    fractions = sorted(float(fraction) for fraction in args.fractions.split(","))
    started = time.monotonic()
    results = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "parameters": {
            "fractions": fractions,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "connections": args.connections,
            "timeout_s": args.timeout,
            "poll_at": args.poll_at,
            "poll_seconds": args.poll_seconds,
            "poll_sample": args.poll_sample,
            "poll_interval_s": args.poll_interval,
        },
    }
    with Stack(variant_env({})) as stack:
        print("== open loop: the project's settings, workers running", flush=True)
        results["machine"] = machine.describe(stack.env)
        warm_up(stack)
        if args.max_rate:
            results["max_rps"], results["max_source"], results["max_runs"] = args.max_rate, "given", []
        else:
            results["max_rps"], results["max_runs"] = measure_max(stack, args)
            results["max_source"] = "wrk, closed loop, median of its runs"
        results["steps"] = []
        for fraction in fractions:
            row = step(stack, fraction, fraction * results["max_rps"], args)
            latency = row["latency"]
            print(
                f"  {fraction:>5.0%} {row['offered_rps']:>6.0f} req/s offered, {row['throughput_rps']:>6.0f} 202/s  "
                f"p50 {_ms(latency['p50_ms'])}  p99 {_ms(latency['p99_ms'])}  p99.9 {_ms(latency['p99_9_ms'])} ms  "
                f"e2e p99 {_ms(row['e2e']['latency']['p99_ms'])} ms  outcomes {row['outcomes']}  "
                f"send lag max {_ms((row['send_lag'] or {}).get('max_ms'))} ms  "
                f"waited for a connection {row['waited_for_a_connection']}",
                flush=True,
            )
            results["steps"].append(row)
            time.sleep(2)  # the machine settles between steps
        if args.poll_sample:
            rate = args.poll_at * results["max_rps"]
            results["get_check"] = step(stack, args.poll_at, rate, args, args.poll_seconds, args.poll_sample)
    results["headline"] = headline(results["steps"])
    results["duration_s"] = round(time.monotonic() - started)
    output.save(results, args.out, chart, markdown, results["duration_s"])


if __name__ == "__main__":
    main()
