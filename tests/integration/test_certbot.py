"""A public certificate, for real: deploy/bin/obtain-certificate has Debian's certbot obtain one
for app.test from pebble (Debian's ACME test server), which fetches the HTTP-01 challenge through
an nginx rendered from nginx/app.conf.template; `certbot renew` then runs the deploy hook, and
nginx serves the new certificate without cutting a download in flight.

Everything listens on 127.0.0.1 and lives under tmp_path: certbot's folders are given on its
command line, so the host's /etc/letsencrypt is never written (checked). No test stack: nginx's
upstreams are a dead address, the static files are all this needs.
"""

import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from tests.support import stages
from tests.support.env_file import read_env_file
from tests.support.stack import ROOT, wait_until

NAME = "app.test"
OBTAIN = ROOT / "deploy/bin/obtain-certificate"
HOOK = ROOT / "deploy/certbot/reload-nginx"
# certbot's folders on a host (and its one config file, read-only): none may change here.
HOST_CERTBOT_FOLDERS = [Path("/etc/letsencrypt"), Path("/var/lib/letsencrypt"), Path("/var/log/letsencrypt")]
BIG_FILE_SIZE = 64 * 1024 * 1024  # far beyond what the socket buffers of both ends hold


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def snapshot(folders):
    """Every path under the folders, with its size and modification time."""
    return sorted(
        (str(path), path.lstat().st_size, path.lstat().st_mtime_ns)
        for folder in folders
        if folder.exists()
        for path in [folder, *folder.rglob("*")]
    )


def describe(der):
    """Serial, issuer and DNS names of a certificate (DER), as openssl reads them."""
    out = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-serial", "-issuer", "-ext", "subjectAltName"],
        input=der,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return SimpleNamespace(
        serial=re.search(r"^serial=(\w+)", out, re.M).group(1),
        issuer=re.search(r"^issuer=(.*)$", out, re.M).group(1),
        names=re.findall(r"DNS:([^,\s]+)", out),
    )


def tls_context(cafile=None):
    """Verifying against cafile only (never the system's CAs), or not verifying at all."""
    if cafile:
        return ssl.create_default_context(cafile=str(cafile))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def served(port, cafile=None):
    """The certificate nginx serves to a new connection naming app.test (SNI)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        tls_context(cafile).wrap_socket(raw, server_hostname=NAME) as tls,
    ):
        return describe(tls.getpeercert(binary_form=True))


def served_by(port, cafile):
    """served(), or None while the chain does not verify against cafile yet."""
    try:
        return served(port, cafile)
    except ssl.SSLCertVerificationError:
        return None


def eventually(predicate, timeout):
    """wait_until() that answers False instead of failing, for an assertion made later."""
    try:
        return wait_until(predicate, timeout)
    except AssertionError:
        return False


def run(args, env, timeout=180):
    result = subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True, timeout=timeout)
    result.output = result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def packages():
    """Debian's pebble and certbot, installed as a host installs its packages."""
    command = [ROOT / "deploy/native/provision", "--servers", "", "pebble", "certbot"]
    result = run(command, os.environ, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"pebble and certbot are needed: deploy/native/provision --servers '' pebble certbot failed:\n"
                    f"{result.output}")  # fmt: skip


