/* pretok.c — normalizers (utf8proc) and pre-tokenizers (PCRE2) of tokenizer.json.
 *
 * Regexes run with PCRE2_UTF | PCRE2_UCP, so \s, \p{L}, \p{N} follow Unicode properties the
 * way the Rust tokenizers library's Oniguruma does (\s includes U+0085, not U+FEFF). Each split
 * runs on each piece of the previous stage as its own subject, as the Rust library does, so a
 * lookahead at a piece's end sees the end of the subject. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../base/error.h"
#include "tokenizer.h"

/* ------------------------------------------------------------- byte level */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * get code points from 256 up, in byte order. */
uint32_t r1c_bytelevel_char(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) n++;
    return 256 + n;
}

int r1c_bytelevel_byte(uint32_t cp) {
    static int table[324];
    static int ready;
    if (!ready) { /* idempotent: racing threads write the same values */
        for (int i = 0; i < 324; i++) table[i] = -1;
        for (int b = 0; b < 256; b++) table[r1c_bytelevel_char((uint8_t)b)] = b;
        ready = 1;
    }
    return cp < 324 ? table[cp] : -1;
}

/* ------------------------------------------------------------------ spans */

r1c_status r1c_spans_push(r1c_spans *s, uint32_t off, uint32_t len) {
    if (len == 0) return R1C_OK; /* empty pieces vanish, as in tokenizers */
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        r1c_span *v = realloc(s->v, sizeof *v * cap);
        if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        s->v = v, s->cap = cap;
    }
    s->v[s->n++] = (r1c_span){off, len};
    return R1C_OK;
}

/* ------------------------------------------------------------------ regex */

r1c_status r1c_regex_compile(const char *pat, size_t len, const char *what, pcre2_code **out) {
    int err;
    PCRE2_SIZE at;
    *out = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return r1c_error(R1C_ERR_FORMAT, "%s: bad regex at offset %zu: %s", what, (size_t)at, (char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is absent */
    return R1C_OK;
}

/* Matches of re in text[0..len): calls back with (start, end) of each non-empty match. */
static r1c_status find_all(const pcre2_code *re, const char *text, size_t len, pcre2_match_data *md,
                           r1c_status (*cb)(void *, size_t, size_t), void *u) {
    size_t pos = 0;
    while (pos <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return r1c_error(R1C_ERR_FORMAT, "tokenizer regex failed (PCRE2 error %d)", rc);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e > len || s > e) return r1c_error(R1C_ERR_FORMAT, "tokenizer regex matched outside its text");
        if (e > s) {
            r1c_status st = cb(u, s, e);
            if (st != R1C_OK) return st;
            pos = e;
        } else { /* empty match: step over one character */
            pos = e + 1;
            while (pos < len && ((unsigned char)text[pos] & 0xc0) == 0x80) pos++;
        }
    }
    return R1C_OK;
}

/* ------------------------------------------------------------- normalizers */

static r1c_status buf_put(char **b, size_t *n, size_t *cap, const char *s, size_t len) {
    if (*n + len + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *n + len + 1) c *= 2;
        char *nb = realloc(*b, c);
        if (!nb) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        *b = nb, *cap = c;
    }
    memcpy(*b + *n, s, len);
    *n += len;
    (*b)[*n] = 0;
    return R1C_OK;
}

typedef struct repl_state {
    const char *in;
    size_t last;
    const r1c_norm *n;
    char **b;
    size_t *len, *cap;
} repl_state;

static r1c_status repl_cb(void *u, size_t s, size_t e) {
    repl_state *r = u;
    r1c_status st = buf_put(r->b, r->len, r->cap, r->in + r->last, s - r->last);
    if (st == R1C_OK) st = buf_put(r->b, r->len, r->cap, r->n->content, r->n->content_len);
    r->last = e;
    return st;
}

/* NFC quick check. Most text is already in NFC; utf8proc would still decompose and recompose
 * every character (a quarter of the time of encoding Chinese). A character is "unstable" when
 * NFC could change it or its neighbour: a non-zero combining class, a canonical decomposition
 * (singletons and exclusions never survive NFC; the decomposition's later characters can
 * compose with what precedes them), or a Hangul vowel / trailing jamo. Text without unstable
 * characters is its own NFC. The table is derived from utf8proc's data once. */
static uint8_t g_nfc_unstable[0x110000 / 8];
static pthread_once_t g_nfc_once = PTHREAD_ONCE_INIT;

