
/*
 * ngx_nitro_attest_handshake.c: the attestation inside the TLS handshake,
 * for both protocols.  A server's SSL_CTX gets the certificate hook, which
 * verifies the client's document during the handshake; the verdict then
 * waits for the client's proof of its key and is accounted (counters,
 * inventory, event log) when the handshake completes, or as
 * "key_not_proven" when the connection closes before; the info callback
 * sees a client without a certificate; a refused client gets one log
 * line.  Speaks ngx_connection_t and SSL only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


/*
 * A verdict waiting for the client to prove it holds the certificate's
 * key (its CertificateVerify): accounted when the handshake completes, or,
 * when the connection closes before, as "key_not_proven".  It lives in
 * the connection's pool, whose cleanup is the "closed before" case.
 */
typedef struct {
    ngx_log_t                      *log;
    ngx_str_t                       addr;      /* the client's, c's pool */
    ngx_nitro_attest_srv_conf_t    *nascf;
    ngx_nitro_attest_conn_t        *nac;
    ngx_uint_t                      keyed;     /* key is set */
    ngx_uint_t                      done;
    X509                           *cert;      /* for the evidence, or NULL */
    u_char                          key[SHA256_DIGEST_LENGTH];
} ngx_nitro_attest_pending_t;


static int ngx_nitro_attest_verify(X509_STORE_CTX *store, void *arg);
static void ngx_nitro_attest_refuse(X509_STORE_CTX *store, const char *why);
static void ngx_nitro_attest_pend(ngx_connection_t *c,
    ngx_ssl_conn_t *ssl_conn, ngx_nitro_attest_srv_conf_t *nascf,
    ngx_nitro_attest_conn_t *nac, X509 *cert, u_char *key,
    ngx_uint_t keyed);
static void ngx_nitro_attest_proven(ngx_connection_t *c,
    ngx_nitro_attest_pending_t *pending);
static void ngx_nitro_attest_unproven(void *data);
static void ngx_nitro_attest_account(ngx_log_t *log, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    X509 *cert);
static void ngx_nitro_attest_log_refusal(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    const char *outcome);
static void ngx_nitro_attest_info(const ngx_ssl_conn_t *ssl_conn, int where,
    int ret);
static void ngx_nitro_attest_no_certificate(ngx_ssl_conn_t *ssl_conn);


/* the verdict that waits for the client's CertificateVerify */
static int  ngx_nitro_attest_pending_index = -1;

/* scratch for one verification at a time (a worker runs one handshake) */
static nitro_attest_verdict_t  ngx_nitro_attest_scratch;


/* the SSL index of a waiting verdict, once per process */

ngx_int_t
ngx_nitro_attest_handshake_init(ngx_conf_t *cf)
{
    return ngx_nitro_attest_ssl_index(cf, &ngx_nitro_attest_pending_index);
}


/*
 * A server's SSL_CTX learns which server it is (tickets carry its tag)
 * and, when the server attests, gets the certificate hook: the client's
 * certificate is requested (required by "on"), and the info callback sees
 * what the hook cannot, a client without a certificate and the end of a
 * handshake whose verdict waits for the client's proof of its key.
 */

ngx_int_t
ngx_nitro_attest_attach(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *nascf)
{
    int                            mode;
    SSL_CTX                       *ctx;
    ngx_nitro_attest_srv_conf_t  **server;

    ctx = nascf->ssl;

    if (SSL_CTX_set_ex_data(ctx, ngx_nitro_attest_ctx_index, nascf) == 0) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_ex_data() failed");
        return NGX_ERROR;
    }

    if (nascf->enable == NGX_NITRO_ATTEST_OFF) {
        return NGX_OK;
    }

    server = ngx_array_push(&nascf->main->servers);
    if (server == NULL) {
        return NGX_ERROR;
    }

    *server = nascf;

    /* keep nginx's verify callback: it is what $ssl_client_verify uses */

    mode = SSL_CTX_get_verify_mode(ctx) | SSL_VERIFY_PEER;

    if (nascf->enable == NGX_NITRO_ATTEST_ON) {
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }

    SSL_CTX_set_verify(ctx, mode, SSL_CTX_get_verify_callback(ctx));

    if (SSL_CTX_get_info_callback(ctx) != ngx_nitro_attest_info) {
        nascf->next_info = SSL_CTX_get_info_callback(ctx);
        SSL_CTX_set_info_callback(ctx, ngx_nitro_attest_info);
    }

    SSL_CTX_set_cert_verify_callback(ctx, ngx_nitro_attest_verify, NULL);

    return NGX_OK;
}


