/*
 * agent.c: `agent`, the enclave's renewal loop: every TIME a new key, a
 * document for it from the NSM and the client certificate wrapping it,
 * put in DIR so that no reader ever finds a half-written file or, in
 * bundle.pem, a key and a certificate that do not belong together;
 * status.json says how the last attempt went.  A foreground process whose
 * signals stay blocked and are taken with sigtimedwait(), so nothing runs
 * in a signal handler and no system call is interrupted.
 */

#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>


#define AGENT_EVERY_MS    60000   /* default --every */
#define AGENT_EVERY_MAX_MS  (365LL * 86400000)
#define AGENT_BACKOFF_MS  1000    /* the first retry after a failure */
#define AGENT_FILES       3       /* bundle.pem, key.pem, cert.pem */

extern char  **environ;


/* what the options ask for */
typedef struct {
    const char                *dir;
    const char                *device;
    const char                *key_type;
    const char                *exec;
    const char                *server;      /* a server's, for this name */
    int64_t                    every_ms;
    long                       days;        /* of each certificate */
    nitro_attest_binding_e     binding;
    int                        once;
} agent_conf_t;

/* this process's last success and the failures since, for status.json */
typedef struct {
    int64_t                    renewed_at;  /* ms; 0: no success yet */
    int64_t                    timestamp_ms;
    char                       module_id[NITRO_ATTEST_MODULE_ID_MAX + 1];
    char                       cert_sha256[2 * SHA256_DIGEST_LENGTH + 1];
    unsigned long              failures;
    char                       last_error[1024];
} agent_status_t;

/* the --exec command: one at a time; a success while it runs reruns it */
typedef struct {
    pid_t                      pid;         /* 0: none running */
    int                        again;
} agent_exec_t;

static int agent_options(cli_opt_t *opts, int nargs, agent_conf_t *conf);
static int agent_dir(const char *dir);
static void agent_signals(sigset_t *set);
static int agent_run(const agent_conf_t *conf, const sigset_t *child_mask);
static int64_t agent_attempt(const agent_conf_t *conf, agent_status_t *st);
static int agent_renew(const agent_conf_t *conf, agent_status_t *st,
    char *err, size_t errlen);
static int agent_install(const char *dir, EVP_PKEY *key, X509 *cert,
    char *err, size_t errlen);
static int agent_status_write(const char *dir, const agent_status_t *st,
    int64_t next_at, char *err, size_t errlen);
static int agent_path(char *path, const char *dir, const char *name,
    char *err, size_t errlen);
static json_t *agent_time(int64_t ms);
static void agent_exec_start(const agent_conf_t *conf, agent_exec_t *ex,
    const sigset_t *child_mask);
static void agent_exec_reap(const agent_conf_t *conf, agent_exec_t *ex,
    const sigset_t *child_mask, int block);
static int agent_wait(const agent_conf_t *conf, int64_t delay_ms,
    agent_exec_t *ex, const sigset_t *child_mask);
static void agent_printable(char *dst, size_t size, const char *src);
static int64_t agent_monotonic_ms(void);


int
cli_cmd_agent(int argc, char **argv)
{
    int           nargs, rc;
    char        **args;
    sigset_t      signals, old;
    agent_conf_t  conf;

    cli_opt_t  opts[] = {
        cli_opt_value("dir"), cli_opt_value("every"),
        cli_opt_value("key-type"), cli_opt_value("binding"),
        cli_opt_value("exec"), cli_opt_flag("once"),
        cli_opt_value("device"), cli_opt_value("server"),
        cli_opt_end
    };

    if (cli_parse("agent", argc, argv, opts, &args, &nargs) != 0) {
        return CLI_USAGE;
    }

    free(args);

    if (agent_options(opts, nargs, &conf) != 0 || agent_dir(conf.dir) != 0) {
        return CLI_USAGE;
    }

    /*
     * Blocked from here on, these signals wait until agent_wait() takes
     * them: a renewal is never cut short, a stop or a renewal asked for
     * during one is taken after it.
     */
    agent_signals(&signals);
    sigprocmask(SIG_BLOCK, &signals, &old);

    rc = agent_run(&conf, &old);

    sigprocmask(SIG_SETMASK, &old, NULL);

    return rc;
}


