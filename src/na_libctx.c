/*
 * na_libctx.c: where the certificates of a document are parsed and their
 * signatures verified.
 *
 * What decoding a certificate's public key costs depends on its bytes:
 * explicit EC parameters over a crafted prime, or a compressed point on a
 * curve whose square roots are slow (P-224), cost OpenSSL from a
 * millisecond to a fraction of a second per certificate, before any
 * signature is checked.  A certificate's key is therefore decoded only when
 * its DER says it is of a kind whose decoding costs little whatever the
 * bytes: EC on P-256, P-384 or P-521 named by OID with an uncompressed
 * point, RSA, RSA-PSS, Ed25519 or Ed448.  Any other certificate is parsed
 * without its key, in a library context with no algorithm at all: it is
 * as well formed as OpenSSL says, and its key verifies nothing (a leaf's
 * signature is bad, a CA's path invalid), as for a key OpenSSL does not
 * know.  Real documents carry P-384 keys only.
 *
 * OpenSSL 3.0 and 3.1 decode a public key through
 * OSSL_DECODER_CTX_new_for_pkey(), which scans every decoder and key
 * manager of every provider of the library context, under the method
 * store's locks, for each certificate: about 80 us of a P-384 document's
 * certificate, a fifth of a P-384 verification, and more for an RSA one
 * (OpenSSL 3.2 resolves decoders once and caches decoder contexts).
 *
 * Below 3.2, the core therefore parses and verifies in a library context
 * of its own, whose only provider is a view of the default provider the
 * process already runs: its digests, and of its key managers, DER
 * decoders, encoders and signatures those of the key kinds above.  The
 * implementations are the default provider's own (same functions, same
 * provider context), so results are the same; only the scan is short.
 * Every certificate whose key is decoded is decoded there, once.
 *
 * The view is not used, and OpenSSL's default context parses and verifies
 * those certificates, when:
 *   - OpenSSL is 3.2 or later (nothing to gain);
 *   - the default provider is not active in the default context (a FIPS
 *     or otherwise restricted configuration: the view would go around it),
 *     default properties ask for FIPS, or what the default context would
 *     verify a certificate with (the key managers and signatures above,
 *     SHA-384) comes from another provider;
 *   - NITRO_ATTEST_OPENSSL_VIEW=off is in the environment at first use;
 *   - anything in building it fails.
 * The choice is made once, at the first certificate or root parsed, and
 * holds for the process: a configuration changed later by the application
 * is not looked at again.  The view holds its own activation of the
 * default provider, whose provider context its algorithms run with.
 * Keys parsed in the view can be encoded and printed (their encoders are
 * in it) and compared with keys of the default context.
 */

#include "na_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/x509.h>


#define NA_VIEW_NAME  "nitro-attest-view"


typedef struct {
    int                        operation;
    OSSL_ALGORITHM            *algs;      /* NULL-terminated, ours */
} na_view_op_t;


static struct {
    OSSL_LIB_CTX              *libctx;
    OSSL_PROVIDER             *view;      /* in libctx */
    OSSL_PROVIDER             *source;    /* the default context's default */
    na_view_op_t               ops[5];
    const char                *why;       /* when libctx is NULL */
    OSSL_LIB_CTX              *keyless;   /* certificates not decoded */
    OSSL_PROVIDER             *null;      /* its only provider */
} na_view;

/* the key kinds decoded (na_key_decodes_cheaply()), and their signatures */
static const char  *na_view_keys[] = {
    "EC", "RSA", "RSA-PSS", "ED25519", "ED448", NULL
};

static const char  *na_view_signatures[] = {
    "ECDSA", "RSA", "ED25519", "ED448", NULL
};

static pthread_once_t  na_view_once = PTHREAD_ONCE_INIT;


static void na_view_setup(void);
static void na_view_build(void);
static int na_view_find_default(OSSL_PROVIDER *p, void *arg);
static int na_view_default_decides(const OSSL_PROVIDER *source);
static int na_first_name_in(const OSSL_ALGORITHM *alg, const char **names);
static int na_view_keeps(int operation, const OSSL_ALGORITHM *alg);
static int na_view_collect(na_view_op_t *op);
static int na_view_init(const OSSL_CORE_HANDLE *handle,
    const OSSL_DISPATCH *in, const OSSL_DISPATCH **out, void **provctx);
static const OSSL_ALGORITHM *na_view_query(void *provctx, int operation,
    int *no_cache);
static void na_view_drop(void);
static void na_view_release(void);
static int na_key_decodes_cheaply(const uint8_t *der, size_t len);
static int na_der_read(const unsigned char **p, const unsigned char *end,
    int *tag, int *cls, long *len);
static X509 *na_d2i(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len);


