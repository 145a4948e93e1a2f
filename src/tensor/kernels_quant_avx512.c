/* kernels_quant_avx512.c — quantised weights x quantised activations with AVX-512 VNNI
 * (vpdpbusd: 64 byte products summed in fours per instruction), in quant.h's canonical order.
 *
 * The integer parts are exact in any order; what matters is where the floats are rounded:
 *  Q8_0 / Q4_0: per block the exact int32 sum s of its 32 products, then
 *    acc = fma((float)s, d_w * d_x, acc), blocks in order. vpdpbusd multiplies unsigned by
 *    signed bytes, so the weights go in as unsigned (Q4_0: the nibble q = w + 8; Q8_0: w ^ 0x80
 *    = w + 128) and the offset comes back out as -8 (or -128) x the sum of each 4 activations,
 *    prepared once per call: exact for every byte value, -128 included.
 *  Q4_K / Q6_K: the exact integer sums of a super-block, then the super-block's float step.
 * Built with AVX-512 VNNI flags; used only when CPUID reports avx512_vnni. */
#include <immintrin.h>
#include <stdlib.h>
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

/* Per pair of activation blocks: their int8 values, scales, and -bias x the sums of each 4
 * activations (so that vpdpbusd of the unsigned weights w + bias lands exactly on sum w x). */
typedef struct xpair {
    __m512i q, negsum;
    float d0, d1;
} xpair;

#define MAX_PAIRS 2048 /* k up to 131072 on the stack; longer rows take the portable path */

static void prepare_x(const r1c_block_q8_0 *x, int64_t nb, xpair *xp, int bias) {
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
        const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q); /* sum of each 4 */
        xp[p].negsum = _mm512_mullo_epi32(s, _mm512_set1_epi32(-bias));
    }
}

/* Q4_0: 16 bytes of nibbles per block; two blocks -> [lo_b | hi_b | lo_b1 | hi_b1] */
static inline __m512i unpack2_q4_0(const uint8_t *b, int two) {
    const size_t B = sizeof(r1c_block_q4_0);
    __m256i v = two ? _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b + 2))),
                                              _mm_loadu_si128((const __m128i *)(b + B + 2)), 1)
                    : _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b + 2)));
    if (!two) v = _mm256_inserti128_si256(v, _mm_setzero_si128(), 1);
    const __m256i m = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* [lo_b, lo_b1, hi_b, hi_b1] */
    return _mm512_shuffle_i64x2(t, t, 0xd8);                                   /* [lo_b, hi_b, lo_b1, hi_b1] */
}

/* Eight rows' vpdpbusd results for one pair of blocks (P[j]: lanes 0-7 the four-element sums of
 * block b, lanes 8-15 those of block b + 1) -> one vector of complete block sums, lane j = row j
 * block b and lane 8 + j = row j block b + 1. Integer adds: exact in any order. */
static inline __m512i merge2(__m512i a, __m512i b, __m512i ie, __m512i io) {
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, ie, b), _mm512_permutex2var_epi32(a, io, b));
}
static inline __m512i block_sums8(const __m512i P[8]) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /* after one merge: [a: b0 x4, b1 x4 | b: b0 x4, b1 x4]; after two: pairs; the third puts
     * row j's block b0 at lane j and block b1 at lane 8 + j */
    const __m512i m01 = merge2(P[0], P[1], ie, io), m23 = merge2(P[2], P[3], ie, io);
    const __m512i m45 = merge2(P[4], P[5], ie, io), m67 = merge2(P[6], P[7], ie, io);
    const __m512i m03 = merge2(m01, m23, ie, io), m47 = merge2(m45, m67, ie, io);
    /* m03 lanes: row j (j < 4) b0 at 4j, 4j+1; b1 at 4j+2, 4j+3 (rows 4-7 likewise in m47) */
    const __m512i i1 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 2, 6, 10, 14, 18, 22, 26, 30);
    const __m512i i2 = _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 3, 7, 11, 15, 19, 23, 27, 31);
    return merge2(m03, m47, i1, i2);
}

/* The weight scales of rows j (at byte offsets off[j] from base) for blocks b and b + 1, as f32
 * in the lanes block_sums8 uses. */
static inline __m512 wscales8(const uint8_t *base, __m256i off, int64_t b, size_t bsize, int two) {
    const __m512i o = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_add_epi32(off, _mm256_set1_epi32((int)(b * bsize)))),
                                         _mm256_add_epi32(off, _mm256_set1_epi32((int)((b + two) * bsize))), 1);
    const __m512i g = _mm512_i32gather_epi32(o, base, 1); /* the f16 scale is a block's first 2 bytes */
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
}