/* 0, or -1 after a usage error */
static int
agent_options(cli_opt_t *opts, int nargs, agent_conf_t *conf)
{
    const char  *type;

    conf->dir = cli_opt(opts, "dir")->value;
    conf->device = cli_nsm_device(cli_opt(opts, "device")->value);
    conf->exec = cli_opt(opts, "exec")->value;
    /* "" runs nothing: a service's configuration may leave it empty */
    conf->exec = (conf->exec != NULL && conf->exec[0] != '\0') ? conf->exec
                                                               : NULL;
    conf->once = cli_opt(opts, "once")->count > 0;
    conf->server = cli_opt(opts, "server")->value;
    conf->every_ms = AGENT_EVERY_MS;
    type = cli_opt(opts, "key-type")->value;
    conf->key_type = type ? type : "p256";

    if (nargs != 0 || conf->dir == NULL || conf->dir[0] == '\0') {
        cli_error("usage: nitro-attest agent --dir DIR [--every TIME] "
                  "[--key-type p256|p384|ed25519] [--binding MODE] "
                  "[--exec CMD] [--once] [--server NAME] [--device PATH]");
        return -1;
    }

    if (strcmp(conf->key_type, "p256") != 0
        && strcmp(conf->key_type, "p384") != 0
        && strcmp(conf->key_type, "ed25519") != 0)
    {
        cli_error("agent: --key-type must be p256, p384 or ed25519, not "
                  "\"%s\"", conf->key_type);
        return -1;
    }

    if (cli_duration("agent", "--every", cli_opt(opts, "every")->value,
                     &conf->every_ms) != 0
        || cli_key_binding("agent", cli_opt(opts, "binding")->value,
                           &conf->binding) != 0
        || cli_server_name("agent", conf->server) != 0)
    {
        return -1;
    }

    if (conf->every_ms <= 0 || conf->every_ms > AGENT_EVERY_MAX_MS) {
        cli_error("agent: --every must be more than 0 and at most 1y");
        return -1;
    }

    /* valid over two renewal periods at least, so one failure costs none */
    conf->days = (long) ((2 * conf->every_ms + 86399999) / 86400000);

    return 0;
}


/*
 * DIR, made when missing, and cleared of the temporary files a killed
 * agent may have left (".key.pem.XXXXXX"): 0, or -1 after a message.
 */
static int
agent_dir(const char *dir)
{
    int             fd;
    DIR            *d;
    size_t          n;
    const char     *name, *dot;
    struct dirent  *e;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("agent: %s: %s", dir, strerror(errno));
        return -1;
    }

    d = opendir(dir);
    if (d == NULL) {
        cli_error("agent: %s: %s", dir, strerror(errno));
        return -1;
    }

    fd = dirfd(d);

    while ((e = readdir(d)) != NULL) {
        name = e->d_name;
        dot = strrchr(name, '.');
        n = strlen(name);

        if (name[0] == '.' && dot != NULL && n - (dot - name) == 7
            && (strncmp(name, ".key.pem.", 9) == 0
                || strncmp(name, ".cert.pem.", 10) == 0
                || strncmp(name, ".bundle.pem.", 12) == 0
                || strncmp(name, ".status.json.", 13) == 0))
        {
            (void) unlinkat(fd, name, 0);
        }
    }

    closedir(d);
    return 0;
}


/* what the agent takes: a stop, a renewal now, the end of --exec */
static void
agent_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}


/*
 * The loop: CLI_OK when stopped; with --once, the attempt's status.
 * child_mask: the signal mask --exec runs with, the agent's at its start.
 */
