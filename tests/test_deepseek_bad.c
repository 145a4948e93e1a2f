/* test_deepseek_bad.c — broken DeepSeek checkpoints fail cleanly: r1c_model_load returns the
 * right status and a NULL model, r1c_last_error() is one line naming the tensor or config field
 * (and the shapes, where shapes are wrong), and nothing leaks (run under ASan/LSan).
 *
 * Every case starts from the golden FP8 model (tests/data/deepseek_v3/fp8: F8_E4M3 weights with
 * 128x128 weight_scale_inv grids, BF16 norms/embeddings/router, F32 correction bias): its
 * tensors are read with r1c_st_open_file, edited (dropped, reshaped, retyped) and written back
 * with r1c_st_write into a scratch directory, or its config.json is edited with cJSON. The
 * unedited rewrite is loaded first, so each failure is due to its edit alone. Tensor cases run
 * with use_mmap 0 and 1 (two load paths to unwind). */
#include <cjson/cJSON.h>
#include <math.h>

#include "io/safetensors.h"
#include "r1c.h"
#include "test_util.h"

#define SRC "tests/data/deepseek_v3/fp8"

static r1c_st_set g_src;
static r1c_st_wtensor *g_base; /* the golden tensors, in file order */
static int g_n;
static char g_dir_st[1024], g_dir_cfg[1024];
static char *g_config; /* original config.json text */
static size_t g_config_len;

/* ------------------------------------------------------------------ helpers */

static int find_t(const r1c_st_wtensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return i;
    return -1;
}

static int write_tensors(const char *dir, const r1c_st_wtensor *t, int n) {
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    r1c_status st = r1c_st_write(path, t, n, NULL);
    CHECK(st == R1C_OK, "write %s: %s", path, r1c_last_error());
    return st == R1C_OK;
}

static int write_config(const char *dir, const char *text, size_t len) {
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int ok = write_file(path, text, len);
    CHECK(ok, "write %s", path);
    return ok;
}

/* Loads dir, expecting failure with status want and a one-line message holding every string of
 * expect (NULL-terminated). */
static void expect_fail(const char *what, const char *dir, int use_mmap, r1c_status want, const char *const *expect) {
    r1c_model *m = (r1c_model *)&g_n; /* must be overwritten with NULL */
    r1c_load_params lp = {.use_mmap = use_mmap};
    r1c_status st = r1c_model_load(dir, &lp, &m);
    const char *err = r1c_last_error();
    CHECK(st == want, "%s (mmap %d): status %d (%s), want %d (%s); message: %s", what, use_mmap, (int)st,
          r1c_status_string(st), (int)want, r1c_status_string(want), err);
    CHECK(m == NULL, "%s: a failed load must return a NULL model", what);
    if (st == R1C_OK) r1c_model_free(m);
    CHECK(err && *err && !strchr(err, '\n'), "%s: the message must be one non-empty line: '%s'", what, err);
    for (int i = 0; expect[i]; i++) CHECK(contains(err, expect[i]), "%s: message lacks \"%s\": %s", what, expect[i], err);
    if (getenv("R1C_TEST_VERBOSE")) fprintf(stderr, "  %-44s %s\n", what, err);
}

/* ------------------------------------------------------------ tensor edits */

enum { DROP, SET };
typedef struct tcase {
    const char *what;
    const char *tensor;
    int op;
    int dtype;          /* SET: new dtype, or -1 to keep */
    int nd;             /* SET: new shape when nd > 0 (the bytes must not grow) */
    int64_t shape[2];
    r1c_status want;
    const char *expect[5];
} tcase;

#define KVB1 "model.layers.1.self_attn.kv_b_proj.weight"
#define QB2 "model.layers.2.self_attn.q_b_proj.weight"
#define UP25 "model.layers.2.mlp.experts.5.up_proj.weight"
#define DOWN23 "model.layers.2.mlp.experts.3.down_proj.weight"
#define BIAS1 "model.layers.1.mlp.gate.e_score_correction_bias"
#define KVA0 "model.layers.0.self_attn.kv_a_proj_with_mqa.weight"

