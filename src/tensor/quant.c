/* quant.c — see quant.h. llama.cpp's block formats: dequantisation as its dequantize_row_*,
 * quantisation as its reference quantisers (quantize_row_*_ref in ggml-quants.c), written out
 * statement by statement in the same float order (this file is built with -ffp-contract=off, so
 * no multiply-add is fused unless written as fmaf), and the dot products in the canonical order
 * of quant.h.
 *
 * Blocks are copied to and from aligned locals with memcpy: rows in a model file need not be
 * aligned to the block structs (a Q8_0 row of an odd number of blocks ends on an odd address). */
#include "quant.h"

#include <math.h>
#include <string.h>

#include "kernels.h"

/* ggml-quants.c: GROUP_MAX_EPS, the "all zero" threshold of make_qx_quants and Q6_K */
#define GROUP_MAX_EPS 1e-15f

/* ggml-quants.c nearest_int: round half to even through the f32 mantissa (exact for
 * |fval| <= 4194303; beyond it llama.cpp asserts, here the same bits come out, defined). */
static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int32_t i;
    memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* The C conversion (int8_t)f, which llama.cpp's Q8_0/Q4_0 quantisers use: truncation, exact for
 * every value they produce for finite input. Outside int8 (only reachable when the block's
 * absolute maximum is so small that 1/d overflows) C leaves it undefined; this returns what
 * llama.cpp's x86 builds give (cvttss2si to 32 bits, NaN/overflow -> INT32_MIN, low byte kept). */
