/* bpe_train.c — byte-level BPE training (see bpe_train.h for the format and the tie rule).
 *
 * Data:
 *   words  distinct pre-tokenized pieces with their counts; each is a list of symbol ids,
 *          starting as its bytes and shrinking as merges apply
 *   pairs  every adjacent (left, right) that ever occurred: its weighted count (sum of the
 *          counts of the words it occurs in, once per occurrence) and the words it occurs in
 *          (appended when it appears in a word; may hold stale or repeated entries, which a
 *          merge step skips: a word is rewritten at most once per step)
 *   heap   (count, left, right) entries, best first, with lazy invalidation: an entry whose
 *          count no longer matches its pair's is put back with the current count when it
 *          reaches the top. Counts of existing pairs only fall during a merge, except pairs
 *          with the merged token (new, or old when two merges spell the same bytes): those are
 *          pushed afresh after each step. So every live pair has an entry at least as good as
 *          its current count, and a popped entry that matches is the true best.
 * A merge touches only the words that hold the pair, so training costs about the text size
 * plus the total size of the rewritten words, not (merges x corpus). */
#include "bpe_train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../base/error.h"
#include "../base/file.h"
#include "../tokenizer/tokenizer.h"
#include "../tokenizer/utf8.h"

/* Qwen2's split pattern (GPT-4's with \p{N} one digit at a time): numbers become digit
 * sequences, so no token ever spans two digits and arithmetic stays digit by digit. */
static const char SPLIT_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct added_def {
    const char *content;
    int special;
} added_def;

/* DeepSeek-R1's added tokens (the think/answer tags are not special there either, so they
 * survive skip_special_tokens decoding). */
static const added_def ADDED[R1C_BPE_N_ADDED] = {
    {"<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", 1}, /* <｜begin▁of▁sentence｜> */
    {"<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", 1},   /* <｜end▁of▁sentence｜> */
    {"<\xef\xbd\x9c\xe2\x96\x81pad\xe2\x96\x81\xef\xbd\x9c>", 1},                 /* <｜▁pad▁｜> */
    {"<\xef\xbd\x9cUser\xef\xbd\x9c>", 1},                                       /* <｜User｜> */
    {"<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>", 1},                               /* <｜Assistant｜> */
    {"<think>", 0},
    {"</think>", 0},
    {"<answer>", 0},
    {"</answer>", 0},
};
enum { ADDED_BOS = 0, ADDED_EOS = 1, ADDED_PAD = 2 };

/* DeepSeek-R1's chat template (Ollama's deepseek-r1 8b one: earlier assistant turns lose their
 * reasoning up to </think>), kept byte for byte. */
static const char R1_CHAT_TEMPLATE[] =
#include "r1_chat_template.inc"

/* ------------------------------------------------------------- containers */

static r1c_status grow(void *pp, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return R1C_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *n = realloc(*(void **)pp, c * elem);
    if (!n) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    *(void **)pp = n;
    *cap = c;
    return R1C_OK;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* Distinct byte strings, numbered in order of first appearance (words; tokens). */
typedef struct strtab {
    char *buf;
    size_t buf_n, buf_cap;
    size_t *off;
    uint32_t *len;
    size_t n, cap;
    int32_t *slots; /* index + 1; 0 = empty */
    size_t mask;
} strtab;

static void strtab_free(strtab *t) {
    free(t->buf), free(t->off), free(t->len), free(t->slots);
    memset(t, 0, sizeof *t);
}

static int strtab_eq(const strtab *t, int32_t i, const char *s, size_t n) {
    return t->len[i] == n && memcmp(t->buf + t->off[i], s, n) == 0;
}

static r1c_status strtab_rehash(strtab *t, size_t slots) {
    int32_t *v = calloc(slots, sizeof *v);
    if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n; i++) {
        size_t h = hash_bytes(t->buf + t->off[i], t->len[i]) & (slots - 1);
        while (v[h]) h = (h + 1) & (slots - 1);
        v[h] = (int32_t)i + 1;
    }
    free(t->slots);
    t->slots = v;
    t->mask = slots - 1;
    return R1C_OK;
}

