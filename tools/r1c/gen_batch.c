/* gen_batch.c — many completions decoded together (`r1c eval`'s problems and samples, `r1c rl`'s
 * rollouts).
 *
 * Each sequence gets its own context of the one model; the prompts are evaluated, then every step
 * draws one token per running sequence (its own sampler) and runs one forward pass over all of
 * them (r1c_eval_batch: the weights are read once per pass instead of once per sequence). Each
 * sequence's logits are bit-identical to decoding it alone, so a completion depends only on its
 * prompt and its sampler, never on what it was batched with. A model that cannot batch sequences
 * evaluates them one after the other with the same results. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cli.h"

enum {
    CHUNK = 64, /* tokens per forward pass (and each context's n_batch) */
    WAVE = 128  /* sequences in flight at once: their KV caches are what memory holds */
};

static int text_add(cli_completion *o, const char *s, size_t n) {
    if (o->len + n + 1 > o->cap) {
        size_t c = o->cap ? o->cap * 2 : 1024;
        while (c < o->len + n + 1) c *= 2;
        char *t = realloc(o->text, c);
        if (!t) return 0;
        o->text = t, o->cap = c;
    }
    memcpy(o->text + o->len, s, n);
    o->len += n;
    o->text[o->len] = 0;
    return 1;
}

void cli_completion_free(cli_completion *o) {
    free(o->text), free(o->ids);
    memset(o, 0, sizeof *o);
}

/* n tokens, token i for seqs[i], in passes of at most `chunk` (<= every context's n_batch) */
static r1c_status eval_tokens(r1c_ctx **seqs, const int32_t *ids, int n, int batched, int chunk) {
    r1c_status st = R1C_OK;
    for (int i = 0; st == R1C_OK && i < n;) {
        if (batched) {
            const int k = n - i < chunk ? n - i : chunk;
            st = r1c_eval_batch(seqs + i, ids + i, k);
            i += k;
        } else { /* one context's consecutive tokens per call */
            int k = 1;
            while (i + k < n && k < chunk && seqs[i + k] == seqs[i]) k++;
            st = r1c_eval(seqs[i], ids + i, k, 0);
            i += k;
        }
    }
    return st;
}

/* Adds a drawn token; 1 when the completion ends with it: EOS (kept in ids, not in text), or the
 * text now holds "</answer>" (a base model would go on to another problem). */
static int take_token(cli_completion *o, r1c_detok_stream *ds, const r1c_model *m, int32_t id, r1c_status *st) {
    o->ids[o->n_ids++] = id;
    if (r1c_model_is_eos(m, id)) return 1;
    size_t n;
    const char *piece = r1c_detok_stream_push(ds, id, &n);
    if (piece && n && !text_add(o, piece, n)) *st = R1C_ERR_NOMEM;
    return o->len >= 9 && strstr(o->text + (o->len > 24 ? o->len - 24 : 0), "</answer>") != NULL;
}

static r1c_status complete_wave(const r1c_model *m, int n, int32_t *const *prompt, const int *n_prompt, r1c_sampler *const *s,
                                int max_new, int n_threads, cli_completion *out) {
    int longest = 0;
    long total = 0;
    for (int i = 0; i < n; i++) {
        if (n_prompt[i] < 1) return r1c_error(R1C_ERR_INVALID_ARG, "generation: sequence %d has an empty prompt", i);
        longest = n_prompt[i] > longest ? n_prompt[i] : longest, total += n_prompt[i];
    }
    r1c_ctx **cx = calloc((size_t)n, sizeof *cx), **seqs = malloc(sizeof *seqs * (size_t)(total > n ? total : n));
    r1c_detok_stream **ds = calloc((size_t)n, sizeof *ds);
    int32_t *ids = malloc(sizeof *ids * (size_t)(total > n ? total : n));
    int *live = malloc(sizeof *live * (size_t)n);
    r1c_status st = cx && seqs && ds && ids && live ? R1C_OK : R1C_ERR_NOMEM;
    const int batched = r1c_model_batches_sequences(m);
    const r1c_ctx_params cp = {.n_ctx = longest + max_new + 1, .n_threads = n_threads, .n_batch = CHUNK};
    const int chunk = cp.n_ctx < CHUNK ? cp.n_ctx : CHUNK; /* (a context's n_batch is at most its n_ctx) */
    for (int i = 0; st == R1C_OK && i < n; i++) {
        st = r1c_ctx_new(m, &cp, &cx[i]);
        if (st == R1C_OK) st = r1c_detok_stream_new(r1c_model_tokenizer(m), 0, &ds[i]);
        if (st == R1C_OK && !(out[i].ids = malloc(sizeof(int32_t) * (size_t)(max_new > 0 ? max_new : 1)))) st = R1C_ERR_NOMEM;
        if (st == R1C_OK && !text_add(&out[i], "", 0)) st = R1C_ERR_NOMEM;
    }
    if (st == R1C_OK) { /* the prompts, sequence after sequence */
        long k = 0;
        for (int i = 0; i < n; i++)
            for (int t = 0; t < n_prompt[i]; t++) seqs[k] = cx[i], ids[k++] = prompt[i][t];
        st = eval_tokens(seqs, ids, (int)k, batched, chunk);
    }
    for (int i = 0; live && i < n; i++) live[i] = max_new > 0;
    for (int step = 0; st == R1C_OK; step++) {
        int k = 0;
        for (int i = 0; i < n && st == R1C_OK; i++) {
            if (!live[i]) continue;
            const int32_t id = r1c_sampler_sample(s[i], r1c_logits(cx[i], -1));
            if (take_token(&out[i], ds[i], m, id, &st) || out[i].n_ids >= max_new || r1c_ctx_n_past(cx[i]) >= r1c_ctx_n_ctx(cx[i]))
                live[i] = 0;
            else seqs[k] = cx[i], ids[k++] = id;
        }
        if (!k) break;
        if (st == R1C_OK) st = eval_tokens(seqs, ids, k, batched, chunk);
    }
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *rest = ds && ds[i] ? r1c_detok_stream_flush(ds[i], &len) : NULL;
        if (st == R1C_OK && rest && len && !text_add(&out[i], rest, len)) st = R1C_ERR_NOMEM;
        if (ds && ds[i]) r1c_detok_stream_free(ds[i]);
        if (cx && cx[i]) r1c_ctx_free(cx[i]);
    }
    if (st == R1C_ERR_NOMEM) r1c_error(st, "generation: out of memory");
    free(cx), free(seqs), free(ds), free(ids), free(live);
    return st;
}

r1c_status cli_complete_many(const r1c_model *m, int n, int32_t *const *prompt, const int *n_prompt, r1c_sampler *const *s,
                             int max_new, int n_threads, cli_completion *out) {
    if (n > 0) memset(out, 0, sizeof *out * (size_t)n);
    r1c_status st = R1C_OK;
    for (int i = 0; st == R1C_OK && i < n; i += WAVE)
        st = complete_wave(m, n - i < WAVE ? n - i : WAVE, prompt + i, n_prompt + i, s + i, max_new, n_threads, out + i);
    return st;
}
