"""nitro-attest verify, inspect, cert and mock: the attestation extension,
the rules a document is verified by and the order of its reasons, the
policy, the JSON line of a verdict, and the command line (inputs, output
lines, exit codes, help and the man page).

Inputs are the real AWS-signed documents in t/fixtures/real (checked against
the facts in their PROVENANCE.md) and documents and client certificates
forged by t/lib/forge.py with one fault each.
"""

import base64
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric import rsa

import forge
from cli import (DEFAULT, cert_document, check_extension, check_shape,
                 expect, expect_failure, expect_success, hexes, mock_cert,
                 one_line, refused, sha256, sha384)
from repo import AWS_ROOT, CLI, REAL, REPO

OTHER_OID = "1.3.6.1.4.1.57264.7.1"
ES256 = bytes.fromhex("a10126")          # {1: -7}
ES512 = bytes.fromhex("a1013823")        # {1: -36}
MAX_AGE_MS = 300 * 1000
SKEW_MS = 60 * 1000


@dataclass
class Case:
    """One verify invocation: an input and what to add to the command."""
    data: bytes
    args: tuple = ()
    root: object = DEFAULT
    at: object = DEFAULT


def run_case(verify, case) -> object:
    if isinstance(case, bytes):
        case = Case(case)
    return verify(case.data, at=case.at, root=case.root, args=case.args)


# ---------------------------------------------------------------------------
# Real AWS documents (facts from t/fixtures/real/PROVENANCE.md).

def provenance() -> dict:
    text = (REAL / "PROVENANCE.md").read_text()
    facts = {}
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        name = block.split()[0]
        if "/" in name:
            continue
        sizes = re.search(r"- public_key: ([^;]+); user_data: ([^;]+); "
                          r"nonce: (\S+)", block).groups()
        nonzero = {int(i): p for i, p in
                   re.findall(r"PCR(\d+)=([0-9a-f]+)…", block)}
        facts[name] = dict(
            timestamp=int(re.search(r"- timestamp: (\d+) ms", block)[1]),
            module_id=re.search(r"module_id `([^`]+)`", block)[1],
            pcr_count=int(re.search(r"pcrs: (\d+) entries", block)[1]),
            nonzero=nonzero,
            debug=not any(i in nonzero for i in (0, 1, 2)),
            sizes=[None if s == "null" else int(s.split()[0])
                   for s in sizes],
            indefinite="indefinite" in block.split("payload:")[1][:40])
    return facts


FACTS = provenance()
REAL_DOCS = sorted(FACTS)
DEBUG_DOCS = [n for n in REAL_DOCS if FACTS[n]["debug"]]


def test_provenance_lists_every_real_document():
    on_disk = sorted(os.path.basename(p) for p in glob.glob(
        str(REAL / "*.cose")))
    assert REAL_DOCS == on_disk
    assert len(REAL_DOCS) == 19 and len(DEBUG_DOCS) == 6


@pytest.mark.parametrize("name", REAL_DOCS)
def test_real_document_verifies_at_its_own_time(verify, name):
    f = FACTS[name]
    path = REAL / name
    args = ["--allow-debug"] if f["debug"] else []
    ev = expect_success(verify(path, root=AWS_ROOT, at="document",
                               args=args))
    assert ev["module_id"] == f["module_id"]
    assert ev["timestamp_ms"] == f["timestamp"]
    assert ev["time"] == forge.rfc3339(f["timestamp"])
    assert ev["age_s"] == 0
    assert ev["doc_sha384"] == sha384(path.read_bytes())
    assert ev["pcrs"].key_order == [str(i) for i in range(f["pcr_count"])]
    for i in range(f["pcr_count"]):
        value = ev["pcrs"][str(i)]
        assert len(value) == 96
        if i in f["nonzero"]:
            assert value.startswith(f["nonzero"][i]) and value != "0" * 96
        else:
            assert value == "0" * 96
    _, user_data, nonce = f["sizes"]
    for key, size in (("user_data", user_data), ("nonce", nonce)):
        if size is None:
            assert ev[key] is None, key
        else:
            assert re.fullmatch("[0-9a-f]*", ev[key]), key
            assert len(ev[key]) == 2 * size, key
    assert ev["cert_sha256"] is None and ev["binding"] is None
    assert ev["policy"] is None and ev["policy_allowed"] is None


@pytest.mark.parametrize("name", DEBUG_DOCS)
def test_real_debug_document_needs_allow_debug(verify, name):
    ev = expect_failure(verify(REAL / name, root=AWS_ROOT, at="document"),
                        "debug_enclave")
    assert ev["module_id"] == FACTS[name]["module_id"]
    assert all(ev["pcrs"][i] == "0" * 96 for i in "012")


