/* kernels_avx512.c — AVX-512 (F/BW/VL/DQ) + FMA + F16C kernels in the canonical order.
 * One zmm register = the 16 canonical lanes. Built with AVX-512 flags; called only when
 * CPUID says the CPU has them. */
#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "kernels.h"
#include "vexp.h"

static inline float hsum(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 a = _mm256_add_ps(lo, hi);                                           /* l + l+8 */
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)); /* + l+4 */
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));                              /* + l+2 */
    __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));                               /* 0 + 1 */
    return _mm_cvtss_f32(d);
}

static inline __m512 ld_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline __m512 ldm_f32(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 ld_bf16(const uint16_t *p) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline __m512 ldm_bf16(const uint16_t *p, __mmask16 m) {
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline __m512 ld_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
static inline __m512 ldm_f16(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* Eight rows at a time: eight independent FMA chains hide the FMA latency. The eight rows of a
 * group are n/8 rows apart, so each chain walks one long contiguous run of memory across
 * groups — eight long sequential streams, which the hardware prefetchers follow at full
 * bandwidth (adjacent rows would be eight short streams, ~15% slower). Which rows share a group
 * does not touch any row's arithmetic. */
#define DEFINE_MATVEC(NAME, WT, LD, LDM)                                                      \
    static void NAME(const WT *w, const float *x, float *y, int64_t k, int64_t n) {           \
        const int64_t kv = k & ~(int64_t)15;                                                   \
        const __mmask16 tm = (__mmask16)((1u << (k & 15)) - 1);                                \
        const int64_t S = n / 8, sk = S * k;                                                   \
        for (int64_t r = 0; r < S; r++) {                                                      \
            const WT *w0 = w + r * k;                                                          \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,      \
                   a6 = a0, a7 = a0;                                                           \
            for (int64_t i = 0; i < kv; i += 16) {                                             \
                __m512 xv = _mm512_loadu_ps(x + i);                                            \
                a0 = _mm512_fmadd_ps(LD(w0 + i), xv, a0);                                      \
                a1 = _mm512_fmadd_ps(LD(w0 + sk + i), xv, a1);                                 \
                a2 = _mm512_fmadd_ps(LD(w0 + 2 * sk + i), xv, a2);                            \
                a3 = _mm512_fmadd_ps(LD(w0 + 3 * sk + i), xv, a3);                             \
                a4 = _mm512_fmadd_ps(LD(w0 + 4 * sk + i), xv, a4);                             \
                a5 = _mm512_fmadd_ps(LD(w0 + 5 * sk + i), xv, a5);                             \
                a6 = _mm512_fmadd_ps(LD(w0 + 6 * sk + i), xv, a6);                             \
                a7 = _mm512_fmadd_ps(LD(w0 + 7 * sk + i), xv, a7);                             \
            }                                                                                  \
            if (kv < k) {                                                                      \
                __m512 xv = _mm512_maskz_loadu_ps(tm, x + kv);                                 \
                a0 = _mm512_fmadd_ps(LDM(w0 + kv, tm), xv, a0);                                \
                a1 = _mm512_fmadd_ps(LDM(w0 + sk + kv, tm), xv, a1);                           \
                a2 = _mm512_fmadd_ps(LDM(w0 + 2 * sk + kv, tm), xv, a2);                       \
                a3 = _mm512_fmadd_ps(LDM(w0 + 3 * sk + kv, tm), xv, a3);                       \
                a4 = _mm512_fmadd_ps(LDM(w0 + 4 * sk + kv, tm), xv, a4);                       \
                a5 = _mm512_fmadd_ps(LDM(w0 + 5 * sk + kv, tm), xv, a5);                       \
                a6 = _mm512_fmadd_ps(LDM(w0 + 6 * sk + kv, tm), xv, a6);                       \
                a7 = _mm512_fmadd_ps(LDM(w0 + 7 * sk + kv, tm), xv, a7);                       \
            }                                                                                  \
            y[r] = hsum(a0), y[r + S] = hsum(a1), y[r + 2 * S] = hsum(a2);                     \
            y[r + 3 * S] = hsum(a3), y[r + 4 * S] = hsum(a4), y[r + 5 * S] = hsum(a5);         \
            y[r + 6 * S] = hsum(a6), y[r + 7 * S] = hsum(a7);                                  \
        }                                                                                      \
        for (int64_t r = 8 * S; r < n; r++) {                                                  \
            const WT *wr = w + r * k;                                                          \
            __m512 a = _mm512_setzero_ps();                                                    \
            for (int64_t i = 0; i < kv; i += 16)                                               \
                a = _mm512_fmadd_ps(LD(wr + i), _mm512_loadu_ps(x + i), a);                    \
            if (kv < k) a = _mm512_fmadd_ps(LDM(wr + kv, tm), _mm512_maskz_loadu_ps(tm, x + kv), a); \
            y[r] = hsum(a);                                                                    \
        }                                                                                      \
    }

DEFINE_MATVEC(matvec_f32, float, ld_f32, ldm_f32)
DEFINE_MATVEC(matvec_bf16, uint16_t, ld_bf16, ldm_bf16)
DEFINE_MATVEC(matvec_f16, uint16_t, ld_f16, ldm_f16)

/* 16 FP8 bytes -> 16 floats: the f16 pattern of each (value / 256), widened, times scale * 256 */
/* the f16 pattern of (value / 256): (b + (b & 0x80)) << 7 puts the 7 magnitude bits at 7..13 and
 * carries the sign from bit 14 into bit 15 — three integer ops */
static inline __m256i fp8_half_bits(__m256i b) {
    return _mm256_slli_epi16(_mm256_add_epi16(b, _mm256_and_si256(b, _mm256_set1_epi16(0x80))), 7);
}
static inline __m512 ld_fp8(const uint8_t *p, __m512 s256) {
    __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
    return _mm512_mul_ps(_mm512_cvtph_ps(fp8_half_bits(b)), s256);
}
static inline __m512 ldm_fp8(const uint8_t *p, __m512 s256, __mmask16 m) {
    __m256i b = _mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(m, p));
    return _mm512_maskz_mov_ps(m, _mm512_mul_ps(_mm512_cvtph_ps(fp8_half_bits(b)), s256)); /* padding lanes: exactly 0 */
}

/* G rows r, r + stride, ...: one FMA chain each; the scale of a row changes every bk columns
 * (bk is a multiple of 16, so only a row's last group can be partial). */
static inline __attribute__((always_inline)) void fp8_rows(const uint8_t *w, const float *scale, int64_t sc,
                                                          int64_t br, int64_t bk, int64_t r0, const float *x,
                                                          float *y, int64_t k, int64_t r, int64_t stride, const int G) {
    __m512 a[8];
    const uint8_t *wr[8];
    for (int j = 0; j < G; j++) a[j] = _mm512_setzero_ps(), wr[j] = w + (r0 + r + j * stride) * k;
    for (int64_t c0 = 0; c0 < k; c0 += bk) {
        const int64_t c1 = c0 + bk < k ? c0 + bk : k;
        __m512 s[8];
        for (int j = 0; j < G; j++) s[j] = _mm512_set1_ps(scale[((r0 + r + j * stride) / br) * sc + c0 / bk] * 256.0f);
        int64_t i = c0;
        for (; i + 16 <= c1; i += 16) {
            __m512 xv = _mm512_loadu_ps(x + i);
            for (int j = 0; j < G; j++) a[j] = _mm512_fmadd_ps(ld_fp8(wr[j] + i, s[j]), xv, a[j]);
        }
        if (i < c1) {
            const __mmask16 m = (__mmask16)((1u << (c1 - i)) - 1);
            __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
            for (int j = 0; j < G; j++) a[j] = _mm512_fmadd_ps(ldm_fp8(wr[j] + i, s[j], m), xv, a[j]);
        }
    }
    for (int j = 0; j < G; j++) y[r + j * stride] = hsum(a[j]);
}

/* FP8: eight strided rows at a time, like the other matvecs. */
static void matvec_fp8(const uint8_t *w, const float *scale, int64_t sc, int64_t br, int64_t bk, int64_t r0,
                       const float *x, float *y, int64_t k, int64_t n) {
    const int64_t S = n / 8;
    for (int64_t r = 0; r < S; r++) fp8_rows(w, scale, sc, br, bk, r0, x, y, k, r, S, 8);
    for (int64_t r = 8 * S; r < n; r++) fp8_rows(w, scale, sc, br, bk, r0, x, y, k, r, 0, 1);
}

static void fp8_to_f32(const uint8_t *s, float scale256, float *d, int64_t n) {
    const __m512 sv = _mm512_set1_ps(scale256);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, ld_fp8(s + i, sv));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(d + i, m, ldm_fp8(s + i, sv, m));
    }
}

