/* test_sampler.c — the public sampler (include/r1c.h): defaults, greedy, seeding, the nucleus
 * (top-p), top-k, min-p, the sampled distribution, bad parameters and degenerate logits.
 *
 * Every run uses fixed seeds, so the statistical checks are deterministic: a chi-square bound
 * is either met by this implementation's stream or not, on every run. The bounds are set at
 * a 1e-5 tail probability, so a correct sampler misses one by bad luck only rarely when the
 * seed or the stream changes. */
#include <float.h>
#include <math.h>

#include "r1c.h"
#include "test_util.h"

static r1c_sampler *make(float temperature, int top_k, float top_p, float min_p, uint64_t seed, int n_vocab) {
    r1c_sampler_params p = {.temperature = temperature, .top_k = top_k, .top_p = top_p, .min_p = min_p, .seed = seed};
    r1c_sampler *s = NULL;
    r1c_status st = r1c_sampler_new(&p, n_vocab, &s);
    CHECK(st == R1C_OK && s, "sampler_new(T=%g k=%d p=%g min_p=%g V=%d): %s", temperature, top_k, top_p,
          min_p, n_vocab, r1c_last_error());
    if (!s) exit(1);
    return s;
}

/* lowest id among the largest (NaN never the largest) */
static int argmax_ref(const float *l, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(l[i]) && (best < 0 || l[i] > l[best])) best = i;
    return best < 0 ? 0 : best;
}

/* The 1 - 1e-5 quantile of chi-square with df degrees of freedom (Wilson–Hilferty; within a
 * percent or so for df >= 2, which is plenty for a pass/fail bound). */
static double chi2_bound(int df) {
    const double z = 4.2649; /* standard normal 1 - 1e-5 quantile */
    double a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

/* Draws n samples and compares their counts with probs[] (zero-probability tokens must
 * never appear). Returns the number of distinct tokens seen. */
static int check_distribution(const char *what, r1c_sampler *s, const float *logits, const double *probs,
                              int V, int n) {
    long *count = calloc((size_t)V, sizeof(long));
    for (int i = 0; i < n; i++) {
        int32_t id = r1c_sampler_sample(s, logits);
        if (id >= 0 && id < V) count[id]++;
        else CHECK(0, "%s: sampled id %d out of range", what, id);
    }
    double chi2 = 0;
    int df = -1, seen = 0, impossible = 0;
    for (int i = 0; i < V; i++) {
        seen += count[i] > 0;
        if (probs[i] == 0) {
            impossible += count[i] > 0;
            continue;
        }
        double e = probs[i] * n;
        chi2 += (count[i] - e) * (count[i] - e) / e;
        df++;
    }
    CHECK(impossible == 0, "%s: %d tokens of probability 0 were sampled", what, impossible);
    if (df > 0)
        CHECK(chi2 <= chi2_bound(df), "%s: chi-square %.2f > %.2f (df %d, n %d)", what, chi2, chi2_bound(df), df, n);
    free(count);
    return seen;
}

/* softmax(logits / T) in double, restricted to keep[] (NULL: all), renormalised */
static void softmax_ref(const float *logits, int V, double T, const int *keep, double *p) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++)
        if ((!keep || keep[i]) && logits[i] / T > mx) mx = logits[i] / T;
    for (int i = 0; i < V; i++) {
        p[i] = (!keep || keep[i]) ? exp(logits[i] / T - mx) : 0;
        sum += p[i];
    }
    for (int i = 0; i < V; i++) p[i] /= sum;
}

/* ---------------------------------------------------------------------------- */

