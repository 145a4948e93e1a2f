/* test_grad.c — every training op's backward against central finite differences of its own
 * forward. Each op's output y is reduced to a scalar L = sum_i r_i y_i with fixed random r, so
 * dL/dy = r is what the backward gets; every input and parameter element x is then nudged by
 * +-h and (L(x+h) - L(x-h)) / 2h compared with the analytic gradient. With h = 1e-2 on O(1)
 * values, the difference's truncation error is O(h^2) and its float rounding O(eps_f32 |L| / h)
 * ~ 1e-5 |L|: the bound below, 2e-3 relative to the gradient's scale, has room for both and
 * none for a wrong term (a missing factor or sign moves errors to O(1)). */
#include <math.h>

#include "test_util.h"
#include "train/grad_ops.h"

static uint64_t g_seed = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* [-1, 1) */
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_seed >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}
static float *rnd(int64_t n, double scale) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(urand() * scale);
    return p;
}
static float *zeros(int64_t n) { return calloc((size_t)(n ? n : 1), sizeof(float)); }

static r1c_exec g_ex;
static float *g_scr[2];

/* a forward under test: reads the inputs it was set up with, writes y */
typedef void (*fwd_fn)(void *ctx, float *y);

static double dotr(const float *y, const float *r, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* compares grad (analytic, for the n elements of x) with finite differences of L */
static void check_grad(const char *what, fwd_fn f, void *ctx, float *x, int64_t n, const float *grad, const float *r,
                       int64_t ny) {
    float *y = malloc(sizeof(float) * (size_t)ny);
    const float h = 1e-2f;
    double scale = 1e-3, worst = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(grad[i]));
    int64_t at = -1;
    double num_at = 0;
    for (int64_t i = 0; i < n; i++) {
        const float x0 = x[i];
        x[i] = x0 + h;
        f(ctx, y);
        const double lp = dotr(y, r, ny);
        x[i] = x0 - h;
        f(ctx, y);
        const double lm = dotr(y, r, ny);
        x[i] = x0;
        const double num = (lp - lm) / (2.0 * h), err = fabs(num - grad[i]) / scale;
        if (err > worst) worst = err, at = i, num_at = num;
    }
    CHECK(worst < 2e-3, "%s: worst relative error %.2e at %lld (analytic %.6g, numeric %.6g)", what, worst, (long long)at,
          at >= 0 ? grad[at] : 0.0, num_at);
    if (getenv("R1C_TEST_VERBOSE")) printf("  %-28s %lld elements, worst %.2e\n", what, (long long)n, worst);
    free(y);
}

/* ------------------------------------------------------------------ RMSNorm */

typedef struct {
    float *x, *w, *rstd;
    int T;
    int64_t D;
} rms_ctx;
static void rms_f(void *c, float *y) {
    rms_ctx *k = c;
    tg_rmsnorm_fwd(&g_ex, k->x, k->w, 1e-5f, k->T, k->D, y, k->rstd);
}
static void test_rmsnorm(void) {
    const int T = 5;
    const int64_t D = 37;
    rms_ctx k = {rnd(T * D, 1.5), rnd(D, 1.0), zeros(T), T, D};
    float *r = rnd(T * D, 1.0), *y = zeros(T * D), *dx = zeros(T * D), *dw = zeros(D);
    rms_f(&k, y);
    tg_rmsnorm_bwd(&g_ex, r, k.x, k.w, k.rstd, T, D, dx, dw);
    check_grad("rmsnorm dx", rms_f, &k, k.x, T * D, dx, r, T * D);
    check_grad("rmsnorm dw", rms_f, &k, k.w, D, dw, r, T * D);
    free(k.x), free(k.w), free(k.rstd), free(r), free(y), free(dx), free(dw);
}

/* ------------------------------------------------------------------ linear */

