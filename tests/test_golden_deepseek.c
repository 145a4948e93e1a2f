/* test_golden_deepseek.c — r1c against DeepSeek's official inference/model.py on the tiny V3
 * model of ../shared/golden/deepseek_v3 (copied to tests/data/deepseek_v3): MLA with YaRN, a
 * dense first layer, 8 routed experts in 4 groups with the correction bias, a shared expert;
 * stored in fp32, bf16 and block-scaled FP8.
 *
 * For every variant, prompt and position, in both of r1c's attention paths (prefill: plain
 * attention over expanded keys in one batch; decode: absorbed attention over the latent cache,
 * one token at a time), with 1 and 2 threads: max |Δ| <= 1e-3 against the reference's decode
 * and prefill logits (README there: its own paths differ by 1e-5), the same argmax, the same
 * experts with the same weights (1e-4), and the per-layer hidden states. */
#include <cjson/cJSON.h>
#include <math.h>

#include "infer/ctx.h"
#include "r1c.h"
#include "test_util.h"

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float w = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= w)) w = d; /* NaN fails */
    }
    return w;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void check_logits(const char *what, const float *got, const float *gold, int rows, int V) {
    float d = max_abs_diff(got, gold, (size_t)rows * V);
    int same = 1;
    for (int r = 0; r < rows; r++) same &= argmax(got + (size_t)r * V, V) == argmax(gold + (size_t)r * V, V);
    CHECK(d <= 1e-3f, "%s: max |delta| %.3g", what, d);
    CHECK(same, "%s: argmax differs", what);
    if (getenv("R1C_TEST_VERBOSE")) fprintf(stderr, "  %-40s max |delta| %.2e\n", what, d);
}

