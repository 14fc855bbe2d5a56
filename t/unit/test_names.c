/*
 * test_names.c: the names of the enums and their parsers, durations and
 * the instance of a module id (na_names.c).
 */

#include "unit.h"


static void
test_durations(void)
{
    CHECK(nitro_attest_parse_duration("30s") == 30000, "30s");
    CHECK(nitro_attest_parse_duration("5m") == 300000, "5m");
    CHECK(nitro_attest_parse_duration("250ms") == 250, "250ms");
    CHECK(nitro_attest_parse_duration("1h 30m") == 5400000, "1h 30m");
    CHECK(nitro_attest_parse_duration("1h30m") == 5400000, "1h30m");
    CHECK(nitro_attest_parse_duration("10") == 10000, "bare seconds");
    CHECK(nitro_attest_parse_duration("2d") == 172800000, "2d");
    CHECK(nitro_attest_parse_duration("") == -1, "empty");
    CHECK(nitro_attest_parse_duration("s") == -1, "no number");
    CHECK(nitro_attest_parse_duration("5x") == -1, "bad unit");
    CHECK(nitro_attest_parse_duration("-5s") == -1, "negative");
    CHECK(nitro_attest_parse_duration("99999999999999999999s") == -1,
          "overflow");
}


static void
test_names(void)
{
    nitro_attest_kind_e     k;
    nitro_attest_binding_e  b;
    nitro_attest_format_e   f;

    CHECK(strcmp(nitro_attest_reason_name(NITRO_ATTEST_PCR_MISMATCH),
                 "pcr_mismatch") == 0, "reason name");
    CHECK(strcmp(nitro_attest_reason_name(NITRO_ATTEST_INTERNAL_ERROR),
                 "internal_error") == 0, "reason name");
    CHECK(strcmp(nitro_attest_reason_name(NITRO_ATTEST_ROLLBACK),
                 "rollback") == 0
          && NITRO_ATTEST_ROLLBACK == NITRO_ATTEST_KEY_NOT_PROVEN + 1,
          "rollback after key_not_proven");
    CHECK(nitro_attest_binding_parse("user_data_sha384", &b) == 0
          && b == NITRO_ATTEST_BINDING_USER_DATA_SHA384, "binding");
    CHECK(nitro_attest_binding_parse("spki", &b) == -1, "bad binding");
    CHECK(nitro_attest_format_parse("raw", &f) == 0
          && f == NITRO_ATTEST_FORMAT_RAW, "format");
    CHECK(nitro_attest_format_parse("der", &f) == -1, "bad format");
    CHECK(nitro_attest_kind_parse("nitrotpm", &k) == 0
          && k == NITRO_ATTEST_KIND_NITROTPM
          && strcmp(nitro_attest_kind_name(k), "nitrotpm") == 0, "kind");
    CHECK(nitro_attest_kind_parse("tpm", &k) == -1, "bad kind");
}


/* The module id up to its last "-enc" or "-tpm", else all */
static void
test_instance_id(void)
{
    size_t  i, n;

    static const struct {
        const char  *module_id;
        const char  *instance_id;
    } cases[] = {
        { "i-0f0e0d0c0b0a09080-enc0123456789abcdef", "i-0f0e0d0c0b0a09080" },
        { "i-0f0e0d0c0b0a09080-tpm0000000000000000", "i-0f0e0d0c0b0a09080" },
        { "i-0abc-enc01-enc02", "i-0abc-enc01" },       /* the last one */
        { "i-0abc-tpm01-enc02", "i-0abc-tpm01" },
        { "i-0abc-enc", "i-0abc" },                     /* nothing after */
        { "-enc01", "" },                               /* nothing before */
        { "i-0abc", "i-0abc" },                         /* neither */
        { "i-0abc-en", "i-0abc-en" },
        { "enc", "enc" },
        { "i-0abc-ENC01", "i-0abc-ENC01" },             /* exact case */
        { "", "" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = nitro_attest_instance_id_len(cases[i].module_id,
                                         strlen(cases[i].module_id));
        CHECK(n == strlen(cases[i].instance_id)
              && strncmp(cases[i].module_id, cases[i].instance_id, n) == 0,
              "instance id of \"%s\": %zu bytes", cases[i].module_id, n);
    }
}


void
unit_names(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    (void) cf;
    (void) v;

    test_durations();
    test_names();
    test_instance_id();
}
