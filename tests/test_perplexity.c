/* test_perplexity.c — `r1c perplexity` against a recomputation of its protocol through the
 * public API: the text tokenized with add_special_tokens, special-token text read as text;
 * chunks of N_CTX tokens, each from an empty cache with its first token replaced by BOS,
 * evaluated one token at a time (decode, not the command's batched prefill); positions
 * N_CTX/2 .. N_CTX-2 scored with -log softmax in double, by a two-pass log-sum-exp written
 * apart from the command's. The running values, the estimate and its uncertainty
 * (PPL * sqrt((E[nll^2] - E[nll]^2) / (count - 1))) must agree to 1e-6 relative; the command
 * prints 4 and 5 decimals, which on the tiny random model (PPL in the hundreds) is finer. */
#include <math.h>

#include "r1c.h"
#include "test_util.h"

#define N_CTX 32
#define N_CHUNK 3

static const char *MODEL = "tests/data/qwen2_tiny";

static double nll_of(const float *logits, int V, int tok) {
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = fmaxf(mx, logits[i]);
    double s = 0;
    for (int i = V - 1; i >= 0; i--) s += exp((double)logits[i] - (double)mx);
    return -(((double)logits[tok] - (double)mx) - log(s));
}

static int rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

int main(void) {
    const char *tmp = test_tmpdir("perplexity");
    char path[1200], cmd[4096];
    snprintf(path, sizeof path, "%s/text.txt", tmp);

    /* the text: this repository's README, with special-token text that must stay text */
    size_t rl;
    char *readme = read_file("README.md", &rl);
    CHECK(readme != NULL, "README.md");
    if (!readme) return test_summary("test_perplexity");
    const char *sp = "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
    size_t sl = strlen(sp), tl = sl + (rl < 8000 ? rl : 8000);
    char *text = xmalloc(tl);
    memcpy(text, sp, sl);
    memcpy(text + sl, readme, tl - sl);
    CHECK(write_file(path, text, tl), "%s", path);

    /* the command */
    const char *bin = getenv("R1C_BIN");
    if (!bin) bin = "build/r1c";
    snprintf(cmd, sizeof cmd, "%s perplexity -m %s -f %s -c %d --chunks %d -t 2 2>/dev/null", bin, MODEL, path,
             N_CTX, N_CHUNK);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "popen %s", cmd);
    char out[8192] = "";
    size_t n_out = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n_out] = 0;
    int status = p ? pclose(p) : -1;
    CHECK(status == 0, "%s: status %d: %s", cmd, status, out);
    double run[N_CHUNK + 1] = {0}, ppl_cmd = NAN, err_cmd = NAN;
    for (int i = 1; i <= N_CHUNK; i++) {
        char key[16];
        snprintf(key, sizeof key, "[%d]", i);
        const char *at = strstr(out, key);
        CHECK(at && sscanf(at + strlen(key), "%lf", &run[i]) == 1, "no %s in: %s", key, out);
    }
    const char *fe = strstr(out, "Final estimate: PPL = ");
    CHECK(fe && sscanf(fe, "Final estimate: PPL = %lf +/- %lf", &ppl_cmd, &err_cmd) == 2, "final line: %s", out);

    /* the recomputation */
    r1c_model *m = NULL;
    r1c_ctx *c = NULL;
    CHECK(r1c_model_load(MODEL, NULL, &m) == R1C_OK, "%s", r1c_last_error());
    r1c_ctx_params cp = {.n_ctx = N_CTX, .n_threads = 1};
    CHECK(m && r1c_ctx_new(m, &cp, &c) == R1C_OK, "%s", r1c_last_error());
    if (!c) {
        r1c_model_free(m);
        free(text), free(readme);
        return test_summary("test_perplexity");
    }
    const r1c_tokenizer *tok = r1c_model_tokenizer(m);
    const int V = r1c_model_n_vocab(m);
    const int32_t bos = r1c_tokenizer_bos(tok);
    int32_t *ids = NULL;
    int n = 0;
    CHECK(r1c_tokenize(tok, text, tl, R1C_TOK_ADD_SPECIAL | R1C_TOK_NO_PARSE_SPECIAL, &ids, &n) == R1C_OK, "%s",
          r1c_last_error());
    CHECK(n >= N_CHUNK * N_CTX && bos >= 0 && ids[0] == bos, "%d tokens, bos %d", n, bos);
    CHECK(n > 1 && ids[1] != r1c_token_id(tok, sp), "the special-token text became the special token");

    double nll = 0, nll2 = 0;
    int count = 0;
    for (int k = 0; k < N_CHUNK && n >= N_CHUNK * N_CTX; k++) {
        const int32_t *chunk = ids + k * N_CTX;
        CHECK(r1c_ctx_truncate(c, 0) == R1C_OK, "truncate");
        for (int j = 0; j < N_CTX - 1; j++) {
            int32_t t = j == 0 ? bos : chunk[j];
            CHECK(r1c_eval(c, &t, 1, 0) == R1C_OK, "%s", r1c_last_error());
            if (j < N_CTX / 2) continue;
            double v = nll_of(r1c_logits(c, -1), V, chunk[j + 1]);
            nll += v, nll2 += v * v, count++;
        }
        double ppl_k = exp(nll / count);
        CHECK(rel_close(run[k + 1], ppl_k, 1e-6), "[%d]: command %.6f, recomputed %.6f", k + 1, run[k + 1], ppl_k);
    }
    CHECK(count == N_CHUNK * (N_CTX - 1 - N_CTX / 2), "scored %d", count);
    double mean = nll / count, ppl = exp(mean);
    double err = ppl * sqrt((nll2 / count - mean * mean) / (count - 1));
    CHECK(ppl > 50, "PPL %.4f: too small for 4 printed decimals to check 1e-6", ppl);
    CHECK(rel_close(ppl_cmd, ppl, 1e-6), "PPL: command %.6f, recomputed %.6f", ppl_cmd, ppl);
    CHECK(rel_close(err_cmd, err, 1e-6), "uncertainty: command %.6f, recomputed %.6f", err_cmd, err);
    fprintf(stderr, "PPL over %d chunks of %d: %.6f +/- %.6f (command: %.4f +/- %.5f)\n", N_CHUNK, N_CTX, ppl, err,
            ppl_cmd, err_cmd);

    free(ids);
    r1c_ctx_free(c);
    r1c_model_free(m);
    free(text);
    free(readme);
    return test_summary("test_perplexity");
}
