/* test_loader.c — token shards (src/train/shard.h) and the batch loader (src/train/loader.h):
 * round trips through a real tokenizer, exact packing, one pass per epoch, determinism, exact
 * resume, the curriculum's switch and mix, and refusal of every kind of corruption. */
#include <cjson/cJSON.h>
#include <inttypes.h>

#include "base/error.h"
#include "test_util.h"
#include "train/loader.h"
#include "train/shard.h"

static char g_tmp[1024];

static char *path2(const char *a, const char *b) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", a, b);
    return buf[k];
}

/* A dataset of n_docs documents: BOS, then consecutive unique ids from *next_id, then EOS
 * (ids 0 and 1). Lengths vary; the total is padded to a multiple of `multiple` by lengthening
 * the last document. Returns the token count. */
static uint64_t make_synthetic(const char *dir, const char *name, uint32_t vocab, int n_docs, int32_t first_id,
                               uint64_t multiple, uint64_t shard_tokens) {
    r1c_dataset_writer *w;
    r1c_status st = r1c_dataset_writer_new(dir, name, vocab, 0, 1, shard_tokens, &w);
    CHECK(st == R1C_OK, "writer: %s", r1c_last_error());
    if (st != R1C_OK) return 0;
    int32_t *doc = xmalloc(4096 * sizeof *doc), id = first_id;
    uint64_t total = 0;
    for (int d = 0; d < n_docs; d++) {
        int len = 3 + (d * 7919) % 37; /* 3..39 */
        if (d == n_docs - 1 && multiple) {
            uint64_t rest = (total + (uint64_t)len) % multiple;
            if (rest) len += (int)(multiple - rest);
        }
        doc[0] = 0;
        for (int i = 1; i < len - 1; i++) doc[i] = id++;
        doc[len - 1] = 1;
        CHECK(r1c_dataset_writer_add_ids(w, doc, (size_t)len) == R1C_OK, "add: %s", r1c_last_error());
        total += (uint64_t)len;
    }
    r1c_dataset_stats s;
    CHECK(r1c_dataset_writer_finish(w, &s) == R1C_OK, "finish: %s", r1c_last_error());
    CHECK(s.tokens == total && s.documents == (uint64_t)n_docs, "stats %" PRIu64 " %" PRIu64, s.tokens, s.documents);
    r1c_dataset_writer_free(w);
    free(doc);
    return total;
}

/* ------------------------------------------------------------ shards through a tokenizer */

static void test_roundtrip(void) {
    r1c_tokenizer *tok;
    if (r1c_tokenizer_load("tests/data/qwen2_tiny", &tok) != R1C_OK) {
        CHECK(0, "tokenizer: %s", r1c_last_error());
        return;
    }
    const char *texts[] = {"What is 12 + 30?\n<think>\n2 + 0 = 2\n</think>\n<answer>42</answer>",
                           "hello world", "x", "Using the numbers [25, 4, 3, 7], make 97.", "café 🙂 ünïcödé",
                           "a longer line of plain text, repeated: a longer line of plain text"};
    int n = (int)(sizeof texts / sizeof *texts);
    char *dir = path2(g_tmp, "rt");
    r1c_dataset_writer *w;
    int32_t bos = r1c_tokenizer_bos(tok), eos = r1c_tokenizer_eos(tok);
    CHECK(bos >= 0 && eos >= 0, "bos %d eos %d", bos, eos);
    CHECK(r1c_dataset_writer_new(dir, "rt", (uint32_t)r1c_tokenizer_n_vocab(tok), bos, eos, 30, &w) == R1C_OK, "%s",
          r1c_last_error());
    for (int i = 0; i < n; i++)
        CHECK(r1c_dataset_writer_add_text(w, tok, texts[i], strlen(texts[i])) == R1C_OK, "%s", r1c_last_error());
    CHECK(r1c_dataset_writer_finish(w, NULL) == R1C_OK, "%s", r1c_last_error());
    r1c_dataset_writer_free(w);

    r1c_dataset *d;
    CHECK(r1c_dataset_open(dir, &d) == R1C_OK, "open: %s", r1c_last_error());
    if (!d) return r1c_tokenizer_free(tok);
    CHECK(r1c_dataset_n_docs(d) == (uint64_t)n, "%" PRIu64 " docs", r1c_dataset_n_docs(d));
    CHECK(r1c_dataset_n_shards(d) > 1, "shard-tokens 30 should give several shards, got %d", r1c_dataset_n_shards(d));
    CHECK(r1c_dataset_bos(d) == bos && r1c_dataset_eos(d) == eos, "manifest bos/eos");
    for (int i = 0; i < n; i++) {
        int32_t *ids;
        int m;
        r1c_tokenize(tok, texts[i], strlen(texts[i]), 0, &ids, &m);
        uint64_t len = r1c_dataset_doc_len(d, (uint64_t)i);
        int32_t *got = xmalloc(len * sizeof *got);
        r1c_dataset_doc_read(d, (uint64_t)i, 0, len, got);
        int same = len == (uint64_t)m + 2 && got[0] == bos && got[len - 1] == eos &&
                   !memcmp(got + 1, ids, (size_t)m * sizeof *ids);
        CHECK(same, "document %d: %" PRIu64 " tokens read back, tokenize gives %d + BOS/EOS", i, len, m);
        free(got);
        free(ids);
    }
    r1c_dataset_close(d);
    r1c_tokenizer_free(tok);
}