static void test_defaults(void) {
    r1c_sampler_params p = r1c_sampler_default_params();
    CHECK(p.temperature == 0.6f, "default temperature %g, DeepSeek advises 0.6", p.temperature);
    CHECK(p.top_p == 0.95f, "default top_p %g, DeepSeek advises 0.95", p.top_p);
    CHECK(p.top_k == 0 && p.min_p == 0.0f, "default top_k %d min_p %g: should be off", p.top_k, p.min_p);
    CHECK(p.seed == 0, "default seed %llu", (unsigned long long)p.seed);
    /* NULL params means those defaults: same stream as passing them explicitly */
    r1c_sampler *a = NULL, *b = make(p.temperature, p.top_k, p.top_p, p.min_p, p.seed, 50);
    CHECK(r1c_sampler_new(NULL, 50, &a) == R1C_OK && a, "sampler_new(NULL): %s", r1c_last_error());
    if (a) {
        float logits[50];
        uint64_t seed = 99;
        for (int i = 0; i < 50; i++) logits[i] = test_randf(&seed) * 3;
        int same = 1;
        for (int i = 0; i < 200; i++) same &= r1c_sampler_sample(a, logits) == r1c_sampler_sample(b, logits);
        CHECK(same, "sampler_new(NULL) differs from the default params");
    }
    r1c_sampler_free(a);
    r1c_sampler_free(b);
    r1c_sampler_free(NULL); /* allowed, like every *_free */
}

static void test_greedy(void) {
    enum { V = 1000 };
    static float logits[V];
    uint64_t seed = 0x600d5eedull;
    r1c_sampler *t0 = make(0.0f, 0, 1.0f, 0.0f, 1, V), *k1 = make(1.0f, 1, 1.0f, 0.0f, 2, V);
    r1c_sampler *k1b = make(0.6f, 1, 0.95f, 0.1f, 3, V);
    int bad = 0;
    for (int round = 0; round < 200; round++) {
        /* small integers: the maximum is shared by several ids, lowest must win */
        for (int i = 0; i < V; i++) logits[i] = (float)(test_rand(&seed) % 16) - 8.0f;
        if (round % 2) /* and some NaNs, which never win */
            for (int i = 0; i < 20; i++) logits[test_rand(&seed) % V] = NAN;
        if (round % 5 == 0) logits[0] = NAN; /* NaN first: the comparison must not stick to it */
        int want = argmax_ref(logits, V);
        bad += r1c_sampler_sample(t0, logits) != want;
        bad += r1c_sampler_sample(k1, logits) != want;
        bad += r1c_sampler_sample(k1b, logits) != want;
    }
    CHECK(bad == 0, "greedy (temperature 0 / top_k 1): %d of 600 picks are not the lowest-id argmax", bad);
    r1c_sampler_free(t0), r1c_sampler_free(k1), r1c_sampler_free(k1b);
}

static void test_seeding(void) {
    enum { V = 64, N = 1000 };
    float logits[V];
    uint64_t seed = 7;
    for (int i = 0; i < V; i++) logits[i] = test_randf(&seed);
    r1c_sampler *a = make(1.0f, 0, 1.0f, 0.0f, 42, V), *b = make(1.0f, 0, 1.0f, 0.0f, 42, V);
    r1c_sampler *c = make(1.0f, 0, 1.0f, 0.0f, 43, V);
    int same_ab = 1, diff_ac = 0;
    for (int i = 0; i < N; i++) {
        int32_t x = r1c_sampler_sample(a, logits), y = r1c_sampler_sample(b, logits), z = r1c_sampler_sample(c, logits);
        same_ab &= x == y;
        diff_ac += x != z;
    }
    CHECK(same_ab, "seed 42 twice gives different sequences");
    /* near-uniform over 64 tokens: two independent streams agree ~1/64 of the time */
    CHECK(diff_ac > N / 2, "seeds 42 and 43 give nearly the same sequence (%d of %d differ)", diff_ac, N);
    r1c_sampler_free(a), r1c_sampler_free(b), r1c_sampler_free(c);
}

/* logits whose softmax is probs[0..n) exactly (in real numbers); the rest -inf */
static void logits_from_probs(float *logits, int V, const double *probs, int n) {
    for (int i = 0; i < V; i++) logits[i] = i < n ? (float)log(probs[i]) : -INFINITY;
}

static void counts(r1c_sampler *s, const float *logits, int V, int n, long *cnt) {
    memset(cnt, 0, sizeof(long) * (size_t)V);
    for (int i = 0; i < n; i++) {
        int32_t id = r1c_sampler_sample(s, logits);
        if (id >= 0 && id < V) cnt[id]++;
    }
}

