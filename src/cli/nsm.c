/*
 * nsm.c: `nsm attest|describe|pcr|extend|lock`, the enclave's Nitro Secure
 * Module from the command line: attestation documents, and the PCRs read,
 * extended and locked, through the core's NSM client.  A missing device, a
 * failed ioctl, an answer that does not decode or an NSM error exit 1 with
 * one line naming the device; PCR indexes are the NSM's to judge.
 */

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>


/* what nsm attest asks for, and the buffers it is in */
typedef struct {
    nitro_attest_nsm_attest_t  a;
    uint8_t                   *spki;        /* OPENSSL_malloc()ed */
    uint8_t                   *user_data;
    uint8_t                   *nonce;
} nsm_asked_t;

typedef enum {
    NSM_PCR_READ,
    NSM_PCR_EXTEND,
    NSM_PCR_LOCK
} nsm_pcr_op_e;


static int nsm_asked(cli_opt_t *opts, nsm_asked_t *q);
static int nsm_public_key(const char *path, uint8_t **der, size_t *len);
static int nsm_write(const char *cmd, const char *path, const uint8_t *doc,
    size_t len);
static int nsm_pcr_command(const char *cmd, nsm_pcr_op_e op, int argc,
    char **argv, cli_opt_t *opts);
static int nsm_index(const char *cmd, int nargs, char **args,
    uint16_t *index);
static int nsm_pcr_op(const char *cmd, nitro_attest_nsm_t *nsm,
    nsm_pcr_op_e op, uint16_t index, cli_opt_t *opts);
static int nsm_print(json_t *obj);


