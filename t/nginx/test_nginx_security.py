"""Replays and resumption against a real nginx: a verdict counts only for
a client that proved its key; every resumption path keeps the verdict of
its own server and configuration or does not resume; a ticket without a
verdict never resumes into an "on" server, nor does a session made on a
server that does not attest when another socket's server is "on" (full
handshake, never a resumption answered 421); zone name clashes fail
nginx -t.

A replay (clients.replay_of) is a client that presents the genuine
certificate but cannot sign with its key.
"""

import os
import socket
import ssl
import subprocess
import time

import pytest

import forge
import nginx
from clients import attested, context, new_world, replay_of
from events import LogTail, delta
from files import write
from forge import GOOD
from nginx import stream_main


def connect(port, client, host, version=None, session=None, sni="",
            ctx=None):
    """(response or None when the handshake was refused, session, reused)"""
    return nginx.try_get(port, ctx or context(client, version), host,
                         sni=sni, session=session)


def nginx_t(body):
    rc, out, _ = nginx.nginx_t(body, ports=2)
    return rc, out


# ---------------------------------------------------------------------------
# A replayed certificate is counted and logged, and silences
# nobody.

@pytest.fixture(scope="module")
def replay_world(tmp_path_factory, pki):
    w = new_world(tmp_path_factory.mktemp("replay"), pki,
                  [("payments-v42", GOOD)])
    d = w.dir
    w.events = os.path.join(d, "events.log")
    body = (nginx.trust(os.path.join(d, "policy.json"), pki.root_pem)
            + nginx.server("@port0@ ssl default_server",
                           "nitro_attest_cache zone=verdicts:1m;",
                           "nitro_attest_event_log %s;" % w.events,
                           'location / { return 200 "$nitro_attest_status"; }',
                           name="replay.test", attest="on")
            + nginx.status_server())
    yield from nginx.serving(w, body, ports=2)


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_replays_logged_key_not_proven_genuine_client_then_success(
        replay_world, version):
    w = replay_world
    good = attested(w.dir, "good" + version, w.pki)
    replay = replay_of(w.dir, good, "replay" + version)
    tail = LogTail(w.events)
    before = nginx.metrics(w.port[1])

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

    d = delta(nginx.metrics(w.port[1]), before)
    assert d["handshakes"] == {"verified": 0, "failed": 3}
    assert d["failures"]["key_not_proven"] == 3
    assert d["cache"] == {"hit": 0, "miss": 3}

    # the genuine client right after: served, logged SUCCESS, verified
    resp, _, _ = connect(w.port[0], good, "replay.test", version)
    assert resp is not None and resp.status == 200 and resp.text == "SUCCESS"
    events = tail.events(expect=4)
    assert [e["status"] for e in events] == ["FAILED"] * 3 + ["SUCCESS"]
    assert events[3]["cache"] == "miss"
    d = delta(nginx.metrics(w.port[1]), before)
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
    d = delta(nginx.metrics(w.port[1]), before)
    assert d["handshakes"] == {"verified": 2, "failed": 4}
    assert d["failures"]["key_not_proven"] == 4
    assert d["cache"] == {"hit": 2, "miss": 4}


def test_openssl_s_client_replay_over_tls12_is_key_not_proven(replay_world):
    """Another real client: openssl s_client presenting the genuine
    certificate with the wrong key is refused at its CertificateVerify,
    and that handshake gets its own key_not_proven line."""
    w = replay_world
    replay = replay_of(w.dir, attested(w.dir, "s_client", w.pki),
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
# Every resumption path.

def resumption_body(d, root, cache, tickets, second_mode="on"):
    def answering(listen, name, mode, answer):
        return nginx.server(listen,
                            'location / { return 200 "%s"; }' % answer,
                            name=name, attest=mode)

    verdict = "$nitro_attest_status $nitro_attest_cert_sha256"
    return (nginx.trust(d + "/policy.json", root)
            + "    ssl_session_cache %s;\n    ssl_session_tickets %s;\n"
              "    ssl_session_ticket_key %s/ticket.key;\n"
              "    ssl_session_timeout 10m;\n" % (cache, tickets, d)
            + answering("@port0@ ssl default_server", "a.test", "on",
                        "a " + verdict)
            + answering("@port0@ ssl", "c.test", second_mode, "c " + verdict)
            + answering("@port0@ ssl", "opt.test", "optional",
                        "opt $nitro_attest_status"))


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
    good = attested(d, "good-%s-%s" % (cache[:5], server_tickets), pki)
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

TICKET_KEY = "    ssl_session_ticket_key %(d)s/ticket.key;\n"
CROSS_SOCKET = {
    # one server is the default of both sockets (its ticket key serves
    # both); the name picks an "on" server on the second only
    "names_differ_per_socket": (
        nginx.server("@port0@ ssl default_server",
                     "listen 127.0.0.1:@port1@ ssl default_server;", OFF,
                     name="off.test")
        + nginx.server("@port1@ ssl", ON, name="x.test", attest="on"),
        "x.test"),
    # one ticket key file; a client without SNI gets each socket's default
    "default_differs_per_socket": (
        TICKET_KEY
        + nginx.server("@port0@ ssl default_server", OFF, name="off.test")
        + nginx.server("@port1@ ssl default_server", ON, name="on.test",
                       attest="on"),
        None),
    # one ticket key file; the same name on two sockets
    "same_name_on_two_sockets": (
        TICKET_KEY
        + nginx.server("@port0@ ssl", OFF, name="x.test")
        + nginx.server("@port1@ ssl", ON, name="x.test", attest="on"),
        "x.test"),
    # stream: one ticket key file, a server on each socket
    "stream": (
        TICKET_KEY + nginx.trust("%(d)s/policy.json", "%(root)s")
        + nginx.server("@port0@ ssl", 'return "off $nitro_attest_status\\n";')
        + nginx.server("@port1@ ssl", 'return "on $nitro_attest_status '
                       '$nitro_attest_cert_sha256\\n";', attest="on"),
        "x.test"),
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
    body = body % dict(d=d, root=pki.root_pem)
    if http:
        n = nginx.Nginx("nitro_attest_policy %s/policy.json;\n"
                        "nitro_attest_trusted_root %s;\n%s"
                        % (d, pki.root_pem, body), ports=2)
    else:
        n = nginx.Nginx("", ports=2, main=stream_main(body))
    good = attested(d, "cross-%s-%s" % (case, version), pki)
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
# Zone names.

@pytest.mark.parametrize("status_location", [True, False])
def test_the_counters_zone_name_is_reserved(resume_dir, pki,
                                            status_location):
    status = ("server { listen 127.0.0.1:@port1@; location = /s "
              "{ nitro_attest_status; } }" if status_location else "")
    rc, out = nginx_t("""
    server {
        listen 127.0.0.1:@port0@ ssl;
        nitro_attest on;
        nitro_attest_policy %s/policy.json;
        nitro_attest_cache zone=nitro_attest_status:1m;
    }
    %s
    """ % (resume_dir, status))
    assert rc != 0, out
    assert ('zone name "nitro_attest_status" of "nitro_attest_cache" is '
            'reserved' in out), out
    assert "nginx.conf:" in out


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
    rc, out = nginx_t(body)
    assert rc != 0, out
    assert ('the shared memory zone "shared1" is already declared for a '
            'different use' in out), out


def test_one_cache_zone_shared_by_two_servers_is_fine(resume_dir):
    rc, out = nginx_t("""
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
    assert rc == 0, out
