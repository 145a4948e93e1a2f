/* trainer.h — training a decoder (Llama 3 / Qwen2, or DeepSeek-V3's MLA + MoE) in f32, llm.c style: one
 * forward that keeps what the backward needs, one backward, AdamW. The parameters carry Hugging
 * Face's names and shapes, so a checkpoint is a model directory `r1c run` loads unchanged.
 *
 *     r1c_trainer *m;
 *     r1c_trainer_new(&cfg, &shape, &m);          // random init (seeded)
 *     loss = r1c_trainer_forward(m, inputs, targets);   // B x T tokens each
 *     r1c_trainer_backward(m);                     // gradients add up (accumulation)
 *     r1c_trainer_step(m, &opt, lr);               // clip, AdamW, zero the gradients
 *     r1c_trainer_save(m, "ckpt/");                // config.json + model.safetensors
 *
 * A step gives the same bits for every thread count (the matmuls run on the inference GEMM's
 * canonical order; every other sum has a fixed order). */
#ifndef R1C_TRAIN_TRAINER_H
#define R1C_TRAIN_TRAINER_H

#include <stdint.h>

#include "io/hf_config.h"
#include "r1c.h"

typedef struct r1c_train_shape {
    int B, T;      /* sequences per micro-batch, tokens per sequence */
    int n_threads; /* 0: all cores */
    uint64_t seed; /* initialisation */
} r1c_train_shape;

typedef struct r1c_adamw {
    float beta1, beta2, eps;
    float weight_decay; /* decoupled; matrices only (not norms, biases or embeddings) */
    float clip;         /* global gradient-norm clip; 0: off */
} r1c_adamw;

typedef struct r1c_trainer r1c_trainer;

/* cfg: model_type "llama", "qwen2" (q/k/v biases), "deepseek_v2" or "deepseek_v3" (MLA, with or
 * without q_lora_rank; MoE after first_k_dense_replace layers, shared experts, group-limited
 * routing with the correction bias); no rope scaling. */
r1c_status r1c_trainer_new(const r1c_hf_config *cfg, const r1c_train_shape *shape, r1c_trainer **out);
void r1c_trainer_free(r1c_trainer *m);

/* Mean cross-entropy of B x T next-token predictions (targets < 0 are not counted). */
double r1c_trainer_forward(r1c_trainer *m, const int32_t *inputs, const int32_t *targets);
/* dloss/dparams of the last forward, added to the gradients (scaled by grad_scale: 1/n for an
 * average over n accumulated micro-batches). */
void r1c_trainer_backward(r1c_trainer *m, float grad_scale);
/* Per-token objectives (policy gradients, GRPO): log p(target) of each of the last forward's
 * B x T tokens (0 where the target is < 0), and the backward of L = -sum_t w[t] log p(target_t)
 * in place of the mean cross-entropy (the balance loss's gradient still added when on). The
 * caller computes w from the forward's log-probabilities (ratios, advantages, KL). */
void r1c_trainer_token_logprobs(const r1c_trainer *m, float *logp);
void r1c_trainer_backward_weighted(r1c_trainer *m, const float *w);
/* Global gradient norm (before clipping) of the accumulated gradients. */
double r1c_trainer_grad_norm(const r1c_trainer *m);
/* Clips, takes one AdamW step at learning rate lr, clears the gradients. Returns the norm; a
 * norm that is not finite (NaN / inf gradients) skips the step. */
double r1c_trainer_step(r1c_trainer *m, const r1c_adamw *opt, float lr);

/* DeepSeek-V3's auxiliary-loss-free load balancing, once per optimiser step: each MoE layer's
 * routing bias (e_score_correction_bias) moves by speed towards balance, from the tokens each
 * expert got in this step's backward passes. loads (L x n_experts, NULL: not wanted) receives
 * those counts, which are then cleared. */
void r1c_trainer_balance(r1c_trainer *m, float speed, int32_t *loads);
int r1c_trainer_n_experts(const r1c_trainer *m);
/* DeepSeek-V3's optional sequence-wise balance loss (weight alpha, e.g. 1e-4; 0: off, the
 * default): added to the loss the forward returns and to the router's gradient. */
