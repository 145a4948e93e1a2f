/* test_attention.c — tiled online-softmax attention (ops.h: r1c_attention, r1c_attend).
 *
 *  - accuracy against a double-precision softmax attention on random data, for key counts
 *    around the tile boundaries and up to 4097, head dims 16/64/128, and for MLA's two-part keys;
 *    the bound is derived from float32 rounding (eps = 2^-23), not tuned to pass;
 *  - bit-identity (memcmp) with a scalar implementation, written here, of ops.h's canonical
 *    order (canonical dot through r1c_dot_f32, r1c_exp, fmaf), under every kernel table, however
 *    the queries are grouped into r1c_attention calls, and with per-query key counts (causal);
 *  - score ranges that overflow exp() without the running maximum: a maximum that moves late
 *    or every key, scores around +-3e4, keys whose score is -inf (a whole first tile of them),
 *    and every score -inf (NaN, as a plain softmax gives);
 *  - whole models at 600 tokens (five tiles): a dense model's logits bit-identical across thread
 *    counts, batch splits and token-by-token decode; DeepSeek's (MLA, prefill expanding keys a
 *    chunk at a time) across thread counts and batch splits, and its absorbed decode within
 *    1e-3 of the prefill. */
#include <float.h>
#include <math.h>

#include "r1c.h"
#include "tensor/ops.h"
#include "tensor/vexp.h"
#include "test_util.h"

#define TILE R1C_ATTN_TILE

static const char *const TABLES[] = {"generic", "avx2", "avx512", "avx512vbmi", "neon", "neon_dotprod"};
#define N_TABLES (int)(sizeof TABLES / sizeof *TABLES)

/* ---------------------------------------------------------------- references */

/* ops.h's order, scalar, for one query */
static void tiled_ref(const r1c_attn *a, const float *q, const float *q2, int n, float *out) {
    const r1c_kernels *K = r1c_kernels_get();
    float m = -INFINITY, l = 0.0f, s[TILE];
    for (int d = 0; d < a->dv; d++) out[d] = 0.0f;
    for (int j0 = 0; j0 < n; j0 += TILE) {
        const int nk = n - j0 < TILE ? n - j0 : TILE;
        for (int j = 0; j < nk; j++) {
            const float d1 = r1c_dot_f32(K, q, a->k + (int64_t)(j0 + j) * a->ldk, a->dk);
            if (a->dk2 > 0) s[j] = (d1 + r1c_dot_f32(K, q2, a->k2 + (int64_t)(j0 + j) * a->ldk2, a->dk2)) * a->scale;
            else s[j] = d1 * a->scale;
        }
        float mt = -INFINITY;
        for (int j = 0; j < nk; j++)
            if (s[j] > mt) mt = s[j];
        if (mt > m) {
            if (m > -INFINITY) {
                const float al = r1c_exp(m - mt);
                l = l * al;
                for (int d = 0; d < a->dv; d++) out[d] = out[d] * al;
            }
            m = mt;
        }
        if (m == -INFINITY) continue;
        for (int j = 0; j < nk; j++) {
            const float p = r1c_exp(s[j] - m);
            l = l + p;
            const float *v = a->v + (int64_t)(j0 + j) * a->ldv;
            for (int d = 0; d < a->dv; d++) out[d] = fmaf(p, v[d], out[d]);
        }
    }
    for (int d = 0; d < a->dv; d++) out[d] = out[d] / l;
}

/* Double precision: scores sd[j], weights w[j], out[d]; returns the maximum score. */
static double exact_ref(const r1c_attn *a, const float *q, const float *q2, int n, double *sd, double *w, double *out) {
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        double dot = 0;
        for (int i = 0; i < a->dk; i++) dot += (double)q[i] * a->k[(int64_t)j * a->ldk + i];
        for (int i = 0; i < a->dk2; i++) dot += (double)q2[i] * a->k2[(int64_t)j * a->ldk2 + i];
        sd[j] = dot * a->scale;
        if (sd[j] > mx) mx = sd[j];
    }
    for (int j = 0; j < n; j++) sum += w[j] = exp(sd[j] - mx);
    for (int j = 0; j < n; j++) w[j] /= sum;
    for (int d = 0; d < a->dv; d++) {
        double o = 0;
        for (int j = 0; j < n; j++) o += w[j] * a->v[(int64_t)j * a->ldv + d];
        out[d] = o;
    }
    return mx;
}

