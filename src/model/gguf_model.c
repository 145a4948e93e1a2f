/* gguf_model.c — a model from one .gguf file, as llama.cpp writes them: the config from
 * "<arch>.*" metadata, the weights by llama.cpp's tensor names, the tokenizer from
 * "tokenizer.ggml.*". The architectures bind weights by Hugging Face names; this file
 * translates those names (and slices llama.cpp's stacked expert tensors), so one binding
 * code path serves both formats.
 *
 * Conversions llama.cpp's converter makes that matter here:
 *  - llama: the rows of attn_q / attn_k are permuted per head so that adjacent-pair ("NORM")
 *    RoPE applies; r1c rotates adjacent pairs for such files instead of un-permuting.
 *  - qwen2: no permutation (NEOX RoPE = Hugging Face's rotate-half).
 *  - llama3 rope scaling: no metadata, but a rope_freqs tensor of per-frequency divisors.
 *  - deepseek2 (DeepSeek V2 / V3 / R1): experts stacked [E][F][D] per layer; routing from
 *    expert_gating_func; YaRN from rope.scaling.*. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../base/mem.h"
#include "../io/gguf.h"
#include "../tokenizer/tokenizer.h"
#include "model.h"

int r1c_is_gguf_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

/* ------------------------------------------------------------ metadata */

typedef struct meta {
    const r1c_gguf *g;
    char arch[32];
} meta;

/* <arch>.<suffix> as u32, within [lo, hi] (the same bounds config.json's fields get) */
static r1c_status get_u32(const meta *mt, const char *suffix, int required, uint32_t def, uint32_t lo, uint32_t hi,
                          uint32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", mt->arch, suffix);
    if (!r1c_gguf_find(mt->g, key)) {
        if (required) return r1c_error(R1C_ERR_MISSING, "%s: metadata key '%s' is missing", mt->g->path, key);
        *out = def;
        return R1C_OK;
    }
    r1c_status st = r1c_gguf_get_u32(mt->g, key, out);
    if (st == R1C_OK && (*out < lo || *out > hi))
        return r1c_error(R1C_ERR_FORMAT, "%s: metadata key '%s' = %u is outside [%u, %u]", mt->g->path, key, *out, lo, hi);
    return st;
}

/* a token id key (tokenizer.ggml.*_token_id): -1 when absent; an error when not a token */
static r1c_status get_token_id(const r1c_gguf *g, const char *key, int vocab, int *out) {
    uint32_t u;
    *out = -1;
    if (!r1c_gguf_find(g, key)) return R1C_OK;
    r1c_status st = r1c_gguf_get_u32(g, key, &u);
    if (st != R1C_OK) return st;
    if (u >= (uint32_t)vocab)
        return r1c_error(R1C_ERR_FORMAT, "%s: metadata key '%s' = %u is not a token id (vocabulary %d)", g->path, key, u, vocab);
    *out = (int)u;
    return R1C_OK;
}

static r1c_status get_f32(const meta *mt, const char *suffix, float def, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", mt->arch, suffix);
    if (!r1c_gguf_find(mt->g, key)) {
        *out = def;
        return R1C_OK;
    }
    return r1c_gguf_get_f32(mt->g, key, out);
}

static int str_is(r1c_gguf_str s, const char *c) { return s.n == strlen(c) && memcmp(s.p, c, s.n) == 0; }