/* ---- FP8 with AVX-512 VBMI: 64 weights per cache line through byte-table lookups ----
 * e4m3 values are exactly bf16 values (3 mantissa bits): two 128-entry tables give the low and
 * high byte of the bf16 pattern of each magnitude (vpermi2b ignores the index's top bit, the
 * sign, which is OR'ed back), and four byte permutes place them as the top half of f32 lanes.
 * value * scale in one rounding equals the f16 route's f16(q) * (scale * 256): same bits. */
typedef struct fp8_luts {
    __m512i lo0, lo1, hi0, hi1, pick[4];
} fp8_luts;

/* the byte tables, built once per process */
static uint8_t g_fp8_lo[128] __attribute__((aligned(64))), g_fp8_hi[128] __attribute__((aligned(64)));
static uint8_t g_fp8_idx[4][64] __attribute__((aligned(64)));
static pthread_once_t g_fp8_once = PTHREAD_ONCE_INIT;

static void fp8_tables_init(void) {
    for (int m = 0; m < 128; m++) {
        float v = r1c_fp8_to_f32((uint8_t)m);
        uint32_t u;
        memcpy(&u, &v, 4);
        if (m == 127) u = 0x7fc00000u;
        g_fp8_lo[m] = (uint8_t)(u >> 16), g_fp8_hi[m] = (uint8_t)(u >> 24);
    }
    for (int c = 0; c < 4; c++)
        for (int j = 0; j < 16; j++) {
            g_fp8_idx[c][4 * j] = g_fp8_idx[c][4 * j + 1] = 0; /* masked to zero */
            g_fp8_idx[c][4 * j + 2] = (uint8_t)(16 * c + j);      /* low byte of element 16c+j */
            g_fp8_idx[c][4 * j + 3] = (uint8_t)(64 + 16 * c + j); /* its high byte */
        }
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static fp8_luts fp8_luts_make(void) {
    pthread_once(&g_fp8_once, fp8_tables_init);
    fp8_luts L;
    L.lo0 = _mm512_load_si512(g_fp8_lo), L.lo1 = _mm512_load_si512(g_fp8_lo + 64);
    L.hi0 = _mm512_load_si512(g_fp8_hi), L.hi1 = _mm512_load_si512(g_fp8_hi + 64);
    for (int c = 0; c < 4; c++) L.pick[c] = _mm512_load_si512(g_fp8_idx[c]);
    return L;
}

#define VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,fma,f16c"), always_inline)) static inline

/* the bf16 patterns of 64 e4m3 bytes: low bytes in *lo, high bytes (sign included) in *hi */
VBMI void fp8x64(const fp8_luts *L, __m512i q, __m512i *lo, __m512i *hi) {
    *lo = _mm512_permutex2var_epi8(L->lo0, q, L->lo1);
    *hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(L->hi0, q, L->hi1), q, _mm512_set1_epi8((char)0x80), 0xf8);
}
/* elements 16c .. 16c+15 as f32 (exact values), times s */
VBMI __m512 fp8_part(const fp8_luts *L, __m512i lo, __m512i hi, int c, __m512 s) {
    __m512i bits = _mm512_maskz_permutex2var_epi8(0xccccccccccccccccull, lo, L->pick[c], hi);
    return _mm512_mul_ps(_mm512_castsi512_ps(bits), s);
}

