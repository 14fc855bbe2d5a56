/*
 * unit.h: what the unit tests of the core share: the check macro and its
 * counters, the real documents of the fixtures (loaded once by main.c),
 * and each unit's entry, run by main.c in turn.
 */

#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na_internal.h"
#include "docs.h"


extern int  unit_failures;
extern int  unit_checks;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        unit_checks++;                                                       \
        if (!(cond)) {                                                       \
            unit_failures++;                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)


/* 48 zero bytes in hex: a PCR value */
#define ZERO96                                                               \
    "000000000000000000000000000000000000000000000000"                      \
    "000000000000000000000000000000000000000000000000"

extern doc_t        docs[64];        /* real: enclave documents */
extern int          ndocs;
extern doc_t        tpm_docs[8];     /* real-tpm: NitroTPM documents */
extern int          ntpm_docs;
extern const char  *fixtures;

/*
 * A fresh key written as PEM to a temporary file named in path: type
 * "EC" with curve, "RSA" (curve NULL: 2048 bits) or "ED25519" (curve
 * NULL).  Returns path.
 */
char *unit_key_file(const char *type, const char *curve, char *path,
    size_t size);


/*
 * Each unit's tests.  cf verifies with the built-in root and allows debug
 * enclaves; v is room for a verdict, its contents the unit's own.
 */
typedef void (*unit_pt)(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);

void unit_root(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_document(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_chain(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_verify(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_verdict(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_event(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_chain_cache(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_memo(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_names(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_text(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_policy(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_nitrotpm(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_token(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_libctx(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);
void unit_audit(nitro_attest_config_t *cf, nitro_attest_verdict_t *v);


/* test_policy.c: policies for the tests that judge documents */

/* a policy from text, or NULL after a failed check */
nitro_attest_policy_t *policy_of(const char *json);

/* one allow set of kind pinning PCR allow_pcr to its value in v, and,
 * when deny_kind is not NULL, one deny set likewise */
nitro_attest_policy_t *policy_for(const nitro_attest_verdict_t *v,
    const char *allow_kind, unsigned allow_pcr, const char *deny_kind,
    unsigned deny_pcr);

#endif /* UNIT_H */
