/* test_ops.c — the forward-pass building blocks of src/tensor/ops.h against double-precision
 * references: RMSNorm (Hugging Face semantics), rotary embeddings in both layouts, SiLU·up,
 * and one-query softmax attention.
 *
 * Tolerances are derived from float32 rounding (eps = 2^-23), not tuned to pass. */
#include <float.h>
#include <math.h>

#include "r1c.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/vexp.h"
#include "test_util.h"

/* ----------------------------------------------------------------- rmsnorm */

static void test_rmsnorm(void) {
    static const int64_t NS[] = {1, 3, 17, 255, 1001, 1537, 4097};
    static const float EPS[] = {1e-6f, 1e-5f};
    uint64_t seed = 0x0123456789abcdefull;
    for (int ni = 0; ni < 7; ni++)
        for (int ei = 0; ei < 2; ei++)
            for (int scale = 0; scale < 3; scale++) {
                const int64_t n = NS[ni];
                /* x around 1, small (eps matters) and large */
                const float xs = scale == 0 ? 1.0f : scale == 1 ? 1e-3f : 300.0f;
                float *x = xmalloc(sizeof(float) * (size_t)n), *w = xmalloc(sizeof(float) * (size_t)n);
                float *out = xmalloc(sizeof(float) * (size_t)n);
                for (int64_t i = 0; i < n; i++) x[i] = test_randf(&seed) * xs, w[i] = 1.0f + test_randf(&seed);
                r1c_rmsnorm(out, x, w, n, EPS[ei]);
                double ss = 0;
                for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
                const double inv = 1.0 / sqrt(ss / (double)n + EPS[ei]);
                double worst = 0;
                for (int64_t i = 0; i < n; i++) {
                    double ref = (double)x[i] * inv * w[i];
                    double rel = fabs(out[i] - ref) / fabs(ref);
                    if (ref != 0 && rel > worst) worst = rel;
                }
                /* The sum of squares has at most (ceil(n/16)+4) roundings of positive terms;
                 * the square root halves that relative error, and mean, +eps, sqrt, divide and
                 * the two products add a few more: 1e-6 covers n up to ~4k with room. */
                CHECK(worst <= 1e-6, "rmsnorm n=%lld eps=%g scale=%g: worst relative error %.3g",
                      (long long)n, EPS[ei], xs, worst);
                /* in place (out == x), as the forward pass may call it */
                float *y = xmalloc(sizeof(float) * (size_t)n);
                memcpy(y, x, sizeof(float) * (size_t)n);
                r1c_rmsnorm(y, y, w, n, EPS[ei]);
                CHECK(memcmp(y, out, sizeof(float) * (size_t)n) == 0, "rmsnorm n=%lld in place differs",
                      (long long)n);
                free(x), free(w), free(out), free(y);
            }
    /* all zeros: eps keeps it finite (0 out, not NaN) */
    float z[5] = {0}, w1[5] = {1, 1, 1, 1, 1}, o[5];
    r1c_rmsnorm(o, z, w1, 5, 1e-6f);
    for (int i = 0; i < 5; i++) CHECK(o[i] == 0.0f, "rmsnorm of zeros: out[%d] = %g", i, o[i]);
}

/* -------------------------------------------------------------------- rope */

/* cos/sin for one position, standard RoPE frequencies theta^(-2j/d) */
static void rope_table(int head_dim, int pos, double theta, float *cs, float *sn) {
    for (int j = 0; j < head_dim / 2; j++) {
        double ang = pos * pow(theta, -2.0 * j / head_dim);
        cs[j] = (float)cos(ang);
        sn[j] = (float)sin(ang);
    }
}

