
/*
 * ngx_http_nitro_attest.h: what the files of the http face share: its
 * main and location configuration, and the few functions one of them
 * calls in another.
 */


#ifndef _NGX_HTTP_NITRO_ATTEST_H_INCLUDED_
#define _NGX_HTTP_NITRO_ATTEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_nitro_attest.h"


/*
 * The module itself is the one symbol of the .so that is everyone's: every
 * nginx dynamic module exports its ngx_module_t, and other modules may
 * refer to it.  Declared hidden, its definition would be hidden too.
 */
extern ngx_module_t  ngx_http_nitro_attest_module
    __attribute__((visibility("default")));

#pragma GCC visibility push(hidden)


typedef struct {
    ngx_nitro_attest_main_t         na;        /* the shared state */
    ngx_flag_t                      status;    /* a status location exists */
    ngx_flag_t                      headers;   /* upstream headers are on */
    ngx_flag_t                      jwks_location; /* a JWKS location */
    ngx_str_t                       jwks;      /* the block's JWK Set */
    ngx_array_t                    *upstreams; /* upstream{} blocks whose
                                                  peers are wrapped */
} ngx_http_nitro_attest_main_conf_t;


typedef struct {
    ngx_flag_t                      upstream_headers;
    uint32_t                        pcrs;      /* bit n: send PCRn */
    u_char                         *file;      /* where the block sets it */
    ngx_uint_t                      line;
    ngx_nitro_attest_srv_conf_t     proxy;     /* nitro_attest_proxy_* */
} ngx_http_nitro_attest_loc_conf_t;


/* ngx_http_nitro_attest_directives.c */
extern ngx_command_t  ngx_http_nitro_attest_commands[];

/* ngx_http_nitro_attest_variables.c */
ngx_int_t ngx_http_nitro_attest_add_variables(ngx_conf_t *cf);
ngx_connection_t *ngx_http_nitro_attest_tls_connection(ngx_http_request_t *r);
nitro_attest_verdict_t *ngx_http_nitro_attest_verdict(ngx_http_request_t *r);
ngx_int_t ngx_http_nitro_attest_token(ngx_http_request_t *r,
    ngx_str_t *token);

/* ngx_http_nitro_attest_headers.c */
char *ngx_http_nitro_attest_upstream_headers(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
void ngx_http_nitro_attest_headers_unused(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *nalcf, const char *why);
void ngx_http_nitro_attest_headers_merge(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *prev,
    ngx_http_nitro_attest_loc_conf_t *conf);
ngx_int_t ngx_http_nitro_attest_headers_handler(ngx_http_request_t *r);

/* ngx_http_nitro_attest_proxy.c */
char *ngx_http_nitro_attest_proxy_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_nitro_attest_proxy_merge(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *prev,
    ngx_http_nitro_attest_loc_conf_t *conf);
ngx_int_t ngx_http_nitro_attest_proxy_add_variables(ngx_conf_t *cf);

/* ngx_http_nitro_attest_jwks.c */
ngx_int_t ngx_http_nitro_attest_jwks_handler(ngx_http_request_t *r);

/* ngx_http_nitro_attest_status.c: the handler, which picks the format */
ngx_int_t ngx_http_nitro_attest_status_handler(ngx_http_request_t *r);

/*
 * What the status endpoint reports besides the counters, the sets and the
 * inventory: the services of the running configuration with their
 * rollbacks, and the recent past (a copy, taken under the zone's lock).
 */
typedef struct {
    ngx_array_t                    *services; /* ngx_nitro_attest_service_t * */
    ngx_uint_t                      nrefused; /* ever: the ring's position */
    ngx_nitro_attest_minute_t       minutes[NGX_NITRO_ATTEST_MINUTES];
    ngx_nitro_attest_refusal_t      refused[NGX_NITRO_ATTEST_REFUSED];
} ngx_http_nitro_attest_recent_t;

/*
 * ngx_http_nitro_attest_status_{json,prometheus,html}.c: each output of
 * the status endpoint, written at p into a buffer the handler sized
 */
u_char *ngx_http_nitro_attest_status_json(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now, ngx_http_nitro_attest_recent_t *recent);
u_char *ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now, ngx_http_nitro_attest_recent_t *recent);
extern const size_t  ngx_http_nitro_attest_status_html_size;
u_char *ngx_http_nitro_attest_status_html(u_char *p,
    ngx_nitro_attest_shctx_t *sh, ngx_array_t *sets, ngx_array_t *enclaves,
    int64_t now, ngx_http_nitro_attest_recent_t *recent);


#pragma GCC visibility pop

#endif /* _NGX_HTTP_NITRO_ATTEST_H_INCLUDED_ */
