/*
 * mock.c: `mock pki` (a PKI shaped like AWS's: root, regional, zonal and
 * instance CAs) and `mock cert` (a client certificate carrying a document
 * signed under it, as an enclave's NSM or an instance's NitroTPM would
 * return it), for trying the module without an enclave.  The documents
 * come from cli_mock_document(), which the tests' NSM emulator
 * (t/nsm/) answers with too.
 */

#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cbor.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>


#define MOCK_PCRS          16     /* an NSM's; NitroTPM has all 24 */
#define MOCK_PCR_LEN       48     /* SHA-384, the bank nitrotpm_pcrs carry */
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

#define MOCK_CAS       (sizeof(mock_cas) / sizeof(mock_cas[0]))
#define MOCK_INSTANCE  (MOCK_CAS - 1)     /* issues the documents' leaves */

struct cli_mock_pki_s {
    X509                      *cas[MOCK_CAS];
    EVP_PKEY                  *ca_key;      /* the instance CA's */
};

/* what mock cert makes: its options' document, the client key */
typedef struct {
    cli_mock_doc_t             doc;
    uint8_t                   *user_data;
    uint8_t                   *nonce;
    uint8_t                   *spki;        /* the client key's */
    EVP_PKEY                  *client;      /* the document's public_key */
} mock_cert_t;

/* a document being signed: the NSM's per-document leaf and its key */
typedef struct {
    const cli_mock_doc_t      *doc;
    const cli_mock_pki_t      *pki;
    EVP_PKEY                  *leaf_key;
    X509                      *leaf;
} mock_sign_t;


static int mock_ca(const char *dir, size_t i, time_t now, X509 **cert,
    EVP_PKEY **key);
static int mock_write(const char *dir, const char *name, X509 *cert,
    EVP_PKEY *key);
static int mock_cert_options(cli_opt_t *opts, mock_cert_t *m);
static int mock_pcr_options(cli_opt_t *opts, cli_mock_doc_t *doc);
static int mock_fields(cli_opt_t *opts, mock_cert_t *m);
static int mock_client(const char *key_type, mock_cert_t *m);
static void mock_cert_free(mock_cert_t *m);
static int mock_leaf(const char *cmd, mock_sign_t *s);
static cbor_item_t *mock_payload(const mock_sign_t *s);
static cbor_item_t *mock_bundle(const cli_mock_pki_t *pki);
static cbor_item_t *mock_pcrs(const cli_mock_doc_t *doc);
static cbor_item_t *mock_field(const nitro_attest_bytes_t *b);
static uint8_t *mock_sign1(const char *cmd, EVP_PKEY *key,
    const uint8_t *payload, size_t payload_len, size_t *len);
static int mock_es384(EVP_PKEY *key, const uint8_t *tbs, size_t len,
    uint8_t raw[96]);
static uint8_t *mock_array4(cbor_item_t *a, cbor_item_t *b, cbor_item_t *c,
    cbor_item_t *d, size_t *len);
static int mock_map_add(cbor_item_t *map, const char *key,
    cbor_item_t *value);
static int mock_map_put(cbor_item_t *map, cbor_item_t *key,
    cbor_item_t *value);
static int mock_push(cbor_item_t *array, cbor_item_t *item);
static cbor_item_t *mock_der(X509 *cert);
static char *mock_path(const char *dir, const char *name, const char *ext);