/* ------------------------------------------------------------ packing and epochs */

/* Collects n batches' rows (B x (T+1)) into one array. */
static int32_t *take_batches(r1c_loader *L, int n, int B, int T) {
    int32_t *all = xmalloc((size_t)n * B * (T + 1) * sizeof *all);
    for (int k = 0; k < n; k++) {
        const r1c_batch *b;
        CHECK(r1c_loader_next(L, &b) == R1C_OK && !b->end, "next %d", k);
        memcpy(all + (size_t)k * B * (T + 1), b->tokens, (size_t)B * (T + 1) * sizeof *all);
        int shifted = 1;
        for (int r = 0; r < B; r++)
            for (int t = 0; t < T; t++)
                shifted &= b->inputs[r * T + t] == b->tokens[r * (T + 1) + t] &&
                           b->targets[r * T + t] == b->tokens[r * (T + 1) + t + 1];
        CHECK(shifted, "batch %d: inputs/targets are not the rows shifted by one", k);
    }
    return all;
}

/* The stream of one epoch: every unique id exactly once, documents whole and in one piece. */
static void check_epoch(const int32_t *s, uint64_t n, int32_t first_id, int32_t n_ids, int n_docs) {
    uint8_t *seen = calloc((size_t)n_ids, 1);
    int docs = 0, whole = 1, once = 1;
    for (uint64_t i = 0; i < n; i++) {
        if (s[i] == 0) { /* BOS: then consecutive ids, then EOS */
            docs++;
            uint64_t j = i + 1;
            while (j < n && s[j] != 1 && (j == i + 1 || s[j] == s[j - 1] + 1)) j++;
            whole &= j < n && s[j] == 1;
            continue;
        }
        if (s[i] == 1) continue;
        int32_t k = s[i] - first_id;
        if (k < 0 || k >= n_ids || seen[k]++) once = 0;
    }
    int all = 1;
    for (int32_t k = 0; k < n_ids; k++) all &= seen[k] == 1;
    CHECK(docs == n_docs, "%d documents in the epoch, want %d", docs, n_docs);
    CHECK(whole, "a document is not contiguous BOS ids... EOS in the packed stream");
    CHECK(once && all, "not every token exactly once in the epoch");
    free(seen);
}

