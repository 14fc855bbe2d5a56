
/*
 * ngx_http_nitro_attest_directives.c: the http face's directives: the
 * command table of the module and the handlers that hand each directive
 * to the shared layer with the http block's state.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_nitro_attest.h"


static char *ngx_http_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_endpoint(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_token_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_event_log(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_event_log_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* the content handlers of the endpoint locations (their commands' post) */
static ngx_http_handler_pt  ngx_http_nitro_attest_status_endpoint =
    ngx_http_nitro_attest_status_handler;
static ngx_http_handler_pt  ngx_http_nitro_attest_jwks_endpoint =
    ngx_http_nitro_attest_jwks_handler;


ngx_command_t  ngx_http_nitro_attest_commands[] = {

    { ngx_string("nitro_attest"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_set_mode,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, enable),
      &ngx_nitro_attest_modes },

    { ngx_string("nitro_attest_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_file,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, policy),
      &ngx_nitro_attest_policy_file },

    { ngx_string("nitro_attest_trusted_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_file,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, root),
      &ngx_nitro_attest_root_file },

    { ngx_string("nitro_attest_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_msec,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, max_age),
      NULL },

    { ngx_string("nitro_attest_clock_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_msec,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, clock_skew),
      NULL },

    { ngx_string("nitro_attest_binding"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_binding,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_extension"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE12,
      ngx_nitro_attest_extension,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_event_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE123,
      ngx_http_nitro_attest_event_log,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_event_log_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_event_log_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_upstream_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_nitro_attest_upstream_headers,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_nitro_attest_endpoint,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_main_conf_t, status),
      &ngx_http_nitro_attest_status_endpoint },

    { ngx_string("nitro_attest_rollback"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_rollback_mode,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, rollback),
      &ngx_nitro_attest_rollback_modes },

    { ngx_string("nitro_attest_reattest"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_reattest,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_cache,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_token_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_token_key,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, token.key),
      &ngx_nitro_attest_token_key_file },

    { ngx_string("nitro_attest_token_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_str,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, token.issuer),
      NULL },

    { ngx_string("nitro_attest_token_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_msec,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_nitro_attest_srv_conf_t, token.lifetime),
      NULL },

    { ngx_string("nitro_attest_jwks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_nitro_attest_endpoint,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_main_conf_t, jwks_location),
      &ngx_http_nitro_attest_jwks_endpoint },

    { ngx_string("nitro_attest_inventory"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_inventory,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_chain_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_nitro_attest_chain_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_proxy_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_proxy_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("nitro_attest_proxy_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_proxy_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("nitro_attest_proxy_trusted_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_proxy_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("nitro_attest_proxy_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_proxy_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("nitro_attest_proxy_clock_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_proxy_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("nitro_attest_proxy_binding"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_proxy_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("nitro_attest_proxy_extension"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_nitro_attest_proxy_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

      ngx_null_command
};


/*
 * nitro_attest_policy, nitro_attest_trusted_root, nitro_attest_token_key:
 * loaded once per block
 */

static char *
ngx_http_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    return ngx_nitro_attest_file(cf, cmd, conf, &namcf->na);
}


static char *
ngx_http_nitro_attest_token_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    return ngx_nitro_attest_token_key(cf, cmd, conf, &namcf->na);
}


/* nitro_attest_event_log and nitro_attest_event_log_key: the block's */

static char *
ngx_http_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    return ngx_nitro_attest_event_log(cf, cmd, conf, &namcf->na);
}


static char *
ngx_http_nitro_attest_event_log_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_main_conf_t *namcf = conf;

    return ngx_nitro_attest_event_log_key(cf, &namcf->na);
}


/*
 * nitro_attest_status; and nitro_attest_jwks;: the location answers with
 * the handler in cmd->post, and the main conf's flag at cmd->offset says
 * the block has such a location (postconfiguration prepares its data).
 */

static char *
ngx_http_nitro_attest_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_http_handler_pt       *handler;
    ngx_http_core_loc_conf_t  *clcf;

    handler = cmd->post;
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == *handler) {
        return "is duplicate";
    }

    clcf->handler = *handler;
    *(ngx_flag_t *) (p + cmd->offset) = 1;

    return NGX_CONF_OK;
}
