
/*
 * ngx_http_nitro_attest_module: attestation-bound mutual TLS for AWS Nitro
 * Enclaves.  Glue only: directives, the certificate hook in the handshake,
 * the per-connection verdict, the request guard, the variables, and the
 * telemetry around them (event log, shared counters and their status
 * endpoint, verified upstream headers).  Every verification step lives in
 * the core (src/nitro_attest.h).
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

/*
 * The counters zone has a fixed size, so that a reload finds it again by
 * name and size and keeps its figures; about 4000 allow-set names fit.
 */
#define NGX_HTTP_NITRO_ATTEST_ZONE_SIZE (1024 * 1024)

/* room for a syslog PRI and HEADER: "<191>Jan 01 00:00:00 host tag: " */
#define NGX_HTTP_NITRO_ATTEST_SYSLOG_HEAD                                     \
    (sizeof("<255>Jan 01 00:00:00 ") - 1 + NGX_MAXHOSTNAMELEN + 32 + 2)


typedef struct {
    ngx_str_t                       path;
    void                           *object;
} ngx_http_nitro_attest_file_t;


/* one destination of "nitro_attest_event_log" */
typedef struct {
    ngx_open_file_t                *file;
    ngx_syslog_peer_t              *syslog;
} ngx_http_nitro_attest_log_t;


/*
 * Shared counters, summed over all workers and kept across reloads.
 * Allow sets are counted by name: the same name in two policy files (two
 * servers) is one set to the metrics, as it is to the logs.
 */
typedef struct {
    ngx_queue_t                     queue;
    ngx_atomic_t                    matches;
    ngx_atomic_t                    last_success;  /* ms, 0: never */
    ngx_atomic_t                    since;         /* ms, first loaded */
    size_t                          len;
    u_char                          name[1];
} ngx_http_nitro_attest_set_node_t;


typedef struct {
    ngx_atomic_t                    verified;
    ngx_atomic_t                    failed;
    ngx_atomic_t                    failures[NITRO_ATTEST_REASON_COUNT];
    ngx_atomic_t                    cache_hit;
    ngx_atomic_t                    cache_miss;
    ngx_queue_t                     sets;          /* set nodes */
} ngx_http_nitro_attest_shctx_t;


/*
 * The verdict cache ("nitro_attest_cache zone="): successful verdicts in a
 * shared zone, found by SHA-256(configuration digest, certificate
 * digest), kept until the earliest of the document's max age and the
 * chain's notAfter, the least recently used evicted when the zone is full.
 */
typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;           /* most recent first */
} ngx_http_nitro_attest_cache_sh_t;


typedef struct {
    ngx_http_nitro_attest_cache_sh_t  *sh;
    ngx_slab_pool_t                   *shpool;
} ngx_http_nitro_attest_cache_t;


typedef struct {
    ngx_rbtree_node_t               node;          /* key: key's head */
    ngx_queue_t                     queue;
    int64_t                         expires;       /* ms */
    u_char                          key[SHA256_DIGEST_LENGTH];
    nitro_attest_verdict_t          verdict;       /* used prefix only */
} ngx_http_nitro_attest_cache_node_t;


/* an allow-set name of this configuration and its counters */
typedef struct {
    ngx_str_t                       name;
    int64_t                         expect_every;  /* ms, 0: not watched */
    ngx_http_nitro_attest_set_node_t  *node;
} ngx_http_nitro_attest_set_t;


typedef struct {
    ngx_array_t                     policies;  /* loaded policy files */
    ngx_array_t                     roots;     /* loaded root files */
    ngx_array_t                     servers;   /* srv confs with an SSL_CTX */
    ngx_array_t                     sets;      /* allow-set names */
    nitro_attest_root_t            *default_root;
    ngx_flag_t                      enforcing;
    ngx_flag_t                      status;    /* a status location exists */
    ngx_flag_t                      headers;   /* upstream headers are on */
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_nitro_attest_shctx_t  *sh;
    ngx_uint_t                      chain_cache;   /* bundles per worker */
} ngx_http_nitro_attest_main_conf_t;


typedef struct {
    ngx_uint_t                      enable;
    nitro_attest_policy_t          *policy;
    nitro_attest_root_t            *root;
    ngx_msec_t                      max_age;
    ngx_msec_t                      clock_skew;
    ngx_uint_t                      binding;
    nitro_attest_extension_t       *extension;
    ngx_array_t                    *event_log;  /* destinations, or NULL */
    ngx_shm_zone_t                 *cache;      /* verdict cache, or NULL */

    nitro_attest_config_t           core;
    u_char                          digest[SHA256_DIGEST_LENGTH];
    ngx_http_nitro_attest_main_conf_t  *main;

    /* random per server and configuration cycle: who attested a session */
    u_char                          tag[NGX_HTTP_NITRO_ATTEST_TAG_LEN];

    u_char                         *file;      /* where "nitro_attest" is */
    ngx_uint_t                      line;
} ngx_http_nitro_attest_srv_conf_t;


typedef struct {
    ngx_flag_t                      upstream_headers;
} ngx_http_nitro_attest_loc_conf_t;


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
static void ngx_http_nitro_attest_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_nitro_attest_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_nitro_attest_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_nitro_attest_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static void *ngx_http_nitro_attest_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_nitro_attest_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);

