"""forge.py: AWS-shaped Nitro attestation documents and client certificates,
signed for real, with any single fault injected.

It builds (pure Python: cryptography + cbor2, no dependency on the CLI):
- a mock PKI shaped like AWS's (P-384 root, "regional", "zonal", "instance"
  CAs with pathLen 2, 1, 0, a fresh leaf per document), created here or
  loaded from a `nitro-attest mock pki DIR` directory, any certificate of it
  re-issuable with other validity or constraints;
- COSE_Sign1 documents assembled from hand-written CBOR so that every byte
  can be wrong on purpose (see document());
- self-signed client certificates carrying a document in an extension,
  CMW or raw, under any OID, critical or not, even twice (client_cert()).

Faults are keyword overrides on the builders; everything not overridden is
what a real NSM and a real enclave would produce.
"""

import base64
import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric import rsa, utils
from cryptography.x509.oid import NameOID


DEFAULT_OID = "1.3.6.1.5.5.7.1.35"
CMW_TYPE = "application/aws-nitro-document"
PROTECTED_ES384 = bytes.fromhex("a1013822")          # {1: -35}
FIELD_ORDER = ("module_id", "digest", "timestamp", "pcrs", "certificate",
               "cabundle", "public_key", "user_data", "nonce")
AUTHORITIES = ("root", "regional", "zonal", "instance")
DEFAULT_MODULE_ID = "i-0f0e0d0c0b0a09080-enc0123456789abcdef"
TPM_MODULE_ID = "i-0f0e0d0c0b0a09080-tpm0000000000000000"
KINDS = ("enclave", "nitrotpm")
PCR_FIELD = {"enclave": "pcrs", "nitrotpm": "nitrotpm_pcrs"}

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


class _Absent:
    def __repr__(self):
        return "ABSENT"


ABSENT = _Absent()      # an optional payload field left out entirely


# ---------------------------------------------------------------------------
# CBOR, by hand: each helper returns the encoded bytes of one item.

def head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError("CBOR argument too large")


def uint(n: int) -> bytes:
    return head(0, n)


def integer(n: int) -> bytes:
    return head(0, n) if n >= 0 else head(1, -1 - n)


def bstr(b: bytes) -> bytes:
    return head(2, len(b)) + b


def tstr(s: str) -> bytes:
    b = s.encode()
    return head(3, len(b)) + b


def array(items: Sequence[bytes]) -> bytes:
    return head(4, len(items)) + b"".join(items)


def cbor_map(pairs: Sequence[Tuple[bytes, bytes]],
             indefinite: bool = False) -> bytes:
    body = b"".join(k + v for k, v in pairs)
    if indefinite:
        return b"\xbf" + body + b"\xff"
    return head(5, len(pairs)) + body


def tag(number: int, item: bytes) -> bytes:
    return head(6, number) + item


NULL = b"\xf6"
TRUE = b"\xf5"


def optional(value) -> Optional[bytes]:
    """A public_key/user_data/nonce value: bytes, None (CBOR null), ABSENT."""
    if value is ABSENT:
        return None
    if value is None:
        return NULL
    return bstr(value)


def pcr_map(pcrs: Dict[int, bytes]) -> bytes:
    return cbor_map([(integer(i), bstr(v)) for i, v in pcrs.items()])


# ---------------------------------------------------------------------------
# DER, the little needed to patch and re-sign certificates.

def der_tlv(tag_byte: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag_byte]) + length + content


def der_octet_string(content: bytes) -> bytes:
    return der_tlv(0x04, content)


def der_int(n: int) -> bytes:
    """A non-negative INTEGER."""
    return der_tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def der_name(cn: str) -> bytes:
    """A Name of one commonName."""
    return der_tlv(0x30, der_tlv(0x31, der_tlv(
        0x30, der_oid("2.5.4.3") + der_tlv(0x0c, cn.encode()))))


def der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return der_tlv(0x06, bytes(body))


