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
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"


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
        if (bias == 8) /* Q4_0 weights unpack as [b 0-15 | b+1 0-15 | b 16-31 | b+1 16-31] */
            q = _mm512_shuffle_i64x2(q, q, _MM_SHUFFLE(3, 1, 2, 0));
        xp[p].q = q;
        xp[p].d0 = f16(x[b].d);
        xp[p].d1 = two ? f16(x[b + 1].d) : 0.0f;
        const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q); /* sum of each 4 */
        xp[p].negsum = _mm512_mullo_epi32(s, _mm512_set1_epi32(-bias));
    }
}

/* Q4_0: 16 bytes of nibbles per block; two blocks -> [lo_b | lo_b1 | hi_b | hi_b1] (elements
 * 0-15 of b, of b + 1, then 16-31 of each: prepare_x lays the activations out the same way) */
static inline __m512i unpack2_q4_0(const uint8_t *b, int two) {
    const size_t B = sizeof(r1c_block_q4_0);
    __m256i v = two ? _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(b + 2))),
                                              _mm_loadu_si128((const __m128i *)(b + B + 2)), 1)
                    : _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(b + 2)));
    const __m256i m = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Eight rows' vpdpbusd results for one pair of blocks (P[j]: lanes 0-7 the four-element sums of
 * block b, lanes 8-15 those of block b + 1) -> one vector of complete block sums, lane j = row j
 * block b and lane 8 + j = row j block b + 1. Integer adds: exact in any order. */
static inline __m512i merge2(__m512i a, __m512i b, __m512i ie, __m512i io) {
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, ie, b), _mm512_permutex2var_epi32(a, io, b));
}
static inline __m512i block_sums8(const __m512i P[8], int q4) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /* after one merge: [a: b0 x4, b1 x4 | b: b0 x4, b1 x4]; after two: pairs; the third puts
     * row j's block b0 at lane j and block b1 at lane 8 + j */
    const __m512i m01 = merge2(P[0], P[1], ie, io), m23 = merge2(P[2], P[3], ie, io);
    const __m512i m45 = merge2(P[4], P[5], ie, io), m67 = merge2(P[6], P[7], ie, io);
    const __m512i m03 = merge2(m01, m23, ie, io), m47 = merge2(m45, m67, ie, io);
    /* m03 lanes, row j (j < 4): Q8_0 b0 at 4j, 4j+1, b1 at 4j+2, 4j+3; Q4_0 (lanes of the
     * unpacked layout) b0 at 4j, 4j+2, b1 at 4j+1, 4j+3 (rows 4-7 likewise in m47) */
    if (q4) {
        const __m512i i1 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
        const __m512i i2 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
        return merge2(m03, m47, i1, i2);
    }
    const __m512i i1 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 2, 6, 10, 14, 18, 22, 26, 30);
    const __m512i i2 = _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 3, 7, 11, 15, 19, 23, 27, 31);
    return merge2(m03, m47, i1, i2);
}

/* The weight scales of rows j (at byte offsets off[j] from base) for blocks b and b + 1, as f32
 * in the lanes block_sums8 uses, by one gather (the f16 scale is a block's first 2 bytes). For
 * Q4_0 this measured faster than the scalar loads Q8_0 uses (whose integer side is idle). */
static inline __m512 wscales8(const uint8_t *base, __m256i off, int64_t b, size_t bsize, int two) {
    const __m512i o = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_add_epi32(off, _mm256_set1_epi32((int)(b * bsize)))),
                                         _mm256_add_epi32(off, _mm256_set1_epi32((int)((b + two) * bsize))), 1);
    const __m512i g = _mm512_i32gather_epi32(o, base, 1);
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
        uint64_t sd[4] = {0, 0, 0, 0}; /* f16 scales: rows 0-3, 4-7 of block b, then of b + 1 */
        for (int j = 0; j < 8; j++) {
            const uint8_t *wb = base + offs[j] + (size_t)b * bsize;
            if (!q4) {
                uint16_t h0, h1 = 0;
                memcpy(&h0, wb, 2);
                if (two) memcpy(&h1, wb + bsize, 2);
                sd[j >> 2] |= (uint64_t)h0 << (16 * (j & 3));
                sd[2 + (j >> 2)] |= (uint64_t)h1 << (16 * (j & 3));
            }
            if (q4) {
                P[j] = _mm512_dpbusd_epi32(xp[p].negsum, unpack2_q4_0(wb, two), xp[p].q);
            } else { /* (a missing second block: its activations are 0, so its weights do not matter) */
                const __m512i wq = two ? load2x32(wb + 2, wb + bsize + 2)
                                       : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(wb + 2)));
                P[j] = _mm512_dpbusd_epi32(xp[p].negsum, _mm512_xor_si512(wq, _mm512_set1_epi8(-128)), xp[p].q);
            }
        }
        const __m512 s = _mm512_cvtepi32_ps(block_sums8(P, q4));
        /* (scalar loads of the scales run on the integer side, beside the vector work: cheaper
         * here than a 16-lane gather) */
        const __m512 dw = q4 ? wscales8(base, off, b, bsize, two)
                             : _mm512_cvtph_ps(_mm256_set_epi64x((long long)sd[3], (long long)sd[2], (long long)sd[1], (long long)sd[0]));
        const __m512 d = _mm512_mul_ps(dw, dpair(xp[p].d0, xp[p].d1));
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
#ifndef R16_PF
#define R16_PF 8 /* blocks ahead that the R16 kernels prefetch */
#endif
_Static_assert(GEMM_TT == R1C_QGEMM_TT, "token tiles start at the activation groups");
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

/* Where a tile's weights come from: a panel packed per call (above), or weights stored
 * row-interleaved at load (quant.h's R16 layout: f16 scales first, Q4_0 as nibbles). */
enum { SRC_PANEL, SRC_R16_Q8, SRC_R16_Q4 };

/* block b's eight weight vectors (four-byte groups g, unsigned) and 16 row scales */
static inline __attribute__((always_inline)) __m512 tile_weights(const uint8_t *pb, int src, __m512i W[8]) {
    if (src == SRC_PANEL) {
        for (int g = 0; g < 8; g++) W[g] = _mm512_load_si512((const void *)(pb + 64 * g));
        return _mm512_load_ps((const float *)(pb + 8 * 64));
    }
    if (src == SRC_R16_Q4) {
        const __m512i m = _mm512_set1_epi8(0x0f);
        for (int v = 0; v < 4; v++) {
            const __m512i q = _mm512_loadu_si512((const void *)(pb + 32 + 64 * v));
            W[v] = _mm512_and_si512(q, m);
            W[4 + v] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m);
        }
    } else {
        for (int g = 0; g < 8; g++) W[g] = _mm512_loadu_si512((const void *)(pb + 32 + 64 * g));
    }
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
}

static inline __attribute__((always_inline)) void gemm_tile(const uint8_t *panel, size_t bstride, int src,
                                                            const r1c_qgemm_act *x, int64_t t0, const int tt, int bias,
                                                            float *y, int64_t ldy, __mmask16 rows) {
    const int64_t nb = x->nb;
    const uint8_t *xt = x->tiles + (size_t)(t0 / R1C_QGEMM_TT) * (size_t)nb * R1C_QGEMM_TILE_BYTES; /* t0: a multiple of 8 */
    __m512 Y[GEMM_TT];
    for (int t = 0; t < tt; t++) Y[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i W[8];
        if (src != SRC_PANEL) /* weights straight from memory: ahead of the prefetchers, as matvec does */
            for (size_t o = 0; o < bstride; o += 64) _mm_prefetch((const char *)panel + (size_t)(b + R16_PF) * bstride + o, _MM_HINT_T0);
        const __m512 dw = tile_weights(panel + (size_t)b * bstride, src, W);
        const uint8_t *xb = xt + (size_t)b * R1C_QGEMM_TILE_BYTES;
        const float *xd = (const float *)(xb + 32 * R1C_QGEMM_TT);
        const int32_t *xs = (const int32_t *)(xb + 36 * R1C_QGEMM_TT);
        for (int t = 0; t < tt; t++) {
            const int32_t *xg = (const int32_t *)(xb + 32 * t);
            /* two chains (integer sums: exact in any order); |sum| <= 32 x 128 */
            __m512i acc = _mm512_set1_epi32(-bias * xs[t]), acc1 = _mm512_setzero_si512();
            for (int g = 0; g < 8; g += 2) {
                acc = _mm512_dpbusd_epi32(acc, W[g], _mm512_set1_epi32(xg[g]));
                acc1 = _mm512_dpbusd_epi32(acc1, W[g + 1], _mm512_set1_epi32(xg[g + 1]));
            }
            acc = _mm512_add_epi32(acc, acc1);
            const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xd[t]));
            Y[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), d, Y[t]);
        }
    }
    for (int t = 0; t < tt; t++) _mm512_mask_storeu_ps(y + (t0 + t) * ldy, rows, Y[t]);
}

/* token tiles t0 = from, from + n, ... below to, then the remainder (1..n-1 tokens) as a
 * constant, so each tile size compiles to its own unrolled code; call(tt) sees t0 */
