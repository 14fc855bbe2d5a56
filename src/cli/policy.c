/*
 * policy.c: `nitro-attest policy new|add|deny|remove|check`.  Files are
 * edited as JSON trees, so that what a command does not touch (the other
 * sets, their order, their keys) is written back as it was read; every
 * result passes the core's loader before it is printed or renamed over the
 * file, and `check` prints the core's lint, as nginx -t logs it.  A set
 * made from a document (--from-doc) pins its PCRs only once the core has
 * verified it.
 */

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <jansson.h>


#define POLICY_DUMP_FLAGS  (JSON_INDENT(2) | JSON_PRESERVE_ORDER)

/* the options of new, add and deny: one set */
#define POLICY_SET_OPTS                                                      \
    { "name", 1, 0, NULL, 0, NULL },                                         \
    { "pcr", 1, 1, NULL, 0, NULL },                                          \
    { "from-eif", 1, 0, NULL, 0, NULL },                                     \
    { "kind", 1, 0, NULL, 0, NULL },                                         \
    { "expect-every", 1, 0, NULL, 0, NULL },                                 \
    { "from-doc", 1, 0, NULL, 0, NULL },                                     \
    { "root", 1, 0, NULL, 0, NULL },                                         \
    { "pcrs", 1, 0, NULL, 0, NULL },                                         \
    { NULL, 0, 0, NULL, 0, NULL }

/* the PCRs a set made from a document pins unless --pcrs says otherwise */
#define POLICY_ENCLAVE_PCRS   (1u << 0 | 1u << 1 | 1u << 2)
#define POLICY_ENCLAVE_PCR8   8   /* a signed image's; zero when unsigned */
#define POLICY_NITROTPM_PCRS  (1u << 4 | 1u << 7 | 1u << 12)


static int policy_new(int argc, char **argv);
static int policy_edit(const char *cmd, int argc, char **argv);
static int policy_check(int argc, char **argv);
static void policy_check_warn(void *data, const char *set, const char *text);
static int policy_set_new(const char *cmd, cli_opt_t *opts, int is_allow,
    json_t **out);
static int policy_eif(const char *cmd, const char *path, char **hex);
static int policy_doc(const char *cmd, cli_opt_t *opts,
    nitro_attest_kind_e *kind, char **hex, char *name, size_t size);
static int policy_pcr_list(const char *cmd, const char *list,
    uint32_t *mask);
static int policy_pcr(const char *cmd, const char *what, unsigned long index,
    const char *value, nitro_attest_kind_e kind, char **hex);
static int policy_lock(const char *cmd, const char *path);
static json_t *policy_read(const char *cmd, const char *path);
static int policy_find(json_t *root, const char *name, const char **list,
    size_t *index);
static char *policy_dump(const char *cmd, json_t *root, const char *source);
static int policy_loads(const char *cmd, const char *text, size_t len,
    const char *source);
static int policy_write(const char *cmd, const char *path, const char *text);


int
cli_cmd_policy(int argc, char **argv)
{
    if (argc < 1) {
        cli_error("policy: missing command: new, add, deny, remove or "
                  "check");
        return CLI_USAGE;
    }

    if (cli_is_help(argv[0])) {
        (void) cli_help("policy");
        return CLI_OK;
    }

    if (strcmp(argv[0], "new") == 0) {
        return policy_new(argc - 1, argv + 1);
    }

    if (strcmp(argv[0], "add") == 0 || strcmp(argv[0], "deny") == 0
        || strcmp(argv[0], "remove") == 0)
    {
        return policy_edit(argv[0], argc - 1, argv + 1);
    }

    if (strcmp(argv[0], "check") == 0) {
        return policy_check(argc - 1, argv + 1);
    }

    cli_error("policy: unknown command \"%s\" (new, add, deny, remove, "
              "check)", argv[0]);
    return CLI_USAGE;
}


