"""Revocation on reload: after `nginx -s reload` with
a policy that denies or drops an allow set, no new request is served on a
connection attested under it (HTTP/1.1 keep-alive, HTTP/2, stream), and no
session resumes with it.  Each test measures the time from the reload
signal to the first refusal ("time to revoke") and prints it.

What does it: nginx's old workers close idle keep-alive connections and
send HTTP/2 GOAWAY when they shut down; TLS tickets name their
configuration cycle; and the stream module closes the attested sessions of
a worker that shuts down (nginx would keep them to worker_shutdown_timeout).
"""

import os
import signal
import socket
import ssl
import struct
import sys
import time

import pytest

import forge
import nginx
from clients import attested, new_world
from files import write
from nginx import closed_within, echoed, stream_main
from upstreams import Echo

V1 = {0: bytes.fromhex("a1" * 48)}
V2 = {0: bytes.fromhex("a2" * 48)}


BOTH = [("build-v1", V1), ("build-v2", V2)]


def allow_both():
    return forge.policy(BOTH)


def deny_v1():
    return forge.policy([("build-v2", V2)], deny=[("build-v1", V1)])


def drop_v1():
    return forge.policy([("build-v2", V2)])


@pytest.fixture
def world(tmp_path, pki):
    w = new_world(tmp_path, pki, BOTH)
    d = w.dir
    w.v1 = attested(d, "v1", pki, pcrs={**forge.default_pcrs(), **V1})
    w.v2 = attested(d, "v2", pki, pcrs={**forge.default_pcrs(), **V2})
    w.echo = Echo("up")
    http = """
    nitro_attest_policy %(policy)s;
    nitro_attest_trusted_root %(root)s;
    ssl_session_ticket_key %(d)s/ticket.key;

    server {
        listen 127.0.0.1:@port0@ ssl http2;
        server_name on.test;
        nitro_attest on;
        location / { return 200 "served $nitro_attest_policy\\n"; }
    }
    """ % dict(policy=w.policy, root=pki.root_pem, d=d)
    stream = """
    server {
        listen 127.0.0.1:@port1@ ssl;
        nitro_attest on;
        nitro_attest_policy %(policy)s;
        nitro_attest_trusted_root %(root)s;
        proxy_pass 127.0.0.1:%(echo)d;
    }
    """ % dict(policy=w.policy, root=pki.root_pem, echo=w.echo.port)
    write(os.path.join(d, "ticket.key"), os.urandom(80))
    yield from nginx.serving(w, http, ports=2, main=stream_main(stream))
    w.echo.shutdown()


def reload_now(w, policy_text):
    """Writes the new policy and sends SIGHUP; returns when it was sent."""
    write(w.policy, policy_text)
    t0 = time.monotonic()
    os.kill(w.nginx.master_pid(), signal.SIGHUP)
    return t0


def report(what, seconds):
    sys.__stdout__.write("\ntime to revoke (%s): %.0f ms\n"
                         % (what, seconds * 1000))
    sys.__stdout__.flush()


def refused_now(w, client, host="on.test", session=None):
    resp = nginx.try_get(w.port[0], client.ctx("1.3"), host,
                         session=session)[0]
    return resp is None or resp.status != 200


def wait_closed(sock_or_conn, deadline):
    while time.monotonic() < deadline:
        if sock_or_conn.closed_by_peer(timeout=0.05):
            return True
    return False


@pytest.mark.parametrize("change", [deny_v1, drop_v1],
                         ids=["denied", "dropped"])
