
/*
 * ngx_nitro_attest.h: the attestation layer both protocol modules share
 * (http and stream).  It speaks ngx_connection_t, SSL and our own types
 * only: the per-server attestation configuration and its directives, the
 * TLS hook and the per-connection verdict, sessions, the verdict cache and
 * the telemetry.  The verification itself is the core's (src/).
 */


#ifndef _NGX_NITRO_ATTEST_H_INCLUDED_
#define _NGX_NITRO_ATTEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

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

/*
 * The counters zone has a fixed size, so that a reload finds it again by
 * name and size and keeps its figures; about 4000 allow-set names fit.
 */
#define NGX_NITRO_ATTEST_ZONE_SIZE (1024 * 1024)

/* signed documents each worker remembers (the pre-authentication memo) */
#define NGX_NITRO_ATTEST_MEMO      1024

/* the counters zone's name, reserved: no user zone may take it */
#define NGX_NITRO_ATTEST_COUNTERS  "nitro_attest_status"

/* room for a syslog PRI and HEADER: "<191>Jan 01 00:00:00 host tag: " */
#define NGX_NITRO_ATTEST_SYSLOG_HEAD                                          \
    (sizeof("<255>Jan 01 00:00:00 ") - 1 + NGX_MAXHOSTNAMELEN + 32 + 2)


typedef struct {
    ngx_str_t                       path;
    void                           *object;
} ngx_nitro_attest_file_t;


/*
 * Where a directive is written that means something only on a server
 * that attests (nginx -t warns when none does there).
 */
typedef struct {
    ngx_str_t                       name;
    u_char                         *file;
    ngx_uint_t                      line;
} ngx_nitro_attest_where_t;


/* one destination of "nitro_attest_event_log" */
typedef struct {
    ngx_open_file_t                *file;
    ngx_syslog_peer_t              *syslog;
} ngx_nitro_attest_log_t;


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


typedef struct {
    ngx_atomic_t                    verified;
    ngx_atomic_t                    failed;
    ngx_atomic_t                    failures[NITRO_ATTEST_HANDSHAKE_REASONS];
    ngx_atomic_t                    cache_hit;
    ngx_atomic_t                    cache_miss;
    /* per protocol: [0] verified, [1] failed */
    ngx_atomic_t                    protocols[NGX_NITRO_ATTEST_PROTOCOLS][2];
    ngx_queue_t                     sets;          /* set nodes */
} ngx_nitro_attest_shctx_t;


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
} ngx_nitro_attest_cache_sh_t;


typedef struct {
    ngx_nitro_attest_cache_sh_t  *sh;
    ngx_slab_pool_t                   *shpool;
} ngx_nitro_attest_cache_t;


typedef struct {
    ngx_rbtree_node_t               node;          /* key: key's head */
    ngx_queue_t                     queue;
    int64_t                         expires;       /* ms */
    u_char                          key[SHA256_DIGEST_LENGTH];
    nitro_attest_verdict_t          verdict;       /* used prefix only */
} ngx_nitro_attest_cache_node_t;


/*
 * The inventory ("nitro_attest_inventory zone="): the enclaves and
 * NitroTPM instances whose signature and chain verified, one entry per
 * module id, found by it.  When the zone is full the least recently seen
 * entry without a proven success is evicted, and one with a proven
 * success only when no other is left.  Times are the Unix seconds of the
 * handshakes.
 */
typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    /* most recently seen first: without a proven success, and with one */
    ngx_queue_t                     lru;
    ngx_queue_t                     proven;
} ngx_nitro_attest_inventory_sh_t;


typedef struct {
    ngx_nitro_attest_inventory_sh_t  *sh;
    ngx_slab_pool_t                  *shpool;
} ngx_nitro_attest_inventory_t;


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
    u_char                          pcr0[NITRO_ATTEST_PCR_MAX_LEN];
    u_char                          data[1];       /* module id, policy */
} ngx_nitro_attest_enclave_t;