/* A policy of one allow set, on stdout. */
static int
policy_new(int argc, char **argv)
{
    int      nargs, rc;
    char   **args, *text;
    json_t  *root, *set;

    cli_opt_t  opts[] = { POLICY_SET_OPTS };

    rc = cli_parse("policy new", argc, argv, opts, &args, &nargs);
    if (rc != 0) {
        free(cli_opt(opts, "pcr")->values);
        return cli_parse_exit(rc);
    }

    rc = CLI_USAGE;
    root = NULL;

    if (nargs != 0) {
        cli_error("policy new: unexpected argument \"%s\"", args[0]);
        goto done;
    }

    rc = policy_set_new("policy new", opts, 1, &set);
    if (rc != CLI_OK) {
        goto done;
    }

    rc = CLI_USAGE;
    root = json_pack("{s:[o]}", "allow", set);
    text = root ? policy_dump("policy new", root, "(new)") : NULL;

    if (root == NULL) {
        cli_error("policy new: out of memory");
    }

    if (text != NULL) {
        fputs(text, stdout);
        free(text);
        rc = CLI_OK;
    }

done:

    json_decref(root);
    free(cli_opt(opts, "pcr")->values);
    free(args);

    return rc;
}


/*
 * add, deny, remove FILE --name NAME: the set to add is made first (a
 * document it comes from is verified before the file is locked), then the
 * file is locked, read, changed as a tree, checked by the loader and
 * renamed over; on any refusal it is untouched.  The lock is held from
 * before the read until after the rename, so that concurrent edits of one
 * file all land, one after another.
 */
static int
policy_edit(const char *cmd, int argc, char **argv)
{
    int          nargs, rc, is_remove, lock;
    char         what[32], **args, *text;
    size_t       index;
    json_t      *root, *list, *set;
    const char  *name, *found;

    cli_opt_t  opts[] = { POLICY_SET_OPTS };

    snprintf(what, sizeof(what), "policy %s", cmd);
    is_remove = (strcmp(cmd, "remove") == 0);

    rc = cli_parse(what, argc, argv, opts, &args, &nargs);
    if (rc != 0) {
        free(cli_opt(opts, "pcr")->values);
        return cli_parse_exit(rc);
    }

    rc = CLI_USAGE;
    lock = -1;
    root = NULL;
    set = NULL;
    text = NULL;
    name = cli_opt(opts, "name")->value;

    if (nargs != 1) {
        cli_error("%s: exactly one FILE expected", what);
        goto done;
    }

    if (is_remove && name == NULL) {
        cli_error("%s: --name is required", what);
        goto done;
    }

    if (is_remove
        && (cli_opt(opts, "pcr")->count || cli_opt(opts, "from-eif")->value
            || cli_opt(opts, "kind")->value
            || cli_opt(opts, "expect-every")->value
            || cli_opt(opts, "from-doc")->value
            || cli_opt(opts, "root")->value || cli_opt(opts, "pcrs")->value))
    {
        cli_error("%s: takes --name only", what);
        goto done;
    }

    if (!is_remove) {
        rc = policy_set_new(what, opts, strcmp(cmd, "add") == 0, &set);
        if (rc != CLI_OK) {
            goto done;
        }

        rc = CLI_USAGE;
        name = json_string_value(json_object_get(set, "name"));
    }

    lock = policy_lock(what, args[0]);
    if (lock < 0) {
        goto done;
    }

    root = policy_read(what, args[0]);
    if (root == NULL) {
        goto done;
    }

    if (is_remove) {
        if (policy_find(root, name, &found, &index) != 0) {
            cli_error("%s: %s: no set is named \"%s\"", what, args[0], name);
            goto done;
        }

        list = json_object_get(root, found);

        /* caught here to say why: the loader would only say "empty" */
        if (strcmp(found, "allow") == 0 && json_array_size(list) == 1) {
            cli_error("%s: %s: \"%s\" is the last allow set", what, args[0],
                      name);
            goto done;
        }

        json_array_remove(list, index);

    } else {
        if (policy_find(root, name, &found, &index) == 0) {
            cli_error("%s: %s: %s set \"%s\" exists", what, args[0], found,
                      name);
            goto done;
        }

        found = strcmp(cmd, "add") == 0 ? "allow" : "deny";
        list = json_object_get(root, found);

        if (list == NULL) {
            list = json_array();
            if (json_object_set_new(root, found, list) != 0) {
                cli_error("%s: out of memory", what);
                goto done;
            }
        }

        if (json_array_append(list, set) != 0) {
            cli_error("%s: out of memory", what);
            goto done;
        }
    }

    text = policy_dump(what, root, args[0]);

    if (text != NULL && policy_write(what, args[0], text) == 0) {
        rc = CLI_OK;
    }

done:

    /* after the rename: an editor waiting on this inode opens the new one */
    if (lock >= 0) {
        close(lock);
    }

    free(text);
    json_decref(set);
    json_decref(root);
    free(cli_opt(opts, "pcr")->values);
    free(args);

    return rc;
}


