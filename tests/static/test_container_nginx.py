"""The nginx configuration the compose stack runs: rendered as the nginx image renders it,
checked by `nginx -t`, and the htpasswd its start-up script writes."""

import os
import re
import secrets
import shutil
import subprocess
import sys
import warnings

import pytest
from container_model import REPO

TEMPLATE = REPO / "nginx" / "app.conf.template"
HTPASSWD_SCRIPT = REPO / "nginx" / "compose" / "40-flower-htpasswd.sh"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The main configuration of the official image, reduced to what nginx -t needs: its http
# block includes conf.d/*.conf, where the image writes the rendered template.
MAIN_CONF = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    include {prefix}/conf.d/*.conf;
}}
"""


def envsubst(text: str, env: dict[str, str]) -> str:
    """The nginx image's envsubst step: ${NAME} of set variables only; nginx's $vars stay."""
    return re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), m.group(0)), text)


@pytest.fixture
def nginx_env(compose):
    return {name: str(value) for name, value in compose["services"]["nginx"]["environment"].items()}


def test_every_template_variable_is_set_by_compose(nginx_env):
    rendered = envsubst(TEMPLATE.read_text(), nginx_env)
    assert not re.findall(r"\$\{\w+\}", rendered)


def test_nginx_accepts_the_rendered_configuration(tmp_path, nginx_env):
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"nginx is needed for this check (apt-get install nginx); not found at {NGINX}")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "tmp").mkdir()
    # The certificate files compose mounts: a pair made here, at the paths nginx is told.
    subprocess.run([REPO / "deploy/bin/make-certs", tmp_path / "tls", "site"], check=True, capture_output=True)
    mounted = {"NGINX_TLS_CERT": f"{tmp_path}/tls/site.crt", "NGINX_TLS_KEY": f"{tmp_path}/tls/site.key"}
    (tmp_path / "conf.d" / "default.conf").write_text(envsubst(TEMPLATE.read_text(), {**nginx_env, **mounted}))
    (tmp_path / "nginx.conf").write_text(MAIN_CONF.format(prefix=tmp_path))
    # nginx resolves upstream host names (web, flower) when it loads the configuration; in
    # a private mount namespace a hosts file points them at loopback, as compose's DNS
    # points them at the containers. Nothing outside this process sees that hosts file.
    upstreams = sorted({nginx_env[name].rsplit(":", 1)[0] for name in ("WEB_UPSTREAM", "FLOWER_UPSTREAM")})
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {' '.join(upstreams)}\n")
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    script = 'mount --bind "$1" /etc/hosts && exec "$2" -t -q -p "$3" -c "$3/nginx.conf"'
    result = subprocess.run(
        [*namespace, "sh", "-c", script, "sh", hosts, NGINX, tmp_path], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_static_root_and_htpasswd_locations_are_the_images(nginx_env):
    dockerfile = (REPO / "Dockerfile").read_text()
    nginx_stage = dockerfile.split(" AS nginx", 1)[1].split("\nFROM ", 1)[0]
    assert f"COPY --from=builder /app/static {nginx_env['STATIC_ROOT']}" in nginx_stage
    assert "nginx/app.conf.template /etc/nginx/templates/" in nginx_stage
    assert f"{HTPASSWD_SCRIPT.relative_to(REPO)} /docker-entrypoint.d/" in nginx_stage
    # /etc/nginx exists in the image; the script writes the file there before nginx starts.
    assert os.path.dirname(nginx_env["HTPASSWD_FILE"]) == "/etc/nginx"


def crypt_matches(password: str, hashed: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated but present in 3.11; the tests need only this one call

    return crypt.crypt(password, hashed) == hashed


FLOWER_HTPASSWD = REPO / "deploy" / "bin" / "flower-htpasswd"


def tools_without_openssl(bin_dir):
    """A PATH like the nginx image's: busybox (its mkpasswd: SHA-512 crypt of a password read
    from stdin, with -S SALT) and the shell tools, no openssl; chgrp records the group."""
    bin_dir.mkdir(exist_ok=True)
    busybox = bin_dir / "busybox"
    busybox.write_text(
        f"#!{sys.executable} -W ignore\n"
        "import crypt, sys\n"
        "args = sys.argv[1:]\n"
        "assert args[:3] == ['mkpasswd', '-m', 'sha512'] and len(args) in (3, 5), args\n"
        "salt = '$6$' + args[4] if len(args) == 5 else crypt.METHOD_SHA512\n"
        "print(crypt.crypt(sys.stdin.readline().rstrip('\\n'), salt))\n"
    )
    chgrp = bin_dir / "chgrp"
    chgrp.write_text('#!/bin/sh\necho "$1" > "$2.group"\n')
    for tool in (busybox, chgrp):
        tool.chmod(0o755)
    for name in ("sh", "sed", "cut", "cat", "mv", "echo", "printf"):
        (bin_dir / name).symlink_to(shutil.which(name))
    (bin_dir / "flower-htpasswd").symlink_to(FLOWER_HTPASSWD)
    return bin_dir


def flower_htpasswd(path, *args, **env):
    environment = {"PATH": path, **env}
    return subprocess.run([FLOWER_HTPASSWD, *map(str, args)], env=environment, capture_output=True, text=True)


@pytest.mark.parametrize("flavour", ["host (openssl)", "nginx image (busybox)"])
def test_the_one_writer_prints_a_sha512_line_and_keeps_it_while_the_password_matches(tmp_path, flavour):
    path = "/usr/bin:/bin" if flavour.startswith("host") else str(tools_without_openssl(tmp_path / "bin"))
    password = secrets.token_urlsafe(48)  # what deploy/native/make-env generates
    first = flower_htpasswd(path, FLOWER_USER="ops", FLOWER_PASSWORD=password)
    assert first.returncode == 0, first.stderr
    user, hashed = first.stdout.strip().split(":", 1)
    assert user == "ops" and hashed.startswith("$6$") and password not in hashed
    assert crypt_matches(password, hashed)
    current = tmp_path / "current"
    current.write_text(first.stdout)
    assert flower_htpasswd(path, current, FLOWER_USER="ops", FLOWER_PASSWORD=password).stdout == first.stdout
    changed = flower_htpasswd(path, current, FLOWER_USER="ops", FLOWER_PASSWORD=password + "x").stdout
    assert changed != first.stdout and crypt_matches(password + "x", changed.strip().split(":", 1)[1])


def run_htpasswd_script(tmp_path, **env):
    bin_dir = tools_without_openssl(tmp_path / "bin")
    environment = {"PATH": str(bin_dir), "HTPASSWD_FILE": str(tmp_path / "flower.htpasswd"), **env}
    return subprocess.run([HTPASSWD_SCRIPT], env=environment, capture_output=True, text=True)


def test_start_script_writes_a_hashed_htpasswd_for_nginx(tmp_path):
    assert os.access(HTPASSWD_SCRIPT, os.X_OK), "the image runs only executable entrypoint scripts"
    password = secrets.token_urlsafe(48)  # what deploy/native/make-env generates
    result = run_htpasswd_script(tmp_path, FLOWER_USER="ops", FLOWER_PASSWORD=password)
    assert result.returncode == 0, result.stderr
    htpasswd = tmp_path / "flower.htpasswd"
    user, hashed = htpasswd.read_text().strip().split(":", 1)
    assert user == "ops" and hashed.startswith("$6$") and password not in hashed
    assert crypt_matches(password, hashed)
    assert oct(htpasswd.stat().st_mode & 0o777) == "0o640"
    assert (tmp_path / "flower.htpasswd.new.group").read_text().strip() == "nginx"


@pytest.mark.parametrize("password", ["", "change-me-flower-password"])
def test_start_script_refuses_missing_or_placeholder_passwords(tmp_path, password):
    result = run_htpasswd_script(tmp_path, FLOWER_USER="ops", FLOWER_PASSWORD=password)
    assert result.returncode != 0
    assert not (tmp_path / "flower.htpasswd").exists()
