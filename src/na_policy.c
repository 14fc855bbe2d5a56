/*
 * na_policy.c: the policy file (allow and deny sets of PCR values), the
 * rule every PCR of a set follows (also the CLI's, which writes sets), and
 * the judgement of a document: the debug rule, then the deny list, then
 * the allow list.
 *
 * The file is configuration: it is parsed strictly, and every error names
 * the file and the place.  Judging a document never allocates.  The lint
 * reports what loads but is likely not what was meant.
 */

#include "na_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/sha.h>


typedef struct {
    uint8_t                    index;
    uint8_t                    len;
    uint8_t                    value[NITRO_ATTEST_PCR_MAX_LEN];
} na_pcr_rule_t;

typedef struct {
    char                      *name;
    nitro_attest_kind_e        kind;
    int64_t                    expect_every_ms;
    char                      *service;       /* NULL: no version */
    int64_t                    version;
    size_t                     nrules;
    na_pcr_rule_t              rules[NITRO_ATTEST_PCR_COUNT];
} na_pcr_set_t;

struct nitro_attest_policy_s {
    na_pcr_set_t              *allow;
    size_t                     nallow;
    na_pcr_set_t              *deny;
    size_t                     ndeny;
    int                        allow_debug;
    uint8_t                    digest[SHA256_DIGEST_LENGTH];
};


static int na_policy_sets(nitro_attest_policy_t *policy, json_t *list,
    const char *what, const char *source, char *err, size_t errlen);
static int na_policy_set(na_pcr_set_t *set, json_t *obj, const char *where,
    const char *source, char *err, size_t errlen);
static int na_set_name(na_pcr_set_t *set, json_t *name, const char *where,
    const char *source, char *err, size_t errlen);
static int na_set_options(na_pcr_set_t *set, json_t *obj, const char *where,
    const char *source, char *err, size_t errlen);
static int na_set_release(na_pcr_set_t *set, json_t *obj, const char *where,
    const char *source, char *err, size_t errlen);
static int na_set_pcrs(na_pcr_set_t *set, json_t *pcrs, const char *where,
    const char *source, char *err, size_t errlen);
static int na_printable(const char *s, size_t n);
static int na_name_taken(const nitro_attest_policy_t *policy,
    const na_pcr_set_t *set);
static int na_set_matches(const na_pcr_set_t *set, const na_document_t *doc);

typedef struct {
    nitro_attest_lint_pt       warn;
    void                      *data;
    size_t                     count;
} na_lint_t;

static void na_lint_set(na_lint_t *lint, const nitro_attest_policy_t *policy,
    const na_pcr_set_t *set);
static void na_lint_warn(na_lint_t *lint, const char *set, const char *fmt,
    ...);
static const na_pcr_rule_t *na_set_rule(const na_pcr_set_t *set,
    unsigned index);
static int na_set_covers(const na_pcr_set_t *set, const na_pcr_set_t *by);


