/*
 * replay.c: a main() for the fuzz targets without libFuzzer, so `make
 * test` replays fuzz/regressions/ with any compiler that has ASan and
 * UBSan.  Usage: replay_TARGET FILE...  (each file is one input)
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* targets without an initializer get this one */
__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}


int
main(int argc, char **argv)
{
    int       i;
    long      n;
    FILE     *f;
    uint8_t  *data;

    LLVMFuzzerInitialize(&argc, &argv);

    for (i = 1; i < argc; i++) {
        f = fopen(argv[i], "rb");
        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
            perror(argv[i]);
            return 2;
        }

        rewind(f);
        /* exactly n bytes, so ASan catches a read one past the input */
        data = malloc(n ? (size_t) n : 1);
        if (data == NULL || fread(data, 1, (size_t) n, f) != (size_t) n) {
            perror(argv[i]);
            return 2;
        }

        fclose(f);
        LLVMFuzzerTestOneInput(data, (size_t) n);
        free(data);
    }

    printf("replay: %d inputs\n", argc - 1);
    return 0;
}
