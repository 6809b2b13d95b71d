/* Latency percentiles of the benchmarks in bench/: sort the samples, then take the nearest
 * rank. Header-only: each benchmark is one program. */
#ifndef ALLOT_BENCH_PERCENTILE_H
#define ALLOT_BENCH_PERCENTILE_H

#include <stddef.h>
#include <stdlib.h>

static inline int percentile_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sort v[0..n) for percentile(). */
static inline void percentile_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(double), percentile_cmp);
}

/* Percentile q (0..1) of sorted v[0..n), nearest rank; 0 when n is 0. */
static inline double percentile(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

#endif
