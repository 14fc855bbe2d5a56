"""nitro_attest_reattest: a full handshake's verdict
serves a connection, and the sessions resumed from it, for at most the
given time: then http answers 421 and closes (HTTP/1.1 and HTTP/2), stream
closes, and the session no longer resumes; the client's next handshake
attests again.  On an `optional` server the request is still served, but
from then on the variables, the upstream headers and the JSON event say
FAILED:expired, the measurements stay, and no token is signed or sent.

One nginx:
  port0  http, on.test: nitro_attest on, reattest 2s, HTTP/2, tickets;
         optional.test: nitro_attest optional, reattest 2s, and
         notafter.test: optional, no reattest; both with upstream headers,
         a token key, and the variables as X-Test-* request headers, to an
         HTTP upstream that records them
  port1  stream, nitro_attest on, reattest 2s, an echo upstream
  port2  stream, nitro_attest optional, reattest 2s, an echo upstream
"""

import json
import os
import socket
import subprocess
import time

import pytest

import forge
import nginx
import tokens
from clients import attested, new_world
from files import write
from forge import GOOD
from nginx import closed_within, echoed, stream_main
from upstreams import Echo, Recorder, http_upstream

REATTEST_S = 2
# what an optional server hands its upstream: the variables, then the
# module's own headers
VARIABLES = ("status", "reason", "pcr0", "pcr1", "pcr2", "module_id",
             "timestamp", "age", "policy", "user_data", "nonce", "kind",
             "cert_sha256", "token", "json")
MEASUREMENTS = ("pcr0", "pcr1", "pcr2", "module_id", "timestamp", "age",
                "policy", "user_data", "nonce", "kind", "cert_sha256")


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki):
    w = new_world(tmp_path_factory.mktemp("reattest"), pki,
                  [("payments-v42", GOOD)])
    d = w.dir
    w.good = attested(d, "good", pki)
    w.opt = attested(d, "opt", pki, user_data=b"\x01\x02", nonce=b"\x03")
    w.echo = Echo("up")
    w.rec = Recorder()
    w.upstream = http_upstream(w.rec)
    key = write(os.path.join(d, "token.pem"),
                tokens.key_pem(tokens.new_key("p256")))
    variables = "".join(
        "proxy_set_header X-Test-%s $nitro_attest_%s;\n            "
        % (v.replace("_", "-"), v) for v in VARIABLES)

    reattest = "nitro_attest_reattest %ds;" % REATTEST_S

    def optional(name, *extra):
        return nginx.server(
            "@port0@ ssl http2", "nitro_attest_token_key %s;" % key, *extra,
            "location / {\n            nitro_attest_upstream_headers on;\n"
            "            %sproxy_pass http://127.0.0.1:%d;\n        }"
            % (variables, w.upstream.server_address[1]),
            name=name, attest="optional")

    trust = ("nitro_attest_policy %s/policy.json;" % d,
             "nitro_attest_trusted_root %s;" % pki.root_pem)

    def stream_server(listen, mode):
        return nginx.server(listen, *trust, reattest,
                            "proxy_pass 127.0.0.1:%d;" % w.echo.port,
                            attest=mode)

    http = (nginx.trust("%s/policy.json" % d, pki.root_pem)
            + nginx.server("@port0@ ssl http2", reattest,
                           'location / { return 200 '
                           '"served $nitro_attest_status\\n"; }',
                           name="on.test", attest="on")
            + optional("optional.test", reattest)
            + optional("notafter.test"))
    stream = (stream_server("@port1@ ssl", "on")
              + stream_server("@port2@ ssl", "optional"))
    yield from nginx.serving(w, http, ports=3, main=stream_main(stream))
    w.echo.shutdown()
    w.upstream.shutdown()


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


def seen_upstream(pairs):
    """What the upstream got: {"vars": {variable: value, ...}, "headers":
    {X-Nitro-Attest-* header, lowercase: value}}; nginx sends no header
    for an empty variable."""
    got = {name.lower(): value for name, value in pairs}
    return {"vars": {v: got.get("x-test-" + v.replace("_", "-"), "")
                     for v in VARIABLES},
            "headers": {k: v for k, v in got.items()
                        if k.startswith("x-nitro-attest-")}}


