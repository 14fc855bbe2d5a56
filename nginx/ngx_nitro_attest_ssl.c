
/*
 * ngx_nitro_attest_ssl.c: the attestation layer inside TLS, for both
 * protocols.  The certificate hook verifies the client's document during
 * the handshake; the verdict waits for the client's proof of its key and
 * is then accounted; it rides in the session ticket, which names its
 * server, configuration and listen socket; a connection's verdict is found
 * again from its SSL object.  Speaks ngx_connection_t and SSL only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


static int ngx_nitro_attest_verify(X509_STORE_CTX *store, void *arg);
static void ngx_nitro_attest_refuse(X509_STORE_CTX *store, const char *why);
static void ngx_nitro_attest_client_error(const char *why);
static nitro_attest_reason_e ngx_nitro_attest_verify_cert(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *nascf, X509 *cert, int64_t now,
    nitro_attest_verdict_t *v, u_char *key, ngx_uint_t *keyed);
static void ngx_nitro_attest_pend(ngx_connection_t *c, ngx_ssl_conn_t *ssl_conn,
    ngx_nitro_attest_srv_conf_t *nascf, ngx_nitro_attest_conn_t *nac,
    u_char *key, ngx_uint_t keyed);
static void ngx_nitro_attest_proven(ngx_connection_t *c,
    ngx_nitro_attest_pending_t *pending);
static void ngx_nitro_attest_unproven(void *data);
static void ngx_nitro_attest_log_refusal(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    const char *outcome);
static u_char *ngx_nitro_attest_log_text(u_char *p, u_char *last,
    const u_char *text, size_t len);
static void ngx_nitro_attest_caches(ngx_connection_t *c,
    ngx_nitro_attest_main_t *namcf, nitro_attest_config_t *core);
static void ngx_nitro_attest_info(const ngx_ssl_conn_t *ssl_conn, int where,
    int ret);
static void ngx_nitro_attest_no_certificate(ngx_ssl_conn_t *ssl_conn);
static void ngx_nitro_attest_save_session(ngx_connection_t *c,
    ngx_ssl_conn_t *ssl_conn, ngx_nitro_attest_srv_conf_t *nascf,
    ngx_nitro_attest_conn_t *nac, int64_t now);
static int ngx_nitro_attest_ticket_made(ngx_ssl_conn_t *ssl_conn, void *arg);
static SSL_TICKET_RETURN ngx_nitro_attest_ticket(ngx_ssl_conn_t *ssl_conn,
    SSL_SESSION *sess, const unsigned char *keyname, size_t keyname_len,
    SSL_TICKET_STATUS status, void *arg);
static ngx_int_t ngx_nitro_attest_same_name(ngx_ssl_conn_t *ssl_conn,
    SSL_SESSION *sess);
static ngx_int_t ngx_nitro_attest_local(ngx_connection_t *c, u_char *digest);
static ngx_nitro_attest_srv_conf_t *ngx_nitro_attest_find_server(
    ngx_nitro_attest_main_t *namcf, u_char *tag);
static ngx_nitro_attest_conn_t *ngx_nitro_attest_session(SSL_SESSION *sess);


static int  ngx_nitro_attest_conn_index = -1;
static int  ngx_nitro_attest_ctx_index = -1;

/* the verdict that waits for the client's CertificateVerify */
static int  ngx_nitro_attest_pending_index = -1;

int  ngx_nitro_attest_token_index = -1;

/* scratch for one verification at a time (a worker runs one handshake) */
static nitro_attest_verdict_t  ngx_nitro_attest_scratch;

