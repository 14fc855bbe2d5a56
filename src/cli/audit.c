/*
 * audit.c: `audit verify`, the check of event logs that nginx hash-chained
 * and signed (nitro_attest_event_log_key): every chain whole, in order,
 * each checkpoint signed by the key given, and, with --evidence, every
 * line's verdict reproduced from the document and certificate it carries.
 * Reads both formats (JSON events, OCSF events whose chain keys are in
 * "unmapped") and lines a syslog receiver wrote with its header in front.
 */

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>


/* one chain as read so far */
typedef struct {
    char                      *id;
    uint64_t                   seq;          /* of its last line */
    uint64_t                   lines;
    uint64_t                   sealed;       /* seq of its last checkpoint */
    uint64_t                   tail;         /* lines after it */
    char                       prev[65];     /* hex SHA-256 of its last */
    char                      *broken;       /* what broke, or NULL */
} audit_chain_t;

typedef struct {
    EVP_PKEY                  *key;          /* NULL: signatures unchecked */
    char                       kid[NITRO_ATTEST_KID_LEN + 1];
    int                        evidence;
    nitro_attest_config_t      cf;
    nitro_attest_root_t       *root;
    nitro_attest_policy_t     *policy;
    audit_chain_t             *chains;
    size_t                     nchains;
    json_t                    *index;        /* chain id: its index */
    unsigned long              unchained;    /* lines of no chain */
    unsigned long              checkpoints;
} audit_t;


static int audit_setup(cli_opt_t *opts, audit_t *a);
static EVP_PKEY *audit_load_key(const char *path);
static int audit_file(audit_t *a, const char *path);
static void audit_line(audit_t *a, const char *path, unsigned long n,
    char *line, size_t len);
