/*
 * test_verify.c: the verification as a whole (na_verify.c): every real
 * document verifies at its own time, and the paths no CLI input reaches.
 */

#include "unit.h"


/* Every real AWS document verifies at its own time. */
static void
test_real_documents(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int  i;

    for (i = 0; i < ndocs; i++) {
        nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                     docs[i].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s: %s", docs[i].name,
              nitro_attest_reason_name(v->reason));
        CHECK(v->status == NITRO_ATTEST_STATUS_SUCCESS, "%s", docs[i].name);
        CHECK(v->binding == NITRO_ATTEST_BINDING_NONE, "%s", docs[i].name);
        CHECK(v->not_after_ms > docs[i].timestamp
              && v->not_after_ms - docs[i].timestamp <= 3 * 3600 * 1000,
              "%s: leaf notAfter should be the earliest, ~3 h away",
              docs[i].name);
    }
}


/* The paths that have no CLI input: no certificate, no root. */
static void
test_no_certificate_and_internal_error(nitro_attest_config_t *cf,
    nitro_attest_verdict_t *v)
{
    char                   *json;
    nitro_attest_config_t   broken;
    static const uint8_t    junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

    CHECK(nitro_attest_verify_cert(cf, NULL, 1, v)
          == NITRO_ATTEST_NO_CERTIFICATE, "NULL certificate");
    CHECK(v->status == NITRO_ATTEST_STATUS_FAILED, "no_certificate fails");
    CHECK(strcmp(nitro_attest_severity(v), "WARNING") == 0, "severity");

    CHECK(nitro_attest_verify_cert_der(cf, junk, sizeof(junk), 1, v)
          == NITRO_ATTEST_NO_CERTIFICATE, "junk DER");

    /* a verifier without a root is a programming error, not a verdict */
    broken = *cf;
    broken.root = NULL;
    CHECK(nitro_attest_verify_document(&broken, docs[0].data, docs[0].len,
                                       NULL, docs[0].timestamp, v)
          == NITRO_ATTEST_INTERNAL_ERROR, "no root: %s",
          nitro_attest_reason_name(v->reason));

    json = nitro_attest_event_json(v);
    CHECK(json && strstr(json, "\"reason\":\"internal_error\""), "%s", json);
    CHECK(json && strstr(json, "\"severity\":\"WARNING\""), "%s", json);
    free(json);

    nitro_attest_verdict_none(v, 1000);
    json = nitro_attest_event_json(v);
    CHECK(json && strstr(json, "\"status\":\"NONE\",\"reason\":null"),
          "%s", json);
    CHECK(json && strstr(json, "\"time\":\"1970-01-01T00:00:01.000Z\""),
          "%s", json);
    free(json);
}


void
unit_verify(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_real_documents(cf, v);
    test_no_certificate_and_internal_error(cf, v);
}