/* this worker's chain cache and memo, made on first use */
static nitro_attest_chain_cache_t  *ngx_nitro_attest_chain_cache_p;
static nitro_attest_memo_t         *ngx_nitro_attest_memo_p;


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
    struct timeval                start, end;
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

    ngx_gettimeofday(&start);

    reason = ngx_nitro_attest_verify_cert(c, nascf, cert, now, v, key,
                                               &keyed);

    ngx_gettimeofday(&end);

    v->verify_us = (uint32_t) ((end.tv_sec - start.tv_sec) * 1000000
                               + (end.tv_usec - start.tv_usec));

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
        ngx_nitro_attest_pend(c, ssl_conn, nascf, nac, key, keyed);

    } else {
        ngx_nitro_attest_account(c, nascf, &nac->verdict);
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
 * A worker that nginx told to shut down: ngx_quit and ngx_terminate are
 * set by the signal handler, ngx_exiting once the worker acted on it, so
 * the window before the worker's cycle notices the signal is covered.
 */

ngx_uint_t
ngx_nitro_attest_retiring(void)
{
    return ngx_quit || ngx_terminate || ngx_exiting;
}


/*
 * The verdict for cert: from the verdict cache when it holds one for this
 * configuration and certificate (a client that proved its key before),
 * else verified by the core, with this worker's chain cache and memo,
 * without any lock held.  *keyed says whether key is the cache key under
 * which the verdict is remembered once this client proves its key.
 */

static nitro_attest_reason_e
ngx_nitro_attest_verify_cert(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *nascf, X509 *cert, int64_t now,
    nitro_attest_verdict_t *v, u_char *key, ngx_uint_t *keyed)
{
    nitro_attest_config_t      core;
    nitro_attest_reason_e      reason;
    ngx_nitro_attest_cache_t  *cache;

    cache = nascf->cache ? nascf->cache->data : NULL;
    *keyed = cache != NULL
             && nitro_attest_verdict_key(nascf->digest, cert, key) == 0;

    if (*keyed
        && ngx_nitro_attest_cache_get(cache, key, now, v) == NGX_OK)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "nitro_attest: verdict cache hit");
        return v->reason;
    }

    core = nascf->core;
    ngx_nitro_attest_caches(c, nascf->main, &core);

    reason = nitro_attest_verify_cert(&core, cert, now, v);

    if (cache != NULL) {
        v->cache = NITRO_ATTEST_CACHE_MISS;
    }

    return reason;
}


/*
 * A verdict that waits for the client's CertificateVerify.  Without memory
 * for the wait it is accounted at once, as the handshake would be refused
 * anyway.
 */

