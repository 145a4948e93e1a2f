/* trainer.c — forward, backward and AdamW for a decoder (see trainer.h): Llama / Qwen2, and
 * DeepSeek-V3's MLA attention with DeepSeekMoE feed-forwards.
 *
 * One dense layer, as the forward runs it (N = B x T rows, D model width):
 *   xn  = rmsnorm(x) * ln1                 (rstd1 kept)
 *   q, k, v = xn Wq^T (+bq), xn Wk^T (+bk), xn Wv^T (+bv);  RoPE on q, k
 *   att = causal softmax(q k^T / sqrt(hd)) v   (P kept)
 *   x2  = x + att Wo^T
 *   xn2 = rmsnorm(x2) * ln2                (rstd2 kept)
 *   h   = silu(xn2 Wg^T) * (xn2 Wu^T)      (g, u kept)
 *   x'  = x2 + h Wd^T
 * then logits = rmsnorm(x_L) * norm  Wlm^T and the mean cross-entropy. The backward walks the
 * same lines upwards, each op's gradient from grad_ops.c.
 *
 * DeepSeek layers (HF's DeepseekV3 modeling, the expanded form of MLA):
 *   q   = rmsnorm(xn Wqa^T) * q_a_ln  Wqb^T           (or xn Wq^T), per head [q_nope | q_pe]
 *   kva = xn Wkva^T = [c0 | k_pe];  c = rmsnorm(c0) * kv_a_ln;  kv = c Wkvb^T, per head [k_nope | v]
 *   RoPE (interleaved pairs) on q_pe and on k_pe, which every head shares
 *   att = attention over [q_nope | q_pe] . [k_nope | k_pe], values v;  x2 = x + att Wo^T
 *   MoE: s = sigmoid(xn2 Wr^T) (V3; softmax for V2); the k experts chosen by s + bias (group-
 *   limited, as inference's r1c_ds_route); w = s / sum s * scale over the chosen;
 *   x' = x2 + sum_j w_j E_j(xn2) + shared(xn2). The bias has no gradient: it moves by the
 *   auxiliary-loss-free rule after each step (r1c_trainer_balance). */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "io/safetensors.h"
#include "model/lora.h"
#include "model/model.h"
#include "train/grad_ops.h"
#include "train/sgemm.h"

enum {
    P_LN1, P_WQ, P_BQ, P_WK, P_BK, P_WV, P_BV, P_WO, P_LN2, P_WG, P_WU, P_WD, /* dense */
    P_QA, P_QA_LN, P_QB, P_KVA, P_KVA_LN, P_KVB,                                /* MLA (P_WQ: q_proj) */
    P_ROUTER, P_RBIAS, P_SG, P_SU, P_SD,                                        /* MoE (+ experts) */
    P_PER_LAYER
};

typedef struct param {
    char name[96];
    int n_dims;
    int64_t shape[2];
    int64_t off, numel;
    int decay; /* weight decay applies (matrices other than the embedding) */
    int fixed; /* not trained by gradients (MoE's routing bias; every base weight under LoRA) */
    int frozen; /* no gradient at all (the base model under LoRA): the backward skips it */
    int lora;   /* a LoRA matrix (lora_A / lora_B): not in model.safetensors */
} param;

/* LoRA (r1c_trainer_add_lora): one adapted matrix W [out][in] of the frozen base, with
 * A [r][in] and B [out][r] as trainable parameters. The forward adds
 *   y += (s drop(x) A^T) B^T,   s = alpha / r  (alpha / sqrt(r) with rsLoRA)
 * and keeps xa = s drop(x) A^T (T x r) for the backward:
 *   dB += dy^T xa,  dxa = s dy B,  dA += dxa^T drop(x),  dx += drop'(dxa A).
 * The dropout mask is a hash of (seed, step, micro-batch, module, element), so the backward
 * finds the forward's mask again without storing it, and a resumed run draws the same masks. */
typedef struct lora_mod {
    int w, a, b;     /* params: the base weight, lora_A, lora_B */
    int64_t in, out;
    float *xa;       /* the last forward's s drop(x) A^T: up to N x r */
} lora_mod;

typedef struct layer_acts {
    float *x, *xn, *rstd1, *q, *k, *v, *P, *att, *x2, *xn2, *rstd2, *g, *u, *h;
    /* MLA */
    float *qa, *qan, *rstdq, *kva, *c, *rstdc, *kv;
    /* MoE: router logits, choices (ids, weights), per (token, slot) pair in expert order its
     * expert's g, u, h and output y; the shared experts' g, u, h, y */
    float *rlog, *rw, *eg, *eu, *eh, *ey, *sg, *su, *sh, *sy;
    int32_t *rid, *order; /* order: pairs t * k + j sorted by expert */
    int *estart;          /* expert e's pairs: order[estart[e] .. estart[e + 1]) */
} layer_acts;

struct r1c_trainer {
    r1c_hf_config cfg;
    r1c_train_shape shape;
    int qwen2, tied, ds;
    int64_t D, F, V, hd, qd, kvd;
    int H, KVH, L;
    /* DeepSeek: MLA widths (qhd = nope + rope per head) and MoE sizes */
    int64_t ql, kvl, nope, rope, vd, qhd, MF, SF;
    int E, K, first_dense;
    float seq_aux;                 /* the sequence-wise balance loss's weight (0: off) */
    double aux_loss;               /* its value in the last forward */
    int *experts;                  /* layer l, expert e: gate, up, down at experts[(l * E + e) * 3 ..] */
    int32_t *loads;                /* tokens per expert in the last step (accumulated over micro-batches) */
    float *mx_buf, *dy_buf, *dx_buf; /* MoE gathers: N x D each */
    float *dkv, *dc, *dkva, *dqa, *drl, *dwr, *c0, *dcn; /* MLA / router backward */
    float *awork;                                        /* the attention's buffers */
    param *params;
    int n_params;
    int embed, norm, lm_head;  /* indices into params (lm_head = embed when tied) */
    int *layer;                /* layer l's P_* params start at layer[l] (-1: absent bias) */
    float *value, *grad, *m1, *m2;
    int64_t numel;
    int64_t step;
    float *inv_freq;
    int32_t *pos, *inputs, *targets, *seg; /* seg: document masking's segment starts (NULL: off) */
    int32_t doc_bos;                       /* the token that starts a document (-1: no masking) */
    layer_acts *acts;
    float *xf, *rstdf, *logits, *act_mem;
    /* backward buffers */
    float *dx, *dx2, *dxn, *dq, *dk, *dv, *datt, *dh, *dg, *du, *work;
    r1c_exec ex;
    float *scratch[64];
    /* LoRA */
    lora_mod *lmods;
    int n_lmods, lora_r, lora_rslora, dropout_off;
    float lora_alpha, lora_scale, lora_drop;
    int *lora_of;                 /* per param: its lora_mods index, or -1 */
    float *lx, *ldx, *ldxa;       /* N x (widest input), N x (widest input), N x r */
    uint64_t lora_seed;
    int64_t micro;                /* forwards since the last optimiser step (the dropout mask's key) */
    char **lora_targets, *lora_base;
    int n_lora_targets;
};

/* ------------------------------------------------------------------ parameters */

static int add_param(r1c_trainer *m, const char *name, int n_dims, int64_t d0, int64_t d1, int decay) {
    param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->n_dims = n_dims, p->shape[0] = d0, p->shape[1] = n_dims > 1 ? d1 : 1;
    p->numel = d0 * p->shape[1];
    p->off = m->numel;
    p->decay = decay;
    m->numel += (p->numel + 15) / 16 * 16; /* every tensor 64-byte aligned */
    return m->n_params++;
}

static float *P(const r1c_trainer *m, int i) { return i < 0 ? NULL : m->value + m->params[i].off; }
/* NULL for an absent or frozen parameter: the backward then skips its gradient */
static float *G(const r1c_trainer *m, int i) { return i < 0 || m->params[i].frozen ? NULL : m->grad + m->params[i].off; }

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* N(0, std) by Box-Muller from a per-tensor stream: a tensor's values do not depend on the others' sizes */
static void init_normal(float *p, int64_t n, float std, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i += 2) {
        const double u1 = ((double)(splitmix(&s) >> 11) + 1.0) / 9007199254740993.0, u2 = (double)(splitmix(&s) >> 11) / 9007199254740992.0;
        const double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
        p[i] = (float)(r * cos(a) * std);
        if (i + 1 < n) p[i + 1] = (float)(r * sin(a) * std);
    }
}

static r1c_status check_config(const r1c_hf_config *c, const r1c_train_shape *s) {
    const int ds = c->is_deepseek;
    if (!ds && strcmp(c->model_type, "llama") && strcmp(c->model_type, "qwen2"))
        return r1c_error(R1C_ERR_UNSUPPORTED, "training: model_type '%s' (training takes llama, qwen2, deepseek_v2, deepseek_v3)",
                         c->model_type);
    if (c->hidden_size <= 0 || c->num_hidden_layers <= 0 || c->vocab_size <= 0 || c->intermediate_size <= 0 ||
        c->num_attention_heads <= 0 || c->num_key_value_heads <= 0 || c->num_attention_heads % c->num_key_value_heads)
        return r1c_error(R1C_ERR_INVALID_ARG, "training: bad model shape (hidden %d, layers %d, heads %d/%d, vocab %d)",
                         c->hidden_size, c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads, c->vocab_size);
    const int hd = ds ? c->qk_rope_head_dim : c->head_dim ? c->head_dim : c->hidden_size / c->num_attention_heads;
    if (hd % 2 || hd <= 0) return r1c_error(R1C_ERR_INVALID_ARG, "training: the rotary width %d is not even", hd);
    if (c->rope_scaling.type) return r1c_error(R1C_ERR_UNSUPPORTED, "training: rope_scaling (train with plain RoPE)");
    if (ds) {
        if (c->kv_lora_rank <= 0 || c->qk_nope_head_dim <= 0 || c->v_head_dim <= 0)
            return r1c_error(R1C_ERR_INVALID_ARG, "training: MLA needs kv_lora_rank, qk_nope_head_dim, v_head_dim");
        if (c->n_routed_experts > 0 &&
            (c->num_experts_per_tok <= 0 || c->num_experts_per_tok > c->n_routed_experts || c->num_experts_per_tok > 64 ||
             c->moe_intermediate_size <= 0 || (c->n_group > 1 && c->n_routed_experts % c->n_group)))
            return r1c_error(R1C_ERR_INVALID_ARG, "training: bad MoE shape (%d experts, %d per token, %d groups)", c->n_routed_experts,
                             c->num_experts_per_tok, c->n_group);
        if (c->moe_layer_freq > 1) return r1c_error(R1C_ERR_UNSUPPORTED, "training: moe_layer_freq %d", c->moe_layer_freq);
        if (c->n_routed_experts > 1024 || c->qk_rope_head_dim > 256)
            return r1c_error(R1C_ERR_UNSUPPORTED, "training: %d experts, rope width %d (at most 1024, 256)", c->n_routed_experts,
                             c->qk_rope_head_dim);
    }
    if (s->B <= 0 || s->T <= 0 || s->T > 8192) return r1c_error(R1C_ERR_INVALID_ARG, "training: batch %d x %d", s->B, s->T);
    return R1C_OK;
}

