"""nitro-attest and NitroTPM documents, through the CLI.

A NitroTPM document (what `nitro-tpm-attest` returns on an EC2 instance)
carries `nitrotpm_pcrs` where an enclave's carries `pcrs`; every other rule
of verification holds for both, and each is judged only against policy
sets of its own kind.  Inputs: the real AWS-signed documents in
t/fixtures/real-tpm (facts from its PROVENANCE.md) and documents forged by
forge.document(kind="nitrotpm").
"""

import json
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import forge
from cli import (check_extension, expect_failure, expect_success, hexes,
                 mock_cert, sha384)
from repo import AWS_ROOT, EXAMPLES, REAL_TPM

TPM = "nitrotpm"
TPM_MODULE_RE = re.compile(r"^i-[0-9a-f]{17}-tpm0{16}$")

# the real documents: file -> (timestamp ms, module id, nonce bytes)
REAL = {
    "vaportpm_nitrotpm_2026-02-01.cose":
        (1769923183375, "i-030a1f233f8348690-tpm0000000000000000", 10),
    "vaportpm_nitrotpm_2026-02-03.cose":
        (1770113522437, "i-01cfb383223e42522-tpm0000000000000000", 32),
}
# the same AMI on both instances (PROVENANCE.md)
REAL_PCR4 = bytes.fromhex(
    "1a1f166e1995c1e1bfdf1c1d13b1ebc9d5d4e44397501655c911a2062d920634"
    "83ca9e17f0264efe336d4b61c5b98d1e")
REAL_PCR7 = bytes.fromhex(
    "98441c7f7625d10058c47683aec486ce311c633235eb555593a7ee791121e357"
    "8ae72d04ecef661f272d59058b77af35")


def tpm(c, **kw) -> forge.Document:
    return c.doc(kind=TPM, **kw)


def tpm_cert(c, key="p384", **kw) -> bytes:
    kw.setdefault("public_key", c.spki(key))
    return forge.client_cert(c.keys[key], tpm(c, **kw).cose)


def expect_kind(ev, kind):
    assert ev["kind"] == kind, ev
    return ev


def policy_arg(c, *allow, deny=()):
    return ["--policy", c.policy(*allow, deny=deny)]


# ---------------------------------------------------------------------------
# A NitroTPM document verifies as an enclave's does.

def test_forged_tpm_document_verifies(verify, c):
    d = tpm(c)
    ev = expect_kind(expect_success(verify(d.cose)), TPM)
    assert ev["module_id"] == forge.TPM_MODULE_ID
    assert ev["pcrs"] == hexes(d.pcrs)
    assert ev["pcrs"].key_order == [str(i) for i in range(24)]
    assert ev["binding"] is None


def test_tpm_certificate_verifies_with_binding(verify, c):
    ev = expect_kind(expect_success(verify(tpm_cert(c))), TPM)
    assert ev["binding"] == "public_key"


def test_enclave_document_reports_its_kind(verify, c):
    expect_kind(expect_success(verify(c.cose())), "enclave")


@pytest.mark.parametrize("pcrs", [
    {4: b"\x44" * 48}, {0: b"\x00" * 48}, {23: b"\x17" * 48},
    {i: bytes([i]) * 48 for i in range(24)}],
    ids=["only_pcr4", "only_pcr0", "only_pcr23", "all_24"])
def test_nitrotpm_pcrs_of_1_to_24_entries(verify, c, pcrs):
    ev = expect_success(verify(tpm(c, pcrs=pcrs).cose))
    assert ev["pcrs"] == hexes(pcrs)


@pytest.mark.parametrize("build", [
    lambda c: tpm(c, tamper_signature=True).cose,
    lambda c: tpm(c, pki=c.other).cose,
    lambda c: tpm(c, leaf=c.expired_leaf()).cose,
], ids=["bad_signature", "untrusted_root", "certificate_expired"])
def test_kind_is_null_when_not_measured(verify, c, build):
    ev = verify(build(c)).event
    assert ev["status"] == "FAILED" and ev["kind"] is None, ev
    assert ev["pcrs"] is None


