/* kernels_quant_avx2.c — quantised weights x quantised activations with AVX2 (+ FMA, F16C), in
 * quant.h's canonical order, bit for bit equal to r1c_quant_dot.
 *
 * Built with -mavx2 -mfma -mf16c. The same source, compiled with R1C_QUANT_AVXVNNI defined and
 * -mavxvnni (kernels_quant_avxvnni.c), gives the AVX-VNNI table: there the 32-byte integer dot
 * products of Q8_0 / Q4_0 are single vpdpbusd instructions.
 *
 * Structure (every kernel): the activations are prepared once per call (aligned copies, the sums
 * that turn unsigned products into signed ones, per-block scales); then rows are taken G = 4 at a
 * time, n/4 rows apart (four long sequential streams, prefetched ahead), so each activation load
 * and each scale computation serves four rows; the last n % 4 rows go one at a time.
 *
 * Integer parts (exact in any order):
 *  Q8_0: _mm256_maddubs_epi16 multiplies unsigned by signed bytes and adds pairs into int16 with
 *    saturation. With u = |w| (0..128 as unsigned, w = -128 included) and s = x * sign(w),
 *    every pair sum lies in [-32768, 32512]: nothing saturates, provided x * sign(w) is
 *    representable, i.e. x != -128. r1c_quantize_act never produces -128 (|x * (1/d)| <= 127
 *    after rounding for finite input; NaN/inf give 0), but rows of activations from elsewhere
 *    might: the preparation checks, and such a call goes through the portable r1c_quant_dot.
 *    (The AVX-VNNI build has no such case: vpdpbusd of (w ^ 0x80) = w + 128 with x, minus
 *    128 x the sum of each 4 activations, is exact for every byte.)
 *  Q4_0: nibbles 0..15 x x, pairs within +-3840, minus 8 x (sum of each 4 activations).
 *  Q4_K: nibbles x x into int16 pairs, then _mm256_madd_epi16 with the 6-bit sub-block scale;
 *    mins x (sums of 32 activations).
 *  Q6_K: 6-bit q (0..63) x x into int16 pairs (within +-16128), madd with the int8 scales; the
 *    -32 offset as 32 x sum over sub-blocks of scale x (sum of 16 activations).
 *  The activation sums are computed from the quants themselves (not the Q8_K bsums field).
 *
 * Float steps (quant.h): Q8_0 / Q4_0: the four rows' accumulators are the lanes of one xmm
 * register, acc = fma((float)s, f32(w.d) * f32(x.d), acc) per block in order. Q4_K / Q6_K: the super-block
 * step of four rows at once in one vector (element-wise IEEE operations: the same bits as the
 * scalar step of each row). */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"

#if defined(R1C_QUANT_AVXVNNI)
#define QK_TABLE r1c_quant_kernels_avxvnni
#define R1C_QUANT_VNNI_OFF 1
#else
#define QK_TABLE r1c_quant_kernels_avx2
#define R1C_QUANT_VNNI_OFF 0
#endif

#define G 4             /* rows per pass */
#ifndef PF_DIST
#define PF_DIST 640     /* software prefetch distance, bytes ahead in each row stream (0: none) */
#endif
#define STACK_BYTES (96 << 10) /* prepared activations up to this size live on the stack */

#define INLINE static inline __attribute__((always_inline))