static const tcase tcases[] = {
    {"FP8 weight without its scale", KVB1 "_scale_inv", DROP, 0, 0, {0}, R1C_ERR_MISSING,
     {"'" KVB1 "'", "'" KVB1 "_scale_inv'", "missing"}},
    {"scale grid transposed", KVB1 "_scale_inv", SET, -1, 2, {1, 2}, R1C_ERR_FORMAT,
     {"'" KVB1 "_scale_inv'", "[1, 2]", "expected [2, 1]"}},
    {"scale grid missing a row", QB2 "_scale_inv", SET, -1, 2, {1, 2}, R1C_ERR_FORMAT,
     {"'" QB2 "_scale_inv'", "[1, 2]", "expected [2, 2]"}},
    {"scale grid flattened to 1-D", KVB1 "_scale_inv", SET, -1, 1, {2}, R1C_ERR_FORMAT,
     {"'" KVB1 "_scale_inv'", "shape [2],", "expected [2, 1]"}},
    {"scale of dtype I8", KVB1 "_scale_inv", SET, R1C_I8, 0, {0}, R1C_ERR_UNSUPPORTED,
     {"'" KVB1 "_scale_inv'", "I8"}},
    {"expert tensor missing", UP25, DROP, 0, 0, {0}, R1C_ERR_MISSING, {"'" UP25 "'", "missing"}},
    {"expert tensor of the wrong shape", UP25, SET, -1, 2, {160, 32}, R1C_ERR_FORMAT,
     {"'" UP25 "'", "[160, 32]", "[160, 64]"}},
    {"expert tensor transposed", DOWN23, SET, -1, 2, {160, 64}, R1C_ERR_FORMAT,
     {"'" DOWN23 "'", "[160, 64]", "[64, 160]"}},
    {"noaux_tc without e_score_correction_bias", BIAS1, DROP, 0, 0, {0}, R1C_ERR_MISSING, {"'" BIAS1 "'", "missing"}},
    {"e_score_correction_bias too short", BIAS1, SET, -1, 1, {7}, R1C_ERR_FORMAT, {"'" BIAS1 "'", "[7]", "[8]"}},
    {"weight of dtype I8", KVA0, SET, R1C_I8, 0, {0}, R1C_ERR_UNSUPPORTED, {"'" KVA0 "'", "I8"}},
    {"weight of dtype F8_E5M2", KVA0, SET, R1C_F8_E5M2, 0, {0}, R1C_ERR_UNSUPPORTED, {"'" KVA0 "'", "F8_E5M2"}},
    {"norm of dtype I8", "model.layers.0.input_layernorm.weight", SET, R1C_I8, 0, {0}, R1C_ERR_UNSUPPORTED,
     {"'model.layers.0.input_layernorm.weight'", "I8"}},
    {"router missing", "model.layers.3.mlp.gate.weight", DROP, 0, 0, {0}, R1C_ERR_MISSING,
     {"'model.layers.3.mlp.gate.weight'"}},
    {"shared expert missing", "model.layers.2.mlp.shared_experts.down_proj.weight", DROP, 0, 0, {0}, R1C_ERR_MISSING,
     {"'model.layers.2.mlp.shared_experts.down_proj.weight'"}},
};

static void tensor_case(const tcase *c) {
    r1c_st_wtensor *t = xmalloc(sizeof *t * (size_t)g_n);
    memcpy(t, g_base, sizeof *t * (size_t)g_n);
    int n = g_n, i = find_t(t, n, c->tensor);
    CHECK(i >= 0, "%s: no tensor %s in the golden model", c->what, c->tensor);
    if (i < 0) {
        free(t);
        return;
    }
    if (c->op == DROP) {
        memmove(t + i, t + i + 1, sizeof *t * (size_t)(n - i - 1));
        n--;
    } else {
        int64_t old_bytes = r1c_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].n_dims; d++) old_bytes *= t[i].shape[d];
        if (c->dtype >= 0) t[i].dtype = (r1c_dtype)c->dtype;
        if (c->nd > 0) {
            t[i].n_dims = c->nd;
            memset(t[i].shape, 0, sizeof t[i].shape);
            for (int d = 0; d < c->nd; d++) t[i].shape[d] = c->shape[d];
        }
        int64_t new_bytes = r1c_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].n_dims; d++) new_bytes *= t[i].shape[d];
        CHECK(new_bytes <= old_bytes, "%s: the edit must not read past the original data", c->what);
        if (new_bytes > old_bytes) {
            free(t);
            return;
        }
    }
    if (write_tensors(g_dir_st, t, n))
        for (int mm = 0; mm <= 1; mm++) expect_fail(c->what, g_dir_st, mm, c->want, c->expect);
    free(t);
}

/* ------------------------------------------------------------ config edits */

typedef struct ccase {
    const char *what;
    const char *patch; /* JSON object: its members replace (or add to) the config's */
    const char *del;   /* a member to delete, or NULL */
    r1c_status want;
    const char *expect[4];
} ccase;

