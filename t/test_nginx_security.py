"""Issue 10 against a real nginx (CONTRACT section 10): a verdict counts
only for a client that proved its key; every resumption path keeps the
verdict of its own server and configuration or does not resume; a ticket
without a verdict never resumes into an "on" server, nor does a session
made on a server that does not attest when another socket's server is
"on" (full handshake, never a resumption answered 421); zone name clashes
fail nginx -t.

A replay is a client that presents the genuine certificate but cannot
sign with its key: its key file holds the certificate's public point with
another scalar, so the client library's key check passes and the
CertificateVerify it sends does not verify.
"""

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest
import forge
import nginx
from test_nginx_attest import Client, attested, write
from test_nginx_stream import stream_main
from test_nginx_telemetry import LogTail, delta

GOOD = {i: forge.default_pcrs()[i] for i in (0, 1, 2)}
STATUS = "/nitro-attest/status"


def replay_of(directory, client: Client, name="replay") -> Client:
    """The same certificate as client, with a key that cannot sign for it."""
    replay = Client.__new__(Client)
    replay.der = client.der
    replay.cert = client.cert
    replay.key = write(os.path.join(directory, name + ".key"),
                       forge.wrong_key_pem(client.private_key))
    replay.sha256 = client.sha256
    replay.contexts = {}
    return replay


def genuine(directory, name, pki, **kw) -> Client:
    key = forge.new_key()
    c = attested(directory, name, pki, key=key, **kw)
    c.private_key = key
    return c


def connect(port, client, host, version=None, session=None, sni="",
            ctx=None):
    """(response or None when the handshake was refused, session, reused)"""
    if ctx is None:
        ctx = client.ctx(version) if client else nginx.client_context(
            version=version)
    try:
        resp, conn = nginx.get(port, ctx, host, sni=sni, session=session)
    except (ssl.SSLError, ConnectionError, OSError):
        return None, None, False
    try:
        return resp, conn.session, conn.reused
    finally:
        conn.close()


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, STATUS),
                                timeout=5) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------------------
# Finding 1: a replayed certificate is counted and logged, and silences
# nobody.

@pytest.fixture(scope="module")
def replay_world(tmp_path_factory, pki):
    class W:
        pass
    w = W()
    w.dir = d = str(tmp_path_factory.mktemp("replay"))
    w.pki = pki
    write(os.path.join(d, "policy.json"), forge.policy(
        [("payments-v42", GOOD)]))
    w.events = os.path.join(d, "events.log")
    body = """
    nitro_attest_policy %(d)s/policy.json;
    nitro_attest_trusted_root %(root)s;

    server {
        listen 127.0.0.1:@port0@ ssl default_server;
        server_name replay.test;
        nitro_attest on;
        nitro_attest_cache zone=verdicts:1m;
        nitro_attest_event_log %(events)s;
        location / { return 200 "$nitro_attest_status"; }
    }

    server {
        listen 127.0.0.1:@port1@;
        location = %(status)s { nitro_attest_status; }
    }
    """ % dict(d=d, root=pki.root_pem, events=w.events, status=STATUS)
    w.nginx = nginx.Nginx(body, ports=2).start()
    w.port = w.nginx.ports
    yield w
    w.nginx.stop()


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_replays_logged_key_not_proven_genuine_client_then_success(
        replay_world, version):
    w = replay_world
    good = genuine(w.dir, "good" + version, w.pki)
    replay = replay_of(w.dir, good, "replay" + version)
    tail = LogTail(w.events)
    before = metrics(w.port[1])

    for _ in range(3):
        resp, _, _ = connect(w.port[0], replay, "replay.test", version)
        assert resp is None, "a replay was served: %r" % resp

    events = tail.events(expect=3)
    assert len(events) == 3, events
    for e in events:
        assert e["status"] == "FAILED"
        assert e["reason"] == "key_not_proven"
        assert e["severity"] == "CRITICAL"
        # the measurements of a verified document, as for binding_mismatch
        assert e["module_id"] == forge.DEFAULT_MODULE_ID
        assert e["pcrs"]["0"] == GOOD[0].hex()
        assert e["policy"] == "payments-v42"
        assert e["cert_sha256"] == good.sha256
        assert e["cache"] == "miss"

    d = delta(metrics(w.port[1]), before)
    assert d["handshakes"] == {"verified": 0, "failed": 3}
    assert d["failures"]["key_not_proven"] == 3
    assert d["cache"] == {"hit": 0, "miss": 3}

    # the genuine client right after: served, logged SUCCESS, verified
    resp, _, _ = connect(w.port[0], good, "replay.test", version)
    assert resp is not None and resp.status == 200 and resp.text == "SUCCESS"
    events = tail.events(expect=4)
    assert [e["status"] for e in events] == ["FAILED"] * 3 + ["SUCCESS"]
    assert events[3]["cache"] == "miss"
    d = delta(metrics(w.port[1]), before)
    assert d["handshakes"] == {"verified": 1, "failed": 3}
    assert d["policies"]["payments-v42"]["matches"] == 1

    # now cached: a replay takes the verdict from the cache, and still
    # gets its own line; the genuine client's next handshake is a hit
    resp, _, _ = connect(w.port[0], replay, "replay.test", version)
    assert resp is None
    events = tail.events(expect=5)
    assert events[4]["reason"] == "key_not_proven"
    assert events[4]["cache"] == "hit"

    resp, _, _ = connect(w.port[0], good, "replay.test", version)
    assert resp is not None and resp.text == "SUCCESS"
    time.sleep(0.2)
    assert len(tail.events()) == 5  # a hit is counted, not re-logged
    d = delta(metrics(w.port[1]), before)
    assert d["handshakes"] == {"verified": 2, "failed": 4}
    assert d["failures"]["key_not_proven"] == 4
    assert d["cache"] == {"hit": 2, "miss": 4}


