/*
 * na_internal.h: types shared by the stages of the core, never installed.
 *
 * A parsed document only points into the bytes it was parsed from; the
 * X509 objects it holds are its own and are released by na_document_free().
 */

#ifndef NA_INTERNAL_H
#define NA_INTERNAL_H

#include "nitro_attest.h"

#pragma GCC visibility push(hidden)


#define NA_CBOR_MAX_DEPTH  16

typedef struct {
    const uint8_t             *p;
    size_t                     len;
} na_bytes_t;


/*
 * na_names.c: the one way the core writes an error message (a loader's,
 * the NSM's): one line, naming the file, the device or the value, into err
 * (which may be NULL).  Returns -1, so that "return na_fail(...)" ends a
 * step that failed.
 */
int na_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


/* na_text.c: the text encodings. */

int na_hex_decode(const char *hex, size_t len, uint8_t *out);

/* bytes of the unpadded base64url of n bytes, with room for EVP's NUL */
#define na_base64url_size(n)  (4 * (((n) + 2) / 3) + 1)

size_t na_base64url(char *dst, const uint8_t *src, size_t len);

/*
 * The n characters of base64 or base64url at text, padded or not, decoded
 * in place: 0 and *len; 1 when they do not decode; -1 when memory ran out.
 */
int na_base64_decode(uint8_t *text, size_t n, size_t *len);

/* the length of the well-formed UTF-8 sequence at p, or 0 */
size_t na_utf8_len(const uint8_t *p, size_t n);

/*
 * JSON written by hand into memory the caller owns, with no allocation:
 * len counts every byte, written or not, so that a buffer too short says
 * the size it needs.
 */
typedef struct {
    char                      *buf;
    size_t                     size;
    size_t                     len;
    int                        first;   /* no key written at this level */
} na_out_t;

void na_out_raw(na_out_t *o, const char *s, size_t n);
void na_out_key(na_out_t *o, const char *key);
void na_out_text(na_out_t *o, const uint8_t *p, size_t n);
void na_out_hex(na_out_t *o, const uint8_t *p, size_t n);
void na_out_int(na_out_t *o, int64_t n);
void na_out_base64(na_out_t *o, const uint8_t *p, size_t n);

/* JSON strings as jansson values, or NULL when memory ran out */
struct json_t *na_json_hex(const uint8_t *p, size_t len);
struct json_t *na_json_base64url(const uint8_t *src, size_t len);
struct json_t *na_json_text(const uint8_t *p, size_t n);

/*
 * SHA-256 of prefix (prefix_len bytes, may be 0), then of each part as its
 * length (four bytes, big-endian) and its bytes, so that no two lists of
 * parts share a digest: the keys of the chain cache and of the memo.  0, or
 * -1 when it cannot be computed.
 */
int na_sha256_parts(const uint8_t *prefix, size_t prefix_len,
    const na_bytes_t *parts, size_t n, uint8_t *digest);


/*
 * na_token.c: a signature with a token key over len bytes at tbs, raw
 * (r || s for ECDSA) into sig (256 bytes): 0, or -1.
 */
int na_token_signature(const nitro_attest_token_key_t *key,
    const uint8_t *tbs, size_t len, uint8_t *sig, size_t *siglen);


/* na_cbor.c: the one reader of untrusted CBOR. */

typedef enum {
    NA_CBOR_UINT,
    NA_CBOR_NEGINT,            /* value is n where the integer is -1 - n */
    NA_CBOR_BYTES,             /* definite length, data/len set */
    NA_CBOR_TEXT,              /* definite length, data/len set */
    NA_CBOR_CHUNKED,           /* an indefinite-length byte or text string */
    NA_CBOR_ARRAY,
    NA_CBOR_MAP,
    NA_CBOR_TAG,
    NA_CBOR_NULL,
    NA_CBOR_BOOL,              /* value 0 (false) or 1 (true) */
    NA_CBOR_SIMPLE,            /* undefined, floats */
    NA_CBOR_BREAK
} na_cbor_type_e;

typedef struct {
    na_cbor_type_e             type;
    int                        indefinite;  /* arrays and maps */
    uint64_t                   value;       /* int, tag, item count */
    const uint8_t             *data;
    size_t                     len;
} na_cbor_item_t;

