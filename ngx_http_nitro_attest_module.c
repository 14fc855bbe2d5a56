
/*
 * ngx_http_nitro_attest_module: attestation-bound mutual TLS for AWS Nitro
 * Enclaves, the http face.  Its configuration, the postconfiguration that
 * hooks every attesting server's SSL_CTX through the shared layer
 * (nginx/ngx_nitro_attest_*.c), and the request guard.  The directives,
 * variables, upstream headers, upstream verification, the JWKS location
 * and the status endpoint are in nginx/ngx_http_nitro_attest_*.c; every
 * verification step is the core's (src/nitro_attest.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static ngx_int_t ngx_http_nitro_attest_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_nitro_attest_init_process(ngx_cycle_t *cycle);
static void ngx_http_nitro_attest_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_nitro_attest_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_nitro_attest_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_nitro_attest_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static void *ngx_http_nitro_attest_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_nitro_attest_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);

static ngx_int_t ngx_http_nitro_attest_stateless(ngx_conf_t *cf,
    ngx_http_core_main_conf_t *cmcf);
static ngx_int_t ngx_http_nitro_attest_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_nitro_attest_retired(ngx_http_request_t *r,
    ngx_connection_t *c);
static ngx_int_t ngx_http_nitro_attest_close(ngx_http_request_t *r,
    ngx_connection_t *c);


static ngx_http_module_t  ngx_http_nitro_attest_module_ctx = {
    ngx_http_nitro_attest_add_variables,   /* preconfiguration */
    ngx_http_nitro_attest_init,            /* postconfiguration */

    ngx_http_nitro_attest_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_nitro_attest_create_srv_conf, /* create server configuration */
    ngx_http_nitro_attest_merge_srv_conf,  /* merge server configuration */

    ngx_http_nitro_attest_create_loc_conf, /* create location configuration */
    ngx_http_nitro_attest_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_nitro_attest_module = {
    NGX_MODULE_V1,
    &ngx_http_nitro_attest_module_ctx,     /* module context */
    ngx_http_nitro_attest_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_nitro_attest_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_nitro_attest_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_nitro_attest_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_nitro_attest_main_conf_t));
    if (namcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     namcf->status = 0;
     *     namcf->headers = 0;
     *     namcf->jwks_location = 0;
     *     namcf->jwks = { 0, NULL };
     *     namcf->upstreams = NULL;
     */

    if (ngx_nitro_attest_init_main(cf, &namcf->na, NGX_NITRO_ATTEST_HTTP)
        != NGX_OK)
    {
        return NULL;
    }

    return namcf;
}


static void *
ngx_http_nitro_attest_create_srv_conf(ngx_conf_t *cf)
{
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_pcalloc(cf->pool, sizeof(ngx_nitro_attest_srv_conf_t));
    if (nascf == NULL) {
        return NULL;
    }

    ngx_nitro_attest_init_srv(nascf);

    return nascf;
}


static char *
ngx_http_nitro_attest_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_nitro_attest_srv_conf_t *conf = child;

    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);
    conf->main = &namcf->na;

    return ngx_nitro_attest_merge_srv(cf, parent, child);
}


static void *
ngx_http_nitro_attest_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_nitro_attest_loc_conf_t  *nalcf;

    nalcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_nitro_attest_loc_conf_t));
    if (nalcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     nalcf->file = NULL;
     *     nalcf->line = 0;
     */

    nalcf->upstream_headers = NGX_CONF_UNSET;
    nalcf->pcrs = 0xffffffff;

    ngx_nitro_attest_init_srv(&nalcf->proxy);

    return nalcf;
}


static char *
ngx_http_nitro_attest_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_nitro_attest_headers_merge(cf, parent, child);

    return ngx_http_nitro_attest_proxy_merge(cf, parent, child);
}


/*
 * Every server's SSL_CTX goes to the shared postconfiguration; then what
 * only http has: the counters for the status endpoint, the JWK Set, the
 * session caches per listen socket, the phase handlers.
 */

