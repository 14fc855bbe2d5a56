"""nitro_attest_reattest (CONTRACT section 14): a full handshake's verdict
serves a connection, and the sessions resumed from it, for at most the
given time: then http answers 421 and closes (HTTP/1.1 and HTTP/2), stream
closes, and the session no longer resumes; the client's next handshake
attests again.

One nginx:
  port0  http, on.test: nitro_attest on, reattest 2s, HTTP/2, tickets
  port1  stream, nitro_attest on, reattest 2s, an echo upstream
"""

import os
import socket
import subprocess
import time

import pytest

import forge
import nginx
from test_nginx_attest import attested, write
from test_nginx_stream import Echo, closed_within, echoed, stream_main

GOOD = {i: forge.default_pcrs()[i] for i in (0, 1, 2)}
REATTEST_S = 2


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki):
    class W:
        pass
    w = W()
    w.dir = d = str(tmp_path_factory.mktemp("reattest"))
    write(os.path.join(d, "policy.json"), forge.policy(
        [("payments-v42", GOOD)]))
    w.good = attested(d, "good", pki)
    w.echo = Echo("up")
    http = """
    nitro_attest_policy %(d)s/policy.json;
    nitro_attest_trusted_root %(root)s;

    server {
        listen 127.0.0.1:@port0@ ssl http2;
        server_name on.test;
        nitro_attest on;
        nitro_attest_reattest %(s)ds;
        location / { return 200 "served $nitro_attest_status\\n"; }
    }
    """ % dict(d=d, root=pki.root_pem, s=REATTEST_S)
    stream = """
    server {
        listen 127.0.0.1:@port1@ ssl;
        nitro_attest on;
        nitro_attest_policy %(d)s/policy.json;
        nitro_attest_trusted_root %(root)s;
        nitro_attest_reattest %(s)ds;
        proxy_pass 127.0.0.1:%(echo)d;
    }
    """ % dict(d=d, root=pki.root_pem, s=REATTEST_S, echo=w.echo.port)
    w.nginx = nginx.Nginx(http, ports=2, main=stream_main(stream)).start()
    w.port = w.nginx.ports
    yield w
    w.nginx.stop()
    w.echo.shutdown()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_http11_421_and_close_at_the_deadline_then_attests_again(world,
                                                                 version):
    ctx = world.good.ctx(version)
    conn = nginx.Connection(world.port[0], ctx, "on.test")
    try:
        assert conn.request("on.test").status == 200
        session = conn.session
        # within the deadline the session resumes, with its verdict
        again, c2 = nginx.get(world.port[0], ctx, "on.test", session=session)
        assert c2.reused and again.status == 200
        c2.close()

        time.sleep(REATTEST_S + 0.5)
        late = conn.request("on.test")
        assert late.status == 421
        assert late.headers.get("connection") == "close"
        assert conn.closed_by_peer()
    finally:
        conn.close()

    # past the deadline the session does not resume: a full handshake
    resp, c3 = nginx.get(world.port[0], ctx, "on.test", session=session)
    assert not c3.reused
    assert resp.status == 200 and resp.text == "served SUCCESS\n"
    c3.close()
    assert "client attestation expired" in world.nginx.log_text()


def test_http2_421_and_goaway_at_the_deadline(world):
    port = world.port[0]
    url = "https://on.test:%d/" % port
    # three requests 3 s apart on one HTTP/2 connection
    p = subprocess.run(
        ["curl", "-skv", "--http2", "--rate", "20/m", "--cert",
         world.good.cert, "--key", world.good.key, "--resolve",
         "on.test:%d:127.0.0.1" % port, "-w", "code=%{http_code}\n",
         url, url, url],
        capture_output=True, text=True, timeout=30)
    codes = [line for line in p.stdout.splitlines()
             if line.startswith("code=")]
    assert codes[:2] == ["code=200", "code=421"], p.stdout + p.stderr
    # curl 7.88: "Re-using existing connection", 8.14: "... https: connection"
    assert "Re-using existing" in p.stderr
    assert "GOAWAY" in p.stderr
    # the third request is a new connection: it attests again and is served
    assert codes[2] == "code=200", p.stdout


def test_stream_session_closed_at_the_deadline(world):
    """The client's session and the connection nginx made to the upstream
    for it both end at the deadline."""
    ctx = world.good.ctx("1.3")
    token = os.urandom(8).hex().encode()
    raw = socket.create_connection(("127.0.0.1", world.port[1]), 5)
    with ctx.wrap_socket(raw) as s:
        echoed(s, token, b"up:" + token)
        start = time.time()
        assert closed_within(s, REATTEST_S + 5)
        assert time.time() - start <= REATTEST_S + 2
        closed = time.monotonic()
    ended = world.echo.ended(token, 3)
    assert ended is not None, "the upstream connection is still open"
    assert ended - closed < 3


@pytest.mark.parametrize("value", ["0", "soon", "-1s"])
def test_bad_reattest_value_fails_nginx_t(world, value):
    n = nginx.Nginx("""
    server {
        listen 127.0.0.1:@port0@ ssl;
        nitro_attest on;
        nitro_attest_policy %s/policy.json;
        nitro_attest_reattest %s;
    }""" % (world.dir, value))
    try:
        out = n.test_config()
    finally:
        n.stop()
    assert out.returncode != 0
    assert ('invalid value "%s" in "nitro_attest_reattest" directive'
            % value) in out.stdout
    assert "nginx.conf:" in out.stdout
