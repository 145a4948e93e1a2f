/* test_config.c — config.json parsing: the fields and defaults r1c reads, and a one-line error
 * naming the field and what was wrong for every malformed value. Broken configs are made by
 * editing a valid one with cJSON, one field at a time, so each case breaks exactly one thing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

#include "io/hf_config.h"
#include "r1c.h"
#include "test_util.h"

static const char *const QWEN2 =
    "{\"architectures\": [\"Qwen2ForCausalLM\"], \"bos_token_id\": 151643,"
    " \"eos_token_id\": 151643, \"hidden_act\": \"silu\", \"hidden_size\": 1536,"
    " \"intermediate_size\": 8960, \"max_position_embeddings\": 131072,"
    " \"max_window_layers\": 21, \"model_type\": \"qwen2\", \"num_attention_heads\": 12,"
    " \"num_hidden_layers\": 28, \"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-06,"
    " \"rope_theta\": 10000, \"sliding_window\": 4096, \"tie_word_embeddings\": false,"
    " \"torch_dtype\": \"bfloat16\", \"use_cache\": true, \"use_sliding_window\": false,"
    " \"vocab_size\": 151936}";

static const char *const LLAMA =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false,"
    " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009, 128001],"
    " \"hidden_act\": \"silu\", \"hidden_size\": 4096, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\","
    " \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8,"
    " \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0,"
    " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192,"
    " \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0, \"tie_word_embeddings\": false,"
    " \"torch_dtype\": \"bfloat16\", \"vocab_size\": 128256}";

/* ------------------------------------------------------------------ helpers */

static r1c_status parse(const char *text, r1c_hf_config *c) {
    return r1c_hf_config_parse(text, strlen(text), "cfg/config.json", c);
}

