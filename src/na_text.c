/*
 * na_text.c: the encodings of the core, one helper each: hex, the
 * base64url of tokens, the hex or base64 of tool input, well-formed UTF-8,
 * JSON strings (written by hand into the caller's memory, or as jansson
 * values), Prometheus label values, RFC 3339 times, and the
 * length-prefixed parts whose digests key the caches.
 *
 * Bytes that are not UTF-8 never reach a JSON text: they become U+FFFD, so
 * a document's text fields cannot break a log line or a token.
 */

#include "na_internal.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>


static const char  na_hex_digits[] = "0123456789abcdef";


static int na_hex_value(int c);


char *
nitro_attest_hex(char *dst, const uint8_t *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        *dst++ = na_hex_digits[src[i] >> 4];
        *dst++ = na_hex_digits[src[i] & 0xf];
    }

    return dst;
}


/*
 * len hex digits of either case into len / 2 bytes at out, which may be
 * hex itself (each byte is written after the digits it comes from are
 * read): 0, or -1 when len is odd or a character is not a hex digit.
 */
int
na_hex_decode(const char *hex, size_t len, uint8_t *out)
{
    int     hi, lo;
    size_t  i;

    if (len % 2 != 0) {
        return -1;
    }

    for (i = 0; i < len; i += 2) {
        hi = na_hex_value((unsigned char) hex[i]);
        lo = na_hex_value((unsigned char) hex[i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i / 2] = (uint8_t) (hi << 4 | lo);
    }

    return 0;
}


static int
na_hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/*
 * base64url without padding (RFC 7515 2) from OpenSSL's base64: "+" and
 * "/" become "-" and "_", the "=" go.  dst holds na_base64url_size(len)
 * bytes; returns the length written (NUL-terminated), 0 when len is too
 * large for the encoder.
 */
size_t
na_base64url(char *dst, const uint8_t *src, size_t len)
{
    int     n;
    char   *p;

    if (len > INT_MAX / 2) {
        return 0;
    }

    n = EVP_EncodeBlock((unsigned char *) dst, src, (int) len);

    while (n > 0 && dst[n - 1] == '=') {
        n--;
    }

    dst[n] = '\0';

    for (p = dst; *p; p++) {
        if (*p == '+') {
            *p = '-';

        } else if (*p == '/') {
            *p = '_';
        }
    }

    return (size_t) n;
}


int
na_sha256_parts(const uint8_t *prefix, size_t prefix_len,
    const na_bytes_t *parts, size_t n, uint8_t *digest)
{
    int          ok;
    size_t       i;
    uint8_t      len[4];
    EVP_MD_CTX  *md;

    md = EVP_MD_CTX_new();
    ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
         && (prefix_len == 0
             || EVP_DigestUpdate(md, prefix, prefix_len) == 1);

    for (i = 0; ok && i < n; i++) {
        len[0] = (uint8_t) (parts[i].len >> 24);
        len[1] = (uint8_t) (parts[i].len >> 16);
        len[2] = (uint8_t) (parts[i].len >> 8);
        len[3] = (uint8_t) parts[i].len;

        ok = EVP_DigestUpdate(md, len, sizeof(len)) == 1
             && EVP_DigestUpdate(md, parts[i].p, parts[i].len) == 1;
    }

    ok = ok && EVP_DigestFinal_ex(md, digest, NULL) == 1;
    EVP_MD_CTX_free(md);

    return ok ? 0 : -1;
}


/*
 * Tool input: hex or base64 text when every byte is such text (whitespace
 * ignored), else the raw bytes.  A COSE document always starts with 0x84 or
 * 0xd2, neither of which is text, so raw input is never misread.
 */
int
nitro_attest_decode_text(const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen)
{
    int       is_hex, is_b64;
    size_t    i, n;
    uint8_t  *text;

    /* decoding shrinks: text is large enough for every outcome */
    text = malloc(len + 4);
    if (text == NULL) {
        return -1;
    }

    is_hex = 1;
    is_b64 = 1;
    n = 0;

    for (i = 0; i < len; i++) {
        if (isspace(in[i])) {
            continue;
        }

        is_hex = is_hex && isxdigit(in[i]);
        is_b64 = is_b64 && (isalnum(in[i])
                           || (in[i] != 0 && strchr("+/=-_", in[i])));
        text[n++] = in[i];
    }

    *out = text;

    if (n > 0 && is_hex && na_hex_decode((char *) text, n, text) == 0) {
        *outlen = n / 2;
        return 0;
    }

    if (n > 0 && is_b64) {
        switch (na_base64_decode(text, n, outlen)) {
        case 0:
            return 0;
        case -1:
            free(text);
            return -1;
        }
    }

    memcpy(text, in, len);
    *outlen = len;
    return 0;
}


int
na_base64_decode(uint8_t *text, size_t n, size_t *len)
{
    int       decoded;
    size_t    i, pad, size;
    uint8_t  *b64;

    size = n + (4 - n % 4) % 4;

    b64 = malloc(size);
    if (b64 == NULL) {
        return -1;
    }

    /* base64url to base64, padded */
    for (i = 0; i < size; i++) {
        b64[i] = i >= n ? '='
                 : text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    }

    /* counted: EVP_DecodeBlock returns padding as zero bytes */
    for (pad = 0; pad < 2 && pad < size && b64[size - 1 - pad] == '='; pad++)
    {
        /* void */
    }

    decoded = EVP_DecodeBlock(text, b64, (int) size);
    free(b64);

    if (decoded < (int) pad) {
        return 1;
    }

    *len = (size_t) decoded - pad;
    return 0;
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


/* Bytes that fit are written; len counts them all, so a short buffer
 * tells the caller the size it needs. */
void
na_out_raw(na_out_t *o, const char *s, size_t n)
{
    if (o->buf != NULL && o->len + n <= o->size) {
        memcpy(o->buf + o->len, s, n);
    }

    o->len += n;
}


/* an object's key, after a comma unless it is the first at its level */
void
na_out_key(na_out_t *o, const char *key)
{
    if (!o->first) {
        na_out_raw(o, ",", 1);
    }

    o->first = 0;
    na_out_text(o, (const uint8_t *) key, strlen(key));
    na_out_raw(o, ":", 1);
}


/* a JSON string: escaped as JSON requires, U+FFFD for what is not UTF-8 */
void
na_out_text(na_out_t *o, const uint8_t *p, size_t n)
{
    char    esc[8];
    size_t  i, k;

    /* the characters JSON escapes with a letter or themselves */
    static const char  *short_escape[] = {
        ['"'] = "\\\"", ['\\'] = "\\\\", ['\b'] = "\\b", ['\f'] = "\\f",
        ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t"
    };

    na_out_raw(o, "\"", 1);

    for (i = 0; i < n; i += k) {
        k = 1;

        if (p[i] < sizeof(short_escape) / sizeof(short_escape[0])
            && short_escape[p[i]] != NULL)
        {
            na_out_raw(o, short_escape[p[i]], 2);
            continue;
        }

        if (p[i] < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = na_hex_digits[p[i] >> 4];
            esc[5] = na_hex_digits[p[i] & 0xf];
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


/* a JSON string of lowercase hex */
void
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


/* a JSON string of standard, padded base64 (RFC 4648 4) */
void
na_out_base64(na_out_t *o, const uint8_t *p, size_t n)
{
    int     len;
    char    buf[65];
    size_t  chunk;

    na_out_raw(o, "\"", 1);

    /* 48 bytes encode to 64 characters without padding: chunks join */
    while (n > 0) {
        chunk = n < 48 ? n : 48;
        len = EVP_EncodeBlock((unsigned char *) buf, p, (int) chunk);
        na_out_raw(o, buf, (size_t) len);
        p += chunk;
        n -= chunk;
    }

    na_out_raw(o, "\"", 1);
}


void
na_out_int(na_out_t *o, int64_t n)
{
    char  buf[24];
    int   len;

    len = snprintf(buf, sizeof(buf), "%lld", (long long) n);
    na_out_raw(o, buf, (size_t) len);
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


json_t *
na_json_base64url(const uint8_t *src, size_t len)
{
    char    *buf;
    json_t  *s;

    buf = malloc(na_base64url_size(len));
    if (buf == NULL) {
        return NULL;
    }

    len = na_base64url(buf, src, len);
    s = json_stringn(buf, len);
    free(buf);

    return s;
}


/*
 * Text the document or a configuration carries, as a JSON string: bytes
 * that are not UTF-8 become U+FFFD, as in the JSON event (jansson
 * refuses them).
 */
json_t *
na_json_text(const uint8_t *p, size_t n)
{
    char    *buf, *q;
    size_t   i, k;
    json_t  *s;

    buf = malloc(3 * n + 1);
    if (buf == NULL) {
        return NULL;
    }

    q = buf;

    for (i = 0; i < n; i += k) {
        k = p[i] < 0x80 ? 1 : na_utf8_len(p + i, n - i);

        if (k == 0) {
            memcpy(q, "\xef\xbf\xbd", 3);
            q += 3;
            k = 1;
            continue;
        }

        memcpy(q, p + i, k);
        q += k;
    }

    s = json_stringn(buf, (size_t) (q - buf));
    free(buf);

    return s;
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