/* check FILE...: exit 2 when one is malformed, else 1 when one warns. */
static int
policy_check(int argc, char **argv)
{
    int                     i, nargs, rc;
    char                    err[512], **args;
    nitro_attest_policy_t  *policy;

    cli_opt_t  opts[] = {
        { NULL, 0, 0, NULL, 0, NULL }
    };

    rc = cli_parse("policy check", argc, argv, opts, &args, &nargs);
    if (rc != 0) {
        return cli_parse_exit(rc);
    }

    if (nargs == 0) {
        cli_error("policy check: no FILE given");
        free(args);
        return CLI_USAGE;
    }

    rc = CLI_OK;

    for (i = 0; i < nargs; i++) {
        policy = nitro_attest_policy_load(args[i], err, sizeof(err));

        if (policy == NULL) {
            cli_error("policy check: %s", err);
            rc = CLI_USAGE;
            continue;
        }

        if (nitro_attest_policy_lint(policy, policy_check_warn, args[i]) > 0
            && rc == CLI_OK)
        {
            rc = CLI_FAILED;
        }

        nitro_attest_policy_free(policy);
    }

    fflush(stdout);
    free(args);

    return rc;
}


static void
policy_check_warn(void *data, const char *set, const char *text)
{
    printf("%s: %s: %s\n", (const char *) data, set, text);
}


/*
 * The set that --name, --kind, --pcr, --from-eif, --from-doc and
 * --expect-every describe, with its PCRs in index order and lowercase,
 * into *out: CLI_OK, or CLI_FAILED (the document did not verify) or
 * CLI_USAGE after an error message.
 */
