/*
 * verify.c: `verify` (each FILE through the core as nginx would verify it:
 * one JSON event line per FILE, with the token nginx would send upstream
 * when --token-key asks for it) and `inspect` (a document decoded, nothing
 * verified).
 */

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


/* --token-key: each SUCCESS line also carries the token nginx would sign */
typedef struct {
    nitro_attest_token_key_t  *key;
    const char                *issuer;
    int64_t                    lifetime_ms;
} verify_token_t;

/* what the options of verify set up for every FILE */
typedef struct {
    nitro_attest_config_t      cf;         /* points at what follows */
    nitro_attest_root_t       *root;
    nitro_attest_policy_t     *policy;
    nitro_attest_extension_t  *ext;
    X509                      *bind_cert;
    const char                *at;         /* NULL: now */
    verify_token_t             token;
} verify_t;


static int verify_setup(cli_opt_t *opts, verify_t *vf);
static int verify_core(cli_opt_t *opts, verify_t *vf);
static void verify_cleanup(verify_t *vf);
static int verify_file(const verify_t *vf, const char *path);
static int verify_print(const nitro_attest_verdict_t *v, const char *path,
    const verify_token_t *token);
static int verify_token_options(cli_opt_t *opts, verify_token_t *token);
static int verify_extension(cli_opt_t *opts, nitro_attest_extension_t **ext);


int
cli_cmd_verify(int argc, char **argv)
{
    int         i, rc, file_rc, nfiles;
    char      **files;
    verify_t    vf;

    cli_opt_t  opts[] = {
        cli_opt_value("root"), cli_opt_value("policy"), cli_opt_value("at"),
        cli_opt_value("max-age"), cli_opt_value("clock-skew"),
        cli_opt_value("binding"), cli_opt_value("cert"),
        cli_opt_value("extension"), cli_opt_value("extension-format"),
        cli_opt_flag("allow-debug"), cli_opt_value("token-key"),
        cli_opt_value("token-issuer"), cli_opt_value("token-lifetime"),
        cli_opt_end
    };

    if (cli_parse("verify", argc, argv, opts, &files, &nfiles) != 0) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;

    if (nfiles == 0) {
        cli_error("verify: no FILE given");

    } else if (verify_setup(opts, &vf) == 0) {
        rc = CLI_OK;

        for (i = 0; i < nfiles; i++) {
            file_rc = verify_file(&vf, files[i]);

            if (file_rc > rc) {
                rc = file_rc;
            }
        }

        verify_cleanup(&vf);
    }

    free(files);

    return rc;
}


/* the options into vf: 0, or -1 after a message (vf is then clean) */
static int
verify_setup(cli_opt_t *opts, verify_t *vf)
{
    int64_t     ms;
    cli_opt_t  *o;

    memset(vf, 0, sizeof(*vf));
    nitro_attest_config_init(&vf->cf);
    vf->at = cli_opt(opts, "at")->value;

    if (vf->at && strcmp(vf->at, "document") != 0
        && cli_parse_time(vf->at, &ms) != 0)
    {
        cli_error("verify: --at \"%s\" is not RFC 3339, milliseconds "
                  "or \"document\"", vf->at);
        return -1;
    }

    if (cli_duration("verify", "--max-age", cli_opt(opts, "max-age")->value,
                     &vf->cf.max_age_ms) != 0
        || cli_duration("verify", "--clock-skew",
                        cli_opt(opts, "clock-skew")->value,
                        &vf->cf.clock_skew_ms)
           != 0)
    {
        return -1;
    }

    o = cli_opt(opts, "binding");
    if (o->value && nitro_attest_binding_parse(o->value, &vf->cf.binding) != 0)
    {
        cli_error("verify: unknown --binding \"%s\" (public_key, "
                  "user_data_spki, user_data_sha256, user_data_sha384)",
                  o->value);
        return -1;
    }

    vf->cf.allow_debug = cli_opt(opts, "allow-debug")->count > 0;

    if (verify_core(opts, vf) != 0) {
        verify_cleanup(vf);
        return -1;
    }

    return 0;
}


/* what the core is given: extension, token key, root, policy, caches */
static int
verify_core(cli_opt_t *opts, verify_t *vf)
{
    char         err[512];
    const char  *path;

    if (verify_extension(opts, &vf->ext) != 0
        || verify_token_options(opts, &vf->token) != 0)
    {
        return -1;
    }

    vf->root = cli_load_root("verify", cli_opt(opts, "root")->value);
    if (vf->root == NULL) {
        return -1;
    }

    path = cli_opt(opts, "policy")->value;
    if (path) {
        vf->policy = nitro_attest_policy_load(path, err, sizeof(err));
        if (vf->policy == NULL) {
            cli_error("verify: %s", err);
            return -1;
        }
    }

    path = cli_opt(opts, "cert")->value;
    if (path) {
        vf->bind_cert = cli_load_cert_file(path);
        if (vf->bind_cert == NULL) {
            return -1;
        }
    }

    /* documents from one parent instance share their CA bundle */
    vf->cf.chain_cache = nitro_attest_chain_cache_new(16);
    vf->cf.memo = nitro_attest_memo_new(64);

    if (vf->cf.chain_cache == NULL || vf->cf.memo == NULL) {
        cli_error("verify: out of memory");
        return -1;
    }

    vf->cf.root = vf->root;
    vf->cf.policy = vf->policy;
    vf->cf.extension = vf->ext;

    return 0;
}


