/* cmd_rl.c — `r1c rl --config grpo.json`: GRPO with rule-based rewards (DeepSeek-R1-Zero's recipe,
 * at the scale of the synthetic tasks).
 *
 * grpo.json:
 *   {"policy": DIR                 the model to train (a checkpoint `r1c run` loads),
 *    "reference": DIR              the frozen reference of the KL term (default: the policy's start),
 *    "task": "arithmetic" | "countdown", "levels": "1-4"   training problems (the generator's train split),
 *    "template": "zero" | "raw" | "chat"                    the prompt (see `r1c eval`),
 *    "group_size": 8, "prompts_per_step": 4, "steps": 100, "max_tokens": 200,
 *    "prompt_tokens": 160                                   the longest prompt (the rows are this + max_tokens),
 *    "temperature": 1.0, "top_p": 1.0                       sampling of the rollouts,
 *    "epsilon": 0.2, "beta": 0.04, "updates": 2             clip range, KL weight, policy updates per batch,
 *    "reward_accuracy": 1.0, "reward_format": 0.2           the rules' weights,
 *    "forbidden": ["(?m)^(.+)\\n\\1$", ...], "reward_forbidden": -1.0
 *                                  optional: PCRE2 patterns no completion may match, and the
 *                                  reward of one that matches any (src/train/rules.h),
 *    "eval_every": 0, "eval_n": 50, "eval_levels": (= levels)
 *                                  held-out greedy accuracy of the policy every N steps, before
 *                                  the first and after the last (as `r1c eval --seed 1 --k 0`),
 *    "save_best": 0                1: the policy with the best mean held-out accuracy so far also
 *                                  goes to OUT/best (early stopping; report on other problems:
 *                                  `r1c eval --seed 2`),
 *    "lr": 1e-5, "warmup": 0, "weight_decay": 0, "clip": 1.0, "compute": "f32" | "bf16",
 *    "seed": 1, "threads": 0, "out": DIR, "save_every": 0}
 *
 * Each step: the policy's weights go to an inference model (written to OUT/policy and loaded, so
 * rollouts use r1c's own sampler and KV cache); all P x G completions are decoded together
 * (gen_batch.c); rewards accuracy * right + format * R1-format + forbidden * (a rule broken);
 * advantages normalised within each group; the old and
 * the reference log-probabilities by the trainer's forward; then `updates` AdamW steps on the
 * clipped surrogate minus beta x KL (k3), the prompts' gradients accumulated into each step
 * (src/train/grpo.h). Logged per step (rl_log.csv, rl.svg, rl_length.svg): reward, accuracy,
 * format, rule violations, KL, clip fraction, mean completion length; with eval_every, the
 * held-out accuracy by level (eval.csv, eval.svg). The trained policy is a checkpoint in OUT. */
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
#include "train/rules.h"
#include "train/synth.h"
#include "train/trainer.h"

static const char *C = "rl";
static const char *USAGE = "usage: r1c rl --config grpo.json [--steps N]\n"
                           "  GRPO with rule-based rewards (accuracy, format); the config's fields are listed in\n"
                           "  tools/r1c/cmd_rl.c. Writes the trained policy, rl_log.csv and rl.svg to its \"out\".\n";

typedef struct {
    char policy[2048], reference[2048], out[2048], task[32], levels[32], tmpl[16], eval_levels[32];
    int G, P, steps, max_tokens, prompt_tokens, updates, threads, save_every, bf16, eval_every, eval_n, save_best;
    double temp, top_p, eps, beta, w_acc, w_fmt, w_forbid, lr, warmup, wd, clip;
    uint64_t seed;
    r1c_rules *rules; /* "forbidden" */
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
    double v[24];
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
         getnum(o, "threads", 0, 0, 512, &v[16], path) && getnum(o, "save_every", 0, 0, 1e8, &v[17], path) &&
         getnum(o, "reward_forbidden", -1.0, -100, 100, &v[18], path) && getnum(o, "eval_every", 0, 0, 1e8, &v[19], path) &&
         getnum(o, "eval_n", 50, 1, 100000, &v[20], path) && getnum(o, "save_best", 0, 0, 1, &v[22], path) && getnum(o, "prompt_tokens", 160, 1, 8192, &v[21], path) &&
         getstr(o, "eval_levels", c->levels, c->eval_levels, sizeof c->eval_levels, base, 0, path);
    /* "forbidden": a list of PCRE2 patterns (src/train/rules.h) */
    const cJSON *fb = ok ? cJSON_GetObjectItemCaseSensitive(o, "forbidden") : NULL;
    if (fb) {
        const int n = cJSON_GetArraySize(fb);
        const char **pat = cJSON_IsArray(fb) ? calloc((size_t)n + 1, sizeof *pat) : NULL;
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, fb) {
            if (!pat || !cJSON_IsString(it)) break;
            pat[i++] = it->valuestring;
        }
        char what[2200];
        snprintf(what, sizeof what, "%s: \"forbidden\"", path);
        if (!pat || i != n) ok = 0, cli_fail(C, "%s must be a list of strings (PCRE2 patterns)", what);
        else if (r1c_rules_new(pat, n, what, &c->rules) != R1C_OK) ok = 0, cli_fail(C, "%s", r1c_last_error());
        free(pat);
    }
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
    c->w_forbid = v[18], c->eval_every = (int)v[19], c->eval_n = (int)v[20], c->prompt_tokens = (int)v[21], c->save_best = (int)v[22];
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

