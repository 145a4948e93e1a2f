/* trainer.c — forward, backward and AdamW for a dense decoder (see trainer.h).
 *
 * One layer, as the forward runs it (N = B x T rows, D model width):
 *   xn  = rmsnorm(x) * ln1                 (rstd1 kept)
 *   q, k, v = xn Wq^T (+bq), xn Wk^T (+bk), xn Wv^T (+bv);  RoPE on q, k
 *   att = causal softmax(q k^T / sqrt(hd)) v   (P kept)
 *   x2  = x + att Wo^T
 *   xn2 = rmsnorm(x2) * ln2                (rstd2 kept)
 *   h   = silu(xn2 Wg^T) * (xn2 Wu^T)      (g, u kept)
 *   x'  = x2 + h Wd^T
 * then logits = rmsnorm(x_L) * norm  Wlm^T and the mean cross-entropy. The backward walks the
 * same lines upwards, each op's gradient from grad_ops.c. */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "io/safetensors.h"
#include "train/grad_ops.h"

enum { P_LN1, P_WQ, P_BQ, P_WK, P_BK, P_WV, P_BV, P_WO, P_LN2, P_WG, P_WU, P_WD, P_PER_LAYER };

typedef struct param {
    char name[96];
    int n_dims;
    int64_t shape[2];
    int64_t off, numel;
    int decay; /* weight decay applies (matrices other than the embedding) */
} param;

typedef struct layer_acts {
    float *x, *xn, *rstd1, *q, *k, *v, *P, *att, *x2, *xn2, *rstd2, *g, *u, *h;
} layer_acts;

struct r1c_trainer {
    r1c_hf_config cfg;
    r1c_train_shape shape;
    int qwen2, tied;
    int64_t D, F, V, hd, qd, kvd;
    int H, KVH, L;
    param *params;
    int n_params;
    int embed, norm, lm_head;  /* indices into params (lm_head = embed when tied) */
    int *layer;                /* layer l's P_* params start at layer[l] (-1: absent bias) */
    float *value, *grad, *m1, *m2;
    int64_t numel;
    int64_t step;
    float *inv_freq;
    int32_t *pos, *inputs, *targets;
    layer_acts *acts;
    float *xf, *rstdf, *logits, *act_mem;
    /* backward buffers */
    float *dx, *dx2, *dxn, *dq, *dk, *dv, *datt, *dh, *dg, *du, *work;
    r1c_exec ex;
    float *scratch[64];
};

/* ------------------------------------------------------------------ parameters */

static int add_param(r1c_trainer *m, const char *name, int n_dims, int64_t d0, int64_t d1, int decay) {
    param *p = &m->params[m->n_params];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->n_dims = n_dims, p->shape[0] = d0, p->shape[1] = n_dims > 1 ? d1 : 1;
    p->numel = d0 * p->shape[1];
    p->off = m->numel;
    p->decay = decay;
    m->numel += (p->numel + 15) / 16 * 16; /* every tensor 64-byte aligned */
    return m->n_params++;
}

static float *P(const r1c_trainer *m, int i) { return i < 0 ? NULL : m->value + m->params[i].off; }
static float *G(const r1c_trainer *m, int i) { return i < 0 ? NULL : m->grad + m->params[i].off; }

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
    if (strcmp(c->model_type, "llama") && strcmp(c->model_type, "qwen2"))
        return r1c_error(R1C_ERR_UNSUPPORTED, "training: model_type '%s' (dense training takes llama or qwen2)", c->model_type);
    if (c->hidden_size <= 0 || c->num_hidden_layers <= 0 || c->vocab_size <= 0 || c->intermediate_size <= 0 ||
        c->num_attention_heads <= 0 || c->num_key_value_heads <= 0 || c->num_attention_heads % c->num_key_value_heads)
        return r1c_error(R1C_ERR_INVALID_ARG, "training: bad model shape (hidden %d, layers %d, heads %d/%d, vocab %d)",
                         c->hidden_size, c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads, c->vocab_size);
    const int hd = c->head_dim ? c->head_dim : c->hidden_size / c->num_attention_heads;
    if (hd % 2) return r1c_error(R1C_ERR_INVALID_ARG, "training: head_dim %d is odd", hd);
    if (c->rope_scaling.type) return r1c_error(R1C_ERR_UNSUPPORTED, "training: rope_scaling (train with plain RoPE)");
    if (s->B <= 0 || s->T <= 0 || s->T > 8192) return r1c_error(R1C_ERR_INVALID_ARG, "training: batch %d x %d", s->B, s->T);
    return R1C_OK;
}