typedef struct {
    const uint8_t             *pos;
    const uint8_t             *end;
} na_cbor_reader_t;

void na_cbor_init(na_cbor_reader_t *r, const uint8_t *p, size_t len);
/* Reads one item head (and a definite string's bytes): 0, or -1. */
int na_cbor_next(na_cbor_reader_t *r, na_cbor_item_t *item);
/* Skips what an item already read contains (array, map, tag, chunks). */
int na_cbor_skip_contents(na_cbor_reader_t *r, const na_cbor_item_t *item,
    unsigned depth);
/* Reads and skips one whole item. */
int na_cbor_skip(na_cbor_reader_t *r, unsigned depth);
/*
 * Container iteration: for a definite container, counts down *left; for an
 * indefinite one, consumes the break.  Returns 1 when another entry follows,
 * 0 at the end, -1 on error.
 */
int na_cbor_more(na_cbor_reader_t *r, const na_cbor_item_t *container,
    uint64_t *left);


/* na_root.c */

struct nitro_attest_root_s {
    X509                      *cert;
    X509_STORE                *store;
    unsigned char             *der;
    size_t                     der_len;
    uint8_t                    fingerprint[32];  /* SHA-256 of der */
};


/* The validity window of a certificate path, in ms (whole seconds). */
typedef struct {
    int64_t                    not_before_ms;   /* latest notBefore */
    int64_t                    not_after_ms;    /* earliest notAfter */
} na_window_t;


/*
 * na_chain_cache.c: the chain cache.  Bundles whose path to a root
 * verified, by the digest of their certificates' DER, and leaves whose
 * path verified under a cached bundle, by the digest of their DER.
 */

typedef struct na_chain_entry_s  na_chain_entry_t;
typedef struct na_leaf_entry_s   na_leaf_entry_t;

int na_chain_cache_key(const na_bytes_t *ders, size_t n, uint8_t *key);
na_chain_entry_t *na_chain_cache_lookup(nitro_attest_chain_cache_t *cache,
    const uint8_t *key);
STACK_OF(X509) *na_chain_entry_cabundle(const na_chain_entry_t *e);
int na_chain_entry_usable(nitro_attest_chain_cache_t *cache,
    const na_chain_entry_t *e, const nitro_attest_root_t *root);
X509_STORE *na_chain_entry_store(const na_chain_entry_t *e, na_window_t *w);
void na_chain_cache_insert(nitro_attest_chain_cache_t *cache,
    const uint8_t *key, STACK_OF(X509) *cabundle,
    const nitro_attest_root_t *root, const na_window_t *w);

/*
 * Leaves: a parsed certificate by the digest of its DER, and, once its
 * path verified, the bundle and root it verified under and the window of
 * that path.  A new document from a known enclave then costs its COSE
 * signature only.
 */
na_leaf_entry_t *na_leaf_cache_lookup(nitro_attest_chain_cache_t *cache,
    const uint8_t *key);
X509 *na_leaf_entry_cert(const na_leaf_entry_t *e);
int na_leaf_entry_verified(const na_leaf_entry_t *e,
    const nitro_attest_root_t *root, const uint8_t *chain_key,
    na_window_t *w);
void na_leaf_cache_insert(nitro_attest_chain_cache_t *cache,
    const uint8_t *key, X509 *leaf, const nitro_attest_root_t *root,
    const uint8_t *chain_key, const na_window_t *w);


/* na_document.c: COSE_Sign1 and the attestation payload. */

typedef struct {
    na_bytes_t                 protected_hdr;  /* bstr contents */
    na_bytes_t                 payload;        /* bstr contents */
    na_bytes_t                 signature;
    na_bytes_t                 module_id;
    na_bytes_t                 digest;
    uint64_t                   timestamp;
    nitro_attest_kind_e        kind;           /* pcrs or nitrotpm_pcrs */
    uint32_t                   pcr_mask;
    na_bytes_t                 pcr[NITRO_ATTEST_PCR_COUNT];  /* either */
    na_bytes_t                 certificate;
    int                        has_public_key;
    int                        has_user_data;
    int                        has_nonce;
    na_bytes_t                 public_key;
    na_bytes_t                 user_data;
    na_bytes_t                 nonce;
    X509                      *leaf;
    STACK_OF(X509)            *cabundle;       /* root first */
    na_bytes_t                 cabundle_ders;  /* the array's entries */
    size_t                     cabundle_n;     /* how many */
    na_bytes_t                 root_der;       /* cabundle[0] as carried */
    int                        chain_keyed;    /* chain_key is set */
    uint8_t                    chain_key[32];  /* of the cabundle bytes */
    na_chain_entry_t          *chain;          /* cached bundle, or NULL */
    int                        structure_only; /* no X509 parsed (peek) */
    int                        leaf_keyed;     /* leaf_key is set */
    uint8_t                    leaf_key[32];   /* of the certificate DER */
    na_leaf_entry_t           *leaf_entry;     /* cached leaf, or NULL */
} na_document_t;

