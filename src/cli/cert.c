/*
 * cert.c: `cert`, the enclave side: wraps an attestation document (from a
 * file, or asked of the NSM for the key) in a self-signed client
 * certificate for the key the document attests, and refuses a document
 * that does not attest that key.
 */

#include "cli.h"

#include <stdlib.h>


/* what the options ask for */
typedef struct {
    const char                *doc;        /* a file, or NULL: the NSM */
    const char                *device;
    const char                *server;     /* a server's, for this name */
    nitro_attest_binding_e     binding;
    long                       days;
    uint8_t                   *user_data;
    size_t                     user_data_len;
    uint8_t                   *nonce;
    size_t                     nonce_len;
} cert_args_t;


static int cert_options(cli_opt_t *opts, int nargs, cert_args_t *c);
static int cert_days(const char *text, long *days);
static int cert_document(const cert_args_t *c, EVP_PKEY *key,
    uint8_t **doc, size_t *len);


int
cli_cmd_cert(int argc, char **argv)
{
    int           nargs, rc;
    char        **args, err[512];
    X509         *cert;
    size_t        doc_len;
    uint8_t      *doc;
    EVP_PKEY     *key;
    cert_args_t   c;

    cli_opt_t  opts[] = {
        cli_opt_value("key"), cli_opt_value("doc"), cli_opt_flag("nsm"),
        cli_opt_value("days"), cli_opt_value("out"),
        cli_opt_value("binding"), cli_opt_value("user-data"),
        cli_opt_value("nonce"), cli_opt_value("device"),
        cli_opt_value("server"),
        cli_opt_end
    };

    if (cli_parse("cert", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    free(args);
    key = NULL;
    doc = NULL;
    cert = NULL;

    rc = cert_options(opts, nargs, &c);
    if (rc != CLI_OK) {
        goto done;
    }

    rc = CLI_USAGE;
    key = cli_load_key(cli_opt(opts, "key")->value);
    if (key == NULL) {
        goto done;
    }

    rc = cert_document(&c, key, &doc, &doc_len);
    if (rc != CLI_OK) {
        goto done;
    }

    /* a document that cannot attest this key leaves nothing written */
    rc = CLI_USAGE;
    cert = cli_attested_cert(c.doc ? c.doc : c.device, key, doc, doc_len,
                             c.binding, c.days, c.server, err, sizeof(err));

    if (cert == NULL) {
        cli_error("cert: %s", err);

    } else if (cli_write_pem(cli_opt(opts, "out")->value, cert, NULL) == 0) {
        rc = CLI_OK;
    }

done:

    X509_free(cert);
    EVP_PKEY_free(key);
    free(doc);
    free(c.user_data);
    free(c.nonce);

    return rc;
}


/* CLI_OK, or CLI_USAGE after a message */
static int
cert_options(cli_opt_t *opts, int nargs, cert_args_t *c)
{
    int          nsm;
    const char  *binding;

    c->doc = cli_opt(opts, "doc")->value;
    c->device = cli_nsm_device(cli_opt(opts, "device")->value);
    c->server = cli_opt(opts, "server")->value;
    c->user_data = NULL;
    c->nonce = NULL;
    nsm = cli_opt(opts, "nsm")->count > 0;
    binding = cli_opt(opts, "binding")->value;

    if (nargs != 0 || !cli_opt(opts, "key")->value
        || !cli_opt(opts, "out")->value || (c->doc != NULL) == nsm)
    {
        cli_error("usage: nitro-attest cert --key KEY.pem (--doc DOC | "
                  "--nsm) [OPTIONS] --out CERT.pem");
        return CLI_USAGE;
    }

    if (cli_server_name("cert", c->server) != 0) {
        return CLI_USAGE;
    }

    if (!nsm && (cli_opt(opts, "user-data")->value
                 || cli_opt(opts, "nonce")->value
                 || cli_opt(opts, "device")->value))
    {
        cli_error("cert: --user-data, --nonce and --device ask the NSM: "
                  "they go with --nsm");
        return CLI_USAGE;
    }

    if (cli_key_binding("cert", binding, &c->binding) != 0) {
        return CLI_USAGE;
    }

    if (c->binding != NITRO_ATTEST_BINDING_PUBLIC_KEY
        && cli_opt(opts, "user-data")->value)
    {
        cli_error("cert: --binding %s puts the key in user_data: "
                  "--user-data cannot be given", binding);
        return CLI_USAGE;
    }

    if (cert_days(cli_opt(opts, "days")->value, &c->days) != 0
        || cli_bytes_option("cert", "user-data",
                            cli_opt(opts, "user-data")->value,
                            &c->user_data, &c->user_data_len) != 0
        || cli_bytes_option("cert", "nonce", cli_opt(opts, "nonce")->value,
                            &c->nonce, &c->nonce_len) != 0)
    {
        return CLI_USAGE;
    }

    return CLI_OK;
}


/* --days: 1 when not given */
static int
cert_days(const char *text, long *days)
{
    char  *end;

    *days = 1;

    if (text == NULL) {
        return 0;
    }

    *days = strtol(text, &end, 10);

    if (*end != '\0' || *days < 1 || *days > 3650) {
        cli_error("cert: --days must be 1..3650, not \"%s\"", text);
        return -1;
    }

    return 0;
}


/* the document of --doc, or the NSM's for key: CLI_OK, or the status */
static int
cert_document(const cert_args_t *c, EVP_PKEY *key, uint8_t **doc,
    size_t *len)
{
    int                   rc;
    char                  err[512];
    size_t                data_len;
    uint8_t              *data;
    nitro_attest_bytes_t  user_data, nonce;

    if (c->doc == NULL) {
        user_data.data = c->user_data;
        user_data.len = c->user_data_len;
        nonce.data = c->nonce;
        nonce.len = c->nonce_len;

        rc = cli_nsm_key_document(c->device, key, c->binding, &user_data,
                                  &nonce, doc, len, err, sizeof(err));
        if (rc != CLI_OK) {
            cli_error("cert: %s", err);
        }

        return rc;
    }

    if (cli_read_file(c->doc, &data, &data_len) != 0) {
        return CLI_USAGE;
    }

    rc = CLI_OK;

    if (nitro_attest_decode_text(data, data_len, doc, len) != 0) {
        cli_error("cert: out of memory");
        rc = CLI_USAGE;
    }

    free(data);
    return rc;
}
