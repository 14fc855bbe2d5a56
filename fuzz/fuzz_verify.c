/*
 * fuzz_verify.c: the whole verification of a client certificate, as the
 * nginx module runs it.  Input: a DER certificate.  The pinned root is the
 * mock PKI's and the time one second after the carried document's own
 * timestamp, so certificates made by `nitro-attest mock cert` verify and
 * their mutations reach every stage, policy and binding included.  The
 * binding mode rotates with the input length to cover all four.
 *
 * Each input is verified twice, without and with a (small, so evicting)
 * chain cache: a cache must never change a verdict.
 */

#include "fuzz_common.h"

#include <openssl/err.h>


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static nitro_attest_verdict_t       fuzz_verdict, fuzz_cached;
static nitro_attest_chain_cache_t  *fuzz_cache;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_setup();

    fuzz_cache = nitro_attest_chain_cache_new(4);
    if (fuzz_cache == NULL) {
        fuzz_die("chain cache", "out of memory");
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     parsed;
    X509                   *cert;
    size_t                  len;
    int64_t                 now;
    const uint8_t          *doc;
    const unsigned char    *p;
    nitro_attest_config_t   cf;
    nitro_attest_reason_e   reason, cached;

    static const nitro_attest_binding_e  modes[] = {
        NITRO_ATTEST_BINDING_PUBLIC_KEY,
        NITRO_ATTEST_BINDING_PUBLIC_KEY,
        NITRO_ATTEST_BINDING_USER_DATA_SPKI,
        NITRO_ATTEST_BINDING_USER_DATA_SHA256,
        NITRO_ATTEST_BINDING_USER_DATA_SHA384
    };

    nitro_attest_config_init(&cf);
    cf.root = fuzz_root;
    cf.policy = fuzz_policy;
    cf.binding = modes[size % (sizeof(modes) / sizeof(modes[0]))];

    now = FUZZ_FALLBACK_NOW_MS;
    p = data;
    cert = d2i_X509(NULL, &p, (long) size);
    parsed = cert != NULL;

    if (parsed) {
        if (nitro_attest_cert_document(NULL, cert, &doc, &len)
            == NITRO_ATTEST_OK)
        {
            now = fuzz_now(doc, len);
        }

        X509_free(cert);
    }

    ERR_clear_error();

    reason = nitro_attest_verify_cert_der(&cf, data, size, now,
                                          &fuzz_verdict);
    fuzz_check_verdict(&fuzz_verdict, reason);

    cf.chain_cache = fuzz_cache;
    cached = nitro_attest_verify_cert_der(&cf, data, size, now, &fuzz_cached);
    fuzz_check_verdict(&fuzz_cached, cached);

    if (cached != reason || fuzz_cached.flags != fuzz_verdict.flags
        || fuzz_cached.not_after_ms != fuzz_verdict.not_after_ms)
    {
        fprintf(stderr, "fuzz: without cache %s, with cache %s\n",
                nitro_attest_reason_name(reason),
                nitro_attest_reason_name(cached));
        fuzz_die("chain cache", "changes the verdict");
    }

    if (!parsed && reason != NITRO_ATTEST_NO_CERTIFICATE) {
        fuzz_die("verify", "bytes OpenSSL refuses verified as a certificate");
    }

    ERR_clear_error();
    return 0;
}
