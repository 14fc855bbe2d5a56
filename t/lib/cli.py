"""cli.py: runs nitro-attest and checks what a user reads from it: the JSON
line of a verdict, the one-line message of a refusal, the exit status;
and Forgery, the inputs the CLI tests forge from the session's PKI."""

import hashlib
import itertools
import json
import os
import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import cbor2
from cryptography import x509

import forge
from events import CRITICAL, MEASURED, VERDICT_KEYS
from files import write
from repo import CLI, REPO


@dataclass
class Run:
    """One nitro-attest invocation."""
    args: list
    code: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list:
        """stdout parsed as one JSON object per line, key order kept."""
        return [json.loads(line, object_pairs_hook=_ordered)
                for line in self.stdout.splitlines()]

    @property
    def event(self) -> dict:
        events = self.events
        assert len(events) == 1, self.describe()
        return events[0]

    def describe(self) -> str:
        return "nitro-attest %s\nexit %d\nstdout: %s\nstderr: %s" % (
            " ".join(str(a) for a in self.args), self.code, self.stdout,
            self.stderr)


class _OrderedDict(dict):
    """A dict that also remembers the key order it was read with."""


def _ordered(pairs):
    d = _OrderedDict(pairs)
    d.key_order = [k for k, _ in pairs]
    return d


def run(*args, stdin=None) -> Run:
    """nitro-attest ARGS from the repository root."""
    argv = [str(a) for a in args]
    p = subprocess.run([str(CLI)] + argv, cwd=REPO, input=stdin,
                       capture_output=True, timeout=60)
    return Run(argv, p.returncode, p.stdout.decode(errors="replace"),
               p.stderr.decode(errors="replace"))


# ---------------------------------------------------------------------------
# What a user reads.

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MEASUREMENTS = ["module_id", "timestamp_ms", "age_s", "digest", "pcrs",
                "user_data", "nonce", "policy", "policy_allowed"]


def check_shape(ev: dict) -> None:
    """Every key of a verdict line, in order, and the fixed-form ones
    right."""
    assert ev.key_order == VERDICT_KEYS
    assert ev["event_type"] == "enclave_attestation"
    assert TIME_RE.match(ev["time"]), ev["time"]
    assert ev["cache"] == "off"
    assert ev["resumed"] is False
    assert type(ev["verify_us"]) is int and ev["verify_us"] >= 0


def check_measured(ev: dict) -> None:
    """Signature and chain held: the measurements are reported."""
    assert isinstance(ev["module_id"], str) and ev["module_id"]
    assert type(ev["timestamp_ms"]) is int
    assert type(ev["age_s"]) is int
    assert ev["digest"] == "SHA384"
    assert isinstance(ev["pcrs"], dict) and ev["pcrs"]
    for k, v in ev["pcrs"].items():
        assert re.fullmatch(r"[0-9]|[12][0-9]|3[01]", k)
        assert re.fullmatch(r"([0-9a-f]{64}){1,2}|[0-9a-f]{96}", v), v


def expect_success(run) -> dict:
    assert run.code == 0, run.describe()
    ev = run.event
    check_shape(ev)
    assert (ev["status"], ev["reason"], ev["severity"]) == \
        ("SUCCESS", None, "INFO"), run.describe()
    check_measured(ev)
    return ev


def expect_failure(run, reason: str, code: int = 1) -> dict:
    ev = run.event
    check_shape(ev)
    assert (ev["status"], ev["reason"]) == ("FAILED", reason), run.describe()
    assert run.code == code, run.describe()
    assert ev["severity"] == ("CRITICAL" if reason in CRITICAL
                              else "WARNING")
    if reason in MEASURED:
        check_measured(ev)
    else:
        for k in MEASUREMENTS:
            assert ev[k] is None, "%s should be null for %s" % (k, reason)
    return ev


def expect(run, reason) -> dict:
    """expect_success, or expect_failure with reason when it is not None."""
    if reason is None:
        return expect_success(run)
    return expect_failure(run, reason)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), repr(stderr)
    return lines[0]


