
/*
 * ngx_nitro_attest_rollback.c: rollback detection.  An allow set may name
 * the release it admits ("service" and "version" in the policy); per EC2
 * instance and service the node remembers, in a shared zone of both
 * protocols kept across reloads, the highest version whose client proved
 * its key.  A later success of a lower version of that service from that
 * instance is a rollback: marked on the verdict (the event's "rollback",
 * the counters), and with "nitro_attest_rollback deny" refused.
 *
 * The table is bounded: when it is full, the entry used least recently
 * makes room, and a line at "warn" names what was forgotten, so that a
 * rollback of it later, which would pass as a first sighting, is not
 * missed silently.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


/*
 * A fixed size, so that a reload finds the zone again and keeps it.  An
 * entry is 88 bytes and its key: one 128-byte slab chunk for an instance
 * id of 19 characters and a service name of up to 20, about 8000 entries;
 * a 256-byte chunk for longer names.
 */
#define NGX_NITRO_ATTEST_ROLLBACK_SIZE  (1024 * 1024)


/* an instance id and a service (sn.str: the id, a NUL, the service) */
typedef struct {
    ngx_str_node_t                  sn;
    ngx_queue_t                     queue;
    int64_t                         version;   /* highest, key proven */
    size_t                          id_len;
    u_char                          data[1];
} ngx_nitro_attest_release_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;       /* most recent first */
} ngx_nitro_attest_rollback_sh_t;


typedef struct {
    ngx_nitro_attest_rollback_sh_t  *sh;
    ngx_slab_pool_t                 *shpool;
} ngx_nitro_attest_rollback_t;


/* the release a verdict attests: its table key, service and version */
typedef struct {
    ngx_str_t                       key;
    ngx_str_t                       service;
    int64_t                         version;
    u_char                          data[NITRO_ATTEST_MODULE_ID_MAX + 1
                                         + NITRO_ATTEST_POLICY_NAME_MAX];
} ngx_nitro_attest_of_t;


static ngx_int_t ngx_nitro_attest_init_rollback(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_nitro_attest_release_of(
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v,
    ngx_nitro_attest_of_t *of);
static ngx_nitro_attest_release_t *ngx_nitro_attest_release_find(
    ngx_nitro_attest_rollback_t *rb, ngx_str_t *key, uint32_t hash);
static ngx_nitro_attest_release_t *ngx_nitro_attest_release_alloc(
    ngx_log_t *log, ngx_nitro_attest_rollback_t *rb, size_t size);


/* the rollback zone's own tag: no other zone of that name is mistaken */
ngx_uint_t  ngx_nitro_attest_rollback_tag;


ngx_conf_enum_t  ngx_nitro_attest_rollback_modes[] = {
    { ngx_string("alert"), NGX_NITRO_ATTEST_ROLLBACK_ALERT },
    { ngx_string("deny"), NGX_NITRO_ATTEST_ROLLBACK_DENY },
    { ngx_null_string, 0 }
};


/* nitro_attest_rollback alert | deny; */

char *
ngx_nitro_attest_rollback_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *rv;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_nitro_attest_written(cf, conf);
}


/*
 * The table, one per nginx: both protocols find the same zone by its
 * name, size and tag, so an instance that moves from one to the other is
 * still the same instance.
 */

ngx_int_t
ngx_nitro_attest_rollback_zone(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam)
{
    ngx_str_t                     name;
    ngx_nitro_attest_rollback_t  *rb;

    ngx_str_set(&name, NGX_NITRO_ATTEST_ROLLBACKS);

    nam->rollback = ngx_shared_memory_add(cf, &name,
                                          NGX_NITRO_ATTEST_ROLLBACK_SIZE,
                                          &ngx_nitro_attest_rollback_tag);
    if (nam->rollback == NULL) {
        return NGX_ERROR;
    }

    if (nam->rollback->data == NULL) {
        rb = ngx_pcalloc(cf->pool, sizeof(ngx_nitro_attest_rollback_t));
        if (rb == NULL) {
            return NGX_ERROR;
        }

        nam->rollback->init = ngx_nitro_attest_init_rollback;
        nam->rollback->data = rb;
    }

    return NGX_OK;
}


/* a reload keeps the table: versions seen do not change with it */

