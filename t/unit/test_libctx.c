/*
 * test_libctx.c: where certificates are parsed (na_libctx.c): the view
 * below OpenSSL 3.2, the default context above, keys of other kinds not
 * decoded at all.  t/test_openssl_context.py runs the CLI both ways.
 */

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "unit.h"


/* a certificate of `key`, issued by `issuer_key`, as DER */
static int
libctx_cert_der(EVP_PKEY *key, EVP_PKEY *issuer_key, unsigned char **der)
{
    int         len;
    X509       *x;
    X509_NAME  *name;

    x = X509_new();
    name = X509_NAME_new();
    len = -1;

    if (x != NULL && name != NULL
        && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                      (const unsigned char *) "libctx", -1,
                                      -1, 0) == 1
        && X509_set_subject_name(x, name) == 1
        && X509_set_issuer_name(x, name) == 1
        && X509_set_pubkey(x, key) == 1
        && X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL
        && X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL
        && X509_sign(x, issuer_key,
                     EVP_PKEY_is_a(issuer_key, "ED25519") ? NULL
                                                          : EVP_sha256()) > 0)
    {
        *der = NULL;
        len = i2d_X509(x, der);
    }

    X509_NAME_free(name);
    X509_free(x);
    return len;
}


static const char *
libctx_provider_of(X509 *x)
{
    EVP_PKEY  *pkey;

    pkey = x ? X509_get0_pubkey(x) : NULL;

    return pkey && EVP_PKEY_get0_provider(pkey)
           ? OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey)) : "none";
}


/* a certificate of key issued by issuer, parsed by the core, whose key
   must live in the provider named */
static X509 *
libctx_parsed(EVP_PKEY *key, EVP_PKEY *issuer, const char *provider,
    const char *what)
{
    int             n;
    X509           *x;
    unsigned char  *der;

    n = libctx_cert_der(key, issuer, &der);
    x = n > 0 ? nitro_attest_cert_parse(der, (size_t) n) : NULL;
    CHECK(strcmp(libctx_provider_of(x), provider) == 0, "%s: %s, not %s",
          what, libctx_provider_of(x), provider);

    if (n > 0) {
        OPENSSL_free(der);
    }

    return x;
}


/* a key parsed in the view is written out and printed like any other */
static void
test_libctx_key_out(X509 *x)
{
    int             n, m;
    BIO            *bio;
    EVP_PKEY       *pkey;
    unsigned char  *a, *b;

    pkey = x ? X509_get0_pubkey(x) : NULL;
    a = NULL;
    b = NULL;
    n = pkey ? i2d_PUBKEY(pkey, &a) : -1;
    m = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &b) : -1;
    CHECK(n > 0 && n == m && memcmp(a, b, (size_t) n) == 0,
          "i2d_PUBKEY of a key of the view: %d, %d", n, m);
    OPENSSL_free(a);
    OPENSSL_free(b);

    bio = BIO_new(BIO_s_mem());
    CHECK(bio && pkey && EVP_PKEY_print_public(bio, pkey, 0, NULL) == 1
          && PEM_write_bio_PUBKEY(bio, pkey) == 1, "printed, PEM");
    BIO_free(bio);
}


/* an EC key on curve, its point or parameters encoded as form says */
static EVP_PKEY *
libctx_ec_key(const char *curve, const char *param, const char *form)
{
    EVP_PKEY  *key;

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

    if (key != NULL && param != NULL
        && EVP_PKEY_set_utf8_string_param(key, param, form) != 1)
    {
        EVP_PKEY_free(key);
        key = NULL;
    }

    return key;
}


/*
 * Where certificates are parsed.  Below OpenSSL 3.2 (and unless the
 * configuration or NITRO_ATTEST_OPENSSL_VIEW=off says otherwise) in the
 * view, whatever the key kind among those decoded, and a chain of kinds
 * verifies there; a key of another kind is not decoded at all, in any
 * configuration.  t/test_openssl_context.py runs the CLI both ways.
 */