void r1c_trainer_set_seq_aux(r1c_trainer *m, float alpha);
/* bf16 compute (on) or f32 (off, the default): every GEMM of the forward and backward rounds its
 * operands to bf16 and sums in f32 (AVX-512 BF16 where the CPU has it); the weights, gradients,
 * Adam moments and every other op stay f32 (fp32 master weights). */
void r1c_trainer_set_bf16(r1c_trainer *m, int on);
/* the GEMM micro-kernel in use: "avx512", "portable", "avx512-bf16", "portable-bf16" */
const char *r1c_trainer_gemm_kernel(const r1c_trainer *m);
/* Document masking for packed rows (bos >= 0; -1: off, the default): a token attends only to
 * its own document, which starts at a BOS token (or the row's start), and its RoPE position
 * counts from there — what a document sees when it is run alone. */
void r1c_trainer_set_doc_mask(r1c_trainer *m, int32_t bos);
/* its value in the last forward (included in the returned loss) */
double r1c_trainer_aux_loss(const r1c_trainer *m);

/* The logits of the last forward: B x T x vocab (valid until the next backward). */
const float *r1c_trainer_logits(const r1c_trainer *m);

/* Parameters in order: name (HF), element count, pointers to the value, gradient, and Adam
 * moments. For tests, checkpoints and the optimiser. */
int r1c_trainer_n_params(const r1c_trainer *m);
const char *r1c_trainer_param(const r1c_trainer *m, int i, int64_t *numel, float **value, float **grad);
int64_t r1c_trainer_numel(const r1c_trainer *m);

/* dir/config.json + dir/model.safetensors (f32) + dir/generation_config.json. */
r1c_status r1c_trainer_save(const r1c_trainer *m, const char *dir);
/* The optimiser's state beside a checkpoint: dir/optimizer.safetensors (AdamW's two moments
 * per parameter, PyTorch-like names "exp_avg.<param>", "exp_avg_sq.<param>"). The step count
 * (AdamW's bias correction) is the caller's to keep (trainer_state.json) and set back. */
r1c_status r1c_trainer_save_state(const r1c_trainer *m, const char *dir);
/* Weights from dir/model.safetensors (f32, bf16 or f16; every parameter must be there with its
 * shape), and with with_state the moments from dir/optimizer.safetensors too. */
r1c_status r1c_trainer_load(r1c_trainer *m, const char *dir, int with_state);
int64_t r1c_trainer_steps_done(const r1c_trainer *m);
void r1c_trainer_set_steps_done(r1c_trainer *m, int64_t step);

/* ---- LoRA (Hu et al. 2021; PEFT's conventions): the model's weights frozen, each targeted
 * matrix W gains W x + s B (A drop(x)), s = alpha / r (alpha / sqrt r with rsLoRA), A [r][in]
 * random, B [out][r] zero, so training starts from the base model exactly. Call after the base
 * weights are loaded (r1c_trainer_load) and before training. Then only A and B train, save
 * writes the adapter (adapter_config.json + adapter_model.safetensors, PEFT's names), load
 * reads it back (the base must already be there), and save_state / load's with_state keep the
 * adapter's moments. */
typedef struct r1c_trainer_lora {
    int r;
    float alpha, dropout;
    int use_rslora;
    const char *const *targets; /* module names: "q_proj" or a dotted suffix of the full name */
    int n_targets;
    uint64_t seed;              /* A's initialisation and the dropout masks */
    const char *base_model;     /* adapter_config.json's base_model_name_or_path (NULL: null) */
} r1c_trainer_lora;
r1c_status r1c_trainer_add_lora(r1c_trainer *m, const r1c_trainer_lora *lora);
int r1c_trainer_lora_modules(const r1c_trainer *m);
/* Elements the optimiser trains (all but the routing bias; under LoRA only A and B). */
int64_t r1c_trainer_trainable(const r1c_trainer *m);
/* Dropout on (training, the default) or off (evaluation). */
void r1c_trainer_set_dropout(r1c_trainer *m, int on);

#endif