VBMI void fp8_rows_vbmi(const fp8_luts *L, const uint8_t *w, const float *scale, int64_t sc, int64_t br, int64_t bk,
                        int64_t r0, const float *x, float *y, int64_t k, int64_t r, int64_t stride, const int G) {
    __m512 a[8];
    const uint8_t *wr[8];
    for (int j = 0; j < G; j++) a[j] = _mm512_setzero_ps(), wr[j] = w + (r0 + r + j * stride) * k;
    for (int64_t c0 = 0; c0 < k; c0 += bk) {
        const int64_t c1 = c0 + bk < k ? c0 + bk : k;
        __m512 s[8];
        for (int j = 0; j < G; j++) s[j] = _mm512_set1_ps(scale[((r0 + r + j * stride) / br) * sc + c0 / bk]);
        int64_t i = c0;
        for (; i + 64 <= c1; i += 64) {
            const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
            const __m512 x2 = _mm512_loadu_ps(x + i + 32), x3 = _mm512_loadu_ps(x + i + 48);
            for (int j = 0; j < G; j++) {
                __m512i lo, hi;
                fp8x64(L, _mm512_loadu_si512(wr[j] + i), &lo, &hi);
                a[j] = _mm512_fmadd_ps(fp8_part(L, lo, hi, 0, s[j]), x0, a[j]);
                a[j] = _mm512_fmadd_ps(fp8_part(L, lo, hi, 1, s[j]), x1, a[j]);
                a[j] = _mm512_fmadd_ps(fp8_part(L, lo, hi, 2, s[j]), x2, a[j]);
                a[j] = _mm512_fmadd_ps(fp8_part(L, lo, hi, 3, s[j]), x3, a[j]);
            }
        }
        if (i < c1) { /* the block's last < 64 columns: zero-filled bytes give exact zeros */
            const int64_t rem = c1 - i, groups = (rem + 15) / 16;
            const __mmask64 bm = rem >= 64 ? ~0ull : ((1ull << rem) - 1);
            for (int j = 0; j < G; j++) {
                __m512i lo, hi;
                fp8x64(L, _mm512_maskz_loadu_epi8(bm, wr[j] + i), &lo, &hi);
                for (int g = 0; g < groups; g++) {
                    const int64_t left = rem - 16 * g;
                    const __mmask16 xm = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
                    a[j] = _mm512_fmadd_ps(fp8_part(L, lo, hi, g, s[j]), _mm512_maskz_loadu_ps(xm, x + i + 16 * g), a[j]);
                }
            }
        }
    }
    for (int j = 0; j < G; j++) y[r + j * stride] = hsum(a[j]);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,fma,f16c")))
static void matvec_fp8_vbmi(const uint8_t *w, const float *scale, int64_t sc, int64_t br, int64_t bk, int64_t r0,
                            const float *x, float *y, int64_t k, int64_t n) {
    const fp8_luts L = fp8_luts_make();
    const int64_t S = n / 8;
    for (int64_t r = 0; r < S; r++) fp8_rows_vbmi(&L, w, scale, sc, br, bk, r0, x, y, k, r, S, 8);
    for (int64_t r = 8 * S; r < n; r++) fp8_rows_vbmi(&L, w, scale, sc, br, bk, r0, x, y, k, r, 0, 1);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,fma,f16c")))
static void fp8_to_f32_vbmi(const uint8_t *src, float scale256, float *d, int64_t n) {
    const fp8_luts L = fp8_luts_make();
    const __m512 s = _mm512_set1_ps(scale256 / 256.0f); /* exact: a power-of-two division */
    for (int64_t i = 0; i < n; i += 64) {
        const int64_t rem = n - i;
        const __mmask64 bm = rem >= 64 ? ~0ull : ((1ull << rem) - 1);
        __m512i lo, hi;
        fp8x64(&L, _mm512_maskz_loadu_epi8(bm, src + i), &lo, &hi);
        for (int g = 0; g < 4 && 16 * g < rem; g++) {
            const int64_t left = rem - 16 * g;
            const __mmask16 m = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            _mm512_mask_storeu_ps(d + i + 16 * g, m, fp8_part(&L, lo, hi, g, s));
        }
    }
}

/* Full 6 x 4 register tile: 24 accumulators, 4 weight vectors, 1 token vector. */
static void gemm_tile_6x4(const float *w, int64_t ldw, const float *x, int64_t ldx, float *acc,
                          int64_t k, int init) {
    __m512 c[R1C_GEMM_MT][R1C_GEMM_NR];
#pragma GCC unroll 24
    for (int j = 0; j < R1C_GEMM_MT * R1C_GEMM_NR; j++)
        c[j / R1C_GEMM_NR][j % R1C_GEMM_NR] = init ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + j * 16);
    const int64_t kv = k & ~(int64_t)15;
    for (int64_t i = 0; i < kv; i += 16) {
        __m512 w0 = _mm512_loadu_ps(w + i), w1 = _mm512_loadu_ps(w + ldw + i);
        __m512 w2 = _mm512_loadu_ps(w + 2 * ldw + i), w3 = _mm512_loadu_ps(w + 3 * ldw + i);
#pragma GCC unroll 6
        for (int t = 0; t < R1C_GEMM_MT; t++) {
            __m512 xv = _mm512_loadu_ps(x + t * ldx + i);
            c[t][0] = _mm512_fmadd_ps(w0, xv, c[t][0]);
            c[t][1] = _mm512_fmadd_ps(w1, xv, c[t][1]);
            c[t][2] = _mm512_fmadd_ps(w2, xv, c[t][2]);
            c[t][3] = _mm512_fmadd_ps(w3, xv, c[t][3]);
        }
    }
    if (kv < k) {
        const __mmask16 m = (__mmask16)((1u << (k & 15)) - 1);
        __m512 w0 = _mm512_maskz_loadu_ps(m, w + kv), w1 = _mm512_maskz_loadu_ps(m, w + ldw + kv);
        __m512 w2 = _mm512_maskz_loadu_ps(m, w + 2 * ldw + kv);
        __m512 w3 = _mm512_maskz_loadu_ps(m, w + 3 * ldw + kv);
        for (int t = 0; t < R1C_GEMM_MT; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + t * ldx + kv);
            c[t][0] = _mm512_fmadd_ps(w0, xv, c[t][0]);
            c[t][1] = _mm512_fmadd_ps(w1, xv, c[t][1]);
            c[t][2] = _mm512_fmadd_ps(w2, xv, c[t][2]);
            c[t][3] = _mm512_fmadd_ps(w3, xv, c[t][3]);
        }
    }
#pragma GCC unroll 24
    for (int j = 0; j < R1C_GEMM_MT * R1C_GEMM_NR; j++)
        _mm512_storeu_ps(acc + j * 16, c[j / R1C_GEMM_NR][j % R1C_GEMM_NR]);
}

