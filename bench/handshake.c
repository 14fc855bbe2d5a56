/*
 * handshake.c: the load generator of `make bench-handshake`.  Makes full
 * TLS 1.3 handshakes with client certificates (never resuming), each
 * followed by one small HTTP request so the server has judged the
 * certificate before the connection counts, over CONCURRENCY connections
 * in flight at once (non-blocking, one thread).  Prints one line:
 *
 *   handshakes=N failed=F seconds=S rate=R p50_us=A p99_us=B
 *
 * Usage: handshake HOST PORT COUNT CONCURRENCY CERT KEY [CERT KEY ...]
 * (the client cycles through the certificate/key pairs).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"


#define MAX_SLOTS  64

typedef enum {
    SLOT_IDLE,
    SLOT_CONNECTING,
    SLOT_HANDSHAKE,
    SLOT_WRITE,
    SLOT_READ
} slot_state_e;

typedef struct {
    slot_state_e   state;
    int            fd;
    SSL           *ssl;
    double         start;
    size_t         sent;
} slot_t;


static const char  request[] =
    "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static void
slot_close(slot_t *s)
{
    if (s->ssl) {
        SSL_free(s->ssl);
    }

    if (s->fd >= 0) {
        close(s->fd);
    }

    s->ssl = NULL;
    s->fd = -1;
    s->state = SLOT_IDLE;
}


/* A handshake ended (rc 1 served, -1 failed): its latency is recorded. */
static void
slot_finish(slot_t *s, int rc, double *lat, int *done, int *failed,
    int *inflight)
{
    lat[*done] = now_us() - s->start;
    *failed += rc < 0;
    (*done)++;
    (*inflight)--;
    slot_close(s);
}


static int
slot_open(slot_t *s, SSL_CTX *ctx, const struct sockaddr_in *addr)
{
    int  one = 1;

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0) {
        return -1;
    }

    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->start = now_us();
    s->sent = 0;

    if (connect(s->fd, (const struct sockaddr *) addr, sizeof(*addr)) != 0
        && errno != EINPROGRESS)
    {
        return -1;
    }

    s->ssl = SSL_new(ctx);
    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
        return -1;
    }

    SSL_set_connect_state(s->ssl);
    s->state = SLOT_HANDSHAKE;
    return 0;
}


/* Advances a slot; 1 done (success), -1 done (failure), 0 in progress. */
static int
slot_step(slot_t *s, short *events)
{
    int   n, err;
    char  buf[4096];

    for ( ;; ) {
        ERR_clear_error();

        switch (s->state) {

        case SLOT_HANDSHAKE:
            n = SSL_do_handshake(s->ssl);
            if (n == 1) {
                s->state = SLOT_WRITE;
                continue;
            }
            break;

        case SLOT_WRITE:
            n = SSL_write(s->ssl, request + s->sent,
                          (int) (sizeof(request) - 1 - s->sent));
            if (n > 0) {
                s->sent += (size_t) n;
                if (s->sent == sizeof(request) - 1) {
                    s->state = SLOT_READ;
                }
                continue;
            }
            break;

        case SLOT_READ:
            n = SSL_read(s->ssl, buf, sizeof(buf));
            if (n > 0) {
                /* "HTTP/1.1 200" in the first bytes is success */
                if (s->sent != (size_t) -1) {
                    if (n < 12 || memcmp(buf + 9, "200", 3) != 0) {
                        return -1;
                    }
                    s->sent = (size_t) -1;
                }
                continue;
            }

            err = SSL_get_error(s->ssl, n);
            if (err == SSL_ERROR_ZERO_RETURN
                || (err == SSL_ERROR_SYSCALL && s->sent == (size_t) -1))
            {
                return s->sent == (size_t) -1 ? 1 : -1;
            }
            break;

        default:
            return -1;
        }

        err = SSL_get_error(s->ssl, n);

        if (err == SSL_ERROR_WANT_READ) {
            *events = POLLIN;
            return 0;
        }

        if (err == SSL_ERROR_WANT_WRITE) {
            *events = POLLOUT;
            return 0;
        }

        return -1;
    }
}


