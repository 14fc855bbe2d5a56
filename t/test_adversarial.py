"""Adversarial inputs through the CLI (the nginx ones are in
t/test_nginx_adversarial.py): what other Nitro verifiers got wrong, and
shapes at and past every limit.  t/test_cli.py already covers, and this
file does not repeat: duplicate pcrs/module_id/nonce keys and PCR indexes
(also inside an indefinite map), trailing bytes after the envelope and the
payload, definite and indefinite payload maps, a cabundle with the root
last, the attestation extension twice or critical, a 16384/16385-byte
payload, 1024/1025-byte optional fields and certificates, precedence of
reasons.  Each test here names the bug or limit it guards.
"""

import hashlib
import json
import os
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

import forge

MAX_DEPTH = 16           # na_internal.h NA_CBOR_MAX_DEPTH


class Adversary:
    """Forged inputs at t0, verified at t0 + 1 s against the test PKI."""

    def __init__(self, pki, other, t0, directory, nitro):
        self.pki, self.other, self.t0 = pki, other, t0
        self.dir, self.nitro = directory, nitro
        self.n = 0

    def cose(self, **kw) -> bytes:
        kw.setdefault("timestamp_ms", self.t0)
        return forge.document(self.pki, **kw).cose

    def file(self, data: bytes) -> str:
        self.n += 1
        path = os.path.join(self.dir, "in%d" % self.n)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def verify(self, data: bytes, *args):
        """(reason or None, event, exit code) of one verify."""
        r = self.nitro("verify", "--root", self.pki.root_pem, "--at",
                       self.t0 + 1000, *args, self.file(data))
        assert r.code in (0, 1), r.describe()
        event = r.event
        assert (r.code == 0) == (event["status"] == "SUCCESS"), r.describe()
        return event["reason"], event, r.code

    def reason(self, data: bytes, *args):
        return self.verify(data, *args)[0]


@pytest.fixture(scope="module")
def adv(pki, other_pki, t0, tmp_path_factory, nitro):
    return Adversary(pki, other_pki, t0,
                     str(tmp_path_factory.mktemp("adversarial")), nitro)


def nested(levels: int) -> bytes:
    """levels containers, each the only item of the one around it."""
    assert levels >= 1
    return b"\x81" * (levels - 1) + b"\xa0"


# ---------------------------------------------------------------------------
# The bug history (RESEARCH.md "Bugs other verifiers had").

def test_duplicate_pcrs_last_write_wins_is_refused(adv):
    # a last-write-wins parser would report the second map's PCR0
    first = forge.default_pcrs()
    second = {**first, 0: hashlib.sha384(b"attacker").digest()}
    cose = adv.cose(pcrs=first, extra=[(forge.tstr("pcrs"),
                                        forge.pcr_map(second))])
    reason, event, code = adv.verify(cose)
    assert (reason, code) == ("malformed_document", 1)
    assert event["pcrs"] is None


def test_duplicate_pcr_index_with_different_values_is_refused(adv):
    pairs = [(forge.uint(i), forge.bstr(v))
             for i, v in forge.default_pcrs().items()]
    pairs.append((forge.uint(0), forge.bstr(b"\xee" * 48)))
    assert adv.reason(adv.cose(fields={"pcrs": forge.cbor_map(pairs)})) \
        == "malformed_document"


def test_duplicate_key_spelled_as_chunked_text_is_refused(adv):
    # "pcrs" as an indefinite-length text string ("pc" "rs") is the same
    # key in the CBOR data model: a second pcrs map, not an unknown key
    chunked = b"\x7f" + forge.tstr("pc") + forge.tstr("rs") + b"\xff"
    other = {**forge.default_pcrs(), 0: b"\xee" * 48}
    cose = adv.cose(extra=[(chunked, forge.pcr_map(other))])
    assert adv.reason(cose) == "malformed_document"


def test_duplicate_unknown_key_with_non_minimal_head_is_refused(adv):
    minimal = forge.tstr("zz")
    longer = b"\x78\x02zz"
    cose = adv.cose(extra=[(minimal, forge.uint(1)), (longer, forge.uint(2))])
    assert adv.reason(cose) == "malformed_document"


