"""bench_replay.py: `make bench-replay`.

What a client that has not authenticated can make one nginx worker spend.
Full TLS 1.3 handshakes against one `nitro_attest on` server (event log on,
chain cache on, no verdict cache: the defaults a user starts from), its
worker pinned to CPU 0, the load generator (bench/handshake.c) on CPU 1,
all cases against the same nginx in alternating rounds:

  (a) a certificate without the extension, refused (the baseline)
  (b) one forged certificate sent over and over: its document's leaf
      expired (certificate_expired), refused
  (c) one genuine certificate replayed by a client without its key: the
      CertificateVerify fails (key_not_proven), refused
  (d) for reference, the genuine client itself, served

and, every handshake with a document never seen before (so no cache can
help: no nitro_attest_cache, a new leaf each time, the memo never hits;
the chain cache on, as by default, with the same intermediate CAs
throughout):

  (e) a new genuine document from the mock PKI the server pins, served
      (the reference of the cases below)
  (f) a new forgery: cabundle = the pinned root and 120 tiny RSA
      certificates, a random COSE signature (malformed_document: more
      than 16 bundle entries)
  (g) the worst under that cap: the root and 15 tiny RSA CA certificates
      chained to it by name, a random COSE signature (bad_signature)
  (h) as (g), but the COSE signature made by the attacker's own leaf key,
      so that it holds and the path is what fails (chain_invalid)

For each: the worker's CPU time per handshake (from /proc/PID/stat) and
its ratio to (a), or for (f)-(h) to (e).  Targets: (b) and (c) at most
2.0 x (a); (f), (g) and (h) at most 1.5 x (e).  Client keys are P-256
(--key-type): the client's CertificateVerify, which the server checks in
(c), (d) and (e) as plain mTLS would, is then a P-256 verification.
"""

import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import utils  # noqa: E402

# bench_handshake puts t/lib on the path and reads the common knobs
from bench_handshake import (CLI, CLIENT, CONCURRENCY, ROUNDS,  # noqa: E402
                             cpu_ticks, run, TICK_US)
import forge  # noqa: E402
from nginx import Nginx  # noqa: E402

COUNT = int(os.environ.get("BENCH_HANDSHAKES", "3000"))
KEY_TYPE = os.environ.get("BENCH_KEY_TYPE", "p256")
PCRS = {0: "a0" * 48, 1: "a1" * 48, 2: "a2" * 48}
# the order of the P-384 group: random ECDSA signatures below it are well
# formed, and cost a whole verification to refuse
P384_N = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372dd"
             "d581a0db248b0a77aecec196accc52973", 16)
ECDSA_SHA384 = forge.der_tlv(0x30, forge.der_oid("1.2.840.10045.4.3.3"))
RSA_SHA256 = forge.der_tlv(0x30, forge.der_oid("1.2.840.113549.1.1.11")
                           + b"\x05\x00")
RSA_KEY = forge.der_tlv(0x30, forge.der_oid("1.2.840.113549.1.1.1")
                        + b"\x05\x00")
DER_TRUE = b"\x01\x01\xff"

# (e)-(h): bundle entries after the root (None: genuine), COSE signed
FRESH = {
    "(e) new genuine, served": (None, True),
    "(f) new forged, root + 120 RSA": (120, False),
    "(g) new forged, root + 15 RSA": (15, False),
    "(h) as (g), COSE signature holds": (15, True),
}


def mock_cert(pki, work, name, *extra):
    key = os.path.join(work, name + ".key")
    cert = os.path.join(work, name + ".pem")
    argv = [CLI, "mock", "cert", "--pki", pki, "--key-type", KEY_TYPE,
            "--out-key", key, "--out-cert", cert]
    for index, value in PCRS.items():
        argv += ["--pcr", "%d=%s" % (index, value)]
    run(argv + list(extra))
    return cert, key


