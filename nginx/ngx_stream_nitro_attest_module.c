
/*
 * ngx_stream_nitro_attest_module: attestation-bound mutual TLS for plain
 * TCP services, the stream face.  Its commands and configuration, the
 * postconfiguration that hooks every attesting server's SSL_CTX through
 * the shared layer, and a guard around each attesting server's content
 * handler that refuses a session not attested for its server (a
 * plaintext one included) before anything is proxied.  The variables,
 * the "listen" lines without ssl and the watch that closes a session
 * when its verdict expires are in nginx/ngx_stream_nitro_attest_*.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_stream_nitro_attest.h"


#if (nginx_version >= 1025005)
typedef ngx_stream_ssl_srv_conf_t  ngx_stream_nitro_attest_ssl_conf_t;
#else
typedef ngx_stream_ssl_conf_t      ngx_stream_nitro_attest_ssl_conf_t;
#endif


static ngx_int_t ngx_stream_nitro_attest_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_stream_nitro_attest_init(ngx_conf_t *cf);
static ngx_int_t ngx_stream_nitro_attest_init_process(ngx_cycle_t *cycle);
static void ngx_stream_nitro_attest_exit_process(ngx_cycle_t *cycle);
static void *ngx_stream_nitro_attest_create_main_conf(ngx_conf_t *cf);
static void *ngx_stream_nitro_attest_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_nitro_attest_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_stream_nitro_attest_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_nitro_attest_event_log(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_nitro_attest_event_log_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_nitro_attest_main_t *ngx_stream_nitro_attest_cycle_main(
    ngx_cycle_t *cycle);
static void ngx_stream_nitro_attest_content(ngx_stream_session_t *s);
static ngx_int_t ngx_stream_nitro_attest_admit(ngx_stream_session_t *s,
    ngx_nitro_attest_srv_conf_t *nascf);


static ngx_command_t  ngx_stream_nitro_attest_commands[] = {

    { ngx_string("nitro_attest"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_set_mode,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, enable),
      &ngx_nitro_attest_modes },

    { ngx_string("nitro_attest_policy"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_file,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, policy),
      &ngx_nitro_attest_policy_file },

    { ngx_string("nitro_attest_trusted_root"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_file,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, root),
      &ngx_nitro_attest_root_file },

    { ngx_string("nitro_attest_max_age"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_msec,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, max_age),
      NULL },

    { ngx_string("nitro_attest_clock_skew"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_msec,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, clock_skew),
      NULL },

    { ngx_string("nitro_attest_binding"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_binding,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_extension"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_nitro_attest_extension,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_cache"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_cache,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_rollback"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_rollback_mode,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, rollback),
      &ngx_nitro_attest_rollback_modes },

    { ngx_string("nitro_attest_reattest"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_reattest,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_event_log"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE123,
      ngx_stream_nitro_attest_event_log,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_event_log_key"),
      NGX_STREAM_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_event_log_key,
      NGX_STREAM_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_verify"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_proxy_set,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_policy"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_proxy_set,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_trusted_root"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_proxy_set,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_max_age"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_proxy_set,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_clock_skew"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_proxy_set,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_binding"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_nitro_attest_proxy_set,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_extension"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_stream_nitro_attest_proxy_set,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_nitro_attest_module_ctx = {
    ngx_stream_nitro_attest_preconfiguration, /* preconfiguration */
    ngx_stream_nitro_attest_init,          /* postconfiguration */

    ngx_stream_nitro_attest_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_stream_nitro_attest_create_srv_conf, /* create server configuration */
    ngx_stream_nitro_attest_merge_srv_conf /* merge server configuration */
};


ngx_module_t  ngx_stream_nitro_attest_module = {
    NGX_MODULE_V1,
    &ngx_stream_nitro_attest_module_ctx,   /* module context */
    ngx_stream_nitro_attest_commands,      /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_stream_nitro_attest_init_process,  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_stream_nitro_attest_exit_process,  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_stream_nitro_attest_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_stream_nitro_attest_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_stream_nitro_attest_hook_listen(cf);
}


