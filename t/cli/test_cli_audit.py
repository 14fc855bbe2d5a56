"""nitro-attest audit verify on logs written by our own Python writer
(t/lib/audit.py, hashlib and cryptography): chains nginx did not write
verify, so the format is what the documentation says and not what our C
code happens to do; every edit an attacker can make is caught; usage
errors exit 2.  The logs of a real nginx are checked in
t/nginx/test_nginx_audit.py."""

import json
import os
import time

import pytest

import audit
from files import write

CHAIN = "web-1:1796600000:4242-0badc0de:http0"
OTHER = "web-1:1796600000:4243-0badc0df:http0"


def event(n, status="SUCCESS"):
    return {"event_type": "enclave_attestation",
            "time": "2026-12-07T10:00:%02d.000Z" % (n % 60),
            "status": status, "reason": None, "severity": "INFO",
            "module_id": "i-0abc-enc%016x" % n, "pcrs": {"0": "00" * 48}}


def ocsf(n):
    return {"class_uid": 3002, "time": 1796600000000 + n,
            "unmapped": event(n)}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("audit-keys"))
    private, public = audit.new_key()
    other = audit.new_key()
    return {"private": private, "kid": audit.kid(public),
            "pub": write(os.path.join(d, "pub.pem"), public),
            "priv_file": write(os.path.join(d, "priv.pem"), private),
            "other": write(os.path.join(d, "other.pem"), other[1])}


def interleaved(keys, n=12, every=4, make=event):
    """Two chains' lines interleaved, as two workers write one file."""
    a = audit.write_chain([make(i) for i in range(n)], keys["private"],
                          CHAIN, every, keys["kid"])
    b = audit.write_chain([make(100 + i) for i in range(n)],
                          keys["private"], OTHER, every, keys["kid"])
    return [line for pair in zip(a, b) for line in pair]


def log_file(tmp_path, lines, name="events.log"):
    return write(os.path.join(str(tmp_path), name),
                 "".join(line + "\n" for line in lines))


def test_intact(nitro, keys, tmp_path):
    path = log_file(tmp_path, interleaved(keys))
    r = nitro("audit", "verify", "--key", keys["pub"], path)
    assert r.code == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        "%s: intact, 15 lines, sealed at seq 15" % CHAIN,
        "%s: intact, 15 lines, sealed at seq 15" % OTHER]


def test_private_key_and_ocsf_and_syslog(nitro, keys, tmp_path):
    """The private key works as --key; OCSF lines carry the chain in
    unmapped; a syslog receiver's header is skipped."""
    lines = interleaved(keys, make=ocsf)
    lines = ["<190>Dec  7 10:00:00 web-1 nitro: " + line for line in lines]
    path = log_file(tmp_path, lines)
    r = nitro("audit", "verify", "--key", keys["priv_file"], path)
    assert r.code == 0, r.stdout + r.stderr


def test_unsealed_tail(nitro, keys, tmp_path):
    lines = audit.write_chain([event(i) for i in range(6)], keys["private"],
                              CHAIN, 4, keys["kid"])[:-1]
    path = log_file(tmp_path, lines)
    r = nitro("audit", "verify", "--key", keys["pub"], path)
    assert r.code == 0
    assert r.stdout == ("%s: intact, 7 lines, unsealed tail of 2 lines after "
                     "seq 5\n" % CHAIN)


def test_rotated_files_in_order(nitro, keys, tmp_path):
    lines = interleaved(keys)
    old = log_file(tmp_path, lines[:10], "events.log.1")
    new = log_file(tmp_path, lines[10:], "events.log")
    assert nitro("audit", "verify", "--key", keys["pub"], old, new).code == 0
    r = nitro("audit", "verify", "--key", keys["pub"], new, old)
    assert r.code == 1 and "lines removed" in r.stdout


