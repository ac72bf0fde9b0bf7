"""Submits tasks over HTTP through nginx from a few threads, recording every answer.

Every request ends in exactly one bucket, and every thread's future is read, so an
exception in a thread fails the scenario instead of silently dropping the ids it held:
  accepted        202 with a task id: must reach SUCCESS
  refused         503 with a JSON body: a dependency was down, the client knows to retry
  server_errors   any other 5xx: a defect
  unexpected      anything else (4xx, 429, a 503 that is not JSON, a timeout, a reset
                  connection): a defect, with what happened, for the report
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


class Submitter:
    """POST /tasks/ until `count` were answered or `seconds` passed; runs in the background."""

    def __init__(self, url, count, seconds=120, task_type=0, threads=8, pause=0.0, verify=True):
        self.url, self.count, self.seconds, self.task_type, self.threads = url, count, seconds, task_type, threads
        self.verify = verify  # True, or the CA file of the stack's HTTPS certificate
        self.pause = pause  # seconds each thread waits between requests: a steady load, not a flood
        self.accepted, self.refused, self.server_errors, self.unexpected = [], 0, 0, []
        self.refused_at = []  # time.monotonic() of each 503: how long publishing was refused
        self._lock = threading.Lock()
        self._left = count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error = None

    @property
    def answered(self):
        with self._lock:
            return len(self.accepted) + self.refused + self.server_errors + len(self.unexpected)

    def start(self):
        self._thread.start()
        return self

    def running(self):
        return self._thread.is_alive()

    def stop(self):
        """Stop submitting; requests already sent are still answered and counted."""
        self._stop.set()
        return self

    def join(self):
        self._thread.join(self.seconds + 60)
        assert not self._thread.is_alive(), "the submitter did not finish"
        if self._error is not None:
            raise AssertionError("a submitting thread failed") from self._error
        assert self.answered == self.count - self._left, "a request was sent but not counted"
        return self

    def refusal_seconds(self):
        """From the first 503 to the last one (0 without any): the time publishing was refused."""
        return max(self.refused_at) - min(self.refused_at) if self.refused_at else 0.0

    def _take(self):
        with self._lock:
            if self._left <= 0 or self._stop.is_set():
                return False
            self._left -= 1
            return True

    def _submit_one(self, session):
        try:
            response = session.post(self.url + "/tasks/", json={"type": self.task_type}, timeout=15, verify=self.verify)
        except requests.RequestException as error:
            return "unexpected", type(error).__name__
        if response.status_code == 202:
            return "accepted", response.json()["task_id"]
        if response.status_code == 503 and response.headers.get("Content-Type") == "application/json":
            return "refused", None
        if response.status_code >= 500 and response.status_code != 503:
            return "server_errors", response.status_code
        return "unexpected", f"{response.status_code} {response.headers.get('Content-Type')}"

    def _worker(self, deadline):
        with requests.Session() as session:
            while time.monotonic() < deadline and self._take():
                bucket, value = self._submit_one(session)
                with self._lock:
                    if bucket == "accepted":
                        self.accepted.append(value)
                    elif bucket == "refused":
                        self.refused += 1
                        self.refused_at.append(time.monotonic())
                    elif bucket == "server_errors":
                        self.server_errors += 1
                    else:
                        self.unexpected.append(value)
                time.sleep(self.pause)

    def _run(self):
        deadline = time.monotonic() + self.seconds
        try:
            with ThreadPoolExecutor(self.threads) as pool:
                futures = [pool.submit(self._worker, deadline) for _ in range(self.threads)]
                for future in futures:
                    future.result()  # re-raises what ended a thread
        except Exception as error:  # noqa: BLE001 (handed to join(), in the test's thread)
            self._error = error
