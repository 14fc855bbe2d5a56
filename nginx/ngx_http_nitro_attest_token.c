
/*
 * ngx_http_nitro_attest_token.c: the signed token of CONTRACT 12 for the
 * http face: the token of a request ($nitro_attest_token, the
 * X-Nitro-Attest-Token header) and "nitro_attest_jwks", the location that
 * publishes the public keys an upstream verifies it with.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


/*
 * The token of the request's TLS connection (an HTTP/2 stream's is its
 * connection's), copied into the request's pool: the connection's may be
 * signed anew by another stream while this request still uses its own.
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


/* the JWK Set made at configuration time (ngx_nitro_attest_jwks()) */

ngx_int_t
ngx_http_nitro_attest_jwks_handler(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_chain_t                         out;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    namcf = ngx_http_get_module_main_conf(r, ngx_http_nitro_attest_module);

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&r->headers_out.content_type, "application/jwk-set+json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = namcf->jwks.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->pos = namcf->jwks.data;
    b->last = namcf->jwks.data + namcf->jwks.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