int
cli_cmd_nsm_attest(int argc, char **argv)
{
    int                     nargs, rc;
    char                  **args, err[512];
    size_t                  len;
    uint8_t                *doc;
    nsm_asked_t             q;
    nitro_attest_nsm_t     *nsm;
    nitro_attest_nsm_rc_e   nrc;

    cli_opt_t  opts[] = {
        cli_opt_value("public-key"), cli_opt_value("key"),
        cli_opt_value("user-data"), cli_opt_value("nonce"),
        cli_opt_value("out"), cli_opt_value("device"),
        cli_opt_end
    };

    if (cli_parse("nsm attest", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    free(args);
    memset(&q, 0, sizeof(q));
    doc = NULL;
    nsm = NULL;

    if (nargs != 0
        || (cli_opt(opts, "public-key")->value && cli_opt(opts, "key")->value))
    {
        cli_error("usage: nitro-attest nsm attest [--public-key SPKI.der | "
                  "--key KEY.pem] [--user-data HEX|@FILE] "
                  "[--nonce HEX|@FILE] [--out FILE]");
        return CLI_USAGE;
    }

    rc = CLI_USAGE;

    if (nsm_asked(opts, &q) != 0) {
        goto done;
    }

    rc = CLI_FAILED;
    nsm = cli_nsm_open("nsm attest",
                       cli_nsm_device(cli_opt(opts, "device")->value));
    if (nsm == NULL) {
        goto done;
    }

    nrc = nitro_attest_nsm_attest(nsm, &q.a, &doc, &len, err, sizeof(err));

    rc = (nrc == NITRO_ATTEST_NSM_OK)
         ? nsm_write("nsm attest", cli_opt(opts, "out")->value, doc, len)
         : cli_nsm_failed("nsm attest", nrc, err);

done:

    nitro_attest_nsm_close(nsm);
    OPENSSL_free(q.spki);
    free(q.user_data);
    free(q.nonce);
    free(doc);

    return rc;
}


/* what the options ask the document to carry: 0, or -1 after a message */
static int
nsm_asked(cli_opt_t *opts, nsm_asked_t *q)
{
    EVP_PKEY    *key;
    const char  *path;

    path = cli_opt(opts, "public-key")->value;

    if (path && nsm_public_key(path, &q->spki, &q->a.public_key.len) != 0) {
        return -1;
    }

    path = cli_opt(opts, "key")->value;

    if (path) {
        key = cli_load_key(path);
        if (key == NULL || cli_spki(key, &q->spki, &q->a.public_key.len) != 0)
        {
            EVP_PKEY_free(key);
            return -1;
        }

        EVP_PKEY_free(key);
    }

    if (cli_bytes_option("nsm attest", "user-data",
                         cli_opt(opts, "user-data")->value, &q->user_data,
                         &q->a.user_data.len) != 0
        || cli_bytes_option("nsm attest", "nonce",
                            cli_opt(opts, "nonce")->value, &q->nonce,
                            &q->a.nonce.len) != 0)
    {
        return -1;
    }

    q->a.public_key.data = q->spki;
    q->a.user_data.data = q->user_data;
    q->a.nonce.data = q->nonce;

    return 0;
}


/* --public-key: a SubjectPublicKeyInfo, DER or PEM, as DER (OPENSSL_) */
static int
nsm_public_key(const char *path, uint8_t **der, size_t *len)
{
    int                   rc;
    BIO                  *bio;
    size_t                n;
    uint8_t              *data;
    EVP_PKEY             *key;
    const unsigned char  *p;

    if (cli_read_file(path, &data, &n) != 0) {
        return -1;
    }

    p = data;
    key = NULL;

    if (n > 10 && memcmp(data, "-----BEGIN", 10) == 0) {
        bio = BIO_new_mem_buf(data, (int) n);
        key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);

    } else {
        key = d2i_PUBKEY(NULL, &p, (long) n);

        /* exactly one key, nothing after it */
        if (key != NULL && p != data + n) {
            EVP_PKEY_free(key);
            key = NULL;
        }
    }

    ERR_clear_error();
    rc = key ? cli_spki(key, der, len) : -1;

    if (rc != 0) {
        cli_error("nsm attest: %s: not a public key (a DER or PEM "
                  "SubjectPublicKeyInfo)", path);
    }

    EVP_PKEY_free(key);
    free(data);

    return rc;
}


/* the document as the NSM returned it, to path or standard output */
static int
nsm_write(const char *cmd, const char *path, const uint8_t *doc, size_t len)
{
    int    ok;
    FILE  *f;

    f = path ? fopen(path, "wb") : stdout;
    if (f == NULL) {
        cli_error("%s: %s: %s", cmd, path, strerror(errno));
        return CLI_USAGE;
    }

    ok = fwrite(doc, 1, len, f) == len;
    ok = (path ? fclose(f) : fflush(f)) == 0 && ok;

    if (!ok) {
        cli_error("%s: %s: cannot write", cmd, path ? path : "stdout");
        return CLI_USAGE;
    }

    return CLI_OK;
}


int
cli_cmd_nsm_describe(int argc, char **argv)
{
    int                             nargs, rc;
    char                          **args, err[512], version[32];
    json_t                         *locked;
    unsigned                        i;
    nitro_attest_nsm_t             *nsm;
    nitro_attest_nsm_rc_e           nrc;
    nitro_attest_nsm_description_t  d;

    cli_opt_t  opts[] = { cli_opt_value("device"), cli_opt_end };

    if (cli_parse("nsm describe", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    free(args);

    if (nargs != 0) {
        cli_error("usage: nitro-attest nsm describe [--device PATH]");
        return CLI_USAGE;
    }

    nsm = cli_nsm_open("nsm describe",
                       cli_nsm_device(cli_opt(opts, "device")->value));
    if (nsm == NULL) {
        return CLI_FAILED;
    }

    nrc = nitro_attest_nsm_describe(nsm, &d, err, sizeof(err));
    nitro_attest_nsm_close(nsm);

    if (nrc != NITRO_ATTEST_NSM_OK) {
        return cli_nsm_failed("nsm describe", nrc, err);
    }

    snprintf(version, sizeof(version), "%u.%u.%u", d.version_major,
             d.version_minor, d.version_patch);
    locked = json_array();
    rc = locked ? 0 : -1;

    for (i = 0; rc == 0 && i < d.nlocked; i++) {
        rc = json_array_append_new(locked, json_integer(d.locked[i]));
    }

    if (rc != 0) {
        json_decref(locked);
        cli_error("nsm describe: out of memory");
        return CLI_FAILED;
    }

    return nsm_print(json_pack("{s:s, s:s, s:i, s:o, s:s}",
                               "module_id", d.module_id, "version", version,
                               "max_pcrs", (int) d.max_pcrs,
                               "locked_pcrs", locked, "digest", d.digest));
}


int
cli_cmd_nsm_pcr(int argc, char **argv)
{
    cli_opt_t  opts[] = { cli_opt_value("device"), cli_opt_end };

    return nsm_pcr_command("nsm pcr", NSM_PCR_READ, argc, argv, opts);
}


int
cli_cmd_nsm_extend(int argc, char **argv)
{
    cli_opt_t  opts[] = {
        cli_opt_value("device"), cli_opt_value("data"), cli_opt_end
    };

    return nsm_pcr_command("nsm extend", NSM_PCR_EXTEND, argc, argv, opts);
}


int
cli_cmd_nsm_lock(int argc, char **argv)
{
    cli_opt_t  opts[] = { cli_opt_value("device"), cli_opt_end };

    return nsm_pcr_command("nsm lock", NSM_PCR_LOCK, argc, argv, opts);
}


/* pcr, extend and lock N: the PCR's line after the operation */
static int
nsm_pcr_command(const char *cmd, nsm_pcr_op_e op, int argc, char **argv,
    cli_opt_t *opts)
{
    int                  nargs, rc;
    char               **args;
    uint16_t             index;
    nitro_attest_nsm_t  *nsm;

    if (cli_parse(cmd, argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    rc = nsm_index(cmd, nargs, args, &index);
    free(args);

    if (rc != 0) {
        return CLI_USAGE;
    }

    if (op == NSM_PCR_EXTEND && cli_opt(opts, "data")->value == NULL) {
        cli_error("usage: nitro-attest nsm extend N --data HEX|@FILE");
        return CLI_USAGE;
    }

    nsm = cli_nsm_open(cmd, cli_nsm_device(cli_opt(opts, "device")->value));
    if (nsm == NULL) {
        return CLI_FAILED;
    }

    rc = nsm_pcr_op(cmd, nsm, op, index, opts);
    nitro_attest_nsm_close(nsm);

    return rc;
}


/*
 * N: what the request can carry, 0..65535; which PCRs exist is the
 * NSM's to say (InvalidIndex), as it knows how many it has.
 */
static int
nsm_index(const char *cmd, int nargs, char **args, uint16_t *index)
{
    size_t          i, n;
    unsigned long   v;

    if (nargs != 1) {
        cli_error("usage: nitro-attest %s N", cmd);
        return -1;
    }

    n = strlen(args[0]);

    for (i = 0; i < n && isdigit((unsigned char) args[0][i]); i++) {
        /* void */
    }

    v = (n > 0 && i == n && n <= 5) ? strtoul(args[0], NULL, 10) : 65536;

    if (v > 65535) {
        cli_error("%s: N must be a PCR index, 0..65535, not \"%s\"", cmd,
                  args[0]);
        return -1;
    }

    *index = (uint16_t) v;
    return 0;
}


static int
nsm_pcr_op(const char *cmd, nitro_attest_nsm_t *nsm, nsm_pcr_op_e op,
    uint16_t index, cli_opt_t *opts)
{
    char                    err[512], hex[2 * NITRO_ATTEST_PCR_MAX_LEN];
    size_t                  len;
    uint8_t                *data;
    nitro_attest_nsm_rc_e   nrc;
    nitro_attest_nsm_pcr_t  pcr;

    if (op == NSM_PCR_EXTEND) {
        if (cli_bytes_option(cmd, "data", cli_opt(opts, "data")->value,
                             &data, &len) != 0)
        {
            return CLI_USAGE;
        }

        nrc = nitro_attest_nsm_extend_pcr(nsm, index, data, len, &pcr, err,
                                          sizeof(err));
        free(data);

    } else {
        nrc = (op == NSM_PCR_LOCK)
              ? nitro_attest_nsm_lock_pcr(nsm, index, err, sizeof(err))
              : NITRO_ATTEST_NSM_OK;

        /* after a lock, the line says what the NSM now holds */
        if (nrc == NITRO_ATTEST_NSM_OK) {
            nrc = nitro_attest_nsm_describe_pcr(nsm, index, &pcr, err,
                                                sizeof(err));
        }
    }

    if (nrc != NITRO_ATTEST_NSM_OK) {
        return cli_nsm_failed(cmd, nrc, err);
    }

    (void) nitro_attest_hex(hex, pcr.value, pcr.len);

    return nsm_print(json_pack("{s:i, s:b, s:s%}", "index", (int) index,
                               "locked", pcr.locked, "value", hex,
                               2 * pcr.len));
}


/* obj (taken) as one JSON line on standard output */
static int
nsm_print(json_t *obj)
{
    char  *text;

    text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);

    if (text == NULL) {
        cli_error("nsm: out of memory");
        return CLI_FAILED;
    }

    printf("%s\n", text);
    free(text);

    return fflush(stdout) == 0 ? CLI_OK : CLI_USAGE;
}
