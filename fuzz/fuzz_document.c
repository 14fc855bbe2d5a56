/*
 * fuzz_document.c: the COSE_Sign1 / payload parser.  Input: document
 * bytes.  Verified at the document's own time against the mock root (so
 * forged documents of the mock PKI go through signature, chain, time and
 * policy), inspected as JSON, and peeked; inspect must agree with verify
 * on what is well formed, and a peek must read what verify reads.
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

    /* once: it parses the whole document but its certificates */
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

    /*
     * A peek reads no certificate: it may read a document whose
     * certificates verify finds malformed, never refuse one verify reads.
     */
    if (!peeked && reason != NITRO_ATTEST_MALFORMED_DOCUMENT
        && reason != NITRO_ATTEST_UNSUPPORTED_ALGORITHM)
    {
        fuzz_die("peek", "refuses a document verify reads");
    }

    if (peeked && strlen(module_id) >= sizeof(module_id)) {
        fuzz_die("peek", "module id not cut to its buffer");
    }

    ERR_clear_error();
    return 0;
}