/* *idx of s (added if new; *added says which). */
static r1c_status strtab_intern(strtab *t, const char *s, size_t n, int32_t *idx, int *added) {
    if (!t->slots || 2 * (t->n + 1) > t->mask + 1) {
        r1c_status st = strtab_rehash(t, t->slots ? 2 * (t->mask + 1) : 1024);
        if (st != R1C_OK) return st;
    }
    size_t h = hash_bytes(s, n) & t->mask;
    for (; t->slots[h]; h = (h + 1) & t->mask)
        if (strtab_eq(t, t->slots[h] - 1, s, n)) {
            *idx = t->slots[h] - 1;
            if (added) *added = 0;
            return R1C_OK;
        }
    if (t->n >= INT32_MAX - 1) return r1c_error(R1C_ERR_NOMEM, "more than 2^31 distinct pieces");
    r1c_status st = grow(&t->buf, &t->buf_cap, t->buf_n + n + 1, 1);
    if (st == R1C_OK && t->n == t->cap) {
        size_t c1 = t->cap, c2 = t->cap;
        st = grow(&t->off, &c1, t->n + 1, sizeof *t->off);
        if (st == R1C_OK) st = grow(&t->len, &c2, t->n + 1, sizeof *t->len);
        if (st == R1C_OK) t->cap = c1 < c2 ? c1 : c2;
    }
    if (st != R1C_OK) return st;
    memcpy(t->buf + t->buf_n, s, n);
    t->off[t->n] = t->buf_n;
    t->len[t->n] = (uint32_t)n;
    t->buf_n += n;
    t->slots[h] = (int32_t)t->n + 1;
    *idx = (int32_t)t->n++;
    if (added) *added = 1;
    return R1C_OK;
}

/* ------------------------------------------------------------------ pairs */

typedef struct pair {
    int32_t a, b;
    int64_t count;
    int32_t *words; /* words it occurs in (maybe stale, maybe repeated) */
    uint32_t n_words, cap_words;
    int32_t stamp;  /* last merge step that raised its count */
    uint8_t merged;
} pair;

typedef struct heap_entry {
    int64_t count;
    int32_t a, b, pair;
} heap_entry;

struct r1c_bpe_trainer {
    pcre2_code *re;
    pcre2_match_data *md;
    r1c_pretok pretok[2]; /* what the loader builds from the written pre_tokenizer */

    strtab words;
    uint64_t *word_count;
    size_t word_count_cap;
    r1c_bpe_train_stats stats;

    /* training */
    int trained;
    strtab tokens;          /* id -> raw bytes */
    int32_t *sym;           /* all words' symbols back to back */
    size_t *sym_off;
    uint32_t *sym_n;
    int32_t *word_stamp;    /* last step that rewrote the word */
    pair *pairs;
    size_t n_pairs, cap_pairs;
    int32_t *pair_slots;    /* pair index + 1 by (a, b) */
    size_t pair_mask;
    heap_entry *heap;
    size_t n_heap, cap_heap;
    int32_t *changed;       /* pairs raised in the current step */
    size_t n_changed, cap_changed;
    int32_t (*merges)[2];   /* (a, b) in training order */
    size_t n_merges, cap_merges;
};

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }
static size_t pair_hash(uint64_t k) { return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20); }

static r1c_status pairs_rehash(r1c_bpe_trainer *tr, size_t slots) {
    int32_t *v = calloc(slots, sizeof *v);
    if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < tr->n_pairs; i++) {
        size_t h = pair_hash(pair_key(tr->pairs[i].a, tr->pairs[i].b)) & (slots - 1);
        while (v[h]) h = (h + 1) & (slots - 1);
        v[h] = (int32_t)i + 1;
    }
    free(tr->pair_slots);
    tr->pair_slots = v;
    tr->pair_mask = slots - 1;
    return R1C_OK;
}