/* The context to parse and verify certificates in; NULL is the default. */
OSSL_LIB_CTX *
na_libctx(void)
{
    if (pthread_once(&na_view_once, na_view_setup) != 0) {
        return NULL;
    }

    return na_view.libctx;
}


/* "view" or "default", and why the default, for diagnostics and tests. */
const char *
nitro_attest_openssl_context(const char **why)
{
    const char  *which;

    which = na_libctx() != NULL ? "view" : "default";

    if (why != NULL) {
        *why = na_view.why;
    }

    return which;
}


/*
 * One certificate, exactly the DER given, parsed once: with its key in the
 * view (or the default context), or, when its key is of another kind,
 * without it.
 */
X509 *
nitro_attest_cert_parse(const uint8_t *der, size_t len)
{
    int            decodes;
    OSSL_LIB_CTX  *libctx;

    libctx = na_libctx();

    /* what the reader finds wrong is for d2i_X509() to say */
    ERR_set_mark();
    decodes = na_key_decodes_cheaply(der, len);
    ERR_pop_to_mark();

    if (!decodes) {
        if (na_view.keyless == NULL) {
            return NULL;
        }

        libctx = na_view.keyless;
    }

    return na_d2i(libctx, der, len);
}


/* The context a key's operations belong in: the one it was decoded in. */
OSSL_LIB_CTX *
na_pkey_libctx(const EVP_PKEY *pkey)
{
    if (na_libctx() != NULL && EVP_PKEY_get0_provider(pkey) == na_view.view) {
        return na_view.libctx;
    }

    return NULL;
}


static X509 *
na_d2i(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len)
{
    X509                 *x;
    const unsigned char  *p;

    x = X509_new_ex(libctx, NULL);
    if (x == NULL) {
        return NULL;
    }

    p = der;

    if (d2i_X509(&x, &p, (long) len) == NULL) {
        /* d2i_X509() freed x */
        return NULL;
    }

    if (p != der + len) {
        X509_free(x);
        return NULL;
    }

    return x;
}


/*
 * Whether the certificate's public key is of a kind decoded (see the top
 * of the file), from its DER, read with OpenSSL's own reader only as far
 * as the key: [0] version (optional), serial, signature, issuer,
 * validity, subject, then subjectPublicKeyInfo.  What cannot be followed
 * is not such a key; d2i_X509() then says whether it is a certificate.
 */
static int
na_key_decodes_cheaply(const uint8_t *der, size_t len)
{
    int                   i, skip, tag, cls, nid, ptype, field;
    long                  n;
    X509_ALGOR           *alg;
    const void           *pval;
    const ASN1_OBJECT    *obj;
    const unsigned char  *p, *end;

    p = der;
    end = der + len;

    /* into Certificate, then into tbsCertificate */
    for (i = 0; i < 2; i++) {
        if (na_der_read(&p, end, &tag, &cls, &n) != 0
            || tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL)
        {
            return 0;
        }

        end = p + n;
    }

    if (na_der_read(&p, end, &tag, &cls, &n) != 0) {
        return 0;
    }

    /*
     * After the version: serial, signature, issuer, validity, subject;
     * a version 1 certificate has none, and that was its serial.
     */
    skip = (cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0) ? 5 : 4;
    p += n;

    for (i = 0; i < skip; i++) {
        if (na_der_read(&p, end, &tag, &cls, &n) != 0) {
            return 0;
        }

        p += n;
    }

    if (na_der_read(&p, end, &tag, &cls, &n) != 0
        || tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL)
    {
        return 0;
    }

    end = p + n;
    alg = d2i_X509_ALGOR(NULL, &p, end - p);

    if (alg == NULL) {
        return 0;
    }

    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    nid = OBJ_obj2nid(obj);
    field = 0;

    if (nid == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT) {
        switch (OBJ_obj2nid(pval)) {
        case NID_X9_62_prime256v1:
            field = 32;
            break;
        case NID_secp384r1:
            field = 48;
            break;
        case NID_secp521r1:
            field = 66;
            break;
        }
    }

    X509_ALGOR_free(alg);

    switch (nid) {

    case NID_rsaEncryption:
    case NID_rsassaPss:
    case NID_ED25519:
    case NID_ED448:
        return 1;

    case NID_X9_62_id_ecPublicKey:
        /* a BIT STRING of no unused bits: 04 || x || y */
        return field != 0
               && na_der_read(&p, end, &tag, &cls, &n) == 0
               && tag == V_ASN1_BIT_STRING && cls == V_ASN1_UNIVERSAL
               && n == 2 + 2 * field && p[0] == 0x00
               && p[1] == POINT_CONVERSION_UNCOMPRESSED;
    }

    return 0;
}


/*
 * One TLV's header at *p, before end: *p is then its contents, len bytes
 * that end before end.  Indefinite lengths are refused.
 */
