/* loader.c — packed, shuffled training batches with a curriculum and a prefetch thread.
 * What it promises is in loader.h; how, here. */
#include "train/loader.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "base/file.h"
#include "train/shard.h"

/* ------------------------------------------------------------ generators */


/* Uniform in [0, n) without modulo bias (rejects the short top slice). */
static uint64_t below(uint64_t s[4], uint64_t n) {
    uint64_t limit = -n % n, x;
    do x = r1c_xoshiro(s);
    while (x < limit);
    return x % n;
}

/* ------------------------------------------------------------ curriculum */

static r1c_status cur_err(const char *fmt, ...) R1C_PRINTF(1, 2);
static r1c_status cur_err(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return r1c_error(R1C_ERR_FORMAT, "curriculum: %s", msg);
}

/* Index of dataset `name`, adding it (with its directory) when new; -1 after an error. */
static int dataset_index(r1c_curriculum *c, const char *name, const cJSON *datasets, const char *base,
                         const char *where) {
    for (int i = 0; i < c->n_datasets; i++)
        if (!strcmp(c->names[i], name)) return i;
    if (c->n_datasets == R1C_LOADER_MAX_DATASETS)
        return cur_err("%s: more than %d datasets", where, R1C_LOADER_MAX_DATASETS), -1;
    const char *dir = name;
    const cJSON *d = datasets ? cJSON_GetObjectItemCaseSensitive(datasets, name) : NULL;
    if (d && !cJSON_IsString(d)) return cur_err("datasets.%s: not a string", name), -1;
    if (d) dir = d->valuestring;
    int i = c->n_datasets;
    c->names[i] = strdup(name);
    c->dirs[i] = dir[0] == '/' || !base ? strdup(dir) : r1c_path_join(base, dir);
    c->n_datasets++; /* counted now so free releases both strings */
    if (!c->names[i] || !c->dirs[i]) return r1c_error(R1C_ERR_NOMEM, "curriculum: out of memory"), -1;
    return i;
}

static r1c_status parse_mix(r1c_curriculum *c, r1c_stage *s, const cJSON *mix, const cJSON *datasets,
                            const char *base, const char *where) {
    if (!cJSON_IsObject(mix)) return cur_err("%s.mix: %s", where, mix ? "not an object" : "missing");
    double sum = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, mix) {
        if (!cJSON_IsNumber(w)) return cur_err("%s.mix.%s: not a number", where, w->string);
        if (!(w->valuedouble >= 0) || w->valuedouble > 1e9)
            return cur_err("%s.mix.%s: weight %g is not in [0, 1e9]", where, w->string, w->valuedouble);
        int i = dataset_index(c, w->string, datasets, base, where);
        if (i < 0) return R1C_ERR_FORMAT;
        s->weight[i] += w->valuedouble;
        sum += w->valuedouble;
    }
    if (!(sum > 0)) return cur_err("%s.mix: %s", where, mix->child ? "the weights sum to 0" : "empty");
    return R1C_OK;
}

static r1c_status parse_stage(r1c_curriculum *c, int k, const cJSON *j, const cJSON *datasets, const char *base) {
    char where[32];
    snprintf(where, sizeof where, "stages[%d]", k);
    if (!cJSON_IsObject(j)) return cur_err("%s: not an object", where);
    r1c_stage *s = &c->stages[k];
    const cJSON *m;
    cJSON_ArrayForEach(m, j) /* a misspelt key would silently do nothing */
        if (strcmp(m->string, "name") && strcmp(m->string, "steps") && strcmp(m->string, "mix"))
            return cur_err("%s.%s: unknown member (name, steps, mix)", where, m->string);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (name && !cJSON_IsString(name)) return cur_err("%s.name: not a string", where);
    char def[32];
    snprintf(def, sizeof def, "stage %d", k);
    s->name = strdup(name ? name->valuestring : def);
    if (!s->name) return r1c_error(R1C_ERR_NOMEM, "curriculum: out of memory");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(j, "steps");
    if (!steps) return cur_err("%s.steps: missing", where);
    if (!cJSON_IsNumber(steps) || steps->valuedouble < 1 || steps->valuedouble > 1e15 ||
        steps->valuedouble != (double)(uint64_t)steps->valuedouble)
        return cur_err("%s.steps: not a positive integer", where);
    s->steps = (uint64_t)steps->valuedouble;
    return parse_mix(c, s, cJSON_GetObjectItemCaseSensitive(j, "mix"), datasets, base, where);
}

