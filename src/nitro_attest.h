/*
 * nitro_attest.h: the whole public API of the verification core.
 *
 * Untrusted bytes (a client certificate or a bare COSE_Sign1 document) and a
 * time go in; a verdict comes out.  The core never reads the clock, never
 * touches the network and never calls nginx.  Everything it returns is owned
 * by the caller: verdicts are plain structs that can be copied with memcpy.
 *
 * In the order a server uses it: the vocabulary (limits, reason codes and
 * the other enums, their names), the verdict, then load (root, policy,
 * extension, caches, configuration), verify, read a verdict back and judge
 * it over time, render it as the JSON event, sign it as a token; the
 * enclave's side (the NSM); the tools' helpers last.
 */

#ifndef NITRO_ATTEST_H
#define NITRO_ATTEST_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

/* the core is private to whatever links it (an nginx module, the CLI) */
#pragma GCC visibility push(hidden)


#define NITRO_ATTEST_PCR_COUNT       32
#define NITRO_ATTEST_PCR_MAX_LEN     64
#define NITRO_ATTEST_FIELD_MAX       1024   /* user_data, nonce, public_key */
#define NITRO_ATTEST_MODULE_ID_MAX   1024
#define NITRO_ATTEST_POLICY_NAME_MAX 128
#define NITRO_ATTEST_PAYLOAD_MAX     16384
#define NITRO_ATTEST_CABUNDLE_MAX    16     /* AWS's carry 4 */

#define NITRO_ATTEST_DEFAULT_OID     "1.3.6.1.5.5.7.1.35"
#define NITRO_ATTEST_CMW_TYPE        "application/aws-nitro-document"
#define NITRO_ATTEST_DEFAULT_MAX_AGE_MS     (300 * 1000)
#define NITRO_ATTEST_DEFAULT_CLOCK_SKEW_MS  (60 * 1000)


/*
 * Reason codes, in the order the checks run (extension, document,
 * signature, path, validity, freshness, policy, binding): the first
 * failing check gives the reason.
 */
typedef enum {
    NITRO_ATTEST_OK = 0,
    NITRO_ATTEST_NO_CERTIFICATE,
    NITRO_ATTEST_NO_EXTENSION,
    NITRO_ATTEST_MALFORMED_EXTENSION,
    NITRO_ATTEST_MALFORMED_DOCUMENT,
    NITRO_ATTEST_UNSUPPORTED_ALGORITHM,
    NITRO_ATTEST_BAD_SIGNATURE,
    NITRO_ATTEST_UNTRUSTED_ROOT,
    NITRO_ATTEST_CHAIN_INVALID,
    NITRO_ATTEST_CERTIFICATE_EXPIRED,
    NITRO_ATTEST_STALE,
    NITRO_ATTEST_FUTURE,
    NITRO_ATTEST_DEBUG_ENCLAVE,
    NITRO_ATTEST_DENIED,
    NITRO_ATTEST_PCR_MISMATCH,
    NITRO_ATTEST_BINDING_MISMATCH,
    NITRO_ATTEST_KEY_NOT_PROVEN,    /* the TLS peer did not prove its key */
    NITRO_ATTEST_ROLLBACK,          /* an older version of a service than
                                       its instance proved before (a
                                       server's rule, nitro_attest_rollback) */
    NITRO_ATTEST_INTERNAL_ERROR,
    NITRO_ATTEST_EXPIRED,           /* a connection's verdict outlived its
                                       time (nitro_attest_verdict_expire) */
    NITRO_ATTEST_REASON_COUNT
} nitro_attest_reason_e;

/*
 * The reasons a verification (a handshake) can give come first: "expired"
 * is said of a verdict later, so counters of handshakes stop before it.
 */
#define NITRO_ATTEST_HANDSHAKE_REASONS  NITRO_ATTEST_EXPIRED

typedef enum {
    NITRO_ATTEST_STATUS_NONE = 0,   /* no certificate, or nothing checked */
    NITRO_ATTEST_STATUS_SUCCESS,
    NITRO_ATTEST_STATUS_FAILED
} nitro_attest_status_e;

typedef enum {
    NITRO_ATTEST_BINDING_NONE = 0,  /* skipped: bare document, no cert */
    NITRO_ATTEST_BINDING_PUBLIC_KEY,
    NITRO_ATTEST_BINDING_USER_DATA_SPKI,
    NITRO_ATTEST_BINDING_USER_DATA_SHA256,
    NITRO_ATTEST_BINDING_USER_DATA_SHA384
} nitro_attest_binding_e;

typedef enum {
    NITRO_ATTEST_FORMAT_CMW = 0,    /* extnValue = DER OCTET STRING of CMW */
    NITRO_ATTEST_FORMAT_RAW         /* extnValue = COSE_Sign1 bytes */
} nitro_attest_format_e;

/* What a document or a policy set measures. */
typedef enum {
    NITRO_ATTEST_KIND_ENCLAVE = 0,  /* pcrs: an enclave image */
    NITRO_ATTEST_KIND_NITROTPM      /* nitrotpm_pcrs: an EC2 instance */
} nitro_attest_kind_e;