static float *falloc(int64_t n) { return aligned_alloc(64, (size_t)((n * (int64_t)sizeof(float) + 63) / 64 * 64)); }

r1c_status r1c_trainer_new(const r1c_hf_config *cfg, const r1c_train_shape *shape, r1c_trainer **out) {
    *out = NULL;
    r1c_status st = check_config(cfg, shape);
    if (st != R1C_OK) return st;
    r1c_trainer *m = calloc(1, sizeof *m);
    if (!m) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    m->cfg = *cfg, m->shape = *shape;
    m->qwen2 = !strcmp(cfg->model_type, "qwen2");
    m->tied = cfg->tie_word_embeddings;
    m->D = cfg->hidden_size, m->F = cfg->intermediate_size, m->V = cfg->vocab_size, m->L = cfg->num_hidden_layers;
    m->H = cfg->num_attention_heads, m->KVH = cfg->num_key_value_heads;
    m->hd = cfg->head_dim ? cfg->head_dim : m->D / m->H;
    m->qd = m->H * m->hd, m->kvd = m->KVH * m->hd;
    const int bias = m->qwen2 || cfg->qkv_bias;
    m->params = calloc((size_t)(P_PER_LAYER * m->L + 3), sizeof(param));
    m->layer = calloc((size_t)(P_PER_LAYER * m->L), sizeof(int));
    if (!m->params || !m->layer) goto nomem;
    m->embed = add_param(m, "model.embed_tokens.weight", 2, m->V, m->D, 0);
    for (int l = 0; l < m->L; l++) {
        char n[96];
        int *ix = m->layer + P_PER_LAYER * l;
#define ADD(slot, suffix, nd, a, b, dec) \
    (snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix), ix[slot] = add_param(m, n, nd, a, b, dec))
        ADD(P_LN1, "input_layernorm.weight", 1, m->D, 0, 0);
        ADD(P_WQ, "self_attn.q_proj.weight", 2, m->qd, m->D, 1);
        ADD(P_WK, "self_attn.k_proj.weight", 2, m->kvd, m->D, 1);
        ADD(P_WV, "self_attn.v_proj.weight", 2, m->kvd, m->D, 1);
        if (bias) {
            ADD(P_BQ, "self_attn.q_proj.bias", 1, m->qd, 0, 0);
            ADD(P_BK, "self_attn.k_proj.bias", 1, m->kvd, 0, 0);
            ADD(P_BV, "self_attn.v_proj.bias", 1, m->kvd, 0, 0);
        } else {
            ix[P_BQ] = ix[P_BK] = ix[P_BV] = -1;
        }
        ADD(P_WO, "self_attn.o_proj.weight", 2, m->D, m->qd, 1);
        ADD(P_LN2, "post_attention_layernorm.weight", 1, m->D, 0, 0);
        ADD(P_WG, "mlp.gate_proj.weight", 2, m->F, m->D, 1);
        ADD(P_WU, "mlp.up_proj.weight", 2, m->F, m->D, 1);
        ADD(P_WD, "mlp.down_proj.weight", 2, m->D, m->F, 1);
#undef ADD
    }
    m->norm = add_param(m, "model.norm.weight", 1, m->D, 0, 0);
    m->lm_head = m->tied ? m->embed : add_param(m, "lm_head.weight", 2, m->V, m->D, 1);
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
    const int64_t N = (int64_t)shape->B * shape->T, BHT2 = (int64_t)shape->B * m->H * shape->T * shape->T;
    const int64_t per_layer = N * (m->D * 4 + 2 * m->qd + 2 * m->kvd + 3 * m->F + 2) + BHT2;
    m->acts = calloc((size_t)m->L, sizeof(layer_acts));
    m->act_mem = falloc(per_layer * m->L + N * (m->D + 1 + m->V));
    m->inv_freq = falloc(m->hd / 2);
    m->pos = malloc(sizeof(int32_t) * (size_t)N * 3);
    const int64_t big = m->F > m->qd ? m->F : m->qd;
    int64_t work = 0;
    const int64_t lin[][2] = {{m->D, m->qd}, {m->D, m->kvd}, {m->qd, m->D}, {m->D, m->F}, {m->F, m->D}, {m->D, m->V}};
    for (int i = 0; i < 6; i++) {
        const int64_t w = (int64_t)tg_linear_work_floats((int)N, lin[i][0], lin[i][1]);
        work = w > work ? w : work;
    }
    m->dx = falloc(N * m->D), m->dx2 = falloc(N * m->D), m->dxn = falloc(N * m->D);
    m->dq = falloc(N * m->qd), m->dk = falloc(N * m->kvd), m->dv = falloc(N * m->kvd), m->datt = falloc(N * m->qd);
    m->dh = falloc(N * big), m->dg = falloc(N * m->F), m->du = falloc(N * m->F), m->work = falloc(work);
    if (!m->acts || !m->act_mem || !m->inv_freq || !m->pos || !m->dx || !m->dx2 || !m->dxn || !m->dq || !m->dk || !m->dv ||
        !m->datt || !m->dh || !m->dg || !m->du || !m->work)
        goto nomem;
    m->inputs = m->pos + N, m->targets = m->pos + 2 * N;
    float *a = m->act_mem;
