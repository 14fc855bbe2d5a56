"""bench_handshake.py: `make bench-handshake` (issue 5).

Full TLS 1.3 handshakes per second against one nginx worker pinned to CPU
0, with the load generator (bench/handshake.c) pinned to CPU 1, in one run:

  (a) plain mTLS: ssl_verify_client optional_no_ca, a self-signed client
      certificate, the module loaded but off
  (b) attested, no cache at all, one certificate (5 P-384 verifications)
  (c) attested, chain cache only, many certificates from one mock host
      (2 P-384 verifications per handshake)
  (d) attested, verdict cache on, one certificate

For each: the rate, its ratio to (a), p50/p99 latency, and the worker's
own CPU time per handshake (from /proc/PID/stat, so the client's cost does
not blur it); the extra CPU over (a) is compared with the cost of P-384
verifications measured in the same run.  Also prints the verdict cache's
entry size and how many entries fit in 10 MB.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "t", "lib"))

from nginx import Nginx  # noqa: E402

CLI = os.path.join(REPO, "build", "nitro-attest")
CLIENT = os.path.join(REPO, "build", "handshake")
COUNT = int(os.environ.get("BENCH_HANDSHAKES", "1500"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
DISTINCT = int(os.environ.get("BENCH_DISTINCT_CERTS", "100"))
PCRS = {0: "a0" * 48, 1: "a1" * 48, 2: "a2" * 48}
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          **kw)


def mock_certs(work, n):
    """n attested client certificates from one mock PKI (P-256 client keys:
    the client's own signature stays cheap), and a plain self-signed one."""
    pki = os.path.join(work, "pki")
    run([CLI, "mock", "pki", pki])
    pairs = []
    for i in range(n):
        key = os.path.join(work, "c%d.key" % i)
        cert = os.path.join(work, "c%d.pem" % i)
        argv = [CLI, "mock", "cert", "--pki", pki, "--key-type", "p256",
                "--out-key", key, "--out-cert", cert]
        for index, value in PCRS.items():
            argv += ["--pcr", "%d=%s" % (index, value)]
        run(argv)
        pairs.append((cert, key))
    plain_key = os.path.join(work, "plain.key")
    plain_cert = os.path.join(work, "plain.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
         "/CN=plain", "-keyout", plain_key, "-out", plain_cert])
    policy = os.path.join(work, "policy.json")
    with open(policy, "w") as f:
        json.dump({"allow": [{"name": "bench", "pcrs": {
            str(k): v for k, v in PCRS.items()}}]}, f)
    return pki, pairs, (plain_cert, plain_key), policy


def server_block(attest, pki, policy, cache, chain_cache):
    lines = ["ssl_session_cache off;", "ssl_session_tickets off;",
             "access_log off;", "keepalive_timeout 0;"]
    if attest:
        lines += ["nitro_attest on;",
                  "nitro_attest_policy %s;" % policy,
                  "nitro_attest_trusted_root %s/root.pem;" % pki,
                  "nitro_attest_chain_cache %s;" % chain_cache]
        if cache:
            lines.append("nitro_attest_cache zone=bench:10m;")
    else:
        lines.append("ssl_verify_client optional_no_ca;")
    return ("server {\n    listen 127.0.0.1:@port0@ ssl;\n    %s\n"
            "    location / { return 200 \"ok\\n\"; }\n}\n"
            % "\n    ".join(lines))


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


def measure(name, body, pairs):
    server = Nginx(body, main="worker_cpu_affinity 01;\n").start()
    try:
        port = str(server.ports[0])
        argv = ["taskset", "-c", "1", CLIENT, "127.0.0.1", port]
        creds = [p for pair in pairs for p in pair]
        run(argv + ["100", str(CONCURRENCY)] + creds)      # warm up
        worker = server.worker_pids()[0]
        before = cpu_ticks(worker)
        out = run(argv + [str(COUNT), str(CONCURRENCY)] + creds).stdout
        cpu_us = (cpu_ticks(worker) - before) * TICK_US / COUNT
        cache_line = ""
        with open(server.error_log) as f:
            m = re.search(r"nitro_attest_cache .*", f.read())
            cache_line = m.group(0) if m else ""
    finally:
        server.stop()
    stats = dict(kv.split("=") for kv in out.split())
    return dict(name=name, rate=float(stats["rate"]),
                p50=float(stats["p50_us"]), p99=float(stats["p99_us"]),
                failed=int(stats["failed"]), cpu_us=cpu_us,
                cache_line=cache_line)


def p384_verify_us():
    out = run(["openssl", "speed", "-seconds", "2", "ecdsap384"]).stdout
    # "... 384 bits ecdsa (nistp384)   0.0008s   0.0010s   1300.0  1000.0"
    for line in out.splitlines():
        if "nistp384" in line and "ecdsa" in line:
            verify_per_s = float(line.split()[-1])
            return 1e6 / verify_per_s
    raise RuntimeError("no ecdsap384 line in openssl speed output")


def main():
    work = tempfile.mkdtemp(prefix="nitro-bench-")
    pki, pairs, plain, policy = mock_certs(work, DISTINCT)
    p384 = p384_verify_us()

    cases = [
        ("(a) plain mTLS", server_block(False, pki, policy, False, "off"),
         [plain]),
        ("(b) attested, no cache", server_block(True, pki, policy, False,
                                                "off"), [pairs[0]]),
        ("(c) attested, chain cache", server_block(True, pki, policy, False,
                                                   "on"), pairs),
        ("(d) attested, verdict cache", server_block(True, pki, policy,
                                                     True, "on"),
         [pairs[0]]),
    ]

    results = [measure(name, body, creds) for name, body, creds in cases]
    base = results[0]

    print("full TLS 1.3 handshakes, %d per case, %d in flight; nginx: one "
          "worker on CPU 0; client on CPU 1" % (COUNT, CONCURRENCY))
    print("P-384 verify (openssl speed, same run): %.0f us" % p384)
    print("%-30s %9s %7s %8s %8s %10s %10s" % (
        "case", "hs/s", "vs (a)", "p50 us", "p99 us", "server us",
        "extra us"))
    for r in results:
        print("%-30s %9.1f %7.3f %8.0f %8.0f %10.0f %10.0f" % (
            r["name"], r["rate"], r["rate"] / base["rate"], r["p50"],
            r["p99"], r["cpu_us"], r["cpu_us"] - base["cpu_us"]))
        if r["failed"]:
            print("  %d handshakes FAILED" % r["failed"])

    b, c, d = results[1], results[2], results[3]
    print("targets:")
    print("  (d) rate / (a) = %.3f (target >= 0.95)"
          % (d["rate"] / base["rate"]))
    print("  (c) extra server time / (2 x P-384) = %.2f (target <= 1.2)"
          % ((c["cpu_us"] - base["cpu_us"]) / (2 * p384)))
    print("  (b) extra server time / (5 x P-384) = %.2f (target <= 1.2)"
          % ((b["cpu_us"] - base["cpu_us"]) / (5 * p384)))
    if d["cache_line"]:
        print("verdict cache: %s" % d["cache_line"])


if __name__ == "__main__":
    main()