static float *falloc(int64_t n) { return aligned_alloc(64, (size_t)((n * (int64_t)sizeof(float) + 63) / 64 * 64)); }

static tg_attn_shape attn_shape(const r1c_trainer *m);

static int is_moe(const r1c_trainer *m, int l) { return m->ds && m->E > 0 && l >= m->first_dense; }

/* the parameter table, in Hugging Face's names and shapes */
static int add_params(r1c_trainer *m) {
    const int bias = !m->ds && (m->qwen2 || m->cfg.qkv_bias);
    m->embed = add_param(m, "model.embed_tokens.weight", 2, m->V, m->D, 0);
    for (int l = 0; l < m->L; l++) {
        char n[128];
        int *ix = m->layer + P_PER_LAYER * l;
        for (int k = 0; k < P_PER_LAYER; k++) ix[k] = -1;
#define ADD(slot, suffix, nd, a, b, dec) \
    (snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix), ix[slot] = add_param(m, n, nd, a, b, dec))
        ADD(P_LN1, "input_layernorm.weight", 1, m->D, 0, 0);
        if (m->ds) {
            if (m->ql) {
                ADD(P_QA, "self_attn.q_a_proj.weight", 2, m->ql, m->D, 1);
                ADD(P_QA_LN, "self_attn.q_a_layernorm.weight", 1, m->ql, 0, 0);
                ADD(P_QB, "self_attn.q_b_proj.weight", 2, m->H * m->qhd, m->ql, 1);
            } else {
                ADD(P_WQ, "self_attn.q_proj.weight", 2, m->H * m->qhd, m->D, 1);
            }
            ADD(P_KVA, "self_attn.kv_a_proj_with_mqa.weight", 2, m->kvl + m->rope, m->D, 1);
            ADD(P_KVA_LN, "self_attn.kv_a_layernorm.weight", 1, m->kvl, 0, 0);
            ADD(P_KVB, "self_attn.kv_b_proj.weight", 2, m->H * (m->nope + m->vd), m->kvl, 1);
            ADD(P_WO, "self_attn.o_proj.weight", 2, m->D, m->H * m->vd, 1);
        } else {
            ADD(P_WQ, "self_attn.q_proj.weight", 2, m->qd, m->D, 1);
            ADD(P_WK, "self_attn.k_proj.weight", 2, m->kvd, m->D, 1);
            ADD(P_WV, "self_attn.v_proj.weight", 2, m->kvd, m->D, 1);
            if (bias) {
                ADD(P_BQ, "self_attn.q_proj.bias", 1, m->qd, 0, 0);
                ADD(P_BK, "self_attn.k_proj.bias", 1, m->kvd, 0, 0);
                ADD(P_BV, "self_attn.v_proj.bias", 1, m->kvd, 0, 0);
            }
            ADD(P_WO, "self_attn.o_proj.weight", 2, m->D, m->qd, 1);
        }
        ADD(P_LN2, "post_attention_layernorm.weight", 1, m->D, 0, 0);
        if (is_moe(m, l)) {
            ADD(P_ROUTER, "mlp.gate.weight", 2, m->E, m->D, 1);
            if (m->cfg.topk_method == R1C_TOPK_NOAUX_TC) {
                ADD(P_RBIAS, "mlp.gate.e_score_correction_bias", 1, m->E, 0, 0);
                m->params[ix[P_RBIAS]].fixed = 1;
            }
            if (m->SF) {
                ADD(P_SG, "mlp.shared_experts.gate_proj.weight", 2, m->SF, m->D, 1);
                ADD(P_SU, "mlp.shared_experts.up_proj.weight", 2, m->SF, m->D, 1);
                ADD(P_SD, "mlp.shared_experts.down_proj.weight", 2, m->D, m->SF, 1);
            }
            for (int e = 0; e < m->E; e++) {
                int *ex = m->experts + ((int64_t)l * m->E + e) * 3;
                static const char *W[3] = {"gate_proj", "up_proj", "down_proj"};
                for (int j = 0; j < 3; j++) {
                    snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%d.%s.weight", l, e, W[j]);
                    ex[j] = add_param(m, n, 2, j == 2 ? m->D : m->MF, j == 2 ? m->MF : m->D, 1);
                }
            }
        } else {
            ADD(P_WG, "mlp.gate_proj.weight", 2, m->F, m->D, 1);
            ADD(P_WU, "mlp.up_proj.weight", 2, m->F, m->D, 1);
            ADD(P_WD, "mlp.down_proj.weight", 2, m->D, m->F, 1);
        }
#undef ADD
    }
    m->norm = add_param(m, "model.norm.weight", 1, m->D, 0, 0);
    m->lm_head = m->tied ? m->embed : add_param(m, "lm_head.weight", 2, m->V, m->D, 1);
    return 1;
}