int
cli_cmd_mock_pki(int argc, char **argv)
{
    int        nargs, rc;
    char     **args;
    size_t     i;
    time_t     now;
    X509      *cert[MOCK_CAS];
    EVP_PKEY  *key[MOCK_CAS];

    cli_opt_t  opts[] = { cli_opt_end };

    if (cli_parse("mock pki", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    if (nargs != 1) {
        cli_error("usage: nitro-attest mock pki DIR");
        free(args);
        return CLI_USAGE;
    }

    if (mkdir(args[0], 0755) != 0 && errno != EEXIST) {
        cli_error("mock pki: %s: %s", args[0], strerror(errno));
        free(args);
        return CLI_USAGE;
    }

    memset(cert, 0, sizeof(cert));
    memset(key, 0, sizeof(key));
    now = time(NULL);
    rc = CLI_OK;

    for (i = 0; i < MOCK_CAS && rc == CLI_OK; i++) {
        if (mock_ca(args[0], i, now, cert, key) != 0) {
            rc = CLI_USAGE;
        }
    }

    for (i = 0; i < MOCK_CAS; i++) {
        X509_free(cert[i]);
        EVP_PKEY_free(key[i]);
    }

    free(args);

    return rc;
}


/*
 * CA i of mock_cas, P-384, issued by CA i - 1 (the root by itself), into
 * cert[i] and key[i] and written to dir: 0, or -1 after a message.
 */
static int
mock_ca(const char *dir, size_t i, time_t now, X509 **cert, EVP_PKEY **key)
{
    char       bc[64];
    X509      *issuer;
    EVP_PKEY  *issuer_key;

    key[i] = cli_key_generate("p384");
    cert[i] = key[i] ? cli_cert_new(key[i], mock_cas[i].cn, now - 86400,
                                    now + mock_cas[i].days * 86400)
                     : NULL;
    issuer = i ? cert[i - 1] : cert[i];
    issuer_key = i ? key[i - 1] : key[i];

    if (mock_cas[i].path_len >= 0) {
        snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d",
                 mock_cas[i].path_len);
    } else {
        snprintf(bc, sizeof(bc), "critical,CA:TRUE");
    }

    if (cert[i] == NULL
        || X509_set_issuer_name(cert[i], X509_get_subject_name(issuer)) != 1
        || cli_cert_add_ext(cert[i], issuer, NID_basic_constraints, bc) != 0
        || cli_cert_add_ext(cert[i], issuer, NID_key_usage,
                            "critical,digitalSignature,keyCertSign,cRLSign")
           != 0
        || cli_cert_add_ext(cert[i], issuer, NID_subject_key_identifier,
                            "hash") != 0
        || (i && cli_cert_add_ext(cert[i], issuer,
                                  NID_authority_key_identifier,
                                  "keyid:always") != 0)
        || cli_cert_sign(cert[i], issuer_key) != 0)
    {
        cli_error("mock pki: cannot build %s", mock_cas[i].file);
        return -1;
    }

    return mock_write(dir, mock_cas[i].file, cert[i], key[i]);
}


/* dir/name.pem and dir/name.key */
static int
mock_write(const char *dir, const char *name, X509 *cert, EVP_PKEY *key)
{
    int    rc;
    char  *path;

    path = mock_path(dir, name, ".pem");
    rc = path ? cli_write_pem(path, cert, NULL) : -1;
    free(path);

    if (rc != 0) {
        return -1;
    }

    path = mock_path(dir, name, ".key");
    rc = path ? cli_write_pem(path, NULL, key) : -1;
    free(path);

    return rc;
}


int
cli_cmd_mock_cert(int argc, char **argv)
{
    int              nargs, rc;
    char           **args;
    X509            *client_cert;
    size_t           doc_len;
    uint8_t         *doc;
    mock_cert_t      m;
    const char      *dir;
    cli_mock_pki_t  *pki;

    cli_opt_t  opts[] = {
        cli_opt_value("pki"), cli_opt_list("pcr"), cli_opt_value("out-key"),
        cli_opt_value("out-cert"), cli_opt_value("module-id"),
        cli_opt_value("timestamp"), cli_opt_value("user-data"),
        cli_opt_value("nonce"), cli_opt_value("leaf-lifetime"),
        cli_opt_value("key-type"), cli_opt_value("kind"),
        cli_opt_value("server"),
        cli_opt_end
    };

    if (cli_parse("mock cert", argc, argv, opts, &args, &nargs) != 0) {
        cli_opts_free(opts);
        return CLI_USAGE;
    }

    free(args);
    memset(&m, 0, sizeof(m));
    rc = CLI_USAGE;
    doc = NULL;
    pki = NULL;
    client_cert = NULL;
    dir = cli_opt(opts, "pki")->value;

    if (nargs != 0 || dir == NULL || !cli_opt(opts, "out-key")->value
        || !cli_opt(opts, "out-cert")->value)
    {
        cli_error("usage: nitro-attest mock cert --pki DIR [--pcr N=HEX ...] "
                  "--out-key K --out-cert C");
        goto done;
    }

    if (mock_cert_options(opts, &m) != 0
        || cli_server_name("mock cert", cli_opt(opts, "server")->value) != 0
        || (pki = cli_mock_pki_load("mock cert", dir)) == NULL
        || mock_client(cli_opt(opts, "key-type")->value, &m) != 0)
    {
        goto done;
    }

    doc = cli_mock_document("mock cert", pki, &m.doc, &doc_len);
    if (doc == NULL) {
        goto done;
    }

    client_cert = cli_client_cert(m.client, doc, doc_len, m.doc.module_id, 1,
                                  cli_opt(opts, "server")->value);
    if (client_cert == NULL) {
        cli_error("mock cert: cannot build the certificate");
        goto done;
    }

    if (cli_write_pem(cli_opt(opts, "out-key")->value, NULL, m.client) == 0
        && cli_write_pem(cli_opt(opts, "out-cert")->value, client_cert, NULL)
           == 0)
    {
        rc = CLI_OK;
    }

done:

    X509_free(client_cert);
    free(doc);
    cli_mock_pki_free(pki);
    mock_cert_free(&m);
    cli_opts_free(opts);

    return rc;
}


/* what the document says: 0, or -1 after a usage error */
static int
mock_cert_options(cli_opt_t *opts, mock_cert_t *m)
{
    const char      *text;
    cli_mock_doc_t  *doc;

    doc = &m->doc;
    doc->kind = NITRO_ATTEST_KIND_ENCLAVE;
    text = cli_opt(opts, "kind")->value;

    if (text && cli_kind("mock cert", text, &doc->kind) != 0) {
        return -1;
    }

    /* an enclave's module id, or an instance's NitroTPM */
    doc->module_id = cli_opt(opts, "module-id")->value;
    if (doc->module_id == NULL) {
        doc->module_id = (doc->kind == NITRO_ATTEST_KIND_NITROTPM)
                         ? "i-0123456789abcdef0-tpm0000000000000000"
                         : "i-0123456789abcdef0-enc0123456789abcdef";
    }

    doc->ts_ms = cli_now_ms();
    text = cli_opt(opts, "timestamp")->value;

    if (text && cli_parse_time(text, &doc->ts_ms) != 0) {
        cli_error("mock cert: --timestamp is not RFC 3339 or milliseconds");
        return -1;
    }

    /* certificate validity is in whole seconds */
    doc->lifetime_ms = MOCK_LEAF_SECONDS * 1000;
    if (cli_duration("mock cert", "--leaf-lifetime",
                     cli_opt(opts, "leaf-lifetime")->value,
                     &doc->lifetime_ms)
        != 0)
    {
        return -1;
    }

    if (doc->lifetime_ms < 1000 || doc->lifetime_ms % 1000 != 0) {
        cli_error("mock cert: --leaf-lifetime must be whole seconds, at "
                  "least 1s");
        return -1;
    }

    if (mock_fields(opts, m) != 0) {
        return -1;
    }

    return mock_pcr_options(opts, doc);
}


/*
 * --pcr N=HEX, by the policy's PCR rule; the last one of N counts.  The
 * others are 48 zero bytes: 16 PCRs, as a debug enclave, or the 24 of a
 * NitroTPM (its SHA-384 bank).
 */
static int
mock_pcr_options(cli_opt_t *opts, cli_mock_doc_t *doc)
{
    int             i;
    size_t          len;
    unsigned        k, ndefault;
    cli_opt_t      *o;
    unsigned long   index;
    uint8_t         value[NITRO_ATTEST_PCR_MAX_LEN];

    o = cli_opt(opts, "pcr");

    for (i = 0; i < o->count; i++) {
        if (cli_pcr_option("mock cert", o->values[i], doc->kind, &index,
                           value, &len)
            != 0)
        {
            return -1;
        }

        if (doc->kind == NITRO_ATTEST_KIND_NITROTPM && len != MOCK_PCR_LEN) {
            cli_error("mock cert: --pcr: PCR %lu of a nitrotpm document "
                      "must be 96 hex digits (its SHA-384 bank)", index);
            return -1;
        }

        cli_pcrs_set(&doc->pcrs, index, value, len);
    }

    ndefault = (doc->kind == NITRO_ATTEST_KIND_NITROTPM)
               ? NITRO_ATTEST_NITROTPM_PCR_COUNT : MOCK_PCRS;
    memset(value, 0, sizeof(value));

    for (k = 0; k < ndefault; k++) {
        if (!(doc->pcrs.mask & (1u << k))) {
            cli_pcrs_set(&doc->pcrs, k, value, MOCK_PCR_LEN);
        }
    }

    return 0;
}


/* --user-data and --nonce: hex of at most 1024 bytes; absent is null */
static int
mock_fields(cli_opt_t *opts, mock_cert_t *m)
{
    size_t       i;
    const char  *text;

    struct {
        const char            *name;
        uint8_t              **buf;
        nitro_attest_bytes_t  *field;
    } fields[] = {
        { "user-data", &m->user_data, &m->doc.user_data },
        { "nonce", &m->nonce, &m->doc.nonce },
    };

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        text = cli_opt(opts, fields[i].name)->value;
        if (text == NULL) {
            continue;
        }

        if (cli_hex(text, fields[i].buf, &fields[i].field->len) != 0
            || fields[i].field->len > NITRO_ATTEST_FIELD_MAX)
        {
            cli_error("mock cert: --%s must be hex of at most %d bytes",
                      fields[i].name, NITRO_ATTEST_FIELD_MAX);
            return -1;
        }

        fields[i].field->data = *fields[i].buf;
    }

    return 0;
}


