/* engine.c — see engine.h. One mutex guards the queues, the jobs' event lists and flags; the
 * model runs outside it, on the scheduler thread only. */
#include "engine.h"

#include "../base/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 512 /* tokens in one step's forward pass, at most */


typedef struct ev_node {
    r1c_event ev;
    struct ev_node *next;
} ev_node;

struct r1c_job {
    r1c_engine *e;
    int32_t *ids;
    int n_ids;
    r1c_job_params p;
    char *stop[R1C_ENGINE_MAX_STOP];
    /* engine side (scheduler thread only) */
    r1c_ctx *ctx;
    r1c_sampler *sampler;
    r1c_detok_stream *detok;
    r1c_think_split *split;
    int32_t last;       /* the token to evaluate next step (-1: prefill first) */
    int n_done;         /* prompt tokens in ctx's cache (prefilled a piece per step) */
    int32_t *hist;      /* the tokens in ctx's cache, in order (for the prefix cache) */
    int n_hist, cap_hist, hist_lost;
    int n_gen, n_reasoning, answer_started, saw_reasoning;
    char *held;         /* generated text not passed on yet: it may be the start of a stop string */
    size_t held_len, held_cap;
    /* shared (under e->mu) */
    ev_node *head, *tail;
    pthread_cond_t ready;
    int finished, released;
    int detached; /* out of the engine's lists: the reader's release frees it */
    struct r1c_job *next; /* in the waiting or active list */
};

struct r1c_engine {
    const r1c_model *m;
    int m_batch; /* the architecture runs several sequences in one pass (r1c_eval_batch) */
    r1c_engine_params p;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;
    r1c_job *waiting, *active;
    int n_waiting, n_active, stopping, drain, joined;
    int64_t prompt_tokens, generated_tokens, jobs_done, jobs_cancelled, cached_tokens;
    /* the prefix cache: contexts of finished jobs with the tokens they hold (scheduler thread
     * only), at most `parallel` of them, least recently used first out */
    struct pooled {
        r1c_ctx *ctx;
        int32_t *ids;
        int n, cap;
        uint64_t used;
    } *pool;
    int n_pool;
    uint64_t clock;
};

/* ------------------------------------------------------------------ events */

/* under e->mu */
static void push_locked(r1c_job *j, r1c_event_kind k, const char *text, size_t len, const char *finish) {
    ev_node *n = calloc(1, sizeof *n);
    if (!n) return; /* (the reader then misses a piece: nothing better to do without memory) */
    n->ev.kind = k;
    if (text) {
        n->ev.text = malloc(len + 1);
        if (n->ev.text) {
            memcpy(n->ev.text, text, len);
            n->ev.text[len] = 0;
            n->ev.len = len;
        }
    }
    n->ev.finish_reason = finish;
    n->ev.prompt_tokens = j->n_ids;
    n->ev.completion_tokens = j->n_gen;
    n->ev.reasoning_tokens = j->n_reasoning;
    if (j->tail) j->tail->next = n;
    else j->head = n;
    j->tail = n;
    pthread_cond_signal(&j->ready);
}

static void push(r1c_job *j, r1c_event_kind k, const char *text, size_t len, const char *finish) {
    pthread_mutex_lock(&j->e->mu);
    push_locked(j, k, text, len, finish);
    pthread_mutex_unlock(&j->e->mu);
}

static void on_text(r1c_text_kind kind, const char *text, size_t len, void *user) {
    r1c_job *j = user;
    if (!len) return;
    if (kind == R1C_TEXT_REASONING) {
        j->saw_reasoning = 1;
        push(j, R1C_EV_REASONING, text, len, NULL);
        return;
    }
    for (size_t i = 0; i < len && !j->answer_started; i++)
        j->answer_started = text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t';
    push(j, R1C_EV_ANSWER, text, len, NULL);
}

static void emit(r1c_job *j, const char *text, size_t len) {
    if (!len) return;
    if (j->split) r1c_think_split_feed(j->split, text, len, on_text, j);
    else on_text(R1C_TEXT_ANSWER, text, len, j);
}

/* Generated text goes through the stop strings first: a stop string ends the job (it and what
 * follows are dropped, as OpenAI does); a tail that could still become one is held back. Returns
 * 1 when a stop string was found. */
