"""Rollback detection in a real nginx: allow sets that name a service and
a version; per EC2 instance and service the node remembers the highest
version whose client proved its key, and a later success of a lower one
is a rollback (event key "rollback", nitro_attest_rollbacks_total), which
"nitro_attest_rollback deny" refuses with the reason "rollback".  No
inventory anywhere here: the rollback table is its own.

One nginx per test (the table is the node's, kept across reloads):
  port0  on.test, enforcing, http (with a verdict cache)
  port1  plain HTTP: the status endpoint
  port2  a stream server, enforcing
"""

import concurrent.futures
import json
import os
import re
import socket
import ssl
import struct
import threading
import time

import pytest

import forge
import nginx
from clients import attested, replay_of
from events import LogTail
from files import write
from nginx import nginx_t, status, stream_main

V1 = {0: bytes.fromhex("a1" * 48)}
V2 = {0: bytes.fromhex("a2" * 48)}
OTHER = {0: bytes.fromhex("0b" * 48)}

X = "i-0aaaaaaaaaaaaaaaa"
Y = "i-0bbbbbbbbbbbbbbbb"
Z = "i-0cccccccccccccccc"


def release_policy():
    def pcr_set(name, pcrs, **extra):
        return dict({"name": name,
                     "pcrs": {str(i): v.hex() for i, v in pcrs.items()}},
                    **extra)
    return json.dumps({"allow": [
        pcr_set("pay-v1", V1, service="pay", version=1),
        pcr_set("pay-v2", V2, service="pay", version=2),
        pcr_set("other", OTHER),
    ]})


class World:
    def __init__(self, directory, pki, mode=None):
        self.dir = str(directory)
        self.pki = pki
        self.policy = write(os.path.join(self.dir, "policy.json"),
                            release_policy())
        rollback = ("    nitro_attest_rollback %s;\n" % mode) if mode else ""
        self.http = (nginx.trust(self.policy, pki.root_pem)
                     + rollback
                     + "    nitro_attest_event_log @prefix@/logs/events.log;\n"
                     + "    nitro_attest_cache zone=verdicts:1m;\n"
                     + nginx.server("@port0@ ssl",
                                    'location / { return 200 '
                                    '"$nitro_attest_status $nitro_attest_json";'
                                    ' }', name="on.test", attest="on")
                     + nginx.status_server())
        stream = (nginx.trust(self.policy, pki.root_pem) + rollback
                  + nginx.server("@port2@ ssl",
                                 'return "stream=$nitro_attest_status\\n";',
                                 attest="on"))
        self.nginx = nginx.Nginx(self.http, ports=3,
                                 main=stream_main(stream)).start()
        self.port = self.nginx.ports
        self.events = os.path.join(self.nginx.prefix, "logs", "events.log")

    def client(self, name, module_id, pcrs):
        return attested(self.dir, name, self.pki, module_id=module_id,
                        pcrs={**forge.default_pcrs(), **pcrs})

    def get(self, client, session=None):
        return nginx.try_get(self.port[0], client.ctx(), "on.test",
                             session=session)

    def served(self, client):
        resp = self.get(client)[0]
        return resp is not None and resp.status == 200

    def stream(self, client):
        raw = socket.create_connection(("127.0.0.1", self.port[2]), 5)
        try:
            with client.ctx().wrap_socket(raw) as s:
                return s.recv(64)
        except (ssl.SSLError, ConnectionError):
            return b""
        finally:
            raw.close()

    def metrics(self):
        return nginx.metrics(self.port[1])

    def rollbacks(self):
        _, text = status(self.port[1], "?format=prometheus")
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r'^nitro_attest_rollbacks_total\{service="([^"]*)"\} (\d+)$',
            text, re.M)}

    def stop(self):
        self.nginx.stop()


@pytest.fixture
def alert(tmp_path, pki):
    w = World(tmp_path, pki)
    yield w
    w.stop()


