
/*
 * ngx_nitro_attest_proxy.c: the enclave behind nginx, for both protocols.
 * The "nitro_attest_proxy_*" settings of a context that proxies over TLS,
 * the hook on the upstream SSL_CTX that verifies the document in the
 * upstream's server certificate during the handshake and refuses an
 * upstream that does not attest, the verdict each upstream connection
 * keeps, by which a reused (keepalive) connection is judged, and the
 * accounting of each full verification (counters, event log).  The faces
 * say, through ngx_nitro_attest_peer_pt, which context an upstream
 * connection serves.  Speaks ngx_connection_t and SSL only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


/*
 * What an upstream connection keeps: the digest of the settings that
 * verified it, until when its verdict serves, whether its handshake is
 * still to complete (the upstream has yet to prove its key) and, while it
 * is, the peer's own free function (ngx_nitro_attest_proxy_free()), then
 * the verdict prefix.
 */
typedef struct {
    u_char                          digest[SHA256_DIGEST_LENGTH];
    int64_t                         expires;
    ngx_uint_t                      pending;
    ngx_event_free_peer_pt          free;
    nitro_attest_verdict_t          verdict;
} ngx_nitro_attest_upstream_t;


/* an upstream SSL_CTX hooked: whom to ask, what ran before the hook */
typedef struct {
    ngx_nitro_attest_peer_pt        peer;
    void                          (*next_info)(const SSL *ssl, int where,
                                               int ret);
} ngx_nitro_attest_proxy_ctx_t;


static int ngx_nitro_attest_proxy_verify(X509_STORE_CTX *store, void *arg);
static ngx_nitro_attest_upstream_t *ngx_nitro_attest_proxy_keep(
    ngx_connection_t *c, ngx_nitro_attest_srv_conf_t *pcf, X509 *cert,
    nitro_attest_verdict_t *v);
static void ngx_nitro_attest_proxy_last(ngx_nitro_attest_peer_t *peer,
    nitro_attest_verdict_t *v);
static void ngx_nitro_attest_proxy_account(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer, nitro_attest_verdict_t *v, X509 *cert);
static void ngx_nitro_attest_proxy_refused(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer, nitro_attest_verdict_t *v);
static void ngx_nitro_attest_proxy_info(const ngx_ssl_conn_t *ssl_conn,
    int where, int ret);