@pytest.mark.parametrize("offset, reason", [
    (forge.HOUR_MS, "stale"), (-forge.HOUR_MS, "future")])
def test_kind_reported_for_stale_and_future(verify, c, offset, reason):
    d = tpm(c, timestamp_ms=c.t0 - offset)
    expect_kind(expect_failure(verify(d.cose), reason), TPM)


def test_other_payload_rules_apply(verify, c):
    """Every other rule of the payload applies: one wrong field is
    malformed_document for a NitroTPM document too."""
    for fields in ({"digest": forge.tstr("SHA256")},
                   {"timestamp": forge.uint(0)},
                   {"module_id": forge.tstr("")},
                   {"public_key": forge.uint(1)},
                   {"cabundle": forge.array([])}):
        expect_failure(verify(tpm(c, fields=fields).cose),
                       "malformed_document")


# ---------------------------------------------------------------------------
# Exactly one of pcrs and nitrotpm_pcrs; nitrotpm_pcrs shape.

def both(c, first):
    """pcrs and nitrotpm_pcrs in one payload, first one first."""
    enclave = (forge.tstr("pcrs"), forge.pcr_map(forge.default_pcrs()))
    pcrs = forge.tpm_pcrs()
    if first == "pcrs":
        return c.cose(extra=[(forge.tstr("nitrotpm_pcrs"),
                              forge.pcr_map(pcrs))])
    return c.cose(kind=TPM, extra=[enclave])


MALFORMED = [
    ("both_pcrs_first", lambda c: both(c, "pcrs")),
    ("both_nitrotpm_first", lambda c: both(c, "nitrotpm_pcrs")),
    ("neither", lambda c: c.cose(drop=("pcrs",))),
    ("neither_tpm", lambda c: c.cose(kind=TPM, drop=("pcrs",))),
    ("empty_nitrotpm_pcrs", lambda c: c.cose(kind=TPM, pcrs={})),
    ("empty_nitrotpm_pcrs_with_pcrs", lambda c: c.cose(extra=[
        (forge.tstr("nitrotpm_pcrs"), forge.cbor_map([]))])),
    ("index_24", lambda c: c.cose(kind=TPM, pcrs={24: bytes(48)})),
    ("index_31", lambda c: c.cose(kind=TPM, pcrs={0: bytes(48),
                                                  31: bytes(48)})),
    ("index_1000", lambda c: c.cose(kind=TPM, pcrs={1000: bytes(48)})),
    ("negative_index", lambda c: c.cose(kind=TPM, fields={
        "pcrs": forge.cbor_map([(forge.integer(-1),
                                 forge.bstr(bytes(48)))])})),
    ("text_index", lambda c: c.cose(kind=TPM, fields={
        "pcrs": forge.cbor_map([(forge.tstr("0"),
                                 forge.bstr(bytes(48)))])})),
    ("duplicate_index", lambda c: c.cose(kind=TPM, fields={
        "pcrs": forge.cbor_map([(forge.uint(4), forge.bstr(bytes(48))),
                                (forge.uint(4), forge.bstr(bytes(48)))])})),
    ("size_32", lambda c: c.cose(kind=TPM, pcrs={0: bytes(32)})),
    ("size_64", lambda c: c.cose(kind=TPM, pcrs={0: bytes(64)})),
    ("size_47", lambda c: c.cose(kind=TPM, pcrs={0: bytes(47)})),
    ("size_49", lambda c: c.cose(kind=TPM, pcrs={0: bytes(49)})),
    ("size_0", lambda c: c.cose(kind=TPM, pcrs={0: b""})),
    ("value_text", lambda c: c.cose(kind=TPM, fields={
        "pcrs": forge.cbor_map([(forge.uint(0), forge.tstr("0" * 48))])})),
    ("not_a_map", lambda c: c.cose(kind=TPM, fields={
        "pcrs": forge.array([forge.bstr(bytes(48))])})),
    ("nitrotpm_pcrs_twice", lambda c: c.cose(kind=TPM, extra=[
        (forge.tstr("nitrotpm_pcrs"), forge.pcr_map({1: bytes(48)}))])),
]


