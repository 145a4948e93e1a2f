/* gguf.c — see gguf.h.
 *
 * Every number in a GGUF file is untrusted. Lengths and counts are compared with the bytes
 * left in the file before anything is read or allocated from them (a count is never
 * multiplied before it is known to fit), so a hostile file gets a one-line error naming the
 * file and the key or tensor, never an out-of-bounds read or a huge allocation.
 *
 * The parser reads through a cursor over `avail` bytes of a file of `size` bytes. A read
 * past `size` is a format error; a read past `avail` (but inside the file) stops the parse
 * with NEED_MORE and no message: r1c_gguf_open uses that to validate the header from a
 * prefix of the file before loading all of it. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/error.h"

#define NEED_MORE ((r1c_status)1) /* internal: the header runs past the bytes read so far */

#define MIN_KV_BYTES 14     /* key length 8 + key >= 1 + type 4 + smallest value 1 */
#define MIN_TENSOR_BYTES 33 /* name length 8 + name >= 1 + n_dims 4 + ne 8 + type 4 + offset 8 */

typedef unsigned long long ull;

/* ------------------------------------------------------------------- types */

static const char *const g_type_names[R1C_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const uint8_t g_type_size[R1C_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *r1c_gguf_type_name(r1c_gguf_type t) {
    return (unsigned)t < R1C_GGUF_TYPE_COUNT ? g_type_names[t] : "?";
}

static int is_int_type(r1c_gguf_type t) {
    return t <= R1C_GGUF_INT32 || t == R1C_GGUF_UINT64 || t == R1C_GGUF_INT64;
}
static int is_signed_type(r1c_gguf_type t) {
    return t == R1C_GGUF_INT8 || t == R1C_GGUF_INT16 || t == R1C_GGUF_INT32 || t == R1C_GGUF_INT64;
}

/* ggml's tensor types by number (NULL: a number ggml never used or has dropped) */
#define GGML_TYPE_LIMIT 40
static const char *const g_ggml_names[GGML_TYPE_LIMIT] = {
    "F32",    "F16",   "Q4_0",   "Q4_1",    NULL,    NULL,   "Q5_0",  "Q5_1",   "Q8_0",  "Q8_1",
    "Q2_K",   "Q3_K",  "Q4_K",   "Q5_K",    "Q6_K",  "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
    "IQ1_S",  "IQ4_NL", "IQ3_S", "IQ2_S",   "IQ4_XS", "I8",  "I16",   "I32",    "I64",   "F64",
    "IQ1_M",  "BF16",  NULL,     NULL,      NULL,    "TQ1_0", "TQ2_0", NULL,    NULL,    NULL,
    "MXFP4",
};

const char *r1c_gguf_ggml_type_name(uint32_t t) { return t < GGML_TYPE_LIMIT ? g_ggml_names[t] : NULL; }

static int dtype_of_ggml(uint32_t t, r1c_dtype *out) {
    switch (t) {
    case 0: *out = R1C_F32; return 1;
    case 1: *out = R1C_F16; return 1;
    case 2: *out = R1C_Q4_0; return 1;
    case 8: *out = R1C_Q8_0; return 1;
    case 12: *out = R1C_Q4_K; return 1;
    case 14: *out = R1C_Q6_K; return 1;
    case 30: *out = R1C_BF16; return 1;
    default: return 0;
    }
}

int r1c_gguf_ggml_type_of(r1c_dtype d) {
    switch (d) {
    case R1C_F32: return 0;
    case R1C_F16: return 1;
    case R1C_Q4_0: return 2;
    case R1C_Q8_0: return 8;
    case R1C_Q4_K: return 12;
    case R1C_Q6_K: return 14;
    case R1C_BF16: return 30;
    default: return -1;
    }
}

/* --------------------------------------------------------------- helpers */

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* A key or name for a message: printable ASCII as is, other bytes as \xNN, cut at ~100
 * characters, so that a message stays one readable line whatever the file holds. */
typedef struct shown {
    char s[128];
} shown;

static shown show(const char *p, uint64_t n) {
    shown r;
    size_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (k + 8 >= sizeof r.s) {
            memcpy(r.s + k, "...", 3);
            k += 3;
            break;
        }
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            r.s[k++] = (char)ch;
        } else {
            static const char hex[] = "0123456789abcdef";
            r.s[k++] = '\\';
            r.s[k++] = 'x';
            r.s[k++] = hex[ch >> 4];
            r.s[k++] = hex[ch & 15];
        }
    }
    r.s[k] = 0;
    return r;
}
#define SHOW(str) (show((str).p, (str).n).s)