static void *
ngx_stream_nitro_attest_create_main_conf(ngx_conf_t *cf)
{
    ngx_nitro_attest_main_t  *nam;

    nam = ngx_pcalloc(cf->pool, sizeof(ngx_nitro_attest_main_t));
    if (nam == NULL) {
        return NULL;
    }

    if (ngx_nitro_attest_init_main(cf, nam, NGX_NITRO_ATTEST_STREAM)
        != NGX_OK)
    {
        return NULL;
    }

    return nam;
}


static void *
ngx_stream_nitro_attest_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_nitro_attest_srv_conf_t  *sscf;

    sscf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_nitro_attest_srv_conf_t));
    if (sscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     sscf->content = NULL;
     *     sscf->plaintext = NULL;
     */

    ngx_nitro_attest_init_srv(&sscf->attest);
    ngx_nitro_attest_init_srv(&sscf->proxy);

    return sscf;
}


static char *
ngx_stream_nitro_attest_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_stream_nitro_attest_srv_conf_t *prev = parent;
    ngx_stream_nitro_attest_srv_conf_t *conf = child;

    conf->attest.main = ngx_stream_conf_get_module_main_conf(cf,
                                               ngx_stream_nitro_attest_module);

    if (ngx_nitro_attest_merge_srv(cf, &prev->attest, &conf->attest)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_stream_nitro_attest_proxy_merge(cf, prev, conf);
}


/* nitro_attest_policy, nitro_attest_trusted_root: loaded once per block */

static char *
ngx_stream_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_nitro_attest_file(cf, cmd, conf,
                                 ngx_stream_conf_get_module_main_conf(cf,
                                              ngx_stream_nitro_attest_module));
}


/* nitro_attest_event_log and nitro_attest_event_log_key: the block's */

static char *
ngx_stream_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_nitro_attest_event_log(cf, cmd, conf,
                                      ngx_stream_conf_get_module_main_conf(cf,
                                              ngx_stream_nitro_attest_module));
}


static char *
ngx_stream_nitro_attest_event_log_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_nitro_attest_event_log_key(cf, conf);
}


