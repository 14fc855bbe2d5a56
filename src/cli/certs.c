/*
 * certs.c: `cert` (the enclave side: wrap an NSM document in a self-signed
 * client certificate) and `mock` (a PKI shaped like AWS's and attested
 * client certificates from it, for trying the module without an enclave).
 */

#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cbor.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>


#define MOCK_PCRS          16     /* an NSM's; NitroTPM has all 24 */
#define MOCK_PCR_LEN       48
#define MOCK_LEAF_SECONDS  (3 * 3600)

/* the mock PKI: root first, each issuing the next; -1: no pathLen */
static const struct {
    const char  *file;
    const char  *cn;
    int          path_len;
    long         days;
} mock_cas[] = {
    { "root", "mock.aws.nitro-enclaves", -1, 30 * 365 },
    { "regional", "regional.mock.aws.nitro-enclaves", 2, 365 },
    { "zonal", "zonal.mock.aws.nitro-enclaves", 1, 180 },
    { "instance", "i-0123456789abcdef0.mock.aws.nitro-enclaves", 0, 90 },
};

#define MOCK_CAS  (sizeof(mock_cas) / sizeof(mock_cas[0]))


static X509 *cert_new(EVP_PKEY *key, const char *cn, time_t not_before,
    time_t not_after);
static int cert_add_ext(X509 *x, X509 *issuer, int nid, const char *value);
static int cert_sign(X509 *x, EVP_PKEY *key);
static EVP_PKEY *key_generate(const char *type);
static int mock_pki(const char *dir);
static int mock_cert(int argc, char **argv);
static uint8_t *mock_document(X509 **cas, EVP_PKEY *leaf_key, X509 *leaf,
    EVP_PKEY *client, const char *module_id, int64_t ts_ms,
    nitro_attest_kind_e kind, cbor_item_t *pcrs, cli_opt_t *opts,
    size_t *len);
static cbor_item_t *mock_hex_field(const char *hex, size_t min,
    size_t max);
static cbor_item_t *mock_hex_pcr(const char *hex, nitro_attest_kind_e kind);
static int es384_raw(const unsigned char *der, size_t der_len,
    uint8_t raw[96]);
static char *path_join(const char *dir, const char *name, const char *ext);


int
cli_cmd_cert(int argc, char **argv)
{
    int          nargs, rc;
    char       **args, module_id[256];
    long         days;
    X509        *cert;
    size_t       len, doc_len;
    int64_t      ts;
    uint8_t     *data, *doc;
    EVP_PKEY    *key;
    const char  *days_text;

    cli_opt_t  opts[] = {
        { "key", 1, 0, NULL, 0, NULL },
        { "doc", 1, 0, NULL, 0, NULL },
        { "days", 1, 0, NULL, 0, NULL },
        { "out", 1, 0, NULL, 0, NULL },
        { NULL, 0, 0, NULL, 0, NULL }
    };

    rc = cli_parse("cert", argc, argv, opts, &args, &nargs);
    if (rc != 0) {
        return cli_parse_exit(rc);
    }

    free(args);

    if (nargs != 0 || !cli_opt(opts, "key")->value
        || !cli_opt(opts, "doc")->value || !cli_opt(opts, "out")->value)
    {
        cli_error("usage: nitro-attest cert --key KEY.pem --doc DOC "
                  "[--days N] --out CERT.pem");
        return CLI_USAGE;
    }

    days = 1;
    days_text = cli_opt(opts, "days")->value;
    if (days_text) {
        char  *end;

        days = strtol(days_text, &end, 10);
        if (*end != '\0' || days < 1 || days > 3650) {
            cli_error("cert: --days must be 1..3650, not \"%s\"", days_text);
            return CLI_USAGE;
        }
    }

    key = cli_load_key(cli_opt(opts, "key")->value);
    if (key == NULL) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    data = NULL;
    doc = NULL;
    cert = NULL;

    if (cli_read_file(cli_opt(opts, "doc")->value, &data, &len) != 0) {
        goto done;
    }

    if (nitro_attest_decode_text(data, len, &doc, &doc_len) != 0) {
        cli_error("cert: out of memory");
        goto done;
    }

    /* wrap only what parses: a broken document would fail every handshake */
    if (nitro_attest_document_peek(doc, doc_len, &ts, module_id,
                                   sizeof(module_id)) != 0)
    {
        cli_error("cert: %s: not an attestation document "
                  "(malformed_document)", cli_opt(opts, "doc")->value);
        goto done;
    }

    cert = cli_client_cert(key, doc, doc_len, module_id, days);
    if (cert == NULL) {
        cli_error("cert: cannot build the certificate");
        goto done;
    }

    if (cli_write_pem(cli_opt(opts, "out")->value, cert, NULL) == 0) {
        rc = CLI_OK;
    }

done:

    X509_free(cert);
    EVP_PKEY_free(key);
    free(doc);
    free(data);

    return rc;
}


