/*
 * test_token.c: signed tokens (na_token.c): the claims' times, the JWS
 * shape, the keys refused.
 */

#include <unistd.h>
#include <jansson.h>
#include <openssl/pem.h>

#include "unit.h"


/* a fresh key of the given kind written as PEM to a temporary file */
char *
unit_key_file(const char *type, const char *curve, char *path, size_t size)
{
    FILE      *f;
    EVP_PKEY  *pkey;

    pkey = curve ? EVP_PKEY_Q_keygen(NULL, NULL, type, curve)
                 : EVP_PKEY_Q_keygen(NULL, NULL, type, (size_t) 2048);
    snprintf(path, size, "/tmp/test_core_token_%s_%d.pem",
             curve ? curve : type, (int) getpid());
    f = fopen(path, "w");

    if (pkey == NULL || f == NULL
        || PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1)
    {
        CHECK(0, "cannot write %s", path);
    }

    if (f != NULL) {
        fclose(f);
    }

    EVP_PKEY_free(pkey);

    return path;
}


/* The claims' times, the JWS shape, the keys nginx refuses */
static void
test_token(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    char                         err[256], path[256], *jws, *json, *p;
    json_t                      *o;
    size_t                       i;
    const char                  *names[] = { "iss", "sub", "iat", "exp",
                                             "jti", "cnf", "eat_profile",
                                             "submods", "nitro" };
    json_error_t                 jerr;
    const char                  *key_name;
    nitro_attest_token_key_t    *keys[3];
    nitro_attest_token_claims_t  claims;

    CHECK(nitro_attest_token_claims_init(&claims, "i", 10999, 5000, 60000)
          == 0 && claims.iat == 10 && claims.exp == 15, "iat + lifetime");
    CHECK(nitro_attest_token_claims_init(&claims, "i", 10999, 5000, 12999)
          == 0 && claims.exp == 12, "the verdict's expiry first");
    CHECK(nitro_attest_token_claims_init(&claims, "i", -1, 1000, INT64_MAX)
          == 0 && claims.iat == -1 && claims.exp == 0, "floor before 1970");

    keys[0] = nitro_attest_token_key_load(
        unit_key_file("EC", "P-256", path, sizeof(path)), err, sizeof(err));
    CHECK(keys[0] != NULL, "P-256: %s", err);
    remove(path);
    keys[1] = nitro_attest_token_key_load(
        unit_key_file("ED25519", NULL, path, sizeof(path)), err,
        sizeof(err));
    remove(path);
    keys[2] = keys[0];

    CHECK(nitro_attest_token_key_load(
              unit_key_file("RSA", NULL, path, sizeof(path)), err,
              sizeof(err)) == NULL
          && strstr(err, path) && strstr(err, "RSA"), "RSA refused: %s", err);
    remove(path);
    CHECK(nitro_attest_token_key_load("/nonexistent.pem", err, sizeof(err))
          == NULL && strstr(err, "/nonexistent.pem"), "names the file");

    if (keys[0] == NULL || keys[1] == NULL) {
        nitro_attest_token_key_free(keys[0]);
        nitro_attest_token_key_free(keys[1]);
        return;
    }

    CHECK(strcmp(nitro_attest_token_key_alg(keys[0]), "ES256") == 0
          && strcmp(nitro_attest_token_key_alg(keys[1]), "EdDSA") == 0
          && strlen(nitro_attest_token_key_kid(keys[0])) == 43, "alg, kid");

    json = nitro_attest_token_jwks((const nitro_attest_token_key_t *const *)
                                   keys, 3);
    o = json ? json_loads(json, 0, &jerr) : NULL;
    CHECK(o && json_array_size(json_object_get(o, "keys")) == 2,
          "each key once: %s", json ? json : "NULL");
    json_decref(o);
    free(json);

    /* a real document that verified, as if from a client certificate */
    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 1000, v);
    CHECK(v->status == NITRO_ATTEST_STATUS_SUCCESS, "%s", docs[0].name);
    nitro_attest_token_claims_init(&claims, "nitro-attest", v->time_ms,
                                   NITRO_ATTEST_TOKEN_LIFETIME_MS,
                                   nitro_attest_verdict_expiry(v, 0));

    CHECK(nitro_attest_token_sign(keys[0], v, &claims) == NULL,
          "no certificate: nothing to bind a token to");

    v->flags |= NITRO_ATTEST_F_CERT;

    for (i = 0; i < 2; i++) {
        key_name = nitro_attest_token_key_alg(keys[i]);
        jws = nitro_attest_token_sign(keys[i], v, &claims);
        CHECK(jws != NULL, "%s: signed", key_name);

        if (jws == NULL) {
            continue;
        }

        p = strchr(jws, '.');
        CHECK(p && strchr(p + 1, '.') && !strchr(strchr(p + 1, '.') + 1, '.')
              && strcspn(jws, "+/=") == strlen(jws), "%s: JWS compact, "
              "base64url: %s", key_name, jws);
        free(jws);
    }

    json = nitro_attest_token_claims_json(v, &claims);
    o = json ? json_loads(json, JSON_PRESERVE_ORDER, &jerr) : NULL;
    CHECK(o && json_object_size(o) == sizeof(names) / sizeof(names[0]),
          "claims: %s", json ? json : "NULL");

    for (i = 0; o && i < sizeof(names) / sizeof(names[0]); i++) {
        CHECK(json_object_get(o, names[i]) != NULL, "claim %s", names[i]);
    }

    CHECK(o && json_integer_value(json_object_get(o, "exp"))
               == claims.exp, "exp");
    json_decref(o);
    free(json);

    v->status = NITRO_ATTEST_STATUS_FAILED;
    v->reason = NITRO_ATTEST_STALE;
    CHECK(nitro_attest_token_sign(keys[0], v, &claims) == NULL,
          "a failed verdict gets no token");

    nitro_attest_token_key_free(keys[0]);
    nitro_attest_token_key_free(keys[1]);
}


void
unit_token(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_token(cf, v);
}
