/*
 * fuzz_common.h: what every fuzz target shares: the pinned root (the mock
 * PKI's, so that documents it signed reach the chain, time, policy and
 * binding stages), the verification time taken from the input itself, and
 * the invariants every verdict must keep whatever the input.
 *
 * Root: $NITRO_ATTEST_FUZZ_ROOT, else the mock root generated at build
 * time (FUZZ_MOCK_ROOT, a path baked in by the Makefile), else AWS's.
 */

#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na_internal.h"


#ifndef FUZZ_MOCK_ROOT
#define FUZZ_MOCK_ROOT  ""
#endif

/* the mock certificates' PCR0: fuzz/make-corpus.py uses the same value */
#define FUZZ_POLICY                                                          \
    "{\"allow\": [{\"name\": \"mock-v1\", \"pcrs\": {\"0\": \""              \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"       \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}, \"expect_every\": \"30s\"},"       \
    "{\"name\": \"any-pcr4\", \"pcrs\": {\"4\": \""                          \
    "0000000000000000000000000000000000000000000000000000000000000000"       \
    "00000000000000000000000000000000\"}}],"                                 \
    "\"deny\": [{\"name\": \"mock-v0\", \"pcrs\": {\"0\": \""                \
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"       \
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}}]}"

/* when the input carries no readable timestamp */
#define FUZZ_FALLBACK_NOW_MS  INT64_C(1700000000000)


static nitro_attest_root_t    *fuzz_root;
static nitro_attest_policy_t  *fuzz_policy;


static inline void
fuzz_die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, err);
    abort();
}


static inline void
fuzz_setup(void)
{
    char         err[512];
    const char  *path;

    path = getenv("NITRO_ATTEST_FUZZ_ROOT");
    if (path == NULL || *path == '\0') {
        path = FUZZ_MOCK_ROOT;
    }

    fuzz_root = *path ? nitro_attest_root_load(path, err, sizeof(err))
                      : nitro_attest_root_default(err, sizeof(err));
    if (fuzz_root == NULL) {
        fuzz_die("root", err);
    }

    fuzz_policy = nitro_attest_policy_parse(FUZZ_POLICY,
                                            sizeof(FUZZ_POLICY) - 1,
                                            "built-in", err, sizeof(err));
    if (fuzz_policy == NULL) {
        fuzz_die("policy", err);
    }
}


/*
 * One second after the document's own timestamp ts, like `--at document`,
 * when peek read one (peeked).
 */
static inline int64_t
fuzz_now_after(int peeked, int64_t ts)
{
    return peeked && ts < INT64_MAX - 1000 ? ts + 1000 : FUZZ_FALLBACK_NOW_MS;
}


static inline int64_t
fuzz_now(const uint8_t *doc, size_t len)
{
    int      peeked;
    int64_t  ts;

    ts = 0;
    peeked = nitro_attest_document_peek(doc, len, &ts, NULL, 0) == 0;

    return fuzz_now_after(peeked, ts);
}


/*
 * What a caller relies on after any verification: a verdict that passes
 * its own consistency check, a status that agrees with the reason,
 * measurements only when the signature and chain held, and an event.
 */
static inline void
fuzz_check_verdict(const nitro_attest_verdict_t *v,
    nitro_attest_reason_e reason)
{
    char  *json;

    if (nitro_attest_verdict_check(v, nitro_attest_verdict_size(v)) != 0) {
        fuzz_die("verdict", "fails nitro_attest_verdict_check");
    }

    if (v->reason != reason
        || (reason == NITRO_ATTEST_OK)
           != (v->status == NITRO_ATTEST_STATUS_SUCCESS))
    {
        fuzz_die("verdict", "status and reason disagree");
    }

    if ((v->flags & NITRO_ATTEST_F_MEASURED)
        && reason != NITRO_ATTEST_OK && reason < NITRO_ATTEST_STALE)
    {
        fuzz_die("verdict", "measured although signature or chain failed");
    }

    if (reason == NITRO_ATTEST_OK && !(v->flags & NITRO_ATTEST_F_MEASURED)) {
        fuzz_die("verdict", "success without measurements");
    }

    json = nitro_attest_event_json(v);
    if (json == NULL) {
        fuzz_die("event", "nitro_attest_event_json returned NULL");
    }

    free(json);
}

/*
 * Two verifications of the one input at the one time, through different
 * caches, reach the same verdict: the same meaningful bytes, but for what
 * the caller fills in (cache, verify_us), cleared in both.
 */
static inline void
fuzz_same_verdict(const char *what, nitro_attest_verdict_t *want,
    nitro_attest_verdict_t *got)
{
    want->cache = got->cache = NITRO_ATTEST_CACHE_OFF;
    want->verify_us = got->verify_us = 0;

    if (want->size != got->size || memcmp(want, got, want->size) != 0) {
        fprintf(stderr, "fuzz: %s: %s (%u bytes), without caches %s "
                "(%u bytes)\n", what,
                nitro_attest_reason_name(got->reason), got->size,
                nitro_attest_reason_name(want->reason), want->size);
        fuzz_die(what, "changes the verdict");
    }
}

#endif /* FUZZ_COMMON_H */
