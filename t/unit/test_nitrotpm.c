/*
 * test_nitrotpm.c: NitroTPM documents, end to end: real ones verify with
 * their kind, are judged by sets of their kind only, are memoized with it;
 * a payload with both kinds of PCRs, or neither, is malformed.
 */

#include "unit.h"


/* the reason for doc i of tpm_docs (or docs) under policy, and its set */
static nitro_attest_reason_e
judge(nitro_attest_config_t *cf, const doc_t *doc,
    nitro_attest_policy_t *policy, nitro_attest_verdict_t *v,
    const char *name)
{
    nitro_attest_config_t  judged;

    judged = *cf;
    judged.policy = policy;
    judged.allow_debug = 0;

    nitro_attest_verify_document(&judged, doc->data, doc->len, NULL,
                                 doc->timestamp, v);

    if (name != NULL) {
        CHECK(v->policy.len == strlen(name)
              && memcmp(nitro_attest_span_ptr(v, v->policy), name,
                        v->policy.len) == 0, "%s: policy %.*s, not %s",
              doc->name, (int) v->policy.len,
              nitro_attest_span_ptr(v, v->policy), name);
    }

    nitro_attest_policy_free(policy);
    return (nitro_attest_reason_e) v->reason;
}


/* Real NitroTPM documents, their kind, and their judgement. */
static void
test_nitrotpm_documents(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int                      i, round;
    char                    *json, *cold;
    size_t                   size;
    uint64_t                 hits, misses;
    nitro_attest_memo_t     *memo;
    nitro_attest_config_t    memoized;
    nitro_attest_verdict_t  *copy;

    CHECK(ntpm_docs == 2, "%d real NitroTPM documents", ntpm_docs);

    for (i = 0; i < ntpm_docs; i++) {
        const doc_t  *d = &tpm_docs[i];

        nitro_attest_verify_document(cf, d->data, d->len, NULL, d->timestamp,
                                     v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s: %s", d->name,
              nitro_attest_reason_name(v->reason));
        CHECK(v->kind == NITRO_ATTEST_KIND_NITROTPM, "%s: kind", d->name);
        CHECK(v->pcr_mask == 0xffffff, "%s: PCRs %x", d->name, v->pcr_mask);
        CHECK(v->pcr[23].len == 48, "%s: 48-byte PCRs", d->name);

        json = nitro_attest_event_json(v);
        CHECK(json && strstr(json, ",\"resumed\":false,\"kind\":\"nitrotpm\"}")
              && strstr(json, "-tpm0000000000000000"), "%s", json);
        free(json);

        /* a copy checks out; a kind out of range or unmeasured does not */
        size = nitro_attest_verdict_size(v);
        copy = malloc(size);
        memcpy(copy, v, size);
        CHECK(nitro_attest_verdict_check(copy, size) == 0, "%s: check",
              d->name);
        copy->kind = 2;
        CHECK(nitro_attest_verdict_check(copy, size) != 0, "kind 2");
        copy->kind = NITRO_ATTEST_KIND_NITROTPM;
        copy->flags &= ~NITRO_ATTEST_F_MEASURED;
        CHECK(nitro_attest_verdict_check(copy, size) != 0, "unmeasured kind");
        copy->flags |= NITRO_ATTEST_F_MEASURED;
        copy->pcr_mask |= 1u << 24;
        CHECK(nitro_attest_verdict_check(copy, size) != 0, "nitrotpm PCR24");
        copy->pcr_mask &= 0xffffff;
        copy->reserved[1] = 1;
        CHECK(nitro_attest_verdict_check(copy, size) != 0, "reserved");
        copy->reserved[1] = 0;
        CHECK(nitro_attest_verdict_check(copy, size) == 0, "restored");
        free(copy);

        /* sets of its own kind only: the same values elsewhere miss */
        CHECK(judge(cf, d, policy_for(v, "nitrotpm", 4, NULL, 0), v, "a")
              == NITRO_ATTEST_OK, "%s: nitrotpm set", d->name);
        nitro_attest_verify_document(cf, d->data, d->len, NULL, d->timestamp,
                                     v);
        CHECK(judge(cf, d, policy_for(v, "enclave", 4, NULL, 0), v, "")
              == NITRO_ATTEST_PCR_MISMATCH, "%s: enclave set", d->name);
        nitro_attest_verify_document(cf, d->data, d->len, NULL, d->timestamp,
                                     v);
        CHECK(judge(cf, d, policy_for(v, "nitrotpm", 4, "nitrotpm", 7), v,
                    "d") == NITRO_ATTEST_DENIED, "%s: nitrotpm deny",
              d->name);
        nitro_attest_verify_document(cf, d->data, d->len, NULL, d->timestamp,
                                     v);
        CHECK(judge(cf, d, policy_for(v, "nitrotpm", 4, "enclave", 7), v,
                    "a") == NITRO_ATTEST_OK, "%s: enclave deny", d->name);
    }

    /* an enclave document: the kind, and no judgement by nitrotpm sets */
    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp, v);
    json = nitro_attest_event_json(v);
    CHECK(v->kind == NITRO_ATTEST_KIND_ENCLAVE && json
          && strstr(json, ",\"kind\":\"enclave\"}"), "%s", json);
    free(json);
    CHECK(judge(cf, &docs[0], policy_for(v, "nitrotpm", 4, NULL, 0), v, "")
          == NITRO_ATTEST_PCR_MISMATCH
          || v->reason == NITRO_ATTEST_DEBUG_ENCLAVE, "%s: nitrotpm set",
          docs[0].name);

    /* nothing measured: a null kind */
    nitro_attest_verdict_none(v, 1000);
    json = nitro_attest_event_json(v);
    CHECK(json && strstr(json, ",\"kind\":null}"), "%s", json);
    free(json);

    /* the memo keeps the kind and the NitroTPM PCRs */
    memo = nitro_attest_memo_new(1);
    memoized = *cf;
    memoized.memo = memo;

    for (round = 0; round < 2; round++) {
        for (i = 0; i < ntpm_docs; i++) {
            const doc_t  *d = &tpm_docs[i];

            nitro_attest_verify_document(cf, d->data, d->len, NULL,
                                         d->timestamp, v);
            cold = nitro_attest_event_json(v);
            nitro_attest_verify_document(&memoized, d->data, d->len, NULL,
                                         d->timestamp, v);
            nitro_attest_verify_document(&memoized, d->data, d->len, NULL,
                                         d->timestamp, v);
            json = nitro_attest_event_json(v);
            CHECK(cold && json && strcmp(cold, json) == 0
                  && v->kind == NITRO_ATTEST_KIND_NITROTPM,
                  "%s: memoized\n%s\n%s", d->name, cold, json);
            free(cold);
            free(json);

            /* judged again from the memo: still by kind */
            memoized.policy = policy_for(v, "enclave", 4, NULL, 0);
            nitro_attest_verify_document(&memoized, d->data, d->len, NULL,
                                         d->timestamp, v);
            CHECK(v->reason == NITRO_ATTEST_PCR_MISMATCH, "%s: memo, %s",
                  d->name, nitro_attest_reason_name(v->reason));
            nitro_attest_policy_free((nitro_attest_policy_t *)
                                     memoized.policy);
            memoized.policy = NULL;
        }
    }

    nitro_attest_memo_stats(memo, &hits, &misses);
    CHECK(hits == (uint64_t) 4 * ntpm_docs
          && misses == (uint64_t) 2 * ntpm_docs, "memo hits %llu misses %llu",
          (unsigned long long) hits, (unsigned long long) misses);
    nitro_attest_memo_free(memo);
}


