/*
 * test_text.c: the text encodings (na_text.c): tool input in hex or
 * base64, Prometheus label values.
 */

#include "unit.h"


/* A Prometheus label value: backslash, double quote, newline escaped. */
static void
test_prometheus_escape(void)
{
    char  out[64], *end;

    end = nitro_attest_prometheus_escape(out, (const uint8_t *) "a\"b\\c\nd",
                                         8);
    CHECK((size_t) (end - out) == 11
          && memcmp(out, "a\\\"b\\\\c\\nd", 11) == 0, "label escape");
}


static void
test_text_decoding(void)
{
    uint8_t  *out;
    size_t    len;

    static const uint8_t  raw[] = { 0x84, 0x44, 0xa1, 0x01 };

    CHECK(nitro_attest_decode_text((const uint8_t *) "84 44\na1 01", 11,
                                   &out, &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "hex with whitespace");
    free(out);

    CHECK(nitro_attest_decode_text((const uint8_t *) "hEShAQ==", 8, &out,
                                   &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "base64");
    free(out);

    CHECK(nitro_attest_decode_text((const uint8_t *) "hEShAQ", 6, &out,
                                   &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "unpadded base64");
    free(out);

    CHECK(nitro_attest_decode_text(raw, sizeof(raw), &out, &len) == 0
          && len == 4 && memcmp(out, raw, 4) == 0, "raw stays raw");
    free(out);
}


void
unit_text(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    (void) cf;
    (void) v;

    test_prometheus_escape();
    test_text_decoding();
}
