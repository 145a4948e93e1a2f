/* test_sharded.c — a checkpoint split into shards (model.safetensors.index.json), and one whose
 * tensors are misaligned in the file, run exactly like the single-file original. */
#include "io/safetensors.h"
#include "r1c.h"
#include "test_util.h"

static float *last_logits(const char *dir, int use_mmap, const int32_t *ids, int n, int *V) {
    r1c_model *m;
    r1c_load_params lp = {.use_mmap = use_mmap};
    if (r1c_model_load(dir, &lp, &m) != R1C_OK) {
        CHECK(0, "load %s: %s", dir, r1c_last_error());
        return NULL;
    }
    r1c_ctx *c;
    r1c_ctx_params cp = {.n_ctx = 32, .n_threads = 2};
    float *out = NULL;
    *V = r1c_model_n_vocab(m);
    if (r1c_ctx_new(m, &cp, &c) == R1C_OK && r1c_eval(c, ids, n, 0) == R1C_OK) {
        out = malloc(sizeof(float) * (size_t)*V);
        memcpy(out, r1c_logits(c, -1), sizeof(float) * (size_t)*V);
    }
    CHECK(out != NULL, "eval %s: %s", dir, r1c_last_error());
    r1c_ctx_free(c);
    r1c_model_free(m);
    return out;
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    void *p = read_file(from, &n);
    CHECK(p && write_file(to, p, n), "copy %s -> %s", from, to);
    free(p);
}

/* Writes the tensors of src into `shards` files under dir (+ index), optionally with a 1-byte
 * tensor in front of everything so that every later tensor starts at an odd offset. */
static void reshard(const char *src, const char *dir, int shards, int misalign) {
    r1c_st_set set;
    if (r1c_st_open_file(src, 0, &set) != R1C_OK) {
        CHECK(0, "open %s: %s", src, r1c_last_error());
        return;
    }
    const r1c_st_header *h = &set.files[0].hdr;
    int n = h->n;
    r1c_st_wtensor *t = calloc((size_t)n + 1, sizeof *t);
    static const uint8_t pad = 7;
    int k = 0;
    if (misalign) t[k++] = (r1c_st_wtensor){.name = "zz.pad", .dtype = R1C_U8, .n_dims = 1, .shape = {1}, .data = &pad};
    for (int i = 0; i < n; i++) {
        r1c_tensor v;
        r1c_st_find(&set, h->entries[i].name, &v, NULL);
        t[k] = (r1c_st_wtensor){.name = v.name, .dtype = v.dtype, .n_dims = v.n_dims, .data = v.data};
        memcpy(t[k].shape, v.shape, sizeof v.shape);
        k++;
    }
    char path[1024], index[65536];
    int len = snprintf(index, sizeof index, "{\"metadata\": {}, \"weight_map\": {");
    for (int s = 0; s < shards; s++) {
        int a = k * s / shards, b = k * (s + 1) / shards;
        char fname[64];
        snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, shards);
        snprintf(path, sizeof path, "%s/%s", dir, fname);
        CHECK(r1c_st_write(path, t + a, b - a, NULL) == R1C_OK, "write %s: %s", path, r1c_last_error());
        for (int i = a; i < b; i++)
            len += snprintf(index + len, sizeof index - (size_t)len, "%s\"%s\": \"%s\"", len > 40 ? ", " : "", t[i].name, fname);
    }
    snprintf(index + len, sizeof index - (size_t)len, "}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK(write_file(path, index, strlen(index)), "write index");
    free(t);
    r1c_st_close(&set);
}

int main(void) {
    const char *models[] = {"qwen2_tiny", "llama3_tiny", "qwen2_tiny_tied"};
    int32_t ids[] = {3, 17, 400, 2, 99, 511, 0, 250};
    for (int i = 0; i < 3; i++) {
        char src_dir[256], src[512], dir[512], cfg[512];
        snprintf(src_dir, sizeof src_dir, "tests/data/%s/bf16", models[i]);
        snprintf(src, sizeof src, "%s/model.safetensors", src_dir);
        int V;
        float *want = last_logits(src_dir, 0, ids, 8, &V);
        for (int variant = 0; variant < 2; variant++) {
            char name[64];
            snprintf(name, sizeof name, "sharded_%s_%d", models[i], variant);
            snprintf(dir, sizeof dir, "%s", test_tmpdir(name));
            snprintf(cfg, sizeof cfg, "%s/config.json", dir);
            char from[512];
            snprintf(from, sizeof from, "%s/config.json", src_dir);
            copy_file(from, cfg);
            reshard(src, dir, variant ? 1 : 3, variant);
            for (int mm = 0; mm < 2; mm++) {
                float *got = last_logits(dir, mm, ids, 8, &V);
                CHECK(want && got && memcmp(want, got, sizeof(float) * (size_t)V) == 0,
                      "%s (%s, mmap %d): logits differ from the single-file model", models[i],
                      variant ? "misaligned" : "3 shards", mm);
                free(got);
            }
        }
        free(want);
    }
    return test_summary("test_sharded");
}
