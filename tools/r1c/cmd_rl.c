/* cmd_rl.c — `r1c rl --config grpo.json`: GRPO with rule-based rewards (DeepSeek-R1-Zero's recipe,
 * at the scale of the synthetic tasks).
 *
 * grpo.json:
 *   {"policy": DIR                 the model to train (a checkpoint `r1c run` loads),
 *    "reference": DIR              the frozen reference of the KL term (default: the policy's start),
 *    "task": "arithmetic" | "countdown", "levels": "1-4"   training problems (the generator's train split),
 *    "template": "zero" | "raw" | "chat"                    the prompt (see `r1c eval`),
 *    "group_size": 8, "prompts_per_step": 4, "steps": 100, "max_tokens": 200,
 *    "temperature": 1.0, "top_p": 1.0                       sampling of the rollouts,
 *    "epsilon": 0.2, "beta": 0.04, "updates": 2             clip range, KL weight, policy updates per batch,
 *    "reward_accuracy": 1.0, "reward_format": 0.2           the rules' weights,
 *    "lr": 1e-5, "warmup": 0, "weight_decay": 0, "clip": 1.0, "compute": "f32" | "bf16",
 *    "seed": 1, "threads": 0, "out": DIR, "save_every": 0}
 *
 * Each step: the policy's weights go to an inference model (written to OUT/policy and loaded, so
 * rollouts use r1c's own sampler and KV cache); every prompt gets G completions; rewards
 * accuracy * right + format * R1-format; advantages normalised within each group; the old and
 * the reference log-probabilities by the trainer's forward; then `updates` AdamW steps on the
 * clipped surrogate minus beta x KL (k3), the prompts' gradients accumulated into each step
 * (src/train/grpo.h). Logged per step (rl_log.csv, rl.svg): reward, accuracy, format, KL, clip
 * fraction, mean completion length. The trained policy is a checkpoint in OUT. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "io/hf_config.h"
#include "io/json.h"
#include "train/grpo.h"
#include "train/plot.h"
#include "train/synth.h"
#include "train/trainer.h"

static const char *C = "rl";
static const char *USAGE = "usage: r1c rl --config grpo.json [--steps N]\n"
                           "  GRPO with rule-based rewards (accuracy, format); the config's fields are listed in\n"
                           "  tools/r1c/cmd_rl.c. Writes the trained policy, rl_log.csv and rl.svg to its \"out\".\n";

typedef struct {
    char policy[2048], reference[2048], out[2048], task[32], levels[32], tmpl[16];
    int G, P, steps, max_tokens, updates, threads, save_every, bf16;
    double temp, top_p, eps, beta, w_acc, w_fmt, lr, warmup, wd, clip;
    uint64_t seed;
} rl_cfg;

static int getnum(const cJSON *o, const char *k, double def, double lo, double hi, double *out, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) return *out = def, 1;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return cli_fail(C, "%s: \"%s\" must be a number in [%g, %g]", path, k, lo, hi), 0;
    return *out = v->valuedouble, 1;
}

static int getstr(const cJSON *o, const char *k, const char *def, char *out, size_t n, const char *base, int is_path,
                  const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v && def) return snprintf(out, n, "%s", def), 1;
    if (!cJSON_IsString(v) || !v->valuestring[0]) return cli_fail(C, "%s: \"%s\" must be a non-empty string", path, k), 0;
    if (is_path && v->valuestring[0] != '/' && base[0]) snprintf(out, n, "%s/%s", base, v->valuestring);
    else snprintf(out, n, "%s", v->valuestring);
    return 1;
}

static int load_cfg(const char *path, rl_cfg *c) {
    memset(c, 0, sizeof *c);
    char base[2048] = "";
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(base, sizeof base, "%.*s", (int)(slash - path), path);
    size_t len;
    char *text = cli_read_file(path, &len);
    if (!text) return cli_fail(C, "%s: cannot read", path), 0;
    cJSON *o = r1c_json_parse(text, len);
    free(text);
    if (!cJSON_IsObject(o)) return cJSON_Delete(o), cli_fail(C, "%s: not a JSON object", path), 0;
    double v[20];
    int ok = getstr(o, "policy", NULL, c->policy, sizeof c->policy, base, 1, path) &&
             getstr(o, "out", NULL, c->out, sizeof c->out, base, 1, path) &&
             getstr(o, "task", "arithmetic", c->task, sizeof c->task, base, 0, path) &&
             getstr(o, "levels", "1-8", c->levels, sizeof c->levels, base, 0, path) &&
             getstr(o, "template", "zero", c->tmpl, sizeof c->tmpl, base, 0, path);
    if (ok) ok = getstr(o, "reference", c->policy, c->reference, sizeof c->reference, base, 1, path);
    char compute[16] = "";
    ok = ok && getstr(o, "compute", "f32", compute, sizeof compute, base, 0, path) &&
         getnum(o, "group_size", 8, 2, 1024, &v[0], path) && getnum(o, "prompts_per_step", 4, 1, 4096, &v[1], path) &&
         getnum(o, "steps", 100, 1, 1e8, &v[2], path) && getnum(o, "max_tokens", 200, 1, 8192, &v[3], path) &&
         getnum(o, "temperature", 1.0, 0, 10, &v[4], path) && getnum(o, "top_p", 1.0, 0, 1, &v[5], path) &&
         getnum(o, "epsilon", 0.2, 0, 10, &v[6], path) && getnum(o, "beta", 0.04, 0, 100, &v[7], path) &&
         getnum(o, "updates", 2, 1, 100, &v[8], path) && getnum(o, "reward_accuracy", 1.0, -100, 100, &v[9], path) &&
         getnum(o, "reward_format", 0.2, -100, 100, &v[10], path) && getnum(o, "lr", 1e-5, 0, 1, &v[11], path) &&
         getnum(o, "warmup", 0, 0, 1e8, &v[12], path) && getnum(o, "weight_decay", 0, 0, 10, &v[13], path) &&
         getnum(o, "clip", 1.0, 0, 1e9, &v[14], path) && getnum(o, "seed", 1, 0, 9007199254740991.0, &v[15], path) &&
         getnum(o, "threads", 0, 0, 512, &v[16], path) && getnum(o, "save_every", 0, 0, 1e8, &v[17], path);
    cJSON_Delete(o);
    if (!ok) return 0;
    if (strcmp(c->task, "arithmetic") && strcmp(c->task, "countdown"))
        return cli_fail(C, "%s: \"task\" must be \"arithmetic\" or \"countdown\"", path), 0;
    if (strcmp(c->tmpl, "zero") && strcmp(c->tmpl, "raw") && strcmp(c->tmpl, "chat"))
        return cli_fail(C, "%s: \"template\" must be \"zero\", \"raw\" or \"chat\"", path), 0;
    if (strcmp(compute, "f32") && strcmp(compute, "bf16")) return cli_fail(C, "%s: \"compute\" must be \"f32\" or \"bf16\"", path), 0;
    c->G = (int)v[0], c->P = (int)v[1], c->steps = (int)v[2], c->max_tokens = (int)v[3], c->temp = v[4], c->top_p = v[5];
    c->eps = v[6], c->beta = v[7], c->updates = (int)v[8], c->w_acc = v[9], c->w_fmt = v[10], c->lr = v[11];
    c->warmup = v[12], c->wd = v[13], c->clip = v[14], c->seed = (uint64_t)v[15], c->threads = (int)v[16];
    c->save_every = (int)v[17], c->bf16 = !strcmp(compute, "bf16");
    return 1;
}

static int parse_levels(const char *s, int *lo, int *hi) {
    int used = 0;
    if (sscanf(s, "%d-%d%n", lo, hi, &used) == 2 && !s[used]) return *lo >= 1 && *hi <= 8 && *lo <= *hi;
    if (sscanf(s, "%d%n", lo, &used) == 1 && !s[used]) return *hi = *lo, *lo >= 1 && *lo <= 8;
    return 0;
}

/* the policy as a model directory (weights + the policy's tokenizer files) */
static int save_model(r1c_trainer *m, const char *dir, const char *tok_dir) {
    if (r1c_trainer_save(m, dir) != R1C_OK) return cli_fail(C, "%s", r1c_last_error()), 0;
    static const char *F[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/%s", tok_dir, F[i]);
        snprintf(b, sizeof b, "%s/%s", dir, F[i]);
        if (access(a, R_OK) == 0 && !cli_copy_file(a, b)) return cli_fail(C, "%s: cannot write", b), 0;
    }
    return 1;
}

