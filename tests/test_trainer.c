/* test_trainer.c — the dense trainer end to end on tiny Llama / Qwen2 shapes:
 *  - the whole model's gradient (every tensor: embeddings, norms, q/k/v with biases, o, MLP,
 *    head, tied or not) against central finite differences of its loss;
 *  - training overfits one batch (AdamW, clipping);
 *  - a step gives the same bits with 1 and 2 threads;
 *  - a saved checkpoint loads with r1c_model_load and r1c's inference gives the trainer's logits. */
#include <math.h>
#include <sys/stat.h>

#include "io/hf_config.h"
#include "test_util.h"
#include "train/trainer.h"

enum { B = 2, T = 8, V = 37 };

static r1c_hf_config tiny(const char *type, int tied) {
    r1c_hf_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "%s", type);
    c.vocab_size = V, c.hidden_size = 24, c.intermediate_size = 40, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 6, c.max_position_embeddings = 64;
    c.rms_norm_eps = 1e-5, c.rope_theta = 10000.0, c.tie_word_embeddings = tied, c.bos_token_id = 1, c.n_eos = 1;
    c.eos_token_id[0] = 2;
    return c;
}

static void batch(uint64_t seed, int32_t *in, int32_t *tg) {
    for (int i = 0; i < B * T; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        in[i] = (int32_t)((seed >> 33) % V);
    }
    for (int i = 0; i < B * T; i++) tg[i] = i % T == T - 1 ? -1 : in[i + 1]; /* the last of each row: no target */
    tg[3] = -1;                                                              /* and one masked in the middle */
}

static r1c_trainer *make(const char *type, int tied, int threads) {
    r1c_hf_config c = tiny(type, tied);
    r1c_train_shape s = {.B = B, .T = T, .n_threads = threads, .seed = 7};
    r1c_trainer *m = NULL;
    CHECK(r1c_trainer_new(&c, &s, &m) == R1C_OK, "new: %s", r1c_last_error());
    return m;
}

/* larger weights than the initialisation's 0.02, so every gradient is well above rounding */
static void spread(r1c_trainer *m) {
    for (int i = 0; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        float *v;
        const char *name = r1c_trainer_param(m, i, &n, &v, NULL);
        uint64_t s = 0x1234 + (uint64_t)i;
        for (int64_t j = 0; j < n; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            const float u = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
            v[j] = strstr(name, "norm") ? 1.0f + 0.5f * u : 0.8f * u;
        }
    }
}

/* the per-token objective L = -sum_t w_t log p(target_t) of the batch */
static double weighted_loss(r1c_trainer *m, const int32_t *in, const int32_t *tg, const float *w) {
    float lp[B * T];
    r1c_trainer_forward(m, in, tg);
    r1c_trainer_token_logprobs(m, lp);
    double L = 0;
    for (int i = 0; i < B * T; i++) L -= (double)w[i] * lp[i];
    return L;
}

/* dloss/dv[j] by central differences at h = 5e-3 (d[0]) and 2.5e-3 (d[1]); where they disagree,
 * the element sits on a MoE routing seam. The loss: the forward's (w NULL), or weighted_loss. */
static void central2(r1c_trainer *m, float *v, int64_t j, const int32_t *in, const int32_t *tg, const float *w, double d[2]) {
    const float v0 = v[j];
    for (int k = 0; k < 2; k++) {
        const float h = k ? 2.5e-3f : 5e-3f;
        v[j] = v0 + h;
        const double lp = w ? weighted_loss(m, in, tg, w) : r1c_trainer_forward(m, in, tg);
        v[j] = v0 - h;
        const double lm = w ? weighted_loss(m, in, tg, w) : r1c_trainer_forward(m, in, tg);
        v[j] = v0;
        d[k] = (lp - lm) / (2.0 * h);
    }
}

/* Every trained tensor's gradient g (after a backward of the loss of central2's w) against
 * central2's differences at about `per` elements spread over it. Where the two step sizes
 * disagree the element sits on a MoE routing seam: skipped and counted. */
typedef struct {
    int checked, seams, tensors;
    double worst;
    const char *worst_name;
} fd_result;

