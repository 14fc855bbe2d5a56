"""The stream (TCP) module inside a real nginx: an
attested client's bytes reach the upstream, unattested and
certificate-less clients are refused in the handshake, `optional`
reports, `map $nitro_attest_policy` picks the upstream of `proxy_pass`,
an idle session is closed when its verdict expires, and the event log and
the counters are shared with http.

One nginx (http and stream modules both loaded):
  port0  stream, nitro_attest on, proxy_pass to the upstream the map
         picks by $nitro_attest_policy; event log
  port1  stream, nitro_attest optional, returns the variables
  port2  http, the status endpoint
  port3  stream, nitro_attest on, a short max age, proxy_pass
  port4, port5  the two upstreams (Python echo servers named v42, other)
"""

import os
import signal
import socket
import ssl
import time

import pytest

import forge
import nginx
from clients import OTHER_PCR0, attested, context, fault_clients, new_world
from events import LogTail
from forge import GOOD
from nginx import closed_within, echoed, nginx_t, stream_main
from repo import EXAMPLES
from upstreams import Echo

V43 = {0: bytes.fromhex("43" * 48)}


def trusting(w):
    """The stream block's policy and root: the world's."""
    return nginx.trust(os.path.join(w.dir, "policy.json"), w.pki.root_pem)


def proxied(listen, upstream, mode=None, *directives):
    """A stream server that proxies to the Echo upstream."""
    return nginx.server(listen, *directives,
                        "proxy_pass 127.0.0.1:%d;" % upstream.port,
                        attest=mode)


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki, other_pki):
    w = new_world(tmp_path_factory.mktemp("stream"), pki,
                  [("payments-v42", GOOD), ("payments-v43", V43)])
    d = w.dir
    w.events = os.path.join(d, "events.log")
    w.v42, w.other = Echo("v42"), Echo("other")
    w.good = attested(d, "good", pki)
    w.v43 = attested(d, "v43", pki, pcrs={**forge.default_pcrs(), **V43})
    w.faults = fault_clients(d, pki, other_pki)
    w.short = attested(d, "short", pki,
                       leaf=pki.leaf(forge.now_ms(), after_ms=4000))
    stream = (
        trusting(w) + """
    nitro_attest_event_log %s;

    map $nitro_attest_policy $backend {
        payments-v42  127.0.0.1:%d;
        default       127.0.0.1:%d;
    }
""" % (w.events, w.v42.port, w.other.port)
        + nginx.server("@port0@ ssl", "proxy_pass $backend;", attest="on")
        + nginx.server("@port1@ ssl",
                       'return "status=$nitro_attest_status '
                       "policy=$nitro_attest_policy pcr0=$nitro_attest_pcr0 "
                       "module_id=$nitro_attest_module_id "
                       'cert=$nitro_attest_cert_sha256\\n";',
                       attest="optional")
        + proxied("@port3@ ssl", w.v42, "on"))
    yield from nginx.serving(w, nginx.status_server("@port2@"), ports=4,
                          main=stream_main(stream))
    w.v42.shutdown()
    w.other.shutdown()


