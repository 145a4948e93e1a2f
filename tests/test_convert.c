/* test_convert.c — `r1c convert` and `r1c quantize` (src/model/convert.c).
 *
 *  1. golden: each tiny dense model's Hugging Face folder converted with --outtype f32 (and bf16/ with
 *     bf16) gives llama.cpp's converter output byte for byte when tokenizer.ggml.pre is given as the
 *     golden files have it; without it, every tensor (name, type, shape, bytes) and every metadata
 *     key (type, value) equals the golden file's except the exceptions below.
 *     Exceptions (legitimately converter dependent):
 *       - tokenizer.ggml.pre: llama.cpp names the pre-tokenizer by hashing the ids the tokenizer
 *         gives for a test text; the golden files' glue assigned "deepseek-r1-qwen" / "llama-bpe"
 *         by architecture, while these tiny tokenizer.json files carry GPT-2's ByteLevel regex, so
 *         r1c (which names the pre_tokenizer it finds) writes "gpt-2";
 *       - general.name is the folder's name, as the converter does (equal here).
 *  2. round trips: golden GGUF -> Hugging Face -> r1c gives the same logits as the GGUF (memcmp for
 *     Qwen2; Llama within 1e-5: r1c rotates adjacent pairs with llama3 divisors for the permuted GGUF
 *     rows and halves with the llama3 formula for Hugging Face rows, a different order of float
 *     operations); GGUF -> HF -> GGUF gives the same file. DeepSeek-V3 (fp32 / bf16 / FP8) HF -> GGUF
 *     gives the same logits as the HF checkpoint (memcmp), and back.
 *  3. quantize: every type, from the golden models and from a model whose rows fit the K-quant
 *     blocks; logits finite and near the f32 ones (max |diff| printed, loose bounds); the recipe on
 *     a 24-layer model against llama.cpp's use_more_bits; Q8_0 -> Q8_0 and Q8_0 -> F32 -> Q8_0 give
 *     the same bytes; the vectorised Q4_K / Q6_K quantisers equal r1c_quantize_row bit for bit.
 *  4. bad input: a missing folder, an unsupported architecture, a bad outtype: clean errors. */
#include <math.h>
#include <unistd.h>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/convert.h"
#include "r1c.h"
#include "tensor/kernels.h"
#include "tensor/quant.h"
#include "test_util.h"

static char g_dir[1024];

static const char *tmp(const char *name) {
    static char buf[8][1200];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", g_dir, name);
    return p;
}

static const char *DENSE[3] = {"qwen2_tiny", "qwen2_tiny_tied", "llama3_tiny"};
static const char *PRE[3] = {"deepseek-r1-qwen", "deepseek-r1-qwen", "llama-bpe"};

static int files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *pa = read_file(a, &na), *pb = read_file(b, &nb);
    int eq = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa), free(pb);
    return eq;
}

/* logits of every position for ids (malloc'd n * vocab); NULL on failure (reported). how: load
 * with mmap (no row interleaving), evaluate one token at a time, run on kernel set isa; *n_packed:
 * how many matrices the load stored row-interleaved. */
typedef struct how {
    int use_mmap, decode;
    const char *isa;
    int *n_packed;
} how;

static float *logits_how(const char *model, const int32_t *ids, int n, int *vocab, how h) {
    r1c_model *m;
    r1c_load_params lp = {.use_mmap = h.use_mmap};
    if (r1c_model_load(model, &lp, &m) != R1C_OK) {
        CHECK(0, "load %s: %s", model, r1c_last_error());
        return NULL;
    }
    r1c_model_info info;
    r1c_model_get_info(m, &info);
    if (h.n_packed) *h.n_packed = info.n_packed;
    char isa0[32];
    snprintf(isa0, sizeof isa0, "%s", r1c_kernel_isa());
    if (h.isa) CHECK(r1c_force_kernel_isa(h.isa) == R1C_OK, "%s", r1c_last_error());
    r1c_ctx *c;
    r1c_ctx_params cp = {.n_ctx = n, .n_threads = 2, .n_batch = n};
    float *out = NULL;
    if (r1c_ctx_new(m, &cp, &c) == R1C_OK) {
        *vocab = r1c_model_n_vocab(m);
        out = xmalloc(sizeof(float) * (size_t)n * (size_t)*vocab);
        int ok = 1;
        for (int i = 0; ok && i < n; i++) { /* decode: one eval per token; prefill: one for all */
            if (h.decode || i == 0) ok = (h.decode ? r1c_eval(c, ids + i, 1, 1) : r1c_eval(c, ids, n, 1)) == R1C_OK;
            if (ok) memcpy(out + (size_t)i * *vocab, r1c_logits(c, h.decode ? -1 : i), sizeof(float) * (size_t)*vocab);
        }
        if (!ok) {
            CHECK(0, "eval %s: %s", model, r1c_last_error());
            free(out);
            out = NULL;
        }
        r1c_ctx_free(c);
    } else {
        CHECK(0, "ctx %s: %s", model, r1c_last_error());
    }
    if (h.isa) r1c_force_kernel_isa(isa0);
    r1c_model_free(m);
    return out;
}

static float *logits_of(const char *model, const int32_t *ids, int n, int *vocab) {
    return logits_how(model, ids, n, vocab, (how){0});
}

static double max_diff(const float *a, const float *b, size_t n, int *finite) {
    double d = 0;
    *finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i])) *finite = 0;
        double x = fabs((double)a[i] - (double)b[i]);
        if (x > d) d = x;
    }
    return d;
}

static const int32_t IDS[12] = {102, 56, 316, 21, 217, 498, 423, 206, 0, 511, 508, 66};

/* ------------------------------------------------------------ GGUF comparisons */

static int str_eq(r1c_gguf_str a, r1c_gguf_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

static int kv_equal(const r1c_gguf_kv *a, const r1c_gguf_kv *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case R1C_GGUF_STRING: return str_eq(a->v.s, b->v.s);
    case R1C_GGUF_ARRAY:
        if (a->arr_type != b->arr_type || a->arr_n != b->arr_n) return 0;
        if (a->arr_type == R1C_GGUF_STRING) {
            for (uint64_t i = 0; i < a->arr_n; i++)
                if (!str_eq(a->arr_str[i], b->arr_str[i])) return 0;
            return 1;
        } else {
            static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
            return memcmp(a->arr, b->arr, (size_t)a->arr_n * (size_t)sz[a->arr_type]) == 0;
        }
    case R1C_GGUF_FLOAT32:
    case R1C_GGUF_FLOAT64: return a->v.f == b->v.f;
    case R1C_GGUF_BOOL: return a->v.b == b->v.b;
    case R1C_GGUF_INT8:
    case R1C_GGUF_INT16:
    case R1C_GGUF_INT32:
    case R1C_GGUF_INT64: return a->v.i == b->v.i;
    default: return a->v.u == b->v.u;
    }
}

static int is_exception(r1c_gguf_str key, const char *const *exc) {
    for (int i = 0; exc && exc[i]; i++)
        if (key.n == strlen(exc[i]) && !memcmp(key.p, exc[i], key.n)) return 1;
    return 0;
}

