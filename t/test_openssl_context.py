"""Issue 17: where certificates are parsed (src/na_libctx.c).

Below OpenSSL 3.2 the core parses and verifies certificates in a library
context of its own, a view of the default provider holding the key kinds
it decodes (EC on P-256/P-384/P-521, RSA, RSA-PSS, Ed25519, Ed448); a
certificate whose key is of another kind is parsed without its key, in
every configuration.  These tests run the CLI both ways (the view, and
NITRO_ATTEST_OPENSSL_VIEW=off) over the real documents and over forged
chains of every key kind, and require the same output byte for byte; and
they check that a configuration without the default provider, or asking
for FIPS, is obeyed rather than gone around.  On OpenSSL 3.2 and later
both runs use the default context (t/unit/test_libctx.c checks which one is
chosen).
"""

import base64
import glob
import json
import os
import re
import subprocess

import ssl

import pytest

from conftest import AWS_ROOT, CLI, FIXTURES, REAL, REPO, forge

TEST_CORE = REPO / "build" / "test_core"
# Python's ssl runs the OpenSSL the core links against (Debian's)
VIEW = "view" if ssl.OPENSSL_VERSION_INFO[:2] < (3, 2) else "default"

DOCS = sorted(glob.glob(str(REAL / "*.cose")) + glob.glob(str(REAL / "*.der"))
              + glob.glob(str(REAL / "invalid" / "*")))
DOCS = [d for d in DOCS if not d.endswith(".md")]


def run(args, **env):
    e = dict(os.environ)
    e.pop("NITRO_ATTEST_OPENSSL_VIEW", None)
    e.update(env)
    p = subprocess.run([str(CLI)] + [str(a) for a in args], cwd=REPO,
                       capture_output=True, timeout=120, env=e)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def timeless(result):
    """The run without what is measured: verify_us, and the time of the
    verification when it is the clock's (--at document, no document)."""
    code, out, err = result
    out = re.sub(r'"verify_us":[0-9]+', '"verify_us":0', out)
    out = re.sub(r'"time":"[^"]*"', '"time":""', out)
    return code, out, err


def both_ways(args):
    view = timeless(run(args))
    default = timeless(run(args, NITRO_ATTEST_OPENSSL_VIEW="off"))
    assert view == default, "view:\n%s\ndefault:\n%s" % (view, default)
    return view


def reasons(stdout):
    return [json.loads(line)["reason"] for line in stdout.splitlines()]


def test_real_documents_verify_the_same_both_ways():
    code, out, _ = both_ways(["verify", "--root", AWS_ROOT, "--at",
                              "document", "--allow-debug"] + DOCS)
    got = reasons(out)
    assert len(got) == len(DOCS)
    # the valid ones verify (the run is not all failures the same way)
    assert got.count(None) >= 15, got


