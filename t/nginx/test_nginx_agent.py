"""The enclave's renewal loop in front of a real nginx:
`nitro-attest agent --every 2s` keeps DIR/bundle.pem fresh from the tests'
NSM emulator (t/lib/nsm.py), nginx pins the emulator's mock root with
`nitro_attest_max_age 5s`, and a client that reads bundle.pem for each
connection reconnects for 20 s: not one handshake is refused.  Then the
agent stops and, once the last document is 5 s old, the same client is
refused as `stale` (fail closed): the event log and the variables of a
report-only server say so.

One nginx:
  port0  on.test: nitro_attest on, events to logs/events.log
  port1  optional.test: nitro_attest optional, echoes the variables
both with a policy pinning the emulated enclave's PCRs.
"""

import json
import os
import signal
import ssl
import subprocess
import time
from types import SimpleNamespace

import pytest

import nginx
from nsm import CLI, EMU, emulator_env, emulator_policy

EVERY = "2s"
MAX_AGE_S = 5
CLIENT_SECONDS = 20
ECHO = ("status=$nitro_attest_status\\nreason=$nitro_attest_reason\\n"
        "cert_sha256=$nitro_attest_cert_sha256\\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not EMU.exists():
        pytest.fail("%s is missing: run `make build/nsm-emu.so` first" % EMU)

    w = SimpleNamespace()
    w.home = tmp_path_factory.mktemp("agent-nginx")
    w.pki = w.home / "pki"
    subprocess.run([str(CLI), "mock", "pki", str(w.pki)], check=True,
                   capture_output=True, timeout=60)
    env = emulator_env(w.home, w.pki)
    policy = emulator_policy(w.home, w.pki, env)
    w.certs = w.home / "certs"
    w.bundle = str(w.certs / "bundle.pem")
    body = """
    nitro_attest_trusted_root %(root)s;
    nitro_attest_policy %(policy)s;
    nitro_attest_max_age %(max_age)ds;
    nitro_attest_event_log @prefix@/logs/events.log;

    server {
        listen 127.0.0.1:@port0@ ssl default_server;
        server_name on.test;
        nitro_attest on;
        location / { return 200 "status=$nitro_attest_status\\n"; }
    }

    server {
        listen 127.0.0.1:@port1@ ssl default_server;
        server_name optional.test;
        nitro_attest optional;
        location / { return 200 "%(echo)s"; }
    }
    """ % dict(root=w.pki / "root.pem", policy=policy,
           max_age=MAX_AGE_S, echo=ECHO)
    w.nginx = nginx.Nginx(body, ports=2).start()
    w.events = os.path.join(w.nginx.prefix, "logs", "events.log")
    w.agent_log = w.home / "agent.log"
    with open(w.agent_log, "wb") as err:
        w.agent = subprocess.Popen(
            [str(CLI), "agent", "--dir", str(w.certs), "--every", EVERY],
            env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err)
    yield w
    if w.agent.poll() is None:
        w.agent.kill()
        w.agent.wait()
    w.nginx.stop()


def connect(w, port, host):
    """One connection presenting bundle.pem as it is now (read for this
    connection, as the examples' clients do): the response."""
    ctx = nginx.client_context(w.bundle)
    with nginx.Connection(w.nginx.ports[port], ctx, host) as conn:
        return conn.request(host)


def events(w) -> list:
    with open(w.events) as f:
        return [json.loads(line) for line in f.read().splitlines()]


def test_agent_keeps_nginx_handshakes_going_then_fails_closed(world):
    w = world
    deadline = time.time() + 10
    while not os.path.exists(w.bundle):
        assert time.time() < deadline and w.agent.poll() is None, \
            w.agent_log.read_text()
        time.sleep(0.05)

    handshakes = refused = 0
    certs = set()
    errors = []
    end = time.time() + CLIENT_SECONDS
    while time.time() < end:
        for port, host in ((0, "on.test"), (1, "optional.test")):
            handshakes += 1
            try:
                fields = connect(w, port, host).fields()
            except (ssl.SSLError, OSError) as e:
                refused += 1
                errors.append(repr(e))
                continue
            if fields["status"] != "SUCCESS":
                refused += 1
                errors.append(repr(fields))
            if "cert_sha256" in fields:
                certs.add(fields["cert_sha256"])
        time.sleep(0.01)

    renewals = [line for line in w.agent_log.read_text().splitlines()
                if " renewed " in line]
    print("agent every %s, nitro_attest_max_age %ds: %d handshakes in %d s, "
          "%d refused, %d certificates seen, %d renewals"
          % (EVERY, MAX_AGE_S, handshakes, CLIENT_SECONDS, refused,
             len(certs), len(renewals)))
    assert refused == 0, errors[:5]
    assert handshakes > 100
    # the client did see the certificates change under it
    assert len(certs) >= CLIENT_SECONDS // 2 - 2, certs
    assert len(renewals) >= CLIENT_SECONDS // 2 - 1, renewals
    assert all(e["status"] == "SUCCESS" for e in events(w))

    # the agent stops: the last certificate ages past the max age
    w.agent.send_signal(signal.SIGTERM)
    assert w.agent.wait(15) == 0
    with open(w.certs / "status.json") as f:
        status = json.load(f)
    stale_at = status["timestamp_ms"] / 1000 + MAX_AGE_S + 0.5
    time.sleep(max(0, stale_at - time.time()))

    fields = connect(w, 1, "optional.test").fields()
    assert fields["status"] == "FAILED:stale", fields
    assert fields["reason"] == "stale", fields
    assert fields["cert_sha256"] == status["cert_sha256"]
    before = len(events(w))
    with pytest.raises((ssl.SSLError, OSError)):
        connect(w, 0, "on.test")
    deadline = time.time() + 5
    while len(events(w)) == before and time.time() < deadline:
        time.sleep(0.05)
    last = events(w)[-1]
    assert last["status"] == "FAILED" and last["reason"] == "stale", last
    print("after the agent stopped: refused, reason %s" % last["reason"])
