/*
 * test_core.c: unit tests of the verification core, for what the CLI tests
 * cannot reach: the no-certificate and internal-error paths, every
 * truncation and many corruptions of real documents, the verdict's copy
 * semantics, the duration and text decoders, the token's time rules and
 * shape.  Usage: test_core FIXTURES
 */

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cbor.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "na_internal.h"


static int  failures;
static int  checks;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)


typedef struct {
    char       name[256];
    uint8_t   *data;
    size_t     len;
    int64_t    timestamp;
} doc_t;


#define ZERO96                                                               \
    "000000000000000000000000000000000000000000000000"                      \
    "000000000000000000000000000000000000000000000000"


static doc_t        docs[64];
static int          ndocs;
static doc_t        tpm_docs[8];     /* real-tpm: NitroTPM documents */
static int          ntpm_docs;
static const char  *fixtures;


/* the .cose files of dir into out (at most max), sorted by name */
static int
load_dir(const char *dir, doc_t *out, int max)
{
    int             n;
    DIR            *d;
    FILE           *f;
    char            path[8192];
    struct dirent  *e;

    d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        exit(2);
    }

    n = 0;

    while ((e = readdir(d)) != NULL && n < max) {
        size_t  l = strlen(e->d_name);

        if (l < 5 || strcmp(e->d_name + l - 5, ".cose") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
        f = fopen(path, "rb");
        out[n].data = malloc(65536);
        out[n].len = fread(out[n].data, 1, 65536, f);
        fclose(f);

        if (nitro_attest_document_peek(out[n].data, out[n].len,
                                       &out[n].timestamp, NULL, 0) != 0)
        {
            fprintf(stderr, "%s: malformed fixture\n", path);
            exit(2);
        }

        n++;
    }

    closedir(d);
    return n;
}


static void
load_docs(const char *dir)
{
    ndocs = load_dir(dir, docs, 64);

    if (ndocs != 19) {
        fprintf(stderr, "expected 19 real documents in %s, found %d\n", dir,
                ndocs);
        exit(2);
    }
}


/* CONTRACT 2: every real AWS document verifies at its own time. */
static void
test_real_documents(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int  i;

    for (i = 0; i < ndocs; i++) {
        nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                     docs[i].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s: %s", docs[i].name,
              nitro_attest_reason_name(v->reason));
        CHECK(v->status == NITRO_ATTEST_STATUS_SUCCESS, "%s", docs[i].name);
        CHECK(v->binding == NITRO_ATTEST_BINDING_NONE, "%s", docs[i].name);
        CHECK(v->not_after_ms > docs[i].timestamp
              && v->not_after_ms - docs[i].timestamp <= 3 * 3600 * 1000,
              "%s: leaf notAfter should be the earliest, ~3 h away",
              docs[i].name);
    }
}


/* CONTRACT 2.1: a document cut anywhere is malformed, never accepted. */
static void
test_truncation(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int     i;
    size_t  n;

    for (i = 0; i < ndocs; i++) {
        for (n = 0; n < docs[i].len; n++) {
            nitro_attest_verify_document(cf, docs[i].data, n, NULL,
                                         docs[i].timestamp, v);
            if (v->reason != NITRO_ATTEST_MALFORMED_DOCUMENT) {
                CHECK(0, "%s cut at %zu: %s", docs[i].name, n,
                      nitro_attest_reason_name(v->reason));
                break;
            }

            CHECK(!(v->flags & NITRO_ATTEST_F_MEASURED), "%s", docs[i].name);
        }
    }
}


/* Any changed byte is refused, and measurements stay empty. */
static void
test_corruption(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int       i;
    size_t    n;
    uint8_t  *copy;

    for (i = 0; i < ndocs; i += 6) {
        copy = malloc(docs[i].len);

        for (n = 0; n < docs[i].len; n += 13) {
            memcpy(copy, docs[i].data, docs[i].len);
            copy[n] ^= 0x01;

            nitro_attest_verify_document(cf, copy, docs[i].len, NULL,
                                         docs[i].timestamp, v);
            CHECK(v->reason != NITRO_ATTEST_OK,
                  "%s: flipped byte %zu accepted", docs[i].name, n);
            CHECK(!(v->flags & NITRO_ATTEST_F_MEASURED)
                  || v->reason == NITRO_ATTEST_DEBUG_ENCLAVE,
                  "%s: byte %zu: measured after %s", docs[i].name, n,
                  nitro_attest_reason_name(v->reason));
        }

        /* trailing bytes after the COSE array */
        copy = realloc(copy, docs[i].len + 1);
        memcpy(copy, docs[i].data, docs[i].len);
        copy[docs[i].len] = 0x00;
        nitro_attest_verify_document(cf, copy, docs[i].len + 1, NULL,
                                     docs[i].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_MALFORMED_DOCUMENT, "%s: trailing",
              docs[i].name);

        free(copy);
    }
}


/*
 * The library computes its signatures: it is not a fuzz build
 * (NITRO_ATTEST_FUZZING, which marks its objects with this symbol and
 * takes any signature whose last byte is not zero).
 */
extern const char  nitro_attest_fuzzing_build[] __attribute__((weak));

static void
test_real_crypto(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    uint8_t  *copy, *last;

    CHECK(nitro_attest_fuzzing_build == NULL,
          "linked with a fuzz build of the core: %s",
          nitro_attest_fuzzing_build);

    copy = malloc(docs[0].len);
    memcpy(copy, docs[0].data, docs[0].len);
    last = &copy[docs[0].len - 1];       /* the signature's last byte */
    *last = (*last == 0x5a) ? 0xa5 : 0x5a;

    nitro_attest_verify_document(cf, copy, docs[0].len, NULL,
                                 docs[0].timestamp, v);
    CHECK(v->reason == NITRO_ATTEST_BAD_SIGNATURE,
          "%s: another signature: %s", docs[0].name,
          nitro_attest_reason_name(v->reason));
    free(copy);
}