/* base with `key` set to the JSON `value` (NULL: removed); `key` may be "rope_scaling.x". */
static char *edited(const char *base, const char *key, const char *value) {
    cJSON *root = cJSON_Parse(base);
    cJSON *obj = root;
    const char *dot = strchr(key, '.');
    char head[64];
    if (dot) {
        snprintf(head, sizeof head, "%.*s", (int)(dot - key), key);
        obj = cJSON_GetObjectItemCaseSensitive(root, head);
        key = dot + 1;
    }
    if (!obj) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    if (value) {
        cJSON *v = cJSON_Parse(value);
        if (!v) {
            cJSON_Delete(root);
            return NULL;
        }
        cJSON_AddItemToObject(obj, key, v);
    }
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static void check_error(int line, const char *text, r1c_status got, r1c_status want,
                        const char *const *subs) {
    const char *msg = r1c_last_error();
    CHECK(got == want, "line %d: status %s, want %s; message: %s\n  config: %.300s", line,
          r1c_status_string(got), r1c_status_string(want), msg, text);
    if (got == R1C_OK) return;
    CHECK(contains(msg, "cfg/config.json"), "line %d: message does not name the file: %s", line, msg);
    for (int i = 0; subs[i]; i++)
        CHECK(contains(msg, subs[i]), "line %d: message lacks \"%s\": %s", line, subs[i], msg);
}

/* The base config with one field changed must fail with `want` and the given phrases. */
static void expect_edit(int line, const char *base, const char *key, const char *value,
                        r1c_status want, const char *const *subs) {
    char *text = edited(base, key, value);
    CHECK(text != NULL, "line %d: cannot edit %s", line, key);
    if (!text) return;
    r1c_hf_config c;
    check_error(line, text, parse(text, &c), want, subs);
    free(text);
}

static void expect_text(int line, const char *text, r1c_status want, const char *const *subs) {
    r1c_hf_config c;
    check_error(line, text, parse(text, &c), want, subs);
}

/* The base config with one field changed parses; returns the result in *c. */
static int parse_edit(int line, const char *base, const char *key, const char *value,
                      r1c_hf_config *c) {
    char *text = edited(base, key, value);
    r1c_status st = text ? parse(text, c) : R1C_ERR_INVALID_ARG;
    CHECK(st == R1C_OK, "line %d: %s = %s rejected: %s", line, key, value ? value : "(removed)",
          r1c_last_error());
    free(text);
    return st == R1C_OK;
}

#define SUBS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define EDIT(base, key, value, want, ...) \
    expect_edit(__LINE__, base, key, value, want, SUBS(__VA_ARGS__))
#define TEXT(text, want, ...) expect_text(__LINE__, text, want, SUBS(__VA_ARGS__))

/* -------------------------------------------------------------- valid ones */

static void test_valid(void) {
    r1c_hf_config c;
    CHECK(parse(QWEN2, &c) == R1C_OK, "qwen2: %s", r1c_last_error());
    CHECK(strcmp(c.model_type, "qwen2") == 0 && strcmp(c.architecture, "Qwen2ForCausalLM") == 0 &&
              strcmp(c.torch_dtype, "bfloat16") == 0 && strcmp(c.hidden_act, "silu") == 0,
          "qwen2 strings: %s %s %s %s", c.model_type, c.architecture, c.torch_dtype, c.hidden_act);
    CHECK(c.vocab_size == 151936 && c.hidden_size == 1536 && c.intermediate_size == 8960 &&
              c.num_hidden_layers == 28 && c.num_attention_heads == 12 &&
              c.num_key_value_heads == 2 && c.head_dim == 128 &&
              c.max_position_embeddings == 131072,
          "qwen2 sizes");
    CHECK(c.rms_norm_eps == 1e-6 && c.rope_theta == 10000.0 && !c.tie_word_embeddings,
          "qwen2 numbers");
    CHECK(c.qkv_bias == 1 && c.o_bias == 0 && c.mlp_bias == 0, "qwen2 biases: %d %d %d",
          c.qkv_bias, c.o_bias, c.mlp_bias);
    CHECK(c.rope_scaling.type == R1C_ROPE_NONE, "qwen2 rope scaling");
    CHECK(c.bos_token_id == 151643 && c.n_eos == 1 && c.eos_token_id[0] == 151643, "qwen2 bos/eos");

    CHECK(parse(LLAMA, &c) == R1C_OK, "llama: %s", r1c_last_error());
    CHECK(strcmp(c.model_type, "llama") == 0 && c.hidden_size == 4096 && c.head_dim == 128 &&
              c.num_key_value_heads == 8 && c.vocab_size == 128256 && c.rms_norm_eps == 1e-5 &&
              c.rope_theta == 500000.0,
          "llama sizes");
    CHECK(c.qkv_bias == 0 && c.o_bias == 0, "llama biases");
    CHECK(c.rope_scaling.type == R1C_ROPE_LLAMA3 && c.rope_scaling.factor == 8.0 &&
              c.rope_scaling.low_freq_factor == 1.0 && c.rope_scaling.high_freq_factor == 4.0 &&
              c.rope_scaling.original_max_position_embeddings == 8192.0,
          "llama3 rope scaling: %d %g %g %g %g", c.rope_scaling.type, c.rope_scaling.factor,
          c.rope_scaling.low_freq_factor, c.rope_scaling.high_freq_factor,
          c.rope_scaling.original_max_position_embeddings);
    /* the list [128001, 128008, 128009, 128001] keeps each id once, in order */
    CHECK(c.n_eos == 3 && c.eos_token_id[0] == 128001 && c.eos_token_id[1] == 128008 &&
              c.eos_token_id[2] == 128009,
          "llama eos: %d ids", c.n_eos);

    /* defaults */
    static const char *const minimal =
        "{\"model_type\": \"llama\", \"vocab_size\": 100, \"hidden_size\": 64,"
        " \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}";
    CHECK(parse(minimal, &c) == R1C_OK, "minimal: %s", r1c_last_error());
    CHECK(c.num_key_value_heads == 4 && c.head_dim == 16, "kv heads %d, head_dim %d",
          c.num_key_value_heads, c.head_dim);
    CHECK(c.max_position_embeddings == 2048 && c.rms_norm_eps == 1e-6 && c.rope_theta == 10000.0,
          "numeric defaults");
    CHECK(strcmp(c.hidden_act, "silu") == 0 && strcmp(c.torch_dtype, "float32") == 0 &&
              c.architecture[0] == 0,
          "string defaults: '%s' '%s' '%s'", c.hidden_act, c.torch_dtype, c.architecture);
    CHECK(c.bos_token_id == -1 && c.n_eos == 0 && !c.tie_word_embeddings && !c.attention_bias &&
              c.rope_scaling.type == R1C_ROPE_NONE,
          "absent ids and flags");
    /* null means "not set" as in Python */
    if (parse_edit(__LINE__, minimal, "rope_scaling", "null", &c))
        CHECK(c.rope_scaling.type == R1C_ROPE_NONE, "rope_scaling null");
    if (parse_edit(__LINE__, minimal, "num_key_value_heads", "null", &c))
        CHECK(c.num_key_value_heads == 4, "num_key_value_heads null");
    if (parse_edit(__LINE__, minimal, "head_dim", "32", &c))
        CHECK(c.head_dim == 32, "explicit head_dim (not hidden/heads): %d", c.head_dim);
    if (parse_edit(__LINE__, minimal, "attention_bias", "true", &c))
        CHECK(c.qkv_bias == 1 && c.o_bias == 1, "llama attention_bias");
    if (parse_edit(__LINE__, QWEN2, "attention_bias", "true", &c))
        CHECK(c.qkv_bias == 1 && c.o_bias == 0, "qwen2 ignores attention_bias for o_proj");
    if (parse_edit(__LINE__, LLAMA, "use_sliding_window", "true", &c))
        CHECK(c.qkv_bias == 0, "use_sliding_window means nothing to llama");
    if (parse_edit(__LINE__, QWEN2, "use_sliding_window", "null", &c))
        CHECK(c.qkv_bias == 1, "use_sliding_window null");
    if (parse_edit(__LINE__, QWEN2, "eos_token_id", "[5, 5, 5]", &c))
        CHECK(c.n_eos == 1 && c.eos_token_id[0] == 5, "duplicate eos ids: %d", c.n_eos);
    if (parse_edit(__LINE__, QWEN2, "eos_token_id", "[]", &c))
        CHECK(c.n_eos == 0, "empty eos list");
    if (parse_edit(__LINE__, QWEN2, "eos_token_id", "[1, 2, 3, 4, 5, 6, 7, 8, 8, 1]", &c))
        CHECK(c.n_eos == 8, "eight distinct ids fit: %d", c.n_eos);
    if (parse_edit(__LINE__, QWEN2, "eos_token_id", "7.0", &c))
        CHECK(c.n_eos == 1 && c.eos_token_id[0] == 7, "an integral float is an id");
    if (parse_edit(__LINE__, QWEN2, "architectures", "[]", &c))
        CHECK(c.architecture[0] == 0, "empty architectures");
    if (parse_edit(__LINE__, LLAMA, "rope_scaling", "{\"type\": \"linear\", \"factor\": 2.5}", &c))
        CHECK(c.rope_scaling.type == R1C_ROPE_LINEAR && c.rope_scaling.factor == 2.5,
              "linear rope scaling (old 'type' spelling)");
    if (parse_edit(__LINE__, LLAMA, "rope_scaling", "{\"rope_type\": \"default\"}", &c))
        CHECK(c.rope_scaling.type == R1C_ROPE_NONE, "rope_type default");
    if (parse_edit(__LINE__, LLAMA, "rope_scaling",
                   "{\"rope_type\": \"llama3\", \"factor\": 32}", &c))
        CHECK(c.rope_scaling.low_freq_factor == 1.0 && c.rope_scaling.high_freq_factor == 4.0 &&
                  c.rope_scaling.original_max_position_embeddings == 8192.0 &&
                  c.rope_scaling.factor == 32.0,
              "llama3 defaults");

    /* the checkpoints in the repository */
    static const struct {
        const char *dir, *type;
        int kv, head_dim, rope, tied;
    } repo[] = {
        {"tests/data/qwen2_tiny", "qwen2", 2, 16, R1C_ROPE_NONE, 0},
        {"tests/data/qwen2_tiny_tied", "qwen2", 2, 16, R1C_ROPE_NONE, 1},
        {"tests/data/llama3_tiny", "llama", 1, 16, R1C_ROPE_LLAMA3, 0},
    };
    for (size_t i = 0; i < sizeof repo / sizeof *repo; i++) {
        r1c_status st = r1c_hf_config_load(repo[i].dir, &c);
        CHECK(st == R1C_OK, "%s: %s", repo[i].dir, r1c_last_error());
        if (st != R1C_OK) continue;
        CHECK(strcmp(c.model_type, repo[i].type) == 0 && c.num_key_value_heads == repo[i].kv &&
                  c.head_dim == repo[i].head_dim && c.rope_scaling.type == repo[i].rope &&
                  c.tie_word_embeddings == repo[i].tied && c.vocab_size == 512 &&
                  c.hidden_size == 64 && c.n_eos == 1 && c.eos_token_id[0] == 509,
              "%s fields", repo[i].dir);
    }
    CHECK(r1c_hf_config_load("tests/data/llama3_tiny", &c) == R1C_OK &&
              c.rope_scaling.original_max_position_embeddings == 48.0 &&
              c.rope_scaling.factor == 8.0,
          "llama3_tiny rope scaling");
}

/* -------------------------------------------------------------- wrong ones */

static void test_types(void) {
    /* integers */
    static const char *const ints[] = {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "bos_token_id",
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        char want[128];
        snprintf(want, sizeof want, "field '%s' must be an integer, got a string", ints[i]);
        EDIT(QWEN2, ints[i], "\"64\"", R1C_ERR_FORMAT, want);
        snprintf(want, sizeof want, "field '%s' must be an integer, got a boolean", ints[i]);
        EDIT(QWEN2, ints[i], "true", R1C_ERR_FORMAT, want);
        snprintf(want, sizeof want, "field '%s' must be an integer, got an array", ints[i]);
        EDIT(QWEN2, ints[i], "[64]", R1C_ERR_FORMAT, want);
        snprintf(want, sizeof want, "field '%s' must be an integer, got a number", ints[i]);
        EDIT(QWEN2, ints[i], "64.5", R1C_ERR_FORMAT, want);
        EDIT(QWEN2, ints[i], "1e20", R1C_ERR_FORMAT, want);
    }
    EDIT(QWEN2, "head_dim", "{}", R1C_ERR_FORMAT, "field 'head_dim' must be an integer, got an object");

    /* numbers */
    EDIT(QWEN2, "rms_norm_eps", "\"1e-6\"", R1C_ERR_FORMAT,
         "field 'rms_norm_eps' must be a number, got a string");
    EDIT(QWEN2, "rope_theta", "false", R1C_ERR_FORMAT,
         "field 'rope_theta' must be a number, got a boolean");
    /* booleans */
    EDIT(QWEN2, "tie_word_embeddings", "0", R1C_ERR_FORMAT,
         "field 'tie_word_embeddings' must be true or false, got a number");
    EDIT(LLAMA, "attention_bias", "\"false\"", R1C_ERR_FORMAT,
         "field 'attention_bias' must be true or false, got a string");
    EDIT(LLAMA, "mlp_bias", "[]", R1C_ERR_FORMAT, "field 'mlp_bias' must be true or false, got an array");
    EDIT(QWEN2, "use_sliding_window", "\"no\"", R1C_ERR_FORMAT,
         "field 'use_sliding_window' must be true or false, got a string");
    /* strings */
    EDIT(QWEN2, "model_type", "2", R1C_ERR_FORMAT, "field 'model_type' must be a string, got a number");
    EDIT(QWEN2, "hidden_act", "[\"silu\"]", R1C_ERR_FORMAT,
         "field 'hidden_act' must be a string, got an array");
    EDIT(QWEN2, "torch_dtype", "{}", R1C_ERR_FORMAT, "field 'torch_dtype' must be a string, got an object");
    EDIT(QWEN2, "model_type", "\"a_model_type_name_longer_than_32_bytes\"", R1C_ERR_FORMAT,
         "field 'model_type' is too long");
    EDIT(QWEN2, "architectures", "\"Qwen2ForCausalLM\"", R1C_ERR_FORMAT,
         "field 'architectures' must be a list of strings");
    EDIT(QWEN2, "architectures", "[7]", R1C_ERR_FORMAT, "field 'architectures' must be a list of strings");
    EDIT(QWEN2, "architectures", "{\"a\": \"b\"}", R1C_ERR_FORMAT,
         "field 'architectures' must be a list of strings");

    /* eos_token_id */
    EDIT(QWEN2, "eos_token_id", "\"</s>\"", R1C_ERR_FORMAT,
         "field 'eos_token_id' must be an integer or a list of integers, got a string");
    EDIT(QWEN2, "eos_token_id", "{}", R1C_ERR_FORMAT, "field 'eos_token_id'", "got an object");
    EDIT(QWEN2, "eos_token_id", "[1, \"2\"]", R1C_ERR_FORMAT,
         "field 'eos_token_id' holds a string, not a token id");
    EDIT(QWEN2, "eos_token_id", "[1, [2]]", R1C_ERR_FORMAT, "field 'eos_token_id' holds an array");
    EDIT(QWEN2, "eos_token_id", "-1", R1C_ERR_FORMAT, "field 'eos_token_id'", "not a token id");
    EDIT(QWEN2, "eos_token_id", "[2.5]", R1C_ERR_FORMAT, "field 'eos_token_id'", "not a token id");
    EDIT(QWEN2, "eos_token_id", "[1, 2, 3, 4, 5, 6, 7, 8, 9]", R1C_ERR_UNSUPPORTED,
         "more than 8 eos_token_id values");
}

static void test_ranges(void) {
    EDIT(QWEN2, "num_hidden_layers", "0", R1C_ERR_FORMAT,
         "field 'num_hidden_layers' = 0 is out of range");
    EDIT(QWEN2, "num_hidden_layers", "-3", R1C_ERR_FORMAT,
         "field 'num_hidden_layers' = -3 is out of range");
    EDIT(QWEN2, "vocab_size", "0", R1C_ERR_FORMAT, "field 'vocab_size' = 0 is out of range");
    EDIT(QWEN2, "hidden_size", "-1", R1C_ERR_FORMAT, "field 'hidden_size' = -1 is out of range");
    EDIT(QWEN2, "hidden_size", "2147483647", R1C_ERR_FORMAT, "field 'hidden_size'", "out of range");
    EDIT(QWEN2, "intermediate_size", "0", R1C_ERR_FORMAT, "field 'intermediate_size' = 0");
    EDIT(QWEN2, "num_attention_heads", "0", R1C_ERR_FORMAT, "field 'num_attention_heads' = 0");
    EDIT(QWEN2, "num_key_value_heads", "0", R1C_ERR_FORMAT, "field 'num_key_value_heads' = 0");
    EDIT(QWEN2, "max_position_embeddings", "0", R1C_ERR_FORMAT, "field 'max_position_embeddings' = 0");
    EDIT(QWEN2, "bos_token_id", "-5", R1C_ERR_FORMAT, "field 'bos_token_id' = -5");
    EDIT(QWEN2, "rms_norm_eps", "-1e-6", R1C_ERR_FORMAT, "field 'rms_norm_eps'", "out of range");
    EDIT(QWEN2, "rope_theta", "0", R1C_ERR_FORMAT, "field 'rope_theta'", "out of range");
    /* 12 heads over 5 KV heads cannot be grouped */
    EDIT(QWEN2, "num_key_value_heads", "5", R1C_ERR_FORMAT,
         "num_attention_heads (12) is not a multiple of num_key_value_heads (5)");
    EDIT(QWEN2, "num_key_value_heads", "24", R1C_ERR_FORMAT, "is not a multiple");
    /* RoPE rotates pairs */
    EDIT(QWEN2, "head_dim", "127", R1C_ERR_FORMAT, "field 'head_dim' = 127 must be even");
    EDIT(QWEN2, "hidden_size", "1548", R1C_ERR_FORMAT, "field 'head_dim' = 129 must be even");
    EDIT(QWEN2, "head_dim", "0", R1C_ERR_FORMAT, "field 'head_dim' = 0 is out of range");
    EDIT(QWEN2, "hidden_size", "8", R1C_ERR_FORMAT, "head_dim is 0");
    {
        /* each in range, the product (the query width) not */
        char *text = edited(QWEN2, "num_attention_heads", "128");
        EDIT(text, "head_dim", "65536", R1C_ERR_FORMAT, "num_attention_heads x head_dim is too large");
        free(text);
    }
}

static void test_missing(void) {
    static const char *const required[] = {
        "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads",
    };
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        char want[128];
        snprintf(want, sizeof want, "required field '%s' is missing", required[i]);
        EDIT(QWEN2, required[i], NULL, R1C_ERR_MISSING, want);
        EDIT(LLAMA, required[i], "null", R1C_ERR_MISSING, want);
    }
    TEXT("{}", R1C_ERR_MISSING, "required field 'model_type' is missing");
}

