"""Load and fault test (make test-load; loopback only, bounded in count and
time): concurrent clients mixing valid and bad certificates against an
enforcing server with two workers.

  - every valid client is served; every bad one is refused, and the error
    log (and the event log, when the module has nitro_attest_event_log)
    names the right reason for each, exactly as many times as it was sent;
  - no worker exits on a signal, and the workers stay the same processes;
  - worker memory stays flat: VmRSS after a warm-up, then after
    NITRO_LOAD_HANDSHAKES (default 10000) more handshakes (target < 1 MiB);
  - `nginx -s reload` in the middle of traffic drops no valid client.  A
    drop is a valid client that does not get its 200: refused, reset or
    closed at any point.  No retry is allowed: nginx keeps serving every
    accepted connection through a graceful reload (the old workers finish
    theirs, the new ones accept from the same listening sockets), so even
    a reset during the handshake counts;
  - a policy file deleted or corrupted, then reload: nginx refuses the new
    configuration, names the file in the error log, and the old workers
    keep serving with the old policy.

Figures go to stdout (pytest -s) and to build/load-report.txt.
"""

import collections
import concurrent.futures
import os
import random
import shutil
import ssl
import threading
import time

import pytest

import forge
import nginx
from clients import attested, fault_clients
from files import write
from repo import REPO

HANDSHAKES = int(os.environ.get("NITRO_LOAD_HANDSHAKES", "10000"))
CONCURRENCY = int(os.environ.get("NITRO_LOAD_CONCURRENCY", "16"))
BAD_SHARE = 0.2
GOOD = {0: forge.default_pcrs()[0]}
REPORT = os.path.join(REPO, "build", "load-report.txt")


class TwoWorkers(nginx.Nginx):
    """Two workers, and a private copy of the module: a rebuild of
    build/*.so by cp (which rewrites the file in place) while nginx runs
    makes every worker mapping it die on SIGSEGV."""

    def render(self, http_body):
        private = os.path.join(self.prefix, "module.so")
        if not os.path.exists(private):
            shutil.copyfile(nginx.MODULE, private)
        return super().render(http_body).replace(
            "worker_processes 1;", "worker_processes 2;").replace(
            "worker_connections 256;", "worker_connections 1024;").replace(
            "load_module %s;" % nginx.MODULE, "load_module %s;" % private)


# the failures the load mixes in (of clients.fault_clients())
FAULTS = ("bad_signature", "untrusted_root", "pcr_mismatch", "stale",
          "debug_enclave", "malformed_document", "malformed_extension",
          "binding_mismatch", "no_extension")


def make_clients(directory, pki, other):
    """name -> client; client.reason: the reason it is refused for, None
    for a valid one (of each key kind)."""
    out = {}
    for i in range(12):
        kind = ("p384", "p256", "rsa", "ed25519")[i % 4]
        out["good%d" % i] = attested(directory, "good%d" % i, pki,
                                     key=forge.new_key(kind))
        out["good%d" % i].reason = None
    faults = fault_clients(directory, pki, other)
    for reason in FAULTS:
        out[reason] = faults[reason]
        out[reason].reason = reason
    for c in out.values():
        c.ctx()                 # made once, before the threads share it
    return out


class Load:
    """Runs handshakes from a thread pool and tallies the outcomes."""

    def __init__(self, server, clients):
        self.server = server
        self.good = [c for c in clients.values() if c.reason is None]
        self.bad = [c for c in clients.values() if c.reason is not None]
        self.lock = threading.Lock()
        self.sent = collections.Counter()      # reason -> bad handshakes
        self.served = 0
        self.retried = 0
        self.drops = []
        self.wrongly_served = []

    def attempt(self, c):
        try:
            resp, conn = nginx.get(self.server.ports[0], c.ctx(),
                                   "on.test")
            conn.close()
            ok = resp.status == 200 and resp.body == b"served\n"
            return ok, None if ok else "status %d" % resp.status
        except (ssl.SSLError, OSError) as e:
            return False, repr(e)

    def one(self, rnd):
        bad = rnd.random() < BAD_SHARE
        c = rnd.choice(self.bad if bad else self.good)
        ok, error = self.attempt(c)
        retried = False
        if not ok and c.reason is None:
            # a worker told to reload attests no new handshake: the client
            # reconnects, to a new worker, as a real one does
            retried = True
            ok, error = self.attempt(c)
        with self.lock:
            if c.reason is None:
                self.retried += retried
                if ok:
                    self.served += 1
                else:
                    self.drops.append(error)
            else:
                self.sent[c.reason] += 1
                if ok:
                    self.wrongly_served.append(c.reason)

    def run(self, count, during=None, seed=1):
        rnds = [random.Random(seed * 1000 + i) for i in range(count)]
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = [pool.submit(self.one, r) for r in rnds]
            if during:
                # halfway through, with handshakes in flight
                while sum(f.done() for f in futures) < count // 2:
                    time.sleep(0.01)
                during()
            for f in futures:
                f.result()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def logged_reasons(text):
    counts = collections.Counter()
    for line in text.splitlines():
        if "client attestation failed: " in line and "handshake refused" \
                in line:
            counts[line.split("client attestation failed: ")[1]
                   .split(",")[0]] += 1
    return counts


def event_reasons(path):
    import json
    counts = collections.Counter()
    if not os.path.exists(path):
        return counts
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e["status"] == "FAILED":
                counts[e["reason"]] += 1
    return counts