static fd_result check_grads(r1c_trainer *m, const int32_t *in, const int32_t *tg, const float *w, int per, const char *what) {
    fd_result r = {.worst_name = ""};
    for (int i = 0; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        float *v, *g;
        const char *name = r1c_trainer_param(m, i, &n, &v, &g);
        if (!g || strstr(name, "e_score_correction_bias")) continue; /* no gradient by design */
        r.tensors++;
        double scale = 1e-4;
        for (int64_t j = 0; j < n; j++) scale = fmax(scale, fabs(g[j]));
        for (int64_t j = 0; j < n; j += n / per + 1) {
            double d[2];
            central2(m, v, j, in, tg, w, d);
            if (fabs(d[0] - d[1]) > 0.05 * scale + 1e-3 * fabs(d[1])) {
                r.seams++;
                continue;
            }
            const double err = fabs(d[1] - g[j]) / scale;
            if (err > r.worst) r.worst = err, r.worst_name = name;
            CHECK(err < 3e-2, "%s: %s[%lld]: analytic %.6g, numeric %.6g", what, name, (long long)j, g[j], d[1]);
            r.checked++;
        }
    }
    return r;
}

static void test_gradient(const char *type, int tied, int doc_mask) {
    r1c_trainer *m = make(type, tied, 2);
    if (!m) return;
    spread(m);
    int32_t in[B * T], tg[B * T];
    batch(11, in, tg);
    if (doc_mask) { /* documents start at BOS (1): rows [a a BOS b b b BOS c], [d d d d d BOS e e] */
        r1c_trainer_set_doc_mask(m, 1);
        in[2] = in[6] = in[T + 5] = 1;
        for (int i = 0; i < B * T; i++)
            if (in[i] == 1 && !(i == 2 || i == 6 || i == T + 5)) in[i] = 3;
    }
    r1c_trainer_forward(m, in, tg);
    r1c_trainer_backward(m, 1.0f);
    int checked = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        float *v, *g;
        const char *name = r1c_trainer_param(m, i, &n, &v, &g);
        double scale = 1e-4;
        for (int64_t j = 0; j < n; j++) scale = fmax(scale, fabs(g[j]));
        /* up to 12 elements of each tensor, spread over it */
        for (int64_t j = 0; j < n; j += n / 12 + 1) {
            const float v0 = v[j], h = 1e-2f;
            v[j] = v0 + h;
            const double lp = r1c_trainer_forward(m, in, tg);
            v[j] = v0 - h;
            const double lm = r1c_trainer_forward(m, in, tg);
            v[j] = v0;
            const double num = (lp - lm) / (2.0 * h), err = fabs(num - g[j]) / scale;
            if (err > worst) worst = err, worst_name = name;
            CHECK(err < 2e-2, "%s %s%s: %s[%lld]: analytic %.6g, numeric %.6g", type, tied ? "tied " : "", "gradient", name,
                  (long long)j, g[j], num);
            checked++;
        }
    }
    printf("%s%s%s: %d parameter elements of %d tensors against finite differences, worst %.2e (%s)\n", type,
           tied ? " (tied)" : "", doc_mask ? " with document masking" : "", checked, r1c_trainer_n_params(m), worst, worst_name);
    r1c_trainer_free(m);
}

static void test_overfit_and_threads(void) {
    r1c_trainer *m1 = make("qwen2", 0, 1), *m2 = make("qwen2", 0, 2);
    if (!m1 || !m2) return;
    int32_t in[B * T], tg[B * T];
    batch(5, in, tg);
    const r1c_adamw opt = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .clip = 1.0f};
    double first = 0, last = 0;
    int same = 1;
    for (int step = 0; step < 120; step++) {
        const double l1 = r1c_trainer_forward(m1, in, tg);
        r1c_trainer_backward(m1, 1.0f);
        r1c_trainer_step(m1, &opt, 3e-3f);
        if (step < 3) { /* the same steps on 2 threads */
            const double l2 = r1c_trainer_forward(m2, in, tg);
            r1c_trainer_backward(m2, 1.0f);
            r1c_trainer_step(m2, &opt, 3e-3f);
            same &= l1 == l2;
        }
        if (step == 0) first = l1;
        last = l1;
    }
    CHECK(fabs(first - log((double)V)) < 0.2, "initial loss %.4f, expected near ln V = %.4f", first, log((double)V));
    CHECK(last < 0.3 * first, "one batch not learnt: loss %.4f -> %.4f", first, last);
    /* 1 vs 2 threads: three steps give the same losses and the same weights, bit for bit */
    int64_t n;
    float *a, *b;
    int params_same = 1;
    r1c_trainer *m3 = make("qwen2", 0, 1);
    for (int step = 0; step < 3 && m3; step++) {
        r1c_trainer_forward(m3, in, tg);
        r1c_trainer_backward(m3, 1.0f);
        r1c_trainer_step(m3, &opt, 3e-3f);
    }
    for (int i = 0; m3 && i < r1c_trainer_n_params(m3); i++) {
        r1c_trainer_param(m3, i, &n, &a, NULL);
        r1c_trainer_param(m2, i, NULL, &b, NULL);
        params_same &= !memcmp(a, b, sizeof(float) * (size_t)n);
    }
    CHECK(same && params_same, "1 and 2 threads differ (losses %s, weights %s)", same ? "same" : "differ", params_same ? "same" : "differ");
    printf("qwen2: one batch learnt, loss %.3f -> %.3f in 120 steps; 1 and 2 threads bit-identical\n", first, last);
    r1c_trainer_free(m1), r1c_trainer_free(m2), r1c_trainer_free(m3);
}

