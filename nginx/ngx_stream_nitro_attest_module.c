
/*
 * ngx_stream_nitro_attest_module: attestation-bound mutual TLS for plain
 * TCP services, the stream face.  Its commands and configuration, the
 * postconfiguration that hooks every attesting server's SSL_CTX through
 * the shared layer, the variables, and a guard around each attesting
 * server's content handler that refuses a session not attested for its
 * server (a plaintext one included) before anything is proxied, and
 * closes it, with its upstream connection, when its verdict expires.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_nitro_attest.h"


#if (nginx_version >= 1025005)
typedef ngx_stream_ssl_srv_conf_t  ngx_stream_nitro_attest_ssl_conf_t;
#else
typedef ngx_stream_ssl_conf_t      ngx_stream_nitro_attest_ssl_conf_t;
#endif


/* longest a timer is armed for: ngx_msec_t differences stay signed */
#define NGX_STREAM_NITRO_ATTEST_TIMER_MAX  (24 * 60 * 60 * 1000)

/* how often a worker looks whether it is shutting down (a reload) */
#define NGX_STREAM_NITRO_ATTEST_WATCH      200


/*
 * A stream server's configuration: the shared layer's first, so that its
 * directives and hooks, which know only that part, find it at the same
 * address; then what the stream face keeps for itself.
 */
typedef struct {
    ngx_nitro_attest_srv_conf_t     attest;
    ngx_stream_content_handler_pt   content;    /* the one guarded */
    ngx_array_t                    *plaintext;  /* "listen" lines, no ssl */
} ngx_stream_nitro_attest_srv_conf_t;


/* where a "listen" without "ssl" is */
typedef struct {
    u_char                         *file;
    ngx_uint_t                      line;
} ngx_stream_nitro_attest_listen_t;


