/*
 * main.c: the unit tests of the verification core (build/test_core), for
 * what the CLI tests cannot reach.  Loads the real documents of the
 * fixtures once, then runs each unit of t/unit/test_*.c in turn.
 *
 *   test_core FIXTURES [UNIT...]        every unit, or those named
 *   test_core FIXTURES --context WHICH  0 when the core parses
 *                                       certificates in WHICH context
 */

#include <stdlib.h>
#include <string.h>

#include "unit.h"


int          unit_failures;
int          unit_checks;

doc_t        docs[64];
int          ndocs;
doc_t        tpm_docs[8];
int          ntpm_docs;
const char  *fixtures;


/* in the order they run: parsing first, what builds on it after */
static const struct {
    const char                *name;
    unit_pt                    run;
} units[] = {
    { "root",        unit_root },
    { "verify",      unit_verify },
    { "document",    unit_document },
    { "chain",       unit_chain },
    { "verdict",     unit_verdict },
    { "event",       unit_event },
    { "chain_cache", unit_chain_cache },
    { "memo",        unit_memo },
    { "names",       unit_names },
    { "text",        unit_text },
    { "policy",      unit_policy },
    { "nitrotpm",    unit_nitrotpm },
    { "token",       unit_token },
    { "libctx",      unit_libctx },
    { "audit",       unit_audit },
};


static int unit_wanted(const char *name, int argc, char **argv);


int
main(int argc, char **argv)
{
    int                      before;
    char                     err[256], path[4096];
    size_t                   i;
    const char              *which, *why;
    nitro_attest_root_t     *root;
    nitro_attest_config_t    cf;
    nitro_attest_verdict_t  *v;

    /* t/cli/test_openssl_context.py: the context this configuration gets */
    if (argc == 4 && strcmp(argv[2], "--context") == 0) {
        which = nitro_attest_openssl_context(&why);
        printf("context: %s (%s)\n", which, why ? why : "-");
        return strcmp(which, argv[3]) == 0 ? 0 : 1;
    }

    if (argc < 2) {
        fprintf(stderr, "usage: test_core FIXTURES_DIR [UNIT...] "
                "[--context WHICH]\n");
        return 2;
    }

    fixtures = argv[1];

    snprintf(path, sizeof(path), "%s/real", fixtures);
    ndocs = docs_load(path, docs, 64);

    if (ndocs != 19) {
        fprintf(stderr, "expected 19 real documents in %s, found %d\n", path,
                ndocs);
        return 2;
    }

    snprintf(path, sizeof(path), "%s/real-tpm", fixtures);
    ntpm_docs = docs_load(path, tpm_docs, 8);

    root = nitro_attest_root_default(err, sizeof(err));
    CHECK(root != NULL, "built-in root: %s", err);

    v = malloc(sizeof(*v));
    nitro_attest_config_init(&cf);
    cf.root = root;
    cf.allow_debug = 1;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (!unit_wanted(units[i].name, argc, argv)) {
            continue;
        }

        before = unit_checks;
        units[i].run(&cf, v);
        printf("  %-12s %d checks\n", units[i].name, unit_checks - before);
    }

    free(v);
    nitro_attest_root_free(root);

    printf("test_core: %d checks, %d failures\n", unit_checks, unit_failures);
    return unit_failures ? 1 : 0;
}


/* every unit when none is named */
static int
unit_wanted(const char *name, int argc, char **argv)
{
    int  i;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return 1;
        }
    }

    return argc == 2;
}


