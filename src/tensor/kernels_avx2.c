/* kernels_avx2.c — AVX2 + FMA + F16C kernels in the canonical order: the 16 canonical lanes
 * are two ymm registers (lanes 0-7, 8-15). Partial last groups go through a zero-padded
 * copy so that padded lanes see fma(0, 0, acc) exactly as the other tables do. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "vexp.h"

typedef struct { __m256 lo, hi; } v16;

static inline float hsum(v16 v) {
    __m256 a = _mm256_add_ps(v.lo, v.hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

static inline v16 zero16(void) { v16 v = {_mm256_setzero_ps(), _mm256_setzero_ps()}; return v; }
static inline v16 fma16(v16 a, v16 b, v16 c) {
    v16 r = {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
    return r;
}
static inline v16 ld_f32(const float *p) { v16 v = {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; return v; }
static inline __m256 bf8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static inline v16 ld_bf16(const uint16_t *p) { v16 v = {bf8(p), bf8(p + 8)}; return v; }
static inline v16 ld_f16(const uint16_t *p) {
    v16 v = {_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)),
             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 8)))};
    return v;
}

/* Four rows at a time (eight ymm chains), n/4 rows apart: four long sequential streams
 * (see kernels_avx512.c). */
#define DEFINE_MATVEC(NAME, WT, LD)                                                            \
    static void NAME(const WT *w, const float *x, float *y, int64_t k, int64_t n) {            \
        const int64_t kv = k & ~(int64_t)15;                                                    \
        const int64_t rem = k - kv;                                                             \
        float xt[16] = {0};                                                                     \
        WT wt[16];                                                                              \
        if (rem) memcpy(xt, x + kv, (size_t)rem * sizeof(float));                               \
        const int64_t S = n / 4, sk = S * k;                                                    \
        for (int64_t r = 0; r < S; r++) {                                                       \
            const WT *w0 = w + r * k;                                                           \
            v16 a0 = zero16(), a1 = a0, a2 = a0, a3 = a0;                                       \
            for (int64_t i = 0; i < kv; i += 16) {                                              \
                v16 xv = ld_f32(x + i);                                                         \
                a0 = fma16(LD(w0 + i), xv, a0);                                                 \
                a1 = fma16(LD(w0 + sk + i), xv, a1);                                            \
                a2 = fma16(LD(w0 + 2 * sk + i), xv, a2);                                        \
                a3 = fma16(LD(w0 + 3 * sk + i), xv, a3);                                        \
            }                                                                                   \
            if (rem) {                                                                          \
                v16 xv = ld_f32(xt);                                                            \
                v16 *as[4] = {&a0, &a1, &a2, &a3};                                              \
                for (int j = 0; j < 4; j++) {                                                   \
                    memset(wt, 0, sizeof wt);                                                   \
                    memcpy(wt, w0 + j * sk + kv, (size_t)rem * sizeof(WT));                     \
                    *as[j] = fma16(LD(wt), xv, *as[j]);                                         \
                }                                                                               \
            }                                                                                   \
            y[r] = hsum(a0), y[r + S] = hsum(a1), y[r + 2 * S] = hsum(a2), y[r + 3 * S] = hsum(a3); \
        }                                                                                       \
        for (int64_t r = 4 * S; r < n; r++) {                                                                    \
            const WT *wr = w + r * k;                                                           \
            v16 a = zero16();                                                                   \
            for (int64_t i = 0; i < kv; i += 16) a = fma16(LD(wr + i), ld_f32(x + i), a);       \
            if (rem) {                                                                          \
                memset(wt, 0, sizeof wt);                                                       \
                memcpy(wt, wr + kv, (size_t)rem * sizeof(WT));                                  \
                a = fma16(LD(wt), ld_f32(xt), a);                                               \
            }                                                                                   \
            y[r] = hsum(a);                                                                     \
        }                                                                                       \
    }

DEFINE_MATVEC(matvec_f32, float, ld_f32)
DEFINE_MATVEC(matvec_bf16, uint16_t, ld_bf16)
DEFINE_MATVEC(matvec_f16, uint16_t, ld_f16)

/* 16 FP8 bytes -> the canonical 16 lanes (two ymm) of f16(q) * scale256 */
static inline v16 ld_fp8(const uint8_t *p, __m256 s) {
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m256i e = _mm256_cvtepu8_epi16(b);
    __m256i h = _mm256_slli_epi16(_mm256_add_epi16(e, _mm256_and_si256(e, _mm256_set1_epi16(0x80))), 7);
    v16 r = {_mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(h)), s),
             _mm256_mul_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)), s)};
    return r;
}