typedef char *(*ngx_stream_nitro_attest_set_pt)(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* an attested session of this worker, with its expiry timer */
typedef struct {
    ngx_event_t                     expiry;
    ngx_queue_t                     queue;
    ngx_stream_session_t           *session;
    ngx_recv_pt                     recv;       /* the connection's own */
} ngx_stream_nitro_attest_ctx_t;


static ngx_int_t ngx_stream_nitro_attest_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_stream_nitro_attest_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_stream_nitro_attest_hook_listen(ngx_conf_t *cf);
static void ngx_stream_nitro_attest_unhook_listen(void *data);
static char *ngx_stream_nitro_attest_listen(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_stream_nitro_attest_init(ngx_conf_t *cf);
static void ngx_stream_nitro_attest_plaintext(ngx_conf_t *cf,
    ngx_stream_nitro_attest_srv_conf_t *sscf);
static ngx_int_t ngx_stream_nitro_attest_init_process(ngx_cycle_t *cycle);
static void ngx_stream_nitro_attest_exit_process(ngx_cycle_t *cycle);
static void *ngx_stream_nitro_attest_create_main_conf(ngx_conf_t *cf);
static void *ngx_stream_nitro_attest_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_nitro_attest_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_stream_nitro_attest_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_stream_nitro_attest_content(ngx_stream_session_t *s);
static ngx_int_t ngx_stream_nitro_attest_admit(ngx_stream_session_t *s,
    ngx_nitro_attest_srv_conf_t *nascf);
static ssize_t ngx_stream_nitro_attest_recv(ngx_connection_t *c,
    u_char *buf, size_t size);
static void ngx_stream_nitro_attest_expire(ngx_event_t *ev);
static void ngx_stream_nitro_attest_close(ngx_stream_session_t *s);
static void ngx_stream_nitro_attest_arm(ngx_event_t *ev, int64_t expires);
static void ngx_stream_nitro_attest_disarm(void *data);
static ngx_int_t ngx_stream_nitro_attest_log(ngx_stream_session_t *s);
static void ngx_stream_nitro_attest_watch(ngx_event_t *ev);
static ngx_int_t ngx_stream_nitro_attest_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_stream_nitro_attest_json_variable(
    ngx_stream_session_t *s, ngx_stream_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_stream_nitro_attest_prefix_variable(
    ngx_stream_session_t *s, ngx_stream_variable_value_t *v, uintptr_t data);


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

    { ngx_string("nitro_attest_reattest"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_reattest,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_event_log"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_event_log,
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


/* the event says where: it needs the session's connection and server */
static ngx_str_t  ngx_stream_nitro_attest_json_name =
    ngx_string("nitro_attest_json");


/* this worker's attested sessions, and the watch over them */
static ngx_queue_t  ngx_stream_nitro_attest_sessions;
static ngx_event_t  ngx_stream_nitro_attest_watcher;

/* ngx_stream_core_module's "listen" and its own handler, while wrapped */
static ngx_command_t                   *ngx_stream_nitro_attest_listen_cmd;
static ngx_stream_nitro_attest_set_pt   ngx_stream_nitro_attest_listen_next;


static ngx_int_t
ngx_stream_nitro_attest_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_stream_nitro_attest_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_stream_nitro_attest_hook_listen(cf);
}


static ngx_int_t
ngx_stream_nitro_attest_add_variables(ngx_conf_t *cf)
{
    ngx_nitro_attest_var_t   *v;
    ngx_stream_variable_t    *var;

    for (v = ngx_nitro_attest_vars; v->name.len; v++) {
        var = ngx_stream_add_variable(cf, &v->name,
                                      v->prefix ? NGX_STREAM_VAR_PREFIX : 0);
        if (var == NULL) {
            return NGX_ERROR;
        }

        if (v->prefix) {
            /* nginx hands a prefix variable's handler the full name */
            var->get_handler = ngx_stream_nitro_attest_prefix_variable;
            continue;
        }

        var->get_handler = ngx_stream_nitro_attest_variable;
        var->data = (uintptr_t) v;
    }

    var = ngx_stream_add_variable(cf, &ngx_stream_nitro_attest_json_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_stream_nitro_attest_json_variable;

    return NGX_OK;
}


/*
 * A plaintext "listen" of an attesting server gets a warning that names
 * its file and line, but nginx keeps neither for a stream "listen" (1.22
 * to 1.26).  So, while the stream block is parsed, and only then, the
 * "listen" command of ngx_stream_core_module runs through a wrapper that
 * calls nginx's own handler, then notes where a "listen" without "ssl"
 * is (the same "ssl" token nginx's handler looks for).
 *
 * Why it is safe: the configuration is parsed by one thread, in the
 * master or in "nginx -t", and the wrapper is in place only from this
 * block's preconfiguration to its postconfiguration.  Both
 * ngx_stream_module.so and this module are dynamic, and a later cycle may
 * load neither, so the command table of the one must never keep a
 * pointer into the other past this block: the postconfiguration puts
 * nginx's handler back, and so does a cleanup of the cycle's pool when
 * the block fails before its postconfiguration (the cycle is then
 * destroyed).  That cleanup is registered after the "load_module"
 * lines, so it runs before their unloading, while both modules are still
 * mapped; it restores only its own wrapper.
 */

static ngx_int_t
ngx_stream_nitro_attest_hook_listen(ngx_conf_t *cf)
{
    ngx_command_t       *cmd;
    ngx_pool_cleanup_t  *cln;

    for (cmd = ngx_stream_core_module.commands; cmd->name.len; cmd++) {
        if (cmd->name.len == sizeof("listen") - 1
            && ngx_strncmp(cmd->name.data, "listen", cmd->name.len) == 0)
        {
            break;
        }
    }

    /* never wrapped twice: the wrapper would call itself */

    if (cmd->name.len == 0 || cmd->set == ngx_stream_nitro_attest_listen) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_stream_nitro_attest_unhook_listen;

    ngx_stream_nitro_attest_listen_cmd = cmd;
    ngx_stream_nitro_attest_listen_next = cmd->set;
    cmd->set = ngx_stream_nitro_attest_listen;

    return NGX_OK;
}


static void
ngx_stream_nitro_attest_unhook_listen(void *data)
{
    ngx_command_t  *cmd;

    cmd = ngx_stream_nitro_attest_listen_cmd;

    if (cmd != NULL && cmd->set == ngx_stream_nitro_attest_listen) {
        cmd->set = ngx_stream_nitro_attest_listen_next;
    }
}


static char *
ngx_stream_nitro_attest_listen(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                                *rv;
    ngx_str_t                           *value;
    ngx_uint_t                           i;
    ngx_stream_nitro_attest_listen_t    *ls;
    ngx_stream_nitro_attest_srv_conf_t  *sscf;

    rv = ngx_stream_nitro_attest_listen_next(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "ssl") == 0) {
            return NGX_CONF_OK;
        }
    }

    sscf = ngx_stream_conf_get_module_srv_conf(cf,
                                               ngx_stream_nitro_attest_module);

    if (sscf->plaintext == NULL) {
        sscf->plaintext = ngx_array_create(cf->pool, 1,
                                     sizeof(ngx_stream_nitro_attest_listen_t));
        if (sscf->plaintext == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ls = ngx_array_push(sscf->plaintext);
    if (ls == NULL) {
        return NGX_CONF_ERROR;
    }

    ls->file = cf->conf_file->file.name.data;
    ls->line = cf->conf_file->line;

    return NGX_CONF_OK;
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

    return ngx_nitro_attest_merge_srv(cf, &prev->attest, &conf->attest);
}


/* nitro_attest_policy, nitro_attest_trusted_root: loaded once per block */

static char *
ngx_stream_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_nitro_attest_file(cf, cmd, conf,
                                 ngx_stream_conf_get_module_main_conf(cf,
                                              ngx_stream_nitro_attest_module));
}


static ngx_int_t
ngx_stream_nitro_attest_init(ngx_conf_t *cf)
{
    ngx_uint_t                            s, changed;
    ngx_array_t                           servers;
    ngx_stream_handler_pt                *h;
    ngx_stream_conf_ctx_t                *ctx;
    ngx_nitro_attest_main_t              *nam;
    ngx_nitro_attest_server_t            *server;
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

    if (ngx_array_init(&servers, cf->temp_pool, cmcf->servers.nelts,
                       sizeof(ngx_nitro_attest_server_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

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

        server = ngx_array_push(&servers);
        if (server == NULL) {
            return NGX_ERROR;
        }

        server->conf = &sscf->attest;
        server->ssl = sslcf->ssl.ctx;
    }

    /*
     * What the stream block itself sets: its own context, as cf->ctx is
     * left at the last server's by the merge.
     */

    ctx = (ngx_stream_conf_ctx_t *)
              cf->cycle->conf_ctx[ngx_stream_module.index];

    if (ngx_nitro_attest_postconfiguration(cf, nam,
                      ctx->srv_conf[ngx_stream_nitro_attest_module.ctx_index],
                      &servers)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (nam->servers.nelts == 0) {
        return NGX_OK;
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


/* a "listen" without "ssl" of an attesting server: what becomes of it */

static void
ngx_stream_nitro_attest_plaintext(ngx_conf_t *cf,
    ngx_stream_nitro_attest_srv_conf_t *sscf)
{
    ngx_uint_t                         i;
    ngx_stream_nitro_attest_listen_t  *ls;

    if (sscf->plaintext == NULL) {
        return;
    }

    ls = sscf->plaintext->elts;

    for (i = 0; i < sscf->plaintext->nelts; i++) {
        if (sscf->attest.enable == NGX_NITRO_ATTEST_ON) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"listen\" without \"ssl\" in %s:%ui, in a "
                          "stream server with \"nitro_attest on\": a "
                          "connection without TLS there is closed, never "
                          "proxied", ls[i].file, ls[i].line);

        } else {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"listen\" without \"ssl\" in %s:%ui, in a "
                          "stream server with \"nitro_attest optional\": a "
                          "connection without TLS there is served "
                          "unattested (status NONE)", ls[i].file, ls[i].line);
        }
    }
}


static ngx_int_t
ngx_stream_nitro_attest_init_process(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_stream_nitro_attest_sessions);

    ngx_stream_nitro_attest_watcher.handler = ngx_stream_nitro_attest_watch;
    ngx_stream_nitro_attest_watcher.log = cycle->log;
    ngx_stream_nitro_attest_watcher.cancelable = 1;

    return NGX_OK;
}


static void
ngx_stream_nitro_attest_exit_process(ngx_cycle_t *cycle)
{
    ngx_nitro_attest_exit();
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
    ngx_connection_t               *c;
    ngx_pool_cleanup_t             *cln;
    nitro_attest_verdict_t         *v;
    ngx_stream_nitro_attest_ctx_t  *ctx;

    c = s->connection;
    v = ngx_nitro_attest_verdict(nascf, c);

    /* one that expired since its handshake: the timer below closes it */

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

    ctx = ngx_pcalloc(c->pool, sizeof(ngx_stream_nitro_attest_ctx_t));
    cln = ngx_pool_cleanup_add(c->pool, 0);

    if (ctx == NULL || cln == NULL) {
        return NGX_STREAM_INTERNAL_SERVER_ERROR;
    }

    ctx->session = s;
    ctx->expiry.handler = ngx_stream_nitro_attest_expire;
    ctx->expiry.data = s;
    ctx->expiry.log = c->log;
    ctx->expiry.cancelable = 1;

    cln->handler = ngx_stream_nitro_attest_disarm;
    cln->data = ctx;

    ngx_stream_set_ctx(s, ctx, ngx_stream_nitro_attest_module);

    if (c->ssl) {
        ctx->recv = c->recv;
        c->recv = ngx_stream_nitro_attest_recv;
    }

    ngx_stream_nitro_attest_arm(&ctx->expiry,
                                ngx_nitro_attest_expiry(nascf, v));

    ngx_queue_insert_tail(&ngx_stream_nitro_attest_sessions, &ctx->queue);

    if (!ngx_stream_nitro_attest_watcher.timer_set) {
        ngx_add_timer(&ngx_stream_nitro_attest_watcher,
                      NGX_STREAM_NITRO_ATTEST_WATCH);
    }

    return NGX_OK;
}


/*
 * What an attested client sends is read through here: once the worker is
 * told to shut down (a reload may have revoked the policy that admitted
 * the session), nothing more is read, so no byte sent after the reload
 * reaches the upstream, even before the watch below closes the session.
 * The proxy sees the client's end of the stream and closes both sides.
 */

static ssize_t
ngx_stream_nitro_attest_recv(ngx_connection_t *c, u_char *buf, size_t size)
{
    ngx_stream_session_t           *s;
    ngx_stream_nitro_attest_ctx_t  *ctx;

    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_stream_nitro_attest_module);

    if (!ngx_nitro_attest_retiring()) {
        return ctx->recv(c, buf, size);
    }

    if (!c->read->eof) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "worker shutting down: attested session closed, "
                      "nothing more is read from the client");
    }

    c->read->ready = 0;
    c->read->eof = 1;

    return 0;
}


static void
ngx_stream_nitro_attest_expire(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_stream_session_t         *s;
    nitro_attest_verdict_t       *v;
    ngx_nitro_attest_srv_conf_t  *nascf;

    s = ev->data;
    c = s->connection;
    nascf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);
    v = ngx_nitro_attest_verdict(nascf, c);

    if (v->status == NITRO_ATTEST_STATUS_SUCCESS
        && ngx_nitro_attest_expiry(nascf, v) > ngx_nitro_attest_now())
    {
        ngx_stream_nitro_attest_arm(ev, ngx_nitro_attest_expiry(nascf, v));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "client attestation expired, session closed");

    ngx_stream_nitro_attest_close(s);
}


/*
 * Ends a session from outside its own event handlers, with its upstream
 * connection.  Once proxy_pass has started (s->upstream is set, and the
 * client connection's read handler is the proxy's), only the proxy knows
 * that connection and frees the upstream peer, so the session is handed
 * to it the way nginx's own worker_shutdown_timeout does: the client
 * connection is marked closed and its read handler run, which
 * ngx_stream_proxy_process_connection() turns into the proxy's
 * finalization (logged there as "shutdown timeout").  Without an upstream
 * (return, or nothing started yet), the session is finalized directly.
 */

static void
ngx_stream_nitro_attest_close(ngx_stream_session_t *s)
{
    ngx_connection_t  *c;

    if (s->upstream == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_OK);
        return;
    }

    c = s->connection;
    c->close = 1;
    c->read->handler(c->read);
}


