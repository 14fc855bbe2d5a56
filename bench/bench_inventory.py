"""bench_inventory.py: `make bench-inventory`: what
"nitro_attest_inventory" costs a full handshake.

In one run, against one nginx worker pinned to CPU 0 (the load generator,
bench/handshake.c, on CPU 1), full TLS 1.3 handshakes of attested clients
with the chain cache and the counters (a status location) on:

  (a) no inventory
  (b) inventory, the same few enclaves again and again (an entry found
      and updated: the steady state)
  (c) inventory, a new enclave at almost every handshake of a zone kept
      full (an entry made and the least recently seen evicted)

The worker's own CPU time per handshake (/proc/PID/stat) in alternating
rounds, medians reported, and the inventory's share: (b) - (a), (c) - (a).
"""

import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_handshake as bh  # noqa: E402

STATUS = """
server {
    listen 127.0.0.1:@port1@;
    location = /nitro-attest/status { nitro_attest_status; }
}
"""


class Case(bh.Case):
    """bench_handshake's Case with a status server (port 1) beside."""

    def __init__(self, name, body, pairs):
        self.name = name
        self.pairs = pairs
        self.server = bh.Nginx(body, ports=2,
                               main="worker_cpu_affinity 01;\n").start()
        self.worker = self.server.worker_pids()[0]
        self.rounds = []


def certs(work, pki, n, prefix):
    """n attested certificates, each its own module id."""
    pairs = []
    for i in range(n):
        key = os.path.join(work, "%s%d.key" % (prefix, i))
        cert = os.path.join(work, "%s%d.pem" % (prefix, i))
        argv = [bh.CLI, "mock", "cert", "--pki", pki, "--key-type", "p256",
                "--module-id", "i-%017x-enc%017x" % (len(prefix), i),
                "--out-key", key, "--out-cert", cert]
        for index, value in bh.PCRS.items():
            argv += ["--pcr", "%d=%s" % (index, value)]
        bh.run(argv)
        pairs.append((cert, key))
    return pairs


def main():
    work = tempfile.mkdtemp(prefix="nitro-bench-inventory-")
    pki, few, _, policy = bh.mock_certs(work, 8)
    many = certs(work, pki, bh.DISTINCT, "m")
    small = 8 * os.sysconf("SC_PAGESIZE") // 1024
    base = bh.server_block(True, pki, policy, False, "64") + STATUS

    cases = [
        Case("(a) no inventory", base, few),
        Case("(b) inventory, enclaves seen again",
             "nitro_attest_inventory zone=inv:10m;\n" + base, few),
        Case("(c) inventory full, new enclaves",
             "nitro_attest_inventory zone=inv:%dk;\n" % small + base, many),
    ]

    try:
        for case in cases:
            case.run(200)                                   # warm up
        for _ in range(bh.ROUNDS):
            for case in cases:
                case.rounds.append(case.run(bh.COUNT // bh.ROUNDS))
    finally:
        for case in cases:
            case.server.stop()

    a = cases[0]
    print("full TLS 1.3 handshakes, %d per case in %d alternating rounds, "
          "%d in flight; nginx: one worker on CPU 0; client on CPU 1; "
          "medians of the rounds; (c): %d enclaves through a %dk zone"
          % (bh.COUNT, bh.ROUNDS, bh.CONCURRENCY, bh.DISTINCT, small))
    print("%-38s %9s %8s %8s %10s %10s" % (
        "case", "hs/s", "p50 us", "p99 us", "server us", "vs (a) us"))
    for c in cases:
        print("%-38s %9.1f %8.0f %8.0f %10.1f %+10.1f" % (
            c.name, c.median("rate"), c.median("p50"), c.median("p99"),
            c.median("cpu_us"), c.median("cpu_us") - a.median("cpu_us")))
        failed = sum(r["failed"] for r in c.rounds)
        if failed:
            print("  %d handshakes FAILED" % failed)
    spread = statistics.pstdev(r["cpu_us"] for r in a.rounds)
    print("round-to-round spread of (a): %.1f us, clock tick per handshake: "
          "%.1f us (differences below them are noise)"
          % (spread, bh.TICK_US / (bh.COUNT // bh.ROUNDS)))


if __name__ == "__main__":
    main()
