/*
 * test_memo.c: the verification memo (na_memo.c): keyed on the signed
 * bytes, failures remembered too, time judged anew at each use.
 */

#include "unit.h"


/*
 * The memo keys on the signed bytes.  A document seen before is
 * a hit whatever its unprotected header, with the verdict a full
 * verification gives; failures are remembered too; time is judged anew.
 */
static void
test_memo(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int                     i, round;
    char                   *cold, *warm;
    size_t                  len;
    uint8_t                *copy;
    uint64_t                hits, misses, h0, m0;
    nitro_attest_memo_t    *memo;
    nitro_attest_config_t   memoized;

    memo = nitro_attest_memo_new(4);
    CHECK(memo != NULL, "memo");
    CHECK(nitro_attest_memo_new(0) == NULL, "zero capacity");

    memoized = *cf;
    memoized.memo = memo;

    /* every real document through 4 slots, twice: misses, hits, eviction */
    for (round = 0; round < 2; round++) {
        for (i = 0; i < ndocs; i++) {
            nitro_attest_verify_document(cf, docs[i].data, docs[i].len, NULL,
                                         docs[i].timestamp, v);
            cold = nitro_attest_event_json(v);

            nitro_attest_verify_document(&memoized, docs[i].data,
                                         docs[i].len, NULL,
                                         docs[i].timestamp, v);
            nitro_attest_verify_document(&memoized, docs[i].data,
                                         docs[i].len, NULL,
                                         docs[i].timestamp, v);
            warm = nitro_attest_event_json(v);

            CHECK(cold && warm && strcmp(cold, warm) == 0,
                  "%s: memoized verdict differs\n%s\n%s", docs[i].name,
                  cold, warm);
            free(cold);
            free(warm);
        }
    }

    nitro_attest_memo_stats(memo, &hits, &misses);
    CHECK(hits == (uint64_t) 2 * ndocs && misses == (uint64_t) 2 * ndocs,
          "hits %llu misses %llu", (unsigned long long) hits,
          (unsigned long long) misses);

    /* the unprotected header {} becomes {4: h''}: same signed bytes */
    len = docs[0].len + 3;
    copy = malloc(len);
    CHECK(copy && docs[0].data[0] == 0x84 && docs[0].data[1] == 0x44
          && docs[0].data[6] == 0xa0, "layout of %s", docs[0].name);

    if (copy && docs[0].data[6] == 0xa0) {
        memcpy(copy, docs[0].data, 6);
        memcpy(copy + 6, "\xa1\x04\x40", 3);
        memcpy(copy + 9, docs[0].data + 7, docs[0].len - 7);
        len--;

        nitro_attest_memo_stats(memo, &h0, &m0);
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                                     docs[0].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s",
              nitro_attest_reason_name(v->reason));
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                                     docs[0].timestamp, v);
        nitro_attest_memo_stats(memo, &hits, &misses);
        CHECK(hits == h0 + 1 && misses == m0 + 1,
              "unprotected header: one entry (hits %llu misses %llu)",
              (unsigned long long) (hits - h0),
              (unsigned long long) (misses - m0));

        /* out of its window, from the memo: expired; inside it: good */
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                     docs[0].timestamp + 400LL * 86400 * 1000, v);
        CHECK(v->reason == NITRO_ATTEST_CERTIFICATE_EXPIRED, "%s",
              nitro_attest_reason_name(v->reason));
        CHECK(!(v->flags & NITRO_ATTEST_F_MEASURED), "expired: unmeasured");
        nitro_attest_verify_document(&memoized, copy, len, NULL,
                                     docs[0].timestamp - 1, v);
        CHECK(v->reason == NITRO_ATTEST_OK, "%s",
              nitro_attest_reason_name(v->reason));

        /* a forged signature is remembered as one */
        copy[len - 1] ^= 1;
        for (round = 0; round < 2; round++) {
            nitro_attest_verify_document(&memoized, copy, len, NULL,
                                         docs[0].timestamp, v);
            CHECK(v->reason == NITRO_ATTEST_BAD_SIGNATURE, "%s",
                  nitro_attest_reason_name(v->reason));
        }

        nitro_attest_memo_stats(memo, &h0, &m0);
        CHECK(h0 == hits + 3 && m0 == misses + 1, "forgery: one entry");
    }

    free(copy);
    nitro_attest_memo_free(memo);
}


void
unit_memo(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_memo(cf, v);
}