/* CONTRACT 2: the paths that have no CLI input. */
static void
test_no_certificate_and_internal_error(nitro_attest_config_t *cf,
    nitro_attest_verdict_t *v)
{
    char                   *json;
    nitro_attest_config_t   broken;
    static const uint8_t    junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

    CHECK(nitro_attest_verify_cert(cf, NULL, 1, v)
          == NITRO_ATTEST_NO_CERTIFICATE, "NULL certificate");
    CHECK(v->status == NITRO_ATTEST_STATUS_FAILED, "no_certificate fails");
    CHECK(strcmp(nitro_attest_severity(v), "WARNING") == 0, "severity");

    CHECK(nitro_attest_verify_cert_der(cf, junk, sizeof(junk), 1, v)
          == NITRO_ATTEST_NO_CERTIFICATE, "junk DER");

    /* a verifier without a root is a programming error, not a verdict */
    broken = *cf;
    broken.root = NULL;
    CHECK(nitro_attest_verify_document(&broken, docs[0].data, docs[0].len,
                                       NULL, docs[0].timestamp, v)
          == NITRO_ATTEST_INTERNAL_ERROR, "no root: %s",
          nitro_attest_reason_name(v->reason));

    json = nitro_attest_event_json(v);
    CHECK(json && strstr(json, "\"reason\":\"internal_error\""), "%s", json);
    CHECK(json && strstr(json, "\"severity\":\"WARNING\""), "%s", json);
    free(json);

    nitro_attest_verdict_none(v, 1000);
    json = nitro_attest_event_json(v);
    CHECK(json && strstr(json, "\"status\":\"NONE\",\"reason\":null"),
          "%s", json);
    CHECK(json && strstr(json, "\"time\":\"1970-01-01T00:00:01.000Z\""),
          "%s", json);
    free(json);
}


/* STYLE: a copy of the verdict's used prefix is the whole verdict. */
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


/* CONTRACT 7: keys in the contract's order, all present. */
static void
test_event_shape(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int          k;
    char        *json;
    const char  *p, *q;

    static const char  *keys[] = {
        "event_type", "time", "status", "reason", "severity", "module_id",
        "timestamp_ms", "age_s", "digest", "pcrs", "policy",
        "policy_allowed", "binding", "user_data", "nonce", "cert_sha256",
        "doc_sha384", "cache", "verify_us", "resumed", "kind", NULL
    };

    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 5500, v);
    json = nitro_attest_event_json(v);
    CHECK(json != NULL, "json");

    p = json;
    for (k = 0; json && keys[k]; k++) {
        char  quoted[64];

        snprintf(quoted, sizeof(quoted), "\"%s\":", keys[k]);
        q = strstr(p, quoted);
        CHECK(q != NULL, "key %s missing or out of order in %s", keys[k],
              json);
        if (q) {
            p = q;
        }
    }

    CHECK(json && strstr(json, "\"age_s\":5,"), "age truncates: %s",
          json ? json : "");
    CHECK(json && strchr(json, '\n') == NULL, "one line");
    free(json);
}


/* issue 5: a bundle seen before is a hit, and changes no verdict. */
static void
test_chain_cache(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int                          i, round;
    char                        *cold, *warm;
    char                         err[256], path[4096];
    uint64_t                     hits, misses;
    nitro_attest_root_t         *other;
    nitro_attest_config_t        cached, wrong_root;
    nitro_attest_chain_cache_t  *cache;

    cache = nitro_attest_chain_cache_new(4);
    CHECK(cache != NULL, "cache");
    CHECK(nitro_attest_chain_cache_new(0) == NULL, "zero capacity");

    cached = *cf;
    cached.chain_cache = cache;

    /* 19 bundles through 4 slots, twice: LRU eviction, then re-insertion */
    for (round = 0; round < 2; round++) {
        for (i = 0; i < ndocs; i++) {
            nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                         docs[i].timestamp, v);
            cold = nitro_attest_event_json(v);

            nitro_attest_verify_document(&cached, docs[i].data, docs[i].len,
                                         NULL, docs[i].timestamp, v);
            nitro_attest_verify_document(&cached, docs[i].data, docs[i].len,
                                         NULL, docs[i].timestamp, v);
            warm = nitro_attest_event_json(v);

            CHECK(cold && warm && strcmp(cold, warm) == 0,
                  "%s: cached verdict differs", docs[i].name);
            free(cold);
            free(warm);
        }
    }

    /* each bundle: a miss then a hit, in both rounds */
    nitro_attest_chain_cache_stats(cache, &hits, &misses);
    CHECK(hits == (uint64_t) 2 * ndocs && misses == (uint64_t) 2 * ndocs,
          "hits %llu misses %llu", (unsigned long long) hits,
          (unsigned long long) misses);

    /* a hit is only for the root the bundle was verified against */
    snprintf(path, sizeof(path), "%s/aws_nitro_root_g1.pem", fixtures);
    other = nitro_attest_root_load(path, err, sizeof(err));
    CHECK(other != NULL, "%s", err);
    if (other != NULL) {
        other->fingerprint[0] ^= 1;  /* same bytes, "another" root */
        wrong_root = cached;
        wrong_root.root = other;
        nitro_attest_verify_document(&wrong_root, docs[0].data, docs[0].len,
                                     NULL, docs[0].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "full path under the other root");
        nitro_attest_chain_cache_stats(cache, &hits, &misses);
        CHECK(misses == (uint64_t) 2 * ndocs + 1, "root mismatch is a miss");
        nitro_attest_root_free(other);
    }

    /* past every CA's validity the cache is not used: the full path says */
    nitro_attest_verify_document(&cached, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 400LL * 86400 * 1000, v);
    CHECK(v->reason == NITRO_ATTEST_CERTIFICATE_EXPIRED, "%s",
          nitro_attest_reason_name(v->reason));

    nitro_attest_chain_cache_free(cache);
}


/*
 * Issue 10: the memo keys on the signed bytes.  A document seen before is
 * a hit whatever its unprotected header, with the verdict a full
 * verification gives; failures are remembered too; time is judged anew.
 */
