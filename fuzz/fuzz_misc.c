/*
 * fuzz_misc.c: the small parsers.  The first input byte chooses:
 *   even: nitro_attest_decode_text (tool input: raw, hex or base64) on the
 *         rest, then the duration parser on it as a string;
 *   odd:  nitro_attest_verdict_check on the rest as a verdict read back
 *         from a session ticket or a shared cache; a verdict it accepts
 *         must render (event, severity, names) without reading outside it.
 */

#include "fuzz_common.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_text(const uint8_t *data, size_t size)
{
    char     *text;
    size_t    outlen;
    uint8_t  *out;

    out = NULL;
    if (nitro_attest_decode_text(data, size, &out, &outlen) == 0) {
        if (outlen > size) {
            fuzz_die("decode_text", "output longer than its input");
        }
        free(out);
    }

    text = malloc(size + 1);
    if (text != NULL) {
        memcpy(text, data, size);
        text[size] = '\0';
        (void) nitro_attest_parse_duration(text);
        free(text);
    }
}


static void
fuzz_verdict(const uint8_t *data, size_t size)
{
    char                    *json;
    nitro_attest_where_t     where;
    nitro_attest_verdict_t  *v;

    static char  line[NITRO_ATTEST_EVENT_MAX + 1];

    /* exactly size bytes, so ASan sees any read past the verdict's end */
    v = malloc(size ? size : 1);
    if (v == NULL) {
        return;
    }

    memcpy(v, data, size);

    if (nitro_attest_verdict_check(v, size) == 0) {
        json = nitro_attest_event_json(v);
        if (json == NULL) {
            fuzz_die("event", "a checked verdict does not render");
        }
        free(json);

        /* a server's event: the keys after "kind", the rollback among them */
        memset(&where, 0, sizeof(where));
        where.direction = "client";
        if (nitro_attest_event_render(v, &where, line, sizeof(line))
            >= sizeof(line))
        {
            fuzz_die("event", "a checked verdict's server event is too long");
        }

        (void) nitro_attest_severity(v);
        (void) nitro_attest_reason_name((nitro_attest_reason_e) v->reason);
        (void) nitro_attest_status_name((nitro_attest_status_e) v->status);
        (void) nitro_attest_binding_name((nitro_attest_binding_e) v->binding);
    }

    free(v);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    if (data[0] & 1) {
        fuzz_verdict(data + 1, size - 1);
    } else {
        fuzz_text(data + 1, size - 1);
    }

    return 0;
}
