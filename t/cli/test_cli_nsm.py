"""nitro-attest and the enclave's Nitro Secure Module:
`nsm attest|describe|pcr|extend|lock` and `cert --nsm`, and `cert`
refusing a document that does not attest its key.

There is no /dev/nsm here: the NSM is the emulator of t/nsm/nsm_emu.c
(t/lib/nsm.py), so the CLI under test is the shipped binary,
unmodified.  Its faults (NITRO_NSM_EMU_FAULT) play a failing driver and a
broken or hostile NSM; every request it gets is logged, so the tests see
the exact bytes the CLI sends.
"""

import hashlib
import os
import subprocess
import time

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import forge
from cli import Run, cert_document, check_extension, one_line
from files import write
from nsm import EMU, MODULE_ID, emulator_env
from repo import CLI, REPO

ZERO = bytes(48)


class Nsm:
    """An emulated NSM in a directory of its own: its device path, its PCR
    state and the log of the requests it got."""

    def __init__(self, directory, pki):
        self.dir = directory
        self.env = emulator_env(directory, pki)
        self.device = self.env["NITRO_NSM_EMU_DEVICE"]
        self.log = directory / "requests.log"

    def raw(self, *args, fault=None, env=None):
        e = dict(self.env, **(env or {}))
        if fault is not None:
            e["NITRO_NSM_EMU_FAULT"] = fault
        argv = [str(a) for a in args]
        p = subprocess.run([str(CLI)] + argv, cwd=REPO, env=e,
                           capture_output=True, timeout=60)
        return argv, p

    def run(self, *args, **kw) -> Run:
        argv, p = self.raw(*args, **kw)
        return Run(argv, p.returncode, p.stdout.decode(errors="replace"),
                   p.stderr.decode(errors="replace"))

    def ok(self, *args, **kw) -> Run:
        run = self.run(*args, **kw)
        assert run.code == 0 and run.stderr == "", run.describe()
        return run

    def requests(self) -> list:
        """Each request the NSM got, decoded."""
        if not self.log.exists():
            return []
        return [cbor2.loads(bytes.fromhex(line))
                for line in self.log.read_text().split()]

    def file(self, name, content) -> str:
        return write(self.dir / name, content)


@pytest.fixture
def nsm(tmp_path, mock_pki) -> Nsm:
    if not EMU.exists():
        pytest.fail("%s is missing: run `make build/nsm-emu.so` first" % EMU)
    return Nsm(tmp_path, mock_pki)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    """Client keys as PEM files: two P-256, one P-384, one Ed25519."""
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name, kind in (("a", "p256"), ("b", "p256"), ("p384", "p384"),
                       ("ed25519", "ed25519")):
        key = forge.new_key(kind)
        path = d / (name + ".pem")
        path.write_bytes(forge.key_pem(key))
        out[name] = (str(path), forge.spki_der(key))
    return out


def expect_nsm_failure(run, nsm, *fragments, code=1) -> str:
    """Exit code, nothing on stdout, one line naming the device and each
    fragment."""
    assert run.code == code and run.stdout == "", run.describe()
    line = one_line(run.stderr)
    assert nsm.device in line, line
    for f in fragments:
        assert f in line, line
    return line


def pcr_line(run) -> dict:
    ev = run.event
    assert ev.key_order == ["index", "locked", "value"], ev
    return ev


def extended(value: bytes, data: bytes) -> bytes:
    return hashlib.sha384(value + data).digest()


# ---------------------------------------------------------------------------
# nsm describe, pcr, extend, lock.

def test_describe_prints_one_json_line(nsm):
    run = nsm.ok("nsm", "describe")
    ev = run.event
    assert ev.key_order == ["module_id", "version", "max_pcrs",
                            "locked_pcrs", "digest"]
    assert ev == {"module_id": MODULE_ID, "version": "1.0.0", "max_pcrs": 32,
                  "locked_pcrs": list(range(16)), "digest": "SHA384"}
    assert run.stdout.count("\n") == 1
    assert nsm.requests() == ["DescribeNSM"]


def test_describe_says_what_the_nsm_says(nsm):
    ev = nsm.ok("nsm", "describe", env={
        "NITRO_NSM_EMU_MODULE_ID": "i-0abc-enc0000000000000001"}).event
    assert ev["module_id"] == "i-0abc-enc0000000000000001"


