/*
 * na_cbor.c: the checked reader every untrusted CBOR byte goes through.
 *
 * It reads one item head at a time with libcbor's streaming decoder, which
 * checks every length against the bytes left (overflow-safe); it never
 * builds a tree and never copies.  Nesting is bounded by the caller's depth.
 */

#include "na_internal.h"

#include <cbor.h>


static void
na_cb_uint8(void *ctx, uint8_t v)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_UINT;
    it->value = v;
}


static void
na_cb_uint16(void *ctx, uint16_t v)
{
    na_cb_uint8(ctx, 0);
    ((na_cbor_item_t *) ctx)->value = v;
}


static void
na_cb_uint32(void *ctx, uint32_t v)
{
    na_cb_uint8(ctx, 0);
    ((na_cbor_item_t *) ctx)->value = v;
}


static void
na_cb_uint64(void *ctx, uint64_t v)
{
    na_cb_uint8(ctx, 0);
    ((na_cbor_item_t *) ctx)->value = v;
}


static void
na_cb_negint8(void *ctx, uint8_t v)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_NEGINT;
    it->value = v;
}


static void
na_cb_negint16(void *ctx, uint16_t v)
{
    na_cb_negint8(ctx, 0);
    ((na_cbor_item_t *) ctx)->value = v;
}


static void
na_cb_negint32(void *ctx, uint32_t v)
{
    na_cb_negint8(ctx, 0);
    ((na_cbor_item_t *) ctx)->value = v;
}


static void
na_cb_negint64(void *ctx, uint64_t v)
{
    na_cb_negint8(ctx, 0);
    ((na_cbor_item_t *) ctx)->value = v;
}


static void
na_cb_bytes(void *ctx, cbor_data data, size_t len)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_BYTES;
    it->data = data;
    it->len = len;
}


static void
na_cb_text(void *ctx, cbor_data data, size_t len)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_TEXT;
    it->data = data;
    it->len = len;
}


static void
na_cb_chunked(void *ctx)
{
    ((na_cbor_item_t *) ctx)->type = NA_CBOR_CHUNKED;
}


static void
na_cb_array(void *ctx, size_t n)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_ARRAY;
    it->value = n;
}


static void
na_cb_indef_array(void *ctx)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_ARRAY;
    it->indefinite = 1;
}


static void
na_cb_map(void *ctx, size_t n)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_MAP;
    it->value = n;
}


static void
na_cb_indef_map(void *ctx)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_MAP;
    it->indefinite = 1;
}


static void
na_cb_tag(void *ctx, uint64_t v)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_TAG;
    it->value = v;
}


static void
na_cb_null(void *ctx)
{
    ((na_cbor_item_t *) ctx)->type = NA_CBOR_NULL;
}


static void
na_cb_simple(void *ctx)
{
    ((na_cbor_item_t *) ctx)->type = NA_CBOR_SIMPLE;
}


static void
na_cb_bool(void *ctx, bool v)
{
    na_cbor_item_t  *it = ctx;

    it->type = NA_CBOR_BOOL;
    it->value = v;
}


static void
na_cb_float(void *ctx, float v)
{
    (void) v;
    na_cb_simple(ctx);
}


static void
na_cb_double(void *ctx, double v)
{
    (void) v;
    na_cb_simple(ctx);
}


static void
na_cb_break(void *ctx)
{
    ((na_cbor_item_t *) ctx)->type = NA_CBOR_BREAK;
}