def test_duplicate_unknown_key_is_refused(adv):
    cose = adv.cose(extra=[(forge.tstr("zz"), forge.uint(1)),
                           (forge.tstr("zz"), forge.uint(1))])
    assert adv.reason(cose) == "malformed_document"


@pytest.mark.parametrize("trailer", [b"\x00", b"\xf6", b"\xff",
                                     b"\x84" + b"\x40" * 4])
def test_trailing_bytes_after_the_envelope_are_refused(adv, trailer):
    assert adv.reason(adv.cose(trailer=trailer)) == "malformed_document"


def test_trailing_bytes_inside_the_signed_payload_are_refused(adv):
    # signed, so a bad signature cannot be what refuses it
    assert adv.reason(adv.cose(payload_trailer=b"\xa0")) \
        == "malformed_document"


def test_indefinite_length_maps_and_arrays_everywhere_are_accepted(adv):
    # AWS moved to an indefinite payload map; nested ones are legal too
    leaf = adv.pki.leaf(adv.t0)
    pcrs = b"\xbf" + b"".join(forge.integer(i) + forge.bstr(v) for i, v in
                              forge.default_pcrs().items()) + b"\xff"
    bundle = b"\x9f" + b"".join(forge.bstr(c)
                                for c in adv.pki.cabundle()) + b"\xff"
    cose = adv.cose(leaf=leaf, indefinite=True,
                    fields={"pcrs": pcrs, "cabundle": bundle},
                    unprotected=b"\xbf\x04\x43kid\xff")
    reason, event, code = adv.verify(cose)
    assert (reason, code) == (None, 0)
    assert event["pcrs"]["0"] == forge.default_pcrs()[0].hex()


def test_indefinite_map_without_its_break_is_refused(adv):
    good = forge.document(adv.pki, timestamp_ms=adv.t0, indefinite=True)
    assert adv.reason(adv.cose(payload=good.payload[:-1])) \
        == "malformed_document"


@pytest.mark.parametrize("where", ["certificate", "pcr", "public_key"])
def test_indefinite_length_byte_strings_are_refused(adv, where):
    # the contract's byte fields are definite bstr; chunks are refused
    def chunked(b):
        return b"\x5f" + forge.bstr(b[:10]) + forge.bstr(b[10:]) + b"\xff"
    leaf = adv.pki.leaf(adv.t0)
    fields = {
        "certificate": {"certificate": chunked(leaf.der)},
        "pcr": {"pcrs": forge.cbor_map(
            [(forge.uint(0), chunked(b"\x01" * 48))])},
        "public_key": {"public_key": chunked(b"k" * 91)},
    }[where]
    assert adv.reason(adv.cose(leaf=leaf, fields=fields)) \
        == "malformed_document"


def test_cabundle_last_entry_is_never_taken_for_the_root(adv):
    bundle = adv.pki.cabundle()
    # the pinned root last, an unknown root first: untrusted
    assert adv.reason(adv.cose(cabundle=[adv.other.root.der] + bundle[1:]
                               + [bundle[0]])) == "untrusted_root"
    # the real order verifies: cabundle[0] is the root
    assert adv.reason(adv.cose()) is None


@pytest.mark.parametrize("kind", ["p521", "p256", "rsa", "ed25519"])
def test_document_leaf_with_a_non_p384_key_is_bad_signature(adv, kind):
    # a verifier once panicked on a P-521 leaf; ES384 needs a P-384 key
    key = {"p521": lambda: ec.generate_private_key(ec.SECP521R1()),
           "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
           "rsa": lambda: rsa.generate_private_key(65537, 2048),
           "ed25519": ed25519.Ed25519PrivateKey.generate}[kind]()
    leaf = adv.pki.leaf(adv.t0, key=key)
    # a 96-byte r||s made by some P-384 key: well formed, not valid
    cose = adv.cose(leaf=leaf, signer=forge.new_key())
    reason, event, code = adv.verify(cose)
    assert (reason, code) == ("bad_signature", 1)
    assert event["pcrs"] is None
    # and one of 96 bytes of 0xff (r, s out of range for every curve)
    assert adv.reason(adv.cose(leaf=leaf, signer=forge.new_key(),
                               signature=b"\xff" * 96)) == "bad_signature"


