"""The verdict cache inside a real nginx:
a hit after a miss; no hit for another certificate, after the verdict's
expiry or after a policy change; failures never cached; the least recently
used entry evicted when the zone is full; hits counted in the metrics and
marked in $nitro_attest_json, not written to the event log again.

One nginx:
  port0  cache.test: enforcing, zone "verdicts", event log, the verdict
         echoed as JSON; optional.test: report-only, same zone
  port1  short.test: max age 2 s, zone "verdicts"
  port2  tiny.test: a zone of the smallest size, to fill
  port3  plain HTTP status endpoint
"""

import json
import os
import time
from types import SimpleNamespace

import pytest

import forge
import nginx
from clients import attested
from events import LogTail
from files import write
from forge import GOOD

TINY_CLIENTS = 24


def policy_text(extra_set=False):
    sets = [("cached-v1", GOOD)]
    if extra_set:
        sets.append(("cached-v2", {0: bytes.fromhex("52" * 48)}))
    return forge.policy(sets)


def body(w):
    def cached(listen, name, mode, *directives):
        """Server NAME, answering $nitro_attest_json."""
        return nginx.server(listen, *directives,
                            "location / { return 200 $nitro_attest_json; }",
                            name=name, attest=mode)

    zone = "nitro_attest_cache zone=verdicts:1m;"
    return (nginx.trust(os.path.join(w.dir, "policy.json"), w.pki.root_pem)
            + cached("@port0@ ssl default_server", "cache.test", "on", zone,
                     "nitro_attest_event_log %s;" % w.events)
            + cached("@port0@ ssl", "optional.test", "optional", zone)
            + cached("@port1@ ssl default_server", "short.test", "optional",
                     "nitro_attest_max_age 2s;", zone)
            + cached("@port2@ ssl default_server", "tiny.test", "on",
                     "nitro_attest_cache zone=tiny:32k;")
            + nginx.status_server("@port3@"))


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki):
    w = SimpleNamespace(pki=pki)
    w.dir = str(tmp_path_factory.mktemp("nginx-cache"))
    w.events = os.path.join(w.dir, "events.log")
    write(os.path.join(w.dir, "policy.json"), policy_text())
    w.good = attested(w.dir, "good", pki, pcrs=GOOD)
    w.other = attested(w.dir, "other", pki, pcrs=GOOD)
    w.mismatch = attested(w.dir, "mismatch", pki,
                          pcrs={0: bytes.fromhex("77" * 48)})
    w.tiny = [attested(w.dir, "tiny%d" % i, pki, pcrs=GOOD)
              for i in range(TINY_CLIENTS)]
    yield from nginx.serving(w, body(w), ports=4)


def event(w, client, host, port=0):
    """The verdict of one new connection (a full handshake)."""
    resp, conn = nginx.get(w.port[port], client.ctx(), host, sni=host)
    conn.close()
    assert resp.status == 200, resp
    return json.loads(resp.body)


def same_verdict(a, b):
    """Equal but for what a cache hit changes: when, how fast, how old."""
    changed = ("time", "age_s", "verify_us", "cache")
    return ({k: v for k, v in a.items() if k not in changed}
            == {k: v for k, v in b.items() if k not in changed})


def test_hit_after_miss_gives_the_same_verdict(world):
    client = attested(world.dir, "fresh", world.pki, pcrs=GOOD)
    first = event(world, client, "cache.test")
    second = event(world, client, "cache.test")

    assert first["status"] == "SUCCESS" and first["cache"] == "miss", first
    assert second["status"] == "SUCCESS" and second["cache"] == "hit", second
    assert same_verdict(first, second)
    assert second["resumed"] is False


def test_hits_are_counted_and_not_logged_again(world):
    client = attested(world.dir, "counted", world.pki, pcrs=GOOD)
    before, tail = nginx.metrics(world.port[3]), LogTail(world.events)

    assert event(world, client, "cache.test")["cache"] == "miss"
    for _ in range(3):
        assert event(world, client, "cache.test")["cache"] == "hit"

    after = nginx.metrics(world.port[3])
    assert after["cache"]["miss"] - before["cache"]["miss"] == 1
    assert after["cache"]["hit"] - before["cache"]["hit"] == 3
    assert (after["handshakes"]["verified"]
            - before["handshakes"]["verified"]) == 4
    # one full verification, one event line
    new = tail.events()
    assert [e["cache"] for e in new] == ["miss"], new


def test_another_certificate_is_a_miss(world):
    event(world, world.good, "cache.test")
    assert event(world, world.good, "cache.test")["cache"] == "hit"
    assert event(world, world.other, "cache.test")["cache"] == "miss"


def test_another_server_configuration_is_a_miss(world):
    # one zone, one certificate: short.test's other max age makes another
    # configuration, whose verdicts are its own
    client = attested(world.dir, "servers", world.pki, pcrs=GOOD)
    assert event(world, client, "cache.test")["cache"] == "miss"
    assert event(world, client, "short.test", port=1)["cache"] == "miss"
    assert event(world, client, "short.test", port=1)["cache"] == "hit"


def test_failures_are_never_cached(world):
    before = nginx.metrics(world.port[3])
    for _ in range(2):
        e = event(world, world.mismatch, "optional.test")
        assert e["status"] == "FAILED" and e["reason"] == "pcr_mismatch"
        assert e["cache"] == "miss", e
    after = nginx.metrics(world.port[3])
    assert after["cache"]["hit"] == before["cache"]["hit"]


def test_no_hit_after_the_verdict_expires(world):
    # short.test accepts documents up to 2 s old: the cached verdict ends
    # with that, and the next handshake is verified again (and now stale)
    client = attested(world.dir, "expiring", world.pki, pcrs=GOOD)
    first = event(world, client, "short.test", port=1)
    assert first["status"] == "SUCCESS" and first["cache"] == "miss", first
    assert event(world, client, "short.test", port=1)["cache"] == "hit"

    time.sleep(2.2)
    late = event(world, client, "short.test", port=1)
    assert late["status"] == "FAILED" and late["reason"] == "stale", late
    assert late["cache"] == "miss"


def test_no_hit_after_a_policy_change(world):
    client = attested(world.dir, "reloaded", world.pki, pcrs=GOOD)
    event(world, client, "cache.test")
    assert event(world, client, "cache.test")["cache"] == "hit"

    # the same policy again: the cache survives the reload
    world.nginx.reload()
    assert event(world, client, "cache.test")["cache"] == "hit"

    # a changed policy must never serve an old verdict
    write(os.path.join(world.dir, "policy.json"), policy_text(True))
    try:
        world.nginx.reload()
        e = event(world, client, "cache.test")
        assert e["cache"] == "miss" and e["status"] == "SUCCESS", e
        assert event(world, client, "cache.test")["cache"] == "hit"
    finally:
        write(os.path.join(world.dir, "policy.json"), policy_text())
        world.nginx.reload()


def test_least_recently_used_is_evicted_when_the_zone_is_full(world):
    first, rest = world.tiny[0], world.tiny[1:]
    assert event(world, first, "tiny.test", port=2)["cache"] == "miss"
    for client in rest:
        assert event(world, client, "tiny.test", port=2)["cache"] == "miss"

    # the newest are still there, the oldest made room
    assert event(world, rest[-1], "tiny.test", port=2)["cache"] == "hit"
    assert event(world, first, "tiny.test", port=2)["cache"] == "miss"


def test_zone_capacity_is_logged(world):
    with open(world.nginx.error_log) as f:
        text = f.read()
    assert 'nitro_attest_cache zone "verdicts": an entry takes' in text
    assert "entries fit in 10 MB" in text
