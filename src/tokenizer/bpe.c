/* bpe.c — byte-pair merging of one pre-token.
 *
 * Symbols start as single bytes and live in a doubly linked list; candidate pairs wait in a
 * min-heap ordered by (merge rank, position), so the lowest-ranked pair merges first and the
 * leftmost among equals, as the tokenizers library does. A popped pair that no longer exists
 * (one side merged away) is skipped. O(n log n): a 20 KB word costs milliseconds. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "tokenizer.h"

r1c_status r1c_ids_push(r1c_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? 2 * ids->cap : 64;
        int32_t *v = realloc(ids->v, sizeof *v * cap);
        if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        ids->v = v, ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return R1C_OK;
}

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t r1c_vocab_find(const r1c_tokenizer *t, const char *s, size_t len) {
    for (uint32_t h = hash_bytes(s, len) & t->vocab_mask;; h = (h + 1) & t->vocab_mask) {
        int32_t id = t->vocab_slots[h] - 1;
        if (id < 0) return -1;
        if (t->tok_len[id] == len && memcmp(t->tok_bytes + t->tok_off[id], s, len) == 0) return id;
    }
}

static inline uint32_t hash_pair(uint64_t k) { return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 32); }

/* rank of merging (a, b), or -1 */
static inline int64_t merge_find(const r1c_tokenizer *t, int32_t a, int32_t b, int32_t *result) {
    uint64_t key = (uint64_t)(uint32_t)(a + 1) << 32 | (uint32_t)(b + 1);
    for (uint32_t h = hash_pair(key) & t->merge_mask;; h = (h + 1) & t->merge_mask) {
        const struct r1c_merge_slot *m = &t->merges[h];
        if (m->key == 0) return -1;
        if (m->key == key) {
            *result = m->result;
            return m->rank;
        }
    }
}

/* ------------------------------------------------------------------ cache */

/* Words repeat ("the", " of", ...): a word's ids are kept in a cache that lives with the
 * tokenizer and is shared by every call and thread, as the tokenizers library's BPE cache is.
 * It only grows: an entry is written completely, then published with a release store of its
 * slot, so readers need no lock (acquire load, then compare the key); writers take a mutex.
 * When its arenas fill up it stops growing — lookups stay correct, misses just compute. */
#define CACHE_SLOTS (1u << 16)
#define CACHE_ENTRIES (1u << 15)
#define CACHE_KEY_BYTES (1u << 20)
#define CACHE_IDS (1u << 18)
#define CACHE_MAX_WORD 64

typedef struct centry {
    uint32_t key_off, key_len, ids_off, n_ids;
} centry;

struct r1c_bpe_cache {
    _Atomic uint64_t *slots; /* 0: empty; else hash << 32 | (entry + 1) */
    centry *entries;
    char *keys;
    int32_t *ids;
    uint32_t n_entries, keys_n, ids_n;
    pthread_mutex_t lock;
};