static void
test_libctx(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int             i, n, expect_view;
    size_t          k;
    const char     *which, *why, *env, *view;
    EVP_PKEY       *ec, *ec2, *rsa, *ed, *odd;
    X509           *x, *y;
    unsigned char  *der, *out;
    na_document_t   doc;

    static const struct {
        const char  *what, *curve, *param, *form;
    } odd_keys[] = {
        { "P-224", "P-224", NULL, NULL },
        { "compressed P-384", "P-384",
          OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed" },
        { "explicit P-384 parameters", "P-384",
          OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT },
        { "secp256k1", "secp256k1", NULL, NULL }
    };

    env = getenv("NITRO_ATTEST_OPENSSL_VIEW");
    expect_view = OpenSSL_version_num() < 0x30200000L
                  && !(env && strcmp(env, "off") == 0)
                  && OSSL_PROVIDER_available(NULL, "default")
                  && !EVP_default_properties_is_fips_enabled(NULL);

    which = nitro_attest_openssl_context(&why);
    CHECK(strcmp(which, expect_view ? "view" : "default") == 0,
          "context %s (%s), expected %s on %s", which, why ? why : "-",
          expect_view ? "view" : "default", OpenSSL_version(OPENSSL_VERSION));
    CHECK((na_libctx() != NULL) == expect_view, "na_libctx");
    CHECK(expect_view || why != NULL, "the default context says why");

    view = expect_view ? "nitro-attest-view" : "default";

    /* the real documents' certificates: in the view, and they verify */
    for (i = 0; i < ndocs; i++) {
        memset(&doc, 0, sizeof(doc));
        CHECK(na_document_parse(&doc, cf->root, NULL, docs[i].data,
                                docs[i].len) == NITRO_ATTEST_OK,
              "%s parses", docs[i].name);
        CHECK(strcmp(libctx_provider_of(doc.leaf), view) == 0,
              "%s: leaf key in %s", docs[i].name,
              libctx_provider_of(doc.leaf));
        n = doc.cabundle ? sk_X509_num(doc.cabundle) : 0;
        CHECK(n > 1 && strcmp(libctx_provider_of(
                               sk_X509_value(doc.cabundle, n - 1)), view) == 0,
              "%s: bundle in the view", docs[i].name);
        na_document_free(&doc);

        nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                     docs[i].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s verifies", docs[i].name);
    }

    CHECK(strcmp(libctx_provider_of(cf->root->cert), view) == 0,
          "the root lives with what it signs");

    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    CHECK(ec && ec2 && rsa && ed, "keys");
    if (!(ec && ec2 && rsa && ed)) {
        goto done;
    }

    /* EC signed with ECDSA */
    n = libctx_cert_der(ec2, ec, &der);
    x = n > 0 ? nitro_attest_cert_parse(der, (size_t) n) : NULL;
    CHECK(strcmp(libctx_provider_of(x), view) == 0, "EC by ECDSA: %s",
          libctx_provider_of(x));
    CHECK(x && X509_verify(x, ec) == 1, "verifies with a default key");
    test_libctx_key_out(x);
    CHECK(nitro_attest_cert_parse(der, (size_t) n - 1) == NULL,
          "truncated: refused");
    X509_free(x);
    OPENSSL_free(der);

    /* an RSA key, an EC key under an RSA or Ed25519 signature: the same
       context, decoded once */
    x = libctx_parsed(rsa, ec, view, "RSA key");
    test_libctx_key_out(x);
    X509_free(x);

    y = libctx_parsed(ec, rsa, view, "EC key, RSA signature");
    CHECK(y && X509_verify(y, rsa) == 1, "and it verifies there");

    x = libctx_parsed(ec, ed, view, "EC key, Ed25519 signature");
    CHECK(x && X509_verify(x, ed) == 1, "verifies");
    X509_free(x);

    /* a chain of kinds: an EC certificate signed by the key of one that
       an RSA key signed */
    x = libctx_parsed(ec2, ec, view, "EC by ECDSA");
    CHECK(x && y && X509_verify(x, X509_get0_pubkey(y)) == 1,
          "verifies with the key of a parsed certificate");
    CHECK(x && X509_verify(x, ec2) != 1, "and not by another key");
    X509_free(x);
    X509_free(y);

    /*
     * Keys of other kinds, which can cost OpenSSL much more to decode than
     * to parse: the certificate is parsed, exactly, without its key, and
     * still has a fingerprint (a client certificate of such a key
     * verifies its document as any other).
     */
    for (k = 0; k < sizeof(odd_keys) / sizeof(odd_keys[0]); k++) {
        odd = libctx_ec_key(odd_keys[k].curve, odd_keys[k].param,
                            odd_keys[k].form);
        n = odd ? libctx_cert_der(odd, ec, &der) : -1;
        CHECK(n > 0, "%s: a certificate", odd_keys[k].what);
        if (n <= 0) {
            EVP_PKEY_free(odd);
            continue;
        }

        x = nitro_attest_cert_parse(der, (size_t) n);
        out = NULL;
        CHECK(x && X509_get0_pubkey(x) == NULL, "%s: parsed without its key",
              odd_keys[k].what);
        CHECK(x && i2d_X509(x, &out) == n && memcmp(out, der, n) == 0,
              "%s: as carried", odd_keys[k].what);
        CHECK(nitro_attest_verify_cert_der(cf, der, (size_t) n, 1, v)
              == NITRO_ATTEST_NO_EXTENSION && (v->flags & NITRO_ATTEST_F_CERT),
              "%s: verified as a client certificate: %s", odd_keys[k].what,
              nitro_attest_reason_name(v->reason));
        CHECK(nitro_attest_cert_parse(der, (size_t) n - 1) == NULL,
              "%s: truncated, refused", odd_keys[k].what);

        OPENSSL_free(out);
        X509_free(x);
        OPENSSL_free(der);
        EVP_PKEY_free(odd);
    }

done:

    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
    ERR_clear_error();
}


void
unit_libctx(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_libctx(cf, v);
}