static void
test_memo(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int                     i, round;
    char                   *cold, *warm;
    size_t                  len;
    uint8_t                *copy;
    uint64_t                hits, misses, h0, m0;
    nitro_attest_memo_t    *memo;
    nitro_attest_config_t   memoized;

    memo = nitro_attest_memo_new(4);
    CHECK(memo != NULL, "memo");
    CHECK(nitro_attest_memo_new(0) == NULL, "zero capacity");

    memoized = *cf;
    memoized.memo = memo;

    /* every real document through 4 slots, twice: misses, hits, eviction */
    for (round = 0; round < 2; round++) {
        for (i = 0; i < ndocs; i++) {
            nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                         docs[i].timestamp, v);
            cold = nitro_attest_event_json(v);

            nitro_attest_verify_document(&memoized, docs[i].data,
                                         docs[i].len, NULL,
                                         docs[i].timestamp, v);
            nitro_attest_verify_document(&memoized, docs[i].data,
                                         docs[i].len, NULL,
                                         docs[i].timestamp, v);
            warm = nitro_attest_event_json(v);

            CHECK(cold && warm && strcmp(cold, warm) == 0,
                  "%s: memoized verdict differs\n%s\n%s", docs[i].name,
                  cold, warm);
            free(cold);
            free(warm);
        }
    }

    nitro_attest_memo_stats(memo, &hits, &misses);
    CHECK(hits == (uint64_t) 2 * ndocs && misses == (uint64_t) 2 * ndocs,
          "hits %llu misses %llu", (unsigned long long) hits,
          (unsigned long long) misses);

    /* the unprotected header {} becomes {4: h''}: same signed bytes */
    len = docs[0].len + 3;
    copy = malloc(len);
    CHECK(copy && docs[0].data[0] == 0x84 && docs[0].data[1] == 0x44
          && docs[0].data[6] == 0xa0, "layout of %s", docs[0].name);

    if (copy && docs[0].data[6] == 0xa0) {
        memcpy(copy, docs[0].data, 6);
        memcpy(copy + 6, "\xa1\x04\x40", 3);
        memcpy(copy + 9, docs[0].data + 7, docs[0].len - 7);
        len--;

        nitro_attest_memo_stats(memo, &h0, &m0);
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                                     docs[0].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s",
              nitro_attest_reason_name(v->reason));
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                                     docs[0].timestamp, v);
        nitro_attest_memo_stats(memo, &hits, &misses);
        CHECK(hits == h0 + 1 && misses == m0 + 1,
              "unprotected header: one entry (hits %llu misses %llu)",
              (unsigned long long) (hits - h0),
              (unsigned long long) (misses - m0));

        /* out of its window, from the memo: expired; inside it: good */
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                     docs[0].timestamp + 400LL * 86400 * 1000, v);
        CHECK(v->reason == NITRO_ATTEST_CERTIFICATE_EXPIRED, "%s",
              nitro_attest_reason_name(v->reason));
        CHECK(!(v->flags & NITRO_ATTEST_F_MEASURED), "expired: unmeasured");
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                                     docs[0].timestamp - 1, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s",
              nitro_attest_reason_name(v->reason));

        /* a forged signature is remembered as one */
        copy[len - 1] ^= 1;
        for (round = 0; round < 2; round++) {
            nitro_attest_verify_document(&memoized, copy, len, NULL,
                                         docs[0].timestamp, v);
            CHECK(v->reason == NITRO_ATTEST_BAD_SIGNATURE, "%s",
                  nitro_attest_reason_name(v->reason));
        }

        nitro_attest_memo_stats(memo, &h0, &m0);
        CHECK(h0 == hits + 3 && m0 == misses + 1, "forgery: one entry");
    }

    free(copy);
    nitro_attest_memo_free(memo);
}


/* issue 14: the deadline of a verdict, with and without reattest */
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


/* a fresh key of the given kind written as PEM to a temporary file */
static char *
token_key_file(const char *type, const char *curve, char *path, size_t size)
{
    FILE      *f;
    EVP_PKEY  *pkey;

    pkey = curve ? EVP_PKEY_Q_keygen(NULL, NULL, type, curve)
                 : EVP_PKEY_Q_keygen(NULL, NULL, type, (size_t) 2048);
    snprintf(path, size, "/tmp/test_core_token_%s_%d.pem",
             curve ? curve : type, (int) getpid());
    f = fopen(path, "w");

    if (pkey == NULL || f == NULL
        || PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1)
    {
        CHECK(0, "cannot write %s", path);
    }

    if (f != NULL) {
        fclose(f);
    }

    EVP_PKEY_free(pkey);

    return path;
}


