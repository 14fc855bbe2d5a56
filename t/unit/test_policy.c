/*
 * test_policy.c: the policy (na_policy.c): its lint, and the rules of kinds
 * (the debug rule is an enclave's; sets judge their own kind).  Also the
 * policies other units judge documents with.
 */

#include "unit.h"


static void
test_lint_collect(void *data, const char *set, const char *text)
{
    char    *out = data;
    size_t   n = strlen(out);

    snprintf(out + n, 1024 - n, "%s: %s\n", set, text);
}


/* The lint, through the callback or only counted */
static void
test_policy_lint(void)
{
    char                    err[256], out[1024];
    nitro_attest_policy_t  *policy;

    static const char  json[] =
        "{\"allow\": [{\"name\": \"a\", \"kind\": \"nitrotpm\", \"pcrs\": "
        "{\"23\": \"" ZERO96 "\"}}], \"allow_debug\": true}";

    policy = nitro_attest_policy_parse(json, sizeof(json) - 1, "lint.json",
                                       err, sizeof(err));
    CHECK(policy != NULL, "lint policy: %s", err);
    if (policy == NULL) {
        return;
    }

    out[0] = '\0';
    CHECK(nitro_attest_policy_lint(policy, test_lint_collect, out) == 2,
          "two warnings");
    CHECK(strcmp(out, "-: allow_debug is true: debug enclaves (PCR0, PCR1 "
                 "and PCR2 all zero) are accepted\n"
                 "a: PCR23 is all zero\n") == 0, "lint lines: %s", out);
    CHECK(nitro_attest_policy_lint(policy, NULL, NULL) == 2, "counted");
    nitro_attest_policy_free(policy);
}


nitro_attest_policy_t *
policy_of(const char *json)
{
    char                    err[256];
    nitro_attest_policy_t  *policy;

    policy = nitro_attest_policy_parse(json, strlen(json), "t.json", err,
                                       sizeof(err));
    CHECK(policy != NULL, "policy: %s", err);
    return policy;
}


nitro_attest_policy_t *
policy_for(const nitro_attest_verdict_t *v, const char *allow_kind,
    unsigned allow_pcr, const char *deny_kind, unsigned deny_pcr)
{
    char    json[2048], a[129], d[129];
    size_t  n;

    *nitro_attest_hex(a, nitro_attest_span_ptr(v, v->pcr[allow_pcr]),
                      v->pcr[allow_pcr].len) = '\0';
    *nitro_attest_hex(d, nitro_attest_span_ptr(v, v->pcr[deny_pcr]),
                      v->pcr[deny_pcr].len) = '\0';

    n = (size_t) snprintf(json, sizeof(json), "{\"allow\": [{\"name\": "
                          "\"a\", \"kind\": \"%s\", \"pcrs\": {\"%u\": "
                          "\"%s\"}}]", allow_kind, allow_pcr, a);

    if (deny_kind != NULL) {
        n += (size_t) snprintf(json + n, sizeof(json) - n, ", \"deny\": "
                               "[{\"name\": \"d\", \"kind\": \"%s\", "
                               "\"pcrs\": {\"%u\": \"%s\"}}]", deny_kind,
                               deny_pcr, d);
    }

    snprintf(json + n, sizeof(json) - n, "}");

    return policy_of(json);
}


