/* server.c — see server.h. */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/error.h"
#include "../io/json.h"
#include "engine.h"
#include "oai.h"

extern const char r1c_chat_page_html[]; /* chat_page.c */

/* ------------------------------------------------------------------ metrics */

#define N_BUCKETS 12
static const double BUCKETS[N_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

typedef struct histo {
    int64_t count[N_BUCKETS + 1];
    double sum;
    int64_t n;
} histo;

static void histo_add(histo *h, double v) {
    int b = 0;
    while (b < N_BUCKETS && v > BUCKETS[b]) b++;
    h->count[b]++;
    h->sum += v;
    h->n++;
}

enum { RT_CHAT, RT_COMPLETIONS, RT_MODELS, RT_HEALTH, RT_METRICS, RT_PAGE, RT_OTHER, N_ROUTES };
static const char *ROUTE_NAMES[N_ROUTES] = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/",
                                            "other"};
static const int STATUSES[] = {200, 400, 404, 405, 413, 429, 500, 503};
#define N_STATUS (int)(sizeof STATUSES / sizeof *STATUSES)

struct r1c_server {
    const r1c_model *m;
    const r1c_tokenizer *tok;
    r1c_engine *e;
    struct MHD_Daemon *d;
    r1c_server_params p;
    char model_id[256];
    int port;
    time_t started;
    pthread_mutex_t mu; /* metrics */
    int64_t requests[N_ROUTES][N_STATUS];
    histo ttft, itl;
};