def test_exact_command_prints_19_success_lines():
    cmd = ("build/nitro-attest verify --root t/fixtures/aws_nitro_root_g1.pem"
           " --at document --allow-debug t/fixtures/real/*.cose")
    p = subprocess.run(cmd, shell=True, cwd=REPO, capture_output=True,
                       text=True, env=dict(os.environ, LC_ALL="C"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 19
    for line, name in zip(lines, REAL_DOCS):
        ev = json.loads(line)
        assert ev["status"] == "SUCCESS"
        assert ev["module_id"] == FACTS[name]["module_id"]


def test_real_documents_are_expired_now(nitro):
    files = [REAL / n for n in REAL_DOCS]
    run = nitro("verify", "--root", AWS_ROOT, "--allow-debug", *files)
    assert run.code == 1
    events = run.events
    assert len(events) == 19
    for ev, name in zip(events, REAL_DOCS):
        check_shape(ev)
        assert (ev["status"], ev["reason"], ev["severity"]) == \
            ("FAILED", "certificate_expired", "WARNING"), name
        assert ev["module_id"] is None and ev["pcrs"] is None
        assert ev["doc_sha384"] == sha384((REAL / name).read_bytes())


def test_builtin_root_is_aws_root_g1(nitro):
    """Without --root the pinned root is AWS Nitro Enclaves Root-G1."""
    run = nitro("verify", "--at", "document", "--allow-debug",
                *[REAL / n for n in REAL_DOCS])
    assert run.code == 0, run.describe()
    assert [ev["status"] for ev in run.events] == ["SUCCESS"] * 19


@pytest.mark.parametrize("name,reason", [
    ("veracruz_bad_sig_2022-11-09.cose", "bad_signature"),
    ("base_nitro_validator_2026-01-03_as_committed.cose",
     "malformed_document"),
    ("marlin_sdk_custom_mockroot_2024-12-13.cose", "untrusted_root"),
    ("marlin_sdk_custom_pcr16_mockroot_2025-04-30.cose", "untrusted_root"),
])
def test_real_invalid_document_is_rejected(verify, name, reason):
    path = REAL / "invalid" / name
    ev = expect_failure(verify(path, root=AWS_ROOT, at="document",
                               args=["--allow-debug"]), reason)
    assert ev["doc_sha384"] == sha384(path.read_bytes())


def test_real_evervault_binding_user_data_spki(verify):
    ev = expect_success(verify(
        REAL / "evervault_ga_2023-09-18.cose", root=AWS_ROOT, at="document",
        args=["--allow-debug", "--binding", "user_data_spki", "--cert",
              REAL / "evervault_ga_tls_cert_2023-09.der"]))
    assert ev["binding"] == "user_data_spki"


def test_real_evervault_nondebug_binding_user_data_spki(verify):
    ev = expect_success(verify(
        REAL / "evervault_san_nondebug_2023-01-18.cose", root=AWS_ROOT,
        at="document", args=[
            "--binding", "user_data_spki", "--cert",
            REAL / "evervault_san_nondebug_tls_cert_2023-01-18.der"]))
    assert ev["binding"] == "user_data_spki"


@pytest.mark.parametrize("binding,cert", [
    ("user_data_spki", "evervault_san_tls_cert_2022-11-16.der"),
    ("user_data_sha256", "evervault_ga_tls_cert_2023-09.der"),
    ("public_key", "evervault_ga_tls_cert_2023-09.der"),
])
def test_real_evervault_binding_mismatch(verify, binding, cert):
    ev = expect_failure(verify(
        REAL / "evervault_ga_2023-09-18.cose", root=AWS_ROOT, at="document",
        args=["--allow-debug", "--binding", binding, "--cert", REAL / cert]),
        "binding_mismatch")
    assert ev["binding"] == binding


@pytest.mark.parametrize("name", [
    "evervault_san_tls_cert_2022-11-16.der",
    "evervault_ga_tls_cert_2023-09.der"])
def test_real_tls_certificate_without_extension(verify, name):
    """evervault's certificates carry the document in a SAN, not ours."""
    path = REAL / name
    ev = expect_failure(verify(path, root=AWS_ROOT, at="document"),
                        "no_extension")
    assert ev["cert_sha256"] == sha256(path.read_bytes())
    assert ev["doc_sha384"] is None
    assert ev["binding"] == "public_key"


@pytest.mark.parametrize("encoding", ["hex", "HEX", "hex_newline", "base64",
                                      "base64_wrapped"])
def test_real_document_as_text(verify, encoding):
    name = "turnkey_prod_2025-05-05.cose"
    raw = (REAL / name).read_bytes()
    ev = expect_success(verify(encode(raw, encoding), root=AWS_ROOT,
                               at="document"))
    assert ev["doc_sha384"] == sha384(raw)
    assert ev["module_id"] == FACTS[name]["module_id"]


def encode(raw: bytes, encoding: str) -> bytes:
    if encoding == "hex":
        return raw.hex().encode()
    if encoding == "HEX":
        return raw.hex().upper().encode()
    if encoding == "hex_newline":
        return raw.hex().encode() + b"\n"
    if encoding == "base64":
        return base64.b64encode(raw)
    if encoding == "base64_wrapped":
        return base64.encodebytes(raw)       # 76 columns, newlines
    raise ValueError(encoding)


@pytest.mark.parametrize("at", ["2025-05-05T23:27:32.119Z",
                                "2025-05-06T01:27:32.119+02:00",
                                "1746487652119"])
def test_at_forms_on_a_real_document(verify, at):
    ev = expect_success(verify(REAL / "turnkey_prod_2025-05-05.cose",
                               root=AWS_ROOT, at=at))
    assert ev["time"] == "2025-05-05T23:27:32.119Z"
    assert ev["age_s"] == 0


def test_at_rfc3339_without_fraction(verify):
    ev = expect_success(verify(REAL / "turnkey_prod_2025-05-05.cose",
                               root=AWS_ROOT, at="2025-05-05T23:28:00Z"))
    assert ev["time"] == "2025-05-05T23:28:00.000Z"
    assert ev["age_s"] == 27          # 27.881 s, truncated


# ---------------------------------------------------------------------------
# One fault each, every reason code the CLI can produce.

def payload_of_size(c, size: int) -> bytes:
    """A valid document whose payload is exactly size bytes (an unknown
    key pads it)."""
    leaf = c.pki.leaf(c.t0)

    def pad(n):
        return [(forge.tstr("padding"), forge.bstr(b"\x00" * n))]
    base = len(c.doc(leaf=leaf, extra=pad(300)).payload)
    d = c.doc(leaf=leaf, extra=pad(300 + size - base))
    assert len(d.payload) == size
    return d.cose


def pcrs_with(**changes):
    pcrs = forge.default_pcrs()
    for k, v in changes.items():
        pcrs[int(k[1:])] = v
    return pcrs


def raw_pcrs(pairs) -> bytes:
    return forge.cbor_map(pairs)


def indefinite_without_break(c) -> bytes:
    d = c.doc(indefinite=True)
    return c.cose(payload=d.payload[:-1])


def duplicate(name, value):
    return [(forge.tstr(name), value)]


MALFORMED_DOCUMENT = [
    # the COSE_Sign1 envelope
    ("envelope_not_an_array", lambda c: forge.bstr(c.cose())),
    ("envelope_map", lambda c: forge.cbor_map(
        [(forge.uint(i), forge.NULL) for i in range(4)])),
    ("envelope_3_items", lambda c: c.cose(items=lambda it: it[:3])),
    ("envelope_5_items", lambda c: c.cose(items=lambda it: it + [forge.NULL])),
    ("envelope_tag_17", lambda c: c.cose(tag_number=17)),
    ("envelope_tag_98", lambda c: c.cose(tag_number=98)),
    ("envelope_trailing_byte", lambda c: c.cose(trailer=b"\x00")),
    ("envelope_trailing_item", lambda c: c.cose(trailer=b"\xa0")),
    ("envelope_truncated", lambda c: c.cose()[:-1]),
    ("envelope_truncated_half", lambda c: c.cose()[:2000]),
    ("protected_with_kid", lambda c: c.cose(
        protected=bytes.fromhex("a2013822044100"))),
    ("protected_not_bstr", lambda c: c.cose(
        protected_item=forge.PROTECTED_ES384)),
    ("protected_empty_bstr", lambda c: c.cose(protected=b"")),
    ("protected_empty_map", lambda c: c.cose(protected=b"\xa0")),
    ("protected_trailing_byte", lambda c: c.cose(
        protected=forge.PROTECTED_ES384 + b"\x00")),
    ("protected_not_a_map", lambda c: c.cose(protected=b"\x82\x01\x38\x22")),
    ("unprotected_not_a_map", lambda c: c.cose(unprotected=forge.bstr(b""))),
    ("payload_not_bstr", lambda c: c.cose(payload_item=forge.tstr("x"))),
    ("payload_empty", lambda c: c.cose(payload=b"")),
    ("payload_16385_bytes", lambda c: payload_of_size(c, 16385)),
    ("payload_null", lambda c: c.cose(payload_item=forge.NULL)),
    ("signature_95_bytes", lambda c: c.cose(signature=b"\x01" * 95)),
    ("signature_97_bytes", lambda c: c.cose(signature=b"\x01" * 97)),
    ("signature_empty", lambda c: c.cose(signature=b"")),
    ("signature_not_bstr", lambda c: c.cose(
        signature_item=forge.tstr("s" * 96))),
    # the payload map
    ("payload_not_a_map", lambda c: c.cose(payload=forge.array(
        [forge.tstr("module_id")]))),
    ("payload_trailing_byte", lambda c: c.cose(payload_trailer=b"\x00")),
    ("payload_trailing_map", lambda c: c.cose(payload_trailer=b"\xa0")),
    ("payload_indefinite_without_break", indefinite_without_break),
    ("duplicate_pcrs", lambda c: c.cose(extra=duplicate(
        "pcrs", forge.pcr_map(forge.default_pcrs(16, 32))))),
    ("duplicate_pcrs_same_value", lambda c: c.cose(extra=duplicate(
        "pcrs", forge.pcr_map(forge.default_pcrs())))),
    ("duplicate_module_id", lambda c: c.cose(extra=duplicate(
        "module_id", forge.tstr("i-other")))),
    ("duplicate_nonce", lambda c: c.cose(nonce=b"a", extra=duplicate(
        "nonce", forge.bstr(b"b")))),
    ("duplicate_pcrs_in_indefinite_map", lambda c: c.cose(
        indefinite=True, extra=duplicate(
            "pcrs", forge.pcr_map(forge.default_pcrs(16, 32))))),
    ("duplicate_pcr_index", lambda c: c.cose(fields={"pcrs": raw_pcrs(
        [(forge.uint(0), forge.bstr(b"\x01" * 48))] +
        [(forge.uint(i), forge.bstr(b"\x02" * 48)) for i in range(16)])})),
    ("module_id_missing", lambda c: c.cose(drop=["module_id"])),
    ("digest_missing", lambda c: c.cose(drop=["digest"])),
    ("timestamp_missing", lambda c: c.cose(drop=["timestamp"])),
    ("pcrs_missing", lambda c: c.cose(drop=["pcrs"])),
    ("certificate_missing", lambda c: c.cose(drop=["certificate"])),
    ("cabundle_missing", lambda c: c.cose(drop=["cabundle"])),
    ("module_id_empty", lambda c: c.cose(module_id="")),
    ("module_id_bstr", lambda c: c.cose(fields={
        "module_id": forge.bstr(b"i-0123")})),
    ("module_id_null", lambda c: c.cose(fields={"module_id": forge.NULL})),
    ("digest_sha256", lambda c: c.cose(digest="SHA256")),
    ("digest_lowercase", lambda c: c.cose(digest="sha384")),
    ("digest_bstr", lambda c: c.cose(fields={"digest": forge.bstr(
        b"SHA384")})),
    ("timestamp_text", lambda c: c.cose(fields={"timestamp": forge.tstr(
        str(c.t0))})),
    ("timestamp_zero", lambda c: c.cose(fields={"timestamp": forge.uint(0)})),
    ("timestamp_negative", lambda c: c.cose(fields={
        "timestamp": forge.integer(-c.t0)})),
    ("timestamp_float", lambda c: c.cose(fields={
        "timestamp": cbor2.dumps(float(c.t0))})),
    ("pcrs_array", lambda c: c.cose(fields={"pcrs": forge.array(
        [forge.bstr(v) for v in forge.default_pcrs().values()])})),
    ("pcrs_0_entries", lambda c: c.cose(pcrs={})),
    ("pcrs_33_entries", lambda c: c.cose(pcrs=forge.default_pcrs(33))),
    ("pcr_index_32", lambda c: c.cose(pcrs={
        **forge.default_pcrs(), 32: b"\x01" * 48})),
    ("pcr_index_negative", lambda c: c.cose(pcrs={
        **forge.default_pcrs(), -1: b"\x01" * 48})),
    ("pcr_index_text", lambda c: c.cose(fields={"pcrs": raw_pcrs(
        [(forge.tstr(str(i)), forge.bstr(v))
         for i, v in forge.default_pcrs().items()])})),
    ("pcr_47_bytes", lambda c: c.cose(pcrs=pcrs_with(p3=b"\x01" * 47))),
    ("pcr_49_bytes", lambda c: c.cose(pcrs=pcrs_with(p3=b"\x01" * 49))),
    ("pcr_0_bytes", lambda c: c.cose(pcrs=pcrs_with(p3=b""))),
    ("pcr_text", lambda c: c.cose(fields={"pcrs": raw_pcrs(
        [(forge.uint(i), forge.tstr(v.hex()))
         for i, v in forge.default_pcrs().items()])})),
    ("certificate_text", lambda c: c.cose(fields={
        "certificate": forge.tstr("MIIB")})),
    ("certificate_empty", lambda c: c.cose(certificate=b"")),
    ("certificate_1025_bytes", lambda c: c.cose(
        leaf=c.pki.leaf(c.t0, size=1025))),
    ("certificate_not_der", lambda c: c.cose(certificate=b"\x01" * 500)),
    ("cabundle_empty", lambda c: c.cose(cabundle=[])),
    ("cabundle_bstr", lambda c: c.cose(fields={
        "cabundle": forge.bstr(c.pki.root.der)})),
    ("cabundle_entry_text", lambda c: c.cose(fields={
        "cabundle": forge.array([forge.bstr(c.pki.root.der),
                                 forge.tstr("regional")])})),
    ("cabundle_entry_empty", lambda c: c.cose(
        cabundle=c.pki.cabundle()[:2] + [b""] + c.pki.cabundle()[3:])),
    ("cabundle_entry_1025_bytes", lambda c: c.cose(
        cabundle=c.pki.cabundle()[:2] + [b"\x30" * 1025] +
        c.pki.cabundle()[3:])),
    ("public_key_text", lambda c: c.cose(fields={
        "public_key": forge.tstr("key")})),
    ("public_key_1025_bytes", lambda c: c.cose(public_key=b"k" * 1025)),
    ("user_data_1025_bytes", lambda c: c.cose(user_data=b"u" * 1025)),
    ("user_data_int", lambda c: c.cose(fields={"user_data": forge.uint(1)})),
    ("user_data_true", lambda c: c.cose(fields={"user_data": forge.TRUE})),
    ("nonce_1025_bytes", lambda c: c.cose(nonce=b"n" * 1025)),
    ("nonce_array", lambda c: c.cose(fields={"nonce": forge.array([])})),
]


def change_module_id(payload: bytes) -> bytes:
    """One text item changed, nothing else (the leaf's CN stays intact)."""
    old = forge.tstr(forge.DEFAULT_MODULE_ID)
    assert payload.count(old) == 1
    return payload.replace(old, forge.tstr(forge.DEFAULT_MODULE_ID[::-1]))


def leaf_in_wrong_place(c):
    """cabundle also lists the leaf: leaf is 'issued by' itself."""
    leaf = c.pki.leaf(c.t0)
    return c.cose(leaf=leaf, cabundle=c.pki.cabundle() + [leaf.der])


def impostor_leaf(c):
    """Leaf naming the instance CA as issuer but signed by another key."""
    fake = forge.Authority("instance", forge.new_key(), c.pki.instance.cert)
    return c.cose(leaf=c.pki.leaf(c.t0, issuer=fake))


def variant_cose(c, name, **changes):
    pki = c.variant(name, **changes)
    return c.cose(pki=pki, cabundle=pki.cabundle())


def expired_root(c):
    pki = c.variant("root", not_before_ms=c.t0 - 400 * forge.DAY_MS,
                    not_after_ms=c.t0 - forge.DAY_MS)
    return Case(c.cose(pki=pki), root=c.file(pki.root.pem, ".pem"))


def reordered(c, order):
    bundle = c.pki.cabundle()
    return [bundle[i] for i in order]


ONE_FAULT = [(n, b, "malformed_document") for n, b in MALFORMED_DOCUMENT] + [
    ("alg_es256", lambda c: c.cose(protected=ES256), "unsupported_algorithm"),
    ("alg_es512", lambda c: c.cose(protected=ES512), "unsupported_algorithm"),
    ("alg_ps384", lambda c: c.cose(protected=bytes.fromhex("a1013825")),
     "unsupported_algorithm"),
    # signature
    ("signature_bit_flipped", lambda c: c.cose(tamper_signature=True),
     "bad_signature"),
    ("signature_by_other_key", lambda c: c.cose(signer=forge.new_key()),
     "bad_signature"),
    ("signature_by_instance_ca", lambda c: c.cose(signer=c.pki.instance.key),
     "bad_signature"),
    ("signature_zero", lambda c: c.cose(signature=bytes(96)),
     "bad_signature"),
    ("payload_changed_after_signing", lambda c: c.cose(
        after_signing=change_module_id), "bad_signature"),
    # chain: the pinned root
    ("other_pki", lambda c: c.cose(pki=c.other), "untrusted_root"),
    ("cabundle_0_other_root", lambda c: c.cose(
        cabundle=[c.other.root.der] + c.pki.cabundle()[1:]),
        "untrusted_root"),
    ("cabundle_without_root", lambda c: c.cose(
        cabundle=c.pki.cabundle()[1:]), "untrusted_root"),
    ("cabundle_root_last", lambda c: c.cose(
        cabundle=reordered(c, [1, 2, 3, 0])), "untrusted_root"),
    ("builtin_aws_root", lambda c: Case(c.cose(), root=None),
     "untrusted_root"),
    # chain: the path
    ("cabundle_out_of_order", lambda c: c.cose(
        cabundle=reordered(c, [0, 2, 1, 3])), "chain_invalid"),
    ("cabundle_missing_zonal", lambda c: c.cose(
        cabundle=reordered(c, [0, 1, 3])), "chain_invalid"),
    ("cabundle_root_only", lambda c: c.cose(
        cabundle=reordered(c, [0])), "chain_invalid"),
    ("cabundle_instance_twice", lambda c: c.cose(
        cabundle=reordered(c, [0, 1, 2, 3, 3])), "chain_invalid"),
    ("cabundle_ends_with_leaf", leaf_in_wrong_place, "chain_invalid"),
    ("leaf_issued_by_zonal", lambda c: c.cose(
        leaf=c.pki.leaf(c.t0, issuer=c.pki["zonal"])), "chain_invalid"),
    ("leaf_signed_by_impostor", impostor_leaf, "chain_invalid"),
    ("leaf_is_a_ca", lambda c: c.cose(leaf=c.pki.leaf(
        c.t0, ca=True, key_usage=forge.CA_USAGE)), "chain_invalid"),
    ("zonal_without_keycertsign", lambda c: variant_cose(
        c, "zonal", key_usage=dict(digital_signature=True, crl_sign=True)),
     "chain_invalid"),
    ("zonal_not_a_ca", lambda c: variant_cose(c, "zonal", ca=False),
     "chain_invalid"),
    ("instance_without_basic_constraints", lambda c: variant_cose(
        c, "instance", ca=None), "chain_invalid"),
    ("regional_pathlen_0", lambda c: variant_cose(c, "regional", path_len=0),
     "chain_invalid"),
    ("zonal_pathlen_0", lambda c: variant_cose(c, "zonal", path_len=0),
     "chain_invalid"),
    # chain: validity windows at the verification time
    ("leaf_expired", lambda c: c.cose(leaf=c.expired_leaf()),
     "certificate_expired"),
    ("leaf_not_yet_valid", lambda c: c.cose(leaf=c.pki.leaf(
        c.t0, before_ms=-forge.HOUR_MS, after_ms=3 * forge.HOUR_MS)),
     "certificate_expired"),
    ("zonal_not_yet_valid", lambda c: variant_cose(
        c, "zonal", not_before_ms=c.t0 + forge.HOUR_MS), "certificate_expired"),
    ("instance_expired", lambda c: variant_cose(
        c, "instance", not_before_ms=c.t0 - 2 * forge.DAY_MS,
        not_after_ms=c.t0 - forge.HOUR_MS), "certificate_expired"),
    ("regional_expired", lambda c: variant_cose(
        c, "regional", not_after_ms=c.t0 - forge.HOUR_MS),
     "certificate_expired"),
    ("root_expired", expired_root, "certificate_expired"),
    # freshness
    ("stale", lambda c: c.cose(timestamp_ms=c.at - MAX_AGE_MS - 1), "stale"),
    ("stale_by_an_hour", lambda c: c.cose(
        timestamp_ms=c.at - forge.HOUR_MS), "stale"),
    ("future", lambda c: c.cose(timestamp_ms=c.at + SKEW_MS + 1), "future"),
    ("future_by_an_hour", lambda c: c.cose(
        timestamp_ms=c.at + forge.HOUR_MS), "future"),
    # policy
    ("debug_enclave", lambda c: c.cose(pcrs=forge.debug_pcrs()),
     "debug_enclave"),
    ("debug_enclave_32_byte_pcrs", lambda c: c.cose(
        pcrs=forge.debug_pcrs(16, 32)), "debug_enclave"),
    ("denied", lambda c: Case(c.cose(), args=("--policy", c.policy(
        ("any", {4: forge.default_pcrs()[4]}),
        deny=[("bad", {1: forge.default_pcrs()[1]})]))), "denied"),
    ("pcr_mismatch", lambda c: Case(c.cose(), args=("--policy", c.policy(
        ("v1", {0: b"\x11" * 48})))), "pcr_mismatch"),
    # binding and the extension
    ("binding_mismatch", lambda c: c.cert(public_key=c.spki("p256")),
     "binding_mismatch"),
    ("no_extension", lambda c: c.plain_cert(), "no_extension"),
    ("extension_not_octet_string", lambda c: forge.client_cert(
        c.keys["p384"], value=b"\x05\x00"), "malformed_extension"),
]


@pytest.mark.parametrize("build,reason", [(b, r) for _, b, r in ONE_FAULT],
                         ids=[n for n, _, _ in ONE_FAULT])
def test_one_fault_gives_its_reason(verify, c, build, reason):
    case = build(c)
    if isinstance(case, bytes):
        case = Case(case)
    ev = expect_failure(run_case(verify, case), reason)
    is_cert = case.data[:1] == b"\x30"
    if reason in ("no_extension", "malformed_extension"):
        assert ev["doc_sha384"] is None
    elif not is_cert:
        assert ev["doc_sha384"] == sha384(case.data)
    assert ev["cert_sha256"] == (sha256(case.data) if is_cert else None)
    assert ev["binding"] == ("public_key" if is_cert else None)


def test_every_reason_the_cli_can_produce_is_covered():
    reasons = {r for _, _, r in ONE_FAULT}
    assert reasons == {
        "no_extension", "malformed_extension", "malformed_document",
        "unsupported_algorithm", "bad_signature", "untrusted_root",
        "chain_invalid", "certificate_expired", "stale", "future",
        "debug_enclave", "denied", "pcr_mismatch", "binding_mismatch"}


def test_stale_and_future_report_measurements(verify, c):
    d = c.doc(timestamp_ms=c.at - MAX_AGE_MS - 1)
    ev = expect_failure(verify(d.cose), "stale")
    assert ev["timestamp_ms"] == d.timestamp_ms
    assert ev["age_s"] == 300
    assert ev["pcrs"] == hexes(d.pcrs)
    d = c.doc(timestamp_ms=c.at + 2 * SKEW_MS)
    ev = expect_failure(verify(d.cose), "future")
    assert ev["age_s"] == -120


# ---------------------------------------------------------------------------
# Precedence, structure > signature > chain > time > policy >
# binding.

def policy_case(c, data, allow=None, deny=(), **kw):
    allow = allow or [("any", {4: forge.default_pcrs()[4]})]
    return Case(data, args=("--policy", c.policy(*allow, deny=deny, **kw)))


DENY_PCR1 = [("bad", {1: forge.default_pcrs()[1]})]

PRECEDENCE = [
    ("malformed_over_bad_signature", lambda c: c.cose(
        payload_trailer=b"\x00", tamper_signature=True),
     "malformed_document"),
    ("malformed_over_untrusted_root", lambda c: c.cose(
        pki=c.other, digest="SHA256"), "malformed_document"),
    ("unsupported_algorithm_over_bad_signature", lambda c: c.cose(
        protected=ES256, tamper_signature=True), "unsupported_algorithm"),
    ("bad_signature_over_untrusted_root", lambda c: c.cose(
        pki=c.other, tamper_signature=True), "bad_signature"),
    ("bad_signature_over_chain_invalid", lambda c: c.cose(
        cabundle=reordered(c, [0, 2, 1, 3]), tamper_signature=True),
     "bad_signature"),
    ("bad_signature_over_expired", lambda c: c.cose(
        leaf=c.expired_leaf(), tamper_signature=True), "bad_signature"),
    ("bad_signature_over_stale", lambda c: c.cose(
        timestamp_ms=c.t0 - forge.HOUR_MS, tamper_signature=True),
     "bad_signature"),
    ("bad_signature_over_debug", lambda c: c.cose(
        pcrs=forge.debug_pcrs(), tamper_signature=True), "bad_signature"),
    ("untrusted_root_over_chain_invalid", lambda c: c.cose(
        cabundle=[c.other.root.der] + reordered(c, [2, 1, 3])),
     "untrusted_root"),
    ("untrusted_root_over_expired", lambda c: c.cose(
        pki=c.other, leaf=c.other.leaf(c.t0, after_ms=-2000)),
     "untrusted_root"),
    ("chain_invalid_over_expired", lambda c: c.cose(
        leaf=c.expired_leaf(), cabundle=reordered(c, [0, 2, 1, 3])),
     "chain_invalid"),
    ("expired_over_stale", lambda c: c.cose(
        timestamp_ms=c.at - 2 * MAX_AGE_MS, leaf=c.expired_leaf(
            c.at - 2 * MAX_AGE_MS)), "certificate_expired"),
    ("expired_over_debug", lambda c: c.cose(
        leaf=c.expired_leaf(), pcrs=forge.debug_pcrs()),
     "certificate_expired"),
    ("stale_over_debug", lambda c: c.cose(
        timestamp_ms=c.at - MAX_AGE_MS - 1, pcrs=forge.debug_pcrs()),
     "stale"),
    ("future_over_debug", lambda c: c.cose(
        timestamp_ms=c.at + SKEW_MS + 1, pcrs=forge.debug_pcrs()), "future"),
    ("stale_over_denied", lambda c: policy_case(c, c.cose(
        timestamp_ms=c.at - MAX_AGE_MS - 1), deny=DENY_PCR1), "stale"),
    ("future_over_pcr_mismatch", lambda c: policy_case(c, c.cose(
        timestamp_ms=c.at + SKEW_MS + 1), allow=[("x", {0: bytes(48)})]),
     "future"),
    ("stale_over_binding_mismatch", lambda c: c.cert(
        timestamp_ms=c.at - MAX_AGE_MS - 1, public_key=c.spki("p256")),
     "stale"),
    ("debug_over_denied", lambda c: policy_case(c, c.cose(
        pcrs=forge.debug_pcrs()), deny=DENY_PCR1), "debug_enclave"),
    ("debug_over_pcr_mismatch", lambda c: policy_case(c, c.cose(
        pcrs=forge.debug_pcrs()), allow=[("x", {5: bytes(48)})]),
     "debug_enclave"),
    ("debug_over_binding_mismatch", lambda c: c.cert(
        pcrs=forge.debug_pcrs(), public_key=c.spki("p256")),
     "debug_enclave"),
    ("denied_over_pcr_mismatch", lambda c: policy_case(c, c.cose(),
     allow=[("x", {5: bytes(48)})], deny=DENY_PCR1), "denied"),
    ("denied_over_binding_mismatch", lambda c: policy_case(c, c.cert(
        public_key=c.spki("p256")), deny=DENY_PCR1), "denied"),
    ("pcr_mismatch_over_binding_mismatch", lambda c: policy_case(c, c.cert(
        public_key=c.spki("p256")), allow=[("x", {5: bytes(48)})]),
     "pcr_mismatch"),
]


@pytest.mark.parametrize("build,reason", [(b, r) for _, b, r in PRECEDENCE],
                         ids=[n for n, _, _ in PRECEDENCE])
def test_first_failing_check_wins(verify, c, build, reason):
    expect_failure(run_case(verify, build(c)), reason)


# ---------------------------------------------------------------------------
# What is accepted.

def unknown_key_first(c):
    """Unknown key before module_id; the leaf must sign the document."""
    leaf = c.pki.leaf(c.t0)
    pairs = [(forge.tstr("first"), forge.uint(1)),
             (forge.tstr("module_id"), forge.tstr(forge.DEFAULT_MODULE_ID)),
             (forge.tstr("digest"), forge.tstr("SHA384")),
             (forge.tstr("timestamp"), forge.uint(c.t0)),
             (forge.tstr("pcrs"), forge.pcr_map(forge.default_pcrs())),
             (forge.tstr("certificate"), forge.bstr(leaf.der)),
             (forge.tstr("cabundle"), forge.array(
                 [forge.bstr(x) for x in c.pki.cabundle()]))]
    return c.cose(leaf=leaf, payload=forge.cbor_map(pairs))


ACCEPTED = [
    ("as_the_nsm_makes_it", lambda c: c.cose()),
    ("tag_18", lambda c: c.cose(tag18=True)),
    ("indefinite_payload_map", lambda c: c.cose(indefinite=True)),
    ("tag_18_and_indefinite_map", lambda c: c.cose(tag18=True,
                                                   indefinite=True)),
    ("fields_in_reverse_order", lambda c: c.cose(
        order=tuple(reversed(forge.FIELD_ORDER)))),
    ("unknown_keys_ignored", lambda c: c.cose(extra=[
        (forge.tstr("nitrotpm_pcr"), forge.cbor_map([])),
        (forge.tstr("zz"), forge.array([forge.NULL, forge.uint(1)])),
        (forge.tstr("blob"), forge.bstr(b"\x00" * 2000)),
        (forge.tstr("tagged"), forge.tag(1, forge.uint(5)))])),
    ("unknown_key_first", unknown_key_first),
    ("unprotected_header_with_content", lambda c: c.cose(
        unprotected=forge.cbor_map([(forge.uint(4),
                                     forge.bstr(b"kid"))]))),
    ("payload_16384_bytes", lambda c: payload_of_size(c, 16384)),
    ("certificate_1024_bytes", lambda c: c.cose(
        leaf=c.pki.leaf(c.t0, size=1024))),
    ("fields_1024_bytes", lambda c: c.cose(
        public_key=b"k" * 1024, user_data=b"u" * 1024, nonce=b"n" * 1024)),
    ("optional_fields_absent", lambda c: c.cose(
        public_key=forge.ABSENT, user_data=forge.ABSENT, nonce=forge.ABSENT)),
    ("optional_fields_empty", lambda c: c.cose(
        public_key=b"", user_data=b"", nonce=b"")),
    ("pcrs_32_bytes", lambda c: c.cose(pcrs=forge.default_pcrs(16, 32))),
    ("pcrs_64_bytes", lambda c: c.cose(pcrs=forge.default_pcrs(16, 64))),
    ("pcrs_mixed_sizes", lambda c: c.cose(pcrs={
        0: b"\x01" * 32, 1: b"\x02" * 48, 2: b"\x03" * 64})),
    ("one_pcr", lambda c: c.cose(pcrs={0: b"\x01" * 48})),
    ("32_pcrs", lambda c: c.cose(pcrs=forge.default_pcrs(32))),
    ("pcr0_zero_only", lambda c: c.cose(pcrs=pcrs_with(p0=bytes(48)))),
    ("pcr1_and_pcr2_zero", lambda c: c.cose(pcrs=pcrs_with(
        p1=bytes(48), p2=bytes(48)))),
    ("leaf_without_basic_constraints", lambda c: c.cose(
        leaf=c.pki.leaf(c.t0, ca=None))),
    ("high_timestamp_within_skew", lambda c: c.cose(
        timestamp_ms=c.at + SKEW_MS)),
]


@pytest.mark.parametrize("build", [b for _, b in ACCEPTED],
                         ids=[n for n, _ in ACCEPTED])
def test_accepted_document(verify, c, build):
    cose = build(c)
    ev = expect_success(verify(cose))
    assert ev["doc_sha384"] == sha384(cose)
    assert ev["module_id"] == forge.DEFAULT_MODULE_ID


def test_pcrs_reported_as_carried(verify, c):
    pcrs = {4: b"\x04" * 48, 0: b"\xAB" * 48, 16: b"\x10" * 32,
            1: b"\x01" * 64, 2: b"\x02" * 48}
    ev = expect_success(verify(c.cose(pcrs=pcrs)))
    assert ev["pcrs"] == hexes(pcrs)
    assert ev["pcrs"].key_order == ["0", "1", "2", "4", "16"]


# ---------------------------------------------------------------------------
# The JSON event.

def test_success_event_every_field(verify, c):
    key = c.keys["p384"]
    d = c.doc(public_key=c.spki(), user_data=b"\x01\xab", nonce=b"\xff")
    cert = forge.client_cert(key, d.cose)
    pol = c.policy(("prod", {0: d.pcrs[0]}))
    at = c.t0 + 61999
    ev = expect_success(verify(cert, at=at, args=["--policy", pol]))
    assert ev == {
        "event_type": "enclave_attestation",
        "time": forge.rfc3339(at),
        "status": "SUCCESS", "reason": None, "severity": "INFO",
        "module_id": forge.DEFAULT_MODULE_ID,
        "timestamp_ms": c.t0, "age_s": 61, "digest": "SHA384",
        "pcrs": hexes(d.pcrs),
        "policy": "prod", "policy_allowed": True,
        "binding": "public_key",
        "user_data": "01ab", "nonce": "ff",
        "cert_sha256": sha256(cert), "doc_sha384": d.sha384,
        "cache": "off", "verify_us": ev["verify_us"], "resumed": False,
        "kind": "enclave"}


def test_failure_event_before_measurement(verify, c):
    cose = c.cose(tamper_signature=True)
    ev = expect_failure(verify(cose), "bad_signature")
    assert ev["time"] == forge.rfc3339(c.at)
    assert ev["binding"] is None and ev["cert_sha256"] is None
    assert ev["doc_sha384"] == sha384(cose)


@pytest.mark.parametrize("offset_ms,age", [
    (0, 0), (999, 0), (1000, 1), (1999, 1), (299999, 299), (300000, 300),
    (-999, 0), (-1500, -1)])
def test_age_s_is_truncated_seconds(verify, c, offset_ms, age):
    ev = expect_success(verify(c.cose(), at=c.t0 + offset_ms))
    assert ev["age_s"] == age
    assert ev["time"] == forge.rfc3339(c.t0 + offset_ms)


@pytest.mark.parametrize("value,shown", [
    (forge.ABSENT, None), (None, None), (b"", ""), (b"\x00\xff", "00ff"),
    (b"\xab" * 1024, "ab" * 1024)],
    ids=["absent", "null", "empty", "two_bytes", "1024_bytes"])
def test_user_data_and_nonce(verify, c, value, shown):
    ev = expect_success(verify(c.cose(user_data=value, nonce=value)))
    assert ev["user_data"] == shown and ev["nonce"] == shown


def test_doc_sha384_is_of_the_carried_cose_bytes(verify, c):
    d = c.doc(public_key=c.spki())
    cert = forge.client_cert(c.keys["p384"], d.cose)
    ev = expect_success(verify(cert))
    assert ev["doc_sha384"] == d.sha384
    assert ev["cert_sha256"] == sha256(cert)
    ev = expect_success(verify(d.hex()))
    assert ev["doc_sha384"] == d.sha384


@pytest.mark.parametrize("module_id", [
    'i-"quoted"', "back\\slash", "with space", "x" * 1024],
    ids=["quote", "backslash", "space", "1024_bytes"])
def test_module_id_is_json_escaped(verify, c, module_id):
    run = verify(c.cose(module_id=module_id, leaf=c.pki.leaf(c.t0)))
    assert run.stdout.count("\n") == 1
    assert expect_success(run)["module_id"] == module_id


def test_tag18_doc_sha384_includes_the_tag(verify, c):
    cose = c.cose(tag18=True)
    ev = expect_success(verify(cose))
    assert ev["doc_sha384"] == sha384(cose)


def test_no_policy_means_null_policy_fields(verify, c):
    ev = expect_success(verify(c.cose()))
    assert ev["policy"] is None and ev["policy_allowed"] is None


def test_policy_reported_for_a_stale_document(verify, c):
    """Policy fields are filled whenever signature and chain held."""
    d = c.doc(timestamp_ms=c.at - MAX_AGE_MS - 1)
    ev = expect_failure(verify(d.cose, args=["--policy", c.policy(
        ("prod", {0: d.pcrs[0]}))]), "stale")
    assert ev["policy"] == "prod" and ev["policy_allowed"] is True


def test_policy_reported_for_a_binding_mismatch(verify, c):
    cert = c.cert(public_key=c.spki("p256"))
    ev = expect_failure(verify(cert, args=["--policy", c.policy(
        ("prod", {2: forge.default_pcrs()[2]}))]), "binding_mismatch")
    assert ev["policy"] == "prod" and ev["policy_allowed"] is True


# ---------------------------------------------------------------------------
# Freshness boundaries (ms precision).

@pytest.mark.parametrize("offset_ms,reason", [
    (MAX_AGE_MS, None), (MAX_AGE_MS + 1, "stale"),
    (-SKEW_MS, None), (-SKEW_MS - 1, "future")])
@pytest.mark.parametrize("form", ["ms", "rfc3339"])
def test_freshness_boundary(verify, c, offset_ms, reason, form):
    at = c.t0 + offset_ms
    at_arg = str(at) if form == "ms" else forge.rfc3339(at)
    run = verify(c.cose(), at=at_arg)
    ev = expect(run, reason)
    assert ev["time"] == forge.rfc3339(at)


@pytest.mark.parametrize("max_age,offset_ms,reason", [
    (10, 10000, None), (10, 10001, "stale"), (0, 0, None), (0, 1, "stale"),
    (3600, 3600000, None), (3600, 3600001, "stale")])
def test_max_age_option(verify, c, max_age, offset_ms, reason):
    run = verify(c.cose(), at=c.t0 + offset_ms,
                 args=["--max-age", max_age])
    expect(run, reason)


@pytest.mark.parametrize("skew,offset_ms,reason", [
    (0, 0, None), (0, -1, "future"), (5, -5000, None), (5, -5001, "future"),
    (600, -600000, None), (600, -600001, "future")])
def test_clock_skew_option(verify, c, skew, offset_ms, reason):
    run = verify(c.cose(), at=c.t0 + offset_ms,
                 args=["--clock-skew", skew])
    expect(run, reason)


def test_at_defaults_to_now(verify, c):
    now = forge.now_ms()
    ev = expect_success(verify(c.cose(timestamp_ms=now), at=None))
    t = datetime.datetime.strptime(ev["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    wall = datetime.datetime.utcnow()
    assert abs((wall - t).total_seconds()) < 30
    expect_failure(verify(c.cose(timestamp_ms=now - MAX_AGE_MS - 5000),
                          at=None), "stale")


def test_at_document_uses_each_documents_own_timestamp(verify, c):
    early = c.doc(timestamp_ms=c.t0 - 6 * forge.HOUR_MS, module_id="i-early")
    late = c.doc(timestamp_ms=c.t0 + 6 * forge.HOUR_MS, module_id="i-late")
    run = verify(early.cose, late.cose, at="document")
    assert run.code == 0, run.describe()
    first, second = run.events
    assert (first["module_id"], first["time"], first["age_s"]) == \
        ("i-early", forge.rfc3339(early.timestamp_ms), 0)
    assert (second["module_id"], second["time"], second["age_s"]) == \
        ("i-late", forge.rfc3339(late.timestamp_ms), 0)


def test_at_document_still_checks_validity(verify, c):
    expect_failure(verify(c.cose(leaf=c.expired_leaf(c.t0)), at="document"),
                   "certificate_expired")


# ---------------------------------------------------------------------------
# The policy.

P = forge.default_pcrs()


def test_allow_set_matches(verify, c):
    ev = expect_success(verify(c.cose(), args=["--policy", c.policy(
        ("v42", {0: P[0], 1: P[1], 2: P[2]}))]))
    assert ev["policy"] == "v42" and ev["policy_allowed"] is True


def test_first_matching_allow_set_is_reported(verify, c):
    ev = expect_success(verify(c.cose(), args=["--policy", c.policy(
        ("nomatch", {0: b"\x01" * 48}), ("second", {8: P[8]}),
        ("third", {0: P[0]}))]))
    assert ev["policy"] == "second"


def test_deny_wins_over_allow(verify, c):
    ev = expect_failure(verify(c.cose(), args=["--policy", c.policy(
        ("v42", {0: P[0]}), deny=[("cve", {0: P[0], 8: P[8]})])]), "denied")
    assert ev["policy"] == "cve" and ev["policy_allowed"] is False


def test_no_allow_set_matches(verify, c):
    ev = expect_failure(verify(c.cose(), args=["--policy", c.policy(
        ("v41", {0: P[0], 1: b"\x01" * 48}))]), "pcr_mismatch")
    assert ev["policy"] is None and ev["policy_allowed"] is False


def test_set_listing_an_absent_pcr_does_not_match(verify, c):
    ev = expect_failure(verify(c.cose(), args=["--policy", c.policy(
        ("wants20", {0: P[0], 20: b"\x01" * 48}))]), "pcr_mismatch")
    assert ev["policy"] is None


def test_deny_set_listing_an_absent_pcr_does_not_match(verify, c):
    ev = expect_success(verify(c.cose(), args=["--policy", c.policy(
        ("v42", {0: P[0]}), deny=[("old", {0: P[0], 20: b"\x01" * 48})])]))
    assert ev["policy"] == "v42"


@pytest.mark.parametrize("case", ["upper", "mixed"])
def test_hex_is_case_insensitive(verify, c, case):
    value = P[3].hex().upper() if case == "upper" else \
        "".join(ch.upper() if i % 2 else ch
                for i, ch in enumerate(P[3].hex()))
    pol = c.file(json.dumps({"allow": [{"name": "v", "pcrs": {"3": value}}],
                             "deny": [{"name": "d", "pcrs": {
                                 "5": P[5].hex().upper()}}]}), ".json")
    ev = expect_failure(verify(c.cose(), args=["--policy", pol]), "denied")
    assert ev["policy"] == "d"
    pol = c.file(json.dumps({"allow": [{"name": "v", "pcrs": {
        "3": value}}]}), ".json")
    ev = expect_success(verify(c.cose(), args=["--policy", pol]))
    assert ev["policy"] == "v"


@pytest.mark.parametrize("size", [32, 64])
def test_pcr_sizes_32_and_64_bytes(verify, c, size):
    pcrs = forge.default_pcrs(16, size)
    cose = c.cose(pcrs=pcrs)
    ev = expect_success(verify(cose, args=["--policy", c.policy(
        ("v", {0: pcrs[0], 15: pcrs[15]}))]))
    assert ev["policy"] == "v"
    expect_failure(verify(cose, args=["--policy", c.policy(
        ("v", {0: forge.default_pcrs(1, 48)[0]}))]), "pcr_mismatch")


def test_allow_debug_true_admits_debug_enclave(verify, c):
    pcrs = forge.debug_pcrs()
    ev = expect_success(verify(c.cose(pcrs=pcrs), args=["--policy", c.policy(
        ("dbg", {0: bytes(48), 4: pcrs[4]}), allow_debug=True)]))
    assert ev["policy"] == "dbg" and ev["policy_allowed"] is True


@pytest.mark.parametrize("allow_debug", [False, None])
def test_allow_debug_false_rejects_debug_enclave(verify, c, allow_debug):
    pcrs = forge.debug_pcrs()
    ev = expect_failure(verify(c.cose(pcrs=pcrs), args=[
        "--policy", c.policy(("dbg", {0: bytes(48), 4: pcrs[4]}),
                             allow_debug=allow_debug)]), "debug_enclave")
    assert ev["policy"] == "dbg" and ev["policy_allowed"] is False


def test_allow_debug_flag_without_policy(verify, c):
    ev = expect_success(verify(c.cose(pcrs=forge.debug_pcrs()),
                               args=["--allow-debug"]))
    assert ev["pcrs"]["0"] == "0" * 96


def test_allow_debug_true_still_needs_an_allow_match(verify, c):
    ev = expect_failure(verify(c.cose(pcrs=forge.debug_pcrs()), args=[
        "--policy", c.policy(("prod", {0: P[0]}), allow_debug=True)]),
        "pcr_mismatch")
    assert ev["policy_allowed"] is False


def test_expect_every_is_accepted(verify, c):
    pol = c.file(json.dumps({"allow": [
        {"name": "a", "pcrs": {"0": P[0].hex()}, "expect_every": "30s"},
        {"name": "b", "pcrs": {"1": P[1].hex()}, "expect_every": "1h 30m"}],
        "allow_debug": False}), ".json")
    assert expect_success(verify(c.cose(), args=["--policy", pol]))[
        "policy"] == "a"


def _pol(**top):
    doc = {"allow": [{"name": "a", "pcrs": {"0": "00" * 48}}]}
    doc.update(top)
    return json.dumps(doc)


def _set(**kw):
    s = {"name": "a", "pcrs": {"0": "00" * 48}}
    s.update(kw)
    return json.dumps({"allow": [s]})


BAD_POLICIES = [
    ("not_json", '{"allow": ['),
    ("empty_file", ""),
    ("not_an_object", "[]"),
    ("allow_missing", '{"deny": []}'),
    ("allow_empty", '{"allow": []}'),
    ("allow_not_a_list", '{"allow": {}}'),
    ("duplicate_names", json.dumps({"allow": [
        {"name": "a", "pcrs": {"0": "00" * 48}},
        {"name": "a", "pcrs": {"1": "00" * 48}}]})),
    ("duplicate_name_allow_deny", _pol(deny=[
        {"name": "a", "pcrs": {"1": "00" * 48}}])),
    ("hex_95_digits", _set(pcrs={"0": "0" * 95})),
    ("hex_97_digits", _set(pcrs={"0": "0" * 97})),
    ("hex_40_digits", _set(pcrs={"0": "0" * 40})),
    ("hex_not_hex", _set(pcrs={"0": "zz" * 48})),
    ("hex_not_string", _set(pcrs={"0": 0})),
    ("pcr_index_32", _set(pcrs={"32": "00" * 48})),
    ("pcr_index_negative", _set(pcrs={"-1": "00" * 48})),
    ("pcr_index_word", _set(pcrs={"zero": "00" * 48})),
    ("pcrs_not_object", _set(pcrs=["00" * 48])),
    ("set_without_name", json.dumps({"allow": [{"pcrs": {"0": "00" * 48}}]})),
    ("name_not_string", _set(name=42)),
    ("unknown_top_level_key", _pol(alow_debug=True)),
    ("allow_debug_not_bool", _pol(allow_debug="yes")),
    ("expect_every_garbage", _set(expect_every="soon")),
    ("expect_every_negative", _set(expect_every="-5s")),
    ("deny_not_a_list", _pol(deny={"name": "d"})),
]


@pytest.mark.parametrize("text", [t for _, t in BAD_POLICIES],
                         ids=[n for n, _ in BAD_POLICIES])
def test_malformed_policy_exits_2_naming_the_file(verify, c, text):
    path = c.file(text, ".json")
    run = verify(c.cose(), args=["--policy", path])
    refused(run, os.path.basename(path))


# ---------------------------------------------------------------------------
# The key binding.

def bound(spki: bytes, mode: str) -> dict:
    return {"public_key": dict(public_key=spki),
            "user_data_spki": dict(user_data=spki),
            "user_data_sha256": dict(user_data=hashlib.sha256(spki).digest()),
            "user_data_sha384": dict(user_data=hashlib.sha384(spki).digest()),
            }[mode]


MODES = ["public_key", "user_data_spki", "user_data_sha256",
         "user_data_sha384"]


def binding_case(c, mode, via, spki):
    cose = c.cose(**bound(spki, mode))
    args = ["--binding", mode]
    if via == "certificate":
        return Case(forge.client_cert(c.keys["p384"], cose), args=args)
    cert = c.file(forge.cert_pem(c.plain_cert()), ".pem")
    return Case(cose, args=args + ["--cert", cert])


@pytest.mark.parametrize("via", ["certificate", "--cert"])
@pytest.mark.parametrize("mode", MODES)
def test_binding_holds(verify, c, mode, via):
    ev = expect_success(run_case(verify, binding_case(c, mode, via,
                                                      c.spki())))
    assert ev["binding"] == mode


@pytest.mark.parametrize("via", ["certificate", "--cert"])
@pytest.mark.parametrize("mode", MODES)
def test_binding_mismatch(verify, c, mode, via):
    ev = expect_failure(run_case(verify, binding_case(
        c, mode, via, c.spki("p256"))), "binding_mismatch")
    assert ev["binding"] == mode


@pytest.mark.parametrize("mode,doc", [
    ("public_key", dict(public_key=None)),
    ("public_key", dict(public_key=forge.ABSENT)),
    ("public_key", dict(public_key=b"")),
    ("user_data_spki", dict(user_data=None)),
    ("user_data_sha256", dict(user_data=forge.ABSENT)),
    ("user_data_sha384", dict(user_data=b"")),
], ids=["public_key_null", "public_key_absent", "public_key_empty",
        "user_data_null", "user_data_absent", "user_data_empty"])
def test_binding_missing_field_is_mismatch(verify, c, mode, doc):
    cert = forge.client_cert(c.keys["p384"], c.cose(**doc))
    expect_failure(verify(cert, args=["--binding", mode]), "binding_mismatch")


@pytest.mark.parametrize("mode,other", [
    ("user_data_sha256", "user_data_sha384"),
    ("user_data_sha384", "user_data_sha256"),
    ("user_data_spki", "user_data_sha384"),
    ("public_key", "user_data_spki"),
])
def test_binding_other_mode_is_mismatch(verify, c, mode, other):
    cert = forge.client_cert(c.keys["p384"], c.cose(**bound(c.spki(), other)))
    expect_failure(verify(cert, args=["--binding", mode]), "binding_mismatch")


def test_bare_document_skips_binding(verify, c):
    ev = expect_success(verify(c.cose(public_key=c.spki("p256")),
                               args=["--binding", "user_data_spki"]))
    assert ev["binding"] is None and ev["cert_sha256"] is None


@pytest.mark.parametrize("kind", ["p384", "p256", "rsa", "ed25519"])
def test_client_key_types(verify, c, kind):
    cert = c.cert(kind)
    ev = expect_success(verify(cert))
    assert ev["binding"] == "public_key"
    assert ev["cert_sha256"] == sha256(cert)


# ---------------------------------------------------------------------------
# The attestation extension of a client certificate.

EXTENSION_OK = [
    ("default", lambda c: Case(c.cert())),
    ("critical", lambda c: Case(c.cert(cert_kw=dict(critical=True)))),
    ("no_indicator", lambda c: Case(c.cert(cert_kw=dict(
        value=forge.cmw_extension(c.cose(public_key=c.spki()),
                                  indicator=None))))),
    ("indicator_12", lambda c: Case(c.cert(cert_kw=dict(
        value=forge.cmw_extension(c.cose(public_key=c.spki()),
                                  indicator=12))))),
    ("other_oid_cmw", lambda c: Case(c.cert(cert_kw=dict(oid=OTHER_OID)),
                                     args=("--extension", OTHER_OID))),
    ("other_oid_cmw_explicit", lambda c: Case(
        c.cert(cert_kw=dict(oid=OTHER_OID)),
        args=("--extension", OTHER_OID, "--extension-format", "cmw"))),
    ("other_oid_raw", lambda c: Case(
        c.cert(cert_kw=dict(oid=OTHER_OID, fmt="raw")),
        args=("--extension", OTHER_OID, "--extension-format", "raw"))),
    ("other_oid_raw_critical", lambda c: Case(
        c.cert(cert_kw=dict(oid=OTHER_OID, fmt="raw", critical=True)),
        args=("--extension", OTHER_OID, "--extension-format", "raw"))),
    ("default_oid_raw", lambda c: Case(c.cert(cert_kw=dict(fmt="raw")),
                                       args=("--extension-format", "raw"))),
    ("tag18_document_in_cmw", lambda c: Case(c.cert(tag18=True)))]


@pytest.mark.parametrize("build", [b for _, b in EXTENSION_OK],
                         ids=[n for n, _ in EXTENSION_OK])
def test_extension_accepted(verify, c, build):
    case = build(c)
    ev = expect_success(run_case(verify, case))
    assert ev["cert_sha256"] == sha256(case.data)


def cmw_cert(c, **record):
    cose = c.cose(public_key=c.spki())
    return forge.client_cert(c.keys["p384"],
                             value=forge.cmw_extension(cose, **record))


def cmw_value_cert(c, value: bytes):
    return forge.client_cert(c.keys["p384"], value=value)


EXTENSION_BAD = [
    ("twice_same", lambda c: Case(c.cert(cert_kw=dict(twice=True))),
     "malformed_extension"),
    ("twice_second_garbage", lambda c: Case(c.cert(cert_kw=dict(
        twice=True, second_value=b"\x04\x01\x00"))), "malformed_extension"),
    ("twice_critical", lambda c: Case(c.cert(cert_kw=dict(
        twice=True, critical=True))), "malformed_extension"),
    ("twice_other_oid_raw", lambda c: Case(c.cert(cert_kw=dict(
        oid=OTHER_OID, fmt="raw", twice=True)), args=(
        "--extension", OTHER_OID, "--extension-format", "raw")),
     "malformed_extension"),
    ("cmw_wrong_media_type", lambda c: Case(cmw_cert(
        c, media_type="application/cbor")), "malformed_extension"),
    ("cmw_media_type_bstr", lambda c: Case(cmw_cert(
        c, media_type=forge.bstr(forge.CMW_TYPE.encode()))),
     "malformed_extension"),
    ("cmw_indicator_3", lambda c: Case(cmw_cert(c, indicator=3)),
     "malformed_extension"),
    ("cmw_indicator_8", lambda c: Case(cmw_cert(c, indicator=8)),
     "malformed_extension"),
    ("cmw_indicator_0", lambda c: Case(cmw_cert(c, indicator=0)),
     "malformed_extension"),
    ("cmw_trailing_bytes", lambda c: Case(cmw_cert(c, trailer=b"\x00")),
     "malformed_extension"),
    ("cmw_not_an_array", lambda c: Case(cmw_value_cert(
        c, forge.der_octet_string(forge.bstr(c.cose())))),
     "malformed_extension"),
    ("cmw_array_of_1", lambda c: Case(cmw_value_cert(
        c, forge.der_octet_string(forge.array([forge.tstr(
            forge.CMW_TYPE)])))), "malformed_extension"),
    ("cmw_array_of_4", lambda c: Case(cmw_value_cert(
        c, forge.der_octet_string(forge.array([
            forge.tstr(forge.CMW_TYPE), forge.bstr(c.cose()),
            forge.uint(4), forge.uint(0)])))), "malformed_extension"),
    ("cmw_value_text", lambda c: Case(cmw_value_cert(
        c, forge.der_octet_string(forge.array([
            forge.tstr(forge.CMW_TYPE), forge.tstr(c.cose().hex()),
            forge.uint(4)])))), "malformed_extension"),
    ("cmw_without_octet_string", lambda c: Case(cmw_value_cert(
        c, forge.cmw_record(c.cose()))), "malformed_extension"),
    ("octet_string_then_trailing_bytes", lambda c: Case(cmw_value_cert(
        c, forge.cmw_extension(c.cose()) + b"\x00")),
     "malformed_extension"),
    ("raw_content_read_as_cmw", lambda c: Case(c.cert(cert_kw=dict(
        fmt="raw"))), "malformed_extension"),
    ("cmw_content_read_as_raw", lambda c: Case(c.cert(), args=(
        "--extension-format", "raw")), "malformed_document"),
    ("cmw_carrying_garbage", lambda c: Case(cmw_value_cert(
        c, forge.cmw_extension(b"\x01\x02\x03"))), "malformed_document"),
    ("cmw_carrying_empty_document", lambda c: Case(cmw_value_cert(
        c, forge.cmw_extension(b""))), "malformed_document"),
    ("other_oid_not_configured", lambda c: Case(c.cert(cert_kw=dict(
        oid=OTHER_OID))), "no_extension"),
    ("default_oid_when_other_configured", lambda c: Case(c.cert(), args=(
        "--extension", OTHER_OID)), "no_extension"),
]


@pytest.mark.parametrize("build,reason", [(b, r) for _, b, r in EXTENSION_BAD],
                         ids=[n for n, _, _ in EXTENSION_BAD])
def test_extension_rejected(verify, c, build, reason):
    case = build(c)
    ev = expect_failure(run_case(verify, case), reason)
    assert ev["cert_sha256"] == sha256(case.data)
    assert ev["binding"] == "public_key"
    if reason == "malformed_document":
        assert ev["doc_sha384"] == sha384(carried_document(case))
    else:
        assert ev["doc_sha384"] is None


def carried_document(case) -> bytes:
    """The document bytes a well-formed extension of case carries."""
    args = list(case.args)
    oid = args[args.index("--extension") + 1] if "--extension" in args \
        else forge.DEFAULT_OID
    value = x509.load_der_x509_certificate(case.data).extensions \
        .get_extension_for_oid(x509.ObjectIdentifier(oid)).value.value
    if "raw" in args:
        return value
    _, off, n = forge.der_split(value)
    return cbor2.loads(value[off:off + n])[1]


def test_duplicate_extension_really_is_duplicated(c):
    der = c.cert(cert_kw=dict(twice=True))
    cert = x509.load_der_x509_certificate(der)
    c.keys["p384"].public_key().verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA384()))
    assert der.count(forge.der_oid(forge.DEFAULT_OID)) == 2


# ---------------------------------------------------------------------------
# Inputs, output lines and exit codes.

@pytest.mark.parametrize("encoding", ["raw", "hex", "HEX", "hex_newline",
                                      "base64", "base64_wrapped"])
def test_document_encodings(verify, c, encoding):
    d = c.doc()
    data = d.cose if encoding == "raw" else encode(d.cose, encoding)
    ev = expect_success(verify(data))
    assert ev["doc_sha384"] == d.sha384
    assert ev["cert_sha256"] is None and ev["binding"] is None


@pytest.mark.parametrize("form", ["der", "pem"])
def test_certificate_forms(verify, c, form):
    der = c.cert()
    data = der if form == "der" else forge.cert_pem(der)
    ev = expect_success(verify(data))
    assert ev["cert_sha256"] == sha256(der)
    assert ev["binding"] == "public_key"


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"hello world\n", b"\xff" * 100, b"zz" * 50,
    b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"],
    ids=["empty", "nul", "text", "ff", "bad_hex", "bad_pem"])
def test_undecodable_input_is_malformed_document(verify, data):
    run = verify(data)
    assert run.code == 1, run.describe()
    ev = expect_failure(run, "malformed_document")
    assert ev["module_id"] is None


def test_one_line_per_file_in_order(verify, c):
    docs = [c.doc(module_id="i-%d" % i) for i in range(3)]
    run = verify(docs[0].cose, docs[1].hex(), docs[2].base64())
    assert run.code == 0, run.describe()
    assert [ev["module_id"] for ev in run.events] == ["i-0", "i-1", "i-2"]
    assert run.stdout.endswith("\n") and run.stdout.count("\n") == 3


def test_any_failure_exits_1(verify, c):
    run = verify(c.cose(), c.cose(tamper_signature=True), c.cert())
    assert run.code == 1
    assert [ev["status"] for ev in run.events] == \
        ["SUCCESS", "FAILED", "SUCCESS"]
    assert run.stderr == ""


def test_missing_file_among_others_exits_2(verify, c, tmp_path):
    missing = str(tmp_path / "no-such-file.cose")
    run = verify(c.cose(module_id="i-a"), missing,
                 c.cose(module_id="i-b", tamper_signature=True))
    assert run.code == 2, run.describe()
    events = run.events
    assert [(e["status"], e["module_id"]) for e in events] == \
        [("SUCCESS", "i-a"), ("FAILED", None)]
    assert events[1]["reason"] == "bad_signature"
    assert "no-such-file.cose" in one_line(run.stderr)


# {doc}: a valid document, {garbage}: a file of garbage, {out}: a fresh path
USAGE_ERRORS = [
    ("no_command", []),
    ("unknown_command", ["frobnicate"]),
    ("verify_without_file", ["verify"]),
    ("unknown_flag", ["verify", "--frobnicate", "{doc}"]),
    ("bad_binding", ["verify", "--binding", "spki", "{doc}"]),
    ("bad_extension_format", ["verify", "--extension-format", "json",
                              "{doc}"]),
    ("bad_oid", ["verify", "--extension", "not.an.oid", "{doc}"]),
    ("bad_at", ["verify", "--at", "yesterday", "{doc}"]),
    ("bad_at_month", ["verify", "--at", "2024-13-01T00:00:00Z", "{doc}"]),
    ("bad_max_age", ["verify", "--max-age", "abc", "{doc}"]),
    ("negative_max_age", ["verify", "--max-age", "-5", "{doc}"]),
    ("bad_clock_skew", ["verify", "--clock-skew", "1x", "{doc}"]),
    ("flag_without_value", ["verify", "{doc}", "--root"]),
    ("missing_root", ["verify", "--root", "{out}", "{doc}"]),
    ("unreadable_root", ["verify", "--root", "{garbage}", "{doc}"]),
    ("missing_policy", ["verify", "--policy", "{out}", "{doc}"]),
    ("missing_cert", ["verify", "--cert", "{out}", "{doc}"]),
    ("unreadable_cert", ["verify", "--cert", "{garbage}", "{doc}"]),
    ("missing_file", ["verify", "{out}"]),
    ("inspect_without_file", ["inspect"]),
    ("inspect_missing_file", ["inspect", "{out}"]),
    ("cert_without_doc", ["cert", "--key", "{garbage}", "--out", "{out}"]),
    ("cert_missing_key", ["cert", "--key", "{out}", "--doc", "{doc}",
                          "--out", "{out}.pem"]),
    ("cert_unreadable_key", ["cert", "--key", "{garbage}", "--doc", "{doc}",
                             "--out", "{out}.pem"]),
    ("cert_missing_doc", ["cert", "--key", "{key}", "--doc", "{out}",
                          "--out", "{out}.pem"]),
    ("mock_without_subcommand", ["mock"]),
    ("mock_pki_without_dir", ["mock", "pki"]),
    ("mock_cert_without_pki", ["mock", "cert", "--out-key", "{out}.k",
                               "--out-cert", "{out}.c"]),
    ("mock_cert_missing_pki", ["mock", "cert", "--pki", "{out}",
                               "--out-key", "{out}.k", "--out-cert",
                               "{out}.c"]),
]
# these name a file the user gave: the message must name it too
NAMES_A_FILE = {"missing_root": "{out}", "unreadable_root": "{garbage}",
                "missing_policy": "{out}", "missing_cert": "{out}",
                "unreadable_cert": "{garbage}", "missing_file": "{out}",
                "inspect_missing_file": "{out}", "cert_missing_key": "{out}",
                "cert_unreadable_key": "{garbage}",
                "cert_missing_doc": "{out}", "mock_cert_missing_pki": "{out}"}


@pytest.mark.parametrize("name,template", USAGE_ERRORS,
                         ids=[n for n, _ in USAGE_ERRORS])
def test_usage_error_exits_2_with_one_line(nitro, c, name, template):
    files = dict(doc=c.file(c.cose()), garbage=c.file(b"garbage", ".pem"),
                 key=c.file(forge.key_pem(c.keys["p384"]), ".pem"),
                 out=os.path.join(c.dir, "absent-%d" % next(c.count)))
    run = nitro(*[a.format(**files) for a in template])
    line = refused(run)
    if name in NAMES_A_FILE:
        path = NAMES_A_FILE[name].format(**files)
        assert os.path.basename(path) in line, line


def test_cert_unreadable_doc_exits_2_every_time(nitro, c):
    """Input errors must not depend on luck: repeat what once crashed."""
    key = c.file(forge.key_pem(c.keys["p384"]), ".pem")
    codes = [nitro("cert", "--key", key, "--doc", c.file(b"") + ".absent",
                   "--out", os.path.join(c.dir, "never.pem")).code
             for _ in range(12)]
    assert codes == [2] * 12


# ---------------------------------------------------------------------------
# nitro-attest inspect.

INSPECT_KEYS = {"module_id", "digest", "timestamp", "pcrs", "certificate",
                "cabundle", "public_key", "user_data", "nonce", "protected",
                "signature"}


def hex_or_none(v):
    return None if v is None else v.hex()


def expected_inspection(cose: bytes) -> dict:
    d = forge.decode(cose)
    return {
        "module_id": d["module_id"], "digest": d["digest"],
        "timestamp": d["timestamp"],
        "pcrs": {str(k): v.hex() for k, v in d["pcrs"].items()},
        "certificate": d["certificate"].hex(),
        "cabundle": [x.hex() for x in d["cabundle"]],
        "public_key": hex_or_none(d.get("public_key")),
        "user_data": hex_or_none(d.get("user_data")),
        "nonce": hex_or_none(d.get("nonce")),
        "protected": d["protected"].hex(),
        "signature": d["signature"].hex()}


@pytest.mark.parametrize("name", REAL_DOCS)
def test_inspect_real_document(nitro, name):
    run = nitro("inspect", REAL / name)
    assert run.code == 0, run.describe()
    out = run.event
    assert set(out) == INSPECT_KEYS
    assert out == expected_inspection((REAL / name).read_bytes())


@pytest.mark.parametrize("build", [
    lambda c: c.cose(tamper_signature=True),
    lambda c: c.cose(pki=c.other),
    lambda c: c.cose(pcrs=forge.debug_pcrs()),
    lambda c: c.cose(leaf=c.expired_leaf()),
    lambda c: c.cose(public_key=forge.ABSENT, user_data=b"", nonce=None),
    lambda c: c.cose(indefinite=True, tag18=True),
], ids=["bad_signature", "untrusted_root", "debug", "expired",
        "optional_forms", "indefinite_tag18"])
def test_inspect_verifies_nothing(nitro, c, build):
    cose = build(c)
    run = nitro("inspect", c.file(cose))
    assert run.code == 0, run.describe()
    out = run.event
    assert out == expected_inspection(cose)


def test_inspect_optional_field_forms(nitro, c):
    run = nitro("inspect", c.file(c.cose(public_key=forge.ABSENT,
                                         user_data=b"", nonce=None)))
    out = run.event
    assert (out["public_key"], out["user_data"], out["nonce"]) == \
        (None, "", None)


@pytest.mark.parametrize("data", [
    REAL / "invalid" / "base_nitro_validator_2026-01-03_as_committed.cose",
    b"\x00garbage", b"\x84\x40\xa0\x40\x40"], ids=[
    "real_as_committed", "garbage", "empty_payload"])
def test_inspect_malformed_exits_2(nitro, c, data):
    path = data if isinstance(data, Path) else c.file(data)
    refused(nitro("inspect", path))


# ---------------------------------------------------------------------------
# nitro-attest cert (enclave side).

def verify_self_signed(cert: x509.Certificate) -> None:
    pub = cert.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(pub, rsa.RSAPublicKey):
        pub.verify(cert.signature, cert.tbs_certificate_bytes,
                   padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        pub.verify(cert.signature, cert.tbs_certificate_bytes)


@pytest.mark.parametrize("kind", ["p384", "p256", "rsa", "ed25519"])
def test_cert_wraps_a_document(nitro, verify, c, kind, tmp_path):
    key = c.keys[kind]
    ts = forge.now_ms()
    d = c.doc(timestamp_ms=ts, public_key=forge.spki_der(key))
    keyfile = c.file(forge.key_pem(key), ".pem")
    out = tmp_path / "client.pem"
    run = nitro("cert", "--key", keyfile, "--doc", c.file(d.cose),
                "--out", out)
    assert run.code == 0, run.describe()
    pem = out.read_bytes()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.issuer == cert.subject
    assert forge.spki_der(cert.public_key()) == forge.spki_der(key)
    verify_self_signed(cert)
    check_extension(cert, d.cose)
    ev = expect_success(verify(str(out), at=ts + 1000))
    assert ev["doc_sha384"] == d.sha384
    der = cert.public_bytes(serialization.Encoding.DER)
    assert ev["cert_sha256"] == sha256(der)


def server_usage(cert, name):
    """The certificate is a TLS server's for name: CN, DNS SAN, serverAuth,
    and still carries its document."""
    san = cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name]
    eku = cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert cn[0].value == name


def test_cert_server_makes_a_server_certificate(nitro, verify, c, tmp_path):
    ts = forge.now_ms()
    d = c.doc(timestamp_ms=ts, public_key=c.spki("p384"))
    out = tmp_path / "server.pem"
    run = nitro("cert", "--key", c.file(forge.key_pem(c.keys["p384"])),
                "--doc", c.file(d.cose), "--server", "enclave.example",
                "--out", out)
    assert run.code == 0, run.describe()
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    server_usage(cert, "enclave.example")
    check_extension(cert, d.cose)
    expect_success(verify(str(out), at=ts + 1000))


def test_mock_cert_server(nitro, verify, mock_pki, tmp_path):
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--pcr",
                           "0=" + "ab" * 48, "--server", "*.enclave.test")
    server_usage(x509.load_pem_x509_certificate(cert.read_bytes()),
                 "*.enclave.test")
    expect_success(verify(cert, at=None,
                          root=os.path.join(mock_pki, "root.pem")))


