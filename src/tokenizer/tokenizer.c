/* tokenizer.c — loading tokenizer.json + tokenizer_config.json; encode; decode; streaming.
 * See tokenizer.h for the pipeline. Every component is read from the files; one r1c does not
 * know is an error that names it, never a silent difference. */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../base/file.h"
#include "../base/mem.h"
#include "../io/json.h"
#include "jinja.h"
#include "utf8.h"

#define MAX_TOKENIZER_JSON (512u << 20)

/* ------------------------------------------------------------ load: tables */

typedef struct loader {
    const char *path;
    /* vocab entries as they come: bytes + id */
    char *bytes;
    size_t bytes_n, bytes_cap;
    struct ventry { uint32_t off, len; int64_t id; int literal; } *v;
    size_t nv, capv;
    /* merges as byte strings, resolved after the vocabulary is complete */
    struct mentry { uint32_t a_off, a_len, b_off, b_len; } *m;
    size_t nm, capm;
    int literal; /* set by add_bytes: the string had characters outside the byte-level alphabet */
} loader;

/* The loader's arrays are sized from the file once (the file bounds them: every entry takes
 * at least 4 bytes of JSON, every decoded byte at least one) and taken as huge-page anonymous
 * memory: growing them by realloc, or faulting them in 4 KB at a time, cost more than the
 * parsing on these VMs. */
static r1c_status loader_init(loader *l, size_t json_len) {
    size_t n = json_len / 4 + 16;
    l->bytes_cap = json_len + 16;
    l->capv = n, l->capm = n;
    l->bytes = r1c_big_alloc(l->bytes_cap);
    l->v = r1c_big_alloc(sizeof *l->v * l->capv);
    l->m = r1c_big_alloc(sizeof *l->m * l->capm);
    if (!l->bytes || !l->v || !l->m) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    return R1C_OK;
}

static void loader_free(loader *l) {
    r1c_big_free(l->bytes, l->bytes_cap);
    r1c_big_free(l->v, sizeof *l->v * l->capv);
    r1c_big_free(l->m, sizeof *l->m * l->capm);
}

static r1c_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return R1C_OK;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    *p = n, *cap = c;
    return R1C_OK;
}

/* Byte-level string (UTF-8 of code points standing for bytes) -> raw bytes appended to l->bytes.
 * A string with other characters (DeepSeek lists its special tokens in model.vocab too) is kept
 * as its own UTF-8 and flagged literal: BPE can never produce it, but it decodes. */
static r1c_status add_bytes(loader *l, const char *s, size_t len, uint32_t *off, uint32_t *out_len) {
    if (l->bytes_n + len + 1 > l->bytes_cap) return r1c_error(R1C_ERR_FORMAT, "%s: vocabulary larger than the file", l->path);
    if (l->bytes_n > UINT32_MAX - len) return r1c_error(R1C_ERR_FORMAT, "%s: vocabulary too large", l->path);
    size_t n = 0;
    int ok = 1;
    for (size_t i = 0; i < len && ok;) {
        uint32_t cp;
        int k = r1c_utf8_decode(s + i, len - i, &cp);
        int b = k > 0 ? r1c_bytelevel_byte(cp) : -1;
        if (b < 0) ok = 0;
        else l->bytes[l->bytes_n + n++] = (char)b, i += (size_t)k;
    }
    l->literal = !ok;
    if (!ok) { /* not byte-level: keep the text */
        memcpy(l->bytes + l->bytes_n, s, len);
        n = len;
    }
    *off = (uint32_t)l->bytes_n;
    *out_len = (uint32_t)n;
    l->bytes_n += n;
    return R1C_OK;
}

static r1c_status on_vocab(void *u, const char *s, size_t len, int64_t id) {
    loader *l = u;
    if (id < 0 || id >= (1 << 24))
        return r1c_error(R1C_ERR_FORMAT, "%s: model.vocab id %lld is out of range", l->path, (long long)id);
    if (l->nv == l->capv) return r1c_error(R1C_ERR_FORMAT, "%s: model.vocab larger than the file", l->path);
    r1c_status st;
    struct ventry *e = &l->v[l->nv];
    if ((st = add_bytes(l, s, len, &e->off, &e->len)) != R1C_OK) return st;
    e->id = id;
    e->literal = l->literal;
    l->nv++;
    return R1C_OK;
}