def test_document_leaf_with_a_compressed_p384_key_is_bad_signature(adv):
    # its own key signed the document, but a compressed point is not
    # decoded (it costs a square root): the key verifies nothing
    key = forge.new_key()
    leaf = adv.pki.leaf(adv.t0, key=key)
    der = forge.with_spki(leaf.der, forge.compressed_spki(key),
                          adv.pki.instance.key)
    assert adv.reason(adv.cose(leaf=leaf, certificate=der)) \
        == "bad_signature"
    # the same leaf with its key as AWS writes it verifies
    assert adv.reason(adv.cose(leaf=leaf)) is None


def test_p521_signature_length_is_malformed(adv):
    key = ec.generate_private_key(ec.SECP521R1())
    leaf = adv.pki.leaf(adv.t0, key=key)
    # signed by the P-521 key itself: a 132-byte r||s
    assert adv.reason(adv.cose(leaf=leaf)) == "malformed_document"


@pytest.mark.parametrize("fault", ["untrusted_root", "chain_invalid"])
def test_nothing_is_judged_after_a_failed_chain(adv, fault, tmp_path):
    # stale, debug, denied by policy and unbound as well: the chain reason
    # alone is reported, with no measurement and no policy verdict
    bundle = adv.pki.cabundle()
    pki = adv.other if fault == "untrusted_root" else adv.pki
    cabundle = None if fault == "untrusted_root" else \
        [bundle[0], bundle[2], bundle[1], bundle[3]]
    cose = forge.document(pki, timestamp_ms=adv.t0 - forge.HOUR_MS,
                          pcrs=forge.debug_pcrs(), cabundle=cabundle,
                          public_key=b"not the key").cose
    policy = tmp_path / "p.json"
    policy.write_text(forge.policy([("x", {5: b"\x05" * 48})],
                                   deny=[("d", {3: forge.debug_pcrs()[3]})]))
    key = forge.new_key()
    cert = forge.client_cert(key, cose)
    reason, event, code = adv.verify(cert, "--policy", str(policy))
    assert (reason, code) == (fault, 1)
    for k in ("module_id", "pcrs", "timestamp_ms", "policy",
              "policy_allowed", "user_data", "nonce"):
        assert event[k] is None, k


# ---------------------------------------------------------------------------
# Limits: sizes, counts, depth.

def test_thousands_of_pcr_entries_are_refused_quickly(adv):
    # 5000 tiny entries fit in a 16 KiB payload; more than 32 is malformed
    pairs = [(forge.uint(i % 32), forge.bstr(b"")) for i in range(5000)]
    cose = adv.cose(fields={"pcrs": forge.cbor_map(pairs)})
    start = time.time()
    assert adv.reason(cose) == "malformed_document"
    assert time.time() - start < 5


def chain_of(adv, n):
    """n CA certificates (P-256 keys), each issued by the one before, the
    first by the test root."""
    out, issuer = [], adv.pki.root
    for i in range(n):
        key = forge.new_key("p256")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                             "ca%d.long" % i)])
        cert = forge.issue(forge.CertSpec(adv.t0 - forge.DAY_MS,
                                          adv.t0 + forge.DAY_MS),
                           name, key.public_key(), issuer.cert.subject,
                           issuer.key)
        issuer = forge.Authority("ca%d" % i, key, cert)
        out.append(issuer)
    return out