#define NITRO_ATTEST_NITROTPM_PCR_COUNT  24

/*
 * Where a server's verdict came from: its own verdict cache (by
 * certificate, nitro_attest_verdict_key()) off, missed or hit.  The chain
 * cache of the core is another thing (nitro_attest_chain_cache_t).
 */
typedef enum {
    NITRO_ATTEST_CACHE_OFF = 0,
    NITRO_ATTEST_CACHE_MISS,
    NITRO_ATTEST_CACHE_HIT
} nitro_attest_cache_e;

/*
 * The names of the enums, as events, variables, metrics, directives and
 * the CLI spell them.  A reason out of range is "internal_error"; a
 * binding without a name (NONE) or a kind out of range is NULL.  The
 * severity of a verdict is "INFO" for a success, else "CRITICAL" or
 * "WARNING" by its reason.
 */
const char *nitro_attest_reason_name(nitro_attest_reason_e reason);
const char *nitro_attest_status_name(nitro_attest_status_e status);
const char *nitro_attest_binding_name(nitro_attest_binding_e binding);
const char *nitro_attest_kind_name(nitro_attest_kind_e kind);
const char *nitro_attest_cache_name(nitro_attest_cache_e cache);
/* "CRITICAL" or "WARNING": the severity of a failure for that reason */
const char *nitro_attest_reason_severity(nitro_attest_reason_e reason);

/* Name parsers shared by the CLI and nginx directives: 0 ok, -1 unknown. */
int nitro_attest_binding_parse(const char *name, nitro_attest_binding_e *out);
int nitro_attest_format_parse(const char *name, nitro_attest_format_e *out);
int nitro_attest_kind_parse(const char *name, nitro_attest_kind_e *out);
/* nginx time syntax ("30s", "5m", "1h 30m", "250ms"): ms, or -1 */
int64_t nitro_attest_parse_duration(const char *text);


/* Verdict flags. */
#define NITRO_ATTEST_F_CERT            0x0001  /* cert_sha256 is set */
#define NITRO_ATTEST_F_DOC             0x0002  /* doc_sha384 is set */
#define NITRO_ATTEST_F_MEASURED        0x0004  /* signature and chain held */
#define NITRO_ATTEST_F_USER_DATA       0x0008  /* user_data present */
#define NITRO_ATTEST_F_NONCE           0x0010  /* nonce present */
#define NITRO_ATTEST_F_POLICY_JUDGED   0x0020  /* policy_allowed is set */
#define NITRO_ATTEST_F_POLICY_ALLOWED  0x0040
#define NITRO_ATTEST_F_RESUMED         0x0080
/* set by a TLS server once the client proved it holds the certificate's
 * key (its handshake completed); never cached, never in a ticket */
#define NITRO_ATTEST_F_KEY_PROVEN      0x0100
/* set by a server: an older version of a service than its instance
 * proved before (service, rollback_from, rollback_to are set) */
#define NITRO_ATTEST_F_ROLLBACK        0x0200

typedef struct {
    uint16_t                   off;
    uint16_t                   len;
} nitro_attest_span_t;

#define NITRO_ATTEST_VERDICT_DATA_MAX                                        \
    (NITRO_ATTEST_PCR_COUNT * NITRO_ATTEST_PCR_MAX_LEN                       \
     + NITRO_ATTEST_MODULE_ID_MAX + 2 * NITRO_ATTEST_FIELD_MAX               \
     + 2 * NITRO_ATTEST_POLICY_NAME_MAX)

/*
 * The verdict.  Fixed-size header, then variable fields packed at the front
 * of data[]: only nitro_attest_verdict_size() bytes are meaningful, so a
 * copy of that prefix (into a connection pool, a session ticket, a shared
 * cache) is a complete verdict.
 */
typedef struct {
    uint32_t                   size;          /* header + used data */
    uint8_t                    status;        /* nitro_attest_status_e */
    uint8_t                    reason;        /* nitro_attest_reason_e */
    uint8_t                    binding;       /* nitro_attest_binding_e */
    uint8_t                    cache;         /* nitro_attest_cache_e */
    uint32_t                   flags;         /* NITRO_ATTEST_F_* */
    uint32_t                   pcr_mask;      /* bit n: PCRn present */
    uint32_t                   verify_us;     /* set by the caller */
    uint8_t                    kind;          /* nitro_attest_kind_e, when
                                                 measured */
    uint8_t                    reserved[3];
    int64_t                    time_ms;       /* verification time */
    int64_t                    timestamp_ms;  /* document timestamp */
    int64_t                    not_after_ms;  /* earliest notAfter of chain */
    int64_t                    rollback_from; /* NITRO_ATTEST_F_ROLLBACK: */
    int64_t                    rollback_to;   /* the versions, highest and
                                                 this one */
    uint8_t                    cert_sha256[32];
    uint8_t                    doc_sha384[48];
    nitro_attest_span_t        pcr[NITRO_ATTEST_PCR_COUNT];
    nitro_attest_span_t        module_id;
    nitro_attest_span_t        user_data;
    nitro_attest_span_t        nonce;
    nitro_attest_span_t        policy;        /* matched allow or deny set */
    nitro_attest_span_t        service;       /* NITRO_ATTEST_F_ROLLBACK */
    uint8_t                    data[NITRO_ATTEST_VERDICT_DATA_MAX];
} nitro_attest_verdict_t;

