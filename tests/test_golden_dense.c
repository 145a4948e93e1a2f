/* test_golden_dense.c — r1c's logits against llama.cpp's on the tiny Qwen2 (untied, tied) and
 * Llama-3.1 models of ../shared/golden/dense (copied to tests/data), f32 and bf16 weights.
 *
 * For every model, weight dtype, sequence, path (prefill = one batch; decode = one token at a
 * time through the cache), thread count and kernel set: max |Δ| <= 1e-4 against the golden
 * rows (README-dense.md: f32 math, observed numpy-vs-llama.cpp <= 5.1e-6) and the same argmax.
 * And the invariants r1c promises: the logits are bit-identical across thread counts, kernel
 * sets, prefill vs decode, batch chunking, and mmap vs read loading. */
#include <cjson/cJSON.h>
#include <math.h>

#include "r1c.h"
#include "test_util.h"

#define TOL 1e-4f

typedef struct seq {
    char name[32];
    int32_t ids[128];
    int n;
} seq;

static int load_sequences(const char *dir, seq *out, int max) {
    char path[256];
    snprintf(path, sizeof path, "%s/tokens.json", dir);
    size_t len;
    char *text = read_file(path, &len);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    int n = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(root, "sequences")) {
        if (n == max) break;
        snprintf(out[n].name, sizeof out[n].name, "%s", s->string);
        out[n].n = 0;
        const cJSON *id;
        cJSON_ArrayForEach(id, s) if (out[n].n < 128) out[n].ids[out[n].n++] = (int32_t)id->valueint;
        n++;
    }
    cJSON_Delete(root);
    return n;
}

/* logits of every position, by one batched eval (prefill) or one eval per token (decode) */
static float *run(r1c_model *m, const seq *s, int decode, int threads, int n_batch) {
    r1c_ctx_params cp = {.n_ctx = s->n, .n_threads = threads, .n_batch = n_batch};
    r1c_ctx *c;
    if (r1c_ctx_new(m, &cp, &c) != R1C_OK) return NULL;
    const int V = r1c_model_n_vocab(m);
    float *out = malloc(sizeof(float) * (size_t)V * (size_t)s->n);
    int ok = 1;
    if (!decode) {
        ok = r1c_eval(c, s->ids, s->n, 1) == R1C_OK;
        for (int i = 0; ok && i < s->n; i++) memcpy(out + (size_t)i * V, r1c_logits(c, i), sizeof(float) * V);
    } else {
        for (int i = 0; ok && i < s->n; i++) {
            ok = r1c_eval(c, s->ids + i, 1, 0) == R1C_OK;
            if (ok) memcpy(out + (size_t)i * V, r1c_logits(c, -1), sizeof(float) * V);
        }
    }
    r1c_ctx_free(c);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void compare_golden(const char *what, const float *got, const float *gold, int rows, int V) {
    float worst = 0;
    int argmax_ok = 1;
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < V; j++) {
            float d = fabsf(got[(size_t)r * V + j] - gold[(size_t)r * V + j]);
            if (!(d <= worst)) worst = d; /* NaN propagates as a failure */
        }
        argmax_ok &= argmax(got + (size_t)r * V, V) == argmax(gold + (size_t)r * V, V);
    }
    CHECK(worst <= TOL, "%s: max |delta| %.3g > %.0e", what, worst, TOL);
    CHECK(argmax_ok, "%s: argmax differs", what);
    if (getenv("R1C_TEST_VERBOSE")) fprintf(stderr, "  %-48s max |delta| %.2e\n", what, worst);
}

