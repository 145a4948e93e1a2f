/* shard.c — token shards: writer, checked parser, and the dataset (manifest + mapped shards).
 * The format is described in shard.h. */
#include "train/shard.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"

uint64_t r1c_fnv1a64(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> 8 * k);
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v >> 8 * k);
}

/* ------------------------------------------------------------ parsing */

/* Header fields and the size they imply; the payload is not looked at yet. */
static r1c_status parse_header(const uint8_t *d, size_t size, const char *name, r1c_shard_view *s) {
    if (size < R1C_SHARD_HEADER_SIZE)
        return r1c_error(R1C_ERR_FORMAT, "%s: truncated: %zu bytes, smaller than the %d-byte header", name, size,
                         R1C_SHARD_HEADER_SIZE);
    if (memcmp(d, R1C_SHARD_MAGIC, 8) != 0)
        return r1c_error(R1C_ERR_FORMAT, "%s: bad magic (not an r1c token shard)", name);
    uint32_t version = rd32(d + 8);
    if (version != R1C_SHARD_VERSION)
        return r1c_error(R1C_ERR_FORMAT, "%s: bad version %" PRIu32 " (this build reads version %d)", name, version,
                         R1C_SHARD_VERSION);
    uint32_t width = rd32(d + 12);
    if (width != 2 && width != 4)
        return r1c_error(R1C_ERR_FORMAT, "%s: bad token width %" PRIu32 " (2 or 4)", name, width);
    s->width = (int)width;
    s->vocab_size = rd32(d + 16);
    if (s->vocab_size == 0 || (width == 2 && s->vocab_size > 65536))
        return r1c_error(R1C_ERR_FORMAT, "%s: bad vocab size %" PRIu32 " for %u-byte tokens", name, s->vocab_size,
                         width);
    s->n_docs = rd64(d + 24);
    s->n_tokens = rd64(d + 32);
    if (s->n_docs == 0) return r1c_error(R1C_ERR_FORMAT, "%s: no documents", name);
    /* bounds before multiplying, so the size arithmetic cannot wrap */
    if (s->n_tokens > (uint64_t)size / width || s->n_docs > (uint64_t)size / 8)
        return r1c_error(R1C_ERR_FORMAT, "%s: truncated: header says %" PRIu64 " tokens and %" PRIu64
                         " documents, file has %zu bytes", name, s->n_tokens, s->n_docs, size);
    uint64_t want = R1C_SHARD_HEADER_SIZE + s->n_tokens * width + (s->n_docs + 1) * 8;
    if ((uint64_t)size < want)
        return r1c_error(R1C_ERR_FORMAT, "%s: truncated: %zu bytes, the header implies %" PRIu64, name, size, want);
    if ((uint64_t)size > want)
        return r1c_error(R1C_ERR_FORMAT, "%s: %zu bytes, the header implies %" PRIu64 " (trailing data)", name, size,
                         want);
    s->tokens = d + R1C_SHARD_HEADER_SIZE;
    s->index = s->tokens + s->n_tokens * width;
    return R1C_OK;
}

static r1c_status check_index(const r1c_shard_view *s, const char *name) {
    if (r1c_shard_doc_start(s, 0) != 0)
        return r1c_error(R1C_ERR_FORMAT, "%s: index[0] is %" PRIu64 ", not 0", name, r1c_shard_doc_start(s, 0));
    uint64_t prev = 0;
    for (uint64_t i = 1; i <= s->n_docs; i++) {
        uint64_t v = r1c_shard_doc_start(s, i);
        if (v > s->n_tokens)
            return r1c_error(R1C_ERR_FORMAT, "%s: index[%" PRIu64 "] = %" PRIu64 " is out of range (%" PRIu64
                             " tokens)", name, i, v, s->n_tokens);
        if (v <= prev)
            return r1c_error(R1C_ERR_FORMAT, "%s: index[%" PRIu64 "] = %" PRIu64 " is not above index[%" PRIu64
                             "] = %" PRIu64 " (not increasing)", name, i, v, i - 1, prev);
        prev = v;
    }
    if (prev != s->n_tokens)
        return r1c_error(R1C_ERR_FORMAT, "%s: the index ends at %" PRIu64 ", not at the %" PRIu64 " tokens", name,
                         prev, s->n_tokens);
    return R1C_OK;
}

static r1c_status check_tokens(const r1c_shard_view *s, const char *name) {
    for (uint64_t i = 0; i < s->n_tokens; i++) {
        uint32_t t = r1c_shard_token(s, i);
        if (t >= s->vocab_size)
            return r1c_error(R1C_ERR_FORMAT, "%s: token %" PRIu64 " has id %" PRIu32 ", not below the vocab size %"
                             PRIu32, name, i, t, s->vocab_size);
    }
    return R1C_OK;
}

