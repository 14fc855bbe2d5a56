"""Telemetry of the module inside a real nginx:
the event log (file and syslog), the shared counters behind
nitro_attest_status (JSON and Prometheus text), the silent flag of
expect_every, and nitro_attest_upstream_headers with real upstreams.

One nginx:
  port0  optional.test (default, report-only) and on.test (enforcing),
         both logging events to logs/events.log and to a UDP syslog socket
         of the test, and $nitro_attest_json to logs/attest.log; locations
         forward to an HTTP, a FastCGI, an SCGI and a uwsgi upstream run
         by the test, which record what they receive.  off.test (not
         attesting) forwards with upstream headers on.
  port1  plain HTTP: the status endpoint.
  port2  quiet.test, enforcing, "nitro_attest_event_log off".
"""

import json
import math
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import forge
import nginx
from clients import attested, context, new_world
from events import REASONS, LogTail, delta
from forge import GOOD
from repo import EXAMPLES
from upstreams import (Recorder, fastcgi_upstream, http_upstream,
                       normalized, scgi_upstream, uwsgi_upstream)

V43 = {0: bytes.fromhex("43" * 48), 1: bytes.fromhex("44" * 48)}
ODD = {0: bytes.fromhex("99" * 48)}
DENIED_PCR0 = bytes.fromhex("41" * 48)
OTHER_PCR0 = bytes.fromhex("66" * 48)
ODD_NAME = 'odd "set" \\ name'


LOCATIONS = """
        location / { return 200 "status=$nitro_attest_status\\n"; }
        location /proxy/ {
            nitro_attest_upstream_headers on;
            proxy_pass http://127.0.0.1:%(http)d;
        }
        location /pcrs/ {
            nitro_attest_upstream_headers on pcrs=8,0,2;
            proxy_pass http://127.0.0.1:%(http)d;
            location /pcrs/inherited/ {
                proxy_pass http://127.0.0.1:%(http)d;
            }
            location /pcrs/all/ {
                nitro_attest_upstream_headers on;
                proxy_pass http://127.0.0.1:%(http)d;
            }
        }
        location /plain/ { proxy_pass http://127.0.0.1:%(http)d; }
        location /plain-fastcgi/ { fastcgi_pass 127.0.0.1:%(fastcgi)d; }
        location /fastcgi/ {
            nitro_attest_upstream_headers on;
            fastcgi_pass 127.0.0.1:%(fastcgi)d;
        }
        location /scgi/ {
            nitro_attest_upstream_headers on;
            scgi_pass 127.0.0.1:%(scgi)d;
        }
        location /uwsgi/ {
            nitro_attest_upstream_headers on;
            uwsgi_pass 127.0.0.1:%(uwsgi)d;
        }
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki, other_pki):
    w = new_world(tmp_path_factory.mktemp("nginx-telemetry"), pki,
                  [("payments-v42", GOOD), ("payments-v43", V43, None, "2s"),
                   (ODD_NAME, ODD)],
                  deny=[("payments-v41-cve", {0: DENIED_PCR0})])
    d = w.dir

    w.good = attested(d, "good", pki, pcrs={**forge.default_pcrs()})
    w.v43 = attested(d, "v43", pki, pcrs={**forge.default_pcrs(), **V43})
    w.pcr_mismatch = attested(d, "pcr_mismatch", pki,
                              pcrs={**forge.default_pcrs(), 0: OTHER_PCR0})
    w.bad_signature = attested(d, "bad_signature", pki,
                               tamper_signature=True)
    w.denied = attested(d, "denied", pki,
                        pcrs={**forge.default_pcrs(), 0: DENIED_PCR0})
    w.untrusted = attested(d, "untrusted", other_pki)

    w.rec = {k: Recorder() for k in ("http", "fastcgi", "scgi", "uwsgi")}
    servers = {"http": http_upstream(w.rec["http"]),
               "fastcgi": fastcgi_upstream(w.rec["fastcgi"]),
               "scgi": scgi_upstream(w.rec["scgi"]),
               "uwsgi": uwsgi_upstream(w.rec["uwsgi"])}
    ports = {k: s.server_address[1] for k, s in servers.items()}

    w.syslog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    w.syslog.bind(("127.0.0.1", 0))
    w.syslog.settimeout(2)

    logged = ("access_log @prefix@/logs/attest.log attest;",
              LOCATIONS % ports)
    body = (
        nginx.trust(os.path.join(d, "policy.json"), pki.root_pem)
        + """
    nitro_attest_event_log @prefix@/logs/events.log;
    nitro_attest_event_log syslog:server=127.0.0.1:%d,tag=nitro;
    log_format attest escape=none '$nitro_attest_json';
    underscores_in_headers on;
