
/*
 * ngx_http_nitro_attest_module: attestation-bound mutual TLS for AWS Nitro
 * Enclaves.  Glue only: directives, the certificate hook in the handshake,
 * the per-connection verdict, the request guard and the variables.  Every
 * verification step lives in the core (src/nitro_attest.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "nitro_attest.h"


#define NGX_HTTP_NITRO_ATTEST_OFF       0
#define NGX_HTTP_NITRO_ATTEST_ON        1
#define NGX_HTTP_NITRO_ATTEST_OPTIONAL  2

#define NGX_HTTP_NITRO_ATTEST_TAG_LEN   16
#define NGX_HTTP_NITRO_ATTEST_ERR_LEN   512


typedef struct {
    ngx_str_t                       path;
    void                           *object;
} ngx_http_nitro_attest_file_t;


typedef struct {
    ngx_array_t                     policies;  /* loaded policy files */
    ngx_array_t                     roots;     /* loaded root files */
    ngx_array_t                     servers;   /* srv confs with an SSL_CTX */
    nitro_attest_root_t            *default_root;
    ngx_flag_t                      enforcing;
} ngx_http_nitro_attest_main_conf_t;


typedef struct {
    ngx_uint_t                      enable;
    nitro_attest_policy_t          *policy;
    nitro_attest_root_t            *root;
    ngx_msec_t                      max_age;
    ngx_msec_t                      clock_skew;
    ngx_uint_t                      binding;
    nitro_attest_extension_t       *extension;

    nitro_attest_config_t           core;

    /* random per server and configuration cycle: who attested a session */
    u_char                          tag[NGX_HTTP_NITRO_ATTEST_TAG_LEN];

    u_char                         *file;      /* where "nitro_attest" is */
    ngx_uint_t                      line;
} ngx_http_nitro_attest_srv_conf_t;


/*
 * What a connection keeps: the tag of the server whose SSL_CTX verified the
 * certificate, then the verdict prefix (nitro_attest_verdict_size() bytes).
 * The same bytes travel in the session ticket application data.
 */
typedef struct {
    u_char                          tag[NGX_HTTP_NITRO_ATTEST_TAG_LEN];
    nitro_attest_verdict_t          verdict;
} ngx_http_nitro_attest_conn_t;

#define ngx_http_nitro_attest_conn_size(v)                                    \
    (offsetof(ngx_http_nitro_attest_conn_t, verdict)                          \
     + nitro_attest_verdict_size(v))

#define NGX_HTTP_NITRO_ATTEST_CONN_MIN                                        \
    (offsetof(ngx_http_nitro_attest_conn_t, verdict)                          \
     + offsetof(nitro_attest_verdict_t, data))


static ngx_int_t ngx_http_nitro_attest_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_nitro_attest_init(ngx_conf_t *cf);
static void *ngx_http_nitro_attest_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_nitro_attest_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_nitro_attest_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);