static void gemm_acc(const float *w, int64_t ldw, int nr, const float *x, int64_t ldx, int nt,
                     float *acc, int64_t k, int init) {
    if (nt == R1C_GEMM_MT && nr == R1C_GEMM_NR) {
        gemm_tile_6x4(w, ldw, x, ldx, acc, k, init);
        return;
    }
    const int64_t kv = k & ~(int64_t)15;
    const __mmask16 m = (__mmask16)((1u << (k & 15)) - 1);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) {
            float *a = acc + ((int64_t)t * nr + r) * 16;
            const float *wr = w + r * ldw, *xt = x + t * ldx;
            __m512 c = init ? _mm512_setzero_ps() : _mm512_loadu_ps(a);
            for (int64_t i = 0; i < kv; i += 16)
                c = _mm512_fmadd_ps(_mm512_loadu_ps(wr + i), _mm512_loadu_ps(xt + i), c);
            if (kv < k)
                c = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, wr + kv), _mm512_maskz_loadu_ps(m, xt + kv), c);
            _mm512_storeu_ps(a, c);
        }
}

/* Sixteen tree sums at once: each level adds the same lane pairs as the canonical tree
 * (l + 8, then + 4, + 2, + 1), on transposed data, so the bits equal r1c_lane_sum's. */
