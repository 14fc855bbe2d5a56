/*
 * test_verdict.c: the verdict (na_verdict.c): a copy of its used prefix is
 * the whole verdict, a copy read back is checked, its expiry and its
 * expiring, and the key a server caches it under.
 */

#include "unit.h"


/* A copy of the verdict's used prefix is the whole verdict. */
static void
test_verdict_copy(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int                      i;
    char                    *a, *b;
    size_t                   size;
    nitro_attest_verdict_t  *copy;

    for (i = 0; i < ndocs; i++) {
        nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                     docs[i].timestamp, v);
        size = nitro_attest_verdict_size(v);
        CHECK(size <= sizeof(*v), "size");
        {
            size_t    fields;
            unsigned  k;

            /* header plus exactly the variable fields: nothing else kept */
            fields = v->module_id.len + v->user_data.len + v->nonce.len
                     + v->policy.len;
            for (k = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
                fields += v->pcr[k].len;
            }

            CHECK(size == offsetof(nitro_attest_verdict_t, data) + fields,
                  "%s: verdict of %zu bytes", docs[i].name, size);
        }

        copy = malloc(size);
        memcpy(copy, v, size);
        memset(v, 0xa5, sizeof(*v));

        /* what is read back from a ticket is checked before it is used */
        CHECK(nitro_attest_verdict_check(copy, size) == 0, "%s: check",
              docs[i].name);
        CHECK(nitro_attest_verdict_check(copy, size - 1) != 0, "short");
        copy->module_id.len++;
        CHECK(nitro_attest_verdict_check(copy, size) != 0
              || copy->module_id.off + copy->module_id.len
                 <= size - offsetof(nitro_attest_verdict_t, data),
              "%s: span out of bounds accepted", docs[i].name);
        copy->module_id.len--;
        copy->reason = NITRO_ATTEST_REASON_COUNT;
        CHECK(nitro_attest_verdict_check(copy, size) != 0, "bad reason");
        copy->reason = NITRO_ATTEST_OK;

        a = nitro_attest_event_json(copy);
        nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                     docs[i].timestamp, v);
        b = nitro_attest_event_json(v);

        CHECK(a && b && strcmp(a, b) == 0, "%s: copy renders differently",
              docs[i].name);

        free(a);
        free(b);
        free(copy);
    }
}


/* The deadline of a verdict, with and without reattest */
static void
test_expiry(void)
{
    nitro_attest_verdict_t  v;

    nitro_attest_verdict_none(&v, 1000);
    v.not_after_ms = 50000;

    CHECK(nitro_attest_verdict_expiry(&v, 0) == 50000, "off: notAfter");
    CHECK(nitro_attest_verdict_expiry(&v, 2000) == 3000, "reattest first");
    CHECK(nitro_attest_verdict_expiry(&v, 60000) == 50000, "notAfter first");
    CHECK(nitro_attest_verdict_expiry(&v, -5) == 50000, "negative: off");

    v.time_ms = INT64_MAX - 1;
    CHECK(nitro_attest_verdict_expiry(&v, 10) == 50000, "no overflow");
}


/*
 * A success reads FAILED:expired from its expiry on, its measurements
 * kept; before it, and any other verdict, stays as it was.
 */
static void
test_expire(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    char                    *json;
    int64_t                  at;
    nitro_attest_verdict_t  *was;

    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 1000, v);
    CHECK(v->status == NITRO_ATTEST_STATUS_SUCCESS, "%s", docs[0].name);

    was = malloc(sizeof(*was));
    memcpy(was, v, nitro_attest_verdict_size(v));
    at = nitro_attest_verdict_expiry(v, 2000);

    nitro_attest_verdict_expire(v, 2000, at - 1);
    CHECK(memcmp(v, was, nitro_attest_verdict_size(was)) == 0,
          "before its expiry: unchanged");

    nitro_attest_verdict_expire(v, 2000, at);
    CHECK(v->status == NITRO_ATTEST_STATUS_FAILED
          && v->reason == NITRO_ATTEST_EXPIRED, "at its expiry: expired");
    CHECK(v->size == was->size && v->flags == was->flags
          && v->pcr_mask == was->pcr_mask && v->time_ms == was->time_ms
          && v->timestamp_ms == was->timestamp_ms
          && memcmp(v->pcr, was->pcr, sizeof(v->pcr)) == 0
          && v->module_id.len == was->module_id.len
          && v->policy.len == was->policy.len
          && memcmp(v->data, was->data,
                    v->size - offsetof(nitro_attest_verdict_t, data)) == 0,
          "measurements kept");

    json = nitro_attest_event_json(v);
    CHECK(json && strstr(json, "\"status\":\"FAILED\",\"reason\":\"expired\","
                         "\"severity\":\"WARNING\"")
          && strstr(json, "\"module_id\":\"i-"), "%s", json ? json : "NULL");
    free(json);

    /* once expired it stays so; a failure is never rewritten */
    memcpy(was, v, nitro_attest_verdict_size(v));
    nitro_attest_verdict_expire(v, 0, INT64_MAX);
    CHECK(memcmp(v, was, nitro_attest_verdict_size(was)) == 0,
          "expired stays expired");

    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 3600 * 1000, v);
    CHECK(v->reason == NITRO_ATTEST_STALE, "%s",
          nitro_attest_reason_name(v->reason));
    nitro_attest_verdict_expire(v, 0, INT64_MAX);
    CHECK(v->reason == NITRO_ATTEST_STALE, "a failure keeps its reason");

    CHECK(strcmp(nitro_attest_reason_name(NITRO_ATTEST_EXPIRED), "expired")
          == 0, "reason name");
    CHECK(NITRO_ATTEST_HANDSHAKE_REASONS == NITRO_ATTEST_EXPIRED
          && NITRO_ATTEST_EXPIRED + 1 == NITRO_ATTEST_REASON_COUNT,
          "expired is no handshake's reason");

    free(was);
}


/*
 * The verdict cache's key of a certificate, under a configuration digest;
 * and a certificate with no critical extension has nothing to ignore.
 */
static void
test_verdict_key(void)
{
    X509       *cert;
    uint8_t     digest[32], key1[32], key2[32];
    EVP_PKEY   *pkey;
    X509_NAME  *name;

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cert = X509_new();
    name = X509_NAME_new();
    CHECK(pkey && cert && name, "objects");
    if (pkey == NULL || cert == NULL || name == NULL) {
        return;
    }

    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *) "k", -1, -1, 0);
    X509_set_subject_name(cert, name);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, pkey);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_sign(cert, pkey, EVP_sha256());

    memset(digest, 1, sizeof(digest));
    CHECK(nitro_attest_verdict_key(digest, cert, key1) == 0, "key");
    CHECK(nitro_attest_verdict_key(digest, cert, key2) == 0
          && memcmp(key1, key2, 32) == 0, "the same key again");
    digest[0] = 2;
    CHECK(nitro_attest_verdict_key(digest, cert, key2) == 0
          && memcmp(key1, key2, 32) != 0, "another configuration");

    /* no critical extension at all: nothing to ignore */
    CHECK(nitro_attest_only_critical(NULL, cert, NULL) == 0, "none critical");

    X509_NAME_free(name);
    X509_free(cert);
    EVP_PKEY_free(pkey);
}


void
unit_verdict(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_verdict_copy(cf, v);
    test_expiry();
    test_expire(cf, v);
    test_verdict_key();
}
