/* cmd_dev.c — `r1c dev make-model`: a checkpoint directory with random weights in the exact
 * Hugging Face layout and shapes of a real model (for benchmarks and tests; no download).
 * Values are uniform with standard deviation 0.02 (norm weights 1), drawn from a counter-based
 * generator so any chunk of any tensor can be produced independently. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "io/safetensors.h"

typedef struct preset {
    const char *name, *model_type, *arch;
    int hidden, layers, heads, kv, ff, vocab, max_pos, bos, eos, tied;
    double theta, eps;
    int llama3; /* rope_scaling llama3 factor 8, low 1, high 4, orig 8192 */
} preset;

static const preset PRESETS[] = {
    {"r1-distill-qwen-1.5b", "qwen2", "Qwen2ForCausalLM", 1536, 28, 12, 2, 8960, 151936, 131072, 151646, 151643, 0, 10000, 1e-6, 0},
    {"r1-distill-qwen-7b", "qwen2", "Qwen2ForCausalLM", 3584, 28, 28, 4, 18944, 152064, 131072, 151646, 151643, 0, 10000, 1e-6, 0},
    {"r1-distill-llama-8b", "llama", "LlamaForCausalLM", 4096, 32, 32, 8, 14336, 128256, 131072, 128000, 128001, 0, 500000, 1e-5, 1},
    {"tiny-qwen2", "qwen2", "Qwen2ForCausalLM", 64, 2, 4, 2, 160, 512, 256, 508, 509, 0, 10000, 1e-6, 0},
    {"tiny-llama", "llama", "LlamaForCausalLM", 64, 2, 4, 1, 192, 512, 256, 508, 509, 0, 500000, 1e-5, 1},
};

/* DeepSeek V2/V3 shapes (MLA + MoE) */
typedef struct ds_preset {
    const char *name, *model_type;
    int hidden, layers, heads, q_lora, kv_lora, nope, rope, v, inter, moe_inter, experts, shared, used;
    int first_dense, n_group, topk_group, vocab, mtp;
    const char *topk_method, *scoring;
    int norm_topk;
    double scaling, yarn_factor, mscale;
} ds_preset;

static const ds_preset DS_PRESETS[] = {
    {"deepseek-v2-lite", "deepseek_v2", 2048, 27, 16, 0, 512, 128, 64, 128, 10944, 1408, 64, 2, 6, 1, 1, 1, 102400, 0,
     "greedy", "softmax", 0, 1.0, 40, 0.707},
    {"deepseek-v3", "deepseek_v3", 7168, 61, 128, 1536, 512, 128, 64, 128, 18432, 2048, 256, 1, 8, 3, 8, 4, 129280, 1,
     "noaux_tc", "sigmoid", 1, 2.5, 40, 1.0},
    {"tiny-deepseek-v3", "deepseek_v3", 64, 3, 4, 48, 32, 16, 8, 16, 160, 48, 8, 1, 2, 1, 4, 2, 512, 1,
     "noaux_tc", "sigmoid", 1, 2.5, 4, 1.0},
};

static const char *USAGE =
    "usage: r1c dev make-model --preset NAME --out DIR [--dtype bf16|f16|f32|fp8] [--seed S]\n"
    "                          [--layers N] [--shards N]\n"
    "presets: r1-distill-qwen-1.5b, r1-distill-qwen-7b, r1-distill-llama-8b, tiny-qwen2, tiny-llama,\n"
    "         deepseek-v2-lite, deepseek-v3, tiny-deepseek-v3 (fp8: DeepSeek presets; 128x128 block scales)\n";

typedef struct gen {
    uint64_t seed;
    r1c_dtype dtype;
    int *kind; /* per tensor: 0 weight, 1 norm (ones), 2 bias, 3 FP8 weight, 4 FP8 scale */
    int base;  /* number of the file's first tensor in the whole model */
    r1c_dtype *dtypes; /* per tensor, when they differ (DeepSeek); NULL: all `dtype` */
} gen;