r1c_status r1c_shard_parse(const uint8_t *data, size_t size, const char *name, r1c_shard_view *out) {
    memset(out, 0, sizeof *out);
    r1c_shard_view s;
    r1c_status st = parse_header(data, size, name, &s);
    if (st != R1C_OK) return st;
    uint64_t sum = r1c_fnv1a64(R1C_FNV1A_INIT, s.tokens, size - R1C_SHARD_HEADER_SIZE);
    if (sum != rd64(data + 40))
        return r1c_error(R1C_ERR_FORMAT, "%s: checksum mismatch (payload %016" PRIx64 ", header %016" PRIx64
                         "): the file is corrupt", name, sum, rd64(data + 40));
    if ((st = check_index(&s, name)) != R1C_OK || (st = check_tokens(&s, name)) != R1C_OK) return st;
    *out = s;
    return R1C_OK;
}

/* ------------------------------------------------------------ writer */

typedef struct shard_entry {
    char file[32];
    uint64_t docs, tokens;
} shard_entry;

struct r1c_dataset_writer {
    char *dir, *name;
    uint32_t vocab;
    int32_t bos, eos;
    int width;
    uint64_t shard_tokens;
    uint32_t *tok; /* the open shard's tokens */
    uint64_t n_tok, cap_tok;
    uint64_t *idx; /* its document starts (n_doc + 1 once closed) */
    uint64_t n_doc, cap_doc;
    shard_entry *shards;
    int n_shards, cap_shards;
    uint64_t total_docs, total_tokens;
    int32_t *scratch; /* add_text's BOS + ids + EOS */
    uint64_t scratch_cap;
};