static void mark_unstable(utf8proc_int32_t c) {
    if (c >= 0 && c < 0x110000) g_nfc_unstable[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static void nfc_table_init(void) {
    for (utf8proc_int32_t c = 0; c < 0x110000; c++) {
        const utf8proc_property_t *p = utf8proc_get_property(c);
        if (p->combining_class != 0) mark_unstable(c);
        if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) { /* canonical */
            utf8proc_int32_t seq[8];
            int last = 0;
            utf8proc_ssize_t n = utf8proc_decompose_char(c, seq, 8, UTF8PROC_DECOMPOSE, &last);
            if (n == 1) mark_unstable(c); /* a singleton: never in NFC */
            for (utf8proc_ssize_t i = 1; i > 0 && i < n && i < 8; i++) mark_unstable(seq[i]);
            if (p->comp_exclusion) mark_unstable(c);
        }
    }
    for (utf8proc_int32_t c = 0x1161; c <= 0x1175; c++) mark_unstable(c); /* Hangul V */
    for (utf8proc_int32_t c = 0x11a8; c <= 0x11c2; c++) mark_unstable(c); /* Hangul T */
}

void r1c_nfc_prepare(void) { pthread_once(&g_nfc_once, nfc_table_init); }

/* 1 if s (valid UTF-8) is certainly in NFC */
static int nfc_quick_yes(const char *s, size_t n) {
    pthread_once(&g_nfc_once, nfc_table_init);
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0 || (g_nfc_unstable[c >> 3] >> (c & 7) & 1)) return 0;
        i += (size_t)k;
    }
    return 1;
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

static r1c_status norm_one(const r1c_norm *n, const char *in, size_t len, char **out, size_t *out_len) {
    char *b = NULL;
    size_t bl = 0, cap = 0;
    r1c_status st = R1C_OK;
    switch (n->kind) {
    case R1C_NORM_NFC: case R1C_NORM_NFD: case R1C_NORM_NFKC: case R1C_NORM_NFKD: {
        if (is_ascii(in, len)) return buf_put(out, out_len, &cap, in, len) == R1C_OK ? R1C_OK : R1C_ERR_NOMEM;
        int opt = UTF8PROC_STABLE;
        opt |= (n->kind == R1C_NORM_NFC || n->kind == R1C_NORM_NFKC) ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
        if (n->kind == R1C_NORM_NFKC || n->kind == R1C_NORM_NFKD) opt |= UTF8PROC_COMPAT;
        utf8proc_uint8_t *res = NULL;
        utf8proc_ssize_t rl = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len, &res, (utf8proc_option_t)opt);
        if (rl < 0) return r1c_error(R1C_ERR_INVALID_ARG, "normalizer: %s", utf8proc_errmsg(rl));
        st = buf_put(out, out_len, &cap, (const char *)res, (size_t)rl);
        free(res);
        return st;
    }
    case R1C_NORM_LOWERCASE: {
        for (size_t i = 0; i < len && st == R1C_OK;) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)in + i, (utf8proc_ssize_t)(len - i), &cp);
            if (k <= 0) {
                free(b);
                return r1c_error(R1C_ERR_INVALID_ARG, "normalizer: invalid UTF-8");
            }
            utf8proc_uint8_t enc[4];
            utf8proc_ssize_t el = utf8proc_encode_char(utf8proc_tolower(cp), enc);
            st = buf_put(&b, &bl, &cap, (const char *)enc, (size_t)el);
            i += (size_t)k;
        }
        break;
    }
    case R1C_NORM_STRIP: {
        size_t s = 0, e = len;
        if (n->strip_left)
            while (s < e && (in[s] == ' ' || in[s] == '\t' || in[s] == '\n' || in[s] == '\r')) s++;
        if (n->strip_right)
            while (e > s && (in[e - 1] == ' ' || in[e - 1] == '\t' || in[e - 1] == '\n' || in[e - 1] == '\r')) e--;
        st = buf_put(&b, &bl, &cap, in + s, e - s);
        break;
    }
    case R1C_NORM_PREPEND:
        if (len > 0) st = buf_put(&b, &bl, &cap, n->content, n->content_len);
        if (st == R1C_OK) st = buf_put(&b, &bl, &cap, in, len);
        break;
    case R1C_NORM_REPLACE:
        if (n->re) {
            /* match data sized for this pattern; normalizers are rare, so created per call */
            pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
            repl_state rs = {in, 0, n, &b, &bl, &cap};
            st = md ? find_all(n->re, in, len, md, repl_cb, &rs) : r1c_error(R1C_ERR_NOMEM, "out of memory");
            if (st == R1C_OK) st = buf_put(&b, &bl, &cap, in + rs.last, len - rs.last);
            pcre2_match_data_free(md);
        } else {
            size_t i = 0;
            while (st == R1C_OK && i < len) {
                if (n->pattern_len && i + n->pattern_len <= len && memcmp(in + i, n->pattern, n->pattern_len) == 0) {
                    st = buf_put(&b, &bl, &cap, n->content, n->content_len);
                    i += n->pattern_len;
                } else {
                    st = buf_put(&b, &bl, &cap, in + i, 1);
                    i++;
                }
            }
        }
        break;
    }
    if (st != R1C_OK) {
        free(b);
        return st;
    }
    if (!b) st = buf_put(&b, &bl, &cap, "", 0);
    *out = b, *out_len = bl;
    return st;
}

