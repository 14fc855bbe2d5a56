/*
 * main.c: the nitro-attest command line: the dispatch, verify and inspect
 * here, cert and mock in certs.c, policy in policy.c, help in help.c.
 * Exit 0 verified or done, 1 a verification failed (or, for policy check,
 * warnings), 2 a usage, input or configuration error.
 */

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>


/* the Makefile passes the version of debian/changelog, the package's */
#ifndef NITRO_ATTEST_VERSION
#error "NITRO_ATTEST_VERSION is not defined"
#endif

/* --token-key: each SUCCESS line also carries the token nginx would sign */
typedef struct {
    nitro_attest_token_key_t  *key;
    const char                *issuer;
    int64_t                    lifetime_ms;
} cli_token_t;


static int cli_cmd_verify(int argc, char **argv);
static int cli_cmd_inspect(int argc, char **argv);
static int cli_verify_file(const nitro_attest_config_t *cf, const char *path,
    const char *at, X509 *bind_cert, const cli_token_t *token);
static int cli_print_event(const nitro_attest_verdict_t *v,
    const char *path, const cli_token_t *token);
static int cli_token_options(cli_opt_t *opts, cli_token_t *token);
static int cli_extension(cli_opt_t *opts, nitro_attest_extension_t **ext);


int
main(int argc, char **argv)
{
    size_t  i;

    static const struct {
        const char  *name;
        int        (*run)(int argc, char **argv);
    } commands[] = {
        { "verify", cli_cmd_verify },
        { "inspect", cli_cmd_inspect },
        { "cert", cli_cmd_cert },
        { "mock", cli_cmd_mock },
        { "policy", cli_cmd_policy },
        { "help", cli_cmd_help },
    };

    if (argc < 2) {
        cli_error("missing command: verify, inspect, cert, mock or policy "
                  "(try --help)");
        return CLI_USAGE;
    }

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 2, argv + 2);
        }
    }

    /* --help COMMAND as help COMMAND */
    if (cli_is_help(argv[1])) {
        return cli_cmd_help(argc - 2, argv + 2);
    }

    if (strcmp(argv[1], "--version") == 0) {
        if (argc > 2) {
            cli_error("--version takes no argument");
            return CLI_USAGE;
        }

        printf("nitro-attest %s\n", NITRO_ATTEST_VERSION);
        return CLI_OK;
    }

    cli_error("unknown command \"%s\" (try --help)", argv[1]);
    return CLI_USAGE;
}


