
/*
 * ngx_http_nitro_attest_status.c: "nitro_attest_status": the shared
 * counters and the inventory as JSON, as the Prometheus text format
 * 0.0.4, or as the HTML dashboard (ngx_http_nitro_attest_dashboard.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


#define NGX_HTTP_NITRO_ATTEST_JSON        0
#define NGX_HTTP_NITRO_ATTEST_PROMETHEUS  1
#define NGX_HTTP_NITRO_ATTEST_HTML        2


static ngx_uint_t ngx_http_nitro_attest_status_format(ngx_http_request_t *r);
static ngx_array_t *ngx_http_nitro_attest_status_sets(ngx_http_request_t *r,
    ngx_nitro_attest_main_t *namcf);
static u_char *ngx_http_nitro_attest_status_json(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now);
static u_char *ngx_http_nitro_attest_enclaves_json(u_char *p,
    ngx_array_t *enclaves);
static u_char *ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now);
static u_char *ngx_http_nitro_attest_enclaves_prometheus(u_char *p,
    ngx_array_t *enclaves);
static u_char *ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value);
static u_char *ngx_http_nitro_attest_label_value(u_char *p, u_char *value,
    size_t len);
static ngx_int_t ngx_http_nitro_attest_html_policy(ngx_http_request_t *r);


/*
 * nitro_attest_status: the counters as JSON; as Prometheus text 0.0.4 for
 * "?format=prometheus" or a client that accepts text/plain (and not
 * JSON); as the HTML dashboard for "?format=html" or a browser (one that
 * accepts text/html and not JSON).  Allow sets are those of the running
 * configuration, of both protocols; enclaves those of the inventory, when
 * the http block has one.
 */