#define TILE_SWITCH(from, to, n, call)                                                                   \
    do {                                                                                                 \
        int64_t t0 = (from);                                                                             \
        for (; t0 + (n) <= (to); t0 += (n)) call(n);                                                     \
        switch ((to) - t0) {                                                                             \
        case 7: call(7); break;                                                                          \
        case 6: call(6); break;                                                                          \
        case 5: call(5); break;                                                                          \
        case 4: call(4); break;                                                                          \
        case 3: call(3); break;                                                                          \
        case 2: call(2); break;                                                                          \
        case 1: call(1); break;                                                                          \
        default: break;                                                                                  \
        }                                                                                                \
    } while (0)

/* Cache blocking: every panel of the call is packed first (the weights are read from memory
 * once), then tokens go in blocks of about 256 KB of activations (kept in L2) across all the
 * panels. */
#define GEMM_X_BYTES (256 << 10)

static void gemm_q_0(int q4, const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    const int64_t nb = x->nb, np = (n + 15) / 16;
    const int bias = q4 ? 8 : 128;
    const size_t pbytes = (size_t)(nb > 0 ? nb : 1) * PANEL_BLOCK;
    uint8_t *panels = aligned_alloc(64, pbytes * (size_t)(np > 0 ? np : 1));
    if (!panels) { /* no memory: NaN, never silent numbers (ops.c does the same) */
        for (int t = 0; t < x->T; t++)
            for (int64_t r = 0; r < n; r++) y[t * ldy + r] = __builtin_nanf("");
        return;
    }
    for (int64_t p = 0; p < np; p++) {
        const int nr = n - 16 * p < 16 ? (int)(n - 16 * p) : 16;
        pack_panel(q4, (const uint8_t *)w + (size_t)(16 * p) * rb, rb, nr, nb, panels + (size_t)p * pbytes);
    }
    int64_t tb = x->k > 0 ? GEMM_X_BYTES / x->k : x->T;
    tb = tb < GEMM_TT ? GEMM_TT : tb / GEMM_TT * GEMM_TT;
    for (int64_t tb0 = 0; tb0 < x->T; tb0 += tb) {
        const int64_t tb1 = tb0 + tb < x->T ? tb0 + tb : x->T;
        for (int64_t p = 0; p < np; p++) {
            const int nr = n - 16 * p < 16 ? (int)(n - 16 * p) : 16;
            const __mmask16 rows = (__mmask16)((1u << nr) - 1);
            const uint8_t *panel = panels + (size_t)p * pbytes;
            float *yp = y + 16 * p;
#define Q0_CALL(tt) gemm_tile(panel, PANEL_BLOCK, SRC_PANEL, x, t0, tt, bias, yp, ldy, rows)
            TILE_SWITCH(tb0, tb1, GEMM_TT, Q0_CALL);
#undef Q0_CALL
        }
    }
    free(panels);
}
static void gemm_q8_0(const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    gemm_q_0(0, w, rb, x, y, ldy, n);
}
static void gemm_q4_0(const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    gemm_q_0(1, w, rb, x, y, ldy, n);
}

/* ---------------------------------------------------------------- Q8_0, Q4_0 stored row-interleaved */

/* The GEMM straight from the stored layout: no packing per call. */
static inline __attribute__((always_inline)) void gemm_r16(int q4, const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    const int bias = q4 ? 8 : 128, src = q4 ? SRC_R16_Q4 : SRC_R16_Q8;
    const size_t bstride = 16 * (q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0));
    int64_t tb = x->k > 0 ? GEMM_X_BYTES / x->k : x->T;
    tb = tb < GEMM_TT ? GEMM_TT : tb / GEMM_TT * GEMM_TT;
    for (int64_t tb0 = 0; tb0 < x->T; tb0 += tb) {
        const int64_t tb1 = tb0 + tb < x->T ? tb0 + tb : x->T;
        for (int64_t p = 0; p < n / 16; p++) {
            const uint8_t *grp = (const uint8_t *)w + (size_t)(16 * p) * rb;
            float *yp = y + 16 * p;
#define R16_CALL(tt) gemm_tile(grp, bstride, src, x, t0, tt, bias, yp, ldy, 0xffff)
            TILE_SWITCH(tb0, tb1, GEMM_TT, R16_CALL);
#undef R16_CALL
        }
    }
}
static void gemm_q8_0_r16(const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    gemm_r16(0, w, rb, x, y, ldy, n);
}
static void gemm_q4_0_r16(const void *w, size_t rb, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n) {
    gemm_r16(1, w, rb, x, y, ldy, n);
}

/* The matrix-vector product: per block, the activations' eight four-byte groups broadcast once
 * and used by S groups of 16 rows (S streams n/S rows apart for the prefetchers); a group's
 * block is 8 vpdpbusd in two chains, the exact sums of its 16 rows, then one convert and fma. */
static inline __attribute__((always_inline)) void r16_block(const uint8_t *pb, int q4, const __m512i X[8], __m512i negsum,
                                                            __m512 dx, __m512 *acc) {
    __m512i a0 = negsum, a1 = _mm512_setzero_si512();
    if (q4) {
        const __m512i m = _mm512_set1_epi8(0x0f);
        for (int v = 0; v < 4; v++) {
            const __m512i q = _mm512_loadu_si512((const void *)(pb + 32 + 64 * v));
            a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(q, m), X[v]);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(q, 4), m), X[4 + v]);
        }
    } else {
        for (int g = 0; g < 8; g += 2) {
            a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512((const void *)(pb + 32 + 64 * g)), X[g]);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512((const void *)(pb + 96 + 64 * g)), X[g + 1]);
        }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)pb));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a0, a1)), _mm512_mul_ps(dw, dx), *acc);
}

static inline __attribute__((always_inline)) void r16_groups(const uint8_t *w, size_t gstride, const int S,
                                                             const r1c_block_q8_0 *x, const int32_t *negsum,
                                                             const float *xd, int64_t nb, int q4, float *y,
                                                             int64_t ystride) {
    const size_t bstride = 16 * (q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0));
    __m512 acc[4];
    for (int s = 0; s < S; s++) acc[s] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i X[8];
        for (int g = 0; g < 8; g++) {
            int32_t v;
            memcpy(&v, x[b].qs + 4 * g, 4);
            X[g] = _mm512_set1_epi32(v);
        }
        const __m512i ns = _mm512_set1_epi32(negsum[b]);
        const __m512 dx = _mm512_set1_ps(xd[b]);
        for (int s = 0; s < S; s++) {
            const uint8_t *pf = w + (size_t)s * gstride + (size_t)(b + R16_PF) * bstride;
            for (size_t o = 0; o < bstride; o += 64) _mm_prefetch((const char *)pf + o, _MM_HINT_T0);
            r16_block(w + (size_t)s * gstride + (size_t)b * bstride, q4, X, ns, dx, &acc[s]);
        }
    }
    for (int s = 0; s < S; s++) _mm512_storeu_ps(y + s * ystride, acc[s]);
}

#define R16_STACK_BLOCKS 1024

static inline __attribute__((always_inline)) void matvec_r16(int q4, const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nb = k / 32;
    const r1c_block_q8_0 *x = xq;
    int32_t ns_stack[R16_STACK_BLOCKS];
    float xd_stack[R16_STACK_BLOCKS];
    int32_t *negsum = ns_stack;
    float *xd = xd_stack;
    void *heap = NULL;
    if (nb > R16_STACK_BLOCKS) {
        heap = malloc((sizeof(int32_t) + sizeof(float)) * (size_t)nb);
        if (!heap) {
            for (int64_t r = 0; r < n; r++) y[r] = __builtin_nanf("");
            return;
        }
        negsum = heap;
        xd = (float *)(negsum + nb);
    }
    const int bias = q4 ? 8 : 128;
    for (int64_t b = 0; b < nb; b++) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += x[b].qs[i];
        negsum[b] = -bias * s;
        xd[b] = f16(x[b].d);
    }
    const int64_t np = n / 16, Q = np / 4;
    const size_t gb = 16 * rb;
    const uint8_t *W = w;
    for (int64_t p = 0; p < Q; p++) r16_groups(W + (size_t)p * gb, (size_t)Q * gb, 4, x, negsum, xd, nb, q4, y + 16 * p, 16 * Q);
    for (int64_t p = 4 * Q; p < np; p++) r16_groups(W + (size_t)p * gb, 0, 1, x, negsum, xd, nb, q4, y + 16 * p, 0);
    free(heap);
}
static void matvec_q8_0_r16(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    matvec_r16(0, w, rb, xq, y, k, n);
}
static void matvec_q4_0_r16(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    matvec_r16(1, w, rb, xq, y, k, n);
}

/* ---------------------------------------------------------------- Q4_K, Q6_K matvec (decode) */

/* Four rows at a time (n/4 apart: four long streams), each super-block's integers reduced
 * lane-wise per row, the four rows' totals gathered into one xmm for the float step (quant.h's,
 * element-wise). The activations are prepared once per call. */

/* Q4_K: 128 bytes of nibbles as two zmm: bytes 0-31 hold sub-blocks 0 (low nibbles) and 1
 * (high), 32-63 sub-blocks 2 and 3, and so on; the activations are laid out to match (xl0 =
 * elements 0-31 and 64-95, xh0 = 32-63 and 96-127, xl1, xh1 the same for 128-255). */
typedef struct xk4 {
    __m512i xl0, xh0, xl1, xh1;
    __m128i bs2; /* activation sums of sub-blocks 0..7 as int16 */
    float d;
} xk4;

typedef struct xk6 {
    __m256i bs; /* the 16 bsums, int16 */
    float d;
} xk6;