static r1c_status on_merge(void *u, const char *a, size_t al, const char *b, size_t bl) {
    loader *l = u;
    if (l->nm == l->capm) return r1c_error(R1C_ERR_FORMAT, "%s: model.merges larger than the file", l->path);
    r1c_status st;
    struct mentry *e = &l->m[l->nm];
    if ((st = add_bytes(l, a, al, &e->a_off, &e->a_len)) != R1C_OK) return st;
    int lit = l->literal;
    if ((st = add_bytes(l, b, bl, &e->b_off, &e->b_len)) != R1C_OK) return st;
    if (lit || l->literal)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: model.merges[%zu] is not in the byte-level alphabet (only byte-level BPE is supported)",
                         l->path, l->nm);
    l->nm++;
    return R1C_OK;
}

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* id -> bytes for every id; vocab hash over the BPE vocabulary */
static r1c_status build_vocab(r1c_tokenizer *t, loader *l) {
    int64_t max_id = -1;
    for (size_t i = 0; i < l->nv; i++) max_id = l->v[i].id > max_id ? l->v[i].id : max_id;
    for (int i = 0; i < t->n_added; i++) max_id = t->added[i].id > max_id ? t->added[i].id : max_id;
    if (max_id < 0) return r1c_error(R1C_ERR_FORMAT, "%s: empty vocabulary", l->path);
    t->n_vocab = (int32_t)max_id + 1;
    size_t total = l->bytes_n;
    for (int i = 0; i < t->n_added; i++) total += t->added[i].len;
    t->tok_bytes = malloc(total + 1);
    t->tok_off = calloc((size_t)t->n_vocab, sizeof *t->tok_off);
    t->tok_len = calloc((size_t)t->n_vocab, sizeof *t->tok_len);
    t->tok_flags = calloc((size_t)t->n_vocab, 1);
    uint32_t slots = 1024;
    while (slots < 2 * l->nv + 16) slots <<= 1;
    t->vocab_slots = r1c_big_alloc(sizeof(int32_t) * slots); /* zero pages: all empty */
    if (!t->tok_bytes || !t->tok_off || !t->tok_len || !t->tok_flags || !t->vocab_slots)
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    t->vocab_mask = slots - 1;
    memcpy(t->tok_bytes, l->bytes, l->bytes_n);
    for (size_t i = 0; i < l->nv; i++) {
        int32_t id = (int32_t)l->v[i].id;
        if (t->tok_flags[id] & R1C_TOKF_PRESENT)
            return r1c_error(R1C_ERR_FORMAT, "%s: model.vocab gives id %d to two tokens", l->path, id);
        t->tok_off[id] = l->v[i].off;
        t->tok_len[id] = l->v[i].len;
        t->tok_flags[id] = R1C_TOKF_PRESENT;
        if (l->v[i].literal) continue; /* decodes, but is not a BPE unit */
        const char *s = t->tok_bytes + l->v[i].off;
        uint32_t h = hash_bytes(s, l->v[i].len) & t->vocab_mask;
        for (;; h = (h + 1) & t->vocab_mask) {
            int32_t o = t->vocab_slots[h] - 1;
            if (o < 0) break;
            if (t->tok_len[o] == l->v[i].len && memcmp(t->tok_bytes + t->tok_off[o], s, l->v[i].len) == 0)
                return r1c_error(R1C_ERR_FORMAT, "%s: model.vocab has the same token twice (ids %d and %d)",
                                 l->path, o, id);
        }
        t->vocab_slots[h] = id + 1;
    }
    /* added tokens: their text is their bytes (it wins over a vocab entry with the same id) */
    size_t off = l->bytes_n;
    for (int i = 0; i < t->n_added; i++) {
        r1c_added_token *a = &t->added[i];
        memcpy(t->tok_bytes + off, a->content, a->len);
        t->tok_off[a->id] = (uint32_t)off;
        t->tok_len[a->id] = a->len;
        t->tok_flags[a->id] |= R1C_TOKF_PRESENT | R1C_TOKF_ADDED | (a->special ? R1C_TOKF_SPECIAL : 0);
        off += a->len;
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = r1c_vocab_find(t, &c, 1);
        if (t->byte_id[b] < 0)
            return r1c_error(R1C_ERR_FORMAT, "%s: model.vocab lacks the byte-level token for byte 0x%02x", l->path, b);
    }
    return R1C_OK;
}

static inline uint32_t hash_pair(uint64_t k) { return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 32); }

static r1c_status build_merges(r1c_tokenizer *t, loader *l) {
    uint32_t slots = 1024;
    while (slots < l->nm + l->nm / 2 + 16) slots <<= 1; /* load factor <= 2/3 */
    t->merges = r1c_big_alloc(sizeof *t->merges * slots); /* zero pages: all empty */
    if (!t->merges) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    t->merge_mask = slots - 1;
    char *cat = NULL;
    size_t cat_cap = 0;
    r1c_status st = R1C_OK;
    for (size_t i = 0; i < l->nm && st == R1C_OK; i++) {
        const struct mentry *m = &l->m[i];
        const char *a = l->bytes + m->a_off, *b = l->bytes + m->b_off;
        int32_t ia = r1c_vocab_find(t, a, m->a_len), ib = r1c_vocab_find(t, b, m->b_len);
        if ((st = grow((void **)&cat, &cat_cap, m->a_len + m->b_len + 1, 1)) != R1C_OK) break;
        memcpy(cat, a, m->a_len);
        memcpy(cat + m->a_len, b, m->b_len);
        int32_t ir = r1c_vocab_find(t, cat, m->a_len + m->b_len);
        if (ia < 0 || ib < 0 || ir < 0) {
            st = r1c_error(R1C_ERR_FORMAT, "%s: model.merges[%zu] uses a token that is not in model.vocab",
                           l->path, i);
            break;
        }
        uint64_t key = (uint64_t)(uint32_t)(ia + 1) << 32 | (uint32_t)(ib + 1);
        uint32_t h = hash_pair(key) & t->merge_mask;
        while (t->merges[h].key != 0 && t->merges[h].key != key) h = (h + 1) & t->merge_mask;
        /* a repeated merge takes its last rank, as the tokenizers library's map insert does */
        t->merges[h] = (struct r1c_merge_slot){key, (uint32_t)i, ir};
    }
    free(cat);
    return st;
}

/* ------------------------------------------------------- load: components */