static int
policy_set_new(const char *cmd, cli_opt_t *opts, int is_allow, json_t **out)
{
    int                   i, rc;
    char                 *end, *hex[NITRO_ATTEST_PCR_COUNT];
    char                  doc_name[NITRO_ATTEST_POLICY_NAME_MAX + 1];
    json_t               *set, *pcrs;
    int64_t               every_ms;
    unsigned              k, n;
    cli_opt_t            *o;
    const char           *name, *spec, *eif, *doc, *every;
    unsigned long         index;
    nitro_attest_kind_e   kind, doc_kind;

    *out = NULL;
    set = NULL;
    rc = CLI_USAGE;
    memset(hex, 0, sizeof(hex));
    name = cli_opt(opts, "name")->value;
    eif = cli_opt(opts, "from-eif")->value;
    doc = cli_opt(opts, "from-doc")->value;
    every = cli_opt(opts, "expect-every")->value;
    o = cli_opt(opts, "kind");
    kind = NITRO_ATTEST_KIND_ENCLAVE;

    if (name == NULL && doc == NULL) {
        cli_error("%s: --name is required", cmd);
        return CLI_USAGE;
    }

    if (doc == NULL
        && (cli_opt(opts, "root")->value || cli_opt(opts, "pcrs")->value))
    {
        cli_error("%s: --root and --pcrs go with --from-doc", cmd);
        return CLI_USAGE;
    }

    if (doc && eif) {
        cli_error("%s: --from-doc or --from-eif, not both", cmd);
        return CLI_USAGE;
    }

    if (o->value && nitro_attest_kind_parse(o->value, &kind) != 0) {
        cli_error("%s: --kind must be enclave or nitrotpm, not \"%s\"", cmd,
                  o->value);
        return CLI_USAGE;
    }

    if (eif && kind != NITRO_ATTEST_KIND_ENCLAVE) {
        cli_error("%s: --from-eif gives enclave measurements, not %s ones",
                  cmd, o->value);
        return CLI_USAGE;
    }

    if (every && !is_allow) {
        cli_error("%s: --expect-every is for allow sets only", cmd);
        return CLI_USAGE;
    }

    every_ms = 0;
    if (cli_duration(cmd, "--expect-every", every, &every_ms) != 0) {
        return CLI_USAGE;
    }

    if (every && every_ms == 0) {
        cli_error("%s: --expect-every must be more than 0", cmd);
        return CLI_USAGE;
    }

    if (eif && policy_eif(cmd, eif, hex) != 0) {
        goto done;
    }

    if (doc) {
        rc = policy_doc(cmd, opts, &doc_kind, hex, doc_name,
                        sizeof(doc_name));
        if (rc != CLI_OK) {
            goto done;
        }

        rc = CLI_USAGE;

        if (o->value && kind != doc_kind) {
            cli_error("%s: --kind %s, but the document of %s is of kind %s",
                      cmd, o->value, doc, nitro_attest_kind_name(doc_kind));
            goto done;
        }

        kind = doc_kind;

        if (name == NULL) {
            name = doc_name;
        }
    }

    o = cli_opt(opts, "pcr");

    for (i = 0; i < o->count; i++) {
        spec = o->values[i];
        errno = 0;
        index = strtoul(spec, &end, 10);

        if (!isdigit((unsigned char) spec[0]) || *end != '=' || errno != 0) {
            cli_error("%s: --pcr \"%s\" is not N=HEX", cmd, spec);
            goto done;
        }

        if (policy_pcr(cmd, "--pcr", index, end + 1, kind, hex) != 0) {
            goto done;
        }
    }

    for (k = 0, n = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
        n += hex[k] != NULL;
    }

    if (n == 0) {
        cli_error("%s: no PCR given (--pcr N=HEX, --from-eif FILE or "
                  "--from-doc FILE)", cmd);
        goto done;
    }

    pcrs = json_object();
    set = json_pack("{s:s}", "name", name);

    /* the kind is written when asked for, or when it is not the default */
    if (set == NULL || pcrs == NULL
        || ((cli_opt(opts, "kind")->value
             || kind != NITRO_ATTEST_KIND_ENCLAVE)
            && json_object_set_new(set, "kind",
                                   json_string(nitro_attest_kind_name(kind)))
               != 0)
        || json_object_set_new(set, "pcrs", pcrs) != 0
        || (every && json_object_set_new(set, "expect_every",
                                         json_string(every)) != 0))
    {
        goto nomem;
    }

    for (k = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
        char  key[4];

        snprintf(key, sizeof(key), "%u", k);

        if (hex[k] && json_object_set_new(pcrs, key, json_string(hex[k])) != 0)
        {
            goto nomem;
        }
    }

    *out = set;
    rc = CLI_OK;
    goto done;

nomem:

    cli_error("%s: out of memory", cmd);
    json_decref(set);

done:

    for (k = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
        free(hex[k]);
    }

    return rc;
}


/*
 * --from-doc FILE: a document (raw, base64 or hex) or a certificate (PEM or
 * DER) carrying one in the default extension, verified by the core at the
 * document's own timestamp: its signature, its chain to --root (default:
 * AWS's) and the debug rule hold, its age is not judged (a known-good
 * document may be old).  No policy judges it and no binding is checked:
 * the set is made of its measurements only.  Then its PCRs that --pcrs
 * lists, else those that identify an image: PCR0, 1, 2 and, when not all
 * zero, 8 (the signing certificate) of an enclave; PCR4, 7 and 12 (boot
 * loader, Secure Boot policy, and the system's own measurements) of a
 * NitroTPM.  name receives a default set name made of the kind, the first
 * PCR taken and its first 12 hex digits.
 */