#define XK_STACK 64 /* super-blocks prepared on the stack (k <= 16384); more go on the heap */

static void prep_q4_K(const uint8_t *x, int64_t nsb, xk4 *xp) {
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *xb = x + (size_t)B * sizeof(r1c_block_q8_K);
        const uint8_t *q = xb + offsetof(r1c_block_q8_K, qs);
        const __m256i c0 = _mm256_loadu_si256((const __m256i *)q), c1 = _mm256_loadu_si256((const __m256i *)(q + 32));
        const __m256i c2 = _mm256_loadu_si256((const __m256i *)(q + 64)), c3 = _mm256_loadu_si256((const __m256i *)(q + 96));
        const __m256i c4 = _mm256_loadu_si256((const __m256i *)(q + 128)), c5 = _mm256_loadu_si256((const __m256i *)(q + 160));
        const __m256i c6 = _mm256_loadu_si256((const __m256i *)(q + 192)), c7 = _mm256_loadu_si256((const __m256i *)(q + 224));
        xp[B].xl0 = _mm512_inserti64x4(_mm512_castsi256_si512(c0), c2, 1);
        xp[B].xh0 = _mm512_inserti64x4(_mm512_castsi256_si512(c1), c3, 1);
        xp[B].xl1 = _mm512_inserti64x4(_mm512_castsi256_si512(c4), c6, 1);
        xp[B].xh1 = _mm512_inserti64x4(_mm512_castsi256_si512(c5), c7, 1);
        int16_t bs[16], b2[8];
        memcpy(bs, xb + offsetof(r1c_block_q8_K, bsums), sizeof bs);
        for (int s = 0; s < 8; s++) b2[s] = (int16_t)(bs[2 * s] + bs[2 * s + 1]);
        xp[B].bs2 = _mm_loadu_si128((const __m128i *)b2);
        memcpy(&xp[B].d, xb, 4);
    }
}

/* lane r of the result = the sum of the lanes of v[r] (integers: exact) */
static inline __m128i hsum4_epi32(__m512i v0, __m512i v1, __m512i v2, __m512i v3) {
#define R8(v) _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))
#define R4(v) _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1))
    const __m128i a = R4(R8(v0)), b = R4(R8(v1)), c = R4(R8(v2)), d = R4(R8(v3));
#undef R8
#undef R4
    return _mm_hadd_epi32(_mm_hadd_epi32(a, b), _mm_hadd_epi32(c, d));
}


#ifndef Q4K_PF
#define Q4K_PF 1024 /* software prefetch distance (bytes ahead in each row) */
#endif
static inline __attribute__((always_inline)) void q4_K_rows4(const uint8_t *const wr[4], const xk4 *xp, int64_t nsb,
                                                              float out[4]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    /* vpshufb patterns: the eight int16 scales sit in every 128-bit lane; lanes 0-1 (int16
     * 0-15) take scale lo, lanes 2-3 take hi (d0: subs 0 | 2, d1: 1 | 3, ...) */
#define W2(s) (char)(2 * (s) + 1), (char)(2 * (s)) /* (set_epi8 lists bytes from the top) */
#define L8(s) W2(s), W2(s), W2(s), W2(s), W2(s), W2(s), W2(s), W2(s)
#define SI(lo, hi) _mm512_set_epi8(L8(hi), L8(hi), L8(lo), L8(lo))
    const __m512i i01 = SI(0, 2), i23 = SI(1, 3), i45 = SI(4, 6), i67 = SI(5, 7);
#undef SI
#undef L8
#undef W2
    const __m128i kshift = _mm_setr_epi32(0, 0, 0, 4);
    const __m128i kmask = _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f);
    const __m128i k3v = _mm_set1_epi32(0x03030303), khi = _mm_setr_epi32(0, -1, 0, -1);
    __m128 acc = _mm_setzero_ps();
    for (int64_t B = 0; B < nsb; B++) {
        const xk4 *x = &xp[B];
        __m512i vs[4];
        __m128i vm[4];
        uint64_t dq = 0, mq = 0; /* the rows' f16 d and dmin, 16 bits each */
        for (int r = 0; r < 4; r++) {
            const uint8_t *blk = wr[r] + (size_t)B * sizeof(r1c_block_q4_K);
            _mm_prefetch((const char *)(blk + Q4K_PF), _MM_HINT_T0);
            _mm_prefetch((const char *)(blk + Q4K_PF + 64), _MM_HINT_T0);
            _mm_prefetch((const char *)(blk + Q4K_PF + 128), _MM_HINT_T0);
            uint32_t dd2;
            memcpy(&dd2, blk, 4);
            dq |= (uint64_t)(dd2 & 0xffff) << (16 * r);
            mq |= (uint64_t)(dd2 >> 16) << (16 * r);
            /* the 6-bit scales and mins (llama.cpp's packing) in vector lanes: dwords
             * [s_lo, s_hi, m_lo, m_hi] from the 12 bytes u0 u1 u2 (the load's last 4 bytes,
             * quants, are not used) */
            const __m128i u = _mm_loadu_si128((const __m128i *)(blk + 4));
            const __m128i X = _mm_srlv_epi32(_mm_shuffle_epi32(u, _MM_SHUFFLE(2, 1, 2, 0)), kshift); /* u0 u2 u1 u2>>4 */
            const __m128i Y = _mm_shuffle_epi32(u, _MM_SHUFFLE(1, 1, 0, 0));                        /* u0 u0 u1 u1 */
            const __m128i smq = _mm_or_si128(_mm_and_si128(X, kmask),
                                             _mm_and_si128(_mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(Y, 6), k3v), 4), khi));
            const __m512i z0 = _mm512_loadu_si512((const void *)(blk + 16)), z1 = _mm512_loadu_si512((const void *)(blk + 80));
            /* nibbles x activations into int16 pairs (at most 2 x 15 x 128: exact), then x the
             * sub-block's scale into int32 (vpmaddwd) */
            const __m512i sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(smq));
            const __m512i p0 = _mm512_maddubs_epi16(_mm512_and_si512(z0, m4), x->xl0);
            const __m512i p1 = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(z0, 4), m4), x->xh0);
            const __m512i p2 = _mm512_maddubs_epi16(_mm512_and_si512(z1, m4), x->xl1);
            const __m512i p3 = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(z1, 4), m4), x->xh1);
            vs[r] = _mm512_add_epi32(_mm512_add_epi32(_mm512_madd_epi16(p0, _mm512_shuffle_epi8(sc16, i01)),
                                                      _mm512_madd_epi16(p1, _mm512_shuffle_epi8(sc16, i23))),
                                     _mm512_add_epi32(_mm512_madd_epi16(p2, _mm512_shuffle_epi8(sc16, i45)),
                                                      _mm512_madd_epi16(p3, _mm512_shuffle_epi8(sc16, i67))));
            vm[r] = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(smq, 8)), x->bs2);
        }
        const __m128i sumi = hsum4_epi32(vs[0], vs[1], vs[2], vs[3]);
        const __m128i summ = _mm_hadd_epi32(_mm_hadd_epi32(vm[0], vm[1]), _mm_hadd_epi32(vm[2], vm[3]));
        const __m256 dd = _mm256_cvtph_ps(_mm_set_epi64x((long long)mq, (long long)dq)); /* d x4, dmin x4 */
        const __m128 vxd = _mm_set1_ps(x->d);
        const __m128 a = _mm_mul_ps(_mm256_castps256_ps128(dd), vxd), b = _mm_mul_ps(_mm256_extractf128_ps(dd, 1), vxd);
        acc = _mm_add_ps(acc, _mm_fmsub_ps(a, _mm_cvtepi32_ps(sumi), _mm_mul_ps(b, _mm_cvtepi32_ps(summ))));
    }
    _mm_storeu_ps(out, acc);
}

static inline __attribute__((always_inline)) void q6_K_rows4(const uint8_t *const wr[4], const uint8_t *xq,
                                                              const xk6 *xp, int64_t nsb, float out[4]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);
    /* vpshufb patterns: with a half's eight int16 scales in every 128-bit lane, lane j (8 int16
     * pair sums = one 16-element sub-block) takes scale j (qa) or 4 + j (qb) */
#define W2(s) (char)(2 * (s) + 1), (char)(2 * (s)) /* (set_epi8 lists bytes from the top) */
#define L8(s) W2(s), W2(s), W2(s), W2(s), W2(s), W2(s), W2(s), W2(s)
    const __m512i pa = _mm512_set_epi8(L8(3), L8(2), L8(1), L8(0)), pb = _mm512_set_epi8(L8(7), L8(6), L8(5), L8(4));
