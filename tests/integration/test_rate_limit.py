"""nginx's rate limit on POST /tasks/, with the shipped template and a low rate."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.stack import ROOT, wait_until

pytestmark = pytest.mark.stack
PORT = 18081


@pytest.fixture
def limited_nginx(stack, tmp_path):
    """A second nginx in front of the test stack's gunicorn, limited to 2 POSTs/s, burst 2."""
    env = {
        **os.environ,
        "RUN_DIR": str(tmp_path),
        "HTTP_PORT": str(PORT),
        "HTTPS_PORT": str(PORT + 1),
        "DJANGO_HTTPS": "true",
        "NGINX_TLS_CERT": str(stack.run_dir / "tls" / "site.crt"),
        "NGINX_TLS_KEY": str(stack.run_dir / "tls" / "site.key"),
        "ACME_WEBROOT": str(tmp_path),
        "NGINX_TASKS_RATE": "2r/s",
        "NGINX_TASKS_BURST": "2",
        "NGINX_WORKER_USER": stack.nginx_worker_user,
        "WEB_UPSTREAM": f"unix:{stack.run_dir}/sock/gunicorn.sock",
        "FLOWER_UPSTREAM": "127.0.0.1:1",
        "STATIC_ROOT": str(tmp_path),
        "HTPASSWD_FILE": str(tmp_path / "htpasswd"),
        "NGINX_MAX_BODY_SIZE": "1m",
        "NGINX_ACCESS_LOG": str(tmp_path / "log" / "access.log"),
        "NGINX_LOG_FORMAT": "app_plain",
    }
    (tmp_path / "log").mkdir()
    (tmp_path / "nginx").mkdir()
    for template, name in (("native.conf.template", "nginx.conf"), ("app.conf.template", "app.conf")):
        subprocess.run(
            [ROOT / "deploy/native/render", ROOT / "nginx" / template, tmp_path / "nginx" / name], env=env, check=True
        )
    nginx = subprocess.Popen([ROOT / "deploy/bin/nginx"], env=env)
    try:
        wait_until(lambda: stack.port_open(PORT + 1), 10, message="the limited nginx")
        yield f"https://127.0.0.1:{PORT + 1}"
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def test_burst_of_posts_is_limited_with_429(limited_nginx):
    # Invalid bodies: whatever passes the limit gets a 400 and enqueues nothing.
    def post(_):
        return requests.post(limited_nginx + "/tasks/", json={"type": "x"}, timeout=5).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(20)))
    assert codes.count(429) >= 10, codes
    assert set(codes) <= {400, 429}
    # GETs are never limited.
    assert all(requests.get(limited_nginx + "/healthz", timeout=5).status_code == 200 for _ in range(10))
    time.sleep(1.1)
    assert post(None) == 400  # the bucket refills
