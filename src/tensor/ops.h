/* ops.h — the building blocks of a forward pass, in f32 (weights widened as they are read).
 *
 * Shapes: T tokens, D model width, K reduction length. Activations are row-major [T][width]. */
#ifndef R1C_TENSOR_OPS_H
#define R1C_TENSOR_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "tensor.h"

/* Threads and their scratch (sized by r1c_exec_scratch_floats). */
typedef struct r1c_exec {
    int n_threads;
    float **scratch;      /* one buffer per thread */
    size_t scratch_floats;
} r1c_exec;

/* Floats of per-thread scratch the ops need, for attention over up to n_ctx keys. */
size_t r1c_exec_scratch_floats(int n_ctx, size_t extra);

/* One weight of a fused matmul: Y[t*ldy + r] = sum_k W[r][k] * X[t*ldx + k]. */
typedef struct r1c_mm_job {
    const r1c_tensor *w; /* 2-D [rows][K]: F32, F16, BF16, or F8_E4M3 with block scales */
    float *y;
    int64_t ldy;
    const float *x;      /* this job's input (same ldx, same T), or NULL for the call's x */
} r1c_mm_job;

/* Runs the jobs (all reading the same X of width K) in one parallel region. T == 1 streams
 * the weights once (matrix-vector); T > 1 runs a blocked GEMM. Both give, per element, the
 * canonical-order dot product, so the result does not depend on T or on the thread count. */
void r1c_matmul(const r1c_exec *ex, const r1c_mm_job *jobs, int n_jobs, const float *x,
                int64_t ldx, int T);

/* Single-threaded pieces for callers that parallelise themselves:
 * y[r - r0] = dot(row r of w, x) for r in [r0, r1) (canonical order), and one row widened to f32. */
void r1c_matvec_rows(const r1c_tensor *w, const float *x, float *y, int64_t r0, int64_t r1);
void r1c_row_to_f32(const r1c_tensor *w, int64_t r, float *dst);

/* out = x / sqrt(mean(x^2) + eps) * w (as Hugging Face: normalise, then scale). */
void r1c_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);

/* Rotary embedding of one token's heads, in place. cs holds cos, sn sin, for the
 * head_dim/2 frequencies at this token's position.
 * rotate-half (Hugging Face layout): pairs (j, j + d/2); interleaved (GPT-J / DeepSeek MLA,
 * llama.cpp NORM): pairs (2j, 2j+1). */
void r1c_rope(float *x, int n_heads, int head_dim, const float *cs, const float *sn, int interleaved);

/* g[i] = silu(g[i]) * u[i] */
void r1c_silu_mul(float *g, const float *u, int64_t n);

/* Causal attention of one query against n_keys cached keys/values of one KV head:
 * out[d] = sum_j softmax_j(scale * q.k_j) v_j[d]. Keys and values are rows with stride
 * `stride` floats. scores needs n_keys floats. */
void r1c_attend(const float *q, const float *k, const float *v, int64_t stride, int n_keys,
                int head_dim, float scale, float *scores, float *out);

#endif
