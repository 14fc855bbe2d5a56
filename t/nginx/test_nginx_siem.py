"""conf-examples/siem/ checked by the tools that consume it, against a real
nginx:

- prometheus-rules.yml: `promtool check rules`, `promtool test rules
  prometheus-rules.test.yml`, and a real Prometheus server (Debian's
  /usr/bin/prometheus) that scrapes the real status endpoint with
  prometheus.yml and evaluates the rules: a silent allow set and a failure
  family raise their alerts; with a real prometheus-node-exporter serving
  what `nitro-attest expect` wrote, a rollback, an enclave attesting with
  another PCR0 than it was launched with and one its parent does not list
  raise theirs;
- sigma/*.yml: well-formed Sigma rules on the event line's field names, each
  matching the real event line of its failure and no other;
- grafana-dashboard.json: only the module's metric families and labels, every
  query accepted by the real Prometheus;
- rsyslog-nitro-attest.conf: a real rsyslogd ships the event lines of the
  example nginx.conf (file, and the UDP alternative) to a collector.

One nginx (world): port0 optional.test (report-only: every failure is
served and logged) and on.test (enforcing), events to logs/events.log;
port1 plain HTTP with the status endpoint.  Prometheus and rsyslogd run on
127.0.0.1 from temporary directories and are stopped by their pid.
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid

import pytest

import forge
import nginx
from clients import (DENIED_PCR0, attested, context, fault_clients,
                     new_world, replay_of)
from events import EVENT_KEYS, LogTail
from forge import GOOD
from repo import CLI, EXAMPLES

yaml = pytest.importorskip("yaml", reason="python3-yaml (make deps)")

SIEM = os.path.join(EXAMPLES, "siem")
RULES = os.path.join(SIEM, "prometheus-rules.yml")
RULES_TEST = os.path.join(SIEM, "prometheus-rules.test.yml")
PROM_CONFIG = os.path.join(SIEM, "prometheus.yml")
DASHBOARD = os.path.join(SIEM, "grafana-dashboard.json")
RSYSLOG_CONF = os.path.join(SIEM, "rsyslog-nitro-attest.conf")
SIGMA = sorted(glob.glob(os.path.join(SIEM, "sigma", "*.yml")))
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
RSYSLOGD = "/usr/sbin/rsyslogd"

# the Prometheus families of the status endpoint, with the
# labels the module writes
FAMILIES = {
    "nitro_attest_handshakes_total": {"result"},
    "nitro_attest_failures_total": {"reason"},
    "nitro_attest_policy_matches_total": {"policy"},
    "nitro_attest_cache_total": {"result"},
    "nitro_attest_policy_last_success_seconds": {"policy"},
    "nitro_attest_policy_silent": {"policy"},
    "nitro_attest_protocol_handshakes_total": {"protocol", "result"},
    "nitro_attest_enclave_last_seen_seconds": {"module_id", "instance_id",
                                               "policy"},
    "nitro_attest_enclave_attestations_total": {"module_id", "result"},
    "nitro_attest_enclave_pcr0_info": {"module_id", "pcr0"},
    "nitro_attest_rollbacks_total": {"service"},
    # node_exporter's textfile of nitro-attest expect, on parent instances
    "nitro_attest_expected_enclave_since_seconds": {
        "module_id", "instance_id", "enclave_name", "pcr0", "debug"},
}
EXPECTED_FAMILIES = {"nitro_attest_enclave_pcr0_info",
                     "nitro_attest_expected_enclave_since_seconds"}
MODULE_LABELS = set().union(*FAMILIES.values())
ALERTS = {
    "NitroAttestEnclaveSilent": "nitro_attest_policy_silent",
    "NitroAttestDoppelganger": 'reason="pcr_mismatch"',
    "NitroAttestTrustedRogue": 'reason="binding_mismatch"',
    "NitroAttestKeyNotProven": 'reason="key_not_proven"',
    "NitroAttestDeniedBuild": 'reason="denied"',
    "NitroAttestDebugEnclave": 'reason="debug_enclave"',
    "NitroAttestForgery": 'reason=~"bad_signature|untrusted_root|'
                          'chain_invalid"',
    "NitroAttestFailureRate": 'result="failed"',
    "NitroAttestAttestationDrop": 'result="verified"',
    "NitroAttestInstanceSilent": "nitro_attest_enclave_last_seen_seconds",
    "NitroAttestEnclaveNeverAttested":
        "nitro_attest_expected_enclave_since_seconds < time() - 30",
    "NitroAttestMeasurementMismatch": "unless on (module_id, pcr0)",
    "NitroAttestUnexpectedEnclave": "and on (instance_id)",
    "NitroAttestDebugEnclaveRunning": 'debug="true"',
    "NitroAttestRollback": "nitro_attest_rollbacks_total",
}
# the keys of an event line
EVENT_FIELDS = set(EVENT_KEYS)
# Sigma rule file -> the reason codes whose event lines it must match
SIGMA_REASONS = {
    "nitro_attest_doppelganger.yml": {"pcr_mismatch"},
    "nitro_attest_trusted_rogue.yml": {"binding_mismatch"},
    "nitro_attest_key_not_proven.yml": {"key_not_proven"},
    "nitro_attest_denied_build.yml": {"denied"},
    "nitro_attest_debug_enclave.yml": {"debug_enclave"},
    "nitro_attest_forgery.yml": {"bad_signature", "untrusted_root",
                                 "chain_invalid"},
}

V43 = {0: bytes.fromhex("43" * 48), 1: bytes.fromhex("44" * 48)}

PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "and", "or",
    "unless", "on", "ignoring", "group_left", "group_right", "offset",
    "bool", "rate", "increase", "irate", "time", "vector", "label_values",
    "histogram_quantile", "clamp_min", "clamp_max", "abs", "topk",
    "bottomk", "delta", "deriv", "changes", "resets", "timestamp",
    "max_over_time",
}


def need(path, package):
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing: install %s (make deps)" % (path, package))


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def promql_names(expr):
    """(metric names, label names) an expression uses: identifiers outside
    strings, minus functions, keywords and durations; labels from the
    matchers and the by/without/on/ignoring lists."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels = set()
    for group in re.findall(r"\{([^}]*)\}", text):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", group))
    for group in re.findall(
            r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        labels |= set(re.findall(r"[a-zA-Z_]\w*", group))
    bare = re.sub(r"\{[^}]*\}", "", text)
    bare = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\boffset\s+\w+", "", bare)
    bare = re.sub(r"\$\{?\w+\}?", "", bare)        # Grafana variables
    names = set()
    for m in re.finditer(r"\b([a-zA-Z_:][\w:]*)\b(\s*\()?", bare):
        word, call = m.group(1), m.group(2)
        if call or word in PROMQL_WORDS or re.match(r"\d", word):
            continue
        names.add(word)
    return names, labels


def test_promql_names_sees_metrics_and_labels():
    names, labels = promql_names(
        'sum without (result) (rate(a_total{x="b",y=~"c|d"}[5m] offset 1h))'
        ' / on (z) b and time() - max by (instance) (c) > 0 or vector(0)')
    assert names == {"a_total", "b", "c"}
    assert labels == {"result", "x", "y", "z", "instance"}


# ---------------------------------------------------------------------------
# Prometheus rules: promtool.

def test_promtool_checks_rules_and_config():
    need(PROMTOOL, "prometheus")
    for argv in (["check", "rules", RULES], ["check", "config", PROM_CONFIG]):
        p = subprocess.run([PROMTOOL] + argv, cwd=SIEM, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: 15 rules found" in p.stdout


def test_promtool_unit_tests_of_the_rules_pass():
    need(PROMTOOL, "prometheus")
    p = subprocess.run([PROMTOOL, "test", "rules", RULES_TEST], cwd=SIEM,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def rules():
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"]]


def test_rules_are_the_documented_alerts_on_module_metrics_only():
    got = rules()
    assert sorted(r["alert"] for r in got) == sorted(ALERTS)
    for r in got:
        expr = r["expr"]
        names, labels = promql_names(expr)
        assert names and names <= set(FAMILIES), (r["alert"], names)
        assert labels <= MODULE_LABELS, (r["alert"], labels)
        assert not re.search(r"\b(job|instance)\b", expr), r["alert"]
        assert ALERTS[r["alert"]] in expr, r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning")
        assert r["annotations"]["summary"] and \
            r["annotations"]["description"]
    by_name = {r["alert"]: r for r in got}
    assert "time() - " in by_name["NitroAttestInstanceSilent"]["expr"]
    assert "> 900" in by_name["NitroAttestInstanceSilent"]["expr"]
    assert "by (instance_id)" in by_name["NitroAttestInstanceSilent"]["expr"]
    assert "== 1" in by_name["NitroAttestEnclaveSilent"]["expr"]


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    fires, quiet = set(), set()
    for case in load_yaml(RULES_TEST)["tests"]:
        for t in case["alert_rule_test"]:
            (fires if t["exp_alerts"] else quiet).add(t["alertname"])
            for a in t["exp_alerts"]:
                assert a["exp_annotations"], (case["name"], t["eval_time"])
    assert fires == quiet == set(ALERTS)


# ---------------------------------------------------------------------------
# Sigma rules.

SIGMA_STATUS = {"stable", "test", "experimental", "deprecated", "unsupported"}
SIGMA_LEVELS = {"informational", "low", "medium", "high", "critical"}


def sigma_rules():
    return {os.path.basename(p): load_yaml(p) for p in SIGMA}


def sigma_condition(condition, hits):
    """Evaluates a condition of selection names joined by and / or / not
    and parentheses, hits: name -> bool."""
    tokens = re.findall(r"\(|\)|[A-Za-z_][\w]*", condition)
    assert "".join(tokens) == re.sub(r"\s+", "", condition), condition
    out = []
    for tok in tokens:
        if tok in ("and", "or", "not", "(", ")"):
            out.append(tok)
        else:
            assert tok in hits, "condition names an undefined %r" % tok
            out.append(str(hits[tok]))
    return eval(" ".join(out), {"__builtins__": {}})


def sigma_value_matches(want, got):
    """Sigma's plain values: strings compare case-insensitively; a list
    is any of its values; no modifiers."""
    if isinstance(want, list):
        return any(sigma_value_matches(w, got) for w in want)
    if isinstance(want, str):
        return isinstance(got, str) and got.lower() == want.lower()
    return got == want


def sigma_matches(rule, event):
    det = rule["detection"]
    hits = {}
    for name, sel in det.items():
        if name == "condition":
            continue
        hits[name] = all(sigma_value_matches(want, event.get(field))
                         for field, want in sel.items())
    return sigma_condition(det["condition"], hits)


def sigma_fields(rule):
    fields = set(rule.get("fields", []))
    for name, sel in rule["detection"].items():
        if name != "condition":
            fields |= set(sel)
    return fields


def test_sigma_rules_are_well_formed_on_event_fields():
    got = sigma_rules()
    assert set(got) == set(SIGMA_REASONS)
    ids = []
    for name, rule in got.items():
        for key in ("title", "id", "status", "description", "logsource",
                    "detection", "fields", "falsepositives", "level"):
            assert rule.get(key), (name, key)
        assert len(rule["title"]) <= 256
        assert str(uuid.UUID(rule["id"])) == rule["id"], name
        ids.append(rule["id"])
        assert rule["status"] in SIGMA_STATUS
        assert rule["level"] in SIGMA_LEVELS
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", str(rule["date"])), name
        for tag in rule.get("tags", []):
            assert re.fullmatch(r"[a-z0-9_-]+\.[a-z0-9._-]+", tag), tag
        assert rule["logsource"]["product"] == "nginx"
        assert rule["logsource"]["service"] == "nitro_attest"
        det = rule["detection"]
        selections = [k for k in det if k != "condition"]
        assert selections and isinstance(det["condition"], str)
        for sel in selections:
            assert isinstance(det[sel], dict) and det[sel], (name, sel)
        # every selection is used, and the condition names only these
        used = set(re.findall(r"[A-Za-z_]\w*", det["condition"])) - {
            "and", "or", "not"}
        assert used == set(selections), name
        assert sigma_fields(rule) <= EVENT_FIELDS, name
        assert det[selections[0]]["event_type"] == "enclave_attestation"
        assert isinstance(rule["falsepositives"], list)
    assert len(set(ids)) == len(ids)


def test_sigma_condition_evaluator():
    hits = {"a": True, "b": False}
    assert sigma_condition("a", hits)
    assert not sigma_condition("a and b", hits)
    assert sigma_condition("a and not b", hits)
    assert sigma_condition("(b or a) and not (a and b)", hits)
    with pytest.raises(AssertionError):
        sigma_condition("c", hits)
    with pytest.raises(AssertionError):
        sigma_condition("a; import os", hits)


# ---------------------------------------------------------------------------
# The world: one nginx.

def response(w, client, host):
    """The response to one request on a new connection to port0, None when
    the handshake was refused."""
    return nginx.try_get(w.port[0], context(client), host)[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki, other_pki):
    w = new_world(tmp_path_factory.mktemp("nginx-siem"), pki,
                  [("payments-v42", GOOD), ("payments-v43", V43, None, "2s")],
                  deny=[("payments-v41-cve", {0: DENIED_PCR0})])
    d = w.dir
    w.faults = fault_clients(d, pki, other_pki)
    w.good = attested(d, "good", pki)
    w.v43 = attested(d, "v43", pki, pcrs={**forge.default_pcrs(), **V43})
    w.events_path = os.path.join(d, "events.log")
    status = 'location / { return 200 "status=$nitro_attest_status\\n"; }'
    body = (nginx.trust(w.policy, pki.root_pem)
            + "    nitro_attest_event_log %s;\n" % w.events_path
            + nginx.server("@port0@ ssl default_server", status,
                           name="optional.test", attest="optional")
            + nginx.server("@port0@ ssl", status, name="on.test",
                           attest="on")
            + nginx.status_server())
    yield from nginx.serving(w, body, ports=2)


# every failure a client certificate can cause, made on the report-only
# server so that each is served and logged with its measurements
MEASURED = ("no_extension", "malformed_extension", "malformed_document",
            "unsupported_algorithm", "bad_signature", "untrusted_root",
            "chain_invalid", "certificate_expired", "stale", "future",
            "debug_enclave", "denied", "pcr_mismatch", "binding_mismatch")


def test_each_sigma_rule_matches_the_real_event_of_its_failure(world):
    w = world
    events = LogTail(w.events_path)
    resp = response(w, w.good, "optional.test")
    assert resp.text == "status=SUCCESS\n"
    for reason in MEASURED:
        resp = response(w, w.faults[reason], "optional.test")
        assert resp.text == "status=FAILED:%s\n" % reason
    assert response(w, None, "on.test") is None       # no_certificate
    # key_not_proven: the genuine certificate presented with a
    # key that cannot sign for it (a replay)
    replay = replay_of(w.dir, w.good, "siem-replay")
    assert response(w, replay, "on.test") is None
    ev = events.events(expect=len(MEASURED) + 3)
    assert [e["reason"] for e in ev] == [None, *MEASURED, "no_certificate",
                                         "key_not_proven"]
    for name, rule in sigma_rules().items():
        got = {e["reason"] for e in ev if sigma_matches(rule, e)}
        assert got == SIGMA_REASONS[name], name
        # what the rule shows the analyst is in every line it matches
        for e in ev:
            if sigma_matches(rule, e):
                assert set(rule["fields"]) <= set(e), name
    dopp = [e for e in ev if e["reason"] == "pcr_mismatch"][0]
    assert dopp["module_id"] and dopp["pcrs"]["0"]


# ---------------------------------------------------------------------------
# A real Prometheus: scrapes the status endpoint, evaluates the rules.

class Prometheus:
    def __init__(self, directory, target, jobs=()):
        self.dir = directory
        # The shipped rules with every `for:` cut to 1s, so that pending
        # and firing happen within seconds; the expressions are unchanged.
        with open(RULES) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^(\s+for:) \S+$", r"\1 1s", text)
        assert n == 4
        rules_path = os.path.join(directory, "rules.yml")
        with open(rules_path, "w") as f:
            f.write(text)
        # the shipped scrape configuration, pointed at the test's nginx
        config = load_yaml(PROM_CONFIG)
        config["global"] = {"scrape_interval": "1s",
                            "evaluation_interval": "1s"}
        config["rule_files"] = [rules_path]
        job = config["scrape_configs"][0]
        assert job["params"] == {"format": ["prometheus"]}
        job["static_configs"] = [{"targets": [target]}]
        config["scrape_configs"] += list(jobs)
        self.config = os.path.join(directory, "prometheus.yml")
        with open(self.config, "w") as f:
            yaml.safe_dump(config, f)
        self.port = nginx.free_ports(1)[0]
        self.log = os.path.join(directory, "prometheus.log")
        self.proc = None

    def start(self):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + self.config,
                 "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--log.level=warn"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited:\n" + self.log_text())
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/-/ready" % self.port,
                        timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("prometheus did not start:\n" + self.log_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
        return body

    def wait(self, what, check, timeout=30.0):
        deadline = time.time() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.time() > deadline:
                raise AssertionError("prometheus: no %s in %.0fs\n%s" % (
                    what, timeout, self.log_text()))
            time.sleep(0.25)


@pytest.fixture(scope="module")
def prometheus(world, tmp_path_factory):
    need(PROMETHEUS, "prometheus")
    p = Prometheus(str(tmp_path_factory.mktemp("prometheus")),
                   "127.0.0.1:%d" % world.port[1]).start()
    yield p
    p.stop()


def alerts(p):
    return [(a["labels"]["alertname"], a["labels"], a["state"])
            for a in p.api("alerts")["data"]["alerts"]]


def test_prometheus_scrapes_the_endpoint_and_loads_every_rule(prometheus):
    p = prometheus

    def target_up():
        targets = p.api("targets")["data"]["activeTargets"]
        return targets and targets[0]["health"] == "up" and targets[0]

    target = p.wait("target up", target_up)
    assert target["scrapeUrl"].endswith(nginx.STATUS + "?format=prometheus")

    def evaluated():
        rs = [r for g in p.api("rules")["data"]["groups"]
              for r in g["rules"]]
        return all(r["health"] != "unknown" for r in rs) and rs

    got = p.wait("rule evaluation", evaluated)
    assert sorted(r["name"] for r in got) == sorted(ALERTS)
    assert all(r["health"] == "ok" for r in got), [
        (r["name"], r.get("lastError")) for r in got]


def test_prometheus_alerts_on_a_silent_set_and_on_failures(world, prometheus):
    w, p = world, prometheus

    def scraped_twice():
        r = p.api("query", query='count_over_time(nitro_attest_failures_'
                  'total{reason="pcr_mismatch"}[1m])')["data"]["result"]
        return r and float(r[0]["value"][1]) >= 2

    p.wait("two scrapes", scraped_twice)
    for reason in ("pcr_mismatch", "bad_signature"):
        resp = response(w, w.faults[reason], "optional.test")
        assert resp.text == "status=FAILED:%s\n" % reason

    wanted = {("NitroAttestDoppelganger", "reason", "pcr_mismatch"),
              ("NitroAttestForgery", "reason", "bad_signature"),
              ("NitroAttestEnclaveSilent", "policy", "payments-v43")}

    def all_raised():
        got = alerts(p)
        have = {(n, k, v) for n, k, v in wanted
                for name, labels, state in got
                if name == n and labels.get(k) == v and (
                    state == "firing" or n == "NitroAttestEnclaveSilent")}
        return have == wanted and got

    got = p.wait("alerts", all_raised)
    names = {(name, labels.get("reason") or labels.get("policy"))
             for name, labels, _ in got}
    # the other failures happened before Prometheus's first scrape: no
    # increase, no alert; a set without expect_every is never silent
    assert names == {("NitroAttestDoppelganger", "pcr_mismatch"),
                     ("NitroAttestForgery", "bad_signature"),
                     ("NitroAttestEnclaveSilent", "payments-v43")}, got
    for name, labels, state in got:
        assert labels["severity"] == "critical"
        # a per-series alert keeps the scrape's labels (used by no rule);
        # the silent set is judged over every node: only its policy
        if name == "NitroAttestEnclaveSilent":
            assert set(labels) == {"alertname", "severity", "policy"}
        else:
            assert {"job", "instance"} <= set(labels)
    states = {name: state for name, _, state in got}
    assert states["NitroAttestEnclaveSilent"] in ("pending", "firing")
    detail = [a for a in p.api("alerts")["data"]["alerts"]
              if a["labels"]["alertname"] == "NitroAttestEnclaveSilent"][0]
    assert "payments-v43" in detail["annotations"]["summary"]


# ---------------------------------------------------------------------------
# End to end: nginx nodes' metrics and, on the parent instance, what
# `nitro-attest expect` wrote for a real node_exporter's textfile
# collector, both scraped by a real Prometheus evaluating the shipped rules.

X = "i-0aaaaaaaaaaaaaaaa"
V1 = {0: bytes.fromhex("a1" * 48)}
V2 = {0: bytes.fromhex("a2" * 48)}
LAUNCHED = "0e" * 48        # the PCR0 nitro-cli reports for X's slot 2


def described(slot, pcr0, name="pay"):
    """An enclave as nitro-cli describe-enclaves prints it."""
    return {"EnclaveName": name, "EnclaveID": "%s-enc%s" % (X, slot),
            "ProcessID": 4000 + int(slot, 16), "EnclaveCID": 16,
            "NumberOfCPUs": 2, "CPUIDs": [1, 3], "MemoryMiB": 512,
            "State": "RUNNING", "Flags": "NONE",
            "Measurements": {"HashAlgorithm": "Sha384 { ... }",
                             "PCR0": pcr0.upper(), "PCR1": "11" * 48,
                             "PCR2": "22" * 48}}


class NodeExporter:
    def __init__(self, textdir):
        self.port = nginx.free_ports(1)[0]
        self.proc = subprocess.Popen(
            [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % self.port,
             "--collector.disable-defaults", "--collector.textfile",
             "--collector.textfile.directory=%s" % textdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def test_prometheus_alerts_on_rollback_and_expected_enclaves(tmp_path, pki):
    need(PROMETHEUS, "prometheus")
    need(NODE_EXPORTER, "prometheus-node-exporter")
    d = str(tmp_path)
    policy = os.path.join(d, "policy.json")
    with open(policy, "w") as f:
        json.dump({"allow": [
            {"name": "pay-v1", "service": "pay", "version": 1,
             "pcrs": {"0": V1[0].hex()}},
            {"name": "pay-v2", "service": "pay", "version": 2,
             "pcrs": {"0": V2[0].hex()}}]}, f)
    status = 'location / { return 200 "status=$nitro_attest_status\\n"; }'
    body = (nginx.trust(policy, pki.root_pem)
            + "    nitro_attest_inventory zone=inventory:1m;\n"
            + nginx.server("@port0@ ssl", status, name="on.test",
                           attest="on")
            + nginx.status_server())

    def client(name, slot, pcrs):
        return attested(d, name, pki, module_id="%s-enc%016x" % (X, slot),
                        pcrs={**forge.default_pcrs(), **pcrs})

    # the parent instance runs slots 1 and 2 (2 launched with another
    # image than the one it attests with); slot 3 is not listed
    textdir = os.path.join(d, "textfile")
    os.mkdir(textdir)
    p = subprocess.run([str(CLI), "expect", "--textfile",
                        os.path.join(textdir, "nitro-attest.prom"),
                        "--state", os.path.join(d, "expect.json")],
                       input=json.dumps([described("1", V1[0].hex()),
                                         described("2", LAUNCHED)]),
                       text=True, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr

    n = nginx.Nginx(body, ports=2).start()
    ne = NodeExporter(textdir)
    prom = None
    try:
        prom = Prometheus(d, "127.0.0.1:%d" % n.ports[1], jobs=[{
            "job_name": "node", "static_configs": [
                {"targets": ["127.0.0.1:%d" % ne.port]}]}]).start()

        def query(q):
            return prom.api("query", query=q)["data"]["result"]

        # both targets scraped, the rollback counter seen at 0 first
        prom.wait("both targets", lambda: query(
            'count(nitro_attest_rollbacks_total{service="pay"} == 0)'
            ' and count(nitro_attest_expected_enclave_since_seconds) == 2'))

        def served(c):
            resp = nginx.try_get(n.ports[0], context(c), "on.test")[0]
            return resp is not None and resp.status == 200

        # X proves v2 from slot 2, then runs v1 in slot 1: a rollback, let
        # in (nitro_attest_rollback alert); slot 3 attests unlisted
        assert served(client("x2", 2, V2))
        assert served(client("x1", 1, V1))
        assert served(client("x3", 3, V2))
        assert nginx.metrics(n.ports[1])["rollbacks"] == {"pay": 1}

        wanted = {"NitroAttestRollback": {"service": "pay"},
                  "NitroAttestMeasurementMismatch": {
                      "module_id": X + "-enc0000000000000002",
                      "pcr0": V2[0].hex()},
                  "NitroAttestUnexpectedEnclave": {
                      "module_id": X + "-enc0000000000000003",
                      "instance_id": X}}

        def firing():
            got = {name: labels for name, labels, state in alerts(prom)
                   if state == "firing"}
            return set(wanted) <= set(got) and got

        got = prom.wait("alerts firing", firing, timeout=40)
        for name, labels in wanted.items():
            assert {k: got[name].get(k) for k in labels} == labels, got
            assert got[name]["severity"] == "critical"
        # fleet-wide: no node's job or instance label
        assert set(got["NitroAttestRollback"]) == {
            "alertname", "severity", "service"}
        # slot 1 runs what it was launched with, and is listed
        assert not any(labels.get("module_id") == X + "-enc0000000000000001"
                       for name, labels, _ in alerts(prom)
                       if name != "NitroAttestEnclaveNeverAttested")
    finally:
        if prom:
            prom.stop()
        ne.stop()
        n.stop()


# ---------------------------------------------------------------------------
# Grafana dashboard.

def dashboard_exprs(dash):
    out = []
    for panel in dash["panels"]:
        for sub in [panel] + panel.get("panels", []):
            for t in sub.get("targets", []):
                out.append((sub["title"], t["expr"]))
    return out


def test_grafana_dashboard_uses_module_metrics_only():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    assert 36 <= dash["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables["DS_PROMETHEUS"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    used = set()
    for panel in dash["panels"]:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}"
    for v in variables.values():
        if v["type"] == "query":
            # Grafana's label_values(METRIC, LABEL), not PromQL
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)",
                             v["query"]["query"])
            assert m and m.group(2) in FAMILIES[m.group(1)], v["name"]
    for title, expr in dashboard_exprs(dash):
        names, labels = promql_names(expr)
        assert names and names <= set(FAMILIES), (title, names)
        assert labels <= MODULE_LABELS, (title, labels)
        assert not re.search(r"\b(job|instance)\b", expr), title
        used |= names
    # a panel for every family: handshakes, failures, protocols, matches,
    # last success and silence, cache, the inventory, rollbacks (the families of
    # expected enclaves are for their alerts so far)
    assert used == set(FAMILIES) - EXPECTED_FAMILIES


def test_grafana_queries_run_on_prometheus(world, prometheus):
    p = prometheus
    with open(DASHBOARD) as f:
        dash = json.load(f)
    for title, expr in dashboard_exprs(dash):
        query = (expr.replace("$__rate_interval", "5s")
                 .replace("$__range", "1m").replace("$policy", ".*"))
        body = p.api("query", query=query)
        assert body["status"] == "success", (title, query, body)
    # with some traffic scraped, the handshake panels have data
    response(world, world.good, "on.test")
    p.wait("handshake data", lambda: p.api("query", query=(
        'sum by (result) (rate(nitro_attest_handshakes_total[5s]))'))[
        "data"]["result"])


# ---------------------------------------------------------------------------
# rsyslog ships the event lines of the example nginx.conf.

class Collector:
    """A SIEM's TCP input: one JSON object per line."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        conns, bufs = [], {}
        while not self.done:
            try:
                c, _ = self.sock.accept()
                c.settimeout(0.05)
                conns.append(c)
                bufs[c] = b""
            except socket.timeout:
                pass
            for c in list(conns):
                try:
                    data = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    data = b""
                if not data:
                    conns.remove(c)
                    c.close()
                    continue
                bufs[c] += data
                *lines, bufs[c] = bufs[c].split(b"\n")
                with self.lock:
                    self.lines += [x.decode() for x in lines]
        for c in conns:
            c.close()

    def wait(self, n, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.lines) >= n:
                    return list(self.lines)
            time.sleep(0.05)
        with self.lock:
            return list(self.lines)

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()


class Rsyslog:
    def __init__(self, directory, events_file, collector_port, udp_port):
        """rsyslog-nitro-attest.conf with the test's paths and ports, and
        its UDP alternative uncommented."""
        with open(RSYSLOG_CONF) as f:
            conf = f.read()
        for old, new in [
                ("/var/log/nginx/nitro-events.json", events_file),
                ('target="siem.example.com" port="5170"',
                 'target="127.0.0.1" port="%d"' % collector_port),
                ('port="5514"', 'port="%d"' % udp_port)]:
            assert old in conf, old
            conf = conf.replace(old, new)
        head, mark, tail = conf.partition('#module(load="imudp")')
        assert mark
        conf = head + re.sub(r"(?m)^#", "", mark + tail)
        work = os.path.join(directory, "work")
        os.makedirs(work)
        # a work directory of its own: imfile's state, the action queue
        self.conf = os.path.join(directory, "rsyslog.conf")
        with open(self.conf, "w") as f:
            f.write('global(workDirectory="%s")\n' % work + conf)
        self.pid_file = os.path.join(directory, "rsyslogd.pid")
        self.log = os.path.join(directory, "rsyslogd.log")
        self.proc = None

    def check(self):
        return subprocess.run([RSYSLOGD, "-N1", "-f", self.conf],
                              capture_output=True, text=True, timeout=30)

    def start(self):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", self.conf, "-i", self.pid_file],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.pid_file):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("rsyslogd did not start:\n"
                                   + open(self.log).read())
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                with open(self.pid_file) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                pid = self.proc.pid
            os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def siem_example(w, syslog_port=None):
    """conf-examples/siem/nginx.conf for the test's nginx; with
    syslog_port, its syslog alternative instead of the file."""
    text = nginx.example(os.path.join(SIEM, "nginx.conf"),
                        os.path.join(w.dir, "policy.json"), w.pki.root_pem)
    text = text.replace("127.0.0.1:9145", "127.0.0.1:@port2@")
    if syslog_port:
        old = "#   nitro_attest_event_log syslog:server=127.0.0.1:5514,"
        assert old in text
        text = text.replace(old, "nitro_attest_event_log syslog:server="
                            "127.0.0.1:%d," % syslog_port)
        text, n = re.subn(r"\n\s*nitro_attest_event_log "
                          r"@prefix@/logs/nitro-events.json;", "", text)
        assert n == 1
    return nginx.Nginx(text, ports=3, raw=True)


def accepted_and_refused(w, n):
    """One attested request and one refused handshake; returns the
    status figures."""
    resp, conn = nginx.get(n.ports[0], w.good.ctx(),
                           "enclave-api.example.com")
    conn.close()
    assert resp.status == 200
    assert resp.text == "saw SUCCESS payments-v42\n"
    with pytest.raises((OSError, ConnectionError)):
        nginx.get(n.ports[0], nginx.client_context(),
                  "enclave-api.example.com")
    return nginx.metrics(n.ports[2])


def read_json_lines(path, expect=0, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        with open(path) as f:
            lines = f.read().splitlines()
        if len(lines) >= expect or time.time() > deadline:
            return lines


def test_rsyslog_takes_the_file_as_a_drop_in_of_debians_config(tmp_path):
    """The file unchanged, in /etc/rsyslog.d/ of Debian's rsyslog.conf
    (which sets the work directory): rsyslogd -N1 accepts it."""
    need(RSYSLOGD, "rsyslog")
    with open("/etc/rsyslog.conf") as f:
        main = f.read()
    drop_in = tmp_path / "rsyslog.d"
    drop_in.mkdir()
    shutil.copy(RSYSLOG_CONF, drop_in / "30-nitro-attest.conf")
    assert "/etc/rsyslog.d/*.conf" in main
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(main.replace("/etc/rsyslog.d/*.conf",
                                 str(drop_in / "*.conf")))
    p = subprocess.run([RSYSLOGD, "-N1", "-f", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "error" not in (p.stdout + p.stderr).lower()


def test_rsyslog_ships_the_example_event_lines(world, tmp_path):
    need(RSYSLOGD, "rsyslog")
    w = world
    collector = Collector()
    udp_port = nginx.free_ports(1)[0]
    n = siem_example(w)
    events_file = os.path.join(n.prefix, "logs", "nitro-events.json")
    rs = Rsyslog(str(tmp_path), events_file, collector.port, udp_port)
    try:
        p = rs.check()
        assert p.returncode == 0, p.stdout + p.stderr
        with n:
            rs.start()
            figures = accepted_and_refused(w, n)
            events = read_json_lines(events_file, expect=2)
            logs = os.path.join(n.prefix, "logs")
            access = read_json_lines(os.path.join(logs, "nitro-access.json"),
                                     expect=1)
            shipped = collector.wait(2)
        assert figures["handshakes"] == {"verified": 1, "failed": 1}
        access = [json.loads(x) for x in access]
        assert len(access) == 1 and access[0]["status"] == 200
        assert access[0]["log_type"] == "http_access"
        assert access[0]["attestation"] == json.loads(events[0])
        assert [json.loads(e)["reason"] for e in events] == [
            None, "no_certificate"]
        # the collector got the very lines of the file, nothing else
        assert shipped == events

        # the UDP alternative: nginx sends to rsyslog's imudp, no file
        n = siem_example(w, syslog_port=udp_port)
        with n:
            accepted_and_refused(w, n)
            access = read_json_lines(os.path.join(
                n.prefix, "logs", "nitro-access.json"), expect=1)
            assert not os.path.exists(os.path.join(
                n.prefix, "logs", "nitro-events.json"))
            shipped = collector.wait(4)
        assert len(shipped) == 4, shipped
        udp = [json.loads(x) for x in shipped[2:]]
        assert udp[0] == json.loads(access[0])["attestation"]
        assert [(e["status"], e["reason"], e["severity"]) for e in udp] == [
            ("SUCCESS", None, "INFO"),
            ("FAILED", "no_certificate", "WARNING")]
        assert all(list(e) == EVENT_KEYS for e in udp)
    finally:
        rs.stop()
        collector.close()
