/* tok_json.c — the vocabulary and merges of tokenizer.json without a JSON tree.
 *
 * Why not cJSON for these: the two tables are 300-500 thousand small strings; building and
 * walking a cJSON tree for them takes 100-200 ms, more than the whole load budget. This is a
 * strict JSON reader (RFC 8259 strings, numbers, nesting) that walks the document once, hands
 * the entries of model.vocab and model.merges to callbacks, and skips everything else; the
 * caller parses the rest with cJSON. Any deviation from JSON is an error naming the byte. */
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "tokenizer.h"

#define MAX_DEPTH 256

typedef struct rd {
    const char *s, *p, *end;
    const char *path;
    char *buf; /* decoded string scratch */
    size_t cap;
} rd;

static r1c_status fail(rd *r, const char *what) {
    return r1c_error(R1C_ERR_FORMAT, "%s: invalid JSON at byte %zu: %s", r->path, (size_t)(r->p - r->s), what);
}

static void ws(rd *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) r->p++;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d > 15) return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Reads a string at r->p (at the opening quote); the decoded bytes land in r->buf. Raw bytes
 * are copied as they are (the file's UTF-8 is checked by the caller where it matters). */
static r1c_status string(rd *r, size_t *len) {
    if (r->p >= r->end || *r->p != '"') return fail(r, "expected a string");
    r->p++;
    size_t n = 0;
    for (;;) {
        if (r->p >= r->end) return fail(r, "unterminated string");
        if (n + 8 > r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 256;
            char *b = realloc(r->buf, cap);
            if (!b) return r1c_error(R1C_ERR_NOMEM, "out of memory");
            r->buf = b, r->cap = cap;
        }
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            *len = n;
            return R1C_OK;
        }
        if (c < 0x20) return fail(r, "control character in a string");
        if (c != '\\') {
            r->buf[n++] = (char)c;
            r->p++;
            continue;
        }
        if (r->end - r->p < 2) return fail(r, "unterminated escape");
        char e = r->p[1];
        r->p += 2;
        switch (e) {
        case '"': r->buf[n++] = '"'; break;
        case '\\': r->buf[n++] = '\\'; break;
        case '/': r->buf[n++] = '/'; break;
        case 'b': r->buf[n++] = '\b'; break;
        case 'f': r->buf[n++] = '\f'; break;
        case 'n': r->buf[n++] = '\n'; break;
        case 'r': r->buf[n++] = '\r'; break;
        case 't': r->buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (r->end - r->p < 4 || !hex4(r->p, &cp)) return fail(r, "bad \\u escape");
            r->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || !hex4(r->p + 2, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return fail(r, "unpaired surrogate in \\u escape");
                r->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return fail(r, "unpaired surrogate in \\u escape");
            }
            n += put_utf8(r->buf + n, cp);
            break;
        }
        default: return fail(r, "bad escape");
        }
    }
}

/* A JSON number; *is_int and *iv when it is an integer that fits. */
static r1c_status number(rd *r, int *is_int, int64_t *iv) {
    const char *q = r->p;
    int neg = 0, frac = 0;
    int64_t v = 0;
    int overflow = 0;
    if (q < r->end && *q == '-') neg = 1, q++;
    if (q >= r->end || *q < '0' || *q > '9') return fail(r, "bad number");
    if (*q == '0') q++;
    else
        while (q < r->end && *q >= '0' && *q <= '9') {
            if (v > (INT64_MAX - 9) / 10) overflow = 1;
            else v = v * 10 + (*q - '0');
            q++;
        }
    if (q < r->end && *q == '.') {
        frac = 1, q++;
        if (q >= r->end || *q < '0' || *q > '9') return fail(r, "bad number");
        while (q < r->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < r->end && (*q == 'e' || *q == 'E')) {
        frac = 1, q++;
        if (q < r->end && (*q == '+' || *q == '-')) q++;
        if (q >= r->end || *q < '0' || *q > '9') return fail(r, "bad number");
        while (q < r->end && *q >= '0' && *q <= '9') q++;
    }
    r->p = q;
    *is_int = !frac && !overflow;
    *iv = neg ? -v : v;
    return R1C_OK;
}

static r1c_status skip(rd *r, int depth);

static r1c_status lit(rd *r, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0) return fail(r, "unexpected character");
    r->p += n;
    return R1C_OK;
}

