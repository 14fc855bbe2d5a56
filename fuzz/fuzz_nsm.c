/*
 * fuzz_nsm.c: the decoder of the NSM's answers (src/na_nsm.c), the code
 * the CLI, `cert --nsm` and the renewal agent run on whatever the device
 * returns.  The target defines ioctl() itself, so the shipped request path
 * runs unchanged on a handle opened on /dev/null and receives the input as
 * the driver's answer.
 *
 * Input: byte 0 chooses the request (low three bits: describe, describe
 * PCR, extend PCR, lock PCR, attest) and the driver's behaviour (bit 3:
 * the ioctl fails; bit 4: the driver reports a length larger than the
 * answer it copied); the rest is the answer.  Whatever it holds, a call
 * returns a known code with one line in err, and what it fills in keeps
 * the invariants the callers rely on.
 */

#include <errno.h>
#include <stdarg.h>
#include <sys/ioctl.h>

#include "fuzz_common.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define FUZZ_NSM_FAIL      0x08
#define FUZZ_NSM_OVERLONG  0x10

/* the driver's struct nsm_raw: a request and a response iovec */
typedef struct {
    uint64_t                   request_addr;
    uint64_t                   request_len;
    uint64_t                   response_addr;
    uint64_t                   response_len;
} fuzz_nsm_raw_t;


static nitro_attest_nsm_t  *fuzz_nsm;
static const uint8_t       *fuzz_answer;
static size_t               fuzz_answer_len;
static uint8_t              fuzz_flags;


int
ioctl(int fd, unsigned long request, ...)
{
    size_t           n;
    va_list          args;
    fuzz_nsm_raw_t  *raw;

    (void) fd;
    (void) request;

    va_start(args, request);
    raw = va_arg(args, fuzz_nsm_raw_t *);
    va_end(args);

    if (raw->request_len == 0
        || raw->request_len > NITRO_ATTEST_NSM_REQUEST_MAX)
    {
        fuzz_die("request", "a request outside the driver's limits");
    }

    if (fuzz_flags & FUZZ_NSM_FAIL) {
        errno = EIO;
        return -1;
    }

    n = fuzz_answer_len;
    if (n > raw->response_len) {
        n = (size_t) raw->response_len;
    }

    memcpy((void *) (uintptr_t) raw->response_addr, fuzz_answer, n);
    raw->response_len = (fuzz_flags & FUZZ_NSM_OVERLONG)
                        ? raw->response_len + 1 : n;

    return 0;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char  err[512];

    (void) argc;
    (void) argv;

    fuzz_nsm = nitro_attest_nsm_open("/dev/null", err, sizeof(err));
    if (fuzz_nsm == NULL) {
        fuzz_die("open", err);
    }

    return 0;
}


static void
fuzz_check_err(nitro_attest_nsm_rc_e rc, const char *err)
{
    if (rc == NITRO_ATTEST_NSM_OK) {
        return;
    }

    if (rc != NITRO_ATTEST_NSM_SYSTEM && rc != NITRO_ATTEST_NSM_BAD_ANSWER
        && rc != NITRO_ATTEST_NSM_REFUSED)
    {
        fuzz_die("rc", "an unknown return code");
    }

    if (strncmp(err, "/dev/null: ", 11) != 0 || strchr(err, '\n') != NULL) {
        fuzz_die("err", "the message does not name the device on one line");
    }
}


static void
fuzz_check_pcr(const nitro_attest_nsm_pcr_t *pcr)
{
    if (pcr->len != 32 && pcr->len != 48 && pcr->len != 64) {
        fuzz_die("pcr", "a PCR value of an unknown length");
    }

    if (pcr->locked != 0 && pcr->locked != 1) {
        fuzz_die("pcr", "locked is not a boolean");
    }
}


static void
fuzz_check_description(const nitro_attest_nsm_description_t *d)
{
    uint16_t  i;

    if (d->module_id[0] == '\0'
        || memchr(d->module_id, '\0', sizeof(d->module_id)) == NULL
        || memchr(d->digest, '\0', sizeof(d->digest)) == NULL)
    {
        fuzz_die("describe", "an empty or unterminated text");
    }

    if (d->nlocked > NITRO_ATTEST_NSM_LOCKED_MAX) {
        fuzz_die("describe", "more locked PCRs than room");
    }

    for (i = 1; i < d->nlocked; i++) {
        if (d->locked[i] <= d->locked[i - 1]) {
            fuzz_die("describe", "locked PCRs not ascending");
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                             err[512];
    size_t                           len;
    uint8_t                         *doc;
    uint8_t                          key[91];
    nitro_attest_nsm_rc_e            rc;
    nitro_attest_nsm_pcr_t           pcr;
    nitro_attest_nsm_attest_t        ask;
    nitro_attest_nsm_description_t   d;

    if (size == 0) {
        return 0;
    }

    fuzz_flags = data[0];
    fuzz_answer = data + 1;
    fuzz_answer_len = size - 1;
    err[0] = '\0';

    switch (data[0] & 0x07) {

    case 0:
        rc = nitro_attest_nsm_describe(fuzz_nsm, &d, err, sizeof(err));
        if (rc == NITRO_ATTEST_NSM_OK) {
            fuzz_check_description(&d);
        }
        break;

    case 1:
        rc = nitro_attest_nsm_describe_pcr(fuzz_nsm, 16, &pcr, err,
                                           sizeof(err));
        if (rc == NITRO_ATTEST_NSM_OK) {
            fuzz_check_pcr(&pcr);
        }
        break;

    case 2:
        rc = nitro_attest_nsm_extend_pcr(fuzz_nsm, 16, (const uint8_t *) "x",
                                         1, &pcr, err, sizeof(err));
        if (rc == NITRO_ATTEST_NSM_OK) {
            fuzz_check_pcr(&pcr);
        }
        break;

    case 3:
        rc = nitro_attest_nsm_lock_pcr(fuzz_nsm, 16, err, sizeof(err));
        break;

    default:
        /* asked with and without fields: the answer must carry exactly */
        memset(&ask, 0, sizeof(ask));
        memset(key, 0x5a, sizeof(key));
        if (data[0] & 0x01) {
            ask.public_key.data = key;
            ask.public_key.len = sizeof(key);
            ask.nonce.data = key;
            ask.nonce.len = 16;
        }

        doc = NULL;
        rc = nitro_attest_nsm_attest(fuzz_nsm, &ask, &doc, &len, err,
                                     sizeof(err));
        if (rc == NITRO_ATTEST_NSM_OK) {
            if (doc == NULL || len == 0 || len > fuzz_answer_len) {
                fuzz_die("attest", "a document not within the answer");
            }
            free(doc);

        } else if (doc != NULL) {
            fuzz_die("attest", "a document handed out with an error");
        }
        break;
    }

    fuzz_check_err(rc, err);

    return 0;
}
