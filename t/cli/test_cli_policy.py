"""nitro-attest policy new|add|deny|remove|check, which write and lint the
policy file (allow and deny sets, their kinds, expect_every, allow_debug).

Each test is a command a pipeline would run and what it reads back: the
policy printed or left in the file, the lines of `check`, the exit status
and the one-line message of a refusal.  Lint lines are `FILE: SET: text`;
a warning about the file as a whole (allow_debug) names the set `-`.
"""

import base64
import json
import os
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import forge
from cli import one_line, refused
from files import write
from repo import CLI, REAL, REAL_TPM, REPO

H0 = "a0" * 48
H1 = "a1" * 48
H2 = "a2" * 48
H8 = "a8" * 48
ZERO = "00" * 48
SHA384_ALG = "Sha384 { ... }"


def read(path) -> dict:
    with open(str(path)) as f:
        return json.load(f)


def raw(path) -> bytes:
    with open(str(path), "rb") as f:
        return f.read()


def pset(name, pcrs, **extra) -> dict:
    out = {"name": name, "pcrs": {str(k): v for k, v in pcrs.items()}}
    out.update(extra)
    return out


@pytest.fixture
def new(nitro):
    """new(*args) -> (run, the printed policy or None)."""
    def run(*args):
        r = nitro("policy", "new", *args)
        return r, (json.loads(r.stdout) if r.code == 0 else None)
    return run


@pytest.fixture
def base(tmp_path):
    """A policy file with two allow sets and a deny set, keys in an order
    the tool must keep."""
    return write(tmp_path / "policy.json", {
        "allow_debug": False,
        "deny": [pset("v40", {0: "d0" * 48})],
        "allow": [pset("v41", {0: H0, 1: H1}, expect_every="30s"),
                  pset("host", {4: "b4" * 48}, kind="nitrotpm")],
    })


def check(nitro, path):
    """(exit status, lint lines) of policy check."""
    r = nitro("policy", "check", path)
    assert r.code in (0, 1), r.describe()
    assert r.stderr == "", r.describe()
    return r.code, r.stdout.splitlines()


def temp_files(path):
    d = os.path.dirname(str(path))
    return sorted(n for n in os.listdir(d) if n.startswith("."))


# ---------------------------------------------------------------------------
# policy new

def test_new_prints_one_allow_set_that_loads(nitro, new, tmp_path):
    r, pol = new("--name", "payments-v42", "--pcr", "2=" + H2, "--pcr",
                 "0=" + H0.upper(), "--pcr", "1=" + H1)
    assert r.code == 0 and r.stderr == "", r.describe()
    assert pol == {"allow": [{"name": "payments-v42",
                              "pcrs": {"0": H0, "1": H1, "2": H2}}]}
    # PCRs in index order, lowercase
    assert list(pol["allow"][0]["pcrs"]) == ["0", "1", "2"]
    p = write(tmp_path / "p.json", r.stdout)
    assert check(nitro, p) == (0, [])


def test_new_policy_judges_documents(nitro, new, tmp_path, pki, t0):
    doc = forge.document(pki, timestamp_ms=t0)
    r, _ = new("--name", "prod", "--pcr", "0=" + doc.pcrs[0].hex(),
               "--pcr", "1=" + doc.pcrs[1].hex())
    p = write(tmp_path / "p.json", r.stdout)
    d = tmp_path / "doc.cose"
    d.write_bytes(doc.cose)
    v = nitro("verify", "--root", pki.root_pem, "--at", str(t0 + 1000),
              "--policy", p, str(d))
    assert v.code == 0, v.describe()
    assert v.event["policy"] == "prod"


def test_new_expect_every(new):
    r, pol = new("--name", "a", "--pcr", "0=" + H0, "--expect-every",
                 "1h 30m")
    assert r.code == 0, r.describe()
    assert pol["allow"][0]["expect_every"] == "1h 30m"


def test_new_service_and_version(new):
    r, pol = new("--name", "pay-v43", "--pcr", "0=" + H0, "--service",
                 "payments", "--version", "43")
    assert r.code == 0, r.describe()
    assert pol["allow"][0] == pset("pay-v43", {0: H0}, service="payments",
                                   version=43)
    assert list(pol["allow"][0]) == ["name", "pcrs", "service", "version"]


@pytest.mark.parametrize("kind", ["enclave", "nitrotpm"])
def test_new_kind_is_written(new, kind):
    r, pol = new("--name", "a", "--kind", kind, "--pcr", "0=" + H0,
                 "--pcr", "23=" + H1)
    assert r.code == 0, r.describe()
    assert pol["allow"][0]["kind"] == kind
    assert list(pol["allow"][0]) == ["name", "kind", "pcrs"]


def test_new_default_kind_writes_no_key(new):
    r, pol = new("--name", "a", "--pcr", "31=" + H0)
    assert r.code == 0, r.describe()
    assert "kind" not in pol["allow"][0]