static ngx_int_t
ngx_nitro_attest_init_rollback(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_nitro_attest_rollback_t *orb = data;

    ngx_nitro_attest_rollback_t  *rb;

    rb = shm_zone->data;

    if (orb) {
        rb->sh = orb->sh;
        rb->shpool = orb->shpool;
        return NGX_OK;
    }

    rb->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        rb->sh = rb->shpool->data;
        return NGX_OK;
    }

    rb->sh = ngx_slab_alloc(rb->shpool,
                            sizeof(ngx_nitro_attest_rollback_sh_t));
    if (rb->sh == NULL) {
        return NGX_ERROR;
    }

    rb->shpool->data = rb->sh;
    rb->shpool->log_nomem = 0;

    ngx_rbtree_init(&rb->sh->rbtree, &rb->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&rb->sh->lru);

    return NGX_OK;
}


/*
 * Whether v, a success of the certificate hook (its client has not proved
 * its key yet), is of a lower version than its instance proved before;
 * with mark, the verdict then becomes the failure "rollback", marked with
 * both versions.  A verdict from the verdict cache, one taken back from a
 * session ticket, each is judged here again: the table changes, the
 * verdict does not.  NGX_DECLINED: a rollback.
 */

ngx_int_t
ngx_nitro_attest_rollback_deny(ngx_nitro_attest_srv_conf_t *nascf,
    nitro_attest_verdict_t *v, ngx_uint_t mark)
{
    int64_t                       highest;
    uint32_t                      hash;
    ngx_nitro_attest_of_t         of;
    ngx_nitro_attest_release_t   *rel;
    ngx_nitro_attest_rollback_t  *rb;

    if (nascf->rollback != NGX_NITRO_ATTEST_ROLLBACK_DENY
        || ngx_nitro_attest_release_of(nascf, v, &of) != NGX_OK)
    {
        return NGX_OK;
    }

    rb = nascf->main->rollback->data;
    hash = ngx_crc32_short(of.key.data, of.key.len);

    ngx_shmtx_lock(&rb->shpool->mutex);

    rel = ngx_nitro_attest_release_find(rb, &of.key, hash);
    highest = rel ? rel->version : of.version;

    ngx_shmtx_unlock(&rb->shpool->mutex);

    if (highest <= of.version) {
        return NGX_OK;
    }

    if (mark) {
        v->status = NITRO_ATTEST_STATUS_FAILED;
        v->reason = NITRO_ATTEST_ROLLBACK;
        (void) nitro_attest_verdict_rollback(v, (char *) of.service.data,
                                             of.service.len, highest,
                                             of.version);
    }

    return NGX_DECLINED;
}


/*
 * A success whose client proved its key: the instance's version of the
 * service is remembered when it is the highest yet; a lower one is a
 * rollback, marked on the verdict.  Under "deny" the certificate hook
 * refused it already, unless a higher version proved itself (another
 * connection) between this client's certificate and its proof: the
 * verdict then becomes the failure "rollback" here, and the server serves
 * nothing on the connection, as for any verdict that is not a success.
 */

void
ngx_nitro_attest_rollback_proven(ngx_log_t *log,
    ngx_nitro_attest_srv_conf_t *nascf, nitro_attest_verdict_t *v)
{
    int64_t                       highest;
    uint32_t                      hash;
    ngx_nitro_attest_of_t         of;
    ngx_nitro_attest_release_t   *rel;
    ngx_nitro_attest_rollback_t  *rb;

    if (ngx_nitro_attest_release_of(nascf, v, &of) != NGX_OK) {
        return;
    }

    rb = nascf->main->rollback->data;
    hash = ngx_crc32_short(of.key.data, of.key.len);

    ngx_shmtx_lock(&rb->shpool->mutex);

    rel = ngx_nitro_attest_release_find(rb, &of.key, hash);

    if (rel == NULL) {
        rel = ngx_nitro_attest_release_alloc(log, rb,
                  offsetof(ngx_nitro_attest_release_t, data) + of.key.len);

        if (rel == NULL) {
            ngx_shmtx_unlock(&rb->shpool->mutex);
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "nitro_attest: no room in the rollback table, "
                          "version %L of service \"%V\" of instance "
                          "\"%s\" is not remembered", of.version,
                          &of.service, of.key.data);
            return;
        }

        ngx_memcpy(rel->data, of.key.data, of.key.len);
        rel->sn.str.data = rel->data;
        rel->sn.str.len = of.key.len;
        rel->sn.node.key = hash;
        rel->id_len = ngx_strlen(of.key.data);
        rel->version = of.version;
        ngx_rbtree_insert(&rb->sh->rbtree, &rel->sn.node);

    } else {
        ngx_queue_remove(&rel->queue);
    }

    ngx_queue_insert_head(&rb->sh->lru, &rel->queue);

    highest = rel->version;

    if (of.version > highest) {
        rel->version = of.version;
    }

    ngx_shmtx_unlock(&rb->shpool->mutex);

    if (of.version >= highest) {
        return;
    }

    (void) nitro_attest_verdict_rollback(v, (char *) of.service.data,
                                         of.service.len, highest, of.version);

    if (nascf->rollback == NGX_NITRO_ATTEST_ROLLBACK_DENY) {
        v->status = NITRO_ATTEST_STATUS_FAILED;
        v->reason = NITRO_ATTEST_ROLLBACK;
    }
}