r1c_status r1c_curriculum_parse(const cJSON *stages, const cJSON *datasets, const char *base_dir,
                                r1c_curriculum *out) {
    memset(out, 0, sizeof *out);
    if (!stages) return cur_err("stages: missing");
    if (!cJSON_IsArray(stages)) return cur_err("stages: not an array");
    int n = cJSON_GetArraySize(stages);
    if (n == 0) return cur_err("stages: empty");
    if (n > R1C_LOADER_MAX_STAGES) return cur_err("stages: more than %d stages", R1C_LOADER_MAX_STAGES);
    if (datasets && !cJSON_IsObject(datasets)) return cur_err("datasets: not an object");
    const cJSON *j;
    r1c_status st = R1C_OK;
    cJSON_ArrayForEach(j, stages) {
        st = parse_stage(out, out->n_stages, j, datasets, base_dir);
        out->n_stages++;
        if (st != R1C_OK) break;
    }
    if (st != R1C_OK) r1c_curriculum_free(out);
    return st;
}

void r1c_curriculum_free(r1c_curriculum *c) {
    for (int i = 0; i < c->n_datasets; i++) free(c->names[i]), free(c->dirs[i]);
    for (int i = 0; i < c->n_stages; i++) free(c->stages[i].name);
    memset(c, 0, sizeof *c);
}

uint64_t r1c_curriculum_steps(const r1c_curriculum *c) {
    uint64_t t = 0;
    for (int i = 0; i < c->n_stages; i++) t = c->stages[i].steps > UINT64_MAX - t ? UINT64_MAX : t + c->stages[i].steps;
    return t;
}

/* ------------------------------------------------------------ one dataset's stream */

typedef struct stream {
    r1c_dataset *ds;
    uint64_t *perm;       /* document order of epoch perm_epoch */
    uint64_t perm_epoch;
    uint64_t n_docs;
    int index;            /* dataset index (part of the shuffle seed) */
} stream;

/* Fisher-Yates from a generator seeded by (seed, dataset, epoch) alone: rebuildable on resume. */
static void build_perm(stream *s, uint64_t seed, uint64_t epoch) {
    uint64_t r[4], x = seed;
    x ^= r1c_splitmix64(&x) + (uint64_t)s->index * 0x9e3779b97f4a7c15ULL;
    x ^= r1c_splitmix64(&x) + epoch * 0xd1b54a32d192ed03ULL;
    r1c_xoshiro_seed(r, x);
    for (uint64_t i = 0; i < s->n_docs; i++) s->perm[i] = i;
    for (uint64_t i = s->n_docs; i > 1; i--) {
        uint64_t j = below(r, i), t = s->perm[i - 1];
        s->perm[i - 1] = s->perm[j];
        s->perm[j] = t;
    }
    s->perm_epoch = epoch;
}

/* Copies the next n tokens of the stream to dst, advancing the cursor (across documents and
 * epochs). */
static void stream_take(stream *s, r1c_loader_cursor *c, uint64_t seed, int32_t *dst, uint64_t n) {
    while (n > 0) {
        if (c->doc == s->n_docs) c->epoch++, c->doc = 0, c->tok = 0;
        if (s->perm_epoch != c->epoch) build_perm(s, seed, c->epoch);
        uint64_t d = s->perm[c->doc], len = r1c_dataset_doc_len(s->ds, d);
        uint64_t k = len - c->tok < n ? len - c->tok : n;
        r1c_dataset_doc_read(s->ds, d, c->tok, k, dst);
        dst += k, n -= k, c->tok += k;
        if (c->tok == len) c->doc++, c->tok = 0;
    }
}

/* ------------------------------------------------------------ the state as JSON */

/* fixed-width fields only, no padding: the same bytes on every build (checkpoints carry it) */
_Static_assert(sizeof(r1c_loader_state) == 56 + 24 * R1C_LOADER_MAX_DATASETS, "r1c_loader_state has padding");

static cJSON *hex64(uint64_t v) {
    char s[17];
    snprintf(s, sizeof s, "%016" PRIx64, v);
    return cJSON_CreateString(s);
}