/* Index of pair (a, b), created with count 0 if new. */
static r1c_status pair_get(r1c_bpe_trainer *tr, int32_t a, int32_t b, int32_t *idx) {
    if (!tr->pair_slots || 2 * (tr->n_pairs + 1) > tr->pair_mask + 1) {
        r1c_status st = pairs_rehash(tr, tr->pair_slots ? 2 * (tr->pair_mask + 1) : 4096);
        if (st != R1C_OK) return st;
    }
    size_t h = pair_hash(pair_key(a, b)) & tr->pair_mask;
    for (; tr->pair_slots[h]; h = (h + 1) & tr->pair_mask) {
        const pair *p = &tr->pairs[tr->pair_slots[h] - 1];
        if (p->a == a && p->b == b) {
            *idx = tr->pair_slots[h] - 1;
            return R1C_OK;
        }
    }
    if (tr->n_pairs >= INT32_MAX - 1) return r1c_error(R1C_ERR_NOMEM, "too many distinct pairs");
    r1c_status st = grow(&tr->pairs, &tr->cap_pairs, tr->n_pairs + 1, sizeof *tr->pairs);
    if (st != R1C_OK) return st;
    tr->pairs[tr->n_pairs] = (pair){.a = a, .b = b, .stamp = -1};
    tr->pair_slots[h] = (int32_t)tr->n_pairs + 1;
    *idx = (int32_t)tr->n_pairs++;
    return R1C_OK;
}

/* Adds d occurrences (weighted) of (a, b) in word w; a rise records w and the pair. */
static r1c_status pair_add(r1c_bpe_trainer *tr, int32_t a, int32_t b, int64_t d, int32_t w, int32_t step) {
    int32_t i = -1;
    r1c_status st = pair_get(tr, a, b, &i);
    if (st != R1C_OK) return st;
    pair *p = &tr->pairs[i];
    p->count += d;
    if (d <= 0) return R1C_OK;
    if (!p->n_words || p->words[p->n_words - 1] != w) {
        size_t cap = p->cap_words;
        if ((st = grow(&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words)) != R1C_OK) return st;
        p->cap_words = (uint32_t)cap;
        p->words[p->n_words++] = w;
    }
    if (p->stamp != step) {
        p->stamp = step;
        if ((st = grow(&tr->changed, &tr->cap_changed, tr->n_changed + 1, sizeof *tr->changed)) != R1C_OK) return st;
        tr->changed[tr->n_changed++] = i;
    }
    return R1C_OK;
}

/* ------------------------------------------------------------------- heap */

/* a before b: higher count, then smaller left id, then smaller right id */
static int better(const heap_entry *x, const heap_entry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static r1c_status heap_push(r1c_bpe_trainer *tr, int32_t pi) {
    r1c_status st = grow(&tr->heap, &tr->cap_heap, tr->n_heap + 1, sizeof *tr->heap);
    if (st != R1C_OK) return st;
    const pair *p = &tr->pairs[pi];
    heap_entry e = {p->count, p->a, p->b, pi};
    size_t i = tr->n_heap++;
    while (i > 0 && better(&e, &tr->heap[(i - 1) / 2])) {
        tr->heap[i] = tr->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tr->heap[i] = e;
    return R1C_OK;
}

static heap_entry heap_pop(r1c_bpe_trainer *tr) {
    heap_entry top = tr->heap[0], last = tr->heap[--tr->n_heap];
    size_t i = 0, n = tr->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&tr->heap[c + 1], &tr->heap[c])) c++;
        if (!better(&tr->heap[c], &last)) break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n) tr->heap[i] = last;
    return top;
}

/* The best pair not merged yet, or -1 when none is left. */
static r1c_status best_pair(r1c_bpe_trainer *tr, int32_t *out) {
    *out = -1;
    while (tr->n_heap) {
        heap_entry e = heap_pop(tr);
        const pair *p = &tr->pairs[e.pair];
        if (p->merged || p->count <= 0) continue;
        if (p->count != e.count) { /* stale: fell since it was pushed */
            r1c_status st = heap_push(tr, e.pair);
            if (st != R1C_OK) return st;
            continue;
        }
        *out = e.pair;
        return R1C_OK;
    }
    return R1C_OK;
}

/* ------------------------------------------------------------ adding text */

