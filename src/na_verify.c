/*
 * na_verify.c: the configuration of a verification, and the verification
 * itself: the stages in order (extension, document, signature, path,
 * validity, freshness, policy, binding), the memo consulted for what
 * depends on the signed bytes only.  The first failing stage decides the
 * reason; measurements enter the verdict only once the signature and the
 * chain have held.
 */

#include "na_internal.h"

#include <string.h>
#include <openssl/err.h>
#include <openssl/sha.h>


static int na_verdict_cert(nitro_attest_verdict_t *v,
    const nitro_attest_config_t *cf, X509 *cert);
static int na_cert_sha256(X509 *cert, uint8_t *out);
static nitro_attest_reason_e na_verify_bytes(const nitro_attest_config_t *cf,
    const uint8_t *bytes, size_t len, X509 *bind_cert, int64_t now_ms,
    nitro_attest_verdict_t *v);
static nitro_attest_reason_e na_verify_signed(const nitro_attest_config_t *cf,
    na_document_t *doc, na_window_t *window);
static nitro_attest_reason_e na_judge(const nitro_attest_config_t *cf,
    const na_document_t *doc, const na_window_t *window, X509 *bind_cert,
    int64_t now_ms, nitro_attest_verdict_t *v);
static int na_measure(nitro_attest_verdict_t *v, const na_document_t *doc);
static nitro_attest_reason_e na_check_binding(nitro_attest_binding_e mode,
    const na_document_t *doc, X509 *cert);


void
nitro_attest_config_init(nitro_attest_config_t *cf)
{
    memset(cf, 0, sizeof(*cf));
    cf->max_age_ms = NITRO_ATTEST_DEFAULT_MAX_AGE_MS;
    cf->clock_skew_ms = NITRO_ATTEST_DEFAULT_CLOCK_SKEW_MS;
    cf->binding = NITRO_ATTEST_BINDING_PUBLIC_KEY;
}


int
nitro_attest_config_digest(const nitro_attest_config_t *cf,
    uint8_t digest[32])
{
    int                 ok, len;
    int64_t             numbers[4];
    EVP_MD_CTX         *md;
    unsigned char      *oid;
    const ASN1_OBJECT  *obj;

    static const uint8_t  no_policy[SHA256_DIGEST_LENGTH];

    numbers[0] = cf->max_age_ms;
    numbers[1] = cf->clock_skew_ms;
    numbers[2] = cf->binding;
    numbers[3] = (int64_t) (cf->allow_debug ? 1 : 0) << 8
                 | (cf->extension ? cf->extension->format : 0);

    obj = nitro_attest_extension_oid(cf->extension);
    oid = NULL;
    len = obj ? i2d_ASN1_OBJECT(obj, &oid) : -1;

    md = EVP_MD_CTX_new();
    ok = md != NULL && cf->root != NULL && len > 0
         && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(md, cf->root->fingerprint,
                             sizeof(cf->root->fingerprint)) == 1
         && EVP_DigestUpdate(md, cf->policy
                                 ? nitro_attest_policy_digest(cf->policy)
                                 : no_policy,
                             SHA256_DIGEST_LENGTH) == 1
         && EVP_DigestUpdate(md, oid, (size_t) len) == 1
         && EVP_DigestUpdate(md, numbers, sizeof(numbers)) == 1
         && EVP_DigestFinal_ex(md, digest, NULL) == 1;

    EVP_MD_CTX_free(md);
    OPENSSL_free(oid);
    ERR_clear_error();

    return ok ? 0 : -1;
}


nitro_attest_reason_e
nitro_attest_verify_cert(const nitro_attest_config_t *cf, X509 *cert,
    int64_t now_ms, nitro_attest_verdict_t *v)
{
    size_t                 len;
    const uint8_t         *bytes;
    nitro_attest_reason_e  reason;

    na_verdict_reset(v, now_ms);

    if (cert == NULL) {
        return na_verdict_finish(v, NITRO_ATTEST_NO_CERTIFICATE);
    }

    if (na_verdict_cert(v, cf, cert) != 0) {
        return na_verdict_finish(v, NITRO_ATTEST_INTERNAL_ERROR);
    }

    reason = nitro_attest_cert_document(cf->extension, cert, &bytes, &len);
    if (reason != NITRO_ATTEST_OK) {
        return na_verdict_finish(v, reason);
    }

    return na_verify_bytes(cf, bytes, len, cert, now_ms, v);
}


nitro_attest_reason_e
nitro_attest_verify_cert_der(const nitro_attest_config_t *cf,
    const uint8_t *der, size_t len, int64_t now_ms, nitro_attest_verdict_t *v)
{
    X509                   *cert;
    nitro_attest_reason_e   reason;

    cert = nitro_attest_cert_parse(der, len);

    if (cert == NULL) {
        ERR_clear_error();
        na_verdict_reset(v, now_ms);
        return na_verdict_finish(v, NITRO_ATTEST_NO_CERTIFICATE);
    }

    reason = nitro_attest_verify_cert(cf, cert, now_ms, v);
    X509_free(cert);

    return reason;
}