/*
 * The certificate hook.  OpenSSL calls it instead of X509_verify_cert(),
 * once per non-empty client chain, from the SNI-selected context.
 */

static int
ngx_nitro_attest_verify(X509_STORE_CTX *store, void *arg)
{
    X509                         *cert;
    u_char                        key[SHA256_DIGEST_LENGTH];
    int64_t                       now;
    ngx_uint_t                    ignore, keyed;
    ngx_ssl_conn_t               *ssl_conn;
    ngx_connection_t             *c;
    nitro_attest_verdict_t       *v;
    nitro_attest_reason_e         reason;
    ngx_nitro_attest_conn_t      *nac;
    ngx_nitro_attest_srv_conf_t  *nascf;

    ssl_conn = X509_STORE_CTX_get_ex_data(store,
                                          SSL_get_ex_data_X509_STORE_CTX_idx());
    c = ngx_ssl_get_connection(ssl_conn);
    nascf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                ngx_nitro_attest_ctx_index);

    if (nascf == NULL || nascf->enable == NGX_NITRO_ATTEST_OFF) {
        return X509_verify_cert(store);
    }

    /*
     * A worker told to shut down (a reload, or a stop) holds the policy
     * of before: it attests nobody for an "on" server, so a client that
     * connected before the reload and completes its handshake after it
     * is judged by a new worker, under the new policy, when it comes
     * back.  An "optional" server's handshake goes on; its guard serves
     * no request on an attested connection.
     */

    if (nascf->enable == NGX_NITRO_ATTEST_ON && ngx_nitro_attest_retiring())
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: worker shutting down, handshake "
                      "refused: the client attests again with a new worker");
        ngx_nitro_attest_refuse(store, "worker shutting down");
        return 0;
    }

    /*
     * The CA check still runs, so that $ssl_client_verify and
     * "ssl_verify_client on" keep their meaning; nginx judges its result
     * after the handshake.  The attestation extension may be critical:
     * that alone must not fail it.
     */

    ignore = nitro_attest_only_critical(nascf->extension,
                                        X509_STORE_CTX_get0_cert(store),
                                        X509_STORE_CTX_get0_untrusted(store));

    if (ignore) {
        X509_STORE_CTX_set_flags(store, X509_V_FLAG_IGNORE_CRITICAL);
    }

    if (X509_verify_cert(store) < 0) {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "X509_verify_cert() failed");
    }

    ERR_clear_error();

    cert = X509_STORE_CTX_get0_cert(store);
    v = &ngx_nitro_attest_scratch;
    now = ngx_nitro_attest_now();

    reason = ngx_nitro_attest_verify_cert(c, nascf, cert, now, v, key,
                                          &keyed);

    /* after the cache: a cached verdict is judged against the table too */
    if (ngx_nitro_attest_rollback_deny(nascf, v, 1) == NGX_DECLINED) {
        reason = NITRO_ATTEST_ROLLBACK;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "nitro_attest: verdict %s \"%s\", %uD bytes, %uD us",
                   nitro_attest_status_name(v->status),
                   nitro_attest_reason_name(reason),
                   (uint32_t) nitro_attest_verdict_size(v), v->verify_us);

    nac = ngx_palloc(c->pool, ngx_nitro_attest_conn_size(v));

    if (nac == NULL) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }

    ngx_memcpy(nac->tag, nascf->tag, NGX_NITRO_ATTEST_TAG_LEN);
    ngx_memcpy(&nac->verdict, v, nitro_attest_verdict_size(v));

    if (SSL_set_ex_data(ssl_conn, ngx_nitro_attest_conn_index, nac)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "SSL_set_ex_data() failed");
        X509_STORE_CTX_set_error(store, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }

    ngx_nitro_attest_save_session(c, ssl_conn, nascf, nac, now);

    /*
     * The client has not yet proved that it holds the certificate's key
     * (CertificateVerify comes next): a handshake that goes on is
     * counted, logged and cached when it completes; one refused here, now.
     */

    if (reason == NITRO_ATTEST_OK
        || nascf->enable == NGX_NITRO_ATTEST_OPTIONAL)
    {
        ngx_nitro_attest_pend(c, ssl_conn, nascf, nac, cert, key, keyed);

    } else {
        ngx_nitro_attest_account(c->log, &c->addr_text, nascf,
                                 &nac->verdict, cert);
    }

    if (reason == NITRO_ATTEST_OK) {
        return 1;
    }

    if (nascf->enable == NGX_NITRO_ATTEST_OPTIONAL) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client attestation failed: %s "
                      "(nitro_attest optional)",
                      nitro_attest_reason_name(reason));
        return 1;
    }

    ngx_nitro_attest_log_refusal(c->log, nascf, &nac->verdict,
                                 "handshake refused");

    ngx_nitro_attest_refuse(store, nitro_attest_reason_name(reason));

    return 0;
}