def test_cabundle_of_16_entries_is_judged_and_17_is_malformed(adv):
    cas = chain_of(adv, 16)

    def cose(count, **kw):
        leaf = adv.pki.leaf(adv.t0, issuer=cas[count - 1])
        bundle = [adv.pki.root.der] + [a.der for a in cas[:count]]
        return adv.cose(leaf=leaf, cabundle=bundle, **kw)

    # the root and 15 CAs: a path like any other
    assert adv.reason(cose(15)) is None
    assert adv.reason(cose(15, tamper_signature=True)) == "bad_signature"
    # the root and 16: malformed, whatever else is wrong
    assert adv.reason(cose(16)) == "malformed_document"
    assert adv.reason(cose(16, tamper_signature=True)) \
        == "malformed_document"
    assert adv.reason(cose(16, signature=bytes(96))) == "malformed_document"


# A prime of 648 bits, 141 * 2^640 + 1: a square root modulo it costs
# Tonelli-Shanks about 640^2 / 2 multiplications.
SLOW_P = 141 * 2 ** 640 + 1


def slow_spki() -> bytes:
    """An EC key with explicit parameters over SLOW_P, its generator and
    its point compressed (y^2 = x^3 + x + b through (2, 3)): OpenSSL takes
    two such square roots, a tenth of a second, to decode it."""
    size = (SLOW_P.bit_length() + 7) // 8
    b = (9 - 8 - 2) % SLOW_P
    point = forge.der_octet_string(b"\x02" + (2).to_bytes(size, "big"))
    params = forge.der_tlv(0x30, b"".join([
        forge.der_int(1),
        forge.der_tlv(0x30, forge.der_oid("1.2.840.10045.1.1")
                      + forge.der_int(SLOW_P)),
        forge.der_tlv(0x30, forge.der_octet_string((1).to_bytes(size, "big"))
                      + forge.der_octet_string(b.to_bytes(size, "big"))),
        point, forge.der_int(SLOW_P), forge.der_int(1)]))
    algid = forge.der_tlv(0x30, forge.der_oid("1.2.840.10045.2.1") + params)
    return forge.der_tlv(0x30, algid + forge.der_tlv(
        0x03, b"\x00\x02" + (2).to_bytes(size, "big")))


def test_bundle_keys_that_cost_more_to_decode_than_to_parse_are_not(adv):
    # the root and 15 CAs of such keys, the leaf and its signature genuine:
    # decoded, the keys would cost the worker seconds before the path
    # fails; not decoded, they verify nothing
    spki = slow_spki()
    alg = forge.der_tlv(0x30, forge.der_oid("1.2.840.113549.1.1.11")
                        + b"\x05\x00")
    bundle = [adv.pki.root.der] + [
        forge.bare_cert(forge.der_name("slow%d" % i),
                        forge.der_name("slow%d" % (i + 1)), spki, alg,
                        b"\x01" * 32)
        for i in range(15)]
    cose = adv.cose(cabundle=bundle)
    start = time.time()
    assert adv.reason(cose) == "chain_invalid"
    assert time.time() - start < 1


def test_pcr_map_claiming_billions_of_entries_is_refused(adv):
    huge = b"\xba\xff\xff\xff\xff" + forge.uint(0) + forge.bstr(b"\x01" * 48)
    assert adv.reason(adv.cose(fields={"pcrs": huge})) \
        == "malformed_document"


def test_thousands_of_unknown_keys_are_ignored(adv):
    extra = [(forge.tstr("k%d" % i), forge.uint(i)) for i in range(1500)]
    cose = adv.cose(extra=extra)
    assert len(forge.decode(cose)) > 1500
    start = time.time()
    assert adv.reason(cose) is None
    assert time.time() - start < 5
    # the same keys with one repeated at the end: refused
    assert adv.reason(adv.cose(extra=extra + [extra[700]])) \
        == "malformed_document"


def test_unknown_map_with_thousands_of_entries_is_ignored(adv):
    tpm = forge.cbor_map([(forge.uint(i), forge.bstr(b""))
                          for i in range(3000)])
    assert adv.reason(adv.cose(extra=[(forge.tstr("measurements"), tpm)])) \
        is None
    # under its NitroTPM name (CONTRACT 15) it is read: both maps, refused
    assert adv.reason(adv.cose(extra=[(forge.tstr("nitrotpm_pcrs"), tpm)])) \
        == "malformed_document"


