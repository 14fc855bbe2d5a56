/*
 * na_event.c: renders a verdict as the JSON attestation event (by hand,
 * into the caller's memory), and a document as the CLI's inspect output
 * (with jansson).
 *
 * Every key of the event is always present, always in the same order, with
 * null for what is not known: a log pipeline can rely on one shape.
 */

#include "na_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>


static void na_event_outcome(na_out_t *o, const nitro_attest_verdict_t *v);
static void na_event_measurements(na_out_t *o,
    const nitro_attest_verdict_t *v);
static void na_event_judgement(na_out_t *o, const nitro_attest_verdict_t *v);
static void na_event_handling(na_out_t *o, const nitro_attest_verdict_t *v);
static void na_out_name(na_out_t *o, const char *name);
static void na_out_bool(na_out_t *o, int b);
static void na_out_time(na_out_t *o, int64_t ms);
static void na_out_where(na_out_t *o, const char *key,
    const nitro_attest_text_t *text);
static void na_event_rollback(na_out_t *o, const nitro_attest_verdict_t *v);
static json_t *na_json_optional(int present, const na_bytes_t *b);
static char *na_json_dump(json_t *obj);


/*
 * The event is written by hand rather than built with jansson: it is
 * rendered on the handshake path of a server, into memory the caller owns
 * (a pool, a worker buffer), with no allocation.  Text fields are escaped
 * as JSON requires; bytes that are not UTF-8 become U+FFFD.
 */
size_t
nitro_attest_event_render(const nitro_attest_verdict_t *v,
    const nitro_attest_where_t *where, char *buf, size_t size)
{
    na_out_t  o;

    o.buf = buf;
    o.size = size;
    o.len = 0;
    o.first = 1;

    na_out_raw(&o, "{", 1);

    na_event_outcome(&o, v);
    na_event_measurements(&o, v);
    na_event_judgement(&o, v);
    na_event_handling(&o, v);

    if (where != NULL) {
        na_out_key(&o, "direction");
        na_out_name(&o, where->direction);
        na_out_where(&o, "client_addr", &where->client_addr);
        na_out_where(&o, "server_name", &where->server_name);
        na_out_where(&o, "host", &where->host);
        na_out_where(&o, "upstream_addr", &where->upstream_addr);
        na_event_rollback(&o, v);
    }

    na_out_raw(&o, "}", 1);

    if (o.len < size) {
        buf[o.len] = '\0';
    }

    return o.len;
}


/* event_type, time, status, reason (failures only), severity */
static void
na_event_outcome(na_out_t *o, const nitro_attest_verdict_t *v)
{
    na_out_key(o, "event_type");
    na_out_raw(o, "\"enclave_attestation\"", 21);

    na_out_key(o, "time");
    na_out_time(o, v->time_ms);

    na_out_key(o, "status");
    na_out_name(o, nitro_attest_status_name(v->status));

    na_out_key(o, "reason");
    na_out_name(o, v->status == NITRO_ATTEST_STATUS_FAILED
                   ? nitro_attest_reason_name(v->reason) : NULL);

    na_out_key(o, "severity");
    na_out_name(o, nitro_attest_severity(v));
}


/* what the document measured: null until its signature and path held */
static void
na_event_measurements(na_out_t *o, const nitro_attest_verdict_t *v)
{
    int       measured;
    char      key[8];
    unsigned  i;

    measured = (v->flags & NITRO_ATTEST_F_MEASURED) != 0;

    na_out_key(o, "module_id");
    if (measured) {
        na_out_text(o, nitro_attest_span_ptr(v, v->module_id),
                    v->module_id.len);
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "timestamp_ms");
    if (measured) {
        na_out_int(o, v->timestamp_ms);
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "age_s");
    if (measured) {
        na_out_int(o, nitro_attest_verdict_age_s(v));
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "digest");
    na_out_name(o, measured ? "SHA384" : NULL);

    na_out_key(o, "pcrs");
    if (!measured) {
        na_out_name(o, NULL);
        return;
    }

    na_out_raw(o, "{", 1);
    o->first = 1;

    for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
        if (v->pcr_mask & (1u << i)) {
            snprintf(key, sizeof(key), "%u", i);
            na_out_key(o, key);
            na_out_hex(o, nitro_attest_span_ptr(v, v->pcr[i]), v->pcr[i].len);
        }
    }

    na_out_raw(o, "}", 1);
    o->first = 0;
}


