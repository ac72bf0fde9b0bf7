"""DESTDIR=<tmp> deploy/install writes the host's files, a second run changes nothing, and
the nginx site and logrotate rules it writes are accepted by nginx and logrotate."""

import hashlib
import os
import stat
import subprocess

from tests.host import support
from tests.support.env_file import read_env_file


def snapshot(root):
    """path -> (mode, content hash or link target) of everything under root."""
    entries = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                content = "-> " + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(open(path, "rb").read()).hexdigest()
            else:
                content = "dir"
            entries[os.path.relpath(path, root)] = (stat.S_IMODE(info.st_mode), content)
    return entries


def test_install_writes_the_host_files(installed_root):
    files = snapshot(installed_root)
    assert files["etc/app/app.env"][0] == 0o600
    assert files["etc/nginx/app.htpasswd"][0] == 0o640
    assert files["etc/nginx/sites-enabled/app"][1] == "-> /etc/nginx/sites-available/app"
    for path in ("etc/nginx/sites-available/app", "etc/logrotate.d/app", "etc/systemd/system/app.target"):
        assert files[path][0] == 0o644, path
    for unit in support.SERVICES + [
        "app-web.socket",
        "app-.service.d/10-hardening.conf",
        "app-beat.service.d/20-standby.conf",
    ]:
        assert f"etc/systemd/system/{unit}" in files
    current = files["srv/app/current"][1]
    assert current.startswith("-> /srv/app/releases/")
    release = current[3:].lstrip("/")
    assert f"{release}/deploy/bin/web" in files
    assert files[f"{release}/.venv"][1].startswith("-> /srv/app/venvs/")

    env = read_env_file(installed_root / "etc/app/app.env")
    assert env["GUNICORN_BIND"] == "unix:/run/app/gunicorn.sock"
    # One socket path: the one systemd listens on is the one nginx proxies to.
    socket_path = env["GUNICORN_BIND"].removeprefix("unix:")
    assert support.unit_settings(installed_root, "app-web.socket", "ListenStream") == [socket_path]
    assert env["CELERY_LOG_FILE"] == "/var/log/app/celery.log"
    assert env["DATABASE_URL"].startswith("postgres://app:") and "@127.0.0.1:" in env["DATABASE_URL"]
    assert not [key for key, value in env.items() if "change-me" in value]

    htpasswd_user, htpasswd_hash = (installed_root / "etc/nginx/app.htpasswd").read_text().strip().split(":", 1)
    assert htpasswd_user == env["FLOWER_USER"]
    salt = htpasswd_hash.split("$")[2]
    again = support.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=env["FLOWER_PASSWORD"] + "\n")
    assert again.stdout.strip() == htpasswd_hash


def test_a_second_install_changes_nothing(installed_root):
    before = snapshot(installed_root)
    result = support.run(
        [support.REPO / "deploy/install"], env={**support.base_env(), "DESTDIR": str(installed_root)}, timeout=120
    )
    assert "writing" not in result.stderr, result.stderr
    assert snapshot(installed_root) == before


def test_nginx_accepts_the_host_site(installed_root, tmp_path):
    site = installed_root / "etc/nginx/sites-available/app"
    # The private pair install made names its host paths; here they are under the staged root.
    staged = site.read_text().replace("/etc/app/site-tls/", f"{installed_root}/etc/app/site-tls/")
    (tmp_path / "site").write_text(staged)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n"
        f"  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path / 'site'};\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "server unix:/run/app/gunicorn.sock;" in site.read_text()
    assert "listen 80;" in site.read_text()
    assert "listen 443 ssl http2;" in site.read_text()
    assert "ssl_certificate /etc/app/site-tls/site.crt;" in site.read_text()
    assert (installed_root / "etc/app/site-tls/site.key").stat().st_mode & 0o077 == 0


def test_logrotate_accepts_the_rules(installed_root, tmp_path):
    # Same rules with this test's folder and root instead of the app user, which need not exist here.
    rules = (installed_root / "etc/logrotate.d/app").read_text()
    rules = rules.replace("/var/log/app", str(tmp_path)).replace("app app", "root root")
    (tmp_path / "celery.log").write_text("line\n")
    (tmp_path / "rules").write_text(rules)
    result = support.run(["logrotate", "--debug", "--state", tmp_path / "state", tmp_path / "rules"], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stderr.lower(), result.stderr


def install_roles(tmp_path, roles):
    root = tmp_path / roles.replace(",", "-")
    env = {**support.base_env(), "DESTDIR": str(root)}
    result = support.run([support.REPO / "deploy/install", "--roles", roles], env=env, timeout=120, check=False)
    return root, result


def test_a_worker_host_gets_the_worker_unit_and_the_release_only(tmp_path):
    root, result = install_roles(tmp_path, "worker")
    assert result.returncode == 0, result.stderr
    units = {path.name for path in (root / "etc/systemd/system").iterdir()}
    assert units == {"app.target", "app-.service.d", "app-worker@.service", "app-worker@.service.d"}
    assert not (root / "etc/nginx").exists(), "no nginx site or Flower password on a worker host"
    release = os.readlink(root / "srv/app/current").lstrip("/")  # absolute: /srv/app/releases/<id>
    assert (root / release / "deploy/bin/worker").exists()
    assert (root / "etc/app/app.env").exists()


def test_a_broker_and_database_host_gets_no_app_process(tmp_path):
    root, result = install_roles(tmp_path, "broker,database")
    assert result.returncode == 0, result.stderr
    assert sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) == ["etc/app/app.env"]


def test_an_unknown_role_is_refused_before_anything_is_written(tmp_path):
    root, result = install_roles(tmp_path, "web,wroker")
    assert result.returncode == 1
    assert "unknown role 'wroker'" in result.stderr
    assert not root.exists()