/* a fresh client key of key_type, the document's public_key */
static int
mock_client(const char *key_type, mock_cert_t *m)
{
    m->client = cli_key_generate(key_type ? key_type : "p384");

    if (m->client == NULL) {
        if (key_type) {
            cli_error("mock cert: --key-type must be p256, p384, p521, "
                      "rsa2048, rsa4096 or ed25519");
        }

        return -1;
    }

    if (cli_spki(m->client, &m->spki, &m->doc.public_key.len) != 0) {
        cli_error("mock cert: out of memory");
        return -1;
    }

    m->doc.public_key.data = m->spki;
    return 0;
}


static void
mock_cert_free(mock_cert_t *m)
{
    free(m->user_data);
    free(m->nonce);
    OPENSSL_free(m->spki);
    EVP_PKEY_free(m->client);
}


cli_mock_pki_t *
cli_mock_pki_load(const char *cmd, const char *dir)
{
    char            *path;
    size_t           k;
    cli_mock_pki_t  *pki;

    pki = calloc(1, sizeof(cli_mock_pki_t));
    if (pki == NULL) {
        cli_error("%s: out of memory", cmd);
        return NULL;
    }

    for (k = 0; k < MOCK_CAS; k++) {
        path = mock_path(dir, mock_cas[k].file, ".pem");
        pki->cas[k] = path ? cli_load_cert_file(path) : NULL;
        free(path);

        if (pki->cas[k] == NULL) {
            cli_mock_pki_free(pki);
            return NULL;
        }
    }

    path = mock_path(dir, mock_cas[MOCK_INSTANCE].file, ".key");
    pki->ca_key = path ? cli_load_key(path) : NULL;
    free(path);

    if (pki->ca_key == NULL) {
        cli_mock_pki_free(pki);
        return NULL;
    }

    return pki;
}