INLINE uint64_t ld16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
INLINE uint64_t ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
INLINE __m256i ldu(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
INLINE __m256i lda(const void *p) { return _mm256_load_si256((const __m256i *)p); }
INLINE void pf(const void *p) {
#if PF_DIST > 0
    _mm_prefetch((const char *)p, _MM_HINT_T0);
#else
    (void)p;
#endif
}

/* Scratch for the prepared activations: the stack buffer, or the heap for very long rows. */
static uint8_t *scratch(uint8_t *stack, size_t need, void **heap) {
    *heap = NULL;
    if (need <= STACK_BYTES) return stack;
    *heap = aligned_alloc(64, (need + 63) & ~(size_t)63);
    return *heap;
}

/* ---------------------------------------------------------------- Q8_0, Q4_0 */

/* Prepared Q8_0 activations, nbp = nb rounded up to even (the odd tail is a zero block):
 *   q    nbp x 32 int8, aligned;
 *   d4   per pair of blocks 8 floats: f32(x[b].d) x4, f32(x[b+1].d) x4;
 *   off  per block 8 int32: the sum of each 4 activations times -128 (Q8_0 on VNNI) or -8
 *        (Q4_0), the constant that makes unsigned x signed products exact. */
typedef struct {
    const int8_t *q;
    const float *d4;
    const int32_t *off;
} xq0;

static size_t xq0_bytes(int64_t nbp, int want_off) { return (size_t)nbp * (32 + 16 + (want_off ? 32 : 0)); }

/* returns 1 if some activation is -128 */
static int xq0_prepare(const uint8_t *x, int64_t nb, uint8_t *buf, int32_t mul, xq0 *out) {
    const int64_t nbp = (nb + 1) & ~(int64_t)1;
    int8_t *q = (int8_t *)buf;
    float *d4 = (float *)(buf + 32 * nbp);
    int32_t *off = mul ? (int32_t *)(buf + 48 * nbp) : NULL;
    const __m256i m128 = _mm256_set1_epi8(-128), ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    const __m256i vmul = _mm256_set1_epi32(mul);
    __m256i bad = _mm256_setzero_si256();
    for (int64_t b = 0; b < nbp; b++) {
        __m256i v = _mm256_setzero_si256();
        float d = 0.0f;
        if (b < nb) {
            const uint8_t *blk = x + (size_t)b * sizeof(r1c_block_q8_0);
            v = ldu(blk + 2);
            d = _cvtsh_ss((unsigned short)ld16(blk));
        }
        _mm256_store_si256((__m256i *)(q + 32 * b), v);
        for (int i = 0; i < 4; i++) d4[8 * (b >> 1) + 4 * (b & 1) + i] = d;
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi8(v, m128));
        if (off) {
            const __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16);
            _mm256_store_si256((__m256i *)(off + 8 * b), _mm256_mullo_epi32(s4, vmul));
        }
    }
    out->q = q;
    out->d4 = d4;
    out->off = off;
    return !_mm256_testz_si256(bad, bad);
}

/* f16 scales of the G rows at byte offset o (blocks b and b + 1 at o and o + bb), times the
 * activation scales: dd[j] = block b of row j, dd[4 + j] = block b + 1 (one f32 rounding each,
 * as f32(w.d) * f32(x.d)). */
INLINE void block_scales(const uint8_t *const *wr, size_t o, size_t bb, const float *d4, float *dd, const int g) {
    uint64_t a = 0, c = 0;
    for (int j = 0; j < g; j++) {
        a |= ld16(wr[j] + o) << (16 * j);
        c |= ld16(wr[j] + o + bb) << (16 * j);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_set_epi64x((long long)c, (long long)a));
    _mm256_store_ps(dd, _mm256_mul_ps(dw, _mm256_load_ps(d4)));
}

/* the exact int32 sums of each 4 products of one 32-element block (w as stored in memory) */
INLINE __m256i dot_q8_0(const uint8_t *wq, __m256i x, __m256i off) {
    const __m256i w = ldu(wq);
#if defined(R1C_QUANT_AVXVNNI)
    return _mm256_dpbusd_avx_epi32(off, _mm256_xor_si256(w, _mm256_set1_epi8(-128)), x);
#else
    (void)off;
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
#endif
}

INLINE __m256i dot_q4_0(const uint8_t *wq, __m256i x, __m256i off) {
    /* 16 bytes into both halves; the upper half shifted by 4: low nibbles = elements 0-15,
     * high nibbles = 16-31 */
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)wq));
    const __m256i q = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(0x0f));