/* FP8 weights: uniform values of std 0.02 quantised with one constant block scale */
#define FP8_SCALE (0.02f / 64.0f)

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(void *user, int index, uint64_t off, void *dst, size_t n) {
    const gen *g = user;
    const r1c_dtype dt = g->dtypes ? g->dtypes[g->base + index] : g->dtype;
    const int es = r1c_dtype_size(dt), kind = g->kind[g->base + index];
    uint8_t *d = dst;
    for (size_t i = 0; i < n / (size_t)es; i++) {
        uint64_t e = off / (uint64_t)es + i;
        float v;
        if (kind == 4) {
            v = FP8_SCALE;
        } else if (kind == 1) v = 1.0f;
        else {
            uint64_t r = mix(g->seed ^ mix(((uint64_t)(g->base + index) << 40) ^ e));
            double u = (double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0; /* [-1, 1) */
            v = (float)(u * 0.0346410161513775);                 /* std 0.02 */
        }
        if (kind == 3) d[i] = r1c_f32_to_fp8(v / FP8_SCALE);
        else if (dt == R1C_F32) memcpy(d + i * 4, &v, 4);
        else {
            uint16_t h = dt == R1C_BF16 ? r1c_f32_to_bf16(v) : r1c_f32_to_f16(v);
            memcpy(d + i * 2, &h, 2);
        }
    }
}

static int write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return (fclose(f) == 0) && ok;
}

static char *config_json(const preset *p, int layers, const char *dtype) {
    cJSON *c = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(p->arch));
    cJSON_AddStringToObject(c, "model_type", p->model_type);
    cJSON_AddNumberToObject(c, "hidden_size", p->hidden);
    cJSON_AddNumberToObject(c, "intermediate_size", p->ff);
    cJSON_AddNumberToObject(c, "num_hidden_layers", layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", p->heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", p->kv);
    cJSON_AddNumberToObject(c, "vocab_size", p->vocab);
    cJSON_AddNumberToObject(c, "max_position_embeddings", p->max_pos);
    cJSON_AddNumberToObject(c, "rms_norm_eps", p->eps);
    cJSON_AddNumberToObject(c, "rope_theta", p->theta);
    cJSON_AddNumberToObject(c, "bos_token_id", p->bos);
    cJSON_AddNumberToObject(c, "eos_token_id", p->eos);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", p->tied);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddStringToObject(c, "torch_dtype", dtype);
    if (!strcmp(p->model_type, "qwen2")) cJSON_AddBoolToObject(c, "use_sliding_window", 0);
    if (p->llama3) {
        cJSON *r = cJSON_AddObjectToObject(c, "rope_scaling");
        cJSON_AddNumberToObject(r, "factor", 8.0);
        cJSON_AddNumberToObject(r, "low_freq_factor", 1.0);
        cJSON_AddNumberToObject(r, "high_freq_factor", 4.0);
        cJSON_AddNumberToObject(r, "original_max_position_embeddings", 8192);
        cJSON_AddStringToObject(r, "rope_type", "llama3");
    }
    char *s = cJSON_Print(c);
    cJSON_Delete(c);
    return s;
}