static inline int8_t f32_to_i8_trunc(float f) {
    int32_t i = (f > -2147483648.0f && f < 2147483648.0f) ? (int32_t)f : INT32_MIN;
    return (int8_t)(uint8_t)((uint32_t)i & 0xffu);
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ggml-quants.c get_scale_min_k4: the j-th 6-bit scale and min of a Q4_K block's 12 bytes */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* ---- unpacking (element order as dequantised) ---- */

static void q4_0_unpack(const r1c_block_q4_0 *b, int8_t q[R1C_QK4_0]) {
    for (int j = 0; j < R1C_QK4_0 / 2; j++) {
        q[j] = (int8_t)((b->qs[j] & 0x0F) - 8);
        q[j + R1C_QK4_0 / 2] = (int8_t)((b->qs[j] >> 4) - 8);
    }
}

/* Q4_K: element 64k + l (l < 32) is the low nibble of qs[32k + l], element 64k + 32 + l its
 * high nibble; element e belongs to sub-block e / 32. */
static void q4_K_unpack(const r1c_block_q4_K *b, uint8_t q[R1C_QK_K]) {
    for (int k = 0; k < R1C_QK_K / 64; k++)
        for (int l = 0; l < 32; l++) {
            q[64 * k + l] = b->qs[32 * k + l] & 0xF;
            q[64 * k + 32 + l] = b->qs[32 * k + l] >> 4;
        }
}

/* Q6_K: q - 32 in [-32, 31]; element e has scale scales[e / 16]. Per 128-element half n:
 * ql[64n..64n+63] hold the low 4 bits (elements l, l+32 in the low nibbles of ql[l], ql[l+32];
 * l+64, l+96 in their high nibbles), qh[32n + l] the high 2 bits of l, l+32, l+64, l+96. */
static void q6_K_unpack(const r1c_block_q6_K *b, int8_t q[R1C_QK_K]) {
    const uint8_t *ql = b->ql, *qh = b->qh;
    for (int n = 0; n < R1C_QK_K; n += 128) {
        for (int l = 0; l < 32; l++) {
            q[n + l + 0] = (int8_t)(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            q[n + l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            q[n + l + 64] = (int8_t)(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            q[n + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
        ql += 64;
        qh += 32;
    }
}

void r1c_q4_K_ints(const void *block, uint8_t q[R1C_QK_K], uint8_t sc[8], uint8_t mn[8]) {
    r1c_block_q4_K b;
    memcpy(&b, block, sizeof b);
    q4_K_unpack(&b, q);
    for (int s = 0; s < 8; s++) get_scale_min_k4(s, b.scales, &sc[s], &mn[s]);
}

void r1c_q6_K_ints(const void *block, int8_t q[R1C_QK_K]) {
    r1c_block_q6_K b;
    memcpy(&b, block, sizeof b);
    q6_K_unpack(&b, q);
}

/* ---- dequantisation (llama.cpp dequantize_row_*) ---- */

void r1c_dequantize_row(r1c_dtype t, const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    switch (t) {
    case R1C_Q8_0:
        for (int64_t i = 0; i < n / R1C_QK8_0; i++) {
            r1c_block_q8_0 b;
            memcpy(&b, s + i * (int64_t)sizeof b, sizeof b);
            const float d = r1c_f16_to_f32(b.d);
            for (int j = 0; j < R1C_QK8_0; j++) dst[i * R1C_QK8_0 + j] = b.qs[j] * d;
        }
        break;
    case R1C_Q4_0:
        for (int64_t i = 0; i < n / R1C_QK4_0; i++) {
            r1c_block_q4_0 b;
            memcpy(&b, s + i * (int64_t)sizeof b, sizeof b);
            const float d = r1c_f16_to_f32(b.d);
            int8_t q[R1C_QK4_0];
            q4_0_unpack(&b, q);
            for (int j = 0; j < R1C_QK4_0; j++) dst[i * R1C_QK4_0 + j] = q[j] * d;
        }
        break;
    case R1C_Q4_K:
        for (int64_t i = 0; i < n / R1C_QK_K; i++) {
            r1c_block_q4_K b;
            memcpy(&b, s + i * (int64_t)sizeof b, sizeof b);
            const float d = r1c_f16_to_f32(b.d), min = r1c_f16_to_f32(b.dmin);
            float *y = dst + i * R1C_QK_K;
            const uint8_t *q = b.qs;
            for (int j = 0, is = 0; j < R1C_QK_K; j += 64, is += 2, q += 32) {
                uint8_t sc, m;
                get_scale_min_k4(is + 0, b.scales, &sc, &m);
                const float d1 = d * sc, m1 = min * m;
                get_scale_min_k4(is + 1, b.scales, &sc, &m);
                const float d2 = d * sc, m2 = min * m;
                for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
            }
        }
        break;
    case R1C_Q6_K:
        for (int64_t i = 0; i < n / R1C_QK_K; i++) {
            r1c_block_q6_K b;
            memcpy(&b, s + i * (int64_t)sizeof b, sizeof b);
            const float d = r1c_f16_to_f32(b.d);
            int8_t q[R1C_QK_K];
            q6_K_unpack(&b, q);
            /* llama.cpp: y = d * sc[is] * q, i.e. (d * sc) * q */
            for (int j = 0; j < R1C_QK_K; j++) dst[i * R1C_QK_K + j] = d * b.scales[j / 16] * q[j];
        }
        break;
    case R1C_Q8_K:
        for (int64_t i = 0; i < n / R1C_QK_K; i++) {
            r1c_block_q8_K b;
            memcpy(&b, s + i * (int64_t)sizeof b, sizeof b);
            for (int j = 0; j < R1C_QK_K; j++) dst[i * R1C_QK_K + j] = b.d * b.qs[j];
        }
        break;
    default: r1c_to_f32(t, src, dst, n); break; /* F32/F16/BF16; zeros for anything else */
    }
}

/* ---- reference quantisers (llama.cpp quantize_row_*_ref) ---- */

static void quantize_q8_0(const float *x, r1c_block_q8_0 *y) { /* quantize_row_q8_0_ref, one block */
    float amax = 0.0f;
    for (int j = 0; j < R1C_QK8_0; j++) {
        const float v = fabsf(x[j]);
        amax = amax > v ? amax : v; /* llama.cpp's MAX(amax, fabsf(v)), not fmaxf: a NaN propagates */
    }
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y->d = r1c_f32_to_f16(d);
    for (int j = 0; j < R1C_QK8_0; j++) y->qs[j] = f32_to_i8_trunc(roundf(x[j] * id));
}

static void quantize_q4_0(const float *x, r1c_block_q4_0 *y) { /* quantize_row_q4_0_ref, one block */
    float amax = 0.0f, max = 0.0f; /* max: the signed value of largest magnitude, first one wins */
    for (int j = 0; j < R1C_QK4_0; j++) {
        const float v = x[j];
        if (amax < fabsf(v)) {
            amax = fabsf(v);
            max = v;
        }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = r1c_f32_to_f16(d);
    for (int j = 0; j < R1C_QK4_0 / 2; j++) {
        const float x0 = x[0 + j] * id;
        const float x1 = x[R1C_QK4_0 / 2 + j] * id;
        const uint8_t xi0 = (uint8_t)imin(15, f32_to_i8_trunc(x0 + 8.5f));
        const uint8_t xi1 = (uint8_t)imin(15, f32_to_i8_trunc(x1 + 8.5f));
        y->qs[j] = (uint8_t)(xi0 | (xi1 << 4));
    }
}

static void quantize_q8_K(const float *x, r1c_block_q8_K *y) { /* quantize_row_q8_K_ref, one block */
    float max = 0, amax = 0;
    for (int j = 0; j < R1C_QK_K; j++) {
        const float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (!amax) {
        /* llama.cpp sets d and qs only; bsums are zeroed here too (the sums of the zero qs) */
        memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < R1C_QK_K; j++) {
        const int v = nearest_int(iscale * x[j]);
        y->qs[j] = (int8_t)imin(127, v);
    }
    for (int j = 0; j < R1C_QK_K / 16; j++) {
        int sum = 0;
        for (int ii = 0; ii < 16; ii++) sum += y->qs[j * 16 + ii];
        y->bsums[j] = (int16_t)sum;
    }
    y->d = 1 / iscale;
}

/* ggml-quants.c make_qkx2_quants: scale and min of n values quantised to 0..nmax, searched over
 * nstep+1 candidate inverse scales; note that a better candidate also moves `min`, which the
 * later candidates then start from (llama.cpp's loop does so; kept). */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        float w = weights[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = imax(0, imin(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                float w = weights[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

static void quantize_q4_K(const float *x, r1c_block_q4_K *y) { /* quantize_row_q4_K_ref, one block */
    uint8_t L[R1C_QK_K];
    uint8_t Laux[32];
    float weights[32];
    float mins[R1C_QK_K / 32];
    float scales[R1C_QK_K / 32];

    float max_scale = 0; /* as the min is deducted, scales are positive */
    float max_min = 0;
    for (int j = 0; j < R1C_QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, 0);
        float scale = scales[j];
        if (scale > max_scale) max_scale = scale;
        float min = mins[j];
        if (min > max_min) max_min = min;
    }

    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < R1C_QK_K / 32; ++j) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]); /* llama.cpp: int -> uint8_t */
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = (uint8_t)imin(63, ls);
        lm = (uint8_t)imin(63, lm);
        if (j < 4) {
            y->scales[j] = ls;
            y->scales[j + 4] = lm;
        } else {
            y->scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            y->scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            y->scales[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    y->d = r1c_f32_to_f16(max_scale / 63.f);
    y->dmin = r1c_f32_to_f16(max_min / 63.f);

    for (int j = 0; j < R1C_QK_K / 32; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, y->scales, &sc, &m);
        const float d = r1c_f16_to_f32(y->d) * sc;
        if (!d) continue; /* keeps make_qkx2_quants' L for this sub-block, as llama.cpp */
        const float dm = r1c_f16_to_f32(y->dmin) * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            l = imax(0, imin(15, l));
            L[32 * j + ii] = (uint8_t)l;
        }
    }

    uint8_t *q = y->qs;
    for (int j = 0; j < R1C_QK_K; j += 64) {
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        q += 32;
    }
}

/* ggml-quants.c make_qx_quants with qw = NULL: signed quants in [-nmax, nmax-1] (returned in L
 * offset by nmax), scale searched over 19 inverse scales for rmse_type 1 (weights x^2). */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type) {
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) { /* all zero */
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
        }
        return 1 / iscale;
    }
    int return_early = 0;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = 1;
    }
#define QX_WEIGHT(xi) (rmse_type == 1 ? (xi) * (xi) : rmse_type == 2 ? 1 : rmse_type == 3 ? fabsf(xi) : sqrtf(fabsf(xi)))
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = QX_WEIGHT(x[i]);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            float w = QX_WEIGHT(x[i]);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
#undef QX_WEIGHT
    return scale;
}

static void quantize_q6_K(const float *x, r1c_block_q6_K *y) { /* quantize_row_q6_K_ref, one block */
    int8_t L[R1C_QK_K];
    float scales[R1C_QK_K / 16];

    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < R1C_QK_K / 16; ++ib) {
        const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1);
        scales[ib] = scale;
        const float abs_scale = fabsf(scale);
        if (abs_scale > max_abs_scale) {
            max_abs_scale = abs_scale;
            max_scale = scale;
        }
    }
    if (max_abs_scale < GROUP_MAX_EPS) {
        memset(y, 0, sizeof *y);
        y->d = r1c_f32_to_f16(0.f);
        return;
    }

    float iscale = -128.f / max_scale;
    y->d = r1c_f32_to_f16(1 / iscale);
    for (int ib = 0; ib < R1C_QK_K / 16; ++ib) y->scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));

    for (int j = 0; j < R1C_QK_K / 16; ++j) {
        float d = r1c_f16_to_f32(y->d) * y->scales[j];
        if (!d) continue; /* keeps make_qx_quants' L, as llama.cpp */
        for (int ii = 0; ii < 16; ++ii) {
            int l = nearest_int(x[16 * j + ii] / d);
            l = imax(-32, imin(31, l));
            L[16 * j + ii] = (int8_t)(l + 32);
        }
    }

    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < R1C_QK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l + 0] & 0xF;
            const uint8_t q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF;
            const uint8_t q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                              ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

