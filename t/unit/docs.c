/*
 * docs.c: the .cose files of a directory, each with the timestamp it
 * carries.  Both users measure or check real documents only, so a
 * directory or a file that cannot be read, or a malformed document, ends
 * the program.
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitro_attest.h"
#include "docs.h"


/* the .cose files of dir into out (at most max), in directory order */
int
docs_load(const char *dir, doc_t *out, int max)
{
    int             n;
    DIR            *d;
    FILE           *f;
    char            path[8192];
    struct dirent  *e;

    d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        exit(2);
    }

    n = 0;

    while ((e = readdir(d)) != NULL && n < max) {
        size_t  l = strlen(e->d_name);

        if (l < 5 || strcmp(e->d_name + l - 5, ".cose") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(out[n].name, sizeof(out[n].name), "%s", e->d_name);
        f = fopen(path, "rb");
        if (f == NULL) {
            perror(path);
            exit(2);
        }

        out[n].data = malloc(65536);
        out[n].len = fread(out[n].data, 1, 65536, f);
        fclose(f);

        if (nitro_attest_document_peek(out[n].data, out[n].len,
                                       &out[n].timestamp, NULL, 0) != 0)
        {
            fprintf(stderr, "%s: malformed document\n", path);
            exit(2);
        }

        n++;
    }

    closedir(d);
    return n;
}