/*
 * root and cache may be NULL.  The CBOR is read whole before any
 * certificate is parsed; a cabundle[0] equal to the root, or a whole
 * cabundle found in the cache, is then taken parsed rather than parsed
 * again.
 */
nitro_attest_reason_e na_document_parse(na_document_t *doc,
    const nitro_attest_root_t *root, nitro_attest_chain_cache_t *cache,
    const uint8_t *bytes, size_t len);
/* na_document_parse() in two steps: the COSE array, then what it holds */
nitro_attest_reason_e na_document_envelope(na_document_t *doc,
    const uint8_t *bytes, size_t len);
nitro_attest_reason_e na_document_contents(na_document_t *doc,
    const nitro_attest_root_t *root, nitro_attest_chain_cache_t *cache);
/*
 * The envelope and the fields, no certificate parsed (peeks, bindings):
 * NITRO_ATTEST_UNSUPPORTED_ALGORITHM still fills the fields.
 */
nitro_attest_reason_e na_document_structure(na_document_t *doc,
    const uint8_t *bytes, size_t len);
void na_document_free(na_document_t *doc);


/* na_chain.c: signature and chain. */

nitro_attest_reason_e na_verify_signature(const na_document_t *doc);
nitro_attest_reason_e na_verify_chain(const nitro_attest_root_t *root,
    nitro_attest_chain_cache_t *cache, const na_document_t *doc,
    na_window_t *w);
int na_window_narrow(na_window_t *w, X509 *x);
int na_window_holds(const na_window_t *w, int64_t now_ms);
int64_t na_asn1_time_ms(const ASN1_TIME *t);


/* na_libctx.c: the library context certificates live in. */

OSSL_LIB_CTX *na_libctx(void);
OSSL_LIB_CTX *na_pkey_libctx(const EVP_PKEY *pkey);


/* na_memo.c: the verification memo. */

typedef struct {
    nitro_attest_reason_e      reason;   /* of structure, signature, path */
    na_window_t                window;   /* when reason is OK */
    const na_document_t       *doc;      /* measurements, when OK */
} na_memo_result_t;

int na_memo_key(const nitro_attest_root_t *root, const na_document_t *doc,
    uint8_t *key);
int na_memo_lookup(nitro_attest_memo_t *memo, const uint8_t *key,
    na_memo_result_t *res);
void na_memo_insert(nitro_attest_memo_t *memo, const uint8_t *key,
    nitro_attest_reason_e reason, const na_window_t *window,
    const na_document_t *doc);


/* na_verdict.c: filling a verdict. */

void na_verdict_reset(nitro_attest_verdict_t *v, int64_t now_ms);
nitro_attest_reason_e na_verdict_finish(nitro_attest_verdict_t *v,
    nitro_attest_reason_e reason);
int na_verdict_put(nitro_attest_verdict_t *v, nitro_attest_span_t *s,
    const void *p, size_t len);


/* na_policy.c */

typedef struct {
    const char                *name;
    int                        allowed;      /* the policy verdict */
    nitro_attest_reason_e      reason;       /* debug, denied, pcr mismatch */
} na_policy_result_t;

void na_policy_evaluate(const nitro_attest_policy_t *policy, int allow_debug,
    const na_document_t *doc, na_policy_result_t *res);


/* na_extension.c */

struct nitro_attest_extension_s {
    ASN1_OBJECT               *oid;
    nitro_attest_format_e      format;
};

#pragma GCC visibility pop

#endif /* NA_INTERNAL_H */
