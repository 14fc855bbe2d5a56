/*
 * nsm_emu.c: a Nitro Secure Module for the tests, as an LD_PRELOAD
 * library.  open() of the path NITRO_NSM_EMU_DEVICE names gives a
 * descriptor whose NSM_IOCTL_RAW ioctl answers the NSM's CBOR protocol as
 * /dev/nsm does (the request and answer buffers of Linux's struct nsm_raw,
 * the answer's length set, a too small buffer truncated as the driver
 * does), so the shipped nitro-attest, unmodified, cannot tell it from the
 * device at the syscall level.  Documents are signed under a mock PKI by
 * the CLI's own mock document code (src/cli/mock.c).
 *
 * Environment (read at each call, so a test can change it between runs):
 *
 *   NITRO_NSM_EMU_DEVICE     the path to emulate; without it every call
 *                            goes to libc untouched
 *   NITRO_NSM_EMU_PKI        a `nitro-attest mock pki` directory that
 *                            documents are signed under (without it an
 *                            Attestation answers InternalError)
 *   NITRO_NSM_EMU_STATE      a file keeping the PCRs across processes,
 *                            made on first use (default: this process's
 *                            memory)
 *   NITRO_NSM_EMU_MODULE_ID  the module id
 *                            (default i-0123456789abcdef0-enc0123456789abcdef)
 *   NITRO_NSM_EMU_PCRS       the PCRs a new state starts with, N=HEX,...
 *                            (default: 0, 1, 2 and 4 measured, as at an
 *                            enclave's boot, the others zero)
 *   NITRO_NSM_EMU_LOG        a file each request is appended to, in hex,
 *                            one line each
 *   NITRO_NSM_EMU_FAULT      faults, comma-separated, or "@FILE": read
 *                            from FILE at each request (missing: none)
 *       open=ERRNO      open() of the device fails with ERRNO (a name
 *                       such as EACCES, or a number)
 *       errno=ERRNO     the ioctl fails with ERRNO
 *       error=CODE      the answer is {"Error": CODE}
 *       reply=HEX       the answer is these bytes
 *       truncate=N      the answer is cut after N bytes
 *       oversize        the answer's length is set beyond the buffer
 *       slow=MS         the answer comes MS milliseconds late
 *       only=VARIANT    the ioctl faults hit requests of VARIANT only
 *
 * The NSM is the one AWS's nsm-check expects: 32 PCRs of SHA-384, 0..15
 * locked from the start, 16..31 free to extend and lock; a document
 * carries the locked PCRs.  Requests are decoded strictly: a request that
 * is not exactly what aws-nitro-enclaves-nsm-api encodes is answered
 * {"Error": "InvalidArgument"}.
 */

#include "cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <cbor.h>
#include <openssl/rand.h>
#include <openssl/sha.h>


#define EMU_EXPORT          __attribute__((visibility("default")))
#define EMU_PCRS            32
#define EMU_PCR_LEN         48
#define EMU_LOCKED_AT_BOOT  16
#define EMU_FIELD_MAX       1024
#define EMU_FDS             4096
#define EMU_MODULE_ID       "i-0123456789abcdef0-enc0123456789abcdef"
#define EMU_MAGIC           "nsmemu1"

/* Linux's struct nsm_raw and NSM_IOCTL_RAW */
typedef struct {
    uint64_t                   addr;
    uint64_t                   len;
} emu_iovec_t;

typedef struct {
    emu_iovec_t                request;
    emu_iovec_t                response;
} emu_raw_t;

#define EMU_IOCTL_RAW  _IOWR(0x0A, 0, emu_raw_t)

typedef struct {
    char                       magic[8];
    uint8_t                    locked[EMU_PCRS];
    uint8_t                    pcr[EMU_PCRS][EMU_PCR_LEN];
} emu_state_t;

typedef struct {
    int                        open_errno;
    int                        ioctl_errno;
    char                       error[64];
    uint8_t                   *reply;
    size_t                     reply_len;
    long                       truncate;     /* -1: none */
    int                        oversize;
    long                       slow_ms;
    char                       only[64];
} emu_fault_t;


static unsigned char  emu_fds[EMU_FDS];
static emu_state_t    emu_memory;           /* without a state file */


