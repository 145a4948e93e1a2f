/* generate.c — prompt, then sample / evaluate one token at a time until EOS or the limit. */
#include <time.h>

#include "../base/error.h"
#include "ctx.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

r1c_status r1c_generate(r1c_ctx *c, r1c_sampler *s, const int32_t *prompt, int n_prompt,
                        int max_new, r1c_token_cb cb, void *user, r1c_gen_stats *stats) {
    r1c_gen_stats local;
    if (!stats) stats = &local;
    *stats = (r1c_gen_stats){0};
    if (!c || !s || max_new < 0 || n_prompt < 0)
        return r1c_error(R1C_ERR_INVALID_ARG, "r1c_generate: bad arguments");
    if (n_prompt == 0 && !r1c_logits(c, -1))
        return r1c_error(R1C_ERR_INVALID_ARG, "r1c_generate: empty prompt and nothing evaluated yet");
    double t0 = now();
    if (n_prompt > 0) {
        r1c_status st = r1c_eval(c, prompt, n_prompt, 0);
        if (st != R1C_OK) return st;
    }
    double t1 = now();
    stats->n_prompt = n_prompt;
    stats->prompt_seconds = t1 - t0;
    for (int i = 0; i < max_new; i++) {
        int32_t tok = r1c_sampler_sample(s, r1c_logits(c, -1));
        stats->n_gen++;
        int stop = cb ? cb(tok, user) : 0;
        if (r1c_model_is_eos(c->m, tok)) {
            stats->stopped_by_eos = 1;
            break;
        }
        if (stop || i + 1 == max_new) break;
        if (c->n_past >= c->n_ctx) {
            stats->stopped_by_context = 1;
            break;
        }
        r1c_status st = r1c_eval(c, &tok, 1, 0);
        if (st != R1C_OK) return st;
    }
    stats->gen_seconds = now() - t1;
    return R1C_OK;
}
