/* jinja_value.c — memory, strings and the Python semantics of Jinja values: truthiness,
 * equality and ordering, str() and repr(), json.dumps, and JSON input. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/jinja_internal.h"

/* ================================================================================ arena */

#define CHUNK_SIZE (64u << 10)
#define SMALL_MAX 4096u /* larger blocks get their own malloc so that they can grow in place */

typedef struct jj_chunk { struct jj_chunk *next; size_t used, cap; max_align_t data[]; } jj_chunk;
typedef struct jj_big { struct jj_big *prev, *next; max_align_t data[]; } jj_big;

void jj_arena_init(jj_arena *a, size_t cap) {
    memset(a, 0, sizeof *a);
    a->cap = cap;
}

void jj_arena_free(jj_arena *a) {
    for (jj_chunk *c = a->chunks, *nx; c; c = nx) {
        nx = c->next;
        free(c);
    }
    for (jj_big *b = a->bigs, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    a->chunks = NULL;
    a->bigs = NULL;
}

/* The one way out when memory runs short: a message and a jump to the entry point. */
static JJ_NORETURN void arena_fail(jj_arena *a, r1c_status st, const char *what) {
    r1c_error(st, "%s:%d: %s", a->name ? a->name : "template", a->line ? *a->line : 0, what);
    a->fail_status = st;
    longjmp(*a->jb, 1);
}

static void account(jj_arena *a, size_t n) {
    if (n > a->cap - a->used) arena_fail(a, R1C_ERR_FORMAT, "template needs too much memory");
    a->used += n;
}

void *jj_alloc(jj_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    account(a, n);
    if (n > SMALL_MAX) {
        jj_big *b = malloc(sizeof *b + n);
        if (!b) arena_fail(a, R1C_ERR_NOMEM, "out of memory");
        b->prev = NULL;
        b->next = a->bigs;
        if (a->bigs) a->bigs->prev = b;
        a->bigs = b;
        return b->data;
    }
    jj_chunk *c = a->chunks;
    if (!c || c->cap - c->used < n) {
        c = malloc(sizeof *c + CHUNK_SIZE);
        if (!c) arena_fail(a, R1C_ERR_NOMEM, "out of memory");
        c->used = 0;
        c->cap = CHUNK_SIZE;
        c->next = a->chunks;
        a->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

void *jj_realloc(jj_arena *a, void *p, size_t old, size_t n) {
    if (!p) return jj_alloc(a, n);
    size_t old_r = (old + 15) & ~(size_t)15, n_r = (n + 15) & ~(size_t)15;
    if (old_r == 0) old_r = 16;
    if (old_r > SMALL_MAX && n_r > SMALL_MAX) { /* a big block: let realloc move it */
        if (n_r > old_r) account(a, n_r - old_r);
        jj_big *b = (jj_big *)((char *)p - offsetof(jj_big, data));
        jj_big *prev = b->prev, *next = b->next;
        jj_big *nb = realloc(b, sizeof *nb + n_r);
        if (!nb) arena_fail(a, R1C_ERR_NOMEM, "out of memory");
        if (prev) prev->next = nb; else a->bigs = nb;
        if (next) next->prev = nb;
        return nb->data;
    }
    void *q = jj_alloc(a, n);
    memcpy(q, p, old < n ? old : n);
    return q;
}

char *jj_strdup(jj_arena *a, const char *s, size_t n) {
    char *p = jj_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* ================================================================================ buffers */

void jj_buf_init(jj_buf *b, jj_arena *a, size_t max) {
    b->p = NULL;
    b->n = b->cap = 0;
    b->a = a;
    b->max = max;
}

void jj_buf_put(jj_buf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (n > b->max - b->n) arena_fail(b->a, R1C_ERR_FORMAT, "rendered text exceeds the output limit (64 MB)");
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        while (nc < b->n + n) nc *= 2;
        b->p = jj_realloc(b->a, b->p, b->cap, nc);
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void jj_buf_printf(jj_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) jj_buf_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

jv jj_buf_str(jj_buf *b) { return jv_str(b->p ? b->p : "", b->n); }

/* ================================================================================ UTF-8 */

static int cont(unsigned char c) { return (c & 0xC0) == 0x80; }

size_t jj_u8_char(const char *str, size_t n, size_t i, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[i];
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF && i + 1 < n && cont(s[i + 1])) {
        *cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF && i + 2 < n && cont(s[i + 1]) && cont(s[i + 2])) {
        uint32_t v = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
        if (v >= 0x800) { *cp = v; return 3; }
    }
    if (c >= 0xF0 && c <= 0xF4 && i + 3 < n && cont(s[i + 1]) && cont(s[i + 2]) && cont(s[i + 3])) {
        uint32_t v = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) |
                     (s[i + 3] & 0x3F);
        if (v >= 0x10000 && v <= 0x10FFFF) { *cp = v; return 4; }
    }
    *cp = 0xDC00 + c; /* an invalid byte stands for itself, as Python's surrogateescape does */
    return 1;
}

size_t jj_u8_len(const char *s, size_t n) {
    size_t k = 0;
    uint32_t cp;
    for (size_t i = 0; i < n; k++) {
        if ((unsigned char)s[i] < 0x80) i++;
        else i += jj_u8_char(s, n, i, &cp);
    }
    return k;
}

uint32_t *jj_u8_offsets(jj_render *r, const char *s, size_t n, size_t *count) {
    jj_spend(r, n / 64);
    uint32_t *off = jj_alloc(&r->arena, (n + 1) * sizeof *off);
    size_t k = 0;
    uint32_t cp;
    for (size_t i = 0; i < n; k++) {
        off[k] = (uint32_t)i;
        i += jj_u8_char(s, n, i, &cp);
    }
    off[k] = (uint32_t)n;
    *count = k;
    return off;
}

size_t jj_u8_encode(uint32_t cp, char *o) {
    if (cp >= 0xDC80 && cp <= 0xDCFF) { o[0] = (char)(cp - 0xDC00); return 1; } /* raw byte */
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Python's str.isspace(): what strip() and split() remove. */
int jj_py_isspace(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ================================================================================ containers */

jj_list *jj_list_new(jj_render *r, uint32_t n) {
    jj_list *l = jj_alloc(&r->arena, sizeof *l);
    l->n = n;
    /* never NULL, even when empty: code may form l->v + 0 (UB on a null pointer) */
    l->v = jj_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof(jv));
    return l;
}

void jj_vec_push(jj_render *r, jj_vec *v, jv x) {
    if (v->n == v->cap) {
        uint32_t nc = v->cap ? v->cap * 2 : 8;
        if (nc > (1u << 26)) jj_fail(r, "list too long");
        v->v = jj_realloc(&r->arena, v->v, (size_t)v->cap * sizeof(jv), (size_t)nc * sizeof(jv));
        v->cap = nc;
    }
    v->v[v->n++] = x;
}

jv jj_vec_list(jj_render *r, jj_vec *v, int tuple) {
    jj_list *l = jj_alloc(&r->arena, sizeof *l);
    l->n = v->n;
    l->v = v->v ? v->v : jj_alloc(&r->arena, sizeof(jv));
    jv out = {0};
    out.t = tuple ? JV_TUPLE : JV_LIST;
    out.u.l = l;
    return out;
}

jj_dict *jj_dict_new(jj_render *r, uint32_t cap) {
    jj_dict *d = jj_alloc(&r->arena, sizeof *d);
    d->n = 0;
    d->cap = cap;
    d->k = cap ? jj_alloc(&r->arena, (size_t)cap * sizeof(jv)) : NULL;
    d->v = cap ? jj_alloc(&r->arena, (size_t)cap * sizeof(jv)) : NULL;
    return d;
}

int jj_dict_find_str(jj_render *r, const jj_dict *d, const char *s, size_t n) {
    jj_spend(r, d->n / 16);
    for (uint32_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].n == n && memcmp(d->k[i].u.s, s, n) == 0) return (int)i;
    return -1;
}

int jj_dict_find(jj_render *r, const jj_dict *d, jv key) {
    if (key.t == JV_STR) return jj_dict_find_str(r, d, key.u.s, key.n);
    jj_spend(r, d->n / 16);
    for (uint32_t i = 0; i < d->n; i++)
        if (jj_equal(r, d->k[i], key)) return (int)i;
    return -1;
}

/* Python dict assignment: an existing key keeps its place and takes the new value. */
void jj_dict_set(jj_render *r, jj_dict *d, jv key, jv val) {
    int i = jj_dict_find(r, d, key);
    if (i >= 0) {
        d->v[i] = val;
        return;
    }
    if (d->n == d->cap) {
        uint32_t nc = d->cap ? d->cap * 2 : 4;
        if (nc > (1u << 26)) jj_fail(r, "dict too large");
        d->k = jj_realloc(&r->arena, d->k, (size_t)d->cap * sizeof(jv), (size_t)nc * sizeof(jv));
        d->v = jj_realloc(&r->arena, d->v, (size_t)d->cap * sizeof(jv), (size_t)nc * sizeof(jv));
        d->cap = nc;
    }
    d->k[d->n] = key;
    d->v[d->n] = val;
    d->n++;
}

/* ================================================================================ semantics */

const char *jj_type_name(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return "list";
    case JV_TUPLE: return "tuple";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_MACRO: return "Macro";
    case JV_LOOP: return "LoopContext";
    case JV_CYCLER: return "Cycler";
    case JV_JOINER: return "Joiner";
    default: return "function";
    }
}

void jj_undefined_error(jj_render *r, jv u) {
    if (u.t != JV_UNDEF) jj_fail(r, "value is undefined");
    int n = (int)(u.n > 200 ? 200 : u.n);
    static const char *objnames[] = {"Undefined", "NoneType", "bool", "int", "float", "str",
                                     "list", "tuple", "dict", "Namespace"};
    const char *obj = u.objt < sizeof objnames / sizeof *objnames ? objnames[u.objt] : "object";
    switch (u.sub) {
    case JU_NAME: jj_fail(r, "'%.*s' is undefined", n, u.u.s);
    case JU_ATTR: jj_fail(r, "'%s object' has no attribute '%.*s'", obj, n, u.u.s);
    case JU_ITEM: jj_fail(r, "'%s object' has no element %.*s", obj, n, u.u.s);
    default: jj_fail(r, "value is undefined");
    }
}

int jj_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.n != 0;
    case JV_LIST: case JV_TUPLE: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return 1;
    }
}

