
/*
 * ngx_nitro_attest_conf.c: the per-server attestation configuration of
 * both protocols: the directives that are no one feature's (the mode,
 * binding, extension, times), a block's and a server's configuration and
 * its merge, and the postconfiguration steps both faces share, which put
 * the layer's files together.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


static void ngx_nitro_attest_free_extension(void *data);


ngx_conf_enum_t  ngx_nitro_attest_modes[] = {
    { ngx_string("off"), NGX_NITRO_ATTEST_OFF },
    { ngx_string("on"), NGX_NITRO_ATTEST_ON },
    { ngx_string("optional"), NGX_NITRO_ATTEST_OPTIONAL },
    { ngx_null_string, 0 }
};


char *
ngx_nitro_attest_set_mode(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    char  *rv;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        nascf->file = cf->conf_file->file.name.data;
        nascf->line = cf->conf_file->line;
    }

    return rv;
}


char *
ngx_nitro_attest_binding(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t               *value;
    nitro_attest_binding_e   binding;

    if (nascf->binding != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (nitro_attest_binding_parse((char *) value[1].data, &binding) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"public_key\", \"user_data_spki\", "
                           "\"user_data_sha256\" or \"user_data_sha384\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    nascf->binding = binding;

    return ngx_nitro_attest_written(cf, nascf);
}


char *
ngx_nitro_attest_extension(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    char                   err[NGX_NITRO_ATTEST_ERR_LEN];
    ngx_str_t             *value;
    ngx_pool_cleanup_t    *cln;
    nitro_attest_format_e  format;

    if (nascf->extension != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    format = NITRO_ATTEST_FORMAT_CMW;

    if (cf->args->nelts == 3
        && nitro_attest_format_parse((char *) value[2].data, &format) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"cmw\" or \"raw\"",
                           &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';

    nascf->extension = nitro_attest_extension_new((char *) value[1].data,
                                                  format, err, sizeof(err));
    if (nascf->extension == NULL) {
        if (err[0] == '\0') {
            ngx_cpystrn((u_char *) err, (u_char *) "not a dotted OID",
                        sizeof(err));
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive: %s",
                           &value[0], err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_nitro_attest_free_extension;
    cln->data = nascf->extension;

    return ngx_nitro_attest_written(cf, nascf);
}


static void
ngx_nitro_attest_free_extension(void *data)
{
    nitro_attest_extension_free(data);
}


/* nitro_attest_reattest TIME | off; */

char *
ngx_nitro_attest_reattest(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t  *value;

    if (nascf->reattest != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        nascf->reattest = 0;
        return ngx_nitro_attest_written(cf, nascf);
    }

    nascf->reattest = ngx_parse_time(&value[1], 0);

    if (nascf->reattest == (ngx_msec_t) NGX_ERROR || nascf->reattest == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, it "
                           "must be a time above 0 or \"off\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    return ngx_nitro_attest_written(cf, nascf);
}


/* nitro_attest_max_age, _clock_skew, _token_lifetime TIME; */

char *
ngx_nitro_attest_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *rv;

    rv = ngx_conf_set_msec_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_nitro_attest_written(cf, conf);
}


/* nitro_attest_token_issuer TEXT; */

char *
ngx_nitro_attest_str(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *rv;

    rv = ngx_conf_set_str_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_nitro_attest_written(cf, conf);
}


/* a protocol's main state, zeroed by its module's ngx_pcalloc() */

