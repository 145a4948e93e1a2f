/* quant.h — llama.cpp's block formats, bit for bit (its block_q8_0, block_q4_0, block_q4_K,
 * block_q6_K, block_q8_K), so GGUF files map directly: dequantisation, quantisation (weights,
 * with llama.cpp's reference algorithms: scale search for the K-quants), the quantisation of
 * activations, and the dot products in r1c's canonical order.
 *
 * Canonical order of quantised dot products (every ISA implements exactly this; the integer
 * parts are exact, so only the float steps below fix the bits):
 *
 *  Q8_0 and Q4_0 weights x Q8_0 activations (blocks of 32): for each block b in order,
 *    s = the exact int32 sum of qw[i] * qx[i] over the block's 32 elements (Q4_0: qw = nibble - 8),
 *    d = f32(w.d) * f32(x.d) (one float rounding), acc = fmaf((float)s, d, acc); acc starts at 0
 *    and is the result. One float step per block and per output keeps a GEMM cheap: with rows in
 *    vector lanes, a block costs its integer dot products plus one convert, multiply and fma for
 *    16 outputs at once.
 *
 *  Q4_K weights x Q8_K activations (super-blocks of 256): for super-block B, with the exact
 *    integers sumi = sum over the 8 sub-blocks s of sc[s] * (sum of q[i] * x.qs[i] over s) and
 *    summ = sum over s of m[s] * (sum of x.qs[i] over s), a = f32(w.d) * x.d and
 *    b = f32(w.dmin) * x.d (each one rounding): c = fmaf(a, (float)sumi, -(b * (float)summ));
 *    acc = acc + c, super-blocks in order, acc starting at 0.
 *
 *  Q6_K weights x Q8_K activations: sumi = sum over the 16 sub-blocks s of
 *    scale[s] * (sum of (q[i] - 32) * x.qs[i] over s), exact; a = f32(w.d) * x.d;
 *    acc = acc + a * (float)sumi, super-blocks in order.
 *
 * Activations are quantised once per token row (scalar code, as llama.cpp's reference
 * quantize_row_q8_0 / quantize_row_q8_K), so a token gets the same bits alone or in a batch. */
#ifndef R1C_TENSOR_QUANT_H
#define R1C_TENSOR_QUANT_H

#include <stdint.h>

#include "dtype.h"

#define R1C_QK8_0 32
#define R1C_QK4_0 32
#define R1C_QK_K 256
#define R1C_K_SCALE_SIZE 12

typedef struct {
    uint16_t d;             /* f16 scale */
    int8_t qs[R1C_QK8_0];
} r1c_block_q8_0;

typedef struct {
    uint16_t d;             /* f16 scale */
    uint8_t qs[R1C_QK4_0 / 2]; /* element i < 16: low nibble of qs[i]; element 16 + i: high nibble; value (q - 8) * d */
} r1c_block_q4_0;

typedef struct {
    uint16_t d;             /* f16 super-block scale of the 6-bit sub-block scales */
    uint16_t dmin;          /* f16 super-block scale of the 6-bit sub-block mins */
    uint8_t scales[R1C_K_SCALE_SIZE]; /* 8 scales and 8 mins, 6 bits each, packed as llama.cpp packs them */
    uint8_t qs[R1C_QK_K / 2];         /* 4-bit quants */
} r1c_block_q4_K;

typedef struct {
    uint8_t ql[R1C_QK_K / 2];     /* low 4 bits */
    uint8_t qh[R1C_QK_K / 4];     /* high 2 bits */
    int8_t scales[R1C_QK_K / 16]; /* 8-bit sub-block scales */
    uint16_t d;                   /* f16 super-block scale */
} r1c_block_q6_K;

typedef struct {
    float d;
    int8_t qs[R1C_QK_K];
    int16_t bsums[R1C_QK_K / 16]; /* sums of each 16 quants */
} r1c_block_q8_K;

_Static_assert(sizeof(r1c_block_q8_0) == 34, "block_q8_0");
_Static_assert(sizeof(r1c_block_q4_0) == 18, "block_q4_0");
_Static_assert(sizeof(r1c_block_q4_K) == 144, "block_q4_K");
_Static_assert(sizeof(r1c_block_q6_K) == 210, "block_q6_K");
_Static_assert(sizeof(r1c_block_q8_K) == 292, "block_q8_K");

/* n elements (a multiple of the block size) of a block format -> f32 */
void r1c_dequantize_row(r1c_dtype t, const void *src, float *dst, int64_t n);

/* One K-quant block (any address) as integers, element order as dequantised: Q4_K's nibbles
 * 0..15 with its eight 6-bit sub-block scales and mins; Q6_K's q - 32 in [-32, 31]. */
void r1c_q4_K_ints(const void *block, uint8_t q[R1C_QK_K], uint8_t sc[8], uint8_t mn[8]);
void r1c_q6_K_ints(const void *block, int8_t q[R1C_QK_K]);