static int
policy_doc(const char *cmd, cli_opt_t *opts, nitro_attest_kind_e *kind,
    char **hex, char *name, size_t size)
{
    int                      rc;
    char                     err[512];
    char                     text[2 * NITRO_ATTEST_PCR_MAX_LEN + 1];
    X509                    *cert;
    size_t                   len, doc_len, i;
    int64_t                  ts;
    uint8_t                 *data, *decoded;
    unsigned                 k;
    uint32_t                 want;
    const char              *path, *root_path;
    const uint8_t           *doc, *pcr;
    nitro_attest_root_t     *root;
    nitro_attest_config_t    cf;
    nitro_attest_reason_e    reason;
    nitro_attest_verdict_t  *v;

    path = cli_opt(opts, "from-doc")->value;
    root_path = cli_opt(opts, "root")->value;
    want = 0;

    if (cli_opt(opts, "pcrs")->value
        && policy_pcr_list(cmd, cli_opt(opts, "pcrs")->value, &want) != 0)
    {
        return CLI_USAGE;
    }

    if (cli_read_file(path, &data, &len) != 0) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    decoded = NULL;
    doc = NULL;
    doc_len = 0;
    v = malloc(sizeof(*v));
    cert = cli_load_cert(data, len);
    root = root_path ? nitro_attest_root_load(root_path, err, sizeof(err))
                     : nitro_attest_root_default(err, sizeof(err));

    if (root == NULL) {
        cli_error("%s: %s", cmd, err);
        goto done;
    }

    if (v == NULL
        || (cert == NULL
            && nitro_attest_decode_text(data, len, &decoded, &doc_len) != 0))
    {
        cli_error("%s: out of memory", cmd);
        goto done;
    }

    reason = NITRO_ATTEST_OK;
    doc = decoded;

    if (cert != NULL) {
        reason = nitro_attest_cert_document(NULL, cert, &doc, &doc_len);
    }

    if (reason == NITRO_ATTEST_OK
        && nitro_attest_document_peek(doc, doc_len, &ts, NULL, 0) != 0)
    {
        reason = NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    if (reason == NITRO_ATTEST_OK) {
        nitro_attest_config_init(&cf);
        cf.root = root;
        reason = nitro_attest_verify_document(&cf, doc, doc_len, NULL, ts, v);
    }

    if (reason != NITRO_ATTEST_OK) {
        cli_error("%s: %s: the document did not verify: %s", cmd, path,
                  nitro_attest_reason_name(reason));
        rc = CLI_FAILED;
        goto done;
    }

    *kind = (nitro_attest_kind_e) v->kind;

    if (want == 0 && *kind == NITRO_ATTEST_KIND_NITROTPM) {
        want = POLICY_NITROTPM_PCRS;

    } else if (want == 0) {
        want = POLICY_ENCLAVE_PCRS;

        pcr = nitro_attest_span_ptr(v, v->pcr[POLICY_ENCLAVE_PCR8]);
        for (i = 0; i < v->pcr[POLICY_ENCLAVE_PCR8].len && pcr[i] == 0; i++) {
            /* void */
        }

        if (i < v->pcr[POLICY_ENCLAVE_PCR8].len) {
            want |= 1u << POLICY_ENCLAVE_PCR8;
        }
    }

    name[0] = '\0';

    for (k = 0; k < NITRO_ATTEST_PCR_COUNT; k++) {
        if (!(want & (1u << k))) {
            continue;
        }

        if (!(v->pcr_mask & (1u << k))) {
            cli_error("%s: %s: the document has no PCR %u", cmd, path, k);
            goto done;
        }

        *nitro_attest_hex(text, nitro_attest_span_ptr(v, v->pcr[k]),
                          v->pcr[k].len) = '\0';

        if (policy_pcr(cmd, path, k, text, *kind, hex) != 0) {
            goto done;
        }

        if (name[0] == '\0') {
            snprintf(name, size, "%s-pcr%u-%.12s",
                     nitro_attest_kind_name(*kind), k, text);
        }
    }

    rc = CLI_OK;

done:

    nitro_attest_root_free(root);
    X509_free(cert);
    free(decoded);
    free(data);
    free(v);

    return rc;
}


/* --pcrs "0,1,2,8": a mask of PCR indexes, each listed once. */
static int
policy_pcr_list(const char *cmd, const char *list, uint32_t *mask)
{
    char           *end;
    const char     *p;
    unsigned long   index;

    *mask = 0;
    p = list;

    for ( ;; ) {
        errno = 0;
        index = strtoul(p, &end, 10);

        if (!isdigit((unsigned char) *p) || errno != 0
            || (*end != ',' && *end != '\0'))
        {
            cli_error("%s: --pcrs \"%s\" is not a list of PCR numbers such "
                      "as 0,1,2", cmd, list);
            return -1;
        }

        if (index >= NITRO_ATTEST_PCR_COUNT) {
            cli_error("%s: --pcrs: PCR %lu is not 0..%d", cmd, index,
                      NITRO_ATTEST_PCR_COUNT - 1);
            return -1;
        }

        if (*mask & (1u << index)) {
            cli_error("%s: --pcrs: PCR %lu given twice", cmd, index);
            return -1;
        }

        *mask |= 1u << index;

        if (*end == '\0') {
            return 0;
        }

        p = end + 1;
    }
}


/*
 * The measurements `nitro-cli build-enclave` and `nitro-cli describe-eif`
 * print: both have {"Measurements": {"HashAlgorithm": "Sha384 { ... }",
 * "PCR0": ..., "PCR1": ..., "PCR2": ..., "PCR8" for a signed image}};
 * describe-eif has more keys around it, which say nothing to a policy.
 */
static int
policy_eif(const char *cmd, const char *path, char **hex)
{
    int            rc;
    char          *end;
    size_t         len;
    json_t        *root, *m, *value;
    uint8_t       *data;
    const char    *key, *alg;
    json_error_t   jerr;
    unsigned long  index;

    if (cli_read_file(path, &data, &len) != 0) {
        return -1;
    }

    rc = -1;
    root = json_loadb((const char *) data, len, 0, &jerr);
    free(data);

    if (root == NULL) {
        cli_error("%s: %s line %d: %s", cmd, path, jerr.line, jerr.text);
        return -1;
    }

    m = json_object_get(root, "Measurements");
    if (!json_is_object(m)) {
        cli_error("%s: %s: no \"Measurements\" object (the output of "
                  "nitro-cli build-enclave or describe-eif)", cmd, path);
        goto done;
    }

    value = json_object_get(m, "HashAlgorithm");
    alg = json_string_value(value);

    if (value != NULL && (alg == NULL || strncmp(alg, "Sha384", 6) != 0)) {
        cli_error("%s: %s: HashAlgorithm is not Sha384", cmd, path);
        goto done;
    }

    json_object_foreach(m, key, value) {
        if (strncmp(key, "PCR", 3) != 0) {
            continue;
        }

        errno = 0;
        index = strtoul(key + 3, &end, 10);

        if (!isdigit((unsigned char) key[3]) || *end != '\0' || errno != 0
            || json_string_value(value) == NULL)
        {
            cli_error("%s: %s: \"%s\" is not a PCR measurement", cmd, path,
                      key);
            goto done;
        }

        if (policy_pcr(cmd, path, index, json_string_value(value),
                       NITRO_ATTEST_KIND_ENCLAVE, hex) != 0)
        {
            goto done;
        }
    }

    if (json_object_get(m, "PCR0") == NULL) {
        cli_error("%s: %s: no PCR0 in \"Measurements\"", cmd, path);
        goto done;
    }

    rc = 0;

done:

    json_decref(root);
    return rc;
}


/* hex[index] = value in lowercase, once; what says where it came from. */
static int
policy_pcr(const char *cmd, const char *what, unsigned long index,
    const char *value, nitro_attest_kind_e kind, char **hex)
{
    size_t  i, n;

    n = strlen(value);

    if (index >= (kind == NITRO_ATTEST_KIND_NITROTPM
                  ? NITRO_ATTEST_NITROTPM_PCR_COUNT : NITRO_ATTEST_PCR_COUNT))
    {
        cli_error("%s: %s: PCR %lu is not 0..%d (a %s set)", cmd, what, index,
                  kind == NITRO_ATTEST_KIND_NITROTPM
                  ? NITRO_ATTEST_NITROTPM_PCR_COUNT - 1
                  : NITRO_ATTEST_PCR_COUNT - 1,
                  nitro_attest_kind_name(kind));
        return -1;
    }

    for (i = 0; i < n && isxdigit((unsigned char) value[i]); i++) {
        /* void */
    }

    if (i != n || (n != 64 && n != 96 && n != 128)) {
        cli_error("%s: %s: PCR %lu must be 64, 96 or 128 hex digits", cmd,
                  what, index);
        return -1;
    }

    if (hex[index] != NULL) {
        cli_error("%s: %s: PCR %lu given twice", cmd, what, index);
        return -1;
    }

    hex[index] = strdup(value);
    if (hex[index] == NULL) {
        cli_error("%s: out of memory", cmd);
        return -1;
    }

    for (i = 0; i < n; i++) {
        hex[index][i] = (char) tolower((unsigned char) hex[index][i]);
    }

    return 0;
}


/*
 * An exclusive flock() on the file path names, held by the descriptor
 * returned (closing it releases the lock), or -1 after a message.  The lock
 * lives on the inode, and each edit renames a new inode over the path: an
 * editor that waited on the old one would otherwise read a file that is no
 * longer there and rename its edit over the one that just landed.  So once
 * it holds a lock, it checks that the path still names the locked inode,
 * and opens the path again when not.  The inode cannot be reused under the
 * check: the descriptor keeps it alive.  Opened for writing, which an edit
 * needs anyway, since an exclusive lock on NFS (emulated with fcntl()
 * locks) requires it.
 */
static int
policy_lock(const char *cmd, const char *path)
{
    int          fd;
    struct stat  locked, named;

    for ( ;; ) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            break;
        }

        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                goto failed;
            }
        }

        if (fstat(fd, &locked) != 0 || stat(path, &named) != 0) {
            goto failed;
        }

        if (locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
            return fd;
        }

        close(fd);
    }