static audit_chain_t *audit_find(audit_t *a, const char *id);
static void audit_break(audit_chain_t *c, const char *path,
    unsigned long n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *audit_checkpoint(audit_t *a, json_t *o, const char *id,
    uint64_t seq, const char *prev);
static const char *audit_evidence(audit_t *a, json_t *event);
static const char *audit_agree(audit_t *a, json_t *event,
    const nitro_attest_verdict_t *v, const uint8_t *doc, size_t doc_len,
    X509 *cert);
static int audit_base64(const char *text, uint8_t **out, size_t *len);
static int audit_print(audit_t *a);
static void audit_cleanup(audit_t *a);


/* the reasons evidence decides alone, and those a policy decides */
static const nitro_attest_reason_e  audit_decided[] = {
    NITRO_ATTEST_MALFORMED_DOCUMENT, NITRO_ATTEST_UNSUPPORTED_ALGORITHM,
    NITRO_ATTEST_BAD_SIGNATURE, NITRO_ATTEST_UNTRUSTED_ROOT,
    NITRO_ATTEST_CHAIN_INVALID, NITRO_ATTEST_CERTIFICATE_EXPIRED,
    NITRO_ATTEST_BINDING_MISMATCH
};

static const nitro_attest_reason_e  audit_judged[] = {
    NITRO_ATTEST_DEBUG_ENCLAVE, NITRO_ATTEST_DENIED,
    NITRO_ATTEST_PCR_MISMATCH
};


int
cli_cmd_audit_verify(int argc, char **argv)
{
    int         i, rc, nlogs;
    char      **logs;
    audit_t     a;

    cli_opt_t  opts[] = {
        cli_opt_value("key"), cli_opt_value("root"), cli_opt_value("policy"),
        cli_opt_flag("evidence"), cli_opt_end
    };

    if (cli_parse("audit verify", argc, argv, opts, &logs, &nlogs) != 0) {
        return CLI_USAGE;
    }

    rc = CLI_USAGE;

    if (nlogs == 0) {
        cli_error("audit verify: no LOG given");

    } else if (audit_setup(opts, &a) == 0) {
        rc = CLI_OK;

        for (i = 0; i < nlogs && rc == CLI_OK; i++) {
            if (audit_file(&a, logs[i]) != 0) {
                rc = CLI_USAGE;
            }
        }

        if (rc == CLI_OK) {
            rc = audit_print(&a);
        }

        audit_cleanup(&a);
    }

    free(logs);

    return rc;
}


/* the options into a: 0, or -1 after a message (a is then clean) */
static int
audit_setup(cli_opt_t *opts, audit_t *a)
{
    char         err[512];
    const char  *path;

    memset(a, 0, sizeof(*a));
    nitro_attest_config_init(&a->cf);

    a->index = json_object();
    if (a->index == NULL) {
        cli_error("audit verify: out of memory");
        return -1;
    }

    a->evidence = cli_opt(opts, "evidence")->count > 0;

    path = cli_opt(opts, "key")->value;

    if (path != NULL) {
        a->key = audit_load_key(path);

        if (a->key == NULL) {
            audit_cleanup(a);
            return -1;
        }

        if (EVP_PKEY_get_base_id(a->key) != EVP_PKEY_ED25519
            || nitro_attest_key_kid(a->key, a->kid) != 0)
        {
            cli_error("audit verify: %s: not an Ed25519 key", path);
            audit_cleanup(a);
            return -1;
        }
    }

    if (!a->evidence) {
        if (cli_opt(opts, "root")->value || cli_opt(opts, "policy")->value) {
            cli_error("audit verify: --root and --policy judge evidence: "
                      "they go with --evidence");
            audit_cleanup(a);
            return -1;
        }

        return 0;
    }

    a->root = cli_load_root("audit verify", cli_opt(opts, "root")->value);
    if (a->root == NULL) {
        audit_cleanup(a);
        return -1;
    }

    /* without a policy nothing is judged: debug enclaves included */
    a->cf.root = a->root;
    a->cf.allow_debug = 1;

    /* a log holds few enclaves, and each often: verify each path once */
    a->cf.chain_cache = nitro_attest_chain_cache_new(64);
    a->cf.memo = nitro_attest_memo_new(1024);

    if (a->cf.chain_cache == NULL || a->cf.memo == NULL) {
        cli_error("audit verify: out of memory");
        audit_cleanup(a);
        return -1;
    }
    path = cli_opt(opts, "policy")->value;

    if (path != NULL) {
        a->policy = nitro_attest_policy_load(path, err, sizeof(err));

        if (a->policy == NULL) {
            cli_error("audit verify: %s", err);
            audit_cleanup(a);
            return -1;
        }

        a->cf.policy = a->policy;
    }

    return 0;
}


/* a PEM public key, or the public half of a PEM private key */
static EVP_PKEY *
audit_load_key(const char *path)
{
    BIO       *bio;
    EVP_PKEY  *key;

    bio = BIO_new_file(path, "r");
    key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;

    if (key == NULL && bio != NULL) {
        (void) BIO_reset(bio);
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    }

    BIO_free(bio);
    ERR_clear_error();

    if (key == NULL) {
        cli_error("audit verify: %s: not a readable PEM key", path);
    }

    return key;
}


/* every line of one log: 0, or -1 when it cannot be read */
static int
audit_file(audit_t *a, const char *path)
{
    FILE           *f;
    char           *line;
    size_t          size;
    ssize_t         len;
    unsigned long   n;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        cli_error("audit verify: cannot open \"%s\": %s", path,
                  strerror(errno));
        return -1;
    }

    line = NULL;
    size = 0;
    n = 0;

    while ((len = getline(&line, &size, f)) >= 0) {
        n++;

        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }

        audit_line(a, path, n, line, (size_t) len);
    }

    free(line);

    if (ferror(f)) {
        cli_error("audit verify: cannot read \"%s\"", path);
        if (f != stdin) {
            fclose(f);
        }
        return -1;
    }

    if (f != stdin) {
        fclose(f);
    }

    return 0;
}


/*
 * One line: its link checked against its chain's last one, then what it
 * seals (a checkpoint) or what it says (its evidence).  A syslog
 * receiver's header before the event is skipped: the chain hashes the
 * event as nginx wrote it.
 */