def test_pcr_prints_its_line(nsm):
    pcr0 = bytes(range(48))
    env = {"NITRO_NSM_EMU_PCRS": "0=" + pcr0.hex()}
    assert pcr_line(nsm.ok("nsm", "pcr", 0, env=env)) == \
        {"index": 0, "locked": True, "value": pcr0.hex()}
    assert pcr_line(nsm.ok("nsm", "pcr", "16")) == \
        {"index": 16, "locked": False, "value": ZERO.hex()}
    assert nsm.requests() == [{"DescribePCR": {"index": 0}},
                              {"DescribePCR": {"index": 16}}]


def test_extend_is_sha384_of_the_value_and_the_data(nsm):
    first = extended(ZERO, b"\x01\x02")
    assert pcr_line(nsm.ok("nsm", "extend", 16, "--data", "0102")) == \
        {"index": 16, "locked": False, "value": first.hex()}
    data = os.urandom(300)
    second = extended(first, data)
    ev = pcr_line(nsm.ok("nsm", "extend", 16, "--data",
                         "@" + nsm.file("data.bin", data)))
    assert ev["value"] == second.hex()
    assert pcr_line(nsm.ok("nsm", "pcr", 16))["value"] == second.hex()
    # another PCR is its own
    assert pcr_line(nsm.ok("nsm", "pcr", 17))["value"] == ZERO.hex()
    assert nsm.requests()[:2] == [
        {"ExtendPCR": {"index": 16, "data": b"\x01\x02"}},
        {"ExtendPCR": {"index": 16, "data": data}}]


def test_extend_with_no_bytes(nsm):
    assert pcr_line(nsm.ok("nsm", "extend", 20, "--data", ""))["value"] \
        == extended(ZERO, b"").hex()


def test_lock_then_extend_is_refused(nsm):
    nsm.ok("nsm", "extend", 16, "--data", "aa")
    value = extended(ZERO, b"\xaa").hex()
    assert pcr_line(nsm.ok("nsm", "lock", 16)) == \
        {"index": 16, "locked": True, "value": value}
    expect_nsm_failure(nsm.run("nsm", "extend", 16, "--data", "bb"), nsm,
                       "ReadOnlyIndex")
    assert pcr_line(nsm.ok("nsm", "pcr", 16))["value"] == value
    assert 16 in nsm.ok("nsm", "describe").event["locked_pcrs"]
    # locking, then reading what the NSM now holds
    assert nsm.requests()[1:3] == [{"LockPCR": {"index": 16}},
                                   {"DescribePCR": {"index": 16}}]


@pytest.mark.parametrize("args", [["extend", 0, "--data", "00"],
                                  ["lock", 15]])
def test_pcrs_locked_at_boot_stay_locked(nsm, args):
    expect_nsm_failure(nsm.run("nsm", *args), nsm, "ReadOnlyIndex")


@pytest.mark.parametrize("args", [
    ["pcr", 32], ["pcr", 65535], ["extend", 40, "--data", "00"],
    ["lock", 99]])
def test_an_index_the_nsm_refuses_exits_1_naming_invalid_index(nsm, args):
    """The CLI does not know how many PCRs the NSM has: it asks, and says
    what the NSM answered."""
    expect_nsm_failure(nsm.run("nsm", *args), nsm, "InvalidIndex")
    (request,) = nsm.requests()
    assert list(request.values())[0]["index"] == args[1]


def test_device_option_environment_and_default(nsm, tmp_path):
    absent = str(tmp_path / "absent")
    # --device wins over the environment
    nsm.ok("nsm", "describe", "--device", nsm.device,
           env={"NITRO_ATTEST_NSM_DEVICE": absent})
    run = nsm.run("nsm", "describe", "--device", absent)
    assert run.code == 1 and absent in one_line(run.stderr)
    # without either, /dev/nsm
    env = dict(nsm.env, NITRO_NSM_EMU_DEVICE="/dev/nsm")
    del env["NITRO_ATTEST_NSM_DEVICE"]
    p = subprocess.run([str(CLI), "nsm", "pcr", "1"], env=env,
                       capture_output=True, timeout=60)
    assert p.returncode == 0 and b'"index":1' in p.stdout, p


# ---------------------------------------------------------------------------
# nsm attest.

