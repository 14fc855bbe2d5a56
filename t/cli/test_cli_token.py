"""nitro-attest verify --token-key: the CLI prints the token nginx would
sign, as the last key of each line.  Tokens are verified with PyJWT
against the public key, never with the tool itself.
"""

import json
import os

import jwt
import pytest

import forge
import tokens
from cli import Run, expect_failure, expect_success, one_line
from forge import GOOD


@pytest.fixture(scope="module")
def keys(c):
    """kind -> (private key, PEM path)."""
    out = {}
    for kind in ("p256", "p384", "ed25519", "rsa", "p521"):
        key = tokens.new_key(kind)
        out[kind] = (key, c.file(tokens.key_pem(key), ".pem"))
    return out


def claims_at(token, key) -> dict:
    """The claims, verified with key: the CLI signs at --at, a test time,
    so iat and exp are checked by value, not against the clock."""
    return tokens.decode(token, key, verify_exp=False, verify_iat=False)


def without_token(run) -> tuple:
    """(run with the line's last key, "token", taken out; the token)."""
    ev = run.event
    assert ev.key_order[-1] == "token", run.describe()
    token = ev.pop("token")
    return Run(run.args, run.code, json.dumps(ev) + "\n", run.stderr), token


def token_of(run) -> str:
    rest, token = without_token(run)
    expect_success(rest)
    return token


def signed(verify, c, keys, kind="p384", args=(), **doc_kw):
    doc_kw.setdefault("public_key", c.spki("p384"))
    doc_kw.setdefault("user_data", b"\x01\x02")
    doc_kw.setdefault("nonce", b"")
    doc = c.doc(**doc_kw)
    der = forge.client_cert(c.keys["p384"], doc.cose)
    run = verify(der, args=["--policy", c.policy(("payments-v42", GOOD)),
                            "--token-key", keys[kind][1]] + list(args))
    return doc, der, run


@pytest.mark.parametrize("kind", ["p256", "p384", "ed25519"])
def test_cli_token_verifies_with_pyjwt(verify, c, keys, kind):
    doc, der, run = signed(verify, c, keys, kind)
    token = token_of(run)
    tokens.check_header(token, keys[kind][0])
    claims = claims_at(token, keys[kind][0])
    tokens.check_claims(claims, token, doc, der, policy="payments-v42")
    # iat is the verification time (--at), exp the default 5 minutes on
    assert claims["iat"] == c.at // 1000
    assert claims["exp"] == claims["iat"] + 300


def test_cli_token_issuer_and_lifetime(verify, c, keys):
    _, _, run = signed(verify, c, keys, args=["--token-issuer", "edge-7",
                                              "--token-lifetime", "42"])
    claims = claims_at(token_of(run), keys["p384"][0])
    assert claims["iss"] == "edge-7"
    assert claims["exp"] - claims["iat"] == 42


@pytest.mark.parametrize("text,seconds", [("2m", 120), ("1h", 3600),
                                          ("1m30s", 90), ("1500ms", 1)])
def test_cli_token_lifetime_takes_nginx_time(verify, c, keys, text, seconds):
    _, _, run = signed(verify, c, keys, args=["--token-lifetime", text])
    claims = claims_at(token_of(run), keys["p384"][0])
    assert claims["exp"] - claims["iat"] == seconds


def test_cli_token_never_outlives_the_chain(verify, c, keys):
    doc, _, run = signed(verify, c, keys,
                         args=["--token-lifetime", "864000"])
    claims = claims_at(token_of(run), keys["p384"][0])
    assert claims["exp"] == tokens.not_after_s(doc)


def test_cli_token_jti_is_unique(verify, c, keys):
    seen = set()
    for _ in range(3):
        _, _, run = signed(verify, c, keys)
        seen.add(claims_at(token_of(run), keys["p384"][0])["jti"])
    assert len(seen) == 3


def test_cli_token_tampered_or_other_key_fails(verify, c, keys):
    _, _, run = signed(verify, c, keys, "p256")
    token = token_of(run)
    for bad in tokens.tamper(token):
        with pytest.raises(jwt.InvalidTokenError):
            claims_at(bad, keys["p256"][0])
    other = tokens.new_key("p256")
    with pytest.raises(jwt.InvalidSignatureError):
        claims_at(token, other)


def test_cli_token_null_when_not_verified(verify, c, keys):
    doc = c.doc(public_key=c.spki("p384"), pcrs={**forge.default_pcrs(),
                                                 0: b"\x66" * 48})
    der = forge.client_cert(c.keys["p384"], doc.cose)
    run = verify(der, args=["--policy", c.policy(("payments-v42", GOOD)),
                            "--token-key", keys["p384"][1]])
    rest, token = without_token(run)
    expect_failure(rest, "pcr_mismatch")
    assert token is None