def der_split(buf: bytes, off: int = 0) -> Tuple[int, int, int]:
    """(tag, offset of content, content length) of the TLV at off."""
    t, n = buf[off], buf[off + 1]
    off += 2
    if n & 0x80:
        size = n & 0x7F
        n = int.from_bytes(buf[off:off + size], "big")
        off += size
    return t, off, n


def der_children(buf: bytes) -> List[bytes]:
    """The complete TLVs inside the SEQUENCE buf."""
    _, off, n = der_split(buf)
    end, out = off + n, []
    while off < end:
        _, coff, clen = der_split(buf, off)
        out.append(buf[off:coff + clen])
        off = coff + clen
    return out


# ---------------------------------------------------------------------------
# Keys, times, certificates.

def new_key(kind: str = "p384"):
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def spki_der(key) -> bytes:
    """SubjectPublicKeyInfo DER of a private or public key."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(
        serialization.Encoding.PEM)


def sign(key, data: bytes) -> bytes:
    """A signature as X.509 wants it (DER for ECDSA)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algo = hashes.SHA384() if key.curve.key_size >= 384 \
            else hashes.SHA256()
        return key.sign(data, ec.ECDSA(algo))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def _hash_for(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return hashes.SHA384() if key.curve.key_size >= 384 \
            else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None


def compressed_spki(key) -> bytes:
    """SubjectPublicKeyInfo of an EC key, its point compressed."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    algid, _ = der_children(spki_der(pub))
    point = pub.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.CompressedPoint)
    return der_tlv(0x30, algid + der_tlv(0x03, b"\x00" + point))


def with_spki(der: bytes, spki: bytes, issuer_key) -> bytes:
    """The certificate der with another SubjectPublicKeyInfo, signed again
    by issuer_key (of the kind that signed it)."""
    tbs, alg, _ = der_children(der)
    fields = der_children(tbs)
    fields[6 if fields[0][0] == 0xa0 else 5] = spki
    tbs = der_tlv(0x30, b"".join(fields))
    return der_tlv(0x30, tbs + alg + der_tlv(0x03, b"\x00" +
                                             sign(issuer_key, tbs)))


def bare_cert(issuer: bytes, subject: bytes, spki: bytes, sig_alg: bytes,
              signature: bytes, extensions: bytes = b"") -> bytes:
    """A certificate put together by hand from DER parts (Names, the
    AlgorithmIdentifier of sig_alg), signature as given: version 3 with
    the extensions given (their DER, concatenated), else version 1, serial
    1, valid 2020-2049."""
    version = b""
    if extensions:
        version = der_tlv(0xa0, der_int(2))
        extensions = der_tlv(0xa3, der_tlv(0x30, extensions))
    validity = der_tlv(0x30, der_tlv(0x17, b"200101000000Z")
                       + der_tlv(0x17, b"491231000000Z"))
    tbs = der_tlv(0x30, version + der_int(1) + sig_alg + issuer + validity
                  + subject + spki + extensions)
    return der_tlv(0x30, tbs + sig_alg + der_tlv(0x03, b"\x00" + signature))


def now_ms() -> int:
    return int(datetime.datetime.now(datetime.timezone.utc).timestamp()
               * 1000)


def utc(ms: int) -> datetime.datetime:
    """Naive UTC datetime, whole seconds (X.509 times have no fraction)."""
    return datetime.datetime(1970, 1, 1) + \
        datetime.timedelta(seconds=ms // 1000)


def rfc3339(ms: int) -> str:
    """2023-09-18T15:03:30.860Z"""
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "AWS"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


CA_USAGE = dict(digital_signature=True, key_cert_sign=True, crl_sign=True)
LEAF_USAGE = dict(digital_signature=True)


def _key_usage(flags: Optional[dict]) -> Optional[x509.KeyUsage]:
    if flags is None:
        return None
    base = dict(digital_signature=False, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False)
    base.update(flags)
    return x509.KeyUsage(**base)


@dataclass
class CertSpec:
    """What a PKI certificate says, besides names and keys."""
    not_before_ms: int
    not_after_ms: int
    ca: Optional[bool] = True            # None: no basicConstraints
    path_len: Optional[int] = None
    key_usage: Optional[dict] = field(default_factory=lambda: dict(CA_USAGE))
    key_usage_critical: bool = True
    pad: int = 0                         # bytes of a dummy extension


def issue(spec: CertSpec, subject: x509.Name, public_key,
          issuer: x509.Name, issuer_key) -> x509.Certificate:
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer)
         .public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(utc(spec.not_before_ms))
         .not_valid_after(utc(spec.not_after_ms)))
    if spec.ca is not None:
        b = b.add_extension(x509.BasicConstraints(
            ca=spec.ca, path_length=spec.path_len if spec.ca else None),
            critical=True)
    usage = _key_usage(spec.key_usage)
    if usage is not None:
        b = b.add_extension(usage, critical=spec.key_usage_critical)
    if spec.pad:
        b = b.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
            der_octet_string(b"\x00" * spec.pad)), critical=False)
    return b.sign(issuer_key, _hash_for(issuer_key))


@dataclass
class Authority:
    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Leaf:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def default_specs(at_ms: int) -> Dict[str, CertSpec]:
    """AWS-like lifetimes around at_ms (root to decades, instance a day)."""
    return {
        "root": CertSpec(at_ms - 365 * DAY_MS, at_ms + 25 * 365 * DAY_MS),
        "regional": CertSpec(at_ms - 2 * DAY_MS, at_ms + 20 * DAY_MS,
                             path_len=2),
        "zonal": CertSpec(at_ms - DAY_MS, at_ms + 6 * DAY_MS, path_len=1),
        "instance": CertSpec(at_ms - 12 * HOUR_MS, at_ms + DAY_MS,
                             path_len=0),
    }


class Pki:
    """root -> regional -> zonal -> instance -> per-document leaf."""

    def __init__(self, authorities: Dict[str, Authority],
                 directory: Optional[str] = None):
        self.by_name = authorities
        self.dir = directory          # where save() wrote it / load() read it

    @property
    def root_pem(self) -> str:
        """Path of root.pem (the file to pin), once saved or loaded."""
        assert self.dir, "save() the PKI first"
        return os.path.join(self.dir, "root.pem")

    @property
    def root(self) -> Authority:
        return self.by_name["root"]

    @property
    def instance(self) -> Authority:
        return self.by_name["instance"]

    def __getitem__(self, name: str) -> Authority:
        return self.by_name[name]

    @classmethod
    def create(cls, at_ms: Optional[int] = None, label: str = "forge",
               kinds: Optional[Dict[str, str]] = None,
               **overrides: CertSpec) -> "Pki":
        """A fresh PKI valid around at_ms (default now); overrides replace
        the CertSpec of root/regional/zonal/instance, kinds their key kind
        (new_key(); P-384 by default)."""
        specs = default_specs(now_ms() if at_ms is None else at_ms)
        specs.update(overrides)
        out, issuer = {}, None
        for name in AUTHORITIES:
            key = new_key((kinds or {}).get(name, "p384"))
            subject = _name("%s.%s.nitro-enclaves" % (label, name))
            if issuer is None:
                cert = issue(specs[name], subject, key.public_key(),
                             subject, key)
            else:
                cert = issue(specs[name], subject, key.public_key(),
                             issuer.cert.subject, issuer.key)
            out[name] = issuer = Authority(name, key, cert)
        return cls(out)

    @classmethod
    def load(cls, directory: str) -> "Pki":
        """A PKI written by `nitro-attest mock pki DIR` (or save())."""
        out = {}
        for name in AUTHORITIES:
            with open(os.path.join(directory, name + ".pem"), "rb") as f:
                cert = x509.load_pem_x509_certificate(f.read())
            with open(os.path.join(directory, name + ".key"), "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
            out[name] = Authority(name, key, cert)
        return cls(out, directory)

    def save(self, directory: str) -> str:
        os.makedirs(directory, exist_ok=True)
        for a in self.by_name.values():
            with open(os.path.join(directory, a.name + ".pem"), "wb") as f:
                f.write(a.pem)
            with open(os.path.join(directory, a.name + ".key"), "wb") as f:
                f.write(key_pem(a.key))
        self.dir = directory
        return directory

    def reissue(self, name: str, spec: CertSpec) -> "Pki":
        """The same PKI with one certificate re-issued (same key and
        subject, so the rest of the chain still links to it)."""
        a = self.by_name[name]
        i = AUTHORITIES.index(name)
        issuer = a if i == 0 else self.by_name[AUTHORITIES[i - 1]]
        cert = issue(spec, a.cert.subject, a.key.public_key(),
                     issuer.cert.subject, issuer.key)
        return Pki({**self.by_name, name: Authority(name, a.key, cert)})

    def cabundle(self) -> List[bytes]:
        return [self.by_name[n].der for n in AUTHORITIES]

    def leaf(self, timestamp_ms: int, *, before_ms: int = HOUR_MS,
             after_ms: int = 2 * HOUR_MS, ca: Optional[bool] = False,
             key_usage: Optional[dict] = None, key=None,
             issuer: Optional[Authority] = None, size: int = 0,
             module_id: str = DEFAULT_MODULE_ID) -> Leaf:
        """A leaf like the NSM's, valid [ts - before, ts + after]; size > 0
        pads it with a dummy extension to exactly that many DER bytes."""
        key = key or new_key()
        issuer = issuer or self.instance
        spec = CertSpec(timestamp_ms - before_ms, timestamp_ms + after_ms,
                        ca=ca, path_len=None,
                        key_usage=LEAF_USAGE if key_usage is None
                        else key_usage,
                        key_usage_critical=False)
        subject = _name(module_id + ".forge.aws")
        cert = issue(spec, subject, key.public_key(), issuer.cert.subject,
                     issuer.key)
        if size:
            base = len(cert.public_bytes(serialization.Encoding.DER))
            pad = size - base - 15     # extension overhead (OID etc.)
            for _ in range(64):
                cert = issue(replace(spec, pad=pad), subject,
                             key.public_key(), issuer.cert.subject,
                             issuer.key)
                got = len(cert.public_bytes(serialization.Encoding.DER))
                if got == size:
                    break
                if abs(got - size) > 2:
                    pad += size - got
            else:
                raise RuntimeError("could not hit leaf size %d" % size)
        return Leaf(key, cert)


# ---------------------------------------------------------------------------
# Documents.

def default_pcrs(count: int = 16, size: int = 48) -> Dict[int, bytes]:
    """Production-looking PCRs: every one non-zero, distinct."""
    return {i: hashlib.sha512(b"pcr%d" % i).digest()[:size]
            for i in range(count)}


# PCRs 0-2 of default_pcrs(): the allow set most test policies name
GOOD = {i: default_pcrs()[i] for i in (0, 1, 2)}


def tpm_pcrs() -> Dict[int, bytes]:
    """A NitroTPM document's PCRs: all 24, 48 bytes (SHA-384 bank), PCR0..2
    non-zero firmware measurements, a few zero and a few all-ones as on a
    real instance."""
    pcrs = {i: hashlib.sha512(b"tpm%d" % i).digest()[:48]
            for i in range(24)}
    for i in (8, 12, 13, 14, 15, 16, 23):
        pcrs[i] = bytes(48)
    for i in range(17, 23):
        pcrs[i] = b"\xff" * 48
    return pcrs


def debug_pcrs(count: int = 16, size: int = 48) -> Dict[int, bytes]:
    """A debug enclave's PCRs: 0, 1, 2 all zero (others as usual)."""
    pcrs = default_pcrs(count, size)
    for i in (0, 1, 2):
        pcrs[i] = bytes(size)
    return pcrs


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return array([tstr("Signature1"), bstr(protected), bstr(b""),
                  bstr(payload)])


def es384_sign(key, protected: bytes, payload: bytes) -> bytes:
    """96-byte r||s over the COSE Sig_structure."""
    der = key.sign(sig_structure(protected, payload),
                   ec.ECDSA(hashes.SHA384()))
    r, s = utils.decode_dss_signature(der)
    n = (key.curve.key_size + 7) // 8
    return r.to_bytes(n, "big") + s.to_bytes(n, "big")


@dataclass
class Document:
    """One forged COSE_Sign1 and what went into it."""
    cose: bytes
    payload: bytes
    protected: bytes
    signature: bytes
    leaf: Leaf
    cabundle: List[bytes]
    timestamp_ms: int
    module_id: str
    pcrs: Dict[int, bytes]
    public_key: object
    user_data: object
    nonce: object
    kind: str = "enclave"

    @property
    def sha384(self) -> str:
        return hashlib.sha384(self.cose).hexdigest()

    def hex(self) -> bytes:
        return self.cose.hex().encode()

    def base64(self) -> bytes:
        return base64.b64encode(self.cose)


def document(pki: Pki, *,
             kind: str = "enclave",
             timestamp_ms: Optional[int] = None,
             module_id: Optional[str] = None,
             digest: str = "SHA384",
             pcrs: Optional[Dict[int, bytes]] = None,
             public_key=None, user_data=None, nonce=None,
             leaf: Optional[Leaf] = None,
             certificate: Optional[bytes] = None,
             cabundle: Optional[List[bytes]] = None,
             fields: Optional[Dict[str, bytes]] = None,
             drop: Sequence[str] = (),
             extra: Sequence[Tuple[bytes, bytes]] = (),
             order: Sequence[str] = FIELD_ORDER,
             indefinite: bool = False,
             payload_trailer: bytes = b"",
             payload: Optional[bytes] = None,
             protected: bytes = PROTECTED_ES384,
             protected_item: Optional[bytes] = None,
             unprotected: bytes = b"\xa0",
             payload_item: Optional[bytes] = None,
             signer=None,
             signature: Optional[bytes] = None,
             signature_item: Optional[bytes] = None,
             tamper_signature: bool = False,
             after_signing: Optional[Callable[[bytes], bytes]] = None,
             items: Optional[Callable[[List[bytes]], List[bytes]]] = None,
             tag18: bool = False, tag_number: Optional[int] = None,
             trailer: bytes = b"") -> Document:
    """A COSE_Sign1 signed ES384 by a fresh leaf of pki (AWS layout).

    kind "enclave" (an NSM document: `pcrs`, 16 by default) or "nitrotpm"
    (nitro-tpm-attest's: `nitrotpm_pcrs` in the place of `pcrs`, 24 by
    default, a -tpm module_id); `fields`, `drop` and `order` call that
    field "pcrs" whatever its kind.

    Payload: public_key/user_data/nonce take bytes, None (CBOR null) or
    ABSENT; `fields` replaces a field's encoded value with raw CBOR, `drop`
    leaves fields out, `extra` appends raw (key, value) pairs (unknown or
    duplicate keys), `order`/`indefinite`/`payload_trailer` shape the map,
    `payload` replaces it whole.  Envelope: `protected` is the header bstr
    content, `*_item` replace a whole array slot with raw CBOR, `signer`
    signs instead of the leaf key, `signature` replaces it,
    `tamper_signature` flips its last bit, `after_signing` rewrites the
    payload once signed, `items` rewrites the list of four array items,
    `tag18`/`tag_number` wrap the array, `trailer` follows it.
    """
    assert kind in KINDS, kind
    tpm = kind == "nitrotpm"
    ts = now_ms() if timestamp_ms is None else timestamp_ms
    if module_id is None:
        module_id = TPM_MODULE_ID if tpm else DEFAULT_MODULE_ID
    if pcrs is None:
        pcrs = tpm_pcrs() if tpm else default_pcrs()
    leaf = leaf or pki.leaf(ts)
    cabundle = pki.cabundle() if cabundle is None else cabundle
    certificate = leaf.der if certificate is None else certificate

    values = {
        "module_id": tstr(module_id),
        "digest": tstr(digest),
        "timestamp": uint(ts),
        "pcrs": pcr_map(pcrs),
        "certificate": bstr(certificate),
        "cabundle": array([bstr(c) for c in cabundle]),
        "public_key": optional(public_key),
        "user_data": optional(user_data),
        "nonce": optional(nonce),
    }
    values.update(fields or {})
    pcr_key = PCR_FIELD[kind]
    pairs = [(tstr(pcr_key if k == "pcrs" else k), values[k]) for k in order
             if k not in drop and values.get(k) is not None]
    pairs += list(extra)
    if payload is None:
        payload = cbor_map(pairs, indefinite) + payload_trailer

    sig = es384_sign(signer or leaf.key, protected, payload)
    if signature is not None:
        sig = signature
    if tamper_signature:
        sig = sig[:-1] + bytes([sig[-1] ^ 1])
    carried = after_signing(payload) if after_signing else payload

    four = [protected_item if protected_item is not None
            else bstr(protected),
            unprotected,
            payload_item if payload_item is not None else bstr(carried),
            signature_item if signature_item is not None else bstr(sig)]
    if items:
        four = items(four)
    cose = head(4, len(four)) + b"".join(four)
    if tag18:
        cose = tag(18, cose)
    if tag_number is not None:
        cose = tag(tag_number, cose)
    cose += trailer
    return Document(cose, carried, protected, sig, leaf, cabundle, ts,
                    module_id, pcrs, public_key, user_data, nonce, kind)


def decode(cose: bytes) -> dict:
    """The document's fields as Python values (for checking, not faults)."""
    item = cbor2.loads(cose)
    if isinstance(item, cbor2.CBORTag):
        item = item.value
    protected, _, payload, signature = item
    out = cbor2.loads(payload)
    out["protected"] = protected
    out["signature"] = signature
    out["payload"] = payload
    return out


def check(cose: bytes, root_der: bytes, at_ms: int) -> None:
    """Raises unless cose is correctly signed and chains to root_der at
    at_ms: an independent check that the forge builds what it claims."""
    d = decode(cose)
    assert d["protected"] == PROTECTED_ES384
    assert d["cabundle"][0] == root_der
    chain = [x509.load_der_x509_certificate(c)
             for c in d["cabundle"] + [d["certificate"]]]
    for issuer, cert in zip(chain, chain[1:]):
        issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                   ec.ECDSA(cert.signature_hash_algorithm))
        assert cert.issuer == issuer.subject
    for cert in chain:
        assert cert.not_valid_before <= utc(at_ms) <= cert.not_valid_after
    sig = d["signature"]
    der = utils.encode_dss_signature(int.from_bytes(sig[:48], "big"),
                                     int.from_bytes(sig[48:], "big"))
    chain[-1].public_key().verify(
        der, sig_structure(d["protected"], d["payload"]),
        ec.ECDSA(hashes.SHA384()))


