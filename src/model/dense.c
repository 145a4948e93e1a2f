/* dense.c — the dense decoder of DeepSeek-R1-Distill: Qwen2 (R1-Distill-Qwen) and Llama 3
 * (R1-Distill-Llama). One forward pass, top to bottom:
 *
 *   x = embed[ids]
 *   for each layer:
 *       h = rmsnorm(x) ; q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)
 *       rotate q, k (RoPE, Hugging Face rotate-half layout) ; append k, v to the cache
 *       x += attention(q, cache) Wo^T          (GQA: query head h reads KV head h / (H/KVH))
 *       h = rmsnorm(x) ; x += (silu(h Wg^T) * (h Wu^T)) Wd^T
 *   logits = rmsnorm(x) Wout^T                  (Wout = embed when tied)
 *
 * Every token's arithmetic is the same whether it arrives in a batch (prefill) or alone
 * (decode): the batch only changes how weights are streamed, never a reduction order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../base/mem.h"
#include "../base/parallel.h"
#include "../infer/ctx.h"
#include "model.h"

/* ------------------------------------------------------------------ binding */

static r1c_status bind_layer(r1c_model *m, int l, r1c_dense_layer *L) {
    const r1c_hf_config *c = &m->cfg;
    const int64_t D = c->hidden_size, F = c->intermediate_size, hd = c->head_dim;
    const int64_t qd = c->num_attention_heads * hd, kvd = c->num_key_value_heads * hd;
    char n[160];
    r1c_status st;
#define MAT(field, suffix, rows, cols)                                             \
    snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, suffix);                 \
    if ((st = r1c_bind_matrix(m, n, rows, cols, &L->field)) != R1C_OK) return st; \
    r1c_model_matmul_only(L->field)
#define VEC(field, suffix, len)                                                    \
    snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix);                        \
    if ((st = r1c_bind_vector(m, n, len, &L->field)) != R1C_OK) return st
    VEC(attn_norm, "input_layernorm.weight", D);
    MAT(wq, "self_attn.q_proj", qd, D);
    MAT(wk, "self_attn.k_proj", kvd, D);
    MAT(wv, "self_attn.v_proj", kvd, D);
    if (c->qkv_bias) {
        VEC(bq, "self_attn.q_proj.bias", qd);
        VEC(bk, "self_attn.k_proj.bias", kvd);
        VEC(bv, "self_attn.v_proj.bias", kvd);
    }
    MAT(wo, "self_attn.o_proj", D, qd);
    if (c->o_bias) { VEC(bo, "self_attn.o_proj.bias", D); }
    VEC(ffn_norm, "post_attention_layernorm.weight", D);
    MAT(wgate, "mlp.gate_proj", F, D);
    MAT(wup, "mlp.up_proj", F, D);
    MAT(wdown, "mlp.down_proj", D, F);
    if (c->mlp_bias)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s/config.json: mlp_bias = true is not supported", m->dir);
#undef MAT
#undef VEC
    return R1C_OK;
}

/* Rotary frequencies θ_j = theta^(-2j/d), rescaled as rope_scaling says (in double), or by
 * the per-frequency divisors a llama GGUF file carries instead. */
static void rope_frequencies(const r1c_hf_config *c, const float *factors, float *inv_freq) {
    const int half = c->head_dim / 2;
    for (int j = 0; j < half; j++) {
        double f = 1.0 / pow(c->rope_theta, (2.0 * j) / c->head_dim);
        if (factors) {
            inv_freq[j] = (float)(f / factors[j]);
            continue;
        }
        if (c->rope_scaling.type == R1C_ROPE_LINEAR) {
            f /= c->rope_scaling.factor;
        } else if (c->rope_scaling.type == R1C_ROPE_LLAMA3) {
            /* Llama 3.1: long wavelengths slowed by `factor`, short ones kept, a smooth
             * blend between; the original length comes from rope_scaling (as HF reads it). */
            const double factor = c->rope_scaling.factor, lo = c->rope_scaling.low_freq_factor;
            const double hi = c->rope_scaling.high_freq_factor;
            const double orig = c->rope_scaling.original_max_position_embeddings;
            const double wavelen = 2.0 * M_PI / f;
            if (wavelen > orig / lo) {
                f /= factor;
            } else if (wavelen >= orig / hi) {
                double s = (orig / wavelen - lo) / (hi - lo);
                f = (1.0 - s) * f / factor + s * f;
            }
        }
        inv_freq[j] = (float)f;
    }
}

