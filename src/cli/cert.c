/*
 * cert.c: `cert`, the enclave side: wraps an attestation document (from
 * the NSM or NitroTPM) in a self-signed client certificate for the key the
 * document attests.
 */

#include "cli.h"

#include <stdlib.h>


static int cert_days(const char *text, long *days);


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
    const char  *doc_path;

    cli_opt_t  opts[] = {
        cli_opt_value("key"), cli_opt_value("doc"), cli_opt_value("days"),
        cli_opt_value("out"),
        cli_opt_end
    };

    if (cli_parse("cert", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    free(args);
    doc_path = cli_opt(opts, "doc")->value;

    if (nargs != 0 || !cli_opt(opts, "key")->value || !doc_path
        || !cli_opt(opts, "out")->value)
    {
        cli_error("usage: nitro-attest cert --key KEY.pem --doc DOC "
                  "[--days N] --out CERT.pem");
        return CLI_USAGE;
    }

    if (cert_days(cli_opt(opts, "days")->value, &days) != 0) {
        return CLI_USAGE;
    }

    key = cli_load_key(cli_opt(opts, "key")->value);
    if (key == NULL) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    data = NULL;
    doc = NULL;
    cert = NULL;

    if (cli_read_file(doc_path, &data, &len) != 0) {
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
                  "(malformed_document)", doc_path);
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