/*
 * The certificate hook refuses the handshake.  The first error queued
 * decides how nginx < 1.23.4 logs the failed handshake: "callback failed"
 * is logged at the "info" level, like other client errors, where
 * "certificate verify failed" would be "crit".  Later nginx judges the
 * last one: see refused_error().
 */

static void
ngx_nitro_attest_refuse(X509_STORE_CTX *store, const char *why)
{
#if (nginx_version < 1023004)
    ngx_nitro_attest_client_error(why);
#endif

    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
}


/*
 * A verdict that waits for the client's CertificateVerify.  Without memory
 * for the wait it is accounted at once, as the handshake would be refused
 * anyway.  When the server logs evidence, the wait keeps a reference to
 * the certificate: the SSL object may be gone when the connection's pool
 * is, and the line is written then.
 */

static void
ngx_nitro_attest_pend(ngx_connection_t *c, ngx_ssl_conn_t *ssl_conn,
    ngx_nitro_attest_srv_conf_t *nascf, ngx_nitro_attest_conn_t *nac,
    X509 *cert, u_char *key, ngx_uint_t keyed)
{
    ngx_pool_cleanup_t          *cln;
    ngx_nitro_attest_pending_t  *pending;

    cln = ngx_pool_cleanup_add(c->pool,
                               sizeof(ngx_nitro_attest_pending_t));
    if (cln == NULL) {
        ngx_nitro_attest_account(c->log, &c->addr_text, nascf,
                                 &nac->verdict, cert);
        return;
    }

    pending = cln->data;
    pending->log = c->log;
    pending->addr = c->addr_text;
    pending->nascf = nascf;
    pending->nac = nac;
    pending->keyed = keyed;
    pending->done = 0;
    pending->cert = NULL;
    ngx_memcpy(pending->key, key, SHA256_DIGEST_LENGTH);

    if (SSL_set_ex_data(ssl_conn, ngx_nitro_attest_pending_index,
                        pending)
        == 0)
    {
        pending->done = 1;
        ngx_nitro_attest_account(c->log, &c->addr_text, nascf,
                                 &nac->verdict, cert);
        return;
    }

    if (nascf->main->evidence && X509_up_ref(cert) == 1) {
        pending->cert = cert;
    }

    cln->handler = ngx_nitro_attest_unproven;
}


/*
 * The handshake completed: the client signed with the certificate's key.
 * Only now is a success counted, logged and remembered in the verdict
 * cache, so a replayed certificate can neither take the genuine client's
 * place in the cache nor hide it from the logs.
 */

static void
ngx_nitro_attest_proven(ngx_connection_t *c,
    ngx_nitro_attest_pending_t *pending)
{
    nitro_attest_verdict_t       *v;
    ngx_nitro_attest_srv_conf_t  *nascf;

    pending->done = 1;
    nascf = pending->nascf;
    v = &pending->nac->verdict;

    if (pending->keyed) {
        ngx_nitro_attest_remember(nascf, pending->key, v);
    }

    /*
     * After the cache took its copy, which holds what the document says,
     * not what this node remembered when it was presented; the session
     * does hold it, so that one resumed from this handshake says it too.
     */
    ngx_nitro_attest_rollback_proven(c->log, nascf, v);

    if (v->flags & NITRO_ATTEST_F_ROLLBACK) {
        ngx_nitro_attest_save_session(c, c->ssl->connection, nascf,
                                      pending->nac, v->time_ms);
    }

    if (v->reason == NITRO_ATTEST_ROLLBACK
        && nascf->enable == NGX_NITRO_ATTEST_ON)
    {
        ngx_nitro_attest_log_refusal(c->log, nascf, v,
                                     "connection refused");
    }

    /* after the cache took its copy: a later hit has proved nothing yet */
    v->flags |= NITRO_ATTEST_F_KEY_PROVEN;

    ngx_nitro_attest_account(c->log, &c->addr_text, nascf, v,
                             pending->cert);
}


/*
 * The connection's pool goes.  When its handshake did not complete, a
 * certificate that verified was presented by a client that could not sign
 * with its key (a replay), or that gave up: its measurements stay, as for
 * binding_mismatch; an earlier failure keeps its own reason.  Either way
 * the certificate kept for the evidence is released.
 */