static void check_depth(jj_render *r, int depth) {
    if (depth > 1000) jj_fail(r, "value nested too deeply");
}

static int equal_rec(jj_render *r, jv a, jv b, int depth) {
    check_depth(r, depth);
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t == JV_FLOAT || b.t == JV_FLOAT) {
            double x = a.t == JV_FLOAT ? a.u.f : (double)a.u.i;
            double y = b.t == JV_FLOAT ? b.u.f : (double)b.u.i;
            return x == y;
        }
        return a.u.i == b.u.i;
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR:
        jj_spend(r, a.n / 64);
        return a.n == b.n && (a.n == 0 || memcmp(a.u.s, b.u.s, a.n) == 0);
    case JV_LIST: case JV_TUPLE:
        if (a.u.l->n != b.u.l->n) return 0;
        jj_spend(r, a.u.l->n / 8);
        for (uint32_t i = 0; i < a.u.l->n; i++)
            if (!equal_rec(r, a.u.l->v[i], b.u.l->v[i], depth + 1)) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (uint32_t i = 0; i < a.u.d->n; i++) {
            int j = jj_dict_find(r, b.u.d, a.u.d->k[i]);
            if (j < 0 || !equal_rec(r, a.u.d->v[i], b.u.d->v[j], depth + 1)) return 0;
        }
        return 1;
    default: return a.u.d == b.u.d; /* identity for namespaces, macros, ... */
    }
}