static void
audit_line(audit_t *a, const char *path, unsigned long n, char *line,
    size_t len)
{
    char            *start;
    json_t          *o, *keys, *jid, *jseq, *jprev;
    const char      *id, *prev, *type, *why;
    json_int_t       seq;
    audit_chain_t   *c;
    json_error_t     error;
    unsigned char    digest[SHA256_DIGEST_LENGTH];

    start = memchr(line, '{', len);
    o = start ? json_loadb(start, len - (size_t) (start - line), 0, &error)
              : NULL;

    keys = json_object_get(o, "unmapped");
    if (!json_is_object(keys) || json_object_get(o, "chain") != NULL) {
        keys = o;
    }

    jid = json_object_get(keys, "chain");
    jseq = json_object_get(keys, "seq");
    jprev = json_object_get(keys, "prev");

    if (!json_is_string(jid) || !json_is_integer(jseq)
        || !json_is_string(jprev))
    {
        a->unchained++;
        printf("%s:%lu: %s\n", path, n,
               o == NULL ? "not a JSON event" : "a line of no chain");
        json_decref(o);
        return;
    }

    id = json_string_value(jid);
    seq = json_integer_value(jseq);
    prev = json_string_value(jprev);

    c = audit_find(a, id);
    if (c == NULL) {
        a->unchained++;
        printf("%s:%lu: not checked: out of memory\n", path, n);
        json_decref(o);
        return;
    }

    if (c->broken != NULL) {
        json_decref(o);
        return;
    }

    if (seq <= 0 || (uint64_t) seq != c->seq + 1) {
        audit_break(c, path, n, "seq %lld where %llu was due (%s)",
                    (long long) seq, (unsigned long long) c->seq + 1,
                    seq > 0 && (uint64_t) seq > c->seq + 1
                    ? "lines removed" : "lines repeated or reordered");
        json_decref(o);
        return;
    }

    if (strcmp(prev, c->prev) != 0) {
        audit_break(c, path, n, "prev is not the hash of the chain's line "
                    "before (a line changed, inserted or reordered)");
        json_decref(o);
        return;
    }

    SHA256((unsigned char *) start, len - (size_t) (start - line), digest);
    *nitro_attest_hex(c->prev, digest, sizeof(digest)) = '\0';
    c->seq = (uint64_t) seq;
    c->lines++;

    type = json_string_value(json_object_get(o, "event_type"));
    why = NULL;

    if (type != NULL && strcmp(type, NITRO_ATTEST_CHECKPOINT_TYPE) == 0) {
        why = audit_checkpoint(a, o, id, (uint64_t) seq, prev);

        if (why == NULL) {
            c->sealed = (uint64_t) seq;
            c->tail = 0;
        }

    } else {
        c->tail++;

        if (a->evidence) {
            why = audit_evidence(a, keys);
        }
    }

    if (why != NULL) {
        audit_break(c, path, n, "%s", why);
    }

    json_decref(o);
}


/*
 * The chain of that id, made when first seen; NULL when memory ran out.
 * Looked up by a hash of the ids: a log may name a chain on every line.
 */
static audit_chain_t *
audit_find(audit_t *a, const char *id)
{
    json_t         *i;
    audit_chain_t  *c;

    i = json_object_get(a->index, id);
    if (i != NULL) {
        return &a->chains[json_integer_value(i)];
    }

    c = realloc(a->chains, (a->nchains + 1) * sizeof(audit_chain_t));
    if (c == NULL) {
        return NULL;
    }

    a->chains = c;
    c = &a->chains[a->nchains];
    memset(c, 0, sizeof(*c));
    memset(c->prev, '0', 64);

    c->id = strdup(id);
    if (c->id == NULL
        || json_object_set_new(a->index, id,
                               json_integer((json_int_t) a->nchains))
           != 0)
    {
        free(c->id);
        return NULL;
    }

    a->nchains++;

    return c;
}


static void
audit_break(audit_chain_t *c, const char *path, unsigned long n,
    const char *fmt, ...)
{
    int      len;
    char     why[512];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(why, sizeof(why), fmt, args);
    va_end(args);

    len = snprintf(NULL, 0, "%s:%lu: %s", path, n, why);
    c->broken = malloc((size_t) len + 1);

    if (c->broken != NULL) {
        snprintf(c->broken, (size_t) len + 1, "%s:%lu: %s", path, n, why);
    }
}