static void
verify_cleanup(verify_t *vf)
{
    X509_free(vf->bind_cert);
    nitro_attest_chain_cache_free(vf->cf.chain_cache);
    nitro_attest_memo_free(vf->cf.memo);
    nitro_attest_policy_free(vf->policy);
    nitro_attest_root_free(vf->root);
    nitro_attest_extension_free(vf->ext);
    nitro_attest_token_key_free(vf->token.key);
}


/* One FILE: one JSON line on stdout, or one error line on stderr. */
static int
verify_file(const verify_t *vf, const char *path)
{
    int                      rc;
    size_t                   len;
    int64_t                  now;
    cli_evidence_t           ev;
    struct timespec          t0, t1;
    const uint8_t           *doc;
    nitro_attest_verdict_t  *v;

    if (cli_evidence_read("verify", path, &ev) != 0) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    v = malloc(sizeof(*v));

    if (v == NULL) {
        cli_error("verify: out of memory");
        goto done;
    }

    now = cli_now_ms();

    if (vf->at != NULL && strcmp(vf->at, "document") == 0) {
        if (cli_evidence_document(&ev, vf->cf.extension, &doc, &len)
            == NITRO_ATTEST_OK)
        {
            nitro_attest_document_peek(doc, len, &now, NULL, 0);
        }

    } else if (vf->at != NULL) {
        cli_parse_time(vf->at, &now);
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (ev.cert != NULL) {
        nitro_attest_verify_cert(&vf->cf, ev.cert, now, v);
    } else {
        nitro_attest_verify_document(&vf->cf, ev.doc, ev.doc_len,
                                     vf->bind_cert, now, v);
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    v->verify_us = (uint32_t) ((t1.tv_sec - t0.tv_sec) * 1000000
                               + (t1.tv_nsec - t0.tv_nsec) / 1000);

    if (verify_print(v, path, vf->token.key ? &vf->token : NULL) != 0) {
        goto done;
    }

    rc = v->status == NITRO_ATTEST_STATUS_SUCCESS ? CLI_OK : CLI_FAILED;

done:

    cli_evidence_free(&ev);
    free(v);

    return rc;
}


/*
 * The JSON event nginx logs for the verdict; with --token-key the "token"
 * key follows the others: the token signed at the verification time, or
 * null for a verdict that did not hold or names no client certificate to
 * bind the token to.
 */
static int
verify_print(const nitro_attest_verdict_t *v, const char *path,
    const verify_token_t *token)
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
verify_token_options(cli_opt_t *opts, verify_token_t *token)
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


int
cli_cmd_inspect(int argc, char **argv)
{
    int                        nfiles, rc;
    char                     **files, *json;
    size_t                     len;
    cli_evidence_t             ev;
    const uint8_t             *doc;
    nitro_attest_reason_e      reason;
    nitro_attest_extension_t  *ext;

    cli_opt_t  opts[] = {
        cli_opt_value("extension"), cli_opt_value("extension-format"),
        cli_opt_end
    };

    if (cli_parse("inspect", argc, argv, opts, &files, &nfiles) != 0) {
        return CLI_USAGE;
    }

    if (nfiles != 1) {
        cli_error("inspect: exactly one FILE expected");
        free(files);
        return CLI_USAGE;
    }

    if (verify_extension(opts, &ext) != 0
        || cli_evidence_read("inspect", files[0], &ev) != 0)
    {
        nitro_attest_extension_free(ext);
        free(files);
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    json = NULL;

    reason = cli_evidence_document(&ev, ext, &doc, &len);
    if (reason == NITRO_ATTEST_OK) {
        json = nitro_attest_inspect_json(doc, len, &reason);
    }

    if (json != NULL) {
        puts(json);
        rc = CLI_OK;

    } else {
        cli_error("inspect: %s: %s", files[0],
                  nitro_attest_reason_name(reason));
    }

    free(json);
    cli_evidence_free(&ev);
    nitro_attest_extension_free(ext);
    free(files);

    return rc;
}


/* --extension OID and --extension-format: NULL *ext for the default */
static int
verify_extension(cli_opt_t *opts, nitro_attest_extension_t **ext)
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
