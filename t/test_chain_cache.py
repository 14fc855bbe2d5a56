"""The chain cache (issue 5): a CA bundle verified once is not verified
again, but a cached bundle never changes a verdict.

`nitro-attest verify A B ...` shares one chain cache across its FILEs, so
each case verifies a good document first (the bundle enters the cache) and
then the document under test, and compares with verifying it alone.
"""

import os

import forge

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


def _write(tmp_path, name, cose):
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb") as f:
        f.write(cose)
    return path


def _after_warm_up(nitro, pki, tmp_path, doc):
    """(event alone, event after a good document with the same bundle)."""
    good = _write(tmp_path, "good.cose",
                  forge.document(pki, timestamp_ms=doc.timestamp_ms).cose)
    under_test = _write(tmp_path, "doc.cose", doc.cose)

    alone = _verify(nitro, pki, [under_test])[0]
    warm, cached = _verify(nitro, pki, [good, under_test])
    assert warm["status"] == "SUCCESS", warm
    return alone, cached


def test_cached_bundle_accepts_a_new_leaf(nitro, pki, tmp_path, t0):
    alone, cached = _after_warm_up(nitro, pki, tmp_path,
                                   forge.document(pki, timestamp_ms=t0))
    assert cached["status"] == "SUCCESS", cached
    assert _same_verdict(alone, cached)


def test_leaf_signed_by_an_impostor_instance_is_refused(nitro, pki, tmp_path,
                                                       t0):
    # same subject name as the real instance CA, another key
    impostor = forge.Authority("instance", forge.new_key(),
                               pki.instance.cert)
    leaf = pki.leaf(t0, issuer=impostor)
    doc = forge.document(pki, timestamp_ms=t0, leaf=leaf)
    alone, cached = _after_warm_up(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached
    assert _same_verdict(alone, cached)


def test_leaf_from_another_pki_under_a_cached_bundle(nitro, pki, other_pki,
                                                     tmp_path, t0):
    doc = forge.document(pki, timestamp_ms=t0, leaf=other_pki.leaf(t0))
    alone, cached = _after_warm_up(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached
    assert _same_verdict(alone, cached)


def test_leaf_that_is_a_ca_under_a_cached_bundle(nitro, pki, tmp_path, t0):
    doc = forge.document(pki, timestamp_ms=t0, leaf=pki.leaf(t0, ca=True))
    alone, cached = _after_warm_up(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached
    assert _same_verdict(alone, cached)


def test_expired_leaf_under_a_cached_bundle(nitro, pki, tmp_path, t0):
    leaf = pki.leaf(t0, before_ms=3 * HOUR, after_ms=-HOUR)
    doc = forge.document(pki, timestamp_ms=t0, leaf=leaf)
    alone, cached = _after_warm_up(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "certificate_expired", cached
    assert _same_verdict(alone, cached)


def test_bad_cose_signature_under_a_cached_bundle(nitro, pki, tmp_path, t0):
    doc = forge.document(pki, timestamp_ms=t0, tamper_signature=True)
    alone, cached = _after_warm_up(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "bad_signature", cached
    assert _same_verdict(alone, cached)


def test_cached_bundle_is_not_trusted_past_its_validity(nitro, pki, tmp_path,
                                                       t0):
    # the instance CA of `pki` is valid until t0 + 1 day: two days later a
    # fresh leaf under it must fail on the CA, cache or not
    later = t0 + 2 * DAY
    good = _write(tmp_path, "good.cose",
                  forge.document(pki, timestamp_ms=t0).cose)
    late = _write(tmp_path, "late.cose",
                  forge.document(pki, timestamp_ms=later).cose)

    alone = _verify(nitro, pki, [late])[0]
    warm, cached = _verify(nitro, pki, [good, late])
    assert warm["status"] == "SUCCESS", warm
    assert alone["reason"] == "certificate_expired", alone
    assert _same_verdict(alone, cached)


def test_cached_bundle_is_not_trusted_before_its_validity(nitro, pki,
                                                          tmp_path, t0):
    early = t0 - DAY        # the instance CA starts at t0 - 12 h
    good = _write(tmp_path, "good.cose",
                  forge.document(pki, timestamp_ms=t0).cose)
    doc = _write(tmp_path, "early.cose",
                 forge.document(pki, timestamp_ms=early).cose)

    alone = _verify(nitro, pki, [doc])[0]
    warm, cached = _verify(nitro, pki, [good, doc])
    assert warm["status"] == "SUCCESS", warm
    assert alone["reason"] == "certificate_expired", alone
    assert _same_verdict(alone, cached)


def test_reordered_bundle_is_not_a_hit(nitro, pki, tmp_path, t0):
    bundle = pki.cabundle()
    doc = forge.document(pki, timestamp_ms=t0,
                         cabundle=[bundle[0], bundle[2], bundle[1],
                                   bundle[3]])
    alone, cached = _after_warm_up(nitro, pki, tmp_path, doc)
    assert cached["reason"] == "chain_invalid", cached
    assert _same_verdict(alone, cached)


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
    paths = [_write(tmp_path, "d%d.cose" % i, d.cose)
             for i, d in enumerate(docs)]

    batch = _verify(nitro, pki, paths)
    for path, event in zip(paths, batch):
        assert _same_verdict(_verify(nitro, pki, [path])[0], event), path
    assert [e["reason"] for e in batch] == [
        None, None, "chain_invalid", "untrusted_root", "certificate_expired",
        "bad_signature", None]


# ---------------------------------------------------------------------------
# Issue 17: a leaf seen before is taken parsed, and its path verified under
# the same bundle and root is not verified again; under any other bundle it
# is verified in full.

def _same_leaf_after_warm_up(nitro, pki, tmp_path, leaf, doc):
    """(event alone, event after a good document with the same leaf)."""
    good = _write(tmp_path, "good.cose", forge.document(
        pki, timestamp_ms=doc.timestamp_ms, leaf=leaf).cose)
    under_test = _write(tmp_path, "doc.cose", doc.cose)
    alone = _verify(nitro, pki, [under_test])[0]
    warm, cached = _verify(nitro, pki, [good, under_test])
    assert warm["status"] == "SUCCESS", warm
    return alone, cached


def test_known_leaf_new_document_same_verdict(nitro, pki, tmp_path, t0):
    leaf = pki.leaf(t0)
    doc = forge.document(pki, timestamp_ms=t0 + 5, leaf=leaf,
                         nonce=b"\x01\x02")
    alone, cached = _same_leaf_after_warm_up(nitro, pki, tmp_path, leaf, doc)
    assert cached["status"] == "SUCCESS", cached
    assert cached["nonce"] == "0102"
    assert _same_verdict(alone, cached)


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
    alone, cached = _same_leaf_after_warm_up(nitro, pki, tmp_path, leaf, doc)
    assert cached["reason"] == "chain_invalid", cached
    assert _same_verdict(alone, cached)


def test_known_leaf_expired_is_expired(nitro, pki, tmp_path, t0):
    leaf = pki.leaf(t0, after_ms=HOUR)
    good = _write(tmp_path, "good.cose", forge.document(
        pki, timestamp_ms=t0, leaf=leaf).cose)
    late = _write(tmp_path, "late.cose", forge.document(
        pki, timestamp_ms=t0 + 2 * HOUR, leaf=leaf).cose)
    first, second = _verify(nitro, pki, [good, late])
    assert first["status"] == "SUCCESS"
    assert second["reason"] == "certificate_expired", second
