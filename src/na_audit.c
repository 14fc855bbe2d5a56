/*
 * na_audit.c: what makes an event log re-verifiable and tamper-evident:
 * the evidence a line carries (the document and the certificate it
 * judged), the hash chain linking a writer's lines, and the signed
 * checkpoints sealing it, with their check.  Lines are extended in the
 * caller's memory, with no allocation: they are written from a server's
 * handshakes.
 */

#include "na_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>


#define NA_TAIL_MAX  4
#define NA_SIG_MAX   256


static int na_audit_open(char *buf, size_t len, size_t size, size_t tail,
    na_out_t *o, char *saved);
static size_t na_audit_insert(char *buf, size_t len, size_t size,
    size_t tail, na_out_t *o, const char *saved);
static int na_checkpoint_text(char *buf, size_t size, const char *chain,
    uint64_t seq, const char *prev, const char *time);


size_t
nitro_attest_event_evidence(char *buf, size_t len, size_t size, size_t tail,
    const uint8_t *doc, size_t doc_len, const uint8_t *cert, size_t cert_len)
{
    na_out_t  o;
    char      saved[NA_TAIL_MAX];

    if (na_audit_open(buf, len, size, tail, &o, saved) != 0) {
        return 0;
    }

    na_out_key(&o, "evidence");
    na_out_raw(&o, "{", 1);
    o.first = 1;

    na_out_key(&o, "document");
    if (doc != NULL) {
        na_out_base64(&o, doc, doc_len);
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "certificate");
    if (cert != NULL) {
        na_out_base64(&o, cert, cert_len);
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_raw(&o, "}", 1);

    return na_audit_insert(buf, len, size, tail, &o, saved);
}


/*
 * Keys to be put into the event of len bytes at buf before its last tail
 * bytes (its closing braces, saved): o writes from there on.  0, or -1
 * when there is no such tail.
 */
static int
na_audit_open(char *buf, size_t len, size_t size, size_t tail, na_out_t *o,
    char *saved)
{
    if (tail > NA_TAIL_MAX || tail > len) {
        return -1;
    }

    memcpy(saved, buf + len - tail, tail);

    o->buf = buf;
    o->size = size;
    o->len = len - tail;
    o->first = 0;

    return 0;
}


/*
 * The keys written at o (which started len - tail bytes in) close with
 * the tail saved from the end of the event: the new length, or 0 with
 * the event restored when they did not fit.
 */
static size_t
na_audit_insert(char *buf, size_t len, size_t size, size_t tail,
    na_out_t *o, const char *saved)
{
    na_out_raw(o, saved, tail);

    if (o->len >= size) {
        memcpy(buf + len - tail, saved, tail);
        return 0;
    }

    buf[o->len] = '\0';

    return o->len;
}


int
nitro_attest_chain_init(nitro_attest_chain_t *chain, const char *id)
{
    size_t  i, len;

    len = strlen(id);

    if (len == 0 || len > NITRO_ATTEST_CHAIN_ID_MAX) {
        return -1;
    }

    /* nothing JSON would escape: the id signed is the id written */

    for (i = 0; i < len; i++) {
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z')
              || (id[i] >= '0' && id[i] <= '9') || strchr(".:_/-", id[i])))
        {
            return -1;
        }
    }

    memset(chain, 0, sizeof(*chain));
    memcpy(chain->id, id, len + 1);

    return 0;
}


size_t
nitro_attest_chain_link(nitro_attest_chain_t *chain, char *buf, size_t len,
    size_t size, size_t tail)
{
    na_out_t  o;
    char      saved[NA_TAIL_MAX];

    if (na_audit_open(buf, len, size, tail, &o, saved) != 0) {
        return 0;
    }

    na_out_key(&o, "chain");
    na_out_text(&o, (const uint8_t *) chain->id, strlen(chain->id));
    na_out_key(&o, "seq");
    na_out_int(&o, (int64_t) chain->seq + 1);
    na_out_key(&o, "prev");
    na_out_hex(&o, chain->prev, sizeof(chain->prev));

    len = na_audit_insert(buf, len, size, tail, &o, saved);
    if (len == 0) {
        return 0;
    }

    SHA256((const uint8_t *) buf, len, chain->prev);
    chain->seq++;
    chain->unsealed++;

    return len;
}