static r1c_status dense_bind(r1c_model *m) {
    const r1c_hf_config *c = &m->cfg;
    if (c->rope_scaling.type == R1C_ROPE_YARN)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s/config.json: rope_scaling type 'yarn' is not supported for model_type %s",
                         m->dir, c->model_type);
    const int64_t D = c->hidden_size, V = c->vocab_size;
    r1c_status st;
    m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
    m->rope_inv_freq = r1c_alloc(sizeof(float) * (size_t)(c->head_dim / 2));
    if (!m->layers || !m->rope_inv_freq || r1c_model_own(m, m->rope_inv_freq) != R1C_OK)
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    rope_frequencies(c, m->rope_factors, m->rope_inv_freq);

    if ((st = r1c_bind_matrix(m, "model.embed_tokens.weight", V, D, &m->embed)) != R1C_OK) return st;
    for (int l = 0; l < c->num_hidden_layers; l++)
        if ((st = bind_layer(m, l, &m->layers[l])) != R1C_OK) return st;
    if ((st = r1c_bind_vector(m, "model.norm.weight", D, &m->final_norm)) != R1C_OK) return st;
    if (c->tie_word_embeddings) {
        m->lm_head = m->embed;
    } else if ((st = r1c_bind_matrix(m, "lm_head.weight", V, D, &m->lm_head)) != R1C_OK) {
        return st;
    } else {
        r1c_model_matmul_only(m->lm_head);
    }
    /* a decode step reads every weight once, but only one row of the embedding table */
    m->decode_bytes = m->weight_bytes - (c->tie_word_embeddings ? 0 : (int64_t)m->embed->nbytes);
    return R1C_OK;
}

static int64_t dense_kv_floats(const r1c_model *m) {
    return (int64_t)m->cfg.num_key_value_heads * m->cfg.head_dim;
}

/* ------------------------------------------------------------------ forward */

/* one row of the embedding table, widened (FP8 tables with their block scales too) */
static void embed_row(const r1c_tensor *e, int32_t id, float *out) { r1c_row_to_f32(e, id, out); }

static void add_bias(float *y, const float *b, int T, int64_t n) {
    if (!b) return;
    for (int t = 0; t < T; t++)
        for (int64_t i = 0; i < n; i++) y[t * n + i] += b[i];
}