@pytest.fixture
def pebble(packages, tmp_path):
    """pebble on loopback, resolving app.test to 127.0.0.1 and validating HTTP-01 on nginx's port."""
    folder = tmp_path / "pebble"
    # The package ships no certificate for pebble's own HTTPS API: a private pair for it.
    subprocess.run([ROOT / "deploy/bin/make-certs", folder, "localhost,127.0.0.1"], check=True, capture_output=True)
    acme_port, management_port, http_port = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management_port}",
            "certificate": str(folder / "localhost.crt"),
            "privateKey": str(folder / "localhost.key"),
            "httpPort": http_port,  # where it fetches http://app.test/.well-known/acme-challenge/
            "tlsPort": free_port(),  # TLS-ALPN-01, not used
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "config.json").write_text(json.dumps(config))
    # app.test is 127.0.0.1 for pebble alone: a hosts file bound over /etc/hosts in its own
    # mount namespace (as tests/static/test_container_nginx.py does for nginx).
    (folder / "hosts").write_text(f"127.0.0.1 localhost {NAME}\n")
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    script = 'mount --bind "$1" /etc/hosts && exec pebble -config "$2"'
    # Real validations at full speed, no nonce rejected at random, and no authorization
    # reused: the renewal is validated through nginx again.
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    log = folder / "pebble.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*namespace, "sh", "-c", script, "sh", folder / "hosts", folder / "config.json"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Its roots are made at each start: the one that verifies what nginx serves later.
        def root():
            assert process.poll() is None, f"pebble exited:\n{log.read_text()}"
            try:
                answer = requests.get(
                    f"https://127.0.0.1:{management_port}/roots/0", verify=folder / "ca.crt", timeout=2
                )
            except requests.ConnectionError:
                return None
            return answer.ok and answer.text

        (folder / "root.pem").write_text(wait_until(root, 30, message="pebble's management API"))
        yield SimpleNamespace(
            directory=f"https://127.0.0.1:{acme_port}/dir",
            api_ca=folder / "ca.crt",  # what certbot trusts for the ACME API (REQUESTS_CA_BUNDLE)
            root=folder / "root.pem",  # what verifies the certificates pebble issues
            http_port=http_port,
            log=log,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


class Site:
    """An nginx rendered from nginx/app.conf.template, as deploy/install renders a host's, on
    loopback only; `nginx` on self.path means this one (the deploy hook calls plain `nginx`)."""

    def __init__(self, folder, http_port):
        self.folder = folder
        self.https_port = free_port()
        self.webroot = folder / "acme"
        self.static = folder / "static"
        for path in (self.webroot, self.static, folder / "run" / "nginx", folder / "log", folder / "bin"):
            path.mkdir(parents=True)
        self.access_log = folder / "log" / "access.log"
        self.env = {
            **os.environ,
            "ENV_FILE": "/dev/null",
            "RUN_DIR": str(folder / "run"),
            # Addresses rather than ports: nginx listens on loopback only.
            "HTTP_PORT": f"127.0.0.1:{http_port}",
            "HTTPS_PORT": f"127.0.0.1:{self.https_port}",
            "DJANGO_HTTPS": "true",
            "DJANGO_HSTS_SECONDS": "60",
            "ACME_WEBROOT": str(self.webroot),
            "NGINX_WORKER_USER": pwd.getpwuid(os.geteuid()).pw_name,  # tmp_path is private
            "WEB_UPSTREAM": "127.0.0.1:1",
            "FLOWER_UPSTREAM": "127.0.0.1:1",
            "STATIC_ROOT": str(self.static),
            "HTPASSWD_FILE": str(folder / "htpasswd"),
            "NGINX_TASKS_RATE": "10r/s",
            "NGINX_TASKS_BURST": "10",
            "NGINX_MAX_BODY_SIZE": "1m",
            "NGINX_ACCESS_LOG": str(self.access_log),
            "NGINX_LOG_FORMAT": "app_plain",  # the combined format (request_id= appended)
        }
        prefix = folder / "run" / "nginx"
        shim = folder / "bin" / "nginx"
        shim.write_text(f'#!/bin/sh\nexec {shutil.which("nginx")} -p {prefix} -c {prefix}/nginx.conf "$@"\n')
        shim.chmod(0o755)
        self.path = f"{shim.parent}:{os.environ['PATH']}"
        self.process = None

    def render(self, cert, key):
        env = {**self.env, "NGINX_TLS_CERT": str(cert), "NGINX_TLS_KEY": str(key)}
        for template, name in (("native.conf.template", "nginx.conf"), ("app.conf.template", "app.conf")):
            out = self.folder / "run" / "nginx" / name
            subprocess.run([ROOT / "deploy/native/render", ROOT / "nginx" / template, out], env=env, check=True)

    def start(self):
        self.process = subprocess.Popen([ROOT / "deploy/bin/nginx"], env=self.env, stderr=subprocess.DEVNULL)
        wait_until(lambda: served(self.https_port) if self.port_open() else None, 10, message="the test nginx")

    def port_open(self):
        assert self.process.poll() is None, "the test nginx exited"
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.https_port)) == 0

    def reload(self):
        subprocess.run([self.folder / "bin" / "nginx", "-s", "reload"], check=True)

    def workers(self):
        """pid -> process title of the master's children."""
        out = subprocess.run(
            ["ps", "--ppid", str(self.process.pid), "-o", "pid=,args="], capture_output=True, text=True
        ).stdout
        return {int(pid): title for pid, title in (line.split(None, 1) for line in out.splitlines())}

    def master_pid(self):
        return int((self.folder / "run" / "nginx" / "nginx.pid").read_text())

    def challenges_served(self):
        """The HTTP-01 challenge fetches nginx answered with 200 (the access log's lines)."""
        return re.findall(r'"GET /\.well-known/acme-challenge/\S+ HTTP/1\.1" 200 ', self.access_log.read_text())

    def connection_owner(self, client_port):
        """The pid of the nginx process holding the connection from client_port."""
        out = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{self.https_port} and dport = :{client_port} )"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(re.search(r"pid=(\d+)", out).group(1))

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def site(pebble, tmp_path):
    """The test nginx serving a private-CA pair, as deploy/install does before a public one."""
    running = Site(tmp_path / "site", pebble.http_port)
    tls = tmp_path / "site-tls"
    subprocess.run([ROOT / "deploy/bin/make-certs", tls, f"site,{NAME},localhost,127.0.0.1"], check=True,
                   capture_output=True)  # fmt: skip
    running.private_pair = (tls / "site.crt", tls / "site.key")
    running.render(*running.private_pair)
    try:
        running.start()
        yield running
    finally:
        running.stop()