static char *ngx_http_nitro_attest(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_binding(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_extension(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_nitro_attest_chain_cache(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_event_log(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_nitro_attest_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_nitro_attest_load(ngx_conf_t *cf, ngx_array_t *files,
    ngx_str_t *path, ngx_uint_t root);
static void ngx_http_nitro_attest_free_policy(void *data);
static void ngx_http_nitro_attest_free_root(void *data);
static void ngx_http_nitro_attest_free_extension(void *data);

static int ngx_http_nitro_attest_verify(X509_STORE_CTX *store, void *arg);
static nitro_attest_reason_e ngx_http_nitro_attest_verify_cert(
    ngx_connection_t *c, ngx_http_nitro_attest_srv_conf_t *nascf, X509 *cert,
    int64_t now, nitro_attest_verdict_t *v);
static nitro_attest_chain_cache_t *ngx_http_nitro_attest_chains(
    ngx_connection_t *c, ngx_http_nitro_attest_main_conf_t *namcf);
static ngx_int_t ngx_http_nitro_attest_init_cache(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_nitro_attest_cache_key(
    ngx_http_nitro_attest_srv_conf_t *nascf, X509 *cert, u_char *key);
static ngx_int_t ngx_http_nitro_attest_cache_get(
    ngx_http_nitro_attest_cache_t *cache, u_char *key, int64_t now,
    nitro_attest_verdict_t *v);
static void ngx_http_nitro_attest_cache_put(
    ngx_http_nitro_attest_cache_t *cache, u_char *key, int64_t expires,
    nitro_attest_verdict_t *v);
static ngx_http_nitro_attest_cache_node_t *ngx_http_nitro_attest_cache_find(
    ngx_http_nitro_attest_cache_t *cache, u_char *key);
static void ngx_http_nitro_attest_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
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

static void ngx_http_nitro_attest_info(const ngx_ssl_conn_t *ssl_conn,
    int where, int ret);
static void ngx_http_nitro_attest_no_certificate(ngx_ssl_conn_t *ssl_conn);
static void ngx_http_nitro_attest_account(ngx_connection_t *c,
    ngx_http_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v);
static void ngx_http_nitro_attest_count(
    ngx_http_nitro_attest_main_conf_t *namcf, nitro_attest_verdict_t *v);
static void ngx_http_nitro_attest_write_event(ngx_connection_t *c,
    ngx_array_t *targets, nitro_attest_verdict_t *v);
static ngx_int_t ngx_http_nitro_attest_init_sets(ngx_conf_t *cf,
    ngx_http_nitro_attest_main_conf_t *namcf);
static ngx_int_t ngx_http_nitro_attest_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);

static ngx_int_t ngx_http_nitro_attest_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_nitro_attest_headers_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_nitro_attest_spoofed(ngx_table_elt_t *h);
static ngx_int_t ngx_http_nitro_attest_add_header(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *key, u_char *value, size_t len);
static ngx_int_t ngx_http_nitro_attest_add_hex_header(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *key, const uint8_t *src, size_t len);

static ngx_int_t ngx_http_nitro_attest_status_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_nitro_attest_wants_prometheus(
    ngx_http_request_t *r);
static u_char *ngx_http_nitro_attest_status_json(u_char *p,
    ngx_http_nitro_attest_main_conf_t *namcf, int64_t now);
static u_char *ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_http_nitro_attest_main_conf_t *namcf, int64_t now);
static u_char *ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value);
static ngx_uint_t ngx_http_nitro_attest_silent(ngx_http_nitro_attest_set_t *set,
    int64_t now);

static nitro_attest_verdict_t *ngx_http_nitro_attest_verdict(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_nitro_attest_status_text(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_str_t *text);
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


/* the kind of file a directive loads (its command's post) */
static ngx_uint_t  ngx_http_nitro_attest_policy_file = 0;
static ngx_uint_t  ngx_http_nitro_attest_root_file = 1;


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
      ngx_http_nitro_attest_file,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_srv_conf_t, policy),
      &ngx_http_nitro_attest_policy_file },

    { ngx_string("nitro_attest_trusted_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_file,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_srv_conf_t, root),
      &ngx_http_nitro_attest_root_file },

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

    { ngx_string("nitro_attest_event_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_event_log,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_upstream_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_nitro_attest_loc_conf_t, upstream_headers),
      NULL },

    { ngx_string("nitro_attest_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_nitro_attest_status,
      0,
      0,
      NULL },

    { ngx_string("nitro_attest_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_cache,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("nitro_attest_chain_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_nitro_attest_chain_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
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

    ngx_http_nitro_attest_create_loc_conf, /* create location configuration */
    ngx_http_nitro_attest_merge_loc_conf   /* merge location configuration */
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
    ngx_http_nitro_attest_exit_process,    /* exit process */
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

/* the server whose verdict is accounted once the handshake completes */
static int  ngx_http_nitro_attest_pending_index = -1;

/* nginx's own info callback, called after the module's */
static void  (*ngx_http_nitro_attest_next_info)(const SSL *ssl, int where,
    int ret);

/* scratch for one verification at a time (a worker runs one handshake) */
static nitro_attest_verdict_t  ngx_http_nitro_attest_scratch;

/* this worker's chain cache, made on first use */
static nitro_attest_chain_cache_t  *ngx_http_nitro_attest_chain_cache_p;


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
     *     namcf->status = 0;
     *     namcf->headers = 0;
     *     namcf->shm_zone = NULL;
     *     namcf->sh = NULL;
     */

    namcf->chain_cache = NGX_CONF_UNSET_UINT;

    if (ngx_array_init(&namcf->policies, cf->pool, 2,
                       sizeof(ngx_http_nitro_attest_file_t))
        != NGX_OK
        || ngx_array_init(&namcf->roots, cf->pool, 1,
                          sizeof(ngx_http_nitro_attest_file_t))
           != NGX_OK
        || ngx_array_init(&namcf->servers, cf->pool, 4,
                          sizeof(ngx_http_nitro_attest_srv_conf_t *))
           != NGX_OK
        || ngx_array_init(&namcf->sets, cf->pool, 4,
                          sizeof(ngx_http_nitro_attest_set_t))
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
    nascf->event_log = NGX_CONF_UNSET_PTR;
    nascf->cache = NGX_CONF_UNSET_PTR;
    nascf->main = ngx_http_conf_get_module_main_conf(cf,
                                                ngx_http_nitro_attest_module);

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
    ngx_conf_merge_ptr_value(conf->event_log, prev->event_log, NULL);
    ngx_conf_merge_ptr_value(conf->cache, prev->cache, NULL);

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

    /* a cached verdict is found only under the same configuration */
    if (nitro_attest_config_digest(&conf->core, conf->digest) != 0) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "nitro_attest: configuration digest failed");
        return NGX_CONF_ERROR;
    }

    if (RAND_bytes(conf->tag, NGX_HTTP_NITRO_ATTEST_TAG_LEN) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0, "RAND_bytes() failed");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_nitro_attest_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_nitro_attest_loc_conf_t  *nalcf;

    nalcf = ngx_palloc(cf->pool, sizeof(ngx_http_nitro_attest_loc_conf_t));
    if (nalcf == NULL) {
        return NULL;
    }

    nalcf->upstream_headers = NGX_CONF_UNSET;

    return nalcf;
}


static char *
ngx_http_nitro_attest_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_nitro_attest_loc_conf_t *prev = parent;
    ngx_http_nitro_attest_loc_conf_t *conf = child;

    ngx_http_nitro_attest_main_conf_t  *namcf;

    ngx_conf_merge_value(conf->upstream_headers, prev->upstream_headers, 0);

    if (conf->upstream_headers) {
        namcf = ngx_http_conf_get_module_main_conf(cf,
                                                ngx_http_nitro_attest_module);
        namcf->headers = 1;
    }

    return NGX_CONF_OK;
}


#if (NGX_HTTP_V3)

/*
 * HTTP/3 requests are not attested (the guard refuses them on an "on"
 * server, the variables say NONE on an "optional" one): nginx -t says so
 * for every QUIC listen of an attesting server.
 */

static void
ngx_http_nitro_attest_warn_quic(ngx_conf_t *cf,
    ngx_http_core_main_conf_t *cmcf)
{
    ngx_uint_t                          p, a, s;
    ngx_http_conf_port_t               *port;
    ngx_http_conf_addr_t               *addr;
    ngx_http_core_srv_conf_t          **cscfp;
    ngx_http_nitro_attest_srv_conf_t   *nascf;

    if (cmcf->ports == NULL) {
        return;
    }

    port = cmcf->ports->elts;

    for (p = 0; p < cmcf->ports->nelts; p++) {
        addr = port[p].addrs.elts;

        for (a = 0; a < port[p].addrs.nelts; a++) {
            if (!addr[a].opt.quic) {
                continue;
            }

            cscfp = addr[a].servers.elts;

            for (s = 0; s < addr[a].servers.nelts; s++) {
                nascf = cscfp[s]->ctx->srv_conf[
                                        ngx_http_nitro_attest_module.ctx_index];

                if (nascf->enable == NGX_HTTP_NITRO_ATTEST_OFF) {
                    continue;
                }

                ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                              "\"nitro_attest\" in %s:%ui applies to a "
                              "server that listens on %V with quic: HTTP/3 "
                              "requests are not attested (%s)",
                              nascf->file, nascf->line,
                              &addr[a].opt.addr_text,
                              nascf->enable == NGX_HTTP_NITRO_ATTEST_ON
                              ? "they are refused with 421"
                              : "their status is NONE");
            }
        }
    }
}

#endif


static ngx_int_t
ngx_http_nitro_attest_init(ngx_conf_t *cf)
{
    int                                 mode;
    ngx_str_t                           name;
    ngx_uint_t                          s, i;
    ngx_http_handler_pt                *h;
    ngx_http_ssl_srv_conf_t            *sscf;
    ngx_http_core_srv_conf_t          **cscfp;
    ngx_http_core_main_conf_t          *cmcf;
    ngx_http_nitro_attest_srv_conf_t   *nascf, **server;
    ngx_http_nitro_attest_main_conf_t  *namcf;
    void                              (*info)(const SSL *ssl, int where,
                                              int ret);

    static ngx_uint_t  phases[] = {
        NGX_HTTP_POST_READ_PHASE,
        NGX_HTTP_SERVER_REWRITE_PHASE,  /* error_page redirects start here */
        NGX_HTTP_REWRITE_PHASE          /* named locations start here */
    };

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    ngx_conf_init_uint_value(namcf->chain_cache, 64);

    if (ngx_http_nitro_attest_conn_index == -1) {
        ngx_http_nitro_attest_conn_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                                NULL, NULL);
        ngx_http_nitro_attest_ctx_index = SSL_CTX_get_ex_new_index(0, NULL,
                                                                   NULL, NULL,
                                                                   NULL);
        ngx_http_nitro_attest_pending_index = SSL_get_ex_new_index(0, NULL,
                                                                   NULL, NULL,
                                                                   NULL);

        if (ngx_http_nitro_attest_conn_index == -1
            || ngx_http_nitro_attest_ctx_index == -1
            || ngx_http_nitro_attest_pending_index == -1)
        {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "nitro_attest: ex_new_index() failed");
            return NGX_ERROR;
        }
    }

    if (ngx_http_nitro_attest_init_sets(cf, namcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (namcf->status) {
        ngx_str_set(&name, "nitro_attest_status");

        namcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                            NGX_HTTP_NITRO_ATTEST_ZONE_SIZE,
                                            &ngx_http_nitro_attest_module);
        if (namcf->shm_zone == NULL) {
            return NGX_ERROR;
        }

        namcf->shm_zone->init = ngx_http_nitro_attest_init_zone;
        namcf->shm_zone->data = namcf;
    }

    if (namcf->headers) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_nitro_attest_headers_handler;
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

        /*
         * The info callback sees what the hook cannot: a client without a
         * certificate, and the end of a handshake whose verdict waits for
         * the client to prove it holds the certificate's key.
         */

        info = SSL_CTX_get_info_callback(sscf->ssl.ctx);

        if (info != ngx_http_nitro_attest_info) {
            ngx_http_nitro_attest_next_info = info;
            SSL_CTX_set_info_callback(sscf->ssl.ctx,
                                      ngx_http_nitro_attest_info);
        }

        SSL_CTX_set_verify(sscf->ssl.ctx, mode,
                           SSL_CTX_get_verify_callback(sscf->ssl.ctx));

        SSL_CTX_set_cert_verify_callback(sscf->ssl.ctx,
                                         ngx_http_nitro_attest_verify, NULL);
    }

#if (NGX_HTTP_V3)
    ngx_http_nitro_attest_warn_quic(cf, cmcf);
#endif

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


static void
ngx_http_nitro_attest_exit_process(ngx_cycle_t *cycle)
{
    nitro_attest_chain_cache_free(ngx_http_nitro_attest_chain_cache_p);
    ngx_http_nitro_attest_chain_cache_p = NULL;
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


/*
 * nitro_attest_policy FILE; and nitro_attest_trusted_root FILE;: the field
 * at cmd->offset, the kind of file in cmd->post.
 */

static char *
ngx_http_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    void                              **field;
    ngx_str_t                          *value, path;
    ngx_uint_t                         *root;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    field = (void **) (p + cmd->offset);
    root = cmd->post;

    if (*field != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);

    *field = ngx_http_nitro_attest_load(cf, *root ? &namcf->roots
                                                  : &namcf->policies,
                                        &path, *root);
    if (*field == NULL) {
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


/* nitro_attest_cache zone=NAME:SIZE | off; */

static char *
ngx_http_nitro_attest_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_nitro_attest_srv_conf_t *nascf = conf;

    u_char                         *p;
    ssize_t                         size;
    ngx_str_t                      *value, name, s;
    ngx_http_nitro_attest_cache_t  *cache;

    if (nascf->cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        nascf->cache = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        goto invalid;
    }

    name.data = value[1].data + 5;
    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL) {
        goto invalid;
    }

    name.len = p - name.data;
    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;
    size = ngx_parse_size(&s);

    if (name.len == 0 || size == NGX_ERROR) {
        goto invalid;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" of \"%V\" is too small, it must "
                           "be at least %uzk", &name, &value[0],
                           8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    nascf->cache = ngx_shared_memory_add(cf, &name, size,
                                         &ngx_http_nitro_attest_module);
    if (nascf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    if (nascf->cache->data == NULL) {
        cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_nitro_attest_cache_t));
        if (cache == NULL) {
            return NGX_CONF_ERROR;
        }

        nascf->cache->init = ngx_http_nitro_attest_init_cache;
        nascf->cache->data = cache;

    } else if (nascf->cache->init != ngx_http_nitro_attest_init_cache) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used by another directive",
                           &name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be \"zone=NAME:SIZE\" or \"off\"",
                       &value[1], &value[0]);
    return NGX_CONF_ERROR;
}


/* nitro_attest_chain_cache NUMBER | off; (CA bundles per worker) */

static char *
ngx_http_nitro_attest_chain_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_main_conf_t *namcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (namcf->chain_cache != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        namcf->chain_cache = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n == 0 || n > 65536) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, it must "
                           "be a number of bundles (1..65536) or \"off\"",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    namcf->chain_cache = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_nitro_attest_srv_conf_t *nascf = conf;

    ngx_str_t                    *value;
    ngx_http_nitro_attest_log_t  *log;

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
        nascf->event_log = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_nitro_attest_log_t));
        if (nascf->event_log == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    log = ngx_array_push(nascf->event_log);
    if (log == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(log, sizeof(ngx_http_nitro_attest_log_t));

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


static char *
ngx_http_nitro_attest_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_nitro_attest_status_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_nitro_attest_status_handler;

    namcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_nitro_attest_module);
    namcf->status = 1;

    return NGX_CONF_OK;
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

    reason = ngx_http_nitro_attest_verify_cert(c, nascf, cert, now, v);

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

    /*
     * The client has not yet proved that it holds the certificate's key
     * (CertificateVerify comes next): a handshake that goes on is
     * counted and logged when it completes; one refused here, now.
     */

    if (reason == NITRO_ATTEST_OK
        || nascf->enable == NGX_HTTP_NITRO_ATTEST_OPTIONAL)
    {
        if (SSL_set_ex_data(ssl_conn, ngx_http_nitro_attest_pending_index,
                            nascf)
            == 0)
        {
            ngx_http_nitro_attest_account(c, nascf, &nac->verdict);
        }

    } else {
        ngx_http_nitro_attest_account(c, nascf, &nac->verdict);
    }

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
     * The first error queued decides how nginx < 1.23.4 logs the failed
     * handshake: "callback failed" is logged at the "info" level, like
     * other client errors, where "certificate verify failed" would be
     * "crit".  Later nginx judges the last one: see refused_error().
     */

#if (nginx_version < 1023004)
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    ERR_raise_data(ERR_LIB_SSL, SSL_R_CALLBACK_FAILED, "nitro_attest: %s",
                   nitro_attest_reason_name(reason));
#else
    SSLerr(SSL_F_SSL_VERIFY_CERT_CHAIN, SSL_R_CALLBACK_FAILED);
#endif
#endif

    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);

    return 0;
}


