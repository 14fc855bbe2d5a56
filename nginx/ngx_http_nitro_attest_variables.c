
/*
 * ngx_http_nitro_attest_variables.c: what a request sees: the TLS
 * connection it came on, the verdict its server sees there, the signed
 * token of that verdict, and the http variables over them (the shared
 * getters of nginx/ngx_nitro_attest_variables.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static ngx_int_t ngx_http_nitro_attest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_prefix_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_token_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* http only: it needs the server's token key and the connection's token */
static ngx_str_t  ngx_http_nitro_attest_token_name =
    ngx_string("nitro_attest_token");

/* the event says where: it needs the connection and the server */
static ngx_str_t  ngx_http_nitro_attest_json_name =
    ngx_string("nitro_attest_json");


ngx_int_t
ngx_http_nitro_attest_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t     *var;
    ngx_nitro_attest_var_t  *v;

    for (v = ngx_nitro_attest_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name,
                                    v->prefix ? NGX_HTTP_VAR_PREFIX : 0);
        if (var == NULL) {
            return NGX_ERROR;
        }

        if (v->prefix) {
            /* nginx hands a prefix variable's handler the full name */
            var->get_handler = ngx_http_nitro_attest_prefix_variable;
            continue;
        }

        var->get_handler = ngx_http_nitro_attest_variable;
        var->data = (uintptr_t) v;
    }

    var = ngx_http_add_variable(cf, &ngx_http_nitro_attest_token_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_nitro_attest_token_variable;

    var = ngx_http_add_variable(cf, &ngx_http_nitro_attest_json_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_nitro_attest_json_variable;

    return ngx_http_nitro_attest_proxy_add_variables(cf);
}


/* an HTTP/2 stream's TLS connection is its parent connection's */

ngx_connection_t *
ngx_http_nitro_attest_tls_connection(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return r->stream->connection->connection;
    }
#endif

    return r->connection;
}


nitro_attest_verdict_t *
ngx_http_nitro_attest_verdict(ngx_http_request_t *r)
{
    ngx_connection_t             *c;
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_http_get_module_srv_conf(r, ngx_http_nitro_attest_module);
    c = ngx_http_nitro_attest_tls_connection(r);

#if (NGX_HTTP_V3)
    if (r->http_version == NGX_HTTP_VERSION_30) {
        c = NULL;  /* HTTP/3 (QUIC) is not attested: NONE */
    }
#endif

    return ngx_nitro_attest_verdict(nascf, c);
}


/*
 * The token of the request's TLS connection, copied into the request's
 * pool: the connection's may be signed anew by another stream while this
 * request still uses its own.
 */

ngx_int_t
ngx_http_nitro_attest_token(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_str_t                     value;
    ngx_nitro_attest_srv_conf_t  *nascf;

    ngx_str_set(token, "");

    /* the request's own verdict first: an HTTP/3 request has none */
    if (ngx_http_nitro_attest_verdict(r)->status
        != NITRO_ATTEST_STATUS_SUCCESS)
    {
        return NGX_OK;
    }

    nascf = ngx_http_get_module_srv_conf(r, ngx_http_nitro_attest_module);

    if (ngx_nitro_attest_token(nascf, ngx_http_nitro_attest_tls_connection(r),
                               &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (value.len == 0) {
        return NGX_OK;
    }

    token->data = ngx_pnalloc(r->pool, value.len);
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(token->data, value.data, value.len);
    token->len = value.len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_nitro_attest_var_t  *var = (ngx_nitro_attest_var_t *) data;

    return ngx_nitro_attest_variable(r->pool, ngx_http_nitro_attest_verdict(r),
                                     v, var);
}


static ngx_int_t
ngx_http_nitro_attest_prefix_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_prefix_variable(r->pool,
                                            ngx_http_nitro_attest_verdict(r),
                                            v, (ngx_str_t *) data);
}


static ngx_int_t
ngx_http_nitro_attest_token_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  token;

    if (ngx_http_nitro_attest_token(r, &token) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_nitro_attest_str_value(v, &token);

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_http_get_module_srv_conf(r, ngx_http_nitro_attest_module);

    return ngx_nitro_attest_json_value(r->pool,
                                       ngx_http_nitro_attest_verdict(r),
                                       &r->connection->addr_text, nascf, v);
}