static r1c_status skip_container(rd *r, int depth, char close) {
    if (depth > MAX_DEPTH) return fail(r, "nesting too deep");
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return R1C_OK;
    }
    for (;;) {
        r1c_status st;
        size_t n;
        if (close == '}') {
            if ((st = string(r, &n)) != R1C_OK) return st;
            ws(r);
            if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':'");
            r->p++;
        }
        if ((st = skip(r, depth + 1)) != R1C_OK) return st;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return R1C_OK;
        }
        return fail(r, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static r1c_status skip(rd *r, int depth) {
    ws(r);
    if (r->p >= r->end) return fail(r, "unexpected end");
    size_t n;
    int is_int;
    int64_t v;
    switch (*r->p) {
    case '{': return skip_container(r, depth, '}');
    case '[': return skip_container(r, depth, ']');
    case '"': return string(r, &n);
    case 't': return lit(r, "true");
    case 'f': return lit(r, "false");
    case 'n': return lit(r, "null");
    default: return number(r, &is_int, &v);
    }
}

/* "vocab": {"token": id, ...} */
static r1c_status vocab(rd *r, r1c_vocab_cb cb, void *u) {
    if (r->p >= r->end || *r->p != '{') return fail(r, "model.vocab must be an object");
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return R1C_OK;
    }
    for (;;) {
        size_t n;
        int is_int;
        int64_t id;
        r1c_status st = string(r, &n);
        if (st != R1C_OK) return st;
        ws(r);
        if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':'");
        r->p++;
        ws(r);
        if ((st = number(r, &is_int, &id)) != R1C_OK) return st;
        if (!is_int) return fail(r, "a vocab id is not an integer");
        if ((st = cb(u, r->buf, n, id)) != R1C_OK) return st;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return R1C_OK;
        }
        return fail(r, "expected ',' or '}' in model.vocab");
    }
}

/* "merges": ["a b", ...] or [["a", "b"], ...] */
static r1c_status merges(rd *r, r1c_merge_cb cb, void *u) {
    if (r->p >= r->end || *r->p != '[') return fail(r, "model.merges must be an array");
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return R1C_OK;
    }
    char *first = NULL;
    size_t first_cap = 0;
    r1c_status st = R1C_OK;
    for (;;) {
        size_t n;
        if (r->p < r->end && *r->p == '"') {
            if ((st = string(r, &n)) != R1C_OK) break;
            char *sp = memchr(r->buf, ' ', n);
            if (!sp) {
                st = fail(r, "a merge string has no space");
                break;
            }
            size_t a = (size_t)(sp - r->buf);
            if ((st = cb(u, r->buf, a, sp + 1, n - a - 1)) != R1C_OK) break;
        } else if (r->p < r->end && *r->p == '[') {
            r->p++;
            ws(r);
            if ((st = string(r, &n)) != R1C_OK) break;
            if (n + 1 > first_cap) {
                char *f = realloc(first, n + 1);
                if (!f) {
                    st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                    break;
                }
                first = f, first_cap = n + 1;
            }
            memcpy(first, r->buf, n);
            size_t fn = n;
            ws(r);
            if (r->p >= r->end || *r->p != ',') {
                st = fail(r, "a merge pair needs two strings");
                break;
            }
            r->p++;
            ws(r);
            if ((st = string(r, &n)) != R1C_OK) break;
            ws(r);
            if (r->p >= r->end || *r->p != ']') {
                st = fail(r, "a merge pair needs exactly two strings");
                break;
            }
            r->p++;
            if ((st = cb(u, first, fn, r->buf, n)) != R1C_OK) break;
        } else {
            st = fail(r, "a merge must be a string or a pair of strings");
            break;
        }
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            break;
        }
        st = fail(r, "expected ',' or ']' in model.merges");
        break;
    }
    free(first);
    return st;
}

static int key_is(const rd *r, size_t n, const char *k) { return n == strlen(k) && memcmp(r->buf, k, n) == 0; }

