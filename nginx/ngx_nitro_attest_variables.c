
/*
 * ngx_nitro_attest_variables.c: the $nitro_attest_* variables, for both
 * protocols.  Each is a getter over a verdict; a protocol's face finds
 * the verdict of its request or session and adds the variables with its
 * own handler (ngx_nitro_attest_vars[] names them all).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


static ngx_int_t ngx_nitro_attest_hex_value(ngx_pool_t *pool,
    ngx_variable_value_t *v, const uint8_t *src, size_t len);
static void ngx_nitro_attest_null_value(ngx_variable_value_t *v);
static ngx_int_t ngx_nitro_attest_status_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_nitro_attest_name_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_nitro_attest_pcr_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_nitro_attest_text_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_nitro_attest_bytes_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_nitro_attest_time_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_nitro_attest_cert_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);


#define ngx_nitro_attest_span(field)                                          \
    offsetof(nitro_attest_verdict_t, field)


ngx_nitro_attest_var_t  ngx_nitro_attest_vars[] = {

    { ngx_string("nitro_attest_status"), ngx_nitro_attest_status_variable,
      0, 0, 0 },

    { ngx_string("nitro_attest_reason"), ngx_nitro_attest_name_variable,
      0, 0, 0 },

    { ngx_string("nitro_attest_module_id"), ngx_nitro_attest_text_variable,
      ngx_nitro_attest_span(module_id), 0, 0 },

    { ngx_string("nitro_attest_policy"), ngx_nitro_attest_text_variable,
      ngx_nitro_attest_span(policy), 0, 0 },

    { ngx_string("nitro_attest_user_data"), ngx_nitro_attest_bytes_variable,
      ngx_nitro_attest_span(user_data), 0, 0 },

    { ngx_string("nitro_attest_nonce"), ngx_nitro_attest_bytes_variable,
      ngx_nitro_attest_span(nonce), 0, 0 },

    { ngx_string("nitro_attest_timestamp"), ngx_nitro_attest_time_variable,
      0, 0, NITRO_ATTEST_F_MEASURED },

    { ngx_string("nitro_attest_age"), ngx_nitro_attest_time_variable,
      1, 0, NITRO_ATTEST_F_MEASURED },

    { ngx_string("nitro_attest_cert_sha256"), ngx_nitro_attest_cert_variable,
      0, 0, NITRO_ATTEST_F_CERT },

    { ngx_string("nitro_attest_kind"), ngx_nitro_attest_name_variable,
      1, 0, NITRO_ATTEST_F_MEASURED },

    /*
     * $nitro_attest_pcr0 .. $nitro_attest_pcr31: one prefix, out of the
     * variables hash (32 more names there outgrow its default size)
     */
    { ngx_string("nitro_attest_pcr"), ngx_nitro_attest_pcr_variable,
      0, 1, NITRO_ATTEST_F_MEASURED },

    { ngx_null_string, NULL, 0, 0, 0 }
};


/* var's value for the verdict: empty when the verdict lacks what it shows */

ngx_int_t
ngx_nitro_attest_variable(ngx_pool_t *pool, nitro_attest_verdict_t *verdict,
    ngx_variable_value_t *v, ngx_nitro_attest_var_t *var)
{
    if ((verdict->flags & var->needs) != var->needs) {
        ngx_nitro_attest_null_value(v);
        return NGX_OK;
    }

    return var->get(pool, verdict, v, var->data);
}


static ngx_int_t
ngx_nitro_attest_hex_value(ngx_pool_t *pool, ngx_variable_value_t *v,
    const uint8_t *src, size_t len)
{
    ngx_str_t  hex;

    hex.data = ngx_pnalloc(pool, 2 * len + 1);
    if (hex.data == NULL) {
        return NGX_ERROR;
    }

    hex.len = (u_char *) nitro_attest_hex((char *) hex.data, src, len)
              - hex.data;

    ngx_nitro_attest_str_value(v, &hex);

    return NGX_OK;
}


/*
 * A prefix variable by its full name: $nitro_attest_pcrN for N in 0..31,
 * written without leading zeros; any other name is not found.
 */

ngx_int_t
ngx_nitro_attest_prefix_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v,
    ngx_str_t *name)
{
    size_t      i, len;
    ngx_uint_t  n;

    len = sizeof("nitro_attest_pcr") - 1;
    n = 0;

    for (i = len; i < name->len && i < len + 2; i++) {
        if (name->data[i] < '0' || name->data[i] > '9'
            || (i == len + 1 && name->data[len] == '0'))
        {
            break;
        }

        n = n * 10 + (name->data[i] - '0');
    }

    if (name->len <= len || i != name->len || n >= NITRO_ATTEST_PCR_COUNT) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_nitro_attest_pcr_variable(pool, verdict, v, n);
}