@pytest.mark.parametrize("args,needles", [
    ((), ["--name is required"]),
    (("--name", "a"), ["no PCR given"]),
    (("--name", "a", "--pcr", "x=" + H0), ["--pcr", "not N=HEX"]),
    (("--name", "a", "--pcr", H0), ["--pcr", "not N=HEX"]),
    (("--name", "a", "--pcr", "-1=" + H0), ["not N=HEX"]),
    (("--name", "a", "--pcr", "32=" + H0), ["PCR 32 is not 0..31"]),
    (("--name", "a", "--pcr", "0=" + H0[:-2]), ["PCR 0 must be 64, 96"]),
    (("--name", "a", "--pcr", "0=" + "zz" * 48), ["PCR 0 must be 64, 96"]),
    (("--name", "a", "--pcr", "0="), ["PCR 0 must be"]),
    (("--name", "a", "--pcr", "0=" + H0, "--pcr", "0=" + H1),
     ["PCR 0 given twice"]),
    (("--name", "a", "--kind", "nitrotpm", "--pcr", "24=" + H0),
     ["PCR 24 is not 0..23", "nitrotpm"]),
    (("--name", "a", "--kind", "vm", "--pcr", "0=" + H0),
     ["--kind must be enclave or nitrotpm", '"vm"']),
    (("--name", "a", "--pcr", "0=" + H0, "--expect-every", "soon"),
     ['--expect-every "soon"']),
    (("--name", "a", "--pcr", "0=" + H0, "--expect-every", "0s"),
     ["--expect-every"]),
    (("--name", "", "--pcr", "0=" + H0), ['"name" must be']),
    (("--name", "x" * 129, "--pcr", "0=" + H0), ['"name" must be']),
    (("--name", "a", "--name", "b", "--pcr", "0=" + H0),
     ["--name given twice"]),
    (("--name", "a", "--pcr", "0=" + H0, "extra"),
     ['unexpected argument "extra"']),
    (("--name", "a", "--pcr", "0=" + H0, "--colour"),
     ["unknown option --colour"]),
    (("--name",), ["--name needs a value"]),
    (("--name", "a", "--pcr", "0=" + H0, "--service", "pay"),
     ["--service and --version go together"]),
    (("--name", "a", "--pcr", "0=" + H0, "--version", "2"),
     ["--service and --version go together"]),
    (("--name", "a", "--pcr", "0=" + H0, "--service", "pay", "--version",
      "two"), ['--version must be a whole number', '"two"']),
    (("--name", "a", "--pcr", "0=" + H0, "--service", "pay", "--version",
      "-1"), ['--version must be a whole number', '"-1"']),
    (("--name", "a", "--pcr", "0=" + H0, "--service", "pay", "--version",
      "1.5"), ['--version must be a whole number']),
    (("--name", "a", "--pcr", "0=" + H0, "--service", "", "--version",
      "1"), ['--service must be 1..128 printable']),
])
def test_new_usage_errors(new, args, needles):
    r, _ = new(*args)
    refused(r, "policy new", *needles)


# ---------------------------------------------------------------------------
# --from-eif: what nitro-cli build-enclave and describe-eif print

def build_enclave_output(signed=False) -> dict:
    m = {"HashAlgorithm": SHA384_ALG, "PCR0": H0.upper(), "PCR1": H1,
         "PCR2": H2}
    if signed:
        m["PCR8"] = H8
    return {"Measurements": m}


def describe_eif_output(signed=False) -> dict:
    return {"EifVersion": 4,
            "Measurements": build_enclave_output(signed)["Measurements"],
            "IsSigned": signed, "CheckCRC": True, "ImageName": "payments",
            "ImageVersion": "1.0",
            "Metadata": {"BuildTime": "2026-11-30T10:00:00Z",
                         "BuildTool": "nitro-cli", "BuildToolVersion": "1.3",
                         "OperatingSystem": "Linux", "KernelVersion": "6.1",
                         "DockerInfo": {"Id": "sha256:00"}}}


@pytest.mark.parametrize("shape", [build_enclave_output, describe_eif_output])
@pytest.mark.parametrize("signed", [False, True])
def test_new_from_eif(new, tmp_path, shape, signed):
    eif = write(tmp_path / "eif.json", shape(signed))
    r, pol = new("--name", "v42", "--from-eif", eif)
    assert r.code == 0, r.describe()
    want = {"0": H0, "1": H1, "2": H2}
    if signed:
        want["8"] = H8
    assert pol == {"allow": [{"name": "v42", "pcrs": want}]}


def test_new_from_eif_on_stdin_with_more_pcrs(nitro, tmp_path):
    r = nitro("policy", "new", "--name", "v42", "--from-eif", "-",
              "--pcr", "3=" + "a3" * 48, "--expect-every", "5m",
              stdin=json.dumps(describe_eif_output(True)).encode())
    assert r.code == 0, r.describe()
    pcrs = json.loads(r.stdout)["allow"][0]["pcrs"]
    assert list(pcrs) == ["0", "1", "2", "3", "8"]