/* every metadata key but the exceptions, every tensor (name, type, shape, bytes, order) */
static void compare_gguf(const char *got_path, const char *want_path, const char *const *exc) {
    r1c_gguf got, want;
    if (r1c_gguf_open(got_path, 0, &got) != R1C_OK) {
        CHECK(0, "open %s: %s", got_path, r1c_last_error());
        return;
    }
    if (r1c_gguf_open(want_path, 0, &want) != R1C_OK) {
        CHECK(0, "open %s: %s", want_path, r1c_last_error());
        r1c_gguf_close(&got);
        return;
    }
    CHECK(got.n_kv == want.n_kv, "%s: %llu keys, want %llu", got_path, (unsigned long long)got.n_kv, (unsigned long long)want.n_kv);
    for (uint64_t i = 0; i < want.n_kv; i++) {
        const r1c_gguf_kv *w = &want.kv[i];
        if (is_exception(w->key, exc)) continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)w->key.n, w->key.p);
        const r1c_gguf_kv *g = r1c_gguf_find(&got, key);
        CHECK(g != NULL, "%s: key %s missing", got_path, key);
        if (g) CHECK(kv_equal(g, w), "%s: key %s differs", got_path, key);
        CHECK(i < got.n_kv && str_eq(got.kv[i].key, w->key), "%s: key %llu is not %s (order)", got_path, (unsigned long long)i, key);
    }
    CHECK(got.n_tensors == want.n_tensors, "%s: %llu tensors, want %llu", got_path, (unsigned long long)got.n_tensors,
          (unsigned long long)want.n_tensors);
    for (uint64_t i = 0; i < want.n_tensors && i < got.n_tensors; i++) {
        const r1c_gguf_tensor *a = &got.tensors[i], *b = &want.tensors[i];
        int same = str_eq(a->name, b->name) && a->ggml_type == b->ggml_type && a->n_dims == b->n_dims &&
                   !memcmp(a->ne, b->ne, sizeof a->ne) && a->nbytes == b->nbytes && !memcmp(a->data, b->data, (size_t)a->nbytes);
        CHECK(same, "%s: tensor %llu (%.*s) differs from %.*s", got_path, (unsigned long long)i, (int)a->name.n, a->name.p,
              (int)b->name.n, b->name.p);
    }
    r1c_gguf_close(&got);
    r1c_gguf_close(&want);
}

/* tensor bytes and types only (any order of metadata) */
static int same_tensors(const char *pa, const char *pb) {
    r1c_gguf a, b;
    if (r1c_gguf_open(pa, 0, &a) != R1C_OK) return 0;
    if (r1c_gguf_open(pb, 0, &b) != R1C_OK) {
        r1c_gguf_close(&a);
        return 0;
    }
    int same = a.n_tensors == b.n_tensors;
    for (uint64_t i = 0; same && i < a.n_tensors; i++) {
        const r1c_gguf_tensor *x = &a.tensors[i], *y = &b.tensors[i];
        same = str_eq(x->name, y->name) && x->ggml_type == y->ggml_type && !memcmp(x->ne, y->ne, sizeof x->ne) &&
               x->nbytes == y->nbytes && !memcmp(x->data, y->data, (size_t)x->nbytes);
    }
    r1c_gguf_close(&a);
    r1c_gguf_close(&b);
    return same;
}

static const char *g_log_last;
static char g_log_buf[1024];
static void capture_log(void *u, const char *line) {
    (void)u;
    snprintf(g_log_buf, sizeof g_log_buf, "%s", line);
    g_log_last = g_log_buf;
}

/* ------------------------------------------------------------ 1. golden conversions */

static void test_golden(void) {
    for (int m = 0; m < 3; m++) {
        for (int bf = 0; bf < 2; bf++) {
            char in[256], want[256], out[64];
            snprintf(in, sizeof in, "tests/data/%s%s", DENSE[m], bf ? "/bf16" : "");
            snprintf(want, sizeof want, "%s/model-%s.gguf", in, bf ? "bf16" : "f32");
            snprintf(out, sizeof out, "golden-%d-%d.gguf", m, bf);
            r1c_convert_params p = {.outtype = bf ? R1C_BF16 : R1C_F32, .tokenizer_pre = PRE[m]};
            r1c_convert_stats st;
            r1c_status s = r1c_convert(in, tmp(out), &p, &st);
            CHECK(s == R1C_OK, "convert %s: %s", in, r1c_last_error());
            CHECK(files_equal(tmp(out), want), "%s -> GGUF (%s, pre %s) differs from %s", in, bf ? "bf16" : "f32", PRE[m], want);
            /* the pre-tokenizer derived from tokenizer.json instead */
            p.tokenizer_pre = NULL;
            s = r1c_convert(in, tmp(out), &p, &st);
            CHECK(s == R1C_OK, "convert %s: %s", in, r1c_last_error());
            static const char *const EXC[] = {"tokenizer.ggml.pre", NULL};
            compare_gguf(tmp(out), want, EXC);
            r1c_gguf g;
            if (r1c_gguf_open(tmp(out), 0, &g) == R1C_OK) {
                r1c_gguf_str pre = {"", 0};
                r1c_gguf_get_str(&g, "tokenizer.ggml.pre", &pre);
                CHECK(pre.n == 5 && !memcmp(pre.p, "gpt-2", 5), "%s: derived tokenizer.ggml.pre '%.*s', want gpt-2 (ByteLevel regex)", in,
                      (int)pre.n, pre.p);
                r1c_gguf_close(&g);
            }
        }
    }
    /* --outtype f16 / q8_0: 2-D weights converted, 1-D ones F32; Q8_0 rows of 64 fit */
    r1c_convert_params p = {.outtype = R1C_Q8_0};
    CHECK(r1c_convert("tests/data/qwen2_tiny", tmp("q80.gguf"), &p, NULL) == R1C_OK, "q8_0: %s", r1c_last_error());
    r1c_gguf g;
    if (r1c_gguf_open(tmp("q80.gguf"), 0, &g) == R1C_OK) {
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const r1c_gguf_tensor *t = &g.tensors[i];
            CHECK(t->dtype == (t->n_dims == 1 ? R1C_F32 : R1C_Q8_0), "q8_0 file: %.*s has %s", (int)t->name.n, t->name.p,
                  r1c_dtype_name(t->dtype));
        }
        uint32_t ft = 99;
        r1c_gguf_get_u32(&g, "general.file_type", &ft);
        CHECK(ft == 7, "q8_0 file: general.file_type %u", ft);
        r1c_gguf_close(&g);
    }
}

/* ------------------------------------------------------------ 2. round trips */

