"""The module inside a real nginx: handshake enforcement, variables, and the
ways around it that must stay closed.

One nginx serves four ports:
  port0  optional.test (default, report-only), on.test (enforcing),
         plain.test (module off); HTTP/2; session tickets (default).
  port1  on-default.test, enforcing and the default server; tickets off,
         shared session cache.
  port2  optional-cache.test, report-only; tickets off, shared cache.
  port3  verify-ca.test, enforcing with "ssl_verify_client on" against a CA.
Every location echoes the variables as "name=value" lines.
"""

import datetime
import hashlib
import json
import os
import re
import ssl
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import forge
import nginx
from clients import (DENIED_PCR0, Client, attested, context, fault_clients,
                     new_world)
from events import CRITICAL, MEASURED
from files import write
from forge import GOOD

ECHO = ("status=$nitro_attest_status\\n"
        "reason=$nitro_attest_reason\\n"
        "policy=$nitro_attest_policy\\n"
        "module_id=$nitro_attest_module_id\\n"
        "timestamp=$nitro_attest_timestamp\\n"
        "age=$nitro_attest_age\\n"
        "user_data=$nitro_attest_user_data\\n"
        "nonce=$nitro_attest_nonce\\n"
        "cert_sha256=$nitro_attest_cert_sha256\\n"
        "pcr0=$nitro_attest_pcr0\\n"
        "pcr1=$nitro_attest_pcr1\\n"
        "pcr15=$nitro_attest_pcr15\\n"
        "pcr16=$nitro_attest_pcr16\\n"
        "pcr31=$nitro_attest_pcr31\\n"
        "ssl_client_verify=$ssl_client_verify\\n"
        "connection=$connection\\n"
        "protocol=$server_protocol\\n"
        "json=$nitro_attest_json\\n")

RAW_OID = "1.3.6.1.4.1.99999.7"


def ca_signed(directory, pki, ca_key, ca_cert):
    """An attested client certificate issued by a CA (not self-signed)."""
    key = forge.new_key()
    doc = forge.document(pki, public_key=forge.spki_der(key))
    now = datetime.datetime.now(datetime.timezone.utc)
    der = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                       "ca-client")]))
           .issuer_name(ca_cert.subject)
           .public_key(key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(hours=1))
           .not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.UnrecognizedExtension(
               x509.ObjectIdentifier(forge.DEFAULT_OID),
               forge.cmw_extension(doc.cose)), critical=False)
           .sign(ca_key, hashes.SHA256())
           .public_bytes(serialization.Encoding.DER))
    return Client(directory, "ca_client", der, key)