/*
 * The verdict for cert: from the verdict cache when it holds one for this
 * configuration and certificate, else verified by the core (with this
 * worker's chain cache) without any lock held, and remembered on success.
 */

static nitro_attest_reason_e
ngx_http_nitro_attest_verify_cert(ngx_connection_t *c,
    ngx_http_nitro_attest_srv_conf_t *nascf, X509 *cert, int64_t now,
    nitro_attest_verdict_t *v)
{
    u_char                          key[SHA256_DIGEST_LENGTH];
    int64_t                         expires;
    ngx_int_t                       keyed;
    nitro_attest_config_t           core;
    nitro_attest_reason_e           reason;
    ngx_http_nitro_attest_cache_t  *cache;

    cache = nascf->cache ? nascf->cache->data : NULL;
    keyed = cache != NULL
            && ngx_http_nitro_attest_cache_key(nascf, cert, key) == NGX_OK;

    if (keyed && ngx_http_nitro_attest_cache_get(cache, key, now, v) == NGX_OK)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "nitro_attest: verdict cache hit");
        return v->reason;
    }

    core = nascf->core;
    core.chain_cache = ngx_http_nitro_attest_chains(c, nascf->main);

    reason = nitro_attest_verify_cert(&core, cert, now, v);

    if (cache == NULL) {
        return reason;
    }

    v->cache = NITRO_ATTEST_CACHE_MISS;

    /* failures are never cached */
    if (keyed && reason == NITRO_ATTEST_OK) {
        expires = v->timestamp_ms + (int64_t) nascf->max_age;
        expires = ngx_min(expires, v->not_after_ms);

        if (expires > now) {
            ngx_http_nitro_attest_cache_put(cache, key, expires, v);
        }
    }

    return reason;
}


