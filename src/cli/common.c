/*
 * common.c: what every nitro-attest command uses: option parsing, error
 * messages, reading files and the evidence they hold, replacing files
 * atomically, roots, keys and certificates, time options, the --kind and
 * --pcr options by the core's rules, the certificates `cert` and `mock`
 * build, and the NSM's device and the documents it attests keys with.  It
 * calls the core and never a command.
 */

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cbor.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>


/* what cli_replace_files() holds of a file until it is in place */
typedef struct {
    int                        fd;
    char                       tmp[PATH_MAX];  /* "": no name yet */
} cli_new_file_t;


static int cli_parse_option(const char *cmd, cli_opt_t *opts, int argc,
    char **argv, int *i);
static int cli_new_file_write(const cli_file_t *f, cli_new_file_t *nf);
static int cli_new_file_name(const cli_file_t *f, cli_new_file_t *nf);
static int cli_temporary_name(const char *path, char *tmp, size_t size);
static int cli_random_suffix(char *tmp);
static int cli_dir_of(const char *path, char *dir, size_t size);
static int cli_sync_dir(const char *path);
static const EVP_MD *cli_sign_md(EVP_PKEY *key);


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
    int          i, only_args;
    const char  *arg;

    *nargs = 0;
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

        if (cli_parse_option(cmd, opts, argc, argv, &i) != 0) {
            free(*args);
            *args = NULL;
            return -1;
        }
    }

    return 0;
}


/* argv[*i], "--name" or "--name=value"; *i moves past a separate value */
static int
cli_parse_option(const char *cmd, cli_opt_t *opts, int argc, char **argv,
    int *i)
{
    size_t        n;
    cli_opt_t    *o;
    const char   *arg, *eq, *value, **values;

    arg = argv[*i] + 2;
    eq = strchr(arg, '=');
    n = eq ? (size_t) (eq - arg) : strlen(arg);

    for (o = opts; o->name != NULL; o++) {
        if (strlen(o->name) == n && strncmp(o->name, arg, n) == 0) {
            break;
        }
    }

    if (o->name == NULL) {
        cli_error("%s: unknown option --%.*s", cmd, (int) n, arg);
        return -1;
    }

    value = NULL;

    if (o->takes_value) {
        if (eq != NULL) {
            value = eq + 1;
        } else if (*i + 1 < argc) {
            value = argv[++*i];
        } else {
            cli_error("%s: --%s needs a value", cmd, o->name);
            return -1;
        }

    } else if (eq != NULL) {
        cli_error("%s: --%s takes no value", cmd, o->name);
        return -1;
    }

    if (o->count > 0 && !o->repeatable && o->takes_value) {
        cli_error("%s: --%s given twice", cmd, o->name);
        return -1;
    }

    if (o->repeatable) {
        values = realloc(o->values, (o->count + 1) * sizeof(char *));
        if (values == NULL) {
            cli_error("out of memory");
            return -1;
        }

        o->values = values;
        o->values[o->count] = value;
    }

    o->value = value;
    o->count++;

    return 0;
}


void
cli_opts_free(cli_opt_t *opts)
{
    for ( ; opts->name != NULL; opts++) {
        free(opts->values);
        opts->values = NULL;
    }
}


int
cli_read_file(const char *path, uint8_t **data, size_t *len)
{
    int    rc;
    FILE  *f;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }

    rc = cli_read_stream(f, path, data, len);

    if (f != stdin) {
        fclose(f);
    }

    return rc;
}


int
cli_read_stream(FILE *f, const char *name, uint8_t **data, size_t *len)
{
    size_t    n, cap;
    uint8_t  *buf, *p;

    cap = 65536;
    n = 0;
    buf = malloc(cap);

    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }

        if (cap >= 64 * 1024 * 1024) {
            cli_error("%s: larger than 64 MiB", name);
            free(buf);
            return -1;
        }

        cap *= 2;
        p = realloc(buf, cap);
        if (p == NULL) {
            free(buf);
        }

        buf = p;
    }

    if (buf == NULL) {
        cli_error("%s: out of memory", name);
        return -1;
    }

    if (ferror(f)) {
        cli_error("%s: %s", name, strerror(errno));
        free(buf);
        return -1;
    }

    *data = buf;
    *len = n;
    return 0;
}



