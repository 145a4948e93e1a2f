/* ctx.c — contexts and r1c_eval. */
#include "ctx.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/error.h"
#include "../base/mem.h"
#include "../model/lora.h"

int r1c_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static r1c_status alloc_scratch(r1c_ctx *c, int n_threads) {
    size_t extra = c->m->arch->scratch_extra ? c->m->arch->scratch_extra(c->m) : 0;
    size_t floats = r1c_exec_scratch_floats(c->n_ctx, extra);
    float **s = calloc((size_t)n_threads, sizeof *s);
    if (!s) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_threads; i++)
        if (!(s[i] = r1c_alloc(floats * sizeof(float)))) {
            for (int j = 0; j < i; j++) r1c_free(s[j]);
            free(s);
            return r1c_error(R1C_ERR_NOMEM, "out of memory for thread scratch");
        }
    for (int i = 0; i < c->max_threads; i++) r1c_free(c->ex.scratch[i]);
    free(c->ex.scratch);
    c->ex.scratch = s;
    c->ex.scratch_floats = floats;
    c->max_threads = n_threads;
    return R1C_OK;
}

r1c_status r1c_ctx_new(const r1c_model *m, const r1c_ctx_params *params, r1c_ctx **out) {
    *out = NULL;
    if (!m) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_ctx_new: no model");
    const r1c_hf_config *cfg = &m->cfg;
    r1c_ctx_params p = params ? *params : (r1c_ctx_params){0};
    if (p.n_ctx < 0 || p.n_threads < 0 || p.n_batch < 0)
        return r1c_error(R1C_ERR_INVALID_ARG, "context parameters must not be negative");
    if (p.n_ctx == 0) p.n_ctx = cfg->max_position_embeddings < 4096 ? cfg->max_position_embeddings : 4096;
    if (p.n_threads == 0) p.n_threads = r1c_default_threads();
    if (p.n_threads > 512) p.n_threads = 512;
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;

    r1c_ctx *c = calloc(1, sizeof *c);
    if (!c) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->ex.n_threads = p.n_threads;
    r1c_lora_attach(&c->ex, m->lora);

    const int64_t D = cfg->hidden_size, F = cfg->intermediate_size, hd = cfg->head_dim;
    const int64_t qd = (int64_t)cfg->num_attention_heads * hd, kvd = m->arch->kv_floats_per_token(m);
    const int64_t B = p.n_batch, V = cfg->vocab_size;
    const int64_t vd = m->arch->v_floats_per_token(m);
    c->cache_bytes = sizeof(float) * (size_t)cfg->num_hidden_layers * (size_t)p.n_ctx * (size_t)kvd;
    c->v_cache_bytes = sizeof(float) * (size_t)cfg->num_hidden_layers * (size_t)p.n_ctx * (size_t)vd;
    c->k_cache = r1c_big_alloc(c->cache_bytes);
    c->v_cache = vd && c->k_cache ? r1c_big_alloc(c->v_cache_bytes) : NULL;
    int ok = c->k_cache && (c->v_cache || !vd);
    float **bufs[] = {&c->x, &c->xb, &c->xb2, &c->q, &c->k, &c->v, &c->att, &c->hb, &c->hb2, &c->rope_cos, &c->rope_sin};
    int64_t widths[] = {D, D, D, qd, kvd, kvd, qd, F, F, hd / 2, hd / 2};
    for (size_t i = 0; ok && i < sizeof bufs / sizeof *bufs; i++)
        ok = (*bufs[i] = r1c_alloc(sizeof(float) * (size_t)(B * widths[i]))) != NULL;
    c->logits_cap = 1;
    ok = ok && (c->logits = r1c_alloc(sizeof(float) * (size_t)V)) != NULL;
    if (!ok || alloc_scratch(c, p.n_threads) != R1C_OK) {
        r1c_ctx_free(c);
        return r1c_error(R1C_ERR_NOMEM, "out of memory creating a context of %d tokens", p.n_ctx);
    }
    *out = c;
    return R1C_OK;
}