static __m512 tree16(const __m512 v[16]) {
    __m512 u[8], w[4], z[2];
    for (int i = 0; i < 8; i++) /* [b(v2i) | b(v2i+1)], b[l] = a[l] + a[l+8] */
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
    for (int j = 0; j < 4; j++) /* four c's of 4 lanes, c[l] = b[l] + b[l+4] */
        w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * j], u[2 * j + 1], 0x88),
                             _mm512_shuffle_f32x4(u[2 * j], u[2 * j + 1], 0xDD));
    for (int m = 0; m < 2; m++) /* d[l] = c[l] + c[l+2] */
        z[m] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * m], w[2 * m + 1], 0x44),
                             _mm512_shuffle_ps(w[2 * m], w[2 * m + 1], 0xEE));
    /* d[0] + d[1]; lane 4k+s then holds the sum of v[4s+k] */
    __m512 r = _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, r);
}

static void lane_sums(const float *acc, int64_t n, float *out) {
    int64_t i = 0;
    __m512 v[16];
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) v[j] = _mm512_loadu_ps(acc + (i + j) * 16);
        _mm512_storeu_ps(out + i, tree16(v));
    }
    if (i < n) {
        int rem = (int)(n - i);
        for (int j = 0; j < 16; j++) v[j] = j < rem ? _mm512_loadu_ps(acc + (i + j) * 16) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(out + i, (__mmask16)((1u << rem) - 1), tree16(v));
    }
}