static const char *type_of(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static int get_bool(const cJSON *o, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* Text from tokenizer.json reaches PCRE2, which is told the text is valid UTF-8 (for speed):
 * every string that can become part of the text or a pattern is checked at load. */
static r1c_status check_utf8(const char *s, const char *path, const char *what) {
    size_t n = strlen(s), bad = r1c_utf8_check(s, n);
    if (bad != n) return r1c_error(R1C_ERR_FORMAT, "%s: %s is not valid UTF-8 (byte %zu)", path, what, bad);
    return R1C_OK;
}

static r1c_status dup_str(const char *s, size_t n, char **out) {
    *out = malloc(n + 1);
    if (!*out) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    memcpy(*out, s, n);
    (*out)[n] = 0;
    return R1C_OK;
}

/* "pattern": {"Regex": "..."} or {"String": "..."}; a String becomes an escaped regex or a literal */
static r1c_status read_pattern(const cJSON *o, const char *path, const char *what, int want_regex,
                               pcre2_code **re, char **lit, size_t *lit_len) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const cJSON *rx = cJSON_GetObjectItemCaseSensitive(p, "Regex"), *str = cJSON_GetObjectItemCaseSensitive(p, "String");
    char name[96];
    snprintf(name, sizeof name, "%s: %s pattern", path, what);
    if (cJSON_IsString(rx)) return r1c_regex_compile(rx->valuestring, strlen(rx->valuestring), name, re);
    if (!cJSON_IsString(str)) return r1c_error(R1C_ERR_FORMAT, "%s: %s needs a pattern (Regex or String)", path, what);
    r1c_status ust = check_utf8(str->valuestring, path, name);
    if (ust != R1C_OK) return ust;
    if (!want_regex) return dup_str(str->valuestring, strlen(str->valuestring), lit) == R1C_OK ? (*lit_len = strlen(*lit), R1C_OK) : R1C_ERR_NOMEM;
    /* a literal as a regex: \Q...\E quoting, with any \E inside handled by splitting */
    const char *s = str->valuestring;
    size_t n = strlen(s), k = 0;
    char *q = malloc(4 * n + 8);
    if (!q) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\^$.|?*+()[]{}", s[i])) q[k++] = '\\';
        q[k++] = s[i];
    }
    r1c_status st = r1c_regex_compile(q, k, name, re);
    free(q);
    return st;
}

static r1c_status add_norm(r1c_tokenizer *t, const cJSON *o, const char *path) {
    const char *ty = type_of(o);
    if (!ty) return r1c_error(R1C_ERR_FORMAT, "%s: normalizer without a type", path);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "normalizers"), *n;
        if (!cJSON_IsArray(list)) return r1c_error(R1C_ERR_FORMAT, "%s: Sequence normalizer needs a list", path);
        cJSON_ArrayForEach(n, list) {
            r1c_status st = add_norm(t, n, path);
            if (st != R1C_OK) return st;
        }
        return R1C_OK;
    }
    r1c_norm nm = {0};
    if (!strcmp(ty, "NFC")) {
        nm.kind = R1C_NORM_NFC;
        r1c_nfc_prepare();
    }
    else if (!strcmp(ty, "NFD")) nm.kind = R1C_NORM_NFD;
    else if (!strcmp(ty, "NFKC")) nm.kind = R1C_NORM_NFKC;
    else if (!strcmp(ty, "NFKD")) nm.kind = R1C_NORM_NFKD;
    else if (!strcmp(ty, "Lowercase")) nm.kind = R1C_NORM_LOWERCASE;
    else if (!strcmp(ty, "Strip")) {
        nm.kind = R1C_NORM_STRIP;
        nm.strip_left = get_bool(o, "strip_left", 1);
        nm.strip_right = get_bool(o, "strip_right", 1);
    } else if (!strcmp(ty, "Prepend") || !strcmp(ty, "Replace")) {
        nm.kind = ty[0] == 'P' ? R1C_NORM_PREPEND : R1C_NORM_REPLACE;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, ty[0] == 'P' ? "prepend" : "content");
        if (!cJSON_IsString(c)) return r1c_error(R1C_ERR_FORMAT, "%s: %s normalizer needs a string", path, ty);
        r1c_status st = check_utf8(c->valuestring, path, ty[0] == 'P' ? "Prepend normalizer text" : "Replace normalizer content");
        if (st != R1C_OK) return st;
        st = dup_str(c->valuestring, strlen(c->valuestring), &nm.content);
        if (st != R1C_OK) return st;
        nm.content_len = strlen(nm.content);
        if (nm.kind == R1C_NORM_REPLACE) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
            int is_regex = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p, "Regex"));
            st = read_pattern(o, path, "Replace normalizer", is_regex, &nm.re, &nm.pattern, &nm.pattern_len);
            if (st != R1C_OK) {
                free(nm.content);
                return st;
            }
        }
    } else {
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported", path, ty);
    }
    r1c_norm *v = realloc(t->norms, sizeof *v * (size_t)(t->n_norms + 1));
    if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    t->norms = v;
    t->norms[t->n_norms++] = nm;
    return R1C_OK;
}

