/*
 * test_audit.c: the event log's additions (na_audit.c, na_ocsf.c): the
 * evidence and the chain's keys put before an event's closing braces, the
 * links' hashes, checkpoints signed and checked, the OCSF shape.
 */

#include <unistd.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "unit.h"


/* an Ed25519 key as the token loader reads it, and its public half */
static nitro_attest_token_key_t *
audit_key(EVP_PKEY **pub)
{
    FILE                      *f;
    char                       path[256], err[256];
    nitro_attest_token_key_t  *key;

    unit_key_file("ED25519", NULL, path, sizeof(path));
    key = nitro_attest_token_key_load(path, err, sizeof(err));
    CHECK(key != NULL, "%s", err);

    f = fopen(path, "r");
    *pub = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    CHECK(*pub != NULL, "cannot read %s", path);

    if (f != NULL) {
        fclose(f);
    }

    unlink(path);

    return key;
}


static void
test_link(nitro_attest_verdict_t *v)
{
    char                   buf[NITRO_ATTEST_OCSF_MAX + 4096], hex[65];
    char                   expect[256];
    size_t                 len, n;
    json_t                *o;
    uint8_t                digest[SHA256_DIGEST_LENGTH];
    json_error_t           jerr;
    nitro_attest_chain_t   chain;
    const uint8_t          doc[] = { 0x84, 0x40, 0xa0 }, cert[] = { 0x30 };

    CHECK(nitro_attest_chain_init(&chain, "web\"1") != 0, "quote refused");
    CHECK(nitro_attest_chain_init(&chain, "") != 0, "empty refused");
    CHECK(nitro_attest_chain_init(&chain, "web-1:1:2-ab:http0") == 0, "id");

    len = nitro_attest_event_render(v, NULL, buf, sizeof(buf));
    len = nitro_attest_event_evidence(buf, len, sizeof(buf), 1, doc,
                                      sizeof(doc), cert, sizeof(cert));
    CHECK(len > 0 && strstr(buf, ",\"evidence\":{\"document\":\"hECg\","
                                 "\"certificate\":\"MA==\"}}") != NULL,
          "evidence last, standard base64: %s", buf);

    n = nitro_attest_chain_link(&chain, buf, len, sizeof(buf), 1);
    snprintf(expect, sizeof(expect), ",\"chain\":\"web-1:1:2-ab:http0\","
             "\"seq\":1,\"prev\":\"%064d\"}", 0);
    CHECK(n > len && strcmp(buf + len - 1, expect) == 0,
          "first link: %s", buf + len - 1);

    SHA256((uint8_t *) buf, n, digest);
    CHECK(memcmp(digest, chain.prev, sizeof(digest)) == 0 && chain.seq == 1
          && chain.unsealed == 1, "the line's hash is the next prev");

    /* OCSF: the keys land in unmapped, before its brace */
    len = nitro_attest_event_render_ocsf(v, NULL, "1.2.3", buf, sizeof(buf));
    o = json_loadb(buf, len, 0, &jerr);
    CHECK(o && json_integer_value(json_object_get(o, "class_uid")) == 3002
          && json_is_object(json_object_get(o, "unmapped")), "ocsf %s", buf);
    json_decref(o);

    n = nitro_attest_chain_link(&chain, buf, len, sizeof(buf), 2);
    *nitro_attest_hex(hex, digest, sizeof(digest)) = '\0';
    o = json_loadb(buf, n, 0, &jerr);
    CHECK(o && json_integer_value(json_object_get(json_object_get(o,
                                  "unmapped"), "seq")) == 2
          && strcmp(json_string_value(json_object_get(json_object_get(o,
                                      "unmapped"), "prev")), hex) == 0,
          "second link in unmapped: %s", buf);
    json_decref(o);

    /* too small: nothing changes */
    len = nitro_attest_event_render(v, NULL, buf, sizeof(buf));
    memcpy(digest, chain.prev, sizeof(digest));
    CHECK(nitro_attest_chain_link(&chain, buf, len, len + 10, 1) == 0
          && buf[len - 1] == '}' && chain.seq == 2
          && memcmp(digest, chain.prev, sizeof(digest)) == 0,
          "a link that does not fit");
}


static void
test_checkpoint(void)
{
    char                       buf[NITRO_ATTEST_CHECKPOINT_MAX], prev[65];
    char                       kid[NITRO_ATTEST_KID_LEN + 1];
    char                       sig[128], time[64];
    size_t                     len;
    json_t                    *o;
    EVP_PKEY                  *pub, *other;
    json_error_t               jerr;
    nitro_attest_chain_t       chain;
    nitro_attest_token_key_t  *key;

    key = audit_key(&pub);
    if (key == NULL || pub == NULL) {
        nitro_attest_token_key_free(key);
        EVP_PKEY_free(pub);
        return;
    }

    CHECK(nitro_attest_key_kid(pub, kid) == 0
          && strcmp(kid, nitro_attest_token_key_kid(key)) == 0,
          "the kid of the public key is the token key's");

    nitro_attest_chain_init(&chain, "n:1:2-3:http0");
    chain.seq = 4;
    chain.unsealed = 2;
    memset(chain.prev, 0xab, sizeof(chain.prev));
    *nitro_attest_hex(prev, chain.prev, sizeof(chain.prev)) = '\0';

    len = nitro_attest_chain_checkpoint(&chain, key, 1796608015123, buf,
                                        sizeof(buf));
    o = json_loadb(buf, len, JSON_PRESERVE_ORDER, &jerr);
    CHECK(o && strcmp(json_string_value(json_object_get(o, "event_type")),
                      NITRO_ATTEST_CHECKPOINT_TYPE) == 0
          && json_integer_value(json_object_get(o, "seq")) == 5
          && strcmp(json_string_value(json_object_get(o, "prev")), prev) == 0
          && strcmp(json_string_value(json_object_get(o, "key_id")), kid)
             == 0, "checkpoint: %s", buf);
    CHECK(chain.seq == 5 && chain.unsealed == 0, "a link that seals");

    snprintf(sig, sizeof(sig), "%s",
             o ? json_string_value(json_object_get(o, "sig")) : "");
    snprintf(time, sizeof(time), "%s",
             o ? json_string_value(json_object_get(o, "time")) : "");
    json_decref(o);

    CHECK(nitro_attest_checkpoint_verify(pub, "n:1:2-3:http0", 5, prev,
                                         time, sig) == 1, "verifies");
    CHECK(nitro_attest_checkpoint_verify(pub, "n:1:2-3:http0", 6, prev,
                                         time, sig) == 0, "another seq");
    CHECK(nitro_attest_checkpoint_verify(pub, "n:1:2-3:http0", 5, prev,
                                         "2026-01-01T00:00:00.000Z", sig)
          == 0, "another time");
    CHECK(nitro_attest_checkpoint_verify(pub, "n:1:2-3:http0", 5, prev,
                                         time, "a+b") == -1, "not base64url");

    other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    CHECK(nitro_attest_checkpoint_verify(other, "n:1:2-3:http0", 5, prev,
                                         time, sig) == 0, "another key");

    EVP_PKEY_free(other);
    EVP_PKEY_free(pub);
    nitro_attest_token_key_free(key);
}


void
unit_audit(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    nitro_attest_verify_document(cf, docs[0].data, docs[0].len, NULL,
                                 docs[0].timestamp + 5500, v);
    test_link(v);
    test_checkpoint();
}