r1c_status r1c_trainer_new(const r1c_hf_config *cfg, const r1c_train_shape *shape, r1c_trainer **out) {
    *out = NULL;
    r1c_status st = check_config(cfg, shape);
    if (st != R1C_OK) return st;
    r1c_trainer *m = calloc(1, sizeof *m);
    if (!m) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    m->cfg = *cfg, m->shape = *shape;
    int nt = shape->n_threads > 0 ? shape->n_threads : r1c_default_threads();
    if (nt > 64) nt = 64;
    m->ex.n_threads = nt; /* (before the buffers: the attention's work area has one slice per thread) */
    m->qwen2 = !strcmp(cfg->model_type, "qwen2");
    m->ds = cfg->is_deepseek;
    m->tied = cfg->tie_word_embeddings;
    m->D = cfg->hidden_size, m->F = cfg->intermediate_size, m->V = cfg->vocab_size, m->L = cfg->num_hidden_layers;
    m->H = cfg->num_attention_heads, m->KVH = cfg->num_key_value_heads;
    if (m->ds) { /* MLA: every head its own key (materialised from the latent), no GQA */
        m->ql = cfg->q_lora_rank, m->kvl = cfg->kv_lora_rank, m->nope = cfg->qk_nope_head_dim, m->rope = cfg->qk_rope_head_dim;
        m->vd = cfg->v_head_dim, m->qhd = m->nope + m->rope, m->KVH = m->H, m->hd = m->rope;
        m->qd = m->H * m->qhd, m->kvd = m->H * m->qhd;
        m->E = cfg->n_routed_experts, m->K = cfg->num_experts_per_tok, m->MF = cfg->moe_intermediate_size;
        m->SF = (int64_t)cfg->n_shared_experts * m->MF, m->first_dense = cfg->first_k_dense_replace;
    } else {
        m->hd = cfg->head_dim ? cfg->head_dim : m->D / m->H;
        m->qd = m->H * m->hd, m->kvd = m->KVH * m->hd;
    }
    const int64_t vdim = m->ds ? m->H * m->vd : m->kvd; /* v rows; attention output rows: H x (vd or hd) */
    const int64_t ad = m->ds ? m->H * m->vd : m->qd;
    const int64_t per_layer_params = P_PER_LAYER + 3 * (int64_t)m->E;
    m->params = calloc((size_t)(per_layer_params * m->L + 3), sizeof(param));
    m->layer = calloc((size_t)(P_PER_LAYER * m->L), sizeof(int));
    m->experts = calloc((size_t)(3 * (int64_t)m->E * m->L + 1), sizeof(int));
    m->loads = calloc((size_t)((int64_t)m->E * m->L + 1), sizeof(int32_t));
    if (!m->params || !m->layer || !m->experts || !m->loads || !add_params(m)) goto nomem;
    m->value = falloc(m->numel), m->grad = falloc(m->numel), m->m1 = falloc(m->numel), m->m2 = falloc(m->numel);
    if (!m->value || !m->grad || !m->m1 || !m->m2) goto nomem;
    memset(m->value, 0, sizeof(float) * (size_t)m->numel);
    memset(m->grad, 0, sizeof(float) * (size_t)m->numel);
    memset(m->m1, 0, sizeof(float) * (size_t)m->numel);
    memset(m->m2, 0, sizeof(float) * (size_t)m->numel);
    /* GPT-2's initialisation: N(0, 0.02), the projections into the residual stream scaled by
     * 1/sqrt(2 L) so the stream's variance does not grow with depth; norms 1, biases 0 */
    for (int i = 0; i < m->n_params; i++) {
        const param *p = &m->params[i];
        float *v = P(m, i);
        if (p->n_dims == 1) {
            const int is_norm = strstr(p->name, "norm") != NULL;
            for (int64_t j = 0; j < p->numel; j++) v[j] = is_norm ? 1.0f : 0.0f;
        } else {
            const int resid = strstr(p->name, "o_proj") || strstr(p->name, "down_proj");
            init_normal(v, p->numel, resid ? 0.02f / sqrtf(2.0f * (float)m->L) : 0.02f, shape->seed * 1000003u + (uint64_t)i);
        }
    }
    /* activations and backward buffers */
    const int64_t N = (int64_t)shape->B * shape->T, BHT2 = (int64_t)shape->B * m->H * shape->T * shape->T, NK = N * m->K;
    int64_t per_layer = N * (m->D * 4 + m->qd + m->kvd + vdim + ad + 3 * m->F + 2) + BHT2;
    if (m->ds) per_layer += N * (2 * m->ql + 2 + m->kvl + m->rope + m->kvl + m->H * (m->nope + m->vd)) + /* MLA */
                            N * (m->E + m->K) + NK * (3 * m->MF + m->D) + N * (3 * m->SF + m->D) + 2 * NK; /* MoE */
    m->acts = calloc((size_t)m->L, sizeof(layer_acts));
    m->act_mem = falloc(per_layer * m->L + N * (m->D + 1 + m->V));
    m->inv_freq = falloc(m->hd / 2);
    m->pos = malloc(sizeof(int32_t) * (size_t)N * 4);
    m->doc_bos = -1;
    int64_t big = m->F > m->qd ? m->F : m->qd;
    big = big > m->SF ? big : m->SF, big = big > m->MF ? big : m->MF, big = big > ad ? big : ad;
    int64_t work = 0;
    const int64_t lin[][2] = {{m->D, m->qd}, {m->D, m->kvd}, {m->qd, m->D}, {ad, m->D}, {m->D, m->F}, {m->F, m->D}, {m->D, m->V},
                              {m->D, m->ql}, {m->ql, m->qd}, {m->D, m->kvl + m->rope}, {m->kvl, m->H * (m->nope + m->vd)},
                              {m->D, m->SF}, {m->SF, m->D}, {m->D, m->MF}, {m->MF, m->D}, {m->D, m->E}};
    for (int i = 0; i < (int)(sizeof lin / sizeof lin[0]); i++) {
        const int64_t w = (int64_t)tg_linear_work_floats((int)N, lin[i][0], lin[i][1]);
        work = w > work ? w : work;
    }
    m->dx = falloc(N * m->D), m->dx2 = falloc(N * m->D), m->dxn = falloc(N * m->D);
    m->dq = falloc(N * m->qd), m->dk = falloc(N * m->kvd), m->dv = falloc(N * vdim), m->datt = falloc(N * ad);
    m->dh = falloc(N * big), m->dg = falloc(N * big), m->du = falloc(N * big), m->work = falloc(work);
    const tg_attn_shape as = attn_shape(m);
    m->awork = falloc((int64_t)tg_attention_work_floats(&as));
    if (!m->acts || !m->act_mem || !m->inv_freq || !m->pos || !m->dx || !m->dx2 || !m->dxn || !m->dq || !m->dk || !m->dv ||
        !m->datt || !m->dh || !m->dg || !m->du || !m->work || !m->awork)
        goto nomem;
    if (m->ds) {
        m->mx_buf = falloc(N * m->D), m->dy_buf = falloc(N * m->D), m->dx_buf = falloc(N * m->D);
        m->dkv = falloc(N * m->H * (m->nope + m->vd)), m->dc = falloc(N * m->kvl), m->dkva = falloc(N * (m->kvl + m->rope));
        m->dqa = falloc(N * (m->ql ? m->ql : 1)), m->drl = falloc(N * (m->E ? m->E : 1)), m->dwr = falloc(N * (m->K ? m->K : 1));
        m->c0 = falloc(N * m->kvl), m->dcn = falloc(N * (m->ql > m->kvl ? m->ql : m->kvl));
        if (!m->mx_buf || !m->dy_buf || !m->dx_buf || !m->dkv || !m->dc || !m->dkva || !m->dqa || !m->drl || !m->dwr || !m->c0 ||
            !m->dcn)
            goto nomem;
    }
    m->inputs = m->pos + N, m->targets = m->pos + 2 * N;
    m->seg = NULL; /* (m->pos + 3 N when document masking is on) */
    float *a = m->act_mem;
#define TAKE(n) (a += (n), a - (n))
    for (int l = 0; l < m->L; l++) {
        layer_acts *A = &m->acts[l];
        A->x = TAKE(N * m->D), A->xn = TAKE(N * m->D), A->rstd1 = TAKE(N), A->q = TAKE(N * m->qd), A->k = TAKE(N * m->kvd);
        A->v = TAKE(N * vdim), A->P = TAKE(BHT2), A->att = TAKE(N * ad), A->x2 = TAKE(N * m->D), A->xn2 = TAKE(N * m->D);
        A->rstd2 = TAKE(N), A->g = TAKE(N * m->F), A->u = TAKE(N * m->F), A->h = TAKE(N * m->F);
        if (m->ds) {
            A->qa = TAKE(N * m->ql), A->qan = TAKE(N * m->ql), A->rstdq = TAKE(N), A->kva = TAKE(N * (m->kvl + m->rope));
            A->c = TAKE(N * m->kvl), A->rstdc = TAKE(N), A->kv = TAKE(N * m->H * (m->nope + m->vd));
            A->rlog = TAKE(N * m->E), A->rw = TAKE(N * m->K), A->eg = TAKE(NK * m->MF), A->eu = TAKE(NK * m->MF);
            A->eh = TAKE(NK * m->MF), A->ey = TAKE(NK * m->D), A->sg = TAKE(N * m->SF), A->su = TAKE(N * m->SF);
            A->sh = TAKE(N * m->SF), A->sy = TAKE(N * m->D);
            A->rid = (int32_t *)TAKE(N * m->K), A->order = (int32_t *)TAKE(NK);
            A->estart = calloc((size_t)m->E + 1, sizeof(int));
            if (!A->estart) goto nomem;
        }
    }
    m->xf = TAKE(N * m->D), m->rstdf = TAKE(N), m->logits = TAKE(N * m->V);
#undef TAKE
    for (int64_t j = 0; j < m->hd / 2; j++) m->inv_freq[j] = (float)pow(cfg->rope_theta > 0 ? cfg->rope_theta : 10000.0, -2.0 * (double)j / (double)m->hd);
    for (int64_t t = 0; t < N; t++) m->pos[t] = (int32_t)(t % shape->T);
    m->ex.scratch_floats = r1c_exec_scratch_floats(shape->T, 0);
    m->ex.scratch = m->scratch;
    for (int i = 0; i < nt; i++)
        if (!(m->scratch[i] = falloc((int64_t)m->ex.scratch_floats))) goto nomem;
    *out = m;
    return R1C_OK;
nomem:
    r1c_trainer_free(m);
    return r1c_error(R1C_ERR_NOMEM, "training: out of memory");
}

void r1c_trainer_free(r1c_trainer *m) {
    if (!m) return;
    for (int l = 0; m->acts && l < m->L; l++) free(m->acts[l].estart);
    free(m->params), free(m->layer), free(m->experts), free(m->loads), free(m->value), free(m->grad), free(m->m1), free(m->m2);
    free(m->acts), free(m->act_mem), free(m->inv_freq), free(m->pos);
    free(m->dx), free(m->dx2), free(m->dxn), free(m->dq), free(m->dk), free(m->dv), free(m->datt);
    free(m->dh), free(m->dg), free(m->du), free(m->work);
    free(m->mx_buf), free(m->dy_buf), free(m->dx_buf), free(m->dkv), free(m->dc), free(m->dkva), free(m->dqa), free(m->drl);
    free(m->dwr), free(m->c0), free(m->dcn), free(m->awork);
    for (int i = 0; i < 64; i++) free(m->scratch[i]);
    for (int j = 0; j < m->n_lmods; j++) free(m->lmods[j].xa);
    for (int j = 0; j < m->n_lora_targets; j++) free(m->lora_targets[j]);
    free(m->lmods), free(m->lora_of), free(m->lx), free(m->ldx), free(m->ldxa), free(m->lora_targets), free(m->lora_base);
    free(m);
}

/* ------------------------------------------------------------------ forward */

static tg_attn_shape attn_shape(const r1c_trainer *m) {
    if (m->ds) /* MLA: per head [nope | rope] keys, vd values; the reference's 1/sqrt(qk_head_dim) */
        return (tg_attn_shape){.B = m->shape.B, .T = m->shape.T, .H = m->H, .KVH = m->H, .dk = (int)m->qhd, .dv = (int)m->vd,
                               .scale = 1.0f / sqrtf((float)m->qhd), .ex = &m->ex, .seg_start = m->seg};
    return (tg_attn_shape){.B = m->shape.B, .T = m->shape.T, .H = m->H, .KVH = m->KVH, .dk = (int)m->hd, .dv = (int)m->hd,
                           .scale = 1.0f / sqrtf((float)m->hd), .ex = &m->ex, .seg_start = m->seg};
}

/* ---- the linear layers: y = x W^T (+ b), and W's LoRA term when it has one (see lora_mod) */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* the dropout mask's key for module j in this micro-batch, and the threshold: element e is kept
 * when mix64(key + e) >= p 2^64 (p < 1: the config checks it) */
static uint64_t drop_key(const r1c_trainer *m, int j) {
    return mix64(m->lora_seed ^ mix64((uint64_t)m->step * 0x9e3779b97f4a7c15ull + (uint64_t)m->micro) ^ ((uint64_t)j << 40));
}
static uint64_t drop_cut(float p) { return (uint64_t)((double)p * 18446744073709551616.0); }

/* LoRA dropout for module j: x (T x in) with each element kept (scaled by 1/(1-p)) or zeroed,
 * into m->lx; the keep test for element e is a hash of (seed, step, micro-batch, j, e) */
static const float *lora_dropout(const r1c_trainer *m, int j, const float *x, int T, int64_t in) {
    const float p = m->lora_drop;
    if (p <= 0 || m->dropout_off) return x;
    const uint64_t key = drop_key(m, j);
    const uint64_t cut = drop_cut(p);
    const float keep = 1.0f / (1.0f - p);
    float *o = m->lx;
#pragma omp parallel for num_threads(m->ex.n_threads) schedule(static) if (T >= 16)
    for (int t = 0; t < T; t++)
        for (int64_t i = 0; i < in; i++) {
            const int64_t e = (int64_t)t * in + i;
            o[e] = mix64(key + (uint64_t)e) >= cut ? x[e] * keep : 0.0f;
        }
    return o;
}

static void lin_fwd(const r1c_trainer *m, int w, int b, const float *x, int T, int64_t in, int64_t out, float *y) {
    tg_linear_fwd(&m->ex, x, P(m, w), P(m, b), T, in, out, y);
    const int j = m->lora_of ? m->lora_of[w] : -1;
    if (j < 0) return;
    const lora_mod *L = &m->lmods[j];
    const int64_t r = m->lora_r;
    const float *xd = lora_dropout(m, j, x, T, in);
    r1c_sgemm(&m->ex, 0, 1, T, r, in, m->lora_scale, xd, in, P(m, L->a), in, 0.0f, L->xa, r); /* xa = s drop(x) A^T */
    r1c_sgemm(&m->ex, 0, 1, T, out, r, 1.0f, L->xa, r, P(m, L->b), r, 1.0f, y, out);           /* y += xa B^T */
}