static r1c_status add_pretok(r1c_tokenizer *t, const cJSON *o, const char *path) {
    const char *ty = type_of(o);
    if (!ty) return r1c_error(R1C_ERR_FORMAT, "%s: pre_tokenizer without a type", path);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers"), *n;
        if (!cJSON_IsArray(list)) return r1c_error(R1C_ERR_FORMAT, "%s: Sequence pre_tokenizer needs a list", path);
        cJSON_ArrayForEach(n, list) {
            r1c_status st = add_pretok(t, n, path);
            if (st != R1C_OK) return st;
        }
        return R1C_OK;
    }
    r1c_pretok p = {0};
    r1c_status st = R1C_OK;
    if (!strcmp(ty, "Split")) {
        p.kind = R1C_PRE_SPLIT;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "behavior");
        const char *bs = cJSON_IsString(b) ? b->valuestring : "";
        if (!strcmp(bs, "Isolated")) p.behavior = R1C_SPLIT_ISOLATED;
        else if (!strcmp(bs, "Removed")) p.behavior = R1C_SPLIT_REMOVED;
        else if (!strcmp(bs, "MergedWithPrevious")) p.behavior = R1C_SPLIT_MERGED_PREV;
        else if (!strcmp(bs, "MergedWithNext")) p.behavior = R1C_SPLIT_MERGED_NEXT;
        else if (!strcmp(bs, "Contiguous")) p.behavior = R1C_SPLIT_CONTIGUOUS;
        else return r1c_error(R1C_ERR_UNSUPPORTED, "%s: Split behavior '%s' is not supported", path, bs);
        p.invert = get_bool(o, "invert", 0);
        st = read_pattern(o, path, "Split pre_tokenizer", 1, &p.re, NULL, NULL);
    } else if (!strcmp(ty, "ByteLevel")) {
        p.kind = R1C_PRE_BYTELEVEL;
        if (get_bool(o, "add_prefix_space", 1))
            return r1c_error(R1C_ERR_UNSUPPORTED, "%s: ByteLevel pre_tokenizer with add_prefix_space = true is not supported", path);
        if (get_bool(o, "use_regex", 1))
            st = r1c_regex_compile(r1c_gpt2_pattern(), strlen(r1c_gpt2_pattern()), "ByteLevel regex", &p.re);
    } else if (!strcmp(ty, "Digits")) {
        p.kind = R1C_PRE_DIGITS;
        p.individual_digits = get_bool(o, "individual_digits", 0);
    } else {
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: pre_tokenizer '%s' is not supported", path, ty);
    }
    if (st != R1C_OK) return st;
    r1c_pretok *v = realloc(t->pretoks, sizeof *v * (size_t)(t->n_pretoks + 1));
    if (!v) {
        pcre2_code_free(p.re);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    t->pretoks = v;
    t->pretoks[t->n_pretoks++] = p;
    return R1C_OK;
}

static int32_t added_id(const r1c_tokenizer *t, const char *content) {
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].content, content)) return t->added[i].id;
    return -1;
}

static r1c_status push_id(int32_t **v, int *n, int32_t id) {
    int32_t *p = realloc(*v, sizeof *p * (size_t)(*n + 1));
    if (!p) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    *v = p;
    p[(*n)++] = id;
    return R1C_OK;
}

/* TemplateProcessing "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}] */
static r1c_status add_post(r1c_tokenizer *t, const cJSON *o, const char *path) {
    const char *ty = type_of(o);
    if (!ty) return r1c_error(R1C_ERR_FORMAT, "%s: post_processor without a type", path);
    if (!strcmp(ty, "ByteLevel")) return R1C_OK; /* offsets only */
    if (!strcmp(ty, "Sequence")) {
        const cJSON *n;
        cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(o, "processors")) {
            r1c_status st = add_post(t, n, path);
            if (st != R1C_OK) return st;
        }
        return R1C_OK;
    }
    if (strcmp(ty, "TemplateProcessing") != 0)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: post_processor '%s' is not supported", path, ty);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(o, "single"), *piece;
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
    int seen_seq = 0;
    cJSON_ArrayForEach(piece, single) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(piece, "SpecialToken");
        if (cJSON_GetObjectItemCaseSensitive(piece, "Sequence")) {
            seen_seq = 1;
            continue;
        }
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(sp, "id");
        if (!cJSON_IsString(name)) return r1c_error(R1C_ERR_FORMAT, "%s: TemplateProcessing piece without a token", path);
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(specials, name->valuestring);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids"), *id;
        if (!cJSON_IsArray(ids)) return r1c_error(R1C_ERR_FORMAT, "%s: TemplateProcessing token '%s' has no ids", path, name->valuestring);
        cJSON_ArrayForEach(id, ids) {
            if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= t->n_vocab ||
                !(t->tok_flags[(int32_t)id->valuedouble] & R1C_TOKF_PRESENT))
                return r1c_error(R1C_ERR_FORMAT, "%s: TemplateProcessing token '%s' has an id that is not a token", path, name->valuestring);
            r1c_status st = seen_seq ? push_id(&t->suffix, &t->n_suffix, (int32_t)id->valuedouble)
                                     : push_id(&t->prefix, &t->n_prefix, (int32_t)id->valuedouble);
            if (st != R1C_OK) return st;
        }
    }
    return R1C_OK;
}

static r1c_status check_decoder(const cJSON *o, const char *path) {
    const char *ty = type_of(o);
    if (!o || cJSON_IsNull(o)) return r1c_error(R1C_ERR_UNSUPPORTED, "%s: a tokenizer without a decoder is not supported (ByteLevel expected)", path);
    if (ty && !strcmp(ty, "ByteLevel")) return R1C_OK;
    if (ty && !strcmp(ty, "Sequence")) {
        const cJSON *n;
        cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(o, "decoders")) {
            r1c_status st = check_decoder(n, path);
            if (st != R1C_OK) return st;
        }
        return R1C_OK;
    }
    return r1c_error(R1C_ERR_UNSUPPORTED, "%s: decoder '%s' is not supported", path, ty ? ty : "?");
}

static r1c_status read_added(r1c_tokenizer *t, const cJSON *list, const char *path) {
    int n = cJSON_GetArraySize(list);
    t->added = calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    const cJSON *a;
    cJSON_ArrayForEach(a, list) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id"), *c = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 24) || !cJSON_IsString(c) || !c->valuestring[0])
            return r1c_error(R1C_ERR_FORMAT, "%s: added_tokens[%d] needs an id and a non-empty content", path, t->n_added);
        r1c_added_token *x = &t->added[t->n_added];
        r1c_status st = check_utf8(c->valuestring, path, "an added token's content");
        for (int i = 0; st == R1C_OK && i < t->n_added; i++)
            if (t->added[i].id == (int32_t)id->valuedouble)
                st = r1c_error(R1C_ERR_FORMAT, "%s: added_tokens give id %d to two tokens", path, t->added[i].id);
        if (st == R1C_OK) st = dup_str(c->valuestring, strlen(c->valuestring), &x->content);
        if (st != R1C_OK) return st;
        t->n_added++;
        x->len = (uint32_t)strlen(x->content);
        x->id = (int32_t)id->valuedouble;
        x->special = (uint8_t)get_bool(a, "special", 0);
        x->lstrip = (uint8_t)get_bool(a, "lstrip", 0);
        x->rstrip = (uint8_t)get_bool(a, "rstrip", 0);
        x->single_word = (uint8_t)get_bool(a, "single_word", 0);
        x->normalized = (uint8_t)get_bool(a, "normalized", !x->special);
    }
    return R1C_OK;
}