@pytest.mark.parametrize("content,args,needles", [
    ("{", (), ["eif.json line"]),
    ('{"PCR0": "%s"}' % H0, (), ['no "Measurements"']),
    ('{"Measurements": [1]}', (), ['no "Measurements"']),
    ('{"Measurements": {"HashAlgorithm": "Sha256 { ... }", "PCR0": "%s"}}'
     % H0, (), ["HashAlgorithm is not Sha384"]),
    ('{"Measurements": {"HashAlgorithm": "%s", "PCR1": "%s"}}'
     % (SHA384_ALG, H1), (), ["no PCR0"]),
    ('{"Measurements": {"PCR0": "%s", "PCRx": "%s"}}' % (H0, H1), (),
     ['"PCRx" is not a PCR measurement']),
    ('{"Measurements": {"PCR0": 7}}', (), ['"PCR0" is not a PCR']),
    ('{"Measurements": {"PCR0": "%s"}}' % H0[:10], (),
     ["eif.json: PCR 0 must be 64, 96 or 128 hex digits"]),
    ('{"Measurements": {"PCR0": "%s", "PCR40": "%s"}}' % (H0, H0), (),
     ["PCR 40 is not 0..31"]),
    (json.dumps(build_enclave_output()), ("--pcr", "1=" + H2),
     ["--pcr: PCR 1 given twice"]),
    (json.dumps(build_enclave_output()), ("--kind", "nitrotpm"),
     ["--from-eif gives enclave measurements"]),
])
def test_new_from_eif_refused(new, tmp_path, content, args, needles):
    eif = write(tmp_path / "eif.json", content)
    r, _ = new("--name", "a", "--from-eif", eif, *args)
    refused(r, "policy new", *needles)


def test_new_from_missing_eif(new, tmp_path):
    r, _ = new("--name", "a", "--from-eif", str(tmp_path / "none.json"))
    refused(r, "none.json", "No such file")


# ---------------------------------------------------------------------------
# --from-doc: a set from a known document, once the core verified it

# real AWS documents and the PCRs a set from each pins by default
REAL_DOCS = {
    # PCR8 set: a signed image
    "evervault_beta_valid_2022-10-13.cose": ["0", "1", "2", "8"],
    # PCR8 zero: left out
    "blocky_nitro_attestation_2024-09-07.cose": ["0", "1", "2"],
    "base_nitro_validator_2026-01-03_indefinite.cose": ["0", "1", "2"],
}
DEBUG_DOC = REAL / "evervault_beta_debug_2022-10-12.cose"
TPM_DOC = REAL_TPM / "vaportpm_nitrotpm_2026-02-03.cose"


def pcrs_of(cose: bytes) -> dict:
    """The document's PCRs of either kind as lowercase hex, decoded here,
    not by the tool."""
    d = forge.decode(cose)
    pcrs = d["pcrs"] if "pcrs" in d else d["nitrotpm_pcrs"]
    return {str(k): v.hex() for k, v in pcrs.items()}


def verifies_under(nitro, policy_text, doc, tmp_path, *args) -> dict:
    """verify DOC at its own time under the policy printed."""
    p = write(tmp_path / "from-doc.json", policy_text)
    r = nitro("verify", "--at", "document", "--policy", p, *args, doc)
    assert r.code == 0, r.describe()
    return r.event


@pytest.mark.parametrize("name", sorted(REAL_DOCS))
def test_new_from_real_document(nitro, new, tmp_path, name):
    doc = REAL / name
    pcrs = pcrs_of(doc.read_bytes())
    r, pol = new("--from-doc", doc)
    assert r.code == 0 and r.stderr == "", r.describe()
    [s] = pol["allow"]
    assert list(s["pcrs"]) == REAL_DOCS[name]
    assert s["pcrs"] == {k: pcrs[k] for k in REAL_DOCS[name]}
    # the default name: the kind, the first PCR, its first 12 hex digits
    assert s["name"] == "enclave-pcr0-" + pcrs["0"][:12]
    assert list(s) == ["name", "pcrs"] and list(pol) == ["allow"]
    ev = verifies_under(nitro, r.stdout, doc, tmp_path)
    assert (ev["status"], ev["policy"]) == ("SUCCESS", s["name"])


def test_new_from_real_document_chosen_pcrs_and_name(nitro, new, tmp_path):
    doc = REAL / "turnkey_prod_2025-05-05.cose"
    pcrs = pcrs_of(doc.read_bytes())
    r, pol = new("--from-doc", doc, "--pcrs", "3,0,1,2", "--name", "tk-v1",
                 "--expect-every", "10m")
    assert r.code == 0, r.describe()
    assert pol == {"allow": [{"name": "tk-v1",
                              "pcrs": {k: pcrs[k] for k in "0123"},
                              "expect_every": "10m"}]}
    ev = verifies_under(nitro, r.stdout, doc, tmp_path)
    assert ev["policy"] == "tk-v1"


def test_new_from_real_document_in_hex_and_base64(new, tmp_path):
    doc = REAL / "evervault_beta_valid_2022-10-13.cose"
    _, want = new("--from-doc", doc)
    raw_doc = doc.read_bytes()
    for encoded in (raw_doc.hex(), base64.b64encode(raw_doc).decode()):
        r, pol = new("--from-doc", write(tmp_path / "doc.txt", encoded))
        assert r.code == 0 and pol == want, r.describe()