r1c_status r1c_dataset_writer_new(const char *dir, const char *name, uint32_t vocab_size, int32_t bos,
                                  int32_t eos, uint64_t shard_tokens, r1c_dataset_writer **out) {
    *out = NULL;
    if (vocab_size == 0 || shard_tokens == 0)
        return r1c_error(R1C_ERR_INVALID_ARG, "dataset writer: vocab size and shard tokens must be positive");
    if (bos >= (int64_t)vocab_size || eos >= (int64_t)vocab_size)
        return r1c_error(R1C_ERR_INVALID_ARG, "dataset writer: bos %d / eos %d outside the vocabulary of %" PRIu32,
                         bos, eos, vocab_size);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return r1c_error(R1C_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    r1c_dataset_writer *w = calloc(1, sizeof *w);
    if (!w) return r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory");
    w->dir = strdup(dir);
    w->name = strdup(name ? name : "dataset");
    if (!w->dir || !w->name) return r1c_dataset_writer_free(w), r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory");
    w->vocab = vocab_size;
    w->bos = bos < 0 ? -1 : bos;
    w->eos = eos < 0 ? -1 : eos;
    w->width = vocab_size <= 65536 ? 2 : 4;
    w->shard_tokens = shard_tokens;
    *out = w;
    return R1C_OK;
}

/* Grows *p (elements of size el) to hold at least need; 0 when out of memory. */
static int grow(void **p, uint64_t *cap, uint64_t need, size_t el) {
    if (need <= *cap) return 1;
    uint64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * el);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static r1c_status write_all(FILE *f, const void *p, size_t n, const char *path) {
    if (n && fwrite(p, 1, n, f) != n) return r1c_error(R1C_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return R1C_OK;
}

/* Writes the open shard: encodes the payload into one buffer (so the checksum is one pass),
 * then header + payload. */
static r1c_status flush_shard(r1c_dataset_writer *w) {
    if (w->n_doc == 0) return R1C_OK;
    w->idx[w->n_doc] = w->n_tok;
    size_t payload = (size_t)(w->n_tok * w->width + (w->n_doc + 1) * 8);
    uint8_t *buf = malloc(payload ? payload : 1);
    if (!buf) return r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory for a %zu-byte shard", payload);
    uint8_t *p = buf;
    for (uint64_t i = 0; i < w->n_tok; i++, p += w->width) {
        if (w->width == 2) p[0] = (uint8_t)w->tok[i], p[1] = (uint8_t)(w->tok[i] >> 8);
        else wr32(p, w->tok[i]);
    }
    for (uint64_t i = 0; i <= w->n_doc; i++, p += 8) wr64(p, w->idx[i]);
    uint8_t h[R1C_SHARD_HEADER_SIZE] = {0};
    memcpy(h, R1C_SHARD_MAGIC, 8);
    wr32(h + 8, R1C_SHARD_VERSION);
    wr32(h + 12, (uint32_t)w->width);
    wr32(h + 16, w->vocab);
    wr64(h + 24, w->n_doc);
    wr64(h + 32, w->n_tok);
    wr64(h + 40, r1c_fnv1a64(R1C_FNV1A_INIT, buf, payload));

    void *grown = realloc(w->shards, (size_t)(w->n_shards + 1) * sizeof *w->shards);
    if (!grown) return free(buf), r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory");
    w->shards = grown;
    shard_entry *e = &w->shards[w->n_shards];
    snprintf(e->file, sizeof e->file, "shard-%05d.tok", w->n_shards);
    e->docs = w->n_doc;
    e->tokens = w->n_tok;
    char *path = r1c_path_join(w->dir, e->file);
    if (!path) return free(buf), r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory");
    FILE *f = fopen(path, "wb");
    r1c_status st = f ? R1C_OK : r1c_error(R1C_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (st == R1C_OK) st = write_all(f, h, sizeof h, path);
    if (st == R1C_OK) st = write_all(f, buf, payload, path);
    if (f && fclose(f) != 0 && st == R1C_OK) st = r1c_error(R1C_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    free(path);
    free(buf);
    if (st != R1C_OK) return st;
    w->n_shards++;
    w->n_tok = w->n_doc = 0;
    return R1C_OK;
}

r1c_status r1c_dataset_writer_add_ids(r1c_dataset_writer *w, const int32_t *ids, size_t n) {
    if (n == 0) return R1C_OK;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->vocab)
            return r1c_error(R1C_ERR_INVALID_ARG, "dataset writer: document %" PRIu64 ": token id %d outside the "
                             "vocabulary of %" PRIu32, w->total_docs, ids[i], w->vocab);
    /* close the shard before a document that would overflow it */
    if (w->n_tok > 0 && w->n_tok + n > w->shard_tokens) {
        r1c_status st = flush_shard(w);
        if (st != R1C_OK) return st;
    }
    if (!grow((void **)&w->tok, &w->cap_tok, w->n_tok + n, sizeof *w->tok) ||
        !grow((void **)&w->idx, &w->cap_doc, w->n_doc + 2, sizeof *w->idx))
        return r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory");
    w->idx[w->n_doc++] = w->n_tok;
    for (size_t i = 0; i < n; i++) w->tok[w->n_tok++] = (uint32_t)ids[i];
    w->total_docs++;
    w->total_tokens += n;
    return R1C_OK;
}

r1c_status r1c_dataset_writer_add_text(r1c_dataset_writer *w, const r1c_tokenizer *tok, const char *text,
                                       size_t len) {
    int32_t *ids;
    int n;
    r1c_status st = r1c_tokenize(tok, text, len, 0, &ids, &n);
    if (st != R1C_OK) return st;
    uint64_t need = (uint64_t)n + 2;
    if (!grow((void **)&w->scratch, &w->scratch_cap, need, sizeof *w->scratch))
        return free(ids), r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory");
    size_t k = 0;
    if (w->bos >= 0) w->scratch[k++] = w->bos;
    memcpy(w->scratch + k, ids, (size_t)n * sizeof *ids);
    k += (size_t)n;
    if (w->eos >= 0) w->scratch[k++] = w->eos;
    free(ids);
    return r1c_dataset_writer_add_ids(w, w->scratch, k);
}

static r1c_status write_manifest(const r1c_dataset_writer *w) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "r1c-dataset");
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "name", w->name);
    cJSON_AddNumberToObject(o, "vocab_size", w->vocab);
    cJSON_AddNumberToObject(o, "bos_id", w->bos);
    cJSON_AddNumberToObject(o, "eos_id", w->eos);
    cJSON_AddNumberToObject(o, "token_width", w->width);
    cJSON_AddNumberToObject(o, "documents", (double)w->total_docs);
    cJSON_AddNumberToObject(o, "tokens", (double)w->total_tokens);
    cJSON *arr = cJSON_AddArrayToObject(o, "shards");
    for (int i = 0; arr && i < w->n_shards; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "file", w->shards[i].file);
        cJSON_AddNumberToObject(s, "documents", (double)w->shards[i].docs);
        cJSON_AddNumberToObject(s, "tokens", (double)w->shards[i].tokens);
        cJSON_AddItemToArray(arr, s);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *path = r1c_path_join(w->dir, "dataset.json");
    if (!text || !path) return free(text), free(path), r1c_error(R1C_ERR_NOMEM, "dataset writer: out of memory");
    FILE *f = fopen(path, "wb");
    r1c_status st = f ? write_all(f, text, strlen(text), path)
                      : r1c_error(R1C_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (st == R1C_OK) st = write_all(f, "\n", 1, path);
    if (f && fclose(f) != 0 && st == R1C_OK) st = r1c_error(R1C_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    free(text);
    free(path);
    return st;
}

r1c_status r1c_dataset_writer_finish(r1c_dataset_writer *w, r1c_dataset_stats *stats) {
    if (w->total_docs == 0) return r1c_error(R1C_ERR_INVALID_ARG, "%s: no documents to write", w->dir);
    r1c_status st = flush_shard(w);
    if (st == R1C_OK) st = write_manifest(w);
    if (st == R1C_OK && stats)
        *stats = (r1c_dataset_stats){w->total_docs, w->total_tokens, (uint64_t)w->n_shards};
    return st;
}

void r1c_dataset_writer_free(r1c_dataset_writer *w) {
    if (!w) return;
    free(w->dir);
    free(w->name);
    free(w->tok);
    free(w->idx);
    free(w->shards);
    free(w->scratch);
    free(w);
}

/* ------------------------------------------------------------ reading a dataset */

typedef struct shard_map {
    r1c_blob blob;
    r1c_shard_view v;
    uint64_t doc_base; /* global index of its first document */
} shard_map;

struct r1c_dataset {
    char *name;
    uint32_t vocab;
    int32_t bos, eos;
    shard_map *shards;
    int n_shards;
    uint64_t n_docs, n_tokens;
};

/* A manifest integer member: present, a number, integral, within [lo, hi]. */
static r1c_status json_u64(const cJSON *o, const char *key, const char *where, int64_t lo, uint64_t hi,
                           int64_t *out) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) return r1c_error(R1C_ERR_FORMAT, "%s.%s: missing", where, key);
    if (!cJSON_IsNumber(j) || j->valuedouble != (double)(int64_t)j->valuedouble || j->valuedouble < (double)lo ||
        j->valuedouble > (double)hi)
        return r1c_error(R1C_ERR_FORMAT, "%s.%s: not an integer in [%" PRId64 ", %" PRIu64 "]", where, key, lo, hi);
    *out = (int64_t)j->valuedouble;
    return R1C_OK;
}