static void
ngx_stream_nitro_attest_arm(ngx_event_t *ev, int64_t expires)
{
    int64_t  left;

    left = expires - ngx_nitro_attest_now();
    left = ngx_max(left, 1);
    left = ngx_min(left, NGX_STREAM_NITRO_ATTEST_TIMER_MAX);

    ngx_add_timer(ev, (ngx_msec_t) left);
}


/* idempotent: from the log phase, then from the pool cleanup */

static void
ngx_stream_nitro_attest_disarm(void *data)
{
    ngx_stream_nitro_attest_ctx_t *ctx = data;

    if (ctx->expiry.timer_set) {
        ngx_del_timer(&ctx->expiry);
    }

    ngx_queue_remove(&ctx->queue);
    ngx_queue_init(&ctx->queue);
}


static ngx_int_t
ngx_stream_nitro_attest_log(ngx_stream_session_t *s)
{
    ngx_stream_nitro_attest_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_stream_nitro_attest_module);

    if (ctx != NULL) {
        ngx_stream_nitro_attest_disarm(ctx);
    }

    return NGX_OK;
}


/*
 * A reload (or a graceful stop) ends the sessions of the old workers: an
 * attested TCP session must not outlive the policy that admitted it, and
 * nginx keeps stream sessions until worker_shutdown_timeout otherwise.
 * The client reconnects to a new worker and attests under the policy of
 * now.  HTTP needs nothing of the kind: nginx closes keep-alive
 * connections, and sends HTTP/2 GOAWAY, when a worker shuts down.
 */