@pytest.fixture
def deny(tmp_path, pki):
    w = World(tmp_path, pki, "deny")
    yield w
    w.stop()


def wait_metrics(w, check, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        m = w.metrics()
        if check(m) or time.time() > deadline:
            return m
        time.sleep(0.05)


def test_alert_marks_a_lower_version_of_the_same_instance(alert):
    w = alert
    assert w.rollbacks() == {"pay": 0}
    assert w.metrics()["rollbacks"] == {"pay": 0}
    tail = LogTail(w.events)

    # X proves v2 from one enclave slot, then v1 from another: a rollback
    assert w.served(w.client("x2", X + "-enc0000000000000001", V2))
    x1 = w.client("x1", X + "-enc0000000000000002", V1)
    resp = w.get(x1)[0]
    assert resp.status == 200 and resp.text.startswith("SUCCESS ")
    assert json.loads(resp.text.split(" ", 1)[1])["rollback"] == \
        {"service": "pay", "from": 2, "to": 1}

    # Y proves only v1: a first sighting; "other" names no service
    assert w.served(w.client("y1", Y + "-enc0000000000000001", V1))
    assert w.served(w.client("xo", X + "-enc0000000000000003", OTHER))

    ev = tail.events(4)
    assert [e["rollback"] for e in ev] == [
        None, {"service": "pay", "from": 2, "to": 1}, None, None]
    assert [e["status"] for e in ev] == ["SUCCESS"] * 4
    assert list(ev[1])[-1] == "rollback"
    assert list(ev[1])[-2] == "upstream_addr"

    m = w.metrics()
    assert m["rollbacks"] == {"pay": 1} and w.rollbacks() == {"pay": 1}
    assert m["failures"]["rollback"] == 0
    assert m["handshakes"] == {"verified": 4, "failed": 0}


def test_a_resumed_rollback_still_says_so(alert):
    """$nitro_attest_json on a resumed session is the full handshake's,
    its rollback included."""
    w = alert
    assert w.served(w.client("x2", X + "-enc0000000000000001", V2))
    x1 = w.client("x1", X + "-enc0000000000000002", V1)
    full, session, _ = w.get(x1)
    resumed, _, reused = w.get(x1, session)
    assert reused
    got = [json.loads(r.text.split(" ", 1)[1]) for r in (full, resumed)]
    assert [e["resumed"] for e in got] == [False, True]
    assert [e["rollback"] for e in got] == [
        {"service": "pay", "from": 2, "to": 1}] * 2


def test_only_a_proven_key_raises_the_version(alert, tmp_path):
    """A replayed v2 certificate (its key not proven) does not teach the
    node that Z runs v2, so Z's genuine v1 is no rollback."""
    w = alert
    z2 = w.client("z2", Z + "-enc0000000000000001", V2)
    assert not w.served(replay_of(str(tmp_path), z2, "z2replay"))
    wait_metrics(w, lambda m: m["failures"]["key_not_proven"] == 1)
    assert w.served(w.client("z1", Z + "-enc0000000000000001", V1))
    assert w.rollbacks() == {"pay": 0}


def test_deny_refuses_the_rollback(deny):
    w = deny
    tail = LogTail(w.events)
    assert w.served(w.client("x2", X + "-enc0000000000000001", V2))
    x1 = w.client("x1", X + "-enc0000000000000002", V1)
    assert not w.served(x1)

    ev = tail.events(2)
    assert ev[1]["status"] == "FAILED" and ev[1]["reason"] == "rollback"
    assert ev[1]["severity"] == "CRITICAL"
    assert ev[1]["module_id"] == X + "-enc0000000000000002"
    assert ev[1]["rollback"] == {"service": "pay", "from": 2, "to": 1}
    m = wait_metrics(w, lambda m: m["failures"]["rollback"] == 1)
    assert m["failures"]["rollback"] == 1
    assert m["rollbacks"] == {"pay": 1}
    _, text = status(w.port[1], "?format=prometheus")
    assert 'nitro_attest_failures_total{reason="rollback"} 1' in text
    assert 'nitro_attest_rollbacks_total{service="pay"} 1' in text

    # CRITICAL: logged at "error", naming the reason, server and module id
    log = w.nginx.log_text()
    assert re.search(r'\[error\].*client attestation failed: rollback, '
                     r'handshake refused, server name: "on.test", '
                     r'module id: "%s-enc0000000000000002", '
                     r'policy: "pay-v1"' % X, log), log

    # another instance's v1, and v2 itself, still pass
    assert w.served(w.client("y1", Y + "-enc0000000000000001", V1))
    assert w.served(w.client("x2b", X + "-enc0000000000000003", V2))


def test_deny_judges_cached_verdicts_and_tickets_again(deny):
    """v1 proves its key first (its verdict is cached, its session has a
    ticket); once v2 proved itself, neither the cache nor the ticket lets
    v1 in again."""
    w = deny
    x1 = w.client("x1", X + "-enc0000000000000001", V1)
    tail = LogTail(w.events)
    resp, session, _ = w.get(x1)
    assert resp.status == 200 and session is not None
    # a resumption before the rollback exists resumes
    resp, _, reused = w.get(x1, session)
    assert resp.status == 200 and reused

    assert w.served(w.client("x2", X + "-enc0000000000000002", V2))

    # the ticket is not taken, and the full handshake (a cache hit) fails
    before = w.metrics()
    resp, _, reused = w.get(x1, session)
    assert resp is None
    m = wait_metrics(w, lambda m: m["failures"]["rollback"] == 1)
    assert m["failures"]["rollback"] == 1
    assert m["cache"]["hit"] == before["cache"]["hit"] + 1
    # logged, though the verdict came from the cache: the cache held none
    ev = tail.events(3)
    assert [(e["status"], e["cache"]) for e in ev] == [
        ("SUCCESS", "miss"), ("SUCCESS", "miss"), ("FAILED", "hit")]
    assert ev[2]["reason"] == "rollback"
    assert ev[2]["rollback"] == {"service": "pay", "from": 2, "to": 1}


def test_alert_logs_a_rollback_from_the_cache(alert):
    """A cached success is not logged again, unless it is a rollback."""
    w = alert
    tail = LogTail(w.events)
    x1 = w.client("x1", X + "-enc0000000000000001", V1)
    assert w.served(x1)
    assert w.served(x1)                 # a hit: no line
    assert w.served(w.client("x2", X + "-enc0000000000000002", V2))
    assert w.served(x1)                 # a hit, and a rollback: a line
    ev = tail.events(3)
    assert [(e["policy"], e["cache"], e["rollback"]) for e in ev] == [
        ("pay-v1", "miss", None), ("pay-v2", "miss", None),
        ("pay-v1", "hit", {"service": "pay", "from": 2, "to": 1})]
    assert w.rollbacks() == {"pay": 1}


class HeldProof:
    """A TCP relay to nginx that holds a TLS 1.3 client's flight after its
    Certificate record (the first encrypted one): the server has judged
    the certificate, and waits for the proof of its key (CertificateVerify,
    Finished) until release()."""

    def __init__(self, port):
        self.port = port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.held = threading.Event()
        self.go = threading.Event()
        threading.Thread(target=self.relay, daemon=True).start()

    @property
    def address(self):
        return self.listener.getsockname()[1]

    def relay(self):
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.port))
        threading.Thread(target=self.back, args=(server, client),
                         daemon=True).start()
        buf, encrypted = b"", 0
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 5 and \
                        len(buf) >= 5 + struct.unpack(">H", buf[3:5])[0]:
                    n = 5 + struct.unpack(">H", buf[3:5])[0]
                    record, buf = buf[:n], buf[n:]
                    server.sendall(record)
                    if record[0] == 23:
                        encrypted += 1
                        if encrypted == 1:
                            self.held.set()
                            self.go.wait(10)
        finally:
            server.close()

    @staticmethod
    def back(server, client):
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()

    def release(self):
        self.go.set()