nitro_attest_reason_e
nitro_attest_verify_document(const nitro_attest_config_t *cf,
    const uint8_t *bytes, size_t len, X509 *bind_cert, int64_t now_ms,
    nitro_attest_verdict_t *v)
{
    na_verdict_reset(v, now_ms);

    if (bind_cert != NULL && na_verdict_cert(v, cf, bind_cert) != 0) {
        return na_verdict_finish(v, NITRO_ATTEST_INTERNAL_ERROR);
    }

    return na_verify_bytes(cf, bytes, len, bind_cert, now_ms, v);
}


/* The certificate's fingerprint, and the binding it will be checked by. */
static int
na_verdict_cert(nitro_attest_verdict_t *v, const nitro_attest_config_t *cf,
    X509 *cert)
{
    v->binding = (uint8_t) cf->binding;

    if (na_cert_sha256(cert, v->cert_sha256) != 0) {
        return -1;
    }

    v->flags |= NITRO_ATTEST_F_CERT;
    return 0;
}


/*
 * The SHA-256 of a certificate's DER, hashed in the default context: one
 * parsed without its key (na_libctx.c) has no digest in its own, so
 * X509_digest() cannot do it.
 */
static int
na_cert_sha256(X509 *cert, uint8_t *out)
{
    int             len, ok;
    unsigned char  *der;

    der = NULL;
    len = i2d_X509(cert, &der);
    ok = len > 0 && SHA256(der, (size_t) len, out) != NULL;

    OPENSSL_free(der);
    ERR_clear_error();

    return ok ? 0 : -1;
}


/*
 * From the document bytes on: every stage, then the verdict's status.
 * What the structure, signature and path checks conclude is taken from the
 * memo when the same signed document was verified before; what depends on
 * the time, the configuration and the certificate is judged every time.
 */
static nitro_attest_reason_e
na_verify_bytes(const nitro_attest_config_t *cf, const uint8_t *bytes,
    size_t len, X509 *bind_cert, int64_t now_ms, nitro_attest_verdict_t *v)
{
    int                    keyed;
    uint8_t                key[SHA256_DIGEST_LENGTH];
    na_window_t            window;
    na_document_t          doc;
    na_memo_result_t       memo;
    nitro_attest_reason_e  reason;

    SHA384(bytes, len, v->doc_sha384);
    v->flags |= NITRO_ATTEST_F_DOC;

    reason = na_document_envelope(&doc, bytes, len);
    if (reason != NITRO_ATTEST_OK) {
        return na_verdict_finish(v, reason);
    }

    keyed = cf->memo != NULL && cf->root != NULL
            && na_memo_key(cf->root, &doc, key) == 0;

    if (keyed && na_memo_lookup(cf->memo, key, &memo)) {
        reason = memo.reason;

        if (reason == NITRO_ATTEST_OK) {
            reason = na_judge(cf, memo.doc, &memo.window, bind_cert, now_ms,
                              v);
        }

        return na_verdict_finish(v, reason);
    }

    reason = na_verify_signed(cf, &doc, &window);

    if (keyed && reason != NITRO_ATTEST_INTERNAL_ERROR) {
        na_memo_insert(cf->memo, key, reason, &window, &doc);
    }

    if (reason == NITRO_ATTEST_OK) {
        reason = na_judge(cf, &doc, &window, bind_cert, now_ms, v);
    }

    na_document_free(&doc);
    return na_verdict_finish(v, reason);
}