@pytest.mark.parametrize("depth,reason", [(MAX_DEPTH, None),
                                          (MAX_DEPTH + 1,
                                           "malformed_document")])
def test_nesting_in_an_unknown_key_up_to_the_depth_limit(adv, depth, reason):
    # the payload map is level 1: its unknown value adds depth - 1 levels
    cose = adv.cose(extra=[(forge.tstr("deep"), nested(depth - 1))])
    assert adv.reason(cose) == reason


@pytest.mark.parametrize("depth,reason", [(MAX_DEPTH, None),
                                          (MAX_DEPTH + 1,
                                           "malformed_document")])
def test_nesting_in_the_unprotected_header_up_to_the_depth_limit(
        adv, depth, reason):
    # the unprotected map is level 1; its contents are never read
    header = forge.cbor_map([(forge.uint(9), nested(depth - 1))])
    assert adv.reason(adv.cose(unprotected=header)) == reason


@pytest.mark.parametrize("where", ["unknown_key", "unprotected"])
@pytest.mark.parametrize("kind", ["arrays", "maps", "tags", "indefinite"])
def test_very_deep_nesting_fails_cleanly(adv, where, kind):
    # far past the limit (no stack exhaustion, no slow path)
    n = 5000
    inner = {"arrays": b"\x81" * n + b"\x00",
             "maps": b"\xa1\x00" * n + b"\x00",
             "tags": b"\xc1" * n + b"\x00",
             "indefinite": b"\x9f" * n + b"\xff" * n}[kind]
    if where == "unknown_key":
        cose = adv.cose(extra=[(forge.tstr("deep"), inner)])
    else:
        inner = b"\x81" * 200000 + b"\x00" if kind == "arrays" else inner
        cose = adv.cose(unprotected=forge.cbor_map([(forge.uint(9), inner)]))
    start = time.time()
    assert adv.reason(cose) == "malformed_document"
    assert time.time() - start < 5


def test_deep_nesting_in_the_cmw_record_is_refused(adv):
    # the CMW array holds no containers: a nested one is a wrong type
    value = forge.der_octet_string(
        forge.array([forge.tstr(forge.CMW_TYPE), nested(5000)]))
    assert adv.reason(forge.client_cert(forge.new_key(), value=value)) \
        == "malformed_extension"


def test_every_optional_field_at_1024_bytes_with_a_64_byte_pcr_set(adv):
    cose = adv.cose(public_key=b"k" * 1024, user_data=b"u" * 1024,
                    nonce=b"n" * 1024, pcrs=forge.default_pcrs(32, 64))
    reason, event, _ = adv.verify(cose)
    assert reason is None
    assert event["user_data"] == (b"u" * 1024).hex()
    assert event["nonce"] == (b"n" * 1024).hex()
    assert len(event["pcrs"]) == 32


def test_module_id_at_1024_and_1025_characters(adv):
    assert adv.reason(adv.cose(module_id="i" * 1024)) is None
    assert adv.reason(adv.cose(module_id="i" * 1025)) == "malformed_document"


# ---------------------------------------------------------------------------
# Non-minimal CBOR: accepted as standard CBOR, and the signature binds the
# bytes as carried (never a re-encoding).

def non_minimal_payload(adv, leaf):
    """The payload with every head one size wider than needed."""
    def wide(major, n):
        return bytes([major << 5 | 27]) + n.to_bytes(8, "big")

    def wbstr(b):
        return wide(2, len(b)) + b

    def wtstr(s):
        return wide(3, len(s)) + s.encode()
    pcrs = forge.default_pcrs()
    fields = [
        (wtstr("module_id"), wtstr(forge.DEFAULT_MODULE_ID)),
        (wtstr("digest"), wtstr("SHA384")),
        (wtstr("timestamp"), wide(0, adv.t0)),
        (wtstr("pcrs"), wide(5, len(pcrs)) + b"".join(
            wide(0, i) + wbstr(v) for i, v in pcrs.items())),
        (wtstr("certificate"), wbstr(leaf.der)),
        (wtstr("cabundle"), wide(4, 4) + b"".join(
            wbstr(c) for c in adv.pki.cabundle())),
        (wtstr("nonce"), wbstr(b"n0nce")),
    ]
    return wide(5, len(fields)) + b"".join(k + v for k, v in fields)


