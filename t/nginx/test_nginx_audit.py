"""The event log an auditor can re-verify and prove unedited, written by a
real nginx: evidence on each line (nitro_attest_event_log ... evidence),
hash chains sealed by Ed25519 checkpoints (nitro_attest_event_log_key),
OCSF events (format=ocsf), over files and syslog.

One nginx with two workers (world): on.test (enforcing) and
optional.test (report-only) on port0, every event to logs/events.log
(JSON, evidence), logs/ocsf.log (OCSF) and a UDP syslog receiver of the
test that writes each message, header included, as a line of
syslog.log.  The fixture drives it through concurrent handshakes of good
and failing clients, a rotation (rename, `nginx -s reopen`), a reload
(new workers) and a graceful stop (SIGQUIT); the tests then read the logs
with `nitro-attest audit verify`, with our own Python verifier
(hashlib and cryptography, t/lib/audit.py), and edit them as an attacker
with write access to the log would.
"""

import base64
import datetime
import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import audit
import forge
import nginx
from clients import (DENIED_PCR0, OTHER_PCR0, attested, context,
                     new_world, replay_of)
from events import EVENT_KEYS
from files import write
from forge import GOOD
from repo import CLI, REPO

jsonschema = pytest.importorskip("jsonschema",
                                 reason="python3-jsonschema (make deps)")

OCSF_SCHEMA = os.path.join(REPO, "t", "data", "ocsf",
                           "authentication-3002.schema.json")
CHAIN_KEYS = ["chain", "seq", "prev"]
ROUNDS = 24          # handshakes per client and phase, over 4 threads


class SyslogReceiver(threading.Thread):
    """A UDP syslog server writing each message as one line of path."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.path = path
        self.stopping = False
        self.count = 0

    def run(self):
        with open(self.path, "w") as f:
            while not self.stopping:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                f.write(data.decode() + "\n")
                f.flush()
                self.count += 1

    def stop(self):
        self.stopping = True
        self.join()
        self.sock.close()


def run_audit(*args):
    return subprocess.run([CLI, "audit", "verify", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=120)


def load(w, phase):
    """Concurrent handshakes of every client, both servers."""
    clients = [(w.good, "on.test"), (w.good, "optional.test"),
               (w.bad_signature, "on.test"), (w.pcr_mismatch, "on.test"),
               (w.denied, "optional.test"), (None, "on.test"),
               (w.replay, "on.test")]

    def worker(k):
        for i in range(ROUNDS):
            client, host = clients[(i + k) % len(clients)]
            nginx.try_get(w.port[0], context(client), host)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki):
    w = new_world(tmp_path_factory.mktemp("nginx-audit"), pki,
                  [("payments-v42", GOOD)],
                  deny=[("payments-v41-cve", {0: DENIED_PCR0})])
    d = w.dir
    w.good = attested(d, "good", pki, pcrs={**forge.default_pcrs()})
    w.bad_signature = attested(d, "bad_signature", pki,
                               tamper_signature=True)
    w.pcr_mismatch = attested(d, "pcr_mismatch", pki,
                              pcrs={**forge.default_pcrs(), 0: OTHER_PCR0})
    w.denied = attested(d, "denied", pki,
                        pcrs={**forge.default_pcrs(), 0: DENIED_PCR0})
    w.replay = replay_of(d, w.good)
    private, public = audit.new_key()
    w.key = write(os.path.join(d, "log-key.pem"), private)
    w.pub = write(os.path.join(d, "log-key.pub"), public)
    other = audit.new_key()
    w.other_pub = write(os.path.join(d, "other.pub"), other[1])

    w.syslog = SyslogReceiver(os.path.join(d, "syslog.log"))
    w.syslog.start()

    body = (nginx.trust(w.policy, pki.root_pem)
            + """
    nitro_attest_event_log_key %s;
    nitro_attest_event_log @prefix@/logs/events.log evidence;
    nitro_attest_event_log @prefix@/logs/ocsf.log format=ocsf;
    nitro_attest_event_log syslog:server=127.0.0.1:%d,tag=nitro;