def test_new_from_real_nitrotpm_document(nitro, new, tmp_path):
    pcrs = pcrs_of(TPM_DOC.read_bytes())
    r, pol = new("--from-doc", TPM_DOC)
    assert r.code == 0, r.describe()
    [s] = pol["allow"]
    assert s == {"name": "nitrotpm-pcr4-" + pcrs["4"][:12],
                 "kind": "nitrotpm",
                 "pcrs": {k: pcrs[k] for k in ("4", "7", "12")}}
    ev = verifies_under(nitro, r.stdout, TPM_DOC, tmp_path)
    assert (ev["kind"], ev["policy"]) == ("nitrotpm", s["name"])
    # the kind is the document's: asking for it is allowed, another refused
    r, again = new("--from-doc", TPM_DOC, "--kind", "nitrotpm")
    assert r.code == 0 and again == pol, r.describe()
    r, _ = new("--from-doc", TPM_DOC, "--kind", "enclave")
    refused(r, "--kind enclave", "of kind nitrotpm")


@pytest.mark.parametrize("path,reason", [
    (DEBUG_DOC, "debug_enclave"),
    (REAL / "blocky_nitro_attestation_debug_2024-09-07.cose",
     "debug_enclave"),
    (REAL / "invalid" / "veracruz_bad_sig_2022-11-09.cose", "bad_signature"),
    # a custom root, not AWS's
    (REAL / "invalid" / "marlin_sdk_custom_mockroot_2024-12-13.cose",
     "untrusted_root"),
    # a TLS certificate without the attestation extension
    (REAL / "evervault_ga_tls_cert_2023-09.der", "no_extension"),
], ids=lambda v: getattr(v, "name", v))
@pytest.mark.parametrize("cmd", ["new", "add"])
def test_from_doc_that_does_not_verify_exits_1(nitro, base, cmd, path,
                                               reason):
    before = raw(base)
    args = ["policy", cmd] + ([base] if cmd == "add" else [])
    r = nitro(*args, "--from-doc", path)
    assert r.code == 1 and r.stdout == "", r.describe()
    line = one_line(r.stderr)
    assert path.name in line and reason in line, line
    assert raw(base) == before and temp_files(base) == []


def test_from_doc_of_the_mock_pki_needs_its_root(nitro, new, pki, t0,
                                                 tmp_path):
    pcrs = forge.default_pcrs()
    doc = write(tmp_path / "doc.cose",
                      forge.document(pki, timestamp_ms=t0, pcrs=pcrs).cose)
    r, _ = new("--from-doc", doc)
    assert r.code == 1 and "untrusted_root" in one_line(r.stderr)
    r, pol = new("--from-doc", doc, "--root", pki.root_pem)
    assert r.code == 0, r.describe()
    assert pol["allow"][0]["pcrs"] == {str(i): pcrs[i].hex()
                                       for i in (0, 1, 2, 8)}
    ev = verifies_under(nitro, r.stdout, doc, tmp_path, "--root",
                        pki.root_pem)
    assert ev["status"] == "SUCCESS"


def test_from_doc_of_a_mock_certificate(nitro, new, tmp_path):
    """A certificate (PEM from mock cert, and the same as DER) gives the
    document it carries; its binding is not what a set is made of."""
    pki_dir = str(tmp_path / "pki")
    assert nitro("mock", "pki", pki_dir).code == 0
    h = {0: "10" * 48, 1: "11" * 48, 2: "12" * 48, 3: "13" * 48}
    r = nitro("mock", "cert", "--pki", pki_dir,
              *["--pcr=%d=%s" % kv for kv in h.items()],
              "--out-key", tmp_path / "k.pem", "--out-cert",
              tmp_path / "c.pem")
    assert r.code == 0, r.describe()
    root = os.path.join(pki_dir, "root.pem")
    pem = (tmp_path / "c.pem").read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(
        serialization.Encoding.DER)
    for cert in (str(tmp_path / "c.pem"),
                 write(tmp_path / "c.der", der)):
        r, pol = new("--from-doc", cert, "--root", root, "--name", "mock")
        assert r.code == 0, r.describe()
        # PCR8 of a mock document is zero: left out
        assert pol == {"allow": [{"name": "mock", "pcrs": {
            str(i): h[i] for i in (0, 1, 2)}}]}


def test_from_doc_is_judged_at_its_own_time_not_its_age(new, pki, t0,
                                                        tmp_path):
    """A document from a year ago whose chain was valid then makes a set;
    one whose leaf had expired when it was signed does not."""
    old = t0 - 365 * 86400 * 1000
    old_pki = forge.Pki.create(at_ms=old, label="old")
    old_pki.save(str(tmp_path / "old"))
    doc = write(tmp_path / "old.cose",
                      forge.document(old_pki, timestamp_ms=old).cose)
    r, _ = new("--from-doc", doc, "--root", old_pki.root_pem)
    assert r.code == 0, r.describe()
    expired = pki.leaf(t0, before_ms=3 * forge.HOUR_MS, after_ms=-1000)
    doc = write(tmp_path / "expired.cose",
                      forge.document(pki, timestamp_ms=t0,
                                     leaf=expired).cose)
    r, _ = new("--from-doc", doc, "--root", pki.root_pem)
    assert r.code == 1 and "certificate_expired" in one_line(r.stderr)


