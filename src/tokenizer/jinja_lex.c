/* jinja_lex.c — jinja2's lexer, as HF configures it: trim_blocks (a newline right after a
 * block or comment tag is dropped), lstrip_blocks (spaces and tabs between the start of a line
 * and a block or comment tag are dropped), keep_trailing_newline=False (one trailing newline of
 * the template is dropped), and "-"/"+" whitespace control on every tag.
 *
 * The rules follow jinja2/lexer.py closely because whitespace is where renderings differ:
 * which text is stripped depends on what the previous token ended with, not only on the text
 * in front of the tag. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

typedef struct lexer {
    jj_arena *a;
    jmp_buf *jb;
    const char *name;
    const char *s; /* the source with newlines normalized */
    size_t len, pos;
    int line;
    int line_starting; /* the last thing consumed ended with a newline (for lstrip_blocks) */
    jj_tok *toks;
    size_t n, cap;
    jj_intern *names;
    char bal[JJ_MAX_DEPTH]; /* open brackets inside a tag: "}}" does not end the tag there */
    int nbal;
} lexer;

static JJ_NORETURN void lex_fail(lexer *L, const char *fmt, ...) R1C_PRINTF(2, 3);
static void lex_fail(lexer *L, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r1c_error(R1C_ERR_FORMAT, "%s:%d: %s", L->name, L->line, msg);
    L->a->fail_status = R1C_ERR_FORMAT;
    longjmp(*L->jb, 1);
}

/* ---------------------------------------------------------------------------- interning */

static uint64_t hash_name(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

const char *jj_intern_name(jj_intern *in, const char *s, size_t n) {
    if (in->n * 2 >= in->cap) { /* grow and rehash */
        size_t nc = in->cap ? in->cap * 2 : 64;
        const char **slots = jj_alloc(in->a, nc * sizeof *slots);
        memset(slots, 0, nc * sizeof *slots);
        for (size_t i = 0; i < in->cap; i++) {
            const char *p = in->slots[i];
            if (!p) continue;
            size_t j = hash_name(p, strlen(p)) & (nc - 1);
            while (slots[j]) j = (j + 1) & (nc - 1);
            slots[j] = p;
        }
        in->slots = slots;
        in->cap = nc;
    }
    size_t j = hash_name(s, n) & (in->cap - 1);
    for (; in->slots[j]; j = (j + 1) & (in->cap - 1))
        if (strncmp(in->slots[j], s, n) == 0 && in->slots[j][n] == 0) return in->slots[j];
    in->slots[j] = jj_strdup(in->a, s, n);
    in->n++;
    return in->slots[j];
}

/* ---------------------------------------------------------------------------- source */

/* Python's str.splitlines() line breaks: jinja2 splits the source on them and joins the lines
 * with "\n", which also drops one trailing line break. */
static size_t line_break(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\r') return (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
    if (c == '\n' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E)) return 1;
    if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85) return 2;
    if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
        return 3;
    return 0;
}

static char *normalize_source(jj_arena *a, const char *src, size_t len, size_t *out_len) {
    char *o = jj_alloc(a, len + 1);
    size_t k = 0, ended_with_break = 0;
    for (size_t i = 0; i < len;) {
        size_t b = line_break(src, len, i);
        if (b) {
            o[k++] = '\n';
            i += b;
            ended_with_break = i == len;
        } else {
            o[k++] = src[i++];
        }
    }
    if (ended_with_break) k--;
    o[k] = 0;
    *out_len = k;
    return o;
}

/* ---------------------------------------------------------------------------- helpers */

static int is_ws(const char *s, size_t n, size_t i, size_t *w) {
    uint32_t cp;
    *w = jj_u8_char(s, n, i, &cp);
    return jj_py_isspace(cp);
}

static jj_tok *push(lexer *L, int type) {
    if (L->n == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 256;
        L->toks = jj_realloc(L->a, L->toks, L->cap * sizeof(jj_tok), nc * sizeof(jj_tok));
        L->cap = nc;
    }
    jj_tok *t = &L->toks[L->n++];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    t->line = L->line;
    return t;
}

static void count_lines(lexer *L, size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        if (L->s[i] == '\n') L->line++;
}

