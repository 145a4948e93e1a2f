/* deepseek.c — DeepSeek-V2 / V3 / R1: Multi-head Latent Attention and DeepSeekMoE, with the
 * numbers of DeepSeek's inference/model.py. One forward pass, top to bottom:
 *
 *   x = embed[ids]
 *   for each layer:
 *     h = rmsnorm(x)
 *     q = q_b(rmsnorm(q_a(h)))            (or q_proj(h) when q_lora_rank is null); per head [nope | rope]
 *     [c | k_pe] = kv_a(h);  c = rmsnorm(c)                     c: the latent the cache keeps
 *     rotate q_pe, k_pe: interleaved pairs (2i, 2i+1), YaRN frequencies
 *     cache c, k_pe
 *     attention, per head (kv_b rows per head: [W_uk (nope rows) | W_uv (v rows)]):
 *       prefill (plain):   k_nope_j = W_uk c_j, v_j = W_uv c_j;  softmax(scale (q_nope.k_nope_j + q_pe.k_pe_j)) . v
 *       decode (absorbed): q_abs = W_uk^T q_nope;  p = softmax(scale (q_abs.c_j + q_pe.k_pe_j)); out = W_uv (sum p_j c_j)
 *     x += o_proj(attention)
 *     h = rmsnorm(x)
 *     x += dense MLP(h)   (layers < first_k_dense_replace)
 *          or sum over the chosen experts of w_e * expert_e(h) + shared_experts(h)
 *   logits = lm_head(rmsnorm(x))
 *
 * The cache holds kv_lora_rank + qk_rope_head_dim floats per token per layer instead of the
 * heads' full keys and values (DeepSeek-V3: 576 against 40960). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../base/mem.h"
#include "../base/parallel.h"
#include "../infer/ctx.h"
#include "model.h"

typedef struct r1c_ds_layer {
    const float *attn_norm, *ffn_norm;
    const r1c_tensor *wq, *wq_a, *wq_b; /* q_proj, or q_a_proj + q_b_proj */
    const float *q_a_norm;
    const r1c_tensor *wkv_a, *wkv_b, *wo;
    const float *kv_a_norm;
    int moe;
    const r1c_tensor *w_gate, *w_up, *w_down; /* dense MLP, or the shared experts (may be NULL) */
    const r1c_tensor *router;                 /* mlp.gate.weight [E, D] */
    const float *router_bias;                 /* e_score_correction_bias, selection only */
    const r1c_tensor **e_gate, **e_up, **e_down;
    int moe_index;                            /* among the MoE layers */
} r1c_ds_layer;

typedef struct r1c_ds_model {
    r1c_ds_layer *layers;
    int n_moe;
    float *rope_inv_freq; /* qk_rope_head_dim / 2, YaRN applied */
    float rope_mscale;    /* cos/sin factor (HF: mscale / mscale_all_dim ratio; 1 for V2/V3) */
    float softmax_scale;
    int mtp_layers;       /* next-token-prediction layers found in the checkpoint */
} r1c_ds_model;

/* ------------------------------------------------------------------ binding */

static int is_moe_layer(const r1c_hf_config *c, int l) {
    return c->n_routed_experts > 0 && l >= c->first_k_dense_replace && l % c->moe_layer_freq == 0;
}

