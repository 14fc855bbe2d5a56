
/*
 * ngx_http_nitro_attest_proxy.c: the enclave behind nginx, the http face.
 * Each location's "nitro_attest_proxy_*" settings, the hook on the
 * upstream SSL_CTX of the proxy, grpc and uwsgi modules where they verify
 * (their location configurations start with ngx_http_upstream_conf_t,
 * checked at load time), keepalive upstream connections judged by the
 * settings of the request that takes them, and the
 * $nitro_attest_proxy_* variables.  The verification itself is the
 * shared layer's (nginx/ngx_nitro_attest_proxy.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


/* an upstream{} block's own peer initialization, which the hook wraps */
typedef struct {
    ngx_http_upstream_srv_conf_t   *upstream;
    ngx_http_upstream_init_peer_pt  init;
} ngx_http_nitro_attest_upstream_t;


/* a request's peer, wrapped: what the upstream block's functions had */
typedef struct {
    ngx_http_request_t             *request;
    void                           *data;
    ngx_event_get_peer_pt           get;
    ngx_event_free_peer_pt          free;
    ngx_event_notify_peer_pt        notify;
    ngx_event_set_peer_session_pt   set_session;
    ngx_event_save_peer_session_pt  save_session;
} ngx_http_nitro_attest_peer_data_t;


/* the verdict of the request's last upstream */
typedef struct {
    nitro_attest_verdict_t         *last;
} ngx_http_nitro_attest_ctx_t;


static ngx_int_t ngx_http_nitro_attest_proxy_hook(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *pcf, ngx_module_t *module,
    const char *prefix);
static ngx_command_t *ngx_http_nitro_attest_proxy_command(ngx_conf_t *cf,
    ngx_module_t *module, const char *prefix, const char *suffix);
static ngx_int_t ngx_http_nitro_attest_proxy_peer(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer);
static ngx_int_t ngx_http_nitro_attest_proxy_wrap(ngx_conf_t *cf,
    ngx_http_nitro_attest_main_conf_t *namcf);
static ngx_int_t ngx_http_nitro_attest_proxy_init_peer(
    ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_nitro_attest_proxy_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_nitro_attest_proxy_free(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_http_nitro_attest_proxy_notify(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t type);
static ngx_int_t ngx_http_nitro_attest_proxy_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_nitro_attest_proxy_save_session(
    ngx_peer_connection_t *pc, void *data);
static ngx_int_t ngx_http_nitro_attest_proxy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_proxy_prefix_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);


/*
 * The upstream modules that speak TLS; weak, so that an nginx built
 * without one of them still loads the module.
 */
extern ngx_module_t  ngx_http_proxy_module __attribute__((weak));
extern ngx_module_t  ngx_http_grpc_module __attribute__((weak));
extern ngx_module_t  ngx_http_uwsgi_module __attribute__((weak));


/* nitro_attest_proxy_*: read into the location's proxy settings */

char *
ngx_http_nitro_attest_proxy_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_loc_conf_t *nalcf = conf;

    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    return ngx_nitro_attest_proxy_directive(cf, cmd, &nalcf->proxy,
                                            &namcf->na);
}


/*
 * A location's proxy settings merged.  Where it verifies, the SSL_CTX of
 * each of its TLS upstreams gets the hook, and its upstream sessions are
 * not reused: nginx saves sessions per upstream address, not per
 * location, and a resumed session skips the certificate, so a session
 * made where nothing or something else was verified would carry a
 * verdict of other settings.
 */