/* This worker's chain cache, or NULL when it is off or cannot be made. */

static nitro_attest_chain_cache_t *
ngx_http_nitro_attest_chains(ngx_connection_t *c,
    ngx_http_nitro_attest_main_conf_t *namcf)
{
    static ngx_uint_t  failed;

    if (ngx_http_nitro_attest_chain_cache_p == NULL && namcf->chain_cache
        && !failed)
    {
        ngx_http_nitro_attest_chain_cache_p =
                             nitro_attest_chain_cache_new(namcf->chain_cache);

        if (ngx_http_nitro_attest_chain_cache_p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "nitro_attest: cannot make the chain cache, "
                          "verifying every chain in full");
            failed = 1;
        }
    }

    return namcf->chain_cache ? ngx_http_nitro_attest_chain_cache_p : NULL;
}


static ngx_int_t
ngx_http_nitro_attest_init_cache(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_nitro_attest_cache_t *ocache = data;

    size_t                          entry, slot;
    ngx_http_nitro_attest_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        /* entries of an old configuration are simply never found again */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_nitro_attest_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_nitro_attest_cache_insert);
    ngx_queue_init(&cache->sh->lru);

    cache->shpool->log_nomem = 0;
    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool,
                                            sizeof(" in nitro_attest_cache "
                                                   "zone \"\"")
                                            + shm_zone->shm.name.len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx,
                " in nitro_attest_cache zone \"%V\"%Z", &shm_zone->shm.name);

    /*
     * A verdict with 16 PCRs of 48 bytes and a 40-byte module id, as AWS
     * sends them; the slab allocator rounds it up to a power of two.
     */
    entry = offsetof(ngx_http_nitro_attest_cache_node_t, verdict)
            + offsetof(nitro_attest_verdict_t, data) + 16 * 48 + 40;

    for (slot = 8; slot < entry; slot <<= 1) { /* void */ }

    ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                  "nitro_attest_cache zone \"%V\": an entry takes %uz bytes "
                  "(a %uz-byte slab slot), about %uz entries fit in 10 MB",
                  &shm_zone->shm.name, entry, slot,
                  (size_t) (10 * 1024 * 1024) / slot);

    return NGX_OK;
}


/* SHA-256 over the configuration digest and the certificate's digest. */

