/*
 * expect.c: `nitro-attest expect`, on a parent instance: what should be
 * attesting.  It reads what `nitro-cli describe-enclaves` prints and writes
 * a Prometheus text file for node_exporter's textfile collector, one
 * nitro_attest_expected_enclave_since_seconds series per running enclave,
 * whose value is when it was first seen running; alerts join it with what
 * the nginx nodes report by module_id.  The first sightings are kept in a
 * state file across runs.  Bad input changes neither file: a run either
 * writes both or none.
 */

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <jansson.h>


#define EXPECT_METRIC   "nitro_attest_expected_enclave_since_seconds"

/* documents carry the slot after "-enc" as this many hex digits */
#define EXPECT_SLOT_DIGITS  16

/* the longest PCR, SHA-512, in hex */
#define EXPECT_PCR_HEX_MAX  128


typedef struct {
    const char                *from;       /* NULL: nitro-cli, or stdin */
    const char                *textfile;
    const char                *state_path; /* NULL: no state file */
    int                        run_cli;    /* run nitro-cli for the input */
    json_t                    *state;      /* module_id: first sighting */
} expect_ctx_t;

/* one running enclave, its labels */
typedef struct {
    char                       module_id[256];
    char                       instance_id[256];
    char                       pcr0[EXPECT_PCR_HEX_MAX + 1];
    const char                *name;
    json_int_t                 process_id;
    int                        debug;
} expect_enclave_t;


static int expect_run(expect_ctx_t *ctx);
static int expect_input(expect_ctx_t *ctx, uint8_t **data, size_t *len);
static int expect_nitro_cli(uint8_t **data, size_t *len);
static int expect_enclave(json_t *e, size_t i, expect_enclave_t *out,
    int *running);
static int expect_module_id(const char *id, expect_enclave_t *out);
static int expect_pcr0(json_t *m, size_t i, char *out);
static json_t *expect_state_load(const char *path);
static int expect_sighting(json_t *state, json_t *next,
    const expect_enclave_t *en, json_int_t now, json_int_t *since);
static int expect_series(char **text, size_t *len, size_t *cap,
    const expect_enclave_t *en, json_int_t since);
static int expect_append(char **text, size_t *len, size_t *cap,
    const char *s, int escape);
static int expect_loop(expect_ctx_t *ctx, int64_t every_ms);


