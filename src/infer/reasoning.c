/* reasoning.c — R1's <think>...</think> split over a stream of text.
 *
 * States: START (nothing seen yet: a leading <think>, after optional whitespace, opens the
 * reasoning; anything else is answer), REASONING (until </think>), ANSWER. A possible tag cut
 * by a chunk boundary is held back until it is decided. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "r1c.h"

enum { START, REASONING, ANSWER };

struct r1c_think_split {
    int state;
    char *hold; /* undecided bytes */
    size_t n, cap;
};

static const char OPEN[] = "<think>", CLOSE[] = "</think>";

r1c_status r1c_think_split_new(int in_reasoning, r1c_think_split **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    (*out)->state = in_reasoning ? REASONING : START;
    return R1C_OK;
}

void r1c_think_split_free(r1c_think_split *s) {
    if (!s) return;
    free(s->hold);
    free(s);
}

/* longest suffix of s[0..n) that is a proper prefix of tag */
static size_t partial_tag(const char *s, size_t n, const char *tag) {
    size_t k = strlen(tag) - 1;
    for (k = k < n ? k : n; k > 0; k--)
        if (memcmp(s + n - k, tag, k) == 0) return k;
    return 0;
}

static void emit(r1c_text_kind kind, const char *s, size_t n, r1c_text_cb cb, void *u) {
    if (n) cb(kind, s, n, u);
}

/* Processes hold[0..n) as far as it can be decided; keeps the rest. */
static void run(r1c_think_split *s, int final, r1c_text_cb cb, void *u) {
    char *b = s->hold;
    size_t n = s->n, i = 0;
    for (;;) {
        if (s->state == START) {
            size_t w = i;
            while (w < n && (b[w] == ' ' || b[w] == '\n' || b[w] == '\r' || b[w] == '\t')) w++;
            size_t rest = n - w, ol = strlen(OPEN);
            if (rest >= ol && memcmp(b + w, OPEN, ol) == 0) {
                s->state = REASONING; /* leading whitespace before <think> is dropped */
                i = w + ol;
                continue;
            }
            if (!final && (rest == 0 || (rest < ol && memcmp(b + w, OPEN, rest) == 0))) break; /* undecided */
            s->state = ANSWER;
            continue;
        }
        if (s->state == REASONING) {
            char *c = memmem(b + i, n - i, CLOSE, strlen(CLOSE));
            if (c) {
                emit(R1C_TEXT_REASONING, b + i, (size_t)(c - (b + i)), cb, u);
                i = (size_t)(c - b) + strlen(CLOSE);
                s->state = ANSWER;
                continue;
            }
            size_t keep = final ? 0 : partial_tag(b + i, n - i, CLOSE);
            emit(R1C_TEXT_REASONING, b + i, n - i - keep, cb, u);
            i = n - keep;
            break;
        }
        emit(R1C_TEXT_ANSWER, b + i, n - i, cb, u); /* ANSWER: everything that follows */
        i = n;
        break;
    }
    if (n > i) memmove(b, b + i, n - i);
    s->n = n - i;
}

void r1c_think_split_feed(r1c_think_split *s, const char *text, size_t len, r1c_text_cb cb, void *user) {
    if (s->n + len > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + len) cap *= 2;
        char *h = realloc(s->hold, cap);
        if (!h) { /* out of memory: pass the text through undivided rather than lose it */
            emit(s->state == REASONING ? R1C_TEXT_REASONING : R1C_TEXT_ANSWER, text, len, cb, user);
            return;
        }
        s->hold = h, s->cap = cap;
    }
    if (len) memcpy(s->hold + s->n, text, len);
    s->n += len;
    run(s, 0, cb, user);
}

void r1c_think_split_flush(r1c_think_split *s, r1c_text_cb cb, void *user) { run(s, 1, cb, user); }
