/*
 * na_token.c: signed attestation tokens for upstreams.  Owns the signing
 * keys (read from PEM, described as public JWKs named by their RFC 7638
 * thumbprint), the JWT claims of a verdict that held, their JWS compact
 * serialization, and the raw r || s form of ECDSA signatures that JWS and
 * COSE use.  JSON goes through jansson, signatures and base64 through
 * OpenSSL.  It trusts the verdict it is given: a checked
 * one, from the core or read back with nitro_attest_verdict_check().
 */

#include "na_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>


#define NA_KID_LEN      NITRO_ATTEST_KID_LEN
#define NA_SIG_MAX      256     /* a DER ECDSA P-384 or an Ed25519 one */


struct nitro_attest_token_key_s {
    EVP_PKEY                  *pkey;
    const EVP_MD              *md;          /* NULL: EdDSA signs the data */
    const char                *alg;
    size_t                     half;        /* bytes of r and of s; 0 EdDSA */
    json_t                    *jwk;         /* public, with kid, alg, use */
    char                      *header;      /* base64url protected header */
    size_t                     header_len;
    char                       kid[NA_KID_LEN + 1];
};


static int na_no_passphrase(char *buf, int size, int rwflag, void *u);
static int na_token_key_describe(nitro_attest_token_key_t *key, int nid);
static json_t *na_token_public_jwk(EVP_PKEY *pkey, int nid);
static int na_token_thumbprint(json_t *jwk, char *kid);
static json_t *na_token_claims(const nitro_attest_verdict_t *v,
    const nitro_attest_token_claims_t *claims);
static json_t *na_token_cnf(const nitro_attest_verdict_t *v);
static json_t *na_token_submods(const nitro_attest_verdict_t *v);
static json_t *na_token_nitro(const nitro_attest_verdict_t *v);
static json_t *na_token_pcrs(const nitro_attest_verdict_t *v);
static json_t *na_token_policy(const nitro_attest_verdict_t *v);
static json_t *na_json_built(json_t *o, int rc);
static int64_t na_seconds(int64_t ms);


nitro_attest_token_key_t *
nitro_attest_token_key_load(const char *path, char *err, size_t errlen)
{
    int                        nid;
    FILE                      *f;
    char                       group[64];
    EVP_PKEY                  *pkey;
    nitro_attest_token_key_t  *key;

    f = fopen(path, "r");
    if (f == NULL) {
        na_fail(err, errlen, "cannot open token key \"%s\": %s", path,
                strerror(errno));
        return NULL;
    }

    /* never a prompt on the terminal nginx or the CLI was started from */
    pkey = PEM_read_PrivateKey(f, NULL, na_no_passphrase, NULL);
    fclose(f);
    ERR_clear_error();

    if (pkey == NULL) {
        na_fail(err, errlen, "no PEM private key in \"%s\" (a key with a "
                "passphrase cannot be read)", path);
        return NULL;
    }

    key = calloc(1, sizeof(*key));
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        na_fail(err, errlen, "out of memory");
        return NULL;
    }

    key->pkey = pkey;
    nid = EVP_PKEY_get_base_id(pkey);

    if (nid == EVP_PKEY_ED25519) {
        key->alg = "EdDSA";

    } else if (nid == EVP_PKEY_EC) {
        nid = NID_undef;

        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1) {
            nid = OBJ_sn2nid(group);
        }

        if (nid == NID_X9_62_prime256v1) {
            key->alg = "ES256";
            key->md = EVP_sha256();
            key->half = 32;

        } else if (nid == NID_secp384r1) {
            key->alg = "ES384";
            key->md = EVP_sha384();
            key->half = 48;

        } else {
            na_fail(err, errlen, "token key \"%s\": unsupported EC curve "
                    "(P-256 or P-384 are)", path);
            nitro_attest_token_key_free(key);
            return NULL;
        }

    } else {
        na_fail(err, errlen, "token key \"%s\": unsupported key type %s "
                "(EC P-256, EC P-384 or Ed25519 are)", path,
                EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey)
                                              : "?");
        nitro_attest_token_key_free(key);
        return NULL;
    }

    if (na_token_key_describe(key, nid) != 0) {
        na_fail(err, errlen, "token key \"%s\": cannot describe its public "
                "key", path);
        ERR_clear_error();
        nitro_attest_token_key_free(key);
        return NULL;
    }

    return key;
}