@pytest.mark.parametrize("name", ["", "a,DNS:evil.test", "x y", "\u00e9.test"])
def test_server_name_must_be_a_dns_name(nitro, mock_pki, c, tmp_path, name):
    run, _, _ = mock_cert(nitro, mock_pki, tmp_path, "--server", name,
                          code=2)
    assert "--server must be a DNS name" in run.stderr
    run = nitro("cert", "--key", c.file(forge.key_pem(c.keys["p384"])),
                "--doc", c.file(c.cose(public_key=c.spki("p384"))),
                "--server", name, "--out", tmp_path / "x.pem")
    assert run.code == 2 and "--server must be a DNS name" in run.stderr
    assert not (tmp_path / "x.pem").exists()


@pytest.mark.parametrize("days", [1, 7, 30])
def test_cert_days(nitro, c, tmp_path, days):
    out = tmp_path / "client.pem"
    run = nitro("cert", "--key", c.file(forge.key_pem(c.keys["p384"])),
                "--doc", c.file(c.cose(public_key=c.spki("p384"))),
                "--days", days, "--out", out)
    assert run.code == 0, run.describe()
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    lifetime = cert.not_valid_after - cert.not_valid_before
    assert abs(lifetime.total_seconds() - days * 86400) <= 3600
    now = datetime.datetime.utcnow()
    assert cert.not_valid_before <= now <= cert.not_valid_after