""" % (w.key, w.syslog.port)
            + nginx.server("@port0@ ssl default_server",
                           'location / { return 200 "ok"; }',
                           name="optional.test", attest="optional")
            + nginx.server("@port0@ ssl", 'location / { return 200 "ok"; }',
                           name="on.test", attest="on"))
    w.nginx = nginx.Nginx(body, workers=2).start()
    w.port = w.nginx.ports
    logs = os.path.join(w.nginx.prefix, "logs")
    w.events = os.path.join(logs, "events.log")
    w.rotated = os.path.join(logs, "events.log.1")
    w.ocsf = os.path.join(logs, "ocsf.log")
    try:
        w.workers_before = set(w.nginx.worker_pids())
        load(w, 1)
        # rotation as logrotate does it: rename, then reopen
        os.rename(w.events, w.rotated)
        os.kill(w.nginx.master_pid(), signal.SIGUSR1)
        deadline = time.time() + 10
        while not os.path.exists(w.events) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        load(w, 2)
        w.nginx.reload()
        w.workers_after = set(w.nginx.worker_pids())
        load(w, 3)
        os.kill(w.nginx.master_pid(), signal.SIGQUIT)
        w.nginx.proc.wait(20)
    finally:
        w.nginx.stop(keep=True)
        time.sleep(0.3)
        w.syslog.stop()
    yield w


def lines_of(*paths):
    out = []
    for p in paths:
        with open(p) as f:
            out += f.read().splitlines()
    return out


def events_of(lines):
    return [json.loads(audit.message(line)) for line in lines]


def tampered(w, tmp_path, lines, name="tampered.log"):
    return write(os.path.join(str(tmp_path), name),
                 "".join(line + "\n" for line in lines))


def json_lines(w):
    return lines_of(w.rotated, w.events)


# ---------------------------------------------------------------------------
# What nginx wrote.

def test_audit_verify_every_chain_intact_and_sealed(world):
    """Every chain of both rotated files, both formats and syslog is whole
    and ends sealed: the graceful stop wrote each chain's checkpoint."""
    for logs in ([world.rotated, world.events], [world.ocsf],
                 [world.syslog.path]):
        r = run_audit("--key", world.pub, *logs)
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout.splitlines()
        # two workers before the reload, two after
        assert len(out) >= 4, r.stdout
        assert all(": intact, " in line and "sealed at seq" in line
                   and "unsealed" not in line for line in out), r.stdout


def test_independent_verifier_agrees(world):
    """Our own check (hashlib, cryptography): every link and signature
    holds, every chain ends with a checkpoint."""
    for lines in (json_lines(world), lines_of(world.ocsf),
                  lines_of(world.syslog.path)):
        chains = audit.verify_chains(lines, open(world.pub, "rb").read())
        assert len(chains) >= 4
        assert all(tail == 0 for _, tail in chains.values()), chains


def test_lines_whole_and_the_same_everywhere(world):
    """Two workers writing one file never mix their lines; each
    destination got every event."""
    counts = []
    for lines in (json_lines(world), lines_of(world.ocsf),
                  lines_of(world.syslog.path)):
        events = events_of(lines)
        counts.append(sum(1 for e in events
                          if e.get("event_type") != audit.CHECKPOINT))
    assert counts[0] == counts[1] == counts[2] >= 3 * 4 * ROUNDS - 12, counts


def test_chains_per_worker_across_reload(world):
    """A chain per worker and destination: the workers before the reload
    sealed theirs on exit, the new ones started new chains at seq 1."""
    events = events_of(json_lines(world))
    chains = {}
    for e in events:
        chains.setdefault(e["chain"], []).append(e)
    pids = {int(c.split(":")[2].split("-")[0]) for c in chains}
    assert pids & world.workers_before and pids & world.workers_after
    for chain, es in chains.items():
        assert es[0]["seq"] == 1 and es[0]["prev"] == audit.ZERO
        assert es[-1]["event_type"] == audit.CHECKPOINT
        host = chain.split(":")[0]
        assert host and chain.endswith(":http0")


