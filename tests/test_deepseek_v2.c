/* test_deepseek_v2.c — a DeepSeek-V2-style model built here from random weights, run by r1c and
 * by a scalar double-precision reference written in this file straight from the math (no r1c
 * kernel is called by the reference).
 *
 * What it proves, beyond the V3 golden test (which has q_lora_rank, equal qk/v dims, sigmoid
 * noaux_tc routing):
 *  - MLA with q_lora_rank null: q comes from self_attn.q_proj.
 *  - v_head_dim (10) differs from qk_nope_head_dim (12) and from qk_rope_head_dim (8), so every
 *    per-head offset into kv_b_proj ([nope rows | v rows] per head), into q ([nope | rope] per
 *    head) and into o_proj's input (H x v_head_dim) is exercised with distinct sizes.
 *  - The absorbed attention of decode (q_abs = W_uk^T q_nope against the latent cache, output
 *    W_uv (sum p c)) equals the expanded ("naive") attention the reference computes
 *    (k = [W_uk c | k_pe], v = W_uv c per head), and so does r1c's own plain prefill path.
 *  - YaRN as DeepSeek defines it (interleaved pairs, blended frequencies, softmax scale
 *    (nope+rope)^-0.5 * yarn_mscale(factor, mscale_all_dim)^2, cos/sin times
 *    yarn_mscale(mscale)/yarn_mscale(mscale_all_dim)), on every position (the 7-token prompt
 *    already fails without YaRN) and past original_max_position_embeddings (16). mscale =
 *    mscale_all_dim = 0.707 as in DeepSeek-V2's config, so the cos/sin factor is 1 and is not
 *    discriminated (implementations disagree when the two differ).
 *  - DeepSeek-V2 routing: softmax scores; greedy top-k, or group_limited_greedy (a group's
 *    score is its best expert's score, keep topk_group groups, top-k inside them); weights are
 *    the chosen softmax scores, renormalised only when norm_topk_prob, times
 *    routed_scaling_factor (as vLLM and DeepSeek-V3 do; see the note below); plus the shared
 *    experts (width n_shared_experts x moe_intermediate_size); a dense first layer.
 *    r1c's chosen expert sets (ctx->route_ids) and weights (route_w) are checked against the
 *    reference for every token and MoE layer, in prefill and in decode.
 *  - Weights stored as F32 and as BF16 (the reference uses the same BF16 values, widened).
 *
 * Variants: config A (greedy, norm_topk_prob false, routed_scaling_factor 1.0) and config B
 * (group_limited_greedy with n_group 4 / topk_group 2, norm_topk_prob true, factor 1.5), each
 * stored F32 and BF16; 1 and 2 threads; prompts of 1, 7 and 40 tokens, every position, each
 * run three ways: prefill (one r1c_eval, one batch, all logits), prefill in batches of 16 (the
 * plain path over latents cached by earlier batches), decode (one token per r1c_eval: the
 * absorbed path). Each against the reference, prefill against decode, and 1 thread against 2
 * (the API promises identical bits for every thread count).
 *
 * Bound: r1c computes in float32 (weights widened exactly), the reference in double. Logits are
 * O(1) (|logit| < ~4), activations O(1-10) after 3 layers; float32 rounding of dot products of
 * at most 96 terms contributes ~1e-7 relative per step, a few 1e-6 absolute at the logits.
 * max |delta| <= 1e-4 leaves a margin of more than 10x. The prompts are chosen (deterministic
 * search) so that every routing decision has a score gap >= 5e-5 and every argmax a top1-top2
 * margin >= 1e-3 in the reference, so no choice is a near-tie that float rounding could flip.
 *
 * Note on norm_topk_prob: DeepSeek's own modeling_deepseek.py for V2 normalises *instead of*
 * scaling when norm_topk_prob is true (transformers' native DeepseekV2 scales and never
 * normalises); vLLM and the V3 code normalise and then scale. DeepSeek-V2's and V2-Lite's
 * configs set norm_topk_prob false, where all of them agree. Config B pins the vLLM/V3 reading. */
#include <math.h>

#include "infer/ctx.h"
#include "io/safetensors.h"
#include "r1c.h"
#include "test_util.h"