/* NULL when the checkpoint holds, else what is wrong with it */
static const char *
audit_checkpoint(audit_t *a, json_t *o, const char *id, uint64_t seq,
    const char *prev)
{
    const char  *time, *kid, *sig;

    a->checkpoints++;

    time = json_string_value(json_object_get(o, "time"));
    kid = json_string_value(json_object_get(o, "key_id"));
    sig = json_string_value(json_object_get(o, "sig"));

    if (time == NULL || kid == NULL || sig == NULL) {
        return "checkpoint without its time, key_id or sig";
    }

    if (a->key == NULL) {
        return NULL;
    }

    if (strcmp(kid, a->kid) != 0) {
        return "checkpoint signed by another key (its key_id is not the "
               "--key's)";
    }

    if (nitro_attest_checkpoint_verify(a->key, id, seq, prev, time, sig)
        != 1)
    {
        ERR_clear_error();
        return "checkpoint signature does not verify";
    }

    return NULL;
}


/*
 * The line's verdict against its evidence: the document verified at its
 * own time, bound to the certificate carried, judged by --policy.  NULL
 * when they agree, else where they differ.
 */
static const char *
audit_evidence(audit_t *a, json_t *event)
{
    X509                    *cert;
    json_t                  *ev, *jdoc, *jcert;
    size_t                   doc_len, cert_len;
    uint8_t                 *doc, *der;
    int64_t                  at;
    const char              *why, *binding;
    nitro_attest_verdict_t  *v;

    ev = json_object_get(event, "evidence");
    if (!json_is_object(ev)) {
        return "no evidence on the line";
    }

    jdoc = json_object_get(ev, "document");
    jcert = json_object_get(ev, "certificate");
    doc = NULL;
    der = NULL;
    cert = NULL;
    v = NULL;
    doc_len = 0;
    cert_len = 0;
    why = NULL;

    if ((!json_is_null(jdoc)
         && audit_base64(json_string_value(jdoc), &doc, &doc_len) != 0)
        || (!json_is_null(jcert)
            && audit_base64(json_string_value(jcert), &der, &cert_len) != 0))
    {
        why = "evidence is not base64";
        goto done;
    }

    if (der != NULL) {
        cert = nitro_attest_cert_parse(der, cert_len);
    }

    v = malloc(sizeof(nitro_attest_verdict_t));
    if (v == NULL) {
        why = "out of memory";
        goto done;
    }

    at = 0;

    if (doc != NULL
        && nitro_attest_document_peek(doc, doc_len, &at, NULL, 0) != 0)
    {
        at = 0;
    }

    a->cf.binding = NITRO_ATTEST_BINDING_PUBLIC_KEY;
    binding = json_string_value(json_object_get(event, "binding"));

    if (der != NULL && cert == NULL) {
        why = "the evidence's certificate is not a certificate";
        goto done;
    }

    /*
     * A verdict on a certificate names the binding it checked: a line
     * that carries a certificate, or the document one held, and names
     * none would have its binding go unchecked.
     */
    if (binding == NULL && (doc != NULL || der != NULL)) {
        why = "binding is null though the evidence carries a certificate";
        goto done;
    }

    if (binding != NULL
        && nitro_attest_binding_parse(binding, &a->cf.binding) != 0)
    {
        why = "unknown binding";
        goto done;
    }

    /* at the document's time its age is nothing: never stale */
    a->cf.max_age_ms = INT64_MAX / 4;

    if (doc != NULL) {
        nitro_attest_verify_document(&a->cf, doc, doc_len,
                                     binding != NULL ? cert : NULL, at, v);
    } else {
        nitro_attest_verdict_none(v, at);
    }

    why = audit_agree(a, event, v, doc, doc_len, cert);

done:

    X509_free(cert);
    free(v);
    free(doc);
    free(der);
    ERR_clear_error();

    return why;
}