static void test_rope_scaling(void) {
    EDIT(LLAMA, "rope_scaling", "[8.0]", R1C_ERR_FORMAT,
         "field 'rope_scaling' must be an object or null, got an array");
    EDIT(LLAMA, "rope_scaling", "\"llama3\"", R1C_ERR_FORMAT,
         "field 'rope_scaling' must be an object or null, got a string");
    EDIT(LLAMA, "rope_scaling", "{\"rope_type\": \"longrope\", \"factor\": 4.0}", R1C_ERR_UNSUPPORTED,
         "rope_scaling type 'longrope' is not supported");
    EDIT(LLAMA, "rope_scaling", "{\"type\": \"dynamic\", \"factor\": 2.0}", R1C_ERR_UNSUPPORTED,
         "rope_scaling type 'dynamic' is not supported");
    EDIT(LLAMA, "rope_scaling", "{\"factor\": 8.0}", R1C_ERR_MISSING,
         "required field 'rope_scaling.type' is missing");
    EDIT(LLAMA, "rope_scaling.rope_type", "3", R1C_ERR_FORMAT,
         "field 'rope_scaling.rope_type' must be a string, got a number");
    EDIT(LLAMA, "rope_scaling.high_freq_factor", "1.0", R1C_ERR_FORMAT,
         "rope_scaling.high_freq_factor must exceed low_freq_factor");
    EDIT(LLAMA, "rope_scaling.low_freq_factor", "5.0", R1C_ERR_FORMAT,
         "high_freq_factor must exceed low_freq_factor");
    EDIT(LLAMA, "rope_scaling.factor", "\"8\"", R1C_ERR_FORMAT,
         "field 'rope_scaling.factor' must be a number, got a string");
    EDIT(LLAMA, "rope_scaling.factor", "0", R1C_ERR_FORMAT, "field 'rope_scaling.factor'",
         "out of range");
    EDIT(LLAMA, "rope_scaling.factor", "-8", R1C_ERR_FORMAT, "field 'rope_scaling.factor'",
         "out of range");
    EDIT(LLAMA, "rope_scaling.low_freq_factor", "0", R1C_ERR_FORMAT,
         "field 'rope_scaling.low_freq_factor'", "out of range");
    EDIT(LLAMA, "rope_scaling.original_max_position_embeddings", "0", R1C_ERR_FORMAT,
         "field 'rope_scaling.original_max_position_embeddings'", "out of range");
    EDIT(LLAMA, "rope_scaling.original_max_position_embeddings", "true", R1C_ERR_FORMAT,
         "field 'rope_scaling.original_max_position_embeddings' must be a number, got a boolean");
}