static int
cli_cmd_verify(int argc, char **argv)
{
    int                        i, rc, nfiles;
    char                       err[512];
    char                     **files;
    X509                      *bind_cert;
    cli_opt_t                 *o;
    nitro_attest_root_t       *root;
    nitro_attest_policy_t     *policy;
    nitro_attest_config_t      cf;
    nitro_attest_extension_t  *ext;
    nitro_attest_chain_cache_t *chains;
    nitro_attest_memo_t        *memo;
    cli_token_t                 token;

    cli_opt_t  opts[] = {
        { "root", 1, 0, NULL, 0, NULL },
        { "policy", 1, 0, NULL, 0, NULL },
        { "at", 1, 0, NULL, 0, NULL },
        { "max-age", 1, 0, NULL, 0, NULL },
        { "clock-skew", 1, 0, NULL, 0, NULL },
        { "binding", 1, 0, NULL, 0, NULL },
        { "cert", 1, 0, NULL, 0, NULL },
        { "extension", 1, 0, NULL, 0, NULL },
        { "extension-format", 1, 0, NULL, 0, NULL },
        { "allow-debug", 0, 0, NULL, 0, NULL },
        { "token-key", 1, 0, NULL, 0, NULL },
        { "token-issuer", 1, 0, NULL, 0, NULL },
        { "token-lifetime", 1, 0, NULL, 0, NULL },
        { NULL, 0, 0, NULL, 0, NULL }
    };

    rc = cli_parse("verify", argc, argv, opts, &files, &nfiles);
    if (rc != 0) {
        return cli_parse_exit(rc);
    }

    rc = CLI_USAGE;
    root = NULL;
    policy = NULL;
    ext = NULL;
    bind_cert = NULL;
    chains = NULL;
    memo = NULL;
    token.key = NULL;
    nitro_attest_config_init(&cf);

    if (nfiles == 0) {
        cli_error("verify: no FILE given");
        goto done;
    }

    o = cli_opt(opts, "at");
    if (o->value && strcmp(o->value, "document") != 0) {
        int64_t  ms;

        if (cli_parse_time(o->value, &ms) != 0) {
            cli_error("verify: --at \"%s\" is not RFC 3339, milliseconds "
                      "or \"document\"", o->value);
            goto done;
        }
    }

    if (cli_duration("verify", "--max-age", cli_opt(opts, "max-age")->value,
                     &cf.max_age_ms) != 0
        || cli_duration("verify", "--clock-skew",
                        cli_opt(opts, "clock-skew")->value, &cf.clock_skew_ms)
           != 0)
    {
        goto done;
    }

    o = cli_opt(opts, "binding");
    if (o->value && nitro_attest_binding_parse(o->value, &cf.binding) != 0) {
        cli_error("verify: unknown --binding \"%s\" (public_key, "
                  "user_data_spki, user_data_sha256, user_data_sha384)",
                  o->value);
        goto done;
    }

    if (cli_extension(opts, &ext) != 0
        || cli_token_options(opts, &token) != 0)
    {
        goto done;
    }

    o = cli_opt(opts, "root");
    root = o->value ? nitro_attest_root_load(o->value, err, sizeof(err))
                    : nitro_attest_root_default(err, sizeof(err));
    if (root == NULL) {
        cli_error("verify: %s", err);
        goto done;
    }

    o = cli_opt(opts, "policy");
    if (o->value) {
        policy = nitro_attest_policy_load(o->value, err, sizeof(err));
        if (policy == NULL) {
            cli_error("verify: %s", err);
            goto done;
        }
    }

    o = cli_opt(opts, "cert");
    if (o->value) {
        bind_cert = cli_load_cert_file(o->value);
        if (bind_cert == NULL) {
            goto done;
        }
    }

    /* documents from one parent instance share their CA bundle */
    chains = nitro_attest_chain_cache_new(16);
    memo = nitro_attest_memo_new(64);
    if (chains == NULL || memo == NULL) {
        cli_error("verify: out of memory");
        goto done;
    }

    cf.root = root;
    cf.policy = policy;
    cf.extension = ext;
    cf.chain_cache = chains;
    cf.memo = memo;
    cf.allow_debug = cli_opt(opts, "allow-debug")->count > 0;

    rc = CLI_OK;

    for (i = 0; i < nfiles; i++) {
        int  file_rc = cli_verify_file(&cf, files[i],
                                       cli_opt(opts, "at")->value, bind_cert,
                                       token.key ? &token : NULL);

        if (file_rc > rc) {
            rc = file_rc;
        }
    }

done:

    X509_free(bind_cert);
    nitro_attest_chain_cache_free(chains);
    nitro_attest_memo_free(memo);
    nitro_attest_policy_free(policy);
    nitro_attest_root_free(root);
    nitro_attest_extension_free(ext);
    nitro_attest_token_key_free(token.key);
    free(files);

    return rc;
}