static int
agent_run(const agent_conf_t *conf, const sigset_t *child_mask)
{
    int             sig;
    int64_t         delay;
    agent_exec_t    ex;
    agent_status_t  st;

    memset(&st, 0, sizeof(st));
    memset(&ex, 0, sizeof(ex));

    for ( ;; ) {
        delay = agent_attempt(conf, &st);

        if (st.failures == 0 && conf->exec != NULL) {
            agent_exec_start(conf, &ex, child_mask);
        }

        if (conf->once) {
            agent_exec_reap(conf, &ex, child_mask, 1);
            return st.failures == 0 ? CLI_OK : CLI_FAILED;
        }

        sig = agent_wait(conf, delay, &ex, child_mask);

        if (sig == SIGTERM || sig == SIGINT) {
            cli_error("agent: %s: stopped",
                      sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return CLI_OK;
        }
    }
}


/*
 * One renewal, then status.json and the log line: the time to wait until
 * the next one, TIME after a success, else the backoff (1 s, doubling, at
 * most TIME).
 */
static int64_t
agent_attempt(const agent_conf_t *conf, agent_status_t *st)
{
    int      shift, status;
    char     err[1024], at[32], ts[32];
    int64_t  delay, next_at;

    if (agent_renew(conf, st, err, sizeof(err)) == 0) {
        st->failures = 0;
        st->last_error[0] = '\0';
        delay = conf->every_ms;

    } else {
        st->failures++;
        agent_printable(st->last_error, sizeof(st->last_error), err);
        shift = st->failures > 16 ? 16 : (int) st->failures - 1;
        delay = (int64_t) AGENT_BACKOFF_MS << shift;
        delay = delay < conf->every_ms ? delay : conf->every_ms;
    }

    /* status.json first: who reads the log line finds it up to date */
    next_at = cli_now_ms() + delay;
    status = agent_status_write(conf->dir, st, next_at, err, sizeof(err));
    (void) nitro_attest_format_time(at, sizeof(at), next_at);

    if (st->failures == 0) {
        (void) nitro_attest_format_time(ts, sizeof(ts), st->timestamp_ms);
        cli_error("agent: renewed %s: module_id=%s timestamp=%s "
                  "cert_sha256=%s next_at=%s", conf->dir, st->module_id, ts,
                  st->cert_sha256, at);

    } else {
        cli_error("agent: renewal failed (%lu in a row, %s unchanged): %s; "
                  "next_at=%s", st->failures, conf->dir, st->last_error, at);
    }

    if (status != 0) {
        cli_error("agent: %s", err);
    }

    return delay;
}


/* a new key, its document and certificate, in DIR: 0, or -1 and err */
static int
agent_renew(const agent_conf_t *conf, agent_status_t *st, char *err,
    size_t errlen)
{
    int                    rc, len;
    X509                  *cert;
    size_t                 doc_len;
    uint8_t               *doc, *der, md[SHA256_DIGEST_LENGTH];
    EVP_PKEY              *key;
    nitro_attest_bytes_t   none;

    none.data = NULL;
    none.len = 0;
    doc = NULL;
    cert = NULL;
    der = NULL;
    rc = -1;

    key = cli_key_generate(conf->key_type);
    if (key == NULL) {
        snprintf(err, errlen, "cannot make a %s key", conf->key_type);
        return -1;
    }

    if (cli_nsm_key_document(conf->device, key, conf->binding, &none, &none,
                             &doc, &doc_len, err, errlen) != CLI_OK)
    {
        goto done;
    }

    cert = cli_attested_cert(conf->device, key, doc, doc_len, conf->binding,
                             conf->days, conf->server, err, errlen);
    if (cert == NULL) {
        goto done;
    }

    len = i2d_X509(cert, &der);
    if (len <= 0) {
        snprintf(err, errlen, "cannot encode the certificate");
        goto done;
    }

    if (agent_install(conf->dir, key, cert, err, errlen) != 0) {
        goto done;
    }

    /* the document parsed in cli_attested_cert(): it peeks */
    (void) nitro_attest_document_peek(doc, doc_len, &st->timestamp_ms,
                                      st->module_id, sizeof(st->module_id));
    SHA256(der, (size_t) len, md);
    *nitro_attest_hex(st->cert_sha256, md, sizeof(md)) = '\0';
    st->renewed_at = cli_now_ms();
    rc = 0;

done:

    ERR_clear_error();
    OPENSSL_free(der);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(doc);

    return rc;
}


/*
 * bundle.pem (the key, then the certificate), key.pem and cert.pem
 * replaced together, bundle.pem first: 0, or -1 and err with the last
 * good files left.
 */
static int
agent_install(const char *dir, EVP_PKEY *key, X509 *cert, char *err,
    size_t errlen)
{
    int          rc;
    char        *text, paths[AGENT_FILES][PATH_MAX];
    long         len;
    size_t       i;
    BIO         *pem[AGENT_FILES];
    cli_file_t   files[AGENT_FILES];

    static const struct {
        const char  *name;
        mode_t       mode;
    } names[AGENT_FILES] = {
        { "bundle.pem", 0600 }, { "key.pem", 0600 }, { "cert.pem", 0644 }
    };

    rc = -1;

    for (i = 0; i < AGENT_FILES; i++) {
        pem[i] = BIO_new(BIO_s_mem());
    }

    if (pem[0] == NULL || pem[1] == NULL || pem[2] == NULL
        || PEM_write_bio_PrivateKey(pem[0], key, NULL, NULL, 0, NULL, NULL)
           != 1
        || PEM_write_bio_X509(pem[0], cert) != 1
        || PEM_write_bio_PrivateKey(pem[1], key, NULL, NULL, 0, NULL, NULL)
           != 1
        || PEM_write_bio_X509(pem[2], cert) != 1)
    {
        snprintf(err, errlen, "cannot encode the key and certificate");
        goto done;
    }

    for (i = 0; i < AGENT_FILES; i++) {
        if (agent_path(paths[i], dir, names[i].name, err, errlen) != 0) {
            goto done;
        }

        len = BIO_get_mem_data(pem[i], &text);
        files[i].path = paths[i];
        files[i].data = text;
        files[i].len = (size_t) len;
        files[i].mode = names[i].mode;
        files[i].uid = (uid_t) -1;
        files[i].gid = (gid_t) -1;
    }

    rc = cli_replace_files(files, AGENT_FILES, err, errlen);

done:

    for (i = 0; i < AGENT_FILES; i++) {
        BIO_free(pem[i]);
    }

    return rc;
}


/* DIR/status.json, replaced as the certificate files are: 0, or -1 */
static int
agent_status_write(const char *dir, const agent_status_t *st,
    int64_t next_at, char *err, size_t errlen)
{
    int          rc;
    char        *text, *line, path[PATH_MAX];
    size_t       len;
    json_t      *obj;
    cli_file_t   file;

    if (st->renewed_at != 0) {
        obj = json_pack("{s:o, s:o, s:s, s:I, s:s}",
                        "renewed_at", agent_time(st->renewed_at),
                        "next_at", agent_time(next_at),
                        "module_id", st->module_id,
                        "timestamp_ms", (json_int_t) st->timestamp_ms,
                        "cert_sha256", st->cert_sha256);
    } else {
        obj = json_pack("{s:n, s:o, s:n, s:n, s:n}", "renewed_at",
                        "next_at", agent_time(next_at), "module_id",
                        "timestamp_ms", "cert_sha256");
    }

    if (obj != NULL
        && (json_object_set_new(obj, "failures",
                                json_integer((json_int_t) st->failures)) != 0
            || json_object_set_new(obj, "last_error",
                                   st->failures ? json_string(st->last_error)
                                                : json_null()) != 0))
    {
        json_decref(obj);
        obj = NULL;
    }

    text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);

    /* one line: the text and its newline */
    len = text ? strlen(text) : 0;
    line = text ? realloc(text, len + 2) : NULL;

    if (line == NULL) {
        snprintf(err, errlen, "%s/status.json: cannot encode it", dir);
        free(text);
        return -1;
    }

    line[len] = '\n';
    line[len + 1] = '\0';

    file.path = path;
    file.data = line;
    file.len = len + 1;
    file.mode = 0644;
    file.uid = (uid_t) -1;
    file.gid = (gid_t) -1;

    rc = agent_path(path, dir, "status.json", err, errlen);

    if (rc == 0) {
        rc = cli_replace_files(&file, 1, err, errlen);
    }

    free(line);

    return rc;
}