static r1c_status bind_layer(r1c_model *m, int l, r1c_ds_layer *L) {
    const r1c_hf_config *c = &m->cfg;
    const int64_t D = c->hidden_size, H = c->num_attention_heads, kvl = c->kv_lora_rank, rope = c->qk_rope_head_dim;
    const int64_t qhd = c->qk_nope_head_dim + rope, vd = c->v_head_dim;
    char n[192];
    r1c_status st;
#define MAT(field, rows, cols, ...)                                                \
    snprintf(n, sizeof n, __VA_ARGS__);                                            \
    if ((st = r1c_bind_matrix(m, n, rows, cols, &(field))) != R1C_OK) return st; \
    r1c_model_matmul_only(field)
#define VEC(field, len, ...)                                                       \
    snprintf(n, sizeof n, __VA_ARGS__);                                            \
    if ((st = r1c_bind_vector(m, n, len, &(field))) != R1C_OK) return st
    VEC(L->attn_norm, D, "model.layers.%d.input_layernorm.weight", l);
    if (c->q_lora_rank) {
        MAT(L->wq_a, c->q_lora_rank, D, "model.layers.%d.self_attn.q_a_proj.weight", l);
        VEC(L->q_a_norm, c->q_lora_rank, "model.layers.%d.self_attn.q_a_layernorm.weight", l);
        MAT(L->wq_b, H * qhd, c->q_lora_rank, "model.layers.%d.self_attn.q_b_proj.weight", l);
    } else {
        MAT(L->wq, H * qhd, D, "model.layers.%d.self_attn.q_proj.weight", l);
    }
    MAT(L->wkv_a, kvl + rope, D, "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", l);
    VEC(L->kv_a_norm, kvl, "model.layers.%d.self_attn.kv_a_layernorm.weight", l);
    /* (kv_b is also read by rows: decode absorbs it into the query and the output) */
    snprintf(n, sizeof n, "model.layers.%d.self_attn.kv_b_proj.weight", l);
    if ((st = r1c_bind_matrix(m, n, H * (c->qk_nope_head_dim + vd), kvl, &L->wkv_b)) != R1C_OK) return st;
    MAT(L->wo, D, H * vd, "model.layers.%d.self_attn.o_proj.weight", l);
    VEC(L->ffn_norm, D, "model.layers.%d.post_attention_layernorm.weight", l);
    if (!is_moe_layer(c, l)) {
        MAT(L->w_gate, c->intermediate_size, D, "model.layers.%d.mlp.gate_proj.weight", l);
        MAT(L->w_up, c->intermediate_size, D, "model.layers.%d.mlp.up_proj.weight", l);
        MAT(L->w_down, D, c->intermediate_size, "model.layers.%d.mlp.down_proj.weight", l);
        return R1C_OK;
    }
    const int E = c->n_routed_experts;
    const int64_t F = c->moe_intermediate_size;
    L->moe = 1;
    MAT(L->router, E, D, "model.layers.%d.mlp.gate.weight", l);
    if (c->topk_method == R1C_TOPK_NOAUX_TC) {
        VEC(L->router_bias, E, "model.layers.%d.mlp.gate.e_score_correction_bias", l);
    }
    L->e_gate = calloc((size_t)E * 3, sizeof *L->e_gate);
    if (!L->e_gate) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    L->e_up = L->e_gate + E, L->e_down = L->e_gate + 2 * E;
    for (int e = 0; e < E; e++) {
        MAT(L->e_gate[e], F, D, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e);
        MAT(L->e_up[e], F, D, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e);
        MAT(L->e_down[e], D, F, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
    }
    if (c->n_shared_experts) {
        const int64_t SF = F * c->n_shared_experts;
        MAT(L->w_gate, SF, D, "model.layers.%d.mlp.shared_experts.gate_proj.weight", l);
        MAT(L->w_up, SF, D, "model.layers.%d.mlp.shared_experts.up_proj.weight", l);
        MAT(L->w_down, D, SF, "model.layers.%d.mlp.shared_experts.down_proj.weight", l);
    }
#undef MAT
#undef VEC
    return R1C_OK;
}

/* YaRN as inference/model.py's precompute_freqs_cis: every frequency is blended between
 * theta^(-2i/d) and that / factor by a ramp over the dimensions whose wavelength lies between
 * the beta_fast and beta_slow rotation counts of the original context. */
static void yarn_frequencies(const r1c_hf_config *c, float *inv_freq) {
    const int d = c->qk_rope_head_dim;
    const double base = c->rope_theta;
    for (int i = 0; i < d / 2; i++) inv_freq[i] = (float)(1.0 / pow(base, (double)(2 * i) / d));
    if (c->rope_scaling.type != R1C_ROPE_YARN) return;
    const double orig = c->rope_scaling.original_max_position_embeddings, factor = c->rope_scaling.factor;
    double low = floor(d * log(orig / (c->rope_scaling.beta_fast * 2 * M_PI)) / (2 * log(base)));
    double high = ceil(d * log(orig / (c->rope_scaling.beta_slow * 2 * M_PI)) / (2 * log(base)));
    if (low < 0) low = 0;
    if (high > d - 1) high = d - 1;
    if (low == high) high += 0.001;
    for (int i = 0; i < d / 2; i++) {
        double ramp = (i - low) / (high - low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        inv_freq[i] = (float)(inv_freq[i] / factor * ramp + inv_freq[i] * (1 - ramp));
    }
}

static double yarn_mscale(double factor, double mscale) {
    return factor <= 1 ? 1.0 : 0.1 * mscale * log(factor) + 1.0;
}

static r1c_status ds_bind(r1c_model *m) {
    const r1c_hf_config *c = &m->cfg;
    const int64_t D = c->hidden_size, V = c->vocab_size;
    r1c_status st;
    r1c_ds_model *ds = calloc(1, sizeof *ds);
    if (!ds) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    m->ds = ds;
    ds->layers = calloc((size_t)c->num_hidden_layers + (size_t)c->num_nextn_predict_layers, sizeof *ds->layers);
    ds->rope_inv_freq = r1c_alloc(sizeof(float) * (size_t)(c->qk_rope_head_dim / 2));
    if (!ds->layers || !ds->rope_inv_freq || r1c_model_own(m, ds->rope_inv_freq) != R1C_OK)
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    yarn_frequencies(c, ds->rope_inv_freq);
    ds->softmax_scale = 1.0f / sqrtf((float)(c->qk_nope_head_dim + c->qk_rope_head_dim));
    ds->rope_mscale = 1.0f;
    if (c->rope_scaling.type == R1C_ROPE_YARN) { /* HF: the mscale of all dims goes on the logits, squared */
        double ms = yarn_mscale(c->rope_scaling.factor, c->rope_scaling.mscale_all_dim);
        ds->softmax_scale = (float)(ds->softmax_scale * ms * ms);
        ds->rope_mscale = (float)(yarn_mscale(c->rope_scaling.factor, c->rope_scaling.mscale) / ms);
    }
    if ((st = r1c_bind_matrix(m, "model.embed_tokens.weight", V, D, &m->embed)) != R1C_OK) return st;
    int64_t expert_bytes = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        r1c_ds_layer *L = &ds->layers[l];
        if ((st = bind_layer(m, l, L)) != R1C_OK) return st;
        if (L->moe) {
            L->moe_index = ds->n_moe++;
            for (int e = 0; e < c->n_routed_experts; e++)
                expert_bytes += (int64_t)(L->e_gate[e]->nbytes + L->e_up[e]->nbytes + L->e_down[e]->nbytes);
        }
    }
    if ((st = r1c_bind_vector(m, "model.norm.weight", D, &m->final_norm)) != R1C_OK) return st;
    if (c->tie_word_embeddings) m->lm_head = m->embed;
    else if ((st = r1c_bind_matrix(m, "lm_head.weight", V, D, &m->lm_head)) != R1C_OK) return st;
    else r1c_model_matmul_only(m->lm_head);
    /* multi-token-prediction layers (used for speculative decoding later): loaded when present */
    int64_t mtp_bytes = 0, before = m->weight_bytes;
    for (int i = 0; i < c->num_nextn_predict_layers; i++) {
        const int l = c->num_hidden_layers + i;
        char n[160];
        snprintf(n, sizeof n, "model.layers.%d.enorm.weight", l);
        if (!r1c_model_has_tensor(m, n)) break;
        const float *enorm, *hnorm, *head_norm;
        const r1c_tensor *eh, *head;
        if ((st = r1c_bind_vector(m, n, D, &enorm)) != R1C_OK) return st;
        snprintf(n, sizeof n, "model.layers.%d.hnorm.weight", l);
        if ((st = r1c_bind_vector(m, n, D, &hnorm)) != R1C_OK) return st;
        snprintf(n, sizeof n, "model.layers.%d.eh_proj.weight", l);
        if ((st = r1c_bind_matrix(m, n, D, 2 * D, &eh)) != R1C_OK) return st;
        snprintf(n, sizeof n, "model.layers.%d.shared_head.norm.weight", l);
        if ((st = r1c_bind_vector(m, n, D, &head_norm)) != R1C_OK) return st;
        snprintf(n, sizeof n, "model.layers.%d.shared_head.head.weight", l);
        if ((st = r1c_bind_matrix(m, n, V, D, &head)) != R1C_OK) return st;
        if ((st = bind_layer(m, l, &ds->layers[l])) != R1C_OK) return st;
        ds->mtp_layers++;
    }
    mtp_bytes = m->weight_bytes - before;
    const int64_t embed = c->tie_word_embeddings ? 0 : (int64_t)m->embed->nbytes;
    m->decode_bytes = m->weight_bytes - embed - mtp_bytes;
    /* a token reads only its experts: k of E per MoE layer */
    m->active_bytes = m->decode_bytes;
    if (c->n_routed_experts)
        m->active_bytes -= expert_bytes - expert_bytes * c->num_experts_per_tok / c->n_routed_experts;
    m->decode_bytes = m->active_bytes;
    return R1C_OK;
}

int r1c_ds_mtp_layers(const r1c_model *m) { return m->ds ? m->ds->mtp_layers : 0; }

static void ds_free(r1c_model *m) {
    if (!m->ds) return;
    for (int l = 0; l < m->cfg.num_hidden_layers + m->cfg.num_nextn_predict_layers; l++) free(m->ds->layers[l].e_gate);
    free(m->ds->layers);
    free(m->ds);
}

static int64_t ds_cache_floats(const r1c_model *m) { return m->cfg.kv_lora_rank + m->cfg.qk_rope_head_dim; }
static int64_t ds_no_v(const r1c_model *m) { (void)m; return 0; }
/* Per-thread scratch: the attention's, plus (absorbed decode) R1C_ATTN_MAXQ heads' q_abs and
 * latent outputs and one widened kv_b row. */
static size_t ds_scratch(const r1c_model *m) {
    const int kvl = m->cfg.kv_lora_rank, nope = m->cfg.qk_nope_head_dim, rope = m->cfg.qk_rope_head_dim;
    return r1c_attention_scratch_floats(kvl > nope ? kvl : nope, rope) + (size_t)(2 * R1C_ATTN_MAXQ + 1) * (size_t)kvl + 64;
}

/* ---------------------------------------------------------------- attention */

/* prefill expands the cached latents to keys and values this many keys at a time */
#define KV_CHUNK (2 * R1C_ATTN_TILE)

/* Decode: one token, heads [h0, h1) (at most R1C_ATTN_MAXQ), attention in the latent space,
 * every head against the same cache rows [c_j (kvl) | k_pe_j (rope)]:
 *   q_abs = W_uk^T q_nope;  lat = sum_j softmax_j(scale (q_abs.c_j + q_pe.k_pe_j)) c_j;  out = W_uv lat */
static void attend_absorbed(const r1c_model *m, const r1c_ds_layer *L, const float *q, const float *cache, int n_keys,
                            int h0, int h1, float *scratch, float *out) {
    const r1c_hf_config *c = &m->cfg;
    const int kvl = c->kv_lora_rank, rope = c->qk_rope_head_dim, nope = c->qk_nope_head_dim, vd = c->v_head_dim;
    const int64_t stride = kvl + rope, qhd = nope + rope;
    const int nh = h1 - h0;
    float *q_abs = scratch, *lat = q_abs + (int64_t)nh * kvl, *row = lat + (int64_t)nh * kvl, *ascr = row + kvl;
    r1c_attn_query qs[R1C_ATTN_MAXQ] = {{0}};
    for (int i = 0; i < nh; i++) {
        const int64_t row0 = (int64_t)(h0 + i) * (nope + vd);
        const float *qh = q + (h0 + i) * qhd;
        float *qa = q_abs + (int64_t)i * kvl;
        r1c_matvec_t(L->wkv_b, row0, row0 + nope, qh, qa, row); /* q_abs = W_uk^T q_nope */
        qs[i] = (r1c_attn_query){.q = qa, .q2 = qh + nope, .out = lat + (int64_t)i * kvl, .n_keys = n_keys};
    }
    const r1c_attn a = {.k = cache, .k2 = cache + kvl, .v = cache, .ldk = stride, .ldk2 = stride, .ldv = stride,
                        .dk = kvl, .dk2 = rope, .dv = kvl, .scale = m->ds->softmax_scale};
    r1c_attention(&a, qs, nh, ascr);
    for (int i = 0; i < nh; i++) { /* out = W_uv lat */
        const int64_t row0 = (int64_t)(h0 + i) * (nope + vd);
        r1c_matvec_rows(L->wkv_b, lat + (int64_t)i * kvl, out + (int64_t)(h0 + i) * vd, row0 + nope, row0 + nope + vd);
    }
}

/* Prefill: head h for tokens [t0, t1) (at most R1C_ATTN_MAXQ) of the batch, keys [j0, j1):
 * the keys and values expanded from those latents (kv rows from key j0: per head [k_nope | v])
 * and the cached rope keys. ml: the tokens' running softmax state for this head. */
static void attend_plain(const r1c_model *m, const float *q, const float *cache, const float *kv, int pos0, int t0,
                         int t1, int h, int j0, int j1, float *ml, float *scratch, float *att) {
    const r1c_hf_config *c = &m->cfg;
    const int kvl = c->kv_lora_rank, rope = c->qk_rope_head_dim, nope = c->qk_nope_head_dim, vd = c->v_head_dim;
    const int64_t H = c->num_attention_heads, kv_stride = H * (nope + vd), head_off = (int64_t)h * (nope + vd);
    const int64_t qhd = nope + rope;
    r1c_attn_query qs[R1C_ATTN_MAXQ] = {{0}};
    for (int t = t0; t < t1; t++) {
        const float *qt = q + (int64_t)t * H * qhd + h * qhd;
        qs[t - t0] = (r1c_attn_query){.q = qt, .q2 = qt + nope, .out = att + (int64_t)t * H * vd + h * vd, .n_keys = pos0 + t + 1};
    }
    const r1c_attn a = {.k = kv + head_off, .k2 = cache + (int64_t)j0 * (kvl + rope) + kvl, .v = kv + head_off + nope,
                        .ldk = kv_stride, .ldk2 = kvl + rope, .ldv = kv_stride, .dk = nope, .dk2 = rope, .dv = vd,
                        .scale = m->ds->softmax_scale};
    r1c_attention_part(&a, qs, t1 - t0, j0, j1, ml, scratch);
}

/* --------------------------------------------------------------------- MoE */

/* DeepSeekMoE routing of one token: scores (sigmoid or softmax); the correction bias, when
 * there is one, only chooses; groups keep their topk_group best (V3: sum of a group's two
 * best biased scores; V2: its best); the k best experts of the kept groups; weights are the
 * unbiased scores, normalised (sigmoid, or norm_topk_prob) and scaled. Ties go to the lower
 * index, as torch.topk's stable order on distinct values does not matter here. */
void r1c_ds_route(const r1c_hf_config *c, const float *logit, const float *bias, float *work, int32_t *ids, float *w) {
    const int E = c->n_routed_experts, k = c->num_experts_per_tok, G = c->n_group, per = E / G;
    float *score = work, *sel = work + E;
    if (c->scoring_func == R1C_SCORE_SIGMOID) {
        for (int e = 0; e < E; e++) score[e] = 1.0f / (1.0f + expf(-logit[e]));
    } else {
        float mx = -INFINITY, sum = 0;
        for (int e = 0; e < E; e++) mx = logit[e] > mx ? logit[e] : mx;
        for (int e = 0; e < E; e++) sum += (score[e] = expf(logit[e] - mx));
        for (int e = 0; e < E; e++) score[e] /= sum;
    }
    for (int e = 0; e < E; e++) sel[e] = bias ? score[e] + bias[e] : score[e];
    if (c->topk_method != R1C_TOPK_GREEDY && G > 1) {
        float gscore[256];
        int keep[256] = {0};
        for (int g = 0; g < G; g++) {
            const float *s = sel + g * per;
            if (c->topk_method == R1C_TOPK_NOAUX_TC) { /* sum of the group's top two */
                float a = -INFINITY, b = -INFINITY;
                for (int i = 0; i < per; i++) {
                    if (s[i] > a) b = a, a = s[i];
                    else if (s[i] > b) b = s[i];
                }
                gscore[g] = a + b;
            } else {
                float a = -INFINITY;
                for (int i = 0; i < per; i++) a = s[i] > a ? s[i] : a;
                gscore[g] = a;
            }
        }
        for (int t = 0; t < c->topk_group; t++) {
            int best = -1;
            for (int g = 0; g < G; g++)
                if (!keep[g] && (best < 0 || gscore[g] > gscore[best])) best = g;
            keep[best] = 1;
        }
        for (int g = 0; g < G; g++)
            if (!keep[g])
                for (int i = 0; i < per; i++) sel[g * per + i] = -INFINITY;
    }
    float sum = 0;
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (sel[e] != -INFINITY && (best < 0 || sel[e] > sel[best])) best = e;
        if (best < 0) best = t; /* every score was -inf: cannot happen with finite logits */
        ids[t] = best;
        w[t] = score[best];
        sum += w[t];
        sel[best] = -INFINITY;
    }
    const int norm = c->scoring_func == R1C_SCORE_SIGMOID || c->norm_topk_prob;
    for (int t = 0; t < k; t++) w[t] = (norm ? w[t] / sum : w[t]) * (float)c->routed_scaling_factor;
}