r1c_status r1c_norm_apply(const r1c_norm *n, int count, const char *in, size_t len, char **out, size_t *out_len) {
    *out = NULL;
    int only_unicode_forms = 1, only_nfc = 1; /* NFC/NFD/NFKC/NFKD leave ASCII text as it is */
    for (int i = 0; i < count; i++) {
        only_unicode_forms &= n[i].kind <= R1C_NORM_NFKD;
        only_nfc &= n[i].kind == R1C_NORM_NFC;
    }
    if ((only_unicode_forms && is_ascii(in, len)) || (only_nfc && nfc_quick_yes(in, len))) {
        *out_len = len;
        return R1C_OK;
    }
    char *cur = NULL;
    size_t cl = 0, cap = 0;
    r1c_status st = buf_put(&cur, &cl, &cap, in, len);
    for (int i = 0; i < count && st == R1C_OK; i++) {
        char *next = NULL;
        size_t nl = 0;
        st = norm_one(&n[i], cur, cl, &next, &nl);
        free(cur);
        cur = next, cl = nl;
    }
    if (st != R1C_OK) {
        free(cur);
        return st;
    }
    *out = cur, *out_len = cl;
    return R1C_OK;
}

/* ---------------------------------------------------------- pre-tokenizers */

/* The GPT-2 pattern ByteLevel uses when use_regex is set. */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct mark {
    uint32_t s, e;
    int is_match;
} mark;

typedef struct marks {
    mark *v;
    size_t n, cap;
    uint32_t base;
} marks;

static r1c_status marks_add(marks *m, uint32_t s, uint32_t e, int is_match) {
    if (e <= s) return R1C_OK;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        mark *v = realloc(m->v, sizeof *v * cap);
        if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        m->v = v, m->cap = cap;
    }
    m->v[m->n++] = (mark){s, e, is_match};
    return R1C_OK;
}

typedef struct collect {
    marks *m;
    uint32_t last;
} collect;

static r1c_status collect_cb(void *u, size_t s, size_t e) {
    collect *c = u;
    r1c_status st = marks_add(c->m, c->last, (uint32_t)s, 0);
    if (st == R1C_OK) st = marks_add(c->m, (uint32_t)s, (uint32_t)e, 1);
    c->last = (uint32_t)e;
    return st;
}

