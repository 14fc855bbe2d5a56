/*
 * bench_core.c: `make bench`.  Verifies the real AWS documents in one
 * process, repeated, and prints the cost per document next to the cost of
 * one ECDSA P-384 verification (EVP_DigestVerify) measured in the same run.
 * A document needs 5 such verifications (4 chain signatures and COSE), so
 * the ratio doc / (5 x P-384) is what parsing, hashing and JSON add.
 */

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "nitro_attest.h"
#include "docs.h"
#include "bench.h"


#define BENCH_MAX_DOCS  64


/* each document once, its verdict unused: to fill caches or warm up */
static void
verify_all(nitro_attest_config_t *cf, doc_t *docs, int n,
    nitro_attest_verdict_t *v)
{
    int  j;

    for (j = 0; j < n; j++) {
        nitro_attest_verify_document(cf, docs[j].data, docs[j].len, NULL,
                                     docs[j].timestamp, v);
    }
}


/* microseconds per P-384 ECDSA verification of a SHA-384 digest */
static double
p384_verify_us(int iterations)
{
    int             i;
    size_t          sig_len;
    double          t0;
    EVP_PKEY       *key;
    EVP_MD_CTX     *md;
    unsigned char   sig[128];
    static const unsigned char  msg[1024];

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    md = EVP_MD_CTX_new();
    sig_len = sizeof(sig);

    if (key == NULL || md == NULL
        || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1
        || EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg)) != 1)
    {
        fprintf(stderr, "cannot make a P-384 signature\n");
        exit(2);
    }

    t0 = now_us();

    for (i = 0; i < iterations; i++) {
        EVP_MD_CTX_reset(md);
        if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key) != 1
            || EVP_DigestVerify(md, sig, sig_len, msg, sizeof(msg)) != 1)
        {
            fprintf(stderr, "P-384 verification failed\n");
            exit(2);
        }
    }

    t0 = (now_us() - t0) / iterations;

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);

    return t0;
}


/* heap in use (glibc), for what a cache entry costs */
static size_t
heap_used(void)
{
    struct mallinfo2  mi;

    mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}


/*
 * What each per-worker cache holds per entry, measured on the real
 * documents: a bundle (its parsed CA certificates and store), a leaf (its
 * parsed certificate), a memo entry (the measurements it keeps).
 */
static void
bench_memory(nitro_attest_config_t *cf, doc_t *docs, int n,
    nitro_attest_verdict_t *v)
{
    size_t                       h0, h1, h2, h3, slots;
    nitro_attest_memo_t         *memo;
    nitro_attest_chain_cache_t  *bundles, *leaves;

    bundles = nitro_attest_chain_cache_new_sized(BENCH_MAX_DOCS, 0);
    leaves = nitro_attest_chain_cache_new_sized(BENCH_MAX_DOCS,
                                                BENCH_MAX_DOCS);
    h0 = heap_used();
    memo = nitro_attest_memo_new(1024);
    slots = heap_used() - h0;

    h0 = heap_used();
    cf->chain_cache = bundles;
    verify_all(cf, docs, n, v);

    h1 = heap_used();
    cf->chain_cache = leaves;
    verify_all(cf, docs, n, v);

    h2 = heap_used();
    cf->chain_cache = NULL;
    cf->memo = memo;
    verify_all(cf, docs, n, v);

    h3 = heap_used();
    cf->memo = NULL;

    printf("memory per entry:     bundle %zu B, leaf %zu B, memo %zu B "
           "(+ %zu B reserved per memo slot); defaults per worker: 64 "
           "bundles, 256 leaves, 1024 memo entries\n",
           (h1 - h0) / n, ((h2 - h1) - (h1 - h0)) / n, (h3 - h2) / n,
           slots / 1024);

    nitro_attest_chain_cache_free(bundles);
    nitro_attest_chain_cache_free(leaves);
    nitro_attest_memo_free(memo);
}


/* cost per document with cache warmed, against verifies P-384 verifies */
static void
bench_cached(nitro_attest_config_t *cf, doc_t *docs, int n, int rounds,
    nitro_attest_verdict_t *v, nitro_attest_chain_cache_t *cache,
    int verifies, const char *what, const char *target)
{
    int      i, j;
    char    *json;
    double   t0, doc_us, p384;

    cf->chain_cache = cache;

    verify_all(cf, docs, n, v);

    doc_us = 0;
    p384 = 0;

    for (i = 0; i < rounds; i++) {
        p384 += p384_verify_us(verifies * n);

        t0 = now_us();
        for (j = 0; j < n; j++) {
            nitro_attest_verify_document(cf, docs[j].data, docs[j].len,
                                         NULL, docs[j].timestamp, v);
            json = nitro_attest_event_json(v);
            free(json);
        }
        doc_us += (now_us() - t0) / n;
    }

    doc_us /= rounds;
    p384 /= rounds;

    printf("%s: %.1f us per document, %d x P-384 %.1f us, ratio %.3f "
           "(target <= %s)\n", what, doc_us, verifies, verifies * p384,
           doc_us / (verifies * p384), target);

    nitro_attest_chain_cache_free(cache);
    cf->chain_cache = NULL;
}


