"""tokens.py: the independent side of the attestation token tests.  Token
signing keys of each kind, RFC 7638 thumbprints computed here, and the
checks of a token's claims against the forged document it speaks for.
Verification is PyJWT's (Debian python3-jwt), a JOSE implementation that
shares nothing with the module.
"""

import base64
import hashlib
import json

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

# kind -> JWS alg
ALGS = {"p256": "ES256", "p384": "ES384", "ed25519": "EdDSA"}
EAR_PROFILE = "tag:github.com,2023:veraison/ear"
CLAIM_KEYS = ["iss", "sub", "iat", "exp", "jti", "cnf", "eat_profile",
              "submods", "nitro"]
NITRO_KEYS = ["module_id", "timestamp_ms", "pcrs", "policy", "doc_sha384",
              "user_data", "nonce", "kind"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(kind: str):
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(kind)


def key_pem(key, traditional: bool = False) -> bytes:
    fmt = (serialization.PrivateFormat.TraditionalOpenSSL if traditional
           else serialization.PrivateFormat.PKCS8)
    return key.private_bytes(serialization.Encoding.PEM, fmt,
                             serialization.NoEncryption())


def public_jwk(key) -> dict:
    """The required members of the public JWK (RFC 7638 3.2)."""
    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    numbers = pub.public_numbers()
    size = (pub.curve.key_size + 7) // 8
    return {"crv": {256: "P-256", 384: "P-384"}[pub.curve.key_size],
            "kty": "EC", "x": b64url(numbers.x.to_bytes(size, "big")),
            "y": b64url(numbers.y.to_bytes(size, "big"))}


def thumbprint(key) -> str:
    text = json.dumps(public_jwk(key), separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(text.encode()).digest())


def alg_of(key) -> str:
    """The one JWS alg a key of ours signs with."""
    if isinstance(key, (ed25519.Ed25519PrivateKey,
                        ed25519.Ed25519PublicKey)):
        return "EdDSA"
    return {256: "ES256", 384: "ES384"}[key.curve.key_size]


def decode(token: str, key, **options) -> dict:
    """The claims of token, verified with key (private or public) under
    the alg of that key only (never the one the token names), exp checked
    unless options say otherwise."""
    alg = alg_of(key)
    if hasattr(key, "public_key"):
        key = key.public_key()
    return jwt.decode(token, key, algorithms=[alg], options=options or None)


def decode_with_jwks(token: str, jwks: dict) -> dict:
    """The claims of token, verified with the key of jwks its kid names."""
    header = jwt.get_unverified_header(token)
    keys = [k for k in jwt.PyJWKSet.from_dict(jwks).keys
            if k.key_id == header["kid"]]
    assert len(keys) == 1, (header, jwks)
    # the alg the JWKS publishes for that key, not the token's word
    return jwt.decode(token, keys[0].key,
                      algorithms=[keys[0]._jwk_data["alg"]])


def segments(token: str) -> list:
    parts = token.split(".")
    assert len(parts) == 3 and all(parts), token
    assert "=" not in token
    return parts


def raw_json(segment: str):
    return json.loads(base64.urlsafe_b64decode(segment + "=" *
                                               (-len(segment) % 4)))


def check_header(token: str, key) -> dict:
    header = raw_json(segments(token)[0])
    assert list(header) == ["alg", "kid", "typ"], header
    assert header == {"alg": alg_of(key), "kid": thumbprint(key),
                      "typ": "JWT"}
    return header


def not_after_s(doc) -> int:
    """The earliest notAfter of the document's chain, in seconds."""
    certs = [x509.load_der_x509_certificate(d)
             for d in doc.cabundle + [doc.leaf.der]]
    return min(int(c.not_valid_after.replace(
        tzinfo=__import__("datetime").timezone.utc).timestamp())
        for c in certs)


def check_claims(claims: dict, token: str, doc, cert_der: bytes, *,
                 policy: str, issuer: str = "nitro-attest") -> None:
    """Every claim of the token, in order, against the forged document."""
    assert list(raw_json(segments(token)[1])) == CLAIM_KEYS
    assert claims["iss"] == issuer
    assert claims["sub"] == doc.module_id
    assert type(claims["iat"]) is int and type(claims["exp"]) is int
    assert claims["iat"] < claims["exp"] <= not_after_s(doc)
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["cnf"] == {
        "x5t#S256": b64url(hashlib.sha256(cert_der).digest())}
    assert claims["eat_profile"] == EAR_PROFILE
    assert claims["submods"] == {"aws-nitro": {
        "ear.status": "affirming", "ear.appraisal-policy-id": policy}}
    nitro = claims["nitro"]
    assert list(nitro) == NITRO_KEYS
    assert nitro["module_id"] == doc.module_id
    assert nitro["timestamp_ms"] == doc.timestamp_ms
    assert nitro["pcrs"] == {str(i): v.hex()
                             for i, v in sorted(doc.pcrs.items())}
    assert list(nitro["pcrs"]) == [str(i) for i in sorted(doc.pcrs)]
    assert nitro["policy"] == policy
    assert nitro["doc_sha384"] == doc.sha384
    for name in ("user_data", "nonce"):
        value = getattr(doc, name)
        assert nitro[name] == (value.hex() if isinstance(value, bytes)
                               else None), name
    assert nitro["kind"] == doc.kind


def tamper(token: str) -> list:
    """Variants of token that must not verify: a claim changed, the
    signature flipped, the header's alg changed, the signature dropped."""
    h, p, s = segments(token)
    claims = raw_json(p)
    claims["sub"] = "i-someone-else"
    forged_p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    flipped = b64url(sig[:-1] + bytes([sig[-1] ^ 1]))
    header = raw_json(h)
    header["alg"] = "none"
    none_h = b64url(json.dumps(header).encode())
    return [h + "." + forged_p + "." + s, h + "." + p + "." + flipped,
            none_h + "." + p + ".", h + "." + p + "."]