/* DIR/NAME into path: 0, or -1 and err */
static int
agent_path(char *path, const char *dir, const char *name, char *err,
    size_t errlen)
{
    int  n;

    n = snprintf(path, PATH_MAX, "%s/%s", dir, name);

    if (n < 0 || n >= PATH_MAX) {
        snprintf(err, errlen, "%s/%s: %s", dir, name,
                 strerror(ENAMETOOLONG));
        return -1;
    }

    return 0;
}


static json_t *
agent_time(int64_t ms)
{
    char  text[32];

    if (nitro_attest_format_time(text, sizeof(text), ms) < 0) {
        return json_null();
    }

    return json_string(text);
}


/* /bin/sh -c CMD with the signals as the agent found them */
static void
agent_exec_start(const agent_conf_t *conf, agent_exec_t *ex,
    const sigset_t *child_mask)
{
    int                rc;
    char              *argv[4];
    posix_spawnattr_t  attr;

    if (ex->pid != 0) {
        ex->again = 1;
        return;
    }

    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = (char *) conf->exec;
    argv[3] = NULL;

    rc = posix_spawnattr_init(&attr);

    if (rc == 0) {
        rc = posix_spawnattr_setsigmask(&attr, child_mask);
    }

    if (rc == 0) {
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    }

    if (rc == 0) {
        rc = posix_spawn(&ex->pid, "/bin/sh", NULL, &attr, argv, environ);
        (void) posix_spawnattr_destroy(&attr);
    }

    if (rc != 0) {
        ex->pid = 0;
        cli_error("agent: --exec \"%s\": /bin/sh: %s", conf->exec,
                  strerror(rc));
    }
}