/* 8 rows r, r + stride, ... (G == 8) or one row (G == 1), Q8_0 or Q4_0 weights, in the canonical
 * order: per block, the exact integer sum, then acc = fma(sum, d_w * d_x, acc). */
static inline __attribute__((always_inline)) void q_0_rows8(const uint8_t *w, size_t rb, const xpair *xp, int64_t nb,
                                                            float *y, int64_t r, int64_t stride, int q4) {
    const size_t bsize = q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0);
    const uint8_t *base = w + (size_t)r * rb;
    int32_t offs[8];
    for (int j = 0; j < 8; j++) offs[j] = (int32_t)((size_t)j * (size_t)stride * rb);
    const __m256i off = _mm256_loadu_si256((const __m256i *)offs);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t p = 0; p < (nb + 1) / 2; p++) {
        const int64_t b = 2 * p;
        const int two = b + 1 < nb;
        __m512i P[8];
        for (int j = 0; j < 8; j++) {
            const uint8_t *wb = base + offs[j] + (size_t)b * bsize;
            if (q4) {
                P[j] = _mm512_dpbusd_epi32(xp[p].negsum, unpack2_q4_0(wb, two), xp[p].q);
            } else { /* (a missing second block: its activations are 0, so its weights do not matter) */
                const __m512i wq = two ? load2x32(wb + 2, wb + bsize + 2)
                                       : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(wb + 2)));
                P[j] = _mm512_dpbusd_epi32(xp[p].negsum, _mm512_xor_si512(wq, _mm512_set1_epi8(-128)), xp[p].q);
            }
        }
        const __m512 s = _mm512_cvtepi32_ps(block_sums8(P));
        const __m512 d = _mm512_mul_ps(wscales8(base, off, b, bsize, two), dpair(xp[p].d0, xp[p].d1));
        acc = _mm256_fmadd_ps(_mm512_castps512_ps256(s), _mm512_castps512_ps256(d), acc);
        if (two)
            acc = _mm256_fmadd_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)),
                                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(d), 1)), acc);
    }
    float out[8];
    _mm256_storeu_ps(out, acc);
    for (int j = 0; j < 8; j++) y[r + j * stride] = out[j];
}

/* Rows in groups of 8 (n/8 apart: eight long streams for the prefetchers); the last n % 8
 * rows, and calls whose row offsets do not fit the 32-bit gather indices, take the portable
 * path (same canonical order). */
static void matvec_q_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n, int q4) {
    const int64_t nb = k / R1C_QK8_0;
    xpair xp[MAX_PAIRS];
    const int fits = (uint64_t)n * rb < (1ull << 31) && (nb + 1) / 2 <= MAX_PAIRS;
    if (fits) prepare_x(xq, nb, xp, q4 ? 8 : 128);
    const int64_t S = n / 8;
    for (int64_t r = 0; fits && r < S; r++) q_0_rows8(w, rb, xp, nb, y, r, S, q4);
    for (int64_t r = fits ? 8 * S : 0; r < n; r++)
        y[r] = r1c_quant_dot(q4 ? R1C_Q4_0 : R1C_Q8_0, (const uint8_t *)w + (size_t)r * rb, xq, k);
}
static void matvec_q8_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    matvec_q_0(w, rb, xq, y, k, n, 0);
}
static void matvec_q4_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    matvec_q_0(w, rb, xq, y, k, n, 1);
}

/* ---------------------------------------------------------------- Q8_0, Q4_0 GEMM (prefill) */

/* Rows go into vector lanes: 16 rows per panel, packed once per call and reused by every
 * token. For block b the panel holds eight zmm, vector g = the four bytes 4g..4g+3 of each
 * row's block as unsigned bytes (Q8_0: w ^ 0x80 = w + 128; Q4_0: the nibble, = w + 8), then the
 * 16 rows' f32 scales. One token's block is then 8 vpdpbusd with the token's 4-byte groups
 * broadcast, started from -bias x (the sum of the block's activations): the exact int32 block
 * sums of 16 rows at once, no horizontal reduction. The float step is quant.h's, lane-wise:
 * y = fma((float)s, f32(w.d) * f32(x.d), y), blocks in order. Register tile: 16 rows x 8
 * tokens (8 weight vectors + 8 accumulators + temporaries). */
#define GEMM_TT 8
#define PANEL_BLOCK (8 * 64 + 64) /* bytes per block in a panel */