static char *ds_config_json(const ds_preset *p, int layers, int fp8) {
    cJSON *c = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(strcmp(p->model_type, "deepseek_v3") ? "DeepseekV2ForCausalLM" : "DeepseekV3ForCausalLM"));
    cJSON_AddStringToObject(c, "model_type", p->model_type);
    cJSON_AddNumberToObject(c, "hidden_size", p->hidden);
    cJSON_AddNumberToObject(c, "intermediate_size", p->inter);
    cJSON_AddNumberToObject(c, "moe_intermediate_size", p->moe_inter);
    cJSON_AddNumberToObject(c, "num_hidden_layers", layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", p->heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", p->heads);
    if (p->q_lora) cJSON_AddNumberToObject(c, "q_lora_rank", p->q_lora);
    else cJSON_AddNullToObject(c, "q_lora_rank");
    cJSON_AddNumberToObject(c, "kv_lora_rank", p->kv_lora);
    cJSON_AddNumberToObject(c, "qk_nope_head_dim", p->nope);
    cJSON_AddNumberToObject(c, "qk_rope_head_dim", p->rope);
    cJSON_AddNumberToObject(c, "v_head_dim", p->v);
    cJSON_AddNumberToObject(c, "n_routed_experts", p->experts);
    cJSON_AddNumberToObject(c, "n_shared_experts", p->shared);
    cJSON_AddNumberToObject(c, "num_experts_per_tok", p->used);
    cJSON_AddNumberToObject(c, "first_k_dense_replace", p->first_dense);
    cJSON_AddNumberToObject(c, "moe_layer_freq", 1);
    cJSON_AddNumberToObject(c, "n_group", p->n_group);
    cJSON_AddNumberToObject(c, "topk_group", p->topk_group);
    cJSON_AddStringToObject(c, "topk_method", p->topk_method);
    cJSON_AddStringToObject(c, "scoring_func", p->scoring);
    cJSON_AddBoolToObject(c, "norm_topk_prob", p->norm_topk);
    cJSON_AddNumberToObject(c, "routed_scaling_factor", p->scaling);
    cJSON_AddNumberToObject(c, "num_nextn_predict_layers", p->mtp);
    cJSON_AddNumberToObject(c, "vocab_size", p->vocab);
    cJSON_AddNumberToObject(c, "max_position_embeddings", 163840);
    cJSON_AddNumberToObject(c, "rms_norm_eps", 1e-6);
    cJSON_AddNumberToObject(c, "rope_theta", 10000);
    cJSON_AddNumberToObject(c, "bos_token_id", 0);
    cJSON_AddNumberToObject(c, "eos_token_id", 1);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", 0);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddStringToObject(c, "torch_dtype", "bfloat16");
    cJSON *r = cJSON_AddObjectToObject(c, "rope_scaling");
    cJSON_AddStringToObject(r, "type", "yarn");
    cJSON_AddNumberToObject(r, "factor", p->yarn_factor);
    cJSON_AddNumberToObject(r, "original_max_position_embeddings", 4096);
    cJSON_AddNumberToObject(r, "beta_fast", 32);
    cJSON_AddNumberToObject(r, "beta_slow", 1);
    cJSON_AddNumberToObject(r, "mscale", p->mscale);
    cJSON_AddNumberToObject(r, "mscale_all_dim", p->mscale);
    if (fp8) {
        cJSON *q = cJSON_AddObjectToObject(c, "quantization_config");
        cJSON_AddStringToObject(q, "activation_scheme", "dynamic");
        cJSON_AddStringToObject(q, "fmt", "e4m3");
        cJSON_AddStringToObject(q, "quant_method", "fp8");
        cJSON *b = cJSON_AddArrayToObject(q, "weight_block_size");
        cJSON_AddItemToArray(b, cJSON_CreateNumber(128));
        cJSON_AddItemToArray(b, cJSON_CreateNumber(128));
    }
    char *s = cJSON_Print(c);
    cJSON_Delete(c);
    return s;
}

/* DeepSeek checkpoints in the official layout: with --dtype fp8 every Linear of attention,
 * MLPs and experts is F8_E4M3 with a weight_scale_inv grid; embeddings, norms, router and
 * lm_head stay BF16, the correction bias F32 — as DeepSeek ships V3/R1. */