def test_cert_refuses_a_real_document_of_another_key(nitro, c, tmp_path):
    """evervault's document binds its own key through user_data (its
    public_key is null): a certificate for this key could never verify."""
    out = tmp_path / "client.pem"
    for binding in ("public_key", "user_data_spki"):
        run = nitro("cert", "--key", c.file(forge.key_pem(c.keys["p384"])),
                    "--doc", REAL / "evervault_ga_2023-09-18.cose",
                    "--binding", binding, "--out", out)
        refused(run, "binding_mismatch")
        assert not out.exists()


# ---------------------------------------------------------------------------
# nitro-attest mock pki / mock cert.

def test_mock_pki_layout(mock_pki):
    names = sorted(os.listdir(mock_pki))
    assert names == sorted(n + ext for n in forge.AUTHORITIES
                           for ext in (".pem", ".key"))
    for name in forge.AUTHORITIES:
        text = open(os.path.join(mock_pki, name + ".key"), "rb").read()
        assert text.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_mock_pki_is_shaped_like_aws(mock_pki):
    pki = forge.Pki.load(mock_pki)
    now = datetime.datetime.utcnow()
    issuer = None
    for name, path_len in zip(forge.AUTHORITIES, (None, 2, 1, 0)):
        a = pki[name]
        assert isinstance(a.key, ec.EllipticCurvePrivateKey)
        assert a.key.curve.name == "secp384r1"
        assert forge.spki_der(a.key) == forge.spki_der(a.cert.public_key())
        bc = a.cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.value.ca is True and bc.critical
        if path_len is not None:
            assert bc.value.path_length == path_len
        ku = a.cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign
        if name != "root":
            assert ku.value.crl_sign
        assert a.cert.not_valid_before <= now <= a.cert.not_valid_after
        signer = issuer or a
        signer.cert.public_key().verify(
            a.cert.signature, a.cert.tbs_certificate_bytes,
            ec.ECDSA(a.cert.signature_hash_algorithm))
        assert a.cert.issuer == signer.cert.subject
        issuer = a