static uint64_t hash_bytes(const char *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

/* Builds an index of n strings (get(i)); on a duplicate returns 0 and its two indexes. */
typedef r1c_gguf_str (*name_of_fn)(const r1c_gguf *g, uint64_t i);

static r1c_gguf_str kv_name(const r1c_gguf *g, uint64_t i) { return g->kv[i].key; }
static r1c_gguf_str tensor_name(const r1c_gguf *g, uint64_t i) { return g->tensors[i].name; }

static int build_index(const r1c_gguf *g, uint64_t n, name_of_fn name_of, uint64_t **slots_out,
                       uint64_t *n_slots_out, uint64_t *dup_a, uint64_t *dup_b, int *nomem) {
    uint64_t ns = 8;
    while (ns < 2 * n + 1) ns <<= 1;
    uint64_t *slots = calloc((size_t)ns, sizeof *slots);
    if (!slots) {
        *nomem = 1;
        return 0;
    }
    for (uint64_t i = 0; i < n; i++) {
        r1c_gguf_str s = name_of(g, i);
        uint64_t h = hash_bytes(s.p, s.n) & (ns - 1);
        for (;; h = (h + 1) & (ns - 1)) {
            if (!slots[h]) {
                slots[h] = i + 1;
                break;
            }
            r1c_gguf_str o = name_of(g, slots[h] - 1);
            if (o.n == s.n && memcmp(o.p, s.p, (size_t)s.n) == 0) {
                *dup_a = slots[h] - 1;
                *dup_b = i;
                free(slots);
                return 0;
            }
        }
    }
    *slots_out = slots;
    *n_slots_out = ns;
    return 1;
}

static int64_t index_lookup(const r1c_gguf *g, const uint64_t *slots, uint64_t ns,
                            name_of_fn name_of, const char *name) {
    if (!slots || !name) return -1;
    size_t n = strlen(name);
    for (uint64_t h = hash_bytes(name, n) & (ns - 1);; h = (h + 1) & (ns - 1)) {
        if (!slots[h]) return -1;
        r1c_gguf_str s = name_of(g, slots[h] - 1);
        if (s.n == n && memcmp(s.p, name, n) == 0) return (int64_t)(slots[h] - 1);
    }
}

/* ------------------------------------------------------------------ cursor */

typedef struct cur {
    const char *path;
    const uint8_t *buf;
    uint64_t avail; /* bytes of buf that may be read */
    uint64_t size;  /* bytes in the file */
    uint64_t pos;
    uint64_t want;  /* after NEED_MORE: the prefix length the read needed */
} cur;

static uint64_t left(const cur *c) { return c->size - c->pos; }

/* n bytes at the cursor: R1C_OK, NEED_MORE, or R1C_ERR_FORMAT with "file ends inside WHAT" */
R1C_PRINTF(4, 5)
static r1c_status take(cur *c, uint64_t n, const uint8_t **p, const char *fmt, ...) {
    if (n > left(c)) {
        char what[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        return r1c_error(R1C_ERR_FORMAT, "%s: %s: file ends after %llu bytes (needs %llu more)",
                         c->path, what, (ull)c->size, (ull)(n - left(c)));
    }
    if (c->pos + n > c->avail) {
        c->want = c->pos + n;
        return NEED_MORE;
    }
    if (p) *p = c->buf + c->pos;
    c->pos += n;
    return R1C_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        r1c_status st_ = (x);                                                                      \
        if (st_ != R1C_OK) return st_;                                                             \
    } while (0)

/* A string's length and bytes; `what` names it in messages ("key #3", "tensor #0 name"). */
static r1c_status rd_str(cur *c, r1c_gguf_str *s, const char *what) {
    const uint8_t *p;
    TRY(take(c, 8, &p, "%s: the length", what));
    uint64_t n = le64(p);
    if (n > left(c))
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: %s: string length %llu runs past the end of the file (%llu bytes left)",
                         c->path, what, (ull)n, (ull)left(c));
    TRY(take(c, n, &p, "%s", what));
    s->p = (const char *)p;
    s->n = n;
    return R1C_OK;
}

/* ------------------------------------------------------------------- values */

static r1c_status rd_scalar(cur *c, r1c_gguf_kv *kv, r1c_gguf_type t, const char *key) {
    const uint8_t *p;
    TRY(take(c, g_type_size[t], &p, "key '%s': the %s value", key, g_type_names[t]));
    switch (t) {
    case R1C_GGUF_UINT8: kv->v.u = p[0]; break;
    case R1C_GGUF_INT8: kv->v.i = (int8_t)p[0]; break;
    case R1C_GGUF_UINT16: kv->v.u = le16(p); break;
    case R1C_GGUF_INT16: kv->v.i = (int16_t)le16(p); break;
    case R1C_GGUF_UINT32: kv->v.u = le32(p); break;
    case R1C_GGUF_INT32: kv->v.i = (int32_t)le32(p); break;
    case R1C_GGUF_UINT64: kv->v.u = le64(p); break;
    case R1C_GGUF_INT64: kv->v.i = (int64_t)le64(p); break;
    case R1C_GGUF_FLOAT32: {
        uint32_t u = le32(p);
        float f;
        memcpy(&f, &u, 4);
        kv->v.f = f;
        break;
    }
    case R1C_GGUF_FLOAT64: {
        uint64_t u = le64(p);
        memcpy(&kv->v.f, &u, 8);
        break;
    }
    case R1C_GGUF_BOOL:
        if (p[0] > 1)
            return r1c_error(R1C_ERR_FORMAT, "%s: key '%s': bool value %u (must be 0 or 1)",
                             c->path, key, p[0]);
        kv->v.b = p[0];
        break;
    default: break;
    }
    return R1C_OK;
}

static r1c_status rd_array(cur *c, r1c_gguf_kv *kv, const char *key) {
    const uint8_t *p;
    TRY(take(c, 4, &p, "key '%s': the array element type", key));
    uint32_t et = le32(p);
    if (et == R1C_GGUF_ARRAY)
        return r1c_error(R1C_ERR_UNSUPPORTED,
                         "%s: key '%s': arrays of arrays are not supported (nor by llama.cpp)",
                         c->path, key);
    if (et >= R1C_GGUF_TYPE_COUNT)
        return r1c_error(R1C_ERR_FORMAT, "%s: key '%s': unknown array element type %u", c->path,
                         key, et);
    TRY(take(c, 8, &p, "key '%s': the array length", key));
    uint64_t n = le64(p);
    kv->arr_type = (r1c_gguf_type)et;
    kv->arr_n = n;
    if (et != R1C_GGUF_STRING) {
        uint64_t esz = g_type_size[et];
        if (n > left(c) / esz)
            return r1c_error(R1C_ERR_FORMAT,
                             "%s: key '%s': array of %llu %s elements runs past the end of the "
                             "file (%llu bytes left)",
                             c->path, key, (ull)n, g_type_names[et], (ull)left(c));
        TRY(take(c, n * esz, &p, "key '%s': the array", key));
        kv->arr = p;
        if (et == R1C_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (p[i] > 1)
                    return r1c_error(R1C_ERR_FORMAT,
                                     "%s: key '%s': bool element %llu is %u (must be 0 or 1)",
                                     c->path, key, (ull)i, p[i]);
        return R1C_OK;
    }
    /* strings: each takes at least its 8-byte length, so a count that cannot fit is refused
     * at once; then all lengths are checked before the index of n entries is allocated */
    if (n > left(c) / 8)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: key '%s': array of %llu strings runs past the end of the file (%llu "
                         "bytes left)",
                         c->path, key, (ull)n, (ull)left(c));
    uint64_t start = c->pos;
    char what[200];
    for (uint64_t i = 0; i < n; i++) {
        r1c_gguf_str s;
        snprintf(what, sizeof what, "key '%s': string %llu", key, (ull)i);
        TRY(rd_str(c, &s, what));
    }
    kv->arr = c->buf + start;
    if (n == 0) return R1C_OK;
    kv->arr_str = malloc((size_t)n * sizeof *kv->arr_str);
    if (!kv->arr_str) return r1c_error(R1C_ERR_NOMEM, "%s: key '%s': out of memory", c->path, key);
    const uint8_t *q = c->buf + start;
    for (uint64_t i = 0; i < n; i++) { /* already checked: no bounds to test again */
        kv->arr_str[i].n = le64(q);
        kv->arr_str[i].p = (const char *)q + 8;
        q += 8 + kv->arr_str[i].n;
    }
    return R1C_OK;
}

static r1c_status rd_kv(cur *c, r1c_gguf_kv *kv, uint64_t i) {
    char what[64];
    snprintf(what, sizeof what, "key %llu", (ull)i);
    TRY(rd_str(c, &kv->key, what));
    if (kv->key.n == 0) return r1c_error(R1C_ERR_FORMAT, "%s: key %llu is empty", c->path, (ull)i);
    if (kv->key.n > R1C_GGUF_MAX_KEY)
        return r1c_error(R1C_ERR_FORMAT, "%s: key %llu '%s' is %llu bytes long (at most %u)",
                         c->path, (ull)i, SHOW(kv->key), (ull)kv->key.n, R1C_GGUF_MAX_KEY);
    if (memchr(kv->key.p, 0, (size_t)kv->key.n))
        return r1c_error(R1C_ERR_FORMAT, "%s: key %llu '%s' contains a NUL byte", c->path, (ull)i,
                         SHOW(kv->key));
    shown key = show(kv->key.p, kv->key.n);
    const uint8_t *p;
    TRY(take(c, 4, &p, "key '%s': the value type", key.s));
    uint32_t t = le32(p);
    if (t >= R1C_GGUF_TYPE_COUNT)
        return r1c_error(R1C_ERR_FORMAT, "%s: key '%s': unknown value type %u", c->path, key.s, t);
    kv->type = (r1c_gguf_type)t;
    if (t == R1C_GGUF_STRING) {
        char w[200];
        snprintf(w, sizeof w, "key '%s': the string value", key.s);
        return rd_str(c, &kv->v.s, w);
    }
    if (t == R1C_GGUF_ARRAY) return rd_array(c, kv, key.s);
    return rd_scalar(c, kv, kv->type, key.s);
}

/* ------------------------------------------------------------------ tensors */

static r1c_status rd_tensor(cur *c, r1c_gguf_tensor *t, uint64_t i, uint64_t alignment) {
    char what[64];
    snprintf(what, sizeof what, "tensor %llu: the name", (ull)i);
    TRY(rd_str(c, &t->name, what));
    if (t->name.n == 0)
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor %llu has an empty name", c->path, (ull)i);
    if (t->name.n > R1C_GGUF_MAX_NAME)
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor %llu '%s': name of %llu bytes is over the %u byte limit",
                         c->path, (ull)i, SHOW(t->name), (ull)t->name.n, R1C_GGUF_MAX_NAME);
    if (memchr(t->name.p, 0, (size_t)t->name.n))
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor %llu '%s': name contains a NUL byte", c->path,
                         (ull)i, SHOW(t->name));
    shown name = show(t->name.p, t->name.n);
    const uint8_t *p;
    TRY(take(c, 4, &p, "tensor '%s': n_dims", name.s));
    uint32_t nd = le32(p);
    if (nd < 1 || nd > R1C_GGUF_MAX_DIMS)
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': n_dims %u (must be 1 to %d)", c->path,
                         name.s, nd, R1C_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    TRY(take(c, 8 * (uint64_t)nd, &p, "tensor '%s': the shape", name.s));
    for (int d = 0; d < 4; d++) {
        t->ne[d] = d < (int)nd ? le64(p + 8 * d) : 1;
        if (t->ne[d] > (uint64_t)INT64_MAX)
            return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': ne[%d] = %llu is negative as int64",
                             c->path, name.s, d, (ull)t->ne[d]);
    }
    /* the product of the non-zero dims: no partial product may overflow, even when a 0 dim
     * makes the tensor empty */
    uint64_t prod = 1;
    for (int d = 0; d < 4; d++)
        if (t->ne[d] && (__builtin_mul_overflow(prod, t->ne[d], &prod) || prod > (uint64_t)INT64_MAX)) {
            char shape[128];
            int k = 0;
            for (int e = 0; e < (int)nd; e++)
                k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%llu", e ? ", " : "", (ull)t->ne[e]);
            return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': shape [%s] has 2^63 or more elements",
                             c->path, name.s, shape);
        }
    TRY(take(c, 4, &p, "tensor '%s': the type", name.s));
    t->ggml_type = le32(p);
    if (!dtype_of_ggml(t->ggml_type, &t->dtype)) {
        const char *gn = r1c_gguf_ggml_type_name(t->ggml_type);
        if (!gn)
            return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': unknown ggml type %u", c->path,
                             name.s, t->ggml_type);
        return r1c_error(R1C_ERR_UNSUPPORTED,
                         "%s: tensor '%s': ggml type %u (%s) is not supported (r1c reads F32, F16, "
                         "BF16, Q8_0, Q4_0, Q4_K, Q6_K)",
                         c->path, name.s, t->ggml_type, gn);
    }
    uint64_t blk = (uint64_t)r1c_dtype_block(t->dtype);
    if (t->ne[0] % blk)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: tensor '%s': %s rows of %llu elements are not a multiple of the block "
                         "size %llu",
                         c->path, name.s, r1c_dtype_name(t->dtype), (ull)t->ne[0], (ull)blk);
    uint64_t nbytes;
    int ovf = __builtin_mul_overflow(t->ne[0] / blk, (uint64_t)r1c_dtype_block_bytes(t->dtype), &nbytes);
    for (int d = 1; d < 4; d++) ovf |= __builtin_mul_overflow(nbytes, t->ne[d], &nbytes);
    if (ovf)
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': size in bytes overflows", c->path, name.s);
    t->nbytes = nbytes;
    TRY(take(c, 8, &p, "tensor '%s': the offset", name.s));
    t->offset = le64(p);
    if (t->offset % alignment)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: tensor '%s': offset %llu is not a multiple of the alignment %llu",
                         c->path, name.s, (ull)t->offset, (ull)alignment);
    return R1C_OK;
}