void
nitro_attest_token_key_free(nitro_attest_token_key_t *key)
{
    if (key == NULL) {
        return;
    }

    EVP_PKEY_free(key->pkey);
    json_decref(key->jwk);
    free(key->header);
    free(key);
}


const char *
nitro_attest_token_key_alg(const nitro_attest_token_key_t *key)
{
    return key->alg;
}


const char *
nitro_attest_token_key_kid(const nitro_attest_token_key_t *key)
{
    return key->kid;
}


static int
na_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


/*
 * The kid is the thumbprint of the required members only, sorted, without
 * whitespace (RFC 7638 3.2); the published JWK adds kid, alg and use.
 * The protected header is the same for every token of the key: made once.
 */
static int
na_token_key_describe(nitro_attest_token_key_t *key, int nid)
{
    int       rc;
    char     *text;
    size_t    len;
    json_t   *header;

    key->jwk = na_token_public_jwk(key->pkey, nid);
    if (key->jwk == NULL || na_token_thumbprint(key->jwk, key->kid) != 0) {
        return -1;
    }

    rc = json_object_set_new(key->jwk, "kid", json_string(key->kid));
    rc |= json_object_set_new(key->jwk, "alg", json_string(key->alg));
    rc |= json_object_set_new(key->jwk, "use", json_string("sig"));

    header = json_object();
    rc |= json_object_set_new(header, "alg", json_string(key->alg));
    rc |= json_object_set_new(header, "kid", json_string(key->kid));
    rc |= json_object_set_new(header, "typ", json_string("JWT"));

    text = rc == 0 ? json_dumps(header, JSON_COMPACT) : NULL;
    json_decref(header);

    if (text == NULL) {
        return -1;
    }

    len = strlen(text);
    key->header = malloc(na_base64url_size(len));

    if (key->header != NULL) {
        key->header_len = na_base64url(key->header, (uint8_t *) text, len);
    }

    free(text);

    return key->header != NULL && key->header_len > 0 ? 0 : -1;
}


/* the kid of any public key of a kind tokens are signed with */
int
nitro_attest_key_kid(EVP_PKEY *pkey, char *kid)
{
    int      rc, nid;
    char     group[64];
    json_t  *jwk;

    nid = EVP_PKEY_get_base_id(pkey);

    if (nid == EVP_PKEY_EC) {
        nid = EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1
              ? OBJ_sn2nid(group) : NID_undef;

        if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1) {
            return -1;
        }

    } else if (nid != EVP_PKEY_ED25519) {
        return -1;
    }

    jwk = na_token_public_jwk(pkey, nid);
    if (jwk == NULL) {
        return -1;
    }

    rc = na_token_thumbprint(jwk, kid);
    json_decref(jwk);

    return rc;
}


/*
 * The RFC 7638 SHA-256 thumbprint of a public JWK holding its required
 * members only: sorted, without whitespace, base64url into kid
 * (NITRO_ATTEST_KID_LEN + 1 bytes).
 */
static int
na_token_thumbprint(json_t *jwk, char *kid)
{
    char     *text;
    char      b64[na_base64url_size(SHA256_DIGEST_LENGTH)];
    uint8_t   digest[SHA256_DIGEST_LENGTH];

    text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        return -1;
    }

    SHA256((const uint8_t *) text, strlen(text), digest);
    free(text);

    /* the encoder writes its padding before it is cut: not into kid */

    if (na_base64url(b64, digest, sizeof(digest)) != NA_KID_LEN) {
        return -1;
    }

    memcpy(kid, b64, NA_KID_LEN + 1);

    return 0;
}