def test_forge_documents_verify_under_a_mock_pki(verify, c, mock_pki):
    """forge.Pki.load reads what mock pki writes: interoperable PKIs."""
    pki = forge.Pki.load(mock_pki)
    ts = forge.now_ms()
    d = forge.document(pki, timestamp_ms=ts)
    forge.check(d.cose, pki.root.der, ts)
    expect_success(verify(d.cose, at=ts + 1000,
                          root=os.path.join(mock_pki, "root.pem")))


def test_mock_cert_verifies(nitro, verify, mock_pki, tmp_path):
    pcrs = {0: b"\x10" * 48, 1: b"\x11" * 48, 2: b"\x12" * 48,
            8: b"\x18" * 48}
    options = []
    for i, v in pcrs.items():
        options += ["--pcr", "%d=%s" % (i, v.hex())]
    before = forge.now_ms()
    _, key, cert = mock_cert(nitro, mock_pki, tmp_path, *options)
    after = forge.now_ms()
    ev = expect_success(verify(cert, at=None,
                               root=os.path.join(mock_pki, "root.pem")))
    expected = {str(i): (pcrs.get(i, bytes(48))).hex() for i in range(16)}
    assert ev["pcrs"] == expected
    assert before - 1000 <= ev["timestamp_ms"] <= after + 1000
    assert ev["binding"] == "public_key"

    keyobj = serialization.load_pem_private_key(key.read_bytes(), None)
    assert keyobj.curve.name == "secp384r1"
    cose = cert_document(cert)
    d = forge.decode(cose)
    assert d["public_key"] == forge.spki_der(keyobj)
    pki = forge.Pki.load(mock_pki)
    assert d["cabundle"] == pki.cabundle()
    forge.check(cose, pki.root.der, d["timestamp"])
    leaf = x509.load_der_x509_certificate(d["certificate"])
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.value.ca is False
    assert leaf.extensions.get_extension_for_class(
        x509.KeyUsage).value.digital_signature
    assert leaf.issuer == pki.instance.cert.subject


