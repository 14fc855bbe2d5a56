/*
 * na_nsm.c: the Nitro Secure Module (NSM), the device through which an
 * enclave gets attestation documents and reads, extends and locks its
 * PCRs.
 *
 * A request is one CBOR item as AWS's aws-nitro-enclaves-nsm-api encodes
 * its Request enum, serde's externally tagged form: a unit variant is its
 * name as a text ("DescribeNSM"), any other a map of its name to a map of
 * its fields in declaration order.  It goes to the device with the raw
 * ioctl of Linux's NSM driver, which writes the answer, a Response enum in
 * the same form or {"Error": code}, and its length.
 *
 * The answer is untrusted and read through na_cbor.c as strictly as a
 * document: one item and nothing after it, the variant asked for, each
 * field once, of its type and size (fields this code does not know are
 * skipped, as serde skips them), and an attestation document that parses
 * and carries what was asked.
 */

#include "na_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <cbor.h>


/*
 * The raw message of Linux's include/uapi/linux/nsm.h (Linux 6.8 and
 * later), the layout of the iovec pair of AWS's older driver on 64-bit
 * Linux too.  Kernel headers before 6.8 lack the file, so the layout is
 * written here, and checked against the header where there is one.
 */
typedef struct {
    uint64_t                   addr;
    uint64_t                   len;
} na_nsm_iovec_t;

typedef struct {
    na_nsm_iovec_t             request;
    na_nsm_iovec_t             response;   /* len: in the room, out used */
} na_nsm_raw_t;

#define NA_NSM_MAGIC      0x0A
#define NA_NSM_IOCTL_RAW  _IOWR(NA_NSM_MAGIC, 0, na_nsm_raw_t)

#if defined(__has_include)
#if __has_include(<linux/nsm.h>)
#include <linux/nsm.h>

_Static_assert(sizeof(na_nsm_raw_t) == sizeof(struct nsm_raw),
               "struct nsm_raw differs from <linux/nsm.h>");
_Static_assert(offsetof(na_nsm_raw_t, response.addr)
               == offsetof(struct nsm_raw, response.addr)
               && offsetof(na_nsm_raw_t, response.len)
                  == offsetof(struct nsm_raw, response.len)
               && offsetof(na_nsm_raw_t, request.len)
                  == offsetof(struct nsm_raw, request.len),
               "struct nsm_raw differs from <linux/nsm.h>");
_Static_assert(NA_NSM_IOCTL_RAW == NSM_IOCTL_RAW,
               "NSM_IOCTL_RAW differs from <linux/nsm.h>");
_Static_assert(NITRO_ATTEST_NSM_REQUEST_MAX == NSM_REQUEST_MAX_SIZE
               && NITRO_ATTEST_NSM_RESPONSE_MAX == NSM_RESPONSE_MAX_SIZE,
               "the NSM's sizes differ from <linux/nsm.h>");

#endif
#endif


/* the fields of one answer variant, at most */
#define NA_NSM_FIELDS_MAX  8
/* what is quoted of an answer's texts in messages */
#define NA_NSM_NAME_MAX    32

struct nitro_attest_nsm_s {
    int                        fd;
    char                      *path;
    uint8_t                    request[NITRO_ATTEST_NSM_REQUEST_MAX];
    uint8_t                    response[NITRO_ATTEST_NSM_RESPONSE_MAX];
};

/* a request being encoded */
typedef struct {
    uint8_t                   *p;
    size_t                     len;
    size_t                     size;
    int                        full;       /* something did not fit */
} na_nsm_out_t;

/* an answer being read: the encoding of each field asked for */
typedef struct {
    const char                *op;         /* the request's variant */
    const char *const         *names;      /* its fields; NULL: a unit */
    na_bytes_t                 field[NA_NSM_FIELDS_MAX];  /* p NULL: none */
    char                       why[96];    /* why it does not decode */
} na_nsm_answer_t;


static void na_nsm_start(nitro_attest_nsm_t *nsm, na_nsm_out_t *o,
    na_nsm_answer_t *a, const char *variant, size_t fields,
    const char *const *names);