def check_expired(before, after):
    """before: a request within the verdict's time; after: one past it, on
    the same connection."""
    v = before["vars"]
    assert v["status"] == "SUCCESS" and v["reason"] == ""
    assert v["token"].count(".") == 2
    assert before["headers"]["x-nitro-attest-status"] == "SUCCESS"
    assert before["headers"]["x-nitro-attest-token"] == v["token"]
    assert before["headers"]["x-nitro-attest-pcr0"] == v["pcr0"]
    assert all(v[m] for m in MEASUREMENTS), v

    w = after["vars"]
    assert w["status"] == "FAILED:expired"
    assert w["reason"] == "expired"
    assert {m: w[m] for m in MEASUREMENTS} == {m: v[m] for m in MEASUREMENTS}
    assert w["token"] == ""
    # only the status: measurements and the token come from a valid verdict
    assert after["headers"] == {"x-nitro-attest-status": "FAILED:expired"}

    event, was = json.loads(w["json"]), json.loads(v["json"])
    assert (event["status"], event["reason"], event["severity"]) == \
        ("FAILED", "expired", "WARNING")
    assert (was["status"], was["reason"]) == ("SUCCESS", None)
    for k in ("module_id", "timestamp_ms", "age_s", "pcrs", "policy",
              "user_data", "nonce", "cert_sha256", "doc_sha384", "kind"):
        assert event[k] == was[k], k


@pytest.mark.parametrize("host", ["optional.test", "notafter.test"])
def test_optional_http11_says_failed_expired_past_the_deadline(world, host):
    """nitro_attest_reattest (optional.test), or the chain's earliest
    notAfter (notafter.test: a leaf valid 3 s more), on one keep-alive
    connection: served throughout, but nothing reports the old verdict as
    valid once it expired."""
    if host == "optional.test":
        client, wait = world.opt, REATTEST_S + 0.5
    else:
        now = forge.now_ms()
        client = attested(world.dir, "near", world.pki, user_data=b"\x01",
                          nonce=b"\x02", timestamp_ms=now,
                          leaf=world.pki.leaf(now, after_ms=3000))
        wait = 4
    with nginx.Connection(world.port[0], client.ctx("1.3"), host) as conn:
        assert conn.request(host).status == 200
        before = seen_upstream(world.rec.last())
        time.sleep(wait)
        late = conn.request(host)
        assert late.status == 200 and late.text == "ok"
        assert late.headers.get("connection") != "close"
        after = seen_upstream(world.rec.last())
        # and so it stays
        assert conn.request(host).status == 200
        assert seen_upstream(world.rec.last()) == after
    check_expired(before, after)


def test_optional_http2_says_failed_expired_past_the_deadline(world):
    port = world.port[0]
    url = "https://optional.test:%d/" % port
    n = len(world.rec.seen)
    # two requests 3 s apart on one HTTP/2 connection
    p = subprocess.run(
        ["curl", "-skv", "--http2", "--rate", "20/m", "--cert",
         world.opt.cert, "--key", world.opt.key, "--resolve",
         "optional.test:%d:127.0.0.1" % port, "-w", "\ncode=%{http_code}\n",
         url, url],
        capture_output=True, text=True, timeout=30)
    codes = [line for line in p.stdout.splitlines()
             if line.startswith("code=")]
    assert codes == ["code=200", "code=200"], p.stdout + p.stderr
    assert "Re-using existing" in p.stderr
    assert "using HTTP/2" in p.stderr
    seen = world.rec.seen[n:]
    assert len(seen) == 2
    check_expired(seen_upstream(seen[0]), seen_upstream(seen[1]))


def test_optional_stream_session_closed_at_the_deadline(world):
    ctx = world.good.ctx("1.3")
    raw = socket.create_connection(("127.0.0.1", world.port[2]), 5)
    with ctx.wrap_socket(raw) as s:
        echoed(s, b"a", b"up:a")
        start = time.time()
        assert closed_within(s, REATTEST_S + 5)
        assert time.time() - start <= REATTEST_S + 2


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