def test_openssl_s_client_replay_over_tls12_is_key_not_proven(replay_world):
    """Another real client: openssl s_client presenting the genuine
    certificate with the wrong key is refused at its CertificateVerify,
    and that handshake gets its own key_not_proven line."""
    w = replay_world
    replay = replay_of(w.dir, genuine(w.dir, "s_client", w.pki),
                       "s_client-replay")
    tail = LogTail(w.events)
    out = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % w.port[0],
         "-servername", "replay.test", "-tls1_2", "-cert", replay.cert,
         "-key", replay.key],
        input=b"", capture_output=True, timeout=10)
    assert b"alert" in out.stderr + out.stdout, out
    events = tail.events(expect=1)
    assert [e["reason"] for e in events] == ["key_not_proven"]
    assert events[0]["cert_sha256"] == replay.sha256


# ---------------------------------------------------------------------------
# Findings 2 and 3: every resumption path.

def resumption_body(d, root, cache, tickets, second_mode="on"):
    return """
    nitro_attest_policy %(d)s/policy.json;
    nitro_attest_trusted_root %(root)s;
    ssl_session_cache %(cache)s;
    ssl_session_tickets %(tickets)s;
    ssl_session_ticket_key %(d)s/ticket.key;
    ssl_session_timeout 10m;

    server {
        listen 127.0.0.1:@port0@ ssl default_server;
        server_name a.test;
        nitro_attest on;
        location / { return 200 "a $nitro_attest_status $nitro_attest_cert_sha256"; }
    }

    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name c.test;
        nitro_attest %(second)s;
        location / { return 200 "c $nitro_attest_status $nitro_attest_cert_sha256"; }
    }

    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name opt.test;
        nitro_attest optional;
        location / { return 200 "opt $nitro_attest_status"; }
    }
    """ % dict(d=d, root=root, cache=cache, tickets=tickets,
               second=second_mode)


@pytest.fixture(scope="module")
def resume_dir(tmp_path_factory, pki):
    d = str(tmp_path_factory.mktemp("resume"))
    write(os.path.join(d, "policy.json"), forge.policy(
        [("payments-v42", GOOD)]))
    write(os.path.join(d, "ticket.key"), os.urandom(80))
    return d


def client_ctx(client, version, tickets):
    ctx = nginx.client_context(client.cert, client.key, version)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


@pytest.mark.parametrize("cache", ["builtin", "shared:resume:1m"])
@pytest.mark.parametrize("server_tickets", ["on", "off"])
def test_every_resumption_path_keeps_its_verdict_or_does_not_resume(
        resume_dir, pki, cache, server_tickets):
    d = resume_dir
    good = genuine(d, "good-%s-%s" % (cache[:5], server_tickets), pki)
    with nginx.Nginx(resumption_body(d, pki.root_pem, cache,
                                     server_tickets)) as n:
        port = n.ports[0]
        for version in ("1.2", "1.3"):
            for client_tickets in (True, False):
                ctx = client_ctx(good, version, client_tickets)
                # a TLS 1.3 client takes tickets whatever OP_NO_TICKET says
                by_ticket = server_tickets == "on" and (
                    client_tickets or version == "1.3")
                first, conn = nginx.get(port, ctx, "a.test")
                session = conn.session
                conn.close()
                assert first.text == "a SUCCESS " + good.sha256

                # the same server: the same verdict, by ticket only
                again, conn = nginx.get(port, ctx, "a.test", session=session)
                reused = conn.reused
                conn.close()
                assert again.text == first.text

                # another server, on the same socket: never its verdict
                other, conn = nginx.get(port, ctx, "c.test", session=session)
                other_reused = conn.reused
                conn.close()
                assert other.text == "c SUCCESS " + good.sha256
                assert not other_reused

                # stateful resumption is off: only tickets resume
                assert reused == by_ticket, (version, client_tickets)

                # a client that attested on a but asks for c by Host only
                # is refused by the request guard, never served NONE
                mixed, conn = nginx.get(port, ctx, "c.test", sni="a.test",
                                        session=session)
                conn.close()
                assert mixed.status == 421

        # after a reload no session of before resumes
        ctx = client_ctx(good, "1.3", True)
        _, conn = nginx.get(port, ctx, "a.test")
        session = conn.session
        conn.close()
        n.reload()
        after, conn = nginx.get(port, ctx, "a.test", session=session)
        assert not conn.reused
        conn.close()
        assert after.text == "a SUCCESS " + good.sha256

        # stateful resumption is off on this socket, and nginx says so
        # (at configuration time, on stderr)
        with open(os.path.join(n.prefix, "logs", "stderr.log")) as f:
            assert "sessions there resume by ticket only" in f.read()



