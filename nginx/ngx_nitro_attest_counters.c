
/*
 * ngx_nitro_attest_counters.c: the shared counters, one zone for both
 * protocols, summed over all workers and kept across reloads: handshakes
 * verified and failed (by reason, by protocol), verdict cache hits, and
 * each allow set's matches and last success, with whether a watched set
 * went silent; each service's rollbacks; and the recent past for the
 * dashboard: failures per minute for the last hour, the last refused
 * handshakes.
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
static void ngx_nitro_attest_count_services(ngx_shm_zone_t *shm_zone,
    ngx_nitro_attest_shctx_t *sh, ngx_nitro_attest_main_t *namcf);
static ngx_int_t ngx_nitro_attest_init_services(ngx_nitro_attest_main_t *nam,
    nitro_attest_policy_t *policy);
static void ngx_nitro_attest_count_rollback(ngx_nitro_attest_main_t *namcf,
    nitro_attest_verdict_t *v);
static size_t ngx_nitro_attest_keep(u_char *dst, u_char *src, size_t len);


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

    if (v->flags & NITRO_ATTEST_F_ROLLBACK) {
        ngx_nitro_attest_count_rollback(namcf, v);
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


/* a rollback, refused or not, to its service's counter */

static void
ngx_nitro_attest_count_rollback(ngx_nitro_attest_main_t *namcf,
    nitro_attest_verdict_t *v)
{
    ngx_uint_t                   i;
    ngx_nitro_attest_service_t  *service;

    service = namcf->services.elts;

    for (i = 0; i < namcf->services.nelts; i++) {
        if (service[i].node != NULL
            && service[i].name.len == v->service.len
            && ngx_memcmp(service[i].name.data,
                          nitro_attest_span_ptr(v, v->service),
                          v->service.len)
               == 0)
        {
            (void) ngx_atomic_fetch_add(&service[i].node->rollbacks, 1);
            return;
        }
    }
}


/*
 * A handshake into the recent past: a failure into its minute, by
 * severity; a refused one (by an "on" server, or a client that did not
 * prove its key) into the ring of the last refused, with the client's
 * address, the server's name and, when measured, the module id.
 */