static r1c_status config_from_gguf(r1c_model *m, const meta *mt) {
    r1c_hf_config *c = &m->cfg;
    const r1c_gguf *g = mt->g;
    uint32_t u;
    float f;
    r1c_status st;
#define MAX_DIM (1u << 20)
#define UR(field, key, req, def, lo, hi) \
    if ((st = get_u32(mt, key, req, def, lo, hi, &u)) != R1C_OK) return st; \
    c->field = (int)u
#define U(field, key, req, def) UR(field, key, req, def, 0, MAX_DIM)
    memset(c, 0, sizeof *c);
    snprintf(c->hidden_act, sizeof c->hidden_act, "silu");
    UR(hidden_size, "embedding_length", 1, 0, 1, MAX_DIM);
    UR(num_hidden_layers, "block_count", 1, 0, 1, 4096);
    UR(intermediate_size, "feed_forward_length", 0, 0, 0, MAX_DIM);
    UR(num_attention_heads, "attention.head_count", 1, 0, 1, 65536);
    UR(num_key_value_heads, "attention.head_count_kv", 0, (uint32_t)c->num_attention_heads, 1, 65536);
    UR(max_position_embeddings, "context_length", 0, 4096, 1, 1u << 30);
    if (c->num_attention_heads % c->num_key_value_heads)
        return r1c_error(R1C_ERR_FORMAT, "%s: %s.attention.head_count (%d) is not a multiple of %s.attention.head_count_kv (%d)",
                         g->path, mt->arch, c->num_attention_heads, mt->arch, c->num_key_value_heads);
    if ((st = get_f32(mt, "rope.freq_base", 10000.0f, &f)) != R1C_OK) return st;
    c->rope_theta = f;
    if ((st = get_f32(mt, "attention.layer_norm_rms_epsilon", 1e-6f, &f)) != R1C_OK) return st;
    c->rms_norm_eps = f;
    /* the vocabulary: the tokenizer's tokens, else the embedding table */
    const r1c_gguf_kv *tok = r1c_gguf_find(g, "tokenizer.ggml.tokens");
    const r1c_gguf_tensor *emb = r1c_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return r1c_error(R1C_ERR_MISSING, "%s: tensor 'token_embd.weight' is missing", g->path);
    if (emb->n_dims != 2 || emb->ne[1] < 1 || emb->ne[1] > (1u << 24))
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor 'token_embd.weight' must be [vocab <= 2^24, hidden]", g->path);
    c->vocab_size = (int)emb->ne[1];
    if (tok && tok->arr_n > (uint64_t)c->vocab_size) {
        if (tok->arr_n > (1u << 24))
            return r1c_error(R1C_ERR_FORMAT, "%s: metadata key 'tokenizer.ggml.tokens' has %llu tokens (at most 2^24)", g->path,
                             (unsigned long long)tok->arr_n);
        c->vocab_size = (int)tok->arr_n;
    }
    int id;
    if ((st = get_token_id(g, "tokenizer.ggml.bos_token_id", c->vocab_size, &c->bos_token_id)) != R1C_OK) return st;
    if ((st = get_token_id(g, "tokenizer.ggml.eos_token_id", c->vocab_size, &id)) != R1C_OK) return st;
    if (id >= 0) c->eos_token_id[c->n_eos++] = id;
    if ((st = get_token_id(g, "tokenizer.ggml.eot_token_id", c->vocab_size, &id)) != R1C_OK) return st;
    if (id >= 0 && (c->n_eos == 0 || c->eos_token_id[0] != id)) c->eos_token_id[c->n_eos++] = id;
    c->tie_word_embeddings = !r1c_gguf_find_tensor(g, "output.weight");

    if (!strcmp(mt->arch, "qwen2") || !strcmp(mt->arch, "llama")) {
        snprintf(c->model_type, sizeof c->model_type, "%s", mt->arch);
        UR(head_dim, "attention.key_length", 0, (uint32_t)(c->hidden_size / c->num_attention_heads), 2, 65536);
        if (c->head_dim % 2 || (long long)c->num_attention_heads * c->head_dim > MAX_DIM)
            return r1c_error(R1C_ERR_FORMAT, "%s: head dimension %d (%s.attention.key_length, or embedding_length / head_count) "
                             "must be even and heads x head dimension at most 2^20", g->path, c->head_dim, mt->arch);
        c->qkv_bias = r1c_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
        c->o_bias = r1c_gguf_find_tensor(g, "blk.0.attn_output.bias") != NULL;
        /* llama3 scaling arrives as a tensor of divisors (read by the dense binder) */
        return R1C_OK;
    }
    if (strcmp(mt->arch, "deepseek2") != 0)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: general.architecture '%s' is not supported (llama, qwen2, deepseek2)", g->path, mt->arch);
    /* DeepSeek V2 / V3 / R1 */
    uint32_t gating = 1, key_len, rope;
    c->is_deepseek = 1;
    U(q_lora_rank, "attention.q_lora_rank", 0, 0);
    UR(kv_lora_rank, "attention.kv_lora_rank", 1, 0, 1, MAX_DIM);
    if ((st = get_u32(mt, "attention.key_length", 1, 0, 2, 65536, &key_len)) != R1C_OK) return st;
    if ((st = get_u32(mt, "rope.dimension_count", 1, 0, 2, key_len, &rope)) != R1C_OK) return st;
    if (rope % 2) return r1c_error(R1C_ERR_FORMAT, "%s: %s.rope.dimension_count = %u must be even", g->path, mt->arch, rope);
    UR(v_head_dim, "attention.value_length", 1, 0, 1, 65536);
    c->qk_rope_head_dim = (int)rope;
    c->qk_nope_head_dim = (int)key_len - (int)rope;
    c->head_dim = (int)key_len;
    U(first_k_dense_replace, "leading_dense_block_count", 0, 0);
    UR(n_routed_experts, "expert_count", 0, 0, 0, 65536);
    U(num_experts_per_tok, "expert_used_count", 0, 0);
    U(n_shared_experts, "expert_shared_count", 0, 0);
    U(moe_intermediate_size, "expert_feed_forward_length", 0, 0);
    U(n_group, "expert_group_count", 0, 1);
    U(topk_group, "expert_group_used_count", 0, 1);
    U(num_nextn_predict_layers, "nextn_predict_layers", 0, 0);
    c->moe_layer_freq = 1;
    if ((st = get_f32(mt, "expert_weights_scale", 1.0f, &f)) != R1C_OK) return st;
    c->routed_scaling_factor = f;
    char key[128];
    snprintf(key, sizeof key, "%s.expert_weights_norm", mt->arch);
    int norm = 0;
    if (r1c_gguf_find(g, key) && (st = r1c_gguf_get_bool(g, key, &norm)) != R1C_OK) return st;
    c->norm_topk_prob = norm;
    if ((st = get_u32(mt, "expert_gating_func", 0, 1, 0, 0xffffffffu, &gating)) != R1C_OK) return st;
    if (gating != 1 && gating != 2)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: %s.expert_gating_func = %u is not supported (1 softmax, 2 sigmoid)", g->path, mt->arch, gating);
    c->scoring_func = gating == 2 ? R1C_SCORE_SIGMOID : R1C_SCORE_SOFTMAX;
    const int biased = r1c_gguf_find_tensor(g, "blk.1.exp_probs_b.bias") || (c->n_routed_experts && c->first_k_dense_replace != 1 &&
                       r1c_gguf_find_tensor(g, "blk.3.exp_probs_b.bias"));
    c->topk_method = biased ? R1C_TOPK_NOAUX_TC : c->n_group > 1 ? R1C_TOPK_GROUP_LIMITED : R1C_TOPK_GREEDY;
    snprintf(c->model_type, sizeof c->model_type, "%s", biased || gating == 2 ? "deepseek_v3" : "deepseek_v2");
    snprintf(key, sizeof key, "%s.rope.scaling.type", mt->arch);
    r1c_gguf_str type;
    if (r1c_gguf_find(g, key) && r1c_gguf_get_str(g, key, &type) == R1C_OK && str_is(type, "yarn")) {
        c->rope_scaling.type = R1C_ROPE_YARN;
        if ((st = get_f32(mt, "rope.scaling.factor", 1.0f, &f)) != R1C_OK) return st;
        c->rope_scaling.factor = f;
        if ((st = get_u32(mt, "rope.scaling.original_context_length", 0, 4096, 1, 1u << 30, &u)) != R1C_OK) return st;
        c->rope_scaling.original_max_position_embeddings = u;
        c->rope_scaling.beta_fast = 32, c->rope_scaling.beta_slow = 1;
        /* the converter writes yarn_log_multiplier = 0.1 * mscale_all_dim */
        if ((st = get_f32(mt, "rope.scaling.yarn_log_multiplier", 0.1f, &f)) != R1C_OK) return st;
        c->rope_scaling.mscale = c->rope_scaling.mscale_all_dim = f / 0.1;
    }
#undef U
#undef UR
#undef MAX_DIM
    if (c->n_routed_experts && (c->num_experts_per_tok < 1 || c->num_experts_per_tok > c->n_routed_experts || c->n_group < 1 ||
                                c->n_routed_experts % c->n_group || c->topk_group > c->n_group))
        return r1c_error(R1C_ERR_FORMAT, "%s: inconsistent expert metadata (count %d, used %d, groups %d/%d)", g->path,
                         c->n_routed_experts, c->num_experts_per_tok, c->topk_group, c->n_group);
    return R1C_OK;
}

