/* sampler.c — temperature, top-k, top-p (nucleus), min-p, seeded.
 *
 * Order, as Hugging Face applies its warpers: logits / temperature -> top-k -> softmax ->
 * top-p -> min-p -> renormalise -> draw. Candidates are ranked by probability, then by lower
 * id, a strict order, so the kept set never depends on how the sort breaks ties. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../base/rng.h"
#include "r1c.h"

typedef struct cand {
    float p; /* unnormalised probability exp(z - zmax), later normalised */
    int32_t id;
} cand;

struct r1c_sampler {
    r1c_sampler_params p;
    int n_vocab;
    uint64_t s[4]; /* xoshiro256** state */
    cand *c;
};


/* uniform in [0, 1) with 53 random bits */
static double next_unit(r1c_sampler *s) { return r1c_xoshiro_unit(s->s); }

r1c_sampler_params r1c_sampler_default_params(void) {
    r1c_sampler_params p = {.temperature = 0.6f, .top_k = 0, .top_p = 0.95f, .min_p = 0.0f, .seed = 0};
    return p;
}

r1c_status r1c_sampler_new(const r1c_sampler_params *params, int n_vocab, r1c_sampler **out) {
    *out = NULL;
    r1c_sampler_params p = params ? *params : r1c_sampler_default_params();
    if (n_vocab <= 0) return r1c_error(R1C_ERR_INVALID_ARG, "sampler: vocabulary size %d", n_vocab);
    if (!(p.temperature >= 0) || !isfinite(p.temperature))
        return r1c_error(R1C_ERR_INVALID_ARG, "sampler: temperature must be >= 0");
    if (!(p.top_p > 0 && p.top_p <= 1))
        return r1c_error(R1C_ERR_INVALID_ARG, "sampler: top_p must be in (0, 1]");
    if (!(p.min_p >= 0 && p.min_p <= 1))
        return r1c_error(R1C_ERR_INVALID_ARG, "sampler: min_p must be in [0, 1]");
    if (p.top_k < 0) return r1c_error(R1C_ERR_INVALID_ARG, "sampler: top_k must be >= 0");
    r1c_sampler *s = calloc(1, sizeof *s);
    if (!s || !(s->c = malloc(sizeof(cand) * (size_t)n_vocab))) {
        free(s);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    s->p = p;
    s->n_vocab = n_vocab;
    uint64_t x = p.seed;
    for (int i = 0; i < 4; i++) s->s[i] = r1c_splitmix64(&x);
    *out = s;
    return R1C_OK;
}

void r1c_sampler_free(r1c_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s);
}

/* a before b in rank: higher probability, then lower id */
static int before(const cand *a, const cand *b) { return a->p > b->p || (a->p == b->p && a->id < b->id); }

static int cmp_rank(const void *x, const void *y) {
    const cand *a = x, *b = y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Moves the n best of c[0..len) to the front (unordered): quickselect. */
static void select_top(cand *c, int len, int n) {
    int lo = 0, hi = len - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2; /* median of three as pivot */
        if (before(&c[hi], &c[lo])) swap(&c[hi], &c[lo]);
        if (before(&c[mid], &c[lo])) swap(&c[mid], &c[lo]);
        if (before(&c[hi], &c[mid])) swap(&c[hi], &c[mid]);
        cand pivot = c[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (before(&c[i], &pivot)) i++;
            while (before(&pivot, &c[j])) j--;
            if (i <= j) swap(&c[i++], &c[j--]);
        }
        if (n - 1 <= j) hi = j;
        else if (n - 1 >= i) lo = i;
        else break;
    }
}

static int32_t argmax(const float *logits, int n) {
    int32_t best = 0;
    float bv = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > bv) bv = logits[i], best = i; /* NaN never wins */
    return best;
}

int32_t r1c_sampler_sample(r1c_sampler *s, const float *logits) {
    const r1c_sampler_params *p = &s->p;
    const int V = s->n_vocab;
    if (p->temperature <= 0 || p->top_k == 1) return argmax(logits, V);
    cand *c = s->c;
    const float inv_t = 1.0f / p->temperature;
    float zmax = -INFINITY;
    for (int i = 0; i < V; i++) {
        float z = logits[i] * inv_t;
        c[i].p = isnan(z) ? -INFINITY : z;
        c[i].id = i;
        if (c[i].p > zmax) zmax = c[i].p;
    }
    if (isinf(zmax)) return argmax(logits, V); /* all -inf/NaN, or +inf (exp(inf-inf) = NaN): greedy */
    int n = V;
    if (p->top_k > 0 && p->top_k < n) {
        select_top(c, n, p->top_k); /* ranking by z equals ranking by probability */
        n = p->top_k;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf(c[i].p - zmax);
        total += c[i].p;
    }
    /* Rank only as many as needed: the best 64, then 4x more, until the nucleus is inside. */
    int kept = n;
    if (p->top_p < 1.0f) {
        const double target = (double)p->top_p * total;
        for (int m = n < 64 ? n : 64;; m = m > n / 4 ? n : m * 4) {
            select_top(c, n, m);
            qsort(c, (size_t)m, sizeof *c, cmp_rank);
            double cum = 0;
            int cut = 0;
            for (int i = 0; i < m && !cut; i++)
                if ((cum += c[i].p) >= target) cut = i + 1;
            if (cut || m == n) {
                kept = cut ? cut : n; /* rounding can leave the sum a hair short: keep all */
                break;
            }
        }
    }
    if (p->min_p > 0) { /* the best has p = exp(0) = 1 before normalising */
        int j = 0;
        for (int i = 0; i < kept; i++)
            if (c[i].p >= p->min_p) c[j++] = c[i];
        kept = j; /* never 0: the best token passes */
    }
    double sum = 0;
    for (int i = 0; i < kept; i++) sum += c[i].p;
    double u = next_unit(s) * sum, acc = 0;
    for (int i = 0; i < kept; i++) {
        acc += c[i].p;
        if (u < acc) return c[i].id;
    }
    return c[kept - 1].id;
}