/* For each first byte, the added tokens starting with it, longest first (leftmost-longest). */
static int cmp_len_desc(const void *a, const void *b, void *u) {
    const r1c_tokenizer *t = u;
    uint32_t la = t->added[*(const int32_t *)a].len, lb = t->added[*(const int32_t *)b].len;
    return la < lb ? 1 : la > lb ? -1 : 0;
}

static r1c_status index_added(r1c_tokenizer *t) {
    int count[256] = {0};
    for (int i = 0; i < t->n_added; i++) count[(uint8_t)t->added[i].content[0]]++;
    for (int b = 0; b < 256; b++) {
        if (!count[b]) continue;
        int32_t *list = malloc(sizeof(int32_t) * (size_t)(count[b] + 1));
        if (!list) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        int k = 0;
        for (int i = 0; i < t->n_added; i++)
            if ((uint8_t)t->added[i].content[0] == b) list[k++] = i;
        qsort_r(list, (size_t)k, sizeof *list, cmp_len_desc, t);
        list[k] = -1;
        t->added_by_byte[b] = list;
    }
    for (int i = 0; i < t->n_added; i++) t->any_normalized_added |= t->added[i].normalized && t->n_norms > 0;
    return R1C_OK;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static const char *token_text(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static r1c_status parse_config(r1c_tokenizer *t, const char *text, size_t len, const char *path) {
    t->bos_id = t->eos_id = t->pad_id = -1;
    if (!text) return R1C_OK;
    r1c_status st = R1C_OK;
    cJSON *root = r1c_json_parse(text, len);
    if (!cJSON_IsObject(root)) st = r1c_error(R1C_ERR_FORMAT, "%s: not a JSON object", path);
    if (st == R1C_OK) {
        struct { const char *key; int32_t *id; char **str; } sp[] = {
            {"bos_token", &t->bos_id, &t->bos_str}, {"eos_token", &t->eos_id, &t->eos_str}, {"pad_token", &t->pad_id, &t->pad_str}};
        for (int i = 0; i < 3 && st == R1C_OK; i++) {
            const char *s = token_text(cJSON_GetObjectItemCaseSensitive(root, sp[i].key));
            if (!s) continue;
            st = dup_str(s, strlen(s), sp[i].str);
            *sp[i].id = added_id(t, s);
            if (*sp[i].id < 0) *sp[i].id = r1c_vocab_find(t, s, strlen(s));
        }
        t->clean_up_spaces = get_bool(root, "clean_up_tokenization_spaces", 0);
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
        const char *tmpl = cJSON_IsString(ct) ? ct->valuestring : NULL;
        if (cJSON_IsArray(ct)) { /* [{"name": "default", "template": "..."}, ...] */
            const cJSON *e;
            cJSON_ArrayForEach(e, ct) {
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name"), *tp = cJSON_GetObjectItemCaseSensitive(e, "template");
                if (cJSON_IsString(nm) && cJSON_IsString(tp) && !strcmp(nm->valuestring, "default")) tmpl = tp->valuestring;
            }
        }
        if (tmpl && st == R1C_OK) st = dup_str(tmpl, strlen(tmpl), &t->chat_template);
        /* transformers' Llama tokenizer classes rebuild the post-processor from add_bos_token /
         * add_eos_token (this is how DeepSeek's BOS gets added); other classes keep tokenizer.json's */
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "tokenizer_class");
        const char *c = cJSON_IsString(cls) ? cls->valuestring : "";
        if (st == R1C_OK && (!strcmp(c, "LlamaTokenizerFast") || !strcmp(c, "LlamaTokenizer") ||
                             !strcmp(c, "CodeLlamaTokenizerFast") || !strcmp(c, "GemmaTokenizerFast"))) {
            t->n_prefix = t->n_suffix = 0;
            if (get_bool(root, "add_bos_token", 1) && t->bos_id >= 0) st = push_id(&t->prefix, &t->n_prefix, t->bos_id);
            if (st == R1C_OK && get_bool(root, "add_eos_token", 0) && t->eos_id >= 0) st = push_id(&t->suffix, &t->n_suffix, t->eos_id);
        }
    }
    cJSON_Delete(root);
    return st;
}

static r1c_status load_json(r1c_tokenizer *t, char *json, size_t len, const char *path) {
    loader l = {.path = path};
    r1c_tok_tables found;
    cJSON *root = NULL;
    r1c_status st = loader_init(&l, len);
    if (st == R1C_OK) st = r1c_tok_json_tables(json, len, path, on_vocab, on_merge, &l, &found);
    if (st == R1C_OK && (!found.have_vocab || !found.have_merges))
        st = r1c_error(R1C_ERR_FORMAT, "%s: model.vocab and model.merges are required (a BPE model)", path);
    if (st == R1C_OK) { /* the rest goes to cJSON, with the two tables blanked out */
        memset(json + found.vocab_begin, ' ', found.vocab_end - found.vocab_begin);
        json[found.vocab_begin] = '{', json[found.vocab_end - 1] = '}';
        memset(json + found.merges_begin, ' ', found.merges_end - found.merges_begin);
        json[found.merges_begin] = '[', json[found.merges_end - 1] = ']';
        root = r1c_json_parse(json, len);
        if (!cJSON_IsObject(root)) st = r1c_error(R1C_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (st == R1C_OK) {
        const char *ty = type_of(model);
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
        const cJSON *suf = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
        const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
        if (ty && strcmp(ty, "BPE") != 0) st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: model type '%s' is not supported (BPE)", path, ty);
        else if (get_bool(model, "byte_fallback", 0)) st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: BPE byte_fallback is not supported", path);
        else if ((cJSON_IsString(pre) && pre->valuestring[0]) || (cJSON_IsString(suf) && suf->valuestring[0]))
            st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: BPE continuing_subword_prefix / end_of_word_suffix are not supported", path);
        else if (cJSON_IsNumber(drop) && drop->valuedouble > 0)
            st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", path);
        t->ignore_merges = get_bool(model, "ignore_merges", 0);
    }
    if (st == R1C_OK) st = read_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path);
    if (st == R1C_OK) st = build_vocab(t, &l);
    if (st == R1C_OK) st = build_merges(t, &l);
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (st == R1C_OK && norm && !cJSON_IsNull(norm)) st = add_norm(t, norm, path);
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (st == R1C_OK && pre && !cJSON_IsNull(pre)) st = add_pretok(t, pre, path);
    if (st == R1C_OK) {
        int bytelevel = 0;
        for (int i = 0; i < t->n_pretoks; i++) bytelevel |= t->pretoks[i].kind == R1C_PRE_BYTELEVEL;
        if (!bytelevel) st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: no ByteLevel pre_tokenizer (only byte-level BPE is supported)", path);
    }
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (st == R1C_OK && post && !cJSON_IsNull(post)) st = add_post(t, post, path);
    if (st == R1C_OK) st = check_decoder(cJSON_GetObjectItemCaseSensitive(root, "decoder"), path);
    if (st == R1C_OK) st = index_added(t);
    if (st == R1C_OK && !(t->cache = r1c_bpe_cache_new())) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    cJSON_Delete(root);
    loader_free(&l);
    return st;
}

static r1c_tokenizer *tokenizer_new(const char *dir) {
    r1c_tokenizer *t = calloc(1, sizeof *t);
    if (!t || dup_str(dir, strlen(dir), &t->dir) != R1C_OK) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->tmpl_lock, NULL);
    return t;
}

r1c_status r1c_tokenizer_load_json(char *json, size_t len, const char *config, size_t config_len,
                                   const char *name, r1c_tokenizer **out) {
    *out = NULL;
    r1c_tokenizer *t = tokenizer_new(name);
    if (!t) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = load_json(t, json, len, name);
    if (st == R1C_OK) st = parse_config(t, config, config_len, name);
    if (st != R1C_OK) {
        r1c_tokenizer_free(t);
        return st;
    }
    *out = t;
    return R1C_OK;
}

r1c_status r1c_tokenizer_load(const char *dir, r1c_tokenizer **out) {
    *out = NULL;
    if (!dir) return r1c_error(R1C_ERR_INVALID_ARG, "no tokenizer directory");
    char *path = r1c_path_join(dir, "tokenizer.json"), *cpath = r1c_path_join(dir, "tokenizer_config.json");
    char *config = NULL;
    size_t clen = 0;
    r1c_blob blob = {0};
    r1c_tokenizer *t = tokenizer_new(dir);
    r1c_status st = (t && path && cpath) ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st == R1C_OK) st = r1c_blob_load(path, 0, 0, &blob); /* writable anonymous memory */
    if (st == R1C_OK && blob.size > MAX_TOKENIZER_JSON)
        st = r1c_error(R1C_ERR_FORMAT, "%s: %zu bytes is more than the %u allowed", path, blob.size, MAX_TOKENIZER_JSON);
    if (st == R1C_OK) st = load_json(t, (char *)blob.data, blob.size, path);
    if (st == R1C_OK && r1c_file_exists(cpath)) st = r1c_read_small_file(cpath, 64u << 20, &config, &clen);
    if (st == R1C_OK) st = parse_config(t, config, clen, cpath);
    r1c_blob_free(&blob);
    free(config), free(path), free(cpath);
    if (st != R1C_OK) {
        r1c_tokenizer_free(t);
        return st;
    }
    *out = t;
    return R1C_OK;
}