#define nitro_attest_verdict_size(v)  ((size_t) (v)->size)
#define nitro_attest_span_ptr(v, s)   ((v)->data + (s).off)


/*
 * Load.  Errors of the loaders are written to err (one line, names the
 * file).
 */

/* The pinned root: the one and only trust anchor. */
typedef struct nitro_attest_root_s       nitro_attest_root_t;

nitro_attest_root_t *nitro_attest_root_default(char *err, size_t errlen);
nitro_attest_root_t *nitro_attest_root_load(const char *path, char *err,
    size_t errlen);
void nitro_attest_root_free(nitro_attest_root_t *root);
/* 1 when root is AWS Nitro Enclaves Root-G1 (built in or from a file) */
int nitro_attest_root_is_aws(const nitro_attest_root_t *root);

/* A loaded policy file: allow and deny sets of PCR values. */
typedef struct nitro_attest_policy_s     nitro_attest_policy_t;

nitro_attest_policy_t *nitro_attest_policy_load(const char *path, char *err,
    size_t errlen);
nitro_attest_policy_t *nitro_attest_policy_parse(const char *json, size_t len,
    const char *source, char *err, size_t errlen);
void nitro_attest_policy_free(nitro_attest_policy_t *policy);
size_t nitro_attest_policy_allow_count(const nitro_attest_policy_t *policy);
const char *nitro_attest_policy_allow_name(const nitro_attest_policy_t *policy,
    size_t i);
/* expect_every of allow set i in milliseconds, 0 when not set */
int64_t nitro_attest_policy_allow_expect_every(
    const nitro_attest_policy_t *policy, size_t i);
/*
 * The release allow set i admits ("service" and "version"): the service
 * name, *version set, or NULL when the set names none.
 */
const char *nitro_attest_policy_allow_service(
    const nitro_attest_policy_t *policy, size_t i, int64_t *version);
/* the index of the allow set called name (len bytes), or (size_t) -1 */
size_t nitro_attest_policy_allow_find(const nitro_attest_policy_t *policy,
    const char *name, size_t len);
/* SHA-256 of the policy file contents: identifies a policy generation */
const uint8_t *nitro_attest_policy_digest(const nitro_attest_policy_t *policy);

/*
 * The lint of a loaded policy: what loads but is likely not what was
 * meant.  warn() is called once per warning, allow_debug first, then set
 * by set in file order (allow, then deny), with the name of the set it is
 * about ("-" for the file as a whole) and a one-line text.  Returns the
 * number of warnings.  The CLI's `policy check` prints them, the nginx
 * module logs them at `nginx -t`.
 */
typedef void (*nitro_attest_lint_pt)(void *data, const char *set,
    const char *text);

size_t nitro_attest_policy_lint(const nitro_attest_policy_t *policy,
    nitro_attest_lint_pt warn, void *data);

/* Where the document travels in the client certificate. */
typedef struct nitro_attest_extension_s  nitro_attest_extension_t;

/* oid NULL means the default; returns NULL and fills err on a bad OID */
nitro_attest_extension_t *nitro_attest_extension_new(const char *oid,
    nitro_attest_format_e format, char *err, size_t errlen);
void nitro_attest_extension_free(nitro_attest_extension_t *ext);
/* the OID the document travels under (ext NULL: the default); NULL only
 * when memory ran out */
const ASN1_OBJECT *nitro_attest_extension_oid(
    const nitro_attest_extension_t *ext);

/*
 * The chain cache: CA bundles already verified to the root, capacity
 * bundles, least recently used evicted (per process, not thread-safe).  A
 * hit skips parsing and verifying the bundle's certificates again; it is
 * used only with the root it was verified against and while every
 * certificate of the bundle is within its validity.
 */
typedef struct nitro_attest_chain_cache_s  nitro_attest_chain_cache_t;

nitro_attest_chain_cache_t *nitro_attest_chain_cache_new(size_t capacity);
/*
 * The same with room for leaves leaf certificates (0: none) besides the
 * bundles: a leaf whose path verified under a cached bundle is not
 * verified again, so a new document from a known enclave costs its COSE
 * signature only.  nitro_attest_chain_cache_new() keeps 4 leaves a bundle.
 */
nitro_attest_chain_cache_t *nitro_attest_chain_cache_new_sized(
    size_t capacity, size_t leaves);
