/*
 * na_chain_cache.c: the chain cache.  Remembers CA bundles (cabundle, root
 * first) whose path to the pinned root OpenSSL has verified, so that a new
 * document from a known parent instance costs the leaf's signature and the
 * COSE signature only.
 *
 * An entry is trusted only for the root it was verified against; it keeps
 * the validity window of all its certificates, which the caller holds the
 * verification time against, as for a path verified in full.  Bundles
 * with name constraints are never cached (those would have to be applied
 * to each new leaf); the window is the one the verifier (na_chain.c)
 * computed along the path.  Leaves whose path verified under a cached
 * bundle are kept too, parsed, so a known enclave's new document costs its
 * COSE signature only.  Not thread-safe: one cache per process (an nginx
 * worker is single-threaded).
 */

#include "na_internal.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>


struct na_chain_entry_s {
    uint8_t                    key[SHA256_DIGEST_LENGTH];
    uint8_t                    root[SHA256_DIGEST_LENGTH];
    STACK_OF(X509)            *cabundle;
    X509_STORE                *store;      /* cabundle's last entry only */
    na_window_t                window;     /* of the whole bundle */
    uint64_t                   used;       /* LRU clock */
};

struct na_leaf_entry_s {
    uint8_t                    key[SHA256_DIGEST_LENGTH];
    uint8_t                    root[SHA256_DIGEST_LENGTH];
    uint8_t                    chain[SHA256_DIGEST_LENGTH]; /* bundle key */
    X509                      *leaf;
    na_window_t                window;     /* of the whole path */
    uint64_t                   used;       /* LRU clock */
};

struct nitro_attest_chain_cache_s {
    na_chain_entry_t          *entries;
    size_t                     n;
    size_t                     capacity;
    na_leaf_entry_t           *leaves;     /* NA_LEAVES_PER_BUNDLE each */
    size_t                     nleaves;
    size_t                     leaf_capacity;
    uint64_t                   clock;
    uint64_t                   hits;
    uint64_t                   misses;
};


/* enclaves per parent instance the cache is sized for by default */
#define NA_LEAVES_PER_BUNDLE  4


static void na_chain_entry_clear(na_chain_entry_t *e);


nitro_attest_chain_cache_t *
nitro_attest_chain_cache_new(size_t capacity)
{
    return nitro_attest_chain_cache_new_sized(capacity,
                                              capacity * NA_LEAVES_PER_BUNDLE);
}


nitro_attest_chain_cache_t *
nitro_attest_chain_cache_new_sized(size_t capacity, size_t leaves)
{
    nitro_attest_chain_cache_t  *cache;

    if (capacity == 0) {
        return NULL;
    }

    cache = calloc(1, sizeof(*cache));
    if (cache == NULL) {
        return NULL;
    }

    cache->entries = calloc(capacity, sizeof(na_chain_entry_t));
    cache->leaves = calloc(leaves ? leaves : 1, sizeof(na_leaf_entry_t));

    if (cache->entries == NULL || cache->leaves == NULL) {
        free(cache->entries);
        free(cache->leaves);
        free(cache);
        return NULL;
    }

    cache->capacity = capacity;
    cache->leaf_capacity = leaves;
    return cache;
}


void
nitro_attest_chain_cache_free(nitro_attest_chain_cache_t *cache)
{
    size_t  i;

    if (cache == NULL) {
        return;
    }

    for (i = 0; i < cache->n; i++) {
        na_chain_entry_clear(&cache->entries[i]);
    }

    for (i = 0; i < cache->nleaves; i++) {
        X509_free(cache->leaves[i].leaf);
    }

    free(cache->entries);
    free(cache->leaves);
    free(cache);
}


void
nitro_attest_chain_cache_stats(const nitro_attest_chain_cache_t *cache,
    uint64_t *hits, uint64_t *misses)
{
    *hits = cache->hits;
    *misses = cache->misses;
}


/*
 * The key of a bundle: SHA-256 over each entry's length and bytes; -1 when
 * it cannot be computed (the bundle is then simply not cached).
 */
int
na_chain_cache_key(const na_bytes_t *ders, size_t n, uint8_t *key)
{
    return na_sha256_parts(NULL, 0, ders, n, key);
}


na_chain_entry_t *
na_chain_cache_lookup(nitro_attest_chain_cache_t *cache, const uint8_t *key)
{
    size_t  i;

    for (i = 0; i < cache->n; i++) {
        if (memcmp(cache->entries[i].key, key, SHA256_DIGEST_LENGTH) == 0) {
            cache->entries[i].used = ++cache->clock;
            return &cache->entries[i];
        }
    }

    return NULL;
}


STACK_OF(X509) *
na_chain_entry_cabundle(const na_chain_entry_t *e)
{
    return e->cabundle;
}


/*
 * Whether the entry (NULL: none found) may stand in for a full verification
 * of its path: the same pinned root.  Time is the caller's to check against
 * the entry's window.  Counts the hit or the miss.
 */