@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_ticket_without_verdict_never_resumes_into_an_on_server(
        resume_dir, pki, version):
    d = resume_dir
    with nginx.Nginx(resumption_body(d, pki.root_pem, "none", "on",
                                     second_mode="optional")) as n:
        port = n.ports[0]
        ctx = nginx.client_context(version=version)

        # no certificate on a report-only server: NONE, and a ticket
        resp, conn = nginx.get(port, ctx, "c.test")
        session = conn.session
        conn.close()
        assert resp.text.startswith("c NONE")

        # within this configuration it resumes there, with NONE
        resp, conn = nginx.get(port, ctx, "c.test", session=session)
        assert conn.reused
        conn.close()
        assert resp.text.startswith("c NONE")

        # into the enforcing server: no resumption, the handshake refused
        assert connect(port, None, "a.test", session=session,
                       ctx=ctx)[0] is None

        # the same server turned "on" by a reload: the ticket key survives,
        # the verdict-less ticket does not resume; no 421 loop
        n.reload(resumption_body(d, pki.root_pem, "none", "on",
                                 second_mode="on"))
        for _ in range(2):
            resp, _, reused = connect(port, None, "c.test", session=session,
                                      ctx=ctx)
            assert resp is None and not reused


# ---------------------------------------------------------------------------
# A session made on a server that does not attest never resumes on an "on"
# server, judged by the server the name picks now on the socket the client
# connects to, whichever server made the ticket: the ticket is opened with
# the callbacks of the socket's default server, before nginx switches to
# the server of the name, and one ticket key can serve several sockets.

OFF = 'location / { return 200 "off $nitro_attest_status\\n"; }'
ON = ('location / { return 200 '
      '"on $nitro_attest_status $nitro_attest_cert_sha256\\n"; }')

CROSS_SOCKET = {
    # one server is the default of both sockets (its ticket key serves
    # both); the name picks an "on" server on the second only
    "names_differ_per_socket": ("""
    server {
        listen 127.0.0.1:@port0@ ssl default_server;
        listen 127.0.0.1:@port1@ ssl default_server;
        server_name off.test;
        %(off)s
    }
    server {
        listen 127.0.0.1:@port1@ ssl;
        server_name x.test;
        nitro_attest on;
        %(on)s
    }""", "x.test"),
    # one ticket key file; a client without SNI gets each socket's default
    "default_differs_per_socket": ("""
    ssl_session_ticket_key %(d)s/ticket.key;
    server {
        listen 127.0.0.1:@port0@ ssl default_server;
        server_name off.test;
        %(off)s
    }
    server {
        listen 127.0.0.1:@port1@ ssl default_server;
        server_name on.test;
        nitro_attest on;
        %(on)s
    }""", None),
    # one ticket key file; the same name on two sockets
    "same_name_on_two_sockets": ("""
    ssl_session_ticket_key %(d)s/ticket.key;
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name x.test;
        %(off)s
    }
    server {
        listen 127.0.0.1:@port1@ ssl;
        server_name x.test;
        nitro_attest on;
        %(on)s
    }""", "x.test"),
    # stream: one ticket key file, a server on each socket
    "stream": ("""
    ssl_session_ticket_key %(d)s/ticket.key;
    nitro_attest_policy %(d)s/policy.json;
    nitro_attest_trusted_root %(root)s;
    server {
        listen 127.0.0.1:@port0@ ssl;
        return "off $nitro_attest_status\\n";
    }
    server {
        listen 127.0.0.1:@port1@ ssl;
        nitro_attest on;
        return "on $nitro_attest_status $nitro_attest_cert_sha256\\n";
    }""", "x.test"),
}