/*
 * Through a symlink, its target; a file that is not there yet gets mode
 * and the writer's owner, else mode (or with -1 its own) and its owner.
 */
int
cli_replace_file(const char *cmd, const char *path, const char *text,
    int mode)
{
    int          rc;
    char        *real, err[1024];
    cli_file_t   f;
    struct stat  st;

    real = realpath(path, NULL);

    if (real == NULL && mode >= 0 && errno == ENOENT) {
        real = strdup(path);
        st.st_uid = (uid_t) -1;
        st.st_gid = (gid_t) -1;

    } else if (real == NULL || stat(real, &st) != 0) {
        cli_error("%s: %s: %s", cmd, path, strerror(errno));
        free(real);
        return -1;
    }

    if (real == NULL) {
        cli_error("%s: out of memory", cmd);
        return -1;
    }

    f.path = real;
    f.data = text;
    f.len = strlen(text);
    f.mode = mode >= 0 ? (mode_t) mode : st.st_mode & 07777;
    f.uid = st.st_uid;
    f.gid = st.st_gid;

    rc = cli_replace_files(&f, 1, err, sizeof(err));
    if (rc != 0) {
        cli_error("%s: %s", cmd, err);
    }

    free(real);
    return rc;
}


int
cli_replace_files(const cli_file_t *files, size_t n, char *err,
    size_t errlen)
{
    int              rc;
    size_t           i;
    cli_new_file_t  *nf;

    nf = calloc(n, sizeof(cli_new_file_t));
    if (nf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        nf[i].fd = -1;
    }

    rc = -1;

    for (i = 0; i < n; i++) {
        if (cli_new_file_write(&files[i], &nf[i]) != 0) {
            snprintf(err, errlen, "%s: %s", files[i].path, strerror(errno));
            goto done;
        }
    }

    for (i = 0; i < n; i++) {
        if (cli_new_file_name(&files[i], &nf[i]) != 0) {
            snprintf(err, errlen, "%s: %s", files[i].path, strerror(errno));
            goto done;
        }
    }

    for (i = 0; i < n; i++) {
        if (rename(nf[i].tmp, files[i].path) != 0) {
            snprintf(err, errlen, "%s: %s", files[i].path, strerror(errno));
            goto done;
        }

        nf[i].tmp[0] = '\0';
    }

    /* the renames reach the disk with their directories */
    for (i = 0; i < n; i++) {
        if (cli_sync_dir(files[i].path) != 0) {
            snprintf(err, errlen, "%s was replaced, but syncing its "
                     "directory failed: %s", files[i].path, strerror(errno));
            goto done;
        }
    }

    rc = 0;

done:

    for (i = 0; i < n; i++) {
        if (nf[i].tmp[0] != '\0') {
            (void) unlink(nf[i].tmp);
        }

        if (nf[i].fd >= 0) {
            (void) close(nf[i].fd);
        }
    }

    free(nf);
    return rc;
}


/*
 * f's data in a new file beside f->path with f's mode and owner, synced:
 * unnamed where the file system has O_TMPFILE (named later through /proc,
 * cli_new_file_name()), else under a temporary name.  0, or -1 and errno.
 */
