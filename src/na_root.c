/*
 * na_root.c: the pinned root, the only trust anchor the chain may end in.
 *
 * The built-in root is AWS Nitro Enclaves Root-G1 (DER SHA-256
 * 641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b), as
 * published in aws-nitro-enclaves-nsm-api docs/attestation_process.md.
 */

#include "na_internal.h"

#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>


static const char  na_aws_root_g1[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL\n"
    "MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD\n"
    "VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4\n"
    "MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL\n"
    "DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG\n"
    "BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb\n"
    "48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE\n"
    "h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF\n"
    "R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC\n"
    "MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW\n"
    "rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N\n"
    "IwLz3/Y=\n"
    "-----END CERTIFICATE-----\n";


static nitro_attest_root_t *na_root_from_bio(BIO *bio, const char *source,
    char *err, size_t errlen);
static int na_root_check(X509 *cert, const char *source, char *err,
    size_t errlen);


/* SHA-256 of the built-in root's DER: whether a pinned file is AWS's */
static const uint8_t  na_aws_root_g1_sha256[32] = {
    0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef,
    0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31,
    0x7e, 0xd7, 0xcd, 0xcc, 0x3c, 0x17, 0x56, 0xe0,
    0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b
};


nitro_attest_root_t *
nitro_attest_root_default(char *err, size_t errlen)
{
    BIO                  *bio;
    nitro_attest_root_t  *root;

    bio = BIO_new_mem_buf(na_aws_root_g1, sizeof(na_aws_root_g1) - 1);
    if (bio == NULL) {
        na_fail(err, errlen, "out of memory");
        return NULL;
    }

    root = na_root_from_bio(bio, "built-in AWS Nitro root", err, errlen);
    BIO_free(bio);

    return root;
}


nitro_attest_root_t *
nitro_attest_root_load(const char *path, char *err, size_t errlen)
{
    BIO                  *bio;
    nitro_attest_root_t  *root;

    bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        na_fail(err, errlen, "cannot open root certificate \"%s\"", path);
        ERR_clear_error();
        return NULL;
    }

    root = na_root_from_bio(bio, path, err, errlen);
    BIO_free(bio);

    return root;
}


int
nitro_attest_root_is_aws(const nitro_attest_root_t *root)
{
    return memcmp(root->fingerprint, na_aws_root_g1_sha256,
                  sizeof(na_aws_root_g1_sha256)) == 0;
}


void
nitro_attest_root_free(nitro_attest_root_t *root)
{
    if (root == NULL) {
        return;
    }

    X509_STORE_free(root->store);
    X509_free(root->cert);
    OPENSSL_free(root->der);
    OPENSSL_free(root);
}


/*
 * Exactly one PEM certificate, a CA; it becomes the store's only anchor.
 * It is decoded once, where the certificates it signs are (na_libctx.c).
 */
static nitro_attest_root_t *
na_root_from_bio(BIO *bio, const char *source, char *err, size_t errlen)
{
    long                  len, extra_len;
    char                 *name;
    unsigned char        *extra;
    nitro_attest_root_t  *root;

    root = OPENSSL_zalloc(sizeof(*root));
    if (root == NULL) {
        na_fail(err, errlen, "out of memory");
        return NULL;
    }

    if (PEM_bytes_read_bio(&root->der, &len, &name, PEM_STRING_X509, bio,
                           NULL, NULL) != 1)
    {
        na_fail(err, errlen, "no PEM certificate in \"%s\"", source);
        goto failed;
    }

    OPENSSL_free(name);

    if (PEM_bytes_read_bio(&extra, &extra_len, &name, PEM_STRING_X509,
                           bio, NULL, NULL) == 1)
    {
        OPENSSL_free(extra);
        OPENSSL_free(name);
        na_fail(err, errlen, "more than one certificate in \"%s\": "
                "pin exactly one root", source);
        goto failed;
    }

    root->der_len = (size_t) len;
    root->cert = nitro_attest_cert_parse(root->der, root->der_len);

    if (root->cert == NULL) {
        na_fail(err, errlen, "the PEM certificate in \"%s\" is not one "
                "DER certificate, exactly (malformed, or bytes after it)",
                source);
        goto failed;
    }

    /* parsed without its key (na_libctx.c): it could verify nothing */
    if (X509_get0_pubkey(root->cert) == NULL) {
        na_fail(err, errlen, "the key of the certificate in \"%s\" is not "
                "of a kind certificates are verified with (EC on P-256, "
                "P-384 or P-521, uncompressed; RSA; RSA-PSS; Ed25519; "
                "Ed448)", source);
        goto failed;
    }

    if (na_root_check(root->cert, source, err, errlen) != 0) {
        goto failed;
    }

    root->store = X509_STORE_new();

    if (root->store == NULL
        || X509_STORE_add_cert(root->store, root->cert) != 1)
    {
        na_fail(err, errlen, "cannot use the certificate in \"%s\"", source);
        goto failed;
    }

    SHA256(root->der, root->der_len, root->fingerprint);
    ERR_clear_error();

    return root;

failed:

    ERR_clear_error();
    nitro_attest_root_free(root);
    return NULL;
}


/*
 * A trust anchor is a root: a CA (basicConstraints CA:TRUE) that issued
 * itself (issuer == subject) and whose signature verifies with its own
 * key.  Pinning a leaf or an intermediate instead would refuse every
 * client (no document's chain ends in it), so it is refused here, with
 * what it is.
 */
static int
na_root_check(X509 *cert, const char *source, char *err, size_t errlen)
{
    int        ok;
    EVP_PKEY  *key;

    if (!(X509_get_extension_flags(cert) & EXFLAG_CA)) {
        return na_fail(err, errlen, "the certificate in \"%s\" is not a CA "
                       "certificate (no basicConstraints CA:TRUE): a leaf "
                       "cannot anchor a chain, pin the self-signed root",
                       source);
    }

    if (X509_NAME_cmp(X509_get_issuer_name(cert),
                      X509_get_subject_name(cert)) != 0)
    {
        return na_fail(err, errlen, "the certificate in \"%s\" is not "
                       "self-signed (its issuer is not its subject): an "
                       "intermediate cannot be pinned, pin the self-signed "
                       "root of its chain", source);
    }

    key = X509_get0_pubkey(cert);
    ok = key != NULL && X509_verify(cert, key) == 1;
    ERR_clear_error();

    if (!ok) {
        return na_fail(err, errlen, "the certificate in \"%s\" names itself "
                       "as its issuer, but its signature does not verify "
                       "with its own key: it is not a self-signed root",
                       source);
    }

    return 0;
}