#if defined(R1C_QUANT_AVXVNNI)
    return _mm256_dpbusd_avx_epi32(off, q, x);
#else
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, x), _mm256_set1_epi16(1)), off);
#endif
}

/* The four row sums of one block: p[j] holds 8 exact int32 partial sums of row j; the result's
 * lane j is their total (integer adds: exact in any order). */
INLINE __m128i row_sums4(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* g rows r, r + S, ... (g <= G); BB: bytes per block; Q4: Q4_0 (else Q8_0). Lane j of acc is
 * row j's canonical accumulator: per block, acc = fma((float)s, d, acc). */
INLINE void q0_rows(const uint8_t *w, size_t rb, const xq0 *xp, int64_t nb, float *y, int64_t r, int64_t S,
                    const int g, const int Q4) {
    const size_t BB = Q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0);
    const uint8_t *wr[G];
    for (int j = 0; j < G; j++) wr[j] = w + (size_t)(r + (j < g ? j : 0) * S) * rb;
    __m128 acc = _mm_setzero_ps();
    const int use_off = Q4 || R1C_QUANT_VNNI_OFF;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        _Alignas(32) float dd[8];
        const size_t o = (size_t)b * BB;
        block_scales(wr, o, BB, xp->d4 + 4 * b, dd, g);
        const __m256i x0 = lda(xp->q + 32 * b), x1 = lda(xp->q + 32 * b + 32);
        const __m256i f0 = use_off ? lda(xp->off + 8 * b) : _mm256_setzero_si256();
        const __m256i f1 = use_off ? lda(xp->off + 8 * b + 8) : _mm256_setzero_si256();
        __m256i p0[G], p1[G];
        for (int j = 0; j < G; j++) {
            if (j >= g) {
                p0[j] = p1[j] = _mm256_setzero_si256();
                continue;
            }
            const uint8_t *p = wr[j] + o;
            pf(p + PF_DIST);
            p0[j] = Q4 ? dot_q4_0(p + 2, x0, f0) : dot_q8_0(p + 2, x0, f0);
            p1[j] = Q4 ? dot_q4_0(p + BB + 2, x1, f1) : dot_q8_0(p + BB + 2, x1, f1);
        }
        const __m128i s0 = row_sums4(p0[0], p0[1], p0[2], p0[3]);
        const __m128i s1 = row_sums4(p1[0], p1[1], p1[2], p1[3]);
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(s0), _mm_load_ps(dd), acc);
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(s1), _mm_load_ps(dd + 4), acc);
    }
    if (b < nb) { /* the odd last block */
        _Alignas(32) float dd[8];
        const size_t o = (size_t)b * BB;
        block_scales(wr, o, 0, xp->d4 + 4 * b, dd, g);
        const __m256i x0 = lda(xp->q + 32 * b);
        const __m256i f0 = use_off ? lda(xp->off + 8 * b) : _mm256_setzero_si256();
        __m256i p0[G];
        for (int j = 0; j < G; j++)
            p0[j] = j < g ? (Q4 ? dot_q4_0(wr[j] + o + 2, x0, f0) : dot_q8_0(wr[j] + o + 2, x0, f0))
                          : _mm256_setzero_si256();
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(row_sums4(p0[0], p0[1], p0[2], p0[3])), _mm_load_ps(dd), acc);
    }
    _Alignas(16) float out[4];
    _mm_store_ps(out, acc);
    for (int j = 0; j < g; j++) y[r + j * S] = out[j];
}

static void portable_rows(r1c_dtype t, const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = r1c_quant_dot(t, (const uint8_t *)w + (size_t)r * rb, xq, k);
}