static void variant(const char *v, cJSON *prompts) {
    char dir[256], path[512], what[128];
    snprintf(dir, sizeof dir, "tests/data/deepseek_v3/%s", v);
    r1c_model *m;
    if (r1c_model_load(dir, NULL, &m) != R1C_OK) {
        CHECK(0, "load %s: %s", dir, r1c_last_error());
        return;
    }
    r1c_model_info info;
    r1c_model_get_info(m, &info);
    CHECK(info.mla && info.n_experts == 8 && info.n_experts_used == 2, "info");
    CHECK(info.kv_bytes_per_token == (32 + 8) * 4 * 4, "latent cache: %lld bytes per token", (long long)info.kv_bytes_per_token);
    const int V = r1c_model_n_vocab(m), D = info.n_embd, LAY = info.n_layer, K = 2, NMOE = 3;
    int p = 0;
    const cJSON *pr;
    cJSON_ArrayForEach(pr, prompts) {
        const int n = cJSON_GetArraySize(pr);
        int32_t ids[128];
        int i = 0;
        const cJSON *id;
        cJSON_ArrayForEach(id, pr) ids[i++] = (int32_t)id->valueint;
        size_t gl;
        snprintf(path, sizeof path, "%s/logits_decode_p%d.bin", dir, p);
        float *gold_dec = read_file(path, &gl);
        snprintf(path, sizeof path, "%s/logits_prefill_p%d.bin", dir, p);
        float *gold_pre = read_file(path, &gl);
        snprintf(path, sizeof path, "%s/hidden_p%d.bin", dir, p);
        float *gold_h = read_file(path, &gl);
        snprintf(path, sizeof path, "%s/routing_idx_p%d.bin", dir, p);
        int32_t *gold_ri = read_file(path, &gl);
        snprintf(path, sizeof path, "%s/routing_w_p%d.bin", dir, p);
        float *gold_rw = read_file(path, &gl);
        CHECK(gold_dec && gold_pre && gold_h && gold_ri && gold_rw, "%s p%d: golden files", v, p);
        if (!gold_dec || !gold_pre || !gold_h || !gold_ri || !gold_rw) goto next;
        for (int threads = 1; threads <= 2; threads++) {
            r1c_ctx_params cp = {.n_ctx = n, .n_threads = threads, .n_batch = n};
            r1c_ctx *c;
            if (r1c_ctx_new(m, &cp, &c) != R1C_OK) {
                CHECK(0, "ctx: %s", r1c_last_error());
                continue;
            }
            /* prefill: one batch, every row, with the debugging logs on */
            float *hid = calloc((size_t)(LAY + 1) * n * D, sizeof(float));
            int32_t *ri = calloc((size_t)NMOE * n * K, sizeof(int32_t));
            float *rw = calloc((size_t)NMOE * n * K, sizeof(float));
            c->hidden_log = hid, c->route_ids = ri, c->route_w = rw;
            CHECK(r1c_eval(c, ids, n, 1) == R1C_OK, "prefill: %s", r1c_last_error());
            c->hidden_log = NULL, c->route_ids = NULL, c->route_w = NULL;
            float *pre = malloc(sizeof(float) * (size_t)n * V);
            for (int t = 0; t < n; t++) memcpy(pre + (size_t)t * V, r1c_logits(c, t), sizeof(float) * V);
            snprintf(what, sizeof what, "%s p%d prefill t=%d", v, p, threads);
            check_logits(what, pre, gold_pre, n, V);
            snprintf(what, sizeof what, "%s p%d prefill vs decode gold t=%d", v, p, threads);
            check_logits(what, pre, gold_dec, n, V);
            float hd = 0;
            for (size_t j = 0; j < (size_t)(LAY + 1) * n * D; j++) {
                float d = fabsf(hid[j] - gold_h[j]) / fmaxf(1.0f, fabsf(gold_h[j]));
                if (!(d <= hd)) hd = d;
            }
            CHECK(hd <= 1e-3f, "%s p%d: hidden states differ by %.3g (relative)", v, p, hd);
            int route_ok = 1;
            float wd = 0;
            for (int s = 0; s < NMOE * n; s++) /* the same expert set, the same weight per expert */
                for (int a = 0; a < K; a++) {
                    int found = 0;
                    for (int b = 0; b < K; b++)
                        if (ri[s * K + b] == gold_ri[s * K + a]) {
                            found = 1;
                            wd = fmaxf(wd, fabsf(rw[s * K + b] - gold_rw[s * K + a]));
                        }
                    route_ok &= found;
                }
            CHECK(route_ok, "%s p%d: expert choices differ", v, p);
            CHECK(wd <= 1e-4f, "%s p%d: routing weights differ by %.3g", v, p, wd);
            /* decode: one token at a time through the latent cache */
            r1c_ctx_truncate(c, 0);
            float *dec = malloc(sizeof(float) * (size_t)n * V);
            for (int t = 0; t < n; t++) {
                CHECK(r1c_eval(c, ids + t, 1, 0) == R1C_OK, "decode: %s", r1c_last_error());
                memcpy(dec + (size_t)t * V, r1c_logits(c, -1), sizeof(float) * V);
            }
            snprintf(what, sizeof what, "%s p%d decode t=%d", v, p, threads);
            check_logits(what, dec, gold_dec, n, V);
            /* a prompt cut into two batches continues the cache: prefill path over cached latents */
            r1c_ctx_truncate(c, 0);
            int half = n / 2;
            r1c_eval(c, ids, half, 0);
            r1c_eval(c, ids + half, n - half, 1);
            snprintf(what, sizeof what, "%s p%d chunked prefill t=%d", v, p, threads);
            check_logits(what, r1c_logits(c, 0), gold_dec + (size_t)half * V, n - half, V);
            free(hid), free(ri), free(rw), free(pre), free(dec);
            r1c_ctx_free(c);
        }
    next:
        free(gold_dec), free(gold_pre), free(gold_h), free(gold_ri), free(gold_rw);
        p++;
    }
    r1c_model_free(m);
}

int main(void) {
    size_t len;
    char *text = read_file("tests/data/deepseek_v3/manifest.json", &len);
    cJSON *man = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    cJSON *prompts = cJSON_GetObjectItem(man, "prompts");
    CHECK(cJSON_GetArraySize(prompts) == 3, "manifest prompts");
    variant("fp32", prompts);
    variant("bf16", prompts);
    variant("fp8", prompts);
    cJSON_Delete(man);
    return test_summary("test_golden_deepseek");
}
