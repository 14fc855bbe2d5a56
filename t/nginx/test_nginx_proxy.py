"""Upstream attestation inside a real nginx: nginx verifies the enclave
behind it.  The enclaves are real servers presenting attested TLS server
certificates forged by forge.py (or made by `nitro-attest mock cert
--server`): a second nginx with one TLS port per certificate (a genuine
enclave, another build, and one for each reason a document can fail
with), a gRPC server (grpcio), a small uwsgi server over TLS and TLS echo
servers for stream.

world: the proxy's port0 serves locations that verify each enclave
(/good, /r/REASON), fall back from a refused upstream to a genuine one
(/fallback), combine with proxy_ssl_verify (/trusted, /untrusted), share a
keepalive upstream block under different settings (/ka/*), upstream
addresses whose TLS sessions nginx would share (/sess/*) and relays that
replay the genuine enclave's certificate without its key (/unproven,
/corrupt, /stall*); port1 is the status endpoint.  kinds: uwsgi (port0), gRPC over
HTTP/2 (port1) and stream (port2, port3; port4 not verified; port5
through a relay) upstreams, port6 the status endpoint.  Other tests start their own nginx:
keepalive across the verdict's end, the shipped example, nginx -t.
"""

import http.client
import os
import re
import socket
import socketserver
import ssl
import threading
import time

import pytest

import forge
import nginx
from clients import DENIED_PCR0, OTHER_PCR0, attested, fault_clients
from events import LogTail
from files import write
from forge import GOOD
from nginx import nginx_t, stream_main
from repo import EXAMPLES

V43 = {0: bytes.fromhex("43" * 48)}
REASONS = ["no_extension", "malformed_extension", "malformed_document",
           "unsupported_algorithm", "bad_signature", "untrusted_root",
           "chain_invalid", "certificate_expired", "stale", "future",
           "debug_enclave", "denied", "pcr_mismatch", "binding_mismatch"]
NAME = "enclave.test"
HEADERS = ("status", "reason", "module_id", "policy", "pcr0", "kind")


def enclave(directory, name, pki, **doc_kw):
    """An enclave's attested TLS server certificate for NAME."""
    return attested(directory, name, pki, cert_kw=dict(server=NAME),
                    **doc_kw)


def upstream_body(names):
    """The enclaves' nginx: one TLS server per certificate, answering its
    name, its connection and the requests served on it."""
    return "".join(nginx.server(
        "@port%d@ ssl" % i,
        "ssl_certificate %s;" % c.cert,
        "ssl_certificate_key %s;" % c.key,
        'return 200 "%s $connection $connection_requests '
        '$ssl_session_reused\\n";' % n)
        for i, (n, c) in enumerate(names))


def reporting():
    """Response headers with the proxy's variables, whatever the status."""
    return "".join("add_header X-Proxy-%s $nitro_attest_proxy_%s always;\n"
                   % (h, h) for h in HEADERS)


def verified(path, target, *directives, passing="proxy_pass"):
    """A location that verifies its upstream (passing: the upstream
    module's directive)."""
    return ("location %s { nitro_attest_proxy_verify on; %s "
            "%s %s; }\n" % (path, " ".join(directives), passing, target))


class Enclaves:
    """The enclaves' certificates and the nginx serving them."""

    def __init__(self, d, pki, other_pki):
        self.certs = {"good": enclave(d, "good", pki),
                      "v43": enclave(d, "v43", pki,
                                     pcrs={**forge.default_pcrs(), **V43}),
                      # documents of three PCRs: certificates small enough
                      # for nginx to keep their sessions in a zone
                      "small": enclave(d, "small", pki, pcrs=GOOD),
                      "small_other": enclave(d, "small_other", pki,
                                             pcrs={**GOOD, 0: OTHER_PCR0})}
        self.certs.update(fault_clients(d, pki, other_pki, server=NAME))
        self.names = list(self.certs)
        self.nginx = nginx.Nginx(
            upstream_body([(n, self.certs[n]) for n in self.names]),
            ports=len(self.names)).start()

    def port(self, name):
        return self.nginx.ports[self.names.index(name)]

    def url(self, name, scheme="https"):
        return "%s://127.0.0.1:%d" % (scheme, self.port(name))


class Relay:
    """A relay in front of a genuine enclave that cannot prove the
    enclave's key: it passes what nginx sends, and the enclave's first
    flight up to and including its Certificate message (TLS 1.3: the
    first encrypted record as long as the certificate), then (after)
    drops the rest (CertificateVerify, Finished) and closes both sides
    ("close"), or stalls until nginx closes ("hold"), or passes the next
    record (CertificateVerify) with a byte changed, and the rest
    ("corrupt")."""

    def __init__(self, target, enclave_cert, after="close"):
        with open(enclave_cert.cert) as f:
            self.der = len(ssl.PEM_cert_to_DER_cert(f.read()))
        self.target, self.after = target, after
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.relayed = 0        # connections cut after the Certificate
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.sock.accept()
            threading.Thread(target=self.relay, args=(client,),
                             daemon=True).start()

    @staticmethod
    def pass_through(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                dst.sendall(data)
        except OSError:
            pass

    @staticmethod
    def record(sock):
        """One TLS record, whole, or None at the end."""
        data = b""
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5],
                                                               "big"):
            chunk = sock.recv(5 - len(data) if len(data) < 5 else
                              5 + int.from_bytes(data[3:5], "big")
                              - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def relay(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.target))
        forward = threading.Thread(target=self.pass_through,
                                   args=(client, upstream), daemon=True)
        forward.start()
        try:
            while True:
                rec = self.record(upstream)
                if rec is None:
                    return
                client.sendall(rec)
                if rec[0] == 23 and len(rec) - 5 >= self.der:
                    self.relayed += 1
                    if self.after == "corrupt":
                        rec = self.record(upstream)
                        client.sendall(rec[:-1] + bytes([rec[-1] ^ 1]))
                        self.pass_through(upstream, client)
                    elif self.after == "hold":
                        forward.join()
                    return
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