static int stop_filter(r1c_job *j, const char *text, size_t len, int final) {
    if (j->held_len + len + 1 > j->held_cap) {
        size_t cap = j->held_cap ? j->held_cap : 64;
        while (cap < j->held_len + len + 1) cap *= 2;
        char *h = realloc(j->held, cap);
        if (!h) return 0;
        j->held = h, j->held_cap = cap;
    }
    memcpy(j->held + j->held_len, text, len);
    j->held_len += len;
    size_t cut = j->held_len, keep = 0;
    int hit = 0;
    for (int s = 0; s < j->p.n_stop; s++) {
        const size_t sl = strlen(j->stop[s]);
        for (size_t i = 0; i + sl <= j->held_len; i++)
            if (!memcmp(j->held + i, j->stop[s], sl)) {
                if (i < cut) cut = i;
                hit = 1;
                break;
            }
    }
    if (hit) {
        emit(j, j->held, cut);
        j->held_len = 0;
        return 1;
    }
    if (!final) /* the longest tail that is a proper prefix of a stop string */
        for (int s = 0; s < j->p.n_stop; s++) {
            const size_t sl = strlen(j->stop[s]);
            for (size_t k = sl - 1; k > keep; k--)
                if (k <= j->held_len && !memcmp(j->held + j->held_len - k, j->stop[s], k)) {
                    keep = k;
                    break;
                }
        }
    emit(j, j->held, j->held_len - keep);
    memmove(j->held, j->held + j->held_len - keep, keep);
    j->held_len = keep;
    return 0;
}

/* ------------------------------------------------------------------ jobs */

static void job_free(r1c_job *j) {
    r1c_ctx_free(j->ctx);
    r1c_sampler_free(j->sampler);
    r1c_detok_stream_free(j->detok);
    r1c_think_split_free(j->split);
    for (ev_node *n = j->head, *nx; n; n = nx) {
        nx = n->next;
        free(n->ev.text);
        free(n);
    }
    for (int i = 0; i < j->p.n_stop; i++) free(j->stop[i]);
    pthread_cond_destroy(&j->ready);
    free(j->hist);
    free(j->held);
    free(j->ids);
    free(j);
}

static int hist_add(r1c_job *j, const int32_t *ids, int n) {
    if (j->n_hist + n > j->cap_hist) {
        int cap = j->cap_hist ? j->cap_hist : 256;
        while (cap < j->n_hist + n) cap *= 2;
        int32_t *h = realloc(j->hist, sizeof(int32_t) * (size_t)cap);
        if (!h) return 0;
        j->hist = h, j->cap_hist = cap;
    }
    memcpy(j->hist + j->n_hist, ids, sizeof(int32_t) * (size_t)n);
    j->n_hist += n;
    return 1;
}

static void pool_drop(r1c_engine *e, int i) {
    r1c_ctx_free(e->pool[i].ctx);
    free(e->pool[i].ids);
    e->pool[i] = e->pool[--e->n_pool];
}

/* The job's resources, once it produced its last event (scheduler thread). A context whose cache
 * is known (reuse) goes to the prefix cache with its tokens. */
static void job_close(r1c_engine *e, r1c_job *j, int reuse) {
    if (j->ctx && reuse && j->hist && e->pool) {
        if (e->n_pool == e->p.parallel) { /* full: the least recently used leaves */
            int lru = 0;
            for (int i = 1; i < e->n_pool; i++)
                if (e->pool[i].used < e->pool[lru].used) lru = i;
            pool_drop(e, lru);
        }
        e->pool[e->n_pool++] = (struct pooled){.ctx = j->ctx, .ids = j->hist, .n = j->n_hist, .cap = j->cap_hist, .used = ++e->clock};
        j->ctx = NULL, j->hist = NULL, j->n_hist = j->cap_hist = 0;
    }
    r1c_ctx_free(j->ctx);
    r1c_sampler_free(j->sampler);
    j->ctx = NULL, j->sampler = NULL;
}