/* ------------------------------------------------------------ tokenizer */

/* The pre-tokenizer names llama.cpp's converter assigns, as tokenizer.json's pre_tokenizer (and
 * normalizer) of the same tokenizers. */
static const char *pre_tokenizer_json(r1c_gguf_str pre, const char **normalizer) {
    static const char LLAMA3[] =
        "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
        "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}";
    static const char QWEN2[] =
        "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
        "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}";
    static const char DEEPSEEK3[] =
        "{\"type\":\"Sequence\",\"pretokenizers\":["
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,3}\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[\\u4e00-\\u9fa5\\u3040-\\u309f\\u30a0-\\u30ff]+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[!\\\"#$%&'()*+,\\\\-./:;<=>?@\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}\\\\p{M}]+| ?[\\\\p{P}\\\\p{S}]+[\\r\\n]*|\\\\s*[\\r\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}";
    static const char GPT2[] = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}";
    *normalizer = "null";
    if (str_is(pre, "llama-bpe") || str_is(pre, "llama3") || str_is(pre, "smaug-bpe")) return LLAMA3;
    if (str_is(pre, "qwen2") || str_is(pre, "deepseek-r1-qwen")) {
        *normalizer = "{\"type\":\"NFC\"}"; /* the Qwen2 tokenizer.json normalizes to NFC */
        return QWEN2;
    }
    if (str_is(pre, "deepseek-v3")) return DEEPSEEK3;
    if (str_is(pre, "gpt-2") || str_is(pre, "default") || pre.n == 0) return GPT2;
    return NULL;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1 << 20;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* a JSON string literal of raw bytes (\u escapes for control characters) */