/* issue 13: the claims' times, the JWS shape, the keys nginx refuses */
static void
test_token(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    char                         err[256], path[256], *jws, *json, *p;
    json_t                      *o;
    size_t                       i;
    const char                  *names[] = { "iss", "sub", "iat", "exp",
                                             "jti", "cnf", "eat_profile",
                                             "submods", "nitro" };
    json_error_t                 jerr;
    const char                  *key_name;
    nitro_attest_token_key_t    *keys[3];
    nitro_attest_token_claims_t  claims;

    CHECK(nitro_attest_token_claims_init(&claims, "i", 10999, 5000, 60000)
          == 0 && claims.iat == 10 && claims.exp == 15, "iat + lifetime");
    CHECK(nitro_attest_token_claims_init(&claims, "i", 10999, 5000, 12999)
          == 0 && claims.exp == 12, "the verdict's expiry first");
    CHECK(nitro_attest_token_claims_init(&claims, "i", -1, 1000, INT64_MAX)
          == 0 && claims.iat == -1 && claims.exp == 0, "floor before 1970");

    keys[0] = nitro_attest_token_key_load(
        token_key_file("EC", "P-256", path, sizeof(path)), err, sizeof(err));
    CHECK(keys[0] != NULL, "P-256: %s", err);
    remove(path);
    keys[1] = nitro_attest_token_key_load(
        token_key_file("ED25519", NULL, path, sizeof(path)), err,
        sizeof(err));
    remove(path);
    keys[2] = keys[0];

    CHECK(nitro_attest_token_key_load(
              token_key_file("RSA", NULL, path, sizeof(path)), err,
              sizeof(err)) == NULL
          && strstr(err, path) && strstr(err, "RSA"), "RSA refused: %s", err);
    remove(path);
    CHECK(nitro_attest_token_key_load("/nonexistent.pem", err, sizeof(err))
          == NULL && strstr(err, "/nonexistent.pem"), "names the file");

    if (keys[0] == NULL || keys[1] == NULL) {
        nitro_attest_token_key_free(keys[0]);
        nitro_attest_token_key_free(keys[1]);
        return;
    }

    CHECK(strcmp(nitro_attest_token_key_alg(keys[0]), "ES256") == 0
          && strcmp(nitro_attest_token_key_alg(keys[1]), "EdDSA") == 0
          && strlen(nitro_attest_token_key_kid(keys[0])) == 43, "alg, kid");

    json = nitro_attest_token_jwks((const nitro_attest_token_key_t *const *)
                                   keys, 3);
    o = json ? json_loads(json, 0, &jerr) : NULL;
    CHECK(o && json_array_size(json_object_get(o, "keys")) == 2,
          "each key once: %s", json ? json : "NULL");
    json_decref(o);
    free(json);

    /* a real document that verified, as if from a client certificate */
    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 1000, v);
    CHECK(v->status == NITRO_ATTEST_STATUS_SUCCESS, "%s", docs[0].name);
    nitro_attest_token_claims_init(&claims, "nitro-attest", v->time_ms,
                                   NITRO_ATTEST_TOKEN_LIFETIME_MS,
                                   nitro_attest_verdict_expiry(v, 0));

    CHECK(nitro_attest_token_sign(keys[0], v, &claims) == NULL,
          "no certificate: nothing to bind a token to");

    v->flags |= NITRO_ATTEST_F_CERT;

    for (i = 0; i < 2; i++) {
        key_name = nitro_attest_token_key_alg(keys[i]);
        jws = nitro_attest_token_sign(keys[i], v, &claims);
        CHECK(jws != NULL, "%s: signed", key_name);

        if (jws == NULL) {
            continue;
        }

        p = strchr(jws, '.');
        CHECK(p && strchr(p + 1, '.') && !strchr(strchr(p + 1, '.') + 1, '.')
              && strcspn(jws, "+/=") == strlen(jws), "%s: JWS compact, "
              "base64url: %s", key_name, jws);
        free(jws);
    }

    json = nitro_attest_token_claims_json(v, &claims);
    o = json ? json_loads(json, JSON_PRESERVE_ORDER, &jerr) : NULL;
    CHECK(o && json_object_size(o) == sizeof(names) / sizeof(names[0]),
          "claims: %s", json ? json : "NULL");

    for (i = 0; o && i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK(json_object_get(o, names[i]) != NULL, "claim %s", names[i]);
    }

    CHECK(o && json_integer_value(json_object_get(o, "exp"))
               == claims.exp, "exp");
    json_decref(o);
    free(json);

    v->status = NITRO_ATTEST_STATUS_FAILED;
    v->reason = NITRO_ATTEST_STALE;
    CHECK(nitro_attest_token_sign(keys[0], v, &claims) == NULL,
          "a failed verdict gets no token");

    nitro_attest_token_key_free(keys[0]);
    nitro_attest_token_key_free(keys[1]);
}


/* issue 17: a certificate of `key`, issued by `issuer_key`, as DER */
static int
libctx_cert_der(EVP_PKEY *key, EVP_PKEY *issuer_key, unsigned char **der)
{
    int         len;
    X509       *x;
    X509_NAME  *name;

    x = X509_new();
    name = X509_NAME_new();
    len = -1;

    if (x != NULL && name != NULL
        && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                      (const unsigned char *) "libctx", -1,
                                      -1, 0) == 1
        && X509_set_subject_name(x, name) == 1
        && X509_set_issuer_name(x, name) == 1
        && X509_set_pubkey(x, key) == 1
        && X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL
        && X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL
        && X509_sign(x, issuer_key,
                     EVP_PKEY_is_a(issuer_key, "ED25519") ? NULL
                                                          : EVP_sha256()) > 0)
    {
        *der = NULL;
        len = i2d_X509(x, der);
    }

    X509_NAME_free(name);
    X509_free(x);
    return len;
}


static const char *
libctx_provider_of(X509 *x)
{
    EVP_PKEY  *pkey;

    pkey = x ? X509_get0_pubkey(x) : NULL;

    return pkey && EVP_PKEY_get0_provider(pkey)
           ? OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey)) : "none";
}


/* a certificate of key issued by issuer, parsed by the core, whose key
   must live in the provider named */
static X509 *
libctx_parsed(EVP_PKEY *key, EVP_PKEY *issuer, const char *provider,
    const char *what)
{
    int             n;
    X509           *x;
    unsigned char  *der;

    n = libctx_cert_der(key, issuer, &der);
    x = n > 0 ? nitro_attest_cert_parse(der, (size_t) n) : NULL;
    CHECK(strcmp(libctx_provider_of(x), provider) == 0, "%s: %s, not %s",
          what, libctx_provider_of(x), provider);

    if (n > 0) {
        OPENSSL_free(der);
    }

    return x;
}


/* a key parsed in the view is written out and printed like any other */
static void
test_libctx_key_out(X509 *x)
{
    int             n, m;
    BIO            *bio;
    EVP_PKEY       *pkey;
    unsigned char  *a, *b;

    pkey = x ? X509_get0_pubkey(x) : NULL;
    a = NULL;
    b = NULL;
    n = pkey ? i2d_PUBKEY(pkey, &a) : -1;
    m = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &b) : -1;
    CHECK(n > 0 && n == m && memcmp(a, b, (size_t) n) == 0,
          "i2d_PUBKEY of a key of the view: %d, %d", n, m);
    OPENSSL_free(a);
    OPENSSL_free(b);

    bio = BIO_new(BIO_s_mem());
    CHECK(bio && pkey && EVP_PKEY_print_public(bio, pkey, 0, NULL) == 1
          && PEM_write_bio_PUBKEY(bio, pkey) == 1, "printed, PEM");
    BIO_free(bio);
}


