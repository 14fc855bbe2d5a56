#!/usr/bin/python3
"""make-corpus.py: seed corpora for the fuzz targets, generated into
build/fuzz/ (never committed: they are large and made in seconds).

    fuzz/make-corpus.py BUILD_FUZZ_DIR

Signs with fuzz/pki (a `nitro-attest mock pki`, committed: the fuzz
targets and the regression replays pin its root, and libFuzzer's
accumulated corpus and fuzz/regressions/ hold documents it signed; its
certificates expiring does not matter, every input is verified at its own
document's time).  Writes BUILD_FUZZ_DIR/seeds/<target>/ afresh:
the real AWS documents and certificates of t/fixtures/real, certificates
from `nitro-attest mock cert` of every key type, and forge.py documents
and certificates with the shapes the bug history names (indefinite maps,
tag 18, 1024-byte fields, 32 PCRs, unknown and nested keys, raw and
critical extensions, two extensions, cabundles of 16 and 17 entries,
compressed points).  Every seed verifies, or fails in
one named way, at its own timestamp: the targets verify at that time.
"""

import base64
import datetime
import glob
import hashlib
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "t", "lib"))

import cbor2  # noqa: E402
import forge  # noqa: E402
from cryptography import x509  # noqa: E402

CLI = os.path.join(REPO, "build", "nitro-attest")
REAL = os.path.join(REPO, "t", "fixtures", "real")
PCR0 = "aa" * 48             # fuzz_common.h's allow set "mock-v1"
DENIED_PCR0 = "bb" * 48      # and its deny set "mock-v0"
KEY_TYPES = ("p384", "p256", "p521", "rsa2048", "rsa4096", "ed25519")
TARGETS = ("extension", "document", "verify", "policy", "misc", "nsm")


def run(*argv):
    subprocess.run([str(a) for a in argv], check=True,
                   stdout=subprocess.DEVNULL)


class Seeds:
    def __init__(self, root):
        self.root = root
        self.count = 0
        for t in TARGETS:
            shutil.rmtree(os.path.join(root, t), ignore_errors=True)
            os.makedirs(os.path.join(root, t))

    def add(self, target, name, data):
        if isinstance(data, str):
            data = data.encode()
        path = os.path.join(self.root, target, name)
        with open(path, "wb") as f:
            f.write(data)
        self.count += 1
        return path


