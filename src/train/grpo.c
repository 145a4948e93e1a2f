/* grpo.c — GRPO's advantages and per-token weights (see grpo.h for the objective). */
#include "train/grpo.h"

#include <math.h>

void r1c_grpo_advantages(const float *rewards, int G, float *adv) {
    double mean = 0, var = 0;
    for (int i = 0; i < G; i++) mean += rewards[i];
    mean /= G > 0 ? G : 1;
    for (int i = 0; i < G; i++) var += ((double)rewards[i] - mean) * ((double)rewards[i] - mean);
    const double sd = sqrt(var / (G > 0 ? G : 1));
    for (int i = 0; i < G; i++) adv[i] = sd > 0 ? (float)(((double)rewards[i] - mean) / (sd + 1e-4)) : 0.0f;
}

double r1c_grpo_weights(const float *logp, const float *logp_old, const float *logp_ref, const int32_t *targets,
                        const float *adv, int rows, int T, float eps, float beta, float scale, float *w,
                        r1c_grpo_stats *stats) {
    double J = 0;
    for (int b = 0; b < rows; b++) {
        const int64_t o = (int64_t)b * T;
        int n = 0;
        for (int t = 0; t < T; t++) n += targets[o + t] >= 0;
        const double A = adv[b], per = n ? (double)scale / n : 0; /* 1/|o_i|, times the caller's scale */
        double Jrow = 0;
        for (int t = 0; t < T; t++) {
            const int64_t i = o + t;
            if (targets[i] < 0) {
                w[i] = 0;
                continue;
            }
            const double r = exp((double)logp[i] - (double)logp_old[i]);
            const double lo = 1.0 - eps, hi = 1.0 + eps, rc = r < lo ? lo : r > hi ? hi : r;
            /* min(r A, clip(r) A): the clipped term wins (and has no gradient) exactly when the
             * ratio is outside the band on the side the advantage pushes towards */
            const int clipped = (A > 0 && r > hi) || (A < 0 && r < lo);
            const double surr = clipped ? rc * A : r * A;
            double g = clipped ? 0.0 : r * A, kl = 0;
            if (logp_ref && beta > 0) {
                const double q = exp((double)logp_ref[i] - (double)logp[i]); /* pi_ref / pi */
                kl = q - log(q) - 1.0;
                g -= beta * (1.0 - q); /* d/dlog pi of -beta (q - log q - 1): q = e^(ref - log pi) */
            } else if (logp_ref) {
                const double q = exp((double)logp_ref[i] - (double)logp[i]);
                kl = q - log(q) - 1.0;
            }
            Jrow += surr - (double)beta * kl;
            w[i] = (float)(g * per);
            if (stats) stats->kl += kl, stats->clip_frac += clipped, stats->ratio += r, stats->tokens++;
        }
        J += Jrow * per;
    }
    return J;
}
