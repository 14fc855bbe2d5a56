
/*
 * ngx_nitro_attest_inventory.c: "nitro_attest_inventory zone=": the
 * enclaves and NitroTPM instances seen, one entry per module id, in a
 * shared zone.  Only verdicts whose signature and chain verified are
 * entered (a forger cannot fill the table).  When the zone is full, the
 * least recently seen entry makes room, an entry with a success whose key
 * was proven last: anyone can mint real documents that fail, or replay a
 * certificate, but not push an enclave that attests out of the table.
 * Both protocols enter the http block's table; the status endpoint reads
 * it.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


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


static ngx_int_t ngx_nitro_attest_init_inventory(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_nitro_attest_enclave_t *ngx_nitro_attest_inventory_alloc(
    ngx_nitro_attest_inventory_t *inv, size_t size);
static ngx_queue_t *ngx_nitro_attest_inventory_next(
    ngx_nitro_attest_inventory_sh_t *sh, ngx_queue_t *q);
static int ngx_libc_cdecl ngx_nitro_attest_enclave_cmp(const void *one,
    const void *two);


/* the inventory zones' own tag: no other zone of that name is mistaken */
ngx_uint_t  ngx_nitro_attest_inventory_tag;


/* nitro_attest_inventory zone=NAME:SIZE | off; (http) */