static void put_json_str(sbuf *b, const char *s, size_t n) {
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            put(b, e, 6);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

/* tokenizer.ggml.* -> the tokenizer.json and tokenizer_config.json a Hugging Face checkpoint of
 * the same tokenizer would have (see model.h: r1c_gguf_tokenizer_files) */
r1c_status r1c_gguf_tokenizer_files(const r1c_gguf *g, int hf_complete, char **tok_json, size_t *tok_len, char **cfg_json,
                                    size_t *cfg_len) {
    *tok_json = *cfg_json = NULL;
    *tok_len = *cfg_len = 0;
    const r1c_gguf_kv *model = r1c_gguf_find(g, "tokenizer.ggml.model");
    if (!model) return r1c_error(R1C_ERR_MISSING, "%s: metadata key 'tokenizer.ggml.model' is missing (no tokenizer in the file)", g->path);
    if (model->type != R1C_GGUF_STRING || !str_is(model->v.s, "gpt2"))
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%.*s' is not supported (gpt2: byte-level BPE)", g->path,
                         model->type == R1C_GGUF_STRING ? (int)model->v.s.n : 1, model->type == R1C_GGUF_STRING ? model->v.s.p : "?");
    const r1c_gguf_kv *toks = r1c_gguf_find(g, "tokenizer.ggml.tokens"), *merges = r1c_gguf_find(g, "tokenizer.ggml.merges");
    const r1c_gguf_kv *types = r1c_gguf_find(g, "tokenizer.ggml.token_type");
    if (!toks || toks->type != R1C_GGUF_ARRAY || toks->arr_type != R1C_GGUF_STRING)
        return r1c_error(R1C_ERR_FORMAT, "%s: tokenizer.ggml.tokens must be an array of strings", g->path);
    if (!merges || merges->type != R1C_GGUF_ARRAY || merges->arr_type != R1C_GGUF_STRING)
        return r1c_error(R1C_ERR_FORMAT, "%s: tokenizer.ggml.merges must be an array of strings", g->path);
    if (types && (types->type != R1C_GGUF_ARRAY || types->arr_type != R1C_GGUF_INT32 || types->arr_n != toks->arr_n))
        return r1c_error(R1C_ERR_FORMAT, "%s: tokenizer.ggml.token_type must be one int32 per token", g->path);
    r1c_gguf_str pre = {"", 0};
    const r1c_gguf_kv *pk = r1c_gguf_find(g, "tokenizer.ggml.pre");
    if (pk && pk->type == R1C_GGUF_STRING) pre = pk->v.s;
    const char *norm, *pretok = pre_tokenizer_json(pre, &norm);
    if (!pretok)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre '%.*s' is not supported (llama-bpe, qwen2, deepseek-r1-qwen, deepseek-v3, gpt-2)",
                         g->path, (int)pre.n, pre.p);
    sbuf j = {0}, cfg = {0};
    puts_(&j, hf_complete ? "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
                          : "{\"version\":\"1.0\",\"added_tokens\":[");
    int first = 1;
    for (uint64_t i = 0; types && i < toks->arr_n; i++) {
        int32_t t;
        memcpy(&t, types->arr + 4 * i, 4);
        if (t != 3 && t != 4) continue; /* CONTROL (special) and USER_DEFINED: added tokens */
        char head[192];
        snprintf(head, sizeof head, "%s{\"id\":%llu,\"special\":%s,\"normalized\":false,%s\"content\":", first ? "" : ",",
                 (unsigned long long)i, t == 3 ? "true" : "false",
                 hf_complete ? "\"single_word\":false,\"lstrip\":false,\"rstrip\":false," : "");
        puts_(&j, head);
        put_json_str(&j, toks->arr_str[i].p, toks->arr_str[i].n);
        puts_(&j, "}");
        first = 0;
    }
    puts_(&j, "],\"normalizer\":");
    puts_(&j, norm);
    puts_(&j, ",\"pre_tokenizer\":");
    puts_(&j, pretok);
    puts_(&j, hf_complete ? ",\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
                            "\"use_regex\":true},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
                            "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,"
                            "\"ignore_merges\":"
                          : ",\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"ignore_merges\":");
    puts_(&j, str_is(pre, "llama-bpe") || str_is(pre, "llama3") ? "true" : "false");
    puts_(&j, ",\"vocab\":{");
    for (uint64_t i = 0; i < toks->arr_n; i++) {
        if (i) puts_(&j, ",");
        put_json_str(&j, toks->arr_str[i].p, toks->arr_str[i].n);
        char id[32];
        snprintf(id, sizeof id, ":%llu", (unsigned long long)i);
        puts_(&j, id);
    }
    puts_(&j, "},\"merges\":[");
    for (uint64_t i = 0; i < merges->arr_n; i++) {
        if (i) puts_(&j, ",");
        put_json_str(&j, merges->arr_str[i].p, merges->arr_str[i].n);
    }
    puts_(&j, "]}}");
    /* tokenizer_config.json: BOS/EOS strings, add_bos_token as the Llama classes apply it, template */
    puts_(&cfg, "{\"tokenizer_class\":\"LlamaTokenizerFast\"");
    const char *names[2] = {"bos", "eos"};
    for (int k = 0; k < 2; k++) {
        char key[64];
        uint32_t id;
        snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", names[k]);
        if (r1c_gguf_find(g, key) && r1c_gguf_get_u32(g, key, &id) == R1C_OK && id < toks->arr_n) {
            char h[32];
            snprintf(h, sizeof h, ",\"%s_token\":", names[k]);
            puts_(&cfg, h);
            put_json_str(&cfg, toks->arr_str[id].p, toks->arr_str[id].n);
        }
    }
    int add_bos = 0, add_eos = 0;
    if (r1c_gguf_find(g, "tokenizer.ggml.add_bos_token")) r1c_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos);
    if (r1c_gguf_find(g, "tokenizer.ggml.add_eos_token")) r1c_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos);
    puts_(&cfg, add_bos ? ",\"add_bos_token\":true" : ",\"add_bos_token\":false");
    puts_(&cfg, add_eos ? ",\"add_eos_token\":true" : ",\"add_eos_token\":false");
    r1c_gguf_str tmpl;
    if (r1c_gguf_find(g, "tokenizer.chat_template") && r1c_gguf_get_str(g, "tokenizer.chat_template", &tmpl) == R1C_OK) {
        puts_(&cfg, ",\"chat_template\":");
        put_json_str(&cfg, tmpl.p, tmpl.n);
    }
    puts_(&cfg, "}");
    if (j.oom || cfg.oom) {
        free(j.p);
        free(cfg.p);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    *tok_json = j.p, *tok_len = j.n;
    *cfg_json = cfg.p, *cfg_len = cfg.n;
    return R1C_OK;
}