void
cli_mock_pki_free(cli_mock_pki_t *pki)
{
    size_t  k;

    if (pki == NULL) {
        return;
    }

    for (k = 0; k < MOCK_CAS; k++) {
        X509_free(pki->cas[k]);
    }

    EVP_PKEY_free(pki->ca_key);
    free(pki);
}


/* The COSE_Sign1 the NSM would return, signed by a fresh leaf. */
uint8_t *
cli_mock_document(const char *cmd, const cli_mock_pki_t *pki,
    const cli_mock_doc_t *doc, size_t *len)
{
    size_t        size, payload_len;
    uint8_t      *payload, *out;
    mock_sign_t   s;
    cbor_item_t  *map;

    s.doc = doc;
    s.pki = pki;
    s.leaf = NULL;
    s.leaf_key = cli_key_generate("p384");
    out = NULL;

    if (mock_leaf(cmd, &s) != 0) {
        goto done;
    }

    map = mock_payload(&s);
    if (map == NULL) {
        cli_error("%s: out of memory", cmd);
        goto done;
    }

    payload = NULL;
    payload_len = cbor_serialize_alloc(map, &payload, &size);
    cbor_decref(&map);

    if (payload_len == 0) {
        cli_error("%s: out of memory", cmd);
        goto done;
    }

    out = mock_sign1(cmd, s.leaf_key, payload, payload_len, len);
    free(payload);

done:

    X509_free(s.leaf);
    EVP_PKEY_free(s.leaf_key);

    return out;
}