#undef L8
#undef W2
    __m128 acc = _mm_setzero_ps();
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *xb = xq + (size_t)B * sizeof(r1c_block_q8_K) + offsetof(r1c_block_q8_K, qs);
        const __m512i x0 = _mm512_loadu_si512((const void *)xb), x1 = _mm512_loadu_si512((const void *)(xb + 64));
        const __m512i x2 = _mm512_loadu_si512((const void *)(xb + 128)), x3 = _mm512_loadu_si512((const void *)(xb + 192));
        __m512i vs[4];
        uint64_t dq = 0;
        for (int r = 0; r < 4; r++) {
            const uint8_t *blk = wr[r] + (size_t)B * sizeof(r1c_block_q6_K);
            uint16_t d16;
            memcpy(&d16, blk + offsetof(r1c_block_q6_K, d), 2);
            dq |= (uint64_t)d16 << (16 * r);
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + offsetof(r1c_block_q6_K, scales))));
            __m512i v = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) {
                const __m512i ql = _mm512_loadu_si512((const void *)(blk + 64 * h));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
                const __m512i hb = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                const __m512i hb2 = _mm512_srli_epi16(hb, 4);
                const __m512i qa = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(hb, m3), 4));
                const __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                   _mm512_slli_epi16(_mm512_and_si512(hb2, m3), 4));
                /* sub-blocks 8h + 0..3 (qa) and 8h + 4..7 (qb) */
                const __m512i sch = _mm512_broadcast_i32x4(h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16));
                const __m512i sa = _mm512_shuffle_epi8(sch, pa), sb = _mm512_shuffle_epi8(sch, pb);
                v = _mm512_add_epi32(v, _mm512_madd_epi16(_mm512_maddubs_epi16(qa, h ? x2 : x0), sa));
                v = _mm512_add_epi32(v, _mm512_madd_epi16(_mm512_maddubs_epi16(qb, h ? x3 : x1), sb));
            }
            /* the -32 offset: -32 x sum of sc_s x bsum_s */
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, xp[B].bs), 5);
            vs[r] = _mm512_sub_epi32(v, _mm512_zextsi256_si512(corr));
        }
        const __m128i sumi = hsum4_epi32(vs[0], vs[1], vs[2], vs[3]);
        const __m128 d = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dq));
        const __m128 a = _mm_mul_ps(d, _mm_set1_ps(xp[B].d));
        acc = _mm_add_ps(acc, _mm_mul_ps(a, _mm_cvtepi32_ps(sumi)));
    }
    _mm_storeu_ps(out, acc);
}

static void matvec_kq(int six, const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    _Alignas(64) xk4 s4[six ? 1 : XK_STACK];
    _Alignas(64) xk6 s6[six ? XK_STACK : 1];
    void *heap = NULL;
    xk4 *x4 = s4;
    xk6 *x6 = s6;
    if (nsb > XK_STACK) {
        heap = aligned_alloc(64, ((size_t)nsb * (six ? sizeof(xk6) : sizeof(xk4)) + 63) & ~(size_t)63);
        if (!heap) {
            for (int64_t r = 0; r < n; r++) y[r] = r1c_quant_dot(six ? R1C_Q6_K : R1C_Q4_K, (const uint8_t *)w + (size_t)r * rb, xq, k);
            return;
        }
        if (six) x6 = heap;
        else x4 = heap;
    }
    if (six) {
        for (int64_t B = 0; B < nsb; B++) {
            const uint8_t *xb = (const uint8_t *)xq + (size_t)B * sizeof(r1c_block_q8_K);
            x6[B].bs = _mm256_loadu_si256((const __m256i *)(xb + offsetof(r1c_block_q8_K, bsums)));
            memcpy(&x6[B].d, xb, 4);
        }
    } else {
        prep_q4_K(xq, nsb, x4);
    }
    const int64_t S = n / 4;
    const uint8_t *wb = w;
    const uint8_t *wr[4];
    float out[4];
    for (int64_t r = 0; r < S; r++) { /* rows r, r + S, r + 2S, r + 3S */
        for (int j = 0; j < 4; j++) wr[j] = wb + (size_t)(r + j * S) * rb;
        if (six) q6_K_rows4(wr, xq, x6, nsb, out);
        else q4_K_rows4(wr, x4, nsb, out);
        for (int j = 0; j < 4; j++) y[r + j * S] = out[j];
    }
    for (int64_t r = 4 * S; r < n; r++) { /* the last n % 4 rows, one at a time */
        for (int j = 0; j < 4; j++) wr[j] = wb + (size_t)r * rb;
        if (six) q6_K_rows4(wr, xq, x6, nsb, out);
        else q4_K_rows4(wr, x4, nsb, out);
        y[r] = out[0];
    }
    free(heap);
}

static void matvec_q4_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    matvec_kq(0, w, rb, xq, y, k, n);
}
static void matvec_q6_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    matvec_kq(1, w, rb, xq, y, k, n);
}

/* ---------------------------------------------------------------- Q4_K, Q6_K GEMM (prefill) */

/* The same scheme as Q8_0 / Q4_0 above: 16 rows in lanes, panels of unsigned weight bytes
 * packed once per call, each token's 4-byte activation groups broadcast. Per super-block and
 * token the integers come out exactly as quant.h defines them, lane-wise:
 *  Q4_K: per sub-block s (32 elements, 8 vpdpbusd of the nibbles 0..15) the sum sq_s;
 *    sumi = sum of sc_s x sq_s (vpmulld), summ = sum of mn_s x (activation sum of s), as
 *    vpdpwssd of the mins in int16 pairs with the pairs of activation sums; then
 *    c = fma(a, sumi, -(b x summ)), y = y + c.
 *  Q6_K: per sub-block s (16 elements, 4 vpdpbusd of q + 32 in 0..63, started from -32 x the
 *    activation sum of s), sumi = sum of sc_s x that (vpmulld); y = y + a x sumi.
 * Register tile: 16 rows x 8 tokens. */
#define KT 8
_Static_assert(GEMM_TT == 8 && KT == 8, "TILE_SWITCH spells out remainders 1..7");
#define Q4K_PANEL (8 * 8 * 64 + 8 * 64 + 4 * 64 + 2 * 64) /* W, sc, min pairs, d, dmin */
#define Q6K_PANEL (16 * 4 * 64 + 16 * 64 + 64)            /* W, sc, d */

/* 16 rows of 256 unsigned bytes -> pw[16 g + i] = bytes 4g..4g+3 of row i (rows into lanes):
 * four 16 x 16 transposes of 32-bit words (unpack 32, unpack 64, then two 128-bit shuffles). */
static inline void rows_to_lanes(const uint8_t (*q)[R1C_QK_K], uint32_t *pw) {
    for (int c = 0; c < 4; c++) {
        __m512i v[16], t[16];
        for (int r = 0; r < 16; r++) v[r] = _mm512_load_si512((const void *)(q[r] + 64 * c));
        for (int r = 0; r < 16; r += 2) {
            t[r] = _mm512_unpacklo_epi32(v[r], v[r + 1]);
            t[r + 1] = _mm512_unpackhi_epi32(v[r], v[r + 1]);
        }
        /* rows 4b..4b+3: u[4b + j] holds column j + 4 m in 128-bit lane m */
        for (int b = 0; b < 4; b++) {
            const __m512i *s = t + 4 * b;
            v[4 * b + 0] = _mm512_unpacklo_epi64(s[0], s[2]);
            v[4 * b + 1] = _mm512_unpackhi_epi64(s[0], s[2]);
            v[4 * b + 2] = _mm512_unpacklo_epi64(s[1], s[3]);
            v[4 * b + 3] = _mm512_unpackhi_epi64(s[1], s[3]);
        }
        for (int j = 0; j < 4; j++) {
            const __m512i a02 = _mm512_shuffle_i32x4(v[j], v[4 + j], 0x88), a13 = _mm512_shuffle_i32x4(v[j], v[4 + j], 0xDD);
            const __m512i b02 = _mm512_shuffle_i32x4(v[8 + j], v[12 + j], 0x88), b13 = _mm512_shuffle_i32x4(v[8 + j], v[12 + j], 0xDD);
            const int g = 16 * c + j;
            _mm512_store_si512((void *)(pw + 16 * (g + 0)), _mm512_shuffle_i32x4(a02, b02, 0x88));
            _mm512_store_si512((void *)(pw + 16 * (g + 8)), _mm512_shuffle_i32x4(a02, b02, 0xDD));
            _mm512_store_si512((void *)(pw + 16 * (g + 4)), _mm512_shuffle_i32x4(a13, b13, 0x88));
            _mm512_store_si512((void *)(pw + 16 * (g + 12)), _mm512_shuffle_i32x4(a13, b13, 0xDD));
        }
    }
}

/* Q4_K: element 64j + l (l < 32) is the low nibble of qs[32j + l], 64j + 32 + l its high one */
static inline void q4_K_row_ints(const uint8_t *qs, uint8_t *u) {
    const __m512i m = _mm512_set1_epi8(0x0f);
    for (int h = 0; h < 2; h++) {
        const __m512i z = _mm512_loadu_si512((const void *)(qs + 64 * h));
        const __m512i lo = _mm512_and_si512(z, m), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m);
        _mm512_store_si512((void *)(u + 128 * h), _mm512_shuffle_i64x2(lo, hi, 0x44));
        _mm512_store_si512((void *)(u + 128 * h + 64), _mm512_shuffle_i64x2(lo, hi, 0xEE));
    }
}