void r1c_quantize_row(r1c_dtype t, const float *src, void *dst, int64_t n) {
    uint8_t *out = dst;
    switch (t) {
    case R1C_Q8_0:
        for (int64_t i = 0; i < n / R1C_QK8_0; i++) {
            r1c_block_q8_0 b;
            quantize_q8_0(src + i * R1C_QK8_0, &b);
            memcpy(out + i * (int64_t)sizeof b, &b, sizeof b);
        }
        break;
    case R1C_Q4_0:
        for (int64_t i = 0; i < n / R1C_QK4_0; i++) {
            r1c_block_q4_0 b;
            quantize_q4_0(src + i * R1C_QK4_0, &b);
            memcpy(out + i * (int64_t)sizeof b, &b, sizeof b);
        }
        break;
    case R1C_Q4_K:
        for (int64_t i = 0; i < n / R1C_QK_K; i++) {
            r1c_block_q4_K b;
            memset(&b, 0, sizeof b);
            quantize_q4_K(src + i * R1C_QK_K, &b);
            memcpy(out + i * (int64_t)sizeof b, &b, sizeof b);
        }
        break;
    case R1C_Q6_K:
        for (int64_t i = 0; i < n / R1C_QK_K; i++) {
            r1c_block_q6_K b;
            memset(&b, 0, sizeof b);
            quantize_q6_K(src + i * R1C_QK_K, &b);
            memcpy(out + i * (int64_t)sizeof b, &b, sizeof b);
        }
        break;
    case R1C_Q8_K:
        for (int64_t i = 0; i < n / R1C_QK_K; i++) {
            r1c_block_q8_K b;
            quantize_q8_K(src + i * R1C_QK_K, &b);
            memcpy(out + i * (int64_t)sizeof b, &b, sizeof b);
        }
        break;
    default: break; /* not a block format r1c quantises to */
    }
}

