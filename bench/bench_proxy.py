"""bench_proxy.py: `make bench-proxy`.

What verifying the enclave behind nginx (nitro_attest_proxy_verify) costs
the nginx worker that proxies to it.  The nginx under test has one worker
pinned to CPU 0; the upstream "enclaves" (nginx serving TLS with attested
server certificates from a forged PKI) and the load generator (HTTP/1.1
keep-alive clients in this process, to the proxy) run on CPU 1.  In one
run, the cases alternating round by round:

  (a) a new upstream TLS connection per request, not verified
      (proxy_ssl_session_reuse off, no keepalive: a full handshake)
  (b) as (a), verified, caches cold: no chain cache, a new enclave at each
      handshake (a new leaf and document: 5 P-384 verifications)
  (c) as (a), verified, a known enclave: chain cache on, a new document at
      each handshake from the same enclave (its leaf seen before: the COSE
      signature, 1 P-384 verification)
  (d) requests over a keepalive upstream connection, not verified
  (e) as (d), verified (another location of the same nginx, over a
      keepalive upstream block of its own to the same enclave)

Each handshake of (b) and (c) presents a document never seen before (the
upstream serves the certificate file named by its connection number), so
the worker's memo of documents never helps.

For each: the worker's CPU time per request (/proc/PID/schedstat) and, for
(a)-(c), the extra CPU of a verified handshake over (a), against the cost
of P-384 verifications measured in the same run (openssl speed on CPU 0);
for (d) and (e), requests per second and the ratio (e)/(d), measured and
as the worker's capacity (its CPU per request, inverted).  Targets: (b)
extra <= 1.2 x 5 P-384, (c) extra <= 1.2 x 1 P-384, (e)/(d) >= 0.98.
"""

import http.client
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# bench_handshake puts t/lib on the path and reads the common knobs
from bench_handshake import p384_verify_us  # noqa: E402
from bench_token import cpu_ns  # noqa: E402
import forge  # noqa: E402
from nginx import Nginx  # noqa: E402

