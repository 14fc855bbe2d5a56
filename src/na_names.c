/*
 * na_names.c: the words of the API, one table per enum: reason codes (with
 * how grave each failure is), statuses, bindings, kinds, extension formats
 * and verdict cache outcomes; the parsers of those names and of durations
 * that directives, policy files and the CLI share; and na_fail(), the one
 * way a loader writes its error.
 */

#include "na_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>


#define na_countof(a)  (sizeof(a) / sizeof((a)[0]))

typedef enum {
    NA_INFO = 0,
    NA_WARNING,
    NA_CRITICAL
} na_severity_e;

static const char  *na_severity_names[] = { "INFO", "WARNING", "CRITICAL" };

/*
 * Each reason's name in events, variables and metrics, and the severity of
 * a verdict that failed for it: CRITICAL for what a forgery or a wrong
 * enclave causes, WARNING for what time, configuration or a client's
 * mistake causes.  A success is INFO whatever its reason says.
 */
static const struct {
    const char                *name;
    na_severity_e              severity;
} na_reason_names[NITRO_ATTEST_REASON_COUNT] = {
    { "",                      NA_WARNING },    /* not a success: NONE */
    { "no_certificate",        NA_WARNING },
    { "no_extension",          NA_WARNING },
    { "malformed_extension",   NA_WARNING },
    { "malformed_document",    NA_WARNING },
    { "unsupported_algorithm", NA_WARNING },
    { "bad_signature",         NA_CRITICAL },
    { "untrusted_root",        NA_CRITICAL },
    { "chain_invalid",         NA_CRITICAL },
    { "certificate_expired",   NA_WARNING },
    { "stale",                 NA_WARNING },
    { "future",                NA_WARNING },
    { "debug_enclave",         NA_CRITICAL },
    { "denied",                NA_CRITICAL },
    { "pcr_mismatch",          NA_CRITICAL },
    { "binding_mismatch",      NA_CRITICAL },
    { "key_not_proven",        NA_CRITICAL },
    { "rollback",              NA_CRITICAL },
    { "internal_error",        NA_WARNING },
    { "expired",               NA_WARNING }
};

static const char  *na_status_names[] = { "NONE", "SUCCESS", "FAILED" };

/* NONE has no name: a verdict without a binding renders it as null */
static const char  *na_binding_names[] = {
    NULL, "public_key", "user_data_spki", "user_data_sha256",
    "user_data_sha384"
};

static const char  *na_kind_names[] = { "enclave", "nitrotpm" };

static const char  *na_format_names[] = { "cmw", "raw" };

static const char  *na_cache_names[] = { "off", "miss", "hit" };


static int na_name_index(const char **names, size_t n, const char *name);


const char *
nitro_attest_reason_name(nitro_attest_reason_e reason)
{
    return (unsigned) reason < NITRO_ATTEST_REASON_COUNT
           ? na_reason_names[reason].name : "internal_error";
}


const char *
nitro_attest_severity(const nitro_attest_verdict_t *v)
{
    if (v->status == NITRO_ATTEST_STATUS_SUCCESS) {
        return na_severity_names[NA_INFO];
    }

    return nitro_attest_reason_severity(v->reason);
}


const char *
nitro_attest_reason_severity(nitro_attest_reason_e reason)
{
    na_severity_e  severity;

    severity = (unsigned) reason < NITRO_ATTEST_REASON_COUNT
               ? na_reason_names[reason].severity : NA_WARNING;

    return na_severity_names[severity];
}


const char *
nitro_attest_status_name(nitro_attest_status_e status)
{
    return (unsigned) status < na_countof(na_status_names)
           ? na_status_names[status] : "NONE";
}


const char *
nitro_attest_binding_name(nitro_attest_binding_e binding)
{
    return (unsigned) binding < na_countof(na_binding_names)
           ? na_binding_names[binding] : NULL;
}


const char *
nitro_attest_kind_name(nitro_attest_kind_e kind)
{
    return (unsigned) kind < na_countof(na_kind_names)
           ? na_kind_names[kind] : NULL;
}


const char *
nitro_attest_cache_name(nitro_attest_cache_e cache)
{
    return (unsigned) cache < na_countof(na_cache_names)
           ? na_cache_names[cache] : na_cache_names[NITRO_ATTEST_CACHE_OFF];
}


int
nitro_attest_binding_parse(const char *name, nitro_attest_binding_e *out)
{
    int  i;

    i = na_name_index(na_binding_names, na_countof(na_binding_names), name);
    if (i < 0) {
        return -1;
    }

    *out = (nitro_attest_binding_e) i;
    return 0;
}


int
nitro_attest_kind_parse(const char *name, nitro_attest_kind_e *out)
{
    int  i;

    i = na_name_index(na_kind_names, na_countof(na_kind_names), name);
    if (i < 0) {
        return -1;
    }

    *out = (nitro_attest_kind_e) i;
    return 0;
}


int
nitro_attest_format_parse(const char *name, nitro_attest_format_e *out)
{
    int  i;

    i = na_name_index(na_format_names, na_countof(na_format_names), name);
    if (i < 0) {
        return -1;
    }

    *out = (nitro_attest_format_e) i;
    return 0;
}


/* the index of name in a table of n names (NULL: no name), or -1 */
static int
na_name_index(const char **names, size_t n, const char *name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (names[i] != NULL && strcmp(name, names[i]) == 0) {
            return (int) i;
        }
    }

    return -1;
}


/*
 * nginx time syntax: one or more number+unit parts, optionally separated by
 * spaces, units ms s m h d w M y, a bare number meaning seconds.
 */
int64_t
nitro_attest_parse_duration(const char *text)
{
    int64_t      total, n, unit;
    const char  *p;

    total = 0;
    p = text;

    while (*p == ' ') {
        p++;
    }

    if (*p == '\0') {
        return -1;
    }

    while (*p != '\0') {
        if (!isdigit((unsigned char) *p)) {
            return -1;
        }

        for (n = 0; isdigit((unsigned char) *p); p++) {
            if (n > (INT64_MAX / 10 - 9)) {
                return -1;
            }

            n = n * 10 + (*p - '0');
        }

        switch (*p) {
        case 'y': unit = 365LL * 86400000; p++; break;
        case 'M': unit = 30LL * 86400000; p++; break;
        case 'w': unit = 7LL * 86400000; p++; break;
        case 'd': unit = 86400000; p++; break;
        case 'h': unit = 3600000; p++; break;
        case 'm':
            if (p[1] == 's') {
                unit = 1;
                p += 2;
            } else {
                unit = 60000;
                p++;
            }
            break;
        case 's': unit = 1000; p++; break;
        case ' ':
        case '\0': unit = 1000; break;
        default: return -1;
        }

        if (n > (INT64_MAX - total) / unit) {
            return -1;
        }

        total += n * unit;

        while (*p == ' ') {
            p++;
        }
    }

    return total;
}


size_t
nitro_attest_instance_id_len(const char *module_id, size_t len)
{
    size_t  i;

    for (i = len; i >= 4; i--) {
        if (memcmp(module_id + i - 4, "-enc", 4) == 0
            || memcmp(module_id + i - 4, "-tpm", 4) == 0)
        {
            return i - 4;
        }
    }

    return len;
}


int
na_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err != NULL && errlen > 0) {
        va_start(args, fmt);
        vsnprintf(err, errlen, fmt, args);
        va_end(args);
    }

    return -1;
}
