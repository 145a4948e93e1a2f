/* hf_config.c — see hf_config.h. Each field is type- and range-checked; a wrong one gives
 * "config.json: field 'X' must be ..., got ...". */
#include "hf_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../base/file.h"
#include "json.h"

#define MAX_DIM (1 << 22)


typedef struct {
    const char *path;
    const cJSON *obj;
    const char *prefix; /* "" or "rope_scaling." */
} reader;

static const cJSON *field(const reader *r, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(r->obj, name);
}

static int is_int(const cJSON *v) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble) &&
           fabs(v->valuedouble) < 2147483648.0;
}

/* integer in [lo, hi]; absent -> def (or error when required) */
static r1c_status get_int(const reader *r, const char *name, int required, int def, int lo, int hi,
                          int *out) {
    const cJSON *v = field(r, name);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return r1c_error(R1C_ERR_MISSING, "%s: required field '%s%s' is missing", r->path,
                             r->prefix, name);
        *out = def;
        return R1C_OK;
    }
    if (!is_int(v))
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s%s' must be an integer, got %s", r->path,
                         r->prefix, name, r1c_json_type_name(v));
    int x = (int)v->valuedouble;
    if (x < lo || x > hi)
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s%s' = %d is out of range [%d, %d]", r->path,
                         r->prefix, name, x, lo, hi);
    *out = x;
    return R1C_OK;
}

static r1c_status get_num(const reader *r, const char *name, double def, double lo, double hi,
                          double *out) {
    const cJSON *v = field(r, name);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return R1C_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s%s' must be a number, got %s", r->path,
                         r->prefix, name, r1c_json_type_name(v));
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s%s' = %g is out of range [%g, %g]", r->path,
                         r->prefix, name, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return R1C_OK;
}

static r1c_status get_bool(const reader *r, const char *name, int def, int *out) {
    const cJSON *v = field(r, name);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return R1C_OK;
    }
    if (!cJSON_IsBool(v))
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s%s' must be true or false, got %s", r->path,
                         r->prefix, name, r1c_json_type_name(v));
    *out = cJSON_IsTrue(v);
    return R1C_OK;
}

static r1c_status get_str(const reader *r, const char *name, int required, const char *def,
                          char *out, size_t cap) {
    const cJSON *v = field(r, name);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return r1c_error(R1C_ERR_MISSING, "%s: required field '%s%s' is missing", r->path,
                             r->prefix, name);
        snprintf(out, cap, "%s", def);
        return R1C_OK;
    }
    if (!cJSON_IsString(v))
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s%s' must be a string, got %s", r->path,
                         r->prefix, name, r1c_json_type_name(v));
    if (strlen(v->valuestring) >= cap)
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s%s' is too long", r->path, r->prefix, name);
    snprintf(out, cap, "%s", v->valuestring);
    return R1C_OK;
}

static r1c_status add_eos(const reader *r, r1c_hf_config *c, const cJSON *one) {
    if (!is_int(one) || one->valuedouble < 0)
        return r1c_error(R1C_ERR_FORMAT, "%s: field 'eos_token_id' holds %s, not a token id",
                         r->path, r1c_json_type_name(one));
    int id = (int)one->valuedouble;
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_id[i] == id) return R1C_OK;
    if (c->n_eos == R1C_MAX_EOS)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: more than %d eos_token_id values", r->path,
                         R1C_MAX_EOS);
    c->eos_token_id[c->n_eos++] = id;
    return R1C_OK;
}

/* eos_token_id: an integer or a list of integers */
static r1c_status get_eos(const reader *r, r1c_hf_config *c) {
    const cJSON *v = field(r, "eos_token_id");
    if (!v || cJSON_IsNull(v)) return R1C_OK;
    if (cJSON_IsNumber(v)) return add_eos(r, c, v);
    if (!cJSON_IsArray(v))
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: field 'eos_token_id' must be an integer or a list of integers, got %s",
                         r->path, r1c_json_type_name(v));
    const cJSON *one;
    cJSON_ArrayForEach(one, v) {
        r1c_status st = add_eos(r, c, one);
        if (st != R1C_OK) return st;
    }
    return R1C_OK;
}