void nitro_attest_chain_cache_free(nitro_attest_chain_cache_t *cache);
void nitro_attest_chain_cache_stats(const nitro_attest_chain_cache_t *cache,
    uint64_t *hits, uint64_t *misses);

/*
 * The verification memo: signed documents already verified, capacity
 * documents, least recently used evicted (per process, not thread-safe).
 * For each it keeps what the structure, signature and path checks
 * concluded (and, when they held, the measurements), keyed by the root
 * and the signed bytes (protected header, payload, signature), so a
 * document presented again is not verified again, whatever certificate or
 * unprotected header it arrives in.  Validity windows, freshness, policy
 * and binding are judged again at each use.  With a memo a server's cost
 * for a repeated forgery or replayed certificate is a hash and a lookup.
 */
typedef struct nitro_attest_memo_s  nitro_attest_memo_t;

nitro_attest_memo_t *nitro_attest_memo_new(size_t capacity);
void nitro_attest_memo_free(nitro_attest_memo_t *memo);
void nitro_attest_memo_stats(const nitro_attest_memo_t *memo, uint64_t *hits,
    uint64_t *misses);

/* What a verification is judged by; nitro_attest_config_init() sets the
 * defaults (no policy, no cache, binding public_key). */
typedef struct {
    const nitro_attest_root_t       *root;       /* required */
    const nitro_attest_policy_t     *policy;     /* NULL: report PCRs only */
    const nitro_attest_extension_t  *extension;  /* NULL: the default */
    nitro_attest_chain_cache_t      *chain_cache; /* NULL: none */
    nitro_attest_memo_t             *memo;       /* NULL: none */
    int64_t                          max_age_ms;
    int64_t                          clock_skew_ms;
    nitro_attest_binding_e           binding;
    int                              allow_debug; /* or the policy's */
} nitro_attest_config_t;

void nitro_attest_config_init(nitro_attest_config_t *cf);

/*
 * SHA-256 of everything in cf that a verdict depends on: the root, the
 * policy's contents, the extension, max age, clock skew, binding and the
 * debug rule.  A cached verdict is valid only under the same digest.
 */
int nitro_attest_config_digest(const nitro_attest_config_t *cf,
    uint8_t digest[32]);


/*
 * Verify.  Each fills *v completely (even on failure) and returns
 * v->reason.  now_ms is the verification time in ms since the epoch.
 */

nitro_attest_reason_e nitro_attest_verify_cert(const nitro_attest_config_t *cf,
    X509 *cert, int64_t now_ms, nitro_attest_verdict_t *v);
nitro_attest_reason_e nitro_attest_verify_cert_der(
    const nitro_attest_config_t *cf, const uint8_t *der, size_t len,
    int64_t now_ms, nitro_attest_verdict_t *v);
/* bind_cert NULL: the binding check is skipped (v->binding is NONE) */
nitro_attest_reason_e nitro_attest_verify_document(
    const nitro_attest_config_t *cf, const uint8_t *doc, size_t len,
    X509 *bind_cert, int64_t now_ms, nitro_attest_verdict_t *v);

/*
 * The document carried by cert per ext (NULL: default).  On success *doc
 * points into the certificate's own storage: valid while cert lives.
 */
nitro_attest_reason_e nitro_attest_cert_document(
    const nitro_attest_extension_t *ext, X509 *cert, const uint8_t **doc,
    size_t *len);

/*
 * 1 when the only unknown critical extension of leaf is the attestation one
 * (ext NULL: the default) and no certificate of untrusted (the rest of what
 * a TLS client sent; may be NULL) has one: a server may then have OpenSSL
 * ignore unknown critical extensions for this chain.
 */
int nitro_attest_only_critical(const nitro_attest_extension_t *ext,
    X509 *leaf, STACK_OF(X509) *untrusted);

/*
 * A certificate parsed where the core verifies certificates (see
 * na_libctx.c: below OpenSSL 3.2 a view of the default provider, else
 * OpenSSL's default context), its key decoded only when of a kind that
 * costs little to decode (else X509_get0_pubkey() is NULL); exactly the
 * DER given, else NULL.  nitro_attest_openssl_context() says which
 * context: "view" or "default", and *why (may be NULL) the reason for
 * "default".
 */
X509 *nitro_attest_cert_parse(const uint8_t *der, size_t len);
const char *nitro_attest_openssl_context(const char **why);


/*
 * The verdict, read back and judged over time.
 */

/*
 * 0 when len bytes at p are a whole, consistent verdict (a copy read back
 * from a session ticket or a cache): size, enums and every span in bounds.
 */
int nitro_attest_verdict_check(const void *p, size_t len);

/*
 * A server's judgement over time: the instance that attested v had proved
 * version from of service (len bytes) before, and v is of version to, an
 * older one.  The event then carries "rollback".  0, or -1 when service
 * does not fit (longer than NITRO_ATTEST_POLICY_NAME_MAX).
 */
int nitro_attest_verdict_rollback(nitro_attest_verdict_t *v,
    const char *service, size_t len, int64_t from, int64_t to);

