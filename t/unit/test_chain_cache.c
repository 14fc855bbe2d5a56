/*
 * test_chain_cache.c: the chain cache (na_chain_cache.c): hits, misses and
 * eviction change no verdict; a hit is for its root only and within its
 * window only.
 */

#include "unit.h"


/* A bundle seen before is a hit, and changes no verdict. */
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


void
unit_chain_cache(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_chain_cache(cf, v);
}