def front_body(w):
    e = w.enclaves
    locations = [verified("/good", e.url("good")),
                 verified("/trusted", e.url("good"),
                          "proxy_ssl_verify on;",
                          "proxy_ssl_name %s;" % NAME,
                          "proxy_ssl_trusted_certificate %s;"
                          % e.certs["good"].cert),
                 verified("/untrusted", e.url("v43"),
                          "nitro_attest_proxy_policy %s;" % w.both,
                          "proxy_ssl_verify on;",
                          "proxy_ssl_name %s;" % NAME,
                          "proxy_ssl_trusted_certificate %s;"
                          % e.certs["good"].cert),
                 verified("/fallback", "https://fallback"),
                 "location /plain { proxy_pass https://bad; }\n",
                 verified("/sess/a", "https://good"),
                 verified("/sess/b", "https://good",
                          "nitro_attest_proxy_policy %s;" % w.v43),
                 "location /sess/off { proxy_pass https://good; }\n",
                 "location /sess/bad-off { proxy_pass https://bad; }\n",
                 verified("/sess/bad-on", "https://bad"),
                 verified("/unproven", "https://127.0.0.1:%d" % w.relay.port,
                          "proxy_ssl_protocols TLSv1.3;"),
                 verified("/corrupt", "https://127.0.0.1:%d"
                          % w.corrupt.port, "proxy_ssl_protocols TLSv1.3;"),
                 verified("/stall", "https://127.0.0.1:%d" % w.stall.port,
                          "proxy_ssl_protocols TLSv1.3;",
                          "proxy_connect_timeout 1s;"),
                 verified("/stall-long", "https://127.0.0.1:%d"
                          % w.stall.port, "proxy_ssl_protocols TLSv1.3;",
                          "proxy_connect_timeout 60s;")]
    locations += [verified("/r/%s" % r, e.url(r)) for r in REASONS]
    keepalive = "proxy_http_version 1.1; proxy_set_header Connection \"\";"
    locations += [verified("/ka/a", "https://ka", keepalive),
                  verified("/ka/b", "https://ka", keepalive,
                           "nitro_attest_proxy_policy %s;" % w.v43),
                  "location /ka/off { %s proxy_pass https://ka; }\n"
                  % keepalive]
    return ("""
    nitro_attest_event_log %s;
    nitro_attest_proxy_policy %s;
    nitro_attest_proxy_trusted_root %s;
    proxy_ssl_protocols TLSv1.2 TLSv1.3;
    upstream fallback {
        server 127.0.0.1:%d;
        server 127.0.0.1:%d backup;
    }
    upstream ka {
        zone ka 64k;
        server 127.0.0.1:%d;
        keepalive 4;
    }
    # TLS sessions saved per upstream server, whatever the location (in
    # the zone: nginx frees them there, not at exit)
    upstream good {
        zone good 64k;
        server 127.0.0.1:%d;
    }
    upstream bad {
        zone bad 64k;
        server 127.0.0.1:%d;
    }
""" % (w.events, w.policy, w.pki.root_pem, e.port("pcr_mismatch"),
       e.port("good"), e.port("good"), e.port("small"),
       e.port("small_other"))
        + nginx.server("@port0@", reporting() + "".join(locations),
                       name="front.test")
        + nginx.status_server("@port1@"))


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki, other_pki):
    d = str(tmp_path_factory.mktemp("proxy"))
    w = type("World", (), {})()
    w.dir, w.pki = d, pki
    w.policy = write(os.path.join(d, "policy.json"),
                     forge.policy([("payments-v42", GOOD)],
                                  [("payments-v41", {0: DENIED_PCR0})]))
    w.v43 = write(os.path.join(d, "v43.json"),
                  forge.policy([("payments-v43", V43)]))
    w.both = write(os.path.join(d, "both.json"),
                   forge.policy([("payments-v42", GOOD),
                                 ("payments-v43", V43)]))
    w.events = os.path.join(d, "events.log")
    w.enclaves = Enclaves(d, pki, other_pki)
    w.relay = Relay(w.enclaves.port("good"), w.enclaves.certs["good"])
    w.stall = Relay(w.enclaves.port("good"), w.enclaves.certs["good"],
                    after="hold")
    w.corrupt = Relay(w.enclaves.port("good"), w.enclaves.certs["good"],
                      after="corrupt")
    try:
        yield from nginx.serving(w, front_body(w), ports=2)
    finally:
        w.enclaves.nginx.stop()