failed:

    cli_error("%s: %s: %s", cmd, path, strerror(errno));

    if (fd >= 0) {
        close(fd);
    }

    return -1;
}


/* The file as a JSON tree, once the loader has accepted it as it is. */
static json_t *
policy_read(const char *cmd, const char *path)
{
    size_t         len;
    json_t        *root;
    uint8_t       *data;
    json_error_t   jerr;

    if (cli_read_file(path, &data, &len) != 0) {
        return NULL;
    }

    if (policy_loads(cmd, (const char *) data, len, path) != 0) {
        free(data);
        return NULL;
    }

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, &jerr);
    free(data);

    if (root == NULL) {
        cli_error("%s: %s line %d: %s", cmd, path, jerr.line, jerr.text);
    }

    return root;
}


/* 0 and where the set named name is (list "allow" or "deny"), or -1. */
static int
policy_find(json_t *root, const char *name, const char **list, size_t *index)
{
    size_t        i, k;
    json_t       *sets;
    const char   *s;

    static const char  *lists[] = { "allow", "deny" };

    for (k = 0; k < 2; k++) {
        sets = json_object_get(root, lists[k]);

        for (i = 0; i < json_array_size(sets); i++) {
            s = json_string_value(json_object_get(json_array_get(sets, i),
                                                  "name"));

            if (s != NULL && strcmp(s, name) == 0) {
                *list = lists[k];
                *index = i;
                return 0;
            }
        }
    }

    return -1;
}