/* NULL when the line says what the evidence does */
static const char *
audit_agree(audit_t *a, json_t *event, const nitro_attest_verdict_t *v,
    const uint8_t *doc, size_t doc_len, X509 *cert)
{
    int                    measured, agrees;
    char                   hex[2 * SHA384_DIGEST_LENGTH + 1];
    char                   key[4];
    json_t                *pcrs, *value;
    size_t                 i, n;
    uint8_t                digest[SHA384_DIGEST_LENGTH];
    unsigned char         *der;
    const char            *line_reason, *text, *status;
    nitro_attest_reason_e  said, found;

    /* the digests the line names are of the evidence it carries */

    text = json_string_value(json_object_get(event, "doc_sha384"));

    if (doc != NULL) {
        SHA384(doc, doc_len, digest);
        *nitro_attest_hex(hex, digest, SHA384_DIGEST_LENGTH) = '\0';

        if (text == NULL || strcmp(text, hex) != 0) {
            return "doc_sha384 is not the digest of the evidence's document";
        }

    } else if (text != NULL) {
        return "doc_sha384 names a document the evidence does not carry";
    }

    text = json_string_value(json_object_get(event, "cert_sha256"));

    if (cert != NULL) {
        der = NULL;
        n = (size_t) i2d_X509(cert, &der);
        SHA256(der, n, digest);
        OPENSSL_free(der);
        *nitro_attest_hex(hex, digest, SHA256_DIGEST_LENGTH) = '\0';

        if (text == NULL || strcmp(text, hex) != 0) {
            return "cert_sha256 is not the digest of the evidence's "
                   "certificate";
        }

    } else if (text != NULL) {
        return "cert_sha256 names a certificate the evidence does not carry";
    }

    /* the outcome, where the evidence (and --policy) decides it */

    line_reason = json_string_value(json_object_get(event, "reason"));
    said = NITRO_ATTEST_OK;

    if (line_reason != NULL) {
        for (said = NITRO_ATTEST_OK + 1; said < NITRO_ATTEST_REASON_COUNT;
             said++)
        {
            if (strcmp(line_reason, nitro_attest_reason_name(said)) == 0) {
                break;
            }
        }
    }

    found = v->status == NITRO_ATTEST_STATUS_FAILED
            ? (nitro_attest_reason_e) v->reason : NITRO_ATTEST_OK;

    /*
     * A line names a reason exactly when it failed, succeeds only when
     * its evidence does, and was not checked only when it carries no
     * certificate: a success whose reason the evidence cannot decide (no
     * document, say) is not what the evidence says.
     */
    status = json_string_value(json_object_get(event, "status"));

    if (status == NULL) {
        agrees = 0;

    } else if (line_reason != NULL) {
        agrees = strcmp(status, nitro_attest_status_name(
                                    NITRO_ATTEST_STATUS_FAILED)) == 0;

    } else if (strcmp(status, nitro_attest_status_name(
                                  NITRO_ATTEST_STATUS_SUCCESS)) == 0)
    {
        agrees = v->status == NITRO_ATTEST_STATUS_SUCCESS;

    } else {
        agrees = strcmp(status, nitro_attest_status_name(
                                    NITRO_ATTEST_STATUS_NONE)) == 0
                 && doc == NULL && cert == NULL;
    }

    if (!agrees) {
        return "status and reason are not what the evidence says";
    }

    for (i = 0; i < sizeof(audit_decided) / sizeof(audit_decided[0])
                + (a->policy ? sizeof(audit_judged) / sizeof(audit_judged[0])
                             : 0);
         i++)
    {
        nitro_attest_reason_e  r;

        r = i < sizeof(audit_decided) / sizeof(audit_decided[0])
            ? audit_decided[i]
            : audit_judged[i - sizeof(audit_decided)
                               / sizeof(audit_decided[0])];

        /* a certificate may expire between the document and the line */
        if (r == NITRO_ATTEST_CERTIFICATE_EXPIRED
            && said == r && found == NITRO_ATTEST_OK)
        {
            continue;
        }

        if ((said == r) != (found == r)) {
            return "status and reason are not what the evidence says";
        }
    }

    /* what the document measured, exactly */

    measured = (v->flags & NITRO_ATTEST_F_MEASURED) != 0;
    text = json_string_value(json_object_get(event, "module_id"));

    if (measured != (text != NULL)
        || (measured && (strlen(text) != v->module_id.len
                         || memcmp(text, nitro_attest_span_ptr(v,
                                                               v->module_id),
                                   v->module_id.len)
                            != 0)))
    {
        return "module_id is not the evidence's";
    }

    pcrs = json_object_get(event, "pcrs");

    if (measured != json_is_object(pcrs)) {
        return "pcrs are not the evidence's";
    }

    if (measured) {
        n = 0;

        for (i = 0; i < NITRO_ATTEST_PCR_COUNT; i++) {
            if (!(v->pcr_mask & (1u << i))) {
                continue;
            }

            snprintf(key, sizeof(key), "%u", (unsigned) i);
            value = json_object_get(pcrs, key);
            *nitro_attest_hex(hex, nitro_attest_span_ptr(v, v->pcr[i]),
                              v->pcr[i].len) = '\0';

            if (!json_is_string(value)
                || strcmp(json_string_value(value), hex) != 0)
            {
                return "pcrs are not the evidence's";
            }

            n++;
        }

        if (n != json_object_size(pcrs)) {
            return "pcrs are not the evidence's";
        }
    }

    if (a->policy != NULL && measured) {
        text = json_string_value(json_object_get(event, "policy"));

        if ((text != NULL) != (v->policy.len > 0)
            || (text != NULL
                && (strlen(text) != v->policy.len
                    || memcmp(text, nitro_attest_span_ptr(v, v->policy),
                              v->policy.len)
                       != 0)))
        {
            return "policy is not the set the evidence matches";
        }
    }

    return NULL;
}


