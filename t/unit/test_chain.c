/*
 * test_chain.c: signatures and the path (na_chain.c) are computed, never
 * taken from the input as in a fuzz build.
 */

#include "unit.h"


/*
 * The library computes its signatures: it is not a fuzz build
 * (NITRO_ATTEST_FUZZING, which marks its objects with this symbol and
 * takes any signature whose last byte is not zero).
 */
extern const char  nitro_attest_fuzzing_build[] __attribute__((weak));

static void
test_real_crypto(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    uint8_t  *copy, *last;

    CHECK(nitro_attest_fuzzing_build == NULL,
          "linked with a fuzz build of the core: %s",
          nitro_attest_fuzzing_build);

    copy = malloc(docs[0].len);
    memcpy(copy, docs[0].data, docs[0].len);
    last = &copy[docs[0].len - 1];       /* the signature's last byte */
    *last = (*last == 0x5a) ? 0xa5 : 0x5a;

    nitro_attest_verify_document(cf, copy, docs[0].len, NULL,
                                 docs[0].timestamp, v);
    CHECK(v->reason == NITRO_ATTEST_BAD_SIGNATURE,
          "%s: another signature: %s", docs[0].name,
          nitro_attest_reason_name(v->reason));
    free(copy);
}


void
unit_chain(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_real_crypto(cf, v);
}