/* Held-out greedy accuracy of the policy `im` (after `step` updates) on each eval level: a line
 * per level in eval.csv, the accuracies kept for eval.svg. */
typedef struct {
    int lo, hi, n;       /* levels, points so far */
    double *x, *acc[8]; /* per point; acc per level */
    FILE *csv;
} eval_log;

static int eval_policy(const rl_cfg *rc, const r1c_model *im, int step, eval_log *ev, double *mean) {
    const cli_eval_spec spec = {.task = strcmp(rc->task, "countdown") ? R1C_SYNTH_ARITH : R1C_SYNTH_COUNTDOWN, .n = rc->eval_n, .k = 0,
                                .max_tokens = rc->max_tokens, .threads = rc->threads, .temp = 0, .top_p = 1, .tmpl = rc->tmpl,
                                .seed = 1, .rules = rc->rules};
    ev->x[ev->n] = step;
    *mean = 0;
    for (int level = ev->lo; level <= ev->hi; level++) {
        cli_level_result r;
        if (!cli_eval_level(C, im, &spec, level, NULL, &r)) return 0;
        *mean += r.greedy / (ev->hi - ev->lo + 1);
        ev->acc[level - ev->lo][ev->n] = r.greedy;
        fprintf(ev->csv, "%d,%d,%d,%.6g,%.6g,%.2f,%.6g\n", step, level, r.problems, r.greedy, r.format, r.tokens, r.violations);
        fprintf(stderr, "  held-out, step %d, level %d: greedy accuracy %.1f %%, format %.0f %%, %.0f tokens%s", step, level,
                100 * r.greedy, 100 * r.format, r.tokens, rc->rules ? "" : "\n");
        if (rc->rules) fprintf(stderr, ", rule violations %.1f %%\n", 100 * r.violations);
    }
    fflush(ev->csv);
    ev->n++;
    return 1;
}

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
    if (!load_cfg(cfg_path, &rc)) return r1c_rules_free(rc.rules), 1;
    if (steps_override) rc.steps = (int)steps_override;
    int lo, hi;
    eval_log ev = {0};
    if (!parse_levels(rc.levels, &lo, &hi) || !parse_levels(rc.eval_levels, &ev.lo, &ev.hi)) {
        cli_fail(C, "%s: \"levels\" / \"eval_levels\": '%s' / '%s' (like 1-4; levels 1..8)", cfg_path, rc.levels, rc.eval_levels);
        return r1c_rules_free(rc.rules), 1;
    }
    const int GP = rc.G * rc.P;
    int status = 1;
    r1c_trainer *pol = NULL, *ref = NULL;
    r1c_tokenizer *tok = NULL;
    r1c_model *im = NULL;
    r1c_sampler *smp = NULL;
    group *gr = NULL;
    float *logp = NULL, *w = NULL, *rewards = NULL;
    double *xs = NULL, *ys[5] = {NULL, NULL, NULL, NULL, NULL};
    r1c_synth_example *ex = NULL;
    int32_t **pids = NULL, **sids = NULL;
    int *n_pids = NULL, *in_reasoning = NULL, *n_sids = NULL;
    r1c_sampler **samplers = NULL;
    cli_completion *co = NULL;
    FILE *csv = NULL;
    r1c_hf_config mc;
    if (r1c_hf_config_load(rc.policy, &mc) != R1C_OK || r1c_tokenizer_load(rc.policy, &tok) != R1C_OK) {
        cli_fail(C, "policy: %s", r1c_last_error());
        goto done;
    }
    /* the trainer's rows: a prompt (up to prompt_tokens) and its completion */
    const int T = rc.max_tokens + rc.prompt_tokens;
    const r1c_train_shape sh = {.B = rc.G, .T = T, .n_threads = rc.threads, .seed = rc.seed};
    if (r1c_trainer_new(&mc, &sh, &pol) != R1C_OK || r1c_trainer_load(pol, rc.policy, 0) != R1C_OK ||
        (rc.beta > 0 && (r1c_trainer_new(&mc, &sh, &ref) != R1C_OK || r1c_trainer_load(ref, rc.reference, 0) != R1C_OK))) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    r1c_trainer_set_bf16(pol, rc.bf16);
    if (ref) r1c_trainer_set_bf16(ref, rc.bf16);
    const int N = rc.G * T, V = mc.vocab_size;
    const int n_evals = rc.eval_every ? rc.steps / rc.eval_every + 2 : 0;
    gr = calloc((size_t)rc.P, sizeof *gr);
    logp = malloc(sizeof(float) * (size_t)N), w = malloc(sizeof(float) * (size_t)N);
    rewards = malloc(sizeof(float) * (size_t)rc.G);
    xs = calloc((size_t)rc.steps, sizeof(double));
    for (int k = 0; k < 5; k++) ys[k] = calloc((size_t)rc.steps, sizeof(double));
    ex = calloc((size_t)rc.P, sizeof *ex), pids = calloc((size_t)rc.P, sizeof *pids), n_pids = calloc((size_t)rc.P, sizeof *n_pids);
    in_reasoning = calloc((size_t)rc.P, sizeof *in_reasoning);
    sids = calloc((size_t)GP, sizeof *sids), n_sids = calloc((size_t)GP, sizeof *n_sids), samplers = calloc((size_t)GP, sizeof *samplers);
    co = calloc((size_t)GP, sizeof *co);
    int oom = !gr || !logp || !w || !rewards || !xs || !ex || !pids || !n_pids || !in_reasoning || !sids || !n_sids || !samplers || !co;
    for (int k = 0; k < 5; k++) oom |= !ys[k];
    if (n_evals) {
        oom |= !(ev.x = calloc((size_t)n_evals, sizeof(double)));
        for (int l = 0; l <= ev.hi - ev.lo; l++) oom |= !(ev.acc[l] = calloc((size_t)n_evals, sizeof(double)));
    }
    for (int p = 0; !oom && p < rc.P; p++) {
        gr[p].in = malloc(sizeof(int32_t) * (size_t)N), gr[p].tg = malloc(sizeof(int32_t) * (size_t)N);
        gr[p].adv = malloc(sizeof(float) * (size_t)rc.G);
        gr[p].old = malloc(sizeof(float) * (size_t)N), gr[p].ref = malloc(sizeof(float) * (size_t)N);
        oom |= !gr[p].in || !gr[p].tg || !gr[p].adv || !gr[p].old || !gr[p].ref;
    }
    if (oom) {
        cli_fail(C, "out of memory");
        goto done;
    }
    mkdir(rc.out, 0755);
    char pdir[4200], path[4200], bdir[4200];
    double best = -1;
    int best_step = 0;
    snprintf(pdir, sizeof pdir, "%s/policy", rc.out);
    snprintf(bdir, sizeof bdir, "%s/best", rc.out);
    snprintf(path, sizeof path, "%s/rl_log.csv", rc.out);
    if (!(csv = fopen(path, "w"))) {
        cli_fail(C, "%s: cannot write", path);
        goto done;
    }
    fprintf(csv, "step,reward,accuracy,format,violations,kl,clip_frac,ratio,completion_tokens,lr,seconds\n");
    if (n_evals) {
        snprintf(path, sizeof path, "%s/eval.csv", rc.out);
        if (!(ev.csv = fopen(path, "w"))) {
            cli_fail(C, "%s: cannot write", path);
            goto done;
        }
        fprintf(ev.csv, "step,level,problems,greedy_accuracy,format,mean_tokens,rule_violations\n");
    }
    r1c_synth synth;
    const r1c_synth_params sp = {.task = strcmp(rc.task, "countdown") ? R1C_SYNTH_ARITH : R1C_SYNTH_COUNTDOWN, .level_lo = lo,
                                 .level_hi = hi, .trace_share = 0, .split = R1C_SYNTH_SPLIT_TRAIN, .seed = rc.seed};
    if (r1c_synth_init(&synth, &sp) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    fprintf(stderr, "r1c rl: GRPO on %s levels %d-%d (%s template), %d prompts x %d completions per step, %d updates, "
            "eps %g, beta %g, lr %g, %d steps%s\n", rc.task, lo, hi, rc.tmpl, rc.P, rc.G, rc.updates, rc.eps, rc.beta, rc.lr, rc.steps,
            rc.rules ? ", forbidden-pattern rules" : "");
    const r1c_adamw opt = {.beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = (float)rc.wd, .clip = (float)rc.clip};
    const double t0 = cli_now();
    for (int step = 0; step < rc.steps; step++) {
        /* the current policy as an inference model, so rollouts go through r1c's own batched
         * decoding, sampler and KV cache */
        if (!save_model(pol, pdir, rc.policy) || !(im = cli_load(C, pdir, 0))) goto done;
        if (n_evals && step % rc.eval_every == 0) {
            double mean;
            if (!eval_policy(&rc, im, step, &ev, &mean)) goto done;
            if (rc.save_best && mean > best && step > 0) {
                best = mean, best_step = step;
                if (!save_model(pol, bdir, rc.policy)) goto done;
            }
            best = mean > best ? mean : best; /* (step 0: the start is the mark to beat) */
        }
        const r1c_sampler_params spp = {.temperature = (float)rc.temp, .top_p = (float)rc.top_p,
                                        .seed = rc.seed * 1000003u + (uint64_t)step};
        if (r1c_sampler_new(&spp, V, &smp) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
        for (int p = 0; p < rc.P; p++) {
            if (r1c_synth_next(&synth, &ex[p]) != R1C_OK) {
                cli_fail(C, "%s", r1c_last_error());
                goto done;
            }
            if (!(pids[p] = cli_task_prompt(C, tok, ex[p].prompt, rc.tmpl, &n_pids[p], &in_reasoning[p]))) goto done;
            if (n_pids[p] > rc.prompt_tokens) {
                cli_fail(C, "a prompt of %d tokens is longer than \"prompt_tokens\" (%d)", n_pids[p], rc.prompt_tokens);
                goto done;
            }
            for (int g = 0; g < rc.G; g++) sids[p * rc.G + g] = pids[p], n_sids[p * rc.G + g] = n_pids[p], samplers[p * rc.G + g] = smp;
        }
        /* all P x G rollouts decoded together */
        if (cli_complete_many(im, GP, sids, n_sids, samplers, rc.max_tokens, rc.threads, co) != R1C_OK) {
            cli_fail(C, "generation: %s", r1c_last_error());
            goto done;
        }
        double sum_r = 0, sum_acc = 0, sum_fmt = 0, sum_len = 0, sum_bad = 0;
        for (int p = 0; p < rc.P; p++) {
            for (int g = 0; g < rc.G; g++) {
                const cli_completion *c = &co[p * rc.G + g];
                int right = 0, fmt = 0, broken = 0;
                r1c_synth_grade(&ex[p], c->text, in_reasoning[p], &right, &fmt, NULL);
                if (rc.rules && r1c_rules_check(rc.rules, c->text, c->len, &broken) != R1C_OK) {
                    cli_fail(C, "%s", r1c_last_error());
                    goto done;
                }
                rewards[g] = (float)(rc.w_acc * right + rc.w_fmt * fmt + rc.w_forbid * (broken > 0));
                sum_r += rewards[g], sum_acc += right, sum_fmt += fmt, sum_len += c->n_ids, sum_bad += broken > 0;
                /* the row: inputs = prompt + completion; a target where the next token is the completion's */
                int32_t *in = gr[p].in + (int64_t)g * T, *tg = gr[p].tg + (int64_t)g * T;
                const int np = n_pids[p], n = np + c->n_ids < T ? np + c->n_ids : T;
                for (int t = 0; t < T; t++) {
                    in[t] = t < np ? pids[p][t] : t < n ? c->ids[t - np] : 0;
                    tg[t] = t + 1 >= np && t + 1 < n ? c->ids[t + 1 - np] : -1;
                }
            }
            r1c_grpo_advantages(rewards, rc.G, gr[p].adv);
        }
        for (int i = 0; i < GP; i++) cli_completion_free(&co[i]);
        for (int p = 0; p < rc.P; p++) free(pids[p]), pids[p] = NULL;
        r1c_sampler_free(smp), smp = NULL;
        r1c_model_free(im), im = NULL;
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
                                 1.0f / (float)GP, w, &su);
                r1c_trainer_backward_weighted(pol, w);
            }
            r1c_trainer_step(pol, &opt, (float)lr);
            r1c_trainer_balance(pol, 0.0f, NULL); /* (MoE: the routing bias stays; the counts are cleared) */
            if (u == 0) first = su;
            all.clip_frac += su.clip_frac, all.ratio += su.ratio, all.tokens += su.tokens;
        }
        const double nt = all.tokens ? (double)all.tokens : 1.0, nr = (double)GP;
        const double kl = first.tokens ? first.kl / (double)first.tokens : 0, clipf = all.clip_frac / nt;
        xs[step] = step + 1, ys[0][step] = sum_r / nr, ys[1][step] = sum_acc / nr, ys[2][step] = sum_fmt / nr, ys[3][step] = kl;
        ys[4][step] = sum_len / nr;
        const double secs = cli_now() - t0;
        fprintf(csv, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.2f,%.6g,%.1f\n", step + 1, sum_r / nr, sum_acc / nr, sum_fmt / nr,
                sum_bad / nr, kl, clipf, all.ratio / nt, sum_len / nr, lr, secs);
        fflush(csv);
        fprintf(stderr, "step %d/%d | reward %.3f | accuracy %.3f | format %.3f | KL %.4f | clip %.3f | length %.1f", step + 1,
                rc.steps, sum_r / nr, sum_acc / nr, sum_fmt / nr, kl, clipf, sum_len / nr);
        if (rc.rules) fprintf(stderr, " | violations %.3f", sum_bad / nr);
        fprintf(stderr, " | %.0fs\n", secs);
        if (rc.save_every && (step + 1) % rc.save_every == 0 && !save_model(pol, rc.out, rc.policy)) goto done;
    }
    if (!save_model(pol, rc.out, rc.policy)) goto done;
    if (n_evals) { /* the trained policy, held out */
        double mean;
        if (!(im = cli_load(C, rc.out, 0)) || !eval_policy(&rc, im, rc.steps, &ev, &mean)) goto done;
        if (rc.save_best && mean > best) {
            best = mean, best_step = rc.steps;
            if (!save_model(pol, bdir, rc.policy)) goto done;
        }
        if (rc.save_best)
            fprintf(stderr, best_step ? "r1c rl: the best policy (step %d, mean held-out accuracy %.3f) is in %s\n"
                                      : "r1c rl: no step beat the start (step %d, %.3f); %s not written\n", best_step, best, bdir);
        r1c_plot_series es[4];
        char names[4][32];
        int ns = 0;
        for (int l = ev.lo; l <= ev.hi && ns < 4; l++, ns++) {
            snprintf(names[ns], sizeof names[ns], "level %d", l);
            es[ns] = (r1c_plot_series){names[ns], ev.x, ev.acc[l - ev.lo], ev.n};
        }
        snprintf(path, sizeof path, "%s/eval.svg", rc.out);
        if (r1c_plot_svg(path, "r1c rl: held-out greedy accuracy", "step", "accuracy", es, ns, 0) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/rl.svg", rc.out);
    const r1c_plot_series s[4] = {{"reward", xs, ys[0], rc.steps}, {"accuracy", xs, ys[1], rc.steps},
                                  {"format", xs, ys[2], rc.steps}, {"KL (k3)", xs, ys[3], rc.steps}};
    const r1c_plot_series sl = {"completion tokens", xs, ys[4], rc.steps};
    char lpath[4200];
    snprintf(lpath, sizeof lpath, "%s/rl_length.svg", rc.out);
    if (r1c_plot_svg(path, "r1c rl: GRPO", "step", "mean per completion", s, 4, 0) != R1C_OK ||
        r1c_plot_svg(lpath, "r1c rl: response length", "step", "mean tokens per completion", &sl, 1, 0) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    printf("GRPO: %d steps in %.1f s; last step reward %.3f, accuracy %.3f, format %.3f; wrote %s (rl_log.csv, rl.svg, rl_length.svg%s)\n",
           rc.steps, cli_now() - t0, ys[0][rc.steps - 1], ys[1][rc.steps - 1], ys[2][rc.steps - 1], rc.out,
           n_evals ? ", eval.csv, eval.svg" : "");
    status = 0;
done:
    if (csv) fclose(csv);
    if (ev.csv) fclose(ev.csv);
    for (int p = 0; gr && p < rc.P; p++) free(gr[p].in), free(gr[p].tg), free(gr[p].adv), free(gr[p].old), free(gr[p].ref);
    for (int i = 0; co && i < GP; i++) cli_completion_free(&co[i]);
    for (int p = 0; pids && p < rc.P; p++) free(pids[p]);
    free(gr), free(logp), free(w), free(rewards), free(xs), free(ex), free(pids), free(n_pids), free(in_reasoning);
    free(sids), free(n_sids), free(samplers), free(co), free(ev.x);
    for (int k = 0; k < 5; k++) free(ys[k]);
    for (int l = 0; l < 8; l++) free(ev.acc[l]);
    r1c_sampler_free(smp);
    r1c_model_free(im);
    r1c_trainer_free(pol), r1c_trainer_free(ref);
    r1c_tokenizer_free(tok);
    r1c_rules_free(rc.rules);
    return status;
}