static void
ngx_nitro_attest_pend(ngx_connection_t *c, ngx_ssl_conn_t *ssl_conn,
    ngx_nitro_attest_srv_conf_t *nascf, ngx_nitro_attest_conn_t *nac,
    u_char *key, ngx_uint_t keyed)
{
    ngx_pool_cleanup_t          *cln;
    ngx_nitro_attest_pending_t  *pending;

    cln = ngx_pool_cleanup_add(c->pool,
                               sizeof(ngx_nitro_attest_pending_t));
    if (cln == NULL) {
        ngx_nitro_attest_account(c, nascf, &nac->verdict);
        return;
    }

    pending = cln->data;
    pending->log = c->log;
    pending->addr = c->addr_text;
    pending->nascf = nascf;
    pending->nac = nac;
    pending->keyed = keyed;
    pending->done = 0;
    ngx_memcpy(pending->key, key, SHA256_DIGEST_LENGTH);

    if (SSL_set_ex_data(ssl_conn, ngx_nitro_attest_pending_index,
                        pending)
        == 0)
    {
        pending->done = 1;
        ngx_nitro_attest_account(c, nascf, &nac->verdict);
        return;
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
    int64_t                       expires;
    nitro_attest_verdict_t       *v;
    ngx_nitro_attest_cache_t     *cache;
    ngx_nitro_attest_srv_conf_t  *nascf;

    pending->done = 1;
    nascf = pending->nascf;
    v = &pending->nac->verdict;

    if (pending->keyed
        && v->status == NITRO_ATTEST_STATUS_SUCCESS
        && v->cache != NITRO_ATTEST_CACHE_HIT)
    {
        cache = nascf->cache->data;
        expires = v->timestamp_ms + (int64_t) nascf->max_age;
        expires = ngx_min(expires, v->not_after_ms);

        if (expires > v->time_ms) {
            ngx_nitro_attest_cache_put(cache, pending->key, expires, v);
        }
    }

    /* after the cache took its copy: a later hit has proved nothing yet */
    v->flags |= NITRO_ATTEST_F_KEY_PROVEN;

    ngx_nitro_attest_account(c, nascf, v);
}


/*
 * The connection closed before its handshake completed: a certificate
 * that verified was presented by a client that could not sign with its key
 * (a replay), or that gave up.  Its measurements stay, as for
 * binding_mismatch; an earlier failure keeps its own reason.
 */

static void
ngx_nitro_attest_unproven(void *data)
{
    ngx_nitro_attest_pending_t *pending = data;

    nitro_attest_where_t     where;
    nitro_attest_verdict_t  *v;

    if (pending->done) {
        return;
    }

    pending->done = 1;
    v = &pending->nac->verdict;

    if (v->status == NITRO_ATTEST_STATUS_SUCCESS) {
        v->status = NITRO_ATTEST_STATUS_FAILED;
        v->reason = NITRO_ATTEST_KEY_NOT_PROVEN;
    }

    ngx_nitro_attest_log_refusal(pending->log, pending->nascf, v,
                                 "handshake not completed");

    ngx_nitro_attest_count(pending->nascf->main, v);

    if (pending->nascf->event_log) {
        ngx_nitro_attest_client_where(&where, &pending->addr,
                                      pending->nascf);
        ngx_nitro_attest_write_event(pending->log,
                                     pending->nascf->event_log, v, &where);
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

static u_char *
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


/*
 * This worker's chain cache (unless off) and memo, made on first use;
 * without memory for them every document is verified in full.
 */

static void
ngx_nitro_attest_caches(ngx_connection_t *c,
    ngx_nitro_attest_main_t *namcf, nitro_attest_config_t *core)
{
    static ngx_uint_t  failed;

    if (ngx_nitro_attest_chain_cache_p == NULL && namcf->chain_cache
        && !(failed & 1))
    {
        ngx_nitro_attest_chain_cache_p =
                             nitro_attest_chain_cache_new(namcf->chain_cache);

        if (ngx_nitro_attest_chain_cache_p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "nitro_attest: cannot make the chain cache, "
                          "verifying every chain in full");
            failed |= 1;
        }
    }

    if (ngx_nitro_attest_memo_p == NULL && !(failed & 2)) {
        ngx_nitro_attest_memo_p =
                         nitro_attest_memo_new(NGX_NITRO_ATTEST_MEMO);

        if (ngx_nitro_attest_memo_p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "nitro_attest: cannot make the document memo, "
                          "verifying every document in full");
            failed |= 2;
        }
    }

    core->chain_cache = namcf->chain_cache
                        ? ngx_nitro_attest_chain_cache_p : NULL;
    core->memo = ngx_nitro_attest_memo_p;
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

static void
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
            ngx_nitro_attest_no_certificate(
                                               (ngx_ssl_conn_t *) ssl_conn);
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

    ngx_nitro_attest_account(c, nascf, v);
}


/*
 * The verdict rides in the session (ticket application data survives
 * tickets and the shared cache), and the session lives no longer than it.
 */

static void
ngx_nitro_attest_save_session(ngx_connection_t *c,
    ngx_ssl_conn_t *ssl_conn, ngx_nitro_attest_srv_conf_t *nascf,
    ngx_nitro_attest_conn_t *nac, int64_t now)
{
    long          left;
    size_t        len;
    SSL_SESSION  *sess;

    sess = SSL_get0_session(ssl_conn);
    if (sess == NULL) {
        return;
    }

    (void) ngx_nitro_attest_local(c, nac->local);

    len = ngx_nitro_attest_conn_size(&nac->verdict);

    if (SSL_SESSION_set1_ticket_appdata(sess, nac, len) == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0,
                      "SSL_SESSION_set1_ticket_appdata() failed");
        return;
    }

    if (nac->verdict.status == NITRO_ATTEST_STATUS_SUCCESS) {
        left = (long) ((ngx_nitro_attest_expiry(nascf, &nac->verdict) - now)
                       / 1000);

        if (left < SSL_SESSION_get_timeout(sess)) {
            SSL_SESSION_set_timeout(sess, left > 0 ? left : 1);
        }
    }
}


/*
 * A ticket is about to be made: a session that carries no verdict (no
 * certificate was presented, or the server does not attest) gets one that
 * says so, with the tag of the server whose context made it and the
 * digest of its listen socket.  So a ticket always tells which server,
 * configuration cycle and socket it belongs to.
 */

static int
ngx_nitro_attest_ticket_made(ngx_ssl_conn_t *ssl_conn, void *arg)
{
    void                         *data;
    size_t                        len;
    SSL_SESSION                  *sess;
    ngx_nitro_attest_conn_t       nac;
    ngx_nitro_attest_srv_conf_t  *nascf;

    sess = SSL_get0_session(ssl_conn);
    nascf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                ngx_nitro_attest_ctx_index);

    if (sess == NULL || nascf == NULL) {
        return 1;
    }

    data = NULL;
    len = 0;

    if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) == 1 && len > 0) {
        return 1;
    }

    ngx_memcpy(nac.tag, nascf->tag, NGX_NITRO_ATTEST_TAG_LEN);
    (void) ngx_nitro_attest_local(ngx_ssl_get_connection(ssl_conn),
                                  nac.local);
    nitro_attest_verdict_none(&nac.verdict, ngx_nitro_attest_now());

    /* without it the ticket is not resumed (no server named): harmless */
    (void) SSL_SESSION_set1_ticket_appdata(sess, &nac,
                                ngx_nitro_attest_conn_size(&nac.verdict));

    return 1;
}


