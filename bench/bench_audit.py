"""bench_audit.py: `make bench-audit`.

The cost of the tamper-evident event log, in one run: one nginx worker
pinned to CPU 0, the load generator (bench/handshake.c) pinned to CPU 1,
the worker's own CPU time per handshake read from /proc/PID/schedstat, for
three servers alike but for their event log:

  (a) the plain event log (nitro_attest_event_log FILE)
  (b) chained and signed (nitro_attest_event_log_key, Ed25519)
  (c) chained and signed, with evidence (each line carries the document
      and the certificate)

Each handshake is a known enclave's (bench_handshake's case (e): chain
cache on, a new certificate and document at each handshake from an
enclave whose leaf was seen before), the common case of a fleet.  Rounds
alternate the cases, so that the machine's drift weighs on all alike; the
medians are reported, with the ratios to (a) against their targets
(<= 1.05, <= 1.10).

Then `nitro-attest audit verify` throughput in lines per second: on a log
of AUDIT_LINES lines shaped as (b) writes them (100 chains, a checkpoint
every 1,000 lines of each), without --evidence (target >= 20,000), and on
(c)'s own log with --evidence.
"""

import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# bench_handshake puts t/lib on the path and reads the common knobs
from bench_handshake import (CLI, CLIENT, CONCURRENCY, COUNT,  # noqa: E402
                             ROUNDS, PCRS, forged_certs, run, server_block)
import audit  # noqa: E402
import forge  # noqa: E402
from nginx import Nginx  # noqa: E402

AUDIT_LINES = int(os.environ.get("BENCH_AUDIT_LINES", "200000"))
WARM = 100


def cpu_ns(pid):
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def body(root, policy, key, evidence):
    """bench_handshake's server (e): its event log, evidence, the key."""
    conf = server_block(True, root, policy, False, "64",
                        event_log="@prefix@/logs/events.log%s"
                        % (" evidence" if evidence else ""))
    return ("nitro_attest_event_log_key %s;\n" % key if key else "") + conf


class Case:
    def __init__(self, name, conf, pairs):
        self.name = name
        self.pairs = pairs
        self.server = Nginx(conf, main="worker_cpu_affinity 01;\n").start()
        self.worker = self.server.worker_pids()[0]
        self.log = os.path.join(self.server.prefix, "logs", "events.log")
        self.rounds = []

    def run(self, count):
        pairs, self.pairs = self.pairs[:count], self.pairs[count:]
        assert len(pairs) == count, "not enough fresh certificates"
        argv = ["taskset", "-c", "1", CLIENT, "127.0.0.1",
                str(self.server.ports[0]), str(count), str(CONCURRENCY)]
        argv += [p for pair in pairs for p in pair]
        before = cpu_ns(self.worker)
        out = run(argv).stdout
        cpu_us = (cpu_ns(self.worker) - before) / 1000 / count
        stats = dict(kv.split("=") for kv in out.split())
        if int(stats["failed"]):
            raise RuntimeError("%s: %s handshakes failed" % (
                self.name, stats["failed"]))
        return dict(rate=float(stats["rate"]), cpu_us=cpu_us)

    def median(self, key):
        return statistics.median(r[key] for r in self.rounds)


def audit_rate(args, lines_in, path):
    start = time.monotonic()
    r = run([CLI, "audit", "verify", *args, path])
    elapsed = time.monotonic() - start
    if "broken" in r.stdout:
        raise RuntimeError("audit verify: %s" % r.stdout[:500])
    return lines_in / elapsed


def big_log(work, template, private_pem, kid):
    """AUDIT_LINES lines of 100 chains interleaved, each line an event as
    nginx writes it, a checkpoint every 1,000 lines of a chain."""
    per = AUDIT_LINES // 100
    chains = [audit.write_chain([template] * per, private_pem,
                                "bench:1:%d-0:http0" % i, 1000, kid)
              for i in range(100)]
    path = os.path.join(work, "big.log")
    n = 0
    with open(path, "w") as f:
        for group in zip(*chains):
            for line in group:
                f.write(line + "\n")
                n += 1
    return path, n


def main():
    work = tempfile.mkdtemp(prefix="nitro-bench-audit-")
    pki = forge.Pki.create(label="bench")
    root = os.path.join(work, "root.pem")
    with open(root, "w") as f:
        f.write(forge.cert_pem(pki.root.der).decode())
    policy = os.path.join(work, "policy.json")
    with open(policy, "w") as f:
        json.dump({"allow": [{"name": "bench", "pcrs": {
            str(k): v for k, v in PCRS.items()}}]}, f)
    private, public = audit.new_key()
    key = os.path.join(work, "log-key.pem")
    with open(key, "wb") as f:
        f.write(private)
    pub = os.path.join(work, "log-key.pub")
    with open(pub, "wb") as f:
        f.write(public)

    need = WARM + COUNT
    cases = [
        Case("(a) plain event log", body(root, policy, None, False),
             forged_certs(work, pki, need, True)),
        Case("(b) chained and signed", body(root, policy, key, False),
             forged_certs(work, pki, need, True)),
        Case("(c) chained, signed, evidence", body(root, policy, key, True),
             forged_certs(work, pki, need, True)),
    ]
    try:
        for case in cases:
            case.run(WARM)
        for _ in range(ROUNDS):
            for case in cases:
                case.rounds.append(case.run(COUNT // ROUNDS))
    finally:
        for case in cases:
            case.server.stop(keep=True)

    print("full TLS 1.3 handshakes of a known enclave, %d per case in %d "
          "alternating rounds, %d in flight; nginx: one worker on CPU 0; "
          "client on CPU 1; medians of the rounds" % (COUNT, ROUNDS,
                                                      CONCURRENCY))
    print("%-32s %9s %12s %9s" % ("case", "hs/s", "worker us/hs", "vs (a)"))
    base = cases[0].median("cpu_us")
    for c in cases:
        print("%-32s %9.1f %12.1f %9.3f" % (
            c.name, c.median("rate"), c.median("cpu_us"),
            c.median("cpu_us") / base))

    with open(cases[1].log) as f:
        template = json.loads(f.readline())
    for k in ("chain", "seq", "prev"):
        template.pop(k)
    size = len(json.dumps(template, separators=(",", ":")))
    big, n = big_log(work, template, private, audit.kid(public))
    plain_rate = statistics.median(
        audit_rate(["--key", pub], n, big) for _ in range(3))
    with open(cases[2].log) as f:
        m = sum(1 for _ in f)
    evidence_rate = audit_rate(["--key", pub, "--evidence", "--root", root,
                                "--policy", policy], m, cases[2].log)

    b, c = cases[1], cases[2]
    print("audit verify, without --evidence: %.0f lines/s (%d lines of "
          "about %d bytes, 100 chains)" % (plain_rate, n, size + 120))
    print("audit verify --evidence: %.0f lines/s ((c)'s log, %d lines)"
          % (evidence_rate, m))
    print("targets:")
    print("  (b) worker CPU / (a) = %.3f (target <= 1.05)"
          % (b.median("cpu_us") / base))
    print("  (c) worker CPU / (a) = %.3f (target <= 1.10)"
          % (c.median("cpu_us") / base))
    print("  audit verify = %.0f lines/s (target >= 20000)" % plain_rate)


if __name__ == "__main__":
    main()