static void test_top_p(void) {
    enum { V = 64, N = 10000 };
    static float logits[V];
    static long cnt[V];
    static double probs[V];

    /* Cumulative 0.5, 0.805, 0.95, 1: top_p 0.8 is reached by {0, 1}; 0.81 needs {0, 1, 2}.
     * (The boundaries sit 0.005 away from the thresholds, so float rounding cannot decide.) */
    const double pr[4] = {0.5, 0.305, 0.145, 0.05};
    logits_from_probs(logits, V, pr, 4);
    static const struct {
        float top_p;
        int n_kept;
    } cases[] = {{0.3f, 1}, {0.5f, 1}, {0.8f, 2}, {0.81f, 3}, {0.95f, 3}, {0.96f, 4}, {1.0f, 4}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        r1c_sampler *s = make(1.0f, 0, cases[ci].top_p, 0.0f, 100 + ci, V);
        counts(s, logits, V, N, cnt);
        int outside = 0, missing = 0;
        for (int i = 0; i < V; i++) {
            if (i < cases[ci].n_kept) missing += cnt[i] == 0;
            else outside += cnt[i] != 0;
        }
        CHECK(outside == 0 && missing == 0, "top_p %g: want exactly tokens 0..%d, got counts %ld %ld %ld %ld",
              cases[ci].top_p, cases[ci].n_kept - 1, cnt[0], cnt[1], cnt[2], cnt[3]);
        r1c_sampler_free(s);
    }
    /* The kept tokens are drawn in proportion to their renormalised probabilities. */
    {
        int keep[V] = {1, 1, 1};
        softmax_ref(logits, V, 1.0, keep, probs);
        r1c_sampler *s = make(1.0f, 0, 0.81f, 0.0f, 5, V);
        check_distribution("top_p 0.81 renormalised", s, logits, probs, V, 30000);
        r1c_sampler_free(s);
    }

    /* 0.5, 0.3, 0.15, 0.05: the set {0, 1} has exactly 0.8. Just below and above. (At
     * top_p = 0.8f itself the outcome is rounding: 0.8f is 0.800000012 > 0.8.) */
    const double pr2[4] = {0.5, 0.3, 0.15, 0.05};
    logits_from_probs(logits, V, pr2, 4);
    static const struct {
        float top_p;
        int n_kept;
    } cases2[] = {{0.799f, 2}, {0.801f, 3}, {0.81f, 3}, {1.0f, 4}};
    for (size_t ci = 0; ci < 4; ci++) {
        r1c_sampler *s = make(1.0f, 0, cases2[ci].top_p, 0.0f, 200 + ci, V);
        counts(s, logits, V, N, cnt);
        int outside = 0, missing = 0;
        for (int i = 0; i < V; i++) {
            if (i < cases2[ci].n_kept) missing += cnt[i] == 0;
            else outside += cnt[i] != 0;
        }
        CHECK(outside == 0 && missing == 0, "0.5/0.3/0.15/0.05, top_p %g: want tokens 0..%d, got %ld %ld %ld %ld",
              cases2[ci].top_p, cases2[ci].n_kept - 1, cnt[0], cnt[1], cnt[2], cnt[3]);
        r1c_sampler_free(s);
    }
}

/* Rank order of the sampler's contract: higher probability first, then lower id. */
typedef struct ranked {
    float p;
    int id;
} ranked;

static int cmp_ranked(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->p != b->p) return a->p > b->p ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Brute force: sort the whole vocabulary and walk it. The probabilities are computed the way
 * the sampler documents (exp of z - zmax in float, z = logit * (1/T); the sums in double over
 * the vocabulary in id order), so that the nucleus is the same set, not one that differs at
 * the boundary by a rounding. in[i] = 1 for the ids inside. Returns its size. */
static int nucleus(const float *logits, int V, float T, float top_p, unsigned char *in) {
    ranked *r = xmalloc(sizeof(ranked) * (size_t)V);
    const float inv_t = 1.0f / T;
    float zmax = -INFINITY;
    for (int i = 0; i < V; i++)
        if (logits[i] * inv_t > zmax) zmax = logits[i] * inv_t;
    double total = 0;
    for (int i = 0; i < V; i++) {
        r[i].p = expf(logits[i] * inv_t - zmax);
        r[i].id = i;
        total += r[i].p;
    }
    qsort(r, (size_t)V, sizeof *r, cmp_ranked);
    double cum = 0, target = (double)top_p * total;
    int n = 0;
    while (n < V && cum < target) cum += r[n++].p;
    memset(in, 0, (size_t)V);
    for (int i = 0; i < n; i++) in[r[i].id] = 1;
    free(r);
    return n;
}

