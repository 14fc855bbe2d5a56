
/*
 * ngx_stream_nitro_attest_watch.c: the watch over this worker's attested
 * sessions: each is closed, with its upstream connection, when its
 * verdict expires, and when the worker is told to shut down (a reload
 * may have revoked the policy that admitted it), after which nothing
 * more is read from its client.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_stream_nitro_attest.h"


/* longest a timer is armed for: ngx_msec_t differences stay signed */
#define NGX_STREAM_NITRO_ATTEST_TIMER_MAX  (24 * 60 * 60 * 1000)

/* how often a worker looks whether it is shutting down (a reload) */
#define NGX_STREAM_NITRO_ATTEST_WATCH      200


/* an attested session of this worker, with its expiry timer */
typedef struct {
    ngx_event_t                     expiry;
    ngx_queue_t                     queue;
    ngx_stream_session_t           *session;
    ngx_recv_pt                     recv;       /* the connection's own */
    nitro_attest_verdict_t         *upstream;   /* of the last upstream */
} ngx_stream_nitro_attest_ctx_t;


static ssize_t ngx_stream_nitro_attest_recv(ngx_connection_t *c,
    u_char *buf, size_t size);
static void ngx_stream_nitro_attest_expire(ngx_event_t *ev);
static void ngx_stream_nitro_attest_close(ngx_stream_session_t *s);
static void ngx_stream_nitro_attest_arm(ngx_event_t *ev, int64_t expires);
static void ngx_stream_nitro_attest_disarm(void *data);
static void ngx_stream_nitro_attest_watch(ngx_event_t *ev);


/* this worker's attested sessions, and the watch over them */
static ngx_queue_t  ngx_stream_nitro_attest_sessions;
static ngx_event_t  ngx_stream_nitro_attest_watcher;


/* a worker starts with no attested session (its init_process) */

void
ngx_stream_nitro_attest_watch_init(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_stream_nitro_attest_sessions);

    ngx_stream_nitro_attest_watcher.handler = ngx_stream_nitro_attest_watch;
    ngx_stream_nitro_attest_watcher.log = cycle->log;
    ngx_stream_nitro_attest_watcher.cancelable = 1;
}


/*
 * An admitted session (v: its verdict) joins the watch: its expiry timer
 * is armed, and what its client sends is read through the check below.
 */

ngx_int_t
ngx_stream_nitro_attest_watch_session(ngx_stream_session_t *s,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v)
{
    ngx_connection_t               *c;
    ngx_pool_cleanup_t             *cln;
    ngx_stream_nitro_attest_ctx_t  *ctx;

    c = s->connection;

    ctx = ngx_pcalloc(c->pool, sizeof(ngx_stream_nitro_attest_ctx_t));
    cln = ngx_pool_cleanup_add(c->pool, 0);

    if (ctx == NULL || cln == NULL) {
        return NGX_STREAM_INTERNAL_SERVER_ERROR;
    }

    ngx_queue_init(&ctx->queue);

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
 * Where the verdict of the session's last upstream goes: the session's
 * context, made unwatched (its queue empty, no timer) when the session
 * was not admitted by attestation, so that the log phase finds it as one.
 */

nitro_attest_verdict_t **
ngx_stream_nitro_attest_upstream_slot(ngx_stream_session_t *s)
{
    ngx_stream_nitro_attest_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_stream_nitro_attest_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(s->connection->pool,
                          sizeof(ngx_stream_nitro_attest_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_queue_init(&ctx->queue);
        ngx_stream_set_ctx(s, ctx, ngx_stream_nitro_attest_module);
    }

    return &ctx->upstream;
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


ngx_int_t
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