int
main(int argc, char **argv)
{
    int                      i, j, n, rounds;
    char                     err[256];
    char                    *json;
    double                   t0, doc_us, p384, doc_min, p384_min;
    const char              *dir, *which, *why;
    doc_t              docs[BENCH_MAX_DOCS];
    nitro_attest_root_t     *root;
    nitro_attest_config_t    cf;
    nitro_attest_verdict_t  *v;

    dir = argc > 1 ? argv[1] : "t/fixtures/real";
    rounds = argc > 2 ? atoi(argv[2]) : 20;

    n = docs_load(dir, docs, BENCH_MAX_DOCS);
    root = nitro_attest_root_default(err, sizeof(err));
    v = malloc(sizeof(*v));

    if (n == 0 || root == NULL || v == NULL) {
        fprintf(stderr, "bench: no documents in %s or no root: %s\n", dir,
                err);
        return 2;
    }

    nitro_attest_config_init(&cf);
    cf.root = root;
    cf.allow_debug = 1;

    /* warm-up: lazy OpenSSL initialisation is not what we measure */
    p384_verify_us(50);
    verify_all(&cf, docs, n, v);

    /*
     * Rounds alternate a document pass with a baseline pass of the same
     * number of P-384 verifications, so load on the machine weighs on both.
     */
    doc_us = 0;
    p384 = 0;
    p384_min = 1e12;
    doc_min = 1e12;

    for (i = 0; i < rounds; i++) {
        t0 = p384_verify_us(5 * n);
        p384 += t0;
        p384_min = t0 < p384_min ? t0 : p384_min;

        t0 = now_us();

        for (j = 0; j < n; j++) {
            if (nitro_attest_verify_document(&cf, docs[j].data, docs[j].len,
                                             NULL, docs[j].timestamp, v)
                != NITRO_ATTEST_OK)
            {
                fprintf(stderr, "bench: document %d failed: %s\n", j,
                        nitro_attest_reason_name(v->reason));
                return 1;
            }

            json = nitro_attest_event_json(v);
            free(json);
        }

        t0 = (now_us() - t0) / n;
        doc_us += t0;
        doc_min = t0 < doc_min ? t0 : doc_min;
    }

    doc_us /= rounds;
    p384 /= rounds;

    printf("documents:            %d real AWS documents x %d rounds\n", n,
           rounds);
    which = nitro_attest_openssl_context(&why);
    printf("OpenSSL:              %s, certificates parsed in the %s "
           "context%s%s%s\n", OpenSSL_version(OPENSSL_VERSION), which,
           why ? " (" : "", why ? why : "", why ? ")" : "");
    printf("P-384 verify:         %.1f us mean, %.1f us best round\n", p384,
           p384_min);
    printf("5 x P-384 verify:     %.1f us mean\n", 5 * p384);
    printf("per document:         %.1f us mean, %.1f us best round "
           "(verify + JSON event)\n", doc_us, doc_min);
    printf("ratio doc / 5xP-384:  %.3f mean, %.3f best rounds "
           "(target <= 1.10)\n", doc_us / (5 * p384),
           doc_min / (5 * p384_min));

    /*
     * A new document from a known parent instance: its bundle is in the
     * chain cache (no leaves kept), so it costs the leaf's signature and
     * the COSE signature, plus parsing the leaf.  Then from a known
     * enclave: bundle and leaf known, its COSE signature only.  No memo:
     * each pass verifies the signatures as a new document needs.
     */
    bench_cached(&cf, docs, n, rounds, v,
                 nitro_attest_chain_cache_new_sized(BENCH_MAX_DOCS, 0), 2,
                 "known parent instance (bundle cached)", "1.10");
    bench_cached(&cf, docs, n, rounds, v,
                 nitro_attest_chain_cache_new(BENCH_MAX_DOCS), 1,
                 "known enclave (bundle and leaf cached)", "1.15");

    bench_memory(&cf, docs, n, v);

    free(v);
    nitro_attest_root_free(root);
    for (j = 0; j < n; j++) {
        free(docs[j].data);
    }

    return 0;
}