static void pack_q4_K(const uint8_t *w, size_t rb, int nr, int64_t nsb, uint8_t *panel) {
    _Alignas(64) uint8_t q[16][R1C_QK_K];
    for (int64_t B = 0; B < nsb; B++) {
        uint8_t *p = panel + (size_t)B * Q4K_PANEL;
        int32_t *psc = (int32_t *)(p + 4096), *pmn = (int32_t *)(p + 4096 + 512);
        float *pd = (float *)(p + 4096 + 512 + 256), *pdm = pd + 16;
        for (int i = 0; i < 16; i++) {
            uint8_t sc[8] = {0}, mn[8] = {0};
            uint16_t d = 0, dm = 0;
            if (i < nr) {
                const uint8_t *blk = w + (size_t)i * rb + (size_t)B * sizeof(r1c_block_q4_K), *k = blk + 4;
                q4_K_row_ints(blk + 16, q[i]);
                for (int j = 0; j < 8; j++) { /* llama.cpp's get_scale_min_k4 */
                    sc[j] = j < 4 ? k[j] & 63 : (uint8_t)((k[j + 4] & 0xF) | ((k[j - 4] >> 6) << 4));
                    mn[j] = j < 4 ? k[j + 4] & 63 : (uint8_t)((k[j + 4] >> 4) | ((k[j] >> 6) << 4));
                }
                memcpy(&d, blk, 2);
                memcpy(&dm, blk + 2, 2);
            } else {
                memset(q[i], 0, R1C_QK_K);
            }
            for (int s = 0; s < 8; s++) psc[16 * s + i] = sc[s];
            for (int pr = 0; pr < 4; pr++) pmn[16 * pr + i] = (int32_t)((uint32_t)mn[2 * pr] | ((uint32_t)mn[2 * pr + 1] << 16));
            pd[i] = f16(d);
            pdm[i] = f16(dm);
        }
        rows_to_lanes((const uint8_t(*)[R1C_QK_K])q, (uint32_t *)p);
    }
}

static inline __attribute__((always_inline)) void q4_K_tile(const uint8_t *panel, int64_t nsb, const uint8_t *xq,
                                                             size_t xrb, const int32_t *xs2, const int tt, float *y,
                                                             int64_t ldy, __mmask16 rows) {
    __m512 Y[KT];
    for (int t = 0; t < tt; t++) Y[t] = _mm512_setzero_ps();
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *p = panel + (size_t)B * Q4K_PANEL;
        __m512i sumi[KT];
        for (int t = 0; t < tt; t++) sumi[t] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            __m512i W[8];
            for (int g = 0; g < 8; g++) W[g] = _mm512_load_si512((const void *)(p + 64 * (8 * s + g)));
            const __m512i sc = _mm512_load_si512((const void *)(p + 4096 + 64 * s));
            for (int t = 0; t < tt; t++) {
                const int32_t *xg = (const int32_t *)(xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K) + 4 + 32 * s);
                __m512i acc = _mm512_setzero_si512();
                for (int g = 0; g < 8; g++) acc = _mm512_dpbusd_epi32(acc, W[g], _mm512_set1_epi32(xg[g]));
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(acc, sc));
            }
        }
        const __m512 d = _mm512_load_ps((const float *)(p + 4096 + 512 + 256));
        const __m512 dm = _mm512_load_ps((const float *)(p + 4096 + 512 + 256 + 64));
        for (int t = 0; t < tt; t++) {
            const uint8_t *xb = xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K);
            const int32_t *s2 = xs2 + ((size_t)t * nsb + B) * 4;
            __m512i summ = _mm512_setzero_si512();
            for (int pr = 0; pr < 4; pr++)
                summ = _mm512_dpwssd_epi32(summ, _mm512_load_si512((const void *)(p + 4096 + 512 + 64 * pr)),
                                           _mm512_set1_epi32(s2[pr]));
            float xd;
            memcpy(&xd, xb, 4);
            const __m512 vxd = _mm512_set1_ps(xd);
            const __m512 a = _mm512_mul_ps(d, vxd), b = _mm512_mul_ps(dm, vxd);
            const __m512 c = _mm512_fmsub_ps(a, _mm512_cvtepi32_ps(sumi[t]), _mm512_mul_ps(b, _mm512_cvtepi32_ps(summ)));
            Y[t] = _mm512_add_ps(Y[t], c);
        }
    }
    for (int t = 0; t < tt; t++) _mm512_mask_storeu_ps(y + t * ldy, rows, Y[t]);
}

/* Q6_K as unsigned q + 32 (6 bits): per 128-element half, ql[l] / ql[l + 32] hold the low 4
 * bits of l, l + 32 (low nibbles) and l + 64, l + 96 (high), qh[l] their top 2 bits in pairs */
static inline void q6_K_row_ints(const uint8_t *blk, uint8_t *u) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = blk + 64 * h, *qh = blk + offsetof(r1c_block_q6_K, qh) + 32 * h;
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
#define TOP(sh) _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, sh), m2), 4)
        _mm256_store_si256((__m256i *)(u + 128 * h), _mm256_or_si256(_mm256_and_si256(l0, m4), TOP(0)));
        _mm256_store_si256((__m256i *)(u + 128 * h + 32), _mm256_or_si256(_mm256_and_si256(l1, m4), TOP(2)));
        _mm256_store_si256((__m256i *)(u + 128 * h + 64), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), TOP(4)));
        _mm256_store_si256((__m256i *)(u + 128 * h + 96), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), TOP(6)));
#undef TOP
    }
}

/* pf: the next panel's rows (NULL: none): their super-block B is prefetched while B is packed,
 * so the 16 row streams (row_bytes apart) come in ahead of the packing that needs them */
static void pack_q6_K(const uint8_t *w, size_t rb, int nr, int64_t nsb, uint8_t *panel, const uint8_t *pf) {
    _Alignas(64) uint8_t q[16][R1C_QK_K];
    for (int64_t B = 0; B < nsb; B++) {
        if (pf)
            for (int i = 0; i < 16; i++)
                for (size_t o = 0; o < sizeof(r1c_block_q6_K); o += 64)
                    _mm_prefetch((const char *)pf + (size_t)i * rb + (size_t)B * sizeof(r1c_block_q6_K) + o, _MM_HINT_T0);
        uint8_t *p = panel + (size_t)B * Q6K_PANEL;
        int32_t *psc = (int32_t *)(p + 4096);
        float *pd = (float *)(p + 4096 + 1024);
        for (int i = 0; i < 16; i++) {
            int8_t sc[16] = {0};
            uint16_t d = 0;
            if (i < nr) {
                const uint8_t *blk = w + (size_t)i * rb + (size_t)B * sizeof(r1c_block_q6_K);
                q6_K_row_ints(blk, q[i]);
                memcpy(sc, blk + offsetof(r1c_block_q6_K, scales), 16);
                memcpy(&d, blk + offsetof(r1c_block_q6_K, d), 2);
            } else {
                memset(q[i], 0, R1C_QK_K);
            }
            for (int s = 0; s < 16; s++) psc[16 * s + i] = sc[s];
            pd[i] = f16(d);
        }
        rows_to_lanes((const uint8_t(*)[R1C_QK_K])q, (uint32_t *)p);
    }
}

static inline __attribute__((always_inline)) void q6_K_tile(const uint8_t *panel, int64_t nsb, const uint8_t *xq,
                                                             size_t xrb, const int tt, float *y, int64_t ldy,
                                                             __mmask16 rows) {
    __m512 Y[KT];
    for (int t = 0; t < tt; t++) Y[t] = _mm512_setzero_ps();
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *p = panel + (size_t)B * Q6K_PANEL;
        __m512i sumi[KT];
        for (int t = 0; t < tt; t++) sumi[t] = _mm512_setzero_si512();
        for (int s2 = 0; s2 < 8; s2++) { /* two sub-blocks (8 weight vectors) at a time */
            __m512i W[8];
            for (int g = 0; g < 8; g++) W[g] = _mm512_load_si512((const void *)(p + 64 * (8 * s2 + g)));
            const __m512i sc0 = _mm512_load_si512((const void *)(p + 4096 + 64 * (2 * s2)));
            const __m512i sc1 = _mm512_load_si512((const void *)(p + 4096 + 64 * (2 * s2 + 1)));
            for (int t = 0; t < tt; t++) {
                const uint8_t *xb = xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K);
                const int32_t *xg = (const int32_t *)(xb + 4 + 32 * s2);
                int16_t bs[2];
                memcpy(bs, xb + offsetof(r1c_block_q8_K, bsums) + 4 * s2, 4);
                __m512i a0 = _mm512_set1_epi32(-32 * bs[0]), a1 = _mm512_set1_epi32(-32 * bs[1]);
                for (int g = 0; g < 4; g++) a0 = _mm512_dpbusd_epi32(a0, W[g], _mm512_set1_epi32(xg[g]));
                for (int g = 4; g < 8; g++) a1 = _mm512_dpbusd_epi32(a1, W[g], _mm512_set1_epi32(xg[g]));
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_add_epi32(_mm512_mullo_epi32(a0, sc0), _mm512_mullo_epi32(a1, sc1)));
            }
        }
        const __m512 d = _mm512_load_ps((const float *)(p + 4096 + 1024));
        for (int t = 0; t < tt; t++) {
            float xd;
            memcpy(&xd, xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K), 4);
            const __m512 a = _mm512_mul_ps(d, _mm512_set1_ps(xd));
            Y[t] = _mm512_add_ps(Y[t], _mm512_mul_ps(a, _mm512_cvtepi32_ps(sumi[t])));
        }
    }
    for (int t = 0; t < tt; t++) _mm512_mask_storeu_ps(y + t * ldy, rows, Y[t]);
}