static void q0_matvec(const int Q4, const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const r1c_dtype t = Q4 ? R1C_Q4_0 : R1C_Q8_0;
    const int64_t nb = k / 32;
    if (n <= 0) return;
    if (nb <= 0) { /* empty rows: the canonical sum of 16 zero lanes */
        for (int64_t r = 0; r < n; r++) y[r] = 0.0f;
        return;
    }
    const int64_t nbp = (nb + 1) & ~(int64_t)1;
    const int32_t mul = Q4 ? -8 : (R1C_QUANT_VNNI_OFF ? -128 : 0);
    _Alignas(64) uint8_t stack[STACK_BYTES];
    void *heap;
    uint8_t *buf = scratch(stack, xq0_bytes(nbp, mul != 0), &heap);
    xq0 xp;
    if (!buf || (xq0_prepare(xq, nb, buf, mul, &xp) && !Q4 && !R1C_QUANT_VNNI_OFF)) {
        portable_rows(t, w, rb, xq, y, k, n); /* no memory, or an activation of -128 (see top) */
        free(heap);
        return;
    }
    const uint8_t *wb = w;
    const int64_t S = n / G;
    for (int64_t r = 0; r < S; r++) {
        if (Q4) q0_rows(wb, rb, &xp, nb, y, r, S, G, 1);
        else q0_rows(wb, rb, &xp, nb, y, r, S, G, 0);
    }
    for (int64_t r = G * S; r < n; r++) {
        if (Q4) q0_rows(wb, rb, &xp, nb, y, r, 0, 1, 1);
        else q0_rows(wb, rb, &xp, nb, y, r, 0, 1, 0);
    }
    free(heap);
}

static void matvec_q8_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    q0_matvec(0, w, rb, xq, y, k, n);
}
static void matvec_q4_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    q0_matvec(1, w, rb, xq, y, k, n);
}

/* ---------------------------------------------------------------- K-quants: activations */

/* Prepared Q8_K activations, per super-block: its d, and the exact sums of each 32 (Q4_K, 8
 * int16) or each 16 (Q6_K, 16 int16) quants. The quants themselves are read in place. */
typedef struct {
    const float *d;
    const __m128i *s32; /* Q4_K */
    const __m256i *s16; /* Q6_K */
} xqk;

INLINE __m256i sum4(__m256i v) { /* int32 sums of each 4 bytes */
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1));
}

static void xqk_prepare(const uint8_t *x, int64_t nsb, uint8_t *buf, int six, xqk *out) {
    float *d = (float *)buf;
    uint8_t *sums = buf + ((4 * (size_t)nsb + 31) & ~(size_t)31);
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *blk = x + (size_t)B * sizeof(r1c_block_q8_K);
        memcpy(&d[B], blk, 4);
        const uint8_t *qs = blk + 4;
        __m256i v[8];
        for (int c = 0; c < 8; c++) v[c] = sum4(ldu(qs + 32 * c));
        if (!six) { /* v[c]: sub-block c; lanes summed */
            const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
            const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
            const __m256i g0 = _mm256_hadd_epi32(h01, h23), g1 = _mm256_hadd_epi32(h45, h67);
            const __m128i s0 = _mm_add_epi32(_mm256_castsi256_si128(g0), _mm256_extracti128_si256(g0, 1));
            const __m128i s1 = _mm_add_epi32(_mm256_castsi256_si128(g1), _mm256_extracti128_si256(g1, 1));
            _mm_store_si128((__m128i *)sums + B, _mm_packs_epi32(s0, s1));
        } else { /* v[c]: lanes 0-3 sub-block 2c, lanes 4-7 sub-block 2c + 1 */
            const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
            const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
            /* [s0 s2 s4 s6 | s1 s3 s5 s7] and [s8 s10 s12 s14 | s9 ...] */
            const __m256i idx = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
            const __m256i a = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(h01, h23), idx);
            const __m256i b = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(h45, h67), idx);
            _mm256_store_si256((__m256i *)sums + B, _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xd8));
        }
    }
    out->d = d;
    out->s32 = (const __m128i *)sums;
    out->s16 = (const __m256i *)sums;
}

