/*
 * fuzz_document.c: the COSE_Sign1 / payload parser.  Input: document
 * bytes.  Verified at the document's own time against the mock root (so
 * forged documents of the mock PKI go through signature, chain, time and
 * policy), inspected as JSON, and peeked; inspect and peek must agree on
 * what is well formed.
 */

#include "fuzz_common.h"

#include <openssl/err.h>


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static nitro_attest_verdict_t  fuzz_verdict;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_setup();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     peeked;
    char                   *json;
    char                    module_id[64];
    int64_t                 ts;
    nitro_attest_config_t   cf;
    nitro_attest_reason_e   reason, inspect_reason;

    nitro_attest_config_init(&cf);
    cf.root = fuzz_root;
    cf.policy = fuzz_policy;

    /* once: it parses the whole document, certificates included */
    ts = 0;
    peeked = nitro_attest_document_peek(data, size, &ts, module_id,
                                        sizeof(module_id)) == 0;

    reason = nitro_attest_verify_document(&cf, data, size, NULL,
                                          fuzz_now_after(peeked, ts),
                                          &fuzz_verdict);
    fuzz_check_verdict(&fuzz_verdict, reason);

    inspect_reason = NITRO_ATTEST_OK;
    json = nitro_attest_inspect_json(data, size, &inspect_reason);

    /* a document of another algorithm still decodes, and is shown */
    if ((json != NULL)
        != (inspect_reason == NITRO_ATTEST_OK
            || inspect_reason == NITRO_ATTEST_UNSUPPORTED_ALGORITHM))
    {
        fuzz_die("inspect", "result and reason disagree");
    }

    if (json != NULL && reason == NITRO_ATTEST_MALFORMED_DOCUMENT) {
        fuzz_die("inspect", "shows a document verify calls malformed");
    }

    free(json);

    if (peeked
        && (reason == NITRO_ATTEST_MALFORMED_DOCUMENT
            || strlen(module_id) >= sizeof(module_id)))
    {
        fuzz_die("peek", "reads a document verify calls malformed");
    }

    ERR_clear_error();
    return 0;
}