static void gemm_q4_K(const void *w, size_t rb, const void *xq, size_t xrb, int T, int64_t k, float *y, int64_t ldy,
                      int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    uint8_t *panel = aligned_alloc(64, (size_t)(nsb > 0 ? nsb : 1) * Q4K_PANEL);
    int32_t *xs2 = malloc(sizeof(int32_t) * 4 * (size_t)(nsb > 0 ? nsb : 1) * (size_t)T);
    if (!panel || !xs2) {
        for (int t = 0; t < T; t++)
            for (int64_t r = 0; r < n; r++) y[t * ldy + r] = __builtin_nanf("");
        free(panel);
        free(xs2);
        return;
    }
    /* per token and super-block: the activation sums of sub-blocks 2p and 2p+1 as an int16 pair */
    for (int t = 0; t < T; t++)
        for (int64_t B = 0; B < nsb; B++) {
            int16_t bs[16];
            memcpy(bs, (const uint8_t *)xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K) + offsetof(r1c_block_q8_K, bsums),
                   sizeof bs);
            for (int pr = 0; pr < 4; pr++) {
                const int32_t s0 = bs[4 * pr] + bs[4 * pr + 1], s1 = bs[4 * pr + 2] + bs[4 * pr + 3];
                xs2[((size_t)t * nsb + B) * 4 + pr] = (int32_t)((uint32_t)(uint16_t)s0 | ((uint32_t)(uint16_t)s1 << 16));
            }
        }
    for (int64_t r0 = 0; r0 < n; r0 += 16) {
        const int nr = n - r0 < 16 ? (int)(n - r0) : 16;
        const __mmask16 rows = (__mmask16)((1u << nr) - 1);
        pack_q4_K((const uint8_t *)w + (size_t)r0 * rb, rb, nr, nsb, panel);
#define Q4K_CALL(tt) q4_K_tile(panel, nsb, (const uint8_t *)xq + (size_t)t0 * xrb, xrb, xs2 + (size_t)t0 * nsb * 4, tt, y + t0 * ldy + r0, ldy, rows)
        TILE_SWITCH(0, T, KT, Q4K_CALL);
#undef Q4K_CALL
    }
    free(panel);
    free(xs2);
}

static void gemm_q6_K(const void *w, size_t rb, const void *xq, size_t xrb, int T, int64_t k, float *y, int64_t ldy,
                      int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    uint8_t *panel = aligned_alloc(64, (size_t)(nsb > 0 ? nsb : 1) * Q6K_PANEL);
    if (!panel) {
        for (int t = 0; t < T; t++)
            for (int64_t r = 0; r < n; r++) y[t * ldy + r] = __builtin_nanf("");
        return;
    }
    for (int64_t r0 = 0; r0 < n; r0 += 16) {
        const int nr = n - r0 < 16 ? (int)(n - r0) : 16;
        const __mmask16 rows = (__mmask16)((1u << nr) - 1);
        pack_q6_K((const uint8_t *)w + (size_t)r0 * rb, rb, nr, nsb, panel,
                  n - r0 >= 32 ? (const uint8_t *)w + (size_t)(r0 + 16) * rb : NULL);
#define Q6K_CALL(tt) q6_K_tile(panel, nsb, (const uint8_t *)xq + (size_t)t0 * xrb, xrb, tt, y + t0 * ldy + r0, ldy, rows)
        TILE_SWITCH(0, T, KT, Q6K_CALL);
#undef Q6K_CALL
    }
    free(panel);
}

/* ---------------------------------------------------------------- Q6_K stored row-interleaved */

/* Straight from quant.h's R16 layout: no packing per call. Sub-block pair p's eight weight
 * vectors (u = q + 32, the panels' groups 8p .. 8p + 7) come from the two planes: the nibble,
 * or-ed with its top two bits moved to bits 4-5 (16-bit shifts; the 0x30 mask keeps only each
 * byte's own bits). The integers and the float step are q6_K_tile's. */
#define Q6R_BYTES (16 * sizeof(r1c_block_q6_K)) /* a group's super-block */
#ifndef Q6R_S
#define Q6R_S 2 /* streams in the matrix-vector product (1.5B output head: 2 ~ plain rows4, 4 and 8 slower) */
#endif
#ifndef Q6R_PF
#define Q6R_PF 1
#endif
#define Q6R_DIRECT_T 16                         /* up to this many tokens: no panel at all */

static inline __attribute__((always_inline)) void q6r_weights(const uint8_t *pb, int p, __m512i W[8]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i H0 = _mm512_loadu_si512((const void *)(pb + R1C_Q6R_QH(p, 0)));
    const __m512i H1 = _mm512_loadu_si512((const void *)(pb + R1C_Q6R_QH(p, 1)));
    /* group g's top bits sit at bits 2g, 2g + 1: to bits 4, 5, masked; then
     * (nibble & 0x0f) | top as one ternary-logic op (0xEC = (A & C) | B) */
#define Q6R_GROUP(g, t0, t1)                                                                                  \
    do {                                                                                                      \
        const __m512i L = _mm512_loadu_si512((const void *)(pb + R1C_Q6R_QL(p, g)));                          \
        W[g] = _mm512_ternarylogic_epi32(L, _mm512_and_si512(t0, m30), m4, 0xEC);                            \
        W[4 + g] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(L, 4), _mm512_and_si512(t1, m30), m4, 0xEC); \
    } while (0)
    Q6R_GROUP(0, _mm512_slli_epi16(H0, 4), _mm512_slli_epi16(H1, 4));
    Q6R_GROUP(1, _mm512_slli_epi16(H0, 2), _mm512_slli_epi16(H1, 2));
    Q6R_GROUP(2, H0, H1);
    Q6R_GROUP(3, _mm512_srli_epi16(H0, 2), _mm512_srli_epi16(H1, 2));
#undef Q6R_GROUP
}

/* sub-block s's 16 row scales as int32 lanes */
static inline __m512i q6r_scales(const uint8_t *pb, int s) {
    return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(pb + R1C_Q6R_SC(s))));
}

/* super-block B of one token (Q8_K at xb), the 16 rows' exact sumi: per sub-block the 16
 * products of u from -32 x the activation sum, times its scale */
static inline __attribute__((always_inline)) __m512i q6r_pair(const __m512i W[8], __m512i sc0, __m512i sc1,
                                                               const uint8_t *xb, int p) {
    const int32_t *xg = (const int32_t *)(xb + offsetof(r1c_block_q8_K, qs) + 32 * p);
    int16_t bs[2];
    memcpy(bs, xb + offsetof(r1c_block_q8_K, bsums) + 4 * p, 4);
    __m512i a0 = _mm512_set1_epi32(-32 * bs[0]), a1 = _mm512_set1_epi32(-32 * bs[1]);
    for (int g = 0; g < 4; g++) a0 = _mm512_dpbusd_epi32(a0, W[g], _mm512_set1_epi32(xg[g]));
    for (int g = 4; g < 8; g++) a1 = _mm512_dpbusd_epi32(a1, W[g], _mm512_set1_epi32(xg[g]));
    return _mm512_add_epi32(_mm512_mullo_epi32(a0, sc0), _mm512_mullo_epi32(a1, sc1));
}

static inline __attribute__((always_inline)) void q6r_tile(const uint8_t *grp, int64_t nsb, const uint8_t *xq, size_t xrb,
                                                            const int tt, float *y, int64_t ldy) {
    __m512 Y[KT];
    for (int t = 0; t < tt; t++) Y[t] = _mm512_setzero_ps();
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *pb = grp + (size_t)B * Q6R_BYTES;
        __m512i sumi[KT];
        for (int t = 0; t < tt; t++) sumi[t] = _mm512_setzero_si512();
        for (int p = 0; p < 8; p++) {
            for (size_t o = 0; o < Q6R_BYTES / 8; o += 64) /* the next super-block, an eighth per pair */
                _mm_prefetch((const char *)pb + Q6R_BYTES + (size_t)p * (Q6R_BYTES / 8) + o, _MM_HINT_T0);
            __m512i W[8];
            q6r_weights(pb, p, W);
            const __m512i sc0 = q6r_scales(pb, 2 * p), sc1 = q6r_scales(pb, 2 * p + 1);
            for (int t = 0; t < tt; t++)
                sumi[t] = _mm512_add_epi32(sumi[t], q6r_pair(W, sc0, sc1, xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K), p));
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + R1C_Q6R_D)));
        for (int t = 0; t < tt; t++) {
            float xd;
            memcpy(&xd, xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K), 4);
            const __m512 a = _mm512_mul_ps(d, _mm512_set1_ps(xd));
            Y[t] = _mm512_add_ps(Y[t], _mm512_mul_ps(a, _mm512_cvtepi32_ps(sumi[t])));
        }
    }
    for (int t = 0; t < tt; t++) _mm512_storeu_ps(y + t * ldy, Y[t]);
}

/* one group's super-blocks into q6_K_tile's panel (for many tokens: weights decoded once) */
static void q6r_to_panel(const uint8_t *grp, int64_t nsb, uint8_t *panel) {
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *pb = grp + (size_t)B * Q6R_BYTES;
        uint8_t *p = panel + (size_t)B * Q6K_PANEL;
        for (int pr = 0; pr < 8; pr++) {
            __m512i W[8];
            q6r_weights(pb, pr, W);
            for (int g = 0; g < 8; g++) _mm512_store_si512((void *)(p + 64 * (8 * pr + g)), W[g]);
        }
        for (int sb = 0; sb < 16; sb++) _mm512_store_si512((void *)(p + 4096 + 64 * sb), q6r_scales(pb, sb));
        _mm512_store_ps((float *)(p + 4096 + 1024), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + R1C_Q6R_D))));
    }
}