/*
 * Sessions resume only under the server name and on the listen socket
 * they were made with: the two pick the server, so a session resumes only
 * into the server that made it, and is judged by that server's
 * "nitro_attest".  Tickets are opened before nginx switches to the SSL_CTX
 * of the name asked for, with the callbacks of the socket's default
 * server, and one ticket key can serve several sockets (one server on
 * several, or a shared ssl_session_ticket_key file): the server that made
 * a ticket is not always the one the same name picks now.  A ticket from
 * another configuration cycle (ticket keys from a file survive reloads) or
 * with an expired verdict is not resumed either: the client makes a full
 * handshake and attests again.
 */

static SSL_TICKET_RETURN
ngx_nitro_attest_ticket(ngx_ssl_conn_t *ssl_conn, SSL_SESSION *sess,
    const unsigned char *keyname, size_t keyname_len,
    SSL_TICKET_STATUS status, void *arg)
{
    ngx_nitro_attest_main_t *namcf = arg;

    u_char                        local[NGX_NITRO_ATTEST_TAG_LEN];
    ngx_connection_t             *c;
    ngx_nitro_attest_conn_t      *nac;
    ngx_nitro_attest_srv_conf_t  *server;

    switch (status) {

    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT:
        return SSL_TICKET_RETURN_IGNORE_RENEW;

    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
        break;

    default:
        return SSL_TICKET_RETURN_ABORT;
    }

    c = ngx_ssl_get_connection(ssl_conn);

    if (ngx_nitro_attest_retiring()) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: worker shutting down, full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    if (ngx_nitro_attest_same_name(ssl_conn, sess) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket of another server name, "
                      "full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    /*
     * Every ticket of this configuration names its server, with a verdict
     * or with none: one without, or naming no server of this cycle, was
     * made before a reload (ticket keys from a file survive it).
     */

    nac = ngx_nitro_attest_session(sess);
    server = nac ? ngx_nitro_attest_find_server(namcf, nac->tag) : NULL;

    if (server == NULL) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket of another configuration, "
                      "full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    if (ngx_nitro_attest_local(c, local) != NGX_OK
        || ngx_memcmp(local, nac->local, NGX_NITRO_ATTEST_TAG_LEN) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket of another listen socket, "
                      "full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    if (server->enable == NGX_NITRO_ATTEST_ON
        && nac->verdict.status != NITRO_ATTEST_STATUS_SUCCESS)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket without a verdict for an "
                      "attesting server, full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    if (nac->verdict.status == NITRO_ATTEST_STATUS_SUCCESS
        && ngx_nitro_attest_expiry(server, &nac->verdict)
           <= ngx_nitro_attest_now())
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket verdict expired, "
                      "full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE
                                        : SSL_TICKET_RETURN_USE_RENEW;
}


/*
 * NGX_OK when the ClientHello asks for the name the session was made
 * with (both without SNI counts).  The ClientHello is still there while
 * tickets are opened; SNI is not yet processed, so it is read from it.
 */

