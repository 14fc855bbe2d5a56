"""The inventory of a real nginx: "nitro_attest_inventory
zone=" keeps the enclaves (and NitroTPM instances) whose signature and
chain verified, one entry per module id, the least recently seen evicted
(an enclave that proved its key last, so failing documents cannot push it
out); the status endpoint adds them to its JSON ("enclaves") and
Prometheus text (nitro_attest_enclave_*), and answers a browser with an
HTML dashboard, checked here in headless Chromium.

One nginx (the world):
  port0  on.test, enforcing, http
  port1  plain HTTP: the status endpoint
  port2  a stream server, enforcing: its handshakes enter the http
         block's inventory too
Two parent instances, i-0aaa... (two enclaves) and i-0bbb... (two
enclaves and its NitroTPM), successes and measured failures; forgeries
that are never entered.
"""

import html.parser
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import forge
import nginx
from clients import attested, new_world, replay_of
from files import write
from forge import GOOD
from nginx import nginx_t, status, stream_main

BATCH = {0: bytes.fromhex("ba" * 48)}
V43 = {0: bytes.fromhex("43" * 48)}
DENIED_PCR0 = bytes.fromhex("41" * 48)
OTHER_PCR0 = bytes.fromhex("66" * 48)
TPM = {i: forge.tpm_pcrs()[i] for i in (0, 1, 2)}
CHROMIUM = "/usr/bin/chromium"

A = "i-0aaaaaaaaaaaaaaaa"
B = "i-0bbbbbbbbbbbbbbbb"
A1, A2 = A + "-enc00000000000000a1", A + "-enc00000000000000a2"
B1, B2 = B + "-enc00000000000000b1", B + "-enc00000000000000b2"
BT = B + "-tpm0000000000000000"
BS = B + "-enc00000000000000b5"         # stream
FORGED = "i-0ccccccccccccccccc-enc00000000000000c1"
ENCLAVE_KEYS = ["module_id", "instance_id", "kind", "policy", "pcr0",
                "first_seen", "last_seen", "last_status", "last_reason",
                "verified", "failed"]


def handshake(port, client, host="on.test"):
    """True when served, False when the handshake was refused."""
    resp = nginx.try_get(port, client.ctx(), host)[0]
    return resp is not None and resp.status == 200


def enclaves(port):
    """module id -> its entry in the inventory, from the status endpoint."""
    return {e["module_id"]: e for e in nginx.metrics(port)["enclaves"]}


def servers(directory, pki, inventory, mode="on", sets=(("v42", GOOD),)):
    """The http block of an attesting server on.test (port0, answering
    its status) with nitro_attest_inventory INVENTORY, and the status
    endpoint (port1); a policy of the allow sets is written to the
    directory (none with sets None)."""
    policy = os.path.join(str(directory), "policy.json")
    if sets is not None:
        write(policy, forge.policy(list(sets)))
    return (nginx.trust(policy, pki.root_pem)
            + "    nitro_attest_inventory %s;\n" % inventory
            + nginx.server("@port0@ ssl",
                           'location / { return 200 "$nitro_attest_status"; }',
                           name="on.test", attest=mode)
            + nginx.status_server())


def stream_handshake(port, client):
    raw = socket.create_connection(("127.0.0.1", port), 5)
    try:
        with client.ctx().wrap_socket(raw) as s:
            return s.recv(64)
    except (ssl.SSLError, ConnectionError):
        return b""
    finally:
        raw.close()