/* One FILE: one JSON line on stdout, or one error line on stderr. */
static int
cli_verify_file(const nitro_attest_config_t *cf, const char *path,
    const char *at, X509 *bind_cert, const cli_token_t *token)
{
    int                     rc;
    X509                   *cert;
    size_t                  len, doc_len;
    uint8_t                *data, *doc;
    int64_t                 now;
    struct timespec         t0, t1;
    const uint8_t          *carried;
    nitro_attest_verdict_t *v;

    if (cli_read_file(path, &data, &len) != 0) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    doc = NULL;
    doc_len = 0;
    v = malloc(sizeof(*v));
    cert = cli_load_cert(data, len);

    if (v == NULL
        || (cert == NULL
            && nitro_attest_decode_text(data, len, &doc, &doc_len) != 0))
    {
        cli_error("verify: out of memory");
        goto done;
    }

    now = cli_now_ms();

    if (at != NULL && strcmp(at, "document") == 0) {
        if (cert != NULL
            && nitro_attest_cert_document(cf->extension, cert, &carried,
                                          &doc_len) == NITRO_ATTEST_OK)
        {
            nitro_attest_document_peek(carried, doc_len, &now, NULL, 0);

        } else if (cert == NULL) {
            nitro_attest_document_peek(doc, doc_len, &now, NULL, 0);
        }

    } else if (at != NULL) {
        cli_parse_time(at, &now);
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (cert != NULL) {
        nitro_attest_verify_cert(cf, cert, now, v);
    } else {
        nitro_attest_verify_document(cf, doc, doc_len, bind_cert, now, v);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    v->verify_us = (uint32_t) ((t1.tv_sec - t0.tv_sec) * 1000000
                               + (t1.tv_nsec - t0.tv_nsec) / 1000);

    if (cli_print_event(v, path, token) != 0) {
        goto done;
    }

    rc = v->status == NITRO_ATTEST_STATUS_SUCCESS ? CLI_OK : CLI_FAILED;

done:

    X509_free(cert);
    free(doc);
    free(data);
    free(v);

    return rc;
}


/*
 * The section 7 line; with --token-key the "token" key follows the others:
 * the token signed at the verification time, or null for a verdict that
 * did not hold or names no client certificate to bind the token to.
 */
static int
cli_print_event(const nitro_attest_verdict_t *v, const char *path,
    const cli_token_t *token)
{
    char                         *json, *jws;
    size_t                        len;
    nitro_attest_token_claims_t   claims;

    json = nitro_attest_event_json(v);
    if (json == NULL) {
        cli_error("verify: out of memory");
        return -1;
    }

    if (token == NULL) {
        puts(json);
        fflush(stdout);
        free(json);
        return 0;
    }

    jws = NULL;

    if (v->status == NITRO_ATTEST_STATUS_SUCCESS
        && (v->flags & NITRO_ATTEST_F_CERT))
    {
        if (nitro_attest_token_claims_init(&claims, token->issuer, v->time_ms,
                                           token->lifetime_ms,
                                           nitro_attest_verdict_expiry(v, 0))
            == 0)
        {
            jws = nitro_attest_token_sign(token->key, v, &claims);
        }

        if (jws == NULL) {
            cli_error("verify: %s: cannot sign the token", path);
            free(json);
            return -1;
        }
    }

    /* the event is one JSON object: the key goes before its last brace */
    len = strlen(json);
    printf("%.*s,\"token\":%s%s%s}\n", (int) (len - 1), json,
           jws ? "\"" : "", jws ? jws : "null", jws ? "\"" : "");
    fflush(stdout);

    free(jws);
    free(json);

    return 0;
}


static int
cli_token_options(cli_opt_t *opts, cli_token_t *token)
{
    char         err[512];
    const char  *path;

    path = cli_opt(opts, "token-key")->value;
    token->issuer = cli_opt(opts, "token-issuer")->value;
    token->lifetime_ms = NITRO_ATTEST_TOKEN_LIFETIME_MS;

    if (path == NULL) {
        if (token->issuer || cli_opt(opts, "token-lifetime")->value) {
            cli_error("verify: --token-issuer and --token-lifetime need "
                      "--token-key");
            return -1;
        }

        return 0;
    }

    if (token->issuer == NULL) {
        token->issuer = NITRO_ATTEST_TOKEN_ISSUER;
    }

    if (cli_duration("verify", "--token-lifetime",
                     cli_opt(opts, "token-lifetime")->value,
                     &token->lifetime_ms) != 0)
    {
        return -1;
    }

    /* JWT times are whole seconds */
    if (token->lifetime_ms < 1000) {
        cli_error("verify: --token-lifetime must be at least 1 second");
        return -1;
    }

    token->key = nitro_attest_token_key_load(path, err, sizeof(err));
    if (token->key == NULL) {
        cli_error("verify: %s", err);
        return -1;
    }

    return 0;
}


static int
cli_cmd_inspect(int argc, char **argv)
{
    int                        nfiles, rc;
    char                     **files, *json;
    X509                      *cert;
    size_t                     len, doc_len;
    uint8_t                   *data, *doc;
    const uint8_t             *carried;
    nitro_attest_reason_e      reason;
    nitro_attest_extension_t  *ext;

    cli_opt_t  opts[] = {
        { "extension", 1, 0, NULL, 0, NULL },
        { "extension-format", 1, 0, NULL, 0, NULL },
        { NULL, 0, 0, NULL, 0, NULL }
    };

    rc = cli_parse("inspect", argc, argv, opts, &files, &nfiles);
    if (rc != 0) {
        return cli_parse_exit(rc);
    }

    if (nfiles != 1) {
        cli_error("inspect: exactly one FILE expected");
        free(files);
        return CLI_USAGE;
    }

    if (cli_extension(opts, &ext) != 0
        || cli_read_file(files[0], &data, &len) != 0)
    {
        nitro_attest_extension_free(ext);
        free(files);
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    doc = NULL;
    json = NULL;
    cert = cli_load_cert(data, len);

    if (cert != NULL) {
        reason = nitro_attest_cert_document(ext, cert, &carried, &doc_len);
        if (reason == NITRO_ATTEST_OK) {
            json = nitro_attest_inspect_json(carried, doc_len, &reason);
        }

    } else if (nitro_attest_decode_text(data, len, &doc, &doc_len) == 0) {
        json = nitro_attest_inspect_json(doc, doc_len, &reason);

    } else {
        reason = NITRO_ATTEST_INTERNAL_ERROR;
    }

    if (json != NULL) {
        puts(json);
        rc = CLI_OK;

    } else {
        cli_error("inspect: %s: %s", files[0],
                  nitro_attest_reason_name(reason));
    }

    free(json);
    free(doc);
    free(data);
    X509_free(cert);
    nitro_attest_extension_free(ext);
    free(files);

    return rc;
}


static int
cli_extension(cli_opt_t *opts, nitro_attest_extension_t **ext)
{
    char                    err[256];
    const char             *oid, *format;
    nitro_attest_format_e   fmt;

    *ext = NULL;
    oid = cli_opt(opts, "extension")->value;
    format = cli_opt(opts, "extension-format")->value;

    fmt = NITRO_ATTEST_FORMAT_CMW;
    if (format != NULL && nitro_attest_format_parse(format, &fmt) != 0) {
        cli_error("--extension-format must be cmw or raw, not \"%s\"",
                  format);
        return -1;
    }

    if (oid == NULL && format == NULL) {
        return 0;
    }

    *ext = nitro_attest_extension_new(oid, fmt, err, sizeof(err));
    if (*ext == NULL) {
        cli_error("--extension: %s", err);
        return -1;
    }

    return 0;
}


/*
 * One parser for every TIME option, the core's, which also reads the
 * policy's expect_every: what the CLI accepts, nginx and the policy do.
 */
int
cli_duration(const char *cmd, const char *opt, const char *text,
    int64_t *ms)
{
    int64_t  v;

    if (text == NULL) {
        return 0;
    }

    v = nitro_attest_parse_duration(text);
    if (v < 0) {
        cli_error("%s: %s \"%s\" is not a time such as 90, 90s, 5m or "
                  "1h30m", cmd, opt, text);
        return -1;
    }

    *ms = v;
    return 0;
}


cli_opt_t *
cli_opt(cli_opt_t *opts, const char *name)
{
    for ( ; opts->name != NULL; opts++) {
        if (strcmp(opts->name, name) == 0) {
            return opts;
        }
    }

    abort();  /* a command asked for an option it does not declare */
}


int
cli_parse(const char *cmd, int argc, char **argv, cli_opt_t *opts,
    char ***args, int *nargs)
{
    int         i, only_args;
    size_t      n;
    cli_opt_t  *o;
    const char *arg, *eq, *value;

    *args = NULL;
    *nargs = 0;

    /* help wins over any mistake on the line it is asked on */
    for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (cli_is_help(argv[i])) {
            return cli_help(cmd) == 0 ? 1 : -1;
        }
    }

    *args = calloc((size_t) argc + 1, sizeof(char *));
    if (*args == NULL) {
        cli_error("out of memory");
        return -1;
    }

    only_args = 0;

    for (i = 0; i < argc; i++) {
        arg = argv[i];

        if (only_args || arg[0] != '-' || arg[1] != '-' || arg[2] == '\0') {
            if (!only_args && strcmp(arg, "--") == 0) {
                only_args = 1;
                continue;
            }

            (*args)[(*nargs)++] = argv[i];
            continue;
        }

        arg += 2;
        eq = strchr(arg, '=');
        n = eq ? (size_t) (eq - arg) : strlen(arg);

        for (o = opts; o->name != NULL; o++) {
            if (strlen(o->name) == n && strncmp(o->name, arg, n) == 0) {
                break;
            }
        }

        if (o->name == NULL) {
            cli_error("%s: unknown option --%.*s", cmd, (int) n, arg);
            goto failed;
        }

        value = NULL;

        if (o->takes_value) {
            if (eq != NULL) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                cli_error("%s: --%s needs a value", cmd, o->name);
                goto failed;
            }

        } else if (eq != NULL) {
            cli_error("%s: --%s takes no value", cmd, o->name);
            goto failed;
        }

        if (o->count > 0 && !o->repeatable && o->takes_value) {
            cli_error("%s: --%s given twice", cmd, o->name);
            goto failed;
        }

        if (o->repeatable) {
            const char  **vals = realloc(o->values,
                                         (o->count + 1) * sizeof(char *));
            if (vals == NULL) {
                cli_error("out of memory");
                goto failed;
            }

            o->values = vals;
            o->values[o->count] = value;
        }

        o->value = value;
        o->count++;
    }

    return 0;

failed:

    free(*args);
    *args = NULL;
    return -1;
}


void
cli_error(const char *fmt, ...)
{
    va_list  args;

    fputs("nitro-attest: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}


int
cli_read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE     *f;
    size_t    n, cap;
    uint8_t  *buf, *p;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }

    cap = 65536;
    n = 0;
    buf = malloc(cap);

    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }

        if (cap >= 64 * 1024 * 1024) {
            cli_error("%s: larger than 64 MiB", path);
            free(buf);
            buf = NULL;
            break;
        }

        cap *= 2;
        p = realloc(buf, cap);
        if (p == NULL) {
            free(buf);
        }

        buf = p;
    }

    if (buf != NULL && ferror(f)) {
        cli_error("%s: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
    }

    if (f != stdin) {
        fclose(f);
    }

    if (buf == NULL) {
        return -1;
    }

    *data = buf;
    *len = n;
    return 0;
}


