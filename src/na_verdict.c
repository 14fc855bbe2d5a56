/*
 * na_verdict.c: the verdict, a plain struct of fixed size whose variable
 * fields are packed at the front of its data: how a verification fills it,
 * how a copy read back from a ticket or a cache is checked, and what a
 * server derives from one (its age, its expiry, its cache key).
 */

#include "na_internal.h"

#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>


/* Status NONE at now_ms, no field set: where every verification starts. */
void
na_verdict_reset(nitro_attest_verdict_t *v, int64_t now_ms)
{
    memset(v, 0, offsetof(nitro_attest_verdict_t, data));
    v->size = offsetof(nitro_attest_verdict_t, data);
    v->status = NITRO_ATTEST_STATUS_NONE;
    v->time_ms = now_ms;
}


/* The status reason gives: a success only for NITRO_ATTEST_OK. */
nitro_attest_reason_e
na_verdict_finish(nitro_attest_verdict_t *v, nitro_attest_reason_e reason)
{
    v->reason = (uint8_t) reason;
    v->status = (reason == NITRO_ATTEST_OK) ? NITRO_ATTEST_STATUS_SUCCESS
                                            : NITRO_ATTEST_STATUS_FAILED;
    return reason;
}


/* len bytes at p appended to the data, s set to them: 0, or -1 when full */
int
na_verdict_put(nitro_attest_verdict_t *v, nitro_attest_span_t *s,
    const void *p, size_t len)
{
    size_t  used;

    used = v->size - offsetof(nitro_attest_verdict_t, data);

    if (len > sizeof(v->data) - used) {
        return -1;
    }

    memcpy(v->data + used, p, len);
    s->off = (uint16_t) used;
    s->len = (uint16_t) len;
    v->size += (uint32_t) len;

    return 0;
}


int
nitro_attest_verdict_check(const void *p, size_t len)
{
    size_t                         used, i;
    const nitro_attest_span_t     *spans[5];
    const nitro_attest_verdict_t  *v;

    v = p;

    if (len < offsetof(nitro_attest_verdict_t, data)
        || len > sizeof(nitro_attest_verdict_t)
        || v->size != len
        || v->status > NITRO_ATTEST_STATUS_FAILED
        || v->reason >= NITRO_ATTEST_REASON_COUNT
        || v->binding > NITRO_ATTEST_BINDING_USER_DATA_SHA384
        || v->cache > NITRO_ATTEST_CACHE_HIT
        || v->kind > NITRO_ATTEST_KIND_NITROTPM
        || v->reserved[0] || v->reserved[1] || v->reserved[2])
    {
        return -1;
    }

    /* a kind is a measurement; NitroTPM PCRs are 0..23 */
    if ((v->kind != NITRO_ATTEST_KIND_ENCLAVE
         && !(v->flags & NITRO_ATTEST_F_MEASURED))
        || (v->kind == NITRO_ATTEST_KIND_NITROTPM
            && (v->pcr_mask >> NITRO_ATTEST_NITROTPM_PCR_COUNT) != 0))
    {
        return -1;
    }

    used = len - offsetof(nitro_attest_verdict_t, data);

    for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
        if ((size_t) v->pcr[i].off + v->pcr[i].len > used) {
            return -1;
        }
    }

    spans[0] = &v->module_id;
    spans[1] = &v->user_data;
    spans[2] = &v->nonce;
    spans[3] = &v->policy;
    spans[4] = &v->service;

    if (v->service.len > NITRO_ATTEST_POLICY_NAME_MAX) {
        return -1;
    }

    for (i = 0; i < 5; i++) {
        if ((size_t) spans[i]->off + spans[i]->len > used) {
            return -1;
        }
    }

    return 0;
}


int64_t
nitro_attest_verdict_age_s(const nitro_attest_verdict_t *v)
{
    int64_t  age_ms;

    if (__builtin_sub_overflow(v->time_ms, v->timestamp_ms, &age_ms)) {
        age_ms = v->time_ms < v->timestamp_ms ? INT64_MIN : INT64_MAX;
    }

    return age_ms / 1000;
}


int
nitro_attest_verdict_key(const uint8_t config_digest[32], X509 *cert,
    uint8_t key[32])
{
    uint8_t       buf[2 * SHA256_DIGEST_LENGTH];
    unsigned int  len;

    memcpy(buf, config_digest, SHA256_DIGEST_LENGTH);

    if (X509_digest(cert, EVP_sha256(), buf + SHA256_DIGEST_LENGTH, &len)
        != 1
        || SHA256(buf, sizeof(buf), key) == NULL)
    {
        ERR_clear_error();
        return -1;
    }

    return 0;
}


int64_t
nitro_attest_verdict_expiry(const nitro_attest_verdict_t *v,
    int64_t reattest_ms)
{
    int64_t  deadline;

    if (reattest_ms <= 0
        || __builtin_add_overflow(v->time_ms, reattest_ms, &deadline))
    {
        return v->not_after_ms;
    }

    return deadline < v->not_after_ms ? deadline : v->not_after_ms;
}


void
nitro_attest_verdict_expire(nitro_attest_verdict_t *v, int64_t reattest_ms,
    int64_t now_ms)
{
    if (v->status == NITRO_ATTEST_STATUS_SUCCESS
        && nitro_attest_verdict_expiry(v, reattest_ms) <= now_ms)
    {
        v->status = NITRO_ATTEST_STATUS_FAILED;
        v->reason = NITRO_ATTEST_EXPIRED;
    }
}


int
nitro_attest_verdict_rollback(nitro_attest_verdict_t *v, const char *service,
    size_t len, int64_t from, int64_t to)
{
    if (len > NITRO_ATTEST_POLICY_NAME_MAX) {
        return -1;
    }

    /* marked once: a second mark (a re-check) replaces the versions only */
    if (!(v->flags & NITRO_ATTEST_F_ROLLBACK)) {
        if (na_verdict_put(v, &v->service, service, len) != 0) {
            return -1;
        }

        v->flags |= NITRO_ATTEST_F_ROLLBACK;
    }

    v->rollback_from = from;
    v->rollback_to = to;

    return 0;
}


void
nitro_attest_verdict_none(nitro_attest_verdict_t *v, int64_t now_ms)
{
    na_verdict_reset(v, now_ms);
}
