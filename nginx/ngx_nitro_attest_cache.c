
/*
 * ngx_nitro_attest_cache.c: the verdict cache ("nitro_attest_cache
 * zone="): verdicts of clients that proved their key, in a shared zone,
 * found by SHA-256(configuration digest, certificate digest), kept until
 * the earliest of the document's max age and the chain's notAfter, the
 * least recently used evicted when the zone is full.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;           /* most recent first */
} ngx_nitro_attest_cache_sh_t;


typedef struct {
    ngx_nitro_attest_cache_sh_t    *sh;
    ngx_slab_pool_t                *shpool;
} ngx_nitro_attest_cache_t;


typedef struct {
    ngx_rbtree_node_t               node;          /* key: key's head */
    ngx_queue_t                     queue;
    int64_t                         expires;       /* ms */
    u_char                          key[SHA256_DIGEST_LENGTH];
    nitro_attest_verdict_t          verdict;       /* used prefix only */
} ngx_nitro_attest_cache_node_t;


static ngx_shm_zone_t *ngx_nitro_attest_cache_zone(ngx_conf_t *cf,
    ngx_str_t *name, size_t size);
static ngx_int_t ngx_nitro_attest_init_cache(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_nitro_attest_cache_node_t *ngx_nitro_attest_cache_find(
    ngx_nitro_attest_cache_t *cache, u_char *key);
static void ngx_nitro_attest_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/* the cache zones' own tag */
ngx_uint_t  ngx_nitro_attest_cache_tag;


/* nitro_attest_cache zone=NAME:SIZE | off; */

char *
ngx_nitro_attest_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_nitro_attest_srv_conf_t *nascf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (nascf->cache != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        nascf->cache = NULL;
        return ngx_nitro_attest_written(cf, nascf);
    }

    if (ngx_nitro_attest_zone_value(cf, &name, &size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    nascf->cache = ngx_nitro_attest_cache_zone(cf, &name, size);
    if (nascf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_nitro_attest_written(cf, nascf);
}


/*
 * The zone of "nitro_attest_cache zone=NAME:SIZE", with a tag of its own:
 * servers of both protocols naming it share it, and a zone of another
 * kind with the same name (another module's, the counters) is refused by
 * nginx as "already declared for a different use".
 */

static ngx_shm_zone_t *
ngx_nitro_attest_cache_zone(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t            *zone;
    ngx_nitro_attest_cache_t  *cache;

    zone = ngx_shared_memory_add(cf, name, size, &ngx_nitro_attest_cache_tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data == NULL) {
        cache = ngx_pcalloc(cf->pool, sizeof(ngx_nitro_attest_cache_t));
        if (cache == NULL) {
            return NULL;
        }

        zone->init = ngx_nitro_attest_init_cache;
        zone->data = cache;
    }

    return zone;
}


static ngx_int_t
ngx_nitro_attest_init_cache(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_nitro_attest_cache_t *ocache = data;

    size_t                     entry, slot;
    ngx_nitro_attest_cache_t  *cache;

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
                               sizeof(ngx_nitro_attest_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_nitro_attest_cache_insert);
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
    entry = offsetof(ngx_nitro_attest_cache_node_t, verdict)
            + offsetof(nitro_attest_verdict_t, data) + 16 * 48 + 40;

    for (slot = 8; slot < entry; slot <<= 1) { /* void */ }

    ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                  "nitro_attest_cache zone \"%V\": an entry takes %uz bytes "
                  "(a %uz-byte slab slot), about %uz entries fit in 10 MB",
                  &shm_zone->shm.name, entry, slot,
                  (size_t) (10 * 1024 * 1024) / slot);

    return NGX_OK;
}


/* the verdict cached under key, as if verified now, or NGX_DECLINED */

ngx_int_t
ngx_nitro_attest_cache_get(ngx_shm_zone_t *zone, u_char *key, int64_t now,
    nitro_attest_verdict_t *v)
{
    ngx_int_t                       rc;
    ngx_nitro_attest_cache_t       *cache;
    ngx_nitro_attest_cache_node_t  *cn;

    cache = zone->data;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_nitro_attest_cache_find(cache, key);

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
        v->flags &= ~(NITRO_ATTEST_F_RESUMED | NITRO_ATTEST_F_KEY_PROVEN);
    }

    return rc;
}


/* a verdict whose client proved its key, kept until expires (ms) */

void
ngx_nitro_attest_cache_put(ngx_shm_zone_t *zone, u_char *key,
    int64_t expires, nitro_attest_verdict_t *v)
{
    size_t                          size;
    ngx_queue_t                    *q;
    ngx_nitro_attest_cache_t       *cache;
    ngx_nitro_attest_cache_node_t  *cn, *old;

    cache = zone->data;
    size = offsetof(ngx_nitro_attest_cache_node_t, verdict)
           + nitro_attest_verdict_size(v);

    ngx_shmtx_lock(&cache->shpool->mutex);

    /* another worker may have cached it meanwhile */
    if (ngx_nitro_attest_cache_find(cache, key) != NULL) {
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
        old = ngx_queue_data(q, ngx_nitro_attest_cache_node_t, queue);

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

static ngx_nitro_attest_cache_node_t *
ngx_nitro_attest_cache_find(ngx_nitro_attest_cache_t *cache,
    u_char *key)
{
    ngx_int_t                       rc;
    ngx_rbtree_key_t                head;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_nitro_attest_cache_node_t  *cn;

    ngx_memcpy(&head, key, sizeof(ngx_rbtree_key_t));

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (head != node->key) {
            node = (head < node->key) ? node->left : node->right;
            continue;
        }

        cn = (ngx_nitro_attest_cache_node_t *) node;
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
ngx_nitro_attest_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_nitro_attest_cache_node_t  *cn, *cnt;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            cn = (ngx_nitro_attest_cache_node_t *) node;
            cnt = (ngx_nitro_attest_cache_node_t *) temp;

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
