/* kernels_generic.c — portable C kernels in the canonical order (see kernels.h).
 * fmaf() keeps the fused rounding of the SIMD kernels, so the results match them bit for bit. */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "vexp.h"
#include "quant.h"

typedef float (*load_fn)(const void *w, int64_t i);

static float ld_f32(const void *w, int64_t i) { return ((const float *)w)[i]; }
static float ld_bf16(const void *w, int64_t i) { return r1c_bf16_to_f32(((const uint16_t *)w)[i]); }
static float ld_f16(const void *w, int64_t i) { return r1c_f16_to_f32(((const uint16_t *)w)[i]); }

static float dot_canonical(load_fn ld, const void *w, const float *x, int64_t k) {
    float acc[R1C_LANES] = {0};
    int64_t i = 0;
    for (; i + R1C_LANES <= k; i += R1C_LANES)
        for (int l = 0; l < R1C_LANES; l++) acc[l] = fmaf(ld(w, i + l), x[i + l], acc[l]);
    if (i < k) {
        for (int l = 0; l < R1C_LANES; l++) {
            float wv = i + l < k ? ld(w, i + l) : 0.0f, xv = i + l < k ? x[i + l] : 0.0f;
            acc[l] = fmaf(wv, xv, acc[l]);
        }
    }
    return r1c_lane_sum(acc);
}

static void matvec_fp8(const uint8_t *w, const float *scale, int64_t sc, int64_t br, int64_t bk, int64_t r0,
                       const float *x, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) {
        const int64_t row = r0 + r;
        const uint8_t *wr = w + row * k;
        const float *srow = scale + (row / br) * sc;
        float acc[R1C_LANES] = {0};
        for (int64_t i = 0; i < k; i += R1C_LANES)
            for (int l = 0; l < R1C_LANES; l++) {
                int in = i + l < k;
                float wv = in ? r1c_f16_to_f32(r1c_fp8_to_f16_bits(wr[i + l])) * (srow[(i + l) / bk] * 256.0f) : 0.0f;
                acc[l] = fmaf(wv, in ? x[i + l] : 0.0f, acc[l]);
            }
        y[r] = r1c_lane_sum(acc);
    }
}

static void fp8_to_f32(const uint8_t *s, float scale256, float *d, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] = r1c_f16_to_f32(r1c_fp8_to_f16_bits(s[i])) * scale256;
}

static void matvec_f32(const float *w, const float *x, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = dot_canonical(ld_f32, w + r * k, x, k);
}
static void matvec_bf16(const uint16_t *w, const float *x, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = dot_canonical(ld_bf16, w + r * k, x, k);
}
static void matvec_f16(const uint16_t *w, const float *x, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = dot_canonical(ld_f16, w + r * k, x, k);
}

static void gemm_acc(const float *w, int64_t ldw, int nr, const float *x, int64_t ldx, int nt,
                     float *acc, int64_t k, int init) {
    for (int t = 0; t < nt; t++) {
        for (int r = 0; r < nr; r++) {
            float *a = acc + ((int64_t)t * nr + r) * R1C_LANES;
            const float *wr = w + r * ldw, *xt = x + t * ldx;
            if (init) memset(a, 0, sizeof(float) * R1C_LANES);
            for (int64_t i = 0; i < k; i += R1C_LANES)
                for (int l = 0; l < R1C_LANES; l++) {
                    int in = i + l < k;
                    a[l] = fmaf(in ? wr[i + l] : 0.0f, in ? xt[i + l] : 0.0f, a[l]);
                }
        }
    }
}

static void lane_sums(const float *acc, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = r1c_lane_sum(acc + i * R1C_LANES);
}

static void bf16_to_f32(const uint16_t *s, float *d, int64_t n) { r1c_to_f32(R1C_BF16, s, d, n); }
static void f16_to_f32(const uint16_t *s, float *d, int64_t n) { r1c_to_f32(R1C_F16, s, d, n); }

static void axpy(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

/* quantised rows through the canonical portable dot product */
#define QROWS(NAME, TYPE)                                                                          \
    static void NAME(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {    \
        for (int64_t r = 0; r < n; r++) y[r] = r1c_quant_dot(TYPE, (const uint8_t *)w + (size_t)r * rb, xq, k); \
    }
QROWS(qrows_q8_0, R1C_Q8_0)
QROWS(qrows_q4_0, R1C_Q4_0)
QROWS(qrows_q4_K, R1C_Q4_K)
QROWS(qrows_q6_K, R1C_Q6_K)
const r1c_quant_kernels r1c_quant_kernels_generic = {qrows_q8_0, qrows_q4_0, qrows_q4_K, qrows_q6_K, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

static void exp_minus(float *x, float m, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = r1c_exp(x[i] - m);
}

static void silu_mul(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = r1c_silu_mul1(g[i], u[i]);
}

const r1c_kernels r1c_kernels_generic = {
    .name = "generic",
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
    .quant = &r1c_quant_kernels_generic,
};