/* Python's str.rstrip(): the length without trailing whitespace. */
static size_t rstrip_len(const char *s, size_t n) {
    size_t end = 0, i = 0, w;
    while (i < n) {
        if (!is_ws(s, n, i, &w)) end = i + w;
        i += w;
    }
    return end;
}

/* The text in front of a tag, after that tag's whitespace control ("-": strip all whitespace;
 * otherwise, with lstrip_blocks, a block or comment tag that has only spaces between it and
 * the start of its line takes those spaces away). */
static size_t control_text(lexer *L, const char *text, size_t n, char sign, int is_var) {
    if (sign == '-') return rstrip_len(text, n);
    if (sign == '+' || is_var) return n;
    size_t l_pos = 0;
    for (size_t i = n; i > 0; i--)
        if (text[i - 1] == '\n') { l_pos = i; break; }
    if (l_pos == 0 && !L->line_starting) return n;
    for (size_t i = l_pos, w; i < n; i += w)
        if (!is_ws(text, n, i, &w)) return n;
    return l_pos;
}

static void emit_data(lexer *L, const char *text, size_t n, int line) {
    if (n == 0) return;
    jj_tok *t = push(L, TK_DATA);
    t->s = text;
    t->n = n;
    t->line = line;
}

/* After "-%}", "-}}" or "-#}": all whitespace goes. */
static void skip_ws(lexer *L) {
    size_t w;
    while (L->pos < L->len && is_ws(L->s, L->len, L->pos, &w)) {
        if (L->s[L->pos] == '\n') L->line++;
        L->pos += w;
    }
}

/* Matches a block end ("-%}" / "+%}" / "%}") at pos and consumes it with what it strips. */
static int block_end(lexer *L) {
    const char *p = L->s + L->pos;
    size_t left = L->len - L->pos;
    if (left >= 3 && p[0] == '-' && p[1] == '%' && p[2] == '}') {
        L->pos += 3;
        skip_ws(L);
    } else if (left >= 3 && p[0] == '+' && p[1] == '%' && p[2] == '}') {
        L->pos += 3;
    } else if (left >= 2 && p[0] == '%' && p[1] == '}') {
        L->pos += 2;
        if (L->pos < L->len && L->s[L->pos] == '\n') { /* trim_blocks */
            L->pos++;
            L->line++;
        }
    } else {
        return 0;
    }
    L->line_starting = L->s[L->pos - 1] == '\n';
    return 1;
}

static int var_end(lexer *L) {
    const char *p = L->s + L->pos;
    size_t left = L->len - L->pos;
    if (left >= 3 && p[0] == '-' && p[1] == '}' && p[2] == '}') {
        L->pos += 3;
        skip_ws(L);
    } else if (left >= 2 && p[0] == '}' && p[1] == '}') {
        L->pos += 2;
    } else {
        return 0;
    }
    L->line_starting = L->s[L->pos - 1] == '\n';
    return 1;
}

/* ---------------------------------------------------------------------------- literals */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