cJSON *r1c_loader_state_to_json(const r1c_loader_state *st) {
    cJSON *o = cJSON_CreateObject(), *rng = cJSON_CreateArray(), *curs = cJSON_CreateArray();
    if (!o || !rng || !curs) return cJSON_Delete(o), cJSON_Delete(rng), cJSON_Delete(curs), NULL;
    cJSON_AddNumberToObject(o, "version", st->version);
    cJSON_AddItemToObject(o, "seed", hex64(st->seed));
    cJSON_AddItemToObject(o, "step", hex64(st->step));
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(rng, hex64(st->rng[i]));
    cJSON_AddItemToObject(o, "rng", rng);
    for (uint32_t i = 0; i < st->n_datasets && i < R1C_LOADER_MAX_DATASETS; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToObject(c, "epoch", hex64(st->cur[i].epoch));
        cJSON_AddItemToObject(c, "doc", hex64(st->cur[i].doc));
        cJSON_AddItemToObject(c, "tok", hex64(st->cur[i].tok));
        cJSON_AddItemToArray(curs, c);
    }
    cJSON_AddItemToObject(o, "cursors", curs);
    return o;
}

static r1c_status get_hex(const cJSON *j, const char *where, uint64_t *v) {
    char *end;
    if (!cJSON_IsString(j) || strlen(j->valuestring) != 16 || strspn(j->valuestring, "0123456789abcdef") != 16)
        return r1c_error(R1C_ERR_FORMAT, "loader_state.%s: not 16 hex digits", where);
    *v = strtoull(j->valuestring, &end, 16);
    return R1C_OK;
}

r1c_status r1c_loader_state_from_json(const cJSON *j, r1c_loader_state *st) {
    memset(st, 0, sizeof *st);
    if (!cJSON_IsObject(j)) return r1c_error(R1C_ERR_FORMAT, "loader_state: not an object");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != R1C_LOADER_STATE_VERSION)
        return r1c_error(R1C_ERR_FORMAT, "loader_state.version: not %d", R1C_LOADER_STATE_VERSION);
    st->version = R1C_LOADER_STATE_VERSION;
    r1c_status s = get_hex(cJSON_GetObjectItemCaseSensitive(j, "seed"), "seed", &st->seed);
    if (s == R1C_OK) s = get_hex(cJSON_GetObjectItemCaseSensitive(j, "step"), "step", &st->step);
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng"), *curs = cJSON_GetObjectItemCaseSensitive(j, "cursors");
    if (s == R1C_OK && (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4))
        s = r1c_error(R1C_ERR_FORMAT, "loader_state.rng: not an array of 4");
    if (s == R1C_OK && (!cJSON_IsArray(curs) || cJSON_GetArraySize(curs) < 1 ||
                        cJSON_GetArraySize(curs) > R1C_LOADER_MAX_DATASETS))
        s = r1c_error(R1C_ERR_FORMAT, "loader_state.cursors: not an array of 1 to %d", R1C_LOADER_MAX_DATASETS);
    char where[48];
    for (int i = 0; s == R1C_OK && i < 4; i++) {
        snprintf(where, sizeof where, "rng[%d]", i);
        s = get_hex(cJSON_GetArrayItem(rng, i), where, &st->rng[i]);
    }
    for (int i = 0; s == R1C_OK && i < cJSON_GetArraySize(curs); i++) {
        const cJSON *c = cJSON_GetArrayItem(curs, i);
        const char *keys[3] = {"epoch", "doc", "tok"};
        uint64_t *dst[3] = {&st->cur[i].epoch, &st->cur[i].doc, &st->cur[i].tok};
        for (int k = 0; s == R1C_OK && k < 3; k++) {
            snprintf(where, sizeof where, "cursors[%d].%s", i, keys[k]);
            s = get_hex(cJSON_GetObjectItemCaseSensitive(c, keys[k]), where, dst[k]);
        }
        st->n_datasets = (uint32_t)i + 1;
    }
    return s;
}

/* ------------------------------------------------------------ the loader */

typedef struct slot {
    r1c_batch b;
    int32_t *tokens, *inputs, *targets;
    uint8_t *source;
    r1c_loader_state after; /* the state once this batch is consumed */
} slot;

struct r1c_loader {
    int B, T;
    r1c_curriculum cur;       /* a private copy (names and dirs owned) */
    stream streams[R1C_LOADER_MAX_DATASETS];
    r1c_loader_state gen;     /* the producer's position */
    r1c_loader_state consumed;
    slot *ring;
    int n_ring, head, count, holding, done, stop;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
};