/* an allow-set name of this configuration and its counters */
typedef struct {
    ngx_str_t                       name;
    int64_t                         expect_every;  /* ms, 0: not watched */
    ngx_nitro_attest_set_node_t  *node;
} ngx_nitro_attest_set_t;


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
    ngx_array_t                     tagged;    /* every srv conf with one */
    ngx_array_t                     sets;      /* allow-set names */
    nitro_attest_root_t            *default_root;
    ngx_shm_zone_t                 *shm_zone;
    ngx_nitro_attest_shctx_t       *sh;
    ngx_shm_zone_t                 *inventory; /* or NULL */
    ngx_uint_t                      chain_cache;   /* bundles per worker */
    ngx_uint_t                      attesting; /* a server is not off */
} ngx_nitro_attest_main_t;


/* "nitro_attest_token_*": the signed token of CONTRACT 12 */
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
    ngx_nitro_attest_token_conf_t   token;

    nitro_attest_config_t           core;
    u_char                          digest[SHA256_DIGEST_LENGTH];
    ngx_nitro_attest_main_t        *main;

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
 * A verdict waiting for the client to prove it holds the certificate's
 * key (its CertificateVerify): accounted when the handshake completes, or,
 * when the connection closes before, as "key_not_proven".  It lives in
 * the connection's pool, whose cleanup is the "closed before" case.
 */
typedef struct {
    ngx_log_t                          *log;
    ngx_str_t                           addr;    /* the client's, c's pool */
    ngx_nitro_attest_srv_conf_t   *nascf;
    ngx_nitro_attest_conn_t       *nac;
    ngx_uint_t                          keyed;   /* key is set */
    ngx_uint_t                          done;
    u_char                              key[SHA256_DIGEST_LENGTH];
} ngx_nitro_attest_pending_t;


/* a variable of CONTRACT 5, for any protocol */
typedef ngx_int_t (*ngx_nitro_attest_var_pt)(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v, uintptr_t data);

typedef struct {
    ngx_str_t                       name;
    ngx_nitro_attest_var_pt         get;
    uintptr_t                       data;
    ngx_uint_t                      prefix;   /* name is a prefix */
} ngx_nitro_attest_var_t;


/* ngx_nitro_attest_conf.c: directives of both protocols, the merge */

char *ngx_nitro_attest_set_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf,
    ngx_nitro_attest_main_t *nam);
