/* cmd_data_shard.c — `r1c data shard` (JSONL texts -> token shards, src/train/shard.h) and
 * `r1c data stats` (a dataset's sizes, document lengths, and the loader's speed on it).
 *   r1c data shard --tokenizer DIR --out DATASET_DIR [--shard-tokens 1000000] [--field text]
 *                  [--name NAME] FILE.jsonl...
 *   r1c data stats DATASET_DIR [--batch 8 --seq-len 256 --batches 0]  */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/loader.h"
#include "train/shard.h"

int data_shard(int argc, char **argv);
int data_stats(int argc, char **argv);

static const char *C = "data";

/* Adds every line of one JSONL file; 0 after printing a message naming file and line. */
static int shard_file(r1c_dataset_writer *w, const r1c_tokenizer *tok, const char *path, const char *field,
                      uint64_t *docs) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(C, "%s: %s", path, strerror(errno)), 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int ok = 1;
    while (ok && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)n) continue; /* blank */
        cJSON *o = cJSON_ParseWithLength(line, (size_t)n);
        const cJSON *t = o ? cJSON_GetObjectItemCaseSensitive(o, field) : NULL;
        if (!o) ok = !cli_fail(C, "%s line %ld: not valid JSON", path, lineno);
        else if (!cJSON_IsString(t)) ok = !cli_fail(C, "%s line %ld: no string member '%s'", path, lineno, field);
        else if (r1c_dataset_writer_add_text(w, tok, t->valuestring, strlen(t->valuestring)) != R1C_OK)
            ok = !cli_fail(C, "%s line %ld: %s", path, lineno, r1c_last_error());
        else (*docs)++;
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return ok;
}

/* The last path component of dir (the dataset's default name). */
static const char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    static char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)n, dir);
    char *s = strrchr(buf, '/');
    return s && s[1] ? s + 1 : buf;
}

int data_shard(int argc, char **argv) {
    const char *tokdir = NULL, *out = NULL, *field = "text", *name = NULL;
    long shard_tokens = 1000000;
    const char **files = calloc((size_t)argc, sizeof *files);
    int n_files = 0;
    if (!files) return cli_fail(C, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: r1c data shard --tokenizer DIR --out DATASET_DIR [--shard-tokens 1000000] [--field text]\n"
                 "                      [--name NAME] FILE.jsonl...\n"
                 "each line's FIELD string becomes one document: BOS + tokens + EOS (format: src/train/shard.h)");
            return free(files), 0;
        }
        if (a[0] != '-') {
            files[n_files++] = a;
            continue;
        }
        if (!(v = cli_value(C, argc, argv, &i, "--tokenizer --out --shard-tokens --field --name")) ||
            (!strcmp(a, "--shard-tokens") && !cli_int(C, a, v, 1, 1L << 40, &shard_tokens)))
            return free(files), 2;
        if (!strcmp(a, "--tokenizer")) tokdir = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--field")) field = v;
        else if (!strcmp(a, "--name")) name = v;
    }
    if (!tokdir || !out || !n_files) {
        cli_fail(C, "shard needs %s", !tokdir ? "--tokenizer DIR" : !out ? "--out DATASET_DIR" : "input FILE.jsonl");
        return free(files), 2;
    }
    r1c_tokenizer *tok = NULL;
    if (r1c_tokenizer_load(tokdir, &tok) != R1C_OK) return free(files), cli_fail(C, "%s", r1c_last_error());
    r1c_dataset_writer *w = NULL;
    int rc = 0;
    double t0 = cli_now();
    uint64_t docs = 0;
    if (r1c_dataset_writer_new(out, name ? name : base_name(out), (uint32_t)r1c_tokenizer_n_vocab(tok),
                               r1c_tokenizer_bos(tok), r1c_tokenizer_eos(tok), (uint64_t)shard_tokens, &w) != R1C_OK)
        rc = cli_fail(C, "%s", r1c_last_error());
    for (int i = 0; !rc && i < n_files; i++)
        if (!shard_file(w, tok, files[i], field, &docs)) rc = 1;
    r1c_dataset_stats s;
    if (!rc && r1c_dataset_writer_finish(w, &s) != R1C_OK) rc = cli_fail(C, "%s", r1c_last_error());
    if (!rc) {
        double dt = cli_now() - t0;
        printf("documents %" PRIu64 "\ntokens %" PRIu64 "\nshards %" PRIu64 "\n", s.documents, s.tokens, s.shards);
        printf("wrote %s in %.2f s (%.0f tokens/s)\n", out, dt, (double)s.tokens / (dt + 1e-9));
    }
    r1c_dataset_writer_free(w);
    r1c_tokenizer_free(tok);
    free(files);
    return rc;
}