/* Structure, signature, path: what depends on the signed bytes only. */
static nitro_attest_reason_e
na_verify_signed(const nitro_attest_config_t *cf, na_document_t *doc,
    na_window_t *window)
{
    nitro_attest_reason_e  reason;

    reason = na_document_contents(doc, cf->root, cf->chain_cache);
    if (reason != NITRO_ATTEST_OK) {
        return reason;
    }

    if (cf->root == NULL) {
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    reason = na_verify_signature(doc);
    if (reason != NITRO_ATTEST_OK) {
        return reason;
    }

    return na_verify_chain(cf->root, cf->chain_cache, doc, window);
}


/*
 * A document whose signature and path held: validity at the time, then
 * (on measured data) freshness, policy, binding.
 */
static nitro_attest_reason_e
na_judge(const nitro_attest_config_t *cf, const na_document_t *doc,
    const na_window_t *window, X509 *bind_cert, int64_t now_ms,
    nitro_attest_verdict_t *v)
{
    int64_t                ts;
    na_policy_result_t     policy;

    if (!na_window_holds(window, now_ms)) {
        return NITRO_ATTEST_CERTIFICATE_EXPIRED;
    }

    v->not_after_ms = window->not_after_ms;

    if (na_measure(v, doc) != 0) {
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    na_policy_evaluate(cf->policy, cf->allow_debug, doc, &policy);

    if (policy.name != NULL
        && na_verdict_put(v, &v->policy, policy.name, strlen(policy.name))
           != 0)
    {
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    if (cf->policy != NULL) {
        v->flags |= NITRO_ATTEST_F_POLICY_JUDGED;
        if (policy.allowed) {
            v->flags |= NITRO_ATTEST_F_POLICY_ALLOWED;
        }
    }

    /* timestamps past INT64_MAX are simply far in the future */
    ts = doc->timestamp > (uint64_t) INT64_MAX ? INT64_MAX
                                               : (int64_t) doc->timestamp;

    if (now_ms > ts && (uint64_t) now_ms - (uint64_t) ts
                       > (uint64_t) cf->max_age_ms)
    {
        return NITRO_ATTEST_STALE;
    }

    if (ts > now_ms && (uint64_t) ts - (uint64_t) now_ms
                       > (uint64_t) cf->clock_skew_ms)
    {
        return NITRO_ATTEST_FUTURE;
    }

    if (policy.reason != NITRO_ATTEST_OK) {
        return policy.reason;
    }

    if (bind_cert == NULL) {
        return NITRO_ATTEST_OK;
    }

    return na_check_binding(cf->binding, doc, bind_cert);
}


/* The document's measurements, copied into the verdict. */
static int
na_measure(nitro_attest_verdict_t *v, const na_document_t *doc)
{
    unsigned  i;

    v->flags |= NITRO_ATTEST_F_MEASURED;
    v->kind = (uint8_t) doc->kind;
    v->timestamp_ms = doc->timestamp > (uint64_t) INT64_MAX
                      ? INT64_MAX : (int64_t) doc->timestamp;
    v->pcr_mask = doc->pcr_mask;

    for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
        if ((doc->pcr_mask & (1u << i))
            && na_verdict_put(v, &v->pcr[i], doc->pcr[i].p, doc->pcr[i].len)
               != 0)
        {
            return -1;
        }
    }

    if (na_verdict_put(v, &v->module_id, doc->module_id.p,
                       doc->module_id.len) != 0)
    {
        return -1;
    }

    if (doc->has_user_data) {
        v->flags |= NITRO_ATTEST_F_USER_DATA;
        if (na_verdict_put(v, &v->user_data, doc->user_data.p,
                           doc->user_data.len) != 0)
        {
            return -1;
        }
    }

    if (doc->has_nonce) {
        v->flags |= NITRO_ATTEST_F_NONCE;
        if (na_verdict_put(v, &v->nonce, doc->nonce.p, doc->nonce.len) != 0)
        {
            return -1;
        }
    }

    return 0;
}


nitro_attest_reason_e
nitro_attest_document_binds(const uint8_t *bytes, size_t len,
    nitro_attest_binding_e mode, X509 *cert)
{
    na_document_t          doc;
    nitro_attest_reason_e  reason;

    reason = na_document_structure(&doc, bytes, len);

    if (reason == NITRO_ATTEST_OK
        || reason == NITRO_ATTEST_UNSUPPORTED_ALGORITHM)
    {
        reason = na_check_binding(mode, &doc, cert);
    }

    na_document_free(&doc);

    return reason;
}


/* The binding: the certificate's key is the key the document attests. */
static nitro_attest_reason_e
na_check_binding(nitro_attest_binding_e mode, const na_document_t *doc,
    X509 *cert)
{
    int                     len, ok;
    unsigned char          *spki;
    unsigned char           md[SHA384_DIGEST_LENGTH];
    const na_bytes_t       *want;

    spki = NULL;
    len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
    if (len <= 0) {
        ERR_clear_error();
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    want = (mode == NITRO_ATTEST_BINDING_PUBLIC_KEY) ? &doc->public_key
                                                     : &doc->user_data;
    ok = (mode == NITRO_ATTEST_BINDING_PUBLIC_KEY) ? doc->has_public_key
                                                   : doc->has_user_data;

    switch (mode) {

    case NITRO_ATTEST_BINDING_PUBLIC_KEY:
    case NITRO_ATTEST_BINDING_USER_DATA_SPKI:
        ok = ok && want->len == (size_t) len
             && memcmp(want->p, spki, (size_t) len) == 0;
        break;

    case NITRO_ATTEST_BINDING_USER_DATA_SHA256:
        SHA256(spki, (size_t) len, md);
        ok = ok && want->len == SHA256_DIGEST_LENGTH
             && memcmp(want->p, md, SHA256_DIGEST_LENGTH) == 0;
        break;

    case NITRO_ATTEST_BINDING_USER_DATA_SHA384:
        SHA384(spki, (size_t) len, md);
        ok = ok && want->len == SHA384_DIGEST_LENGTH
             && memcmp(want->p, md, SHA384_DIGEST_LENGTH) == 0;
        break;

    default:
        ok = 0;
    }

    OPENSSL_free(spki);

    return ok ? NITRO_ATTEST_OK : NITRO_ATTEST_BINDING_MISMATCH;
}