def test_reopen_seals_the_rotated_file(world):
    """nginx -s reopen: each chain's last line in the rotated file is a
    checkpoint, and its next line (seq + 1) is in the new file."""
    old = events_of(lines_of(world.rotated))
    new = events_of(lines_of(world.events))
    last = {}
    for e in old:
        last[e["chain"]] = e
    assert last
    for chain, e in last.items():
        assert e["event_type"] == audit.CHECKPOINT
    continued = {e["chain"]: e["seq"] for e in reversed(new)}
    assert any(c in continued for c in last)
    for chain, seq in continued.items():
        if chain in last:
            assert seq == last[chain]["seq"] + 1
    # the new file alone misses the start of those chains
    r = run_audit("--key", world.pub, world.events)
    assert r.returncode == 1 and "lines removed" in r.stdout


def test_json_key_order(world):
    """The event keys, then evidence, then the chain's keys; checkpoints
    exactly as specified."""
    for e in events_of(json_lines(world)):
        if e["event_type"] == audit.CHECKPOINT:
            assert list(e) == ["event_type", "time", "chain", "seq", "prev",
                               "key_id", "sig"]
            assert e["key_id"] == audit.kid(open(world.pub, "rb").read())
        else:
            assert list(e) == EVENT_KEYS + ["evidence"] + CHAIN_KEYS
            assert list(e["evidence"]) == ["document", "certificate"]


def test_evidence_reproduces_the_verdict(world, tmp_path):
    """The certificate a line carries, verified again at the document's
    own time, gives the line's status and measurements; the document is
    the one doc_sha384 names."""
    seen = set()
    for e in events_of(json_lines(world)):
        if e["event_type"] == audit.CHECKPOINT:
            continue
        ev = e["evidence"]
        if ev["certificate"] is None:
            assert e["reason"] == "no_certificate" and ev["document"] is None
            continue
        der = base64.b64decode(ev["certificate"], validate=True)
        assert hashlib.sha256(der).hexdigest() == e["cert_sha256"]
        doc = base64.b64decode(ev["document"], validate=True)
        assert hashlib.sha384(doc).hexdigest() == e["doc_sha384"]
        if e["reason"] in seen:
            continue
        seen.add(e["reason"])
        cert = write(os.path.join(str(tmp_path), "c.der"), der)
        r = subprocess.run([CLI, "verify", "--root", world.pki.root_pem,
                            "--policy", world.policy, "--at", "document",
                            cert], stdout=subprocess.PIPE, text=True)
        again = json.loads(r.stdout)
        # a replay's certificate verifies: its client did not sign
        said = ("SUCCESS", None) if e["reason"] == "key_not_proven" \
            else (e["status"], e["reason"])
        assert (again["status"], again["reason"], again["pcrs"],
                again["module_id"]) == (*said, e["pcrs"], e["module_id"])
    assert {None, "bad_signature", "pcr_mismatch", "denied",
            "key_not_proven"} <= seen


def test_audit_verify_evidence_agrees(world):
    r = run_audit("--key", world.pub, "--evidence", "--root",
                  world.pki.root_pem, "--policy", world.policy,
                  world.rotated, world.events)
    assert r.returncode == 0, r.stdout + r.stderr
    # the wrong root: no line's verdict is reproduced
    r = run_audit("--key", world.pub, "--evidence", world.rotated,
                  world.events)
    assert r.returncode == 1 and "evidence says" in r.stdout