/* ------------------------------------------------------------------ forward */

static float *arch_buf(r1c_ctx *c, size_t floats) {
    if (floats > c->arch_buf_floats) {
        float *b = r1c_alloc(sizeof(float) * floats);
        if (!b) return NULL;
        r1c_free(c->arch_buf);
        c->arch_buf = b;
        c->arch_buf_floats = floats;
    }
    return c->arch_buf;
}

/* one row of the embedding table, widened (FP8 tables with their block scales too) */
static void embed_row(const r1c_tensor *e, int32_t id, float *out) { r1c_row_to_f32(e, id, out); }

/* h[t] (T x F) = silu(h[t]) * u[t] */
static void swiglu(const r1c_exec *ex, float *g, const float *u, int64_t n) { r1c_silu_mul(ex, g, u, n); }

/* One MLP y = down(silu(gate x) * up x) for T rows of x (ld D), into y (ld D). */
static void mlp(r1c_ctx *c, const r1c_tensor *wg, const r1c_tensor *wu, const r1c_tensor *wd, const float *x, int T,
                float *hg, float *hu, float *y) {
    const int64_t D = c->m->cfg.hidden_size, F = wg->shape[0];
    r1c_mm_job gu[2] = {{.w = wg, .y = hg, .ldy = F}, {.w = wu, .y = hu, .ldy = F}};
    r1c_matmul(&c->ex, gu, 2, x, D, T);
    swiglu(&c->ex, hg, hu, (int64_t)T * F);
    r1c_mm_job down = {.w = wd, .y = y, .ldy = D};
    r1c_matmul(&c->ex, &down, 1, hg, F, T);
}

