"""bench_token.py: `make bench-token`.

The cost of the signed attestation token ($nitro_attest_token), measured
in one run against the same configuration without a token key: one nginx
worker pinned to CPU 0, the clients pinned to CPU 1, the worker's own CPU
time read from /proc/PID/schedstat (so the client's cost does not blur it).

  per new connection: full TLS 1.3 handshakes (bench/handshake.c), one
      request each that evaluates $nitro_attest_token, so every
      connection signs one token; verdict cache on, so the handshake
      itself is cheap and the signature stands out.  No key, then ES256,
      ES384, EdDSA.
  per request: keep-alive requests on one attested connection, each
      evaluating $nitro_attest_token: the token signed once, then copied
      into each request.  No key, then ES256.

The responses are the same few bytes in every case: what is measured is
the token, not sending it (an upstream header adds its length on the
wire, printed too).

Rounds alternate the cases, so the machine's drift weighs on all alike;
the medians are reported.
"""

import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# bench_handshake puts t/lib on the path and reads the common knobs
from bench_handshake import (CLIENT, CONCURRENCY, ROUNDS,  # noqa: E402
                             COUNT as HANDSHAKES, mock_certs, run)
import nginx  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20000"))
KEYS = {"ES256": ["-algorithm", "EC", "-pkeyopt",
                  "ec_paramgen_curve:P-256"],
        "ES384": ["-algorithm", "EC", "-pkeyopt",
                  "ec_paramgen_curve:P-384"],
        "EdDSA": ["-algorithm", "ed25519"]}


def cpu_ns(pid):
    """The worker's CPU time so far, in ns (the scheduler's own count:
    finer than the clock ticks of /proc/PID/stat)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def server_body(pki, policy, key):
    token = "nitro_attest_token_key %s;" % key if key else ""
    return """
    nitro_attest_cache zone=bench:10m;
    server {
        listen 127.0.0.1:@port0@ ssl;
        ssl_session_cache off;
        ssl_session_tickets off;
        access_log off;
        keepalive_requests 1000000;
        nitro_attest on;
        nitro_attest_policy %s;
        nitro_attest_trusted_root %s/root.pem;
        %s
        location / { set $token $nitro_attest_token; return 200 "ok"; }
        location = /token { return 200 "$nitro_attest_token"; }
    }
""" % (policy, pki, token)


class Case:
    def __init__(self, name, body, pair):
        self.name = name
        self.pair = pair
        self.server = nginx.Nginx(body,
                                  main="worker_cpu_affinity 01;\n").start()
        self.worker = self.server.worker_pids()[0]
        self.handshakes = []
        self.requests = []

    def per_connection(self, count):
        argv = ["taskset", "-c", "1", CLIENT, "127.0.0.1",
                str(self.server.ports[0]), str(count), str(CONCURRENCY),
                self.pair[0], self.pair[1]]
        before = cpu_ns(self.worker)
        out = run(argv).stdout
        stats = dict(kv.split("=") for kv in out.split())
        if int(stats["failed"]):
            raise RuntimeError("%s: %s handshakes failed" % (
                self.name, stats["failed"]))
        return (cpu_ns(self.worker) - before) / 1000 / count

    def per_request(self, count):
        ctx = nginx.client_context(*self.pair)
        request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
        with nginx.Connection(self.server.ports[0], ctx, "bench") as conn:
            first = conn.request("bench", "/token")
            before = cpu_ns(self.worker)
            for _ in range(count):
                resp = conn.request_raw(request)
            spent = cpu_ns(self.worker) - before
            last = conn.request("bench", "/token")
        if resp.status != 200 or last.body != first.body:
            raise RuntimeError("%s: the token changed within its lifetime"
                               % self.name)
        return spent / 1000 / count, len(last.body)


def main():
    os.sched_setaffinity(0, {1})
    work = tempfile.mkdtemp(prefix="nitro-bench-token-")
    pki, pairs, _, policy = mock_certs(work, 1)
    keys = {}
    for alg, argv in KEYS.items():
        keys[alg] = os.path.join(work, alg + ".pem")
        run(["openssl", "genpkey"] + argv + ["-out", keys[alg]])

    cases = [Case("no token key", server_body(pki, policy, None), pairs[0])]
    cases += [Case(alg, server_body(pki, policy, keys[alg]), pairs[0])
              for alg in KEYS]
    lengths = {}
    try:
        for case in cases:
            case.per_connection(100)                      # warm up
        for _ in range(ROUNDS):
            for case in cases:
                case.handshakes.append(
                    case.per_connection(HANDSHAKES // ROUNDS))
            for case in cases[:2]:
                us, lengths[case.name] = case.per_request(REQUESTS // ROUNDS)
                case.requests.append(us)
    finally:
        for case in cases:
            case.server.stop()

    base = cases[0]
    conn_base = statistics.median(base.handshakes)
    print("worker CPU time, one worker on CPU 0, clients on CPU 1; "
          "medians of %d alternating rounds" % ROUNDS)
    print("per new connection (%d full TLS 1.3 handshakes per case, "
          "%d in flight, one token signed each):" % (HANDSHAKES, CONCURRENCY))
    print("  %-14s %10s %10s" % ("case", "server us", "added us"))
    for case in cases:
        us = statistics.median(case.handshakes)
        print("  %-14s %10.1f %10.1f" % (case.name, us, us - conn_base))
    req_base = statistics.median(base.requests)
    req = statistics.median(cases[1].requests)
    print("per request (%d keep-alive requests on one connection per case, "
          "the token signed once):" % REQUESTS)
    print("  %-14s %10.2f" % ("no token key", req_base))
    print("  %-14s %10.2f  added %.2f us (token of %d bytes)" % (
        cases[1].name, req, req - req_base, lengths[cases[1].name]))


if __name__ == "__main__":
    main()