int jj_equal(jj_render *r, jv a, jv b) { return equal_rec(r, a, b, 0); }

static int compare_rec(jj_render *r, jv a, jv b, int depth) {
    check_depth(r, depth);
    if (a.t == JV_UNDEF) jj_undefined_error(r, a);
    if (b.t == JV_UNDEF) jj_undefined_error(r, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t == JV_FLOAT || b.t == JV_FLOAT) {
            double x = a.t == JV_FLOAT ? a.u.f : (double)a.u.i;
            double y = b.t == JV_FLOAT ? b.u.f : (double)b.u.i;
            return x < y ? -1 : x > y ? 1 : 0;
        }
        return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
    }
    if (a.t == JV_STR && b.t == JV_STR) { /* UTF-8 byte order is code point order */
        size_t n = a.n < b.n ? a.n : b.n;
        jj_spend(r, n / 64);
        int c = n ? memcmp(a.u.s, b.u.s, n) : 0;
        if (c) return c < 0 ? -1 : 1;
        return a.n < b.n ? -1 : a.n > b.n;
    }
    if (a.t == b.t && jv_is_seq(a)) {
        uint32_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (uint32_t i = 0; i < n; i++) {
            if (equal_rec(r, a.u.l->v[i], b.u.l->v[i], depth + 1)) continue;
            return compare_rec(r, a.u.l->v[i], b.u.l->v[i], depth + 1);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    jj_fail(r, "'<' not supported between instances of '%s' and '%s'", jj_type_name(a),
            jj_type_name(b));
}

int jj_compare(jj_render *r, jv a, jv b) { return compare_rec(r, a, b, 0); }

/* ================================================================================ str/repr */

/* Python's float repr: the shortest digits that read back the same, in fixed notation for
 * exponents -4..15 and scientific notation otherwise. */
void jj_write_float(jj_buf *b, double f) {
    if (isnan(f)) { jj_buf_puts(b, "nan"); return; }
    if (isinf(f)) { jj_buf_puts(b, f < 0 ? "-inf" : "inf"); return; }
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp: [-]d[.ddd]e[+-]XX */
    char digits[24];
    int nd = 0, neg = 0;
    const char *p = tmp;
    if (*p == '-') { neg = 1; p++; }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int e = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) jj_buf_put(b, "-", 1);
    if (e < -4 || e >= 16) {
        jj_buf_put(b, digits, 1);
        if (nd > 1) {
            jj_buf_put(b, ".", 1);
            jj_buf_put(b, digits + 1, (size_t)nd - 1);
        }
        jj_buf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (e < 0) {
        jj_buf_put(b, "0.", 2);
        for (int i = 0; i < -e - 1; i++) jj_buf_put(b, "0", 1);
        jj_buf_put(b, digits, (size_t)nd);
    } else {
        for (int i = 0; i <= e; i++) jj_buf_put(b, i < nd ? &digits[i] : "0", 1);
        jj_buf_put(b, ".", 1);
        if (nd > e + 1) jj_buf_put(b, digits + e + 1, (size_t)(nd - e - 1));
        else jj_buf_put(b, "0", 1);
    }
}

/* Python's str.isprintable() for one code point, close enough: controls, formats,
 * separators other than the space, surrogates and unassigned code points are not. */
static int py_printable(uint32_t cp) {
    if (cp < 0x20 || cp == 0x7F) return 0;
    if (cp < 0x7F) return 1;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return !(c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
             c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN || c == UTF8PROC_CATEGORY_ZL ||
             c == UTF8PROC_CATEGORY_ZP || c == UTF8PROC_CATEGORY_ZS);
}

static void write_str_repr(jj_buf *b, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jj_buf_put(b, &q, 1);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = jj_u8_char(s, n, i, &cp);
        if (cp == (uint32_t)q || cp == '\\') { jj_buf_put(b, "\\", 1); jj_buf_put(b, s + i, 1); }
        else if (cp == '\n') jj_buf_puts(b, "\\n");
        else if (cp == '\r') jj_buf_puts(b, "\\r");
        else if (cp == '\t') jj_buf_puts(b, "\\t");
        else if (py_printable(cp)) jj_buf_put(b, s + i, k);
        else if (cp >= 0xDC80 && cp <= 0xDCFF) jj_buf_printf(b, "\\udc%02x", cp & 0xFF);
        else if (cp < 0x100) jj_buf_printf(b, "\\x%02x", cp);
        else if (cp < 0x10000) jj_buf_printf(b, "\\u%04x", cp);
        else jj_buf_printf(b, "\\U%08x", cp);
        i += k;
    }
    jj_buf_put(b, &q, 1);
}