static r1c_status open_shard(r1c_dataset *d, const char *dir, const cJSON *e, int i, const char *mpath) {
    char where[96];
    snprintf(where, sizeof where, "%s: shards[%d]", mpath, i);
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(e, "file");
    if (!cJSON_IsString(file) || !file->valuestring[0] || strchr(file->valuestring, '/'))
        return r1c_error(R1C_ERR_FORMAT, "%s.file: not a file name", where);
    int64_t docs, tokens;
    r1c_status st = json_u64(e, "documents", where, 1, UINT64_MAX >> 11, &docs);
    if (st == R1C_OK) st = json_u64(e, "tokens", where, 1, UINT64_MAX >> 11, &tokens);
    if (st != R1C_OK) return st;
    char *path = r1c_path_join(dir, file->valuestring);
    if (!path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    shard_map *s = &d->shards[i];
    st = r1c_blob_load(path, 1, 0, &s->blob);
    if (st == R1C_OK) st = r1c_shard_parse(s->blob.data, s->blob.size, path, &s->v);
    if (st == R1C_OK && (s->v.n_docs != (uint64_t)docs || s->v.n_tokens != (uint64_t)tokens))
        st = r1c_error(R1C_ERR_FORMAT, "%s: %" PRIu64 " documents and %" PRIu64 " tokens, the manifest says %" PRId64
                       " and %" PRId64, path, s->v.n_docs, s->v.n_tokens, docs, tokens);
    if (st == R1C_OK && s->v.vocab_size != d->vocab)
        st = r1c_error(R1C_ERR_FORMAT, "%s: vocab size %" PRIu32 ", the manifest says %" PRIu32, path,
                       s->v.vocab_size, d->vocab);
    free(path);
    s->doc_base = d->n_docs;
    d->n_docs += s->v.n_docs;
    d->n_tokens += s->v.n_tokens;
    return st;
}

static r1c_status parse_manifest(r1c_dataset *d, const char *dir, const cJSON *m, const char *mpath) {
    if (!cJSON_IsObject(m)) return r1c_error(R1C_ERR_FORMAT, "%s: not a JSON object", mpath);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "r1c-dataset") != 0)
        return r1c_error(R1C_ERR_FORMAT, "%s: format: not \"r1c-dataset\"", mpath);
    int64_t version, vocab, bos, eos;
    r1c_status st = json_u64(m, "version", mpath, 1, 1, &version);
    if (st == R1C_OK) st = json_u64(m, "vocab_size", mpath, 1, UINT32_MAX, &vocab);
    if (st == R1C_OK) st = json_u64(m, "bos_id", mpath, -1, (uint64_t)vocab - 1, &bos);
    if (st == R1C_OK) st = json_u64(m, "eos_id", mpath, -1, (uint64_t)vocab - 1, &eos);
    if (st != R1C_OK) return st;
    d->vocab = (uint32_t)vocab;
    d->bos = (int32_t)bos;
    d->eos = (int32_t)eos;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
    d->name = strdup(cJSON_IsString(name) ? name->valuestring : dir);
    const cJSON *shards = cJSON_GetObjectItemCaseSensitive(m, "shards");
    if (!cJSON_IsArray(shards) || cJSON_GetArraySize(shards) == 0)
        return r1c_error(R1C_ERR_FORMAT, "%s: shards: not a non-empty array", mpath);
    int n = cJSON_GetArraySize(shards);
    d->shards = calloc((size_t)n, sizeof *d->shards);
    if (!d->shards || !d->name) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, shards) {
        st = open_shard(d, dir, e, d->n_shards, mpath);
        d->n_shards++; /* counted even on failure: close unmaps what was mapped */
        if (st != R1C_OK) return st;
    }
    return R1C_OK;
}

