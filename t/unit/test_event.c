/*
 * test_event.c: the JSON event (na_event.c): every key, in order, on one
 * line.
 */

#include "unit.h"


/* The event's keys, all present, in their fixed order. */
static void
test_event_shape(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int          k;
    char        *json;
    const char  *p, *q;

    static const char  *keys[] = {
        "event_type", "time", "status", "reason", "severity", "module_id",
        "timestamp_ms", "age_s", "digest", "pcrs", "policy",
        "policy_allowed", "binding", "user_data", "nonce", "cert_sha256",
        "doc_sha384", "cache", "verify_us", "resumed", "kind", NULL
    };

    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 5500, v);
    json = nitro_attest_event_json(v);
    CHECK(json != NULL, "json");

    p = json;
    for (k = 0; json && keys[k]; k++) {
        char  quoted[64];

        snprintf(quoted, sizeof(quoted), "\"%s\":", keys[k]);
        q = strstr(p, quoted);
        CHECK(q != NULL, "key %s missing or out of order in %s", keys[k],
              json);
        if (q) {
            p = q;
        }
    }

    CHECK(json && strstr(json, "\"age_s\":5,"), "age truncates: %s",
          json ? json : "");
    CHECK(json && strchr(json, '\n') == NULL, "one line");
    free(json);
}


void
unit_event(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_event_shape(cf, v);
}