/* ---- activations ---- */

r1c_dtype r1c_quant_act_type(r1c_dtype weight) {
    switch (weight) {
    case R1C_Q8_0:
    case R1C_Q4_0: return R1C_Q8_0;
    case R1C_Q4_K:
    case R1C_Q6_K: return R1C_Q8_K;
    default: return R1C_DTYPE_COUNT; /* no quantised dot product for this type */
    }
}

void r1c_quantize_act(r1c_dtype act, const float *src, void *dst, int64_t n) {
    if (act == R1C_Q8_0 || act == R1C_Q8_K) r1c_quantize_row(act, src, dst, n);
}

/* ---- dot products in the canonical order (quant.h) ---- */

static float dot_q_0(r1c_dtype wt, const uint8_t *w, const uint8_t *xq, int64_t nb) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int8_t qw[32];
        uint16_t wd;
        if (wt == R1C_Q8_0) {
            r1c_block_q8_0 wb;
            memcpy(&wb, w + b * (int64_t)sizeof wb, sizeof wb);
            memcpy(qw, wb.qs, 32);
            wd = wb.d;
        } else {
            r1c_block_q4_0 wb;
            memcpy(&wb, w + b * (int64_t)sizeof wb, sizeof wb);
            q4_0_unpack(&wb, qw);
            wd = wb.d;
        }
        r1c_block_q8_0 xb;
        memcpy(&xb, xq + b * (int64_t)sizeof xb, sizeof xb);
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += (int32_t)qw[i] * xb.qs[i];
        acc = fmaf((float)s, r1c_f16_to_f32(wd) * r1c_f16_to_f32(xb.d), acc);
    }
    return acc;
}