/* x_i0' = x_i0 cos - x_i1 sin, x_i1' = x_i1 cos + x_i0 sin, written out per layout */
static void rope_ref(const float *x, double *out, int n_heads, int d, const float *cs, const float *sn,
                     int interleaved) {
    for (int h = 0; h < n_heads; h++) {
        const float *v = x + h * d;
        double *o = out + h * d;
        for (int j = 0; j < d / 2; j++) {
            int i0, i1;
            if (interleaved) i0 = 2 * j, i1 = 2 * j + 1;
            else i0 = j, i1 = j + d / 2;
            o[i0] = (double)v[i0] * cs[j] - (double)v[i1] * sn[j];
            o[i1] = (double)v[i1] * cs[j] + (double)v[i0] * sn[j];
        }
    }
}

static void test_rope(void) {
    static const int HEADS[] = {1, 2, 5};
    static const int DIMS[] = {2, 8, 64, 128};
    static const int POS[] = {0, 1, 7, 1000, 32767};
    uint64_t seed = 0x7777777712345ull;
    for (int hi = 0; hi < 3; hi++)
        for (int di = 0; di < 4; di++)
            for (int pi = 0; pi < 5; pi++) {
                const int nh = HEADS[hi], d = DIMS[di], pos = POS[pi], n = nh * d, half = d / 2;
                float *cs = xmalloc(sizeof(float) * (size_t)half), *sn = xmalloc(sizeof(float) * (size_t)half);
                rope_table(d, pos, 10000.0, cs, sn);
                float *x = xmalloc(sizeof(float) * (size_t)n), *y = xmalloc(sizeof(float) * (size_t)n);
                double *ref = xmalloc(sizeof(double) * (size_t)n);
                for (int i = 0; i < n; i++) x[i] = test_randf(&seed) * 4.0f;

                for (int il = 0; il < 2; il++) {
                    memcpy(y, x, sizeof(float) * (size_t)n);
                    r1c_rope(y, nh, d, cs, sn, il);
                    rope_ref(x, ref, nh, d, cs, sn, il);
                    int bad = 0, bad_norm = 0;
                    for (int h = 0; h < nh; h++)
                        for (int j = 0; j < half; j++) {
                            int i0 = h * d + (il ? 2 * j : j), i1 = h * d + (il ? 2 * j + 1 : j + half);
                            /* two rounded products and a rounded sum */
                            double tol = 2 * FLT_EPSILON * (fabs(x[i0]) + fabs(x[i1]));
                            bad += fabs(y[i0] - ref[i0]) > tol || fabs(y[i1] - ref[i1]) > tol;
                            /* a rotation keeps each pair's norm (up to cos^2+sin^2 of the
                             * rounded table, 1 +- 2 eps, and the rounding above) */
                            double n0 = (double)x[i0] * x[i0] + (double)x[i1] * x[i1];
                            double n1 = (double)y[i0] * y[i0] + (double)y[i1] * y[i1];
                            bad_norm += fabs(n1 - n0) > 8 * FLT_EPSILON * n0;
                        }
                    CHECK(bad == 0, "rope %s heads=%d d=%d pos=%d: %d pairs off the reference",
                          il ? "interleaved" : "rotate-half", nh, d, pos, bad);
                    CHECK(bad_norm == 0, "rope %s heads=%d d=%d pos=%d: %d pairs changed norm",
                          il ? "interleaved" : "rotate-half", nh, d, pos, bad_norm);
                    if (pos == 0)
                        CHECK(memcmp(y, x, sizeof(float) * (size_t)n) == 0,
                              "rope %s d=%d at position 0 is not the identity", il ? "interleaved" : "rotate-half", d);
                }

                /* The layouts are one permutation apart: with P sending j -> 2j and
                 * j + d/2 -> 2j + 1 (per head), interleaved(P x) == P rotate_half(x). This is
                 * the relation llama.cpp relies on when it permutes the q/k rows of Hugging
                 * Face checkpoints for its GGUF files. Same float operations on the same pairs,
                 * so the agreement is exact. */
                float *px = xmalloc(sizeof(float) * (size_t)n), *prh = xmalloc(sizeof(float) * (size_t)n);
                memcpy(y, x, sizeof(float) * (size_t)n);
                r1c_rope(y, nh, d, cs, sn, 0);
                for (int h = 0; h < nh; h++)
                    for (int j = 0; j < half; j++) {
                        px[h * d + 2 * j] = x[h * d + j];
                        px[h * d + 2 * j + 1] = x[h * d + j + half];
                        prh[h * d + 2 * j] = y[h * d + j];
                        prh[h * d + 2 * j + 1] = y[h * d + j + half];
                    }
                r1c_rope(px, nh, d, cs, sn, 1);
                CHECK(memcmp(px, prh, sizeof(float) * (size_t)n) == 0,
                      "heads=%d d=%d pos=%d: interleaved(P x) != P rotate_half(x)", nh, d, pos);
                free(px), free(prh), free(cs), free(sn), free(x), free(y), free(ref);
            }
}

