/*
 * bench.h: what the C benchmarks share.
 */

#ifndef BENCH_H
#define BENCH_H

#include <time.h>


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


#endif /* BENCH_H */