static void write_rec(jj_render *r, jj_buf *b, jv v, int repr, int depth);

static void write_seq(jj_render *r, jj_buf *b, jv v, int depth) {
    int tuple = v.t == JV_TUPLE;
    jj_buf_put(b, tuple ? "(" : "[", 1);
    for (uint32_t i = 0; i < v.u.l->n; i++) {
        if (i) jj_buf_put(b, ", ", 2);
        write_rec(r, b, v.u.l->v[i], 1, depth + 1);
    }
    if (tuple && v.u.l->n == 1) jj_buf_put(b, ",", 1);
    jj_buf_put(b, tuple ? ")" : "]", 1);
}

static void write_dict(jj_render *r, jj_buf *b, const jj_dict *d, int depth) {
    jj_buf_put(b, "{", 1);
    for (uint32_t i = 0; i < d->n; i++) {
        if (i) jj_buf_put(b, ", ", 2);
        write_rec(r, b, d->k[i], 1, depth + 1);
        jj_buf_put(b, ": ", 2);
        write_rec(r, b, d->v[i], 1, depth + 1);
    }
    jj_buf_put(b, "}", 1);
}

static void write_rec(jj_render *r, jj_buf *b, jv v, int repr, int depth) {
    check_depth(r, depth);
    jj_spend(r, 1);
    switch (v.t) {
    case JV_UNDEF: if (repr) jj_buf_puts(b, "Undefined"); break;
    case JV_NONE: jj_buf_puts(b, "None"); break;
    case JV_BOOL: jj_buf_puts(b, v.u.i ? "True" : "False"); break;
    case JV_INT: jj_buf_printf(b, "%lld", (long long)v.u.i); break;
    case JV_FLOAT: jj_write_float(b, v.u.f); break;
    case JV_STR:
        if (repr) write_str_repr(b, v.u.s, v.n);
        else jj_buf_put(b, v.u.s, v.n);
        break;
    case JV_LIST: case JV_TUPLE: write_seq(r, b, v, depth); break;
    case JV_DICT: write_dict(r, b, v.u.d, depth); break;
    case JV_NS:
        jj_buf_puts(b, "<Namespace ");
        write_dict(r, b, v.u.d, depth);
        jj_buf_puts(b, ">");
        break;
    case JV_MACRO: jj_buf_puts(b, "<Macro>"); break;
    case JV_LOOP: jj_buf_printf(b, "<LoopContext %lld/%u>", (long long)v.u.loop->idx + 1, v.u.loop->items->n); break;
    default: jj_buf_printf(b, "<%s>", jj_type_name(v)); break;
    }
}

