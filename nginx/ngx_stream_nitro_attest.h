
/*
 * ngx_stream_nitro_attest.h: what the files of the stream face share: its
 * server configuration, and the few functions one of them calls in
 * another.
 */


#ifndef _NGX_STREAM_NITRO_ATTEST_H_INCLUDED_
#define _NGX_STREAM_NITRO_ATTEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_nitro_attest.h"


/*
 * The module itself is the one symbol of the .so that is everyone's: every
 * nginx dynamic module exports its ngx_module_t, and other modules may
 * refer to it.  Declared hidden, its definition would be hidden too.
 */
extern ngx_module_t  ngx_stream_nitro_attest_module
    __attribute__((visibility("default")));

#pragma GCC visibility push(hidden)


/*
 * A stream server's configuration: the shared layer's first, so that its
 * directives and hooks, which know only that part, find it at the same
 * address; then what the stream face keeps for itself.
 */
typedef struct {
    ngx_nitro_attest_srv_conf_t     attest;
    ngx_stream_content_handler_pt   content;    /* the one guarded */
    ngx_array_t                    *plaintext;  /* "listen"s without ssl */
    ngx_nitro_attest_srv_conf_t     proxy;      /* nitro_attest_proxy_* */
} ngx_stream_nitro_attest_srv_conf_t;


/* ngx_stream_nitro_attest_variables.c */
ngx_int_t ngx_stream_nitro_attest_add_variables(ngx_conf_t *cf);

/* ngx_stream_nitro_attest_listen.c */
ngx_int_t ngx_stream_nitro_attest_hook_listen(ngx_conf_t *cf);
void ngx_stream_nitro_attest_unhook_listen(void *data);
void ngx_stream_nitro_attest_plaintext(ngx_conf_t *cf,
    ngx_stream_nitro_attest_srv_conf_t *sscf);

/* ngx_stream_nitro_attest_watch.c */
void ngx_stream_nitro_attest_watch_init(ngx_cycle_t *cycle);
ngx_int_t ngx_stream_nitro_attest_watch_session(ngx_stream_session_t *s,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v);
ngx_int_t ngx_stream_nitro_attest_log(ngx_stream_session_t *s);
nitro_attest_verdict_t **ngx_stream_nitro_attest_upstream_slot(
    ngx_stream_session_t *s);

/* ngx_stream_nitro_attest_proxy.c */
char *ngx_stream_nitro_attest_proxy_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_stream_nitro_attest_proxy_merge(ngx_conf_t *cf,
    ngx_stream_nitro_attest_srv_conf_t *prev,
    ngx_stream_nitro_attest_srv_conf_t *conf);
ngx_int_t ngx_stream_nitro_attest_proxy_add_variables(ngx_conf_t *cf);


#pragma GCC visibility pop

#endif /* _NGX_STREAM_NITRO_ATTEST_H_INCLUDED_ */