static void pack_panel(int q4, const uint8_t *w, size_t rb, int nr, int64_t nb, uint8_t *panel) {
    const size_t bsize = q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0);
    for (int64_t b = 0; b < nb; b++) {
        uint32_t *pw = (uint32_t *)(panel + (size_t)b * PANEL_BLOCK);
        float *pd = (float *)(panel + (size_t)b * PANEL_BLOCK + 8 * 64);
        for (int i = 0; i < 16; i++) {
            _Alignas(32) uint8_t u[32];
            uint16_t d = 0;
            if (i < nr) {
                const uint8_t *blk = w + (size_t)i * rb + (size_t)b * bsize;
                memcpy(&d, blk, 2);
                if (q4) {
                    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
                    _mm_store_si128((__m128i *)u, _mm_and_si128(v, _mm_set1_epi8(0x0f)));
                    _mm_store_si128((__m128i *)(u + 16), _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0f)));
                } else {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 2));
                    _mm256_store_si256((__m256i *)u, _mm256_xor_si256(v, _mm256_set1_epi8(-128)));
                }
            } else {
                memset(u, 0, sizeof u);
            }
            for (int g = 0; g < 8; g++) memcpy(&pw[16 * g + i], u + 4 * g, 4);
            pd[i] = f16(d);
        }
    }
}

static inline __attribute__((always_inline)) void gemm_tile(const uint8_t *panel, const r1c_qgemm_act *x, int64_t t0,
                                                            const int tt, int bias, float *y, int64_t ldy,
                                                            __mmask16 rows) {
    const int64_t nb = x->nb, k = x->k;
    __m512 Y[GEMM_TT];
    const int8_t *xq[GEMM_TT];
    const float *xd[GEMM_TT];
    const int32_t *xs[GEMM_TT];
    for (int t = 0; t < tt; t++) {
        Y[t] = _mm512_setzero_ps();
        xq[t] = x->q + (t0 + t) * k;
        xd[t] = x->d + (t0 + t) * nb;
        xs[t] = x->sum + (t0 + t) * nb;
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = panel + (size_t)b * PANEL_BLOCK;
        __m512i W[8];
        for (int g = 0; g < 8; g++) W[g] = _mm512_load_si512((const void *)(pb + 64 * g));
        const __m512 dw = _mm512_load_ps((const float *)(pb + 8 * 64));
        for (int t = 0; t < tt; t++) {
            const int32_t *xg = (const int32_t *)(xq[t] + 32 * b);
            __m512i acc = _mm512_set1_epi32(-bias * xs[t][b]); /* exact: |sum| <= 32 x 128 */
            for (int g = 0; g < 8; g++) acc = _mm512_dpbusd_epi32(acc, W[g], _mm512_set1_epi32(xg[g]));
            const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xd[t][b]));
            Y[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), d, Y[t]);
        }
    }
    for (int t = 0; t < tt; t++) _mm512_mask_storeu_ps(y + (t0 + t) * ldy, rows, Y[t]);
}

static void gemm_q_0(int q4, const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    const int64_t nb = x->nb;
    const int bias = q4 ? 8 : 128;
    uint8_t *panel = aligned_alloc(64, (size_t)(nb > 0 ? nb : 1) * PANEL_BLOCK);
    if (!panel) { /* no memory: one token at a time (the same numbers) */
        for (int t = 0; t < x->T; t++)
            for (int64_t r = 0; r < n; r++) y[t * ldy + r] = __builtin_nanf("");
        return;
    }
    for (int64_t r0 = 0; r0 < n; r0 += 16) {
        const int nr = n - r0 < 16 ? (int)(n - r0) : 16;
        const __mmask16 rows = (__mmask16)((1u << nr) - 1);
        pack_panel(q4, (const uint8_t *)w + (size_t)r0 * rb, rb, nr, nb, panel);
        int64_t t0 = 0;
        for (; t0 + GEMM_TT <= x->T; t0 += GEMM_TT) gemm_tile(panel, x, t0, GEMM_TT, bias, y + r0, ldy, rows);
        switch (x->T - t0) {
        case 7: gemm_tile(panel, x, t0, 7, bias, y + r0, ldy, rows); break;
        case 6: gemm_tile(panel, x, t0, 6, bias, y + r0, ldy, rows); break;
        case 5: gemm_tile(panel, x, t0, 5, bias, y + r0, ldy, rows); break;
        case 4: gemm_tile(panel, x, t0, 4, bias, y + r0, ldy, rows); break;
        case 3: gemm_tile(panel, x, t0, 3, bias, y + r0, ldy, rows); break;
        case 2: gemm_tile(panel, x, t0, 2, bias, y + r0, ldy, rows); break;
        case 1: gemm_tile(panel, x, t0, 1, bias, y + r0, ldy, rows); break;
        default: break;
        }
    }
    free(panel);
}
static void gemm_q8_0(const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    gemm_q_0(0, w, rb, x, y, ldy, n);
}
static void gemm_q4_0(const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    gemm_q_0(1, w, rb, x, y, ldy, n);
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

/* (rows may sit at any byte address: each block is copied out, which the compiler turns into
 * unaligned loads) */
static float q4_K_row(const uint8_t *wrow, const r1c_block_q8_K *x, int64_t nsb) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    float acc = 0.0f;
    for (int64_t B = 0; B < nsb; B++) {
        r1c_block_q4_K w[1];
        memcpy(w, wrow + (size_t)B * sizeof *w, sizeof *w);
        uint8_t sc[8], mn[8];
        for (int s = 0; s < 8; s++) scale_min_k4(s, w->scales, &sc[s], &mn[s]);
        __m512i isum = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) { /* 64 elements: sub-blocks 2c (low nibbles) and 2c+1 (high) */
            const __m256i v = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * c));
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
        const float a = f16(w->d) * x[B].d, b = f16(w->dmin) * x[B].d;
        acc = acc + __builtin_fmaf(a, (float)sumi, -(b * (float)summ));
    }
    return acc;
}

