/* kernels_quant_neon_dotprod.c — quantised dot products with the ARMv8.2 dot-product
 * instructions (SDOT, vdotq_s32: each int32 lane adds the 4 products of 4 consecutive int8
 * pairs), in quant.h's canonical order. Integer sums are exact in any grouping, so the shared
 * code (kernels_quant_neon.h) needs only this primitive. Built with -march=armv8.2-a+dotprod; kernels.c uses the table only when the CPU
 * reports asimddp (AT_HWCAP). */
#include <arm_neon.h>

static inline int32x4_t sdot_dot4(int8x16_t w, int8x16_t x) { return vdotq_s32(vdupq_n_s32(0), w, x); }
static inline int32x4_t sdot_sum4(int8x16_t x) { return vdotq_s32(vdupq_n_s32(0), x, vdupq_n_s8(1)); }

#define QN_DOT4(w, x) sdot_dot4(w, x)
#define QN_SUM4(x) sdot_sum4(x)
#define QN_TABLE r1c_quant_kernels_neon_dotprod
#include "kernels_quant_neon.h"