def test_mock_cert_without_pcr0_is_a_debug_enclave(nitro, verify, mock_pki,
                                                   tmp_path):
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--pcr",
                           "4=" + "44" * 48)
    root = os.path.join(mock_pki, "root.pem")
    ev = expect_failure(verify(cert, at=None, root=root), "debug_enclave")
    assert ev["pcrs"]["4"] == "44" * 48
    expect_success(verify(cert, at=None, root=root, args=["--allow-debug"]))


def test_mock_cert_options(nitro, verify, mock_pki, tmp_path):
    ts = forge.now_ms() - 10 * 60 * 1000
    _, _, cert = mock_cert(
        nitro, mock_pki, tmp_path, "--pcr", "0=" + "ab" * 48,
        "--module-id", "i-mock-enc1", "--timestamp", forge.rfc3339(ts),
        "--user-data", "0102", "--nonce", "ff" * 32)
    root = os.path.join(mock_pki, "root.pem")
    ev = expect_success(verify(cert, at="document", root=root))
    assert (ev["module_id"], ev["timestamp_ms"], ev["user_data"],
            ev["nonce"]) == ("i-mock-enc1", ts, "0102", "ff" * 32)
    expect_failure(verify(cert, at=None, root=root), "stale")


def test_mock_cert_timestamp_in_ms(nitro, verify, mock_pki, tmp_path):
    ts = forge.now_ms() - 1234
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--pcr",
                           "0=" + "ab" * 48, "--timestamp", str(ts))
    ev = expect_success(verify(cert, at=ts + 1,
                               root=os.path.join(mock_pki, "root.pem")))
    assert ev["timestamp_ms"] == ts