static void test_round_trips(void) {
    for (int m = 0; m < 3; m++) {
        char gg[256], hf[64], back[64];
        snprintf(gg, sizeof gg, "tests/data/%s/model-f32.gguf", DENSE[m]);
        snprintf(hf, sizeof hf, "hf-%d", m);
        snprintf(back, sizeof back, "back-%d.gguf", m);
        CHECK(r1c_convert(gg, tmp(hf), NULL, NULL) == R1C_OK, "GGUF -> HF %s: %s", gg, r1c_last_error());
        int v1 = 0, v2 = 0, fin;
        float *a = logits_of(gg, IDS, 12, &v1), *b = logits_of(tmp(hf), IDS, 12, &v2);
        if (a && b && v1 == v2) {
            if (m < 2) {
                CHECK(!memcmp(a, b, sizeof(float) * 12 * (size_t)v1), "%s: logits from GGUF -> HF differ from the GGUF's", DENSE[m]);
            } else {
                double d = max_diff(a, b, 12 * (size_t)v1, &fin);
                fprintf(stderr, "  %s: GGUF vs GGUF -> HF logits max |diff| %.3g (RoPE order of operations)\n", DENSE[m], d);
                CHECK(d <= 1e-5, "%s: logits from GGUF -> HF differ by %g", DENSE[m], d);
            }
        }
        free(a), free(b);
        /* and back: the same file (general.name is the folder's name, so it is given) */
        r1c_convert_params p = {.outtype = R1C_F32, .name = DENSE[m]};
        CHECK(r1c_convert(tmp(hf), tmp(back), &p, NULL) == R1C_OK, "HF -> GGUF %s: %s", hf, r1c_last_error());
        CHECK(files_equal(tmp(back), gg), "%s: GGUF -> HF -> GGUF is not the same file", DENSE[m]);
        /* a BF16 GGUF: tensors kept BF16 / F32 -> back to the same file */
        snprintf(gg, sizeof gg, "tests/data/%s/bf16/model-bf16.gguf", DENSE[m]);
        CHECK(r1c_convert(gg, tmp(hf), NULL, NULL) == R1C_OK, "GGUF -> HF %s: %s", gg, r1c_last_error());
        p.outtype = R1C_BF16, p.name = "bf16";
        CHECK(r1c_convert(tmp(hf), tmp(back), &p, NULL) == R1C_OK, "HF -> GGUF %s: %s", hf, r1c_last_error());
        CHECK(files_equal(tmp(back), gg), "%s: BF16 GGUF -> HF -> GGUF is not the same file", DENSE[m]);
    }
    /* DeepSeek-V3: experts stacked, MLA, YaRN, FP8 dequantised */
    static const char *DS[3] = {"fp32", "bf16", "fp8"};
    for (int k = 0; k < 3; k++) {
        char hf[256];
        snprintf(hf, sizeof hf, "tests/data/deepseek_v3/%s", DS[k]);
        const char *gg = tmp("ds.gguf"), *hf2 = tmp("ds-hf"), *gg2 = tmp("ds-back.gguf");
        r1c_convert_params p = {.outtype = R1C_F32};
        CHECK(r1c_convert(hf, gg, &p, NULL) == R1C_OK, "HF -> GGUF %s: %s", hf, r1c_last_error());
        int v1 = 0, v2 = 0, v3 = 0;
        float *a = logits_of(hf, IDS, 8, &v1), *b = logits_of(gg, IDS, 8, &v2);
        CHECK(a && b && v1 == v2 && !memcmp(a, b, sizeof(float) * 8 * (size_t)v1), "%s: logits of the GGUF differ from the checkpoint's",
              hf);
        CHECK(r1c_convert(gg, hf2, NULL, NULL) == R1C_OK, "GGUF -> HF %s: %s", gg, r1c_last_error());
        float *c = logits_of(hf2, IDS, 8, &v3);
        CHECK(a && c && v1 == v3 && !memcmp(a, c, sizeof(float) * 8 * (size_t)v1), "%s: logits after GGUF -> HF differ", hf);
        p.name = DS[k];
        CHECK(r1c_convert(hf2, gg2, &p, NULL) == R1C_OK, "HF -> GGUF %s: %s", hf2, r1c_last_error());
        CHECK(files_equal(gg, gg2), "%s: HF -> GGUF -> HF -> GGUF is not the same file", hf);
        r1c_gguf g;
        if (k == 2 && r1c_gguf_open(gg, 0, &g) == R1C_OK) {
            const r1c_gguf_tensor *t = r1c_gguf_find_tensor(&g, "blk.1.ffn_down_exps.weight");
            CHECK(t && t->n_dims == 3 && t->ne[0] == 160 && t->ne[1] == 64 && t->ne[2] == 8, "deepseek: stacked experts [8][64][160]");
            CHECK(r1c_gguf_find_tensor(&g, "blk.1.exp_probs_b.bias") && r1c_gguf_find_tensor(&g, "blk.0.attn_kv_b.weight"),
                  "deepseek: exp_probs_b / attn_kv_b");
            r1c_gguf_close(&g);
        }
        free(a), free(b), free(c);
    }
}

/* ------------------------------------------------------------ 3. quantize */

static const r1c_ftype ALL[8] = {R1C_FTYPE_F32, R1C_FTYPE_F16, R1C_FTYPE_BF16, R1C_FTYPE_Q8_0,
                                 R1C_FTYPE_Q4_0, R1C_FTYPE_Q4_K_S, R1C_FTYPE_Q4_K_M, R1C_FTYPE_Q6_K};

/* a Qwen2 checkpoint whose rows fit the K-quant blocks: hidden 256, ff 512, 2 layers */
static void make_k256(const char *dir) {
    mkdir(dir, 0755);
    enum { D = 256, F = 512, V = 512, KV = 128, L = 2 };
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":%d,\"intermediate_size\":%d,"
             "\"num_hidden_layers\":%d,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":%d,"
             "\"max_position_embeddings\":128,\"rms_norm_eps\":1e-6,\"rope_theta\":10000.0,\"tie_word_embeddings\":false,"
             "\"bos_token_id\":508,\"eos_token_id\":509,\"torch_dtype\":\"float32\"}",
             D, F, L, V);
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, cfg, strlen(cfg));
    static const char *TOK[2] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char src[256];
        snprintf(src, sizeof src, "tests/data/qwen2_tiny/%s", TOK[i]);
        size_t n;
        char *t = read_file(src, &n);
        snprintf(path, sizeof path, "%s/%s", dir, TOK[i]);
        if (t) write_file(path, t, n);
        free(t);
    }
    r1c_st_wtensor wt[64];
    float *bufs[64];
    char names[64][96];
    int n = 0;
    uint64_t seed = 99;