static ngx_int_t
ngx_http_nitro_attest_init(ngx_conf_t *cf)
{
    ngx_uint_t                          s, i;
    ngx_http_handler_pt                *h;
    ngx_http_ssl_srv_conf_t            *sscf;
    ngx_http_core_srv_conf_t          **cscfp;
    ngx_http_core_main_conf_t          *cmcf;
    ngx_nitro_attest_main_t            *nam;
    ngx_nitro_attest_srv_conf_t        *nascf;
    ngx_http_nitro_attest_loc_conf_t   *nalcf;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    static ngx_uint_t  phases[] = {
        NGX_HTTP_POST_READ_PHASE,
        NGX_HTTP_SERVER_REWRITE_PHASE,  /* error_page redirects start here */
        NGX_HTTP_REWRITE_PHASE          /* named locations start here */
    };

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);
    nam = &namcf->na;
    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        nascf = cscfp[s]->ctx->srv_conf[ngx_http_nitro_attest_module.ctx_index];
        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];

        nascf->server_name = cscfp[s]->server_name;

        if (sscf->ssl.ctx == NULL) {
            if (nascf->enable != NGX_NITRO_ATTEST_OFF) {
                ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                              "\"nitro_attest\" in %s:%ui applies to a "
                              "server without ssl: no connection can be "
                              "attested for it", nascf->file, nascf->line);
            }

            continue;
        }

        if (ngx_nitro_attest_add_server(nascf, sscf->ssl.ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_nitro_attest_postconfiguration(cf, nam,
                                ngx_http_conf_get_module_srv_conf(cf,
                                                ngx_http_nitro_attest_module))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* what the http block itself sets, when no server attests */

    nalcf = ngx_http_conf_get_module_loc_conf(cf,
                                              ngx_http_nitro_attest_module);

    if (nalcf->file && !nam->attesting) {
        ngx_http_nitro_attest_headers_unused(cf, nalcf,
                                             "no server of the http block "
                                             "has \"nitro_attest on\" or "
                                             "\"optional\"");
    }

    /* the inventory is read with the counters: it needs their zone too */

    if ((namcf->status || nam->inventory)
        && ngx_nitro_attest_counters_zone(cf, nam) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (namcf->jwks_location
        && ngx_nitro_attest_jwks(cf, nam, &namcf->jwks) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (namcf->headers) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_nitro_attest_headers_handler;
    }

    if (nam->servers.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_http_nitro_attest_stateless(cf, cmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        h = ngx_array_push(&cmcf->phases[phases[i]].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_nitro_attest_handler;
    }

    return NGX_OK;
}


/* the main configuration of a cycle with an http block, or NULL */

static ngx_nitro_attest_main_t *
ngx_http_nitro_attest_cycle_main(ngx_cycle_t *cycle)
{
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_nitro_attest_module);

    return namcf != NULL ? &namcf->na : NULL;
}


static ngx_int_t
ngx_http_nitro_attest_init_process(ngx_cycle_t *cycle)
{
    return ngx_nitro_attest_event_log_init(cycle,
                                       ngx_http_nitro_attest_cycle_main(cycle));
}


static void
ngx_http_nitro_attest_exit_process(ngx_cycle_t *cycle)
{
    ngx_nitro_attest_event_log_exit(ngx_http_nitro_attest_cycle_main(cycle));
    ngx_nitro_attest_exit();
}


/*
 * Stateful resumption is off for every server of a listen socket where an
 * attesting server listens (see ngx_nitro_attest_no_session_cache()).
 * HTTP/3 requests are not attested (the guard refuses them on an "on"
 * server, the variables say NONE on an "optional" one): nginx -t warns
 * about every QUIC listen of an attesting server.
 */

static ngx_int_t
ngx_http_nitro_attest_stateless(ngx_conf_t *cf,
    ngx_http_core_main_conf_t *cmcf)
{
    ngx_uint_t                    p, a, k, attesting, changed;
    ngx_http_conf_port_t         *port;
    ngx_http_conf_addr_t         *addr;
    ngx_http_ssl_srv_conf_t      *sscf;
    ngx_http_core_srv_conf_t    **cscfp;
    ngx_nitro_attest_srv_conf_t  *nascf;

    if (cmcf->ports == NULL) {
        return NGX_OK;
    }

    port = cmcf->ports->elts;

    for (p = 0; p < cmcf->ports->nelts; p++) {
        addr = port[p].addrs.elts;

        for (a = 0; a < port[p].addrs.nelts; a++) {
            cscfp = addr[a].servers.elts;
            attesting = 0;
            changed = 0;

            for (k = 0; k < addr[a].servers.nelts; k++) {
                nascf = cscfp[k]->ctx->srv_conf[
                                        ngx_http_nitro_attest_module.ctx_index];
                attesting |= nascf->enable != NGX_NITRO_ATTEST_OFF;

#if (NGX_HTTP_V3)
                if (addr[a].opt.quic && nascf->enable != NGX_NITRO_ATTEST_OFF)
                {
                    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                                  "\"nitro_attest\" in %s:%ui applies to a "
                                  "server that listens on %V with quic: "
                                  "HTTP/3 requests are not attested (%s)",
                                  nascf->file, nascf->line,
                                  &addr[a].opt.addr_text,
                                  nascf->enable == NGX_NITRO_ATTEST_ON
                                  ? "they are refused with 421"
                                  : "their status is NONE");
                }
#endif
            }

            for (k = 0; attesting && k < addr[a].servers.nelts; k++) {
                sscf = cscfp[k]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];

                if (sscf->ssl.ctx) {
                    changed |= ngx_nitro_attest_no_session_cache(
                                                               sscf->ssl.ctx);
                }
            }

            if (changed) {
                ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                              "nitro_attest: no session cache for the "
                              "servers of port %d: sessions there resume by "
                              "ticket only", (int) port[p].port);
            }
        }
    }

    return NGX_OK;
}