def clients(work):
    pki = os.path.join(work, "pki")
    run([CLI, "mock", "pki", pki])

    plain_key = os.path.join(work, "plain.key")
    plain_cert = os.path.join(work, "plain.pem")
    curve = {"p256": "P-256", "p384": "P-384"}[KEY_TYPE]
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:" + curve, "-nodes", "-days", "2", "-subj",
         "/CN=plain", "-keyout", plain_key, "-out", plain_cert])

    # a document two hours old in a leaf that lived one hour
    past = str(int(time.time() * 1000) - 2 * 3600 * 1000)
    expired = mock_cert(pki, work, "expired", "--timestamp", past,
                        "--leaf-lifetime", "3600")

    good_cert, good_key = mock_cert(pki, work, "good")
    with open(good_key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    replay_key = os.path.join(work, "replay.key")
    with open(replay_key, "wb") as f:
        f.write(forge.wrong_key_pem(key))

    policy = os.path.join(work, "policy.json")
    with open(policy, "w") as f:
        json.dump({"allow": [{"name": "bench", "pcrs": {
            str(k): v for k, v in PCRS.items()}}]}, f)

    return pki, policy, {
        "(a) no extension, refused": (plain_cert, plain_key),
        "(b) forged, repeated, refused": expired,
        "(c) genuine, replayed, refused": (good_cert, replay_key),
        "(d) genuine, served": (good_cert, good_key),
    }


def random_ecdsa():
    r, s = (random.randrange(1, P384_N) for _ in range(2))
    return utils.encode_dss_signature(r, s)


def tiny_cert(issuer, subject, sig_alg, spki, ca):
    """A small certificate, with a random signature of the algorithm its
    issuer's key calls for (ECDSA under the P-384 root, RSA under an RSA
    one).  ca None: as small as OpenSSL parses (version 1, no extension);
    else version 3 with basicConstraints and keyUsage of a CA (True) or a
    leaf (False)."""
    if ca is None:
        ext = b""
    elif ca:
        ext = (forge.der_tlv(0x30, forge.der_oid("2.5.29.19") + DER_TRUE
                             + forge.der_octet_string(forge.der_tlv(
                                 0x30, DER_TRUE)))
               + forge.der_tlv(0x30, forge.der_oid("2.5.29.15") + DER_TRUE
                               + forge.der_octet_string(b"\x03\x02\x02\x04")))
    else:
        ext = forge.der_tlv(0x30, forge.der_oid("2.5.29.15")
                            + forge.der_octet_string(b"\x03\x02\x07\x80"))
    if sig_alg == ECDSA_SHA384:
        sig = random_ecdsa()
    else:
        sig = secrets.token_bytes(8 if ca is None else 32)
    return forge.bare_cert(issuer, subject, spki, sig_alg, sig, ext)


def tiny_rsa_spki(bits):
    n = secrets.randbits(bits) | 1 << (bits - 1) | 1
    return forge.der_tlv(0x30, RSA_KEY + forge.der_tlv(0x03, b"\x00" + (
        forge.der_tlv(0x30, forge.der_int(n) + forge.der_int(3)))))


def forged_bundle(pki, count, leaf_key):
    """The pinned root, count tiny RSA certificates and a leaf for
    leaf_key, new random keys and signatures each time.  Up to 16: CA
    certificates each naming the one before as its issuer, the leaf under
    the last, so that every check short of a signature holds; more: as
    small as they come (64-bit keys, empty names), to fit the payload."""
    bundle = [pki.root.der]
    if count > 15:
        empty = forge.der_tlv(0x30, b"")
        bundle += [tiny_cert(empty, empty, RSA_SHA256, tiny_rsa_spki(64),
                             None) for _ in range(count)]
        return bundle, tiny_cert(empty, empty, RSA_SHA256,
                                 forge.spki_der(leaf_key), None)
    issuer, sig_alg = pki.root.cert.subject.public_bytes(), ECDSA_SHA384
    for i in range(count):
        subject = forge.der_name("a%d" % i)
        bundle.append(tiny_cert(issuer, subject, sig_alg, tiny_rsa_spki(256),
                                True))
        issuer, sig_alg = subject, RSA_SHA256
    leaf = tiny_cert(issuer, forge.der_name("leaf"), sig_alg,
                     forge.spki_der(leaf_key), False)
    return bundle, leaf


def fresh_pair(name, key, cose):
    with open(name + ".pem", "wb") as f:
        f.write(forge.cert_pem(forge.client_cert(key, cose)))
    with open(name + ".key", "wb") as f:
        f.write(forge.key_pem(key))
    return name + ".pem", name + ".key"


def fresh_documents(work, pki_dir, count):
    """count client certificates for each of (e)-(h), each with a document
    of its own."""
    pki = forge.Pki.load(pki_dir)
    pcrs = {i: bytes.fromhex(v) for i, v in PCRS.items()}
    out = {name: [] for name in FRESH}
    for i in range(count):
        for name, (entries, signs) in FRESH.items():
            key = forge.new_key(KEY_TYPE)
            spki = forge.spki_der(key)
            if entries is None:
                doc = forge.document(pki, public_key=spki,
                                     pcrs={**forge.default_pcrs(), **pcrs})
            else:
                leaf_key = forge.new_key("p384")
                bundle, leaf = forged_bundle(pki, entries, leaf_key)
                doc = forge.document(
                    pki, leaf=forge.Leaf(leaf_key, None), certificate=leaf,
                    cabundle=bundle, public_key=spki, pcrs=pcrs,
                    signature=None if signs else
                    b"".join(random.randrange(1, P384_N).to_bytes(48, "big")
                             for _ in range(2)))
            out[name].append(fresh_pair(
                os.path.join(work, "%s%d" % (name[1], i)), key, doc.cose))
    return out



def server(pki, policy, work):
    body = """
    server {
        listen 127.0.0.1:@port0@ ssl;
        ssl_session_cache off;
        ssl_session_tickets off;
        access_log off;
        keepalive_timeout 0;
        nitro_attest on;
        nitro_attest_policy %s;
        nitro_attest_trusted_root %s/root.pem;
        nitro_attest_event_log %s/events.log;
        location / { return 200 "ok\\n"; }
    }
    """ % (policy, pki, work)
    return Nginx(body, main="worker_cpu_affinity 01;\n").start()


def handshakes(worker, port, pairs, count):
    argv = ["taskset", "-c", "1", CLIENT, "127.0.0.1", str(port), str(count),
            str(CONCURRENCY)] + [p for pair in pairs for p in pair]
    before = cpu_ticks(worker)
    # the load generator exits 1 when a handshake failed: here most do
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode not in (0, 1) or "handshakes=" not in p.stdout:
        raise RuntimeError("handshake: %s%s" % (p.stdout, p.stderr))
    out = p.stdout
    cpu_us = (cpu_ticks(worker) - before) * TICK_US / count
    stats = dict(kv.split("=") for kv in out.split())
    return cpu_us, int(stats["failed"])


def new_events(log, seen):
    """The reasons of the event lines past the first seen ones."""
    with open(log) as f:
        lines = f.readlines()
    out = {}
    for line in lines[seen:]:
        r = json.loads(line)["reason"] or "SUCCESS"
        out[r] = out.get(r, 0) + 1
    return out, len(lines)


def main():
    work = tempfile.mkdtemp(prefix="nitro-bench-replay-")
    pki, policy, cases = clients(work)
    per_round = COUNT // ROUNDS
    fresh = fresh_documents(work, pki, 100 + per_round * ROUNDS)
    n = server(pki, policy, work)
    worker = n.worker_pids()[0]
    port = n.ports[0]
    log = os.path.join(work, "events.log")
    names = list(cases) + list(FRESH)
    results = {name: [] for name in names}
    failed = {name: 0 for name in names}
    by_case = {name: {} for name in names}

    def pairs(name, count):
        if name in cases:
            return [cases[name]]
        out, fresh[name] = fresh[name][:count], fresh[name][count:]
        return out

    try:
        for name in names:
            handshakes(worker, port, pairs(name, 100), 100)   # warm up
        _, seen = new_events(log, 0)
        for _ in range(ROUNDS):
            for name in names:
                cpu_us, f = handshakes(worker, port, pairs(name, per_round),
                                       per_round)
                results[name].append(cpu_us)
                failed[name] += f
                got, seen = new_events(log, seen)
                for r, k in got.items():
                    by_case[name][r] = by_case[name].get(r, 0) + k
        with open(log) as f:
            reasons = {}
            for line in f:
                r = json.loads(line)["reason"] or "SUCCESS"
                reasons[r] = reasons.get(r, 0) + 1
    finally:
        n.stop()
        subprocess.run(["rm", "-rf", work])

    base = statistics.median(results["(a) no extension, refused"])
    genuine = statistics.median(results["(e) new genuine, served"])
    print("full TLS 1.3 handshakes against one nitro_attest on server, "
          "%d per case in %d alternating rounds, %d in flight, client keys "
          "%s; nginx: one worker on CPU 0, client on CPU 1; medians"
          % (COUNT, ROUNDS, CONCURRENCY, KEY_TYPE))
    print("%-34s %12s %9s %9s  %s" % ("case", "worker us/hs", "ratio",
                                      "refused", "event log reasons"))
    for name in names:
        cpu = statistics.median(results[name])
        ref = (base, "(a)") if name in cases else (genuine, "(e)")
        print("%-34s %12.0f %5.2f %3s %9d  %s" % (
            name, cpu, cpu / ref[0], ref[1], failed[name],
            ", ".join("%s %d" % kv for kv in sorted(by_case[name].items()))))
    print("event log lines by reason: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(reasons.items())))
    for name in ("(b) forged, repeated, refused",
                 "(c) genuine, replayed, refused"):
        ratio = statistics.median(results[name]) / base
        print("target: %s / (a) = %.2f (<= 2.0: %s)"
              % (name[:3], ratio, "met" if ratio <= 2.0 else "MISSED"))
    for name in list(FRESH)[1:]:
        ratio = statistics.median(results[name]) / genuine
        print("target: %s / (e) = %.2f (<= 1.5: %s)"
              % (name[:3], ratio, "met" if ratio <= 1.5 else "MISSED"))


if __name__ == "__main__":
    main()
