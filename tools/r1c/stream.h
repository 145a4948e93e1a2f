/* stream.h — printing generated tokens as text: decoded as they come (characters are never
 * split), R1's reasoning apart from its answer (dimmed on a terminal, under "reasoning:" and
 * "answer:" labels when piped), and the whole text kept for the chat history. */
#ifndef R1C_CLI_STREAM_H
#define R1C_CLI_STREAM_H

#include <stddef.h>
#include <stdio.h>

#include "r1c.h"

typedef struct printer {
    const r1c_tokenizer *tok;
    const r1c_model *model;
    r1c_detok_stream *detok;
    r1c_think_split *split;
    FILE *out;
    int tty;          /* colours instead of labels */
    int show_reasoning;
    int last_kind;    /* what was printed last (0: nothing) */
    int answer_started;
    char *text;       /* everything generated, as decoded text */
    size_t text_len, text_cap;
    int32_t *ids;     /* everything generated, as ids */
    int n_ids, ids_cap;
    int failed;
} printer;

/* in_reasoning: the prompt already opened <think>. */
int printer_init(printer *p, const r1c_model *m, const r1c_tokenizer *tok, FILE *out, int in_reasoning, int show_reasoning);
/* r1c_token_cb: decodes and prints one token (EOS prints nothing). */
int printer_token(int32_t tok, void *user);
void printer_finish(printer *p);
void printer_free(printer *p);

#endif