static ngx_int_t
ngx_http_nitro_attest_cache_key(ngx_http_nitro_attest_srv_conf_t *nascf,
    X509 *cert, u_char *key)
{
    u_char        buf[2 * SHA256_DIGEST_LENGTH];
    unsigned int  len;

    ngx_memcpy(buf, nascf->digest, SHA256_DIGEST_LENGTH);

    if (X509_digest(cert, EVP_sha256(), buf + SHA256_DIGEST_LENGTH, &len)
        != 1
        || SHA256(buf, sizeof(buf), key) == NULL)
    {
        ERR_clear_error();
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_cache_get(ngx_http_nitro_attest_cache_t *cache,
    u_char *key, int64_t now, nitro_attest_verdict_t *v)
{
    ngx_int_t                            rc;
    ngx_http_nitro_attest_cache_node_t  *cn;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_nitro_attest_cache_find(cache, key);

    if (cn != NULL && cn->expires > now) {
        ngx_memcpy(v, &cn->verdict, nitro_attest_verdict_size(&cn->verdict));

        ngx_queue_remove(&cn->queue);
        ngx_queue_insert_head(&cache->sh->lru, &cn->queue);
        rc = NGX_OK;

    } else if (cn != NULL) {
        ngx_queue_remove(&cn->queue);
        ngx_rbtree_delete(&cache->sh->rbtree, &cn->node);
        ngx_slab_free_locked(cache->shpool, cn);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    if (rc == NGX_OK) {
        /* as if verified now: the same verdict, today's time and age */
        v->time_ms = now;
        v->cache = NITRO_ATTEST_CACHE_HIT;
        v->flags &= ~NITRO_ATTEST_F_RESUMED;
    }

    return rc;
}


static void
ngx_http_nitro_attest_cache_put(ngx_http_nitro_attest_cache_t *cache,
    u_char *key, int64_t expires, nitro_attest_verdict_t *v)
{
    size_t                               size;
    ngx_queue_t                         *q;
    ngx_http_nitro_attest_cache_node_t  *cn, *old;

    size = offsetof(ngx_http_nitro_attest_cache_node_t, verdict)
           + nitro_attest_verdict_size(v);

    ngx_shmtx_lock(&cache->shpool->mutex);

    /* another worker may have cached it meanwhile */
    if (ngx_http_nitro_attest_cache_find(cache, key) != NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    /* full: the least recently used entries make room */
    while ((cn = ngx_slab_alloc_locked(cache->shpool, size)) == NULL) {

        if (ngx_queue_empty(&cache->sh->lru)) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return;
        }

        q = ngx_queue_last(&cache->sh->lru);
        old = ngx_queue_data(q, ngx_http_nitro_attest_cache_node_t, queue);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&cache->sh->rbtree, &old->node);
        ngx_slab_free_locked(cache->shpool, old);
    }

    ngx_memcpy(cn->key, key, SHA256_DIGEST_LENGTH);
    ngx_memcpy(&cn->node.key, key, sizeof(ngx_rbtree_key_t));
    cn->expires = expires;
    ngx_memcpy(&cn->verdict, v, nitro_attest_verdict_size(v));

    ngx_rbtree_insert(&cache->sh->rbtree, &cn->node);
    ngx_queue_insert_head(&cache->sh->lru, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* under the zone's lock */

static ngx_http_nitro_attest_cache_node_t *
ngx_http_nitro_attest_cache_find(ngx_http_nitro_attest_cache_t *cache,
    u_char *key)
{
    ngx_int_t                            rc;
    ngx_rbtree_key_t                     head;
    ngx_rbtree_node_t                   *node, *sentinel;
    ngx_http_nitro_attest_cache_node_t  *cn;

    ngx_memcpy(&head, key, sizeof(ngx_rbtree_key_t));

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (head != node->key) {
            node = (head < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_http_nitro_attest_cache_node_t *) node;
        rc = ngx_memcmp(key, cn->key, SHA256_DIGEST_LENGTH);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* ordered by the key's head, then by the whole key */

static void
ngx_http_nitro_attest_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                  **p;
    ngx_http_nitro_attest_cache_node_t  *cn, *cnt;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            cn = (ngx_http_nitro_attest_cache_node_t *) node;
            cnt = (ngx_http_nitro_attest_cache_node_t *) temp;

            p = (ngx_memcmp(cn->key, cnt->key, SHA256_DIGEST_LENGTH) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
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


#if (nginx_version >= 1023004)

/*
 * nginx 1.23.4+ takes the level of a failed handshake's log line from the
 * last error queued, and OpenSSL queues "certificate verify failed" (logged
 * as "crit") after the hook refused the certificate.  When the fatal alert
 * goes out, "callback failed" is queued after it: a client the module
 * refused is logged at "info", like other client errors.
 */

static void
ngx_http_nitro_attest_refused_error(const ngx_ssl_conn_t *ssl_conn,
    unsigned long err)
{
    ngx_http_nitro_attest_conn_t  *nac;

    if (ERR_GET_LIB(err) != ERR_LIB_SSL
        || ERR_GET_REASON(err) != SSL_R_CERTIFICATE_VERIFY_FAILED)
    {
        return;
    }

    nac = SSL_get_ex_data(ssl_conn, ngx_http_nitro_attest_conn_index);

    if (nac == NULL || nac->verdict.status != NITRO_ATTEST_STATUS_FAILED) {
        return;
    }

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    ERR_raise_data(ERR_LIB_SSL, SSL_R_CALLBACK_FAILED, "nitro_attest: %s",
                   nitro_attest_reason_name(nac->verdict.reason));
#else
    SSLerr(SSL_F_SSL_VERIFY_CERT_CHAIN, SSL_R_CALLBACK_FAILED);
#endif
}

#endif


/*
 * A client of an enforcing server that sends no certificate fails in
 * OpenSSL before any verification: the fatal alert it gets is the one
 * place to see it, so that it is counted and logged as "no_certificate".
 */

static void
ngx_http_nitro_attest_info(const ngx_ssl_conn_t *ssl_conn, int where,
    int ret)
{
    unsigned long                      err;
    ngx_connection_t                  *c;
    ngx_http_nitro_attest_conn_t      *nac;
    ngx_http_nitro_attest_srv_conf_t  *nascf;

    if (where & SSL_CB_HANDSHAKE_DONE) {
        nascf = SSL_get_ex_data(ssl_conn,
                                ngx_http_nitro_attest_pending_index);
        nac = SSL_get_ex_data(ssl_conn, ngx_http_nitro_attest_conn_index);

        if (nascf != NULL && nac != NULL) {
            SSL_set_ex_data((ngx_ssl_conn_t *) ssl_conn,
                            ngx_http_nitro_attest_pending_index, NULL);

            c = ngx_ssl_get_connection(ssl_conn);
            ngx_http_nitro_attest_account(c, nascf, &nac->verdict);
        }
    }

    if ((where & SSL_CB_ALERT)
        && (where & SSL_CB_WRITE)
        && (ret >> 8) == SSL3_AL_FATAL)
    {
        err = ERR_peek_last_error();

        if (ERR_GET_LIB(err) == ERR_LIB_SSL
            && ERR_GET_REASON(err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE
            && SSL_get_ex_data(ssl_conn, ngx_http_nitro_attest_conn_index)
               == NULL)
        {
            ngx_http_nitro_attest_no_certificate(
                                               (ngx_ssl_conn_t *) ssl_conn);
        }

#if (nginx_version >= 1023004)
        ngx_http_nitro_attest_refused_error(ssl_conn, err);
#endif
    }

    if (ngx_http_nitro_attest_next_info) {
        ngx_http_nitro_attest_next_info(ssl_conn, where, ret);
    }
}


static void
ngx_http_nitro_attest_no_certificate(ngx_ssl_conn_t *ssl_conn)
{
    ngx_connection_t                  *c;
    nitro_attest_verdict_t            *v;
    ngx_http_nitro_attest_srv_conf_t  *nascf;

    nascf = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                                ngx_http_nitro_attest_ctx_index);

    if (nascf == NULL || nascf->enable != NGX_HTTP_NITRO_ATTEST_ON) {
        return;
    }

    c = ngx_ssl_get_connection(ssl_conn);
    v = &ngx_http_nitro_attest_scratch;

    nitro_attest_verdict_none(v, ngx_http_nitro_attest_now());

    v->status = NITRO_ATTEST_STATUS_FAILED;
    v->reason = NITRO_ATTEST_NO_CERTIFICATE;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "client attestation failed: no_certificate, "
                  "handshake refused");

    ngx_http_nitro_attest_account(c, nascf, v);
}


/* one full verification: the counters and the event log */

static void
ngx_http_nitro_attest_account(ngx_connection_t *c,
    ngx_http_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v)
{
    ngx_http_nitro_attest_count(nascf->main, v);

    /* a cache hit is counted, and marked where it shows, not re-logged */
    if (nascf->event_log && v->cache != NITRO_ATTEST_CACHE_HIT) {
        ngx_http_nitro_attest_write_event(c, nascf->event_log, v);
    }
}


static void
ngx_http_nitro_attest_count(ngx_http_nitro_attest_main_conf_t *namcf,
    nitro_attest_verdict_t *v)
{
    ngx_uint_t                      i;
    nitro_attest_span_t            *name;
    ngx_http_nitro_attest_set_t    *set;
    ngx_http_nitro_attest_shctx_t  *sh;

    sh = namcf->sh;

    if (sh == NULL) {
        return;
    }

    if (v->cache == NITRO_ATTEST_CACHE_HIT) {
        (void) ngx_atomic_fetch_add(&sh->cache_hit, 1);

    } else if (v->cache == NITRO_ATTEST_CACHE_MISS) {
        (void) ngx_atomic_fetch_add(&sh->cache_miss, 1);
    }

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS) {
        (void) ngx_atomic_fetch_add(&sh->failed, 1);

        if (v->reason < NITRO_ATTEST_REASON_COUNT) {
            (void) ngx_atomic_fetch_add(&sh->failures[v->reason], 1);
        }

        return;
    }

    (void) ngx_atomic_fetch_add(&sh->verified, 1);

    /* on success the verdict names the allow set that matched */

    name = &v->policy;
    set = namcf->sets.elts;

    for (i = 0; i < namcf->sets.nelts; i++) {
        if (set[i].node == NULL
            || set[i].name.len != name->len
            || ngx_memcmp(set[i].name.data, nitro_attest_span_ptr(v, *name),
                          name->len)
               != 0)
        {
            continue;
        }

        (void) ngx_atomic_fetch_add(&set[i].node->matches, 1);
        set[i].node->last_success = (ngx_atomic_uint_t) v->time_ms;
        return;
    }
}


/*
 * The section 7 event, one line per destination: files get it with a
 * newline, syslog with its header and the event's severity.
 */

static void
ngx_http_nitro_attest_write_event(ngx_connection_t *c, ngx_array_t *targets,
    nitro_attest_verdict_t *v)
{
    char                         *json;
    u_char                       *buf, *line, *start, *p;
    size_t                        len;
    ssize_t                       n;
    ngx_uint_t                    i, severity;
    const char                   *level;
    ngx_http_nitro_attest_log_t  *log;
    u_char                        head[NGX_HTTP_NITRO_ATTEST_SYSLOG_HEAD];

    json = nitro_attest_event_json(v);
    if (json == NULL) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "nitro_attest: no memory for the event log line");
        return;
    }

    len = ngx_strlen(json);

    buf = ngx_alloc(NGX_HTTP_NITRO_ATTEST_SYSLOG_HEAD + len + 1, c->log);
    if (buf == NULL) {
        free(json);
        return;
    }

    line = buf + NGX_HTTP_NITRO_ATTEST_SYSLOG_HEAD;
    ngx_memcpy(line, json, len);
    line[len] = LF;
    free(json);

    /* syslog severities: crit, warning, info */

    level = nitro_attest_severity(v);
    severity = level[0] == 'C' ? 2 : (level[0] == 'W' ? 4 : 6);

    log = targets->elts;

    for (i = 0; i < targets->nelts; i++) {

        if (log[i].file) {
            n = ngx_write_fd(log[i].file->fd, line, len + 1);

            if (n != (ssize_t) len + 1) {
                ngx_log_error(NGX_LOG_ALERT, c->log, ngx_errno,
                              ngx_write_fd_n " to \"%V\" failed",
                              &log[i].file->name);
            }

            continue;
        }

        log[i].syslog->severity = severity;

        p = ngx_syslog_add_header(log[i].syslog, head);
        start = line - (p - head);
        ngx_memcpy(start, head, p - head);

        n = ngx_syslog_send(log[i].syslog, start, line + len - start);

        if (n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "nitro_attest: send() to syslog failed");
        }
    }

    ngx_free(buf);
}


/*
 * The allow-set names of every policy file loaded in this cycle, each name
 * once; a name in several files is watched at its shortest expect_every.
 */

static ngx_int_t
ngx_http_nitro_attest_init_sets(ngx_conf_t *cf,
    ngx_http_nitro_attest_main_conf_t *namcf)
{
    size_t                          n, k, len;
    int64_t                         every;
    ngx_uint_t                      i, j;
    const char                     *name;
    nitro_attest_policy_t          *policy;
    ngx_http_nitro_attest_set_t    *set;
    ngx_http_nitro_attest_file_t   *file;

    file = namcf->policies.elts;

    for (i = 0; i < namcf->policies.nelts; i++) {
        policy = file[i].object;
        n = nitro_attest_policy_allow_count(policy);

        for (k = 0; k < n; k++) {
            name = nitro_attest_policy_allow_name(policy, k);
            every = nitro_attest_policy_allow_expect_every(policy, k);
            len = ngx_strlen(name);

            set = namcf->sets.elts;

            for (j = 0; j < namcf->sets.nelts; j++) {
                if (set[j].name.len == len
                    && ngx_memcmp(set[j].name.data, name, len) == 0)
                {
                    break;
                }
            }

            if (j == namcf->sets.nelts) {
                set = ngx_array_push(&namcf->sets);
                if (set == NULL) {
                    return NGX_ERROR;
                }

                set->name.len = len;
                set->name.data = (u_char *) name;
                set->expect_every = every;
                set->node = NULL;
                continue;
            }

            if (every > 0
                && (set[j].expect_every == 0 || every < set[j].expect_every))
            {
                set[j].expect_every = every;
            }
        }
    }

    return NGX_OK;
}


/*
 * Runs in the master for each configuration cycle.  A reload finds the
 * zone of the previous cycle (same name and size) and keeps its counters;
 * names new to this cycle get counters that start now.  Nodes are never
 * freed: old workers may still count into them.
 */

static ngx_int_t
ngx_http_nitro_attest_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_nitro_attest_main_conf_t *onamcf = data;

    size_t                              len;
    int64_t                             now;
    ngx_uint_t                          i;
    ngx_queue_t                        *q;
    ngx_slab_pool_t                    *shpool;
    ngx_http_nitro_attest_set_t        *set;
    ngx_http_nitro_attest_set_node_t   *node;
    ngx_http_nitro_attest_shctx_t      *sh;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    namcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (onamcf) {
        sh = onamcf->sh;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_nitro_attest_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&sh->sets);
        shpool->data = sh;
        shpool->log_nomem = 0;
    }

    namcf->sh = sh;
    now = ngx_http_nitro_attest_now();
    set = namcf->sets.elts;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < namcf->sets.nelts; i++) {

        for (q = ngx_queue_head(&sh->sets);
             q != ngx_queue_sentinel(&sh->sets);
             q = ngx_queue_next(q))
        {
            node = ngx_queue_data(q, ngx_http_nitro_attest_set_node_t, queue);

            if (node->len == set[i].name.len
                && ngx_memcmp(node->name, set[i].name.data, node->len) == 0)
            {
                set[i].node = node;
                break;
            }
        }

        if (set[i].node) {
            continue;
        }

        len = offsetof(ngx_http_nitro_attest_set_node_t, name)
              + set[i].name.len;

        node = ngx_slab_calloc_locked(shpool, len);
        if (node == NULL) {
            ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                          "nitro_attest: the counters zone is full, allow "
                          "set \"%V\" is not counted (restart nginx to "
                          "free names of old configurations)",
                          &set[i].name);
            continue;
        }

        node->since = (ngx_atomic_uint_t) now;
        node->len = set[i].name.len;
        ngx_memcpy(node->name, set[i].name.data, node->len);

        ngx_queue_insert_tail(&sh->sets, &node->queue);
        set[i].node = node;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
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