""" % w.syslog.getsockname()[1]
        + nginx.server("@port0@ ssl default_server", *logged,
                       name="optional.test", attest="optional")
        + nginx.server("@port0@ ssl", *logged, name="on.test", attest="on")
        + nginx.server("@port0@ ssl", "location /proxy/ {\n"
                       "            nitro_attest_upstream_headers on;\n"
                       "            proxy_pass http://127.0.0.1:%d;\n"
                       "        }" % ports["http"], name="off.test")
        + nginx.status_server()
        + nginx.server("@port2@ ssl", "nitro_attest_event_log off;",
                       'location / { return 200 "quiet"; }',
                       name="quiet.test", attest="on"))
    w.nginx = nginx.Nginx(body, ports=3).start()
    w.port = w.nginx.ports
    w.events_path = os.path.join(w.nginx.prefix, "logs", "events.log")
    w.attest_path = os.path.join(w.nginx.prefix, "logs", "attest.log")
    yield w
    w.nginx.stop()
    for s in servers.values():
        s.shutdown()
        s.server_close()
    w.syslog.close()


# ---------------------------------------------------------------------------
# Helpers.

def handshake(w, client, host="on.test", port=0, version=None,
              session=None, path="/", headers=()):
    """One request on a fresh connection: (response or None when the
    handshake was refused, session)."""
    resp, session, _ = nginx.try_get(w.port[port], context(client, version),
                                     host, session=session, path=path,
                                     headers=headers)
    return resp, session


def status(w, accept=None, query=""):
    """(Content-Type, body) of the status endpoint."""
    headers, body = nginx.status(w.port[1], query, accept)
    return headers["Content-Type"], body


def metrics(w):
    return nginx.metrics(w.port[1])


def drain_syslog(w):
    w.syslog.settimeout(0.05)
    try:
        while True:
            w.syslog.recv(65536)
    except socket.timeout:
        pass
    finally:
        w.syslog.settimeout(2)


def syslog_messages(w, n):
    out = []
    for _ in range(n):
        out.append(w.syslog.recv(65536).decode())
    return out


# ---------------------------------------------------------------------------
# A strict parser of the Prometheus text exposition format 0.0.4.

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?"
                   r"|Inf|NaN)\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ExpositionError(AssertionError):
    pass


def parse_labels(text, i):
    """{name="value",...} at text[i] -> (labels, index after '}')."""
    assert text[i] == "{"
    i += 1
    labels = {}
    while True:
        if text[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(text, i)
        if not m:
            raise ExpositionError("bad label name at %r" % text[i:])
        name = m.group(0)
        if name.startswith("__") or name in labels:
            raise ExpositionError("reserved or repeated label %r" % name)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ExpositionError("expected =\" after %r" % name)
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise ExpositionError("unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ExpositionError("bad escape \\%s" % nxt)
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ExpositionError("raw newline in a label value")
            else:
                value.append(c)
                i += 1
        labels[name] = "".join(value)
        if text[i] == ",":
            i += 1
        elif text[i] != "}":
            raise ExpositionError("expected , or } at %r" % text[i:])


def parse_float(token):
    if not FLOAT.match(token):
        raise ExpositionError("bad value %r" % token)
    return float(token.replace("Inf", "inf").replace("NaN", "nan"))


def parse_exposition(text):
    """{family: {"type", "help", "samples": {(name, labels): value}}}."""
    if text and not text.endswith("\n"):
        raise ExpositionError("the last line must end with a newline")
    families, order, current = {}, [], None

    def family(name):
        if name not in families:
            families[name] = {"type": None, "help": None, "samples": {}}
            order.append(name)
        return families[name]

    for line in text.split("\n")[:-1]:
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not NAME.match(parts[2]):
                    raise ExpositionError("bad metadata line %r" % line)
                f = family(parts[2])
                if f["samples"]:
                    raise ExpositionError("%s after samples" % parts[1])
                if parts[1] == "TYPE":
                    if f["type"] or len(parts) != 4 \
                            or parts[3] not in TYPES:
                        raise ExpositionError("bad TYPE %r" % line)
                    f["type"] = parts[3]
                else:
                    if f["help"] is not None:
                        raise ExpositionError("second HELP %r" % line)
                    doc = parts[3] if len(parts) == 4 else ""
                    if not re.fullmatch(r"([^\\]|\\[\\n])*", doc):
                        raise ExpositionError("bad HELP escape %r" % line)
                    f["help"] = doc
                current = parts[2]
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise ExpositionError("bad sample line %r" % line)
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i)
        rest = line[i:]
        if not rest.startswith((" ", "\t")):
            raise ExpositionError("no blank before the value in %r" % line)
        tokens = rest.split()
        if len(tokens) not in (1, 2):
            raise ExpositionError("bad value/timestamp in %r" % line)
        value = parse_float(tokens[0])
        if len(tokens) == 2 and not re.match(r"-?\d+\Z", tokens[1]):
            raise ExpositionError("bad timestamp in %r" % line)
        base = name
        for suffix in ("_sum", "_count", "_bucket"):
            if name.endswith(suffix) and name[:-len(suffix)] in families \
                    and families[name[:-len(suffix)]]["type"] in (
                        "histogram", "summary"):
                base = name[:-len(suffix)]
        if base != current and base in families and families[base][
                "samples"]:
            raise ExpositionError("samples of %s are not together" % base)
        f = family(base)
        if f["type"] == "counter" and (value < 0 or math.isnan(value)):
            raise ExpositionError("negative counter in %r" % line)
        key = (name, tuple(sorted(labels.items())))
        if key in f["samples"]:
            raise ExpositionError("duplicate sample %r" % line)
        f["samples"][key] = value
        current = base
    return families


def sample(families, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return families[name]["samples"].get(key)


def test_strict_parser_rejects_what_the_format_forbids():
    good = ('# HELP a_total A \\\\ b\\n.\n# TYPE a_total counter\n'
            'a_total{x="q\\"\\\\\\n"} 1\n')
    fam = parse_exposition(good)
    assert sample(fam, "a_total", x='q"\\\n') == 1
    for bad in ['a{x="\\t"} 1\n', 'a{x="1"} 1', 'a{x="1} 1\n',
                'a{x=1} 1\n', 'a 1x\n', '# HELP a b\\c\na 1\n',
                '1a 1\n', 'a{__x="1"} 1\n',
                '# TYPE a counter\n# TYPE a counter\na 1\n',
                'a 1\n# TYPE a counter\n', 'a 1\nb 1\na{x="1"} 2\n',
                'a 1\na 2\n', '# TYPE a countr\na 1\n',
                '# TYPE a counter\na -1\n', 'a{x="1" y="2"} 1\n']:
        with pytest.raises(ExpositionError):
            parse_exposition(bad)


# ---------------------------------------------------------------------------
# Counters.

def test_metrics_count_the_handshakes_made_by_reason_and_policy(world):
    w = world
    before = metrics(w)
    for _ in range(3):
        resp, _ = handshake(w, w.good, "on.test")
        assert resp.status == 200
    resp, _ = handshake(w, w.v43, "optional.test")
    assert resp.text == "status=SUCCESS\n"
    for _ in range(2):
        resp, _ = handshake(w, w.pcr_mismatch, "optional.test")
        assert resp.text == "status=FAILED:pcr_mismatch\n"
    for version in ("1.2", "1.3"):
        assert handshake(w, w.bad_signature, "on.test",
                         version=version)[0] is None
        assert handshake(w, None, "on.test", version=version)[0] is None
    assert handshake(w, w.denied, "on.test")[0] is None
    assert handshake(w, w.untrusted, "quiet.test", port=2)[0] is None
    # no certificate on a report-only server: NONE, not a verification
    resp, _ = handshake(w, None, "optional.test")
    assert resp.text == "status=NONE\n"
    # a resumed session is not a verification either
    resp, session = handshake(w, w.good, "optional.test", version="1.3")
    again, _ = handshake(w, w.good, "optional.test", version="1.3",
                         session=session)
    assert again.status == 200

    d = delta(metrics(w), before)
    assert d["handshakes"] == {"verified": 5, "failed": 8}
    assert d["failures"] == {r: {"pcr_mismatch": 2, "bad_signature": 2,
                                 "no_certificate": 2, "denied": 1,
                                 "untrusted_root": 1}.get(r, 0)
                             for r in REASONS}
    assert d["policies"]["payments-v42"]["matches"] == 4
    assert d["policies"]["payments-v43"]["matches"] == 1
    assert d["policies"][ODD_NAME]["matches"] == 0
    assert d["cache"] == {"hit": 0, "miss": 0}
    assert list(d) [:4] == ["handshakes", "failures", "policies", "cache"]
    assert set(d["policies"]) == {"payments-v42", "payments-v43", ODD_NAME}
    now = time.time()
    last = metrics(w)["policies"]["payments-v42"]["last_success"]
    assert isinstance(last, int) and now - 10 <= last <= now + 1


def test_prometheus_text_parses_strictly_and_matches_json(world):
    w = world
    handshake(w, w.good, "on.test")
    ctype, text = status(w, query="?format=prometheus")
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    js = metrics(w)
    fam = parse_exposition(text)
    for name in ("nitro_attest_handshakes_total",
                 "nitro_attest_failures_total",
                 "nitro_attest_policy_matches_total",
                 "nitro_attest_cache_total"):
        assert fam[name]["type"] == "counter" and fam[name]["help"]
    for name in ("nitro_attest_policy_last_success_seconds",
                 "nitro_attest_policy_silent"):
        assert fam[name]["type"] == "gauge" and fam[name]["help"]
    for result in ("verified", "failed"):
        assert sample(fam, "nitro_attest_handshakes_total",
                      result=result) == js["handshakes"][result]
    for reason in REASONS:
        assert sample(fam, "nitro_attest_failures_total",
                      reason=reason) == js["failures"][reason]
    for result in ("hit", "miss"):
        assert sample(fam, "nitro_attest_cache_total",
                      result=result) == js["cache"][result]
    for name, p in js["policies"].items():
        assert sample(fam, "nitro_attest_policy_matches_total",
                      policy=name) == p["matches"]
        assert sample(fam, "nitro_attest_policy_silent",
                      policy=name) == int(p["silent"])
        assert sample(fam, "nitro_attest_policy_last_success_seconds",
                      policy=name) == p["last_success"]
    # the name with a quote and a backslash went through escaping
    assert 'policy="odd \\"set\\" \\\\ name"' in text
    # content negotiation
    assert status(w, accept="text/plain")[0].startswith("text/plain")
    assert status(w, accept="text/plain;version=0.0.4;q=0.5,*/*;q=0.1")[
        0].startswith("text/plain")
    assert status(w, accept="application/json, text/plain")[0] \
        == "application/json"
    assert status(w, accept="*/*")[0] == "application/json"
    assert status(w, accept="text/plain", query="?format=json")[0] \
        == "application/json"


def test_silent_flag_flips_with_expect_every_and_clears_on_success(world):
    w = world

    def silent():
        return metrics(w)["policies"]["payments-v43"]["silent"]

    def wait_silent(limit=4.0):
        deadline = time.time() + limit
        while time.time() < deadline:
            if silent():
                return True
            time.sleep(0.1)
        return False

    assert wait_silent(), "expect_every 2s passed: the set must be silent"
    assert metrics(w)["policies"]["payments-v43"]["expect_every"] == 2
    resp, _ = handshake(w, w.v43, "on.test")
    assert resp.status == 200
    assert silent() is False
    start = time.time()
    assert wait_silent()
    assert time.time() - start >= 1.5
    # a set without expect_every is never silent
    p = metrics(w)["policies"]
    assert p[ODD_NAME]["silent"] is False and p[ODD_NAME]["last_success"] \
        is None and p[ODD_NAME]["expect_every"] is None


# ---------------------------------------------------------------------------
# The event log.

def test_event_log_has_one_line_per_full_verification(world):
    w = world
    events, access = LogTail(w.events_path), LogTail(w.attest_path)
    drain_syslog(w)
    resp, _ = handshake(w, w.good, "on.test")
    assert resp.status == 200
    resp, _ = handshake(w, w.pcr_mismatch, "optional.test")
    assert resp.status == 200
    assert handshake(w, w.bad_signature, "on.test", version="1.3")[0] is None
    assert handshake(w, None, "on.test", version="1.2")[0] is None
    assert handshake(w, w.untrusted, "quiet.test", port=2)[0] is None
    resp, _ = handshake(w, None, "optional.test")
    assert resp.status == 200

    ev = events.events(expect=4)
    assert [(e["status"], e["reason"], e["severity"]) for e in ev] == [
        ("SUCCESS", None, "INFO"),
        ("FAILED", "pcr_mismatch", "CRITICAL"),
        ("FAILED", "bad_signature", "CRITICAL"),
        ("FAILED", "no_certificate", "WARNING")]
    assert ev[0]["cert_sha256"] == w.good.sha256
    assert ev[0]["policy"] == "payments-v42" and ev[0]["pcrs"]["0"] \
        == GOOD[0].hex()
    assert ev[2]["cert_sha256"] == w.bad_signature.sha256
    assert ev[3]["cert_sha256"] is None and ev[3]["module_id"] is None
    assert all(e["resumed"] is False and e["cache"] == "off" for e in ev)
    # every line says where: the client, the server's name, this node
    names = ["on.test", "optional.test", "on.test", "on.test"]
    for e, name in zip(ev, names):
        assert (e["direction"], e["client_addr"], e["server_name"],
                e["host"], e["upstream_addr"]) == (
            "client", "127.0.0.1", name, socket.gethostname(), None), e
    # the served requests logged $nitro_attest_json: the very same lines
    served = access.lines()
    assert served[:2] == events.lines()[:2]
    assert json.loads(served[2])["status"] == "NONE"


def test_refused_handshakes_are_logged_once_each_with_reason(world):
    w = world
    events = LogTail(w.events_path)
    cases = [(w.bad_signature, "bad_signature", "CRITICAL"),
             (w.denied, "denied", "CRITICAL"),
             (w.untrusted, "untrusted_root", "CRITICAL"),
             (None, "no_certificate", "WARNING")]
    for version in ("1.2", "1.3"):
        for client, _, _ in cases:
            assert handshake(w, client, "on.test", version=version)[0] \
                is None
    want = [(r, s) for _, r, s in cases] * 2
    got = [(e["reason"], e["severity"])
           for e in events.events(expect=len(want))]
    assert got == want


def test_resumed_sessions_are_marked_and_not_logged_again(world):
    w = world
    for version in ("1.2", "1.3"):
        events, access = LogTail(w.events_path), LogTail(w.attest_path)
        before = metrics(w)
        resp, session = handshake(w, w.good, "on.test", version=version)
        again, _ = handshake(w, w.good, "on.test", version=version,
                             session=session)
        assert resp.status == 200 and again.status == 200
        assert len(events.lines()) == 1, version
        first, second = [json.loads(line) for line in access.lines()]
        assert first["resumed"] is False and second["resumed"] is True
        assert first["doc_sha384"] == second["doc_sha384"]
        d = delta(metrics(w), before)
        assert d["handshakes"] == {"verified": 1, "failed": 0}


def test_syslog_destination_gets_each_event_with_its_severity(world):
    w = world
    drain_syslog(w)
    handshake(w, w.good, "on.test")
    handshake(w, w.pcr_mismatch, "optional.test")
    handshake(w, None, "on.test")
    msgs = syslog_messages(w, 3)
    # <PRI>: facility local7 (23) * 8 + info 6 / crit 2 / warning 4
    expected = [(190, "SUCCESS"), (186, "pcr_mismatch"),
                (188, "no_certificate")]
    for msg, (pri, what) in zip(msgs, expected):
        m = re.match(r"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ nitro: (.*)\Z",
                     msg, re.S)
        assert m, msg
        assert int(m.group(1)) == pri
        event = json.loads(m.group(2))
        assert what in (event["status"], event["reason"])


def test_event_log_is_reopened_on_usr1(world):
    w = world
    old = w.events_path + ".1"
    os.rename(w.events_path, old)
    os.kill(w.nginx.master_pid(), signal.SIGUSR1)
    deadline = time.time() + 5
    while not os.path.exists(w.events_path) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)                    # the worker reopens after the master
    size = os.path.getsize(old)
    resp, _ = handshake(w, w.good, "on.test")
    assert resp.status == 200
    with open(w.events_path) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["status"] == "SUCCESS"
    assert os.path.getsize(old) == size


LOGROTATE_EXAMPLE = EXAMPLES / "logrotate" / "nitro-attest"


def test_logrotate_example_rotates_the_event_log_without_losing_a_line(
        world, tmp_path):
    w = world
    with open(LOGROTATE_EXAMPLE) as f:
        example = f.read()
    rules = [line.split("#")[0].strip() for line in example.splitlines()]
    assert "copytruncate" not in rules
    assert "compress" not in rules or "delaycompress" in rules
    postrotate = rules[rules.index("postrotate") + 1]
    assert postrotate.startswith("invoke-rc.d nginx rotate"), postrotate

    # the example as it is, but for this nginx: its event log, its master
    conf = (example.replace("/var/log/nitro-attest/*.log", w.events_path)
            .replace(postrotate, "kill -USR1 %d" % w.nginx.master_pid())
            .replace("create 0640 www-data adm", "create 0640 root root"))
    conf_path = tmp_path / "logrotate.conf"
    conf_path.write_text(conf)

    for _ in range(3):
        assert handshake(w, w.good, "on.test")[0].status == 200
    time.sleep(0.2)
    with open(w.events_path) as f:
        before = f.read().splitlines()
    assert len(before) >= 3

    subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "state"),
                    str(conf_path)], check=True, timeout=30)
    time.sleep(0.3)                    # the worker reopens after the master
    for _ in range(2):
        assert handshake(w, w.good, "on.test")[0].status == 200
    time.sleep(0.2)

    with open(w.events_path + ".1") as f:
        old_lines = f.read().splitlines()
    with open(w.events_path) as f:
        new_lines = f.read().splitlines()
    # nothing lost, nothing twice, the new lines in the new file
    assert old_lines[:len(before)] == before
    assert len(old_lines) + len(new_lines) == len(before) + 2
    assert new_lines
    assert all(json.loads(line)["status"] == "SUCCESS"
               for line in old_lines[-3:] + new_lines)


# ---------------------------------------------------------------------------
# Upstream headers: the client's never get through, the verified ones do.

SPOOF = [("X-Nitro-Attest-Status", "SUCCESS"),
         ("x-nitro-attest-pcr0", "00" * 48),
         ("X-NITRO-ATTEST-POLICY", "evil-1"),
         ("X-Nitro-Attest-Policy", "evil-2"),
         ("X_Nitro_Attest_Module_Id", "evil-3"),
         ("X-Nitro-Attest-Pcr8", "evil-4"),
         ("x-nitro_attest-cert-sha256", "evil-5"),
         ("X-Nitro-Attestation", "kept"),
         ("X-Other", "kept")]


def verified_headers(client):
    doc = forge.default_pcrs()
    out = {"x-nitro-attest-status": "SUCCESS",
           "x-nitro-attest-policy": "payments-v42",
           "x-nitro-attest-module-id": forge.DEFAULT_MODULE_ID,
           "x-nitro-attest-cert-sha256": client.sha256,
           "x-nitro-attest-kind": "enclave"}
    out.update({"x-nitro-attest-pcr%d" % i: v.hex()
                for i, v in doc.items()})
    return out


def attest_pairs(pairs):
    return [(n, v) for n, v in pairs if n.startswith("x-nitro-attest-")]


@pytest.mark.parametrize("kind", ["http", "fastcgi", "scgi", "uwsgi"])
def test_spoofed_headers_never_reach_the_upstream(world, kind):
    w = world
    path = "/proxy/x" if kind == "http" else "/%s/x" % kind
    resp, _ = handshake(w, w.good, "on.test", path=path, headers=SPOOF)
    assert resp.status == 200, resp
    got = normalized(w.rec[kind].last(), kind != "http")
    ours = attest_pairs(got)
    names = [n for n, _ in ours]
    assert len(names) == len(set(names)), ours     # each exactly once
    values = dict(ours)
    ts = int(values.pop("x-nitro-attest-timestamp"))
    assert abs(ts - forge.now_ms()) < 600 * 1000
    assert values == verified_headers(w.good)
    assert not any(v.startswith("evil") for _, v in got)
    assert ("x-nitro-attestation", "kept") in got
    assert ("x-other", "kept") in got


def test_failed_verdict_sends_only_its_status(world):
    w = world
    resp, _ = handshake(w, w.pcr_mismatch, "optional.test",
                        path="/fastcgi/x", headers=SPOOF)
    assert resp.status == 200
    got = attest_pairs(normalized(w.rec["fastcgi"].last(), True))
    assert got == [("x-nitro-attest-status", "FAILED:pcr_mismatch")]
    resp, _ = handshake(w, None, "optional.test", path="/proxy/x",
                        headers=SPOOF)
    got = attest_pairs(normalized(w.rec["http"].last(), False))
    assert got == [("x-nitro-attest-status", "NONE")]


def header_bytes(pairs):
    """What the X-Nitro-Attest-* headers add to a request, in bytes."""
    return sum(len("%s: %s\r\n" % p) for p in attest_pairs(pairs))


def test_pcrs_parameter_sends_only_the_listed_pcrs(world):
    w = world
    spoof = SPOOF + [("X-Nitro-Attest-PCR1", "evil-6")]
    resp, _ = handshake(w, w.good, "on.test", path="/pcrs/x", headers=spoof)
    assert resp.status == 200, resp
    got = normalized(w.rec["http"].last(), False)
    ours = attest_pairs(got)
    names = [n for n, _ in ours]
    assert len(names) == len(set(names)), ours
    values = dict(ours)
    values.pop("x-nitro-attest-timestamp")
    expected = {n: v for n, v in verified_headers(w.good).items()
                if not n.startswith("x-nitro-attest-pcr")
                or n in ("x-nitro-attest-pcr0", "x-nitro-attest-pcr2",
                         "x-nitro-attest-pcr8")}
    assert values == expected
    assert not any(v.startswith("evil") for _, v in got)
    assert ("x-other", "kept") in got

    listed = header_bytes(got)
    handshake(w, w.good, "on.test", path="/proxy/x")
    every = header_bytes(normalized(w.rec["http"].last(), False))
    # 16 PCRs in the document, 3 sent: 13 headers of 96 hex digits fewer
    assert every - listed == sum(len("x-nitro-attest-pcr%d: %s\r\n"
                                     % (i, "00" * 48))
                                 for i in range(16) if i not in (0, 2, 8))
    print("X-Nitro-Attest-* bytes per request: every PCR %d, pcrs=8,0,2 %d"
          % (every, listed))


@pytest.mark.parametrize("path,pcrs", [("/pcrs/inherited/x", [0, 2, 8]),
                                       ("/pcrs/all/x", list(range(16)))])
def test_pcrs_parameter_is_inherited_with_its_on(world, path, pcrs):
    w = world
    resp, _ = handshake(w, w.good, "on.test", path=path)
    assert resp.status == 200, resp
    got = attest_pairs(normalized(w.rec["http"].last(), False))
    assert sorted(int(n[len("x-nitro-attest-pcr"):]) for n, _ in got
                  if n.startswith("x-nitro-attest-pcr")) == pcrs


def test_server_that_does_not_attest_still_drops_client_headers(world):
    w = world
    resp, _ = handshake(w, w.good, "off.test", path="/proxy/x",
                        headers=SPOOF)
    assert resp.status == 200, resp
    got = normalized(w.rec["http"].last(), False)
    assert attest_pairs(got) == [("x-nitro-attest-status", "NONE")]
    assert ("x-other", "kept") in got
    assert not any(v.startswith("evil") for _, v in got)


def test_without_the_directive_client_headers_pass_unchanged(world):
    # the control: the recording upstream does see what a client sends
    w = world
    resp, _ = handshake(w, w.good, "on.test", path="/plain/x",
                        headers=SPOOF[:2])
    assert resp.status == 200
    got = attest_pairs(normalized(w.rec["http"].last(), False))
    assert got == [("x-nitro-attest-status", "SUCCESS"),
                   ("x-nitro-attest-pcr0", "00" * 48)]
    # and an underscore spelling becomes the very same FastCGI parameter
    resp, _ = handshake(w, w.good, "on.test", path="/plain-fastcgi/x",
                        headers=[("X_Nitro_Attest_Status", "SUCCESS")])
    assert resp.status == 200
    assert ("HTTP_X_NITRO_ATTEST_STATUS", "SUCCESS") \
        in w.rec["fastcgi"].last()


# ---------------------------------------------------------------------------
# Reload: counters and silence are kept.

def test_counters_survive_reload(world):
    w = world
    handshake(w, w.good, "on.test")
    assert handshake(w, w.bad_signature, "on.test")[0] is None
    before = metrics(w)
    w.nginx.reload()
    after = metrics(w)
    assert after["handshakes"] == before["handshakes"]
    assert after["failures"] == before["failures"]
    for name, p in before["policies"].items():
        assert after["policies"][name]["matches"] == p["matches"]
        assert after["policies"][name]["last_success"] == p["last_success"]
    # a set silent before the reload is still silent (its clock was kept)
    assert after["policies"]["payments-v43"]["silent"] \
        == before["policies"]["payments-v43"]["silent"]
    resp, _ = handshake(w, w.good, "on.test")
    assert resp.status == 200
    d = delta(metrics(w), after)
    assert d["handshakes"] == {"verified": 1, "failed": 0}


# ---------------------------------------------------------------------------
# Configuration errors name the directive and the problem.

@pytest.mark.parametrize("directive,message", [
    ("nitro_attest_event_log off; nitro_attest_event_log @prefix@/e.log;",
     '"nitro_attest_event_log off" must be the only'),
    ("nitro_attest_event_log @prefix@/e.log; nitro_attest_event_log off;",
     '"nitro_attest_event_log off" must be the only'),
    ("nitro_attest_event_log @prefix@/$host.log;",
     'invalid value "@prefix@/$host.log" in "nitro_attest_event_log"'),
    ("nitro_attest_event_log syslog:facility=local7;",
     "no syslog server specified"),
    ("nitro_attest_upstream_headers maybe;",
     'invalid value "maybe" in "nitro_attest_upstream_headers"'),
    ("nitro_attest_upstream_headers on pcrs=0,32;",
     'invalid value "pcrs=0,32" in "nitro_attest_upstream_headers" '
     'directive: "32" is not a PCR index (0..31)'),
    ("nitro_attest_upstream_headers on pcrs=-1;",
     '"-1" is not a PCR index (0..31)'),
    ("nitro_attest_upstream_headers on pcrs=0,x;",
     'invalid value "pcrs=0,x" in "nitro_attest_upstream_headers" '
     'directive: "x" is not a PCR index (0..31)'),
    ("nitro_attest_upstream_headers on pcrs=1,;",
     'invalid value "pcrs=1," in "nitro_attest_upstream_headers" '
     'directive: "" is not a PCR index (0..31)'),
    ("nitro_attest_upstream_headers on pcrs=;",
     '"" is not a PCR index (0..31)'),
    ("nitro_attest_upstream_headers on pcrs=4,8,4;",
     'invalid value "pcrs=4,8,4" in "nitro_attest_upstream_headers" '
     'directive: PCR 4 is listed twice'),
    ("nitro_attest_upstream_headers on pcr=1;",
     'invalid parameter "pcr=1" in "nitro_attest_upstream_headers"'),
    ("nitro_attest_upstream_headers off pcrs=1;",
     'invalid parameter "pcrs=1" in "nitro_attest_upstream_headers"'),
    ("nitro_attest_upstream_headers on pcrs=1 pcrs=2;",
     'invalid number of arguments in "nitro_attest_upstream_headers"'),
    ("location = /s { nitro_attest_status on; }",
     'invalid number of arguments in "nitro_attest_status"'),
    ("location = /s { nitro_attest_status; nitro_attest_status; }",
     '"nitro_attest_status" directive is duplicate'),
    ("nitro_attest_status;",
     '"nitro_attest_status" directive is not allowed here'),
])
def test_telemetry_directive_errors(directive, message):
    n = nginx.Nginx("server { listen 127.0.0.1:@port0@; %s }" % directive)
    try:
        p = n.test_config()
    finally:
        n.stop()
    assert p.returncode != 0
    assert n.subst(message) in p.stdout, p.stdout
    assert n.conf + ":" in p.stdout


def test_telemetry_directives_pass_nginx_t_together(tmp_path):
    n = nginx.Nginx("""
    nitro_attest_event_log @prefix@/logs/a.log;
    nitro_attest_event_log syslog:server=127.0.0.1:5514,tag=x,nohostname;
    nitro_attest_upstream_headers on;
    server {
        listen 127.0.0.1:@port0@;
        nitro_attest_event_log off;
        nitro_attest_upstream_headers off;
        location / { nitro_attest_upstream_headers on; return 204; }
        location = /s { nitro_attest_status; }
    }""")
    try:
        p = n.test_config()
    finally:
        n.stop()
    assert p.returncode == 0, p.stdout
