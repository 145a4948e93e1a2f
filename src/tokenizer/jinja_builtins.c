/* jinja_builtins.c — operators, attribute and item access, and the filters, tests, methods and
 * global functions that chat templates use, each with the semantics of the Python function
 * jinja2 calls (str.split, json.dumps, round, ...), since that is what transformers runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "tokenizer/jinja_internal.h"

/* ================================================================================ names */

enum {
    F_NONE, F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_DEFAULT, F_DICTSORT,
    F_ESCAPE, F_FIRST, F_FLOAT, F_FORCEESCAPE, F_FORMAT, F_INDENT, F_INT, F_ITEMS, F_JOIN,
    F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_REJECT, F_REJECTATTR, F_REPLACE,
    F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SORT, F_STRING, F_SUM, F_TITLE,
    F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER, F_WORDCOUNT,
    F_UNSUPPORTED, /* valid jinja2 filters that are not implemented: an error when used */
};

static const struct { const char *name; int id; } filter_names[] = {
    {"abs", F_ABS}, {"attr", F_ATTR}, {"batch", F_BATCH}, {"capitalize", F_CAPITALIZE},
    {"center", F_CENTER}, {"count", F_COUNT}, {"d", F_DEFAULT}, {"default", F_DEFAULT},
    {"dictsort", F_DICTSORT}, {"e", F_ESCAPE}, {"escape", F_ESCAPE}, {"first", F_FIRST},
    {"float", F_FLOAT}, {"forceescape", F_FORCEESCAPE}, {"format", F_FORMAT}, {"indent", F_INDENT},
    {"int", F_INT}, {"items", F_ITEMS}, {"join", F_JOIN}, {"last", F_LAST}, {"length", F_LENGTH},
    {"list", F_LIST}, {"lower", F_LOWER}, {"map", F_MAP}, {"max", F_MAX}, {"min", F_MIN},
    {"reject", F_REJECT}, {"rejectattr", F_REJECTATTR}, {"replace", F_REPLACE},
    {"reverse", F_REVERSE}, {"round", F_ROUND}, {"safe", F_SAFE}, {"select", F_SELECT},
    {"selectattr", F_SELECTATTR}, {"sort", F_SORT}, {"string", F_STRING}, {"sum", F_SUM},
    {"title", F_TITLE}, {"tojson", F_TOJSON}, {"trim", F_TRIM}, {"truncate", F_TRUNCATE},
    {"unique", F_UNIQUE}, {"upper", F_UPPER}, {"wordcount", F_WORDCOUNT},
    {"filesizeformat", F_UNSUPPORTED}, {"groupby", F_UNSUPPORTED}, {"pprint", F_UNSUPPORTED},
    {"random", F_UNSUPPORTED}, {"slice", F_UNSUPPORTED}, {"striptags", F_UNSUPPORTED},
    {"urlencode", F_UNSUPPORTED}, {"urlize", F_UNSUPPORTED}, {"wordwrap", F_UNSUPPORTED},
    {"xmlattr", F_UNSUPPORTED},
};

enum {
    T_NONE_, T_BOOLEAN, T_CALLABLE, T_DEFINED, T_DIVISIBLEBY, T_EQ, T_ESCAPED, T_EVEN, T_FALSE,
    T_FILTER, T_FLOAT, T_GE, T_GT, T_IN, T_INTEGER, T_ITERABLE, T_LE, T_LOWER, T_LT, T_MAPPING,
    T_NE, T_NONE, T_NUMBER, T_ODD, T_SAMEAS, T_SEQUENCE, T_STRING, T_TEST, T_TRUE, T_UNDEFINED,
    T_UPPER,
};

static const struct { const char *name; int id; } test_names[] = {
    {"boolean", T_BOOLEAN}, {"callable", T_CALLABLE}, {"defined", T_DEFINED},
    {"divisibleby", T_DIVISIBLEBY}, {"eq", T_EQ}, {"equalto", T_EQ}, {"==", T_EQ},
    {"escaped", T_ESCAPED}, {"even", T_EVEN}, {"false", T_FALSE}, {"filter", T_FILTER},
    {"float", T_FLOAT}, {"ge", T_GE}, {">=", T_GE}, {"gt", T_GT}, {"greaterthan", T_GT},
    {">", T_GT}, {"in", T_IN}, {"integer", T_INTEGER}, {"iterable", T_ITERABLE}, {"le", T_LE},
    {"<=", T_LE}, {"lower", T_LOWER}, {"lt", T_LT}, {"lessthan", T_LT}, {"<", T_LT},
    {"mapping", T_MAPPING}, {"ne", T_NE}, {"!=", T_NE}, {"none", T_NONE}, {"number", T_NUMBER},
    {"odd", T_ODD}, {"sameas", T_SAMEAS}, {"sequence", T_SEQUENCE}, {"string", T_STRING},
    {"test", T_TEST}, {"true", T_TRUE}, {"undefined", T_UNDEFINED}, {"upper", T_UPPER},
};

int jj_filter_id(const char *name) {
    for (size_t i = 0; i < sizeof filter_names / sizeof *filter_names; i++)
        if (!strcmp(filter_names[i].name, name)) return filter_names[i].id;
    return 0;
}

int jj_test_id(const char *name) {
    for (size_t i = 0; i < sizeof test_names / sizeof *test_names; i++)
        if (!strcmp(test_names[i].name, name)) return test_names[i].id;
    return 0;
}

int jj_global_id(const char *name) {
    static const struct { const char *name; int id; } g[] = {
        {"range", JG_RANGE}, {"namespace", JG_NAMESPACE}, {"dict", JG_DICT},
        {"raise_exception", JG_RAISE}, {"strftime_now", JG_STRFTIME}, {"cycler", JG_CYCLER},
        {"joiner", JG_JOINER}, {"lipsum", JG_LIPSUM},
    };
    for (size_t i = 0; i < sizeof g / sizeof *g; i++)
        if (!strcmp(g[i].name, name)) return g[i].id;
    return 0;
}

/* ================================================================================ arguments */

/* Binds positional and keyword arguments to a Python signature; out[i] is left undefined
 * (with have[i] == 0) where nothing was passed. */
static void bind(jj_render *r, const char *fname, const char *const *params, int np,
                 const jv *args, uint32_t nargs, const char *const *kwn, const jv *kw,
                 uint32_t nkw, jv *out, int *have) {
    if (nargs > (uint32_t)np) jj_fail(r, "%s() takes at most %d arguments (%u given)", fname, np, nargs);
    for (int i = 0; i < np; i++) {
        have[i] = (uint32_t)i < nargs;
        out[i] = have[i] ? args[i] : jv_undef();
    }
    for (uint32_t k = 0; k < nkw; k++) {
        int i = 0;
        while (i < np && strcmp(params[i], kwn[k])) i++;
        if (i == np) jj_fail(r, "%s() got an unexpected keyword argument '%s'", fname, kwn[k]);
        if (have[i]) jj_fail(r, "%s() got multiple values for argument '%s'", fname, kwn[k]);
        out[i] = kw[k];
        have[i] = 1;
    }
}

#define BIND(fname, ...)                                                                   \
    static const char *const params_[] = {__VA_ARGS__};                                    \
    enum { NP_ = sizeof params_ / sizeof *params_ };                                       \
    jv a_[NP_];                                                                            \
    int h_[NP_];                                                                           \
    bind(r, fname, params_, NP_, args, nargs, kwn, kw, nkw, a_, h_)

static int64_t want_int(jj_render *r, jv v, const char *what) {
    if (v.t == JV_INT || v.t == JV_BOOL) return v.u.i;
    jj_fail(r, "%s must be an integer, not '%s'", what, jj_type_name(v));
}

static jv want_str(jj_render *r, jv v, const char *what) {
    if (v.t != JV_STR) jj_fail(r, "%s must be a string, not '%s'", what, jj_type_name(v));
    return v;
}

static jv mkstr_buf(jj_buf *b) { return jj_buf_str(b); }

static jv list_value(jj_list *l, int tuple) {
    jv v = {0};
    v.t = tuple ? JV_TUPLE : JV_LIST;
    v.u.l = l;
    return v;
}

static jv dict_value(jj_dict *d, int ns) {
    jv v = {0};
    v.t = ns ? JV_NS : JV_DICT;
    v.u.d = d;
    return v;
}

static jv pair(jj_render *r, jv a, jv b) {
    jj_list *l = jj_list_new(r, 2);
    l->v[0] = a;
    l->v[1] = b;
    return list_value(l, 1);
}

/* ================================================================================ strings */

typedef jj_buf sbuf;
static void sb_init(jj_render *r, sbuf *b) { jj_buf_init(b, &r->arena, JJ_MAX_OUTPUT); }

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    return memmem(h, hn, n, nn);
}

static const char *rfind_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

static int cp_in(uint32_t cp, const char *set, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += jj_u8_char(set, n, i, &c);
        if (c == cp) return 1;
    }
    return 0;
}

/* str.strip / lstrip / rstrip; chars: a string of code points to strip, or none (whitespace). */
static jv str_strip(jj_render *r, jv s, jv chars, int left, int right) {
    jj_spend(r, s.n / 64); /* whole-string scans cost fuel, so loops over them end */
    if (chars.t != JV_NONE && chars.t != JV_UNDEF) want_str(r, chars, "strip argument");
    int ws = chars.t != JV_STR;
    size_t b = 0, e = s.n;
    uint32_t cp;
    if (left)
        while (b < e) {
            size_t k = jj_u8_char(s.u.s, s.n, b, &cp);
            if (ws ? !jj_py_isspace(cp) : !cp_in(cp, chars.u.s, chars.n)) break;
            b += k;
        }
    if (right)
        while (e > b) {
            size_t st = e - 1;
            while (st > b && ((unsigned char)s.u.s[st] & 0xC0) == 0x80 && e - st < 4) st--;
            size_t k = jj_u8_char(s.u.s, s.n, st, &cp);
            if (st + k != e) { st = e - 1; jj_u8_char(s.u.s, s.n, st, &cp); }
            if (ws ? !jj_py_isspace(cp) : !cp_in(cp, chars.u.s, chars.n)) break;
            e = st;
        }
    return jv_str(s.u.s + b, e - b);
}

/* str.split() with no separator: runs of whitespace, none at either end. */
static jv split_ws(jj_render *r, jv s, int64_t maxsplit, int from_right) {
    jj_spend(r, s.n / 64);
    jj_vec out = {0};
    size_t n = s.n;
    const char *p = s.u.s;
    uint32_t cp;
    if (!from_right) {
        size_t i = 0;
        while (i < n) {
            size_t k;
            while (i < n && jj_py_isspace((k = jj_u8_char(p, n, i, &cp), cp))) i += k;
            if (i >= n) break;
            if (maxsplit >= 0 && (int64_t)out.n >= maxsplit) {
                size_t e = n; /* the rest, less trailing whitespace only if nothing was split */
                jj_vec_push(r, &out, jv_str(p + i, e - i));
                i = n;
                break;
            }
            size_t st = i;
            while (i < n && !jj_py_isspace((k = jj_u8_char(p, n, i, &cp), cp))) i += k;
            jj_vec_push(r, &out, jv_str(p + st, i - st));
        }
        return jj_vec_list(r, &out, 0);
    }
    /* from the right: collect pieces backwards, then reverse */
    size_t off_n;
    uint32_t *off = jj_u8_offsets(r, p, n, &off_n);
    size_t j = off_n; /* code point index just past the current position */
    while (j > 0) {
        while (j > 0) {
            jj_u8_char(p, n, off[j - 1], &cp);
            if (!jj_py_isspace(cp)) break;
            j--;
        }
        if (j == 0) break;
        if (maxsplit >= 0 && (int64_t)out.n >= maxsplit) {
            jj_vec_push(r, &out, jv_str(p, off[j]));
            j = 0;
            break;
        }
        size_t end = j;
        while (j > 0) {
            jj_u8_char(p, n, off[j - 1], &cp);
            if (jj_py_isspace(cp)) break;
            j--;
        }
        jj_vec_push(r, &out, jv_str(p + off[j], off[end] - off[j]));
    }
    for (uint32_t i = 0; i < out.n / 2; i++) {
        jv t = out.v[i];
        out.v[i] = out.v[out.n - 1 - i];
        out.v[out.n - 1 - i] = t;
    }
    return jj_vec_list(r, &out, 0);
}

