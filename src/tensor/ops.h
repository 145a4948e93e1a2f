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
struct r1c_mm_job;
typedef struct r1c_exec {
    int n_threads;
    float **scratch;      /* one buffer per thread */
    size_t scratch_floats;
    /* Called at the end of every r1c_matmul with the same arguments, so a LoRA adapter
     * (model/lora.h) can add its low-rank term to the outputs of the weights it adapts while
     * the base weights stay untouched; NULL: nothing. */
    void (*after_mm)(const struct r1c_exec *ex, const struct r1c_mm_job *jobs, int n_jobs,
                     const float *x, int64_t ldx, int T);
    const void *after_mm_user;
    /* r1c_sgemm rounds A and B to bf16 (round to nearest even) and accumulates in f32
     * (training's bf16 compute option); 0: plain f32, bit for bit what it was before. */
    int gemm_bf16;
} r1c_exec;

/* Floats of per-thread scratch: what r1c_matmul's GEMM needs, or `extra` (the architecture's
 * attention scratch, r1c_attention_scratch_floats and its own buffers) if more. Attention no
 * longer keeps per-key scores, so n_ctx does not matter (kept for the callers' signature). */
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
/* out[c] = sum over rows r in [r0, r1) of x[r - r0] w[r][c] (w transposed times x): per column,
 * fma(x, w[r][c], acc) with r ascending from 0, whatever the dtype and kernels; row: scratch of
 * shape[1] floats */
void r1c_matvec_t(const r1c_tensor *w, int64_t r0, int64_t r1, const float *x, float *out, float *row);

/* out = x / sqrt(mean(x^2) + eps) * w (as Hugging Face: normalise, then scale). */
void r1c_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);

/* Rotary embedding of one token's heads, in place. cs holds cos, sn sin, for the
 * head_dim/2 frequencies at this token's position.
 * rotate-half (Hugging Face layout): pairs (j, j + d/2); interleaved (GPT-J / DeepSeek MLA,
 * llama.cpp NORM): pairs (2j, 2j+1). */
void r1c_rope(float *x, int n_heads, int head_dim, const float *cs, const float *sn, int interleaved);

/* g[i] = silu(g[i]) * u[i], as vexp.h's r1c_silu_mul1 (every kernel table gives the same bits);
 * long arrays are split across ex's threads (ex may be NULL: one thread) */
void r1c_silu_mul(const r1c_exec *ex, float *g, const float *u, int64_t n);

/* ---------------------------------------------------------------- attention
 *
 * Softmax attention with an online softmax over tiles of keys (flash-style): no buffer grows
 * with the context; scratch is O(tile + head_dim) per query.
 *
 * Canonical order (part of r1c's reproducibility contract, with kernels.h's dot product: the
 * server's batch-invariance promise rests on it). For one query attending keys [0, n):
 *
 *   m = -inf, l = 0, o[0..dv) = 0
 *   for each tile t = 0, 1, ... : keys j in [t*R1C_ATTN_TILE, min((t+1)*R1C_ATTN_TILE, n))
 *       s_j = (dot(q, k_j) [+ dot(q2, k2_j)]) * scale     canonical dots (kernels.h), one per part,
 *                                                          the two parts added, then scaled
 *       mt = max of the tile's s_j (in order of j; a NaN never becomes the max)
 *       if mt > m:  if m > -inf: a = expf(m - mt); l = l * a; o[d] = o[d] * a (each d)
 *                   m = mt
 *       if m == -inf: the tile adds nothing (no key with a score above -inf yet)
 *       for j in order: p_j = expf(s_j - m); l = l + p_j; o[d] = fma(p_j, v_j[d], o[d]) (each d)
 *   out[d] = o[d] / l
 *
 * Tile boundaries are absolute key indices, so a query at position p sees the same tiles, hence
 * the same bits, whether it is evaluated in a prefill batch of any size, chunk by chunk, or
 * token by token, and for any thread count: each query's sequence of operations above is fixed,
 * however many queries are processed together (below) or which thread runs them.
 * Every float operation is single rounding (ops are built with -ffp-contract=off; fma is the
 * kernels' axpy, bit-identical in every table), and expf is r1c_exp (vexp.h: the same bits in
 * every table).
 * Scores all -inf give 0/0 = NaN (as a plain softmax does); a +inf or NaN score gives NaN. */
#define R1C_ATTN_TILE 128
#define R1C_ATTN_MAXQ 16 /* queries per r1c_attention call's inner batch (more are split) */

/* Keys and values shared by a set of queries: key j is k + j*ldk (dk floats) and, if dk2 > 0,
 * k2 + j*ldk2 (dk2 floats, a second part with its own dot product: MLA's rope key); value j
 * is v + j*ldv (dv floats). */
typedef struct r1c_attn {
    const float *k, *k2, *v;
    int64_t ldk, ldk2, ldv;
    int dk, dk2, dv;
    float scale;
} r1c_attn;

/* One query: q (dk floats) [and q2 (dk2 floats)] attends keys [0, n_keys) (n_keys >= 1);
 * its dv outputs go to out (which must not overlap any input). */
typedef struct r1c_attn_query {
    const float *q, *q2;
    float *out;
    int n_keys;
} r1c_attn_query;

/* Floats of scratch r1c_attention needs for up to R1C_ATTN_MAXQ queries of these key parts. */
size_t r1c_attention_scratch_floats(int dk, int dk2);

/* Runs the queries in the canonical order above, R1C_ATTN_MAXQ at a time: each tile of keys
 * and values is read once for all of them (GQA heads sharing a KV head, MLA heads sharing the
 * latent cache, or tokens of a batch), and its scores come from the kernel table's register-
 * blocked dot products (gemm_acc + lane_sums: the canonical dot, bit-equal to r1c_dot_f32).
 * Single-threaded; the results do not depend on how the queries are grouped. */
void r1c_attention(const r1c_attn *a, const r1c_attn_query *qs, int nq, float *scratch);

/* The same, over keys [j0, j1) only, j0 a multiple of R1C_ATTN_TILE: for callers that produce
 * keys and values a chunk at a time (MLA prefill expands them from the latents), with key j at
 * row j - j0 of a's arrays. ml keeps each query's running (max, denominator) between the
 * calls (2 floats per query); the call with j0 == 0 starts a query (zeroes its out), the call
 * whose range holds its last key finishes it (out = o / l). Calls in order of j0 over
 * consecutive ranges give r1c_attention's bits. */
void r1c_attention_part(const r1c_attn *a, const r1c_attn_query *qs, int nq, int j0, int j1, float *ml, float *scratch);

/* One query of one KV head: out[d] = sum_j softmax_j(scale * q.k_j) v_j[d], keys and values
 * rows `stride` floats apart (r1c_attention with dk = dv = head_dim). scratch needs
 * r1c_attention_scratch_floats(head_dim, 0) floats. */
void r1c_attend(const float *q, const float *k, const float *v, int64_t stride, int n_keys,
                int head_dim, float scale, float *scratch, float *out);

#endif