/* One token: the k experts' gate and up projections (and the shared experts') run as one
 * fused matmul, then all down projections as another; the results add up in expert order,
 * then the shared experts, as in the batched path. hg, hu: (k + shared) x F; yo: (k + 1) x D. */
static r1c_status moe_one(r1c_ctx *c, const r1c_ds_layer *L, const float *x, const int32_t *ids, const float *wts,
                          float *out, float *hg, float *hu, float *yo) {
    const r1c_hf_config *p = &c->m->cfg;
    const int k = p->num_experts_per_tok;
    const int64_t D = p->hidden_size, F = p->moe_intermediate_size, SF = F * p->n_shared_experts;
    int order[64]; /* chosen experts by id */
    for (int j = 0; j < k; j++) order[j] = j;
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && ids[order[b]] < ids[order[b - 1]]; b--) {
            int t = order[b];
            order[b] = order[b - 1], order[b - 1] = t;
        }
    r1c_mm_job gu[130], dn[65];
    int n = 0;
    for (int j = 0; j < k; j++) {
        const int e = ids[order[j]];
        gu[2 * j] = (r1c_mm_job){.w = L->e_gate[e], .y = hg + j * F, .ldy = F};
        gu[2 * j + 1] = (r1c_mm_job){.w = L->e_up[e], .y = hu + j * F, .ldy = F};
        dn[j] = (r1c_mm_job){.w = L->e_down[e], .y = yo + j * D, .ldy = D, .x = hg + j * F};
        n++;
    }
    int ng = 2 * n, nd = n;
    if (L->w_gate) {
        gu[ng++] = (r1c_mm_job){.w = L->w_gate, .y = hg + k * F, .ldy = SF};
        gu[ng++] = (r1c_mm_job){.w = L->w_up, .y = hu + k * F, .ldy = SF};
        dn[nd++] = (r1c_mm_job){.w = L->w_down, .y = yo + k * D, .ldy = D, .x = hg + k * F};
    }
    r1c_matmul(&c->ex, gu, ng, x, D, 1);
    swiglu(&c->ex, hg, hu, k * F + (L->w_gate ? SF : 0));
    r1c_matmul(&c->ex, dn, nd, hg, F, 1);
    memset(out, 0, sizeof(float) * (size_t)D);
    for (int j = 0; j < k; j++) {
        const float w = wts[order[j]];
        for (int64_t d = 0; d < D; d++) out[d] += w * yo[j * D + d];
    }
    if (L->w_gate)
        for (int64_t d = 0; d < D; d++) out[d] += yo[k * D + d];
    return R1C_OK;
}