/* ------------------------------------------------------------------- parse */

typedef struct sort_item {
    uint64_t offset, idx;
} sort_item;

static int cmp_item(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Grows an array of n used elements of size sz so that one more fits. */
static int grow(void **arr, uint64_t *cap, uint64_t n, size_t sz, uint64_t hint) {
    if (n < *cap) return 1;
    uint64_t nc = *cap ? *cap * 2 : (hint < 64 ? (hint ? hint : 1) : 64);
    void *p = realloc(*arr, (size_t)nc * sz);
    if (!p) return 0;
    memset((char *)p + (size_t)*cap * sz, 0, (size_t)(nc - *cap) * sz);
    *arr = p;
    *cap = nc;
    return 1;
}

static r1c_status parse_body(cur *c, r1c_gguf *g) {
    const uint8_t *p;
    if (c->size < 24) {
        if (c->size >= 4 && memcmp(c->buf, "GGUF", 4) != 0)
            return r1c_error(R1C_ERR_FORMAT, "%s: bad magic '%s' (not a GGUF file)", c->path,
                             show((const char *)c->buf, 4).s);
        return r1c_error(R1C_ERR_FORMAT, "%s: %llu bytes is too short for a GGUF file (the header is 24)",
                         c->path, (ull)c->size);
    }
    TRY(take(c, 24, &p, "the header"));
    if (memcmp(p, "GGUF", 4) != 0)
        return r1c_error(R1C_ERR_FORMAT, "%s: bad magic '%s' (not a GGUF file)", c->path,
                         show((const char *)p, 4).s);
    g->version = le32(p + 4);
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version)
            return r1c_error(R1C_ERR_UNSUPPORTED,
                             "%s: GGUF version %u is not supported (only 2 and 3; a big-endian file?)",
                             c->path, g->version);
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (only 2 and 3)",
                         c->path, g->version);
    }
    uint64_t n_tensors = le64(p + 8), n_kv = le64(p + 16);
    /* counts first, before any allocation: each entry needs a minimum number of bytes */
    if (n_kv > left(c) / MIN_KV_BYTES)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: n_kv %llu cannot fit in the %llu bytes left in the file (a key-value "
                         "pair takes at least %d)",
                         c->path, (ull)n_kv, (ull)left(c), MIN_KV_BYTES);
    if (n_tensors > (left(c) - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: n_tensors %llu cannot fit in the %llu bytes left in the file (a tensor "
                         "record takes at least %d)",
                         c->path, (ull)n_tensors, (ull)left(c), MIN_TENSOR_BYTES);

    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&g->kv, &cap, g->n_kv, sizeof *g->kv, n_kv))
            return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", c->path);
        r1c_gguf_kv *kv = &g->kv[g->n_kv++];
        TRY(rd_kv(c, kv, i));
    }
    uint64_t da = 0, db = 0;
    int nomem = 0;
    if (!build_index(g, g->n_kv, kv_name, &g->kv_slots, &g->n_kv_slots, &da, &db, &nomem)) {
        if (nomem) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", c->path);
        return r1c_error(R1C_ERR_FORMAT, "%s: key '%s' appears twice (keys %llu and %llu)", c->path,
                         SHOW(g->kv[db].key), (ull)da, (ull)db);
    }
    g->alignment = R1C_GGUF_DEFAULT_ALIGNMENT;
    const r1c_gguf_kv *al = r1c_gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != R1C_GGUF_UINT32)
            return r1c_error(R1C_ERR_FORMAT, "%s: key 'general.alignment' must be u32, got %s",
                             c->path, r1c_gguf_type_name(al->type));
        if (al->v.u == 0 || (al->v.u & (al->v.u - 1)))
            return r1c_error(R1C_ERR_FORMAT,
                             "%s: key 'general.alignment' = %llu is not a non-zero power of two",
                             c->path, (ull)al->v.u);
        g->alignment = al->v.u;
    }

    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!grow((void **)&g->tensors, &cap, g->n_tensors, sizeof *g->tensors, n_tensors))
            return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", c->path);
        r1c_gguf_tensor *t = &g->tensors[g->n_tensors++];
        TRY(rd_tensor(c, t, i, g->alignment));
    }
    if (!build_index(g, g->n_tensors, tensor_name, &g->tensor_slots, &g->n_tensor_slots, &da, &db,
                     &nomem)) {
        if (nomem) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", c->path);
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' appears twice (tensors %llu and %llu)",
                         c->path, SHOW(g->tensors[db].name), (ull)da, (ull)db);
    }

    /* the data section: after the tensor records, padded to the alignment */
    uint64_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    g->data_start = c->pos + pad; /* pos <= size and pad < 2^32: no wrap */
    uint64_t data_size = g->data_start <= c->size ? c->size - g->data_start : 0;
    const uint8_t *data = c->buf + (g->data_start <= c->size ? g->data_start : c->size);
    int with_data = c->avail == c->size; /* a prefix parse has no data to point at */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        r1c_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            if (g->data_start > c->size) /* the file ends inside the header's padding */
                return r1c_error(R1C_ERR_FORMAT,
                                 "%s: tensor '%s': %llu bytes at offset %llu end outside the data "
                                 "section, which would start at byte %llu, past the end of the "
                                 "file (%llu bytes; truncated?)",
                                 c->path, SHOW(t->name), (ull)t->nbytes, (ull)t->offset,
                                 (ull)g->data_start, (ull)c->size);
            return r1c_error(R1C_ERR_FORMAT,
                             "%s: tensor '%s': %llu bytes at offset %llu end outside the data "
                             "section (%llu bytes; file truncated?)",
                             c->path, SHOW(t->name), (ull)t->nbytes, (ull)t->offset, (ull)data_size);
        }
        t->data = with_data ? data + t->offset : NULL;
    }
    /* overlaps, on the non-empty tensors sorted by offset */
    if (g->n_tensors > 1) {
        sort_item *v = malloc((size_t)g->n_tensors * sizeof *v);
        if (!v) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", c->path);
        uint64_t m = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++)
            if (g->tensors[i].nbytes) v[m++] = (sort_item){g->tensors[i].offset, i};
        qsort(v, (size_t)m, sizeof *v, cmp_item);
        for (uint64_t k = 1; k < m; k++) {
            const r1c_gguf_tensor *a = &g->tensors[v[k - 1].idx], *b = &g->tensors[v[k].idx];
            if (a->offset + a->nbytes > b->offset) {
                shown an = show(a->name.p, a->name.n);
                r1c_status st = r1c_error(
                    R1C_ERR_FORMAT,
                    "%s: tensor '%s' [%llu, %llu) overlaps tensor '%s' [%llu, %llu)", c->path,
                    SHOW(b->name), (ull)b->offset, (ull)(b->offset + b->nbytes), an.s,
                    (ull)a->offset, (ull)(a->offset + a->nbytes));
                free(v);
                return st;
            }
        }
        free(v);
    }
    return R1C_OK;
}