int
cli_cmd_mock(int argc, char **argv)
{
    int     nargs, rc;
    char  **args;

    cli_opt_t  opts[] = {
        { NULL, 0, 0, NULL, 0, NULL }
    };

    if (argc >= 1 && strcmp(argv[0], "pki") == 0) {
        rc = cli_parse("mock pki", argc - 1, argv + 1, opts, &args, &nargs);
        if (rc != 0) {
            return cli_parse_exit(rc);
        }

        if (nargs != 1) {
            cli_error("usage: nitro-attest mock pki DIR");
            free(args);
            return CLI_USAGE;
        }

        rc = mock_pki(args[0]);
        free(args);
        return rc;
    }

    if (argc >= 1 && strcmp(argv[0], "cert") == 0) {
        return mock_cert(argc - 1, argv + 1);
    }

    if (argc >= 1 && cli_is_help(argv[0])) {
        (void) cli_help("mock");
        return CLI_OK;
    }

    cli_error("usage: nitro-attest mock pki DIR | mock cert --pki DIR ...");
    return CLI_USAGE;
}


/* root, regional (pathLen 2), zonal (1), instance (0): all P-384 */
static int
mock_pki(const char *dir)
{
    int        rc;
    char      *path;
    size_t     i;
    time_t     now;
    X509      *cert[MOCK_CAS];
    EVP_PKEY  *key[MOCK_CAS];
    char       bc[64];

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("mock pki: %s: %s", dir, strerror(errno));
        return CLI_USAGE;
    }

    memset(cert, 0, sizeof(cert));
    memset(key, 0, sizeof(key));
    now = time(NULL);
    rc = CLI_USAGE;

    for (i = 0; i < MOCK_CAS; i++) {
        key[i] = key_generate("p384");
        cert[i] = key[i] ? cert_new(key[i], mock_cas[i].cn, now - 86400,
                                    now + mock_cas[i].days * 86400)
                         : NULL;

        if (mock_cas[i].path_len >= 0) {
            snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d",
                     mock_cas[i].path_len);
        } else {
            snprintf(bc, sizeof(bc), "critical,CA:TRUE");
        }

        if (cert[i] == NULL
            || X509_set_issuer_name(cert[i], X509_get_subject_name(
                   i ? cert[i - 1] : cert[i])) != 1
            || cert_add_ext(cert[i], i ? cert[i - 1] : cert[i],
                            NID_basic_constraints, bc) != 0
            || cert_add_ext(cert[i], i ? cert[i - 1] : cert[i], NID_key_usage,
                            "critical,digitalSignature,keyCertSign,cRLSign")
               != 0
            || cert_add_ext(cert[i], i ? cert[i - 1] : cert[i],
                            NID_subject_key_identifier, "hash") != 0
            || (i && cert_add_ext(cert[i], cert[i - 1],
                                  NID_authority_key_identifier,
                                  "keyid:always") != 0)
            || cert_sign(cert[i], i ? key[i - 1] : key[i]) != 0)
        {
            cli_error("mock pki: cannot build %s", mock_cas[i].file);
            goto done;
        }

        path = path_join(dir, mock_cas[i].file, ".pem");
        if (path == NULL || cli_write_pem(path, cert[i], NULL) != 0) {
            free(path);
            goto done;
        }

        free(path);
        path = path_join(dir, mock_cas[i].file, ".key");
        if (path == NULL || cli_write_pem(path, NULL, key[i]) != 0) {
            free(path);
            goto done;
        }

        free(path);
    }

    rc = CLI_OK;

