/* cmd_data_distill.c — `r1c data distill`: a teacher's correct reasoning traces, the SFT data of
 * distillation (DeepSeek-R1's R1-Distill models: a small dense model fine-tuned on the reasoner's
 * samples, no RL of its own).
 *
 *   r1c data distill -m TEACHER --task arithmetic|countdown --levels 1-5 --n 2000 --out traces.jsonl
 *                    [--k 4] [--keep 1] [--temp 0.6] [--top-p 0.95] [--template chat] [--max-tokens 256]
 *                    [--seed 1] [--forbidden RULES] [-t N]
 *
 * n distinct problems from the generator's train split (never a held-out `r1c eval` problem); k samples each from the teacher (decoded together, gen_batch.c); a sample is kept when
 * its answer is right, it has R1's format (<think> ... </think> then <answer>), and it breaks no
 * --forbidden rule — rejection sampling, as R1 built its SFT data. At most --keep per problem.
 * Each line: {"task", "level", "prompt" (the problem), "answer" (the reference; Countdown: one
 * solution), "template", "opens_think" (the prompt
 * ended inside <think>, so the completion starts with the reasoning), "completion"}. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/rules.h"
#include "train/synth.h"

static const char *C = "data distill";
static const char *USAGE =
    "usage: r1c data distill -m TEACHER --task arithmetic|countdown --n N --out FILE.jsonl [--levels 1-5] [--k 4]\n"
    "                        [--keep 1] [--temp 0.6] [--top-p 0.95] [--template chat|raw|zero] [--max-tokens 256]\n"
    "                        [--seed 1] [--forbidden RULES] [-t N]\n"
    "  the teacher's right, well-formed samples of train-split problems as SFT data (prompt, completion)\n";

enum { BLOCK = 32 }; /* problems decoded together */

/* the problems drawn so far, by key (an open-addressing set; 0 marks a free slot) */
typedef struct {
    uint64_t *k;
    size_t cap, n;
} keyset;

static int keyset_add(keyset *s, uint64_t key) { /* 1: added, 0: there already, -1: out of memory */
    key |= 1; /* (never 0) */
    if (2 * (s->n + 1) > s->cap) {
        keyset t = {calloc(s->cap ? 2 * s->cap : 1024, sizeof(uint64_t)), s->cap ? 2 * s->cap : 1024, 0};
        if (!t.k) return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i]) keyset_add(&t, s->k[i]);
        free(s->k);
        *s = t;
    }
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 17) & (s->cap - 1);
    for (; s->k[i]; i = (i + 1) & (s->cap - 1))
        if (s->k[i] == key) return 0;
    s->k[i] = key, s->n++;
    return 1;
}