nitro_attest_policy_t *
nitro_attest_policy_load(const char *path, char *err, size_t errlen)
{
    long                    size;
    FILE                   *f;
    char                   *text;
    size_t                  n;
    nitro_attest_policy_t  *policy;

    f = fopen(path, "rb");
    if (f == NULL) {
        na_fail(err, errlen, "cannot open policy \"%s\": %s", path,
                strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0 || size > 16 * 1024 * 1024)
    {
        fclose(f);
        na_fail(err, errlen, "cannot read policy \"%s\"", path);
        return NULL;
    }

    text = malloc((size_t) size + 1);
    if (text == NULL) {
        fclose(f);
        na_fail(err, errlen, "out of memory reading policy \"%s\"", path);
        return NULL;
    }

    n = fread(text, 1, (size_t) size, f);
    fclose(f);

    if (n != (size_t) size) {
        free(text);
        na_fail(err, errlen, "cannot read policy \"%s\"", path);
        return NULL;
    }

    policy = nitro_attest_policy_parse(text, n, path, err, errlen);
    free(text);

    return policy;
}


nitro_attest_policy_t *
nitro_attest_policy_parse(const char *json, size_t len, const char *source,
    char *err, size_t errlen)
{
    json_t                 *root, *value;
    const char             *key;
    json_error_t            jerr;
    nitro_attest_policy_t  *policy;

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        na_fail(err, errlen, "policy \"%s\" line %d: %s", source, jerr.line,
                jerr.text);
        return NULL;
    }

    policy = calloc(1, sizeof(*policy));
    if (policy == NULL) {
        json_decref(root);
        na_fail(err, errlen, "out of memory loading policy \"%s\"", source);
        return NULL;
    }

    SHA256((const unsigned char *) json, len, policy->digest);

    if (!json_is_object(root)) {
        na_fail(err, errlen, "policy \"%s\": not a JSON object", source);
        goto failed;
    }

    json_object_foreach(root, key, value) {
        if (strcmp(key, "allow") != 0 && strcmp(key, "deny") != 0
            && strcmp(key, "allow_debug") != 0)
        {
            na_fail(err, errlen, "policy \"%s\": unknown key \"%s\"", source,
                    key);
            goto failed;
        }
    }

    value = json_object_get(root, "allow_debug");
    if (value != NULL) {
        if (!json_is_boolean(value)) {
            na_fail(err, errlen, "policy \"%s\": \"allow_debug\" must be "
                    "true or false", source);
            goto failed;
        }

        policy->allow_debug = json_is_true(value);
    }

    if (na_policy_sets(policy, json_object_get(root, "allow"), "allow",
                       source, err, errlen) != 0
        || na_policy_sets(policy, json_object_get(root, "deny"), "deny",
                          source, err, errlen) != 0)
    {
        goto failed;
    }

    json_decref(root);
    return policy;

failed:

    json_decref(root);
    nitro_attest_policy_free(policy);
    return NULL;
}


void
nitro_attest_policy_free(nitro_attest_policy_t *policy)
{
    size_t  i;

    if (policy == NULL) {
        return;
    }

    for (i = 0; i < policy->nallow; i++) {
        free(policy->allow[i].name);
        free(policy->allow[i].service);
    }

    for (i = 0; i < policy->ndeny; i++) {
        free(policy->deny[i].name);
        free(policy->deny[i].service);
    }

    free(policy->allow);
    free(policy->deny);
    free(policy);
}


size_t
nitro_attest_policy_allow_count(const nitro_attest_policy_t *policy)
{
    return policy->nallow;
}


const char *
nitro_attest_policy_allow_name(const nitro_attest_policy_t *policy, size_t i)
{
    return i < policy->nallow ? policy->allow[i].name : NULL;
}


int64_t
nitro_attest_policy_allow_expect_every(const nitro_attest_policy_t *policy,
    size_t i)
{
    return i < policy->nallow ? policy->allow[i].expect_every_ms : 0;
}


const char *
nitro_attest_policy_allow_service(const nitro_attest_policy_t *policy,
    size_t i, int64_t *version)
{
    if (i >= policy->nallow || policy->allow[i].service == NULL) {
        return NULL;
    }

    *version = policy->allow[i].version;

    return policy->allow[i].service;
}


size_t
nitro_attest_policy_allow_find(const nitro_attest_policy_t *policy,
    const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < policy->nallow; i++) {
        if (strlen(policy->allow[i].name) == len
            && memcmp(policy->allow[i].name, name, len) == 0)
        {
            return i;
        }
    }

    return (size_t) -1;
}


const uint8_t *
nitro_attest_policy_digest(const nitro_attest_policy_t *policy)
{
    return policy->digest;
}


/*
 * The policy's verdict on a document whose signature and chain held.  The
 * name is reported whatever the outcome: the deny set that matched, else
 * the first allow set that matched.
 */
