/*
 * test_document.c: the structure of a document (na_document.c): every
 * truncation and many corruptions of real documents are refused, and a
 * cabundle is at most 16 entries, refused before any certificate is
 * parsed.
 */

#include <cbor.h>

#include "unit.h"


/* A document cut anywhere is malformed, never accepted. */
static void
test_truncation(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int     i;
    size_t  n;

    for (i = 0; i < ndocs; i++) {
        for (n = 0; n < docs[i].len; n++) {
            nitro_attest_verify_document(cf, docs[i].data, n, NULL,
                                         docs[i].timestamp, v);
            if (v->reason != NITRO_ATTEST_MALFORMED_DOCUMENT) {
                CHECK(0, "%s cut at %zu: %s", docs[i].name, n,
                      nitro_attest_reason_name(v->reason));
                break;
            }

            CHECK(!(v->flags & NITRO_ATTEST_F_MEASURED), "%s", docs[i].name);
        }
    }
}


/* Any changed byte is refused, and measurements stay empty. */
static void
test_corruption(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    int       i;
    size_t    n;
    uint8_t  *copy;

    for (i = 0; i < ndocs; i += 6) {
        copy = malloc(docs[i].len);

        for (n = 0; n < docs[i].len; n += 13) {
            memcpy(copy, docs[i].data, docs[i].len);
            copy[n] ^= 0x01;

            nitro_attest_verify_document(cf, copy, docs[i].len, NULL,
                                         docs[i].timestamp, v);
            CHECK(v->reason != NITRO_ATTEST_OK,
                  "%s: flipped byte %zu accepted", docs[i].name, n);
            CHECK(!(v->flags & NITRO_ATTEST_F_MEASURED)
                  || v->reason == NITRO_ATTEST_DEBUG_ENCLAVE,
                  "%s: byte %zu: measured after %s", docs[i].name, n,
                  nitro_attest_reason_name(v->reason));
        }

        /* trailing bytes after the COSE array */
        copy = realloc(copy, docs[i].len + 1);
        memcpy(copy, docs[i].data, docs[i].len);
        copy[docs[i].len] = 0x00;
        nitro_attest_verify_document(cf, copy, docs[i].len + 1, NULL,
                                     docs[i].timestamp, v);
        CHECK(v->reason == NITRO_ATTEST_MALFORMED_DOCUMENT, "%s: trailing",
              docs[i].name);

        free(copy);
    }
}


/*
 * d's document with its cabundle made n entries long, its own followed by
 * copies of its last (so the signature no longer holds), or NULL.
 */
static uint8_t *
bundle_variant(const doc_t *d, size_t n, size_t *len)
{
    size_t                    i, k, size;
    uint8_t                  *out, *payload;
    cbor_item_t              *cose, *map, *bundle, *item;
    struct cbor_pair         *pairs;
    struct cbor_load_result   res;

    out = NULL;
    cose = cbor_load(d->data, d->len, &res);
    item = cose ? cbor_array_get(cose, 2) : NULL;
    map = item ? cbor_load(cbor_bytestring_handle(item),
                           cbor_bytestring_length(item), &res)
               : NULL;

    if (item != NULL) {
        cbor_decref(&item);
    }

    if (map == NULL) {
        goto done;
    }

    pairs = cbor_map_handle(map);

    for (k = 0; k < cbor_map_size(map); k++) {
        if (cbor_string_length(pairs[k].key) != 8
            || memcmp(cbor_string_handle(pairs[k].key), "cabundle", 8) != 0)
        {
            continue;
        }

        bundle = cbor_new_definite_array(n);

        for (i = 0; bundle != NULL && i < n; i++) {
            size = cbor_array_size(pairs[k].value);
            item = cbor_array_get(pairs[k].value, i < size ? i : size - 1);
            cbor_array_push(bundle, item);
            cbor_decref(&item);
        }

        cbor_decref(&pairs[k].value);
        pairs[k].value = bundle;
    }

    size = cbor_serialize_alloc(map, &payload, &k);
    item = size ? cbor_build_bytestring(payload, size) : NULL;
    free(payload);

    if (item != NULL && cbor_array_replace(cose, 2, item)) {
        *len = cbor_serialize_alloc(cose, &out, &k);
    }

    if (item != NULL) {
        cbor_decref(&item);
    }

    cbor_decref(&map);

done:

    if (cose != NULL) {
        cbor_decref(&cose);
    }

    return out;
}


/*
 * A cabundle of up to 16 entries is judged as usual; one of 17 is
 * malformed before any certificate of the document is parsed.
 */
static void
test_cabundle_cap(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    size_t          n, len;
    uint8_t        *bytes;
    na_document_t   doc;

    for (n = 15; n <= 17; n++) {
        len = 0;
        bytes = bundle_variant(&docs[0], n, &len);
        CHECK(bytes != NULL, "%zu entries: built", n);
        if (bytes == NULL) {
            continue;
        }

        memset(&doc, 0, sizeof(doc));

        if (n <= NITRO_ATTEST_CABUNDLE_MAX) {
            CHECK(na_document_parse(&doc, cf->root, NULL, bytes, len)
                  == NITRO_ATTEST_OK && doc.cabundle
                  && sk_X509_num(doc.cabundle) == (int) n,
                  "%zu entries: parsed", n);
            nitro_attest_verify_document(cf, bytes, len, NULL,
                                         docs[0].timestamp, v);
            CHECK(v->reason == NITRO_ATTEST_BAD_SIGNATURE,
                  "%zu entries: judged: %s", n,
                  nitro_attest_reason_name(v->reason));

        } else {
            CHECK(na_document_parse(&doc, cf->root, NULL, bytes, len)
                  == NITRO_ATTEST_MALFORMED_DOCUMENT,
                  "%zu entries: malformed", n);
            CHECK(doc.leaf == NULL && doc.cabundle == NULL,
                  "%zu entries: no certificate parsed", n);
            nitro_attest_verify_document(cf, bytes, len, NULL,
                                         docs[0].timestamp, v);
            CHECK(v->reason == NITRO_ATTEST_MALFORMED_DOCUMENT,
                  "%zu entries: %s", n, nitro_attest_reason_name(v->reason));
        }

        na_document_free(&doc);
        free(bytes);
    }
}


void
unit_document(nitro_attest_config_t *cf, nitro_attest_verdict_t *v)
{
    test_truncation(cf, v);
    test_corruption(cf, v);
    test_cabundle_cap(cf, v);
}