void jj_write_str(jj_render *r, jj_buf *b, jv v) { write_rec(r, b, v, 0, 0); }
void jj_write_repr(jj_render *r, jj_buf *b, jv v) { write_rec(r, b, v, 1, 0); }

jv jj_to_str(jj_render *r, jv v) {
    if (v.t == JV_STR) return v;
    if (v.t == JV_UNDEF) return jv_str("", 0);
    jj_buf b;
    jj_buf_init(&b, &r->arena, JJ_MAX_OUTPUT);
    jj_write_str(r, &b, v);
    return jj_buf_str(&b);
}

/* ================================================================================ JSON */

static void json_string(jj_buf *b, const char *s, size_t n, int ensure_ascii) {
    jj_buf_put(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one go */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        }
        if (!esc && c >= 0x20 && (c < 0x7F || !ensure_ascii)) {
            run++;
            i++;
            continue;
        }
        jj_buf_put(b, s + i - run, run);
        run = 0;
        if (esc) { jj_buf_puts(b, esc); i++; continue; }
        uint32_t cp;
        size_t k = jj_u8_char(s, n, i, &cp);
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            jj_buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
            jj_buf_printf(b, "\\u%04x", cp);
        }
        i += k;
    }
    jj_buf_put(b, s + n - run, run);
    jj_buf_put(b, "\"", 1);
}