/* dx += dy W (dx NULL: not wanted); dW, db added unless frozen; the LoRA matrices' gradients */
static void lin_bwd(r1c_trainer *m, int w, int b, const float *dy, const float *x, int T, int64_t in, int64_t out, float *dx) {
    tg_linear_bwd(&m->ex, dy, x, P(m, w), T, in, out, dx, G(m, w), G(m, b), m->work);
    const int j = m->lora_of ? m->lora_of[w] : -1;
    if (j < 0) return;
    const lora_mod *L = &m->lmods[j];
    const int64_t r = m->lora_r;
    r1c_sgemm(&m->ex, 1, 0, out, r, T, 1.0f, dy, out, L->xa, r, 1.0f, G(m, L->b), r);             /* dB += dy^T xa */
    r1c_sgemm(&m->ex, 0, 0, T, r, out, m->lora_scale, dy, out, P(m, L->b), r, 0.0f, m->ldxa, r); /* dxa = s dy B */
    const float *xd = lora_dropout(m, j, x, T, in);
    r1c_sgemm(&m->ex, 1, 0, r, in, T, 1.0f, m->ldxa, r, xd, in, 1.0f, G(m, L->a), in);           /* dA += dxa^T drop(x) */
    if (!dx) return;
    if (xd == x) { /* no dropout: dx += dxa A */
        r1c_sgemm(&m->ex, 0, 0, T, in, r, 1.0f, m->ldxa, r, P(m, L->a), in, 1.0f, dx, in);
        return;
    }
    /* through the dropout: where it kept x (xd != 0 or x == 0 there), dx += (dxa A) / (1 - p) */
    r1c_sgemm(&m->ex, 0, 0, T, in, r, 1.0f, m->ldxa, r, P(m, L->a), in, 0.0f, m->ldx, in);
    const float keep = 1.0f / (1.0f - m->lora_drop);
    const uint64_t key = drop_key(m, j);
    const uint64_t cut = drop_cut(m->lora_drop);
    for (int64_t e = 0; e < (int64_t)T * in; e++)
        if (mix64(key + (uint64_t)e) >= cut) dx[e] += m->ldx[e] * keep;
}

/* y[T][D] = down(silu(x Wg^T) * (x Wu^T)), g u h kept */
static void mlp_fwd(const r1c_trainer *m, const float *x, int T, int64_t F, const int w[3], float *g, float *u, float *h,
                    float *y) {
    lin_fwd(m, w[0], -1, x, T, m->D, F, g);
    lin_fwd(m, w[1], -1, x, T, m->D, F, u);
    tg_swiglu_fwd(&m->ex, g, u, (int64_t)T * F, h);
    lin_fwd(m, w[2], -1, h, T, F, m->D, y);
}

/* dx += the MLP's input gradient for dy; its weights' gradients added */
static void mlp_bwd(r1c_trainer *m, const float *dy, const float *x, int T, int64_t F, const int w[3], const float *g,
                    const float *u, const float *h, float *dx) {
    const r1c_exec *ex = &m->ex;
    memset(m->dh, 0, sizeof(float) * (size_t)T * (size_t)F);
    lin_bwd(m, w[2], -1, dy, h, T, F, m->D, m->dh);
    memset(m->dg, 0, sizeof(float) * (size_t)T * (size_t)F);
    memset(m->du, 0, sizeof(float) * (size_t)T * (size_t)F);
    tg_swiglu_bwd(ex, m->dh, g, u, (int64_t)T * F, m->dg, m->du);
    lin_bwd(m, w[0], -1, m->dg, x, T, m->D, F, dx);
    lin_bwd(m, w[1], -1, m->du, x, T, m->D, F, dx);
}

/* MLA's queries and keys: q, k per head [nope | rope] (N x H x qhd), v per head (N x H x vd) */
static void mla_qkv(r1c_trainer *m, layer_acts *A, const int *ix) {
    const r1c_exec *ex = &m->ex;
    const int N = m->shape.B * m->shape.T;
    const float eps = (float)m->cfg.rms_norm_eps;
    const int64_t kw = m->kvl + m->rope, kvw = m->nope + m->vd;
    if (m->ql) {
        lin_fwd(m, ix[P_QA], -1, A->xn, N, m->D, m->ql, A->qa);
        tg_rmsnorm_fwd(ex, A->qa, P(m, ix[P_QA_LN]), eps, N, m->ql, A->qan, A->rstdq);
        lin_fwd(m, ix[P_QB], -1, A->qan, N, m->ql, m->qd, A->q);
    } else {
        lin_fwd(m, ix[P_WQ], -1, A->xn, N, m->D, m->qd, A->q);
    }
    lin_fwd(m, ix[P_KVA], -1, A->xn, N, m->D, kw, A->kva);
    for (int t = 0; t < N; t++) memcpy(A->c + (int64_t)t * m->kvl, A->kva + (int64_t)t * kw, sizeof(float) * (size_t)m->kvl);
    tg_rmsnorm_fwd(ex, A->c, P(m, ix[P_KVA_LN]), eps, N, m->kvl, A->c, A->rstdc); /* (in place: the backward needs c0 = kva) */
    lin_fwd(m, ix[P_KVB], -1, A->c, N, m->kvl, m->H * kvw, A->kv);
    for (int t = 0; t < N; t++) {
        float *kr = A->k + (int64_t)t * m->kvd;
        float kpe[256];
        memcpy(kpe, A->kva + (int64_t)t * kw + m->kvl, sizeof(float) * (size_t)m->rope);
        tg_rope_fwd(kpe, 1, 1, (int)m->rope, m->rope, m->pos + t, m->inv_freq, 1.0f, 1);
        for (int h = 0; h < m->H; h++) {
            const float *kv = A->kv + (int64_t)t * m->H * kvw + (int64_t)h * kvw;
            memcpy(kr + (int64_t)h * m->qhd, kv, sizeof(float) * (size_t)m->nope);
            memcpy(kr + (int64_t)h * m->qhd + m->nope, kpe, sizeof(float) * (size_t)m->rope);
            memcpy(A->v + ((int64_t)t * m->H + h) * m->vd, kv + m->nope, sizeof(float) * (size_t)m->vd);
            tg_rope_fwd(A->q + (int64_t)t * m->qd + (int64_t)h * m->qhd + m->nope, 1, 1, (int)m->rope, m->rope, m->pos + t,
                        m->inv_freq, 1.0f, 1);
        }
    }
}

/* DeepSeek-V3's sequence-wise balance loss, per sequence b of T tokens:
 *   L = alpha sum_e f_e P_e,  f_e = E / (K T) x (tokens of b that chose e),
 *   P_e = 1/T sum_t s'_{t,e},  s' = the scores normalised over all experts (s / sum s).
 * f is a count (no gradient); the loss is the mean over the batch's sequences. With dl (N x E,
 * NULL: only the value) it adds dL/dlogits: dL/ds'_{t,e} = alpha f_e / (T B); through the
 * normalisation ds_j = (g_j - sum_e g_e s'_e) / sum s; through the sigmoid (or softmax) as the
 * routing weights' gradient does. */
static double seq_aux(const r1c_trainer *m, const layer_acts *A, float *dl) {
    if (m->seq_aux <= 0) return 0;
    const int Bn = m->shape.B, T = m->shape.T, E = m->E, K = m->K;
    const int sigm = m->cfg.scoring_func == R1C_SCORE_SIGMOID;
    double loss = 0;
    for (int b = 0; b < Bn; b++) {
        double f[1024] = {0}, Pm[1024] = {0};
        for (int t = b * T; t < (b + 1) * T; t++)
            for (int j = 0; j < K; j++) f[A->rid[(int64_t)t * K + j]] += (double)E / ((double)K * T);
        float s[1024];
        for (int t = b * T; t < (b + 1) * T; t++) {
            const float *lg = A->rlog + (int64_t)t * E;
            double sum = 0;
            for (int e = 0; e < E; e++) sum += (s[e] = sigm ? 1.0f / (1.0f + expf(-lg[e])) : expf(lg[e]));
            for (int e = 0; e < E; e++) Pm[e] += s[e] / sum / T;
            if (!dl) continue;
            double gs = 0; /* sum_e g_e s'_e */
            for (int e = 0; e < E; e++) gs += m->seq_aux * f[e] / ((double)T * Bn) * (s[e] / sum);
            float *d = dl + (int64_t)t * E;
            for (int e = 0; e < E; e++) {
                const double g = m->seq_aux * f[e] / ((double)T * Bn), ds = (g - gs) / sum;
                /* sigmoid: ds/dlogit = s (1 - s); softmax-free exp scores (s = e^l): ds/dlogit = s */
                d[e] += (float)(ds * (sigm ? s[e] * (1.0f - s[e]) : s[e]));
            }
        }
        for (int e = 0; e < E; e++) loss += m->seq_aux * f[e] * Pm[e] / Bn;
    }
    return loss;
}

/* DeepSeekMoE: out[t] = sum over t's experts of w E(xn2[t]) + shared(xn2[t]) */
static void moe_fwd(r1c_trainer *m, layer_acts *A, const int *ix, int l, float *out) {
    const int N = m->shape.B * m->shape.T, E = m->E, K = m->K;
    lin_fwd(m, ix[P_ROUTER], -1, A->xn2, N, m->D, E, A->rlog);
    float work[2 * 1024];
    for (int t = 0; t < N; t++)
        r1c_ds_route(&m->cfg, A->rlog + (int64_t)t * E, P(m, ix[P_RBIAS]), work, A->rid + (int64_t)t * K, A->rw + (int64_t)t * K);
    /* pairs in expert order (token order within an expert) */
    int *cnt = A->estart;
    memset(cnt, 0, sizeof(int) * (size_t)(E + 1));
    for (int64_t p = 0; p < (int64_t)N * K; p++) cnt[A->rid[p] + 1]++;
    for (int e = 0; e < E; e++) cnt[e + 1] += cnt[e];
    int fill[1024];
    for (int e = 0; e < E; e++) fill[e] = cnt[e];
    for (int64_t p = 0; p < (int64_t)N * K; p++) A->order[fill[A->rid[p]]++] = (int32_t)p;
    memset(out, 0, sizeof(float) * (size_t)N * (size_t)m->D);
    for (int e = 0; e < E; e++) {
        const int n = cnt[e + 1] - cnt[e];
        if (!n) continue;
        for (int i = 0; i < n; i++)
            memcpy(m->mx_buf + (int64_t)i * m->D, A->xn2 + (int64_t)(A->order[cnt[e] + i] / K) * m->D, sizeof(float) * (size_t)m->D);
        const int *w = m->experts + ((int64_t)l * E + e) * 3;
        const int64_t o = cnt[e];
        mlp_fwd(m, m->mx_buf, n, m->MF, w, A->eg + o * m->MF, A->eu + o * m->MF, A->eh + o * m->MF,
                A->ey + o * m->D);
        for (int i = 0; i < n; i++) { /* experts in order of id: each token's sum in that order */
            const int32_t pr = A->order[cnt[e] + i];
            const float wt = A->rw[pr];
            float *dst = out + (int64_t)(pr / K) * m->D;
            const float *y = A->ey + (o + i) * m->D;
            for (int64_t d = 0; d < m->D; d++) dst[d] += wt * y[d];
        }
    }
    if (m->SF) {
        const int w[3] = {ix[P_SG], ix[P_SU], ix[P_SD]};
        mlp_fwd(m, A->xn2, N, m->SF, w, A->sg, A->su, A->sh, A->sy);
        for (int64_t i = 0; i < (int64_t)N * m->D; i++) out[i] += A->sy[i];
    }
}