/* Bound on |r1c - exact| for output d. Per key j with weight w_j (keys of weight 0 — score -inf
 * — do not count):
 *  - its score carries an absolute error ds_j <= (ceil(dk/16)+4 [+ ceil(dk2/16)+4 + 1]) eps
 *    scale sum|q k| (the canonical dot's bound, two parts added), moving the weight by a
 *    factor within exp(+-2 max ds);
 *  - exp's argument s_j - m (and, for a key seen before the maximum grew, the rescaling
 *    factors' arguments, whose sum is at most m - s_j) is rounded: relative error
 *    <= 2 eps (m - s_j), plus one ulp per r1c_exp and one rounding per rescale (4 eps per tile);
 *  - the sequential sums of l and o: n eps each, and the final division.
 * So |err_d| <= sum_j w_j |v_jd| (expm1(4 ds) + (2n + 4 tiles + 8) eps + 2 eps (m - s_j)). */
static double bound(const r1c_attn *a, const float *q, const float *q2, int n, const double *sd, const double *w,
                    double mx, int d) {
    double ds = 0, tol = 0;
    const double c1 = ((a->dk + 15) / 16 + 4) * FLT_EPSILON, c2 = ((a->dk2 + 15) / 16 + 4 + 1) * FLT_EPSILON;
    for (int j = 0; j < n; j++) {
        if (w[j] == 0) continue;
        double m1 = 0, m2 = 0;
        for (int i = 0; i < a->dk; i++) m1 += fabs((double)q[i] * a->k[(int64_t)j * a->ldk + i]);
        for (int i = 0; i < a->dk2; i++) m2 += fabs((double)q2[i] * a->k2[(int64_t)j * a->ldk2 + i]);
        double e = (c1 * m1 + (a->dk2 > 0 ? c2 * m2 : 0)) * fabs(a->scale);
        if (e > ds) ds = e;
    }
    const int tiles = (n + TILE - 1) / TILE;
    for (int j = 0; j < n; j++) {
        if (w[j] == 0) continue;
        tol += w[j] * fabs(a->v[(int64_t)j * a->ldv + d]) * ((2.0 * n + 4 * tiles + 8) * FLT_EPSILON + 2 * FLT_EPSILON * (mx - sd[j]));
    }
    double pv = 0;
    for (int j = 0; j < n; j++) pv += w[j] * fabs(a->v[(int64_t)j * a->ldv + d]);
    return tol + pv * expm1(4 * ds) + 1e-30;
}

/* r1c_attention of one query: exact-reference accuracy, and bits equal to tiled_ref */
static void check_one(const char *what, const r1c_attn *a, const float *q, const float *q2, int n, int expect_nan) {
    float *scr = xmalloc(sizeof(float) * r1c_attention_scratch_floats(a->dk, a->dk2)); /* exactly the documented size */
    float *out = xmalloc(sizeof(float) * (size_t)a->dv), *ref = xmalloc(sizeof(float) * (size_t)a->dv);
    double *sd = xmalloc(sizeof(double) * (size_t)n), *w = xmalloc(sizeof(double) * (size_t)n);
    double *ex = xmalloc(sizeof(double) * (size_t)a->dv);
    r1c_attn_query qq = {.q = q, .q2 = q2, .out = out, .n_keys = n};
    r1c_attention(a, &qq, 1, scr);
    tiled_ref(a, q, q2, n, ref);
    CHECK(memcmp(out, ref, sizeof(float) * (size_t)a->dv) == 0, "%s n=%d dk=%d+%d: not the bits of the tiled order", what, n,
          a->dk, a->dk2);
    if (expect_nan) {
        int nan = 0;
        for (int d = 0; d < a->dv; d++) nan += isnan(out[d]);
        CHECK(nan == a->dv, "%s n=%d: %d of %d outputs NaN, expected all", what, n, nan, a->dv);
    } else {
        const double mx = exact_ref(a, q, q2, n, sd, w, ex);
        int bad = 0, nonfinite = 0;
        double worst = 0;
        for (int d = 0; d < a->dv; d++) {
            nonfinite += !isfinite(out[d]);
            const double err = fabs(out[d] - ex[d]), tol = bound(a, q, q2, n, sd, w, mx, d);
            if (!(err <= tol)) bad++;
            if (err / tol > worst) worst = err / tol;
        }
        CHECK(nonfinite == 0, "%s n=%d dk=%d+%d: %d non-finite outputs", what, n, a->dk, a->dk2, nonfinite);
        CHECK(bad == 0, "%s n=%d dk=%d+%d: %d outputs off the exact reference (worst err/tol %.3g)", what, n, a->dk,
              a->dk2, bad, worst);
        if (getenv("R1C_TEST_VERBOSE")) fprintf(stderr, "  %-14s n=%5d d=%3d: worst err/tol %.3g\n", what, n, a->dk, worst);
    }
    free(scr), free(out), free(ref), free(sd), free(w), free(ex);
}