/* ---------------------------------------------------------------- silu_mul */

static void test_silu_mul(void) {
    enum { N = 1001 };
    static float g[N], u[N], out[N];
    uint64_t seed = 0x5151515151ull;
    for (int i = 0; i < N; i++) g[i] = test_randf(&seed) * 20.0f, u[i] = test_randf(&seed) * 3.0f;
    /* the far tails, where exp(-g) overflows float or silu(g) == g */
    static const float edges[] = {0.0f, -0.0f, 88.0f, -88.0f, 89.0f, -89.0f, 100.0f, -100.0f, 1e-20f, -1e-20f};
    for (int i = 0; i < 10; i++) g[i] = edges[i], u[i] = 1.5f;
    memcpy(out, g, sizeof out);
    r1c_silu_mul(NULL, out, u, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double ref = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        /* exp, +1, divide, multiply: a few ulps relative; where exp(-g) overflows float the
         * result flushes to a (signed) zero that is smaller than FLT_MIN * 1e3 anyway */
        double tol = 8 * FLT_EPSILON * fabs(ref) + 1e-35;
        if (!(fabs(out[i] - ref) <= tol)) {
            bad++;
            fprintf(stderr, "silu_mul: g=%g u=%g: %.9g vs %.9g\n", g[i], u[i], out[i], ref);
        }
    }
    CHECK(bad == 0, "silu_mul: %d of %d off the reference", bad, N);
}

/* r1c_exp (vexp.h): under 1 ulp of double exp on a sample of every float in range, the stated
 * results outside it; each table's exp_minus and silu_mul give the portable bits, lane and tail. */
static void test_exp(void) {
    double worst = 0;
    long n = 0;
    for (float x = R1C_EXP_LO; x <= R1C_EXP_HI; x = nextafterf(x + fabsf(x) * 0x1p-12f, INFINITY), n++) {
        const double r = exp((double)x), ulp = ldexp(1.0, ilogb(r) - 23), e = fabs((double)r1c_exp(x) - r) / ulp;
        if (e > worst) worst = e;
    }
    printf("r1c_exp: max error %.3f ulp over %ld sampled floats\n", worst, n);
    CHECK(worst < 1.0, "r1c_exp: %.3f ulp", worst);
    CHECK(r1c_exp(89.0f) == INFINITY && r1c_exp(INFINITY) == INFINITY && r1c_exp(-88.0f) == 0.0f && r1c_exp(-INFINITY) == 0.0f &&
              isnan(r1c_exp(NAN)) && r1c_exp(0.0f) == 1.0f && r1c_exp(-0.0f) == 1.0f,
          "r1c_exp outside the range");
    static const char *isas[] = {"generic", "avx2", "avx512", "avx512vbmi", "neon", "neon_dotprod"};
    enum { N = 1000 };
    static float x[N], u[N], ref[N], got[N], gu[N];
    uint64_t seed = 0xe4e4;
    for (int i = 0; i < N; i++) x[i] = test_randf(&seed) * 120.0f, u[i] = test_randf(&seed) * 3.0f;
    static const float edges[] = {0.0f, -0.0f, 88.37f, 88.38f, -87.33f, -87.34f, INFINITY, -INFINITY, 1e-30f, -1e-30f, 1e30f, -1e30f};
    for (int i = 0; i < 12; i++) x[3 * i] = edges[i];
    int tables = 0;
    for (size_t t = 0; t < sizeof isas / sizeof *isas; t++) {
        const r1c_kernels *K = r1c_kernels_by_name(isas[t]);
        if (!K || !K->exp_minus || !K->silu_mul) continue;
        tables++;
        for (int len = 1; len <= N; len = len < 40 ? len + 1 : len * 3) {
            const float m = len % 3 ? 0.0f : 1.5f;
            for (int i = 0; i < len; i++) ref[i] = r1c_exp(x[i] - m), got[i] = x[i];
            K->exp_minus(got, m, len);
            CHECK(!memcmp(got, ref, sizeof(float) * (size_t)len), "%s exp_minus n=%d differs from r1c_exp", isas[t], len);
            for (int i = 0; i < len; i++) ref[i] = r1c_silu_mul1(x[i], u[i]), gu[i] = x[i];
            K->silu_mul(gu, u, len);
            CHECK(!memcmp(gu, ref, sizeof(float) * (size_t)len), "%s silu_mul n=%d differs from r1c_silu_mul1", isas[t], len);
        }
    }
    printf("exp_minus / silu_mul: %d kernel tables bit-equal to the portable code\n", tables);
}

