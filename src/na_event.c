/*
 * na_event.c: renders a verdict as the CONTRACT section 7 event, and a
 * document as the CLI's inspect output.
 *
 * Every key of the event is always present, in the contract's order, with
 * null for what is not known: a log pipeline can rely on one shape.
 */

#include "na_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>


static json_t *na_json_hex(const uint8_t *p, size_t len);
static json_t *na_json_span(const nitro_attest_verdict_t *v,
    nitro_attest_span_t s);
static json_t *na_json_span_text(const nitro_attest_verdict_t *v,
    nitro_attest_span_t s);
static json_t *na_json_time(int64_t ms);
static json_t *na_json_optional(int present, const na_bytes_t *b);
static char *na_json_dump(json_t *obj);


char *
nitro_attest_event_json(const nitro_attest_verdict_t *v)
{
    int         measured;
    char        key[4];
    unsigned    i;
    json_t     *e, *pcrs;
    const char *binding;

    static const char  *cache[] = { "off", "miss", "hit" };

    measured = (v->flags & NITRO_ATTEST_F_MEASURED) != 0;

    e = json_object();
    if (e == NULL) {
        return NULL;
    }

    json_object_set_new(e, "event_type", json_string("enclave_attestation"));
    json_object_set_new(e, "time", na_json_time(v->time_ms));
    json_object_set_new(e, "status",
        json_string(nitro_attest_status_name(v->status)));
    json_object_set_new(e, "reason",
        v->status == NITRO_ATTEST_STATUS_FAILED
            ? json_string(nitro_attest_reason_name(v->reason))
            : json_null());
    json_object_set_new(e, "severity", json_string(nitro_attest_severity(v)));

    json_object_set_new(e, "module_id",
        measured ? na_json_span_text(v, v->module_id) : json_null());
    json_object_set_new(e, "timestamp_ms",
        measured ? json_integer(v->timestamp_ms) : json_null());

    json_object_set_new(e, "age_s",
        measured ? json_integer(nitro_attest_verdict_age_s(v)) : json_null());
    json_object_set_new(e, "digest",
        measured ? json_string("SHA384") : json_null());

    pcrs = json_null();
    if (measured) {
        pcrs = json_object();
        for (i = 0; pcrs != NULL && i < NITRO_ATTEST_PCR_COUNT; i++) {
            if (v->pcr_mask & (1u << i)) {
                snprintf(key, sizeof(key), "%u", i);
                json_object_set_new(pcrs, key, na_json_span(v, v->pcr[i]));
            }
        }
    }

    json_object_set_new(e, "pcrs", pcrs);
    json_object_set_new(e, "policy",
        measured && v->policy.len ? na_json_span_text(v, v->policy)
                                  : json_null());
    json_object_set_new(e, "policy_allowed",
        (v->flags & NITRO_ATTEST_F_POLICY_JUDGED)
            ? json_boolean(v->flags & NITRO_ATTEST_F_POLICY_ALLOWED)
            : json_null());

    binding = nitro_attest_binding_name(v->binding);
    json_object_set_new(e, "binding",
        binding ? json_string(binding) : json_null());
    json_object_set_new(e, "user_data",
        measured && (v->flags & NITRO_ATTEST_F_USER_DATA)
            ? na_json_span(v, v->user_data) : json_null());
    json_object_set_new(e, "nonce",
        measured && (v->flags & NITRO_ATTEST_F_NONCE)
            ? na_json_span(v, v->nonce) : json_null());
    json_object_set_new(e, "cert_sha256",
        (v->flags & NITRO_ATTEST_F_CERT)
            ? na_json_hex(v->cert_sha256, sizeof(v->cert_sha256))
            : json_null());
    json_object_set_new(e, "doc_sha384",
        (v->flags & NITRO_ATTEST_F_DOC)
            ? na_json_hex(v->doc_sha384, sizeof(v->doc_sha384))
            : json_null());
    json_object_set_new(e, "cache",
        json_string(cache[v->cache <= NITRO_ATTEST_CACHE_HIT ? v->cache : 0]));
    json_object_set_new(e, "verify_us", json_integer(v->verify_us));
    json_object_set_new(e, "resumed",
        json_boolean(v->flags & NITRO_ATTEST_F_RESUMED));

    return na_json_dump(e);
}


