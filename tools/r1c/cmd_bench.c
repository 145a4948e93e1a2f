/* cmd_bench.c — `r1c bench`: prompt processing (pp) and generation (tg) speed, as llama-bench
 * measures them: pp = one batched evaluation of n_prompt random tokens into an empty cache;
 * tg = n_gen tokens evaluated one at a time from an empty cache. One warm-up run, then
 * `-r` timed repetitions; mean and standard deviation of tokens/s. JSON uses llama-bench's
 * field names so the two tools' outputs compare directly.
 * -b B (B > 1) also measures batched generation, as a server with B users runs it: B sequences,
 * each n_gen tokens, every step one r1c_eval_batch over one token of each; t/s counts all B. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>

#include "cli.h"

static const char *USAGE =
    "usage: r1c bench -m DIR [-p 512] [-n 128] [-b 1] [-r 3] [-t N[,N..]] [-o md|json] [--mmap]\n"
    "  -p, -n, -b and -t take comma-separated lists; -p 0 or -n 0 skips that test.\n"
    "  -b B: generation with B sequences in each forward pass (tgN xB, t/s of all B together).\n";

typedef struct {
    int n_prompt, n_gen, n_seq, n_threads, reps;
    double *ns; /* per repetition */
    double avg_ts, sd_ts, avg_ns, sd_ns;
} result;

static uint64_t rng_state = 42;
static int32_t rand_id(int V) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((rng_state >> 33) % (uint64_t)V);
}

static int run_once(r1c_ctx *c, int V, int n_prompt, int n_gen, double *seconds) {
    int32_t *ids = malloc(sizeof *ids * (size_t)(n_prompt > 0 ? n_prompt : 1));
    if (!ids) return 0;
    for (int i = 0; i < n_prompt; i++) ids[i] = rand_id(V);
    r1c_ctx_truncate(c, 0);
    double t0 = cli_now();
    int ok = 1;
    if (n_prompt > 0) ok = r1c_eval(c, ids, n_prompt, 0) == R1C_OK;
    for (int i = 0; ok && i < n_gen; i++) {
        int32_t t = rand_id(V);
        ok = r1c_eval(c, &t, 1, 0) == R1C_OK;
    }
    *seconds = cli_now() - t0;
    free(ids);
    return ok;
}

/* n_gen steps of one token for each of n_seq sequences, every step one batched pass */
static int run_batched(r1c_ctx **cs, int n_seq, int V, int n_gen, double *seconds) {
    int32_t ids[64];
    for (int s = 0; s < n_seq; s++) r1c_ctx_truncate(cs[s], 0);
    double t0 = cli_now();
    int ok = 1;
    for (int i = 0; ok && i < n_gen; i++) {
        for (int s = 0; s < n_seq; s++) ids[s] = rand_id(V);
        ok = r1c_eval_batch(cs, ids, n_seq) == R1C_OK;
    }
    *seconds = cli_now() - t0;
    return ok;
}

/* the process's peak resident memory so far: weights + cache + scratch, no second copy */
static long long peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long long)ru.ru_maxrss * 1024;
}

static void stats(result *r) {
    int n = r->reps, tokens = r->n_prompt + r->n_gen * r->n_seq;
    double s = 0, s2 = 0, t = 0, t2 = 0;
    for (int i = 0; i < n; i++) {
        double ts = tokens / (r->ns[i] * 1e-9);
        s += r->ns[i], s2 += r->ns[i] * r->ns[i], t += ts, t2 += ts * ts;
    }
    r->avg_ns = s / n, r->avg_ts = t / n;
    r->sd_ns = n > 1 ? sqrt(fmax(0, (s2 - s * s / n) / (n - 1))) : 0;
    r->sd_ts = n > 1 ? sqrt(fmax(0, (t2 - t * t / n) / (n - 1))) : 0;
}