def get(port, path, headers=None):
    """(status, headers, body) of a plain HTTP request to the proxy."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, \
            r.read().decode()
    finally:
        conn.close()


def proxy_vars(headers):
    return {h: headers.get("x-proxy-%s" % h, "") for h in HEADERS}


def severe(lines):
    """Error log lines at error level or above."""
    return [x for x in lines
            if re.search(r"\[(error|crit|alert|emerg)\]", x)]


def test_verified_enclave_serves_and_variables_report_it(world):
    status, headers, body = get(world.port[0], "/good")
    assert status == 200 and body.startswith("good "), (status, body)
    assert proxy_vars(headers) == {
        "status": "SUCCESS", "reason": "",
        "module_id": forge.DEFAULT_MODULE_ID, "policy": "payments-v42",
        "pcr0": GOOD[0].hex(), "kind": "enclave"}


@pytest.mark.parametrize("reason", REASONS)
def test_each_reason_fails_the_upstream_with_one_error_line(world, reason):
    log = LogTail(world.nginx.error_log)
    status, headers, body = get(world.port[0], "/r/%s" % reason)
    assert status == 502, (status, body)
    assert not body.startswith(reason)
    v = proxy_vars(headers)
    assert v["status"] == "FAILED:%s" % reason, v
    assert v["reason"] == reason
    lines = severe(log.lines())
    assert len(lines) == 1, "\n".join(lines)
    assert "[error]" in lines[0]
    assert "upstream attestation failed: %s, upstream: \"127.0.0.1:%d\"" % (
        reason, world.enclaves.port(reason)) in lines[0], lines[0]


def test_measurements_reported_for_a_refused_build(world):
    _, headers, _ = get(world.port[0], "/r/pcr_mismatch")
    v = proxy_vars(headers)
    assert v["pcr0"] == OTHER_PCR0.hex()
    assert v["module_id"] == forge.DEFAULT_MODULE_ID
    _, headers, _ = get(world.port[0], "/r/denied")
    assert proxy_vars(headers)["policy"] == "payments-v41"
    _, headers, _ = get(world.port[0], "/r/bad_signature")
    assert proxy_vars(headers)["pcr0"] == ""


def test_next_upstream_after_a_refused_one(world):
    status, headers, body = get(world.port[0], "/fallback")
    assert status == 200 and body.startswith("good "), (status, body)
    assert proxy_vars(headers)["status"] == "SUCCESS"


def test_without_verification_nothing_is_reported(world):
    status, headers, body = get(world.port[0], "/plain")
    assert status == 200 and body.startswith("small_other "), body
    assert proxy_vars(headers)["status"] == "NONE"


def test_with_proxy_ssl_verify_both_must_hold(world):
    status, headers, body = get(world.port[0], "/trusted")
    assert status == 200, (status, body)
    assert proxy_vars(headers)["status"] == "SUCCESS"
    # attested and allowed, but not the certificate nginx trusts
    log = LogTail(world.nginx.error_log)
    status, _, _ = get(world.port[0], "/untrusted")
    assert status == 502
    assert any("upstream SSL certificate verify error" in x
               for x in severe(log.lines()))


def test_keepalive_connection_judged_by_the_settings_that_use_it(world):
    port = world.port[0]
    # opened where nothing is verified: a verifying location opens its own
    status, _, body = get(port, "/ka/off")
    assert status == 200
    first = body.split()[1]
    status, headers, body = get(port, "/ka/a")
    assert status == 200 and proxy_vars(headers)["status"] == "SUCCESS"
    assert body.split()[1] != first and body.split()[2] == "1", body
    verified_conn = body.split()[1]
    # the same settings reuse it, and report its verdict
    status, headers, body = get(port, "/ka/a")
    assert status == 200 and body.split()[1:3] == [verified_conn, "2"], body
    assert proxy_vars(headers)["policy"] == "payments-v42"
    # another policy does not take it: the enclave is verified in full
    status, headers, body = get(port, "/ka/b")
    assert status == 502, body
    assert proxy_vars(headers)["status"] == "FAILED:pcr_mismatch"


def test_sessions_never_carry_a_verdict_to_other_settings(world):
    """nginx saves one TLS session per upstream server for every location
    that proxies there, and resumes it without the certificate: where the
    upstream is verified, no session is resumed (nor saved)."""
    port = world.port[0]
    # where nothing is verified, the session of the refused build resumes
    assert get(port, "/sess/bad-off")[0] == 200
    status, _, body = get(port, "/sess/bad-off")
    assert status == 200 and body.split()[3] == "r", body
    status, headers, _ = get(port, "/sess/bad-on")
    assert status == 502
    assert proxy_vars(headers)["status"] == "FAILED:pcr_mismatch"
    # verified under one policy, saved elsewhere, judged under another
    assert get(port, "/sess/a")[0] == 200
    assert get(port, "/sess/off")[0] == 200
    status, headers, _ = get(port, "/sess/b")
    assert status == 502
    assert proxy_vars(headers)["status"] == "FAILED:pcr_mismatch"
    status, _, body = get(port, "/sess/a")
    assert status == 200 and body.split()[3] == ".", body


def test_event_line_per_upstream_verification(world):
    tail = LogTail(world.events)
    get(world.port[0], "/good")
    get(world.port[0], "/r/stale")
    events = tail.events(expect=2)
    assert [e["status"] for e in events] == ["SUCCESS", "FAILED"]
    good, stale = events
    assert good["direction"] == "upstream"
    assert good["upstream_addr"] == "127.0.0.1:%d" % (
        world.enclaves.port("good"))
    assert good["client_addr"] == "127.0.0.1"
    assert good["server_name"] == "front.test"
    assert good["cert_sha256"] == world.enclaves.certs["good"].sha256
    assert stale["reason"] == "stale"


def test_metrics_count_upstreams_apart_from_clients(world):
    before = nginx.metrics(world.port[1])
    get(world.port[0], "/good")
    get(world.port[0], "/r/debug_enclave")
    after = nginx.metrics(world.port[1])
    assert after["proxy"]["verified"] - before["proxy"]["verified"] == 1
    assert after["proxy"]["failed"] - before["proxy"]["failed"] == 1
    assert after["proxy"]["failures"]["debug_enclave"] - \
        before["proxy"]["failures"].get("debug_enclave", 0) == 1
    assert after["handshakes"] == before["handshakes"]
    _, text = nginx.status(world.port[1], "?format=prometheus")
    assert re.search(r'^nitro_attest_proxy_handshakes_total\{result='
                     r'"verified"\} [1-9]', text, re.M), text
    assert re.search(r'^nitro_attest_proxy_failures_total\{reason='
                     r'"debug_enclave"\} [1-9]', text, re.M), text


def test_upstream_that_never_proves_its_key_is_recorded(world):
    """A relay presents a genuine enclave's certificate, whose document
    verifies, but cannot prove its key: the handshake never completes.
    nginx answers 502, and records the attempt as a failed verification,
    key_not_proven: one error line naming the reason and the upstream, an
    event line, the counters and the request's variables."""
    log = LogTail(world.nginx.error_log)
    tail = LogTail(world.events)
    before = nginx.metrics(world.port[1])
    relayed = world.relay.relayed
    status, headers, body = get(world.port[0], "/unproven")
    assert status == 502, (status, body)
    assert world.relay.relayed == relayed + 1
    v = proxy_vars(headers)
    assert (v["status"], v["reason"]) == ("FAILED:key_not_proven",
                                          "key_not_proven"), v
    assert v["module_id"] == forge.DEFAULT_MODULE_ID and \
        v["pcr0"] == GOOD[0].hex(), v
    ours = [x for x in log.lines() if "upstream attestation failed" in x]
    assert len(ours) == 1, ours
    assert "[error]" in ours[0]
    assert "upstream attestation failed: key_not_proven, upstream: " \
           "\"127.0.0.1:%d\"" % world.relay.port in ours[0], ours[0]
    events = tail.events(expect=1)
    assert len(events) == 1, events
    e = events[0]
    assert (e["status"], e["reason"], e["direction"]) == (
        "FAILED", "key_not_proven", "upstream"), e
    assert e["upstream_addr"] == "127.0.0.1:%d" % world.relay.port
    assert e["cert_sha256"] == world.enclaves.certs["good"].sha256
    after = nginx.metrics(world.port[1])
    assert after["proxy"]["verified"] == before["proxy"]["verified"]
    assert after["proxy"]["failed"] - before["proxy"]["failed"] == 1
    assert after["proxy"]["failures"]["key_not_proven"] - \
        before["proxy"]["failures"]["key_not_proven"] == 1
    assert after["handshakes"] == before["handshakes"]
    _, text = nginx.status(world.port[1], "?format=prometheus")
    assert re.search(r'^nitro_attest_proxy_failures_total\{reason='
                     r'"key_not_proven"\} [1-9]', text, re.M), text
    # a verified upstream still counts once, as verified
    status, _, _ = get(world.port[0], "/good")
    assert status == 200
    again = nginx.metrics(world.port[1])
    assert again["proxy"]["verified"] - after["proxy"]["verified"] == 1
    assert again["proxy"]["failed"] == after["proxy"]["failed"]