static char *ngx_http_nitro_attest(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_trusted_root(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_binding(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_extension(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_not_yet(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_nitro_attest_load(ngx_conf_t *cf, ngx_array_t *files,
    ngx_str_t *path, ngx_uint_t root);
static void ngx_http_nitro_attest_free_policy(void *data);
static void ngx_http_nitro_attest_free_root(void *data);
static void ngx_http_nitro_attest_free_extension(void *data);

static int ngx_http_nitro_attest_verify(X509_STORE_CTX *store, void *arg);
static ngx_uint_t ngx_http_nitro_attest_only_critical(
    ngx_http_nitro_attest_srv_conf_t *nascf, X509_STORE_CTX *store);
static void ngx_http_nitro_attest_save_session(ngx_connection_t *c,
    ngx_ssl_conn_t *ssl_conn, ngx_http_nitro_attest_conn_t *nac,
    int64_t now);
static SSL_TICKET_RETURN ngx_http_nitro_attest_ticket(ngx_ssl_conn_t *ssl_conn,
    SSL_SESSION *sess, const unsigned char *keyname, size_t keyname_len,
    SSL_TICKET_STATUS status, void *arg);
static ngx_int_t ngx_http_nitro_attest_same_name(ngx_ssl_conn_t *ssl_conn,
    SSL_SESSION *sess);
static ngx_http_nitro_attest_srv_conf_t *ngx_http_nitro_attest_find_server(
    ngx_http_nitro_attest_main_conf_t *namcf, u_char *tag);
static ngx_http_nitro_attest_conn_t *ngx_http_nitro_attest_session(
    SSL_SESSION *sess);
static ngx_connection_t *ngx_http_nitro_attest_tls_connection(
    ngx_http_request_t *r);
static ngx_http_nitro_attest_conn_t *ngx_http_nitro_attest_connection(
    ngx_connection_t *c);
static int64_t ngx_http_nitro_attest_now(void);

static ngx_int_t ngx_http_nitro_attest_handler(ngx_http_request_t *r);

static nitro_attest_verdict_t *ngx_http_nitro_attest_verdict(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_nitro_attest_hex_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, const uint8_t *src, size_t len);
static ngx_int_t ngx_http_nitro_attest_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_reason_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_pcr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_text_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_bytes_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_cert_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_nitro_attest_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_conf_enum_t  ngx_http_nitro_attest_modes[] = {
    { ngx_string("off"), NGX_HTTP_NITRO_ATTEST_OFF },
    { ngx_string("on"), NGX_HTTP_NITRO_ATTEST_ON },
    { ngx_string("optional"), NGX_HTTP_NITRO_ATTEST_OPTIONAL },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_nitro_attest_commands[] = {

    { ngx_string("nitro_attest"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_srv_conf_t, enable),
      &ngx_http_nitro_attest_modes },

    { ngx_string("nitro_attest_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_policy,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_trusted_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_trusted_root,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_srv_conf_t, max_age),
      NULL },

    { ngx_string("nitro_attest_clock_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_srv_conf_t, clock_skew),
      NULL },

    { ngx_string("nitro_attest_binding"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_binding,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_extension"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE12,
      ngx_http_nitro_attest_extension,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    /* later issues: "off" is accepted, anything else fails loudly */

    { ngx_string("nitro_attest_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_not_yet,
      0,
      0,
      NULL },

    { ngx_string("nitro_attest_event_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_not_yet,
      0,
      0,
      NULL },

    { ngx_string("nitro_attest_upstream_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_not_yet,
      0,
      0,
      NULL },

    { ngx_string("nitro_attest_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_nitro_attest_not_yet,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_nitro_attest_module_ctx = {
    ngx_http_nitro_attest_add_variables,   /* preconfiguration */
    ngx_http_nitro_attest_init,            /* postconfiguration */

    ngx_http_nitro_attest_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_nitro_attest_create_srv_conf, /* create server configuration */
    ngx_http_nitro_attest_merge_srv_conf,  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_nitro_attest_module = {
    NGX_MODULE_V1,
    &ngx_http_nitro_attest_module_ctx,     /* module context */
    ngx_http_nitro_attest_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define ngx_http_nitro_attest_pcr(n)                                          \
    { ngx_string("nitro_attest_pcr" #n), NULL,                                \
      ngx_http_nitro_attest_pcr_variable, n, 0, 0 }

#define ngx_http_nitro_attest_span(field)                                     \
    offsetof(nitro_attest_verdict_t, field)


static ngx_http_variable_t  ngx_http_nitro_attest_vars[] = {

    { ngx_string("nitro_attest_status"), NULL,
      ngx_http_nitro_attest_status_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_reason"), NULL,
      ngx_http_nitro_attest_reason_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_module_id"), NULL,
      ngx_http_nitro_attest_text_variable,
      ngx_http_nitro_attest_span(module_id), 0, 0 },

    { ngx_string("nitro_attest_policy"), NULL,
      ngx_http_nitro_attest_text_variable,
      ngx_http_nitro_attest_span(policy), 0, 0 },

    { ngx_string("nitro_attest_user_data"), NULL,
      ngx_http_nitro_attest_bytes_variable,
      ngx_http_nitro_attest_span(user_data), 0, 0 },

    { ngx_string("nitro_attest_nonce"), NULL,
      ngx_http_nitro_attest_bytes_variable,
      ngx_http_nitro_attest_span(nonce), 0, 0 },

    { ngx_string("nitro_attest_timestamp"), NULL,
      ngx_http_nitro_attest_time_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_age"), NULL,
      ngx_http_nitro_attest_time_variable, 1, 0, 0 },

    { ngx_string("nitro_attest_cert_sha256"), NULL,
      ngx_http_nitro_attest_cert_variable, 0, 0, 0 },

    { ngx_string("nitro_attest_json"), NULL,
      ngx_http_nitro_attest_json_variable, 0, 0, 0 },

    ngx_http_nitro_attest_pcr(0),  ngx_http_nitro_attest_pcr(1),
    ngx_http_nitro_attest_pcr(2),  ngx_http_nitro_attest_pcr(3),
    ngx_http_nitro_attest_pcr(4),  ngx_http_nitro_attest_pcr(5),
    ngx_http_nitro_attest_pcr(6),  ngx_http_nitro_attest_pcr(7),
    ngx_http_nitro_attest_pcr(8),  ngx_http_nitro_attest_pcr(9),
    ngx_http_nitro_attest_pcr(10), ngx_http_nitro_attest_pcr(11),
    ngx_http_nitro_attest_pcr(12), ngx_http_nitro_attest_pcr(13),
    ngx_http_nitro_attest_pcr(14), ngx_http_nitro_attest_pcr(15),
    ngx_http_nitro_attest_pcr(16), ngx_http_nitro_attest_pcr(17),
    ngx_http_nitro_attest_pcr(18), ngx_http_nitro_attest_pcr(19),
    ngx_http_nitro_attest_pcr(20), ngx_http_nitro_attest_pcr(21),
    ngx_http_nitro_attest_pcr(22), ngx_http_nitro_attest_pcr(23),
    ngx_http_nitro_attest_pcr(24), ngx_http_nitro_attest_pcr(25),
    ngx_http_nitro_attest_pcr(26), ngx_http_nitro_attest_pcr(27),
    ngx_http_nitro_attest_pcr(28), ngx_http_nitro_attest_pcr(29),
    ngx_http_nitro_attest_pcr(30), ngx_http_nitro_attest_pcr(31),

      ngx_http_null_variable
};


static int  ngx_http_nitro_attest_conn_index = -1;
static int  ngx_http_nitro_attest_ctx_index = -1;

/* scratch for one verification at a time (a worker runs one handshake) */
static nitro_attest_verdict_t  ngx_http_nitro_attest_scratch;


static ngx_int_t
ngx_http_nitro_attest_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_nitro_attest_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_nitro_attest_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_nitro_attest_main_conf_t));
    if (namcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     namcf->default_root = NULL;
     *     namcf->enforcing = 0;
     */

    if (ngx_array_init(&namcf->policies, cf->pool, 2,
                       sizeof(ngx_http_nitro_attest_file_t))
        != NGX_OK
        || ngx_array_init(&namcf->roots, cf->pool, 1,
                          sizeof(ngx_http_nitro_attest_file_t))
           != NGX_OK
        || ngx_array_init(&namcf->servers, cf->pool, 4,
                          sizeof(ngx_http_nitro_attest_srv_conf_t *))
           != NGX_OK)
    {
        return NULL;
    }

    return namcf;
}


static void *
ngx_http_nitro_attest_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_pcalloc(cf->pool, sizeof(ngx_http_nitro_attest_srv_conf_t));
    if (nascf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     nascf->core = { 0 };
     *     nascf->tag = { 0 };
     *     nascf->file = NULL;
     *     nascf->line = 0;
     */

    nascf->enable = NGX_CONF_UNSET_UINT;
    nascf->policy = NGX_CONF_UNSET_PTR;
    nascf->root = NGX_CONF_UNSET_PTR;
    nascf->max_age = NGX_CONF_UNSET_MSEC;
    nascf->clock_skew = NGX_CONF_UNSET_MSEC;
    nascf->binding = NGX_CONF_UNSET_UINT;
    nascf->extension = NGX_CONF_UNSET_PTR;

    return nascf;
}


static char *
ngx_http_nitro_attest_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_nitro_attest_srv_conf_t *prev = parent;
    ngx_http_nitro_attest_srv_conf_t *conf = child;

    char                                err[NGX_HTTP_NITRO_ATTEST_ERR_LEN];
    ngx_pool_cleanup_t                 *cln;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    ngx_conf_merge_uint_value(conf->enable, prev->enable,
                              NGX_HTTP_NITRO_ATTEST_OFF);

    if (conf->file == NULL) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_ptr_value(conf->policy, prev->policy, NULL);
    ngx_conf_merge_ptr_value(conf->root, prev->root, NULL);
    ngx_conf_merge_msec_value(conf->max_age, prev->max_age,
                              NITRO_ATTEST_DEFAULT_MAX_AGE_MS);
    ngx_conf_merge_msec_value(conf->clock_skew, prev->clock_skew,
                              NITRO_ATTEST_DEFAULT_CLOCK_SKEW_MS);
    ngx_conf_merge_uint_value(conf->binding, prev->binding,
                              NITRO_ATTEST_BINDING_PUBLIC_KEY);
    ngx_conf_merge_ptr_value(conf->extension, prev->extension, NULL);

    if (conf->enable == NGX_HTTP_NITRO_ATTEST_OFF) {
        return NGX_CONF_OK;
    }

    if (conf->policy == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"nitro_attest %s\" requires \"nitro_attest_policy\" "
                      "in the same server or http block, in %s:%ui",
                      conf->enable == NGX_HTTP_NITRO_ATTEST_ON
                      ? "on" : "optional",
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    if (conf->root == NULL) {

        if (namcf->default_root == NULL) {
            namcf->default_root = nitro_attest_root_default(err, sizeof(err));
            if (namcf->default_root == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "nitro_attest: built-in AWS root: %s", err);
                return NGX_CONF_ERROR;
            }

            cln = ngx_pool_cleanup_add(cf->pool, 0);
            if (cln == NULL) {
                nitro_attest_root_free(namcf->default_root);
                namcf->default_root = NULL;
                return NGX_CONF_ERROR;
            }

            cln->handler = ngx_http_nitro_attest_free_root;
            cln->data = namcf->default_root;
        }

        conf->root = namcf->default_root;
    }

    nitro_attest_config_init(&conf->core);

    conf->core.root = conf->root;
    conf->core.policy = conf->policy;
    conf->core.extension = conf->extension;
    conf->core.max_age_ms = conf->max_age;
    conf->core.clock_skew_ms = conf->clock_skew;
    conf->core.binding = conf->binding;

    if (RAND_bytes(conf->tag, NGX_HTTP_NITRO_ATTEST_TAG_LEN) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0, "RAND_bytes() failed");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_nitro_attest_init(ngx_conf_t *cf)
{
    int                                 mode;
    ngx_uint_t                          s, i;
    ngx_http_handler_pt                *h;
    ngx_http_ssl_srv_conf_t            *sscf;
    ngx_http_core_srv_conf_t          **cscfp;
    ngx_http_core_main_conf_t          *cmcf;
    ngx_http_nitro_attest_srv_conf_t   *nascf, **server;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    static ngx_uint_t  phases[] = {
        NGX_HTTP_POST_READ_PHASE,
        NGX_HTTP_SERVER_REWRITE_PHASE,  /* error_page redirects start here */
        NGX_HTTP_REWRITE_PHASE          /* named locations start here */
    };

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    if (ngx_http_nitro_attest_conn_index == -1) {
        ngx_http_nitro_attest_conn_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                                NULL, NULL);
        ngx_http_nitro_attest_ctx_index = SSL_CTX_get_ex_new_index(0, NULL,
                                                                   NULL, NULL,
                                                                   NULL);

        if (ngx_http_nitro_attest_conn_index == -1
            || ngx_http_nitro_attest_ctx_index == -1)
        {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "nitro_attest: ex_new_index() failed");
            return NGX_ERROR;
        }
    }

    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        nascf = cscfp[s]->ctx->srv_conf[ngx_http_nitro_attest_module.ctx_index];
        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];

        if (nascf->enable == NGX_HTTP_NITRO_ATTEST_OFF) {
            continue;
        }

        if (nascf->enable == NGX_HTTP_NITRO_ATTEST_ON) {
            namcf->enforcing = 1;
        }

        if (sscf->ssl.ctx == NULL) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"nitro_attest\" in %s:%ui applies to a server "
                          "without ssl: no connection can be attested for it",
                          nascf->file, nascf->line);
            continue;
        }

        server = ngx_array_push(&namcf->servers);
        if (server == NULL) {
            return NGX_ERROR;
        }

        *server = nascf;

        if (SSL_CTX_set_ex_data(sscf->ssl.ctx, ngx_http_nitro_attest_ctx_index,
                                nascf)
            == 0)
        {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_CTX_set_ex_data() failed");
            return NGX_ERROR;
        }

        /* keep nginx's verify callback: it is what $ssl_client_verify uses */

        mode = SSL_CTX_get_verify_mode(sscf->ssl.ctx) | SSL_VERIFY_PEER;

        if (nascf->enable == NGX_HTTP_NITRO_ATTEST_ON) {
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }

        SSL_CTX_set_verify(sscf->ssl.ctx, mode,
                           SSL_CTX_get_verify_callback(sscf->ssl.ctx));

        SSL_CTX_set_cert_verify_callback(sscf->ssl.ctx,
                                         ngx_http_nitro_attest_verify, NULL);
    }

    if (namcf->servers.nelts == 0 && !namcf->enforcing) {
        return NGX_OK;
    }

    /*
     * Tickets are opened with the keys of the context the connection
     * started on (the default server's), so every context checks them.
     */

    for (s = 0; s < cmcf->servers.nelts; s++) {
        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];

        if (sscf->ssl.ctx == NULL) {
            continue;
        }

        if (SSL_CTX_set_session_ticket_cb(sscf->ssl.ctx, NULL,
                                          ngx_http_nitro_attest_ticket, namcf)
            == 0)
        {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_CTX_set_session_ticket_cb() failed");
            return NGX_ERROR;
        }
    }

    if (!namcf->enforcing) {
        return NGX_OK;
    }

    for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        h = ngx_array_push(&cmcf->phases[phases[i]].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_nitro_attest_handler;
    }

    return NGX_OK;
}


static char *
ngx_http_nitro_attest(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_nitro_attest_srv_conf_t *nascf = conf;

    char  *rv;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        nascf->file = cf->conf_file->file.name.data;
        nascf->line = cf->conf_file->line;
    }

    return rv;
}


static char *
ngx_http_nitro_attest_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t                          *value, path;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    if (nascf->policy != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    nascf->policy = ngx_http_nitro_attest_load(cf, &namcf->policies, &path, 0);
    if (nascf->policy == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_nitro_attest_trusted_root(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t                          *value, path;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    if (nascf->root != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    nascf->root = ngx_http_nitro_attest_load(cf, &namcf->roots, &path, 1);
    if (nascf->root == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* one load per distinct file and configuration cycle, freed with the cycle */

static void *
ngx_http_nitro_attest_load(ngx_conf_t *cf, ngx_array_t *files,
    ngx_str_t *path, ngx_uint_t root)
{
    char                           err[NGX_HTTP_NITRO_ATTEST_ERR_LEN];
    void                          *object;
    ngx_str_t                     *name;
    ngx_uint_t                     i;
    ngx_pool_cleanup_t            *cln;
    ngx_http_nitro_attest_file_t  *file;

    name = cf->args->elts;
    file = files->elts;

    for (i = 0; i < files->nelts; i++) {
        if (file[i].path.len == path->len
            && ngx_strncmp(file[i].path.data, path->data, path->len) == 0)
        {
            return file[i].object;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    err[0] = '\0';

    if (root) {
        object = nitro_attest_root_load((char *) path->data, err, sizeof(err));
        cln->handler = ngx_http_nitro_attest_free_root;

    } else {
        object = nitro_attest_policy_load((char *) path->data, err,
                                          sizeof(err));
        cln->handler = ngx_http_nitro_attest_free_policy;
    }

    if (object == NULL) {
        cln->handler = NULL;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive: %s",
                           &name[0], err[0] ? err : "cannot load the file");
        return NULL;
    }

    cln->data = object;

    file = ngx_array_push(files);
    if (file == NULL) {
        return NULL;
    }

    file->path = *path;
    file->object = object;

    return object;
}


static void
ngx_http_nitro_attest_free_policy(void *data)
{
    nitro_attest_policy_free(data);
}


static void
ngx_http_nitro_attest_free_root(void *data)
{
    nitro_attest_root_free(data);
}


static void
ngx_http_nitro_attest_free_extension(void *data)
{
    nitro_attest_extension_free(data);
}


static char *
ngx_http_nitro_attest_binding(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_nitro_attest_srv_conf_t *nascf = conf;

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

    return NGX_CONF_OK;
}


static char *
ngx_http_nitro_attest_extension(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_srv_conf_t *nascf = conf;

    char                   err[NGX_HTTP_NITRO_ATTEST_ERR_LEN];
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

    cln->handler = ngx_http_nitro_attest_free_extension;
    cln->data = nascf->extension;

    return NGX_CONF_OK;
}


static char *
ngx_http_nitro_attest_not_yet(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    if (cf->args->nelts == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not supported yet by this build of "
                           "the nitro_attest module", &value[0]);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V %V\" is not supported yet by this build of "
                           "the nitro_attest module", &value[0], &value[1]);
    }

    return NGX_CONF_ERROR;
}


/*
 * The certificate hook.  OpenSSL calls it instead of X509_verify_cert(),
 * once per non-empty client chain, from the SNI-selected context.
 */

static int
ngx_http_nitro_attest_verify(X509_STORE_CTX *store, void *arg)
{
    X509                              *cert;
    int64_t                            now;
    ngx_uint_t                         ignore;
    struct timeval                     start, end;
    ngx_ssl_conn_t                    *ssl_conn;
    ngx_connection_t                  *c;
    nitro_attest_verdict_t            *v;
    nitro_attest_reason_e              reason;
    ngx_http_nitro_attest_conn_t      *nac;
    ngx_http_nitro_attest_srv_conf_t  *nascf;

    ssl_conn = X509_STORE_CTX_get_ex_data(store,
                                          SSL_get_ex_data_X509_STORE_CTX_idx());
    c = ngx_ssl_get_connection(ssl_conn);
    nascf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                ngx_http_nitro_attest_ctx_index);

    if (nascf == NULL) {
        return X509_verify_cert(store);
    }

    /*
     * The CA check still runs, so that $ssl_client_verify and
     * "ssl_verify_client on" keep their meaning; nginx judges its result
     * after the handshake.  The attestation extension may be critical:
     * that alone must not fail it.
     */

    ignore = ngx_http_nitro_attest_only_critical(nascf, store);

    if (ignore) {
        X509_STORE_CTX_set_flags(store, X509_V_FLAG_IGNORE_CRITICAL);
    }

    if (X509_verify_cert(store) < 0) {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "X509_verify_cert() failed");
    }

    ERR_clear_error();

    cert = X509_STORE_CTX_get0_cert(store);
    v = &ngx_http_nitro_attest_scratch;
    now = ngx_http_nitro_attest_now();

    ngx_gettimeofday(&start);

    reason = nitro_attest_verify_cert(&nascf->core, cert, now, v);

    ngx_gettimeofday(&end);

    v->verify_us = (uint32_t) ((end.tv_sec - start.tv_sec) * 1000000
                               + (end.tv_usec - start.tv_usec));

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "nitro_attest: verdict %s \"%s\", %uD bytes, %uD us",
                   nitro_attest_status_name(v->status),
                   nitro_attest_reason_name(reason),
                   (uint32_t) nitro_attest_verdict_size(v), v->verify_us);

    nac = ngx_palloc(c->pool, ngx_http_nitro_attest_conn_size(v));

    if (nac == NULL) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }

    ngx_memcpy(nac->tag, nascf->tag, NGX_HTTP_NITRO_ATTEST_TAG_LEN);
    ngx_memcpy(&nac->verdict, v, nitro_attest_verdict_size(v));

    if (SSL_set_ex_data(ssl_conn, ngx_http_nitro_attest_conn_index, nac)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "SSL_set_ex_data() failed");
        X509_STORE_CTX_set_error(store, X509_V_ERR_OUT_OF_MEM);
        return 0;
    }

    ngx_http_nitro_attest_save_session(c, ssl_conn, nac, now);

    if (reason == NITRO_ATTEST_OK) {
        return 1;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "client attestation failed: %s%s",
                  nitro_attest_reason_name(reason),
                  nascf->enable == NGX_HTTP_NITRO_ATTEST_ON
                  ? ", handshake refused" : " (nitro_attest optional)");

    if (nascf->enable == NGX_HTTP_NITRO_ATTEST_OPTIONAL) {
        return 1;
    }

    /*
     * The first error queued decides how nginx logs the failed handshake:
     * "callback failed" is logged at the "info" level, like other client
     * errors, where "certificate verify failed" would be "crit".
     */

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    ERR_raise_data(ERR_LIB_SSL, SSL_R_CALLBACK_FAILED, "nitro_attest: %s",
                   nitro_attest_reason_name(reason));
#else
    SSLerr(SSL_F_SSL_VERIFY_CERT_CHAIN, SSL_R_CALLBACK_FAILED);
#endif

    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);

    return 0;
}


/*
 * 1 when the leaf's only unknown critical extension is the attestation
 * one and no other certificate the client sent has any.
 */

static ngx_uint_t
ngx_http_nitro_attest_only_critical(ngx_http_nitro_attest_srv_conf_t *nascf,
    X509_STORE_CTX *store)
{
    int                   i, n;
    X509                 *cert, *leaf;
    ngx_uint_t            ours;
    STACK_OF(X509)       *chain;
    X509_EXTENSION       *ext;
    const ASN1_OBJECT    *oid;

    leaf = X509_STORE_CTX_get0_cert(store);
    oid = nitro_attest_extension_oid(nascf->extension);
    ours = 0;

    n = X509_get_ext_count(leaf);

    for (i = 0; i < n; i++) {
        ext = X509_get_ext(leaf, i);

        if (!X509_EXTENSION_get_critical(ext)
            || X509_supported_extension(ext))
        {
            continue;
        }

        if (oid == NULL || OBJ_cmp(X509_EXTENSION_get_object(ext), oid) != 0)
        {
            return 0;
        }

        ours = 1;
    }

    if (!ours) {
        return 0;
    }

    chain = X509_STORE_CTX_get0_untrusted(store);

    for (i = 0; chain && i < sk_X509_num(chain); i++) {
        cert = sk_X509_value(chain, i);

        if (cert != leaf && (X509_get_extension_flags(cert) & EXFLAG_CRITICAL))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * The verdict rides in the session (ticket application data survives
 * tickets and the shared cache), and the session lives no longer than it.
 */

static void
ngx_http_nitro_attest_save_session(ngx_connection_t *c,
    ngx_ssl_conn_t *ssl_conn, ngx_http_nitro_attest_conn_t *nac, int64_t now)
{
    long          left;
    size_t        len;
    SSL_SESSION  *sess;

    sess = SSL_get0_session(ssl_conn);
    if (sess == NULL) {
        return;
    }

    len = ngx_http_nitro_attest_conn_size(&nac->verdict);

    if (SSL_SESSION_set1_ticket_appdata(sess, nac, len) == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0,
                      "SSL_SESSION_set1_ticket_appdata() failed");
        return;
    }

    if (nac->verdict.status == NITRO_ATTEST_STATUS_SUCCESS) {
        left = (long) ((nac->verdict.not_after_ms - now) / 1000);

        if (left < SSL_SESSION_get_timeout(sess)) {
            SSL_SESSION_set_timeout(sess, left > 0 ? left : 1);
        }
    }
}


/*
 * Sessions resume only under the server name they were made with, so that
 * a verdict never crosses into another server's SSL_CTX.  A ticket from
 * another configuration cycle (ticket keys from a file survive reloads) or
 * with an expired verdict is not resumed either: the client makes a full
 * handshake and attests again.
 */

static SSL_TICKET_RETURN
ngx_http_nitro_attest_ticket(ngx_ssl_conn_t *ssl_conn, SSL_SESSION *sess,
    const unsigned char *keyname, size_t keyname_len,
    SSL_TICKET_STATUS status, void *arg)
{
    ngx_http_nitro_attest_main_conf_t *namcf = arg;

    void                          *data;
    size_t                         len;
    ngx_connection_t              *c;
    ngx_http_nitro_attest_conn_t  *nac;

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

    if (ngx_http_nitro_attest_same_name(ssl_conn, sess) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket of another server name, "
                      "full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    data = NULL;
    len = 0;

    if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) != 1 || len == 0) {
        /* not attested: the request guard refuses it where it matters */
        goto use;
    }

    nac = ngx_http_nitro_attest_session(sess);

    if (nac == NULL
        || ngx_http_nitro_attest_find_server(namcf, nac->tag) == NULL)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket of another configuration, "
                      "full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    if (nac->verdict.status == NITRO_ATTEST_STATUS_SUCCESS
        && nac->verdict.not_after_ms <= ngx_http_nitro_attest_now())
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "nitro_attest: ticket verdict expired, "
                      "full handshake");
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

use:

    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE
                                        : SSL_TICKET_RETURN_USE_RENEW;
}


/*
 * NGX_OK when the ClientHello asks for the name the session was made
 * with (both without SNI counts).  The ClientHello is still there while
 * tickets are opened; SNI is not yet processed, so it is read from it.
 */

static ngx_int_t
ngx_http_nitro_attest_same_name(ngx_ssl_conn_t *ssl_conn, SSL_SESSION *sess)
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


static ngx_http_nitro_attest_srv_conf_t *
ngx_http_nitro_attest_find_server(ngx_http_nitro_attest_main_conf_t *namcf,
    u_char *tag)
{
    ngx_uint_t                          i;
    ngx_http_nitro_attest_srv_conf_t  **server;

    server = namcf->servers.elts;

    for (i = 0; i < namcf->servers.nelts; i++) {
        if (ngx_memcmp(server[i]->tag, tag, NGX_HTTP_NITRO_ATTEST_TAG_LEN)
            == 0)
        {
            return server[i];
        }
    }

    return NULL;
}


/* the application data of a session, if it is a well-formed verdict */

static ngx_http_nitro_attest_conn_t *
ngx_http_nitro_attest_session(SSL_SESSION *sess)
{
    void                          *data;
    size_t                         len;
    ngx_http_nitro_attest_conn_t  *nac;

    data = NULL;
    len = 0;

    if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) != 1
        || len < NGX_HTTP_NITRO_ATTEST_CONN_MIN
        || len > sizeof(ngx_http_nitro_attest_conn_t))
    {
        return NULL;
    }

    nac = data;

    if (nitro_attest_verdict_check(&nac->verdict,
                                   len - offsetof(ngx_http_nitro_attest_conn_t,
                                                  verdict))
        != 0)
    {
        return NULL;
    }

    return nac;
}


static ngx_connection_t *
ngx_http_nitro_attest_tls_connection(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return r->stream->connection->connection;
    }
#endif

    return r->connection;
}


/*
 * The connection's verdict: stored by the certificate hook on a full
 * handshake, or taken back from the session on a resumed one.
 */

static ngx_http_nitro_attest_conn_t *
ngx_http_nitro_attest_connection(ngx_connection_t *c)
{
    size_t                         len;
    SSL_SESSION                   *sess;
    ngx_ssl_conn_t                *ssl_conn;
    ngx_http_nitro_attest_conn_t  *nac, *saved;

    if (c->ssl == NULL || ngx_http_nitro_attest_conn_index == -1) {
        return NULL;
    }

    ssl_conn = c->ssl->connection;

    nac = SSL_get_ex_data(ssl_conn, ngx_http_nitro_attest_conn_index);
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

    saved = ngx_http_nitro_attest_session(sess);
    if (saved == NULL) {
        return NULL;
    }

    len = ngx_http_nitro_attest_conn_size(&saved->verdict);

    nac = ngx_palloc(c->pool, len);
    if (nac == NULL) {
        return NULL;
    }

    ngx_memcpy(nac, saved, len);
    nac->verdict.flags |= NITRO_ATTEST_F_RESUMED;

    if (SSL_set_ex_data(ssl_conn, ngx_http_nitro_attest_conn_index, nac)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "SSL_set_ex_data() failed");
        return NULL;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "nitro_attest: verdict taken from the resumed session");

    return nac;
}


