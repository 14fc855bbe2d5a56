"""Upstream attestation inside a real nginx: nginx verifies the enclave
behind it.  The enclaves are real servers presenting attested TLS server
certificates forged by forge.py: a second nginx (one port per
certificate: a genuine enclave, another build, and one for each reason a
document can fail with), a gRPC server (grpcio), a small uwsgi server over
TLS and a TLS echo server for stream.

The nginx under test ("the proxy"):
  port0  http, the locations below, event log, error log at info
  port1  http, the status endpoint
  port2  http/2 without TLS (gRPC clients), grpc_pass grpcs://
  port3  stream, proxy_ssl on to the echo enclave, verified
  port4  stream, proxy_ssl on to an echo server of another build
"""

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
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
        'return 200 "%s $connection $connection_requests\\n";' % n)
        for i, (n, c) in enumerate(names))


def reporting():
    """Response headers with the proxy's variables, whatever the status."""
    return "".join("add_header X-Proxy-%s $nitro_attest_proxy_%s always;\n"
                   % (h, h) for h in HEADERS)


def verified(path, target, *directives):
    """A location that verifies its upstream."""
    return ("location %s { nitro_attest_proxy_verify on; %s "
            "proxy_pass %s; }\n" % (path, " ".join(directives), target))


class Enclaves:
    """The enclaves' certificates and the nginx serving them."""

    def __init__(self, d, pki, other_pki):
        self.certs = {"good": enclave(d, "good", pki),
                      "v43": enclave(d, "v43", pki,
                                     pcrs={**forge.default_pcrs(), **V43})}
        self.certs.update(fault_clients(d, pki, other_pki, server=NAME))
        self.names = list(self.certs)
        self.nginx = nginx.Nginx(
            upstream_body([(n, self.certs[n]) for n in self.names]),
            ports=len(self.names)).start()

    def port(self, name):
        return self.nginx.ports[self.names.index(name)]

    def url(self, name, scheme="https"):
        return "%s://127.0.0.1:%d" % (scheme, self.port(name))


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
                 "location /plain { proxy_pass %s; }\n"
                 % e.url("pcr_mismatch"),
                 verified("/sess/a", e.url("good")),
                 verified("/sess/b", e.url("good"),
                          "nitro_attest_proxy_policy %s;" % w.v43),
                 "location /sess/off { proxy_pass %s; }\n" % e.url("good"),
                 "location /sess/bad-off { proxy_pass %s; }\n"
                 % e.url("pcr_mismatch")]
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
        server 127.0.0.1:%d;
        keepalive 4;
    }
""" % (w.events, w.policy, w.pki.root_pem, e.port("pcr_mismatch"),
       e.port("good"), e.port("good"))
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
    assert status == 200 and body.startswith("pcr_mismatch "), body
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
    assert status == 200 and body.split()[1:] == [verified_conn, "2"], body
    assert proxy_vars(headers)["policy"] == "payments-v42"
    # another policy does not take it: the enclave is verified in full
    status, headers, body = get(port, "/ka/b")
    assert status == 502, body
    assert proxy_vars(headers)["status"] == "FAILED:pcr_mismatch"


def test_sessions_never_carry_a_verdict_to_other_settings(world):
    port = world.port[0]
    # a session saved where nothing is verified, for the refused build
    assert get(port, "/sess/bad-off")[0] == 200
    assert get(port, "/r/pcr_mismatch")[0] == 502
    # verified under one policy, then judged under another
    assert get(port, "/sess/a")[0] == 200
    assert get(port, "/sess/off")[0] == 200
    status, headers, _ = get(port, "/sess/b")
    assert status == 502
    assert proxy_vars(headers)["status"] == "FAILED:pcr_mismatch"
    assert get(port, "/sess/a")[0] == 200


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