/* standard normal (Box–Muller), for logits shaped like a language model's */
static double randn(uint64_t *s) {
    double u1 = ((double)(test_rand(s) >> 11) + 0.5) * 0x1.0p-53, u2 = (double)(test_rand(s) >> 11) * 0x1.0p-53;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static void test_top_p_large_vocab(void) {
    enum { V = 151936, DRAWS = 30 };
    float *logits = xmalloc(sizeof(float) * V);
    unsigned char *in = xmalloc(V);
    uint64_t seed = 0xb16b00b5ull;
    /* Small nuclei (the cut falls between head tokens of several percent each, so keeping one
     * token too many or too few shows up within a few draws) and large ones (the cut falls
     * deep in the tail, past the first rounds of the sampler's partial sort). */
    static const struct {
        float T, top_p;
    } cfg[] = {{1.0f, 0.5f}, {0.6f, 0.95f}, {1.0f, 0.9f}, {1.0f, 0.95f}};
    for (int round = 0; round < 2; round++)
        for (size_t c = 0; c < 4; c++) {
            /* a tail of normal logits (sd 2) and a head of 8 tokens around 14, at random ids;
             * round 1 rounds every logit to an integer, so the ranking leans on the id order */
            for (int i = 0; i < V; i++) logits[i] = (float)(2.0 * randn(&seed));
            for (int h = 0; h < 8; h++) logits[test_rand(&seed) % V] = 14.0f + test_randf(&seed);
            if (round)
                for (int i = 0; i < V; i++) logits[i] = roundf(logits[i]);
            const int n_in = nucleus(logits, V, cfg[c].T, cfg[c].top_p, in);
            r1c_sampler *s = make(cfg[c].T, 0, cfg[c].top_p, 0.0f, 1000 + c, V);
            int outside = 0;
            for (int i = 0; i < DRAWS; i++) {
                int32_t id = r1c_sampler_sample(s, logits);
                outside += id < 0 || id >= V || !in[id];
            }
            CHECK(outside == 0, "V=%d T=%g top_p=%g%s: %d of %d samples outside the nucleus of %d tokens", V,
                  cfg[c].T, cfg[c].top_p, round ? " (ties)" : "", outside, DRAWS, n_in);
            r1c_sampler_free(s);
        }
    free(logits), free(in);
}

static void test_top_k(void) {
    enum { V = 500, N = 30000 };
    static float logits[V];
    static double probs[V];
    uint64_t seed = 0x70b4ull;
    for (int i = 0; i < V; i++) logits[i] = test_randf(&seed) * 2.0f;
    /* the three best, by a plain scan */
    int best[3] = {-1, -1, -1}, keep[V] = {0};
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < V; i++)
            if (i != best[0] && i != best[1] && (best[b] < 0 || logits[i] > logits[best[b]])) best[b] = i;
        keep[best[b]] = 1;
    }
    softmax_ref(logits, V, 1.0, keep, probs);
    r1c_sampler *s = make(1.0f, 3, 1.0f, 0.0f, 11, V);
    int seen = check_distribution("top_k 3", s, logits, probs, V, N);
    CHECK(seen == 3, "top_k 3: %d distinct tokens seen", seen);
    r1c_sampler_free(s);
    /* Many logit vectors and k's: every draw is among the k best (ranked by logit, then id;
     * small integer logits make ties that the id must break). */
    int outside = 0;
    static const int KS[] = {1, 2, 3, 10, 50};
    for (int ki = 0; ki < 5; ki++) {
        r1c_sampler *sk = make(1.0f, KS[ki], 1.0f, 0.0f, 13 + ki, V);
        for (int round = 0; round < 60; round++) {
            for (int i = 0; i < V; i++)
                logits[i] = round % 2 ? test_randf(&seed) * 4.0f : (float)(test_rand(&seed) % 9);
            for (int d = 0; d < 10; d++) {
                int32_t id = r1c_sampler_sample(sk, logits);
                int better = 0; /* tokens ranked before id */
                for (int i = 0; i < V; i++) better += logits[i] > logits[id] || (logits[i] == logits[id] && i < id);
                outside += better >= KS[ki];
            }
        }
        r1c_sampler_free(sk);
    }
    CHECK(outside == 0, "top_k: %d of 3000 draws outside the k best", outside);

    /* top_k larger than the vocabulary is the same as off */
    softmax_ref(logits, 8, 1.0, NULL, probs);
    s = make(1.0f, 100, 1.0f, 0.0f, 12, 8);
    check_distribution("top_k 100 over 8 tokens", s, logits, probs, 8, N);
    r1c_sampler_free(s);
}

