/*
 * policy.c: `nitro-attest policy new|add|deny|remove|check`.  Files are
 * edited as JSON trees, so that what a command does not touch (the other
 * sets, their order, their keys) is written back as it was read; every
 * result passes the core's loader before it is printed or renamed over the
 * file, and `check` prints the core's lint, as nginx -t logs it.  A set
 * made from a document (--from-doc) pins its PCRs only once the core has
 * verified it.  Every PCR follows the core's rule (nitro_attest_pcr_parse).
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

/* the options of new, add, deny (and remove, which takes --name only) */
#define POLICY_SET_OPTS                                                      \
    cli_opt_value("name"), cli_opt_list("pcr"), cli_opt_value("from-eif"),   \
    cli_opt_value("kind"), cli_opt_value("expect-every"),                    \
    cli_opt_value("from-doc"), cli_opt_value("root"), cli_opt_value("pcrs"), \
    cli_opt_value("service"), cli_opt_value("version"), cli_opt_end

/* the PCRs a set made from a document pins unless --pcrs says otherwise */
#define POLICY_ENCLAVE_PCRS   (1u << 0 | 1u << 1 | 1u << 2)
#define POLICY_ENCLAVE_PCR8   8   /* a signed image's; zero when unsigned */
#define POLICY_NITROTPM_PCRS  (1u << 4 | 1u << 7 | 1u << 12)

/* the set that the options of new, add and deny describe */
typedef struct {
    const char                *name;
    const char                *kind_text;   /* --kind as given, or NULL */
    const char                *every;       /* --expect-every as given */
    const char                *service;     /* --service, or NULL */
    long long                  version;     /* --version, with --service */
    nitro_attest_kind_e        kind;
    cli_pcrs_t                 pcrs;        /* those it pins */
    char                       doc_name[NITRO_ATTEST_POLICY_NAME_MAX + 1];
} policy_set_t;


static int policy_append(const char *cmd, const char *list, int argc,
    char **argv);
static void policy_check_warn(void *data, const char *set, const char *text);
static int policy_set_new(const char *cmd, cli_opt_t *opts, int is_allow,
    json_t **out);
static int policy_set_options(const char *cmd, cli_opt_t *opts, int is_allow,
    policy_set_t *set);
static int policy_set_pcrs(const char *cmd, cli_opt_t *opts,
    policy_set_t *set);
static json_t *policy_set_json(const char *cmd, const policy_set_t *set);
static int policy_eif(const char *cmd, const char *path, policy_set_t *set);
static int policy_doc(const char *cmd, cli_opt_t *opts, policy_set_t *set,
    nitro_attest_kind_e *kind);
static int policy_doc_verify(const char *cmd, const char *path,
    const char *root_path, nitro_attest_verdict_t *v);
static uint32_t policy_doc_pcrs(const nitro_attest_verdict_t *v);
static int policy_pcr_list(const char *cmd, const char *list,
    uint32_t *mask);
static int policy_pcr(const char *cmd, const char *what,
    nitro_attest_kind_e kind, unsigned long index, const char *hex,
    policy_set_t *set);
static int policy_pcr_take(const char *cmd, const char *what,
    unsigned long index, const uint8_t *value, size_t len, policy_set_t *set);
static int policy_rewrite(const char *cmd, const char *path,
    const char *list, json_t *set, const char *name);
static int policy_add_set(const char *cmd, const char *path, json_t *root,
    const char *list, json_t *set);
static int policy_remove_set(const char *cmd, const char *path, json_t *root,
    const char *name);
static int policy_lock(const char *cmd, const char *path);
static json_t *policy_read(const char *cmd, const char *path);
static int policy_find(json_t *root, const char *name, const char **list,
    size_t *index);
static char *policy_dump(const char *cmd, json_t *root, const char *source);
static int policy_loads(const char *cmd, const char *text, size_t len,
    const char *source);