double r1c_trainer_forward(r1c_trainer *m, const int32_t *inputs, const int32_t *targets) {
    const r1c_exec *ex = &m->ex;
    const int N = m->shape.B * m->shape.T;
    const float eps = (float)m->cfg.rms_norm_eps;
    memcpy(m->inputs, inputs, sizeof(int32_t) * (size_t)N);
    memcpy(m->targets, targets, sizeof(int32_t) * (size_t)N);
    for (int t = 0; t < N; t++) /* ids out of range: no target (and token 0 as input) rather than a wild read */
        if (m->inputs[t] < 0 || m->inputs[t] >= m->V) m->inputs[t] = 0;
    for (int t = 0; t < N; t++)
        if (m->targets[t] >= m->V) m->targets[t] = -1;
    if (m->seg) /* document masking: each BOS starts a segment at position 0 */
        for (int t = 0; t < N; t++) {
            const int r = t % m->shape.T;
            const int start = r == 0 ? 0 : m->inputs[t] == m->doc_bos ? r : m->seg[t - 1];
            m->seg[t] = start, m->pos[t] = r - start;
        }
    tg_embed_fwd(P(m, m->embed), m->inputs, N, m->D, m->acts[0].x);
    const tg_attn_shape as = attn_shape(m);
    m->aux_loss = 0;
    const int64_t ad = m->ds ? m->H * m->vd : m->qd;
    for (int l = 0; l < m->L; l++) {
        layer_acts *A = &m->acts[l];
        const int *ix = m->layer + P_PER_LAYER * l;
        tg_rmsnorm_fwd(ex, A->x, P(m, ix[P_LN1]), eps, N, m->D, A->xn, A->rstd1);
        if (m->ds) {
            mla_qkv(m, A, ix);
        } else {
            lin_fwd(m, ix[P_WQ], ix[P_BQ], A->xn, N, m->D, m->qd, A->q);
            lin_fwd(m, ix[P_WK], ix[P_BK], A->xn, N, m->D, m->kvd, A->k);
            lin_fwd(m, ix[P_WV], ix[P_BV], A->xn, N, m->D, m->kvd, A->v);
            tg_rope_fwd(A->q, N, m->H, (int)m->hd, m->qd, m->pos, m->inv_freq, 1.0f, 0);
            tg_rope_fwd(A->k, N, m->KVH, (int)m->hd, m->kvd, m->pos, m->inv_freq, 1.0f, 0);
        }
        if (tg_attention_fwd(&as, A->q, A->k, A->v, A->P, A->att, m->awork) != R1C_OK) return NAN; /* (out of memory, said) */
        lin_fwd(m, ix[P_WO], -1, A->att, N, ad, m->D, A->x2);
        for (int64_t i = 0; i < (int64_t)N * m->D; i++) A->x2[i] += A->x[i];
        tg_rmsnorm_fwd(ex, A->x2, P(m, ix[P_LN2]), eps, N, m->D, A->xn2, A->rstd2);
        float *next = l + 1 < m->L ? m->acts[l + 1].x : m->dx; /* (dx: a free N x D buffer until the backward) */
        if (is_moe(m, l)) {
            moe_fwd(m, A, ix, l, next);
            m->aux_loss += seq_aux(m, A, NULL);
        }
        else {
            const int w[3] = {ix[P_WG], ix[P_WU], ix[P_WD]};
            mlp_fwd(m, A->xn2, N, m->F, w, A->g, A->u, A->h, next);
        }
        for (int64_t i = 0; i < (int64_t)N * m->D; i++) next[i] += A->x2[i];
    }
    tg_rmsnorm_fwd(ex, m->dx, P(m, m->norm), eps, N, m->D, m->xf, m->rstdf);
    memcpy(m->dx2, m->dx, sizeof(float) * (size_t)N * (size_t)m->D); /* the last layer's output, for the backward */
    lin_fwd(m, m->lm_head, -1, m->xf, N, m->D, m->V, m->logits);
    return tg_cross_entropy(ex, m->logits, m->targets, N, m->V, 1.0f, NULL, NULL) + m->aux_loss;
}

const float *r1c_trainer_logits(const r1c_trainer *m) { return m->logits; }

/* ------------------------------------------------------------------ backward */

/* The MoE block's backward for dout (N x D), into m->dxn (the gradient of xn2):
 *   shared experts: an MLP over all tokens;
 *   expert e: dy = w dout for its tokens, its MLP's backward, dx scattered back;
 *   the weights: dw = dout . y; with w = r s / S over the chosen (S their sum; r the scale),
 *   ds_j = r (dw_j / S - sum_i dw_i s_i / S^2) (without normalisation ds_j = r dw_j); then
 *   sigmoid: dlogit = ds s (1 - s), or softmax over all experts: dlogit = s (ds - sum ds s). */
static void moe_bwd(r1c_trainer *m, layer_acts *A, const int *ix, int l, const float *dout) {
    const int N = m->shape.B * m->shape.T, E = m->E, K = m->K;
    const int64_t D = m->D;
    if (m->SF) {
        const int w[3] = {ix[P_SG], ix[P_SU], ix[P_SD]};
        mlp_bwd(m, dout, A->xn2, N, m->SF, w, A->sg, A->su, A->sh, m->dxn);
    }
    float *dw = m->dwr; /* N x K: dL/dw per (token, slot) */
    for (int e = 0; e < E; e++) {
        const int n = A->estart[e + 1] - A->estart[e], o = A->estart[e];
        m->loads[(int64_t)l * E + e] += n; /* (counted here: only training batches have a backward) */
        if (!n) continue;
        for (int i = 0; i < n; i++) {
            const int32_t pr = A->order[o + i];
            const float *g = dout + (int64_t)(pr / K) * D, *y = A->ey + (int64_t)(o + i) * D;
            double s = 0;
            for (int64_t d = 0; d < D; d++) s += (double)g[d] * y[d];
            dw[pr] = (float)s;
            for (int64_t d = 0; d < D; d++) m->dy_buf[(int64_t)i * D + d] = A->rw[pr] * g[d];
            memcpy(m->mx_buf + (int64_t)i * D, A->xn2 + (int64_t)(pr / K) * D, sizeof(float) * (size_t)D);
        }
        memset(m->dx_buf, 0, sizeof(float) * (size_t)n * (size_t)D);
        const int *w = m->experts + ((int64_t)l * E + e) * 3;
        mlp_bwd(m, m->dy_buf, m->mx_buf, n, m->MF, w, A->eg + (int64_t)o * m->MF, A->eu + (int64_t)o * m->MF,
                A->eh + (int64_t)o * m->MF, m->dx_buf);
        for (int i = 0; i < n; i++) {
            float *dst = m->dxn + (int64_t)(A->order[o + i] / K) * D;
            for (int64_t d = 0; d < D; d++) dst[d] += m->dx_buf[(int64_t)i * D + d];
        }
    }
    /* the router */
    const r1c_hf_config *c = &m->cfg;
    const int sigm = c->scoring_func == R1C_SCORE_SIGMOID, norm = sigm || c->norm_topk_prob;
    const float r = (float)c->routed_scaling_factor;
    for (int t = 0; t < N; t++) {
        const float *lg = A->rlog + (int64_t)t * E;
        const int32_t *id = A->rid + (int64_t)t * K;
        float s[1024], ds[1024];
        if (sigm) {
            for (int e = 0; e < E; e++) s[e] = 1.0f / (1.0f + expf(-lg[e]));
        } else {
            float mx = -INFINITY, sum = 0;
            for (int e = 0; e < E; e++) mx = fmaxf(mx, lg[e]);
            for (int e = 0; e < E; e++) sum += (s[e] = expf(lg[e] - mx));
            for (int e = 0; e < E; e++) s[e] /= sum;
        }
        memset(ds, 0, sizeof(float) * (size_t)E);
        float S = 0, dot = 0; /* the chosen scores' sum; sum of dw s */
        for (int j = 0; j < K; j++) S += s[id[j]], dot += dw[(int64_t)t * K + j] * s[id[j]];
        for (int j = 0; j < K; j++) {
            const float g = dw[(int64_t)t * K + j];
            ds[id[j]] += norm ? r * (g / S - dot / (S * S)) : r * g;
        }
        float *dl = m->drl + (int64_t)t * E;
        if (sigm) {
            for (int e = 0; e < E; e++) dl[e] = ds[e] * s[e] * (1.0f - s[e]);
        } else {
            float a = 0;
            for (int e = 0; e < E; e++) a += ds[e] * s[e];
            for (int e = 0; e < E; e++) dl[e] = s[e] * (ds[e] - a);
        }
    }
    seq_aux(m, A, m->drl); /* (the balance loss's part, when on) */
    lin_bwd(m, ix[P_ROUTER], -1, m->drl, A->xn2, N, D, E, m->dxn);
}