static void ngx_nitro_attest_proxy_free(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (nginx_version >= 1023004)
static void ngx_nitro_attest_proxy_refused_error(nitro_attest_verdict_t *v);
#endif


static ngx_conf_enum_t  ngx_nitro_attest_proxy_modes[] = {
    { ngx_string("off"), NGX_NITRO_ATTEST_OFF },
    { ngx_string("on"), NGX_NITRO_ATTEST_ON },
    { ngx_null_string, 0 }
};


/*
 * Each "nitro_attest_proxy_*" directive is the client side's directive of
 * the same suffix, read into the proxy settings of the context
 * (ngx_nitro_attest_proxy_directive()): its handler (NULL: a file of
 * ngx_nitro_attest_file()), field and post.
 */
typedef struct {
    ngx_str_t                       suffix;
    char                         *(*set)(ngx_conf_t *cf, ngx_command_t *cmd,
                                         void *conf);
    ngx_uint_t                      offset;
    void                           *post;
} ngx_nitro_attest_proxy_cmd_t;


static ngx_nitro_attest_proxy_cmd_t  ngx_nitro_attest_proxy_cmds[] = {

    { ngx_string("verify"), ngx_nitro_attest_set_mode,
      offsetof(ngx_nitro_attest_srv_conf_t, enable),
      &ngx_nitro_attest_proxy_modes },

    { ngx_string("policy"), NULL,
      offsetof(ngx_nitro_attest_srv_conf_t, policy),
      &ngx_nitro_attest_policy_file },

    { ngx_string("trusted_root"), NULL,
      offsetof(ngx_nitro_attest_srv_conf_t, root),
      &ngx_nitro_attest_root_file },

    { ngx_string("max_age"), ngx_nitro_attest_msec,
      offsetof(ngx_nitro_attest_srv_conf_t, max_age), NULL },

    { ngx_string("clock_skew"), ngx_nitro_attest_msec,
      offsetof(ngx_nitro_attest_srv_conf_t, clock_skew), NULL },

    { ngx_string("binding"), ngx_nitro_attest_binding, 0, NULL },

    { ngx_string("extension"), ngx_nitro_attest_extension, 0, NULL },

    { ngx_null_string, NULL, 0, NULL }
};


/* the upstream side's variables: the client side's of the same suffix */
ngx_str_t  ngx_nitro_attest_proxy_vars[] = {
    ngx_string("nitro_attest_proxy_status"),
    ngx_string("nitro_attest_proxy_reason"),
    ngx_string("nitro_attest_proxy_module_id"),
    ngx_string("nitro_attest_proxy_policy"),
    ngx_string("nitro_attest_proxy_kind"),
    ngx_string("nitro_attest_proxy_pcr"),  /* $..._pcr0 .. _pcr31 */
    ngx_null_string
};


/* the SSL_CTX and SSL indexes of the upstream side, once per process */
static int  ngx_nitro_attest_proxy_ctx_index = -1;
static int  ngx_nitro_attest_proxy_conn_index = -1;

/* scratch for one verification at a time */
static nitro_attest_verdict_t  ngx_nitro_attest_proxy_scratch;


/*
 * A "nitro_attest_proxy_*" directive of a face, read as the client
 * side's directive of the same suffix into pcf, the context's proxy
 * settings (nam: the block whose files it loads).
 */

char *
ngx_nitro_attest_proxy_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_nitro_attest_srv_conf_t *pcf, ngx_nitro_attest_main_t *nam)
{
    size_t                         len;
    ngx_command_t                  client;
    ngx_nitro_attest_proxy_cmd_t  *p;

    len = sizeof("nitro_attest_proxy_") - 1;

    for (p = ngx_nitro_attest_proxy_cmds; p->suffix.len; p++) {

        if (p->suffix.len != cmd->name.len - len
            || ngx_strncmp(p->suffix.data, cmd->name.data + len,
                           p->suffix.len)
               != 0)
        {
            continue;
        }

        client = *cmd;
        client.offset = p->offset;
        client.post = p->post;

        if (p->set == NULL) {
            return ngx_nitro_attest_file(cf, &client, pcf, nam);
        }

        return p->set(cf, &client, pcf);
    }

    return "is unknown";
}


/*
 * The merge of a context's proxy settings.  With verification on, the
 * core's configuration is made here, and its digest names the settings
 * that verified an upstream connection.
 */