static jv str_split(jj_render *r, jv s, jv sep, jv maxsplit_v, int from_right) {
    int64_t maxsplit = (maxsplit_v.t == JV_UNDEF) ? -1 : want_int(r, maxsplit_v, "maxsplit");
    if (sep.t == JV_NONE || sep.t == JV_UNDEF) return split_ws(r, s, maxsplit, from_right);
    want_str(r, sep, "separator");
    if (sep.n == 0) jj_fail(r, "empty separator");
    jj_vec out = {0};
    jj_spend(r, s.n / 64);
    if (!from_right) {
        const char *p = s.u.s, *end = s.u.s + s.n;
        for (;;) {
            const char *q = (maxsplit < 0 || (int64_t)out.n < maxsplit) ? find_bytes(p, (size_t)(end - p), sep.u.s, sep.n) : NULL;
            if (!q) {
                jj_vec_push(r, &out, jv_str(p, (size_t)(end - p)));
                break;
            }
            jj_vec_push(r, &out, jv_str(p, (size_t)(q - p)));
            p = q + sep.n;
        }
        return jj_vec_list(r, &out, 0);
    }
    size_t end = s.n;
    for (;;) {
        const char *q = (maxsplit < 0 || (int64_t)out.n < maxsplit) ? rfind_bytes(s.u.s, end, sep.u.s, sep.n) : NULL;
        if (!q) {
            jj_vec_push(r, &out, jv_str(s.u.s, end));
            break;
        }
        size_t at = (size_t)(q - s.u.s);
        jj_vec_push(r, &out, jv_str(q + sep.n, end - at - sep.n));
        end = at;
    }
    for (uint32_t i = 0; i < out.n / 2; i++) {
        jv t = out.v[i];
        out.v[i] = out.v[out.n - 1 - i];
        out.v[out.n - 1 - i] = t;
    }
    return jj_vec_list(r, &out, 0);
}

/* str.replace(old, new, count); an empty old inserts new around every code point. */
static jv str_replace(jj_render *r, jv s, jv old, jv new_, int64_t count) {
    want_str(r, old, "replace() argument 1");
    want_str(r, new_, "replace() argument 2");
    sbuf b;
    sb_init(r, &b);
    jj_spend(r, s.n / 64);
    if (old.n == 0) {
        size_t i = 0;
        uint32_t cp;
        int64_t done = 0;
        while (count < 0 || done < count) {
            jj_buf_put(&b, new_.u.s, new_.n);
            done++;
            if (i >= s.n) break;
            size_t k = jj_u8_char(s.u.s, s.n, i, &cp);
            jj_buf_put(&b, s.u.s + i, k);
            i += k;
        }
        jj_buf_put(&b, s.u.s + i, s.n - i);
        return mkstr_buf(&b);
    }
    const char *p = s.u.s, *end = s.u.s + s.n;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const char *q = find_bytes(p, (size_t)(end - p), old.u.s, old.n);
        if (!q) break;
        jj_buf_put(&b, p, (size_t)(q - p));
        jj_buf_put(&b, new_.u.s, new_.n);
        p = q + old.n;
        done++;
    }
    jj_buf_put(&b, p, (size_t)(end - p));
    return mkstr_buf(&b);
}

static int is_cased(uint32_t cp) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE_WORDS, CASE_CAPITALIZE, CASE_SWAP };

static uint32_t map_cp(uint32_t cp, int to) {
    if (cp >= 0xD800 && cp <= 0xDFFF) return cp;
    if (to == CASE_UPPER) return (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp);
    if (to == CASE_LOWER) return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return (uint32_t)utf8proc_totitle((utf8proc_int32_t)cp);
}

/* upper(), lower(), title() (a cased letter after an uncased one starts a word),
 * capitalize() (the first character in title case, the rest lower), swapcase(). */
static jv str_case(jj_render *r, jv s, int mode) {
    jj_spend(r, s.n / 64);
    sbuf b;
    sb_init(r, &b);
    int prev_cased = 0;
    size_t idx = 0;
    for (size_t i = 0; i < s.n; idx++) {
        uint32_t cp, out;
        size_t k = jj_u8_char(s.u.s, s.n, i, &cp);
        switch (mode) {
        case CASE_UPPER: out = map_cp(cp, CASE_UPPER); break;
        case CASE_LOWER: out = map_cp(cp, CASE_LOWER); break;
        case CASE_TITLE_WORDS:
            out = prev_cased ? map_cp(cp, CASE_LOWER) : map_cp(cp, 2);
            prev_cased = is_cased(cp);
            break;
        case CASE_CAPITALIZE: out = idx == 0 ? map_cp(cp, 2) : map_cp(cp, CASE_LOWER); break;
        default: {
            utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
            out = c == UTF8PROC_CATEGORY_LU ? map_cp(cp, CASE_LOWER)
                  : c == UTF8PROC_CATEGORY_LL ? map_cp(cp, CASE_UPPER) : cp;
        }
        }
        if (out == cp) {
            jj_buf_put(&b, s.u.s + i, k);
        } else {
            char enc[4];
            jj_buf_put(&b, enc, jj_u8_encode(out, enc));
        }
        i += k;
    }
    return mkstr_buf(&b);
}

/* jinja2's title filter: a word starts after "-", whitespace or an opening bracket; its first
 * character goes upper case and the rest lower case. */
static jv filter_title(jj_render *r, jv s) {
    jj_spend(r, s.n / 64);
    sbuf b;
    sb_init(r, &b);
    int at_start = 1;
    for (size_t i = 0; i < s.n;) {
        uint32_t cp, out;
        size_t k = jj_u8_char(s.u.s, s.n, i, &cp);
        int sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || jj_py_isspace(cp);
        if (sep) out = cp;
        else out = at_start ? map_cp(cp, CASE_UPPER) : map_cp(cp, CASE_LOWER);
        at_start = sep;
        if (out == cp) jj_buf_put(&b, s.u.s + i, k);
        else {
            char enc[4];
            jj_buf_put(&b, enc, jj_u8_encode(out, enc));
        }
        i += k;
    }
    return mkstr_buf(&b);
}