def prometheus_samples(text, family):
    """{(label, value) tuples: sample} of one family."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^%s\{(.*)\} (\S+)$" % family, line)
        if m:
            labels = tuple(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"',
                                      m.group(1)))
            out[labels] = float(m.group(2))
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki, other_pki):
    w = new_world(tmp_path_factory.mktemp("inventory"), pki,
                  [("payments-v42", GOOD), ("batch-v1", BATCH, None, "1h"),
                   ("ec2-web", TPM, "nitrotpm"),
                   ("payments-v43", V43, None, "1s")],
                  deny=[("payments-v41-cve", {0: DENIED_PCR0})])
    d = w.dir
    pcrs = forge.default_pcrs()

    def client(name, module_id, **kw):
        return attested(d, name, pki, module_id=module_id, **kw)

    w.a1 = client("a1", A1)
    w.a2 = client("a2", A2, pcrs={**pcrs, **BATCH})
    w.a2_mismatch = client("a2m", A2, pcrs={**pcrs, 0: OTHER_PCR0})
    w.b1 = client("b1", B1, pcrs={**pcrs, 0: OTHER_PCR0})
    w.b2 = client("b2", B2, pcrs={**pcrs, 0: DENIED_PCR0})
    w.bt = client("bt", BT, kind="nitrotpm", pcrs=forge.tpm_pcrs())
    w.bs = client("bs", BS)
    w.forged = client("forged", FORGED, tamper_signature=True)
    w.untrusted = attested(d, "untrusted", other_pki, module_id=FORGED)
    w.a1_genuine = attested(d, "a1g", pki, module_id=A1)
    w.replay = replay_of(d, w.a1_genuine, "a1replay")

    stream = (nginx.trust(os.path.join(d, "policy.json"), pki.root_pem)
              + nginx.server("@port2@ ssl",
                             'return "stream=$nitro_attest_status\\n";',
                             attest="on"))
    http = servers(d, pki, "zone=enclaves:1m", sets=None)
    w.nginx = nginx.Nginx(http, ports=3, main=stream_main(stream)).start()
    w.port = w.nginx.ports

    w.start = int(time.time())
    p = w.port[0]
    assert handshake(p, w.a1) and handshake(p, w.a1)
    assert handshake(p, w.a2)
    assert not handshake(p, w.a2_mismatch)
    assert not handshake(p, w.b1)
    assert not handshake(p, w.b2)
    assert handshake(p, w.bt)
    assert not handshake(p, w.forged)
    assert not handshake(p, w.untrusted)
    # the same certificate without its key: key_not_proven, at close
    assert not handshake(p, w.replay)
    assert stream_handshake(w.port[2], w.bs) == b"stream=SUCCESS\n"
    w.end = int(time.time()) + 1
    # the replay's failure is accounted when its connection closes
    deadline = time.time() + 5
    while time.time() < deadline:
        d = nginx.metrics(w.port[1])
        if d["failures"]["key_not_proven"]:
            break
        time.sleep(0.05)
    # payments-v43 (expect_every 1s) never attests: silent by now
    time.sleep(1.1)
    yield w
    w.nginx.stop()


def expected(w):
    """module id -> (instance, kind, policy, pcr0, status, reason,
    verified, failed)"""
    pcr0 = forge.default_pcrs()[0].hex()
    return {
        A1: (A, "enclave", "payments-v42", pcr0, "FAILED",
             "key_not_proven", 2, 1),
        A2: (A, "enclave", None, OTHER_PCR0.hex(), "FAILED",
             "pcr_mismatch", 1, 1),
        B1: (B, "enclave", None, OTHER_PCR0.hex(), "FAILED",
             "pcr_mismatch", 0, 1),
        B2: (B, "enclave", "payments-v41-cve", DENIED_PCR0.hex(), "FAILED",
             "denied", 0, 1),
        BS: (B, "enclave", "payments-v42", pcr0, "SUCCESS", None, 1, 0),
        BT: (B, "nitrotpm", "ec2-web", forge.tpm_pcrs()[0].hex(),
             "SUCCESS", None, 1, 0),
    }


def test_json_enclaves_exact(world):
    d = nginx.metrics(world.port[1])
    assert list(d)[-1] == "enclaves", "enclaves come after the other keys"
    got = d["enclaves"]
    assert [e["module_id"] for e in got] == sorted(expected(world))
    for e in got:
        assert list(e) == ENCLAVE_KEYS, e
        inst, kind, pol, pcr0, st, reason, ok, bad = expected(world)[
            e["module_id"]]
        assert (e["instance_id"], e["kind"], e["policy"], e["pcr0"],
                e["last_status"], e["last_reason"], e["verified"],
                e["failed"]) == (inst, kind, pol, pcr0, st, reason, ok,
                                 bad), e
        assert world.start <= e["first_seen"] <= e["last_seen"] \
            <= world.end, e
    # the counters see the forgeries; the inventory does not
    assert d["failures"]["bad_signature"] == 1
    assert d["failures"]["untrusted_root"] == 1
    assert FORGED not in {e["module_id"] for e in got}
    assert d["protocols"]["stream"] == {"verified": 1, "failed": 0}


def test_prometheus_families_exact(world):
    _, text = status(world.port[1], "?format=prometheus")
    seen = prometheus_samples(text, "nitro_attest_enclave_last_seen_seconds")
    want = {(("module_id", m), ("instance_id", v[0]),
             ("policy", v[2] or "")) for m, v in expected(world).items()}
    assert set(seen) == want
    assert all(world.start <= t <= world.end for t in seen.values())
    counts = prometheus_samples(text,
                                "nitro_attest_enclave_attestations_total")
    want = {}
    for m, v in expected(world).items():
        want[(("module_id", m), ("result", "verified"))] = v[6]
        want[(("module_id", m), ("result", "failed"))] = v[7]
    assert counts == want
    assert "# TYPE nitro_attest_enclave_last_seen_seconds gauge" in text
    assert "# TYPE nitro_attest_enclave_attestations_total counter" in text
    # one instance's enclaves, as the NitroAttestInstanceSilent rule sees
    by_instance = {}
    for labels, t in seen.items():
        by_instance.setdefault(dict(labels)["instance_id"], []).append(t)
    assert sorted(by_instance) == [A, B]
    assert len(by_instance[B]) == 4


def test_prometheus_pcr0_info_of_proven_successes_only(world):
    """nitro_attest_enclave_pcr0_info{module_id, pcr0} 1 for the entries
    with a verified handshake whose key was proven, with the PCR0 of that
    success: A2's later pcr_mismatch (another PCR0, refused before its key
    was proven) does not change it; B1 and B2 never succeeded."""
    _, text = status(world.port[1], "?format=prometheus")
    got = prometheus_samples(text, "nitro_attest_enclave_pcr0_info")
    pcr0 = forge.default_pcrs()[0].hex()
    assert got == {
        (("module_id", A1), ("pcr0", pcr0)): 1,
        (("module_id", A2), ("pcr0", BATCH[0].hex())): 1,
        (("module_id", BS), ("pcr0", pcr0)): 1,
        (("module_id", BT), ("pcr0", forge.tpm_pcrs()[0].hex())): 1,
    }
    assert "# TYPE nitro_attest_enclave_pcr0_info gauge" in text


def test_inventory_off_adds_nothing(tmp_path, pki):
    with nginx.Nginx(servers(tmp_path, pki, "off"), ports=2) as n:
        d = nginx.metrics(n.ports[1])
        assert "enclaves" not in d
        _, text = status(n.ports[1], "?format=prometheus")
        assert "nitro_attest_enclave_" not in text
        _, page = status(n.ports[1], "?format=html")
        assert "off (see nitro_attest_inventory)" in page


# ---------------------------------------------------------------------------
# Eviction: the smallest zone nginx allows (8 pages).

def test_least_recently_seen_evicted_in_the_smallest_zone(tmp_path, pki):
    small = 8 * os.sysconf("SC_PAGESIZE") // 1024
    body = servers(tmp_path, pki, "zone=small:%dk" % small)
    with nginx.Nginx(body, ports=2) as n:
        m = re.search(r'\[notice\].*nitro_attest_inventory zone "small": an '
                      r'entry takes \d+ bytes \(a \d+-byte slab slot\), '
                      r'(\d+) entries fit', n.log_text())
        assert m, n.log_text()
        fit = int(m.group(1))
        assert 16 <= fit <= 200, fit
        # AWS-shaped module ids (40 bytes), as the logged figure assumes
        ids = ["i-%017x-enc%017x" % (7, i) for i in range(fit + 2)]
        clients = [attested(str(tmp_path), "c%d" % i, pki, module_id=m)
                   for i, m in enumerate(ids)]
        for c in clients[:fit]:
            assert handshake(n.ports[0], c)
        got = list(enclaves(n.ports[1]))
        assert got == sorted(ids[:fit]), "all %d fit" % fit
        # the oldest, seen again, is no longer the least recently seen
        assert handshake(n.ports[0], clients[0])
        for c in clients[fit:]:
            assert handshake(n.ports[0], c)
        d = nginx.metrics(n.ports[1])
        got = {e["module_id"]: e for e in d["enclaves"]}
        assert set(got) == set(ids) - {ids[1], ids[2]}
        assert got[ids[0]]["verified"] == 2
        assert d["handshakes"]["verified"] == fit + 3


# ---------------------------------------------------------------------------
# Zone names: a clash with another zone is an nginx -t error.

@pytest.mark.parametrize("other, message", [
    ("nitro_attest_cache zone=shared:1m;",
     'the shared memory zone "shared" is already declared for a different '
     'use'),
    ("limit_req_zone $binary_remote_addr zone=shared:1m rate=1r/s;",
     'the shared memory zone "shared" is already declared for a different '
     'use'),
    ("nitro_attest_inventory zone=shared:1m;", "is duplicate"),
])
def test_zone_name_clash_fails_nginx_t(tmp_path, pki, other, message):
    write(str(tmp_path / "policy.json"), forge.policy([("v42", GOOD)]))
    body = """
    nitro_attest_policy %s/policy.json;
    nitro_attest_trusted_root %s;
    nitro_attest_inventory zone=shared:1m;
    %s
    server {
        listen 127.0.0.1:@port0@ ssl;
        nitro_attest on;
        location = %s { nitro_attest_status; }
    }
    """ % (tmp_path, pki.root_pem, other, nginx.STATUS)
    rc, out, _ = nginx_t(body)
    assert rc != 0, out
    assert message in out, out
    assert "[emerg]" in out


@pytest.mark.parametrize("value, message", [
    ("zone=nitro_attest_status:1m", "is reserved for the counters"),
    ("zone=tiny:16k", "is too small, it must be at least"),
    ("zone=:1m", "invalid value"),
    ("enclaves", "invalid value"),
])
def test_bad_zone_values_fail_nginx_t(tmp_path, value, message):
    rc, out, _ = nginx_t("nitro_attest_inventory %s;" % value)
    assert rc != 0 and message in out, out


def test_inventory_is_an_http_main_directive(tmp_path):
    rc, out, _ = nginx_t("server { nitro_attest_inventory zone=x:1m; }")
    assert rc != 0 and "is not allowed here" in out


# ---------------------------------------------------------------------------
# The dashboard.

class Dom(html.parser.HTMLParser):
    """Rows of the tables by id, cells as text; every tag seen."""

    def __init__(self):
        super().__init__()
        self.tables, self.tags, self.table, self.row = {}, [], None, None
        self.attrs, self.cell, self.title = {}, None, ""
        self.in_title = False
        # the text of each span with an id
        self.spans, self.span = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self.table = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = {"attrs": a, "cells": []}
            self.table.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
            self.row["cells"].append(a)
        elif tag == "title":
            self.in_title = True
        elif tag == "span" and "id" in a:
            self.span = a["id"]
            self.spans[self.span] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None:
            self.row["cells"][-1] = (self.row["cells"][-1], self.cell)
            self.cell = None
        elif tag == "table":
            self.table = None
        elif tag == "title":
            self.in_title = False
        elif tag == "span":
            self.span = None

    def handle_data(self, data):
        if self.span is not None:
            self.spans[self.span] += data
        if self.cell is not None:
            self.cell += data
        if self.in_title:
            self.title += data

    def rows(self, table, cls):
        return [r for r in self.tables.get(table, [])
                if r["attrs"].get("class") == cls]


def chromium(*args):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("%s is missing: install chromium (make deps)" % CHROMIUM)
    profile = tempfile.mkdtemp(prefix="nitro-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + profile] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url):
    r = chromium("--dump-dom", url)
    assert r.returncode == 0 and "<html" in r.stdout, r.stderr[-2000:]
    dom = Dom()
    dom.feed(r.stdout)
    return r.stdout, dom


def test_html_for_browsers_only(world):
    browser = ("text/html,application/xhtml+xml,application/xml;q=0.9,"
               "image/avif,image/webp,*/*;q=0.8")
    h, page = status(world.port[1], accept=browser)
    assert h["Content-Type"] == "text/html; charset=utf-8"
    assert h["Content-Security-Policy"] == \
        "default-src 'none'; style-src 'unsafe-inline'"
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta http-equiv="refresh" content="5">' in page
    # nothing fetched: no script, image, stylesheet link or frame
    assert not re.search(r"<(script|img|link|iframe|object)\b", page)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    h, _ = status(world.port[1], "?format=html")
    assert h["Content-Type"].startswith("text/html")
    prometheus = ("application/openmetrics-text;version=1.0.0,text/plain;"
                  "version=0.0.4;q=0.5,*/*;q=0.1")
    h, _ = status(world.port[1], accept=prometheus)
    assert h["Content-Type"].startswith("text/plain; version=0.0.4")
    h, _ = status(world.port[1], accept="application/json, text/html")
    assert h["Content-Type"] == "application/json"
    h, _ = status(world.port[1])
    assert h["Content-Type"] == "application/json"


def test_dashboard_in_chromium(world):
    url = "http://127.0.0.1:%d%s?format=html" % (world.port[1],
                                                  nginx.STATUS)
    _, dom = dump_dom(url)
    d = nginx.metrics(world.port[1])

    assert dom.title == "nitro_attest status"
    tiles = {}
    for label in ("verified", "failed"):
        m = re.search(r'id="%s"><b[^>]*>(\d+)</b>' % label,
                      status(world.port[1], "?format=html")[1])
        tiles[label] = int(m.group(1))
    assert tiles == d["handshakes"]

    protocols = {r["cells"][0][1]: (int(r["cells"][1][1]),
                                    int(r["cells"][2][1]))
                 for r in dom.tables["protocols"][1:]}
    assert protocols == {p: (v["verified"], v["failed"])
                         for p, v in d["protocols"].items()}

    reasons = {r["attrs"]["data-reason"]: int(r["cells"][1][1])
               for r in dom.rows("failures", "reason")}
    assert reasons == {k: v for k, v in d["failures"].items() if v}
    assert {"pcr_mismatch", "denied", "bad_signature", "untrusted_root",
            "key_not_proven"} <= set(reasons)

    sets = {r["attrs"]["data-name"]: r["cells"] for r in
            dom.rows("sets", "set")}
    assert set(sets) == set(d["policies"])
    for name, cells in sets.items():
        assert cells[0][1] == name
        assert int(cells[1][1]) == d["policies"][name]["matches"]
        if d["policies"][name]["last_success"] is None:
            assert cells[2][1] == "never"
        else:
            assert cells[2][1].startswith(time.strftime(
                "%Y-%m-%d %H:%M", time.gmtime(
                    d["policies"][name]["last_success"])))
        p = d["policies"][name]
        assert cells[4][1] == ("silent" if p["silent"] else
                               "attesting" if p["expect_every"] else
                               "not watched")
    assert d["policies"]["payments-v43"]["silent"]
    assert sets["batch-v1"][4][1] == "attesting"

    # a heading row per instance, then its enclaves
    rows, instance = [], None
    for r in dom.tables["enclaves"][1:]:
        if r["attrs"].get("class") == "instance":
            instance = r["attrs"]["data-instance-id"]
            assert r["cells"][0][1].startswith("instance " + instance)
        else:
            rows.append((instance, r))
    assert [r["attrs"]["data-module-id"] for _, r in rows] == \
        [e["module_id"] for e in d["enclaves"]]
    assert [r["attrs"]["data-instance-id"]
            for r in dom.rows("enclaves", "instance")] == [A, B]
    for (instance, r), e in zip(rows, d["enclaves"]):
        cells = [c[1] for c in r["cells"]]
        assert instance == e["instance_id"] and cells[0] == e["module_id"]
        assert cells[1] == e["kind"]
        assert cells[2] == (e["policy"] or "-")
        assert r["cells"][3][0]["title"] == e["pcr0"]
        assert cells[4] == time.strftime("%Y-%m-%d %H:%M:%S",
                                         time.gmtime(e["first_seen"]))
        assert r["cells"][5][0]["title"] == time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(e["last_seen"]))
        assert re.fullmatch(r"\d+ s ago", cells[5]), cells[5]
        assert cells[6] == (e["last_status"] if e["last_reason"] is None
                            else "FAILED: " + e["last_reason"])
        assert (int(cells[7]), int(cells[8])) == (e["verified"],
                                                  e["failed"])

    check_now(dom, d, world.start)

    shot = os.path.join(world.dir, "dashboard.png")
    r = chromium("--screenshot=" + shot, "--window-size=1280,760",
                 "--hide-scrollbars", url)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(shot, "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    # NITRO_DASHBOARD_PNG=docs/dashboard.png keeps it (the README's)
    keep = os.environ.get("NITRO_DASHBOARD_PNG")
    if keep:
        shutil.copyfile(shot, keep)


CRITICAL = {"bad_signature", "untrusted_root", "chain_invalid",
            "debug_enclave", "denied", "pcr_mismatch", "binding_mismatch",
            "key_not_proven", "rollback"}
MEASURED = {"stale", "future", "debug_enclave", "denied", "pcr_mismatch",
            "binding_mismatch", "key_not_proven", "rollback"}


def check_now(dom, d, start):
    """The page's node, failures by severity and last refused handshakes
    against the JSON d, all of it from a node whose every failure was a
    refusal of an "on" server since start."""
    assert dom.spans["node"] == socket.gethostname().lower()

    totals = {"CRITICAL": 0, "WARNING": 0}
    for reason, n in d["failures"].items():
        totals["CRITICAL" if reason in CRITICAL else "WARNING"] += n
    rows = {r["attrs"]["data-severity"]: [int(c[1]) for c in r["cells"][1:]]
            for r in dom.rows("severity", "severity")}
    assert [c[1] for c in dom.tables["severity"][0]["cells"]] == [
        "severity", "last 5 min", "last hour", "since start"]
    for severity, total in totals.items():
        five, hour, since = rows[severity]
        assert since == total and hour == total, (severity, rows)
        if time.time() - start < 240:
            assert five == total, (severity, rows)

    refused = dom.rows("refused", "refusal")
    assert len(refused) == min(20, d["handshakes"]["failed"]) > 0
    stamps = []
    for r in refused:
        when, addr, server, reason, module_id = [c[1] for c in r["cells"]]
        stamp = time.mktime(time.strptime(when, "%Y-%m-%d %H:%M:%S")) \
            - time.timezone
        assert start - 1 <= stamp <= time.time() + 1, when
        stamps.append(stamp)
        assert addr == "127.0.0.1"
        assert server in ("on.test", "")
        assert reason in d["failures"] and d["failures"][reason] > 0
        assert (module_id != "-") == (reason in MEASURED), (reason,
                                                             module_id)
    assert stamps == sorted(stamps, reverse=True), "newest first"
    if d["handshakes"]["failed"] <= 20:
        assert {c["cells"][3][1] for c in refused} == \
            {k for k, v in d["failures"].items() if v}


def test_dashboard_now_without_inventory(tmp_path, pki):
    """Without nitro_attest_inventory the page still names the node and
    keeps the last 20 refused handshakes, the oldest dropped."""
    d = str(tmp_path)
    good = attested(d, "good", pki, module_id=A1)
    other = attested(d, "other", pki, module_id=B1,
                     pcrs={**forge.default_pcrs(), 0: OTHER_PCR0})
    forged = attested(d, "forged", pki, module_id=FORGED,
                      tamper_signature=True)
    start = int(time.time())
    with nginx.Nginx(servers(d, pki, "off"), ports=2) as n:
        assert handshake(n.ports[0], good)
        assert not handshake(n.ports[0], forged)
        for _ in range(21):
            assert not handshake(n.ports[0], other)
        m = nginx.metrics(n.ports[1])
        assert "enclaves" not in m
        assert m["handshakes"] == {"verified": 1, "failed": 22}
        _, dom = dump_dom("http://127.0.0.1:%d%s?format=html"
                          % (n.ports[1], nginx.STATUS))
        check_now(dom, m, start)
        rows = dom.rows("refused", "refusal")
        # the forgery was the oldest of 22: it fell off the list
        assert [r["cells"][3][1] for r in rows] == ["pcr_mismatch"] * 20
        assert {r["cells"][4][1] for r in rows} == {B1}
        assert {r["cells"][2][1] for r in rows} == {"on.test"}
        critical = [r for r in dom.rows("severity", "severity")
                    if r["attrs"]["data-severity"] == "CRITICAL"][0]
        assert [c[1] for c in critical["cells"]] == [
            "CRITICAL", "22", "22", "22"]


def test_dashboard_escapes_names_and_module_ids(tmp_path, pki):
    """A set name and a module id carrying markup stay text in the DOM."""
    evil_set = '<script>document.title="owned"</script>&"x'
    evil_id = 'i-0eee<img src=x onerror="document.title=1">-enc<b>1</b>'
    client = attested(str(tmp_path), "evil", pki, module_id=evil_id)
    body = servers(tmp_path, pki, "zone=evil:1m", sets=[(evil_set, GOOD)])
    with nginx.Nginx(body, ports=2) as n:
        assert handshake(n.ports[0], client)
        _, page = status(n.ports[1], "?format=html")
        assert "<script" not in page and "<img" not in page \
            and "<b>1</b>" not in page, page
        assert "&lt;script&gt;document.title=&quot;owned&quot;" \
            "&lt;/script&gt;&amp;&quot;x" in page
        text, dom = dump_dom("http://127.0.0.1:%d%s?format=html"
                             % (n.ports[1], nginx.STATUS))
        assert dom.title == "nitro_attest status"
        assert "script" not in dom.tags and "img" not in dom.tags
        assert dom.tags.count("b") == 3         # the three tiles only
        sets = dom.rows("sets", "set")
        assert [(r["attrs"]["data-name"], r["cells"][0][1])
                for r in sets] == [(evil_set, evil_set)]
        rows = dom.rows("enclaves", "enclave")
        assert [r["attrs"]["data-module-id"] for r in rows] == [evil_id]
        evil_instance = 'i-0eee<img src=x onerror="document.title=1">'
        assert [r["attrs"]["data-instance-id"] for r in
                dom.rows("enclaves", "instance")] == [evil_instance]
        assert rows[0]["cells"][0][1] == evil_id
        assert rows[0]["cells"][2][1] == evil_set
        # JSON and Prometheus escape them their own way
        e = nginx.metrics(n.ports[1])["enclaves"][0]
        assert e["module_id"] == evil_id and e["policy"] == evil_set
        _, prom = status(n.ports[1], "?format=prometheus")
        assert 'policy="<script>document.title=\\"owned\\"</script>&\\"x"' \
            in prom


def test_replays_do_not_keep_a_quiet_enclave_seen(world):
    """last_seen moves only for a client that proved its key: a replayed
    certificate (key_not_proven) is counted and shown as the last status,
    but cannot keep an enclave that stopped attesting looking alive (the
    NitroAttestInstanceSilent alert reads last_seen)."""
    p = world.port[0]
    before = enclaves(world.port[1])
    time.sleep(1.1)
    assert not handshake(p, world.replay)
    deadline = time.time() + 5
    while time.time() < deadline:
        after = enclaves(world.port[1])
        if after[A1]["failed"] == before[A1]["failed"] + 1:
            break
        time.sleep(0.05)
    assert after[A1]["failed"] == before[A1]["failed"] + 1
    assert after[A1]["last_reason"] == "key_not_proven"
    assert after[A1]["last_seen"] == before[A1]["last_seen"]
    # the genuine client moves it again
    assert handshake(p, world.a1)
    after = enclaves(world.port[1])
    assert after[A1]["last_seen"] > before[A1]["last_seen"]
    assert after[A1]["last_status"] == "SUCCESS"


# ---------------------------------------------------------------------------
# Hiding an enclave: documents that fail, however many, do not push an
# enclave that proved its key out of the table, and replays of its
# certificate neither move its last_seen nor count as a success.

def wait_failed(port, module_id, failed):
    """The entry of module_id once its failures reach failed (a replay is
    accounted when its connection closes)."""
    deadline = time.time() + 5
    while True:
        got = enclaves(port)
        if module_id in got and got[module_id]["failed"] >= failed \
                or time.time() > deadline:
            return got.get(module_id)
        time.sleep(0.05)


@pytest.mark.parametrize("mode, fault", [("on", "stale"),
                                         ("optional", "pcr_mismatch")])
def test_failing_documents_do_not_evict_a_proven_enclave(tmp_path, pki, mode,
                                                         fault):
    d = str(tmp_path)
    small = 8 * os.sysconf("SC_PAGESIZE") // 1024
    body = servers(d, pki, "zone=small:%dk" % small, mode)
    enclave = "i-0%016x-enc%017x" % (0xe, 1)
    never = "i-0%016x-enc%017x" % (0xe, 2)
    real = attested(d, "real", pki, module_id=enclave)
    unseen = attested(d, "unseen", pki, module_id=never)
    with nginx.Nginx(body, ports=2) as n:
        fit = int(re.search(r"(\d+) entries fit", n.log_text()).group(1))
        # a certificate replayed without its key makes no success, and its
        # entry (when it gets one) is not one that proved its key
        assert not handshake(n.ports[0], replay_of(d, unseen, "unseen-r"))
        entry = wait_failed(n.ports[1], never, 1)
        assert entry and entry["verified"] == 0, entry
        assert entry["last_status"] == "FAILED"
        assert entry["last_reason"] == "key_not_proven"

        assert handshake(n.ports[0], real)
        before = wait_failed(n.ports[1], enclave, 0)
        assert before["verified"] == 1
        time.sleep(1.1)

        # more real-signed documents of other module ids than the zone
        # holds, each failing
        now = forge.now_ms()
        for i in range(fit + 20):
            kw = (dict(timestamp_ms=now - 10 * 60 * 1000) if fault == "stale"
                  else dict(pcrs={**forge.default_pcrs(), 0: OTHER_PCR0}))
            c = attested(d, "f%d" % i, pki,
                         module_id="i-0%016x-enc%017x" % (0xf, i), **kw)
            assert handshake(n.ports[0], c) == (mode == "optional")
        got = enclaves(n.ports[1])
        assert enclave in got, "the enclave was evicted"
        assert never not in got, "an entry without a success went first"
        assert len(got) <= fit
        assert {e["last_reason"] for m, e in got.items()
                if m != enclave} == {fault}

        # its certificate replayed: shown as the last status, nothing more
        assert not handshake(n.ports[0], replay_of(d, real, "real-r"))
        after = wait_failed(n.ports[1], enclave, 1)
        assert after["failed"] == 1 and after["verified"] == 1
        assert after["last_reason"] == "key_not_proven"
        assert after["last_seen"] == before["last_seen"]
        assert after["first_seen"] == before["first_seen"]
