/* tokenizer.h — Hugging Face tokenizer.json (byte-level BPE) inside r1c.
 *
 * Encoding, as the tokenizers library does it:
 *   text -> split out added tokens (leftmost-longest; special or not)
 *        -> each remaining piece: normalize -> pre-tokenize (regex splits, ByteLevel)
 *        -> BPE per pre-token -> ids
 *        -> post-process (BOS/EOS when special tokens are requested)
 * Tokens are kept as raw bytes (the byte-level alphabet decoded at load), so BPE works on the
 * bytes of the text directly and decoding is concatenation. */
#ifndef R1C_TOKENIZER_TOKENIZER_H
#define R1C_TOKENIZER_TOKENIZER_H

#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "r1c.h"

/* ---- normalizers and pre-tokenizers (pretok.c) ---- */

typedef enum {
    R1C_NORM_NFC, R1C_NORM_NFD, R1C_NORM_NFKC, R1C_NORM_NFKD,
    R1C_NORM_LOWERCASE, R1C_NORM_STRIP, R1C_NORM_REPLACE, R1C_NORM_PREPEND,
} r1c_norm_kind;

typedef struct r1c_norm {
    r1c_norm_kind kind;
    int strip_left, strip_right;   /* Strip */
    char *pattern; size_t pattern_len; /* Replace: literal pattern, or NULL with `re` */
    pcre2_code *re;                /* Replace with a Regex pattern */
    char *content; size_t content_len; /* Replace content / Prepend text */
} r1c_norm;

typedef enum {
    R1C_SPLIT_REMOVED, R1C_SPLIT_ISOLATED, R1C_SPLIT_MERGED_PREV, R1C_SPLIT_MERGED_NEXT,
    R1C_SPLIT_CONTIGUOUS,
} r1c_split_behavior;

typedef enum { R1C_PRE_SPLIT, R1C_PRE_BYTELEVEL, R1C_PRE_DIGITS } r1c_pre_kind;

typedef struct r1c_pretok {
    r1c_pre_kind kind;
    pcre2_code *re;        /* Split (and ByteLevel with use_regex) */
    r1c_split_behavior behavior;
    int invert;
    int add_prefix_space;  /* ByteLevel */
    int individual_digits; /* Digits */
} r1c_pretok;

/* A piece of text: [off, off+len) of a buffer. */
typedef struct r1c_span {
    uint32_t off, len;
} r1c_span;

typedef struct r1c_spans {
    r1c_span *v;
    size_t n, cap;
} r1c_spans;

/* ---- the tokenizer ---- */

typedef struct r1c_added_token {
    char *content;
    uint32_t len;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} r1c_added_token;

struct r1c_tokenizer {
    int32_t n_vocab;          /* max id + 1 */
    /* bytes of each token (raw bytes for BPE tokens, content for added tokens) */
    char *tok_bytes;          /* all tokens back to back */
    uint32_t *tok_off, *tok_len;
    uint8_t *tok_flags;       /* R1C_TOKF_* */

    /* raw bytes -> id + 1 of the BPE vocabulary (open addressing; 0 = empty slot) */
    int32_t *vocab_slots;
    uint32_t vocab_mask;
    int32_t byte_id[256];     /* id of each single byte */

    /* merge (left, right) -> rank, result; one cache line per probe */
    struct r1c_merge_slot {
        uint64_t key; /* (left + 1) << 32 | (right + 1); 0 = empty */
        uint32_t rank;
        int32_t result;
    } *merges;
    uint32_t merge_mask;
    int ignore_merges;

    /* added tokens, longest first within each first byte */
    r1c_added_token *added;
    int n_added;
    int32_t *added_by_byte[256]; /* indices into added, -1 terminated */
    int any_normalized_added;

    r1c_norm *norms;
    int n_norms;
    r1c_pretok *pretoks;
    int n_pretoks;

    /* post-processing (with special tokens requested) */
    int32_t *prefix, *suffix;
    int n_prefix, n_suffix;