/* policy, policy_allowed, binding, and the fields the binding reads */
static void
na_event_judgement(na_out_t *o, const nitro_attest_verdict_t *v)
{
    int  measured;

    measured = (v->flags & NITRO_ATTEST_F_MEASURED) != 0;

    na_out_key(o, "policy");
    if (measured && v->policy.len) {
        na_out_text(o, nitro_attest_span_ptr(v, v->policy), v->policy.len);
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "policy_allowed");
    if (v->flags & NITRO_ATTEST_F_POLICY_JUDGED) {
        na_out_bool(o, (v->flags & NITRO_ATTEST_F_POLICY_ALLOWED) != 0);
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "binding");
    na_out_name(o, nitro_attest_binding_name(v->binding));

    na_out_key(o, "user_data");
    if (measured && (v->flags & NITRO_ATTEST_F_USER_DATA)) {
        na_out_hex(o, nitro_attest_span_ptr(v, v->user_data),
                   v->user_data.len);
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "nonce");
    if (measured && (v->flags & NITRO_ATTEST_F_NONCE)) {
        na_out_hex(o, nitro_attest_span_ptr(v, v->nonce), v->nonce.len);
    } else {
        na_out_name(o, NULL);
    }
}


/* what was verified and how: digests, cache, cost, resumption, kind */
static void
na_event_handling(na_out_t *o, const nitro_attest_verdict_t *v)
{
    na_out_key(o, "cert_sha256");
    if (v->flags & NITRO_ATTEST_F_CERT) {
        na_out_hex(o, v->cert_sha256, sizeof(v->cert_sha256));
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "doc_sha384");
    if (v->flags & NITRO_ATTEST_F_DOC) {
        na_out_hex(o, v->doc_sha384, sizeof(v->doc_sha384));
    } else {
        na_out_name(o, NULL);
    }

    na_out_key(o, "cache");
    na_out_name(o, nitro_attest_cache_name(v->cache));

    na_out_key(o, "verify_us");
    na_out_int(o, v->verify_us);

    na_out_key(o, "resumed");
    na_out_bool(o, (v->flags & NITRO_ATTEST_F_RESUMED) != 0);

    na_out_key(o, "kind");
    na_out_name(o, (v->flags & NITRO_ATTEST_F_MEASURED)
                   ? nitro_attest_kind_name(v->kind) : NULL);
}


char *
nitro_attest_event_json(const nitro_attest_verdict_t *v)
{
    char    *s;
    size_t   len;

    len = nitro_attest_event_render(v, NULL, NULL, 0);

    s = malloc(len + 1);
    if (s != NULL) {
        nitro_attest_event_render(v, NULL, s, len + 1);
    }

    return s;
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
    /* the document's own key: pcrs, or nitrotpm_pcrs and the kind */
    if (doc.kind == NITRO_ATTEST_KIND_NITROTPM) {
        json_object_set_new(o, "kind", json_string(
            nitro_attest_kind_name(doc.kind)));
        json_object_set_new(o, "nitrotpm_pcrs", pcrs);

    } else {
        json_object_set_new(o, "pcrs", pcrs);
    }

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
na_json_optional(int present, const na_bytes_t *b)
{
    return present ? na_json_hex(b->p, b->len) : json_null();
}


static char *
na_json_dump(json_t *obj)
{
    char  *s;

    s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);

    return s;
}


/* a name as a JSON string, NULL as null */
static void
na_out_name(na_out_t *o, const char *name)
{
    if (name == NULL) {
        na_out_raw(o, "null", 4);
        return;
    }

    na_out_text(o, (const uint8_t *) name, strlen(name));
}


static void
na_out_bool(na_out_t *o, int b)
{
    if (b) {
        na_out_raw(o, "true", 4);
    } else {
        na_out_raw(o, "false", 5);
    }
}


/* "rollback": {"service", "from", "to"} of a server's verdict, or null */
static void
na_event_rollback(na_out_t *o, const nitro_attest_verdict_t *v)
{
    int   len;
    char  num[64];

    na_out_key(o, "rollback");

    if (!(v->flags & NITRO_ATTEST_F_ROLLBACK)) {
        na_out_raw(o, "null", 4);
        return;
    }

    na_out_raw(o, "{\"service\":", 11);
    na_out_text(o, nitro_attest_span_ptr(v, v->service), v->service.len);

    len = snprintf(num, sizeof(num), ",\"from\":%lld,\"to\":%lld}",
                   (long long) v->rollback_from, (long long) v->rollback_to);
    na_out_raw(o, num, (size_t) len);
}


/* a key of where, as text (cut to its maximum) or null */
static void
na_out_where(na_out_t *o, const char *key, const nitro_attest_text_t *text)
{
    na_out_key(o, key);

    if (text->data == NULL) {
        na_out_raw(o, "null", 4);
        return;
    }

    na_out_text(o, (const uint8_t *) text->data,
                text->len < NITRO_ATTEST_WHERE_TEXT_MAX
                ? text->len : NITRO_ATTEST_WHERE_TEXT_MAX);
}


/* RFC 3339, UTC, milliseconds; null for a time gmtime cannot show */
static void
na_out_time(na_out_t *o, int64_t ms)
{
    int   len;
    char  buf[64];

    len = nitro_attest_format_time(buf + 1, sizeof(buf) - 2, ms);
    if (len < 0) {
        na_out_raw(o, "null", 4);
        return;
    }

    buf[0] = '"';
    buf[len + 1] = '"';

    na_out_raw(o, buf, (size_t) len + 2);
}
