
/*
 * ngx_http_nitro_attest_headers.c: "nitro_attest_upstream_headers": the
 * verified verdict handed to every kind of upstream as request headers
 * (and, with a token key, the signed token), after every header of the
 * client's that could pass for one is dropped.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static char *ngx_http_nitro_attest_pcr_list(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *nalcf);
static ngx_uint_t ngx_http_nitro_attest_spoofed(ngx_table_elt_t *h);
static ngx_int_t ngx_http_nitro_attest_add_header(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *key, u_char *value, size_t len);
static ngx_int_t ngx_http_nitro_attest_add_hex_header(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *key, const uint8_t *src, size_t len);


/* nitro_attest_upstream_headers on | off [pcrs=N,N,...]; */

char *
ngx_http_nitro_attest_upstream_headers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_loc_conf_t *nalcf = conf;

    ngx_str_t  *value;

    if (nalcf->upstream_headers != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        nalcf->upstream_headers = 1;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        nalcf->upstream_headers = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"on\" or \"off\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    nalcf->file = cf->conf_file->file.name.data;
    nalcf->line = cf->conf_file->line;
    nalcf->pcrs = 0xffffffff;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (!nalcf->upstream_headers
        || value[2].len < sizeof("pcrs=") - 1
        || ngx_strncmp(value[2].data, "pcrs=", sizeof("pcrs=") - 1) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "only \"on pcrs=N,N,...\" takes one",
                           &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    return ngx_http_nitro_attest_pcr_list(cf, nalcf);
}


/*
 * "pcrs=N,N,...": the PCRs whose headers are sent, each a decimal index
 * 0..31 listed once: an upstream that routes on PCR0 need not receive
 * every PCR of the document (about 120 bytes each) with every request.
 */

static char *
ngx_http_nitro_attest_pcr_list(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *nalcf)
{
    u_char     *p, *last, *start;
    ngx_int_t   n;
    ngx_str_t  *value;

    value = cf->args->elts;

    p = value[2].data + sizeof("pcrs=") - 1;
    last = value[2].data + value[2].len;

    nalcf->pcrs = 0;

    for ( ;; ) {
        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        n = ngx_atoi(start, p - start);

        if (n == NGX_ERROR || n >= NITRO_ATTEST_PCR_COUNT) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive: "
                               "\"%*s\" is not a PCR index (0..%d)",
                               &value[2], &value[0], (size_t) (p - start),
                               start,
                               NITRO_ATTEST_PCR_COUNT - 1);
            return NGX_CONF_ERROR;
        }

        if (nalcf->pcrs & ((uint32_t) 1 << n)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive: "
                               "PCR %i is listed twice",
                               &value[2], &value[0], n);
            return NGX_CONF_ERROR;
        }

        nalcf->pcrs |= (uint32_t) 1 << n;

        if (p == last) {
            return NGX_CONF_OK;
        }

        p++;
    }
}


/*
 * "nitro_attest_upstream_headers on" where no client is attested: the
 * client's X-Nitro-Attest-* headers are still dropped, which is worth
 * having, but the upstream only ever learns that nothing was verified.
 */

void
ngx_http_nitro_attest_headers_unused(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *nalcf, const char *why)
{
    if (!nalcf->upstream_headers) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "\"nitro_attest_upstream_headers on\" in %s:%ui: %s, "
                  "nothing is verified there: the upstream gets "
                  "\"X-Nitro-Attest-Status: NONE\" only (the client's "
                  "X-Nitro-Attest-* headers are still dropped)",
                  nalcf->file, nalcf->line, why);
}


/*
 * A location's setting merged: the PCRs go with the "on" they were listed
 * with; a location that sends headers in a server that does not attest
 * is warned about where it is written.
 */

void
ngx_http_nitro_attest_headers_merge(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *prev,
    ngx_http_nitro_attest_loc_conf_t *conf)
{
    ngx_nitro_attest_srv_conf_t        *nascf;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    if (conf->upstream_headers == NGX_CONF_UNSET) {
        conf->pcrs = prev->pcrs;
    }

    ngx_conf_merge_value(conf->upstream_headers, prev->upstream_headers, 0);

    nascf = ngx_http_conf_get_module_srv_conf(cf,
                                              ngx_http_nitro_attest_module);

    if (conf->file && nascf->enable == NGX_NITRO_ATTEST_OFF) {
        ngx_http_nitro_attest_headers_unused(cf, conf,
                                        "\"nitro_attest\" is off in this "
                                        "server");
    }

    if (conf->upstream_headers) {
        namcf = ngx_http_conf_get_module_main_conf(cf,
                                                ngx_http_nitro_attest_module);
        namcf->headers = 1;
    }
}


/*
 * nitro_attest_upstream_headers: the request headers every upstream module
 * forwards (proxy, grpc; fastcgi, uwsgi and scgi as HTTP_* parameters) are
 * rebuilt without any X-Nitro-Attest-* header of the client, then with the
 * verified ones.  "_" counts as "-": with underscores_in_headers (or
 * ignore_invalid_headers off) X_Nitro_Attest_Status would otherwise become
 * the same HTTP_X_NITRO_ATTEST_STATUS parameter.  It runs in the preaccess
 * phase, after the location is known, and again after internal redirects.
 */