#define ADD(NAME, R, C, KIND)                                                                        \
    do {                                                                                             \
        snprintf(names[n], sizeof names[n], "%s", NAME);                                             \
        int64_t r_ = (R), c_ = (C);                                                                  \
        bufs[n] = xmalloc(sizeof(float) * (size_t)(r_ * c_));                                        \
        for (int64_t i_ = 0; i_ < r_ * c_; i_++) {                                                   \
            float u_ = test_randf(&seed);                                                            \
            bufs[n][i_] = (KIND) == 0 ? u_ * sqrtf(3.0f / (float)c_) : (KIND) == 1 ? 1 + 0.1f * u_ : 0.1f * u_; \
        }                                                                                            \
        wt[n] = (r1c_st_wtensor){.name = names[n], .dtype = R1C_F32, .n_dims = (R) == 1 ? 1 : 2, .data = bufs[n]}; \
        if ((R) == 1) wt[n].shape[0] = c_;                                                           \
        else wt[n].shape[0] = r_, wt[n].shape[1] = c_;                                               \
        n++;                                                                                         \
    } while (0)
    ADD("model.embed_tokens.weight", V, D, 2);
    ADD("lm_head.weight", V, D, 0);
    ADD("model.norm.weight", 1, D, 1);
    for (int l = 0; l < L; l++) {
        char nm[96];
#define LN(s) (snprintf(nm, sizeof nm, "model.layers.%d.%s", l, s), nm)
        ADD(LN("input_layernorm.weight"), 1, D, 1);
        ADD(LN("post_attention_layernorm.weight"), 1, D, 1);
        ADD(LN("self_attn.q_proj.weight"), D, D, 0);
        ADD(LN("self_attn.q_proj.bias"), 1, D, 2);
        ADD(LN("self_attn.k_proj.weight"), KV, D, 0);
        ADD(LN("self_attn.k_proj.bias"), 1, KV, 2);
        ADD(LN("self_attn.v_proj.weight"), KV, D, 0);
        ADD(LN("self_attn.v_proj.bias"), 1, KV, 2);
        ADD(LN("self_attn.o_proj.weight"), D, D, 0);
        ADD(LN("mlp.gate_proj.weight"), F, D, 0);
        ADD(LN("mlp.up_proj.weight"), F, D, 0);
        ADD(LN("mlp.down_proj.weight"), D, F, 0);
#undef LN
    }
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(r1c_st_write(path, wt, n, NULL) == R1C_OK, "write k256: %s", r1c_last_error());
    for (int i = 0; i < n; i++) free(bufs[i]);
}

/* Q8_0 / Q4_0 matrices stored row-interleaved at load (when the kernels have that layout) give
 * the logits of the file's own layout bit for bit: mapped (not interleaved), token by token,
 * and on the portable kernels, which read the interleaved rows one by one. */
static void check_packed(const char *model, const float *read, int V) {
    const r1c_quant_kernels *Q = r1c_kernels_get()->quant;
    int np = -1, np_map = -1, v = 0;
    float *map = logits_how(model, IDS, 12, &v, (how){.use_mmap = 1, .n_packed = &np_map});
    float *dec = logits_how(model, IDS, 12, &v, (how){.decode = 1});
    float *gen = logits_how(model, IDS, 12, &v, (how){.isa = "generic", .n_packed = &np});
    float *gdec = logits_how(model, IDS, 12, &v, (how){.isa = "generic", .decode = 1});
    const size_t bytes = sizeof(float) * 12 * (size_t)V;
    fprintf(stderr, "  %s: %d matrices row-interleaved at load\n", model, np);
    CHECK(Q->q4_0_r16 ? np > 0 : np == 0, "%s: %d matrices interleaved with kernels %s", model, np, r1c_kernel_isa());
    CHECK(np_map == 0, "%s: a mapped file was rewritten (%d matrices)", model, np_map);
    CHECK(map && !memcmp(read, map, bytes), "%s: interleaved logits differ from the mapped file's", model);
    CHECK(dec && !memcmp(read, dec, bytes), "%s: interleaved decode differs from prefill", model);
    CHECK(gen && !memcmp(read, gen, bytes), "%s: portable kernels on interleaved rows differ", model);
    CHECK(gdec && !memcmp(read, gdec, bytes), "%s: portable decode on interleaved rows differs", model);
    free(map), free(dec), free(gen), free(gdec);
}

static void test_quantize_models(void) {
    /* loose bounds on max |logit diff| against the f32 model, per type */
    static const double BOUND[8] = {1e-5, 0.05, 0.2, 0.5, 2.5, 1.5, 1.5, 0.7};
    static char k256[1200]; /* (tmp's buffers rotate) */
    snprintf(k256, sizeof k256, "%s", tmp("k256"));
    make_k256(k256);
    const char *models[3] = {"tests/data/qwen2_tiny", "tests/data/llama3_tiny", k256};
    for (int mi = 0; mi < 3; mi++) {
        int v0 = 0;
        float *ref = logits_of(models[mi], IDS, 12, &v0);
        if (!ref) continue;
        for (int k = 0; k < 8; k++) {
            const char *out = tmp("q.gguf");
            r1c_convert_stats st;
            r1c_status s = r1c_quantize_model(models[mi], out, ALL[k], NULL, &st);
            CHECK(s == R1C_OK, "quantize %s %s: %s", models[mi], r1c_ftype_name(ALL[k]), r1c_last_error());
            if (s != R1C_OK) continue;
            int v = 0, fin = 0;
            float *q = logits_of(out, IDS, 12, &v);
            if (!q) continue;
            double d = v == v0 ? max_diff(ref, q, 12 * (size_t)v, &fin) : 1e9;
            fprintf(stderr, "  quantize %-26s %-7s max |logit diff| %.4f  (%d fallbacks, %.0f KB)\n", models[mi], r1c_ftype_name(ALL[k]), d,
                    st.n_fallback, (double)st.out_bytes / 1024);
            CHECK(fin && d <= BOUND[k], "%s %s: logits differ by %g (bound %g)", models[mi], r1c_ftype_name(ALL[k]), d, BOUND[k]);
            if (mi == 2 && k >= 4) CHECK(st.n_fallback == 0, "k256 %s: %d fallbacks", r1c_ftype_name(ALL[k]), st.n_fallback);
            if (ALL[k] == R1C_FTYPE_Q8_0 || ALL[k] == R1C_FTYPE_Q4_0) check_packed(out, q, v);
            r1c_gguf g;
            if (r1c_gguf_open(out, 0, &g) == R1C_OK) {
                uint32_t ft = 999, qv = 0;
                r1c_gguf_get_u32(&g, "general.file_type", &ft);
                r1c_gguf_get_u32(&g, "general.quantization_version", &qv);
                CHECK(ft == (uint32_t)ALL[k] && qv == 2, "%s: file_type %u, quantization_version %u", r1c_ftype_name(ALL[k]), ft, qv);
                if (mi == 2 && ALL[k] == R1C_FTYPE_Q4_K_M) { /* 2 layers: use_more_bits(i, 2) is true for both */
                    const r1c_gguf_tensor *t = r1c_gguf_find_tensor(&g, "blk.1.ffn_down.weight");
                    const r1c_gguf_tensor *u = r1c_gguf_find_tensor(&g, "blk.1.ffn_up.weight");
                    const r1c_gguf_tensor *o = r1c_gguf_find_tensor(&g, "output.weight");
                    CHECK(t && t->dtype == R1C_Q6_K && u && u->dtype == R1C_Q4_K && o && o->dtype == R1C_Q6_K, "k256 Q4_K_M types");
                }
                r1c_gguf_close(&g);
            }
            free(q);
        }
        free(ref);
    }
    /* from a GGUF input (the golden BF16 file) too */
    CHECK(r1c_quantize_model("tests/data/llama3_tiny/bf16/model-bf16.gguf", tmp("qb.gguf"), R1C_FTYPE_Q8_0, NULL, NULL) == R1C_OK,
          "quantize a GGUF: %s", r1c_last_error());
    int v = 0;
    float *q = logits_of(tmp("qb.gguf"), IDS, 4, &v);
    free(q);
}

/* Q8_0 -> Q8_0 (a copy, as llama-quantize) and Q8_0 -> F32 -> Q8_0 (requantising the dequantised
 * values) give the same bytes */