static size_t xqk_bytes(int64_t nsb) { return ((4 * (size_t)nsb + 31) & ~(size_t)31) + 32 * (size_t)nsb; }

/* ---------------------------------------------------------------- Q4_K */

/* byte s of a 128-bit lane into a 16-bit lane, zero-extended, everywhere */
#define SCB(s) ((char)(s)), ((char)0x80)
#define SC_MASK(s) _mm256_setr_epi8(SCB(s), SCB(s), SCB(s), SCB(s), SCB(s), SCB(s), SCB(s), SCB(s), SCB(s), SCB(s), \
                                    SCB(s), SCB(s), SCB(s), SCB(s), SCB(s), SCB(s))

/* the 8 scales (bytes 0-7) and 8 mins (bytes 8-15) of a Q4_K block, 6 bits each */
INLINE __m128i q4_K_scales(const uint8_t *s) {
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    const uint32_t u0 = (uint32_t)ld32(s), u1 = (uint32_t)ld32(s + 4), u2 = (uint32_t)ld32(s + 8);
    const uint32_t sc_lo = u0 & k1, m_lo = u1 & k1;
    const uint32_t sc_hi = (u2 & k2) | (((u0 >> 6) & k3) << 4);
    const uint32_t m_hi = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
    return _mm_set_epi64x((long long)((uint64_t)m_hi << 32 | m_lo), (long long)((uint64_t)sc_hi << 32 | sc_lo));
}

/* Horizontal step for four rows: isum[j] (8 int32) and msum[j] (4 int32) to
 * [si0 sm0 si1 sm1 | si2 sm2 si3 sm3] */
INLINE __m256i reduce_pairs(const __m256i *isum, const __m128i *msum) {
    __m128i e[4];
    for (int j = 0; j < 4; j++)
        e[j] = _mm_hadd_epi32(_mm_add_epi32(_mm256_castsi256_si128(isum[j]), _mm256_extracti128_si256(isum[j], 1)), msum[j]);
    return _mm256_set_m128i(_mm_hadd_epi32(e[2], e[3]), _mm_hadd_epi32(e[0], e[1]));
}

INLINE void q4_K_rows(const uint8_t *w, size_t rb, const uint8_t *x, const xqk *xp, int64_t nsb, float *y, int64_t r,
                      int64_t S, const int g) {
    const size_t BB = sizeof(r1c_block_q4_K), XB = sizeof(r1c_block_q8_K);
    const uint8_t *wr[G];
    for (int j = 0; j < g; j++) wr[j] = w + (size_t)(r + j * S) * rb;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps(); /* lane 2j: row j */
    for (int64_t B = 0; B < nsb; B++) {
        const size_t o = (size_t)B * BB;
        const uint8_t *xs = x + (size_t)B * XB + 4;
        __m256i isum[4];
        __m128i msum[4];
        uint64_t dlo = 0, dhi = 0;
        for (int j = 0; j < 4; j++) {
            isum[j] = _mm256_setzero_si256();
            msum[j] = _mm_setzero_si128();
        }
        for (int j = 0; j < g; j++) {
            const uint8_t *p = wr[j] + o;
            pf(p + PF_DIST);
            pf(p + PF_DIST + 64);
            pf(p + PF_DIST + 128);
            if (j < 2) dlo |= ld32(p) << (32 * j);
            else dhi |= ld32(p) << (32 * (j - 2));
            const __m128i sm = q4_K_scales(p + 4);
            const __m256i sc = _mm256_broadcastsi128_si256(sm);
            __m256i acc_i = _mm256_setzero_si256();
#define Q4K_CHUNK(c)                                                                                               \
    do {                                                                                                           \
        const __m256i v = ldu(p + 16 + 32 * (c));                                                                  \
        const __m256i pl = _mm256_maddubs_epi16(_mm256_and_si256(v, m4), ldu(xs + 64 * (c)));                     \
        const __m256i ph = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), ldu(xs + 64 * (c) + 32)); \
        acc_i = _mm256_add_epi32(acc_i, _mm256_add_epi32(_mm256_madd_epi16(pl, _mm256_shuffle_epi8(sc, SC_MASK(2 * (c)))), \
                                                         _mm256_madd_epi16(ph, _mm256_shuffle_epi8(sc, SC_MASK(2 * (c) + 1))))); \
    } while (0)
            Q4K_CHUNK(0);
            Q4K_CHUNK(1);
            Q4K_CHUNK(2);
            Q4K_CHUNK(3);
#undef Q4K_CHUNK
            isum[j] = acc_i;
            msum[j] = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), _mm_load_si128(xp->s32 + B));
        }
        /* V = [a0 b0 a1 b1 ...], a = f32(w.d) * x.d, b = f32(w.dmin) * x.d; I = [sumi0 summ0 ...] */
        const __m256 V = _mm256_mul_ps(_mm256_cvtph_ps(_mm_set_epi64x((long long)dhi, (long long)dlo)),
                                       _mm256_broadcast_ss(xp->d + B));
        const __m256 I = _mm256_cvtepi32_ps(reduce_pairs(isum, msum));
        const __m256 bm = _mm256_permute_ps(_mm256_mul_ps(V, I), 0xb1); /* b * summ into the even lanes */
        acc = _mm256_add_ps(acc, _mm256_fmsub_ps(V, I, bm));            /* fma(a, sumi, -(b * summ)) */
    }
    _Alignas(32) float out[8];
    _mm256_store_ps(out, acc);
    for (int j = 0; j < g; j++) y[r + j * S] = out[2 * j];
}