char *
ngx_nitro_attest_proxy_merge(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *prev,
    ngx_nitro_attest_srv_conf_t *conf, ngx_nitro_attest_main_t *nam)
{
    conf->main = nam;
    conf->cache = NULL;
    conf->event_log = NULL;

    ngx_conf_merge_uint_value(conf->enable, prev->enable,
                              NGX_NITRO_ATTEST_OFF);

    if (conf->file == NULL) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_nitro_attest_merge_settings(prev, conf);

    if (conf->enable == NGX_NITRO_ATTEST_OFF) {
        return NGX_CONF_OK;
    }

    nam->proxy = 1;

    if (conf->policy == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"nitro_attest_proxy_verify on\" in %s:%ui requires "
                      "\"nitro_attest_proxy_policy\" in the same context or "
                      "one that encloses it", conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (ngx_nitro_attest_core_conf(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * An upstream SSL_CTX of a context that verifies gets the hook, once: its
 * certificate check runs the attestation, and peer tells which context
 * each of its connections serves (a context may share its SSL_CTX with
 * others that do not verify).  Peer verification is asked of OpenSSL so
 * that a refusal fails the handshake; the hook keeps what nginx's own
 * check ("proxy_ssl_verify") sees, and judges it after the handshake.
 */

ngx_int_t
ngx_nitro_attest_proxy_attach(ngx_conf_t *cf, SSL_CTX *ctx,
    ngx_nitro_attest_peer_pt peer)
{
    ngx_nitro_attest_proxy_ctx_t  *pctx;

    if (ngx_nitro_attest_ssl_ctx_index(cf, &ngx_nitro_attest_proxy_ctx_index)
           != NGX_OK
        || ngx_nitro_attest_ssl_index(cf, &ngx_nitro_attest_proxy_conn_index)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (SSL_CTX_get_ex_data(ctx, ngx_nitro_attest_proxy_ctx_index) != NULL) {
        return NGX_OK;
    }

    pctx = ngx_palloc(cf->pool, sizeof(ngx_nitro_attest_proxy_ctx_t));
    if (pctx == NULL) {
        return NGX_ERROR;
    }

    pctx->peer = peer;
    pctx->next_info = SSL_CTX_get_info_callback(ctx);

    if (SSL_CTX_set_ex_data(ctx, ngx_nitro_attest_proxy_ctx_index, pctx)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_ex_data() failed");
        return NGX_ERROR;
    }

    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx) | SSL_VERIFY_PEER,
                       SSL_CTX_get_verify_callback(ctx));
    SSL_CTX_set_cert_verify_callback(ctx, ngx_nitro_attest_proxy_verify,
                                     NULL);
    SSL_CTX_set_info_callback(ctx, ngx_nitro_attest_proxy_info);

    return NGX_OK;
}


/*
 * The certificate hook of an upstream SSL_CTX: OpenSSL calls it instead of
 * X509_verify_cert() with the upstream's chain.  nginx's own check still
 * runs, and nginx judges its result after the handshake as before; the
 * attestation, when the context verifies, is judged here.
 */

static int
ngx_nitro_attest_proxy_verify(X509_STORE_CTX *store, void *arg)
{
    X509                          *cert;
    u_char                         key[SHA256_DIGEST_LENGTH];
    int64_t                        now;
    ngx_uint_t                     keyed;
    ngx_ssl_conn_t                *ssl_conn;
    ngx_connection_t              *c;
    nitro_attest_verdict_t        *v;
    nitro_attest_reason_e          reason;
    ngx_nitro_attest_peer_t        peer;
    ngx_nitro_attest_srv_conf_t   *pcf;
    ngx_nitro_attest_upstream_t   *up;
    ngx_nitro_attest_proxy_ctx_t  *pctx;

    ssl_conn = X509_STORE_CTX_get_ex_data(store,
                                          SSL_get_ex_data_X509_STORE_CTX_idx());
    c = ngx_ssl_get_connection(ssl_conn);
    pctx = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                               ngx_nitro_attest_proxy_ctx_index);
    cert = X509_STORE_CTX_get0_cert(store);

    ngx_memzero(&peer, sizeof(ngx_nitro_attest_peer_t));

    /* without its context, the connection fails rather than go unverified */

    if (pctx->peer(c, &peer) != NGX_OK) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }

    pcf = peer.conf;

    /*
     * A certificate that nothing verifies: the verdict of an earlier
     * handshake of this connection, which a renegotiation replaced, no
     * longer describes the upstream, and goes.
     */

    if (pcf == NULL || pcf->enable == NGX_NITRO_ATTEST_OFF) {
        (void) SSL_set_ex_data(ssl_conn, ngx_nitro_attest_proxy_conn_index,
                               NULL);
        (void) X509_verify_cert(store);
        ERR_clear_error();
        return 1;
    }

    /* the attestation extension may be critical: that alone fails nothing */

    if (nitro_attest_only_critical(pcf->extension, cert,
                                   X509_STORE_CTX_get0_untrusted(store)))
    {
        X509_STORE_CTX_set_flags(store, X509_V_FLAG_IGNORE_CRITICAL);
    }

    if (X509_verify_cert(store) < 0) {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "X509_verify_cert() failed");
    }

    ERR_clear_error();

    v = &ngx_nitro_attest_proxy_scratch;
    now = ngx_nitro_attest_now();

    reason = ngx_nitro_attest_verify_cert(c, pcf, cert, now, v, key, &keyed);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "nitro_attest: upstream verdict \"%s\", %uD us",
                   nitro_attest_reason_name(reason), v->verify_us);

    up = ngx_nitro_attest_proxy_keep(c, pcf, cert, v);

    if (up == NULL) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }

    if (reason == NITRO_ATTEST_OK) {
        /*
         * Accounted once the upstream proved its key, when the handshake
         * ends (ngx_nitro_attest_proxy_info()), or, if the connection ends
         * before, as "key_not_proven" (ngx_nitro_attest_proxy_free()).
         */
        up->pending = 1;

        if (peer.pc->free != ngx_nitro_attest_proxy_free) {
            up->free = peer.pc->free;
            peer.pc->free = ngx_nitro_attest_proxy_free;
        }

        return 1;
    }

    ngx_nitro_attest_proxy_refused(c, &peer, &up->verdict);
    ngx_nitro_attest_proxy_account(c, &peer, &up->verdict, cert);
    ngx_nitro_attest_proxy_last(&peer, &up->verdict);

    /*
     * nginx logs a failed handshake with an upstream at the level of the
     * connection's log_error ("error") when the error is a peer's, and at
     * "crit" otherwise.  The line above says why: the failed handshake
     * that follows is logged at "info", as a peer's error ("callback
     * failed"; nginx < 1.23.4 judges the first error queued, later nginx
     * the last one, see the info callback), and the connection, refused,
     * is closed next.
     */

    c->log_error = NGX_ERROR_INFO;