enum {
    D = 48, H = 4, NOPE = 12, ROPE = 8, VD = 10, QHD = NOPE + ROPE, KVL = 24, FF = 96, MF = 40,
    NE = 8, NSH = 2, TOPK = 3, NL = 3, NMOE = 2, NV = 96, MAXPOS = 64, MAXT = 40,
};
#define THETA 10000.0
#define EPS 1e-6
#define YARN_FACTOR 4.0
#define YARN_ORIG 16.0
#define BETA_FAST 32.0
#define BETA_SLOW 1.0
#define MSCALE 0.707
#define MSCALE_ALL 0.707
#define TOL 1e-4
#define GAP 5e-5
#define MARGIN 1e-3

/* ------------------------------------------------------------------ weights */

typedef struct weights {
    float *embed, *lm_head, *norm;
    struct {
        float *in_norm, *post_norm, *wq, *wkv_a, *kv_norm, *wkv_b, *wo;
        float *gate, *up, *down; /* dense MLP (layer 0) or the shared experts */
        float *router, *eg[NE], *eu[NE], *ed[NE];
    } L[NL];
} weights;

enum { LINEAR, NORM, EMBED };
typedef struct spec {
    char name[96];
    int nd;
    int64_t rows, cols;
    int kind;
    float **slot;
} spec;

static int add(spec *s, int n, int kind, float **slot, int64_t rows, int64_t cols, const char *fmt, int a, int b) {
    snprintf(s[n].name, sizeof s[n].name, fmt, a, b);
    s[n].nd = kind == NORM ? 1 : 2;
    s[n].rows = rows, s[n].cols = cols, s[n].kind = kind, s[n].slot = slot;
    return n + 1;
}