r1c_status r1c_bpe_trainer_new(r1c_bpe_trainer **out) {
    *out = NULL;
    r1c_bpe_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = r1c_regex_compile(SPLIT_PATTERN, sizeof SPLIT_PATTERN - 1, "BPE split pattern", &tr->re);
    if (st == R1C_OK && !(tr->md = pcre2_match_data_create_from_pattern(tr->re, NULL)))
        st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st != R1C_OK) {
        r1c_bpe_trainer_free(tr);
        return st;
    }
    tr->pretok[0] = (r1c_pretok){.kind = R1C_PRE_SPLIT, .re = tr->re, .behavior = R1C_SPLIT_ISOLATED};
    tr->pretok[1] = (r1c_pretok){.kind = R1C_PRE_BYTELEVEL}; /* no regex: bytes pass through */
    *out = tr;
    return R1C_OK;
}

void r1c_bpe_trainer_free(r1c_bpe_trainer *tr) {
    if (!tr) return;
    pcre2_match_data_free(tr->md);
    pcre2_code_free(tr->re);
    strtab_free(&tr->words);
    strtab_free(&tr->tokens);
    free(tr->word_count);
    free(tr->sym), free(tr->sym_off), free(tr->sym_n), free(tr->word_stamp);
    for (size_t i = 0; i < tr->n_pairs; i++) free(tr->pairs[i].words);
    free(tr->pairs), free(tr->pair_slots), free(tr->heap), free(tr->changed), free(tr->merges);
    free(tr);
}

static r1c_status count_piece(void *u, const char *s, size_t len) {
    r1c_bpe_trainer *tr = u;
    int32_t w;
    int added;
    r1c_status st = strtab_intern(&tr->words, s, len, &w, &added);
    if (st == R1C_OK && added) st = grow(&tr->word_count, &tr->word_count_cap, tr->words.n, sizeof *tr->word_count);
    if (st != R1C_OK) return st;
    if (added) tr->word_count[w] = 0;
    tr->word_count[w]++;
    tr->stats.pieces++;
    return R1C_OK;
}

r1c_status r1c_bpe_trainer_add_text(r1c_bpe_trainer *tr, const char *text, size_t len, const char *name) {
    if (!tr || (!text && len)) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_bpe_trainer_add_text: no trainer or no text");
    if (tr->trained) return r1c_error(R1C_ERR_INVALID_ARG, "%s: the tokenizer is already trained", name);
    size_t bad = r1c_utf8_check(text, len);
    if (bad != len) return r1c_error(R1C_ERR_FORMAT, "%s: not valid UTF-8 at byte %zu", name, bad);
    if (len >= UINT32_MAX) /* the pre-tokenizer's spans are 32-bit */
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: a text of %zu bytes is too long (at most 4 GiB - 1)", name, len);
    r1c_status st = r1c_pretok_each(tr->pretok, 2, text, len, tr->md, count_piece, tr);
    if (st != R1C_OK) return st;
    tr->stats.texts++;
    tr->stats.bytes += len;
    return R1C_OK;
}

/* JSON Lines: one text per line, the string member `field` of the line's object. */
static r1c_status add_jsonl(r1c_bpe_trainer *tr, const char *path, const char *data, size_t len, const char *field) {
    size_t line_no = 0;
    char name[1100];
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        line_no++;
        size_t k = pos;
        while (k < end && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r')) k++;
        if (k < end) {
            snprintf(name, sizeof name, "%s line %zu", path, line_no);
            size_t bad = r1c_utf8_check(data + pos, end - pos);
            if (bad != end - pos)
                return r1c_error(R1C_ERR_FORMAT, "%s: not valid UTF-8 at byte %zu of the file", name, pos + bad);
            char *text = NULL;
            size_t n = 0;
            r1c_status st = r1c_json_object_string(data + pos, end - pos, field, &text, &n);
            if (st != R1C_OK) {
                r1c_error_prefix("%s: ", name);
                return st;
            }
            st = r1c_bpe_trainer_add_text(tr, text, n, name);
            free(text);
            if (st != R1C_OK) return st;
        }
        pos = end + 1;
    }
    return R1C_OK;
}

r1c_status r1c_bpe_trainer_add_file(r1c_bpe_trainer *tr, const char *path, const char *jsonl_field) {
    char *data = NULL;
    size_t len = 0;
    r1c_status st = r1c_read_small_file(path, (size_t)UINT32_MAX - 1, &data, &len);
    if (st != R1C_OK) return st;
    st = jsonl_field ? add_jsonl(tr, path, data, len, jsonl_field) : r1c_bpe_trainer_add_text(tr, data, len, path);
    free(data);
    return st;
}

