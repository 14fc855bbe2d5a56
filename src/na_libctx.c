/*
 * na_libctx.c: where the certificates of a document are parsed and their
 * signatures verified.
 *
 * OpenSSL 3.0 and 3.1 decode a certificate's public key through
 * OSSL_DECODER_CTX_new_for_pkey(), which scans every decoder and key
 * manager of every provider of the library context, under the method
 * store's locks, for each certificate: about 80 us of a P-384 document's
 * certificate, a fifth of a P-384 verification (OpenSSL issues #17950,
 * #19119, #20051; 3.2 resolves decoders once and caches decoder contexts).
 *
 * Below 3.2, the core therefore parses and verifies in a library context
 * of its own, whose only provider is a view of the default provider the
 * process already runs: its digests, and of its key managers, decoders and
 * signatures only those of EC keys.  The implementations are the default
 * provider's own (same functions, same provider context), so results are
 * the same; only the scan is short.  A certificate the view cannot handle
 * (a key that is not EC, a signature that is not ECDSA) is parsed again in
 * OpenSSL's default context, and verifies there as it always did.
 *
 * The view is not used, and everything happens in the default context,
 * when:
 *   - OpenSSL is 3.2 or later (nothing to gain);
 *   - the default provider is not active in the default context (a FIPS
 *     or otherwise restricted configuration: the view would go around it),
 *     default properties ask for FIPS, or what the default context would
 *     verify an EC certificate with (EC keys, ECDSA, SHA-384) comes from
 *     another provider;
 *   - NITRO_ATTEST_OPENSSL_VIEW=off is in the environment at first use;
 *   - anything in building it fails.
 * The choice is made once, at the first certificate or root parsed, and
 * holds for the process: a configuration changed later by the application
 * is not looked at again.  The view holds its own activation of the
 * default provider, whose provider context its algorithms run with.
 * Keys parsed in the view can be encoded and printed (the EC encoders are
 * in it) and compared with keys of the default context.
 */

#include "na_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/provider.h>


#define NA_VIEW_NAME  "nitro-attest-ec"


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
} na_view;

static pthread_once_t  na_view_once = PTHREAD_ONCE_INIT;


static void na_view_setup(void);
static int na_view_find_default(OSSL_PROVIDER *p, void *arg);
static int na_view_default_decides(const OSSL_PROVIDER *source);
static int na_view_keeps(int operation, const OSSL_ALGORITHM *alg);
static int na_view_collect(na_view_op_t *op);
static int na_view_init(const OSSL_CORE_HANDLE *handle,
    const OSSL_DISPATCH *in, const OSSL_DISPATCH **out, void **provctx);
static const OSSL_ALGORITHM *na_view_query(void *provctx, int operation,
    int *no_cache);
static void na_view_release(void);
static int na_view_can_verify(X509 *x);
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
 * One certificate, exactly the DER given, parsed in the view when the view
 * can verify what it says and in the default context otherwise.
 */
X509 *
nitro_attest_cert_parse(const uint8_t *der, size_t len)
{
    X509          *x;
    OSSL_LIB_CTX  *libctx;

    libctx = na_libctx();

    if (libctx != NULL) {
        /* what the view says of a certificate it declines is not news */
        ERR_set_mark();
        x = na_d2i(libctx, der, len);

        if (x != NULL && na_view_can_verify(x)) {
            ERR_clear_last_mark();
            return x;
        }

        X509_free(x);
        ERR_pop_to_mark();
    }

    return na_d2i(NULL, der, len);
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
 * Whether everything verifying this certificate and verifying with its key
 * needs is in the view: an EC key, decoded, and an ECDSA signature.
 */
static int
na_view_can_verify(X509 *x)
{
    int        md, pk;
    EVP_PKEY  *pkey;

    pkey = X509_get0_pubkey(x);

    if (pkey == NULL || EVP_PKEY_get0_provider(pkey) != na_view.view
        || !EVP_PKEY_is_a(pkey, "EC"))
    {
        return 0;
    }

    return OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk) == 1
           && pk == NID_X9_62_id_ecPublicKey;
}


static void
na_view_setup(void)
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

    ERR_set_mark();

    if (EVP_default_properties_is_fips_enabled(NULL)) {
        na_view.why = "default properties ask for FIPS";
        goto done;
    }

    active = NULL;
    OSSL_PROVIDER_do_all(NULL, na_view_find_default, &active);

    if (active == NULL) {
        na_view.why = "the default provider is not active";
        goto done;
    }

    /*
     * What the default context would verify with must be the default
     * provider's: another provider (an HSM's, a FIPS one) or default
     * properties choosing one are obeyed by staying out of the way.
     */
    if (!na_view_default_decides(active)) {
        na_view.why = "the default context would not verify with the "
                      "default provider";
        goto done;
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

    if (na_view.libctx == NULL
        || OSSL_PROVIDER_add_builtin(na_view.libctx, NA_VIEW_NAME,
                                     na_view_init) != 1
        || (na_view.view = OSSL_PROVIDER_load(na_view.libctx, NA_VIEW_NAME))
           == NULL)
    {
        goto failed;
    }

    /* before OpenSSL's own cleanup, which was registered earlier */
    if (atexit(na_view_release) != 0) {
        goto failed;
    }

    goto done;

failed:

    na_view_release();
    na_view.why = "the EC view of the default provider could not be built";

done:

    ERR_pop_to_mark();
}


/*
 * Whether the default context, as configured, verifies an EC certificate
 * with the default provider: its EC key manager, ECDSA and SHA-384.
 */
static int
na_view_default_decides(const OSSL_PROVIDER *source)
{
    int             ok;
    EVP_MD         *md;
    EVP_KEYMGMT    *km;
    EVP_SIGNATURE  *sig;

    km = EVP_KEYMGMT_fetch(NULL, "EC", NULL);
    sig = EVP_SIGNATURE_fetch(NULL, "ECDSA", NULL);
    md = EVP_MD_fetch(NULL, "SHA2-384", NULL);

    ok = km != NULL && sig != NULL && md != NULL
         && EVP_KEYMGMT_get0_provider(km) == source
         && EVP_SIGNATURE_get0_provider(sig) == source
         && EVP_MD_get0_provider(md) == source;

    EVP_KEYMGMT_free(km);
    EVP_SIGNATURE_free(sig);
    EVP_MD_free(md);

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


static int
na_view_keeps(int operation, const OSSL_ALGORITHM *alg)
{
    switch (operation) {

    case OSSL_OP_DIGEST:
        return 1;

    case OSSL_OP_KEYMGMT:
        return na_first_name_is(alg, "EC");

    case OSSL_OP_SIGNATURE:
        return na_first_name_is(alg, "ECDSA");

    case OSSL_OP_ENCODER:
        /* so that keys parsed in the view can be written out and printed */
        return na_first_name_is(alg, "EC");

    case OSSL_OP_DECODER:
        /* DER of EC keys, in every structure the default provider reads */
        return na_first_name_is(alg, "EC")
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


/* At exit (or when the module holding this code is unloaded). */
static void
na_view_release(void)
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
    na_view.why = "released at exit";
}