void
ngx_nitro_attest_recent(ngx_nitro_attest_main_t *namcf, ngx_str_t *addr,
    ngx_str_t *server, ngx_uint_t refused, nitro_attest_verdict_t *v)
{
    int64_t                      minute;
    ngx_uint_t                   s;
    ngx_slab_pool_t             *shpool;
    ngx_nitro_attest_minute_t   *m;
    ngx_nitro_attest_refusal_t  *r;
    ngx_nitro_attest_shctx_t    *sh;

    sh = namcf->sh;

    if (sh == NULL || v->status != NITRO_ATTEST_STATUS_FAILED) {
        return;
    }

    shpool = (ngx_slab_pool_t *) namcf->shm_zone->shm.addr;
    minute = v->time_ms / 60000;
    s = ngx_strcmp(nitro_attest_severity(v), "CRITICAL") == 0 ? 0 : 1;

    ngx_shmtx_lock(&shpool->mutex);

    m = &sh->minutes[minute % NGX_NITRO_ATTEST_MINUTES];

    if (m->minute != minute) {
        m->minute = minute;
        m->failed[0] = 0;
        m->failed[1] = 0;
    }

    m->failed[s]++;

    if (refused) {
        r = &sh->refused[sh->nrefused++ % NGX_NITRO_ATTEST_REFUSED];

        r->time = v->time_ms;
        r->reason = v->reason;
        r->addr_len = ngx_nitro_attest_keep(r->addr, addr->data, addr->len);
        r->server_len = ngx_nitro_attest_keep(r->server, server->data,
                                              server->len);
        r->module_id_len = (v->flags & NITRO_ATTEST_F_MEASURED)
                           ? ngx_nitro_attest_keep(r->module_id,
                                 nitro_attest_span_ptr(v, v->module_id),
                                 v->module_id.len)
                           : 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


static size_t
ngx_nitro_attest_keep(u_char *dst, u_char *src, size_t len)
{
    len = ngx_min(len, NGX_NITRO_ATTEST_TEXT_KEPT);
    ngx_memcpy(dst, src, len);

    return len;
}


/* a consistent copy of the recent past, for the status page */

void
ngx_nitro_attest_recent_copy(ngx_shm_zone_t *zone,
    ngx_nitro_attest_minute_t *minutes, ngx_nitro_attest_refusal_t *refused,
    ngx_uint_t *nrefused)
{
    ngx_slab_pool_t           *shpool;
    ngx_nitro_attest_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    ngx_memcpy(minutes, sh->minutes, sizeof(sh->minutes));
    ngx_memcpy(refused, sh->refused, sizeof(sh->refused));
    *nrefused = sh->nrefused;

    ngx_shmtx_unlock(&shpool->mutex);
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

        if (ngx_nitro_attest_init_services(namcf, policy) != NGX_OK) {
            return NGX_ERROR;
        }

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


/* the services a policy names, each once, counted from 0 */

static ngx_int_t
ngx_nitro_attest_init_services(ngx_nitro_attest_main_t *namcf,
    nitro_attest_policy_t *policy)
{
    size_t                       k, n, len;
    int64_t                      version;
    ngx_uint_t                   j;
    const char                  *name;
    ngx_nitro_attest_service_t  *service;

    n = nitro_attest_policy_allow_count(policy);

    for (k = 0; k < n; k++) {
        name = nitro_attest_policy_allow_service(policy, k, &version);
        if (name == NULL) {
            continue;
        }

        len = ngx_strlen(name);
        service = namcf->services.elts;

        for (j = 0; j < namcf->services.nelts; j++) {
            if (service[j].name.len == len
                && ngx_memcmp(service[j].name.data, name, len) == 0)
            {
                break;
            }
        }

        if (j < namcf->services.nelts) {
            continue;
        }

        service = ngx_array_push(&namcf->services);
        if (service == NULL) {
            return NGX_ERROR;
        }

        service->name.len = len;
        service->name.data = (u_char *) name;
        service->node = NULL;
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
        ngx_queue_init(&sh->services);
        shpool->data = sh;
        shpool->log_nomem = 0;
    }

    now = ngx_nitro_attest_now();
    nam = mains->elts;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < mains->nelts; i++) {
        nam[i]->sh = sh;
        ngx_nitro_attest_count_sets(shm_zone, sh, nam[i], now);
        ngx_nitro_attest_count_services(shm_zone, sh, nam[i]);
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


/* each service of a block gets its node (the zone is locked) */

static void
ngx_nitro_attest_count_services(ngx_shm_zone_t *shm_zone,
    ngx_nitro_attest_shctx_t *sh, ngx_nitro_attest_main_t *namcf)
{
    size_t                            len;
    ngx_uint_t                        i;
    ngx_queue_t                      *q;
    ngx_slab_pool_t                  *shpool;
    ngx_nitro_attest_service_t       *service;
    ngx_nitro_attest_service_node_t  *node;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    service = namcf->services.elts;

    for (i = 0; i < namcf->services.nelts; i++) {

        for (q = ngx_queue_head(&sh->services);
             q != ngx_queue_sentinel(&sh->services);
             q = ngx_queue_next(q))
        {
            node = ngx_queue_data(q, ngx_nitro_attest_service_node_t, queue);

            if (node->len == service[i].name.len
                && ngx_memcmp(node->name, service[i].name.data, node->len)
                   == 0)
            {
                service[i].node = node;
                break;
            }
        }

        if (service[i].node == NULL) {
            len = offsetof(ngx_nitro_attest_service_node_t, name)
                  + service[i].name.len;

            node = ngx_slab_calloc_locked(shpool, len);
            if (node == NULL) {
                ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                              "nitro_attest: the counters zone is full, "
                              "service \"%V\" is not counted (restart nginx "
                              "to free names of old configurations)",
                              &service[i].name);
                continue;
            }

            node->len = service[i].name.len;
            ngx_memcpy(node->name, service[i].name.data, node->len);

            ngx_queue_insert_tail(&sh->services, &node->queue);
            service[i].node = node;
        }
    }
}