#if (nginx_version < 1023004)
    ngx_nitro_attest_client_error(nitro_attest_reason_name(reason));
#endif

    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);

    return 0;
}


/*
 * The verdict, kept with the connection for as long as it lives: a
 * keepalive connection is reused only under the same settings and until
 * the earliest of the document's max age, the notAfter of the document's
 * chain and that of the upstream's certificate.
 */

static ngx_nitro_attest_upstream_t *
ngx_nitro_attest_proxy_keep(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *pcf, X509 *cert, nitro_attest_verdict_t *v)
{
    int                           days, secs;
    int64_t                       expires, not_after;
    ngx_nitro_attest_upstream_t  *up, *prev;

    prev = SSL_get_ex_data(c->ssl->connection,
                           ngx_nitro_attest_proxy_conn_index);

    up = ngx_palloc(c->pool, offsetof(ngx_nitro_attest_upstream_t, verdict)
                             + nitro_attest_verdict_size(v));
    if (up == NULL) {
        return NULL;
    }

    ngx_memcpy(up->digest, pcf->digest, SHA256_DIGEST_LENGTH);
    ngx_memcpy(&up->verdict, v, nitro_attest_verdict_size(v));
    up->pending = 0;

    /* the peer's own free function, if a verdict before set it aside */
    up->free = prev ? prev->free : NULL;

    expires = ngx_min(v->not_after_ms,
                      v->timestamp_ms + (int64_t) pcf->max_age);

    if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1) {
        not_after = v->time_ms + ((int64_t) days * 86400 + secs) * 1000;
        expires = ngx_min(expires, not_after);

    } else {
        expires = 0;
    }

    up->expires = expires;

    if (SSL_set_ex_data(c->ssl->connection, ngx_nitro_attest_proxy_conn_index,
                        up)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "SSL_set_ex_data() failed");
        return NULL;
    }

    return up;
}