static void free_parsed(r1c_gguf *g) {
    for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].arr_str);
    free(g->kv);
    free(g->tensors);
    free(g->kv_slots);
    free(g->tensor_slots);
    free(g->path);
    r1c_blob_free(&g->blob);
    memset(g, 0, sizeof *g);
}

static r1c_status parse_impl(const char *path, const uint8_t *buf, uint64_t avail, uint64_t size,
                             r1c_gguf *out, uint64_t *want) {
    memset(out, 0, sizeof *out);
    cur c = {.path = path, .buf = buf, .avail = avail, .size = size};
    r1c_status st = parse_body(&c, out);
    if (st == R1C_OK && !(out->path = strdup(path)))
        st = r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
    if (st != R1C_OK) {
        free_parsed(out);
        if (want) *want = c.want;
    }
    return st;
}

r1c_status r1c_gguf_parse(const char *path, const uint8_t *buf, size_t len, r1c_gguf *out) {
    if (!path) path = "(memory)";
    if (!buf && len) {
        memset(out, 0, sizeof *out);
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: no buffer", path);
    }
    static const uint8_t empty[1];
    return parse_impl(path, buf ? buf : empty, len, len, out, NULL);
}

void r1c_gguf_close(r1c_gguf *g) {
    if (g) free_parsed(g);
}