r1c_status r1c_dataset_open(const char *dir, r1c_dataset **out) {
    *out = NULL;
    char *mpath = r1c_path_join(dir, "dataset.json");
    if (!mpath) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    char *text = NULL;
    size_t len;
    r1c_status st = r1c_read_small_file(mpath, 64u << 20, &text, &len);
    if (st != R1C_OK) return free(mpath), st;
    cJSON *m = cJSON_ParseWithLength(text, len);
    free(text);
    if (!m) return r1c_error(R1C_ERR_FORMAT, "%s: not valid JSON", mpath), free(mpath), R1C_ERR_FORMAT;
    r1c_dataset *d = calloc(1, sizeof *d);
    st = d ? parse_manifest(d, dir, m, mpath) : r1c_error(R1C_ERR_NOMEM, "out of memory");
    cJSON_Delete(m);
    free(mpath);
    if (st != R1C_OK) return r1c_dataset_close(d), st;
    *out = d;
    return R1C_OK;
}

void r1c_dataset_close(r1c_dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->n_shards; i++) r1c_blob_free(&d->shards[i].blob);
    free(d->shards);
    free(d->name);
    free(d);
}

const char *r1c_dataset_name(const r1c_dataset *d) { return d->name; }
uint32_t r1c_dataset_vocab(const r1c_dataset *d) { return d->vocab; }
int32_t r1c_dataset_bos(const r1c_dataset *d) { return d->bos; }
int32_t r1c_dataset_eos(const r1c_dataset *d) { return d->eos; }
uint64_t r1c_dataset_n_docs(const r1c_dataset *d) { return d->n_docs; }
uint64_t r1c_dataset_n_tokens(const r1c_dataset *d) { return d->n_tokens; }
int r1c_dataset_n_shards(const r1c_dataset *d) { return d->n_shards; }

/* The shard holding global document i (binary search over doc_base). */
static const shard_map *find_shard(const r1c_dataset *d, uint64_t i, uint64_t *local) {
    int lo = 0, hi = d->n_shards - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (d->shards[mid].doc_base <= i) lo = mid;
        else hi = mid - 1;
    }
    *local = i - d->shards[lo].doc_base;
    return &d->shards[lo];
}

uint64_t r1c_dataset_doc_len(const r1c_dataset *d, uint64_t i) {
    uint64_t k;
    const shard_map *s = find_shard(d, i, &k);
    return r1c_shard_doc_start(&s->v, k + 1) - r1c_shard_doc_start(&s->v, k);
}

void r1c_dataset_doc_read(const r1c_dataset *d, uint64_t i, uint64_t off, uint64_t n, int32_t *dst) {
    uint64_t k;
    const shard_map *s = find_shard(d, i, &k);
    uint64_t at = r1c_shard_doc_start(&s->v, k) + off;
    const uint8_t *p = s->v.tokens + at * (uint64_t)s->v.width;
    if (s->v.width == 2)
        for (uint64_t j = 0; j < n; j++, p += 2) dst[j] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8);
    else
        for (uint64_t j = 0; j < n; j++, p += 4) dst[j] = (int32_t)rd32(p);
}