char *
ngx_http_nitro_attest_proxy_merge(ngx_conf_t *cf,
    ngx_http_nitro_attest_loc_conf_t *prev,
    ngx_http_nitro_attest_loc_conf_t *conf)
{
    ngx_uint_t                          first;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);
    first = !namcf->na.proxy;

    if (ngx_nitro_attest_proxy_merge(cf, &prev->proxy, &conf->proxy,
                                     &namcf->na)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->proxy.enable == NGX_NITRO_ATTEST_OFF) {
        return NGX_CONF_OK;
    }

    if (first && ngx_http_nitro_attest_proxy_wrap(cf, namcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_nitro_attest_proxy_hook(cf, &conf->proxy,
                                         &ngx_http_proxy_module, "proxy")
           != NGX_OK
        || ngx_http_nitro_attest_proxy_hook(cf, &conf->proxy,
                                            &ngx_http_grpc_module, "grpc")
           != NGX_OK
        || ngx_http_nitro_attest_proxy_hook(cf, &conf->proxy,
                                            &ngx_http_uwsgi_module, "uwsgi")
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The upstream configuration of module in this location: the first member
 * of its location configuration in every nginx this module builds with.
 * Its directive "PREFIX_ssl_session_reuse" writes there at the offset of
 * ssl_session_reuse in ngx_http_upstream_conf_t, which checks it; its
 * flag "ssl", whether the location passes over TLS, comes just before
 * the field of "PREFIX_ssl_protocols".  A location that passes in
 * plaintext is not verified: nginx -t says so rather than let it look
 * protected.  An "if" or "limit_except" block passes as its parent does
 * (nginx 1.22 does not copy the flag there): its parent is the one said.
 */

static ngx_int_t
ngx_http_nitro_attest_proxy_hook(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *pcf, ngx_module_t *module,
    const char *prefix)
{
    u_char                    *lcf;
    ngx_command_t             *reuse, *protocols;
    ngx_http_upstream_conf_t  *ucf;
    ngx_http_core_loc_conf_t  *clcf;

    if (module == NULL) {
        return NGX_OK;
    }

    reuse = ngx_http_nitro_attest_proxy_command(cf, module, prefix,
                                                "_ssl_session_reuse");
    protocols = ngx_http_nitro_attest_proxy_command(cf, module, prefix,
                                                    "_ssl_protocols");

    if (reuse == NULL || protocols == NULL) {
        return NGX_ERROR;
    }

    if (reuse->offset != offsetof(ngx_http_upstream_conf_t,
                                  ssl_session_reuse)
        || protocols->offset < sizeof(ngx_http_upstream_conf_t)
                               + sizeof(ngx_uint_t))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest_proxy_verify: the upstream "
                      "configuration of this nginx's \"%s\" is not where "
                      "this module was built to find it", prefix);
        return NGX_ERROR;
    }

    lcf = ngx_http_conf_get_module_loc_conf(cf, (*module));
    ucf = (ngx_http_upstream_conf_t *) lcf;
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (ucf->upstream != NULL && !clcf->noname
        && !*(ngx_uint_t *) (lcf + protocols->offset - sizeof(ngx_uint_t)))
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"nitro_attest_proxy_verify on\" in %s:%ui applies "
                      "to location \"%V\", whose upstream is not TLS: "
                      "it is not verified", pcf->file, pcf->line,
                      &clcf->name);
    }

    if (ucf->ssl == NULL || ucf->ssl->ctx == NULL) {
        return NGX_OK;
    }

    ucf->ssl_session_reuse = 0;

    return ngx_nitro_attest_proxy_attach(cf, ucf->ssl->ctx,
                                         ngx_http_nitro_attest_proxy_peer);
}


/* the location directive PREFIX SUFFIX of module; NULL, logged, if none */

static ngx_command_t *
ngx_http_nitro_attest_proxy_command(ngx_conf_t *cf, ngx_module_t *module,
    const char *prefix, const char *suffix)
{
    u_char          name[32], *last;
    size_t          len;
    ngx_command_t  *cmd;

    last = ngx_snprintf(name, sizeof(name), "%s%s", prefix, suffix);
    len = last - name;

    for (cmd = module->commands; cmd->name.len; cmd++) {
        if (cmd->name.len == len
            && ngx_strncmp(cmd->name.data, name, len) == 0
            && cmd->conf == NGX_HTTP_LOC_CONF_OFFSET)
        {
            return cmd;
        }
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "nitro_attest_proxy_verify: this nginx's %s module has "
                  "no \"%*s\" directive", prefix, len, name);

    return NULL;
}