static float dot_q4_K(const uint8_t *w, const uint8_t *xq, int64_t nb) {
    float acc = 0.0f;
    for (int64_t B = 0; B < nb; B++) {
        r1c_block_q4_K wb;
        r1c_block_q8_K xb;
        memcpy(&wb, w + B * (int64_t)sizeof wb, sizeof wb);
        memcpy(&xb, xq + B * (int64_t)sizeof xb, sizeof xb);
        uint8_t q[R1C_QK_K];
        q4_K_unpack(&wb, q);
        int32_t sumi = 0, summ = 0;
        for (int s = 0; s < R1C_QK_K / 32; s++) {
            uint8_t sc, m;
            get_scale_min_k4(s, wb.scales, &sc, &m);
            int32_t sq = 0, sx = 0;
            for (int i = 32 * s; i < 32 * s + 32; i++) {
                sq += (int32_t)q[i] * xb.qs[i];
                sx += xb.qs[i];
            }
            sumi += sc * sq;
            summ += m * sx;
        }
        const float a = r1c_f16_to_f32(wb.d) * xb.d;
        const float bm = r1c_f16_to_f32(wb.dmin) * xb.d;
        const float c = fmaf(a, (float)sumi, -(bm * (float)summ));
        acc = acc + c;
    }
    return acc;
}

static float dot_q6_K(const uint8_t *w, const uint8_t *xq, int64_t nb) {
    float acc = 0.0f;
    for (int64_t B = 0; B < nb; B++) {
        r1c_block_q6_K wb;
        r1c_block_q8_K xb;
        memcpy(&wb, w + B * (int64_t)sizeof wb, sizeof wb);
        memcpy(&xb, xq + B * (int64_t)sizeof xb, sizeof xb);
        int8_t q[R1C_QK_K];
        q6_K_unpack(&wb, q);
        int32_t sumi = 0;
        for (int s = 0; s < R1C_QK_K / 16; s++) {
            int32_t sq = 0;
            for (int i = 16 * s; i < 16 * s + 16; i++) sq += (int32_t)q[i] * xb.qs[i];
            sumi += wb.scales[s] * sq;
        }
        const float a = r1c_f16_to_f32(wb.d) * xb.d;
        acc = acc + a * (float)sumi;
    }
    return acc;
}

float r1c_quant_dot(r1c_dtype weight, const void *w, const void *xq, int64_t n) {
    switch (weight) {
    case R1C_Q8_0:
    case R1C_Q4_0: return dot_q_0(weight, w, xq, n / 32);
    case R1C_Q4_K: return dot_q4_K(w, xq, n / R1C_QK_K);
    case R1C_Q6_K: return dot_q6_K(w, xq, n / R1C_QK_K);
    default: return 0.0f; /* no quantised dot product for this type */
    }
}

/* ------------------------------------------------------------ row-interleaved Q8_0 / Q4_0 / Q4_K / Q6_K */