static void test_requantize(void) {
    const char *a = tmp("r-a.gguf"), *b = tmp("r-b.gguf"), *c = tmp("r-c.gguf"), *d = tmp("r-d.gguf"), *k = tmp("k256");
    CHECK(r1c_quantize_model(k, a, R1C_FTYPE_Q8_0, NULL, NULL) == R1C_OK, "Q8_0: %s", r1c_last_error());
    CHECK(r1c_quantize_model(a, b, R1C_FTYPE_Q8_0, NULL, NULL) == R1C_OK, "Q8_0 -> Q8_0: %s", r1c_last_error());
    CHECK(same_tensors(a, b), "Q8_0 -> Q8_0 changed tensor bytes");
    CHECK(r1c_quantize_model(a, c, R1C_FTYPE_F32, NULL, NULL) == R1C_OK, "Q8_0 -> F32: %s", r1c_last_error());
    CHECK(r1c_quantize_model(c, d, R1C_FTYPE_Q8_0, NULL, NULL) == R1C_OK, "F32 -> Q8_0: %s", r1c_last_error());
    CHECK(same_tensors(a, d), "Q8_0 -> F32 -> Q8_0 changed tensor bytes");
    /* through a Hugging Face directory: dequantised, un-permuted (llama), unstacked (experts) and
     * back to the same Q8_0 bytes */
    static const char *SRC[2] = {"tests/data/llama3_tiny", "tests/data/deepseek_v3/fp8"};
    for (int i = 0; i < 2; i++) {
        const char *q = tmp("r-q.gguf"), *h = tmp("r-hf"), *q2 = tmp("r-q2.gguf");
        r1c_convert_params p = {.outtype = R1C_F32};
        CHECK(r1c_quantize_model(SRC[i], q, R1C_FTYPE_Q8_0, NULL, NULL) == R1C_OK, "%s Q8_0: %s", SRC[i], r1c_last_error());
        CHECK(r1c_convert(q, h, &p, NULL) == R1C_OK, "%s Q8_0 -> HF: %s", SRC[i], r1c_last_error());
        CHECK(r1c_quantize_model(h, q2, R1C_FTYPE_Q8_0, NULL, NULL) == R1C_OK, "%s HF -> Q8_0: %s", SRC[i], r1c_last_error());
        CHECK(same_tensors(q, q2), "%s: Q8_0 -> HF (f32) -> Q8_0 changed tensor bytes", SRC[i]);
    }
}

/* the recipe on a 24-layer Qwen2-shaped model (rows of 256) and a DeepSeek one */
static void test_recipe(void) {
    enum { NL = 24 };
    r1c_quant_tensor t[4 + 12 * NL];
    char names[4 + 12 * NL][64];
    int n = 0;
#define T(fmt, l, nd, e0, e1)                                                                        \
    do {                                                                                             \
        snprintf(names[n], sizeof names[n], fmt, l);                                                 \
        t[n] = (r1c_quant_tensor){names[n], nd, {e0, e1, 1, 1}, R1C_F32};                             \
        n++;                                                                                         \
    } while (0)
    T("token_embd.weight%.0d", 0, 2, 1536, 151936);
    T("output.weight%.0d", 0, 2, 1536, 151936);
    T("output_norm.weight%.0d", 0, 1, 1536, 1);
    for (int l = NL - 1; l >= 0; l--) { /* any order: the recipe visits llama.cpp's */
        T("blk.%d.attn_norm.weight", l, 1, 1536, 1);
        T("blk.%d.attn_q.weight", l, 2, 1536, 1536);
        T("blk.%d.attn_q.bias", l, 1, 1536, 1);
        T("blk.%d.attn_k.weight", l, 2, 1536, 256);
        T("blk.%d.attn_v.weight", l, 2, 1536, 256);
        T("blk.%d.attn_output.weight", l, 2, 1536, 1536);
        T("blk.%d.ffn_norm.weight", l, 1, 1536, 1);
        T("blk.%d.ffn_gate.weight", l, 2, 1536, 8960);
        T("blk.%d.ffn_up.weight", l, 2, 1536, 8960);
        T("blk.%d.ffn_down.weight", l, 2, 8960, 1536);
    }
    const r1c_quant_model qm = {"qwen2", NL, 12, 2, 0};
    for (int k = 3; k < 8; k++) {
        r1c_quant_tensor c[4 + 12 * NL];
        memcpy(c, t, sizeof(r1c_quant_tensor) * (size_t)n);
        const r1c_ftype ft = ALL[k];
        int fb = r1c_quant_recipe(ft, &qm, c, n);
        CHECK(fb == 0, "%s: %d fallbacks", r1c_ftype_name(ft), fb);
        const r1c_dtype base = ft == R1C_FTYPE_Q8_0 ? R1C_Q8_0 : ft == R1C_FTYPE_Q4_0 ? R1C_Q4_0 : ft == R1C_FTYPE_Q6_K ? R1C_Q6_K : R1C_Q4_K;
        for (int i = 0; i < n; i++) {
            const char *nm = c[i].name;
            int l = -1;
            sscanf(nm, "blk.%d.", &l);
            r1c_dtype want = base;
            if (c[i].n_dims == 1) want = R1C_F32;
            else if (!strcmp(nm, "output.weight")) want = ft == R1C_FTYPE_Q8_0 ? R1C_Q8_0 : R1C_Q6_K;
            else if (strstr(nm, "attn_v.weight") || strstr(nm, "ffn_down.weight")) {
                /* attn_v counts its tensors in llama.cpp's order = layer order here */
                if (ft == R1C_FTYPE_Q4_K_M && r1c_quant_use_more_bits(l, NL)) want = R1C_Q6_K;
                if (ft == R1C_FTYPE_Q4_K_S && (strstr(nm, "attn_v") ? l < 4 : l < NL / 8)) want = R1C_Q6_K; /* llama.cpp: Q5_K */
            }
            CHECK(c[i].type == want, "%s: %s is %s, want %s", r1c_ftype_name(ft), nm, r1c_dtype_name(c[i].type), r1c_dtype_name(want));
        }
    }
    /* Q4_K_M's 6-bit layers of 24: 0-2, 5, 8, 11, 14, 17, 20, 21-23 */
    static const int MORE[] = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};
    int k = 0;
    for (int l = 0; l < NL; l++) {
        int in = k < 12 && MORE[k] == l;
        CHECK(r1c_quant_use_more_bits(l, NL) == in, "use_more_bits(%d, 24)", l);
        k += in;
    }
    /* tied embeddings: token_embd takes the output's Q6_K; rows of 64: fallbacks */
    r1c_quant_tensor tied[3] = {{"token_embd.weight", 2, {1536, 1000, 1, 1}, R1C_F32},
                                {"blk.0.ffn_down.weight", 2, {64, 1536, 1, 1}, R1C_F32},
                                {"blk.0.attn_q.weight", 2, {96, 64, 1, 1}, R1C_F32}};
    const r1c_quant_model q1 = {"qwen2", 1, 12, 2, 0};
    int fb = r1c_quant_recipe(R1C_FTYPE_Q4_K_M, &q1, tied, 3);
    CHECK(tied[0].type == R1C_Q6_K, "tied token_embd: %s", r1c_dtype_name(tied[0].type));
    CHECK(tied[1].type == R1C_Q8_0 && tied[2].type == R1C_Q8_0 && fb == 2, "fallbacks Q6_K/Q4_K -> Q8_0 (%s %s, %d)",
          r1c_dtype_name(tied[1].type), r1c_dtype_name(tied[2].type), fb);
    r1c_quant_tensor odd[1] = {{"blk.0.attn_q.weight", 2, {80, 64, 1, 1}, R1C_F32}};
    r1c_quant_recipe(R1C_FTYPE_Q4_0, &q1, odd, 1);
    CHECK(odd[0].type == R1C_F16, "rows of 80 for Q4_0: %s", r1c_dtype_name(odd[0].type));
    /* DeepSeek with 8 experts: attn_kv_b Q8_0, attn_output Q6_K (llama.cpp Q5_K), router F32,
     * experts' ffn_down by layer from the name */
    r1c_quant_tensor ds[6] = {{"blk.1.attn_kv_b.weight", 2, {512, 4096, 1, 1}, R1C_F32},
                              {"blk.1.attn_output.weight", 2, {2048, 2048, 1, 1}, R1C_F32},
                              {"blk.1.ffn_gate_inp.weight", 2, {2048, 8, 1, 1}, R1C_F32},
                              {"blk.5.ffn_down_exps.weight", 3, {1536, 2048, 8}, R1C_F32},
                              {"blk.4.ffn_down_exps.weight", 3, {1536, 2048, 8}, R1C_F32},
                              {"blk.4.exp_probs_b.bias", 1, {8, 1, 1, 1}, R1C_F32}};
    const r1c_quant_model qd = {"deepseek2", 16, 16, 16, 8};
    r1c_quant_recipe(R1C_FTYPE_Q4_K_M, &qd, ds, 6);
    CHECK(ds[0].type == R1C_Q8_0 && ds[1].type == R1C_Q6_K && ds[2].type == R1C_F32 && ds[5].type == R1C_F32,
          "deepseek Q4_K_M: kv_b %s, attn_output %s, router %s", r1c_dtype_name(ds[0].type), r1c_dtype_name(ds[1].type),
          r1c_dtype_name(ds[2].type));
    CHECK(ds[3].type == (r1c_quant_use_more_bits(5, 16) ? R1C_Q6_K : R1C_Q4_K) &&
              ds[4].type == (r1c_quant_use_more_bits(4, 16) ? R1C_Q6_K : R1C_Q4_K),
          "deepseek experts' ffn_down by layer: %s %s", r1c_dtype_name(ds[3].type), r1c_dtype_name(ds[4].type));