class Download:
    """A GET of a large file over its own TLS connection, read at the test's pace."""

    def __init__(self, port, cafile, path):
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.tls = tls_context(cafile).wrap_socket(raw, server_hostname=NAME)
        self.certificate = describe(self.tls.getpeercert(binary_form=True))
        self.local_port = self.tls.getsockname()[1]
        self.tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.tls.recv(65536)
            assert chunk, f"connection closed before the headers: {head!r}"
            head += chunk
        head, body = head.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 "), head
        self.length = int(re.search(rb"\r\ncontent-length: (\d+)", head, re.I).group(1))
        self.received = len(body)
        self.digest = hashlib.sha256(body)

    def read(self, up_to):
        """Read until up_to body bytes have arrived, or the connection ends."""
        while self.received < up_to:
            try:
                chunk = self.tls.recv(min(1 << 20, up_to - self.received))
            except (ConnectionError, ssl.SSLError):
                chunk = b""  # reset or cut mid-record: the test counts what arrived
            if not chunk:
                break
            self.received += len(chunk)
            self.digest.update(chunk)

    def close(self):
        self.tls.close()


@pytest.fixture
def host_certbot_untouched():
    before = snapshot(HOST_CERTBOT_FOLDERS)
    yield
    assert snapshot(HOST_CERTBOT_FOLDERS) == before, "the host's certbot folders changed"


def test_certbot_obtains_from_pebble_and_a_renewal_reloads_nginx_without_cutting_a_download(
    pebble, site, tmp_path, host_certbot_untouched
):
    letsencrypt = tmp_path / "letsencrypt"
    certbot_dirs = [arg for kind in ("config", "work", "logs") for arg in (f"--{kind}-dir", letsencrypt / kind)]
    env_file = tmp_path / "app.env"
    env_file.write_text(
        "# the host's settings\nDJANGO_HTTPS=true\n"
        f"NGINX_TLS_CERT={site.private_pair[0]}\nNGINX_TLS_KEY={site.private_pair[1]}\n"
        f"ACME_WEBROOT={site.webroot}\nACME_SERVER={pebble.directory}\n"
    )
    env_file.chmod(0o600)
    # The file's settings, not the caller's (tests/run exports NGINX_TLS_CERT=, which would win).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGINX_TLS_", "ACME_"))}
    env |= {"ENV_FILE": str(env_file), "REQUESTS_CA_BUNDLE": str(pebble.api_ca), "PATH": site.path}
    assert "app private CA" in served(site.https_port).issuer  # the pair deploy/install makes first

    # --- Obtain: certbot asks pebble, which fetches the challenge through nginx's plain HTTP.
    obtained = run([OBTAIN, *certbot_dirs, NAME, "ops@app.test"], env)
    assert obtained.returncode == 0, f"{obtained.output}\npebble:\n{pebble.log.read_text()[-3000:]}"
    live = letsencrypt / "config" / "live" / "app-site"
    settings = read_env_file(env_file)
    assert (settings["NGINX_TLS_CERT"], settings["NGINX_TLS_KEY"]) == (
        str(live / "fullchain.pem"),
        str(live / "privkey.pem"),
    )
    assert settings["DJANGO_HTTPS"] == "true" and settings["ACME_SERVER"] == pebble.directory
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert "run deploy/install again" in obtained.stderr
    hook = letsencrypt / "config" / "renewal-hooks" / "deploy" / "app-reload-nginx"
    assert hook.read_bytes() == HOOK.read_bytes() and os.access(hook, os.X_OK)
    # nginx writes its access lines at most 1 s late (buffered).
    challenges = wait_until(site.challenges_served, 5, message="pebble's challenge fetch in nginx's access log")

    # Run again: the certificate is not due, so it is kept, and the env file left as it is.
    issued = (live / "fullchain.pem").read_bytes()
    again = run([OBTAIN, *certbot_dirs, NAME, "ops@app.test"], env)
    assert again.returncode == 0, again.output
    assert (live / "fullchain.pem").read_bytes() == issued
    assert "already names" in again.stderr

    # --- What deploy/install does next: render the site with the env file's pair, reload.
    site.render(settings["NGINX_TLS_CERT"], settings["NGINX_TLS_KEY"])
    site.reload()
    first = wait_until(lambda: served_by(site.https_port, pebble.root), 10, message="nginx to serve pebble's chain")
    assert first.names == [NAME]
    assert first.issuer.startswith("CN = Pebble Intermediate CA"), first.issuer
    assert "app private CA" not in first.issuer

    # --- Renewal while a client downloads: certbot's deploy hook reloads nginx gracefully.
    payload = os.urandom(BIG_FILE_SIZE)
    (site.static / "big.bin").write_bytes(payload)
    download = Download(site.https_port, pebble.root, "/static/big.bin")
    download.read(1 << 20)  # 1 MiB in; then a slow client: it reads nothing while certbot runs
    assert download.certificate.serial == first.serial
    holder = site.connection_owner(download.local_port)
    assert holder in site.workers()

    renewed = run(["certbot", "renew", "--force-renewal", "--no-random-sleep-on-renew", *certbot_dirs], env)
    assert renewed.returncode == 0, f"{renewed.output}\npebble:\n{pebble.log.read_text()[-3000:]}"
    certbot_log = (letsencrypt / "logs" / "letsencrypt.log").read_text()
    assert f"Running deploy-hook command: {hook}" in certbot_log
    # The test never reloads nginx here: only the hook can have made it serve the new serial.
    second = wait_until(
        lambda: (c := served_by(site.https_port, pebble.root)) and c.serial != first.serial and c,
        15,
        message="nginx to serve the renewed certificate",
    )
    assert second.names == [NAME] and second.issuer.startswith("CN = Pebble Intermediate CA")
    wait_until(
        lambda: len(site.challenges_served()) > len(challenges),
        5,
        message="the renewal's challenge fetch in nginx's access log (validated through nginx)",
    )

    # Meanwhile the worker holding the download is an old one, told to stop: its title says
    # so, and it still holds the established connection, so it has not finished the response
    # (with Connection: close it would have closed it and exited).
    draining = eventually(lambda: "shutting down" in site.workers().get(holder, ""), 5)
    still_held = draining and site.connection_owner(download.local_port) == holder
    read_before = download.received
    download.read(download.length)
    download.close()
    # Not cut: every byte arrived, the same bytes, over the connection opened before the reload.
    assert download.received == download.length == BIG_FILE_SIZE, f"cut after {download.received} bytes"
    assert download.digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    assert download.certificate.serial == first.serial != second.serial
    assert draining and still_held, "the download's worker was not draining it across the reload"
    # Reloaded, not restarted: the same master; the old worker leaves once its response is sent.
    assert site.process.poll() is None and site.master_pid() == site.process.pid
    wait_until(lambda: holder not in site.workers(), 10, message="the old worker to exit")
    stages.note(
        f"certbot renew: the deploy hook reloaded nginx (serial {first.serial} -> {second.serial}); a download "
        f"read {read_before >> 20} of {BIG_FILE_SIZE >> 20} MiB at the reload completed on old worker {holder}"
    )