/* The debug rule is an enclave's; sets judge their own kind. */
static void
test_kind_policy_rules(void)
{
    unsigned                i;
    uint8_t                 zero[48], one[48];
    na_document_t           doc;
    na_policy_result_t      res;
    nitro_attest_policy_t  *policy;

    memset(zero, 0, sizeof(zero));
    memset(one, 1, sizeof(one));
    memset(&doc, 0, sizeof(doc));

    for (i = 0; i < 3; i++) {
        doc.pcr[i].p = zero;
        doc.pcr[i].len = sizeof(zero);
        doc.pcr_mask |= 1u << i;
    }

    doc.kind = NITRO_ATTEST_KIND_ENCLAVE;
    na_policy_evaluate(NULL, 0, &doc, &res);
    CHECK(res.reason == NITRO_ATTEST_DEBUG_ENCLAVE, "enclave zero: debug");

    doc.kind = NITRO_ATTEST_KIND_NITROTPM;
    na_policy_evaluate(NULL, 0, &doc, &res);
    CHECK(res.reason == NITRO_ATTEST_OK && res.allowed, "nitrotpm zero: ok");

    /* a document with no PCR0..2 at all is no debug instance either */
    doc.pcr_mask = 0;
    memset(doc.pcr, 0, sizeof(doc.pcr));
    doc.pcr[7].p = one;
    doc.pcr[7].len = sizeof(one);
    doc.pcr_mask = 1u << 7;
    na_policy_evaluate(NULL, 0, &doc, &res);
    CHECK(res.reason == NITRO_ATTEST_OK, "nitrotpm without PCR0..2");

    policy = policy_of(
        "{\"allow\": [{\"name\": \"enc\", \"pcrs\": {\"7\": \"" ZERO96
        "\"}}, {\"name\": \"enc7\", \"pcrs\": {\"7\": \""
        "010101010101010101010101010101010101010101010101"
        "010101010101010101010101010101010101010101010101\"}},"
        " {\"name\": \"tpm7\", \"kind\": \"nitrotpm\", \"pcrs\": {\"7\": \""
        "010101010101010101010101010101010101010101010101"
        "010101010101010101010101010101010101010101010101\"}}]}");

    if (policy != NULL) {
        na_policy_evaluate(policy, 0, &doc, &res);
        CHECK(res.allowed && res.name && strcmp(res.name, "tpm7") == 0,
              "nitrotpm takes tpm7, not enc7: %s", res.name);
        doc.kind = NITRO_ATTEST_KIND_ENCLAVE;
        na_policy_evaluate(policy, 1, &doc, &res);
        CHECK(res.allowed && res.name && strcmp(res.name, "enc7") == 0,
              "enclave takes enc7: %s", res.name);
        nitro_attest_policy_free(policy);
    }
}


/* "service" and "version": both or neither, allow sets only */
static void
test_policy_release(void)
{
    char                    err[256], json[512];
    size_t                  i;
    int64_t                 version;
    const char             *service;
    nitro_attest_policy_t  *policy;

    static const struct {
        const char  *members;
        const char  *error;
    } bad[] = {
        { "\"service\": \"pay\"", "\"service\" without \"version\"" },
        { "\"version\": 3", "\"version\" without \"service\"" },
        { "\"service\": \"pay\", \"version\": \"3\"", "whole number" },
        { "\"service\": \"pay\", \"version\": 3.5", "whole number" },
        { "\"service\": \"pay\", \"version\": -1", "whole number" },
        { "\"service\": \"\", \"version\": 1", "\"service\" must be" },
        { "\"service\": 7, \"version\": 1", "\"service\" must be" },
    };

    policy = policy_of("{\"allow\": [{\"name\": \"a\", \"service\": "
                       "\"pay\", \"version\": 42, \"pcrs\": {\"0\": \""
                       ZERO96 "\"}}, {\"name\": \"b\", \"pcrs\": {\"0\": "
                       "\"" ZERO96 "\"}}]}");
    if (policy != NULL) {
        version = 0;
        service = nitro_attest_policy_allow_service(policy, 0, &version);
        CHECK(service && strcmp(service, "pay") == 0 && version == 42,
              "service pay version 42");
        CHECK(nitro_attest_policy_allow_service(policy, 1, &version) == NULL,
              "no release");
        CHECK(nitro_attest_policy_allow_find(policy, "b", 1) == 1, "find b");
        CHECK(nitro_attest_policy_allow_find(policy, "c", 1) == (size_t) -1,
              "no c");
        nitro_attest_policy_free(policy);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{\"allow\": [{\"name\": \"a\", %s, "
                 "\"pcrs\": {\"0\": \"" ZERO96 "\"}}]}", bad[i].members);
        err[0] = '\0';
        policy = nitro_attest_policy_parse(json, strlen(json), "r.json", err,
                                           sizeof(err));
        CHECK(policy == NULL && strstr(err, "r.json") != NULL
              && strstr(err, "allow[0] (\"a\")") != NULL
              && strstr(err, bad[i].error) != NULL,
              "%s: %s", bad[i].members, err);
        nitro_attest_policy_free(policy);
    }

    snprintf(json, sizeof(json), "{\"allow\": [{\"name\": \"a\", \"pcrs\": "
             "{\"0\": \"" ZERO96 "\"}}], \"deny\": [{\"name\": \"d\", "
             "\"service\": \"pay\", \"version\": 1, \"pcrs\": {\"0\": \""
             ZERO96 "\"}}]}");
    policy = nitro_attest_policy_parse(json, strlen(json), "r.json", err,
                                       sizeof(err));
    CHECK(policy == NULL && strstr(err, "for allow sets only") != NULL,
          "deny set with a release: %s", err);
    nitro_attest_policy_free(policy);
}


void
unit_policy(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    (void) cf;
    (void) v;

    test_policy_lint();
    test_kind_policy_rules();
    test_policy_release();
}