/* a checkpoint is a model: r1c's inference gives the trainer's logits */
static void test_checkpoint(const char *type, int tied) {
    r1c_trainer *m = make(type, tied, 2);
    if (!m) return;
    spread(m);
    int32_t in[B * T], tg[B * T];
    batch(3, in, tg);
    r1c_trainer_forward(m, in, tg);
    char dir[256];
    snprintf(dir, sizeof dir, "build/tests/tmp/train_%s_%d", type, tied);
    mkdir("build/tests/tmp", 0755);
    CHECK(r1c_trainer_save(m, dir) == R1C_OK, "save: %s", r1c_last_error());
    r1c_model *rm = NULL;
    r1c_ctx *c = NULL;
    r1c_ctx_params cp = {.n_ctx = 32, .n_threads = 2};
    if (r1c_model_load(dir, NULL, &rm) != R1C_OK || r1c_ctx_new(rm, &cp, &c) != R1C_OK) {
        CHECK(0, "load the checkpoint: %s", r1c_last_error());
        r1c_model_free(rm);
        r1c_trainer_free(m);
        return;
    }
    double worst = 0, scale = 0;
    for (int b = 0; b < B; b++) {
        r1c_ctx_truncate(c, 0);
        CHECK(r1c_eval(c, in + b * T, T, 1) == R1C_OK, "eval: %s", r1c_last_error());
        for (int t = 0; t < T; t++) {
            const float *ref = r1c_trainer_logits(m) + (size_t)(b * T + t) * V, *got = r1c_logits(c, t);
            for (int i = 0; got && i < V; i++) worst = fmax(worst, fabs(ref[i] - got[i])), scale = fmax(scale, fabs(ref[i]));
        }
    }
    CHECK(worst <= 1e-5 * fmax(scale, 1.0) * 10, "%s%s: inference logits differ from training by %.3g (scale %.3g)", type,
          tied ? " tied" : "", worst, scale);
    printf("%s%s checkpoint: r1c inference = training logits to %.2e (logits up to %.2f)\n", type, tied ? " (tied)" : "", worst, scale);
    r1c_ctx_free(c);
    r1c_model_free(rm);
    r1c_trainer_free(m);
}

/* a tiny DeepSeek-V3: MLA with q_lora, a dense first layer, then MoE (4 experts, 2 per token,
 * a shared expert, 2 groups of which 1 is kept, sigmoid scores, the correction bias, the
 * sequence-wise balance loss) */
static r1c_hf_config tiny_ds(void) {
    r1c_hf_config c = tiny("deepseek_v3", 0);
    c.is_deepseek = 1;
    c.num_hidden_layers = 3, c.num_key_value_heads = 4, c.head_dim = 0;
    c.q_lora_rank = 20, c.kv_lora_rank = 12, c.qk_nope_head_dim = 6, c.qk_rope_head_dim = 4, c.v_head_dim = 5;
    c.n_routed_experts = 4, c.num_experts_per_tok = 2, c.n_shared_experts = 1, c.moe_intermediate_size = 14;
    c.first_k_dense_replace = 1, c.moe_layer_freq = 1, c.n_group = 2, c.topk_group = 1;
    c.topk_method = R1C_TOPK_NOAUX_TC, c.scoring_func = R1C_SCORE_SIGMOID, c.norm_topk_prob = 1, c.routed_scaling_factor = 2.5;
    return c;
}

/* MoE routing is piecewise: a nudge can change a token's experts, and the loss jumps. Elements
 * where the central differences at h and h/2 disagree sit on such a seam and are skipped (they
 * must stay few); everywhere else the gradient must match. */
