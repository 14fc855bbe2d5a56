
/*
 * ngx_nitro_attest.h: the attestation layer both protocol modules share
 * (http and stream).  It speaks ngx_connection_t, SSL and our own types
 * only: the per-server attestation configuration and its directives, the
 * TLS hook and the per-connection verdict, sessions, the verdict cache and
 * the telemetry.  The verification itself is the core's (src/).
 *
 * Its files (nginx/ngx_nitro_attest_*.c) call one way, each only files of
 * the lines above its own:
 *   util
 *   files, counters, event_log, cache, inventory, rollback
 *   verify, session
 *   handshake, token, variables
 *   conf, whose postconfiguration both faces call
 *   proxy, the upstream side, over the settings conf reads
 */


#ifndef _NGX_NITRO_ATTEST_H_INCLUDED_
#define _NGX_NITRO_ATTEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "nitro_attest.h"


/*
 * Both protocol modules carry this layer and the core: each .so keeps its
 * own copy to itself, whichever is loaded first.  Only the zone tags are
 * shared, so that http and stream find the same counters and caches.
 */
extern ngx_uint_t  ngx_nitro_attest_counters_tag
    __attribute__((visibility("default")));
extern ngx_uint_t  ngx_nitro_attest_cache_tag
    __attribute__((visibility("default")));
extern ngx_uint_t  ngx_nitro_attest_inventory_tag
    __attribute__((visibility("default")));
extern ngx_uint_t  ngx_nitro_attest_rollback_tag
    __attribute__((visibility("default")));

#pragma GCC visibility push(hidden)


#define NGX_NITRO_ATTEST_OFF       0
#define NGX_NITRO_ATTEST_ON        1
#define NGX_NITRO_ATTEST_OPTIONAL  2

/* the protocols, as the counters break handshakes down */
#define NGX_NITRO_ATTEST_HTTP       0
#define NGX_NITRO_ATTEST_STREAM     1
#define NGX_NITRO_ATTEST_PROTOCOLS  2

#define NGX_NITRO_ATTEST_TAG_LEN   16
#define NGX_NITRO_ATTEST_ERR_LEN   512

/* the counters zone's name, reserved: no user zone may take it */
#define NGX_NITRO_ATTEST_COUNTERS  "nitro_attest_status"

/* the rollback table's zone, reserved likewise */
#define NGX_NITRO_ATTEST_ROLLBACKS  "nitro_attest_rollback"

/* nitro_attest_rollback */
#define NGX_NITRO_ATTEST_ROLLBACK_ALERT  0
#define NGX_NITRO_ATTEST_ROLLBACK_DENY   1

/* what the dashboard shows of the recent past */
#define NGX_NITRO_ATTEST_REFUSED    20     /* refused handshakes kept */
#define NGX_NITRO_ATTEST_MINUTES    60     /* per-minute failure counts */
#define NGX_NITRO_ATTEST_TEXT_KEPT  64     /* bytes of an address, name */


/* where a directive is written (ngx_nitro_attest_note()) */
typedef struct {
    ngx_str_t                       name;
    u_char                         *file;
    ngx_uint_t                      line;
} ngx_nitro_attest_where_t;


/* a file a block loaded (ngx_nitro_attest_files.c), and what it holds */
typedef struct {
    ngx_str_t                       path;
    void                           *object;
} ngx_nitro_attest_file_t;


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
} ngx_nitro_attest_set_node_t;


/* a service named by an allow set ("service"), and its rollbacks */
typedef struct {
    ngx_queue_t                     queue;
    ngx_atomic_t                    rollbacks;
    size_t                          len;
    u_char                          name[1];
} ngx_nitro_attest_service_node_t;


/* failed handshakes of one minute, by severity: [0] CRITICAL, [1] WARNING */
typedef struct {
    int64_t                         minute;    /* since the epoch */
    uint64_t                        failed[2];
} ngx_nitro_attest_minute_t;


/* a refused handshake, for the dashboard; texts cut to TEXT_KEPT bytes */
typedef struct {
    int64_t                         time;      /* ms */
    uint8_t                         reason;
    uint8_t                         addr_len;
    uint8_t                         server_len;
    uint8_t                         module_id_len;
    u_char                          addr[NGX_NITRO_ATTEST_TEXT_KEPT];
    u_char                          server[NGX_NITRO_ATTEST_TEXT_KEPT];
    u_char                          module_id[NGX_NITRO_ATTEST_TEXT_KEPT];
} ngx_nitro_attest_refusal_t;


