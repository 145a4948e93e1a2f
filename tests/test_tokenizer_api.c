/* test_tokenizer_api.c — the tokenizer's behaviour beyond the reference corpus: invalid UTF-8,
 * streaming decode that never splits a character, special-token parsing switched off,
 * R1's <think> tokens coming from the model's added-token table, pathological inputs, and
 * the reasoning splitter. */
#include "r1c.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

static char g_dir[1024];

static r1c_tokenizer *load(const char *name) {
    const char *base = getenv("R1C_TOKDATA");
    snprintf(g_dir, sizeof g_dir, "%s/%s", base ? base : "build/tests/tokdata", name);
    r1c_tokenizer *t = NULL;
    CHECK(r1c_tokenizer_load(g_dir, &t) == R1C_OK, "load %s: %s", g_dir, r1c_last_error());
    return t;
}

static void test_invalid_utf8(r1c_tokenizer *t) {
    int32_t *ids;
    int n;
    const char bad[] = "abc\xff" "def";
    CHECK(r1c_tokenize(t, bad, 7, 0, &ids, &n) == R1C_ERR_INVALID_ARG, "invalid UTF-8 accepted");
    CHECK(contains(r1c_last_error(), "UTF-8") && contains(r1c_last_error(), "byte 3"), "message: %s", r1c_last_error());
    CHECK(ids == NULL && n == 0, "outputs set on failure");
    /* with the flag: as if the text had U+FFFD there */
    int32_t *want;
    int wn;
    CHECK(r1c_tokenize(t, "abc\xef\xbf\xbd" "def", 9, 0, &want, &wn) == R1C_OK, "encode U+FFFD");
    CHECK(r1c_tokenize(t, bad, 7, R1C_TOK_REPLACE_INVALID, &ids, &n) == R1C_OK, "replace flag: %s", r1c_last_error());
    CHECK(n == wn && memcmp(ids, want, sizeof *ids * (size_t)n) == 0, "replacement encodes as U+FFFD");
    free(ids), free(want);
    /* truncated sequences, overlong forms, surrogates, code points past U+10FFFF */
    const char *cases[] = {"\xe4\xb8", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"};
    for (int i = 0; i < 5; i++)
        CHECK(r1c_tokenize(t, cases[i], strlen(cases[i]), 0, &ids, &n) == R1C_ERR_INVALID_ARG, "case %d accepted", i);
    /* maximal-subpart replacement, as Rust's from_utf8_lossy */
    size_t l;
    char *fixed = r1c_utf8_lossy("a\xe4\xb8" "b\xf0\x9f\x98\x80\xff", 9, &l);
    CHECK(fixed && l == 12 && !memcmp(fixed, "a\xef\xbf\xbd" "b\xf0\x9f\x98\x80\xef\xbf\xbd", 12), "lossy conversion");
    free(fixed);
}

/* decode one token at a time: chunks are always whole characters and add up to the text */
static void test_stream(r1c_tokenizer *t, const char *text) {
    int32_t *ids;
    int n;
    if (r1c_tokenize(t, text, strlen(text), 0, &ids, &n) != R1C_OK) {
        CHECK(0, "encode: %s", r1c_last_error());
        return;
    }
    r1c_detok_stream *s;
    r1c_detok_stream_new(t, 0, &s);
    char out[4096];
    size_t k = 0, len;
    int held = 0;
    for (int i = 0; i < n; i++) {
        size_t tl;
        r1c_token_bytes(t, ids[i], &tl);
        const char *c = r1c_detok_stream_push(s, ids[i], &len);
        CHECK(c && r1c_utf8_check(c, len) == len, "chunk %d is not whole UTF-8", i);
        held |= len < tl; /* some token ended inside a character and was held back */
        memcpy(out + k, c, len);
        k += len;
    }
    const char *c = r1c_detok_stream_flush(s, &len);
    memcpy(out + k, c, len);
    k += len;
    CHECK(k == strlen(text) && !memcmp(out, text, k), "stream decode of '%s' differs", text);
    CHECK(held || r1c_utf8_check(text, strlen(text)) == strlen(text), "held");
    r1c_detok_stream_free(s);
    free(ids);
}

/* a token that is half a character is held until the rest comes; a dangling half is U+FFFD */
static void test_stream_split_char(r1c_tokenizer *t) {
    int32_t b1 = -1, b2 = -1, b3 = -1;
    int32_t *ids;
    int n;
    /* single bytes of "世" (e4 b8 96) as byte-level tokens */
    for (int i = 0; i < r1c_tokenizer_n_vocab(t); i++) {
        size_t l;
        const char *b = r1c_token_bytes(t, i, &l);
        if (b && l == 1 && (unsigned char)b[0] == 0xe4) b1 = i;
        if (b && l == 1 && (unsigned char)b[0] == 0xb8) b2 = i;
        if (b && l == 1 && (unsigned char)b[0] == 0x96) b3 = i;
    }
    CHECK(b1 >= 0 && b2 >= 0 && b3 >= 0, "byte tokens");
    r1c_detok_stream *s;
    r1c_detok_stream_new(t, 0, &s);
    size_t len;
    r1c_detok_stream_push(s, b1, &len);
    CHECK(len == 0, "first byte emitted");
    r1c_detok_stream_push(s, b2, &len);
    CHECK(len == 0, "second byte emitted");
    const char *c = r1c_detok_stream_push(s, b3, &len);
    CHECK(len == 3 && !memcmp(c, "\xe4\xb8\x96", 3), "whole character");
    r1c_detok_stream_push(s, b1, &len);
    c = r1c_detok_stream_flush(s, &len);
    CHECK(len == 3 && !memcmp(c, "\xef\xbf\xbd", 3), "dangling byte at the end is U+FFFD");
    r1c_detok_stream_free(s);
    (void)ids, (void)n;
}

static void test_special_parsing(r1c_tokenizer *t) {
    int32_t *a, *b;
    int na, nb;
    const char *txt = "<｜begin▁of▁sentence｜>hi";
    r1c_tokenize(t, txt, strlen(txt), 0, &a, &na);
    r1c_tokenize(t, txt, strlen(txt), R1C_TOK_NO_PARSE_SPECIAL, &b, &nb);
    CHECK(na >= 1 && a[0] == 0, "special token text is the token");
    CHECK(nb > 2 && b[0] != 0, "with NO_PARSE_SPECIAL it is text");
    /* skip_special decode */
    char *out;
    size_t l;
    r1c_detokenize(t, a, na, R1C_DETOK_SKIP_SPECIAL, &out, &l);
    CHECK(l == 2 && !memcmp(out, "hi", 2), "skip special: '%s'", out);
    free(out), free(a), free(b);
    CHECK(r1c_detokenize(t, (int32_t[]){5, 1 << 30}, 2, 0, &out, &l) == R1C_ERR_INVALID_ARG &&
              contains(r1c_last_error(), "not in the vocabulary"), "bad id: %s", r1c_last_error());
    CHECK(r1c_token_id(t, "<｜User｜>") == 128803 && r1c_tokenizer_bos(t) == 0 && r1c_tokenizer_eos(t) == 1, "ids");
}

/* R1's tokenizer.json puts <think> / </think> at 128798 / 128799, where V3 has placeholders:
 * rewrite V3's file that way, and the table from the file must drive the encoding. */
static void test_r1_think_tokens(void) {
    char path[1100];
    snprintf(path, sizeof path, "%s/tokenizer.json", g_dir);
    size_t len;
    char *src = read_file(path, &len);
    CHECK(src != NULL, "read %s", path);
    if (!src) return;
    char *dst = malloc(len + 64);
    size_t k = 0;
    const char *ph[2] = {"<｜place▁holder▁no▁798｜>", "<｜place▁holder▁no▁799｜>"};
    const char *rep[2] = {"<think>", "</think>"};
    for (size_t i = 0; i < len;) {
        int done = 0;
        for (int j = 0; j < 2 && !done; j++) {
            size_t pl = strlen(ph[j]);
            if (i + pl <= len && !memcmp(src + i, ph[j], pl)) {
                memcpy(dst + k, rep[j], strlen(rep[j]));
                k += strlen(rep[j]), i += pl, done = 1;
                /* R1 marks them not special: the think text is content */
                char *sp = strstr(src + i, "\"special\": true");
                if (sp && sp - (src + i) < 200) {
                    size_t pre = (size_t)(sp - (src + i));
                    memcpy(dst + k, src + i, pre);
                    k += pre, i += pre;
                    memcpy(dst + k, "\"special\": false", 16);
                    k += 16, i += 15;
                }
            }
        }
        if (!done) dst[k++] = src[i++];
    }
    r1c_tokenizer *t;
    CHECK(r1c_tokenizer_load_json(dst, k, NULL, 0, "r1-tokenizer", &t) == R1C_OK, "load R1 variant: %s", r1c_last_error());
    free(src), free(dst);
    int32_t *ids;
    int n;
    const char *txt = "<think>\nhm</think>\n\nok";
    if (t && r1c_tokenize(t, txt, strlen(txt), 0, &ids, &n) == R1C_OK) {
        CHECK(n >= 4 && ids[0] == 128798, "<think> is token 128798 (got %d)", n ? ids[0] : -1);
        int has_close = 0;
        for (int i = 0; i < n; i++) has_close |= ids[i] == 128799;
        CHECK(has_close, "</think> is token 128799");
        CHECK(r1c_token_id(t, "<think>") == 128798 && !r1c_token_is_special(t, 128798), "think token table");
        free(ids);
    }
    r1c_tokenizer_free(t);
}

/* r1c_chat_open_think: "<think>\n" appended once when asked (or when the template wants it),
 * never doubled, and in_reasoning tells whether the prompt ends inside <think>. */
static void test_open_think(r1c_tokenizer *t) {
    static const char *prompts[] = {"<｜User｜>hi<｜Assistant｜>", "<｜User｜>hi<｜Assistant｜><think>\n", "plain"};
    for (int i = 0; i < 3; i++)
        for (int think = -1; think <= 1; think++) {
            size_t len = strlen(prompts[i]);
            char *text = strdup(prompts[i]);
            int in = -7;
            CHECK(r1c_chat_open_think(t, &text, &len, think, &in) == R1C_OK, "open_think: %s", r1c_last_error());
            const int had = i == 1, add = !had && (think == 1 || (think == -1 && r1c_chat_wants_think(t, prompts[i], strlen(prompts[i]))));
            CHECK(len == strlen(prompts[i]) + (add ? 8 : 0) && strlen(text) == len && !memcmp(text, prompts[i], strlen(prompts[i])),
                  "prompt %d think %d: %zu bytes", i, think, len);
            CHECK(in == (had || add), "prompt %d think %d: in_reasoning %d", i, think, in);
            free(text);
        }
    char *none = NULL;
    size_t zero = 0;
    CHECK(r1c_chat_open_think(t, &none, &zero, 1, NULL) == R1C_ERR_INVALID_ARG, "no prompt refused");
}

/* Long runs stay near-linear: a 20 KB word and 10,000 spaces encode and decode back. */
static void test_long_inputs(r1c_tokenizer *t) {
    size_t n = 20480;
    char *s = malloc(n + 1);
    for (int pass = 0; pass < 3; pass++) {
        memset(s, pass == 0 ? 'a' : pass == 1 ? ' ' : 'z', n);
        if (pass == 2)
            for (size_t i = 0; i < n; i += 7) s[i] = "xq9"[i % 3];
        s[n] = 0;
        int32_t *ids;
        int m;
        char *back;
        size_t bl;
        CHECK(r1c_tokenize(t, s, n, 0, &ids, &m) == R1C_OK && m > 0, "long input %d", pass);
        CHECK(r1c_detokenize(t, ids, m, 0, &back, &bl) == R1C_OK && bl == n && !memcmp(back, s, n), "round trip %d", pass);
        free(ids), free(back);
    }
    free(s);
}

static int g_r, g_a;
static char g_text[2][256];
static void collect(r1c_text_kind kind, const char *s, size_t n, void *u) {
    (void)u;
    int k = kind == R1C_TEXT_REASONING ? 0 : 1;
    int *len = k ? &g_a : &g_r;
    memcpy(g_text[k] + *len, s, n);
    *len += (int)n;
    g_text[k][*len] = 0;
}

static void split(const char *text, int chunk, int in_reasoning) {
    r1c_think_split *s;
    r1c_think_split_new(in_reasoning, &s);
    g_r = g_a = 0;
    g_text[0][0] = g_text[1][0] = 0;
    for (size_t i = 0; i < strlen(text); i += (size_t)chunk) {
        size_t n = strlen(text) - i < (size_t)chunk ? strlen(text) - i : (size_t)chunk;
        r1c_think_split_feed(s, text + i, n, collect, NULL);
    }
    r1c_think_split_flush(s, collect, NULL);
    r1c_think_split_free(s);
}

static void test_reasoning_split(void) {
    for (int chunk = 1; chunk <= 9; chunk++) {
        split("Let me think.\n</think>\n\nThe answer is 4.", chunk, 1);
        CHECK(!strcmp(g_text[0], "Let me think.\n") && !strcmp(g_text[1], "\n\nThe answer is 4."), "chunk %d: '%s' / '%s'", chunk, g_text[0], g_text[1]);
        split("  <think>\nhm</think>yes", chunk, 0);
        CHECK(!strcmp(g_text[0], "\nhm") && !strcmp(g_text[1], "yes"), "open tag chunk %d: '%s' / '%s'", chunk, g_text[0], g_text[1]);
        split("no tags < here </thin", chunk, 0);
        CHECK(g_r == 0 && !strcmp(g_text[1], "no tags < here </thin"), "no tags: '%s'", g_text[1]);
        split("still thinking </thi", chunk, 1);
        CHECK(!strcmp(g_text[0], "still thinking </thi") && g_a == 0, "unfinished: '%s'", g_text[0]);
    }
    split("<thi", 2, 0); /* a prefix of <think> that never completes is answer text */
    CHECK(!strcmp(g_text[1], "<thi"), "partial open tag: '%s'", g_text[1]);
}

/* Components r1c does not implement are errors that name them, never silent differences. */
static char *replace(const char *s, const char *from, const char *to) {
    const char *p = strstr(s, from);
    if (!p) return NULL;
    size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
    char *o = malloc(n - fl + tl + 1);
    memcpy(o, s, a);
    memcpy(o + a, to, tl);
    memcpy(o + a + tl, p + fl, n - a - fl + 1);
    return o;
}

static void test_unsupported(void) {
    size_t len;
    char *base = read_file("tests/data/qwen2_tiny/tokenizer.json", &len);
    CHECK(base != NULL, "read tiny tokenizer");
    if (!base) return;
    struct { const char *from, *to, *want; r1c_status st; } cases[] = {
        {"\"normalizer\": null", "\"normalizer\": {\"type\": \"BertNormalizer\"}", "normalizer 'BertNormalizer'", R1C_ERR_UNSUPPORTED},
        {"\"decoder\": {\"type\": \"ByteLevel\"", "\"decoder\": {\"type\": \"WordPiece\"", "decoder 'WordPiece'", R1C_ERR_UNSUPPORTED},
        {"\"type\": \"BPE\"", "\"type\": \"Unigram\"", "model type 'Unigram'", R1C_ERR_UNSUPPORTED},
        {"\"pre_tokenizer\": {\"type\": \"ByteLevel\"", "\"pre_tokenizer\": {\"type\": \"Metaspace\"", "pre_tokenizer 'Metaspace'", R1C_ERR_UNSUPPORTED},
        {"\"byte_fallback\": false", "\"byte_fallback\": true", "byte_fallback", R1C_ERR_UNSUPPORTED},
        {"\"post_processor\": {\"type\": \"ByteLevel\"", "\"post_processor\": {\"type\": \"RobertaProcessing\"", "post_processor 'RobertaProcessing'", R1C_ERR_UNSUPPORTED},
        {"\"vocab\": {", "\"vocab\": [", "model.vocab must be an object", R1C_ERR_FORMAT},
        {"\"merges\": [", "\"merges\": [\"zz qq\", ", "model.merges[0]", R1C_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *j = replace(base, cases[i].from, cases[i].to);
        CHECK(j != NULL, "case %zu: pattern not found", i);
        if (!j) continue;
        r1c_tokenizer *t = NULL;
        r1c_status st = r1c_tokenizer_load_json(j, strlen(j), NULL, 0, "tiny/tokenizer.json", &t);
        CHECK(st == cases[i].st && contains(r1c_last_error(), cases[i].want) && contains(r1c_last_error(), "tiny/tokenizer.json"),
              "case %zu: status %d, message '%s'", i, st, r1c_last_error());
        CHECK(t == NULL, "case %zu: tokenizer returned", i);
        r1c_tokenizer_free(t);
        free(j);
    }
    /* a truncated file: the JSON reader names the byte */
    char *cut = malloc(len / 2 + 1);
    memcpy(cut, base, len / 2);
    r1c_tokenizer *t = NULL;
    CHECK(r1c_tokenizer_load_json(cut, len / 2, NULL, 0, "tiny/tokenizer.json", &t) == R1C_ERR_FORMAT &&
              contains(r1c_last_error(), "invalid JSON at byte"), "truncated: %s", r1c_last_error());
    free(cut);
    free(base);
}

/* One tokenizer, several threads: the shared word cache gives every thread the same ids as a
 * fresh single-threaded encode. */
#include <pthread.h>
typedef struct job {
    const r1c_tokenizer *t;
    const char *text;
    const int32_t *want;
    int n_want, ok;
} job;

static void *encode_many(void *u) {
    job *j = u;
    j->ok = 1;
    for (int r = 0; r < 30; r++) {
        int32_t *ids;
        int n;
        if (r1c_tokenize(j->t, j->text, strlen(j->text), 0, &ids, &n) != R1C_OK) {
            j->ok = 0;
            return NULL;
        }
        j->ok &= n == j->n_want && !memcmp(ids, j->want, sizeof *ids * (size_t)n);
        free(ids);
    }
    return NULL;
}

static void test_threads(void) {
    r1c_tokenizer *fresh = load("qwen3"), *shared = load("qwen3");
    if (!fresh || !shared) return;
    size_t len;
    char *corpus = read_file("tests/data/tokenizer/corpus.jsonl", &len); /* varied text, JSON and all */
    int32_t *want;
    int n;
    CHECK(r1c_tokenize(fresh, corpus, len, 0, &want, &n) == R1C_OK, "encode");
    pthread_t th[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){shared, corpus, want, n, 0};
        pthread_create(&th[i], NULL, encode_many, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].ok, "thread %d got other ids", i);
    }
    free(want), free(corpus);
    r1c_tokenizer_free(fresh), r1c_tokenizer_free(shared);
}

int main(void) {
    test_unsupported();
    test_threads();
    r1c_tokenizer *ds = load("deepseek_v3");
    if (ds) {
        test_invalid_utf8(ds);
        test_stream(ds, "Hello, 世界! 🎉 naïve façade — ok");
        test_stream(ds, "数学：∑ᵢ xᵢ² ≥ 0 🙂🙃");
        test_stream_split_char(ds);
        test_special_parsing(ds);
        test_long_inputs(ds);
        test_r1_think_tokens();
        test_open_think(ds);
    }
    r1c_tokenizer_free(ds);
    r1c_tokenizer *ll = load("llama3_1"); /* ignore_merges */
    if (ll) test_long_inputs(ll);
    r1c_tokenizer_free(ll);
    test_reasoning_split();
    return test_summary("test_tokenizer_api");
}