static int
cli_new_file_write(const cli_file_t *f, cli_new_file_t *nf)
{
    char           dir[PATH_MAX];
    size_t         off;
    ssize_t        k;
    const uint8_t  *p;

    if (cli_dir_of(f->path, dir, sizeof(dir)) != 0) {
        return -1;
    }

    nf->fd = access("/proc/self/fd", F_OK) == 0
             ? open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : -1;

    /* no O_TMPFILE: overlayfs before Linux 6.6, ramfs, some FUSE */
    if (nf->fd < 0) {
        if (cli_temporary_name(f->path, nf->tmp, sizeof(nf->tmp)) != 0) {
            return -1;
        }

        nf->fd = mkostemp(nf->tmp, O_CLOEXEC);
        if (nf->fd < 0) {
            nf->tmp[0] = '\0';
            return -1;
        }
    }

    /* not giving the file away is no error: its mode protects it */
    if (f->uid != (uid_t) -1 && f->gid != (gid_t) -1
        && (f->uid != geteuid() || f->gid != getegid()))
    {
        (void) fchown(nf->fd, f->uid, f->gid);
    }

    p = f->data;

    for (off = 0; off < f->len; off += (size_t) k) {
        k = write(nf->fd, p + off, f->len - off);

        if (k < 0) {
            if (errno != EINTR) {
                return -1;
            }

            k = 0;
        }
    }

    return (fchmod(nf->fd, f->mode) == 0 && fsync(nf->fd) == 0) ? 0 : -1;
}


/* a written unnamed file linked under a temporary name: 0, or -1, errno */
static int
cli_new_file_name(const cli_file_t *f, cli_new_file_t *nf)
{
    int   tries;
    char  proc[64];

    if (nf->tmp[0] != '\0') {
        return 0;
    }

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", nf->fd);

    for (tries = 0; tries < 16; tries++) {
        if (cli_temporary_name(f->path, nf->tmp, sizeof(nf->tmp)) != 0
            || cli_random_suffix(nf->tmp) != 0)
        {
            break;
        }

        if (linkat(AT_FDCWD, proc, AT_FDCWD, nf->tmp, AT_SYMLINK_FOLLOW)
            == 0)
        {
            return 0;
        }

        if (errno != EEXIST) {
            break;
        }
    }

    nf->tmp[0] = '\0';
    return -1;
}


/* "DIR/.NAME.XXXXXX" for path "DIR/NAME": 0, or -1 and errno */
static int
cli_temporary_name(const char *path, char *tmp, size_t size)
{
    int          n;
    const char  *slash;

    slash = strrchr(path, '/');
    n = slash ? snprintf(tmp, size, "%.*s/.%s.XXXXXX",
                         (int) (slash - path), path, slash + 1)
              : snprintf(tmp, size, ".%s.XXXXXX", path);

    if (n < 0 || (size_t) n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }

    return 0;
}


/* the XXXXXX that ends tmp as random letters and digits: 0, or -1 */
static int
cli_random_suffix(char *tmp)
{
    size_t         i, len;
    unsigned char  rnd[6];

    static const char  alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ERR_clear_error();
        errno = EIO;
        return -1;
    }

    len = strlen(tmp);

    for (i = 0; i < sizeof(rnd); i++) {
        tmp[len - sizeof(rnd) + i] = alnum[rnd[i] % (sizeof(alnum) - 1)];
    }

    return 0;
}


/* the directory of path ("." for a bare name): 0, or -1 and errno */
static int
cli_dir_of(const char *path, char *dir, size_t size)
{
    size_t       n;
    const char  *slash;

    slash = strrchr(path, '/');
    n = slash == NULL ? 1 : slash == path ? 1 : (size_t) (slash - path);

    if (n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }

    memcpy(dir, slash == NULL ? "." : path, n);
    dir[n] = '\0';

    return 0;
}


static int
cli_sync_dir(const char *path)
{
    int   fd, rc;
    char  dir[PATH_MAX];

    if (cli_dir_of(path, dir, sizeof(dir)) != 0) {
        return -1;
    }

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }

    rc = fsync(fd);
    (void) close(fd);

    return rc;
}


int
cli_hex(const char *hex, uint8_t **data, size_t *len)
{
    long      n;
    uint8_t  *b;

    n = 0;
    b = hex[0] ? OPENSSL_hexstr2buf(hex, &n) : NULL;
    ERR_clear_error();

    if (hex[0] && b == NULL) {
        return -1;
    }

    /* one byte more: zero bytes are still an allocation */
    *data = malloc((size_t) n + 1);
    if (*data != NULL && n > 0) {
        memcpy(*data, b, (size_t) n);
    }

    OPENSSL_free(b);
    *len = (size_t) n;

    return *data ? 0 : -1;
}