r1c_status r1c_gguf_open(const char *path, int use_mmap, r1c_gguf *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return r1c_error(errno == ENOENT ? R1C_ERR_MISSING : R1C_ERR_IO, "%s: cannot open: %s", path,
                         strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return r1c_error(R1C_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    /* validate the header from a growing prefix: a bad file is refused before it is loaded */
    uint64_t have = 0, len = size < (1u << 20) ? size : (1u << 20);
    uint8_t *head = NULL;
    r1c_status st;
    r1c_gguf tmp;
    for (;;) {
        uint8_t *nh = realloc(head, (size_t)(len ? len : 1));
        if (!nh) {
            st = r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        head = nh;
        if ((st = r1c_pread_exact(fd, head + have, (size_t)(len - have), have, path)) != R1C_OK) break;
        have = len;
        uint64_t want = 0;
        st = parse_impl(path, head, have, size, &tmp, &want);
        if (st != NEED_MORE) break;
        len = len * 4 > want ? len * 4 : want;
        if (len > size) len = size;
    }
    free(head);
    close(fd);
    if (st != R1C_OK) return st;
    uint64_t data_start = tmp.data_start < size ? tmp.data_start : size;
    r1c_gguf_close(&tmp);

    r1c_blob blob;
    if ((st = r1c_blob_load(path, use_mmap, (size_t)data_start, &blob)) != R1C_OK) return st;
    /* the header was checked against the size seen first: a file changed since is refused */
    if (blob.size != size) {
        r1c_blob_free(&blob);
        return r1c_error(R1C_ERR_IO, "%s: file changed size while loading (%llu, then %zu bytes)",
                         path, (ull)size, blob.size);
    }
    st = parse_impl(path, blob.data, blob.size, blob.size, out, NULL);
    if (st != R1C_OK) {
        r1c_blob_free(&blob);
        return st == NEED_MORE ? r1c_error(R1C_ERR_IO, "%s: internal error", path) : st;
    }
    out->blob = blob;
    return R1C_OK;
}

/* ------------------------------------------------------------------ lookup */

const r1c_gguf_kv *r1c_gguf_find(const r1c_gguf *g, const char *key) {
    int64_t i = index_lookup(g, g->kv_slots, g->n_kv_slots, kv_name, key);
    return i < 0 ? NULL : &g->kv[i];
}

const r1c_gguf_tensor *r1c_gguf_find_tensor(const r1c_gguf *g, const char *name) {
    int64_t i = index_lookup(g, g->tensor_slots, g->n_tensor_slots, tensor_name, name);
    return i < 0 ? NULL : &g->tensors[i];
}

/* "u32" or "array of string" */
static const char *kv_type_desc(const r1c_gguf_kv *kv, char *buf, size_t cap) {
    if (kv->type != R1C_GGUF_ARRAY) return r1c_gguf_type_name(kv->type);
    snprintf(buf, cap, "array of %s", r1c_gguf_type_name(kv->arr_type));
    return buf;
}

static r1c_status get_kv(const r1c_gguf *g, const char *key, const r1c_gguf_kv **kv) {
    *kv = r1c_gguf_find(g, key);
    if (!*kv) return r1c_error(R1C_ERR_MISSING, "%s: key '%s' is missing", g->path, key);
    return R1C_OK;
}

static r1c_status wrong_type(const r1c_gguf *g, const char *key, const r1c_gguf_kv *kv,
                             const char *want) {
    char b[64];
    return r1c_error(R1C_ERR_FORMAT, "%s: key '%s' has type %s, expected %s", g->path, key,
                     kv_type_desc(kv, b, sizeof b), want);
}

static r1c_status get_int(const r1c_gguf *g, const char *key, const char *want, int64_t lo,
                          uint64_t hi, uint64_t *u, int64_t *s) {
    const r1c_gguf_kv *kv;
    TRY(get_kv(g, key, &kv));
    if (!is_int_type(kv->type)) return wrong_type(g, key, kv, want);
    if (is_signed_type(kv->type)) {
        if (kv->v.i < lo || (kv->v.i >= 0 && (uint64_t)kv->v.i > hi))
            return r1c_error(R1C_ERR_FORMAT, "%s: key '%s' value %lld (%s) does not fit %s", g->path,
                             key, (long long)kv->v.i, r1c_gguf_type_name(kv->type), want);
        *s = kv->v.i;
        *u = (uint64_t)kv->v.i;
    } else {
        if (kv->v.u > hi)
            return r1c_error(R1C_ERR_FORMAT, "%s: key '%s' value %llu (%s) does not fit %s", g->path,
                             key, (ull)kv->v.u, r1c_gguf_type_name(kv->type), want);
        *u = kv->v.u;
        *s = (int64_t)kv->v.u;
    }
    return R1C_OK;
}

r1c_status r1c_gguf_get_u32(const r1c_gguf *g, const char *key, uint32_t *out) {
    uint64_t u;
    int64_t s;
    TRY(get_int(g, key, "u32", 0, UINT32_MAX, &u, &s));
    *out = (uint32_t)u;
    return R1C_OK;
}

r1c_status r1c_gguf_get_i64(const r1c_gguf *g, const char *key, int64_t *out) {
    uint64_t u;
    int64_t s;
    TRY(get_int(g, key, "i64", INT64_MIN, (uint64_t)INT64_MAX, &u, &s));
    *out = s;
    return R1C_OK;
}

r1c_status r1c_gguf_get_f32(const r1c_gguf *g, const char *key, float *out) {
    const r1c_gguf_kv *kv;
    TRY(get_kv(g, key, &kv));
    if (kv->type != R1C_GGUF_FLOAT32 && kv->type != R1C_GGUF_FLOAT64)
        return wrong_type(g, key, kv, "f32");
    float f = (float)kv->v.f;
    if (isfinite(kv->v.f) && !isfinite(f))
        return r1c_error(R1C_ERR_FORMAT, "%s: key '%s' value %g (f64) does not fit f32", g->path,
                         key, kv->v.f);
    *out = f;
    return R1C_OK;
}

r1c_status r1c_gguf_get_bool(const r1c_gguf *g, const char *key, int *out) {
    const r1c_gguf_kv *kv;
    TRY(get_kv(g, key, &kv));
    if (kv->type != R1C_GGUF_BOOL) return wrong_type(g, key, kv, "bool");
    *out = kv->v.b;
    return R1C_OK;
}

r1c_status r1c_gguf_get_str(const r1c_gguf *g, const char *key, r1c_gguf_str *out) {
    const r1c_gguf_kv *kv;
    TRY(get_kv(g, key, &kv));
    if (kv->type != R1C_GGUF_STRING) return wrong_type(g, key, kv, "string");
    *out = kv->v.s;
    return R1C_OK;
}

/* ------------------------------------------------------------------ writing */

typedef struct wkv {
    char *key;
    uint8_t *val; /* type and value as in the file */
    size_t val_n;
} wkv;

typedef struct wtensor {
    char *name;
    r1c_dtype dtype;
    int n_dims;
    uint64_t ne[4];
    uint64_t nbytes;
    const void *data;
} wtensor;

struct r1c_gguf_writer {
    char *path;
    wkv *kv;
    uint64_t n_kv, cap_kv;
    wtensor *t;
    uint64_t n_t, cap_t;
    uint64_t alignment;
    /* streaming (r1c_gguf_add_tensor_info ... r1c_gguf_writer_end) */
    int streaming;
    FILE *fp;             /* open between begin and end */
    uint64_t cur, cur_done; /* tensor being written, its bytes so far */
};

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* one element of a numeric type, host order at src -> little-endian at dst */
static void put_elem(uint8_t *dst, const void *src, r1c_gguf_type t) {
    uint64_t v = 0;
    switch (g_type_size[t]) {
    case 1: v = *(const uint8_t *)src; break;
    case 2: { uint16_t x; memcpy(&x, src, 2); v = x; break; }
    case 4: { uint32_t x; memcpy(&x, src, 4); v = x; break; }
    case 8: memcpy(&v, src, 8); break;
    }
    put_le(dst, v, g_type_size[t]);
}

r1c_status r1c_gguf_writer_new(const char *path, r1c_gguf_writer **out) {
    *out = NULL;
    r1c_gguf_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    w->alignment = R1C_GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return R1C_OK;
}

void r1c_gguf_writer_free(r1c_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (uint64_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    if (w->fp) { /* a streamed file that was not finished: not left half written */
        fclose(w->fp);
        unlink(w->path);
    }
    free(w->kv);
    free(w->t);
    free(w->path);
    free(w);
}

/* scalar_type: the type add_scalar is given, or R1C_GGUF_STRING / ARRAY for the others */
static r1c_status check_key(r1c_gguf_writer *w, const char *key, r1c_gguf_type type) {
    if (!key || !*key) return r1c_error(R1C_ERR_INVALID_ARG, "%s: empty key", w->path);
    size_t n = strlen(key);
    if (n > R1C_GGUF_MAX_KEY)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: key of %zu bytes (at most %u)", w->path, n,
                         R1C_GGUF_MAX_KEY);
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            return r1c_error(R1C_ERR_INVALID_ARG, "%s: key '%s' added twice", w->path,
                             show(key, n).s);
    if (type != R1C_GGUF_UINT32 && strcmp(key, "general.alignment") == 0)
        return r1c_error(R1C_ERR_INVALID_ARG,
                         "%s: key 'general.alignment' must be a u32 power of two, not %s", w->path,
                         r1c_gguf_type_name(type));
    return R1C_OK;
}

/* takes val (malloc'd, type + value bytes) */
static r1c_status push_kv(r1c_gguf_writer *w, const char *key, uint8_t *val, size_t val_n) {
    char *k = strdup(key);
    if (!k || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv, 16)) {
        free(k);
        free(val);
        return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", w->path);
    }
    w->kv[w->n_kv++] = (wkv){k, val, val_n};
    return R1C_OK;
}

r1c_status r1c_gguf_add_scalar(r1c_gguf_writer *w, const char *key, r1c_gguf_type type,
                               const void *value) {
    if ((unsigned)type >= R1C_GGUF_TYPE_COUNT || type == R1C_GGUF_STRING || type == R1C_GGUF_ARRAY)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: key '%s': %s is not a scalar type", w->path, key,
                         r1c_gguf_type_name(type));
    TRY(check_key(w, key, type));
    if (type == R1C_GGUF_BOOL && *(const uint8_t *)value > 1)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: key '%s': bool value %u (must be 0 or 1)",
                         w->path, key, *(const uint8_t *)value);
    if (strcmp(key, "general.alignment") == 0) {
        uint32_t a;
        memcpy(&a, value, 4);
        if (a == 0 || (a & (a - 1)))
            return r1c_error(R1C_ERR_INVALID_ARG,
                             "%s: key 'general.alignment' must be a u32 power of two, not %u",
                             w->path, a);
        w->alignment = a;
    }
    uint8_t *val = malloc(4 + 8);
    if (!val) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", w->path);
    put_le(val, (uint64_t)type, 4);
    put_elem(val + 4, value, type);
    return push_kv(w, key, val, 4 + (size_t)g_type_size[type]);
}

