"""Adversarial clients against a real nginx (CLI-level shapes are in
t/cli/test_adversarial.py): client keys of every kind, documents and
certificates at and past the size limits, shapes that must be refused
cleanly; and after all of it, no worker died.

One nginx, one port: on.test enforces, optional.test reports (and echoes
the variables), notickets.test enforces without session tickets; all pin
a `nitro-attest mock pki` root.
"""

import os
import subprocess
from types import SimpleNamespace

import pytest
from cryptography import x509

import forge
import nginx
from clients import Client, attested
from files import write
from repo import CLI

PCR0 = forge.default_pcrs()[0]
ECHO = ("status=$nitro_attest_status\\n"
        "user_data=$nitro_attest_user_data\\n"
        "nonce=$nitro_attest_nonce\\n"
        "pcr0=$nitro_attest_pcr0\\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = SimpleNamespace(n=0)
    w.dir = str(tmp_path_factory.mktemp("nginx-adversarial"))
    pki_dir = os.path.join(w.dir, "pki")
    subprocess.run([str(CLI), "mock", "pki", pki_dir], check=True)
    w.pki = forge.Pki.load(pki_dir)
    write(os.path.join(w.dir, "policy.json"),
          forge.policy([("mock", {0: PCR0})]))
    served = 'location / { return 200 "served\\n"; }'
    body = (nginx.trust(os.path.join(w.dir, "policy.json"),
                        os.path.join(pki_dir, "root.pem"))
            + nginx.server("@port0@ ssl default_server", served,
                           name="on.test", attest="on")
            + nginx.server("@port0@ ssl", "ssl_session_tickets off;", served,
                           name="notickets.test", attest="on")
            + nginx.server("@port0@ ssl",
                           'location / { return 200 "%s"; }' % ECHO,
                           name="optional.test", attest="optional"))
    w.nginx = nginx.Nginx(body).start()
    w.workers = set(w.nginx.worker_pids())
    yield w
    w.nginx.stop()


def client(w, key, der):
    w.n += 1
    return Client(w.dir, "c%d" % w.n, der, key).ctx()


def attested_ctx(w, **doc_kw):
    """A context for a fresh P-384 client whose document doc_kw shapes."""
    w.n += 1
    return attested(w.dir, "c%d" % w.n, w.pki, **doc_kw).ctx()


def fetch(w, ctx, host):
    resp, conn = nginx.get(w.nginx.ports[0], ctx, host)
    conn.close()
    return resp


def refused(w, ctx, host="on.test"):
    return nginx.refused(w.nginx.ports[0], ctx, host)


def refusal_logged(w, reason):
    return ("client attestation failed: %s, handshake refused" % reason
            in w.nginx.log_text())


# ---------------------------------------------------------------------------
# Client keys of every kind (any key the enclave makes).

@pytest.mark.parametrize("kind", ["p384", "p256", "p521", "rsa2048",
                                  "rsa4096", "ed25519"])
def test_mock_client_key_type_is_served(world, kind):
    key = os.path.join(world.dir, kind + ".key")
    cert = os.path.join(world.dir, kind + ".pem")
    subprocess.run([str(CLI), "mock", "cert", "--pki", world.pki.dir,
                    "--key-type", kind, "--pcr", "0=" + PCR0.hex(),
                    "--out-key", key, "--out-cert", cert], check=True)
    ctx = nginx.client_context(cert, key)
    for version in ("1.2", "1.3"):
        vctx = nginx.client_context(cert, key, version)
        assert fetch(world, vctx, "on.test").body == b"served\n", version
    f = fetch(world, ctx, "optional.test").fields()
    assert f["status"] == "SUCCESS" and f["pcr0"] == PCR0.hex()


# ---------------------------------------------------------------------------
# Sizes.

def payload_of_size(w, size):
    leaf = w.pki.leaf(forge.now_ms())
    key = forge.new_key()

    def doc(pad):
        return forge.document(w.pki, leaf=leaf, public_key=forge.spki_der(key),
                              extra=[(forge.tstr("padding"),
                                      forge.bstr(b"\x00" * pad))])
    base = len(doc(300).payload)
    d = doc(300 + size - base)
    assert len(d.payload) == size
    return key, d


def test_16k_payload_served_and_one_byte_more_refused(world):
    key, d = payload_of_size(world, 16384)
    ctx = client(world, key, forge.client_cert(key, d.cose))
    assert fetch(world, ctx, "on.test").status == 200
    key, d = payload_of_size(world, 16385)
    ctx = client(world, key, forge.client_cert(key, d.cose))
    assert refused(world, ctx)
    assert refusal_logged(world, "malformed_document")


def test_every_optional_field_at_1024_bytes_reaches_the_variables(world):
    ctx = attested_ctx(world, user_data=b"\xab" * 1024, nonce=b"\xcd" * 1024)
    f = fetch(world, ctx, "optional.test").fields()
    assert f["status"] == "SUCCESS"
    assert f["user_data"] == "ab" * 1024 and f["nonce"] == "cd" * 1024


def padded_cert(key, cose, size):
    """A client certificate of about size bytes: the attestation and a
    non-critical padding extension."""
    from cryptography.hazmat.primitives import hashes, serialization
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "big")])
    now = forge.now_ms()

    def build(pad):
        return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(7)
                .not_valid_before(forge.utc(now - forge.HOUR_MS))
                .not_valid_after(forge.utc(now + forge.DAY_MS))
                .add_extension(x509.UnrecognizedExtension(
                    x509.ObjectIdentifier(forge.DEFAULT_OID),
                    forge.cmw_extension(cose)), critical=False)
                .add_extension(x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
                    forge.der_octet_string(b"\x00" * pad)), critical=False)
                .sign(key, hashes.SHA384())
                .public_bytes(serialization.Encoding.DER))
    base = len(build(0))
    return build(max(0, size - base - 24))