#undef T
}

/* a 24-layer model through the whole quantize path: the types written follow use_more_bits */
static void test_recipe_end_to_end(void) {
    enum { NL = 24, D = 256, KV = 64, F = 256, V = 512 };
    const char *in = tmp("l24.gguf"), *out = tmp("l24-q4km.gguf");
    r1c_gguf_writer *w;
    if (r1c_gguf_writer_new(in, &w) != R1C_OK) {
        CHECK(0, "writer: %s", r1c_last_error());
        return;
    }
    r1c_gguf_add_str(w, "general.architecture", "qwen2");
    r1c_gguf_add_u32(w, "qwen2.block_count", NL);
    r1c_gguf_add_u32(w, "qwen2.context_length", 64);
    r1c_gguf_add_u32(w, "qwen2.embedding_length", D);
    r1c_gguf_add_u32(w, "qwen2.feed_forward_length", F);
    r1c_gguf_add_u32(w, "qwen2.attention.head_count", 4);
    r1c_gguf_add_u32(w, "qwen2.attention.head_count_kv", 1);
    r1c_gguf_add_u32(w, "general.file_type", 1);
    uint64_t seed = 7;
    uint16_t *pool = xmalloc(sizeof(uint16_t) * D * V);
    for (int i = 0; i < D * V; i++) pool[i] = r1c_f32_to_f16(0.06f * test_randf(&seed));
    uint16_t *ones = xmalloc(sizeof(uint16_t) * D);
    for (int i = 0; i < D; i++) ones[i] = r1c_f32_to_f16(1.0f);
    float *fones = xmalloc(sizeof(float) * D), *zeros = calloc(D, sizeof(float));
    for (int i = 0; i < D; i++) fones[i] = 1.0f;
    uint64_t ne[2];
#define MAT(name, c, r) (ne[0] = (c), ne[1] = (r), r1c_gguf_add_tensor(w, name, R1C_F16, 2, ne, pool))
#define VEC(name, c, p) (ne[0] = (c), r1c_gguf_add_tensor(w, name, R1C_F32, 1, ne, p))
    MAT("token_embd.weight", D, V);
    MAT("output.weight", D, V);
    VEC("output_norm.weight", D, fones);
    char nm[NL][12][48];
    for (int l = 0; l < NL; l++) {
        static const char *const S[12] = {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                                          "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "attn_q.bias",
                                          "attn_k.bias", "attn_v.bias"};
        for (int s = 0; s < 12; s++) snprintf(nm[l][s], sizeof nm[l][s], "blk.%d.%s", l, S[s]);
        VEC(nm[l][0], D, fones);
        MAT(nm[l][1], D, D);
        MAT(nm[l][2], D, KV);
        MAT(nm[l][3], D, KV);
        MAT(nm[l][4], D, D);
        VEC(nm[l][5], D, fones);
        MAT(nm[l][6], D, F);
        MAT(nm[l][7], D, F);
        MAT(nm[l][8], F, D);
        VEC(nm[l][9], D, zeros);
        VEC(nm[l][10], KV, zeros);
        VEC(nm[l][11], KV, zeros);
    }
#undef MAT
#undef VEC
    CHECK(r1c_gguf_writer_finish(w) == R1C_OK, "write l24: %s", r1c_last_error());
    r1c_gguf_writer_free(w);
    free(pool), free(ones), free(fones), free(zeros);
    for (int pass = 0; pass < 2; pass++) {
        const r1c_ftype ft = pass ? R1C_FTYPE_Q4_K_S : R1C_FTYPE_Q4_K_M;
        g_log_last = NULL;
        r1c_convert_params p = {.verbose = 1, .log = capture_log, .n_threads = 2};
        CHECK(r1c_quantize_model(in, out, ft, &p, NULL) == R1C_OK, "quantize l24: %s", r1c_last_error());
        CHECK(g_log_last && contains(g_log_last, "blk.23.ffn_up.weight"), "verbose: last line '%s'", g_log_last ? g_log_last : "");
        r1c_gguf g;
        if (r1c_gguf_open(out, 0, &g) != R1C_OK) {
            CHECK(0, "open: %s", r1c_last_error());
            continue;
        }
        for (int l = 0; l < NL; l++) {
            char a[48], b[48];
            snprintf(a, sizeof a, "blk.%d.attn_v.weight", l);
            snprintf(b, sizeof b, "blk.%d.ffn_down.weight", l);
            const r1c_gguf_tensor *ta = r1c_gguf_find_tensor(&g, a), *tb = r1c_gguf_find_tensor(&g, b);
            const int more = pass ? 0 : r1c_quant_use_more_bits(l, NL);
            const r1c_dtype wa = (more || (pass && l < 4)) ? R1C_Q6_K : R1C_Q4_K, wb = (more || (pass && l < NL / 8)) ? R1C_Q6_K : R1C_Q4_K;
            CHECK(ta && ta->dtype == wa, "%s %s: %s, want %s", r1c_ftype_name(ft), a, ta ? r1c_dtype_name(ta->dtype) : "-", r1c_dtype_name(wa));
            CHECK(tb && tb->dtype == wb, "%s %s: %s, want %s", r1c_ftype_name(ft), b, tb ? r1c_dtype_name(tb->dtype) : "-", r1c_dtype_name(wb));
        }
        const r1c_gguf_tensor *o = r1c_gguf_find_tensor(&g, "output.weight"), *e = r1c_gguf_find_tensor(&g, "token_embd.weight");
        CHECK(o && o->dtype == R1C_Q6_K && e && e->dtype == R1C_Q4_K, "output Q6_K, token_embd Q4_K");
        /* llama.cpp's order: non-block tensors by name, then by layer */
        CHECK(g.n_tensors > 4 && g.tensors[0].name.n == 13 && !memcmp(g.tensors[0].name.p, "output.weight", 13) &&
                  !memcmp(g.tensors[3].name.p, "blk.0.", 6),
              "tensor order");
        r1c_gguf_close(&g);
        int v = 0, fin = 0;
        float *lg = logits_of(out, IDS, 4, &v);
        if (lg) {
            max_diff(lg, lg, 4 * (size_t)v, &fin);
            CHECK(fin, "l24 %s: logits not finite", r1c_ftype_name(ft));
        }
        free(lg);
    }
}