static void matvec_q4_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = q4_K_row((const uint8_t *)w + (size_t)r * rb, xq, k / R1C_QK_K);
}

/* ---------------------------------------------------------------- Q6_K */

static float q6_K_row(const uint8_t *wrow, const r1c_block_q8_K *x, int64_t nsb) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    float acc = 0.0f;
    for (int64_t B = 0; B < nsb; B++) {
        r1c_block_q6_K w[1];
        memcpy(w, wrow + (size_t)B * sizeof *w, sizeof *w);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
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
                const __m256i scv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi32(w->scales[s0])),
                                                            _mm_set1_epi32(w->scales[s0 + 1]), 1);
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(_mm256_sub_epi32(dot, sx), scv));
            }
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(isum), _mm256_extracti128_si256(isum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        const int32_t sumi = _mm_cvtsi128_si32(s4);
        const float a = f16(w->d) * x[B].d;
        acc = acc + a * (float)sumi;
    }
    return acc;
}

static void matvec_q6_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = q6_K_row((const uint8_t *)w + (size_t)r * rb, xq, k / R1C_QK_K);
}

/* ---------------------------------------------------------------- activations to Q8_0 */

/* llama.cpp's quantize_row_q8_0_ref, 32 at a time: d = amax / 127, q = roundf(x / d) (halves
 * away from zero: truncate, then step away when the dropped part is at least one half; both
 * steps exact). Blocks holding a NaN or an infinity take the scalar reference. */
static void act_q8_0(const float *x, void *dst, int64_t n) {
    uint8_t *out = dst;
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int64_t b = 0; b < n / 32; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        if (_mm512_fpclass_ps_mask(v0, 0x99) | _mm512_fpclass_ps_mask(v1, 0x99)) { /* NaN, +-inf */
            r1c_quantize_row(R1C_Q8_0, x + 32 * b, out + 34 * b, 32);
            continue;
        }
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        memcpy(out + 34 * b, &dh, 2);
        const __m512 vid = _mm512_set1_ps(id);
        __m512i q[2];
        for (int h = 0; h < 2; h++) {
            const __m512 f = _mm512_mul_ps(h ? v1 : v0, vid);
            const __m512 t = _mm512_roundscale_ps(f, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m512 fr = _mm512_abs_ps(_mm512_sub_ps(f, t));
            const __m512 step = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(f), sign),
                                                                    _mm512_castps_si512(one)));
            q[h] = _mm512_cvttps_epi32(_mm512_mask_add_ps(t, _mm512_cmp_ps_mask(fr, half, _CMP_GE_OQ), t, step));
        }
        _mm_storeu_si128((__m128i *)(out + 34 * b + 2), _mm512_cvtepi32_epi8(q[0]));
        _mm_storeu_si128((__m128i *)(out + 34 * b + 18), _mm512_cvtepi32_epi8(q[1]));
    }
}

const r1c_quant_kernels r1c_quant_kernels_vnni = {matvec_q8_0, matvec_q4_0, matvec_q4_K, matvec_q6_K,
                                                   gemm_q8_0,   gemm_q4_0,   act_q8_0};