static int str_all(jv s, int (*pred)(uint32_t)) {
    if (s.n == 0) return 0;
    for (size_t i = 0; i < s.n;) {
        uint32_t cp;
        i += jj_u8_char(s.u.s, s.n, i, &cp);
        if (!pred(cp)) return 0;
    }
    return 1;
}
static int cp_digit(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND; }
static int cp_alpha(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int cp_alnum(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return cp_alpha(c) || (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}
static int cp_space(uint32_t c) { return jj_py_isspace(c); }

/* islower(): at least one cased character and no upper/title case one. */
static int str_is_case(jv s, int lower) {
    int cased = 0;
    for (size_t i = 0; i < s.n;) {
        uint32_t cp;
        i += jj_u8_char(s.u.s, s.n, i, &cp);
        utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
        if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) {
            if (lower) return 0;
            cased = 1;
        } else if (c == UTF8PROC_CATEGORY_LL) {
            if (!lower) return 0;
            cased = 1;
        }
    }
    return cased;
}

/* code point index of a byte offset */
static int64_t cp_index(jj_render *r, jv s, size_t byte_off) {
    jj_spend(r, byte_off / 64);
    return (int64_t)jj_u8_len(s.u.s, byte_off);
}

/* s[start:end] in code points for find/count/startswith; start and end may be none. */
static jv str_window(jj_render *r, jv s, jv start, jv end, size_t *byte_start) {
    *byte_start = 0;
    if ((start.t == JV_UNDEF || start.t == JV_NONE) && (end.t == JV_UNDEF || end.t == JV_NONE)) return s;
    jv sub = jj_slice(r, s, start.t == JV_UNDEF ? jv_none() : start, end.t == JV_UNDEF ? jv_none() : end, jv_none());
    *byte_start = (size_t)(sub.u.s - s.u.s); /* a step-1 slice points into s */
    return sub;
}

/* ================================================================================ access */

static jv undef_attr(jv obj, const char *name, size_t n, int kind) {
    jv u = jv_undef();
    u.sub = (uint8_t)kind;
    u.objt = obj.t;
    u.u.s = name;
    u.n = (uint32_t)n;
    return u;
}

static const char *const str_methods[] = {
    "capitalize", "center", "count", "endswith", "find", "format", "index", "isalnum",
    "isalpha", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join",
    "ljust", "lower", "lstrip", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
    "rjust", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
    "title", "upper", "zfill", NULL};
static const char *const dict_methods[] = {"get", "items", "keys", "values", "copy", NULL};
static const char *const dict_unsafe[] = {"pop", "popitem", "setdefault", "update", "clear", NULL};
static const char *const list_methods[] = {"count", "index", "copy", NULL};
static const char *const list_unsafe[] = {"append", "extend", "insert", "pop", "remove",
                                          "reverse", "sort", "clear", NULL};

static int in_names(const char *const *names, const char *s) {
    for (; *names; names++)
        if (!strcmp(*names, s)) return 1;
    return 0;
}

int jj_has_method(jv self, const char *name) {
    switch (self.t) {
    case JV_STR: return in_names(str_methods, name);
    case JV_DICT: return in_names(dict_methods, name) || in_names(dict_unsafe, name);
    case JV_LIST: return in_names(list_methods, name) || in_names(list_unsafe, name);
    case JV_TUPLE: return in_names(list_methods, name);
    case JV_LOOP: return !strcmp(name, "cycle") || !strcmp(name, "changed");
    case JV_CYCLER: return !strcmp(name, "next") || !strcmp(name, "reset");
    default: return 0;
    }
}

static jv loop_attr(jj_render *r, const jj_loop *L, const char *name) {
    int64_t i = L->idx, n = L->items->n;
    if (!strcmp(name, "index")) return jv_int(i + 1);
    if (!strcmp(name, "index0")) return jv_int(i);
    if (!strcmp(name, "revindex")) return jv_int(n - i);
    if (!strcmp(name, "revindex0")) return jv_int(n - i - 1);
    if (!strcmp(name, "first")) return jv_bool(i == 0);
    if (!strcmp(name, "last")) return jv_bool(i == n - 1);
    if (!strcmp(name, "length")) return jv_int(n);
    if (!strcmp(name, "depth")) return jv_int(L->depth);
    if (!strcmp(name, "depth0")) return jv_int(L->depth - 1);
    if (!strcmp(name, "previtem")) return i > 0 ? L->items->v[i - 1] : jv_undef();
    if (!strcmp(name, "nextitem")) return i + 1 < n ? L->items->v[i + 1] : jv_undef();
    (void)r;
    return jv_undef();
}

/* obj.name: jinja2 tries the attribute, then the item of that name. */
jv jj_getattr(jj_render *r, jv obj, const char *name, size_t n) {
    jj_spend(r, 1);
    switch (obj.t) {
    case JV_UNDEF: jj_undefined_error(r, obj);
    case JV_DICT: case JV_NS: {
        int i = jj_dict_find_str(r, obj.u.d, name, n);
        if (i >= 0) return obj.u.d->v[i];
        break;
    }
    case JV_LOOP: {
        jv v = loop_attr(r, obj.u.loop, name);
        if (v.t != JV_UNDEF || !strcmp(name, "previtem") || !strcmp(name, "nextitem")) return v;
        break;
    }
    case JV_CYCLER:
        if (!strcmp(name, "current")) return obj.u.cy->items->v[obj.u.cy->pos];
        break;
    default: break;
    }
    if (jj_has_method(obj, name)) {
        jj_bound *bm = jj_alloc(&r->arena, sizeof *bm);
        bm->self = obj;
        bm->name = jj_strdup(&r->arena, name, n);
        jv m = {0};
        m.t = JV_METHOD;
        m.u.bm = bm;
        return m;
    }
    return undef_attr(obj, name, n, JU_ATTR);
}

/* A Python index into a sequence of n items: negative counts from the end; -1 when outside. */
static int64_t seq_index(int64_t i, int64_t n) {
    if (i < 0) i += n;
    return (i < 0 || i >= n) ? -1 : i;
}

jv jj_getitem(jj_render *r, jv obj, jv key) {
    jj_spend(r, 1);
    if (obj.t == JV_UNDEF) jj_undefined_error(r, obj);
    if ((obj.t == JV_LIST || obj.t == JV_TUPLE) && (key.t == JV_INT || key.t == JV_BOOL)) {
        int64_t i = seq_index(key.u.i, obj.u.l->n);
        if (i >= 0) return obj.u.l->v[i];
    } else if (obj.t == JV_STR && (key.t == JV_INT || key.t == JV_BOOL)) {
        int64_t n = (int64_t)jj_u8_len(obj.u.s, obj.n);
        int64_t i = seq_index(key.u.i, n);
        if (i >= 0) {
            jv one = jv_int(i), two = jv_int(i + 1);
            return jj_slice(r, obj, one, two, jv_none());
        }
    } else if (obj.t == JV_DICT || obj.t == JV_NS) {
        int i = jj_dict_find(r, obj.u.d, key);
        if (i >= 0) return obj.u.d->v[i];
    } else if (key.t == JV_STR) {
        return jj_getattr(r, obj, jj_strdup(&r->arena, key.u.s, key.n), key.n);
    }
    jv u = jv_undef();
    u.sub = JU_ITEM;
    u.objt = obj.t;
    if (key.t == JV_STR) {
        u.u.s = key.u.s;
        u.n = key.n;
    } else {
        jv ks = jj_to_str(r, key);
        u.u.s = ks.u.s;
        u.n = ks.n;
    }
    return u;
}

/* Python's slice.indices(): clamps start/stop for the sign of step. */
static void slice_indices(jj_render *r, int64_t len, jv start, jv stop, jv step, int64_t *s0,
                          int64_t *s1, int64_t *st) {
    int64_t k = step.t == JV_NONE ? 1 : want_int(r, step, "slice step");
    if (k == 0) jj_fail(r, "slice step cannot be zero");
    int64_t lower = k > 0 ? 0 : -1, upper = k > 0 ? len : len - 1;
    int64_t a, b;
    if (start.t == JV_NONE) a = k > 0 ? lower : upper;
    else {
        a = want_int(r, start, "slice indices");
        if (a < 0) { a += len; if (a < lower) a = lower; }
        else if (a > upper) a = upper;
    }
    if (stop.t == JV_NONE) b = k > 0 ? upper : lower;
    else {
        b = want_int(r, stop, "slice indices");
        if (b < 0) { b += len; if (b < lower) b = lower; }
        else if (b > upper) b = upper;
    }
    *s0 = a;
    *s1 = b;
    *st = k;
}

jv jj_slice(jj_render *r, jv obj, jv start, jv stop, jv step) {
    if (obj.t == JV_UNDEF) jj_undefined_error(r, obj);
    if (start.t == JV_UNDEF) start = jv_none();
    if (stop.t == JV_UNDEF) stop = jv_none();
    if (step.t == JV_UNDEF) step = jv_none();
    int64_t a, b, k;
    if (obj.t == JV_LIST || obj.t == JV_TUPLE) {
        slice_indices(r, obj.u.l->n, start, stop, step, &a, &b, &k);
        jj_vec out = {0};
        jj_spend(r, obj.u.l->n / 16);
        for (int64_t i = a; k > 0 ? i < b : i > b; i += k) jj_vec_push(r, &out, obj.u.l->v[i]);
        return jj_vec_list(r, &out, obj.t == JV_TUPLE);
    }
    if (obj.t == JV_STR) {
        size_t n;
        uint32_t *off = jj_u8_offsets(r, obj.u.s, obj.n, &n);
        slice_indices(r, (int64_t)n, start, stop, step, &a, &b, &k);
        if (k == 1) return jv_str(obj.u.s + (a < b ? off[a] : 0), a < b ? off[b] - off[a] : 0);
        sbuf buf;
        sb_init(r, &buf);
        for (int64_t i = a; k > 0 ? i < b : i > b; i += k) jj_buf_put(&buf, obj.u.s + off[i], off[i + 1] - off[i]);
        return mkstr_buf(&buf);
    }
    return jv_undef();
}

int jj_contains(jj_render *r, jv c, jv item) {
    switch (c.t) {
    case JV_STR:
        if (item.t != JV_STR) jj_fail(r, "'in <string>' requires string as left operand, not %s", jj_type_name(item));
        jj_spend(r, c.n / 64);
        return find_bytes(c.u.s, c.n, item.u.s, item.n) != NULL;
    case JV_LIST: case JV_TUPLE:
        jj_spend(r, c.u.l->n / 8);
        for (uint32_t i = 0; i < c.u.l->n; i++)
            if (jj_equal(r, c.u.l->v[i], item)) return 1;
        return 0;
    case JV_DICT: case JV_NS: return jj_dict_find(r, c.u.d, item) >= 0;
    case JV_UNDEF: return 0;
    default: jj_fail(r, "argument of type '%s' is not iterable", jj_type_name(c));
    }
}

/* ================================================================================ operators */

static double num_f(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)v.u.i; }

static const char *op_sym(int op) {
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_FLOORDIV: return "//";
    case OP_MOD: return "%";
    default: return "**";
    }
}

static JJ_NORETURN void op_type_error(jj_render *r, int op, jv a, jv b) {
    if (op == OP_ADD && (a.t == JV_STR || a.t == JV_LIST || a.t == JV_TUPLE))
        jj_fail(r, "can only concatenate %s (not \"%s\") to %s", jj_type_name(a), jj_type_name(b), jj_type_name(a));
    jj_fail(r, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym(op), jj_type_name(a), jj_type_name(b));
}

static jv repeat(jj_render *r, jv seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.t == JV_STR) {
        if (times && seq.n && (uint64_t)times > JJ_MAX_OUTPUT / seq.n) jj_fail(r, "string too long");
        sbuf b;
        sb_init(r, &b);
        for (int64_t i = 0; i < times; i++) jj_buf_put(&b, seq.u.s, seq.n);
        return mkstr_buf(&b);
    }
    uint64_t n = seq.u.l->n;
    if (times && n && (uint64_t)times > (1u << 24) / n) jj_fail(r, "list too long");
    jj_list *l = jj_list_new(r, (uint32_t)(n * (uint64_t)times));
    for (int64_t i = 0; i < times; i++) jj_copy(l->v + i * (int64_t)n, seq.u.l->v, n * sizeof(jv));
    return list_value(l, seq.t == JV_TUPLE);
}

static jv percent_format(jj_render *r, jv fmt, jv args);

static jv int_arith(jj_render *r, int op, int64_t x, int64_t y) {
    int64_t z;
    switch (op) {
    case OP_ADD: if (__builtin_add_overflow(x, y, &z)) goto overflow; return jv_int(z);
    case OP_SUB: if (__builtin_sub_overflow(x, y, &z)) goto overflow; return jv_int(z);
    case OP_MUL: if (__builtin_mul_overflow(x, y, &z)) goto overflow; return jv_int(z);
    case OP_DIV:
        if (y == 0) jj_fail(r, "division by zero");
        return jv_float((double)x / (double)y);
    case OP_FLOORDIV: case OP_MOD: {
        if (y == 0) jj_fail(r, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) goto overflow;
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }
        return jv_int(op == OP_MOD ? m : q);
    }
    default: { /* OP_POW */
        if (y < 0) return jv_float(pow((double)x, (double)y));
        int64_t acc = 1, base = x;
        while (y) {
            if (y & 1 && __builtin_mul_overflow(acc, base, &acc)) goto overflow;
            y >>= 1;
            if (y && __builtin_mul_overflow(base, base, &base)) goto overflow;
        }
        return jv_int(acc);
    }
    }
overflow:
    jj_fail_st(r, R1C_ERR_UNSUPPORTED, "integer overflow (integers are 64-bit here)");
}

static jv float_arith(jj_render *r, int op, double x, double y) {
    switch (op) {
    case OP_ADD: return jv_float(x + y);
    case OP_SUB: return jv_float(x - y);
    case OP_MUL: return jv_float(x * y);
    case OP_DIV:
        if (y == 0) jj_fail(r, "float division by zero");
        return jv_float(x / y);
    case OP_FLOORDIV:
        if (y == 0) jj_fail(r, "float floor division by zero");
        return jv_float(floor(x / y));
    case OP_MOD: {
        if (y == 0) jj_fail(r, "float modulo");
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return jv_float(m);
    }
    default:
        if (x == 0 && y < 0) jj_fail(r, "0.0 cannot be raised to a negative power");
        return jv_float(pow(x, y));
    }
}

jv jj_binary(jj_render *r, int op, jv a, jv b) {
    if (a.t == JV_UNDEF) jj_undefined_error(r, a);
    if (b.t == JV_UNDEF) jj_undefined_error(r, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.t == JV_FLOAT || b.t == JV_FLOAT) return float_arith(r, op, num_f(a), num_f(b));
        return int_arith(r, op, a.u.i, b.u.i);
    }
    if (op == OP_ADD && a.t == b.t && a.t == JV_STR) {
        if ((size_t)a.n + b.n > JJ_MAX_OUTPUT) jj_fail(r, "string too long");
        char *p = jj_alloc(&r->arena, (size_t)a.n + b.n + 1);
        jj_copy(p, a.u.s, a.n);
        jj_copy(p + a.n, b.u.s, b.n);
        return jv_str(p, (size_t)a.n + b.n);
    }
    if (op == OP_ADD && a.t == b.t && jv_is_seq(a)) {
        jj_list *l = jj_list_new(r, a.u.l->n + b.u.l->n);
        jj_copy(l->v, a.u.l->v, a.u.l->n * sizeof(jv));
        jj_copy(l->v + a.u.l->n, b.u.l->v, b.u.l->n * sizeof(jv));
        return list_value(l, a.t == JV_TUPLE);
    }
    if (op == OP_MUL) {
        if ((a.t == JV_STR || jv_is_seq(a)) && (b.t == JV_INT || b.t == JV_BOOL)) return repeat(r, a, b.u.i);
        if ((b.t == JV_STR || jv_is_seq(b)) && (a.t == JV_INT || a.t == JV_BOOL)) return repeat(r, b, a.u.i);
    }
    if (op == OP_MOD && a.t == JV_STR) return percent_format(r, a, b);
    op_type_error(r, op, a, b);
}

