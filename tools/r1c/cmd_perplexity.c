/* cmd_perplexity.c — `r1c perplexity`: perplexity of a model over a text file, by the protocol of
 * llama.cpp's llama-perplexity (its default mode), so the two tools' numbers compare directly:
 *
 *  - the whole file is tokenized once, special-token text read as text, with the BOS the
 *    tokenizer adds (add_special_tokens; an EOS it would append is left out);
 *  - it is cut into n_chunk = min(--chunks, n_tokens / n_ctx) chunks of n_ctx tokens; at least
 *    2 * n_ctx tokens are required;
 *  - each chunk is evaluated alone from position 0 in an empty cache, its first token replaced
 *    by BOS when the tokenizer adds one;
 *  - positions first = n_ctx/2 .. n_ctx-2 are scored: -log softmax(logits[j])[token j+1], in
 *    double, with the maximum logit subtracted before the exponentials;
 *  - PPL = exp(mean NLL); its uncertainty is PPL times the standard error of the mean NLL,
 *    sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)).
 *
 * stdout holds the results only ("[1]12.3456,[2]..." then "Final estimate: PPL = X +/- Y"), which
 * are the same for every thread count and batch size; progress and speed go to stderr. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tokenizer/utf8.h"

static const char *USAGE =
    "usage: r1c perplexity -m MODEL -f FILE [-c 512] [-b N] [--chunks N] [-t N] [--mmap]\n"
    "  Perplexity over the text in FILE, as llama-perplexity computes it: chunks of -c tokens,\n"
    "  each evaluated from an empty cache, the second half of each scored.\n"
    "  -c N        tokens per chunk (default 512); FILE must hold at least 2*N tokens\n"
    "  -b N        most tokens per forward pass (default min(N_ctx, 2048)); the results do not\n"
    "              depend on it\n"
    "  --chunks N  score at most N chunks (default -1: all)\n"
    "  -t N        threads (default: all cores)\n";

/* The whole file; *len may be 0. NULL after a message. */
static char *slurp(const char *C, const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail(C, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *b = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!b) free(buf);
        buf = b;
        cap *= 2;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf) {
        cli_fail(C, "%s: out of memory reading the file", path);
        return NULL;
    }
    if (err) {
        cli_fail(C, "%s: cannot read: %s", path, strerror(err));
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* What add_special_tokens puts around a text: found by encoding "a" with and without it.
 * *n_pre ids go before (copied to pre, at most 8), *n_suf after. */
static int special_affixes(const r1c_tokenizer *tok, int32_t pre[8], int *n_pre, int *n_suf) {
    int32_t *with = NULL, *without = NULL;
    int nw = 0, no = 0, ok = 0;
    *n_pre = *n_suf = 0;
    if (r1c_tokenize(tok, "a", 1, R1C_TOK_ADD_SPECIAL, &with, &nw) == R1C_OK &&
        r1c_tokenize(tok, "a", 1, 0, &without, &no) == R1C_OK && nw >= no) {
        for (int p = 0; p + no <= nw && !ok; p++) {
            if (memcmp(with + p, without, sizeof(int32_t) * (size_t)no) != 0) continue;
            ok = 1;
            *n_pre = p < 8 ? p : 8;
            memcpy(pre, with, sizeof(int32_t) * (size_t)*n_pre);
            *n_suf = nw - no - p;
        }
    }
    free(with);
    free(without);
    return ok;
}

/* -log softmax(logits)[tok], in double */
static double token_nll(const float *logits, int V, int tok) {
    double mx = logits[0];
    for (int i = 1; i < V; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    return mx + log(sum) - (double)logits[tok];
}

int cmd_perplexity(int argc, char **argv) {
    const char *C = "perplexity", *dir = NULL, *file = NULL;
    long n_ctx = 512, n_batch = 0, chunks = -1, threads = 0;
    int use_mmap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--mmap")) {
            use_mmap = 1;
        } else if (!(v = cli_value(C, argc, argv, &i,
                                   "-m --model -f --file -c --ctx-size -b --batch-size --chunks -t --threads"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            dir = v;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            file = v;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            /* 3: the least that leaves a token to score (positions n_ctx/2 .. n_ctx-2) */
            if (!cli_int(C, a, v, 3, 1 << 20, &n_ctx)) return 2;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            if (!cli_int(C, a, v, 1, 1 << 20, &n_batch)) return 2;
        } else if (!strcmp(a, "--chunks")) {
            if (!cli_int(C, a, v, -1, INT_MAX, &chunks)) return 2;
            if (chunks == 0) return cli_fail(C, "--chunks must be -1 (all) or at least 1"), 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_int(C, a, v, 1, 512, &threads)) return 2;
        } else {
            cli_fail(C, "unknown option '%s'", a);
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (!file) {
        cli_fail(C, "no text: pass -f FILE");
        fputs(USAGE, stderr);
        return 2;
    }
    if (n_batch == 0) n_batch = n_ctx < 2048 ? n_ctx : 2048;
    if (n_batch > n_ctx) n_batch = n_ctx;

    /* the text first: a bad file fails before the model loads */
    size_t len = 0;
    char *text = slurp(C, file, &len);
    if (!text) return 1;
    if (len == 0) {
        free(text);
        return cli_fail(C, "%s is empty", file);
    }

    r1c_model *m = cli_load(C, dir, use_mmap);
    if (!m) {
        free(text);
        return 1;
    }
    int rc = 1, n_tok = 0;
    int32_t *toks = NULL, *buf = NULL;
    double *row_nll = NULL;
    r1c_ctx *c = NULL;
    const r1c_tokenizer *tok = r1c_model_tokenizer(m);
    r1c_model_info info;
    r1c_model_get_info(m, &info);
    const int V = r1c_model_n_vocab(m);
    if (!tok) {
        cli_fail(C, "%s has no tokenizer (tokenizer.json)", dir);
        goto done;
    }

    /* tokens: the text as llama.cpp's common_tokenize(text, add_special = true, parse_special =
     * false) has it; bytes that are not UTF-8 are read as U+FFFD */
    int32_t pre[8];
    int n_pre, n_suf;
    if (!special_affixes(tok, pre, &n_pre, &n_suf)) {
        cli_fail(C, "cannot tell which special tokens the tokenizer adds: %s", r1c_last_error());
        goto done;
    }
    const int32_t bos = r1c_tokenizer_bos(tok);
    const int add_bos = n_pre > 0 && bos >= 0 && pre[0] == bos;
    fprintf(stderr, "perplexity: tokenizing the input ..\n");
    size_t bad = r1c_utf8_check(text, len);
    if (bad != len)
        fprintf(stderr, "perplexity: %s is not valid UTF-8 (byte %zu): ill-formed bytes are read as U+FFFD\n", file, bad);
    double t0 = cli_now();
    int32_t *body = NULL;
    int n_body = 0;
    if (r1c_tokenize(tok, text, len, R1C_TOK_NO_PARSE_SPECIAL | R1C_TOK_REPLACE_INVALID, &body, &n_body) != R1C_OK) {
        cli_fail(C, "%s: %s", file, r1c_last_error());
        goto done;
    }
    if (n_body > INT_MAX - n_pre || !(toks = malloc(sizeof *toks * (size_t)(n_pre + n_body)))) {
        free(body);
        cli_fail(C, "out of memory");
        goto done;
    }
    memcpy(toks, pre, sizeof *toks * (size_t)n_pre);
    memcpy(toks + n_pre, body, sizeof *toks * (size_t)n_body);
    free(body);
    n_tok = n_pre + n_body;
    fprintf(stderr, "perplexity: %zu bytes -> %d tokens%s in %.2f s\n", len, n_tok, add_bos ? " (with BOS)" : "",
            cli_now() - t0);
    if (n_suf > 0) fprintf(stderr, "perplexity: the tokenizer's end-of-text token%s left out\n", n_suf > 1 ? "s are" : " is");

    if ((long)n_tok < 2 * n_ctx) {
        cli_fail(C, "%s tokenizes to only %d tokens; -c %ld needs at least %ld (2 x the context)", file, n_tok, n_ctx,
                 2 * n_ctx);
        goto done;
    }
    const int n_chunk_max = n_tok / (int)n_ctx;
    const int n_chunk = chunks < 0 || chunks > n_chunk_max ? n_chunk_max : (int)chunks;
    const int first = (int)n_ctx / 2, n_score = (int)n_ctx - 1 - first;
    if (n_ctx > info.max_position)
        fprintf(stderr, "perplexity: warning: the model was trained on only %d context tokens (-c %ld)\n",
                info.max_position, n_ctx);

    r1c_ctx_params cp = {.n_ctx = (int)n_ctx, .n_threads = (int)threads, .n_batch = (int)n_batch};
    if (r1c_ctx_new(m, &cp, &c) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    buf = malloc(sizeof *buf * (size_t)n_ctx);
    row_nll = malloc(sizeof *row_nll * (size_t)n_score);
    if (!buf || !row_nll) {
        cli_fail(C, "out of memory");
        goto done;
    }
    fprintf(stderr, "perplexity: calculating perplexity over %d chunks, n_ctx=%ld, batch_size=%ld, scoring %d tokens per chunk\n",
            n_chunk, n_ctx, n_batch, n_score);

    double nll = 0, nll2 = 0, t_start = cli_now();
    long count = 0;
    const int nth = threads > 0 ? (int)threads : r1c_default_threads();
    for (int i = 0; i < n_chunk; i++) {
        const int32_t *chunk = toks + (size_t)i * (size_t)n_ctx;
        memcpy(buf, chunk, sizeof *buf * (size_t)n_ctx);
        if (add_bos) buf[0] = bos;
        double tc = cli_now();
        if (r1c_ctx_truncate(c, 0) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
        for (int k = 0; k < n_ctx; k += (int)n_batch) {
            const int T = n_ctx - k < n_batch ? (int)n_ctx - k : (int)n_batch;
            /* rows scored in this batch: positions [lo, hi) */
            const int lo = k > first ? k : first, hi = k + T < n_ctx - 1 ? k + T : (int)n_ctx - 1;
            if (r1c_eval(c, buf + k, T, hi > lo) != R1C_OK) {
                cli_fail(C, "chunk %d: %s", i + 1, r1c_last_error());
                goto done;
            }
            /* each row on its own: the sum below runs in order, whatever the thread count */
#pragma omp parallel for num_threads(nth) schedule(static) if (hi - lo > 1)
            for (int j = lo; j < hi; j++) row_nll[j - first] = token_nll(r1c_logits(c, j - k), V, chunk[j + 1]);
        }
        for (int j = 0; j < n_score; j++) nll += row_nll[j], nll2 += row_nll[j] * row_nll[j];
        count += n_score;
        if (i == 0) {
            double t = cli_now() - tc;
            fprintf(stderr, "perplexity: %.2f seconds per pass - ETA %.2f minutes\n", t, t * n_chunk / 60);
        }
        printf("[%d]%.4f,", i + 1, exp(nll / (double)count));
        fflush(stdout);
    }
    printf("\n");
    double secs = cli_now() - t_start;
    const double mean = nll / (double)count, ppl = exp(mean);
    double var = nll2 / (double)count - mean * mean;
    if (count > 1 && var > 0)
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, sqrt(var / (double)(count - 1)) * ppl);
    else
        printf("Final estimate: PPL = %.4f (too few tokens for an uncertainty)\n", ppl);
    fflush(stdout);
    const long n_eval = (long)n_chunk * n_ctx;
    fprintf(stderr, "perplexity: %d chunks, %ld tokens evaluated, %ld scored, in %.2f s: %.2f tokens/s\n", n_chunk,
            n_eval, count, secs, secs > 0 ? (double)n_eval / secs : 0.0);
    rc = 0;
done:
    free(text);
    free(toks);
    free(buf);
    free(row_nll);
    r1c_ctx_free(c);
    r1c_model_free(m);
    return rc;
}