# Two limits, both OpenSSL's, both refusing cleanly: the Certificate
# message may be 100 KiB (max_cert_list, which nginx does not change), and
# a session ticket, which holds the peer certificate (and the module's
# verdict, about 1.2 KB here), must fit 65535 bytes: with tickets on (the
# default) a client certificate past about 64 KB fails the handshake
# ("SSL_do_handshake() failed ... internal error", logged by nginx).
@pytest.mark.parametrize("host,size,served", [
    ("on.test", 20000, True), ("on.test", 60000, True),
    ("on.test", 70000, False),
    ("notickets.test", 98000, True), ("notickets.test", 110000, False),
    ("notickets.test", 300000, False)])
def test_huge_client_certificates_near_the_tls_limits(world, host, size,
                                                      served):
    key, d = payload_of_size(world, 16384)
    der = padded_cert(key, d.cose, size)
    assert abs(len(der) - size) < 100, len(der)
    ctx = client(world, key, der)
    if served:
        assert fetch(world, ctx, host).status == 200, len(der)
    else:
        assert refused(world, ctx, host), len(der)


# ---------------------------------------------------------------------------
# Shapes refused without harm.

def test_thousands_of_pcr_entries_refused(world):
    pairs = [(forge.uint(i % 32), forge.bstr(b"")) for i in range(5000)]
    assert refused(world, attested_ctx(world, fields={
        "pcrs": forge.cbor_map(pairs)}))
    assert refusal_logged(world, "malformed_document")


@pytest.mark.parametrize("where", ["unknown_key", "unprotected"])
def test_deep_nesting_refused(world, where):
    deep = b"\x81" * 10000 + b"\x00"
    kw = dict(extra=[(forge.tstr("deep"), deep)]) if where == "unknown_key" \
        else dict(unprotected=forge.cbor_map([(forge.uint(9), deep)]))
    assert refused(world, attested_ctx(world, **kw))


def test_several_attestation_extensions_refused(world):
    key = forge.new_key()
    doc = forge.document(world.pki, public_key=forge.spki_der(key))
    ctx = client(world, key, forge.client_cert(key, doc.cose, twice=True,
                                               critical=True))
    assert refused(world, ctx)
    assert refusal_logged(world, "malformed_extension")


def test_p521_document_leaf_is_bad_signature(world):
    from cryptography.hazmat.primitives.asymmetric import ec
    leaf = world.pki.leaf(forge.now_ms(),
                          key=ec.generate_private_key(ec.SECP521R1()))
    assert refused(world, attested_ctx(world, leaf=leaf,
                                   signer=forge.new_key()))
    assert refusal_logged(world, "bad_signature")


def test_zz_no_worker_died(world):
    # runs last in this file: every shape above left the workers alive
    log = world.nginx.log_text()
    assert "exited on signal" not in log
    assert "[alert]" not in log
    assert set(world.nginx.worker_pids()) == world.workers
