/* tokenizer_bench.c — r1c tokenizer speed: load time and single-thread encode throughput.
 *
 *   tokenizer_bench [-r REPS] [--ids FILE] CORPUS.jsonl TOKENIZER_DIR > result.json
 *
 * One tokenizer per process, so the first load is a cold one (fresh process, nothing of the
 * library warmed up; the file itself is in the page cache after the first run, as it would
 * be on any second start). Order of events, all on one thread:
 *   1. load #1 (cold), then encode each long document of the corpus once: the cold encodes;
 *   2. loads #2..#6, each freed again: their median is the warm load time;
 *   3. each document encoded REPS times (default 20): the median is the warm encode time;
 *   4. two worst cases for BPE and the pre-tokenizer: one 20480-byte "word" (all 'a') and
 *      10,000 spaces (first and median time).
 * Encoding is r1c_tokenize without flags (no BOS, special-token text parsed as usual).
 * Prints one JSON object (times in ms, sizes in bytes) for bench/tokenizer_bench.mjs; --ids
 * writes {"p362": [ids...], ...} so the JS reference can be checked against r1c's ids.
 *
 * Built by bench/bench_tokenizer.sh against libr1c.a (see the gcc line there); not part of
 * the CMake build. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "r1c.h"

#define N_LOADS 5

typedef struct doc {
    char id[16];
    char *text;
    size_t len;
    double cold_ms, warm_ms;
    int32_t *ids;
    int n_ids;
} doc;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what) {
    fprintf(stderr, "tokenizer_bench: %s: %s\n", what, r1c_last_error());
    exit(1);
}

/* The corpus's long documents (category "long_doc"), in file order. */
static int read_docs(const char *path, doc *docs, int max) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "tokenizer_bench: cannot open %s\n", path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0 && n < max) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *cat = cJSON_GetObjectItemCaseSensitive(o, "category");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (cJSON_IsString(cat) && !strcmp(cat->valuestring, "long_doc") && cJSON_IsString(id) && cJSON_IsString(text)) {
            doc *d = &docs[n++];
            snprintf(d->id, sizeof d->id, "%s", id->valuestring);
            d->text = strdup(text->valuestring);
            d->len = strlen(d->text);
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return n;
}

static double encode_ms(const r1c_tokenizer *t, const char *s, size_t len, int32_t **keep, int *n_keep) {
    int32_t *ids;
    int n;
    double t0 = now_ms();
    if (r1c_tokenize(t, s, len, 0, &ids, &n) != R1C_OK) die("r1c_tokenize");
    double ms = now_ms() - t0;
    if (keep) *keep = ids, *n_keep = n;
    else free(ids);
    return ms;
}

/* first and median-of-reps time of one text */
static void time_text(const r1c_tokenizer *t, const char *s, size_t len, int reps, double *first, double *med, int *n_ids) {
    double *v = malloc(sizeof *v * (size_t)reps);
    int32_t *ids;
    *first = encode_ms(t, s, len, &ids, n_ids);
    free(ids);
    for (int r = 0; r < reps; r++) v[r] = encode_ms(t, s, len, NULL, NULL);
    *med = median(v, reps);
    free(v);
}

