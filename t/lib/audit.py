"""audit.py: the tamper-evident event log checked without our code: the
hash chains and the Ed25519 checkpoints of nitro_attest_event_log_key
verified with hashlib and cryptography only, as an auditor's own tool
would, and the edits the tests make to such logs (each recomputing what
an editor without the key can)."""

import base64
import hashlib
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

ZERO = "0" * 64
CHECKPOINT = "nitro_attest_checkpoint"


def new_key():
    """(private PEM, public PEM) of a fresh Ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    return (key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def kid(public_pem: bytes) -> str:
    """RFC 7638 thumbprint of an Ed25519 public key."""
    pub = serialization.load_pem_public_key(public_pem)
    x = pub.public_bytes(serialization.Encoding.Raw,
                         serialization.PublicFormat.Raw)
    jwk = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % b64url(x)
    return b64url(hashlib.sha256(jwk.encode()).digest())


def message(line: str) -> str:
    """The event nginx wrote: a syslog receiver's header dropped."""
    return line[line.index("{"):]


def chain_keys(event: dict) -> dict:
    """Where the chain keys are: the event, or an OCSF event's unmapped."""
    if "chain" in event:
        return event
    return event.get("unmapped", {})


def sign_text(chain, seq, prev, time) -> bytes:
    return ("nitro-attest checkpoint\n%s\n%d\n%s\n%s"
            % (chain, seq, prev, time)).encode()


def verify_chains(lines, public_pem: bytes):
    """Our own check of lines (file order): {chain: (lines, tail)} where
    tail counts the lines after the last checkpoint; AssertionError at the
    first link or signature that does not hold."""
    pub = serialization.load_pem_public_key(public_pem)
    key_id = kid(public_pem)
    state = {}
    for n, raw in enumerate(lines, 1):
        text = message(raw)
        event = json.loads(text)
        keys = chain_keys(event)
        chain, seq, prev = keys["chain"], keys["seq"], keys["prev"]
        last_seq, last_hash, count, tail = state.get(chain, (0, ZERO, 0, 0))
        assert seq == last_seq + 1, "line %d: seq %d after %d" % (
            n, seq, last_seq)
        assert prev == last_hash, "line %d: prev" % n
        if event.get("event_type") == CHECKPOINT:
            assert list(event) == ["event_type", "time", "chain", "seq",
                                   "prev", "key_id", "sig"], text
            assert event["key_id"] == key_id
            pub.verify(b64url_decode(event["sig"]),
                       sign_text(chain, seq, prev, event["time"]))
            tail = 0
        else:
            tail += 1
        state[chain] = (seq, hashlib.sha256(text.encode()).hexdigest(),
                        count + 1, tail)
    return {c: (s[2], s[3]) for c, s in state.items()}


def relink(lines, start):
    """lines with every link from index start on recomputed (seq and prev
    of each chain), as an editor without the key would: checkpoints keep
    their signatures, so a re-linked checkpoint no longer verifies."""
    out = list(lines)
    state = {}
    for i, raw in enumerate(out):
        text = message(raw)
        event = json.loads(text)
        keys = chain_keys(event)
        chain = keys["chain"]
        seq, last = state.get(chain, (0, ZERO))
        if i >= start:
            keys["seq"] = seq + 1
            keys["prev"] = last
            text = json.dumps(event, separators=(",", ":"))
            out[i] = raw[:raw.index("{")] + text
        state[chain] = (seq + 1, hashlib.sha256(text.encode()).hexdigest())
    return out


def write_chain(events, private_pem: bytes, chain: str, every: int = 0,
                key_id: str = "", time: str = "2026-12-07T10:00:00.000Z"):
    """Lines of a chain written our own way: each event (a dict) with
    chain, seq and prev appended (in "unmapped" for an OCSF event), a
    checkpoint after every `every` events and at the end."""
    key = serialization.load_pem_private_key(private_pem, None)
    out, seq, last = [], 0, ZERO

    def add(event):
        nonlocal seq, last
        text = json.dumps(event, separators=(",", ":"))
        out.append(text)
        seq, last = seq + 1, hashlib.sha256(text.encode()).hexdigest()

    def seal():
        sig = key.sign(sign_text(chain, seq + 1, last, time))
        add({"event_type": CHECKPOINT, "time": time, "chain": chain,
             "seq": seq + 1, "prev": last, "key_id": key_id,
             "sig": b64url(sig)})

    for n, event in enumerate(events, 1):
        event = dict(event)
        target = event["unmapped"] if "unmapped" in event else event
        target.update(chain=chain, seq=seq + 1, prev=last)
        add(event)
        if every and n % every == 0:
            seal()
    if not out or json.loads(out[-1])["event_type"] != CHECKPOINT:
        seal()
    return out