# ---------------------------------------------------------------------------
# Client certificates.

def cmw_record(cose: bytes, *, media_type=CMW_TYPE, indicator=4,
               trailer: bytes = b"") -> bytes:
    """CBOR ["application/aws-nitro-document", h'COSE', 4]; indicator None
    leaves it out; media_type may be raw CBOR bytes (a wrong type)."""
    items = [media_type if isinstance(media_type, bytes)
             else tstr(media_type), bstr(cose)]
    if indicator is not None:
        items.append(uint(indicator))
    return array(items) + trailer


def cmw_extension(cose: bytes, **kw) -> bytes:
    """extnValue content for the cmw format: OCTET STRING of the record."""
    return der_octet_string(cmw_record(cose, **kw))


def client_cert(key, cose: Optional[bytes] = None, *,
                oid: str = DEFAULT_OID, fmt: str = "cmw",
                value: Optional[bytes] = None, critical: bool = False,
                twice: bool = False, second_value: Optional[bytes] = None,
                not_before_ms: Optional[int] = None,
                not_after_ms: Optional[int] = None,
                cn: str = "enclave-client",
                server: Optional[str] = None) -> bytes:
    """Self-signed DER certificate for key carrying cose in an extension.

    server: a TLS server's certificate for that name instead (its common
    name, a dNSName SAN and the serverAuth extended key usage), as an
    enclave serving attested TLS presents.

    fmt "cmw" (default) or "raw"; value gives the extnValue content
    directly (a malformed CMW); no cose and no value: no extension.
    twice: the extension appears two times (second_value, default the same
    content), built by patching a placeholder OID and re-signing."""
    start = now_ms() - HOUR_MS if not_before_ms is None else not_before_ms
    end = start + 2 * DAY_MS if not_after_ms is None else not_after_ms
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         server or cn)])
    b = (x509.CertificateBuilder()
         .subject_name(name).issuer_name(name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(utc(start)).not_valid_after(utc(end)))
    if server:
        b = (b.add_extension(x509.SubjectAlternativeName(
                 [x509.DNSName(server)]), critical=False)
             .add_extension(x509.ExtendedKeyUsage(
                 [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                 critical=False))
    if value is None and cose is not None:
        value = cose if fmt == "raw" else cmw_extension(cose)
    placeholder = None
    if value is not None:
        b = b.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier(oid), value), critical=critical)
        if twice:
            placeholder = _placeholder_oid(oid)
            b = b.add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier(placeholder),
                value if second_value is None else second_value),
                critical=critical)
    der = b.sign(key, _hash_for(key)).public_bytes(serialization.Encoding.DER)
    if placeholder:
        tbs, alg, _ = der_children(der)
        fake, real = der_oid(placeholder), der_oid(oid)
        assert tbs.count(fake) == 1 and len(fake) == len(real)
        tbs = tbs.replace(fake, real)
        der = der_tlv(0x30, tbs + alg + der_tlv(0x03, b"\x00" +
                                                 sign(key, tbs)))
    return der


