/* kernels_neon.c — AArch64 Advanced SIMD (NEON, baseline on every ARMv8-A CPU) kernels in the
 * canonical order (kernels.h): the 16 canonical lanes are four float32x4_t accumulators
 * (lanes 0-3, 4-7, 8-11, 12-15), each updated by vfmaq_f32 (one fused multiply-add, as fmaf)
 * in order of i; a partial last group goes through zero-padded copies, so that its padding
 * lanes see fma(0, 0, acc) exactly as the generic table; the 16 lanes are then summed as
 * r1c_lane_sum's tree. Linux on AArch64 runs with FPCR.FZ = 0, so subnormals are kept, as
 * in the generic C code. Built with -ffp-contract=off like every file: nothing is fused
 * unless written as vfmaq_f32 / fmaf.
 *
 * Also the quantised dot products with plain NEON (vmull_s8 + pairwise adds; the ARMv8.2 SDOT
 * version is kernels_quant_neon_dotprod.c), and the two tables "neon" and "neon_dotprod". */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "vexp.h"
#include "quant.h"

/* ---------------------------------------------------------------- quantised, plain NEON */

/* lane j = w[4j..4j+3] . x[4j..4j+3]: int16 products (|p| <= 16384), pairwise-widened twice */
static inline int32x4_t neon_dot4(int8x16_t w, int8x16_t x) {
    const int16x8_t p0 = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    const int16x8_t p1 = vmull_high_s8(w, x);
    return vpaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1));
}
static inline int32x4_t neon_sum4(int8x16_t x) { return vpaddlq_s16(vpaddlq_s8(x)); }

#define QN_DOT4(w, x) neon_dot4(w, x)
#define QN_SUM4(x) neon_sum4(x)
#define QN_TABLE r1c_quant_kernels_neon
#include "kernels_quant_neon.h"

/* ---------------------------------------------------------------- 16 lanes */

typedef struct v16 {
    float32x4_t a, b, c, d;
} v16;

static inline v16 zero16(void) {
    const float32x4_t z = vdupq_n_f32(0.0f);
    v16 v = {z, z, z, z};
    return v;
}
/* acc + w * x, fused, per lane */
static inline v16 fma16(v16 acc, v16 w, v16 x) {
    v16 r = {vfmaq_f32(acc.a, w.a, x.a), vfmaq_f32(acc.b, w.b, x.b), vfmaq_f32(acc.c, w.c, x.c),
             vfmaq_f32(acc.d, w.d, x.d)};
    return r;
}
static inline float hsum(v16 v) { return qn_hsum(v.a, v.b, v.c, v.d); }

static inline v16 ld_f32(const float *p) {
    v16 v = {vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)};
    return v;
}
static inline void st_f32(float *p, v16 v) {
    vst1q_f32(p, v.a), vst1q_f32(p + 4, v.b), vst1q_f32(p + 8, v.c), vst1q_f32(p + 12, v.d);
}
/* bf16 -> f32: the 16 bits moved to the top (exact, any pattern) */
static inline float32x4_t bf4_lo(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)); }
static inline float32x4_t bf4_hi(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)); }
static inline v16 ld_bf16(const uint16_t *p) {
    const uint16x8_t h0 = vld1q_u16(p), h1 = vld1q_u16(p + 8);
    v16 v = {bf4_lo(h0), bf4_hi(h0), bf4_lo(h1), bf4_hi(h1)};
    return v;
}
/* f16 -> f32 (FCVTL: exact for every finite value and infinity, subnormals included) */
static inline float32x4_t hf4_lo(uint16x8_t h) { return vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))); }
static inline float32x4_t hf4_hi(uint16x8_t h) { return vcvt_high_f32_f16(vreinterpretq_f16_u16(h)); }
static inline v16 ld_f16(const uint16_t *p) {
    const uint16x8_t h0 = vld1q_u16(p), h1 = vld1q_u16(p + 8);
    v16 v = {hf4_lo(h0), hf4_hi(h0), hf4_lo(h1), hf4_hi(h1)};
    return v;
}

/* ---------------------------------------------------------------- matvec */

/* Four rows at a time (four 16-lane chains), n/4 rows apart: four long sequential weight
 * streams. Which rows share a group does not touch any row's arithmetic. */