@pytest.mark.parametrize("name, build", MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_nitrotpm_payload(verify, nitro, c, name, build):
    cose = build(c)
    ev = expect_failure(verify(cose), "malformed_document")
    assert ev["kind"] is None
    run = nitro("inspect", c.file(cose))
    assert run.code == 2 and run.stdout == "", run.describe()


def test_both_kinds_malformed_even_with_a_bad_signature(verify, c):
    """Structure before signature, as the order of reasons says."""
    cose = c.cose(tamper_signature=True, extra=[
        (forge.tstr("nitrotpm_pcrs"), forge.pcr_map(forge.tpm_pcrs()))])
    expect_failure(verify(cose), "malformed_document")


@pytest.mark.parametrize("indefinite", [False, True])
def test_tpm_payload_definite_or_indefinite(verify, c, indefinite):
    expect_success(verify(tpm(c, indefinite=indefinite).cose))


def test_enclave_pcrs_rules_unchanged(verify, c):
    """pcrs keeps 0..31 and 32/48/64 bytes."""
    pcrs = {0: b"\x01" * 32, 31: b"\x02" * 64}
    expect_kind(expect_success(verify(c.cose(pcrs=pcrs))), "enclave")


# ---------------------------------------------------------------------------
# A document is judged only against sets of its own kind.

def test_tpm_document_accepted_by_a_nitrotpm_set(verify, c):
    d = tpm(c)
    ev = expect_success(verify(d.cose, args=policy_arg(
        c, ("ami", {4: d.pcrs[4], 12: d.pcrs[12]}, TPM))))
    assert (ev["policy"], ev["policy_allowed"], ev["kind"]) == \
        ("ami", True, TPM)


@pytest.mark.parametrize("kind", [None, "enclave"])
def test_tpm_document_refused_by_enclave_sets_that_match(verify, c, kind):
    """The very PCR values, in an enclave set: pcr_mismatch."""
    d = tpm(c)
    ev = expect_failure(verify(d.cose, args=policy_arg(
        c, ("image", {4: d.pcrs[4]}, kind))), "pcr_mismatch")
    assert (ev["policy"], ev["policy_allowed"], ev["kind"]) == \
        (None, False, TPM)


def test_enclave_document_refused_by_a_nitrotpm_set_that_matches(verify, c):
    d = c.doc()
    ev = expect_failure(verify(d.cose, args=policy_arg(
        c, ("ami", {0: d.pcrs[0], 4: d.pcrs[4]}, TPM))), "pcr_mismatch")
    assert (ev["policy"], ev["kind"]) == (None, "enclave")


def test_same_values_each_kind_takes_its_own_set(verify, c):
    pcrs = {i: bytes([0x40 + i]) * 48 for i in range(16)}
    pol = policy_arg(c, ("enclave-set", {0: pcrs[0], 4: pcrs[4]}),
                     ("tpm-set", {0: pcrs[0], 4: pcrs[4]}, TPM))
    ev = expect_success(verify(tpm(c, pcrs=pcrs).cose, args=pol))
    assert (ev["policy"], ev["kind"]) == ("tpm-set", TPM)
    ev = expect_success(verify(c.cose(pcrs=pcrs), args=pol))
    assert (ev["policy"], ev["kind"]) == ("enclave-set", "enclave")


def test_deny_sets_by_kind(verify, c):
    pcrs = {i: bytes([0x60 + i]) * 48 for i in range(16)}
    allow = [("enclave-ok", {0: pcrs[0]}), ("tpm-ok", {0: pcrs[0]}, TPM)]
    tpm_deny = [("tpm-cve", {4: pcrs[4]}, TPM)]
    enclave_deny = [("enclave-cve", {4: pcrs[4]})]
    tpm_doc = tpm(c, pcrs=pcrs).cose
    enclave_doc = c.cose(pcrs=pcrs)

    pol = policy_arg(c, *allow, deny=tpm_deny)
    ev = expect_failure(verify(tpm_doc, args=pol), "denied")
    assert (ev["policy"], ev["kind"]) == ("tpm-cve", TPM)
    ev = expect_success(verify(enclave_doc, args=pol))
    assert ev["policy"] == "enclave-ok"

    pol = policy_arg(c, *allow, deny=enclave_deny)
    ev = expect_failure(verify(enclave_doc, args=pol), "denied")
    assert ev["policy"] == "enclave-cve"
    ev = expect_success(verify(tpm_doc, args=pol))
    assert ev["policy"] == "tpm-ok"


def test_deny_by_kind_is_checked_before_allow(verify, c):
    d = tpm(c)
    ev = expect_failure(verify(d.cose, args=policy_arg(
        c, ("ami", {4: d.pcrs[4]}, TPM),
        deny=[("ami-old", {4: d.pcrs[4]}, TPM)])), "denied")
    assert ev["policy"] == "ami-old"


# ---------------------------------------------------------------------------
# The debug rule applies to enclaves only.

def zero_pcrs():
    pcrs = forge.tpm_pcrs()
    for i in (0, 1, 2):
        pcrs[i] = bytes(48)
    return pcrs


def test_debug_rule_not_applied_without_policy(verify, c):
    ev = expect_success(verify(tpm(c, pcrs=zero_pcrs()).cose))
    assert ev["kind"] == TPM


def test_debug_rule_not_applied_under_a_policy(verify, c):
    pcrs = zero_pcrs()
    ev = expect_success(verify(tpm(c, pcrs=pcrs).cose, args=policy_arg(
        c, ("ami", {4: pcrs[4]}, TPM))))
    assert ev["policy"] == "ami"


def test_debug_rule_not_applied_with_allow_debug_false(verify, c):
    pcrs = zero_pcrs()
    pol = c.policy(("ami", {0: pcrs[0]}, TPM), allow_debug=False)
    expect_success(verify(tpm(c, pcrs=pcrs).cose, args=["--policy", pol]))


def test_debug_rule_still_applies_to_enclaves(verify, c):
    pcrs = forge.debug_pcrs()
    expect_failure(verify(c.cose(pcrs=pcrs), args=policy_arg(
        c, ("img", {4: pcrs[4]}))), "debug_enclave")


def test_tpm_document_without_pcr0_1_2_is_not_debug(verify, c):
    expect_success(verify(tpm(c, pcrs={4: b"\x04" * 48}).cose))


# ---------------------------------------------------------------------------
# The public_key binding compares SPKI DER only.

def raw_point(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint)


@pytest.mark.parametrize("kind", ["p256", "p384"])
def test_raw_ec_point_in_public_key_is_binding_mismatch(verify, c, kind):
    key = c.keys[kind]
    point = raw_point(key)
    assert len(point) == (65 if kind == "p256" else 97)
    ev = expect_failure(verify(tpm_cert(c, key=kind, public_key=point)),
                        "binding_mismatch")
    assert ev["kind"] == TPM
    # the same document with the SPKI DER of that key binds
    expect_success(verify(tpm_cert(c, key=kind)))


def test_raw_point_never_binds_via_cert_option(verify, c):
    point = raw_point(c.keys["p256"])
    d = tpm(c, public_key=point)
    cert = c.file(forge.client_cert(c.keys["p256"]))
    expect_failure(verify(d.cose, args=["--cert", cert]), "binding_mismatch")


# ---------------------------------------------------------------------------
# Real AWS-signed NitroTPM documents (t/fixtures/real-tpm/PROVENANCE.md).

def test_provenance_lists_every_real_tpm_document():
    text = (REAL_TPM / "PROVENANCE.md").read_text()
    files = sorted(p.name for p in REAL_TPM.glob("*.cose"))
    assert files == sorted(REAL)
    for name in files:
        assert "### " + name in text


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_tpm_document_verifies_at_its_own_time(verify, name):
    ts, module_id, nonce_len = REAL[name]
    ev = expect_success(verify(str(REAL_TPM / name), root=AWS_ROOT,
                               at="document"))
    assert ev["kind"] == TPM
    assert (ev["timestamp_ms"], ev["module_id"]) == (ts, module_id)
    assert TPM_MODULE_RE.match(ev["module_id"])
    assert ev["pcrs"].key_order == [str(i) for i in range(24)]
    assert all(len(v) == 96 for v in ev["pcrs"].values())
    assert ev["pcrs"]["4"] == REAL_PCR4.hex()
    assert ev["pcrs"]["7"] == REAL_PCR7.hex()
    assert ev["user_data"] is None and len(ev["nonce"]) == 2 * nonce_len
    assert ev["doc_sha384"] == sha384((REAL_TPM / name).read_bytes())


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_tpm_document_with_the_builtin_root(verify, name):
    expect_success(verify(str(REAL_TPM / name), root=None, at="document"))


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_tpm_document_is_expired_now(verify, name):
    expect_failure(verify(str(REAL_TPM / name), root=AWS_ROOT, at=None),
                   "certificate_expired")


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_tpm_document_under_policies(verify, c, name):
    path = str(REAL_TPM / name)

    def run(*allow, deny=()):
        return verify(path, root=AWS_ROOT, at="document",
                      args=policy_arg(c, *allow, deny=deny))

    ev = expect_success(run(("ami", {4: REAL_PCR4, 7: REAL_PCR7}, TPM)))
    assert ev["policy"] == "ami"
    # the same values in an enclave set
    expect_failure(run(("ami", {4: REAL_PCR4, 7: REAL_PCR7})),
                   "pcr_mismatch")
    expect_failure(run(("ami", {4: REAL_PCR4}, TPM),
                       deny=[("old-ami", {7: REAL_PCR7}, TPM)]), "denied")
    ev = expect_success(run(("ami", {4: REAL_PCR4}, TPM),
                            deny=[("enclave-cve", {7: REAL_PCR7})]))
    assert ev["policy"] == "ami"
    expect_failure(run(("ami", {4: bytes(48)}, TPM)), "pcr_mismatch")


def real_point(name) -> bytes:
    return forge.decode((REAL_TPM / name).read_bytes())["public_key"]


def cert_for_point(point: bytes) -> bytes:
    """A certificate whose SPKI holds exactly the document's EC point
    (signed by another key: the binding check reads the SPKI only)."""
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                       point)
    signer = forge.new_key("p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tpm-ak")])
    now = forge.now_ms()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(pub).serial_number(x509.random_serial_number())
            .not_valid_before(forge.utc(now - forge.DAY_MS))
            .not_valid_after(forge.utc(now + forge.DAY_MS))
            .sign(signer, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_raw_point_public_key_is_binding_mismatch(verify, c, name):
    point = real_point(name)
    assert len(point) == 65 and point[0] == 4
    cert = cert_for_point(point)
    assert forge.spki_der(x509.load_der_x509_certificate(cert)
                          .public_key()).endswith(point)
    for other in (cert, forge.client_cert(c.keys["p256"])):
        ev = expect_failure(verify(str(REAL_TPM / name), root=AWS_ROOT,
                                   at="document",
                                   args=["--cert", c.file(other)]),
                            "binding_mismatch")
        assert (ev["binding"], ev["kind"]) == ("public_key", TPM)


@pytest.mark.parametrize("name", sorted(REAL))
def test_inspect_real_tpm_document(nitro, name):
    cose = (REAL_TPM / name).read_bytes()
    run = nitro("inspect", REAL_TPM / name)
    assert run.code == 0, run.describe()
    out = run.event
    d = forge.decode(cose)
    assert out.key_order == [
        "module_id", "digest", "timestamp", "kind", "nitrotpm_pcrs",
        "certificate", "cabundle", "public_key", "user_data", "nonce",
        "protected", "signature"]
    assert out["kind"] == TPM
    assert out["nitrotpm_pcrs"] == {str(k): v.hex()
                                    for k, v in d["nitrotpm_pcrs"].items()}
    assert out["public_key"] == d["public_key"].hex()
    assert out["user_data"] is None


# ---------------------------------------------------------------------------
# inspect and cert on forged NitroTPM documents.

def test_inspect_forged_tpm_document(nitro, c):
    d = tpm(c, user_data=b"\x01", nonce=None)
    out = nitro("inspect", c.file(d.cose)).event
    assert "pcrs" not in out
    assert (out["kind"], out["module_id"]) == (TPM, forge.TPM_MODULE_ID)
    assert out["nitrotpm_pcrs"] == hexes(d.pcrs)
    assert (out["user_data"], out["nonce"]) == ("01", None)


def test_inspect_enclave_document_has_no_kind_key(nitro, c):
    """The enclave output is what it always was: `pcrs` says the kind."""
    out = nitro("inspect", c.file(c.cose())).event
    assert "kind" not in out and "nitrotpm_pcrs" not in out
    assert "pcrs" in out


@pytest.mark.parametrize("kind", ["p384", "p256", "rsa", "ed25519"])
def test_cert_wraps_a_tpm_document(nitro, verify, c, kind, tmp_path):
    key = c.keys[kind]
    ts = forge.now_ms()
    d = tpm(c, timestamp_ms=ts, public_key=forge.spki_der(key))
    out = tmp_path / "instance.pem"
    run = nitro("cert", "--key", c.file(forge.key_pem(key), ".pem"),
                "--doc", c.file(d.base64()), "--out", out)
    assert run.code == 0, run.describe()
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    check_extension(cert, d.cose)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == forge.TPM_MODULE_ID
    ev = expect_success(verify(str(out), at=ts + 1000, args=policy_arg(
        c, ("ami", {4: d.pcrs[4]}, TPM))))
    assert (ev["kind"], ev["policy"], ev["doc_sha384"]) == \
        (TPM, "ami", d.sha384)


@pytest.mark.parametrize("name", sorted(REAL))
def test_cert_refuses_a_real_tpm_document(nitro, c, name, tmp_path):
    """Its public_key is a raw EC point: it can never bind a certificate,
    so cert writes none."""
    out = tmp_path / "instance.pem"
    run = nitro("cert", "--key", c.file(forge.key_pem(c.keys["p256"])),
                "--doc", REAL_TPM / name, "--out", out)
    assert run.code == 2 and run.stdout == "", run.describe()
    assert "binding_mismatch" in run.stderr
    assert not out.exists()


def test_cert_refuses_a_malformed_tpm_document(nitro, c, tmp_path):
    run = nitro("cert", "--key", c.file(forge.key_pem(c.keys["p384"])),
                "--doc", c.file(both(c, "pcrs")),
                "--out", tmp_path / "x.pem")
    assert run.code == 2 and "malformed_document" in run.stderr
    assert not (tmp_path / "x.pem").exists()


# ---------------------------------------------------------------------------
# mock cert --kind nitrotpm.

def test_mock_cert_nitrotpm(nitro, verify, mock_pki, tmp_path):
    pcr4, pcr12 = "ab" * 48, "CD" * 48
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--kind", TPM,
                           "--pcr", "4=" + pcr4, "--pcr", "12=" + pcr12)
    root = mock_pki + "/root.pem"
    ev = expect_success(verify(str(cert), root=root, at=None))
    assert ev["kind"] == TPM
    assert TPM_MODULE_RE.match(ev["module_id"]), ev["module_id"]
    assert ev["pcrs"].key_order == [str(i) for i in range(24)]
    assert (ev["pcrs"]["4"], ev["pcrs"]["12"]) == (pcr4, pcr12.lower())
    assert ev["pcrs"]["0"] == "00" * 48
    inspected = nitro("inspect", cert).event
    assert "pcrs" not in inspected and inspected["kind"] == TPM
    assert inspected["nitrotpm_pcrs"]["4"] == pcr4
    # judged as an instance: a nitrotpm set takes it, an enclave set not
    pol = tmp_path / "p.json"
    pol.write_text(forge.policy([("ami", {4: bytes.fromhex(pcr4),
                                          12: bytes.fromhex(pcr12)}, TPM)]))
    ev = expect_success(verify(str(cert), root=root, at=None,
                               args=["--policy", str(pol)]))
    assert ev["policy"] == "ami"
    pol.write_text(forge.policy([("img", {4: bytes.fromhex(pcr4)})]))
    expect_failure(verify(str(cert), root=root, at=None,
                          args=["--policy", str(pol)]), "pcr_mismatch")


