/* kernels.h — the per-ISA kernel table.
 *
 * One reduction order for every ISA ("canonical order"), so that a dot product gives the same
 * bits on AVX-512, AVX2 and plain C, for any thread count and any batch size:
 *
 *   16 lanes; lane l accumulates, by fused multiply-add in order of i, the products
 *   w[i]*x[i] for i = l, l+16, l+32, ... ; the last partial group is padded with zeros
 *   (fma(0, 0, acc)). The 16 lanes are then summed as a fixed tree:
 *   a[l] += a[l+8] (l < 8); a[l] += a[l+4] (l < 4); a[l] += a[l+2] (l < 2); a[0] + a[1].
 *
 * A matrix–vector product and a matrix–matrix product use the same order per output element,
 * so prefill (a batch) and decode (one token) agree bit for bit.
 */
#ifndef R1C_TENSOR_KERNELS_H
#define R1C_TENSOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

#define R1C_LANES 16
/* Register tile of the GEMM kernel: tokens x rows. */
#define R1C_GEMM_MT 6
#define R1C_GEMM_NR 4

/* Quantised weight rows (row_bytes apart) x one row of quantised activations (quant.h's
 * canonical order): y[r] for r < n. */
typedef void (*r1c_qmatvec_fn)(const void *w, size_t row_bytes, const void *xq, float *y, int64_t k, int64_t n);

/* Q8_0 activations of T tokens laid out for a GEMM (ops.c prepares them once per matmul), in
 * groups of R1C_QGEMM_TT tokens so that a register tile finds its tokens at fixed offsets: for
 * group g and block b, at tiles + (g * nb + b) * R1C_QGEMM_TILE_BYTES, the 8 tokens' 32 int8
 * values (token i at byte 32 i), then their f32 scales, then the exact sums of their 32 values
 * (what an unsigned-times-signed product needs to take its offset back out). Tokens past T in
 * the last group are never read. */
#define R1C_QGEMM_TT 8
#define R1C_QGEMM_TILE_BYTES (R1C_QGEMM_TT * (32 + 4 + 4))
typedef struct r1c_qgemm_act {
    const uint8_t *tiles; /* 64-byte aligned */
    int64_t k, nb;
    int T;
} r1c_qgemm_act;
/* y[t * ldy + r] for r < n, t < T: Q8_0 / Q4_0 weight rows (row_bytes apart) x the T tokens,
 * each output bit-equal to the matvec of the same row and token (quant.h's canonical order). */
typedef void (*r1c_qgemm_fn)(const void *w, size_t row_bytes, const r1c_qgemm_act *x, float *y, int64_t ldy, int64_t n);
/* The same for Q4_K / Q6_K weights: xq = T rows of Q8_K activations, x_row_bytes apart. */
typedef void (*r1c_qgemm_k_fn)(const void *w, size_t row_bytes, const void *xq, size_t x_row_bytes, int T, int64_t k,
                               float *y, int64_t ldy, int64_t n);

typedef struct r1c_quant_kernels {
    r1c_qmatvec_fn q8_0, q4_0, q4_K, q6_K;
    r1c_qgemm_fn gemm_q8_0, gemm_q4_0; /* NULL: the matvec per token */
    r1c_qgemm_k_fn gemm_q4_K, gemm_q6_K;
    /* n floats (a multiple of 32) to Q8_0 blocks, bit-equal to r1c_quantize_row (NULL: that) */
    void (*act_q8_0)(const float *x, void *dst, int64_t n);
    /* one Q8_0 / Q4_0 row of n to f32, bit-equal to r1c_dequantize_row (NULL: that) */
    void (*dequant_q8_0)(const void *src, float *dst, int64_t n);
    void (*dequant_q4_0)(const void *src, float *dst, int64_t n);
    /* Row-interleaved Q8_0 / Q4_0 weights (quant.h's R16 layout): w at the first row of a group
     * of 16, n a multiple of 16, otherwise as above. NULL: ops.c unpacks row by row (portable). */
    r1c_qmatvec_fn q8_0_r16, q4_0_r16;
    r1c_qgemm_fn gemm_q8_0_r16, gemm_q4_0_r16;
    /* out[c] = sum over rows r < nr of x[r] w[r][c] (plain Q8_0 / Q4_0 rows, row_bytes apart, k
     * columns): per column fma(x[r], w[r][c], acc) with r ascending from 0, i.e. the bits of an
     * axpy per widened row. NULL: ops.c widens rows and calls axpy. */
    void (*tmatvec_q8_0)(const void *w, size_t row_bytes, const float *x, int64_t nr, float *out, int64_t k);
    void (*tmatvec_q4_0)(const void *w, size_t row_bytes, const float *x, int64_t nr, float *out, int64_t k);
    /* Row-interleaved Q6_K and Q4_K (quant.h's R16 layout), as q8_0_r16 / gemm_q8_0_r16 are for
     * Q8_0. NULL: matrices of that type stay plain. */
    r1c_qmatvec_fn q6_K_r16;
    r1c_qgemm_k_fn gemm_q6_K_r16;
    r1c_qmatvec_fn q4_K_r16; /* the same for Q4_K */
    r1c_qgemm_k_fn gemm_q4_K_r16;
} r1c_quant_kernels;