/* A verdict that says "no certificate was presented" (status NONE). */
void nitro_attest_verdict_none(nitro_attest_verdict_t *v, int64_t now_ms);

/* "INFO", "WARNING" or "CRITICAL": how grave the verdict is for a SIEM */
const char *nitro_attest_severity(const nitro_attest_verdict_t *v);

/*
 * Whole seconds from the document timestamp to the verification, truncated
 * toward zero (negative for a document from the future); saturates, as a
 * verdict read back from a ticket or a cache may hold any two times.
 */
int64_t nitro_attest_verdict_age_s(const nitro_attest_verdict_t *v);

/*
 * When a verdict stops serving a connection: the chain's earliest notAfter,
 * or reattest_ms (0: no limit) after the verification, whichever comes
 * first.  A resumed session keeps its full handshake's time, so it cannot
 * outlive the deadline either.
 */
int64_t nitro_attest_verdict_expiry(const nitro_attest_verdict_t *v,
    int64_t reattest_ms);

/*
 * The verdict as of now_ms: a success whose expiry (as above) has come
 * becomes FAILED with reason "expired", its measurements kept, so that
 * whatever reports it from then on (variables, headers, token, event) no
 * longer vouches for it; any other verdict stays as it is.
 */
void nitro_attest_verdict_expire(nitro_attest_verdict_t *v,
    int64_t reattest_ms, int64_t now_ms);

/*
 * The key under which a verdict for cert is cached: SHA-256 over the
 * configuration digest (nitro_attest_config_digest()) and the certificate's
 * own SHA-256.  0, or -1 when a digest cannot be computed.
 */
int nitro_attest_verdict_key(const uint8_t config_digest[32], X509 *cert,
    uint8_t key[32]);


/*
 * The event: the verdict as one line of JSON, every key always present in
 * a fixed order, null for what is not known, no newline, into buf: returns
 * its length, which is at most NITRO_ATTEST_EVENT_MAX.  It is complete and
 * NUL-terminated when the length is below size; otherwise nothing past
 * size was written, and the call can be repeated with a larger buffer
 * (buf NULL, size 0 only measures).  Allocates nothing.
 */
#define NITRO_ATTEST_EVENT_MAX  32768

/*
 * Where a server verified a peer, for the keys that follow "kind": the
 * direction ("client" or "upstream"), the client's address, the server's
 * name, the node's host name and the upstream's address, then the
 * verdict's rollback (nitro_attest_verdict_rollback(), else null).  A text
 * whose data is NULL is rendered as null.  Without it (NULL) those keys
 * are left out, as in the command-line tool's events.  Texts longer than
 * NITRO_ATTEST_WHERE_TEXT_MAX are cut there.
 */
#define NITRO_ATTEST_WHERE_TEXT_MAX  256

typedef struct {
    const char                *data;
    size_t                     len;
} nitro_attest_text_t;

typedef struct {
    const char                *direction;
    nitro_attest_text_t        client_addr;
    nitro_attest_text_t        server_name;
    nitro_attest_text_t        host;
    nitro_attest_text_t        upstream_addr;
} nitro_attest_where_t;

size_t nitro_attest_event_render(const nitro_attest_verdict_t *v,
    const nitro_attest_where_t *where, char *buf, size_t size);

/* the event of nitro_attest_event_render(), malloc()ed; NULL only when
 * memory ran out */
char *nitro_attest_event_json(const nitro_attest_verdict_t *v);


/*
 * The same event as an OCSF 1.8.0 Authentication event (class 3002), for
 * security lakes: the outcome in OCSF's attributes, the event above in
 * "unmapped", its last key, so that the line ends with that object's
 * brace and then its own (nitro_attest_event_extend() takes tail 2).
 * version is the product's, for metadata.product.version.  At most
 * NITRO_ATTEST_OCSF_MAX bytes; otherwise as nitro_attest_event_render().
 */
#define NITRO_ATTEST_OCSF_VERSION  "1.8.0"
#define NITRO_ATTEST_OCSF_MAX      (NITRO_ATTEST_EVENT_MAX + 2048)

size_t nitro_attest_event_render_ocsf(const nitro_attest_verdict_t *v,
    const nitro_attest_where_t *where, const char *version, char *buf,
    size_t size);

/*
 * The event log's evidence: len bytes of a rendered event at buf gain
 * "evidence": {"document", "certificate"} (standard base64, null for what
 * is absent) before their last tail bytes (1: a JSON event's closing
 * brace; 2: an OCSF event's, so that it lands in "unmapped").  Returns
 * the new length, or 0 when it does not fit in size (buf then holds the
 * event as it was).
 */
size_t nitro_attest_event_evidence(char *buf, size_t len, size_t size,
    size_t tail, const uint8_t *doc, size_t doc_len, const uint8_t *cert,
    size_t cert_len);

