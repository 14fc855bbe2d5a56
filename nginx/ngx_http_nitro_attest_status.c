
/*
 * ngx_http_nitro_attest_status.c: "nitro_attest_status": the shared
 * counters as JSON, or as the Prometheus text format 0.0.4.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static ngx_uint_t ngx_http_nitro_attest_wants_prometheus(ngx_http_request_t *r);
static ngx_array_t *ngx_http_nitro_attest_status_sets(ngx_http_request_t *r,
    ngx_nitro_attest_main_t *namcf);
static u_char *ngx_http_nitro_attest_status_json(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, int64_t now);
static u_char *ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, int64_t now);
static u_char *ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value);


/*
 * nitro_attest_status: the counters as JSON, or as Prometheus text 0.0.4
 * for "?format=prometheus" or a client that accepts text/plain (and not
 * JSON).  Allow sets are those of the running configuration, of both
 * protocols.
 */

ngx_int_t
ngx_http_nitro_attest_status_handler(ngx_http_request_t *r)
{
    size_t                              size;
    int64_t                             now;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_uint_t                          i, prometheus;
    ngx_chain_t                         out;
    ngx_array_t                        *sets;
    ngx_nitro_attest_set_t            **set;
    ngx_nitro_attest_main_t            *namcf;
    ngx_http_nitro_attest_main_conf_t  *hmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_nitro_attest_module);
    namcf = &hmcf->na;

    if (namcf->sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    prometheus = ngx_http_nitro_attest_wants_prometheus(r);

    sets = ngx_http_nitro_attest_status_sets(r, namcf);
    if (sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every name appears escaped (at most doubled) in six lines at most */

    size = 4096 + NITRO_ATTEST_REASON_COUNT * (64 + NGX_ATOMIC_T_LEN);
    set = sets->elts;

    for (i = 0; i < sets->nelts; i++) {
        size += 6 * (2 * set[i]->name.len + 96 + NGX_INT64_LEN);
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_nitro_attest_now();

    if (prometheus) {
        b->last = ngx_http_nitro_attest_status_prometheus(b->last, namcf->sh,
                                                          sets, now);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        b->last = ngx_http_nitro_attest_status_json(b->last, namcf->sh, sets,
                                                    now);
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The allow sets to report: those of every protocol block counting into
 * the zone, each counted name once (the same name in http and stream, or
 * in two policy files, is one set to the metrics).
 */

static ngx_array_t *
ngx_http_nitro_attest_status_sets(ngx_http_request_t *r,
    ngx_nitro_attest_main_t *namcf)
{
    ngx_uint_t                 m, i, k;
    ngx_array_t               *sets, *mains;
    ngx_nitro_attest_set_t    *set, **seen, **p;
    ngx_nitro_attest_main_t  **nam;

    sets = ngx_array_create(r->pool, 8, sizeof(ngx_nitro_attest_set_t *));
    if (sets == NULL) {
        return NULL;
    }

    mains = namcf->shm_zone->data;
    nam = mains->elts;

    for (m = 0; m < mains->nelts; m++) {
        set = nam[m]->sets.elts;

        for (i = 0; i < nam[m]->sets.nelts; i++) {
            if (set[i].node == NULL) {
                continue;
            }

            seen = sets->elts;

            for (k = 0; k < sets->nelts; k++) {
                if (seen[k]->node == set[i].node) {
                    break;
                }
            }

            if (k < sets->nelts) {
                continue;
            }

            p = ngx_array_push(sets);
            if (p == NULL) {
                return NULL;
            }

            *p = &set[i];
        }
    }

    return sets;
}


static ngx_uint_t
ngx_http_nitro_attest_wants_prometheus(ngx_http_request_t *r)
{
    u_char           *last;
    ngx_str_t         format;
    ngx_table_elt_t  *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        return format.len == 10
               && ngx_strncmp(format.data, "prometheus", 10) == 0;
    }

    accept = r->headers_in.accept;

    if (accept == NULL) {
        return 0;
    }

    last = accept->value.data + accept->value.len;

    return ngx_strlcasestrn(accept->value.data, last,
                            (u_char *) "text/plain", 10 - 1) != NULL
           && ngx_strlcasestrn(accept->value.data, last,
                               (u_char *) "application/json", 16 - 1)
              == NULL;
}


static u_char *
ngx_http_nitro_attest_status_json(u_char *p, ngx_nitro_attest_shctx_t *sh,
    ngx_array_t *sets, int64_t now)
{
    ngx_uint_t                 i;
    ngx_atomic_uint_t          last;
    ngx_nitro_attest_set_t   **set;

    p = ngx_sprintf(p, "{\"handshakes\":{\"verified\":%uA,\"failed\":%uA},"
                       "\"failures\":{", sh->verified, sh->failed);

    for (i = NITRO_ATTEST_NO_CERTIFICATE; i < NITRO_ATTEST_REASON_COUNT; i++) {
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
                       "\"failed\":%uA}}}" CRLF,
                    sh->cache_hit, sh->cache_miss,
                    sh->protocols[NGX_NITRO_ATTEST_HTTP][0],
                    sh->protocols[NGX_NITRO_ATTEST_HTTP][1],
                    sh->protocols[NGX_NITRO_ATTEST_STREAM][0],
                    sh->protocols[NGX_NITRO_ATTEST_STREAM][1]);

    return p;
}


static u_char *
ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, int64_t now)
{
    ngx_uint_t                 i;
    ngx_atomic_uint_t          last;
    ngx_nitro_attest_set_t   **set;

    set = sets->elts;

    p = ngx_sprintf(p,
        "# HELP nitro_attest_handshakes_total Full TLS handshakes whose "
        "client attestation was verified or failed.\n"
        "# TYPE nitro_attest_handshakes_total counter\n"
        "nitro_attest_handshakes_total{result=\"verified\"} %uA\n"
        "nitro_attest_handshakes_total{result=\"failed\"} %uA\n"
        "# HELP nitro_attest_protocol_handshakes_total Full TLS handshakes "
        "by protocol (http, stream) and result.\n"
        "# TYPE nitro_attest_protocol_handshakes_total counter\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"http\",result=\"verified\"} %uA\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"http\",result=\"failed\"} %uA\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"stream\",result=\"verified\"} %uA\n"
        "nitro_attest_protocol_handshakes_total"
        "{protocol=\"stream\",result=\"failed\"} %uA\n"
        "# HELP nitro_attest_failures_total Failed attestations by reason "
        "code.\n"
        "# TYPE nitro_attest_failures_total counter\n",
        sh->verified, sh->failed,
        sh->protocols[NGX_NITRO_ATTEST_HTTP][0],
        sh->protocols[NGX_NITRO_ATTEST_HTTP][1],
        sh->protocols[NGX_NITRO_ATTEST_STREAM][0],
        sh->protocols[NGX_NITRO_ATTEST_STREAM][1]);

    for (i = NITRO_ATTEST_NO_CERTIFICATE; i < NITRO_ATTEST_REASON_COUNT; i++) {
        p = ngx_sprintf(p, "nitro_attest_failures_total{reason=\"%s\"} %uA\n",
                        nitro_attest_reason_name(i), sh->failures[i]);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_cache_total Verdict cache lookups of full "
        "handshakes.\n"
        "# TYPE nitro_attest_cache_total counter\n"
        "nitro_attest_cache_total{result=\"hit\"} %uA\n"
        "nitro_attest_cache_total{result=\"miss\"} %uA\n"
        "# HELP nitro_attest_policy_matches_total Verified attestations by "
        "the allow set that matched.\n"
        "# TYPE nitro_attest_policy_matches_total counter\n",
        sh->cache_hit, sh->cache_miss);

    for (i = 0; i < sets->nelts; i++) {
        p = ngx_cpymem(p, "nitro_attest_policy_matches_total",
                       sizeof("nitro_attest_policy_matches_total") - 1);
        p = ngx_http_nitro_attest_label(p, &set[i]->name);
        p = ngx_sprintf(p, " %uA\n", set[i]->node->matches);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_last_success_seconds Unix time of the "
        "last verified attestation of the allow set (absent: none yet).\n"
        "# TYPE nitro_attest_policy_last_success_seconds gauge\n");

    for (i = 0; i < sets->nelts; i++) {
        last = set[i]->node->last_success;

        if (last) {
            p = ngx_cpymem(p, "nitro_attest_policy_last_success_seconds",
                    sizeof("nitro_attest_policy_last_success_seconds") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i]->name);
            p = ngx_sprintf(p, " %uA\n", last / 1000);
        }
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_silent 1 when the allow set has "
        "expect_every and no client attested with it for that long.\n"
        "# TYPE nitro_attest_policy_silent gauge\n");

    for (i = 0; i < sets->nelts; i++) {
        p = ngx_cpymem(p, "nitro_attest_policy_silent",
                       sizeof("nitro_attest_policy_silent") - 1);
        p = ngx_http_nitro_attest_label(p, &set[i]->name);
        p = ngx_sprintf(p, " %ui\n",
                        ngx_nitro_attest_silent(set[i], now));
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_expect_every_seconds The expect_every "
        "of the allow set.\n"
        "# TYPE nitro_attest_policy_expect_every_seconds gauge\n");

    for (i = 0; i < sets->nelts; i++) {
        if (set[i]->expect_every) {
            p = ngx_cpymem(p, "nitro_attest_policy_expect_every_seconds",
                    sizeof("nitro_attest_policy_expect_every_seconds") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i]->name);
            p = ngx_sprintf(p, " %L.%03L\n", set[i]->expect_every / 1000,
                            set[i]->expect_every % 1000);
        }
    }

    return p;
}


/* {policy="<name>"}, escaped as the exposition format wants */

static u_char *
ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value)
{
    u_char  *s, *last;

    p = ngx_cpymem(p, "{policy=\"", sizeof("{policy=\"") - 1);

    last = value->data + value->len;

    for (s = value->data; s < last; s++) {
        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }
    }

    *p++ = '"';
    *p++ = '}';

    return p;
}
