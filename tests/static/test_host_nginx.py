"""The site as deploy/install puts it on a Debian host: included by Debian's own nginx.conf,
whose http block already sets some TLS directives. `nginx -t` must accept the pair."""

import re
import subprocess
from pathlib import Path

import pytest
from container_model import REPO

DEBIAN_CONF = Path("/etc/nginx/nginx.conf")


def test_debian_nginx_conf_accepts_the_site(tmp_path):
    if not DEBIAN_CONF.is_file():
        pytest.fail(f"Debian's nginx is needed for this check (apt-get install nginx); no {DEBIAN_CONF}")
    subprocess.run([REPO / "deploy/bin/make-certs", tmp_path / "tls", "site"], check=True, capture_output=True)
    env = {
        "PATH": "/usr/bin:/bin", "WEB_UPSTREAM": "unix:/run/app/gunicorn.sock", "FLOWER_UPSTREAM": "127.0.0.1:5555",
        "STATIC_ROOT": "/var/lib/app/static", "HTPASSWD_FILE": str(tmp_path / "htpasswd"), "HTTP_PORT": "18480",
        "HTTPS_PORT": "18481", "NGINX_TLS_CERT": f"{tmp_path}/tls/site.crt",
        "NGINX_TLS_KEY": f"{tmp_path}/tls/site.key",
        "ACME_WEBROOT": str(tmp_path), "NGINX_ACCESS_LOG": "/dev/null", "NGINX_LOG_FORMAT": "app_plain",
        "NGINX_TASKS_RATE": "20r/s", "NGINX_TASKS_BURST": "40", "NGINX_MAX_BODY_SIZE": "1m",
        "DJANGO_HTTPS": "true", "DJANGO_HSTS_SECONDS": "31536000",
    }  # fmt: skip
    (tmp_path / "sites").mkdir()
    subprocess.run([REPO / "deploy/native/render", REPO / "nginx/app.conf.template", tmp_path / "sites/app"],
                   env=env, check=True)  # fmt: skip
    # Debian's file as it is, with its includes pointed at this site and at nothing else.
    main = DEBIAN_CONF.read_text()
    main = main.replace("include /etc/nginx/sites-enabled/*;", f"include {tmp_path}/sites/*;")
    main = main.replace("include /etc/nginx/conf.d/*.conf;", "")
    main = re.sub(r"(?m)^pid .*$", f"pid {tmp_path}/nginx.pid;", main)
    (tmp_path / "nginx.conf").write_text(main)
    result = subprocess.run(["nginx", "-t", "-c", tmp_path / "nginx.conf", "-p", tmp_path, "-g", "error_log stderr;"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