void r1c_ctx_free(r1c_ctx *c) {
    if (!c) return;
    r1c_big_free(c->k_cache, c->cache_bytes);
    r1c_big_free(c->v_cache, c->v_cache_bytes);
    r1c_free(c->arch_buf);
    float *bufs[] = {c->x, c->xb, c->xb2, c->q, c->k, c->v, c->att, c->hb, c->hb2, c->rope_cos, c->rope_sin, c->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) r1c_free(bufs[i]);
    for (int i = 0; i < c->max_threads; i++) r1c_free(c->ex.scratch[i]);
    free(c->ex.scratch);
    free(c);
}

int r1c_ctx_n_ctx(const r1c_ctx *c) { return c->n_ctx; }

r1c_status r1c_ctx_set_lora(r1c_ctx *c, const r1c_lora *a) {
    if (!c) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_ctx_set_lora: no context");
    if (a && a->m != c->m) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_ctx_set_lora: the adapter (%s) was loaded for another model", a->dir);
    r1c_lora_attach(&c->ex, a);
    return R1C_OK;
}
int r1c_ctx_n_past(const r1c_ctx *c) { return c->n_past; }

void r1c_ctx_set_threads(r1c_ctx *c, int n) {
    if (n <= 0) n = r1c_default_threads();
    if (n > 512) n = 512;
    if (n > c->max_threads && alloc_scratch(c, n) != R1C_OK) n = c->max_threads;
    c->ex.n_threads = n;
}

r1c_status r1c_ctx_truncate(r1c_ctx *c, int n_keep) {
    if (n_keep < 0 || n_keep > c->n_past)
        return r1c_error(R1C_ERR_INVALID_ARG, "cannot keep %d tokens of %d cached", n_keep, c->n_past);
    c->n_past = n_keep; /* later positions are overwritten before they are read */
    return R1C_OK;
}

r1c_status r1c_eval(r1c_ctx *c, const int32_t *ids, int n, int all_logits) {
    if (!c || (!ids && n > 0) || n < 0) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_eval: bad arguments");
    if (n == 0) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_eval: no tokens");
    const int V = c->m->cfg.vocab_size;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return r1c_error(R1C_ERR_INVALID_ARG, "token id %d (at %d) is outside the vocabulary [0, %d)",
                             ids[i], i, V);
    if ((int64_t)c->n_past + n > c->n_ctx)
        return r1c_error(R1C_ERR_CONTEXT_FULL, "context full: %d cached + %d new tokens > %d",
                         c->n_past, n, c->n_ctx);
    size_t rows = all_logits ? (size_t)n : 1;
    if (rows > c->logits_cap) {
        float *l = r1c_alloc(sizeof(float) * rows * (size_t)V);
        if (!l) return r1c_error(R1C_ERR_NOMEM, "out of memory for %zu rows of logits", rows);
        r1c_free(c->logits);
        c->logits = l;
        c->logits_cap = rows;
    }
    c->n_logits = 0;
    for (int i = 0; i < n; i += c->n_batch) {
        int T = n - i < c->n_batch ? n - i : c->n_batch;
        int last_chunk = i + T == n;
        float *dst = all_logits ? c->logits + (size_t)i * V : c->logits;
        r1c_status st = c->m->arch->forward(c, ids + i, T, (all_logits || last_chunk) ? dst : NULL, all_logits);
        if (st != R1C_OK) return st;
        c->n_past += T;
    }
    c->n_logits = (int)rows;
    return R1C_OK;
}