/* ------------------------------------------------------------------ accuracy */

static void test_accuracy(void) {
    static const int NK[] = {1, 2, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4097};
    static const int HD[] = {16, 64, 128};
    uint64_t seed = 0xa77e4d01ull;
    for (int di = 0; di < 3; di++) {
        const int d = HD[di], nmax = 4097;
        const int64_t stride = 2 * d + 3; /* a KV cache row of two heads, plus some */
        const size_t cache = (size_t)((nmax - 1) * stride + d);
        float *k = xmalloc(sizeof(float) * cache), *v = xmalloc(sizeof(float) * (cache + (size_t)d)); /* values at +d */
        float *q = xmalloc(sizeof(float) * (size_t)d), *qb = xmalloc(sizeof(float) * (size_t)d);
        for (size_t i = 0; i < cache; i++) k[i] = test_randf(&seed), v[i + (size_t)d] = test_randf(&seed);
        for (int i = 0; i < d; i++) q[i] = test_randf(&seed) * 2.0f, qb[i] = q[i] * 3000.0f;
        const r1c_attn a = {.k = k, .v = v + d, .ldk = stride, .ldv = stride, .dk = d, .dv = d, .scale = 1.0f / sqrtf((float)d)};
        for (int ni = 0; ni < (int)(sizeof NK / sizeof *NK); ni++) {
            check_one("random", &a, q, NULL, NK[ni], 0);
            check_one("random-x3000", &a, qb, NULL, NK[ni], 0); /* scores in the thousands */
        }
        /* r1c_attend is r1c_attention of one query with keys and values of one stride */
        float *o1 = xmalloc(sizeof(float) * (size_t)d), *o2 = xmalloc(sizeof(float) * (size_t)d);
        float *scr = xmalloc(sizeof(float) * r1c_attention_scratch_floats(d, 0));
        r1c_attend(q, k, v + d, stride, 1000, d, a.scale, scr, o1);
        tiled_ref(&a, q, NULL, 1000, o2);
        CHECK(memcmp(o1, o2, sizeof(float) * (size_t)d) == 0, "r1c_attend d=%d: not the tiled order's bits", d);
        free(o1), free(o2), free(scr);
        free(k), free(v), free(q), free(qb);
    }
    /* MLA's shapes (latent + rope key; values = the latents), scaled down and full size */
    static const int DK[][2] = {{32, 8}, {512, 64}, {40, 24}};
    for (int s = 0; s < 3; s++) {
        const int dk = DK[s][0], dk2 = DK[s][1], n = s == 1 ? 1000 : 4097;
        const int64_t cw = dk + dk2;
        float *cache = xmalloc(sizeof(float) * (size_t)(n * cw)), *q = xmalloc(sizeof(float) * (size_t)cw);
        for (int64_t i = 0; i < n * cw; i++) cache[i] = test_randf(&seed);
        for (int i = 0; i < cw; i++) q[i] = test_randf(&seed) * 0.5f;
        const r1c_attn a = {.k = cache, .k2 = cache + dk, .v = cache, .ldk = cw, .ldk2 = cw, .ldv = cw,
                            .dk = dk, .dk2 = dk2, .dv = dk, .scale = 1.0f / sqrtf((float)(dk2 * 3))};
        static const int NS[] = {1, 127, 128, 129, 300, 1000, 4097};
        for (int i = 0; i < 7; i++)
            if (NS[i] <= n) check_one("mla", &a, q, q + dk, NS[i], 0);
        free(cache), free(q);
    }
}