/* MLA's backward from dq, dk (N x H x qhd) and dv (N x H x vd) into m->dxn (the gradient of xn) */
static void mla_bwd(r1c_trainer *m, layer_acts *A, const int *ix) {
    const r1c_exec *ex = &m->ex;
    const int N = m->shape.B * m->shape.T;
    const int64_t kw = m->kvl + m->rope, kvw = m->nope + m->vd;
    for (int t = 0; t < N; t++) { /* undo the rotations; the heads' k_pe gradients add up into the shared k_pe */
        float *dkpe = m->dkva + (int64_t)t * kw + m->kvl;
        memset(dkpe, 0, sizeof(float) * (size_t)m->rope);
        for (int h = 0; h < m->H; h++) {
            tg_rope_bwd(m->dq + (int64_t)t * m->qd + (int64_t)h * m->qhd + m->nope, 1, 1, (int)m->rope, m->rope, m->pos + t,
                        m->inv_freq, 1.0f, 1);
            const float *dk = m->dk + (int64_t)t * m->kvd + (int64_t)h * m->qhd;
            for (int64_t i = 0; i < m->rope; i++) dkpe[i] += dk[m->nope + i];
            float *dkv = m->dkv + (int64_t)t * m->H * kvw + (int64_t)h * kvw;
            memcpy(dkv, dk, sizeof(float) * (size_t)m->nope);
            memcpy(dkv + m->nope, m->dv + ((int64_t)t * m->H + h) * m->vd, sizeof(float) * (size_t)m->vd);
        }
        tg_rope_bwd(dkpe, 1, 1, (int)m->rope, m->rope, m->pos + t, m->inv_freq, 1.0f, 1);
    }
    /* kv = c Wkvb^T, c = rmsnorm(c0) * ln: the latent's gradient into dkva's first kvl columns */
    memset(m->dc, 0, sizeof(float) * (size_t)N * (size_t)m->kvl);
    lin_bwd(m, ix[P_KVB], -1, m->dkv, A->c, N, m->kvl, m->H * kvw, m->dc);
    for (int t = 0; t < N; t++) memcpy(m->c0 + (int64_t)t * m->kvl, A->kva + (int64_t)t * kw, sizeof(float) * (size_t)m->kvl);
    memset(m->dcn, 0, sizeof(float) * (size_t)N * (size_t)m->kvl);
    tg_rmsnorm_bwd(ex, m->dc, m->c0, P(m, ix[P_KVA_LN]), A->rstdc, N, m->kvl, m->dcn, G(m, ix[P_KVA_LN]));
    for (int t = 0; t < N; t++) memcpy(m->dkva + (int64_t)t * kw, m->dcn + (int64_t)t * m->kvl, sizeof(float) * (size_t)m->kvl);
    lin_bwd(m, ix[P_KVA], -1, m->dkva, A->xn, N, m->D, kw, m->dxn);
    if (m->ql) {
        memset(m->dcn, 0, sizeof(float) * (size_t)N * (size_t)m->ql);
        lin_bwd(m, ix[P_QB], -1, m->dq, A->qan, N, m->ql, m->qd, m->dcn);
        memset(m->dqa, 0, sizeof(float) * (size_t)N * (size_t)m->ql);
        tg_rmsnorm_bwd(ex, m->dcn, A->qa, P(m, ix[P_QA_LN]), A->rstdq, N, m->ql, m->dqa, G(m, ix[P_QA_LN]));
        lin_bwd(m, ix[P_QA], -1, m->dqa, A->xn, N, m->D, m->ql, m->dxn);
    } else {
        lin_bwd(m, ix[P_WQ], -1, m->dq, A->xn, N, m->D, m->qd, m->dxn);
    }
}

static void backward_from_dlogits(r1c_trainer *m);

void r1c_trainer_backward(r1c_trainer *m, float grad_scale) {
    /* the head: dlogits of the mean cross-entropy, in place of the logits */
    tg_cross_entropy(&m->ex, m->logits, m->targets, m->shape.B * m->shape.T, m->V, grad_scale, m->logits, NULL);
    backward_from_dlogits(m);
}

void r1c_trainer_token_logprobs(const r1c_trainer *m, float *logp) {
    tg_weighted_nll(&m->ex, m->logits, m->targets, NULL, m->shape.B * m->shape.T, m->V, logp, NULL);
}

void r1c_trainer_backward_weighted(r1c_trainer *m, const float *w) {
    tg_weighted_nll(&m->ex, m->logits, m->targets, w, m->shape.B * m->shape.T, m->V, NULL, m->logits);
    backward_from_dlogits(m);
}

/* the rest of the backward, from dlogits (in m->logits) down to the embedding */
static void backward_from_dlogits(r1c_trainer *m) {
    const r1c_exec *ex = &m->ex;
    const int N = m->shape.B * m->shape.T;
    const int64_t ND = (int64_t)N * m->D, ad = m->ds ? m->H * m->vd : m->qd, vdim = m->ds ? m->H * m->vd : m->kvd;
    const tg_attn_shape as = attn_shape(m);
    memset(m->dxn, 0, sizeof(float) * (size_t)ND);
    lin_bwd(m, m->lm_head, -1, m->logits, m->xf, N, m->D, m->V, m->dxn);
    memset(m->dx, 0, sizeof(float) * (size_t)ND);
    tg_rmsnorm_bwd(ex, m->dxn, m->dx2, P(m, m->norm), m->rstdf, N, m->D, m->dx, G(m, m->norm));
    for (int l = m->L - 1; l >= 0; l--) {
        layer_acts *A = &m->acts[l];
        const int *ix = m->layer + P_PER_LAYER * l;
        /* x' = x2 + ffn(xn2): dx2 = dx + (the feed-forward's path) */
        memset(m->dxn, 0, sizeof(float) * (size_t)ND);
        if (is_moe(m, l)) {
            moe_bwd(m, A, ix, l, m->dx);
        } else {
            const int w[3] = {ix[P_WG], ix[P_WU], ix[P_WD]};
            mlp_bwd(m, m->dx, A->xn2, N, m->F, w, A->g, A->u, A->h, m->dxn);
        }
        memcpy(m->dx2, m->dx, sizeof(float) * (size_t)ND);
        tg_rmsnorm_bwd(ex, m->dxn, A->x2, P(m, ix[P_LN2]), A->rstd2, N, m->D, m->dx2, G(m, ix[P_LN2]));
        /* x2 = x + o(att): dx = dx2 + (the attention's path) */
        memset(m->datt, 0, sizeof(float) * (size_t)N * (size_t)ad);
        lin_bwd(m, ix[P_WO], -1, m->dx2, A->att, N, ad, m->D, m->datt);
        memset(m->dq, 0, sizeof(float) * (size_t)N * (size_t)m->qd);
        memset(m->dk, 0, sizeof(float) * (size_t)N * (size_t)m->kvd);
        memset(m->dv, 0, sizeof(float) * (size_t)N * (size_t)vdim);
        if (tg_attention_bwd(&as, m->datt, A->q, A->k, A->v, A->P, m->dq, m->dk, m->dv, m->awork) != R1C_OK) { /* out of memory: */
            for (int64_t i = 0; i < m->numel; i++) m->grad[i] = NAN; /* a NaN norm stops the step, never silent numbers */
            return;
        }
        memset(m->dxn, 0, sizeof(float) * (size_t)ND);
        if (m->ds) {
            mla_bwd(m, A, ix);
        } else {
            tg_rope_bwd(m->dq, N, m->H, (int)m->hd, m->qd, m->pos, m->inv_freq, 1.0f, 0);
            tg_rope_bwd(m->dk, N, m->KVH, (int)m->hd, m->kvd, m->pos, m->inv_freq, 1.0f, 0);
            lin_bwd(m, ix[P_WQ], ix[P_BQ], m->dq, A->xn, N, m->D, m->qd, m->dxn);
            lin_bwd(m, ix[P_WK], ix[P_BK], m->dk, A->xn, N, m->D, m->kvd, m->dxn);
            lin_bwd(m, ix[P_WV], ix[P_BV], m->dv, A->xn, N, m->D, m->kvd, m->dxn);
        }
        memcpy(m->dx, m->dx2, sizeof(float) * (size_t)ND);
        tg_rmsnorm_bwd(ex, m->dxn, A->x, P(m, ix[P_LN1]), A->rstd1, N, m->D, m->dx, G(m, ix[P_LN1]));
    }
    if (G(m, m->embed)) tg_embed_bwd(m->dx, m->inputs, N, m->D, G(m, m->embed));
    m->micro++; /* the next micro-batch draws new dropout masks */
}

/* DeepSeek-V3's auxiliary-loss-free balancing: after a step, each expert's routing bias moves by
 * `speed` towards balance (up when it got fewer tokens than the mean, down when more). Returns
 * the step's loads (tokens per expert, layer after layer) in loads (L x E; NULL: not wanted)
 * and clears the counts. */
void r1c_trainer_balance(r1c_trainer *m, float speed, int32_t *loads) {
    if (m->E <= 0) return; /* (a dense model: no experts, no counts) */
    for (int l = 0; l < m->L; l++) {
        if (!is_moe(m, l)) continue;
        const int32_t *ld = m->loads + (int64_t)l * m->E;
        int64_t tot = 0;
        for (int e = 0; e < m->E; e++) tot += ld[e];
        const double mean = (double)tot / m->E;
        const int bi = m->layer[P_PER_LAYER * l + P_RBIAS];
        float *b = bi >= 0 && !m->params[bi].frozen ? P(m, bi) : NULL; /* (LoRA: the base stays as it is) */
        for (int e = 0; b && e < m->E; e++) b[e] += ld[e] < mean ? speed : ld[e] > mean ? -speed : 0.0f;
    }
    if (loads) memcpy(loads, m->loads, sizeof(int32_t) * (size_t)m->L * (size_t)m->E);
    memset(m->loads, 0, sizeof(int32_t) * (size_t)m->L * (size_t)(m->E ? m->E : 1));
}

int r1c_trainer_n_experts(const r1c_trainer *m) { return m->E; }
void r1c_trainer_set_seq_aux(r1c_trainer *m, float alpha) { m->seq_aux = alpha > 0 ? alpha : 0; }
void r1c_trainer_set_bf16(r1c_trainer *m, int on) { m->ex.gemm_bf16 = on != 0; }
const char *r1c_trainer_gemm_kernel(const r1c_trainer *m) { return r1c_sgemm_kernel_name_ex(&m->ex); }