static void test_packing(void) {
    const int B = 4, T = 15, n_docs = 300;
    char *dir = path2(g_tmp, "syn");
    /* vocab above 65536: 4-byte tokens */
    uint64_t total = make_synthetic(dir, "syn", 70000, n_docs, 2, (uint64_t)B * (T + 1), 1000);
    int32_t n_ids = (int32_t)(total - 2 * (uint64_t)n_docs);
    int per_epoch = (int)(total / ((uint64_t)B * (T + 1)));
    r1c_loader_params p = {.batch = B, .seq_len = T, .seed = 42, .dataset_dir = dir, .prefetch = 3};
    r1c_loader *L;
    CHECK(r1c_loader_open(&p, NULL, &L) == R1C_OK, "open: %s", r1c_last_error());
    if (!L) return;
    int32_t *s = take_batches(L, 2 * per_epoch, B, T);
    uint64_t ep = total;
    check_epoch(s, ep, 2, n_ids, n_docs);
    check_epoch(s + ep, ep, 2, n_ids, n_docs);
    CHECK(memcmp(s, s + ep, ep * sizeof *s) != 0, "epoch 2 has the same order as epoch 1 (no reshuffle)");
    /* shuffled: the epoch does not start with the first written document (id 2 after BOS) */
    CHECK(!(s[0] == 0 && s[1] == 2), "epoch 1 starts with the first written document: not shuffled?");
    r1c_loader_state st;
    r1c_loader_get_state(L, &st);
    CHECK(st.step == (uint64_t)(2 * per_epoch) && st.cur[0].epoch >= 1, "state step %" PRIu64 " epoch %" PRIu64,
          st.step, st.cur[0].epoch);
    r1c_loader_close(L);
    free(s);
}

/* Same seed, same batches; another seed, others. */
static void test_determinism(void) {
    const int B = 3, T = 20, n = 40;
    char *dir = path2(g_tmp, "syn");
    r1c_loader_params p = {.batch = B, .seq_len = T, .seed = 7, .dataset_dir = dir};
    r1c_loader *a, *b, *c;
    CHECK(r1c_loader_open(&p, NULL, &a) == R1C_OK, "%s", r1c_last_error());
    p.prefetch = 1; /* a different ring size must not matter */
    CHECK(r1c_loader_open(&p, NULL, &b) == R1C_OK, "%s", r1c_last_error());
    p.seed = 8;
    CHECK(r1c_loader_open(&p, NULL, &c) == R1C_OK, "%s", r1c_last_error());
    if (!a || !b || !c) return;
    int32_t *x = take_batches(a, n, B, T), *y = take_batches(b, n, B, T), *z = take_batches(c, n, B, T);
    size_t bytes = (size_t)n * B * (T + 1) * sizeof *x;
    CHECK(!memcmp(x, y, bytes), "same seed gave different batches");
    CHECK(memcmp(x, z, bytes) != 0, "seeds 7 and 8 gave the same batches");
    free(x), free(y), free(z);
    r1c_loader_close(a), r1c_loader_close(b), r1c_loader_close(c);
}

/* ------------------------------------------------------------ curriculum */

static cJSON *parse(const char *json) {
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL, "bad test JSON %s", json);
    return j;
}

static void two_datasets(void) {
    make_synthetic(path2(g_tmp, "a"), "a", 50000, 200, 2, 0, 2000);
    make_synthetic(path2(g_tmp, "b"), "b", 50000, 150, 30000, 0, 2000);
}

static r1c_status curriculum_from(const char *stages, const char *datasets, r1c_curriculum *c) {
    cJSON *s = parse(stages), *d = datasets ? parse(datasets) : NULL;
    r1c_status st = r1c_curriculum_parse(s, d, g_tmp, c);
    cJSON_Delete(s);
    cJSON_Delete(d);
    return st;
}