static const ccase ccases[] = {
    {"n_group not dividing n_routed_experts", "{\"n_group\": 3}", NULL, R1C_ERR_FORMAT, {"'n_group'", "3"}},
    {"topk_group > n_group", "{\"topk_group\": 5}", NULL, R1C_ERR_FORMAT, {"'topk_group'", "5"}},
    {"num_experts_per_tok 0", "{\"num_experts_per_tok\": 0}", NULL, R1C_ERR_FORMAT, {"'num_experts_per_tok'", "0"}},
    {"num_experts_per_tok > n_routed_experts", "{\"num_experts_per_tok\": 9}", NULL, R1C_ERR_FORMAT,
     {"'num_experts_per_tok'", "9"}},
    {"num_experts_per_tok negative", "{\"num_experts_per_tok\": -1}", NULL, R1C_ERR_FORMAT, {"'num_experts_per_tok'"}},
    {"topk_group x group size < num_experts_per_tok", "{\"topk_group\": 1, \"num_experts_per_tok\": 3}", NULL,
     R1C_ERR_FORMAT, {"topk_group", "num_experts_per_tok"}},
    {"n_group 0", "{\"n_group\": 0}", NULL, R1C_ERR_FORMAT, {"'n_group'"}},
    {"unknown scoring_func", "{\"scoring_func\": \"tanh\"}", NULL, R1C_ERR_UNSUPPORTED, {"'scoring_func'", "tanh"}},
    {"scoring_func not a string", "{\"scoring_func\": 1}", NULL, R1C_ERR_FORMAT, {"'scoring_func'"}},
    {"unknown topk_method", "{\"topk_method\": \"top_p\"}", NULL, R1C_ERR_UNSUPPORTED, {"'topk_method'", "top_p"}},
    {"kv_lora_rank missing", NULL, "kv_lora_rank", R1C_ERR_MISSING, {"'kv_lora_rank'"}},
    {"kv_lora_rank null", "{\"kv_lora_rank\": null}", NULL, R1C_ERR_MISSING, {"'kv_lora_rank'"}},
    {"kv_lora_rank 0", "{\"kv_lora_rank\": 0}", NULL, R1C_ERR_FORMAT, {"'kv_lora_rank'"}},
    {"qk_rope_head_dim missing", NULL, "qk_rope_head_dim", R1C_ERR_MISSING, {"'qk_rope_head_dim'"}},
    {"qk_rope_head_dim odd", "{\"qk_rope_head_dim\": 7}", NULL, R1C_ERR_FORMAT, {"'qk_rope_head_dim'"}},
    {"v_head_dim not an integer", "{\"v_head_dim\": 16.5}", NULL, R1C_ERR_FORMAT, {"'v_head_dim'"}},
    {"quant_method awq",
     "{\"quantization_config\": {\"quant_method\": \"awq\", \"weight_block_size\": [128, 128]}}", NULL,
     R1C_ERR_UNSUPPORTED, {"quant_method", "awq"}},
    {"quant_method missing", "{\"quantization_config\": {\"weight_block_size\": [128, 128]}}", NULL,
     R1C_ERR_MISSING, {"quant_method"}},
    {"quantization_config not an object", "{\"quantization_config\": \"fp8\"}", NULL, R1C_ERR_FORMAT,
     {"'quantization_config'"}},
    {"weight_block_size missing", "{\"quantization_config\": {\"quant_method\": \"fp8\"}}", NULL, R1C_ERR_FORMAT,
     {"weight_block_size"}},
    {"weight_block_size one integer", "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128]}}",
     NULL, R1C_ERR_FORMAT, {"weight_block_size"}},
    {"weight_block_size three integers",
     "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128, 128, 128]}}", NULL,
     R1C_ERR_FORMAT, {"weight_block_size"}},
    {"weight_block_size with a zero", "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128, 0]}}",
     NULL, R1C_ERR_FORMAT, {"weight_block_size"}},
    {"weight_block_size negative", "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [-128, 128]}}",
     NULL, R1C_ERR_FORMAT, {"weight_block_size"}},
    {"weight_block_size fractional",
     "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [128.5, 128]}}", NULL, R1C_ERR_FORMAT,
     {"weight_block_size"}},
    {"weight_block_size of strings",
     "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [\"128\", \"128\"]}}", NULL,
     R1C_ERR_FORMAT, {"weight_block_size"}},
    {"weight_block_size a string", "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": \"128x128\"}}",
     NULL, R1C_ERR_FORMAT, {"weight_block_size"}},
    {"weight_block_size huge", "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [1e10, 128]}}",
     NULL, R1C_ERR_FORMAT, {"weight_block_size"}},
    /* well-formed, but the grid no longer matches the scales in the file */
    {"weight_block_size not the file's", "{\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [64, 64]}}",
     NULL, R1C_ERR_FORMAT, {"_scale_inv'", "64x64"}},
};