static void test_gradient_ds(void) {
    r1c_hf_config c = tiny_ds();
    r1c_train_shape sh = {.B = B, .T = T, .n_threads = 2, .seed = 9};
    r1c_trainer *m = NULL;
    CHECK(r1c_trainer_new(&c, &sh, &m) == R1C_OK, "new deepseek: %s", r1c_last_error());
    if (!m) return;
    spread(m);
    r1c_trainer_set_seq_aux(m, 0.05f); /* the sequence-wise balance loss too (large, so that its gradient shows) */
    int32_t in[B * T], tg[B * T];
    batch(17, in, tg);
    r1c_trainer_forward(m, in, tg);
    CHECK(r1c_trainer_aux_loss(m) > 0.0, "the balance loss is %g", r1c_trainer_aux_loss(m));
    r1c_trainer_backward(m, 1.0f);
    const fd_result r = check_grads(m, in, tg, NULL, 10, "deepseek gradient");
    CHECK(r.seams * 10 < r.checked, "deepseek gradient: %d of %d elements on routing seams", r.seams, r.checked + r.seams);
    printf("deepseek_v3 (MLA + MoE): %d parameter elements of %d tensors against finite differences (%d on routing seams "
           "skipped), worst %.2e (%s)\n", r.checked, r.tensors, r.seams, r.worst, r.worst_name);
    /* a checkpoint r1c's inference runs: its logits equal the trainer's */
    r1c_trainer_forward(m, in, tg);
    mkdir("build/tests/tmp", 0755);
    const char *dir = "build/tests/tmp/train_deepseek";
    CHECK(r1c_trainer_save(m, dir) == R1C_OK, "save: %s", r1c_last_error());
    r1c_model *rm = NULL;
    r1c_ctx *cx = NULL;
    r1c_ctx_params cp = {.n_ctx = 32, .n_threads = 2};
    if (r1c_model_load(dir, NULL, &rm) == R1C_OK && r1c_ctx_new(rm, &cp, &cx) == R1C_OK) {
        double dev = 0, big = 0;
        for (int b = 0; b < B; b++) {
            r1c_ctx_truncate(cx, 0);
            CHECK(r1c_eval(cx, in + b * T, T, 1) == R1C_OK, "eval: %s", r1c_last_error());
            for (int t = 0; t < T; t++) {
                const float *ref = r1c_trainer_logits(m) + (size_t)(b * T + t) * V, *got = r1c_logits(cx, t);
                for (int i = 0; got && i < V; i++) dev = fmax(dev, fabs(ref[i] - got[i])), big = fmax(big, fabs(ref[i]));
            }
        }
        CHECK(dev <= 1e-4 * fmax(big, 1.0), "deepseek: inference logits differ from training by %.3g (scale %.3g)", dev, big);
        printf("deepseek_v3 checkpoint: r1c inference = training logits to %.2e (logits up to %.2f)\n", dev, big);
    } else {
        CHECK(0, "load the deepseek checkpoint: %s", r1c_last_error());
    }
    r1c_ctx_free(cx);
    r1c_model_free(rm);
    /* training moves the loss down, and the balancing moves the biases against the loads */
    const r1c_adamw opt = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f, .clip = 1.0f};
    double first = 0, last = 0;
    int32_t loads[3 * 4];
    r1c_trainer_balance(m, 0.0f, NULL); /* (clears the counts of the gradient check's backward) */
    int moved = 0;
    for (int step = 0; step < 60; step++) {
        const double l = r1c_trainer_forward(m, in, tg);
        r1c_trainer_backward(m, 1.0f);
        r1c_trainer_step(m, &opt, 2e-3f);
        float before[4] = {0}, *bias = NULL;
        for (int i = 0; i < r1c_trainer_n_params(m); i++) {
            float *v;
            if (!strcmp(r1c_trainer_param(m, i, NULL, &v, NULL), "model.layers.1.mlp.gate.e_score_correction_bias")) bias = v;
        }
        if (bias) memcpy(before, bias, sizeof before);
        r1c_trainer_balance(m, 1e-3f, loads);
        int tot = 0;
        for (int e = 0; e < 4; e++) tot += loads[4 + e];
        CHECK(tot == B * T * 2, "layer 1 loads sum to %d, want %d", tot, B * T * 2);
        for (int e = 0; bias && e < 4; e++) {
            const float d = bias[e] - before[e];
            moved += d != 0;
            CHECK(loads[4 + e] * 4 < tot ? d > 0 : loads[4 + e] * 4 > tot ? d < 0 : d == 0, "bias of expert %d moved the wrong way", e);
        }
        if (step == 0) first = l;
        last = l;
    }
    CHECK(moved > 0 && last < 0.5 * first, "deepseek training: loss %.3f -> %.3f, biases moved %d times", first, last, moved);
    printf("deepseek_v3: loss %.3f -> %.3f in 60 steps; the routing biases moved against the loads\n", first, last);
    r1c_trainer_free(m);
}

/* max |trainer logits - r1c inference logits| over the batch (adapter lora_dir applied unmerged
 * when given); -1 when the model does not load */