/* One prompt's rollouts as trainer rows: row g = prompt + completion g (cut at T), targets on the
 * completion's tokens only. */
typedef struct {
    int32_t *in, *tg; /* G x T */
    float *adv, *old, *ref;
} group;

int cmd_rl(int argc, char **argv) {
    const char *cfg_path = NULL;
    long steps_override = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(USAGE, stdout), 0;
        if (!(v = cli_value(C, argc, argv, &i, "--config --steps"))) return 2;
        if (!strcmp(a, "--config")) cfg_path = v;
        else if (!cli_int(C, a, v, 1, 100000000, &steps_override)) return 2;
    }
    if (!cfg_path) return cli_fail(C, "--config FILE is required"), fputs(USAGE, stderr), 2;
    rl_cfg rc;
    if (!load_cfg(cfg_path, &rc)) return 1;
    if (steps_override) rc.steps = (int)steps_override;
    int lo, hi;
    if (!parse_levels(rc.levels, &lo, &hi)) return cli_fail(C, "%s: \"levels\": '%s' (like 1-4; levels 1..8)", cfg_path, rc.levels), 1;

    int status = 1;
    r1c_trainer *pol = NULL, *ref = NULL;
    r1c_tokenizer *tok = NULL;
    group *gr = NULL;
    float *logp = NULL, *w = NULL, *rewards = NULL, *lastl = NULL;
    double *xs = NULL, *ys[4] = {NULL, NULL, NULL, NULL};
    FILE *csv = NULL;
    r1c_hf_config mc;
    if (r1c_hf_config_load(rc.policy, &mc) != R1C_OK || r1c_tokenizer_load(rc.policy, &tok) != R1C_OK) {
        cli_fail(C, "policy: %s", r1c_last_error());
        goto done;
    }
    /* the rows: the longest prompt (measured below) + max_tokens */
    const int T = rc.max_tokens + 160;
    const r1c_train_shape sh = {.B = rc.G, .T = T, .n_threads = rc.threads, .seed = rc.seed};
    if (r1c_trainer_new(&mc, &sh, &pol) != R1C_OK || r1c_trainer_load(pol, rc.policy, 0) != R1C_OK ||
        (rc.beta > 0 && (r1c_trainer_new(&mc, &sh, &ref) != R1C_OK || r1c_trainer_load(ref, rc.reference, 0) != R1C_OK))) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    r1c_trainer_set_bf16(pol, rc.bf16);
    if (ref) r1c_trainer_set_bf16(ref, rc.bf16);
    const int N = rc.G * T, V = mc.vocab_size;
    gr = calloc((size_t)rc.P, sizeof *gr);
    logp = malloc(sizeof(float) * (size_t)N), w = malloc(sizeof(float) * (size_t)N);
    rewards = malloc(sizeof(float) * (size_t)rc.G), lastl = malloc(sizeof(float) * (size_t)V);
    xs = calloc((size_t)rc.steps, sizeof(double));
    for (int k = 0; k < 4; k++) ys[k] = calloc((size_t)rc.steps, sizeof(double));
    if (!gr || !logp || !w || !rewards || !lastl || !xs || !ys[0] || !ys[1] || !ys[2] || !ys[3]) {
        cli_fail(C, "out of memory");
        goto done;
    }
    for (int p = 0; p < rc.P; p++) {
        gr[p].in = malloc(sizeof(int32_t) * (size_t)N), gr[p].tg = malloc(sizeof(int32_t) * (size_t)N);
        gr[p].adv = malloc(sizeof(float) * (size_t)rc.G);
        gr[p].old = malloc(sizeof(float) * (size_t)N), gr[p].ref = malloc(sizeof(float) * (size_t)N);
        if (!gr[p].in || !gr[p].tg || !gr[p].adv || !gr[p].old || !gr[p].ref) {
            cli_fail(C, "out of memory");
            goto done;
        }
    }
    mkdir(rc.out, 0755);
    char pdir[4200], path[4200];
    snprintf(pdir, sizeof pdir, "%s/policy", rc.out);
    snprintf(path, sizeof path, "%s/rl_log.csv", rc.out);
    if (!(csv = fopen(path, "w"))) {
        cli_fail(C, "%s: cannot write", path);
        goto done;
    }
    fprintf(csv, "step,reward,accuracy,format,kl,clip_frac,ratio,completion_tokens,lr,seconds\n");
    r1c_synth synth;
    const r1c_synth_params sp = {.task = strcmp(rc.task, "countdown") ? R1C_SYNTH_ARITH : R1C_SYNTH_COUNTDOWN, .level_lo = lo,
                                 .level_hi = hi, .trace_share = 0, .split = R1C_SYNTH_SPLIT_TRAIN, .seed = rc.seed};
    if (r1c_synth_init(&synth, &sp) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    fprintf(stderr, "r1c rl: GRPO on %s levels %d-%d (%s template), %d prompts x %d completions per step, %d updates, "
            "eps %g, beta %g, lr %g, %d steps\n", rc.task, lo, hi, rc.tmpl, rc.P, rc.G, rc.updates, rc.eps, rc.beta, rc.lr, rc.steps);
    const r1c_adamw opt = {.beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = (float)rc.wd, .clip = (float)rc.clip};
    const double t0 = cli_now();
    for (int step = 0; step < rc.steps; step++) {
        /* rollouts with the current policy through r1c's inference */
        if (!save_model(pol, pdir, rc.policy)) goto done;
        r1c_model *im = cli_load(C, pdir, 0);
        if (!im) goto done;
        r1c_ctx *cx = NULL;
        r1c_sampler *smp = NULL;
        const r1c_ctx_params cp = {.n_ctx = T + 1, .n_threads = rc.threads};
        const r1c_sampler_params spp = {.temperature = (float)rc.temp, .top_p = (float)rc.top_p,
                                        .seed = rc.seed * 1000003u + (uint64_t)step};
        double sum_r = 0, sum_acc = 0, sum_fmt = 0, sum_len = 0;
        int ok = r1c_ctx_new(im, &cp, &cx) == R1C_OK && r1c_sampler_new(&spp, V, &smp) == R1C_OK;
        if (!ok) cli_fail(C, "%s", r1c_last_error());
        for (int p = 0; ok && p < rc.P; p++) {
            r1c_synth_example ex;
            int n_ids = 0, in_reasoning = 0;
            int32_t *ids = NULL;
            if (r1c_synth_next(&synth, &ex) != R1C_OK || !(ids = cli_task_prompt(C, tok, ex.prompt, rc.tmpl, &n_ids, &in_reasoning))) {
                ok = 0;
                break;
            }
            if (n_ids >= T - rc.max_tokens) { /* (the rows leave 160 tokens for the prompt) */
                cli_fail(C, "a prompt of %d tokens is too long for the rows (%d)", n_ids, T);
                free(ids);
                ok = 0;
                break;
            }
            r1c_ctx_truncate(cx, 0);
            if (r1c_eval(cx, ids, n_ids, 0) != R1C_OK) {
                cli_fail(C, "%s", r1c_last_error());
                free(ids);
                ok = 0;
                break;
            }
            memcpy(lastl, r1c_logits(cx, -1), sizeof(float) * (size_t)V);
            for (int g = 0; ok && g < rc.G; g++) {
                cli_completion co;
                const int room = T - n_ids;
                if (cli_complete(cx, smp, im, lastl, n_ids, rc.max_tokens < room ? rc.max_tokens : room, &co) != R1C_OK) {
                    cli_fail(C, "generation: %s", r1c_last_error());
                    cli_completion_free(&co);
                    ok = 0;
                    break;
                }
                int right = 0, fmt = 0;
                r1c_synth_grade(&ex, co.text, in_reasoning, &right, &fmt, NULL);
                rewards[g] = (float)(rc.w_acc * right + rc.w_fmt * fmt);
                sum_r += rewards[g], sum_acc += right, sum_fmt += fmt, sum_len += co.n_ids;
                /* the row: inputs = prompt + completion; a target where the next token is the completion's */
                int32_t *in = gr[p].in + (int64_t)g * T, *tg = gr[p].tg + (int64_t)g * T;
                const int n = n_ids + co.n_ids < T ? n_ids + co.n_ids : T;
                for (int t = 0; t < T; t++) {
                    in[t] = t < n_ids ? ids[t] : t < n ? co.ids[t - n_ids] : 0;
                    tg[t] = t + 1 >= n_ids && t + 1 < n ? co.ids[t + 1 - n_ids] : -1;
                }
                cli_completion_free(&co);
            }
            free(ids);
            r1c_grpo_advantages(rewards, rc.G, gr[p].adv);
        }
        r1c_sampler_free(smp);
        r1c_ctx_free(cx);
        r1c_model_free(im);
        if (!ok) goto done;
        /* log-probabilities at sampling time and under the reference */
        for (int p = 0; p < rc.P; p++) {
            r1c_trainer_forward(pol, gr[p].in, gr[p].tg);
            r1c_trainer_token_logprobs(pol, gr[p].old);
            if (ref) {
                r1c_trainer_forward(ref, gr[p].in, gr[p].tg);
                r1c_trainer_token_logprobs(ref, gr[p].ref);
            }
        }
        /* the policy updates */
        const double lr = rc.warmup > 0 && step < rc.warmup ? rc.lr * (step + 1) / rc.warmup : rc.lr;
        r1c_grpo_stats first = {0}, all = {0}; /* KL: at the first update (the batch's policy); clipping: over all */
        for (int u = 0; u < rc.updates; u++) {
            r1c_grpo_stats su = {0};
            for (int p = 0; p < rc.P; p++) {
                r1c_trainer_forward(pol, gr[p].in, gr[p].tg);
                r1c_trainer_token_logprobs(pol, logp);
                r1c_grpo_weights(logp, gr[p].old, ref ? gr[p].ref : NULL, gr[p].tg, gr[p].adv, rc.G, T, (float)rc.eps, (float)rc.beta,
                                 1.0f / (float)(rc.G * rc.P), w, &su);
                r1c_trainer_backward_weighted(pol, w);
            }
            r1c_trainer_step(pol, &opt, (float)lr);
            r1c_trainer_balance(pol, 0.0f, NULL); /* (MoE: the routing bias stays; the counts are cleared) */
            if (u == 0) first = su;
            all.clip_frac += su.clip_frac, all.ratio += su.ratio, all.tokens += su.tokens;
        }
        const double nt = all.tokens ? (double)all.tokens : 1.0, nr = (double)rc.G * rc.P;
        const double kl = first.tokens ? first.kl / (double)first.tokens : 0, clipf = all.clip_frac / nt;
        xs[step] = step + 1, ys[0][step] = sum_r / nr, ys[1][step] = sum_acc / nr, ys[2][step] = sum_fmt / nr, ys[3][step] = kl;
        const double secs = cli_now() - t0;
        fprintf(csv, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.2f,%.6g,%.1f\n", step + 1, sum_r / nr, sum_acc / nr, sum_fmt / nr, kl,
                clipf, all.ratio / nt, sum_len / nr, lr, secs);
        fflush(csv);
        fprintf(stderr, "step %d/%d | reward %.3f | accuracy %.3f | format %.3f | KL %.4f | clip %.3f | length %.1f | %.0fs\n",
                step + 1, rc.steps, sum_r / nr, sum_acc / nr, sum_fmt / nr, kl, clipf, sum_len / nr, secs);
        if (rc.save_every && (step + 1) % rc.save_every == 0 && !save_model(pol, rc.out, rc.policy)) goto done;
    }
    if (!save_model(pol, rc.out, rc.policy)) goto done;
    snprintf(path, sizeof path, "%s/rl.svg", rc.out);
    const r1c_plot_series s[4] = {{"reward", xs, ys[0], rc.steps}, {"accuracy", xs, ys[1], rc.steps},
                                  {"format", xs, ys[2], rc.steps}, {"KL (k3)", xs, ys[3], rc.steps}};
    if (r1c_plot_svg(path, "r1c rl: GRPO", "step", "mean per completion", s, 4, 0) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    printf("GRPO: %d steps in %.1f s; last step reward %.3f, accuracy %.3f, format %.3f; wrote %s (rl_log.csv, rl.svg)\n", rc.steps,
           cli_now() - t0, ys[0][rc.steps - 1], ys[1][rc.steps - 1], ys[2][rc.steps - 1], rc.out);
    status = 0;
done:
    if (csv) fclose(csv);
    for (int p = 0; gr && p < rc.P; p++) free(gr[p].in), free(gr[p].tg), free(gr[p].adv), free(gr[p].old), free(gr[p].ref);
    free(gr), free(logp), free(w), free(rewards), free(lastl), free(xs);
    for (int k = 0; k < 4; k++) free(ys[k]);
    r1c_trainer_free(pol), r1c_trainer_free(ref);
    r1c_tokenizer_free(tok);
    return status;
}
