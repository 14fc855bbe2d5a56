/*
 * cli.h: the nitro-attest command line.  common.c holds what every command
 * uses (options, messages, files, evidence, keys and certificates, times,
 * PCRs, the NSM); each command family has its file (verify.c, cert.c,
 * mock.c, policy.c, nsm.c, expect.c, agent.c, audit.c) and uses common.c
 * only; main.c dispatches to them and prints the usage texts of help.c.
 */

#ifndef NITRO_ATTEST_CLI_H
#define NITRO_ATTEST_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "nitro_attest.h"


/* exit statuses */
#define CLI_OK          0       /* verified, or done */
#define CLI_FAILED      1       /* a verification failed; policy warnings */
#define CLI_USAGE       2       /* a usage, input or configuration error */


/* one option: "--name value" or "--name=value"; flags take no value */
typedef struct {
    const char                *name;
    int                        takes_value;
    int                        repeatable;
    const char                *value;      /* the last one given */
    int                        count;
    const char               **values;     /* all, when repeatable */
} cli_opt_t;

#define cli_opt_value(name)  { name, 1, 0, NULL, 0, NULL }
#define cli_opt_list(name)   { name, 1, 1, NULL, 0, NULL }
#define cli_opt_flag(name)   { name, 0, 0, NULL, 0, NULL }
#define cli_opt_end          { NULL, 0, 0, NULL, 0, NULL }

/*
 * Fills opts from argv and collects the other arguments into args (argv
 * order; "--" ends the options).  0, or -1 after a usage error; args is
 * allocated only when 0 is returned.  main.c has answered --help already.
 */
int cli_parse(const char *cmd, int argc, char **argv, cli_opt_t *opts,
    char ***args, int *nargs);
cli_opt_t *cli_opt(cli_opt_t *opts, const char *name);
/* frees what cli_parse() collected for repeatable options */
void cli_opts_free(cli_opt_t *opts);

/* "nitro-attest: " and the message, one line on stderr */
void cli_error(const char *fmt, ...);


/* a file, "-" standard input: 0, or -1 after a message */
int cli_read_file(const char *path, uint8_t **data, size_t *len);

/* the rest of f, messages naming it name: 0, or -1 after a message */
int cli_read_stream(FILE *f, const char *name, uint8_t **data, size_t *len);

/*
 * Replaces path with text atomically (cli_replace_files()): mode -1 keeps
 * the mode and owner of the file at path, which must exist; else the file
 * gets mode and need not exist.  0, or -1 after a message.
 */
int cli_replace_file(const char *cmd, const char *path, const char *text,
    int mode);

/* a file for cli_replace_files(): (uid_t) -1 and (gid_t) -1, the writer's */
typedef struct {
    const char                *path;
    const void                *data;
    size_t                     len;
    mode_t                     mode;
    uid_t                      uid;
    gid_t                      gid;
} cli_file_t;

/*
 * Puts each file in place, all or none as far as a file system allows:
 * each is written beside its path and synced, unnamed (O_TMPFILE) or
 * under a temporary name (".NAME.XXXXXX"), then all are named, then each
 * is renamed over its path in order and the directories are synced.  A
 * reader of a path finds the old file or the new one, whole, even after a
 * crash; a failure before the renames changes nothing and leaves nothing.
 * 0, or -1 and err (one line naming the file).
 */
int cli_replace_files(const cli_file_t *files, size_t n, char *err,
    size_t errlen);
/* hex digits (none: zero bytes) into malloc()ed bytes: 0, or -1 */
int cli_hex(const char *hex, uint8_t **data, size_t *len);
/*
 * The bytes of a HEX|@FILE option (text NULL: *data NULL, nothing given),
 * malloc()ed: 0, or -1 after a usage error.
 */
int cli_bytes_option(const char *cmd, const char *opt, const char *text,
    uint8_t **data, size_t *len);

/* what a FILE argument holds: a client certificate or a bare document */
typedef struct {
    X509                      *cert;       /* PEM or DER; NULL: a document */
    uint8_t                   *doc;        /* raw, base64 or hex, decoded */
    size_t                     doc_len;
} cli_evidence_t;

