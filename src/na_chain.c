/*
 * na_chain.c: the COSE ES384 signature, the certificate path to the pinned
 * root and the validity window of that path.
 *
 * Trusts only the pinned root.  The path is the one the document states,
 * root -> cabundle[1] -> ... -> certificate, checked in that order; OpenSSL
 * then verifies signatures, validity, basicConstraints and pathLen at the
 * caller's time.
 *
 * Fuzz builds (NITRO_ATTEST_FUZZING, set by `make fuzz` for the
 * *_fastcrypto targets only) decide those signatures from the input
 * instead of computing them: see the end of this file.
 */

#include "na_internal.h"

#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>


#define NA_ES384_HALF  48


static size_t na_cbor_head(uint8_t *out, uint8_t major, uint64_t n);
static int na_es384_der(const na_bytes_t *sig, unsigned char **der,
    size_t *len);
static int na_is_p384(EVP_PKEY *pkey);
static nitro_attest_reason_e na_check_path(const na_document_t *doc,
    int first);
static nitro_attest_reason_e na_verify_path(X509_STORE_CTX *ctx,
    X509_STORE *store, const na_document_t *doc, int first);
static nitro_attest_reason_e na_path_window(const na_document_t *doc,
    int first, na_window_t *w, na_window_t *bundle);
#ifdef NITRO_ATTEST_FUZZING
static int na_fuzz_signature_holds(const uint8_t *sig, size_t len);
static int na_fuzz_verify_path(X509_STORE_CTX *ctx);
#endif


/*
 * ES384 over Sig_structure = ["Signature1", protected, h'', payload], built
 * from the protected and payload bytes exactly as received and hashed in
 * pieces, so the payload is never copied or re-encoded.
 */