ngx_int_t
ngx_nitro_attest_init_main(ngx_conf_t *cf, ngx_nitro_attest_main_t *namcf,
    ngx_uint_t protocol)
{
    namcf->protocol = protocol;
    namcf->block = protocol == NGX_NITRO_ATTEST_HTTP ? "http" : "stream";
    namcf->chain_cache = NGX_CONF_UNSET_UINT;
    namcf->inventory = NGX_CONF_UNSET_PTR;

    if (ngx_array_init(&namcf->policies, cf->pool, 2,
                       sizeof(ngx_nitro_attest_file_t))
        != NGX_OK
        || ngx_array_init(&namcf->roots, cf->pool, 1,
                          sizeof(ngx_nitro_attest_file_t))
           != NGX_OK
        || ngx_array_init(&namcf->token_keys, cf->pool, 1,
                          sizeof(ngx_nitro_attest_file_t))
           != NGX_OK
        || ngx_array_init(&namcf->servers, cf->pool, 4,
                          sizeof(ngx_nitro_attest_srv_conf_t *))
           != NGX_OK
        || ngx_array_init(&namcf->tagged, cf->pool, 4,
                          sizeof(ngx_nitro_attest_srv_conf_t *))
           != NGX_OK
        || ngx_array_init(&namcf->sets, cf->pool, 4,
                          sizeof(ngx_nitro_attest_set_t))
           != NGX_OK
        || ngx_array_init(&namcf->services, cf->pool, 2,
                          sizeof(ngx_nitro_attest_service_t))
           != NGX_OK
        || ngx_array_init(&namcf->event_dests, cf->pool, 2, sizeof(void *))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A server's configuration, zeroed by its module's ngx_pcalloc().  Its
 * main state is set by the face's merge: when the configuration of the
 * block itself is made, the block's own context does not exist yet.
 */

void
ngx_nitro_attest_init_srv(ngx_nitro_attest_srv_conf_t *nascf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     nascf->core = { 0 };
     *     nascf->tag = { 0 };
     *     nascf->file = NULL;
     *     nascf->line = 0;
     *     nascf->ssl = NULL;
     *     nascf->written = NULL;
     */

    nascf->enable = NGX_CONF_UNSET_UINT;
    nascf->policy = NGX_CONF_UNSET_PTR;
    nascf->root = NGX_CONF_UNSET_PTR;
    nascf->max_age = NGX_CONF_UNSET_MSEC;
    nascf->clock_skew = NGX_CONF_UNSET_MSEC;
    nascf->binding = NGX_CONF_UNSET_UINT;
    nascf->extension = NGX_CONF_UNSET_PTR;
    nascf->event_log = NGX_CONF_UNSET_PTR;
    nascf->cache = NGX_CONF_UNSET_PTR;
    nascf->reattest = NGX_CONF_UNSET_MSEC;
    nascf->rollback = NGX_CONF_UNSET_UINT;

    ngx_nitro_attest_token_init_conf(&nascf->token);
}


/* the merge of a server's configuration, for both protocols */

char *
ngx_nitro_attest_merge_srv(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *prev,
    ngx_nitro_attest_srv_conf_t *conf)
{
    ngx_nitro_attest_main_t  *namcf;

    namcf = conf->main;

    ngx_conf_merge_uint_value(conf->enable, prev->enable,
                              NGX_NITRO_ATTEST_OFF);

    if (conf->file == NULL) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_nitro_attest_merge_settings(prev, conf);
    ngx_conf_merge_ptr_value(conf->event_log, prev->event_log, NULL);
    ngx_conf_merge_ptr_value(conf->cache, prev->cache, NULL);
    ngx_conf_merge_msec_value(conf->reattest, prev->reattest, 0);
    ngx_conf_merge_uint_value(conf->rollback, prev->rollback,
                              NGX_NITRO_ATTEST_ROLLBACK_ALERT);

    if (ngx_nitro_attest_token_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* every server's sessions name it, attesting or not */
    if (RAND_bytes(conf->tag, NGX_NITRO_ATTEST_TAG_LEN) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0, "RAND_bytes() failed");
        return NGX_CONF_ERROR;
    }

    if (conf->enable == NGX_NITRO_ATTEST_OFF) {
        ngx_nitro_attest_warn_unused(cf, conf->written,
                                     (u_char *) "\"nitro_attest\" is off "
                                     "in this server");
        return NGX_CONF_OK;
    }

    namcf->attesting = 1;

    if (conf->policy == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"nitro_attest %s\" requires \"nitro_attest_policy\" "
                      "in the same server or %s block, in %s:%ui",
                      conf->enable == NGX_NITRO_ATTEST_ON
                      ? "on" : "optional",
                      namcf->block, conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (ngx_nitro_attest_core_conf(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * What a verification is judged by, merged: the settings a client's
 * ("nitro_attest_*") and an upstream's ("nitro_attest_proxy_*")
 * verification both have.
 */

void
ngx_nitro_attest_merge_settings(ngx_nitro_attest_srv_conf_t *prev,
    ngx_nitro_attest_srv_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->policy, prev->policy, NULL);
    ngx_conf_merge_ptr_value(conf->root, prev->root, NULL);
    ngx_conf_merge_msec_value(conf->max_age, prev->max_age,
                              NITRO_ATTEST_DEFAULT_MAX_AGE_MS);
    ngx_conf_merge_msec_value(conf->clock_skew, prev->clock_skew,
                              NITRO_ATTEST_DEFAULT_CLOCK_SKEW_MS);
    ngx_conf_merge_uint_value(conf->binding, prev->binding,
                              NITRO_ATTEST_BINDING_PUBLIC_KEY);
    ngx_conf_merge_ptr_value(conf->extension, prev->extension, NULL);
}


/*
 * The core's configuration of a verifying context, its policy set: the
 * built-in AWS root unless one is pinned, and the digest of it all, under
 * which a verdict is cached and by which an upstream connection names the
 * settings that verified it.
 */

ngx_int_t
ngx_nitro_attest_core_conf(ngx_conf_t *cf, ngx_nitro_attest_srv_conf_t *conf)
{
    if (conf->root == NULL) {
        conf->root = ngx_nitro_attest_default_root(cf, conf->main);
        if (conf->root == NULL) {
            return NGX_ERROR;
        }
    }

    nitro_attest_config_init(&conf->core);

    conf->core.root = conf->root;
    conf->core.policy = conf->policy;
    conf->core.extension = conf->extension;
    conf->core.max_age_ms = conf->max_age;
    conf->core.clock_skew_ms = conf->clock_skew;
    conf->core.binding = conf->binding;

    if (nitro_attest_config_digest(&conf->core, conf->digest) != 0) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: configuration digest failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A server of the block that has ssl, as its face hands it over before
 * the postconfiguration: its SSL_CTX is tagged with it (a ticket names
 * the server that made it), and hooked when it attests.
 */

ngx_int_t
ngx_nitro_attest_add_server(ngx_nitro_attest_srv_conf_t *nascf, SSL_CTX *ssl)
{
    ngx_nitro_attest_srv_conf_t  **server;

    server = ngx_array_push(&nascf->main->tagged);
    if (server == NULL) {
        return NGX_ERROR;
    }

    *server = nascf;
    nascf->ssl = ssl;

    return NGX_OK;
}


/*
 * The postconfiguration steps both faces share, once the block's servers
 * are merged and handed over: the block's defaults, the SSL indexes, the
 * allow sets and services to count, the rollback table (when a server
 * attests), the warnings about block-level settings that
 * nothing uses (block: the block's own configuration), every server's
 * SSL_CTX tagged and hooked, the token keys checked and, once a server
 * attests, the session tickets of every context checked.
 */

ngx_int_t
ngx_nitro_attest_postconfiguration(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam, ngx_nitro_attest_srv_conf_t *block)
{
    ngx_uint_t                     i;
    ngx_nitro_attest_srv_conf_t  **server;

    ngx_conf_init_uint_value(nam->chain_cache, 64);
    ngx_conf_init_ptr_value(nam->inventory, NULL);

    if (ngx_nitro_attest_session_init(cf) != NGX_OK
        || ngx_nitro_attest_handshake_init(cf) != NGX_OK
        || ngx_nitro_attest_init_sets(cf, nam) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (nam->attesting
        && ngx_nitro_attest_rollback_zone(cf, nam) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_nitro_attest_unused(cf, nam, block);

    server = nam->tagged.elts;

    for (i = 0; i < nam->tagged.nelts; i++) {
        if (ngx_nitro_attest_attach(cf, server[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_nitro_attest_token_init(cf, nam) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; nam->servers.nelts && i < nam->tagged.nelts; i++) {
        if (ngx_nitro_attest_tickets(cf, nam, server[i]->ssl) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
