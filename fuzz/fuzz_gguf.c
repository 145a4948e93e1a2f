/* fuzz_gguf.c — libFuzzer target for the GGUF reader (r1c_gguf_parse on the input as a whole
 * file).
 *
 * Beyond "no crash", an accepted file must keep its promises, checked here: every string and
 * array element and every tensor byte lies inside the input (all are read, so ASan sees any
 * lie), sizes agree with type x shape, offsets are aligned, tensors do not overlap, names are
 * unique and the indexes find each entry, and the getters behave on every key. A rejection
 * must leave a message and an empty result. Any broken promise aborts, which libFuzzer
 * reports. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"
#include "r1c.h"

static volatile uint8_t g_sink;

static const uint8_t *g_lo, *g_hi;

/* [p, p + n) inside the input; reads every byte */
static uint8_t touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    if (n == 0) return 0;
    if (!b || b < g_lo || b > g_hi || n > (uint64_t)(g_hi - b)) abort();
    uint8_t acc = 0;
    for (uint64_t i = 0; i < n; i++) acc ^= b[i];
    return acc;
}

static int same(r1c_gguf_str a, r1c_gguf_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    r1c_gguf g;
    r1c_status st = r1c_gguf_parse("fuzz.gguf", data, size, &g);
    if (st != R1C_OK) {
        static const r1c_gguf zero;
        if (!r1c_last_error()[0] || memcmp(&g, &zero, sizeof g) != 0) abort();
        if (strchr(r1c_last_error(), '\n')) abort();
        return 0;
    }
    g_lo = data;
    g_hi = data + size;
    uint8_t acc = 0;
    if (g.version != 2 && g.version != 3) abort();
    if (!g.alignment || (g.alignment & (g.alignment - 1)) || g.data_start % g.alignment) abort();
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const r1c_gguf_kv *kv = &g.kv[i];
        if (kv->key.n == 0 || memchr(kv->key.p, 0, kv->key.n)) abort();
        acc ^= touch(kv->key.p, kv->key.n);
        if ((unsigned)kv->type >= R1C_GGUF_TYPE_COUNT) abort();
        if (kv->type == R1C_GGUF_STRING) acc ^= touch(kv->v.s.p, kv->v.s.n);
        if (kv->type == R1C_GGUF_BOOL && kv->v.b != 0 && kv->v.b != 1) abort();
        if (kv->type == R1C_GGUF_ARRAY) {
            if (kv->arr_type == R1C_GGUF_ARRAY || (unsigned)kv->arr_type >= R1C_GGUF_TYPE_COUNT) abort();
            if (kv->arr_type == R1C_GGUF_STRING) {
                if (kv->arr_n && !kv->arr_str) abort();
                for (uint64_t j = 0; j < kv->arr_n; j++) acc ^= touch(kv->arr_str[j].p, kv->arr_str[j].n);
            } else {
                static const uint8_t esz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
                acc ^= touch(kv->arr, kv->arr_n * esz[kv->arr_type]); /* cannot wrap: checked */
                if (kv->arr_type == R1C_GGUF_BOOL)
                    for (uint64_t j = 0; j < kv->arr_n; j++)
                        if (kv->arr[j] > 1) abort();
            }
        }
        /* the index finds the entry itself (keys are unique) */
        char key[256];
        if (kv->key.n < sizeof key) {
            memcpy(key, kv->key.p, kv->key.n);
            key[kv->key.n] = 0;
            if (r1c_gguf_find(&g, key) != kv) abort();
            uint32_t u;
            int64_t s;
            float f;
            int b;
            r1c_gguf_str str;
            /* each getter either works or explains itself */
            if (r1c_gguf_get_u32(&g, key, &u) != R1C_OK && !r1c_last_error()[0]) abort();
            if (r1c_gguf_get_i64(&g, key, &s) != R1C_OK && !r1c_last_error()[0]) abort();
            if (r1c_gguf_get_f32(&g, key, &f) != R1C_OK && !r1c_last_error()[0]) abort();
            if (r1c_gguf_get_bool(&g, key, &b) != R1C_OK && !r1c_last_error()[0]) abort();
            if (r1c_gguf_get_str(&g, key, &str) == R1C_OK && !same(str, kv->v.s)) abort();
        }
        for (uint64_t j = 0; j < i && j < 64; j++)
            if (same(g.kv[j].key, kv->key)) abort();
    }
    uint64_t data_size = g.data_start <= size ? size - g.data_start : 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const r1c_gguf_tensor *t = &g.tensors[i];
        if (t->name.n == 0 || memchr(t->name.p, 0, t->name.n)) abort();
        acc ^= touch(t->name.p, t->name.n);
        if (t->n_dims < 1 || t->n_dims > 4 || t->offset % g.alignment) abort();
        if (t->offset > data_size || t->nbytes > data_size - t->offset) abort();
        uint64_t blk = (uint64_t)r1c_dtype_block(t->dtype), numel = 1;
        for (int d = 0; d < 4; d++) {
            if (d >= t->n_dims && t->ne[d] != 1) abort();
            numel *= t->ne[d]; /* cannot wrap: the parser checked the product */
        }
        if (t->ne[0] % blk) abort();
        if (numel / blk * (uint64_t)r1c_dtype_block_bytes(t->dtype) != t->nbytes) abort();
        if (t->nbytes && t->data != data + g.data_start + t->offset) abort();
        acc ^= touch(t->data, t->nbytes);
        if ((int)t->ggml_type != r1c_gguf_ggml_type_of(t->dtype)) abort();
        char name[256];
        if (t->name.n < sizeof name) {
            memcpy(name, t->name.p, t->name.n);
            name[t->name.n] = 0;
            if (r1c_gguf_find_tensor(&g, name) != t) abort();
        }
        for (uint64_t j = 0; j < i && j < 64; j++) {
            const r1c_gguf_tensor *o = &g.tensors[j];
            if (same(o->name, t->name)) abort();
            if (t->nbytes && o->nbytes && t->offset < o->offset + o->nbytes && o->offset < t->offset + t->nbytes)
                abort();
        }
    }
    g_sink = acc;
    r1c_gguf_close(&g);
    return 0;
}