def test_from_doc_with_more_pcrs(new):
    doc = REAL / "evervault_beta_valid_2022-10-13.cose"
    r, pol = new("--from-doc", doc, "--pcr", "9=" + H0)
    assert r.code == 0, r.describe()
    assert list(pol["allow"][0]["pcrs"]) == ["0", "1", "2", "8", "9"]


@pytest.mark.parametrize("args,needles", [
    (("--pcrs", "0,16"), ["has no PCR 16"]),
    (("--pcrs", "0,0"), ["--pcrs", "PCR 0 given twice"]),
    (("--pcrs", "0,,1"), ['--pcrs "0,,1"']),
    (("--pcrs", ""), ['--pcrs ""']),
    (("--pcrs", "1-3"), ['--pcrs "1-3"']),
    (("--pcrs", "32"), ["PCR 32 is not 0..31"]),
    (("--pcr", "0=" + H0), ["--pcr: PCR 0 given twice"]),
    (("--from-eif", "eif.json"), ["--from-doc or --from-eif"]),
    (("--kind", "nitrotpm"), ["--kind nitrotpm", "of kind enclave"]),
    (("--root", "/nonexistent/root.pem"), ["root.pem"]),
    (("--expect-every", "soon"), ['--expect-every "soon"']),
])
def test_new_from_doc_usage_errors(new, args, needles):
    doc = REAL / "evervault_beta_valid_2022-10-13.cose"
    r, _ = new("--from-doc", doc, *args)
    refused(r, "policy new", *needles)


@pytest.mark.parametrize("args,needles", [
    (("--name", "a", "--pcr", "0=" + H0, "--pcrs", "0"),
     ["--root and --pcrs go with --from-doc"]),
    (("--name", "a", "--pcr", "0=" + H0, "--root", "root.pem"),
     ["--root and --pcrs go with --from-doc"]),
])
def test_new_from_doc_options_without_from_doc(new, args, needles):
    r, _ = new(*args)
    refused(r, "policy new", *needles)


def test_new_from_missing_or_empty_doc(nitro, new, tmp_path):
    r, _ = new("--from-doc", str(tmp_path / "none.cose"))
    refused(r, "none.cose", "No such file")
    r = nitro("policy", "new", "--from-doc", "-", stdin=b"")
    assert r.code == 1 and r.stdout == "", r.describe()
    assert "malformed_document" in one_line(r.stderr)


def test_new_from_doc_on_stdin(nitro, new):
    doc = REAL / "evervault_beta_valid_2022-10-13.cose"
    _, want = new("--from-doc", doc)
    r = nitro("policy", "new", "--from-doc", "-", stdin=doc.read_bytes())
    assert r.code == 0 and json.loads(r.stdout) == want, r.describe()


def test_add_and_deny_from_doc(nitro, base):
    doc = REAL / "evervault_beta_valid_2022-10-13.cose"
    pcrs = pcrs_of(doc.read_bytes())
    r = nitro("policy", "add", base, "--from-doc", doc)
    assert r.code == 0 and r.stdout == "", r.describe()
    added = read(base)["allow"][-1]
    assert added == {"name": "enclave-pcr0-" + pcrs["0"][:12],
                     "pcrs": {k: pcrs[k] for k in ("0", "1", "2", "8")}}
    # the same default name again: refused, the file left as it is
    before = raw(base)
    refused(nitro("policy", "add", base, "--from-doc", doc),
            'allow set "%s" exists' % added["name"])
    assert raw(base) == before
    r = nitro("policy", "deny", base, "--from-doc", doc, "--name", "bad",
              "--pcrs", "0")
    assert r.code == 0, r.describe()
    assert read(base)["deny"][-1] == {"name": "bad",
                                      "pcrs": {"0": pcrs["0"]}}
    assert check(nitro, base)[0] in (0, 1)


def test_add_from_nitrotpm_doc_writes_its_kind(nitro, base):
    r = nitro("policy", "add", base, "--from-doc", TPM_DOC, "--name", "ami")
    assert r.code == 0, r.describe()
    added = read(base)["allow"][-1]
    assert (added["name"], added["kind"]) == ("ami", "nitrotpm")
    assert list(added["pcrs"]) == ["4", "7", "12"]


def test_remove_takes_no_from_doc(nitro, base):
    before = raw(base)
    refused(nitro("policy", "remove", base, "--name", "v41", "--from-doc",
                  DEBUG_DOC), "takes --name only")
    assert raw(base) == before


# ---------------------------------------------------------------------------
# policy add / deny / remove: edits in place