int r1c_quant_packable(r1c_dtype t, int64_t rows, int64_t cols) {
    const int64_t blk = t == R1C_Q6_K || t == R1C_Q4_K ? R1C_QK_K : 32;
    return (t == R1C_Q8_0 || t == R1C_Q4_0 || t == R1C_Q6_K || t == R1C_Q4_K) && rows > 0 && rows % R1C_PACK_ROWS == 0 && cols > 0 &&
           cols % blk == 0;
}

/* Q6_K: where element e (0..255) of row i sits in a packed super-block (quant.h): its low
 * nibble in byte *lo (high nibble of it when *hi_nib), its top two bits at bit *shift of byte *top */
static void q6_K_packed_at(int i, int e, size_t *lo, int *hi_nib, size_t *top, int *shift) {
    const int s2 = e / 32, r = e % 32, half = r / 16, g = (r % 16) / 4, c = r % 4;
    *lo = R1C_Q6R_QL(s2, g) + 4 * (size_t)i + (size_t)c;
    *hi_nib = half;
    *top = R1C_Q6R_QH(s2, half) + 4 * (size_t)i + (size_t)c;
    *shift = 2 * g;
}

/* the inverse of q6_K_unpack: u[e] = q + 32 (6 bits) back into ql / qh */
static void q6_K_pack_ints(const uint8_t u[R1C_QK_K], r1c_block_q6_K *b) {
    for (int n = 0; n < 2; n++) {
        const uint8_t *v = u + 128 * n;
        for (int l = 0; l < 32; l++) {
            b->ql[64 * n + l] = (uint8_t)((v[l] & 0xF) | (v[l + 64] & 0xF) << 4);
            b->ql[64 * n + l + 32] = (uint8_t)((v[l + 32] & 0xF) | (v[l + 96] & 0xF) << 4);
            b->qh[32 * n + l] = (uint8_t)(v[l] >> 4 | (v[l + 32] >> 4) << 2 | (v[l + 64] >> 4) << 4 | (v[l + 96] >> 4) << 6);
        }
    }
}

static void pack_rows_q6_K(uint8_t *data, int64_t n, int64_t k, uint8_t *tmp) {
    const int64_t nsb = k / R1C_QK_K;
    const size_t bs = sizeof(r1c_block_q6_K), rb = (size_t)nsb * bs, pb = 16 * bs;
    for (int64_t g = 0; g < n / R1C_PACK_ROWS; g++) {
        uint8_t *grp = data + (size_t)g * 16 * rb;
        memcpy(tmp, grp, 16 * rb);
        memset(grp, 0, 16 * rb); /* the nibbles and bit pairs are or-ed in */
        for (int i = 0; i < 16; i++)
            for (int64_t B = 0; B < nsb; B++) {
                r1c_block_q6_K b;
                memcpy(&b, tmp + (size_t)i * rb + (size_t)B * bs, bs);
                int8_t q[R1C_QK_K];
                q6_K_unpack(&b, q);
                uint8_t *dst = grp + (size_t)B * pb;
                memcpy(dst + R1C_Q6R_D + 2 * i, &b.d, 2);
                for (int sb = 0; sb < R1C_QK_K / 16; sb++) dst[R1C_Q6R_SC(sb) + i] = (uint8_t)b.scales[sb];
                for (int e = 0; e < R1C_QK_K; e++) {
                    const unsigned u = (unsigned)(q[e] + 32);
                    size_t lo, top;
                    int hi, sh;
                    q6_K_packed_at(i, e, &lo, &hi, &top, &sh);
                    dst[lo] |= (uint8_t)((u & 0xF) << (4 * hi));
                    dst[top] |= (uint8_t)((u >> 4) << sh);
                }
            }
    }
}

/* Q4_K: where element e of row i sits (quant.h): the low (hi_nib 0) or high nibble of a byte */
static size_t q4_K_packed_at(int i, int e, int *hi_nib) {
    const int sb = e / 32, r = e % 32;
    *hi_nib = r / 16;
    return R1C_Q4KR_QS(sb, (r % 16) / 4) + 4 * (size_t)i + (size_t)(r % 4);
}