r1c_status r1c_eval_batch(r1c_ctx *const *seqs, const int32_t *ids, int n) {
    if (!seqs || !ids || n <= 0) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_eval_batch: bad arguments");
    r1c_ctx *host = seqs[0];
    const r1c_model *m = host->m;
    if (!m->arch->batch_sequences)
        return r1c_error(R1C_ERR_UNSUPPORTED, "r1c_eval_batch: %s models evaluate one sequence at a time", m->arch->model_type);
    if (n > host->n_batch) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_eval_batch: %d tokens > n_batch %d", n, host->n_batch);
    const int V = m->cfg.vocab_size;
    int *pos = malloc(sizeof(int) * (size_t)n), *last = malloc(sizeof(int) * (size_t)n);
    if (!pos || !last) {
        free(pos), free(last);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    r1c_status st = R1C_OK;
    for (int i = 0; i < n && st == R1C_OK; i++) {
        if (!seqs[i] || seqs[i]->m != m) st = r1c_error(R1C_ERR_INVALID_ARG, "r1c_eval_batch: token %d's sequence is not of this model", i);
        else if (seqs[i]->ex.after_mm_user != host->ex.after_mm_user) /* one forward pass: one adapter */
            st = r1c_error(R1C_ERR_INVALID_ARG, "r1c_eval_batch: token %d's sequence has another LoRA adapter than the first's", i);
        else if (ids[i] < 0 || ids[i] >= V)
            st = r1c_error(R1C_ERR_INVALID_ARG, "token id %d (at %d) is outside the vocabulary [0, %d)", ids[i], i, V);
        if (st != R1C_OK) break;
        /* a sequence's tokens take its next positions in batch order */
        int k = 0;
        last[i] = 1;
        for (int j = 0; j < i; j++)
            if (seqs[j] == seqs[i]) k++, last[j] = 0;
        pos[i] = seqs[i]->n_past + k;
        if (pos[i] >= seqs[i]->n_ctx)
            st = r1c_error(R1C_ERR_CONTEXT_FULL, "context full: token %d would be at position %d of %d", i, pos[i], seqs[i]->n_ctx);
        else if (seqs[i]->logits_cap < 1) {
            float *l = r1c_alloc(sizeof(float) * (size_t)V);
            if (!l) st = r1c_error(R1C_ERR_NOMEM, "out of memory for logits");
            else seqs[i]->logits = l, seqs[i]->logits_cap = 1;
        }
    }
    if (st == R1C_OK && (size_t)n > host->logits_cap) {
        float *l = r1c_alloc(sizeof(float) * (size_t)n * (size_t)V);
        if (!l) st = r1c_error(R1C_ERR_NOMEM, "out of memory for %d rows of logits", n);
        else {
            /* (row 0 is host's own last logits only if host is not in the batch again: nothing to keep) */
            r1c_free(host->logits);
            host->logits = l;
            host->logits_cap = (size_t)n;
        }
    }
    if (st == R1C_OK) {
        host->seqs = seqs, host->seq_pos = pos, host->seq_last = last;
        st = m->arch->forward(host, ids, n, host->logits, 1);
        host->seqs = NULL, host->seq_pos = NULL, host->seq_last = NULL;
    }
    if (st == R1C_OK) {
        /* one row per sequence (its last token's), in batch order, to its context; the host's own
         * row (any of them) moves to its row 0 after the others are copied out */
        int host_row = -1;
        for (int i = 0, r = 0; i < n; i++) {
            if (!last[i]) continue;
            if (seqs[i] == host) host_row = r;
            else memcpy(seqs[i]->logits, host->logits + (size_t)r * V, sizeof(float) * (size_t)V);
            r++;
        }
        if (host_row > 0) memmove(host->logits, host->logits + (size_t)host_row * V, sizeof(float) * (size_t)V);
        for (int i = 0; i < n; i++) {
            seqs[i]->n_past++;
            seqs[i]->n_logits = 1;
        }
    }
    free(pos), free(last);
    return st;
}

int r1c_model_batches_sequences(const r1c_model *m) { return m && m->arch->batch_sequences; }

const float *r1c_logits(const r1c_ctx *c, int i) {
    if (!c || c->n_logits == 0) return NULL;
    if (i < 0) i += c->n_logits;
    if (i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * (size_t)c->m->cfg.vocab_size;
}
