
/*
 * ngx_nitro_attest_util.c: what every file of the shared layer builds on:
 * the time of now and whether this worker is retiring, the SSL indexes,
 * where a directive that only an attesting server uses is written and the
 * warning nginx -t gives when it has no effect there, and the
 * "zone=NAME:SIZE" of the shared zones.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


/* the time of now in milliseconds, as the core takes it */

int64_t
ngx_nitro_attest_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
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


/* an SSL object's ex_data index, made once per process */

ngx_int_t
ngx_nitro_attest_ssl_index(ngx_conf_t *cf, int *index)
{
    if (*index != -1) {
        return NGX_OK;
    }

    *index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);

    if (*index == -1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: SSL_get_ex_new_index() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an SSL_CTX's ex_data index, made once per process */

ngx_int_t
ngx_nitro_attest_ssl_ctx_index(ngx_conf_t *cf, int *index)
{
    if (*index != -1) {
        return NGX_OK;
    }

    *index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);

    if (*index == -1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: SSL_CTX_get_ex_new_index() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Notes where the directive being read is written, for a directive that
 * only an attesting server uses: nginx -t warns about it where nothing is
 * verified.  "nitro_attest_event_log" is not noted: it names where events
 * go, not how a client is verified.
 */

char *
ngx_nitro_attest_written(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *nascf)
{
    return ngx_nitro_attest_note(cf, &nascf->written);
}


/*
 * Notes the directive being read, its name, file and line, in *where
 * (ngx_nitro_attest_where_t, made on first use): nginx keeps neither
 * file nor line, and a warning of nginx -t names them later.
 */

char *
ngx_nitro_attest_note(ngx_conf_t *cf, ngx_array_t **where)
{
    ngx_str_t                 *value;
    ngx_nitro_attest_where_t  *w;

    w = ngx_nitro_attest_push(cf, where, sizeof(ngx_nitro_attest_where_t));
    if (w == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    w->name = value[0];
    w->file = cf->conf_file->file.name.data;
    w->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* a new element of *array, which is made on first use */

void *
ngx_nitro_attest_push(ngx_conf_t *cf, ngx_array_t **array, size_t size)
{
    if (*array == NULL) {
        *array = ngx_array_create(cf->pool, 2, size);
        if (*array == NULL) {
            return NULL;
        }
    }

    return ngx_array_push(*array);
}


/*
 * The directives written at the level of the protocol block: shared
 * settings, which mean something as long as one server attests.  Those
 * of a server block are checked against its own "nitro_attest" by the
 * merge, so that a block-wide setting inherited by servers that do not
 * attest warns nobody.
 */

void
ngx_nitro_attest_unused(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_nitro_attest_srv_conf_t *nascf)
{
    u_char  why[80];

    if (nam->attesting) {
        return;
    }

    *ngx_snprintf(why, sizeof(why) - 1, "no server of the %s block has "
                  "\"nitro_attest on\" or \"optional\"", nam->block) = '\0';

    ngx_nitro_attest_warn_unused(cf, nascf->written, why);
}


/* every directive noted in written has no effect, for the reason why */

void
ngx_nitro_attest_warn_unused(ngx_conf_t *cf, ngx_array_t *written,
    u_char *why)
{
    ngx_uint_t                 i;
    ngx_nitro_attest_where_t  *w;

    if (written == NULL) {
        return;
    }

    w = written->elts;

    for (i = 0; i < written->nelts; i++) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"%V\" in %s:%ui has no effect: %s, nothing is "
                      "verified there", &w[i].name, w[i].file, w[i].line,
                      why);
    }
}


/*
 * "zone=NAME:SIZE" of nitro_attest_cache and nitro_attest_inventory (the
 * second argument; "off" is the caller's): a name that is not the counters
 * zone's and a size of at least 8 pages, as nginx's own zones want.
 */

ngx_int_t
ngx_nitro_attest_zone_value(ngx_conf_t *cf, ngx_str_t *name, ssize_t *size)
{
    u_char     *p;
    ngx_str_t  *value, s;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        goto invalid;
    }

    name->data = value[1].data + 5;
    p = (u_char *) ngx_strchr(name->data, ':');

    if (p == NULL) {
        goto invalid;
    }

    name->len = p - name->data;
    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;
    *size = ngx_parse_size(&s);

    if (name->len == 0 || *size == NGX_ERROR) {
        goto invalid;
    }

    if (name->len == sizeof(NGX_NITRO_ATTEST_COUNTERS) - 1
        && ngx_strncmp(name->data, NGX_NITRO_ATTEST_COUNTERS, name->len)
           == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"%V\" of \"%V\" is reserved for the "
                           "counters of \"nitro_attest_status\", choose "
                           "another", name, &value[0]);
        return NGX_ERROR;
    }

    if (name->len == sizeof(NGX_NITRO_ATTEST_ROLLBACKS) - 1
        && ngx_strncmp(name->data, NGX_NITRO_ATTEST_ROLLBACKS, name->len)
           == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"%V\" of \"%V\" is reserved for the "
                           "rollback table, choose another", name, &value[0]);
        return NGX_ERROR;
    }

    if (*size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" of \"%V\" is too small, it must "
                           "be at least %uzk", name, &value[0],
                           8 * ngx_pagesize / 1024);
        return NGX_ERROR;
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be \"zone=NAME:SIZE\" or \"off\"",
                       &value[1], &value[0]);
    return NGX_ERROR;
}