/* Applies a split behaviour to the marks of one piece, appending pieces to out. */
static r1c_status apply_behavior(const marks *m, r1c_split_behavior b, uint32_t base, r1c_spans *out) {
    r1c_status st = R1C_OK;
    for (size_t i = 0; i < m->n && st == R1C_OK; i++) {
        const mark *k = &m->v[i];
        switch (b) {
        case R1C_SPLIT_REMOVED:
            if (!k->is_match) st = r1c_spans_push(out, base + k->s, k->e - k->s);
            break;
        case R1C_SPLIT_ISOLATED:
            st = r1c_spans_push(out, base + k->s, k->e - k->s);
            break;
        case R1C_SPLIT_MERGED_PREV: /* a match joins the piece before it */
            if (k->is_match && out->n > 0 && i > 0 && !m->v[i - 1].is_match &&
                out->v[out->n - 1].off + out->v[out->n - 1].len == base + k->s)
                out->v[out->n - 1].len += k->e - k->s;
            else
                st = r1c_spans_push(out, base + k->s, k->e - k->s);
            break;
        case R1C_SPLIT_MERGED_NEXT: /* a match starts the piece after it */
            if (!k->is_match && i > 0 && m->v[i - 1].is_match && out->n > 0 &&
                out->v[out->n - 1].off + out->v[out->n - 1].len == base + k->s)
                out->v[out->n - 1].len += k->e - k->s;
            else
                st = r1c_spans_push(out, base + k->s, k->e - k->s);
            break;
        case R1C_SPLIT_CONTIGUOUS: /* runs of matches become one piece */
            if (k->is_match && i > 0 && m->v[i - 1].is_match && out->n > 0)
                out->v[out->n - 1].len += k->e - k->s;
            else
                st = r1c_spans_push(out, base + k->s, k->e - k->s);
            break;
        }
    }
    return st;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static r1c_status split_piece(const r1c_pretok *p, const char *text, r1c_span in, r1c_spans *out,
                              pcre2_match_data *md, marks *m) {
    m->n = 0;
    r1c_status st = R1C_OK;
    const char *s = text + in.off;
    if (p->kind == R1C_PRE_DIGITS) {
        for (uint32_t i = 0; i < in.len && st == R1C_OK;) {
            uint32_t j = i + 1;
            int d = is_digit(s[i]);
            while (j < in.len && is_digit(s[j]) == d && !d) j++;
            if (d && !p->individual_digits)
                while (j < in.len && is_digit(s[j])) j++;
            st = marks_add(m, i, j, d);
            i = j;
        }
        if (st == R1C_OK) st = apply_behavior(m, R1C_SPLIT_ISOLATED, in.off, out);
        return st;
    }
    collect c = {m, 0};
    st = find_all(p->re, s, in.len, md, collect_cb, &c);
    if (st == R1C_OK) st = marks_add(m, c.last, in.len, 0);
    if (st != R1C_OK) return st;
    if (p->invert)
        for (size_t i = 0; i < m->n; i++) m->v[i].is_match = !m->v[i].is_match;
    return apply_behavior(m, p->kind == R1C_PRE_BYTELEVEL ? R1C_SPLIT_ISOLATED : p->behavior, in.off, out);
}

/* Stages run depth first: each piece a stage produces goes through the later stages at once,
 * so no list of all pieces is ever built (a long text has one piece per word). Isolated splits
 * (what the R1 family uses) stream match by match; other behaviours collect one piece's marks. */
typedef struct runner {
    const r1c_pretok *p;
    int count;
    const char *text;
    pcre2_match_data *md;
    r1c_piece_cb cb;
    void *u;
    marks m;
    r1c_spans tmp;
} runner;

static r1c_status stage(runner *r, int i, uint32_t off, uint32_t len);

static r1c_status emit(runner *r, int i, uint32_t off, uint32_t len) {
    return len ? stage(r, i + 1, off, len) : R1C_OK;
}

static r1c_status stage(runner *r, int i, uint32_t off, uint32_t len) {
    while (i < r->count && r->p[i].kind == R1C_PRE_BYTELEVEL && !r->p[i].re) i++; /* bytes stay raw */
    if (i == r->count) return r->cb(r->u, r->text + off, len);
    const r1c_pretok *p = &r->p[i];
    const char *s = r->text + off;
    r1c_status st = R1C_OK;
    int isolated = p->kind == R1C_PRE_BYTELEVEL || (p->kind == R1C_PRE_SPLIT && p->behavior == R1C_SPLIT_ISOLATED && !p->invert);
    if (p->kind != R1C_PRE_DIGITS && isolated) {
        size_t pos = 0, last = 0;
        while (st == R1C_OK && pos <= len) {
            int rc = pcre2_match(p->re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, r->md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) return r1c_error(R1C_ERR_FORMAT, "tokenizer regex failed (PCRE2 error %d)", rc);
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
            size_t ms = ov[0], me = ov[1]; /* read before the next stage reuses the match data */
            if (me > len || ms > me) return r1c_error(R1C_ERR_FORMAT, "tokenizer regex matched outside its text");
            if (me > ms) {
                st = emit(r, i, off + (uint32_t)last, (uint32_t)(ms - last));
                if (st == R1C_OK) st = emit(r, i, off + (uint32_t)ms, (uint32_t)(me - ms));
                last = pos = me;
            } else {
                pos = me + 1;
                while (pos < len && ((unsigned char)s[pos] & 0xc0) == 0x80) pos++;
            }
        }
        return st == R1C_OK ? emit(r, i, off + (uint32_t)last, (uint32_t)(len - last)) : st;
    }
    /* general case: the piece's marks, the behaviour, then each resulting piece */
    marks m = {0};
    r1c_spans out = {0};
    r1c_span in = {off, len};
    st = split_piece(p, r->text, in, &out, r->md, &m);
    for (size_t k = 0; k < out.n && st == R1C_OK; k++) st = emit(r, i, out.v[k].off, out.v[k].len);
    free(m.v);
    free(out.v);
    return st;
}

r1c_status r1c_pretok_each(const r1c_pretok *p, int count, const char *text, size_t len,
                           pcre2_match_data *md, r1c_piece_cb cb, void *u) {
    runner r = {p, count, text, md, cb, u, {0}, {0}};
    return len ? stage(&r, 0, 0, (uint32_t)len) : R1C_OK;
}

const char *r1c_gpt2_pattern(void) { return GPT2_PATTERN; }
