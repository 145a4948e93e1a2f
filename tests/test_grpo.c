/* test_grpo.c — GRPO's arithmetic (src/train/grpo.h): group-normalised advantages, and the
 * per-token weights = dJ/dlog pi against central differences of the objective J itself, inside
 * and outside the clip band, with and without the KL term; clipped tokens carry no gradient. */
#include <math.h>

#include "test_util.h"
#include "train/grpo.h"

enum { ROWS = 4, T = 16 };

static double urand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static void test_advantages(void) {
    const float r[6] = {1, 0, 0, 1, 1, 0.5f};
    float a[6];
    r1c_grpo_advantages(r, 6, a);
    double mean = 0, var = 0;
    for (int i = 0; i < 6; i++) mean += a[i];
    for (int i = 0; i < 6; i++) var += (a[i] - mean / 6) * (a[i] - mean / 6);
    CHECK(fabs(mean) < 1e-5 && fabs(sqrt(var / 6) - 1) < 1e-3, "advantages: mean %g, std %g", mean / 6, sqrt(var / 6));
    CHECK(a[0] > 0 && a[1] < 0 && a[0] == a[3] && a[1] == a[2], "advantages order");
    const float same[4] = {1, 1, 1, 1};
    r1c_grpo_advantages(same, 4, a);
    CHECK(a[0] == 0 && a[3] == 0, "equal rewards: zero advantages");
}

static void test_weights(float beta) {
    float logp[ROWS * T], old[ROWS * T], ref[ROWS * T], w[ROWS * T], adv[ROWS] = {1.3f, -0.7f, 0.4f, -1.1f};
    int32_t tg[ROWS * T];
    uint64_t s = 99;
    for (int i = 0; i < ROWS * T; i++) {
        logp[i] = (float)(-3.0 * urand(&s));
        old[i] = logp[i] + (float)(1.0 * (urand(&s) - 0.5)); /* ratios from 0.61 to 1.65: both sides of the band */
        ref[i] = logp[i] + (float)(0.8 * (urand(&s) - 0.5));
        tg[i] = i % T < 3 ? -1 : 7; /* each row: a 3-token prompt, then the completion */
    }
    tg[T + 15] = -1; /* a shorter completion */
    const float eps = 0.2f, scale = 0.25f;
    r1c_grpo_stats st = {0};
    r1c_grpo_weights(logp, old, ref, tg, adv, ROWS, T, eps, beta, scale, w, &st);
    int checked = 0, clipped = 0;
    double worst = 0;
    for (int i = 0; i < ROWS * T; i++) {
        if (tg[i] < 0) {
            CHECK(w[i] == 0, "a prompt token has weight %g", w[i]);
            continue;
        }
        const double r = exp((double)logp[i] - old[i]);
        if (fabs(r - (1 + eps)) < 0.02 || fabs(r - (1 - eps)) < 0.02) continue; /* on the kink */
        const double A = adv[i / T];
        if ((A > 0 && r > 1 + eps) || (A < 0 && r < 1 - eps)) {
            clipped++;
            if (beta == 0) CHECK(w[i] == 0, "a clipped token has weight %g", w[i]);
        }
        float wt[ROWS * T];
        const float v0 = logp[i], h = 1e-3f;
        logp[i] = v0 + h;
        const double jp = r1c_grpo_weights(logp, old, ref, tg, adv, ROWS, T, eps, beta, scale, wt, NULL);
        logp[i] = v0 - h;
        const double jm = r1c_grpo_weights(logp, old, ref, tg, adv, ROWS, T, eps, beta, scale, wt, NULL);
        logp[i] = v0;
        const double num = (jp - jm) / (2.0 * h), err = fabs(num - w[i]);
        worst = fmax(worst, err);
        CHECK(err < 1e-4, "beta %g: token %d: weight %.7g, dJ/dlogp %.7g", beta, i, w[i], num);
        checked++;
    }
    CHECK(clipped > 3 && checked > 30, "too few cases: %d checked, %d clipped", checked, clipped);
    CHECK(st.tokens == ROWS * (T - 3) - 1 && st.kl > 0, "stats: %lld tokens, kl %g", (long long)st.tokens, st.kl);
    printf("grpo weights (beta %g): %d tokens against finite differences of J (%d clipped), worst %.2e; KL %.4f, clip %.2f\n",
           beta, checked, clipped, worst, st.kl / st.tokens, st.clip_frac / st.tokens);
}

int main(void) {
    test_advantages();
    test_weights(0.0f);
    test_weights(0.04f);
    return test_summary("test_grpo");
}
