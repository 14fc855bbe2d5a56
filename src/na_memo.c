/*
 * na_memo.c: the verification memo.  Remembers what the structure,
 * signature and path checks concluded about a signed document, so that a
 * document presented again (the same one in a new certificate, a replayed
 * certificate, a forgery sent over and over) is not verified again.
 *
 * The key is what those checks read: the pinned root, the protected
 * header, the payload and the signature.  The unsigned parts (the COSE
 * unprotected header, the certificate around the document) are not in it,
 * so changing them does not buy a new verification; nor can they change
 * the outcome.  What depends on the time, the configuration or the
 * presenting certificate (validity window, freshness, policy, binding) is
 * judged again at every use from what is kept here.  Not thread-safe: one
 * memo per process.
 */

#include "na_internal.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>


#define NA_MEMO_NONE  UINT32_MAX


typedef struct {
    uint8_t                    key[SHA256_DIGEST_LENGTH];
    uint32_t                   next;       /* in its bucket */
    uint64_t                   used;       /* LRU clock, 0: free */
    nitro_attest_reason_e      reason;
    na_window_t                window;
    na_document_t              doc;        /* measurements, when OK */
    uint8_t                   *data;       /* what doc points into */
} na_memo_entry_t;

struct nitro_attest_memo_s {
    na_memo_entry_t           *entries;
    uint32_t                  *buckets;
    size_t                     capacity;
    size_t                     n;
    uint32_t                   mask;       /* buckets - 1 */
    uint64_t                   clock;
    uint64_t                   hits;
    uint64_t                   misses;
};


static uint32_t na_memo_bucket(const nitro_attest_memo_t *memo,
    const uint8_t *key);
static void na_memo_unlink(nitro_attest_memo_t *memo, uint32_t i);
static int na_memo_copy(na_memo_entry_t *e, const na_document_t *doc);


nitro_attest_memo_t *
nitro_attest_memo_new(size_t capacity)
{
    size_t                buckets, i;
    nitro_attest_memo_t  *memo;

    if (capacity == 0 || capacity > (1u << 24)) {
        return NULL;
    }

    for (buckets = 1; buckets < 2 * capacity; buckets <<= 1) { /* void */ }

    memo = calloc(1, sizeof(*memo));
    if (memo == NULL) {
        return NULL;
    }

    memo->entries = calloc(capacity, sizeof(na_memo_entry_t));
    memo->buckets = malloc(buckets * sizeof(uint32_t));

    if (memo->entries == NULL || memo->buckets == NULL) {
        free(memo->entries);
        free(memo->buckets);
        free(memo);
        return NULL;
    }

    for (i = 0; i < buckets; i++) {
        memo->buckets[i] = NA_MEMO_NONE;
    }

    memo->capacity = capacity;
    memo->mask = (uint32_t) (buckets - 1);

    return memo;
}


void
nitro_attest_memo_free(nitro_attest_memo_t *memo)
{
    size_t  i;

    if (memo == NULL) {
        return;
    }

    for (i = 0; i < memo->n; i++) {
        free(memo->entries[i].data);
    }

    free(memo->entries);
    free(memo->buckets);
    free(memo);
}


void
nitro_attest_memo_stats(const nitro_attest_memo_t *memo, uint64_t *hits,
    uint64_t *misses)
{
    *hits = memo->hits;
    *misses = memo->misses;
}


/*
 * SHA-256 over the root's fingerprint, then the length and bytes of the
 * protected header, the payload and the signature: -1 when it cannot be
 * computed (the document is then verified without the memo).
 */
int
na_memo_key(const nitro_attest_root_t *root, const na_document_t *doc,
    uint8_t *key)
{
    na_bytes_t  parts[3];

    parts[0] = doc->protected_hdr;
    parts[1] = doc->payload;
    parts[2] = doc->signature;

    return na_sha256_parts(root->fingerprint, sizeof(root->fingerprint),
                           parts, 3, key);
}


/* 1 and *res filled when the key is known; counts the hit or the miss */
int
na_memo_lookup(nitro_attest_memo_t *memo, const uint8_t *key,
    na_memo_result_t *res)
{
    uint32_t          i;
    na_memo_entry_t  *e;

    for (i = memo->buckets[na_memo_bucket(memo, key)];
         i != NA_MEMO_NONE;
         i = memo->entries[i].next)
    {
        e = &memo->entries[i];

        if (memcmp(e->key, key, SHA256_DIGEST_LENGTH) == 0) {
            e->used = ++memo->clock;
            memo->hits++;

            res->reason = e->reason;
            res->window = e->window;
            res->doc = &e->doc;
            return 1;
        }
    }

    memo->misses++;
    return 0;
}


