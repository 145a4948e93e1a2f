/* test_lora.c — PEFT LoRA adapters: written by r1c_lora_write, applied unmerged (a zero B changes
 * no bit; a random adapter matches weights the test merges itself in f32), merged by
 * r1c_lora_merge (same logits as unmerged), and bad adapters refused with a message naming the
 * file and the field or tensor. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/lora.h"
#include "model/model.h"
#include "r1c.h"
#include "test_util.h"

typedef struct tmod {
    char name[160];
    int64_t in, out;
    float *A, *B;
} tmod;

typedef struct tadapter {
    tmod mods[512];
    int n, r;
    float alpha, scale;
} tadapter;

static int name_has_target(const char *name, const char *const *targets, int n) {
    for (int i = 0; i < n; i++) {
        char suf[96];
        snprintf(suf, sizeof suf, ".%s.weight", targets[i]);
        size_t a = strlen(name), b = strlen(suf);
        if (a > b && strcmp(name + a - b, suf) == 0) return 1;
    }
    return 0;
}

/* An adapter for every matrix of m inside model.layers named by `targets`; B zero when zero_b. */
static void make_adapter(const r1c_model *m, const char *const *targets, int nt, int r, float alpha, int zero_b, uint64_t seed,
                         tadapter *ad) {
    memset(ad, 0, sizeof *ad);
    ad->r = r, ad->alpha = alpha, ad->scale = alpha / (float)r;
    for (int i = 0; i < m->n_bound && ad->n < 512; i++) {
        const r1c_tensor *t = &m->bound[i];
        if (t->n_dims != 2 || strncmp(t->name, "model.layers.", 13) || !name_has_target(t->name, targets, nt)) continue;
        tmod *md = &ad->mods[ad->n++];
        snprintf(md->name, sizeof md->name, "%s", t->name);
        md->out = t->shape[0], md->in = t->shape[1];
        md->A = xmalloc(sizeof(float) * (size_t)(r * md->in));
        md->B = xmalloc(sizeof(float) * (size_t)(r * md->out));
        for (int64_t k = 0; k < r * md->in; k++) md->A[k] = 0.2f * test_randf(&seed);
        for (int64_t k = 0; k < r * md->out; k++) md->B[k] = zero_b ? 0.0f : 0.2f * test_randf(&seed);
    }
}

static void free_adapter(tadapter *ad) {
    for (int i = 0; i < ad->n; i++) free(ad->mods[i].A), free(ad->mods[i].B);
}

static r1c_status write_adapter(const char *dir, const tadapter *ad, const char *const *targets, int nt, r1c_dtype dt) {
    r1c_lora_wmodule w[512];
    for (int i = 0; i < ad->n; i++)
        w[i] = (r1c_lora_wmodule){ad->mods[i].name, ad->mods[i].in, ad->mods[i].out, ad->mods[i].A, ad->mods[i].B};
    r1c_lora_wconfig c = {.r = ad->r, .alpha = ad->alpha, .dropout = 0.05f, .base_model = "test", .target_modules = targets,
                          .n_targets = nt};
    return r1c_lora_write(dir, &c, w, ad->n, dt);
}

/* The base's safetensors with W + scale * B A (in double, rounded once to f32) for the
 * adapter's matrices: the reference the unmerged adapter must match. */