/* ------------------------------------------------------------------ attend */

static void attend_ref(const float *q, const float *k, const float *v, int64_t stride, int nk, int d,
                       float scale, double *out) {
    double *s = xmalloc(sizeof(double) * (size_t)nk), mx = -INFINITY, sum = 0;
    for (int j = 0; j < nk; j++) {
        double dot = 0;
        for (int i = 0; i < d; i++) dot += (double)q[i] * k[j * stride + i];
        s[j] = dot * scale;
        if (s[j] > mx) mx = s[j];
    }
    for (int j = 0; j < nk; j++) sum += s[j] = exp(s[j] - mx);
    for (int i = 0; i < d; i++) {
        double o = 0;
        for (int j = 0; j < nk; j++) o += s[j] / sum * v[j * stride + i];
        out[i] = o;
    }
    free(s);
}

/* Bound on |r1c - reference| for element i: the scores carry an absolute error of at most
 * ds = (ceil(d/16)+4) eps scale sum|q k| (the canonical dot's bound), which moves each
 * softmax weight by a factor within exp(+-2 ds); the weighted sum of values then adds about
 * (n_keys + 4) eps of relative rounding on sum p |v|. */
static double attend_tol(const float *q, const float *k, const float *v, int64_t stride, int nk, int d,
                         float scale, const double *ref_p, int i) {
    double ds = 0, pv = 0;
    for (int j = 0; j < nk; j++) {
        double mag = 0;
        for (int t = 0; t < d; t++) mag += fabs((double)q[t] * k[j * stride + t]);
        double e = ((d + 15) / 16 + 4) * FLT_EPSILON * scale * mag;
        if (e > ds) ds = e;
        pv += ref_p[j] * fabs(v[j * stride + i]);
    }
    return pv * (expm1(4 * ds) + (nk + 8) * FLT_EPSILON) + 1e-30;
}

static void softmax_ref(const float *q, const float *k, int64_t stride, int nk, int d, float scale, double *p) {
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < nk; j++) {
        double dot = 0;
        for (int i = 0; i < d; i++) dot += (double)q[i] * k[j * stride + i];
        p[j] = dot * scale;
        if (p[j] > mx) mx = p[j];
    }
    for (int j = 0; j < nk; j++) sum += p[j] = exp(p[j] - mx);
    for (int j = 0; j < nk; j++) p[j] /= sum;
}