/* ... loaded through the one tokenizer loader */
static r1c_status tokenizer_from_gguf(r1c_model *m, const r1c_gguf *g) {
    if (!r1c_gguf_find(g, "tokenizer.ggml.model")) return R1C_OK; /* no tokenizer in the file: ids only */
    char *tj, *cj;
    size_t tn, cn;
    r1c_status st = r1c_gguf_tokenizer_files(g, 0, &tj, &tn, &cj, &cn);
    if (st == R1C_OK) st = r1c_tokenizer_load_json(tj, tn, cj, cn, g->path, &m->tokenizer);
    if (st != R1C_OK) r1c_error_prefix("tokenizer from GGUF metadata: ");
    free(tj);
    free(cj);
    return st;
}

/* ---------------------------------------------------------------- tensors */

/* Hugging Face name (after "model.layers.N.") <-> llama.cpp name (after "blk.N.") */
static const struct { const char *hf, *gg; } layer_map[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"}, {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"}, {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_a_proj.weight", "attn_q_a.weight"}, {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
    {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
    {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
    {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"}, {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"}, {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"}, {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
};

/* Hugging Face name -> llama.cpp name (+ expert slice) */
static int translate(const char *hf, char *out, size_t cap, int *expert) {
    *expert = -1;
    if (!strcmp(hf, "model.embed_tokens.weight")) return snprintf(out, cap, "token_embd.weight") > 0;
    if (!strcmp(hf, "model.norm.weight")) return snprintf(out, cap, "output_norm.weight") > 0;
    if (!strcmp(hf, "lm_head.weight")) return snprintf(out, cap, "output.weight") > 0;
    int l, e, n = 0;
    if (sscanf(hf, "model.layers.%d.%n", &l, &n) != 1 || n == 0) return 0;
    const char *rest = hf + n;
    char proj[16];
    if (sscanf(rest, "mlp.experts.%d.%15[a-z]_proj.weight", &e, proj) == 2) {
        *expert = e;
        return snprintf(out, cap, "blk.%d.ffn_%s_exps.weight", l, proj) > 0;
    }
    for (size_t i = 0; i < sizeof layer_map / sizeof *layer_map; i++)
        if (!strcmp(rest, layer_map[i].hf)) return snprintf(out, cap, "blk.%d.%s", l, layer_map[i].gg) > 0;
    return 0;
}

int r1c_gguf_model_name(const char *hf_name, char *out, size_t cap) {
    int expert;
    char g[128];
    if (!translate(hf_name, g, sizeof g, &expert)) return 0;
    if (expert >= 0) return snprintf(out, cap, "%s, expert %d", g, expert) > 0;
    return snprintf(out, cap, "%s", g) > 0;
}

int r1c_gguf_model_lookup(const r1c_model *m, const char *hf_name, r1c_tensor *v, const char **file) {
    char gname[128];
    int expert;
    if (!translate(hf_name, gname, sizeof gname, &expert)) return 0;
    const r1c_gguf_tensor *t = r1c_gguf_find_tensor(m->gguf, gname);
    if (!t) return 0;
    if (file) *file = m->gguf->path;
    if (!v) return expert < 0 || (t->n_dims == 3 && (uint64_t)expert < t->ne[2]);
    memset(v, 0, sizeof *v);
    v->dtype = t->dtype;
    v->name = hf_name; /* replaced by the caller's stable copy */
    const uint64_t row_bytes = r1c_dtype_row_bytes(t->dtype, t->ne[0]);
    if (expert >= 0) { /* one expert of a stacked [E][F][D] tensor */
        if (t->n_dims != 3 || (uint64_t)expert >= t->ne[2]) return 0;
        v->n_dims = 2;
        v->shape[0] = (int64_t)t->ne[1], v->shape[1] = (int64_t)t->ne[0];
        v->nbytes = t->ne[1] * row_bytes;
        v->data = t->data + (uint64_t)expert * v->nbytes;
        return 1;
    }
    v->n_dims = t->n_dims; /* ggml lists dimensions innermost first */
    for (int d = 0; d < t->n_dims; d++) v->shape[d] = (int64_t)t->ne[t->n_dims - 1 - d];
    v->nbytes = t->nbytes;
    v->data = t->data;
    return 1;
}

r1c_status r1c_gguf_model_open(r1c_model *m, const char *path) {
    m->gguf = calloc(1, sizeof *m->gguf);
    if (!m->gguf) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = r1c_gguf_open(path, m->use_mmap, m->gguf);
    if (st != R1C_OK) return st;
    meta mt = {m->gguf, ""};
    r1c_gguf_str arch;
    if ((st = r1c_gguf_get_str(m->gguf, "general.architecture", &arch)) != R1C_OK) return st;
    if (arch.n >= sizeof mt.arch) return r1c_error(R1C_ERR_UNSUPPORTED, "%s: general.architecture is too long", path);
    memcpy(mt.arch, arch.p, arch.n);
    mt.arch[arch.n] = 0;
    if ((st = config_from_gguf(m, &mt)) != R1C_OK) return st;
    m->rope_interleaved = !strcmp(mt.arch, "llama"); /* rows permuted for adjacent-pair RoPE */
    uint32_t ft;
    if (r1c_gguf_find(m->gguf, "general.file_type") && r1c_gguf_get_u32(m->gguf, "general.file_type", &ft) == R1C_OK) {
        /* llama_ftype numbers and llama.cpp's names for them (the ones r1c reads) */
        static const struct {
            uint32_t id;
            const char *name;
        } FT[] = {{0, "all F32"}, {1, "F16"}, {2, "Q4_0"}, {7, "Q8_0"}, {14, "Q4_K - Small"},
                  {15, "Q4_K - Medium"}, {18, "Q6_K"}, {32, "BF16"}};
        for (size_t i = 0; i < sizeof FT / sizeof *FT; i++)
            if (FT[i].id == ft) m->file_type = FT[i].name;
    }
    const r1c_gguf_tensor *rf = r1c_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (rf) { /* llama3 scaling: per-frequency divisors */
        if (rf->dtype != R1C_F32 || rf->n_dims != 1 || rf->ne[0] != (uint64_t)(m->cfg.head_dim / 2))
            return r1c_error(R1C_ERR_FORMAT, "%s: tensor 'rope_freqs.weight' must be F32 [%d]", path, m->cfg.head_dim / 2);
        float *f = r1c_alloc(sizeof(float) * rf->ne[0]);
        if (!f || r1c_model_own(m, f) != R1C_OK) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        memcpy(f, rf->data, sizeof(float) * rf->ne[0]);
        m->rope_factors = f;
    }
    return tokenizer_from_gguf(m, m->gguf);
}

void r1c_gguf_model_close(r1c_model *m) {
    if (!m->gguf) return;
    r1c_gguf_close(m->gguf);
    free(m->gguf);
    m->gguf = NULL;
}

/* ------------------------------------------------------------ for the converter (convert.c) */

int r1c_gguf_name_from_hf(const char *hf_name, char *out, size_t cap, int *expert) {
    return translate(hf_name, out, cap, expert);
}

int r1c_gguf_name_to_hf(const char *gguf_name, int expert, char *out, size_t cap) {
    if (!strcmp(gguf_name, "token_embd.weight")) return snprintf(out, cap, "model.embed_tokens.weight") > 0;
    if (!strcmp(gguf_name, "output_norm.weight")) return snprintf(out, cap, "model.norm.weight") > 0;
    if (!strcmp(gguf_name, "output.weight")) return snprintf(out, cap, "lm_head.weight") > 0;
    int l, n = 0;
    if (sscanf(gguf_name, "blk.%d.%n", &l, &n) != 1 || n == 0 || l < 0) return 0;
    const char *rest = gguf_name + n;
    char proj[16];
    int m = 0;
    if (sscanf(rest, "ffn_%15[a-z]_exps.weight%n", proj, &m) == 1 && m > 0 && rest[m] == 0) {
        if (expert < 0 || (strcmp(proj, "gate") && strcmp(proj, "up") && strcmp(proj, "down"))) return 0;
        return snprintf(out, cap, "model.layers.%d.mlp.experts.%d.%s_proj.weight", l, expert, proj) > 0;
    }
    for (size_t i = 0; i < sizeof layer_map / sizeof *layer_map; i++)
        if (!strcmp(rest, layer_map[i].gg)) return snprintf(out, cap, "model.layers.%d.%s", l, layer_map[i].hf) > 0;
    return 0;
}

r1c_status r1c_gguf_read_config(const r1c_gguf *g, r1c_hf_config *cfg) {
    r1c_model *m = calloc(1, sizeof *m); /* config_from_gguf fills m->cfg only */
    if (!m) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    meta mt = {g, ""};
    r1c_gguf_str arch;
    r1c_status st = r1c_gguf_get_str(g, "general.architecture", &arch);
    if (st == R1C_OK && arch.n >= sizeof mt.arch) st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: general.architecture is too long", g->path);
    if (st == R1C_OK) {
        memcpy(mt.arch, arch.p, arch.n);
        mt.arch[arch.n] = 0;
        st = config_from_gguf(m, &mt);
    }
    if (st == R1C_OK) *cfg = m->cfg;
    free(m);
    return st;
}

const char *r1c_gguf_pre_tokenizer(const char *pre, const char **normalizer) {
    r1c_gguf_str s = {pre, strlen(pre)};
    return pre_tokenizer_json(s, normalizer);
}
