/*
 * na_document.c: the COSE_Sign1 envelope and the Nitro attestation payload.
 *
 * Owns every structural rule: types, sizes, duplicate keys, trailing bytes.
 * Trusts nothing it is given; every byte is read through na_cbor.c, all of
 * it before any certificate is parsed (na_libctx.c says how).  The result
 * points into the caller's buffer and is not yet authenticated.
 */

#include "na_internal.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>


#define NA_COSE_TAG         18
#define NA_COSE_ALG         1
#define NA_ALG_ES384        -35
#define NA_SIGNATURE_LEN    96

/* Top-level payload keys we read; each bit is set once, so a repeat fails. */
enum {
    NA_KEY_MODULE_ID = 0,
    NA_KEY_DIGEST,
    NA_KEY_TIMESTAMP,
    NA_KEY_PCRS,
    NA_KEY_CERTIFICATE,
    NA_KEY_CABUNDLE,
    NA_KEY_PUBLIC_KEY,
    NA_KEY_USER_DATA,
    NA_KEY_NONCE,
    NA_KEY_NITROTPM_PCRS,
    NA_KEY_COUNT
};

/* module_id, digest, timestamp, certificate, cabundle; and exactly one of
 * pcrs (an enclave) or nitrotpm_pcrs (an EC2 instance's NitroTPM) */
#define NA_REQUIRED_KEYS  0x37
#define NA_PCR_KEYS       (1u << NA_KEY_PCRS | 1u << NA_KEY_NITROTPM_PCRS)

static const char  *na_payload_keys[NA_KEY_COUNT] = {
    "module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle",
    "public_key", "user_data", "nonce", "nitrotpm_pcrs"
};

/* a growing list: unknown keys (na_key_t) */
typedef struct {
    void                      *items;
    size_t                     n;
    size_t                     cap;
} na_list_t;

/*
 * An unknown key by what it decodes to, so that two encodings of one key
 * (a longer length head, say) are still seen as a repeat: its type, its
 * integer value, and its string bytes (or, for other items, its encoding).
 */
typedef struct {
    int                        type;
    uint64_t                   value;
    na_bytes_t                 bytes;
} na_key_t;


static int na_parse_protected(na_bytes_t hdr, int *alg_ok);
static int na_parse_payload(na_document_t *doc);
static int na_parse_field(na_document_t *doc, unsigned key,
    na_cbor_reader_t *r);
static int na_parse_pcrs(na_document_t *doc, na_cbor_reader_t *r,
    unsigned count_max);
static int na_parse_cabundle(na_document_t *doc, na_cbor_reader_t *r);
static int na_parse_leaf(na_document_t *doc,
    nitro_attest_chain_cache_t *cache);
static int na_parse_bundle(na_document_t *doc,
    const nitro_attest_root_t *root, nitro_attest_chain_cache_t *cache);
static int na_parse_optional(na_cbor_reader_t *r, int *present,
    na_bytes_t *out);
static int na_read_bytes(na_cbor_reader_t *r, size_t min, size_t max,
    na_bytes_t *out);
static void *na_list_add(na_list_t *list, size_t size);
static int na_keys_repeat(na_list_t *keys);


nitro_attest_reason_e
na_document_parse(na_document_t *doc, const nitro_attest_root_t *root,
    nitro_attest_chain_cache_t *cache, const uint8_t *bytes, size_t len)
{
    nitro_attest_reason_e  reason;

    reason = na_document_envelope(doc, bytes, len);

    if (reason == NITRO_ATTEST_OK) {
        reason = na_document_contents(doc, root, cache);
    }

    return reason;
}


/*
 * The COSE_Sign1 array only: where the protected header, the payload and
 * the signature are.  Cheap; nothing inside them is read yet.
 */