done:

    for (i = 0; i < MOCK_CAS; i++) {
        X509_free(cert[i]);
        EVP_PKEY_free(key[i]);
    }

    return rc;
}


static int
mock_cert(int argc, char **argv)
{
    int                   nargs, rc, i, index, npcrs, ndefault;
    char                **args, *path, *end;
    X509                 *cas[MOCK_CAS], *leaf, *client_cert;
    size_t                k, doc_len;
    int64_t               ts_ms, lifetime_ms;
    uint8_t              *doc;
    EVP_PKEY             *ca_key, *leaf_key, *client;
    cbor_item_t          *pcrs, *value;
    const char           *module_id, *key_type;
    nitro_attest_kind_e   kind;

    cli_opt_t  opts[] = {
        { "pki", 1, 0, NULL, 0, NULL },
        { "pcr", 1, 1, NULL, 0, NULL },
        { "out-key", 1, 0, NULL, 0, NULL },
        { "out-cert", 1, 0, NULL, 0, NULL },
        { "module-id", 1, 0, NULL, 0, NULL },
        { "timestamp", 1, 0, NULL, 0, NULL },
        { "user-data", 1, 0, NULL, 0, NULL },
        { "nonce", 1, 0, NULL, 0, NULL },
        { "leaf-lifetime", 1, 0, NULL, 0, NULL },
        { "key-type", 1, 0, NULL, 0, NULL },
        { "kind", 1, 0, NULL, 0, NULL },
        { NULL, 0, 0, NULL, 0, NULL }
    };

    rc = cli_parse("mock cert", argc, argv, opts, &args, &nargs);
    if (rc != 0) {
        return cli_parse_exit(rc);
    }

    free(args);
    rc = CLI_USAGE;
    memset(cas, 0, sizeof(cas));
    ca_key = leaf_key = client = NULL;
    leaf = client_cert = NULL;
    doc = NULL;
    pcrs = NULL;

    if (nargs != 0 || !cli_opt(opts, "pki")->value
        || !cli_opt(opts, "out-key")->value
        || !cli_opt(opts, "out-cert")->value)
    {
        cli_error("usage: nitro-attest mock cert --pki DIR [--pcr N=HEX ...] "
                  "--out-key K --out-cert C");
        goto done;
    }

    kind = NITRO_ATTEST_KIND_ENCLAVE;
    if (cli_opt(opts, "kind")->value
        && nitro_attest_kind_parse(cli_opt(opts, "kind")->value, &kind) != 0)
    {
        cli_error("mock cert: --kind must be enclave or nitrotpm, not \"%s\"",
                  cli_opt(opts, "kind")->value);
        goto done;
    }

    /* an enclave's module id, or an instance's NitroTPM */
    module_id = cli_opt(opts, "module-id")->value;
    if (module_id == NULL) {
        module_id = (kind == NITRO_ATTEST_KIND_NITROTPM)
                    ? "i-0123456789abcdef0-tpm0000000000000000"
                    : "i-0123456789abcdef0-enc0123456789abcdef";
    }

    npcrs = (kind == NITRO_ATTEST_KIND_NITROTPM)
            ? NITRO_ATTEST_NITROTPM_PCR_COUNT : NITRO_ATTEST_PCR_COUNT;
    ndefault = (kind == NITRO_ATTEST_KIND_NITROTPM)
               ? NITRO_ATTEST_NITROTPM_PCR_COUNT : MOCK_PCRS;

    ts_ms = cli_now_ms();
    if (cli_opt(opts, "timestamp")->value
        && cli_parse_time(cli_opt(opts, "timestamp")->value, &ts_ms) != 0)
    {
        cli_error("mock cert: --timestamp is not RFC 3339 or milliseconds");
        goto done;
    }

    /* certificate validity is in whole seconds */
    lifetime_ms = MOCK_LEAF_SECONDS * 1000;
    if (cli_duration("mock cert", "--leaf-lifetime",
                     cli_opt(opts, "leaf-lifetime")->value, &lifetime_ms)
        != 0)
    {
        goto done;
    }

    if (lifetime_ms < 1000 || lifetime_ms % 1000 != 0) {
        cli_error("mock cert: --leaf-lifetime must be whole seconds, at "
                  "least 1s");
        goto done;
    }

    /*
     * 16 zero PCRs of 48 bytes, as a debug enclave, or the 24 of a
     * NitroTPM (its SHA-384 bank); --pcr overrides
     */
    pcrs = cbor_new_definite_map(NITRO_ATTEST_PCR_COUNT);
    {
        uint8_t       zero[MOCK_PCR_LEN] = { 0 };
        cbor_item_t  *given[NITRO_ATTEST_PCR_COUNT] = { NULL };

        for (i = 0; i < cli_opt(opts, "pcr")->count; i++) {
            const char  *spec = cli_opt(opts, "pcr")->values[i];

            index = (int) strtol(spec, &end, 10);
            value = (*end == '=' && end != spec && index >= 0
                     && index < npcrs)
                    ? mock_hex_pcr(end + 1, kind) : NULL;

            if (value == NULL) {
                if (kind == NITRO_ATTEST_KIND_NITROTPM) {
                    cli_error("mock cert: --pcr \"%s\" is not N=HEX (N "
                              "0..23, 96 hex digits: a nitrotpm PCR)", spec);
                } else {
                    cli_error("mock cert: --pcr \"%s\" is not N=HEX (N "
                              "0..31, 64/96/128 hex digits)", spec);
                }

                for (k = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
                    if (given[k]) {
                        cbor_decref(&given[k]);
                    }
                }
                goto done;
            }

            if (given[index]) {
                cbor_decref(&given[index]);
            }
            given[index] = value;
        }

        for (k = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
            if (given[k] == NULL && k >= (size_t) ndefault) {
                continue;
            }

            value = given[k] ? given[k] : cbor_build_bytestring(zero,
                                                                 sizeof(zero));
            if (!cbor_map_add(pcrs, (struct cbor_pair) {
                    .key = cbor_move(cbor_build_uint8((uint8_t) k)),
                    .value = cbor_move(value)
                }))
            {
                cli_error("mock cert: out of memory");
                goto done;
            }
        }
    }

    for (k = 0; k < MOCK_CAS; k++) {
        path = path_join(cli_opt(opts, "pki")->value, mock_cas[k].file,
                         ".pem");
        cas[k] = path ? cli_load_cert_file(path) : NULL;
        free(path);

        if (cas[k] == NULL) {
            goto done;
        }
    }

    path = path_join(cli_opt(opts, "pki")->value, "instance", ".key");
    ca_key = path ? cli_load_key(path) : NULL;
    free(path);

    key_type = cli_opt(opts, "key-type")->value;
    leaf_key = key_generate("p384");
    client = key_generate(key_type ? key_type : "p384");

    if (ca_key == NULL || leaf_key == NULL || client == NULL) {
        if (client == NULL && key_type) {
            cli_error("mock cert: --key-type must be p256, p384, p521, "
                      "rsa2048, rsa4096 or ed25519");
        }
        goto done;
    }

    /* the NSM's per-document leaf, issued by the instance CA */
    leaf = cert_new(leaf_key, module_id, (time_t) (ts_ms / 1000) - 60,
                    (time_t) (ts_ms / 1000 + lifetime_ms / 1000));

    if (leaf == NULL
        || X509_set_issuer_name(leaf, X509_get_subject_name(cas[3])) != 1
        || cert_add_ext(leaf, cas[3], NID_basic_constraints,
                        "critical,CA:FALSE") != 0
        || cert_add_ext(leaf, cas[3], NID_key_usage,
                        "critical,digitalSignature") != 0
        || cert_sign(leaf, ca_key) != 0)
    {
        cli_error("mock cert: cannot build the document certificate");
        goto done;
    }

    doc = mock_document(cas, leaf_key, leaf, client, module_id, ts_ms, kind,
                        pcrs, opts, &doc_len);
    if (doc == NULL) {
        goto done;
    }

    client_cert = cli_client_cert(client, doc, doc_len, module_id, 1);

    if (client_cert == NULL) {
        cli_error("mock cert: cannot build the client certificate");
        goto done;
    }

    if (cli_write_pem(cli_opt(opts, "out-key")->value, NULL, client) == 0
        && cli_write_pem(cli_opt(opts, "out-cert")->value, client_cert, NULL)
           == 0)
    {
        rc = CLI_OK;
    }

done:

    for (k = 0; k < MOCK_CAS; k++) {
        X509_free(cas[k]);
    }

    if (pcrs) {
        cbor_decref(&pcrs);
    }

    free(cli_opt(opts, "pcr")->values);
    X509_free(leaf);
    X509_free(client_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(client);
    free(doc);

    return rc;
}


/* The COSE_Sign1 the NSM would return, signed by the leaf key. */
static uint8_t *
mock_document(X509 **cas, EVP_PKEY *leaf_key, X509 *leaf, EVP_PKEY *client,
    const char *module_id, int64_t ts_ms, nitro_attest_kind_e kind,
    cbor_item_t *pcrs, cli_opt_t *opts, size_t *len)
{
    int             n;
    size_t          k, size, payload_len, sig_len, tbs_len;
    uint8_t        *payload, *tbs, *out, raw[96];
    int             built;
    cbor_item_t    *map, *bundle, *cose, *sig_struct, *item;
    unsigned char  *der, *sig;
    EVP_MD_CTX     *md;

    static const uint8_t  protected_hdr[] = { 0xa1, 0x01, 0x38, 0x22 };

    struct {
        const char   *opt;
        const char   *key;
    } optional[] = {
        { "user-data", "user_data" },
        { "nonce", "nonce" },
    };

    /* a failed add or push (out of memory) fails the document */
    built = 1;
    payload = NULL;
    tbs = NULL;
    map = cbor_new_definite_map(9);
    bundle = cbor_new_definite_array(MOCK_CAS);

    built &= cbor_map_add(map, (struct cbor_pair) {
        cbor_move(cbor_build_string("module_id")),
        cbor_move(cbor_build_string(module_id)) });
    built &= cbor_map_add(map, (struct cbor_pair) {
        cbor_move(cbor_build_string("digest")),
        cbor_move(cbor_build_string("SHA384")) });
    built &= cbor_map_add(map, (struct cbor_pair) {
        cbor_move(cbor_build_string("timestamp")),
        cbor_move(cbor_build_uint64((uint64_t) ts_ms)) });
    /* nitro-tpm-attest's document differs from the NSM's by this key */
    built &= cbor_map_add(map, (struct cbor_pair) {
        cbor_move(cbor_build_string(kind == NITRO_ATTEST_KIND_NITROTPM
                                    ? "nitrotpm_pcrs" : "pcrs")), pcrs });

    der = NULL;
    n = i2d_X509(leaf, &der);
    built &= cbor_map_add(map, (struct cbor_pair) {
        cbor_move(cbor_build_string("certificate")),
        cbor_move(cbor_build_bytestring(der, (size_t) n)) });
    OPENSSL_free(der);

    for (k = 0; k < MOCK_CAS; k++) {
        der = NULL;
        n = i2d_X509(cas[k], &der);
        built &= cbor_array_push(bundle,
                        cbor_move(cbor_build_bytestring(der, (size_t) n)));
        OPENSSL_free(der);
    }

    built &= cbor_map_add(map, (struct cbor_pair) {
        cbor_move(cbor_build_string("cabundle")), cbor_move(bundle) });

    der = NULL;
    n = i2d_PUBKEY(client, &der);
    built &= cbor_map_add(map, (struct cbor_pair) {
        cbor_move(cbor_build_string("public_key")),
        cbor_move(cbor_build_bytestring(der, (size_t) n)) });
    OPENSSL_free(der);

    for (k = 0; k < 2; k++) {
        const char  *hex = cli_opt(opts, optional[k].opt)->value;

        item = hex ? mock_hex_field(hex, 0, NITRO_ATTEST_FIELD_MAX)
                   : cbor_new_null();

        if (item == NULL) {
            cli_error("mock cert: --%s must be hex of at most 1024 bytes",
                      optional[k].opt);
            cbor_decref(&map);
            return NULL;
        }

        built &= cbor_map_add(map, (struct cbor_pair) {
            cbor_move(cbor_build_string(optional[k].key)), cbor_move(item) });
    }

    payload_len = built ? cbor_serialize_alloc(map, &payload, &size) : 0;
    cbor_decref(&map);

    /* Sig_structure = ["Signature1", protected, h'', payload] */
    sig_struct = cbor_new_definite_array(4);
    built &= cbor_array_push(sig_struct,
                             cbor_move(cbor_build_string("Signature1")));
    built &= cbor_array_push(sig_struct, cbor_move(cbor_build_bytestring(
        protected_hdr, sizeof(protected_hdr))));
    built &= cbor_array_push(sig_struct,
                             cbor_move(cbor_build_bytestring(NULL, 0)));
    built &= cbor_array_push(sig_struct, cbor_move(cbor_build_bytestring(
        payload, payload_len)));
    tbs_len = built ? cbor_serialize_alloc(sig_struct, &tbs, &size) : 0;
    cbor_decref(&sig_struct);

    sig = NULL;
    sig_len = 0;
    md = EVP_MD_CTX_new();

    if (payload_len == 0 || tbs_len == 0 || md == NULL
        || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, leaf_key) != 1
        || EVP_DigestSign(md, NULL, &sig_len, tbs, tbs_len) != 1
        || (sig = OPENSSL_malloc(sig_len)) == NULL
        || EVP_DigestSign(md, sig, &sig_len, tbs, tbs_len) != 1
        || es384_raw(sig, sig_len, raw) != 0)
    {
        cli_error("mock cert: cannot sign the document");
        EVP_MD_CTX_free(md);
        OPENSSL_free(sig);
        free(payload);
        free(tbs);
        return NULL;
    }

    EVP_MD_CTX_free(md);
    OPENSSL_free(sig);
    free(tbs);

    cose = cbor_new_definite_array(4);
    built &= cbor_array_push(cose, cbor_move(cbor_build_bytestring(
        protected_hdr, sizeof(protected_hdr))));
    built &= cbor_array_push(cose, cbor_move(cbor_new_definite_map(0)));
    built &= cbor_array_push(cose, cbor_move(cbor_build_bytestring(
        payload, payload_len)));
    built &= cbor_array_push(cose, cbor_move(cbor_build_bytestring(
        raw, sizeof(raw))));
    free(payload);

    *len = built ? cbor_serialize_alloc(cose, &out, &size) : 0;
    cbor_decref(&cose);

    if (*len == 0) {
        cli_error("mock cert: out of memory");
        return NULL;
    }

    return out;
}