COUNT = int(os.environ.get("BENCH_HANDSHAKES", "1500"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "60000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
SLICES = 4
PCRS = {0: b"\xa0" * 48, 1: b"\xa1" * 48, 2: b"\xa2" * 48}
NAME = "enclave.bench"
WARM = 50


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def enclave_certs(directory, pki, count, known):
    """count attested server certificates, c1.pem/c1.key ... in directory,
    each with a document of its own: from one enclave (one leaf) when
    known, else each from a new one."""
    os.makedirs(directory, exist_ok=True)
    leaf = pki.leaf(forge.now_ms()) if known else None
    for i in range(1, count + 1):
        key = forge.new_key("p256")
        doc = forge.document(pki, leaf=leaf or pki.leaf(forge.now_ms()),
                             public_key=forge.spki_der(key),
                             pcrs={**forge.default_pcrs(), **PCRS})
        write(os.path.join(directory, "c%d.pem" % i), forge.cert_pem(
            forge.client_cert(key, doc.cose, server=NAME)))
        write(os.path.join(directory, "c%d.key" % i), forge.key_pem(key))


def enclave(directory, per_connection):
    """An upstream enclave on CPU 1: its certificate file is named by the
    connection number (a new one each handshake), or fixed (c1)."""
    cert = "c$connection" if per_connection else "c1"
    body = ("server {\n    listen 127.0.0.1:@port0@ ssl;\n"
            "    access_log off;\n    keepalive_requests 1000000;\n"
            "    ssl_certificate %s/%s.pem;\n"
            "    ssl_certificate_key %s/%s.key;\n"
            "    ssl_session_cache off;\n    ssl_session_tickets off;\n"
            "    location / { return 200 \"ok\\n\"; }\n}\n"
            % (directory, cert, directory, cert))
    return Nginx(body, main="worker_cpu_affinity 10;\n").start()


def proxy_body(upstream, verify, keepalive, chain_cache, policy, root):
    """The nginx under test: a location proxying to the upstream; for the
    keepalive cases, /plain and /verified, each over its own keepalive
    upstream block to the same enclave, in one nginx (one worker)."""
    http = "nitro_attest_chain_cache %s;\n" % chain_cache
    common = ["proxy_ssl_session_reuse off;"]
    if keepalive:
        common += ["proxy_http_version 1.1;",
                   "proxy_set_header Connection \"\";"]
    trust = ["nitro_attest_proxy_verify on;",
             "nitro_attest_proxy_policy %s;" % policy,
             "nitro_attest_proxy_trusted_root %s;" % root]
    locations = []
    for name, verified in (("plain", False), ("verified", True)):
        if not keepalive and verified != verify:
            continue
        http += ("upstream %s {\n    server 127.0.0.1:%d;\n%s}\n"
                 % (name, upstream, "    keepalive 8;\n" if keepalive else ""))
        locations.append("    location %s {\n        %s\n"
                         "        proxy_pass https://%s;\n    }\n"
                         % ("/" + name if keepalive else "/",
                            "\n        ".join(common + (trust if verified
                                                         else [])), name))
    return http + ("server {\n    listen 127.0.0.1:@port0@;\n"
                   "    access_log off;\n    keepalive_requests 1000000;\n"
                   "%s}\n" % "".join(locations))


def combined(runs):
    """Runs of a case taken together, as one."""
    done = sum(r["done"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    return dict(cpu_us=sum(r["cpu_us"] * r["done"] for r in runs) / done,
                rate=done / seconds, failed=sum(r["failed"] for r in runs),
                done=done, seconds=seconds)


class Case:
    """One configuration: its own nginx (worker on CPU 0)."""

    def __init__(self, name, body, path="/", server=None):
        self.name = name
        self.path = path
        self.server = server or Nginx(
            body, main="worker_cpu_affinity 01;\n").start()
        self.worker = self.server.worker_pids()[0]
        self.rounds = []

    def run(self, requests):
        """requests over CLIENTS keep-alive connections to the proxy: the
        worker's CPU per request, the rate, and the failures."""
        share = [requests // CLIENTS] * CLIENTS
        failed = []

        def client(n):
            conn = http.client.HTTPConnection("127.0.0.1",
                                              self.server.ports[0],
                                              timeout=30)
            bad = 0
            for _ in range(n):
                conn.request("GET", self.path)
                r = conn.getresponse()
                bad += r.read() != b"ok\n" or r.status != 200
            conn.close()
            failed.append(bad)

        threads = [threading.Thread(target=client, args=(n,))
                   for n in share]
        before = cpu_ns(self.worker)
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - start
        done = sum(share)
        return dict(cpu_us=(cpu_ns(self.worker) - before) / 1000 / done,
                    rate=done / seconds, failed=sum(failed), done=done,
                    seconds=seconds)

    def median(self, key):
        return statistics.median(r[key] for r in self.rounds)


def main():
    os.sched_setaffinity(0, {1})
    work = tempfile.mkdtemp(prefix="nitro-bench-proxy-")
    pki = forge.Pki.create(label="bench")
    pki.save(os.path.join(work, "pki"))
    root = pki.root_pem
    policy = write(os.path.join(work, "policy.json"), forge.policy(
        [("bench", PCRS)]).encode())

    # (a) and (b) share one enclave nginx, whose connections number on
    margin = 2 * (COUNT + WARM) + 200
    new_dir, known_dir = (os.path.join(work, d) for d in ("new", "known"))
    enclave_certs(new_dir, pki, margin, known=False)
    enclave_certs(known_dir, pki, COUNT + WARM + 200, known=True)

    upstreams = [enclave(new_dir, True), enclave(known_dir, True),
                 enclave(known_dir, False)]
    new, known, fixed = (u.ports[0] for u in upstreams)
    handshakes = [
        Case("(a) new upstream TLS, not verified",
             proxy_body(new, False, False, "64", policy, root)),
        Case("(b) verified, caches cold",
             proxy_body(new, True, False, "off", policy, root)),
        Case("(c) verified, known enclave",
             proxy_body(known, True, False, "64", policy, root)),
    ]
    # one worker serves both: the same process, alternating small batches
    d = Case("(d) keepalive, not verified",
             proxy_body(fixed, False, True, "64", policy, root), "/plain")
    e = Case("(e) keepalive, verified", None, "/verified", d.server)
    keepalive = [d, e]
    cases = handshakes + keepalive
    p384 = []
    try:
        for case in handshakes:
            case.run(WARM)
        for case in keepalive:
            case.run(1000)
        # rounds alternate the cases, in turn forward and backward, so
        # that the machine's drift weighs on all of them alike; the
        # medians are reported
        for i in range(ROUNDS):
            p384.append(p384_verify_us())
            for case in handshakes[::1 - 2 * (i % 2)]:
                case.rounds.append(case.run(COUNT // ROUNDS))
            # the keepalive cases, in one worker, alternate in finer
            # slices still: the client's pace moves from second to second
            slices = [[], []]
            for j in range(SLICES):
                for k in (0, 1)[::1 - 2 * ((i + j) % 2)]:
                    slices[k].append(keepalive[k].run(
                        REQUESTS // ROUNDS // SLICES))
            for case, runs in zip(keepalive, slices):
                case.rounds.append(combined(runs))
    finally:
        for n in [c.server for c in handshakes] + [d.server] + upstreams:
            n.stop()

    p384 = statistics.median(p384)
    a, b, c = handshakes
    d, e = keepalive
    extra = lambda x: x.median("cpu_us") - a.median("cpu_us")  # noqa: E731

    print("nginx under test: one worker on CPU 0; enclaves and clients on "
          "CPU 1; %d alternating rounds, medians; %d requests per "
          "handshake case, %d per keepalive case"
          % (ROUNDS, COUNT, REQUESTS))
    print("P-384 verify (openssl speed on CPU 0, each round): %.0f us"
          % p384)
    print("%-36s %10s %12s %10s" % ("case", "req/s", "worker us/req",
                                    "extra us"))
    for x in cases:
        print("%-36s %10.0f %12.1f %10s" % (
            x.name, x.median("rate"), x.median("cpu_us"),
            "%.0f" % extra(x) if x in handshakes else "-"))
        failed = sum(r["failed"] for r in x.rounds)
        if failed:
            print("  %d requests FAILED" % failed)
    print("targets:")
    print("  (b) extra worker CPU / (5 x P-384) = %.2f (target <= 1.2)"
          % (extra(b) / (5 * p384)))
    print("  (c) extra worker CPU / (1 x P-384) = %.2f (target <= 1.2)"
          % (extra(c) / p384))
    print("  (e) / (d) requests per second = %.3f measured, %.3f as the "
          "worker's capacity (CPU per request) (target >= 0.98)"
          % (e.median("rate") / d.median("rate"),
             d.median("cpu_us") / e.median("cpu_us")))


if __name__ == "__main__":
    main()