int
cli_bytes_option(const char *cmd, const char *opt, const char *text,
    uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;

    if (text == NULL) {
        return 0;
    }

    if (text[0] == '@') {
        return cli_read_file(text + 1, data, len);
    }

    if (cli_hex(text, data, len) != 0) {
        cli_error("%s: --%s must be hex digits or @FILE, not \"%s\"", cmd,
                  opt, text);
        return -1;
    }

    return 0;
}


int
cli_evidence_read(const char *cmd, const char *path, cli_evidence_t *ev)
{
    size_t    len;
    uint8_t  *data;

    ev->cert = NULL;
    ev->doc = NULL;
    ev->doc_len = 0;

    if (cli_read_file(path, &data, &len) != 0) {
        return -1;
    }

    ev->cert = cli_load_cert(data, len);

    if (ev->cert == NULL
        && nitro_attest_decode_text(data, len, &ev->doc, &ev->doc_len) != 0)
    {
        cli_error("%s: out of memory", cmd);
        free(data);
        return -1;
    }

    free(data);
    return 0;
}


nitro_attest_reason_e
cli_evidence_document(const cli_evidence_t *ev,
    const nitro_attest_extension_t *ext, const uint8_t **doc, size_t *len)
{
    if (ev->cert != NULL) {
        return nitro_attest_cert_document(ext, ev->cert, doc, len);
    }

    *doc = ev->doc;
    *len = ev->doc_len;

    return NITRO_ATTEST_OK;
}


void
cli_evidence_free(cli_evidence_t *ev)
{
    X509_free(ev->cert);
    free(ev->doc);
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


EVP_PKEY *
cli_load_key(const char *path)
{
    BIO       *bio;
    EVP_PKEY  *key;

    bio = BIO_new_file(path, "r");
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();

    if (key == NULL) {
        cli_error("%s: not a readable PEM private key", path);
    }

    return key;
}


EVP_PKEY *
cli_key_generate(const char *type)
{
    EVP_PKEY  *key;

    if (strcmp(type, "p384") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    } else if (strcmp(type, "p256") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else if (strcmp(type, "p521") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    } else if (strcmp(type, "rsa2048") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    } else if (strcmp(type, "rsa4096") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
    } else if (strcmp(type, "ed25519") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else {
        key = NULL;
    }

    ERR_clear_error();
    return key;
}


nitro_attest_root_t *
cli_load_root(const char *cmd, const char *path)
{
    char                  err[512];
    nitro_attest_root_t  *root;

    root = path ? nitro_attest_root_load(path, err, sizeof(err))
                : nitro_attest_root_default(err, sizeof(err));

    if (root == NULL) {
        cli_error("%s: %s", cmd, err);
    }

    return root;
}


int
cli_write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    int    ok;
    FILE  *f;
    mode_t old;

    old = umask(key ? 077 : 022);
    f = fopen(path, "w");
    umask(old);

    if (f == NULL) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }

    ok = cert ? PEM_write_X509(f, cert)
              : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);

    if (fclose(f) != 0 || !ok) {
        cli_error("%s: cannot write", path);
        ERR_clear_error();
        return -1;
    }

    return 0;
}