/* RFC 3339 ("2023-09-18T15:03:30.860Z", offsets allowed) or ms. */
int
cli_parse_time(const char *text, int64_t *ms)
{
    int         n, frac_digits;
    char        sep;
    long long   v;
    struct tm   tm;
    int64_t     frac, offset;
    const char *p;

    for (p = text; isdigit((unsigned char) *p); p++) { /* void */ }

    if (p != text && *p == '\0' && p - text <= 16) {
        v = strtoll(text, NULL, 10);
        *ms = v;
        return 0;
    }

    memset(&tm, 0, sizeof(tm));
    n = 0;

    if (sscanf(text, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &sep, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n)
        != 7 || n != 19 || (sep != 'T' && sep != 't' && sep != ' '))
    {
        return -1;
    }

    p = text + n;
    frac = 0;

    if (*p == '.') {
        for (p++, frac_digits = 0; isdigit((unsigned char) *p); p++) {
            if (frac_digits++ < 3) {
                frac = frac * 10 + (*p - '0');
            }
        }

        if (frac_digits == 0) {
            return -1;
        }

        for ( ; frac_digits < 3; frac_digits++) {
            frac *= 10;
        }
    }

    offset = 0;

    if (*p == 'Z' || *p == 'z') {
        p++;

    } else if (*p == '+' || *p == '-') {
        int  hh, mm;

        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5) {
            return -1;
        }

        offset = (int64_t) (hh * 60 + mm) * 60000 * (*p == '+' ? 1 : -1);
        p += 6;

    } else {
        return -1;
    }

    if (*p != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60)
    {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t) timegm(&tm) * 1000 + frac - offset;

    return 0;
}