/* ================================================================================ % format */

/* printf-style formatting (str % args), the part templates use: %s %r %d %i %f %e %g %x %o %c
 * %%, flags, width, precision, and %(name)s with a dict. */
static jv percent_format(jj_render *r, jv fmt, jv args) {
    sbuf b;
    sb_init(r, &b);
    uint32_t argi = 0;
    const jj_list *tuple = args.t == JV_TUPLE ? args.u.l : NULL;
    for (size_t i = 0; i < fmt.n;) {
        char c = fmt.u.s[i];
        if (c != '%') {
            size_t j = i;
            while (j < fmt.n && fmt.u.s[j] != '%') j++;
            jj_buf_put(&b, fmt.u.s + i, j - i);
            i = j;
            continue;
        }
        i++;
        if (i >= fmt.n) jj_fail(r, "incomplete format");
        jv arg;
        int have_arg = 0;
        if (fmt.u.s[i] == '(') {
            size_t j = i + 1;
            while (j < fmt.n && fmt.u.s[j] != ')') j++;
            if (j >= fmt.n) jj_fail(r, "incomplete format key");
            if (!jv_is_map(args)) jj_fail(r, "format requires a mapping");
            int k = jj_dict_find_str(r, args.u.d, fmt.u.s + i + 1, j - i - 1);
            if (k < 0) jj_fail(r, "format key '%.*s' not found", (int)(j - i - 1), fmt.u.s + i + 1);
            arg = args.u.d->v[k];
            have_arg = 1;
            i = j + 1;
        }
        char spec[32];
        size_t sn = 0;
        spec[sn++] = '%';
        while (i < fmt.n && strchr("-+ #0", fmt.u.s[i]) && sn < 20) spec[sn++] = fmt.u.s[i++];
        while (i < fmt.n && fmt.u.s[i] >= '0' && fmt.u.s[i] <= '9' && sn < 24) spec[sn++] = fmt.u.s[i++];
        if (i < fmt.n && fmt.u.s[i] == '.') {
            spec[sn++] = fmt.u.s[i++];
            while (i < fmt.n && fmt.u.s[i] >= '0' && fmt.u.s[i] <= '9' && sn < 28) spec[sn++] = fmt.u.s[i++];
        }
        if (i >= fmt.n) jj_fail(r, "incomplete format");
        spec[sn] = 0; /* flags, width and precision so far, as a string */
        char conv = fmt.u.s[i++];
        if (conv == '%') { jj_buf_put(&b, "%", 1); continue; }
        if (!have_arg) {
            if (tuple) {
                if (argi >= tuple->n) jj_fail(r, "not enough arguments for format string");
                arg = tuple->v[argi++];
            } else {
                if (argi++) jj_fail(r, "not enough arguments for format string");
                arg = args;
            }
        }
        char out[512];
        switch (conv) {
        case 's': case 'r': {
            jj_buf tmp;
            jj_buf_init(&tmp, &r->arena, JJ_MAX_OUTPUT);
            if (conv == 's') jj_write_str(r, &tmp, arg);
            else jj_write_repr(r, &tmp, arg);
            int width = atoi(spec + 1 + (spec[1] == '-'));
            size_t len = jj_u8_len(tmp.p ? tmp.p : "", tmp.n);
            int left = strchr(spec, '-') != NULL;
            if (!left) for (size_t k = len; (int)k < width; k++) jj_buf_put(&b, " ", 1);
            jj_buf_put(&b, tmp.p ? tmp.p : "", tmp.n);
            if (left) for (size_t k = len; (int)k < width; k++) jj_buf_put(&b, " ", 1);
            continue;
        }
        case 'd': case 'i': case 'x': case 'X': case 'o': case 'c': {
            if (!jv_is_num(arg)) jj_fail(r, "%%%c format: a number is required, not %s", conv, jj_type_name(arg));
            long long v = arg.t == JV_FLOAT ? (long long)arg.u.f : (long long)arg.u.i;
            if (conv == 'c') {
                char enc[4];
                jj_buf_put(&b, enc, jj_u8_encode((uint32_t)v, enc));
                continue;
            }
            spec[sn++] = 'l';
            spec[sn++] = 'l';
            spec[sn++] = conv == 'i' ? 'd' : conv;
            spec[sn] = 0;
            snprintf(out, sizeof out, spec, v);
            break;
        }
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
            if (!jv_is_num(arg)) jj_fail(r, "must be real number, not %s", jj_type_name(arg));
            spec[sn++] = conv;
            spec[sn] = 0;
            snprintf(out, sizeof out, spec, num_f(arg));
            break;
        default: jj_fail_st(r, R1C_ERR_UNSUPPORTED, "unsupported format character '%c'", conv);
        }
        jj_buf_puts(&b, out);
    }
    if (tuple && argi < tuple->n) jj_fail(r, "not all arguments converted during string formatting");
    return mkstr_buf(&b);
}

/* ================================================================================ sorting */

/* The key jinja2 sorts and compares with: an attribute (dotted path) of the item, strings
 * lower-cased unless case_sensitive. */
static jv attr_path(jj_render *r, jv item, jv attr) {
    if (attr.t == JV_INT) return jj_getitem(r, item, attr);
    want_str(r, attr, "attribute");
    const char *p = attr.u.s, *end = attr.u.s + attr.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t len = (size_t)(dot - p);
        int numeric = len > 0;
        for (size_t k = 0; k < len; k++) numeric &= p[k] >= '0' && p[k] <= '9';
        if (numeric) {
            char tmp[24];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(len < 20 ? len : 20), p);
            item = jj_getitem(r, item, jv_int(atoll(tmp)));
        } else {
            item = jj_getitem(r, item, jv_str(p, len));
        }
        if (dot == end) break;
        p = dot + 1;
    }
    return item;
}

static jv sort_key(jj_render *r, jv item, jv attr, int case_sensitive) {
    jv k = attr.t == JV_UNDEF || attr.t == JV_NONE ? item : attr_path(r, item, attr);
    if (!case_sensitive && k.t == JV_STR) k = str_case(r, k, CASE_LOWER);
    return k;
}

/* Stable merge sort of items by keys (Python's sort is stable). */
static void merge_sort(jj_render *r, jv *items, jv *keys, uint32_t n, int reverse, jv *ti, jv *tk) {
    if (n < 2) return;
    uint32_t h = n / 2;
    merge_sort(r, items, keys, h, reverse, ti, tk);
    merge_sort(r, items + h, keys + h, n - h, reverse, ti, tk);
    uint32_t i = 0, j = h, o = 0;
    jj_spend(r, n / 4 + 1);
    while (i < h && j < n) {
        int c = jj_compare(r, keys[j], keys[i]);
        int take_right = reverse ? c > 0 : c < 0;
        if (take_right) { ti[o] = items[j]; tk[o++] = keys[j++]; }
        else { ti[o] = items[i]; tk[o++] = keys[i++]; }
    }
    while (i < h) { ti[o] = items[i]; tk[o++] = keys[i++]; }
    while (j < n) { ti[o] = items[j]; tk[o++] = keys[j++]; }
    memcpy(items, ti, n * sizeof(jv));
    memcpy(keys, tk, n * sizeof(jv));
}

static jv sorted_list(jj_render *r, jj_list *src, jv *keys, int reverse) {
    jj_list *l = jj_list_new(r, src->n);
    jj_copy(l->v, src->v, src->n * sizeof(jv));
    jv *ti = jj_alloc(&r->arena, (src->n + 1) * sizeof(jv));
    jv *tk = jj_alloc(&r->arena, (src->n + 1) * sizeof(jv));
    merge_sort(r, l->v, keys, src->n, reverse, ti, tk);
    return list_value(l, 0);
}

/* ================================================================================ filters */

static jv first_item(jj_render *r, jv v, int last) {
    if (v.t == JV_UNDEF) return jv_undef();
    jj_list *l = jj_iter_list(r, v);
    if (!l->n) return jv_undef();
    return l->v[last ? l->n - 1 : 0];
}

