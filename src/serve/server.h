/* server.h — `r1c serve`: an OpenAI-compatible HTTP server (libmicrohttpd, a thread per
 * connection) in front of the engine (engine.h). Routes: POST /v1/chat/completions and
 * /v1/completions (JSON or SSE streams), GET /v1/models, /health, /metrics (Prometheus text),
 * and / (the chat page). R1's reasoning goes to reasoning_content as DeepSeek's API does, unless
 * reasoning_format is "none". Errors are OpenAI error objects. */
#ifndef R1C_SERVE_SERVER_H
#define R1C_SERVE_SERVER_H

#include <stddef.h>

#include "r1c.h"

typedef struct r1c_server r1c_server;

typedef struct r1c_server_params {
    const char *host;      /* default 127.0.0.1 */
    int port;              /* 0: any free port (r1c_server_port tells which) */
    int parallel, max_queue, n_ctx, n_threads; /* engine.h */
    int reasoning_none;    /* 1: raw text in content (--reasoning-format none) */
    size_t max_body;       /* request body cap in bytes (default 8 MiB) */
    const char *model_id;  /* the name /v1/models reports and responses carry */
    int timeout_s;         /* idle connection timeout (default 30 s) */
} r1c_server_params;

r1c_status r1c_server_start(const r1c_model *m, const r1c_server_params *p, r1c_server **out);
int r1c_server_port(const r1c_server *s);
/* Stops accepting, finishes (drain) or cancels what runs, and frees the server. */
void r1c_server_stop(r1c_server *s, int drain);

#endif