static void test_documents(void) {
    TEXT("", R1C_ERR_FORMAT, "not valid JSON");
    TEXT("{\"model_type\": \"qwen2\",", R1C_ERR_FORMAT, "not valid JSON");
    TEXT("{\"model_type\": qwen2}", R1C_ERR_FORMAT, "not valid JSON");
    TEXT("{'model_type': 'qwen2'}", R1C_ERR_FORMAT, "not valid JSON");
    TEXT("[{\"model_type\": \"qwen2\"}]", R1C_ERR_FORMAT, "must be a JSON object");
    TEXT("\"qwen2\"", R1C_ERR_FORMAT, "must be a JSON object");
    TEXT("42", R1C_ERR_FORMAT, "must be a JSON object");
    TEXT("null", R1C_ERR_FORMAT, "must be a JSON object");
    /* a valid config followed by something else is not a JSON document */
    {
        char text[4096];
        snprintf(text, sizeof text, "%s}", QWEN2);
        TEXT(text, R1C_ERR_FORMAT, "not valid JSON");
        snprintf(text, sizeof text, "%s %s", QWEN2, QWEN2);
        TEXT(text, R1C_ERR_FORMAT, "not valid JSON");
        snprintf(text, sizeof text, "%s \n\t\r\n", QWEN2);
        TEXT(text, R1C_OK, "");
    }
    /* the length given is the end of the text, NUL or not */
    {
        r1c_hf_config c;
        size_t n = strlen(QWEN2);
        CHECK(r1c_hf_config_parse(QWEN2, n - 1, "cfg/config.json", &c) == R1C_ERR_FORMAT,
              "a config cut one byte short parsed");
        CHECK(contains(r1c_last_error(), "not valid JSON"), "%s", r1c_last_error());
    }
    EDIT(QWEN2, "use_sliding_window", "true", R1C_ERR_UNSUPPORTED,
         "field 'use_sliding_window' = true is not supported");
}

