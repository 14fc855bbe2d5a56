
/*
 * ngx_nitro_attest_session.c: the verdict a connection keeps: set on its
 * SSL object by the certificate hook, it rides in the TLS session (the
 * ticket's application data, with the tag of its server and the digest of
 * its listen socket) and is taken back on resumption, under the server
 * name, server, configuration and socket it was made for only; what a
 * server sees of it, with its expiry.  Speaks ngx_connection_t and SSL
 * only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


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


/* a connection's verdict (ngx_nitro_attest_conn_t) on its SSL object */
int  ngx_nitro_attest_conn_index = -1;

/* the server (ngx_nitro_attest_srv_conf_t) of an SSL_CTX */
int  ngx_nitro_attest_ctx_index = -1;


/* the SSL indexes, once per process */

ngx_int_t
ngx_nitro_attest_session_init(ngx_conf_t *cf)
{
    if (ngx_nitro_attest_ssl_index(cf, &ngx_nitro_attest_conn_index)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_nitro_attest_ssl_ctx_index(cf, &ngx_nitro_attest_ctx_index);
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


/*
 * The verdict rides in the session (ticket application data survives
 * tickets and the shared cache), and the session lives no longer than it.
 */

void
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

    /* its instance has proved a newer version since: judged again */
    if (ngx_nitro_attest_rollback_deny(server, &nac->verdict, 0)
        == NGX_DECLINED)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket of an older version than its "
                      "instance proved since, full handshake");
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