int64_t
cli_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


X509 *
cli_load_cert(const uint8_t *data, size_t len)
{
    BIO            *bio;
    long            der_len;
    char           *name;
    X509           *x;
    size_t          i;
    unsigned char  *der;

    /* PEM only at the start: documents may carry PEM text inside */
    for (i = 0; i < len && isspace(data[i]); i++) { /* void */ }

    /* parsed where the core parses certificates (nitro_attest.h) */
    if (len - i > 10 && memcmp(data + i, "-----BEGIN", 10) == 0) {
        bio = BIO_new_mem_buf(data, (int) len);
        der = NULL;
        x = NULL;

        if (bio != NULL
            && PEM_bytes_read_bio(&der, &der_len, &name, PEM_STRING_X509,
                                  bio, NULL, NULL) == 1)
        {
            x = nitro_attest_cert_parse(der, (size_t) der_len);
            OPENSSL_free(der);
            OPENSSL_free(name);
        }

        BIO_free(bio);
        ERR_clear_error();
        return x;
    }

    x = nitro_attest_cert_parse(data, len);
    ERR_clear_error();

    return x;
}


X509 *
cli_load_cert_file(const char *path)
{
    X509     *x;
    size_t    len;
    uint8_t  *data;

    if (cli_read_file(path, &data, &len) != 0) {
        return NULL;
    }

    x = cli_load_cert(data, len);
    free(data);

    if (x == NULL) {
        cli_error("%s: not a PEM or DER certificate", path);
    }

    return x;
}
