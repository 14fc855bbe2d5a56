
/*
 * ngx_nitro_attest_event_log.c: "nitro_attest_event_log" and
 * "nitro_attest_event_log_key": where the event of each verification goes
 * (files, syslog), in which format, with or without its evidence, and,
 * with a key, the hash chain each worker keeps per destination and the
 * signed checkpoints that seal it (on a timer, at reopen and at exit).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


/* room for a syslog PRI and HEADER: "<191>Jan 01 00:00:00 host tag: " */
#define NGX_NITRO_ATTEST_SYSLOG_HEAD                                          \
    (sizeof("<255>Jan 01 00:00:00 ") - 1 + NGX_MAXHOSTNAMELEN + 32 + 2)

/* the chain's keys: "chain", "seq" and "prev" */
#define NGX_NITRO_ATTEST_CHAIN_KEYS  (NITRO_ATTEST_CHAIN_ID_MAX + 128)

/*
 * The largest certificate whose evidence a line carries: as large as
 * OpenSSL takes from a peer (its default max_cert_list, 100 KB for the
 * whole chain), so that no peer can have its line go without evidence,
 * which an audit of the evidence could not tell from a forged line.
 */
#define NGX_NITRO_ATTEST_EVIDENCE_MAX  (100 * 1024)

/* the base64 of the evidence, a document as large as its certificate */
#define NGX_NITRO_ATTEST_EVIDENCE_TEXT                                        \
    (2 * 4 * ((NGX_NITRO_ATTEST_EVIDENCE_MAX + 2) / 3) + 64)

/* the largest UDP payload over IPv4: what one syslog message can carry */
#define NGX_NITRO_ATTEST_DATAGRAM_MAX  65507

/* a checkpoint at least every minute while a chain has unsealed lines */
#define NGX_NITRO_ATTEST_SEAL_EVERY  60000


/*
 * One destination of a block (a file, or a syslog server and its
 * parameters), however many servers write to it: each worker keeps one
 * chain per destination.
 */
typedef struct {
    ngx_str_t                       name;
    ngx_open_file_t                *file;
    ngx_syslog_peer_t              *syslog;
    ngx_uint_t                      index;
    ngx_nitro_attest_main_t        *nam;
    nitro_attest_chain_t            chain;     /* this worker's */

    /* the file's flush handler before ours (the other block's, say) */
    void                          (*flush)(ngx_open_file_t *file,
                                           ngx_log_t *log);
    void                           *flush_data;
} ngx_nitro_attest_dest_t;


/* one "nitro_attest_event_log" of a server */
typedef struct {
    ngx_nitro_attest_dest_t        *dest;
    unsigned                        evidence:1;
    unsigned                        ocsf:1;
} ngx_nitro_attest_log_t;


static ngx_nitro_attest_dest_t *ngx_nitro_attest_dest(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam, ngx_str_t *name, ngx_open_file_t *file);
static char *ngx_nitro_attest_event_params(ngx_conf_t *cf,
    ngx_nitro_attest_log_t *log);
static void ngx_nitro_attest_free_event_key(void *data);
static ngx_int_t ngx_nitro_attest_chain_init(ngx_cycle_t *cycle,
    ngx_nitro_attest_main_t *nam, ngx_nitro_attest_dest_t *dest);
static void ngx_nitro_attest_write_event(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    nitro_attest_where_t *where, X509 *cert);
static size_t ngx_nitro_attest_evidence(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, ngx_nitro_attest_dest_t *dest,
    X509 *cert, u_char *line, size_t len, size_t tail);
static void ngx_nitro_attest_send(ngx_log_t *log,
    ngx_nitro_attest_dest_t *dest, u_char *line, size_t len,
    ngx_uint_t severity);
static void ngx_nitro_attest_seal_timer(ngx_event_t *ev);
static void ngx_nitro_attest_seal(ngx_log_t *log,
    ngx_nitro_attest_dest_t *dest);