static double infer_dev(const char *dir, const char *lora_dir, r1c_trainer *m, const int32_t *in, double *scale) {
    r1c_model *rm = NULL;
    r1c_ctx *cx = NULL;
    r1c_lora *lo = NULL;
    r1c_ctx_params cp = {.n_ctx = 32, .n_threads = 2};
    double dev = -1;
    *scale = 0;
    if (r1c_model_load(dir, NULL, &rm) == R1C_OK && r1c_ctx_new(rm, &cp, &cx) == R1C_OK &&
        (!lora_dir || (r1c_lora_load(rm, lora_dir, &lo) == R1C_OK && r1c_ctx_set_lora(cx, lo) == R1C_OK))) {
        dev = 0;
        for (int b = 0; b < B; b++) {
            r1c_ctx_truncate(cx, 0);
            CHECK(r1c_eval(cx, in + b * T, T, 1) == R1C_OK, "eval: %s", r1c_last_error());
            for (int t = 0; t < T; t++) {
                const float *ref = r1c_trainer_logits(m) + (size_t)(b * T + t) * V, *got = r1c_logits(cx, t);
                for (int i = 0; got && i < V; i++) dev = fmax(dev, fabs(ref[i] - got[i])), *scale = fmax(*scale, fabs(ref[i]));
            }
        }
    } else {
        CHECK(0, "load %s%s%s: %s", dir, lora_dir ? " + " : "", lora_dir ? lora_dir : "", r1c_last_error());
    }
    r1c_ctx_free(cx);
    r1c_lora_free(lo);
    r1c_model_free(rm);
    return dev;
}

/* LoRA: the adapter starts as a no-op (B = 0: the same logits, bit for bit); only A and B have
 * gradients, which match finite differences (with dropout, whose mask stays put until the
 * backward); training leaves the base untouched; the saved adapter, applied by r1c's inference
 * without merging and merged into a new model, gives the trainer's logits. */