/* the request's or session's last upstream: what its variables report */

static void
ngx_nitro_attest_proxy_last(ngx_nitro_attest_peer_t *peer,
    nitro_attest_verdict_t *v)
{
    nitro_attest_verdict_t  *copy;

    if (peer->last == NULL) {
        return;
    }

    copy = ngx_palloc(peer->pool, nitro_attest_verdict_size(v));

    if (copy != NULL) {
        ngx_memcpy(copy, v, nitro_attest_verdict_size(v));
    }

    *peer->last = copy;
}


/*
 * One full verification of an upstream accounted: the counters and the
 * event log of the server whose client's request or session opened the
 * connection.
 */

static void
ngx_nitro_attest_proxy_account(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer, nitro_attest_verdict_t *v, X509 *cert)
{
    u_char                 addr[NGX_SOCKADDR_STRLEN];
    nitro_attest_where_t   where;

    ngx_nitro_attest_count_proxy(peer->conf->main, v);

    if (peer->server == NULL || peer->server->event_log == NULL) {
        return;
    }

    ngx_nitro_attest_client_where(&where, peer->client_addr, peer->server);

    where.direction = "upstream";
    where.upstream_addr.data = (const char *) addr;
    where.upstream_addr.len = ngx_sock_ntop(peer->sockaddr, peer->socklen,
                                            addr, NGX_SOCKADDR_STRLEN, 1);

    ngx_nitro_attest_event_where(c->log, peer->server, v, &where, cert);
}


/*
 * A refused upstream is one line at "error", as nginx logs a failed
 * "proxy_ssl_verify", whatever the reason's severity: the reason, the
 * upstream's address and, when measured, what it attested.
 */

static void
ngx_nitro_attest_proxy_refused(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer, nitro_attest_verdict_t *v)
{
    u_char  *p, *last;
    u_char   addr[NGX_SOCKADDR_STRLEN];
    u_char   module_id[NITRO_ATTEST_MODULE_ID_MAX * 4 + 1];
    u_char   policy[NITRO_ATTEST_POLICY_NAME_MAX * 4 + 1];
    size_t   len;

    if (c->log->log_level < NGX_LOG_ERR) {
        return;
    }

    len = ngx_sock_ntop(peer->sockaddr, peer->socklen, addr,
                        NGX_SOCKADDR_STRLEN, 1);

    last = module_id + sizeof(module_id) - 1;
    p = (v->flags & NITRO_ATTEST_F_MEASURED)
        ? ngx_nitro_attest_log_text(module_id, last,
                                    nitro_attest_span_ptr(v, v->module_id),
                                    v->module_id.len)
        : module_id;
    *p = '\0';

    last = policy + sizeof(policy) - 1;
    p = ngx_nitro_attest_log_text(policy, last,
                                  nitro_attest_span_ptr(v, v->policy),
                                  v->policy.len);
    *p = '\0';

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "upstream attestation failed: %s, upstream: \"%*s\", "
                  "module id: \"%s\", policy: \"%s\"",
                  nitro_attest_reason_name(v->reason), len, addr,
                  module_id, policy);
}


/*
 * The handshake with a verified upstream completed: it proved its key,
 * the verification is accounted and the request or session reports it.
 * A refused one queues "callback failed" after OpenSSL's "certificate
 * verify failed", so that nginx >= 1.23.4, which judges the last error,
 * logs the failed handshake as a peer's error: the module's own line
 * says why.
 */

