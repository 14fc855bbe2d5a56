
/*
 * ngx_http_nitro_attest_status_json.c: the status endpoint as JSON: the
 * shared counters (clients, then upstreams verified), the allow sets of
 * the running configuration and the inventory, when the http block has
 * one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static u_char *ngx_http_nitro_attest_enclaves_json(u_char *p,
    ngx_array_t *enclaves);


u_char *
ngx_http_nitro_attest_status_json(u_char *p, ngx_nitro_attest_shctx_t *sh,
    ngx_array_t *sets, ngx_array_t *enclaves, int64_t now,
    ngx_http_nitro_attest_recent_t *recent)
{
    ngx_uint_t                    i;
    ngx_atomic_uint_t             last;
    ngx_nitro_attest_set_t      **set;
    ngx_nitro_attest_service_t  **service;

    p = ngx_sprintf(p, "{\"handshakes\":{\"verified\":%uA,\"failed\":%uA},"
                       "\"failures\":{", sh->verified, sh->failed);

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
        p = ngx_sprintf(p, "%s\"%s\":%uA",
                        i == NITRO_ATTEST_NO_CERTIFICATE ? "" : ",",
                        nitro_attest_reason_name(i), sh->failures[i]);
    }

    p = ngx_cpymem(p, "},\"policies\":{", sizeof("},\"policies\":{") - 1);

    set = sets->elts;

    for (i = 0; i < sets->nelts; i++) {
        if (p[-1] != '{') {
            *p++ = ',';
        }

        *p++ = '"';
        p = (u_char *) ngx_escape_json(p, set[i]->name.data, set[i]->name.len);

        last = set[i]->node->last_success;

        p = ngx_sprintf(p, "\":{\"matches\":%uA,\"last_success\":",
                        set[i]->node->matches);

        if (last) {
            p = ngx_sprintf(p, "%uA", last / 1000);

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        p = ngx_sprintf(p, ",\"silent\":%s,\"expect_every\":",
                        ngx_nitro_attest_silent(set[i], now)
                        ? "true" : "false");

        if (set[i]->expect_every) {
            p = ngx_sprintf(p, "%L}", set[i]->expect_every / 1000);

        } else {
            p = ngx_cpymem(p, "null}", 5);
        }
    }

    p = ngx_sprintf(p, "},\"cache\":{\"hit\":%uA,\"miss\":%uA},"
                       "\"protocols\":{\"http\":{\"verified\":%uA,"
                       "\"failed\":%uA},\"stream\":{\"verified\":%uA,"
                       "\"failed\":%uA}}",
                    sh->cache_hit, sh->cache_miss,
                    sh->protocols[NGX_NITRO_ATTEST_HTTP][0],
                    sh->protocols[NGX_NITRO_ATTEST_HTTP][1],
                    sh->protocols[NGX_NITRO_ATTEST_STREAM][0],
                    sh->protocols[NGX_NITRO_ATTEST_STREAM][1]);

    /* "rollbacks": by service, every service of the loaded policies */

    p = ngx_cpymem(p, ",\"rollbacks\":{", sizeof(",\"rollbacks\":{") - 1);

    service = recent->services->elts;

    for (i = 0; i < recent->services->nelts; i++) {
        p = ngx_cpymem(p, i ? ",\"" : "\"", i ? 2 : 1);
        p = (u_char *) ngx_escape_json(p, service[i]->name.data,
                                       service[i]->name.len);
        p = ngx_sprintf(p, "\":%uA", service[i]->node->rollbacks);
    }

    *p++ = '}';

    p = ngx_sprintf(p, ",\"proxy\":{\"verified\":%uA,\"failed\":%uA,"
                       "\"failures\":{", sh->proxy[0], sh->proxy[1]);

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
        p = ngx_sprintf(p, "%s\"%s\":%uA",
                        i == NITRO_ATTEST_NO_CERTIFICATE ? "" : ",",
                        nitro_attest_reason_name(i), sh->proxy_failures[i]);
    }

    *p++ = '}';
    *p++ = '}';

    if (enclaves) {
        p = ngx_http_nitro_attest_enclaves_json(p, enclaves);
    }

    *p++ = '}';
    *p++ = CR;
    *p++ = LF;

    return p;
}


/* "enclaves": the inventory, an instance's enclaves next to each other */

static u_char *
ngx_http_nitro_attest_enclaves_json(u_char *p, ngx_array_t *enclaves)
{
    size_t                        n;
    ngx_uint_t                    i;
    ngx_nitro_attest_enclave_t  **en;

    p = ngx_cpymem(p, ",\"enclaves\":[", sizeof(",\"enclaves\":[") - 1);

    en = enclaves->elts;

    for (i = 0; i < enclaves->nelts; i++) {
        n = nitro_attest_instance_id_len((char *) en[i]->data,
                                         en[i]->module_id_len);

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"module_id\":\"",
                       sizeof("{\"module_id\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, en[i]->data,
                                       en[i]->module_id_len);
        p = ngx_cpymem(p, "\",\"instance_id\":\"",
                       sizeof("\",\"instance_id\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, en[i]->data, n);
        p = ngx_sprintf(p, "\",\"kind\":\"%s\",\"policy\":",
                        nitro_attest_kind_name(en[i]->kind));

        if (en[i]->policy_len) {
            *p++ = '"';
            p = (u_char *) ngx_escape_json(p,
                                           en[i]->data + en[i]->module_id_len,
                                           en[i]->policy_len);
            *p++ = '"';

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        p = ngx_cpymem(p, ",\"pcr0\":", sizeof(",\"pcr0\":") - 1);

        if (en[i]->pcr0_len) {
            *p++ = '"';
            p = (u_char *) nitro_attest_hex((char *) p, en[i]->pcr0,
                                            en[i]->pcr0_len);
            *p++ = '"';

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        p = ngx_sprintf(p, ",\"first_seen\":%L,\"last_seen\":%L,"
                           "\"last_status\":\"%s\",\"last_reason\":",
                        en[i]->first_seen, en[i]->last_seen,
                        en[i]->status == NITRO_ATTEST_STATUS_SUCCESS
                        ? "SUCCESS" : "FAILED");

        if (en[i]->status == NITRO_ATTEST_STATUS_SUCCESS) {
            p = ngx_cpymem(p, "null", 4);

        } else {
            p = ngx_sprintf(p, "\"%s\"",
                            nitro_attest_reason_name(en[i]->reason));
        }

        p = ngx_sprintf(p, ",\"verified\":%uL,\"failed\":%uL}",
                        en[i]->verified, en[i]->failed);
    }

    *p++ = ']';

    return p;
}