static void test_lora(const char *type, const char *const *targets, int n_targets, float dropout) {
    r1c_hf_config c = strcmp(type, "deepseek_v3") ? tiny(type, 1) : tiny_ds();
    r1c_train_shape sh = {.B = B, .T = T, .n_threads = 2, .seed = 5};
    r1c_trainer *m = NULL;
    CHECK(r1c_trainer_new(&c, &sh, &m) == R1C_OK, "new %s: %s", type, r1c_last_error());
    if (!m) return;
    spread(m);
    int32_t in[B * T], tg[B * T];
    batch(23, in, tg);
    const int64_t n_base = r1c_trainer_numel(m);
    float *base = xmalloc(sizeof(float) * (size_t)n_base), *logits0 = xmalloc(sizeof(float) * B * T * V);
    int64_t off = 0;
    for (int i = 0; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        float *v;
        r1c_trainer_param(m, i, &n, &v, NULL);
        memcpy(base + off, v, sizeof(float) * (size_t)n), off += n;
    }
    char dir[256], adir[256], mdir[256];
    snprintf(dir, sizeof dir, "build/tests/tmp/lora_base_%s", type);
    snprintf(adir, sizeof adir, "build/tests/tmp/lora_adapter_%s", type);
    snprintf(mdir, sizeof mdir, "build/tests/tmp/lora_merged_%s", type);
    mkdir("build/tests/tmp", 0755);
    CHECK(r1c_trainer_save(m, dir) == R1C_OK, "save the base: %s", r1c_last_error());
    const double loss0 = r1c_trainer_forward(m, in, tg);
    memcpy(logits0, r1c_trainer_logits(m), sizeof(float) * B * T * V);
    const int n_base_params = r1c_trainer_n_params(m);
    const r1c_trainer_lora lc = {.r = 4, .alpha = 8, .dropout = dropout, .targets = targets, .n_targets = n_targets, .seed = 3};
    CHECK(r1c_trainer_add_lora(m, &lc) == R1C_OK, "add_lora: %s", r1c_last_error());
    /* B = 0: the adapted model is the base, exactly (dropout only changes A's input) */
    const double loss1 = r1c_trainer_forward(m, in, tg);
    CHECK(loss1 == loss0 && !memcmp(logits0, r1c_trainer_logits(m), sizeof(float) * B * T * V),
          "%s: a zero-B adapter changed the logits (loss %.9g -> %.9g)", type, loss0, loss1);
    int64_t lora_numel = 0;
    for (int i = n_base_params; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        r1c_trainer_param(m, i, &n, NULL, NULL);
        lora_numel += n;
    }
    CHECK(r1c_trainer_trainable(m) == lora_numel && lora_numel > 0, "trainable %lld, LoRA elements %lld",
          (long long)r1c_trainer_trainable(m), (long long)lora_numel);
    /* B random too, then the gradient of every LoRA tensor by central differences */
    for (int i = n_base_params; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        float *v;
        r1c_trainer_param(m, i, &n, &v, NULL);
        uint64_t st = 77 + (uint64_t)i;
        for (int64_t j = 0; j < n; j++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            v[j] = 0.2f * (float)((double)(st >> 11) / 9007199254740992.0 - 0.5);
        }
    }
    /* numeric first: a backward moves the dropout on to the next micro-batch's mask */
    enum { MAXS = 4096 };
    static double num[MAXS];
    static int seam[MAXS];
    int ns = 0;
    for (int i = n_base_params; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        float *v;
        r1c_trainer_param(m, i, &n, &v, NULL);
        for (int64_t j = 0; j < n && ns < MAXS; j += n / 6 + 1, ns++) {
            double d[2];
            central2(m, v, j, in, tg, NULL, d); /* (seams: skipped) */
            num[ns] = d[1];
            seam[ns] = fabs(d[0] - d[1]) > 0.05 * fmax(fabs(d[1]), 1e-2);
        }
    }
    r1c_trainer_forward(m, in, tg);
    r1c_trainer_backward(m, 1.0f);
    int checked = 0, seams = 0, frozen_ok = 1;
    double worst = 0;
    ns = 0;
    for (int i = 0; i < r1c_trainer_n_params(m); i++) {
        int64_t n;
        float *g;
        const char *name = r1c_trainer_param(m, i, &n, NULL, &g);
        if (i < n_base_params) {
            frozen_ok &= g == NULL;
            continue;
        }
        double scale = 1e-4;
        for (int64_t j = 0; j < n; j++) scale = fmax(scale, fabs(g[j]));
        for (int64_t j = 0; j < n && ns < MAXS; j += n / 6 + 1, ns++) {
            if (seam[ns]) {
                seams++;
                continue;
            }
            const double err = fabs(num[ns] - g[j]) / scale;
            worst = fmax(worst, err);
            CHECK(err < 3e-2, "%s LoRA gradient: %s[%lld]: analytic %.6g, numeric %.6g", type, name, (long long)j, g[j], num[ns]);
            checked++;
        }
    }
    CHECK(seams * 10 < checked, "%s LoRA gradient: %d of %d elements on routing seams", type, seams, checked + seams);
    CHECK(frozen_ok, "%s: a frozen base parameter has a gradient", type);
    /* train a little: the loss falls, the base stays bit for bit */
    const r1c_adamw opt = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f, .clip = 1.0f};
    double first = 0, last = 0;
    for (int step = 0; step < 40; step++) {
        const double l = r1c_trainer_forward(m, in, tg);
        r1c_trainer_backward(m, 1.0f);
        r1c_trainer_step(m, &opt, 1e-2f);
        r1c_trainer_balance(m, 1e-3f, NULL);
        if (step == 0) first = l;
        last = l;
    }
    off = 0;
    int base_same = 1;
    for (int i = 0; i < n_base_params; i++) {
        int64_t n;
        float *v;
        r1c_trainer_param(m, i, &n, &v, NULL);
        base_same &= !memcmp(base + off, v, sizeof(float) * (size_t)n), off += n;
    }
    CHECK(base_same, "%s: LoRA training changed the base weights", type);
    CHECK(last < 0.8 * first, "%s: LoRA training did not learn: loss %.4f -> %.4f", type, first, last);
    /* the adapter on disk: unmerged inference and a merged model give the trainer's logits */
    CHECK(r1c_trainer_save(m, adir) == R1C_OK, "save the adapter: %s", r1c_last_error());
    r1c_trainer_set_dropout(m, 0);
    r1c_trainer_forward(m, in, tg);
    double sc;
    const double dev_u = infer_dev(dir, adir, m, in, &sc);
    CHECK(r1c_lora_merge(dir, adir, mdir) == R1C_OK, "merge: %s", r1c_last_error());
    const double dev_m = infer_dev(mdir, NULL, m, in, &sc);
    CHECK(dev_u >= 0 && dev_u <= 1e-4 * fmax(sc, 1.0), "%s: inference with the adapter differs by %.3g", type, dev_u);
    CHECK(dev_m >= 0 && dev_m <= 1e-4 * fmax(sc, 1.0), "%s: the merged model differs by %.3g", type, dev_m);
    printf("%s LoRA (r 4, dropout %.2f, %d modules, %lld trainable of %lld = %.2f%%): zero-B adapter exact; %d elements against "
           "finite differences (%d on routing seams skipped), worst %.2e; loss %.3f -> %.3f in 40 steps, base untouched; inference with the adapter = training "
           "to %.2e, merged to %.2e\n", type, dropout, r1c_trainer_lora_modules(m), (long long)lora_numel, (long long)n_base,
           100.0 * (double)lora_numel / (double)n_base, checked, seams, worst, first, last, dev_u, dev_m);
    free(base), free(logits0);
    r1c_trainer_free(m);
}

