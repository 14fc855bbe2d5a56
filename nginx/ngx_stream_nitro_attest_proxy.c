
/*
 * ngx_stream_nitro_attest_proxy.c: the enclave behind nginx, the stream
 * face.  Each server's "nitro_attest_proxy_*" settings, the hook on the
 * upstream SSL_CTX of the stream proxy module ("proxy_ssl on"), whose
 * server configuration is private: where its SSL_CTX and session flag lie
 * is read from its own directive table at load time, and nginx refuses to
 * start when that reading does not hold; the $nitro_attest_proxy_*
 * variables of the session.  The verification itself is the shared
 * layer's (nginx/ngx_nitro_attest_proxy.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_stream_nitro_attest.h"


static ngx_int_t ngx_stream_nitro_attest_proxy_offset(ngx_conf_t *cf,
    const char *name, ngx_uint_t *offset);
static ngx_int_t ngx_stream_nitro_attest_proxy_peer(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer);
static nitro_attest_verdict_t *ngx_stream_nitro_attest_proxy_last(
    ngx_stream_session_t *s);
static ngx_int_t ngx_stream_nitro_attest_proxy_variable(
    ngx_stream_session_t *s, ngx_stream_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_stream_nitro_attest_proxy_prefix_variable(
    ngx_stream_session_t *s, ngx_stream_variable_value_t *v, uintptr_t data);


/* the stream proxy: nginx exports it, its configuration is private */
extern ngx_module_t  ngx_stream_proxy_module;


/* nitro_attest_proxy_*: read into the server's proxy settings */

char *
ngx_stream_nitro_attest_proxy_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_nitro_attest_srv_conf_t *sscf = conf;

    return ngx_nitro_attest_proxy_directive(cf, cmd, &sscf->proxy,
                                 ngx_stream_conf_get_module_main_conf(cf,
                                              ngx_stream_nitro_attest_module));
}


/*
 * A server's proxy settings merged.  Where it verifies, its upstream
 * SSL_CTX gets the hook and its upstream sessions are not reused: nginx
 * saves them per upstream address, and a resumed session skips the
 * certificate.  In ngx_stream_proxy_srv_conf_t, "ssl_session_reuse"
 * follows "ssl_enable", and the SSL_CTX ("ngx_ssl_t *ssl") follows
 * "ssl_conf_commands", then what "proxy_pass" sets (the upstream, or its
 * value with variables), in every nginx this module builds with.  A
 * server that proxies without TLS is not verified: nginx -t says so.
 */