static const struct cbor_callbacks  na_cbor_callbacks = {
    .uint8 = na_cb_uint8,
    .uint16 = na_cb_uint16,
    .uint32 = na_cb_uint32,
    .uint64 = na_cb_uint64,
    .negint8 = na_cb_negint8,
    .negint16 = na_cb_negint16,
    .negint32 = na_cb_negint32,
    .negint64 = na_cb_negint64,
    .byte_string_start = na_cb_chunked,
    .byte_string = na_cb_bytes,
    .string = na_cb_text,
    .string_start = na_cb_chunked,
    .indef_array_start = na_cb_indef_array,
    .array_start = na_cb_array,
    .indef_map_start = na_cb_indef_map,
    .map_start = na_cb_map,
    .tag = na_cb_tag,
    .float2 = na_cb_float,
    .float4 = na_cb_float,
    .float8 = na_cb_double,
    .undefined = na_cb_simple,
    .null = na_cb_null,
    .boolean = na_cb_bool,
    .indef_break = na_cb_break,
};


void
na_cbor_init(na_cbor_reader_t *r, const uint8_t *p, size_t len)
{
    r->pos = p;
    r->end = p + len;
}


int
na_cbor_next(na_cbor_reader_t *r, na_cbor_item_t *item)
{
    struct cbor_decoder_result  res;

    item->type = NA_CBOR_SIMPLE;
    item->indefinite = 0;
    item->value = 0;
    item->data = NULL;
    item->len = 0;

    if (r->pos >= r->end) {
        return -1;
    }

    /*
     * libcbor 0.8 refuses the one-byte tags 6..20 as "unassigned", among
     * them 18, COSE_Sign1: a one-byte tag head is read here.
     */
    if ((*r->pos & 0xe0) == 0xc0 && (*r->pos & 0x1f) < 24) {
        item->type = NA_CBOR_TAG;
        item->value = *r->pos & 0x1f;
        r->pos++;
        return 0;
    }

    res = cbor_stream_decode(r->pos, (size_t) (r->end - r->pos),
                             &na_cbor_callbacks, item);

    if (res.status != CBOR_DECODER_FINISHED || res.read == 0
        || res.read > (size_t) (r->end - r->pos))
    {
        return -1;
    }

    r->pos += res.read;
    return 0;
}


int
na_cbor_more(na_cbor_reader_t *r, const na_cbor_item_t *container,
    uint64_t *left)
{
    if (!container->indefinite) {
        if (*left == 0) {
            return 0;
        }

        (*left)--;
        return 1;
    }

    if (r->pos >= r->end) {
        return -1;
    }

    if (*r->pos == 0xff) {
        r->pos++;
        return 0;
    }

    return 1;
}


int
na_cbor_skip_contents(na_cbor_reader_t *r, const na_cbor_item_t *item,
    unsigned depth)
{
    uint64_t        left;
    na_cbor_item_t  chunk;
    int             more;

    if (depth >= NA_CBOR_MAX_DEPTH) {
        return -1;
    }

    switch (item->type) {

    case NA_CBOR_TAG:
        return na_cbor_skip(r, depth + 1);

    case NA_CBOR_CHUNKED:
        /* chunks of a definite length, of the same kind, until the break */
        for ( ;; ) {
            if (na_cbor_next(r, &chunk) != 0) {
                return -1;
            }

            if (chunk.type == NA_CBOR_BREAK) {
                return 0;
            }

            if (chunk.type != NA_CBOR_BYTES && chunk.type != NA_CBOR_TEXT) {
                return -1;
            }
        }

    case NA_CBOR_ARRAY:
    case NA_CBOR_MAP:
        left = item->value;

        while ((more = na_cbor_more(r, item, &left)) == 1) {
            if (na_cbor_skip(r, depth + 1) != 0) {
                return -1;
            }

            if (item->type == NA_CBOR_MAP && na_cbor_skip(r, depth + 1) != 0)
            {
                return -1;
            }
        }

        return more;

    case NA_CBOR_BREAK:
        return -1;

    default:
        return 0;
    }
}


int
na_cbor_skip(na_cbor_reader_t *r, unsigned depth)
{
    na_cbor_item_t  item;

    if (na_cbor_next(r, &item) != 0) {
        return -1;
    }

    return na_cbor_skip_contents(r, &item, depth);
}