/* -------------------------------------------------------------- score ranges */

/* q = e_0 and scale 1: key j's score is exactly k_j[0] */
static void check_scores(const char *what, const float *scores, int n, int expect_nan, uint64_t *seed) {
    const int d = 64;
    float *k = xmalloc(sizeof(float) * (size_t)(n * d)), *v = xmalloc(sizeof(float) * (size_t)(n * d));
    float q[64] = {1.0f};
    for (int j = 0; j < n; j++)
        for (int i = 0; i < d; i++) k[j * d + i] = i ? test_randf(seed) : scores[j], v[j * d + i] = test_randf(seed);
    const r1c_attn a = {.k = k, .v = v, .ldk = d, .ldv = d, .dk = d, .dv = d, .scale = 1.0f};
    check_one(what, &a, q, NULL, n, expect_nan);
    free(k), free(v);
}

static void test_ranges(void) {
    uint64_t seed = 0x5c0e5ull;
    const int n = 1000;
    float *s = xmalloc(sizeof(float) * 4097);
    /* the maximum moves at every key, by 0.5 (scores up to 2048: exp underflows for the early
     * keys' weights; nothing may overflow) */
    for (int j = 0; j < 4097; j++) s[j] = 0.5f * j;
    check_scores("rising", s, 4097, 0, &seed);
    /* falling: the first key is the maximum, no rescaling */
    for (int j = 0; j < 4097; j++) s[j] = -0.5f * j;
    check_scores("falling", s, 4097, 0, &seed);
    /* the maximum jumps at the last key: by 80 (exp(80) times a thousand overflows float
     * unless rescaled), and by 1e4 (the old weights all become 0) */
    for (int j = 0; j < n; j++) s[j] = test_randf(&seed) * 4.0f;
    s[n - 1] = 80.0f;
    check_scores("late-80", s, n, 0, &seed);
    s[n - 1] = 1e4f;
    check_scores("late-1e4", s, n, 0, &seed);
    /* tiles alternate between a high and a low band: the maximum grows in odd tiles only */
    for (int j = 0; j < n; j++) s[j] = (j / TILE % 2 ? 60.0f + j * 0.01f : 0.0f) + test_randf(&seed);
    check_scores("bands", s, n, 0, &seed);
    /* every score around +3e4 and -3e4 (differences of a few units) */
    for (int j = 0; j < n; j++) s[j] = 30000.0f + 4.0f * test_randf(&seed);
    check_scores("around+3e4", s, n, 0, &seed);
    for (int j = 0; j < n; j++) s[j] = -30000.0f + 4.0f * test_randf(&seed);
    check_scores("around-3e4", s, n, 0, &seed);
    /* keys whose score is -inf weigh nothing: a whole first tile of them and more, then some
     * scattered */
    for (int j = 0; j < n; j++) s[j] = j < TILE + 40 || j % 7 == 3 ? -INFINITY : test_randf(&seed) * 10.0f;
    check_scores("minus-inf", s, n, 0, &seed);
    /* every score -inf: 0/0, NaN, as a softmax of nothing */
    for (int j = 0; j < 300; j++) s[j] = -INFINITY;
    check_scores("all-minus-inf", s, 300, 1, &seed);
    free(s);
}

/* ----------------------------------------------- grouping, causal, kernel tables */

/* nq queries with their own key counts, run in groups of g; every output must equal tiled_ref's
 * bits; returns the outputs (nq x dv) for the cross-table comparison */