static void gemm_q6_K_r16(const void *w, size_t rb, const void *xq, size_t xrb, int T, int64_t k, float *y, int64_t ldy,
                          int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    const uint8_t *x8 = xq;
    uint8_t *panel = NULL;
    if (T > Q6R_DIRECT_T && !(panel = aligned_alloc(64, (size_t)(nsb > 0 ? nsb : 1) * Q6K_PANEL))) {
        for (int t = 0; t < T; t++)
            for (int64_t r = 0; r < n; r++) y[t * ldy + r] = __builtin_nanf("");
        return;
    }
    for (int64_t r0 = 0; r0 < n; r0 += 16) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)r0 * rb;
        if (panel) {
            q6r_to_panel(grp, nsb, panel);
#define Q6P_CALL(tt) q6_K_tile(panel, nsb, x8 + (size_t)t0 * xrb, xrb, tt, y + t0 * ldy + r0, ldy, 0xffff)
            TILE_SWITCH(0, T, KT, Q6P_CALL);
#undef Q6P_CALL
        } else {
#define Q6R_CALL(tt) q6r_tile(grp, nsb, x8 + (size_t)t0 * xrb, xrb, tt, y + t0 * ldy + r0, ldy)
            TILE_SWITCH(0, T, KT, Q6R_CALL);
#undef Q6R_CALL
        }
    }
    free(panel);
}

/* the matrix-vector product: S groups (streams n/S rows apart) per super-block, as matvec_r16 */
static inline __attribute__((always_inline)) void q6r_groups(const uint8_t *w, size_t gstride, const int S, const uint8_t *xq,
                                                              int64_t nsb, float *y, int64_t ystride) {
    __m512 acc[8];
    for (int s = 0; s < S; s++) acc[s] = _mm512_setzero_ps();
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *xb = xq + (size_t)B * sizeof(r1c_block_q8_K);
        float xd;
        memcpy(&xd, xb, 4);
        for (int s = 0; s < S; s++) {
            const uint8_t *pb = w + (size_t)s * gstride + (size_t)B * Q6R_BYTES;
            __m512i sumi = _mm512_setzero_si512();
            for (int p = 0; p < 8; p++) {
                if (Q6R_PF)
                    for (size_t o = 0; o < Q6R_BYTES / 8; o += 64)
                        _mm_prefetch((const char *)pb + Q6R_PF * Q6R_BYTES + (size_t)p * (Q6R_BYTES / 8) + o, _MM_HINT_T0);
                __m512i W[8];
                q6r_weights(pb, p, W);
                sumi = _mm512_add_epi32(sumi, q6r_pair(W, q6r_scales(pb, 2 * p), q6r_scales(pb, 2 * p + 1), xb, p));
            }
            const __m512 a = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + R1C_Q6R_D))), _mm512_set1_ps(xd));
            acc[s] = _mm512_add_ps(acc[s], _mm512_mul_ps(a, _mm512_cvtepi32_ps(sumi)));
        }
    }
    for (int s = 0; s < S; s++) _mm512_storeu_ps(y + s * ystride, acc[s]);
}

static void matvec_q6_K_r16(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nsb = k / R1C_QK_K, np = n / 16, Q = np / Q6R_S;
    const size_t gb = 16 * rb;
    const uint8_t *W = w;
    for (int64_t p = 0; p < Q; p++) q6r_groups(W + (size_t)p * gb, (size_t)Q * gb, Q6R_S, xq, nsb, y + 16 * p, 16 * Q);
    for (int64_t p = Q6R_S * Q; p < np; p++) q6r_groups(W + (size_t)p * gb, 0, 1, xq, nsb, y + 16 * p, 0);
}

/* ---------------------------------------------------------------- Q4_K stored row-interleaved */

/* Straight from quant.h's R16 layout, as for Q6_K: the integers and the float step are
 * q4_K_tile's (sumi = sum of sc_s x sq_s by vpmulld, summ = vpdpwssd of the mins' int16 pairs
 * with the activations' sub-block sums, c = fma(a, sumi, -(b x summ))). */
#define Q4KR_BYTES (16 * sizeof(r1c_block_q4_K)) /* a group's super-block */
#ifndef Q4KR_PF
#define Q4KR_PF 2 /* super-blocks ahead that the kernels prefetch */
#endif

/* the 16 rows' 6-bit scales (which = 0) or mins (1) of sub-blocks 0..3 (half 0) or 4..7 as
 * bytes, sub-block s in 128-bit lane s % 4: the low nibble plane or-ed with the top bits, which
 * sit at bits 4 (s % 2) + 2 which of the pair's byte (16-bit variable shifts; masks keep each
 * byte's own bits) */
static inline __attribute__((always_inline)) __m512i q4kr_six(const uint8_t *pb, int half, int which) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);
    const __m512i L = _mm512_loadu_si512((const void *)(pb + R1C_Q4KR_SCL(4 * half)));
    const __m512i T = _mm512_loadu_si512((const void *)(pb + R1C_Q4KR_SCH(0))); /* pairs 0..3 in 128-bit lanes */
    const long long S = 0x0004000400040004LL;
    const __m512i cnt = _mm512_set_epi64(S, S, 0, 0, S, S, 0, 0); /* odd sub-blocks: their 4 bits higher */
    const __m512i Tp = half ? _mm512_shuffle_i32x4(T, T, _MM_SHUFFLE(3, 3, 2, 2)) : _mm512_shuffle_i32x4(T, T, _MM_SHUFFLE(1, 1, 0, 0));
    __m512i X = _mm512_srlv_epi16(Tp, cnt);
    __m512i lo = L;
    if (which) X = _mm512_srli_epi16(X, 2), lo = _mm512_srli_epi16(L, 4);
    return _mm512_or_si512(_mm512_and_si512(lo, m4), _mm512_slli_epi16(_mm512_and_si512(X, m3), 4));
}

static inline __attribute__((always_inline)) void q4kr_weights(const uint8_t *pb, int s, __m512i W[8]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int v = 0; v < 4; v++) {
        const __m512i q = _mm512_loadu_si512((const void *)(pb + R1C_Q4KR_QS(s, v)));
        W[v] = _mm512_and_si512(q, m4);
        W[4 + v] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    }
}

/* byte lane group s % 4 of six (16 rows' values) as int32 lanes */
static inline __m512i q4kr_lane32(__m512i six, int s) {
    switch (s % 4) {
    case 0: return _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(six, 0));
    case 1: return _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(six, 1));
    case 2: return _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(six, 2));
    default: return _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(six, 3));
    }
}

/* the mins of sub-blocks 2p, 2p + 1 as int16 pairs per row (vpdpwssd's operand) */
static inline __m512i q4kr_minpair(__m512i mn, int p) {
    return _mm512_or_si512(q4kr_lane32(mn, 2 * p), _mm512_slli_epi32(q4kr_lane32(mn, 2 * p + 1), 16));
}

static inline __attribute__((always_inline)) void q4kr_tile(const uint8_t *grp, int64_t nsb, const uint8_t *xq, size_t xrb,
                                                             const int32_t *xs2, const int tt, float *y, int64_t ldy) {
    __m512 Y[KT];
    for (int t = 0; t < tt; t++) Y[t] = _mm512_setzero_ps();
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *pb = grp + (size_t)B * Q4KR_BYTES;
        const __m512i SC[2] = {q4kr_six(pb, 0, 0), q4kr_six(pb, 1, 0)};
        __m512i sumi[KT];
        for (int t = 0; t < tt; t++) sumi[t] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            for (size_t o = 0; o < Q4KR_BYTES / 8; o += 64) /* a super-block ahead, an eighth per sub-block */
                _mm_prefetch((const char *)pb + Q4KR_PF * Q4KR_BYTES + (size_t)s * (Q4KR_BYTES / 8) + o, _MM_HINT_T0);
            __m512i W[8];
            q4kr_weights(pb, s, W);
            const __m512i sc = q4kr_lane32(SC[s / 4], s);
            for (int t = 0; t < tt; t++) {
                const int32_t *xg = (const int32_t *)(xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K) + 4 + 32 * s);
                __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
                for (int g = 0; g < 8; g += 2) {
                    a0 = _mm512_dpbusd_epi32(a0, W[g], _mm512_set1_epi32(xg[g]));
                    a1 = _mm512_dpbusd_epi32(a1, W[g + 1], _mm512_set1_epi32(xg[g + 1]));
                }
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(_mm512_add_epi32(a0, a1), sc));
            }
        }
        const __m512i MN[2] = {q4kr_six(pb, 0, 1), q4kr_six(pb, 1, 1)};
        const __m512i mp[4] = {q4kr_minpair(MN[0], 0), q4kr_minpair(MN[0], 1), q4kr_minpair(MN[1], 2), q4kr_minpair(MN[1], 3)};
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + R1C_Q4KR_D)));
        const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + R1C_Q4KR_DMIN)));
        for (int t = 0; t < tt; t++) {
            const int32_t *s2 = xs2 + ((size_t)t * nsb + B) * 4;
            __m512i summ = _mm512_setzero_si512();
            for (int pr = 0; pr < 4; pr++) summ = _mm512_dpwssd_epi32(summ, mp[pr], _mm512_set1_epi32(s2[pr]));
            float xd;
            memcpy(&xd, xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K), 4);
            const __m512 vxd = _mm512_set1_ps(xd);
            const __m512 a = _mm512_mul_ps(d, vxd), b = _mm512_mul_ps(dm, vxd);
            const __m512 c = _mm512_fmsub_ps(a, _mm512_cvtepi32_ps(sumi[t]), _mm512_mul_ps(b, _mm512_cvtepi32_ps(summ)));
            Y[t] = _mm512_add_ps(Y[t], c);
        }
    }
    for (int t = 0; t < tt; t++) _mm512_storeu_ps(y + t * ldy, Y[t]);
}