/* the inverse of get_scale_min_k4: 8 six-bit scales and mins back into the 12 bytes */
static void q4_K_pack_scales(const uint8_t sc[8], const uint8_t mn[8], uint8_t q[12]) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        q[j + 4] = (uint8_t)((mn[j] & 63) | (mn[j + 4] >> 4) << 6);
        q[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | (mn[j + 4] & 0xF) << 4);
    }
}

static void pack_rows_q4_K(uint8_t *data, int64_t n, int64_t k, uint8_t *tmp) {
    const int64_t nsb = k / R1C_QK_K;
    const size_t bs = sizeof(r1c_block_q4_K), rb = (size_t)nsb * bs, pb = 16 * bs;
    for (int64_t g = 0; g < n / R1C_PACK_ROWS; g++) {
        uint8_t *grp = data + (size_t)g * 16 * rb;
        memcpy(tmp, grp, 16 * rb);
        memset(grp, 0, 16 * rb); /* nibbles and bit pairs are or-ed in */
        for (int i = 0; i < 16; i++)
            for (int64_t B = 0; B < nsb; B++) {
                r1c_block_q4_K b;
                memcpy(&b, tmp + (size_t)i * rb + (size_t)B * bs, bs);
                uint8_t q[R1C_QK_K];
                q4_K_unpack(&b, q);
                uint8_t *dst = grp + (size_t)B * pb;
                memcpy(dst + R1C_Q4KR_D + 2 * i, &b.d, 2);
                memcpy(dst + R1C_Q4KR_DMIN + 2 * i, &b.dmin, 2);
                for (int sb = 0; sb < 8; sb++) {
                    uint8_t sc, mn;
                    get_scale_min_k4(sb, b.scales, &sc, &mn);
                    dst[R1C_Q4KR_SCL(sb) + i] = (uint8_t)((sc & 0xF) | (mn & 0xF) << 4);
                    dst[R1C_Q4KR_SCH(sb) + i] |= (uint8_t)(((sc >> 4) | (mn >> 4) << 2) << (4 * (sb % 2)));
                }
                for (int e = 0; e < R1C_QK_K; e++) {
                    int hi;
                    const size_t at = q4_K_packed_at(i, e, &hi);
                    dst[at] |= (uint8_t)(q[e] << (4 * hi));
                }
            }
    }
}

static void unpack_row_q4_K(const uint8_t *data, int64_t k, int64_t r, uint8_t *out) {
    const int64_t nsb = k / R1C_QK_K;
    const size_t bs = sizeof(r1c_block_q4_K), rb = (size_t)nsb * bs, pb = 16 * bs;
    const uint8_t *grp = data + (size_t)(r / 16) * 16 * rb;
    const int i = (int)(r % 16);
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *src = grp + (size_t)B * pb;
        r1c_block_q4_K b;
        memcpy(&b.d, src + R1C_Q4KR_D + 2 * i, 2);
        memcpy(&b.dmin, src + R1C_Q4KR_DMIN + 2 * i, 2);
        uint8_t sc[8], mn[8];
        for (int sb = 0; sb < 8; sb++) {
            const unsigned lo = src[R1C_Q4KR_SCL(sb) + i], hi = src[R1C_Q4KR_SCH(sb) + i] >> (4 * (sb % 2));
            sc[sb] = (uint8_t)((lo & 0xF) | (hi & 3) << 4);
            mn[sb] = (uint8_t)((lo >> 4) | (hi >> 2 & 3) << 4);
        }
        q4_K_pack_scales(sc, mn, b.scales);
        for (int kk = 0; kk < R1C_QK_K / 64; kk++) /* element 64k + l: low nibble of qs[32k + l], + 32: high */
            for (int l = 0; l < 32; l++) {
                int h0, h1;
                const size_t a0 = q4_K_packed_at(i, 64 * kk + l, &h0), a1 = q4_K_packed_at(i, 64 * kk + 32 + l, &h1);
                b.qs[32 * kk + l] = (uint8_t)((src[a0] >> (4 * h0) & 0xF) | (src[a1] >> (4 * h1) & 0xF) << 4);
            }
        memcpy(out + (size_t)B * bs, &b, bs);
    }
}

