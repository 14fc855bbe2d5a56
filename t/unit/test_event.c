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


/* A server's event: "rollback" after "upstream_addr", null or marked */
static void
test_event_rollback(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    char                  buf[NITRO_ATTEST_EVENT_MAX];
    nitro_attest_where_t  where;

    memset(&where, 0, sizeof(where));
    where.direction = "client";

    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 5500, v);

    nitro_attest_event_render(v, &where, buf, sizeof(buf));
    CHECK(strstr(buf, "\"upstream_addr\":null,\"rollback\":null}") != NULL,
          "no rollback: %s", buf);

    CHECK(nitro_attest_verdict_rollback(v, "pay", 3, 43, 42) == 0, "mark");
    CHECK(nitro_attest_verdict_rollback(v, "pay", 3, 44, 42) == 0, "again");
    CHECK(nitro_attest_verdict_check(v, nitro_attest_verdict_size(v)) == 0,
          "a marked verdict checks");
    v->service.len = NITRO_ATTEST_POLICY_NAME_MAX + 1;
    CHECK(nitro_attest_verdict_check(v, nitro_attest_verdict_size(v)) != 0,
          "a service longer than a set's name does not check");
    v->service.len = 3;
    v->service.off = (uint16_t) (v->size - offsetof(nitro_attest_verdict_t,
                                                    data));
    CHECK(nitro_attest_verdict_check(v, nitro_attest_verdict_size(v)) != 0,
          "a service past the data does not check");
    v->service.off -= 3;
    CHECK(nitro_attest_verdict_rollback(v, buf, NITRO_ATTEST_POLICY_NAME_MAX
                                        + 1, 9, 1) == -1
          && v->rollback_from == 44, "a service too long is refused");
    nitro_attest_event_render(v, &where, buf, sizeof(buf));
    CHECK(strstr(buf, "\"upstream_addr\":null,\"rollback\":{\"service\":"
                 "\"pay\",\"from\":44,\"to\":42}}") != NULL,
          "rollback: %s", buf);

    nitro_attest_event_render(v, NULL, buf, sizeof(buf));
    CHECK(strstr(buf, "rollback") == NULL, "not in the tool's events: %s",
          buf);
}


void
unit_event(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_event_shape(cf, v);
    test_event_rollback(cf, v);
}