static float *run_grouped(const r1c_attn *a, const float *q, const float *q2, const int *nk, int nq, int g, const char *what) {
    float *out = xmalloc(sizeof(float) * (size_t)(nq * a->dv)), *ref = xmalloc(sizeof(float) * (size_t)a->dv);
    float *scr = xmalloc(sizeof(float) * r1c_attention_scratch_floats(a->dk, a->dk2));
    r1c_attn_query *qs = xmalloc(sizeof *qs * (size_t)nq);
    for (int i = 0; i < nq; i++)
        qs[i] = (r1c_attn_query){.q = q + i * a->dk, .q2 = q2 ? q2 + i * a->dk2 : NULL, .out = out + i * a->dv, .n_keys = nk[i]};
    for (int i = 0; i < nq; i += g) r1c_attention(a, qs + i, nq - i < g ? nq - i : g, scr);
    int bad = 0;
    for (int i = 0; i < nq; i++) {
        tiled_ref(a, q + i * a->dk, q2 ? q2 + i * a->dk2 : NULL, nk[i], ref);
        bad += memcmp(ref, out + i * a->dv, sizeof(float) * (size_t)a->dv) != 0;
    }
    CHECK(bad == 0, "%s %s groups of %d: %d of %d queries differ from the tiled order", r1c_kernel_isa(), what, g, bad, nq);
    free(ref), free(scr), free(qs);
    return out;
}

static void test_grouping(void) {
    const char *before = r1c_kernel_isa();
    uint64_t seed = 0x6e0c0ull;
    static const int SHAPES[][3] = {{64, 0, 64}, {128, 0, 128}, {32, 8, 32}, {40, 24, 48}, {16, 0, 16}};
    static const int GROUPS[] = {1, 3, 6, 16, 37};
    enum { NQ = 37, NMAX = 700 };
    for (int si = 0; si < 5; si++) {
        const int dk = SHAPES[si][0], dk2 = SHAPES[si][1], dv = SHAPES[si][2];
        const int64_t ld = dk + dk2 + dv + 5;
        float *kv = xmalloc(sizeof(float) * (size_t)(NMAX * ld)), *q = xmalloc(sizeof(float) * NQ * dk);
        float *q2 = dk2 ? xmalloc(sizeof(float) * NQ * dk2) : NULL;
        for (int64_t i = 0; i < NMAX * ld; i++) kv[i] = test_randf(&seed);
        for (int i = 0; i < NQ * dk; i++) q[i] = test_randf(&seed) * 3.0f;
        for (int i = 0; q2 && i < NQ * dk2; i++) q2[i] = test_randf(&seed) * 3.0f;
        int nk[NQ];
        static const int EDGE[] = {1, 2, 127, 128, 129, 255, 256, 257, 384, 700};
        for (int i = 0; i < NQ; i++) nk[i] = i < 10 ? EDGE[i] : 1 + (int)(test_rand(&seed) % NMAX);
        const r1c_attn a = {.k = kv, .k2 = dk2 ? kv + dk : NULL, .v = kv + dk + dk2, .ldk = ld, .ldk2 = ld, .ldv = ld,
                            .dk = dk, .dk2 = dk2, .dv = dv, .scale = 0.125f};
        float *first = NULL;
        for (int ti = 0; ti < N_TABLES; ti++) {
            if (r1c_force_kernel_isa(TABLES[ti]) != R1C_OK) continue;
            for (int gi = 0; gi < 5; gi++) {
                char what[64];
                snprintf(what, sizeof what, "dk=%d+%d dv=%d", dk, dk2, dv);
                float *out = run_grouped(&a, q, q2, nk, NQ, GROUPS[gi], what);
                if (!first) first = out;
                else {
                    CHECK(memcmp(first, out, sizeof(float) * (size_t)(NQ * dv)) == 0, "%s %s groups of %d: differs from generic",
                          TABLES[ti], what, GROUPS[gi]);
                    free(out);
                }
            }
        }
        free(first), free(kv), free(q), free(q2);
    }
    CHECK(r1c_force_kernel_isa(before) == R1C_OK, "restore %s", before);
}

/* ------------------------------------------------- models, contexts of several tiles */