def make_ca(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    write(os.path.join(directory, "ca.pem"),
          cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki, other_pki):
    w = new_world(tmp_path_factory.mktemp("nginx-attest"), pki,
                  [("payments-v42", GOOD)],
                  deny=[("payments-v41-cve", {0: DENIED_PCR0})])
    d = w.dir
    w.good = attested(d, "good", pki, user_data=b"\x01\x02\x03",
                      nonce=b"")
    w.critical = attested(d, "critical", pki,
                          cert_kw=dict(critical=True))
    w.faults = fault_clients(d, pki, other_pki)
    ca_key, ca_cert = make_ca(d)
    w.ca_client = ca_signed(d, pki, ca_key, ca_cert)

    def echoing(listen, name, mode, *directives):
        """Server NAME.test, echoing the variables."""
        return nginx.server(
            listen, *directives,
            'location / { return 200 "server=%s\\n%s"; }' % (name, ECHO),
            name=name + ".test", attest=mode)

    body = (
        nginx.trust(os.path.join(d, "policy.json"), pki.root_pem)
        + echoing("@port0@ ssl http2 default_server", "optional", "optional")
        + echoing("@port0@ ssl", "on", "on", "error_page 400 /secret;",
                  'location = /secret { return 200 "secret"; }')
        + echoing("@port0@ ssl", "plain", None)
        + echoing("@port1@ ssl default_server", "on-default", "on",
                  "ssl_session_tickets off;",
                  "ssl_session_cache shared:on_default:1m;")
        + echoing("@port1@ ssl", "optional1", "optional")
        + echoing("@port2@ ssl default_server", "optional-cache", "optional",
                  "ssl_session_tickets off;",
                  "ssl_session_cache shared:optional_cache:1m;")
        + echoing("@port2@ ssl", "raw-ext", "optional",
                  "nitro_attest_extension %s raw;" % RAW_OID)
        + echoing("@port2@ ssl", "binding", "optional",
                  "nitro_attest_binding user_data_sha256;",
                  "nitro_attest_max_age 30s;", "nitro_attest_clock_skew 0;")
        + echoing("@port3@ ssl default_server", "verify-ca", "on",
                  "ssl_verify_client on;",
                  "ssl_client_certificate %s/ca.pem;" % d)
        + echoing("@port3@ ssl", "no-ca", "on",
                  "ssl_verify_client optional_no_ca;"))
    yield from nginx.serving(w, body, ports=4)


def fetch(w, client, host, port=0, sni="", version=None, session=None):
    return nginx.get(w.port[port], context(client, version), host, sni=sni,
                     session=session)


def fetch_fields(w, client, host, **kw):
    resp, conn = fetch(w, client, host, **kw)
    conn.close()
    assert resp.status == 200, resp
    return resp.fields()


def refused(w, client, host, port=0, version=None):
    return nginx.refused(w.port[port], context(client, version), host)


# ---------------------------------------------------------------------------
# A verified attestation.

def test_attested_client_served_with_every_variable(world):
    c = world.good
    for host in ("optional.test", "on.test"):
        f = fetch_fields(world, c, host)
        assert f["status"] == "SUCCESS"
        assert f["reason"] == ""
        assert f["policy"] == "payments-v42"
        assert f["module_id"] == forge.DEFAULT_MODULE_ID
        assert f["pcr0"] == forge.default_pcrs()[0].hex()
        assert f["pcr15"] == forge.default_pcrs()[15].hex()
        assert f["pcr16"] == "" and f["pcr31"] == ""
        assert f["user_data"] == "010203"
        assert f["nonce"] == ""
        assert f["cert_sha256"] == c.sha256
        assert 0 <= int(f["age"]) < 120
        assert abs(int(f["timestamp"]) - forge.now_ms()) < 120 * 1000
        event = json.loads(f["json"])
        assert event["status"] == "SUCCESS" and event["resumed"] is False
        assert event["cert_sha256"] == c.sha256
        assert event["pcrs"]["0"] == f["pcr0"]


def test_critical_attestation_extension_is_not_refused(world):
    f = fetch_fields(world, world.critical, "on.test")
    assert f["status"] == "SUCCESS"
    # and with the CA check running (optional_no_ca): still served
    f = fetch_fields(world, world.critical, "no-ca.test", port=3)
    assert f["status"] == "SUCCESS"
    assert "critical" not in f["ssl_client_verify"]


def test_extension_oid_and_format_are_configurable(world):
    raw = attested(world.dir, "raw", world.pki,
                   cert_kw=dict(oid=RAW_OID, fmt="raw"))
    f = fetch_fields(world, raw, "raw-ext.test", port=2)
    assert f["status"] == "SUCCESS"
    f = fetch_fields(world, world.good, "raw-ext.test", port=2)
    assert f["status"] == "FAILED:no_extension"
    f = fetch_fields(world, raw, "optional.test")
    assert f["status"] == "FAILED:no_extension"


def test_binding_max_age_and_clock_skew_are_configurable(world):
    key = forge.new_key()
    spki = forge.spki_der(key)
    bound = attested(world.dir, "bound", world.pki, key=key,
                     public_key=None,
                     user_data=hashlib.sha256(spki).digest())
    f = fetch_fields(world, bound, "binding.test", port=2)
    assert f["status"] == "SUCCESS", f
    assert json.loads(f["json"])["binding"] == "user_data_sha256"
    f = fetch_fields(world, world.good, "binding.test", port=2)
    assert f["status"] == "FAILED:binding_mismatch"
    now = forge.now_ms()
    old = attested(world.dir, "old", world.pki, key=key, public_key=None,
                   user_data=hashlib.sha256(spki).digest(),
                   timestamp_ms=now - 60 * 1000)
    assert fetch_fields(world, old, "binding.test",
                        port=2)["status"] == "FAILED:stale"
    ahead = attested(world.dir, "ahead", world.pki, key=key, public_key=None,
                     user_data=hashlib.sha256(spki).digest(),
                     timestamp_ms=now + 10 * 1000)
    assert fetch_fields(world, ahead, "binding.test",
                        port=2)["status"] == "FAILED:future"


def test_self_signed_attested_client_needs_no_ca(world):
    f = fetch_fields(world, world.good, "no-ca.test", port=3)
    assert f["status"] == "SUCCESS"
    assert f["ssl_client_verify"].startswith("FAILED:self")


def test_ssl_verify_client_on_still_requires_the_ca(world):
    f = fetch_fields(world, world.ca_client, "verify-ca.test", port=3)
    assert f["status"] == "SUCCESS" and f["ssl_client_verify"] == "SUCCESS"
    resp, conn = fetch(world, world.good, "verify-ca.test", port=3)
    conn.close()
    assert resp.status == 400          # attested, but not from the CA


# ---------------------------------------------------------------------------
# Every reason code: reported by "optional", refused by "on".

@pytest.mark.parametrize("reason", [
    "no_extension", "malformed_extension", "malformed_document",
    "unsupported_algorithm", "bad_signature", "untrusted_root",
    "chain_invalid", "certificate_expired", "stale", "future",
    "debug_enclave", "denied", "pcr_mismatch", "binding_mismatch"])
def test_reason_code_reported_and_refused(world, reason):
    c = world.faults[reason]
    f = fetch_fields(world, c, "optional.test")
    assert f["status"] == "FAILED:" + reason
    assert f["reason"] == reason
    assert f["cert_sha256"] == c.sha256
    event = json.loads(f["json"])
    assert event["status"] == "FAILED" and event["reason"] == reason
    if reason in MEASURED:
        assert f["pcr0"] != "" and f["module_id"] != ""
        assert f["timestamp"] != "" and f["age"] != ""
    else:
        assert f["pcr0"] == "" and f["module_id"] == ""
        assert f["timestamp"] == "" and f["policy"] == ""
    if reason == "denied":
        assert f["policy"] == "payments-v41-cve"

    for version in ("1.2", "1.3"):
        assert refused(world, c, "on.test", version=version), version
    log = world.nginx.log_text()
    # one line per refusal: the reason, the server's name, what the
    # document attested (when measured) and the client's address; at
    # "error" for CRITICAL reasons, so Debian's default error_log shows it
    lines = [line for line in log.splitlines()
             if "client attestation failed: %s, handshake refused, "
                'server name: "on.test"' % reason in line]
    assert len(lines) == 2, log[-3000:]
    level = "[error]" if reason in CRITICAL else "[info]"
    for line in lines:
        assert level in line and "client: 127.0.0.1" in line, line
        if reason in MEASURED:
            assert 'module id: "i-' in line, line
        else:
            assert 'module id: ""' in line, line
        if reason == "denied":
            assert 'policy: "payments-v41-cve"' in line, line
    # nginx's own line about the failed handshake is a client error's
    for line in log.splitlines():
        if "callback failed:nitro_attest: %s " % reason in line:
            assert "[info]" in line, line


def test_no_certificate_is_none_on_optional_and_refused_on_on(world):
    f = fetch_fields(world, None, "optional.test")
    assert f["status"] == "NONE" and f["reason"] == ""
    assert f["cert_sha256"] == "" and f["pcr0"] == ""
    assert json.loads(f["json"])["status"] == "NONE"
    for version in ("1.2", "1.3"):
        assert refused(world, None, "on.test", version=version)
        assert refused(world, None, "on-default.test", port=1,
                       version=version)
    # a client's mistake: an "info" line of the module's, no "crit" line
    log = world.nginx.log_text()
    assert "[crit]" not in log, log[-3000:]
    lines = [line for line in log.splitlines()
             if "client attestation failed: no_certificate, handshake "
                'refused, server name: "on.test"' in line]
    assert lines and all("[info]" in line for line in lines), lines


def test_module_off_server_reports_none(world):
    f = fetch_fields(world, world.good, "plain.test")
    assert f["status"] == "NONE" and f["cert_sha256"] == ""


# ---------------------------------------------------------------------------
# SNI bypass: the connection must be attested by the server it asks for.

def test_sni_bypass_without_sni_is_refused(world):
    # no SNI: the default (optional) server's SSL_CTX runs the handshake
    resp, conn = fetch(world, world.good, "on.test", sni=None)
    conn.close()
    assert resp.status == 421 and b"server=on" not in resp.body


def test_sni_bypass_with_another_servers_sni_is_refused(world):
    for sni in ("optional.test", "plain.test"):
        resp, conn = fetch(world, world.good, "on.test", sni=sni)
        conn.close()
        assert resp.status == 421 and b"server=on" not in resp.body, sni
    # nor does a failed attestation on a report-only server get through
    resp, conn = fetch(world, world.faults["pcr_mismatch"], "on.test",
                       sni="optional.test")
    conn.close()
    assert resp.status == 421


def test_sni_bypass_through_error_page_redirect_is_refused(world):
    # nginx answers a bad request before any phase handler, then error_page
    # redirects it into the server: the guard runs there too
    conn = nginx.Connection(world.port[0], world.good.ctx(), "plain.test")
    try:
        resp = conn.request_raw(b"GET / HTTP/1.1\r\nHost: on.test\r\n"
                                b"Content-Length: nope\r\n\r\n")
    finally:
        conn.close()
    assert resp.status == 421 and b"secret" not in resp.body


def test_sni_bypass_with_s_client_without_sni(world):
    p = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % world.port[0],
         "-noservername", "-quiet", "-cert", world.good.cert, "-key",
         world.good.key],
        input=b"GET / HTTP/1.1\r\nHost: on.test\r\nConnection: close\r\n\r\n",
        capture_output=True, timeout=20)
    assert b"421 Misdirected Request" in p.stdout
    assert b"server=on" not in p.stdout