/* ----------------------------------------------- configs r1c_model_load refuses */

static void expect_load(int line, const char *name, const char *key, const char *value,
                        r1c_status want, const char *const *subs) {
    char dir[1200], path[1300];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir("config"), name);
    mkdir(dir, 0755);
    size_t len;
    char *base = read_file("tests/data/qwen2_tiny/config.json", &len);
    CHECK(base != NULL, "read the tiny config");
    if (!base) return;
    char *tmp = realloc(base, len + 1);
    if (!tmp) {
        free(base);
        return;
    }
    base = tmp;
    base[len] = 0;
    char *text = edited(base, key, value);
    free(base);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(text && write_file(path, text, strlen(text)), "write %s", path);
    free(text);
    r1c_model *m = NULL;
    r1c_status st = r1c_model_load(dir, NULL, &m);
    const char *msg = r1c_last_error();
    CHECK(st == want, "line %d: status %s, want %s: %s", line, r1c_status_string(st),
          r1c_status_string(want), msg);
    CHECK(contains(msg, path), "line %d: message does not name %s: %s", line, path, msg);
    for (int i = 0; subs[i]; i++)
        CHECK(contains(msg, subs[i]), "line %d: message lacks \"%s\": %s", line, subs[i], msg);
    r1c_model_free(m);
}

