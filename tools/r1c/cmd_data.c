/* cmd_data.c — `r1c data`: synthetic reasoning data with verifiable answers (src/train/synth.h).
 *   r1c data gen --task arithmetic|countdown --levels 1-5 --n 10000 [--seed 1] [--trace-share 0.5]
 *                [--split train|test|all] --out FILE.jsonl
 *       one JSON object per line: {"task", "level", "prompt", "answer", "think" (string or null),
 *       "numbers" and "target" (countdown only), "key" (16 hex digits), "text"}, where "text" is
 *       the pretraining string: PROMPT\n[<think>\nTRACE\n</think>\n]<answer>ANSWER</answer>
 *   r1c data check --task countdown --numbers 25,4,3,7 --target 97 --expr "25*4-3"
 *   r1c data check --task arithmetic --answer " 042" --expected 42
 *       prints "valid: ..." (exit 0) or "invalid: REASON" (exit 1): the rewards' verifier.
 *   r1c data distill -m TEACHER ...: a teacher's right samples as SFT data (cmd_data_distill.c) */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/synth.h"

int data_shard(int argc, char **argv); /* cmd_data_shard.c */
int data_stats(int argc, char **argv);
int data_distill(int argc, char **argv); /* cmd_data_distill.c */

static const char *USAGE =
    "usage: r1c data gen --task arithmetic|countdown --n N --out FILE.jsonl [--levels 1-5] [--seed S]\n"
    "                    [--trace-share 0.5] [--split train|test|all]\n"
    "       r1c data check --task countdown --numbers 25,4,3,7 --target 97 --expr \"25*4-3\"\n"
    "       r1c data check --task arithmetic --answer TEXT --expected INTEGER\n"
    "       r1c data shard --tokenizer DIR --out DATASET_DIR [--shard-tokens N] [--field text] FILE.jsonl...\n"
    "       r1c data stats DATASET_DIR [--batch B --seq-len T --batches N]\n"
    "       r1c data distill -m TEACHER --task arithmetic|countdown --n N --out FILE.jsonl [--levels 1-5] [--k 4] ...\n"
    "levels 1-8 (see src/train/synth.h); split: test = key %% 100 < 5, train the rest (default train)\n";

static int parse_task(const char *s, r1c_synth_task *t) {
    if (!strcmp(s, "arithmetic")) *t = R1C_SYNTH_ARITH;
    else if (!strcmp(s, "countdown")) *t = R1C_SYNTH_COUNTDOWN;
    else return cli_fail("data", "--task expects arithmetic or countdown, got '%s'", s), 0;
    return 1;
}

/* "3" or "1-5" */
static int parse_levels(const char *s, int *lo, int *hi) {
    char tail;
    if (sscanf(s, "%d-%d%c", lo, hi, &tail) == 2 || (sscanf(s, "%d%c", lo, &tail) == 1 && (*hi = *lo, 1)))
        if (*lo >= R1C_SYNTH_MIN_LEVEL && *hi <= R1C_SYNTH_MAX_LEVEL && *lo <= *hi) return 1;
    cli_fail("data", "--levels expects a level or a range within 1-8 (e.g. 1-5), got '%s'", s);
    return 0;
}

static int parse_split(const char *s, r1c_synth_split *sp) {
    if (!strcmp(s, "train")) *sp = R1C_SYNTH_SPLIT_TRAIN;
    else if (!strcmp(s, "test")) *sp = R1C_SYNTH_SPLIT_TEST;
    else if (!strcmp(s, "all")) *sp = R1C_SYNTH_SPLIT_ANY;
    else return cli_fail("data", "--split expects train, test or all, got '%s'", s), 0;
    return 1;
}

