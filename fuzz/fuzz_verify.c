/*
 * fuzz_verify.c: the whole verification of a client certificate, as the
 * nginx module runs it.  Input: a DER certificate.  The pinned root is the
 * mock PKI's and the time one second after the carried document's own
 * timestamp, so certificates made by `nitro-attest mock cert` verify and
 * their mutations reach every stage, policy and binding included.  The
 * binding mode rotates with the input length to cover all four.
 *
 * Each input is verified without any cache, with a chain cache, and with
 * a memo (and the chain cache, as the module runs) twice, the second time
 * a memo hit; then 400 days later without any cache and through the memo.
 * The cache and the memo are small, so evicting, and kept across inputs:
 * neither may ever change a verdict, byte for byte.  The first
 * verification reads the DER; the others take the certificate parsed once
 * (as the module does), when the DER is exactly one certificate.
 */

#include "fuzz_common.h"

#include <openssl/err.h>


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define FUZZ_LATER_MS  (INT64_C(400) * 24 * 3600 * 1000)


typedef struct {
    const uint8_t             *der;
    size_t                     len;
    X509                      *cert;   /* NULL: the DER is verified */
} fuzz_input_t;


static nitro_attest_verdict_t       fuzz_fresh, fuzz_other;
static nitro_attest_chain_cache_t  *fuzz_cache;
static nitro_attest_memo_t         *fuzz_memo;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_setup();

    fuzz_cache = nitro_attest_chain_cache_new(4);
    fuzz_memo = nitro_attest_memo_new(4);
    if (fuzz_cache == NULL || fuzz_memo == NULL) {
        fuzz_die("chain cache or memo", "out of memory");
    }

    return 0;
}


static nitro_attest_reason_e
fuzz_verify(const nitro_attest_config_t *cf, const fuzz_input_t *in,
    int64_t now, nitro_attest_verdict_t *v)
{
    nitro_attest_reason_e  reason;

    reason = in->cert != NULL
             ? nitro_attest_verify_cert(cf, in->cert, now, v)
             : nitro_attest_verify_cert_der(cf, in->der, in->len, now, v);
    fuzz_check_verdict(v, reason);

    return reason;
}


/* Verifies into fuzz_other and requires the verdict of fuzz_fresh. */
static void
fuzz_verify_same(const char *what, const nitro_attest_config_t *cf,
    const fuzz_input_t *in, int64_t now)
{
    fuzz_verify(cf, in, now, &fuzz_other);
    fuzz_same_verdict(what, &fuzz_fresh, &fuzz_other);
}


/* Memo lookups (hits + misses) so far, and *hits. */
static uint64_t
fuzz_memo_lookups(uint64_t *hits)
{
    uint64_t  misses;

    nitro_attest_memo_stats(fuzz_memo, hits, &misses);
    return *hits + misses;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     parsed;
    X509                   *cert;
    size_t                  len;
    int64_t                 now, later;
    uint64_t                lookups[3], hits[3];
    fuzz_input_t            in;
    const uint8_t          *doc;
    const unsigned char    *p;
    nitro_attest_config_t   cf, cached, memo;
    nitro_attest_reason_e   reason;

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

    cached = cf;
    cached.chain_cache = fuzz_cache;
    memo = cached;
    memo.memo = fuzz_memo;

    now = FUZZ_FALLBACK_NOW_MS;
    p = data;
    cert = d2i_X509(NULL, &p, (long) size);
    parsed = cert != NULL;

    if (parsed
        && nitro_attest_cert_document(NULL, cert, &doc, &len)
           == NITRO_ATTEST_OK)
    {
        now = fuzz_now(doc, len);
    }

    ERR_clear_error();

    /* the DER first; then the parsed certificate, when it is all of it */
    in.der = data;
    in.len = size;
    in.cert = NULL;
    reason = fuzz_verify(&cf, &in, now, &fuzz_fresh);

    if (p == data + size) {
        in.cert = cert;

    } else {
        X509_free(cert);
    }

    if (!parsed && reason != NITRO_ATTEST_NO_CERTIFICATE) {
        fuzz_die("verify", "bytes OpenSSL refuses verified as a certificate");
    }

    fuzz_verify_same("chain cache", &cached, &in, now);

    lookups[0] = fuzz_memo_lookups(&hits[0]);
    fuzz_verify_same("memo, first", &memo, &in, now);
    lookups[1] = fuzz_memo_lookups(&hits[1]);
    fuzz_verify_same("memo, again", &memo, &in, now);
    lookups[2] = fuzz_memo_lookups(&hits[2]);

    /*
     * A signed document looked up is remembered, unless its verification
     * failed inside (internal_error): the second lookup is a hit.
     */
    if (lookups[2] - lookups[1] != lookups[1] - lookups[0]
        || (lookups[1] != lookups[0] && reason != NITRO_ATTEST_INTERNAL_ERROR
            && hits[2] != hits[1] + 1))
    {
        fuzz_die("memo", "a document just verified is not found again");
    }

    later = now > INT64_MAX - FUZZ_LATER_MS ? INT64_MAX : now + FUZZ_LATER_MS;
    fuzz_verify(&cf, &in, later, &fuzz_fresh);
    fuzz_verify_same("memo, 400 days later", &memo, &in, later);

    X509_free(in.cert);
    ERR_clear_error();
    return 0;
}