typedef struct {
    ngx_atomic_t                    verified;
    ngx_atomic_t                    failed;
    ngx_atomic_t                    failures[NITRO_ATTEST_HANDSHAKE_REASONS];
    ngx_atomic_t                    cache_hit;
    ngx_atomic_t                    cache_miss;
    /* per protocol: [0] verified, [1] failed */
    ngx_atomic_t                    protocols[NGX_NITRO_ATTEST_PROTOCOLS][2];
    ngx_queue_t                     sets;          /* set nodes */
    ngx_queue_t                     services;      /* service nodes */
    /* the recent past, under the zone's mutex */
    ngx_nitro_attest_minute_t       minutes[NGX_NITRO_ATTEST_MINUTES];
    ngx_uint_t                      nrefused;      /* ever, the ring's */
    ngx_nitro_attest_refusal_t      refused[NGX_NITRO_ATTEST_REFUSED];
    /* upstreams verified: [0] verified, [1] failed; failures by reason */
    ngx_atomic_t                    proxy[2];
    ngx_atomic_t                    proxy_failures[
                                        NITRO_ATTEST_HANDSHAKE_REASONS];
} ngx_nitro_attest_shctx_t;


/*
 * An entry of the inventory ("nitro_attest_inventory zone="): an enclave
 * or NitroTPM instance whose signature and chain verified, found by its
 * module id.  Times are the Unix seconds of the handshakes.
 */
typedef struct {
    ngx_str_node_t                  sn;            /* str: the module id */
    ngx_queue_t                     queue;
    uint64_t                        verified;
    uint64_t                        failed;
    int64_t                         first_seen;
    int64_t                         last_seen;
    uint32_t                        size;          /* allocated */
    uint16_t                        module_id_len;
    uint8_t                         policy_len;
    uint8_t                         pcr0_len;      /* 0: no PCR0 */
    uint8_t                         status;        /* of the last handshake */
    uint8_t                         reason;
    uint8_t                         kind;
    uint8_t                         proven;        /* a success, key proven */
    uint8_t                         proven_pcr0_len;
    u_char                          pcr0[NITRO_ATTEST_PCR_MAX_LEN];
    /* the PCR0 of the last success with the key proven */
    u_char                          proven_pcr0[NITRO_ATTEST_PCR_MAX_LEN];
    u_char                          data[1];       /* module id, policy */
} ngx_nitro_attest_enclave_t;


/* an allow-set name of this configuration and its counters */
typedef struct {
    ngx_str_t                       name;
    int64_t                         expect_every;  /* ms, 0: not watched */
    ngx_nitro_attest_set_node_t    *node;
} ngx_nitro_attest_set_t;


/* a service of this configuration and its counter */
typedef struct {
    ngx_str_t                       name;
    ngx_nitro_attest_service_node_t  *node;
} ngx_nitro_attest_service_t;


/*
 * The state of one protocol's configuration (the http or the stream
 * block): files loaded, servers, allow-set names, the counters.
 */
typedef struct {
    ngx_uint_t                      protocol;  /* NGX_NITRO_ATTEST_HTTP.. */
    const char                     *block;     /* "http" or "stream" */
    ngx_array_t                     policies;  /* loaded policy files */
    ngx_array_t                     roots;     /* loaded root files */
    ngx_array_t                     token_keys; /* loaded token keys */
    ngx_array_t                     servers;   /* attesting, with an SSL_CTX */
    ngx_array_t                     tagged;    /* every server with ssl */
    ngx_array_t                     sets;      /* allow-set names */
    ngx_array_t                     services;  /* service names */
    nitro_attest_root_t            *default_root;
    ngx_shm_zone_t                 *shm_zone;
    ngx_nitro_attest_shctx_t       *sh;
    ngx_shm_zone_t                 *inventory; /* or NULL */
    ngx_shm_zone_t                 *rollback;  /* the rollback table */
    ngx_uint_t                      chain_cache;   /* bundles per worker */
    ngx_uint_t                      attesting; /* a server is not off */
    ngx_array_t                     event_dests;   /* event log outputs */
    nitro_attest_token_key_t       *event_key;     /* chains them, or NULL */
    ngx_uint_t                      evidence;  /* a server logs evidence */
    ngx_event_t                     seal;      /* the checkpoint timer */
    ngx_uint_t                      proxy;     /* a context verifies its
                                                  upstreams */
} ngx_nitro_attest_main_t;