def test_ocsf_lines_validate(world):
    """Every OCSF event validates against the class 3002 schema generated
    from the OCSF repository; the mapping is the documented one."""
    schema = json.load(open(OCSF_SCHEMA))
    validator = jsonschema.Draft202012Validator(schema)
    n = 0
    for e in events_of(lines_of(world.ocsf)):
        if e.get("event_type") == audit.CHECKPOINT:
            continue
        errors = [x.message for x in validator.iter_errors(e)]
        assert not errors, (errors, e)
        n += 1
        u = e["unmapped"]
        assert list(u) == EVENT_KEYS + CHAIN_KEYS
        assert e["class_uid"] == 3002 and e["category_uid"] == 3
        assert e["activity_id"] == 1 and e["type_uid"] == 300201
        assert e["metadata"]["version"] == "1.8.0"
        assert e["metadata"]["product"]["name"] == "nitro-attest"
        assert e["status_id"] == (1 if u["status"] == "SUCCESS" else 2)
        assert e.get("status_detail") == u["reason"] or (
            u["reason"] is None and "status_detail" not in e)
        assert e["severity_id"] == {"INFO": 1, "WARNING": 3,
                                    "CRITICAL": 5}[u["severity"]]
        assert e["src_endpoint"]["ip"] == u["client_addr"]
        assert e["dst_endpoint"]["hostname"] == u["server_name"]
        assert e["user"] == ({"uid": u["module_id"]} if u["module_id"]
                             else {"uid": u["cert_sha256"]}
                             if u["cert_sha256"] else {"name": "unknown"})
        t = datetime.datetime.strptime(u["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        t = t.replace(tzinfo=datetime.timezone.utc)
        assert e["time"] == round(t.timestamp() * 1000)
    assert n > 0


def test_syslog_lines_are_the_message(world):
    """Over syslog the chained line is the message after nginx's header."""
    for line in lines_of(world.syslog.path):
        head, _, msg = line.partition(" nitro: ")
        assert head.startswith("<") and msg.startswith("{")


# ---------------------------------------------------------------------------
# An attacker with write access to the log.

def index_of(lines, pred, start=0):
    for i in range(start, len(lines)):
        if pred(json.loads(lines[i])):
            return i
    raise AssertionError("no such line")


def is_event(e):
    return e.get("event_type") != audit.CHECKPOINT


def broken(r, path, line):
    assert r.returncode == 1, r.stdout + r.stderr
    assert "broken at %s:%d:" % (path, line) in r.stdout, r.stdout


@pytest.fixture
def log(world):
    return lines_of(world.rotated)


def test_tamper_delete(world, tmp_path, log):
    i = index_of(log, is_event, 5)
    chain = json.loads(log[i])["chain"]
    nxt = index_of(log, lambda e: e["chain"] == chain, i + 1)
    path = tampered(world, tmp_path, log[:i] + log[i + 1:])
    broken(run_audit("--key", world.pub, path), path, nxt)


def test_tamper_modify(world, tmp_path, log):
    i = index_of(log, lambda e: is_event(e) and e["status"] == "FAILED", 3)
    e = json.loads(log[i])
    chain = e["chain"]
    edited = log[i].replace('"status":"FAILED"', '"status":"SUCCESS"', 1)
    assert edited != log[i]
    nxt = index_of(log, lambda x: x["chain"] == chain, i + 1)
    path = tampered(world, tmp_path, log[:i] + [edited] + log[i + 1:])
    broken(run_audit("--key", world.pub, path), path, nxt + 1)


def test_tamper_reorder(world, tmp_path, log):
    i = index_of(log, is_event, 3)
    chain = json.loads(log[i])["chain"]
    j = index_of(log, lambda e: e["chain"] == chain, i + 1)
    out = list(log)
    out[i], out[j] = out[j], out[i]
    path = tampered(world, tmp_path, out)
    broken(run_audit("--key", world.pub, path), path, i + 1)


def test_tamper_insert(world, tmp_path, log):
    i = index_of(log, is_event, 3)
    path = tampered(world, tmp_path, log[:i + 1] + [log[i]] + log[i + 1:])
    broken(run_audit("--key", world.pub, path), path, i + 2)


def test_tamper_truncate(world, tmp_path, log):
    text = "".join(line + "\n" for line in log)
    cut = text[:len(text) * 2 // 3]
    path = write(os.path.join(str(tmp_path), "cut.log"), cut)
    r = run_audit("--key", world.pub, path)
    assert r.returncode == 1, r.stdout
    assert "%s:%d: not a JSON event" % (path, cut.count("\n") + 1) \
        in r.stdout
    # whole lines cut after the last checkpoints: the tail shows unsealed
    last = max(i for i, line in enumerate(log)
               if not is_event(json.loads(line)))
    path = tampered(world, tmp_path, log[:last])
    r = run_audit("--key", world.pub, path)
    assert "unsealed tail of" in r.stdout, r.stdout


def test_tamper_forged_checkpoint(world, tmp_path, log):
    i = index_of(log, lambda e: not is_event(e))
    e = json.loads(log[i])
    sig = audit.b64url_decode(e["sig"])
    e["sig"] = audit.b64url(bytes([sig[0] ^ 1]) + sig[1:])
    out = log[:i] + [json.dumps(e, separators=(",", ":"))] + log[i + 1:]
    path = tampered(world, tmp_path, audit.relink(out, i))
    r = run_audit("--key", world.pub, path)
    broken(r, path, i + 1)
    assert "signature does not verify" in r.stdout


def test_tamper_wrong_key(world):
    r = run_audit("--key", world.other_pub, world.rotated)
    assert r.returncode == 1
    assert "another key" in r.stdout


def test_tamper_relinked_sealed_line(world, tmp_path, log):
    """A changed line with every hash after it recomputed: the checkpoint
    that sealed it no longer verifies."""
    i = index_of(log, lambda e: is_event(e) and e["status"] == "FAILED", 2)
    out = list(log)
    out[i] = out[i].replace('"status":"FAILED"', '"status":"SUCCESS"', 1)
    out = audit.relink(out, i)
    chain = json.loads(log[i])["chain"]
    ckpt = index_of(log, lambda e: e["chain"] == chain and not is_event(e),
                    i + 1)
    path = tampered(world, tmp_path, out)
    r = run_audit("--key", world.pub, path)
    broken(r, path, ckpt + 1)


def test_tamper_unsealed_tail_caught_by_evidence(world, tmp_path, log):
    """The unsealed tail edited and re-linked: the chain alone cannot tell,
    the evidence can."""
    last = {}
    for i, line in enumerate(log):
        last[json.loads(line)["chain"]] = i
    chain, ckpt = next((c, i) for c, i in last.items()
                       if not is_event(json.loads(log[i])))
    out = log[:ckpt] + log[ckpt + 1:]       # its final seal gone
    i = max(k for k, line in enumerate(out)
            if json.loads(line)["chain"] == chain
            and json.loads(line)["pcrs"])
    e = json.loads(out[i])
    e["pcrs"]["0"] = "00" * 48
    out[i] = json.dumps(e, separators=(",", ":"))
    out = audit.relink(out, i)
    path = tampered(world, tmp_path, out)
    r = run_audit("--key", world.pub, path)
    assert r.returncode == 0 and "unsealed tail of" in r.stdout, r.stdout
    r = run_audit("--key", world.pub, "--evidence", "--root",
                  world.pki.root_pem, "--policy", world.policy, path)
    broken(r, path, i + 1)
    assert "pcrs are not the evidence's" in r.stdout


def unsealed_edit(log, edit):
    """log with a chain's final seal removed and edit(event, events of the
    chain) applied to one line of its unsealed tail, every link after it
    recomputed: (lines, 1-based number of the edited line)."""
    last = {}
    for i, line in enumerate(log):
        last[json.loads(line)["chain"]] = i
    chain, ckpt = next((c, i) for c, i in last.items()
                       if not is_event(json.loads(log[i])))
    out = log[:ckpt] + log[ckpt + 1:]
    mine = [json.loads(line) if json.loads(line)["chain"] == chain else None
            for line in out]
    i = edit(mine)
    out[i] = json.dumps(mine[i], separators=(",", ":"))
    return audit.relink(out, i), i + 1


def last_where(events, pred):
    return max(k for k, e in enumerate(events)
               if e is not None and is_event(e) and pred(e))


def lie_success_reason_kept(events):
    i = last_where(events, lambda e: e["reason"] == "bad_signature")
    events[i]["status"] = "SUCCESS"
    return i


def lie_failed_without_reason(events):
    i = last_where(events, lambda e: e["status"] == "SUCCESS")
    events[i]["status"] = "FAILED"
    return i


def lie_success_without_certificate(events):
    i = last_where(events, lambda e: e["reason"] == "no_certificate")
    events[i].update(status="SUCCESS", reason=None, severity="INFO")
    return i


def lie_binding_dropped(events):
    """A success given another enclave's certificate, whose key its
    document does not attest: a binding_mismatch, unless the line's
    binding, now null, has the check skipped."""
    i = last_where(events, lambda e: e["status"] == "SUCCESS")
    j = last_where(events, lambda e: e["reason"] == "denied")
    events[i]["evidence"]["certificate"] = \
        events[j]["evidence"]["certificate"]
    events[i].update(cert_sha256=events[j]["cert_sha256"], binding=None)
    return i


@pytest.mark.parametrize("edit", [
    lie_success_reason_kept, lie_failed_without_reason,
    lie_success_without_certificate, lie_binding_dropped])
def test_tamper_status_lies_caught_by_evidence(world, tmp_path, log, edit):
    """Evidence and digests left as they were, the outcome edited: the
    status (and the binding it rests on) is what the evidence says."""
    out, n = unsealed_edit(log, edit)
    path = tampered(world, tmp_path, out)
    r = run_audit("--key", world.pub, "--evidence", "--root",
                  world.pki.root_pem, "--policy", world.policy, path)
    broken(r, path, n)


# ---------------------------------------------------------------------------
# The checkpoint timer and the configuration.

def test_checkpoint_within_a_minute(tmp_path, pki):
    """A chain with lines gets a checkpoint at most 60 s after its first
    unsealed line, while nginx runs."""
    w = new_world(tmp_path, pki, [("payments-v42", GOOD)])
    good = attested(w.dir, "good", pki, pcrs={**forge.default_pcrs()})
    key = write(os.path.join(w.dir, "k.pem"), audit.new_key()[0])
    body = (nginx.trust(w.policy, pki.root_pem)
            + "    nitro_attest_event_log_key %s;\n" % key
            + "    nitro_attest_event_log @prefix@/logs/events.log;\n"
            + nginx.server("@port0@ ssl", 'location / { return 200; }',
                           name="on.test", attest="on"))
    with nginx.Nginx(body) as n:
        path = os.path.join(n.prefix, "logs", "events.log")
        assert nginx.try_get(n.ports[0], context(good), "on.test")[0]
        start = time.time()
        while time.time() - start < 70:
            events = events_of(lines_of(path))
            if any(not is_event(e) for e in events):
                break
            time.sleep(1)
        assert [e["event_type"] for e in events] == [
            "enclave_attestation", audit.CHECKPOINT]
        assert time.time() - start <= 66


@pytest.mark.parametrize("directive, message", [
    ("nitro_attest_event_log_key %(ec)s;", "is not an Ed25519 private key"),
    ("nitro_attest_event_log_key %(missing)s;", "cannot open"),
    ("nitro_attest_event_log_key %(ed)s;\n"
     "    nitro_attest_event_log_key %(ed)s;", "is duplicate"),
    ("nitro_attest_event_log @prefix@/logs/e.log format=xml;",
     'invalid parameter "format=xml"'),
    ("nitro_attest_event_log @prefix@/logs/e.log evidence evidence;",
     'invalid parameter "evidence"'),
    ("nitro_attest_event_log off evidence;", 'invalid parameter'),
])
def test_nginx_t_errors(tmp_path, files, directive, message):
    keys = {"ec": files["token_key"],
            "missing": os.path.join(str(tmp_path), "nope.pem"),
            "ed": write(os.path.join(str(tmp_path), "ed.pem"),
                        audit.new_key()[0])}
    body = ("    %s\n" % (directive % keys)
            + nginx.trust(files["policy"], files["root"])
            + nginx.server("@port0@ ssl", name="on.test", attest="on"))
    code, out, conf = nginx.nginx_t(body)
    assert code != 0
    assert message in out, out
    lines = [n for n, x in enumerate(conf.text.splitlines(), 1)
             if "event_log" in x]
    assert any("%s:%d" % (conf, n) in out for n in lines), out


def test_stream_event_log_chained(tmp_path, pki):
    """The stream block has its own key and chains ("stream0")."""
    w = new_world(tmp_path, pki, [("payments-v42", GOOD)])
    good = attested(w.dir, "good", pki, pcrs={**forge.default_pcrs()})
    private, public = audit.new_key()
    key = write(os.path.join(w.dir, "k.pem"), private)
    stream = nginx.stream_main(
        "    nitro_attest_event_log_key %s;\n"
        "    nitro_attest_event_log @prefix@/logs/stream.log evidence "
        "format=ocsf;\n"
        "    nitro_attest_policy %s;\n    nitro_attest_trusted_root %s;\n"
        "    server { listen 127.0.0.1:@port1@ ssl; nitro_attest on;\n"
        "             return \"ok\"; }\n" % (key, w.policy, pki.root_pem))
    n = nginx.Nginx(nginx.server("@port0@", name="plain"), ports=2,
                    main=stream).start()
    try:
        ctx = context(good)
        with socket.create_connection(("127.0.0.1", n.ports[1])) as s:
            with ctx.wrap_socket(s, server_hostname="stream.test") as t:
                t.recv(16)
    finally:
        n.stop(keep=True)
    lines = lines_of(os.path.join(n.prefix, "logs", "stream.log"))
    chains = audit.verify_chains(lines, public)
    assert len(chains) == 1 and list(chains.values()) == [(2, 0)]
    assert list(chains)[0].endswith(":stream0")
    e = json.loads(lines[0])
    assert "dst_endpoint" not in e and e["unmapped"]["evidence"]["document"]


def test_reopen_seals_both_blocks_of_one_file(tmp_path, pki):
    """http and stream chained into one file: before nginx reopens it,
    each block's chain is sealed in it, not only the first block's."""
    w = new_world(tmp_path, pki, [("payments-v42", GOOD)])
    good = attested(w.dir, "good", pki, pcrs={**forge.default_pcrs()})
    private, public = audit.new_key()
    key = write(os.path.join(w.dir, "k.pem"), private)
    pub = write(os.path.join(w.dir, "k.pub"), public)
    chained = ("    nitro_attest_event_log_key %s;\n"
               "    nitro_attest_event_log @prefix@/logs/both.log;\n" % key)
    stream = nginx.stream_main(
        chained + nginx.trust(w.policy, pki.root_pem)
        + "    server { listen 127.0.0.1:@port1@ ssl; nitro_attest on;\n"
          "             return \"ok\"; }\n")
    n = nginx.Nginx(chained + nginx.trust(w.policy, pki.root_pem)
                    + nginx.server("@port0@ ssl",
                                   'location / { return 200 "ok"; }',
                                   name="on.test", attest="on"),
                    ports=2, main=stream).start()
    logs = os.path.join(n.prefix, "logs")
    both, rotated = (os.path.join(logs, "both.log"),
                     os.path.join(logs, "both.log.1"))
    try:
        assert nginx.try_get(n.ports[0], context(good), "on.test")[0].status \
            == 200
        with socket.create_connection(("127.0.0.1", n.ports[1])) as s:
            with context(good).wrap_socket(s, server_hostname="s") as t:
                assert t.recv(16) == b"ok"
        os.rename(both, rotated)
        os.kill(n.master_pid(), signal.SIGUSR1)
        deadline = time.time() + 10
        while not os.path.exists(both) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        r = run_audit("--key", pub, rotated)
    finally:
        n.stop(keep=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 2 and all("sealed at seq 2" in x for x in out), \
        r.stdout


def test_syslog_evidence_fits_a_datagram(tmp_path, pki):
    """A client's certificate whose evidence would not fit one UDP
    datagram: its line goes out without the evidence, not lost, so the
    chain has no gap (which audit verify reports as lines removed)."""
    w = new_world(tmp_path, pki, [("payments-v42", GOOD)])
    good = attested(w.dir, "good", pki, pcrs={**forge.default_pcrs()})
    big = attested(w.dir, "big", pki, cert_kw={"value": b"\x00" * 50000})
    private, public = audit.new_key()
    key = write(os.path.join(w.dir, "k.pem"), private)
    pub = write(os.path.join(w.dir, "k.pub"), public)
    receiver = SyslogReceiver(os.path.join(w.dir, "syslog.log"))
    receiver.start()
    n = nginx.Nginx(
        "    nitro_attest_event_log_key %s;\n"
        "    nitro_attest_event_log syslog:server=127.0.0.1:%d,tag=nitro "
        "evidence;\n" % (key, receiver.port)
        + nginx.trust(w.policy, pki.root_pem)
        + nginx.server("@port0@ ssl", 'location / { return 200 "ok"; }',
                       name="on.test", attest="on")).start()
    try:
        for client in (good, big, good):
            nginx.try_get(n.ports[0], context(client), "on.test")
    finally:
        n.stop(keep=True)
        time.sleep(0.3)
        receiver.stop()
    lines = lines_of(receiver.path)
    assert len(lines) == 4, lines
    e = json.loads(audit.message(lines[1]))
    assert e["reason"] == "malformed_extension"
    assert e["evidence"] == {"document": None, "certificate": None}
    r = run_audit("--key", pub, receiver.path)
    assert r.returncode == 0 and "sealed at seq 4" in r.stdout, r.stdout


def test_evidence_of_the_largest_certificate(tmp_path, pki):
    """A certificate as large as OpenSSL takes from a client (100 KB for
    the chain): its line still carries it, so audit verify --evidence
    checks the line instead of finding a certificate it cannot see."""
    w = new_world(tmp_path, pki, [("payments-v42", GOOD)])
    big = attested(w.dir, "big", pki, cert_kw={"value": b"\x00" * 90000})
    private, public = audit.new_key()
    key = write(os.path.join(w.dir, "k.pem"), private)
    pub = write(os.path.join(w.dir, "k.pub"), public)
    n = nginx.Nginx(
        "    nitro_attest_event_log_key %s;\n"
        "    nitro_attest_event_log @prefix@/logs/e.log evidence;\n" % key
        + nginx.trust(w.policy, pki.root_pem)
        + nginx.server("@port0@ ssl", 'location / { return 200 "ok"; }',
                       name="on.test", attest="on")).start()
    try:
        nginx.try_get(n.ports[0], context(big), "on.test")
    finally:
        n.stop(keep=True)
    path = os.path.join(n.prefix, "logs", "e.log")
    e = json.loads(lines_of(path)[0])
    assert e["reason"] == "malformed_extension"
    assert len(base64.b64decode(e["evidence"]["certificate"])) > 90000
    r = run_audit("--key", pub, "--evidence", "--root", pki.root_pem, path)
    assert r.returncode == 0, r.stdout