def test_mock_cert_leaf_lifetime(nitro, verify, mock_pki, tmp_path):
    ts = forge.now_ms()
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--pcr",
                           "0=" + "ab" * 48, "--timestamp", str(ts),
                           "--leaf-lifetime", "600")
    leaf = x509.load_der_x509_certificate(
        forge.decode(cert_document(cert))["certificate"])
    lifetime = (leaf.not_valid_after - leaf.not_valid_before).total_seconds()
    assert 480 <= lifetime <= 720
    root = os.path.join(mock_pki, "root.pem")
    expect_failure(verify(cert, at=ts + 900 * 1000, root=root,
                          args=["--max-age", "3600"]), "certificate_expired")


def test_mock_cert_with_a_forged_pki(nitro, verify, c, tmp_path):
    """mock cert reads a PKI directory it did not write (forge's)."""
    _, _, cert = mock_cert(nitro, c.pki.dir, tmp_path, "--pcr",
                           "0=" + "cd" * 48)
    ev = expect_success(verify(cert, at=None))
    assert ev["pcrs"]["0"] == "cd" * 48


@pytest.mark.parametrize("pcr", ["0=zz", "32=" + "00" * 48, "x=" + "00" * 48,
                                 "0", "0=" + "0" * 95],
                         ids=["not_hex", "index_32", "index_x", "no_value",
                              "odd_digits"])