def test_attest_document_verifies_and_carries_what_was_asked(
        nsm, keys, mock_pki):
    key, spki = keys["a"]
    nonce = os.urandom(32)
    out = nsm.dir / "doc.cose"
    nsm.ok("nsm", "extend", 16, "--data", "01")
    nsm.ok("nsm", "lock", 16)
    nsm.ok("nsm", "attest", "--key", key, "--user-data", "c0ffee",
           "--nonce", "@" + nsm.file("nonce", nonce), "--out", out)
    cose = out.read_bytes()
    d = forge.decode(cose)
    assert (d["public_key"], d["user_data"], d["nonce"]) == \
        (spki, b"\xc0\xff\xee", nonce)
    assert d["module_id"] == MODULE_ID
    # the locked PCRs, as the NSM holds them
    assert sorted(d["pcrs"]) == list(range(17))
    for i in (0, 16):
        value = pcr_line(nsm.ok("nsm", "pcr", i))["value"]
        assert d["pcrs"][i].hex() == value
    ev = nsm.ok("verify", "--root", os.path.join(mock_pki, "root.pem"),
                out).event
    assert ev["status"] == "SUCCESS", ev
    # extend, lock and its read, then this, in serde's field order, byte
    # for byte
    request = bytes.fromhex(nsm.log.read_text().split()[3])
    assert request == cbor2.dumps({"Attestation": {
        "user_data": b"\xc0\xff\xee", "nonce": nonce, "public_key": spki}})


def test_attest_writes_standard_output(nsm, keys):
    _, p = nsm.raw("nsm", "attest", "--key", keys["p384"][0])
    assert p.returncode == 0 and p.stderr == b"", p
    assert forge.decode(p.stdout)["public_key"] == keys["p384"][1]


