/* oai.h — request bodies of the OpenAI API (POST /v1/chat/completions, /v1/completions) read
 * the way OpenAI's server reads them: unknown fields ignored, a known field of the wrong type or
 * out of range refused with a 400 that names it (the error object's "param"), every string
 * checked to be UTF-8. What comes out is ready for the engine: the chat messages as the
 * {"messages": [...]} object r1c_chat_render_json takes (content parts joined into strings),
 * or the completion prompt as text or token ids, and the sampling settings. */
#ifndef R1C_SERVE_OAI_H
#define R1C_SERVE_OAI_H

#include <stddef.h>
#include <stdint.h>

typedef enum { R1C_OAI_CHAT, R1C_OAI_COMPLETION } r1c_oai_kind;

#define R1C_OAI_MAX_STOP 4

typedef struct r1c_oai_req {
    r1c_oai_kind kind;
    char *model;         /* as sent (NULL: not given) */
    char *messages_json; /* chat: {"messages": [{"role", "content"}, ...]} */
    int n_messages;
    char *prompt;        /* completion: the prompt text, or NULL when given as token ids */
    int32_t *prompt_ids;
    int n_prompt_ids;
    int stream, include_usage;
    int64_t max_tokens;  /* -1: not given (max_completion_tokens wins over max_tokens) */
    double temperature;  /* 1 when not given, as OpenAI */
    double top_p;        /* 1 when not given */
    int has_seed;
    uint64_t seed;
    char *stop[R1C_OAI_MAX_STOP];
    int n_stop;
} r1c_oai_req;

/* An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}. */
typedef struct r1c_oai_error {
    int http_status;    /* 400 */
    const char *type;   /* "invalid_request_error" */
    char param[64];     /* the field ("messages[2].content"), "" for none */
    char message[320];
} r1c_oai_error;

/* 0 and *out filled (free with r1c_oai_req_free), or -1 and *err filled (*out zeroed). */
int r1c_oai_parse(r1c_oai_kind kind, const char *body, size_t len, r1c_oai_req *out, r1c_oai_error *err);
void r1c_oai_req_free(r1c_oai_req *r);

/* Fills *e; param may be NULL. */
void r1c_oai_error_set(r1c_oai_error *e, int http_status, const char *type, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The JSON text of the error object (malloc'd), or NULL without memory. */
char *r1c_oai_error_json(const r1c_oai_error *e);

#endif
