"""The chain cache: a CA bundle verified once is not verified
again, but a cached bundle never changes a verdict.

`nitro-attest verify A B ...` shares one chain cache across its FILEs, so
each case verifies a good document first (the bundle enters the cache) and
then the document under test, and compares with verifying it alone.
"""

import forge
from files import write

HOUR = forge.HOUR_MS
DAY = forge.DAY_MS


def _verify(nitro, pki, paths):
    run = nitro("verify", "--root", pki.root_pem, "--at", "document",
                "--allow-debug", *paths)
    events = run.events
    assert len(events) == len(paths), run.describe()
    return events


def _same_verdict(a, b):
    """Events equal but for the measured verification time."""
    a = {k: v for k, v in a.items() if k != "verify_us"}
    b = {k: v for k, v in b.items() if k != "verify_us"}
    return a == b


def _cached_verdict(nitro, pki, tmp_path, doc, good=None):
    """The event of doc after a good document (by default one made by pki
    at doc's time) put its bundle in the cache: checked to be the verdict
    doc gets alone."""
    if good is None:
        good = forge.document(pki, timestamp_ms=doc.timestamp_ms)
    paths = [write(tmp_path / "good.cose", good.cose),
             write(tmp_path / "doc.cose", doc.cose)]
    alone = _verify(nitro, pki, paths[1:])[0]
    warm, cached = _verify(nitro, pki, paths)
    assert warm["status"] == "SUCCESS", warm
    assert _same_verdict(alone, cached), (alone, cached)
    return cached


def test_cached_bundle_accepts_a_new_leaf(nitro, pki, tmp_path, t0):
    cached = _cached_verdict(nitro, pki, tmp_path,
                             forge.document(pki, timestamp_ms=t0))
    assert cached["status"] == "SUCCESS", cached