/*
 * Signed attestation tokens: a verdict that held, as JWT claims in a JWS
 * compact serialization (RFC 7515) for upstreams, signed with an EC P-256
 * (ES256), EC P-384 (ES384) or Ed25519 (EdDSA) key whose public JWK (RFC
 * 7517) names it by its RFC 7638 thumbprint (kid).
 */

#define NITRO_ATTEST_TOKEN_ISSUER       "nitro-attest"
#define NITRO_ATTEST_TOKEN_LIFETIME_MS  (300 * 1000)
#define NITRO_ATTEST_TOKEN_JTI_LEN      16
#define NITRO_ATTEST_EAR_PROFILE        "tag:github.com,2023:veraison/ear"

typedef struct nitro_attest_token_key_s  nitro_attest_token_key_t;

typedef struct {
    const char                *issuer;       /* iss */
    int64_t                    iat;          /* seconds since the epoch */
    int64_t                    exp;          /* seconds since the epoch */
    uint8_t                    jti[NITRO_ATTEST_TOKEN_JTI_LEN];
} nitro_attest_token_claims_t;

/* a PEM private key file; NULL and err (naming the file) when unusable */
nitro_attest_token_key_t *nitro_attest_token_key_load(const char *path,
    char *err, size_t errlen);
void nitro_attest_token_key_free(nitro_attest_token_key_t *key);
/* "ES256", "ES384" or "EdDSA" */
const char *nitro_attest_token_key_alg(const nitro_attest_token_key_t *key);
/* the RFC 7638 SHA-256 thumbprint of the public JWK, base64url */
const char *nitro_attest_token_key_kid(const nitro_attest_token_key_t *key);

/* the same thumbprint of any EC P-256, EC P-384 or Ed25519 public key,
 * into kid (NITRO_ATTEST_KID_LEN + 1 bytes): 0, or -1 */
#define NITRO_ATTEST_KID_LEN  43
int nitro_attest_key_kid(EVP_PKEY *pkey, char *kid);

/*
 * The JWK Set of n keys' public JWKs (with kid, alg and "use": "sig"),
 * each key once however often it is given; malloc()ed, NULL when memory
 * ran out.
 */
char *nitro_attest_token_jwks(const nitro_attest_token_key_t *const *keys,
    size_t n);

/*
 * The claims of a token issued at now_ms: iat, a fresh random jti, and exp
 * = min(iat + lifetime, expires_ms), the verdict's expiry, in whole
 * seconds, so a token never outlives its verdict.  0, or -1 when the
 * random generator failed.
 */
int nitro_attest_token_claims_init(nitro_attest_token_claims_t *claims,
    const char *issuer, int64_t now_ms, int64_t lifetime_ms,
    int64_t expires_ms);

/*
 * The claims JSON of a SUCCESS verdict that names its client certificate
 * (the token is bound to it, RFC 8705 "cnf"), and the token signing it.
 * malloc()ed; NULL for any other verdict, when memory ran out or signing
 * failed (the OpenSSL error queue then says why).
 */
char *nitro_attest_token_claims_json(const nitro_attest_verdict_t *v,
    const nitro_attest_token_claims_t *claims);
char *nitro_attest_token_sign(const nitro_attest_token_key_t *key,
    const nitro_attest_verdict_t *v,
    const nitro_attest_token_claims_t *claims);


/*
 * A tamper-evident event log: each writer links its lines into a hash
 * chain ("chain": its id, "seq": 1, 2, ..., "prev": the hex SHA-256 of
 * its previous line as written, 64 zeros for the first) and seals it
 * with checkpoint lines, links themselves, carrying an Ed25519 signature
 * over the text nitro_attest_checkpoint_text() spells.
 */
#define NITRO_ATTEST_CHAIN_ID_MAX     160
#define NITRO_ATTEST_CHECKPOINT_MAX   512
#define NITRO_ATTEST_CHECKPOINT_TYPE  "nitro_attest_checkpoint"

typedef struct {
    char                       id[NITRO_ATTEST_CHAIN_ID_MAX + 1];
    uint64_t                   seq;         /* of the last line; 0: none */
    uint64_t                   unsealed;    /* lines since the checkpoint */
    uint8_t                    prev[32];    /* SHA-256 of the last line */
} nitro_attest_chain_t;

/* id: letters, digits and ".:_/-" only, at most NITRO_ATTEST_CHAIN_ID_MAX
 * characters: 0, or -1 */
int nitro_attest_chain_init(nitro_attest_chain_t *chain, const char *id);

/*
 * The chain's keys put into an event of len bytes at buf before its last
 * tail bytes (as nitro_attest_event_evidence()), the line becoming the
 * chain's last: its new length, or 0 when it does not fit (the chain and
 * buf then stay as they were).
 */
size_t nitro_attest_chain_link(nitro_attest_chain_t *chain, char *buf,
    size_t len, size_t size, size_t tail);

/*
 * The chain's next line, a checkpoint at now_ms signed with key (an
 * Ed25519 token key): {"event_type", "time", "chain", "seq", "prev",
 * "key_id", "sig"}.  Its length, or 0 when signing failed or it does not
 * fit in size (the chain then stays as it was).
 */