static r1c_status parse_rope_scaling(const reader *top, r1c_hf_config *c) {
    const cJSON *rs = field(top, "rope_scaling");
    c->rope_scaling.type = R1C_ROPE_NONE;
    if (!rs || cJSON_IsNull(rs)) return R1C_OK;
    if (!cJSON_IsObject(rs))
        return r1c_error(R1C_ERR_FORMAT, "%s: field 'rope_scaling' must be an object or null, got %s",
                         top->path, r1c_json_type_name(rs));
    reader r = {top->path, rs, "rope_scaling."};
    char type[32];
    /* newer configs say rope_type, older ones type */
    r1c_status st = get_str(&r, field(&r, "rope_type") ? "rope_type" : "type", 1, "", type, sizeof type);
    if (st != R1C_OK) return st;
    if (strcmp(type, "default") == 0) return R1C_OK;
    if ((st = get_num(&r, "factor", 1.0, 1e-6, 1e6, &c->rope_scaling.factor)) != R1C_OK) return st;
    if (strcmp(type, "linear") == 0) {
        c->rope_scaling.type = R1C_ROPE_LINEAR;
        return R1C_OK;
    }
    if (strcmp(type, "yarn") == 0) {
        c->rope_scaling.type = R1C_ROPE_YARN;
        if ((st = get_num(&r, "original_max_position_embeddings", 4096, 1, 1e9,
                          &c->rope_scaling.original_max_position_embeddings)) ||
            (st = get_num(&r, "beta_fast", 32, 1e-6, 1e6, &c->rope_scaling.beta_fast)) ||
            (st = get_num(&r, "beta_slow", 1, 1e-6, 1e6, &c->rope_scaling.beta_slow)) ||
            (st = get_num(&r, "mscale", 1, 0, 1e3, &c->rope_scaling.mscale)) ||
            (st = get_num(&r, "mscale_all_dim", 0, 0, 1e3, &c->rope_scaling.mscale_all_dim)))
            return st;
        return R1C_OK;
    }
    if (strcmp(type, "llama3") == 0) {
        c->rope_scaling.type = R1C_ROPE_LLAMA3;
        if ((st = get_num(&r, "low_freq_factor", 1.0, 1e-6, 1e6, &c->rope_scaling.low_freq_factor)) ||
            (st = get_num(&r, "high_freq_factor", 4.0, 1e-6, 1e6, &c->rope_scaling.high_freq_factor)) ||
            (st = get_num(&r, "original_max_position_embeddings", 8192, 1, 1e9,
                          &c->rope_scaling.original_max_position_embeddings)))
            return st;
        if (c->rope_scaling.high_freq_factor <= c->rope_scaling.low_freq_factor)
            return r1c_error(R1C_ERR_FORMAT,
                             "%s: rope_scaling.high_freq_factor must exceed low_freq_factor", r.path);
        return R1C_OK;
    }
    return r1c_error(R1C_ERR_UNSUPPORTED, "%s: rope_scaling type '%s' is not supported (llama3, linear, yarn)",
                     top->path, type);
}

static r1c_status get_choice(const reader *r, const char *name, const char *def, const char *const *names, int n,
                             int *out) {
    char v[40];
    r1c_status st = get_str(r, name, 0, def, v, sizeof v);
    if (st != R1C_OK) return st;
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return R1C_OK;
        }
    return r1c_error(R1C_ERR_UNSUPPORTED, "%s: field '%s' = '%s' is not supported", r->path, name, v);
}

