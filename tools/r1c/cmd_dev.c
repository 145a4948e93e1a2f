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

static const char *USAGE =
    "usage: r1c dev make-model --preset NAME --out DIR [--dtype bf16|f16|f32] [--seed S]\n"
    "                          [--layers N] [--shards N]\n"
    "presets: r1-distill-qwen-1.5b, r1-distill-qwen-7b, r1-distill-llama-8b, tiny-qwen2, tiny-llama\n";

typedef struct gen {
    uint64_t seed;
    r1c_dtype dtype;
    int *kind; /* per tensor: 0 weight, 1 norm (ones), 2 bias */
    int base;  /* number of the file's first tensor in the whole model */
} gen;

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(void *user, int index, uint64_t off, void *dst, size_t n) {
    const gen *g = user;
    const int es = r1c_dtype_size(g->dtype);
    uint8_t *d = dst;
    for (size_t i = 0; i < n / (size_t)es; i++) {
        uint64_t e = off / (uint64_t)es + i;
        float v;
        if (g->kind[g->base + index] == 1) v = 1.0f;
        else {
            uint64_t r = mix(g->seed ^ mix(((uint64_t)(g->base + index) << 40) ^ e));
            double u = (double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0; /* [-1, 1) */
            v = (float)(u * 0.0346410161513775);                 /* std 0.02 */
        }
        if (g->dtype == R1C_F32) memcpy(d + i * 4, &v, 4);
        else {
            uint16_t h = g->dtype == R1C_BF16 ? r1c_f32_to_bf16(v) : r1c_f32_to_f16(v);
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
    gen g = {seed, dt, kind, 0};
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
            gen gs = {seed, dt, kind, a}; /* same values as the single-file model */
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
