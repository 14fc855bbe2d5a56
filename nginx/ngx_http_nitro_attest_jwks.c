
/*
 * ngx_http_nitro_attest_jwks.c: "nitro_attest_jwks", the location that
 * publishes the public keys of the block's token keys, which an upstream
 * verifies the signed token with.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


/* the JWK Set made at configuration time (ngx_nitro_attest_jwks()) */

ngx_int_t
ngx_http_nitro_attest_jwks_handler(ngx_http_request_t *r)
{
    ngx_http_complex_value_t            cv;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    static ngx_str_t  type = ngx_string("application/jwk-set+json");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    namcf = ngx_http_get_module_main_conf(r, ngx_http_nitro_attest_module);

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value = namcf->jwks;

    return ngx_http_send_response(r, NGX_HTTP_OK, &type, &cv);
}