@pytest.mark.parametrize("mode", ["alert", "deny"])
def test_a_newer_version_proven_during_the_handshake(tmp_path, pki, mode):
    """v1's certificate is judged while X has proved nothing; X proves v2
    before v1 proves its key: v1's success is a rollback all the same, and
    with deny nothing is served on its connection."""
    w = World(tmp_path, pki, mode)
    try:
        tail = LogTail(w.events)
        x1 = w.client("x1", X + "-enc0000000000000001", V1)
        relay = HeldProof(w.port[0])
        result = {}

        def v1():
            try:
                with nginx.Connection(relay.address, x1.ctx(),
                                      "on.test") as c:
                    result["resp"] = c.request("on.test")
            except (ssl.SSLError, OSError) as e:
                result["error"] = e

        t = threading.Thread(target=v1)
        t.start()
        assert relay.held.wait(10)
        time.sleep(0.2)             # nginx judged the certificate
        assert w.served(w.client("x2", X + "-enc0000000000000002", V2))
        relay.release()
        t.join(10)

        ev = tail.events(2)
        assert [e["policy"] for e in ev] == ["pay-v2", "pay-v1"]
        assert ev[1]["rollback"] == {"service": "pay", "from": 2, "to": 1}
        m = wait_metrics(w, lambda m: m["rollbacks"] == {"pay": 1})
        assert m["rollbacks"] == {"pay": 1}
        if mode == "alert":
            assert result["resp"].status == 200
            assert ev[1]["status"] == "SUCCESS"
            assert m["failures"]["rollback"] == 0
        else:
            assert "resp" not in result or result["resp"].status == 421
            assert (ev[1]["status"], ev[1]["reason"]) == ("FAILED",
                                                          "rollback")
            assert m["failures"]["rollback"] == 1
            assert re.search(r'\[error\].*client attestation failed: '
                             r'rollback, connection refused',
                             w.nginx.log_text())
    finally:
        w.stop()


