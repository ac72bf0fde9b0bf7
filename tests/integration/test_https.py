"""HTTPS at nginx, as clients meet it: the test stack runs with DJANGO_HTTPS=true and the
certificate pair deploy/native/up makes from its private CA (tests/run)."""

import http.client
import re
import socket
import ssl
import subprocess

import pytest
import requests

pytestmark = pytest.mark.stack

HSTS = "max-age=31536000; includeSubDomains; preload"


def curl(stack, *args):
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", "--cacert", str(stack.ca_file), *args],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def plain_request(stack, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_plain_http_is_redirected_to_https_with_the_method_kept(stack):
    for method, path in (("GET", "/"), ("GET", "/tasks/abc/?x=1"), ("POST", "/tasks/"), ("GET", "/flower/")):
        status, headers, _ = plain_request(stack, method, path, body=b"type=1" if method == "POST" else None)
        assert status == 308, (method, path, status)
        assert headers["Location"] == f"https://127.0.0.1:{stack.https_port}{path}"
        assert "Strict-Transport-Security" not in headers  # HSTS means nothing over plain HTTP
    # A forged X-Forwarded-Proto does not let a plain request through to Django either.
    status, _, _ = plain_request(stack, "GET", "/_test/request-seen/", {"X-Forwarded-Proto": "https"})
    assert status == 308


def test_health_probes_and_acme_challenges_stay_on_plain_http(stack):
    status, headers, body = plain_request(stack, "GET", "/healthz")
    assert status == 200 and "Strict-Transport-Security" not in headers
    assert plain_request(stack, "GET", "/readyz")[0] == 200
    # certbot --webroot writes a token file; the CA fetches it over plain HTTP.
    challenge = stack.run_dir / "acme" / ".well-known" / "acme-challenge" / "token-123"
    challenge.write_text("token-123.thumbprint")
    try:
        status, headers, body = plain_request(stack, "GET", "/.well-known/acme-challenge/token-123")
        assert (status, body) == (200, b"token-123.thumbprint")
        assert headers["Content-Type"] == "text/plain"
    finally:
        challenge.unlink()
    assert plain_request(stack, "GET", "/.well-known/acme-challenge/missing")[0] == 404


def test_curl_gets_http2_and_one_hsts_header_on_every_kind_of_answer(stack):
    for path in ("/", "/static/workflow/main.css", "/tasks/", "/no-such-page/"):
        head = curl(stack, "--http2", "--head", stack.url + path).lower()
        assert head.startswith("http/2 "), head
        assert head.count("strict-transport-security:") == 1, (path, head)
        assert f"strict-transport-security: {HSTS.lower()}" in head


def test_cookies_are_secure_only_and_django_sees_https(stack):
    session = requests.Session()
    login = session.get(stack.url + "/admin/login/")
    assert login.status_code == 200
    cookie = next(c for c in session.cookies if c.name == "csrftoken")
    assert cookie.secure
    set_cookie = login.headers["Set-Cookie"]
    assert "Secure" in set_cookie and "SameSite=Lax" in set_cookie
    # The form posts back with that cookie over HTTPS: the CSRF check (Referer and Origin
    # against the HTTPS host) passes, and a wrong password gets the form again, not a 403.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    answer = session.post(
        stack.url + "/admin/login/",
        data={"csrfmiddlewaretoken": token, "username": "nobody", "password": "wrong"},
        headers={"Referer": stack.url + "/admin/login/", "Origin": stack.url},
    )
    assert answer.status_code == 200 and "Please enter the correct username" in answer.text


def handshake(stack, version, ciphers="ALL"):
    """("agreed", cipher) when nginx completes a handshake with a client limited to one
    protocol version (and ciphers); ("refused", reason) when nginx answers with an alert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(stack.ca_file)
    context.minimum_version = context.maximum_version = version
    # Security level 0: this client offers what old clients offer; the server must refuse.
    context.set_ciphers(ciphers + ":@SECLEVEL=0")
    try:
        with socket.create_connection(("127.0.0.1", stack.https_port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return "agreed", tls.cipher()[0]
    except ssl.SSLError as error:
        # Only an alert from the server counts: a client that could not even offer the
        # version or cipher (NO_PROTOCOLS_AVAILABLE...) would prove nothing.
        assert "ALERT" in error.reason, error
        return "refused", error.reason


def tls12_cipher_names():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    # PSK and SRP suites need a shared secret this client does not have: it could not offer them.
    names = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    return sorted(name for name in names if "PSK" not in name and "SRP" not in name)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1")  # offering them is the point
def test_only_tls_1_2_and_1_3_with_forward_secret_aead_ciphers(stack):
    assert handshake(stack, ssl.TLSVersion.TLSv1_3)[0] == "agreed"
    assert handshake(stack, ssl.TLSVersion.TLSv1_2)[0] == "agreed"
    assert handshake(stack, ssl.TLSVersion.TLSv1_1) == ("refused", "TLSV1_ALERT_PROTOCOL_VERSION")
    assert handshake(stack, ssl.TLSVersion.TLSv1) == ("refused", "TLSV1_ALERT_PROTOCOL_VERSION")
    offered = tls12_cipher_names()
    assert len(offered) > 20  # the client really tries the weak ones: CBC, SHA-1, RSA key exchange
    agreed = {name for name in offered if handshake(stack, ssl.TLSVersion.TLSv1_2, name) == ("agreed", name)}
    assert agreed, "no TLS 1.2 cipher agreed"
    weak = {name for name in agreed if not re.match(r"^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$", name)}
    assert not weak, f"weak TLS 1.2 ciphers accepted: {sorted(weak)}"


def test_chain_served_names_the_host(stack):
    """What a client verifies: the certificate chains to the CA and names 127.0.0.1 and localhost."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{stack.https_port}", "-CAfile", str(stack.ca_file),
         "-verify_return_error", "-verify_ip", "127.0.0.1", "-brief"],
        input="", capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Verification: OK" in out.stderr
    assert curl(stack, "--resolve", f"localhost:{stack.https_port}:127.0.0.1", "-o", "/dev/null", "-w",
                "%{http_code}", f"https://localhost:{stack.https_port}/healthz") == "200"  # fmt: skip