def test_mock_cert_nitrotpm_all_zero_is_not_a_debug_enclave(
        nitro, verify, mock_pki, tmp_path):
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--kind", TPM)
    ev = expect_success(verify(str(cert), root=mock_pki + "/root.pem",
                               at=None))
    assert set(ev["pcrs"].values()) == {"00" * 48}


def test_mock_cert_nitrotpm_module_id_option(nitro, verify, mock_pki,
                                             tmp_path):
    mid = "i-0fedcba9876543210-tpm0000000000000000"
    _, _, cert = mock_cert(nitro, mock_pki, tmp_path, "--kind", TPM,
                           "--module-id", mid)
    ev = verify(str(cert), root=mock_pki + "/root.pem", at=None).event
    assert (ev["module_id"], ev["kind"]) == (mid, TPM)


def test_mock_cert_kind_enclave_is_the_default(nitro, verify, mock_pki,
                                               tmp_path):
    for args in ((), ("--kind", "enclave")):
        _, _, cert = mock_cert(nitro, mock_pki, tmp_path,
                               "--pcr", "0=" + "11" * 48, *args)
        ev = expect_success(verify(str(cert), root=mock_pki + "/root.pem",
                                   at=None))
        assert ev["kind"] == "enclave" and len(ev["pcrs"]) == 16
        assert "-enc" in ev["module_id"]