static void config_case(const ccase *c) {
    cJSON *root = cJSON_ParseWithLength(g_config, g_config_len);
    cJSON *patch = c->patch ? cJSON_Parse(c->patch) : NULL;
    CHECK(root && (patch || !c->patch), "%s: bad patch", c->what);
    if (!root || (c->patch && !patch)) {
        cJSON_Delete(root), cJSON_Delete(patch);
        return;
    }
    if (c->del) {
        CHECK(cJSON_GetObjectItemCaseSensitive(root, c->del) != NULL, "%s: no field %s to delete", c->what, c->del);
        cJSON_DeleteItemFromObjectCaseSensitive(root, c->del);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, patch) {
        cJSON *copy = cJSON_Duplicate(it, 1);
        if (cJSON_GetObjectItemCaseSensitive(root, it->string)) cJSON_ReplaceItemInObjectCaseSensitive(root, it->string, copy);
        else cJSON_AddItemToObject(root, it->string, copy);
    }
    char *text = cJSON_Print(root);
    if (text && write_config(g_dir_cfg, text, strlen(text))) expect_fail(c->what, g_dir_cfg, 0, c->want, c->expect);
    free(text);
    cJSON_Delete(patch);
    cJSON_Delete(root);
}

/* ----------------------------------------------------- FP8 embedding table */

/* The embedding table stored as F8_E4M3 with a 128x128 scale grid (the official checkpoints
 * keep it BF16): r1c must either refuse it, naming it, or embed with the dequantized values,
 * giving the logits of the same model with the table stored dequantized in F32. */
static void fp8_embedding(void) {
    const char *name = "model.embed_tokens.weight";
    int i = find_t(g_base, g_n, name);
    CHECK(i >= 0 && g_base[i].dtype == R1C_BF16 && g_base[i].n_dims == 2, "embed_tokens");
    if (i < 0) return;
    const int64_t R = g_base[i].shape[0], C = g_base[i].shape[1], SR = (R + 127) / 128, SC = (C + 127) / 128;
    float *w = xmalloc(sizeof(float) * (size_t)(R * C)), *deq = xmalloc(sizeof(float) * (size_t)(R * C));
    float *scale = xmalloc(sizeof(float) * (size_t)(SR * SC));
    uint8_t *q = xmalloc((size_t)(R * C));
    r1c_to_f32(R1C_BF16, g_base[i].data, w, R * C);
    for (int64_t br = 0; br < SR; br++)
        for (int64_t bc = 0; bc < SC; bc++) {
            float amax = 0;
            for (int64_t r = br * 128; r < R && r < (br + 1) * 128; r++)
                for (int64_t c = bc * 128; c < C && c < (bc + 1) * 128; c++) amax = fmaxf(amax, fabsf(w[r * C + c]));
            const float s = amax > 0 ? amax / 448.0f : 1.0f;
            scale[br * SC + bc] = s;
            for (int64_t r = br * 128; r < R && r < (br + 1) * 128; r++)
                for (int64_t c = bc * 128; c < C && c < (bc + 1) * 128; c++) {
                    q[r * C + c] = r1c_f32_to_fp8(w[r * C + c] / s);
                    deq[r * C + c] = r1c_fp8_to_f32(q[r * C + c]) * s;
                }
        }
    char dir_q[1100], dir_f[1100];
    snprintf(dir_q, sizeof dir_q, "%s/../embed_fp8", g_dir_st);
    snprintf(dir_f, sizeof dir_f, "%s/../embed_f32", g_dir_st);
    mkdir(dir_q, 0755), mkdir(dir_f, 0755);
    r1c_st_wtensor *t = xmalloc(sizeof *t * (size_t)(g_n + 1));
    memcpy(t, g_base, sizeof *t * (size_t)g_n);
    t[i].dtype = R1C_F32, t[i].data = deq;
    int ok = write_tensors(dir_f, t, g_n) && write_config(dir_f, g_config, g_config_len);
    t[i].dtype = R1C_F8_E4M3, t[i].data = q;
    char sname[128];
    snprintf(sname, sizeof sname, "%s_scale_inv", name);
    t[g_n] = (r1c_st_wtensor){.name = sname, .dtype = R1C_F32, .n_dims = 2, .shape = {SR, SC}, .data = scale};
    ok = ok && write_tensors(dir_q, t, g_n + 1) && write_config(dir_q, g_config, g_config_len);
    r1c_model *mq = NULL, *mf = NULL;
    r1c_status sq = ok ? r1c_model_load(dir_q, NULL, &mq) : R1C_ERR_IO;
    const int32_t ids[5] = {3, 17, 400, 2, 99};
    if (ok && sq == R1C_OK) {
        CHECK(r1c_model_load(dir_f, NULL, &mf) == R1C_OK, "load %s: %s", dir_f, r1c_last_error());
        r1c_ctx_params cp = {.n_ctx = 8, .n_threads = 1};
        r1c_ctx *cq = NULL, *cf = NULL;
        if (mf && r1c_ctx_new(mq, &cp, &cq) == R1C_OK && r1c_ctx_new(mf, &cp, &cf) == R1C_OK &&
            r1c_eval(cq, ids, 5, 1) == R1C_OK && r1c_eval(cf, ids, 5, 1) == R1C_OK) {
            const int V = r1c_model_n_vocab(mq);
            float d = 0;
            for (int r = 0; r < 5; r++)
                for (int k = 0; k < V; k++) d = fmaxf(d, fabsf(r1c_logits(cq, r)[k] - r1c_logits(cf, r)[k]));
            CHECK(d <= 1e-4f, "an F8_E4M3 embedding table is accepted but not dequantized: logits differ by %.3g from "
                              "the same table stored dequantized (first logit %g vs %g)",
                  d, r1c_logits(cq, 0)[0], r1c_logits(cf, 0)[0]);
        } else {
            CHECK(0, "eval: %s", r1c_last_error());
        }
        r1c_ctx_free(cq), r1c_ctx_free(cf);
    } else if (ok) {
        CHECK(mq == NULL && contains(r1c_last_error(), name), "F8 embedding refused: %s", r1c_last_error());
    }
    r1c_model_free(mq), r1c_model_free(mf);
    free(t), free(w), free(deq), free(scale), free(q);
}