typedef struct {
    float *x, *W, *b;
    int T;
    int64_t in, out;
} lin_ctx;
static void lin_f(void *c, float *y) {
    lin_ctx *k = c;
    tg_linear_fwd(&g_ex, k->x, k->W, k->b, k->T, k->in, k->out, y);
}
static void test_linear(int T, int64_t in, int64_t out, int bias) {
    lin_ctx k = {rnd((int64_t)T * in, 1.0), rnd(out * in, 0.5), bias ? rnd(out, 0.5) : NULL, T, in, out};
    float *r = rnd((int64_t)T * out, 1.0), *y = zeros((int64_t)T * out);
    float *dx = zeros((int64_t)T * in), *dW = zeros(out * in), *db = zeros(out), *work = zeros((int64_t)tg_linear_work_floats(T, in, out));
    /* gradients add: start from a known value and take it back off */
    for (int64_t i = 0; i < out * in; i++) dW[i] = 0.25f;
    lin_f(&k, y);
    tg_linear_bwd(&g_ex, r, k.x, k.W, T, in, out, dx, dW, bias ? db : NULL, work);
    for (int64_t i = 0; i < out * in; i++) dW[i] -= 0.25f;
    char name[64];
    snprintf(name, sizeof name, "linear %dx%lldx%lld dx", T, (long long)in, (long long)out);
    check_grad(name, lin_f, &k, k.x, (int64_t)T * in, dx, r, (int64_t)T * out);
    snprintf(name, sizeof name, "linear %dx%lldx%lld dW", T, (long long)in, (long long)out);
    check_grad(name, lin_f, &k, k.W, out * in, dW, r, (int64_t)T * out);
    if (bias) check_grad("linear db", lin_f, &k, k.b, out, db, r, (int64_t)T * out);
    free(k.x), free(k.W), free(k.b), free(r), free(y), free(dx), free(dW), free(db), free(work);
}

/* ------------------------------------------------------------------ RoPE */

typedef struct {
    float *x, *inv;
    int32_t *pos;
    int T, H, hd, inter;
    float ms;
} rope_ctx;
static void rope_f(void *c, float *y) {
    rope_ctx *k = c;
    memcpy(y, k->x, sizeof(float) * (size_t)(k->T * k->H * k->hd));
    tg_rope_fwd(y, k->T, k->H, k->hd, (int64_t)k->H * k->hd, k->pos, k->inv, k->ms, k->inter);
}
static void test_rope(int inter) {
    const int T = 4, H = 3, hd = 8;
    float inv[4] = {1.0f, 0.3f, 0.05f, 0.01f};
    int32_t pos[4] = {0, 7, 3, 100};
    rope_ctx k = {rnd(T * H * hd, 1.0), inv, pos, T, H, hd, inter, 1.2f};
    float *r = rnd(T * H * hd, 1.0), *g = malloc(sizeof(float) * (size_t)(T * H * hd));
    memcpy(g, r, sizeof(float) * (size_t)(T * H * hd));
    tg_rope_bwd(g, T, H, hd, (int64_t)H * hd, pos, inv, 1.2f, inter);
    check_grad(inter ? "rope interleaved" : "rope rotate-half", rope_f, &k, k.x, T * H * hd, g, r, T * H * hd);
    free(k.x), free(r), free(g);
}

/* ------------------------------------------------------------------ attention */

typedef struct {
    tg_attn_shape s;
    float *q, *k, *v, *P;
} att_ctx;
static void att_f(void *c, float *y) {
    att_ctx *a = c;
    CHECK(tg_attention_fwd(&a->s, a->q, a->k, a->v, a->P, y, NULL) == R1C_OK, "attention: %s", r1c_last_error());
}
static void test_attention(void) {
    att_ctx a = {.s = {.B = 2, .T = 5, .H = 4, .KVH = 2, .dk = 6, .dv = 3, .scale = 0.4f, .ex = &g_ex}};
    const tg_attn_shape *s = &a.s;
    const int64_t nq = (int64_t)s->B * s->T * s->H * s->dk, nk = (int64_t)s->B * s->T * s->KVH * s->dk;
    const int64_t nv = (int64_t)s->B * s->T * s->KVH * s->dv, no = (int64_t)s->B * s->T * s->H * s->dv;
    a.q = rnd(nq, 1.0), a.k = rnd(nk, 1.0), a.v = rnd(nv, 1.0), a.P = zeros((int64_t)s->B * s->H * s->T * s->T);
    float *r = rnd(no, 1.0), *y = zeros(no), *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nv);
    att_f(&a, y);
    CHECK(tg_attention_bwd(s, r, a.q, a.k, a.v, a.P, dq, dk, dv, NULL) == R1C_OK, "attention: %s", r1c_last_error());
    check_grad("attention dq", att_f, &a, a.q, nq, dq, r, no);
    check_grad("attention dk (GQA)", att_f, &a, a.k, nk, dk, r, no);
    check_grad("attention dv (GQA)", att_f, &a, a.v, nv, dv, r, no);
    /* causal: a later token's key does not reach an earlier query */
    float *y2 = zeros(no);
    a.k[(int64_t)(4 * s->KVH) * s->dk] += 1.0f; /* sequence 0, token 4 */
    att_f(&a, y2);
    int same = 1;
    for (int64_t i = 0; i < (int64_t)4 * s->H * s->dv; i++) same &= y[i] == y2[i];
    CHECK(same, "attention: token 4's key changed earlier tokens' outputs");
    free(a.q), free(a.k), free(a.v), free(a.P), free(r), free(y), free(y2), free(dq), free(dk), free(dv);
}

