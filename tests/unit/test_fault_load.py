"""The fault suite's load generator (tests/faults/load.py) counts every answer in one bucket
and fails when a submitting thread dies, against a scripted local HTTP server."""

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.faults.load import Submitter


def serve(answers):
    """A server on 127.0.0.1 that gives the answers in turn: (status, content type, body) or "reset"."""
    script = itertools.cycle(answers)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                answer = next(script)
            if answer == "reset":
                self.connection.shutdown(2)  # the connection dies mid-request
                return
            status, content_type, body = answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def scripted():
    servers = []

    def start(answers):
        servers.append(serve(answers))
        return f"http://127.0.0.1:{servers[-1].server_port}"

    yield start
    for server in servers:
        server.shutdown()


ACCEPTED = (202, "application/json", json.dumps({"task_id": "t"}).encode())
REFUSED = (503, "application/json", b'{"error": "broker unavailable"}')
HTML_503 = (503, "text/html", b"<h1>503</h1>")
SERVER_ERROR = (500, "text/html", b"oops")
RATE_LIMITED = (429, "text/html", b"slow down")


def test_every_answer_lands_in_exactly_one_bucket(scripted):
    url = scripted([ACCEPTED, REFUSED, HTML_503, SERVER_ERROR, RATE_LIMITED, "reset"])
    load = Submitter(url, 60, seconds=30, threads=3).start().join()
    assert len(load.accepted) == 10 and load.refused == 10 and load.server_errors == 10
    assert len(load.unexpected) == 30
    assert load.unexpected.count("503 text/html") == 10 and load.unexpected.count("429 text/html") == 10
    assert load.answered == 60


def test_a_thread_that_dies_fails_the_join(scripted):
    url = scripted([(202, "application/json", b"not json")])
    load = Submitter(url, 5, seconds=30, threads=2).start()
    with pytest.raises(AssertionError, match="a submitting thread failed"):
        load.join()


def test_stop_ends_submission_and_counts_what_was_sent(scripted):
    url = scripted([ACCEPTED])
    load = Submitter(url, 10_000, seconds=30, threads=2).start()
    load.stop().join()
    assert load.answered == len(load.accepted) < 10_000