/* the NSM's per-document leaf, issued by the instance CA */
static int
mock_leaf(const char *cmd, mock_sign_t *s)
{
    X509                  *ca;
    const cli_mock_doc_t  *doc;

    ca = s->pki->cas[MOCK_INSTANCE];
    doc = s->doc;
    s->leaf = s->leaf_key
              ? cli_cert_new(s->leaf_key, doc->module_id,
                             (time_t) (doc->ts_ms / 1000) - 60,
                             (time_t) (doc->ts_ms / 1000
                                       + doc->lifetime_ms / 1000))
              : NULL;

    if (s->leaf == NULL
        || X509_set_issuer_name(s->leaf, X509_get_subject_name(ca)) != 1
        || cli_cert_add_ext(s->leaf, ca, NID_basic_constraints,
                            "critical,CA:FALSE") != 0
        || cli_cert_add_ext(s->leaf, ca, NID_key_usage,
                            "critical,digitalSignature") != 0
        || cli_cert_sign(s->leaf, s->pki->ca_key) != 0)
    {
        cli_error("%s: cannot build the document certificate", cmd);
        return -1;
    }

    return 0;
}


/* the document's map, in the NSM's order; NULL when memory ran out */
static cbor_item_t *
mock_payload(const mock_sign_t *s)
{
    int                    ok;
    cbor_item_t           *map;
    const cli_mock_doc_t  *doc;

    doc = s->doc;

    /* each add takes its value; a failed one (out of memory) fails all */
    map = cbor_new_definite_map(9);
    ok = mock_map_add(map, "module_id", cbor_build_string(doc->module_id));
    ok &= mock_map_add(map, "digest", cbor_build_string("SHA384"));
    ok &= mock_map_add(map, "timestamp",
                       cbor_build_uint64((uint64_t) doc->ts_ms));
    /* nitro-tpm-attest's document differs from the NSM's by this key */
    ok &= mock_map_add(map, doc->kind == NITRO_ATTEST_KIND_NITROTPM
                            ? "nitrotpm_pcrs" : "pcrs", mock_pcrs(doc));
    ok &= mock_map_add(map, "certificate", mock_der(s->leaf));
    ok &= mock_map_add(map, "cabundle", mock_bundle(s->pki));
    ok &= mock_map_add(map, "public_key", mock_field(&doc->public_key));
    ok &= mock_map_add(map, "user_data", mock_field(&doc->user_data));
    ok &= mock_map_add(map, "nonce", mock_field(&doc->nonce));

    if (!ok) {
        if (map != NULL) {
            cbor_decref(&map);
        }

        return NULL;
    }

    return map;
}


/* the CA bundle, root first, as the NSM orders it */
static cbor_item_t *
mock_bundle(const cli_mock_pki_t *pki)
{
    size_t        k;
    cbor_item_t  *bundle;

    bundle = cbor_new_definite_array(MOCK_CAS);

    for (k = 0; bundle != NULL && k < MOCK_CAS; k++) {
        if (!mock_push(bundle, mock_der(pki->cas[k]))) {
            cbor_decref(&bundle);
        }
    }

    return bundle;
}


/* the PCRs the document carries, in index order */
static cbor_item_t *
mock_pcrs(const cli_mock_doc_t *doc)
{
    unsigned      k;
    cbor_item_t  *pcrs;

    pcrs = cbor_new_definite_map(NITRO_ATTEST_PCR_COUNT);

    for (k = 0; pcrs != NULL && k < NITRO_ATTEST_PCR_COUNT; k++) {
        if (!(doc->pcrs.mask & (1u << k))) {
            continue;
        }

        if (!mock_map_put(pcrs, cbor_build_uint8((uint8_t) k),
                          cbor_build_bytestring(doc->pcrs.value[k],
                                                doc->pcrs.len[k])))
        {
            cbor_decref(&pcrs);
        }
    }

    return pcrs;
}


/* public_key, user_data or nonce: a byte string, or null when absent */
static cbor_item_t *
mock_field(const nitro_attest_bytes_t *b)
{
    return b->data ? cbor_build_bytestring(b->data, b->len)
                   : cbor_new_null();
}