static void write_reference(const char *base, const tadapter *ad, const char *out) {
    r1c_st_set s;
    CHECK(r1c_st_open_dir(base, 0, &s) == R1C_OK, "%s", r1c_last_error());
    r1c_st_wtensor *t = xmalloc(sizeof *t * (size_t)s.files[0].hdr.n);
    float **bufs = calloc((size_t)s.files[0].hdr.n, sizeof *bufs);
    const r1c_st_file *F = &s.files[0];
    for (int e = 0; e < F->hdr.n; e++) {
        const r1c_st_entry *E = &F->hdr.entries[e];
        t[e] = (r1c_st_wtensor){.name = E->name, .dtype = E->dtype, .n_dims = E->n_dims, .data = F->blob.data + F->hdr.data_start + E->begin};
        memcpy(t[e].shape, E->shape, sizeof E->shape);
        for (int i = 0; i < ad->n; i++) {
            const tmod *md = &ad->mods[i];
            if (strcmp(md->name, E->name)) continue;
            CHECK(E->dtype == R1C_F32, "reference merge wants f32");
            float *w = bufs[e] = xmalloc(sizeof(float) * (size_t)(md->in * md->out));
            memcpy(w, t[e].data, sizeof(float) * (size_t)(md->in * md->out));
            for (int64_t r = 0; r < md->out; r++)
                for (int64_t c = 0; c < md->in; c++) {
                    double d = 0;
                    for (int k = 0; k < ad->r; k++) d += (double)md->B[r * ad->r + k] * md->A[k * md->in + c];
                    w[r * md->in + c] = (float)((double)w[r * md->in + c] + ad->scale * d);
                }
            t[e].data = w;
        }
    }
    char path[1200];
    mkdir(out, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    CHECK(r1c_st_write(path, t, F->hdr.n, NULL) == R1C_OK, "%s", r1c_last_error());
    for (int e = 0; e < F->hdr.n; e++) free(bufs[e]);
    free(bufs), free(t);
    r1c_st_close(&s);
    char src[1200];
    size_t len;
    snprintf(src, sizeof src, "%s/config.json", base);
    void *cfg = read_file(src, &len);
    snprintf(path, sizeof path, "%s/config.json", out);
    CHECK(cfg && write_file(path, cfg, len), "copy %s", src);
    free(cfg);
}

static const int32_t IDS[] = {1, 7, 42, 99, 3, 250, 17, 5};
#define N_IDS 8

/* All N_IDS rows of logits, with adapter a (NULL: none) attached to the context. */
static float *logits_of(const r1c_model *m, const r1c_lora *a, int threads) {
    r1c_ctx_params cp = {.n_ctx = 32, .n_threads = threads};
    r1c_ctx *c = NULL;
    const int V = r1c_model_n_vocab(m);
    float *out = xmalloc(sizeof(float) * (size_t)(V * N_IDS));
    CHECK(r1c_ctx_new(m, &cp, &c) == R1C_OK, "%s", r1c_last_error());
    CHECK(r1c_ctx_set_lora(c, a) == R1C_OK, "%s", r1c_last_error());
    CHECK(r1c_eval(c, IDS, N_IDS, 1) == R1C_OK, "%s", r1c_last_error());
    for (int i = 0; i < N_IDS; i++) memcpy(out + (size_t)i * V, r1c_logits(c, i), sizeof(float) * (size_t)V);
    r1c_ctx_free(c);
    return out;
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m;
}

static r1c_model *load(const char *dir, const char *lora) {
    r1c_load_params lp = {.lora_dir = lora};
    r1c_model *m = NULL;
    CHECK(r1c_model_load(dir, &lp, &m) == R1C_OK, "%s: %s", dir, r1c_last_error());
    return m;
}

/* (a) zero B: bit-identical; (b) random: as the test's own f32 merge; (c) r1c_lora_merge: as
 * unmerged. The tolerance: 128 float32 epsilons of the largest logit (the adapter's term is
 * added in another order than a merged weight's, and the forward pass amplifies the rounding). */
static void check_model(const char *name, const char *base, const char *const *targets, int nt) {
    char dir0[1024], dir1[1024], ref[1024], merged[1024];
    const char *tmp = test_tmpdir("lora");
    snprintf(dir0, sizeof dir0, "%s/%s_zero", tmp, name);
    snprintf(dir1, sizeof dir1, "%s/%s_rand", tmp, name);
    snprintf(ref, sizeof ref, "%s/%s_ref", tmp, name);
    snprintf(merged, sizeof merged, "%s/%s_merged", tmp, name);
    mkdir(dir0, 0755), mkdir(dir1, 0755);
    r1c_model *m = load(base, NULL);
    if (!m) return;
    const size_t V = (size_t)r1c_model_n_vocab(m), n = V * N_IDS;
    float *lb = logits_of(m, NULL, 2);

    tadapter ad;
    make_adapter(m, targets, nt, 4, 8.0f, 1, 11, &ad);
    CHECK(ad.n > 0, "%s: no matrices to adapt", name);
    CHECK(write_adapter(dir0, &ad, targets, nt, R1C_F32) == R1C_OK, "%s", r1c_last_error());
    r1c_lora *a = NULL;
    CHECK(r1c_lora_load(m, dir0, &a) == R1C_OK, "%s", r1c_last_error());
    CHECK(r1c_lora_n_modules(a) == ad.n, "%s: %d modules, want %d", name, r1c_lora_n_modules(a), ad.n);
    float *l0 = logits_of(m, a, 2);
    CHECK(memcmp(l0, lb, n * sizeof(float)) == 0, "%s: a zero-B adapter changed the logits (max diff %g)", name, max_diff(l0, lb, n));
    r1c_lora_free(a);
    free_adapter(&ad);

    make_adapter(m, targets, nt, 4, 8.0f, 0, 12, &ad);
    CHECK(write_adapter(dir1, &ad, targets, nt, R1C_F32) == R1C_OK, "%s", r1c_last_error());
    CHECK(r1c_lora_load(m, dir1, &a) == R1C_OK, "%s", r1c_last_error());
    float *l1 = logits_of(m, a, 2), *l1t = logits_of(m, a, 1);
    CHECK(memcmp(l1, l1t, n * sizeof(float)) == 0, "%s: adapter logits depend on the thread count", name);
    const double tol = 128.0 * FLT_EPSILON * max_abs(lb, n);
    CHECK(max_diff(l1, lb, n) > 100 * tol, "%s: the random adapter changed the logits by only %g", name, max_diff(l1, lb, n));
    write_reference(base, &ad, ref);
    r1c_model *mr = load(ref, NULL);
    if (mr) {
        float *lr = logits_of(mr, NULL, 2);
        double d = max_diff(l1, lr, n);
        CHECK(d <= tol, "%s: unmerged vs f32 reference merge: max |d| %g > %g", name, d, tol);
        fprintf(stderr, "%s: unmerged vs reference merge max |d| %.3g (tolerance %.3g, adapter moved logits by %.3g)\n", name, d, tol,
                max_diff(l1, lb, n));
        free(lr);
        r1c_model_free(mr);
    }
    CHECK(r1c_lora_merge(base, dir1, merged) == R1C_OK, "%s", r1c_last_error());
    r1c_model *mm = load(merged, NULL);
    if (mm) {
        float *lm = logits_of(mm, NULL, 2);
        double d = max_diff(l1, lm, n);
        CHECK(d <= tol, "%s: unmerged vs r1c_lora_merge: max |d| %g > %g", name, d, tol);
        free(lm);
        r1c_model_free(mm);
    }
    /* the same adapter given at load (r1c_load_params.lora_dir): the same bits */
    r1c_model *ml = load(base, dir1);
    if (ml) {
        float *ll = logits_of(ml, ml->lora, 2);
        CHECK(memcmp(ll, l1, n * sizeof(float)) == 0, "%s: lora_dir at load differs from r1c_ctx_set_lora", name);
        free(ll);
        r1c_model_free(ml);
    }
    r1c_lora_free(a);
    free_adapter(&ad);
    free(lb), free(l0), free(l1), free(l1t);
    r1c_model_free(m);
}

/* ---- bad adapters ---- */

static char g_bad[1024];

static void expect_fail(const r1c_model *m, const char *dir, const char *want1, const char *want2) {
    r1c_lora *a = NULL;
    r1c_status st = r1c_lora_load(m, dir, &a);
    const char *msg = r1c_last_error();
    CHECK(st != R1C_OK && !a, "%s: loaded", dir);
    CHECK(contains(msg, want1) && contains(msg, want2), "message '%s' lacks '%s' / '%s'", msg, want1, want2);
    r1c_lora_free(a);
}

static void set_config(const char *dir, const char *from, const char *to) {
    char path[1100];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    char *t = read_file(path, NULL);
    CHECK(t && strstr(t, from), "%s lacks %s", path, from);
    if (!t || !strstr(t, from)) return;
    char *p = strstr(t, from), *o = xmalloc(strlen(t) + strlen(to) + 1);
    sprintf(o, "%.*s%s%s", (int)(p - t), t, to, p + strlen(from));
    write_file(path, o, strlen(o));
    free(t), free(o);
}

static const char *fresh(const r1c_model *m, const char *name, const char *const *targets, int nt, int r) {
    snprintf(g_bad, sizeof g_bad, "%s/bad_%s", test_tmpdir("lora"), name);
    mkdir(g_bad, 0755);
    tadapter ad;
    make_adapter(m, targets, nt, r, 16.0f, 0, 5, &ad);
    CHECK(write_adapter(g_bad, &ad, targets, nt, R1C_BF16) == R1C_OK, "%s", r1c_last_error());
    free_adapter(&ad);
    return g_bad;
}

static void check_bad(void) {
    r1c_model *m = load("tests/data/qwen2_tiny", NULL);
    if (!m) return;
    const char *qv[] = {"q_proj", "v_proj"};
    const char *d;
    r1c_lora *a = NULL;
    d = fresh(m, "ok_bf16", qv, 2, 2);
    CHECK(r1c_lora_load(m, d, &a) == R1C_OK, "bf16 adapter: %s", r1c_last_error());
    CHECK(r1c_lora_n_modules(a) == 6, "q and v of 3 layers: %d", r1c_lora_n_modules(a));
    r1c_lora_free(a);

    expect_fail(m, "/nonexistent/adapter", "/nonexistent/adapter/adapter_config.json", "");
    d = fresh(m, "peft_type", qv, 2, 2);
    set_config(d, "\"LORA\"", "\"IA3\"");
    expect_fail(m, d, "adapter_config.json", "peft_type \"IA3\"");
    d = fresh(m, "fan_in", qv, 2, 2);
    set_config(d, "\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true");
    expect_fail(m, d, "adapter_config.json", "fan_in_fan_out");
    d = fresh(m, "bias", qv, 2, 2);
    set_config(d, "\"bias\": \"none\"", "\"bias\": \"all\"");
    expect_fail(m, d, "adapter_config.json", "bias \"all\"");
    d = fresh(m, "mts", qv, 2, 2);
    set_config(d, "\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]");
    expect_fail(m, d, "adapter_config.json", "modules_to_save");
    d = fresh(m, "rank", qv, 2, 2);
    set_config(d, "\"r\": 2", "\"r\": 3");
    expect_fail(m, d, "adapter_model.safetensors", "lora_A.weight' has shape [2, 64], expected [3, 64]");
    d = fresh(m, "nottarget", qv, 2, 2);
    set_config(d, "\"v_proj\"", "\"k_proj\"");
    expect_fail(m, d, "v_proj.lora_A.weight", "not in target_modules");
    d = fresh(m, "regex_ok", qv, 2, 2);
    set_config(d, "[\"q_proj\", \"v_proj\"]", "\".*\\\\.(q|v)_proj\"");
    CHECK(r1c_lora_load(m, d, &a) == R1C_OK, "regex target_modules: %s", r1c_last_error());
    r1c_lora_free(a);
    d = fresh(m, "regex_bad", qv, 2, 2);
    set_config(d, "[\"q_proj\", \"v_proj\"]", "\".*\\\\.q_proj\"");
    expect_fail(m, d, "v_proj.lora_A.weight", "not in target_modules");
    d = fresh(m, "regex_syntax", qv, 2, 2);
    set_config(d, "[\"q_proj\", \"v_proj\"]", "\"(q_proj\"");
    expect_fail(m, d, "adapter_config.json", "regex");

    /* shape mismatch: an adapter for another width */
    snprintf(g_bad, sizeof g_bad, "%s/bad_shape", test_tmpdir("lora"));
    mkdir(g_bad, 0755);
    float A[2 * 65] = {0}, B[64 * 2] = {0};
    r1c_lora_wmodule wm = {"model.layers.1.self_attn.q_proj.weight", 65, 64, A, B};
    const char *q[] = {"q_proj"};
    r1c_lora_wconfig wc = {.r = 2, .alpha = 4, .target_modules = q, .n_targets = 1};
    CHECK(r1c_lora_write(g_bad, &wc, &wm, 1, R1C_F32) == R1C_OK, "%s", r1c_last_error());
    expect_fail(m, g_bad, "adapter_model.safetensors", "layers.1.self_attn.q_proj.lora_A.weight' has shape [2, 65], expected [2, 64]");

    /* unknown target module: the model has no foo_proj */
    snprintf(g_bad, sizeof g_bad, "%s/bad_unknown", test_tmpdir("lora"));
    mkdir(g_bad, 0755);
    const char *foo[] = {"foo_proj"};
    wm = (r1c_lora_wmodule){"model.layers.0.self_attn.foo_proj.weight", 64, 64, A, B};
    wc.target_modules = foo;
    CHECK(r1c_lora_write(g_bad, &wc, &wm, 1, R1C_F32) == R1C_OK, "%s", r1c_last_error());
    expect_fail(m, g_bad, "foo_proj.lora_A.weight", "unknown target module");
    /* a target list entry matching nothing */
    d = fresh(m, "unknown_entry", qv, 2, 2);
    set_config(d, "\"v_proj\"", "\"v_proj\", \"bar_proj\"");
    expect_fail(m, d, "adapter_config.json", "unknown target module 'bar_proj'");

    /* truncated safetensors */
    d = fresh(m, "trunc", qv, 2, 2);
    char path[1100];
    size_t len;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", d);
    void *bytes = read_file(path, &len);
    CHECK(bytes && write_file(path, bytes, len - 100), "truncate");
    free(bytes);
    expect_fail(m, d, "adapter_model.safetensors", "");
    /* missing safetensors */
    remove(path);
    expect_fail(m, d, "adapter_model.safetensors", "");
    /* missing config */
    d = fresh(m, "noconfig", qv, 2, 2);
    snprintf(path, sizeof path, "%s/adapter_config.json", d);
    remove(path);
    expect_fail(m, d, "adapter_config.json", "");
    r1c_model_free(m);

    /* DeepSeek's kv_b_proj is read by the absorbed attention: refused */
    m = load("tests/data/deepseek_v3/fp32", NULL);
    if (m) {
        const char *kvb[] = {"kv_b_proj"};
        d = fresh(m, "kvb", kvb, 1, 2);
        expect_fail(m, d, "kv_b_proj", "absorbed attention");
        r1c_model_free(m);
    }
    /* a GGUF base: runs unmerged, cannot be merged */
    m = load("tests/data/qwen2_tiny/model-f32.gguf", NULL);
    if (m) {
        d = fresh(m, "gguf", qv, 2, 2);
        CHECK(r1c_lora_load(m, d, &a) == R1C_OK, "GGUF base: %s", r1c_last_error());
        r1c_lora_free(a);
        char out[1100];
        snprintf(out, sizeof out, "%s/gguf_merged", test_tmpdir("lora"));
        CHECK(r1c_lora_merge("tests/data/qwen2_tiny/model-f32.gguf", d, out) == R1C_ERR_UNSUPPORTED, "GGUF merge");
        CHECK(contains(r1c_last_error(), "not a GGUF file"), "%s", r1c_last_error());
        r1c_model_free(m);
    }
}

/* A BF16 base merges into BF16: each adapted weight is bf16(f32 W + delta), the rest copied. */
static void check_bf16_merge(void) {
    const char *base = "tests/data/qwen2_tiny/bf16";
    r1c_model *m = load(base, NULL);
    if (!m) return;
    const char *o[] = {"o_proj"};
    tadapter ad;
    char dir[1100], out[1100];
    snprintf(dir, sizeof dir, "%s/bf16_adapter", test_tmpdir("lora"));
    snprintf(out, sizeof out, "%s/bf16_merged", test_tmpdir("lora"));
    mkdir(dir, 0755);
    make_adapter(m, o, 1, 4, 8.0f, 0, 21, &ad);
    CHECK(write_adapter(dir, &ad, o, 1, R1C_F32) == R1C_OK, "%s", r1c_last_error());
    CHECK(r1c_lora_merge(base, dir, out) == R1C_OK, "%s", r1c_last_error());
    r1c_model *mm = load(out, NULL);
    if (mm) {
        r1c_tensor w0, w1;
        CHECK(r1c_st_find(&m->files, "model.layers.2.self_attn.o_proj.weight", &w0, NULL) &&
                  r1c_st_find(&mm->files, "model.layers.2.self_attn.o_proj.weight", &w1, NULL),
              "o_proj");
        CHECK(w1.dtype == R1C_BF16, "merged dtype %s", r1c_dtype_name(w1.dtype));
        const tmod *md = &ad.mods[2];
        int bad = 0;
        for (int64_t r = 0; r < md->out; r++)
            for (int64_t c = 0; c < md->in; c++) {
                float d = 0;
                for (int k = 0; k < ad.r; k++) d = fmaf(md->B[r * ad.r + k] * ad.scale, md->A[k * md->in + c], d);
                const float w = r1c_bf16_to_f32(((const uint16_t *)w0.data)[r * md->in + c]) + d;
                bad += ((const uint16_t *)w1.data)[r * md->in + c] != r1c_f32_to_bf16(w);
            }
        CHECK(bad == 0, "%d merged bf16 weights differ from bf16(W + scale B A)", bad);
        CHECK(r1c_st_find(&mm->files, "model.layers.2.self_attn.q_proj.weight", &w1, NULL) &&
                  r1c_st_find(&m->files, "model.layers.2.self_attn.q_proj.weight", &w0, NULL) && !memcmp(w0.data, w1.data, w0.nbytes),
              "an unadapted tensor was not copied bit for bit");
        r1c_model_free(mm);
    }
    free_adapter(&ad);
    r1c_model_free(m);
}

int main(void) {
    const char *dense[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    check_model("qwen2", "tests/data/qwen2_tiny", dense, 7);
    check_model("llama3", "tests/data/llama3_tiny", dense, 7);
    const char *ds[] = {"q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "o_proj", "gate_proj", "up_proj", "down_proj"};
    check_model("deepseek_v3", "tests/data/deepseek_v3/fp32", ds, 7);
    check_bad();
    check_bf16_merge();
    return test_summary("test_lora");
}