/* {"kty": "EC", "crv", "x", "y"} or {"kty": "OKP", "crv": "Ed25519", "x"} */
static json_t *
na_token_public_jwk(EVP_PKEY *pkey, int nid)
{
    int       rc;
    size_t    half, len;
    json_t   *jwk;
    BIGNUM   *x, *y;
    uint8_t   buf[2 * 48];

    jwk = json_object();
    if (jwk == NULL) {
        return NULL;
    }

    if (nid == EVP_PKEY_ED25519) {
        len = sizeof(buf);

        if (EVP_PKEY_get_raw_public_key(pkey, buf, &len) != 1) {
            json_decref(jwk);
            return NULL;
        }

        rc = json_object_set_new(jwk, "kty", json_string("OKP"));
        rc |= json_object_set_new(jwk, "crv", json_string("Ed25519"));
        rc |= json_object_set_new(jwk, "x", na_json_base64url(buf, len));

        return na_json_built(jwk, rc);
    }

    /* each coordinate the full size of the field (RFC 7518 6.2.1.2) */

    half = nid == NID_secp384r1 ? 48 : 32;
    x = NULL;
    y = NULL;

    rc = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1
         && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1
         && BN_bn2binpad(x, buf, (int) half) == (int) half
         && BN_bn2binpad(y, buf + half, (int) half) == (int) half
         ? 0 : -1;

    BN_free(x);
    BN_free(y);

    if (rc == 0) {
        rc = json_object_set_new(jwk, "kty", json_string("EC"));
        rc |= json_object_set_new(jwk, "crv",
                                  json_string(half == 48 ? "P-384" : "P-256"));
        rc |= json_object_set_new(jwk, "x", na_json_base64url(buf, half));
        rc |= json_object_set_new(jwk, "y",
                                  na_json_base64url(buf + half, half));
    }

    return na_json_built(jwk, rc);
}


char *
nitro_attest_token_jwks(const nitro_attest_token_key_t *const *keys,
    size_t n)
{
    int      rc;
    char    *out;
    size_t   i, j;
    json_t  *set, *list;

    set = json_object();
    list = json_array();
    rc = set != NULL && list != NULL ? 0 : -1;

    for (i = 0; rc == 0 && i < n; i++) {
        for (j = 0; j < i; j++) {
            if (strcmp(keys[j]->kid, keys[i]->kid) == 0) {
                break;
            }
        }

        if (j == i) {
            rc = json_array_append(list, keys[i]->jwk);
        }
    }

    if (rc != 0) {
        json_decref(list);
        json_decref(set);
        return NULL;
    }

    out = json_object_set_new(set, "keys", list) == 0
          ? json_dumps(set, JSON_COMPACT) : NULL;
    json_decref(set);

    return out;
}


int
nitro_attest_token_claims_init(nitro_attest_token_claims_t *claims,
    const char *issuer, int64_t now_ms, int64_t lifetime_ms,
    int64_t expires_ms)
{
    int64_t  limit;

    claims->issuer = issuer;
    claims->iat = na_seconds(now_ms);
    claims->exp = claims->iat + lifetime_ms / 1000;

    /* exp is exclusive (RFC 7519 4.1.4): the second the verdict ends in */
    limit = na_seconds(expires_ms);

    if (limit < claims->exp) {
        claims->exp = limit;
    }

    return RAND_bytes(claims->jti, sizeof(claims->jti)) == 1 ? 0 : -1;
}


char *
nitro_attest_token_claims_json(const nitro_attest_verdict_t *v,
    const nitro_attest_token_claims_t *claims)
{
    char    *out;
    json_t  *o;

    o = na_token_claims(v, claims);
    if (o == NULL) {
        return NULL;
    }

    out = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    return out;
}


char *
nitro_attest_token_sign(const nitro_attest_token_key_t *key,
    const nitro_attest_verdict_t *v, const nitro_attest_token_claims_t *claims)
{
    char     *json, *out, *p;
    size_t    len, siglen, size;
    uint8_t   sig[NA_SIG_MAX];

    json = nitro_attest_token_claims_json(v, claims);
    if (json == NULL) {
        return NULL;
    }

    len = strlen(json);

    if (len > INT_MAX / 2) {
        free(json);
        return NULL;
    }

    size = key->header_len + 1 + na_base64url_size(len) + 1
           + na_base64url_size(sizeof(sig));

    out = malloc(size);
    if (out == NULL) {
        free(json);
        return NULL;
    }

    p = memcpy(out, key->header, key->header_len);
    p += key->header_len;
    *p++ = '.';
    p += na_base64url(p, (uint8_t *) json, len);
    free(json);

    if (na_token_signature(key, (uint8_t *) out, (size_t) (p - out), sig,
                           &siglen)
        != 0)
    {
        free(out);
        return NULL;
    }

    *p++ = '.';
    na_base64url(p, sig, siglen);

    return out;
}