def test_http11_keepalive_connection_is_closed_and_new_ones_refused(
        world, change):
    conn = nginx.Connection(world.port[0], world.v1.ctx("1.3"), "on.test")
    try:
        assert conn.request("on.test").text == "served build-v1\n"
        session = conn.session
        t0 = reload_now(world, change())
        assert wait_closed(conn, t0 + 10)
        report("HTTP/1.1 keep-alive, %s" % change.__name__,
               time.monotonic() - t0)
    finally:
        conn.close()

    deadline = time.monotonic() + 10
    while not refused_now(world, world.v1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refused_now(world, world.v1)
    # the session of before does not resume either: a full handshake,
    # refused under the new policy
    assert refused_now(world, world.v1, session=session)
    # the set that is still allowed is served
    assert not refused_now(world, world.v2)


def h2_frames(sock, deadline):
    """Frame types the server sends until it closes the connection."""
    buf, types = b"", []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except (ssl.SSLError, ConnectionError):
            return types, True
        if not data:
            return types, True
        buf += data
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            types.append(buf[3])
            buf = buf[9 + length:]
    return types, False


def test_http2_connection_gets_goaway_and_closes(world):
    ctx = nginx.client_context(world.v1.cert, world.v1.key, "1.3")
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", world.port[0]), 5)
    s = ctx.wrap_socket(raw, server_hostname="on.test")
    try:
        assert s.selected_alpn_protocol() == "h2"
        # preface, an empty SETTINGS, then idle
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                  + struct.pack(">I", 0)[1:] + b"\x04\x00" + b"\0\0\0\0")
        h2_frames(s, time.monotonic() + 0.5)
        t0 = reload_now(world, deny_v1())
        types, closed = h2_frames(s, t0 + 10)
        assert 0x7 in types and closed, types      # GOAWAY, then closed
        report("HTTP/2", time.monotonic() - t0)
    finally:
        s.close()
    assert refused_now(world, world.v1)


def test_stream_session_is_closed(world):
    ctx = world.v1.ctx("1.3")
    raw = socket.create_connection(("127.0.0.1", world.port[1]), 5)
    with ctx.wrap_socket(raw) as s:
        echoed(s, b"a", b"up:a")
        t0 = reload_now(world, deny_v1())
        assert closed_within(s, 10)
        report("stream", time.monotonic() - t0)
    time.sleep(0.3)
    raw = socket.create_connection(("127.0.0.1", world.port[1]), 5)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"b")
            if s.recv(16) == b"":
                raise ConnectionError("closed")
    assert "attested session closed" in world.nginx.log_text()


# A connection accepted before the reload whose handshake, or first
# request, comes after it: the old worker keeps it (it is not idle), and
# must judge it by nothing the reload revoked.