@pytest.mark.parametrize("form", ["der", "pem"])
def test_attest_public_key_file(nsm, keys, form):
    key = serialization.load_der_public_key(keys["b"][1])
    content = key.public_bytes(
        serialization.Encoding.DER if form == "der"
        else serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    _, p = nsm.raw("nsm", "attest", "--public-key",
                   nsm.file("spki." + form, content))
    assert p.returncode == 0, p
    assert forge.decode(p.stdout)["public_key"] == keys["b"][1]


def test_attest_asks_nothing_it_was_not_given(nsm):
    _, p = nsm.raw("nsm", "attest")
    assert p.returncode == 0, p
    d = forge.decode(p.stdout)
    assert (d.get("public_key"), d.get("user_data"), d.get("nonce")) == \
        (None, None, None)
    assert nsm.requests() == [{"Attestation": {
        "user_data": None, "nonce": None, "public_key": None}}]


def test_attest_a_field_too_large_for_the_nsm(nsm):
    """1025 bytes of user_data: the NSM refuses (InputTooLarge)."""
    expect_nsm_failure(nsm.run("nsm", "attest", "--user-data", "ab" * 1025),
                       nsm, "InputTooLarge")


def test_a_request_larger_than_the_driver_takes_is_not_sent(nsm):
    run = nsm.run("nsm", "extend", 16, "--data", "00" * 5000)
    assert run.code == 2 and run.stdout == "", run.describe()
    assert "4096" in one_line(run.stderr)
    assert nsm.requests() == []


# ---------------------------------------------------------------------------
# cert --nsm.

@pytest.mark.parametrize("binding", ["public_key", "user_data_spki",
                                     "user_data_sha256", "user_data_sha384"])
def test_cert_nsm_makes_a_certificate_that_verifies(nsm, keys, mock_pki,
                                                    binding):
    key, spki = keys["a"]
    out = nsm.dir / "enclave.pem"
    nsm.ok("cert", "--nsm", "--key", key, "--binding", binding,
           "--nonce", "0a0b", "--days", 2, "--out", out)
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert forge.spki_der(cert.public_key()) == spki
    d = forge.decode(cert_document(out))
    want = {"public_key": spki, "user_data_spki": spki,
            "user_data_sha256": hashlib.sha256(spki).digest(),
            "user_data_sha384": hashlib.sha384(spki).digest()}[binding]
    field = "public_key" if binding == "public_key" else "user_data"
    assert d[field] == want and d["nonce"] == b"\x0a\x0b"
    root = os.path.join(mock_pki, "root.pem")
    ev = nsm.ok("verify", "--root", root, "--binding", binding, out).event
    assert (ev["status"], ev["binding"]) == ("SUCCESS", binding), ev


def test_cert_nsm_verifies_as_nginx_would_take_it(nsm, keys, mock_pki):
    """The defaults of verify are the module's: binding public_key."""
    out = nsm.dir / "enclave.pem"
    nsm.ok("cert", "--nsm", "--key", keys["ed25519"][0], "--out", out)
    root = os.path.join(mock_pki, "root.pem")
    assert nsm.ok("verify", "--root", root, out).event["status"] == "SUCCESS"
    check_extension(x509.load_pem_x509_certificate(out.read_bytes()),
                    cert_document(out))


def test_cert_nsm_user_data(nsm, keys):
    out = nsm.dir / "enclave.pem"
    nsm.ok("cert", "--nsm", "--key", keys["a"][0], "--user-data", "beef",
           "--out", out)
    assert forge.decode(cert_document(out))["user_data"] == b"\xbe\xef"


@pytest.mark.parametrize("args", [
    ["--nsm", "--doc", "DOC"],
    [],
    ["--doc", "DOC", "--nonce", "00"],
    ["--doc", "DOC", "--device", "/dev/nsm"],
    ["--nsm", "--binding", "user_data_spki", "--user-data", "00"],
    ["--nsm", "--binding", "nope"],
    ["--nsm", "--binding", "none"],
    ["--nsm", "--nonce", "xyz"],
    ["--nsm", "--user-data", "@/nonexistent/file"],
], ids=lambda a: "_".join(a) or "neither")
def test_cert_usage_errors_exit_2(nsm, keys, c, args):
    doc = nsm.file("doc", c.cose(public_key=keys["a"][1]))
    out = nsm.dir / "out.pem"
    run = nsm.run("cert", "--key", keys["a"][0], "--out", out,
                  *[doc if a == "DOC" else a for a in args])
    assert run.code == 2 and run.stdout == "", run.describe()
    one_line(run.stderr)
    assert not out.exists() and nsm.requests() == []


# ---------------------------------------------------------------------------
# cert refuses a document that does not attest its key.

def other_key_documents(c, spki, other):
    """binding -> a document that attests another key under it"""
    return {
        "public_key": c.cose(public_key=other),
        "public_key_null": c.cose(),
        "user_data_spki": c.cose(public_key=spki, user_data=other),
        "user_data_sha256": c.cose(
            public_key=spki, user_data=hashlib.sha256(other).digest()),
        "user_data_sha384": c.cose(
            public_key=spki, user_data=hashlib.sha384(spki).digest()[:32]),
    }


@pytest.mark.parametrize("case", ["public_key", "public_key_null",
                                  "user_data_spki", "user_data_sha256",
                                  "user_data_sha384"])
def test_cert_refuses_a_document_of_another_key(nitro, c, keys, tmp_path,
                                                case):
    key, spki = keys["a"]
    doc = tmp_path / "doc.cose"
    doc.write_bytes(other_key_documents(c, spki, keys["b"][1])[case])
    binding = case.replace("_null", "")
    # public_key is the default
    args = ["--binding", binding] if binding != "public_key" else []
    out = tmp_path / "client.pem"
    run = nitro("cert", "--key", key, "--doc", doc, "--out", out, *args)
    assert run.code == 2 and run.stdout == "", run.describe()
    assert "binding_mismatch" in one_line(run.stderr)
    assert not out.exists()
    # nothing written: a certificate already there stays as it was
    out.write_bytes(b"previous")
    assert nitro("cert", "--key", key, "--doc", doc, "--out", out,
                 *args).code == 2
    assert out.read_bytes() == b"previous"


@pytest.mark.parametrize("binding", ["user_data_spki", "user_data_sha256",
                                     "user_data_sha384"])
def test_cert_doc_takes_a_user_data_binding(nitro, c, keys, tmp_path, binding):
    key, spki = keys["a"]
    user_data = {"user_data_spki": spki,
                 "user_data_sha256": hashlib.sha256(spki).digest(),
                 "user_data_sha384": hashlib.sha384(spki).digest()}[binding]
    doc = tmp_path / "doc.cose"
    doc.write_bytes(c.cose(user_data=user_data))
    out = tmp_path / "client.pem"
    run = nitro("cert", "--key", key, "--doc", doc, "--binding", binding,
                "--out", out)
    assert run.code == 0, run.describe()
    ev = nitro("verify", "--root", c.pki.root_pem, "--at", c.at,
               "--binding", binding, out).event
    assert ev["status"] == "SUCCESS", ev


def test_cert_judges_the_binding_only(nitro, c, keys, tmp_path):
    """An old document of an untrusted PKI still wraps: verify judges
    that."""
    key, spki = keys["a"]
    doc = tmp_path / "doc.cose"
    doc.write_bytes(c.cose(pki=c.other, public_key=spki,
                           timestamp_ms=c.t0 - 86400000))
    out = tmp_path / "client.pem"
    run = nitro("cert", "--key", key, "--doc", doc, "--out", out)
    assert run.code == 0 and out.exists(), run.describe()


# ---------------------------------------------------------------------------
# A missing device, a failed ioctl, an answer that does not
# decode, an NSM error: exit 1, one line naming the device and the error.

COMMANDS = {
    "describe": ["nsm", "describe"],
    "pcr": ["nsm", "pcr", "1"],
    "extend": ["nsm", "extend", "16", "--data", "00"],
    "lock": ["nsm", "lock", "16"],
    "attest": ["nsm", "attest", "--key", "KEY"],
    "cert": ["cert", "--nsm", "--key", "KEY", "--out", "OUT"],
}

FAULTS = [
    ("errno=EIO", "Input/output error"),
    ("errno=EPERM", "Operation not permitted"),
    ("errno=ENOTTY", "Inappropriate ioctl for device"),
    ("open=EACCES", "Permission denied"),
    ("open=ENOENT", "No such file or directory"),
    ("error=InternalError", "InternalError"),
    ("error=InvalidOperation", "InvalidOperation"),
    ("truncate=0", "undecodable answer: empty"),
    ("truncate=7", "undecodable answer"),
    ("reply=fc", "undecodable answer"),
    ("reply=" + cbor2.dumps(["DescribeNSM"]).hex(), "undecodable answer"),
    ("oversize", "undecodable answer"),
]


def command(nsm, keys, name):
    return [keys["a"][0] if a == "KEY" else nsm.dir / "out.pem" if a == "OUT"
            else a for a in COMMANDS[name]]


@pytest.mark.parametrize("fault,fragment", FAULTS,
                         ids=[f for f, _ in FAULTS])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_fault_exits_1_with_one_line(nsm, keys, name, fault, fragment):
    run = nsm.run(*command(nsm, keys, name), fault=fault)
    expect_nsm_failure(run, nsm, fragment)
    assert not (nsm.dir / "out.pem").exists()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_missing_device_exits_1(nsm, keys, name, tmp_path):
    absent = str(tmp_path / "no-such-device")
    run = nsm.run(*command(nsm, keys, name),
                  env={"NITRO_ATTEST_NSM_DEVICE": absent})
    assert run.code == 1 and run.stdout == "", run.describe()
    line = one_line(run.stderr)
    assert absent in line and "No such file or directory" in line, line


def test_no_nsm_at_all(tmp_path):
    """Outside an enclave, without the emulator: /dev/nsm is missing."""
    if os.path.exists("/dev/nsm"):
        pytest.skip("this machine has an NSM")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NITRO_ATTEST_NSM", "NITRO_NSM_EMU"))}
    p = subprocess.run([str(CLI), "nsm", "describe"], env=env,
                       capture_output=True, timeout=60)
    assert p.returncode == 1 and p.stdout == b"", p
    assert p.stderr.decode().strip() == \
        "nitro-attest: nsm describe: /dev/nsm: No such file or directory"


def test_a_fault_of_another_request_leaves_this_one(nsm, keys):
    nsm.ok("nsm", "describe", fault="errno=EIO,only=Attestation")
    expect_nsm_failure(nsm.run("nsm", "attest", "--key", keys["a"][0],
                               fault="errno=EIO,only=Attestation"),
                       nsm, "Attestation", "Input/output error")


def test_a_slow_answer_is_waited_for(nsm):
    start = time.monotonic()
    nsm.ok("nsm", "pcr", 2, fault="slow=400")
    assert time.monotonic() - start >= 0.4


def describe_answer(**changes):
    fields = {"version_major": 1, "version_minor": 2, "version_patch": 3,
              "module_id": MODULE_ID, "max_pcrs": 32,
              "locked_pcrs": [0, 1, 2], "digest": "SHA384"}
    fields.update(changes)
    return {"DescribeNSM": {k: v for k, v in fields.items()
                            if v is not DROP}}


DROP = object()
PCR_ANSWER = {"DescribePCR": {"lock": False, "data": ZERO}}

# answers that must not be taken: (command, answer, what the line says)
BAD_ANSWERS = [
    ("describe", cbor2.dumps(describe_answer()) + b"\x00", "bytes after"),
    ("describe", PCR_ANSWER, "answered DescribePCR"),
    ("describe", describe_answer(digest=DROP), "no digest"),
    ("describe", describe_answer(version_major="1"),
     "version_major is not an unsigned integer"),
    ("describe", describe_answer(version_minor=70000),
     "version_minor is out of range"),
    ("describe", describe_answer(max_pcrs=-1), "max_pcrs"),
    ("describe", describe_answer(locked_pcrs=[32]), "locked_pcrs"),
    ("describe", describe_answer(locked_pcrs=[1, -1]), "locked_pcrs"),
    ("describe", describe_answer(locked_pcrs={1: 1}), "locked_pcrs"),
    ("describe", describe_answer(digest="MD5"), "digest"),
    ("describe", describe_answer(module_id=""), "module_id"),
    ("describe", describe_answer(module_id="i-0\n-enc1"), "module_id"),
    ("describe", describe_answer(module_id=b"i-0"), "module_id"),
    ("describe", "DescribeNSM", "DescribeNSM in another form"),
    ("describe", {"DescribeNSM": [1, 2]}, "not a map"),
    ("describe", [describe_answer()], "not one variant"),
    ("describe", {"DescribeNSM": {}, "Error": "X"}, "not one variant"),
    ("describe", 7, "not one variant"),
    ("pcr", {"DescribePCR": {"lock": 0, "data": ZERO}},
     "lock is not a boolean"),
    ("pcr", {"DescribePCR": {"lock": False, "data": bytes(47)}},
     "47 bytes"),
    ("pcr", {"DescribePCR": {"lock": False, "data": ZERO.hex()}},
     "data is not a byte string"),
    ("pcr", {"DescribePCR": {"lock": False}}, "no data"),
    ("pcr", {"Error": 5}, "code is not a name"),
    ("pcr", {"Error": "X" * 100}, "code is not a name"),
    ("pcr", {"Error": "Invalid\nIndex"}, "code is not a name"),
    ("pcr", {"Fabricated\x1b[31m": {}}, "answered another variant"),
    ("extend", {"ExtendPCR": {"data": bytes(49)}}, "49 bytes"),
    ("lock", {"LockPCR": None}, "LockPCR in another form"),
    ("lock", "DescribeNSM", "answered DescribeNSM"),
    ("attest", {"Attestation": {"document": b"not a document"}},
     "the document is malformed_document"),
    ("attest", {"Attestation": {"document": "text"}},
     "document is not a byte string"),
    ("attest", {"Attestation": {}}, "no document"),
]


def encoded(answer) -> str:
    return (answer if isinstance(answer, bytes) else cbor2.dumps(answer)).hex()


@pytest.mark.parametrize("name,answer,fragment", BAD_ANSWERS,
                         ids=["%s-%d" % (b[0], i)
                              for i, b in enumerate(BAD_ANSWERS)])
def test_an_answer_that_does_not_decode_exits_1(nsm, keys, name, answer,
                                                fragment):
    run = nsm.run(*command(nsm, keys, name),
                  fault="reply=" + encoded(answer))
    line = expect_nsm_failure(run, nsm, fragment)
    assert "\x1b" not in line and "Fabricated" not in line


def test_a_repeated_field_does_not_decode(nsm):
    # {"DescribeNSM": map of 8 entries, the last one digest again}
    answer = bytearray(cbor2.dumps(describe_answer()))
    head = len(cbor2.dumps({"DescribeNSM": None})) - 1
    assert answer[head] == 0xa7
    answer[head] = 0xa8
    answer += cbor2.dumps("digest") + cbor2.dumps("SHA384")
    expect_nsm_failure(nsm.run("nsm", "describe",
                               fault="reply=" + bytes(answer).hex()),
                       nsm, "digest twice")


def test_fields_the_cli_does_not_know_are_skipped(nsm):
    """As serde skips them: an NSM may add fields in a minor version."""
    answer = describe_answer()
    answer["DescribeNSM"]["future"] = {"nested": [1, 2, {"x": b"y"}]}
    ev = nsm.ok("nsm", "describe", fault="reply=" + encoded(answer)).event
    assert ev == {"module_id": MODULE_ID, "version": "1.2.3", "max_pcrs": 32,
                  "locked_pcrs": [0, 1, 2], "digest": "SHA384"}


def test_locked_pcrs_is_a_set(nsm):
    """serde reads locked_pcrs into a set: any order, repeats once."""
    answer = describe_answer(locked_pcrs=[16, 3, 0, 16, 31, 1])
    ev = nsm.ok("nsm", "describe", fault="reply=" + encoded(answer)).event
    assert ev["locked_pcrs"] == [0, 1, 3, 16, 31]


def test_a_document_for_another_request_is_refused(nsm, keys, c):
    """A well-formed document that does not carry what was asked (here:
    another key, or another nonce) is not taken for this request's."""
    other = c.cose(public_key=keys["b"][1])
    answer = encoded({"Attestation": {"document": other}})
    expect_nsm_failure(nsm.run("nsm", "attest", "--key", keys["a"][0],
                               fault="reply=" + answer),
                       nsm, "public_key is not the one asked for")
    asked = c.cose(public_key=keys["a"][1], nonce=b"\x01")
    answer = encoded({"Attestation": {"document": asked}})
    expect_nsm_failure(nsm.run("nsm", "attest", "--key", keys["a"][0],
                               "--nonce", "02", fault="reply=" + answer),
                       nsm, "nonce is not the one asked for")


def test_a_fault_that_comes_and_goes(nsm, keys):
    """Faults read from a file at each request: a renewal loop sees the
    NSM fail, then recover."""
    faults = nsm.dir / "faults"
    faults.write_text("errno=EIO\n")
    expect_nsm_failure(nsm.run("nsm", "describe", fault="@%s" % faults),
                       nsm, "Input/output error")
    faults.write_text("")
    nsm.ok("nsm", "describe", fault="@%s" % faults)


# ---------------------------------------------------------------------------
# Usage errors exit 2, and nothing reaches the NSM.

@pytest.mark.parametrize("args", [
    ["nsm"], ["nsm", "frobnicate"], ["nsm", "pcr"], ["nsm", "pcr", "x"],
    ["nsm", "pcr", "-1"], ["nsm", "pcr", "65536"], ["nsm", "pcr", "1", "2"],
    ["nsm", "pcr", "0x10"], ["nsm", "pcr", "1", "--data", "00"],
    ["nsm", "lock"], ["nsm", "extend", "16"],
    ["nsm", "extend", "16", "--data", "xyz"],
    ["nsm", "extend", "16", "--data", "abc"],
    ["nsm", "extend", "16", "--data", "@/nonexistent/file"],
    ["nsm", "describe", "extra"], ["nsm", "describe", "--frobnicate"],
    ["nsm", "attest", "--key", "KEY", "--public-key", "KEY"],
    ["nsm", "attest", "--public-key", "KEY"],
    ["nsm", "attest", "--key", "/nonexistent/key.pem"],
    ["nsm", "attest", "--nonce", "zz"], ["nsm", "attest", "file"],
    ["nsm", "attest", "--out"],
], ids=lambda a: "_".join(a).replace("/", "") or "none")
def test_usage_errors_exit_2(nsm, keys, args):
    run = nsm.run(*[keys["a"][0] if a == "KEY" else a for a in args])
    assert run.code == 2 and run.stdout == "", run.describe()
    one_line(run.stderr)
    assert nsm.requests() == []


@pytest.mark.parametrize("topic", ["nsm", "nsm attest", "nsm describe",
                                   "nsm pcr", "nsm extend", "nsm lock"])
def test_help(nitro, topic):
    run = nitro(*topic.split(), "--help")
    assert run.code == 0 and run.stdout.startswith(
        "usage: nitro-attest " + topic), run.describe()
    assert run.stdout == nitro("help", *topic.split()).stdout