void
na_policy_evaluate(const nitro_attest_policy_t *policy, int allow_debug,
    const na_document_t *doc, na_policy_result_t *res)
{
    size_t               i;
    unsigned             k;
    const na_pcr_set_t  *deny, *allow;

    res->name = NULL;
    res->allowed = 1;
    res->reason = NITRO_ATTEST_OK;
    deny = NULL;
    allow = NULL;

    if (policy != NULL) {
        allow_debug = allow_debug || policy->allow_debug;

        for (i = 0; deny == NULL && i < policy->ndeny; i++) {
            if (na_set_matches(&policy->deny[i], doc)) {
                deny = &policy->deny[i];
            }
        }

        for (i = 0; allow == NULL && i < policy->nallow; i++) {
            if (na_set_matches(&policy->allow[i], doc)) {
                allow = &policy->allow[i];
            }
        }

        res->name = deny ? deny->name : allow ? allow->name : NULL;
    }

    /* the debug rule is an enclave's: a NitroTPM PCR0..2 measures the
     * instance's firmware, and zero means nothing special */
    if (!allow_debug && doc->kind == NITRO_ATTEST_KIND_ENCLAVE) {
        /* a debug enclave: PCR0, PCR1 and PCR2 all zero (or absent) */
        int  debug = 1;

        for (k = 0; debug && k < 3; k++) {
            for (i = 0; i < doc->pcr[k].len; i++) {
                if (doc->pcr[k].p[i] != 0) {
                    debug = 0;
                    break;
                }
            }
        }

        if (debug) {
            res->allowed = 0;
            res->reason = NITRO_ATTEST_DEBUG_ENCLAVE;
            return;
        }
    }

    if (policy == NULL) {
        return;
    }

    if (deny != NULL) {
        res->allowed = 0;
        res->reason = NITRO_ATTEST_DENIED;

    } else if (allow == NULL) {
        res->allowed = 0;
        res->reason = NITRO_ATTEST_PCR_MISMATCH;
    }
}