/* "nitro_attest_token_*": the signed token of a server */
typedef struct {
    nitro_attest_token_key_t       *key;       /* NULL: no token */
    ngx_str_t                       issuer;    /* NUL-terminated */
    ngx_msec_t                      lifetime;
    u_char                         *file;      /* where the key is named */
    ngx_uint_t                      line;
} ngx_nitro_attest_token_conf_t;


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
    ngx_msec_t                      reattest;   /* 0: at chain expiry */
    ngx_uint_t                      rollback;   /* alert or deny */
    ngx_nitro_attest_token_conf_t   token;

    nitro_attest_config_t           core;
    u_char                          digest[SHA256_DIGEST_LENGTH];
    ngx_nitro_attest_main_t        *main;
    SSL_CTX                        *ssl;       /* the server's, or NULL */

    /* random per server and configuration cycle: who attested a session */
    u_char                          tag[NGX_NITRO_ATTEST_TAG_LEN];

    /* the info callback this server's SSL_CTX had before the module's */
    void                          (*next_info)(const SSL *ssl, int where,
                                               int ret);

    /* the server's first server_name, for logs (empty in stream) */
    ngx_str_t                       server_name;

    u_char                         *file;      /* where "nitro_attest" is */
    ngx_uint_t                      line;

    /* the block's own directives that only an attesting server uses */
    ngx_array_t                    *written;   /* ngx_nitro_attest_where_t */
} ngx_nitro_attest_srv_conf_t;


/*
 * What a connection keeps: the tag of the server whose SSL_CTX verified the
 * certificate, the digest of the socket its session was made on (what
 * picks the server besides the name), then the verdict prefix
 * (nitro_attest_verdict_size() bytes).  The same bytes travel in the
 * session ticket application data.
 */
typedef struct {
    u_char                          tag[NGX_NITRO_ATTEST_TAG_LEN];
    u_char                          local[NGX_NITRO_ATTEST_TAG_LEN];
    nitro_attest_verdict_t          verdict;
} ngx_nitro_attest_conn_t;

#define ngx_nitro_attest_conn_size(v)                                         \
    (offsetof(ngx_nitro_attest_conn_t, verdict)                               \
     + nitro_attest_verdict_size(v))

#define NGX_NITRO_ATTEST_CONN_MIN                                             \
    (offsetof(ngx_nitro_attest_conn_t, verdict)                               \
     + offsetof(nitro_attest_verdict_t, data))


/*
 * What an upstream connection serves, as the face that opened it finds it
 * (ngx_nitro_attest_peer_pt): the proxy settings of the context that uses
 * it (conf, NULL when none), the server whose client's request or session
 * opened it (events go to its event log), that client's address, the
 * upstream's address, the request's or session's peer connection, and
 * where the verdict of the request's or session's last upstream goes
 * (last, in pool).
 */
typedef struct {
    ngx_nitro_attest_srv_conf_t    *conf;
    ngx_nitro_attest_srv_conf_t    *server;
    ngx_str_t                      *client_addr;
    struct sockaddr                *sockaddr;
    socklen_t                       socklen;
    ngx_peer_connection_t          *pc;
    ngx_pool_t                     *pool;
    nitro_attest_verdict_t        **last;
} ngx_nitro_attest_peer_t;

typedef ngx_int_t (*ngx_nitro_attest_peer_pt)(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer);


/* a $nitro_attest_* variable, for any protocol */
typedef ngx_int_t (*ngx_nitro_attest_var_pt)(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);

typedef struct {
    ngx_str_t                       name;
    ngx_nitro_attest_var_pt         get;
    uintptr_t                       data;
    ngx_uint_t                      prefix;   /* name is a prefix */
    uint32_t                        needs;    /* verdict flags, or empty */
} ngx_nitro_attest_var_t;


/* ngx_nitro_attest_util.c */


int64_t ngx_nitro_attest_now(void);
ngx_uint_t ngx_nitro_attest_retiring(void);
ngx_int_t ngx_nitro_attest_ssl_index(ngx_conf_t *cf, int *index);
ngx_int_t ngx_nitro_attest_ssl_ctx_index(ngx_conf_t *cf, int *index);
char *ngx_nitro_attest_written(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *nascf);
char *ngx_nitro_attest_note(ngx_conf_t *cf, ngx_array_t **where);
void *ngx_nitro_attest_push(ngx_conf_t *cf, ngx_array_t **array,
    size_t size);
void ngx_nitro_attest_unused(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_nitro_attest_srv_conf_t *nascf);
void ngx_nitro_attest_warn_unused(ngx_conf_t *cf, ngx_array_t *written,
    u_char *why);
