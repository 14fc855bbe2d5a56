/*
 * test_core.c: unit tests of the verification core, for what the CLI tests
 * cannot reach: the no-certificate and internal-error paths, every
 * truncation and many corruptions of real documents, the verdict's copy
 * semantics, the duration and text decoders.  Usage: test_core FIXTURES
 */

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static const char  *fixtures;


static void
load_docs(const char *dir)
{
    DIR            *d;
    FILE           *f;
    char            path[8192];
    struct dirent  *e;

    d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        exit(2);
    }

    while ((e = readdir(d)) != NULL && ndocs < 64) {
        size_t  l = strlen(e->d_name);

        if (l < 5 || strcmp(e->d_name + l - 5, ".cose") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(docs[ndocs].name, sizeof(docs[ndocs].name), "%s",
                 e->d_name);
        f = fopen(path, "rb");
        docs[ndocs].data = malloc(65536);
        docs[ndocs].len = fread(docs[ndocs].data, 1, 65536, f);
        fclose(f);

        if (nitro_attest_document_peek(docs[ndocs].data, docs[ndocs].len,
                                       &docs[ndocs].timestamp, NULL, 0) != 0)
        {
            fprintf(stderr, "%s: malformed fixture\n", path);
            exit(2);
        }

        ndocs++;
    }

    closedir(d);

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
        "doc_sha384", "cache", "verify_us", "resumed", NULL
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


int
main(int argc, char **argv)
{
    char                     err[256], path[4096];
    nitro_attest_root_t     *root, *file_root;
    nitro_attest_config_t    cf;
    nitro_attest_verdict_t  *v;

    if (argc != 2) {
        fprintf(stderr, "usage: test_core FIXTURES_DIR\n");
        return 2;
    }

    fixtures = argv[1];
    snprintf(path, sizeof(path), "%s/real", fixtures);
    load_docs(path);

    root = nitro_attest_root_default(err, sizeof(err));
    CHECK(root != NULL, "built-in root: %s", err);

    snprintf(path, sizeof(path), "%s/aws_nitro_root_g1.pem", argv[1]);
    file_root = nitro_attest_root_load(path, err, sizeof(err));
    CHECK(file_root != NULL, "root file: %s", err);
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
    test_durations();
    test_text_decoding();
    test_names();
    test_policy_lint();

    free(v);
    nitro_attest_root_free(root);

    printf("test_core: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