/* (\d+_)*\d+ at i: the end, or 0 when there is no digit. */
static size_t digits_end(const char *s, size_t n, size_t i) {
    if (i >= n || !is_digit(s[i])) return 0;
    while (i < n && is_digit(s[i])) {
        i++;
        if (i + 1 < n && s[i] == '_' && is_digit(s[i + 1])) i++;
    }
    return i;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A number at pos: jinja2 tries its float pattern first, then the integer one. */
static int lex_number(lexer *L) {
    const char *s = L->s;
    size_t n = L->len, i = L->pos;
    if (!is_digit(s[i])) return 0;
    if (i > 0 && s[i - 1] == '.') goto integer; /* (?<!\.) */
    size_t e = digits_end(s, n, i);
    size_t f = 0;
    if (e < n && s[e] == '.' && (f = digits_end(s, n, e + 1)) != 0) { /* fraction */
    } else {
        f = e;
    }
    if (f < n && (s[f] == 'e' || s[f] == 'E')) {
        size_t x = f + 1;
        if (x < n && (s[x] == '+' || s[x] == '-')) x++;
        size_t xe = digits_end(s, n, x);
        if (xe) f = xe;
    }
    if (f != e) {
        char buf[128];
        size_t k = 0;
        for (size_t j = i; j < f && k < sizeof buf - 1; j++)
            if (s[j] != '_') buf[k++] = s[j];
        buf[k] = 0;
        jj_tok *t = push(L, TK_FLOAT);
        t->f = strtod(buf, NULL);
        L->pos = f;
        return 1;
    }
integer:;
    int base = 10;
    size_t j = i;
    if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'b' || s[i + 1] == 'B' || s[i + 1] == 'o' ||
                                     s[i + 1] == 'O' || s[i + 1] == 'x' || s[i + 1] == 'X')) {
        char k = (char)(s[i + 1] | 0x20);
        base = k == 'b' ? 2 : k == 'o' ? 8 : 16;
        j = i + 2;
        size_t start = j;
        while (j < n) {
            size_t q = j;
            if (s[q] == '_') q++;
            int v = q < n ? hexval(s[q]) : -1;
            if (v < 0 || v >= base) break;
            j = q + 1;
        }
        if (j == start) { base = 10; j = i; }
    }
    if (base == 10) {
        j = i + 1;
        if (s[i] == '0') {
            while (j < n && (s[j] == '0' || (s[j] == '_' && j + 1 < n && s[j + 1] == '0'))) j++;
        } else {
            while (j < n && (is_digit(s[j]) || (s[j] == '_' && j + 1 < n && is_digit(s[j + 1])))) j++;
        }
    }
    uint64_t v = 0;
    for (size_t q = (base == 10 ? i : i + 2); q < j; q++) {
        if (s[q] == '_') continue;
        uint64_t d = (uint64_t)hexval(s[q]);
        if (v > (UINT64_C(0x7FFFFFFFFFFFFFFF) - d) / (uint64_t)base)
            lex_fail(L, "integer literal too large");
        v = v * (uint64_t)base + d;
    }
    jj_tok *t = push(L, TK_INT);
    t->i = (int64_t)v;
    L->pos = j;
    return 1;
}

/* A string literal: Python's escapes (jinja2 decodes with "unicode-escape"); an unknown
 * escape keeps its backslash. */
static void lex_string(lexer *L) {
    const char *s = L->s;
    char q = s[L->pos];
    size_t i = L->pos + 1, start_line = (size_t)L->line;
    while (i < L->len && s[i] != q) i += (s[i] == '\\') ? 2 : 1;
    if (i >= L->len) lex_fail(L, "unterminated string literal");
    size_t end = i;
    char *o = jj_alloc(L->a, end - L->pos + 1);
    size_t k = 0;
    for (i = L->pos + 1; i < end;) {
        char c = s[i];
        if (c != '\\') { o[k++] = c; i++; continue; }
        char e = s[i + 1];
        i += 2;
        uint32_t cp = 0;
        int nhex = 0;
        switch (e) {
        case '\n': continue;
        case '\\': o[k++] = '\\'; continue;
        case '\'': o[k++] = '\''; continue;
        case '"': o[k++] = '"'; continue;
        case 'a': o[k++] = 7; continue;
        case 'b': o[k++] = 8; continue;
        case 'f': o[k++] = 12; continue;
        case 'n': o[k++] = '\n'; continue;
        case 'r': o[k++] = '\r'; continue;
        case 't': o[k++] = '\t'; continue;
        case 'v': o[k++] = 11; continue;
        case 'x': nhex = 2; break;
        case 'u': nhex = 4; break;
        case 'U': nhex = 8; break;
        case 'N': lex_fail(L, "\\N{...} escapes are not supported");
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int d = 0; d < 2 && i < end && s[i] >= '0' && s[i] <= '7'; d++) cp = cp * 8 + (uint32_t)(s[i++] - '0');
                k += jj_u8_encode(cp, o + k);
                continue;
            }
            o[k++] = '\\';
            o[k++] = e;
            continue;
        }
        for (int d = 0; d < nhex; d++) {
            int v = i < end ? hexval(s[i]) : -1;
            if (v < 0) lex_fail(L, "truncated \\%c escape in string literal", e);
            cp = cp * 16 + (uint32_t)v;
            i++;
        }
        if (cp > 0x10FFFF) lex_fail(L, "illegal Unicode character in string literal");
        k += jj_u8_encode(cp, o + k);
    }
    o[k] = 0;
    jj_tok *t = push(L, TK_STRING);
    t->s = o;
    t->n = k;
    t->line = (int)start_line;
    count_lines(L, L->pos, end);
    L->pos = end + 1;
}