def test_upstream_whose_proof_of_its_key_fails(world):
    """The relay passes the enclave's CertificateVerify with a byte
    changed: nginx fails the handshake with an alert, and the attempt is
    recorded as key_not_proven, once."""
    log = LogTail(world.nginx.error_log)
    tail = LogTail(world.events)
    relayed = world.corrupt.relayed
    status, headers, _ = get(world.port[0], "/corrupt")
    assert status == 502
    assert world.corrupt.relayed == relayed + 1
    assert proxy_vars(headers)["status"] == "FAILED:key_not_proven"
    assert len([x for x in log.lines()
                if "failed: key_not_proven" in x]) == 1
    events = tail.events(expect=1)
    assert [(e["status"], e["reason"]) for e in events] == [
        ("FAILED", "key_not_proven")], events


def test_upstream_that_stalls_before_proving_its_key(world):
    """The relay stalls after the certificate: the handshake times out
    (504), and the attempt is recorded as key_not_proven, once."""
    log = LogTail(world.nginx.error_log)
    tail = LogTail(world.events)
    status, headers, _ = get(world.port[0], "/stall")
    assert status == 504
    assert proxy_vars(headers)["status"] == "FAILED:key_not_proven"
    assert len([x for x in log.lines()
                if "failed: key_not_proven" in x]) == 1
    events = tail.events(expect=1)
    assert [(e["status"], e["reason"]) for e in events] == [
        ("FAILED", "key_not_proven")], events


