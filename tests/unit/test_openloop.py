"""The open-loop load generator (bench/openloop.py) against a scripted local HTTP server: it
keeps its schedule when answers are slow, times each request from its due time, counts every
outcome in exactly one bucket, and its percentiles and HTTP reading are right. Behaviour
only, with wide margins: the timings themselves belong to the benchmark."""

import asyncio
import itertools
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.openloop import OpenLoop, distribution_ms, done_file_from_now, end_to_end, percentile, read_answer


def serve(answers, pending_gets=0):
    """A keep-alive server on 127.0.0.1 giving the POST answers in turn: ("202", delay),
    ("503", 0), ("500", 0), ("drop", 0) (the connection dies mid-request) or ("slow", delay).
    GET /tasks/<id>/ reads PENDING `pending_gets` times per id, then SUCCESS."""
    script = itertools.cycle(answers)
    lock = threading.Lock()
    gets = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as nginx
        disable_nagle_algorithm = True  # headers and body written apart are not held back

        def answer(self, status, payload):
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                kind, delay = next(script)
            time.sleep(delay)
            try:
                if kind == "drop":
                    self.connection.shutdown(2)
                    self.close_connection = True
                elif kind in ("202", "slow"):
                    self.answer(202, {"task_id": str(uuid.uuid4())})
                else:
                    self.answer(int(kind), {"error": "scripted"})
            except OSError:
                self.close_connection = True  # the client gave up on a slow answer

        def do_GET(self):  # noqa: N802
            task_id = self.path.split("/")[2]
            with lock:
                gets[task_id] = gets.get(task_id, 0) + 1
                status = "SUCCESS" if gets[task_id] > pending_gets else "PENDING"
            self.answer(200, {"task_id": task_id, "task_status": status, "task_result": None})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def scripted():
    servers = []

    def start(answers, pending_gets=0):
        servers.append(serve(answers, pending_gets))
        return f"http://127.0.0.1:{servers[-1].server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_slow_answers_do_not_slow_the_sender(scripted):
    url = scripted([("202", 0.3)])
    run = OpenLoop(url, 50, 1.0).run()
    summary = run.summary()
    assert summary["requests"] == 50 and summary["outcomes"] == {"202": 50}
    sent = [record.sent for record in run.records]
    # On schedule, the 50th is due 0.98 s after the first; waiting for answers (0.3 s each)
    # would push the last send well past that.
    assert max(sent) - min(sent) < 1.5
    # Due times are the schedule itself, and every latency holds the server's delay.
    assert all(abs(b.due - a.due - 0.02) < 1e-9 for a, b in itertools.pairwise(run.records))
    assert all(record.answered - record.due >= 0.3 for record in run.records)
    assert summary["latency"]["count"] == 50 and summary["latency"]["p50_ms"] >= 300
    assert len(run.accepted()) == 50


def test_latency_runs_from_the_due_time_not_the_send(scripted):
    # One connection, 50 ms per answer, a request due every 10 ms: they queue in the
    # generator. From the send each takes ~50 ms; from its due time the last waited ~0.8 s.
    url = scripted([("202", 0.05)])
    run = OpenLoop(url, 100, 0.2, connections=1).run()
    summary = run.summary()
    assert summary["outcomes"] == {"202": 20}
    assert summary["connections_opened"] == 1  # keep-alive: one connection for all 20
    assert summary["waited_for_a_connection"] >= 10
    assert summary["latency"]["max_ms"] >= 600
    assert max(record.sent - record.due for record in run.records) >= 0.5


def test_every_outcome_is_counted_once(scripted):
    url = scripted([("202", 0), ("503", 0), ("500", 0), ("drop", 0), ("slow", 1.0)])
    run = OpenLoop(url, 50, 0.4, timeout=0.5).run()
    summary = run.summary()
    outcomes = summary["outcomes"]
    assert sum(outcomes.values()) == summary["requests"] == 20
    assert outcomes["202"] == outcomes["503"] == outcomes["500"] == outcomes["timeout"] == 4
    assert sum(n for kind, n in outcomes.items() if kind.startswith("error")) == 4
    assert (summary["accepted"], summary["refused_503"], summary["other_status"]) == (4, 4, 4)
    assert (summary["errors"], summary["timeouts"]) == (4, 4)
    # Answers and timeouts are timed (timeouts at the timeout); connection errors are not.
    assert summary["latency"]["count"] == 16 and summary["latency"]["max_ms"] >= 500


def test_accepted_tasks_are_polled_until_success(scripted):
    url = scripted([("202", 0)], pending_gets=2)
    run = OpenLoop(url, 50, 0.2, poll_sample=10, poll_interval=0.005, poll_timeout=5).run()
    polls = run.poll_summary()
    assert polls["sampled"] == polls["read_success"] == 10
    assert polls["gets"] == 30  # two PENDING, then SUCCESS, for each
    assert polls["latency"]["count"] == 10


def test_refused_connections_are_errors():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed at once: nothing listens there
    run = OpenLoop(f"http://127.0.0.1:{port}", 50, 0.1, timeout=1).run()
    assert run.summary()["outcomes"] == {"error ConnectionRefusedError": 5}


def test_percentiles_by_nearest_rank():
    hundred = list(range(100, 0, -1))
    assert [percentile(hundred, f) for f in (0.5, 0.9, 0.99, 0.999, 1.0)] == [50, 90, 99, 100, 100]
    thousand = list(range(1, 1001))
    assert [percentile(thousand, f) for f in (0.5, 0.99, 0.999)] == [500, 990, 999]
    assert percentile([7], 0.999) == 7 and percentile([], 0.5) is None
    figures = distribution_ms([i / 1000 for i in range(1, 1001)])
    assert figures == {"count": 1000, "p50_ms": 500.0, "p90_ms": 900.0, "p99_ms": 990.0, "p99_9_ms": 999.0,
                       "max_ms": 1000.0, "mean_ms": 500.5}  # fmt: skip


def test_end_to_end_from_the_done_file(tmp_path, monkeypatch):
    done_path = tmp_path / "done.log"
    done_path.write_text("old 1.0\n")  # an earlier run's line: skipped
    monkeypatch.setenv("BENCH_DONE_FILE", str(done_path))
    done = done_file_from_now()
    with open(done_path, "a") as file:
        file.write("a 10.05\nb 10.2\nold2 3")  # the last line still being written
    times = done.read()
    assert times == {"a": 10.05, "b": 10.2}
    e2e = end_to_end({"a": 10.0, "b": 10.0, "c": 10.0}, times)
    assert (e2e["tasks"], e2e["not_done"]) == (3, 1)
    assert e2e["latency"]["p50_ms"] == pytest.approx(50, abs=0.01)
    assert e2e["latency"]["p99_ms"] == pytest.approx(200, abs=0.01)


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}", (202, b"{}", True)),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", (200, b"x", False)),
        (CHUNKED, (200, b"abcde", True)),
        (b"HTTP/1.0 503 Service Unavailable\r\n\r\n<h1>503</h1>", (503, b"<h1>503</h1>", False)),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", (204, b"", True)),
    ],
)
def test_reads_answers(raw, expected):
    async def read():
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_answer(reader)

    assert asyncio.run(read()) == expected