def attempt(port, ctx, sni, session=None, http=True):
    """One TLS connection that asks for / (http) or only reads (stream):
    (reused, session, data).  reused is None when the handshake failed at
    the client; data is what the server sent until it closed, None when it
    ended the connection with an alert or a reset."""
    raw = socket.create_connection(("127.0.0.1", port), 5)
    try:
        try:
            sock = ctx.wrap_socket(raw, server_hostname=sni, session=session)
        except (ssl.SSLError, OSError):
            return None, None, None
        reused = sock.session_reused
        data = b""
        try:
            if http:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n"
                             b"Connection: close\r\n\r\n"
                             % (sni or "x.test").encode())
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ssl.SSLError, OSError):
            data = None
        return reused, sock.session, data
    finally:
        raw.close()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("case", sorted(CROSS_SOCKET))
def test_session_of_a_non_attesting_server_never_resumes_into_an_on_one(
        resume_dir, pki, case, version):
    d = resume_dir
    body, sni = CROSS_SOCKET[case]
    http = case != "stream"
    body = body % dict(d=d, root=pki.root_pem, off=OFF, on=ON)
    if http:
        n = nginx.Nginx("nitro_attest_policy %s/policy.json;\n"
                        "nitro_attest_trusted_root %s;\n%s"
                        % (d, pki.root_pem, body), ports=2)
    else:
        n = nginx.Nginx("", ports=2, main=stream_main(body))
    good = genuine(d, "cross-%s-%s" % (case, version), pki)
    with n:
        off, on = n.ports
        for client in (None, good):
            ctx = (good.ctx(version) if client
                   else nginx.client_context(version=version))
            reused, session, data = attempt(off, ctx, sni, http=http)
            assert reused is False and b"off NONE\n" in data, data
            assert session.has_ticket

            # on the socket that made it, the session resumes
            reused, _, data = attempt(off, ctx, sni, session, http=http)
            assert reused is True and b"off NONE\n" in data, data

            # where the name picks the "on" server: a full handshake,
            # which refuses a client without a certificate (an alert,
            # never a resumption answered 421 or closed) and attests one
            # that has one
            reused, _, data = attempt(on, ctx, sni, session, http=http)
            if client is None:
                assert reused is not True and data is None, (reused, data)
            else:
                assert reused is False, data
                assert (b"on SUCCESS %s\n" % good.sha256.encode()) in data

        assert "ticket of another listen socket, full handshake" \
            in n.log_text()


# ---------------------------------------------------------------------------
# Finding 4: zone names.

def nginx_t(body):
    n = nginx.Nginx(body, ports=2)
    try:
        return n.test_config()
    finally:
        n.stop()


@pytest.mark.parametrize("status_location", [True, False])
def test_the_counters_zone_name_is_reserved(resume_dir, pki,
                                            status_location):
    status = ("server { listen 127.0.0.1:@port1@; location = /s "
              "{ nitro_attest_status; } }" if status_location else "")
    out = nginx_t("""
    server {
        listen 127.0.0.1:@port0@ ssl;
        nitro_attest on;
        nitro_attest_policy %s/policy.json;
        nitro_attest_cache zone=nitro_attest_status:1m;
    }
    %s
    """ % (resume_dir, status))
    assert out.returncode != 0, out.stdout
    assert ('zone name "nitro_attest_status" of "nitro_attest_cache" is '
            'reserved' in out.stdout), out.stdout
    assert "nginx.conf:" in out.stdout


@pytest.mark.parametrize("order", ["theirs first", "ours first"])
def test_a_zone_of_another_module_with_the_same_name_fails_nginx_t(
        resume_dir, order):
    theirs = "limit_req_zone $binary_remote_addr zone=shared1:1m rate=1r/s;"
    ours = """
    server {
        listen 127.0.0.1:@port0@ ssl;
        nitro_attest on;
        nitro_attest_policy %s/policy.json;
        nitro_attest_cache zone=shared1:1m;
        location / { limit_req zone=shared1; }
    }""" % resume_dir
    body = theirs + ours if order == "theirs first" else ours + theirs
    out = nginx_t(body)
    assert out.returncode != 0, out.stdout
    assert ('the shared memory zone "shared1" is already declared for a '
            'different use' in out.stdout), out.stdout


def test_one_cache_zone_shared_by_two_servers_is_fine(resume_dir):
    out = nginx_t("""
    nitro_attest_policy %s/policy.json;
    server {
        listen 127.0.0.1:@port0@ ssl;
        nitro_attest on;
        nitro_attest_cache zone=verdicts:1m;
    }
    server {
        listen 127.0.0.1:@port1@ ssl;
        nitro_attest optional;
        nitro_attest_cache zone=verdicts:1m;
        location = /s { nitro_attest_status; }
    }""" % resume_dir)
    assert out.returncode == 0, out.stdout