static jv filter_tojson(jj_render *r, jv x, const jv *args, uint32_t nargs, const char *const *kwn,
                        const jv *kw, uint32_t nkw) {
    BIND("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
    int ensure_ascii = h_[0] && jj_truthy(a_[0]);
    const char *indent = NULL;
    if (h_[1] && a_[1].t != JV_NONE) {
        if (a_[1].t == JV_STR) indent = jj_strdup(&r->arena, a_[1].u.s, a_[1].n);
        else {
            int64_t w = want_int(r, a_[1], "indent");
            if (w > 1000) w = 1000;
            char *s = jj_alloc(&r->arena, (size_t)(w > 0 ? w : 0) + 1);
            for (int64_t i = 0; i < w; i++) s[i] = ' ';
            s[w > 0 ? w : 0] = 0;
            indent = s;
        }
    }
    const char *isep = indent ? "," : ", ", *ksep = ": ";
    if (h_[2] && a_[2].t != JV_NONE) {
        if (!jv_is_seq(a_[2]) || a_[2].u.l->n != 2 || a_[2].u.l->v[0].t != JV_STR || a_[2].u.l->v[1].t != JV_STR)
            jj_fail(r, "tojson: separators must be a pair of strings");
        isep = jj_strdup(&r->arena, a_[2].u.l->v[0].u.s, a_[2].u.l->v[0].n);
        ksep = jj_strdup(&r->arena, a_[2].u.l->v[1].u.s, a_[2].u.l->v[1].n);
    }
    sbuf b;
    sb_init(r, &b);
    jj_write_json(r, &b, x, indent, 0, isep, ksep, h_[3] && jj_truthy(a_[3]), ensure_ascii);
    return mkstr_buf(&b);
}

static jv str_splitlines(jj_render *r, jv s, int keepends);

static jv filter_indent(jj_render *r, jv s, const jv *args, uint32_t nargs, const char *const *kwn,
                        const jv *kw, uint32_t nkw) {
    BIND("indent", "width", "first", "blank");
    jv ind;
    if (h_[0] && a_[0].t == JV_STR) ind = a_[0];
    else {
        int64_t w = h_[0] ? want_int(r, a_[0], "width") : 4;
        if (w > 10000) w = 10000;
        char *sp = jj_alloc(&r->arena, (size_t)(w > 0 ? w : 0) + 1);
        memset(sp, ' ', (size_t)(w > 0 ? w : 0));
        ind = jv_str(sp, (size_t)(w > 0 ? w : 0));
    }
    int first = h_[1] && jj_truthy(a_[1]), blank = h_[2] && jj_truthy(a_[2]);
    s = jj_to_str(r, s);
    /* jinja2 appends "\n", splits lines the Python way (dropping the last break), indents
     * every line but the first (and empty ones only with blank=True), and joins with "\n" */
    jv lines = str_splitlines(r, jj_binary(r, OP_ADD, s, jv_str("\n", 1)), 0);
    sbuf b;
    sb_init(r, &b);
    if (first) jj_buf_put(&b, ind.u.s, ind.n);
    for (uint32_t i = 0; i < lines.u.l->n; i++) {
        jv line = lines.u.l->v[i];
        if (i > 0) {
            jj_buf_put(&b, "\n", 1);
            if (blank || line.n) jj_buf_put(&b, ind.u.s, ind.n);
        }
        jj_buf_put(&b, line.u.s, line.n);
    }
    return mkstr_buf(&b);
}

static jv filter_int(jj_render *r, jv v, const jv *args, uint32_t nargs, const char *const *kwn,
                     const jv *kw, uint32_t nkw) {
    BIND("int", "default", "base");
    jv dflt = h_[0] ? a_[0] : jv_int(0);
    int64_t base = h_[1] ? want_int(r, a_[1], "base") : 10;
    if (v.t == JV_INT || v.t == JV_BOOL) return jv_int(v.u.i);
    if (v.t == JV_FLOAT) {
        if (!isfinite(v.u.f)) jj_fail(r, "cannot convert float %s to integer", isnan(v.u.f) ? "NaN" : "infinity");
        if (fabs(v.u.f) >= 9.2e18) jj_fail_st(r, R1C_ERR_UNSUPPORTED, "integer overflow");
        return jv_int((int64_t)v.u.f);
    }
    if (v.t != JV_STR) return dflt;
    char tmp[128];
    size_t n = 0;
    jv t = str_strip(r, v, jv_none(), 1, 1);
    if (t.n >= sizeof tmp) return dflt;
    for (size_t i = 0; i < t.n; i++)
        if (t.u.s[i] != '_' || (i > 0 && i + 1 < t.n)) tmp[n++] = t.u.s[i];
    tmp[n] = 0;
    if (n == 0) return dflt;
    char *end;
    if (base < 0 || base == 1 || base > 36) jj_fail(r, "int() base must be >= 2 and <= 36, or 0");
    long long x = strtoll(tmp, &end, (int)base);
    if (*end == 0 && end != tmp) return jv_int(x);
    double d = strtod(tmp, &end); /* "42.23"|int is 42 (jinja2 tries float() next) */
    if (*end == 0 && end != tmp && isfinite(d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
    return dflt;
}

static jv filter_float(jj_render *r, jv v, jv dflt) {
    if (v.t == JV_FLOAT) return v;
    if (v.t == JV_INT || v.t == JV_BOOL) return jv_float((double)v.u.i);
    if (v.t == JV_STR) {
        jv t = str_strip(r, v, jv_none(), 1, 1);
        char tmp[128];
        if (t.n > 0 && t.n < sizeof tmp) {
            memcpy(tmp, t.u.s, t.n);
            tmp[t.n] = 0;
            char *end;
            double d = strtod(tmp, &end);
            if (*end == 0 && !(tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X'))) return jv_float(d);
        }
    }
    return dflt;
}

static jv filter_round(jj_render *r, jv v, const jv *args, uint32_t nargs, const char *const *kwn,
                       const jv *kw, uint32_t nkw) {
    BIND("round", "precision", "method");
    int64_t prec = h_[0] ? want_int(r, a_[0], "precision") : 0;
    const char *method = "common";
    char mbuf[16];
    if (h_[1]) {
        want_str(r, a_[1], "method");
        snprintf(mbuf, sizeof mbuf, "%.*s", (int)(a_[1].n < 15 ? a_[1].n : 15), a_[1].u.s);
        method = mbuf;
    }
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        jj_fail(r, "method must be common, ceil or floor");
    if (!jv_is_num(v)) jj_fail(r, "type %s doesn't define __round__ method", jj_type_name(v));
    if (!strcmp(method, "common")) {
        if (v.t != JV_FLOAT) return jv_int(v.u.i); /* round(int, n) stays an int */
        if (!isfinite(v.u.f) || prec > 300) return v;
        if (prec < -300) return jv_float(0.0 * v.u.f);
        /* Python rounds the exact binary value half to even, as printf does */
        char tmp[400];
        if (prec >= 0) {
            snprintf(tmp, sizeof tmp, "%.*f", (int)prec, v.u.f);
            return jv_float(strtod(tmp, NULL));
        }
        double p10 = pow(10.0, (double)-prec);
        double y = nearbyint(v.u.f / p10) * p10;
        return jv_float(y);
    }
    double p10 = pow(10.0, (double)prec), x = num_f(v) * p10;
    return jv_float((!strcmp(method, "ceil") ? ceil(x) : floor(x)) / p10);
}

static jv filter_truncate(jj_render *r, jv s, const jv *args, uint32_t nargs, const char *const *kwn,
                          const jv *kw, uint32_t nkw) {
    BIND("truncate", "length", "killwords", "end", "leeway");
    s = jj_to_str(r, s);
    int64_t length = h_[0] ? want_int(r, a_[0], "length") : 255;
    int killwords = h_[1] && jj_truthy(a_[1]);
    jv end = h_[2] ? want_str(r, a_[2], "end") : jv_str("...", 3);
    int64_t leeway = h_[3] && a_[3].t != JV_NONE ? want_int(r, a_[3], "leeway") : 5;
    int64_t end_len = (int64_t)jj_u8_len(end.u.s, end.n);
    if (length < end_len) jj_fail(r, "expected length >= %lld, got %lld", (long long)end_len, (long long)length);
    if (leeway < 0) jj_fail(r, "expected leeway >= 0, got %lld", (long long)leeway);
    if ((int64_t)jj_u8_len(s.u.s, s.n) <= length + leeway) return s;
    jv head = jj_slice(r, s, jv_int(0), jv_int(length - end_len), jv_none());
    if (!killwords) {
        const char *sp = rfind_bytes(head.u.s, head.n, " ", 1);
        if (sp) head.n = (uint32_t)(sp - head.u.s);
    }
    return jj_binary(r, OP_ADD, head, end);
}

/* select / reject / selectattr / rejectattr: args are [attr,] [test name, test args...]. */
static jv filter_select(jj_render *r, jv seq, const jv *args, uint32_t nargs, int want, int by_attr) {
    jj_list *l = jj_iter_list(r, seq);
    jv attr = jv_undef();
    if (by_attr) {
        if (nargs < 1) jj_fail(r, "selectattr/rejectattr need an attribute");
        attr = args[0];
        args++;
        nargs--;
    }
    int tid = 0;
    if (nargs >= 1) {
        jv name = want_str(r, args[0], "test name");
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", (int)(name.n < 63 ? name.n : 63), name.u.s);
        tid = jj_test_id(buf);
        if (!tid) jj_fail(r, "no test named '%s'", buf);
        args++;
        nargs--;
    }
    jj_vec out = {0};
    for (uint32_t i = 0; i < l->n; i++) {
        jv x = by_attr ? attr_path(r, l->v[i], attr) : l->v[i];
        int ok = tid ? jj_apply_test(r, tid, x, args, nargs) : jj_truthy(x);
        if (ok == want) jj_vec_push(r, &out, l->v[i]);
    }
    return jj_vec_list(r, &out, 0);
}

static jv filter_map(jj_render *r, jv seq, const jv *args, uint32_t nargs, const char *const *kwn,
                     const jv *kw, uint32_t nkw) {
    jj_list *l = jj_iter_list(r, seq);
    jj_vec out = {0};
    int has_attr = 0;
    jv attr = jv_undef(), dflt = jv_undef();
    for (uint32_t k = 0; k < nkw; k++) {
        if (!strcmp(kwn[k], "attribute")) { attr = kw[k]; has_attr = 1; }
        else if (!strcmp(kwn[k], "default")) dflt = kw[k];
    }
    if (has_attr) {
        if (nargs) jj_fail(r, "map: attribute and a filter name cannot both be given");
        for (uint32_t i = 0; i < l->n; i++) {
            jv x = attr_path(r, l->v[i], attr);
            if (x.t == JV_UNDEF && dflt.t != JV_UNDEF) x = dflt;
            jj_vec_push(r, &out, x);
        }
        return jj_vec_list(r, &out, 0);
    }
    if (nargs < 1) jj_fail(r, "map needs a filter name or attribute=");
    jv name = want_str(r, args[0], "filter name");
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)(name.n < 63 ? name.n : 63), name.u.s);
    int fid = jj_filter_id(buf);
    if (!fid) jj_fail(r, "no filter named '%s'", buf);
    for (uint32_t i = 0; i < l->n; i++)
        jj_vec_push(r, &out, jj_apply_filter(r, fid, l->v[i], args + 1, nargs - 1, kwn, kw, nkw));
    return jj_vec_list(r, &out, 0);
}

static jv filter_unique(jj_render *r, jv seq, const jv *args, uint32_t nargs, const char *const *kwn,
                        const jv *kw, uint32_t nkw) {
    BIND("unique", "case_sensitive", "attribute");
    int cs = h_[0] && jj_truthy(a_[0]);
    jj_list *l = jj_iter_list(r, seq);
    jj_vec out = {0}, keys = {0};
    jj_spend(r, (uint64_t)l->n * l->n / 16);
    for (uint32_t i = 0; i < l->n; i++) {
        jv k = sort_key(r, l->v[i], h_[1] ? a_[1] : jv_undef(), cs);
        int seen = 0;
        for (uint32_t j = 0; j < keys.n && !seen; j++) seen = jj_equal(r, keys.v[j], k);
        if (seen) continue;
        jj_vec_push(r, &keys, k);
        jj_vec_push(r, &out, l->v[i]);
    }
    return jj_vec_list(r, &out, 0);
}

static jv filter_sort(jj_render *r, jv seq, const jv *args, uint32_t nargs, const char *const *kwn,
                      const jv *kw, uint32_t nkw) {
    BIND("sort", "reverse", "case_sensitive", "attribute");
    jj_list *l = jj_iter_list(r, seq);
    int cs = h_[1] && jj_truthy(a_[1]);
    jv *keys = jj_alloc(&r->arena, (l->n + 1) * sizeof(jv));
    for (uint32_t i = 0; i < l->n; i++) {
        if (h_[2] && a_[2].t == JV_STR && memchr(a_[2].u.s, ',', a_[2].n)) {
            /* "a,b": sort by a tuple of attributes */
            jv parts = str_split(r, a_[2], jv_str(",", 1), jv_undef(), 0);
            jj_list *kl = jj_list_new(r, parts.u.l->n);
            for (uint32_t k = 0; k < kl->n; k++)
                kl->v[k] = sort_key(r, l->v[i], str_strip(r, parts.u.l->v[k], jv_none(), 1, 1), cs);
            keys[i] = list_value(kl, 1);
        } else {
            keys[i] = sort_key(r, l->v[i], h_[2] ? a_[2] : jv_undef(), cs);
        }
    }
    return sorted_list(r, l, keys, h_[0] && jj_truthy(a_[0]));
}

static jv filter_dictsort(jj_render *r, jv d, const jv *args, uint32_t nargs, const char *const *kwn,
                          const jv *kw, uint32_t nkw) {
    BIND("dictsort", "case_sensitive", "by", "reverse");
    if (!jv_is_map(d)) jj_fail(r, "dictsort: expected a mapping, got '%s'", jj_type_name(d));
    int by_value = 0;
    if (h_[1]) {
        jv by = want_str(r, a_[1], "by");
        if (by.n == 5 && !memcmp(by.u.s, "value", 5)) by_value = 1;
        else if (!(by.n == 3 && !memcmp(by.u.s, "key", 3))) jj_fail(r, "You can only sort by either \"key\" or \"value\"");
    }
    int cs = h_[0] && jj_truthy(a_[0]);
    jj_list *items = jj_list_new(r, d.u.d->n);
    jv *keys = jj_alloc(&r->arena, (d.u.d->n + 1) * sizeof(jv));
    for (uint32_t i = 0; i < d.u.d->n; i++) {
        items->v[i] = pair(r, d.u.d->k[i], d.u.d->v[i]);
        keys[i] = sort_key(r, by_value ? d.u.d->v[i] : d.u.d->k[i], jv_undef(), cs);
    }
    return sorted_list(r, items, keys, h_[2] && jj_truthy(a_[2]));
}

static jv filter_minmax(jj_render *r, jv seq, const jv *args, uint32_t nargs, const char *const *kwn,
                        const jv *kw, uint32_t nkw, int want_max) {
    BIND(want_max ? "max" : "min", "case_sensitive", "attribute");
    jj_list *l = jj_iter_list(r, seq);
    if (!l->n) return jv_undef();
    int cs = h_[0] && jj_truthy(a_[0]);
    jv best = l->v[0], bestk = sort_key(r, best, h_[1] ? a_[1] : jv_undef(), cs);
    for (uint32_t i = 1; i < l->n; i++) {
        jv k = sort_key(r, l->v[i], h_[1] ? a_[1] : jv_undef(), cs);
        int c = jj_compare(r, k, bestk);
        if (want_max ? c > 0 : c < 0) { best = l->v[i]; bestk = k; }
    }
    return best;
}

static jv filter_join(jj_render *r, jv seq, const jv *args, uint32_t nargs, const char *const *kwn,
                      const jv *kw, uint32_t nkw) {
    BIND("join", "d", "attribute");
    jj_list *l = jj_iter_list(r, seq);
    jv sep = h_[0] ? jj_to_str(r, a_[0]) : jv_str("", 0);
    sbuf b;
    sb_init(r, &b);
    for (uint32_t i = 0; i < l->n; i++) {
        if (i) jj_buf_put(&b, sep.u.s, sep.n);
        jv x = h_[1] && a_[1].t != JV_NONE ? attr_path(r, l->v[i], a_[1]) : l->v[i];
        jj_write_str(r, &b, x);
    }
    return mkstr_buf(&b);
}

static jv html_escape(jj_render *r, jv v) {
    v = jj_to_str(r, v);
    sbuf b;
    sb_init(r, &b);
    for (size_t i = 0; i < v.n; i++) {
        switch (v.u.s[i]) {
        case '&': jj_buf_puts(&b, "&amp;"); break;
        case '<': jj_buf_puts(&b, "&lt;"); break;
        case '>': jj_buf_puts(&b, "&gt;"); break;
        case '"': jj_buf_puts(&b, "&#34;"); break;
        case '\'': jj_buf_puts(&b, "&#39;"); break;
        default: jj_buf_put(&b, v.u.s + i, 1);
        }
    }
    return mkstr_buf(&b);
}

static jv str_center(jj_render *r, jv s, int64_t width, jv fill, int mode /* 0 center, 1 ljust, 2 rjust */) {
    if (fill.t != JV_STR || jj_u8_len(fill.u.s, fill.n) != 1) jj_fail(r, "the fill character must be exactly one character long");
    int64_t len = (int64_t)jj_u8_len(s.u.s, s.n);
    if (width <= len) return s;
    if (width > (int64_t)JJ_MAX_OUTPUT) jj_fail(r, "width too large");
    int64_t pad = width - len, left;
    if (mode == 1) left = 0;
    else if (mode == 2) left = pad;
    else left = pad / 2 + (pad & width & 1); /* CPython's rule for odd padding */
    sbuf b;
    sb_init(r, &b);
    for (int64_t i = 0; i < left; i++) jj_buf_put(&b, fill.u.s, fill.n);
    jj_buf_put(&b, s.u.s, s.n);
    for (int64_t i = left; i < pad; i++) jj_buf_put(&b, fill.u.s, fill.n);
    return mkstr_buf(&b);
}

static jv filter_batch(jj_render *r, jv seq, const jv *args, uint32_t nargs, const char *const *kwn,
                       const jv *kw, uint32_t nkw) {
    BIND("batch", "linecount", "fill_with");
    int64_t count = want_int(r, a_[0], "linecount");
    if (count <= 0) jj_fail(r, "batch: linecount must be positive");
    jj_list *l = jj_iter_list(r, seq);
    jj_vec out = {0}, cur = {0};
    for (uint32_t i = 0; i < l->n; i++) {
        jj_vec_push(r, &cur, l->v[i]);
        if ((int64_t)cur.n == count) {
            jj_vec_push(r, &out, jj_vec_list(r, &cur, 0));
            memset(&cur, 0, sizeof cur);
        }
    }
    if (cur.n) {
        if (h_[1] && a_[1].t != JV_NONE)
            while ((int64_t)cur.n < count) jj_vec_push(r, &cur, a_[1]);
        jj_vec_push(r, &out, jj_vec_list(r, &cur, 0));
    }
    return jj_vec_list(r, &out, 0);
}

static int64_t word_count(jv s) {
    int64_t n = 0;
    int in_word = 0;
    for (size_t i = 0; i < s.n;) {
        uint32_t cp;
        i += jj_u8_char(s.u.s, s.n, i, &cp);
        int w = cp == '_' || cp_alnum(cp);
        if (w && !in_word) n++;
        in_word = w;
    }
    return n;
}

jv jj_apply_filter(jj_render *r, int fid, jv x, const jv *args, uint32_t nargs,
                   const char *const *kwn, const jv *kw, uint32_t nkw) {
    jj_spend(r, 1);
    switch (fid) {
    case F_ABS:
        if (x.t == JV_FLOAT) return jv_float(fabs(x.u.f));
        if (x.t == JV_INT || x.t == JV_BOOL) {
            if (x.u.i == INT64_MIN) jj_fail_st(r, R1C_ERR_UNSUPPORTED, "integer overflow");
            return jv_int(x.u.i < 0 ? -x.u.i : x.u.i);
        }
        if (x.t == JV_UNDEF) jj_undefined_error(r, x);
        jj_fail(r, "bad operand type for abs(): '%s'", jj_type_name(x));
    case F_ATTR: {
        BIND("attr", "name");
        jv name = want_str(r, a_[0], "attribute name");
        return jj_getattr(r, x, jj_strdup(&r->arena, name.u.s, name.n), name.n);
    }
    case F_BATCH: return filter_batch(r, x, args, nargs, kwn, kw, nkw);
    case F_CAPITALIZE: return str_case(r, jj_to_str(r, x), CASE_CAPITALIZE);
    case F_CENTER: {
        BIND("center", "width");
        return str_center(r, jj_to_str(r, x), h_[0] ? want_int(r, a_[0], "width") : 80, jv_str(" ", 1), 0);
    }
    case F_COUNT: case F_LENGTH: return jv_int(jj_length(r, x));
    case F_DEFAULT: {
        BIND("default", "default_value", "boolean");
        int use = x.t == JV_UNDEF || (h_[1] && jj_truthy(a_[1]) && !jj_truthy(x));
        return use ? (h_[0] ? a_[0] : jv_str("", 0)) : x;
    }
    case F_DICTSORT: return filter_dictsort(r, x, args, nargs, kwn, kw, nkw);
    case F_ESCAPE: case F_FORCEESCAPE: return html_escape(r, x);
    case F_FIRST: return first_item(r, x, 0);
    case F_LAST: return first_item(r, x, 1);
    case F_FLOAT: {
        BIND("float", "default");
        return filter_float(r, x, h_[0] ? a_[0] : jv_float(0.0));
    }
    case F_FORMAT: {
        if (nkw) {
            jj_dict *d = jj_dict_new(r, nkw);
            for (uint32_t k = 0; k < nkw; k++) jj_dict_set(r, d, jv_str(kwn[k], strlen(kwn[k])), kw[k]);
            return percent_format(r, jj_to_str(r, x), dict_value(d, 0));
        }
        jj_list *l = jj_list_new(r, nargs);
        if (nargs) memcpy(l->v, args, nargs * sizeof(jv));
        return percent_format(r, jj_to_str(r, x), list_value(l, 1));
    }
    case F_INDENT: return filter_indent(r, x, args, nargs, kwn, kw, nkw);
    case F_INT: return filter_int(r, x, args, nargs, kwn, kw, nkw);
    case F_ITEMS: {
        if (x.t == JV_UNDEF) return list_value(jj_list_new(r, 0), 0);
        if (!jv_is_map(x)) jj_fail(r, "Can only get item pairs from a mapping.");
        jj_list *l = jj_list_new(r, x.u.d->n);
        for (uint32_t i = 0; i < x.u.d->n; i++) l->v[i] = pair(r, x.u.d->k[i], x.u.d->v[i]);
        return list_value(l, 0);
    }
    case F_JOIN: return filter_join(r, x, args, nargs, kwn, kw, nkw);
    case F_LIST: return list_value(jj_iter_list(r, x), 0);
    case F_LOWER: return str_case(r, jj_to_str(r, x), CASE_LOWER);
    case F_UPPER: return str_case(r, jj_to_str(r, x), CASE_UPPER);
    case F_MAP: return filter_map(r, x, args, nargs, kwn, kw, nkw);
    case F_MAX: return filter_minmax(r, x, args, nargs, kwn, kw, nkw, 1);
    case F_MIN: return filter_minmax(r, x, args, nargs, kwn, kw, nkw, 0);
    case F_SELECT: return filter_select(r, x, args, nargs, 1, 0);
    case F_REJECT: return filter_select(r, x, args, nargs, 0, 0);
    case F_SELECTATTR: return filter_select(r, x, args, nargs, 1, 1);
    case F_REJECTATTR: return filter_select(r, x, args, nargs, 0, 1);
    case F_REPLACE: {
        BIND("replace", "old", "new", "count");
        int64_t count = h_[2] && a_[2].t != JV_NONE ? want_int(r, a_[2], "count") : -1;
        return str_replace(r, jj_to_str(r, x), a_[0], a_[1], count);
    }
    case F_REVERSE: {
        if (x.t == JV_STR) return jj_slice(r, x, jv_none(), jv_none(), jv_int(-1));
        if (x.t == JV_UNDEF) return list_value(jj_list_new(r, 0), 0);
        jj_list *l = jj_iter_list(r, x);
        jj_list *o = jj_list_new(r, l->n);
        for (uint32_t i = 0; i < l->n; i++) o->v[i] = l->v[l->n - 1 - i];
        return list_value(o, 0);
    }
    case F_ROUND: return filter_round(r, x, args, nargs, kwn, kw, nkw);
    case F_SAFE: case F_STRING: return jj_to_str(r, x);
    case F_SORT: return filter_sort(r, x, args, nargs, kwn, kw, nkw);
    case F_SUM: {
        BIND("sum", "attribute", "start");
        jj_list *l = jj_iter_list(r, x);
        jv acc = h_[1] ? a_[1] : jv_int(0);
        for (uint32_t i = 0; i < l->n; i++)
            acc = jj_binary(r, OP_ADD, acc, h_[0] && a_[0].t != JV_NONE ? attr_path(r, l->v[i], a_[0]) : l->v[i]);
        return acc;
    }
    case F_TITLE: return filter_title(r, jj_to_str(r, x));
    case F_TOJSON: return filter_tojson(r, x, args, nargs, kwn, kw, nkw);
    case F_TRIM: {
        BIND("trim", "chars");
        return str_strip(r, jj_to_str(r, x), h_[0] ? a_[0] : jv_none(), 1, 1);
    }
    case F_TRUNCATE: return filter_truncate(r, x, args, nargs, kwn, kw, nkw);
    case F_UNIQUE: return filter_unique(r, x, args, nargs, kwn, kw, nkw);
    case F_WORDCOUNT: x = jj_to_str(r, x); jj_spend(r, x.n / 64); return jv_int(word_count(x));
    default: jj_fail_st(r, R1C_ERR_UNSUPPORTED, "this filter is not supported");
    }
}

/* ================================================================================ tests */

static int is_callable(jv v) {
    return v.t == JV_MACRO || v.t == JV_FUNC || v.t == JV_METHOD || v.t == JV_LOOP || v.t == JV_JOINER;
}

static int num_mod_zero(jj_render *r, jv x, jv m) {
    if (x.t == JV_UNDEF) jj_undefined_error(r, x);
    if (!jv_is_num(x) || !jv_is_num(m)) op_type_error(r, OP_MOD, x, m);
    jv rem = jj_binary(r, OP_MOD, x, m);
    return rem.t == JV_FLOAT ? rem.u.f == 0 : rem.u.i == 0;
}

static jv test_arg(jj_render *r, const jv *args, uint32_t nargs, const char *test) {
    if (nargs < 1) jj_fail(r, "test '%s' needs an argument", test);
    return args[0];
}

int jj_apply_test(jj_render *r, int tid, jv x, const jv *args, uint32_t nargs) {
    jj_spend(r, 1);
    switch (tid) {
    case T_BOOLEAN: return x.t == JV_BOOL;
    case T_CALLABLE: return is_callable(x);
    case T_DEFINED: return x.t != JV_UNDEF;
    case T_UNDEFINED: return x.t == JV_UNDEF;
    case T_DIVISIBLEBY: return num_mod_zero(r, x, test_arg(r, args, nargs, "divisibleby"));
    case T_EVEN: return num_mod_zero(r, x, jv_int(2));
    case T_ODD: return !num_mod_zero(r, x, jv_int(2));
    case T_EQ: return jj_equal(r, x, test_arg(r, args, nargs, "eq"));
    case T_NE: return !jj_equal(r, x, test_arg(r, args, nargs, "ne"));
    case T_LT: return jj_compare(r, x, test_arg(r, args, nargs, "lt")) < 0;
    case T_LE: return jj_compare(r, x, test_arg(r, args, nargs, "le")) <= 0;
    case T_GT: return jj_compare(r, x, test_arg(r, args, nargs, "gt")) > 0;
    case T_GE: return jj_compare(r, x, test_arg(r, args, nargs, "ge")) >= 0;
    case T_IN: return jj_contains(r, test_arg(r, args, nargs, "in"), x);
    case T_ESCAPED: return 0;
    case T_FALSE: return x.t == JV_BOOL && !x.u.i;
    case T_TRUE: return x.t == JV_BOOL && x.u.i;
    case T_NONE: return x.t == JV_NONE;
    case T_FLOAT: return x.t == JV_FLOAT;
    case T_INTEGER: return x.t == JV_INT;
    case T_NUMBER: return jv_is_num(x);
    case T_STRING: return x.t == JV_STR;
    case T_MAPPING: return x.t == JV_DICT;
    case T_ITERABLE: return x.t == JV_STR || jv_is_seq(x) || x.t == JV_DICT || x.t == JV_UNDEF;
    case T_SEQUENCE: return x.t == JV_STR || jv_is_seq(x) || x.t == JV_DICT || x.t == JV_UNDEF;
    case T_LOWER: jj_spend(r, x.n / 64); return x.t == JV_STR && str_is_case(x, 1);
    case T_UPPER: jj_spend(r, x.n / 64); return x.t == JV_STR && str_is_case(x, 0);
    case T_SAMEAS: {
        jv y = test_arg(r, args, nargs, "sameas");
        if (x.t != y.t) return 0;
        switch (x.t) {
        case JV_UNDEF: case JV_NONE: return 1;
        case JV_BOOL: case JV_INT: return x.u.i == y.u.i;
        case JV_FLOAT: return x.u.f == y.u.f;
        case JV_STR: return x.u.s == y.u.s && x.n == y.n;
        default: return x.u.l == y.u.l;
        }
    }
    case T_FILTER: case T_TEST: {
        if (x.t != JV_STR) return 0;
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", (int)(x.n < 63 ? x.n : 63), x.u.s);
        return tid == T_FILTER ? jj_filter_id(buf) != 0 : jj_test_id(buf) != 0;
    }
    default: jj_fail(r, "unknown test");
    }
}

/* ================================================================================ methods */

static int prefix_match(jj_render *r, jv s, jv p, int suffix) {
    if (p.t == JV_TUPLE || p.t == JV_LIST) {
        for (uint32_t i = 0; i < p.u.l->n; i++)
            if (prefix_match(r, s, p.u.l->v[i], suffix)) return 1;
        return 0;
    }
    if (p.t != JV_STR)
        jj_fail(r, "%s arg must be str or a tuple of str, not %s", suffix ? "endswith" : "startswith", jj_type_name(p));
    if (p.n > s.n) return 0;
    return memcmp(suffix ? s.u.s + s.n - p.n : s.u.s, p.u.s, p.n) == 0;
}

/* str.format with {} / {0} / {name} fields and no format specs. */
static jv str_format(jj_render *r, jv fmt, const jv *args, uint32_t nargs, const char *const *kwn,
                     const jv *kw, uint32_t nkw) {
    sbuf b;
    sb_init(r, &b);
    uint32_t auto_i = 0;
    for (size_t i = 0; i < fmt.n; i++) {
        char c = fmt.u.s[i];
        if (c == '}' ) {
            if (i + 1 < fmt.n && fmt.u.s[i + 1] == '}') i++;
            else jj_fail(r, "Single '}' encountered in format string");
            jj_buf_put(&b, "}", 1);
            continue;
        }
        if (c != '{') { jj_buf_put(&b, &c, 1); continue; }
        if (i + 1 < fmt.n && fmt.u.s[i + 1] == '{') { jj_buf_put(&b, "{", 1); i++; continue; }
        size_t j = i + 1;
        while (j < fmt.n && fmt.u.s[j] != '}') j++;
        if (j >= fmt.n) jj_fail(r, "Single '{' encountered in format string");
        const char *f = fmt.u.s + i + 1;
        size_t fl = j - i - 1;
        if (memchr(f, ':', fl) || memchr(f, '!', fl) || memchr(f, '.', fl) || memchr(f, '[', fl))
            jj_fail_st(r, R1C_ERR_UNSUPPORTED, "str.format: only plain {} fields are supported");
        jv v;
        if (fl == 0 || (f[0] >= '0' && f[0] <= '9')) {
            uint32_t idx = fl == 0 ? auto_i++ : (uint32_t)atoi(f);
            if (idx >= nargs) jj_fail(r, "Replacement index %u out of range for positional args tuple", idx);
            v = args[idx];
        } else {
            uint32_t k = 0;
            while (k < nkw && !(strlen(kwn[k]) == fl && !memcmp(kwn[k], f, fl))) k++;
            if (k == nkw) jj_fail(r, "format: missing argument '%.*s'", (int)fl, f);
            v = kw[k];
        }
        jj_write_str(r, &b, v);
        i = j;
    }
    return mkstr_buf(&b);
}

static jv str_splitlines(jj_render *r, jv s, int keepends) {
    jj_vec out = {0};
    size_t i = 0;
    while (i < s.n) {
        size_t j = i, brk = 0;
        while (j < s.n) {
            unsigned char c = (unsigned char)s.u.s[j];
            if (c == '\r') { brk = (j + 1 < s.n && s.u.s[j + 1] == '\n') ? 2 : 1; break; }
            if (c == '\n' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E)) { brk = 1; break; }
            if (c == 0xC2 && j + 1 < s.n && (unsigned char)s.u.s[j + 1] == 0x85) { brk = 2; break; }
            if (c == 0xE2 && j + 2 < s.n && (unsigned char)s.u.s[j + 1] == 0x80 &&
                ((unsigned char)s.u.s[j + 2] == 0xA8 || (unsigned char)s.u.s[j + 2] == 0xA9)) { brk = 3; break; }
            j++;
        }
        jj_vec_push(r, &out, jv_str(s.u.s + i, j - i + (keepends ? brk : 0)));
        i = j + brk;
    }
    return jj_vec_list(r, &out, 0);
}

static jv str_method(jj_render *r, jv s, const char *m, const jv *args, uint32_t nargs,
                     const char *const *kwn, const jv *kw, uint32_t nkw) {
    if (!strcmp(m, "format")) return str_format(r, s, args, nargs, kwn, kw, nkw);
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
        BIND(m, "chars");
        return str_strip(r, s, h_[0] ? a_[0] : jv_none(), m[0] != 'r', m[0] != 'l');
    }
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
        BIND(m, "sep", "maxsplit");
        return str_split(r, s, h_[0] ? a_[0] : jv_none(), h_[1] ? a_[1] : jv_undef(), m[0] == 'r');
    }
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        BIND(m, "prefix", "start", "end");
        if (!h_[0]) jj_fail(r, "%s() takes at least 1 argument", m);
        size_t off;
        jv w = str_window(r, s, a_[1], a_[2], &off);
        return jv_bool(prefix_match(r, w, a_[0], m[0] == 'e'));
    }
    if (!strcmp(m, "replace")) {
        BIND(m, "old", "new", "count");
        if (!h_[0] || !h_[1]) jj_fail(r, "replace() takes at least 2 arguments");
        return str_replace(r, s, a_[0], a_[1], h_[2] ? want_int(r, a_[2], "count") : -1);
    }
    if (!strcmp(m, "upper")) return str_case(r, s, CASE_UPPER);
    if (!strcmp(m, "lower")) return str_case(r, s, CASE_LOWER);
    if (!strcmp(m, "title")) return str_case(r, s, CASE_TITLE_WORDS);
    if (!strcmp(m, "capitalize")) return str_case(r, s, CASE_CAPITALIZE);
    if (!strcmp(m, "swapcase")) return str_case(r, s, CASE_SWAP);
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index") || !strcmp(m, "rindex") ||
        !strcmp(m, "count")) {
        BIND(m, "sub", "start", "end");
        if (!h_[0]) jj_fail(r, "%s() takes at least 1 argument", m);
        jv sub = want_str(r, a_[0], "substring");
        size_t off;
        jv w = str_window(r, s, a_[1], a_[2], &off);
        jj_spend(r, w.n / 64);
        if (!strcmp(m, "count")) {
            if (sub.n == 0) return jv_int((int64_t)jj_u8_len(w.u.s, w.n) + 1);
            int64_t c = 0;
            const char *p = w.u.s, *end = w.u.s + w.n, *q;
            while ((q = find_bytes(p, (size_t)(end - p), sub.u.s, sub.n))) { c++; p = q + sub.n; }
            return jv_int(c);
        }
        const char *q = m[0] == 'r' ? rfind_bytes(w.u.s, w.n, sub.u.s, sub.n) : find_bytes(w.u.s, w.n, sub.u.s, sub.n);
        if (!q) {
            if (!strcmp(m, "index") || !strcmp(m, "rindex")) jj_fail(r, "substring not found");
            return jv_int(-1);
        }
        return jv_int(cp_index(r, s, off + (size_t)(q - w.u.s)));
    }
    if (!strcmp(m, "join")) {
        BIND(m, "iterable");
        jj_list *l = jj_iter_list(r, a_[0]);
        sbuf b;
        sb_init(r, &b);
        for (uint32_t i = 0; i < l->n; i++) {
            if (l->v[i].t != JV_STR) jj_fail(r, "sequence item %u: expected str instance, %s found", i, jj_type_name(l->v[i]));
            if (i) jj_buf_put(&b, s.u.s, s.n);
            jj_buf_put(&b, l->v[i].u.s, l->v[i].n);
        }
        return mkstr_buf(&b);
    }
    jj_spend(r, s.n / 64);
    if (!strcmp(m, "isdigit") || !strcmp(m, "isnumeric")) return jv_bool(str_all(s, cp_digit));
    if (!strcmp(m, "isalpha")) return jv_bool(str_all(s, cp_alpha));
    if (!strcmp(m, "isalnum")) return jv_bool(str_all(s, cp_alnum));
    if (!strcmp(m, "isspace")) return jv_bool(str_all(s, cp_space));
    if (!strcmp(m, "islower")) return jv_bool(str_is_case(s, 1));
    if (!strcmp(m, "isupper")) return jv_bool(str_is_case(s, 0));
    if (!strcmp(m, "istitle")) {
        jv t = str_case(r, s, CASE_TITLE_WORDS);
        int any_cased = 0;
        for (size_t i = 0; i < s.n && !any_cased;) {
            uint32_t cp;
            i += jj_u8_char(s.u.s, s.n, i, &cp);
            any_cased = is_cased(cp);
        }
        return jv_bool(any_cased && t.n == s.n && !memcmp(t.u.s, s.u.s, s.n));
    }
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        BIND(m, "affix");
        jv p = want_str(r, a_[0], "argument");
        int suffix = m[6] == 's';
        if (!prefix_match(r, s, p, suffix)) return s;
        return suffix ? jv_str(s.u.s, s.n - p.n) : jv_str(s.u.s + p.n, s.n - p.n);
    }
    if (!strcmp(m, "center") || !strcmp(m, "ljust") || !strcmp(m, "rjust")) {
        BIND(m, "width", "fillchar");
        return str_center(r, s, want_int(r, a_[0], "width"), h_[1] ? a_[1] : jv_str(" ", 1),
                          m[0] == 'c' ? 0 : m[0] == 'l' ? 1 : 2);
    }
    if (!strcmp(m, "zfill")) {
        BIND(m, "width");
        int64_t w = want_int(r, a_[0], "width"), len = (int64_t)jj_u8_len(s.u.s, s.n);
        if (w <= len) return s;
        if (w > (int64_t)JJ_MAX_OUTPUT) jj_fail(r, "width too large");
        sbuf b;
        sb_init(r, &b);
        size_t at = s.n && (s.u.s[0] == '+' || s.u.s[0] == '-') ? 1 : 0;
        jj_buf_put(&b, s.u.s, at);
        for (int64_t i = len; i < w; i++) jj_buf_put(&b, "0", 1);
        jj_buf_put(&b, s.u.s + at, s.n - at);
        return mkstr_buf(&b);
    }
    if (!strcmp(m, "splitlines")) {
        BIND(m, "keepends");
        return str_splitlines(r, s, h_[0] && jj_truthy(a_[0]));
    }
    jj_fail(r, "'str object' has no attribute '%s'", m);
}

