/*
 * na_extension.c: finds the document in a client certificate: the
 * attestation extension (its OID, one only), its CMW record or its raw
 * bytes; and whether a server may let OpenSSL accept that critical
 * extension.
 *
 * Owns the CMW record rules; trusts OpenSSL's X.509 parser for the
 * certificate itself.  Returns pointers into the certificate's storage.
 */

#include "na_internal.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>


#define NA_CMW_EVIDENCE  4


static nitro_attest_reason_e na_cmw_decode(const uint8_t *p, size_t len,
    const uint8_t **doc, size_t *doc_len);


nitro_attest_extension_t *
nitro_attest_extension_new(const char *oid, nitro_attest_format_e format,
    char *err, size_t errlen)
{
    nitro_attest_extension_t  *ext;

    ext = calloc(1, sizeof(*ext));
    if (ext == NULL) {
        na_fail(err, errlen, "out of memory");
        return NULL;
    }

    if (oid == NULL) {
        oid = NITRO_ATTEST_DEFAULT_OID;
    }

    /* numeric dotted form only: names are ambiguous across OpenSSL builds */
    ext->oid = OBJ_txt2obj(oid, 1);
    if (ext->oid == NULL || OBJ_length(ext->oid) == 0) {
        na_fail(err, errlen, "invalid OID \"%s\"", oid);
        ERR_clear_error();
        nitro_attest_extension_free(ext);
        return NULL;
    }

    ext->format = format;
    return ext;
}


void
nitro_attest_extension_free(nitro_attest_extension_t *ext)
{
    if (ext == NULL) {
        return;
    }

    ASN1_OBJECT_free(ext->oid);
    free(ext);
}


/* made on first use; freed when the library is unloaded (nginx dlclose()s
 * its modules on exit and reload) or the process exits */
static ASN1_OBJECT  *na_default_oid;


__attribute__((destructor)) static void
na_extension_unload(void)
{
    ASN1_OBJECT_free(na_default_oid);
    na_default_oid = NULL;
}


const ASN1_OBJECT *
nitro_attest_extension_oid(const nitro_attest_extension_t *ext)
{
    if (ext != NULL) {
        return ext->oid;
    }

    if (na_default_oid == NULL) {
        na_default_oid = OBJ_txt2obj(NITRO_ATTEST_DEFAULT_OID, 1);
    }

    return na_default_oid;
}


nitro_attest_reason_e
nitro_attest_cert_document(const nitro_attest_extension_t *ext, X509 *cert,
    const uint8_t **doc, size_t *len)
{
    int                   i, tag, class;
    long                  inner_len;
    X509_EXTENSION       *x;
    const ASN1_OBJECT    *oid;
    const unsigned char  *p, *end;
    ASN1_OCTET_STRING    *value;

    oid = nitro_attest_extension_oid(ext);
    if (oid == NULL) {
        return NITRO_ATTEST_INTERNAL_ERROR;
    }

    if (cert == NULL) {
        return NITRO_ATTEST_NO_CERTIFICATE;
    }

    i = X509_get_ext_by_OBJ(cert, oid, -1);
    if (i < 0) {
        return NITRO_ATTEST_NO_EXTENSION;
    }

    /* never pick one of several */
    if (X509_get_ext_by_OBJ(cert, oid, i) >= 0) {
        return NITRO_ATTEST_MALFORMED_EXTENSION;
    }

    x = X509_get_ext(cert, i);
    value = X509_EXTENSION_get_data(x);
    p = ASN1_STRING_get0_data(value);
    end = p + ASN1_STRING_length(value);

    /* an empty document is a malformed document, not a bad wrapper */
    if (ext != NULL && ext->format == NITRO_ATTEST_FORMAT_RAW) {
        *doc = p;
        *len = (size_t) (end - p);
        return NITRO_ATTEST_OK;
    }

    /* CMW ::= CHOICE { json UTF8String, cbor OCTET STRING }: cbor only */
    if (ASN1_get_object(&p, &inner_len, &tag, &class, (long) (end - p))
            & 0x80
        || tag != V_ASN1_OCTET_STRING || class != V_ASN1_UNIVERSAL
        || inner_len != end - p)
    {
        ERR_clear_error();
        return NITRO_ATTEST_MALFORMED_EXTENSION;
    }

    return na_cmw_decode(p, (size_t) inner_len, doc, len);
}


/* [ media type, evidence bstr, ?indicator with the evidence bit ] */
static nitro_attest_reason_e
na_cmw_decode(const uint8_t *p, size_t len, const uint8_t **doc,
    size_t *doc_len)
{
    uint64_t          left;
    na_cbor_item_t    array, type, value, ind;
    na_cbor_reader_t  r;

    static const char  media[] = NITRO_ATTEST_CMW_TYPE;

    na_cbor_init(&r, p, len);

    if (na_cbor_next(&r, &array) != 0 || array.type != NA_CBOR_ARRAY
        || array.indefinite || (array.value != 2 && array.value != 3))
    {
        return NITRO_ATTEST_MALFORMED_EXTENSION;
    }

    left = array.value;

    if (na_cbor_next(&r, &type) != 0 || type.type != NA_CBOR_TEXT
        || type.len != sizeof(media) - 1
        || memcmp(type.data, media, type.len) != 0
        || na_cbor_next(&r, &value) != 0 || value.type != NA_CBOR_BYTES)
    {
        return NITRO_ATTEST_MALFORMED_EXTENSION;
    }

    if (left == 3) {
        if (na_cbor_next(&r, &ind) != 0 || ind.type != NA_CBOR_UINT
            || !(ind.value & NA_CMW_EVIDENCE))
        {
            return NITRO_ATTEST_MALFORMED_EXTENSION;
        }
    }

    if (r.pos != r.end) {
        return NITRO_ATTEST_MALFORMED_EXTENSION;
    }

    *doc = value.data;
    *doc_len = value.len;
    return NITRO_ATTEST_OK;
}


/*
 * 1 when the leaf's only unknown critical extension is the attestation one
 * and no other certificate the client sent has any: then, and only then,
 * a TLS server may tell OpenSSL to ignore unknown critical extensions.
 */
int
nitro_attest_only_critical(const nitro_attest_extension_t *ext, X509 *leaf,
    STACK_OF(X509) *untrusted)
{
    int                 i, n, ours;
    X509               *cert;
    X509_EXTENSION     *x;
    const ASN1_OBJECT  *oid;

    oid = nitro_attest_extension_oid(ext);
    ours = 0;
    n = X509_get_ext_count(leaf);

    for (i = 0; i < n; i++) {
        x = X509_get_ext(leaf, i);

        if (!X509_EXTENSION_get_critical(x) || X509_supported_extension(x)) {
            continue;
        }

        if (oid == NULL || OBJ_cmp(X509_EXTENSION_get_object(x), oid) != 0) {
            return 0;
        }

        ours = 1;
    }

    if (!ours) {
        return 0;
    }

    for (i = 0; untrusted && i < sk_X509_num(untrusted); i++) {
        cert = sk_X509_value(untrusted, i);

        if (cert != leaf && (X509_get_extension_flags(cert) & EXFLAG_CRITICAL))
        {
            return 0;
        }
    }

    return 1;
}