/* standard base64 (RFC 4648 4), malloc()ed: 0, or -1 */
static int
audit_base64(const char *text, uint8_t **out, size_t *len)
{
    int     n;
    size_t  tlen, pad;

    if (text == NULL) {
        return -1;
    }

    tlen = strlen(text);

    if (tlen % 4 != 0 || tlen > INT32_MAX) {
        return -1;
    }

    *out = malloc(tlen / 4 * 3 + 1);
    if (*out == NULL) {
        return -1;
    }

    n = EVP_DecodeBlock(*out, (const unsigned char *) text, (int) tlen);
    pad = (tlen > 0 && text[tlen - 1] == '=') + (tlen > 1
                                                 && text[tlen - 2] == '=');

    if (n < 0 || (size_t) n < pad) {
        free(*out);
        *out = NULL;
        return -1;
    }

    *len = (size_t) n - pad;

    return 0;
}


/* one line per chain: the exit status */
static int
audit_print(audit_t *a)
{
    int             rc;
    size_t          i;
    audit_chain_t  *c;

    rc = a->unchained ? CLI_FAILED : CLI_OK;

    for (i = 0; i < a->nchains; i++) {
        c = &a->chains[i];

        if (c->broken != NULL) {
            printf("%s: broken at %s\n", c->id, c->broken);
            rc = CLI_FAILED;

        } else if (c->tail == 0) {
            printf("%s: intact, %llu lines, sealed at seq %llu\n", c->id,
                   (unsigned long long) c->lines,
                   (unsigned long long) c->sealed);

        } else {
            printf("%s: intact, %llu lines, unsealed tail of %llu lines "
                   "after seq %llu\n", c->id, (unsigned long long) c->lines,
                   (unsigned long long) c->tail,
                   (unsigned long long) c->sealed);
        }
    }

    if (a->nchains == 0 && a->unchained == 0) {
        printf("no lines\n");
    }

    if (a->key == NULL && a->checkpoints > 0) {
        cli_error("audit verify: checkpoint signatures not checked "
                  "(no --key)");
    }

    return rc;
}


static void
audit_cleanup(audit_t *a)
{
    size_t  i;

    for (i = 0; i < a->nchains; i++) {
        free(a->chains[i].id);
        free(a->chains[i].broken);
    }

    free(a->chains);
    json_decref(a->index);
    EVP_PKEY_free(a->key);
    nitro_attest_chain_cache_free(a->cf.chain_cache);
    nitro_attest_memo_free(a->cf.memo);
    nitro_attest_root_free(a->root);
    nitro_attest_policy_free(a->policy);
}
