/* vexp.h — r1c's exponential: one fixed sequence of float operations that the portable code and
 * every SIMD table run lane for lane, so SiLU and the attention softmax give the same bits on every
 * ISA while the vector tables compute 8-16 of them per instruction (the C library's expf is
 * scalar and differs between libraries).
 *
 *   x > R1C_EXP_HI: +inf; x < R1C_EXP_LO: 0 (below ~1.2e-38: no subnormal results); NaN: NaN.
 *   else: k = round(x log2 e) (by adding and subtracting 1.5 x 2^23 after one fma),
 *         r = fma(k, -ln2_hi, x), r = fma(k, -ln2_lo, r)   (|r| <= ~0.347)
 *         p = the degree-7 Taylor polynomial of e^r by Horner (fma, from the 1/7! term down),
 *         result = p * 2^k (2^k built in the exponent field: k in [-126, 127]).
 * Error below 1 ulp (0.93 at most on every 8th float of the range; tests/test_ops.c checks a
 * sample against double exp). */
#ifndef R1C_TENSOR_VEXP_H
#define R1C_TENSOR_VEXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define R1C_EXP_HI 88.37f
#define R1C_EXP_LO (-87.33f)
#define R1C_EXP_SHIFT 12582912.0f /* 1.5 x 2^23: adding it rounds to an integer */
#define R1C_EXP_LOG2E 1.44269504088896341f
#define R1C_EXP_LN2_HI 0.693145751953125f /* 15 significant bits: k x ln2_hi is exact */
#define R1C_EXP_LN2_LO 1.42860682030941723e-06f
/* 1/7!, 1/6!, ..., 1/2!, 1, 1 */
#define R1C_EXP_C7 1.98412698412698413e-04f
#define R1C_EXP_C6 1.38888888888888889e-03f
#define R1C_EXP_C5 8.33333333333333333e-03f
#define R1C_EXP_C4 4.16666666666666667e-02f
#define R1C_EXP_C3 1.66666666666666667e-01f
#define R1C_EXP_C2 0.5f

static inline float r1c_exp(float x) {
    if (x > R1C_EXP_HI) return INFINITY;
    if (x < R1C_EXP_LO) return 0.0f;
    float kf = fmaf(x, R1C_EXP_LOG2E, R1C_EXP_SHIFT);
    int32_t ki;
    memcpy(&ki, &kf, 4);
    ki -= 0x4B400000; /* the bits of 1.5 x 2^23 + k, less those of 1.5 x 2^23 */
    kf = kf - R1C_EXP_SHIFT;
    float r = fmaf(kf, -R1C_EXP_LN2_HI, x);
    r = fmaf(kf, -R1C_EXP_LN2_LO, r);
    float p = fmaf(R1C_EXP_C7, r, R1C_EXP_C6);
    p = fmaf(p, r, R1C_EXP_C5);
    p = fmaf(p, r, R1C_EXP_C4);
    p = fmaf(p, r, R1C_EXP_C3);
    p = fmaf(p, r, R1C_EXP_C2);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    const uint32_t sb = (uint32_t)(ki + 127) << 23;
    float scale;
    memcpy(&scale, &sb, 4);
    return p * scale;
}

/* SiLU(g) x u as r1c computes it: g / (1 + r1c_exp(-g)) * u, each step one rounding */
static inline float r1c_silu_mul1(float g, float u) { return g / (1.0f + r1c_exp(-g)) * u; }

#endif