def test_client_gone_while_the_upstream_has_yet_to_prove_its_key(world):
    """The client closes while nginx waits for the stalled relay's proof:
    nginx ends the upstream connection, records key_not_proven once, and
    its worker lives on (the harness fails a crash when nginx stops)."""
    log = LogTail(world.nginx.error_log)
    tail = LogTail(world.events)
    relayed = world.stall.relayed
    with socket.create_connection(("127.0.0.1", world.port[0]), 5) as s:
        s.sendall(b"GET /stall-long HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.time() + 5
        while world.stall.relayed == relayed and time.time() < deadline:
            time.sleep(0.05)
        assert world.stall.relayed == relayed + 1
        # nginx reads the certificate the relay just sent, then waits
        time.sleep(0.5)
    events = tail.events(expect=1)
    assert [(e["status"], e["reason"]) for e in events] == [
        ("FAILED", "key_not_proven")], events
    assert len([x for x in log.lines()
                if "failed: key_not_proven" in x]) == 1
    assert get(world.port[0], "/good")[0] == 200


# -- keepalive across the end of a verdict ----------------------------------

def test_keepalive_connection_not_reused_past_its_verdict(tmp_path, pki):
    """A keepalive connection serves while the document is young enough;
    past the location's max age, the next request verifies anew (and the
    same document, now stale, is refused) rather than reuse it."""
    d = str(tmp_path)
    fresh = enclave(d, "fresh", pki)
    policy = write(os.path.join(d, "policy.json"),
                   forge.policy([("payments-v42", GOOD)]))
    with nginx.Nginx(upstream_body([("fresh", fresh)])) as up:
        front = nginx.server("@port0@", reporting() + verified(
            "/", "https://ka",
            "proxy_http_version 1.1; proxy_set_header Connection \"\";"))
        body = """
    nitro_attest_proxy_policy %s;
    nitro_attest_proxy_trusted_root %s;
    nitro_attest_proxy_max_age 3s;
    upstream ka {
        server 127.0.0.1:%d;
        keepalive 4;
    }
""" % (policy, pki.root_pem, up.ports[0]) + front
        with nginx.Nginx(body) as n:
            s1, _, b1 = get(n.ports[0], "/")
            s2, h2, b2 = get(n.ports[0], "/")
            assert (s1, s2) == (200, 200), (b1, b2)
            # the same upstream connection served both
            assert b2.split()[1] == b1.split()[1] and b2.split()[2] == "2"
            assert proxy_vars(h2)["status"] == "SUCCESS"
            time.sleep(max(0, fresh.doc.timestamp_ms / 1000 + 3.5
                           - time.time()))
            s3, h3, b3 = get(n.ports[0], "/")
            assert s3 == 502, b3
            assert proxy_vars(h3)["status"] == "FAILED:stale"


def test_variables_after_a_verified_upstream_then_a_dead_one(tmp_path, pki):
    """The first upstream, verified, answers 503; the next one refuses the
    connection, before any TLS: the 502 nginx answers then comes from no
    verified upstream, and the variables do not report the first one's
    verdict as the request's."""
    d = str(tmp_path)
    good = enclave(d, "good", pki)
    policy = write(os.path.join(d, "policy.json"),
                   forge.policy([("payments-v42", GOOD)]))
    busy = nginx.server("@port0@ ssl", "ssl_certificate %s;" % good.cert,
                        "ssl_certificate_key %s;" % good.key,
                        'return 503 "busy\\n";')
    dead = nginx.free_ports(1)[0]
    with nginx.Nginx(busy) as up:
        body = """
    nitro_attest_proxy_policy %s;
    nitro_attest_proxy_trusted_root %s;
    upstream two {
        server 127.0.0.1:%d;
        server 127.0.0.1:%d backup;
    }
""" % (policy, pki.root_pem, up.ports[0], dead) + nginx.server(
            "@port0@", reporting(),
            verified("/", "https://two", "proxy_next_upstream error "
                     "http_503;"),
            verified("/once", "https://two", "proxy_next_upstream off;"))
        with nginx.Nginx(body) as n:
            status, headers, body = get(n.ports[0], "/once")
            assert status == 503 and body == "busy\n", (status, body)
            assert proxy_vars(headers)["status"] == "SUCCESS"
            status, headers, body = get(n.ports[0], "/")
            assert status == 502, (status, body)
            v = proxy_vars(headers)
            assert (v["status"], v["policy"], v["pcr0"]) == ("NONE", "", ""), v


class RenegotiatingEnclave:
    """A TLS 1.2 HTTP/1.1 server (pyOpenSSL) presenting one certificate
    at the handshake; on a request for a path ending in /reneg it
    renegotiates, full (no session resumes), with the second certificate
    before it answers.  Answers "CONNECTION REQUEST-ON-IT PATH"."""

    def __init__(self, first, second):
        from OpenSSL import SSL
        self.SSL = SSL
        self.ctx, self.other = (self.context(c) for c in (first, second))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.renegotiated = []
        threading.Thread(target=self.accept, daemon=True).start()

    def context(self, enclave_cert):
        ctx = self.SSL.Context(self.SSL.TLSv1_2_METHOD)
        ctx.use_certificate_file(enclave_cert.cert)
        ctx.use_privatekey_file(enclave_cert.key)
        ctx.set_session_cache_mode(self.SSL.SESS_CACHE_OFF)
        ctx.set_options(self.SSL.OP_NO_TICKET)
        return ctx

    def accept(self):
        n = 0
        while True:
            sock, _ = self.sock.accept()
            n += 1
            threading.Thread(target=self.serve, args=(sock, n),
                             daemon=True).start()

    def pump(self, step, deadline):
        """step() on the non-blocking socket until it stops asking to
        read: what it returns."""
        while time.time() < deadline:
            try:
                return step()
            except self.SSL.WantReadError:
                time.sleep(0.01)
        raise TimeoutError

    def serve(self, sock, number):
        SSL = self.SSL
        conn = SSL.Connection(self.ctx, sock)
        conn.set_accept_state()
        sock.setblocking(False)
        requests, buf = 0, b""
        try:
            self.pump(conn.do_handshake, time.time() + 10)
            while True:
                data = self.pump(lambda: conn.recv(65536), time.time() + 10)
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    requests += 1
                    path = head.split(b" ")[1].decode()
                    if path.endswith("/reneg"):
                        self.renegotiate(conn)
                    body = ("%d %d %s\n" % (number, requests, path)).encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: "
                                 b"%d\r\n\r\n%s" % (len(body), body))
        except (SSL.Error, OSError, TimeoutError):
            pass

    def renegotiate(self, conn):
        conn.set_context(self.other)
        conn.renegotiate()
        deadline = time.time() + 5
        try:
            conn.do_handshake()
        except self.SSL.WantReadError:
            pass
        while conn.renegotiate_pending() and time.time() < deadline:
            try:
                conn.recv(1)
            except self.SSL.WantReadError:
                time.sleep(0.01)
        self.renegotiated.append(not conn.renegotiate_pending())


def test_keepalive_connection_renegotiated_unverified_not_reused(tmp_path,
                                                                  pki):
    """A verified keepalive connection serves a location that does not
    verify, where the upstream renegotiates (TLS 1.2) with a certificate
    of another build: the verdict of its first handshake no longer
    describes it, so a verifying location does not reuse it but connects
    anew (where this upstream presents its first certificate again)."""
    d = str(tmp_path)
    good = enclave(d, "good", pki)
    other = enclave(d, "other", pki,
                    pcrs={**forge.default_pcrs(), 0: OTHER_PCR0})
    policy = write(os.path.join(d, "policy.json"),
                   forge.policy([("payments-v42", GOOD)]))
    up = RenegotiatingEnclave(good, other)
    keepalive = ("proxy_http_version 1.1; proxy_set_header Connection \"\"; "
                 "proxy_ssl_protocols TLSv1.2;")
    body = """
    nitro_attest_proxy_policy %s;
    nitro_attest_proxy_trusted_root %s;
    upstream ka {
        server 127.0.0.1:%d;
        keepalive 4;
    }
""" % (policy, pki.root_pem, up.port) + nginx.server(
        "@port0@", reporting(), verified("/a", "https://ka", keepalive),
        "location /off { %s proxy_pass https://ka; }\n" % keepalive)
    with nginx.Nginx(body) as n:
        status, headers, text = get(n.ports[0], "/a")
        assert status == 200 and text.split()[:2] == ["1", "1"], text
        assert proxy_vars(headers)["status"] == "SUCCESS"
        status, _, text = get(n.ports[0], "/off/reneg")
        assert status == 200 and text.split()[:2] == ["1", "2"], text
        assert up.renegotiated == [True]
        status, headers, text = get(n.ports[0], "/a")
        assert status == 200 and text.split()[:2] == ["2", "1"], text
        assert proxy_vars(headers)["status"] == "SUCCESS"