int
na_chain_entry_usable(nitro_attest_chain_cache_t *cache,
    const na_chain_entry_t *e, const nitro_attest_root_t *root)
{
    int  ok;

    ok = e != NULL
         && memcmp(e->root, root->fingerprint, SHA256_DIGEST_LENGTH) == 0;

    if (ok) {
        cache->hits++;
    } else {
        cache->misses++;
    }

    return ok;
}


X509_STORE *
na_chain_entry_store(const na_chain_entry_t *e, na_window_t *w)
{
    *w = e->window;
    return e->store;
}


/*
 * Remembers a bundle whose full path has just been verified, and w, the
 * window of all its certificates.
 */
void
na_chain_cache_insert(nitro_attest_chain_cache_t *cache, const uint8_t *key,
    STACK_OF(X509) *cabundle, const nitro_attest_root_t *root,
    const na_window_t *w)
{
    int                i, n;
    size_t             k;
    na_chain_entry_t   e, *slot;

    n = sk_X509_num(cabundle);

    /* a leaf directly under the root gains nothing from a cache */
    if (n < 2) {
        return;
    }

    for (i = 0; i < n; i++) {
        if (X509_get_ext_by_NID(sk_X509_value(cabundle, i),
                                NID_name_constraints, -1) >= 0)
        {
            return;
        }
    }

    memset(&e, 0, sizeof(e));
    memcpy(e.key, key, SHA256_DIGEST_LENGTH);
    memcpy(e.root, root->fingerprint, SHA256_DIGEST_LENGTH);
    e.window = *w;
    e.cabundle = X509_chain_up_ref(cabundle);
    e.store = X509_STORE_new();

    if (e.cabundle == NULL || e.store == NULL
        || X509_STORE_add_cert(e.store, sk_X509_value(cabundle, n - 1)) != 1)
    {
        na_chain_entry_clear(&e);
        return;
    }

    if (cache->n < cache->capacity) {
        slot = &cache->entries[cache->n++];

    } else {
        slot = &cache->entries[0];

        for (k = 1; k < cache->n; k++) {
            if (cache->entries[k].used < slot->used) {
                slot = &cache->entries[k];
            }
        }

        na_chain_entry_clear(slot);
    }

    e.used = ++cache->clock;
    *slot = e;
}


static void
na_chain_entry_clear(na_chain_entry_t *e)
{
    sk_X509_pop_free(e->cabundle, X509_free);
    X509_STORE_free(e->store);
    memset(e, 0, sizeof(*e));
}


na_leaf_entry_t *
na_leaf_cache_lookup(nitro_attest_chain_cache_t *cache, const uint8_t *key)
{
    size_t  i;

    for (i = 0; i < cache->nleaves; i++) {
        if (memcmp(cache->leaves[i].key, key, SHA256_DIGEST_LENGTH) == 0) {
            cache->leaves[i].used = ++cache->clock;
            return &cache->leaves[i];
        }
    }

    return NULL;
}


X509 *
na_leaf_entry_cert(const na_leaf_entry_t *e)
{
    return e->leaf;
}


/*
 * Whether the leaf's path verified under this root and this very bundle:
 * then it is not verified again, and *w is the path's window (time is the
 * caller's to judge, as for a path verified in full).
 */
int
na_leaf_entry_verified(const na_leaf_entry_t *e,
    const nitro_attest_root_t *root, const uint8_t *chain_key,
    na_window_t *w)
{
    if (memcmp(e->root, root->fingerprint, SHA256_DIGEST_LENGTH) != 0
        || memcmp(e->chain, chain_key, SHA256_DIGEST_LENGTH) != 0)
    {
        return 0;
    }

    *w = e->window;
    return 1;
}


/* Remembers a leaf whose path has just verified (under root, bundle). */
void
na_leaf_cache_insert(nitro_attest_chain_cache_t *cache, const uint8_t *key,
    X509 *leaf, const nitro_attest_root_t *root, const uint8_t *chain_key,
    const na_window_t *w)
{
    size_t            k, capacity;
    na_leaf_entry_t  *slot;

    capacity = cache->leaf_capacity;

    if (capacity == 0) {
        return;
    }

    slot = na_leaf_cache_lookup(cache, key);

    if (slot == NULL && cache->nleaves < capacity) {
        slot = &cache->leaves[cache->nleaves++];

    } else if (slot == NULL) {
        slot = &cache->leaves[0];

        for (k = 1; k < cache->nleaves; k++) {
            if (cache->leaves[k].used < slot->used) {
                slot = &cache->leaves[k];
            }
        }
    }

    if (slot->leaf != leaf) {
        if (X509_up_ref(leaf) != 1) {
            return;
        }

        X509_free(slot->leaf);
        slot->leaf = leaf;
    }

    memcpy(slot->key, key, SHA256_DIGEST_LENGTH);
    memcpy(slot->root, root->fingerprint, SHA256_DIGEST_LENGTH);
    memcpy(slot->chain, chain_key, SHA256_DIGEST_LENGTH);
    slot->window = *w;
    slot->used = ++cache->clock;
}
