
/*
 * ngx_http_nitro_attest_variables.c: the http variables (CONTRACT 5), thin
 * getters over the verdict of the request's connection.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static ngx_int_t ngx_http_nitro_attest_hex_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, const uint8_t *src, size_t len);
static ngx_int_t ngx_http_nitro_attest_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_reason_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_pcr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_text_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_bytes_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_cert_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define ngx_http_nitro_attest_pcr(n)                                          \
    { ngx_string("nitro_attest_pcr" #n), NULL,                                \
      ngx_http_nitro_attest_pcr_variable, n, 0, 0 }

#define ngx_http_nitro_attest_span(field)                                     \
    offsetof(nitro_attest_verdict_t, field)


static ngx_http_variable_t  ngx_http_nitro_attest_vars[] = {

    { ngx_string("nitro_attest_status"), NULL,
      ngx_http_nitro_attest_status_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_reason"), NULL,
      ngx_http_nitro_attest_reason_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_module_id"), NULL,
      ngx_http_nitro_attest_text_variable,
      ngx_http_nitro_attest_span(module_id), 0, 0 },

    { ngx_string("nitro_attest_policy"), NULL,
      ngx_http_nitro_attest_text_variable,
      ngx_http_nitro_attest_span(policy), 0, 0 },

    { ngx_string("nitro_attest_user_data"), NULL,
      ngx_http_nitro_attest_bytes_variable,
      ngx_http_nitro_attest_span(user_data), 0, 0 },

    { ngx_string("nitro_attest_nonce"), NULL,
      ngx_http_nitro_attest_bytes_variable,
      ngx_http_nitro_attest_span(nonce), 0, 0 },

    { ngx_string("nitro_attest_timestamp"), NULL,
      ngx_http_nitro_attest_time_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_age"), NULL,
      ngx_http_nitro_attest_time_variable, 1, 0, 0 },

    { ngx_string("nitro_attest_cert_sha256"), NULL,
      ngx_http_nitro_attest_cert_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_json"), NULL,
      ngx_http_nitro_attest_json_variable, 0, 0, 0 },

    ngx_http_nitro_attest_pcr(0),  ngx_http_nitro_attest_pcr(1),
    ngx_http_nitro_attest_pcr(2),  ngx_http_nitro_attest_pcr(3),
    ngx_http_nitro_attest_pcr(4),  ngx_http_nitro_attest_pcr(5),
    ngx_http_nitro_attest_pcr(6),  ngx_http_nitro_attest_pcr(7),
    ngx_http_nitro_attest_pcr(8),  ngx_http_nitro_attest_pcr(9),
    ngx_http_nitro_attest_pcr(10), ngx_http_nitro_attest_pcr(11),
    ngx_http_nitro_attest_pcr(12), ngx_http_nitro_attest_pcr(13),
    ngx_http_nitro_attest_pcr(14), ngx_http_nitro_attest_pcr(15),
    ngx_http_nitro_attest_pcr(16), ngx_http_nitro_attest_pcr(17),
    ngx_http_nitro_attest_pcr(18), ngx_http_nitro_attest_pcr(19),
    ngx_http_nitro_attest_pcr(20), ngx_http_nitro_attest_pcr(21),
    ngx_http_nitro_attest_pcr(22), ngx_http_nitro_attest_pcr(23),
    ngx_http_nitro_attest_pcr(24), ngx_http_nitro_attest_pcr(25),
    ngx_http_nitro_attest_pcr(26), ngx_http_nitro_attest_pcr(27),
    ngx_http_nitro_attest_pcr(28), ngx_http_nitro_attest_pcr(29),
    ngx_http_nitro_attest_pcr(30), ngx_http_nitro_attest_pcr(31),

      ngx_http_null_variable
};

ngx_int_t
ngx_http_nitro_attest_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_nitro_attest_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * The verdict the variables show: the connection's, when it was attested
 * for the server of this request; otherwise "nothing was checked" (NONE).
 */