r1c_status r1c_gguf_add_u32(r1c_gguf_writer *w, const char *key, uint32_t v) {
    return r1c_gguf_add_scalar(w, key, R1C_GGUF_UINT32, &v);
}
r1c_status r1c_gguf_add_i32(r1c_gguf_writer *w, const char *key, int32_t v) {
    return r1c_gguf_add_scalar(w, key, R1C_GGUF_INT32, &v);
}
r1c_status r1c_gguf_add_u64(r1c_gguf_writer *w, const char *key, uint64_t v) {
    return r1c_gguf_add_scalar(w, key, R1C_GGUF_UINT64, &v);
}
r1c_status r1c_gguf_add_f32(r1c_gguf_writer *w, const char *key, float v) {
    return r1c_gguf_add_scalar(w, key, R1C_GGUF_FLOAT32, &v);
}
r1c_status r1c_gguf_add_bool(r1c_gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return r1c_gguf_add_scalar(w, key, R1C_GGUF_BOOL, &b);
}

r1c_status r1c_gguf_add_str(r1c_gguf_writer *w, const char *key, const char *v) {
    TRY(check_key(w, key, R1C_GGUF_STRING));
    size_t n = strlen(v);
    uint8_t *val = malloc(12 + n);
    if (!val) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", w->path);
    put_le(val, R1C_GGUF_STRING, 4);
    put_le(val + 4, n, 8);
    memcpy(val + 12, v, n);
    return push_kv(w, key, val, 12 + n);
}