/* the vectorised K-quant quantisers give r1c_quantize_row's bytes */
static void test_fast_kquants(void) {
    const int n = 256 * 515; /* odd block count: the pairing's padding */
    float *x = xmalloc(sizeof(float) * n);
    uint8_t *a = xmalloc((size_t)n), *b = xmalloc((size_t)n);
    uint64_t seed = 12345;
    const int isa = r1c_convert_quant_isa();
    fprintf(stderr, "  K-quant vector code on this CPU: %s\n", isa == 2 ? "AVX-512" : isa == 1 ? "AVX2" : "none (reference)");
    for (int mode = 0; mode < 10; mode++) {
        for (int i = 0; i < n; i++) {
            float u = test_randf(&seed), v;
            switch (mode) {
            case 0: v = 0.02f * u; break;
            case 1: v = u; break;
            case 2: v = test_randf(&seed) < 0.8f ? 0 : u; break; /* sparse: all-zero sub-blocks */
            case 3: v = fabsf(u) + 1; break;                      /* all positive: min > 0 */
            case 4: v = (i / 32) % 3 == 0 ? 0.5f : 1e-3f * u; break; /* constant sub-blocks */
            case 5: v = 1e-20f * u; break;                        /* tiny */
            case 6: v = (float)(int)(u * 8) / 8; break;           /* ties */
            case 7: v = i % 256 < 128 ? -100 * fabsf(u) : 1e-5f * u; break;
            case 8: v = (i % 16 == 3) ? 1e4f * u : 1e-3f * u; break; /* outliers */
            default: v = -fabsf(u) * 3; break;                    /* all negative */
            }
            x[i] = v;
        }
        static const r1c_dtype T[2] = {R1C_Q4_K, R1C_Q6_K};
        for (int k = 0; k < 2; k++) {
            const size_t nb = (size_t)r1c_dtype_row_bytes(T[k], (uint64_t)n);
            r1c_quantize_row(T[k], x, a, n);
            for (int s = 1; s <= isa; s++) {
                memset(b, 0xa5, nb);
                r1c_convert_quantize_row_isa(s, T[k], x, b, n);
                size_t i = 0;
                while (i < nb && a[i] == b[i]) i++;
                CHECK(i == nb, "%s mode %d isa %d: byte %zu (block %zu) differs from r1c_quantize_row", r1c_dtype_name(T[k]), mode, s, i,
                      i / (size_t)r1c_dtype_block_bytes(T[k]));
            }
        }
    }
    free(x), free(a), free(b);
}

/* real tokenizers (DeepSeek-V3, Llama 3.1, Qwen3 from R1C_TOKDATA) in a one-layer model: the
 * pre-tokenizer name derived from tokenizer.json, and the GGUF's tokenizer (as r1c synthesises it
 * from tokenizer.ggml.*) and the one of GGUF -> HF give the ids of the original tokenizer.json */
/* BF16 weights from a hash of (tensor, element): finite, all bits of the mantissa and sign used */
static void hash_fill(void *u, int t, uint64_t off, void *dst, size_t n) {
    (void)u;
    uint8_t *d = dst;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint64_t e = (off + i) / 2 + ((uint64_t)t << 40);
        e = (e ^ (e >> 31)) * 0x9e3779b97f4a7c15ull;
        const uint16_t h = (uint16_t)(0x3c00 | ((e >> 40) & 0x807f));
        memcpy(d + i, &h, 2);
    }
}