# -- gRPC, uwsgi and stream upstreams ---------------------------------------

class TlsServer(socketserver.ThreadingTCPServer):
    """A TLS server on 127.0.0.1 presenting an enclave's certificate; each
    connection is handed, wrapped, to answer(sock)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, enclave_cert, answer):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(enclave_cert.cert, enclave_cert.key)
        self.resumed = []       # per handshake: was the session resumed

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner):
                try:
                    with ctx.wrap_socket(inner.request,
                                         server_side=True) as s:
                        self.resumed.append(s.session_reused)
                        answer(s)
                except (ssl.SSLError, OSError):
                    pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


def echo(sock):
    """A stream enclave: echoes what it reads, prefixed."""
    while True:
        data = sock.recv(4096)
        if not data:
            return
        sock.sendall(b"echo:" + data)


def uwsgi(sock):
    """A uwsgi enclave: reads one request's header and variables, answers
    with a whole HTTP response, as uwsgi applications do."""
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return
        head += chunk
    size = int.from_bytes(head[1:3], "little")
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return
        data += chunk
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: 14\r\n\r\nuwsgi enclave\n")


def grpc_enclave(enclave_cert):
    """A gRPC server over TLS with an enclave's certificate: services
    test.Good and test.Bad each answer Say(x) with b"grpc:" + x."""
    import grpc
    from concurrent import futures

    def say(request, context):
        return b"grpc:" + request

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    for service in ("test.Good", "test.Bad"):
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            service, {"Say": grpc.unary_unary_rpc_method_handler(say)}),))
    with open(enclave_cert.key, "rb") as k, open(enclave_cert.cert, "rb") as c:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    server.port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server


@pytest.fixture(scope="module")
def kinds(tmp_path_factory, pki):
    """A proxy in front of every other TLS upstream kind, each with a
    genuine enclave and one of another build (pcr_mismatch)."""
    d = str(tmp_path_factory.mktemp("kinds"))
    w = type("Kinds", (), {})()
    # three PCRs: certificates small enough for a zone to keep sessions
    good = enclave(d, "good", pki, pcrs=GOOD)
    other = enclave(d, "other", pki, pcrs={**GOOD, 0: OTHER_PCR0})
    w.policy = write(os.path.join(d, "policy.json"),
                     forge.policy([("payments-v42", GOOD)]))
    w.stream_log = os.path.join(d, "stream.log")
    w.grpc = [grpc_enclave(good), grpc_enclave(other)]
    w.uwsgi = [TlsServer(good, uwsgi), TlsServer(other, uwsgi)]
    w.echo = [TlsServer(good, echo), TlsServer(other, echo)]
    w.relay = Relay(w.echo[0].port, good)
    w.stream_events = os.path.join(d, "stream-events.log")
    trust = ("nitro_attest_proxy_policy %s;\n"
             "    nitro_attest_proxy_trusted_root %s;\n"
             % (w.policy, pki.root_pem))
    http = ("    " + trust + nginx.server(
        "@port0@", reporting(),
        verified("/good", "suwsgi://127.0.0.1:%d" % w.uwsgi[0].port,
                 passing="uwsgi_pass"),
        verified("/other", "suwsgi://127.0.0.1:%d" % w.uwsgi[1].port,
                 passing="uwsgi_pass"))
        + nginx.server(
            "@port1@ http2",
            verified("/test.Good/", "grpcs://127.0.0.1:%d" % w.grpc[0].port,
                     passing="grpc_pass"),
            verified("/test.Bad/", "grpcs://127.0.0.1:%d" % w.grpc[1].port,
                     passing="grpc_pass"))
        + nginx.status_server("@port6@"))
    stream = ("    " + trust
              + "    nitro_attest_event_log %s;\n" % w.stream_events
              + "    log_format up '$nitro_attest_proxy_status "
              "$nitro_attest_proxy_policy $nitro_attest_proxy_pcr0 "
              "$nitro_attest_proxy_kind';\n"
              "    access_log %s up;\n" % w.stream_log
              + "    upstream good { zone good 64k; server 127.0.0.1:%d; }\n"
              "    upstream other { zone other 64k; server 127.0.0.1:%d; }\n"
              % (w.echo[0].port, w.echo[1].port)
              + "".join(nginx.server(
                  "@port%d@" % (2 + i), "proxy_ssl on;",
                  "nitro_attest_proxy_verify on;", "proxy_pass %s;" % e)
                  for i, e in enumerate(("good", "other")))
              # port3's upstream, not verified: its TLS sessions are saved
              # for that upstream server
              + nginx.server("@port4@", "proxy_ssl on;",
                             "proxy_pass other;")
              # port5: a relay before the genuine enclave; "ssl_preread"
              # holds a session until its client sends, so that the
              # harness's probe (connect, close) never reaches the relay
              + nginx.server("@port5@", "ssl_preread on;", "proxy_ssl on;",
                             "proxy_ssl_protocols TLSv1.3;",
                             "nitro_attest_proxy_verify on;",
                             "proxy_pass 127.0.0.1:%d;" % w.relay.port))
    try:
        yield from nginx.serving(w, http, ports=7, main=stream_main(stream))
    finally:
        for s in w.grpc:
            s.stop(None)
        for s in w.uwsgi + w.echo:
            s.shutdown()


def test_uwsgi_over_tls_is_verified(kinds):
    status, headers, body = get(kinds.port[0], "/good")
    assert (status, body) == (200, "uwsgi enclave\n")
    assert proxy_vars(headers)["status"] == "SUCCESS"
    status, headers, body = get(kinds.port[0], "/other")
    assert status == 502 and "uwsgi enclave" not in body
    assert proxy_vars(headers)["status"] == "FAILED:pcr_mismatch"


def test_grpc_over_tls_is_verified(kinds):
    import grpc
    with grpc.insecure_channel("127.0.0.1:%d" % kinds.port[1]) as ch:
        good = ch.unary_unary("/test.Good/Say")
        assert good(b"hello", timeout=10) == b"grpc:hello"
        bad = ch.unary_unary("/test.Bad/Say")
        with pytest.raises(grpc.RpcError) as e:
            bad(b"hello", timeout=10)
        assert e.value.code() != grpc.StatusCode.OK


def stream_exchange(port, data=b"ping"):
    """What the proxy's stream server answers (b"" when it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        deadline = time.time() + 5
        while time.time() < deadline and not out.endswith(data):
            try:
                chunk = s.recv(4096)
            except (ConnectionError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out


def test_stream_echo_through_a_verified_enclave(kinds):
    tail = LogTail(kinds.stream_log)
    assert stream_exchange(kinds.port[2]) == b"echo:ping"
    # another build: the session ends before any byte reaches it
    assert stream_exchange(kinds.port[3]) == b""
    # each session's line, written when it ends, whatever the order
    expected = {"SUCCESS payments-v42 %s enclave" % GOOD[0].hex(),
                "FAILED:pcr_mismatch  %s enclave" % OTHER_PCR0.hex()}
    deadline = time.time() + 5
    while not expected <= set(tail.lines()) and time.time() < deadline:
        time.sleep(0.05)
    assert expected <= set(tail.lines()), tail.lines()


def test_stream_session_never_resumed_where_verified(kinds):
    """A session saved where the upstream is not verified is not resumed
    by a server that verifies it: the handshake is a full one, refused."""
    for _ in range(3):
        assert stream_exchange(kinds.port[4]) == b"echo:ping"
        assert stream_exchange(kinds.port[3]) == b""
    # the server not verifying did resume its sessions
    assert True in kinds.echo[1].resumed


def test_stream_upstream_that_never_proves_its_key_is_recorded(kinds):
    """The stream face of the relay case: the session ends before any
    byte reaches the enclave, and the attempt is recorded as a failed
    verification, key_not_proven (error line, event line, counters, the
    session's variables).  The harness's probes of the other ports may
    log and count meanwhile: only what names the relay is counted."""
    log = LogTail(kinds.nginx.error_log)
    access = LogTail(kinds.stream_log)
    events = LogTail(kinds.stream_events)
    before = nginx.metrics(kinds.port[6])
    relayed = kinds.relay.relayed
    assert stream_exchange(kinds.port[5], b"hello, enclave") == b""
    assert kinds.relay.relayed == relayed + 1
    expected = "FAILED:key_not_proven payments-v42 %s enclave" % (
        GOOD[0].hex())
    deadline = time.time() + 5
    while expected not in access.lines() and time.time() < deadline:
        time.sleep(0.05)
    assert expected in access.lines(), access.lines()
    # the lines about this upstream (the harness's probes of the other
    # ports may write theirs meanwhile)
    ours = [x for x in log.lines()
            if re.search(r'upstream attestation failed: \w+, upstream: '
                         r'"127.0.0.1:%d"' % kinds.relay.port, x)]
    assert len(ours) == 1, ours
    assert "[error]" in ours[0]
    assert "failed: key_not_proven, upstream" in ours[0], ours[0]
    e = [x for x in events.events(expect=1)
         if x["upstream_addr"] == "127.0.0.1:%d" % kinds.relay.port]
    assert len(e) == 1, e
    assert (e[0]["status"], e[0]["reason"], e[0]["direction"]) == (
        "FAILED", "key_not_proven", "upstream"), e
    after = nginx.metrics(kinds.port[6])
    assert after["proxy"]["failures"]["key_not_proven"] - \
        before["proxy"]["failures"]["key_not_proven"] == 1
    assert after["proxy"]["failed"] > before["proxy"]["failed"]


# -- nginx -t ----------------------------------------------------------------

def line_of(conf, text):
    """The line of the generated configuration that holds text."""
    for n, line in enumerate(conf.text.splitlines(), 1):
        if text in line:
            return n
    raise AssertionError(text)


@pytest.mark.parametrize("where", ["http", "stream"])
def test_nginx_t_fails_without_a_policy_naming_the_directive(where):
    verify = "nitro_attest_proxy_verify on;"
    if where == "http":
        rc, out, conf = nginx_t(nginx.server(
            "@port0@", "location / { %s proxy_pass https://127.0.0.1:1; }"
            % verify))
    else:
        rc, out, conf = nginx_t("", main=stream_main(nginx.server(
            "@port0@", verify, "proxy_ssl on;", "proxy_pass 127.0.0.1:1;")))
    assert rc != 0, out
    assert "\"nitro_attest_proxy_verify on\" in %s:%d requires " \
           "\"nitro_attest_proxy_policy\"" % (conf, line_of(conf, verify)) \
        in out, out


def test_nginx_t_warns_where_a_verifying_location_passes_in_plaintext(
        files):
    """A location under nitro_attest_proxy_verify on whose upstream is
    plain http is not verified: nginx -t warns, naming the directive's
    file and line and the location, rather than let it look protected.
    TLS upstreams, and an "if" block within one, draw no warning."""
    verify = "nitro_attest_proxy_verify on;"
    rc, out, conf = nginx_t(nginx.server(
        "@port0@", verify,
        "nitro_attest_proxy_policy %s;" % files["policy"],
        "location /plain { proxy_pass http://127.0.0.1:1; }",
        "location /tls { if ($arg_x) { set $y 1; } "
        "proxy_pass https://127.0.0.1:1; }",
        "location /g { grpc_pass grpcs://127.0.0.1:1; }",
        "location /u { uwsgi_pass 127.0.0.1:1; }",
        "location /static { return 204; }"))
    assert rc == 0, out
    warnings = [x for x in out.splitlines() if "[warn]" in x]
    assert len(warnings) == 2, out
    for location, line in zip(("/plain", "/u"), warnings):
        assert "\"%s\" in %s:%d applies to location \"%s\", whose " \
               "upstream is not TLS" % (verify[:-1], conf,
                                        line_of(conf, verify),
                                        location) in line, line


def test_nginx_t_warns_where_a_verifying_stream_server_has_no_proxy_ssl(
        files):
    verify = "nitro_attest_proxy_verify on;"
    stream = ("    nitro_attest_proxy_policy %s;\n" % files["policy"]
              + nginx.server("@port0@", verify, "proxy_pass 127.0.0.1:1;")
              + nginx.server("@port1@", verify, "proxy_ssl on;",
                             "proxy_pass 127.0.0.1:1;"))
    rc, out, conf = nginx_t("", ports=2, main=stream_main(stream))
    assert rc == 0, out
    warnings = [x for x in out.splitlines() if "[warn]" in x]
    assert len(warnings) == 1, out
    assert "\"%s\" in %s:%d applies to a server without \"proxy_ssl " \
           "on\": its upstream is not verified" % (
               verify[:-1], conf, line_of(conf, verify)) in warnings[0], out


def test_nginx_t_fails_on_a_malformed_policy_naming_file_and_line(files):
    directive = "nitro_attest_proxy_policy %s;" % files["bad_json"]
    rc, out, conf = nginx_t(nginx.server(
        "@port0@", "location / { nitro_attest_proxy_verify on; %s "
        "proxy_pass https://127.0.0.1:1; }" % directive))
    assert rc != 0, out
    assert files["bad_json"] in out
    assert "%s:%d" % (conf, line_of(conf, directive)) in out, out


def test_directives_in_every_context(files, pki):
    trust = ("nitro_attest_proxy_policy %s; nitro_attest_proxy_trusted_root "
             "%s;" % (files["policy"], files["root"]))
    settings = ("nitro_attest_proxy_max_age 2m; "
                "nitro_attest_proxy_clock_skew 10s; "
                "nitro_attest_proxy_binding user_data_sha256; "
                "nitro_attest_proxy_extension 1.2.3.4 raw;")
    http = ("    %s %s\n" % (trust, settings) + nginx.server(
        "@port0@", "nitro_attest_proxy_verify on;",
        "location / { nitro_attest_proxy_verify off; "
        "proxy_pass https://127.0.0.1:1; }",
        "location /g { %s grpc_pass grpcs://127.0.0.1:1; }" % settings))
    stream = "    %s\n" % trust + nginx.server(
        "@port1@", settings, "nitro_attest_proxy_verify on;",
        "proxy_ssl on;", "proxy_pass 127.0.0.1:1;")
    rc, out, _ = nginx_t(http, ports=2, main=stream_main(stream))
    assert rc == 0, out


def test_enclave_certificate_made_by_the_cli(nitro, tmp_path):
    """What the docs show: `nitro-attest mock cert --server NAME` (as
    `cert --server` and `agent --server` make in an enclave) is served by
    the enclave and verified by nginx, which checks its name too."""
    pki = str(tmp_path / "pki")
    assert nitro("mock", "pki", pki).code == 0
    key, cert = tmp_path / "enclave.key", tmp_path / "enclave.pem"
    run = nitro("mock", "cert", "--pki", pki, "--pcr", "0=" + "ab" * 48,
                "--server", NAME, "--out-key", key, "--out-cert", cert)
    assert run.code == 0, run.describe()
    policy = write(str(tmp_path / "policy.json"), forge.policy(
        [("app", {0: bytes.fromhex("ab" * 48)})]))
    served = type("Served", (), {"cert": str(cert), "key": str(key)})
    with nginx.Nginx(upstream_body([("enclave", served)])) as up:
        body = ("    nitro_attest_proxy_policy %s;\n"
                "    nitro_attest_proxy_trusted_root %s/root.pem;\n"
                % (policy, pki)) + nginx.server("@port0@", reporting(),
                                                verified(
            "/", "https://127.0.0.1:%d" % up.ports[0],
            "proxy_ssl_verify on;", "proxy_ssl_name %s;" % NAME,
            "proxy_ssl_trusted_certificate %s;" % cert))
        with nginx.Nginx(body) as n:
            status, headers, text = get(n.ports[0], "/")
            assert status == 200 and text.startswith("enclave "), text
            assert proxy_vars(headers)["policy"] == "app"


def test_upstream_example_verifies_its_enclave(world, files, tmp_path):
    """conf-examples/upstream.conf as shipped, with the enclave (the
    genuine one, then another build) where the example has its TLS port."""
    front = nginx.Nginx(nginx.example(EXAMPLES / "upstream.conf",
                                      files["policy"], files["root"]),
                        ports=2, raw=True)
    try:
        for name, expect in (("good", 200), ("pcr_mismatch", 502)):
            c = world.enclaves.certs[name]
            with nginx.Nginx(nginx.server(
                    "%d ssl" % front.ports[1], "ssl_certificate %s;" % c.cert,
                    "ssl_certificate_key %s;" % c.key,
                    'return 200 "%s\\n";' % name), ports=0):
                front.start()
                try:
                    resp, conn = nginx.get(front.ports[0],
                                           nginx.client_context(),
                                           "api.example.com")
                    conn.close()
                finally:
                    front.stop(keep=True)
            assert resp.status == expect, resp
            assert resp.headers["x-upstream-attestation"] == (
                "SUCCESS" if expect == 200 else "FAILED:pcr_mismatch")
    finally:
        front.stop()


def test_nginx_t_fails_on_a_trusted_root_that_is_no_ca(files, tmp_path):
    leaf = write(str(tmp_path / "leaf.pem"), forge.cert_pem(
        forge.client_cert(forge.new_key(), None)))
    directive = "nitro_attest_proxy_trusted_root %s;" % leaf
    rc, out, conf = nginx_t(nginx.server(
        "@port0@", "nitro_attest_proxy_verify on;",
        "nitro_attest_proxy_policy %s;" % files["policy"], directive,
        "location / { proxy_pass https://127.0.0.1:1; }"))
    assert rc != 0, out
    assert leaf in out and "%s:%d" % (conf, line_of(conf, directive)) in out
