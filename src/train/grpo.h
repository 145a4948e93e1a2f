/* grpo.h — Group Relative Policy Optimisation's arithmetic (DeepSeekMath, section 4.1; the
 * objective DeepSeek-R1 trains R1-Zero with), apart from sampling and the model:
 *
 *   J = 1/G sum_i 1/|o_i| sum_t [ min(r_it A_i, clip(r_it, 1-eps, 1+eps) A_i) - beta D_it ]
 *   r_it = pi(o_it) / pi_old(o_it),   A_i = (R_i - mean R) / std R over the group,
 *   D_it = pi_ref/pi - log(pi_ref/pi) - 1   (the unbiased, always positive "k3" estimate of KL)
 *
 * The model side needs only dJ/dlog pi per token, which is what these functions give as the
 * weights of r1c_trainer_backward_weighted (its loss is -sum w log pi, so w = dJ/dlog pi):
 *   the surrogate: A r where the min takes the unclipped term, 0 where the clip binds
 *     (A > 0 and r > 1+eps, or A < 0 and r < 1-eps);
 *   the KL term: -beta (1 - pi_ref/pi).
 * Every sequence is one row of the batch; its completion's tokens are the row's positions with a
 * target (>= 0). */
#ifndef R1C_TRAIN_GRPO_H
#define R1C_TRAIN_GRPO_H

#include <stdint.h>

/* A_i = (R_i - mean) / (std + 1e-4), std the population standard deviation of the G rewards;
 * a group whose rewards are all equal gets zeros (it carries no signal). */
void r1c_grpo_advantages(const float *rewards, int G, float *adv);

/* sums over completion tokens (divide by tokens for the means) */
typedef struct r1c_grpo_stats {
    double kl;        /* D_it */
    double clip_frac; /* tokens where the clip binds */
    double ratio;     /* r_it */
    int64_t tokens;
} r1c_grpo_stats;

/* Weights w (rows x T) for r1c_trainer_backward_weighted from the policy's log-probabilities now
 * (logp), at sampling time (logp_old) and under the reference (logp_ref; NULL: beta ignored), the
 * rows' advantages adv and targets (< 0: not a completion token). scale multiplies every weight
 * (1/G for one group; 1/(G n) when n groups' gradients are accumulated into one step). Returns
 * the objective J's value for these rows (times scale); stats (may be NULL) are added to. */
double r1c_grpo_weights(const float *logp, const float *logp_old, const float *logp_ref, const int32_t *targets,
                        const float *adv, int rows, int T, float eps, float beta, float scale, float *w,
                        r1c_grpo_stats *stats);

#endif
