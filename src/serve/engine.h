/* engine.h — the generation engine behind `r1c serve`: one model, a queue of jobs, and one
 * scheduler thread that runs up to `parallel` sequences side by side, one token of each per
 * step; jobs join and leave between steps. Each job's text comes back as events (reasoning and
 * answer pieces, already split and stop-filtered, then the end with its usage), which the HTTP
 * side reads at its own pace; a job whose client went away is cancelled and its cache freed at
 * the next step.
 *
 * Every sequence keeps its own context (KV cache); one step evaluates the new jobs' prompts, then
 * the last token of every other job in one forward pass (r1c_eval_batch: the weights are read
 * once per step for all of them). r1c's kernels give a token the same bits whatever else is in
 * its batch (kernels.h's canonical order), so greedy output does not depend on the other requests. */
#ifndef R1C_SERVE_ENGINE_H
#define R1C_SERVE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "r1c.h"

#define R1C_ENGINE_MAX_STOP 4
#define R1C_ENGINE_MAX_PARALLEL 256

typedef struct r1c_engine r1c_engine;
typedef struct r1c_job r1c_job;

typedef struct r1c_engine_params {
    int parallel;  /* sequences per step (default 4) */
    int max_queue; /* jobs waiting beyond those (default 64); more: refused (429) */
    int n_ctx;     /* tokens per sequence (default: the model's, at most 4096) */
    int n_threads; /* 0: all cores */
} r1c_engine_params;

typedef struct r1c_job_params {
    int max_tokens;          /* <= 0: until the context is full */
    r1c_sampler_params sampling;
    const char *stop[R1C_ENGINE_MAX_STOP]; /* copied */
    int n_stop;
    int in_reasoning;        /* the prompt opened <think> */
    int split_reasoning;     /* 1: <think>..</think> goes to reasoning events; 0: all is answer */
} r1c_job_params;

typedef enum {
    R1C_EV_REASONING = 1, /* text: a piece of the reasoning */
    R1C_EV_ANSWER,        /* text: a piece of the answer */
    R1C_EV_DONE,          /* finish reason and usage; the last event */
    R1C_EV_ERROR          /* text: the message; the last event */
} r1c_event_kind;

typedef struct r1c_event {
    r1c_event_kind kind;
    char *text; /* malloc'd (the reader frees it), NUL-terminated */
    size_t len;
    const char *finish_reason; /* DONE: "stop" or "length" */
    int prompt_tokens, completion_tokens, reasoning_tokens;
} r1c_event;

typedef struct r1c_engine_stats {
    int active, waiting;
    int64_t prompt_tokens, generated_tokens, jobs_done, jobs_cancelled;
    int64_t cached_tokens; /* prompt tokens the prefix cache did not evaluate again */
} r1c_engine_stats;

r1c_status r1c_engine_new(const r1c_model *m, const r1c_engine_params *p, r1c_engine **out);
/* Stops taking jobs (503), lets the queued and running ones finish (drain) or ends them with an
 * error event, and joins the thread. Readers may still read their jobs' last events and release
 * them until r1c_engine_free. */
void r1c_engine_stop(r1c_engine *e, int drain);
void r1c_engine_free(r1c_engine *e);
int r1c_engine_n_ctx(const r1c_engine *e);
void r1c_engine_get_stats(r1c_engine *e, r1c_engine_stats *s);

/* Queues a job for the prompt ids (copied). NULL with *why = 429 (queue full), 503 (shutting
 * down) or 500 (no memory). */
r1c_job *r1c_engine_submit(r1c_engine *e, const int32_t *ids, int n, const r1c_job_params *p, int *why);
/* The next event, waiting up to timeout_ms (< 0: no limit): 1 with *ev filled, 0 on timeout. */
int r1c_job_next(r1c_job *j, r1c_event *ev, int timeout_ms);
/* The reader is gone: the engine stops the job and frees it when it is done with it. The
 * reader must not touch j afterwards. */
void r1c_job_release(r1c_job *j);

#endif