#define TAKE(n) (a += (n), a - (n))
    for (int l = 0; l < m->L; l++) {
        layer_acts *A = &m->acts[l];
        A->x = TAKE(N * m->D), A->xn = TAKE(N * m->D), A->rstd1 = TAKE(N), A->q = TAKE(N * m->qd), A->k = TAKE(N * m->kvd);
        A->v = TAKE(N * m->kvd), A->P = TAKE(BHT2), A->att = TAKE(N * m->qd), A->x2 = TAKE(N * m->D), A->xn2 = TAKE(N * m->D);
        A->rstd2 = TAKE(N), A->g = TAKE(N * m->F), A->u = TAKE(N * m->F), A->h = TAKE(N * m->F);
    }
    m->xf = TAKE(N * m->D), m->rstdf = TAKE(N), m->logits = TAKE(N * m->V);
#undef TAKE
    for (int64_t j = 0; j < m->hd / 2; j++) m->inv_freq[j] = (float)pow(cfg->rope_theta > 0 ? cfg->rope_theta : 10000.0, -2.0 * (double)j / (double)m->hd);
    for (int64_t t = 0; t < N; t++) m->pos[t] = (int32_t)(t % shape->T);
    int nt = shape->n_threads > 0 ? shape->n_threads : r1c_default_threads();
    if (nt > 64) nt = 64;
    m->ex.n_threads = nt;
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
    free(m->params), free(m->layer), free(m->value), free(m->grad), free(m->m1), free(m->m2);
    free(m->acts), free(m->act_mem), free(m->inv_freq), free(m->pos);
    free(m->dx), free(m->dx2), free(m->dxn), free(m->dq), free(m->dk), free(m->dv), free(m->datt);
    free(m->dh), free(m->dg), free(m->du), free(m->work);
    for (int i = 0; i < 64; i++) free(m->scratch[i]);
    free(m);
}

/* ------------------------------------------------------------------ forward */

static tg_attn_shape attn_shape(const r1c_trainer *m) {
    return (tg_attn_shape){.B = m->shape.B, .T = m->shape.T, .H = m->H, .KVH = m->KVH, .dk = (int)m->hd, .dv = (int)m->hd,
                           .scale = 1.0f / sqrtf((float)m->hd), .ex = &m->ex};
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
    tg_embed_fwd(P(m, m->embed), m->inputs, N, m->D, m->acts[0].x);
    const tg_attn_shape as = attn_shape(m);
    for (int l = 0; l < m->L; l++) {
        layer_acts *A = &m->acts[l];
        const int *ix = m->layer + P_PER_LAYER * l;
        tg_rmsnorm_fwd(ex, A->x, P(m, ix[P_LN1]), eps, N, m->D, A->xn, A->rstd1);
        tg_linear_fwd(ex, A->xn, P(m, ix[P_WQ]), P(m, ix[P_BQ]), N, m->D, m->qd, A->q);
        tg_linear_fwd(ex, A->xn, P(m, ix[P_WK]), P(m, ix[P_BK]), N, m->D, m->kvd, A->k);
        tg_linear_fwd(ex, A->xn, P(m, ix[P_WV]), P(m, ix[P_BV]), N, m->D, m->kvd, A->v);
        tg_rope_fwd(A->q, N, m->H, (int)m->hd, m->qd, m->pos, m->inv_freq, 1.0f, 0);
        tg_rope_fwd(A->k, N, m->KVH, (int)m->hd, m->kvd, m->pos, m->inv_freq, 1.0f, 0);
        if (tg_attention_fwd(&as, A->q, A->k, A->v, A->P, A->att) != R1C_OK) return NAN; /* (out of memory, said) */
        tg_linear_fwd(ex, A->att, P(m, ix[P_WO]), NULL, N, m->qd, m->D, A->x2);
        for (int64_t i = 0; i < (int64_t)N * m->D; i++) A->x2[i] += A->x[i];
        tg_rmsnorm_fwd(ex, A->x2, P(m, ix[P_LN2]), eps, N, m->D, A->xn2, A->rstd2);
        tg_linear_fwd(ex, A->xn2, P(m, ix[P_WG]), NULL, N, m->D, m->F, A->g);
        tg_linear_fwd(ex, A->xn2, P(m, ix[P_WU]), NULL, N, m->D, m->F, A->u);
        tg_swiglu_fwd(ex, A->g, A->u, (int64_t)N * m->F, A->h);
        float *next = l + 1 < m->L ? m->acts[l + 1].x : m->dx; /* (dx: a free N x D buffer until the backward) */
        tg_linear_fwd(ex, A->h, P(m, ix[P_WD]), NULL, N, m->F, m->D, next);
        for (int64_t i = 0; i < (int64_t)N * m->D; i++) next[i] += A->x2[i];
    }
    tg_rmsnorm_fwd(ex, m->dx, P(m, m->norm), eps, N, m->D, m->xf, m->rstdf);
    memcpy(m->dx2, m->dx, sizeof(float) * (size_t)N * (size_t)m->D); /* the last layer's output, for the backward */
    tg_linear_fwd(ex, m->xf, P(m, m->lm_head), NULL, N, m->D, m->V, m->logits);
    return tg_cross_entropy(ex, m->logits, m->targets, N, m->V, 1.0f, NULL, NULL);
}