/* Document lengths in power-of-two buckets: [1,2) [2,4) ... */
static void print_histogram(const r1c_dataset *d) {
    uint64_t buckets[64] = {0}, mn = UINT64_MAX, mx = 0, n = r1c_dataset_n_docs(d);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = r1c_dataset_doc_len(d, i);
        int b = 0;
        while ((len >> (b + 1)) != 0) b++;
        buckets[b]++;
        mn = len < mn ? len : mn;
        mx = len > mx ? len : mx;
    }
    printf("document length: min %" PRIu64 ", mean %.1f, max %" PRIu64 "\n", mn,
           (double)r1c_dataset_n_tokens(d) / (double)n, mx);
    uint64_t top = 0;
    for (int b = 0; b < 64; b++) top = buckets[b] > top ? buckets[b] : top;
    for (int b = 0; b < 64; b++) {
        if (!buckets[b]) continue;
        int bar = (int)(40.0 * (double)buckets[b] / (double)top + 0.5);
        printf("  %8" PRIu64 " - %-8" PRIu64 " %10" PRIu64 " %.*s\n", (uint64_t)1 << b, ((uint64_t)2 << b) - 1,
               buckets[b], bar, "########################################");
    }
}

/* Times the loader over the dataset: batches/s and tokens/s as the trainer would see them. */
static int bench_loader(const char *dir, long B, long T, long n) {
    r1c_loader_params p = {.batch = (int)B, .seq_len = (int)T, .seed = 1, .dataset_dir = dir};
    r1c_loader *L;
    if (r1c_loader_open(&p, NULL, &L) != R1C_OK) return cli_fail(C, "%s", r1c_last_error());
    double t0 = cli_now();
    const r1c_batch *b;
    for (long i = 0; i < n; i++) r1c_loader_next(L, &b);
    double dt = cli_now() - t0;
    printf("loader: %ld batches of %ld x %ld in %.3f s: %.0f batches/s, %.0f tokens/s\n", n, B, T + 1, dt,
           (double)n / (dt + 1e-9), (double)n * B * (T + 1) / (dt + 1e-9));
    r1c_loader_close(L);
    return 0;
}

int data_stats(int argc, char **argv) {
    const char *dir = NULL;
    long B = 8, T = 256, n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return puts("usage: r1c data stats DATASET_DIR [--batch 8 --seq-len 256 --batches N (time the loader)]"), 0;
        if (a[0] != '-') {
            dir = a;
            continue;
        }
        if (!(v = cli_value(C, argc, argv, &i, "--batch --seq-len --batches")) ||
            (!strcmp(a, "--batch") && !cli_int(C, a, v, 1, 1 << 16, &B)) ||
            (!strcmp(a, "--seq-len") && !cli_int(C, a, v, 1, 1 << 20, &T)) ||
            (!strcmp(a, "--batches") && !cli_int(C, a, v, 0, 1L << 30, &n)))
            return 2;
    }
    if (!dir) return cli_fail(C, "stats needs DATASET_DIR"), 2;
    r1c_dataset *d;
    if (r1c_dataset_open(dir, &d) != R1C_OK) return cli_fail(C, "%s", r1c_last_error());
    printf("name %s\nvocab %" PRIu32 " (bos %d, eos %d)\nshards %d\ndocuments %" PRIu64 "\ntokens %" PRIu64 "\n",
           r1c_dataset_name(d), r1c_dataset_vocab(d), r1c_dataset_bos(d), r1c_dataset_eos(d), r1c_dataset_n_shards(d),
           r1c_dataset_n_docs(d), r1c_dataset_n_tokens(d));
    print_histogram(d);
    r1c_dataset_close(d);
    return n > 0 ? bench_loader(dir, B, T, n) : 0;
}