static void check_attend(const char *what, const float *q, const float *k, const float *v, int64_t stride,
                         int nk, int d, float scale) {
    float *scores = xmalloc(sizeof(float) * r1c_attention_scratch_floats(d, 0)); /* exactly as documented */
    float *out = xmalloc(sizeof(float) * (size_t)d);
    double *ref = xmalloc(sizeof(double) * (size_t)d), *p = xmalloc(sizeof(double) * (size_t)nk);
    r1c_attend(q, k, v, stride, nk, d, scale, scores, out);
    attend_ref(q, k, v, stride, nk, d, scale, ref);
    softmax_ref(q, k, stride, nk, d, scale, p);
    int bad = 0, nonfinite = 0;
    double worst = 0;
    for (int i = 0; i < d; i++) {
        nonfinite += !isfinite(out[i]);
        double err = fabs(out[i] - ref[i]), tol = attend_tol(q, k, v, stride, nk, d, scale, p, i);
        if (!(err <= tol)) bad++;
        if (err / tol > worst) worst = err / tol;
    }
    CHECK(nonfinite == 0, "attend %s n_keys=%d d=%d: %d non-finite outputs", what, nk, d, nonfinite);
    CHECK(bad == 0, "attend %s n_keys=%d d=%d: %d elements off the reference (worst err/tol %.3g)", what,
          nk, d, bad, worst);
    free(scores), free(out), free(ref), free(p);
}

static void test_attend(void) {
    static const int NK[] = {1, 2, 17, 300};
    static const int HD[] = {16, 64, 128};
    uint64_t seed = 0xa77e4d00ull;
    for (int ni = 0; ni < 4; ni++)
        for (int di = 0; di < 3; di++) {
            const int nk = NK[ni], d = HD[di];
            /* rows of a KV cache holding two heads, plus some: stride > head_dim */
            const int64_t stride = 2 * d + 3;
            const size_t cache = (size_t)((nk - 1) * stride + d);
            float *k = xmalloc(sizeof(float) * cache), *v = xmalloc(sizeof(float) * cache);
            float *q = xmalloc(sizeof(float) * (size_t)d);
            for (size_t i = 0; i < cache; i++) k[i] = test_randf(&seed), v[i] = test_randf(&seed);
            for (int i = 0; i < d; i++) q[i] = test_randf(&seed) * 2.0f;
            const float scale = 1.0f / sqrtf((float)d);
            check_attend("plain", q, k, v, stride, nk, d, scale);

            /* Scores in the thousands: exp() of them overflows float unless the maximum is
             * subtracted first. */
            float *qb = xmalloc(sizeof(float) * (size_t)d);
            for (int i = 0; i < d; i++) qb[i] = q[i] * 3000.0f;
            check_attend("large", qb, k, v, stride, nk, d, scale);

            /* Scores about 200 (exp overflows float past 88.7) that still differ by a few
             * units, so the softmax is not one-hot: keys = c + 0.1 r_j, q along c. */
            float *ko = xmalloc(sizeof(float) * cache), *qo = xmalloc(sizeof(float) * (size_t)d);
            double cc = 0;
            for (int i = 0; i < d; i++) cc += (double)k[i] * k[i];
            for (int i = 0; i < d; i++) qo[i] = (float)(k[i] * 200.0 / (scale * cc));
            for (int j = 0; j < nk; j++)
                for (int i = 0; i < d; i++) ko[j * stride + i] = k[i] + 0.1f * test_randf(&seed);
            check_attend("offset-200", qo, ko, v, stride, nk, d, scale);
            free(ko), free(qo);

            /* All scores equal and huge (every key the same): the weights must be uniform,
             * out = mean of the values. */
            float *kk = xmalloc(sizeof(float) * cache);
            for (int j = 0; j < nk; j++)
                for (int i = 0; i < d; i++) kk[j * stride + i] = k[i];
            check_attend("equal-large", qb, kk, v, stride, nk, d, scale);
            /* hugely negative too: the maximum is about -1e4 and must become exp(0) */
            for (int i = 0; i < d; i++) qb[i] = -qb[i];
            check_attend("equal-negative", qb, kk, v, stride, nk, d, scale);
            free(k), free(v), free(q), free(qb), free(kk);
        }
}

int main(void) {
    fprintf(stderr, "test_ops: kernels %s\n", r1c_kernel_isa());
    test_rmsnorm();
    test_rope();
    test_silu_mul();
    test_exp();
    test_attend();
    return test_summary("test_ops");
}
