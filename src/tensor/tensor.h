/* tensor.h — a named view of weights as stored (no copy): dtype, shape, data pointer. */
#ifndef R1C_TENSOR_TENSOR_H
#define R1C_TENSOR_TENSOR_H

#include <stdint.h>

#include "dtype.h"

#define R1C_MAX_DIMS 8

typedef struct r1c_tensor {
    const char *name;
    r1c_dtype dtype;
    int packed; /* Q8_0 / Q4_0 rows interleaved in groups of 16 (quant.h, R1C_PACK_ROWS), set at load */
    int n_dims;
    int64_t shape[R1C_MAX_DIMS]; /* outermost first, as in safetensors / PyTorch */
    const void *data;
    uint64_t nbytes;
    /* FP8 block scaling (DeepSeek's weight_scale_inv): w[r][c] = f32(q[r][c]) *
     * scale[(r / block[0]) * scale_cols + c / block[1]]; NULL for other dtypes */
    const float *scale;
    int64_t block[2];
    int64_t scale_cols;
} r1c_tensor;

static inline int64_t r1c_tensor_numel(const r1c_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

#endif