def tls(port, client, version=None, timeout=5.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        return context(client, version).wrap_socket(raw)
    except Exception:
        raw.close()
        raise


def exchange(port, client, data=b"ping", version=None):
    """What the server answers an attested client (b"" when it closes)."""
    with tls(port, client, version) as s:
        if data:
            s.sendall(data)
        out = b""
        deadline = time.time() + 5
        while time.time() < deadline and (not data or not out.endswith(data)):
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        return out


def refused(port, client, version=None):
    """True when the handshake, or the first read after it, fails."""
    try:
        out = exchange(port, client, version=version)
    except (ssl.SSLError, ConnectionError):
        return True
    return out == b""


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_attested_client_reaches_the_upstream_of_its_policy(world, version):
    assert exchange(world.port[0], world.good, b"hello",
                    version) == b"v42:hello"
    # another allow set: the map sends it elsewhere
    assert exchange(world.port[0], world.v43, b"hello",
                    version) == b"other:hello"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_unattested_and_certificate_less_clients_refused_in_handshake(
        world, version):
    for reason in ("no_extension", "pcr_mismatch", "bad_signature",
                   "binding_mismatch", "certificate_expired"):
        assert refused(world.port[0], world.faults[reason], version), reason
    assert refused(world.port[0], None, version)


def test_optional_reports_what_failed(world):
    f = exchange(world.port[1], world.good, b"").decode()
    assert f.startswith("status=SUCCESS policy=payments-v42 pcr0=%s "
                        "module_id=%s cert=%s" % (
                            GOOD[0].hex(), forge.DEFAULT_MODULE_ID,
                            world.good.sha256)), f
    f = exchange(world.port[1], world.faults["pcr_mismatch"], b"").decode()
    assert f.startswith("status=FAILED:pcr_mismatch policy= pcr0=%s"
                        % OTHER_PCR0.hex()), f
    f = exchange(world.port[1], world.faults["bad_signature"], b"").decode()
    assert f.startswith("status=FAILED:bad_signature policy= pcr0= "), f
    f = exchange(world.port[1], None, b"").decode()
    assert f.startswith("status=NONE policy= pcr0= module_id= cert="), f


def test_events_and_counters_are_shared_with_http(world):
    tail = LogTail(world.events)
    before = nginx.metrics(world.port[2])
    assert exchange(world.port[0], world.good) == b"v42:ping"
    assert refused(world.port[0], world.faults["pcr_mismatch"])
    assert refused(world.port[0], None)

    events = tail.events(expect=3)
    assert [(e["status"], e["reason"]) for e in events] == [
        ("SUCCESS", None), ("FAILED", "pcr_mismatch"),
        ("FAILED", "no_certificate")]
    assert events[0]["policy"] == "payments-v42"
    # a stream server has no name: server_name is null
    for e in events:
        assert (e["direction"], e["client_addr"], e["server_name"],
                e["host"], e["upstream_addr"]) == (
            "client", "127.0.0.1", None, socket.gethostname(), None), e

    after = nginx.metrics(world.port[2])
    for k in ("verified", "failed"):
        assert (after["protocols"]["stream"][k]
                - before["protocols"]["stream"][k]) == (1 if k == "verified"
                                                        else 2)
        assert after["handshakes"][k] - before["handshakes"][k] == (
            1 if k == "verified" else 2)
    assert after["protocols"]["http"] == before["protocols"]["http"]
    assert (after["policies"]["payments-v42"]["matches"]
            - before["policies"]["payments-v42"]["matches"]) == 1
    assert "payments-v43" in after["policies"]

    prom = nginx.status(world.port[2], "?format=prometheus")[1]
    stream_verified = after["protocols"]["stream"]["verified"]
    assert ('nitro_attest_protocol_handshakes_total{protocol="stream",'
            'result="verified"} %d' % stream_verified) in prom


def test_idle_session_closed_when_its_verdict_expires(world):
    """The leaf of this client's document expires 4 s after it was made:
    the session is closed then, though the client is idle, and so is its
    connection to the upstream."""
    token = os.urandom(8).hex().encode()
    with tls(world.port[3], world.short) as s:
        echoed(s, token, b"v42:" + token)
        start = time.time()
        assert closed_within(s, 10)
        assert time.time() - start < 9
        closed = time.monotonic()
    ended = world.v42.ended(token, 3)
    assert ended is not None, "the upstream connection is still open"
    assert ended - closed < 3
    assert "client attestation expired, session closed" in \
        world.nginx.log_text()


def test_stream_example_passes_nginx_t(world):
    rc, out, _ = nginx_t(nginx.example(
        EXAMPLES / "stream.conf", os.path.join(world.dir, "policy.json"),
        world.pki.root_pem), raw=True)
    assert rc == 0, out


def plaintext_closed(port, data=b"GET /secret HTTP/1.0\r\n\r\n"):
    """True when nginx closes a plaintext connection that sent data,
    without answering a byte."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(data)
        s.settimeout(5)
        try:
            return s.recv(64) == b""
        except ConnectionError:
            return True


def test_plaintext_listen_of_an_on_server_reaches_no_upstream(world):
    """A stream server with `nitro_attest on` and a listen without ssl,
    next to an ssl one or alone: a plaintext connection there is closed
    before the upstream sees anything, not even a connection; `nginx -t`
    warns, naming the file and line of each such listen.  `optional` keeps
    serving it with status NONE."""
    up = Echo("plain")
    stream = (trusting(world)
              + proxied("@port0@ ssl", up, "on", "listen 127.0.0.1:@port1@;")
              + proxied("@port2@", up, "on")
              + nginx.server("@port3@", 'return "status=$nitro_attest_status'
                             '\\n";', attest="optional"))
    n = nginx.Nginx("", ports=4, main=stream_main(stream))
    try:
        out = n.test_config()
        assert out.returncode == 0, out.stdout
        with open(n.conf) as f:
            lines = f.read().splitlines()
        for port in n.ports:
            listen = [i + 1 for i, line in enumerate(lines)
                      if "listen 127.0.0.1:%d" % port in line]
            warned = [line for line in out.stdout.splitlines()
                      if "[warn]" in line and '"listen" without "ssl" in '
                      '%s:%d,' % (n.conf, listen[0]) in line]
            assert len(warned) == (0 if port == n.ports[0] else 1), (
                port, out.stdout)

        n.start()
        for port in n.ports[1:3]:
            assert plaintext_closed(port), port
            assert plaintext_closed(port, b""), port
        time.sleep(0.5)
        assert up.conns == []
        assert exchange(n.ports[0], world.good, b"hi") == b"plain:hi"
        with socket.create_connection(("127.0.0.1", n.ports[3]), 5) as s:
            assert s.recv(64) == b"status=NONE\n"
        assert "connection without TLS to a server that attests its " \
            "clients, closed" in n.log_text()
    finally:
        n.stop()
        up.shutdown()


def test_reload_closes_the_upstream_connection_of_an_attested_session(
        world):
    """A reload closes the attested sessions of the old worker, and the
    connections nginx made to the upstream for them, while that worker
    still runs (kept here by a session of a server that does not attest)."""
    up = Echo("up")
    stream = (trusting(world) + proxied("@port0@ ssl", up, "on")
              + proxied("@port1@", up))
    n = nginx.Nginx("", ports=2, main=stream_main(stream)).start()
    held = socket.create_connection(("127.0.0.1", n.ports[1]), 5)
    try:
        kept = os.urandom(8).hex().encode()
        token = os.urandom(8).hex().encode()
        echoed(held, kept, b"up:" + kept)
        with tls(n.ports[0], world.good) as s:
            echoed(s, token, b"up:" + token)
            os.kill(n.master_pid(), signal.SIGHUP)
            assert closed_within(s, 10)
            closed = time.monotonic()
        ended = up.ended(token, 3)
        assert ended is not None, "the upstream connection is still open"
        assert ended - closed < 3
        # the old worker still runs: it is not its exit that closed it
        assert up.ended(kept, 0) is None
    finally:
        held.close()
        n.stop()
        up.shutdown()


def test_listen_wrapper_never_outlives_the_stream_block(world):
    """The module notes where each stream `listen` is by wrapping nginx's
    own `listen` handler while the stream block is parsed.  A reload whose
    stream block fails, then reloads without the module (which unload
    it), then with it again: nginx keeps running and serves each."""
    up = Echo("up")
    on = proxied("@port0@ ssl", up, "on", "listen 127.0.0.1:@port1@;",
                 "nitro_attest_policy %s/policy.json;" % world.dir,
                 "nitro_attest_trusted_root %s;" % world.pki.root_pem)
    broken = on.replace("proxy_pass", "nitro_attest_reattest soon;\n"
                        "        proxy_pass")
    without = ("load_module %s;\nstream {\n    server {\n"
               "        listen 127.0.0.1:@port1@;\n"
               "        proxy_pass 127.0.0.1:%d;\n    }\n}\n"
               % (nginx.NGINX_STREAM, up.port))
    n = nginx.Nginx("", ports=2, main=stream_main(on)).start()
    try:
        assert plaintext_closed(n.ports[1])
        n.main = stream_main(broken)
        n.reload("", expect_new_workers=False)
        assert 'invalid value "soon"' in n.log_text()
        for _ in range(2):
            n.main = without
            n.reload("")
            with socket.create_connection(("127.0.0.1", n.ports[1]),
                                          5) as s:
                echoed(s, b"plain", b"up:plain")
        n.main = stream_main(on)
        n.reload("")
        assert plaintext_closed(n.ports[1])
        assert exchange(n.ports[0], world.good, b"hi") == b"up:hi"
        assert n.proc.poll() is None
        out = n.test_config()
        assert out.returncode == 0 and out.stdout.count(
            '"listen" without "ssl" in ') == 1, out.stdout
    finally:
        n.stop()
        up.shutdown()
