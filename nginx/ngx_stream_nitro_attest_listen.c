
/*
 * ngx_stream_nitro_attest_listen.c: where a stream server has a "listen"
 * without "ssl", and the warning nginx -t gives when that server attests.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_stream_nitro_attest.h"


typedef char *(*ngx_stream_nitro_attest_set_pt)(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static char *ngx_stream_nitro_attest_listen(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* ngx_stream_core_module's "listen" and its own handler, while wrapped */
static ngx_command_t                   *ngx_stream_nitro_attest_listen_cmd;
static ngx_stream_nitro_attest_set_pt   ngx_stream_nitro_attest_listen_next;


/*
 * A plaintext "listen" of an attesting server gets a warning that names
 * its file and line, but nginx keeps neither for a stream "listen" (1.22
 * to 1.26).  So, while the stream block is parsed, and only then, the
 * "listen" command of ngx_stream_core_module runs through a wrapper that
 * calls nginx's own handler, then notes where a "listen" without "ssl"
 * is (the same "ssl" token nginx's handler looks for).
 *
 * Why it is safe: the configuration is parsed by one thread, in the
 * master or in "nginx -t", and the wrapper is in place only from this
 * block's preconfiguration to its postconfiguration.  Both
 * ngx_stream_module.so and this module are dynamic, and a later cycle may
 * load neither, so the command table of the one must never keep a
 * pointer into the other past this block: the postconfiguration puts
 * nginx's handler back, and so does a cleanup of the cycle's pool when
 * the block fails before its postconfiguration (the cycle is then
 * destroyed).  That cleanup is registered after the "load_module"
 * lines, so it runs before their unloading, while both modules are still
 * mapped; it restores only its own wrapper.
 */

ngx_int_t
ngx_stream_nitro_attest_hook_listen(ngx_conf_t *cf)
{
    ngx_command_t       *cmd;
    ngx_pool_cleanup_t  *cln;

    for (cmd = ngx_stream_core_module.commands; cmd->name.len; cmd++) {
        if (cmd->name.len == sizeof("listen") - 1
            && ngx_strncmp(cmd->name.data, "listen", cmd->name.len) == 0)
        {
            break;
        }
    }

    /* never wrapped twice: the wrapper would call itself */

    if (cmd->name.len == 0 || cmd->set == ngx_stream_nitro_attest_listen) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_stream_nitro_attest_unhook_listen;

    ngx_stream_nitro_attest_listen_cmd = cmd;
    ngx_stream_nitro_attest_listen_next = cmd->set;
    cmd->set = ngx_stream_nitro_attest_listen;

    return NGX_OK;
}


void
ngx_stream_nitro_attest_unhook_listen(void *data)
{
    ngx_command_t  *cmd;

    cmd = ngx_stream_nitro_attest_listen_cmd;

    if (cmd != NULL && cmd->set == ngx_stream_nitro_attest_listen) {
        cmd->set = ngx_stream_nitro_attest_listen_next;
    }
}


static char *
ngx_stream_nitro_attest_listen(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                                *rv;
    ngx_str_t                           *value;
    ngx_uint_t                           i;
    ngx_stream_nitro_attest_srv_conf_t  *sscf;

    rv = ngx_stream_nitro_attest_listen_next(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "ssl") == 0) {
            return NGX_CONF_OK;
        }
    }

    sscf = ngx_stream_conf_get_module_srv_conf(cf,
                                               ngx_stream_nitro_attest_module);

    return ngx_nitro_attest_note(cf, &sscf->plaintext);
}


/* a "listen" without "ssl" of an attesting server: what becomes of it */

void
ngx_stream_nitro_attest_plaintext(ngx_conf_t *cf,
    ngx_stream_nitro_attest_srv_conf_t *sscf)
{
    ngx_uint_t                 i;
    ngx_nitro_attest_where_t  *ls;

    if (sscf->plaintext == NULL) {
        return;
    }

    ls = sscf->plaintext->elts;

    for (i = 0; i < sscf->plaintext->nelts; i++) {
        if (sscf->attest.enable == NGX_NITRO_ATTEST_ON) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"listen\" without \"ssl\" in %s:%ui, in a "
                          "stream server with \"nitro_attest on\": a "
                          "connection without TLS there is closed, never "
                          "proxied", ls[i].file, ls[i].line);

        } else {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"listen\" without \"ssl\" in %s:%ui, in a "
                          "stream server with \"nitro_attest optional\": a "
                          "connection without TLS there is served "
                          "unattested (status NONE)", ls[i].file, ls[i].line);
        }
    }
}