#define DEFINE_MATVEC(NAME, WT, LD)                                                            \
    static void NAME(const WT *w, const float *x, float *y, int64_t k, int64_t n) {            \
        const int64_t kv = k & ~(int64_t)15, rem = k - kv;                                     \
        float xt[16] = {0};                                                                    \
        WT wt[16];                                                                             \
        if (rem) memcpy(xt, x + kv, (size_t)rem * sizeof(float));                              \
        const int64_t S = n / 4, sk = S * k;                                                   \
        for (int64_t r = 0; r < S; r++) {                                                      \
            const WT *w0 = w + r * k;                                                          \
            v16 a0 = zero16(), a1 = a0, a2 = a0, a3 = a0;                                      \
            for (int64_t i = 0; i < kv; i += 16) {                                             \
                const v16 xv = ld_f32(x + i);                                                  \
                a0 = fma16(a0, LD(w0 + i), xv);                                                \
                a1 = fma16(a1, LD(w0 + sk + i), xv);                                           \
                a2 = fma16(a2, LD(w0 + 2 * sk + i), xv);                                       \
                a3 = fma16(a3, LD(w0 + 3 * sk + i), xv);                                       \
            }                                                                                  \
            if (rem) {                                                                         \
                const v16 xv = ld_f32(xt);                                                     \
                v16 *as[4] = {&a0, &a1, &a2, &a3};                                             \
                for (int j = 0; j < 4; j++) {                                                  \
                    memset(wt, 0, sizeof wt);                                                  \
                    memcpy(wt, w0 + j * sk + kv, (size_t)rem * sizeof(WT));                    \
                    *as[j] = fma16(*as[j], LD(wt), xv);                                        \
                }                                                                              \
            }                                                                                  \
            y[r] = hsum(a0), y[r + S] = hsum(a1), y[r + 2 * S] = hsum(a2), y[r + 3 * S] = hsum(a3); \
        }                                                                                      \
        for (int64_t r = 4 * S; r < n; r++) {                                                  \
            const WT *wr = w + r * k;                                                          \
            v16 a = zero16();                                                                  \
            for (int64_t i = 0; i < kv; i += 16) a = fma16(a, LD(wr + i), ld_f32(x + i));      \
            if (rem) {                                                                         \
                memset(wt, 0, sizeof wt);                                                      \
                memcpy(wt, wr + kv, (size_t)rem * sizeof(WT));                                 \
                a = fma16(a, LD(wt), ld_f32(xt));                                              \
            }                                                                                  \
            y[r] = hsum(a);                                                                    \
        }                                                                                      \
    }

DEFINE_MATVEC(matvec_f32, float, ld_f32)
DEFINE_MATVEC(matvec_bf16, uint16_t, ld_bf16)
DEFINE_MATVEC(matvec_f16, uint16_t, ld_f16)

/* ---------------------------------------------------------------- FP8 e4m3 */

/* 16 FP8 bytes -> f16(q) * scale256 in the canonical 16 lanes. The f16 pattern of value / 256 is
 * (b + (b & 0x80)) << 7: the 7 magnitude bits at 7..13, the sign carried into bit 15. Its
 * widening is exact; the product is the one rounding of the generic code. */
static inline v16 ld_fp8(const uint8_t *p, float32x4_t s) {
    const uint8x16_t b = vld1q_u8(p);
    const uint16x8_t e0 = vmovl_u8(vget_low_u8(b)), e1 = vmovl_high_u8(b);
    const uint16x8_t m = vdupq_n_u16(0x80);
    const uint16x8_t h0 = vshlq_n_u16(vaddq_u16(e0, vandq_u16(e0, m)), 7);
    const uint16x8_t h1 = vshlq_n_u16(vaddq_u16(e1, vandq_u16(e1, m)), 7);
    v16 v = {vmulq_f32(hf4_lo(h0), s), vmulq_f32(hf4_hi(h0), s), vmulq_f32(hf4_lo(h1), s),
             vmulq_f32(hf4_hi(h1), s)};
    return v;
}

static inline float fp8_weight(uint8_t q, float scale256) { return r1c_f16_to_f32(r1c_fp8_to_f16_bits(q)) * scale256; }

static void matvec_fp8(const uint8_t *w, const float *scale, int64_t sc, int64_t br, int64_t bk, int64_t r0,
                       const float *x, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) {
        const uint8_t *wr = w + (r0 + r) * k;
        const float *srow = scale + ((r0 + r) / br) * sc;
        v16 a = zero16();
        int64_t i = 0;
        if (bk % 16 == 0) { /* every full group of 16 lies inside one scale block */
            for (int64_t c0 = 0; c0 < k; c0 += bk) {
                const int64_t c1 = c0 + bk < k ? c0 + bk : k;
                const float32x4_t s = vdupq_n_f32(srow[c0 / bk] * 256.0f);
                for (i = c0; i + 16 <= c1; i += 16) a = fma16(a, ld_fp8(wr + i, s), ld_f32(x + i));
                if (i < c1) break; /* the row's partial last group: below */
            }
        }
        /* the rest in groups of 16 built lane by lane, padding lanes exactly 0 (not 0 * scale) */
        for (; i < k; i += 16) {
            float wb[16], xb[16];
            for (int l = 0; l < 16; l++) {
                const int in = i + l < k;
                wb[l] = in ? fp8_weight(wr[i + l], srow[(i + l) / bk] * 256.0f) : 0.0f;
                xb[l] = in ? x[i + l] : 0.0f;
            }
            a = fma16(a, ld_f32(wb), ld_f32(xb));
        }
        y[r] = hsum(a);
    }
}

