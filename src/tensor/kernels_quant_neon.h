/* kernels_quant_neon.h — quantised dot products for AArch64 NEON in quant.h's canonical order.
 * Private to kernels_neon.c (plain NEON) and kernels_quant_neon_dotprod.c (ARMv8.2 SDOT): each
 * defines, before including this file,
 *   QN_DOT4(w, x)  int32x4_t whose lane j is the exact sum of w[i] * x[i], i = 4j .. 4j+3
 *                  (w, x: int8x16_t; |w| <= 128, |x| <= 128)
 *   QN_SUM4(x)     int32x4_t whose lane j is the sum of x[4j .. 4j+3]
 *   QN_TABLE       the name of the r1c_quant_kernels table to define
 * and everything else is shared. Integer sums are exact in any grouping, so only the
 * float steps of quant.h's comment remain, written here as the comment writes them: fused
 * where it says fmaf (vfmaq_f32 / fmaf), separate roundings elsewhere (the files are built
 * with -ffp-contract=off). Block fields are read at byte offsets: rows need not be aligned. */
#ifndef R1C_TENSOR_KERNELS_QUANT_NEON_H
#define R1C_TENSOR_KERNELS_QUANT_NEON_H

#include <arm_neon.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "kernels.h"
#include "quant.h"

#define QN_INLINE static inline __attribute__((always_inline))

/* an f16 field (exact widening; the hardware conversion) */
QN_INLINE float qn_f16(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

/* the canonical tree sum of 16 lanes held as four vectors (lanes 0-3, 4-7, 8-11, 12-15):
 * a[l] + a[l+8], then + 4, + 2, + 1 — r1c_lane_sum's additions */
QN_INLINE float qn_hsum(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3) {
    const float32x4_t c = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3));
    const float32x2_t d = vadd_f32(vget_low_f32(c), vget_high_f32(c));
    return vget_lane_f32(d, 0) + vget_lane_f32(d, 1);
}

/* ---------------------------------------------------------------- Q8_0, Q4_0 */

/* the 32 weights of a block, element order as dequantised: e0 = elements 0-15, e1 = 16-31 */
QN_INLINE void qn_w_q8_0(const uint8_t *b, int8x16_t *e0, int8x16_t *e1) {
    *e0 = vld1q_s8((const int8_t *)(b + 2));
    *e1 = vld1q_s8((const int8_t *)(b + 18));
}
QN_INLINE void qn_w_q4_0(const uint8_t *b, int8x16_t *e0, int8x16_t *e1) {
    const uint8x16_t v = vld1q_u8(b + 2);
    const int8x16_t eight = vdupq_n_s8(8);
    *e0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight); /* low nibbles */
    *e1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);              /* high nibbles */
}

/* the exact int32 sum of one block's 32 products, as the 4 lanes of a vector (add them for s) */
QN_INLINE int32x4_t qn_block_0(const int is_q4, const uint8_t *wb, int8x16_t x0, int8x16_t x1) {
    int8x16_t w0, w1;
    if (is_q4) qn_w_q4_0(wb, &w0, &w1);
    else qn_w_q8_0(wb, &w0, &w1);
    return vaddq_s32(QN_DOT4(w0, x0), QN_DOT4(w1, x1));
}

/* G rows r, r + stride, ...: lane j of acc is row j's canonical accumulator, per block in order
 * acc = fmaf((float)s, f32(w.d) * f32(x.d), acc) */
QN_INLINE void qn_rows_0(const int is_q4, const uint8_t *w, size_t rb, const uint8_t *xq, int64_t nb, float *y,
                         int64_t r, int64_t stride, const int G) {
    const size_t wbs = is_q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0), xbs = sizeof(r1c_block_q8_0);
    const uint8_t *wr[4];
    for (int j = 0; j < 4; j++) wr[j] = w + (size_t)(r + (j < G ? j : 0) * stride) * rb;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = xq + (size_t)b * xbs;
        const int8x16_t x0 = vld1q_s8((const int8_t *)(xb + 2)), x1 = vld1q_s8((const int8_t *)(xb + 18));
        const float xd = qn_f16(xb);
        int32x4_t p[4];
        float d[4] = {0, 0, 0, 0};
        for (int j = 0; j < 4; j++) {
            if (j >= G) {
                p[j] = vdupq_n_s32(0);
                continue;
            }
            const uint8_t *wb = wr[j] + (size_t)b * wbs;
            p[j] = qn_block_0(is_q4, wb, x0, x1);
            d[j] = qn_f16(wb) * xd;
        }
        /* pairwise adds: lane j = the total of p[j] (integers: exact) */
        const int32x4_t s = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
        acc = vfmaq_f32(acc, vcvtq_f32_s32(s), vld1q_f32(d));
    }
    float out[4];
    vst1q_f32(out, acc);
    for (int j = 0; j < G; j++) y[r + j * stride] = out[j];
}

/* four rows at a time, n/4 rows apart (four long sequential weight streams) */
static void qn_matvec_q8_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nb = k / R1C_QK8_0, S = n / 4;
    for (int64_t r = 0; r < S; r++) qn_rows_0(0, w, rb, xq, nb, y, r, S, 4);
    for (int64_t r = 4 * S; r < n; r++) qn_rows_0(0, w, rb, xq, nb, y, r, 0, 1);
}

static void qn_matvec_q4_0(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    const int64_t nb = k / R1C_QK4_0, S = n / 4;
    for (int64_t r = 0; r < S; r++) qn_rows_0(1, w, rb, xq, nb, y, r, S, 4);
    for (int64_t r = 4 * S; r < n; r++) qn_rows_0(1, w, rb, xq, nb, y, r, 0, 1);
}