static void test_min_p(void) {
    enum { V = 200, N = 40000 };
    static float logits[V];
    static double probs[V], pr[V];
    /* ratios to the best: 1, 0.667, 0.333, 0.233 kept; 0.193, 0.183 and the tail dropped */
    const double head[6] = {0.30, 0.20, 0.10, 0.07, 0.058, 0.055};
    double rest = 1;
    for (int i = 0; i < 6; i++) pr[i] = head[i], rest -= head[i];
    for (int i = 6; i < V; i++) pr[i] = rest / (V - 6);
    logits_from_probs(logits, V, pr, V);
    int keep[V] = {1, 1, 1, 1};
    softmax_ref(logits, V, 1.0, keep, probs);
    r1c_sampler *s = make(1.0f, 0, 1.0f, 0.2f, 21, V);
    int seen = check_distribution("min_p 0.2", s, logits, probs, V, N);
    CHECK(seen == 4, "min_p 0.2: %d distinct tokens seen, want 4", seen);
    r1c_sampler_free(s);
}

static void test_distribution(void) {
    enum { V = 24, N = 200000 };
    float logits[V];
    double probs[V];
    uint64_t seed = 0xd15742b0ull;
    for (int i = 0; i < V; i++) logits[i] = test_randf(&seed) * 2.5f;
    static const float TS[] = {1.0f, 0.5f};
    for (int ti = 0; ti < 2; ti++) {
        softmax_ref(logits, V, TS[ti], NULL, probs);
        r1c_sampler *s = make(TS[ti], 0, 1.0f, 0.0f, 31 + ti, V);
        char what[64];
        snprintf(what, sizeof what, "softmax at temperature %g", TS[ti]);
        int seen = check_distribution(what, s, logits, probs, V, N);
        CHECK(seen == V, "%s: only %d of %d tokens seen", what, seen, V);
        r1c_sampler_free(s);
    }
}