/*
 * The claims, in a fixed order: iss, sub, iat, exp, jti, cnf,
 * eat_profile, submods, nitro.  The client certificate's digest binds the
 * token to the TLS client that proved its key (cnf, RFC 8705 3.1); submods
 * follow the EAT Attestation Result (EAR) profile so generic appraisal
 * tooling reads the status; nitro carries the measurements as the JSON
 * event (nitro_attest_event_render()) spells them.
 */
static json_t *
na_token_claims(const nitro_attest_verdict_t *v,
    const nitro_attest_token_claims_t *claims)
{
    int       rc;
    json_t   *o;
    uint32_t  need;

    need = NITRO_ATTEST_F_MEASURED | NITRO_ATTEST_F_CERT | NITRO_ATTEST_F_DOC;

    if (v->status != NITRO_ATTEST_STATUS_SUCCESS
        || (v->flags & need) != need)
    {
        return NULL;
    }

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    rc = json_object_set_new(o, "iss",
                             na_json_text((const uint8_t *) claims->issuer,
                                          strlen(claims->issuer)));
    rc |= json_object_set_new(o, "sub",
                              na_json_text(nitro_attest_span_ptr(v,
                                                              v->module_id),
                                           v->module_id.len));
    rc |= json_object_set_new(o, "iat", json_integer(claims->iat));
    rc |= json_object_set_new(o, "exp", json_integer(claims->exp));
    rc |= json_object_set_new(o, "jti",
                              na_json_base64url(claims->jti,
                                                sizeof(claims->jti)));
    rc |= json_object_set_new(o, "cnf", na_token_cnf(v));
    rc |= json_object_set_new(o, "eat_profile",
                              json_string(NITRO_ATTEST_EAR_PROFILE));
    rc |= json_object_set_new(o, "submods", na_token_submods(v));
    rc |= json_object_set_new(o, "nitro", na_token_nitro(v));

    return na_json_built(o, rc);
}


/* {"x5t#S256": the client certificate's SHA-256, base64url} */
static json_t *
na_token_cnf(const nitro_attest_verdict_t *v)
{
    json_t  *cnf;

    cnf = json_object();

    if (cnf == NULL
        || json_object_set_new(cnf, "x5t#S256",
                               na_json_base64url(v->cert_sha256,
                                                 sizeof(v->cert_sha256)))
           != 0)
    {
        json_decref(cnf);
        return NULL;
    }

    return cnf;
}


/* {"aws-nitro": {"ear.status": "affirming", ?"ear.appraisal-policy-id"}} */
static json_t *
na_token_submods(const nitro_attest_verdict_t *v)
{
    int      rc;
    json_t  *submods, *ear;

    submods = json_object();
    ear = json_object();

    if (submods == NULL || ear == NULL) {
        json_decref(submods);
        json_decref(ear);
        return NULL;
    }

    rc = json_object_set_new(ear, "ear.status", json_string("affirming"));

    if (v->policy.len) {
        rc |= json_object_set_new(ear, "ear.appraisal-policy-id",
                                  na_token_policy(v));
    }

    rc |= json_object_set_new(submods, "aws-nitro", ear);

    return na_json_built(submods, rc);
}