char *
nitro_attest_inspect_json(const uint8_t *bytes, size_t len,
    nitro_attest_reason_e *reason)
{
    int            i;
    char           key[4];
    char          *out;
    json_t        *o, *pcrs, *bundle;
    unsigned       k;
    na_document_t  doc;

    *reason = na_document_parse(&doc, NULL, NULL, bytes, len);

    /* an unsupported algorithm still decodes: show it */
    if (*reason != NITRO_ATTEST_OK
        && *reason != NITRO_ATTEST_UNSUPPORTED_ALGORITHM)
    {
        na_document_free(&doc);
        return NULL;
    }

    o = json_object();
    pcrs = json_object();
    bundle = json_array();

    if (o == NULL || pcrs == NULL || bundle == NULL) {
        json_decref(o);
        json_decref(pcrs);
        json_decref(bundle);
        na_document_free(&doc);
        *reason = NITRO_ATTEST_INTERNAL_ERROR;
        return NULL;
    }

    for (k = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
        if (doc.pcr_mask & (1u << k)) {
            snprintf(key, sizeof(key), "%u", k);
            json_object_set_new(pcrs, key,
                                na_json_hex(doc.pcr[k].p, doc.pcr[k].len));
        }
    }

    for (i = 0; i < sk_X509_num(doc.cabundle); i++) {
        unsigned char  *der = NULL;
        int             n = i2d_X509(sk_X509_value(doc.cabundle, i), &der);

        json_array_append_new(bundle,
            n > 0 ? na_json_hex(der, (size_t) n) : json_null());
        OPENSSL_free(der);
    }

    json_object_set_new(o, "module_id",
        json_stringn((const char *) doc.module_id.p, doc.module_id.len));
    json_object_set_new(o, "digest",
        json_stringn((const char *) doc.digest.p, doc.digest.len));
    json_object_set_new(o, "timestamp",
        json_integer(doc.timestamp > (uint64_t) INT64_MAX
                     ? INT64_MAX : (json_int_t) doc.timestamp));
    json_object_set_new(o, "pcrs", pcrs);
    json_object_set_new(o, "certificate",
        na_json_hex(doc.certificate.p, doc.certificate.len));
    json_object_set_new(o, "cabundle", bundle);
    json_object_set_new(o, "public_key",
        na_json_optional(doc.has_public_key, &doc.public_key));
    json_object_set_new(o, "user_data",
        na_json_optional(doc.has_user_data, &doc.user_data));
    json_object_set_new(o, "nonce", na_json_optional(doc.has_nonce,
                                                     &doc.nonce));
    json_object_set_new(o, "protected",
        na_json_hex(doc.protected_hdr.p, doc.protected_hdr.len));
    json_object_set_new(o, "signature",
        na_json_hex(doc.signature.p, doc.signature.len));

    na_document_free(&doc);

    out = na_json_dump(o);
    if (out == NULL) {
        *reason = NITRO_ATTEST_INTERNAL_ERROR;
    }

    return out;
}


static json_t *
na_json_hex(const uint8_t *p, size_t len)
{
    char    *buf;
    json_t  *s;

    buf = malloc(2 * len + 1);
    if (buf == NULL) {
        return NULL;
    }

    nitro_attest_hex(buf, p, len);
    s = json_stringn(buf, 2 * len);
    free(buf);

    return s;
}


static json_t *
na_json_span(const nitro_attest_verdict_t *v, nitro_attest_span_t s)
{
    return na_json_hex(nitro_attest_span_ptr(v, s), s.len);
}


static json_t *
na_json_span_text(const nitro_attest_verdict_t *v, nitro_attest_span_t s)
{
    return json_stringn((const char *) nitro_attest_span_ptr(v, s), s.len);
}


static json_t *
na_json_optional(int present, const na_bytes_t *b)
{
    return present ? na_json_hex(b->p, b->len) : json_null();
}


/* RFC 3339, UTC, milliseconds */
static json_t *
na_json_time(int64_t ms)
{
    char       buf[64];
    time_t     secs;
    struct tm  tm;
    int64_t    frac;

    frac = ms % 1000;
    secs = (time_t) (ms / 1000);

    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }

    if (gmtime_r(&secs, &tm) == NULL) {
        return json_null();
    }

    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) frac);

    return json_string(buf);
}


static char *
na_json_dump(json_t *obj)
{
    char  *s;

    s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);

    return s;
}