static r1c_status dense_forward(r1c_ctx *c, const int32_t *ids, int T, float *logits, int all_logits) {
    const r1c_model *m = c->m;
    const r1c_hf_config *p = &m->cfg;
    const int64_t D = p->hidden_size, F = p->intermediate_size, hd = p->head_dim;
    const int H = p->num_attention_heads, KVH = p->num_key_value_heads, half = (int)hd / 2;
    const int64_t qd = (int64_t)H * hd, kvd = (int64_t)KVH * hd;
    const int group = H / KVH;
    const float eps = (float)p->rms_norm_eps, scale = 1.0f / sqrtf((float)hd);
    const r1c_exec *ex = &c->ex;
    const int nt = T > 1 ? ex->n_threads : 1; /* per-token loops: threads only for batches */
    (void)nt;
    const int pos0 = c->n_past;

    for (int t = 0; t < T; t++) embed_row(m->embed, ids[t], c->x + t * D);
    /* a batch of sequences (r1c_eval_batch): token t is at its own sequence's next position and
     * reads and writes that sequence's cache */
    r1c_ctx *const *seqs = c->seqs;
#define POS(t) (seqs ? c->seq_pos[t] : pos0 + (t))
#define KCACHE(t, l) (seqs ? seqs[t]->k_cache + (size_t)(l) * seqs[t]->n_ctx * kvd : c->k_cache + (size_t)(l) * c->n_ctx * kvd)
#define VCACHE(t, l) (seqs ? seqs[t]->v_cache + (size_t)(l) * seqs[t]->n_ctx * kvd : c->v_cache + (size_t)(l) * c->n_ctx * kvd)
    for (int t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            double a = (double)POS(t) * (double)m->rope_inv_freq[j];
            c->rope_cos[t * half + j] = (float)cos(a);
            c->rope_sin[t * half + j] = (float)sin(a);
        }

    for (int l = 0; l < p->num_hidden_layers; l++) {
        const r1c_dense_layer *L = &m->layers[l];

        /* attention block */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < T; t++) r1c_rmsnorm(c->xb + t * D, c->x + t * D, L->attn_norm, D, eps);
        r1c_mm_job qkv[3] = {{.w = L->wq, .y = c->q, .ldy = qd}, {.w = L->wk, .y = c->k, .ldy = kvd}, {.w = L->wv, .y = c->v, .ldy = kvd}};
        r1c_matmul(ex, qkv, 3, c->xb, D, T);
        add_bias(c->q, L->bq, T, qd);
        add_bias(c->k, L->bk, T, kvd);
        add_bias(c->v, L->bv, T, kvd);
        for (int t = 0; t < T; t++) {
            r1c_rope(c->q + t * qd, H, (int)hd, c->rope_cos + t * half, c->rope_sin + t * half, m->rope_interleaved);
            r1c_rope(c->k + t * kvd, KVH, (int)hd, c->rope_cos + t * half, c->rope_sin + t * half, m->rope_interleaved);
            memcpy(KCACHE(t, l) + (size_t)POS(t) * kvd, c->k + t * kvd, sizeof(float) * (size_t)kvd);
            memcpy(VCACHE(t, l) + (size_t)POS(t) * kvd, c->v + t * kvd, sizeof(float) * (size_t)kvd);
        }
        /* One task: hb heads sharing a KV head, for tb consecutive tokens (their keys and values
         * read once per tile for all of them). The grouping changes no bits (ops.h). */
        const r1c_attn at = {.ldk = kvd, .ldv = kvd, .dk = (int)hd, .dv = (int)hd, .scale = scale};
        int hb = group < R1C_ATTN_MAXQ ? group : R1C_ATTN_MAXQ, tb = seqs ? 1 : R1C_ATTN_MAXQ / hb; /* (a batch's tokens: caches of their own) */
        while (hb > 1 && T * KVH * ((group + hb - 1) / hb) < ex->n_threads) hb = (hb + 1) / 2; /* decode: all threads busy */
        while (tb > 1 && ((T + tb - 1) / tb) * KVH * ((group + hb - 1) / hb) < 4 * ex->n_threads) tb /= 2;
        const int n_hb = (group + hb - 1) / hb, n_tb = (T + tb - 1) / tb, n_tasks = n_tb * KVH * n_hb;
#pragma omp parallel for num_threads(n_tasks > 1 ? ex->n_threads : 1) schedule(dynamic, 1)
        for (int task = 0; task < n_tasks; task++) {
            const int t0 = task / (KVH * n_hb) * tb, kvh = task / n_hb % KVH, h0 = kvh * group + task % n_hb * hb;
            const int t1 = t0 + tb < T ? t0 + tb : T, h1 = h0 + hb < (kvh + 1) * group ? h0 + hb : (kvh + 1) * group;
            r1c_attn a = at;
            a.k = KCACHE(t0, l) + kvh * hd, a.v = VCACHE(t0, l) + kvh * hd;
            r1c_attn_query qs[R1C_ATTN_MAXQ];
            int n = 0;
            for (int t = t0; t < t1; t++)
                for (int h = h0; h < h1; h++)
                    qs[n++] = (r1c_attn_query){.q = c->q + t * qd + h * hd, .out = c->att + t * qd + h * hd, .n_keys = POS(t) + 1};
            r1c_attention(&a, qs, n, ex->scratch[r1c_thread_index()]);
        }
        r1c_mm_job o = {.w = L->wo, .y = c->xb2, .ldy = D};
        r1c_matmul(ex, &o, 1, c->att, qd, T);
        add_bias(c->xb2, L->bo, T, D);
        for (int64_t i = 0; i < T * D; i++) c->x[i] += c->xb2[i];

        /* feed-forward block */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < T; t++) r1c_rmsnorm(c->xb + t * D, c->x + t * D, L->ffn_norm, D, eps);
        r1c_mm_job gu[2] = {{.w = L->wgate, .y = c->hb, .ldy = F}, {.w = L->wup, .y = c->hb2, .ldy = F}};
        r1c_matmul(ex, gu, 2, c->xb, D, T);
        r1c_silu_mul(ex, c->hb, c->hb2, T * F);
        r1c_mm_job down = {.w = L->wdown, .y = c->xb2, .ldy = D};
        r1c_matmul(ex, &down, 1, c->hb, F, T);
        for (int64_t i = 0; i < T * D; i++) c->x[i] += c->xb2[i];
    }

#undef POS
#undef KCACHE
#undef VCACHE
    if (!logits) return R1C_OK;
    if (seqs && c->seq_last) { /* a batch of sequences: logits only for each one's last token */
        int rows = 0;
        for (int t = 0; t < T; t++)
            if (c->seq_last[t]) r1c_rmsnorm(c->xb + (rows++) * D, c->x + t * D, m->final_norm, D, eps);
        r1c_mm_job head = {.w = m->lm_head, .y = logits, .ldy = p->vocab_size};
        r1c_matmul(ex, &head, 1, c->xb, D, rows);
        return R1C_OK;
    }
    const int first = all_logits ? 0 : T - 1, rows = T - first;
    for (int t = first; t < T; t++) r1c_rmsnorm(c->xb + (t - first) * D, c->x + t * D, m->final_norm, D, eps);
    r1c_mm_job head = {.w = m->lm_head, .y = logits, .ldy = p->vocab_size};
    r1c_matmul(ex, &head, 1, c->xb, D, rows);
    return R1C_OK;
}

static size_t dense_scratch(const r1c_model *m) { return r1c_attention_scratch_floats((int)m->cfg.head_dim, 0); }

const r1c_arch r1c_arch_qwen2 = {"qwen2", dense_bind, dense_forward, dense_kv_floats, dense_kv_floats, dense_scratch, NULL, 1};
const r1c_arch r1c_arch_llama = {"llama", dense_bind, dense_forward, dense_kv_floats, dense_kv_floats, dense_scratch, NULL, 1};