@pytest.mark.parametrize("args", [
    ("--kind", "tpm"), ("--kind", ""), ("--kind", "NitroTPM"),
    ("--kind", TPM, "--pcr", "24=" + "00" * 48),
    ("--kind", TPM, "--pcr", "31=" + "00" * 48),
    ("--kind", TPM, "--pcr", "4=" + "00" * 32),
    ("--kind", TPM, "--pcr", "4=" + "00" * 64),
    ("--kind", TPM, "--pcr", "4=zz" + "00" * 47),
], ids=["tpm", "empty", "case", "pcr24", "pcr31", "size32", "size64",
        "not_hex"])
def test_mock_cert_bad_kind_or_pcr_exits_2(nitro, mock_pki, tmp_path, args):
    run, _, cert = mock_cert(nitro, mock_pki, tmp_path, *args, code=2)
    assert run.stdout == "" and len(run.stderr.strip().splitlines()) == 1
    assert not cert.exists()


# ---------------------------------------------------------------------------
# conf-examples/attestable-ami-policy.json: loads clean and judges by kind.

EXAMPLE = EXAMPLES / "attestable-ami-policy.json"


def test_example_policy_checks_clean(nitro):
    run = nitro("policy", "check", EXAMPLE)
    assert (run.code, run.stdout) == (0, ""), run.describe()