void r1c_tokenizer_free(r1c_tokenizer *t) {
    if (!t) return;
    free(t->tok_bytes), free(t->tok_off), free(t->tok_len), free(t->tok_flags);
    r1c_big_free(t->vocab_slots, sizeof(int32_t) * ((size_t)t->vocab_mask + 1));
    r1c_big_free(t->merges, sizeof *t->merges * ((size_t)t->merge_mask + 1));
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    for (int b = 0; b < 256; b++) free(t->added_by_byte[b]);
    for (int i = 0; i < t->n_norms; i++) {
        free(t->norms[i].pattern), free(t->norms[i].content);
        pcre2_code_free(t->norms[i].re);
    }
    free(t->norms);
    for (int i = 0; i < t->n_pretoks; i++) pcre2_code_free(t->pretoks[i].re);
    free(t->pretoks);
    free(t->prefix), free(t->suffix);
    free(t->bos_str), free(t->eos_str), free(t->pad_str);
    r1c_bpe_cache_free(t->cache);
    free(t->chat_template);
    r1c_jinja_free(t->tmpl);
    free(t->tmpl_error);
    pthread_mutex_destroy(&t->tmpl_lock);
    free(t->dir);
    free(t);
}

/* ------------------------------------------------------------------ encode */

typedef struct enc {
    const r1c_tokenizer *t;
    r1c_ids ids;
    pcre2_match_data *md;
    r1c_bpe_cache *cache;
} enc;

