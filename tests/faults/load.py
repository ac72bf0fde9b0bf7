"""Submits tasks over HTTP through nginx from a few threads, recording every answer."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


class Submitter:
    """POST /tasks/ until `count` were answered or `seconds` passed; runs in the background."""

    def __init__(self, url, count, seconds=120, task_type=0, threads=8):
        self.url, self.count, self.seconds, self.task_type, self.threads = url, count, seconds, task_type, threads
        self.accepted, self.refused, self.server_errors, self.other = [], 0, 0, []
        self._lock = threading.Lock()
        self._left = count
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def join(self):
        self._thread.join(self.seconds + 30)
        assert not self._thread.is_alive(), "the submitter did not finish"
        return self

    def _take(self):
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def _worker(self, deadline):
        session = requests.Session()
        while time.monotonic() < deadline and self._take():
            try:
                response = session.post(self.url + "/tasks/", json={"type": self.task_type}, timeout=15)
            except requests.RequestException as error:
                with self._lock:
                    self.other.append(type(error).__name__)
                continue
            with self._lock:
                if response.status_code == 202:
                    self.accepted.append(response.json()["task_id"])
                elif response.status_code == 503:
                    assert response.headers["Content-Type"] == "application/json"
                    self.refused += 1
                elif response.status_code >= 500:
                    self.server_errors += 1
                else:
                    self.other.append(response.status_code)

    def _run(self):
        deadline = time.monotonic() + self.seconds
        with ThreadPoolExecutor(self.threads) as pool:
            for _ in range(self.threads):
                pool.submit(self._worker, deadline)
