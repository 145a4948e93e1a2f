/* membw.c — a STREAM-style memory read probe, to put decode speed next to the machine's
 * bandwidth in the same run. Each thread sums its own part of a large array as STREAMS
 * independent sequential streams (the access pattern of r1c's matrix-vector kernel, which
 * reads 8 rows at once); the median of the passes is printed in GB/s (1e9 bytes).
 *
 *   usage: membw [MiB=1024] [passes=7] [threads=all] [streams=8]                          */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    int passes = argc > 2 ? atoi(argv[2]) : 7;
    int threads = argc > 3 ? atoi(argv[3]) : 0;
    int streams = argc > 4 ? atoi(argv[4]) : 8;
    if (streams < 1 || streams > 16) streams = 8;
    if (mib < 64) mib = 64;
    if (passes < 1) passes = 1;
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#endif
    size_t n = mib * 1024 * 1024 / sizeof(double);
    double *a = aligned_alloc(64, n * sizeof(double));
    if (!a) return 1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (double)(i & 1023);
    double *gbs = malloc(sizeof(double) * (size_t)passes), sink = 0;
    int nth = 1;
    for (int p = 0; p < passes; p++) {
        double t0 = now(), total = 0;
#pragma omp parallel reduction(+ : total)
        {
#ifdef _OPENMP
            int ith = omp_get_thread_num(), nt = omp_get_num_threads();
#else
            int ith = 0, nt = 1;
#endif
            nth = nt;
            size_t b = n * (size_t)ith / (size_t)nt, e = n * (size_t)(ith + 1) / (size_t)nt;
            size_t q = (e - b) / (size_t)streams / 8 * 8;
            double acc[16][8] = {{0}};
            for (size_t i = 0; i < q; i += 8)
                for (int j = 0; j < streams; j++) {
                    const double *p = a + b + (size_t)j * q + i;
                    for (int l = 0; l < 8; l++) acc[j][l] += p[l]; /* 8 lanes: vectorisable */
                }
            for (int j = 0; j < streams; j++)
                for (int l = 0; l < 8; l++) total += acc[j][l];
        }
        double dt = now() - t0;
        sink += total;
        gbs[p] = (double)n * sizeof(double) / dt / 1e9;
    }
    qsort(gbs, (size_t)passes, sizeof(double), cmp);
    printf("{\"membw_read_gbps\": %.2f, \"min\": %.2f, \"max\": %.2f, \"threads\": %d, \"streams\": %d, \"mib\": %zu, \"passes\": %d}\n",
           gbs[passes / 2], gbs[0], gbs[passes - 1], nth, streams, mib, passes);
    if (sink == 42.0) puts("");
    free(gbs);
    free(a);
    return 0;
}
