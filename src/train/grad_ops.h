/* grad_ops.h — the operations a transformer trains with, each forward beside its backward.
 *
 * Everything is f32, row-major, one row per token: x[t * n + i]. Backward functions take the
 * gradient of the loss with respect to the forward's output (dy) and ADD the gradients of the
 * inputs and parameters into their buffers (so micro-batches accumulate); an input gradient
 * buffer that must start from zero is the caller's to clear. Saved activations are whatever
 * the forward was given (the caller keeps them) plus the small per-row statistics named below.
 *
 * The matrix products run on r1c_matmul (the inference GEMM, canonical reduction order), so a
 * training step gives the same bits for every thread count — which is what makes --resume exact.
 * The rest are plain loops over rows, threads over independent rows. */
#ifndef R1C_TRAIN_GRAD_OPS_H
#define R1C_TRAIN_GRAD_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "r1c.h"
#include "tensor/ops.h"

/* ---- embedding: y[t] = E[ids[t]]  (E: V x D) */
void tg_embed_fwd(const float *E, const int32_t *ids, int T, int64_t D, float *y);
void tg_embed_bwd(const float *dy, const int32_t *ids, int T, int64_t D, float *dE);

/* ---- RMSNorm: y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps); rstd[t] is saved */
void tg_rmsnorm_fwd(const r1c_exec *ex, const float *x, const float *w, float eps, int T, int64_t D, float *y, float *rstd);
void tg_rmsnorm_bwd(const r1c_exec *ex, const float *dy, const float *x, const float *w, const float *rstd, int T, int64_t D,
                    float *dx, float *dw);

/* ---- linear: y[T][out] = x[T][in] W^T (+ b), W: out x in (PyTorch's nn.Linear layout).
 * Backward: dx += dy W, dW += dy^T x, db += sum_t dy. work: tg_linear_work_floats() floats. */
size_t tg_linear_work_floats(int T, int64_t in, int64_t out);
void tg_linear_fwd(const r1c_exec *ex, const float *x, const float *W, const float *b, int T, int64_t in, int64_t out,
                   float *y);
void tg_linear_bwd(const r1c_exec *ex, const float *dy, const float *x, const float *W, int T, int64_t in, int64_t out,
                   float *dx, float *dW, float *db, float *work);

/* ---- RoPE on n_heads heads of hd dims per row (in place): pairs (i, i + hd/2) (rotate-half,
 * HF Llama/Qwen2) or (2i, 2i + 1) (interleaved); row t is rotated by angle pos[t] * inv_freq[i],
 * cos/sin scaled by mscale (YaRN's attention factor; 1 otherwise). The backward rotates back. */
void tg_rope_fwd(float *x, int T, int n_heads, int hd, int64_t ld, const int32_t *pos, const float *inv_freq, float mscale,
                 int interleaved);
void tg_rope_bwd(float *dx, int T, int n_heads, int hd, int64_t ld, const int32_t *pos, const float *inv_freq, float mscale,
                 int interleaved);

/* ---- causal self-attention of B sequences of T tokens (rows b * T + t), H query heads and
 * KVH key/value heads (GQA: head h reads kv head h / (H / KVH)); q, k: dk dims per head, v and
 * out: dv per head; strides are the rows' lengths (H*dk, KVH*dk, KVH*dv, H*dv). P saves the
 * softmax: B x H x T x T floats. */
typedef struct tg_attn_shape {
    int B, T, H, KVH, dk, dv;
    float scale;
    const r1c_exec *ex;
    /* Document masking (NULL: plain causal): token b*T + t attends to its row's tokens
     * seg_start[b*T + t] .. t only, the documents packed before it in the row hidden. */
    const int32_t *seg_start;
} tg_attn_shape;
size_t tg_attention_work_floats(const tg_attn_shape *s);
/* work: tg_attention_work_floats(s) floats, or NULL (then allocated per call: R1C_ERR_NOMEM
 * when that fails) */
r1c_status tg_attention_fwd(const tg_attn_shape *s, const float *q, const float *k, const float *v, float *P, float *out,
                            float *work);
r1c_status tg_attention_bwd(const tg_attn_shape *s, const float *dout, const float *q, const float *k, const float *v,
                            const float *P, float *dq, float *dk, float *dv, float *work);

/* ---- SwiGLU: h = silu(g) * u elementwise */
void tg_swiglu_fwd(const r1c_exec *ex, const float *g, const float *u, int64_t n, float *h);
void tg_swiglu_bwd(const r1c_exec *ex, const float *dh, const float *g, const float *u, int64_t n, float *dg, float *du);

/* ---- cross-entropy over V classes for T rows of logits, mean over the rows whose target is
 * >= 0 (negative targets are ignored: prompt tokens in SFT). Returns the mean loss; dlogits
 * (may alias logits) gets (softmax - onehot) * grad_scale / n_counted for counted rows, 0 for
 * the others. *n_counted: rows counted. */
double tg_cross_entropy(const r1c_exec *ex, const float *logits, const int32_t *targets, int T, int64_t V, float grad_scale,
                        float *dlogits, int *n_counted);

/* ---- a weighted log-likelihood, for objectives that weight each token (policy gradients):
 * L = -sum_t w[t] log softmax(logits[t])[targets[t]] over rows with targets >= 0 (w NULL: all 1). logp (T, may
 * be NULL) receives log p(target) per row (0 where the target is < 0); dlogits (may alias
 * logits; NULL: only the values) gets w[t] (softmax - onehot). Returns L. */
double tg_weighted_nll(const r1c_exec *ex, const float *logits, const int32_t *targets, const float *w, int T, int64_t V,
                       float *logp, float *dlogits);

#endif
