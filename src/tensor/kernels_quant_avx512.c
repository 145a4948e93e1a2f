/* kernels_quant_avx512.c — quantised weights x quantised activations with AVX-512 VNNI
 * (vpdpbusd: 64 byte products summed in fours per instruction), in quant.h's canonical order.
 *
 * The integer parts are exact in any order; what matters is where the floats are rounded:
 *  Q8_0 / Q4_0: vpdpbusd over 64 weights = two blocks gives exactly the canonical lanes
 *    (block b in lanes 0-7, block b+1 in lanes 8-15, each lane the sum of 4 consecutive
 *    products); then lane = fma((float)p, d_w * d_x, lane).
 *  Q4_K / Q6_K: the exact integer sums of a super-block, then the super-block's float step.
 * Built with AVX-512 VNNI flags; used only when CPUID reports avx512_vnni. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"

static inline float hsum16(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 a = _mm256_add_ps(lo, hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

/* two consecutive 32-byte runs (32 bytes each, `stride` apart) into one zmm */
static inline __m512i load2x32(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* the scale vector: d0 in lanes 0-7, d1 in lanes 8-15 */
static inline __m512 dpair(float d0, float d1) {
    return _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
}

/* ---------------------------------------------------------------- Q8_0, Q4_0 */

/* Per pair of activation blocks: their int8 values, scales, and (for Q4_0) -8 x the sums of
 * each 4 (so that vpdpbusd of the unsigned nibbles q lands exactly on sum (q - 8) x). */
typedef struct xpair {
    __m512i q, neg8sum;
    float d0, d1;
} xpair;

#define MAX_PAIRS 2048 /* k up to 131072 */

static int prepare_x(const r1c_block_q8_0 *x, int64_t nb, xpair *xp, int want_sums) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t p = 0; p < (nb + 1) / 2; p++) {
        const int64_t b = 2 * p;
        const int two = b + 1 < nb;
        __m512i q = two ? load2x32(x[b].qs, x[b + 1].qs)
                        : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[b].qs));
        if (!two) q = _mm512_inserti64x4(q, _mm256_setzero_si256(), 1);
        xp[p].q = q;
        xp[p].d0 = f16(x[b].d);
        xp[p].d1 = two ? f16(x[b + 1].d) : 0.0f;
        if (want_sums) { /* sum of each 4 activations, times -8 */
            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q);
            xp[p].neg8sum = _mm512_mullo_epi32(s, _mm512_set1_epi32(-8));
        }
    }
    return 1;
}

/* G rows r, r + stride, ... of Q8_0 weights: signed x signed through |w| and x * sign(w) */
static inline __attribute__((always_inline)) void q8_0_rows(const uint8_t *w, size_t rb, const xpair *xp, int64_t nb,
                                                            float *y, int64_t r, int64_t stride, const int G) {
    __m512 acc[8];
    const r1c_block_q8_0 *wr[8];
    for (int j = 0; j < G; j++) acc[j] = _mm512_setzero_ps(), wr[j] = (const r1c_block_q8_0 *)(w + (size_t)(r + j * stride) * rb);
    for (int64_t p = 0; p < (nb + 1) / 2; p++) {
        const int64_t b = 2 * p;
        const int two = b + 1 < nb;
        for (int j = 0; j < G; j++) {
            __m512i wq = two ? load2x32(wr[j][b].qs, wr[j][b + 1].qs)
                             : _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)wr[j][b].qs)),
                                                  _mm256_setzero_si256(), 1);
            const __mmask64 neg = _mm512_movepi8_mask(wq);
            const __m512i xs = _mm512_mask_sub_epi8(xp[p].q, neg, _mm512_setzero_si512(), xp[p].q);
            const __m512i pi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(wq), xs);
            const float d0 = f16(wr[j][b].d) * xp[p].d0, d1 = two ? f16(wr[j][b + 1].d) * xp[p].d1 : 0.0f;
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pi), dpair(d0, d1), acc[j]);
        }
    }
    for (int j = 0; j < G; j++) y[r + j * stride] = hsum16(acc[j]);
}

/* Q4_0: 16 bytes of nibbles per block; two blocks -> [lo_b | hi_b | lo_b1 | hi_b1] */
static inline __m512i unpack2_q4_0(const r1c_block_q4_0 *b, int two) {
    __m256i v = two ? _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs)),
                                              _mm_loadu_si128((const __m128i *)b[1].qs), 1)
                    : _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b[0].qs));
    if (!two) v = _mm256_inserti128_si256(v, _mm_setzero_si128(), 1);
    const __m256i m = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* [lo_b, lo_b1, hi_b, hi_b1] */
    return _mm512_shuffle_i64x2(t, t, 0xd8);                                   /* [lo_b, hi_b, lo_b1, hi_b1] */
}

