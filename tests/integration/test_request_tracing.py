"""One request traced to its task (config/tracing.py): the id of a POST /tasks/ (the client's
X-Request-ID when well-formed, else nginx's) comes back in the answer, and `grep <id>`
across the stack's logs finds nginx's access line, with the task's status URL (the 202's
Location), and the worker's lines that name the task it started."""

import re
import uuid

import pytest
import requests

from tests.support.stack import wait_until

pytestmark = pytest.mark.stack
LOGS = ("nginx.log", "web.log", "worker0.log")


def lines_with(stack, text):
    """{log file: its lines that contain text}."""
    found = {}
    for name in LOGS:
        path = stack.run_dir / "log" / name
        found[name] = [line for line in path.read_text(errors="replace").splitlines() if text in line]
    return found


def test_a_clients_request_id_leads_from_nginx_to_the_worker(stack):
    request_id = f"trace-{uuid.uuid4()}"
    response = requests.post(stack.url + "/tasks/", json={"type": 0}, headers={"X-Request-ID": request_id}, timeout=30)
    assert response.status_code == 202
    assert response.headers["X-Request-ID"] == request_id
    task_id = response.json()["task_id"]
    assert stack.wait_final(task_id)["task_status"] == "SUCCESS"

    def traced():
        found = lines_with(stack, request_id)
        worker = found["worker0.log"]
        done = any(task_id in line and "succeeded" in line for line in worker)
        return found if found["nginx.log"] and done else None

    found = wait_until(traced, 30, 0.5, f"lines with {request_id} in the nginx and worker logs")
    access = found["nginx.log"]
    assert any("POST /tasks/" in line and f"location=/tasks/{task_id}/" in line for line in access), access
    assert any(task_id in line and "request" in line for line in found["worker0.log"]), found["worker0.log"]
    # Lines of other requests and tasks do not carry it.
    other = requests.post(stack.url + "/tasks/", json={"type": 0}, timeout=30).json()["task_id"]
    stack.wait_final(other)
    assert not any(other in line for lines in lines_with(stack, request_id).values() for line in lines)


def test_a_malformed_request_id_is_replaced_by_nginxs_own(stack):
    response = requests.post(stack.url + "/tasks/", json={"type": 0}, headers={"X-Request-ID": "a b;<script>"},
                             timeout=30)  # fmt: skip
    assert response.status_code == 202
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), response.headers["X-Request-ID"]
