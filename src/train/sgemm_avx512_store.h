/* sgemm_avx512_store.h — the 14 x 32 tile's store, shared by the f32 (sgemm_avx512.c) and bf16
 * (sgemm_bf16_avx512.c) AVX-512 micro-kernels, so both apply alpha and beta the same way
 * (internal; include only where AVX-512 is enabled). The kernel's accumulators are named
 * c<row>0 / c<row>1 and its parameters C, ldc, alpha, beta, mr, nr. */
#ifndef R1C_TRAIN_SGEMM_AVX512_STORE_H
#define R1C_TRAIN_SGEMM_AVX512_STORE_H

#include <immintrin.h>

/* alpha and beta as vectors, and the column masks of an edge tile (nr < 32) */
#define SG_STORE_SETUP                                                                                          \
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                         \
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);                          \
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1u)

/* Store one row: t = alpha*acc; C = t (beta 0), C + t (beta 1), beta*C + t (other). Masked so
 * the edge tiles (nr < 32) neither read nor write past the matrix. */
#define SG_STORE(r)                                                                          \
    do {                                                                                     \
        if (r < mr) {                                                                        \
            float *c = C + (int64_t)(r) * ldc;                                               \
            __m512 t0 = _mm512_mul_ps(va, c##r##0), t1 = _mm512_mul_ps(va, c##r##1);         \
            if (beta != 0.0f) {                                                              \
                const __m512 o0 = _mm512_maskz_loadu_ps(m0, c), o1 = _mm512_maskz_loadu_ps(m1, c + 16); \
                if (beta == 1.0f) {                                                          \
                    t0 = _mm512_add_ps(o0, t0);                                              \
                    t1 = _mm512_add_ps(o1, t1);                                              \
                } else {                                                                     \
                    t0 = _mm512_add_ps(_mm512_mul_ps(vb, o0), t0);                           \
                    t1 = _mm512_add_ps(_mm512_mul_ps(vb, o1), t1);                           \
                }                                                                            \
            }                                                                                \
            _mm512_mask_storeu_ps(c, m0, t0);                                                \
            _mm512_mask_storeu_ps(c + 16, m1, t1);                                           \
        }                                                                                    \
    } while (0)

/* all 14 rows of the tile (SG_MR), after SG_STORE_SETUP */
#define SG_STORE_TILE \
    do {                                                                                     \
        SG_STORE(0);                                                                         \
        SG_STORE(1);                                                                         \
        SG_STORE(2);                                                                         \
        SG_STORE(3);                                                                         \
        SG_STORE(4);                                                                         \
        SG_STORE(5);                                                                         \
        SG_STORE(6);                                                                         \
        SG_STORE(7);                                                                         \
        SG_STORE(8);                                                                         \
        SG_STORE(9);                                                                         \
        SG_STORE(10);                                                                        \
        SG_STORE(11);                                                                        \
        SG_STORE(12);                                                                        \
        SG_STORE(13);                                                                        \
    } while (0)

#endif