def test_stream_denies_and_shares_the_table(deny):
    w = deny
    assert w.stream(w.client("x2", X + "-enc0000000000000001", V2)) \
        == b"stream=SUCCESS\n"
    # learned in stream, refused in http, and the other way round
    assert not w.served(w.client("x1", X + "-enc0000000000000002", V1))
    assert w.served(w.client("y2", Y + "-enc0000000000000001", V2))
    assert w.stream(w.client("y1", Y + "-enc0000000000000002", V1)) == b""
    m = wait_metrics(w, lambda m: m["failures"]["rollback"] == 2)
    assert m["failures"]["rollback"] == 2 and m["rollbacks"] == {"pay": 2}


def test_table_survives_reload(deny):
    w = deny
    assert w.served(w.client("x2", X + "-enc0000000000000001", V2))
    w.nginx.reload(w.http)
    time.sleep(0.5)
    assert not w.served(w.client("x1", X + "-enc0000000000000002", V1))
    m = wait_metrics(w, lambda m: m["failures"]["rollback"] == 1)
    assert m["rollbacks"] == {"pay": 1}


def test_nitrotpm_instance_rollback(tmp_path, pki):
    """A NitroTPM's module id is its instance id, "-tpm" and 16 zeros."""
    d = str(tmp_path)
    tpm = forge.tpm_pcrs()
    sets = []
    for version, pcr4 in ((1, "11"), (2, "22")):
        sets.append({"name": "web-v%d" % version, "kind": "nitrotpm",
                     "service": "web", "version": version,
                     "pcrs": {"4": pcr4 * 48}})
    policy = write(os.path.join(d, "tpm.json"), json.dumps({"allow": sets}))
    body = (nginx.trust(policy, pki.root_pem)
            + "    nitro_attest_rollback deny;\n"
            + nginx.server("@port0@ ssl",
                           'location / { return 200 "$nitro_attest_status"; }',
                           name="on.test", attest="on")
            + nginx.status_server())

    def client(name, pcr4):
        return attested(d, name, pki, module_id=X + "-tpm0000000000000000",
                        kind="nitrotpm",
                        pcrs={**tpm, 4: bytes.fromhex(pcr4 * 48)})

    with nginx.Nginx(body, ports=2) as n:
        def served(c):
            resp = nginx.try_get(n.ports[0], c.ctx(), "on.test")[0]
            return resp is not None and resp.status == 200
        assert served(client("t2", "22"))
        assert not served(client("t1", "11"))
        assert nginx.metrics(n.ports[1])["rollbacks"] == {"web": 1}