void r1c_trainer_set_doc_mask(r1c_trainer *m, int32_t bos) {
    const int N = m->shape.B * m->shape.T;
    m->doc_bos = bos;
    m->seg = bos >= 0 ? m->pos + 3 * N : NULL;
    if (!m->seg)
        for (int t = 0; t < N; t++) m->pos[t] = (int32_t)(t % m->shape.T);
}
double r1c_trainer_aux_loss(const r1c_trainer *m) { return m->aux_loss; }

/* ------------------------------------------------------------------ AdamW */

/* squares summed in fixed chunks, the chunks in order: the same norm for any thread count */
double r1c_trainer_grad_norm(const r1c_trainer *m) {
    const int64_t C = 1 << 16, nc = (m->numel + C - 1) / C;
    double *part = malloc(sizeof(double) * (size_t)(nc ? nc : 1));
    if (!part) return NAN;
#pragma omp parallel for num_threads(m->ex.n_threads) schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        double s = 0;
        const int64_t e = (c + 1) * C < m->numel ? (c + 1) * C : m->numel;
        for (int64_t i = c * C; i < e; i++) s += (double)m->grad[i] * m->grad[i];
        part[c] = s;
    }
    double s = 0;
    for (int64_t c = 0; c < nc; c++) s += part[c];
    free(part);
    return sqrt(s);
}

double r1c_trainer_step(r1c_trainer *m, const r1c_adamw *o, float lr) {
    const double norm = r1c_trainer_grad_norm(m);
    m->micro = 0;
    if (!isfinite(norm)) { /* a NaN or an overflow: no step (the weights stay as they were) */
        memset(m->grad, 0, sizeof(float) * (size_t)m->numel);
        return norm;
    }
    const float clip = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    m->step++;
    const float bc1 = 1.0f - powf(o->beta1, (float)m->step), bc2 = 1.0f - powf(o->beta2, (float)m->step);
    for (int i = 0; i < m->n_params; i++) {
        const param *p = &m->params[i];
        if (p->fixed) continue;
        float *w = m->value + p->off, *g = m->grad + p->off, *m1 = m->m1 + p->off, *m2 = m->m2 + p->off;
        const float wd = p->decay ? o->weight_decay : 0.0f;
#pragma omp parallel for num_threads(m->ex.n_threads) schedule(static) if (p->numel >= 65536)
        for (int64_t j = 0; j < p->numel; j++) {
            const float gj = g[j] * clip;
            m1[j] = o->beta1 * m1[j] + (1.0f - o->beta1) * gj;
            m2[j] = o->beta2 * m2[j] + (1.0f - o->beta2) * gj * gj;
            const float mh = m1[j] / bc1, vh = m2[j] / bc2;
            w[j] -= lr * (mh / (sqrtf(vh) + o->eps) + wd * w[j]);
        }
    }
    memset(m->grad, 0, sizeof(float) * (size_t)m->numel);
    return norm;
}

/* ------------------------------------------------------------------ access, save */

int r1c_trainer_n_params(const r1c_trainer *m) { return m->n_params; }
int64_t r1c_trainer_numel(const r1c_trainer *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i].numel;
    return n;
}
const char *r1c_trainer_param(const r1c_trainer *m, int i, int64_t *numel, float **value, float **grad) {
    if (i < 0 || i >= m->n_params) return NULL;
    if (numel) *numel = m->params[i].numel;
    if (value) *value = P(m, i);
    if (grad) *grad = G(m, i);
    return m->params[i].name;
}

static r1c_status write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return r1c_error(R1C_ERR_IO, "%s: cannot write", path);
    const size_t n = strlen(text);
    const int ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0 || !ok) return r1c_error(R1C_ERR_IO, "%s: write failed", path);
    return R1C_OK;
}

static r1c_status save_lora(const r1c_trainer *m, const char *dir);

r1c_status r1c_trainer_save(const r1c_trainer *m, const char *dir) {
    if (m->n_lmods) return save_lora(m, dir);
    if (mkdir(dir, 0755) != 0) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return r1c_error(R1C_ERR_IO, "%s: cannot create the directory", dir);
    }
    const r1c_hf_config *c = &m->cfg;
    char cfg[4096], eos[64] = "null";
    if (c->n_eos > 0) snprintf(eos, sizeof eos, "%d", c->eos_token_id[0]);
    if (m->ds) {
        const int v3 = !strcmp(c->model_type, "deepseek_v3");
        char ql[32] = "null";
        if (m->ql) snprintf(ql, sizeof ql, "%lld", (long long)m->ql);
        snprintf(cfg, sizeof cfg,
                 "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n  \"hidden_size\": %d,\n"
                 "  \"intermediate_size\": %d,\n  \"moe_intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                 "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"q_lora_rank\": %s,\n  \"kv_lora_rank\": %d,\n"
                 "  \"qk_nope_head_dim\": %d,\n  \"qk_rope_head_dim\": %d,\n  \"v_head_dim\": %d,\n  \"n_routed_experts\": %d,\n"
                 "  \"n_shared_experts\": %d,\n  \"num_experts_per_tok\": %d,\n  \"first_k_dense_replace\": %d,\n"
                 "  \"moe_layer_freq\": 1,\n  \"n_group\": %d,\n  \"topk_group\": %d,\n  \"topk_method\": \"%s\",\n"
                 "  \"scoring_func\": \"%s\",\n  \"norm_topk_prob\": %s,\n  \"routed_scaling_factor\": %.9g,\n"
                 "  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": %.9g,\n  \"rope_theta\": %.9g,\n"
                 "  \"rope_scaling\": null,\n  \"tie_word_embeddings\": %s,\n  \"hidden_act\": \"silu\",\n  \"attention_bias\": false,\n"
                 "  \"num_nextn_predict_layers\": 0,\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %s,\n  \"torch_dtype\": \"float32\"\n}\n",
                 v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM", c->model_type, c->hidden_size, c->intermediate_size,
                 c->moe_intermediate_size, c->num_hidden_layers, c->num_attention_heads, c->num_attention_heads, ql, c->kv_lora_rank,
                 c->qk_nope_head_dim, c->qk_rope_head_dim, c->v_head_dim, c->n_routed_experts, c->n_shared_experts,
                 c->num_experts_per_tok, c->first_k_dense_replace, c->n_group > 0 ? c->n_group : 1, c->topk_group > 0 ? c->topk_group : 1,
                 c->topk_method == R1C_TOPK_NOAUX_TC ? "noaux_tc" : c->topk_method == R1C_TOPK_GROUP_LIMITED ? "group_limited_greedy" : "greedy",
                 c->scoring_func == R1C_SCORE_SIGMOID ? "sigmoid" : "softmax", c->norm_topk_prob ? "true" : "false",
                 c->routed_scaling_factor, c->vocab_size, c->max_position_embeddings > 0 ? c->max_position_embeddings : m->shape.T,
                 c->rms_norm_eps, c->rope_theta > 0 ? c->rope_theta : 10000.0, m->tied ? "true" : "false", c->bos_token_id, eos);
    } else
    snprintf(cfg, sizeof cfg,
             "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n  \"hidden_size\": %d,\n"
             "  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n"
             "  \"num_key_value_heads\": %d,\n  \"head_dim\": %d,\n  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n"
             "  \"rms_norm_eps\": %.9g,\n  \"rope_theta\": %.9g,\n  \"tie_word_embeddings\": %s,\n  \"hidden_act\": \"silu\",\n"
             "  \"attention_bias\": false,\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %s,\n  \"torch_dtype\": \"float32\"\n}\n",
             m->qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM", m->qwen2 ? "qwen2" : "llama", c->hidden_size,
             c->intermediate_size, c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads, (int)m->hd, c->vocab_size,
             c->max_position_embeddings > 0 ? c->max_position_embeddings : m->shape.T, c->rms_norm_eps,
             c->rope_theta > 0 ? c->rope_theta : 10000.0, m->tied ? "true" : "false", c->bos_token_id, eos);
    r1c_status st = write_text(dir, "config.json", cfg);
    if (st != R1C_OK) return st;
    char gen[256];
    snprintf(gen, sizeof gen, "{\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %s\n}\n", c->bos_token_id, eos);
    if ((st = write_text(dir, "generation_config.json", gen)) != R1C_OK) return st;
    r1c_st_wtensor *w = calloc((size_t)m->n_params, sizeof *w);
    if (!w) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_params; i++) {
        const param *p = &m->params[i];
        w[i] = (r1c_st_wtensor){.name = p->name, .dtype = R1C_F32, .n_dims = p->n_dims, .shape = {p->shape[0], p->shape[1]},
                                .data = P(m, i)};
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *meta[] = {"format", "pt", NULL};
    st = r1c_st_write(path, w, m->n_params, meta);
    free(w);
    return st;
}

/* ------------------------------------------------------------------ LoRA */

/* PEFT's matching: a target names a module by its last component ("q_proj") or by a suffix of
 * its dotted path ("self_attn.q_proj", or the whole name) */
static int target_matches(const char *module, size_t len, const char *target) {
    const size_t n = strlen(target);
    return n <= len && !strncmp(module + len - n, target, n) && (n == len || module[len - n - 1] == '.');
}

static int realloc_floats(float **p, int64_t old_n, int64_t n) {
    float *q = falloc(n);
    if (!q) return 0;
    memcpy(q, *p, sizeof(float) * (size_t)old_n);
    memset(q + old_n, 0, sizeof(float) * (size_t)(n - old_n));
    free(*p);
    *p = q;
    return 1;
}