static void matvec_fp8(const uint8_t *w, const float *scale, int64_t sc, int64_t br, int64_t bk, int64_t r0,
                       const float *x, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) {
        const uint8_t *wr = w + (r0 + r) * k;
        v16 a = zero16();
        for (int64_t c0 = 0; c0 < k; c0 += bk) {
            const int64_t c1 = c0 + bk < k ? c0 + bk : k;
            const __m256 s = _mm256_set1_ps(scale[((r0 + r) / br) * sc + c0 / bk] * 256.0f);
            int64_t i = c0;
            for (; i + 16 <= c1; i += 16) a = fma16(ld_fp8(wr + i, s), ld_f32(x + i), a);
            if (i < c1) { /* zero-padded copies: padding lanes see fma(0, 0, acc) */
                uint8_t wb[16] = {0};
                float xb[16] = {0};
                memcpy(wb, wr + i, (size_t)(c1 - i));
                memcpy(xb, x + i, sizeof(float) * (size_t)(c1 - i));
                a = fma16(ld_fp8(wb, s), ld_f32(xb), a);
            }
        }
        y[r] = hsum(a);
    }
}

static void fp8_to_f32(const uint8_t *s, float scale256, float *d, int64_t n) {
    const __m256 sv = _mm256_set1_ps(scale256);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16 v = ld_fp8(s + i, sv);
        _mm256_storeu_ps(d + i, v.lo), _mm256_storeu_ps(d + i + 8, v.hi);
    }
    for (; i < n; i++) d[i] = r1c_f16_to_f32(r1c_fp8_to_f16_bits(s[i])) * scale256;
}

static void gemm_acc(const float *w, int64_t ldw, int nr, const float *x, int64_t ldx, int nt,
                     float *acc, int64_t k, int init) {
    const int64_t kv = k & ~(int64_t)15, rem = k - kv;
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r += 2) {
            int two = r + 1 < nr;
            float *p0 = acc + ((int64_t)t * nr + r) * 16, *p1 = p0 + 16;
            const float *w0 = w + r * ldw, *w1 = two ? w0 + ldw : w0, *xt = x + t * ldx;
            v16 c0 = init ? zero16() : ld_f32(p0);
            v16 c1 = (init || !two) ? zero16() : ld_f32(p1);
            for (int64_t i = 0; i < kv; i += 16) {
                v16 xv = ld_f32(xt + i);
                c0 = fma16(ld_f32(w0 + i), xv, c0);
                c1 = fma16(ld_f32(w1 + i), xv, c1);
            }
            if (rem) {
                float xb[16] = {0}, wb0[16] = {0}, wb1[16] = {0};
                memcpy(xb, xt + kv, (size_t)rem * 4);
                memcpy(wb0, w0 + kv, (size_t)rem * 4);
                memcpy(wb1, w1 + kv, (size_t)rem * 4);
                c0 = fma16(ld_f32(wb0), ld_f32(xb), c0);
                c1 = fma16(ld_f32(wb1), ld_f32(xb), c1);
            }
            _mm256_storeu_ps(p0, c0.lo), _mm256_storeu_ps(p0 + 8, c0.hi);
            if (two) _mm256_storeu_ps(p1, c1.lo), _mm256_storeu_ps(p1 + 8, c1.hi);
        }
}

static void lane_sums(const float *acc, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = hsum(ld_f32(acc + i * 16));
}

static void bf16_to_f32(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, bf8(s + i));
    for (; i < n; i++) d[i] = r1c_bf16_to_f32(s[i]);
}

static void f16_to_f32(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) d[i] = r1c_f16_to_f32(s[i]);
}

static void axpy(float a, const float *x, float *y, int64_t n) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(x[i]), _mm_set_ss(y[i])));
}

/* ---------------------------------------------------------------- r1c_exp (vexp.h), 8 lanes */

static inline __m256 vexp8(__m256 x) {
    __m256 kf = _mm256_fmadd_ps(x, _mm256_set1_ps(R1C_EXP_LOG2E), _mm256_set1_ps(R1C_EXP_SHIFT));
    const __m256i ki = _mm256_sub_epi32(_mm256_castps_si256(kf), _mm256_set1_epi32(0x4B400000));
    kf = _mm256_sub_ps(kf, _mm256_set1_ps(R1C_EXP_SHIFT));
    __m256 r = _mm256_fmadd_ps(kf, _mm256_set1_ps(-R1C_EXP_LN2_HI), x);
    r = _mm256_fmadd_ps(kf, _mm256_set1_ps(-R1C_EXP_LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(R1C_EXP_C7), r, _mm256_set1_ps(R1C_EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(R1C_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(R1C_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(R1C_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(R1C_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ki, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(p, scale);
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(R1C_EXP_HI), _CMP_GT_OQ));
    return _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(R1C_EXP_LO), _CMP_LT_OQ));
}

static void exp_minus(float *x, float m, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, vexp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(m))));
    for (; i < n; i++) x[i] = r1c_exp(x[i] - m);
}

static void silu_mul(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(g + i);
        const __m256 e = vexp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = r1c_silu_mul1(g[i], u[i]);
}

const r1c_kernels r1c_kernels_avx2 = {
    .name = "avx2",
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
    .quant = &r1c_quant_kernels_avx2,
};
