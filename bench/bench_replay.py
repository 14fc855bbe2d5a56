"""bench_replay.py: `make bench-replay` (issue 10, CONTRACT section 10).

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

For each: the worker's CPU time per handshake (from /proc/PID/stat) and
its ratio to (a).  Target: (b) and (c) at most 2.0 x (a).  Client keys
are P-256 (--key-type): the client's CertificateVerify, which the server
checks in (c) and (d) as plain mTLS would, is then a P-256 verification.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "t", "lib"))
sys.path.insert(0, HERE)

from cryptography.hazmat.primitives import serialization  # noqa: E402

import forge  # noqa: E402
from bench_handshake import CLI, CLIENT, cpu_ticks, run, TICK_US  # noqa
from nginx import Nginx  # noqa: E402

COUNT = int(os.environ.get("BENCH_HANDSHAKES", "3000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
KEY_TYPE = os.environ.get("BENCH_KEY_TYPE", "p256")
PCRS = {0: "a0" * 48, 1: "a1" * 48, 2: "a2" * 48}


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


def handshakes(worker, port, pair, count):
    argv = ["taskset", "-c", "1", CLIENT, "127.0.0.1", str(port), str(count),
            str(CONCURRENCY), pair[0], pair[1]]
    before = cpu_ticks(worker)
    # the load generator exits 1 when a handshake failed: here most do
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode not in (0, 1) or "handshakes=" not in p.stdout:
        raise RuntimeError("handshake: %s%s" % (p.stdout, p.stderr))
    out = p.stdout
    cpu_us = (cpu_ticks(worker) - before) * TICK_US / count
    stats = dict(kv.split("=") for kv in out.split())
    return cpu_us, int(stats["failed"])


def main():
    work = tempfile.mkdtemp(prefix="nitro-bench-replay-")
    pki, policy, cases = clients(work)
    n = server(pki, policy, work)
    worker = n.worker_pids()[0]
    port = n.ports[0]
    results = {name: [] for name in cases}
    failed = {name: 0 for name in cases}

    try:
        for pair in cases.values():
            handshakes(worker, port, pair, 100)          # warm up
        for _ in range(ROUNDS):
            for name, pair in cases.items():
                cpu_us, f = handshakes(worker, port, pair,
                                       COUNT // ROUNDS)
                results[name].append(cpu_us)
                failed[name] += f
        with open(os.path.join(work, "events.log")) as f:
            reasons = {}
            for line in f:
                r = json.loads(line)["reason"] or "SUCCESS"
                reasons[r] = reasons.get(r, 0) + 1
    finally:
        n.stop()
        subprocess.run(["rm", "-rf", work])

    base = statistics.median(results["(a) no extension, refused"])
    print("full TLS 1.3 handshakes against one nitro_attest on server, "
          "%d per case in %d alternating rounds, %d in flight, client keys "
          "%s; nginx: one worker on CPU 0, client on CPU 1; medians"
          % (COUNT, ROUNDS, CONCURRENCY, KEY_TYPE))
    print("%-34s %12s %9s %9s" % ("case", "worker us/hs", "vs (a)",
                                  "refused"))
    for name in cases:
        cpu = statistics.median(results[name])
        print("%-34s %12.0f %9.2f %9d" % (name, cpu, cpu / base,
                                          failed[name]))
    print("event log lines by reason: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(reasons.items())))
    for name in ("(b) forged, repeated, refused",
                 "(c) genuine, replayed, refused"):
        ratio = statistics.median(results[name]) / base
        print("target: %s / (a) = %.2f (<= 2.0: %s)"
              % (name[:3], ratio, "met" if ratio <= 2.0 else "MISSED"))


if __name__ == "__main__":
    main()