/* A policy of one allow set, on stdout. */
int
cli_cmd_policy_new(int argc, char **argv)
{
    int      nargs, rc;
    char   **args, *text;
    json_t  *root, *set;

    cli_opt_t  opts[] = { POLICY_SET_OPTS };

    if (cli_parse("policy new", argc, argv, opts, &args, &nargs) != 0) {
        cli_opts_free(opts);
        return CLI_USAGE;
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
    cli_opts_free(opts);
    free(args);

    return rc;
}


int
cli_cmd_policy_add(int argc, char **argv)
{
    return policy_append("policy add", "allow", argc, argv);
}


int
cli_cmd_policy_deny(int argc, char **argv)
{
    return policy_append("policy deny", "deny", argc, argv);
}


/*
 * add, deny FILE: the set is made first (a document it comes from is
 * verified before the file is locked), then appended to list in FILE.
 */
static int
policy_append(const char *cmd, const char *list, int argc, char **argv)
{
    int      nargs, rc;
    char   **args;
    json_t  *set;

    cli_opt_t  opts[] = { POLICY_SET_OPTS };

    if (cli_parse(cmd, argc, argv, opts, &args, &nargs) != 0) {
        cli_opts_free(opts);
        return CLI_USAGE;
    }

    rc = CLI_USAGE;

    if (nargs != 1) {
        cli_error("%s: exactly one FILE expected", cmd);

    } else {
        rc = policy_set_new(cmd, opts, strcmp(list, "allow") == 0, &set);

        if (rc == CLI_OK) {
            rc = policy_rewrite(cmd, args[0], list, set, NULL);
            json_decref(set);
        }
    }

    cli_opts_free(opts);
    free(args);

    return rc;
}


/* remove FILE --name NAME */
int
cli_cmd_policy_remove(int argc, char **argv)
{
    int          nargs, rc;
    char       **args;
    const char  *name;

    cli_opt_t  opts[] = { POLICY_SET_OPTS };

    if (cli_parse("policy remove", argc, argv, opts, &args, &nargs) != 0) {
        cli_opts_free(opts);
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    name = cli_opt(opts, "name")->value;

    if (nargs != 1) {
        cli_error("policy remove: exactly one FILE expected");

    } else if (name == NULL) {
        cli_error("policy remove: --name is required");

    } else if (cli_opt(opts, "pcr")->count
               || cli_opt(opts, "from-eif")->value
               || cli_opt(opts, "kind")->value
               || cli_opt(opts, "expect-every")->value
               || cli_opt(opts, "from-doc")->value
               || cli_opt(opts, "root")->value
               || cli_opt(opts, "pcrs")->value
               || cli_opt(opts, "service")->value
               || cli_opt(opts, "version")->value)
    {
        cli_error("policy remove: takes --name only");

    } else {
        rc = policy_rewrite("policy remove", args[0], NULL, NULL, name);
    }

    cli_opts_free(opts);
    free(args);

    return rc;
}


/* check FILE...: exit 2 when one is malformed, else 1 when one warns. */
int
cli_cmd_policy_check(int argc, char **argv)
{
    int                     i, nargs, rc;
    char                    err[512], **args;
    nitro_attest_policy_t  *policy;

    cli_opt_t  opts[] = { cli_opt_end };

    if (cli_parse("policy check", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
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
    int            rc;
    policy_set_t   set;

    *out = NULL;

    if (policy_set_options(cmd, opts, is_allow, &set) != 0) {
        return CLI_USAGE;
    }

    rc = policy_set_pcrs(cmd, opts, &set);
    if (rc != CLI_OK) {
        return rc;
    }

    *out = policy_set_json(cmd, &set);

    return *out ? CLI_OK : CLI_USAGE;
}


/* the options that go together, the kind, expect_every, the release: 0,
 * or -1 */
static int
policy_set_options(const char *cmd, cli_opt_t *opts, int is_allow,
    policy_set_t *set)
{
    char        *end;
    int64_t      every_ms;
    const char  *eif, *doc, *version;

    memset(set, 0, sizeof(*set));
    set->name = cli_opt(opts, "name")->value;
    set->kind_text = cli_opt(opts, "kind")->value;
    set->every = cli_opt(opts, "expect-every")->value;
    set->kind = NITRO_ATTEST_KIND_ENCLAVE;
    eif = cli_opt(opts, "from-eif")->value;
    doc = cli_opt(opts, "from-doc")->value;

    if (set->name == NULL && doc == NULL) {
        cli_error("%s: --name is required", cmd);
        return -1;
    }

    if (doc == NULL
        && (cli_opt(opts, "root")->value || cli_opt(opts, "pcrs")->value))
    {
        cli_error("%s: --root and --pcrs go with --from-doc", cmd);
        return -1;
    }

    if (doc && eif) {
        cli_error("%s: --from-doc or --from-eif, not both", cmd);
        return -1;
    }

    if (set->kind_text && cli_kind(cmd, set->kind_text, &set->kind) != 0) {
        return -1;
    }

    if (eif && set->kind != NITRO_ATTEST_KIND_ENCLAVE) {
        cli_error("%s: --from-eif gives enclave measurements, not %s ones",
                  cmd, set->kind_text);
        return -1;
    }

    if (set->every && !is_allow) {
        cli_error("%s: --expect-every is for allow sets only", cmd);
        return -1;
    }

    every_ms = 0;
    if (cli_duration(cmd, "--expect-every", set->every, &every_ms) != 0) {
        return -1;
    }

    if (set->every && every_ms == 0) {
        cli_error("%s: --expect-every must be more than 0", cmd);
        return -1;
    }

    /* the policy loader judges the service's name; the number is ours */

    set->service = cli_opt(opts, "service")->value;
    version = cli_opt(opts, "version")->value;

    if ((set->service || version) && !is_allow) {
        cli_error("%s: --service and --version are for allow sets only",
                  cmd);
        return -1;
    }

    if ((set->service == NULL) != (version == NULL)) {
        cli_error("%s: --service and --version go together", cmd);
        return -1;
    }

    for (end = (char *) set->service; end && *end; end++) {
        if (*end < 0x20 || *end > 0x7e) {
            break;
        }
    }

    if (set->service
        && (*end != '\0' || end == set->service
            || end - set->service > NITRO_ATTEST_POLICY_NAME_MAX))
    {
        cli_error("%s: --service must be 1..%d printable ASCII characters",
                  cmd, NITRO_ATTEST_POLICY_NAME_MAX);
        return -1;
    }

    if (version) {
        errno = 0;
        set->version = strtoll(version, &end, 10);

        if (!isdigit((unsigned char) version[0]) || *end != '\0'
            || errno != 0)
        {
            cli_error("%s: --version must be a whole number, 0 or more, "
                      "not \"%s\"", cmd, version);
            return -1;
        }
    }

    return 0;
}


/* the PCRs of --from-eif, --from-doc, then --pcr, each once */
static int
policy_set_pcrs(const char *cmd, cli_opt_t *opts, policy_set_t *set)
{
    int                   i, rc;
    size_t                len;
    cli_opt_t            *o;
    const char           *eif, *doc;
    unsigned long         index;
    nitro_attest_kind_e   doc_kind;
    uint8_t               value[NITRO_ATTEST_PCR_MAX_LEN];

    eif = cli_opt(opts, "from-eif")->value;
    doc = cli_opt(opts, "from-doc")->value;

    if (eif && policy_eif(cmd, eif, set) != 0) {
        return CLI_USAGE;
    }

    if (doc) {
        rc = policy_doc(cmd, opts, set, &doc_kind);
        if (rc != CLI_OK) {
            return rc;
        }

        if (set->kind_text && set->kind != doc_kind) {
            cli_error("%s: --kind %s, but the document of %s is of kind %s",
                      cmd, set->kind_text, doc,
                      nitro_attest_kind_name(doc_kind));
            return CLI_USAGE;
        }

        set->kind = doc_kind;

        if (set->name == NULL) {
            set->name = set->doc_name;
        }
    }

    o = cli_opt(opts, "pcr");

    for (i = 0; i < o->count; i++) {
        if (cli_pcr_option(cmd, o->values[i], set->kind, &index, value, &len)
            != 0
            || policy_pcr_take(cmd, "--pcr", index, value, len, set) != 0)
        {
            return CLI_USAGE;
        }
    }

    if (set->pcrs.mask == 0) {
        cli_error("%s: no PCR given (--pcr N=HEX, --from-eif FILE or "
                  "--from-doc FILE)", cmd);
        return CLI_USAGE;
    }

    return CLI_OK;
}


/* the set as the policy file spells it; NULL after a message */
static json_t *
policy_set_json(const char *cmd, const policy_set_t *set)
{
    char       key[4], hex[2 * NITRO_ATTEST_PCR_MAX_LEN + 1];
    json_t    *obj, *pcrs;
    unsigned   k;

    pcrs = json_object();

    for (k = 0; pcrs != NULL && k < NITRO_ATTEST_PCR_COUNT; k++) {
        if (!(set->pcrs.mask & (1u << k))) {
            continue;
        }

        snprintf(key, sizeof(key), "%u", k);
        *nitro_attest_hex(hex, set->pcrs.value[k], set->pcrs.len[k]) = '\0';

        if (json_object_set_new(pcrs, key, json_string(hex)) != 0) {
            json_decref(pcrs);
            pcrs = NULL;
        }
    }

    obj = pcrs ? json_pack("{s:s}", "name", set->name) : NULL;

    /* the kind is written when asked for, or when it is not the default */
    if (obj == NULL
        || ((set->kind_text || set->kind != NITRO_ATTEST_KIND_ENCLAVE)
            && json_object_set_new(obj, "kind",
                                   json_string(nitro_attest_kind_name(
                                       set->kind))) != 0))
    {
        json_decref(pcrs);
        goto nomem;
    }

    /* from here each json_object_set_new() owns (or frees) its value */
    if (json_object_set_new(obj, "pcrs", pcrs) != 0
        || (set->every && json_object_set_new(obj, "expect_every",
                                              json_string(set->every)) != 0)
        || (set->service
            && (json_object_set_new(obj, "service",
                                    json_string(set->service)) != 0
                || json_object_set_new(obj, "version",
                                       json_integer(set->version)) != 0)))
    {
        goto nomem;
    }

    return obj;

nomem:

    cli_error("%s: out of memory", cmd);
    json_decref(obj);

    return NULL;
}


/*
 * --from-doc FILE: a document (raw, base64 or hex) or a certificate (PEM or
 * DER) carrying one in the default extension, verified by the core at the
 * document's own timestamp: its signature, its chain to --root (default:
 * AWS's) and the debug rule hold, its age is not judged (a known-good
 * document may be old).  No policy judges it and no binding is checked:
 * the set is made of its measurements only.  Then its PCRs that --pcrs
 * lists, else those that identify an image (policy_doc_pcrs()) go into
 * set, the document's kind into *kind, and a default set name made of the
 * kind, the first PCR taken and its first 12 hex digits into set->doc_name.
 */
static int
policy_doc(const char *cmd, cli_opt_t *opts, policy_set_t *set,
    nitro_attest_kind_e *kind)
{
    int                      rc;
    char                     text[2 * NITRO_ATTEST_PCR_MAX_LEN + 1];
    unsigned                 k;
    uint32_t                 want;
    const char              *path, *list;
    nitro_attest_verdict_t  *v;

    path = cli_opt(opts, "from-doc")->value;
    list = cli_opt(opts, "pcrs")->value;
    want = 0;

    if (list && policy_pcr_list(cmd, list, &want) != 0) {
        return CLI_USAGE;
    }

    v = malloc(sizeof(*v));
    if (v == NULL) {
        cli_error("%s: out of memory", cmd);
        return CLI_USAGE;
    }

    rc = policy_doc_verify(cmd, path, cli_opt(opts, "root")->value, v);
    if (rc != CLI_OK) {
        goto done;
    }

    rc = CLI_USAGE;
    *kind = (nitro_attest_kind_e) v->kind;
    want = want ? want : policy_doc_pcrs(v);

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

        if (policy_pcr(cmd, path, *kind, k, text, set) != 0) {
            goto done;
        }

        if (set->doc_name[0] == '\0') {
            snprintf(set->doc_name, sizeof(set->doc_name), "%s-pcr%u-%.12s",
                     nitro_attest_kind_name(*kind), k, text);
        }
    }

    rc = CLI_OK;

done:

    free(v);

    return rc;
}


/* The verdict on the document at path: CLI_OK, CLI_FAILED or CLI_USAGE. */
static int
policy_doc_verify(const char *cmd, const char *path, const char *root_path,
    nitro_attest_verdict_t *v)
{
    size_t                  len;
    int64_t                 ts;
    cli_evidence_t          ev;
    const uint8_t          *doc;
    nitro_attest_root_t    *root;
    nitro_attest_config_t   cf;
    nitro_attest_reason_e   reason;

    if (cli_evidence_read(cmd, path, &ev) != 0) {
        return CLI_USAGE;
    }

    root = cli_load_root(cmd, root_path);
    if (root == NULL) {
        cli_evidence_free(&ev);
        return CLI_USAGE;
    }

    reason = cli_evidence_document(&ev, NULL, &doc, &len);

    if (reason == NITRO_ATTEST_OK
        && nitro_attest_document_peek(doc, len, &ts, NULL, 0) != 0)
    {
        reason = NITRO_ATTEST_MALFORMED_DOCUMENT;
    }

    if (reason == NITRO_ATTEST_OK) {
        nitro_attest_config_init(&cf);
        cf.root = root;
        reason = nitro_attest_verify_document(&cf, doc, len, NULL, ts, v);
    }

    nitro_attest_root_free(root);
    cli_evidence_free(&ev);

    if (reason != NITRO_ATTEST_OK) {
        cli_error("%s: %s: the document did not verify: %s", cmd, path,
                  nitro_attest_reason_name(reason));
        return CLI_FAILED;
    }

    return CLI_OK;
}


/*
 * The PCRs that identify an image: PCR0, 1, 2 and, when not all zero, 8
 * (the signing certificate) of an enclave; PCR4, 7 and 12 (boot loader,
 * Secure Boot policy, and the system's own measurements) of a NitroTPM.
 */
static uint32_t
policy_doc_pcrs(const nitro_attest_verdict_t *v)
{
    size_t          i;
    const uint8_t  *pcr;

    if (v->kind == NITRO_ATTEST_KIND_NITROTPM) {
        return POLICY_NITROTPM_PCRS;
    }

    pcr = nitro_attest_span_ptr(v, v->pcr[POLICY_ENCLAVE_PCR8]);

    for (i = 0; i < v->pcr[POLICY_ENCLAVE_PCR8].len; i++) {
        if (pcr[i] != 0) {
            return POLICY_ENCLAVE_PCRS | 1u << POLICY_ENCLAVE_PCR8;
        }
    }

    return POLICY_ENCLAVE_PCRS;
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
policy_eif(const char *cmd, const char *path, policy_set_t *set)
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

        if (policy_pcr(cmd, path, NITRO_ATTEST_KIND_ENCLAVE, index,
                       json_string_value(value), set) != 0)
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


/* PCR index of kind from hex into set, by the core's rule, once. */
static int
policy_pcr(const char *cmd, const char *what, nitro_attest_kind_e kind,
    unsigned long index, const char *hex, policy_set_t *set)
{
    size_t   len;
    uint8_t  value[NITRO_ATTEST_PCR_MAX_LEN];

    if (cli_pcr(cmd, what, kind, index, hex, value, &len) != 0) {
        return -1;
    }

    return policy_pcr_take(cmd, what, index, value, len, set);
}


/* a valid PCR into set, unless it is there already; what names its source */
static int
policy_pcr_take(const char *cmd, const char *what, unsigned long index,
    const uint8_t *value, size_t len, policy_set_t *set)
{
    if (set->pcrs.mask & (1u << index)) {
        cli_error("%s: %s: PCR %lu given twice", cmd, what, index);
        return -1;
    }

    cli_pcrs_set(&set->pcrs, index, value, len);

    return 0;
}


/*
 * add, deny (list names the set's list) or remove (set NULL, name): FILE is
 * locked, read, changed as a tree, checked by the loader and renamed over;
 * on any refusal it is untouched.  The lock is held from before the read
 * until after the rename, so that concurrent edits of one file all land,
 * one after another.
 */
static int
policy_rewrite(const char *cmd, const char *path, const char *list,
    json_t *set, const char *name)
{
    int      rc, lock;
    char    *text;
    json_t  *root;

    lock = policy_lock(cmd, path);
    if (lock < 0) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;
    text = NULL;
    root = policy_read(cmd, path);

    if (root != NULL
        && (set ? policy_add_set(cmd, path, root, list, set)
                : policy_remove_set(cmd, path, root, name)) == 0)
    {
        text = policy_dump(cmd, root, path);

        if (text != NULL && cli_replace_file(cmd, path, text, -1) == 0) {
            rc = CLI_OK;
        }
    }

    /* after the rename: an editor waiting on this inode opens the new one */
    close(lock);
    free(text);
    json_decref(root);

    return rc;
}


/* set appended to list, when no set of its name exists: 0, or -1 */
static int
policy_add_set(const char *cmd, const char *path, json_t *root,
    const char *list, json_t *set)
{
    size_t       index;
    json_t      *sets;
    const char  *name, *found;

    name = json_string_value(json_object_get(set, "name"));

    if (policy_find(root, name, &found, &index) == 0) {
        cli_error("%s: %s: %s set \"%s\" exists", cmd, path, found, name);
        return -1;
    }

    sets = json_object_get(root, list);

    if (sets == NULL) {
        sets = json_array();
        if (json_object_set_new(root, list, sets) != 0) {
            cli_error("%s: out of memory", cmd);
            return -1;
        }
    }

    if (json_array_append(sets, set) != 0) {
        cli_error("%s: out of memory", cmd);
        return -1;
    }

    return 0;
}


/* the set named name removed, unless it is the last allow set: 0, or -1 */
static int
policy_remove_set(const char *cmd, const char *path, json_t *root,
    const char *name)
{
    size_t       index;
    json_t      *sets;
    const char  *found;

    if (policy_find(root, name, &found, &index) != 0) {
        cli_error("%s: %s: no set is named \"%s\"", cmd, path, name);
        return -1;
    }

    sets = json_object_get(root, found);

    /* caught here to say why: the loader would only say "empty" */
    if (strcmp(found, "allow") == 0 && json_array_size(sets) == 1) {
        cli_error("%s: %s: \"%s\" is the last allow set", cmd, path, name);
        return -1;
    }

    json_array_remove(sets, index);

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