ngx_int_t ngx_nitro_attest_zone_value(ngx_conf_t *cf, ngx_str_t *name,
    ssize_t *size);


/* ngx_nitro_attest_files.c */

extern ngx_uint_t  ngx_nitro_attest_policy_file;
extern ngx_uint_t  ngx_nitro_attest_root_file;
extern ngx_uint_t  ngx_nitro_attest_token_key_file;

char *ngx_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf,
    ngx_nitro_attest_main_t *nam);
nitro_attest_root_t *ngx_nitro_attest_default_root(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);


/* ngx_nitro_attest_counters.c */

ngx_int_t ngx_nitro_attest_init_sets(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
ngx_int_t ngx_nitro_attest_counters_zone(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
void ngx_nitro_attest_count(ngx_nitro_attest_main_t *nam,
    nitro_attest_verdict_t *v);
void ngx_nitro_attest_count_proxy(ngx_nitro_attest_main_t *nam,
    nitro_attest_verdict_t *v);
ngx_uint_t ngx_nitro_attest_silent(ngx_nitro_attest_set_t *set, int64_t now);
void ngx_nitro_attest_recent(ngx_nitro_attest_main_t *nam, ngx_str_t *addr,
    ngx_str_t *server, ngx_uint_t refused, nitro_attest_verdict_t *v);
void ngx_nitro_attest_recent_copy(ngx_shm_zone_t *zone,
    ngx_nitro_attest_minute_t *minutes, ngx_nitro_attest_refusal_t *refused,
    ngx_uint_t *nrefused);


/* ngx_nitro_attest_event_log.c */

char *ngx_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf, ngx_nitro_attest_main_t *nam);
char *ngx_nitro_attest_event_log_key(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
ngx_int_t ngx_nitro_attest_event_log_init(ngx_cycle_t *cycle,
    ngx_nitro_attest_main_t *nam);
void ngx_nitro_attest_event_log_exit(ngx_nitro_attest_main_t *nam);
void ngx_nitro_attest_event(ngx_log_t *log, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    X509 *cert);
void ngx_nitro_attest_client_where(nitro_attest_where_t *where,
    ngx_str_t *addr, ngx_nitro_attest_srv_conf_t *nascf);
void ngx_nitro_attest_event_where(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    nitro_attest_where_t *where, X509 *cert);


/* ngx_nitro_attest_cache.c */

char *ngx_nitro_attest_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_nitro_attest_cache_get(ngx_shm_zone_t *zone, u_char *key,
    int64_t now, nitro_attest_verdict_t *v);
void ngx_nitro_attest_cache_put(ngx_shm_zone_t *zone, u_char *key,
    int64_t expires, nitro_attest_verdict_t *v);


/* ngx_nitro_attest_inventory.c */

char *ngx_nitro_attest_inventory(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_nitro_attest_inventory_enter(ngx_shm_zone_t *zone,
    nitro_attest_verdict_t *v);
ngx_array_t *ngx_nitro_attest_inventory_list(ngx_pool_t *pool,
    ngx_shm_zone_t *zone);


/* ngx_nitro_attest_rollback.c */

extern ngx_conf_enum_t  ngx_nitro_attest_rollback_modes[];

char *ngx_nitro_attest_rollback_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_nitro_attest_rollback_zone(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
ngx_int_t ngx_nitro_attest_rollback_deny(ngx_nitro_attest_srv_conf_t *nascf,
    nitro_attest_verdict_t *v, ngx_uint_t mark);
void ngx_nitro_attest_rollback_proven(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v);


/* ngx_nitro_attest_verify.c */

char *ngx_nitro_attest_chain_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
nitro_attest_reason_e ngx_nitro_attest_verify_cert(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *nascf, X509 *cert, int64_t now,
    nitro_attest_verdict_t *v, u_char *key, ngx_uint_t *keyed);
void ngx_nitro_attest_remember(ngx_nitro_attest_srv_conf_t *nascf,
    u_char *key, nitro_attest_verdict_t *v);
void ngx_nitro_attest_exit(void);


/* ngx_nitro_attest_session.c */

extern int  ngx_nitro_attest_conn_index;
extern int  ngx_nitro_attest_ctx_index;

ngx_int_t ngx_nitro_attest_session_init(ngx_conf_t *cf);
ngx_int_t ngx_nitro_attest_tickets(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam, SSL_CTX *ctx);
ngx_uint_t ngx_nitro_attest_no_session_cache(SSL_CTX *ctx);
void ngx_nitro_attest_save_session(ngx_connection_t *c,
    ngx_ssl_conn_t *ssl_conn, ngx_nitro_attest_srv_conf_t *nascf,
    ngx_nitro_attest_conn_t *nac, int64_t now);
ngx_nitro_attest_conn_t *ngx_nitro_attest_connection(ngx_connection_t *c);
nitro_attest_verdict_t *ngx_nitro_attest_verdict(
    ngx_nitro_attest_srv_conf_t *nascf, ngx_connection_t *c);
int64_t ngx_nitro_attest_expiry(ngx_nitro_attest_srv_conf_t *nascf,
    nitro_attest_verdict_t *v);


/* ngx_nitro_attest_handshake.c */

ngx_int_t ngx_nitro_attest_handshake_init(ngx_conf_t *cf);
ngx_int_t ngx_nitro_attest_attach(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *nascf);
void ngx_nitro_attest_client_error(const char *why);
u_char *ngx_nitro_attest_log_text(u_char *p, u_char *last,
    const u_char *text, size_t len);


/* ngx_nitro_attest_token.c */

char *ngx_nitro_attest_token_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf, ngx_nitro_attest_main_t *nam);
void ngx_nitro_attest_token_init_conf(ngx_nitro_attest_token_conf_t *tcf);
char *ngx_nitro_attest_token_merge(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *prev, ngx_nitro_attest_srv_conf_t *conf);
ngx_int_t ngx_nitro_attest_token_init(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
ngx_int_t ngx_nitro_attest_jwks(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_str_t *jwks);
ngx_int_t ngx_nitro_attest_token(ngx_nitro_attest_srv_conf_t *nascf,
    ngx_connection_t *c, ngx_str_t *token);


/* ngx_nitro_attest_variables.c */

extern ngx_nitro_attest_var_t  ngx_nitro_attest_vars[];

ngx_int_t ngx_nitro_attest_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v,
    ngx_nitro_attest_var_t *var);

ngx_int_t ngx_nitro_attest_prefix_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v,
    ngx_str_t *name);
ngx_int_t ngx_nitro_attest_status_text(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_str_t *text);
void ngx_nitro_attest_str_value(ngx_variable_value_t *v, ngx_str_t *s);
ngx_int_t ngx_nitro_attest_json_value(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf, ngx_variable_value_t *v);


/* ngx_nitro_attest_conf.c */

extern ngx_conf_enum_t  ngx_nitro_attest_modes[];

char *ngx_nitro_attest_set_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_binding(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_extension(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_reattest(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_nitro_attest_str(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_nitro_attest_init_main(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam, ngx_uint_t protocol);
void ngx_nitro_attest_init_srv(ngx_nitro_attest_srv_conf_t *nascf);
char *ngx_nitro_attest_merge_srv(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *prev, ngx_nitro_attest_srv_conf_t *conf);
void ngx_nitro_attest_merge_settings(ngx_nitro_attest_srv_conf_t *prev,
    ngx_nitro_attest_srv_conf_t *conf);
ngx_int_t ngx_nitro_attest_core_conf(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *conf);
ngx_int_t ngx_nitro_attest_add_server(ngx_nitro_attest_srv_conf_t *nascf,
    SSL_CTX *ssl);
ngx_int_t ngx_nitro_attest_postconfiguration(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam, ngx_nitro_attest_srv_conf_t *block);


/* ngx_nitro_attest_proxy.c */

extern ngx_str_t  ngx_nitro_attest_proxy_vars[];

char *ngx_nitro_attest_proxy_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_nitro_attest_srv_conf_t *pcf, ngx_nitro_attest_main_t *nam);
char *ngx_nitro_attest_proxy_merge(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *prev, ngx_nitro_attest_srv_conf_t *conf,
    ngx_nitro_attest_main_t *nam);
ngx_int_t ngx_nitro_attest_proxy_attach(ngx_conf_t *cf, SSL_CTX *ctx,
    ngx_nitro_attest_peer_pt peer);
ngx_int_t ngx_nitro_attest_proxy_reuse(ngx_connection_t *c,
    ngx_nitro_attest_peer_t *peer);
void ngx_nitro_attest_proxy_close(ngx_connection_t *c);
nitro_attest_verdict_t *ngx_nitro_attest_proxy_verdict(
    nitro_attest_verdict_t *last);
ngx_nitro_attest_var_t *ngx_nitro_attest_proxy_var(ngx_str_t *name);
ngx_int_t ngx_nitro_attest_proxy_prefix_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v,
    ngx_str_t *name);


#pragma GCC visibility pop

#endif /* _NGX_NITRO_ATTEST_H_INCLUDED_ */