/* MoE block for T tokens of x: out[t] = sum_e w_e expert_e(x_t) + shared(x_t). Each expert
 * runs once over the tokens that chose it (its weights are read once per batch); a token's
 * experts add up in expert order, then the shared experts. */
static r1c_status moe(r1c_ctx *c, const r1c_ds_layer *L, const float *x, int T, float *out, float *buf) {
    const r1c_hf_config *p = &c->m->cfg;
    const int E = p->n_routed_experts, k = p->num_experts_per_tok;
    const int64_t D = p->hidden_size, F = p->moe_intermediate_size, SF = F * p->n_shared_experts;
    const int64_t FF = F > SF ? F : SF;
    const int64_t FFT = (T * FF > (int64_t)k * F + SF ? T * FF : (int64_t)k * F + SF);
    float *logits = buf, *work = logits + (int64_t)T * E, *wts = work + 2 * E, *xg = wts + (int64_t)T * k;
    float *hg = xg + (int64_t)T * D, *hu = hg + FFT, *yo = hu + FFT;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T * (size_t)k * 2);
    if (!ids) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    int32_t *rows = ids + (int64_t)T * k;
    r1c_mm_job gate = {.w = L->router, .y = logits, .ldy = E};
    r1c_matmul(&c->ex, &gate, 1, x, D, T);
    for (int t = 0; t < T; t++) r1c_ds_route(p, logits + (int64_t)t * E, L->router_bias, work, ids + t * k, wts + t * k);
    if (c->route_ids)
        for (int t = 0; t < T * k; t++) {
            c->route_ids[(int64_t)L->moe_index * T * k + t] = ids[t];
            c->route_w[(int64_t)L->moe_index * T * k + t] = wts[t];
        }
    if (T == 1) { /* decode: every chosen expert's projections in one parallel region each */
        r1c_status st = moe_one(c, L, x, ids, wts, out, hg, hu, yo);
        free(ids);
        return st;
    }
    memset(out, 0, sizeof(float) * (size_t)(T * D));
    const int nt = c->ex.n_threads;
    (void)nt; /* used by the pragmas only */
    for (int e = 0; e < E; e++) {
        int n = 0; /* the tokens that chose e (a token chooses an expert at most once) */
        for (int t = 0; t < T; t++)
            for (int j = 0; j < k; j++)
                if (ids[t * k + j] == e) rows[n++] = t * k + j;
        if (!n) continue;
#pragma omp parallel for num_threads(nt) schedule(static) if (n >= 8)
        for (int i = 0; i < n; i++) memcpy(xg + (int64_t)i * D, x + (int64_t)(rows[i] / k) * D, sizeof(float) * (size_t)D);
        mlp(c, L->e_gate[e], L->e_up[e], L->e_down[e], xg, n, hg, hu, yo);
#pragma omp parallel for num_threads(nt) schedule(static) if (n >= 8)
        for (int i = 0; i < n; i++) { /* distinct tokens: each row of out has one writer */
            const int t = rows[i] / k;
            const float w = wts[rows[i]];
            for (int64_t d = 0; d < D; d++) out[(int64_t)t * D + d] += w * yo[(int64_t)i * D + d];
        }
    }
    if (L->w_gate) {
        mlp(c, L->w_gate, L->w_up, L->w_down, x, T, hg, hu, yo);
#pragma omp parallel for num_threads(nt) schedule(static) if (T >= 8)
        for (int64_t i = 0; i < (int64_t)T * D; i++) out[i] += yo[i];
    }
    free(ids);
    return R1C_OK;
}