static void test_curriculum(void) {
    two_datasets();
    r1c_curriculum cur;
    r1c_status st = curriculum_from("[{\"name\": \"mixed\", \"steps\": 60, \"mix\": {\"a\": 0.7, \"bee\": 0.3}},"
                                    " {\"steps\": 25, \"mix\": {\"bee\": 2, \"a\": 0}}]",
                                    "{\"bee\": \"b\"}", &cur);
    CHECK(st == R1C_OK, "parse: %s", r1c_last_error());
    if (st != R1C_OK) return;
    CHECK(cur.n_datasets == 2 && cur.n_stages == 2 && r1c_curriculum_steps(&cur) == 85, "shape");
    CHECK(!strcmp(cur.names[1], "bee") && contains(cur.dirs[1], "/b"), "dataset dir %s", cur.dirs[1]);
    const int B = 8, T = 31;
    r1c_loader_params p = {.batch = B, .seq_len = T, .seed = 3, .curriculum = &cur};
    r1c_loader *L;
    CHECK(r1c_loader_open(&p, NULL, &L) == R1C_OK, "open: %s", r1c_last_error());
    if (!L) return r1c_curriculum_free(&cur);
    int from_a = 0, rows = 0, stage_ok = 1, source_ok = 1, late_a = 0;
    const r1c_batch *b;
    for (int k = 0; k < 85; k++) {
        CHECK(r1c_loader_next(L, &b) == R1C_OK && !b->end && b->step == (uint64_t)k, "batch %d", k);
        stage_ok &= b->stage == (k < 60 ? 0 : 1);
        for (int r = 0; r < B; r++) {
            /* dataset a holds ids < 30000, b ids >= 30000 (BOS/EOS 0/1 in both) */
            for (int t = 0; t <= T; t++) {
                int32_t v = b->tokens[r * (T + 1) + t];
                if (v > 1) source_ok &= (v >= 30000) == (b->source[r] == 1);
            }
            if (k < 60) from_a += b->source[r] == 0, rows++;
            else late_a += b->source[r] == 0;
        }
    }
    double ratio = (double)from_a / rows;
    CHECK(stage_ok, "stage index does not switch at step 60");
    CHECK(source_ok, "a row's tokens are not from the dataset it names");
    CHECK(ratio > 0.63 && ratio < 0.77, "stage 0 mix: %.3f from a, want 0.7 +- 0.07", ratio);
    CHECK(late_a == 0, "%d rows from a after the switch to b only", late_a);
    CHECK(r1c_loader_next(L, &b) == R1C_OK && b->end, "no end after 85 steps");
    CHECK(r1c_loader_next(L, &b) == R1C_OK && b->end, "end is not sticky");
    r1c_loader_close(L);
    r1c_curriculum_free(&cur);
}

static void expect_curriculum_error(const char *stages, const char *datasets, const char *msg) {
    r1c_curriculum c;
    r1c_status st = curriculum_from(stages, datasets, &c);
    CHECK(st != R1C_OK && contains(r1c_last_error(), msg), "%s: got %d '%s', want '%s'", stages, st,
          r1c_last_error(), msg);
    if (st == R1C_OK) r1c_curriculum_free(&c);
}

static void test_curriculum_errors(void) {
    expect_curriculum_error("{}", NULL, "stages: not an array");
    expect_curriculum_error("[]", NULL, "stages: empty");
    expect_curriculum_error("[{\"steps\": 5, \"mix\": {\"a\": 1}}, {\"steps\": 5, \"mix\": {\"arith\": \"x\"}}]", NULL,
                            "stages[1].mix.arith: not a number");
    expect_curriculum_error("[{\"mix\": {\"a\": 1}}]", NULL, "stages[0].steps: missing");
    expect_curriculum_error("[{\"steps\": 2.5, \"mix\": {\"a\": 1}}]", NULL, "stages[0].steps: not a positive integer");
    expect_curriculum_error("[{\"steps\": 0, \"mix\": {\"a\": 1}}]", NULL, "stages[0].steps: not a positive integer");
    expect_curriculum_error("[{\"steps\": 3}]", NULL, "stages[0].mix: missing");
    expect_curriculum_error("[{\"steps\": 3, \"mix\": {}}]", NULL, "stages[0].mix: empty");
    expect_curriculum_error("[{\"steps\": 3, \"mix\": {\"a\": 0}}]", NULL, "stages[0].mix: the weights sum to 0");
    expect_curriculum_error("[{\"steps\": 3, \"mix\": {\"a\": -1}}]", NULL, "stages[0].mix.a: weight -1");
    expect_curriculum_error("[{\"steps\": 3, \"mixx\": {\"a\": 1}}]", NULL, "stages[0].mixx: unknown member");
    expect_curriculum_error("[{\"steps\": 3, \"mix\": {\"a\": 1}}]", "{\"a\": 5}", "datasets.a: not a string");
    expect_curriculum_error("[7]", NULL, "stages[0]: not an object");
    /* a dataset that does not exist fails at open, naming it */
    r1c_curriculum c;
    CHECK(curriculum_from("[{\"steps\": 3, \"mix\": {\"nope\": 1}}]", NULL, &c) == R1C_OK, "%s", r1c_last_error());
    r1c_loader_params p = {.batch = 1, .seq_len = 4, .curriculum = &c};
    r1c_loader *L;
    CHECK(r1c_loader_open(&p, NULL, &L) != R1C_OK && contains(r1c_last_error(), "nope/dataset.json"),
          "missing dataset: %s", r1c_last_error());
    r1c_curriculum_free(&c);
}

