/* membw.c — a STREAM-style memory read probe, to put decode speed next to the machine's
 * bandwidth in the same run. Each thread sums its own part of a large array (several
 * independent streams per thread, as a multi-row matvec reads); the median of R passes is
 * printed in GB/s (1e9 bytes).
 *
 *   usage: membw [MiB=1024] [passes=7] [threads=all]                                    */
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
            size_t q = (e - b) / 4;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            const double *p0 = a + b, *p1 = p0 + q, *p2 = p1 + q, *p3 = p2 + q;
            for (size_t i = 0; i < q; i++) s0 += p0[i], s1 += p1[i], s2 += p2[i], s3 += p3[i];
            total += s0 + s1 + s2 + s3;
        }
        double dt = now() - t0;
        sink += total;
        gbs[p] = (double)n * sizeof(double) / dt / 1e9;
    }
    qsort(gbs, (size_t)passes, sizeof(double), cmp);
    printf("{\"membw_read_gbps\": %.2f, \"min\": %.2f, \"max\": %.2f, \"threads\": %d, \"mib\": %zu, \"passes\": %d}\n",
           gbs[passes / 2], gbs[0], gbs[passes - 1], nth, mib, passes);
    if (sink == 42.0) puts("");
    free(gbs);
    free(a);
    return 0;
}
