/* dtype.h — element types as stored in model files, and scalar conversions to f32. */
#ifndef R1C_TENSOR_DTYPE_H
#define R1C_TENSOR_DTYPE_H

#include <stdint.h>
#include <string.h>

typedef enum r1c_dtype {
    R1C_F32 = 0,
    R1C_F16,
    R1C_BF16,
    R1C_F64,
    R1C_F8_E4M3,
    R1C_F8_E5M2,
    R1C_I8,
    R1C_U8,
    R1C_I16,
    R1C_U16,
    R1C_I32,
    R1C_U32,
    R1C_I64,
    R1C_U64,
    R1C_BOOL,
    /* llama.cpp block formats, bit-compatible with its block structs (quant.h) */
    R1C_Q8_0,  /* 32 weights: f16 d, 32 x int8                            34 bytes */
    R1C_Q4_0,  /* 32 weights: f16 d, 16 bytes of 4-bit (q - 8)             18 bytes */
    R1C_Q4_K,  /* 256 weights: f16 d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of 4-bit   144 */
    R1C_Q6_K,  /* 256 weights: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales, f16 d  210 */
    R1C_Q8_K,  /* 256 activations: f32 d, 256 x int8, 16 x int16 block sums   292 (activations only) */
    R1C_DTYPE_COUNT
} r1c_dtype;

/* Bytes per element (0 for block formats: use the block functions). */
int r1c_dtype_size(r1c_dtype t);
/* Elements per block (1 for plain types) and bytes per block. */
int r1c_dtype_block(r1c_dtype t);
int r1c_dtype_block_bytes(r1c_dtype t);
/* Bytes of n elements (n a multiple of the block); 0 if n is not. */
uint64_t r1c_dtype_row_bytes(r1c_dtype t, uint64_t n);
static inline int r1c_dtype_is_quant(r1c_dtype t) { return t >= R1C_Q8_0 && t <= R1C_Q8_K; }
/* safetensors spelling ("F32", "BF16", ...). */
const char *r1c_dtype_name(r1c_dtype t);
/* Parses a safetensors dtype string; returns -1 if unknown. */
int r1c_dtype_from_name(const char *s);
/* Weights r1c computes with directly (f32 math). */
static inline int r1c_dtype_is_float_weight(r1c_dtype t) {
    return t == R1C_F32 || t == R1C_F16 || t == R1C_BF16;
}

static inline float r1c_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to nearest even; NaN stays NaN (quiet). */
static inline uint16_t r1c_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float r1c_f16_to_f32(uint16_t h);

/* FP8 e4m3fn -> the f16 bit pattern of its value / 256 (same bits, shifted: e4m3's exponent
 * bias is 7, f16's 15). Multiplying by 256 (folded into the block scale) is exact, so
 * f16(q) * (scale * 256) == f32(q) * scale in one rounding, in every kernel. NaN codes
 * (0x7f, 0xff) are not special-cased: DeepSeek's weights hold none. */
static inline uint16_t r1c_fp8_to_f16_bits(uint8_t q) {
    return (uint16_t)(((uint16_t)(q & 0x80) << 8) | ((uint16_t)(q & 0x7f) << 7));
}
/* The exact value of an e4m3fn byte (NaN for 0x7f / 0xff). */
float r1c_fp8_to_f32(uint8_t q);
/* f32 -> e4m3fn, round to nearest even, saturating at +-448 (NaN -> 0x7f). */
uint8_t r1c_f32_to_fp8(float f);
uint16_t r1c_f32_to_f16(float f);

/* Widens n elements of a float dtype (F32, F16, BF16) to f32. */
void r1c_to_f32(r1c_dtype t, const void *src, float *dst, int64_t n);

#endif
