/* stream.c — see stream.h. */
#include "stream.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM "\033[2m"
#define RESET "\033[0m"

static void on_text(r1c_text_kind kind, const char *s, size_t n, void *user) {
    printer *p = user;
    if (kind == R1C_TEXT_REASONING && !p->show_reasoning) return;
    if ((int)kind != p->last_kind) {
        if (p->tty) {
            fputs(kind == R1C_TEXT_REASONING ? DIM : RESET, p->out);
        } else {
            if (p->last_kind) fputs("\n\n", p->out);
            fputs(kind == R1C_TEXT_REASONING ? "reasoning:\n" : "answer:\n", p->out);
        }
        if (kind == R1C_TEXT_ANSWER && p->last_kind == R1C_TEXT_REASONING && p->tty) fputs("\n", p->out);
        p->last_kind = kind;
    }
    if (kind == R1C_TEXT_ANSWER && !p->answer_started) { /* R1 puts blank lines after </think> */
        while (n && (*s == '\n' || *s == '\r')) s++, n--;
        if (!n) return;
        p->answer_started = 1;
    }
    fwrite(s, 1, n, p->out);
    fflush(p->out);
}

int printer_init(printer *p, const r1c_model *m, const r1c_tokenizer *tok, FILE *out, int in_reasoning, int show_reasoning) {
    memset(p, 0, sizeof *p);
    p->tok = tok;
    p->model = m;
    p->out = out;
    p->tty = isatty(fileno(out));
    p->show_reasoning = show_reasoning;
    if (r1c_detok_stream_new(tok, 0, &p->detok) != R1C_OK) return 0;
    if (r1c_think_split_new(in_reasoning, &p->split) != R1C_OK) return 0;
    return 1;
}

static void keep(printer *p, const char *s, size_t n) {
    if (p->text_len + n + 1 > p->text_cap) {
        size_t cap = p->text_cap ? 2 * p->text_cap : 4096;
        while (cap < p->text_len + n + 1) cap *= 2;
        char *t = realloc(p->text, cap);
        if (!t) {
            p->failed = 1;
            return;
        }
        p->text = t, p->text_cap = cap;
    }
    memcpy(p->text + p->text_len, s, n);
    p->text_len += n;
    p->text[p->text_len] = 0;
}

int printer_token(int32_t tok, void *user) {
    printer *p = user;
    if (p->n_ids == p->ids_cap) {
        int cap = p->ids_cap ? 2 * p->ids_cap : 256;
        int32_t *v = realloc(p->ids, sizeof *v * (size_t)cap);
        if (!v) return 1;
        p->ids = v, p->ids_cap = cap;
    }
    p->ids[p->n_ids++] = tok;
    if (r1c_model_is_eos(p->model, tok)) return 0; /* the end marker is not text */
    size_t n;
    const char *s = r1c_detok_stream_push(p->detok, tok, &n);
    if (!s) return 1;
    keep(p, s, n);
    r1c_think_split_feed(p->split, s, n, on_text, p);
    return 0;
}

void printer_finish(printer *p) {
    size_t n;
    const char *s = r1c_detok_stream_flush(p->detok, &n);
    if (s && n) {
        keep(p, s, n);
        r1c_think_split_feed(p->split, s, n, on_text, p);
    }
    r1c_think_split_flush(p->split, on_text, p);
    if (p->tty && p->last_kind == R1C_TEXT_REASONING) fputs(RESET, p->out);
    fputs("\n", p->out);
    fflush(p->out);
}

void printer_free(printer *p) {
    r1c_detok_stream_free(p->detok);
    r1c_think_split_free(p->split);
    free(p->text);
    free(p->ids);
}