/* Prefill: T tokens (q: T x H x qhd) at positions pos0.. of one sequence whose latents are in
 * cache. Keys a chunk at a time (KV_CHUNK, a multiple of the attention tile): the chunk's
 * latents expanded to per-head [k_nope | v] in kv, then every (head, run of tokens) that sees
 * them carries its online softmax on over them (states after the chunk in kv). Tasks: one head
 * for up to R1C_ATTN_MAXQ tokens; the grouping and the chunking change no bits (ops.h). */
static void attend_prefill(r1c_ctx *c, const r1c_ds_layer *L, const float *cache, const float *q, float *kv, int T, int pos0,
                           float *att) {
    const r1c_model *m = c->m;
    const r1c_hf_config *p = &m->cfg;
    const int64_t H = p->num_attention_heads, nope = p->qk_nope_head_dim, vd = p->v_head_dim;
    const int64_t cw = p->kv_lora_rank + p->qk_rope_head_dim;
    const int n_keys = pos0 + T, chunk = n_keys < KV_CHUNK ? n_keys : KV_CHUNK;
    float *ml = kv + (size_t)chunk * (size_t)(H * (nope + vd)); /* [H][T] (max, denominator) */
    int per = R1C_ATTN_MAXQ;
    while (per > 1 && (int64_t)((T + per - 1) / per) * H < 4 * c->ex.n_threads) per /= 2;
    for (int j0 = 0; j0 < n_keys; j0 += KV_CHUNK) {
        const int j1 = j0 + KV_CHUNK < n_keys ? j0 + KV_CHUNK : n_keys;
        r1c_mm_job e = {.w = L->wkv_b, .y = kv, .ldy = H * (nope + vd)};
        r1c_matmul(&c->ex, &e, 1, cache + (size_t)j0 * cw, cw, j1 - j0);
        const int tf = j0 > pos0 ? j0 - pos0 : 0; /* the first token that sees key j0 */
        const int n_tasks = (int)H * ((T - tf + per - 1) / per);
#pragma omp parallel for num_threads(n_tasks > 1 ? c->ex.n_threads : 1) schedule(dynamic, 1)
        for (int task = 0; task < n_tasks; task++) {
            const int h = task % (int)H, t0 = tf + task / (int)H * per, t1 = t0 + per < T ? t0 + per : T;
            attend_plain(m, q, cache, kv, pos0, t0, t1, h, j0, j1, ml + ((int64_t)h * T + t0) * 2,
                         c->ex.scratch[r1c_thread_index()], att);
        }
    }
}

/* the latent cache of layer l of a sequence */
static float *layer_cache(r1c_ctx *s, int l) {
    const r1c_hf_config *p = &s->m->cfg;
    return s->k_cache + (size_t)l * (size_t)s->n_ctx * (size_t)(p->kv_lora_rank + p->qk_rope_head_dim);
}

/* A batch of sequences (r1c_eval_batch): each token attends to its own sequence's cache. A
 * sequence with one token in the batch takes decode's absorbed path, one with several (a piece
 * of a prompt) prefill's, so that every sequence gets the bits it gets alone. The one-token
 * sequences' (token, run of heads) tasks share one parallel region. */
static r1c_status attend_batch(r1c_ctx *c, const r1c_ds_layer *L, int l, int T, float *kv, float *att) {
    const r1c_model *m = c->m;
    const r1c_hf_config *p = &m->cfg;
    const int H = p->num_attention_heads;
    const int64_t qhd = p->qk_nope_head_dim + p->qk_rope_head_dim, vd = p->v_head_dim;
    r1c_ctx *const *seqs = c->seqs;
    int *cnt = malloc(sizeof(int) * 2 * (size_t)T), *one = cnt + T, n_one = 0;
    if (!cnt) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int t = 0; t < T; t++) { /* tokens of t's sequence in the batch */
        cnt[t] = 0;
        for (int u = 0; u < T; u++) cnt[t] += seqs[u] == seqs[t];
        if (cnt[t] == 1) one[n_one++] = t;
    }
    int per = R1C_ATTN_MAXQ < H ? R1C_ATTN_MAXQ : H;
    while (per > 1 && n_one * ((H + per - 1) / per) < 2 * c->ex.n_threads) per = (per + 1) / 2;
    const int n_hr = (H + per - 1) / per, n_tasks = n_one * n_hr;