static ngx_int_t
ngx_nitro_attest_same_name(ngx_ssl_conn_t *ssl_conn, SSL_SESSION *sess)
{
    size_t                len, n;
    const char           *host;
    const unsigned char  *p;

    host = SSL_SESSION_get0_hostname(sess);

    if (!SSL_client_hello_get0_ext(ssl_conn, TLSEXT_TYPE_server_name, &p,
                                   &len))
    {
        return host == NULL ? NGX_OK : NGX_DECLINED;
    }

    /* ServerNameList of exactly one host_name, as OpenSSL itself accepts */

    if (host == NULL || len < 5) {
        return NGX_DECLINED;
    }

    n = (size_t) p[0] << 8 | p[1];

    if (n != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name) {
        return NGX_DECLINED;
    }

    n = (size_t) p[3] << 8 | p[4];

    if (n != len - 5
        || ngx_strlen(host) != n
        || ngx_strncasecmp((u_char *) host, (u_char *) p + 5, n) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * What picks a connection's server besides the name it asks for: the
 * socket it came in on (its type, local address and port; a wildcard
 * listen is resolved to the address the client connected to), as a
 * digest.  All zero when it cannot be known, which no socket matches.
 */

static ngx_int_t
ngx_nitro_attest_local(ngx_connection_t *c, u_char *digest)
{
    u_char  md[EVP_MAX_MD_SIZE];
    u_char  text[1 + NGX_SOCKADDR_STRLEN];
    size_t  len;

    ngx_memzero(digest, NGX_NITRO_ATTEST_TAG_LEN);

    if (ngx_connection_local_sockaddr(c, NULL, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    text[0] = (u_char) c->type;
    len = 1 + ngx_sock_ntop(c->local_sockaddr, c->local_socklen, text + 1,
                            NGX_SOCKADDR_STRLEN, 1);

    if (EVP_Digest(text, len, md, NULL, EVP_sha256(), NULL) != 1) {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "EVP_Digest() failed");
        return NGX_ERROR;
    }

    ngx_memcpy(digest, md, NGX_NITRO_ATTEST_TAG_LEN);

    return NGX_OK;
}


static ngx_nitro_attest_srv_conf_t *
ngx_nitro_attest_find_server(ngx_nitro_attest_main_t *namcf,
    u_char *tag)
{
    ngx_uint_t                     i;
    ngx_nitro_attest_srv_conf_t  **server;

    server = namcf->tagged.elts;

    for (i = 0; i < namcf->tagged.nelts; i++) {
        if (ngx_memcmp(server[i]->tag, tag, NGX_NITRO_ATTEST_TAG_LEN)
            == 0)
        {
            return server[i];
        }
    }

    return NULL;
}


/* the application data of a session, if it is a well-formed verdict */

static ngx_nitro_attest_conn_t *
ngx_nitro_attest_session(SSL_SESSION *sess)
{
    void                     *data;
    size_t                    len;
    ngx_nitro_attest_conn_t  *nac;

    data = NULL;
    len = 0;

    if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) != 1
        || len < NGX_NITRO_ATTEST_CONN_MIN
        || len > sizeof(ngx_nitro_attest_conn_t))
    {
        return NULL;
    }

    nac = data;

    if (nitro_attest_verdict_check(&nac->verdict,
                                   len - offsetof(ngx_nitro_attest_conn_t,
                                                  verdict))
        != 0)
    {
        return NULL;
    }

    return nac;
}


/*
 * The connection's verdict: stored by the certificate hook on a full
 * handshake, or taken back from the session on a resumed one.
 */

ngx_nitro_attest_conn_t *
ngx_nitro_attest_connection(ngx_connection_t *c)
{
    size_t                    len;
    SSL_SESSION              *sess;
    ngx_ssl_conn_t           *ssl_conn;
    ngx_nitro_attest_conn_t  *nac, *saved;

    if (c == NULL || c->ssl == NULL || ngx_nitro_attest_conn_index == -1) {
        return NULL;
    }

    ssl_conn = c->ssl->connection;

    nac = SSL_get_ex_data(ssl_conn, ngx_nitro_attest_conn_index);
    if (nac != NULL) {
        return nac;
    }

    if (!SSL_session_reused(ssl_conn)) {
        return NULL;
    }

    sess = SSL_get0_session(ssl_conn);
    if (sess == NULL) {
        return NULL;
    }

    saved = ngx_nitro_attest_session(sess);
    if (saved == NULL) {
        return NULL;
    }

    len = ngx_nitro_attest_conn_size(&saved->verdict);

    nac = ngx_palloc(c->pool, len);
    if (nac == NULL) {
        return NULL;
    }

    ngx_memcpy(nac, saved, len);
    nac->verdict.flags |= NITRO_ATTEST_F_RESUMED;

    if (SSL_set_ex_data(ssl_conn, ngx_nitro_attest_conn_index, nac)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "SSL_set_ex_data() failed");
        return NULL;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "nitro_attest: verdict taken from the resumed session");

    return nac;
}


int64_t
ngx_nitro_attest_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/* the ex_data indexes, once per process */