static void json_newline(jj_buf *b, const char *indent, int level) {
    jj_buf_put(b, "\n", 1);
    for (int i = 0; i < level; i++) jj_buf_puts(b, indent);
}

/* json.dumps converts dict keys that are not strings: 1 -> "1", True -> "true", None -> "null". */
static void json_key(jj_render *r, jj_buf *b, jv k, int ensure_ascii) {
    jj_buf kb;
    switch (k.t) {
    case JV_STR: json_string(b, k.u.s, k.n, ensure_ascii); return;
    case JV_NONE: jj_buf_puts(b, "\"null\""); return;
    case JV_BOOL: jj_buf_puts(b, k.u.i ? "\"true\"" : "\"false\""); return;
    case JV_INT: jj_buf_printf(b, "\"%lld\"", (long long)k.u.i); return;
    case JV_FLOAT:
        jj_buf_init(&kb, &r->arena, 64);
        jj_write_float(&kb, k.u.f);
        json_string(b, kb.p, kb.n, ensure_ascii);
        return;
    default: jj_fail(r, "keys must be str, int, float, bool or None, not %s", jj_type_name(k));
    }
}

static void json_rec(jj_render *r, jj_buf *b, jv v, const char *indent, int level,
                     const char *isep, const char *ksep, int sort_keys, int ensure_ascii);

/* Insertion sort keeps it simple and stable; dicts in chat templates are small, and the fuel
 * charge stops hostile ones. */