static void
ngx_nitro_attest_unproven(void *data)
{
    ngx_nitro_attest_pending_t *pending = data;

    nitro_attest_verdict_t  *v;

    if (!pending->done) {
        pending->done = 1;
        v = &pending->nac->verdict;

        if (v->status == NITRO_ATTEST_STATUS_SUCCESS) {
            v->status = NITRO_ATTEST_STATUS_FAILED;
            v->reason = NITRO_ATTEST_KEY_NOT_PROVEN;
        }

        ngx_nitro_attest_log_refusal(pending->log, pending->nascf, v,
                                     "handshake not completed");

        ngx_nitro_attest_account(pending->log, &pending->addr,
                                 pending->nascf, v, pending->cert);
    }

    X509_free(pending->cert);
}


/*
 * One verification accounted: the counters, the recent past, the
 * inventory and the event log.  A cache hit is counted, and marked where
 * it shows, but not logged again, unless its client then failed to prove
 * its key or it is a rollback (what the cache held was no rollback then).
 */

static void
ngx_nitro_attest_account(ngx_log_t *log, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    X509 *cert)
{
    ngx_nitro_attest_count(nascf->main, v);
    ngx_nitro_attest_recent(nascf->main, addr, &nascf->server_name,
                            nascf->enable == NGX_NITRO_ATTEST_ON
                            || v->reason == NITRO_ATTEST_KEY_NOT_PROVEN, v);

    if (nascf->main->inventory != NULL) {
        ngx_nitro_attest_inventory_enter(nascf->main->inventory, v);
    }

    if (v->cache != NITRO_ATTEST_CACHE_HIT
        || v->reason == NITRO_ATTEST_KEY_NOT_PROVEN
        || (v->flags & NITRO_ATTEST_F_ROLLBACK))
    {
        ngx_nitro_attest_event(log, addr, nascf, v, cert);
    }
}


/*
 * One line per refused client: the reason, the server it was refused for
 * and, when the document's signature and chain held, the module id it
 * attested and the set that matched (nginx adds the client's address).
 * CRITICAL reasons (a forgery, a denied or unknown build, a certificate
 * presented without its key) are logged at "error", as nginx logs "access
 * forbidden by rule", so that the default error_log shows them; a
 * client's mistake or an old document at "info".
 */

static void
ngx_nitro_attest_log_refusal(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    const char *outcome)
{
    u_char      *p, *last;
    ngx_uint_t   level, measured;
    u_char       module_id[NITRO_ATTEST_MODULE_ID_MAX * 4 + 1];
    u_char       policy[NITRO_ATTEST_POLICY_NAME_MAX * 4 + 1];

    level = ngx_strcmp(nitro_attest_severity(v), "CRITICAL") == 0
            ? NGX_LOG_ERR : NGX_LOG_INFO;

    if (log->log_level < level) {
        return;
    }

    measured = v->flags & NITRO_ATTEST_F_MEASURED;
    last = module_id + sizeof(module_id) - 1;
    p = measured ? ngx_nitro_attest_log_text(module_id, last,
                                 nitro_attest_span_ptr(v, v->module_id),
                                 v->module_id.len)
                 : module_id;
    *p = '\0';

    last = policy + sizeof(policy) - 1;
    p = ngx_nitro_attest_log_text(policy, last,
                                  nitro_attest_span_ptr(v, v->policy),
                                  v->policy.len);
    *p = '\0';

    ngx_log_error(level, log, 0,
                  "client attestation failed: %s, %s, "
                  "server name: \"%V\", module id: \"%s\", "
                  "policy: \"%s\"",
                  nitro_attest_reason_name(v->reason), outcome,
                  &nascf->server_name, module_id, policy);
}


/*
 * Text from a document (signed, but by any AWS customer) goes into the
 * log printable: bytes outside ASCII's printable range, the quote and the
 * backslash as \xHH.
 */

u_char *
ngx_nitro_attest_log_text(u_char *p, u_char *last, const u_char *text,
    size_t len)
{
    size_t  i;

    for (i = 0; i < len && p + 4 <= last; i++) {
        if (text[i] < 0x20 || text[i] > 0x7e || text[i] == '"'
            || text[i] == '\\')
        {
            p = ngx_sprintf(p, "\\x%02xd", text[i]);
            continue;
        }

        *p++ = text[i];
    }

    return p;
}


#if (nginx_version >= 1023004)

/*
 * nginx 1.23.4+ takes the level of a failed handshake's log line from the
 * last error queued, and OpenSSL queues "certificate verify failed" (logged
 * as "crit") after the hook refused the certificate.  When the fatal alert
 * goes out, "callback failed" is queued after it: a client the module
 * refused is logged at "info", like other client errors.
 */

