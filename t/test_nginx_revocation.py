"""Revocation on reload (CONTRACT section 17): after `nginx -s reload` with
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
from test_nginx_attest import attested, write
from test_nginx_stream import Echo, closed_within, echoed, stream_main

V1 = {0: bytes.fromhex("a1" * 48)}
V2 = {0: bytes.fromhex("a2" * 48)}


def allow_both():
    return forge.policy([("build-v1", V1), ("build-v2", V2)])


def deny_v1():
    return forge.policy([("build-v2", V2)], deny=[("build-v1", V1)])


def drop_v1():
    return forge.policy([("build-v2", V2)])


class World:
    pass


@pytest.fixture
def world(tmp_path, pki):
    w = World()
    w.dir = d = str(tmp_path)
    w.policy = os.path.join(d, "policy.json")
    write(w.policy, allow_both())
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
    w.nginx = nginx.Nginx(http, ports=2, main=stream_main(stream)).start()
    w.port = w.nginx.ports
    yield w
    w.nginx.stop()
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
    try:
        resp, conn = nginx.get(w.port[0], client.ctx("1.3"), host,
                               session=session)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    conn.close()
    return resp.status != 200


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
