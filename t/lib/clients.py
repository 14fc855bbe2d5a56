"""clients.py: clients of a real nginx: a client certificate carrying a
document forged by forge.py and its key, on disk; one client for each
reason code a certificate can fail with; a replay (the certificate of a
client with a key that cannot sign for it)."""

import copy
import hashlib
import os
from types import SimpleNamespace

import forge
import nginx
from files import write

# PCR0 of a build fault_clients() expects denied, and of an unknown build
DENIED_PCR0 = hashlib.sha384(b"payments-v41").digest()
OTHER_PCR0 = hashlib.sha384(b"someone-else").digest()


class Client:
    """A client certificate and key on disk."""

    def __init__(self, directory, name, der, key):
        self.der = der
        self.private_key = key
        self.cert = write(os.path.join(directory, name + ".pem"),
                          forge.cert_pem(der))
        self.key = write(os.path.join(directory, name + ".key"),
                         forge.key_pem(key))
        self.sha256 = hashlib.sha256(der).hexdigest()
        self.contexts = {}

    def ctx(self, version=None):
        """One context per TLS version (sessions belong to a context)."""
        if version not in self.contexts:
            self.contexts[version] = nginx.client_context(
                self.cert, self.key, version)
        return self.contexts[version]


def attested(directory, name, pki, *, key=None, cert_kw=None, **doc_kw):
    """A client whose certificate carries a document made by pki (kept as
    client.doc); doc_kw are forge.document() faults, cert_kw
    forge.client_cert() ones."""
    key = key or forge.new_key()
    doc_kw.setdefault("public_key", forge.spki_der(key))
    doc = forge.document(pki, **doc_kw)
    client = Client(directory, name, forge.client_cert(
        key, doc.cose, **(cert_kw or {})), key)
    client.doc = doc
    return client


def replay_of(directory, client, name="replay"):
    """The same certificate as client, with a key that cannot sign for it:
    the key file holds the certificate's public point with another scalar,
    so the client library's key check passes and the CertificateVerify it
    sends does not verify."""
    replay = copy.copy(client)
    replay.key = write(os.path.join(directory, name + ".key"),
                       forge.wrong_key_pem(client.private_key))
    replay.contexts = {}
    return replay


def fault_clients(directory, pki, other_pki, server=None):
    """reason code -> a client whose certificate fails with exactly it;
    with server, TLS server certificates for that name (forge.client_cert's
    server) that fail so."""
    now = forge.now_ms()
    a = pki.cabundle()
    plain_key = forge.new_key()
    kw = dict(server=server) if server else {}

    def fault(directory, name, pki, cert_kw=None, **doc_kw):
        return attested(directory, name, pki,
                        cert_kw={**kw, **(cert_kw or {})}, **doc_kw)

    return {
        "no_extension": Client(directory, "no_extension",
                               forge.client_cert(plain_key, None, **kw),
                               plain_key),
        "malformed_extension": fault(
            directory, "malformed_extension", pki,
            cert_kw=dict(twice=True)),
        "malformed_document": fault(directory, "malformed_document",
                                    pki, digest="SHA256"),
        "unsupported_algorithm": fault(
            directory, "unsupported_algorithm", pki,
            protected=bytes.fromhex("a10126")),
        "bad_signature": fault(directory, "bad_signature", pki,
                               tamper_signature=True),
        "untrusted_root": fault(directory, "untrusted_root", other_pki),
        "chain_invalid": fault(directory, "chain_invalid", pki,
                               cabundle=[a[0], a[2], a[1], a[3]]),
        "certificate_expired": fault(
            directory, "certificate_expired", pki, timestamp_ms=now,
            leaf=pki.leaf(now, after_ms=-60 * 1000)),
        "stale": fault(directory, "stale", pki,
                       timestamp_ms=now - 10 * 60 * 1000),
        "future": fault(directory, "future", pki,
                        timestamp_ms=now + 10 * 60 * 1000),
        "debug_enclave": fault(directory, "debug_enclave", pki,
                               pcrs=forge.debug_pcrs()),
        "denied": fault(directory, "denied", pki,
                        pcrs={**forge.default_pcrs(), 0: DENIED_PCR0}),
        "pcr_mismatch": fault(directory, "pcr_mismatch", pki,
                              pcrs={**forge.default_pcrs(),
                                    0: OTHER_PCR0}),
        "binding_mismatch": fault(
            directory, "binding_mismatch", pki,
            public_key=forge.spki_der(forge.new_key())),
    }


def context(client, version=None):
    """client's context for TLS version ("1.2", "1.3" or None for any);
    with no client, a context that presents no certificate."""
    if client is None:
        return nginx.client_context(version=version)
    return client.ctx(version)


def new_world(directory, pki, allow, deny=()):
    """What a fixture's nginx needs first: dir, a scratch directory, with
    policy, dir/policy.json allowing the allow sets and denying the deny
    ones (forge.policy's), and pki, whose root it trusts."""
    w = SimpleNamespace(dir=str(directory), pki=pki)
    w.policy = write(os.path.join(w.dir, "policy.json"),
                     forge.policy(allow, deny))
    return w
