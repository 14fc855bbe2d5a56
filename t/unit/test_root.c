/*
 * test_root.c: the pinned root, built in or from a file (na_root.c).
 */

#include "unit.h"


void
unit_root(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    char                  err[256], path[4096];
    nitro_attest_root_t  *file_root;

    (void) v;

    snprintf(path, sizeof(path), "%s/aws_nitro_root_g1.pem", fixtures);
    file_root = nitro_attest_root_load(path, err, sizeof(err));
    CHECK(file_root != NULL, "root file: %s", err);
    CHECK(cf->root != NULL && nitro_attest_root_is_aws(cf->root)
          && file_root != NULL && nitro_attest_root_is_aws(file_root),
          "the built-in root and its file are AWS's");
    nitro_attest_root_free(file_root);

    CHECK(nitro_attest_root_load("/nonexistent.pem", err, sizeof(err))
          == NULL && strstr(err, "/nonexistent.pem"), "names the file");
}