/*
 * An upstream connection, during its handshake, serves the request in its
 * data: that request's location says what is verified.
 */

static ngx_int_t
ngx_http_nitro_attest_proxy_peer(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer)
{
    ngx_http_request_t                *r;
    ngx_http_nitro_attest_ctx_t       *ctx;
    ngx_http_nitro_attest_loc_conf_t  *nalcf;

    r = c->data;

    ctx = ngx_http_get_module_ctx(r, ngx_http_nitro_attest_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_nitro_attest_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_nitro_attest_module);
    }

    nalcf = ngx_http_get_module_loc_conf(r, ngx_http_nitro_attest_module);

    peer->conf = &nalcf->proxy;
    peer->server = ngx_http_get_module_srv_conf(r,
                                                ngx_http_nitro_attest_module);
    peer->client_addr = &r->connection->addr_text;
    peer->sockaddr = r->upstream->peer.sockaddr;
    peer->socklen = r->upstream->peer.socklen;
    peer->pc = &r->upstream->peer;
    peer->pool = r->pool;
    peer->last = &ctx->last;

    return NGX_OK;
}


/*
 * Once a location verifies, every upstream{} block's peers are wrapped,
 * so that a keepalive connection is judged before it serves a request
 * (nginx matches them by address only).  The upstream module, which comes
 * first, has initialized them all by now.
 */

static ngx_int_t
ngx_http_nitro_attest_proxy_wrap(ngx_conf_t *cf,
    ngx_http_nitro_attest_main_conf_t *namcf)
{
    ngx_uint_t                          i;
    ngx_array_t                        *upstreams;
    ngx_http_upstream_srv_conf_t      **uscfp;
    ngx_http_upstream_main_conf_t      *umcf;
    ngx_http_nitro_attest_upstream_t   *wrapped;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    upstreams = ngx_array_create(cf->pool, umcf->upstreams.nelts + 1,
                                 sizeof(ngx_http_nitro_attest_upstream_t));
    if (upstreams == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->peer.init == NULL) {
            continue;
        }

        wrapped = ngx_array_push(upstreams);
        if (wrapped == NULL) {
            return NGX_ERROR;
        }

        wrapped->upstream = uscfp[i];
        wrapped->init = uscfp[i]->peer.init;
        uscfp[i]->peer.init = ngx_http_nitro_attest_proxy_init_peer;
    }

    namcf->upstreams = upstreams;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_proxy_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                          i;
    ngx_peer_connection_t              *pc;
    ngx_http_nitro_attest_upstream_t   *wrapped;
    ngx_http_nitro_attest_peer_data_t  *pd;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    /* the blocks of the request's own configuration cycle */
    namcf = ngx_http_get_module_main_conf(r, ngx_http_nitro_attest_module);
    wrapped = namcf->upstreams->elts;

    for (i = 0; i < namcf->upstreams->nelts; i++) {
        if (wrapped[i].upstream == us) {
            break;
        }
    }

    if (i == namcf->upstreams->nelts || wrapped[i].init(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    pd = ngx_palloc(r->pool, sizeof(ngx_http_nitro_attest_peer_data_t));
    if (pd == NULL) {
        return NGX_ERROR;
    }

    pc = &r->upstream->peer;

    pd->request = r;
    pd->data = pc->data;
    pd->get = pc->get;
    pd->free = pc->free;
    pd->notify = pc->notify;
    pd->set_session = pc->set_session;
    pd->save_session = pc->save_session;

    pc->data = pd;
    pc->get = ngx_http_nitro_attest_proxy_get;
    pc->free = ngx_http_nitro_attest_proxy_free;
    pc->notify = pd->notify ? ngx_http_nitro_attest_proxy_notify : NULL;
    pc->set_session = ngx_http_nitro_attest_proxy_set_session;
    pc->save_session = ngx_http_nitro_attest_proxy_save_session;

    return NGX_OK;
}


/*
 * Each attempt starts with no verdict, so that the request reports its
 * last upstream's, not that of an earlier one (next upstream) when the
 * last fails before its handshake.  A cached connection that must not
 * serve this request is closed, and the peer the block chose is connected
 * anew: a full handshake verifies it.
 */

static ngx_int_t
ngx_http_nitro_attest_proxy_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_nitro_attest_peer_data_t *pd = data;

    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_nitro_attest_peer_t       peer;
    ngx_http_nitro_attest_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(pd->request, ngx_http_nitro_attest_module);

    if (ctx != NULL) {
        ctx->last = NULL;
    }

    rc = pd->get(pc, pd->data);

    if (rc != NGX_DONE) {
        return rc;
    }

    c = pc->connection;
    c->data = pd->request;

    if (ngx_http_nitro_attest_proxy_peer(c, &peer) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_nitro_attest_proxy_reuse(c, &peer) == NGX_OK) {
        return NGX_DONE;
    }

    ngx_nitro_attest_proxy_close(c);

    pc->connection = NULL;
    pc->cached = 0;

    return NGX_OK;
}