/* SUCCESS, FAILED:<reason> or NONE, as $nitro_attest_status says it */

ngx_int_t
ngx_nitro_attest_status_text(ngx_pool_t *pool,
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
ngx_nitro_attest_status_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  text;

    if (ngx_nitro_attest_status_text(pool, verdict, &text) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_nitro_attest_str_value(v, &text);

    return NGX_OK;
}


/* data 0: the reason, as named in logs; 1: the kind, enclave or nitrotpm */

static ngx_int_t
ngx_nitro_attest_name_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  name;

    name.data = (u_char *) (data ? nitro_attest_kind_name(verdict->kind)
                                 : nitro_attest_reason_name(verdict->reason));
    name.len = ngx_strlen(name.data);

    ngx_nitro_attest_str_value(v, &name);

    return NGX_OK;
}


static ngx_int_t
ngx_nitro_attest_pcr_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data)
{
    if (!(verdict->flags & NITRO_ATTEST_F_MEASURED)
        || !(verdict->pcr_mask & ((uint32_t) 1 << data)))
    {
        ngx_nitro_attest_null_value(v);
        return NGX_OK;
    }

    return ngx_nitro_attest_hex_value(pool, v,
                         nitro_attest_span_ptr(verdict, verdict->pcr[data]),
                         verdict->pcr[data].len);
}


static ngx_int_t
ngx_nitro_attest_text_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data)
{
    ngx_str_t             text;
    nitro_attest_span_t  *span;

    span = (nitro_attest_span_t *) ((u_char *) verdict + data);

    if (span->len == 0) {
        ngx_nitro_attest_null_value(v);
        return NGX_OK;
    }

    text.len = span->len;
    text.data = ngx_pnalloc(pool, span->len);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(text.data, nitro_attest_span_ptr(verdict, *span), span->len);

    ngx_nitro_attest_str_value(v, &text);

    return NGX_OK;
}


static ngx_int_t
ngx_nitro_attest_bytes_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data)
{
    nitro_attest_span_t  *span;

    span = (nitro_attest_span_t *) ((u_char *) verdict + data);

    return ngx_nitro_attest_hex_value(pool, v,
                                       nitro_attest_span_ptr(verdict, *span),
                                       span->len);
}


/* data 0: the document timestamp (ms); 1: its age at the handshake (s) */

static ngx_int_t
ngx_nitro_attest_time_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data)
{
    int64_t    value;
    ngx_str_t  text;

    value = data ? nitro_attest_verdict_age_s(verdict)
                 : verdict->timestamp_ms;

    text.data = ngx_pnalloc(pool, NGX_INT64_LEN);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    text.len = ngx_sprintf(text.data, "%L", value) - text.data;

    ngx_nitro_attest_str_value(v, &text);

    return NGX_OK;
}


static ngx_int_t
ngx_nitro_attest_cert_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_hex_value(pool, v, verdict->cert_sha256,
                                      sizeof(verdict->cert_sha256));
}


/*
 * $nitro_attest_json: the event of the verdict, with where it was made
 * (each face adds the variable: where needs its connection and server)
 */

ngx_int_t
ngx_nitro_attest_json_value(ngx_pool_t *pool, nitro_attest_verdict_t *verdict,
    ngx_str_t *addr, ngx_nitro_attest_srv_conf_t *nascf,
    ngx_variable_value_t *v)
{
    ngx_str_t             json;
    nitro_attest_where_t  where;

    ngx_nitro_attest_client_where(&where, addr, nascf);

    json.len = nitro_attest_event_render(verdict, &where, NULL, 0);

    json.data = ngx_pnalloc(pool, json.len + 1);
    if (json.data == NULL) {
        return NGX_ERROR;
    }

    nitro_attest_event_render(verdict, &where, (char *) json.data,
                              json.len + 1);

    ngx_nitro_attest_str_value(v, &json);

    return NGX_OK;
}


/* a value that is s (pool memory), for the getters of either face */

void
ngx_nitro_attest_str_value(ngx_variable_value_t *v, ngx_str_t *s)
{
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->len ? s->data : (u_char *) "";
}


static void
ngx_nitro_attest_null_value(ngx_variable_value_t *v)
{
    static ngx_str_t  empty = ngx_null_string;

    ngx_nitro_attest_str_value(v, &empty);
}