def test_non_minimal_integer_encodings_are_accepted(adv):
    leaf = adv.pki.leaf(adv.t0)
    payload = non_minimal_payload(adv, leaf)
    reason, event, _ = adv.verify(adv.cose(leaf=leaf, payload=payload))
    assert reason is None
    assert event["timestamp_ms"] == adv.t0
    assert event["nonce"] == b"n0nce".hex()
    assert event["pcrs"]["15"] == forge.default_pcrs()[15].hex()


def test_signature_binds_the_bytes_not_the_values(adv):
    leaf = adv.pki.leaf(adv.t0)
    wide = non_minimal_payload(adv, leaf)
    minimal = forge.document(adv.pki, timestamp_ms=adv.t0, leaf=leaf,
                             public_key=forge.ABSENT, user_data=forge.ABSENT,
                             nonce=b"n0nce").payload
    assert minimal != wide
    # signed over the wide encoding, carried minimal: same values
    assert adv.reason(adv.cose(leaf=leaf, payload=wide,
                               after_signing=lambda _: minimal)) \
        == "bad_signature"
    # and the other way round
    assert adv.reason(adv.cose(leaf=leaf, payload=minimal,
                               after_signing=lambda _: wide)) \
        == "bad_signature"


def test_non_minimal_protected_header_is_refused_or_bound(adv):
    # {1: -35} with a wide map head and a wide alg: still exactly {1: -35}
    wide = b"\xb8\x01\x01\x38\x22"
    assert adv.reason(adv.cose(protected=wide)) is None
    # the protected bytes are signed as carried
    cose = adv.cose(protected=wide)
    swapped = cose.replace(forge.bstr(wide), forge.bstr(forge.PROTECTED_ES384),
                           1)
    assert adv.reason(swapped) == "bad_signature"


# ---------------------------------------------------------------------------
# Extensions.

def test_attestation_under_default_and_configured_oid(adv):
    # two attestation extensions, one per OID: only the configured one is
    # read, and it verifies
    oid = "1.3.6.1.4.1.57264.7.1"
    key = forge.new_key()
    cose = adv.cose(public_key=forge.spki_der(key))
    der = forge.client_cert(key, cose, oid=oid, twice=True,
                            second_value=forge.cmw_extension(cose))
    assert adv.reason(der, "--extension", oid) == "malformed_extension"
    assert adv.reason(der) == "no_extension"


def test_unknown_critical_extension_beside_the_attestation(adv):
    # the core judges the attestation only; other extensions are the TLS
    # stack's business (nginx: ssl_verify_client)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    key = forge.new_key()
    cose = adv.cose(public_key=forge.spki_der(key))
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "c")])
    now = forge.utc(forge.now_ms())
    der = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
           .public_key(key.public_key()).serial_number(1)
           .not_valid_before(now).not_valid_after(now)
           .add_extension(x509.UnrecognizedExtension(
               x509.ObjectIdentifier(forge.DEFAULT_OID),
               forge.cmw_extension(cose)), critical=True)
           .add_extension(x509.UnrecognizedExtension(
               x509.ObjectIdentifier("1.3.6.1.4.1.55555.9"), b"\x05\x00"),
               critical=True)
           .sign(key, hashes.SHA384())
           .public_bytes(serialization.Encoding.DER))
    assert adv.reason(der) is None


def test_every_accepted_shape_at_once(adv):
    # tag 18, indefinite map, 1024-byte field, nesting at the limit
    cose = adv.cose(indefinite=True, tag18=True, public_key=b"k" * 1024,
                    extra=[(forge.tstr("deep"), nested(MAX_DEPTH - 1))])
    reason, _, code = adv.verify(cose)
    assert (reason, code) == (None, 0)
