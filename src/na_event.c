/*
 * na_event.c: renders a verdict as the CONTRACT section 7 event (by hand,
 * into the caller's memory), and a document as the CLI's inspect output
 * (with jansson).
 *
 * Every key of the event is always present, in the contract's order, with
 * null for what is not known: a log pipeline can rely on one shape.
 */

#include "na_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>


/* where the event is rendered: len counts every byte, written or not */
typedef struct {
    char                      *buf;
    size_t                     size;
    size_t                     len;
    int                        first;   /* no key written at this level */
} na_out_t;

static json_t *na_json_optional(int present, const na_bytes_t *b);
static char *na_json_dump(json_t *obj);

static void na_out_raw(na_out_t *o, const char *s, size_t n);
static void na_out_key(na_out_t *o, const char *key);
static void na_out_text(na_out_t *o, const uint8_t *p, size_t n);
static void na_out_hex(na_out_t *o, const uint8_t *p, size_t n);
static void na_out_int(na_out_t *o, int64_t n);
static void na_out_time(na_out_t *o, int64_t ms);
static void na_out_where(na_out_t *o, const char *key,
    const nitro_attest_text_t *text);


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
    int          measured;
    char         key[8];
    unsigned     i;
    na_out_t     o;
    const char  *binding, *kind;

    static const char  *cache[] = { "off", "miss", "hit" };

    measured = (v->flags & NITRO_ATTEST_F_MEASURED) != 0;

    o.buf = buf;
    o.size = size;
    o.len = 0;
    o.first = 1;

    na_out_raw(&o, "{", 1);

    na_out_key(&o, "event_type");
    na_out_raw(&o, "\"enclave_attestation\"", 21);

    na_out_key(&o, "time");
    na_out_time(&o, v->time_ms);

    na_out_key(&o, "status");
    na_out_text(&o, (const uint8_t *) nitro_attest_status_name(v->status),
                strlen(nitro_attest_status_name(v->status)));

    na_out_key(&o, "reason");
    if (v->status == NITRO_ATTEST_STATUS_FAILED) {
        na_out_text(&o, (const uint8_t *) nitro_attest_reason_name(v->reason),
                    strlen(nitro_attest_reason_name(v->reason)));
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "severity");
    na_out_text(&o, (const uint8_t *) nitro_attest_severity(v),
                strlen(nitro_attest_severity(v)));

    na_out_key(&o, "module_id");
    if (measured) {
        na_out_text(&o, nitro_attest_span_ptr(v, v->module_id),
                    v->module_id.len);
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "timestamp_ms");
    if (measured) {
        na_out_int(&o, v->timestamp_ms);
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "age_s");
    if (measured) {
        na_out_int(&o, nitro_attest_verdict_age_s(v));
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "digest");
    na_out_raw(&o, measured ? "\"SHA384\"" : "null", measured ? 8 : 4);

    na_out_key(&o, "pcrs");
    if (measured) {
        na_out_raw(&o, "{", 1);
        o.first = 1;

        for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
            if (v->pcr_mask & (1u << i)) {
                snprintf(key, sizeof(key), "%u", i);
                na_out_key(&o, key);
                na_out_hex(&o, nitro_attest_span_ptr(v, v->pcr[i]),
                           v->pcr[i].len);
            }
        }

        na_out_raw(&o, "}", 1);
        o.first = 0;

    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "policy");
    if (measured && v->policy.len) {
        na_out_text(&o, nitro_attest_span_ptr(v, v->policy), v->policy.len);
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "policy_allowed");
    if (v->flags & NITRO_ATTEST_F_POLICY_JUDGED) {
        if (v->flags & NITRO_ATTEST_F_POLICY_ALLOWED) {
            na_out_raw(&o, "true", 4);
        } else {
            na_out_raw(&o, "false", 5);
        }

    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "binding");
    binding = nitro_attest_binding_name(v->binding);
    if (binding) {
        na_out_text(&o, (const uint8_t *) binding, strlen(binding));
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "user_data");
    if (measured && (v->flags & NITRO_ATTEST_F_USER_DATA)) {
        na_out_hex(&o, nitro_attest_span_ptr(v, v->user_data),
                   v->user_data.len);
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "nonce");
    if (measured && (v->flags & NITRO_ATTEST_F_NONCE)) {
        na_out_hex(&o, nitro_attest_span_ptr(v, v->nonce), v->nonce.len);
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "cert_sha256");
    if (v->flags & NITRO_ATTEST_F_CERT) {
        na_out_hex(&o, v->cert_sha256, sizeof(v->cert_sha256));
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "doc_sha384");
    if (v->flags & NITRO_ATTEST_F_DOC) {
        na_out_hex(&o, v->doc_sha384, sizeof(v->doc_sha384));
    } else {
        na_out_raw(&o, "null", 4);
    }

    na_out_key(&o, "cache");
    i = v->cache <= NITRO_ATTEST_CACHE_HIT ? v->cache : 0;
    na_out_text(&o, (const uint8_t *) cache[i], strlen(cache[i]));

    na_out_key(&o, "verify_us");
    na_out_int(&o, v->verify_us);

    na_out_key(&o, "resumed");
    if (v->flags & NITRO_ATTEST_F_RESUMED) {
        na_out_raw(&o, "true", 4);
    } else {
        na_out_raw(&o, "false", 5);
    }

    na_out_key(&o, "kind");
    kind = measured ? nitro_attest_kind_name(v->kind) : NULL;
    if (kind) {
        na_out_text(&o, (const uint8_t *) kind, strlen(kind));
    } else {
        na_out_raw(&o, "null", 4);
    }

    if (where != NULL) {
        na_out_key(&o, "direction");
        na_out_text(&o, (const uint8_t *) where->direction,
                    strlen(where->direction));
        na_out_where(&o, "client_addr", &where->client_addr);
        na_out_where(&o, "server_name", &where->server_name);
        na_out_where(&o, "host", &where->host);
        na_out_where(&o, "upstream_addr", &where->upstream_addr);
    }

    na_out_raw(&o, "}", 1);

    if (o.len < size) {
        buf[o.len] = '\0';
    }

    return o.len;
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