@pytest.mark.parametrize(
    "args, setting, message",
    [
        (["app.test"], "", "usage: obtain-certificate"),
        (["app.test", "ops@app.test", "extra"], "", "usage: obtain-certificate"),
        (["--server", "x", "app.test", "ops@app.test"], "", "unknown option --server"),
        (["app test", "ops@app.test"], "", "is not NAME[,OTHER_NAME...]"),
        (["app.test", "ops"], "", "'ops' is not an email address"),
        (["app.test", "ops@app.test"], "ACME_WEBROOT=\n", "ACME_WEBROOT is not set"),
        (["app.test", "ops@app.test"], "ACME_WEBROOT=/nonexistent/acme\n", "is not a folder"),
    ],
)
def test_obtain_certificate_refuses_bad_input_in_one_line(tmp_path, args, setting, message):
    env_file = tmp_path / "app.env"
    env_file.write_text(setting or f"ACME_WEBROOT={tmp_path}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")} | {"ENV_FILE": str(env_file)}
    result = run([OBTAIN, *args], env)
    assert result.returncode == 1
    assert result.stderr.startswith("obtain-certificate: error: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_obtain_certificate_names_the_package_when_certbot_is_missing(tmp_path):
    # A PATH holding what the script needs besides certbot.
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "dirname", "basename"):
        (tools / tool).symlink_to(shutil.which(tool))
    env_file = tmp_path / "app.env"
    env_file.write_text(f"ACME_WEBROOT={tmp_path}\n")
    env = {"PATH": str(tools), "ENV_FILE": str(env_file), "VENV_DIR": str(tmp_path / "no-venv")}
    result = run([tools / "bash", OBTAIN, "app.test", "ops@app.test"], env)
    assert result.returncode == 1
    assert result.stderr == "obtain-certificate: error: certbot is not installed: apt-get install certbot\n"