def test_reports_other_servers_verdict_as_none(world):
    # a report-only server never shows a verdict made for another server
    f = fetch_fields(world, world.good, "optional1.test", port=1,
                     sni="on-default.test")
    assert f["status"] == "NONE"


def test_default_enforcing_server_attests_clients_without_sni(world):
    f = fetch_fields(world, world.good, "on-default.test", port=1,
                     sni=None)
    assert f["status"] == "SUCCESS" and f["server"] == "on-default"


def curl(*args):
    p = subprocess.run(["curl", "-sk", "--max-time", "10"] + list(args),
                       capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(errors="replace")


def test_sni_bypass_over_http2_is_refused(world):
    port = world.port[0]
    rc, out = curl("--http2", "--cert", world.good.cert, "--key",
                   world.good.key, "-H", "Host: on.test",
                   "-w", "\ncode=%{http_code} version=%{http_version}",
                   "--resolve", "optional.test:%d:127.0.0.1" % port,
                   "https://optional.test:%d/" % port)
    assert "code=421 version=2" in out and "server=on" not in out, out
    rc, out = curl("--http2", "--cert", world.good.cert, "--key",
                   world.good.key, "-H", "Host: on.test",
                   "-w", "\ncode=%{http_code}",
                   "https://127.0.0.1:%d/" % port)
    assert "code=421" in out and "server=on" not in out, out


# ---------------------------------------------------------------------------
# HTTP/2 streams share the connection's verdict.

def test_http2_streams_share_the_verdict(world):
    port = world.port[0]
    url = "https://on.test:%d/" % port
    rc, out = curl("--http2", "--cert", world.good.cert, "--key",
                   world.good.key, "--resolve", "on.test:%d:127.0.0.1" % port,
                   url, url, url)
    assert rc == 0, out
    bodies = [b for b in out.split("server=on\n") if b]
    assert len(bodies) == 3
    fields = [dict(line.split("=", 1) for line in b.splitlines())
              for b in bodies]
    assert {f["connection"] for f in fields} == {fields[0]["connection"]}
    for f in fields:
        assert f["protocol"] == "HTTP/2.0"
        assert f["status"] == "SUCCESS"
        assert f["cert_sha256"] == world.good.sha256
    assert len({f["json"] for f in fields}) == 1


# ---------------------------------------------------------------------------
# Resumption: the verdict survives exactly, or there is no resumption.

def same_verdict(first, second):
    for name in first:
        if name in ("connection", "json"):
            continue
        assert first[name] == second[name], name
    a, b = json.loads(first["json"]), json.loads(second["json"])
    assert a.pop("resumed") is False and b.pop("resumed") is True
    assert a == b


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("host", ["on.test", "optional.test"])
def test_ticket_resumption_keeps_the_verdict(world, version, host):
    resp, conn = fetch(world, world.good, host, version=version)
    session = conn.session
    conn.close()
    assert resp.status == 200
    again, conn2 = fetch(world, world.good, host, version=version,
                         session=session)
    reused = conn2.reused
    conn2.close()
    assert reused, "tickets are on: the session must resume"
    same_verdict(resp.fields(), again.fields())


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_ticket_resumption_keeps_a_failed_verdict(world, version):
    c = world.faults["pcr_mismatch"]
    resp, conn = fetch(world, c, "optional.test", version=version)
    session = conn.session
    conn.close()
    again, conn2 = fetch(world, c, "optional.test", version=version,
                         session=session)
    assert conn2.reused
    conn2.close()
    same_verdict(resp.fields(), again.fields())


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("port,host", [(1, "on-default.test"),
                                       (2, "optional-cache.test")])
def test_session_cache_resumption_keeps_the_verdict_or_is_refused(
        world, version, port, host):
    resp, conn = fetch(world, world.good, host, port=port, version=version)
    session = conn.session
    conn.close()
    assert resp.status == 200
    again, conn2 = fetch(world, world.good, host, port=port,
                         version=version, session=session)
    reused = conn2.reused
    conn2.close()
    assert again.status == 200
    if reused:
        same_verdict(resp.fields(), again.fields())
    else:
        f = again.fields()
        assert f["status"] == "SUCCESS"
        assert json.loads(f["json"])["resumed"] is False


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("sni", ["on.test", None])
def test_resumption_into_another_server_is_a_full_handshake(
        world, version, sni):
    # a session attested by the report-only server, offered for the
    # enforcing one (by its name, or without SNI): never resumed there, so
    # the enforcing server's own SSL_CTX attests the client again
    resp, conn = fetch(world, world.good, "optional.test", version=version)
    session = conn.session
    conn.close()
    again, conn2 = fetch(world, world.good, "on.test", sni=sni,
                         version=version, session=session)
    reused = conn2.reused
    conn2.close()
    assert not reused
    if sni:
        assert again.status == 200
        assert json.loads(again.fields()["json"])["resumed"] is False
    else:
        assert again.status == 421
    assert "ticket of another server name, full handshake" \
        in world.nginx.log_text()


def test_resumption_with_s_client_tls12_ticket(world, tmp_path):
    sess = str(tmp_path / "sess.pem")
    base = ["openssl", "s_client", "-connect",
            "127.0.0.1:%d" % world.port[0], "-servername", "on.test",
            "-tls1_2", "-ign_eof", "-cert", world.good.cert, "-key",
            world.good.key]
    req = b"GET / HTTP/1.1\r\nHost: on.test\r\nConnection: close\r\n\r\n"
    first = subprocess.run(base + ["-sess_out", sess], input=req,
                           capture_output=True, timeout=20)
    second = subprocess.run(base + ["-sess_in", sess], input=req,
                            capture_output=True, timeout=20)
    assert b"Reused, TLSv1.2" in second.stdout
    body = lambda out: out.split(b"server=on\n", 1)[1].split(
        b"connection=")[0]
    assert body(first.stdout) == body(second.stdout)
    assert b'"resumed":true' in second.stdout


# ---------------------------------------------------------------------------
# Verdict expiry: 421 and the connection closed, then a fresh attestation.

def test_expired_verdict_gets_421_and_connection_closed(world):
    now = forge.now_ms()
    lifetime = 3000
    c = attested(world.dir, "short", world.pki, timestamp_ms=now,
                 leaf=world.pki.leaf(now, after_ms=lifetime))
    conn = nginx.Connection(world.port[0], c.ctx("1.3"), "on.test")
    try:
        first = conn.request("on.test")
        assert first.status == 200
        session = conn.session
        # X.509 notAfter has whole seconds: wait past the end of it
        time.sleep(max(0, (now + lifetime) / 1000 - time.time()) + 1.2)
        second = conn.request("on.test")
        assert second.status == 421
        assert b"server=on" not in second.body
        assert second.headers.get("connection") == "close"
        assert conn.closed_by_peer()
    finally:
        conn.close()
    assert "client attestation expired" in world.nginx.log_text()
    # its session is not resumed into a served request either
    try:
        again, conn2 = fetch(world, c, "on.test", version="1.3",
                             session=session)
        conn2.close()
        assert again.status != 200
    except (ssl.SSLError, ConnectionError):
        pass


def test_expired_verdict_over_http2_gets_421_and_goaway(world):
    now = forge.now_ms()
    c = attested(world.dir, "short_h2", world.pki, timestamp_ms=now,
                 leaf=world.pki.leaf(now, after_ms=2000))
    port = world.port[0]
    url = "https://on.test:%d/" % port
    # requests 4 s apart on one HTTP/2 connection; the third finds the
    # GOAWAY, and a new handshake with the expired certificate fails
    p = subprocess.run(
        ["curl", "-skv", "--http2", "--rate", "15/m", "--cert", c.cert,
         "--key", c.key, "--resolve", "on.test:%d:127.0.0.1" % port,
         "-w", "code=%{http_code}\n", url, url, url],
        capture_output=True, text=True, timeout=30)
    codes = [line for line in p.stdout.splitlines()
             if line.startswith("code=")]
    assert codes[:2] == ["code=200", "code=421"], p.stdout
    assert "code=200" not in codes[2:]
    # curl 7.88 (Debian 12): "Re-using existing connection #0 with host";
    # 8.14 (Debian 13): "Re-using existing https: connection with host"
    assert re.search(r"Re-using existing (\S+ )?connection", p.stderr), \
        p.stderr
    assert "GOAWAY" in p.stderr
