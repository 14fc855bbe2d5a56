/*
 * seed_verdicts.c: seeds for fuzz_misc's verdict mode.  Verifies each
 * certificate (at its document's own time, against ROOT) and writes the
 * verdict as fuzz_misc reads it: one odd mode byte, then the verdict's
 * meaningful prefix.  Usage: seed_verdicts ROOT.pem OUTDIR CERT.der...
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitro_attest.h"


static uint8_t  buf[1 << 20];


int
main(int argc, char **argv)
{
    int                      i;
    char                     err[256], path[4096];
    FILE                    *f;
    size_t                   n, len;
    int64_t                  ts;
    const uint8_t           *doc;
    const unsigned char     *p;
    X509                    *cert;
    nitro_attest_config_t    cf;
    nitro_attest_verdict_t  *v;

    if (argc < 4) {
        fprintf(stderr, "usage: seed_verdicts ROOT.pem OUTDIR CERT.der...\n");
        return 2;
    }

    nitro_attest_config_init(&cf);
    cf.root = nitro_attest_root_load(argv[1], err, sizeof(err));
    if (cf.root == NULL) {
        fprintf(stderr, "seed_verdicts: %s\n", err);
        return 2;
    }

    v = malloc(sizeof(*v));

    for (i = 3; i < argc; i++) {
        f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 2;
        }
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);

        ts = 1700000000000;
        p = buf;
        cert = d2i_X509(NULL, &p, (long) n);
        if (cert != NULL
            && nitro_attest_cert_document(NULL, cert, &doc, &len) == 0)
        {
            nitro_attest_document_peek(doc, len, &ts, NULL, 0);
        }
        X509_free(cert);

        nitro_attest_verify_cert_der(&cf, buf, n, ts + 1000, v);
        v->verify_us = 42;

        snprintf(path, sizeof(path), "%s/verdict-%d", argv[2], i - 3);
        f = fopen(path, "wb");
        if (f == NULL) {
            perror(path);
            return 2;
        }
        fputc(1, f);
        fwrite(v, 1, nitro_attest_verdict_size(v), f);
        fclose(f);
    }

    free(v);
    nitro_attest_root_free((nitro_attest_root_t *) cf.root);
    return 0;
}