int main(int argc, char **argv) {
    int reps = 20;
    const char *ids_path = NULL, *corpus = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids_path = argv[++i];
        else if (!corpus) corpus = argv[i];
        else if (!dir) dir = argv[i];
    }
    if (!corpus || !dir || reps < 1) {
        fprintf(stderr, "usage: tokenizer_bench [-r REPS] [--ids FILE] CORPUS.jsonl TOKENIZER_DIR\n");
        return 2;
    }
    doc docs[16] = {0};
    int nd = read_docs(corpus, docs, 16);
    if (nd == 0) {
        fprintf(stderr, "tokenizer_bench: no long_doc entries in %s\n", corpus);
        return 1;
    }

    /* 1. cold: the first load of the process, then the first encode of each document */
    r1c_tokenizer *t;
    double t0 = now_ms();
    if (r1c_tokenizer_load(dir, &t) != R1C_OK) die(dir);
    double load_cold = now_ms() - t0;
    for (int i = 0; i < nd; i++) docs[i].cold_ms = encode_ms(t, docs[i].text, docs[i].len, &docs[i].ids, &docs[i].n_ids);

    /* 2. warm loads */
    double loads[N_LOADS];
    for (int i = 0; i < N_LOADS; i++) {
        r1c_tokenizer *u;
        t0 = now_ms();
        if (r1c_tokenizer_load(dir, &u) != R1C_OK) die(dir);
        loads[i] = now_ms() - t0;
        r1c_tokenizer_free(u);
    }
    double load_warm = median(loads, N_LOADS);

    /* 3. warm encodes; each run's ids must be the cold run's */
    double *v = malloc(sizeof *v * (size_t)reps);
    for (int i = 0; i < nd; i++) {
        for (int r = 0; r < reps; r++) {
            int32_t *ids;
            int n;
            v[r] = encode_ms(t, docs[i].text, docs[i].len, &ids, &n);
            if (n != docs[i].n_ids || memcmp(ids, docs[i].ids, sizeof *ids * (size_t)n) != 0) {
                fprintf(stderr, "tokenizer_bench: %s: ids differ between runs\n", docs[i].id);
                return 1;
            }
            free(ids);
        }
        docs[i].warm_ms = median(v, reps);
    }
    free(v);

    /* 4. worst cases */
    enum { WORD_LEN = 20480, SPACES = 10000 };
    char *word = malloc(WORD_LEN), *spaces = malloc(SPACES);
    memset(word, 'a', WORD_LEN);
    memset(spaces, ' ', SPACES);
    double word_first, word_med, sp_first, sp_med;
    int word_ids, sp_ids;
    time_text(t, word, WORD_LEN, reps, &word_first, &word_med, &word_ids);
    time_text(t, spaces, SPACES, reps, &sp_first, &sp_med, &sp_ids);

    printf("{\"dir\": \"%s\", \"isa\": \"%s\", \"reps\": %d, \"load_cold_ms\": %.3f, \"load_warm_ms\": %.3f,\n", dir,
           r1c_kernel_isa(), reps, load_cold, load_warm);
    printf(" \"docs\": [");
    for (int i = 0; i < nd; i++)
        printf("%s\n  {\"id\": \"%s\", \"bytes\": %zu, \"n_ids\": %d, \"cold_ms\": %.4f, \"warm_ms\": %.4f}", i ? "," : "",
               docs[i].id, docs[i].len, docs[i].n_ids, docs[i].cold_ms, docs[i].warm_ms);
    printf("],\n \"word_20k\": {\"bytes\": %d, \"n_ids\": %d, \"first_ms\": %.4f, \"warm_ms\": %.4f},\n", WORD_LEN,
           word_ids, word_first, word_med);
    printf(" \"spaces_10k\": {\"bytes\": %d, \"n_ids\": %d, \"first_ms\": %.4f, \"warm_ms\": %.4f}}\n", SPACES, sp_ids,
           sp_first, sp_med);

    if (ids_path) {
        FILE *f = fopen(ids_path, "w");
        if (!f) {
            fprintf(stderr, "tokenizer_bench: cannot write %s\n", ids_path);
            return 1;
        }
        fputc('{', f);
        for (int i = 0; i < nd; i++) {
            fprintf(f, "%s\"%s\":[", i ? "," : "", docs[i].id);
            for (int k = 0; k < docs[i].n_ids; k++) fprintf(f, "%s%d", k ? "," : "", docs[i].ids[k]);
            fputc(']', f);
        }
        fputs("}\n", f);
        fclose(f);
    }
    for (int i = 0; i < nd; i++) free(docs[i].text), free(docs[i].ids);
    free(word), free(spaces);
    r1c_tokenizer_free(t);
    return 0;
}
