/* test_batch.c — r1c_eval_batch: one forward pass for one token of each of several sequences
 * gives each sequence the logits it gets alone, bit for bit (the server's batch invariance), for
 * the dense architectures and DeepSeek's,
 * while sequences of different lengths join and leave the batch between steps and one of them
 * gives several tokens (a piece of a prompt); bad calls are refused with a message. */
#include "r1c.h"
#include "test_util.h"

enum { NS = 6, STEPS = 12 };

static int32_t argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void test_model(const char *path, int threads) {
    r1c_model *m;
    if (r1c_model_load(path, NULL, &m) != R1C_OK) {
        CHECK(0, "load %s: %s", path, r1c_last_error());
        return;
    }
    const int V = r1c_model_n_vocab(m);
    r1c_ctx *solo[NS], *bat[NS];
    r1c_ctx_params cp = {.n_ctx = 64, .n_threads = threads};
    int32_t next[NS];
    for (int s = 0; s < NS; s++) {
        CHECK(r1c_ctx_new(m, &cp, &solo[s]) == R1C_OK && r1c_ctx_new(m, &cp, &bat[s]) == R1C_OK, "ctx: %s", r1c_last_error());
        int32_t prompt[8];
        const int n = 1 + s % 5; /* different lengths: different positions in one batch */
        for (int i = 0; i < n; i++) prompt[i] = (int32_t)((7 * s + 13 * i + 3) % V);
        CHECK(r1c_eval(solo[s], prompt, n, 0) == R1C_OK && r1c_eval(bat[s], prompt, n, 0) == R1C_OK, "prompt: %s", r1c_last_error());
        next[s] = argmax(r1c_logits(solo[s], -1), V);
    }
    int compared = 0, batches = 0;
    for (int step = 0; step < STEPS; step++) {
        /* who is in this step's batch: everyone, except that sequence step % NS sits out every
         * third step (it leaves and comes back), and the order rotates */
        /* and sequence (step + 1) % NS gives 1 + step % 3 tokens, as a piece of a prompt does */
        r1c_ctx *in[3 * NS];
        int32_t ids[3 * NS], who[NS], cnt[NS], n = 0, nw = 0;
        /* (on odd steps the piece's later tokens come last, after the other sequences' tokens) */
        int piece = -1;
        for (int k = 0; k < NS; k++) {
            const int s = (k + step) % NS;
            if (step % 3 == 2 && s == step % NS) continue;
            cnt[nw] = s == (step + 1) % NS ? 1 + step % 3 : 1;
            if (cnt[nw] > 1) piece = nw;
            for (int i = 0; i < (cnt[nw] > 1 && step % 2 ? 1 : cnt[nw]); i++) in[n] = bat[s], ids[n++] = (int32_t)((next[s] + i) % V);
            who[nw++] = s;
        }
        for (int i = 1; piece >= 0 && step % 2 && i < cnt[piece]; i++)
            in[n] = bat[who[piece]], ids[n++] = (int32_t)((next[who[piece]] + i) % V);
        CHECK(r1c_eval_batch(in, ids, n) == R1C_OK, "batch of %d: %s", n, r1c_last_error());
        batches++;
        for (int k = 0; k < nw; k++) {
            const int s = who[k];
            int32_t mine[3];
            for (int i = 0; i < cnt[k]; i++) mine[i] = (int32_t)((next[s] + i) % V);
            CHECK(r1c_eval(solo[s], mine, cnt[k], 0) == R1C_OK, "solo: %s", r1c_last_error());
            const float *a = r1c_logits(solo[s], -1), *b = r1c_logits(bat[s], -1);
            CHECK(a && b && !memcmp(a, b, sizeof(float) * (size_t)V), "%s, %d threads, step %d: sequence %d in a batch of %d differs from alone",
                  path, threads, step, s, n);
            CHECK(r1c_ctx_n_past(solo[s]) == r1c_ctx_n_past(bat[s]), "positions");
            next[s] = argmax(a, V);
            compared++;
        }
    }
    printf("%s, %d threads: %d batches, %d sequence-steps bit-identical to alone\n", path, threads, batches, compared);

    /* refused: a bad id, a full context (a sequence's tokens count against it one by one) */
    int32_t two[2] = {1, 2};
    CHECK(r1c_eval_batch(bat, (int32_t[]){V, 0}, 2) != R1C_OK && contains(r1c_last_error(), "outside the vocabulary"), "bad id");
    r1c_ctx *full;
    r1c_ctx_params small = {.n_ctx = 16, .n_threads = threads};
    CHECK(r1c_ctx_new(m, &small, &full) == R1C_OK, "ctx");
    int32_t fill[16] = {0};
    CHECK(r1c_eval(full, fill, 16, 0) == R1C_OK, "fill");
    r1c_ctx *with_full[2] = {bat[1], full};
    CHECK(r1c_eval_batch(with_full, two, 2) == R1C_ERR_CONTEXT_FULL, "full context: %s", r1c_last_error());
    r1c_ctx *almost;
    CHECK(r1c_ctx_new(m, &small, &almost) == R1C_OK && r1c_eval(almost, fill, 15, 0) == R1C_OK, "ctx");
    r1c_ctx *two_more[2] = {almost, almost};
    CHECK(r1c_eval_batch(two_more, two, 2) == R1C_ERR_CONTEXT_FULL && r1c_ctx_n_past(almost) == 15, "two tokens into one free slot: %s",
          r1c_last_error());
    r1c_ctx_free(almost);
    r1c_ctx_free(full);
    for (int s = 0; s < NS; s++) r1c_ctx_free(solo[s]), r1c_ctx_free(bat[s]);
    r1c_model_free(m);
}

int main(void) {
    test_model("tests/data/qwen2_tiny", 1);
    test_model("tests/data/qwen2_tiny", 2);
    test_model("tests/data/llama3_tiny", 2);
    test_model("tests/data/qwen2_tiny/model-f32.gguf", 2);
    /* DeepSeek (MLA, MoE): one-token sequences take the absorbed attention, prompt pieces the
     * expanded one, each against its own latent cache; FP8 block-scaled weights too */
    test_model("tests/data/deepseek_v3/fp32", 1);
    test_model("tests/data/deepseek_v3/fp32", 2);
    test_model("tests/data/deepseek_v3/fp8", 2);
    return test_summary("test_batch");
}