size_t
nitro_attest_chain_checkpoint(nitro_attest_chain_t *chain,
    const nitro_attest_token_key_t *key, int64_t now_ms, char *buf,
    size_t size)
{
    int       n;
    char      time[32], prev[65], text[NITRO_ATTEST_CHECKPOINT_MAX];
    char      sig64[na_base64url_size(NA_SIG_MAX)];
    size_t    siglen;
    na_out_t  o;
    uint8_t   sig[NA_SIG_MAX];

    if (nitro_attest_format_time(time, sizeof(time), now_ms) < 0) {
        return 0;
    }

    *nitro_attest_hex(prev, chain->prev, sizeof(chain->prev)) = '\0';

    n = na_checkpoint_text(text, sizeof(text), chain->id, chain->seq + 1,
                           prev, time);

    if (n < 0
        || na_token_signature(key, (const uint8_t *) text, (size_t) n, sig,
                              &siglen)
           != 0)
    {
        return 0;
    }

    na_base64url(sig64, sig, siglen);

    o.buf = buf;
    o.size = size;
    o.len = 0;
    o.first = 1;

    na_out_raw(&o, "{", 1);
    na_out_key(&o, "event_type");
    na_out_raw(&o, "\"" NITRO_ATTEST_CHECKPOINT_TYPE "\"",
               sizeof(NITRO_ATTEST_CHECKPOINT_TYPE) + 1);
    na_out_key(&o, "time");
    na_out_text(&o, (const uint8_t *) time, strlen(time));
    na_out_key(&o, "chain");
    na_out_text(&o, (const uint8_t *) chain->id, strlen(chain->id));
    na_out_key(&o, "seq");
    na_out_int(&o, (int64_t) chain->seq + 1);
    na_out_key(&o, "prev");
    na_out_text(&o, (const uint8_t *) prev, 64);
    na_out_key(&o, "key_id");
    na_out_text(&o, (const uint8_t *) nitro_attest_token_key_kid(key),
                NITRO_ATTEST_KID_LEN);
    na_out_key(&o, "sig");
    na_out_text(&o, (const uint8_t *) sig64, strlen(sig64));
    na_out_raw(&o, "}", 1);

    if (o.len >= size) {
        return 0;
    }

    buf[o.len] = '\0';

    SHA256((const uint8_t *) buf, o.len, chain->prev);
    chain->seq++;
    chain->unsealed = 0;

    return o.len;
}


int
nitro_attest_checkpoint_verify(EVP_PKEY *pub, const char *chain,
    uint64_t seq, const char *prev, const char *time, const char *sig)
{
    int          n, rc;
    char         text[NITRO_ATTEST_CHECKPOINT_MAX];
    size_t       len;
    uint8_t      raw[2 * NA_SIG_MAX];
    EVP_MD_CTX  *ctx;

    n = na_checkpoint_text(text, sizeof(text), chain, seq, prev, time);
    len = strlen(sig);

    /* an Ed25519 signature is 64 bytes: 86 characters of base64url */
    if (n < 0 || len == 0 || len > 2 * NA_SIG_MAX
        || strspn(sig, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789-_")
           != len)
    {
        return -1;
    }

    memcpy(raw, sig, len);

    switch (na_base64_decode(raw, len, &len)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return -1;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1
         && EVP_DigestVerify(ctx, raw, len, (const uint8_t *) text,
                             (size_t) n)
            == 1;

    EVP_MD_CTX_free(ctx);

    return rc;
}


/* "nitro-attest checkpoint\n<chain>\n<seq>\n<prev>\n<time>": its length */
static int
na_checkpoint_text(char *buf, size_t size, const char *chain, uint64_t seq,
    const char *prev, const char *time)
{
    int  n;

    n = snprintf(buf, size, "nitro-attest checkpoint\n%s\n%llu\n%s\n%s",
                 chain, (unsigned long long) seq, prev, time);

    return (n < 0 || (size_t) n >= size) ? -1 : n;
}