/* The tree as text, if the loader accepts it; NULL after a message. */
static char *
policy_dump(const char *cmd, json_t *root, const char *source)
{
    char    *text, *line;
    size_t   len;

    text = json_dumps(root, POLICY_DUMP_FLAGS);
    len = text ? strlen(text) : 0;
    line = text ? realloc(text, len + 2) : NULL;

    if (line == NULL) {
        free(text);
        cli_error("%s: out of memory", cmd);
        return NULL;
    }

    line[len] = '\n';
    line[len + 1] = '\0';

    if (policy_loads(cmd, line, len + 1, source) != 0) {
        free(line);
        return NULL;
    }

    return line;
}


/* 0 when the core's loader accepts text, or -1 after its message. */
static int
policy_loads(const char *cmd, const char *text, size_t len,
    const char *source)
{
    char                    err[512];
    nitro_attest_policy_t  *policy;

    policy = nitro_attest_policy_parse(text, len, source, err, sizeof(err));
    if (policy == NULL) {
        cli_error("%s: %s", cmd, err);
        return -1;
    }

    nitro_attest_policy_free(policy);
    return 0;
}


/*
 * Replaces path (through a symlink: its target) with text atomically: a
 * temporary file in the same directory, with the old file's mode (and
 * owner, where we may give it), written, fsync()ed and renamed over it,
 * then the directory fsync()ed, so nginx reads the old or the new policy,
 * never a part, even after a crash.  The caller holds the file open for
 * writing (policy_lock()): whoever may not write it does not replace it.
 */