static int
na_set_matches(const na_pcr_set_t *set, const na_document_t *doc)
{
    size_t               i;
    const na_pcr_rule_t  *rule;

    /* a set judges documents of its own kind only, deny sets too */
    if (set->kind != doc->kind) {
        return 0;
    }

    for (i = 0; i < set->nrules; i++) {
        rule = &set->rules[i];

        if (!(doc->pcr_mask & (1u << rule->index))
            || doc->pcr[rule->index].len != rule->len
            || memcmp(doc->pcr[rule->index].p, rule->value, rule->len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static int
na_policy_sets(nitro_attest_policy_t *policy, json_t *list, const char *what,
    const char *source, char *err, size_t errlen)
{
    int            is_allow;
    char           where[64];
    size_t         i, n;
    na_pcr_set_t  *sets;

    is_allow = (strcmp(what, "allow") == 0);

    if (list == NULL && !is_allow) {
        return 0;
    }

    if (list == NULL || !json_is_array(list)) {
        return na_fail(err, errlen, "policy \"%s\": \"%s\" must be an array",
                       source, what);
    }

    n = json_array_size(list);
    if (n == 0 && is_allow) {
        return na_fail(err, errlen, "policy \"%s\": \"allow\" must not be "
                       "empty", source);
    }

    sets = calloc(n ? n : 1, sizeof(na_pcr_set_t));
    if (sets == NULL) {
        return na_fail(err, errlen, "out of memory loading policy \"%s\"",
                       source);
    }

    if (is_allow) {
        policy->allow = sets;
    } else {
        policy->deny = sets;
    }

    for (i = 0; i < n; i++) {
        snprintf(where, sizeof(where), "%s[%zu]", what, i);

        /* counted first: a set that fails half-way is still freed */
        if (is_allow) {
            policy->nallow++;
        } else {
            policy->ndeny++;
        }

        if (na_policy_set(&sets[i], json_array_get(list, i), where, source,
                          err, errlen) != 0)
        {
            return -1;
        }

        if (!is_allow && sets[i].expect_every_ms) {
            return na_fail(err, errlen, "policy \"%s\": %s: \"expect_every\" "
                           "is for allow sets only", source, where);
        }

        if (!is_allow && sets[i].service != NULL) {
            return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): "
                           "\"service\" and \"version\" are for allow sets "
                           "only", source, where, sets[i].name);
        }

        if (na_name_taken(policy, &sets[i])) {
            return na_fail(err, errlen, "policy \"%s\": %s: duplicate name "
                           "\"%s\"", source, where, sets[i].name);
        }
    }

    return 0;
}


static int
na_policy_set(na_pcr_set_t *set, json_t *obj, const char *where,
    const char *source, char *err, size_t errlen)
{
    json_t      *value;
    const char  *key;

    if (!json_is_object(obj)) {
        return na_fail(err, errlen, "policy \"%s\": %s: not an object",
                       source, where);
    }

    json_object_foreach(obj, key, value) {
        if (strcmp(key, "name") != 0 && strcmp(key, "pcrs") != 0
            && strcmp(key, "expect_every") != 0 && strcmp(key, "kind") != 0
            && strcmp(key, "service") != 0 && strcmp(key, "version") != 0)
        {
            return na_fail(err, errlen, "policy \"%s\": %s: unknown key "
                           "\"%s\"", source, where, key);
        }
    }

    if (na_set_name(set, json_object_get(obj, "name"), where, source, err,
                    errlen) != 0
        || na_set_options(set, obj, where, source, err, errlen) != 0
        || na_set_release(set, obj, where, source, err, errlen) != 0
        || na_set_pcrs(set, json_object_get(obj, "pcrs"), where, source, err,
                       errlen) != 0)
    {
        return -1;
    }

    return 0;
}


static int
na_set_name(na_pcr_set_t *set, json_t *name, const char *where,
    const char *source, char *err, size_t errlen)
{
    size_t       n;
    const char  *s;

    s = json_string_value(name);
    n = s ? strlen(s) : 0;

    if (n == 0 || n > NITRO_ATTEST_POLICY_NAME_MAX
        || n != json_string_length(name))
    {
        return na_fail(err, errlen, "policy \"%s\": %s: \"name\" must be a "
                       "string of 1..%d printable characters", source, where,
                       NITRO_ATTEST_POLICY_NAME_MAX);
    }

    if (!na_printable(s, n)) {
        return na_fail(err, errlen, "policy \"%s\": %s: \"name\" must be "
                       "printable ASCII", source, where);
    }

    set->name = strdup(s);
    if (set->name == NULL) {
        return na_fail(err, errlen, "out of memory loading policy \"%s\"",
                       source);
    }

    return 0;
}


/*
 * The optional members: kind (the PCR indices a set may name depend on
 * it, so it is read before them) and expect_every.
 */
static int
na_set_options(na_pcr_set_t *set, json_t *obj, const char *where,
    const char *source, char *err, size_t errlen)
{
    json_t      *kind, *every;
    const char  *s;

    kind = json_object_get(obj, "kind");
    s = json_string_value(kind);

    if (kind != NULL
        && (s == NULL || strlen(s) != json_string_length(kind)
            || nitro_attest_kind_parse(s, &set->kind) != 0))
    {
        return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): \"kind\" "
                       "must be \"enclave\" or \"nitrotpm\"", source, where,
                       set->name);
    }

    every = json_object_get(obj, "expect_every");

    if (every != NULL) {
        s = json_string_value(every);
        set->expect_every_ms = s ? nitro_attest_parse_duration(s) : -1;

        if (set->expect_every_ms <= 0) {
            return na_fail(err, errlen, "policy \"%s\": %s: "
                           "\"expect_every\" must be a time such as \"30s\" "
                           "or \"5m\"", source, where);
        }
    }

    return 0;
}


/*
 * The release a set admits: "service" names what the image is and
 * "version" (a whole number, higher is newer) which build of it, so that
 * a server can tell an instance that went back to an older build still on
 * the allow list.  Both or neither.
 */