static int make_deepseek(const ds_preset *p, const char *out, const char *dts, uint64_t seed, int layers) {
    const char *C = "dev make-model";
    const int fp8 = !strcmp(dts, "fp8");
    r1c_dtype dt = fp8 ? R1C_BF16 : !strcmp(dts, "bf16") ? R1C_BF16 : !strcmp(dts, "f16") ? R1C_F16 : !strcmp(dts, "f32") ? R1C_F32 : R1C_DTYPE_COUNT;
    if (dt == R1C_DTYPE_COUNT) return cli_fail(C, "--dtype must be bf16, f16, f32 or fp8, got '%s'", dts);
    if (!layers) layers = p->layers;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) return cli_fail(C, "%s: cannot create directory", out);
    const int64_t D = p->hidden, H = p->heads, qhd = p->nope + p->rope;
    int cap = 32 + (layers + p->mtp) * (20 + 6 * p->experts), n = 0;
    r1c_st_wtensor *t = calloc((size_t)cap, sizeof *t);
    int *kind = calloc((size_t)cap, sizeof *kind);
    r1c_dtype *dts_ = calloc((size_t)cap, sizeof *dts_);
    char (*names)[112] = calloc((size_t)cap, sizeof *names);
    gen g = {seed, dt, kind, 0, dts_};
#define ADDT(k, d, r, cc, ...)                                                                 \
    do {                                                                                       \
        snprintf(names[n], sizeof names[n], __VA_ARGS__);                                      \
        t[n] = (r1c_st_wtensor){.name = names[n], .dtype = (d), .n_dims = ((cc) != 0) ? 2 : 1,  \
                                .shape = {r, cc}, .fill = fill, .user = &g};                   \
        kind[n] = k, dts_[n] = (d);                                                            \
        n++;                                                                                   \
    } while (0)
    /* a Linear: FP8 + scales, or the plain dtype */