static void test_model_load(void) {
    /* no weights are needed: the config is refused before any are opened */
    expect_load(__LINE__, "mamba", "model_type", "\"mamba\"", R1C_ERR_UNSUPPORTED,
                SUBS("model_type 'mamba' is not supported"));
    expect_load(__LINE__, "gelu", "hidden_act", "\"gelu\"", R1C_ERR_UNSUPPORTED,
                SUBS("hidden_act 'gelu' is not supported"));
    expect_load(__LINE__, "sliding", "use_sliding_window", "true", R1C_ERR_UNSUPPORTED,
                SUBS("use_sliding_window"));
    expect_load(__LINE__, "bad_type", "num_hidden_layers", "\"3\"", R1C_ERR_FORMAT,
                SUBS("field 'num_hidden_layers' must be an integer, got a string"));
    expect_load(__LINE__, "no_vocab", "vocab_size", NULL, R1C_ERR_MISSING,
                SUBS("required field 'vocab_size' is missing"));

    /* no config at all */
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/empty", test_tmpdir("config"));
    mkdir(dir, 0755);
    r1c_model *m = NULL;
    CHECK(r1c_model_load(dir, NULL, &m) == R1C_ERR_MISSING && m == NULL, "empty dir: %s",
          r1c_last_error());
    CHECK(contains(r1c_last_error(), "config.json"), "%s", r1c_last_error());
}