static void
ngx_nitro_attest_proxy_info(const ngx_ssl_conn_t *ssl_conn, int where,
    int ret)
{
    ngx_connection_t              *c;
    ngx_nitro_attest_peer_t        peer;
    ngx_nitro_attest_upstream_t   *up;
    ngx_nitro_attest_proxy_ctx_t  *pctx;

    pctx = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                               ngx_nitro_attest_proxy_ctx_index);
    up = SSL_get_ex_data(ssl_conn, ngx_nitro_attest_proxy_conn_index);

    if (up != NULL && (where & SSL_CB_HANDSHAKE_DONE) && up->pending) {
        up->pending = 0;
        up->verdict.flags |= NITRO_ATTEST_F_KEY_PROVEN;

        c = ngx_ssl_get_connection(ssl_conn);
        ngx_memzero(&peer, sizeof(ngx_nitro_attest_peer_t));

        if (pctx->peer(c, &peer) == NGX_OK && peer.conf != NULL) {

            /* nothing is left to watch: the peer's free is its own again */

            if (peer.pc->free == ngx_nitro_attest_proxy_free) {
                peer.pc->free = up->free;
            }

            ngx_nitro_attest_proxy_account(c, &peer, &up->verdict,
                                           SSL_get0_peer_certificate(ssl_conn));
            ngx_nitro_attest_proxy_last(&peer, &up->verdict);
        }
    }

#if (nginx_version >= 1023004)
    if (up != NULL
        && up->verdict.status == NITRO_ATTEST_STATUS_FAILED
        && (where & SSL_CB_ALERT) && (where & SSL_CB_WRITE)
        && (ret >> 8) == SSL3_AL_FATAL)
    {
        ngx_nitro_attest_proxy_refused_error(&up->verdict);
    }
#endif

    if (pctx->next_info != NULL) {
        pctx->next_info(ssl_conn, where, ret);
    }
}


/*
 * The peer's free function while a verified upstream has yet to prove its
 * key.  Whatever ends such a connection before its handshake completes (a
 * failed or closed handshake, a bad signature, a timeout, the request or
 * session finalized because its client went away), nginx frees the peer
 * first, while the connection, its SSL object and the request or session
 * that opened it all live, and closes the connection after: the upstream
 * never proved that it holds the certificate's key (a relay replaying a
 * genuine enclave's certificate), and the verification is accounted here,
 * once, as "key_not_proven".
 *
 * The free function is set on the request's or session's peer by the
 * verification itself, only while its verdict waits (so the connection and
 * its SSL object are there when it runs), and given back once the
 * handshake completes or here: that covers both protocols and every way
 * of passing (an upstream{} block or a variable), where a free function
 * set per upstream{} block misses the others.  An OpenSSL ex_data free
 * callback would see every SSL_free() too, but it stays registered with
 * OpenSSL after this module is unloaded by a reload, and would have to
 * tell the connections whose request is gone from the others.
 */

static void
ngx_nitro_attest_proxy_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_ssl_conn_t                *ssl_conn;
    ngx_connection_t              *c;
    ngx_nitro_attest_peer_t        peer;
    ngx_nitro_attest_upstream_t   *up;
    ngx_nitro_attest_proxy_ctx_t  *pctx;

    c = pc->connection;
    ssl_conn = c->ssl->connection;
    up = SSL_get_ex_data(ssl_conn, ngx_nitro_attest_proxy_conn_index);

    pc->free = up->free;

    if (up->pending) {
        up->pending = 0;
        up->verdict.status = NITRO_ATTEST_STATUS_FAILED;
        up->verdict.reason = NITRO_ATTEST_KEY_NOT_PROVEN;

        pctx = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                   ngx_nitro_attest_proxy_ctx_index);
        ngx_memzero(&peer, sizeof(ngx_nitro_attest_peer_t));

        if (pctx->peer(c, &peer) == NGX_OK && peer.conf != NULL) {
            ngx_nitro_attest_proxy_refused(c, &peer, &up->verdict);
            ngx_nitro_attest_proxy_account(c, &peer, &up->verdict,
                                           SSL_get0_peer_certificate(ssl_conn));
            ngx_nitro_attest_proxy_last(&peer, &up->verdict);
        }
    }

    if (pc->free) {
        pc->free(pc, data, state);
    }
}