/*
 * A real NitroTPM document with its (indefinite) payload changed: the text
 * of insert before the payload's break, or key "nitrotpm_pcrs" renamed.
 * The signature no longer holds; the structure is refused before it.
 */
static nitro_attest_reason_e
tpm_variant(nitro_attest_config_t *cf, const doc_t *d, const uint8_t *insert,
    size_t insert_len, int rename, nitro_attest_verdict_t *v)
{
    size_t    plen, len, n;
    uint8_t  *out, *p;

    /* 84 44 a1013822 a0 59 LL LL payload(bf .. ff) 58 60 sig */
    CHECK(d->data[0] == 0x84 && d->data[6] == 0xa0 && d->data[7] == 0x59
          && d->data[10] == 0xbf, "%s layout", d->name);
    plen = (size_t) d->data[8] << 8 | d->data[9];
    CHECK(d->data[10 + plen - 1] == 0xff, "%s: indefinite payload", d->name);

    len = d->len + insert_len;
    out = malloc(len);
    memcpy(out, d->data, 10 + plen - 1);
    if (insert_len > 0) {
        memcpy(out + 10 + plen - 1, insert, insert_len);
    }

    memcpy(out + 10 + plen - 1 + insert_len, d->data + 10 + plen - 1,
           d->len - (10 + plen - 1));
    out[8] = (uint8_t) ((plen + insert_len) >> 8);
    out[9] = (uint8_t) (plen + insert_len);

    if (rename) {
        for (p = out, n = 0; n + 13 <= len; n++, p++) {
            if (memcmp(p, "nitrotpm_pcrs", 13) == 0) {
                p[12] = 'z';
                break;
            }
        }
    }

    nitro_attest_verify_document(cf, out, len, NULL, d->timestamp, v);
    free(out);

    return (nitro_attest_reason_e) v->reason;
}