/* --------------------------------------------------------------- training */

/* Words as symbol lists (their bytes), and the count and word list of every adjacent pair. */
static r1c_status init_symbols(r1c_bpe_trainer *tr) {
    size_t nw = tr->words.n;
    tr->sym = malloc((tr->words.buf_n + 1) * sizeof *tr->sym);
    tr->sym_off = malloc((nw + 1) * sizeof *tr->sym_off);
    tr->sym_n = malloc((nw + 1) * sizeof *tr->sym_n);
    tr->word_stamp = malloc((nw + 1) * sizeof *tr->word_stamp);
    if (!tr->sym || !tr->sym_off || !tr->sym_n || !tr->word_stamp) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (size_t w = 0; w < nw; w++) {
        const uint8_t *s = (const uint8_t *)tr->words.buf + tr->words.off[w];
        tr->sym_off[w] = tr->words.off[w];
        tr->sym_n[w] = tr->words.len[w];
        tr->word_stamp[w] = -1;
        for (uint32_t i = 0; i < tr->words.len[w]; i++) tr->sym[tr->sym_off[w] + i] = s[i];
        for (uint32_t i = 0; i + 1 < tr->words.len[w]; i++) {
            r1c_status st = pair_add(tr, s[i], s[i + 1], (int64_t)tr->word_count[w], (int32_t)w, -1);
            if (st != R1C_OK) return st;
        }
    }
    for (size_t i = 0; i < tr->n_pairs; i++) {
        r1c_status st = heap_push(tr, (int32_t)i);
        if (st != R1C_OK) return st;
    }
    tr->n_changed = 0; /* the initial pairs are all in the heap already */
    return R1C_OK;
}

/* Rewrites word w with (a, b) -> c, left to right, and moves the counts of the neighbours:
 * in x a b y, (x, a) and (b, y) lose one occurrence and (x, c) and (c, y) gain one. The left
 * neighbour is read from the rewritten part, so "a b a b" ends with (c, c), not (c, a). */
static r1c_status merge_word(r1c_bpe_trainer *tr, int32_t w, int32_t a, int32_t b, int32_t c, int32_t step) {
    int32_t *s = tr->sym + tr->sym_off[w];
    uint32_t n = tr->sym_n[w], r = 0, j = 0;
    int64_t cnt = (int64_t)tr->word_count[w];
    r1c_status st = R1C_OK;
    while (r < n && st == R1C_OK) {
        if (r + 1 < n && s[r] == a && s[r + 1] == b) {
            st = pair_add(tr, a, b, -cnt, w, step);
            if (st == R1C_OK && j > 0) st = pair_add(tr, s[j - 1], a, -cnt, w, step);
            if (st == R1C_OK && j > 0) st = pair_add(tr, s[j - 1], c, cnt, w, step);
            if (st == R1C_OK && r + 2 < n) st = pair_add(tr, b, s[r + 2], -cnt, w, step);
            if (st == R1C_OK && r + 2 < n) st = pair_add(tr, c, s[r + 2], cnt, w, step);
            s[j++] = c;
            r += 2;
        } else {
            s[j++] = s[r++];
        }
    }
    tr->sym_n[w] = j;
    return st;
}

