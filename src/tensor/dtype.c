/* dtype.c — see dtype.h. */
#include "dtype.h"

#include <math.h>

static const struct {
    const char *name;
    int size;
} g_dtypes[R1C_DTYPE_COUNT] = {
    [R1C_F32] = {"F32", 4},         [R1C_F16] = {"F16", 2},     [R1C_BF16] = {"BF16", 2},
    [R1C_F64] = {"F64", 8},         [R1C_F8_E4M3] = {"F8_E4M3", 1},
    [R1C_F8_E5M2] = {"F8_E5M2", 1}, [R1C_I8] = {"I8", 1},       [R1C_U8] = {"U8", 1},
    [R1C_I16] = {"I16", 2},         [R1C_U16] = {"U16", 2},     [R1C_I32] = {"I32", 4},
    [R1C_U32] = {"U32", 4},         [R1C_I64] = {"I64", 8},     [R1C_U64] = {"U64", 8},
    [R1C_BOOL] = {"BOOL", 1},
    [R1C_Q8_0] = {"Q8_0", 0},       [R1C_Q4_0] = {"Q4_0", 0},   [R1C_Q4_K] = {"Q4_K", 0},
    [R1C_Q6_K] = {"Q6_K", 0},       [R1C_Q8_K] = {"Q8_K", 0},
};

static const struct {
    int elems, bytes;
} g_blocks[R1C_DTYPE_COUNT] = {
    [R1C_Q8_0] = {32, 34}, [R1C_Q4_0] = {32, 18}, [R1C_Q4_K] = {256, 144}, [R1C_Q6_K] = {256, 210}, [R1C_Q8_K] = {256, 292},
};

int r1c_dtype_block(r1c_dtype t) {
    return (unsigned)t < R1C_DTYPE_COUNT && g_blocks[t].elems ? g_blocks[t].elems : 1;
}

int r1c_dtype_block_bytes(r1c_dtype t) {
    if ((unsigned)t >= R1C_DTYPE_COUNT) return 0;
    return g_blocks[t].elems ? g_blocks[t].bytes : g_dtypes[t].size;
}

uint64_t r1c_dtype_row_bytes(r1c_dtype t, uint64_t n) {
    uint64_t b = (uint64_t)r1c_dtype_block(t);
    if (n % b) return 0;
    return n / b * (uint64_t)r1c_dtype_block_bytes(t);
}

int r1c_dtype_size(r1c_dtype t) { return (unsigned)t < R1C_DTYPE_COUNT ? g_dtypes[t].size : 0; }

const char *r1c_dtype_name(r1c_dtype t) {
    return (unsigned)t < R1C_DTYPE_COUNT ? g_dtypes[t].name : "?";
}

int r1c_dtype_from_name(const char *s) {
    for (int i = 0; i < R1C_DTYPE_COUNT; i++)
        if (strcmp(s, g_dtypes[i].name) == 0) return i;
    return -1;
}

float r1c_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t r1c_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow to inf (rounds up) */
    if (a < 0x38800000u) { /* subnormal or zero in f16 */
        if (a < 0x33000000u) return (uint16_t)sign;          /* below half the smallest */
        uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = (a >> 13) - ((127 - 15) << 10);
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

void r1c_to_f32(r1c_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case R1C_F32: memcpy(dst, src, (size_t)n * 4); break;
    case R1C_F16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = r1c_f16_to_f32(h);
        }
        break;
    }
    case R1C_BF16: {
        const uint8_t *p = src;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = r1c_bf16_to_f32(h);
        }
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++) dst[i] = 0.0f;
        break;
    }
}

float r1c_fp8_to_f32(uint8_t q) {
    if ((q & 0x7f) == 0x7f) return __builtin_nanf("");
    return r1c_f16_to_f32(r1c_fp8_to_f16_bits(q)) * 256.0f;
}

uint8_t r1c_f32_to_fp8(float f) {
    if (f != f) return 0x7f;
    const uint8_t sign = signbit(f) ? 0x80 : 0;
    const float a = fabsf(f);
    if (a < 0.015625f) return sign | (uint8_t)nearbyintf(a * 512.0f); /* subnormals: m * 2^-9 (8 -> 2^-6) */
    int e;
    const float frac = frexpf(a, &e);        /* a = frac * 2^e, frac in [0.5, 1) */
    int E = e + 6;                           /* 2^(E-7) * (1 + m/8) */
    int m = (int)nearbyintf((2.0f * frac - 1.0f) * 8.0f); /* ties to even = even code */
    if (m == 8) m = 0, E++;
    if (E > 15 || (E == 15 && m > 6)) return sign | 0x7e; /* saturate at 448 */
    return (uint8_t)(sign | E << 3 | m);
}