static int64_t
ngx_http_nitro_attest_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/*
 * The request guard of "nitro_attest on": the connection must have been
 * attested by this server's own SSL_CTX (not the default server's for a
 * client without SNI, nor another server's), and not have expired.
 */

static ngx_int_t
ngx_http_nitro_attest_handler(ngx_http_request_t *r)
{
    ngx_connection_t                  *c;
    ngx_http_nitro_attest_conn_t      *nac;
    ngx_http_nitro_attest_srv_conf_t  *nascf;

    nascf = ngx_http_get_module_srv_conf(r, ngx_http_nitro_attest_module);

    if (nascf->enable != NGX_HTTP_NITRO_ATTEST_ON) {
        return NGX_DECLINED;
    }

    c = ngx_http_nitro_attest_tls_connection(r);
    nac = ngx_http_nitro_attest_connection(c);

    if (nac == NULL
        || ngx_memcmp(nac->tag, nascf->tag, NGX_HTTP_NITRO_ATTEST_TAG_LEN)
           != 0
        || nac->verdict.status != NITRO_ATTEST_STATUS_SUCCESS)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client connection is not attested for this server "
                      "(no SNI, or another server's), request refused");
        return NGX_HTTP_MISDIRECTED_REQUEST;
    }

    if (nac->verdict.not_after_ms > ngx_http_nitro_attest_now()) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "client attestation expired, request refused and "
                  "connection closed");

    r->keepalive = 0;