/* DeepSeek-V2/V3: MLA dimensions, DeepSeekMoE routing, FP8 block size. */
static r1c_status parse_deepseek(const reader *r, r1c_hf_config *c) {
    const int v3 = strcmp(c->model_type, "deepseek_v3") == 0;
    r1c_status st;
    c->is_deepseek = 1;
#define TRYD(x) if ((st = (x)) != R1C_OK) return st
    TRYD(get_int(r, "q_lora_rank", 0, 0, 0, 1 << 20, &c->q_lora_rank)); /* null: q_proj */
    TRYD(get_int(r, "kv_lora_rank", 1, 0, 1, 1 << 20, &c->kv_lora_rank));
    TRYD(get_int(r, "qk_nope_head_dim", 1, 0, 0, 1 << 16, &c->qk_nope_head_dim));
    TRYD(get_int(r, "qk_rope_head_dim", 1, 0, 2, 1 << 16, &c->qk_rope_head_dim));
    TRYD(get_int(r, "v_head_dim", 1, 0, 1, 1 << 16, &c->v_head_dim));
    TRYD(get_int(r, "n_routed_experts", 0, 0, 0, 1 << 16, &c->n_routed_experts));
    TRYD(get_int(r, "n_shared_experts", 0, 0, 0, 1 << 10, &c->n_shared_experts));
    TRYD(get_int(r, "num_experts_per_tok", 0, 0, 0, 64, &c->num_experts_per_tok));
    TRYD(get_int(r, "moe_intermediate_size", c->n_routed_experts ? 1 : 0, 0, 1, 1 << 22, &c->moe_intermediate_size));
    TRYD(get_int(r, "first_k_dense_replace", 0, 0, 0, 1 << 16, &c->first_k_dense_replace));
    TRYD(get_int(r, "moe_layer_freq", 0, 1, 1, 1 << 16, &c->moe_layer_freq));
    TRYD(get_int(r, "n_group", 0, 1, 1, 256, &c->n_group));
    TRYD(get_int(r, "topk_group", 0, 1, 1, 1 << 16, &c->topk_group));
    static const char *const methods[] = {"greedy", "group_limited_greedy", "noaux_tc"};
    TRYD(get_choice(r, "topk_method", v3 ? "noaux_tc" : "greedy", methods, 3, &c->topk_method));
    static const char *const funcs[] = {"softmax", "sigmoid"};
    TRYD(get_choice(r, "scoring_func", v3 ? "sigmoid" : "softmax", funcs, 2, &c->scoring_func));
    TRYD(get_bool(r, "norm_topk_prob", 0, &c->norm_topk_prob));
    TRYD(get_num(r, "routed_scaling_factor", 1.0, 0, 1e6, &c->routed_scaling_factor));
    TRYD(get_int(r, "num_nextn_predict_layers", 0, 0, 0, 16, &c->num_nextn_predict_layers));
#undef TRYD
    c->head_dim = c->qk_nope_head_dim + c->qk_rope_head_dim; /* the attention scale uses this */
    if (c->qk_rope_head_dim % 2)
        return r1c_error(R1C_ERR_FORMAT, "%s: field 'qk_rope_head_dim' = %d must be even", r->path, c->qk_rope_head_dim);
    if (c->n_routed_experts) {
        if (c->num_experts_per_tok < 1 || c->num_experts_per_tok > c->n_routed_experts)
            return r1c_error(R1C_ERR_FORMAT, "%s: field 'num_experts_per_tok' = %d must be in [1, n_routed_experts = %d]",
                             r->path, c->num_experts_per_tok, c->n_routed_experts);
        if (c->n_routed_experts % c->n_group)
            return r1c_error(R1C_ERR_FORMAT, "%s: field 'n_group' = %d does not divide n_routed_experts = %d", r->path,
                             c->n_group, c->n_routed_experts);
        if (c->topk_group > c->n_group)
            return r1c_error(R1C_ERR_FORMAT, "%s: field 'topk_group' = %d is more than n_group = %d", r->path,
                             c->topk_group, c->n_group);
        if (c->topk_method == R1C_TOPK_NOAUX_TC && c->n_routed_experts / c->n_group < 2)
            return r1c_error(R1C_ERR_FORMAT, "%s: noaux_tc routing needs at least 2 experts per group (n_group = %d)", r->path, c->n_group);
        if (c->topk_method != R1C_TOPK_GREEDY &&
            c->topk_group * (c->n_routed_experts / c->n_group) < c->num_experts_per_tok)
            return r1c_error(R1C_ERR_FORMAT, "%s: topk_group x experts per group is fewer than num_experts_per_tok", r->path);
    }
    const cJSON *q = field(r, "quantization_config");
    if (q && !cJSON_IsNull(q)) {
        reader qr = {r->path, q, "quantization_config."};
        char method[32];
        if (!cJSON_IsObject(q)) return r1c_error(R1C_ERR_FORMAT, "%s: field 'quantization_config' must be an object", r->path);
        if ((st = get_str(&qr, "quant_method", 1, "", method, sizeof method)) != R1C_OK) return st;
        if (strcmp(method, "fp8") != 0)
            return r1c_error(R1C_ERR_UNSUPPORTED, "%s: quantization_config.quant_method '%s' is not supported (fp8)", r->path, method);
        const cJSON *bs = field(&qr, "weight_block_size");
        if (!cJSON_IsArray(bs) || cJSON_GetArraySize(bs) != 2 || !is_int(cJSON_GetArrayItem(bs, 0)) ||
            !is_int(cJSON_GetArrayItem(bs, 1)) || cJSON_GetArrayItem(bs, 0)->valuedouble < 1 ||
            cJSON_GetArrayItem(bs, 1)->valuedouble < 1)
            return r1c_error(R1C_ERR_FORMAT, "%s: quantization_config.weight_block_size must be two positive integers", r->path);
        c->fp8_block[0] = cJSON_GetArrayItem(bs, 0)->valueint;
        c->fp8_block[1] = cJSON_GetArrayItem(bs, 1)->valueint;
    }
    return R1C_OK;
}