#pragma omp parallel for num_threads(n_tasks > 1 ? c->ex.n_threads : 1) schedule(dynamic, 1)
    for (int task = 0; task < n_tasks; task++) {
        const int t = one[task / n_hr], h0 = task % n_hr * per, h1 = h0 + per < H ? h0 + per : H;
        attend_absorbed(m, L, c->q + (int64_t)t * H * qhd, layer_cache(seqs[t], l), c->seq_pos[t] + 1, h0, h1,
                        c->ex.scratch[r1c_thread_index()], att + (int64_t)t * H * vd);
    }
    r1c_status st = R1C_OK;
    for (int t = 0; t < T && st == R1C_OK; t++) {
        int first = 1;
        for (int u = 0; u < t && first; u++) first = seqs[u] != seqs[t];
        if (cnt[t] < 2 || !first) continue;
        /* a prompt piece: its tokens together (gathered when the batch interleaves them) */
        const int n = cnt[t];
        int contiguous = 1;
        for (int i = 1; i < n && contiguous; i++) contiguous = t + i < T && seqs[t + i] == seqs[t];
        if (contiguous) {
            attend_prefill(c, L, layer_cache(seqs[t], l), c->q + (int64_t)t * H * qhd, kv, n, c->seq_pos[t],
                           att + (int64_t)t * H * vd);
            continue;
        }
        float *qg = malloc(sizeof(float) * (size_t)n * (size_t)H * (size_t)(qhd + vd)), *ag = qg + (int64_t)n * H * qhd;
        if (!qg) {
            st = r1c_error(R1C_ERR_NOMEM, "out of memory");
            break;
        }
        for (int u = t, i = 0; u < T; u++)
            if (seqs[u] == seqs[t]) memcpy(qg + (int64_t)(i++) * H * qhd, c->q + (int64_t)u * H * qhd, sizeof(float) * (size_t)(H * qhd));
        attend_prefill(c, L, layer_cache(seqs[t], l), qg, kv, n, c->seq_pos[t], ag);
        for (int u = t, i = 0; u < T; u++)
            if (seqs[u] == seqs[t]) memcpy(att + (int64_t)u * H * vd, ag + (int64_t)(i++) * H * vd, sizeof(float) * (size_t)(H * vd));
        free(qg);
    }
    free(cnt);
    return st;
}