/* an EC key on curve, its point or parameters encoded as form says */
static EVP_PKEY *
libctx_ec_key(const char *curve, const char *param, const char *form)
{
    EVP_PKEY  *key;

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

    if (key != NULL && param != NULL
        && EVP_PKEY_set_utf8_string_param(key, param, form) != 1)
    {
        EVP_PKEY_free(key);
        key = NULL;
    }

    return key;
}


/*
 * Where certificates are parsed.  Below OpenSSL 3.2 (and unless the
 * configuration or NITRO_ATTEST_OPENSSL_VIEW=off says otherwise) in the
 * view, whatever the key kind among those decoded, and a chain of kinds
 * verifies there; a key of another kind is not decoded at all, in any
 * configuration.  t/test_openssl_context.py runs the CLI both ways.
 */
static void
test_libctx(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int             i, n, expect_view;
    size_t          k;
    const char     *which, *why, *env, *view;
    EVP_PKEY       *ec, *ec2, *rsa, *ed, *odd;
    X509           *x, *y;
    unsigned char  *der, *out;
    na_document_t   doc;

    static const struct {
        const char  *what, *curve, *param, *form;
    } odd_keys[] = {
        { "P-224", "P-224", NULL, NULL },
        { "compressed P-384", "P-384",
          OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed" },
        { "explicit P-384 parameters", "P-384",
          OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT },
        { "secp256k1", "secp256k1", NULL, NULL }
    };

    env = getenv("NITRO_ATTEST_OPENSSL_VIEW");
    expect_view = OpenSSL_version_num() < 0x30200000L
                  && !(env && strcmp(env, "off") == 0)
                  && OSSL_PROVIDER_available(NULL, "default")
                  && !EVP_default_properties_is_fips_enabled(NULL);

    which = nitro_attest_openssl_context(&why);
    CHECK(strcmp(which, expect_view ? "view" : "default") == 0,
          "context %s (%s), expected %s on %s", which, why ? why : "-",
          expect_view ? "view" : "default", OpenSSL_version(OPENSSL_VERSION));
    CHECK((na_libctx() != NULL) == expect_view, "na_libctx");
    CHECK(expect_view || why != NULL, "the default context says why");

    view = expect_view ? "nitro-attest-view" : "default";

    /* the real documents' certificates: in the view, and they verify */
    for (i = 0; i < ndocs; i++) {
        memset(&doc, 0, sizeof(doc));
        CHECK(na_document_parse(&doc, cf->root, NULL, docs[i].data,
                                docs[i].len) == NITRO_ATTEST_OK,
              "%s parses", docs[i].name);
        CHECK(strcmp(libctx_provider_of(doc.leaf), view) == 0,
              "%s: leaf key in %s", docs[i].name,
              libctx_provider_of(doc.leaf));
        n = doc.cabundle ? sk_X509_num(doc.cabundle) : 0;
        CHECK(n > 1 && strcmp(libctx_provider_of(
                               sk_X509_value(doc.cabundle, n - 1)), view) == 0,
              "%s: bundle in the view", docs[i].name);
        na_document_free(&doc);

        nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                     docs[i].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s verifies", docs[i].name);
    }

    CHECK(strcmp(libctx_provider_of(cf->root->cert), view) == 0,
          "the root lives with what it signs");

    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    CHECK(ec && ec2 && rsa && ed, "keys");
    if (!(ec && ec2 && rsa && ed)) {
        goto done;
    }

    /* EC signed with ECDSA */
    n = libctx_cert_der(ec2, ec, &der);
    x = n > 0 ? nitro_attest_cert_parse(der, (size_t) n) : NULL;
    CHECK(strcmp(libctx_provider_of(x), view) == 0, "EC by ECDSA: %s",
          libctx_provider_of(x));
    CHECK(x && X509_verify(x, ec) == 1, "verifies with a default key");
    test_libctx_key_out(x);
    CHECK(nitro_attest_cert_parse(der, (size_t) n - 1) == NULL,
          "truncated: refused");
    X509_free(x);
    OPENSSL_free(der);

    /* an RSA key, an EC key under an RSA or Ed25519 signature: the same
       context, decoded once */
    x = libctx_parsed(rsa, ec, view, "RSA key");
    test_libctx_key_out(x);
    X509_free(x);

    y = libctx_parsed(ec, rsa, view, "EC key, RSA signature");
    CHECK(y && X509_verify(y, rsa) == 1, "and it verifies there");

    x = libctx_parsed(ec, ed, view, "EC key, Ed25519 signature");
    CHECK(x && X509_verify(x, ed) == 1, "verifies");
    X509_free(x);

    /* a chain of kinds: an EC certificate signed by the key of one that
       an RSA key signed */
    x = libctx_parsed(ec2, ec, view, "EC by ECDSA");
    CHECK(x && y && X509_verify(x, X509_get0_pubkey(y)) == 1,
          "verifies with the key of a parsed certificate");
    CHECK(x && X509_verify(x, ec2) != 1, "and not by another key");
    X509_free(x);
    X509_free(y);

    /*
     * Keys of other kinds, which can cost OpenSSL much more to decode than
     * to parse: the certificate is parsed, exactly, without its key, and
     * still has a fingerprint (a client certificate of such a key
     * verifies its document as any other).
     */
    for (k = 0; k < sizeof(odd_keys) / sizeof(odd_keys[0]); k++) {
        odd = libctx_ec_key(odd_keys[k].curve, odd_keys[k].param,
                            odd_keys[k].form);
        n = odd ? libctx_cert_der(odd, ec, &der) : -1;
        CHECK(n > 0, "%s: a certificate", odd_keys[k].what);
        if (n <= 0) {
            EVP_PKEY_free(odd);
            continue;
        }

        x = nitro_attest_cert_parse(der, (size_t) n);
        out = NULL;
        CHECK(x && X509_get0_pubkey(x) == NULL, "%s: parsed without its key",
              odd_keys[k].what);
        CHECK(x && i2d_X509(x, &out) == n && memcmp(out, der, n) == 0,
              "%s: as carried", odd_keys[k].what);
        CHECK(nitro_attest_verify_cert_der(cf, der, (size_t) n, 1, v)
              == NITRO_ATTEST_NO_EXTENSION && (v->flags & NITRO_ATTEST_F_CERT),
              "%s: verified as a client certificate: %s", odd_keys[k].what,
              nitro_attest_reason_name(v->reason));
        CHECK(nitro_attest_cert_parse(der, (size_t) n - 1) == NULL,
              "%s: truncated, refused", odd_keys[k].what);

        OPENSSL_free(out);
        X509_free(x);
        OPENSSL_free(der);
        EVP_PKEY_free(odd);
    }

done:

    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
    ERR_clear_error();
}


/*
 * d's document with its cabundle made n entries long, its own followed by
 * copies of its last (so the signature no longer holds), or NULL.
 */
static uint8_t *
bundle_variant(const doc_t *d, size_t n, size_t *len)
{
    size_t                    i, k, size;
    uint8_t                  *out, *payload;
    cbor_item_t              *cose, *map, *bundle, *item;
    struct cbor_pair         *pairs;
    struct cbor_load_result   res;

    out = NULL;
    cose = cbor_load(d->data, d->len, &res);
    item = cose ? cbor_array_get(cose, 2) : NULL;
    map = item ? cbor_load(cbor_bytestring_handle(item),
                           cbor_bytestring_length(item), &res)
               : NULL;

    if (item != NULL) {
        cbor_decref(&item);
    }

    if (map == NULL) {
        goto done;
    }

    pairs = cbor_map_handle(map);

    for (k = 0; k < cbor_map_size(map); k++) {
        if (cbor_string_length(pairs[k].key) != 8
            || memcmp(cbor_string_handle(pairs[k].key), "cabundle", 8) != 0)
        {
            continue;
        }

        bundle = cbor_new_definite_array(n);

        for (i = 0; bundle != NULL && i < n; i++) {
            size = cbor_array_size(pairs[k].value);
            item = cbor_array_get(pairs[k].value, i < size ? i : size - 1);
            cbor_array_push(bundle, item);
            cbor_decref(&item);
        }

        cbor_decref(&pairs[k].value);
        pairs[k].value = bundle;
    }

    size = cbor_serialize_alloc(map, &payload, &k);
    item = size ? cbor_build_bytestring(payload, size) : NULL;
    free(payload);

    if (item != NULL && cbor_array_replace(cose, 2, item)) {
        *len = cbor_serialize_alloc(cose, &out, &k);
    }

    if (item != NULL) {
        cbor_decref(&item);
    }

    cbor_decref(&map);

done:

    if (cose != NULL) {
        cbor_decref(&cose);
    }

    return out;
}


/*
 * A cabundle of up to 16 entries is judged as usual; one of 17 is
 * malformed before any certificate of the document is parsed.
 */
static void
test_cabundle_cap(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    size_t          n, len;
    uint8_t        *bytes;
    na_document_t   doc;

    for (n = 15; n <= 17; n++) {
        len = 0;
        bytes = bundle_variant(&docs[0], n, &len);
        CHECK(bytes != NULL, "%zu entries: built", n);
        if (bytes == NULL) {
            continue;
        }

        memset(&doc, 0, sizeof(doc));

        if (n <= NITRO_ATTEST_CABUNDLE_MAX) {
            CHECK(na_document_parse(&doc, cf->root, NULL, bytes, len)
                  == NITRO_ATTEST_OK && doc.cabundle
                  && sk_X509_num(doc.cabundle) == (int) n,
                  "%zu entries: parsed", n);
            nitro_attest_verify_document(cf, bytes, len, NULL,
                                         docs[0].timestamp, v);
            CHECK(v->reason == NITRO_ATTEST_BAD_SIGNATURE,
                  "%zu entries: judged: %s", n,
                  nitro_attest_reason_name(v->reason));

        } else {
            CHECK(na_document_parse(&doc, cf->root, NULL, bytes, len)
                  == NITRO_ATTEST_MALFORMED_DOCUMENT,
                  "%zu entries: malformed", n);
            CHECK(doc.leaf == NULL && doc.cabundle == NULL,
                  "%zu entries: no certificate parsed", n);
            nitro_attest_verify_document(cf, bytes, len, NULL,
                                         docs[0].timestamp, v);
            CHECK(v->reason == NITRO_ATTEST_MALFORMED_DOCUMENT,
                  "%zu entries: %s", n, nitro_attest_reason_name(v->reason));
        }

        na_document_free(&doc);
        free(bytes);
    }
}


/* issue 12: helpers moved from the nginx glue into the core */
static void
test_glue_helpers(void)
{
    char        out[64], *end;
    X509       *cert;
    uint8_t     digest[32], key1[32], key2[32];
    EVP_PKEY   *pkey;
    X509_NAME  *name;

    end = nitro_attest_prometheus_escape(out, (const uint8_t *) "a\"b\\c\nd",
                                         8);
    CHECK((size_t) (end - out) == 11
          && memcmp(out, "a\\\"b\\\\c\\nd", 11) == 0, "label escape");

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


static void
test_durations(void)
{
    CHECK(nitro_attest_parse_duration("30s") == 30000, "30s");
    CHECK(nitro_attest_parse_duration("5m") == 300000, "5m");
    CHECK(nitro_attest_parse_duration("250ms") == 250, "250ms");
    CHECK(nitro_attest_parse_duration("1h 30m") == 5400000, "1h 30m");
    CHECK(nitro_attest_parse_duration("1h30m") == 5400000, "1h30m");
    CHECK(nitro_attest_parse_duration("10") == 10000, "bare seconds");
    CHECK(nitro_attest_parse_duration("2d") == 172800000, "2d");
    CHECK(nitro_attest_parse_duration("") == -1, "empty");
    CHECK(nitro_attest_parse_duration("s") == -1, "no number");
    CHECK(nitro_attest_parse_duration("5x") == -1, "bad unit");
    CHECK(nitro_attest_parse_duration("-5s") == -1, "negative");
    CHECK(nitro_attest_parse_duration("99999999999999999999s") == -1,
          "overflow");
}


static void
test_text_decoding(void)
{
    uint8_t  *out;
    size_t    len;

    static const uint8_t  raw[] = { 0x84, 0x44, 0xa1, 0x01 };

    CHECK(nitro_attest_decode_text((const uint8_t *) "84 44\na1 01", 11,
                                   &out, &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "hex with whitespace");
    free(out);

    CHECK(nitro_attest_decode_text((const uint8_t *) "hEShAQ==", 8, &out,
                                   &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "base64");
    free(out);

    CHECK(nitro_attest_decode_text((const uint8_t *) "hEShAQ", 6, &out,
                                   &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "unpadded base64");
    free(out);

    CHECK(nitro_attest_decode_text(raw, sizeof(raw), &out, &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "raw stays raw");
    free(out);
}


static void
test_names(void)
{
    nitro_attest_kind_e     k;
    nitro_attest_binding_e  b;
    nitro_attest_format_e   f;

    CHECK(strcmp(nitro_attest_reason_name(NITRO_ATTEST_PCR_MISMATCH),
                 "pcr_mismatch") == 0, "reason name");
    CHECK(strcmp(nitro_attest_reason_name(NITRO_ATTEST_INTERNAL_ERROR),
                 "internal_error") == 0, "reason name");
    CHECK(nitro_attest_binding_parse("user_data_sha384", &b) == 0
          && b == NITRO_ATTEST_BINDING_USER_DATA_SHA384, "binding");
    CHECK(nitro_attest_binding_parse("spki", &b) == -1, "bad binding");
    CHECK(nitro_attest_format_parse("raw", &f) == 0
          && f == NITRO_ATTEST_FORMAT_RAW, "format");
    CHECK(nitro_attest_format_parse("der", &f) == -1, "bad format");
    CHECK(nitro_attest_kind_parse("nitrotpm", &k) == 0
          && k == NITRO_ATTEST_KIND_NITROTPM
          && strcmp(nitro_attest_kind_name(k), "nitrotpm") == 0, "kind");
    CHECK(nitro_attest_kind_parse("tpm", &k) == -1, "bad kind");
}


/* CONTRACT 14: the module id up to its last "-enc" or "-tpm", else all */
static void
test_instance_id(void)
{
    size_t  i, n;

    static const struct {
        const char  *module_id;
        const char  *instance_id;
    } cases[] = {
        { "i-0f0e0d0c0b0a09080-enc0123456789abcdef", "i-0f0e0d0c0b0a09080" },
        { "i-0f0e0d0c0b0a09080-tpm0000000000000000", "i-0f0e0d0c0b0a09080" },
        { "i-0abc-enc01-enc02", "i-0abc-enc01" },       /* the last one */
        { "i-0abc-tpm01-enc02", "i-0abc-tpm01" },
        { "i-0abc-enc", "i-0abc" },                     /* nothing after */
        { "-enc01", "" },                               /* nothing before */
        { "i-0abc", "i-0abc" },                         /* neither */
        { "i-0abc-en", "i-0abc-en" },
        { "enc", "enc" },
        { "i-0abc-ENC01", "i-0abc-ENC01" },             /* exact case */
        { "", "" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = nitro_attest_instance_id_len(cases[i].module_id,
                                         strlen(cases[i].module_id));
        CHECK(n == strlen(cases[i].instance_id)
              && strncmp(cases[i].module_id, cases[i].instance_id, n) == 0,
              "instance id of \"%s\": %zu bytes", cases[i].module_id, n);
    }
}


static void
test_lint_collect(void *data, const char *set, const char *text)
{
    char    *out = data;
    size_t   n = strlen(out);

    snprintf(out + n, 1024 - n, "%s: %s\n", set, text);
}


/* CONTRACT 16: the lint, through the callback or only counted */
static void
test_policy_lint(void)
{
    char                    err[256], out[1024];
    nitro_attest_policy_t  *policy;

    static const char  json[] =
        "{\"allow\": [{\"name\": \"a\", \"kind\": \"nitrotpm\", \"pcrs\": "
        "{\"23\": \"" ZERO96 "\"}}], \"allow_debug\": true}";

    policy = nitro_attest_policy_parse(json, sizeof(json) - 1, "lint.json",
                                       err, sizeof(err));
    CHECK(policy != NULL, "lint policy: %s", err);
    if (policy == NULL) {
        return;
    }

    out[0] = '\0';
    CHECK(nitro_attest_policy_lint(policy, test_lint_collect, out) == 2,
          "two warnings");
    CHECK(strcmp(out, "-: allow_debug is true: debug enclaves (PCR0, PCR1 "
                 "and PCR2 all zero) are accepted\n"
                 "a: PCR23 is all zero\n") == 0, "lint lines: %s", out);
    CHECK(nitro_attest_policy_lint(policy, NULL, NULL) == 2, "counted");
    nitro_attest_policy_free(policy);
}


/* a policy from text, or NULL after a failed check */
static nitro_attest_policy_t *
policy_of(const char *json)
{
    char                    err[256];
    nitro_attest_policy_t  *policy;

    policy = nitro_attest_policy_parse(json, strlen(json), "t.json", err,
                                       sizeof(err));
    CHECK(policy != NULL, "policy: %s", err);
    return policy;
}


/* "{allow: [{name: NAME, kind: KIND, pcrs: {N: PCRn of v}}], deny...}" */
static nitro_attest_policy_t *
policy_for(const nitro_attest_verdict_t *v, const char *allow_kind,
    unsigned allow_pcr, const char *deny_kind, unsigned deny_pcr)
{
    char    json[2048], a[129], d[129];
    size_t  n;

    *nitro_attest_hex(a, nitro_attest_span_ptr(v, v->pcr[allow_pcr]),
                      v->pcr[allow_pcr].len) = '\0';
    *nitro_attest_hex(d, nitro_attest_span_ptr(v, v->pcr[deny_pcr]),
                      v->pcr[deny_pcr].len) = '\0';

    n = (size_t) snprintf(json, sizeof(json), "{\"allow\": [{\"name\": "
                          "\"a\", \"kind\": \"%s\", \"pcrs\": {\"%u\": "
                          "\"%s\"}}]", allow_kind, allow_pcr, a);

    if (deny_kind != NULL) {
        n += (size_t) snprintf(json + n, sizeof(json) - n, ", \"deny\": "
                               "[{\"name\": \"d\", \"kind\": \"%s\", "
                               "\"pcrs\": {\"%u\": \"%s\"}}]", deny_kind,
                               deny_pcr, d);
    }

    snprintf(json + n, sizeof(json) - n, "}");

    return policy_of(json);
}


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


/* CONTRACT 15: real NitroTPM documents, their kind, and their judgement. */
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


/* CONTRACT 15: the debug rule is an enclave's; sets judge their own kind. */
static void
test_kind_policy_rules(void)
{
    unsigned                i;
    uint8_t                 zero[48], one[48];
    na_document_t           doc;
    na_policy_result_t      res;
    nitro_attest_policy_t  *policy;

    memset(zero, 0, sizeof(zero));
    memset(one, 1, sizeof(one));
    memset(&doc, 0, sizeof(doc));

    for (i = 0; i < 3; i++) {
        doc.pcr[i].p = zero;
        doc.pcr[i].len = sizeof(zero);
        doc.pcr_mask |= 1u << i;
    }

    doc.kind = NITRO_ATTEST_KIND_ENCLAVE;
    na_policy_evaluate(NULL, 0, &doc, &res);
    CHECK(res.reason == NITRO_ATTEST_DEBUG_ENCLAVE, "enclave zero: debug");

    doc.kind = NITRO_ATTEST_KIND_NITROTPM;
    na_policy_evaluate(NULL, 0, &doc, &res);
    CHECK(res.reason == NITRO_ATTEST_OK && res.allowed, "nitrotpm zero: ok");

    /* a document with no PCR0..2 at all is no debug instance either */
    doc.pcr_mask = 0;
    memset(doc.pcr, 0, sizeof(doc.pcr));
    doc.pcr[7].p = one;
    doc.pcr[7].len = sizeof(one);
    doc.pcr_mask = 1u << 7;
    na_policy_evaluate(NULL, 0, &doc, &res);
    CHECK(res.reason == NITRO_ATTEST_OK, "nitrotpm without PCR0..2");

    policy = policy_of(
        "{\"allow\": [{\"name\": \"enc\", \"pcrs\": {\"7\": \"" ZERO96
        "\"}}, {\"name\": \"enc7\", \"pcrs\": {\"7\": \""
        "010101010101010101010101010101010101010101010101"
        "010101010101010101010101010101010101010101010101\"}},"
        " {\"name\": \"tpm7\", \"kind\": \"nitrotpm\", \"pcrs\": {\"7\": \""
        "010101010101010101010101010101010101010101010101"
        "010101010101010101010101010101010101010101010101\"}}]}");

    if (policy != NULL) {
        na_policy_evaluate(policy, 0, &doc, &res);
        CHECK(res.allowed && res.name && strcmp(res.name, "tpm7") == 0,
              "nitrotpm takes tpm7, not enc7: %s", res.name);
        doc.kind = NITRO_ATTEST_KIND_ENCLAVE;
        na_policy_evaluate(policy, 1, &doc, &res);
        CHECK(res.allowed && res.name && strcmp(res.name, "enc7") == 0,
              "enclave takes enc7: %s", res.name);
        nitro_attest_policy_free(policy);
    }
}


int
main(int argc, char **argv)
{
    char                     err[256], path[4096];
    const char              *which, *why;
    nitro_attest_root_t     *root, *file_root;
    nitro_attest_config_t    cf;
    nitro_attest_verdict_t  *v;

    /* t/test_openssl_context.py: which context this configuration gets */
    if (argc == 4 && strcmp(argv[2], "--context") == 0) {
        which = nitro_attest_openssl_context(&why);
        printf("context: %s (%s)\n", which, why ? why : "-");
        return strcmp(which, argv[3]) == 0 ? 0 : 1;
    }

    if (argc != 2) {
        fprintf(stderr, "usage: test_core FIXTURES_DIR [--context WHICH]\n");
        return 2;
    }

    fixtures = argv[1];
    snprintf(path, sizeof(path), "%s/real", fixtures);
    load_docs(path);
    snprintf(path, sizeof(path), "%s/real-tpm", fixtures);
    ntpm_docs = load_dir(path, tpm_docs, 8);

    root = nitro_attest_root_default(err, sizeof(err));
    CHECK(root != NULL, "built-in root: %s", err);

    snprintf(path, sizeof(path), "%s/aws_nitro_root_g1.pem", argv[1]);
    file_root = nitro_attest_root_load(path, err, sizeof(err));
    CHECK(file_root != NULL, "root file: %s", err);
    CHECK(root != NULL && nitro_attest_root_is_aws(root)
          && file_root != NULL && nitro_attest_root_is_aws(file_root),
          "the built-in root and its file are AWS's");
    nitro_attest_root_free(file_root);

    CHECK(nitro_attest_root_load("/nonexistent.pem", err, sizeof(err))
          == NULL && strstr(err, "/nonexistent.pem"), "names the file");

    v = malloc(sizeof(*v));
    nitro_attest_config_init(&cf);
    cf.root = root;
    cf.allow_debug = 1;

    test_real_documents(&cf, v);
    test_truncation(&cf, v);
    test_corruption(&cf, v);
    test_real_crypto(&cf, v);
    test_no_certificate_and_internal_error(&cf, v);
    test_verdict_copy(&cf, v);
    test_event_shape(&cf, v);
    test_chain_cache(&cf, v);
    test_memo(&cf, v);
    test_expiry();
    test_expire(&cf, v);
    test_glue_helpers();
    test_durations();
    test_text_decoding();
    test_names();
    test_instance_id();
    test_policy_lint();
    test_nitrotpm_documents(&cf, v);
    test_nitrotpm_structure(&cf, v);
    test_kind_policy_rules();
    test_token(&cf, v);
    test_libctx(&cf, v);
    test_cabundle_cap(&cf, v);

    free(v);
    nitro_attest_root_free(root);

    printf("test_core: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