int cmd_bench(int argc, char **argv) {
    const char *C = "bench", *dir = NULL, *fmt = "md", *ps = "512", *ns = "128", *bs = "1", *ts = NULL;
    long reps = 3;
    int use_mmap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--mmap")) {
            use_mmap = 1;
        } else if (!(v = cli_value(C, argc, argv, &i, "-m --model -p -n -b -t -r -o"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            dir = v;
        } else if (!strcmp(a, "-p")) {
            ps = v;
        } else if (!strcmp(a, "-n")) {
            ns = v;
        } else if (!strcmp(a, "-b")) {
            bs = v;
        } else if (!strcmp(a, "-t")) {
            ts = v;
        } else if (!strcmp(a, "-r")) {
            if (!cli_int(C, a, v, 1, 1000, &reps)) return 2;
        } else if (!strcmp(a, "-o")) {
            fmt = v;
        } else {
            cli_fail(C, "unknown option '%s'", a);
            fputs(USAGE, stderr);
            return 2;
        }
    }
    int json = !strcmp(fmt, "json");
    if (!json && strcmp(fmt, "md")) return cli_fail(C, "-o must be md or json, got '%s'", fmt);
    int *pv = NULL, np, *nv = NULL, nn, *bv = NULL, nb, *tv = NULL, nt;
    char tdef[16];
    snprintf(tdef, sizeof tdef, "%d", r1c_default_threads());
    if (!cli_int_list(C, "-p", ps, 0, 1 << 20, &pv, &np) || !cli_int_list(C, "-n", ns, 0, 1 << 20, &nv, &nn) ||
        !cli_int_list(C, "-b", bs, 1, 64, &bv, &nb) ||
        !cli_int_list(C, "-t", ts ? ts : tdef, 1, 512, &tv, &nt)) {
        free(pv), free(nv), free(bv), free(tv);
        return 2;
    }
    r1c_model *m = cli_load(C, dir, use_mmap);
    if (!m) {
        free(pv), free(nv), free(bv), free(tv);
        return 1;
    }
    r1c_model_info in;
    r1c_model_get_info(m, &in);
    int max_p = 0, max_n = 0;
    for (int i = 0; i < np; i++) max_p = pv[i] > max_p ? pv[i] : max_p;
    for (int i = 0; i < nn; i++) max_n = nv[i] > max_n ? nv[i] : max_n;
    r1c_ctx_params cp = {.n_ctx = (max_p > max_n ? max_p : max_n) + 1, .n_threads = tv[0], .n_batch = 512};
    int max_b = 1;
    for (int i = 0; i < nb; i++) max_b = bv[i] > max_b ? bv[i] : max_b;
    if (max_b > 1 && max_n > 0 && !r1c_model_batches_sequences(m)) {
        fprintf(stderr, "bench: -b: this architecture runs one sequence at a time; batched tests skipped\n");
        max_b = 1;
    }
    /* batched generation: max_b contexts, the first (which does the work) with room for a step */
    r1c_ctx *cs[64] = {0}, *c = NULL;
    for (int s = 0; s < (max_b > 1 ? max_b : 1); s++) {
        r1c_ctx_params p = cp;
        if (s > 0) p.n_ctx = max_n + 1, p.n_batch = 1;
        if (r1c_ctx_new(m, &p, &cs[s]) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            for (int k = 0; k < s; k++) r1c_ctx_free(cs[k]);
            r1c_model_free(m);
            free(pv), free(nv), free(bv), free(tv);
            return 1;
        }
    }
    c = cs[0];
    const char *dtype = "?";
    for (int i = 0; i < r1c_model_n_tensors(m); i++) {
        int64_t sh[8];
        if (r1c_model_tensor(m, i, NULL, &dtype, sh) == 2) break;
    }
    char model_type[96];
    snprintf(model_type, sizeof model_type, "%s %.2fB %s", in.model_type, in.n_params / 1e9,
             in.file_type ? in.file_type : dtype);
    if (json) printf("[\n");
    else {
        printf("| model | size | params | backend | threads | mmap | test | t/s | GB/s |\n");
        printf("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
    }
    int first = 1, rc = 0;
    for (int ti = 0; ti < nt && rc == 0; ti++) {
        r1c_ctx_set_threads(c, tv[ti]);
        /* kinds: prompt sizes, then generation lengths x batch sizes */
        for (int kind = 0; kind < 2 && rc == 0; kind++) {
            int cnt = kind == 0 ? np : nn * nb;
            for (int k = 0; k < cnt && rc == 0; k++) {
                result r = {.n_prompt = kind == 0 ? pv[k] : 0, .n_gen = kind == 1 ? nv[k / nb] : 0,
                            .n_seq = kind == 1 ? bv[k % nb] : 1, .n_threads = tv[ti], .reps = (int)reps};
                if (r.n_prompt + r.n_gen == 0 || r.n_seq > max_b) continue;
                r.ns = calloc((size_t)reps, sizeof(double));
                double sec;
                for (int i = -1; i < reps && rc == 0; i++) { /* i = -1: warm-up */
                    int ok = r.n_seq > 1 ? run_batched(cs, r.n_seq, in.n_vocab, r.n_gen, &sec)
                                         : run_once(c, in.n_vocab, r.n_prompt, r.n_gen, &sec);
                    if (!ok) rc = 1;
                    else if (i >= 0) r.ns[i] = sec * 1e9;
                }
                if (rc) {
                    cli_fail(C, "%s", r1c_last_error());
                    free(r.ns);
                    break;
                }
                stats(&r);
                /* generation reads every weight once per step: effective bandwidth */
                double gbps = r.n_gen ? r.avg_ts / r.n_seq * (double)in.decode_bytes / 1e9 : 0; /* per step */
                if (json) {
                    printf("%s  {\"build_commit\": \"r1c-%s\", \"backend\": \"CPU %s\", \"model_filename\": \"%s\", "
                           "\"model_type\": \"%s\", \"model_size\": %lld, \"model_n_params\": %lld, "
                           "\"decode_bytes\": %lld, \"use_mmap\": %s, \"n_batch\": 512, \"n_threads\": %d, "
                           "\"n_prompt\": %d, \"n_gen\": %d, \"n_seq\": %d, \"avg_ns\": %.0f, \"stddev_ns\": %.0f, "
                           "\"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"gen_gbps\": %.3f, \"peak_rss_bytes\": %lld, \"samples_ns\": [",
                           first ? "" : ",\n", r1c_version(), r1c_kernel_isa(), dir, model_type,
                           (long long)in.weight_bytes, (long long)in.n_params, (long long)in.decode_bytes,
                           use_mmap ? "true" : "false", r.n_threads, r.n_prompt, r.n_gen, r.n_seq, r.avg_ns, r.sd_ns,
                           r.avg_ts, r.sd_ts, gbps, peak_rss());
                    for (int i = 0; i < reps; i++) printf("%s%.0f", i ? ", " : "", r.ns[i]);
                    printf("], \"samples_ts\": [");
                    for (int i = 0; i < reps; i++)
                        printf("%s%.6f", i ? ", " : "", (r.n_prompt + r.n_gen * r.n_seq) / (r.ns[i] * 1e-9));
                    printf("]}");
                } else {
                    char test[32], bw[32] = "-";
                    if (r.n_prompt) snprintf(test, sizeof test, "pp%d", r.n_prompt);
                    else if (r.n_seq > 1) snprintf(test, sizeof test, "tg%d x%d", r.n_gen, r.n_seq);
                    else snprintf(test, sizeof test, "tg%d", r.n_gen);
                    if (r.n_gen) snprintf(bw, sizeof bw, "%.1f", gbps);
                    printf("| %s | %.2f GiB | %.2f B | CPU %s | %d | %d | %s | %.2f ± %.2f | %s |\n", model_type,
                           in.weight_bytes / 1073741824.0, in.n_params / 1e9, r1c_kernel_isa(), r.n_threads,
                           use_mmap, test, r.avg_ts, r.sd_ts, bw);
                }
                fflush(stdout);
                first = 0;
                free(r.ns);
            }
        }
    }
    if (json) printf("\n]\n");
    free(pv), free(nv), free(bv), free(tv);
    for (int s = 0; s < 64 && cs[s]; s++) r1c_ctx_free(cs[s]);
    r1c_model_free(m);
    return rc;
}