nitro_attest_reason_e
na_verify_signature(const na_document_t *doc)
{
    int             ok;
    size_t          n, der_len;
    uint8_t         head[16];
    EVP_PKEY       *pkey;
    EVP_MD_CTX     *md;
    unsigned char  *der;

    static const uint8_t  context[] = {
        0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'
    };

    pkey = X509_get0_pubkey(doc->leaf);
    if (pkey == NULL || !na_is_p384(pkey)) {
        ERR_clear_error();
        return NITRO_ATTEST_BAD_SIGNATURE;
    }

    if (na_es384_der(&doc->signature, &der, &der_len) != 0) {
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        OPENSSL_free(der);
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    /* in the context the key was decoded in: no export to another one */
    ok = EVP_DigestVerifyInit_ex(md, NULL, "SHA384", na_pkey_libctx(pkey),
                                 NULL, pkey, NULL) == 1
         && EVP_DigestVerifyUpdate(md, context, sizeof(context)) == 1;

    n = na_cbor_head(head, 2, doc->protected_hdr.len);
    ok = ok && EVP_DigestVerifyUpdate(md, head, n) == 1
         && EVP_DigestVerifyUpdate(md, doc->protected_hdr.p,
                                   doc->protected_hdr.len) == 1;

    head[0] = 0x40;  /* external_aad: empty bstr */
    n = 1 + na_cbor_head(head + 1, 2, doc->payload.len);
    ok = ok && EVP_DigestVerifyUpdate(md, head, n) == 1
         && EVP_DigestVerifyUpdate(md, doc->payload.p, doc->payload.len) == 1;

#ifdef NITRO_ATTEST_FUZZING
    /* fuzz builds: the input, not ECDSA, decides (see the end of the file) */
    ok = ok && na_fuzz_signature_holds(doc->signature.p, doc->signature.len);
#else
    ok = ok && EVP_DigestVerifyFinal(md, der, der_len) == 1;
#endif

    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ERR_clear_error();

    return ok ? NITRO_ATTEST_OK : NITRO_ATTEST_BAD_SIGNATURE;
}


/*
 * The path, with time left out: OpenSSL checks every signature and
 * constraint without looking at validity windows, and *w receives the
 * window the whole path (root to leaf) is valid in, for the caller to
 * hold the verification time against.  What this concludes depends only
 * on the document's bytes and the root, so it can be remembered.
 */
nitro_attest_reason_e
na_verify_chain(const nitro_attest_root_t *root,
    nitro_attest_chain_cache_t *cache, const na_document_t *doc,
    na_window_t *w)
{
    int                     first, bundle;
    na_window_t             bundle_window;
    X509_STORE             *store;
    X509_STORE_CTX         *ctx;
    nitro_attest_reason_e   reason;

    if (doc->root_der.len != root->der_len
        || memcmp(doc->root_der.p, root->der, root->der_len) != 0)
    {
        return NITRO_ATTEST_UNTRUSTED_ROOT;
    }

    bundle = cache != NULL && na_chain_entry_usable(cache, doc->chain, root);

    /* this very leaf under this very bundle and root: verified before */
    if (bundle && doc->leaf_entry != NULL
        && na_leaf_entry_verified(doc->leaf_entry, root, doc->chain_key, w))
    {
        return NITRO_ATTEST_OK;
    }

    ctx = X509_STORE_CTX_new_ex(na_libctx(), NULL);

    if (ctx == NULL) {
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    if (bundle) {
        /*
         * The bundle's path was verified to this root: the leaf is
         * verified with the bundle's last CA as the only anchor, every
         * other rule applied by OpenSSL as usual.
         */
        store = na_chain_entry_store(doc->chain, w);
        first = sk_X509_num(doc->cabundle) - 1;

    } else {
        /* cabundle[0] is the pinned root, taken from the root's store */
        store = root->store;
        first = 0;
        w->not_before_ms = INT64_MIN;
        w->not_after_ms = INT64_MAX;
    }

    reason = na_check_path(doc, first);

    if (reason == NITRO_ATTEST_OK) {
        reason = na_verify_path(ctx, store, doc, first);
    }

    if (reason == NITRO_ATTEST_OK) {
        reason = na_path_window(doc, first, w, &bundle_window);
    }

    X509_STORE_CTX_free(ctx);

    if (reason == NITRO_ATTEST_OK && cache != NULL && doc->chain_keyed) {
        if (first == 0) {
            na_chain_cache_insert(cache, doc->chain_key, doc->cabundle, root,
                                  &bundle_window);
        }

        if (doc->leaf_keyed) {
            na_leaf_cache_insert(cache, doc->leaf_key, doc->leaf, root,
                                 doc->chain_key, w);
        }
    }

    ERR_clear_error();

    return reason;
}


/*
 * OpenSSL's verification of the leaf from the anchor in store through
 * cabundle[first + 1..]: signatures and constraints, times left out.  The
 * path OpenSSL built must be the stated one, leaf first.
 */
static nitro_attest_reason_e
na_verify_path(X509_STORE_CTX *ctx, X509_STORE *store,
    const na_document_t *doc, int first)
{
    int                     i, n, err;
    STACK_OF(X509)         *chain, *untrusted;
    nitro_attest_reason_e   reason;

    n = sk_X509_num(doc->cabundle);

    untrusted = sk_X509_new_reserve(NULL, n);
    if (untrusted == NULL) {
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    for (i = first + 1; i < n; i++) {
        sk_X509_push(untrusted, sk_X509_value(doc->cabundle, i));
    }

    if (X509_STORE_CTX_init(ctx, store, doc->leaf, untrusted) != 1) {
        reason = NITRO_ATTEST_INTERNAL_ERROR;
        goto done;
    }

    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN
                                  | X509_V_FLAG_NO_CHECK_TIME);

#ifdef NITRO_ATTEST_FUZZING
    /* fuzz builds: the input decides each certificate's signature */
    X509_STORE_CTX_set_verify(ctx, na_fuzz_verify_path);
#endif

    if (X509_verify_cert(ctx) != 1) {
        err = X509_STORE_CTX_get_error(ctx);
        reason = err == X509_V_ERR_OUT_OF_MEM ? NITRO_ATTEST_INTERNAL_ERROR
                                              : NITRO_ATTEST_CHAIN_INVALID;
        goto done;
    }

    chain = X509_STORE_CTX_get0_chain(ctx);
    reason = NITRO_ATTEST_CHAIN_INVALID;

    if (sk_X509_num(chain) != n - first + 1
        || X509_cmp(sk_X509_value(chain, 0), doc->leaf) != 0)
    {
        goto done;
    }

    for (i = first; i < n; i++) {
        if (X509_cmp(sk_X509_value(chain, n - i),
                     sk_X509_value(doc->cabundle, i)) != 0)
        {
            goto done;
        }
    }

    reason = NITRO_ATTEST_OK;

done:

    /* the context refers to untrusted: done with it first */
    X509_STORE_CTX_cleanup(ctx);
    sk_X509_free(untrusted);

    return reason;
}


/*
 * w narrowed to cabundle[first..] then to the leaf; *bundle receives the
 * window of the bundle alone (before the leaf), which the chain cache
 * keeps for a bundle verified from the root.
 */
static nitro_attest_reason_e
na_path_window(const na_document_t *doc, int first, na_window_t *w,
    na_window_t *bundle)
{
    int  i, n;

    n = sk_X509_num(doc->cabundle);

    for (i = first; i < n; i++) {
        if (na_window_narrow(w, sk_X509_value(doc->cabundle, i)) != 0) {
            return NITRO_ATTEST_CHAIN_INVALID;
        }
    }

    *bundle = *w;

    if (na_window_narrow(w, doc->leaf) != 0) {
        return NITRO_ATTEST_CHAIN_INVALID;
    }

    return NITRO_ATTEST_OK;
}


/*
 * Narrows w to the validity of x: -1 when a time cannot be read (OpenSSL
 * would refuse such a certificate, were it checking times).
 */
int
na_window_narrow(na_window_t *w, X509 *x)
{
    int64_t  nb, na;

    nb = na_asn1_time_ms(X509_get0_notBefore(x));
    na = na_asn1_time_ms(X509_get0_notAfter(x));

    if (nb == INT64_MIN || na == INT64_MIN) {
        return -1;
    }

    w->not_before_ms = nb > w->not_before_ms ? nb : w->not_before_ms;
    w->not_after_ms = na < w->not_after_ms ? na : w->not_after_ms;

    return 0;
}


/*
 * OpenSSL's rule at a time in whole seconds (ms are floored): valid from
 * notBefore included to notAfter excluded.  Both bounds are whole seconds.
 */
int
na_window_holds(const na_window_t *w, int64_t now_ms)
{
    return now_ms >= w->not_before_ms && now_ms < w->not_after_ms;
}


/*
 * Each entry issued by the one before it, in order, from cabundle[first]
 * down to the leaf; every issuer below the root carries keyUsage
 * keyCertSign; the leaf is not a CA.
 */
static nitro_attest_reason_e
na_check_path(const na_document_t *doc, int first)
{
    int    i, n;
    X509  *issuer, *subject;

    n = sk_X509_num(doc->cabundle);

    for (i = first + 1; i <= n; i++) {
        issuer = sk_X509_value(doc->cabundle, i - 1);
        subject = (i == n) ? doc->leaf : sk_X509_value(doc->cabundle, i);

        if (X509_check_issued(issuer, subject) != X509_V_OK) {
            return NITRO_ATTEST_CHAIN_INVALID;
        }

        if (i > 1
            && (!(X509_get_extension_flags(issuer) & EXFLAG_KUSAGE)
                || !(X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN)))
        {
            return NITRO_ATTEST_CHAIN_INVALID;
        }
    }

    /*
     * basicConstraints cA:TRUE makes a CA whatever its keyUsage says
     * (X509_check_ca() alone answers 0 without keyCertSign).
     */
    if ((X509_get_extension_flags(doc->leaf) & EXFLAG_CA)
        || X509_check_ca(doc->leaf) != 0)
    {
        return NITRO_ATTEST_CHAIN_INVALID;
    }

    return NITRO_ATTEST_OK;
}


/* A CBOR head of major type major for argument n, minimal encoding. */
static size_t
na_cbor_head(uint8_t *out, uint8_t major, uint64_t n)
{
    size_t  i, len;

    major <<= 5;

    if (n < 24) {
        out[0] = major | (uint8_t) n;
        return 1;
    }

    len = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffff ? 4 : 8;
    out[0] = major | (len == 1 ? 24 : len == 2 ? 25 : len == 4 ? 26 : 27);

    for (i = 0; i < len; i++) {
        out[len - i] = (uint8_t) (n >> (8 * i));
    }

    return len + 1;
}


/* COSE's raw r||s to the DER ECDSA-Sig-Value OpenSSL verifies. */
static int
na_es384_der(const na_bytes_t *sig, unsigned char **der, size_t *len)
{
    int         n;
    BIGNUM     *r, *s;
    ECDSA_SIG  *es;

    *der = NULL;
    r = BN_bin2bn(sig->p, NA_ES384_HALF, NULL);
    s = BN_bin2bn(sig->p + NA_ES384_HALF, NA_ES384_HALF, NULL);
    es = ECDSA_SIG_new();

    if (r == NULL || s == NULL || es == NULL || ECDSA_SIG_set0(es, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -1;
    }

    n = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);

    if (n <= 0) {
        return -1;
    }

    *len = (size_t) n;
    return 0;
}


static int
na_is_p384(EVP_PKEY *pkey)
{
    char  group[64];

    return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC
           && EVP_PKEY_get_utf8_string_param(pkey,
                                             OSSL_PKEY_PARAM_GROUP_NAME,
                                             group, sizeof(group), NULL) == 1
           && strcmp(group, "secp384r1") == 0;
}


int64_t
na_asn1_time_ms(const ASN1_TIME *t)
{
    struct tm  tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return INT64_MIN;
    }

    return (int64_t) timegm(&tm) * 1000;
}


#ifdef NITRO_ATTEST_FUZZING

/*
 * Fuzz builds only.  Computing ECDSA P-384 for the COSE signature and
 * every certificate of the path held the fuzzers to a few hundred inputs
 * a second; here the input decides each signature instead, so mutations
 * reach the chain rules, time windows, policy, binding and the memo at
 * full speed (the real-crypto targets keep fuzzing the real checks).
 * Such a build accepts forgeries: it exists only with a sanitizer, and
 * nitro_attest_fuzzing_build marks its objects (the Makefile and the unit
 * tests refuse a library that has it).
 */

#if defined(__has_feature)
#  if !__has_feature(address_sanitizer)
#    error "NITRO_ATTEST_FUZZING accepts forgeries: sanitizer builds only"
#  endif
#elif !defined(__SANITIZE_ADDRESS__)
#  error "NITRO_ATTEST_FUZZING accepts forgeries: sanitizer builds only"
#endif

const char  nitro_attest_fuzzing_build[] = "signatures decided by the input";


/*
 * A signature holds unless its last byte is zero: the genuine signatures
 * of the seeds almost always hold (a low-bit rule would refuse half of
 * them), and a fuzzer turns one into a forgery with one byte it sees
 * compared.
 */
static int
na_fuzz_signature_holds(const uint8_t *sig, size_t len)
{
    return len > 0 && sig[len - 1] != 0;
}


/*
 * Stands in for OpenSSL's internal_verify(), the step of X509_verify_cert()
 * that checks signatures (a verify callback would only see each result
 * after it was computed): every certificate below the trust anchor is
 * checked against the next one up, issuer key usage and key first, as
 * OpenSSL does, then its signature by the rule above.  Times are not
 * checked here, as na_verify_chain() asks OpenSSL not to.
 */
static int
na_fuzz_verify_path(X509_STORE_CTX *ctx)
{
    int                        i, err;
    X509                      *subject, *issuer;
    STACK_OF(X509)            *chain;
    const ASN1_BIT_STRING     *sig;

    chain = X509_STORE_CTX_get0_chain(ctx);

    for (i = sk_X509_num(chain) - 2; i >= 0; i--) {
        issuer = sk_X509_value(chain, i + 1);
        subject = sk_X509_value(chain, i);
        X509_get0_signature(&sig, NULL, subject);

        err = X509_check_issued(issuer, subject);

        if (err == X509_V_OK && X509_get0_pubkey(issuer) == NULL) {
            err = X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY;
        }

        if (err == X509_V_OK
            && !na_fuzz_signature_holds(ASN1_STRING_get0_data(sig),
                                        (size_t) ASN1_STRING_length(sig)))
        {
            err = X509_V_ERR_CERT_SIGNATURE_FAILURE;
        }

        if (err != X509_V_OK) {
            X509_STORE_CTX_set_error(ctx, err);
            X509_STORE_CTX_set_error_depth(ctx, i);
            X509_STORE_CTX_set_current_cert(ctx, subject);
            return 0;
        }
    }

    return 1;
}

#endif /* NITRO_ATTEST_FUZZING */