/* logits of every position of ids, evaluated as consecutive batches of the given sizes (a
 * batch of 1 is a decode step; DeepSeek's batches take the plain MLA path, its decode steps
 * the absorbed one) */
static float *model_run(r1c_model *m, const int32_t *ids, int n, int threads, const int *sizes) {
    r1c_ctx_params cp = {.n_ctx = n, .n_threads = threads, .n_batch = n};
    r1c_ctx *c;
    if (r1c_ctx_new(m, &cp, &c) != R1C_OK) return NULL;
    const int V = r1c_model_n_vocab(m);
    float *out = xmalloc(sizeof(float) * (size_t)V * (size_t)n);
    int ok = 1;
    for (int p = 0, b = 0; ok && p < n; p += sizes[b++]) {
        const int k = sizes[b] < n - p ? sizes[b] : n - p;
        ok = r1c_eval(c, ids + p, k, 1) == R1C_OK;
        for (int i = 0; ok && i < k; i++) memcpy(out + (size_t)(p + i) * V, r1c_logits(c, i), sizeof(float) * V);
    }
    r1c_ctx_free(c);
    if (!ok) free(out);
    return ok ? out : NULL;
}

static void test_models(void) {
    enum { N = 600 }; /* five tiles of keys; three of DeepSeek prefill's expansion chunks */
    static const int ONE[] = {N}, MIXED[] = {1, 255, 1, 128, 215}, THIRDS[] = {200, 300, 100};
    int ALL1[N], TAIL[12];
    for (int i = 0; i < N; i++) ALL1[i] = 1;
    TAIL[0] = N - 10;
    for (int i = 1; i < 12; i++) TAIL[i] = 1;
    const char *dirs[] = {"tests/data/qwen2_tiny", "tests/data/deepseek_v3/bf16"};
    for (int di = 0; di < 2; di++) {
        r1c_model *m;
        if (r1c_model_load(dirs[di], NULL, &m) != R1C_OK) {
            CHECK(0, "load %s: %s", dirs[di], r1c_last_error());
            continue;
        }
        const int V = r1c_model_n_vocab(m);
        const size_t bytes = sizeof(float) * (size_t)V * N;
        int32_t ids[N];
        uint64_t seed = 0x10de1ull + (uint64_t)di;
        for (int i = 0; i < N; i++) ids[i] = (int32_t)(test_rand(&seed) % (uint64_t)V);
        float *ref = model_run(m, ids, N, 1, ONE);
        CHECK(ref != NULL, "%s: %s", dirs[di], r1c_last_error());
        if (!ref) {
            r1c_model_free(m);
            continue;
        }
        float *x = model_run(m, ids, N, 2, ONE);
        CHECK(x && memcmp(x, ref, bytes) == 0, "%s: one batch of %d, 2 threads: not bit-identical to 1 thread", dirs[di], N);
        free(x);
        x = model_run(m, ids, N, 3, di == 0 ? MIXED : THIRDS);
        CHECK(x && memcmp(x, ref, bytes) == 0, "%s: split batches, 3 threads: not bit-identical to one batch", dirs[di]);
        free(x);
        if (di == 0) { /* dense: decode token by token gives the prefill's bits */
            x = model_run(m, ids, N, 2, ALL1);
            CHECK(x && memcmp(x, ref, bytes) == 0, "%s: decode of %d tokens: not bit-identical to prefill", dirs[di], N);
        } else { /* MLA: the absorbed decode path agrees with the chunked plain prefill */
            x = model_run(m, ids, N, 2, TAIL);
            float d = x ? 0 : INFINITY;
            for (size_t i = (size_t)(N - 10) * V; x && i < (size_t)N * V; i++) d = fmaxf(d, fabsf(x[i] - ref[i]));
            CHECK(d <= 1e-3f, "%s: decode after %d tokens differs from prefill by %.3g", dirs[di], N - 10, d);
        }
        free(x), free(ref);
        r1c_model_free(m);
    }
}

int main(void) {
    fprintf(stderr, "test_attention: kernels %s, tile %d\n", r1c_kernel_isa(), TILE);
    test_accuracy();
    test_ranges();
    test_grouping();
    test_models();
    return test_summary("test_attention");
}