def test_add_appends_and_keeps_the_rest(nitro, base):
    before = read(base)
    r = nitro("policy", "add", base, "--name", "v42", "--pcr", "0=" + H2,
              "--pcr", "8=" + H8, "--expect-every", "10m")
    assert (r.code, r.stdout, r.stderr) == (0, "", ""), r.describe()
    after = read(base)
    assert list(after) == ["allow_debug", "deny", "allow"]
    assert after["allow"][:2] == before["allow"]
    assert list(after["allow"][0]) == ["name", "pcrs", "expect_every"]
    assert after["allow"][2] == pset("v42", {0: H2, 8: H8},
                                     expect_every="10m")
    assert after["deny"] == before["deny"]
    assert after["allow_debug"] is False


def test_add_service_and_version(nitro, base):
    r = nitro("policy", "add", base, "--name", "pay-v2", "--pcr", "0=" + H2,
              "--service", "pay", "--version", "2")
    assert (r.code, r.stderr) == (0, ""), r.describe()
    assert read(base)["allow"][-1] == pset("pay-v2", {0: H2}, service="pay",
                                           version=2)
    assert check(nitro, base)[0] in (0, 1)


def test_deny_takes_no_release(nitro, base):
    before = raw(base)
    r = nitro("policy", "deny", base, "--name", "pay-v0", "--pcr",
              "0=" + H2, "--service", "pay", "--version", "0")
    refused(r, "policy deny", "--service and --version are for allow sets")
    assert raw(base) == before


def test_add_from_eif(nitro, base, tmp_path):
    eif = write(tmp_path / "eif.json", describe_eif_output(True))
    r = nitro("policy", "add", base, "--name", "v42", "--from-eif", eif)
    assert r.code == 0, r.describe()
    assert read(base)["allow"][-1] == pset("v42",
                                           {0: H0, 1: H1, 2: H2, 8: H8})


def test_add_nitrotpm_set(nitro, base):
    r = nitro("policy", "add", base, "--name", "host-2", "--kind",
              "nitrotpm", "--pcr", "7=" + H1, "--pcr", "4=" + H0)
    assert r.code == 0, r.describe()
    assert read(base)["allow"][-1] == {"name": "host-2", "kind": "nitrotpm",
                                       "pcrs": {"4": H0, "7": H1}}


def test_deny_appends_a_deny_set(nitro, base):
    r = nitro("policy", "deny", base, "--name", "v41-cve", "--pcr",
              "0=" + H0)
    assert (r.code, r.stderr) == (0, ""), r.describe()
    after = read(base)
    assert [s["name"] for s in after["deny"]] == ["v40", "v41-cve"]
    assert [s["name"] for s in after["allow"]] == ["v41", "host"]


def test_deny_creates_the_deny_list(nitro, tmp_path):
    p = write(tmp_path / "p.json", {"allow": [pset("v1", {0: H0})]})
    r = nitro("policy", "deny", p, "--name", "v0", "--pcr", "0=" + H1)
    assert r.code == 0, r.describe()
    after = read(p)
    assert list(after) == ["allow", "deny"]
    assert after["deny"] == [pset("v0", {0: H1})]


def test_remove_allow_and_deny_sets(nitro, base):
    assert nitro("policy", "remove", base, "--name", "v41").code == 0
    assert [s["name"] for s in read(base)["allow"]] == ["host"]
    assert nitro("policy", "remove", base, "--name", "v40").code == 0
    after = read(base)
    assert after["deny"] == [] and list(after) == ["allow_debug", "deny",
                                                   "allow"]
    assert check(nitro, base)[0] == 0


def test_edit_is_a_rename(nitro, base):
    os.chmod(base, 0o640)
    inode = os.stat(base).st_ino
    r = nitro("policy", "add", base, "--name", "v42", "--pcr", "0=" + H2)
    assert r.code == 0, r.describe()
    st = os.stat(base)
    assert st.st_ino != inode
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert temp_files(base) == []


def test_edit_through_a_symlink_edits_its_target(nitro, base, tmp_path):
    link = tmp_path / "current.json"
    os.symlink(base, str(link))
    r = nitro("policy", "add", str(link), "--name", "v42", "--pcr",
              "0=" + H2)
    assert r.code == 0, r.describe()
    assert os.path.islink(str(link))
    assert read(base)["allow"][-1]["name"] == "v42"


REFUSED_EDITS = [
    (("add", "--name", "v41", "--pcr", "0=" + H2),
     ['allow set "v41" exists']),
    (("add", "--name", "v40", "--pcr", "0=" + H2),
     ['deny set "v40" exists']),
    (("deny", "--name", "host", "--pcr", "0=" + H2),
     ['allow set "host" exists']),
    (("remove", "--name", "v39"), ['no set is named "v39"']),
    (("add", "--name", "v42"), ["no PCR given"]),
    (("add", "--pcr", "0=" + H2), ["--name is required"]),
    (("remove",), ["--name is required"]),
    (("remove", "--name", "v41", "--pcr", "0=" + H2),
     ["takes --name only"]),
    (("deny", "--name", "v0", "--pcr", "0=" + H2, "--expect-every", "1m"),
     ["--expect-every is for allow sets only"]),
    (("add", "--name", "x" * 129, "--pcr", "0=" + H2),
     ["policy.json", '"name" must be']),
    (("add", "--name", "v42", "--kind", "nitrotpm", "--pcr", "30=" + H2),
     ["PCR 30 is not 0..23"]),
]


