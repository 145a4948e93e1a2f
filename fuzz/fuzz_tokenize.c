/* fuzz_tokenize.c — libFuzzer target for encoding and decoding with one real tokenizer.
 *
 * The tokenizer is loaded once, from the directory in R1C_FUZZ_TOKENIZER (default
 * tests/data/qwen2_tiny, relative to where the fuzzer runs). Input: one flags byte, then text.
 *   bit 0  R1C_TOK_ADD_SPECIAL       bit 2  R1C_TOK_NO_PARSE_SPECIAL
 *   bit 1  R1C_TOK_REPLACE_INVALID   bit 3  also decode with R1C_DETOK_SKIP_SPECIAL
 *
 * What must hold, each checked with a trap:
 *  - invalid UTF-8 is refused with a message unless REPLACE_INVALID is set;
 *  - every id exists; with NO_PARSE_SPECIAL no special token comes out of the text itself;
 *  - decode(encode(text)) == text byte for byte (after U+FFFD replacement if the text was
 *    invalid) for a tokenizer that has no normalizer: byte-level BPE loses nothing. With a
 *    normalizer made only of Unicode forms (Qwen's NFC) the same holds for ASCII text;
 *  - streaming the ids one by one gives the same bytes as decoding them at once;
 *  - the single-byte tokens of the raw input decode to the input made valid, streamed or not
 *    (this puts arbitrary byte sequences, not only encoder output, through both decoders);
 *  - BPE of the input as one word equals a plain quadratic BPE (lowest merge rank first,
 *    leftmost among equals) over the same merge table, with and without the word cache. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "r1c.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static r1c_tokenizer *g_tok;
static int g_exact_base;     /* no normalizer, no Removed split */
static int g_forms_only;     /* every normalizer is NFC/NFD/NFKC/NFKD: ASCII passes unchanged */
static int g_strip_special;  /* a special added token eats whitespace (lstrip/rstrip) */
static int g_strip_plain;    /* a non-special one does */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("R1C_FUZZ_TOKENIZER");
    if (!dir || !*dir) dir = "tests/data/qwen2_tiny";
    if (r1c_tokenizer_load(dir, &g_tok) != R1C_OK) {
        fprintf(stderr, "fuzz_tokenize: cannot load the tokenizer in %s: %s\n", dir, r1c_last_error());
        exit(2);
    }
    const r1c_tokenizer *t = g_tok;
    g_exact_base = t->n_norms == 0;
    g_forms_only = 1;
    for (int i = 0; i < t->n_norms; i++) g_forms_only &= t->norms[i].kind <= R1C_NORM_NFKD;
    for (int i = 0; i < t->n_pretoks; i++)
        if (t->pretoks[i].kind == R1C_PRE_SPLIT && t->pretoks[i].behavior == R1C_SPLIT_REMOVED) g_exact_base = g_forms_only = 0;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].lstrip || t->added[i].rstrip) *(t->added[i].special ? &g_strip_special : &g_strip_plain) = 1;
    fprintf(stderr, "fuzz_tokenize: %s: %d ids, %d added tokens, %d normalizers, %d pre-tokenizers%s\n", dir,
            t->n_vocab, t->n_added, t->n_norms, t->n_pretoks, g_exact_base ? ", exact round trip" : "");
    return 0;
}

/* Decodes ids at once and streamed; both must agree. Returns the whole decode (malloc'd). */
static char *decode_both(const int32_t *ids, int n, int dflags, size_t *len) {
    char *whole;
    CHECK(r1c_detokenize(g_tok, ids, n, dflags, &whole, len) == R1C_OK);
    CHECK(whole[*len] == 0 && r1c_utf8_check(whole, *len) == *len);
    r1c_detok_stream *s;
    CHECK(r1c_detok_stream_new(g_tok, dflags, &s) == R1C_OK);
    char *cat = malloc(*len + 1);
    CHECK(cat != NULL);
    size_t k = 0, pl;
    for (int i = 0; i < n; i++) {
        const char *p = r1c_detok_stream_push(s, ids[i], &pl);
        CHECK(p != NULL && k + pl <= *len);
        memcpy(cat + k, p, pl);
        k += pl;
    }
    const char *p = r1c_detok_stream_flush(s, &pl);
    CHECK(p != NULL && k + pl <= *len);
    memcpy(cat + k, p, pl);
    k += pl;
    r1c_detok_stream_free(s);
    CHECK(k == *len && memcmp(cat, whole, k) == 0);
    free(cat);
    return whole;
}

/* ---- reference BPE: find the best pair, merge it, repeat ---- */

static int64_t ref_rank(const r1c_tokenizer *t, int32_t a, int32_t b, int32_t *result) {
    uint64_t key = (uint64_t)(uint32_t)(a + 1) << 32 | (uint32_t)(b + 1);
    for (uint32_t h = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & t->merge_mask;; h = (h + 1) & t->merge_mask) {
        if (t->merges[h].key == 0) return -1;
        if (t->merges[h].key == key) {
            *result = t->merges[h].result;
            return t->merges[h].rank;
        }
    }
}