def test_cli_token_null_without_a_certificate(verify, c, keys):
    """A bare document names no TLS client: nothing to bind a token to."""
    run = verify(c.cose(), args=["--token-key", keys["p384"][1]])
    assert token_of(run) is None


def test_cli_lines_without_token_key_unchanged(verify, c):
    doc = c.doc(public_key=c.spki("p384"))
    plain = verify(forge.client_cert(c.keys["p384"], doc.cose))
    assert "token" not in expect_success(plain)


@pytest.mark.parametrize("kind,message", [
    ("rsa", "unsupported key type RSA"),
    ("p521", "unsupported EC curve"),
])
def test_cli_unsupported_key_is_a_usage_error(verify, c, keys, kind, message):
    _, _, run = signed(verify, c, keys, kind)
    assert run.code == 2 and run.stdout == "", run.describe()
    line = one_line(run.stderr)
    assert message in line and keys[kind][1] in line


def test_cli_unreadable_key_is_a_usage_error(verify, c, keys):
    missing = c.dir + "/no-such-key.pem"
    run = verify(c.cert(), args=["--token-key", missing])
    assert run.code == 2 and missing in one_line(run.stderr)
    run = verify(c.cert(), args=["--token-key", c.file(b"not a key")])
    assert run.code == 2 and "no PEM private key" in one_line(run.stderr)


def test_cli_encrypted_key_never_prompts(verify, c, keys, tmp_path):
    from cryptography.hazmat.primitives import serialization
    pem = keys["p256"][0].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    run = verify(c.cert(), args=["--token-key", c.file(pem)])
    assert run.code == 2 and "passphrase" in one_line(run.stderr)


@pytest.mark.parametrize("args", [
    ["--token-issuer", "x"],
    ["--token-lifetime", "60"],
    ["--token-key", "KEY", "--token-lifetime", "0.5"],
    ["--token-key", "KEY", "--token-lifetime", "soon"],
    ["--token-key", "KEY", "--token-lifetime", "500ms"],
    ["--token-key", "KEY", "--token-lifetime", "5x"],
])
def test_cli_token_option_errors(verify, c, keys, args):
    args = [keys["p384"][1] if a == "KEY" else a for a in args]
    run = verify(c.cert(), args=args)
    assert run.code == 2 and run.stdout == "", run.describe()
    one_line(run.stderr)


def test_cli_traditional_ec_key_reads(verify, c, keys):
    """An "EC PRIVATE KEY" PEM (openssl ecparam -genkey) reads as PKCS#8."""
    key = keys["p256"][0]
    path = c.file(tokens.key_pem(key, traditional=True), ".pem")
    doc = c.doc(public_key=c.spki("p384"))
    run = verify(forge.client_cert(c.keys["p384"], doc.cose),
                 args=["--token-key", path])
    token = token_of(run)
    assert json.dumps(tokens.check_header(token, key))


# RFC 8037 A.1 (the Ed25519 private key) and A.3 (its RFC 7638 thumbprint)
RFC8037_D = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8037_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_cli_kid_is_the_rfc_8037_thumbprint(verify, c):
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(RFC8037_D))
    path = c.file(tokens.key_pem(key), ".pem")
    doc = c.doc(public_key=c.spki("p384"))
    run = verify(forge.client_cert(c.keys["p384"], doc.cose),
                 args=["--token-key", path])
    header = tokens.raw_json(tokens.segments(token_of(run))[0])
    assert header["kid"] == RFC8037_KID == tokens.thumbprint(key)


def test_cli_token_of_a_nitrotpm_document(verify, c, keys):
    doc = c.doc(kind="nitrotpm", public_key=c.spki("p384"))
    der = forge.client_cert(c.keys["p384"], doc.cose)
    run = verify(der, args=["--token-key", keys["p384"][1]])
    claims = claims_at(token_of(run), keys["p384"][0])
    assert claims["nitro"]["kind"] == "nitrotpm"
    assert claims["sub"] == forge.TPM_MODULE_ID
    assert claims["nitro"]["pcrs"] == {str(i): v.hex()
                                       for i, v in sorted(doc.pcrs.items())}
    # no policy judged: no appraisal policy to name
    assert claims["submods"] == {"aws-nitro": {"ear.status": "affirming"}}
    assert claims["nitro"]["policy"] is None


def test_cli_token_text_that_is_not_utf8(verify, c, keys):
    """An issuer of bytes that are not UTF-8 (an nginx configuration is
    bytes too) still makes a valid JSON token: they become U+FFFD, as in
    the event.  (os.fsdecode() makes the bytes an argument; a surrogate
    written in the source breaks Python 3.13's compile.)"""
    issuer = os.fsdecode(b"edge-\xff\xc3x")
    _, _, run = signed(verify, c, keys, args=["--token-issuer", issuer])
    claims = claims_at(token_of(run), keys["p384"][0])
    assert claims["iss"] == "edge-\ufffd\ufffdx"