static void *
emu_real(const char *name)
{
    void  *f;

    f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        abort();
    }

    return f;
}


#define EMU_REAL(name, type)  ((type) emu_real(name))


static int
emu_errno(const char *text)
{
    size_t  i;

    static const struct {
        const char  *name;
        int          value;
    } names[] = {
        { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EINTR", EINTR },
        { "EIO", EIO }, { "ENXIO", ENXIO }, { "EAGAIN", EAGAIN },
        { "ENOMEM", ENOMEM }, { "EACCES", EACCES }, { "EFAULT", EFAULT },
        { "EBUSY", EBUSY }, { "ENODEV", ENODEV }, { "EINVAL", EINVAL },
        { "ENOTTY", ENOTTY }, { "EMSGSIZE", EMSGSIZE },
        { "ETIMEDOUT", ETIMEDOUT },
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(text, names[i].name) == 0) {
            return names[i].value;
        }
    }

    return atoi(text) > 0 ? atoi(text) : EIO;
}


/* the faults of NITRO_NSM_EMU_FAULT (f->reply malloc()ed) */
static void
emu_faults(emu_fault_t *f)
{
    int          fd;
    char        *spec, *item, *save, *value;
    ssize_t      n;
    const char  *env;

    memset(f, 0, sizeof(*f));
    f->truncate = -1;
    env = getenv("NITRO_NSM_EMU_FAULT");

    if (env == NULL || env[0] == '\0') {
        return;
    }

    if (env[0] == '@') {
        spec = calloc(1, 65536);
        fd = EMU_REAL("open", int (*)(const char *, int, ...))(env + 1,
                                                                O_RDONLY);
        n = (spec && fd >= 0) ? read(fd, spec, 65535) : 0;
        if (fd >= 0) {
            EMU_REAL("close", int (*)(int))(fd);
        }

        if (spec && n > 0) {
            spec[strcspn(spec, "\n")] = '\0';
        }

    } else {
        spec = strdup(env);
    }

    for (item = spec ? strtok_r(spec, ",", &save) : NULL; item != NULL;
         item = strtok_r(NULL, ",", &save))
    {
        value = strchr(item, '=');
        if (value != NULL) {
            *value++ = '\0';
        }

        if (strcmp(item, "oversize") == 0) {
            f->oversize = 1;
        } else if (value == NULL) {
            continue;
        } else if (strcmp(item, "open") == 0) {
            f->open_errno = emu_errno(value);
        } else if (strcmp(item, "errno") == 0) {
            f->ioctl_errno = emu_errno(value);
        } else if (strcmp(item, "error") == 0) {
            snprintf(f->error, sizeof(f->error), "%s", value);
        } else if (strcmp(item, "reply") == 0) {
            free(f->reply);
            if (cli_hex(value, &f->reply, &f->reply_len) != 0) {
                f->reply = NULL;
            }
        } else if (strcmp(item, "truncate") == 0) {
            f->truncate = atol(value);
        } else if (strcmp(item, "slow") == 0) {
            f->slow_ms = atol(value);
        } else if (strcmp(item, "only") == 0) {
            snprintf(f->only, sizeof(f->only), "%s", value);
        }
    }

    free(spec);
}


/* -2: not the emulated device; else what open() returns */
static int
emu_open(const char *path, int flags)
{
    int          fd;
    const char  *dev;
    emu_fault_t  f;

    dev = getenv("NITRO_NSM_EMU_DEVICE");

    if (dev == NULL || path == NULL || strcmp(path, dev) != 0) {
        return -2;
    }

    emu_faults(&f);
    free(f.reply);

    if (f.open_errno) {
        errno = f.open_errno;
        return -1;
    }

    /* a real descriptor, so that close(), fcntl() and exec behave */
    fd = EMU_REAL("open", int (*)(const char *, int, ...))(
             "/dev/null", O_RDWR | (flags & O_CLOEXEC));

    if (fd >= EMU_FDS) {
        EMU_REAL("close", int (*)(int))(fd);
        errno = EMFILE;
        return -1;
    }

    if (fd >= 0) {
        emu_fds[fd] = 1;
    }

    return fd;
}


/*
 * What the call returns for the device, else what the real one returns:
 * open() and open64() if dirfd is NULL, else openat() and openat64().
 */