/* COSE_Sign1 [protected, {}, payload, signature] of payload, ES384 */
static uint8_t *
mock_sign1(const char *cmd, EVP_PKEY *key, const uint8_t *payload,
    size_t payload_len, size_t *len)
{
    size_t    tbs_len;
    uint8_t  *tbs, *doc, raw[96];

    static const uint8_t  protected_hdr[] = { 0xa1, 0x01, 0x38, 0x22 };

    /* Sig_structure = ["Signature1", protected, h'', payload] */
    tbs = mock_array4(cbor_build_string("Signature1"),
                      cbor_build_bytestring(protected_hdr,
                                            sizeof(protected_hdr)),
                      cbor_build_bytestring(NULL, 0),
                      cbor_build_bytestring(payload, payload_len), &tbs_len);

    if (tbs == NULL || mock_es384(key, tbs, tbs_len, raw) != 0) {
        cli_error("%s: cannot sign the document", cmd);
        free(tbs);
        return NULL;
    }

    free(tbs);

    doc = mock_array4(cbor_build_bytestring(protected_hdr,
                                            sizeof(protected_hdr)),
                      cbor_new_definite_map(0),
                      cbor_build_bytestring(payload, payload_len),
                      cbor_build_bytestring(raw, sizeof(raw)), len);

    if (doc == NULL) {
        cli_error("%s: out of memory", cmd);
    }

    return doc;
}


/* COSE's ES384 signature of tbs: SHA-384 and the raw r || s */
static int
mock_es384(EVP_PKEY *key, const uint8_t *tbs, size_t len, uint8_t raw[96])
{
    int             rc;
    size_t          sig_len;
    EVP_MD_CTX     *md;
    unsigned char  *sig;

    sig = NULL;
    sig_len = 0;
    md = EVP_MD_CTX_new();

    rc = (md != NULL
          && EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) == 1
          && EVP_DigestSign(md, NULL, &sig_len, tbs, len) == 1
          && (sig = OPENSSL_malloc(sig_len)) != NULL
          && EVP_DigestSign(md, sig, &sig_len, tbs, len) == 1
          && nitro_attest_ecdsa_der_to_raw(sig, sig_len, raw, 48) == 0)
         ? 0 : -1;

    EVP_MD_CTX_free(md);
    OPENSSL_free(sig);

    return rc;
}


/* the array [a, b, c, d] serialized (malloc()ed); the items are taken */
static uint8_t *
mock_array4(cbor_item_t *a, cbor_item_t *b, cbor_item_t *c, cbor_item_t *d,
    size_t *len)
{
    int           ok;
    size_t        i, size;
    uint8_t      *out;
    cbor_item_t  *array, *items[4];

    items[0] = a;
    items[1] = b;
    items[2] = c;
    items[3] = d;
    array = cbor_new_definite_array(4);
    ok = 1;

    for (i = 0; i < 4; i++) {
        ok &= mock_push(array, items[i]);
    }

    out = NULL;
    *len = ok ? cbor_serialize_alloc(array, &out, &size) : 0;

    if (array != NULL) {
        cbor_decref(&array);
    }

    if (*len == 0) {
        free(out);
        return NULL;
    }

    return out;
}


/* a text key: value into map; value is taken, even on failure: 1, or 0 */
static int
mock_map_add(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    return mock_map_put(map, cbor_build_string(key), value);
}


/* key: value into map; both are taken, even on failure: 1, or 0 */
static int
mock_map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value)
{
    int  ok;

    ok = map != NULL && key != NULL && value != NULL
         && cbor_map_add(map, (struct cbor_pair) { key, value });

    if (key != NULL) {
        cbor_decref(&key);
    }

    if (value != NULL) {
        cbor_decref(&value);
    }

    return ok;
}


/* item pushed onto array, which takes it, even on failure: 1, or 0 */
static int
mock_push(cbor_item_t *array, cbor_item_t *item)
{
    int  ok;

    ok = array != NULL && item != NULL && cbor_array_push(array, item);

    if (item != NULL) {
        cbor_decref(&item);
    }

    return ok;
}


/* the DER of a certificate as a byte string */
static cbor_item_t *
mock_der(X509 *cert)
{
    int            n;
    cbor_item_t   *item;
    unsigned char *der;

    der = NULL;
    n = i2d_X509(cert, &der);
    item = n > 0 ? cbor_build_bytestring(der, (size_t) n) : NULL;
    OPENSSL_free(der);

    return item;
}


static char *
mock_path(const char *dir, const char *name, const char *ext)
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