/* min..max bytes of hex as a CBOR byte string; NULL otherwise */
static cbor_item_t *
mock_hex_field(const char *hex, size_t min, size_t max)
{
    long          n;
    uint8_t      *b;
    cbor_item_t  *item;

    if (hex[0] == '\0') {
        return min == 0 ? cbor_build_bytestring(NULL, 0) : NULL;
    }

    n = 0;
    b = OPENSSL_hexstr2buf(hex, &n);
    ERR_clear_error();

    item = (b && (size_t) n >= min && (size_t) n <= max)
           ? cbor_build_bytestring(b, (size_t) n) : NULL;
    OPENSSL_free(b);

    return item;
}


/* a PCR value: 32, 48 or 64 bytes of hex; a NitroTPM's, 48 */
static cbor_item_t *
mock_hex_pcr(const char *hex, nitro_attest_kind_e kind)
{
    size_t  n = strlen(hex);

    if (kind == NITRO_ATTEST_KIND_NITROTPM) {
        return n == 96 ? mock_hex_field(hex, 48, 48) : NULL;
    }

    return (n == 64 || n == 96 || n == 128) ? mock_hex_field(hex, 32, 64)
                                            : NULL;
}


/* DER ECDSA-Sig-Value to COSE's fixed 48+48 byte r||s. */
static int
es384_raw(const unsigned char *der, size_t der_len, uint8_t raw[96])
{
    const BIGNUM         *r, *s;
    ECDSA_SIG            *es;
    const unsigned char  *p;

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    if (es == NULL) {
        return -1;
    }

    ECDSA_SIG_get0(es, &r, &s);

    if (BN_bn2binpad(r, raw, 48) != 48 || BN_bn2binpad(s, raw + 48, 48) != 48)
    {
        ECDSA_SIG_free(es);
        return -1;
    }

    ECDSA_SIG_free(es);
    return 0;
}