char *
ngx_stream_nitro_attest_proxy_merge(ngx_conf_t *cf,
    ngx_stream_nitro_attest_srv_conf_t *prev,
    ngx_stream_nitro_attest_srv_conf_t *conf)
{
    void                    **pass;
    u_char                   *pscf;
    ngx_ssl_t                *ssl;
    ngx_uint_t                enable, reuse, commands;
    ngx_nitro_attest_main_t  *nam;

    nam = ngx_stream_conf_get_module_main_conf(cf,
                                               ngx_stream_nitro_attest_module);

    if (ngx_nitro_attest_proxy_merge(cf, &prev->proxy, &conf->proxy, nam)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->proxy.enable == NGX_NITRO_ATTEST_OFF) {
        return NGX_CONF_OK;
    }

    if (ngx_stream_nitro_attest_proxy_offset(cf, "proxy_ssl", &enable)
           != NGX_OK
        || ngx_stream_nitro_attest_proxy_offset(cf, "proxy_ssl_session_reuse",
                                                &reuse)
           != NGX_OK
        || ngx_stream_nitro_attest_proxy_offset(cf, "proxy_ssl_conf_command",
                                                &commands)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (reuse != enable + sizeof(ngx_flag_t)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest_proxy_verify: the stream proxy "
                      "configuration of this nginx is not laid out as "
                      "this module was built to find it");
        return NGX_CONF_ERROR;
    }

    pscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_proxy_module);
    ssl = *(ngx_ssl_t **) (pscf + commands + sizeof(ngx_array_t *));
    pass = (void **) (pscf + commands + sizeof(ngx_array_t *)
                      + sizeof(ngx_ssl_t *));

    if (!*(ngx_flag_t *) (pscf + enable)) {

        if (pass[0] != NULL || pass[1] != NULL) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"nitro_attest_proxy_verify on\" in %s:%ui "
                          "applies to a server without \"proxy_ssl on\": "
                          "its upstream is not verified",
                          conf->proxy.file, conf->proxy.line);
        }

        return NGX_CONF_OK;
    }

    if (ssl == NULL || ssl->ctx == NULL) {
        return NGX_CONF_OK;
    }

    *(ngx_flag_t *) (pscf + reuse) = 0;

    if (ngx_nitro_attest_proxy_attach(cf, ssl->ctx,
                                      ngx_stream_nitro_attest_proxy_peer)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the offset of a stream proxy directive's field, from its command */

static ngx_int_t
ngx_stream_nitro_attest_proxy_offset(ngx_conf_t *cf, const char *name,
    ngx_uint_t *offset)
{
    size_t          len;
    ngx_command_t  *cmd;

    len = ngx_strlen(name);

    for (cmd = ngx_stream_proxy_module.commands; cmd->name.len; cmd++) {
        if (cmd->name.len == len
            && ngx_strncmp(cmd->name.data, name, len) == 0
            && cmd->conf == NGX_STREAM_SRV_CONF_OFFSET)
        {
            *offset = cmd->offset;
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "nitro_attest_proxy_verify: this nginx's stream proxy "
                  "has no \"%s\" directive", name);

    return NGX_ERROR;
}


/*
 * An upstream connection of the stream proxy serves the session in its
 * data: that session's server says what is verified.
 */

static ngx_int_t
ngx_stream_nitro_attest_proxy_peer(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer)
{
    ngx_stream_session_t                *s;
    ngx_stream_nitro_attest_srv_conf_t  *sscf;

    s = c->data;
    sscf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);

    peer->last = ngx_stream_nitro_attest_upstream_slot(s);

    if (peer->last == NULL) {
        return NGX_ERROR;
    }

    peer->conf = &sscf->proxy;
    peer->server = &sscf->attest;
    peer->client_addr = &s->connection->addr_text;
    peer->sockaddr = s->upstream->peer.sockaddr;
    peer->socklen = s->upstream->peer.socklen;
    peer->pc = &s->upstream->peer;
    peer->pool = s->connection->pool;

    return NGX_OK;
}


/* $nitro_attest_proxy_*: the client side's getters, the session's upstream */

ngx_int_t
ngx_stream_nitro_attest_proxy_add_variables(ngx_conf_t *cf)
{
    ngx_str_t               *name;
    ngx_uint_t               flags;
    ngx_stream_variable_t   *var;
    ngx_nitro_attest_var_t  *v;

    for (name = ngx_nitro_attest_proxy_vars; name->len; name++) {
        v = ngx_nitro_attest_proxy_var(name);
        flags = NGX_STREAM_VAR_NOCACHEABLE
                | (v->prefix ? NGX_STREAM_VAR_PREFIX : 0);

        var = ngx_stream_add_variable(cf, name, flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->prefix
                           ? ngx_stream_nitro_attest_proxy_prefix_variable
                           : ngx_stream_nitro_attest_proxy_variable;
        var->data = (uintptr_t) v;
    }

    return NGX_OK;
}


static nitro_attest_verdict_t *
ngx_stream_nitro_attest_proxy_last(ngx_stream_session_t *s)
{
    nitro_attest_verdict_t  **last;

    last = ngx_stream_nitro_attest_upstream_slot(s);

    return ngx_nitro_attest_proxy_verdict(last ? *last : NULL);
}


static ngx_int_t
ngx_stream_nitro_attest_proxy_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_variable(s->connection->pool,
                                     ngx_stream_nitro_attest_proxy_last(s), v,
                                     (ngx_nitro_attest_var_t *) data);
}


/* nginx hands a prefix variable's handler the full name */

static ngx_int_t
ngx_stream_nitro_attest_proxy_prefix_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_proxy_prefix_variable(s->connection->pool,
                                        ngx_stream_nitro_attest_proxy_last(s),
                                        v, (ngx_str_t *) data);
}