static int stage_of(const r1c_curriculum *c, uint64_t step) {
    for (int i = 0; i < c->n_stages; i++) {
        if (step < c->stages[i].steps) return i;
        step -= c->stages[i].steps;
    }
    return -1;
}

/* The row's dataset: weights over a uniform draw; the last weighted one catches rounding. */
static int pick_dataset(const r1c_stage *s, int n, uint64_t rng[4]) {
    double sum = 0, acc = 0;
    int last = 0;
    for (int i = 0; i < n; i++) sum += s->weight[i];
    double u = (double)(r1c_xoshiro(rng) >> 11) * 0x1.0p-53 * sum;
    for (int i = 0; i < n; i++) {
        if (s->weight[i] <= 0) continue;
        last = i;
        acc += s->weight[i];
        if (u < acc) return i;
    }
    return last;
}

static void make_batch(r1c_loader *L, slot *sl) {
    r1c_batch *b = &sl->b;
    int T1 = L->T + 1, stage = stage_of(&L->cur, L->gen.step);
    *b = (r1c_batch){.batch = L->B, .seq_len = L->T, .step = L->gen.step, .stage = stage,
                     .tokens = sl->tokens, .inputs = sl->inputs, .targets = sl->targets, .source = sl->source};
    if (stage < 0) {
        b->end = 1;
        sl->after = L->gen;
        return;
    }
    for (int r = 0; r < L->B; r++) {
        int d = pick_dataset(&L->cur.stages[stage], L->cur.n_datasets, L->gen.rng);
        int32_t *row = sl->tokens + (size_t)r * T1;
        stream_take(&L->streams[d], &L->gen.cur[d], L->gen.seed, row, (uint64_t)T1);
        memcpy(sl->inputs + (size_t)r * L->T, row, (size_t)L->T * sizeof *row);
        memcpy(sl->targets + (size_t)r * L->T, row + 1, (size_t)L->T * sizeof *row);
        sl->source[r] = (uint8_t)d;
    }
    L->gen.step++;
    sl->after = L->gen;
}

static void *producer(void *arg) {
    r1c_loader *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->stop && (L->count == L->n_ring || L->done)) pthread_cond_wait(&L->not_full, &L->mu);
        if (L->stop) break;
        slot *sl = &L->ring[(L->head + L->count) % L->n_ring];
        pthread_mutex_unlock(&L->mu); /* the slot is ours until count covers it */
        make_batch(L, sl);
        pthread_mutex_lock(&L->mu);
        L->count++;
        if (sl->b.end) L->done = 1; /* an end batch is the last one made */
        pthread_cond_signal(&L->not_empty);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

r1c_status r1c_loader_next(r1c_loader *L, const r1c_batch **out) {
    pthread_mutex_lock(&L->mu);
    if (L->holding) {
        if (L->ring[L->head].b.end) { /* the end stays the answer */
            pthread_mutex_unlock(&L->mu);
            *out = &L->ring[L->head].b;
            return R1C_OK;
        }
        L->head = (L->head + 1) % L->n_ring;
        L->count--;
        L->holding = 0;
        pthread_cond_signal(&L->not_full);
    }
    while (L->count == 0) pthread_cond_wait(&L->not_empty, &L->mu);
    slot *sl = &L->ring[L->head];
    L->holding = 1;
    L->consumed = sl->after;
    pthread_mutex_unlock(&L->mu);
    *out = &sl->b;
    return R1C_OK;
}

void r1c_loader_get_state(const r1c_loader *L, r1c_loader_state *st) {
    pthread_mutex_lock((pthread_mutex_t *)&L->mu);
    *st = L->consumed;
    pthread_mutex_unlock((pthread_mutex_t *)&L->mu);
}

uint64_t r1c_loader_dataset_tokens(const r1c_loader *L, int i) {
    return i >= 0 && i < L->cur.n_datasets ? r1c_dataset_n_tokens(L->streams[i].ds) : 0;
}
uint32_t r1c_loader_vocab(const r1c_loader *L) { return r1c_dataset_vocab(L->streams[0].ds); }