static void finish(r1c_job *j, const char *reason) {
    size_t len;
    if (j->detok) {
        const char *t = r1c_detok_stream_flush(j->detok, &len);
        if (t && len && stop_filter(j, t, len, 1)) j->held_len = 0;
    }
    stop_filter(j, "", 0, 1);
    if (j->split) r1c_think_split_flush(j->split, on_text, j);
    push(j, R1C_EV_DONE, NULL, 0, reason);
}

static void fail(r1c_job *j, const char *msg) { push(j, R1C_EV_ERROR, msg, strlen(msg), NULL); }

/* A job's first step: a context and its helpers. The context comes from the prefix cache when
 * one there shares the longest prefix with this prompt (a multi-turn chat re-sends its history:
 * only the new part is evaluated; r1c's logits do not depend on how tokens were split into
 * calls), else any cached one, else a new one. 0 when it failed (error event sent). */
/* a context's n_batch: room for every decoding job plus a prompt piece as large (and at least 64
 * tokens, so that a prompt evaluated while nobody decodes goes in pieces a GEMM runs near its
 * full speed at) */
static int step_tokens(const r1c_engine *e) {
    const int n = 2 * e->p.parallel + 8 > 64 ? 2 * e->p.parallel + 8 : 64;
    return n < BATCH_MAX ? n : BATCH_MAX;
}

static int begin(r1c_engine *e, r1c_job *j) {
    const r1c_model *m = e->m;
    if (j->n_ids >= e->p.n_ctx) {
        fail(j, "the prompt does not fit the context");
        return 0;
    }
    int best = -1, lcp = 0;
    for (int i = 0; i < e->n_pool; i++) {
        const int lim = e->pool[i].n < j->n_ids - 1 ? e->pool[i].n : j->n_ids - 1; /* at least one token left to evaluate */
        int k = 0;
        while (k < lim && e->pool[i].ids[k] == j->ids[k]) k++;
        if (best < 0 || k > lcp || (k == lcp && e->pool[i].used < e->pool[best].used)) best = i, lcp = k;
    }
    if (best >= 0) {
        j->ctx = e->pool[best].ctx;
        j->hist = e->pool[best].ids, j->n_hist = lcp, j->cap_hist = e->pool[best].cap;
        e->pool[best] = e->pool[--e->n_pool];
        if (r1c_ctx_truncate(j->ctx, lcp) != R1C_OK) {
            fail(j, r1c_last_error());
            return 0;
        }
    } else {
        /* activation buffers for one step (512 tokens where prompts are evaluated whole, one
         * sequence at a time) */
        r1c_ctx_params cp = {.n_ctx = e->p.n_ctx, .n_threads = e->p.n_threads, .n_batch = e->m_batch ? step_tokens(e) : 0};
        if (r1c_ctx_new(m, &cp, &j->ctx) != R1C_OK) {
            fail(j, r1c_last_error());
            return 0;
        }
    }
    if (r1c_sampler_new(&j->p.sampling, r1c_model_n_vocab(m), &j->sampler) != R1C_OK ||
        r1c_detok_stream_new(r1c_model_tokenizer(m), 0, &j->detok) != R1C_OK ||
        (j->p.split_reasoning && r1c_think_split_new(j->p.in_reasoning, &j->split) != R1C_OK)) {
        fail(j, r1c_last_error());
        return 0;
    }
    j->n_done = lcp;
    __atomic_add_fetch(&e->cached_tokens, lcp, __ATOMIC_RELAXED);
    return 1;
}

/* n tokens of the job were evaluated (prompt pieces or its last token) */
static void evaluated(r1c_engine *e, r1c_job *j, const int32_t *ids, int n, int prompt) {
    if (!j->hist_lost && !hist_add(j, ids, n)) { /* (no memory: the context just is not cached later) */
        free(j->hist);
        j->hist = NULL, j->n_hist = j->cap_hist = 0, j->hist_lost = 1;
    }
    if (prompt) {
        j->n_done += n;
        __atomic_add_fetch(&e->prompt_tokens, n, __ATOMIC_RELAXED);
    }
}

/* With the job's logits in its context: one sampled token, its text passed on. Returns 1 while
 * the job goes on. */