/*
 * The --exec command's end, if it came (block: waits for it), logged when
 * it failed; a success while it ran starts it again.
 */
static void
agent_exec_reap(const agent_conf_t *conf, agent_exec_t *ex,
    const sigset_t *child_mask, int block)
{
    int    status;
    pid_t  pid;

    while (ex->pid != 0) {
        pid = waitpid(ex->pid, &status, block ? 0 : WNOHANG);

        if (pid < 0 && errno == EINTR) {
            continue;
        }

        if (pid == 0) {
            return;
        }

        if (pid < 0) {
            cli_error("agent: --exec \"%s\": %s", conf->exec, strerror(errno));

        } else if (WIFSIGNALED(status)) {
            cli_error("agent: --exec \"%s\" killed by signal %d", conf->exec,
                      WTERMSIG(status));

        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            cli_error("agent: --exec \"%s\" exited %d", conf->exec,
                      WEXITSTATUS(status));
        }

        ex->pid = 0;

        if (ex->again) {
            ex->again = 0;
            agent_exec_start(conf, ex, child_mask);
        }
    }
}


/*
 * Waits delay_ms, reaping --exec on the way: 0 when the time came, or
 * SIGHUP, SIGTERM or SIGINT when one came first.
 */
static int
agent_wait(const agent_conf_t *conf, int64_t delay_ms, agent_exec_t *ex,
    const sigset_t *child_mask)
{
    int              sig;
    int64_t          deadline, left;
    sigset_t         wanted;
    struct timespec  ts;

    agent_signals(&wanted);
    deadline = agent_monotonic_ms() + delay_ms;

    for ( ;; ) {
        left = deadline - agent_monotonic_ms();
        if (left <= 0) {
            return 0;
        }

        ts.tv_sec = (time_t) (left / 1000);
        ts.tv_nsec = (long) (left % 1000) * 1000000;

        sig = sigtimedwait(&wanted, NULL, &ts);

        if (sig == SIGCHLD) {
            agent_exec_reap(conf, ex, child_mask, 0);

        } else if (sig > 0) {
            return sig;

        } else if (errno == EAGAIN) {
            return 0;
        }
    }
}


static int64_t
agent_monotonic_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/*
 * src as one line of printable ASCII: what the NSM or a path put in a
 * message goes to a log line and to JSON, which takes only UTF-8.
 */
static void
agent_printable(char *dst, size_t size, const char *src)
{
    size_t  i;

    for (i = 0; i + 1 < size && src[i] != '\0'; i++) {
        dst[i] = (src[i] >= 0x20 && src[i] <= 0x7e) ? src[i] : '?';
    }

    dst[i] = '\0';
}