@pytest.mark.parametrize("args,needles", REFUSED_EDITS)
def test_refused_edit_leaves_the_file(nitro, base, args, needles):
    before, inode = raw(base), os.stat(base).st_ino
    r = nitro("policy", args[0], base, *args[1:])
    refused(r, "policy " + args[0], *needles)
    assert raw(base) == before and os.stat(base).st_ino == inode
    assert temp_files(base) == []


def test_remove_of_the_last_allow_set_is_refused(nitro, tmp_path):
    p = write(tmp_path / "p.json", {"allow": [pset("only", {0: H0})],
                                    "deny": [pset("old", {0: H1})]})
    before = raw(p)
    r = nitro("policy", "remove", p, "--name", "only")
    refused(r, "p.json", '"only" is the last allow set')
    assert raw(p) == before


@pytest.mark.parametrize("content,needle", [
    ('{"allow": [', "line"),
    ('{"allow": []}', '"allow" must not be empty'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}}], "owner": "ops"}' % H0,
     'unknown key "owner"'),
])
@pytest.mark.parametrize("cmd", ["add", "deny", "remove"])
def test_malformed_file_is_not_edited(nitro, tmp_path, content, needle, cmd):
    p = write(tmp_path / "p.json", content)
    args = ["--name", "b"] + ([] if cmd == "remove" else ["--pcr", "0=" + H1])
    r = nitro("policy", cmd, p, *args)
    refused(r, "p.json", needle)
    assert raw(p) == content.encode()


@pytest.mark.parametrize("files", [[], ["a.json", "b.json"]])
def test_edit_needs_exactly_one_file(nitro, tmp_path, files):
    r = nitro("policy", "add", *[str(tmp_path / f) for f in files],
              "--name", "x", "--pcr", "0=" + H0)
    refused(r, "exactly one FILE")


def test_edit_of_a_missing_file(nitro, tmp_path):
    r = nitro("policy", "remove", str(tmp_path / "none.json"), "--name", "a")
    refused(r, "none.json", "No such file")
    assert os.listdir(str(tmp_path)) == []