static uint32_t *sorted_order(jj_render *r, const jj_dict *d) {
    uint32_t *ord = jj_alloc(&r->arena, (d->n + 1) * sizeof *ord);
    jj_spend(r, (uint64_t)d->n * d->n / 4);
    for (uint32_t i = 0; i < d->n; i++) {
        uint32_t j = i;
        while (j > 0 && jj_compare(r, d->k[ord[j - 1]], d->k[i]) > 0) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    return ord;
}

static void json_rec(jj_render *r, jj_buf *b, jv v, const char *indent, int level,
                     const char *isep, const char *ksep, int sort_keys, int ensure_ascii) {
    check_depth(r, level);
    jj_spend(r, 1);
    switch (v.t) {
    case JV_NONE: jj_buf_puts(b, "null"); return;
    case JV_BOOL: jj_buf_puts(b, v.u.i ? "true" : "false"); return;
    case JV_INT: jj_buf_printf(b, "%lld", (long long)v.u.i); return;
    case JV_FLOAT:
        if (isnan(v.u.f)) jj_buf_puts(b, "NaN");
        else if (isinf(v.u.f)) jj_buf_puts(b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else jj_write_float(b, v.u.f);
        return;
    case JV_STR: json_string(b, v.u.s, v.n, ensure_ascii); return;
    case JV_LIST: case JV_TUPLE: {
        const jj_list *l = v.u.l;
        if (l->n == 0) { jj_buf_puts(b, "[]"); return; }
        jj_buf_put(b, "[", 1);
        for (uint32_t i = 0; i < l->n; i++) {
            if (i) jj_buf_puts(b, isep);
            if (indent) json_newline(b, indent, level + 1);
            json_rec(r, b, l->v[i], indent, level + 1, isep, ksep, sort_keys, ensure_ascii);
        }
        if (indent) json_newline(b, indent, level);
        jj_buf_put(b, "]", 1);
        return;
    }
    case JV_DICT: {
        const jj_dict *d = v.u.d;
        if (d->n == 0) { jj_buf_puts(b, "{}"); return; }
        uint32_t *ord = sort_keys ? sorted_order(r, d) : NULL;
        jj_buf_put(b, "{", 1);
        for (uint32_t i = 0; i < d->n; i++) {
            uint32_t j = ord ? ord[i] : i;
            if (i) jj_buf_puts(b, isep);
            if (indent) json_newline(b, indent, level + 1);
            json_key(r, b, d->k[j], ensure_ascii);
            jj_buf_puts(b, ksep);
            json_rec(r, b, d->v[j], indent, level + 1, isep, ksep, sort_keys, ensure_ascii);
        }
        if (indent) json_newline(b, indent, level);
        jj_buf_put(b, "}", 1);
        return;
    }
    default:
        jj_fail(r, "Object of type %s is not JSON serializable", jj_type_name(v));
    }
}

void jj_write_json(jj_render *r, jj_buf *b, jv v, const char *indent, int level,
                   const char *item_sep, const char *key_sep, int sort_keys, int ensure_ascii) {
    json_rec(r, b, v, indent, level, item_sep, key_sep, sort_keys, ensure_ascii);
}

/* JSON in: numbers that are whole become ints (JSON cannot tell 1 from 1.0 once cJSON has
 * read it; chat contexts use whole numbers as ints). Strings point into the cJSON tree, which
 * outlives the render. */
jv jj_from_cjson(jj_render *r, const cJSON *j, int depth) {
    check_depth(r, depth);
    jj_spend(r, 1);
    if (!j) return jv_undef();
    if (cJSON_IsFalse(j)) return jv_bool(0);
    if (cJSON_IsTrue(j)) return jv_bool(1);
    if (cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) {
        const char *s = j->valuestring ? j->valuestring : "";
        return jv_str(s, strlen(s));
    }
    if (cJSON_IsArray(j)) {
        jj_vec v = {0};
        for (const cJSON *c = j->child; c; c = c->next) jj_vec_push(r, &v, jj_from_cjson(r, c, depth + 1));
        return jj_vec_list(r, &v, 0);
    }
    if (cJSON_IsObject(j)) {
        jj_dict *d = jj_dict_new(r, 0);
        for (const cJSON *c = j->child; c; c = c->next) {
            const char *k = c->string ? c->string : "";
            jj_dict_set(r, d, jv_str(k, strlen(k)), jj_from_cjson(r, c, depth + 1));
        }
        jv out = {0};
        out.t = JV_DICT;
        out.u.d = d;
        return out;
    }
    return jv_none(); /* cJSON_Raw and friends: nothing a chat context holds */
}

/* ================================================================================ iteration */

jj_list *jj_iter_list(jj_render *r, jv v) {
    switch (v.t) {
    case JV_LIST: case JV_TUPLE: return v.u.l;
    case JV_UNDEF: return jj_list_new(r, 0); /* jinja2's Undefined iterates as empty */
    case JV_DICT: case JV_NS: {
        jj_list *l = jj_list_new(r, v.u.d->n);
        jj_copy(l->v, v.u.d->k, (size_t)v.u.d->n * sizeof(jv));
        return l;
    }
    case JV_STR: {
        size_t n;
        uint32_t *off = jj_u8_offsets(r, v.u.s, v.n, &n);
        jj_list *l = jj_list_new(r, (uint32_t)n);
        for (size_t i = 0; i < n; i++) l->v[i] = jv_str(v.u.s + off[i], off[i + 1] - off[i]);
        return l;
    }
    default: jj_fail(r, "'%s' object is not iterable", jj_type_name(v));
    }
}

int64_t jj_length(jj_render *r, jv v) {
    switch (v.t) {
    case JV_UNDEF: return 0;
    case JV_STR: jj_spend(r, v.n / 64); return (int64_t)jj_u8_len(v.u.s, v.n);
    case JV_LIST: case JV_TUPLE: return v.u.l->n;
    case JV_DICT: return v.u.d->n;
    case JV_LOOP: return v.u.loop->items->n;
    default: jj_fail(r, "object of type '%s' has no len()", jj_type_name(v));
    }
}