static ngx_int_t
ngx_stream_nitro_attest_init(ngx_conf_t *cf)
{
    ngx_uint_t                            s, changed;
    ngx_stream_handler_pt                *h;
    ngx_stream_conf_ctx_t                *ctx;
    ngx_nitro_attest_main_t              *nam;
    ngx_stream_core_srv_conf_t          **cscfp;
    ngx_stream_core_main_conf_t          *cmcf;
    ngx_stream_nitro_attest_ssl_conf_t   *sslcf;
    ngx_stream_nitro_attest_srv_conf_t   *sscf;

    /* the block is parsed: nginx's own "listen" handler goes back */

    ngx_stream_nitro_attest_unhook_listen(NULL);

    cmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_core_module);
    nam = ngx_stream_conf_get_module_main_conf(cf,
                                               ngx_stream_nitro_attest_module);
    cscfp = cmcf->servers.elts;

    /*
     * Every session of an attesting server passes the guard before its
     * content handler (proxy_pass, return...) runs: the server is final
     * there, whichever module chose it (SNI, ssl_preread since 1.25.5).
     */

    for (s = 0; s < cmcf->servers.nelts; s++) {
        sscf = cscfp[s]->ctx->srv_conf[
                                      ngx_stream_nitro_attest_module.ctx_index];
        sslcf = cscfp[s]->ctx->srv_conf[ngx_stream_ssl_module.ctx_index];

        if (sscf->attest.enable != NGX_NITRO_ATTEST_OFF) {
            ngx_stream_nitro_attest_plaintext(cf, sscf);

            sscf->content = cscfp[s]->handler;
            cscfp[s]->handler = ngx_stream_nitro_attest_content;
        }

        if (sslcf->ssl.ctx != NULL
            && ngx_nitro_attest_add_server(&sscf->attest, sslcf->ssl.ctx)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /*
     * What the stream block itself sets: its own context, as cf->ctx is
     * left at the last server's by the merge.
     */

    ctx = (ngx_stream_conf_ctx_t *)
              cf->cycle->conf_ctx[ngx_stream_module.index];

    if (ngx_nitro_attest_postconfiguration(cf, nam,
                      ctx->srv_conf[ngx_stream_nitro_attest_module.ctx_index])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (nam->servers.nelts == 0) {
        /* upstreams verified are counted with the clients of http */
        return nam->proxy ? ngx_nitro_attest_counters_zone(cf, nam) : NGX_OK;
    }

    /*
     * Stream servers share listen sockets by server name since 1.25.5:
     * every stream server resumes by ticket only once one attests.
     */

    changed = 0;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        sslcf = cscfp[s]->ctx->srv_conf[ngx_stream_ssl_module.ctx_index];

        if (sslcf->ssl.ctx != NULL) {
            changed |= ngx_nitro_attest_no_session_cache(sslcf->ssl.ctx);
        }
    }

    if (changed) {
        ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                      "nitro_attest: no session cache for the stream "
                      "servers: sessions there resume by ticket only");
    }

    /* the inventory is the http block's, if any: the zone links it */

    if (ngx_nitro_attest_counters_zone(cf, nam) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * A session that ends, whoever ends it, leaves the watch at once: its
     * TLS shutdown may keep the pool (and the cleanup) for a while, and
     * neither the timer nor a reload may finalize it again meanwhile.
     */

    h = ngx_array_push(&cmcf->phases[NGX_STREAM_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_stream_nitro_attest_log;

    return NGX_OK;
}


static ngx_int_t
ngx_stream_nitro_attest_init_process(ngx_cycle_t *cycle)
{
    ngx_stream_nitro_attest_watch_init(cycle);

    return ngx_nitro_attest_event_log_init(cycle,
                                    ngx_stream_nitro_attest_cycle_main(cycle));
}


static void
ngx_stream_nitro_attest_exit_process(ngx_cycle_t *cycle)
{
    ngx_nitro_attest_event_log_exit(ngx_stream_nitro_attest_cycle_main(cycle));
    ngx_nitro_attest_exit();
}


/* the main configuration of a cycle with a stream block, or NULL */

static ngx_nitro_attest_main_t *
ngx_stream_nitro_attest_cycle_main(ngx_cycle_t *cycle)
{
    return ngx_stream_cycle_get_module_main_conf(cycle,
                                                ngx_stream_nitro_attest_module);
}


/*
 * The guard, in place of an attesting server's content handler: what it
 * does not admit is closed before the content handler runs, so before
 * proxy_pass connects to the upstream and before any byte is sent there.
 */

static void
ngx_stream_nitro_attest_content(ngx_stream_session_t *s)
{
    ngx_int_t                            rc;
    ngx_stream_nitro_attest_srv_conf_t  *sscf;

    sscf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);

    rc = ngx_stream_nitro_attest_admit(s, &sscf->attest);

    if (rc != NGX_OK) {
        ngx_stream_finalize_session(s, rc);
        return;
    }

    sscf->content(s);
}


/*
 * An "on" server serves only a session attested for it: none without TLS
 * (a "listen" without "ssl"), and the default server's verdict does not
 * carry over to another server name.  Every attested session is closed
 * when its verdict expires.
 */

static ngx_int_t
ngx_stream_nitro_attest_admit(ngx_stream_session_t *s,
    ngx_nitro_attest_srv_conf_t *nascf)
{
    ngx_connection_t        *c;
    nitro_attest_verdict_t  *v;

    c = s->connection;
    v = ngx_nitro_attest_verdict(nascf, c);

    /* one that expired since its handshake: the watch closes it */

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS
        && v->reason != NITRO_ATTEST_EXPIRED)
    {
        if (nascf->enable == NGX_NITRO_ATTEST_OPTIONAL) {
            return NGX_OK;
        }

        if (c->ssl == NULL) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client connection without TLS to a server that "
                          "attests its clients, closed");

        } else {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client connection is not attested for this "
                          "server, session refused");
        }

        return NGX_STREAM_FORBIDDEN;
    }

    return ngx_stream_nitro_attest_watch_session(s, nascf, v);
}