/* one example as one JSON line (without the newline); malloc'd, NULL when out of memory */
static char *example_json(const r1c_synth_example *ex, char *text, size_t text_cap) {
    cJSON *o = cJSON_CreateObject();
    char key[17];
    snprintf(key, sizeof key, "%016" PRIx64, ex->key);
    r1c_synth_text(ex, text, text_cap);
    cJSON_AddStringToObject(o, "task", ex->task == R1C_SYNTH_ARITH ? "arithmetic" : "countdown");
    cJSON_AddNumberToObject(o, "level", ex->level);
    cJSON_AddStringToObject(o, "prompt", ex->prompt);
    cJSON_AddStringToObject(o, "answer", ex->answer);
    if (ex->has_think) cJSON_AddStringToObject(o, "think", ex->think);
    else cJSON_AddNullToObject(o, "think");
    if (ex->task == R1C_SYNTH_COUNTDOWN) {
        cJSON *nums = cJSON_AddArrayToObject(o, "numbers");
        for (int i = 0; nums && i < ex->n_numbers; i++) cJSON_AddItemToArray(nums, cJSON_CreateNumber((double)ex->numbers[i]));
        cJSON_AddNumberToObject(o, "target", (double)ex->target);
    }
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "text", text);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int data_gen(int argc, char **argv) {
    r1c_synth_params p = {.task = -1, .level_lo = 1, .level_hi = 5, .trace_share = 0.5,
                          .split = R1C_SYNTH_SPLIT_TRAIN, .seed = 1};
    const char *out = NULL;
    long n = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(USAGE, stdout), 0;
        const char *v = cli_value("data", argc, argv, &i, "--task --levels --n --seed --trace-share --split --out");
        if (!v) return 2;
        const char *o = argv[i - 1];
        int ok = 1;
        if (!strcmp(o, "--task")) ok = parse_task(v, &p.task);
        else if (!strcmp(o, "--levels")) ok = parse_levels(v, &p.level_lo, &p.level_hi);
        else if (!strcmp(o, "--n")) ok = cli_int("data", o, v, 1, 100000000, &n);
        else if (!strcmp(o, "--seed")) ok = cli_u64("data", o, v, &p.seed);
        else if (!strcmp(o, "--trace-share")) ok = cli_float("data", o, v, 0, 1, &p.trace_share);
        else if (!strcmp(o, "--split")) ok = parse_split(v, &p.split);
        else out = v;
        if (!ok) return 2;
    }
    if ((int)p.task < 0) return cli_fail("data", "gen needs --task arithmetic|countdown"), 2;
    if (n < 0) return cli_fail("data", "gen needs --n N"), 2;
    if (!out) return cli_fail("data", "gen needs --out FILE.jsonl"), 2;

    r1c_synth g;
    if (r1c_synth_init(&g, &p) != R1C_OK) return cli_fail("data", "%s", r1c_last_error()), 2;
    FILE *f = fopen(out, "w");
    if (!f) return cli_fail("data", "--out %s: %s", out, strerror(errno));
    static r1c_synth_example ex;
    static char text[8192];
    double t0 = cli_now();
    int rc = 0;
    for (long k = 0; k < n && !rc; k++) {
        if (r1c_synth_next(&g, &ex) != R1C_OK) {
            rc = cli_fail("data", "%s", r1c_last_error());
            break;
        }
        char *line = example_json(&ex, text, sizeof text);
        if (!line) rc = cli_fail("data", "out of memory");
        else if (fputs(line, f) < 0 || fputc('\n', f) < 0) rc = cli_fail("data", "--out %s: %s", out, strerror(errno));
        free(line);
    }
    if (fclose(f) != 0 && !rc) rc = cli_fail("data", "--out %s: %s", out, strerror(errno));
    if (!rc)
        fprintf(stderr, "r1c data: wrote %ld examples to %s (%.0f examples/s)\n", n, out,
                (double)n / (cli_now() - t0 + 1e-9));
    return rc;
}

static int data_check(int argc, char **argv) {
    r1c_synth_task task = -1;
    const char *nums_s = NULL, *expr = NULL, *answer = NULL, *expected = NULL;
    long target = 0;
    int have_target = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(USAGE, stdout), 0;
        const char *v = cli_value("data", argc, argv, &i, "--task --numbers --target --expr --answer --expected");
        if (!v) return 2;
        const char *o = argv[i - 1];
        if (!strcmp(o, "--task")) {
            if (!parse_task(v, &task)) return 2;
        } else if (!strcmp(o, "--numbers")) nums_s = v;
        else if (!strcmp(o, "--target")) {
            if (!cli_int("data", o, v, -1000000000L, 1000000000L, &target)) return 2;
            have_target = 1;
        } else if (!strcmp(o, "--expr")) expr = v;
        else if (!strcmp(o, "--answer")) answer = v;
        else expected = v;
    }
    if ((int)task < 0) return cli_fail("data", "check needs --task arithmetic|countdown"), 2;
    if (task == R1C_SYNTH_ARITH) {
        if (!answer || !expected) return cli_fail("data", "check --task arithmetic needs --answer and --expected"), 2;
        int ok = r1c_synth_check_arith(answer, expected);
        printf("%s\n", ok ? "valid" : "invalid: not the expected integer");
        return ok ? 0 : 1;
    }
    if (!nums_s || !have_target || !expr)
        return cli_fail("data", "check --task countdown needs --numbers, --target and --expr"), 2;
    int *vals, n;
    if (!cli_int_list("data", "--numbers", nums_s, 0, 1000000000L, &vals, &n)) return 2;
    int64_t nums[64];
    if (n > 64) return free(vals), cli_fail("data", "--numbers: at most 64 numbers"), 2;
    for (int i = 0; i < n; i++) nums[i] = vals[i];
    free(vals);
    char why[160];
    int ok = r1c_synth_check_countdown(nums, n, target, expr, why, sizeof why);
    printf("%s: %s\n", ok ? "valid" : "invalid", why);
    return ok ? 0 : 1;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "gen")) return data_gen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check")) return data_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "shard")) return data_shard(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stats")) return data_stats(argc - 1, argv + 1);
    if (!strcmp(argv[1], "distill")) return data_distill(argc - 1, argv + 1);
    cli_fail("data", "unknown subcommand '%s' (gen, check, shard, stats or distill)", argv[1]);
    return 2;
}
