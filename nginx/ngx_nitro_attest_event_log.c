
/*
 * ngx_nitro_attest_event_log.c: "nitro_attest_event_log": where the JSON
 * event of each verification goes (files, syslog), and the line written
 * there.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


/* room for a syslog PRI and HEADER: "<191>Jan 01 00:00:00 host tag: " */
#define NGX_NITRO_ATTEST_SYSLOG_HEAD                                          \
    (sizeof("<255>Jan 01 00:00:00 ") - 1 + NGX_MAXHOSTNAMELEN + 32 + 2)


/* one destination of "nitro_attest_event_log" */
typedef struct {
    ngx_open_file_t                *file;
    ngx_syslog_peer_t              *syslog;
} ngx_nitro_attest_log_t;


static void ngx_nitro_attest_write_event(ngx_log_t *log,
    ngx_array_t *targets, nitro_attest_verdict_t *v,
    nitro_attest_where_t *where);


char *
ngx_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t                    *value;
    ngx_nitro_attest_log_t  *log;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
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

    if (ngx_strncmp(value[1].data, "syslog:", 7) == 0) {
        log->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
        if (log->syslog == NULL) {
            return NGX_CONF_ERROR;
        }

        /* reads its parameters from cf->args itself */

        if (ngx_syslog_process_conf(cf, log->syslog) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
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

    log->file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (log->file == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the event of a client's verification, to every destination of its server */

void
ngx_nitro_attest_event(ngx_log_t *log, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v)
{
    nitro_attest_where_t  where;

    if (nascf->event_log == NULL) {
        return;
    }

    ngx_nitro_attest_client_where(&where, addr, nascf);
    ngx_nitro_attest_write_event(log, nascf->event_log, v, &where);
}


/* an event of another direction (an upstream's), where says where */

void
ngx_nitro_attest_event_where(ngx_log_t *log, ngx_array_t *targets,
    nitro_attest_verdict_t *v, nitro_attest_where_t *where)
{
    ngx_nitro_attest_write_event(log, targets, v, where);
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
 * The JSON event of a verification, one line per destination: files get
 * it with a newline, syslog with its header and the event's severity.  Rendered into
 * a worker buffer: it is written from the handshake and from connection
 * cleanups, where nothing should be allocated.
 */

static void
ngx_nitro_attest_write_event(ngx_log_t *log, ngx_array_t *targets,
    nitro_attest_verdict_t *v, nitro_attest_where_t *where)
{
    u_char                  *line, *start, *p;
    size_t                   len;
    ssize_t                  n;
    ngx_uint_t               i, severity;
    const char              *level;
    ngx_nitro_attest_log_t  *dest;
    u_char                   head[NGX_NITRO_ATTEST_SYSLOG_HEAD];

    static u_char  buf[NGX_NITRO_ATTEST_SYSLOG_HEAD
                       + NITRO_ATTEST_EVENT_MAX + 2];

    line = buf + NGX_NITRO_ATTEST_SYSLOG_HEAD;
    len = nitro_attest_event_render(v, where, (char *) line,
                                    NITRO_ATTEST_EVENT_MAX + 1);
    line[len] = LF;

    /* syslog severities: crit, warning, info */

    level = nitro_attest_severity(v);
    severity = level[0] == 'C' ? 2 : (level[0] == 'W' ? 4 : 6);

    dest = targets->elts;

    for (i = 0; i < targets->nelts; i++) {

        if (dest[i].file) {
            n = ngx_write_fd(dest[i].file->fd, line, len + 1);

            if (n != (ssize_t) len + 1) {
                ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                              ngx_write_fd_n " to \"%V\" failed",
                              &dest[i].file->name);
            }

            continue;
        }

        dest[i].syslog->severity = severity;

        p = ngx_syslog_add_header(dest[i].syslog, head);
        start = line - (p - head);
        ngx_memcpy(start, head, p - head);

        n = ngx_syslog_send(dest[i].syslog, start, line + len - start);

        if (n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "nitro_attest: send() to syslog failed");
        }
    }
}