r1c_status r1c_gguf_add_arr_str(r1c_gguf_writer *w, const char *key, const char *const *strs,
                                const uint64_t *lens, uint64_t n) {
    TRY(check_key(w, key, R1C_GGUF_ARRAY));
    size_t total = 16;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = lens ? lens[i] : strlen(strs[i]);
        if (l > SIZE_MAX - total - 8)
            return r1c_error(R1C_ERR_INVALID_ARG, "%s: key '%s': strings too long", w->path, key);
        total += 8 + (size_t)l;
    }
    uint8_t *val = malloc(total);
    if (!val) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", w->path);
    put_le(val, R1C_GGUF_ARRAY, 4);
    put_le(val + 4, R1C_GGUF_STRING, 4);
    put_le(val + 8, n, 8);
    size_t k = 16;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = lens ? lens[i] : strlen(strs[i]);
        put_le(val + k, l, 8);
        if (l) memcpy(val + k + 8, strs[i], (size_t)l);
        k += 8 + (size_t)l;
    }
    return push_kv(w, key, val, total);
}

r1c_status r1c_gguf_add_arr(r1c_gguf_writer *w, const char *key, r1c_gguf_type et,
                            const void *elems, uint64_t n) {
    TRY(check_key(w, key, R1C_GGUF_ARRAY));
    if ((unsigned)et >= R1C_GGUF_TYPE_COUNT || et == R1C_GGUF_STRING || et == R1C_GGUF_ARRAY)
        return r1c_error(R1C_ERR_INVALID_ARG,
                         "%s: key '%s': r1c_gguf_add_arr takes numbers or bools, not %s", w->path,
                         key, r1c_gguf_type_name(et));
    size_t esz = g_type_size[et];
    if (n > (SIZE_MAX - 16) / esz)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: key '%s': array too long", w->path, key);
    const uint8_t *src = elems;
    if (et == R1C_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (src[i] > 1)
                return r1c_error(R1C_ERR_INVALID_ARG,
                                 "%s: key '%s': bool element %llu is %u (must be 0 or 1)", w->path,
                                 key, (ull)i, src[i]);
    uint8_t *val = malloc(16 + (size_t)n * esz);
    if (!val) return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", w->path);
    put_le(val, R1C_GGUF_ARRAY, 4);
    put_le(val + 4, (uint64_t)et, 4);
    put_le(val + 8, n, 8);
    for (uint64_t i = 0; i < n; i++) put_elem(val + 16 + i * esz, src + i * esz, et);
    return push_kv(w, key, val, 16 + (size_t)n * esz);
}

r1c_status r1c_gguf_add_tensor(r1c_gguf_writer *w, const char *name, r1c_dtype dtype, int n_dims,
                               const uint64_t *ne, const void *data) {
    if (!name || !*name) return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor with an empty name", w->path);
    size_t nl = strlen(name);
    shown sn = show(name, nl);
    if (nl > R1C_GGUF_MAX_NAME)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s': name of %zu bytes (at most %u)",
                         w->path, sn.s, nl, R1C_GGUF_MAX_NAME);
    for (uint64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s' added twice", w->path, sn.s);
    if (r1c_gguf_ggml_type_of(dtype) < 0)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be written to GGUF",
                         w->path, sn.s, r1c_dtype_name(dtype));
    if (n_dims < 1 || n_dims > R1C_GGUF_MAX_DIMS)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s': n_dims %d (must be 1 to %d)",
                         w->path, sn.s, n_dims, R1C_GGUF_MAX_DIMS);
    wtensor t = {.dtype = dtype, .n_dims = n_dims, .data = data, .ne = {1, 1, 1, 1}};
    uint64_t prod = 1;
    for (int d = 0; d < n_dims; d++) {
        t.ne[d] = ne[d];
        if (ne[d] > (uint64_t)INT64_MAX ||
            (ne[d] && (__builtin_mul_overflow(prod, ne[d], &prod) || prod > (uint64_t)INT64_MAX)))
            return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s': shape too large", w->path, sn.s);
    }
    uint64_t blk = (uint64_t)r1c_dtype_block(dtype), bb = (uint64_t)r1c_dtype_block_bytes(dtype);
    if (t.ne[0] % blk)
        return r1c_error(R1C_ERR_INVALID_ARG,
                         "%s: tensor '%s': %s rows of %llu elements are not a multiple of the block "
                         "size %llu",
                         w->path, sn.s, r1c_dtype_name(dtype), (ull)t.ne[0], (ull)blk);
    uint64_t nb;
    int ovf = __builtin_mul_overflow(t.ne[0] / blk, bb, &nb);
    for (int d = 1; d < 4; d++) ovf |= __builtin_mul_overflow(nb, t.ne[d], &nb);
    if (ovf || nb > SIZE_MAX)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s': size in bytes overflows", w->path, sn.s);
    t.nbytes = nb;
    if (nb && !data)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s': no data", w->path, sn.s);
    if (!(t.name = strdup(name)) || !grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t, 16)) {
        free(t.name);
        return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", w->path);
    }
    w->t[w->n_t++] = t;
    return R1C_OK;
}

