
/*
 * ngx_nitro_attest_verify.c: the verdict on a client's certificate: from
 * the verdict cache when it holds one for this configuration and
 * certificate, else from the core, with this worker's chain cache
 * ("nitro_attest_chain_cache") and memo of signed documents; a verdict
 * whose client proved its key is remembered in the verdict cache.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_nitro_attest.h"


/* signed documents each worker remembers (the pre-authentication memo) */
#define NGX_NITRO_ATTEST_MEMO      1024


static nitro_attest_reason_e ngx_nitro_attest_verdict_of(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *nascf, X509 *cert, int64_t now,
    nitro_attest_verdict_t *v, u_char *key, ngx_uint_t *keyed);
static void ngx_nitro_attest_caches(ngx_connection_t *c,
    ngx_nitro_attest_main_t *namcf, nitro_attest_config_t *core);


/* this worker's chain cache and memo, made on first use */
static nitro_attest_chain_cache_t  *ngx_nitro_attest_chain_cache_p;
static nitro_attest_memo_t         *ngx_nitro_attest_memo_p;


/* nitro_attest_chain_cache NUMBER | off; (CA bundles per worker) */

char *
ngx_nitro_attest_chain_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_nitro_attest_main_t *namcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (namcf->chain_cache != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR && ngx_strcmp(value[1].data, "off") == 0) {
        namcf->chain_cache = 0;
        return NGX_CONF_OK;
    }

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


/*
 * The verdict for cert: from the verdict cache when it holds one for this
 * configuration and certificate (a client that proved its key before),
 * else verified by the core, with this worker's chain cache and memo,
 * without any lock held.  *keyed says whether key is the cache key under
 * which the verdict is remembered once this client proves its key.  The
 * time it took is the verdict's verify_us.
 */

nitro_attest_reason_e
ngx_nitro_attest_verify_cert(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *nascf, X509 *cert, int64_t now,
    nitro_attest_verdict_t *v, u_char *key, ngx_uint_t *keyed)
{
    struct timeval         start, end;
    nitro_attest_reason_e  reason;

    ngx_gettimeofday(&start);

    reason = ngx_nitro_attest_verdict_of(c, nascf, cert, now, v, key, keyed);

    ngx_gettimeofday(&end);

    v->verify_us = (uint32_t) ((end.tv_sec - start.tv_sec) * 1000000
                               + (end.tv_usec - start.tv_usec));

    return reason;
}


static nitro_attest_reason_e
ngx_nitro_attest_verdict_of(ngx_connection_t *c,
    ngx_nitro_attest_srv_conf_t *nascf, X509 *cert, int64_t now,
    nitro_attest_verdict_t *v, u_char *key, ngx_uint_t *keyed)
{
    nitro_attest_config_t  core;
    nitro_attest_reason_e  reason;

    *keyed = nascf->cache != NULL
             && nitro_attest_verdict_key(nascf->digest, cert, key) == 0;

    if (*keyed
        && ngx_nitro_attest_cache_get(nascf->cache, key, now, v) == NGX_OK)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "nitro_attest: verdict cache hit");
        return v->reason;
    }

    core = nascf->core;
    ngx_nitro_attest_caches(c, nascf->main, &core);

    reason = nitro_attest_verify_cert(&core, cert, now, v);

    if (nascf->cache != NULL) {
        v->cache = NITRO_ATTEST_CACHE_MISS;
    }

    return reason;
}


/*
 * Only a verdict whose client proved its key is remembered, so a replayed
 * certificate cannot take the genuine client's place in the cache; until
 * the earliest of the document's max age and the chain's notAfter.
 */

void
ngx_nitro_attest_remember(ngx_nitro_attest_srv_conf_t *nascf, u_char *key,
    nitro_attest_verdict_t *v)
{
    int64_t  expires;

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS
        || v->cache == NITRO_ATTEST_CACHE_HIT)
    {
        return;
    }

    expires = v->timestamp_ms + (int64_t) nascf->max_age;
    expires = ngx_min(expires, v->not_after_ms);

    if (expires > v->time_ms) {
        ngx_nitro_attest_cache_put(nascf->cache, key, expires, v);
    }
}


/*
 * This worker's chain cache (unless off) and memo, made on first use;
 * without memory for them every document is verified in full.
 */

static void
ngx_nitro_attest_caches(ngx_connection_t *c,
    ngx_nitro_attest_main_t *namcf, nitro_attest_config_t *core)
{
    static ngx_uint_t  failed;

    if (ngx_nitro_attest_chain_cache_p == NULL && namcf->chain_cache
        && !(failed & 1))
    {
        ngx_nitro_attest_chain_cache_p =
                             nitro_attest_chain_cache_new(namcf->chain_cache);

        if (ngx_nitro_attest_chain_cache_p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "nitro_attest: cannot make the chain cache, "
                          "verifying every chain in full");
            failed |= 1;
        }
    }

    if (ngx_nitro_attest_memo_p == NULL && !(failed & 2)) {
        ngx_nitro_attest_memo_p =
                         nitro_attest_memo_new(NGX_NITRO_ATTEST_MEMO);

        if (ngx_nitro_attest_memo_p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "nitro_attest: cannot make the document memo, "
                          "verifying every document in full");
            failed |= 2;
        }
    }

    core->chain_cache = namcf->chain_cache
                        ? ngx_nitro_attest_chain_cache_p : NULL;
    core->memo = ngx_nitro_attest_memo_p;
}


/* a worker's caches go with it */

void
ngx_nitro_attest_exit(void)
{
    nitro_attest_chain_cache_free(ngx_nitro_attest_chain_cache_p);
    ngx_nitro_attest_chain_cache_p = NULL;
    nitro_attest_memo_free(ngx_nitro_attest_memo_p);
    ngx_nitro_attest_memo_p = NULL;
}