#if (NGX_HTTP_V2)
    if (r->stream) {
        /* ends the HTTP/2 connection with GOAWAY once its streams are done */
        c->close = 1;
        ngx_post_event(c->read, &ngx_posted_events);
    }
#endif

    return NGX_HTTP_MISDIRECTED_REQUEST;
}


/*
 * The verdict the variables show: the connection's, when it was attested
 * for the server of this request; otherwise "nothing was checked" (NONE).
 */

static nitro_attest_verdict_t *
ngx_http_nitro_attest_verdict(ngx_http_request_t *r)
{
    ngx_http_nitro_attest_conn_t      *nac;
    ngx_http_nitro_attest_srv_conf_t  *nascf;

    static nitro_attest_verdict_t      none;

    nascf = ngx_http_get_module_srv_conf(r, ngx_http_nitro_attest_module);

    if (nascf->enable != NGX_HTTP_NITRO_ATTEST_OFF) {
        nac = ngx_http_nitro_attest_connection(
                                       ngx_http_nitro_attest_tls_connection(r));

        if (nac != NULL
            && ngx_memcmp(nac->tag, nascf->tag, NGX_HTTP_NITRO_ATTEST_TAG_LEN)
               == 0)
        {
            return &nac->verdict;
        }
    }

    nitro_attest_verdict_none(&none, ngx_http_nitro_attest_now());

    return &none;
}