static int lex_operator(lexer *L) {
    const char *p = L->s + L->pos;
    size_t left = L->len - L->pos;
    static const struct { const char *s; uint8_t op; } ops[] = {
        {"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ}, {"!=", OP_NE}, {">=", OP_GE},
        {"<=", OP_LE}, {"+", OP_ADD}, {"-", OP_SUB}, {"/", OP_DIV}, {"*", OP_MUL}, {"%", OP_MOD},
        {"~", OP_TILDE}, {"[", OP_LBRACKET}, {"]", OP_RBRACKET}, {"(", OP_LPAREN},
        {")", OP_RPAREN}, {"{", OP_LBRACE}, {"}", OP_RBRACE}, {">", OP_GT}, {"<", OP_LT},
        {"=", OP_ASSIGN}, {".", OP_DOT}, {":", OP_COLON}, {"|", OP_PIPE}, {",", OP_COMMA},
        {";", OP_SEMICOLON},
    };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        size_t k = strlen(ops[i].s);
        if (k > left || memcmp(p, ops[i].s, k) != 0) continue;
        char c = p[0];
        if (k == 1 && (c == '(' || c == '[' || c == '{')) {
            if (L->nbal >= JJ_MAX_DEPTH) lex_fail(L, "brackets nested too deeply");
            L->bal[L->nbal++] = c == '(' ? ')' : c == '[' ? ']' : '}';
        } else if (k == 1 && (c == ')' || c == ']' || c == '}')) {
            if (L->nbal == 0) lex_fail(L, "unexpected '%c'", c);
            char want = L->bal[--L->nbal];
            if (want != c) lex_fail(L, "unexpected '%c', expected '%c'", c, want);
        }
        jj_tok *t = push(L, TK_OP);
        t->op = ops[i].op;
        L->pos += k;
        return 1;
    }
    return 0;
}

/* The inside of {{ ... }} or {% ... %}, up to and including its end. */
static void lex_tag(lexer *L, int is_block) {
    L->nbal = 0;
    for (;;) {
        if (L->pos >= L->len)
            lex_fail(L, "unexpected end of template: missing '%s'", is_block ? "%}" : "}}");
        if (L->nbal == 0 && (is_block ? block_end(L) : var_end(L))) {
            push(L, is_block ? TK_BLOCK_END : TK_VAR_END);
            return;
        }
        char c = L->s[L->pos];
        size_t w;
        if (is_ws(L->s, L->len, L->pos, &w)) {
            if (c == '\n') L->line++;
            L->pos += w;
            continue;
        }
        if (lex_number(L)) continue;
        if (is_alpha(c)) {
            size_t j = L->pos + 1;
            while (j < L->len && (is_alpha(L->s[j]) || is_digit(L->s[j]))) j++;
            jj_tok *t = push(L, TK_NAME);
            t->s = jj_intern_name(L->names, L->s + L->pos, j - L->pos);
            t->n = j - L->pos;
            L->pos = j;
            continue;
        }
        if (c == '\'' || c == '"') { lex_string(L); continue; }
        if (lex_operator(L)) continue;
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7F) lex_fail(L, "unexpected char '%c'", c);
        lex_fail(L, "unexpected char 0x%02x", (unsigned char)c);
    }
}

/* "{% raw %}" (with optional whitespace control) at pos? Sets *end past it. */
static int raw_begin(lexer *L, size_t at, size_t *end) {
    const char *s = L->s;
    size_t n = L->len, i = at, w;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && is_ws(s, n, i, &w)) i += w;
    if (n - i < 3 || memcmp(s + i, "raw", 3) != 0) return 0;
    i += 3;
    if (i < n && (is_alpha(s[i]) || is_digit(s[i]))) return 0;
    while (i < n && is_ws(s, n, i, &w)) i += w;
    if (n - i >= 3 && s[i] == '-' && s[i + 1] == '%' && s[i + 2] == '}') {
        i += 3;
        while (i < n && is_ws(s, n, i, &w)) i += w;
    } else if (n - i >= 2 && s[i] == '%' && s[i + 1] == '}') {
        i += 2;
    } else {
        return 0;
    }
    *end = i;
    return 1;
}