/* One merge: the pair's words rewritten, the raised pairs into the heap. */
static r1c_status apply_merge(r1c_bpe_trainer *tr, int32_t pi, int32_t step) {
    int32_t a = tr->pairs[pi].a, b = tr->pairs[pi].b, c;
    /* the merged token's bytes; two merges can spell the same bytes, then they share an id */
    size_t la = tr->tokens.len[a], lb = tr->tokens.len[b];
    char *cat = malloc(la + lb);
    if (!cat) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    memcpy(cat, tr->tokens.buf + tr->tokens.off[a], la);
    memcpy(cat + la, tr->tokens.buf + tr->tokens.off[b], lb);
    r1c_status st = strtab_intern(&tr->tokens, cat, la + lb, &c, NULL);
    free(cat);
    if (st == R1C_OK) st = grow(&tr->merges, &tr->cap_merges, tr->n_merges + 1, sizeof *tr->merges);
    if (st != R1C_OK) return st;
    tr->merges[tr->n_merges][0] = a, tr->merges[tr->n_merges][1] = b;
    tr->n_merges++;
    tr->pairs[pi].merged = 1;
    /* the word list is not appended to while we walk it: only pairs with c rise */
    const int32_t *ws = tr->pairs[pi].words;
    uint32_t nws = tr->pairs[pi].n_words;
    tr->n_changed = 0;
    for (uint32_t k = 0; k < nws && st == R1C_OK; k++) {
        int32_t w = ws[k];
        if (tr->word_stamp[w] == step) continue;
        tr->word_stamp[w] = step;
        st = merge_word(tr, w, a, b, c, step);
    }
    pair *p = &tr->pairs[pi];
    p->count = 0;
    free(p->words); /* never merged again */
    p->words = NULL, p->n_words = p->cap_words = 0;
    for (size_t k = 0; k < tr->n_changed && st == R1C_OK; k++)
        if (tr->pairs[tr->changed[k]].count > 0) st = heap_push(tr, tr->changed[k]);
    return st;
}

r1c_status r1c_bpe_trainer_train(r1c_bpe_trainer *tr, const r1c_bpe_train_params *params) {
    if (!tr || !params) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_bpe_trainer_train: no trainer or no parameters");
    if (tr->trained) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_bpe_trainer_train: already trained");
    int min_vocab = 256 + R1C_BPE_N_ADDED;
    if (params->vocab_size < min_vocab)
        return r1c_error(R1C_ERR_INVALID_ARG, "vocab_size %d is below the minimum %d (256 bytes + %d added tokens)",
                         params->vocab_size, min_vocab, R1C_BPE_N_ADDED);
    if (params->vocab_size > (1 << 24))
        return r1c_error(R1C_ERR_INVALID_ARG, "vocab_size %d is above the maximum %d", params->vocab_size, 1 << 24);
    if (params->min_frequency < 0)
        return r1c_error(R1C_ERR_INVALID_ARG, "min_frequency %d is negative", params->min_frequency);
    int64_t min_freq = params->min_frequency ? params->min_frequency : 2;
    tr->trained = 1;
    r1c_status st = R1C_OK;
    for (int b = 0; b < 256 && st == R1C_OK; b++) {
        char c = (char)b;
        int32_t id;
        st = strtab_intern(&tr->tokens, &c, 1, &id, NULL);
    }
    if (st == R1C_OK) st = init_symbols(tr);
    size_t target = (size_t)params->vocab_size - R1C_BPE_N_ADDED;
    for (int32_t step = 0; st == R1C_OK && tr->tokens.n < target; step++) {
        int32_t pi;
        if ((st = best_pair(tr, &pi)) != R1C_OK || pi < 0 || tr->pairs[pi].count < min_freq) break;
        st = apply_merge(tr, pi, step);
    }
    tr->stats.words = tr->words.n;
    tr->stats.merges = (int)tr->n_merges;
    tr->stats.vocab_size = (int)tr->tokens.n + R1C_BPE_N_ADDED;
    /* the pair tables are not needed for saving */
    for (size_t i = 0; i < tr->n_pairs; i++) free(tr->pairs[i].words);
    free(tr->pairs), free(tr->pair_slots), free(tr->heap), free(tr->changed);
    tr->pairs = NULL, tr->pair_slots = NULL, tr->heap = NULL, tr->changed = NULL;
    tr->n_pairs = tr->cap_pairs = tr->n_heap = tr->cap_heap = tr->n_changed = tr->cap_changed = 0;
    return st;
}

void r1c_bpe_trainer_stats(const r1c_bpe_trainer *tr, r1c_bpe_train_stats *out) { *out = tr->stats; }

/* ----------------------------------------------------------------- saving */

typedef struct jbuf {
    char *s;
    size_t n, cap;
    r1c_status st; /* the first failure; later writes do nothing */
} jbuf;