static void na_nsm_put(na_nsm_out_t *o, size_t n);
static void na_nsm_put_text(na_nsm_out_t *o, const char *text);
static void na_nsm_put_bytes(na_nsm_out_t *o, const uint8_t *p, size_t len);
static void na_nsm_put_index(na_nsm_out_t *o, uint16_t index);
static nitro_attest_nsm_rc_e na_nsm_call(nitro_attest_nsm_t *nsm,
    const na_nsm_out_t *o, na_nsm_answer_t *a, char *err, size_t errlen);
static nitro_attest_nsm_rc_e na_nsm_read(const uint8_t *p, size_t len,
    na_nsm_answer_t *a, char *code, size_t code_size);
static nitro_attest_nsm_rc_e na_nsm_variant(na_cbor_reader_t *r,
    const na_cbor_item_t *top, na_nsm_answer_t *a, char *code,
    size_t code_size);
static nitro_attest_nsm_rc_e na_nsm_unexpected(na_nsm_answer_t *a,
    const na_cbor_item_t *name, char *buf, size_t size);
static int na_nsm_fields(na_cbor_reader_t *r, const na_cbor_item_t *map,
    na_nsm_answer_t *a);
static int na_nsm_name(const na_cbor_item_t *item, const char *name);
static int na_nsm_quote(char *buf, size_t size, const na_cbor_item_t *item);
static int na_nsm_item(na_nsm_answer_t *a, unsigned i, na_cbor_type_e type,
    na_cbor_item_t *item);
static int na_nsm_uint(na_nsm_answer_t *a, unsigned i, uint64_t max,
    uint64_t *v);
static int na_nsm_pcr_value(na_nsm_answer_t *a, unsigned i,
    nitro_attest_nsm_pcr_t *pcr);
static int na_nsm_locked(na_nsm_answer_t *a, unsigned i,
    nitro_attest_nsm_description_t *d);
static int na_nsm_text(na_nsm_answer_t *a, unsigned i, char *out,
    size_t size);
static int na_nsm_document(na_nsm_answer_t *a, const na_bytes_t *doc,
    const nitro_attest_nsm_attest_t *asked);
static int na_nsm_carries(int present, const na_bytes_t *got,
    const nitro_attest_bytes_t *asked);
static nitro_attest_nsm_rc_e na_nsm_bad(const nitro_attest_nsm_t *nsm,
    const na_nsm_answer_t *a, char *err, size_t errlen);


nitro_attest_nsm_t *
nitro_attest_nsm_open(const char *path, char *err, size_t errlen)
{
    nitro_attest_nsm_t  *nsm;

    if (path == NULL) {
        path = NITRO_ATTEST_NSM_DEVICE;
    }

    nsm = malloc(sizeof(nitro_attest_nsm_t));
    if (nsm == NULL || (nsm->path = strdup(path)) == NULL) {
        na_fail(err, errlen, "%s: out of memory", path);
        free(nsm);
        return NULL;
    }

    nsm->fd = open(path, O_RDWR | O_CLOEXEC);
    if (nsm->fd == -1) {
        na_fail(err, errlen, "%s: %s", path, strerror(errno));
        free(nsm->path);
        free(nsm);
        return NULL;
    }

    return nsm;
}


void
nitro_attest_nsm_close(nitro_attest_nsm_t *nsm)
{
    if (nsm != NULL) {
        (void) close(nsm->fd);
        free(nsm->path);
        free(nsm);
    }
}