static int
na_der_read(const unsigned char **p, const unsigned char *end, int *tag,
    int *cls, long *len)
{
    int  rc;

    if (*p >= end) {
        return -1;
    }

    rc = ASN1_get_object(p, len, tag, cls, end - *p);

    return (rc & 0x80 || rc & 0x01) ? -1 : 0;
}


/*
 * Once per process: the context of the certificates whose key is not
 * decoded, in every configuration, then the view when it is to be used.
 */
static void
na_view_setup(void)
{
    ERR_set_mark();

    /*
     * Its only provider, the null one (no algorithm), keeps OpenSSL from
     * loading the default provider into it at its first use.
     */
    na_view.keyless = OSSL_LIB_CTX_new();

    if (na_view.keyless != NULL
        && (na_view.null = OSSL_PROVIDER_load(na_view.keyless, "null"))
           == NULL)
    {
        OSSL_LIB_CTX_free(na_view.keyless);
        na_view.keyless = NULL;
    }

    na_view_build();

    /* before OpenSSL's own cleanup, which was registered earlier */
    if (atexit(na_view_release) != 0) {
        na_view_release();
        na_view.why = "atexit() failed";
    }

    ERR_pop_to_mark();
}


static void
na_view_build(void)
{
    size_t          i;
    const char     *env;
    OSSL_PROVIDER  *active;

    static const int  operations[] = {
        OSSL_OP_DIGEST, OSSL_OP_KEYMGMT, OSSL_OP_SIGNATURE, OSSL_OP_DECODER,
        OSSL_OP_ENCODER
    };

    if (OPENSSL_version_major() != 3 || OPENSSL_version_minor() >= 2) {
        na_view.why = "OpenSSL 3.2 or later decodes certificates fast";
        return;
    }

    env = getenv("NITRO_ATTEST_OPENSSL_VIEW");
    if (env != NULL && strcmp(env, "off") == 0) {
        na_view.why = "NITRO_ATTEST_OPENSSL_VIEW=off";
        return;
    }

    if (EVP_default_properties_is_fips_enabled(NULL)) {
        na_view.why = "default properties ask for FIPS";
        return;
    }

    active = NULL;
    OSSL_PROVIDER_do_all(NULL, na_view_find_default, &active);

    if (active == NULL) {
        na_view.why = "the default provider is not active";
        return;
    }

    /*
     * What the default context would verify with must be the default
     * provider's: another provider (an HSM's, a FIPS one) or default
     * properties choosing one are obeyed by staying out of the way.
     */
    if (!na_view_default_decides(active)) {
        na_view.why = "the default context would not verify with the "
                      "default provider";
        return;
    }

    /*
     * An activation of our own: the source's provider context, which the
     * view hands to the source's implementations, lives as long as the view
     * even if the application unloads its own activation.  It is active
     * already, so this loads nothing new.
     */
    na_view.source = OSSL_PROVIDER_load(NULL, "default");

    if (na_view.source != active) {
        goto failed;
    }

    for (i = 0; i < sizeof(operations) / sizeof(int); i++) {
        na_view.ops[i].operation = operations[i];

        if (na_view_collect(&na_view.ops[i]) != 0) {
            goto failed;
        }
    }

    na_view.libctx = OSSL_LIB_CTX_new();

    if (na_view.libctx != NULL
        && OSSL_PROVIDER_add_builtin(na_view.libctx, NA_VIEW_NAME,
                                     na_view_init) == 1
        && (na_view.view = OSSL_PROVIDER_load(na_view.libctx, NA_VIEW_NAME))
           != NULL)
    {
        return;
    }

failed:

    na_view_drop();
    na_view.why = "the view of the default provider could not be built";
}


/*
 * Whether the default context, as configured, verifies certificates with
 * the default provider: its key managers and signatures of the kinds the
 * view keeps, and SHA-384.
 */
static int
na_view_default_decides(const OSSL_PROVIDER *source)
{
    int             ok;
    size_t          i;
    EVP_MD         *md;
    EVP_KEYMGMT    *km;
    EVP_SIGNATURE  *sig;

    md = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    ok = md != NULL && EVP_MD_get0_provider(md) == source;
    EVP_MD_free(md);

    for (i = 0; ok && na_view_keys[i] != NULL; i++) {
        km = EVP_KEYMGMT_fetch(NULL, na_view_keys[i], NULL);
        ok = km != NULL && EVP_KEYMGMT_get0_provider(km) == source;
        EVP_KEYMGMT_free(km);
    }

    for (i = 0; ok && na_view_signatures[i] != NULL; i++) {
        sig = EVP_SIGNATURE_fetch(NULL, na_view_signatures[i], NULL);
        ok = sig != NULL && EVP_SIGNATURE_get0_provider(sig) == source;
        EVP_SIGNATURE_free(sig);
    }

    return ok;
}