ngx_int_t
ngx_nitro_attest_ssl_init(ngx_conf_t *cf)
{
    if (ngx_nitro_attest_conn_index != -1) {
        return NGX_OK;
    }

    ngx_nitro_attest_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                                       NULL);
    ngx_nitro_attest_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL,
                                                          NULL, NULL);
    ngx_nitro_attest_pending_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                          NULL, NULL);
    ngx_nitro_attest_token_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                                        NULL);

    if (ngx_nitro_attest_conn_index == -1
        || ngx_nitro_attest_ctx_index == -1
        || ngx_nitro_attest_pending_index == -1
        || ngx_nitro_attest_token_index == -1)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: ex_new_index() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A server's SSL_CTX learns which server it is (tickets carry its tag)
 * and, when the server attests, gets the certificate hook: the client's
 * certificate is requested (required by "on"), and the info callback sees
 * what the hook cannot, a client without a certificate and the end of a
 * handshake whose verdict waits for the client's proof of its key.
 */

ngx_int_t
ngx_nitro_attest_attach(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *nascf,
    SSL_CTX *ctx)
{
    int                            mode;
    ngx_nitro_attest_main_t       *nam;
    ngx_nitro_attest_srv_conf_t  **server;

    nam = nascf->main;

    server = ngx_array_push(&nam->tagged);
    if (server == NULL) {
        return NGX_ERROR;
    }

    *server = nascf;

    if (SSL_CTX_set_ex_data(ctx, ngx_nitro_attest_ctx_index, nascf) == 0) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_ex_data() failed");
        return NGX_ERROR;
    }

    if (nascf->enable == NGX_NITRO_ATTEST_OFF) {
        return NGX_OK;
    }

    server = ngx_array_push(&nam->servers);
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
 * Tickets are made and opened with the callbacks of the context the
 * connection started on (the default server's), so every context of a
 * block with an attesting server gets them.
 */

ngx_int_t
ngx_nitro_attest_tickets(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    SSL_CTX *ctx)
{
    if (SSL_CTX_set_session_ticket_cb(ctx, ngx_nitro_attest_ticket_made,
                                      ngx_nitro_attest_ticket, nam)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_session_ticket_cb() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Stateful resumption (TLS 1.2 session IDs, TLS 1.3 without tickets, the
 * builtin and shared session caches) is looked up before any hook could
 * check which server or configuration a session was made for: the face
 * turns it off for every server sharing a listen socket with an attesting
 * one.  Tickets remain, and are checked.  1 when it was on.
 */

ngx_uint_t
ngx_nitro_attest_no_session_cache(SSL_CTX *ctx)
{
    long  off;

    off = SSL_SESS_CACHE_OFF | SSL_SESS_CACHE_NO_INTERNAL;

    if (SSL_CTX_get_session_cache_mode(ctx) == off) {
        return 0;
    }

    SSL_CTX_set_session_cache_mode(ctx, off);
    SSL_CTX_sess_set_new_cb(ctx, NULL);
    SSL_CTX_sess_set_get_cb(ctx, NULL);
    SSL_CTX_sess_set_remove_cb(ctx, NULL);

    return 1;
}


/* a worker's caches go with it */

void
ngx_nitro_attest_exit(void)
{
    nitro_attest_chain_cache_free(ngx_nitro_attest_chain_cache_p);
    ngx_nitro_attest_chain_cache_p = NULL;
    nitro_attest_memo_free(ngx_nitro_attest_memo_p);
    ngx_nitro_attest_memo_p = NULL;
}


/*
 * The verdict a server's variables, headers, token and guard see, as of
 * now: the connection's, when it was attested for this server, and from
 * its expiry on FAILED:expired; otherwise "nothing was checked" (NONE).
 */

nitro_attest_verdict_t *
ngx_nitro_attest_verdict(ngx_nitro_attest_srv_conf_t *nascf,
    ngx_connection_t *c)
{
    ngx_nitro_attest_conn_t  *nac;

    static nitro_attest_verdict_t  none;

    if (nascf->enable != NGX_NITRO_ATTEST_OFF) {
        nac = ngx_nitro_attest_connection(c);

        if (nac != NULL
            && ngx_memcmp(nac->tag, nascf->tag, NGX_NITRO_ATTEST_TAG_LEN)
               == 0)
        {
            nitro_attest_verdict_expire(&nac->verdict,
                                        (int64_t) nascf->reattest,
                                        ngx_nitro_attest_now());
            return &nac->verdict;
        }
    }

    nitro_attest_verdict_none(&none, ngx_nitro_attest_now());

    return &none;
}


/* the end of what a verdict serves on this server (nitro_attest_reattest) */

int64_t
ngx_nitro_attest_expiry(ngx_nitro_attest_srv_conf_t *nascf,
    nitro_attest_verdict_t *v)
{
    return nitro_attest_verdict_expiry(v, (int64_t) nascf->reattest);
}