static void test_bad_params(void) {
    static const struct {
        r1c_sampler_params p;
        int n_vocab;
        const char *word;
    } bad[] = {
        {{.temperature = -0.1f, .top_p = 1}, 10, "temperature"},
        {{.temperature = NAN, .top_p = 1}, 10, "temperature"},
        {{.temperature = INFINITY, .top_p = 1}, 10, "temperature"},
        {{.temperature = 1, .top_p = 0}, 10, "top_p"},
        {{.temperature = 1, .top_p = -0.5f}, 10, "top_p"},
        {{.temperature = 1, .top_p = 1.01f}, 10, "top_p"},
        {{.temperature = 1, .top_p = NAN}, 10, "top_p"},
        {{.temperature = 1, .top_p = 1, .min_p = 1.5f}, 10, "min_p"},
        {{.temperature = 1, .top_p = 1, .min_p = -0.1f}, 10, "min_p"},
        {{.temperature = 1, .top_p = 1, .top_k = -1}, 10, "top_k"},
        {{.temperature = 1, .top_p = 1}, 0, "vocabulary"},
        {{.temperature = 1, .top_p = 1}, -3, "vocabulary"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r1c_sampler *s = (r1c_sampler *)&s; /* not NULL: a failure must set it to NULL */
        r1c_status st = r1c_sampler_new(&bad[i].p, bad[i].n_vocab, &s);
        CHECK(st == R1C_ERR_INVALID_ARG, "case %zu (%s): status %d", i, bad[i].word, (int)st);
        CHECK(s == NULL, "case %zu (%s): out not cleared on failure", i, bad[i].word);
        CHECK(contains(r1c_last_error(), bad[i].word), "case %zu: message '%s' does not name %s", i,
              r1c_last_error(), bad[i].word);
        if (st == R1C_OK) r1c_sampler_free(s);
    }
    /* the edges that are allowed */
    r1c_sampler_params ok[] = {{.temperature = 0, .top_p = 1}, {.temperature = 1, .top_p = 1e-6f},
                               {.temperature = 1, .top_p = 1, .min_p = 1}, {.temperature = 2, .top_p = 1, .top_k = 1}};
    for (size_t i = 0; i < 4; i++) {
        r1c_sampler *s = NULL;
        CHECK(r1c_sampler_new(&ok[i], 1, &s) == R1C_OK, "allowed case %zu rejected: %s", i, r1c_last_error());
        if (s) {
            float l = 0.5f;
            CHECK(r1c_sampler_sample(s, &l) == 0, "one-token vocabulary must give token 0");
        }
        r1c_sampler_free(s);
    }
}

static void test_degenerate_logits(void) {
    enum { V = 300 };
    static float logits[V];
    uint64_t seed = 0xdead10ccull;
    static const struct {
        float T, top_p, min_p;
        int top_k;
    } cfg[] = {{0, 1, 0, 0},     {1, 1, 0, 0},     {0.6f, 0.95f, 0, 0}, {1, 0.5f, 0, 0},
               {1, 1, 0.3f, 0},  {1, 1, 0, 5},     {2, 0.9f, 0.05f, 40}, {1e-3f, 1, 0, 0}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        r1c_sampler *s = make(cfg[c].T, cfg[c].top_k, cfg[c].top_p, cfg[c].min_p, 50 + c, V);
        /* half NaN: a NaN id is never drawn */
        int nan_drawn = 0;
        for (int round = 0; round < 200; round++) {
            for (int i = 0; i < V; i++) logits[i] = (test_rand(&seed) & 1) ? NAN : test_randf(&seed);
            logits[round % V] = NAN;
            int32_t id = r1c_sampler_sample(s, logits);
            nan_drawn += id < 0 || id >= V || isnan(logits[id]);
        }
        CHECK(nan_drawn == 0, "config %zu: %d of 200 draws picked a NaN logit", c, nan_drawn);
        /* all -inf (or NaN) but one: that one, wherever it is */
        int wrong = 0;
        for (int round = 0; round < 50; round++) {
            int only = (int)(test_rand(&seed) % V);
            for (int i = 0; i < V; i++) logits[i] = (i % 7 == 3) ? NAN : -INFINITY;
            logits[only] = test_randf(&seed) * 100.0f;
            for (int rep = 0; rep < 5; rep++) wrong += r1c_sampler_sample(s, logits) != only;
        }
        CHECK(wrong == 0, "config %zu: %d of 250 draws missed the only finite logit", c, wrong);
        /* A +inf logit is certain (the limit of a logit growing without bound); with several,
         * the lowest id. exp(inf - inf) is NaN, so this needs handling of its own. */
        for (int i = 0; i < V; i++) logits[i] = test_randf(&seed);
        logits[77] = INFINITY;
        logits[200] = INFINITY;
        wrong = 0;
        for (int rep = 0; rep < 20; rep++) wrong += r1c_sampler_sample(s, logits) != 77;
        CHECK(wrong == 0, "config %zu: %d of 20 draws with +inf logits at 77 and 200 did not pick 77", c, wrong);
        r1c_sampler_free(s);
    }
    /* A temperature so small that logit / T overflows float: the limit is greedy. */
    float l[4] = {1.0f, 2.0f, 3.0f, 2.5f};
    r1c_sampler *s = make(1e-40f, 0, 1.0f, 0.0f, 9, 4);
    int wrong = 0;
    for (int rep = 0; rep < 20; rep++) wrong += r1c_sampler_sample(s, l) != 2;
    CHECK(wrong == 0, "temperature 1e-40: %d of 20 draws are not the argmax", wrong);
    r1c_sampler_free(s);
}

int main(void) {
    test_defaults();
    test_greedy();
    test_seeding();
    test_top_p();
    test_top_p_large_vocab();
    test_top_k();
    test_min_p();
    test_distribution();
    test_bad_params();
    test_degenerate_logits();
    return test_summary("test_sampler");
}