/* ------------------------------------------------------------ resume */

/* k batches, state, then m more; a new loader from that state must give the same m. */
static void resume_case(const r1c_loader_params *p, int k, int m) {
    r1c_loader *a, *b;
    if (r1c_loader_open(p, NULL, &a) != R1C_OK) {
        CHECK(0, "%s", r1c_last_error());
        return;
    }
    int32_t *skip = take_batches(a, k, p->batch, p->seq_len);
    r1c_loader_state st;
    r1c_loader_get_state(a, &st);
    int32_t *want = take_batches(a, m, p->batch, p->seq_len);
    /* the state travels as bytes, as a checkpoint would carry it */
    unsigned char bytes[sizeof st];
    memcpy(bytes, &st, sizeof st);
    r1c_loader_state back;
    memcpy(&back, bytes, sizeof back);
    CHECK(r1c_loader_open(p, &back, &b) == R1C_OK, "resume: %s", r1c_last_error());
    if (b) {
        int32_t *got = take_batches(b, m, p->batch, p->seq_len);
        CHECK(!memcmp(want, got, (size_t)m * p->batch * (p->seq_len + 1) * sizeof *got),
              "resumed after %d batches: the next %d differ", k, m);
        const r1c_batch *x;
        r1c_loader_next(b, &x);
        CHECK(x->step == (uint64_t)(k + m) || x->end, "resumed step %" PRIu64, x->step);
        free(got);
        r1c_loader_close(b);
    }
    /* and through JSON (trainer_state.json) */
    cJSON *js = r1c_loader_state_to_json(&st);
    char *text = cJSON_PrintUnformatted(js);
    cJSON *parsed = cJSON_Parse(text);
    r1c_loader_state fromjs;
    CHECK(r1c_loader_state_from_json(parsed, &fromjs) == R1C_OK && !memcmp(&fromjs, &st, sizeof st),
          "state JSON round trip: %s", r1c_last_error());
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(parsed, "rng"), 2, cJSON_CreateString("12"));
    CHECK(r1c_loader_state_from_json(parsed, &fromjs) != R1C_OK && contains(r1c_last_error(), "loader_state.rng[2]"),
          "bad state JSON: %s", r1c_last_error());
    cJSON_Delete(js), cJSON_Delete(parsed), free(text);
    /* a state for another seed is refused */
    r1c_loader_params q = *p;
    q.seed ^= 1;
    CHECK(r1c_loader_open(&q, &st, &b) != R1C_OK && contains(r1c_last_error(), "seed"), "seed mismatch: %s",
          r1c_last_error());
    st.cur[0].doc = 1u << 30;
    CHECK(r1c_loader_open(p, &st, &b) != R1C_OK && contains(r1c_last_error(), "outside the dataset"),
          "bad cursor: %s", r1c_last_error());
    free(skip);
    free(want);
    r1c_loader_close(a);
}