static void bf16_to_f32(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, ld_bf16(s + i));
    for (; i < n; i++) d[i] = r1c_bf16_to_f32(s[i]);
}

static void f16_to_f32(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, ld_f16(s + i));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(d + i, m, ldm_f16(s + i, m));
    }
}

static void axpy(float a, const float *x, float *y, int64_t n) {
    __m512 av = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

/* ---------------------------------------------------------------- r1c_exp (vexp.h), 16 lanes */

static inline __m512 vexp16(__m512 x) {
    __m512 kf = _mm512_fmadd_ps(x, _mm512_set1_ps(R1C_EXP_LOG2E), _mm512_set1_ps(R1C_EXP_SHIFT));
    const __m512i ki = _mm512_sub_epi32(_mm512_castps_si512(kf), _mm512_set1_epi32(0x4B400000));
    kf = _mm512_sub_ps(kf, _mm512_set1_ps(R1C_EXP_SHIFT));
    __m512 r = _mm512_fmadd_ps(kf, _mm512_set1_ps(-R1C_EXP_LN2_HI), x);
    r = _mm512_fmadd_ps(kf, _mm512_set1_ps(-R1C_EXP_LN2_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(R1C_EXP_C7), r, _mm512_set1_ps(R1C_EXP_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(R1C_EXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(R1C_EXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(R1C_EXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(R1C_EXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ki, _mm512_set1_epi32(127)), 23));
    __m512 y = _mm512_mul_ps(p, scale);
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(R1C_EXP_HI), _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(R1C_EXP_LO), _CMP_LT_OQ), _mm512_setzero_ps());
}

/* NQ queries x 16 C floats of d (C vectors, m: the lanes of the last one) over all nk keys */
static inline __attribute__((always_inline)) void pv_cols(const float *p, int64_t ldp, const int NQ, const float *v,
                                                          int64_t ldv, int nk, float *const *out, int d0, const int C,
                                                          __mmask16 m) {
    __m512 acc[4][4];
    for (int i = 0; i < NQ; i++)
        for (int c = 0; c < C; c++) acc[i][c] = _mm512_maskz_loadu_ps(c == C - 1 ? m : 0xffff, out[i] + d0 + 16 * c);
    for (int j = 0; j < nk; j++) {
        __m512 V[4];
        for (int c = 0; c < C; c++) V[c] = _mm512_maskz_loadu_ps(c == C - 1 ? m : 0xffff, v + (int64_t)j * ldv + d0 + 16 * c);
        for (int i = 0; i < NQ; i++) {
            const __m512 pij = _mm512_set1_ps(p[(int64_t)i * ldp + j]);
            for (int c = 0; c < C; c++) acc[i][c] = _mm512_fmadd_ps(pij, V[c], acc[i][c]);
        }
    }
    for (int i = 0; i < NQ; i++)
        for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(out[i] + d0 + 16 * c, c == C - 1 ? m : 0xffff, acc[i][c]);
}

static inline __attribute__((always_inline)) void pv_nq(const float *p, int64_t ldp, const int NQ, const float *v,
                                                        int64_t ldv, int nk, float *const *out, int dv) {
    int d0 = 0;
    for (; d0 + 64 <= dv; d0 += 64) pv_cols(p, ldp, NQ, v, ldv, nk, out, d0, 4, 0xffff);
    for (; d0 + 16 <= dv; d0 += 16) pv_cols(p, ldp, NQ, v, ldv, nk, out, d0, 1, 0xffff);
    if (d0 < dv) pv_cols(p, ldp, NQ, v, ldv, nk, out, d0, 1, (__mmask16)((1u << (dv - d0)) - 1));
}

static void pv(const float *p, int64_t ldp, int nq, const float *v, int64_t ldv, int nk, float *const *out, int dv) {
    switch (nq) {
    case 4: pv_nq(p, ldp, 4, v, ldv, nk, out, dv); break;
    case 3: pv_nq(p, ldp, 3, v, ldv, nk, out, dv); break;
    case 2: pv_nq(p, ldp, 2, v, ldv, nk, out, dv); break;
    case 1: pv_nq(p, ldp, 1, v, ldv, nk, out, dv); break;
    default: break;
    }
}

static void exp_minus(float *x, float m, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, vexp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(m))));
    for (; i < n; i++) x[i] = r1c_exp(x[i] - m);
}

static void silu_mul(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(g + i);
        const __m512 e = vexp16(_mm512_sub_ps(_mm512_setzero_ps(), v));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = r1c_silu_mul1(g[i], u[i]);
}

const r1c_kernels r1c_kernels_avx512_vbmi = {
    .name = "avx512vbmi",
    .matvec_f32 = matvec_f32,
    .matvec_bf16 = matvec_bf16,
    .matvec_f16 = matvec_f16,
    .gemm_acc = gemm_acc,
    .lane_sums = lane_sums,
    .matvec_fp8 = matvec_fp8_vbmi,
    .fp8_to_f32 = fp8_to_f32_vbmi,
    .bf16_to_f32 = bf16_to_f32,
    .f16_to_f32 = f16_to_f32,
    .axpy = axpy,
    .exp_minus = exp_minus,
    .pv = pv,
    .silu_mul = silu_mul,
    .quant = &r1c_quant_kernels_vnni,
};

const r1c_kernels r1c_kernels_avx512 = {
    .name = "avx512",
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
    .pv = pv,
    .silu_mul = silu_mul,
    .quant = &r1c_quant_kernels_avx2,
};
