/* parallel.h — OpenMP helpers. Work is split into contiguous ranges by thread index, and
 * every output element is produced by exactly one thread in a fixed order, so results do
 * not depend on the number of threads. */
#ifndef R1C_BASE_PARALLEL_H
#define R1C_BASE_PARALLEL_H

#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
static inline int r1c_thread_index(void) { return omp_get_thread_num(); }
static inline int r1c_thread_count(void) { return omp_get_num_threads(); }
#else
static inline int r1c_thread_index(void) { return 0; }
static inline int r1c_thread_count(void) { return 1; }
#endif

/* Range [*b, *e) of n items for thread ith of nth, boundaries on multiples of gran. */
static inline void r1c_split(int64_t n, int64_t gran, int ith, int nth, int64_t *b, int64_t *e) {
    int64_t units = (n + gran - 1) / gran;
    int64_t ub = units * ith / nth, ue = units * (ith + 1) / nth;
    *b = ub * gran < n ? ub * gran : n;
    *e = ue * gran < n ? ue * gran : n;
}

#endif