/* the measurements, keyed and spelled as in the JSON event */
static json_t *
na_token_nitro(const nitro_attest_verdict_t *v)
{
    int          rc;
    json_t      *nitro;
    const char  *kind;

    nitro = json_object();
    if (nitro == NULL) {
        return NULL;
    }

    kind = nitro_attest_kind_name((nitro_attest_kind_e) v->kind);

    rc = json_object_set_new(nitro, "module_id",
                             na_json_text(nitro_attest_span_ptr(v,
                                                             v->module_id),
                                          v->module_id.len));
    rc |= json_object_set_new(nitro, "timestamp_ms",
                              json_integer(v->timestamp_ms));
    rc |= json_object_set_new(nitro, "pcrs", na_token_pcrs(v));
    rc |= json_object_set_new(nitro, "policy", na_token_policy(v));
    rc |= json_object_set_new(nitro, "doc_sha384",
                              na_json_hex(v->doc_sha384,
                                          sizeof(v->doc_sha384)));
    rc |= json_object_set_new(nitro, "user_data",
                              (v->flags & NITRO_ATTEST_F_USER_DATA)
                              ? na_json_hex(nitro_attest_span_ptr(v,
                                                               v->user_data),
                                            v->user_data.len)
                              : json_null());
    rc |= json_object_set_new(nitro, "nonce",
                              (v->flags & NITRO_ATTEST_F_NONCE)
                              ? na_json_hex(nitro_attest_span_ptr(v, v->nonce),
                                            v->nonce.len)
                              : json_null());
    rc |= json_object_set_new(nitro, "kind",
                              kind ? json_string(kind) : json_null());

    return na_json_built(nitro, rc);
}


/* {"N": hex} for each PCR of the verdict */
static json_t *
na_token_pcrs(const nitro_attest_verdict_t *v)
{
    int       rc;
    char      index[8];
    json_t   *pcrs;
    unsigned  i;

    pcrs = json_object();
    if (pcrs == NULL) {
        return NULL;
    }

    rc = 0;

    for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
        if (v->pcr_mask & ((uint32_t) 1 << i)) {
            snprintf(index, sizeof(index), "%u", i);
            rc |= json_object_set_new(pcrs, index,
                                      na_json_hex(nitro_attest_span_ptr(v,
                                                                 v->pcr[i]),
                                                  v->pcr[i].len));
        }
    }

    return na_json_built(pcrs, rc);
}


/* the name of the set that allowed the verdict, or null */
static json_t *
na_token_policy(const nitro_attest_verdict_t *v)
{
    return v->policy.len
           ? na_json_text(nitro_attest_span_ptr(v, v->policy), v->policy.len)
           : json_null();
}


/*
 * JWS signatures are raw: ECDSA's r || s, each the size of the curve's
 * order (RFC 7518 3.4), where OpenSSL gives DER; Ed25519's are raw
 * already (RFC 8037 3.1).
 */
int
na_token_signature(const nitro_attest_token_key_t *key, const uint8_t *tbs,
    size_t len, uint8_t *sig, size_t *siglen)
{
    int          rc;
    size_t       n;
    uint8_t      der[NA_SIG_MAX];
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    n = sizeof(der);

    rc = EVP_DigestSignInit(ctx, NULL, key->md, NULL, key->pkey) == 1
         && EVP_DigestSign(ctx, der, &n, tbs, len) == 1
         ? 0 : -1;

    EVP_MD_CTX_free(ctx);

    if (rc != 0) {
        return -1;
    }

    if (key->half == 0) {
        memcpy(sig, der, n);
        *siglen = n;
        return 0;
    }

    *siglen = 2 * key->half;

    return nitro_attest_ecdsa_der_to_raw(der, n, sig, key->half);
}


int
nitro_attest_ecdsa_der_to_raw(const uint8_t *der, size_t der_len,
    uint8_t *raw, size_t half)
{
    int                   rc;
    ECDSA_SIG            *es;
    const BIGNUM         *r, *s;
    const unsigned char  *p;

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    if (es == NULL) {
        return -1;
    }

    ECDSA_SIG_get0(es, &r, &s);

    rc = BN_bn2binpad(r, raw, (int) half) == (int) half
         && BN_bn2binpad(s, raw + half, (int) half) == (int) half
         ? 0 : -1;

    ECDSA_SIG_free(es);

    return rc;
}


/*
 * o once every step that built it succeeded (rc 0), else NULL with o
 * freed: each json_object_set_new() owns (or frees) the value it is given
 * and fails on a NULL one, so memory running out anywhere fails the whole.
 */
static json_t *
na_json_built(json_t *o, int rc)
{
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }

    return o;
}


/* ms to whole seconds, rounded down also before the epoch */
static int64_t
na_seconds(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1;
}
