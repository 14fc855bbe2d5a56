/*
 * docs.h: the real documents of a directory, read into memory, for the
 * unit tests (t/unit/main.c) and the core benchmark (bench/bench_core.c).
 */

#ifndef DOCS_H
#define DOCS_H

#include <stddef.h>
#include <stdint.h>


/* a document of the fixtures, with its own timestamp */
typedef struct {
    char       name[256];
    uint8_t   *data;
    size_t     len;
    int64_t    timestamp;
} doc_t;


int docs_load(const char *dir, doc_t *out, int max);


#endif /* DOCS_H */