typedef struct r1c_kernels {
    const char *name;
    /* y[r] = dot(w row r, x) for r < n_rows; w holds n_rows contiguous rows of k elements. */
    void (*matvec_f32)(const float *w, const float *x, float *y, int64_t k, int64_t n_rows);
    void (*matvec_bf16)(const uint16_t *w, const float *x, float *y, int64_t k, int64_t n_rows);
    void (*matvec_f16)(const uint16_t *w, const float *x, float *y, int64_t k, int64_t n_rows);
    /* Partial dot products in lane form, for blocked GEMM:
     *   acc[(t*nr + r)*16 + l] (+)= lane l of the canonical sum over k of w row r, x row t.
     * nt <= R1C_GEMM_MT tokens, nr <= R1C_GEMM_NR rows. init != 0 starts from zero.
     * k must be a multiple of 16 unless this block ends the reduction (tail zero-padded). */
    void (*gemm_acc)(const float *w, int64_t ldw, int nr, const float *x, int64_t ldx, int nt,
                     float *acc, int64_t k, int init);
    /* out[i] = canonical tree sum of the 16 lanes acc[16*i .. 16*i+15], i < n */
    void (*lane_sums)(const float *acc, int64_t n, float *out);
    /* FP8 e4m3 rows [r0, r0+n) of a matrix with block scales (see tensor.h): w points at the
     * matrix, scale at its scale grid, y at row r0's output. Canonical order per row, with
     * w[r][c] = f16(q) * (scale * 256) as the dequantized weight. */
    void (*matvec_fp8)(const uint8_t *w, const float *scale, int64_t scale_cols, int64_t br, int64_t bk,
                       int64_t r0, const float *x, float *y, int64_t k, int64_t n);
    /* dst[i] = f16(src[i]) * scale256 (one run inside one scale block) */
    void (*fp8_to_f32)(const uint8_t *src, float scale256, float *dst, int64_t n);
    void (*bf16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    /* y[i] += a * x[i] (fused), order-free. */
    void (*axpy)(float a, const float *x, float *y, int64_t n);
    /* x[i] = r1c_exp(x[i] - m); g[i] = r1c_silu_mul1(g[i], u[i]) (vexp.h: bit-equal in every
     * table; NULL: the portable loop) */
    void (*exp_minus)(float *x, float m, int64_t n);
    /* Attention's weighted sum of values: for i < nq (<= 4), d < dv, keys j < nk in order,
     * out[i][d] = fma(p[i * ldp + j], v[j * ldv + d], out[i][d]): the bits of one axpy per key
     * and query, with the queries' outputs held in registers across the keys. NULL: axpy. */
    void (*pv)(const float *p, int64_t ldp, int nq, const float *v, int64_t ldv, int nk, float *const *out, int dv);
    void (*silu_mul)(float *g, const float *u, int64_t n);
    const r1c_quant_kernels *quant;
} r1c_kernels;

/* The table in use (picked from CPUID at first call). */
const r1c_kernels *r1c_kernels_get(void);
/* Tables by name, NULL if not built or this CPU lacks the instructions. */
const r1c_kernels *r1c_kernels_by_name(const char *name);

extern const r1c_kernels r1c_kernels_generic;
extern const r1c_quant_kernels r1c_quant_kernels_generic;
#if defined(__x86_64__)
extern const r1c_quant_kernels r1c_quant_kernels_vnni; /* AVX-512 VNNI */
extern const r1c_quant_kernels r1c_quant_kernels_avx2; /* AVX2 + FMA + F16C (also the non-VNNI AVX-512 table's) */
#endif
#if defined(__x86_64__)
extern const r1c_kernels r1c_kernels_avx2;
extern const r1c_kernels r1c_kernels_avx512;
extern const r1c_kernels r1c_kernels_avx512_vbmi; /* avx512 + a VBMI table-lookup FP8 path */
#endif
#if defined(__aarch64__)
extern const r1c_quant_kernels r1c_quant_kernels_neon;         /* plain NEON (baseline) */
extern const r1c_quant_kernels r1c_quant_kernels_neon_dotprod; /* ARMv8.2 SDOT */
extern const r1c_kernels r1c_kernels_neon;
extern const r1c_kernels r1c_kernels_neon_dotprod; /* neon + the SDOT quantised kernels */
#endif

/* The canonical 16-lane tree sum (shared by all tables). */
static inline float r1c_lane_sum(const float a[16]) {
    float b[8], c[4], d[2];
    for (int l = 0; l < 8; l++) b[l] = a[l] + a[l + 8];
    for (int l = 0; l < 4; l++) c[l] = b[l] + b[l + 4];
    for (int l = 0; l < 2; l++) d[l] = c[l] + c[l + 2];
    return d[0] + d[1];
}

/* canonical dot of two f32 vectors through the active table */
static inline float r1c_dot_f32(const r1c_kernels *K, const float *a, const float *b, int64_t n) {
    float y;
    K->matvec_f32(a, b, &y, n, 1);
    return y;
}

#endif