/* ---------------------------------------------------------------- Q4_K, Q6_K */

/* Q8_K activation block fields */
#define QN_Q8K_D 0
#define QN_Q8K_QS 4

/* llama.cpp's packing of 8 six-bit scales and mins into 12 bytes (quant.c's get_scale_min_k4) */
QN_INLINE void qn_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

QN_INLINE int32_t qn_dot32(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
    return vaddvq_s32(vaddq_s32(QN_DOT4(w0, x0), QN_DOT4(w1, x1)));
}

/* Q4_K block: d at 0, dmin at 2, scales at 4 (12 bytes), qs at 16 (128 bytes) */
static float qn_q4_K_row(const uint8_t *w, const uint8_t *x, int64_t nsb) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float acc = 0.0f;
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *wb = w + (size_t)B * sizeof(r1c_block_q4_K), *xb = x + (size_t)B * sizeof(r1c_block_q8_K);
        const uint8_t *qs = wb + 16;
        const int8_t *xs = (const int8_t *)(xb + QN_Q8K_QS);
        int32_t sumi = 0, summ = 0;
        for (int c = 0; c < 4; c++) { /* elements 64c..: sub-block 2c (low nibbles), 2c+1 (high) */
            const uint8x16_t v0 = vld1q_u8(qs + 32 * c), v1 = vld1q_u8(qs + 32 * c + 16);
            const int8x16_t x0 = vld1q_s8(xs + 64 * c), x1 = vld1q_s8(xs + 64 * c + 16);
            const int8x16_t x2 = vld1q_s8(xs + 64 * c + 32), x3 = vld1q_s8(xs + 64 * c + 48);
            const int32_t sq_lo = qn_dot32(vreinterpretq_s8_u8(vandq_u8(v0, m4)), vreinterpretq_s8_u8(vandq_u8(v1, m4)), x0, x1);
            const int32_t sq_hi = qn_dot32(vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), x2, x3);
            const int32_t sx_lo = vaddvq_s32(vaddq_s32(QN_SUM4(x0), QN_SUM4(x1)));
            const int32_t sx_hi = vaddvq_s32(vaddq_s32(QN_SUM4(x2), QN_SUM4(x3)));
            int sc0, m0, sc1, m1;
            qn_scale_min_k4(2 * c, wb + 4, &sc0, &m0);
            qn_scale_min_k4(2 * c + 1, wb + 4, &sc1, &m1);
            sumi += sc0 * sq_lo + sc1 * sq_hi;
            summ += m0 * sx_lo + m1 * sx_hi;
        }
        float xd;
        memcpy(&xd, xb + QN_Q8K_D, 4);
        const float a = qn_f16(wb) * xd;
        const float bm = qn_f16(wb + 2) * xd;
        const float c = fmaf(a, (float)sumi, -(bm * (float)summ));
        acc = acc + c;
    }
    return acc;
}

static void qn_matvec_q4_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = qn_q4_K_row((const uint8_t *)w + (size_t)r * rb, xq, k / R1C_QK_K);
}

/* Q6_K block: ql at 0 (128 bytes), qh at 128 (64), scales at 192 (16 int8), d at 208 */
static float qn_q6_K_row(const uint8_t *w, const uint8_t *x, int64_t nsb) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    float acc = 0.0f;
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *wb = w + (size_t)B * sizeof(r1c_block_q6_K), *xb = x + (size_t)B * sizeof(r1c_block_q8_K);
        const int8_t *sc = (const int8_t *)(wb + 192);
        int32_t sumi = 0;
        for (int h = 0; h < 2; h++) { /* 128 elements: ql[64h ..], qh[32h ..] */
            const uint8_t *ql = wb + 64 * h, *qh = wb + 128 + 32 * h;
            const int8_t *xs = (const int8_t *)(xb + QN_Q8K_QS) + 128 * h;
            for (int i = 0; i < 2; i++) { /* l = 16i .. 16i+15 of the 32 */
                const uint8x16_t la = vld1q_u8(ql + 16 * i), lb = vld1q_u8(ql + 32 + 16 * i);
                const uint8x16_t hb = vld1q_u8(qh + 16 * i);
                /* elements 16i + {0, 32, 64, 96} + 0..15: sub-blocks 8h + {0, 2, 4, 6} + i */
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(la, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
                q[1] = vorrq_u8(vandq_u8(lb, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
                q[2] = vorrq_u8(vshrq_n_u8(la, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
                q[3] = vorrq_u8(vshrq_n_u8(lb, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                for (int g = 0; g < 4; g++) {
                    const int8x16_t qv = vsubq_s8(vreinterpretq_s8_u8(q[g]), k32);
                    const int8x16_t xv = vld1q_s8(xs + 32 * g + 16 * i);
                    sumi += sc[8 * h + 2 * g + i] * vaddvq_s32(QN_DOT4(qv, xv));
                }
            }
        }
        float xd;
        memcpy(&xd, xb + QN_Q8K_D, 4);
        const float a = qn_f16(wb + 208) * xd;
        acc = acc + a * (float)sumi;
    }
    return acc;
}

static void qn_matvec_q6_K(const void *w, size_t rb, const void *xq, float *y, int64_t k, int64_t n) {
    for (int64_t r = 0; r < n; r++) y[r] = qn_q6_K_row((const uint8_t *)w + (size_t)r * rb, xq, k / R1C_QK_K);
}

const r1c_quant_kernels QN_TABLE = {qn_matvec_q8_0, qn_matvec_q4_0, qn_matvec_q4_K, qn_matvec_q6_K, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

#endif