@pytest.mark.parametrize("edit, line, why", [
    ("delete", 6, "seq 4 where 3 was due (lines removed)"),
    ("modify", 7, "prev is not the hash"),
    ("reorder", 5, "seq 4 where 3 was due"),
    ("insert", 6, "seq 2 where 4 was due (lines repeated or reordered)"),
    ("forge", 9, "checkpoint signature does not verify"),
    ("junk", 5, "not a JSON event"),
    ("unchained", 5, "a line of no chain"),
])
def test_tampering(nitro, keys, tmp_path, edit, line, why):
    lines = interleaved(keys)
    if edit == "delete":
        del lines[4]
    elif edit == "modify":
        lines[4] = lines[4].replace('"SUCCESS"', '"FAILED"')
    elif edit == "reorder":
        lines[4], lines[6] = lines[6], lines[4]
    elif edit == "insert":
        lines.insert(5, lines[2])
    elif edit == "forge":
        e = json.loads(lines[8])
        assert e["event_type"] == audit.CHECKPOINT
        e["sig"] = audit.b64url(b"\0" * 64)
        lines[8] = json.dumps(e, separators=(",", ":"))
    elif edit == "junk":
        lines.insert(4, '{"event_type": "enclave_atte')
    elif edit == "unchained":
        lines.insert(4, json.dumps(event(7)))
    path = log_file(tmp_path, lines)
    r = nitro("audit", "verify", "--key", keys["pub"], path)
    assert r.code == 1, r.stdout
    assert "%s:%d: %s" % (path, line, why) in r.stdout, r.stdout


def test_wrong_key(nitro, keys, tmp_path):
    path = log_file(tmp_path, interleaved(keys))
    r = nitro("audit", "verify", "--key", keys["other"], path)
    assert r.code == 1 and "another key" in r.stdout


def test_without_key(nitro, keys, tmp_path):
    path = log_file(tmp_path, interleaved(keys))
    r = nitro("audit", "verify", path)
    assert r.code == 0 and "signatures not checked" in r.stderr


@pytest.mark.parametrize("args, message", [
    ([], "no LOG given"),
    (["--key", "/nonexistent.pem", "x.log"], "not a readable PEM key"),
    (["/nonexistent.log"], "cannot open"),
    (["--root", "/x.pem", "x.log"], "go with --evidence"),
    (["--bogus", "x.log"], "unknown option"),
])
def test_usage(nitro, args, message):
    r = nitro("audit", "verify", *args)
    assert r.code == 2 and message in r.stderr, r.stderr


def test_not_ed25519(nitro, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = write(os.path.join(str(tmp_path), "ec.pem"), key.public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    r = nitro("audit", "verify", "--key", path, path)
    assert r.code == 2 and "not an Ed25519 key" in r.stderr


def test_throughput(nitro, keys, tmp_path):
    """Lines of the size nginx writes, checked fast enough to audit a
    busy node's day (the benchmark, make bench-audit, gives the figure)."""
    pad = "ab" * 400
    events = [{**event(i), "doc_sha384": pad} for i in range(20000)]
    lines = audit.write_chain(events, keys["private"], CHAIN, 1000,
                              keys["kid"])
    path = log_file(tmp_path, lines)
    start = time.time()
    r = nitro("audit", "verify", "--key", keys["pub"], path)
    elapsed = time.time() - start
    assert r.code == 0
    assert len(lines) / elapsed > 5000, len(lines) / elapsed


def test_a_chain_per_line_is_no_slower(nitro, tmp_path):
    """Whoever can write the log can give every line a chain of its own:
    finding a line's chain must not take longer the more chains there
    are (200000 one-line chains, a minute and more when each was looked
    for among all the others)."""
    lines = ['{"event_type":"x","chain":"c%d","seq":1,"prev":"%s"}'
             % (i, audit.ZERO) for i in range(200000)]
    path = log_file(tmp_path, lines)
    start = time.time()
    r = nitro("audit", "verify", path)
    elapsed = time.time() - start
    assert r.code == 0 and r.stdout.count("unsealed tail") == 200000
    assert elapsed < 20, elapsed