int
main(int argc, char **argv)
{
    int                 i, k, done, failed, inflight, started, count, conc;
    int                 npairs, pair, rc;
    short               want[MAX_SLOTS];
    double              t0, elapsed, *lat;
    SSL_CTX           **ctx;
    slot_t              slots[MAX_SLOTS];
    struct pollfd       pfd[MAX_SLOTS];
    struct sockaddr_in  addr;

    if (argc < 7 || (argc - 5) % 2 != 0) {
        fprintf(stderr, "usage: handshake HOST PORT COUNT CONCURRENCY "
                "CERT KEY [CERT KEY ...]\n");
        return 2;
    }

    /* a server that refuses a certificate closes while it is still sent */
    signal(SIGPIPE, SIG_IGN);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "handshake: bad address %s\n", argv[1]);
        return 2;
    }

    count = atoi(argv[3]);
    conc = atoi(argv[4]);
    conc = conc < 1 ? 1 : conc > MAX_SLOTS ? MAX_SLOTS : conc;
    npairs = (argc - 5) / 2;

    /* one context per certificate: no session is ever offered again */
    ctx = calloc((size_t) npairs, sizeof(SSL_CTX *));
    lat = calloc((size_t) count, sizeof(double));

    for (i = 0; i < npairs; i++) {
        ctx[i] = SSL_CTX_new(TLS_client_method());

        if (ctx[i] == NULL
            || SSL_CTX_set_min_proto_version(ctx[i], TLS1_3_VERSION) != 1
            || SSL_CTX_use_certificate_file(ctx[i], argv[5 + 2 * i],
                                            SSL_FILETYPE_PEM) != 1
            || SSL_CTX_use_PrivateKey_file(ctx[i], argv[6 + 2 * i],
                                           SSL_FILETYPE_PEM) != 1)
        {
            ERR_print_errors_fp(stderr);
            return 2;
        }

        SSL_CTX_set_verify(ctx[i], SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_session_cache_mode(ctx[i], SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx[i], SSL_OP_NO_TICKET);
    }

    for (i = 0; i < conc; i++) {
        slots[i].state = SLOT_IDLE;
        slots[i].fd = -1;
        slots[i].ssl = NULL;
    }

    done = failed = inflight = started = 0;
    pair = 0;
    t0 = now_us();

    while (done < count) {
        for (i = 0; i < conc; i++) {
            if (slots[i].state == SLOT_IDLE && started < count) {
                if (slot_open(&slots[i], ctx[pair], &addr) != 0) {
                    slot_close(&slots[i]);
                    failed++;
                    done++;
                    started++;
                    continue;
                }

                pair = (pair + 1) % npairs;
                started++;
                inflight++;
                want[i] = POLLOUT;

                rc = slot_step(&slots[i], &want[i]);
                if (rc != 0) {
                    slot_finish(&slots[i], rc, lat, &done, &failed,
                                &inflight);
                }
            }
        }

        if (inflight == 0) {
            continue;
        }

        for (i = 0, k = 0; i < conc; i++) {
            pfd[i].fd = slots[i].state == SLOT_IDLE ? -1 : slots[i].fd;
            pfd[i].events = want[i];
            pfd[i].revents = 0;
            k += pfd[i].fd >= 0;
        }

        if (k && poll(pfd, (nfds_t) conc, 10000) <= 0) {
            fprintf(stderr, "handshake: no progress in 10 s\n");
            return 1;
        }

        for (i = 0; i < conc; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0) {
                continue;
            }

            rc = slot_step(&slots[i], &want[i]);
            if (rc != 0) {
                slot_finish(&slots[i], rc, lat, &done, &failed, &inflight);
            }
        }
    }

    elapsed = (now_us() - t0) / 1e6;
    qsort(lat, (size_t) count, sizeof(double), cmp_double);

    printf("handshakes=%d failed=%d seconds=%.3f rate=%.1f p50_us=%.0f "
           "p99_us=%.0f\n", count, failed, elapsed, count / elapsed,
           lat[count / 2], lat[(int) (count * 0.99)]);

    return failed ? 1 : 0;
}