static void fp8_to_f32(const uint8_t *s, float scale256, float *d, int64_t n) {
    const float32x4_t sv = vdupq_n_f32(scale256);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) st_f32(d + i, ld_fp8(s + i, sv));
    for (; i < n; i++) d[i] = fp8_weight(s[i], scale256);
}

/* ---------------------------------------------------------------- blocked GEMM */

/* A TT tokens x RR rows register tile (3 x 2: 24 accumulator vectors of the 32). */
static inline __attribute__((always_inline)) void gemm_tile(const float *w, int64_t ldw, int nr, const float *x,
                                                            int64_t ldx, float *acc, int64_t k, int init,
                                                            int t0, int r0, const int TT, const int RR) {
    v16 c[3][2];
    for (int t = 0; t < TT; t++)
        for (int r = 0; r < RR; r++)
            c[t][r] = init ? zero16() : ld_f32(acc + ((int64_t)(t0 + t) * nr + r0 + r) * 16);
    const float *wr[2], *xt[3];
    for (int r = 0; r < RR; r++) wr[r] = w + (r0 + r) * ldw;
    for (int t = 0; t < TT; t++) xt[t] = x + (t0 + t) * ldx;
    const int64_t kv = k & ~(int64_t)15, rem = k - kv;
    for (int64_t i = 0; i < kv; i += 16) {
        v16 wv[2];
        for (int r = 0; r < RR; r++) wv[r] = ld_f32(wr[r] + i);
        for (int t = 0; t < TT; t++) {
            const v16 xv = ld_f32(xt[t] + i);
            for (int r = 0; r < RR; r++) c[t][r] = fma16(c[t][r], wv[r], xv);
        }
    }
    if (rem) { /* this block ends the reduction: zero-padded copies */
        float wb[2][16] = {{0}}, xb[3][16] = {{0}};
        for (int r = 0; r < RR; r++) memcpy(wb[r], wr[r] + kv, (size_t)rem * sizeof(float));
        for (int t = 0; t < TT; t++) memcpy(xb[t], xt[t] + kv, (size_t)rem * sizeof(float));
        for (int t = 0; t < TT; t++)
            for (int r = 0; r < RR; r++) c[t][r] = fma16(c[t][r], ld_f32(wb[r]), ld_f32(xb[t]));
    }
    for (int t = 0; t < TT; t++)
        for (int r = 0; r < RR; r++) st_f32(acc + ((int64_t)(t0 + t) * nr + r0 + r) * 16, c[t][r]);
}

static void gemm_acc(const float *w, int64_t ldw, int nr, const float *x, int64_t ldx, int nt,
                     float *acc, int64_t k, int init) {
    int t = 0;
    for (; t + 3 <= nt; t += 3) {
        int r = 0;
        for (; r + 2 <= nr; r += 2) gemm_tile(w, ldw, nr, x, ldx, acc, k, init, t, r, 3, 2);
        for (; r < nr; r++) gemm_tile(w, ldw, nr, x, ldx, acc, k, init, t, r, 3, 1);
    }
    for (; t < nt; t++) {
        int r = 0;
        for (; r + 2 <= nr; r += 2) gemm_tile(w, ldw, nr, x, ldx, acc, k, init, t, r, 1, 2);
        for (; r < nr; r++) gemm_tile(w, ldw, nr, x, ldx, acc, k, init, t, r, 1, 1);
    }
}

static void lane_sums(const float *acc, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = hsum(ld_f32(acc + i * 16));
}

/* ---------------------------------------------------------------- conversions, axpy */

static void bf16_to_f32(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(s + i);
        vst1q_f32(d + i, bf4_lo(h)), vst1q_f32(d + i + 4, bf4_hi(h));
    }
    for (; i < n; i++) d[i] = r1c_bf16_to_f32(s[i]);
}

/* FCVTL, except for NaNs: the hardware quiets a signalling NaN, r1c_f16_to_f32 keeps its
 * payload as it is (sign | 0x7f800000 | mantissa << 13); those lanes take the generic bits. */