#define LIN(r, cc, ...)                                                                        \
    do {                                                                                       \
        if (fp8) {                                                                             \
            ADDT(3, R1C_F8_E4M3, r, cc, __VA_ARGS__);                                          \
            char wname_[112];                                                                  \
            memcpy(wname_, names[n - 1], sizeof wname_);                                       \
            ADDT(4, R1C_F32, ((r) + 127) / 128, ((cc) + 127) / 128, "%s_scale_inv", wname_);  \
        } else {                                                                               \
            ADDT(0, dt, r, cc, __VA_ARGS__);                                                   \
        }                                                                                      \
    } while (0)
    ADDT(0, dt, p->vocab, D, "model.embed_tokens.weight");
    for (int l = 0; l < layers + p->mtp; l++) {
        if (l >= layers) { /* multi-token prediction: its own norms, projection and head, then a decoder layer */
            ADDT(1, dt, D, 0, "model.layers.%d.enorm.weight", l);
            ADDT(1, dt, D, 0, "model.layers.%d.hnorm.weight", l);
            LIN(D, 2 * D, "model.layers.%d.eh_proj.weight", l);
            ADDT(1, dt, D, 0, "model.layers.%d.shared_head.norm.weight", l);
            ADDT(0, dt, p->vocab, D, "model.layers.%d.shared_head.head.weight", l);
        }
        ADDT(1, dt, D, 0, "model.layers.%d.input_layernorm.weight", l);
        if (p->q_lora) {
            LIN(p->q_lora, D, "model.layers.%d.self_attn.q_a_proj.weight", l);
            ADDT(1, dt, p->q_lora, 0, "model.layers.%d.self_attn.q_a_layernorm.weight", l);
            LIN(H * qhd, p->q_lora, "model.layers.%d.self_attn.q_b_proj.weight", l);
        } else {
            LIN(H * qhd, D, "model.layers.%d.self_attn.q_proj.weight", l);
        }
        LIN(p->kv_lora + p->rope, D, "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight", l);
        ADDT(1, dt, p->kv_lora, 0, "model.layers.%d.self_attn.kv_a_layernorm.weight", l);
        LIN(H * (p->nope + p->v), p->kv_lora, "model.layers.%d.self_attn.kv_b_proj.weight", l);
        LIN(D, H * p->v, "model.layers.%d.self_attn.o_proj.weight", l);
        ADDT(1, dt, D, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        if (l < p->first_dense) {
            LIN(p->inter, D, "model.layers.%d.mlp.gate_proj.weight", l);
            LIN(p->inter, D, "model.layers.%d.mlp.up_proj.weight", l);
            LIN(D, p->inter, "model.layers.%d.mlp.down_proj.weight", l);
            continue;
        }
        ADDT(0, dt, p->experts, D, "model.layers.%d.mlp.gate.weight", l);
        if (!strcmp(p->topk_method, "noaux_tc")) ADDT(2, R1C_F32, p->experts, 0, "model.layers.%d.mlp.gate.e_score_correction_bias", l);
        for (int e = 0; e < p->experts; e++) {
            LIN(p->moe_inter, D, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, e);
            LIN(p->moe_inter, D, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e);
            LIN(D, p->moe_inter, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
        }
        if (p->shared) {
            LIN(p->moe_inter * p->shared, D, "model.layers.%d.mlp.shared_experts.gate_proj.weight", l);
            LIN(p->moe_inter * p->shared, D, "model.layers.%d.mlp.shared_experts.up_proj.weight", l);
            LIN(D, p->moe_inter * p->shared, "model.layers.%d.mlp.shared_experts.down_proj.weight", l);
        }
    }
    ADDT(1, dt, D, 0, "model.norm.weight");
    ADDT(0, dt, p->vocab, D, "lm_head.weight");
#undef LIN
#undef ADDT
    int rc = 0;
    char *cfg = ds_config_json(p, layers, fp8), path[4096];
    if (!write_text(out, "config.json", cfg)) rc = cli_fail(C, "%s: cannot write config.json", out);
    free(cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    const char *meta[] = {"format", "pt", NULL};
    if (rc == 0 && r1c_st_write(path, t, n, meta) != R1C_OK) rc = cli_fail(C, "%s", r1c_last_error());
    if (rc == 0) fprintf(stderr, "r1c dev make-model: wrote %s (%s, %d layers, %s, %d tensors)\n", out, p->name, layers, dts, n);
    free(t), free(kind), free(dts_), free(names);
    return rc;
}

static int make_model(int argc, char **argv) {
    const char *C = "dev make-model", *pname = NULL, *out = NULL, *dts = "bf16";
    uint64_t seed = 1234;
    long layers = 0, shards = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!(v = cli_value(C, argc, argv, &i, "--preset --out --dtype --seed --layers --shards"))) {
            return 2;
        } else if (!strcmp(a, "--preset")) {
            pname = v;
        } else if (!strcmp(a, "--out")) {
            out = v;
        } else if (!strcmp(a, "--dtype")) {
            dts = v;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_u64(C, a, v, &seed)) return 2;
        } else if (!strcmp(a, "--layers")) {
            if (!cli_int(C, a, v, 1, 4096, &layers)) return 2;
        } else if (!strcmp(a, "--shards")) {
            if (!cli_int(C, a, v, 1, 999, &shards)) return 2;
        } else {
            cli_fail(C, "unknown option '%s'", a);
            return 2;
        }
    }
    for (size_t i = 0; pname && i < sizeof DS_PRESETS / sizeof *DS_PRESETS; i++)
        if (!strcmp(DS_PRESETS[i].name, pname)) return make_deepseek(&DS_PRESETS[i], out, dts, seed, (int)layers);
    const preset *p = NULL;
    for (size_t i = 0; pname && i < sizeof PRESETS / sizeof *PRESETS; i++)
        if (!strcmp(PRESETS[i].name, pname)) p = &PRESETS[i];
    if (!p || !out) {
        fputs(USAGE, stderr);
        return 2;
    }
    r1c_dtype dt = !strcmp(dts, "bf16") ? R1C_BF16 : !strcmp(dts, "f16") ? R1C_F16 : !strcmp(dts, "f32") ? R1C_F32 : R1C_DTYPE_COUNT;
    if (dt == R1C_DTYPE_COUNT) return cli_fail(C, "--dtype must be bf16, f16 or f32, got '%s'", dts);
    if (!layers) layers = p->layers;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) return cli_fail(C, "%s: cannot create directory", out);

    const int64_t D = p->hidden, F = p->ff, hd = D / p->heads, qd = p->heads * hd, kvd = p->kv * hd, V = p->vocab;
    int qwen = !strcmp(p->model_type, "qwen2");
    int cap = 4 + 13 * (int)layers, n = 0;
    r1c_st_wtensor *t = calloc((size_t)cap, sizeof *t);
    int *kind = calloc((size_t)cap, sizeof *kind);
    char (*names)[96] = calloc((size_t)cap, sizeof *names);
    gen g = {seed, dt, kind, 0, NULL};