static int
na_view_find_default(OSSL_PROVIDER *p, void *arg)
{
    if (strcmp(OSSL_PROVIDER_get0_name(p), "default") == 0) {
        *(OSSL_PROVIDER **) arg = p;
        return 0;
    }

    return 1;
}


/* The first name of an algorithm, "EC" of "EC:id-ecPublicKey:...". */
static int
na_first_name_is(const OSSL_ALGORITHM *alg, const char *name)
{
    size_t  n;

    n = strlen(name);

    return strncmp(alg->algorithm_names, name, n) == 0
           && (alg->algorithm_names[n] == '\0'
               || alg->algorithm_names[n] == ':');
}


/* Whether the first name of an algorithm is one of names. */
static int
na_first_name_in(const OSSL_ALGORITHM *alg, const char **names)
{
    size_t  i;

    for (i = 0; names[i] != NULL; i++) {
        if (na_first_name_is(alg, names[i])) {
            return 1;
        }
    }

    return 0;
}


static int
na_view_keeps(int operation, const OSSL_ALGORITHM *alg)
{
    switch (operation) {

    case OSSL_OP_DIGEST:
        return 1;

    case OSSL_OP_KEYMGMT:
    case OSSL_OP_ENCODER:
        /* encoders: so that keys parsed in the view can be printed */
        return na_first_name_in(alg, na_view_keys);

    case OSSL_OP_SIGNATURE:
        return na_first_name_in(alg, na_view_signatures);

    case OSSL_OP_DECODER:
        /* DER of those keys, in every structure the default provider reads */
        return na_first_name_in(alg, na_view_keys)
               && alg->property_definition != NULL
               && strstr(alg->property_definition, "input=der") != NULL;
    }

    return 0;
}


/* Copies what the view keeps of one operation of the source provider. */
static int
na_view_collect(na_view_op_t *op)
{
    int                    no_cache;
    size_t                 n, k;
    const OSSL_ALGORITHM  *all;

    all = OSSL_PROVIDER_query_operation(na_view.source, op->operation,
                                        &no_cache);
    if (all == NULL) {
        return -1;
    }

    for (n = 0; all[n].algorithm_names != NULL; n++) {
        /* count */
    }

    op->algs = calloc(n + 1, sizeof(OSSL_ALGORITHM));

    if (op->algs != NULL) {
        for (n = 0, k = 0; all[n].algorithm_names != NULL; n++) {
            if (na_view_keeps(op->operation, &all[n])) {
                op->algs[k++] = all[n];
            }
        }
    }

    OSSL_PROVIDER_unquery_operation(na_view.source, op->operation, all);

    return op->algs != NULL && op->algs[0].algorithm_names != NULL ? 0 : -1;
}


static const OSSL_DISPATCH  na_view_dispatch[] = {
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void)) na_view_query },
    { 0, NULL }
};


/*
 * The view's provider context is the source's: the implementations it
 * hands out are the source's and run with what they expect.
 */
static int
na_view_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
    (void) handle;
    (void) in;

    *provctx = OSSL_PROVIDER_get0_provider_ctx(na_view.source);
    *out = na_view_dispatch;

    return *provctx != NULL;
}


static const OSSL_ALGORITHM *
na_view_query(void *provctx, int operation, int *no_cache)
{
    size_t  i;

    (void) provctx;
    *no_cache = 0;

    for (i = 0; i < sizeof(na_view.ops) / sizeof(na_view.ops[0]); i++) {
        if (na_view.ops[i].operation == operation) {
            return na_view.ops[i].algs;
        }
    }

    return NULL;
}


/* What na_view_build() made, as it was before. */
static void
na_view_drop(void)
{
    size_t  i;

    if (na_view.view != NULL) {
        OSSL_PROVIDER_unload(na_view.view);
    }

    OSSL_LIB_CTX_free(na_view.libctx);

    if (na_view.source != NULL) {
        OSSL_PROVIDER_unload(na_view.source);
    }

    for (i = 0; i < sizeof(na_view.ops) / sizeof(na_view.ops[0]); i++) {
        free(na_view.ops[i].algs);
        na_view.ops[i].algs = NULL;
    }

    na_view.view = NULL;
    na_view.libctx = NULL;
    na_view.source = NULL;
}


/* At exit (or when the module holding this code is unloaded). */
static void
na_view_release(void)
{
    na_view_drop();

    if (na_view.null != NULL) {
        OSSL_PROVIDER_unload(na_view.null);
    }

    OSSL_LIB_CTX_free(na_view.keyless);

    na_view.null = NULL;
    na_view.keyless = NULL;
    na_view.why = "released at exit";
}
