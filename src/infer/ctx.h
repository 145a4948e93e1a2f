/* ctx.h — one sequence's state: the KV cache, activation buffers sized once for n_batch
 * tokens, the logits of the last evaluation, and the threads' scratch. */
#ifndef R1C_INFER_CTX_H
#define R1C_INFER_CTX_H

#include <stddef.h>

#include "../model/model.h"
#include "../tensor/ops.h"

struct r1c_ctx {
    const r1c_model *m;
    int n_ctx, n_batch, n_past;
    r1c_exec ex;
    int max_threads;      /* scratch is allocated for this many */

    /* KV cache: [layer][n_ctx][kv_floats_per_token] for K and for V (f32) */
    float *k_cache, *v_cache;
    size_t cache_bytes, v_cache_bytes;

    /* an architecture's own per-call buffers (deepseek.c: expanded K/V, MoE gathers), grown on demand */
    float *arch_buf;
    size_t arch_buf_floats;

    /* debugging and tests: when set, the forward pass records each layer's output
     * ([n_layers + 1][T][hidden], slot 0 = embeddings) and each MoE layer's routing
     * ([n_moe_layers][T][k] ids and weights) of the last evaluated batch */
    float *hidden_log;
    int32_t *route_ids;
    float *route_w;

    /* activations, [n_batch][width] */
    float *x, *xb, *xb2, *q, *k, *v, *att, *hb, *hb2;
    float *rope_cos, *rope_sin; /* [n_batch][head_dim/2] */

    /* r1c_eval_batch: token t of the forward pass belongs to seqs[t] (its position, its cache);
     * NULL otherwise */
    struct r1c_ctx *const *seqs;
    const int *seq_pos; /* token t's position in its sequence */
    const int *seq_last; /* token t is its sequence's last in the batch: the logits rows, in order */

    float *logits;        /* [n_logits][n_vocab] */
    int n_logits;         /* rows held */
    size_t logits_cap;    /* rows allocated */
};

#endif