#define ADD(k, r, c, ...)                                                      \
    do {                                                                       \
        snprintf(names[n], sizeof names[n], __VA_ARGS__);                      \
        t[n] = (r1c_st_wtensor){.name = names[n], .dtype = dt, .n_dims = (c) ? 2 : 1, \
                                .shape = {r, c}, .fill = fill, .user = &g};    \
        kind[n++] = k;                                                         \
    } while (0)
    ADD(0, V, D, "model.embed_tokens.weight");
    for (int l = 0; l < layers; l++) {
        ADD(1, D, 0, "model.layers.%d.input_layernorm.weight", l);
        ADD(0, qd, D, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(0, kvd, D, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(0, kvd, D, "model.layers.%d.self_attn.v_proj.weight", l);
        if (qwen) {
            ADD(2, qd, 0, "model.layers.%d.self_attn.q_proj.bias", l);
            ADD(2, kvd, 0, "model.layers.%d.self_attn.k_proj.bias", l);
            ADD(2, kvd, 0, "model.layers.%d.self_attn.v_proj.bias", l);
        }
        ADD(0, D, qd, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(1, D, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(0, F, D, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(0, F, D, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(0, D, F, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(1, D, 0, "model.norm.weight");
    if (!p->tied) ADD(0, V, D, "lm_head.weight");
#undef ADD
    int rc = 0;
    char *cfg = config_json(p, (int)layers, dt == R1C_BF16 ? "bfloat16" : dt == R1C_F16 ? "float16" : "float32");
    char gen_cfg[128];
    snprintf(gen_cfg, sizeof gen_cfg, "{\"bos_token_id\": %d, \"eos_token_id\": %d, \"do_sample\": true}\n", p->bos, p->eos);
    if (!write_text(out, "config.json", cfg) || !write_text(out, "generation_config.json", gen_cfg))
        rc = cli_fail(C, "%s: cannot write config files", out);
    free(cfg);
    const char *meta[] = {"format", "pt", NULL};
    if (rc == 0 && shards == 1) {
        char path[4096];
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        if (r1c_st_write(path, t, n, meta) != R1C_OK) rc = cli_fail(C, "%s", r1c_last_error());
    } else if (rc == 0) {
        /* contiguous runs of tensors per shard, named as Hugging Face names them */
        cJSON *idx = cJSON_CreateObject(), *wm = cJSON_AddObjectToObject(idx, "weight_map");
        for (int s = 0; s < shards && rc == 0; s++) {
            int a = (int)((int64_t)n * s / shards), b = (int)((int64_t)n * (s + 1) / shards);
            char fname[64], path[4096];
            snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, (int)shards);
            snprintf(path, sizeof path, "%s/%s", out, fname);
            gen gs = {seed, dt, kind, a, NULL}; /* same values as the single-file model */
            for (int i = a; i < b; i++) {
                t[i].user = &gs;
                cJSON_AddStringToObject(wm, t[i].name, fname);
            }
            if (r1c_st_write(path, t + a, b - a, meta) != R1C_OK) rc = cli_fail(C, "%s", r1c_last_error());
        }
        char *js = cJSON_Print(idx);
        if (rc == 0 && !write_text(out, "model.safetensors.index.json", js)) rc = cli_fail(C, "cannot write index");
        free(js);
        cJSON_Delete(idx);
    }
    if (rc == 0) fprintf(stderr, "r1c dev make-model: wrote %s (%s, %ld layers, %s, %d tensors)\n", out, p->name, layers, dts, n);
    free(t), free(kind), free(names);
    return rc;
}

int cmd_dev(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "make-model")) return make_model(argc - 1, argv + 1);
    fputs(USAGE, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return 2;
}