size_t nitro_attest_chain_checkpoint(nitro_attest_chain_t *chain,
    const nitro_attest_token_key_t *key, int64_t now_ms, char *buf,
    size_t size);

/*
 * What a checkpoint signs, "nitro-attest checkpoint\n<chain>\n<seq>\n
 * <prev>\n<time>", and its check against a public key: 1 when sig (the
 * base64url signature of the line) verifies, 0 when it does not, -1 when
 * it cannot be checked (not base64url, memory).
 */
int nitro_attest_checkpoint_verify(EVP_PKEY *pub, const char *chain,
    uint64_t seq, const char *prev, const char *time, const char *sig);


/*
 * The enclave side: what makes a client certificate rather than judges
 * one (the CLI's cert and nsm commands, a renewal loop).
 */

/*
 * Binding without verifying: whether doc attests the key of cert under
 * mode, judging the document's structure and that field only (not its
 * signature, chain or age), for tools that wrap a document in a
 * certificate.  NITRO_ATTEST_OK, NITRO_ATTEST_BINDING_MISMATCH, or the
 * reason the document is malformed.
 */
nitro_attest_reason_e nitro_attest_document_binds(const uint8_t *doc,
    size_t len, nitro_attest_binding_e mode, X509 *cert);

/*
 * The Nitro Secure Module (NSM), na_nsm.c: the device through which an
 * enclave gets attestation documents and reads, extends and locks its
 * PCRs.  Requests are CBOR, as AWS's aws-nitro-enclaves-nsm-api encodes
 * them, through the one raw ioctl of Linux's NSM driver; answers are
 * untrusted and decoded as strictly as documents.  A handle serves one
 * request at a time.  Each call that fails writes to err one line naming
 * the device and the error: the errno text, the NSM's error code
 * ("InvalidIndex"), or why its answer does not decode.
 */

#define NITRO_ATTEST_NSM_DEVICE        "/dev/nsm"
#define NITRO_ATTEST_NSM_REQUEST_MAX   0x1000   /* the driver's limits */
#define NITRO_ATTEST_NSM_RESPONSE_MAX  0x3000
#define NITRO_ATTEST_NSM_LOCKED_MAX    256      /* an NSM has 32 PCRs */

typedef enum {
    NITRO_ATTEST_NSM_OK = 0,
    NITRO_ATTEST_NSM_SYSTEM,        /* open() or the ioctl failed */
    NITRO_ATTEST_NSM_BAD_ANSWER,    /* the answer does not decode */
    NITRO_ATTEST_NSM_REFUSED,       /* the NSM answered an error code */
    NITRO_ATTEST_NSM_TOO_LARGE      /* the request exceeds the driver's
                                       NITRO_ATTEST_NSM_REQUEST_MAX bytes:
                                       not sent */
} nitro_attest_nsm_rc_e;

typedef struct nitro_attest_nsm_s  nitro_attest_nsm_t;

/* bytes that may be absent (data NULL) */
typedef struct {
    const uint8_t             *data;
    size_t                     len;
} nitro_attest_bytes_t;

/* what an attestation document is asked to carry; absent ones are null */
typedef struct {
    nitro_attest_bytes_t       user_data;
    nitro_attest_bytes_t       nonce;
    nitro_attest_bytes_t       public_key;  /* a DER SubjectPublicKeyInfo */
} nitro_attest_nsm_attest_t;

typedef struct {
    uint16_t                   version_major;
    uint16_t                   version_minor;
    uint16_t                   version_patch;
    uint16_t                   max_pcrs;
    uint16_t                   nlocked;
    uint16_t                   locked[NITRO_ATTEST_NSM_LOCKED_MAX];
                                             /* ascending */
    char                       digest[8];    /* SHA256, SHA384, SHA512 */
    char                       module_id[NITRO_ATTEST_MODULE_ID_MAX + 1];
} nitro_attest_nsm_description_t;

typedef struct {
    int                        locked;
    size_t                     len;          /* 32, 48 or 64 */
    uint8_t                    value[NITRO_ATTEST_PCR_MAX_LEN];
} nitro_attest_nsm_pcr_t;

/* path NULL: NITRO_ATTEST_NSM_DEVICE; NULL after a message */
nitro_attest_nsm_t *nitro_attest_nsm_open(const char *path, char *err,
    size_t errlen);
void nitro_attest_nsm_close(nitro_attest_nsm_t *nsm);

nitro_attest_nsm_rc_e nitro_attest_nsm_describe(nitro_attest_nsm_t *nsm,
    nitro_attest_nsm_description_t *d, char *err, size_t errlen);
nitro_attest_nsm_rc_e nitro_attest_nsm_describe_pcr(nitro_attest_nsm_t *nsm,
    uint16_t index, nitro_attest_nsm_pcr_t *pcr, char *err, size_t errlen);