static void test_resume(void) {
    r1c_loader_params p = {.batch = 4, .seq_len = 15, .seed = 5, .dataset_dir = path2(g_tmp, "syn")};
    resume_case(&p, 0, 5);
    resume_case(&p, 7, 30);  /* crosses the epoch boundary (the data set is ~2 epochs of 100 batches) */
    resume_case(&p, 95, 12);
    r1c_curriculum cur;
    if (curriculum_from("[{\"steps\": 10, \"mix\": {\"a\": 1, \"b\": 1}}, {\"steps\": 10, \"mix\": {\"b\": 1}}]", NULL,
                        &cur) != R1C_OK) {
        CHECK(0, "%s", r1c_last_error());
        return;
    }
    r1c_loader_params c = {.batch = 5, .seq_len = 9, .seed = 11, .curriculum = &cur};
    resume_case(&c, 6, 10); /* across the stage boundary, up to the end */
    r1c_curriculum_free(&cur);
}

/* ------------------------------------------------------------ corruption */

static uint8_t *load(const char *path, size_t *n) {
    uint8_t *d = read_file(path, n);
    CHECK(d != NULL, "cannot read %s", path);
    return d;
}

static void put64(uint8_t *p, uint64_t v) {
    for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v >> 8 * k);
}

/* After an edit in the payload: the checksum made right again, to reach the later checks. */
static void reseal(uint8_t *d, size_t n) { put64(d + 40, r1c_fnv1a64(R1C_FNV1A_INIT, d + 64, n - 64)); }

static void expect_bad(const uint8_t *d, size_t n, const char *what) {
    r1c_shard_view v;
    r1c_status st = r1c_shard_parse(d, n, "bad.tok", &v);
    CHECK(st == R1C_ERR_FORMAT && contains(r1c_last_error(), "bad.tok") && contains(r1c_last_error(), what),
          "want '%s', got %d '%s'", what, st, r1c_last_error());
}