static int next_token(r1c_engine *e, r1c_job *j) {
    const int32_t tok = r1c_sampler_sample(j->sampler, r1c_logits(j->ctx, -1));
    j->last = tok;
    if (r1c_model_is_eos(e->m, tok)) {
        finish(j, "stop");
        return 0;
    }
    j->n_gen++;
    __atomic_add_fetch(&e->generated_tokens, 1, __ATOMIC_RELAXED);
    /* reasoning tokens: those generated before the answer's first visible character, in a job
     * whose output has reasoning */
    const int reasoning_before = !j->answer_started && (j->p.in_reasoning || j->saw_reasoning) && j->split;
    size_t len;
    const char *t = r1c_detok_stream_push(j->detok, tok, &len);
    const int stopped = t && len && stop_filter(j, t, len, 0);
    if (reasoning_before && (!j->answer_started || j->saw_reasoning)) j->n_reasoning++;
    if (stopped) {
        push(j, R1C_EV_DONE, NULL, 0, "stop");
        return 0;
    }
    if ((j->p.max_tokens > 0 && j->n_gen >= j->p.max_tokens) || r1c_ctx_n_past(j->ctx) + 1 >= r1c_ctx_n_ctx(j->ctx)) {
        finish(j, "length");
        return 0;
    }
    return 1;
}

/* One step of the running jobs (go[i]: job i takes part; cleared for those that end; ok[i]
 * cleared when its context's state is unknown). One forward pass (r1c_eval_batch: the weights are
 * read once per step) takes every decoding job's last token plus pieces of new jobs' prompts
 * (a bounded number beside decoding jobs, see budget below), so that a long prompt slows the
 * others' next token by a bounded amount instead of stalling them. (An architecture that ran one sequence
 * at a time would get one r1c_eval per job instead, whole prompts; every one r1c has batches.) */
static void step_all(r1c_engine *e, r1c_job **jobs, int *go, int *ok, int n) {
    static r1c_ctx *ctxs[BATCH_MAX];
    static int32_t ids[BATCH_MAX];
    int take[R1C_ENGINE_MAX_PARALLEL] = {0}; /* tokens job i puts in this pass */
    const int batched = e->m_batch;
    int n_dec = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        if (!go[i]) continue;
        if (!jobs[i]->ctx && !begin(e, jobs[i])) go[i] = ok[i] = 0;
        else if (jobs[i]->n_done == jobs[i]->n_ids) n_dec++;
    }
    /* prompt tokens this step: all that fit while nobody decodes; beside decoding jobs at most
     * max(8, their number), so that a step with a prompt piece takes about twice a plain
     * decoding step at most (the others' inter-token latency) */
    const int cap = step_tokens(e); /* the contexts' n_batch */
    int budget = n_dec == 0 ? cap : n_dec > 8 ? n_dec : 8, dec_seen = 0;
    for (int i = 0; i < n; i++) {
        r1c_job *j = jobs[i];
        if (!go[i]) continue;
        if (j->n_done < j->n_ids) { /* a prompt: a piece now (all of it when not batched) */
            int t = j->n_ids - j->n_done;
            if (batched && t > budget) t = budget;
            if (batched && nb + t > cap - (n_dec - dec_seen)) t = cap - (n_dec - dec_seen) - nb; /* (room for the decoders) */
            if (t <= 0) continue;
            budget -= t;
            take[i] = t;
            for (int k = 0; k < t && batched; k++) ctxs[nb] = j->ctx, ids[nb++] = j->ids[j->n_done + k];
        } else if (nb < cap || !batched) {
            take[i] = 1, dec_seen++;
            if (batched) ctxs[nb] = j->ctx, ids[nb++] = j->last;
        }
    }
    const r1c_status st = batched && nb ? r1c_eval_batch(ctxs, ids, nb) : R1C_ERR_UNSUPPORTED;
    for (int i = 0; i < n; i++) {
        r1c_job *j = jobs[i];
        if (!go[i] || !take[i]) continue;
        const int prompt = j->n_done < j->n_ids;
        const int32_t *src = prompt ? j->ids + j->n_done : &j->last;
        if (st != R1C_OK && r1c_eval(j->ctx, src, take[i], 0) != R1C_OK) {
            fail(j, r1c_last_error());
            go[i] = ok[i] = 0;
            continue;
        }
        evaluated(e, j, src, take[i], prompt);
        if (j->n_done == j->n_ids) go[i] = next_token(e, j); /* (a prompt not complete yet: no token) */
    }
}