nitro_attest_nsm_rc_e
nitro_attest_nsm_describe(nitro_attest_nsm_t *nsm,
    nitro_attest_nsm_description_t *d, char *err, size_t errlen)
{
    uint64_t               v[4];
    na_nsm_out_t           o;
    na_nsm_answer_t        a;
    nitro_attest_nsm_rc_e  rc;

    static const char *const  names[] = {
        "version_major", "version_minor", "version_patch", "max_pcrs",
        "module_id", "locked_pcrs", "digest", NULL
    };

    memset(d, 0, sizeof(*d));
    na_nsm_start(nsm, &o, &a, "DescribeNSM", 0, names);

    rc = na_nsm_call(nsm, &o, &a, err, errlen);
    if (rc != NITRO_ATTEST_NSM_OK) {
        return rc;
    }

    if (na_nsm_uint(&a, 0, UINT16_MAX, &v[0]) != 0
        || na_nsm_uint(&a, 1, UINT16_MAX, &v[1]) != 0
        || na_nsm_uint(&a, 2, UINT16_MAX, &v[2]) != 0
        || na_nsm_uint(&a, 3, UINT16_MAX, &v[3]) != 0
        || na_nsm_text(&a, 4, d->module_id, sizeof(d->module_id)) != 0
        || na_nsm_text(&a, 6, d->digest, sizeof(d->digest)) != 0)
    {
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    d->version_major = (uint16_t) v[0];
    d->version_minor = (uint16_t) v[1];
    d->version_patch = (uint16_t) v[2];
    d->max_pcrs = (uint16_t) v[3];

    /* serde's names of the digests the NSM's PCR bank may use */
    if (strcmp(d->digest, "SHA256") != 0 && strcmp(d->digest, "SHA384") != 0
        && strcmp(d->digest, "SHA512") != 0)
    {
        na_fail(a.why, sizeof(a.why), "digest %s is not SHA256, SHA384 or "
                "SHA512", d->digest);
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    if (d->module_id[0] == '\0') {
        na_fail(a.why, sizeof(a.why), "module_id is empty");
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    if (na_nsm_locked(&a, 5, d) != 0) {
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    return NITRO_ATTEST_NSM_OK;
}


nitro_attest_nsm_rc_e
nitro_attest_nsm_describe_pcr(nitro_attest_nsm_t *nsm, uint16_t index,
    nitro_attest_nsm_pcr_t *pcr, char *err, size_t errlen)
{
    na_nsm_out_t           o;
    na_cbor_item_t         lock;
    na_nsm_answer_t        a;
    nitro_attest_nsm_rc_e  rc;

    static const char *const  names[] = { "lock", "data", NULL };

    memset(pcr, 0, sizeof(*pcr));
    na_nsm_start(nsm, &o, &a, "DescribePCR", 1, names);
    na_nsm_put_text(&o, "index");
    na_nsm_put_index(&o, index);

    rc = na_nsm_call(nsm, &o, &a, err, errlen);
    if (rc != NITRO_ATTEST_NSM_OK) {
        return rc;
    }

    if (na_nsm_item(&a, 0, NA_CBOR_BOOL, &lock) != 0
        || na_nsm_pcr_value(&a, 1, pcr) != 0)
    {
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    pcr->locked = (int) lock.value;

    return NITRO_ATTEST_NSM_OK;
}


nitro_attest_nsm_rc_e
nitro_attest_nsm_extend_pcr(nitro_attest_nsm_t *nsm, uint16_t index,
    const uint8_t *data, size_t len, nitro_attest_nsm_pcr_t *pcr, char *err,
    size_t errlen)
{
    na_nsm_out_t           o;
    na_nsm_answer_t        a;
    nitro_attest_nsm_rc_e  rc;

    static const char *const  names[] = { "data", NULL };

    memset(pcr, 0, sizeof(*pcr));
    na_nsm_start(nsm, &o, &a, "ExtendPCR", 2, names);
    na_nsm_put_text(&o, "index");
    na_nsm_put_index(&o, index);
    na_nsm_put_text(&o, "data");
    na_nsm_put_bytes(&o, data, len);

    rc = na_nsm_call(nsm, &o, &a, err, errlen);
    if (rc != NITRO_ATTEST_NSM_OK) {
        return rc;
    }

    /* a PCR that could be extended is not locked */
    if (na_nsm_pcr_value(&a, 0, pcr) != 0) {
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    return NITRO_ATTEST_NSM_OK;
}


nitro_attest_nsm_rc_e
nitro_attest_nsm_lock_pcr(nitro_attest_nsm_t *nsm, uint16_t index, char *err,
    size_t errlen)
{
    na_nsm_out_t     o;
    na_nsm_answer_t  a;

    na_nsm_start(nsm, &o, &a, "LockPCR", 1, NULL);
    na_nsm_put_text(&o, "index");
    na_nsm_put_index(&o, index);

    return na_nsm_call(nsm, &o, &a, err, errlen);
}


nitro_attest_nsm_rc_e
nitro_attest_nsm_attest(nitro_attest_nsm_t *nsm,
    const nitro_attest_nsm_attest_t *asked, uint8_t **doc, size_t *len,
    char *err, size_t errlen)
{
    na_bytes_t             got;
    na_nsm_out_t           o;
    na_cbor_item_t         item;
    na_nsm_answer_t        a;
    nitro_attest_nsm_rc_e  rc;

    static const char *const  names[] = { "document", NULL };

    *doc = NULL;
    *len = 0;

    na_nsm_start(nsm, &o, &a, "Attestation", 3, names);
    na_nsm_put_text(&o, "user_data");
    na_nsm_put_bytes(&o, asked->user_data.data, asked->user_data.len);
    na_nsm_put_text(&o, "nonce");
    na_nsm_put_bytes(&o, asked->nonce.data, asked->nonce.len);
    na_nsm_put_text(&o, "public_key");
    na_nsm_put_bytes(&o, asked->public_key.data, asked->public_key.len);

    rc = na_nsm_call(nsm, &o, &a, err, errlen);
    if (rc != NITRO_ATTEST_NSM_OK) {
        return rc;
    }

    if (na_nsm_item(&a, 0, NA_CBOR_BYTES, &item) != 0) {
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    got.p = item.data;
    got.len = item.len;

    if (na_nsm_document(&a, &got, asked) != 0) {
        return na_nsm_bad(nsm, &a, err, errlen);
    }

    *doc = malloc(got.len);
    if (*doc == NULL) {
        na_fail(err, errlen, "%s: out of memory", nsm->path);
        return NITRO_ATTEST_NSM_SYSTEM;
    }

    memcpy(*doc, got.p, got.len);
    *len = got.len;

    return NITRO_ATTEST_NSM_OK;
}


/*
 * A request's variant into the handle's request buffer: its name alone
 * for a unit variant (fields 0 and nothing follows), else a map of one
 * entry, the name, to a map of fields entries, which the caller puts.
 * The answer is to be the same variant with the fields names (NULL: a
 * unit variant).
 */
static void
na_nsm_start(nitro_attest_nsm_t *nsm, na_nsm_out_t *o, na_nsm_answer_t *a,
    const char *variant, size_t fields, const char *const *names)
{
    memset(a, 0, sizeof(*a));
    a->op = variant;
    a->names = names;

    o->p = nsm->request;
    o->len = 0;
    o->size = sizeof(nsm->request);
    o->full = 0;

    if (fields == 0) {
        na_nsm_put_text(o, variant);
        return;
    }

    na_nsm_put(o, cbor_encode_map_start(1, o->p, o->size));
    na_nsm_put_text(o, variant);
    na_nsm_put(o, cbor_encode_map_start(fields, o->p + o->len,
                                        o->size - o->len));
}


/* n bytes an encoder wrote; 0 means they did not fit */
static void
na_nsm_put(na_nsm_out_t *o, size_t n)
{
    if (n == 0) {
        o->full = 1;
    }

    o->len += n;
}


static void
na_nsm_put_text(na_nsm_out_t *o, const char *text)
{
    size_t  n;

    n = strlen(text);
    na_nsm_put(o, cbor_encode_string_start(n, o->p + o->len,
                                           o->size - o->len));

    if (o->full || n > o->size - o->len) {
        o->full = 1;
        return;
    }

    memcpy(o->p + o->len, text, n);
    o->len += n;
}


/* a byte string, or null when p is NULL (an absent Option) */
static void
na_nsm_put_bytes(na_nsm_out_t *o, const uint8_t *p, size_t len)
{
    if (p == NULL) {
        na_nsm_put(o, cbor_encode_null(o->p + o->len, o->size - o->len));
        return;
    }

    na_nsm_put(o, cbor_encode_bytestring_start(len, o->p + o->len,
                                               o->size - o->len));

    if (o->full || len > o->size - o->len) {
        o->full = 1;
        return;
    }

    if (len > 0) {
        memcpy(o->p + o->len, p, len);
    }

    o->len += len;
}


static void
na_nsm_put_index(na_nsm_out_t *o, uint16_t index)
{
    na_nsm_put(o, cbor_encode_uint(index, o->p + o->len, o->size - o->len));
}


/*
 * The request to the device and its answer read into a: OK with the
 * fields of the variant asked for found, or the message in err.
 */
static nitro_attest_nsm_rc_e
na_nsm_call(nitro_attest_nsm_t *nsm, const na_nsm_out_t *o,
    na_nsm_answer_t *a, char *err, size_t errlen)
{
    char                   code[NA_NSM_NAME_MAX + 1];
    na_nsm_raw_t           raw;
    nitro_attest_nsm_rc_e  rc;

    if (o->full) {
        na_fail(err, errlen, "%s: the request is larger than the %d bytes "
                "the NSM takes", nsm->path, NITRO_ATTEST_NSM_REQUEST_MAX);
        return NITRO_ATTEST_NSM_TOO_LARGE;
    }

    memset(&raw, 0, sizeof(raw));
    raw.request.addr = (uintptr_t) o->p;
    raw.request.len = o->len;
    raw.response.addr = (uintptr_t) nsm->response;
    raw.response.len = sizeof(nsm->response);

    if (ioctl(nsm->fd, NA_NSM_IOCTL_RAW, &raw) != 0) {
        na_fail(err, errlen, "%s: %s: %s", nsm->path, a->op,
                strerror(errno));
        return NITRO_ATTEST_NSM_SYSTEM;
    }

    /* the driver's length, trusted no more than the bytes */
    if (raw.response.len > sizeof(nsm->response)) {
        na_fail(a->why, sizeof(a->why), "its length, %llu, is beyond the "
                "%d bytes given", (unsigned long long) raw.response.len,
                NITRO_ATTEST_NSM_RESPONSE_MAX);
        return na_nsm_bad(nsm, a, err, errlen);
    }

    rc = na_nsm_read(nsm->response, (size_t) raw.response.len, a, code,
                     sizeof(code));

    switch (rc) {

    case NITRO_ATTEST_NSM_REFUSED:
        na_fail(err, errlen, "%s: %s refused: %s", nsm->path, a->op, code);
        return rc;

    case NITRO_ATTEST_NSM_BAD_ANSWER:
        return na_nsm_bad(nsm, a, err, errlen);

    default:
        return rc;
    }
}


/*
 * The answer: {"Error": code} (REFUSED, code copied), the variant asked
 * for with each of its fields found (OK), or BAD_ANSWER and why.
 */
static nitro_attest_nsm_rc_e
na_nsm_read(const uint8_t *p, size_t len, na_nsm_answer_t *a, char *code,
    size_t code_size)
{
    na_cbor_item_t         top;
    na_cbor_reader_t       r;
    nitro_attest_nsm_rc_e  rc;

    if (len == 0) {
        na_fail(a->why, sizeof(a->why), "empty");
        return NITRO_ATTEST_NSM_BAD_ANSWER;
    }

    na_cbor_init(&r, p, len);

    if (na_cbor_next(&r, &top) != 0) {
        na_fail(a->why, sizeof(a->why), "not well-formed CBOR");
        return NITRO_ATTEST_NSM_BAD_ANSWER;
    }

    if (top.type == NA_CBOR_TEXT) {
        /* a unit variant: the name alone */
        rc = (a->names == NULL && na_nsm_name(&top, a->op))
             ? NITRO_ATTEST_NSM_OK
             : na_nsm_unexpected(a, &top, code, code_size);

    } else if (top.type == NA_CBOR_MAP
               && (top.indefinite || top.value == 1))
    {
        rc = na_nsm_variant(&r, &top, a, code, code_size);

    } else {
        na_fail(a->why, sizeof(a->why), "not one variant of a Response");
        rc = NITRO_ATTEST_NSM_BAD_ANSWER;
    }

    if (rc != NITRO_ATTEST_NSM_BAD_ANSWER && r.pos != r.end) {
        na_fail(a->why, sizeof(a->why), "bytes after the answer");
        rc = NITRO_ATTEST_NSM_BAD_ANSWER;
    }

    return rc;
}


/* {name: value}, the one entry of the map top */
static nitro_attest_nsm_rc_e
na_nsm_variant(na_cbor_reader_t *r, const na_cbor_item_t *top,
    na_nsm_answer_t *a, char *code, size_t code_size)
{
    uint64_t               left;
    na_cbor_item_t         name, value;
    nitro_attest_nsm_rc_e  rc;

    left = top->value;

    if (na_cbor_more(r, top, &left) != 1 || na_cbor_next(r, &name) != 0
        || na_cbor_next(r, &value) != 0)
    {
        na_fail(a->why, sizeof(a->why), "not well-formed CBOR");
        return NITRO_ATTEST_NSM_BAD_ANSWER;
    }

    if (name.type != NA_CBOR_TEXT) {
        na_fail(a->why, sizeof(a->why), "not one variant of a Response");
        return NITRO_ATTEST_NSM_BAD_ANSWER;
    }

    if (na_nsm_name(&name, "Error")) {
        if (!na_nsm_quote(code, code_size, &value)) {
            na_fail(a->why, sizeof(a->why), "an Error whose code is not a "
                    "name");
            return NITRO_ATTEST_NSM_BAD_ANSWER;
        }

        rc = NITRO_ATTEST_NSM_REFUSED;

    } else if (a->names == NULL || !na_nsm_name(&name, a->op)) {
        return na_nsm_unexpected(a, &name, code, code_size);

    } else if (value.type != NA_CBOR_MAP) {
        na_fail(a->why, sizeof(a->why), "%s is not a map", a->op);
        return NITRO_ATTEST_NSM_BAD_ANSWER;

    } else if (na_nsm_fields(r, &value, a) != 0) {
        return NITRO_ATTEST_NSM_BAD_ANSWER;

    } else {
        rc = NITRO_ATTEST_NSM_OK;
    }

    switch (na_cbor_more(r, top, &left)) {

    case 0:
        return rc;

    case 1:
        na_fail(a->why, sizeof(a->why), "not one variant of a Response");
        return NITRO_ATTEST_NSM_BAD_ANSWER;

    default:
        na_fail(a->why, sizeof(a->why), "not well-formed CBOR");
        return NITRO_ATTEST_NSM_BAD_ANSWER;
    }
}


/* the variant name is not the one asked for, or not in its form */
static nitro_attest_nsm_rc_e
na_nsm_unexpected(na_nsm_answer_t *a, const na_cbor_item_t *name,
    char *buf, size_t size)
{
    if (na_nsm_name(name, a->op)) {
        na_fail(a->why, sizeof(a->why), "%s in another form", a->op);

    } else if (na_nsm_quote(buf, size, name)) {
        na_fail(a->why, sizeof(a->why), "answered %s", buf);

    } else {
        na_fail(a->why, sizeof(a->why), "answered another variant");
    }

    return NITRO_ATTEST_NSM_BAD_ANSWER;
}


/* where each field of a->names is in map; other fields are skipped */
static int
na_nsm_fields(na_cbor_reader_t *r, const na_cbor_item_t *map,
    na_nsm_answer_t *a)
{
    int             more;
    unsigned        i;
    uint64_t        left;
    const uint8_t  *start;
    na_cbor_item_t  key;

    left = map->value;

    while ((more = na_cbor_more(r, map, &left)) == 1) {
        if (na_cbor_next(r, &key) != 0) {
            na_fail(a->why, sizeof(a->why), "not well-formed CBOR");
            return -1;
        }

        if (key.type != NA_CBOR_TEXT) {
            na_fail(a->why, sizeof(a->why), "a field name is not a text");
            return -1;
        }

        for (i = 0; a->names[i] != NULL; i++) {
            if (na_nsm_name(&key, a->names[i])) {
                break;
            }
        }

        start = r->pos;

        if (na_cbor_skip(r, 2) != 0) {
            na_fail(a->why, sizeof(a->why), "not well-formed CBOR");
            return -1;
        }

        if (a->names[i] == NULL) {
            continue;
        }

        if (a->field[i].p != NULL) {
            na_fail(a->why, sizeof(a->why), "%s twice", a->names[i]);
            return -1;
        }

        a->field[i].p = start;
        a->field[i].len = (size_t) (r->pos - start);
    }

    if (more != 0) {
        na_fail(a->why, sizeof(a->why), "not well-formed CBOR");
        return -1;
    }

    for (i = 0; a->names[i] != NULL; i++) {
        if (a->field[i].p == NULL) {
            na_fail(a->why, sizeof(a->why), "no %s", a->names[i]);
            return -1;
        }
    }

    return 0;
}


/* 1 when item is the text name */
static int
na_nsm_name(const na_cbor_item_t *item, const char *name)
{
    return item->type == NA_CBOR_TEXT && item->len == strlen(name)
           && memcmp(item->data, name, item->len) == 0;
}


/*
 * An answer's text into buf when it is a name that can be quoted in a
 * message (1..NA_NSM_NAME_MAX letters, digits or underscores): 1, or 0.
 */
static int
na_nsm_quote(char *buf, size_t size, const na_cbor_item_t *item)
{
    size_t  i;

    if (item->type != NA_CBOR_TEXT || item->len == 0
        || item->len > NA_NSM_NAME_MAX || item->len >= size)
    {
        return 0;
    }

    for (i = 0; i < item->len; i++) {
        if (!(item->data[i] >= 'a' && item->data[i] <= 'z')
            && !(item->data[i] >= 'A' && item->data[i] <= 'Z')
            && !(item->data[i] >= '0' && item->data[i] <= '9')
            && item->data[i] != '_')
        {
            return 0;
        }
    }

    memcpy(buf, item->data, item->len);
    buf[item->len] = '\0';

    return 1;
}


/* field i, one item of type (an array: its head only): 0, or -1 */
static int
na_nsm_item(na_nsm_answer_t *a, unsigned i, na_cbor_type_e type,
    na_cbor_item_t *item)
{
    na_cbor_reader_t  r;

    static const char  *what[] = {
        [NA_CBOR_UINT] = "an unsigned integer",
        [NA_CBOR_BYTES] = "a byte string",
        [NA_CBOR_TEXT] = "a text",
        [NA_CBOR_ARRAY] = "an array",
        [NA_CBOR_BOOL] = "a boolean",
    };

    na_cbor_init(&r, a->field[i].p, a->field[i].len);

    if (na_cbor_next(&r, item) != 0 || item->type != type
        || (type != NA_CBOR_ARRAY && r.pos != r.end))
    {
        na_fail(a->why, sizeof(a->why), "%s is not %s", a->names[i],
                what[type]);
        return -1;
    }

    return 0;
}


static int
na_nsm_uint(na_nsm_answer_t *a, unsigned i, uint64_t max, uint64_t *v)
{
    na_cbor_item_t  item;

    if (na_nsm_item(a, i, NA_CBOR_UINT, &item) != 0) {
        return -1;
    }

    if (item.value > max) {
        na_fail(a->why, sizeof(a->why), "%s is out of range", a->names[i]);
        return -1;
    }

    *v = item.value;
    return 0;
}


/* a PCR's value: the size of a SHA-256, SHA-384 or SHA-512 digest */
static int
na_nsm_pcr_value(na_nsm_answer_t *a, unsigned i,
    nitro_attest_nsm_pcr_t *pcr)
{
    na_cbor_item_t  item;

    if (na_nsm_item(a, i, NA_CBOR_BYTES, &item) != 0) {
        return -1;
    }

    if (item.len != 32 && item.len != 48 && item.len != 64) {
        na_fail(a->why, sizeof(a->why), "%s is %zu bytes, not 32, 48 or 64",
                a->names[i], item.len);
        return -1;
    }

    memcpy(pcr->value, item.data, item.len);
    pcr->len = item.len;

    return 0;
}


/*
 * locked_pcrs, a set of indexes below max_pcrs, kept ascending: serde
 * reads it into a BTreeSet, whatever the order and repeats it came in.
 */
static int
na_nsm_locked(na_nsm_answer_t *a, unsigned i,
    nitro_attest_nsm_description_t *d)
{
    int               more;
    uint16_t          v;
    unsigned          k;
    uint64_t          left;
    na_cbor_item_t    array, item;
    na_cbor_reader_t  r;

    if (na_nsm_item(a, i, NA_CBOR_ARRAY, &array) != 0) {
        return -1;
    }

    na_cbor_init(&r, a->field[i].p, a->field[i].len);
    (void) na_cbor_next(&r, &array);
    left = array.value;

    while ((more = na_cbor_more(&r, &array, &left)) == 1) {
        if (na_cbor_next(&r, &item) != 0 || item.type != NA_CBOR_UINT
            || item.value >= d->max_pcrs)
        {
            more = -1;
            break;
        }

        v = (uint16_t) item.value;

        for (k = d->nlocked; k > 0 && d->locked[k - 1] > v; k--) {
            /* void */
        }

        if (k > 0 && d->locked[k - 1] == v) {
            continue;
        }

        if (d->nlocked == NITRO_ATTEST_NSM_LOCKED_MAX) {
            more = -1;
            break;
        }

        memmove(&d->locked[k + 1], &d->locked[k],
                (d->nlocked - k) * sizeof(uint16_t));
        d->locked[k] = v;
        d->nlocked++;
    }

    if (more != 0 || r.pos != r.end) {
        na_fail(a->why, sizeof(a->why), "%s is not a set of indexes below "
                "max_pcrs", a->names[i]);
        return -1;
    }

    return 0;
}


/* field i, a text of printable ASCII (module ids, digest names) */
static int
na_nsm_text(na_nsm_answer_t *a, unsigned i, char *out, size_t size)
{
    size_t          k;
    na_cbor_item_t  item;

    if (na_nsm_item(a, i, NA_CBOR_TEXT, &item) != 0) {
        return -1;
    }

    for (k = 0; k < item.len; k++) {
        if (item.data[k] < 0x20 || item.data[k] > 0x7e) {
            break;
        }
    }

    if (k < item.len || item.len >= size) {
        na_fail(a->why, sizeof(a->why), "%s is not a printable text of at "
                "most %zu characters", a->names[i], size - 1);
        return -1;
    }

    memcpy(out, item.data, item.len);
    out[item.len] = '\0';

    return 0;
}


/*
 * The document answered: it parses (its structure: the signature and the
 * chain are a verifier's to judge) and carries what was asked, so that a
 * document for another request is never taken for this one's.
 */
static int
na_nsm_document(na_nsm_answer_t *a, const na_bytes_t *bytes,
    const nitro_attest_nsm_attest_t *asked)
{
    const char            *field;
    na_document_t          doc;
    nitro_attest_reason_e  reason;

    reason = na_document_structure(&doc, bytes->p, bytes->len);
    field = NULL;

    if (reason != NITRO_ATTEST_OK
        && reason != NITRO_ATTEST_UNSUPPORTED_ALGORITHM)
    {
        na_fail(a->why, sizeof(a->why), "the document is %s",
                nitro_attest_reason_name(reason));

    } else if (!na_nsm_carries(doc.has_public_key, &doc.public_key,
                               &asked->public_key))
    {
        field = "public_key";

    } else if (!na_nsm_carries(doc.has_user_data, &doc.user_data,
                               &asked->user_data))
    {
        field = "user_data";

    } else if (!na_nsm_carries(doc.has_nonce, &doc.nonce, &asked->nonce)) {
        field = "nonce";

    } else {
        na_document_free(&doc);
        return 0;
    }

    if (field != NULL) {
        na_fail(a->why, sizeof(a->why), "the document's %s is not the one "
                "asked for", field);
    }

    na_document_free(&doc);
    return -1;
}


/* a field asked for empty or absent may come back either way */
static int
na_nsm_carries(int present, const na_bytes_t *got,
    const nitro_attest_bytes_t *asked)
{
    if (asked->data == NULL || asked->len == 0) {
        return !present || got->len == 0;
    }

    return present && got->len == asked->len
           && memcmp(got->p, asked->data, asked->len) == 0;
}


static nitro_attest_nsm_rc_e
na_nsm_bad(const nitro_attest_nsm_t *nsm, const na_nsm_answer_t *a,
    char *err, size_t errlen)
{
    na_fail(err, errlen, "%s: %s: undecodable answer: %s", nsm->path, a->op,
            a->why);
    return NITRO_ATTEST_NSM_BAD_ANSWER;
}