static void ngx_nitro_attest_reopen(ngx_open_file_t *file, ngx_log_t *log);


/*
 * A worker's line buffer, made at its start: room for a syslog header, the
 * event in either format, the chain's keys and, when a server of the block
 * logs evidence, the evidence and the certificate's DER it is read from.
 */
static u_char  *ngx_nitro_attest_line;
static size_t   ngx_nitro_attest_line_size;
static u_char  *ngx_nitro_attest_der;

/* when the master started (loaded its first configuration): chain ids */
static time_t   ngx_nitro_attest_master_start;


char *
ngx_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf, ngx_nitro_attest_main_t *nam)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t               *value;
    ngx_open_file_t         *file;
    ngx_nitro_attest_log_t  *log;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V off\"",
                               &value[2], &value[0]);
            return NGX_CONF_ERROR;
        }

        if (nascf->event_log != NGX_CONF_UNSET_PTR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V off\" must be the only \"%V\" "
                               "directive of its block", &value[0],
                               &value[0]);
            return NGX_CONF_ERROR;
        }

        nascf->event_log = NULL;
        return NGX_CONF_OK;
    }

    if (nascf->event_log == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V off\" must be the only \"%V\" "
                           "directive of its block", &value[0], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (nascf->event_log == NGX_CONF_UNSET_PTR) {
        nascf->event_log = NULL;
    }

    log = ngx_nitro_attest_push(cf, &nascf->event_log,
                                sizeof(ngx_nitro_attest_log_t));
    if (log == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(log, sizeof(ngx_nitro_attest_log_t));

    if (ngx_nitro_attest_event_params(cf, log) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (log->evidence) {
        nam->evidence = 1;
    }

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        log->dest = ngx_nitro_attest_dest(cf, nam, &value[1], NULL);
        if (log->dest == NULL) {
            return NGX_CONF_ERROR;
        }

        if (log->dest->syslog != NULL) {
            return NGX_CONF_OK;
        }

        log->dest->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
        if (log->dest->syslog == NULL) {
            return NGX_CONF_ERROR;
        }

        /* reads its parameters from value[1] itself */

        return ngx_syslog_process_conf(cf, log->dest->syslog);
    }

    if (value[1].len == 0 || ngx_strlchr(value[1].data,
                                          value[1].data + value[1].len, '$'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a file name without variables, "
                           "\"syslog:...\" or \"off\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (file == NULL) {
        return NGX_CONF_ERROR;
    }

    log->dest = ngx_nitro_attest_dest(cf, nam, &file->name, file);

    return log->dest != NULL ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/* "evidence" and "format=json|ocsf", after the destination */

static char *
ngx_nitro_attest_event_params(ngx_conf_t *cf, ngx_nitro_attest_log_t *log)
{
    ngx_str_t   *value;
    ngx_uint_t   i, format;

    value = cf->args->elts;
    format = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "evidence") == 0 && !log->evidence) {
            log->evidence = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "format=", 7) == 0 && !format) {
            format = 1;

            if (ngx_strcmp(value[i].data + 7, "ocsf") == 0) {
                log->ocsf = 1;
                continue;
            }

            if (ngx_strcmp(value[i].data + 7, "json") == 0) {
                continue;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\", expected "
                           "\"evidence\" or \"format=json|ocsf\", once each",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the block's destination of that name, made on first use */

static ngx_nitro_attest_dest_t *
ngx_nitro_attest_dest(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_str_t *name, ngx_open_file_t *file)
{
    ngx_uint_t                 i;
    ngx_nitro_attest_dest_t  **dests, *dest;

    dests = nam->event_dests.elts;

    for (i = 0; i < nam->event_dests.nelts; i++) {
        if (dests[i]->name.len == name->len
            && ngx_strncmp(dests[i]->name.data, name->data, name->len) == 0)
        {
            return dests[i];
        }
    }

    dest = ngx_pcalloc(cf->pool, sizeof(ngx_nitro_attest_dest_t));
    if (dest == NULL) {
        return NULL;
    }

    dests = ngx_array_push(&nam->event_dests);
    if (dests == NULL) {
        return NULL;
    }

    *dests = dest;

    dest->name = *name;
    dest->file = file;
    dest->index = nam->event_dests.nelts - 1;
    dest->nam = nam;

    return dest;
}


/*
 * nitro_attest_event_log_key FILE;: the Ed25519 key that signs the
 * checkpoints of the block's event logs; once given, their lines are
 * chained.
 */

char *
ngx_nitro_attest_event_log_key(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam)
{
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;
    u_char               err[NGX_NITRO_ATTEST_ERR_LEN];

    if (nam->event_key != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    nam->event_key = nitro_attest_token_key_load((char *) path.data,
                                                 (char *) err, sizeof(err));
    if (nam->event_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: %s", &value[0], err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_nitro_attest_free_event_key;
    cln->data = nam->event_key;

    if (ngx_strcmp(nitro_attest_token_key_alg(nam->event_key), "EdDSA")
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: \"%V\" is not an Ed25519 private key",
                           &value[0], &path);
        return NGX_CONF_ERROR;
    }

    if (ngx_nitro_attest_master_start == 0) {
        ngx_nitro_attest_master_start = ngx_time();
    }

    return NGX_CONF_OK;
}


static void
ngx_nitro_attest_free_event_key(void *data)
{
    nitro_attest_token_key_free(data);
}


/*
 * A worker starts: its line buffer, and, with a key, a new chain for each
 * destination, the checkpoint timer and the checkpoint at reopen.
 */

ngx_int_t
ngx_nitro_attest_event_log_init(ngx_cycle_t *cycle,
    ngx_nitro_attest_main_t *nam)
{
    size_t                     size;
    ngx_uint_t                 i;
    ngx_nitro_attest_dest_t  **dests;

    /* the cache manager and loader verify nobody */

    if (nam == NULL || nam->event_dests.nelts == 0
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    size = NGX_NITRO_ATTEST_SYSLOG_HEAD + NITRO_ATTEST_OCSF_MAX
           + NGX_NITRO_ATTEST_CHAIN_KEYS + 2;

    if (nam->evidence) {
        size += NGX_NITRO_ATTEST_EVIDENCE_TEXT;
    }

    /* in a static build http and stream share it: the larger need wins */

    /* the worker's cycle lasts as long as the worker */

    if (size > ngx_nitro_attest_line_size) {
        ngx_nitro_attest_line = ngx_palloc(cycle->pool, size);
        if (ngx_nitro_attest_line == NULL) {
            ngx_nitro_attest_line_size = 0;
            return NGX_ERROR;
        }

        ngx_nitro_attest_line_size = size;
    }

    if (nam->evidence && ngx_nitro_attest_der == NULL) {
        ngx_nitro_attest_der = ngx_palloc(cycle->pool,
                                          NGX_NITRO_ATTEST_EVIDENCE_MAX);
        if (ngx_nitro_attest_der == NULL) {
            return NGX_ERROR;
        }
    }

    if (nam->event_key == NULL) {
        return NGX_OK;
    }

    nam->seal.handler = ngx_nitro_attest_seal_timer;
    nam->seal.data = nam;
    nam->seal.log = cycle->log;
    nam->seal.cancelable = 1;

    dests = nam->event_dests.elts;

    for (i = 0; i < nam->event_dests.nelts; i++) {
        if (ngx_nitro_attest_chain_init(cycle, nam, dests[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A chain's id names its writer: the node, when the master started, the
 * worker (its pid, and a random number as pids come back), the block and
 * the destination.  The file's flush handler, which nginx calls before
 * it reopens the file, seals the chain in the file being rotated; the
 * handler it takes the place of (the other block's, when http and stream
 * write one file) runs after it.
 */

static ngx_int_t
ngx_nitro_attest_chain_init(ngx_cycle_t *cycle, ngx_nitro_attest_main_t *nam,
    ngx_nitro_attest_dest_t *dest)
{
    u_char      *p, *last;
    uint32_t     nonce;
    ngx_uint_t   i;
    u_char       id[NITRO_ATTEST_CHAIN_ID_MAX + 1];

    if (RAND_bytes((u_char *) &nonce, sizeof(nonce)) != 1) {
        ngx_ssl_error(NGX_LOG_ALERT, cycle->log, 0, "RAND_bytes() failed");
        return NGX_ERROR;
    }

    last = id + NITRO_ATTEST_CHAIN_ID_MAX;

    p = ngx_cpymem(id, cycle->hostname.data,
                   ngx_min(cycle->hostname.len, 64));

    for (i = 0; i < (ngx_uint_t) (p - id); i++) {
        if (!(isalnum(id[i]) || id[i] == '.' || id[i] == '-')) {
            id[i] = '_';
        }
    }

    p = ngx_slprintf(p, last, ":%T:%P-%08xD:%s%ui",
                     ngx_nitro_attest_master_start, ngx_pid, nonce,
                     nam->block, dest->index);
    *p = '\0';

    if (nitro_attest_chain_init(&dest->chain, (char *) id) != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "nitro_attest: invalid chain id \"%s\"", id);
        return NGX_ERROR;
    }

    if (dest->file != NULL) {
        dest->flush = dest->file->flush;
        dest->flush_data = dest->file->data;
        dest->file->flush = ngx_nitro_attest_reopen;
        dest->file->data = dest;
    }

    return NGX_OK;
}


/* a worker exits, after its last connection closed: every chain sealed */

void
ngx_nitro_attest_event_log_exit(ngx_nitro_attest_main_t *nam)
{
    ngx_uint_t                 i;
    ngx_nitro_attest_dest_t  **dests;

    if (nam == NULL || nam->event_key == NULL) {
        return;
    }

    dests = nam->event_dests.elts;

    for (i = 0; i < nam->event_dests.nelts; i++) {
        ngx_nitro_attest_seal(ngx_cycle->log, dests[i]);
    }

    if (nam->seal.timer_set) {
        ngx_del_timer(&nam->seal);
    }
}


/*
 * The event of a client's verification, to every destination of its
 * server; cert, the peer's certificate (or NULL), is read for the
 * evidence only.
 */

void
ngx_nitro_attest_event(ngx_log_t *log, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    X509 *cert)
{
    nitro_attest_where_t  where;

    if (nascf->event_log == NULL) {
        return;
    }

    ngx_nitro_attest_client_where(&where, addr, nascf);
    ngx_nitro_attest_write_event(log, nascf, v, &where, cert);
}


/*
 * An event of another direction (an upstream's) to every destination of
 * the server nascf, where says where; cert is the peer's certificate.
 */

void
ngx_nitro_attest_event_where(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    nitro_attest_where_t *where, X509 *cert)
{
    if (nascf->event_log == NULL) {
        return;
    }

    ngx_nitro_attest_write_event(log, nascf, v, where, cert);
}


/*
 * Where a client was verified, for its event: its address, the name of
 * the server it was verified for (http; null in stream, whose servers have
 * no name), and this node's host name ($hostname).
 */

void
ngx_nitro_attest_client_where(nitro_attest_where_t *where, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf)
{
    where->direction = "client";
    where->client_addr.data = (const char *) addr->data;
    where->client_addr.len = addr->len;

    if (nascf->main->protocol == NGX_NITRO_ATTEST_HTTP) {
        where->server_name.data = nascf->server_name.data
                                  ? (const char *) nascf->server_name.data
                                  : "";
        where->server_name.len = nascf->server_name.len;

    } else {
        where->server_name.data = NULL;
        where->server_name.len = 0;
    }

    where->host.data = (const char *) ngx_cycle->hostname.data;
    where->host.len = ngx_cycle->hostname.len;
    where->upstream_addr.data = NULL;
    where->upstream_addr.len = 0;
}


/*
 * The event of a verification, one line per destination, in its format,
 * with its evidence, linked into the worker's chain for it: files get it
 * with a newline, syslog with its header and the event's severity.
 * Rendered into the worker's buffer: it is written from the handshake and
 * from connection cleanups, where nothing should be allocated.
 */

static void
ngx_nitro_attest_write_event(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    nitro_attest_where_t *where, X509 *cert)
{
    u_char                   *line;
    size_t                    len, size, tail, n;
    ngx_uint_t                i, severity;
    const char               *level;
    ngx_nitro_attest_log_t   *dest;
    ngx_nitro_attest_main_t  *nam;

    if (ngx_nitro_attest_line == NULL) {
        return;
    }

    nam = nascf->main;
    line = ngx_nitro_attest_line + NGX_NITRO_ATTEST_SYSLOG_HEAD;
    size = ngx_nitro_attest_line_size - NGX_NITRO_ATTEST_SYSLOG_HEAD - 1;

    /* syslog severities: crit, warning, info */

    level = nitro_attest_severity(v);
    severity = level[0] == 'C' ? 2 : (level[0] == 'W' ? 4 : 6);

    dest = nascf->event_log->elts;

    for (i = 0; i < nascf->event_log->nelts; i++) {

        if (dest[i].ocsf) {
            len = nitro_attest_event_render_ocsf(v, where,
                                                 NGX_NITRO_ATTEST_VERSION,
                                                 (char *) line,
                                                 NITRO_ATTEST_OCSF_MAX + 1);
            tail = 2;

        } else {
            len = nitro_attest_event_render(v, where, (char *) line,
                                            NITRO_ATTEST_EVENT_MAX + 1);
            tail = 1;
        }

        if (dest[i].evidence) {
            len = ngx_nitro_attest_evidence(log, nascf, dest[i].dest, cert,
                                            line, len, tail);
        }

        if (nam->event_key != NULL) {
            n = nitro_attest_chain_link(&dest[i].dest->chain, (char *) line,
                                        len, size, tail);
            if (n == 0) {
                ngx_log_error(NGX_LOG_ALERT, log, 0,
                              "nitro_attest: event too long to chain");
                continue;
            }

            len = n;

            if (!nam->seal.timer_set) {
                ngx_add_timer(&nam->seal, NGX_NITRO_ATTEST_SEAL_EVERY);
            }
        }

        ngx_nitro_attest_send(log, dest[i].dest, line, len, severity);
    }
}


/*
 * The evidence of the event at line: the document as the certificate
 * carried it and the certificate's DER, each null when absent or too
 * large to carry.  A syslog message is one UDP datagram: evidence that
 * would not fit one is left out, as a line that cannot be sent would be
 * a gap in its chain.
 */

static size_t
ngx_nitro_attest_evidence(ngx_log_t *log, ngx_nitro_attest_srv_conf_t *nascf,
    ngx_nitro_attest_dest_t *dest, X509 *cert, u_char *line, size_t len,
    size_t tail)
{
    int             der_len;
    size_t          size, doc_len, n;
    u_char         *der, *p;
    const uint8_t  *doc;

    size = ngx_nitro_attest_line_size - NGX_NITRO_ATTEST_SYSLOG_HEAD
           - NGX_NITRO_ATTEST_CHAIN_KEYS - 1;

    if (dest->syslog != NULL) {
        size = ngx_min(size, NGX_NITRO_ATTEST_DATAGRAM_MAX
                             - NGX_NITRO_ATTEST_SYSLOG_HEAD
                             - NGX_NITRO_ATTEST_CHAIN_KEYS);
    }

    doc = NULL;
    doc_len = 0;
    der = NULL;
    der_len = 0;

    if (cert != NULL) {
        if (nitro_attest_cert_document(nascf->extension, cert, &doc,
                                       &doc_len)
            != NITRO_ATTEST_OK)
        {
            doc = NULL;
            doc_len = 0;
        }

        der_len = i2d_X509(cert, NULL);

        if (der_len > 0 && der_len <= NGX_NITRO_ATTEST_EVIDENCE_MAX) {
            der = ngx_nitro_attest_der;
            p = der;
            der_len = i2d_X509(cert, &p);
        }

        if (der_len <= 0 || der == NULL) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "nitro_attest: certificate of %d bytes too large "
                          "for the evidence", der_len);
            der = NULL;
            der_len = 0;
            ERR_clear_error();
        }
    }

    n = nitro_attest_event_evidence((char *) line, len, size, tail, doc,
                                    doc_len, der, (size_t) der_len);
    if (n == 0) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "nitro_attest: evidence of %uz bytes too large for "
                      "the line to \"%V\", left out",
                      doc_len + (size_t) der_len, &dest->name);

        n = nitro_attest_event_evidence((char *) line, len, size, tail, NULL,
                                        0, NULL, 0);
    }

    return n != 0 ? n : len;
}


/* one line as written: a single write(), so workers' lines never mix */

static void
ngx_nitro_attest_send(ngx_log_t *log, ngx_nitro_attest_dest_t *dest,
    u_char *line, size_t len, ngx_uint_t severity)
{
    u_char   *p, *start;
    ssize_t   n;
    u_char    head[NGX_NITRO_ATTEST_SYSLOG_HEAD];

    if (dest->file != NULL) {
        line[len] = LF;
        n = ngx_write_fd(dest->file->fd, line, len + 1);

        if (n != (ssize_t) len + 1) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          ngx_write_fd_n " to \"%V\" failed",
                          &dest->file->name);
        }

        return;
    }

    dest->syslog->severity = severity;

    p = ngx_syslog_add_header(dest->syslog, head);
    start = line - (p - head);
    ngx_memcpy(start, head, p - head);

    n = ngx_syslog_send(dest->syslog, start, line + len - start);

    if (n == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "nitro_attest: send() to syslog failed");
    }
}


/* at most a minute after the first line a checkpoint has not sealed */

static void
ngx_nitro_attest_seal_timer(ngx_event_t *ev)
{
    ngx_uint_t                 i;
    ngx_nitro_attest_dest_t  **dests;
    ngx_nitro_attest_main_t   *nam;

    nam = ev->data;
    dests = nam->event_dests.elts;

    for (i = 0; i < nam->event_dests.nelts; i++) {
        ngx_nitro_attest_seal(ev->log, dests[i]);
    }
}


/*
 * nginx is about to reopen the file, or the worker exits: the chain
 * sealed in it, then whoever else writes to it flushed.
 */

static void
ngx_nitro_attest_reopen(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_nitro_attest_dest_t  *dest;

    dest = file->data;

    ngx_nitro_attest_seal(log, dest);

    if (dest->flush != NULL) {
        file->data = dest->flush_data;
        dest->flush(file, log);
        file->data = dest;
    }
}


/* a checkpoint for a chain with lines no checkpoint sealed yet */

static void
ngx_nitro_attest_seal(ngx_log_t *log, ngx_nitro_attest_dest_t *dest)
{
    u_char                   *line;
    size_t                    len;
    ngx_nitro_attest_main_t  *nam;

    nam = dest->nam;

    if (dest->chain.unsealed == 0 || nam->event_key == NULL
        || ngx_nitro_attest_line == NULL)
    {
        return;
    }

    line = ngx_nitro_attest_line + NGX_NITRO_ATTEST_SYSLOG_HEAD;

    len = nitro_attest_chain_checkpoint(&dest->chain, nam->event_key,
                                        ngx_nitro_attest_now(),
                                        (char *) line,
                                        NITRO_ATTEST_CHECKPOINT_MAX);
    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "nitro_attest: event log checkpoint not signed");
        ERR_clear_error();
        return;
    }

    ngx_nitro_attest_send(log, dest, line, len, 6);
}
