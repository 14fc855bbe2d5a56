/*
 * fuzz_extension.c: the extension decoder.  Input: a DER client
 * certificate.  The document is looked for under the default OID as CMW
 * and as raw bytes; every byte found must be readable (ASan checks it lies
 * in the certificate's storage) and the only failures are the extension's.
 */

#include "fuzz_common.h"

#include <openssl/err.h>


static nitro_attest_extension_t  *fuzz_raw;
static volatile uint8_t           fuzz_sink;


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char  err[256];

    (void) argc;
    (void) argv;

    fuzz_raw = nitro_attest_extension_new(NULL, NITRO_ATTEST_FORMAT_RAW, err,
                                          sizeof(err));
    if (fuzz_raw == NULL) {
        fuzz_die("extension", err);
    }

    return 0;
}


static void
fuzz_find(const nitro_attest_extension_t *ext, X509 *cert, const char *what)
{
    size_t                  i, len;
    const uint8_t          *doc;
    nitro_attest_reason_e   reason;

    reason = nitro_attest_cert_document(ext, cert, &doc, &len);

    if (reason == NITRO_ATTEST_OK) {
        for (i = 0; i < len; i++) {
            fuzz_sink ^= doc[i];
        }
        return;
    }

    if (reason != NITRO_ATTEST_NO_EXTENSION
        && reason != NITRO_ATTEST_MALFORMED_EXTENSION)
    {
        fuzz_die(what, nitro_attest_reason_name(reason));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509                 *cert;
    const unsigned char  *p;

    p = data;
    cert = d2i_X509(NULL, &p, (long) size);

    if (cert != NULL) {
        fuzz_find(NULL, cert, "cmw");
        fuzz_find(fuzz_raw, cert, "raw");
        X509_free(cert);
    }

    ERR_clear_error();
    return 0;
}