static void
ngx_http_nitro_attest_proxy_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_nitro_attest_peer_data_t *pd = data;

    pd->free(pc, pd->data, state);
}


static void
ngx_http_nitro_attest_proxy_notify(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t type)
{
    ngx_http_nitro_attest_peer_data_t *pd = data;

    pd->notify(pc, pd->data, type);
}


static ngx_int_t
ngx_http_nitro_attest_proxy_set_session(ngx_peer_connection_t *pc,
    void *data)
{
    ngx_http_nitro_attest_peer_data_t *pd = data;

    return pd->set_session(pc, pd->data);
}


static void
ngx_http_nitro_attest_proxy_save_session(ngx_peer_connection_t *pc,
    void *data)
{
    ngx_http_nitro_attest_peer_data_t *pd = data;

    pd->save_session(pc, pd->data);
}


/*
 * $nitro_attest_proxy_status, _reason, _module_id, _policy, _kind and
 * _pcr0.._pcr31: the client side's getters over the verdict of the
 * request's last upstream.
 */

ngx_int_t
ngx_http_nitro_attest_proxy_add_variables(ngx_conf_t *cf)
{
    ngx_str_t               *name;
    ngx_uint_t               flags;
    ngx_http_variable_t     *var;
    ngx_nitro_attest_var_t  *v;

    for (name = ngx_nitro_attest_proxy_vars; name->len; name++) {
        v = ngx_nitro_attest_proxy_var(name);
        flags = NGX_HTTP_VAR_NOCACHEABLE
                | (v->prefix ? NGX_HTTP_VAR_PREFIX : 0);

        var = ngx_http_add_variable(cf, name, flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->prefix
                           ? ngx_http_nitro_attest_proxy_prefix_variable
                           : ngx_http_nitro_attest_proxy_variable;
        var->data = (uintptr_t) v;
    }

    return NGX_OK;
}


static nitro_attest_verdict_t *
ngx_http_nitro_attest_proxy_last(ngx_http_request_t *r)
{
    ngx_http_nitro_attest_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_nitro_attest_module);

    return ngx_nitro_attest_proxy_verdict(ctx ? ctx->last : NULL);
}


static ngx_int_t
ngx_http_nitro_attest_proxy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_variable(r->pool,
                                     ngx_http_nitro_attest_proxy_last(r), v,
                                     (ngx_nitro_attest_var_t *) data);
}


/* nginx hands a prefix variable's handler the full name */

static ngx_int_t
ngx_http_nitro_attest_proxy_prefix_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_proxy_prefix_variable(r->pool,
                                            ngx_http_nitro_attest_proxy_last(r),
                                            v, (ngx_str_t *) data);
}