int
cli_spki(EVP_PKEY *key, uint8_t **der, size_t *len)
{
    int  n;

    *der = NULL;
    n = i2d_PUBKEY(key, der);

    if (n <= 0) {
        ERR_clear_error();
        return -1;
    }

    *len = (size_t) n;
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


int64_t
cli_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int
cli_kind(const char *cmd, const char *text, nitro_attest_kind_e *kind)
{
    if (nitro_attest_kind_parse(text, kind) != 0) {
        cli_error("%s: --kind must be enclave or nitrotpm, not \"%s\"", cmd,
                  text);
        return -1;
    }

    return 0;
}


int
cli_server_name(const char *cmd, const char *name)
{
    size_t       i, len;
    const char  *allowed;

    if (name == NULL) {
        return 0;
    }

    allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
              "0123456789.-*";
    len = strlen(name);

    for (i = 0; i < len && strchr(allowed, name[i]) != NULL; i++) {
        /* void */
    }

    if (len == 0 || len > 253 || i != len) {
        cli_error("%s: --server must be a DNS name (letters, digits, \"-\", "
                  "\".\", a leading \"*.\"), not \"%s\"", cmd, name);
        return -1;
    }

    return 0;
}


int
cli_key_binding(const char *cmd, const char *text,
    nitro_attest_binding_e *binding)
{
    *binding = NITRO_ATTEST_BINDING_PUBLIC_KEY;

    if (text != NULL && (nitro_attest_binding_parse(text, binding) != 0
                         || *binding == NITRO_ATTEST_BINDING_NONE))
    {
        cli_error("%s: --binding must be public_key, user_data_spki, "
                  "user_data_sha256 or user_data_sha384, not \"%s\"", cmd,
                  text);
        return -1;
    }

    return 0;
}


int
cli_pcr(const char *cmd, const char *what, nitro_attest_kind_e kind,
    unsigned long index, const char *hex, uint8_t *value, size_t *len)
{
    switch (nitro_attest_pcr_parse(kind, index, hex, value, len)) {

    case NITRO_ATTEST_PCR_BAD_INDEX:
        cli_error("%s: %s: PCR %lu is not 0..%u (kind %s)", cmd, what, index,
                  nitro_attest_pcr_count(kind) - 1,
                  nitro_attest_kind_name(kind));
        return -1;

    case NITRO_ATTEST_PCR_BAD_VALUE:
        cli_error("%s: %s: PCR %lu must be 64, 96 or 128 hex digits", cmd,
                  what, index);
        return -1;

    default:
        return 0;
    }
}


int
cli_pcr_option(const char *cmd, const char *spec, nitro_attest_kind_e kind,
    unsigned long *index, uint8_t *value, size_t *len)
{
    char  *end;

    errno = 0;
    *index = strtoul(spec, &end, 10);

    if (!isdigit((unsigned char) spec[0]) || *end != '=' || errno != 0) {
        cli_error("%s: --pcr \"%s\" is not N=HEX", cmd, spec);
        return -1;
    }

    return cli_pcr(cmd, "--pcr", kind, *index, end + 1, value, len);
}


void
cli_pcrs_set(cli_pcrs_t *pcrs, unsigned long index, const uint8_t *value,
    size_t len)
{
    memcpy(pcrs->value[index], value, len);
    pcrs->len[index] = (uint8_t) len;
    pcrs->mask |= 1u << index;
}


X509 *
cli_cert_new(EVP_PKEY *key, const char *cn, time_t not_before,
    time_t not_after)
{
    X509          *x;
    BIGNUM        *serial;
    X509_NAME     *name;
    unsigned char  rnd[16];

    x = X509_new();
    serial = BN_new();
    name = X509_NAME_new();

    if (x == NULL || serial == NULL || name == NULL
        || RAND_bytes(rnd, sizeof(rnd)) != 1)
    {
        goto failed;
    }

    rnd[0] &= 0x7f;

    if (X509_set_version(x, X509_VERSION_3) != 1
        || BN_bin2bn(rnd, sizeof(rnd), serial) == NULL
        || BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL
        || X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &not_before) == NULL
        || X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &not_after) == NULL
        || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                      (const unsigned char *) cn, -1, -1, 0)
           != 1
        || X509_set_subject_name(x, name) != 1
        || X509_set_pubkey(x, key) != 1)
    {
        goto failed;
    }

    BN_free(serial);
    X509_NAME_free(name);
    return x;