int
cli_cmd_expect(int argc, char **argv)
{
    int            nargs, rc;
    char         **args;
    int64_t        every_ms;
    expect_ctx_t   ctx;

    cli_opt_t  opts[] = {
        cli_opt_value("from"), cli_opt_value("textfile"),
        cli_opt_value("state"), cli_opt_value("every"),
        cli_opt_end
    };

    if (cli_parse("expect", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    free(args);

    memset(&ctx, 0, sizeof(ctx));
    ctx.from = cli_opt(opts, "from")->value;
    ctx.textfile = cli_opt(opts, "textfile")->value;
    ctx.state_path = cli_opt(opts, "state")->value;

    if (nargs != 0 || ctx.textfile == NULL) {
        cli_error("usage: nitro-attest expect [--from FILE] --textfile "
                  "OUT.prom [--state FILE] [--every TIME]");
        return CLI_USAGE;
    }

    every_ms = 0;
    if (cli_duration("expect", "--every", cli_opt(opts, "every")->value,
                     &every_ms) != 0)
    {
        return CLI_USAGE;
    }

    if (cli_opt(opts, "every")->value != NULL) {
        if (every_ms == 0) {
            cli_error("expect: --every must be more than 0");
            return CLI_USAGE;
        }

        /* standard input is read once: a loop reads a file or nitro-cli */
        if (ctx.from != NULL && strcmp(ctx.from, "-") == 0) {
            cli_error("expect: --every cannot read standard input");
            return CLI_USAGE;
        }

        ctx.run_cli = (ctx.from == NULL);

    } else if (ctx.from == NULL) {
        ctx.from = "-";
    }

    if (ctx.state_path != NULL) {
        ctx.state = expect_state_load(ctx.state_path);

    } else {
        ctx.state = json_object();
    }

    if (ctx.state == NULL) {
        return CLI_USAGE;
    }

    rc = (every_ms == 0) ? expect_run(&ctx) : expect_loop(&ctx, every_ms);

    json_decref(ctx.state);

    return rc;
}


/*
 * Runs every every_ms until SIGTERM or SIGINT, which exit 0.  Both are
 * blocked and waited for between runs, so that one arriving during a run
 * never leaves a file half replaced.  A bad run has said why in one line;
 * the files keep what the last good run wrote.
 */
static int
expect_loop(expect_ctx_t *ctx, int64_t every_ms)
{
    int              sig;
    sigset_t         stop;
    struct timespec  wait;

    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);

    if (sigprocmask(SIG_BLOCK, &stop, NULL) != 0) {
        cli_error("expect: sigprocmask: %s", strerror(errno));
        return CLI_USAGE;
    }

    for ( ;; ) {
        (void) expect_run(ctx);

        wait.tv_sec = every_ms / 1000;
        wait.tv_nsec = (long) (every_ms % 1000) * 1000000;

        do {
            sig = sigtimedwait(&stop, NULL, &wait);
        } while (sig < 0 && errno == EINTR);

        if (sig > 0) {
            return CLI_OK;
        }
    }
}


/* one run: CLI_OK with both files replaced, or CLI_USAGE and neither */
static int
expect_run(expect_ctx_t *ctx)
{
    int                rc, running;
    char              *text, *state_text;
    size_t             i, len, cap, data_len;
    json_t            *root, *next, *seen;
    uint8_t           *data;
    json_int_t         now, since;
    json_error_t       jerr;
    expect_enclave_t   en;

    rc = CLI_USAGE;
    text = NULL;
    state_text = NULL;
    root = NULL;
    data = NULL;
    data_len = 0;
    len = 0;
    cap = 0;

    next = json_object();
    seen = json_object();

    if (next == NULL || seen == NULL) {
        cli_error("expect: out of memory");
        goto done;
    }

    if (expect_input(ctx, &data, &data_len) != 0) {
        goto done;
    }

    root = json_loadb((const char *) data, data_len, 0, &jerr);
    if (root == NULL) {
        cli_error("expect: %s: line %d: %s", ctx->run_cli ? "nitro-cli"
                  : strcmp(ctx->from, "-") == 0 ? "standard input"
                  : ctx->from, jerr.line, jerr.text);
        goto done;
    }

    if (!json_is_array(root)) {
        cli_error("expect: not a JSON array of enclaves, as nitro-cli "
                  "describe-enclaves prints");
        goto done;
    }

    now = (json_int_t) time(NULL);

    if (expect_append(&text, &len, &cap,
            "# HELP " EXPECT_METRIC " Unix time each enclave running on this "
            "parent instance was first seen running.\n"
            "# TYPE " EXPECT_METRIC " gauge\n", 0) != 0)
    {
        goto done;
    }

    for (i = 0; i < json_array_size(root); i++) {
        if (expect_enclave(json_array_get(root, i), i, &en, &running) != 0) {
            goto done;
        }

        if (!running) {
            continue;
        }

        /* two series of one module_id would make node_exporter drop all */
        if (json_object_get(seen, en.module_id) != NULL) {
            cli_error("expect: enclave %zu: EnclaveID \"%s\" is listed twice",
                      i, en.module_id);
            goto done;
        }

        if (json_object_set_new(seen, en.module_id, json_true()) != 0
            || expect_sighting(ctx->state, next, &en, now, &since) != 0
            || expect_series(&text, &len, &cap, &en, since) != 0)
        {
            cli_error("expect: out of memory");
            goto done;
        }
    }

    state_text = json_dumps(next, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (state_text == NULL) {
        cli_error("expect: out of memory");
        goto done;
    }

    /*
     * The state first: a textfile never shows a first sighting that the
     * next run would not remember.
     */
    if ((ctx->state_path != NULL
         && cli_replace_file("expect", ctx->state_path, state_text, 0644)
            != 0)
        || cli_replace_file("expect", ctx->textfile, text, 0644) != 0)
    {
        goto done;
    }

    json_decref(ctx->state);
    ctx->state = next;
    next = NULL;
    rc = CLI_OK;

done:

    json_decref(next);
    json_decref(seen);
    json_decref(root);
    free(state_text);
    free(text);
    free(data);

    return rc;
}


/* what describe-enclaves printed: 0, or -1 after a message */
static int
expect_input(expect_ctx_t *ctx, uint8_t **data, size_t *len)
{
    if (ctx->run_cli) {
        return expect_nitro_cli(data, len);
    }

    if (cli_read_file(ctx->from, data, len) != 0) {
        return -1;
    }

    return 0;
}


/*
 * The standard output of `nitro-cli describe-enclaves`, the one on PATH,
 * when it exits 0: 0, or -1 after a message.  The child gets the signal
 * mask the loop blocked unblocked, so that SIGTERM still stops it.
 */
static int
expect_nitro_cli(uint8_t **data, size_t *len)
{
    int       fd[2], status, rc;
    FILE     *f;
    char     *argv[] = { "nitro-cli", "describe-enclaves", NULL };
    pid_t     pid;
    size_t    n;
    uint8_t  *buf;
    sigset_t  none;

    if (pipe(fd) != 0) {
        cli_error("expect: pipe: %s", strerror(errno));
        return -1;
    }

    pid = fork();

    if (pid < 0) {
        cli_error("expect: fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }

    if (pid == 0) {
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        if (dup2(fd[1], STDOUT_FILENO) >= 0) {
            close(fd[0]);
            close(fd[1]);
            execvp(argv[0], argv);
        }

        cli_error("expect: nitro-cli: %s", strerror(errno));
        _exit(127);
    }

    close(fd[1]);

    f = fdopen(fd[0], "rb");

    if (f == NULL) {
        cli_error("expect: fdopen: %s", strerror(errno));
        close(fd[0]);
        rc = -1;

    } else {
        rc = cli_read_stream(f, "expect: nitro-cli describe-enclaves", &buf,
                             &n);
        fclose(f);
    }

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }

    if (rc != 0) {
        return -1;
    }

    if (status != 0) {
        cli_error("expect: nitro-cli describe-enclaves failed (%s %d)",
                  WIFEXITED(status) ? "exit status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status)
                                    : WTERMSIG(status));
        free(buf);
        return -1;
    }

    *data = buf;
    *len = n;
    return 0;
}


/*
 * One object of the array, checked field by field as nitro-cli writes it;
 * *running 0 for an enclave not RUNNING (TERMINATING, EMPTY), whose
 * measurements may be empty.  0, or -1 after a message.
 */
static int
expect_enclave(json_t *e, size_t i, expect_enclave_t *out, int *running)
{
    json_t       *v;
    size_t        k;
    const char   *state, *flags;

    static const struct {
        const char  *key;
        json_type    type;
    } fields[] = {
        { "EnclaveName", JSON_STRING },
        { "EnclaveID", JSON_STRING },
        { "ProcessID", JSON_INTEGER },
        { "EnclaveCID", JSON_INTEGER },
        { "NumberOfCPUs", JSON_INTEGER },
        { "CPUIDs", JSON_ARRAY },
        { "MemoryMiB", JSON_INTEGER },
        { "State", JSON_STRING },
        { "Flags", JSON_STRING },
        { "Measurements", JSON_OBJECT },
    };

    if (!json_is_object(e)) {
        cli_error("expect: enclave %zu: not a JSON object", i);
        return -1;
    }

    for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        v = json_object_get(e, fields[k].key);

        if (v == NULL || json_typeof(v) != fields[k].type) {
            cli_error("expect: enclave %zu: %s %s", i, fields[k].key,
                      v == NULL ? "is missing" : "has the wrong type");
            return -1;
        }
    }

    memset(out, 0, sizeof(*out));

    if (expect_module_id(json_string_value(json_object_get(e, "EnclaveID")),
                         out)
        != 0)
    {
        cli_error("expect: enclave %zu: EnclaveID \"%s\" is not "
                  "INSTANCE-encHEX", i,
                  json_string_value(json_object_get(e, "EnclaveID")));
        return -1;
    }

    flags = json_string_value(json_object_get(e, "Flags"));

    if (strcmp(flags, "DEBUG_MODE") == 0) {
        out->debug = 1;

    } else if (strcmp(flags, "NONE") != 0) {
        cli_error("expect: enclave %zu: Flags \"%s\" is neither DEBUG_MODE "
                  "nor NONE", i, flags);
        return -1;
    }

    state = json_string_value(json_object_get(e, "State"));
    *running = (strcmp(state, "RUNNING") == 0);

    if (!*running) {
        return 0;
    }

    out->name = json_string_value(json_object_get(e, "EnclaveName"));
    out->process_id = json_integer_value(json_object_get(e, "ProcessID"));

    return expect_pcr0(json_object_get(e, "Measurements"), i, out->pcr0);
}


/*
 * nitro-cli's EnclaveID is the instance id, "-enc" and the slot in hex
 * without leading zeros; documents carry the slot as 16 hex digits.  The
 * module_id is the id as documents carry it: 0, or -1 when id is not one.
 */
static int
expect_module_id(const char *id, expect_enclave_t *out)
{
    size_t       k, inst_len, slot_len;
    const char  *enc, *p, *slot;

    enc = NULL;

    for (p = strstr(id, "-enc"); p != NULL; p = strstr(p + 1, "-enc")) {
        enc = p;
    }

    if (enc == NULL || enc == id) {
        return -1;
    }

    inst_len = (size_t) (enc - id);
    slot = enc + 4;
    slot_len = strlen(slot);

    if (inst_len >= sizeof(out->instance_id) - EXPECT_SLOT_DIGITS - 5
        || slot_len == 0 || slot_len > EXPECT_SLOT_DIGITS)
    {
        return -1;
    }

    for (k = 0; k < inst_len; k++) {
        if (!isalnum((unsigned char) id[k]) && id[k] != '-' && id[k] != '_'
            && id[k] != '.')
        {
            return -1;
        }
    }

    for (k = 0; k < slot_len; k++) {
        if (!isxdigit((unsigned char) slot[k])) {
            return -1;
        }
    }

    memcpy(out->instance_id, id, inst_len);
    out->instance_id[inst_len] = '\0';

    memcpy(out->module_id, id, inst_len + 4);
    k = inst_len + 4;

    for ( ; slot_len < EXPECT_SLOT_DIGITS; slot_len++) {
        out->module_id[k++] = '0';
    }

    for ( ; *slot; slot++) {
        out->module_id[k++] = (char) tolower((unsigned char) *slot);
    }

    out->module_id[k] = '\0';

    return 0;
}


/* Measurements' PCR0, hex, into out lowercase: 0, or -1 after a message */
static int
expect_pcr0(json_t *m, size_t i, char *out)
{
    size_t       k, n;
    const char  *hex;

    hex = json_string_value(json_object_get(m, "PCR0"));

    if (hex == NULL) {
        cli_error("expect: enclave %zu: Measurements has no PCR0 string", i);
        return -1;
    }

    n = strlen(hex);

    if (n == 0 || n % 2 != 0 || n > EXPECT_PCR_HEX_MAX) {
        cli_error("expect: enclave %zu: PCR0 is not a hash in hex", i);
        return -1;
    }

    for (k = 0; k < n; k++) {
        if (!isxdigit((unsigned char) hex[k])) {
            cli_error("expect: enclave %zu: PCR0 is not a hash in hex", i);
            return -1;
        }

        out[k] = (char) tolower((unsigned char) hex[k]);
    }

    out[k] = '\0';

    return 0;
}


/*
 * The state file, {"MODULE_ID": {"since": T, "process_id": P}}, or an
 * empty state when it does not exist yet; NULL after a message.
 */
static json_t *
expect_state_load(const char *path)
{
    json_t        *state, *v;
    const char    *key;
    json_error_t   jerr;

    state = json_load_file(path, 0, &jerr);

    if (state == NULL) {
        if (access(path, F_OK) != 0 && errno == ENOENT) {
            return json_object();
        }

        cli_error("expect: %s: line %d: %s", path, jerr.line, jerr.text);
        return NULL;
    }

    if (!json_is_object(state)) {
        goto bad;
    }

    json_object_foreach(state, key, v) {
        if (!json_is_integer(json_object_get(v, "since"))
            || !json_is_integer(json_object_get(v, "process_id")))
        {
            goto bad;
        }
    }

    return state;

bad:

    cli_error("expect: %s: not a state file of nitro-attest expect", path);
    json_decref(state);
    return NULL;
}


/*
 * en's first sighting, from the last run when it is the same launch (same
 * enclave process and PCR0: a relaunch in the slot is a new enclave that
 * must attest anew), else now; recorded in next.  0, or -1.
 */
static int
expect_sighting(json_t *state, json_t *next, const expect_enclave_t *en,
    json_int_t now, json_int_t *since)
{
    json_t      *old;
    const char  *pcr0;

    old = json_object_get(state, en->module_id);
    pcr0 = json_string_value(json_object_get(old, "pcr0"));

    if (old != NULL
        && json_integer_value(json_object_get(old, "process_id"))
           == en->process_id
        && pcr0 != NULL && strcmp(pcr0, en->pcr0) == 0)
    {
        *since = json_integer_value(json_object_get(old, "since"));

    } else {
        *since = now;
    }

    return json_object_set_new(next, en->module_id,
                               json_pack("{s:I, s:I, s:s}", "since", *since,
                                         "process_id", en->process_id,
                                         "pcr0", en->pcr0));
}


/* en's series, its label values escaped: 0, or -1 out of memory */
static int
expect_series(char **text, size_t *len, size_t *cap,
    const expect_enclave_t *en, json_int_t since)
{
    char  value[32];

    snprintf(value, sizeof(value), "} %" JSON_INTEGER_FORMAT "\n", since);

    if (expect_append(text, len, cap, EXPECT_METRIC "{module_id=\"", 0) != 0
        || expect_append(text, len, cap, en->module_id, 1) != 0
        || expect_append(text, len, cap, "\",instance_id=\"", 0) != 0
        || expect_append(text, len, cap, en->instance_id, 1) != 0
        || expect_append(text, len, cap, "\",enclave_name=\"", 0) != 0
        || expect_append(text, len, cap, en->name, 1) != 0
        || expect_append(text, len, cap, "\",pcr0=\"", 0) != 0
        || expect_append(text, len, cap, en->pcr0, 1) != 0
        || expect_append(text, len, cap, "\",debug=\"", 0) != 0
        || expect_append(text, len, cap, en->debug ? "true" : "false", 0)
           != 0
        || expect_append(text, len, cap, "\"", 0) != 0
        || expect_append(text, len, cap, value, 0) != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * s appended to the growing *text; escape: as a label value of the text
 * exposition format (backslash, double quote, line feed): 0, or -1.
 */
static int
expect_append(char **text, size_t *len, size_t *cap, const char *s,
    int escape)
{
    char    *p;
    size_t   n, need, size;

    /* escaping at most doubles s */
    n = strlen(s);
    need = *len + n * (escape ? 2 : 1) + 1;

    if (need > *cap) {
        size = need * 2 > 4096 ? need * 2 : 4096;
        p = realloc(*text, size);
        if (p == NULL) {
            return -1;
        }

        *text = p;
        *cap = size;
    }

    if (escape) {
        p = nitro_attest_prometheus_escape(*text + *len, (const uint8_t *) s,
                                           n);
        *len = (size_t) (p - *text);

    } else {
        memcpy(*text + *len, s, n);
        *len += n;
    }

    (*text)[*len] = '\0';

    return 0;
}