X509 *
cli_client_cert(EVP_PKEY *key, const uint8_t *doc, size_t len,
    const char *cn, long days)
{
    int                 ok;
    long                der_len;
    time_t              now;
    X509               *x;
    uint8_t            *cbor, *der;
    size_t              cbor_len, size;
    cbor_item_t        *cmw;
    ASN1_OBJECT        *oid;
    ASN1_OCTET_STRING  *inner, *value;
    X509_EXTENSION     *ext;

    now = time(NULL);
    x = cert_new(key, cn, now - 300, now + days * 86400);
    if (x == NULL) {
        return NULL;
    }

    /* CMW record: [media type, document, evidence indicator] */
    cmw = cbor_new_definite_array(3);
    ok = cbor_array_push(cmw,
                         cbor_move(cbor_build_string(NITRO_ATTEST_CMW_TYPE)));
    ok &= cbor_array_push(cmw, cbor_move(cbor_build_bytestring(doc, len)));
    ok &= cbor_array_push(cmw, cbor_move(cbor_build_uint8(4)));
    cbor = NULL;
    cbor_len = ok ? cbor_serialize_alloc(cmw, &cbor, &size) : 0;
    cbor_decref(&cmw);

    /* extnValue = DER of CMW's cbor choice, an OCTET STRING */
    inner = ASN1_OCTET_STRING_new();
    value = ASN1_OCTET_STRING_new();
    oid = OBJ_txt2obj(NITRO_ATTEST_DEFAULT_OID, 1);
    der = NULL;
    ext = NULL;

    ok = cbor_len > 0 && inner && value && oid
         && ASN1_OCTET_STRING_set(inner, cbor, (int) cbor_len) == 1
         && (der_len = i2d_ASN1_OCTET_STRING(inner, &der)) > 0
         && ASN1_OCTET_STRING_set(value, der, (int) der_len) == 1
         && (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value)) != NULL
         && X509_set_issuer_name(x, X509_get_subject_name(x)) == 1
         && X509_add_ext(x, ext, -1) == 1
         && cert_add_ext(x, x, NID_basic_constraints, "critical,CA:FALSE")
            == 0
         && cert_add_ext(x, x, NID_ext_key_usage, "clientAuth") == 0
         && cert_sign(x, key) == 0;

    free(cbor);
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(oid);
    X509_EXTENSION_free(ext);

    if (!ok) {
        X509_free(x);
        ERR_clear_error();
        return NULL;
    }

    return x;
}