static void put_n(jbuf *j, const char *s, size_t n) {
    if (j->st != R1C_OK) return;
    if ((j->st = grow(&j->s, &j->cap, j->n + n + 1, 1)) != R1C_OK) return;
    memcpy(j->s + j->n, s, n);
    j->n += n;
    j->s[j->n] = 0;
}

static void put(jbuf *j, const char *s) { put_n(j, s, strlen(s)); }

static void putf_int(jbuf *j, long long v) {
    char b[32];
    put_n(j, b, (size_t)snprintf(b, sizeof b, "%lld", v));
}

/* A JSON string of UTF-8 text: quotes, backslashes and control characters escaped, the rest
 * as it is (as Python's json.dumps(ensure_ascii=False) writes it). */
static void put_str(jbuf *j, const char *s, size_t n) {
    put_n(j, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put_n(j, s + run, i - run);
        run = i + 1;
        char e[8];
        switch (c) {
        case '"': put_n(j, "\\\"", 2); break;
        case '\\': put_n(j, "\\\\", 2); break;
        case '\n': put_n(j, "\\n", 2); break;
        case '\r': put_n(j, "\\r", 2); break;
        case '\t': put_n(j, "\\t", 2); break;
        default: put_n(j, e, (size_t)snprintf(e, sizeof e, "\\u%04x", c)); break;
        }
    }
    put_n(j, s + run, n - run);
    put_n(j, "\"", 1);
}

/* A token's raw bytes as its byte-level string (each byte one GPT-2 alphabet character). */
static void put_token(jbuf *j, const r1c_bpe_trainer *tr, int32_t id) {
    const uint8_t *b = (const uint8_t *)tr->tokens.buf + tr->tokens.off[id];
    uint32_t n = tr->tokens.len[id];
    char tmp[4 * 64];
    size_t k = 0;
    put_n(j, "\"", 1);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cp = r1c_bytelevel_char(b[i]);
        if (cp == '"' || cp == '\\') tmp[k++] = '\\', tmp[k++] = (char)cp;
        else if (cp < 0x80) tmp[k++] = (char)cp;
        else tmp[k++] = (char)(0xc0 | cp >> 6), tmp[k++] = (char)(0x80 | (cp & 63));
        if (k > sizeof tmp - 4) put_n(j, tmp, k), k = 0;
    }
    put_n(j, tmp, k);
    put_n(j, "\"", 1);
}

static int32_t added_id(const r1c_bpe_trainer *tr, int i) { return (int32_t)tr->tokens.n + i; }

static void put_added_flags(jbuf *j, int special) {
    put(j, special ? "\"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false, \"special\": true"
                   : "\"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false, \"special\": false");
}

static void write_tokenizer_json(jbuf *j, const r1c_bpe_trainer *tr) {
    const char *bos = ADDED[ADDED_BOS].content;
    put(j, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
    for (int i = 0; i < R1C_BPE_N_ADDED; i++) {
        put(j, i ? ",\n    {\"id\": " : "\n    {\"id\": ");
        putf_int(j, added_id(tr, i));
        put(j, ", \"content\": ");
        put_str(j, ADDED[i].content, strlen(ADDED[i].content));
        put(j, ", ");
        put_added_flags(j, ADDED[i].special);
        put(j, "}");
    }
    put(j, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [\n"
           "    {\"type\": \"Split\", \"pattern\": {\"Regex\": ");
    put_str(j, SPLIT_PATTERN, sizeof SPLIT_PATTERN - 1);
    put(j, "}, \"behavior\": \"Isolated\", \"invert\": false},\n"
           "    {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": false}]},\n");
    /* BOS first, as DeepSeek's tokenizer.json has it (transformers' LlamaTokenizerFast rebuilds
     * this from add_bos_token anyway, and so does r1c) */
    put(j, "  \"post_processor\": {\"type\": \"TemplateProcessing\",\n    \"single\": [{\"SpecialToken\": {\"id\": ");
    put_str(j, bos, strlen(bos));
    put(j, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],\n    \"pair\": [{\"SpecialToken\": {\"id\": ");
    put_str(j, bos, strlen(bos));
    put(j, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": ");
    put_str(j, bos, strlen(bos));
    put(j, ", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}],\n    \"special_tokens\": {");
    put_str(j, bos, strlen(bos));
    put(j, ": {\"id\": ");
    put_str(j, bos, strlen(bos));
    put(j, ", \"ids\": [");
    putf_int(j, added_id(tr, ADDED_BOS));
    put(j, "], \"tokens\": [");
    put_str(j, bos, strlen(bos));
    put(j, "]}}},\n  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n"
           "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null,"
           " \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": false,\n"
           "    \"vocab\": {");
    for (size_t id = 0; id < tr->tokens.n; id++) {
        put(j, id ? ",\n      " : "\n      ");
        put_token(j, tr, (int32_t)id);
        put(j, ": ");
        putf_int(j, (long long)id);
    }
    put(j, "\n    },\n    \"merges\": [");
    for (size_t m = 0; m < tr->n_merges; m++) {
        put(j, m ? ",\n      [" : "\n      [");
        put_token(j, tr, tr->merges[m][0]);
        put(j, ", ");
        put_token(j, tr, tr->merges[m][1]);
        put(j, "]");
    }
    put(j, "\n    ]\n  }\n}\n");
}