const float *r1c_trainer_logits(const r1c_trainer *m) { return m->logits; }

/* ------------------------------------------------------------------ backward */

void r1c_trainer_backward(r1c_trainer *m, float grad_scale) {
    const r1c_exec *ex = &m->ex;
    const int N = m->shape.B * m->shape.T;
    const int64_t ND = (int64_t)N * m->D;
    const tg_attn_shape as = attn_shape(m);
    /* the head: dlogits (in place of the logits), then the final norm */
    tg_cross_entropy(ex, m->logits, m->targets, N, m->V, grad_scale, m->logits, NULL);
    memset(m->dxn, 0, sizeof(float) * (size_t)ND);
    tg_linear_bwd(ex, m->logits, m->xf, P(m, m->lm_head), N, m->D, m->V, m->dxn, G(m, m->lm_head), NULL, m->work);
    memset(m->dx, 0, sizeof(float) * (size_t)ND);
    tg_rmsnorm_bwd(ex, m->dxn, m->dx2, P(m, m->norm), m->rstdf, N, m->D, m->dx, G(m, m->norm));
    for (int l = m->L - 1; l >= 0; l--) {
        layer_acts *A = &m->acts[l];
        const int *ix = m->layer + P_PER_LAYER * l;
        /* x' = x2 + down(h): dx2 = dx + (the MLP's path) */
        memset(m->dh, 0, sizeof(float) * (size_t)N * (size_t)m->F);
        tg_linear_bwd(ex, m->dx, A->h, P(m, ix[P_WD]), N, m->F, m->D, m->dh, G(m, ix[P_WD]), NULL, m->work);
        memset(m->dg, 0, sizeof(float) * (size_t)N * (size_t)m->F);
        memset(m->du, 0, sizeof(float) * (size_t)N * (size_t)m->F);
        tg_swiglu_bwd(ex, m->dh, A->g, A->u, (int64_t)N * m->F, m->dg, m->du);
        memset(m->dxn, 0, sizeof(float) * (size_t)ND);
        tg_linear_bwd(ex, m->dg, A->xn2, P(m, ix[P_WG]), N, m->D, m->F, m->dxn, G(m, ix[P_WG]), NULL, m->work);
        tg_linear_bwd(ex, m->du, A->xn2, P(m, ix[P_WU]), N, m->D, m->F, m->dxn, G(m, ix[P_WU]), NULL, m->work);
        memcpy(m->dx2, m->dx, sizeof(float) * (size_t)ND);
        tg_rmsnorm_bwd(ex, m->dxn, A->x2, P(m, ix[P_LN2]), A->rstd2, N, m->D, m->dx2, G(m, ix[P_LN2]));
        /* x2 = x + o(att): dx = dx2 + (the attention's path) */
        memset(m->datt, 0, sizeof(float) * (size_t)N * (size_t)m->qd);
        tg_linear_bwd(ex, m->dx2, A->att, P(m, ix[P_WO]), N, m->qd, m->D, m->datt, G(m, ix[P_WO]), NULL, m->work);
        memset(m->dq, 0, sizeof(float) * (size_t)N * (size_t)m->qd);
        memset(m->dk, 0, sizeof(float) * (size_t)N * (size_t)m->kvd);
        memset(m->dv, 0, sizeof(float) * (size_t)N * (size_t)m->kvd);
        if (tg_attention_bwd(&as, m->datt, A->q, A->k, A->v, A->P, m->dq, m->dk, m->dv) != R1C_OK) { /* out of memory: */
            for (int64_t i = 0; i < m->numel; i++) m->grad[i] = NAN; /* a NaN norm stops the step, never silent numbers */
            return;
        }
        tg_rope_bwd(m->dq, N, m->H, (int)m->hd, m->qd, m->pos, m->inv_freq, 1.0f, 0);
        tg_rope_bwd(m->dk, N, m->KVH, (int)m->hd, m->kvd, m->pos, m->inv_freq, 1.0f, 0);
        memset(m->dxn, 0, sizeof(float) * (size_t)ND);
        tg_linear_bwd(ex, m->dq, A->xn, P(m, ix[P_WQ]), N, m->D, m->qd, m->dxn, G(m, ix[P_WQ]), G(m, ix[P_BQ]), m->work);
        tg_linear_bwd(ex, m->dk, A->xn, P(m, ix[P_WK]), N, m->D, m->kvd, m->dxn, G(m, ix[P_WK]), G(m, ix[P_BK]), m->work);
        tg_linear_bwd(ex, m->dv, A->xn, P(m, ix[P_WV]), N, m->D, m->kvd, m->dxn, G(m, ix[P_WV]), G(m, ix[P_BV]), m->work);
        memcpy(m->dx, m->dx2, sizeof(float) * (size_t)ND);
        tg_rmsnorm_bwd(ex, m->dxn, A->x, P(m, ix[P_LN1]), A->rstd1, N, m->D, m->dx, G(m, ix[P_LN1]));
    }
    tg_embed_bwd(m->dx, m->inputs, N, m->D, G(m, m->embed));
}

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
    if (!isfinite(norm)) { /* a NaN or an overflow: no step (the weights stay as they were) */
        memset(m->grad, 0, sizeof(float) * (size_t)m->numel);
        return norm;
    }
    const float clip = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    m->step++;
    const float bc1 = 1.0f - powf(o->beta1, (float)m->step), bc2 = 1.0f - powf(o->beta2, (float)m->step);
    for (int i = 0; i < m->n_params; i++) {
        const param *p = &m->params[i];
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

r1c_status r1c_trainer_save(const r1c_trainer *m, const char *dir) {
    if (mkdir(dir, 0755) != 0) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return r1c_error(R1C_ERR_IO, "%s: cannot create the directory", dir);
    }
    const r1c_hf_config *c = &m->cfg;
    char cfg[2048], eos[64] = "null";
    if (c->n_eos > 0) snprintf(eos, sizeof eos, "%d", c->eos_token_id[0]);
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
    for (int i = 0; i < n; i++) {
        const param *p = &m->params[i];
        for (int k = 0; k < 2; k++) {
            snprintf(names[2 * i + k], sizeof names[0], "%s.%s", k ? "exp_avg_sq" : "exp_avg", p->name);
            w[2 * i + k] = (r1c_st_wtensor){.name = names[2 * i + k], .dtype = R1C_F32, .n_dims = p->n_dims,
                                            .shape = {p->shape[0], p->shape[1]}, .data = (k ? m->m2 : m->m1) + p->off};
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    const char *meta[] = {"format", "pt", NULL};
    r1c_status st = r1c_st_write(path, w, 2 * n, meta);
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
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    r1c_status st = r1c_st_open_dir(dir, 0, &set);
    if (st != R1C_OK) return st;
    for (int i = 0; i < m->n_params && st == R1C_OK; i++) st = load_tensor(&set, m->params[i].name, &m->params[i], P(m, i), dir);
    r1c_st_close(&set);
    if (st != R1C_OK || !with_state) return st;
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    if ((st = r1c_st_open_file(path, 0, &set)) != R1C_OK) return st;
    char name[128];
    for (int i = 0; i < m->n_params && st == R1C_OK; i++)
        for (int k = 0; k < 2 && st == R1C_OK; k++) {
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", m->params[i].name);
            st = load_tensor(&set, name, &m->params[i], (k ? m->m2 : m->m1) + m->params[i].off, path);
        }
    r1c_st_close(&set);
    return st;
}