static int is_word_byte(unsigned char c) { return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static r1c_status on_piece(void *u, const char *s, size_t len) {
    enc *e = u;
    return r1c_bpe_word(e->t, s, len, &e->ids, e->cache);
}

/* Normalized text -> pre-tokens -> BPE */
static r1c_status encode_plain(enc *e, const char *s, size_t len) {
    return r1c_pretok_each(e->t->pretoks, e->t->n_pretoks, s, len, e->md, on_piece, e);
}

/* Finds the leftmost-longest added token at or after `from` in s[0..len) that `want` accepts.
 * Returns its index (or -1) and the matched range, widened by lstrip / rstrip. */
static int find_added(const r1c_tokenizer *t, const char *s, size_t len, size_t from, int normalized_pass,
                      int parse_special, size_t *ms, size_t *me) {
    for (size_t i = from; i < len; i++) {
        const int32_t *list = t->added_by_byte[(uint8_t)s[i]];
        if (!list) continue;
        for (; *list >= 0; list++) {
            const r1c_added_token *a = &t->added[*list];
            int in_pass = t->any_normalized_added ? (a->normalized == normalized_pass) : !normalized_pass;
            if (!in_pass || (a->special && !parse_special)) continue;
            if (a->len > len - i || memcmp(s + i, a->content, a->len) != 0) continue;
            if (a->single_word && ((i > 0 && is_word_byte((unsigned char)s[i - 1])) ||
                                   (i + a->len < len && is_word_byte((unsigned char)s[i + a->len]))))
                continue;
            size_t b = i, e = i + a->len;
            if (a->lstrip) while (b > from && is_space_byte(s[b - 1])) b--;
            if (a->rstrip) while (e < len && is_space_byte(s[e])) e++;
            *ms = b, *me = e;
            return *list;
        }
    }
    return -1;
}

static r1c_status encode_normalized(enc *e, const char *s, size_t len, int parse_special) {
    const r1c_tokenizer *t = e->t;
    char *norm = NULL;
    size_t nl = 0;
    r1c_status st = R1C_OK;
    if (t->n_norms) {
        if ((st = r1c_norm_apply(t->norms, t->n_norms, s, len, &norm, &nl)) != R1C_OK) return st;
        if (norm) s = norm, len = nl;
    }
    size_t pos = 0;
    while (st == R1C_OK && t->any_normalized_added) { /* added tokens matched on normalized text */
        size_t ms, me;
        int k = find_added(t, s, len, pos, 1, parse_special, &ms, &me);
        if (k < 0) break;
        st = encode_plain(e, s + pos, ms - pos);
        if (st == R1C_OK) st = r1c_ids_push(&e->ids, t->added[k].id);
        pos = me;
    }
    if (st == R1C_OK) st = encode_plain(e, s + pos, len - pos);
    free(norm);
    return st;
}

r1c_status r1c_tokenize(const r1c_tokenizer *t, const char *text, size_t len, int flags, int32_t **ids, int *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len)) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_tokenize: bad arguments");
    if (len > (size_t)INT32_MAX / 2) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_tokenize: text of %zu bytes is too long", len);
    char *fixed = NULL;
    size_t bad = r1c_utf8_check(text, len);
    if (bad != len) {
        if (!(flags & R1C_TOK_REPLACE_INVALID))
            return r1c_error(R1C_ERR_INVALID_ARG, "input text is not valid UTF-8 (byte %zu)", bad);
        size_t fl;
        if (!(fixed = r1c_utf8_lossy(text, len, &fl))) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        text = fixed, len = fl;
    }
    enc e = {.t = t};
    r1c_status st = R1C_OK;
    /* about one id per 4 bytes of text: reserve once instead of growing */
    e.ids.cap = len / 3 + 16;
    e.ids.v = malloc(sizeof(int32_t) * e.ids.cap);
    e.cache = t->cache;
    e.md = pcre2_match_data_create(4, NULL);
    if (!e.ids.v || !e.md) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    const int parse_special = !(flags & R1C_TOK_NO_PARSE_SPECIAL);
    if (st == R1C_OK && (flags & R1C_TOK_ADD_SPECIAL))
        for (int i = 0; i < t->n_prefix && st == R1C_OK; i++) st = r1c_ids_push(&e.ids, t->prefix[i]);
    size_t pos = 0;
    while (st == R1C_OK) {
        size_t ms, me;
        int k = find_added(t, text, len, pos, 0, parse_special, &ms, &me);
        if (k < 0) break;
        st = encode_normalized(&e, text + pos, ms - pos, parse_special);
        if (st == R1C_OK) st = r1c_ids_push(&e.ids, t->added[k].id);
        pos = me;
    }
    if (st == R1C_OK) st = encode_normalized(&e, text + pos, len - pos, parse_special);
    if (st == R1C_OK && (flags & R1C_TOK_ADD_SPECIAL))
        for (int i = 0; i < t->n_suffix && st == R1C_OK; i++) st = r1c_ids_push(&e.ids, t->suffix[i]);
    pcre2_match_data_free(e.md);
    free(fixed);
    if (st != R1C_OK) {
        free(e.ids.v);
        return st;
    }
    if (!e.ids.v && !(e.ids.v = malloc(sizeof(int32_t)))) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    *ids = e.ids.v;
    *n_ids = (int)e.ids.n;
    return R1C_OK;
}

/* ------------------------------------------------------------------ decode */

int r1c_tokenizer_n_vocab(const r1c_tokenizer *t) { return t->n_vocab; }