static int
emu_open_or_real(const char *name, const int *dirfd, const char *path,
    int flags, mode_t mode)
{
    int  fd;

    fd = emu_open(path, flags);

    if (fd != -2) {
        return fd;
    }

    if (dirfd == NULL) {
        return EMU_REAL(name, int (*)(const char *, int, ...))(path, flags,
                                                                mode);
    }

    return EMU_REAL(name, int (*)(int, const char *, int, ...))(*dirfd, path,
                                                                 flags, mode);
}


/* open(2) reads the mode argument only with O_CREAT or O_TMPFILE */
#define EMU_MODE(flags, mode)                                                \
    do {                                                                     \
        va_list  ap;                                                         \
                                                                             \
        va_start(ap, flags);                                                 \
        mode = ((flags) & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;   \
        va_end(ap);                                                          \
    } while (0)


EMU_EXPORT int
open(const char *path, int flags, ...)
{
    mode_t  mode;

    EMU_MODE(flags, mode);
    return emu_open_or_real("open", NULL, path, flags, mode);
}


EMU_EXPORT int
open64(const char *path, int flags, ...)
{
    mode_t  mode;

    EMU_MODE(flags, mode);
    return emu_open_or_real("open64", NULL, path, flags, mode);
}


EMU_EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
    mode_t  mode;

    EMU_MODE(flags, mode);
    return emu_open_or_real("openat", &dirfd, path, flags, mode);
}


EMU_EXPORT int
openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t  mode;

    EMU_MODE(flags, mode);
    return emu_open_or_real("openat64", &dirfd, path, flags, mode);
}


/* what _FORTIFY_SOURCE builds call */

EMU_EXPORT int __open_2(const char *path, int flags);
EMU_EXPORT int __open64_2(const char *path, int flags);

EMU_EXPORT int
__open_2(const char *path, int flags)
{
    int  fd;

    fd = emu_open(path, flags);

    return fd != -2 ? fd
           : EMU_REAL("__open_2", int (*)(const char *, int))(path, flags);
}


EMU_EXPORT int
__open64_2(const char *path, int flags)
{
    int  fd;

    fd = emu_open(path, flags);

    return fd != -2 ? fd
           : EMU_REAL("__open64_2", int (*)(const char *, int))(path, flags);
}


EMU_EXPORT int
close(int fd)
{
    if (fd >= 0 && fd < EMU_FDS) {
        emu_fds[fd] = 0;
    }

    return EMU_REAL("close", int (*)(int))(fd);
}


/* The PCRs of a new NSM: 0, 1, 2 and 4 measured, the first 16 locked. */
static void
emu_state_init(emu_state_t *st)
{
    int            i;
    char           label[64], *spec, *item, *save, *eq;
    size_t         len;
    uint8_t       *value;
    unsigned long  index;
    const char    *env;

    memset(st, 0, sizeof(*st));
    memcpy(st->magic, EMU_MAGIC, sizeof(st->magic));

    for (i = 0; i < EMU_PCRS; i++) {
        st->locked[i] = i < EMU_LOCKED_AT_BOOT;

        if (i <= 2 || i == 4) {
            snprintf(label, sizeof(label), "nsm emulator PCR%d", i);
            SHA384((const uint8_t *) label, strlen(label), st->pcr[i]);
        }
    }

    env = getenv("NITRO_NSM_EMU_PCRS");
    spec = env ? strdup(env) : NULL;

    for (item = spec ? strtok_r(spec, ",", &save) : NULL; item != NULL;
         item = strtok_r(NULL, ",", &save))
    {
        eq = strchr(item, '=');
        index = strtoul(item, NULL, 10);

        if (eq != NULL && index < EMU_PCRS
            && cli_hex(eq + 1, &value, &len) == 0)
        {
            if (len == EMU_PCR_LEN) {
                memcpy(st->pcr[index], value, EMU_PCR_LEN);
            }

            free(value);
        }
    }

    free(spec);
}


/*
 * The state, locked for this request: the file's (its descriptor in *fd,
 * to save and unlock with emu_state_done()), or this process's memory.
 */