failed:

    X509_free(x);
    BN_free(serial);
    X509_NAME_free(name);
    ERR_clear_error();
    return NULL;
}


int
cli_cert_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);

    if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
        X509_EXTENSION_free(ext);
        ERR_clear_error();
        return -1;
    }

    X509_EXTENSION_free(ext);
    return 0;
}


int
cli_cert_sign(X509 *x, EVP_PKEY *key)
{
    if (X509_sign(x, key, cli_sign_md(key)) <= 0) {
        ERR_clear_error();
        return -1;
    }

    return 0;
}


static const EVP_MD *
cli_sign_md(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        return NULL;
    case EVP_PKEY_EC:
        return EVP_sha384();
    default:
        return EVP_sha256();
    }
}


X509 *
cli_client_cert(EVP_PKEY *key, const uint8_t *doc, size_t len,
    const char *cn, long days, const char *server)
{
    char                san[300];
    int                 ok;
    long                der_len;
    time_t              now;
    X509               *x;
    uint8_t            *cbor, *der;
    size_t              cbor_len, size;
    cbor_item_t        *cmw;
    ASN1_OBJECT        *oid;
    ASN1_OCTET_STRING  *inner, *value;
    X509_EXTENSION     *ext;

    now = time(NULL);
    x = cli_cert_new(key, server ? server : cn, now - 300,
                     now + days * 86400);
    if (x == NULL) {
        return NULL;
    }

    /* a server's: its name as a SAN (cli_server_name() checked it) */
    snprintf(san, sizeof(san), "DNS:%s", server ? server : "");

    /* CMW record: [media type, document, evidence indicator] */
    cmw = cbor_new_definite_array(3);
    ok = cbor_array_push(cmw,
                         cbor_move(cbor_build_string(NITRO_ATTEST_CMW_TYPE)));
    ok &= cbor_array_push(cmw, cbor_move(cbor_build_bytestring(doc, len)));
    ok &= cbor_array_push(cmw, cbor_move(cbor_build_uint8(4)));
    cbor = NULL;
    cbor_len = ok ? cbor_serialize_alloc(cmw, &cbor, &size) : 0;
    cbor_decref(&cmw);

    /* extnValue = DER of CMW's cbor choice, an OCTET STRING */
    inner = ASN1_OCTET_STRING_new();
    value = ASN1_OCTET_STRING_new();
    oid = OBJ_txt2obj(NITRO_ATTEST_DEFAULT_OID, 1);
    der = NULL;
    ext = NULL;

    ok = cbor_len > 0 && inner && value && oid
         && ASN1_OCTET_STRING_set(inner, cbor, (int) cbor_len) == 1
         && (der_len = i2d_ASN1_OCTET_STRING(inner, &der)) > 0
         && ASN1_OCTET_STRING_set(value, der, (int) der_len) == 1
         && (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value)) != NULL
         && X509_set_issuer_name(x, X509_get_subject_name(x)) == 1
         && X509_add_ext(x, ext, -1) == 1
         && cli_cert_add_ext(x, x, NID_basic_constraints,
                             "critical,CA:FALSE") == 0
         && cli_cert_add_ext(x, x, NID_ext_key_usage,
                             server ? "serverAuth" : "clientAuth") == 0
         && (server == NULL
             || cli_cert_add_ext(x, x, NID_subject_alt_name, san) == 0)
         && cli_cert_sign(x, key) == 0;

    free(cbor);
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(inner);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(oid);
    X509_EXTENSION_free(ext);

    if (!ok) {
        X509_free(x);
        ERR_clear_error();
        return NULL;
    }

    return x;
}