/*
 * The request guard.  On an "on" server the connection must have been
 * attested by this server's own SSL_CTX (not the default server's for a
 * client without SNI, nor another server's), and not have expired.  On
 * any attesting server, a worker told to shut down serves no new request
 * on an attested connection: its policy may be the one a reload revoked.
 */

static ngx_int_t
ngx_http_nitro_attest_handler(ngx_http_request_t *r)
{
    ngx_connection_t             *c;
    nitro_attest_verdict_t       *v;
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_http_get_module_srv_conf(r, ngx_http_nitro_attest_module);

    if (nascf->enable == NGX_NITRO_ATTEST_OFF) {
        return NGX_DECLINED;
    }

    c = ngx_http_nitro_attest_tls_connection(r);

    if (nascf->enable == NGX_NITRO_ATTEST_OPTIONAL) {
        if (!ngx_nitro_attest_retiring()) {
            return NGX_DECLINED;
        }

        v = ngx_nitro_attest_verdict(nascf, c);

        if (v->status != NITRO_ATTEST_STATUS_SUCCESS) {
            return NGX_DECLINED;
        }

        return ngx_http_nitro_attest_retired(r, c);
    }

#if (NGX_HTTP_V3)
    if (r->http_version == NGX_HTTP_VERSION_30) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "nitro_attest does not attest HTTP/3 (QUIC) "
                      "requests, request refused");
        return NGX_HTTP_MISDIRECTED_REQUEST;
    }
#endif

    v = ngx_nitro_attest_verdict(nascf, c);

    if (v->status == NITRO_ATTEST_STATUS_SUCCESS) {
        if (ngx_nitro_attest_retiring()) {
            return ngx_http_nitro_attest_retired(r, c);
        }

        return NGX_DECLINED;
    }

    if (v->reason != NITRO_ATTEST_EXPIRED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client connection is not attested for this server "
                      "(no SNI, or another server's), request refused");
        return NGX_HTTP_MISDIRECTED_REQUEST;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "client attestation expired, request refused and "
                  "connection closed");

    return ngx_http_nitro_attest_close(r, c);
}


static ngx_int_t
ngx_http_nitro_attest_retired(ngx_http_request_t *r, ngx_connection_t *c)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "worker shutting down: request on an attested "
                  "connection refused and connection closed, the client "
                  "attests again with a new worker");

    return ngx_http_nitro_attest_close(r, c);
}


/* 421, and the connection ends, so that the client attests anew */

static ngx_int_t
ngx_http_nitro_attest_close(ngx_http_request_t *r, ngx_connection_t *c)
{
    r->keepalive = 0;

#if (NGX_HTTP_V2)
    if (r->stream) {
        /* ends the HTTP/2 connection with GOAWAY once its streams are done */
        c->close = 1;
        ngx_post_event(c->read, &ngx_posted_events);
    }
#endif

    return NGX_HTTP_MISDIRECTED_REQUEST;
}