static void test_real_tokenizers(void) {
    const char *base = getenv("R1C_TOKDATA");
    if (!base) base = "build/tests/tokdata";
    static const char *NAME[3] = {"deepseek_v3", "llama3_1", "qwen3"}, *WANT[3] = {"deepseek-v3", "llama-bpe", "qwen2"};
    static const char TEXT[] = "Hello world! Let's test: 1234567 tokens, caf\xc3\xa9 na\xc3\xafve \xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c"
                               "\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82  \n\n\tindent <think>x</think> <|im_start|> <\xef\xbd\x9cUser\xef\xbd\x9c> done.";
    for (int k = 0; k < 3; k++) {
        char src[1024], dir[64], path[1300];
        snprintf(src, sizeof src, "%s/%s", base, NAME[k]);
        snprintf(path, sizeof path, "%s/tokenizer.json", src);
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "  (no %s: real tokenizers skipped)\n", path);
            return;
        }
        r1c_tokenizer *ref;
        if (r1c_tokenizer_load(src, &ref) != R1C_OK) {
            CHECK(0, "load %s: %s", src, r1c_last_error());
            continue;
        }
        const int V = r1c_tokenizer_n_vocab(ref);
        snprintf(dir, sizeof dir, "tok-%d", k);
        const char *d = tmp(dir);
        mkdir(d, 0755);
        static const char *F[2] = {"tokenizer.json", "tokenizer_config.json"};
        for (int f = 0; f < 2; f++) {
            size_t n;
            snprintf(path, sizeof path, "%s/%s", src, F[f]);
            char *t = read_file(path, &n);
            snprintf(path, sizeof path, "%s/%s", d, F[f]);
            if (t) write_file(path, t, n);
            free(t);
        }
        char cfg[512];
        snprintf(cfg, sizeof cfg,
                 "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":48,\"intermediate_size\":32,"
                 "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,\"vocab_size\":%d,"
                 "\"tie_word_embeddings\":true}", V);
        snprintf(path, sizeof path, "%s/config.json", d);
        write_file(path, cfg, strlen(cfg));
        /* hidden 48: BF16 rows of 96 bytes do not divide the safetensors writer's 8 MiB chunks */
        static const struct { const char *n; int r, c; } W[] = {
            {"model.embed_tokens.weight", 0, 48}, {"model.norm.weight", 1, 48},
            {"model.layers.0.input_layernorm.weight", 1, 48}, {"model.layers.0.post_attention_layernorm.weight", 1, 48},
            {"model.layers.0.self_attn.q_proj.weight", 48, 48}, {"model.layers.0.self_attn.q_proj.bias", 1, 48},
            {"model.layers.0.self_attn.k_proj.weight", 24, 48}, {"model.layers.0.self_attn.k_proj.bias", 1, 24},
            {"model.layers.0.self_attn.v_proj.weight", 24, 48}, {"model.layers.0.self_attn.v_proj.bias", 1, 24},
            {"model.layers.0.self_attn.o_proj.weight", 48, 48}, {"model.layers.0.mlp.gate_proj.weight", 32, 48},
            {"model.layers.0.mlp.up_proj.weight", 32, 48}, {"model.layers.0.mlp.down_proj.weight", 48, 32}};
        r1c_st_wtensor wt[14];
        for (int i = 0; i < 14; i++) {
            wt[i] = (r1c_st_wtensor){.name = W[i].n, .dtype = R1C_BF16, .n_dims = W[i].r == 1 ? 1 : 2, .fill = hash_fill};
            if (W[i].r == 1) wt[i].shape[0] = W[i].c;
            else wt[i].shape[0] = W[i].r ? W[i].r : V, wt[i].shape[1] = W[i].c;
        }
        snprintf(path, sizeof path, "%s/model.safetensors", d);
        CHECK(r1c_st_write(path, wt, 14, NULL) == R1C_OK, "write %s: %s", path, r1c_last_error());
        char gg[64], back[64];
        snprintf(gg, sizeof gg, "tok-%d.gguf", k);
        snprintf(back, sizeof back, "tok-%d-hf", k);
        CHECK(r1c_convert(d, tmp(gg), NULL, NULL) == R1C_OK, "convert %s: %s", d, r1c_last_error());
        r1c_gguf g;
        if (r1c_gguf_open(tmp(gg), 0, &g) == R1C_OK) {
            r1c_gguf_str pre = {"", 0};
            r1c_gguf_get_str(&g, "tokenizer.ggml.pre", &pre);
            CHECK(pre.n == strlen(WANT[k]) && !memcmp(pre.p, WANT[k], pre.n), "%s: tokenizer.ggml.pre '%.*s', want %s", NAME[k], (int)pre.n,
                  pre.p, WANT[k]);
            r1c_gguf_close(&g);
        }
        CHECK(r1c_convert(tmp(gg), tmp(back), NULL, NULL) == R1C_OK, "GGUF -> HF %s: %s", gg, r1c_last_error());
        char gg2[64];
        snprintf(gg2, sizeof gg2, "tok-%d-back.gguf", k);
        r1c_convert_params bp = {.outtype = R1C_BF16};
        CHECK(r1c_convert(tmp(back), tmp(gg2), &bp, NULL) == R1C_OK, "HF -> GGUF %s: %s", back, r1c_last_error());
        CHECK(same_tensors(tmp(gg), tmp(gg2)), "%s: GGUF -> HF -> GGUF changed tensor bytes", NAME[k]);
        r1c_model *m = NULL;
        r1c_tokenizer *rt = NULL;
        CHECK(r1c_model_load(tmp(gg), NULL, &m) == R1C_OK, "load %s: %s", gg, r1c_last_error());
        CHECK(r1c_tokenizer_load(tmp(back), &rt) == R1C_OK, "tokenizer %s: %s", back, r1c_last_error());
        for (int flags = 0; flags <= R1C_TOK_ADD_SPECIAL; flags += R1C_TOK_ADD_SPECIAL) {
            int32_t *a = NULL, *b = NULL, *c = NULL;
            int na = 0, nb = -1, nc = -1;
            r1c_tokenize(ref, TEXT, strlen(TEXT), flags, &a, &na);
            if (m && r1c_model_tokenizer(m)) r1c_tokenize(r1c_model_tokenizer(m), TEXT, strlen(TEXT), flags, &b, &nb);
            if (rt) r1c_tokenize(rt, TEXT, strlen(TEXT), flags, &c, &nc);
            CHECK(na > 10 && na == nb && !memcmp(a, b, sizeof(int32_t) * (size_t)na), "%s (flags %d): GGUF tokenizer gives other ids (%d vs %d)",
                  NAME[k], flags, nb, na);
            CHECK(na == nc && !memcmp(a, c, sizeof(int32_t) * (size_t)na), "%s (flags %d): GGUF -> HF tokenizer gives other ids (%d vs %d)",
                  NAME[k], flags, nc, na);
            free(a), free(b), free(c);
        }
        r1c_tokenizer_free(rt);
        r1c_model_free(m);
        r1c_tokenizer_free(ref);
    }
}

/* ------------------------------------------------------------ 4. bad input */

static void test_errors(void) {
    r1c_status s = r1c_convert("tests/data/no_such_model", tmp("x.gguf"), NULL, NULL);
    CHECK(s == R1C_ERR_IO && contains(r1c_last_error(), "tests/data/no_such_model"), "missing dir: %s", r1c_last_error());
    const char *dir = tmp("mistral");
    mkdir(dir, 0755);
    static const char CFG[] = "{\"architectures\":[\"MistralForCausalLM\"],\"model_type\":\"mistral\",\"hidden_size\":64,"
                              "\"intermediate_size\":128,\"num_hidden_layers\":1,\"num_attention_heads\":4,\"vocab_size\":512}";
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, CFG, strlen(CFG));
    s = r1c_convert(dir, tmp("x.gguf"), NULL, NULL);
    CHECK(s == R1C_ERR_UNSUPPORTED && contains(r1c_last_error(), "MistralForCausalLM") && !strchr(r1c_last_error(), '\n'),
          "unsupported architecture: %s", r1c_last_error());
    r1c_convert_params p = {.outtype = R1C_Q4_K};
    s = r1c_convert("tests/data/qwen2_tiny", tmp("x.gguf"), &p, NULL);
    CHECK(s == R1C_ERR_INVALID_ARG && contains(r1c_last_error(), "outtype"), "bad outtype: %s", r1c_last_error());
    s = r1c_convert("tests/data/qwen2_tiny/model-f32.gguf", tmp("x-hf"), &p, NULL);
    CHECK(s == R1C_ERR_INVALID_ARG && contains(r1c_last_error(), "outtype"), "bad outtype (GGUF input): %s", r1c_last_error());
    s = r1c_quantize_model("tests/data/no_such_model", tmp("x.gguf"), R1C_FTYPE_Q8_0, NULL, NULL);
    CHECK(s == R1C_ERR_IO, "quantize missing dir: %s", r1c_last_error());
    r1c_ftype ft;
    CHECK(r1c_ftype_parse("q4_k_m", &ft) && ft == R1C_FTYPE_Q4_K_M && !r1c_ftype_parse("Q5_K_M", &ft), "ftype names");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", test_tmpdir("convert"));
    test_golden();
    test_round_trips();
    test_fast_kquants();
    test_recipe();
    test_quantize_models();
    test_requantize();
    test_recipe_end_to_end();
    test_real_tokenizers();
    test_errors();
    return test_summary("test_convert");
}