def _placeholder_oid(oid: str) -> str:
    """An OID of the same DER length as oid, differing in the last arc."""
    arcs = oid.split(".")
    last = int(arcs[-1])
    other = last + 1 if last % 128 != 127 else last - 1
    return ".".join(arcs[:-1] + [str(other)])


# ---------------------------------------------------------------------------
# Policies.

def policy(allow: Sequence[Tuple],
           deny: Sequence[Tuple] = (),
           allow_debug: Optional[bool] = None, upper: bool = False) -> str:
    """Policy JSON from (name, {index: value}[, kind[, expect_every]])
    sets; a kind or an expect_every given is written in the set."""
    def pcr_set(name, pcrs, kind=None, expect_every=None):
        hexed = {str(i): (v.hex().upper() if upper else v.hex())
                 for i, v in pcrs.items()}
        out = {"name": name, "pcrs": hexed}
        if kind is not None:
            out["kind"] = kind
        if expect_every is not None:
            out["expect_every"] = expect_every
        return out
    doc = {"allow": [pcr_set(*s) for s in allow]}
    if deny:
        doc["deny"] = [pcr_set(*s) for s in deny]
    if allow_debug is not None:
        doc["allow_debug"] = allow_debug
    return json.dumps(doc)


_CURVE_OIDS = {"secp384r1": "1.3.132.0.34",
               "secp256r1": "1.2.840.10045.3.1.7"}


def wrong_key_pem(key) -> bytes:
    """An EC private key (RFC 5915) with key's public point and a random
    scalar: it passes OpenSSL's check that key file and certificate match,
    and signs nothing the certificate's key would."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint)
    scalar = ec.generate_private_key(key.curve).private_numbers()
    size = (key.curve.key_size + 7) // 8
    der = der_tlv(0x30, b"".join([
        der_tlv(0x02, b"\x01"),
        der_tlv(0x04, scalar.private_value.to_bytes(size, "big")),
        der_tlv(0xa0, der_oid(_CURVE_OIDS[key.curve.name])),
        der_tlv(0xa1, der_tlv(0x03, b"\x00" + point)),
    ]))
    body = base64.encodebytes(der).decode()
    return ("-----BEGIN EC PRIVATE KEY-----\n%s-----END EC PRIVATE KEY-----\n"
            % body).encode()