ngx_int_t
ngx_http_nitro_attest_status_handler(ngx_http_request_t *r)
{
    size_t                              size;
    int64_t                             now;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_uint_t                          i, format;
    ngx_chain_t                         out;
    ngx_array_t                        *sets, *enclaves;
    ngx_nitro_attest_set_t            **set;
    ngx_nitro_attest_main_t            *namcf;
    ngx_nitro_attest_enclave_t        **en;
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

    format = ngx_http_nitro_attest_status_format(r);

    sets = ngx_http_nitro_attest_status_sets(r, namcf);
    if (sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    enclaves = NULL;

    if (namcf->inventory) {
        enclaves = ngx_nitro_attest_inventory_list(r->pool, namcf->inventory);
        if (enclaves == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * Every name appears escaped (at most sixfold: JSON's \u00XX, HTML's
     * &quot;) in six places at most; a module id in two (itself and its
     * instance id) of three lines or cells, a set name in one.
     */

    size = 4096 + NITRO_ATTEST_HANDSHAKE_REASONS * (256 + NGX_ATOMIC_T_LEN);

    if (format == NGX_HTTP_NITRO_ATTEST_HTML) {
        size += ngx_http_nitro_attest_dashboard_size;
    }

    set = sets->elts;

    for (i = 0; i < sets->nelts; i++) {
        size += 6 * (2 * set[i]->name.len + 96 + NGX_INT64_LEN) + 256;
    }

    for (i = 0; enclaves && i < enclaves->nelts; i++) {
        en = enclaves->elts;
        size += 3 * (12 * en[i]->module_id_len + 6 * en[i]->policy_len)
                + 2 * NITRO_ATTEST_PCR_MAX_LEN + 1024;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_nitro_attest_now();

    switch (format) {

    case NGX_HTTP_NITRO_ATTEST_PROMETHEUS:
        b->last = ngx_http_nitro_attest_status_prometheus(b->last, namcf->sh,
                                                          sets, enclaves, now);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
        break;

    case NGX_HTTP_NITRO_ATTEST_HTML:
        b->last = ngx_http_nitro_attest_dashboard(b->last, namcf->sh, sets,
                                                  enclaves, now);
        ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");

        if (ngx_http_nitro_attest_html_policy(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        break;

    default: /* NGX_HTTP_NITRO_ATTEST_JSON */
        b->last = ngx_http_nitro_attest_status_json(b->last, namcf->sh, sets,
                                                    enclaves, now);
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
 * The dashboard runs no script and loads nothing: a policy that forbids
 * both keeps even a value that escaped the escaping inert.
 */

static ngx_int_t
ngx_http_nitro_attest_html_policy(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Security-Policy");
    ngx_str_set(&h->value, "default-src 'none'; style-src 'unsafe-inline'");

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
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
ngx_http_nitro_attest_status_format(ngx_http_request_t *r)
{
    u_char           *last;
    ngx_str_t         format;
    ngx_table_elt_t  *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            return NGX_HTTP_NITRO_ATTEST_PROMETHEUS;
        }

        if (format.len == 4 && ngx_strncmp(format.data, "html", 4) == 0) {
            return NGX_HTTP_NITRO_ATTEST_HTML;
        }

        return NGX_HTTP_NITRO_ATTEST_JSON;
    }

    accept = r->headers_in.accept;

    if (accept == NULL) {
        return NGX_HTTP_NITRO_ATTEST_JSON;
    }

    last = accept->value.data + accept->value.len;

    if (ngx_strlcasestrn(accept->value.data, last,
                         (u_char *) "application/json", 16 - 1)
        != NULL)
    {
        return NGX_HTTP_NITRO_ATTEST_JSON;
    }

    /* a browser's Accept names text/html; Prometheus's names text/plain */

    if (ngx_strlcasestrn(accept->value.data, last,
                         (u_char *) "text/html", 9 - 1)
        != NULL)
    {
        return NGX_HTTP_NITRO_ATTEST_HTML;
    }

    if (ngx_strlcasestrn(accept->value.data, last,
                         (u_char *) "text/plain", 10 - 1)
        != NULL)
    {
        return NGX_HTTP_NITRO_ATTEST_PROMETHEUS;
    }

    return NGX_HTTP_NITRO_ATTEST_JSON;
}


static u_char *
ngx_http_nitro_attest_status_json(u_char *p, ngx_nitro_attest_shctx_t *sh,
    ngx_array_t *sets, ngx_array_t *enclaves, int64_t now)
{
    ngx_uint_t                 i;
    ngx_atomic_uint_t          last;
    ngx_nitro_attest_set_t   **set;

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

    if (enclaves) {
        p = ngx_http_nitro_attest_enclaves_json(p, enclaves);
    }

    *p++ = '}';
    *p++ = CR;
    *p++ = LF;

    return p;
}


/* "enclaves": the inventory (CONTRACT 14), an instance's together */

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


static u_char *
ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now)
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

    for (i = NITRO_ATTEST_NO_CERTIFICATE;
         i < NITRO_ATTEST_HANDSHAKE_REASONS;
         i++)
    {
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

    if (enclaves) {
        p = ngx_http_nitro_attest_enclaves_prometheus(p, enclaves);
    }

    return p;
}


static u_char *
ngx_http_nitro_attest_enclaves_prometheus(u_char *p, ngx_array_t *enclaves)
{
    size_t                        n;
    ngx_uint_t                    i;
    ngx_nitro_attest_enclave_t  **en;

    en = enclaves->elts;

    p = ngx_sprintf(p,
        "# HELP nitro_attest_enclave_last_seen_seconds Unix time of the last "
        "full handshake of the enclave (or NitroTPM instance) of the "
        "inventory.\n"
        "# TYPE nitro_attest_enclave_last_seen_seconds gauge\n");

    for (i = 0; i < enclaves->nelts; i++) {
        n = nitro_attest_instance_id_len((char *) en[i]->data,
                                         en[i]->module_id_len);

        p = ngx_cpymem(p, "nitro_attest_enclave_last_seen_seconds"
                          "{module_id=\"",
                sizeof("nitro_attest_enclave_last_seen_seconds"
                       "{module_id=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p, en[i]->data,
                                              en[i]->module_id_len);
        p = ngx_cpymem(p, "\",instance_id=\"",
                       sizeof("\",instance_id=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p, en[i]->data, n);
        p = ngx_cpymem(p, "\",policy=\"", sizeof("\",policy=\"") - 1);
        p = ngx_http_nitro_attest_label_value(p,
                                          en[i]->data + en[i]->module_id_len,
                                          en[i]->policy_len);
        p = ngx_sprintf(p, "\"} %L\n", en[i]->last_seen);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_enclave_attestations_total Full handshakes of "
        "the enclave of the inventory, by result.\n"
        "# TYPE nitro_attest_enclave_attestations_total counter\n");

    for (i = 0; i < enclaves->nelts; i++) {
        for (n = 0; n < 2; n++) {
            p = ngx_cpymem(p, "nitro_attest_enclave_attestations_total"
                              "{module_id=\"",
                    sizeof("nitro_attest_enclave_attestations_total"
                           "{module_id=\"") - 1);
            p = ngx_http_nitro_attest_label_value(p, en[i]->data,
                                                  en[i]->module_id_len);
            p = ngx_sprintf(p, "\",result=\"%s\"} %uL\n",
                            n ? "failed" : "verified",
                            n ? en[i]->failed : en[i]->verified);
        }
    }

    return p;
}


/* {policy="<name>"} */

static u_char *
ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value)
{
    p = ngx_cpymem(p, "{policy=\"", sizeof("{policy=\"") - 1);
    p = ngx_http_nitro_attest_label_value(p, value->data, value->len);

    *p++ = '"';
    *p++ = '}';

    return p;
}


/* the value of a label, escaped as the exposition format wants */

static u_char *
ngx_http_nitro_attest_label_value(u_char *p, u_char *value, size_t len)
{
    return (u_char *) nitro_attest_prometheus_escape((char *) p, value, len);
}