CHAINS = {
    "p384": {},
    "rsa-root": {"root": "rsa"},
    "rsa-regional": {"regional": "rsa"},
    "ed25519-zonal": {"zonal": "ed25519"},
    "p256-instance": {"instance": "p256"},
    "p521-instance": {"instance": "p521"},
    "mixed": {"root": "p256", "regional": "rsa", "zonal": "ed25519",
              "instance": "p521"},
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_forged_chains_of_every_key_kind_verify_the_same_both_ways(
        chain, tmp_path, t0):
    pki = forge.Pki.create(at_ms=t0, label=chain, kinds=CHAINS[chain])
    pki.save(str(tmp_path / "pki"))
    bundle = pki.cabundle()
    cases = {
        "good": (forge.document(pki, timestamp_ms=t0).cose, None),
        "other signer": (forge.document(pki, timestamp_ms=t0,
                                        signer=forge.new_key()).cose,
                         "bad_signature"),
        "rsa leaf": (forge.document(
            pki, timestamp_ms=t0,
            leaf=pki.leaf(t0, key=forge.new_key("rsa")),
            signer=forge.new_key()).cose, "bad_signature"),
        "out of order": (forge.document(
            pki, timestamp_ms=t0,
            cabundle=[bundle[0], bundle[2], bundle[1], bundle[3]]).cose,
            "chain_invalid"),
        "leaf under the root": (forge.document(
            pki, timestamp_ms=t0,
            leaf=pki.leaf(t0, issuer=pki.root),
            cabundle=[bundle[0]]).cose, None),
    }
    files = []
    for name, (cose, _) in cases.items():
        path = tmp_path / (name.replace(" ", "_") + ".cose")
        path.write_bytes(cose)
        files.append(path)
    code, out, err = both_ways(["verify", "--root", pki.root_pem, "--at",
                                t0 + 1000] + files)
    assert reasons(out) == [r for _, r in cases.values()], (out, err)
    # and as client certificates of every key kind: the certificate itself
    # is parsed both ways too
    for kind in ("p256", "p384", "rsa", "ed25519"):
        key = forge.new_key(kind)
        cose = forge.document(pki, timestamp_ms=t0,
                              public_key=forge.spki_der(key)).cose
        cert = tmp_path / ("client-%s.der" % kind)
        cert.write_bytes(forge.client_cert(key, cose))
        code, out, err = both_ways(["verify", "--root", pki.root_pem, "--at",
                                    t0 + 1000, cert])
        assert code == 0 and reasons(out) == [None], (kind, out, err)


def conf(tmp_path, body):
    path = tmp_path / "openssl.cnf"
    path.write_text("openssl_conf = init\n\n[init]\n" + body)
    return str(path)


GOOD = str(REAL / "turnkey_prod_2025-05-05.cose")


BASE_ONLY = "providers = provs\n\n[provs]\nbase = b\n\n[b]\nactivate = 1\n"
FIPS = ("providers = provs\nalg_section = algs\n\n[provs]\ndefault = d\n\n"
        "[d]\nactivate = 1\n\n[algs]\ndefault_properties = fips=yes\n")
OTHER_PROVIDER = ("providers = provs\nalg_section = algs\n\n[provs]\n"
                  "default = d\nbase = b\n\n[d]\nactivate = 1\n\n[b]\n"
                  "activate = 1\n\n[algs]\ndefault_properties = "
                  "provider=base\n")
DEFAULT_AND_BASE = ("providers = provs\n\n[provs]\ndefault = d\nbase = b\n\n"
                    "[d]\nactivate = 1\n\n[b]\nactivate = 1\n")


@pytest.mark.parametrize("case, body, verifies", [
    # the control: an explicit configuration as such changes nothing
    ("default and base", DEFAULT_AND_BASE, True),
    # only the base provider: OpenSSL itself cannot verify ECDSA, and the
    # view, made from the default provider, must not do it behind its back
    ("base only", BASE_ONLY, False),
    # the default provider is active but fips=yes is asked: it offers no
    # FIPS ECDSA, so nothing verifies, in the view or not
    ("fips properties", FIPS, False),
    # default properties choose a provider without EC: likewise
    ("properties naming another provider", OTHER_PROVIDER, False),
])
def test_the_configuration_is_obeyed(case, body, verifies, tmp_path):
    code, out, err = run(["verify", "--root", AWS_ROOT, "--at", "document",
                          GOOD], OPENSSL_CONF=conf(tmp_path, body))
    if verifies:
        assert code == 0 and reasons(out) == [None], (case, code, out, err)
    else:
        assert code != 0 and "SUCCESS" not in out, (case, code, out, err)


@pytest.mark.parametrize("case, body, env, expect, why", [
    ("system", None, {}, VIEW, None),
    ("off", None, {"NITRO_ATTEST_OPENSSL_VIEW": "off"}, "default",
     "NITRO_ATTEST_OPENSSL_VIEW=off" if VIEW == "view" else None),
    ("default and base", DEFAULT_AND_BASE, {}, VIEW, None),
    ("base only", BASE_ONLY, {}, "default",
     "the default provider is not active" if VIEW == "view" else None),
    ("fips properties", FIPS, {}, "default",
     "default properties ask for FIPS" if VIEW == "view" else None),
    ("properties naming another provider", OTHER_PROVIDER, {}, "default",
     "the default context would not verify with the default provider"
     if VIEW == "view" else None),
])
def test_the_context_chosen(case, body, env, expect, why, tmp_path):
    if not os.access(TEST_CORE, os.X_OK):
        pytest.fail("%s is missing: run `make build/test_core`" % TEST_CORE)
    e = dict(os.environ)
    e.pop("NITRO_ATTEST_OPENSSL_VIEW", None)
    e.update(env)
    if body is not None:
        e["OPENSSL_CONF"] = conf(tmp_path, body)
    p = subprocess.run([str(TEST_CORE), str(FIXTURES), "--context", expect],
                       capture_output=True, text=True, env=e, timeout=60)
    assert p.returncode == 0, (case, p.stdout, p.stderr)
    if why is not None:
        assert "(%s)" % why in p.stdout, p.stdout


def pem(der, label="CERTIFICATE"):
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
        label, "\n".join(lines), label)


def test_root_files_both_ways(tmp_path, pki):
    # the pinned root is now decoded from its PEM bytes in the context its
    # certificates will be verified in: every way a root file can be wrong
    # fails the same way, naming the file
    leaf_der = pki.leaf(forge.now_ms()).der
    cases = {
        "empty": ("", "no PEM certificate in"),
        "key only": (pem(b"\x30\x03\x02\x01\x00", "PRIVATE KEY"),
                     "no PEM certificate in"),
        "junk der": (pem(b"\x30\x03\x02\x01\x00"),
                     "is not one DER certificate, exactly"),
        "bytes after": (pem(pki.root.der + b"\x00"),
                        "is not one DER certificate, exactly"),
        "two": (pem(pki.root.der) + pem(pki["regional"].der),
                "more than one certificate in"),
        "not a CA": (pem(leaf_der), "is not a CA"),
        "a key not decoded": (pem(forge.with_spki(
            pki.root.der, forge.compressed_spki(pki.root.key),
            pki.root.key)), "is not of a kind certificates are verified "
                            "with"),
        "a key before it": (pem(b"\x30\x03\x02\x01\x00", "PRIVATE KEY")
                            + pem(pki.root.der), None),
    }
    for name, (text, error) in cases.items():
        path = tmp_path / (name.replace(" ", "_") + ".pem")
        path.write_text(text)
        code, out, err = both_ways(["verify", "--root", path, "--at",
                                    "document", GOOD])
        if error is None:
            # a root that loads, but not the one that signed GOOD
            assert code == 1 and reasons(out) == ["untrusted_root"], err
        else:
            assert code == 2 and error in err and str(path) in err, (
                name, err)