jv jj_call_method(jj_render *r, jv self, const char *m, const jv *args, uint32_t nargs,
                  const char *const *kwn, const jv *kw, uint32_t nkw) {
    jj_spend(r, 1);
    switch (self.t) {
    case JV_STR: return str_method(r, self, m, args, nargs, kwn, kw, nkw);
    case JV_DICT:
        if (in_names(dict_unsafe, m)) jj_fail(r, "access to attribute '%s' of 'dict' object is unsafe.", m);
        if (!strcmp(m, "get")) {
            BIND("get", "key", "default");
            int i = jj_dict_find(r, self.u.d, a_[0]);
            return i >= 0 ? self.u.d->v[i] : (h_[1] ? a_[1] : jv_none());
        }
        if (!strcmp(m, "copy")) return self;
        if (nargs || nkw) jj_fail(r, "%s() takes no arguments", m);
        {
            const jj_dict *d = self.u.d;
            jj_list *l = jj_list_new(r, d->n);
            for (uint32_t i = 0; i < d->n; i++)
                l->v[i] = m[0] == 'k' ? d->k[i] : m[0] == 'v' ? d->v[i] : pair(r, d->k[i], d->v[i]);
            return list_value(l, 0);
        }
    case JV_LIST: case JV_TUPLE:
        if (in_names(list_unsafe, m))
            jj_fail(r, "access to attribute '%s' of '%s' object is unsafe.", m, jj_type_name(self));
        if (!strcmp(m, "copy")) return self;
        {
            BIND(m, "value");
            if (!strcmp(m, "count")) {
                int64_t c = 0;
                for (uint32_t i = 0; i < self.u.l->n; i++) c += jj_equal(r, self.u.l->v[i], a_[0]);
                return jv_int(c);
            }
            for (uint32_t i = 0; i < self.u.l->n; i++)
                if (jj_equal(r, self.u.l->v[i], a_[0])) return jv_int(i);
            jj_fail(r, "value is not in list");
        }
    case JV_LOOP: {
        jj_loop *L = self.u.loop;
        if (!strcmp(m, "cycle")) {
            if (!nargs) jj_fail(r, "no items for cycling given");
            return args[L->idx % nargs];
        }
        /* changed(*values): true when the values differ from the previous call's */
        jj_list *l = jj_list_new(r, nargs);
        if (nargs) memcpy(l->v, args, nargs * sizeof(jv));
        jv now = list_value(l, 1);
        int changed = !L->changed_used || !jj_equal(r, now, L->changed_last);
        L->changed_used = 1;
        L->changed_last = now;
        return jv_bool(changed);
    }
    case JV_CYCLER: {
        jj_cycler *c = self.u.cy;
        if (!strcmp(m, "reset")) { c->pos = 0; return jv_none(); }
        jv v = c->items->v[c->pos];
        c->pos = (c->pos + 1) % c->items->n;
        return v;
    }
    default: jj_fail(r, "'%s object' has no attribute '%s'", jj_type_name(self), m);
    }
}