nitro_attest_verdict_t *
ngx_http_nitro_attest_verdict(ngx_http_request_t *r)
{
    ngx_nitro_attest_conn_t      *nac;
    ngx_nitro_attest_srv_conf_t  *nascf;

    static nitro_attest_verdict_t      none;

    nascf = ngx_http_get_module_srv_conf(r, ngx_http_nitro_attest_module);

    if (nascf->enable != NGX_NITRO_ATTEST_OFF
#if (NGX_HTTP_V3)
        && r->http_version != NGX_HTTP_VERSION_30  /* not attested */
#endif
       )
    {
        nac = ngx_nitro_attest_connection(
                                       ngx_http_nitro_attest_tls_connection(r));

        if (nac != NULL
            && ngx_memcmp(nac->tag, nascf->tag, NGX_NITRO_ATTEST_TAG_LEN)
               == 0)
        {
            return &nac->verdict;
        }
    }

    nitro_attest_verdict_none(&none, ngx_nitro_attest_now());

    return &none;
}


static ngx_int_t
ngx_http_nitro_attest_hex_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, const uint8_t *src, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 2 * len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = (u_char *) nitro_attest_hex((char *) p, src, len) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


/* SUCCESS, FAILED:<reason> or NONE, as $nitro_attest_status says it */

ngx_int_t
ngx_http_nitro_attest_status_text(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_str_t *text)
{
    u_char      *p;
    size_t       len;
    const char  *status, *reason;

    status = nitro_attest_status_name(verdict->status);
    reason = nitro_attest_reason_name(verdict->reason);

    len = ngx_strlen(status);

    if (verdict->status == NITRO_ATTEST_STATUS_FAILED) {
        len += sizeof(":") - 1 + ngx_strlen(reason);
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    p = ngx_cpymem(p, status, ngx_strlen(status));

    if (verdict->status == NITRO_ATTEST_STATUS_FAILED) {
        *p++ = ':';
        p = ngx_cpymem(p, reason, ngx_strlen(reason));
    }

    text->len = p - text->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  text;

    if (ngx_http_nitro_attest_status_text(r->pool,
                                          ngx_http_nitro_attest_verdict(r),
                                          &text)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v->len = text.len;
    v->data = text.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_reason_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    v->data = (u_char *) nitro_attest_reason_name(verdict->reason);
    v->len = ngx_strlen(v->data);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_pcr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    if (!(verdict->flags & NITRO_ATTEST_F_MEASURED)
        || !(verdict->pcr_mask & ((uint32_t) 1 << data)))
    {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    return ngx_http_nitro_attest_hex_value(r, v,
                         nitro_attest_span_ptr(verdict, verdict->pcr[data]),
                         verdict->pcr[data].len);
}


static ngx_int_t
ngx_http_nitro_attest_text_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    nitro_attest_span_t     *span;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);
    span = (nitro_attest_span_t *) ((u_char *) verdict + data);

    if (span->len == 0) {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, span->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, nitro_attest_span_ptr(verdict, *span), span->len);

    v->len = span->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_bytes_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_span_t     *span;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);
    span = (nitro_attest_span_t *) ((u_char *) verdict + data);

    return ngx_http_nitro_attest_hex_value(r, v,
                                       nitro_attest_span_ptr(verdict, *span),
                                       span->len);
}


/* data 0: the document timestamp (ms); 1: its age at the handshake (s) */

static ngx_int_t
ngx_http_nitro_attest_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    int64_t                  value;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    if (!(verdict->flags & NITRO_ATTEST_F_MEASURED)) {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    value = data ? nitro_attest_verdict_age_s(verdict)
                 : verdict->timestamp_ms;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%L", value) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_cert_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    if (!(verdict->flags & NITRO_ATTEST_F_CERT)) {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    return ngx_http_nitro_attest_hex_value(r, v, verdict->cert_sha256,
                                           sizeof(verdict->cert_sha256));
}


static ngx_int_t
ngx_http_nitro_attest_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                   len;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);
    len = nitro_attest_event_render(verdict, NULL, 0);

    v->data = ngx_pnalloc(r->pool, len + 1);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    nitro_attest_event_render(verdict, (char *) v->data, len + 1);

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