/* A v3 certificate for key with a random serial; issuer set by caller. */
static X509 *
cert_new(EVP_PKEY *key, const char *cn, time_t not_before, time_t not_after)
{
    X509          *x;
    BIGNUM        *serial;
    X509_NAME     *name;
    unsigned char  rnd[16];

    x = X509_new();
    serial = BN_new();
    name = X509_NAME_new();

    if (x == NULL || serial == NULL || name == NULL
        || RAND_bytes(rnd, sizeof(rnd)) != 1)
    {
        goto failed;
    }

    rnd[0] &= 0x7f;

    if (X509_set_version(x, X509_VERSION_3) != 1
        || BN_bin2bn(rnd, sizeof(rnd), serial) == NULL
        || BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL
        || X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &not_before) == NULL
        || X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &not_after) == NULL
        || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                      (const unsigned char *) cn, -1, -1, 0)
           != 1
        || X509_set_subject_name(x, name) != 1
        || X509_set_pubkey(x, key) != 1)
    {
        goto failed;
    }

    BN_free(serial);
    X509_NAME_free(name);
    return x;

failed:

    X509_free(x);
    BN_free(serial);
    X509_NAME_free(name);
    ERR_clear_error();
    return NULL;
}


static int
cert_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);

    if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
        X509_EXTENSION_free(ext);
        ERR_clear_error();
        return -1;
    }

    X509_EXTENSION_free(ext);
    return 0;
}