int main(void) {
    char root[1024];
    snprintf(root, sizeof root, "%s", test_tmpdir("deepseek_bad"));
    snprintf(g_dir_st, sizeof g_dir_st, "%s/st", root);
    snprintf(g_dir_cfg, sizeof g_dir_cfg, "%s/cfg", root);
    mkdir(g_dir_st, 0755), mkdir(g_dir_cfg, 0755);
    g_config = read_file(SRC "/config.json", &g_config_len);
    r1c_status st = r1c_st_open_file(SRC "/model.safetensors", 0, &g_src);
    CHECK(g_config && st == R1C_OK, "open %s: %s", SRC, r1c_last_error());
    if (!g_config || st != R1C_OK) {
        free(g_config);
        return test_summary("test_deepseek_bad");
    }
    const r1c_st_header *h = &g_src.files[0].hdr;
    g_n = h->n;
    g_base = xmalloc(sizeof *g_base * (size_t)g_n);
    for (int i = 0; i < g_n; i++) {
        r1c_tensor v;
        r1c_st_find(&g_src, h->entries[i].name, &v, NULL);
        g_base[i] = (r1c_st_wtensor){.name = v.name, .dtype = v.dtype, .n_dims = v.n_dims, .data = v.data};
        memcpy(g_base[i].shape, v.shape, sizeof v.shape);
    }

    /* control: the unedited rewrite loads, in both directories */
    int ok = write_tensors(g_dir_st, g_base, g_n) && write_config(g_dir_st, g_config, g_config_len) &&
             write_tensors(g_dir_cfg, g_base, g_n) && write_config(g_dir_cfg, g_config, g_config_len);
    for (int d = 0; ok && d < 2; d++) {
        r1c_model *m = NULL;
        const char *dir = d ? g_dir_cfg : g_dir_st;
        CHECK(r1c_model_load(dir, NULL, &m) == R1C_OK && m, "control load %s: %s", dir, r1c_last_error());
        r1c_model_free(m);
    }
    if (ok) {
        for (size_t i = 0; i < sizeof tcases / sizeof *tcases; i++) tensor_case(&tcases[i]);
        for (size_t i = 0; i < sizeof ccases / sizeof *ccases; i++) config_case(&ccases[i]);
        fp8_embedding();
    }
    free(g_base);
    r1c_st_close(&g_src);
    free(g_config);
    return test_summary("test_deepseek_bad");
}