/* generation_config.json adds its eos ids to the config's */
static void test_generation_config(void) {
    char dir[1200], path[1300];
    snprintf(dir, sizeof dir, "%s/generation", test_tmpdir("config"));
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    static const struct {
        const char *text;
        r1c_status want;
        const char *phrase;
        int n_eos;
    } cases[] = {
        {"{\"bos_token_id\": 1, \"eos_token_id\": [2, 151643, 3]}", R1C_OK, "", 3},
        {"{\"eos_token_id\": 4}\n", R1C_OK, "", 2},
        {"{\"do_sample\": true}", R1C_OK, "", 1},
        {"{\"eos_token_id\": \"</s>\"}", R1C_ERR_FORMAT, "field 'eos_token_id' must be", 0},
        {"[2]", R1C_ERR_FORMAT, "not a JSON object", 0},
        {"{\"eos_token_id\": 2} {}", R1C_ERR_FORMAT, "not a JSON object", 0},
        {"", R1C_ERR_FORMAT, "not a JSON object", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        r1c_hf_config c;
        CHECK(parse(QWEN2, &c) == R1C_OK, "qwen2");
        CHECK(write_file(path, cases[i].text, strlen(cases[i].text)), "write %s", path);
        r1c_status st = r1c_hf_generation_config_load(dir, &c);
        CHECK(st == cases[i].want, "case %zu: status %s: %s", i, r1c_status_string(st),
              r1c_last_error());
        if (st == R1C_OK) {
            CHECK(c.n_eos == cases[i].n_eos && c.eos_token_id[0] == 151643, "case %zu: %d ids", i,
                  c.n_eos);
        } else {
            CHECK(contains(r1c_last_error(), path) && contains(r1c_last_error(), cases[i].phrase),
                  "case %zu: %s", i, r1c_last_error());
        }
    }
    unlink(path);
    r1c_hf_config c;
    CHECK(parse(QWEN2, &c) == R1C_OK && r1c_hf_generation_config_load(dir, &c) == R1C_OK &&
              c.n_eos == 1,
          "absent generation_config.json: %s", r1c_last_error());
}

int main(void) {
    test_valid();
    test_types();
    test_ranges();
    test_missing();
    test_rope_scaling();
    test_documents();
    test_model_load();
    test_generation_config();
    return test_summary("test_config");
}