/*
 * Remembers the conclusion about a document just verified; for a document
 * that held, its measurements too (copied: doc points into bytes that are
 * gone after the handshake).  Out of memory, it is simply not remembered.
 */
void
na_memo_insert(nitro_attest_memo_t *memo, const uint8_t *key,
    nitro_attest_reason_e reason, const na_window_t *window,
    const na_document_t *doc)
{
    size_t            k;
    uint32_t          i, b;
    na_memo_entry_t  *e;

    if (memo->n < memo->capacity) {
        i = (uint32_t) memo->n;

    } else {
        i = 0;

        for (k = 1; k < memo->n; k++) {
            if (memo->entries[k].used < memo->entries[i].used) {
                i = (uint32_t) k;
            }
        }

        na_memo_unlink(memo, i);
    }

    e = &memo->entries[i];
    free(e->data);
    memset(e, 0, sizeof(*e));

    e->reason = reason;

    if (reason == NITRO_ATTEST_OK) {
        e->window = *window;

        /*
         * The slot is left out of every bucket with a clock of 0: the
         * first to be taken again.
         */
        if (na_memo_copy(e, doc) != 0) {
            memset(e, 0, sizeof(*e));
            return;
        }
    }

    memcpy(e->key, key, SHA256_DIGEST_LENGTH);
    e->used = ++memo->clock;

    b = na_memo_bucket(memo, key);
    e->next = memo->buckets[b];
    memo->buckets[b] = i;

    if (i == memo->n) {
        memo->n++;
    }
}


static uint32_t
na_memo_bucket(const nitro_attest_memo_t *memo, const uint8_t *key)
{
    uint32_t  h;

    /* the key is a digest: any four of its bytes are uniform */
    h = (uint32_t) key[0] << 24 | (uint32_t) key[1] << 16
        | (uint32_t) key[2] << 8 | key[3];

    return h & memo->mask;
}


static void
na_memo_unlink(nitro_attest_memo_t *memo, uint32_t i)
{
    uint32_t  *p;

    for (p = &memo->buckets[na_memo_bucket(memo, memo->entries[i].key)];
         *p != NA_MEMO_NONE;
         p = &memo->entries[*p].next)
    {
        if (*p == i) {
            *p = memo->entries[i].next;
            return;
        }
    }
}


/*
 * The fields the later stages read (measure, policy, binding), packed in
 * one allocation, with doc's spans pointing into it: the kind and the PCRs
 * of either kind (both in pcr[]) among them.  No X509 is kept.
 */
static int
na_memo_copy(na_memo_entry_t *e, const na_document_t *doc)
{
    size_t       size, i, n;
    uint8_t     *p;
    na_bytes_t  *fields[NITRO_ATTEST_PCR_COUNT + 4];

    e->doc.timestamp = doc->timestamp;
    e->doc.kind = doc->kind;
    e->doc.pcr_mask = doc->pcr_mask;
    e->doc.has_public_key = doc->has_public_key;
    e->doc.has_user_data = doc->has_user_data;
    e->doc.has_nonce = doc->has_nonce;

    memcpy(e->doc.pcr, doc->pcr, sizeof(doc->pcr));
    e->doc.module_id = doc->module_id;
    e->doc.public_key = doc->public_key;
    e->doc.user_data = doc->user_data;
    e->doc.nonce = doc->nonce;

    n = 0;
    fields[n++] = &e->doc.module_id;
    fields[n++] = &e->doc.public_key;
    fields[n++] = &e->doc.user_data;
    fields[n++] = &e->doc.nonce;

    for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
        fields[n++] = &e->doc.pcr[i];
    }

    size = 1;

    for (i = 0; i < n; i++) {
        size += fields[i]->len;
    }

    e->data = malloc(size);
    if (e->data == NULL) {
        return -1;
    }

    p = e->data;

    for (i = 0; i < n; i++) {
        if (fields[i]->len) {
            memcpy(p, fields[i]->p, fields[i]->len);
        }

        fields[i]->p = p;
        p += fields[i]->len;
    }

    return 0;
}