static r1c_status ds_forward(r1c_ctx *c, const int32_t *ids, int T, float *logits, int all_logits) {
    const r1c_model *m = c->m;
    const r1c_hf_config *p = &m->cfg;
    const r1c_ds_model *ds = m->ds;
    const int64_t D = p->hidden_size, H = p->num_attention_heads, nope = p->qk_nope_head_dim, rope = p->qk_rope_head_dim;
    const int64_t vd = p->v_head_dim, kvl = p->kv_lora_rank, ql = p->q_lora_rank, qhd = nope + rope;
    const int64_t cw = kvl + rope; /* cache floats per token per layer */
    const int half = (int)rope / 2, pos0 = c->n_past, n_keys = pos0 + T;
    const float eps = (float)p->rms_norm_eps;
    const int nt = T > 1 ? c->ex.n_threads : 1;
    (void)nt;
    /* a batch of sequences (r1c_eval_batch): token t at its own sequence's next position */
    r1c_ctx *const *seqs = c->seqs;
    const int prefill = T > 1 && !seqs;
    const int64_t F = p->intermediate_size, MF = p->moe_intermediate_size * (p->n_shared_experts > 1 ? p->n_shared_experts : 1);
    const int64_t FF = F > MF ? F : MF, E = p->n_routed_experts, k = p->num_experts_per_tok;

    /* per-call buffers: q_a, attention output, expanded K/V of one chunk of keys and the
     * softmax states (prefill), FFN and MoE work: none grows with the context */
    const size_t n_qa = (size_t)(T * (ql ? ql : 1)), n_att = (size_t)(T * H * vd);
    const int chunk = seqs ? KV_CHUNK : n_keys < KV_CHUNK ? n_keys : KV_CHUNK;
    const size_t n_kv = prefill || (seqs && T > 1) ? (size_t)chunk * (size_t)(H * (nope + vd)) + (size_t)(2 * T * H) : 0;
    const int64_t FK = (int64_t)k * p->moe_intermediate_size + MF; /* one token's fused experts */
    const int64_t FFT = (T * FF > FK ? T * FF : FK);
    const size_t n_ffn = (size_t)(T * D) * 2 + (size_t)((T > k + 1 ? T : k + 1) * D) + (size_t)FFT * 2 +
                         (size_t)(T * E + 2 * E + T * k) + 64;
    float *buf = arch_buf(c, n_qa + n_att + n_kv + n_ffn);
    if (!buf) return r1c_error(R1C_ERR_NOMEM, "out of memory for a batch of %d tokens", T);
    float *qa = buf, *att = qa + n_qa, *kv = att + n_att, *ffn = kv + n_kv;

    for (int t = 0; t < T; t++) embed_row(m->embed, ids[t], c->x + t * D);
    if (c->hidden_log) memcpy(c->hidden_log, c->x, sizeof(float) * (size_t)(T * D));
    for (int t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            double a = (double)(seqs ? c->seq_pos[t] : pos0 + t) * (double)ds->rope_inv_freq[j];
            c->rope_cos[t * half + j] = (float)cos(a) * ds->rope_mscale;
            c->rope_sin[t * half + j] = (float)sin(a) * ds->rope_mscale;
        }

    for (int l = 0; l < p->num_hidden_layers; l++) {
        const r1c_ds_layer *L = &ds->layers[l];
        float *cache = c->k_cache + (size_t)l * c->n_ctx * cw;

        /* ---- attention ---- */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < T; t++) r1c_rmsnorm(c->xb + t * D, c->x + t * D, L->attn_norm, D, eps);
        float *kva = c->k; /* [T][kvl + rope] */
        if (ql) {
            r1c_mm_job a[2] = {{.w = L->wq_a, .y = qa, .ldy = ql}, {.w = L->wkv_a, .y = kva, .ldy = cw}};
            r1c_matmul(&c->ex, a, 2, c->xb, D, T);
            for (int t = 0; t < T; t++) r1c_rmsnorm(qa + t * ql, qa + t * ql, L->q_a_norm, ql, eps);
            r1c_mm_job b = {.w = L->wq_b, .y = c->q, .ldy = H * qhd};
            r1c_matmul(&c->ex, &b, 1, qa, ql, T);
        } else {
            r1c_mm_job a[2] = {{.w = L->wq, .y = c->q, .ldy = H * qhd}, {.w = L->wkv_a, .y = kva, .ldy = cw}};
            r1c_matmul(&c->ex, a, 2, c->xb, D, T);
        }
        for (int t = 0; t < T; t++) {
            float *row = seqs ? layer_cache(seqs[t], l) + (size_t)c->seq_pos[t] * cw : cache + (size_t)(pos0 + t) * cw;
            r1c_rmsnorm(row, kva + t * cw, L->kv_a_norm, kvl, eps); /* only the latent part is normalised */
            memcpy(row + kvl, kva + t * cw + kvl, sizeof(float) * (size_t)rope);
            r1c_rope(row + kvl, 1, (int)rope, c->rope_cos + t * half, c->rope_sin + t * half, 1);
            for (int h = 0; h < H; h++)
                r1c_rope(c->q + t * H * qhd + h * qhd + nope, 1, (int)rope, c->rope_cos + t * half, c->rope_sin + t * half, 1);
        }
        if (seqs) {
            r1c_status st = attend_batch(c, L, l, T, kv, att);
            if (st != R1C_OK) return st;
        } else if (prefill) {
            attend_prefill(c, L, cache, c->q, kv, T, pos0, att);
        } else { /* decode: runs of heads sharing the latent cache */
            int per = (int)((H + c->ex.n_threads - 1) / c->ex.n_threads);
            if (per > R1C_ATTN_MAXQ) per = R1C_ATTN_MAXQ;
            const int n_tasks = (int)((H + per - 1) / per);
#pragma omp parallel for num_threads(n_tasks > 1 ? c->ex.n_threads : 1) schedule(dynamic, 1)
            for (int task = 0; task < n_tasks; task++) {
                const int h0 = task * per, h1 = h0 + per < (int)H ? h0 + per : (int)H;
                attend_absorbed(m, L, c->q, cache, pos0 + 1, h0, h1, c->ex.scratch[r1c_thread_index()], att);
            }
        }
        r1c_mm_job o = {.w = L->wo, .y = c->xb2, .ldy = D};
        r1c_matmul(&c->ex, &o, 1, att, H * vd, T);
        for (int64_t i = 0; i < T * D; i++) c->x[i] += c->xb2[i];

        /* ---- feed-forward ---- */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < T; t++) r1c_rmsnorm(c->xb + t * D, c->x + t * D, L->ffn_norm, D, eps);
        if (L->moe) {
            r1c_status st = moe(c, L, c->xb, T, c->xb2, ffn);
            if (st != R1C_OK) return st;
        } else {
            float *hg = ffn, *hu = hg + FFT;
            mlp(c, L->w_gate, L->w_up, L->w_down, c->xb, T, hg, hu, c->xb2);
        }
        for (int64_t i = 0; i < T * D; i++) c->x[i] += c->xb2[i];
        if (c->hidden_log) memcpy(c->hidden_log + (size_t)(l + 1) * T * D, c->x, sizeof(float) * (size_t)(T * D));
    }

    if (!logits) return R1C_OK;
    if (seqs && c->seq_last) { /* a batch of sequences: logits only for each one's last token */
        int rows = 0;
        for (int t = 0; t < T; t++)
            if (c->seq_last[t]) r1c_rmsnorm(c->xb + (rows++) * D, c->x + t * D, m->final_norm, D, eps);
        r1c_mm_job head = {.w = m->lm_head, .y = logits, .ldy = p->vocab_size};
        r1c_matmul(&c->ex, &head, 1, c->xb, D, rows);
        return R1C_OK;
    }
    const int first = all_logits ? 0 : T - 1, rows = T - first;
    for (int t = first; t < T; t++) r1c_rmsnorm(c->xb + (t - first) * D, c->x + t * D, m->final_norm, D, eps);
    r1c_mm_job head = {.w = m->lm_head, .y = logits, .ldy = p->vocab_size};
    r1c_matmul(&c->ex, &head, 1, c->xb, D, rows);
    return R1C_OK;
}

const r1c_arch r1c_arch_deepseek_v2 = {"deepseek_v2", ds_bind, ds_forward, ds_cache_floats, ds_no_v, ds_scratch, ds_free, 1};
const r1c_arch r1c_arch_deepseek_v3 = {"deepseek_v3", ds_bind, ds_forward, ds_cache_floats, ds_no_v, ds_scratch, ds_free, 1};