#if (nginx_version >= 1023004)

/* the fatal alert of a refused upstream: "callback failed" queued last */

static void
ngx_nitro_attest_proxy_refused_error(nitro_attest_verdict_t *v)
{
    unsigned long  err;

    err = ERR_peek_last_error();

    if (ERR_GET_LIB(err) == ERR_LIB_SSL
        && ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED)
    {
        ngx_nitro_attest_client_error(nitro_attest_reason_name(v->reason));
    }
}

#endif


/*
 * A keepalive connection about to serve a request of the context peer
 * describes: NGX_OK when it may (its verdict, if the context verifies,
 * is then the request's), NGX_DECLINED when it must not, as its verdict
 * was made under other settings, failed, or expired: the caller closes it
 * (ngx_nitro_attest_proxy_close()) and connects anew, so the upstream is
 * verified in full.
 */

ngx_int_t
ngx_nitro_attest_proxy_reuse(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer)
{
    ngx_nitro_attest_upstream_t  *up;

    if (peer->conf == NULL || peer->conf->enable == NGX_NITRO_ATTEST_OFF
        || c->ssl == NULL)
    {
        if (peer->last) {
            *peer->last = NULL;
        }

        return NGX_OK;
    }

    up = ngx_nitro_attest_proxy_conn_index == -1
         ? NULL
         : SSL_get_ex_data(c->ssl->connection,
                           ngx_nitro_attest_proxy_conn_index);

    if (up == NULL || up->pending
        || up->verdict.status != NITRO_ATTEST_STATUS_SUCCESS
        || ngx_memcmp(up->digest, peer->conf->digest, SHA256_DIGEST_LENGTH)
           != 0
        || ngx_nitro_attest_now() >= up->expires)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "nitro_attest: keepalive upstream connection not "
                       "verified under these settings or expired, closed");
        return NGX_DECLINED;
    }

    ngx_nitro_attest_proxy_last(peer, &up->verdict);

    return NGX_OK;
}


/* a keepalive upstream connection that must not serve: closed at once */

void
ngx_nitro_attest_proxy_close(ngx_connection_t *c)
{
    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }

    if (c->pool) {
        ngx_destroy_pool(c->pool);
    }

    ngx_close_connection(c);
}


/* what a request or session reports when no upstream was verified */

nitro_attest_verdict_t *
ngx_nitro_attest_proxy_verdict(nitro_attest_verdict_t *last)
{
    static nitro_attest_verdict_t  none;

    if (last != NULL) {
        return last;
    }

    nitro_attest_verdict_none(&none, ngx_nitro_attest_now());

    return &none;
}


/* the client side's variable whose getter an upstream side's one uses */

ngx_nitro_attest_var_t *
ngx_nitro_attest_proxy_var(ngx_str_t *name)
{
    size_t                   prefix, len;
    ngx_nitro_attest_var_t  *v;

    prefix = sizeof("nitro_attest_") - 1;
    len = sizeof("proxy_") - 1;

    for (v = ngx_nitro_attest_vars; v->name.len; v++) {
        if (v->name.len == name->len - len
            && ngx_strncmp(v->name.data + prefix, name->data + prefix + len,
                           v->name.len - prefix)
               == 0)
        {
            return v;
        }
    }

    return NULL;
}


/*
 * $nitro_attest_proxy_pcrN by its full name: the index follows
 * "nitro_attest_proxy_pcr", where the client side's getter reads it after
 * "nitro_attest_pcr", six bytes sooner.
 */

ngx_int_t
ngx_nitro_attest_proxy_prefix_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v,
    ngx_str_t *name)
{
    ngx_str_t  shifted;

    shifted.data = name->data + sizeof("proxy_") - 1;
    shifted.len = name->len - (sizeof("proxy_") - 1);

    return ngx_nitro_attest_prefix_variable(pool, verdict, v, &shifted);
}