static int ref_bpe(const r1c_tokenizer *t, const char *w, size_t n, int32_t *sym) {
    if (t->ignore_merges || n == 1) {
        int32_t id = r1c_vocab_find(t, w, n);
        if (id >= 0) {
            sym[0] = id;
            return 1;
        }
    }
    int m = (int)n;
    for (int i = 0; i < m; i++) sym[i] = t->byte_id[(uint8_t)w[i]];
    for (;;) {
        int64_t best = -1;
        int at = -1;
        int32_t res = -1, r;
        for (int i = 0; i + 1 < m; i++) {
            int64_t k = ref_rank(t, sym[i], sym[i + 1], &r);
            if (k >= 0 && (best < 0 || k < best)) best = k, at = i, res = r;
        }
        if (at < 0) return m;
        sym[at] = res;
        memmove(sym + at + 1, sym + at + 2, sizeof *sym * (size_t)(m - at - 2));
        m--;
    }
}

static void check_bpe(const char *w, size_t n) {
    if (n == 0 || n > 512) return; /* the reference is quadratic */
    int32_t want[512];
    int nw = ref_bpe(g_tok, w, n, want);
    r1c_ids a = {0}, b = {0}, c = {0};
    r1c_bpe_cache *cache = r1c_bpe_cache_new();
    CHECK(cache != NULL);
    CHECK(r1c_bpe_word(g_tok, w, n, &a, NULL) == R1C_OK);
    CHECK(r1c_bpe_word(g_tok, w, n, &b, cache) == R1C_OK); /* fills the cache */
    CHECK(r1c_bpe_word(g_tok, w, n, &c, cache) == R1C_OK); /* served from it (<= 256 bytes) */
    CHECK(a.n == (size_t)nw && b.n == a.n && c.n == a.n);
    CHECK(memcmp(a.v, want, sizeof *want * a.n) == 0);
    CHECK(memcmp(b.v, want, sizeof *want * a.n) == 0 && memcmp(c.v, want, sizeof *want * a.n) == 0);
    free(a.v), free(b.v), free(c.v);
    r1c_bpe_cache_free(cache);
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const r1c_tokenizer *t = g_tok;
    const int flags = data[0] & 7, skip_special = data[0] & 8;
    const size_t len = size - 1;
    char *text = malloc(len ? len : 1); /* exactly the input: ASan sees a read past its end */
    CHECK(text != NULL);
    memcpy(text, data + 1, len);
    const int valid = r1c_utf8_check(text, len) == len;
    size_t el = len;
    char *lossy = valid ? NULL : r1c_utf8_lossy(text, len, &el);
    const char *expect = lossy ? lossy : text;

    int32_t *ids;
    int n;
    r1c_status st = r1c_tokenize(t, text, len, flags, &ids, &n);
    if (!valid && !(flags & R1C_TOK_REPLACE_INVALID)) {
        CHECK(st != R1C_OK && r1c_last_error()[0] && ids == NULL);
    } else {
        /* a real tokenizer's regexes stay within PCRE2's match limits on any text */
        if (st != R1C_OK) {
            fprintf(stderr, "fuzz_tokenize: r1c_tokenize failed: %s\n", r1c_last_error());
            __builtin_trap();
        }
        const int pre = (flags & R1C_TOK_ADD_SPECIAL) ? t->n_prefix : 0;
        const int suf = (flags & R1C_TOK_ADD_SPECIAL) ? t->n_suffix : 0;
        CHECK(n >= pre + suf);
        for (int i = 0; i < n; i++) {
            CHECK(r1c_token_bytes(t, ids[i], NULL) != NULL);
            if ((flags & R1C_TOK_NO_PARSE_SPECIAL) && i >= pre && i < n - suf) CHECK(!r1c_token_is_special(t, ids[i]));
        }
        size_t dl;
        char *dec = decode_both(ids + pre, n - pre - suf, 0, &dl);
        int exact = g_exact_base && !g_strip_plain && (!g_strip_special || (flags & R1C_TOK_NO_PARSE_SPECIAL));
        if (!exact && g_forms_only && is_ascii(expect, el)) /* NFC etc. leave ASCII as it is */
            exact = !g_strip_plain && (!g_strip_special || (flags & R1C_TOK_NO_PARSE_SPECIAL));
        if (exact) CHECK(dl == el && memcmp(dec, expect, el) == 0);
        free(dec);
        dec = decode_both(ids, n, skip_special ? R1C_DETOK_SKIP_SPECIAL : 0, &dl);
        free(dec);
        free(ids);
    }

    /* raw bytes as single-byte tokens: decoding is concatenation, then U+FFFD where invalid */
    int32_t *bytes = malloc(sizeof *bytes * (len ? len : 1));
    CHECK(bytes != NULL);
    for (size_t i = 0; i < len; i++) bytes[i] = t->byte_id[(uint8_t)text[i]];
    size_t bl;
    char *dec = decode_both(bytes, (int)len, 0, &bl);
    CHECK(bl == el && memcmp(dec, expect, el) == 0);
    free(dec);
    free(bytes);

    check_bpe(text, len);
    free(lossy);
    free(text);
    return 0;
}
