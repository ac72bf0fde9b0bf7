"""nginx in front: static files, Flower behind basic auth, headers, limits, health."""

import hashlib
import http.client
import json
import ssl

import pytest

from tests.support.stack import ROOT, wait_until

pytestmark = pytest.mark.stack


def test_static_files_come_from_nginx_disk(stack):
    response = stack.get("/static/workflow/main.js")
    assert response.status_code == 200
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version
    assert "max-age=604800" in response.headers["Cache-Control"]  # set by nginx's location, not Django
    source = (ROOT / "src/workflow/static/workflow/main.js").read_bytes()
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(source).digest()


def test_page_has_the_three_buttons_and_security_headers(stack):
    response = stack.get("/")
    assert response.status_code == 200
    for label in ("Short", "Medium", "Long"):
        assert f">{label}</button>" in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_gzip_for_text(stack):
    response = stack.get("/static/workflow/main.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("Content-Encoding") == "gzip"


def test_flower_requires_credentials(stack):
    assert stack.get("/flower/").status_code == 401
    assert stack.get("/flower/api/workers").status_code == 401
    assert stack.get("/flower/", auth=("ops", "wrong")).status_code == 401
    page = stack.get("/flower/", auth=stack.flower_auth)
    assert page.status_code == 200
    assert "/flower/static/" in page.text  # links keep the prefix


def test_flower_api_lists_the_worker(stack):
    def workers():
        response = stack.get("/flower/api/workers?refresh=1", auth=stack.flower_auth)
        assert response.status_code == 200
        return [name for name in response.json() if name.startswith("testworker0@")]

    assert wait_until(workers, 30, 1, "Flower to list the worker")


def test_flower_shows_a_task_that_ran(stack):
    """Task events reach Flower (published without confirms, taskqueue/worker_consumer.py)."""
    task_id = stack.submit(0)
    stack.wait_final(task_id)

    def task_in_flower():
        response = stack.get(f"/flower/api/task/info/{task_id}", auth=stack.flower_auth)
        return response.status_code == 200 and response.json().get("state") == "SUCCESS"

    assert wait_until(task_in_flower, 30, 0.5, "Flower to show the task as SUCCESS")


def test_oversized_body_is_refused_by_nginx(stack):
    response = stack.post("/tasks/", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_health_endpoints(stack):
    assert stack.get("/healthz").json() == {"status": "ok"}
    ready = stack.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"database", "migrations", "broker"}


def request_seen(stack, source_address, headers):
    """What Django makes of a request sent from source_address through nginx (tests/stack_app)."""
    tls = ssl.create_default_context(cafile=stack.ca_file)
    conn = http.client.HTTPSConnection(
        "127.0.0.1", stack.https_port, timeout=10, source_address=(source_address, 0), context=tls
    )
    try:
        conn.request("GET", "/_test/request-seen/", headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        conn.close()


def test_django_sees_the_client_address_and_scheme_from_nginx(stack):
    # gunicorn listens on a unix socket, so the address can only come from nginx's X-Real-IP.
    assert request_seen(stack, "127.0.0.7", {}) == {"remote_addr": "127.0.0.7", "scheme": "https", "secure": True}
    # A client's forged headers are overwritten by nginx with what it saw itself.
    forged = {"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}
    assert request_seen(stack, "127.0.0.8", forged) == {"remote_addr": "127.0.0.8", "scheme": "https", "secure": True}


def test_make_up_is_idempotent(stack):
    before = stack.pid("worker:worker0")
    result = stack.up()
    assert "Stack ready" in result.stdout
    assert stack.pid("worker:worker0") == before  # nothing restarted