static void write_bytes(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

static void test_corruption(void) {
    char dir[1200], shard[1300];
    snprintf(dir, sizeof dir, "%s", path2(g_tmp, "corrupt")); /* path2's buffers rotate */
    make_synthetic(dir, "c", 300, 20, 2, 0, 1u << 20); /* one shard, 2-byte tokens */
    snprintf(shard, sizeof shard, "%s", path2(dir, "shard-00000.tok"));
    size_t n;
    uint8_t *orig = load(shard, &n), *d = xmalloc(n + 16);
    if (!orig) return;
    r1c_shard_view v;
    CHECK(r1c_shard_parse(orig, n, "ok.tok", &v) == R1C_OK, "%s", r1c_last_error());
    uint64_t idx_off = 64 + v.n_tokens * 2;

    memcpy(d, orig, n), d[64 + 5] ^= 0x10;
    expect_bad(d, n, "checksum mismatch");
    memcpy(d, orig, n), d[n - 3] ^= 1; /* in the index: covered too */
    expect_bad(d, n, "checksum mismatch");
    memcpy(d, orig, n);
    expect_bad(d, n - 1, "truncated");
    expect_bad(d, 10, "truncated");
    memcpy(d, orig, n), d[n] = 0;
    expect_bad(d, n + 1, "trailing data");
    memcpy(d, orig, n), d[0] = 'X';
    expect_bad(d, n, "bad magic");
    memcpy(d, orig, n), d[8] = 2;
    expect_bad(d, n, "bad version 2");
    memcpy(d, orig, n), d[12] = 3;
    expect_bad(d, n, "bad token width 3");
    memcpy(d, orig, n), put64(d + 32, UINT64_MAX / 2);
    expect_bad(d, n, "truncated");
    memcpy(d, orig, n), put64(d + idx_off + 8 * 3, v.n_tokens + 5), reseal(d, n);
    expect_bad(d, n, "index[3] = ");
    expect_bad(d, n, "out of range");
    memcpy(d, orig, n), put64(d + idx_off + 8 * 4, 1), reseal(d, n);
    expect_bad(d, n, "not increasing");
    memcpy(d, orig, n), put64(d + idx_off, 1), reseal(d, n);
    expect_bad(d, n, "index[0] is 1");
    memcpy(d, orig, n), d[64 + 2 * 7] = 0x2c, d[64 + 2 * 7 + 1] = 0x01, reseal(d, n); /* id 300 */
    expect_bad(d, n, "token 7 has id 300, not below the vocab size 300");

    /* through the dataset: the file's path is named */
    memcpy(d, orig, n), d[100] ^= 0xff;
    write_bytes(shard, d, n);
    r1c_dataset *ds;
    CHECK(r1c_dataset_open(dir, &ds) != R1C_OK && contains(r1c_last_error(), "shard-00000.tok: checksum mismatch"),
          "dataset with a flipped byte: %s", r1c_last_error());
    write_bytes(shard, orig, n - 8);
    CHECK(r1c_dataset_open(dir, &ds) != R1C_OK && contains(r1c_last_error(), "shard-00000.tok: truncated"),
          "truncated shard: %s", r1c_last_error());
    remove(shard);
    CHECK(r1c_dataset_open(dir, &ds) != R1C_OK && contains(r1c_last_error(), "shard-00000.tok"), "missing shard: %s",
          r1c_last_error());
    write_bytes(shard, orig, n);
    CHECK(r1c_dataset_open(dir, &ds) == R1C_OK, "restored: %s", r1c_last_error());
    r1c_dataset_close(ds);
    /* the manifest must agree with the shard */
    size_t mn;
    char *m = (char *)load(path2(dir, "dataset.json"), &mn);
    char *edited = xmalloc(mn + 64);
    const char *at = strstr(m, "\"tokens\"");
    int pre = (int)(at - m);
    snprintf(edited, mn + 64, "%.*s\"tokens\": 999999, \"x\"%s", pre, m, at + strlen("\"tokens\""));
    /* only the top-level total changed: still fine; now the shard entry */
    char *sh = strstr(m, "\"shards\"");
    at = strstr(sh, "\"tokens\"");
    pre = (int)(at - m);
    snprintf(edited, mn + 64, "%.*s\"tokens\": 12, \"x\"%s", pre, m, at + strlen("\"tokens\""));
    write_bytes(path2(dir, "dataset.json"), (uint8_t *)edited, strlen(edited));
    CHECK(r1c_dataset_open(dir, &ds) != R1C_OK && contains(r1c_last_error(), "the manifest says"),
          "manifest disagrees: %s", r1c_last_error());
    write_bytes(path2(dir, "dataset.json"), (uint8_t *)"{\"format\": \"r1c-dataset\", \"version\": 2}", 39);
    CHECK(r1c_dataset_open(dir, &ds) != R1C_OK && contains(r1c_last_error(), "version"), "manifest version: %s",
          r1c_last_error());
    free(m);
    free(edited);
    free(orig);
    free(d);
}

/* Open and close without reading, and close while the ring is full: no hang, no leak. */
static void test_shutdown(void) {
    r1c_loader_params p = {.batch = 2, .seq_len = 8, .seed = 1, .dataset_dir = path2(g_tmp, "syn"), .prefetch = 2};
    for (int i = 0; i < 20; i++) {
        r1c_loader *L;
        CHECK(r1c_loader_open(&p, NULL, &L) == R1C_OK, "%s", r1c_last_error());
        const r1c_batch *b;
        for (int k = 0; k < i % 4; k++) r1c_loader_next(L, &b);
        r1c_loader_close(L);
    }
    p.batch = 0;
    r1c_loader *L;
    CHECK(r1c_loader_open(&p, NULL, &L) == R1C_ERR_INVALID_ARG, "batch 0 accepted");
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s", test_tmpdir("loader"));
    test_roundtrip();
    test_packing();
    test_determinism();
    test_curriculum();
    test_curriculum_errors();
    test_resume();
    test_corruption();
    test_shutdown();
    return test_summary("test_loader");
}
