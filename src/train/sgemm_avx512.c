/* sgemm_avx512.c — the AVX-512 14 x 32 micro-kernel of r1c_sgemm (sgemm.c). Compiled with
 * -mavx512f... on x86_64 only (CMakeLists.txt) and called only when the CPU has AVX-512. The
 * file is globbed on every architecture, so elsewhere it compiles to nothing. */
#include "sgemm_kernel.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "sgemm_avx512_store.h"

/* Per k: two 16-float vectors of the packed B row, then for each of the 14 rows one broadcast
 * of the packed A value (folded into the FMA as a {1to16} memory operand) and two FMAs. The
 * accumulators never leave registers; the loop is written out row by row so the compiler
 * cannot decide to keep them in memory. */
#define SG_ROW(r)                                              \
    do {                                                       \
        const __m512 a = _mm512_set1_ps(ap[r]);                \
        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);             \
        c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);             \
    } while (0)

void sg_ukr_avx512(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, float alpha, float beta,
                   int mr, int nr) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
    __m512 c120 = c00, c121 = c00, c130 = c00, c131 = c00;
    const float *ap = Ap, *bp = Bp;
    for (int64_t k = 0; k < kc; k++) {
        /* the B panel streams from L2: fetch ~8 k steps ahead (one 128-byte row per step) */
        _mm_prefetch((const char *)(bp + 8 * SG_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + 8 * SG_NR + 16), _MM_HINT_T0);
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
        SG_ROW(0);
        SG_ROW(1);
        SG_ROW(2);
        SG_ROW(3);
        SG_ROW(4);
        SG_ROW(5);
        SG_ROW(6);
        SG_ROW(7);
        SG_ROW(8);
        SG_ROW(9);
        SG_ROW(10);
        SG_ROW(11);
        SG_ROW(12);
        SG_ROW(13);
        ap += SG_MR;
        bp += SG_NR;
    }
    SG_STORE_SETUP;
    SG_STORE_TILE;
}

#else
typedef int sg_avx512_unused; /* ISO C: a translation unit is not empty */
#endif