void r1c_loader_close(r1c_loader *L) {
    if (!L) return;
    if (L->thread_started) {
        pthread_mutex_lock(&L->mu);
        L->stop = 1;
        pthread_cond_broadcast(&L->not_full);
        pthread_mutex_unlock(&L->mu);
        pthread_join(L->thread, NULL);
        pthread_cond_destroy(&L->not_full);
        pthread_cond_destroy(&L->not_empty);
        pthread_mutex_destroy(&L->mu);
    }
    for (int i = 0; L->ring && i < L->n_ring; i++) {
        free(L->ring[i].tokens), free(L->ring[i].inputs), free(L->ring[i].targets), free(L->ring[i].source);
    }
    free(L->ring);
    for (int i = 0; i < L->cur.n_datasets; i++) {
        r1c_dataset_close(L->streams[i].ds);
        free(L->streams[i].perm);
    }
    r1c_curriculum_free(&L->cur);
    free(L);
}

/* The loader's own copy of the curriculum (or the one-dataset, endless one). */
static r1c_status copy_curriculum(r1c_curriculum *dst, const r1c_loader_params *p) {
    memset(dst, 0, sizeof *dst);
    if (!p->curriculum) {
        if (!p->dataset_dir) return r1c_error(R1C_ERR_INVALID_ARG, "loader: give a curriculum or a dataset directory");
        dst->n_datasets = dst->n_stages = 1;
        dst->names[0] = strdup(p->dataset_dir);
        dst->dirs[0] = strdup(p->dataset_dir);
        dst->stages[0].name = strdup("all");
        dst->stages[0].steps = UINT64_MAX;
        dst->stages[0].weight[0] = 1;
        return dst->names[0] && dst->dirs[0] && dst->stages[0].name ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    const r1c_curriculum *c = p->curriculum;
    if (c->n_datasets < 1 || c->n_datasets > R1C_LOADER_MAX_DATASETS || c->n_stages < 1 ||
        c->n_stages > R1C_LOADER_MAX_STAGES)
        return r1c_error(R1C_ERR_INVALID_ARG, "loader: empty curriculum");
    *dst = *c;
    int ok = 1;
    for (int i = 0; i < c->n_datasets; i++) {
        dst->names[i] = strdup(c->names[i]);
        dst->dirs[i] = strdup(c->dirs[i]);
        ok &= dst->names[i] && dst->dirs[i];
    }
    for (int i = 0; i < c->n_stages; i++) ok &= (dst->stages[i].name = strdup(c->stages[i].name ? c->stages[i].name : "")) != NULL;
    return ok ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
}

static r1c_status open_streams(r1c_loader *L) {
    for (int i = 0; i < L->cur.n_datasets; i++) {
        stream *s = &L->streams[i];
        r1c_status st = r1c_dataset_open(L->cur.dirs[i], &s->ds);
        if (st != R1C_OK) return r1c_error_prefix("dataset %s: ", L->cur.names[i]), st;
        if (i > 0 && r1c_dataset_vocab(s->ds) != r1c_dataset_vocab(L->streams[0].ds))
            return r1c_error(R1C_ERR_FORMAT, "dataset %s: vocab size %" PRIu32 ", dataset %s has %" PRIu32,
                             L->cur.dirs[i], r1c_dataset_vocab(s->ds), L->cur.dirs[0],
                             r1c_dataset_vocab(L->streams[0].ds));
        s->index = i;
        s->n_docs = r1c_dataset_n_docs(s->ds);
        s->perm = malloc(s->n_docs * sizeof *s->perm);
        if (!s->perm) return r1c_error(R1C_ERR_NOMEM, "dataset %s: out of memory", L->cur.dirs[i]);
        s->perm_epoch = UINT64_MAX;
    }
    return R1C_OK;
}

/* A saved state must fit these datasets and this seed; each cursor inside its document. */
static r1c_status check_resume(r1c_loader *L, const r1c_loader_state *r, uint64_t seed) {
    if (r->version != R1C_LOADER_STATE_VERSION)
        return r1c_error(R1C_ERR_FORMAT, "loader state: version %" PRIu32 ", expected %d", r->version,
                         R1C_LOADER_STATE_VERSION);
    if (r->n_datasets != (uint32_t)L->cur.n_datasets)
        return r1c_error(R1C_ERR_FORMAT, "loader state: %" PRIu32 " datasets, the curriculum has %d", r->n_datasets,
                         L->cur.n_datasets);
    if (r->seed != seed)
        return r1c_error(R1C_ERR_FORMAT, "loader state: seed %" PRIu64 ", the config's is %" PRIu64, r->seed, seed);
    if (!(r->rng[0] | r->rng[1] | r->rng[2] | r->rng[3]))
        return r1c_error(R1C_ERR_FORMAT, "loader state: generator state is all zero");
    for (int i = 0; i < L->cur.n_datasets; i++) {
        const r1c_loader_cursor *c = &r->cur[i];
        stream *s = &L->streams[i];
        int ok = c->doc < s->n_docs || (c->doc == s->n_docs && c->tok == 0);
        if (ok && c->doc < s->n_docs) {
            build_perm(s, seed, c->epoch);
            ok = c->tok < r1c_dataset_doc_len(s->ds, s->perm[c->doc]);
        }
        if (!ok)
            return r1c_error(R1C_ERR_FORMAT, "loader state: dataset %s: position (document %" PRIu64 ", token %" PRIu64
                             ") is outside the dataset", L->cur.names[i], c->doc, c->tok);
    }
    return R1C_OK;
}

static r1c_status alloc_ring(r1c_loader *L, int n) {
    L->ring = calloc((size_t)n, sizeof *L->ring);
    if (!L->ring) return r1c_error(R1C_ERR_NOMEM, "loader: out of memory");
    L->n_ring = n;
    size_t bt = (size_t)L->B * L->T;
    for (int i = 0; i < n; i++) {
        slot *s = &L->ring[i];
        s->tokens = malloc((bt + (size_t)L->B) * sizeof(int32_t));
        s->inputs = malloc(bt * sizeof(int32_t));
        s->targets = malloc(bt * sizeof(int32_t));
        s->source = malloc((size_t)L->B);
        if (!s->tokens || !s->inputs || !s->targets || !s->source)
            return r1c_error(R1C_ERR_NOMEM, "loader: out of memory for %d batches of %d x %d", n, L->B, L->T + 1);
    }
    return R1C_OK;
}

static r1c_status start_thread(r1c_loader *L) {
    if (pthread_mutex_init(&L->mu, NULL) != 0) return r1c_error(R1C_ERR_NOMEM, "loader: cannot create a mutex");
    pthread_cond_init(&L->not_full, NULL);
    pthread_cond_init(&L->not_empty, NULL);
    if (pthread_create(&L->thread, NULL, producer, L) != 0) {
        pthread_cond_destroy(&L->not_full);
        pthread_cond_destroy(&L->not_empty);
        pthread_mutex_destroy(&L->mu);
        return r1c_error(R1C_ERR_NOMEM, "loader: cannot start the prefetch thread");
    }
    L->thread_started = 1;
    return R1C_OK;
}

r1c_status r1c_loader_open(const r1c_loader_params *p, const r1c_loader_state *resume, r1c_loader **out) {
    *out = NULL;
    if (p->batch < 1 || p->seq_len < 1 || p->batch > (1 << 20) || p->seq_len > (1 << 24) ||
        (uint64_t)p->batch * (uint64_t)(p->seq_len + 1) > (1ULL << 31) || p->prefetch < 0 || p->prefetch > 64)
        return r1c_error(R1C_ERR_INVALID_ARG, "loader: batch %d x seq_len %d (prefetch %d) out of range", p->batch,
                         p->seq_len, p->prefetch);
    r1c_loader *L = calloc(1, sizeof *L);
    if (!L) return r1c_error(R1C_ERR_NOMEM, "loader: out of memory");
    L->B = p->batch;
    L->T = p->seq_len;
    r1c_status st = copy_curriculum(&L->cur, p);
    if (st == R1C_OK) st = open_streams(L);
    if (st == R1C_OK && resume) st = check_resume(L, resume, p->seed);
    if (st == R1C_OK && resume) L->gen = *resume;
    if (st == R1C_OK && !resume) {
        L->gen.version = R1C_LOADER_STATE_VERSION;
        L->gen.n_datasets = (uint32_t)L->cur.n_datasets;
        L->gen.seed = p->seed;
        r1c_xoshiro_seed(L->gen.rng, p->seed ^ 0x6c6f61646572ULL); /* "loader": apart from the shuffles */
    }
    L->consumed = L->gen;
    if (st == R1C_OK) st = alloc_ring(L, p->prefetch ? p->prefetch : 4);
    if (st == R1C_OK) st = start_thread(L);
    if (st != R1C_OK) return r1c_loader_close(L), st;
    *out = L;
    return R1C_OK;
}