static void unpack_row_q6_K(const uint8_t *data, int64_t k, int64_t r, uint8_t *out) {
    const int64_t nsb = k / R1C_QK_K;
    const size_t bs = sizeof(r1c_block_q6_K), rb = (size_t)nsb * bs, pb = 16 * bs;
    const uint8_t *grp = data + (size_t)(r / 16) * 16 * rb;
    const int i = (int)(r % 16);
    for (int64_t B = 0; B < nsb; B++) {
        const uint8_t *src = grp + (size_t)B * pb;
        r1c_block_q6_K b;
        uint8_t u[R1C_QK_K];
        memcpy(&b.d, src + R1C_Q6R_D + 2 * i, 2);
        for (int sb = 0; sb < R1C_QK_K / 16; sb++) b.scales[sb] = (int8_t)src[R1C_Q6R_SC(sb) + i];
        for (int e = 0; e < R1C_QK_K; e++) {
            size_t lo, top;
            int hi, sh;
            q6_K_packed_at(i, e, &lo, &hi, &top, &sh);
            u[e] = (uint8_t)((src[lo] >> (4 * hi) & 0xF) | (src[top] >> sh & 3) << 4);
        }
        q6_K_pack_ints(u, &b);
        memcpy(out + (size_t)B * bs, &b, bs);
    }
}

/* where byte j of row i's block qs (and its scale) go inside a packed block */
static inline size_t packed_qs_at(int i, int j) { return 32 + 64 * (size_t)(j / 4) + 4 * (size_t)i + (size_t)(j % 4); }

void r1c_quant_pack_rows(r1c_dtype t, void *data, int64_t n, int64_t k, void *tmp) {
    if (t == R1C_Q6_K || t == R1C_Q4_K) {
        (t == R1C_Q6_K ? pack_rows_q6_K : pack_rows_q4_K)(data, n, k, tmp);
        return;
    }
    const int q4 = t == R1C_Q4_0;
    const size_t bsize = q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0), nq = bsize - 2;
    const int64_t nb = k / 32;
    const size_t rb = (size_t)nb * bsize, pb = 16 * bsize; /* bytes of a row; of a packed block */
    const uint32_t flip4 = q4 ? 0 : 0x80808080u;
    for (int64_t g = 0; g < n / R1C_PACK_ROWS; g++) {
        uint8_t *grp = (uint8_t *)data + (size_t)g * 16 * rb;
        memcpy(tmp, grp, 16 * rb);
        for (int i = 0; i < 16; i++)
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *src = (const uint8_t *)tmp + (size_t)i * rb + (size_t)b * bsize;
                uint8_t *dst = grp + (size_t)b * pb;
                memcpy(dst + 2 * i, src, 2);
                for (size_t j = 0; j < nq; j += 4) { /* four bytes at a time: they stay together */
                    uint32_t v;
                    memcpy(&v, src + 2 + j, 4);
                    v ^= flip4;
                    memcpy(dst + packed_qs_at(i, (int)j), &v, 4);
                }
            }
    }
}

void r1c_quant_unpack_row(r1c_dtype t, const void *data, int64_t k, int64_t r, void *dst) {
    if (t == R1C_Q6_K || t == R1C_Q4_K) {
        (t == R1C_Q6_K ? unpack_row_q6_K : unpack_row_q4_K)(data, k, r, dst);
        return;
    }
    const int q4 = t == R1C_Q4_0;
    const size_t bsize = q4 ? sizeof(r1c_block_q4_0) : sizeof(r1c_block_q8_0), nq = bsize - 2;
    const int64_t nb = k / 32;
    const size_t rb = (size_t)nb * bsize, pb = 16 * bsize;
    const uint8_t flip = q4 ? 0 : 0x80;
    const uint8_t *grp = (const uint8_t *)data + (size_t)(r / 16) * 16 * rb;
    const int i = (int)(r % 16);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *src = grp + (size_t)b * pb;
        uint8_t *out = (uint8_t *)dst + (size_t)b * bsize;
        memcpy(out, src + 2 * i, 2);
        for (size_t j = 0; j < nq; j++) out[2 + j] = src[packed_qs_at(i, (int)j)] ^ flip;
    }
}