char *ngx_nitro_attest_binding(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_extension(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_nitro_attest_zone_value(ngx_conf_t *cf, ngx_str_t *name,
    ssize_t *size);
char *ngx_nitro_attest_chain_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_event_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_reattest(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_nitro_attest_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_nitro_attest_str(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_nitro_attest_written(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *nascf);
void ngx_nitro_attest_unused(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_nitro_attest_srv_conf_t *nascf);
extern ngx_conf_enum_t  ngx_nitro_attest_modes[];
extern ngx_uint_t       ngx_nitro_attest_policy_file;
extern ngx_uint_t       ngx_nitro_attest_root_file;
extern ngx_uint_t       ngx_nitro_attest_token_key_file;

ngx_int_t ngx_nitro_attest_init_main(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam, ngx_uint_t protocol);
void ngx_nitro_attest_init_srv(ngx_nitro_attest_srv_conf_t *nascf);
char *ngx_nitro_attest_merge_srv(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *prev, ngx_nitro_attest_srv_conf_t *conf);


/* ngx_nitro_attest_ssl.c: the handshake, the connection's verdict */

/* the SSL ex_data of a connection's token (ngx_nitro_attest_token.c) */
extern int  ngx_nitro_attest_token_index;

ngx_int_t ngx_nitro_attest_ssl_init(ngx_conf_t *cf);
ngx_int_t ngx_nitro_attest_attach(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *nascf, SSL_CTX *ctx);
ngx_int_t ngx_nitro_attest_tickets(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam, SSL_CTX *ctx);
ngx_uint_t ngx_nitro_attest_no_session_cache(SSL_CTX *ctx);
ngx_nitro_attest_conn_t *ngx_nitro_attest_connection(ngx_connection_t *c);
int64_t ngx_nitro_attest_now(void);
ngx_uint_t ngx_nitro_attest_retiring(void);
int64_t ngx_nitro_attest_expiry(ngx_nitro_attest_srv_conf_t *nascf,
    nitro_attest_verdict_t *v);
void ngx_nitro_attest_exit(void);
nitro_attest_verdict_t *ngx_nitro_attest_verdict(
    ngx_nitro_attest_srv_conf_t *nascf, ngx_connection_t *c);


/* ngx_nitro_attest_token.c: the signed token of CONTRACT 12 */

char *ngx_nitro_attest_token_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf, ngx_nitro_attest_main_t *nam);
void ngx_nitro_attest_token_init(ngx_nitro_attest_token_conf_t *tcf);
char *ngx_nitro_attest_token_merge(ngx_conf_t *cf,
    ngx_nitro_attest_srv_conf_t *prev, ngx_nitro_attest_srv_conf_t *conf);
ngx_int_t ngx_nitro_attest_token_check(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
const char *ngx_nitro_attest_token_path(ngx_nitro_attest_main_t *nam,
    nitro_attest_token_key_t *key);
ngx_int_t ngx_nitro_attest_jwks(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam,
    ngx_str_t *jwks);
ngx_int_t ngx_nitro_attest_token(ngx_nitro_attest_srv_conf_t *nascf,
    ngx_connection_t *c, ngx_str_t *token);


/* ngx_nitro_attest_variables.c: the variables, whatever the protocol */

extern ngx_nitro_attest_var_t  ngx_nitro_attest_vars[];

ngx_int_t ngx_nitro_attest_prefix_variable(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_variable_value_t *v,
    ngx_str_t *name);
ngx_int_t ngx_nitro_attest_status_text(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_str_t *text);
void ngx_nitro_attest_str_value(ngx_variable_value_t *v, ngx_str_t *s);
ngx_int_t ngx_nitro_attest_json_value(ngx_pool_t *pool,
    nitro_attest_verdict_t *verdict, ngx_str_t *addr,
    ngx_nitro_attest_srv_conf_t *nascf, ngx_variable_value_t *v);


/* ngx_nitro_attest_cache.c: the shared-memory verdict cache */

ngx_shm_zone_t *ngx_nitro_attest_cache_zone(ngx_conf_t *cf, ngx_str_t *name,
    size_t size);
ngx_int_t ngx_nitro_attest_cache_get(ngx_nitro_attest_cache_t *cache,
    u_char *key, int64_t now, nitro_attest_verdict_t *v);
void ngx_nitro_attest_cache_put(ngx_nitro_attest_cache_t *cache,
    u_char *key, int64_t expires, nitro_attest_verdict_t *v);


/* ngx_nitro_attest_inventory.c: the enclaves seen */

char *ngx_nitro_attest_inventory(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_nitro_attest_inventory_enter(ngx_shm_zone_t *zone,
    nitro_attest_verdict_t *v);
ngx_array_t *ngx_nitro_attest_inventory_list(ngx_pool_t *pool,
    ngx_shm_zone_t *zone);


/* ngx_nitro_attest_telemetry.c: counters, event log, silent sets */

ngx_int_t ngx_nitro_attest_init_sets(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
ngx_int_t ngx_nitro_attest_counters_zone(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *nam);
void ngx_nitro_attest_account(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v);
void ngx_nitro_attest_count(ngx_nitro_attest_main_t *nam,
    nitro_attest_verdict_t *v);
void ngx_nitro_attest_client_where(nitro_attest_where_t *where,
    ngx_str_t *addr, ngx_nitro_attest_srv_conf_t *nascf);
void ngx_nitro_attest_write_event(ngx_log_t *log, ngx_array_t *targets,
    nitro_attest_verdict_t *v, nitro_attest_where_t *where);
ngx_uint_t ngx_nitro_attest_silent(ngx_nitro_attest_set_t *set, int64_t now);


#pragma GCC visibility pop

#endif /* _NGX_NITRO_ATTEST_H_INCLUDED_ */