static ngx_int_t
ngx_http_nitro_attest_hex_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, const uint8_t *src, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 2 * len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = (u_char *) nitro_attest_hex((char *) p, src, len) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    size_t                   len;
    const char              *status, *reason;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    status = nitro_attest_status_name(verdict->status);
    reason = nitro_attest_reason_name(verdict->reason);

    len = ngx_strlen(status);

    if (verdict->status == NITRO_ATTEST_STATUS_FAILED) {
        len += sizeof(":") - 1 + ngx_strlen(reason);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    p = ngx_cpymem(p, status, ngx_strlen(status));

    if (verdict->status == NITRO_ATTEST_STATUS_FAILED) {
        *p++ = ':';
        p = ngx_cpymem(p, reason, ngx_strlen(reason));
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_reason_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    v->data = (u_char *) nitro_attest_reason_name(verdict->reason);
    v->len = ngx_strlen(v->data);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_pcr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    if (!(verdict->flags & NITRO_ATTEST_F_MEASURED)
        || !(verdict->pcr_mask & ((uint32_t) 1 << data)))
    {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    return ngx_http_nitro_attest_hex_value(r, v,
                         nitro_attest_span_ptr(verdict, verdict->pcr[data]),
                         verdict->pcr[data].len);
}


static ngx_int_t
ngx_http_nitro_attest_text_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    nitro_attest_span_t     *span;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);
    span = (nitro_attest_span_t *) ((u_char *) verdict + data);

    if (span->len == 0) {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, span->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, nitro_attest_span_ptr(verdict, *span), span->len);

    v->len = span->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_bytes_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_span_t     *span;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);
    span = (nitro_attest_span_t *) ((u_char *) verdict + data);

    return ngx_http_nitro_attest_hex_value(r, v,
                                       nitro_attest_span_ptr(verdict, *span),
                                       span->len);
}


/* data 0: the document timestamp (ms); 1: its age at the handshake (s) */

static ngx_int_t
ngx_http_nitro_attest_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    int64_t                  value;
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    if (!(verdict->flags & NITRO_ATTEST_F_MEASURED)) {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    value = data ? (verdict->time_ms - verdict->timestamp_ms) / 1000
                 : verdict->timestamp_ms;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%L", value) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_cert_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    nitro_attest_verdict_t  *verdict;

    verdict = ngx_http_nitro_attest_verdict(r);

    if (!(verdict->flags & NITRO_ATTEST_F_CERT)) {
        *v = ngx_http_variable_null_value;
        return NGX_OK;
    }

    return ngx_http_nitro_attest_hex_value(r, v, verdict->cert_sha256,
                                           sizeof(verdict->cert_sha256));
}


static ngx_int_t
ngx_http_nitro_attest_json_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    char    *json;
    size_t   len;

    json = nitro_attest_event_json(ngx_http_nitro_attest_verdict(r));
    if (json == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(json);

    v->data = ngx_pnalloc(r->pool, len);
    if (v->data == NULL) {
        free(json);
        return NGX_ERROR;
    }

    ngx_memcpy(v->data, json, len);
    free(json);

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