@pytest.mark.parametrize("members, error", [
    ('"service": "pay"', '"service" without "version"'),
    ('"version": 2', '"version" without "service"'),
    ('"service": "pay", "version": "2"', '"version" must be a whole number'),
])
def test_nginx_t_refuses_a_half_release(tmp_path, pki, members, error):
    policy = write(os.path.join(str(tmp_path), "half.json"),
                   '{"allow": [{"name": "pay-v2", %s, "pcrs": {"0": "%s"}}]}'
                   % (members, "a2" * 48))
    code, out, conf = nginx_t(
        nginx.trust(policy, pki.root_pem)
        + nginx.server("@port0@ ssl", name="on.test", attest="on"))
    assert code != 0
    assert policy in out and 'allow[0] ("pay-v2")' in out and error in out, \
        out
    # the directive's own place: the configuration file and its line
    assert "%s:" % conf in out, out


def test_the_rollback_zone_name_is_reserved(pki, files):
    code, out, _ = nginx_t(
        nginx.trust(files["policy"], pki.root_pem)
        + "    nitro_attest_cache zone=nitro_attest_rollback:1m;\n"
        + nginx.server("@port0@ ssl", name="on.test", attest="on"))
    assert code != 0 and "is reserved for the rollback table" in out, out


def test_nginx_t_checks_the_directive(tmp_path, pki, files):
    code, out, _ = nginx_t(
        nginx.trust(files["policy"], pki.root_pem)
        + "    nitro_attest_rollback maybe;\n"
        + nginx.server("@port0@ ssl", name="on.test", attest="on"))
    assert code != 0 and 'invalid value "maybe"' in out, out


def test_a_full_table_names_what_it_forgets(alert):
    """The table is bounded: when it is full, the instance used least
    recently is forgotten, and the log says so (a rollback of it would
    look like a first sighting).  Instance ids near the module id's
    limit make each entry take a 2 KB slab chunk: about 500 fill it."""
    w = alert

    def instance(i):
        return "i-" + "f" * 960 + "%04d" % i

    def forgotten():
        return re.findall(r'\[warn\].*the rollback table is full, '
                          r'forgetting version (\d+) of service "(\w+)" of '
                          r'instance "(i-f+\d{4})"', w.nginx.log_text())

    def served(client):
        # one request, without waiting for the session tickets
        with nginx.Connection(w.port[0], client.ctx(), "on.test") as c:
            return c.request("on.test").status == 200

    # instance 0 first, so that it is the least recently used; then the
    # others, a batch at a time over a few connections at once
    assert served(w.client("f0", instance(0) + "-enc1", V2))
    n = 1
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        while not forgotten():
            assert n < 800, "the table never filled"
            batch = [w.client("f%d" % i, instance(i) + "-enc1", V2)
                     for i in range(n, n + 40)]
            assert all(pool.map(served, batch))
            n += 40
    assert forgotten()[0] == ("2", "pay", instance(0))

    # the forgotten instance's v1 passes as new; a remembered one's does not
    tail = LogTail(w.events)
    assert w.served(w.client("old", instance(0) + "-enc2", V1))
    assert w.served(w.client("new", instance(n - 1) + "-enc2", V1))
    ev = tail.events(2)
    assert ev[0]["rollback"] is None
    assert ev[1]["rollback"] == {"service": "pay", "from": 2, "to": 1}