/* the NSM sets PCR index to SHA-384(value || data); pcr: the new value */
nitro_attest_nsm_rc_e nitro_attest_nsm_extend_pcr(nitro_attest_nsm_t *nsm,
    uint16_t index, const uint8_t *data, size_t len,
    nitro_attest_nsm_pcr_t *pcr, char *err, size_t errlen);
nitro_attest_nsm_rc_e nitro_attest_nsm_lock_pcr(nitro_attest_nsm_t *nsm,
    uint16_t index, char *err, size_t errlen);

/*
 * A signed attestation document (COSE_Sign1 bytes as the NSM returned
 * them, malloc()ed into *doc) carrying what a asks: the answer is taken
 * only when the document parses (its structure, not its signature) and
 * carries exactly the fields asked for.
 */
nitro_attest_nsm_rc_e nitro_attest_nsm_attest(nitro_attest_nsm_t *nsm,
    const nitro_attest_nsm_attest_t *a, uint8_t **doc, size_t *len,
    char *err, size_t errlen);


/*
 * Tools: rules the core applies and tools share, so that each is written
 * once (the CLI writes policy sets and signs mock documents with them),
 * and the text helpers of tools and the nginx glue.  Strings are
 * malloc()ed where said; free them with free().
 */

/* the decoded document (CLI inspect), malloc()ed; NULL and *reason set
 * when malformed, NULL alone when memory ran out */
char *nitro_attest_inspect_json(const uint8_t *doc, size_t len,
    nitro_attest_reason_e *reason);

/*
 * Unauthenticated facts of a document, for tools (--at document, naming a
 * certificate): 0, or -1 when the document is malformed.  Its certificates
 * are not read (that is the cost of a verification), so a document whose
 * certificate DER is bad still peeks.
 */
int nitro_attest_document_peek(const uint8_t *doc, size_t len,
    int64_t *timestamp_ms, char *module_id, size_t module_id_size);

/* Input helpers for tools: raw bytes, hex or base64 to bytes (malloc). */
int nitro_attest_decode_text(const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen);

/* dst must hold 2 * len bytes; no NUL is written; returns dst + 2 * len */
char *nitro_attest_hex(char *dst, const uint8_t *src, size_t len);

/*
 * ms since the epoch as RFC 3339 UTC with milliseconds, as the event's
 * "time" ("2026-12-06T10:00:00.123Z"; 32 bytes hold any): the length
 * written (NUL-terminated), or -1 when it does not fit (dst then holds
 * "" or a truncated text, NUL-terminated).
 */
int nitro_attest_format_time(char *dst, size_t size, int64_t ms);

/*
 * A Prometheus label value (text format 0.0.4): backslash, double quote and
 * newline escaped.  dst must hold 2 * len bytes; no NUL is written;
 * returns the end of what was written.
 */
char *nitro_attest_prometheus_escape(char *dst, const uint8_t *src,
    size_t len);

/*
 * The EC2 instance a module id belongs to: the length of the module id up
 * to its last "-enc" (an enclave's) or "-tpm" (a NitroTPM's)
 * ("i-0abc-enc01" is of "i-0abc"), the whole length when it has neither.
 */
size_t nitro_attest_instance_id_len(const char *module_id, size_t len);

/* the PCRs of kind: 32 for an enclave (pcrs), 24 for a NitroTPM */
#define nitro_attest_pcr_count(kind)                                         \
    ((unsigned) ((kind) == NITRO_ATTEST_KIND_NITROTPM                        \
                 ? NITRO_ATTEST_NITROTPM_PCR_COUNT : NITRO_ATTEST_PCR_COUNT))

typedef enum {
    NITRO_ATTEST_PCR_VALID = 0,
    NITRO_ATTEST_PCR_BAD_INDEX,     /* not below nitro_attest_pcr_count() */
    NITRO_ATTEST_PCR_BAD_VALUE      /* not 64, 96 or 128 hex digits */
} nitro_attest_pcr_rule_e;

/*
 * A PCR that a policy set of kind pins: its index is below
 * nitro_attest_pcr_count(kind), its value 64, 96 or 128 hex digits of
 * either case (a SHA-256, SHA-384 or SHA-512 measurement).  When both
 * hold, value (NITRO_ATTEST_PCR_MAX_LEN bytes) and *len receive the bytes.
 */
nitro_attest_pcr_rule_e nitro_attest_pcr_parse(nitro_attest_kind_e kind,
    unsigned long index, const char *hex, uint8_t *value, size_t *len);

/*
 * An ECDSA signature as OpenSSL makes it (a DER ECDSA-Sig-Value) in the
 * raw form JWS and COSE carry: r || s, each half bytes, the size of the
 * curve's order (32 for P-256, 48 for P-384).  raw holds 2 * half bytes.
 * 0, or -1 when der is not a signature or r or s does not fit.
 */
int nitro_attest_ecdsa_der_to_raw(const uint8_t *der, size_t der_len,
    uint8_t *raw, size_t half);

#pragma GCC visibility pop

#endif /* NITRO_ATTEST_H */