/* f32 -> a block format (Q8_0, Q4_0, Q4_K, Q6_K), llama.cpp's reference quantisers
 * (quantize_row_*_ref; K-quants with their scale search). n a multiple of the block size. */
void r1c_quantize_row(r1c_dtype t, const float *src, void *dst, int64_t n);

/* The activation format a weight format's dot product takes (Q8_0 or Q8_K), and the
 * quantisation of one row of activations into it (n a multiple of its block). */
r1c_dtype r1c_quant_act_type(r1c_dtype weight);
void r1c_quantize_act(r1c_dtype act, const float *src, void *dst, int64_t n);

/* The canonical dot product of one weight row with quantised activations (portable code). */
float r1c_quant_dot(r1c_dtype weight, const void *w, const void *xq, int64_t n);

/* Row-interleaved Q8_0 / Q4_0 / Q4_K / Q6_K ("R16"): groups of 16 rows stored so that one 64-byte vector
 * holds 4 consecutive bytes of each of the 16 rows' block (rows in vector lanes, as a GEMM
 * panel wants them). A group of 16 rows keeps the bytes 16 plain rows take, so row r0 of a
 * matrix (r0 a multiple of 16) is still at r0 x row_bytes. Block b of a group:
 *   Q8_0: 16 f16 scales (row order), then for g = 0..7 the 16 rows' bytes 4g..4g+3 of qs,
 *         each XOR 0x80 (= q + 128: unsigned for vpdpbusd), 64 bytes per g: 544 bytes;
 *   Q4_0: 16 f16 scales, then for v = 0..3 the 16 rows' bytes 4v..4v+3 of qs (low nibbles:
 *         elements 4v..4v+3, high: 16 + 4v..), 64 bytes per v: 288 bytes.
 *   Q6_K (per super-block, 3360 bytes = 16 x 210): the 6-bit u = q + 32 as 4-byte groups of
 *         each row in lanes, in two planes, one chunk of 384 bytes per pair p = 0..7 of
 *         sub-blocks (what a kernel reads together, in reading order): elements 32 p + 4 g + c
 *         (g, c = 0..3) have their low 4 bits in the low nibble of byte R1C_Q6R_QL(p, g) + 4 i + c
 *         (row i), elements 32 p + 16 + 4 g + c in its high nibble; the top 2 bits of element
 *         32 p + 16 h + 4 g + c are bits 2g, 2g + 1 of byte R1C_Q6R_QH(p, h) + 4 i + c. Then the
 *         int8 sub-block scales (sub-block s of row i at R1C_Q6R_SC(s) + i), then the 16 f16 d.
 *   Q4_K (per super-block, 2304 bytes = 16 x 144): per sub-block s = 0..7 (32 elements) 256
 *         bytes of nibbles, elements 32 s + 4 v + c (v, c = 0..3) in the low nibble of byte
 *         R1C_Q4KR_QS(s, v) + 4 i + c (row i), 32 s + 16 + 4 v + c in its high nibble; then the
 *         6-bit scales sc and mins mn (get_scale_min_k4's values) in two planes: byte
 *         R1C_Q4KR_SCL(s) + i holds sc & 15 (low nibble) and mn & 15 (high), byte R1C_Q4KR_SCH(s) + i
 *         holds sc >> 4 and mn >> 4 at bits 4 (s % 2) and 4 (s % 2) + 2; then 16 f16 d, 16 f16 dmin.
 * Values and the canonical order are unchanged: only where the bytes sit. */
#define R1C_PACK_ROWS 16
#define R1C_Q4KR_QS(s, v) (256 * (s) + 64 * (v))
#define R1C_Q4KR_SCL(s) (2048 + 16 * (s))
#define R1C_Q4KR_SCH(s) (2176 + 16 * ((s) / 2))
#define R1C_Q4KR_D 2240
#define R1C_Q4KR_DMIN 2272
_Static_assert(R1C_Q4KR_DMIN + 32 == 16 * sizeof(r1c_block_q4_K), "a packed Q4_K super-block keeps its bytes");
#define R1C_Q6R_QL(p, g) (384 * (p) + 64 * (g))
#define R1C_Q6R_QH(p, h) (384 * (p) + 256 + 64 * (h))
#define R1C_Q6R_SC(s) (3072 + 16 * (s))
#define R1C_Q6R_D 3328
_Static_assert(R1C_Q6R_D + 32 == 16 * sizeof(r1c_block_q6_K), "a packed Q6_K super-block keeps its bytes");
/* whether a matrix of this type and shape can be packed */
int r1c_quant_packable(r1c_dtype t, int64_t rows, int64_t cols);
/* n rows (a multiple of 16) of k columns, in place; tmp: 16 x row_bytes scratch */
void r1c_quant_pack_rows(r1c_dtype t, void *data, int64_t n, int64_t k, void *tmp);
/* row r of a packed matrix back to plain blocks (row_bytes at dst) */
void r1c_quant_unpack_row(r1c_dtype t, const void *data, int64_t k, int64_t r, void *dst);

#endif