static void put_key_str(jbuf *j, const char *key, const char *val) {
    put(j, "  \"");
    put(j, key);
    put(j, "\": ");
    put_str(j, val, strlen(val));
    put(j, ",\n");
}

static void write_config_json(jbuf *j, const r1c_bpe_trainer *tr) {
    put(j, "{\n  \"add_bos_token\": true,\n  \"add_eos_token\": false,\n  \"added_tokens_decoder\": {");
    for (int i = 0; i < R1C_BPE_N_ADDED; i++) {
        put(j, i ? ",\n    \"" : "\n    \"");
        putf_int(j, added_id(tr, i));
        put(j, "\": {\"content\": ");
        put_str(j, ADDED[i].content, strlen(ADDED[i].content));
        put(j, ", ");
        put_added_flags(j, ADDED[i].special);
        put(j, "}");
    }
    put(j, "\n  },\n");
    put_key_str(j, "bos_token", ADDED[ADDED_BOS].content);
    put(j, "  \"clean_up_tokenization_spaces\": false,\n");
    put_key_str(j, "eos_token", ADDED[ADDED_EOS].content);
    put(j, "  \"legacy\": true,\n  \"model_max_length\": 131072,\n");
    put_key_str(j, "pad_token", ADDED[ADDED_PAD].content);
    put(j, "  \"sp_model_kwargs\": {},\n  \"unk_token\": null,\n  \"tokenizer_class\": \"LlamaTokenizerFast\",\n  \"chat_template\": ");
    put_str(j, R1_CHAT_TEMPLATE, sizeof R1_CHAT_TEMPLATE - 1);
    put(j, "\n}\n");
}

static r1c_status write_file(const char *dir, const char *name, const jbuf *j) {
    char *path = r1c_path_join(dir, name);
    if (!path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = R1C_OK;
    FILE *f = fopen(path, "wb");
    if (!f) st = r1c_error(R1C_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    else {
        size_t w = fwrite(j->s, 1, j->n, f);
        int e = errno;
        if (fclose(f) != 0 || w != j->n) st = r1c_error(R1C_ERR_IO, "%s: write failed: %s", path, strerror(errno ? errno : e));
    }
    free(path);
    return st;
}

r1c_status r1c_bpe_trainer_save(const r1c_bpe_trainer *tr, const char *dir) {
    if (!tr || !dir) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_bpe_trainer_save: no trainer or no directory");
    if (!tr->trained) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_bpe_trainer_save: train first");
    struct stat sb;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return r1c_error(R1C_ERR_IO, "%s: cannot create the directory: %s", dir, strerror(errno));
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return r1c_error(R1C_ERR_IO, "%s: not a directory", dir);
    jbuf tj = {0}, cj = {0};
    write_tokenizer_json(&tj, tr);
    write_config_json(&cj, tr);
    r1c_status st = tj.st != R1C_OK ? tj.st : cj.st;
    if (st == R1C_OK) st = write_file(dir, "tokenizer.json", &tj);
    if (st == R1C_OK) st = write_file(dir, "tokenizer_config.json", &cj);
    free(tj.s), free(cj.s);
    return st;
}
