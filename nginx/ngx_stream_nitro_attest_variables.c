
/*
 * ngx_stream_nitro_attest_variables.c: the stream variables: the shared
 * getters (nginx/ngx_nitro_attest_variables.c) over the verdict of the
 * session's connection, as its server sees it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_stream_nitro_attest.h"


static nitro_attest_verdict_t *ngx_stream_nitro_attest_verdict(
    ngx_stream_session_t *s);
static ngx_int_t ngx_stream_nitro_attest_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_stream_nitro_attest_prefix_variable(
    ngx_stream_session_t *s, ngx_stream_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_stream_nitro_attest_json_variable(
    ngx_stream_session_t *s, ngx_stream_variable_value_t *v, uintptr_t data);


/* the event says where: it needs the session's connection and server */
static ngx_str_t  ngx_stream_nitro_attest_json_name =
    ngx_string("nitro_attest_json");


ngx_int_t
ngx_stream_nitro_attest_add_variables(ngx_conf_t *cf)
{
    ngx_nitro_attest_var_t   *v;
    ngx_stream_variable_t    *var;

    for (v = ngx_nitro_attest_vars; v->name.len; v++) {
        var = ngx_stream_add_variable(cf, &v->name,
                                      v->prefix ? NGX_STREAM_VAR_PREFIX : 0);
        if (var == NULL) {
            return NGX_ERROR;
        }

        if (v->prefix) {
            /* nginx hands a prefix variable's handler the full name */
            var->get_handler = ngx_stream_nitro_attest_prefix_variable;
            continue;
        }

        var->get_handler = ngx_stream_nitro_attest_variable;
        var->data = (uintptr_t) v;
    }

    var = ngx_stream_add_variable(cf, &ngx_stream_nitro_attest_json_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_stream_nitro_attest_json_variable;

    return ngx_stream_nitro_attest_proxy_add_variables(cf);
}


/* the verdict of the session's connection, as its server sees it */

static nitro_attest_verdict_t *
ngx_stream_nitro_attest_verdict(ngx_stream_session_t *s)
{
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);

    return ngx_nitro_attest_verdict(nascf, s->connection);
}


static ngx_int_t
ngx_stream_nitro_attest_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_variable(s->connection->pool,
                                     ngx_stream_nitro_attest_verdict(s), v,
                                     (ngx_nitro_attest_var_t *) data);
}


static ngx_int_t
ngx_stream_nitro_attest_prefix_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    return ngx_nitro_attest_prefix_variable(s->connection->pool,
                                            ngx_stream_nitro_attest_verdict(s),
                                            v, (ngx_str_t *) data);
}


static ngx_int_t
ngx_stream_nitro_attest_json_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_stream_get_module_srv_conf(s, ngx_stream_nitro_attest_module);

    return ngx_nitro_attest_json_value(s->connection->pool,
                                       ngx_stream_nitro_attest_verdict(s),
                                       &s->connection->addr_text, nascf, v);
}