r1c_bpe_cache *r1c_bpe_cache_new(void) {
    r1c_bpe_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
    c->entries = malloc(sizeof *c->entries * CACHE_ENTRIES);
    c->keys = malloc(CACHE_KEY_BYTES);
    c->ids = malloc(sizeof *c->ids * CACHE_IDS);
    if (!c->slots || !c->entries || !c->keys || !c->ids) {
        r1c_bpe_cache_free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void r1c_bpe_cache_free(r1c_bpe_cache *c) {
    if (!c) return;
    if (c->slots) pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c->entries);
    free(c->keys);
    free(c->ids);
    free(c);
}

/* the entry for w, or NULL */
static const centry *cache_get(r1c_bpe_cache *c, const char *w, size_t len, uint32_t h) {
    for (uint32_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        uint64_t v = atomic_load_explicit(&c->slots[i], memory_order_acquire);
        if (v == 0) return NULL;
        if ((uint32_t)(v >> 32) != h) continue;
        const centry *e = &c->entries[(uint32_t)v - 1];
        if (e->key_len == len && memcmp(c->keys + e->key_off, w, len) == 0) return e;
    }
}

static void cache_put(r1c_bpe_cache *c, const char *w, size_t len, uint32_t h, const int32_t *ids, size_t n) {
    pthread_mutex_lock(&c->lock);
    if (c->n_entries < CACHE_ENTRIES && c->keys_n + len <= CACHE_KEY_BYTES && c->ids_n + n <= CACHE_IDS &&
        c->n_entries < CACHE_SLOTS / 2 && !cache_get(c, w, len, h)) {
        centry *e = &c->entries[c->n_entries];
        memcpy(c->keys + c->keys_n, w, len);
        memcpy(c->ids + c->ids_n, ids, sizeof *ids * n);
        *e = (centry){c->keys_n, (uint32_t)len, c->ids_n, (uint32_t)n};
        c->keys_n += (uint32_t)len, c->ids_n += (uint32_t)n;
        uint32_t i = h & (CACHE_SLOTS - 1);
        while (atomic_load_explicit(&c->slots[i], memory_order_relaxed)) i = (i + 1) & (CACHE_SLOTS - 1);
        c->n_entries++;
        atomic_store_explicit(&c->slots[i], (uint64_t)h << 32 | c->n_entries, memory_order_release);
    }
    pthread_mutex_unlock(&c->lock);
}

/* -------------------------------------------------------------------- heap */

typedef struct cand {
    uint32_t rank, pos;
    int32_t left, right, result;
} cand;

static inline int cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

typedef struct heap {
    cand *v;
    size_t n, cap;
} heap;

static r1c_status heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        cand *v = realloc(h->v, sizeof *v * cap);
        if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        h->v = v, h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return R1C_OK;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < h->n && cand_less(&h->v[l], best)) m = l, best = &h->v[l];
        if (r < h->n && cand_less(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* --------------------------------------------------------------------- BPE */

static r1c_status try_pair(const r1c_tokenizer *t, heap *h, const int32_t *id, const int32_t *next, int32_t pos) {
    if (pos < 0 || next[pos] < 0) return R1C_OK;
    int32_t res;
    int64_t rank = merge_find(t, id[pos], id[next[pos]], &res);
    if (rank < 0) return R1C_OK;
    return heap_push(h, (cand){(uint32_t)rank, (uint32_t)pos, id[pos], id[next[pos]], res});
}

static r1c_status merge_word(const r1c_tokenizer *t, const char *w, size_t n, r1c_ids *out) {
    int32_t stack_buf[3 * 64];
    int32_t *mem = n <= 64 ? stack_buf : malloc(sizeof(int32_t) * 3 * n);
    if (!mem) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    int32_t *id = mem, *prev = mem + n, *next = mem + 2 * n;
    for (size_t i = 0; i < n; i++) {
        id[i] = t->byte_id[(uint8_t)w[i]];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    heap h = {0};
    r1c_status st = R1C_OK;
    for (size_t i = 0; i + 1 < n && st == R1C_OK; i++) st = try_pair(t, &h, id, next, (int32_t)i);
    while (st == R1C_OK && h.n > 0) {
        cand c = heap_pop(&h);
        int32_t p = (int32_t)c.pos, q = next[p];
        if (id[p] != c.left || q < 0 || id[q] != c.right || prev[p] == -2) continue; /* stale */
        id[p] = c.result; /* q is absorbed into p */
        next[p] = next[q];
        if (next[q] >= 0) prev[next[q]] = p;
        prev[q] = -2;
        id[q] = -1;
        st = try_pair(t, &h, id, next, prev[p]);
        if (st == R1C_OK) st = try_pair(t, &h, id, next, p);
    }
    for (int32_t i = 0; st == R1C_OK && i >= 0 && n > 0; i = next[i]) st = r1c_ids_push(out, id[i]);
    free(h.v);
    if (mem != stack_buf) free(mem);
    return st;
}

r1c_status r1c_bpe_word(const r1c_tokenizer *t, const char *w, size_t len, r1c_ids *out, r1c_bpe_cache *cache) {
    if (len == 0) return R1C_OK;
    if (t->ignore_merges || len == 1) { /* Llama 3: a pre-token in the vocabulary is one token */
        int32_t id = r1c_vocab_find(t, w, len);
        if (id >= 0) return r1c_ids_push(out, id);
    }
    const int cached = cache && len <= CACHE_MAX_WORD;
    const uint32_t h = cached ? hash_bytes(w, len) : 0;
    if (cached) {
        const centry *e = cache_get(cache, w, len, h);
        if (e) {
            for (uint32_t i = 0; i < e->n_ids; i++) {
                r1c_status st = r1c_ids_push(out, cache->ids[e->ids_off + i]);
                if (st != R1C_OK) return st;
            }
            return R1C_OK;
        }
    }
    size_t before = out->n;
    r1c_status st = merge_word(t, w, len, out);
    if (st == R1C_OK && cached) cache_put(cache, w, len, h, out->v + before, out->n - before);
    return st;
}