static inline float32x4_t f16x4_exact(uint16x4_t h) {
    const uint32x4_t u = vmovl_u16(h);
    const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fff)), vdupq_n_u32(0x7c00));
    const uint32x4_t gen = vorrq_u32(vorrq_u32(vshlq_n_u32(vandq_u32(u, vdupq_n_u32(0x8000)), 16), vdupq_n_u32(0x7f800000)),
                                     vshlq_n_u32(vandq_u32(u, vdupq_n_u32(0x3ff)), 13));
    const float32x4_t hw = vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vbslq_f32(nan, vreinterpretq_f32_u32(gen), hw);
}

static void f16_to_f32(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(s + i);
        vst1q_f32(d + i, f16x4_exact(vget_low_u16(h))), vst1q_f32(d + i + 4, f16x4_exact(vget_high_u16(h)));
    }
    for (; i < n; i++) d[i] = r1c_f16_to_f32(s[i]);
}

static void axpy(float a, const float *x, float *y, int64_t n) {
    const float32x4_t av = vdupq_n_f32(a);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), av, vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* ---------------------------------------------------------------- r1c_exp (vexp.h), 4 lanes */

static inline float32x4_t vexp4(float32x4_t x) {
    float32x4_t kf = vfmaq_f32(vdupq_n_f32(R1C_EXP_SHIFT), x, vdupq_n_f32(R1C_EXP_LOG2E));
    const int32x4_t ki = vsubq_s32(vreinterpretq_s32_f32(kf), vdupq_n_s32(0x4B400000));
    kf = vsubq_f32(kf, vdupq_n_f32(R1C_EXP_SHIFT));
    float32x4_t r = vfmaq_f32(x, kf, vdupq_n_f32(-R1C_EXP_LN2_HI));
    r = vfmaq_f32(r, kf, vdupq_n_f32(-R1C_EXP_LN2_LO));
    float32x4_t p = vfmaq_f32(vdupq_n_f32(R1C_EXP_C6), vdupq_n_f32(R1C_EXP_C7), r);
    p = vfmaq_f32(vdupq_n_f32(R1C_EXP_C5), p, r);
    p = vfmaq_f32(vdupq_n_f32(R1C_EXP_C4), p, r);
    p = vfmaq_f32(vdupq_n_f32(R1C_EXP_C3), p, r);
    p = vfmaq_f32(vdupq_n_f32(R1C_EXP_C2), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const float32x4_t scale = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(ki, vdupq_n_s32(127)), 23));
    float32x4_t y = vmulq_f32(p, scale);
    y = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(R1C_EXP_HI)), vdupq_n_f32(INFINITY), y);
    return vbslq_f32(vcltq_f32(x, vdupq_n_f32(R1C_EXP_LO)), vdupq_n_f32(0.0f), y);
}

static void exp_minus(float *x, float m, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vexp4(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(m))));
    for (; i < n; i++) x[i] = r1c_exp(x[i] - m);
}

static void silu_mul(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(g + i);
        const float32x4_t e = vexp4(vnegq_f32(v));
        vst1q_f32(g + i, vmulq_f32(vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.0f), e)), vld1q_f32(u + i)));
    }
    for (; i < n; i++) g[i] = r1c_silu_mul1(g[i], u[i]);
}

const r1c_kernels r1c_kernels_neon = {
    .name = "neon",
    .matvec_f32 = matvec_f32,
    .matvec_bf16 = matvec_bf16,
    .matvec_f16 = matvec_f16,
    .gemm_acc = gemm_acc,
    .lane_sums = lane_sums,
    .matvec_fp8 = matvec_fp8,
    .fp8_to_f32 = fp8_to_f32,
    .bf16_to_f32 = bf16_to_f32,
    .f16_to_f32 = f16_to_f32,
    .axpy = axpy,
    .exp_minus = exp_minus,
    .silu_mul = silu_mul,
    .quant = &r1c_quant_kernels_neon,
};

/* the same with the SDOT quantised kernels (kernels_quant_neon_dotprod.c); kernels.c hands it
 * out only when the CPU reports asimddp */
const r1c_kernels r1c_kernels_neon_dotprod = {
    .name = "neon_dotprod",
    .matvec_f32 = matvec_f32,
    .matvec_bf16 = matvec_bf16,
    .matvec_f16 = matvec_f16,
    .gemm_acc = gemm_acc,
    .lane_sums = lane_sums,
    .matvec_fp8 = matvec_fp8,
    .fp8_to_f32 = fp8_to_f32,
    .bf16_to_f32 = bf16_to_f32,
    .f16_to_f32 = f16_to_f32,
    .axpy = axpy,
    .exp_minus = exp_minus,
    .silu_mul = silu_mul,
    .quant = &r1c_quant_kernels_neon_dotprod,
};