def pem_to_der(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(
            forge.serialization.Encoding.DER)


def timestamp_for(pki_dir):
    """A time every certificate of the mock PKI is valid at."""
    cert = x509.load_pem_x509_certificate(
        open(os.path.join(pki_dir, "instance.pem"), "rb").read())
    start = cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    return int(start.timestamp() * 1000) + forge.DAY_MS + 123


def mock_certs(seeds, work, pki_dir, ts):
    """`nitro-attest mock cert` of every key type and some options."""
    cases = [("p384", ["--pcr", "0=" + PCR0]),
             ("p384-denied", ["--pcr", "0=" + DENIED_PCR0]),
             ("p384-debug", []),
             ("p384-fields", ["--pcr", "0=" + PCR0, "--user-data", "ab" * 512,
                              "--nonce", "cd" * 512])]
    cases += [(k, ["--key-type", k, "--pcr", "0=" + PCR0])
              for k in KEY_TYPES if k != "p384"]
    out = []
    for name, args in cases:
        cert = os.path.join(work, name + ".pem")
        run(CLI, "mock", "cert", "--pki", pki_dir, "--timestamp", ts,
            "--out-key", os.path.join(work, name + ".key"),
            "--out-cert", cert, *args)
        der = pem_to_der(cert)
        out.append(seeds.add("verify", "mock-" + name, der))
        seeds.add("extension", "mock-" + name, der)
    return out


def forged(seeds, pki, ts):
    """forge.py documents and certificates, each in a shape of its own."""
    pcrs = forge.default_pcrs()
    pcrs[0] = bytes.fromhex(PCR0)
    key = forge.new_key()
    spki = forge.spki_der(key)

    def doc(**kw):
        kw.setdefault("timestamp_ms", ts)
        kw.setdefault("pcrs", pcrs)
        return forge.document(pki, **kw).cose

    nested = b"\x81" * 14 + b"\xa0"
    leaf = pki.leaf(ts)
    docs = {
        "default": doc(public_key=spki),
        "indefinite": doc(indefinite=True, public_key=spki),
        "tag18": doc(tag18=True, public_key=spki),
        "fields-1024": doc(public_key=b"k" * 1024, user_data=b"u" * 1024,
                           nonce=b"n" * 1024),
        "fields-null": doc(public_key=None, user_data=None, nonce=None),
        "fields-absent": doc(public_key=forge.ABSENT, user_data=forge.ABSENT,
                             nonce=forge.ABSENT),
        "pcrs-32": doc(pcrs={**forge.default_pcrs(32), 0: pcrs[0]}),
        "pcrs-64-bytes": doc(pcrs=forge.default_pcrs(16, 64)),
        "debug": doc(pcrs=forge.debug_pcrs()),
        "nitrotpm": doc(kind="nitrotpm", pcrs=forge.tpm_pcrs(),
                        public_key=spki),
        "nitrotpm-raw-point": doc(kind="nitrotpm", pcrs=forge.tpm_pcrs(),
                                  public_key=b"\x04" + b"p" * 64),
        "both-pcr-maps": doc(extra=[(forge.tstr("nitrotpm_pcrs"),
                                     forge.pcr_map(forge.tpm_pcrs()))]),
        "unknown-keys": doc(extra=[
            (forge.tstr("measurements"), forge.cbor_map([])),
            (forge.tstr("nested"), nested),
            (forge.tstr("tagged"), forge.tag(1, forge.uint(5))),
            (forge.tstr("chunked"), b"\x5f\x41a\x41b\xff")]),
        "unprotected-kid": doc(unprotected=forge.cbor_map(
            [(forge.uint(4), forge.bstr(b"kid"))])),
        "cabundle-16": doc(cabundle=pki.cabundle() + [pki.instance.der] * 12),
        "cabundle-17": doc(cabundle=pki.cabundle() + [pki.instance.der] * 13),
        "leaf-compressed-point": doc(certificate=forge.with_spki(
            leaf.der, forge.compressed_spki(leaf.key), pki.instance.key),
            leaf=leaf),
        "instance-compressed-point": doc(cabundle=pki.cabundle()[:3] + [
            forge.with_spki(pki.instance.der,
                            forge.compressed_spki(pki.instance.key),
                            pki["zonal"].key)]),
        "es256": doc(protected=bytes.fromhex("a10126")),
        "bad-signature": doc(tamper_signature=True),
        "stale": doc(timestamp_ms=ts - forge.HOUR_MS),
    }
    for name, cose in docs.items():
        seeds.add("document", "forge-" + name, cose)

    def cert(name, cose=None, k=key, **kw):
        der = forge.client_cert(k, cose, not_before_ms=ts - forge.HOUR_MS,
                                **kw)
        seeds.add("verify", "forge-" + name, der)
        seeds.add("extension", "forge-" + name, der)
        return der

    out = [cert("cmw", docs["default"]),
           cert("indefinite", docs["indefinite"]),
           cert("raw", docs["default"], fmt="raw"),
           cert("critical", docs["default"], critical=True),
           cert("twice", docs["default"], twice=True),
           cert("no-extension"),
           cert("no-indicator", value=forge.cmw_extension(
               docs["default"], indicator=None)),
           cert("user-data-sha256", doc(
               public_key=None, user_data=hashlib.sha256(spki).digest())),
           cert("user-data-sha384", doc(
               public_key=None, user_data=hashlib.sha384(spki).digest())),
           cert("user-data-spki", doc(public_key=None, user_data=spki))]
    return docs, out


def policies(seeds):
    h48 = "aa" * 48
    texts = {
        "minimal": '{"allow": [{"name": "a", "pcrs": {"0": "%s"}}]}' % h48,
        "full": ('{"allow": [{"name": "v42", "pcrs": {"0": "%s", "1": "%s", '
                 '"2": "%s"}, "expect_every": "30s"}, {"name": "v43", "pcrs": '
                 '{"0": "%s", "8": "%s"}, "expect_every": "1h 30m"}], '
                 '"deny": [{"name": "cve", "pcrs": {"0": "%s"}}], '
                 '"allow_debug": false}'
                 % (h48, "00" * 32, "11" * 64, h48.upper(), "22" * 48,
                    "bb" * 48)),
        "debug": ('{"allow": [{"name": "d", "pcrs": {"31": "%s"}}], '
                  '"allow_debug": true}' % ("00" * 48)),
        "duplicate-key": '{"allow": [], "allow": []}',
        "empty-allow": '{"allow": []}',
        "bad-hex": '{"allow": [{"name": "a", "pcrs": {"0": "zz"}}]}',
        "many-sets": '{"allow": [%s]}' % ", ".join(
            '{"name": "s%d", "pcrs": {"%d": "%s"}}' % (i, i % 32, h48)
            for i in range(40)),
    }
    for name, text in texts.items():
        seeds.add("policy", name, text)


def misc(seeds, docs):
    cose = docs["default"]
    seeds.add("misc", "hex", b"\x00" + cose.hex().encode())
    seeds.add("misc", "base64", b"\x00" + base64.b64encode(cose))
    seeds.add("misc", "base64url", b"\x00" + base64.urlsafe_b64encode(
        cose[:300]).rstrip(b"="))
    seeds.add("misc", "hex-lines", b"\x02" + b"\n".join(
        cose[i:i + 32].hex().encode() for i in range(0, 320, 32)))
    for text in ("30s", "5m", "1h 30m", "250ms", "1d", "2w 3d 4h 5m 6s 7ms"):
        seeds.add("misc", "duration-" + text.replace(" ", "_"),
                  b"\x00" + text.encode())


def nsm(seeds, docs):
    """The NSM's answers as aws-nitro-enclaves-nsm-api encodes them; the
    first byte picks the request (fuzz_nsm.c)."""
    pcr = bytes(range(48))
    answers = {
        "describe": (0, {"DescribeNSM": {
            "version_major": 1, "version_minor": 0, "version_patch": 0,
            "module_id": "i-0123456789abcdef0-enc0123456789abcdef",
            "max_pcrs": 32, "locked_pcrs": [0, 1, 2, 3, 4],
            "digest": "SHA384"}}),
        "describe-pcr": (1, {"DescribePCR": {"lock": False, "data": pcr}}),
        "extend-pcr": (2, {"ExtendPCR": {"data": pcr}}),
        "lock-pcr": (3, "LockPCR"),
        "attest": (4, {"Attestation": {"document": docs["default"]}}),
        "error": (1, {"Error": "InvalidIndex"}),
    }
    for name, (op, answer) in answers.items():
        seeds.add("nsm", name, bytes([op]) + cbor2.dumps(answer))


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                          else os.path.join(REPO, "build", "fuzz"))
    pki_dir = os.path.join(REPO, "fuzz", "pki")
    if not os.path.exists(os.path.join(pki_dir, "root.pem")):
        run(CLI, "mock", "pki", pki_dir)
    ts = timestamp_for(pki_dir)
    pki = forge.Pki.load(pki_dir)

    seeds = Seeds(os.path.join(out, "seeds"))
    work = os.path.join(out, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    for path in sorted(glob.glob(os.path.join(REAL, "*.cose"))
                       + glob.glob(os.path.join(REAL, "invalid", "*.cose"))):
        seeds.add("document", "real-" + os.path.basename(path),
                  open(path, "rb").read())
    for path in sorted(glob.glob(os.path.join(REAL, "*.der"))):
        data = open(path, "rb").read()
        seeds.add("extension", "real-" + os.path.basename(path), data)
        seeds.add("verify", "real-" + os.path.basename(path), data)

    certs = mock_certs(seeds, work, pki_dir, ts)
    docs, forged_certs = forged(seeds, pki, ts)
    for i, der in enumerate(forged_certs):
        path = os.path.join(work, "forged-%d.der" % i)
        with open(path, "wb") as f:
            f.write(der)
        certs.append(path)
    policies(seeds)
    misc(seeds, docs)
    nsm(seeds, docs)

    verdicts = os.path.join(out, "seed_verdicts")
    if os.access(verdicts, os.X_OK):
        run(verdicts, os.path.join(pki_dir, "root.pem"),
            os.path.join(seeds.root, "misc"), *certs)
    print("make-corpus: %d seeds in %s" % (seeds.count, seeds.root))


if __name__ == "__main__":
    main()