static int wr(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n; }
static int wr_u32(FILE *fp, uint64_t v) {
    uint8_t b[4];
    put_le(b, v, 4);
    return wr(fp, b, 4);
}
static int wr_u64(FILE *fp, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, 8);
    return wr(fp, b, 8);
}
static int wr_zeros(FILE *fp, uint64_t n) {
    static const uint8_t z[256];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        if (!wr(fp, z, k)) return 0;
        n -= k;
    }
    return 1;
}

/* The header: magic, version, counts, metadata, tensor records (offsets from the sizes, each
 * tensor padded to the alignment), then padding up to the data section. 1 when written. */
static int write_header(const r1c_gguf_writer *w, FILE *fp) {
    const uint64_t A = w->alignment;
    int ok = wr(fp, "GGUF", 4) && wr_u32(fp, 3) && wr_u64(fp, w->n_t) && wr_u64(fp, w->n_kv);
    uint64_t pos = 24;
    for (uint64_t i = 0; ok && i < w->n_kv; i++) {
        size_t kn = strlen(w->kv[i].key);
        ok = wr_u64(fp, kn) && wr(fp, w->kv[i].key, kn) && wr(fp, w->kv[i].val, w->kv[i].val_n);
        pos += 8 + kn + w->kv[i].val_n;
    }
    uint64_t off = 0;
    for (uint64_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        ok = wr_u64(fp, nl) && wr(fp, t->name, nl) && wr_u32(fp, (uint64_t)t->n_dims);
        for (int d = 0; ok && d < t->n_dims; d++) ok = wr_u64(fp, t->ne[d]);
        ok = ok && wr_u32(fp, (uint64_t)r1c_gguf_ggml_type_of(t->dtype)) && wr_u64(fp, off);
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        off += (t->nbytes + A - 1) / A * A;
    }
    ok = ok && wr_zeros(fp, (A - pos % A) % A);
    return ok;
}

r1c_status r1c_gguf_writer_finish(r1c_gguf_writer *w) {
    if (w->streaming)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensors added without data are written with r1c_gguf_writer_begin", w->path);
    FILE *fp = fopen(w->path, "wb");
    if (!fp) return r1c_error(R1C_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
    const uint64_t A = w->alignment;
    int ok = write_header(w, fp);
    for (uint64_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        ok = wr(fp, t->data, (size_t)t->nbytes) && wr_zeros(fp, (A - t->nbytes % A) % A);
    }
    int saved = errno;
    if (fclose(fp) != 0) ok = 0, saved = errno;
    if (!ok) {
        unlink(w->path);
        return r1c_error(R1C_ERR_IO, "%s: write failed: %s", w->path, strerror(saved));
    }
    return R1C_OK;
}

/* ---- streaming: the header first, then each tensor's bytes in order ---- */

r1c_status r1c_gguf_add_tensor_info(r1c_gguf_writer *w, const char *name, r1c_dtype dtype, int n_dims,
                                    const uint64_t *ne) {
    if (w->fp) return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s' added after the header was written", w->path, name);
    /* a placeholder pointer passes the data check; the bytes come through r1c_gguf_writer_write */
    r1c_status st = r1c_gguf_add_tensor(w, name, dtype, n_dims, ne, w);
    if (st != R1C_OK) return st;
    w->t[w->n_t - 1].data = NULL;
    w->streaming = 1;
    return R1C_OK;
}

uint64_t r1c_gguf_writer_tensor_bytes(const r1c_gguf_writer *w, uint64_t i) {
    return i < w->n_t ? w->t[i].nbytes : 0;
}

r1c_status r1c_gguf_writer_begin(r1c_gguf_writer *w) {
    for (uint64_t i = 0; i < w->n_t; i++)
        if (w->t[i].data) return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s' was added with data: use r1c_gguf_writer_finish", w->path, w->t[i].name);
    if (w->fp) return r1c_error(R1C_ERR_INVALID_ARG, "%s: header already written", w->path);
    FILE *fp = fopen(w->path, "wb");
    if (!fp) return r1c_error(R1C_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
    w->streaming = 1;
    const int ok = write_header(w, fp);
    w->fp = fp;
    w->cur = w->cur_done = 0;
    if (!ok) return r1c_error(R1C_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    return R1C_OK;
}

/* pads finished tensors (and skips empty ones) so w->cur is the next one with bytes to come */
static int stream_advance(r1c_gguf_writer *w) {
    const uint64_t A = w->alignment;
    while (w->cur < w->n_t && w->cur_done == w->t[w->cur].nbytes) {
        if (!wr_zeros(w->fp, (A - w->t[w->cur].nbytes % A) % A)) return 0;
        w->cur++;
        w->cur_done = 0;
    }
    return 1;
}

r1c_status r1c_gguf_writer_write(r1c_gguf_writer *w, const void *data, size_t n) {
    if (!w->fp) return r1c_error(R1C_ERR_INVALID_ARG, "%s: r1c_gguf_writer_begin first", w->path);
    const uint8_t *p = data;
    while (n) {
        if (!stream_advance(w)) return r1c_error(R1C_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
        if (w->cur == w->n_t)
            return r1c_error(R1C_ERR_INVALID_ARG, "%s: %zu bytes more than the tensors hold", w->path, n);
        uint64_t room = w->t[w->cur].nbytes - w->cur_done;
        size_t k = n < room ? n : (size_t)room;
        if (!wr(w->fp, p, k)) return r1c_error(R1C_ERR_IO, "%s: write failed (tensor '%s'): %s", w->path, w->t[w->cur].name, strerror(errno));
        w->cur_done += k, p += k, n -= k;
    }
    return R1C_OK;
}

r1c_status r1c_gguf_writer_end(r1c_gguf_writer *w) {
    if (!w->fp) return r1c_error(R1C_ERR_INVALID_ARG, "%s: r1c_gguf_writer_begin first", w->path);
    int ok = stream_advance(w);
    if (ok && w->cur < w->n_t)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s' has %llu of its %llu bytes", w->path, w->t[w->cur].name,
                         (ull)w->cur_done, (ull)w->t[w->cur].nbytes);
    int saved = errno;
    FILE *fp = w->fp;
    w->fp = NULL;
    if (fclose(fp) != 0) ok = 0, saved = errno;
    if (!ok) {
        unlink(w->path);
        return r1c_error(R1C_ERR_IO, "%s: write failed: %s", w->path, strerror(saved));
    }
    return R1C_OK;
}