#if (NGX_HTTP_V3)
    if (r->http_version == NGX_HTTP_VERSION_30) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "nitro_attest does not attest HTTP/3 (QUIC) "
                      "requests, request refused");
        return NGX_HTTP_MISDIRECTED_REQUEST;
    }
#endif

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
 * nitro_attest_upstream_headers: the request headers every upstream module
 * forwards (proxy, grpc; fastcgi, uwsgi and scgi as HTTP_* parameters) are
 * rebuilt without any X-Nitro-Attest-* header of the client, then with the
 * verified ones.  "_" counts as "-": with underscores_in_headers (or
 * ignore_invalid_headers off) X_Nitro_Attest_Status would otherwise become
 * the same HTTP_X_NITRO_ATTEST_STATUS parameter.  It runs in the preaccess
 * phase, after the location is known, and again after internal redirects.
 */

static ngx_int_t
ngx_http_nitro_attest_headers_handler(ngx_http_request_t *r)
{
    u_char                            *p;
    ngx_str_t                          status, key;
    ngx_uint_t                         i, n;
    ngx_list_t                         headers;
    ngx_table_elt_t                   *h, *copy;
    ngx_list_part_t                   *part;
    nitro_attest_verdict_t            *v;
    ngx_http_nitro_attest_loc_conf_t  *nalcf;

    static ngx_str_t  names[] = {
        ngx_string("X-Nitro-Attest-Status"),
        ngx_string("X-Nitro-Attest-Policy"),
        ngx_string("X-Nitro-Attest-Module-Id"),
        ngx_string("X-Nitro-Attest-Timestamp"),
        ngx_string("X-Nitro-Attest-Cert-Sha256")
    };

    nalcf = ngx_http_get_module_loc_conf(r, ngx_http_nitro_attest_module);

    if (!nalcf->upstream_headers) {
        return NGX_DECLINED;
    }

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&headers, r->pool, n + 5 + NITRO_ATTEST_PCR_COUNT,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_nitro_attest_spoofed(&h[i])) {
                ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "nitro_attest: client header dropped: "
                               "\"%V: %V\"", &h[i].key, &h[i].value);
                continue;
            }

            copy = ngx_list_push(&headers);
            if (copy == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *copy = h[i];
        }
    }

    v = ngx_http_nitro_attest_verdict(r);

    if (ngx_http_nitro_attest_status_text(r->pool, v, &status) != NGX_OK
        || ngx_http_nitro_attest_add_header(r, &headers, &names[0],
                                            status.data, status.len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* measurements only from a verdict that verified */

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS) {
        r->headers_in.headers = headers;
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_nitro_attest_add_header(r, &headers, &names[1],
                                     nitro_attest_span_ptr(v, v->policy),
                                     v->policy.len)
        != NGX_OK
        || ngx_http_nitro_attest_add_header(r, &headers, &names[2],
                                     nitro_attest_span_ptr(v, v->module_id),
                                     v->module_id.len)
           != NGX_OK
        || ngx_http_nitro_attest_add_header(r, &headers, &names[3], p,
                                     ngx_sprintf(p, "%L", v->timestamp_ms)
                                     - p)
           != NGX_OK
        || ngx_http_nitro_attest_add_hex_header(r, &headers, &names[4],
                                     v->cert_sha256,
                                     sizeof(v->cert_sha256))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
        if (!(v->pcr_mask & ((uint32_t) 1 << i))) {
            continue;
        }

        key.data = ngx_pnalloc(r->pool, sizeof("X-Nitro-Attest-PCR31") - 1);
        if (key.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        key.len = ngx_sprintf(key.data, "X-Nitro-Attest-PCR%ui", i)
                  - key.data;

        if (ngx_http_nitro_attest_add_hex_header(r, &headers, &key,
                                          nitro_attest_span_ptr(v, v->pcr[i]),
                                          v->pcr[i].len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->headers_in.headers = headers;

    return NGX_DECLINED;
}


/* X-Nitro-Attest-*, in any case, with "_" for any "-" */

static ngx_uint_t
ngx_http_nitro_attest_spoofed(ngx_table_elt_t *h)
{
    u_char      c;
    ngx_uint_t  i;

    static u_char  prefix[] = "x-nitro-attest-";

    if (h->key.len < sizeof(prefix) - 1) {
        return 0;
    }

    for (i = 0; i < sizeof(prefix) - 1; i++) {
        c = ngx_tolower(h->key.data[i]);

        if (c == '_') {
            c = '-';
        }

        if (c != prefix[i]) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_nitro_attest_add_header(ngx_http_request_t *r, ngx_list_t *headers,
    ngx_str_t *key, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->lowcase_key = ngx_pnalloc(r->pool, key->len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, key->data, key->len);
    h->key = *key;
    h->value.data = value;
    h->value.len = len;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_add_hex_header(ngx_http_request_t *r,
    ngx_list_t *headers, ngx_str_t *key, const uint8_t *src, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 2 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) nitro_attest_hex((char *) p, src, len);

    return ngx_http_nitro_attest_add_header(r, headers, key, p, 2 * len);
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

    if (nascf->enable != NGX_HTTP_NITRO_ATTEST_OFF
#if (NGX_HTTP_V3)
        && r->http_version != NGX_HTTP_VERSION_30  /* not attested */
#endif
       )
    {
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


/* SUCCESS, FAILED:<reason> or NONE, as $nitro_attest_status says it */

static ngx_int_t
ngx_http_nitro_attest_status_text(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_str_t *text)
{
    u_char      *p;
    size_t       len;
    const char  *status, *reason;

    status = nitro_attest_status_name(verdict->status);
    reason = nitro_attest_reason_name(verdict->reason);

    len = ngx_strlen(status);

    if (verdict->status == NITRO_ATTEST_STATUS_FAILED) {
        len += sizeof(":") - 1 + ngx_strlen(reason);
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    p = ngx_cpymem(p, status, ngx_strlen(status));

    if (verdict->status == NITRO_ATTEST_STATUS_FAILED) {
        *p++ = ':';
        p = ngx_cpymem(p, reason, ngx_strlen(reason));
    }

    text->len = p - text->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_nitro_attest_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  text;

    if (ngx_http_nitro_attest_status_text(r->pool,
                                          ngx_http_nitro_attest_verdict(r),
                                          &text)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v->len = text.len;
    v->data = text.data;
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

    value = data ? nitro_attest_verdict_age_s(verdict)
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


/*
 * nitro_attest_status: the counters as JSON, or as Prometheus text 0.0.4
 * for "?format=prometheus" or a client that accepts text/plain (and not
 * JSON).  Allow sets are those of the running configuration.
 */

static ngx_int_t
ngx_http_nitro_attest_status_handler(ngx_http_request_t *r)
{
    size_t                              size;
    int64_t                             now;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_uint_t                          i, prometheus;
    ngx_chain_t                         out;
    ngx_http_nitro_attest_set_t        *set;
    ngx_http_nitro_attest_main_conf_t  *namcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    namcf = ngx_http_get_module_main_conf(r, ngx_http_nitro_attest_module);

    if (namcf->sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    prometheus = ngx_http_nitro_attest_wants_prometheus(r);

    /* every name appears escaped (at most doubled) in six lines at most */

    size = 4096 + NITRO_ATTEST_REASON_COUNT * (64 + NGX_ATOMIC_T_LEN);
    set = namcf->sets.elts;

    for (i = 0; i < namcf->sets.nelts; i++) {
        size += 6 * (2 * set[i].name.len + 96 + NGX_INT64_LEN);
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_http_nitro_attest_now();

    if (prometheus) {
        b->last = ngx_http_nitro_attest_status_prometheus(b->last, namcf,
                                                          now);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        b->last = ngx_http_nitro_attest_status_json(b->last, namcf, now);
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_uint_t
ngx_http_nitro_attest_wants_prometheus(ngx_http_request_t *r)
{
    u_char           *last;
    ngx_str_t         format;
    ngx_table_elt_t  *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        return format.len == 10
               && ngx_strncmp(format.data, "prometheus", 10) == 0;
    }

    accept = r->headers_in.accept;

    if (accept == NULL) {
        return 0;
    }

    last = accept->value.data + accept->value.len;

    return ngx_strlcasestrn(accept->value.data, last,
                            (u_char *) "text/plain", 10 - 1) != NULL
           && ngx_strlcasestrn(accept->value.data, last,
                               (u_char *) "application/json", 16 - 1)
              == NULL;
}


static u_char *
ngx_http_nitro_attest_status_json(u_char *p,
    ngx_http_nitro_attest_main_conf_t *namcf, int64_t now)
{
    ngx_uint_t                      i;
    ngx_atomic_uint_t               last;
    ngx_http_nitro_attest_set_t    *set;
    ngx_http_nitro_attest_shctx_t  *sh;

    sh = namcf->sh;

    p = ngx_sprintf(p, "{\"handshakes\":{\"verified\":%uA,\"failed\":%uA},"
                       "\"failures\":{", sh->verified, sh->failed);

    for (i = NITRO_ATTEST_NO_CERTIFICATE; i < NITRO_ATTEST_REASON_COUNT; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uA",
                        i == NITRO_ATTEST_NO_CERTIFICATE ? "" : ",",
                        nitro_attest_reason_name(i), sh->failures[i]);
    }

    p = ngx_cpymem(p, "},\"policies\":{", sizeof("},\"policies\":{") - 1);

    set = namcf->sets.elts;

    for (i = 0; i < namcf->sets.nelts; i++) {
        if (set[i].node == NULL) {
            continue;
        }

        if (p[-1] != '{') {
            *p++ = ',';
        }

        *p++ = '"';
        p = (u_char *) ngx_escape_json(p, set[i].name.data, set[i].name.len);

        last = set[i].node->last_success;

        p = ngx_sprintf(p, "\":{\"matches\":%uA,\"last_success\":",
                        set[i].node->matches);

        if (last) {
            p = ngx_sprintf(p, "%uA", last / 1000);

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        p = ngx_sprintf(p, ",\"silent\":%s,\"expect_every\":",
                        ngx_http_nitro_attest_silent(&set[i], now)
                        ? "true" : "false");

        if (set[i].expect_every) {
            p = ngx_sprintf(p, "%L}", set[i].expect_every / 1000);

        } else {
            p = ngx_cpymem(p, "null}", 5);
        }
    }

    p = ngx_sprintf(p, "},\"cache\":{\"hit\":%uA,\"miss\":%uA}}" CRLF,
                    sh->cache_hit, sh->cache_miss);

    return p;
}


static u_char *
ngx_http_nitro_attest_status_prometheus(u_char *p,
    ngx_http_nitro_attest_main_conf_t *namcf, int64_t now)
{
    ngx_uint_t                      i;
    ngx_atomic_uint_t               last;
    ngx_http_nitro_attest_set_t    *set;
    ngx_http_nitro_attest_shctx_t  *sh;

    sh = namcf->sh;
    set = namcf->sets.elts;

    p = ngx_sprintf(p,
        "# HELP nitro_attest_handshakes_total Full TLS handshakes whose "
        "client attestation was verified or failed.\n"
        "# TYPE nitro_attest_handshakes_total counter\n"
        "nitro_attest_handshakes_total{result=\"verified\"} %uA\n"
        "nitro_attest_handshakes_total{result=\"failed\"} %uA\n"
        "# HELP nitro_attest_failures_total Failed attestations by reason "
        "code.\n"
        "# TYPE nitro_attest_failures_total counter\n",
        sh->verified, sh->failed);

    for (i = NITRO_ATTEST_NO_CERTIFICATE; i < NITRO_ATTEST_REASON_COUNT; i++) {
        p = ngx_sprintf(p, "nitro_attest_failures_total{reason=\"%s\"} %uA\n",
                        nitro_attest_reason_name(i), sh->failures[i]);
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_cache_total Verdict cache lookups of full "
        "handshakes.\n"
        "# TYPE nitro_attest_cache_total counter\n"
        "nitro_attest_cache_total{result=\"hit\"} %uA\n"
        "nitro_attest_cache_total{result=\"miss\"} %uA\n"
        "# HELP nitro_attest_policy_matches_total Verified attestations by "
        "the allow set that matched.\n"
        "# TYPE nitro_attest_policy_matches_total counter\n",
        sh->cache_hit, sh->cache_miss);

    for (i = 0; i < namcf->sets.nelts; i++) {
        if (set[i].node) {
            p = ngx_cpymem(p, "nitro_attest_policy_matches_total",
                           sizeof("nitro_attest_policy_matches_total") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i].name);
            p = ngx_sprintf(p, " %uA\n", set[i].node->matches);
        }
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_last_success_seconds Unix time of the "
        "last verified attestation of the allow set (absent: none yet).\n"
        "# TYPE nitro_attest_policy_last_success_seconds gauge\n");

    for (i = 0; i < namcf->sets.nelts; i++) {
        if (set[i].node == NULL) {
            continue;
        }

        last = set[i].node->last_success;

        if (last) {
            p = ngx_cpymem(p, "nitro_attest_policy_last_success_seconds",
                    sizeof("nitro_attest_policy_last_success_seconds") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i].name);
            p = ngx_sprintf(p, " %uA\n", last / 1000);
        }
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_silent 1 when the allow set has "
        "expect_every and no client attested with it for that long.\n"
        "# TYPE nitro_attest_policy_silent gauge\n");

    for (i = 0; i < namcf->sets.nelts; i++) {
        if (set[i].node) {
            p = ngx_cpymem(p, "nitro_attest_policy_silent",
                           sizeof("nitro_attest_policy_silent") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i].name);
            p = ngx_sprintf(p, " %ui\n",
                            ngx_http_nitro_attest_silent(&set[i], now));
        }
    }

    p = ngx_sprintf(p,
        "# HELP nitro_attest_policy_expect_every_seconds The expect_every "
        "of the allow set.\n"
        "# TYPE nitro_attest_policy_expect_every_seconds gauge\n");

    for (i = 0; i < namcf->sets.nelts; i++) {
        if (set[i].node && set[i].expect_every) {
            p = ngx_cpymem(p, "nitro_attest_policy_expect_every_seconds",
                    sizeof("nitro_attest_policy_expect_every_seconds") - 1);
            p = ngx_http_nitro_attest_label(p, &set[i].name);
            p = ngx_sprintf(p, " %L.%03L\n", set[i].expect_every / 1000,
                            set[i].expect_every % 1000);
        }
    }

    return p;
}


/* {policy="<name>"}, escaped as the exposition format wants */

static u_char *
ngx_http_nitro_attest_label(u_char *p, ngx_str_t *value)
{
    u_char  *s, *last;

    p = ngx_cpymem(p, "{policy=\"", sizeof("{policy=\"") - 1);

    last = value->data + value->len;

    for (s = value->data; s < last; s++) {
        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }
    }

    *p++ = '"';
    *p++ = '}';

    return p;
}


/* expect_every has passed since the last success (or since first loaded) */

static ngx_uint_t
ngx_http_nitro_attest_silent(ngx_http_nitro_attest_set_t *set, int64_t now)
{
    int64_t  last;

    if (set->expect_every == 0 || set->node == NULL) {
        return 0;
    }

    last = (int64_t) set->node->last_success;

    if (last == 0) {
        last = (int64_t) set->node->since;
    }

    return now - last >= set->expect_every;
}