static void test_model(const char *model, int bf16) {
    char dir[128], gold_path[512];
    snprintf(dir, sizeof dir, "tests/data/%s%s", model, bf16 ? "/bf16" : "");
    seq seqs[8];
    char base[128];
    snprintf(base, sizeof base, "tests/data/%s", model);
    int ns = load_sequences(base, seqs, 8);
    CHECK(ns == 4, "%s: %d sequences in tokens.json", model, ns);
    r1c_model *m = NULL, *mm = NULL;
    r1c_load_params lp = {0}, lpm = {.use_mmap = 1};
    CHECK(r1c_model_load(dir, &lp, &m) == R1C_OK, "load %s: %s", dir, r1c_last_error());
    CHECK(r1c_model_load(dir, &lpm, &mm) == R1C_OK, "load --mmap %s: %s", dir, r1c_last_error());
    if (!m || !mm) goto out;
    const int V = r1c_model_n_vocab(m);
    const char *isas[] = {"generic", "avx2", "avx512", "avx512vbmi", "neon", "neon_dotprod"};
    const int n_isas = (int)(sizeof isas / sizeof isas[0]);
    const char *default_isa = r1c_kernel_isa(); /* the table picked for this CPU */
    for (int s = 0; s < ns; s++) {
        const seq *q = &seqs[s];
        snprintf(gold_path, sizeof gold_path, "%s/%s%s.bin", dir, bf16 ? "logits_f32math_" : "logits_", q->name);
        size_t glen;
        float *gold = read_file(gold_path, &glen);
        CHECK(gold && glen == sizeof(float) * (size_t)V * (size_t)q->n, "%s: golden file size", gold_path);
        if (!gold) continue;
        float *ref = run(m, q, 0, 1, 0);
        CHECK(ref != NULL, "%s %s prefill: %s", dir, q->name, r1c_last_error());
        if (!ref) {
            free(gold);
            continue;
        }
        char what[320];
        snprintf(what, sizeof what, "%s %s prefill", dir, q->name);
        compare_golden(what, ref, gold, q->n, V);
        const size_t bytes = sizeof(float) * (size_t)V * (size_t)q->n;
        for (int ii = 0; ii < n_isas; ii++) {
            if (r1c_force_kernel_isa(isas[ii]) != R1C_OK) continue; /* not on this CPU */
            for (int decode = 0; decode < 2; decode++)
                for (int t = 1; t <= 3; t++) {
                    float *got = run(m, q, decode, t, 0);
                    snprintf(what, sizeof what, "%s %s %s %s t=%d", dir, q->name, decode ? "decode" : "prefill", isas[ii], t);
                    CHECK(got && memcmp(got, ref, bytes) == 0, "%s: not bit-identical to the reference run", what);
                    free(got);
                }
            /* a prompt split into uneven batches gives the same bits */
            float *chunked = run(m, q, 0, 2, 7);
            CHECK(chunked && memcmp(chunked, ref, bytes) == 0, "%s %s %s n_batch=7: differs", dir, q->name, isas[ii]);
            free(chunked);
        }
        r1c_force_kernel_isa(default_isa);
        float *mapped = run(mm, q, 0, 2, 0);
        CHECK(mapped && memcmp(mapped, ref, bytes) == 0, "%s %s: mmap-loaded model differs", dir, q->name);
        free(mapped);
        free(ref);
        free(gold);
    }
out:
    r1c_model_free(m);
    r1c_model_free(mm);
}

/* Prefill that continues a cache: evaluating a prefix, then the rest in one batch, equals
 * evaluating everything at once (positions and cache offsets line up). */
static void test_continuation(void) {
    r1c_model *m;
    if (r1c_model_load("tests/data/qwen2_tiny", NULL, &m) != R1C_OK) {
        CHECK(0, "load: %s", r1c_last_error());
        return;
    }
    const int V = r1c_model_n_vocab(m);
    int32_t ids[40];
    uint64_t s = 99;
    for (int i = 0; i < 40; i++) ids[i] = (int32_t)(test_rand(&s) % (uint64_t)V);
    r1c_ctx *a, *b;
    r1c_ctx_params cp = {.n_ctx = 64, .n_threads = 2};
    r1c_ctx_new(m, &cp, &a);
    r1c_ctx_new(m, &cp, &b);
    r1c_eval(a, ids, 40, 0);
    r1c_eval(b, ids, 13, 0);
    r1c_eval(b, ids + 13, 27, 0);
    CHECK(memcmp(r1c_logits(a, -1), r1c_logits(b, -1), sizeof(float) * V) == 0, "continued prefill differs");
    /* truncate and re-evaluate: the cache beyond n_keep is replaced */
    r1c_ctx_truncate(b, 20);
    CHECK(r1c_ctx_n_past(b) == 20, "n_past after truncate");
    r1c_eval(b, ids + 20, 20, 0);
    CHECK(memcmp(r1c_logits(a, -1), r1c_logits(b, -1), sizeof(float) * V) == 0, "re-evaluation after truncate differs");
    /* errors: bad ids, overflow of the context */
    int32_t bad = V;
    CHECK(r1c_eval(b, &bad, 1, 0) == R1C_ERR_INVALID_ARG && contains(r1c_last_error(), "vocabulary"), "bad id: %s", r1c_last_error());
    CHECK(r1c_eval(b, ids, 30, 0) == R1C_ERR_CONTEXT_FULL && contains(r1c_last_error(), "context full"), "overflow: %s", r1c_last_error());
    CHECK(r1c_ctx_n_past(b) == 40, "failed eval must not move n_past (%d)", r1c_ctx_n_past(b));
    r1c_ctx_free(a);
    r1c_ctx_free(b);
    r1c_model_free(m);
}

int main(void) {
    const char *models[] = {"qwen2_tiny", "qwen2_tiny_tied", "llama3_tiny"};
    for (int i = 0; i < 3; i++)
        for (int bf16 = 0; bf16 < 2; bf16++) test_model(models[i], bf16);
    test_continuation();
    return test_summary("test_golden_dense");
}
