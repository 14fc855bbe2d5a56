/*
 * fuzz_policy.c: the policy loader.  Input: policy file contents.  A policy
 * that loads is queried through the public accessors and judged against a
 * few measurement sets (a debug enclave, one matching nothing, one made
 * from the input's own bytes); one that does not load must say why.
 */

#include "fuzz_common.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_judge(const nitro_attest_policy_t *policy, const uint8_t *data,
    size_t size)
{
    size_t              i, n;
    na_document_t       doc;
    na_policy_result_t  res;

    static const uint8_t  zero[64];

    memset(&doc, 0, sizeof(doc));

    /* PCRs 0..2 zero: a debug enclave, judged with and without debug */
    for (i = 0; i < 3; i++) {
        doc.pcr[i].p = zero;
        doc.pcr[i].len = 48;
        doc.pcr_mask |= 1u << i;
    }

    na_policy_evaluate(policy, 0, &doc, &res);
    na_policy_evaluate(policy, 1, &doc, &res);

    /* every PCR taken from the input, at each of the three sizes */
    for (i = 0; i < NITRO_ATTEST_PCR_COUNT && size > 0; i++) {
        n = (i % 3 == 0) ? 32 : (i % 3 == 1) ? 48 : 64;
        n = n < size ? n : size;
        doc.pcr[i].p = data + (i * 7) % (size - n + 1);
        doc.pcr[i].len = n;
        doc.pcr_mask |= 1u << i;
    }

    na_policy_evaluate(policy, 0, &doc, &res);

    if (res.allowed != (res.reason == NITRO_ATTEST_OK)) {
        fuzz_die("policy", "allowed and reason disagree");
    }
}


/* every warning names a set (or "-") and says something */
static void
fuzz_lint(void *data, const char *set, const char *text)
{
    (void) data;

    if (set == NULL || set[0] == '\0' || text == NULL || text[0] == '\0') {
        fuzz_die("policy", "a lint warning without a set or a text");
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                    err[256];
    size_t                  i, n;
    const char             *name;
    nitro_attest_policy_t  *policy;

    err[0] = '\0';
    policy = nitro_attest_policy_parse((const char *) data, size, "fuzz.json",
                                       err, sizeof(err));

    if (policy == NULL) {
        if (strstr(err, "fuzz.json") == NULL) {
            fuzz_die("policy", "an error that does not name the file");
        }
        return 0;
    }

    n = nitro_attest_policy_allow_count(policy);
    if (n == 0) {
        fuzz_die("policy", "loaded with an empty allow list");
    }

    for (i = 0; i < n; i++) {
        name = nitro_attest_policy_allow_name(policy, i);
        if (name == NULL || strlen(name) > NITRO_ATTEST_POLICY_NAME_MAX) {
            fuzz_die("policy", "allow set name missing or too long");
        }

        if (nitro_attest_policy_allow_expect_every(policy, i) < 0) {
            fuzz_die("policy", "negative expect_every");
        }
    }

    (void) nitro_attest_policy_digest(policy);
    nitro_attest_policy_lint(policy, fuzz_lint, NULL);
    fuzz_judge(policy, data, size);
    nitro_attest_policy_free(policy);
    return 0;
}
