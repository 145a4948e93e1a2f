/* cmd_serve.c — `r1c serve`: the OpenAI-compatible server (src/serve/server.h) until SIGINT or
 * SIGTERM, which drain: no new connections, running requests finish, then exit. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "serve/server.h"

static const char *USAGE =
    "usage: r1c serve [-m MODEL] [options]   (no -m: the repo's models/r1c-tiny.gguf)\n"
    "\n"
    "An OpenAI-compatible HTTP server: POST /v1/chat/completions, /v1/completions (stream: SSE),\n"
    "GET /v1/models, /health, /metrics (Prometheus), and a chat page at /.\n"
    "\n"
    "  -m, --model DIR|FILE     a model directory or GGUF file\n"
    "  --host ADDR              IPv4 address to listen on (default 127.0.0.1)\n"
    "  --port N                 port (default 8080; 0: any free port, printed)\n"
    "  --parallel N             sequences generated side by side (default 4)\n"
    "  --queue N                requests waiting beyond those before 429s (default 64)\n"
    "  -c, --ctx N              context tokens per sequence (default: the model's, at most 4096)\n"
    "  -t, --threads N          threads (default: all cores)\n"
    "  --reasoning-format F     deepseek (default): R1's <think> text in reasoning_content;\n"
    "                           none: the raw text in content\n"
    "  --max-body BYTES         request body cap (default 8388608)\n"
    "  --timeout S              idle connection timeout in seconds (default 30)\n"
    "  --alias NAME             the model name /v1/models reports (default: the file or folder name)\n"
    "  --mmap                   map the weights instead of reading them\n"
    "  --lora DIR               apply a PEFT LoRA adapter to every request, unmerged\n";

int cmd_serve(int argc, char **argv) {
    const char *C = "serve", *dir = NULL, *lora = NULL, *host = "127.0.0.1", *alias = NULL, *fmt = "deepseek";
    long port = 8080, parallel = 4, queue = 64, n_ctx = 0, threads = 0, max_body = 8 << 20, timeout = 30;
    int use_mmap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--mmap")) {
            use_mmap = 1;
        } else if (!(v = cli_value(C, argc, argv, &i,
                                   "-m --model --host --port --parallel --queue -c --ctx -t --threads --reasoning-format "
                                   "--max-body --timeout --alias --lora"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            dir = v;
        } else if (!strcmp(a, "--lora")) {
            lora = v;
        } else if (!strcmp(a, "--host")) {
            host = v;
        } else if (!strcmp(a, "--alias")) {
            alias = v;
        } else if (!strcmp(a, "--reasoning-format")) {
            fmt = v;
        } else if (!strcmp(a, "--port")) {
            if (!cli_int(C, a, v, 0, 65535, &port)) return 2;
        } else if (!strcmp(a, "--parallel")) {
            if (!cli_int(C, a, v, 1, 256, &parallel)) return 2;
        } else if (!strcmp(a, "--queue")) {
            if (!cli_int(C, a, v, 1, 100000, &queue)) return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (!cli_int(C, a, v, 16, 1 << 20, &n_ctx)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_int(C, a, v, 1, 512, &threads)) return 2;
        } else if (!strcmp(a, "--max-body")) {
            if (!cli_int(C, a, v, 1024, 1L << 30, &max_body)) return 2;
        } else if (!strcmp(a, "--timeout")) {
            if (!cli_int(C, a, v, 1, 3600, &timeout)) return 2;
        } else {
            cli_fail(C, "unknown option '%s'", a);
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (strcmp(fmt, "deepseek") && strcmp(fmt, "none"))
        return cli_fail(C, "--reasoning-format must be deepseek or none, got '%s'", fmt), 2;
    /* SIGINT / SIGTERM are taken by sigwait below: blocked before any thread starts */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a signal */
    if (!dir) dir = cli_default_model(); /* (NULL: cli_load_lora says what to do) */
    r1c_model *m = cli_load_lora(C, dir, use_mmap, lora);
    if (!m) return 1;
    char name[256];
    const char *base = strrchr(dir, '/');
    snprintf(name, sizeof name, "%s", alias ? alias : base && base[1] ? base + 1 : dir);
    const size_t nl = strlen(name);
    if (!alias && nl > 1 && name[nl - 1] == '/') name[nl - 1] = 0;
    r1c_server_params sp = {.host = host, .port = (int)port, .parallel = (int)parallel, .max_queue = (int)queue,
                            .n_ctx = (int)n_ctx, .n_threads = (int)threads, .reasoning_none = !strcmp(fmt, "none"),
                            .max_body = (size_t)max_body, .model_id = name, .timeout_s = (int)timeout};
    r1c_server *s;
    if (r1c_server_start(m, &sp, &s) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        r1c_model_free(m);
        return 1;
    }
    printf("r1c serve: %s on http://%s:%d (parallel %ld, chat page at /)\n", name, host, r1c_server_port(s), parallel);
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "r1c serve: %s: finishing the running requests\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    r1c_server_stop(s, 1);
    r1c_model_free(m);
    return 0;
}