ngx_int_t
ngx_http_nitro_attest_headers_handler(ngx_http_request_t *r)
{
    u_char                            *p;
    ngx_str_t                          status, key, token;
    ngx_uint_t                         i, n;
    ngx_list_t                         headers;
    const char                        *kind;
    ngx_table_elt_t                   *h, *copy;
    ngx_list_part_t                   *part;
    nitro_attest_verdict_t            *v;
    ngx_http_nitro_attest_loc_conf_t  *nalcf;

    static ngx_str_t  names[] = {
        ngx_string("X-Nitro-Attest-Status"),
        ngx_string("X-Nitro-Attest-Policy"),
        ngx_string("X-Nitro-Attest-Module-Id"),
        ngx_string("X-Nitro-Attest-Timestamp"),
        ngx_string("X-Nitro-Attest-Cert-Sha256"),
        ngx_string("X-Nitro-Attest-Kind"),
        ngx_string("X-Nitro-Attest-Token")
    };

    nalcf = ngx_http_get_module_loc_conf(r, ngx_http_nitro_attest_module);

    if (!nalcf->upstream_headers) {
        return NGX_DECLINED;
    }

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&headers, r->pool,
                      n + sizeof(names) / sizeof(names[0])
                      + NITRO_ATTEST_PCR_COUNT,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_nitro_attest_spoofed(&h[i])) {
                ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "nitro_attest: client header dropped: "
                               "\"%V: %V\"", &h[i].key, &h[i].value);
                continue;
            }

            copy = ngx_list_push(&headers);
            if (copy == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *copy = h[i];
        }
    }

    v = ngx_http_nitro_attest_verdict(r);

    if (ngx_nitro_attest_status_text(r->pool, v, &status) != NGX_OK
        || ngx_http_nitro_attest_add_header(r, &headers, &names[0],
                                            status.data, status.len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* measurements only from a verdict that verified */

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS) {
        r->headers_in.headers = headers;
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kind = nitro_attest_kind_name(v->kind);

    if (ngx_http_nitro_attest_add_header(r, &headers, &names[1],
                                     nitro_attest_span_ptr(v, v->policy),
                                     v->policy.len)
        != NGX_OK
        || ngx_http_nitro_attest_add_header(r, &headers, &names[2],
                                     nitro_attest_span_ptr(v, v->module_id),
                                     v->module_id.len)
           != NGX_OK
        || ngx_http_nitro_attest_add_header(r, &headers, &names[3], p,
                                     ngx_sprintf(p, "%L", v->timestamp_ms)
                                     - p)
           != NGX_OK
        || ngx_http_nitro_attest_add_hex_header(r, &headers, &names[4],
                                     v->cert_sha256,
                                     sizeof(v->cert_sha256))
           != NGX_OK
        || ngx_http_nitro_attest_add_header(r, &headers, &names[5],
                                     (u_char *) kind, ngx_strlen(kind))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
        if (!(v->pcr_mask & nalcf->pcrs & ((uint32_t) 1 << i))) {
            continue;
        }

        key.data = ngx_pnalloc(r->pool, sizeof("X-Nitro-Attest-PCR31") - 1);
        if (key.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        key.len = ngx_sprintf(key.data, "X-Nitro-Attest-PCR%ui", i)
                  - key.data;

        if (ngx_http_nitro_attest_add_hex_header(r, &headers, &key,
                                          nitro_attest_span_ptr(v, v->pcr[i]),
                                          v->pcr[i].len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_nitro_attest_token(r, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (token.len
        && ngx_http_nitro_attest_add_header(r, &headers, &names[6],
                                            token.data, token.len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_in.headers = headers;

    return NGX_DECLINED;
}


/* X-Nitro-Attest-*, in any case, with "_" for any "-" */

static ngx_uint_t
ngx_http_nitro_attest_spoofed(ngx_table_elt_t *h)
{
    u_char      c;
    ngx_uint_t  i;

    static u_char  prefix[] = "x-nitro-attest-";

    if (h->key.len < sizeof(prefix) - 1) {
        return 0;
    }

    for (i = 0; i < sizeof(prefix) - 1; i++) {
        c = ngx_tolower(h->key.data[i]);

        if (c == '_') {
            c = '-';
        }

        if (c != prefix[i]) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_nitro_attest_add_header(ngx_http_request_t *r, ngx_list_t *headers,
    ngx_str_t *key, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->lowcase_key = ngx_pnalloc(r->pool, key->len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, key->data, key->len);
    h->key = *key;
    h->value.data = value;
    h->value.len = len;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_add_hex_header(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *key, const uint8_t *src, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 2 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) nitro_attest_hex((char *) p, src, len);

    return ngx_http_nitro_attest_add_header(r, headers, key, p, 2 * len);
}