json_t *
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


/* Bytes that fit are written; len counts them all, so a short buffer
 * tells the caller the size it needs. */
static void
na_out_raw(na_out_t *o, const char *s, size_t n)
{
    if (o->buf != NULL && o->len + n <= o->size) {
        memcpy(o->buf + o->len, s, n);
    }

    o->len += n;
}


static void
na_out_key(na_out_t *o, const char *key)
{
    if (!o->first) {
        na_out_raw(o, ",", 1);
    }

    o->first = 0;
    na_out_text(o, (const uint8_t *) key, strlen(key));
    na_out_raw(o, ":", 1);
}


static void
na_out_text(na_out_t *o, const uint8_t *p, size_t n)
{
    char    esc[8];
    size_t  i, k;

    static const char  digits[] = "0123456789abcdef";

    na_out_raw(o, "\"", 1);

    for (i = 0; i < n; i += k) {
        k = 1;

        switch (p[i]) {
        case '"':
            na_out_raw(o, "\\\"", 2);
            continue;
        case '\\':
            na_out_raw(o, "\\\\", 2);
            continue;
        case '\b':
            na_out_raw(o, "\\b", 2);
            continue;
        case '\f':
            na_out_raw(o, "\\f", 2);
            continue;
        case '\n':
            na_out_raw(o, "\\n", 2);
            continue;
        case '\r':
            na_out_raw(o, "\\r", 2);
            continue;
        case '\t':
            na_out_raw(o, "\\t", 2);
            continue;
        }

        if (p[i] < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = digits[p[i] >> 4];
            esc[5] = digits[p[i] & 0xf];
            na_out_raw(o, esc, 6);
            continue;
        }

        if (p[i] < 0x80) {
            na_out_raw(o, (const char *) p + i, 1);
            continue;
        }

        k = na_utf8_len(p + i, n - i);

        if (k == 0) {
            na_out_raw(o, "\\ufffd", 6);
            k = 1;
            continue;
        }

        na_out_raw(o, (const char *) p + i, k);
    }

    na_out_raw(o, "\"", 1);
}


static void
na_out_hex(na_out_t *o, const uint8_t *p, size_t n)
{
    char    buf[128];
    size_t  chunk;

    na_out_raw(o, "\"", 1);

    while (n > 0) {
        chunk = n < sizeof(buf) / 2 ? n : sizeof(buf) / 2;
        nitro_attest_hex(buf, p, chunk);
        na_out_raw(o, buf, 2 * chunk);
        p += chunk;
        n -= chunk;
    }

    na_out_raw(o, "\"", 1);
}


static void
na_out_int(na_out_t *o, int64_t n)
{
    char  buf[24];
    int   len;

    len = snprintf(buf, sizeof(buf), "%lld", (long long) n);
    na_out_raw(o, buf, (size_t) len);
}


/* RFC 3339, UTC, milliseconds; null for a time gmtime cannot show */
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


int
nitro_attest_format_time(char *dst, size_t size, int64_t ms)
{
    int        len;
    time_t     secs;
    struct tm  tm;
    int64_t    frac;

    frac = ms % 1000;
    secs = (time_t) (ms / 1000);

    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }

    if (size > 0) {
        dst[0] = '\0';
    }

    if (gmtime_r(&secs, &tm) == NULL) {
        return -1;
    }

    len = snprintf(dst, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int) frac);

    return (len < 0 || (size_t) len >= size) ? -1 : len;
}


/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0.
 */
size_t
na_utf8_len(const uint8_t *p, size_t n)
{
    size_t    len, i;
    uint32_t  cp, min;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
        min = 0x80;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
        min = 0x800;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if (n < len) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = cp << 6 | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return len;
}


char *
nitro_attest_prometheus_escape(char *dst, const uint8_t *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        switch (src[i]) {

        case '\\':
        case '"':
            *dst++ = '\\';
            *dst++ = (char) src[i];
            break;

        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            break;

        default:
            *dst++ = (char) src[i];
        }
    }

    return dst;
}
