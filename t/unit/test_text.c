/*
 * test_text.c: the text encodings (na_text.c): tool input in hex or
 * base64, Prometheus label values, RFC 3339 times.
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


/* RFC 3339 UTC with milliseconds, as the event's "time" and status.json */
static void
test_format_time(void)
{
    char  out[32];

    CHECK(nitro_attest_format_time(out, sizeof(out), 0) == 24
          && strcmp(out, "1970-01-01T00:00:00.000Z") == 0, "%s", out);
    CHECK(nitro_attest_format_time(out, sizeof(out), 1796601654892) == 24
          && strcmp(out, "2026-12-07T00:00:54.892Z") == 0, "%s", out);
    /* before the epoch, the milliseconds still count up */
    CHECK(nitro_attest_format_time(out, sizeof(out), -1) == 24
          && strcmp(out, "1969-12-31T23:59:59.999Z") == 0, "%s", out);
    /* too small a buffer: -1, and a NUL-terminated text */
    CHECK(nitro_attest_format_time(out, 24, 0) == -1
          && strlen(out) == 23, "%s", out);
}


void
unit_text(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    (void) cf;
    (void) v;

    test_prometheus_escape();
    test_text_decoding();
    test_format_time();
}