X509 *
cli_attested_cert(const char *what, EVP_PKEY *key, const uint8_t *doc,
    size_t len, nitro_attest_binding_e binding, long days, const char *server,
    char *err, size_t errlen)
{
    char                   module_id[256];
    X509                  *cert;
    int64_t                ts;
    nitro_attest_reason_e  reason;

    /* wrap only what parses: a broken document would fail every handshake */
    if (nitro_attest_document_peek(doc, len, &ts, module_id,
                                   sizeof(module_id)) != 0)
    {
        snprintf(err, errlen, "%s: not an attestation document "
                 "(malformed_document)", what);
        return NULL;
    }

    cert = cli_client_cert(key, doc, len, module_id, days, server);
    if (cert == NULL) {
        snprintf(err, errlen, "cannot build the certificate");
        return NULL;
    }

    reason = nitro_attest_document_binds(doc, len, binding, cert);

    if (reason != NITRO_ATTEST_OK) {
        snprintf(err, errlen, "%s: the document does not attest this key "
                 "(binding %s: %s), so no certificate for it would ever "
                 "verify", what, nitro_attest_binding_name(binding),
                 nitro_attest_reason_name(reason));
        X509_free(cert);
        return NULL;
    }

    return cert;
}


const char *
cli_nsm_device(const char *opt)
{
    const char  *env;

    if (opt != NULL) {
        return opt;
    }

    env = getenv("NITRO_ATTEST_NSM_DEVICE");

    return (env != NULL && env[0] != '\0') ? env : NITRO_ATTEST_NSM_DEVICE;
}


nitro_attest_nsm_t *
cli_nsm_open(const char *cmd, const char *device)
{
    char                 err[512];
    nitro_attest_nsm_t  *nsm;

    nsm = nitro_attest_nsm_open(device, err, sizeof(err));
    if (nsm == NULL) {
        cli_error("%s: %s", cmd, err);
    }

    return nsm;
}


int
cli_nsm_failed(const char *cmd, nitro_attest_nsm_rc_e rc, const char *err)
{
    cli_error("%s: %s", cmd, err);

    return rc == NITRO_ATTEST_NSM_TOO_LARGE ? CLI_USAGE : CLI_FAILED;
}


int
cli_nsm_key_document(const char *device, EVP_PKEY *key,
    nitro_attest_binding_e binding, const nitro_attest_bytes_t *user_data,
    const nitro_attest_bytes_t *nonce, uint8_t **doc, size_t *len,
    char *err, size_t errlen)
{
    int                         rc;
    size_t                      spki_len;
    uint8_t                    *spki, md[SHA384_DIGEST_LENGTH];
    nitro_attest_nsm_t         *nsm;
    nitro_attest_nsm_rc_e       nrc;
    nitro_attest_nsm_attest_t   a;

    if (cli_spki(key, &spki, &spki_len) != 0) {
        snprintf(err, errlen, "cannot encode the key");
        return CLI_USAGE;
    }

    a.user_data = *user_data;
    a.nonce = *nonce;
    a.public_key.data = NULL;
    a.public_key.len = 0;

    /* the field that binding compares with the certificate's key */
    switch (binding) {

    case NITRO_ATTEST_BINDING_USER_DATA_SPKI:
        a.user_data.data = spki;
        a.user_data.len = spki_len;
        break;

    case NITRO_ATTEST_BINDING_USER_DATA_SHA256:
        a.user_data.data = SHA256(spki, spki_len, md);
        a.user_data.len = SHA256_DIGEST_LENGTH;
        break;

    case NITRO_ATTEST_BINDING_USER_DATA_SHA384:
        a.user_data.data = SHA384(spki, spki_len, md);
        a.user_data.len = SHA384_DIGEST_LENGTH;
        break;

    default:
        a.public_key.data = spki;
        a.public_key.len = spki_len;
    }

    rc = CLI_FAILED;
    nsm = nitro_attest_nsm_open(device, err, errlen);

    if (nsm != NULL) {
        nrc = nitro_attest_nsm_attest(nsm, &a, doc, len, err, errlen);
        rc = (nrc == NITRO_ATTEST_NSM_OK) ? CLI_OK
             : (nrc == NITRO_ATTEST_NSM_TOO_LARGE) ? CLI_USAGE : CLI_FAILED;
        nitro_attest_nsm_close(nsm);
    }

    OPENSSL_free(spki);

    return rc;
}