def test_leaf_signed_by_an_impostor_instance_is_refused(nitro, pki, tmp_path,
                                                        t0):
    # same subject name as the real instance CA, another key
    impostor = forge.Authority("instance", forge.new_key(),
                               pki.instance.cert)
    leaf = pki.leaf(t0, issuer=impostor)
    doc = forge.document(pki, timestamp_ms=t0, leaf=leaf)
    cached = _cached_verdict(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached


def test_leaf_from_another_pki_under_a_cached_bundle(nitro, pki, other_pki,
                                                     tmp_path, t0):
    doc = forge.document(pki, timestamp_ms=t0, leaf=other_pki.leaf(t0))
    cached = _cached_verdict(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached


def test_leaf_that_is_a_ca_under_a_cached_bundle(nitro, pki, tmp_path, t0):
    doc = forge.document(pki, timestamp_ms=t0, leaf=pki.leaf(t0, ca=True))
    cached = _cached_verdict(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached


def test_expired_leaf_under_a_cached_bundle(nitro, pki, tmp_path, t0):
    leaf = pki.leaf(t0, before_ms=3 * HOUR, after_ms=-HOUR)
    doc = forge.document(pki, timestamp_ms=t0, leaf=leaf)
    cached = _cached_verdict(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "certificate_expired", cached


def test_bad_cose_signature_under_a_cached_bundle(nitro, pki, tmp_path, t0):
    doc = forge.document(pki, timestamp_ms=t0, tamper_signature=True)
    cached = _cached_verdict(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "bad_signature", cached


def test_cached_bundle_is_not_trusted_past_its_validity(nitro, pki, tmp_path,
                                                        t0):
    # the instance CA of `pki` is valid until t0 + 1 day: two days later a
    # fresh leaf under it must fail on the CA, cache or not
    late = forge.document(pki, timestamp_ms=t0 + 2 * DAY)
    cached = _cached_verdict(nitro, pki, tmp_path, late,
                             good=forge.document(pki, timestamp_ms=t0))
    assert cached["reason"] == "certificate_expired", cached


def test_cached_bundle_is_not_trusted_before_its_validity(nitro, pki,
                                                          tmp_path, t0):
    # the instance CA starts at t0 - 12 h
    early = forge.document(pki, timestamp_ms=t0 - DAY)
    cached = _cached_verdict(nitro, pki, tmp_path, early,
                             good=forge.document(pki, timestamp_ms=t0))
    assert cached["reason"] == "certificate_expired", cached


def test_reordered_bundle_is_not_a_hit(nitro, pki, tmp_path, t0):
    bundle = pki.cabundle()
    doc = forge.document(pki, timestamp_ms=t0,
                         cabundle=[bundle[0], bundle[2], bundle[1],
                                   bundle[3]])
    cached = _cached_verdict(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached


def test_many_documents_in_one_run_match_one_by_one(nitro, pki, other_pki,
                                                    tmp_path, t0):
    """Every verdict of a mixed batch equals the verdict alone."""
    docs = [
        forge.document(pki, timestamp_ms=t0),
        forge.document(pki, timestamp_ms=t0 + 1000),
        forge.document(pki, timestamp_ms=t0, leaf=other_pki.leaf(t0)),
        forge.document(other_pki, timestamp_ms=t0),
        forge.document(pki, timestamp_ms=t0 + 2 * DAY),
        forge.document(pki, timestamp_ms=t0, tamper_signature=True),
        forge.document(pki, timestamp_ms=t0 + 2000),
    ]
    paths = [write(tmp_path / ("d%d.cose" % i), d.cose)
             for i, d in enumerate(docs)]

    batch = _verify(nitro, pki, paths)
    for path, event in zip(paths, batch):
        assert _same_verdict(_verify(nitro, pki, [path])[0], event), path
    assert [e["reason"] for e in batch] == [
        None, None, "chain_invalid", "untrusted_root", "certificate_expired",
        "bad_signature", None]


# ---------------------------------------------------------------------------
# A leaf seen before is taken parsed, and its path verified under
# the same bundle and root is not verified again; under any other bundle it
# is verified in full.

def test_known_leaf_new_document_same_verdict(nitro, pki, tmp_path, t0):
    leaf = pki.leaf(t0)
    doc = forge.document(pki, timestamp_ms=t0 + 5, leaf=leaf,
                         nonce=b"\x01\x02")
    cached = _cached_verdict(nitro, pki, tmp_path, doc, good=forge.document(
        pki, timestamp_ms=doc.timestamp_ms, leaf=leaf))
    assert cached["status"] == "SUCCESS", cached
    assert cached["nonce"] == "0102"


def test_known_leaf_under_another_bundle_is_verified_again(nitro, pki,
                                                           tmp_path, t0):
    # the same instance CA key and name, re-issued without keyCertSign: the
    # leaf's path under this bundle is not valid, whatever the cache holds
    spec = forge.default_specs(t0)["instance"]
    spec.key_usage = {"digital_signature": True}
    bad = pki.reissue("instance", spec)
    leaf = pki.leaf(t0)
    doc = forge.document(pki, timestamp_ms=t0, leaf=leaf,
                         cabundle=bad.cabundle())
    cached = _cached_verdict(nitro, pki, tmp_path, doc, good=forge.document(
        pki, timestamp_ms=doc.timestamp_ms, leaf=leaf))
    assert cached["reason"] == "chain_invalid", cached


def test_known_leaf_expired_is_expired(nitro, pki, tmp_path, t0):
    leaf = pki.leaf(t0, after_ms=HOUR)
    good = write(tmp_path / "good.cose", forge.document(
        pki, timestamp_ms=t0, leaf=leaf).cose)
    late = write(tmp_path / "late.cose", forge.document(
        pki, timestamp_ms=t0 + 2 * HOUR, leaf=leaf).cose)
    first, second = _verify(nitro, pki, [good, late])
    assert first["status"] == "SUCCESS"
    assert second["reason"] == "certificate_expired", second