static void matvec_q4_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    if (n <= 0) return;
    _Alignas(64) uint8_t stack[STACK_BYTES];
    void *heap;
    uint8_t *buf = scratch(stack, xqk_bytes(nsb), &heap);
    if (!buf) {
        portable_rows(R1C_Q4_K, w, rb, xq, y, k, n);
        return;
    }
    xqk xp;
    xqk_prepare(xq, nsb, buf, 0, &xp);
    const int64_t S = n / G;
    for (int64_t r = 0; r < S; r++) q4_K_rows(w, rb, xq, &xp, nsb, y, r, S, G);
    for (int64_t r = G * S; r < n; r++) q4_K_rows(w, rb, xq, &xp, nsb, y, r, 0, 1);
    free(heap);
}

/* ---------------------------------------------------------------- Q6_K */

/* 16-bit lane masks: low 128 bits take scale word 2c, high 128 bits word 2c + 1 */
#define W2(c) ((char)(2 * (c))), ((char)(2 * (c) + 1))
#define SC6_MASK(c) _mm256_setr_epi8(W2(2 * (c)), W2(2 * (c)), W2(2 * (c)), W2(2 * (c)), W2(2 * (c)), W2(2 * (c)), \
                                     W2(2 * (c)), W2(2 * (c)), W2(2 * (c) + 1), W2(2 * (c) + 1), W2(2 * (c) + 1),      \
                                     W2(2 * (c) + 1), W2(2 * (c) + 1), W2(2 * (c) + 1), W2(2 * (c) + 1), W2(2 * (c) + 1))