def refused(run, *needles) -> str:
    """Exit 2, nothing on stdout, one line on stderr holding needles."""
    assert run.code == 2, run.describe()
    assert run.stdout == "", run.describe()
    line = one_line(run.stderr)
    for needle in needles:
        assert needle in line, line
    return line


def hexes(pcrs: dict) -> dict:
    return {str(i): v.hex() for i, v in sorted(pcrs.items())}


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha384(b: bytes) -> str:
    return hashlib.sha384(b).hexdigest()


def check_extension(cert, cose: bytes) -> None:
    """cert (an x509.Certificate) carries cose in one non-critical
    attestation extension."""
    exts = [e for e in cert.extensions
            if e.oid.dotted_string == forge.DEFAULT_OID]
    assert len(exts) == 1 and exts[0].critical is False
    value = exts[0].value.value
    assert value in (forge.cmw_extension(cose),
                     forge.cmw_extension(cose, indicator=None))


def cert_document(cert_path) -> bytes:
    """The document a client certificate (PEM or DER file) carries."""
    data = Path(cert_path).read_bytes()
    cert = x509.load_pem_x509_certificate(data) if data.startswith(b"-----") \
        else x509.load_der_x509_certificate(data)
    ext = cert.extensions.get_extension_for_oid(
        x509.ObjectIdentifier(forge.DEFAULT_OID))
    _, off, n = forge.der_split(ext.value.value)
    record = cbor2.loads(ext.value.value[off:off + n])
    assert record[0] == forge.CMW_TYPE
    return record[1]


def mock_cert(nitro, pki_dir, directory, *options, code=0):
    """`mock cert --pki pki_dir OPTIONS` into directory, which must exit
    with code: (run, key path, certificate path)."""
    key, cert = directory / "client.key", directory / "client.pem"
    run = nitro("mock", "cert", "--pki", pki_dir, *options,
                "--out-key", key, "--out-cert", cert)
    assert run.code == code, run.describe()
    return run, key, cert


# ---------------------------------------------------------------------------
# Inputs: forged from the session PKI at t0, verified at t0 + 1 s.

DEFAULT = object()


class Forgery:
    def __init__(self, pki, other, keys, t0, directory):
        self.pki, self.other, self.keys, self.t0 = pki, other, keys, t0
        self.at = t0 + 1000
        self.dir = directory
        self.count = itertools.count()

    def doc(self, pki=None, **kw) -> forge.Document:
        kw.setdefault("timestamp_ms", self.t0)
        return forge.document(pki or self.pki, **kw)

    def cose(self, **kw) -> bytes:
        return self.doc(**kw).cose

    def spki(self, kind="p384") -> bytes:
        return forge.spki_der(self.keys[kind])

    def cert(self, kind="p384", bind=True, cert_kw=None, **doc_kw) -> bytes:
        """A client certificate for keys[kind] carrying a document whose
        public_key is that key (bind=False: left as given)."""
        if bind:
            doc_kw.setdefault("public_key", self.spki(kind))
        cose = self.cose(**doc_kw)
        return forge.client_cert(self.keys[kind], cose, **(cert_kw or {}))

    def plain_cert(self, kind="p384") -> bytes:
        """A certificate for keys[kind] with no attestation extension."""
        return forge.client_cert(self.keys[kind])

    def file(self, content, suffix="") -> str:
        return write(os.path.join(self.dir, "f%d%s" % (next(self.count),
                                                       suffix)), content)

    def policy(self, *allow, deny=(), allow_debug=None, upper=False) -> str:
        return self.file(forge.policy(allow, deny, allow_debug, upper),
                         ".json")

    def variant(self, name, **changes) -> forge.Pki:
        spec = forge.default_specs(self.t0)[name]
        return self.pki.reissue(name, replace(spec, **changes))

    def expired_leaf(self, ts=None):
        ts = self.t0 if ts is None else ts
        return self.pki.leaf(ts, before_ms=3 * forge.HOUR_MS,
                             after_ms=-(ts - self.t0) - 1000)
