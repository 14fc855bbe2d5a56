#!/usr/bin/python3
"""bench_telemetry.py: what the event log and the counters cost a handshake.

Two nginx masters with one worker each, both "nitro_attest on" with the
same policy and a forged PKI (t/lib/forge.py):
  on   nitro_attest_event_log to a file + a nitro_attest_status location
       (so the counters zone exists and every handshake is counted);
  off  neither.
Both workers are pinned to the same CPU; client processes
(build/telemetry_client, C) making full TLS 1.3 handshakes with an
attested client certificate (no session reuse) run on the other CPUs and
keep the worker saturated.  Rounds alternate on/off
(and which goes first) in the same run.  Two figures per configuration:
attested handshakes per second of wall time, and per second of the
worker's own CPU time (from /proc/PID/schedstat), which other load on the
machine does not distort; the ratio on/off of the latter is the cost.

    make bench-telemetry    # or: bench/bench_telemetry.py [ROUNDS] [SECONDS]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "t", "lib"))
CLIENT = os.path.join(REPO, "build", "telemetry_client")

import forge  # noqa: E402
import nginx  # noqa: E402

PCRS = {i: forge.default_pcrs()[i] for i in (0, 1, 2)}


def write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def server_body(d, root, telemetry):
    extra = ""
    status = ""
    if telemetry:
        extra = "nitro_attest_event_log @prefix@/logs/events.log;"
        status = """
    server {
        listen 127.0.0.1:@port1@;
        location = /status { nitro_attest_status; }
    }"""
    return """
    access_log off;
    ssl_session_tickets off;
    ssl_session_cache off;
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name bench.test;
        nitro_attest on;
        nitro_attest_policy %s/policy.json;
        nitro_attest_trusted_root %s;
        %s
        location / { return 204; }
    }
    %s
    """ % (d, root, extra, status)


def handshakes(port, cert, key, procs, cpus, seconds):
    """Served requests, each on a full handshake, in seconds of load."""
    start = time.time() + 0.2
    out = subprocess.run(
        [CLIENT, str(port), cert, key, str(procs), "%.3f" % start,
         "%.3f" % (start + seconds)],
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
        stdout=subprocess.PIPE, check=True, text=True)
    return int(out.stdout)


def pin(n, cpu):
    for pid in n.worker_pids():
        os.sched_setaffinity(pid, {cpu})


def cpu_seconds(n):
    """CPU time the worker has run, in seconds."""
    (pid,) = n.worker_pids()
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.5
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0]
    client_cpus = set(cpus[1:]) or {server_cpu}
    nclients = max(4, 3 * len(client_cpus))

    d = tempfile.mkdtemp(prefix="nitro-bench-")
    pki = forge.Pki.create(label="bench")
    pki.save(os.path.join(d, "pki"))
    write(os.path.join(d, "policy.json"),
          forge.policy([("bench-v1", PCRS)]))
    key = forge.new_key()
    doc = forge.document(pki, public_key=forge.spki_der(key))
    cert = write(os.path.join(d, "client.pem"),
                 forge.cert_pem(forge.client_cert(key, doc.cose)))
    kpath = write(os.path.join(d, "client.key"), forge.key_pem(key))

    servers = {
        "on": nginx.Nginx(server_body(d, pki.root_pem, True), ports=2),
        "off": nginx.Nginx(server_body(d, pki.root_pem, False), ports=1),
    }
    results = {"on": [], "off": []}
    per_cpu = {"on": [], "off": []}
    try:
        for n in servers.values():
            n.start()
            pin(n, server_cpu)
        for name in ("on", "off"):                 # warm up both
            handshakes(servers[name].ports[0], cert, kpath, nclients,
                       client_cpus, 1.0)
        for r in range(rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for name in order:
                cpu = cpu_seconds(servers[name])
                n = handshakes(servers[name].ports[0], cert, kpath,
                               nclients, client_cpus, seconds)
                cpu = cpu_seconds(servers[name]) - cpu
                results[name].append(n / seconds)
                per_cpu[name].append(n / cpu)
            print("round %d: on %.1f/s (%.1f per CPU s)  off %.1f/s "
                  "(%.1f per CPU s)" % (
                      r + 1, results["on"][-1], per_cpu["on"][-1],
                      results["off"][-1], per_cpu["off"][-1]),
                  flush=True)
        events = os.path.join(servers["on"].prefix, "logs", "events.log")
        with open(events) as f:
            logged = sum(1 for _ in f)
    finally:
        for n in servers.values():
            n.stop()
        shutil.rmtree(d, ignore_errors=True)

    on, off = sum(results["on"]), sum(results["off"])
    con = statistics.median(per_cpu["on"])
    coff = statistics.median(per_cpu["off"])
    print("attested full TLS 1.3 handshakes, one nginx worker (CPU %d), "
          "%d clients, %d rounds of %.1f s each, %d event lines written:"
          % (server_cpu, nclients, rounds, seconds, logged))
    print("  per wall second:       on %.1f/s  off %.1f/s  ratio %.4f"
          % (on / rounds, off / rounds, on / off))
    print("  per worker CPU second: on %.1f/s  off %.1f/s  ratio %.4f "
          "(median of rounds)" % (con, coff, con / coff))
    print("telemetry cost per handshake: %.2f%% of the worker's CPU time"
          % (100 * (1 - con / coff)))


if __name__ == "__main__":
    main()