int cli_evidence_read(const char *cmd, const char *path, cli_evidence_t *ev);
/* the bare document, or the one the certificate carries under ext */
nitro_attest_reason_e cli_evidence_document(const cli_evidence_t *ev,
    const nitro_attest_extension_t *ext, const uint8_t **doc, size_t *len);
void cli_evidence_free(cli_evidence_t *ev);

/* a client certificate (PEM or DER), or NULL when data is not one */
X509 *cli_load_cert(const uint8_t *data, size_t len);
X509 *cli_load_cert_file(const char *path);
EVP_PKEY *cli_load_key(const char *path);
/*
 * A fresh key: p256, p384, p521, rsa2048, rsa4096 or ed25519; NULL for
 * another type, or when memory ran out.
 */
EVP_PKEY *cli_key_generate(const char *type);
/* the root at path, or AWS's when path is NULL; NULL after a message */
nitro_attest_root_t *cli_load_root(const char *cmd, const char *path);
/* a certificate, or else a private key (mode 0600), as PEM */
int cli_write_pem(const char *path, X509 *cert, EVP_PKEY *key);
/* the DER SubjectPublicKeyInfo of key (OPENSSL_malloc()ed): 0, or -1 */
int cli_spki(EVP_PKEY *key, uint8_t **der, size_t *len);


/* RFC 3339 or milliseconds since the epoch: 0, or -1 */
int cli_parse_time(const char *text, int64_t *ms);
/*
 * The value of a TIME option (nginx time syntax, a bare number is seconds)
 * in ms into *ms; text NULL leaves *ms.  0, or -1 after a usage error.
 */
int cli_duration(const char *cmd, const char *opt, const char *text,
    int64_t *ms);
int64_t cli_now_ms(void);


/* --kind enclave|nitrotpm: 0, or -1 after a usage error */
int cli_kind(const char *cmd, const char *text, nitro_attest_kind_e *kind);
/*
 * --binding of a key that a document attests: public_key (text NULL) or a
 * user_data_* mode, not none: 0, or -1 after a usage error.
 */
int cli_key_binding(const char *cmd, const char *text,
    nitro_attest_binding_e *binding);
/*
 * A PCR of kind by the core's rule (nitro_attest_pcr_parse()), what saying
 * where it came from: 0 and its bytes, or -1 after a usage error.
 */
int cli_pcr(const char *cmd, const char *what, nitro_attest_kind_e kind,
    unsigned long index, const char *hex, uint8_t *value, size_t *len);
/* a --pcr N=HEX option, the same way */
int cli_pcr_option(const char *cmd, const char *spec,
    nitro_attest_kind_e kind, unsigned long *index, uint8_t *value,
    size_t *len);

/* PCR values by index, as a policy set pins them or a document holds them */
typedef struct {
    uint32_t                   mask;
    uint8_t                    len[NITRO_ATTEST_PCR_COUNT];
    uint8_t                    value[NITRO_ATTEST_PCR_COUNT]
                                    [NITRO_ATTEST_PCR_MAX_LEN];
} cli_pcrs_t;

/* a valid PCR (cli_pcr()) into pcrs, replacing what index held */
void cli_pcrs_set(cli_pcrs_t *pcrs, unsigned long index,
    const uint8_t *value, size_t len);


/* a v3 certificate for key with a random serial; issuer set by caller */
X509 *cli_cert_new(EVP_PKEY *key, const char *cn, time_t not_before,
    time_t not_after);
/* an extension in OpenSSL's configuration syntax: 0, or -1 */
int cli_cert_add_ext(X509 *x, X509 *issuer, int nid, const char *value);
int cli_cert_sign(X509 *x, EVP_PKEY *key);
/*
 * A self-signed client certificate for key, carrying doc (default OID);
 * with server, a TLS server's certificate for that name instead (its
 * common name, a DNS subjectAltName, extended key usage serverAuth), as
 * an enclave serving attested TLS presents.
 */
X509 *cli_client_cert(EVP_PKEY *key, const uint8_t *doc, size_t len,
    const char *cn, long days, const char *server);