INLINE void q6_K_rows(const uint8_t *w, size_t rb, const uint8_t *x, const xqk *xp, int64_t nsb, float *y, int64_t r,
                      int64_t S, const int g) {
    const size_t BB = sizeof(r1c_block_q6_K), XB = sizeof(r1c_block_q8_K);
    const uint8_t *wr[G];
    for (int j = 0; j < g; j++) wr[j] = w + (size_t)(r + j * S) * rb;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m128 acc = _mm_setzero_ps(); /* lane j: row j */
    for (int64_t B = 0; B < nsb; B++) {
        const size_t o = (size_t)B * BB;
        const uint8_t *xs = x + (size_t)B * XB + 4;
        __m128i z[4];
        uint64_t dw = 0;
        for (int j = 0; j < 4; j++) z[j] = _mm_setzero_si128();
        for (int j = 0; j < g; j++) {
            const uint8_t *p = wr[j] + o;
            pf(p + PF_DIST);
            pf(p + PF_DIST + 64);
            pf(p + PF_DIST + 128);
            pf(p + PF_DIST + 192);
            dw |= ld16(p + 208) << (16 * j);
            const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 192)));
            /* -32 x sum over s of scale[s] x (sum of 16 activations of s) */
            __m256i acc_i = _mm256_slli_epi32(_mm256_madd_epi16(sc, _mm256_load_si256(xp->s16 + B)), 5);
            acc_i = _mm256_sub_epi32(_mm256_setzero_si256(), acc_i);
            for (int h = 0; h < 2; h++) {
                const __m256i sh = h ? _mm256_permute4x64_epi64(sc, 0xee) : _mm256_permute4x64_epi64(sc, 0x44); /* scales 8h..8h+7, both halves */
                const __m256i l0 = ldu(p + 64 * h), l1 = ldu(p + 64 * h + 32), hb = ldu(p + 128 + 32 * h);
                const __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
                const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
                const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m30));
                const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                                   _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
                const uint8_t *xh = xs + 128 * h;
                acc_i = _mm256_add_epi32(acc_i, _mm256_madd_epi16(_mm256_maddubs_epi16(q0, ldu(xh)), _mm256_shuffle_epi8(sh, SC6_MASK(0))));
                acc_i = _mm256_add_epi32(acc_i, _mm256_madd_epi16(_mm256_maddubs_epi16(q1, ldu(xh + 32)), _mm256_shuffle_epi8(sh, SC6_MASK(1))));
                acc_i = _mm256_add_epi32(acc_i, _mm256_madd_epi16(_mm256_maddubs_epi16(q2, ldu(xh + 64)), _mm256_shuffle_epi8(sh, SC6_MASK(2))));
                acc_i = _mm256_add_epi32(acc_i, _mm256_madd_epi16(_mm256_maddubs_epi16(q3, ldu(xh + 96)), _mm256_shuffle_epi8(sh, SC6_MASK(3))));
            }
            z[j] = _mm_add_epi32(_mm256_castsi256_si128(acc_i), _mm256_extracti128_si256(acc_i, 1));
        }
        const __m128i sumi = _mm_hadd_epi32(_mm_hadd_epi32(z[0], z[1]), _mm_hadd_epi32(z[2], z[3]));
        const __m128 a = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)dw)), _mm_broadcast_ss(xp->d + B));
        acc = _mm_add_ps(acc, _mm_mul_ps(a, _mm_cvtepi32_ps(sumi))); /* acc + a * (float)sumi */
    }
    _Alignas(16) float out[4];
    _mm_store_ps(out, acc);
    for (int j = 0; j < g; j++) y[r + j * S] = out[j];
}

static void matvec_q6_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nsb = k / R1C_QK_K;
    if (n <= 0) return;
    _Alignas(64) uint8_t stack[STACK_BYTES];
    void *heap;
    uint8_t *buf = scratch(stack, xqk_bytes(nsb), &heap);
    if (!buf) {
        portable_rows(R1C_Q6_K, w, rb, xq, y, k, n);
        return;
    }
    xqk xp;
    xqk_prepare(xq, nsb, buf, 1, &xp);
    const int64_t S = n / G;
    for (int64_t r = 0; r < S; r++) q6_K_rows(w, rb, xq, &xp, nsb, y, r, S, G);
    for (int64_t r = G * S; r < n; r++) q6_K_rows(w, rb, xq, &xp, nsb, y, r, 0, 1);
    free(heap);
}

const r1c_quant_kernels QK_TABLE = {matvec_q8_0, matvec_q4_0, matvec_q4_K, matvec_q6_K, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