r1c_status r1c_hf_config_parse(const char *json, size_t len, const char *path, r1c_hf_config *c) {
    memset(c, 0, sizeof *c);
    cJSON *root = r1c_json_parse(json, len);
    if (!root) return r1c_error(R1C_ERR_FORMAT, "%s: not valid JSON", path);
    r1c_status st = R1C_OK;
    reader r = {path, root, ""};
    if (!cJSON_IsObject(root)) {
        st = r1c_error(R1C_ERR_FORMAT, "%s: must be a JSON object", path);
        goto done;
    }
#define TRY(x)                        \
    if ((st = (x)) != R1C_OK) goto done
    TRY(get_str(&r, "model_type", 1, "", c->model_type, sizeof c->model_type));
    const cJSON *arch = field(&r, "architectures");
    if (arch && !cJSON_IsNull(arch)) {
        const cJSON *a0 = cJSON_GetArrayItem(arch, 0);
        if (!cJSON_IsArray(arch) || (a0 && !cJSON_IsString(a0))) {
            st = r1c_error(R1C_ERR_FORMAT, "%s: field 'architectures' must be a list of strings", path);
            goto done;
        }
        if (a0) snprintf(c->architecture, sizeof c->architecture, "%s", a0->valuestring);
    }
    TRY(get_str(&r, "torch_dtype", 0, "float32", c->torch_dtype, sizeof c->torch_dtype));
    TRY(get_str(&r, "hidden_act", 0, "silu", c->hidden_act, sizeof c->hidden_act));
    TRY(get_int(&r, "vocab_size", 1, 0, 1, 1 << 24, &c->vocab_size));
    TRY(get_int(&r, "hidden_size", 1, 0, 1, MAX_DIM, &c->hidden_size));
    TRY(get_int(&r, "intermediate_size", 1, 0, 1, MAX_DIM, &c->intermediate_size));
    TRY(get_int(&r, "num_hidden_layers", 1, 0, 1, 4096, &c->num_hidden_layers));
    TRY(get_int(&r, "num_attention_heads", 1, 0, 1, 65536, &c->num_attention_heads));
    TRY(get_int(&r, "num_key_value_heads", 0, c->num_attention_heads, 1, 65536, &c->num_key_value_heads));
    TRY(get_int(&r, "head_dim", 0, c->hidden_size / c->num_attention_heads, 1, 65536, &c->head_dim));
    TRY(get_int(&r, "max_position_embeddings", 0, 2048, 1, 1 << 30, &c->max_position_embeddings));
    TRY(get_num(&r, "rms_norm_eps", 1e-6, 0, 1, &c->rms_norm_eps));
    TRY(get_num(&r, "rope_theta", 10000.0, 1e-3, 1e12, &c->rope_theta));
    TRY(get_bool(&r, "tie_word_embeddings", 0, &c->tie_word_embeddings));
    TRY(get_bool(&r, "attention_bias", 0, &c->attention_bias));
    TRY(get_bool(&r, "mlp_bias", 0, &c->mlp_bias));
    TRY(get_int(&r, "bos_token_id", 0, -1, 0, 1 << 24, &c->bos_token_id));
    TRY(get_eos(&r, c));
    TRY(parse_rope_scaling(&r, c));
    if (c->head_dim < 1) {
        st = r1c_error(R1C_ERR_FORMAT, "%s: head_dim is 0 (hidden_size < num_attention_heads)", path);
        goto done;
    }
    if (c->head_dim % 2) {
        st = r1c_error(R1C_ERR_FORMAT, "%s: field 'head_dim' = %d must be even for RoPE", path, c->head_dim);
        goto done;
    }
    if (c->num_attention_heads % c->num_key_value_heads) {
        st = r1c_error(R1C_ERR_FORMAT,
                       "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                       path, c->num_attention_heads, c->num_key_value_heads);
        goto done;
    }
    if ((long long)c->num_attention_heads * c->head_dim > MAX_DIM) {
        st = r1c_error(R1C_ERR_FORMAT, "%s: num_attention_heads x head_dim is too large", path);
        goto done;
    }
    if (strcmp(c->model_type, "deepseek_v3") == 0 || strcmp(c->model_type, "deepseek_v2") == 0) {
        TRY(parse_deepseek(&r, c));
    } else if (strcmp(c->model_type, "qwen2") == 0) {
        int sw = 0;
        TRY(get_bool(&r, "use_sliding_window", 0, &sw));
        if (sw) {
            st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: field 'use_sliding_window' = true is not supported", path);
            goto done;
        }
        c->qkv_bias = 1; /* Qwen2 always has q/k/v biases and no o_proj bias */
        c->o_bias = 0;
    } else {
        c->qkv_bias = c->o_bias = c->attention_bias;
    }
#undef TRY
done:
    cJSON_Delete(root);
    return st;
}

r1c_status r1c_hf_config_load(const char *dir, r1c_hf_config *out) {
    char *path = r1c_path_join(dir, "config.json"), *text = NULL;
    size_t len;
    if (!path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = r1c_read_small_file(path, 16u << 20, &text, &len);
    if (st == R1C_OK) st = r1c_hf_config_parse(text, len, path, out);
    free(text);
    free(path);
    return st;
}

r1c_status r1c_hf_generation_config_load(const char *dir, r1c_hf_config *cfg) {
    char *path = r1c_path_join(dir, "generation_config.json"), *text = NULL;
    size_t len;
    if (!path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (!r1c_file_exists(path)) {
        free(path);
        return R1C_OK;
    }
    r1c_status st = r1c_read_small_file(path, 1u << 20, &text, &len);
    cJSON *root = st == R1C_OK ? r1c_json_parse(text, len) : NULL;
    if (st == R1C_OK && !cJSON_IsObject(root))
        st = r1c_error(R1C_ERR_FORMAT, "%s: not a JSON object", path);
    if (st == R1C_OK) {
        reader r = {path, root, ""};
        st = get_eos(&r, cfg);
    }
    cJSON_Delete(root);
    free(text);
    free(path);
    return st;
}