const char *r1c_token_bytes(const r1c_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab || !(t->tok_flags[id] & R1C_TOKF_PRESENT)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->tok_len[id];
    return t->tok_bytes + t->tok_off[id];
}

int r1c_token_is_special(const r1c_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->tok_flags[id] & R1C_TOKF_SPECIAL);
}

int32_t r1c_token_id(const r1c_tokenizer *t, const char *text) {
    int32_t id = added_id(t, text);
    return id >= 0 ? id : r1c_vocab_find(t, text, strlen(text));
}

int32_t r1c_tokenizer_bos(const r1c_tokenizer *t) { return t->bos_id; }
int32_t r1c_tokenizer_eos(const r1c_tokenizer *t) { return t->eos_id; }

/* transformers' clean_up_tokenization, in its order */
static size_t clean_up(char *s, size_t n) {
    static const char *from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    static const char *to[] = {".", "?", "!", ",", "'", "n't", "'m", "'s", "'ve", "'re"};
    for (int r = 0; r < 10; r++) {
        size_t fl = strlen(from[r]), tl = strlen(to[r]), w = 0;
        for (size_t i = 0; i < n;) {
            if (i + fl <= n && memcmp(s + i, from[r], fl) == 0) {
                memcpy(s + w, to[r], tl); /* tl < fl: never overtakes the reader */
                w += tl, i += fl;
            } else {
                s[w++] = s[i++];
            }
        }
        n = w;
    }
    s[n] = 0;
    return n;
}

r1c_status r1c_detokenize(const r1c_tokenizer *t, const int32_t *ids, int n, int flags, char **out, size_t *out_len) {
    *out = NULL;
    if (!t || (n > 0 && !ids) || n < 0) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_detokenize: bad arguments");
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab || !(t->tok_flags[ids[i]] & R1C_TOKF_PRESENT))
            return r1c_error(R1C_ERR_INVALID_ARG, "token id %d (at %d) is not in the vocabulary", ids[i], i);
        total += t->tok_len[ids[i]];
    }
    char *raw = malloc(total + 1);
    if (!raw) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if ((flags & R1C_DETOK_SKIP_SPECIAL) && (t->tok_flags[ids[i]] & R1C_TOKF_SPECIAL)) continue;
        memcpy(raw + k, t->tok_bytes + t->tok_off[ids[i]], t->tok_len[ids[i]]);
        k += t->tok_len[ids[i]];
    }
    raw[k] = 0;
    /* tokens may cut characters: invalid sequences become U+FFFD, as from_utf8_lossy does */
    size_t l = k;
    char *text = r1c_utf8_check(raw, k) == k ? raw : r1c_utf8_lossy(raw, k, &l);
    if (text != raw) free(raw);
    if (!text) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (flags & R1C_DETOK_CLEAN_UP) l = clean_up(text, l);
    *out = text;
    if (out_len) *out_len = l;
    return R1C_OK;
}

/* --------------------------------------------------------------- streaming */

struct r1c_detok_stream {
    const r1c_tokenizer *t;
    int flags;
    char pend[8]; /* bytes of an unfinished character */
    size_t n_pend;
    char *out;
    size_t out_cap;
};

r1c_status r1c_detok_stream_new(const r1c_tokenizer *t, int flags, r1c_detok_stream **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    (*out)->t = t;
    (*out)->flags = flags;
    return R1C_OK;
}

void r1c_detok_stream_free(r1c_detok_stream *s) {
    if (!s) return;
    free(s->out);
    free(s);
}

/* Emits the complete characters of pend + bytes; keeps an unfinished tail (at most 3 bytes). */
static const char *stream_bytes(r1c_detok_stream *s, const char *b, size_t n, int final, size_t *len) {
    size_t need = s->n_pend + n;
    if (need * 3 + 8 > s->out_cap) { /* lossy output can be 3x the input */
        char *o = realloc(s->out, need * 3 + 8);
        if (!o) return NULL;
        s->out = o, s->out_cap = need * 3 + 8;
    }
    char *all = malloc(need + 1);
    if (!all) return NULL;
    memcpy(all, s->pend, s->n_pend);
    memcpy(all + s->n_pend, b, n);
    size_t keep = final ? 0 : r1c_utf8_incomplete_tail(all, need);
    size_t l;
    char *text = r1c_utf8_lossy(all, need - keep, &l);
    if (!text) {
        free(all);
        return NULL;
    }
    memcpy(s->out, text, l);
    s->out[l] = 0;
    free(text);
    memcpy(s->pend, all + need - keep, keep);
    s->n_pend = keep;
    free(all);
    *len = l;
    return s->out;
}

const char *r1c_detok_stream_push(r1c_detok_stream *s, int32_t id, size_t *len) {
    *len = 0;
    const r1c_tokenizer *t = s->t;
    if (id < 0 || id >= t->n_vocab || !(t->tok_flags[id] & R1C_TOKF_PRESENT)) {
        r1c_error(R1C_ERR_INVALID_ARG, "token id %d is not in the vocabulary", id);
        return NULL;
    }
    if ((s->flags & R1C_DETOK_SKIP_SPECIAL) && (t->tok_flags[id] & R1C_TOKF_SPECIAL)) return "";
    const char *r = stream_bytes(s, t->tok_bytes + t->tok_off[id], t->tok_len[id], 0, len);
    if (!r) r1c_error(R1C_ERR_NOMEM, "out of memory");
    return r;
}

const char *r1c_detok_stream_flush(r1c_detok_stream *s, size_t *len) {
    *len = 0;
    const char *r = stream_bytes(s, "", 0, 1, len);
    if (!r) r1c_error(R1C_ERR_NOMEM, "out of memory");
    return r;
}