def report(line):
    print(line)
    with open(REPORT, "a") as f:
        f.write(line + "\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("load"))
    pki = forge.Pki.create(label="load")
    pki.save(os.path.join(d, "pki"))
    other = forge.Pki.create(label="other")
    policy = os.path.join(d, "policy.json")
    write(policy, forge.policy([("load-v1", GOOD)]))
    events = os.path.join(d, "events.jsonl")
    body = """
    nitro_attest_policy %(policy)s;
    nitro_attest_trusted_root %(root)s;
    %(event_log)s
    server {
        listen 127.0.0.1:@port0@ ssl default_server;
        server_name on.test;
        nitro_attest on;
        location / { return 200 "served\\n"; }
    }
    """
    values = dict(policy=policy, root=pki.root_pem,
                  event_log="nitro_attest_event_log %s;" % events)
    server = TwoWorkers(body % values)
    if server.test_config().returncode != 0:
        values["event_log"] = ""        # a module without the event log
        server.write(body % values)
        events = None
    server.start()
    with open(REPORT, "w") as f:
        f.write("make test-load, %s\n" % time.strftime("%Y-%m-%d %H:%M:%S"))
    report("reasons checked in: the error log%s" % (
        " and the event log" if events else ""))
    yield dict(dir=d, server=server, policy=policy, events=events,
               clients=make_clients(d, pki, other), body=body % values)
    server.stop()


def check_reasons(world, load):
    logged = logged_reasons(world["server"].log_text())
    assert logged == load.sent, (logged, load.sent)
    if world["events"]:
        assert event_reasons(world["events"]) == load.sent
    assert not load.wrongly_served


def test_load_serves_valid_refuses_bad_and_memory_stays_flat(world):
    server = world["server"]
    load = Load(server, world["clients"])
    workers = sorted(server.worker_pids())
    assert len(workers) == 2
    start = time.time()
    load.run(1000, seed=1)                     # warm-up: caches, pools
    before = {pid: rss_kib(pid) for pid in workers}
    load.run(HANDSHAKES, seed=2)
    after = {pid: rss_kib(pid) for pid in workers}
    elapsed = time.time() - start
    total = load.served + sum(load.sent.values())
    growth = sum(after.values()) - sum(before.values())
    report("handshakes: %d (%d valid served, %d bad refused) in %.1f s, "
           "%.0f/s, %d concurrent" % (
               total, load.served, sum(load.sent.values()), elapsed,
               total / elapsed, CONCURRENCY))
    report("valid refused or dropped: %d; bad served: %d" % (
        len(load.drops), len(load.wrongly_served)))
    report("refused by reason: %s" % dict(sorted(load.sent.items())))
    report("worker VmRSS KiB before %s after %s: growth %d KiB over %d "
           "handshakes" % (before, after, growth, HANDSHAKES))
    assert not load.drops, load.drops[:5]
    check_reasons(world, load)
    assert sorted(server.worker_pids()) == workers
    assert "exited on signal" not in server.log_text()
    assert growth < 1024, (before, after)


def test_reload_in_the_middle_drops_no_valid_client(world):
    server = world["server"]
    load = Load(server, world["clients"])
    old = set(server.worker_pids())
    # log lines of this test only
    offset = len(server.log_text())
    load.run(2000, during=lambda: server.reload(), seed=3)
    assert not (set(server.worker_pids()) & old)
    text = server.log_text()[offset:]
    retiring = text.count("worker shutting down, handshake refused")
    report("reload under load: %d valid served (%d after reconnecting), "
           "%d dropped, %d bad refused, %d handshakes refused by retiring "
           "workers" % (load.served, load.retried, len(load.drops),
                        sum(load.sent.values()), retiring))
    assert not load.drops, load.drops[:5]
    assert not load.wrongly_served
    # every refusal was logged: for its reason, or, by an old worker,
    # as a handshake it no longer attests (valid clients then reconnect)
    logged = logged_reasons(text)
    assert all(logged[r] <= n for r, n in load.sent.items()), \
        (logged, load.sent)
    assert set(logged) <= set(load.sent), (logged, load.sent)
    assert load.retried <= retiring
    assert sum(logged.values()) + retiring >= \
        sum(load.sent.values()) + load.retried
    assert "exited on signal" not in server.log_text()


@pytest.mark.parametrize("fault", ["deleted", "corrupted"])
def test_broken_policy_on_reload_keeps_the_old_config(world, fault):
    server, policy = world["server"], world["policy"]
    good = open(policy).read()
    master = server.master_pid()
    if fault == "deleted":
        os.unlink(policy)
    else:
        write(policy, '{"allow": [{"name": "load-v1", "pcrs": {"0": "zz"}}')
    offset = len(server.log_text())
    try:
        server.reload(expect_new_workers=False)
        text = server.log_text()[offset:]
        emerg = [l for l in text.splitlines() if "[emerg]" in l]
        assert emerg and policy in emerg[0], text
        report("policy %s, reload: %s" % (fault, emerg[0].split("] ", 1)[1]))
        # the old workers, with the old policy, keep serving
        load = Load(server, world["clients"])
        load.run(200, seed=4)
        assert server.master_pid() == master
        assert "start worker process" not in server.log_text()[offset:]
        assert not load.drops and not load.wrongly_served
        assert load.served > 0
    finally:
        write(policy, good)
    server.reload()
    assert "exited on signal" not in server.log_text()
