"""HTTP/3 (QUIC) next to an attesting server.

nitro_attest attests TLS connections over TCP only.  A request over QUIC
(HTTP/3) is refused with 421 and an info log line on an `on` server (a
client may retry over TCP, where it is attested), and sees the variables
of an unattested request (status NONE) on an `optional` one; `nginx -t`
warns about every `listen ... quic` of an attesting server.

Runs where nginx has the http_v3 module (Debian 13's nginx 1.26); the
requests need a curl with HTTP/3 (Debian 13's has it).  Skipped on Debian
12, whose nginx 1.22 has no QUIC.
"""

import os
import subprocess

import pytest

import forge
import nginx
from clients import attested
from files import write
from forge import GOOD


def _nginx_has_http3():
    try:
        p = subprocess.run([nginx.NGINX, "-V"], capture_output=True,
                           text=True, timeout=10)
    except OSError:
        return False
    return "--with-http_v3_module" in p.stderr


def _curl_has_http3():
    try:
        p = subprocess.run(["curl", "-V"], capture_output=True, text=True,
                           timeout=10)
    except OSError:
        return False
    return "HTTP3" in p.stdout.split()


pytestmark = pytest.mark.skipif(
    not _nginx_has_http3(),
    reason="nginx without http_v3 (Debian 12's nginx 1.22 has no QUIC)")
needs_curl = pytest.mark.skipif(not _curl_has_http3(),
                                reason="curl without HTTP/3")


def quic_server(port, name, mode, root):
    """Server NAME on TCP and QUIC, answering its status and protocol."""
    return nginx.server(
        "@port%d@ ssl" % port, "listen 127.0.0.1:@port%d@ quic;" % port,
        "server_name %s;" % name, "nitro_attest %s;" % mode,
        "nitro_attest_policy @prefix@/policy.json;",
        "nitro_attest_trusted_root %s;" % root,
        'location / { return 200 "status=$nitro_attest_status\\n'
        'protocol=$server_protocol\\n"; }')


@pytest.fixture(scope="module")
def server(pki, tmp_path_factory):
    n = nginx.Nginx(quic_server(0, "on.test", "on", pki.root_pem)
                    + quic_server(1, "optional.test", "optional",
                                  pki.root_pem), ports=2)
    write(os.path.join(n.prefix, "policy.json"),
          forge.policy([("payments-v42", GOOD)]))
    n.client = attested(str(tmp_path_factory.mktemp("h3-client")), "client",
                        pki)
    try:
        yield n
    finally:
        n.stop()


def test_nginx_t_warns_about_quic_listens(server):
    p = server.test_config()
    assert p.returncode == 0, p.stdout
    for port, what in ((server.ports[0], "they are refused with 421"),
                       (server.ports[1], "their status is NONE")):
        assert ("applies to a server that listens on 127.0.0.1:%d with "
                "quic: HTTP/3 requests are not attested (%s)" % (port, what)
                in p.stdout), p.stdout
    assert "[warn]" in p.stdout


def curl(server, host, port, *http):
    p = subprocess.run(
        ["curl", "-sk", "--max-time", "10"] + list(http)
        + ["--cert", server.client.cert, "--key", server.client.key,
           "--resolve", "%s:%d:127.0.0.1" % (host, port),
           "-w", "code=%{http_code}\n", "https://%s:%d/" % (host, port)],
        capture_output=True, text=True, timeout=30)
    return p.stdout


@needs_curl
def test_http3_request_refused_on_an_on_server(server):
    if not server.proc:
        server.start()
    port = server.ports[0]
    # the same client over TCP is attested
    assert "status=SUCCESS" in curl(server, "on.test", port, "--http1.1")
    out = curl(server, "on.test", port, "--http3-only")
    assert "code=421" in out, out
    assert "status=" not in out
    assert ("nitro_attest does not attest HTTP/3 (QUIC) requests, request "
            "refused") in server.log_text()


@needs_curl
def test_http3_request_on_an_optional_server_is_none(server):
    if not server.proc:
        server.start()
    port = server.ports[1]
    assert "status=SUCCESS" in curl(server, "optional.test", port,
                                    "--http1.1")
    out = curl(server, "optional.test", port, "--http3-only")
    assert "status=NONE\nprotocol=HTTP/3.0\ncode=200" in out, out
