/* cmd_chat.c — `r1c chat`: a multi-turn conversation in the terminal.
 *
 * The KV cache lives across turns. Each turn renders the whole conversation with the chat
 * template, keeps the cached tokens that the new prompt starts with, and evaluates only the
 * rest. With R1's template the earlier answers lose their reasoning when re-rendered, so the
 * cache is cut back to where the last answer began: exactly the tokens that changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "stream.h"

static const char *USAGE =
    "usage: r1c chat [-m MODEL] [-n N] [--temp T] [--top-p P] [--seed S] [-t THREADS] [-c CTX]\n"
    "                [--system TEXT] [--think | --no-think] [--hide-reasoning] [--mmap] [--lora DIR]\n"
    "In the conversation: /reset starts over, /system TEXT sets the system message, /exit ends.\n";

typedef struct convo {
    r1c_chat_msg *m;
    char **owned;
    int n, cap;
} convo;

static int convo_add(convo *c, const char *role, const char *text) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        r1c_chat_msg *m = realloc(c->m, sizeof *m * (size_t)cap);
        char **o = m ? realloc(c->owned, sizeof *o * (size_t)cap) : NULL;
        if (m) c->m = m;
        if (!m || !o) return 0;
        c->owned = o, c->cap = cap;
    }
    char *dup = strdup(text);
    if (!dup) return 0;
    c->owned[c->n] = dup;
    c->m[c->n++] = (r1c_chat_msg){role, dup};
    return 1;
}

static void convo_clear(convo *c, int keep_system) {
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (keep_system && i == 0 && !strcmp(c->m[0].role, "system")) {
            k = 1;
            continue;
        }
        free(c->owned[i]);
    }
    c->n = k;
}

int cmd_chat(int argc, char **argv) {
    const char *C = "chat", *dir = NULL, *lora = NULL, *system = NULL;
    long n_new = 4096, threads = 0, n_ctx = 0;
    int use_mmap = 0, think = -1, show_reasoning = 1, have_seed = 0;
    r1c_sampler_params sp = r1c_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--mmap")) {
            use_mmap = 1;
        } else if (!strcmp(a, "--think")) {
            think = 1;
        } else if (!strcmp(a, "--no-think")) {
            think = 0;
        } else if (!strcmp(a, "--hide-reasoning")) {
            show_reasoning = 0;
        } else if (!(v = cli_value(C, argc, argv, &i, "-m --model -n -t -c --temp --top-p --seed --system --lora"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            dir = v;
        } else if (!strcmp(a, "--lora")) {
            lora = v;
        } else if (!strcmp(a, "--system")) {
            system = v;
        } else if (!strcmp(a, "-n")) {
            if (!cli_int(C, a, v, 1, 1 << 30, &n_new)) return 2;
        } else if (!strcmp(a, "-t")) {
            if (!cli_int(C, a, v, 1, 512, &threads)) return 2;
        } else if (!strcmp(a, "-c")) {
            if (!cli_int(C, a, v, 1, 1 << 30, &n_ctx)) return 2;
        } else if (!strcmp(a, "--temp")) {
            if (!cli_float(C, a, v, 0, 100, &d)) return 2;
            sp.temperature = (float)d;
        } else if (!strcmp(a, "--top-p")) {
            if (!cli_float(C, a, v, 1e-9, 1, &d)) return 2;
            sp.top_p = (float)d;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_u64(C, a, v, &sp.seed)) return 2;
            have_seed = 1;
        }
    }
    if (!have_seed && getrandom(&sp.seed, sizeof sp.seed, 0) != (ssize_t)sizeof sp.seed) sp.seed = (uint64_t)getpid();
    if (!dir) dir = cli_default_model(); /* (NULL: cli_load_lora says what to do) */
    r1c_model *m = cli_load_lora(C, dir, use_mmap, lora);
    if (!m) return 1;
    const r1c_tokenizer *tok = r1c_model_tokenizer(m);
    r1c_ctx *c = NULL;
    r1c_sampler *s = NULL;
    convo cv = {0};
    int32_t *cached = NULL; /* the tokens in the KV cache, in order */
    char *line = NULL;
    size_t cap = 0;
    int n_cached = 0, rc = 1;
    int tty = isatty(0);
    if (!tok || !r1c_tokenizer_has_chat_template(tok)) {
        cli_fail(C, "%s: chat needs tokenizer.json and a chat_template in tokenizer_config.json", dir);
        goto out;
    }
    r1c_ctx_params cp = {.n_ctx = (int)n_ctx, .n_threads = (int)threads};
    if (r1c_ctx_new(m, &cp, &c) != R1C_OK || r1c_sampler_new(&sp, r1c_model_n_vocab(m), &s) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto out;
    }
    if (system && !convo_add(&cv, "system", system)) goto oom;
    if (tty) fprintf(stderr, "r1c chat: %s, context %d tokens. /reset, /system TEXT, /exit\n", dir, r1c_ctx_n_ctx(c));
    for (;;) {
        if (tty) fputs("\n> ", stdout), fflush(stdout);
        ssize_t got = getline(&line, &cap, stdin);
        if (got < 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset") || !strncmp(line, "/system ", 8)) {
            convo_clear(&cv, line[1] == 'r');
            if (line[1] == 's') {
                convo_clear(&cv, 0);
                if (!convo_add(&cv, "system", line + 8)) goto oom;
            }
            n_cached = 0;
            r1c_ctx_truncate(c, 0);
            fprintf(stderr, "(conversation cleared)\n");
            continue;
        }
        if (!convo_add(&cv, "user", line)) goto oom;
        int n_ids, in_reasoning;
        int32_t *ids = cli_prompt_ids(C, tok, cv.m, cv.n, 0, think, &n_ids, &in_reasoning, 0);
        if (!ids) goto out;
        int keep = 0; /* the cached tokens the new prompt starts with */
        while (keep < n_cached && keep < n_ids && cached[keep] == ids[keep]) keep++;
        if (keep == n_ids) keep--; /* at least one token must be evaluated to get logits */
        r1c_ctx_truncate(c, keep);
        printer pr;
        if (!printer_init(&pr, m, tok, stdout, in_reasoning, show_reasoning)) goto oom;
        r1c_gen_stats st;
        r1c_status gst = r1c_generate(c, s, ids + keep, n_ids - keep, (int)n_new, printer_token, &pr, &st);
        printer_finish(&pr);
        if (gst != R1C_OK) {
            cli_fail(C, "%s (use /reset to start over)", r1c_last_error());
            printer_free(&pr);
            free(ids);
            cv.n--; /* forget the turn that did not fit */
            free(cv.owned[cv.n]);
            n_cached = 0;
            r1c_ctx_truncate(c, 0);
            continue;
        }
        /* the cache now holds the prompt and every generated token but the last */
        int n_after = r1c_ctx_n_past(c);
        int32_t *nc = realloc(cached, sizeof *nc * (size_t)(n_after + 1));
        if (!nc) goto oom;
        cached = nc;
        memcpy(cached, ids, sizeof *ids * (size_t)n_ids);
        memcpy(cached + n_ids, pr.ids, sizeof *ids * (size_t)(n_after - n_ids));
        n_cached = n_after;
        int ok = convo_add(&cv, "assistant", pr.text ? pr.text : "");
        fprintf(stderr, "(%d prompt tokens, %d reused from the cache; %d generated at %.1f t/s%s)\n", n_ids, keep,
                st.n_gen, st.gen_seconds > 0 && st.n_gen > 1 ? (st.n_gen - 1) / st.gen_seconds : 0.0,
                st.stopped_by_context ? "; context full: /reset" : "");
        printer_free(&pr);
        free(ids);
        if (!ok) goto oom;
    }
    rc = 0;
    goto out;
oom:
    cli_fail(C, "out of memory");
out:
    convo_clear(&cv, 0);
    free(cv.m), free(cv.owned), free(cached), free(line);
    r1c_sampler_free(s);
    r1c_ctx_free(c);
    r1c_model_free(m);
    return rc;
}