@pytest.mark.parametrize("name", sorted(REAL))
def test_example_policy_takes_the_real_instances(verify, name):
    ev = expect_success(verify(str(REAL_TPM / name), root=AWS_ROOT,
                               at="document", args=["--policy", EXAMPLE]))
    assert (ev["policy"], ev["kind"]) == ("payments-secure-boot", TPM)


def test_example_policy_pcr4_and_pcr12(verify, c):
    pol = json.loads(EXAMPLE.read_text())
    sets = {s["name"]: s for s in pol["allow"] + pol["deny"]}
    values = {int(k): bytes.fromhex(v) for k, v in
              sets["payments-ami-2026-02"]["pcrs"].items()}
    pcrs = forge.tpm_pcrs()
    pcrs.update(values)
    ev = expect_success(verify(tpm(c, pcrs=pcrs).cose,
                               args=["--policy", EXAMPLE]))
    assert ev["policy"] == "payments-ami-2026-02"
    # the very same PCRs in an enclave document: no set of its kind
    expect_failure(verify(c.cose(pcrs=pcrs), args=["--policy", EXAMPLE]),
                   "pcr_mismatch")
    # the denied image
    pcrs[4] = bytes.fromhex(sets["payments-ami-2026-01-cve"]["pcrs"]["4"])
    ev = expect_failure(verify(tpm(c, pcrs=pcrs).cose,
                               args=["--policy", EXAMPLE]), "denied")
    assert ev["policy"] == "payments-ami-2026-01-cve"