def test_mock_cert_bad_pcr_exits_2(nitro, mock_pki, tmp_path, pcr):
    run = nitro("mock", "cert", "--pki", mock_pki, "--pcr", pcr,
                "--out-key", tmp_path / "k", "--out-cert", tmp_path / "c")
    assert run.code == 2, run.describe()
    one_line(run.stderr)


# ---------------------------------------------------------------------------
# Help, version, time options and the man page: what a newcomer types first.

MAN_PAGE = REPO / "debian" / "nitro-attest.1"
# every help topic, as `nitro-attest help TOPIC` names it
HELP_TOPICS = ["verify", "inspect", "cert", "mock", "mock pki", "mock cert",
               "policy", "policy new", "policy add", "policy deny",
               "policy remove", "policy check", "nsm", "nsm attest",
               "nsm describe", "nsm pcr", "nsm extend", "nsm lock", "expect",
               "agent", "audit", "audit verify", "help"]


def usage_of(run) -> str:
    """Exit 0, usage on stdout, nothing on stderr."""
    assert run.code == 0, run.describe()
    assert run.stderr == "", run.describe()
    assert run.stdout.startswith("usage: nitro-attest"), run.describe()
    return run.stdout


@pytest.mark.parametrize("args", [
    ["--help"], ["-h"], ["help"], ["--help", "verify"],
    ["verify", "--help"], ["verify", "-h"], ["inspect", "--help"],
    ["cert", "--help"], ["mock", "--help"], ["mock", "pki", "--help"],
    ["mock", "cert", "--help"], ["policy", "--help"], ["policy", "-h"],
    ["policy", "new", "--help"], ["policy", "add", "--help"],
    ["policy", "deny", "--help"], ["policy", "remove", "--help"],
    ["policy", "check", "--help"], ["help", "--help"],
], ids=lambda a: "_".join(a))
def test_help_prints_usage_and_exits_0(nitro, args):
    usage_of(nitro(*args))


@pytest.mark.parametrize("topic", HELP_TOPICS)
def test_help_topic_is_the_command_help(nitro, topic):
    """help COMMAND and COMMAND --help print the same text, the command's
    own: it names the command in its usage line."""
    words = topic.split()
    text = usage_of(nitro("help", *words))
    assert usage_of(nitro(*words, "--help")) == text
    assert text.startswith("usage: nitro-attest " + words[0])
    assert text != usage_of(nitro("--help"))


def test_help_lists_every_command(nitro):
    text = usage_of(nitro("--help"))
    for cmd in ("verify", "inspect", "cert", "mock pki", "mock cert",
                "policy new", "policy add|deny", "policy remove",
                "policy check", "nsm attest", "nsm describe", "nsm pcr",
                "nsm extend", "expect", "agent", "help"):
        assert "nitro-attest " + cmd in text, cmd
    assert "--version" in text


@pytest.mark.parametrize("args", [
    ["verify", "--frobnicate", "--help"],
    ["verify", "--max-age", "soon", "-h"],
    ["cert", "--help"],
    ["policy", "new", "--kind", "vm", "--help"],
    ["policy", "remove", "--help"],
    ["mock", "cert", "--pcr", "99=zz", "--help"],
], ids=lambda a: "_".join(a))
def test_help_wins_over_a_mistake_on_its_line(nitro, args):
    usage_of(nitro(*args))


def test_help_does_nothing_else(nitro, tmp_path):
    """mock pki --help makes no directory (run where one would land);
    policy add --help leaves the file as it was."""
    p = subprocess.run([os.path.abspath(CLI), "mock", "pki", "--help"],
                       cwd=tmp_path, capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith(b"usage: "), p
    usage_of(nitro("mock", "pki", tmp_path / "pki", "--help"))
    assert os.listdir(tmp_path) == []
    p = tmp_path / "p.json"
    p.write_text('{"allow": [{"name": "a", "pcrs": {"0": "%s"}}]}'
                 % ("a0" * 48))
    before = p.read_bytes()
    usage_of(nitro("policy", "add", p, "--name", "b", "--pcr",
                   "0=" + "b0" * 48, "--help"))
    assert p.read_bytes() == before


def test_help_after_double_dash_is_a_file(nitro, c):
    run = nitro("verify", "--root", c.pki.root_pem, "--", "--help")
    refused(run, "--help")


@pytest.mark.parametrize("args", [
    ["help", "frobnicate"], ["help", "policy", "frob"],
    ["help", "verify", "extra"], ["help", "mock", "cert", "x"],
    ["--help", "nope"], ["help", ""],
], ids=lambda a: "_".join(a) or "empty")
def test_help_unknown_topic_exits_2(nitro, args):
    refused(nitro(*args), "help")


def changelog_version() -> str:
    """The upstream part of debian/changelog's first version."""
    first = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    version = re.search(r"\(([^)]+)\)", first)[1]
    return re.sub(r"-[^-]*$", "", re.sub(r"^\d+:", "", version))


def test_version_is_the_changelog_version(nitro):
    run = nitro("--version")
    assert run.code == 0 and run.stderr == "", run.describe()
    assert run.stdout == "nitro-attest %s\n" % changelog_version()
    assert re.fullmatch(r"nitro-attest \d+\.\d+\.\d+\n", run.stdout)


def test_version_takes_no_argument(nitro):
    refused(nitro("--version", "verify"))


# nginx time syntax: (text, milliseconds), within the forged chain's
# validity around t0 (from an hour before to three hours after)
TIMES = [("90", 90000), ("90s", 90000), ("5m", 300000), ("1h", 3600000),
         ("1h30m", 5400000), ("2m30s", 150000), ("500ms", 500), ("0", 0)]
JUNK_TIMES = ["5x", "1.5", "", "-5", "m", "5mm", "1h30x", "ms", "5 x",
              "0x10", "99999999999999999999"]


@pytest.mark.parametrize("text,ms", TIMES)
def test_max_age_takes_nginx_time(verify, c, text, ms):
    expect_success(verify(c.cose(), at=c.t0 + ms,
                          args=["--max-age", text]))
    expect_failure(verify(c.cose(), at=c.t0 + ms + 1,
                          args=["--max-age=" + text]), "stale")


@pytest.mark.parametrize("text,ms", [t for t in TIMES if t[1] <= 3600000])
def test_clock_skew_takes_nginx_time(verify, c, text, ms):
    expect_success(verify(c.cose(), at=c.t0 - ms,
                          args=["--clock-skew", text]))
    expect_failure(verify(c.cose(), at=c.t0 - ms - 1,
                          args=["--clock-skew", text]), "future")


@pytest.mark.parametrize("option", ["--max-age", "--clock-skew"])
@pytest.mark.parametrize("text", JUNK_TIMES)
def test_verify_time_junk_exits_2(verify, c, option, text):
    refused(verify(c.cose(), args=[option, text]), option)


@pytest.mark.parametrize("text,seconds", [("10m", 600), ("1h", 3600),
                                          ("600", 600), ("1m30s", 90)])
def test_mock_cert_leaf_lifetime_takes_nginx_time(nitro, mock_pki, tmp_path,
                                                  text, seconds):
    ts = forge.now_ms() // 1000 * 1000
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--timestamp",
                           str(ts), "--leaf-lifetime", text)
    leaf = x509.load_der_x509_certificate(
        forge.decode(cert_document(cert))["certificate"])
    assert leaf.not_valid_after == forge.utc(ts + seconds * 1000)


@pytest.mark.parametrize("text", JUNK_TIMES + ["0", "500ms", "1500ms"])
def test_mock_cert_leaf_lifetime_junk_exits_2(nitro, mock_pki, tmp_path,
                                              text):
    run = nitro("mock", "cert", "--pki", mock_pki, "--leaf-lifetime", text,
                "--out-key", tmp_path / "k", "--out-cert", tmp_path / "c")
    refused(run, "--leaf-lifetime")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# The man page documents every option that --help shows.

def man_sections() -> dict:
    """The man page source as plain text by command: {"verify": text,
    "policy add, policy deny": text, ..., "": the whole page}."""
    src = MAN_PAGE.read_text()
    plain = re.sub(r"\\f[BIRP]|\\&", "", src).replace("\\-", "-")
    sections = {"": plain}
    for block in re.split(r"^\.SS ", plain, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        sections[heading.strip().strip('"')] = body.split("\n.SH ")[0]
    return sections


def help_options(text: str) -> set:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


def test_man_page_documents_every_option_of_every_help(nitro):
    sections = man_sections()
    for topic in [""] + HELP_TOPICS:
        text = usage_of(nitro("help", *topic.split()))
        options = help_options(text)
        # the command's own section, when the page has one
        body = next((b for h, b in sections.items() if h and
                     topic in [t.strip() for t in h.split(",")]),
                    sections[""])
        for opt in sorted(options):
            where = sections[""] if opt in ("--help", "--version") else body
            assert re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt),
                             where), \
                "man page: %s of `%s --help` is not documented there" % (
                    opt, topic or "nitro-attest")


def test_man_page_has_a_section_for_each_command(nitro):
    headings = [h for h in man_sections() if h]
    for topic in HELP_TOPICS:
        if topic in ("mock", "policy", "nsm", "audit"):
            continue
        assert any(topic in [t.strip() for t in h.split(",")]
                   for h in headings), topic


def test_man_page_renders_without_warnings(tmp_path):
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    p = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z",
                        str(MAN_PAGE)], capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()
    man = shutil.which("man")
    if man is not None:
        p = subprocess.run([man, "--warnings", "-l", str(MAN_PAGE)],
                           capture_output=True, timeout=60,
                           env=dict(os.environ, MANWIDTH="80",
                                    MANPAGER="cat", PAGER="cat"))
        assert p.returncode == 0 and p.stderr == b"", p.stderr.decode()
        assert b"--from-doc" in p.stdout