static int
policy_write(const char *cmd, const char *path, const char *text)
{
    int          fd, dfd, rc;
    char        *real, *dir, *tmp, *slash;
    size_t       len, off;
    ssize_t      n;
    struct stat  st;

    rc = -1;
    fd = -1;
    tmp = NULL;
    dir = NULL;

    real = realpath(path, NULL);
    if (real == NULL || stat(real, &st) != 0) {
        cli_error("%s: %s: %s", cmd, path, strerror(errno));
        goto done;
    }

    /* realpath() is absolute: the directory is all before the last '/' */
    slash = strrchr(real, '/');
    dir = strndup(real, slash == real ? 1 : (size_t) (slash - real));

    if (dir == NULL
        || asprintf(&tmp, "%s/.%s.XXXXXX", dir, slash + 1) < 0)
    {
        tmp = NULL;
        cli_error("%s: out of memory", cmd);
        goto done;
    }

    fd = mkstemp(tmp);
    if (fd < 0) {
        cli_error("%s: %s: %s", cmd, tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }

    /* not giving the file away is no error: the mode is what protects it */
    if (st.st_uid != geteuid() || st.st_gid != getegid()) {
        (void) fchown(fd, st.st_uid, st.st_gid);
    }

    if (fchmod(fd, st.st_mode & 07777) != 0) {
        cli_error("%s: %s: %s", cmd, tmp, strerror(errno));
        goto done;
    }

    len = strlen(text);

    for (off = 0; off < len; off += (size_t) n) {
        n = write(fd, text + off, len - off);

        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n < 0) {
            cli_error("%s: %s: %s", cmd, tmp, strerror(errno));
            goto done;
        }
    }

    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        cli_error("%s: %s: %s", cmd, tmp, strerror(errno));
        goto done;
    }

    fd = -1;

    if (rename(tmp, real) != 0) {
        cli_error("%s: %s: %s", cmd, path, strerror(errno));
        goto done;
    }

    free(tmp);
    tmp = NULL;
    rc = 0;

    /* the rename itself reaches the disk with the directory */
    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || fsync(dfd) != 0) {
        cli_error("%s: %s was replaced, but syncing %s failed: %s", cmd,
                  path, dir, strerror(errno));
        rc = -1;
    }

    if (dfd >= 0) {
        close(dfd);
    }

done:

    if (fd >= 0) {
        close(fd);
    }

    if (tmp != NULL) {
        unlink(tmp);
        free(tmp);
    }

    free(dir);
    free(real);

    return rc;
}