static void
test_nitrotpm_structure(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    size_t       n;
    uint8_t      buf[80];
    const doc_t  *d = &tpm_docs[0];

    static const uint8_t  pcrs[] = {
        0x64, 'p', 'c', 'r', 's', 0xa1, 0x00, 0x58, 0x30
    };
    static const uint8_t  tpm_pcrs[] = {
        0x6d, 'n', 'i', 't', 'r', 'o', 't', 'p', 'm', '_', 'p', 'c', 'r',
        's', 0xa1, 0x00, 0x58, 0x30
    };
    static const uint8_t  unknown[] = { 0x62, 'z', 'z', 0xf6 };

    if (ntpm_docs == 0) {
        return;
    }

    /* both kinds of PCRs */
    memcpy(buf, pcrs, sizeof(pcrs));
    memset(buf + sizeof(pcrs), 0x11, 48);
    n = sizeof(pcrs) + 48;
    CHECK(tpm_variant(cf, d, buf, n, 0, v) == NITRO_ATTEST_MALFORMED_DOCUMENT,
          "pcrs too: %s", nitro_attest_reason_name(v->reason));
    CHECK(!(v->flags & NITRO_ATTEST_F_MEASURED) && v->kind == 0, "unmeasured");

    /* nitrotpm_pcrs twice */
    memcpy(buf, tpm_pcrs, sizeof(tpm_pcrs));
    memset(buf + sizeof(tpm_pcrs), 0x11, 48);
    n = sizeof(tpm_pcrs) + 48;
    CHECK(tpm_variant(cf, d, buf, n, 0, v) == NITRO_ATTEST_MALFORMED_DOCUMENT,
          "nitrotpm_pcrs twice: %s", nitro_attest_reason_name(v->reason));

    /* neither: nitrotpm_pcrs renamed to an unknown key */
    CHECK(tpm_variant(cf, d, NULL, 0, 1, v) == NITRO_ATTEST_MALFORMED_DOCUMENT,
          "neither: %s", nitro_attest_reason_name(v->reason));

    /* renamed, and pcrs added in its place: an enclave's shape, refused
     * only by the signature */
    memcpy(buf, pcrs, sizeof(pcrs));
    memset(buf + sizeof(pcrs), 0x11, 48);
    CHECK(tpm_variant(cf, d, buf, sizeof(pcrs) + 48, 1, v)
          == NITRO_ATTEST_BAD_SIGNATURE, "renamed + pcrs: %s",
          nitro_attest_reason_name(v->reason));

    /* an unknown key: structure holds, the signature does not */
    CHECK(tpm_variant(cf, d, unknown, sizeof(unknown), 0, v)
          == NITRO_ATTEST_BAD_SIGNATURE, "unknown key: %s",
          nitro_attest_reason_name(v->reason));
}


void
unit_nitrotpm(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_nitrotpm_documents(cf, v);
    test_nitrotpm_structure(cf, v);
}
