/*
 * telemetry_client.c: full TLS 1.3 handshakes with a client certificate,
 * one GET each, as fast as it can, for bench_telemetry.py.
 *
 *   telemetry_client PORT CERT KEY PROCESSES START_UNIX END_UNIX
 *
 * PROCESSES children each loop from START to END (Unix seconds, fractional)
 * on fresh connections (no session reuse); the total of served requests is
 * printed on stdout.  Any failed or unserved handshake is an error.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>


static double
now(void)
{
    struct timeval  tv;

    gettimeofday(&tv, NULL);

    return tv.tv_sec + tv.tv_usec / 1e6;
}


static int
one(SSL_CTX *ctx, int port)
{
    int                 fd, on, ok;
    char                buf[512];
    SSL                *ssl;
    struct sockaddr_in  sin;

    static const char   request[] =
        "GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n";

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    on = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ok = -1;
    ssl = NULL;

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0
        && (ssl = SSL_new(ctx)) != NULL
        && SSL_set_fd(ssl, fd) == 1
        && SSL_set_tlsext_host_name(ssl, "bench.test") == 1
        && SSL_connect(ssl) == 1
        && SSL_write(ssl, request, sizeof(request) - 1) > 0
        && SSL_read(ssl, buf, sizeof(buf)) > 12
        && memcmp(buf, "HTTP/1.1 204", 12) == 0)
    {
        ok = 0;
    }

    if (ssl) {
        SSL_free(ssl);
    }

    close(fd);

    return ok;
}


int
main(int argc, char **argv)
{
    int        port, procs, i, pfd[2], status;
    long       n, total;
    double     start, end;
    SSL_CTX   *ctx;

    if (argc != 7) {
        fprintf(stderr, "usage: telemetry_client PORT CERT KEY PROCESSES "
                "START END\n");
        return 2;
    }

    port = atoi(argv[1]);
    procs = atoi(argv[4]);
    start = atof(argv[5]);
    end = atof(argv[6]);

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL
        || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1
        || SSL_CTX_use_certificate_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1)
    {
        ERR_print_errors_fp(stderr);
        return 2;
    }

    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    if (pipe(pfd) == -1) {
        return 2;
    }

    for (i = 0; i < procs; i++) {
        if (fork() == 0) {
            while (now() < start) {
                usleep(1000);
            }

            for (n = 0; now() < end; n++) {
                if (one(ctx, port) != 0) {
                    fprintf(stderr, "telemetry_client: handshake or "
                            "request failed\n");
                    ERR_print_errors_fp(stderr);
                    _exit(1);
                }
            }

            if (write(pfd[1], &n, sizeof(n)) != sizeof(n)) {
                _exit(1);
            }

            _exit(0);
        }
    }

    close(pfd[1]);

    total = 0;

    for (i = 0; i < procs; i++) {
        if (read(pfd[0], &n, sizeof(n)) != sizeof(n)) {
            return 1;
        }

        total += n;
    }

    for (i = 0; i < procs; i++) {
        if (wait(&status) == -1 || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
        {
            return 1;
        }
    }

    printf("%ld\n", total);

    return 0;
}