/* Document masking: in a packed row, each document's logits are those r1c's inference gives for
 * that document run alone (positions from 0, nothing before it visible). */
static void test_doc_mask(const char *type, int tied) {
    r1c_hf_config c = strcmp(type, "deepseek_v3") ? tiny(type, tied) : tiny_ds();
    r1c_train_shape sh = {.B = B, .T = T, .n_threads = 2, .seed = 13};
    r1c_trainer *m = NULL;
    CHECK(r1c_trainer_new(&c, &sh, &m) == R1C_OK, "new %s: %s", type, r1c_last_error());
    if (!m) return;
    spread(m);
    r1c_trainer_set_doc_mask(m, 1);
    int32_t in[B * T], tg[B * T];
    batch(29, in, tg);
    for (int i = 0; i < B * T; i++) in[i] = in[i] == 1 ? 4 : in[i];
    in[0] = in[3] = in[T + 4] = 1; /* rows: [BOS x x | BOS x x x x], [x x x x | BOS x x x] */
    r1c_trainer_forward(m, in, tg);
    char dir[256];
    snprintf(dir, sizeof dir, "build/tests/tmp/docmask_%s", type);
    mkdir("build/tests/tmp", 0755);
    CHECK(r1c_trainer_save(m, dir) == R1C_OK, "save: %s", r1c_last_error());
    r1c_model *rm = NULL;
    r1c_ctx *cx = NULL;
    r1c_ctx_params cp = {.n_ctx = 32, .n_threads = 2};
    if (r1c_model_load(dir, NULL, &rm) != R1C_OK || r1c_ctx_new(rm, &cp, &cx) != R1C_OK) {
        CHECK(0, "load: %s", r1c_last_error());
    } else {
        const int seg[][3] = {{0, 0, 3}, {0, 3, 8}, {1, 0, 4}, {1, 4, 8}}; /* row, from, to */
        double dev = 0, big = 0;
        for (int s = 0; s < 4; s++) {
            const int b = seg[s][0], from = seg[s][1], n = seg[s][2] - seg[s][1];
            r1c_ctx_truncate(cx, 0);
            CHECK(r1c_eval(cx, in + b * T + from, n, 1) == R1C_OK, "eval: %s", r1c_last_error());
            for (int t = 0; t < n; t++) {
                const float *ref = r1c_trainer_logits(m) + (size_t)(b * T + from + t) * V, *got = r1c_logits(cx, t);
                for (int i = 0; got && i < V; i++) dev = fmax(dev, fabs(ref[i] - got[i])), big = fmax(big, fabs(ref[i]));
            }
        }
        CHECK(dev <= 1e-4 * fmax(big, 1.0), "%s document masking: a packed document's logits differ from it run alone by %.3g",
              type, dev);
        printf("%s document masking: each packed document = r1c inference on it alone, to %.2e\n", type, dev);
    }
    r1c_ctx_free(cx);
    r1c_model_free(rm);
    r1c_trainer_free(m);
}

/* bf16 compute: the same training in bf16 GEMMs follows the f32 run closely (not exactly: the
 * operands are rounded), learns as well, and is still thread-count independent. */
static void test_bf16(void) {
    r1c_trainer *f = make("qwen2", 0, 2), *h = make("qwen2", 0, 2), *h1 = make("qwen2", 0, 1);
    if (!f || !h || !h1) return;
    r1c_trainer_set_bf16(h, 1), r1c_trainer_set_bf16(h1, 1);
    int32_t in[B * T], tg[B * T];
    batch(41, in, tg);
    const r1c_adamw opt = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .clip = 1.0f};
    double worst = 0, lf = 0, lh = 0;
    int differ = 0, same_threads = 1;
    for (int step = 0; step < 60; step++) {
        lf = r1c_trainer_forward(f, in, tg), lh = r1c_trainer_forward(h, in, tg);
        r1c_trainer_backward(f, 1.0f), r1c_trainer_backward(h, 1.0f);
        r1c_trainer_step(f, &opt, 3e-3f), r1c_trainer_step(h, &opt, 3e-3f);
        if (step < 3) {
            const double l1 = r1c_trainer_forward(h1, in, tg);
            r1c_trainer_backward(h1, 1.0f);
            r1c_trainer_step(h1, &opt, 3e-3f);
            same_threads &= l1 == lh;
        }
        differ |= lf != lh;
        worst = fmax(worst, fabs(lf - lh) / lf);
    }
    CHECK(differ, "bf16 compute gave the f32 losses exactly: the option does nothing");
    CHECK(worst < 0.05, "bf16 compute strays from f32 by %.1f%% of the loss", 100 * worst);
    CHECK(lh < 0.3 * log((double)V), "bf16 compute did not learn the batch: loss %.4f", lh);
    CHECK(same_threads, "bf16 compute: 1 and 2 threads differ");
    printf("qwen2 bf16 compute (%s): 60 steps, loss %.4f vs f32 %.4f, at most %.2f%% apart along the way; 1 and 2 threads "
           "bit-identical\n", r1c_trainer_gemm_kernel(h), lh, lf, 100 * worst);
    r1c_trainer_free(f), r1c_trainer_free(h), r1c_trainer_free(h1);
}