static int
na_set_release(na_pcr_set_t *set, json_t *obj, const char *where,
    const char *source, char *err, size_t errlen)
{
    size_t       n;
    json_t      *service, *version;
    const char  *s;

    service = json_object_get(obj, "service");
    version = json_object_get(obj, "version");

    if (service == NULL && version == NULL) {
        return 0;
    }

    if (service == NULL || version == NULL) {
        return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): \"%s\" "
                       "without \"%s\": a set names both or neither", source,
                       where, set->name, service ? "service" : "version",
                       service ? "version" : "service");
    }

    s = json_string_value(service);
    n = s ? strlen(s) : 0;

    if (n == 0 || n > NITRO_ATTEST_POLICY_NAME_MAX
        || n != json_string_length(service) || !na_printable(s, n))
    {
        return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): "
                       "\"service\" must be a string of 1..%d printable "
                       "ASCII characters", source, where, set->name,
                       NITRO_ATTEST_POLICY_NAME_MAX);
    }

    if (!json_is_integer(version) || json_integer_value(version) < 0) {
        return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): "
                       "\"version\" must be a whole number, 0 or more",
                       source, where, set->name);
    }

    set->service = strdup(s);
    if (set->service == NULL) {
        return na_fail(err, errlen, "out of memory loading policy \"%s\"",
                       source);
    }

    set->version = (int64_t) json_integer_value(version);

    return 0;
}


static int
na_printable(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static int
na_set_pcrs(na_pcr_set_t *set, json_t *pcrs, const char *where,
    const char *source, char *err, size_t errlen)
{
    char           *end;
    size_t          n;
    json_t         *value;
    const char     *key, *s;
    unsigned long   index;
    na_pcr_rule_t  *rule;

    if (!json_is_object(pcrs) || json_object_size(pcrs) == 0) {
        return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): \"pcrs\" "
                       "must be a non-empty object", source, where, set->name);
    }

    json_object_foreach(pcrs, key, value) {
        errno = 0;
        index = strtoul(key, &end, 10);

        /*
         * one spelling per index, so that an index is never pinned twice:
         * the object's keys are unique (duplicates are refused on load),
         * and "01" would be PCR 1 under a second key
         */
        if (!isdigit((unsigned char) key[0]) || *end != '\0' || errno != 0
            || (key[0] == '0' && key[1] != '\0'))
        {
            index = ULONG_MAX;
        }

        rule = &set->rules[set->nrules];
        s = json_string_value(value);

        switch (nitro_attest_pcr_parse(set->kind, index, s ? s : "",
                                       rule->value, &n))
        {
        case NITRO_ATTEST_PCR_BAD_INDEX:
            return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): PCR "
                           "index \"%s\" is not 0..%u%s", source, where,
                           set->name, key,
                           nitro_attest_pcr_count(set->kind) - 1,
                           set->kind == NITRO_ATTEST_KIND_NITROTPM
                           ? " (a nitrotpm set)" : "");

        case NITRO_ATTEST_PCR_BAD_VALUE:
            return na_fail(err, errlen, "policy \"%s\": %s (\"%s\"): PCR %lu "
                           "must be 64, 96 or 128 hex digits", source, where,
                           set->name, index);

        default:
            break;
        }

        rule->index = (uint8_t) index;
        rule->len = (uint8_t) n;
        set->nrules++;
    }

    return 0;
}


size_t
nitro_attest_policy_lint(const nitro_attest_policy_t *policy,
    nitro_attest_lint_pt warn, void *data)
{
    size_t     i;
    na_lint_t  lint;

    lint.warn = warn;
    lint.data = data;
    lint.count = 0;

    if (policy->allow_debug) {
        na_lint_warn(&lint, "-", "allow_debug is true: debug enclaves "
                     "(PCR0, PCR1 and PCR2 all zero) are accepted");
    }

    for (i = 0; i < policy->nallow; i++) {
        na_lint_set(&lint, policy, &policy->allow[i]);
    }

    for (i = 0; i < policy->ndeny; i++) {
        na_lint_set(&lint, policy, &policy->deny[i]);
    }

    return lint.count;
}


/*
 * One set's warnings.  A set of one kind never judges a document of the
 * other, so sets of different kinds neither cover nor repeat each other.
 */