static void count(r1c_server *s, int route, int status) {
    int k = 0;
    while (k < N_STATUS - 1 && STATUSES[k] != status) k++;
    if (STATUSES[k] != status) k = 6; /* anything else counts as 500 */
    pthread_mutex_lock(&s->mu);
    s->requests[route][k]++;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ responses */

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *type, const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_json(r1c_server *s, struct MHD_Connection *c, int route, int status, cJSON *v) {
    char *text = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    count(s, route, text ? status : 500);
    if (!text) return reply(c, 500, "text/plain", "out of memory", 13);
    enum MHD_Result ok = reply(c, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return ok;
}

static enum MHD_Result reply_error(r1c_server *s, struct MHD_Connection *c, int route, const r1c_oai_error *e,
                                   const char *code) {
    char *j = r1c_oai_error_json(e);
    cJSON *v = j ? r1c_json_parse(j, strlen(j)) : NULL;
    free(j);
    if (v && code) cJSON_ReplaceItemInObject(cJSON_GetObjectItemCaseSensitive(v, "error"), "code", cJSON_CreateString(code));
    if (!v) {
        count(s, route, 500);
        return reply(c, 500, "text/plain", "out of memory", 13);
    }
    return reply_json(s, c, route, e->http_status, v);
}

static enum MHD_Result fail(r1c_server *s, struct MHD_Connection *c, int route, int status, const char *type, const char *param,
                            const char *code, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static enum MHD_Result fail(r1c_server *s, struct MHD_Connection *c, int route, int status, const char *type, const char *param,
                            const char *code, const char *fmt, ...) {
    r1c_oai_error e;
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r1c_oai_error_set(&e, status, type, param, "%s", msg);
    return reply_error(s, c, route, &e, code);
}

/* ------------------------------------------------------------------ requests */

typedef struct req_state {
    char *body;
    size_t len, cap;
    int too_big;
} req_state;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The prompt's token ids for a parsed request; *in_reasoning when the prompt opened <think>. */
static int prompt_ids(r1c_server *s, const r1c_oai_req *q, int32_t **ids, int *n, int *in_reasoning, r1c_oai_error *err) {
    *in_reasoning = 0;
    if (q->kind == R1C_OAI_COMPLETION && q->prompt_ids) {
        const int V = r1c_model_n_vocab(s->m);
        for (int i = 0; i < q->n_prompt_ids; i++)
            if (q->prompt_ids[i] >= V) {
                char param[32];
                snprintf(param, sizeof param, "prompt[%d]", i);
                r1c_oai_error_set(err, 400, "invalid_request_error", param, "token id %d is outside the vocabulary (%d)",
                                  q->prompt_ids[i], V);
                return -1;
            }
        *ids = malloc(sizeof(int32_t) * (size_t)q->n_prompt_ids);
        if (!*ids) goto nomem;
        memcpy(*ids, q->prompt_ids, sizeof(int32_t) * (size_t)q->n_prompt_ids);
        *n = q->n_prompt_ids;
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    int flags = 0;
    if (q->kind == R1C_OAI_COMPLETION || !r1c_tokenizer_has_chat_template(s->tok)) {
        const char *src = q->prompt;
        cJSON *msgs = NULL;
        if (q->kind == R1C_OAI_CHAT) { /* no template: the last message's text, as `r1c run` */
            msgs = r1c_json_parse(q->messages_json, strlen(q->messages_json));
            const cJSON *arr = cJSON_GetObjectItemCaseSensitive(msgs, "messages");
            const cJSON *last = cJSON_GetArrayItem(arr, cJSON_GetArraySize(arr) - 1);
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
            src = cJSON_IsString(content) ? content->valuestring : "";
        }
        text = strdup(src ? src : "");
        cJSON_Delete(msgs);
        if (!text) goto nomem;
        len = strlen(text);
        flags = R1C_TOK_ADD_SPECIAL;
    } else {
        /* {"messages": [...]} + add_generation_prompt, rendered as apply_chat_template does */
        const size_t ml = strlen(q->messages_json);
        char *ctx = malloc(ml + 40);
        if (!ctx) goto nomem;
        memcpy(ctx, q->messages_json, ml - 1);
        strcpy(ctx + ml - 1, ",\"add_generation_prompt\":true}");
        const r1c_status st = r1c_chat_render_json(s->tok, ctx, &text, &len);
        free(ctx);
        if (st != R1C_OK) {
            r1c_oai_error_set(err, 400, "invalid_request_error", "messages", "the chat template failed: %s", r1c_last_error());
            return -1;
        }
        /* R1's template: "<think>\n" as DeepSeek advises, whatever the output format */
        if (r1c_chat_open_think(s->tok, &text, &len, -1, in_reasoning) != R1C_OK) {
            free(text);
            goto nomem;
        }
    }
    const r1c_status st = r1c_tokenize(s->tok, text, len, flags, ids, n);
    free(text);
    if (st != R1C_OK) {
        r1c_oai_error_set(err, 400, "invalid_request_error", q->kind == R1C_OAI_CHAT ? "messages" : "prompt", "%s", r1c_last_error());
        return -1;
    }
    return 0;
nomem:
    r1c_oai_error_set(err, 500, "server_error", NULL, "out of memory");
    return -1;
}

/* ------------------------------------------------------------------ generation replies */

typedef struct gen {
    r1c_server *s;
    r1c_job *job;
    int chat, stream, include_usage, route;
    char id[40];
    time_t created;
    double t0, t_last;
    int n_text_events;
    /* streaming: what is formatted but not yet handed to MHD */
    char *out;
    size_t out_len, out_pos, out_cap;
    int sent_role, done;
} gen;

static void gen_free(gen *g) {
    r1c_job_release(g->job);
    free(g->out);
    free(g);
}

static void timing(gen *g) {
    const double t = now_s();
    pthread_mutex_lock(&g->s->mu);
    if (g->n_text_events++ == 0) histo_add(&g->s->ttft, t - g->t0);
    else histo_add(&g->s->itl, t - g->t_last);
    pthread_mutex_unlock(&g->s->mu);
    g->t_last = t;
}

static cJSON *usage_json(const r1c_event *ev) {
    cJSON *u = cJSON_CreateObject(), *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", ev->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", ev->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", ev->prompt_tokens + ev->completion_tokens);
    cJSON_AddNumberToObject(d, "reasoning_tokens", ev->reasoning_tokens);
    cJSON_AddItemToObject(u, "completion_tokens_details", d);
    return u;
}

static cJSON *envelope(gen *g, const char *object) {
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "id", g->id);
    cJSON_AddStringToObject(v, "object", object);
    cJSON_AddNumberToObject(v, "created", (double)g->created);
    cJSON_AddStringToObject(v, "model", g->s->model_id);
    return v;
}

/* non-streaming: every event, then one JSON body */
static enum MHD_Result reply_whole(gen *g, struct MHD_Connection *c) {
    size_t cap[2] = {256, 256}, len[2] = {0, 0};
    char *buf[2] = {malloc(cap[0]), malloc(cap[1])}; /* answer, reasoning */
    r1c_event ev, done = {0};
    int ok = buf[0] && buf[1], got_reasoning = 0;
    char errmsg[256] = "";
    for (;;) {
        r1c_job_next(g->job, &ev, -1);
        if (ev.kind == R1C_EV_DONE || ev.kind == R1C_EV_ERROR) {
            if (ev.kind == R1C_EV_ERROR) snprintf(errmsg, sizeof errmsg, "%s", ev.text ? ev.text : "generation failed");
            done = ev;
            free(ev.text);
            break;
        }
        timing(g);
        const int k = ev.kind == R1C_EV_REASONING;
        got_reasoning |= k;
        if (ok && len[k] + ev.len + 1 > cap[k]) {
            while (len[k] + ev.len + 1 > cap[k]) cap[k] *= 2;
            char *nb = realloc(buf[k], cap[k]);
            if (nb) buf[k] = nb;
            else ok = 0;
        }
        if (ok) memcpy(buf[k] + len[k], ev.text, ev.len), len[k] += ev.len;
        free(ev.text);
    }
    enum MHD_Result res;
    if (!ok) res = fail(g->s, c, g->route, 500, "server_error", NULL, NULL, "out of memory");
    else if (errmsg[0]) res = fail(g->s, c, g->route, 500, "server_error", NULL, NULL, "%s", errmsg);
    else {
        buf[0][len[0]] = buf[1][len[1]] = 0;
        cJSON *v = envelope(g, g->chat ? "chat.completion" : "text_completion"), *choices = cJSON_AddArrayToObject(v, "choices");
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        if (g->chat) {
            cJSON *msg = cJSON_AddObjectToObject(ch, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            cJSON_AddStringToObject(msg, "content", buf[0]);
            if (got_reasoning) cJSON_AddStringToObject(msg, "reasoning_content", buf[1]);
        } else {
            cJSON_AddStringToObject(ch, "text", buf[0]);
            cJSON_AddNullToObject(ch, "logprobs");
        }
        cJSON_AddStringToObject(ch, "finish_reason", done.finish_reason ? done.finish_reason : "stop");
        cJSON_AddItemToArray(choices, ch);
        cJSON_AddItemToObject(v, "usage", usage_json(&done));
        res = reply_json(g->s, c, g->route, 200, v);
    }
    free(buf[0]), free(buf[1]);
    gen_free(g);
    return res;
}

static int out_add(gen *g, const char *data, size_t n) {
    if (g->out_len + n > g->out_cap) {
        size_t cap = g->out_cap ? g->out_cap : 1024;
        while (cap < g->out_len + n) cap *= 2;
        char *nb = realloc(g->out, cap);
        if (!nb) return -1;
        g->out = nb, g->out_cap = cap;
    }
    memcpy(g->out + g->out_len, data, n);
    g->out_len += n;
    return 0;
}

static int sse(gen *g, cJSON *v) {
    char *t = v ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    if (!t) return -1;
    const int rc = out_add(g, "data: ", 6) || out_add(g, t, strlen(t)) || out_add(g, "\n\n", 2);
    cJSON_free(t);
    return rc ? -1 : 0;
}

static cJSON *chunk(gen *g, const char *field, const char *text, const char *finish) {
    cJSON *v = envelope(g, g->chat ? "chat.completion.chunk" : "text_completion"), *choices = cJSON_AddArrayToObject(v, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    if (g->chat) {
        cJSON *d = cJSON_AddObjectToObject(ch, "delta");
        if (!g->sent_role) {
            cJSON_AddStringToObject(d, "role", "assistant");
            g->sent_role = 1;
        }
        if (field) cJSON_AddStringToObject(d, field, text);
    } else {
        cJSON_AddStringToObject(ch, "text", text ? text : "");
        cJSON_AddNullToObject(ch, "logprobs");
    }
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    return v;
}

/* formats the next event(s) into g->out; 0 when the stream has ended */
static int next_chunk(gen *g) {
    if (g->done) return 0;
    r1c_event ev;
    r1c_job_next(g->job, &ev, -1);
    int rc = 0;
    if (ev.kind == R1C_EV_REASONING || ev.kind == R1C_EV_ANSWER) {
        timing(g);
        rc = sse(g, chunk(g, ev.kind == R1C_EV_REASONING ? "reasoning_content" : "content", ev.text ? ev.text : "", NULL));
    } else if (ev.kind == R1C_EV_DONE) {
        rc = sse(g, chunk(g, NULL, g->chat ? NULL : "", ev.finish_reason ? ev.finish_reason : "stop"));
        if (!rc && g->include_usage) {
            cJSON *v = envelope(g, g->chat ? "chat.completion.chunk" : "text_completion");
            cJSON_AddArrayToObject(v, "choices");
            cJSON_AddItemToObject(v, "usage", usage_json(&ev));
            rc = sse(g, v);
        }
        if (!rc) rc = out_add(g, "data: [DONE]\n\n", 14);
        g->done = 1;
    } else { /* an error mid-stream: an error object as an event, then the end */
        r1c_oai_error e;
        r1c_oai_error_set(&e, 500, "server_error", NULL, "%s", ev.text ? ev.text : "generation failed");
        char *j = r1c_oai_error_json(&e);
        rc = !j || out_add(g, "data: ", 6) || out_add(g, j, strlen(j)) || out_add(g, "\n\ndata: [DONE]\n\n", 16);
        free(j);
        g->done = 1;
    }
    free(ev.text);
    return rc ? -1 : 1;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    gen *g = cls;
    while (g->out_pos == g->out_len) {
        g->out_pos = g->out_len = 0;
        const int r = next_chunk(g);
        if (r == 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (r < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = g->out_len - g->out_pos;
    if (n > max) n = max;
    memcpy(buf, g->out + g->out_pos, n);
    g->out_pos += n;
    return (ssize_t)n;
}

/* MHD is done with the response: the stream ended or the client went away (then the job is
 * cancelled: r1c_job_release) */
static void stream_free(void *cls) { gen_free(cls); }

static enum MHD_Result reply_stream(gen *g, struct MHD_Connection *c) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, g, stream_free);
    if (!r) {
        gen_free(g);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    count(g->s, g->route, 200);
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result generate(r1c_server *s, struct MHD_Connection *c, int route, const req_state *rs) {
    r1c_oai_req q;
    r1c_oai_error err;
    const r1c_oai_kind kind = route == RT_CHAT ? R1C_OAI_CHAT : R1C_OAI_COMPLETION;
    if (r1c_oai_parse(kind, rs->body ? rs->body : "", rs->len, &q, &err)) return reply_error(s, c, route, &err, NULL);
    int32_t *ids = NULL;
    int n = 0, in_reasoning = 0;
    if (prompt_ids(s, &q, &ids, &n, &in_reasoning, &err)) {
        r1c_oai_req_free(&q);
        return reply_error(s, c, route, &err, NULL);
    }
    const int n_ctx = r1c_engine_n_ctx(s->e);
    if (n >= n_ctx) {
        free(ids);
        r1c_oai_req_free(&q);
        return fail(s, c, route, 400, "invalid_request_error", kind == R1C_OAI_CHAT ? "messages" : "prompt", "context_length_exceeded",
                    "the prompt is %d tokens; this server's context is %d tokens", n, n_ctx);
    }
    r1c_job_params jp = {.max_tokens = q.max_tokens > 0 ? (int)q.max_tokens : 0, .in_reasoning = in_reasoning,
                         .split_reasoning = kind == R1C_OAI_CHAT && !s->p.reasoning_none};
    jp.sampling = r1c_sampler_default_params();
    jp.sampling.temperature = (float)q.temperature;
    jp.sampling.top_p = (float)q.top_p;
    jp.sampling.seed = q.has_seed ? q.seed : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&jp;
    for (int i = 0; i < q.n_stop && i < R1C_ENGINE_MAX_STOP; i++) jp.stop[jp.n_stop++] = q.stop[i];
    int why = 0;
    r1c_job *job = r1c_engine_submit(s->e, ids, n, &jp, &why);
    free(ids);
    const int stream = q.stream, include_usage = q.include_usage;
    r1c_oai_req_free(&q);
    if (!job) {
        if (why == 429) return fail(s, c, route, 429, "rate_limit_error", NULL, "queue_full", "the server's queue is full; retry later");
        if (why == 503) return fail(s, c, route, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
        return fail(s, c, route, 500, "server_error", NULL, NULL, "out of memory");
    }
    gen *g = calloc(1, sizeof *g);
    if (!g) {
        r1c_job_release(job);
        return fail(s, c, route, 500, "server_error", NULL, NULL, "out of memory");
    }
    *g = (gen){.s = s, .job = job, .chat = kind == R1C_OAI_CHAT, .stream = stream, .include_usage = include_usage, .route = route,
               .created = time(NULL), .t0 = now_s()};
    static unsigned long seq;
    snprintf(g->id, sizeof g->id, "%s-%lx%04lx", g->chat ? "chatcmpl" : "cmpl", (unsigned long)g->created,
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED) & 0xffff);
    return stream ? reply_stream(g, c) : reply_whole(g, c);
}

/* ------------------------------------------------------------------ other routes */

static enum MHD_Result models(r1c_server *s, struct MHD_Connection *c) {
    cJSON *v = cJSON_CreateObject(), *data = cJSON_CreateArray(), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "object", "list");
    cJSON_AddStringToObject(m, "id", s->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->started);
    cJSON_AddStringToObject(m, "owned_by", "r1c");
    cJSON_AddItemToArray(data, m);
    cJSON_AddItemToObject(v, "data", data);
    return reply_json(s, c, RT_MODELS, 200, v);
}

static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = *buf ? vsnprintf(*buf + *len, *cap - *len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return;
        }
        const size_t nc = *cap ? *cap * 2 : 4096;
        char *nb = realloc(*buf, nc);
        if (!nb) return;
        *buf = nb, *cap = nc;
    }
}

static void histo_text(char **b, size_t *l, size_t *c, const char *name, const char *help, const histo *h) {
    appendf(b, l, c, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    int64_t cum = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cum += h->count[i];
        appendf(b, l, c, "%s_bucket{le=\"%g\"} %lld\n", name, BUCKETS[i], (long long)cum);
    }
    appendf(b, l, c, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.6f\n%s_count %lld\n", name, (long long)h->n, name, h->sum, name,
            (long long)h->n);
}

static enum MHD_Result metrics(r1c_server *s, struct MHD_Connection *c) {
    r1c_engine_stats es;
    r1c_engine_get_stats(s->e, &es);
    char *b = NULL;
    size_t l = 0, cap = 0;
    pthread_mutex_lock(&s->mu);
    appendf(&b, &l, &cap, "# HELP r1c_requests_total HTTP requests by route and status.\n# TYPE r1c_requests_total counter\n");
    for (int r = 0; r < N_ROUTES; r++)
        for (int k = 0; k < N_STATUS; k++)
            if (s->requests[r][k])
                appendf(&b, &l, &cap, "r1c_requests_total{route=\"%s\",status=\"%d\"} %lld\n", ROUTE_NAMES[r], STATUSES[k],
                        (long long)s->requests[r][k]);
    histo_text(&b, &l, &cap, "r1c_time_to_first_token_seconds", "From the request to its first generated text.", &s->ttft);
    histo_text(&b, &l, &cap, "r1c_inter_token_latency_seconds", "Between consecutive pieces of generated text.", &s->itl);
    pthread_mutex_unlock(&s->mu);
    appendf(&b, &l, &cap,
            "# HELP r1c_prompt_tokens_total Prompt tokens evaluated.\n# TYPE r1c_prompt_tokens_total counter\nr1c_prompt_tokens_total %lld\n"
            "# HELP r1c_generated_tokens_total Tokens generated.\n# TYPE r1c_generated_tokens_total counter\nr1c_generated_tokens_total %lld\n"
            "# HELP r1c_queue_depth Requests waiting for a sequence slot.\n# TYPE r1c_queue_depth gauge\nr1c_queue_depth %d\n"
            "# HELP r1c_active_sequences Sequences being generated.\n# TYPE r1c_active_sequences gauge\nr1c_active_sequences %d\n"
            "# HELP r1c_requests_cancelled_total Requests whose client went away before the end.\n"
            "# TYPE r1c_requests_cancelled_total counter\nr1c_requests_cancelled_total %lld\n"
            "# HELP r1c_prompt_tokens_cached_total Prompt tokens taken from the prefix cache instead of evaluated.\n"
            "# TYPE r1c_prompt_tokens_cached_total counter\nr1c_prompt_tokens_cached_total %lld\n",
            (long long)es.prompt_tokens, (long long)es.generated_tokens, es.waiting, es.active, (long long)es.jobs_cancelled,
            (long long)es.cached_tokens);
    count(s, RT_METRICS, b ? 200 : 500);
    enum MHD_Result ok = b ? reply(c, 200, "text/plain; version=0.0.4", b, l) : reply(c, 500, "text/plain", "out of memory", 13);
    free(b);
    return ok;
}

/* ------------------------------------------------------------------ dispatch */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **con_cls) {
    r1c_server *s = cls;
    req_state *rs = *con_cls;
    if (!rs) { /* the headers: set up for the body */
        rs = calloc(1, sizeof *rs);
        if (!rs) return MHD_NO;
        *con_cls = rs;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (!rs->too_big && rs->len + *upload_size > s->p.max_body) rs->too_big = 1;
        if (!rs->too_big) {
            if (rs->len + *upload_size + 1 > rs->cap) {
                size_t cap = rs->cap ? rs->cap : 4096;
                while (cap < rs->len + *upload_size + 1) cap *= 2;
                char *nb = realloc(rs->body, cap);
                if (!nb) return MHD_NO;
                rs->body = nb, rs->cap = cap;
            }
            memcpy(rs->body + rs->len, upload, *upload_size);
            rs->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    const int post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    const int route = !strcmp(url, "/v1/chat/completions") || !strcmp(url, "/chat/completions") ? RT_CHAT
                      : !strcmp(url, "/v1/completions") || !strcmp(url, "/completions")         ? RT_COMPLETIONS
                      : !strcmp(url, "/v1/models") || !strcmp(url, "/models")                   ? RT_MODELS
                      : !strcmp(url, "/health")                                                 ? RT_HEALTH
                      : !strcmp(url, "/metrics")                                                ? RT_METRICS
                      : !strcmp(url, "/") || !strcmp(url, "/index.html")                        ? RT_PAGE
                                                                                                : RT_OTHER;
    if (route == RT_OTHER) return fail(s, c, route, 404, "invalid_request_error", NULL, "not_found", "no route %.100s %.200s", method, url);
    const int wants_post = route == RT_CHAT || route == RT_COMPLETIONS;
    if (wants_post ? !post : !get)
        return fail(s, c, route, 405, "invalid_request_error", NULL, "method_not_allowed", "%s takes %s, not %.20s", ROUTE_NAMES[route],
                    wants_post ? "POST" : "GET", method);
    if (rs->too_big)
        return fail(s, c, route, 413, "invalid_request_error", NULL, "request_too_large", "the request body is over %zu bytes",
                    s->p.max_body);
    switch (route) {
    case RT_HEALTH: {
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "status", "ok");
        return reply_json(s, c, route, 200, v);
    }
    case RT_MODELS: return models(s, c);
    case RT_METRICS: return metrics(s, c);
    case RT_PAGE:
        count(s, route, 200);
        return reply(c, 200, "text/html; charset=utf-8", r1c_chat_page_html, strlen(r1c_chat_page_html));
    default: return generate(s, c, route, rs);
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    req_state *rs = *con_cls;
    if (rs) free(rs->body), free(rs);
    *con_cls = NULL;
}

r1c_status r1c_server_start(const r1c_model *m, const r1c_server_params *p, r1c_server **out) {
    *out = NULL;
    r1c_server *s = calloc(1, sizeof *s);
    if (!s) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    s->m = m;
    s->tok = r1c_model_tokenizer(m);
    s->p = *p;
    if (!s->p.host) s->p.host = "127.0.0.1";
    if (!s->p.max_body) s->p.max_body = 8u << 20;
    if (s->p.timeout_s <= 0) s->p.timeout_s = 30;
    snprintf(s->model_id, sizeof s->model_id, "%s", p->model_id ? p->model_id : "r1c");
    s->started = time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    if (inet_pton(AF_INET, s->p.host, &addr.sin_addr) != 1) {
        r1c_status st = r1c_error(R1C_ERR_INVALID_ARG, "--host %s: not an IPv4 address", s->p.host);
        free(s);
        return st;
    }
    r1c_engine_params ep = {.parallel = p->parallel, .max_queue = p->max_queue, .n_ctx = p->n_ctx, .n_threads = p->n_threads};
    r1c_status st = r1c_engine_new(m, &ep, &s->e);
    if (st != R1C_OK) {
        free(s);
        return st;
    }
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, 0, NULL, NULL, handle, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->p.timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, NULL, MHD_OPTION_END);
    if (!s->d) {
        r1c_engine_free(s->e);
        free(s);
        return r1c_error(R1C_ERR_IO, "cannot listen on %s:%d (in use, or not allowed)", p->host ? p->host : "127.0.0.1", p->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : p->port;
    *out = s;
    return R1C_OK;
}

int r1c_server_port(const r1c_server *s) { return s->port; }

void r1c_server_stop(r1c_server *s, int drain) {
    if (!s) return;
    MHD_quiesce_daemon(s->d);    /* no new connections */
    r1c_engine_stop(s->e, drain); /* running jobs end (drain) or get an error event */
    MHD_stop_daemon(s->d);        /* the connections send those and release their jobs */
    r1c_engine_free(s->e);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
