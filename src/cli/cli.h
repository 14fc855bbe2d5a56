/*
 * cli.h: what the nitro-attest commands share: argument parsing, help, file
 * and time input, and the certificate builder used by `cert` and `mock`;
 * `policy` is in policy.c, the usage texts in help.c.
 */

#ifndef NITRO_ATTEST_CLI_H
#define NITRO_ATTEST_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nitro_attest.h"


#define CLI_OK          0
#define CLI_FAILED      1
#define CLI_USAGE       2

/* one option: "--name value" or "--name=value"; flags take no value */
typedef struct {
    const char                *name;
    int                        takes_value;
    int                        repeatable;
    const char                *value;      /* the last one given */
    int                        count;
    const char               **values;     /* all, when repeatable */
} cli_opt_t;

/*
 * Fills opts from argv and collects the other arguments into args (argv
 * order).  Returns 0; 1 after printing the usage of cmd (its help topic)
 * when argv asks for it with --help or -h; -1 after printing a usage
 * error.  args is allocated only when 0 is returned.
 */
int cli_parse(const char *cmd, int argc, char **argv, cli_opt_t *opts,
    char ***args, int *nargs);
/* the exit status of a command whose cli_parse() did not return 0 */
#define cli_parse_exit(rc)  ((rc) > 0 ? CLI_OK : CLI_USAGE)
cli_opt_t *cli_opt(cli_opt_t *opts, const char *name);

/* the usage of topic ("" for all, "verify", "policy new"...): 0, or -1 */
int cli_help(const char *topic);
int cli_is_help(const char *arg);

void cli_error(const char *fmt, ...);
int cli_read_file(const char *path, uint8_t **data, size_t *len);
/* RFC 3339 or milliseconds since the epoch: 0, or -1 */
int cli_parse_time(const char *text, int64_t *ms);
/*
 * The value of a TIME option (nginx time syntax, a bare number is seconds)
 * in ms into *ms; text NULL leaves *ms.  0, or -1 after a usage error.
 */
int cli_duration(const char *cmd, const char *opt, const char *text,
    int64_t *ms);
int64_t cli_now_ms(void);
/* a client certificate (PEM or DER), or NULL when data is not one */
X509 *cli_load_cert(const uint8_t *data, size_t len);
X509 *cli_load_cert_file(const char *path);
EVP_PKEY *cli_load_key(const char *path);
int cli_write_pem(const char *path, X509 *cert, EVP_PKEY *key);

/* A self-signed client certificate for key, carrying doc (default OID). */
X509 *cli_client_cert(EVP_PKEY *key, const uint8_t *doc, size_t len,
    const char *cn, long days);
const EVP_MD *cli_sign_md(EVP_PKEY *key);

int cli_cmd_help(int argc, char **argv);
int cli_cmd_cert(int argc, char **argv);
int cli_cmd_mock(int argc, char **argv);
int cli_cmd_policy(int argc, char **argv);

#endif /* NITRO_ATTEST_CLI_H */