r1c_status r1c_tok_json_tables(const char *json, size_t len, const char *path, r1c_vocab_cb vcb,
                               r1c_merge_cb mcb, void *u, r1c_tok_tables *found) {
    memset(found, 0, sizeof *found);
    rd r = {json, json, json + len, path, NULL, 0};
    r1c_status st = R1C_OK;
    ws(&r);
    if (r.p >= r.end || *r.p != '{') {
        st = fail(&r, "the document must be an object");
        goto out;
    }
    r.p++;
    ws(&r);
    while (st == R1C_OK && r.p < r.end && *r.p != '}') {
        size_t n;
        if ((st = string(&r, &n)) != R1C_OK) break;
        ws(&r);
        if (r.p >= r.end || *r.p != ':') {
            st = fail(&r, "expected ':'");
            break;
        }
        r.p++;
        ws(&r);
        if (key_is(&r, n, "model") && r.p < r.end && *r.p == '{') {
            r.p++;
            ws(&r);
            while (st == R1C_OK && r.p < r.end && *r.p != '}') {
                if ((st = string(&r, &n)) != R1C_OK) break;
                ws(&r);
                if (r.p >= r.end || *r.p != ':') {
                    st = fail(&r, "expected ':'");
                    break;
                }
                r.p++;
                ws(&r);
                size_t begin = (size_t)(r.p - r.s);
                if (key_is(&r, n, "vocab") && !found->have_vocab) {
                    if ((st = vocab(&r, vcb, u)) != R1C_OK) break;
                    found->vocab_begin = begin, found->vocab_end = (size_t)(r.p - r.s), found->have_vocab = 1;
                } else if (key_is(&r, n, "merges") && !found->have_merges) {
                    if ((st = merges(&r, mcb, u)) != R1C_OK) break;
                    found->merges_begin = begin, found->merges_end = (size_t)(r.p - r.s), found->have_merges = 1;
                } else if ((st = skip(&r, 2)) != R1C_OK) {
                    break;
                }
                ws(&r);
                if (r.p < r.end && *r.p == ',') {
                    r.p++;
                    ws(&r);
                } else if (r.p >= r.end || *r.p != '}') {
                    st = fail(&r, "expected ',' or '}'");
                }
            }
            if (st == R1C_OK) r.p++; /* '}' of model */
        } else {
            st = skip(&r, 1);
        }
        if (st != R1C_OK) break;
        ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            ws(&r);
        } else if (r.p >= r.end || *r.p != '}') {
            st = fail(&r, "expected ',' or '}'");
        }
    }
    if (st == R1C_OK && r.p >= r.end) st = fail(&r, "unexpected end");
out:
    free(r.buf);
    return st;
}

r1c_status r1c_json_object_string(const char *json, size_t len, const char *key, char **out, size_t *out_len) {
    *out = NULL;
    rd r = {json, json, json + len, "input", NULL, 0};
    r1c_status st = R1C_OK;
    int found = 0;
    ws(&r);
    if (r.p >= r.end || *r.p != '{') {
        st = fail(&r, "expected a JSON object");
        goto done;
    }
    r.p++;
    ws(&r);
    while (st == R1C_OK && r.p < r.end && *r.p != '}') {
        size_t n;
        if ((st = string(&r, &n)) != R1C_OK) break;
        int match = key_is(&r, n, key);
        ws(&r);
        if (r.p >= r.end || *r.p != ':') {
            st = fail(&r, "expected ':'");
            break;
        }
        r.p++;
        ws(&r);
        if (match && r.p < r.end && *r.p == '"') {
            if ((st = string(&r, &n)) != R1C_OK) break;
            free(*out);
            if (!(*out = malloc(n + 1))) {
                st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(*out, r.buf, n);
            (*out)[n] = 0;
            *out_len = n;
            found = 1;
        } else if ((st = skip(&r, 1)) != R1C_OK) {
            break;
        } else if (match) {
            st = r1c_error(R1C_ERR_FORMAT, "field '%s' must be a string", key);
            break;
        }
        ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            ws(&r);
        } else if (r.p >= r.end || *r.p != '}') {
            st = fail(&r, "expected ',' or '}'");
        }
    }
    if (st == R1C_OK) {
        if (r.p >= r.end) st = fail(&r, "unexpected end");
        else {
            r.p++;
            ws(&r);
            if (r.p != r.end) st = fail(&r, "trailing characters after the object");
        }
    }
    if (st == R1C_OK && !found) st = r1c_error(R1C_ERR_MISSING, "no string field '%s'", key);
done:
    free(r.buf);
    if (st != R1C_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}