static int
cert_sign(X509 *x, EVP_PKEY *key)
{
    if (X509_sign(x, key, cli_sign_md(key)) <= 0) {
        ERR_clear_error();
        return -1;
    }

    return 0;
}


const EVP_MD *
cli_sign_md(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        return NULL;
    case EVP_PKEY_EC:
        return EVP_sha384();
    default:
        return EVP_sha256();
    }
}


static EVP_PKEY *
key_generate(const char *type)
{
    EVP_PKEY  *key;

    if (strcmp(type, "p384") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    } else if (strcmp(type, "p256") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else if (strcmp(type, "p521") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    } else if (strcmp(type, "rsa2048") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    } else if (strcmp(type, "rsa4096") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
    } else if (strcmp(type, "ed25519") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else {
        key = NULL;
    }

    ERR_clear_error();
    return key;
}


EVP_PKEY *
cli_load_key(const char *path)
{
    BIO       *bio;
    EVP_PKEY  *key;

    bio = BIO_new_file(path, "r");
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();

    if (key == NULL) {
        cli_error("%s: not a readable PEM private key", path);
    }

    return key;
}


/* Writes a certificate or a private key (mode 0600) as PEM. */
int
cli_write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    int    ok;
    FILE  *f;
    mode_t old;

    old = umask(key ? 077 : 022);
    f = fopen(path, "w");
    umask(old);

    if (f == NULL) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }

    ok = cert ? PEM_write_X509(f, cert)
              : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);

    if (fclose(f) != 0 || !ok) {
        cli_error("%s: cannot write", path);
        ERR_clear_error();
        return -1;
    }

    return 0;
}


static char *
path_join(const char *dir, const char *name, const char *ext)
{
    char    *path;
    size_t   n;

    n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    path = malloc(n);

    if (path != NULL) {
        snprintf(path, n, "%s/%s%s", dir, name, ext);
    }

    return path;
}
