/*
 * na_ocsf.c: renders a verdict as an OCSF Authentication event (class
 * 3002, activity Logon), the shape security lakes and most SIEMs ingest:
 * the outcome in OCSF's own attributes, the whole JSON event of
 * na_event.c in "unmapped".  Written by hand into the caller's memory, as
 * the JSON event is.
 */

#include "na_internal.h"

#include <string.h>


static void na_ocsf_outcome(na_out_t *o, const nitro_attest_verdict_t *v);
static void na_ocsf_endpoints(na_out_t *o, const nitro_attest_where_t *where);
static void na_ocsf_user(na_out_t *o, const nitro_attest_verdict_t *v);


size_t
nitro_attest_event_render_ocsf(const nitro_attest_verdict_t *v,
    const nitro_attest_where_t *where, const char *version, char *buf,
    size_t size)
{
    size_t    n;
    na_out_t  o;

    static const char  product[] = "{\"product\":{\"name\":\"nitro-attest\","
                                   "\"vendor_name\":\"nitro-attest\","
                                   "\"version\":";
    static const char  schema[] = "},\"version\":\""
                                  NITRO_ATTEST_OCSF_VERSION "\"}";

    o.buf = buf;
    o.size = size;
    o.len = 0;
    o.first = 1;

    na_out_raw(&o, "{", 1);

    na_out_key(&o, "activity_id");
    na_out_raw(&o, "1", 1);
    na_out_key(&o, "activity_name");
    na_out_text(&o, (const uint8_t *) "Logon", 5);
    na_out_key(&o, "category_uid");
    na_out_raw(&o, "3", 1);
    na_out_key(&o, "category_name");
    na_out_text(&o, (const uint8_t *) "Identity & Access Management", 28);
    na_out_key(&o, "class_uid");
    na_out_raw(&o, "3002", 4);
    na_out_key(&o, "class_name");
    na_out_text(&o, (const uint8_t *) "Authentication", 14);
    na_out_key(&o, "type_uid");
    na_out_raw(&o, "300201", 6);
    na_out_key(&o, "type_name");
    na_out_text(&o, (const uint8_t *) "Authentication: Logon", 21);
    na_out_key(&o, "time");
    na_out_int(&o, v->time_ms);

    na_ocsf_outcome(&o, v);

    na_out_key(&o, "metadata");
    na_out_raw(&o, product, sizeof(product) - 1);
    na_out_text(&o, (const uint8_t *) version, strlen(version));
    na_out_raw(&o, schema, sizeof(schema) - 1);

    if (where != NULL) {
        na_ocsf_endpoints(&o, where);
    }

    na_ocsf_user(&o, v);

    /* the JSON event, whole: its keys keep their names and order */

    na_out_key(&o, "unmapped");

    n = nitro_attest_event_render(v, where,
                                  o.buf != NULL && o.len < o.size
                                  ? o.buf + o.len : NULL,
                                  o.buf != NULL && o.len < o.size
                                  ? o.size - o.len : 0);
    o.len += n;

    na_out_raw(&o, "}", 1);

    if (o.len < size) {
        buf[o.len] = '\0';
    }

    return o.len;
}


/* severity (INFO 1, WARNING 3, CRITICAL 5), status, the reason */
static void
na_ocsf_outcome(na_out_t *o, const nitro_attest_verdict_t *v)
{
    const char  *severity;

    severity = nitro_attest_severity(v);

    na_out_key(o, "severity_id");

    if (severity[0] == 'C') {
        na_out_raw(o, "5", 1);
        severity = "Critical";

    } else if (severity[0] == 'W') {
        na_out_raw(o, "3", 1);
        severity = "Medium";

    } else {
        na_out_raw(o, "1", 1);
        severity = "Informational";
    }

    na_out_key(o, "severity");
    na_out_text(o, (const uint8_t *) severity, strlen(severity));

    na_out_key(o, "status_id");

    switch (v->status) {
    case NITRO_ATTEST_STATUS_SUCCESS:
        na_out_raw(o, "1", 1);
        na_out_key(o, "status");
        na_out_text(o, (const uint8_t *) "Success", 7);
        break;

    case NITRO_ATTEST_STATUS_FAILED:
        na_out_raw(o, "2", 1);
        na_out_key(o, "status");
        na_out_text(o, (const uint8_t *) "Failure", 7);
        na_out_key(o, "status_detail");
        na_out_text(o, (const uint8_t *) nitro_attest_reason_name(v->reason),
                    strlen(nitro_attest_reason_name(v->reason)));
        break;

    default:
        na_out_raw(o, "0", 1);
        na_out_key(o, "status");
        na_out_text(o, (const uint8_t *) "Unknown", 7);
    }
}


/* the client's address and the server's name, each when known */
static void
na_ocsf_endpoints(na_out_t *o, const nitro_attest_where_t *where)
{
    if (where->client_addr.data != NULL && where->client_addr.len > 0) {
        na_out_key(o, "src_endpoint");
        na_out_raw(o, "{\"ip\":", 6);
        na_out_text(o, (const uint8_t *) where->client_addr.data,
                    where->client_addr.len < NITRO_ATTEST_WHERE_TEXT_MAX
                    ? where->client_addr.len : NITRO_ATTEST_WHERE_TEXT_MAX);
        na_out_raw(o, "}", 1);
    }

    if (where->server_name.data != NULL && where->server_name.len > 0) {
        na_out_key(o, "dst_endpoint");
        na_out_raw(o, "{\"hostname\":", 12);
        na_out_text(o, (const uint8_t *) where->server_name.data,
                    where->server_name.len < NITRO_ATTEST_WHERE_TEXT_MAX
                    ? where->server_name.len : NITRO_ATTEST_WHERE_TEXT_MAX);
        na_out_raw(o, "}", 1);
    }
}


/*
 * Who authenticated: the enclave (its module id) once its document's
 * signature and chain held, else its certificate; "unknown" by name when
 * no certificate came (OCSF's user needs a name or a uid).
 */
static void
na_ocsf_user(na_out_t *o, const nitro_attest_verdict_t *v)
{
    na_out_key(o, "user");

    if (v->flags & NITRO_ATTEST_F_MEASURED) {
        na_out_raw(o, "{\"uid\":", 7);
        na_out_text(o, nitro_attest_span_ptr(v, v->module_id),
                    v->module_id.len);
        na_out_raw(o, "}", 1);

    } else if (v->flags & NITRO_ATTEST_F_CERT) {
        na_out_raw(o, "{\"uid\":", 7);
        na_out_hex(o, v->cert_sha256, sizeof(v->cert_sha256));
        na_out_raw(o, "}", 1);

    } else {
        na_out_raw(o, "{\"name\":\"unknown\"}", 18);
    }
}