/* The per-token objective L = -sum_t w_t log p(target_t) (policy gradients: w may be negative):
 * token_logprobs agrees with the mean cross-entropy, and backward_weighted's gradient matches
 * central differences of L. */
static void test_weighted(const char *type) {
    r1c_hf_config c = strcmp(type, "deepseek_v3") ? tiny(type, 0) : tiny_ds();
    r1c_train_shape sh = {.B = B, .T = T, .n_threads = 2, .seed = 19};
    r1c_trainer *m = NULL;
    CHECK(r1c_trainer_new(&c, &sh, &m) == R1C_OK, "new %s: %s", type, r1c_last_error());
    if (!m) return;
    spread(m);
    int32_t in[B * T], tg[B * T];
    float w[B * T], lp[B * T];
    batch(31, in, tg);
    uint64_t st = 5;
    for (int i = 0; i < B * T; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        w[i] = (float)((double)(st >> 11) / 9007199254740992.0 * 2.0 - 1.0); /* advantages: either sign */
    }
    const double ce = r1c_trainer_forward(m, in, tg);
    r1c_trainer_token_logprobs(m, lp);
    double sum = 0;
    int n = 0;
    for (int i = 0; i < B * T; i++)
        if (tg[i] >= 0) sum -= lp[i], n++;
        else CHECK(lp[i] == 0.0f, "a masked token has log p %g", lp[i]);
    CHECK(fabs(sum / n - ce) < 1e-5 * fmax(1.0, ce), "%s: mean of -log p %.9g, cross-entropy %.9g", type, sum / n, ce);
    r1c_trainer_backward_weighted(m, w);
    char what[64];
    snprintf(what, sizeof what, "%s weighted objective", type);
    const fd_result r = check_grads(m, in, tg, w, 5, what);
    CHECK(r.checked > 50 && r.seams * 10 < r.checked, "%s weighted: %d checked, %d seams", type, r.checked, r.seams);
    printf("%s per-token weighted objective: log p agrees with the cross-entropy; %d elements against finite differences "
           "(%d seams skipped), worst %.2e\n", type, r.checked, r.seams, r.worst);
    r1c_trainer_free(m);
}

static void test_bad_config(void) {
    r1c_hf_config c = tiny("gpt2", 0);
    r1c_train_shape s = {.B = 1, .T = 4};
    r1c_trainer *m = NULL;
    CHECK(r1c_trainer_new(&c, &s, &m) == R1C_ERR_UNSUPPORTED && !m && contains(r1c_last_error(), "gpt2"), "gpt2 refused");
    c = tiny("llama", 0);
    c.num_key_value_heads = 3;
    CHECK(r1c_trainer_new(&c, &s, &m) == R1C_ERR_INVALID_ARG && !m, "heads 4 / kv 3 refused: %s", r1c_last_error());
}

int main(void) {
    test_bad_config();
    test_gradient("llama", 0, 0);
    test_gradient("qwen2", 1, 0);
    test_gradient("llama", 0, 1);
    test_doc_mask("qwen2", 0);
    test_doc_mask("deepseek_v3", 0);
    test_overfit_and_threads();
    test_bf16();
    test_weighted("qwen2");
    test_weighted("deepseek_v3");
    test_checkpoint("llama", 0);
    test_checkpoint("qwen2", 1);
    test_gradient_ds();
    static const char *const dense_t[] = {"q_proj", "v_proj", "o_proj", "gate_proj", "down_proj", "lm_head"}; /* (tied: no lm_head) */
    test_lora("qwen2", dense_t, 6, 0.25f);
    test_lora("llama", dense_t, 2, 0.0f);
    static const char *const ds_t[] = {"q_b_proj", "kv_a_proj_with_mqa", "o_proj", "shared_experts.up_proj", "experts.1.down_proj", "mlp.gate"};
    test_lora("deepseek_v3", ds_t, 6, 0.1f);
    return test_summary("test_trainer");
}