/* ------------------------------------------------------------------ scheduler */

static void *run(void *arg) {
    r1c_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->stopping && !e->n_active && !e->n_waiting) pthread_cond_wait(&e->work, &e->mu);
        if (e->stopping && (!e->drain || (!e->n_active && !e->n_waiting))) break;
        while (e->n_active < e->p.parallel && e->waiting) { /* join between steps, in arrival order */
            r1c_job *j = e->waiting;
            e->waiting = j->next, e->n_waiting--;
            j->next = NULL;
            r1c_job **tail = &e->active;
            while (*tail) tail = &(*tail)->next;
            *tail = j;
            e->n_active++;
        }
        /* one step of every active job: the list is stable while the lock is dropped (only this
         * thread changes it); released is read under the lock */
        r1c_job *jobs[R1C_ENGINE_MAX_PARALLEL];
        int go[R1C_ENGINE_MAX_PARALLEL], ok[R1C_ENGINE_MAX_PARALLEL], n = 0;
        for (r1c_job *j = e->active; j && n < R1C_ENGINE_MAX_PARALLEL; j = j->next) jobs[n] = j, ok[n] = 1, go[n++] = !j->released;
        pthread_mutex_unlock(&e->mu);
        step_all(e, jobs, go, ok, n);
        for (int i = 0; i < n; i++) /* (a context whose eval failed is not reused) */
            if (!go[i]) job_close(e, jobs[i], ok[i]);
        pthread_mutex_lock(&e->mu);
        for (int i = 0; i < n; i++)
            if (!go[i]) {
                jobs[i]->finished = 1;
                if (jobs[i]->released) e->jobs_cancelled++;
                else e->jobs_done++;
            }
        for (r1c_job **pj = &e->active; *pj;) { /* leave between steps */
            r1c_job *j = *pj;
            if (!j->finished) {
                pj = &j->next;
                continue;
            }
            *pj = j->next, e->n_active--;
            if (j->released) job_free(j);
            else j->detached = 1;
        }
    }
    /* shutdown without draining: every job still here ends with an error event */
    for (int list = 0; list < 2; list++)
        for (r1c_job *j = list ? e->waiting : e->active, *nx; j; j = nx) {
            nx = j->next;
            const char *msg = "the server is shutting down";
            if (list == 0) job_close(e, j, 0); /* (the model is idle now: the lock can stay held) */
            push_locked(j, R1C_EV_ERROR, msg, strlen(msg), NULL);
            j->finished = j->detached = 1;
            if (j->released) job_free(j);
        }
    e->active = e->waiting = NULL;
    e->n_active = e->n_waiting = 0;
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

r1c_status r1c_engine_new(const r1c_model *m, const r1c_engine_params *p, r1c_engine **out) {
    *out = NULL;
    if (!r1c_model_tokenizer(m)) return r1c_error(R1C_ERR_MISSING, "the model has no tokenizer: it cannot serve text");
    r1c_engine *e = calloc(1, sizeof *e);
    if (!e) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    e->m = m;
    e->p = p ? *p : (r1c_engine_params){0};
    e->m_batch = r1c_model_batches_sequences(m);
    if (e->p.parallel <= 0) e->p.parallel = 4;
    if (e->p.parallel > R1C_ENGINE_MAX_PARALLEL) e->p.parallel = R1C_ENGINE_MAX_PARALLEL;
    if (e->p.max_queue <= 0) e->p.max_queue = 64;
    r1c_model_info info;
    r1c_model_get_info(m, &info);
    if (e->p.n_ctx <= 0) e->p.n_ctx = info.max_position > 0 && info.max_position < 4096 ? info.max_position : 4096;
    e->pool = calloc((size_t)e->p.parallel, sizeof *e->pool); /* (none: no prefix cache) */
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    if (pthread_create(&e->thread, NULL, run, e) != 0) {
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->work);
        free(e->pool);
        free(e);
        return r1c_error(R1C_ERR_NOMEM, "cannot start the engine thread: %s", strerror(errno));
    }
    *out = e;
    return R1C_OK;
}