    int32_t bos_id, eos_id, pad_id;
    char *bos_str, *eos_str, *pad_str;
    int clean_up_spaces;       /* tokenizer_config clean_up_tokenization_spaces */
    struct r1c_bpe_cache *cache; /* word -> ids, shared by all calls (bpe.c) */
    char *chat_template;       /* NULL if none */
    struct r1c_jinja *tmpl;    /* compiled on first use (chat.c) */
    char *tmpl_error;
    pthread_mutex_t tmpl_lock;
    char *dir;
};

enum { R1C_TOKF_ADDED = 1, R1C_TOKF_SPECIAL = 2, R1C_TOKF_PRESENT = 4 };

/* pretok.c */
/* Builds the NFC quick-check table (once per process; the loader calls it for NFC tokenizers). */
void r1c_nfc_prepare(void);
/* *out = NULL when the text comes out unchanged (no copy), else a malloc'd result. */
r1c_status r1c_norm_apply(const r1c_norm *n, int count, const char *in, size_t len, char **out,
                          size_t *out_len);
/* Splits text[0..len) into pre-tokens and calls cb with each, in order. md: match data with at
 * least one pair, shared by all stages. */
typedef r1c_status (*r1c_piece_cb)(void *u, const char *s, size_t len);
r1c_status r1c_pretok_each(const r1c_pretok *p, int count, const char *text, size_t len,
                           pcre2_match_data *md, r1c_piece_cb cb, void *u);
r1c_status r1c_spans_push(r1c_spans *s, uint32_t off, uint32_t len);
/* Compiles a tokenizer regex (UTF, UCP, JIT where available). */
r1c_status r1c_regex_compile(const char *pat, size_t len, const char *what, pcre2_code **out);
/* The GPT-2 byte-level alphabet: byte -> code point, and the inverse (-1 if not in it). */
uint32_t r1c_bytelevel_char(uint8_t b);
int r1c_bytelevel_byte(uint32_t cp);
/* The GPT-2 split pattern ByteLevel applies when use_regex is true. */
const char *r1c_gpt2_pattern(void);

/* bpe.c: ids of one pre-token (raw bytes), appended to out. `cache` (the tokenizer's shared
 * word cache, safe for concurrent use) may be NULL. */
typedef struct r1c_bpe_cache r1c_bpe_cache;
r1c_bpe_cache *r1c_bpe_cache_new(void);
void r1c_bpe_cache_free(r1c_bpe_cache *c);
typedef struct r1c_ids {
    int32_t *v;
    size_t n, cap;
} r1c_ids;
r1c_status r1c_ids_push(r1c_ids *ids, int32_t id);
r1c_status r1c_bpe_word(const r1c_tokenizer *t, const char *w, size_t len, r1c_ids *out, r1c_bpe_cache *cache);
int32_t r1c_vocab_find(const r1c_tokenizer *t, const char *s, size_t len);

/* tok_json.c: the two big tables of tokenizer.json, parsed without building a JSON tree.
 * Finds model.vocab and model.merges, calls back per entry, and reports their byte ranges so
 * the rest of the document can go to cJSON with them blanked out. Returns 0 if the document
 * does not have the expected shape (the caller then uses cJSON for everything). */
typedef struct r1c_tok_tables {
    size_t vocab_begin, vocab_end, merges_begin, merges_end; /* [begin, end) of the values */
    int have_vocab, have_merges;
} r1c_tok_tables;
typedef r1c_status (*r1c_vocab_cb)(void *u, const char *s, size_t len, int64_t id);
typedef r1c_status (*r1c_merge_cb)(void *u, const char *a, size_t alen, const char *b, size_t blen);
r1c_status r1c_tok_json_tables(const char *json, size_t len, const char *path, r1c_vocab_cb vcb,
                               r1c_merge_cb mcb, void *u, r1c_tok_tables *found);

/* Loads from memory (fuzzing, tests): json is modified in place; config may be NULL; name
 * stands for the files in messages. */
r1c_status r1c_tokenizer_load_json(char *json, size_t len, const char *config, size_t config_len,
                                   const char *name, r1c_tokenizer **out);

/* The string member `key` of a one-object JSON text, decoded with any U+0000 kept (cJSON
 * cannot): *out malloc'd + NUL-terminated. R1C_ERR_MISSING if there is no such string. */
r1c_status r1c_json_object_string(const char *json, size_t len, const char *key, char **out, size_t *out_len);

#endif