static void
na_lint_set(na_lint_t *lint, const nitro_attest_policy_t *policy,
    const na_pcr_set_t *set)
{
    int                  is_allow;
    size_t               i, k;
    const na_pcr_set_t  *other;

    is_allow = (set >= policy->allow && set < policy->allow + policy->nallow);

    /* PCR8 (the signing certificate) names an image as well as PCR0 does;
     * NitroTPM PCRs measure other things (PCR4, PCR7: the boot) */
    if (is_allow && set->kind == NITRO_ATTEST_KIND_ENCLAVE
        && na_set_rule(set, 0) == NULL && na_set_rule(set, 8) == NULL)
    {
        na_lint_warn(lint, set->name, "pins neither PCR0 nor PCR8: it does "
                     "not name an enclave image");
    }

    for (i = 0; i < set->nrules; i++) {
        for (k = 0; k < set->rules[i].len; k++) {
            if (set->rules[i].value[k] != 0) {
                break;
            }
        }

        if (k == set->rules[i].len) {
            na_lint_warn(lint, set->name, "PCR%u is all zero",
                         (unsigned) set->rules[i].index);
        }
    }

    for (i = 0; is_allow && i < policy->ndeny; i++) {
        other = &policy->deny[i];

        if (other->kind == set->kind && na_set_covers(set, other)) {
            na_lint_warn(lint, set->name, "covered by deny set \"%s\": "
                         "every document it allows is denied", other->name);
        }
    }

    /* the first earlier set with the same PCRs, in file order */
    for (i = 0; i < policy->nallow + policy->ndeny; i++) {
        other = i < policy->nallow ? &policy->allow[i]
                                   : &policy->deny[i - policy->nallow];
        if (other == set) {
            break;
        }

        if (other->kind == set->kind && other->nrules == set->nrules
            && na_set_covers(set, other))
        {
            na_lint_warn(lint, set->name, "same PCRs as %s set \"%s\"",
                         i < policy->nallow ? "allow" : "deny", other->name);
            break;
        }
    }
}


/* every PCR that by lists is in set with the same value */
static int
na_set_covers(const na_pcr_set_t *set, const na_pcr_set_t *by)
{
    size_t               i;
    const na_pcr_rule_t  *rule;

    for (i = 0; i < by->nrules; i++) {
        rule = na_set_rule(set, by->rules[i].index);

        if (rule == NULL || rule->len != by->rules[i].len
            || memcmp(rule->value, by->rules[i].value, rule->len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static const na_pcr_rule_t *
na_set_rule(const na_pcr_set_t *set, unsigned index)
{
    size_t  i;

    for (i = 0; i < set->nrules; i++) {
        if (set->rules[i].index == index) {
            return &set->rules[i];
        }
    }

    return NULL;
}


static void
na_lint_warn(na_lint_t *lint, const char *set, const char *fmt, ...)
{
    char     text[NITRO_ATTEST_POLICY_NAME_MAX + 128];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);

    lint->count++;

    if (lint->warn != NULL) {
        lint->warn(lint->data, set, text);
    }
}


/* Names are unique across both lists. */
static int
na_name_taken(const nitro_attest_policy_t *policy, const na_pcr_set_t *set)
{
    size_t  i;

    for (i = 0; i < policy->nallow; i++) {
        if (&policy->allow[i] != set
            && strcmp(policy->allow[i].name, set->name) == 0)
        {
            return 1;
        }
    }

    for (i = 0; i < policy->ndeny; i++) {
        if (&policy->deny[i] != set
            && strcmp(policy->deny[i].name, set->name) == 0)
        {
            return 1;
        }
    }

    return 0;
}


nitro_attest_pcr_rule_e
nitro_attest_pcr_parse(nitro_attest_kind_e kind, unsigned long index,
    const char *hex, uint8_t *value, size_t *len)
{
    size_t  n;

    if (index >= nitro_attest_pcr_count(kind)) {
        return NITRO_ATTEST_PCR_BAD_INDEX;
    }

    /* 64, 96 or 128 hex digits, either case */
    n = strlen(hex);

    if ((n != 64 && n != 96 && n != 128) || na_hex_decode(hex, n, value) != 0)
    {
        return NITRO_ATTEST_PCR_BAD_VALUE;
    }

    *len = n / 2;
    return NITRO_ATTEST_PCR_VALID;
}