static void
ngx_stream_nitro_attest_watch(ngx_event_t *ev)
{
    ngx_queue_t                    *q;
    ngx_stream_nitro_attest_ctx_t  *ctx;

    if (!ngx_exiting) {
        if (!ngx_queue_empty(&ngx_stream_nitro_attest_sessions)) {
            ngx_add_timer(ev, NGX_STREAM_NITRO_ATTEST_WATCH);
        }

        return;
    }

    while (!ngx_queue_empty(&ngx_stream_nitro_attest_sessions)) {
        q = ngx_queue_head(&ngx_stream_nitro_attest_sessions);
        ctx = ngx_queue_data(q, ngx_stream_nitro_attest_ctx_t, queue);

        ngx_log_error(NGX_LOG_INFO, ctx->session->connection->log, 0,
                      "worker shutting down: attested session closed, "
                      "the client attests again under the new "
                      "configuration");

        /* off the queue before: nothing below may put it back */
        ngx_stream_nitro_attest_disarm(ctx);
        ngx_stream_nitro_attest_close(ctx->session);
    }
}


static ngx_int_t
ngx_stream_nitro_attest_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_nitro_attest_var_t *var = (ngx_nitro_attest_var_t *) data;

    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);

    return var->get(s->connection->pool,
                    ngx_nitro_attest_verdict(nascf, s->connection), v,
                    var->data);
}


static ngx_int_t
ngx_stream_nitro_attest_prefix_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);

    return ngx_nitro_attest_prefix_variable(s->connection->pool,
                               ngx_nitro_attest_verdict(nascf, s->connection),
                               v, (ngx_str_t *) data);
}


static ngx_int_t
ngx_stream_nitro_attest_json_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);

    return ngx_nitro_attest_json_value(s->connection->pool,
                               ngx_nitro_attest_verdict(nascf, s->connection),
                               &s->connection->addr_text, nascf, v);
}
