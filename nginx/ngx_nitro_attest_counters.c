
/*
 * ngx_nitro_attest_counters.c: the shared counters, one zone for both
 * protocols, summed over all workers and kept across reloads: handshakes
 * verified and failed (by reason, by protocol), verdict cache hits, and
 * each allow set's matches and last success, with whether a watched set
 * went silent.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_nitro_attest.h"


/*
 * The counters zone has a fixed size, so that a reload finds it again by
 * name and size and keeps its figures; about 4000 allow-set names fit.
 */
#define NGX_NITRO_ATTEST_ZONE_SIZE (1024 * 1024)


static ngx_int_t ngx_nitro_attest_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_nitro_attest_count_sets(ngx_shm_zone_t *shm_zone,
    ngx_nitro_attest_shctx_t *sh, ngx_nitro_attest_main_t *namcf,
    int64_t now);


/* the counters zone's own tag, so that no other zone can be mistaken for it */
ngx_uint_t  ngx_nitro_attest_counters_tag;


/* one verification, into the block's counters (if it has them) */

void
ngx_nitro_attest_count(ngx_nitro_attest_main_t *namcf,
    nitro_attest_verdict_t *v)
{
    ngx_uint_t                 i;
    nitro_attest_span_t       *name;
    ngx_nitro_attest_set_t    *set;
    ngx_nitro_attest_shctx_t  *sh;

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
        (void) ngx_atomic_fetch_add(&sh->protocols[namcf->protocol][1], 1);

        if (v->reason < NITRO_ATTEST_HANDSHAKE_REASONS) {
            (void) ngx_atomic_fetch_add(&sh->failures[v->reason], 1);
        }

        return;
    }

    (void) ngx_atomic_fetch_add(&sh->verified, 1);
    (void) ngx_atomic_fetch_add(&sh->protocols[namcf->protocol][0], 1);

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


/* expect_every has passed since the last success (or since first loaded) */

ngx_uint_t
ngx_nitro_attest_silent(ngx_nitro_attest_set_t *set, int64_t now)
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


/*
 * The allow-set names of every policy file loaded in this cycle, each name
 * once; a name in several files is watched at its shortest expect_every.
 */

ngx_int_t
ngx_nitro_attest_init_sets(ngx_conf_t *cf,
    ngx_nitro_attest_main_t *namcf)
{
    size_t                    n, k, len;
    int64_t                   every;
    ngx_uint_t                i, j;
    const char               *name;
    nitro_attest_policy_t    *policy;
    ngx_nitro_attest_set_t   *set;
    ngx_nitro_attest_file_t  *file;

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
 * The counters zone, one per nginx: both protocols count into it (the
 * same name, size and tag find the same zone, and each block adds its main
 * state to the zone's list).  Its own tag keeps any other zone of that
 * name from being mistaken for it.  The inventory is the http block's
 * (its directive and its status endpoint are http's): the stream block,
 * which shares the counters, enters its handshakes in it too.
 */

ngx_int_t
ngx_nitro_attest_counters_zone(ngx_conf_t *cf, ngx_nitro_attest_main_t *nam)
{
    ngx_str_t                  name;
    ngx_uint_t                 i;
    ngx_array_t               *mains;
    ngx_shm_zone_t            *inventory;
    ngx_nitro_attest_main_t  **p;

    ngx_str_set(&name, NGX_NITRO_ATTEST_COUNTERS);

    nam->shm_zone = ngx_shared_memory_add(cf, &name,
                                          NGX_NITRO_ATTEST_ZONE_SIZE,
                                          &ngx_nitro_attest_counters_tag);
    if (nam->shm_zone == NULL) {
        return NGX_ERROR;
    }

    mains = nam->shm_zone->data;

    if (mains == NULL) {
        mains = ngx_array_create(cf->pool, 2,
                                 sizeof(ngx_nitro_attest_main_t *));
        if (mains == NULL) {
            return NGX_ERROR;
        }

        nam->shm_zone->init = ngx_nitro_attest_init_zone;
        nam->shm_zone->data = mains;
    }

    p = ngx_array_push(mains);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = nam;

    inventory = NULL;
    p = mains->elts;

    for (i = 0; i < mains->nelts; i++) {
        if (p[i]->inventory != NULL) {
            inventory = p[i]->inventory;
        }
    }

    for (i = 0; i < mains->nelts; i++) {
        if (p[i]->inventory == NULL) {
            p[i]->inventory = inventory;
        }
    }

    return NGX_OK;
}


/*
 * A full verification of an upstream: its own families, so that the
 * client handshakes' keep counting clients only.
 */

void
ngx_nitro_attest_count_proxy(ngx_nitro_attest_main_t *namcf,
    nitro_attest_verdict_t *v)
{
    ngx_nitro_attest_shctx_t  *sh;

    sh = namcf->sh;

    if (sh == NULL) {
        return;
    }

    if (v->status == NITRO_ATTEST_STATUS_SUCCESS) {
        (void) ngx_atomic_fetch_add(&sh->proxy[0], 1);
        return;
    }

    (void) ngx_atomic_fetch_add(&sh->proxy[1], 1);

    if (v->reason < NITRO_ATTEST_HANDSHAKE_REASONS) {
        (void) ngx_atomic_fetch_add(&sh->proxy_failures[v->reason], 1);
    }
}


/*
 * Runs in the master for each configuration cycle, for the protocol
 * blocks of that cycle (the zone's data: their main states).  A reload
 * finds the zone of the previous cycle (same name and size) and keeps its
 * counters; names new to this cycle get counters that start now.  Nodes
 * are never freed: old workers may still count into them.
 */

static ngx_int_t
ngx_nitro_attest_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_array_t *omains = data;

    int64_t                    now;
    ngx_uint_t                 i;
    ngx_array_t               *mains;
    ngx_slab_pool_t           *shpool;
    ngx_nitro_attest_main_t  **nam;
    ngx_nitro_attest_shctx_t  *sh;

    mains = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (omains) {
        nam = omains->elts;
        sh = nam[0]->sh;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_nitro_attest_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&sh->sets);
        shpool->data = sh;
        shpool->log_nomem = 0;
    }

    now = ngx_nitro_attest_now();
    nam = mains->elts;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < mains->nelts; i++) {
        nam[i]->sh = sh;
        ngx_nitro_attest_count_sets(shm_zone, sh, nam[i], now);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/* each allow-set name of a block gets its node (the zone is locked) */

static void
ngx_nitro_attest_count_sets(ngx_shm_zone_t *shm_zone,
    ngx_nitro_attest_shctx_t *sh, ngx_nitro_attest_main_t *namcf, int64_t now)
{
    size_t                        len;
    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_slab_pool_t              *shpool;
    ngx_nitro_attest_set_t       *set;
    ngx_nitro_attest_set_node_t  *node;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    set = namcf->sets.elts;

    for (i = 0; i < namcf->sets.nelts; i++) {

        for (q = ngx_queue_head(&sh->sets);
             q != ngx_queue_sentinel(&sh->sets);
             q = ngx_queue_next(q))
        {
            node = ngx_queue_data(q, ngx_nitro_attest_set_node_t, queue);

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

        len = offsetof(ngx_nitro_attest_set_node_t, name) + set[i].name.len;

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
}