/*
 * The release of a success whose signature and chain held: the allow set
 * it matched, in the server's policy, names a service and a version.  The
 * instance is the module id up to its last "-enc" (an enclave's slot) or
 * "-tpm" (a NitroTPM's module id is its instance id and "-tpm" with 16
 * zeros: one per instance), so every enclave of an instance, whatever its
 * slot after a restart, is the same instance.
 */

static ngx_int_t
ngx_nitro_attest_release_of(ngx_nitro_attest_srv_conf_t *nascf,
    nitro_attest_verdict_t *v, ngx_nitro_attest_of_t *of)
{
    u_char      *p;
    size_t       i, id_len;
    const char  *service;

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS
        || !(v->flags & NITRO_ATTEST_F_MEASURED)
        || nascf->policy == NULL
        || nascf->main->rollback == NULL)
    {
        return NGX_DECLINED;
    }

    i = nitro_attest_policy_allow_find(nascf->policy,
                                       (char *) nitro_attest_span_ptr(v,
                                                                 v->policy),
                                       v->policy.len);
    if (i == (size_t) -1) {
        return NGX_DECLINED;
    }

    service = nitro_attest_policy_allow_service(nascf->policy, i,
                                                &of->version);
    if (service == NULL) {
        return NGX_DECLINED;
    }

    id_len = nitro_attest_instance_id_len(
                 (char *) nitro_attest_span_ptr(v, v->module_id),
                 v->module_id.len);

    /* a module id carries no NUL that would end the instance id early */
    if (ngx_strlchr(nitro_attest_span_ptr(v, v->module_id),
                    nitro_attest_span_ptr(v, v->module_id) + id_len, '\0'))
    {
        return NGX_DECLINED;
    }

    p = ngx_cpymem(of->data, nitro_attest_span_ptr(v, v->module_id), id_len);
    *p++ = '\0';

    of->service.data = p;
    of->service.len = ngx_strlen(service);
    p = ngx_cpymem(p, service, of->service.len);

    of->key.data = of->data;
    of->key.len = p - of->data;

    return NGX_OK;
}


static ngx_nitro_attest_release_t *
ngx_nitro_attest_release_find(ngx_nitro_attest_rollback_t *rb,
    ngx_str_t *key, uint32_t hash)
{
    ngx_str_node_t  *sn;

    sn = ngx_str_rbtree_lookup(&rb->sh->rbtree, key, hash);

    return sn ? (ngx_nitro_attest_release_t *) sn : NULL;
}


/*
 * An entry, the zone locked; when it is full, the least recently used
 * entries make room, each named in the log: a rollback of what is
 * forgotten would pass as a first sighting.
 */

static ngx_nitro_attest_release_t *
ngx_nitro_attest_release_alloc(ngx_log_t *log,
    ngx_nitro_attest_rollback_t *rb, size_t size)
{
    ngx_queue_t                 *q;
    ngx_nitro_attest_release_t  *rel, *old;

    for ( ;; ) {
        rel = ngx_slab_alloc_locked(rb->shpool, size);

        if (rel != NULL || ngx_queue_empty(&rb->sh->lru)) {
            return rel;
        }

        q = ngx_queue_last(&rb->sh->lru);
        old = ngx_queue_data(q, ngx_nitro_attest_release_t, queue);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "nitro_attest: the rollback table is full, "
                      "forgetting version %L of service \"%*s\" of instance "
                      "\"%s\": a rollback of it will not be seen",
                      old->version, old->sn.str.len - old->id_len - 1,
                      old->data + old->id_len + 1, old->data);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&rb->sh->rbtree, &old->sn.node);
        ngx_slab_free_locked(rb->shpool, old);
    }
}