/* ------------------------------------------------------------------ SwiGLU, cross-entropy */

typedef struct {
    float *g, *u;
    int64_t n;
} sw_ctx;
static void sw_f(void *c, float *y) {
    sw_ctx *k = c;
    tg_swiglu_fwd(&g_ex, k->g, k->u, k->n, y);
}
static void test_swiglu(void) {
    sw_ctx k = {rnd(50, 3.0), rnd(50, 1.0), 50};
    float *r = rnd(50, 1.0), *dg = zeros(50), *du = zeros(50);
    tg_swiglu_bwd(&g_ex, r, k.g, k.u, 50, dg, du);
    check_grad("swiglu dg", sw_f, &k, k.g, 50, dg, r, 50);
    check_grad("swiglu du", sw_f, &k, k.u, 50, du, r, 50);
    free(k.g), free(k.u), free(r), free(dg), free(du);
}

typedef struct {
    float *l;
    int32_t *y;
    int T;
    int64_t V;
} ce_ctx;
static void ce_f(void *c, float *out) {
    ce_ctx *k = c;
    out[0] = (float)tg_cross_entropy(&g_ex, k->l, k->y, k->T, k->V, 1.0f, NULL, NULL);
}
static void test_cross_entropy(void) {
    int32_t y[4] = {3, -1, 0, 10};
    ce_ctx k = {rnd(4 * 11, 3.0), y, 4, 11};
    float one = 1.0f, *d = zeros(44);
    int n = 0;
    const double loss = tg_cross_entropy(&g_ex, k.l, y, 4, 11, 1.0f, d, &n);
    CHECK(n == 3, "cross-entropy counted %d rows, want 3 (one ignored)", n);
    int zero = 1;
    for (int i = 11; i < 22; i++) zero &= d[i] == 0.0f;
    CHECK(zero, "cross-entropy: an ignored row has a gradient");
    /* against a direct double computation */
    double ref = 0;
    for (int t = 0; t < 4; t++) {
        if (y[t] < 0) continue;
        double s = 0;
        for (int i = 0; i < 11; i++) s += exp((double)k.l[t * 11 + i]);
        ref += log(s) - k.l[t * 11 + y[t]];
    }
    CHECK(fabs(loss - ref / 3) < 1e-6, "cross-entropy %.9f vs %.9f", loss, ref / 3);
    check_grad("cross-entropy", ce_f, &k, k.l, 44, d, &one, 1);
    free(k.l), free(d);
}

static void test_embed(void) {
    float *E = rnd(7 * 5, 1.0), *dy = rnd(4 * 5, 1.0), *dE = zeros(35), *y = zeros(20);
    int32_t ids[4] = {2, 6, 2, 0};
    tg_embed_fwd(E, ids, 4, 5, y);
    CHECK(!memcmp(y + 5, E + 30, 20), "embedding row");
    tg_embed_bwd(dy, ids, 4, 5, dE);
    CHECK(dE[2 * 5 + 1] == dy[1] + dy[2 * 5 + 1] && dE[6 * 5] == dy[5] && dE[5] == 0.0f, "embedding gradient sums repeated ids");
    free(E), free(dy), free(dE), free(y);
}

int main(void) {
    g_ex.n_threads = 2;
    g_ex.scratch_floats = r1c_exec_scratch_floats(64, 0);
    for (int i = 0; i < 2; i++) g_scr[i] = aligned_alloc(64, (sizeof(float) * g_ex.scratch_floats + 63) / 64 * 64);
    g_ex.scratch = g_scr;
    test_embed();
    test_rmsnorm();
    test_linear(3, 5, 7, 1);
    test_linear(19, 40, 33, 0); /* past one 16-lane block and one 8-token tile */
    test_rope(0);
    test_rope(1);
    test_attention();
    test_swiglu();
    test_cross_entropy();
    free(g_scr[0]), free(g_scr[1]);
    return test_summary("test_grad");
}