static void
ngx_nitro_attest_refused_error(const ngx_ssl_conn_t *ssl_conn,
    unsigned long err)
{
    const char                   *why;
    ngx_nitro_attest_conn_t      *nac;
    ngx_nitro_attest_srv_conf_t  *nascf;

    if (ERR_GET_LIB(err) != ERR_LIB_SSL
        || ERR_GET_REASON(err) != SSL_R_CERTIFICATE_VERIFY_FAILED)
    {
        return;
    }

    nac = SSL_get_ex_data(ssl_conn, ngx_nitro_attest_conn_index);

    if (nac != NULL) {
        if (nac->verdict.status != NITRO_ATTEST_STATUS_FAILED) {
            return;
        }

        why = nitro_attest_reason_name(nac->verdict.reason);

    } else {
        /* no verdict: the hook refused the handshake of a retiring worker */

        nascf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                    ngx_nitro_attest_ctx_index);

        if (nascf == NULL || nascf->enable != NGX_NITRO_ATTEST_ON
            || !ngx_nitro_attest_retiring())
        {
            return;
        }

        why = "worker shutting down";
    }

    ngx_nitro_attest_client_error(why);
}

#endif


/*
 * "callback failed" is among the errors nginx logs at "info", as a
 * client's: it is queued where the module refused a client.
 */

void
ngx_nitro_attest_client_error(const char *why)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    ERR_raise_data(ERR_LIB_SSL, SSL_R_CALLBACK_FAILED, "nitro_attest: %s",
                   why);
#else
    SSLerr(SSL_F_SSL_VERIFY_CERT_CHAIN, SSL_R_CALLBACK_FAILED);
#endif
}


/*
 * A client of an enforcing server that sends no certificate fails in
 * OpenSSL before any verification: the fatal alert it gets is the one
 * place to see it, so that it is counted and logged as "no_certificate".
 */

static void
ngx_nitro_attest_info(const ngx_ssl_conn_t *ssl_conn, int where,
    int ret)
{
    unsigned long                 err;
    ngx_nitro_attest_pending_t   *pending;
    ngx_nitro_attest_srv_conf_t  *nascf;

    if (where & SSL_CB_HANDSHAKE_DONE) {
        pending = SSL_get_ex_data(ssl_conn,
                                  ngx_nitro_attest_pending_index);

        if (pending != NULL && !pending->done) {
            ngx_nitro_attest_proven(ngx_ssl_get_connection(ssl_conn),
                                    pending);
        }
    }

    if ((where & SSL_CB_ALERT)
        && (where & SSL_CB_WRITE)
        && (ret >> 8) == SSL3_AL_FATAL)
    {
        err = ERR_peek_last_error();

        if (ERR_GET_LIB(err) == ERR_LIB_SSL
            && ERR_GET_REASON(err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE
            && SSL_get_ex_data(ssl_conn, ngx_nitro_attest_conn_index)
               == NULL)
        {
            ngx_nitro_attest_no_certificate((ngx_ssl_conn_t *) ssl_conn);
        }

#if (nginx_version >= 1023004)
        ngx_nitro_attest_refused_error(ssl_conn, err);
#endif
    }

    nascf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                ngx_nitro_attest_ctx_index);

    if (nascf != NULL && nascf->next_info != NULL) {
        nascf->next_info(ssl_conn, where, ret);
    }
}


static void
ngx_nitro_attest_no_certificate(ngx_ssl_conn_t *ssl_conn)
{
    ngx_connection_t             *c;
    nitro_attest_verdict_t       *v;
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                ngx_nitro_attest_ctx_index);

    if (nascf == NULL || nascf->enable != NGX_NITRO_ATTEST_ON) {
        return;
    }

    c = ngx_ssl_get_connection(ssl_conn);
    v = &ngx_nitro_attest_scratch;

    nitro_attest_verdict_none(v, ngx_nitro_attest_now());

    v->status = NITRO_ATTEST_STATUS_FAILED;
    v->reason = NITRO_ATTEST_NO_CERTIFICATE;

    ngx_nitro_attest_log_refusal(c->log, nascf, v, "handshake refused");

    /*
     * OpenSSL queued "peer did not return a certificate", which nginx
     * logs at "crit": a client's mistake is no critical condition of the
     * server.  nginx < 1.23.4 judges the first error queued, later nginx
     * the last one.
     */

#if (nginx_version < 1023004)
    ERR_clear_error();
#endif
    ngx_nitro_attest_client_error("no_certificate");

    ngx_nitro_attest_account(c->log, &c->addr_text, nascf, v, NULL);
}