def wait_retiring(w, log_size, seconds=10):
    """Waits until the old worker logged that it shuts down (looking often:
    a test may have to act before the worker's next periodic check)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(w.nginx.error_log, errors="replace") as f:
            f.seek(log_size)
            if "gracefully shutting down" in f.read():
                return
        time.sleep(0.002)
    raise AssertionError("the old worker did not shut down:\n"
                         + w.nginx.log_text()[-2000:])


def reload_and_wait(w, policy_text):
    size = os.path.getsize(w.nginx.error_log)
    reload_now(w, policy_text)
    wait_retiring(w, size)


def served(sock, host="on.test"):
    """The body served for one request on sock, or None when refused or
    closed."""
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except (ssl.SSLError, ConnectionError, OSError):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    return body


def h2_served(sock, host=b"on.test"):
    """True when a GET / over HTTP/2 is answered 200 on sock."""
    block = b"\x82\x87\x84\x01" + bytes([len(host)]) + host
    try:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                     + b"\0\0\0\x04\0\0\0\0\0"           # SETTINGS
                     + len(block).to_bytes(3, "big") + b"\x01\x05"
                     + (1).to_bytes(4, "big") + block)       # HEADERS
        buf = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                return False
            buf += data
            while len(buf) >= 9:
                length = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + length:
                    break
                ftype, payload = buf[3], buf[9:9 + length]
                buf = buf[9 + length:]
                if ftype == 0x1:
                    return payload[:1] == b"\x88"       # :status 200
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
        return False
    return False


@pytest.mark.parametrize("alpn", [None, "h2"], ids=["http1.1", "h2"])
def test_handshake_after_the_reload_is_not_attested_by_the_old_worker(
        world, alpn):
    raw = socket.create_connection(("127.0.0.1", world.port[0]), 5)
    try:
        reload_and_wait(world, deny_v1())
        ctx = nginx.client_context(world.v1.cert, world.v1.key, "1.3")
        if alpn:
            ctx.set_alpn_protocols([alpn])
        try:
            s = ctx.wrap_socket(raw, server_hostname="on.test")
        except (ssl.SSLError, ConnectionError):
            s = None
        if s is not None:
            # TLS 1.3: a refused client certificate shows on the first read
            if alpn == "h2":
                assert not h2_served(s)
            else:
                assert served(s) is None
            s.close()
    finally:
        raw.close()
    assert "worker shutting down, handshake refused" in \
        world.nginx.log_text()
    # the client comes back to a new worker: refused under the new policy
    assert refused_now(world, world.v1)
    assert not refused_now(world, world.v2)


def test_first_request_after_the_reload_is_refused(world):
    conn = nginx.Connection(world.port[0], world.v1.ctx("1.3"), "on.test")
    try:
        reload_and_wait(world, deny_v1())
        assert served(conn.sock) is None
        assert closed_within(conn.sock, 5)
    finally:
        conn.close()
    assert "worker shutting down: request on an attested connection " \
        "refused" in world.nginx.log_text()


def test_stream_handshake_after_the_reload_reaches_no_upstream(world):
    raw = socket.create_connection(("127.0.0.1", world.port[1]), 5)
    try:
        reload_and_wait(world, deny_v1())
        got = b""
        try:
            s = world.v1.ctx("1.3").wrap_socket(raw)
            s.settimeout(5)
            s.sendall(b"after")
            while True:
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
        except (ssl.SSLError, ConnectionError, socket.timeout):
            pass
        # the upstream greets every connection it gets: none was made
        assert got == b""
    finally:
        raw.close()


@pytest.fixture
def optional_world(tmp_path, pki):
    w = new_world(tmp_path, pki, BOTH)
    w.v1 = attested(w.dir, "v1", pki, pcrs={**forge.default_pcrs(), **V1})
    http = (nginx.trust(w.policy, pki.root_pem)
            + nginx.server("@port0@ ssl",
                           'location / { return 200 "$nitro_attest_status'
                           '\\n"; }', name="optional.test",
                           attest="optional"))
    yield from nginx.serving(w, http)


def test_optional_server_serves_no_attested_connection_after_reload(
        optional_world):
    w = optional_world
    attested_conn = nginx.Connection(w.port[0], w.v1.ctx("1.3"),
                                     "optional.test")
    plain = nginx.Connection(w.port[0], nginx.client_context(None, None,
                                                             "1.3"),
                             "optional.test")
    try:
        reload_and_wait(w, deny_v1())
        assert served(attested_conn.sock, "optional.test") is None
        # a client that presented nothing was never attested: served
        assert served(plain.sock, "optional.test") == b"NONE\n"
    finally:
        attested_conn.close()
        plain.close()


def test_stream_bytes_sent_after_the_reload_never_reach_the_upstream(world):
    """The old worker closes its attested sessions at its next periodic
    check; what a client sends before that must not get through either."""
    for i in range(3):
        token = b"after-reload-%d" % i
        raw = socket.create_connection(("127.0.0.1", world.port[1]), 5)
        with world.v2.ctx("1.3").wrap_socket(raw) as s:
            echoed(s, b"a", b"up:a")
            reload_and_wait(world, allow_both())
            try:
                s.sendall(token)
                closed_within(s, 5)
            except (ssl.SSLError, ConnectionError):
                pass
        time.sleep(0.2)
        assert not [c for c in world.echo.conns if token in c["data"]]
        assert "nothing more is read from the client" in \
            world.nginx.log_text()