/* one group's super-blocks into q4_K_tile's panel (many tokens: weights decoded once) */
static void q4kr_to_panel(const uint8_t *grp, int64_t nsb, uint8_t *panel) {
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *pb = grp + (size_t)B * Q4KR_BYTES;
        uint8_t *p = panel + (size_t)B * Q4K_PANEL;
        for (int s = 0; s < 8; s++) {
            __m512i W[8];
            q4kr_weights(pb, s, W);
            for (int g = 0; g < 8; g++) _mm512_store_si512((void *)(p + 64 * (8 * s + g)), W[g]);
        }
        const __m512i SC[2] = {q4kr_six(pb, 0, 0), q4kr_six(pb, 1, 0)}, MN[2] = {q4kr_six(pb, 0, 1), q4kr_six(pb, 1, 1)};
        for (int s = 0; s < 8; s++) _mm512_store_si512((void *)(p + 4096 + 64 * s), q4kr_lane32(SC[s / 4], s));
        for (int pr = 0; pr < 4; pr++) _mm512_store_si512((void *)(p + 4096 + 512 + 64 * pr), q4kr_minpair(MN[pr / 2], pr));
        _mm512_store_ps((float *)(p + 4096 + 512 + 256), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + R1C_Q4KR_D))));
        _mm512_store_ps((float *)(p + 4096 + 512 + 256 + 64), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pb + R1C_Q4KR_DMIN))));
    }
}

/* per token and super-block: the activation sums of sub-blocks 2p and 2p+1 as an int16 pair */
static void q4k_act_pairs(const void *xq, size_t xrb, int T, int64_t nsb, int32_t *xs2) {
    for (int t = 0; t < T; t++)
        for (int64_t B = 0; B < nsb; B++) {
            int16_t bs[16];
            memcpy(bs, (const uint8_t *)xq + (size_t)t * xrb + (size_t)B * sizeof(r1c_block_q8_K) + offsetof(r1c_block_q8_K, bsums),
                   sizeof bs);
            for (int pr = 0; pr < 4; pr++) {
                const int32_t s0 = bs[4 * pr] + bs[4 * pr + 1], s1 = bs[4 * pr + 2] + bs[4 * pr + 3];
                xs2[((size_t)t * nsb + B) * 4 + pr] = (int32_t)((uint32_t)(uint16_t)s0 | ((uint32_t)(uint16_t)s1 << 16));
            }
        }
}

#define Q4KR_DIRECT_T 16 /* up to this many tokens: no panel at all */

static void gemm_q4_K_r16(const void *w, size_t rb, const void *xq, size_t xrb, int T, int64_t k, float *y, int64_t ldy,
                          int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    const uint8_t *x8 = xq;
    int32_t *xs2 = malloc(sizeof(int32_t) * 4 * (size_t)(nsb > 0 ? nsb : 1) * (size_t)T);
    uint8_t *panel = T > Q4KR_DIRECT_T ? aligned_alloc(64, (size_t)(nsb > 0 ? nsb : 1) * Q4K_PANEL) : NULL;
    if (!xs2 || (T > Q4KR_DIRECT_T && !panel)) {
        for (int t = 0; t < T; t++)
            for (int64_t r = 0; r < n; r++) y[t * ldy + r] = __builtin_nanf("");
        free(xs2);
        free(panel);
        return;
    }
    q4k_act_pairs(xq, xrb, T, nsb, xs2);
    for (int64_t r0 = 0; r0 < n; r0 += 16) {
        const uint8_t *grp = (const uint8_t *)w + (size_t)r0 * rb;
        if (panel) {
            q4kr_to_panel(grp, nsb, panel);
#define Q4P_CALL(tt) q4_K_tile(panel, nsb, x8 + (size_t)t0 * xrb, xrb, xs2 + (size_t)t0 * nsb * 4, tt, y + t0 * ldy + r0, ldy, 0xffff)
            TILE_SWITCH(0, T, KT, Q4P_CALL);
#undef Q4P_CALL
        } else {
#define Q4R_CALL(tt) q4kr_tile(grp, nsb, x8 + (size_t)t0 * xrb, xrb, xs2 + (size_t)t0 * nsb * 4, tt, y + t0 * ldy + r0, ldy)
            TILE_SWITCH(0, T, KT, Q4R_CALL);
#undef Q4R_CALL
        }
    }
    free(xs2);
    free(panel);
}

static void matvec_q4_K_r16(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    int32_t stack[4 * XK_STACK], *xs2 = nsb <= XK_STACK ? stack : malloc(sizeof(int32_t) * 4 * (size_t)nsb);
    if (!xs2) {
        for (int64_t r = 0; r < n; r++) y[r] = __builtin_nanf("");
        return;
    }
    q4k_act_pairs(xq, 0, 1, nsb, xs2);
    for (int64_t r0 = 0; r0 < n; r0 += 16) q4kr_tile((const uint8_t *)w + (size_t)r0 * rb, nsb, xq, 0, xs2, 1, y + r0, 0);
    if (xs2 != stack) free(xs2);
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

/* ---------------------------------------------------------------- dequantisation */

/* y = q x f32(d) per element, one rounding each, as r1c_dequantize_row */
/* One block of 32 weights widened exactly (q x d, as dequant_*), as two vectors */
static inline __attribute__((always_inline)) void block_f32(int q4, const uint8_t *blk, __m512 *v0, __m512 *v1) {
    uint16_t h;
    memcpy(&h, blk, 2);
    const __m512 d = _mm512_set1_ps(f16(h));
    __m128i a, b;
    if (q4) {
        const __m128i m = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8), v = _mm_loadu_si128((const __m128i *)(blk + 2));
        a = _mm_sub_epi8(_mm_and_si128(v, m), eight);
        b = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), eight);
    } else {
        a = _mm_loadu_si128((const __m128i *)(blk + 2));
        b = _mm_loadu_si128((const __m128i *)(blk + 18));
    }
    *v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(a)), d);
    *v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), d);
}

/* out[c] = the sum over rows r < nr of x[r] w[r][c]: per column, fma(x[r], w[r][c], acc) with r
 * ascending from acc = 0 (kernels.h); 128 columns (8 accumulators) at a time, all rows each. */
static inline __attribute__((always_inline)) void tmatvec_q_0(int q4, const void *w, size_t rb, const float *x, int64_t nr,
                                                              float *out, int64_t k) {
    const size_t bsize = q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0);
    const int64_t nb = k / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += 4) {
        const int nbl = nb - b0 < 4 ? (int)(nb - b0) : 4;
        __m512 acc[8];
        for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)r * rb + (size_t)b0 * bsize;
            const __m512 xr = _mm512_set1_ps(x[r]);
            for (int j = 0; j < nbl; j++) {
                __m512 v0, v1;
                block_f32(q4, row + (size_t)j * bsize, &v0, &v1);
                acc[2 * j] = _mm512_fmadd_ps(xr, v0, acc[2 * j]);
                acc[2 * j + 1] = _mm512_fmadd_ps(xr, v1, acc[2 * j + 1]);
            }
        }
        for (int j = 0; j < 2 * nbl; j++) _mm512_storeu_ps(out + 32 * b0 + 16 * j, acc[j]);
    }
}
static void tmatvec_q8_0(const void *w, size_t rb, const float *x, int64_t nr, float *out, int64_t k) {
    tmatvec_q_0(0, w, rb, x, nr, out, k);
}
static void tmatvec_q4_0(const void *w, size_t rb, const float *x, int64_t nr, float *out, int64_t k) {
    tmatvec_q_0(1, w, rb, x, nr, out, k);
}

/* one row of blocks widened (block_f32, as r1c_dequantize_row: bit-equal) */
static void dequant_q8_0(const void *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++) {
        __m512 v0, v1;
        block_f32(0, (const uint8_t *)src + (size_t)b * sizeof(r1c_block_q8_0), &v0, &v1);
        _mm512_storeu_ps(dst + 32 * b, v0);
        _mm512_storeu_ps(dst + 32 * b + 16, v1);
    }
}
static void dequant_q4_0(const void *src, float *dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++) {
        __m512 v0, v1;
        block_f32(1, (const uint8_t *)src + (size_t)b * sizeof(r1c_block_q4_0), &v0, &v1);
        _mm512_storeu_ps(dst + 32 * b, v0);
        _mm512_storeu_ps(dst + 32 * b + 16, v1);
    }
}

const r1c_quant_kernels r1c_quant_kernels_vnni = {matvec_q8_0,  matvec_q4_0,  matvec_q4_K, matvec_q6_K, gemm_q8_0,
                                                   gemm_q4_0,    gemm_q4_K,    gemm_q6_K,   act_q8_0,    dequant_q8_0,
                                                   dequant_q4_0, matvec_q8_0_r16, matvec_q4_0_r16, gemm_q8_0_r16,
                                                   gemm_q4_0_r16, tmatvec_q8_0, tmatvec_q4_0,
                                                   matvec_q6_K_r16, gemm_q6_K_r16, matvec_q4_K_r16, gemm_q4_K_r16};