/* ================================================================================ globals */

static jv global_range(jj_render *r, const jv *args, uint32_t nargs, uint32_t nkw) {
    if (nkw) jj_fail(r, "range() takes no keyword arguments");
    if (nargs < 1 || nargs > 3) jj_fail(r, "range expected 1 to 3 arguments, got %u", nargs);
    int64_t start = 0, stop, step = 1;
    if (nargs == 1) stop = want_int(r, args[0], "range() argument");
    else {
        start = want_int(r, args[0], "range() argument");
        stop = want_int(r, args[1], "range() argument");
        if (nargs == 3) step = want_int(r, args[2], "range() argument");
    }
    if (step == 0) jj_fail(r, "range() arg 3 must not be zero");
    double count_d = step > 0 ? ((double)stop - (double)start) / (double)step : ((double)start - (double)stop) / (double)-step;
    int64_t count = count_d <= 0 ? 0 : (int64_t)ceil(count_d);
    if (count > JJ_MAX_RANGE)
        jj_fail(r, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", JJ_MAX_RANGE);
    jj_spend(r, (uint64_t)count / 8);
    jj_list *l = jj_list_new(r, (uint32_t)count);
    for (int64_t i = 0; i < count; i++) l->v[i] = jv_int(start + i * step);
    return list_value(l, 0);
}

/* dict(mapping_or_pairs?, **kwargs), as namespace() and dict() take it */
static jj_dict *dict_from_args(jj_render *r, const char *fname, const jv *args, uint32_t nargs,
                               const char *const *kwn, const jv *kw, uint32_t nkw) {
    if (nargs > 1) jj_fail(r, "%s expected at most 1 argument, got %u", fname, nargs);
    jj_dict *d = jj_dict_new(r, nkw);
    if (nargs == 1) {
        jv a = args[0];
        if (jv_is_map(a)) {
            for (uint32_t i = 0; i < a.u.d->n; i++) jj_dict_set(r, d, a.u.d->k[i], a.u.d->v[i]);
        } else {
            jj_list *l = jj_iter_list(r, a);
            for (uint32_t i = 0; i < l->n; i++) {
                jj_list *p = jj_iter_list(r, l->v[i]);
                if (p->n != 2) jj_fail(r, "dictionary update sequence element #%u has length %u; 2 is required", i, p->n);
                jj_dict_set(r, d, p->v[0], p->v[1]);
            }
        }
    }
    for (uint32_t k = 0; k < nkw; k++) jj_dict_set(r, d, jv_str(kwn[k], strlen(kwn[k])), kw[k]);
    return d;
}

jv jj_call_global(jj_render *r, int gid, const jv *args, uint32_t nargs,
                  const char *const *kwn, const jv *kw, uint32_t nkw) {
    jj_spend(r, 1);
    switch (gid) {
    case JG_RANGE: return global_range(r, args, nargs, nkw);
    case JG_NAMESPACE: return dict_value(dict_from_args(r, "namespace", args, nargs, kwn, kw, nkw), 1);
    case JG_DICT: return dict_value(dict_from_args(r, "dict", args, nargs, kwn, kw, nkw), 0);
    case JG_RAISE: {
        jv msg = nargs ? jj_to_str(r, args[0]) : jv_str("", 0);
        jj_fail(r, "%.*s", (int)(msg.n > 600 ? 600 : msg.n), msg.u.s);
    }
    case JG_STRFTIME: {
        BIND("strftime_now", "format");
        jv fmt = want_str(r, a_[0], "format");
        char f[256], out[512];
        snprintf(f, sizeof f, "%.*s", (int)(fmt.n < 255 ? fmt.n : 255), fmt.u.s);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t k = f[0] ? strftime(out, sizeof out, f, &tm) : 0;
        return jv_str(jj_strdup(&r->arena, out, k), k);
    }
    case JG_CYCLER: {
        if (!nargs) jj_fail(r, "cycler needs at least one item");
        jj_cycler *c = jj_alloc(&r->arena, sizeof *c);
        memset(c, 0, sizeof *c);
        c->items = jj_list_new(r, nargs);
        memcpy(c->items->v, args, nargs * sizeof(jv));
        jv v = {0};
        v.t = JV_CYCLER;
        v.u.cy = c;
        return v;
    }
    case JG_JOINER: {
        BIND("joiner", "sep");
        jj_cycler *c = jj_alloc(&r->arena, sizeof *c);
        memset(c, 0, sizeof *c);
        c->sep = h_[0] ? jj_to_str(r, a_[0]) : jv_str(", ", 2);
        jv v = {0};
        v.t = JV_JOINER;
        v.u.cy = c;
        return v;
    }
    default: jj_fail_st(r, R1C_ERR_UNSUPPORTED, "this global function is not supported");
    }
}