static emu_state_t *
emu_state(emu_state_t *buf, int *fd)
{
    const char  *path;

    *fd = -1;
    path = getenv("NITRO_NSM_EMU_STATE");

    if (path == NULL || path[0] == '\0') {
        if (emu_memory.magic[0] == '\0') {
            emu_state_init(&emu_memory);
        }

        return &emu_memory;
    }

    *fd = EMU_REAL("open", int (*)(const char *, int, ...))(
              path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (*fd < 0 || flock(*fd, LOCK_EX) != 0) {
        return NULL;
    }

    if (pread(*fd, buf, sizeof(*buf), 0) != (ssize_t) sizeof(*buf)
        || memcmp(buf->magic, EMU_MAGIC, sizeof(buf->magic)) != 0)
    {
        emu_state_init(buf);
    }

    return buf;
}


static void
emu_state_done(const emu_state_t *st, int fd)
{
    if (fd < 0) {
        return;
    }

    if (pwrite(fd, st, sizeof(*st), 0) != (ssize_t) sizeof(*st)) {
        fprintf(stderr, "nsm emulator: cannot save its state\n");
    }

    EMU_REAL("close", int (*)(int))(fd);  /* and its lock */
}


/* the request in hex, one line of NITRO_NSM_EMU_LOG */
static void
emu_log(const uint8_t *req, size_t len)
{
    int          fd;
    char        *line;
    size_t       i;
    const char  *path;

    path = getenv("NITRO_NSM_EMU_LOG");
    if (path == NULL || (line = malloc(2 * len + 1)) == NULL) {
        return;
    }

    for (i = 0; i < len; i++) {
        snprintf(line + 2 * i, 3, "%02x", req[i]);
    }

    line[2 * len] = '\n';
    fd = EMU_REAL("open", int (*)(const char *, int, ...))(
             path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    if (fd >= 0) {
        if (write(fd, line, 2 * len + 1) != (ssize_t) (2 * len + 1)) {
            fprintf(stderr, "nsm emulator: cannot log\n");
        }

        EMU_REAL("close", int (*)(int))(fd);
    }

    free(line);
}


/* an answer's CBOR (malloc()ed), which takes item */
static uint8_t *
emu_serialize(cbor_item_t *item, size_t *len)
{
    size_t    size;
    uint8_t  *out;

    out = NULL;
    *len = item ? cbor_serialize_alloc(item, &out, &size) : 0;

    if (item != NULL) {
        cbor_decref(&item);
    }

    return out;
}


/* {name: value}, which takes value */
static cbor_item_t *
emu_variant(const char *name, cbor_item_t *value)
{
    cbor_item_t  *map, *key;

    map = cbor_new_definite_map(1);
    key = cbor_build_string(name);
    (void) cbor_map_add(map, (struct cbor_pair) { key, value });
    cbor_decref(&key);
    cbor_decref(&value);

    return map;
}


static cbor_item_t *
emu_error(const char *code)
{
    return emu_variant("Error", cbor_build_string(code));
}


static void
emu_put(cbor_item_t *map, const char *name, cbor_item_t *value)
{
    cbor_item_t  *key;

    key = cbor_build_string(name);
    (void) cbor_map_add(map, (struct cbor_pair) { key, value });
    cbor_decref(&key);
    cbor_decref(&value);
}


/* 1 when item is the text s */
static int
emu_is(cbor_item_t *item, const char *s)
{
    return cbor_isa_string(item) && cbor_string_is_definite(item)
           && cbor_string_length(item) == strlen(s)
           && memcmp(cbor_string_handle(item), s, strlen(s)) == 0;
}


/*
 * The fields of a request variant: exactly names (n of them), each once,
 * into values in that order; 0, or -1.
 */
static int
emu_fields(cbor_item_t *map, const char **names, size_t n,
    cbor_item_t **values)
{
    size_t             i, k;
    struct cbor_pair  *pairs;

    if (!cbor_isa_map(map) || !cbor_map_is_definite(map)
        || cbor_map_size(map) != n)
    {
        return -1;
    }

    memset(values, 0, n * sizeof(cbor_item_t *));
    pairs = cbor_map_handle(map);

    for (i = 0; i < n; i++) {
        for (k = 0; k < n && !emu_is(pairs[i].key, names[k]); k++) {
            /* void */
        }

        if (k == n || values[k] != NULL) {
            return -1;
        }

        values[k] = pairs[i].value;
    }

    return 0;
}


/* a u16 PCR index, or -1 */
static long
emu_index(cbor_item_t *item)
{
    return (cbor_isa_uint(item) && cbor_get_int(item) <= 65535)
           ? (long) cbor_get_int(item) : -1;
}


static int
emu_bytes(cbor_item_t *item)
{
    return cbor_isa_bytestring(item) && cbor_bytestring_is_definite(item);
}


static cbor_item_t *
emu_describe_nsm(const emu_state_t *st)
{
    int           i;
    const char   *id;
    cbor_item_t  *map, *locked;

    id = getenv("NITRO_NSM_EMU_MODULE_ID");
    locked = cbor_new_definite_array(EMU_PCRS);

    for (i = 0; i < EMU_PCRS; i++) {
        if (st->locked[i]) {
            (void) cbor_array_push(locked, cbor_move(cbor_build_uint8(i)));
        }
    }

    map = cbor_new_definite_map(7);
    emu_put(map, "version_major", cbor_build_uint8(1));
    emu_put(map, "version_minor", cbor_build_uint8(0));
    emu_put(map, "version_patch", cbor_build_uint8(0));
    emu_put(map, "module_id", cbor_build_string(id ? id : EMU_MODULE_ID));
    emu_put(map, "max_pcrs", cbor_build_uint8(EMU_PCRS));
    emu_put(map, "locked_pcrs", locked);
    emu_put(map, "digest", cbor_build_string("SHA384"));

    return emu_variant("DescribeNSM", map);
}


static cbor_item_t *
emu_pcr_request(emu_state_t *st, const char *op, cbor_item_t *fields)
{
    long          index;
    uint8_t       buf[EMU_PCR_LEN + EMU_FIELD_MAX * 4];
    size_t        n;
    cbor_item_t  *v[2], *map;

    static const char  *index_only[] = { "index" };
    static const char  *index_data[] = { "index", "data" };

    if (strcmp(op, "ExtendPCR") == 0
        ? emu_fields(fields, index_data, 2, v) != 0 || !emu_bytes(v[1])
        : emu_fields(fields, index_only, 1, v) != 0)
    {
        return emu_error("InvalidArgument");
    }

    index = emu_index(v[0]);
    if (index < 0) {
        return emu_error("InvalidArgument");
    }

    if (index >= EMU_PCRS) {
        return emu_error("InvalidIndex");
    }

    if (strcmp(op, "DescribePCR") == 0) {
        map = cbor_new_definite_map(2);
        emu_put(map, "lock", cbor_build_bool(st->locked[index]));
        emu_put(map, "data", cbor_build_bytestring(st->pcr[index],
                                                   EMU_PCR_LEN));
        return emu_variant(op, map);
    }

    if (st->locked[index]) {
        return emu_error("ReadOnlyIndex");
    }

    if (strcmp(op, "LockPCR") == 0) {
        st->locked[index] = 1;
        return cbor_build_string("LockPCR");
    }

    n = cbor_bytestring_length(v[1]);
    if (n > sizeof(buf) - EMU_PCR_LEN) {
        return emu_error("InputTooLarge");
    }

    memcpy(buf, st->pcr[index], EMU_PCR_LEN);
    memcpy(buf + EMU_PCR_LEN, cbor_bytestring_handle(v[1]), n);
    SHA384(buf, EMU_PCR_LEN + n, st->pcr[index]);

    map = cbor_new_definite_map(1);
    emu_put(map, "data", cbor_build_bytestring(st->pcr[index], EMU_PCR_LEN));

    return emu_variant(op, map);
}


/* an Attestation field: null (absent) or a byte string; -1 otherwise */
static int
emu_doc_field(cbor_item_t *item, nitro_attest_bytes_t *b)
{
    b->data = NULL;
    b->len = 0;

    if (cbor_is_null(item)) {
        return 0;
    }

    if (!emu_bytes(item)) {
        return -1;
    }

    b->data = cbor_bytestring_handle(item);
    b->len = cbor_bytestring_length(item);

    return 0;
}


static cbor_item_t *
emu_attestation(const emu_state_t *st, cbor_item_t *fields)
{
    int              i;
    size_t           len;
    uint8_t         *doc;
    const char      *pki_dir, *id;
    cbor_item_t     *v[3], *map;
    cli_mock_pki_t  *pki;
    cli_mock_doc_t   d;
    struct timespec  ts;

    static const char  *names[] = { "user_data", "nonce", "public_key" };

    memset(&d, 0, sizeof(d));

    if (emu_fields(fields, names, 3, v) != 0
        || emu_doc_field(v[0], &d.user_data) != 0
        || emu_doc_field(v[1], &d.nonce) != 0
        || emu_doc_field(v[2], &d.public_key) != 0)
    {
        return emu_error("InvalidArgument");
    }

    if (d.user_data.len > EMU_FIELD_MAX || d.nonce.len > EMU_FIELD_MAX
        || d.public_key.len > EMU_FIELD_MAX)
    {
        return emu_error("InputTooLarge");
    }

    pki_dir = getenv("NITRO_NSM_EMU_PKI");
    pki = pki_dir ? cli_mock_pki_load("nsm emulator", pki_dir) : NULL;
    if (pki == NULL) {
        return emu_error("InternalError");
    }

    id = getenv("NITRO_NSM_EMU_MODULE_ID");
    clock_gettime(CLOCK_REALTIME, &ts);
    d.kind = NITRO_ATTEST_KIND_ENCLAVE;
    d.module_id = id ? id : EMU_MODULE_ID;
    d.ts_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    d.lifetime_ms = 3 * 3600 * 1000;

    for (i = 0; i < EMU_PCRS; i++) {
        if (st->locked[i]) {
            cli_pcrs_set(&d.pcrs, (unsigned long) i, st->pcr[i],
                         EMU_PCR_LEN);
        }
    }

    doc = cli_mock_document("nsm emulator", pki, &d, &len);
    cli_mock_pki_free(pki);

    if (doc == NULL) {
        return emu_error("InternalError");
    }

    map = cbor_new_definite_map(1);
    emu_put(map, "document", cbor_build_bytestring(doc, len));
    free(doc);

    return emu_variant("Attestation", map);
}


static cbor_item_t *
emu_random(void)
{
    uint8_t       rnd[256];
    cbor_item_t  *map;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return emu_error("InternalError");
    }

    map = cbor_new_definite_map(1);
    emu_put(map, "random", cbor_build_bytestring(rnd, sizeof(rnd)));

    return emu_variant("GetRandom", map);
}


static cbor_item_t *
emu_lock_range(emu_state_t *st, cbor_item_t *fields)
{
    long          range, i;
    cbor_item_t  *v[1];

    static const char  *names[] = { "range" };

    if (emu_fields(fields, names, 1, v) != 0
        || (range = emu_index(v[0])) < 0)
    {
        return emu_error("InvalidArgument");
    }

    if (range > EMU_PCRS) {
        return emu_error("InvalidIndex");
    }

    for (i = 0; i < range; i++) {
        st->locked[i] = 1;
    }

    return cbor_build_string("LockPCRs");
}


/* The request's variant name into name ("" when there is none). */
static void
emu_name(cbor_item_t *req, char *name, size_t size, cbor_item_t **fields)
{
    cbor_item_t  *key;

    name[0] = '\0';
    *fields = NULL;

    if (req != NULL && cbor_isa_map(req) && cbor_map_is_definite(req)
        && cbor_map_size(req) == 1)
    {
        key = cbor_map_handle(req)[0].key;
        *fields = cbor_map_handle(req)[0].value;

    } else {
        key = req;
    }

    if (key != NULL && cbor_isa_string(key) && cbor_string_is_definite(key)
        && cbor_string_length(key) < size)
    {
        memcpy(name, cbor_string_handle(key), cbor_string_length(key));
        name[cbor_string_length(key)] = '\0';
    }
}


/* the answer to one request, as the NSM would give it */
static cbor_item_t *
emu_answer(cbor_item_t *req, const char *name, cbor_item_t *fields)
{
    int           fd;
    cbor_item_t  *answer;
    emu_state_t   buf, *st;

    if (req == NULL || name[0] == '\0') {
        return emu_error("InvalidArgument");
    }

    st = emu_state(&buf, &fd);
    if (st == NULL) {
        if (fd >= 0) {
            EMU_REAL("close", int (*)(int))(fd);
        }

        return emu_error("InternalError");
    }

    /* unit variants are their name alone; the others carry fields */
    if (fields == NULL) {
        answer = strcmp(name, "DescribeNSM") == 0 ? emu_describe_nsm(st)
                 : strcmp(name, "GetRandom") == 0 ? emu_random()
                 : emu_error("InvalidArgument");

    } else if (strcmp(name, "DescribePCR") == 0
               || strcmp(name, "ExtendPCR") == 0
               || strcmp(name, "LockPCR") == 0)
    {
        answer = emu_pcr_request(st, name, fields);

    } else if (strcmp(name, "LockPCRs") == 0) {
        answer = emu_lock_range(st, fields);

    } else if (strcmp(name, "Attestation") == 0) {
        answer = emu_attestation(st, fields);

    } else {
        answer = emu_error("InvalidArgument");
    }

    emu_state_done(st, fd);

    return answer;
}


/* the answer's bytes (malloc()ed): the NSM's, or the faults' */
static uint8_t *
emu_reply(emu_fault_t *f, cbor_item_t *req, const char *name,
    cbor_item_t *fields, size_t *len)
{
    uint8_t  *out;

    if (f->reply != NULL) {
        out = f->reply;
        *len = f->reply_len;

    } else {
        out = emu_serialize(f->error[0] ? emu_error(f->error)
                                        : emu_answer(req, name, fields),
                            len);
    }

    if (f->truncate >= 0 && (size_t) f->truncate < *len) {
        *len = (size_t) f->truncate;
    }

    return out;
}


static int
emu_ioctl(unsigned long request, emu_raw_t *raw)
{
    char                      name[64];
    size_t                    len, n;
    uint8_t                  *out;
    cbor_item_t              *req, *fields;
    emu_fault_t               f;
    struct timespec           delay;
    struct cbor_load_result   res;

    if (request != EMU_IOCTL_RAW) {
        errno = ENOTTY;
        return -1;
    }

    if (raw->request.len > NITRO_ATTEST_NSM_REQUEST_MAX) {
        errno = EMSGSIZE;
        return -1;
    }

    emu_log((const uint8_t *) (uintptr_t) raw->request.addr,
            raw->request.len);

    req = cbor_load((const uint8_t *) (uintptr_t) raw->request.addr,
                    raw->request.len, &res);

    /* one item, nothing after it */
    if (req != NULL
        && (res.error.code != CBOR_ERR_NONE || res.read != raw->request.len))
    {
        cbor_decref(&req);
    }

    emu_name(req, name, sizeof(name), &fields);
    emu_faults(&f);

    /* faults for another variant: none for this one */
    if (f.only[0] != '\0' && strcmp(f.only, name) != 0) {
        free(f.reply);
        memset(&f, 0, sizeof(f));
        f.truncate = -1;
    }

    if (f.slow_ms > 0) {
        delay.tv_sec = f.slow_ms / 1000;
        delay.tv_nsec = (f.slow_ms % 1000) * 1000000;
        nanosleep(&delay, NULL);
    }

    if (f.ioctl_errno) {
        free(f.reply);
        if (req != NULL) {
            cbor_decref(&req);
        }

        errno = f.ioctl_errno;
        return -1;
    }

    out = emu_reply(&f, req, name, fields, &len);

    if (req != NULL) {
        cbor_decref(&req);
    }

    /* the driver: what does not fit the buffer given is cut */
    n = len < raw->response.len ? len : raw->response.len;
    if (n > 0) {
        memcpy((uint8_t *) (uintptr_t) raw->response.addr, out, n);
    }

    raw->response.len = f.oversize ? raw->response.len + 1 : n;
    free(out);

    return 0;
}


EMU_EXPORT int
ioctl(int fd, unsigned long request, ...)
{
    void     *arg;
    va_list   ap;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);

    if (fd >= 0 && fd < EMU_FDS && emu_fds[fd]) {
        return emu_ioctl(request, arg);
    }

    return EMU_REAL("ioctl", int (*)(int, unsigned long, ...))(fd, request,
                                                               arg);
}