void r1c_engine_stop(r1c_engine *e, int drain) {
    pthread_mutex_lock(&e->mu);
    const int joined = e->joined;
    e->stopping = 1, e->drain = drain, e->joined = 1;
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->mu);
    if (!joined) pthread_join(e->thread, NULL);
}

void r1c_engine_free(r1c_engine *e) {
    if (!e) return;
    r1c_engine_stop(e, 0);
    while (e->n_pool) pool_drop(e, e->n_pool - 1);
    free(e->pool);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work);
    free(e);
}

int r1c_engine_n_ctx(const r1c_engine *e) { return e->p.n_ctx; }

void r1c_engine_get_stats(r1c_engine *e, r1c_engine_stats *s) {
    pthread_mutex_lock(&e->mu);
    *s = (r1c_engine_stats){.active = e->n_active, .waiting = e->n_waiting, .jobs_done = e->jobs_done, .jobs_cancelled = e->jobs_cancelled};
    pthread_mutex_unlock(&e->mu);
    s->prompt_tokens = __atomic_load_n(&e->prompt_tokens, __ATOMIC_RELAXED);
    s->generated_tokens = __atomic_load_n(&e->generated_tokens, __ATOMIC_RELAXED);
    s->cached_tokens = __atomic_load_n(&e->cached_tokens, __ATOMIC_RELAXED);
}

r1c_job *r1c_engine_submit(r1c_engine *e, const int32_t *ids, int n, const r1c_job_params *p, int *why) {
    r1c_job *j = calloc(1, sizeof *j);
    if (!j || !(j->ids = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1)))) {
        free(j);
        *why = 500;
        return NULL;
    }
    memcpy(j->ids, ids, sizeof(int32_t) * (size_t)n);
    j->n_ids = n;
    j->e = e;
    j->p = *p;
    j->last = -1;
    int nstop = 0;
    for (int i = 0; i < p->n_stop && i < R1C_ENGINE_MAX_STOP; i++)
        if (p->stop[i] && p->stop[i][0] && (j->stop[nstop] = strdup(p->stop[i]))) nstop++;
    j->p.n_stop = nstop;
    for (int i = 0; i < R1C_ENGINE_MAX_STOP; i++) j->p.stop[i] = NULL;
    pthread_cond_init(&j->ready, NULL);
    pthread_mutex_lock(&e->mu);
    *why = e->stopping ? 503 : e->n_waiting >= e->p.max_queue ? 429 : 0;
    if (!*why) {
        r1c_job **tail = &e->waiting;
        while (*tail) tail = &(*tail)->next;
        *tail = j;
        e->n_waiting++;
        pthread_cond_signal(&e->work);
    }
    pthread_mutex_unlock(&e->mu);
    if (*why) {
        job_free(j);
        return NULL;
    }
    return j;
}

int r1c_job_next(r1c_job *j, r1c_event *ev, int timeout_ms) {
    r1c_engine *e = j->e;
    struct timespec until;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->mu);
    while (!j->head) {
        if (timeout_ms < 0) pthread_cond_wait(&j->ready, &e->mu);
        else if (pthread_cond_timedwait(&j->ready, &e->mu, &until) == ETIMEDOUT) break;
    }
    ev_node *n = j->head;
    if (n) {
        j->head = n->next;
        if (!j->head) j->tail = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    if (!n) return 0;
    *ev = n->ev;
    free(n);
    return 1;
}

void r1c_job_release(r1c_job *j) {
    if (!j) return;
    r1c_engine *e = j->e;
    pthread_mutex_lock(&e->mu);
    j->released = 1;
    /* a job still waiting in the queue leaves it now; an active one at the next step; a
     * finished one is freed here */
    int waiting = 0;
    for (r1c_job **pj = &e->waiting; *pj; pj = &(*pj)->next)
        if (*pj == j) {
            *pj = j->next, e->n_waiting--, waiting = 1;
            e->jobs_cancelled++;
            break;
        }
    const int free_now = waiting || j->detached;
    pthread_mutex_unlock(&e->mu);
    if (free_now) job_free(j);
}