/* --server NAME: 0 when NULL or a DNS name, else -1 after a message */
int cli_server_name(const char *cmd, const char *name);
/*
 * The certificate `cert` writes (a client's, or with server a server's):
 * doc (from what, a file or the
 * NSM's device, named in messages) wrapped for key, refused unless it
 * parses and attests key under binding, for such a certificate could
 * never verify.  NULL and err (one line) when refused or not built.
 */
X509 *cli_attested_cert(const char *what, EVP_PKEY *key, const uint8_t *doc,
    size_t len, nitro_attest_binding_e binding, long days, const char *server,
    char *err, size_t errlen);


/*
 * The NSM: the device of --device (opt), else $NITRO_ATTEST_NSM_DEVICE,
 * else /dev/nsm.
 */
const char *cli_nsm_device(const char *opt);
/* the device open, or NULL after a message */
nitro_attest_nsm_t *cli_nsm_open(const char *cmd, const char *device);
/*
 * The exit status of a failed NSM call, after its message: 2 when the
 * request was too large to send, else 1.
 */
int cli_nsm_failed(const char *cmd, nitro_attest_nsm_rc_e rc,
    const char *err);
/*
 * A document from the NSM at device attesting key under binding: its SPKI
 * as public_key, or for a user_data_* mode the SPKI or its hash as
 * user_data (user_data must then be absent), with the nonce and user_data
 * given (data NULL: none).  CLI_OK and the document (malloc()ed), or the
 * exit status (that of cli_nsm_failed()) and err, one line naming the
 * device.  Nothing is printed: a renewal loop keeps the message.
 */
int cli_nsm_key_document(const char *device, EVP_PKEY *key,
    nitro_attest_binding_e binding, const nitro_attest_bytes_t *user_data,
    const nitro_attest_bytes_t *nonce, uint8_t **doc, size_t *len,
    char *err, size_t errlen);


/*
 * Mock documents (mock.c), signed under a PKI that `mock pki` wrote as an
 * NSM signs them: `mock cert` wraps them, the tests' NSM emulator answers
 * with them.
 */
typedef struct {
    nitro_attest_kind_e        kind;
    const char                *module_id;
    int64_t                    ts_ms;
    int64_t                    lifetime_ms;  /* of its signing certificate */
    cli_pcrs_t                 pcrs;         /* exactly those it carries */
    nitro_attest_bytes_t       public_key;   /* data NULL: null */
    nitro_attest_bytes_t       user_data;
    nitro_attest_bytes_t       nonce;
} cli_mock_doc_t;

typedef struct cli_mock_pki_s  cli_mock_pki_t;

/* the CAs of the PKI in dir and its instance CA's key; NULL after a message */
cli_mock_pki_t *cli_mock_pki_load(const char *cmd, const char *dir);
void cli_mock_pki_free(cli_mock_pki_t *pki);
/* a document (malloc()ed) signed by a fresh leaf; NULL after a message */
uint8_t *cli_mock_document(const char *cmd, const cli_mock_pki_t *pki,
    const cli_mock_doc_t *doc, size_t *len);


/* the commands (main.c's table): argv holds what follows their name */
int cli_cmd_verify(int argc, char **argv);
int cli_cmd_audit_verify(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);
int cli_cmd_cert(int argc, char **argv);
int cli_cmd_mock_pki(int argc, char **argv);
int cli_cmd_mock_cert(int argc, char **argv);
int cli_cmd_policy_new(int argc, char **argv);
int cli_cmd_policy_add(int argc, char **argv);
int cli_cmd_policy_deny(int argc, char **argv);
int cli_cmd_policy_remove(int argc, char **argv);
int cli_cmd_policy_check(int argc, char **argv);
int cli_cmd_nsm_attest(int argc, char **argv);
int cli_cmd_nsm_describe(int argc, char **argv);
int cli_cmd_nsm_pcr(int argc, char **argv);
int cli_cmd_nsm_extend(int argc, char **argv);
int cli_cmd_nsm_lock(int argc, char **argv);
int cli_cmd_expect(int argc, char **argv);
int cli_cmd_agent(int argc, char **argv);

/* prints the usage of topic ("" for all, "verify", "policy new"...): 0, -1 */
int cli_help(const char *topic);

#endif /* NITRO_ATTEST_CLI_H */