char *
ngx_nitro_attest_inventory(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_main_t *namcf = conf;

    ssize_t                        size;
    ngx_str_t                     *value, name;
    ngx_shm_zone_t                *zone;
    ngx_nitro_attest_inventory_t  *inv;

    if (namcf->inventory != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        namcf->inventory = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_nitro_attest_zone_value(cf, &name, &size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * A zone of another kind with this name (a verdict cache, another
     * module's zone) has another tag: nginx refuses it as "already
     * declared for a different use", at nginx -t.
     */

    zone = ngx_shared_memory_add(cf, &name, size,
                                 &ngx_nitro_attest_inventory_tag);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->data == NULL) {
        inv = ngx_pcalloc(cf->pool, sizeof(ngx_nitro_attest_inventory_t));
        if (inv == NULL) {
            return NGX_CONF_ERROR;
        }

        zone->init = ngx_nitro_attest_init_inventory;
        zone->data = inv;
    }

    namcf->inventory = zone;

    return NGX_CONF_OK;
}


/*
 * A reload that keeps the zone's name and size keeps the table: the
 * enclaves seen do not change with the configuration.
 */

static ngx_int_t
ngx_nitro_attest_init_inventory(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_nitro_attest_inventory_t *oinv = data;

    size_t                         entry, slot, per_page;
    ngx_nitro_attest_inventory_t  *inv;

    inv = shm_zone->data;

    if (oinv) {
        inv->sh = oinv->sh;
        inv->shpool = oinv->shpool;
        return NGX_OK;
    }

    inv->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        inv->sh = inv->shpool->data;
        return NGX_OK;
    }

    inv->sh = ngx_slab_alloc(inv->shpool,
                             sizeof(ngx_nitro_attest_inventory_sh_t));
    if (inv->sh == NULL) {
        return NGX_ERROR;
    }

    inv->shpool->data = inv->sh;

    ngx_rbtree_init(&inv->sh->rbtree, &inv->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&inv->sh->lru);
    ngx_queue_init(&inv->sh->proven);

    inv->shpool->log_nomem = 0;
    inv->shpool->log_ctx = ngx_slab_alloc(inv->shpool,
                                          sizeof(" in nitro_attest_inventory "
                                                 "zone \"\"")
                                          + shm_zone->shm.name.len);
    if (inv->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(inv->shpool->log_ctx, " in nitro_attest_inventory zone "
                "\"%V\"%Z", &shm_zone->shm.name);

    /*
     * An entry with a 40-byte module id, as AWS makes them, and a 16-byte
     * set name; the slab allocator rounds it up to a power of two, and
     * each free page holds that many slots of it.
     */

    entry = offsetof(ngx_nitro_attest_enclave_t, data) + 40 + 16;

    for (slot = 8; slot < entry; slot <<= 1) { /* void */ }

    per_page = slot < ngx_pagesize ? ngx_pagesize / slot : 1;

    ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                  "nitro_attest_inventory zone \"%V\": an entry takes %uz "
                  "bytes (a %uz-byte slab slot), %uz entries fit",
                  &shm_zone->shm.name, entry, slot,
                  inv->shpool->pfree * per_page);

    return NGX_OK;
}


/*
 * One full handshake of a measured client (its signature and chain held),
 * whatever its verdict: the entry of its module id is made or updated and
 * becomes the most recently seen of its queue.
 */

void
ngx_nitro_attest_inventory_enter(ngx_shm_zone_t *zone,
    nitro_attest_verdict_t *v)
{
    size_t                         size;
    u_char                         proven_pcr0[NITRO_ATTEST_PCR_MAX_LEN];
    int64_t                        seen, first_seen, last_seen;
    uint64_t                       verified, failed;
    ngx_str_t                      id;
    uint32_t                       hash;
    ngx_uint_t                     proven, proven_pcr0_len;
    nitro_attest_span_t           *policy, *pcr0;
    ngx_nitro_attest_enclave_t    *en;
    ngx_nitro_attest_inventory_t  *inv;

    inv = zone->data;

    if (inv->sh == NULL || !(v->flags & NITRO_ATTEST_F_MEASURED)
        || v->module_id.len == 0)
    {
        return;
    }

    id.data = nitro_attest_span_ptr(v, v->module_id);
    id.len = v->module_id.len;
    hash = ngx_crc32_short(id.data, id.len);

    policy = &v->policy;
    pcr0 = (v->pcr_mask & 1) ? &v->pcr[0] : NULL;
    seen = v->time_ms / 1000;

    size = offsetof(ngx_nitro_attest_enclave_t, data) + id.len
           + policy->len;

    verified = 0;
    failed = 0;
    first_seen = seen;
    last_seen = seen;
    proven = 0;
    proven_pcr0_len = 0;

    ngx_shmtx_lock(&inv->shpool->mutex);

    en = (ngx_nitro_attest_enclave_t *)
             ngx_str_rbtree_lookup(&inv->sh->rbtree, &id, hash);

    if (en != NULL && en->size < size) {
        /* a longer set name than it has room for: moved to a bigger slot */
        verified = en->verified;
        failed = en->failed;
        first_seen = en->first_seen;
        last_seen = en->last_seen;
        proven = en->proven;
        ngx_memcpy(proven_pcr0, en->proven_pcr0, en->proven_pcr0_len);
        proven_pcr0_len = en->proven_pcr0_len;

        ngx_queue_remove(&en->queue);
        ngx_rbtree_delete(&inv->sh->rbtree, &en->sn.node);
        ngx_slab_free_locked(inv->shpool, en);
        en = NULL;
    }

    if (en == NULL) {
        en = ngx_nitro_attest_inventory_alloc(inv, size);

        if (en == NULL) {
            ngx_shmtx_unlock(&inv->shpool->mutex);

            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "nitro_attest_inventory zone \"%V\" cannot hold "
                          "an entry of %uz bytes, \"%V\" is not entered",
                          &zone->shm.name, size, &id);
            return;
        }

        en->size = (uint32_t) size;
        en->verified = verified;
        en->failed = failed;
        en->first_seen = first_seen;
        en->last_seen = last_seen;
        en->proven = (uint8_t) proven;
        en->proven_pcr0_len = (uint8_t) proven_pcr0_len;
        ngx_memcpy(en->proven_pcr0, proven_pcr0, proven_pcr0_len);
        en->module_id_len = (uint16_t) id.len;
        ngx_memcpy(en->data, id.data, id.len);

        en->sn.node.key = hash;
        en->sn.str.data = en->data;
        en->sn.str.len = id.len;

        ngx_rbtree_insert(&inv->sh->rbtree, &en->sn.node);

    } else {
        ngx_queue_remove(&en->queue);
    }

    /*
     * Seen means: a client that proved it holds the attested key.  A
     * certificate is public: its replays (key_not_proven), and refusals
     * made before the client's CertificateVerify, are counted and shown,
     * but do not keep an enclave that went quiet looking alive, nor make
     * its entry one that is evicted last.
     */
    if (v->flags & NITRO_ATTEST_F_KEY_PROVEN) {
        en->last_seen = ngx_max(en->last_seen, seen);

        if (v->status == NITRO_ATTEST_STATUS_SUCCESS) {
            en->proven = 1;
            en->proven_pcr0_len = pcr0 ? (uint8_t) pcr0->len : 0;

            if (pcr0 != NULL) {
                ngx_memcpy(en->proven_pcr0, nitro_attest_span_ptr(v, *pcr0),
                           pcr0->len);
            }
        }
    }

    ngx_queue_insert_head(en->proven ? &inv->sh->proven : &inv->sh->lru,
                          &en->queue);

    if (v->status == NITRO_ATTEST_STATUS_SUCCESS) {
        en->verified++;

    } else {
        en->failed++;
    }

    en->status = v->status;
    en->reason = v->reason;
    en->kind = v->kind;

    en->policy_len = (uint8_t) policy->len;
    ngx_memcpy(en->data + en->module_id_len,
               nitro_attest_span_ptr(v, *policy), policy->len);

    if (pcr0 != NULL) {
        en->pcr0_len = (uint8_t) pcr0->len;
        ngx_memcpy(en->pcr0, nitro_attest_span_ptr(v, *pcr0), pcr0->len);

    } else {
        en->pcr0_len = 0;
    }

    ngx_shmtx_unlock(&inv->shpool->mutex);
}


/*
 * Under the zone's lock: the least recently seen entries make room, those
 * with a proven success when no other is left.
 */