static inline __attribute__((always_inline)) void q4_0_rows(const uint8_t *w, size_t rb, const xpair *xp, int64_t nb,
                                                            float *y, int64_t r, int64_t stride, const int G) {
    __m512 acc[8];
    const r1c_block_q4_0 *wr[8];
    for (int j = 0; j < G; j++) acc[j] = _mm512_setzero_ps(), wr[j] = (const r1c_block_q4_0 *)(w + (size_t)(r + j * stride) * rb);
    for (int64_t p = 0; p < (nb + 1) / 2; p++) {
        const int64_t b = 2 * p;
        const int two = b + 1 < nb;
        for (int j = 0; j < G; j++) {
            const __m512i pi = _mm512_dpbusd_epi32(xp[p].neg8sum, unpack2_q4_0(wr[j] + b, two), xp[p].q);
            const float d0 = f16(wr[j][b].d) * xp[p].d0, d1 = two ? f16(wr[j][b + 1].d) * xp[p].d1 : 0.0f;
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pi), dpair(d0, d1), acc[j]);
        }
    }
    for (int j = 0; j < G; j++) y[r + j * stride] = hsum16(acc[j]);
}

static void matvec_q8_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nb = k / R1C_QK8_0;
    xpair xp[MAX_PAIRS];
    prepare_x(xq, nb, xp, 0);
    const int64_t S = n / 8;
    for (int64_t r = 0; r < S; r++) q8_0_rows(w, rb, xp, nb, y, r, S, 8);
    for (int64_t r = 8 * S; r < n; r++) q8_0_rows(w, rb, xp, nb, y, r, 0, 1);
}

static void matvec_q4_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nb = k / R1C_QK4_0;
    xpair xp[MAX_PAIRS];
    prepare_x(xq, nb, xp, 1);
    const int64_t S = n / 8;
    for (int64_t r = 0; r < S; r++) q4_0_rows(w, rb, xp, nb, y, r, S, 8);
    for (int64_t r = 8 * S; r < n; r++) q4_0_rows(w, rb, xp, nb, y, r, 0, 1);
}

/* ---------------------------------------------------------------- Q4_K */

/* llama.cpp's packing of 8 six-bit scales and mins into 12 bytes */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static float q4_K_row(const r1c_block_q4_K *w, const r1c_block_q8_K *x, int64_t nsb) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    float acc = 0.0f;
    for (int64_t B = 0; B < nsb; B++) {
        uint8_t sc[8], mn[8];
        for (int s = 0; s < 8; s++) scale_min_k4(s, w[B].scales, &sc[s], &mn[s]);
        __m512i isum = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) { /* 64 elements: sub-blocks 2c (low nibbles) and 2c+1 (high) */
            const __m256i v = _mm256_loadu_si256((const __m256i *)(w[B].qs + 32 * c));
            const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m4)),
                                                 _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), 1);
            const __m512i xv = _mm512_loadu_si512((const void *)(x[B].qs + 64 * c));
            const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, xv);
            const __m512i scv = _mm512_inserti64x4(_mm512_set1_epi32(sc[2 * c]), _mm256_set1_epi32(sc[2 * c + 1]), 1);
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, scv));
        }
        const int32_t sumi = _mm512_reduce_add_epi32(isum); /* integers: any order is exact */
        int32_t summ = 0;
        for (int s = 0; s < 8; s++) summ += mn[s] * (x[B].bsums[2 * s] + x[B].bsums[2 * s + 1]);
        const float a = f16(w[B].d) * x[B].d, b = f16(w[B].dmin) * x[B].d;
        acc = acc + __builtin_fmaf(a, (float)sumi, -(b * (float)summ));
    }
    return acc;
}

static void matvec_q4_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = q4_K_row((const r1c_block_q4_K *)((const uint8_t *)w + (size_t)r * rb), xq, k / R1C_QK_K);
}

/* ---------------------------------------------------------------- Q6_K */

static float q6_K_row(const r1c_block_q6_K *w, const r1c_block_q8_K *x, int64_t nsb) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    float acc = 0.0f;
    for (int64_t B = 0; B < nsb; B++) {
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[B].ql + 64 * h, *qh = w[B].qh + 32 * h;
            const int8_t *xs = x[B].qs + 128 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            /* the four 32-element groups of this half, values 0..63 */
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
            for (int c = 0; c < 4; c++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xs + 32 * c));
                /* sum q*x per 4, minus 32 * sum x per 4: each lane covers 4 elements of one 16-element sub-block */
                const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[c], xv);
                const __m256i sx = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(32), xv);
                const int s0 = 8 * h + 2 * c; /* sub-blocks s0 (lanes 0-3) and s0+1 (lanes 4-7) */
                const __m256i scv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi32(w[B].scales[s0])),
                                                            _mm_set1_epi32(w[B].scales[s0 + 1]), 1);
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(_mm256_sub_epi32(dot, sx), scv));
            }
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(isum), _mm256_extracti128_si256(isum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        const int32_t sumi = _mm_cvtsi128_si32(s4);
        const float a = f16(w[B].d) * x[B].d;
        acc = acc + a * (float)sumi;
    }
    return acc;
}

static void matvec_q6_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = q6_K_row((const r1c_block_q6_K *)((const uint8_t *)w + (size_t)r * rb), xq, k / R1C_QK_K);
}

const r1c_quant_kernels r1c_quant_kernels_vnni = {matvec_q8_0, matvec_q4_0, matvec_q4_K, matvec_q6_K};