/* The text of a raw block up to "{% endraw %}", which ends like any block tag. */
static void lex_raw(lexer *L) {
    const char *s = L->s;
    size_t n = L->len, start = L->pos, w;
    for (size_t i = start; i + 1 < n; i++) {
        if (s[i] != '{' || s[i + 1] != '%') continue;
        size_t j = i + 2;
        char sign = 0;
        if (j < n && (s[j] == '-' || s[j] == '+')) sign = s[j++];
        while (j < n && is_ws(s, n, j, &w)) j += w;
        if (n - j < 6 || memcmp(s + j, "endraw", 6) != 0) continue;
        j += 6;
        while (j < n && is_ws(s, n, j, &w)) j += w;
        size_t save_pos = L->pos;
        int save_line = L->line, ls_before = L->line_starting;
        L->pos = j;
        if (!block_end(L)) {
            L->pos = save_pos;
            L->line = save_line;
            continue;
        }
        size_t after = L->pos;
        int ls_after = L->line_starting;
        L->pos = save_pos;
        L->line_starting = ls_before;
        /* whitespace control of the endraw tag applies to the raw text; line_starting is
         * still what the raw begin tag ended with */
        size_t keep = control_text(L, s + start, i - start, sign, 0);
        emit_data(L, s + start, keep, L->line);
        L->line = save_line;
        count_lines(L, start, after);
        L->pos = after;
        L->line_starting = ls_after;
        return;
    }
    lex_fail(L, "missing end of raw directive");
}

/* Finds the next "{{", "{%" or "{#" at or after pos; n if none. */
static size_t next_tag(const lexer *L, size_t pos) {
    const char *s = L->s;
    while (pos + 1 < L->len) {
        const char *p = memchr(s + pos, '{', L->len - pos - 1);
        if (!p) return L->len;
        size_t i = (size_t)(p - s);
        if (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#') return i;
        pos = i + 1;
    }
    return L->len;
}

static void lex_comment(lexer *L) {
    const char *s = L->s;
    size_t start = L->pos;
    for (size_t i = start; i + 1 < L->len; i++) {
        if (s[i] != '#' || s[i + 1] != '}') continue;
        count_lines(L, start, i);
        char sign = i > start ? s[i - 1] : 0;
        L->pos = i + 2;
        if (sign == '-') skip_ws(L);
        else if (sign != '+' && L->pos < L->len && s[L->pos] == '\n') { L->pos++; L->line++; }
        L->line_starting = s[L->pos - 1] == '\n';
        return;
    }
    lex_fail(L, "missing end of comment tag");
}

jj_lexed jj_lex(jj_arena *a, jmp_buf *jb, const char *name, const char *src, size_t len,
                jj_intern *names) {
    lexer L;
    memset(&L, 0, sizeof L);
    L.a = a;
    L.jb = jb;
    L.name = name;
    L.names = names;
    L.line = 1;
    L.line_starting = 1;
    a->line = &L.line;
    L.s = normalize_source(a, src, len, &L.len);
    while (L.pos < L.len) {
        size_t t = next_tag(&L, L.pos);
        if (t >= L.len) {
            emit_data(&L, L.s + L.pos, L.len - L.pos, L.line);
            count_lines(&L, L.pos, L.len);
            break;
        }
        char kind = L.s[t + 1];
        char sign = (t + 2 < L.len && (L.s[t + 2] == '-' || L.s[t + 2] == '+')) ? L.s[t + 2] : 0;
        size_t raw_end = 0;
        int raw = kind == '%' && raw_begin(&L, t + 2, &raw_end);
        size_t keep = control_text(&L, L.s + L.pos, t - L.pos, sign, kind == '{');
        emit_data(&L, L.s + L.pos, keep, L.line);
        count_lines(&L, L.pos, t);
        L.pos = t + 2 + (sign ? 1 : 0);
        L.line_starting = 0;
        if (raw) {
            count_lines(&L, L.pos, raw_end);
            L.pos = raw_end;
            L.line_starting = L.s[raw_end - 1] == '\n';
            lex_raw(&L);
        } else if (kind == '#') {
            lex_comment(&L);
        } else {
            push(&L, kind == '%' ? TK_BLOCK_BEGIN : TK_VAR_BEGIN);
            lex_tag(&L, kind == '%');
        }
    }
    push(&L, TK_EOF);
    a->line = NULL; /* L goes out of scope */
    jj_lexed out = {L.toks, L.n};
    return out;
}