static ngx_nitro_attest_enclave_t *
ngx_nitro_attest_inventory_alloc(ngx_nitro_attest_inventory_t *inv,
    size_t size)
{
    ngx_queue_t                 *q, *queue;
    ngx_nitro_attest_enclave_t  *en, *old;

    while ((en = ngx_slab_alloc_locked(inv->shpool, size)) == NULL) {

        queue = ngx_queue_empty(&inv->sh->lru) ? &inv->sh->proven
                                               : &inv->sh->lru;

        if (ngx_queue_empty(queue)) {
            return NULL;
        }

        q = ngx_queue_last(queue);
        old = ngx_queue_data(q, ngx_nitro_attest_enclave_t, queue);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&inv->sh->rbtree, &old->sn.node);
        ngx_slab_free_locked(inv->shpool, old);
    }

    return en;
}


/*
 * A copy of the table in pool, sorted by instance id, then module id (an
 * instance's enclaves next to each other): an array of entry pointers.
 * Measured first, copied second, so that nothing is allocated under the
 * lock; entries made in between wait for the next reading.
 */

ngx_array_t *
ngx_nitro_attest_inventory_list(ngx_pool_t *pool, ngx_shm_zone_t *zone)
{
    u_char                         *buf, *p, *last;
    size_t                          total, len;
    ngx_uint_t                      n;
    ngx_array_t                    *list;
    ngx_queue_t                    *q;
    ngx_nitro_attest_enclave_t     *en, **copy;
    ngx_nitro_attest_inventory_t   *inv;

    inv = zone->data;
    total = 0;
    n = 0;

    ngx_shmtx_lock(&inv->shpool->mutex);

    for (q = ngx_nitro_attest_inventory_next(inv->sh, NULL);
         q != NULL;
         q = ngx_nitro_attest_inventory_next(inv->sh, q))
    {
        en = ngx_queue_data(q, ngx_nitro_attest_enclave_t, queue);
        total += ngx_align(en->size, NGX_ALIGNMENT);
        n++;
    }

    ngx_shmtx_unlock(&inv->shpool->mutex);

    list = ngx_array_create(pool, ngx_max(n, 1),
                            sizeof(ngx_nitro_attest_enclave_t *));
    buf = ngx_palloc(pool, ngx_max(total, 1));

    if (list == NULL || buf == NULL) {
        return NULL;
    }

    p = buf;
    last = buf + total;

    ngx_shmtx_lock(&inv->shpool->mutex);

    for (q = ngx_nitro_attest_inventory_next(inv->sh, NULL);
         q != NULL && list->nelts < n;
         q = ngx_nitro_attest_inventory_next(inv->sh, q))
    {
        en = ngx_queue_data(q, ngx_nitro_attest_enclave_t, queue);
        len = ngx_align(en->size, NGX_ALIGNMENT);

        if ((size_t) (last - p) < len) {
            break;
        }

        ngx_memcpy(p, en, en->size);

        copy = (ngx_nitro_attest_enclave_t **) list->elts + list->nelts++;
        *copy = (ngx_nitro_attest_enclave_t *) p;
        (*copy)->sn.str.data = (*copy)->data;

        p += len;
    }

    ngx_shmtx_unlock(&inv->shpool->mutex);

    ngx_qsort(list->elts, list->nelts, sizeof(ngx_nitro_attest_enclave_t *),
              ngx_nitro_attest_enclave_cmp);

    return list;
}


/* every entry, of both queues: the one after q (NULL: the first), or NULL */

static ngx_queue_t *
ngx_nitro_attest_inventory_next(ngx_nitro_attest_inventory_sh_t *sh,
    ngx_queue_t *q)
{
    q = (q == NULL) ? ngx_queue_head(&sh->proven) : ngx_queue_next(q);

    if (q == ngx_queue_sentinel(&sh->proven)) {
        q = ngx_queue_head(&sh->lru);
    }

    return (q == ngx_queue_sentinel(&sh->lru)) ? NULL : q;
}


static int ngx_libc_cdecl
ngx_nitro_attest_enclave_cmp(const void *one, const void *two)
{
    int                          rc;
    size_t                       an, bn;
    ngx_nitro_attest_enclave_t  *a, *b;

    a = *(ngx_nitro_attest_enclave_t **) one;
    b = *(ngx_nitro_attest_enclave_t **) two;

    /* by instance first: a module id may contain another's instance id */

    an = nitro_attest_instance_id_len((char *) a->data, a->module_id_len);
    bn = nitro_attest_instance_id_len((char *) b->data, b->module_id_len);

    rc = ngx_memcmp(a->data, b->data, ngx_min(an, bn));

    if (rc != 0 || an != bn) {
        return rc != 0 ? rc : (int) an - (int) bn;
    }

    rc = ngx_memcmp(a->data, b->data,
                    ngx_min(a->module_id_len, b->module_id_len));

    if (rc != 0) {
        return rc;
    }

    return (int) a->module_id_len - (int) b->module_id_len;
}
