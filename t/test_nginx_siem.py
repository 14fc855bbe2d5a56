"""conf-examples/siem/ checked by the tools that consume it (CONTRACT
section 14), against a real nginx:

- prometheus-rules.yml: `promtool check rules`, `promtool test rules
  prometheus-rules.test.yml`, and a real Prometheus server (Debian's
  /usr/bin/prometheus) that scrapes the real status endpoint with
  prometheus.yml and evaluates the rules: a silent allow set and a failure
  family raise their alerts;
- grafana-dashboard.json: only contract metric families and labels, every
  query accepted by the real Prometheus.

One nginx (world): port0 optional.test (report-only: every failure is
served and logged) and on.test (enforcing), events to logs/events.log;
port1 plain HTTP with the status endpoint.  Prometheus runs on
127.0.0.1 from a temporary directory and is stopped by its pid.
"""

import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import forge
import nginx
from test_nginx_attest import DENIED_PCR0, attested, fault_clients
from test_nginx_telemetry import handshake

yaml = pytest.importorskip("yaml", reason="python3-yaml (make deps)")

SIEM = os.path.join(nginx.REPO, "conf-examples", "siem")
RULES = os.path.join(SIEM, "prometheus-rules.yml")
RULES_TEST = os.path.join(SIEM, "prometheus-rules.test.yml")
PROM_CONFIG = os.path.join(SIEM, "prometheus.yml")
DASHBOARD = os.path.join(SIEM, "grafana-dashboard.json")
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
STATUS = "/nitro-attest/status"

# the Prometheus families of CONTRACT sections 6, 13 and 14, with the
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
}
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
}
V43 = {0: bytes.fromhex("43" * 48), 1: bytes.fromhex("44" * 48)}
GOOD = {i: forge.default_pcrs()[i] for i in (0, 1, 2)}

PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "by", "without", "and", "or",
    "unless", "on", "ignoring", "group_left", "group_right", "offset",
    "bool", "rate", "increase", "irate", "time", "vector", "label_values",
    "histogram_quantile", "clamp_min", "clamp_max", "abs", "topk",
    "bottomk", "delta", "deriv", "changes", "resets", "timestamp",
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
    assert "SUCCESS: 10 rules found" in p.stdout


def test_promtool_unit_tests_of_the_rules_pass():
    need(PROMTOOL, "prometheus")
    p = subprocess.run([PROMTOOL, "test", "rules", RULES_TEST], cwd=SIEM,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def rules():
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"]]


def test_rules_are_the_contract_alerts_on_contract_metrics_only():
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
# The world: one nginx.

class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki, other_pki):
    w = World()
    d = str(tmp_path_factory.mktemp("nginx-siem"))
    w.dir = d
    w.pki = pki
    faults = fault_clients(d, pki, other_pki)
    w.faults = faults
    with open(os.path.join(d, "policy.json"), "w") as f:
        f.write(json.dumps({
            "allow": [
                {"name": "payments-v42",
                 "pcrs": {str(i): v.hex() for i, v in GOOD.items()}},
                {"name": "payments-v43",
                 "pcrs": {str(i): v.hex() for i, v in V43.items()},
                 "expect_every": "2s"},
            ],
            "deny": [{"name": "payments-v41-cve",
                      "pcrs": {"0": DENIED_PCR0.hex()}}],
        }))
    w.good = attested(d, "good", pki)
    w.v43 = attested(d, "v43", pki, pcrs={**forge.default_pcrs(), **V43})
    body = """
    nitro_attest_policy %(d)s/policy.json;
    nitro_attest_trusted_root %(root)s;
    nitro_attest_event_log @prefix@/logs/events.log;

    server {
        listen 127.0.0.1:@port0@ ssl default_server;
        server_name optional.test;
        nitro_attest optional;
        location / { return 200 "status=$nitro_attest_status\\n"; }
    }

    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name on.test;
        nitro_attest on;
        location / { return 200 "status=$nitro_attest_status\\n"; }
    }

    server {
        listen 127.0.0.1:@port1@;
        location = %(status)s { nitro_attest_status; }
    }
    """ % dict(d=d, root=pki.root_pem, status=STATUS)
    w.nginx = nginx.Nginx(body, ports=2).start()
    w.port = w.nginx.ports
    w.events_path = os.path.join(w.nginx.prefix, "logs", "events.log")
    yield w
    w.nginx.stop()


# ---------------------------------------------------------------------------
# A real Prometheus: scrapes the status endpoint, evaluates the rules.

class Prometheus:
    def __init__(self, directory, target):
        self.dir = directory
        # The shipped rules with every `for:` cut to 1s, so that pending
        # and firing happen within seconds; the expressions are unchanged.
        with open(RULES) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^(\s+for:) \S+$", r"\1 1s", text)
        assert n == 3
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
    assert target["scrapeUrl"].endswith(STATUS + "?format=prometheus")

    def evaluated():
        rs = [r for g in p.api("rules")["data"]["groups"]
              for r in g["rules"]]
        return all(r["health"] != "unknown" for r in rs) and rs

    got = p.wait("rule evaluation", evaluated)
    assert sorted(r["name"] for r in got) == sorted(ALERTS)
    assert all(r["health"] == "ok" for r in got), [
        (r["name"], r.get("lastError")) for r in got]


def test_prometheus_alerts_on_a_silent_set_and_on_failures(world,
                                                          prometheus):
    w, p = world, prometheus

    def scraped_twice():
        r = p.api("query", query='count_over_time(nitro_attest_failures_'
                  'total{reason="pcr_mismatch"}[1m])')["data"]["result"]
        return r and float(r[0]["value"][1]) >= 2

    p.wait("two scrapes", scraped_twice)
    for reason in ("pcr_mismatch", "bad_signature"):
        resp, _ = handshake(w, w.faults[reason], "optional.test")
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
# Grafana dashboard.

def dashboard_exprs(dash):
    out = []
    for panel in dash["panels"]:
        for sub in [panel] + panel.get("panels", []):
            for t in sub.get("targets", []):
                out.append((sub["title"], t["expr"]))
    return out


def test_grafana_dashboard_uses_contract_metrics_only():
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
    # last success and silence, cache, the inventory
    assert used == set(FAMILIES)


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
    handshake(world, world.good, "on.test")
    p.wait("handshake data", lambda: p.api("query", query=(
        'sum by (result) (rate(nitro_attest_handshakes_total[5s]))'))[
        "data"]["result"])