def test_concurrent_edits_all_land(tmp_path):
    """Editors started together on one file: every add, deny and remove
    is in the result and exits 0; an add of a name that exists still
    exits 2.  Each edit renames a new file over the path, so an editor
    that waited for another must edit the new file, not the old one."""
    for rnd in range(3):
        p = write(tmp_path / "p.json", {
            "allow": [pset("keep", {0: H0})] +
                     [pset("old%d" % i, {0: H1}) for i in range(5)],
            "deny": [pset("gone%d" % i, {0: H2}) for i in range(5)],
        })
        os.chmod(p, 0o640)
        edits = ([("add", "--name", "a%d" % i, "--pcr",
                   "0=" + "%02x" % (16 + i) * 48)
                  for i in range(20)] +
                 [("deny", "--name", "d%d" % i, "--pcr",
                   "1=" + "%02x" % (64 + i) * 48)
                  for i in range(10)] +
                 [("remove", "--name", "old%d" % i) for i in range(5)] +
                 [("remove", "--name", "gone%d" % i) for i in range(5)] +
                 [("add", "--name", "keep", "--pcr", "0=" + H8)])
        procs = [subprocess.Popen([str(CLI), "policy", e[0], p] +
                                  list(e[1:]), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
                 for e in edits]
        runs = [(e, pr.wait(timeout=60), pr.stderr.read().decode())
                for e, pr in zip(edits, procs)]
        for pr in procs:
            pr.stdout.close()
            pr.stderr.close()

        assert [r for r in runs[:-1] if r[1:] != (0, "")] == [], rnd
        assert runs[-1][1] == 2 and 'set "keep" exists' in runs[-1][2]
        after = read(p)
        assert sorted(s["name"] for s in after["allow"]) == sorted(
            ["keep"] + ["a%d" % i for i in range(20)]), rnd
        assert sorted(s["name"] for s in after["deny"]) == sorted(
            "d%d" % i for i in range(10)), rnd
        assert after["allow"][0] == pset("keep", {0: H0})
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
        assert temp_files(p) == []


# ---------------------------------------------------------------------------
# policy check: lint lines `FILE: SET: text`

def test_check_clean(nitro, base):
    assert check(nitro, base) == (0, [])


@pytest.mark.parametrize("doc,lines", [
    # an allow set pinning neither PCR0 nor PCR8 (deny and nitrotpm sets
    # are not about an image, so they are not warned)
    ({"allow": [pset("lax", {1: H1, 2: H2}), pset("signed", {8: H8}),
                pset("host", {4: H0}, kind="nitrotpm")],
      "deny": [pset("d", {1: H0})]},
     ["lax: pins neither PCR0 nor PCR8: it does not name an enclave "
      "image"]),
    # all-zero values, in allow and deny sets alike
    ({"allow": [pset("z", {0: H0, 3: ZERO, 4: "00" * 32})],
      "deny": [pset("dz", {1: "00" * 64})]},
     ["z: PCR3 is all zero", "z: PCR4 is all zero", "dz: PCR1 is all zero"]),
    ({"allow": [pset("a", {0: H0})], "allow_debug": True},
     ["-: allow_debug is true: debug enclaves (PCR0, PCR1 and PCR2 all "
      "zero) are accepted"]),
    # covered: every PCR of the deny set is in the allow set, same value
    ({"allow": [pset("v41", {0: H0, 1: H1, 2: H2}),
                pset("v42", {0: H2, 1: H1}),
                pset("v43", {0: H0})],
      "deny": [pset("cve", {0: H0.upper(), 1: H1}), pset("old", {1: H1}),
               pset("tpm", {0: H0}, kind="nitrotpm")]},
     ['v41: covered by deny set "cve": every document it allows is denied',
      'v41: covered by deny set "old": every document it allows is denied',
      'v42: covered by deny set "old": every document it allows is denied']),
    # the same PCRs (as a map: order and case do not matter), same kind
    ({"allow": [pset("a", {0: H0, 1: H1}), pset("b", {1: H1.upper(), 0: H0}),
                pset("c", {0: H0}, kind="nitrotpm"),
                pset("d", {0: H0, 1: H1, 2: H2})],
      "deny": [pset("e", {0: H0}, kind="nitrotpm"), pset("f", {0: H2})]},
     ['b: same PCRs as allow set "a"',
      'c: covered by deny set "e": every document it allows is denied',
      'e: same PCRs as allow set "c"']),
    # an allow set equal to a deny set is both covered and a repeat
    ({"allow": [pset("a", {0: H0})], "deny": [pset("d", {0: H0})]},
     ['a: covered by deny set "d": every document it allows is denied',
      'd: same PCRs as allow set "a"']),
])
def test_check_warnings(nitro, tmp_path, doc, lines):
    p = write(tmp_path / "p.json", doc)
    code, out = check(nitro, p)
    assert out == ["%s: %s" % (p, line) for line in lines]
    assert code == 1


def test_check_names_the_file_as_given(nitro, tmp_path):
    write(tmp_path / "p.json", {"allow": [pset("lax", {1: H1})]})
    # the runner works from the repository root
    rel = os.path.relpath(str(tmp_path / "p.json"), str(REPO))
    r = nitro("policy", "check", rel)
    assert r.code == 1
    assert r.stdout.startswith(rel + ": lax: ")


@pytest.mark.parametrize("content,needle", [
    ('{"allow": [', "line 1"),
    ('[]', "not a JSON object"),
    ('{"allow": []}', '"allow" must not be empty'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}, "kind": "vm"}]}' % H0,
     '"kind" must be "enclave" or "nitrotpm"'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}, "kind": 1}]}' % H0,
     '"kind" must be'),
    ('{"allow": [{"name": "a", "kind": "nitrotpm", "pcrs": {"24": "%s"}}]}'
     % H0, 'PCR index "24" is not 0..23'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}}, '
     '{"name": "a", "pcrs": {"1": "%s"}}]}' % (H0, H1), 'duplicate name'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}, "service": "pay"}]}'
     % H0, 'allow[0] ("a"): "service" without "version"'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}, "service": "pay", '
     '"version": "3"}]}' % H0, '"version" must be a whole number'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}, "version": 3}]}'
     % H0, '"version" without "service"'),
])
def test_check_malformed(nitro, tmp_path, content, needle):
    p = write(tmp_path / "p.json", content)
    r = nitro("policy", "check", p)
    refused(r, "policy check", p, needle)


def test_nitrotpm_set_up_to_pcr23_loads(nitro, tmp_path):
    p = write(tmp_path / "p.json", {"allow": [
        pset("a", {0: H0}, kind="enclave"),
        pset("b", {23: H0, 4: H1}, kind="nitrotpm")]})
    assert check(nitro, p) == (0, [])


def test_check_several_files(nitro, tmp_path, base):
    lax = write(tmp_path / "lax.json", {"allow": [pset("lax", {1: H1})]})
    bad = write(tmp_path / "bad.json", "{")
    r = nitro("policy", "check", base, lax)
    assert (r.code, r.stdout) == (1, "%s: lax: pins neither PCR0 nor PCR8: "
                                  "it does not name an enclave image\n"
                                  % lax)
    r = nitro("policy", "check", lax, bad, base)
    assert r.code == 2 and r.stdout.count("\n") == 1
    assert "bad.json" in one_line(r.stderr)


def test_check_usage(nitro, tmp_path):
    refused(nitro("policy", "check"), "no FILE given")
    refused(nitro("policy", "check", str(tmp_path / "none.json")),
            "none.json")
    refused(nitro("policy", "check", "--strict", "x"),
            "unknown option --strict")


@pytest.mark.parametrize("args,needle", [
    ((), "missing command"),
    (("edit",), 'unknown command "edit"'),
])
def test_policy_usage(nitro, args, needle):
    refused(nitro("policy", *args), needle)


def test_help_lists_the_policy_commands(nitro):
    r = nitro("--help")
    assert r.code == 0
    for cmd in ("new", "add|deny", "remove", "check"):
        assert "nitro-attest policy " + cmd in r.stdout