/* Every tensor of the checkpoint, with the HF names deepseek.c binds. */
static int list_tensors(weights *w, spec *s) {
    int n = 0;
    n = add(s, n, EMBED, &w->embed, NV, D, "model.embed_tokens.weight", 0, 0);
    for (int l = 0; l < NL; l++) {
        n = add(s, n, NORM, &w->L[l].in_norm, D, 1, "model.layers.%d.input_layernorm.weight", l, 0);
        n = add(s, n, LINEAR, &w->L[l].wq, H * QHD, D, "model.layers.%d.self_attn.q_proj.weight", l, 0);
        n = add(s, n, LINEAR, &w->L[l].wkv_a, KVL + ROPE, D, "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", l, 0);
        n = add(s, n, NORM, &w->L[l].kv_norm, KVL, 1, "model.layers.%d.self_attn.kv_a_layernorm.weight", l, 0);
        n = add(s, n, LINEAR, &w->L[l].wkv_b, H * (NOPE + VD), KVL, "model.layers.%d.self_attn.kv_b_proj.weight", l, 0);
        n = add(s, n, LINEAR, &w->L[l].wo, D, H * VD, "model.layers.%d.self_attn.o_proj.weight", l, 0);
        n = add(s, n, NORM, &w->L[l].post_norm, D, 1, "model.layers.%d.post_attention_layernorm.weight", l, 0);
        if (l == 0) {
            n = add(s, n, LINEAR, &w->L[l].gate, FF, D, "model.layers.%d.mlp.gate_proj.weight", l, 0);
            n = add(s, n, LINEAR, &w->L[l].up, FF, D, "model.layers.%d.mlp.up_proj.weight", l, 0);
            n = add(s, n, LINEAR, &w->L[l].down, D, FF, "model.layers.%d.mlp.down_proj.weight", l, 0);
            continue;
        }
        n = add(s, n, LINEAR, &w->L[l].router, NE, D, "model.layers.%d.mlp.gate.weight", l, 0);
        for (int e = 0; e < NE; e++) {
            n = add(s, n, LINEAR, &w->L[l].eg[e], MF, D, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e);
            n = add(s, n, LINEAR, &w->L[l].eu[e], MF, D, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e);
            n = add(s, n, LINEAR, &w->L[l].ed[e], D, MF, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
        }
        n = add(s, n, LINEAR, &w->L[l].gate, NSH * MF, D, "model.layers.%d.mlp.shared_experts.gate_proj.weight", l, 0);
        n = add(s, n, LINEAR, &w->L[l].up, NSH * MF, D, "model.layers.%d.mlp.shared_experts.up_proj.weight", l, 0);
        n = add(s, n, LINEAR, &w->L[l].down, D, NSH * MF, "model.layers.%d.mlp.shared_experts.down_proj.weight", l, 0);
    }
    n = add(s, n, NORM, &w->norm, D, 1, "model.norm.weight", 0, 0);
    n = add(s, n, LINEAR, &w->lm_head, NV, D, "lm_head.weight", 0, 0);
    return n;
}

static double randn(uint64_t *s) { /* Box-Muller */
    double u1 = ((double)(test_rand(s) >> 11) + 1.0) * 0x1.0p-53, u2 = (double)(test_rand(s) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Master weights: Linear N(0, 1/fan_in), embeddings N(0, 1), norms 1 + 0.1 N(0, 1). */
static void make_weights(weights *w, uint64_t seed) {
    spec s[128];
    int n = list_tensors(w, s);
    uint64_t g = seed;
    for (int i = 0; i < n; i++) {
        const int64_t numel = s[i].rows * s[i].cols;
        float *p = xmalloc(sizeof(float) * (size_t)numel);
        for (int64_t j = 0; j < numel; j++) {
            double z = randn(&g);
            p[j] = (float)(s[i].kind == NORM ? 1.0 + 0.1 * z : s[i].kind == EMBED ? z : z / sqrt((double)s[i].cols));
        }
        *s[i].slot = p;
    }
}

/* dst = src with every value rounded to BF16 (what a BF16 checkpoint holds) */
static void round_weights(weights *dst, weights *src) {
    spec s[128], d[128];
    int n = list_tensors(src, s);
    list_tensors(dst, d);
    for (int i = 0; i < n; i++) {
        const int64_t numel = s[i].rows * s[i].cols;
        float *p = xmalloc(sizeof(float) * (size_t)numel);
        for (int64_t j = 0; j < numel; j++) p[j] = r1c_bf16_to_f32(r1c_f32_to_bf16((*s[i].slot)[j]));
        *d[i].slot = p;
    }
}

static void free_weights(weights *w) {
    spec s[128];
    int n = list_tensors(w, s);
    for (int i = 0; i < n; i++) free(*s[i].slot);
}

/* ------------------------------------------------------------------ configs */

typedef struct variant {
    const char *name;
    int group_limited; /* topk_method group_limited_greedy (n_group 4, topk_group 2), else greedy */
    int norm_topk_prob;
    double scaling;    /* routed_scaling_factor */
    int bf16;
} variant;

enum { NGROUP = 4, TOPK_GROUP = 2 };

static int write_checkpoint(const char *dir, const variant *v, weights *w) {
    char path[1024], cfg[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int len = snprintf(cfg, sizeof cfg,
        "{\n  \"architectures\": [\"DeepseekV2ForCausalLM\"],\n  \"model_type\": \"deepseek_v2\",\n"
        "  \"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, \"moe_intermediate_size\": %d,\n"
        "  \"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d,\n"
        "  \"q_lora_rank\": null, \"kv_lora_rank\": %d, \"qk_nope_head_dim\": %d, \"qk_rope_head_dim\": %d,\n"
        "  \"v_head_dim\": %d, \"n_routed_experts\": %d, \"n_shared_experts\": %d, \"num_experts_per_tok\": %d,\n"
        "  \"first_k_dense_replace\": 1, \"moe_layer_freq\": 1, \"scoring_func\": \"softmax\",\n"
        "  \"topk_method\": \"%s\", %s\"norm_topk_prob\": %s, \"routed_scaling_factor\": %g,\n"
        "  \"rope_scaling\": {\"type\": \"yarn\", \"factor\": %g, \"original_max_position_embeddings\": %g,\n"
        "    \"beta_fast\": %g, \"beta_slow\": %g, \"mscale\": %g, \"mscale_all_dim\": %g},\n"
        "  \"max_position_embeddings\": %d, \"rms_norm_eps\": %g, \"rope_theta\": %g,\n"
        "  \"hidden_act\": \"silu\", \"tie_word_embeddings\": false, \"attention_bias\": false,\n"
        "  \"bos_token_id\": 0, \"eos_token_id\": 1, \"torch_dtype\": \"%s\"\n}\n",
        NV, D, FF, MF, NL, H, H, KVL, NOPE, ROPE, VD, NE, NSH, TOPK,
        v->group_limited ? "group_limited_greedy" : "greedy",
        v->group_limited ? "\"n_group\": 4, \"topk_group\": 2, " : "",
        v->norm_topk_prob ? "true" : "false", v->scaling, YARN_FACTOR, YARN_ORIG, BETA_FAST, BETA_SLOW, MSCALE,
        MSCALE_ALL, MAXPOS, EPS, THETA, v->bf16 ? "bfloat16" : "float32");
    if (!write_file(path, cfg, (size_t)len)) return 0;
    spec s[128];
    int n = list_tensors(w, s);
    r1c_st_wtensor t[128];
    uint16_t *half[128] = {0};
    for (int i = 0; i < n; i++) {
        const int64_t numel = s[i].rows * s[i].cols;
        t[i] = (r1c_st_wtensor){.name = s[i].name, .dtype = v->bf16 ? R1C_BF16 : R1C_F32, .n_dims = s[i].nd};
        t[i].shape[0] = s[i].rows;
        t[i].shape[1] = s[i].cols;
        if (v->bf16) {
            half[i] = xmalloc(sizeof(uint16_t) * (size_t)numel);
            for (int64_t j = 0; j < numel; j++) half[i][j] = r1c_f32_to_bf16((*s[i].slot)[j]);
            t[i].data = half[i];
        } else {
            t[i].data = *s[i].slot;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    r1c_status st = r1c_st_write(path, t, n, NULL);
    for (int i = 0; i < n; i++) free(half[i]);
    CHECK(st == R1C_OK, "write %s: %s", path, r1c_last_error());
    return st == R1C_OK;
}

/* ---------------------------------------------------------------- reference */

typedef struct ref_out {
    double logits[MAXT][NV];
    int ids[NMOE][MAXT][TOPK]; /* chosen experts, best first */
    double w[NMOE][MAXT][TOPK];
    double min_gap;            /* smallest score gap of any routing decision */
    double min_margin;         /* smallest top1 - top2 logit margin */
    int group_mattered;        /* decisions where the group limit changed the expert set */
} ref_out;

static void rmsnorm_d(double *y, const double *x, const float *w, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const double r = 1.0 / sqrt(ss / n + EPS);
    for (int i = 0; i < n; i++) y[i] = (double)w[i] * (x[i] * r);
}

static void linear_d(double *y, const float *W, const double *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double a = 0;
        for (int c = 0; c < cols; c++) a += (double)W[(size_t)r * cols + c] * x[c];
        y[r] = a;
    }
}

static double silu_d(double x) { return x / (1.0 + exp(-x)); }

/* y += scale * down(silu(gate x) * up x), width F */
static void mlp_d(double *y, const float *g, const float *u, const float *dn, int F, const double *x, double scale) {
    double hg[FF > NSH * MF ? FF : NSH * MF], hu[FF > NSH * MF ? FF : NSH * MF], o[D];
    linear_d(hg, g, x, F, D);
    linear_d(hu, u, x, F, D);
    for (int i = 0; i < F; i++) hg[i] = silu_d(hg[i]) * hu[i];
    linear_d(o, dn, hg, D, F);
    for (int i = 0; i < D; i++) y[i] += scale * o[i];
}

static double yarn_mscale_d(double factor, double m) { return factor <= 1 ? 1.0 : 0.1 * m * log(factor) + 1.0; }

/* YaRN frequencies, as the README of tests/data/deepseek_v3 (DeepSeek's precompute_freqs_cis) */
static void yarn_freqs(double *f) {
    const int d = ROPE;
    double low = floor(d * log(YARN_ORIG / (BETA_FAST * 2 * M_PI)) / (2 * log(THETA)));
    double high = ceil(d * log(YARN_ORIG / (BETA_SLOW * 2 * M_PI)) / (2 * log(THETA)));
    low = fmax(low, 0), high = fmin(high, d - 1);
    if (low == high) high += 0.001;
    for (int i = 0; i < d / 2; i++) {
        double base = pow(THETA, -(double)(2 * i) / d);
        double ramp = fmin(fmax((i - low) / (high - low), 0.0), 1.0);
        f[i] = base / YARN_FACTOR * ramp + base * (1 - ramp);
    }
}

/* interleaved pairs (2i, 2i+1), angle pos * f_i, cos/sin times ms */
static void rope_d(double *x, int pos, const double *f, double ms) {
    for (int i = 0; i < ROPE / 2; i++) {
        const double a = pos * f[i], c = cos(a) * ms, s = sin(a) * ms;
        const double x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
}

static int by_score_desc(const double *s, int a, int b) { return s[a] > s[b] || (s[a] == s[b] && a < b); }

/* sorts idx[0..n) by s descending (insertion sort, ties to the lower index) */
static void sort_desc(int *idx, int n, const double *s) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && by_score_desc(s, idx[j], idx[j - 1]); j--) {
            int t = idx[j];
            idx[j] = idx[j - 1], idx[j - 1] = t;
        }
}

/* DeepSeek-V2 routing of one token: ids (best first) and weights; returns the smallest gap of
 * the decisions taken (group choice, expert choice) */
static double route_d(const variant *v, const double *logit, int *ids, double *wt, int *group_mattered) {
    double sc[NE], mx = -INFINITY, sum = 0, gap = INFINITY;
    for (int e = 0; e < NE; e++) mx = fmax(mx, logit[e]);
    for (int e = 0; e < NE; e++) sum += (sc[e] = exp(logit[e] - mx));
    for (int e = 0; e < NE; e++) sc[e] /= sum;
    int cand[NE], nc = 0;
    if (v->group_limited) {
        const int per = NE / NGROUP;
        double gs[NGROUP];
        int gi[NGROUP];
        for (int g = 0; g < NGROUP; g++) {
            gs[g] = -INFINITY, gi[g] = g;
            for (int i = 0; i < per; i++) gs[g] = fmax(gs[g], sc[g * per + i]);
        }
        sort_desc(gi, NGROUP, gs);
        gap = gs[gi[TOPK_GROUP - 1]] - gs[gi[TOPK_GROUP]];
        for (int e = 0; e < NE; e++)
            for (int t = 0; t < TOPK_GROUP; t++)
                if (e / per == gi[t]) cand[nc++] = e;
    } else {
        for (int e = 0; e < NE; e++) cand[nc++] = e;
    }
    sort_desc(cand, nc, sc);
    if (nc > TOPK) gap = fmin(gap, sc[cand[TOPK - 1]] - sc[cand[TOPK]]);
    double wsum = 0;
    for (int t = 0; t < TOPK; t++) ids[t] = cand[t], wsum += sc[cand[t]];
    for (int t = 0; t < TOPK; t++) wt[t] = (v->norm_topk_prob ? sc[ids[t]] / wsum : sc[ids[t]]) * v->scaling;
    if (v->group_limited) { /* would plain greedy have chosen differently? */
        int all[NE];
        for (int e = 0; e < NE; e++) all[e] = e;
        sort_desc(all, NE, sc);
        int same = 1;
        for (int a = 0; a < TOPK; a++) {
            int found = 0;
            for (int b = 0; b < TOPK; b++) found |= all[a] == ids[b];
            same &= found;
        }
        *group_mattered += !same;
    }
    return gap;
}

/* The whole prompt, causally, with the expanded (naive) MLA attention. */
static void reference(const variant *v, const weights *w, const int32_t *tok, int T, ref_out *out) {
    static double x[MAXT][D], h[MAXT][D], q[MAXT][H * QHD], kva[MAXT][KVL + ROPE], c[MAXT][KVL], kv[MAXT][H * (NOPE + VD)];
    static double att[MAXT][H * VD];
    double f[ROPE / 2];
    yarn_freqs(f);
    const double rope_ms = yarn_mscale_d(YARN_FACTOR, MSCALE) / yarn_mscale_d(YARN_FACTOR, MSCALE_ALL);
    const double m_all = yarn_mscale_d(YARN_FACTOR, MSCALE_ALL);
    const double scale = 1.0 / sqrt((double)QHD) * m_all * m_all;
    out->min_gap = INFINITY, out->min_margin = INFINITY, out->group_mattered = 0;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++) x[t][i] = w->embed[(size_t)tok[t] * D + i];
    for (int l = 0; l < NL; l++) {
        for (int t = 0; t < T; t++) {
            rmsnorm_d(h[t], x[t], w->L[l].in_norm, D);
            linear_d(q[t], w->L[l].wq, h[t], H * QHD, D);
            linear_d(kva[t], w->L[l].wkv_a, h[t], KVL + ROPE, D);
            rmsnorm_d(c[t], kva[t], w->L[l].kv_norm, KVL); /* the latent only, not k_pe */
            rope_d(kva[t] + KVL, t, f, rope_ms);            /* k_pe, shared by the heads */
            for (int hh = 0; hh < H; hh++) rope_d(q[t] + hh * QHD + NOPE, t, f, rope_ms);
            linear_d(kv[t], w->L[l].wkv_b, c[t], H * (NOPE + VD), KVL); /* per head [k_nope | v] */
        }
        for (int t = 0; t < T; t++)
            for (int hh = 0; hh < H; hh++) {
                double s[MAXT], mx = -INFINITY, sum = 0;
                const double *qh = q[t] + hh * QHD;
                for (int j = 0; j <= t; j++) {
                    const double *kn = kv[j] + hh * (NOPE + VD), *pe = kva[j] + KVL;
                    double a = 0;
                    for (int i = 0; i < NOPE; i++) a += qh[i] * kn[i];
                    for (int i = 0; i < ROPE; i++) a += qh[NOPE + i] * pe[i];
                    s[j] = a * scale;
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= t; j++) sum += (s[j] = exp(s[j] - mx));
                for (int i = 0; i < VD; i++) {
                    double a = 0;
                    for (int j = 0; j <= t; j++) a += s[j] / sum * kv[j][hh * (NOPE + VD) + NOPE + i];
                    att[t][hh * VD + i] = a;
                }
            }
        for (int t = 0; t < T; t++) {
            double o[D];
            linear_d(o, w->L[l].wo, att[t], D, H * VD);
            for (int i = 0; i < D; i++) x[t][i] += o[i];
            rmsnorm_d(h[t], x[t], w->L[l].post_norm, D);
            if (l == 0) {
                mlp_d(x[t], w->L[l].gate, w->L[l].up, w->L[l].down, FF, h[t], 1.0);
                continue;
            }
            double lg[NE];
            int *ids = out->ids[l - 1][t];
            double *wt = out->w[l - 1][t];
            linear_d(lg, w->L[l].router, h[t], NE, D);
            out->min_gap = fmin(out->min_gap, route_d(v, lg, ids, wt, &out->group_mattered));
            double y[D] = {0};
            for (int k = 0; k < TOPK; k++) mlp_d(y, w->L[l].eg[ids[k]], w->L[l].eu[ids[k]], w->L[l].ed[ids[k]], MF, h[t], wt[k]);
            mlp_d(y, w->L[l].gate, w->L[l].up, w->L[l].down, NSH * MF, h[t], 1.0);
            for (int i = 0; i < D; i++) x[t][i] += y[i];
        }
    }
    for (int t = 0; t < T; t++) {
        rmsnorm_d(h[t], x[t], w->norm, D);
        linear_d(out->logits[t], w->lm_head, h[t], NV, D);
        double a = -INFINITY, b = -INFINITY;
        for (int i = 0; i < NV; i++) {
            const double z = out->logits[t][i];
            if (z > a) b = a, a = z;
            else if (z > b) b = z;
        }
        out->min_margin = fmin(out->min_margin, a - b);
    }
}

/* ------------------------------------------------------------------- checks */

static int argmax_f(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}
static int argmax_d(const double *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

typedef struct stats {
    double pre_ref, dec_ref, pre_dec, route_w; /* max |delta| */
} stats;

static double vs_ref(const char *what, const float *got, const ref_out *r, int T) {
    double d = 0;
    int same = 1;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < NV; i++) {
            const double e = fabs((double)got[(size_t)t * NV + i] - r->logits[t][i]);
            if (!(e <= d)) d = e; /* NaN fails */
        }
        same &= argmax_f(got + (size_t)t * NV, NV) == argmax_d(r->logits[t], NV);
    }
    CHECK(d <= TOL, "%s: max |delta| vs reference %.3g", what, d);
    CHECK(same, "%s: argmax differs from the reference", what);
    return d;
}

/* r1c's expert sets (route_ids [NMOE][T][TOPK]) and weights at tokens t0.. against the reference's */
static double check_routes(const char *what, const int32_t *ri, const float *rw, int T, int t0, const ref_out *r) {
    int ok = 1;
    double wd = 0;
    for (int j = 0; j < NMOE; j++)
        for (int t = 0; t < T; t++)
            for (int a = 0; a < TOPK; a++) {
                int found = 0;
                for (int b = 0; b < TOPK; b++) {
                    const int s = (j * T + t) * TOPK + b;
                    if (ri[s] == r->ids[j][t0 + t][a]) {
                        found++;
                        wd = fmax(wd, fabs((double)rw[s] - r->w[j][t0 + t][a]));
                    }
                }
                ok &= found == 1;
            }
    CHECK(ok, "%s: expert sets differ from the reference", what);
    CHECK(wd <= 1e-5, "%s: routing weights differ by %.3g", what, wd);
    return wd;
}

static void run_variant(const variant *v, const weights *w, const char *root) {
    char dir[1024], what[160];
    snprintf(dir, sizeof dir, "%s/%s", root, v->name);
    mkdir(dir, 0755);
    if (!write_checkpoint(dir, v, (weights *)w)) return;
    r1c_model *m;
    r1c_status st = r1c_model_load(dir, NULL, &m);
    CHECK(st == R1C_OK, "load %s: %s", dir, r1c_last_error());
    if (st != R1C_OK) return;
    r1c_model_info info;
    r1c_model_get_info(m, &info);
    CHECK(info.mla == 1 && info.n_experts == NE && info.n_experts_used == TOPK && info.n_shared_experts == NSH,
          "%s: info mla %d experts %d/%d shared %d", v->name, info.mla, info.n_experts_used, info.n_experts,
          info.n_shared_experts);
    CHECK(info.kv_bytes_per_token == (KVL + ROPE) * 4 * NL, "%s: latent cache %lld bytes per token", v->name,
          (long long)info.kv_bytes_per_token);
    CHECK(r1c_model_n_vocab(m) == NV, "n_vocab");

    /* prompts: deterministic search for ids whose reference has no near-tie */
    static const int lens[3] = {1, 7, MAXT};
    int32_t ids[3][MAXT];
    static ref_out ref[3];
    int group_mattered = 0;
    for (int p = 0; p < 3; p++) {
        int found = 0;
        for (int attempt = 0; attempt < 200 && !found; attempt++) {
            uint64_t g = 0x9E3779B97F4A7C15ull ^ (uint64_t)(lens[p] * 1000 + attempt + 1);
            for (int i = 0; i < lens[p]; i++) ids[p][i] = (int32_t)(test_rand(&g) % NV);
            reference(v, w, ids[p], lens[p], &ref[p]);
            found = ref[p].min_gap >= GAP && ref[p].min_margin >= MARGIN;
        }
        CHECK(found, "%s: no prompt of %d tokens without near-ties", v->name, lens[p]);
        group_mattered += ref[p].group_mattered;
    }
    if (v->group_limited) /* the group limit must change some choice, else it is not being tested */
        CHECK(group_mattered > 0, "%s: the group limit never changed an expert set", v->name);

    double max_logit = 0;
    for (int p = 0; p < 3; p++)
        for (int t = 0; t < lens[p]; t++)
            for (int i = 0; i < NV; i++) max_logit = fmax(max_logit, fabs(ref[p].logits[t][i]));
    CHECK(max_logit < 20, "%s: logits should be O(1) for the bound, max |logit| %.3g", v->name, max_logit);
    stats s = {0};
    float *keep_pre[3] = {0}, *keep_dec[3] = {0};
    for (int threads = 1; threads <= 2; threads++) {
        r1c_ctx_params cp = {.n_ctx = MAXPOS, .n_threads = threads, .n_batch = MAXPOS};
        r1c_ctx_params cp16 = {.n_ctx = MAXPOS, .n_threads = threads, .n_batch = 16};
        r1c_ctx *c = NULL, *c16 = NULL;
        if (r1c_ctx_new(m, &cp, &c) != R1C_OK || r1c_ctx_new(m, &cp16, &c16) != R1C_OK) {
            CHECK(0, "ctx: %s", r1c_last_error());
            r1c_ctx_free(c);
            continue;
        }
        for (int p = 0; p < 3; p++) {
            const int T = lens[p];
            int32_t ri[NMOE * MAXT * TOPK];
            float rw[NMOE * MAXT * TOPK];
            float *pre = xmalloc(sizeof(float) * (size_t)T * NV), *dec = xmalloc(sizeof(float) * (size_t)T * NV);
            /* prefill: the whole prompt in one r1c_eval, every row */
            r1c_ctx_truncate(c, 0);
            c->route_ids = ri, c->route_w = rw;
            st = r1c_eval(c, ids[p], T, 1);
            c->route_ids = NULL, c->route_w = NULL;
            CHECK(st == R1C_OK, "prefill: %s", r1c_last_error());
            if (st != R1C_OK) goto next;
            for (int t = 0; t < T; t++) memcpy(pre + (size_t)t * NV, r1c_logits(c, t), sizeof(float) * NV);
            snprintf(what, sizeof what, "%s p%d (T=%d) prefill threads=%d", v->name, p, T, threads);
            s.pre_ref = fmax(s.pre_ref, vs_ref(what, pre, &ref[p], T));
            s.route_w = fmax(s.route_w, check_routes(what, ri, rw, T, 0, &ref[p]));
            /* batches of 16: later batches run the plain path over latents already cached
             * (positions 16.., expanded again), one r1c_eval */
            r1c_ctx_truncate(c16, 0);
            st = r1c_eval(c16, ids[p], T, 1);
            CHECK(st == R1C_OK, "batched prefill: %s", r1c_last_error());
            if (st != R1C_OK) goto next;
            snprintf(what, sizeof what, "%s p%d (T=%d) prefill in batches of 16 threads=%d", v->name, p, T, threads);
            s.pre_ref = fmax(s.pre_ref, vs_ref(what, r1c_logits(c16, 0), &ref[p], T));
            /* decode: one token per r1c_eval, absorbed attention over the latent cache */
            r1c_ctx_truncate(c, 0);
            int route_ok = 1;
            for (int t = 0; t < T; t++) {
                c->route_ids = ri, c->route_w = rw;
                st = r1c_eval(c, ids[p] + t, 1, 0);
                c->route_ids = NULL, c->route_w = NULL;
                if (st != R1C_OK) break;
                memcpy(dec + (size_t)t * NV, r1c_logits(c, -1), sizeof(float) * NV);
                snprintf(what, sizeof what, "%s p%d decode t=%d threads=%d", v->name, p, t, threads);
                const int before = g_failures;
                s.route_w = fmax(s.route_w, check_routes(what, ri, rw, 1, t, &ref[p]));
                route_ok &= g_failures == before;
                if (!route_ok) break; /* one message is enough */
            }
            CHECK(st == R1C_OK, "decode: %s", r1c_last_error());
            if (st != R1C_OK || !route_ok) goto next;
            snprintf(what, sizeof what, "%s p%d (T=%d) decode threads=%d", v->name, p, T, threads);
            s.dec_ref = fmax(s.dec_ref, vs_ref(what, dec, &ref[p], T));
            double pd = 0;
            for (size_t i = 0; i < (size_t)T * NV; i++) pd = fmax(pd, fabs((double)pre[i] - dec[i]));
            CHECK(pd <= TOL, "%s p%d: prefill vs decode %.3g", v->name, p, pd);
            s.pre_dec = fmax(s.pre_dec, pd);
            /* the API promises the same bits for every thread count */
            if (threads == 1) {
                keep_pre[p] = pre, keep_dec[p] = dec;
                pre = dec = NULL;
            } else if (keep_pre[p]) {
                CHECK(memcmp(pre, keep_pre[p], sizeof(float) * (size_t)T * NV) == 0,
                      "%s p%d: prefill logits differ between 1 and 2 threads", v->name, p);
                CHECK(memcmp(dec, keep_dec[p], sizeof(float) * (size_t)T * NV) == 0,
                      "%s p%d: decode logits differ between 1 and 2 threads", v->name, p);
            }
        next:
            free(pre), free(dec);
        }
        r1c_ctx_free(c);
        r1c_ctx_free(c16);
    }
    for (int p = 0; p < 3; p++) free(keep_pre[p]), free(keep_dec[p]);
    fprintf(stderr,
            "  %-12s max |delta|: prefill vs ref %.2e, decode vs ref %.2e, prefill vs decode %.2e, route w %.2e"
            " (max |logit| %.2f, min gap %.1e, margin %.1e, group limit changed %d sets)\n",
            v->name, s.pre_ref, s.dec_ref, s.pre_dec, s.route_w, max_logit, fmin(fmin(ref[0].min_gap, ref[1].min_gap), ref[2].min_gap),
            fmin(fmin(ref[0].min_margin, ref[1].min_margin), ref[2].min_margin), group_mattered);
    r1c_model_free(m);
}

int main(void) {
    char root[1024];
    snprintf(root, sizeof root, "%s", test_tmpdir("deepseek_v2"));
    static weights master, rounded;
    make_weights(&master, 0x5EED0002ull);
    round_weights(&rounded, &master);
    const variant vars[] = {
        {"A_greedy_f32", 0, 0, 1.0, 0},
        {"A_greedy_bf16", 0, 0, 1.0, 1},
        {"B_group_f32", 1, 1, 1.5, 0},
        {"B_group_bf16", 1, 1, 1.5, 1},
    };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) run_variant(&vars[i], vars[i].bf16 ? &rounded : &master, root);
    free_weights(&master);
    free_weights(&rounded);
    return test_summary("test_deepseek_v2");
}