r1c_status r1c_trainer_add_lora(r1c_trainer *m, const r1c_trainer_lora *c) {
    if (m->n_lmods) return r1c_error(R1C_ERR_INVALID_ARG, "LoRA: the trainer already has an adapter");
    if (c->r <= 0 || c->r > 4096 || !(c->alpha > 0) || !(c->dropout >= 0 && c->dropout < 1) || c->n_targets <= 0)
        return r1c_error(R1C_ERR_INVALID_ARG, "LoRA: r %d, alpha %g, dropout %g, %d targets (want r in 1..4096, alpha > 0, "
                         "dropout in [0, 1), at least one target)", c->r, (double)c->alpha, (double)c->dropout, c->n_targets);
    /* which matrices: 2-D weights (not the embedding) whose module a target names */
    int *hit = calloc((size_t)m->n_params, sizeof(int)), nm = 0;
    if (!hit) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_params; i++) {
        const param *p = &m->params[i];
        const size_t len = strlen(p->name) - strlen(".weight");
        if (p->n_dims != 2 || i == m->embed || strlen(p->name) < 8 || strcmp(p->name + len, ".weight")) continue;
        for (int k = 0; k < c->n_targets && !hit[i]; k++) hit[i] = target_matches(p->name, len, c->targets[k]);
        nm += hit[i];
    }
    if (!nm) {
        free(hit);
        return r1c_error(R1C_ERR_INVALID_ARG, "LoRA: no matrix of the model matches the targets (first: '%s'; modules are named "
                         "like q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, q_a_proj, kv_b_proj)", c->targets[0]);
    }
    const int n0 = m->n_params;
    const int64_t numel0 = m->numel;
    param *np = realloc(m->params, sizeof(param) * (size_t)(n0 + 2 * nm));
    if (np) m->params = np;
    m->lmods = calloc((size_t)nm, sizeof(lora_mod));
    m->lora_of = malloc(sizeof(int) * (size_t)(n0 + 2 * nm));
    m->lora_targets = calloc((size_t)c->n_targets, sizeof(char *));
    if (!np || !m->lmods || !m->lora_of || !m->lora_targets) goto nomem;
    for (int i = 0; i < n0 + 2 * nm; i++) m->lora_of[i] = -1;
    for (int i = 0; i < n0; i++) m->params[i].frozen = m->params[i].fixed = 1; /* the base is frozen */
    int64_t widest = 1;
    for (int i = 0; i < n0; i++) {
        if (!hit[i]) continue;
        const param *w = &m->params[i];
        char name[160];
        const int len = (int)(strlen(w->name) - strlen(".weight"));
        lora_mod *L = &m->lmods[m->n_lmods];
        L->w = i, L->out = w->shape[0], L->in = w->shape[1];
        snprintf(name, sizeof name, "base_model.model.%.*s.lora_A.weight", len, w->name);
        if (strlen(name) >= sizeof m->params[0].name) goto toolong;
        L->a = add_param(m, name, 2, c->r, L->in, 1);
        snprintf(name, sizeof name, "base_model.model.%.*s.lora_B.weight", len, w->name);
        if (strlen(name) >= sizeof m->params[0].name) goto toolong;
        L->b = add_param(m, name, 2, L->out, c->r, 1);
        m->params[L->a].lora = m->params[L->b].lora = 1;
        m->lora_of[i] = m->n_lmods++;
        widest = L->in > widest ? L->in : widest;
    }
    free(hit), hit = NULL;
    if (!realloc_floats(&m->value, numel0, m->numel) || !realloc_floats(&m->grad, numel0, m->numel) ||
        !realloc_floats(&m->m1, numel0, m->numel) || !realloc_floats(&m->m2, numel0, m->numel))
        goto nomem;
    const int64_t N = (int64_t)m->shape.B * m->shape.T;
    m->lx = falloc(N * widest), m->ldx = falloc(N * widest), m->ldxa = falloc(N * c->r);
    if (!m->lx || !m->ldx || !m->ldxa) goto nomem;
    for (int j = 0; j < m->n_lmods; j++) {
        lora_mod *L = &m->lmods[j];
        if (!(L->xa = falloc(N * c->r))) goto nomem;
        /* A as PEFT starts it (kaiming_uniform with a = sqrt 5: U(-1/sqrt(in), 1/sqrt(in))), B zero:
         * the adapted model starts as the base */
        float *a = P(m, L->a);
        uint64_t st = c->seed * 0x9e3779b97f4a7c15ull + (uint64_t)j + 1;
        const double bound = 1.0 / sqrt((double)L->in);
        for (int64_t k = 0; k < c->r * L->in; k++) a[k] = (float)(bound * (2.0 * (double)(splitmix(&st) >> 11) / 9007199254740992.0 - 1.0));
    }
    m->lora_r = c->r, m->lora_alpha = c->alpha, m->lora_drop = c->dropout, m->lora_rslora = c->use_rslora;
    m->lora_scale = c->use_rslora ? c->alpha / sqrtf((float)c->r) : c->alpha / (float)c->r;
    m->lora_seed = mix64(c->seed ^ 0x4c6f5241ull);
    for (int k = 0; k < c->n_targets; k++) { /* the targets that matched (a tied model has no lm_head, say) */
        int used = 0;
        for (int j = 0; j < m->n_lmods && !used; j++) {
            const char *wn = m->params[m->lmods[j].w].name;
            used = target_matches(wn, strlen(wn) - strlen(".weight"), c->targets[k]);
        }
        if (used && !(m->lora_targets[m->n_lora_targets++] = strdup(c->targets[k]))) goto nomem;
    }
    if (c->base_model && !(m->lora_base = strdup(c->base_model))) goto nomem;
    return R1C_OK;
toolong:
    free(hit);
    return r1c_error(R1C_ERR_UNSUPPORTED, "LoRA: the parameter name of %s is too long", m->params[m->n_params - 1].name);
nomem:
    free(hit);
    return r1c_error(R1C_ERR_NOMEM, "LoRA: out of memory");
}

int64_t r1c_trainer_trainable(const r1c_trainer *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i].fixed ? 0 : m->params[i].numel;
    return n;
}
int r1c_trainer_lora_modules(const r1c_trainer *m) { return m->n_lmods; }
void r1c_trainer_set_dropout(r1c_trainer *m, int on) { m->dropout_off = !on; }

/* the adapter as PEFT writes it: adapter_config.json + adapter_model.safetensors (f32) */
static r1c_status save_lora(const r1c_trainer *m, const char *dir) {
    if (mkdir(dir, 0755) != 0) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return r1c_error(R1C_ERR_IO, "%s: cannot create the directory", dir);
    }
    r1c_lora_wmodule *w = calloc((size_t)m->n_lmods, sizeof *w);
    if (!w) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int j = 0; j < m->n_lmods; j++) {
        const lora_mod *L = &m->lmods[j];
        w[j] = (r1c_lora_wmodule){.name = m->params[L->w].name, .in = L->in, .out = L->out, .A = P(m, L->a), .B = P(m, L->b)};
    }
    const r1c_lora_wconfig wc = {.r = m->lora_r, .alpha = m->lora_alpha, .dropout = m->lora_drop, .use_rslora = m->lora_rslora,
                                 .base_model = m->lora_base, .target_modules = (const char *const *)m->lora_targets,
                                 .n_targets = m->n_lora_targets};
    const r1c_status st = r1c_lora_write(dir, &wc, w, m->n_lmods, R1C_F32);
    free(w);
    return st;
}

/* ------------------------------------------------------------------ optimiser state, loading */

int64_t r1c_trainer_steps_done(const r1c_trainer *m) { return m->step; }
void r1c_trainer_set_steps_done(r1c_trainer *m, int64_t step) { m->step = step; }

r1c_status r1c_trainer_save_state(const r1c_trainer *m, const char *dir) {
    const int n = m->n_params;
    r1c_st_wtensor *w = calloc((size_t)(2 * n + 1), sizeof *w);
    char (*names)[112] = calloc((size_t)(2 * n), sizeof *names);
    if (!w || !names) {
        free(w), free(names);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    int nw = 0;
    for (int i = 0; i < n; i++) {
        const param *p = &m->params[i];
        if (p->fixed) continue; /* (no moments: the routing bias, a LoRA run's base) */
        for (int k = 0; k < 2; k++, nw++) {
            snprintf(names[nw], sizeof names[0], "%s.%s", k ? "exp_avg_sq" : "exp_avg", p->name);
            w[nw] = (r1c_st_wtensor){.name = names[nw], .dtype = R1C_F32, .n_dims = p->n_dims,
                                     .shape = {p->shape[0], p->shape[1]}, .data = (k ? m->m2 : m->m1) + p->off};
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    const char *meta[] = {"format", "pt", NULL};
    r1c_status st = r1c_st_write(path, w, nw, meta);
    free(w), free(names);
    return st;
}

/* one tensor of a set into f32 dst, its shape checked */
static r1c_status load_tensor(const r1c_st_set *set, const char *name, const param *p, float *dst, const char *dir) {
    r1c_tensor t;
    const char *file = NULL;
    if (!r1c_st_find(set, name, &t, &file)) return r1c_error(R1C_ERR_FORMAT, "%s: no tensor %s", dir, name);
    const int64_t want0 = p->shape[0], want1 = p->n_dims > 1 ? p->shape[1] : 1;
    const int64_t got1 = t.n_dims > 1 ? t.shape[1] : 1;
    if (t.n_dims != p->n_dims || t.shape[0] != want0 || got1 != want1)
        return r1c_error(R1C_ERR_FORMAT, "%s: %s has shape [%lld, %lld], the model wants [%lld, %lld]", file, name,
                         (long long)t.shape[0], (long long)got1, (long long)want0, (long long)want1);
    if (t.dtype != R1C_F32 && t.dtype != R1C_BF16 && t.dtype != R1C_F16)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: %s is %s (training loads f32, bf16 or f16)", file, name, r1c_dtype_name(t.dtype));
    for (int64_t r = 0; r < want0; r++) r1c_row_to_f32(&(r1c_tensor){.dtype = t.dtype, .n_dims = 2, .shape = {want0, want1}, .data = t.data},
                                                     r, dst + r * want1);
    return R1C_OK;
}

r1c_status r1c_trainer_load(r1c_trainer *m, const char *dir, int with_state) {
    r1c_st_set set;
    char path[4096];
    /* the model's weights, or under LoRA the adapter's matrices (the base came before add_lora) */
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    r1c_status st = m->n_lmods ? r1c_st_open_file(path, 0, &set) : r1c_st_open_dir(dir, 0, &set);
    if (st != R1C_OK) return st;
    for (int i = 0; i < m->n_params && st == R1C_OK; i++)
        if (m->params[i].lora == (m->n_lmods > 0)) st = load_tensor(&set, m->params[i].name, &m->params[i], P(m, i), dir);
    r1c_st_close(&set);
    if (st != R1C_OK || !with_state) return st;
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    if ((st = r1c_st_open_file(path, 0, &set)) != R1C_OK) return st;
    char name[128];
    for (int i = 0; i < m->n_params && st == R1C_OK; i++)
        for (int k = 0; k < 2 && st == R1C_OK && !m->params[i].fixed; k++) {
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", m->params[i].name);
            st = load_tensor(&set, name, &m->params[i], (k ? m->m2 : m->m1) + m->params[i].off, path);
        }
    r1c_st_close(&set);
    return st;
}