nitro_attest_reason_e
na_document_envelope(na_document_t *doc, const uint8_t *bytes, size_t len)
{
    uint64_t          left;
    na_cbor_item_t    item, unprotected;
    na_cbor_reader_t  r;

    memset(doc, 0, sizeof(*doc));
    na_cbor_init(&r, bytes, len);

    if (na_cbor_next(&r, &item) != 0) {
        return NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    if (item.type == NA_CBOR_TAG) {
        if (item.value != NA_COSE_TAG || na_cbor_next(&r, &item) != 0) {
            return NITRO_ATTEST_MALFORMED_DOCUMENT;
        }
    }

    if (item.type != NA_CBOR_ARRAY
        || (!item.indefinite && item.value != 4))
    {
        return NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    left = item.value;

    /* [protected bstr, unprotected map, payload bstr, signature bstr] */

    if (na_cbor_more(&r, &item, &left) != 1
        || na_read_bytes(&r, 0, SIZE_MAX, &doc->protected_hdr) != 0
        || na_cbor_more(&r, &item, &left) != 1
        || na_cbor_next(&r, &unprotected) != 0
        || unprotected.type != NA_CBOR_MAP
        || na_cbor_skip_contents(&r, &unprotected, 0) != 0)
    {
        return NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    if (na_cbor_more(&r, &item, &left) != 1
        || na_read_bytes(&r, 1, NITRO_ATTEST_PAYLOAD_MAX, &doc->payload) != 0
        || na_cbor_more(&r, &item, &left) != 1
        || na_read_bytes(&r, 0, SIZE_MAX, &doc->signature) != 0
        || na_cbor_more(&r, &item, &left) != 0
        || r.pos != r.end)
    {
        return NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    return NITRO_ATTEST_OK;
}


/*
 * The protected header and the payload of an envelope already read, then
 * the certificates: a document that is malformed whatever its certificates
 * hold costs no certificate parsing.
 */
nitro_attest_reason_e
na_document_contents(na_document_t *doc, const nitro_attest_root_t *root,
    nitro_attest_chain_cache_t *cache)
{
    int  alg_ok;

    if (na_parse_protected(doc->protected_hdr, &alg_ok) != 0
        || na_parse_payload(doc) != 0)
    {
        return NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    /*
     * The signature length is an ES384 rule: with another algorithm the
     * document is well formed for that algorithm, which we do not support.
     */
    if (alg_ok && doc->signature.len != NA_SIGNATURE_LEN) {
        return NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    if (!doc->structure_only
        && (na_parse_leaf(doc, cache) != 0
            || na_parse_bundle(doc, root, cache) != 0))
    {
        return NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    return alg_ok ? NITRO_ATTEST_OK : NITRO_ATTEST_UNSUPPORTED_ALGORITHM;
}


void
na_document_free(na_document_t *doc)
{
    X509_free(doc->leaf);
    sk_X509_pop_free(doc->cabundle, X509_free);
    doc->leaf = NULL;
    doc->cabundle = NULL;
}


/* the certificates are not what a look at the fields is for: not parsed */
nitro_attest_reason_e
na_document_structure(na_document_t *doc, const uint8_t *bytes, size_t len)
{
    nitro_attest_reason_e  reason;

    reason = na_document_envelope(doc, bytes, len);

    if (reason == NITRO_ATTEST_OK) {
        doc->structure_only = 1;
        reason = na_document_contents(doc, NULL, NULL);
    }

    return reason;
}


int
nitro_attest_document_peek(const uint8_t *bytes, size_t len,
    int64_t *timestamp_ms, char *module_id, size_t module_id_size)
{
    size_t                 n;
    na_document_t          doc;
    nitro_attest_reason_e  reason;

    reason = na_document_structure(&doc, bytes, len);

    if (reason == NITRO_ATTEST_OK
        || reason == NITRO_ATTEST_UNSUPPORTED_ALGORITHM)
    {
        *timestamp_ms = doc.timestamp > (uint64_t) INT64_MAX
                        ? INT64_MAX : (int64_t) doc.timestamp;

        if (module_id_size > 0) {
            n = doc.module_id.len < module_id_size - 1
                ? doc.module_id.len : module_id_size - 1;
            memcpy(module_id, doc.module_id.p, n);
            module_id[n] = '\0';
        }
    }

    na_document_free(&doc);

    return (reason == NITRO_ATTEST_OK
            || reason == NITRO_ATTEST_UNSUPPORTED_ALGORITHM) ? 0 : -1;
}


/*
 * The protected header must decode to exactly {1: alg}.  An integer or text
 * alg other than ES384 parses fine and clears *alg_ok.
 */
static int
na_parse_protected(na_bytes_t hdr, int *alg_ok)
{
    uint64_t          left;
    na_cbor_item_t    map, key, alg;
    na_cbor_reader_t  r;

    *alg_ok = 0;
    na_cbor_init(&r, hdr.p, hdr.len);

    if (na_cbor_next(&r, &map) != 0 || map.type != NA_CBOR_MAP
        || (!map.indefinite && map.value != 1))
    {
        return -1;
    }

    left = map.value;

    if (na_cbor_more(&r, &map, &left) != 1
        || na_cbor_next(&r, &key) != 0
        || key.type != NA_CBOR_UINT || key.value != NA_COSE_ALG
        || na_cbor_next(&r, &alg) != 0
        || na_cbor_more(&r, &map, &left) != 0
        || r.pos != r.end)
    {
        return -1;
    }

    switch (alg.type) {

    case NA_CBOR_NEGINT:
        *alg_ok = (alg.value == (uint64_t) (-1 - NA_ALG_ES384));
        return 0;

    case NA_CBOR_UINT:
    case NA_CBOR_TEXT:
        return 0;

    default:
        return -1;
    }
}


static int
na_parse_payload(na_document_t *doc)
{
    int               rc, more;
    unsigned          k, seen;
    uint64_t          left;
    const uint8_t    *key_start;
    na_key_t         *uk;
    na_list_t         unknown;
    na_cbor_item_t    map, key;
    na_cbor_reader_t  r;

    na_cbor_init(&r, doc->payload.p, doc->payload.len);

    if (na_cbor_next(&r, &map) != 0 || map.type != NA_CBOR_MAP) {
        return -1;
    }

    memset(&unknown, 0, sizeof(unknown));
    left = map.value;
    seen = 0;
    rc = -1;

    while ((more = na_cbor_more(&r, &map, &left)) == 1) {
        key_start = r.pos;

        if (na_cbor_next(&r, &key) != 0) {
            goto done;
        }

        for (k = 0; k < NA_KEY_COUNT; k++) {
            if (key.type == NA_CBOR_TEXT
                && key.len == strlen(na_payload_keys[k])
                && memcmp(key.data, na_payload_keys[k], key.len) == 0)
            {
                break;
            }
        }

        if (k == NA_KEY_COUNT) {
            /* an indefinite-length key may spell a known one: refused */
            if (key.type == NA_CBOR_CHUNKED) {
                goto done;
            }

            /* unknown keys are ignored, but not repeated ones */
            uk = na_list_add(&unknown, sizeof(na_key_t));

            if (uk == NULL || na_cbor_skip_contents(&r, &key, 1) != 0) {
                goto done;
            }

            uk->type = key.type;
            uk->value = key.value;
            uk->bytes.p = key.data;
            uk->bytes.len = key.len;

            /* a container or tag key: its encoding stands for it */
            if (key.data == NULL && key.type != NA_CBOR_UINT
                && key.type != NA_CBOR_NEGINT)
            {
                uk->bytes.p = key_start;
                uk->bytes.len = (size_t) (r.pos - key_start);
            }

            if (na_cbor_skip(&r, 1) != 0) {
                goto done;
            }

            continue;
        }

        /* a repeated key, or the second kind of PCRs: refused */
        if ((seen & (1u << k))
            || (((1u << k) & NA_PCR_KEYS) && (seen & NA_PCR_KEYS))
            || na_parse_field(doc, k, &r) != 0)
        {
            goto done;
        }

        seen |= 1u << k;
    }

    if (more == 0 && r.pos == r.end
        && (seen & NA_REQUIRED_KEYS) == NA_REQUIRED_KEYS
        && (seen & NA_PCR_KEYS) != 0
        && !na_keys_repeat(&unknown))
    {
        rc = 0;
    }

done:

    free(unknown.items);
    return rc;
}


static int
na_parse_field(na_document_t *doc, unsigned key, na_cbor_reader_t *r)
{
    size_t          i;
    na_cbor_item_t  item;

    switch (key) {

    case NA_KEY_MODULE_ID:
        if (na_cbor_next(r, &item) != 0 || item.type != NA_CBOR_TEXT
            || item.len == 0 || item.len > NITRO_ATTEST_MODULE_ID_MAX)
        {
            return -1;
        }

        /* it ends up in headers and logs: printable ASCII only */
        for (i = 0; i < item.len; i++) {
            if (item.data[i] < 0x20 || item.data[i] > 0x7e) {
                return -1;
            }
        }

        doc->module_id.p = item.data;
        doc->module_id.len = item.len;
        return 0;

    case NA_KEY_DIGEST:
        if (na_cbor_next(r, &item) != 0 || item.type != NA_CBOR_TEXT
            || item.len != 6 || memcmp(item.data, "SHA384", 6) != 0)
        {
            return -1;
        }

        doc->digest.p = item.data;
        doc->digest.len = item.len;
        return 0;

    case NA_KEY_TIMESTAMP:
        if (na_cbor_next(r, &item) != 0 || item.type != NA_CBOR_UINT
            || item.value == 0)
        {
            return -1;
        }

        doc->timestamp = item.value;
        return 0;

    case NA_KEY_PCRS:
        doc->kind = NITRO_ATTEST_KIND_ENCLAVE;
        return na_parse_pcrs(doc, r, NITRO_ATTEST_PCR_COUNT);

    case NA_KEY_NITROTPM_PCRS:
        doc->kind = NITRO_ATTEST_KIND_NITROTPM;
        return na_parse_pcrs(doc, r, NITRO_ATTEST_NITROTPM_PCR_COUNT);

    case NA_KEY_CERTIFICATE:
        return na_read_bytes(r, 1, NITRO_ATTEST_FIELD_MAX, &doc->certificate);

    case NA_KEY_CABUNDLE:
        return na_parse_cabundle(doc, r);

    case NA_KEY_PUBLIC_KEY:
        return na_parse_optional(r, &doc->has_public_key, &doc->public_key);

    case NA_KEY_USER_DATA:
        return na_parse_optional(r, &doc->has_user_data, &doc->user_data);

    default: /* NA_KEY_NONCE */
        return na_parse_optional(r, &doc->has_nonce, &doc->nonce);
    }
}


/*
 * pcrs: 1..32 entries, keys 0..31, values of 32, 48 or 64 bytes;
 * nitrotpm_pcrs (count 24): 1..24 entries, keys 0..23, 48-byte values.
 */
static int
na_parse_pcrs(na_document_t *doc, na_cbor_reader_t *r, unsigned count_max)
{
    int             more, tpm;
    size_t          count;
    uint64_t        left;
    na_bytes_t      value;
    na_cbor_item_t  map, key;

    if (na_cbor_next(r, &map) != 0 || map.type != NA_CBOR_MAP) {
        return -1;
    }

    left = map.value;
    count = 0;

    tpm = (count_max == NITRO_ATTEST_NITROTPM_PCR_COUNT);

    while ((more = na_cbor_more(r, &map, &left)) == 1) {
        if (++count > count_max
            || na_cbor_next(r, &key) != 0
            || key.type != NA_CBOR_UINT
            || key.value >= count_max
            || (doc->pcr_mask & (1u << key.value))
            || na_read_bytes(r, tpm ? 48 : 32, tpm ? 48 : 64, &value) != 0
            || (value.len != 32 && value.len != 48 && value.len != 64))
        {
            return -1;
        }

        doc->pcr_mask |= 1u << key.value;
        doc->pcr[key.value] = value;
    }

    return (more == 0 && count > 0) ? 0 : -1;
}


/*
 * 1..16 entries of 1..1024 bytes, counted as they are read: a longer
 * array is malformed before anything of it is parsed.  Where the entries
 * are is kept for na_parse_bundle().
 */
static int
na_parse_cabundle(na_document_t *doc, na_cbor_reader_t *r)
{
    int              more;
    uint64_t         left;
    na_bytes_t       der;
    const uint8_t   *start, *end;
    na_cbor_item_t   array;

    if (na_cbor_next(r, &array) != 0 || array.type != NA_CBOR_ARRAY) {
        return -1;
    }

    left = array.value;
    start = r->pos;
    end = start;

    while ((more = na_cbor_more(r, &array, &left)) == 1) {
        if (doc->cabundle_n == NITRO_ATTEST_CABUNDLE_MAX
            || na_read_bytes(r, 1, NITRO_ATTEST_FIELD_MAX, &der) != 0)
        {
            return -1;
        }

        if (doc->cabundle_n++ == 0) {
            doc->root_der = der;
        }

        end = r->pos;
    }

    if (more != 0 || doc->cabundle_n == 0) {
        return -1;
    }

    doc->cabundle_ders.p = start;
    doc->cabundle_ders.len = (size_t) (end - start);

    return 0;
}


static int
na_parse_leaf(na_document_t *doc, nitro_attest_chain_cache_t *cache)
{
    /* a leaf seen before is known-good DER: take it parsed */
    if (cache != NULL
        && SHA256(doc->certificate.p, doc->certificate.len, doc->leaf_key)
           != NULL)
    {
        doc->leaf_keyed = 1;
        doc->leaf_entry = na_leaf_cache_lookup(cache, doc->leaf_key);

        if (doc->leaf_entry != NULL) {
            doc->leaf = na_leaf_entry_cert(doc->leaf_entry);
            return X509_up_ref(doc->leaf) == 1 ? 0 : -1;
        }
    }

    doc->leaf = nitro_attest_cert_parse(doc->certificate.p,
                                        doc->certificate.len);
    return doc->leaf ? 0 : -1;
}


/* The cabundle's certificates, each parsed once at most. */
static int
na_parse_bundle(na_document_t *doc, const nitro_attest_root_t *root,
    nitro_attest_chain_cache_t *cache)
{
    X509              *x;
    size_t             i, n;
    na_bytes_t         items[NITRO_ATTEST_CABUNDLE_MAX];
    na_cbor_reader_t   r;

    n = doc->cabundle_n;
    na_cbor_init(&r, doc->cabundle_ders.p, doc->cabundle_ders.len);

    for (i = 0; i < n; i++) {
        if (na_read_bytes(&r, 1, NITRO_ATTEST_FIELD_MAX, &items[i]) != 0) {
            return -1;
        }
    }

    /* a bundle verified before is known-good DER: take it parsed */
    if (cache != NULL && na_chain_cache_key(items, n, doc->chain_key) == 0) {
        doc->chain_keyed = 1;
        doc->chain = na_chain_cache_lookup(cache, doc->chain_key);

        if (doc->chain != NULL) {
            doc->cabundle = X509_chain_up_ref(
                                na_chain_entry_cabundle(doc->chain));
            return doc->cabundle ? 0 : -1;
        }
    }

    doc->cabundle = sk_X509_new_reserve(NULL, (int) n);
    if (doc->cabundle == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        /*
         * The pinned root's bytes are known-good DER: share its parsed
         * object rather than decoding it again (OpenSSL 3.0 spends about
         * a fifth of a P-384 verification decoding each public key).
         */
        if (i == 0 && root != NULL
            && items[0].len == root->der_len
            && memcmp(items[0].p, root->der, root->der_len) == 0
            && X509_up_ref(root->cert) == 1)
        {
            x = root->cert;

        } else {
            x = nitro_attest_cert_parse(items[i].p, items[i].len);
            if (x == NULL) {
                return -1;
            }
        }

        sk_X509_push(doc->cabundle, x);  /* space reserved above */
    }

    return 0;
}


/* public_key, user_data, nonce: absent, null, or a bstr of 0..1024 bytes */
static int
na_parse_optional(na_cbor_reader_t *r, int *present, na_bytes_t *out)
{
    const uint8_t  *start;
    na_cbor_item_t  item;

    start = r->pos;

    if (na_cbor_next(r, &item) != 0) {
        return -1;
    }

    if (item.type == NA_CBOR_NULL) {
        return 0;
    }

    r->pos = start;

    if (na_read_bytes(r, 0, NITRO_ATTEST_FIELD_MAX, out) != 0) {
        return -1;
    }

    *present = 1;
    return 0;
}


/* A definite-length byte string of min..max bytes. */
static int
na_read_bytes(na_cbor_reader_t *r, size_t min, size_t max, na_bytes_t *out)
{
    na_cbor_item_t  item;

    if (na_cbor_next(r, &item) != 0 || item.type != NA_CBOR_BYTES
        || item.len < min || item.len > max)
    {
        return -1;
    }

    out->p = item.data;
    out->len = item.len;
    return 0;
}


/* Room for one more element of size bytes, or NULL. */
static void *
na_list_add(na_list_t *list, size_t size)
{
    void    *items;
    size_t   cap;

    if (list->n == list->cap) {
        cap = list->cap ? 2 * list->cap : 8;
        items = realloc(list->items, cap * size);
        if (items == NULL) {
            return NULL;
        }

        list->items = items;
        list->cap = cap;
    }

    return (uint8_t *) list->items + size * list->n++;
}


static int
na_key_cmp(const void *a, const void *b)
{
    const na_key_t  *x = a, *y = b;

    if (x->type != y->type) {
        return x->type < y->type ? -1 : 1;
    }

    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }

    if (x->bytes.len != y->bytes.len) {
        return x->bytes.len < y->bytes.len ? -1 : 1;
    }

    return x->bytes.len ? memcmp(x->bytes.p, y->bytes.p, x->bytes.len) : 0;
}


static int
na_keys_repeat(na_list_t *keys)
{
    size_t     i;
    na_key_t  *k;

    if (keys->n < 2) {
        return 0;
    }

    k = keys->items;
    qsort(k, keys->n, sizeof(na_key_t), na_key_cmp);

    for (i = 1; i < keys->n; i++) {
        if (na_key_cmp(&k[i - 1], &k[i]) == 0) {
            return 1;
        }
    }

    return 0;
}
