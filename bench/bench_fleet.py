"""bench_fleet.py: `make bench-fleet`: the steady state users see.

A fleet of N enclaves on M parent instances (one CA bundle each, under
one pinned root) that renew their client certificate every minute (a new
key and a new attestation document, the enclave's leaf unchanged) and
reconnect at R connections per second in all.  Simulated minutes: in each,
every enclave presents its certificate of that minute for R*60/N full TLS
1.3 handshakes (round robin over the fleet).  One nginx worker pinned to
CPU 0, the load generator (bench/handshake.c) on CPU 1; against plain mTLS
in the same run, in alternating rounds:

  (a) plain mTLS (the module off, ssl_verify_client optional_no_ca)
  (f) the fleet against nitro_attest on with the defaults (chain cache,
      memo) and a verdict cache zone

Prints the worker's CPU per handshake of each, the extra of (f) over (a),
and that extra against one P-384 verification measured in the same run.
"""

import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "t", "lib"))
sys.path.insert(0, HERE)

import forge  # noqa: E402
from bench_handshake import (Case, mock_certs, p384_verify_us,  # noqa: E402
                             server_block, PCRS)

ENCLAVES = int(os.environ.get("BENCH_ENCLAVES", "50"))
INSTANCES = int(os.environ.get("BENCH_INSTANCES", "5"))
RATE = int(os.environ.get("BENCH_RATE", "10"))        # connections per s
MINUTES = int(os.environ.get("BENCH_MINUTES", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def fleet_pki():
    """One root, regional and zonal CA; INSTANCES instance CAs under it."""
    base = forge.Pki.create(label="fleet")
    spec = forge.default_specs(forge.now_ms())["instance"]
    zonal = base["zonal"]
    out = []
    for m in range(INSTANCES):
        key = forge.new_key()
        subject = forge._name("fleet.instance%d.nitro-enclaves" % m)
        cert = forge.issue(spec, subject, key.public_key(),
                           zonal.cert.subject, zonal.key)
        out.append(forge.Pki({**base.by_name,
                              "instance": forge.Authority("instance", key,
                                                          cert)}))
    return base, out


def fleet_certs(work, instances, tag):
    """The certificate pairs in the order the fleet presents them."""
    pcrs = {**forge.default_pcrs(),
            **{i: bytes.fromhex(v) for i, v in PCRS.items()}}
    leaves = [(instances[e % INSTANCES],
               instances[e % INSTANCES].leaf(forge.now_ms()))
              for e in range(ENCLAVES)]
    per_cert = max(1, RATE * 60 // ENCLAVES)
    order = []
    for minute in range(MINUTES):
        pairs = []
        for e, (pki, leaf) in enumerate(leaves):
            key = forge.new_key("p256")
            doc = forge.document(pki, leaf=leaf, pcrs=pcrs,
                                 public_key=forge.spki_der(key))
            name = os.path.join(work, "%s-m%d-e%d" % (tag, minute, e))
            with open(name + ".pem", "wb") as f:
                f.write(forge.cert_pem(forge.client_cert(key, doc.cose)))
            with open(name + ".key", "wb") as f:
                f.write(forge.key_pem(key))
            pairs.append((name + ".pem", name + ".key"))
        order += pairs * per_cert
    return order


def main():
    work = tempfile.mkdtemp(prefix="nitro-bench-fleet-")
    _, _, plain, policy = mock_certs(work, 1)
    base, instances = fleet_pki()
    root = os.path.join(work, "fleet-root.pem")
    with open(root, "wb") as f:
        f.write(forge.cert_pem(base.root.der))

    # a fleet of its own for each round: every round starts from minute 0
    rounds = [fleet_certs(work, instances, "r%d" % r) for r in range(ROUNDS)]
    per_round = len(rounds[0])

    plain_case = Case("(a) plain mTLS",
                      server_block(False, root, policy, False, "off"),
                      [plain])
    fleet_case = Case("(f) fleet", server_block(True, root, policy, True,
                                                "64"),
                      [p for r in rounds for p in r], fresh=True)
    p384 = []
    try:
        plain_case.run(100)
        for _ in range(ROUNDS):
            p384.append(p384_verify_us())
            plain_case.rounds.append(plain_case.run(per_round))
            fleet_case.rounds.append(fleet_case.run(per_round))
    finally:
        plain_case.server.stop()
        fleet_case.server.stop()

    p384 = statistics.median(p384)
    a = plain_case.median("cpu_us")
    f = fleet_case.median("cpu_us")
    print("fleet: %d enclaves on %d parent instances, certificates renewed "
          "every minute, %d connections/s: %d full TLS 1.3 handshakes per "
          "simulated minute, each certificate %d times; %d minutes, %d "
          "rounds, medians" % (ENCLAVES, INSTANCES, RATE, RATE * 60,
                               max(1, RATE * 60 // ENCLAVES), MINUTES,
                               ROUNDS))
    print("P-384 verify (openssl speed): %.0f us" % p384)
    print("(a) plain mTLS:   %6.0f us worker CPU per handshake" % a)
    print("(f) fleet:        %6.0f us worker CPU per handshake, %.3f x (a)"
          % (f, f / a))
    print("extra per handshake: %.0f us = %.2f x one P-384 verification"
          % (f - a, (f - a) / p384))
    failed = sum(r["failed"] for r in fleet_case.rounds)
    if failed:
        print("  %d fleet handshakes FAILED" % failed)


if __name__ == "__main__":
    main()