int data_distill(int argc, char **argv) {
    cli_task_opts o = {.levels_s = "1-5", .tmpl = "chat", .n = -1, .k = 4, .max_tokens = 256, .temp = 0.6, .top_p = 0.95, .seed = 1};
    long keep = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(USAGE, stdout), 0;
        const int r = cli_task_option(C, argc, argv, &i, &o);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!(v = cli_value(C, argc, argv, &i, "--keep")) || !cli_int(C, a, v, 1, 1000, &keep)) return 2;
    }
    if (!o.model || !o.task_s || o.n < 0 || !o.out) return cli_fail(C, "-m TEACHER, --task, --n and --out are required"), fputs(USAGE, stderr), 2;
    if (!cli_task_check(C, &o)) return 2;
    if (o.k < 1) return cli_fail(C, "--k: %ld (at least 1 sample per problem)", o.k), 2;
    const char *model = o.model, *task_s = o.task_s, *levels_s = o.levels_s, *tmpl = o.tmpl, *out_path = o.out, *rules_path = o.rules;
    const long n = o.n, k = o.k, max_tokens = o.max_tokens, threads = o.threads;
    const double temp = o.temp, top_p = o.top_p;
    const uint64_t seed = o.seed;
    const r1c_synth_params sp = {.task = o.task, .level_lo = o.lo, .level_hi = o.hi, .trace_share = 0, .split = R1C_SYNTH_SPLIT_TRAIN, .seed = seed};
    if (keep > k) keep = k;

    int rc = 1, kept = 0, tried = 0, kept_lv[R1C_SYNTH_MAX_LEVEL + 1] = {0}, n_lv[R1C_SYNTH_MAX_LEVEL + 1] = {0};
    r1c_rules *rules = NULL;
    r1c_synth g;
    keyset seen = {0};
    FILE *out = NULL;
    const int per = (int)k, n_seq = BLOCK * per;
    r1c_synth_example *ex = calloc(BLOCK, sizeof *ex);
    int32_t **ids = calloc((size_t)n_seq, sizeof *ids);
    int *n_ids = calloc((size_t)n_seq, sizeof *n_ids), in_reasoning[BLOCK];
    r1c_sampler **smp = calloc((size_t)n_seq, sizeof *smp);
    cli_completion *co = calloc((size_t)n_seq, sizeof *co);
    r1c_model *m = cli_load(C, model, 0);
    if (!m) goto done;
    const r1c_tokenizer *tok = r1c_model_tokenizer(m);
    if (!ex || !ids || !n_ids || !smp || !co) {
        cli_fail(C, "out of memory");
        goto done;
    }
    if (!tok) {
        cli_fail(C, "%s has no tokenizer.json", model);
        goto done;
    }
    if (rules_path && r1c_rules_load(rules_path, &rules) != R1C_OK) {
        cli_fail(C, "--forbidden: %s", r1c_last_error());
        goto done;
    }
    if (r1c_synth_init(&g, &sp) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    if (!(out = fopen(out_path, "w"))) {
        cli_fail(C, "%s: cannot write", out_path);
        goto done;
    }
    const double t0 = cli_now();
    for (long done_n = 0; done_n < n;) {
        const int nb = n - done_n < BLOCK ? (int)(n - done_n) : BLOCK;
        int ok = 1;
        for (int p = 0; p < nb && ok; p++) {
            int len = 0;
            /* each problem once (the generator repeats the small levels' few problems) */
            int fresh = 0;
            for (int tries = 0; ok && fresh != 1 && tries < 100000; tries++) {
                if (r1c_synth_next(&g, &ex[p]) != R1C_OK) ok = 0, cli_fail(C, "%s", r1c_last_error());
                else if ((fresh = keyset_add(&seen, ex[p].key)) < 0) ok = 0, cli_fail(C, "out of memory");
            }
            if (ok && fresh != 1) ok = 0, cli_fail(C, "--n %ld: the train split of levels %s has only about %zu problems", n, levels_s, seen.n);
            if (!ok) break;
            if (!(ids[p * per] = cli_task_prompt(C, tok, ex[p].prompt, tmpl, &len, &in_reasoning[p]))) ok = 0;
            for (int s = 0; ok && s < per; s++) {
                const r1c_sampler_params sps = {.temperature = (float)temp, .top_p = (float)top_p,
                                                .seed = seed * 1000003u + (uint64_t)(done_n + p) * 1009u + (uint64_t)s};
                ids[p * per + s] = ids[p * per], n_ids[p * per + s] = len;
                if (r1c_sampler_new(&sps, r1c_model_n_vocab(m), &smp[p * per + s]) != R1C_OK) ok = 0, cli_fail(C, "%s", r1c_last_error());
            }
        }
        if (ok && cli_complete_many(m, nb * per, ids, n_ids, smp, (int)max_tokens, (int)threads, co) != R1C_OK)
            ok = 0, cli_fail(C, "generation: %s", r1c_last_error());
        for (int p = 0; ok && p < nb; p++) {
            int taken = 0;
            n_lv[ex[p].level]++;
            for (int s = 0; ok && s < per && taken < keep; s++) {
                const cli_completion *c = &co[p * per + s];
                int right = 0, format = 0, broken = 0;
                r1c_synth_grade(&ex[p], c->text, in_reasoning[p], &right, &format, NULL);
                if (rules && r1c_rules_check(rules, c->text, c->len, &broken) != R1C_OK) ok = 0, cli_fail(C, "%s", r1c_last_error());
                if (!ok || !right || !format || broken) continue;
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "task", task_s);
                cJSON_AddNumberToObject(o, "level", ex[p].level);
                cJSON_AddStringToObject(o, "prompt", ex[p].prompt);
                cJSON_AddStringToObject(o, "answer", ex[p].answer);
                cJSON_AddStringToObject(o, "template", tmpl);
                cJSON_AddBoolToObject(o, "opens_think", in_reasoning[p]);
                cJSON_AddStringToObject(o, "completion", c->text);
                char *js = cJSON_PrintUnformatted(o);
                if (!js || fprintf(out, "%s\n", js) < 0) ok = 0, cli_fail(C, "%s: cannot write", out_path);
                free(js);
                cJSON_Delete(o);
                taken++, kept++, kept_lv[ex[p].level]++;
            }
            tried++;
        }
        for (int i = 0; i < nb * per; i++) cli_completion_free(&co[i]), r1c_sampler_free(smp[i]), smp[i] = NULL;
        for (int p = 0; p < nb; p++) free(ids[p * per]), ids[p * per] = NULL;
        if (!ok) goto done;
        done_n += nb;
        fprintf(stderr, "\rr1c data distill: %ld/%ld problems, %d traces kept (%.0f s)", done_n, n, kept, cli_now() - t0);
    }
    fprintf(stderr, "\n");
    if (fclose(out) != 0) {
        out = NULL;
        cli_fail(C, "%s: cannot write", out_path);
        goto done;
    }
    out = NULL;
    printf("%d traces from %d problems (%ld samples each) in %s; problems with a kept trace by level:", kept, tried, k, out_path);
    for (int l = sp.level_lo; l <= sp.level_hi; l++) printf(" %d: %d/%d", l, kept_lv[l], n_lv[l]);
    printf("\n");
    rc = 0;
done:
    if (out) fclose(out);
    for (int i = 0; co && smp && i < n_seq; i++) cli_completion_free(&co[i]), r1c_sampler_free(smp[i]);
    for (int p = 0; ids && p < BLOCK; p++) free(ids[p * per]);
    free(ex), free(ids), free(n_ids), free(smp), free(co);
    r1c_rules_free(rules);
    r1c_model_free(m);
    free(seen.k);
    return rc;
}
