/* test_gguf.c — the GGUF reader and writer (src/io/gguf.c) and models loaded from one .gguf
 * file (src/model/gguf_model.c).
 *
 *  1. golden files: the GGUF files llama.cpp's own converter wrote for the three tiny dense
 *     models (tests/data/<model>/model-f32.gguf and bf16/model-bf16.gguf) parse; their metadata
 *     and tensor lists equal what dense-manifest.json records; the tokenizer arrays equal
 *     tokenizer.json; every tensor's bytes equal the Hugging Face safetensors of the same
 *     folder (Llama's attn_q / attn_k with the converter's per-head row permutation checked
 *     row by row; rope_freqs against the manifest and the llama3 formula).
 *  2. writer round trip: every value type, arrays of each (empty ones too), strings with NUL
 *     and invalid UTF-8 bytes, alignments 1 / 32 / 64 / 128 / default, tensors of every dtype
 *     the writer takes with 1..4 dims and empty ones; read back (memory, read, mapped) and
 *     compared field by field, layout and alignment included; typed getters; writer refusals.
 *  3. hostile files: a table of hand-built files, each broken in one way, refused with the
 *     right status and a one-line message naming the file and the key or tensor; every
 *     truncation of a valid file; single-byte changes (exhaustive over the header, random
 *     over the data); a header over 1 MiB (the reader's growing-prefix path).
 *  4. models: a copy of qwen2_tiny's GGUF made with the reader + writer is byte-identical;
 *     copies with a key or a tensor dropped fail naming it; copies with hostile values in
 *     the config keys fail cleanly (each load in a child process, so a crash is a failed
 *     check, not the end of the test). */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "r1c.h"
#include "test_util.h"

typedef unsigned long long ull;

static char g_dir[1024];

static const char *tmp_path(const char *name) {
    static char buf[8][1200];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", g_dir, name);
    return p;
}

#define SUBS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The last error: right status, names `file`, holds every phrase, one line. */
static void check_error(int line, const char *how, r1c_status got, r1c_status want,
                        const char *file, const char *const *subs) {
    const char *msg = r1c_last_error();
    CHECK(got == want, "line %d (%s): status %s, want %s; message: %s", line, how,
          r1c_status_string(got), r1c_status_string(want), msg);
    if (got == R1C_OK) return;
    CHECK(contains(msg, file), "line %d (%s): message does not name %s: %s", line, how, file, msg);
    for (int i = 0; subs && subs[i]; i++)
        CHECK(contains(msg, subs[i]), "line %d (%s): message lacks \"%s\": %s", line, how,
              subs[i], msg);
    CHECK(!strchr(msg, '\n'), "line %d (%s): message is not one line: %s", line, how, msg);
}

static int g_empty(const r1c_gguf *g) {
    return !g->kv && !g->n_kv && !g->tensors && !g->n_tensors && !g->kv_slots &&
           !g->tensor_slots && !g->path && !g->blob.data;
}

/* ------------------------------------------------------------ byte builder */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 256;
        while (c < b->n + n) c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q) exit(2);
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_le(bytes *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)n);
}
static void put_u8(bytes *b, uint8_t v) { put_le(b, v, 1); }
static void put_u32(bytes *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(bytes *b, uint64_t v) { put_le(b, v, 8); }
static void put_strn(bytes *b, const void *s, uint64_t n) {
    put_u64(b, n);
    put(b, s, (size_t)n);
}
static void put_str(bytes *b, const char *s) { put_strn(b, s, strlen(s)); }

static void header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
/* a key and its value type; the caller appends the value */
static void key_type(bytes *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
}
static void kv_u32(bytes *b, const char *key, uint32_t v) {
    key_type(b, key, R1C_GGUF_UINT32);
    put_u32(b, v);
}
static void kv_str(bytes *b, const char *key, const char *v) {
    key_type(b, key, R1C_GGUF_STRING);
    put_str(b, v);
}
static void tensor_rec(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t ggml_type, uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims && d < 5; d++) put_u64(b, ne[d]); /* callers give at most 5 */
    put_u32(b, ggml_type);
    put_u64(b, offset);
}
static void pad_to(bytes *b, size_t a) {
    while (b->n % a) put_u8(b, 0);
}
static void data_bytes(bytes *b, size_t n) {
    for (size_t i = 0; i < n; i++) put_u8(b, (uint8_t)(i * 7 + 3));
}

#define NE(...) ((const uint64_t[]){__VA_ARGS__})

/* --------------------------------------------------- touching a parsed file */

static volatile uint8_t g_sink;

/* Reads everything an accepted file exposes, so that ASan sees any pointer the reader got
 * wrong, and checks the promises the reader makes about what it accepted. */
static void touch_all(const r1c_gguf *g, const uint8_t *base, size_t size, const char *how, int getters) {
    uint8_t acc = 0;
    int bad = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const r1c_gguf_kv *kv = &g->kv[i];
        char key[256];
        size_t kn = kv->key.n < sizeof key - 1 ? (size_t)kv->key.n : sizeof key - 1;
        memcpy(key, kv->key.p, kn);
        key[kn] = 0;
        for (uint64_t k = 0; k < kv->key.n; k++) acc ^= (uint8_t)kv->key.p[k];
        if (kv->key.n < sizeof key - 1 && r1c_gguf_find(g, key) != kv) bad |= 1;
        if (kv->type == R1C_GGUF_STRING)
            for (uint64_t k = 0; k < kv->v.s.n; k++) acc ^= (uint8_t)kv->v.s.p[k];
        if (kv->type == R1C_GGUF_ARRAY) {
            if (kv->arr_type == R1C_GGUF_ARRAY || kv->arr_type >= R1C_GGUF_TYPE_COUNT) bad |= 2;
            if (kv->arr_type == R1C_GGUF_STRING) {
                for (uint64_t e = 0; e < kv->arr_n; e++)
                    for (uint64_t k = 0; k < kv->arr_str[e].n; k++) acc ^= (uint8_t)kv->arr_str[e].p[k];
            } else if (kv->arr_n) {
                static const int esz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
                uint64_t nb = kv->arr_n * (uint64_t)esz[kv->arr_type];
                if ((const uint8_t *)kv->arr < base || (const uint8_t *)kv->arr + nb > base + size) bad |= 4;
                acc ^= kv->arr[0] ^ kv->arr[nb - 1];
            }
        }
        uint32_t u;
        int64_t i64;
        float f;
        int bo;
        r1c_gguf_str s;
        if (getters && kv->key.n < sizeof key - 1) { /* a refusal formats a message: not cheap */
            (void)r1c_gguf_get_u32(g, key, &u);
            (void)r1c_gguf_get_i64(g, key, &i64);
            (void)r1c_gguf_get_f32(g, key, &f);
            (void)r1c_gguf_get_bool(g, key, &bo);
            if (r1c_gguf_get_str(g, key, &s) == R1C_OK && s.n) acc ^= (uint8_t)s.p[s.n - 1];
        }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const r1c_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment || g->data_start % g->alignment) bad |= 8;
        if (t->nbytes != r1c_dtype_row_bytes(t->dtype, t->ne[0]) * t->ne[1] * t->ne[2] * t->ne[3])
            bad |= 16;
        if (t->nbytes) {
            if (t->data < base || t->data + t->nbytes > base + size) bad |= 32;
            acc ^= t->data[0] ^ t->data[t->nbytes - 1];
        }
        for (uint64_t j = 0; j < i && g->n_tensors < 64; j++) {
            const r1c_gguf_tensor *o = &g->tensors[j];
            if (t->nbytes && o->nbytes && t->offset < o->offset + o->nbytes &&
                o->offset < t->offset + t->nbytes)
                bad |= 64;
        }
        char name[256];
        if (t->name.n < sizeof name) {
            memcpy(name, t->name.p, (size_t)t->name.n);
            name[t->name.n] = 0;
            if (r1c_gguf_find_tensor(g, name) != t) bad |= 128;
        }
    }
    g_sink = acc;
    CHECK(!bad, "%s: accepted file breaks a promise (flags %#x)", how, bad);
}

/* ================================================================ 1. golden */

static const char *const g_models[] = {"qwen2_tiny", "qwen2_tiny_tied", "llama3_tiny"};

/* llama.cpp's GGUF name -> the Hugging Face name (the converter's mapping for these models) */
static int hf_name_of(const char *gg, char *out, size_t cap) {
    static const char *const map[][2] = {
        {"attn_norm.weight", "input_layernorm.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"},
        {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"},
        {"attn_q.bias", "self_attn.q_proj.bias"},
        {"attn_k.bias", "self_attn.k_proj.bias"},
        {"attn_v.bias", "self_attn.v_proj.bias"},
        {"attn_output.weight", "self_attn.o_proj.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},
        {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    if (!strcmp(gg, "token_embd.weight")) return snprintf(out, cap, "model.embed_tokens.weight") > 0;
    if (!strcmp(gg, "output_norm.weight")) return snprintf(out, cap, "model.norm.weight") > 0;
    if (!strcmp(gg, "output.weight")) return snprintf(out, cap, "lm_head.weight") > 0;
    int l, n = 0;
    if (sscanf(gg, "blk.%d.%n", &l, &n) != 1 || !n) return 0;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(gg + n, map[i][0])) return snprintf(out, cap, "model.layers.%d.%s", l, map[i][1]) > 0;
    return 0;
}

static int is_entries(const char *s, uint64_t *n) { /* "[512 entries]" */
    unsigned long long v;
    char tail[16];
    if (sscanf(s, "[%llu %15[a-z]]", &v, tail) == 2 && !strcmp(tail, "entries")) {
        *n = v;
        return 1;
    }
    return 0;
}

/* one key of the file against the manifest's value (a string, a number, a bool, "[N entries]") */
static void check_golden_kv(const char *file, const r1c_gguf *g, const char *key, const cJSON *want) {
    const r1c_gguf_kv *kv = r1c_gguf_find(g, key);
    CHECK(kv != NULL, "%s: key %s missing", file, key);
    if (!kv) return;
    uint64_t n;
    if (cJSON_IsString(want) && is_entries(want->valuestring, &n)) {
        CHECK(kv->type == R1C_GGUF_ARRAY && kv->arr_n == n, "%s: %s: %s of %llu, want %llu entries",
              file, key, r1c_gguf_type_name(kv->type), (ull)kv->arr_n, (ull)n);
    } else if (cJSON_IsString(want)) {
        r1c_gguf_str s = {0};
        CHECK(r1c_gguf_get_str(g, key, &s) == R1C_OK, "%s: %s: %s", file, key, r1c_last_error());
        CHECK(s.n == strlen(want->valuestring) && !memcmp(s.p, want->valuestring, s.n),
              "%s: %s = '%.*s', want '%s'", file, key, (int)s.n, s.p, want->valuestring);
    } else if (cJSON_IsBool(want)) {
        int b = -1;
        CHECK(r1c_gguf_get_bool(g, key, &b) == R1C_OK, "%s: %s: %s", file, key, r1c_last_error());
        CHECK(b == cJSON_IsTrue(want), "%s: %s = %d", file, key, b);
    } else if (cJSON_IsNumber(want)) {
        const double w = want->valuedouble;
        if (kv->type == R1C_GGUF_FLOAT32 || kv->type == R1C_GGUF_FLOAT64) {
            CHECK(kv->v.f == w, "%s: %s = %.17g, want %.17g", file, key, kv->v.f, w);
            float f = 0;
            CHECK(r1c_gguf_get_f32(g, key, &f) == R1C_OK && f == (float)w, "%s: %s get_f32 %g", file, key, f);
        } else {
            int64_t v = -1;
            CHECK(r1c_gguf_get_i64(g, key, &v) == R1C_OK, "%s: %s (%s): %s", file, key,
                  r1c_gguf_type_name(kv->type), r1c_last_error());
            CHECK((double)v == w, "%s: %s = %lld, want %.17g", file, key, (long long)v, w);
            /* llama.cpp's converter writes these integers as u32 */
            CHECK(kv->type == R1C_GGUF_UINT32, "%s: %s is %s", file, key, r1c_gguf_type_name(kv->type));
        }
    } else {
        CHECK(0, "%s: manifest value of %s has an unexpected JSON type", file, key);
    }
}

/* tokenizer.ggml.* against the folder's tokenizer.json */
static void check_golden_tokenizer(const char *file, const r1c_gguf *g, const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "tests/data/%s/tokenizer.json", dir);
    size_t len;
    char *text = read_file(path, &len);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    CHECK(root != NULL, "cannot read %s", path);
    if (!root) return;
    const r1c_gguf_kv *toks = r1c_gguf_find(g, "tokenizer.ggml.tokens");
    const r1c_gguf_kv *types = r1c_gguf_find(g, "tokenizer.ggml.token_type");
    const r1c_gguf_kv *merges = r1c_gguf_find(g, "tokenizer.ggml.merges");
    CHECK(toks && toks->type == R1C_GGUF_ARRAY && toks->arr_type == R1C_GGUF_STRING, "%s: tokens", file);
    CHECK(types && types->type == R1C_GGUF_ARRAY && types->arr_type == R1C_GGUF_INT32, "%s: token_type", file);
    CHECK(merges && merges->type == R1C_GGUF_ARRAY && merges->arr_type == R1C_GGUF_STRING, "%s: merges", file);
    if (!toks || !types || !merges || toks->arr_type != R1C_GGUF_STRING ||
        types->arr_type != R1C_GGUF_INT32 || merges->arr_type != R1C_GGUF_STRING ||
        types->arr_n != toks->arr_n) {
        cJSON_Delete(root);
        return;
    }
    const cJSON *model = cJSON_GetObjectItem(root, "model");
    const cJSON *e;
    uint64_t seen = 0, bad = 0;
    uint8_t *is_special = calloc((size_t)toks->arr_n, 1);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(model, "vocab")) {
        uint64_t id = (uint64_t)e->valuedouble;
        seen++;
        if (id >= toks->arr_n || toks->arr_str[id].n != strlen(e->string) ||
            memcmp(toks->arr_str[id].p, e->string, (size_t)toks->arr_str[id].n))
            bad++;
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "added_tokens")) {
        uint64_t id = (uint64_t)cJSON_GetObjectItem(e, "id")->valuedouble;
        const char *content = cJSON_GetObjectItem(e, "content")->valuestring;
        seen++;
        if (id >= toks->arr_n || toks->arr_str[id].n != strlen(content) ||
            memcmp(toks->arr_str[id].p, content, (size_t)toks->arr_str[id].n))
            bad++;
        else
            is_special[id] = 1;
    }
    CHECK(seen == toks->arr_n && bad == 0, "%s: tokens: %llu of %llu differ from %s (%llu there)",
          file, (ull)bad, (ull)toks->arr_n, path, (ull)seen);
    uint64_t bad_types = 0;
    for (uint64_t i = 0; i < types->arr_n; i++) {
        int32_t t;
        memcpy(&t, types->arr + 4 * i, 4);
        if (t != (is_special[i] ? 3 : 1)) bad_types++; /* CONTROL for added specials, NORMAL */
    }
    CHECK(bad_types == 0, "%s: %llu token types are not NORMAL / CONTROL as expected", file, (ull)bad_types);
    free(is_special);
    const cJSON *jm = cJSON_GetObjectItem(model, "merges");
    uint64_t k = 0, bad_m = 0;
    cJSON_ArrayForEach(e, jm) {
        const char *s = cJSON_IsString(e) ? e->valuestring : "";
        if (k >= merges->arr_n || merges->arr_str[k].n != strlen(s) ||
            memcmp(merges->arr_str[k].p, s, (size_t)merges->arr_str[k].n))
            bad_m++;
        k++;
    }
    CHECK(k == merges->arr_n && bad_m == 0, "%s: merges: %llu differ, %llu vs %llu", file, (ull)bad_m,
          (ull)k, (ull)merges->arr_n);
    cJSON_Delete(root);
}

/* One GGUF tensor against its Hugging Face tensor. heads > 0: rows permuted per head as the
 * converter does for Llama's q/k: GGUF row h*hd + 2j = HF row h*hd + j, row h*hd + 2j + 1 =
 * HF row h*hd + j + hd/2. */
static void check_golden_data(const char *file, const r1c_gguf_tensor *t, const char *name,
                              const r1c_tensor *hf, int heads) {
    int shape_ok = t->n_dims == hf->n_dims;
    for (int d = 0; shape_ok && d < t->n_dims; d++) shape_ok = t->ne[d] == (uint64_t)hf->shape[t->n_dims - 1 - d];
    CHECK(shape_ok, "%s: %s: GGUF shape is not the reversed HF shape", file, name);
    if (!shape_ok) return;
    const uint64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    const int gsz = t->dtype == R1C_F32 ? 4 : 2, hsz = hf->dtype == R1C_F32 ? 4 : 2;
    int widened = t->dtype == R1C_F32 && hf->dtype == R1C_BF16; /* bf16 GGUF: 1-D tensors F32 */
    CHECK(t->dtype == hf->dtype || widened, "%s: %s: GGUF %s vs HF %s", file, name,
          r1c_dtype_name(t->dtype), r1c_dtype_name(hf->dtype));
    CHECK(t->nbytes == rows * cols * (uint64_t)gsz && hf->nbytes == rows * cols * (uint64_t)hsz,
          "%s: %s: sizes %llu / %llu", file, name, (ull)t->nbytes, (ull)hf->nbytes);
    if (t->nbytes != rows * cols * (uint64_t)gsz || hf->nbytes != rows * cols * (uint64_t)hsz) return;
    const uint64_t hd = heads ? rows / (uint64_t)heads : 0;
    if (heads) CHECK(rows % (uint64_t)heads == 0 && hd % 2 == 0, "%s: %s: %llu rows, %d heads", file, name, (ull)rows, heads);
    uint64_t bad_rows = 0, moved = 0;
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t src = r;
        if (heads) {
            uint64_t h = r / hd, i = r % hd;
            src = h * hd + (i % 2 ? i / 2 + hd / 2 : i / 2);
            moved += src != r;
        }
        const uint8_t *a = t->data + r * cols * (uint64_t)gsz;
        const uint8_t *b = (const uint8_t *)hf->data + src * cols * (uint64_t)hsz;
        int same;
        if (!widened) {
            same = !memcmp(a, b, (size_t)(cols * (uint64_t)gsz));
        } else {
            same = 1;
            for (uint64_t c = 0; c < cols && same; c++) {
                float x;
                uint16_t h16;
                memcpy(&x, a + 4 * c, 4);
                memcpy(&h16, b + 2 * c, 2);
                same = x == r1c_bf16_to_f32(h16);
            }
        }
        bad_rows += !same;
    }
    CHECK(bad_rows == 0, "%s: %s: %llu of %llu rows differ from the HF tensor%s", file, name,
          (ull)bad_rows, (ull)rows, heads ? " (per-head permutation)" : "");
    if (heads) CHECK(moved > 0, "%s: %s: the permutation moved no row", file, name);
    if (heads && hd > 2) { /* and the file is not simply unpermuted: row 1 of head 0 is HF row hd/2 */
        const uint8_t *a = t->data + 1 * cols * (uint64_t)gsz, *b = (const uint8_t *)hf->data + 1 * cols * (uint64_t)hsz;
        CHECK(widened || memcmp(a, b, (size_t)(cols * (uint64_t)gsz)) != 0,
              "%s: %s: row 1 equals HF row 1: not permuted", file, name);
    }
}

/* rope_freqs.weight: the manifest's values, and the llama3 formula of README-dense.md */
static void check_rope_freqs(const char *file, const r1c_gguf_tensor *t, const cJSON *model) {
    const cJSON *cfg = cJSON_GetObjectItem(model, "config"), *rs = cJSON_GetObjectItem(cfg, "rope_scaling");
    const int hd = cJSON_GetObjectItem(cfg, "head_dim")->valueint;
    const double theta = cJSON_GetObjectItem(cfg, "rope_theta")->valuedouble;
    const double factor = cJSON_GetObjectItem(rs, "factor")->valuedouble;
    const double lo = cJSON_GetObjectItem(rs, "low_freq_factor")->valuedouble;
    const double hi = cJSON_GetObjectItem(rs, "high_freq_factor")->valuedouble;
    const double orig = cJSON_GetObjectItem(rs, "original_max_position_embeddings")->valuedouble;
    const cJSON *want = cJSON_GetObjectItem(model, "rope_freqs");
    CHECK(t->dtype == R1C_F32 && t->n_dims == 1 && t->ne[0] == (uint64_t)(hd / 2) &&
              cJSON_GetArraySize(want) == hd / 2,
          "%s: rope_freqs.weight is %s [%llu]", file, r1c_dtype_name(t->dtype), (ull)t->ne[0]);
    if (t->ne[0] != (uint64_t)(hd / 2) || t->dtype != R1C_F32) return;
    for (int j = 0; j < hd / 2; j++) {
        float v;
        memcpy(&v, t->data + 4 * j, 4);
        CHECK(v == (float)cJSON_GetArrayItem(want, j)->valuedouble, "%s: rope_freqs[%d] = %.9g vs manifest %.9g",
              file, j, v, cJSON_GetArrayItem(want, j)->valuedouble);
        double th = pow(theta, -2.0 * j / hd), wl = 2 * M_PI / th, f;
        if (wl < orig / hi)
            f = 1;
        else if (wl > orig / lo)
            f = factor;
        else {
            double s = (orig / wl - lo) / (hi - lo);
            f = 1 / ((1 - s) / factor + s);
        }
        CHECK(fabs(v - f) <= 1e-6 * f, "%s: rope_freqs[%d] = %.9g, llama3 formula %.9g", file, j, v, f);
    }
}

static void test_golden_file(const cJSON *model, const char *dir, int bf16, int use_mmap) {
    char path[512], st_path[512];
    snprintf(path, sizeof path, "tests/data/%s/%s", dir, bf16 ? "bf16/model-bf16.gguf" : "model-f32.gguf");
    snprintf(st_path, sizeof st_path, "tests/data/%s/%smodel.safetensors", dir, bf16 ? "bf16/" : "");
    r1c_gguf g;
    r1c_status st = r1c_gguf_open(path, use_mmap, &g);
    CHECK(st == R1C_OK, "%s: %s", path, r1c_last_error());
    if (st != R1C_OK) return;
    CHECK(g.version == 3 && g.alignment == 32 && g.data_start % 32 == 0 && g.data_start <= g.blob.size,
          "%s: version %u alignment %llu data_start %llu", path, g.version, (ull)g.alignment, (ull)g.data_start);
    CHECK(!r1c_gguf_find(&g, "general.alignment"), "%s: unexpected general.alignment", path);
    if (!use_mmap) CHECK(((uintptr_t)(g.blob.data + g.data_start)) % 64 == 0, "%s: data section not 64-byte aligned in memory", path);

    /* metadata: the manifest's keys, in the file's order; the bf16 file differs in two keys */
    const cJSON *meta = cJSON_GetObjectItem(model, "gguf_f32_metadata"), *e;
    CHECK((uint64_t)cJSON_GetArraySize(meta) == g.n_kv, "%s: %llu keys, manifest %d", path, (ull)g.n_kv,
          cJSON_GetArraySize(meta));
    uint64_t i = 0;
    cJSON_ArrayForEach(e, meta) {
        CHECK(i < g.n_kv && g.kv[i].key.n == strlen(e->string) && !memcmp(g.kv[i].key.p, e->string, g.kv[i].key.n),
              "%s: key %llu is not %s", path, (ull)i, e->string);
        i++;
        if (bf16 && !strcmp(e->string, "general.file_type")) {
            uint32_t ft = 0; /* LLAMA_FTYPE_MOSTLY_BF16 */
            CHECK(r1c_gguf_get_u32(&g, e->string, &ft) == R1C_OK && ft == 32, "%s: file_type %u", path, ft);
        } else if (bf16 && !strcmp(e->string, "general.name")) {
            r1c_gguf_str s = {0}; /* the converter names the model after its folder: bf16/ */
            CHECK(r1c_gguf_get_str(&g, e->string, &s) == R1C_OK && s.n == 4 && !memcmp(s.p, "bf16", 4),
                  "%s: general.name '%.*s'", path, (int)s.n, s.p);
        } else {
            check_golden_kv(path, &g, e->string, e);
        }
    }
    check_golden_tokenizer(path, &g, dir);

    /* tensors: names, types, shapes, in the file's order */
    const cJSON *tensors = cJSON_GetObjectItem(model, "gguf_f32_tensors");
    CHECK((uint64_t)cJSON_GetArraySize(tensors) == g.n_tensors, "%s: %llu tensors, manifest %d", path,
          (ull)g.n_tensors, cJSON_GetArraySize(tensors));
    i = 0;
    cJSON_ArrayForEach(e, tensors) {
        if (i >= g.n_tensors) break;
        const r1c_gguf_tensor *t = &g.tensors[i++];
        const cJSON *shape = cJSON_GetArrayItem(e, 1);
        const int nd = cJSON_GetArraySize(shape);
        const char *want_type = cJSON_GetArrayItem(e, 0)->valuestring;
        if (bf16 && nd >= 2) want_type = "BF16"; /* README: >= 2-D weights BF16, the rest F32 */
        int ok = t->name.n == strlen(e->string) && !memcmp(t->name.p, e->string, t->name.n) && t->n_dims == nd &&
                 !strcmp(r1c_gguf_ggml_type_name(t->ggml_type), want_type);
        for (int d = 0; ok && d < 4; d++)
            ok = t->ne[d] == (d < nd ? (uint64_t)cJSON_GetArrayItem(shape, d)->valuedouble : 1);
        CHECK(ok, "%s: tensor %llu '%.*s' %s [%llu %llu %llu %llu] is not %s %s", path, (ull)(i - 1), (int)t->name.n,
              t->name.p, r1c_gguf_ggml_type_name(t->ggml_type), (ull)t->ne[0], (ull)t->ne[1], (ull)t->ne[2],
              (ull)t->ne[3], e->string, want_type);
        CHECK(r1c_gguf_find_tensor(&g, e->string) == t, "%s: find_tensor(%s)", path, e->string);
        CHECK(t->offset % 32 == 0 && t->data == g.blob.data + g.data_start + t->offset, "%s: %s offset %llu",
              path, e->string, (ull)t->offset);
    }

    /* data: equal to the safetensors of the same folder */
    r1c_st_set s;
    st = r1c_st_open_file(st_path, 0, &s);
    CHECK(st == R1C_OK, "%s: %s", st_path, r1c_last_error());
    if (st == R1C_OK) {
        const cJSON *spec = cJSON_GetObjectItem(model, "spec");
        const int is_llama = !strcmp(cJSON_GetObjectItem(spec, "arch")->valuestring, "llama");
        const int heads = cJSON_GetObjectItem(spec, "heads")->valueint, kv = cJSON_GetObjectItem(spec, "kv")->valueint;
        int n_matched = 0, n_hf = 0;
        for (i = 0; i < g.n_tensors; i++) {
            const r1c_gguf_tensor *t = &g.tensors[i];
            char name[128], hf[160];
            snprintf(name, sizeof name, "%.*s", (int)t->name.n, t->name.p);
            if (!strcmp(name, "rope_freqs.weight")) {
                CHECK(is_llama, "%s: rope_freqs in a %s file", path, cJSON_GetObjectItem(spec, "arch")->valuestring);
                check_rope_freqs(path, t, model);
                continue;
            }
            CHECK(hf_name_of(name, hf, sizeof hf), "%s: no HF name for %s", path, name);
            r1c_tensor v;
            if (!r1c_st_find(&s, hf, &v, NULL)) {
                CHECK(0, "%s: %s (HF %s) not in %s", path, name, hf, st_path);
                continue;
            }
            int perm = 0;
            if (is_llama && strstr(name, "attn_q.")) perm = heads;
            if (is_llama && strstr(name, "attn_k.")) perm = kv;
            check_golden_data(path, t, name, &v, perm);
            n_matched++;
        }
        for (int f = 0; f < s.n_files; f++) n_hf += s.files[f].hdr.n;
        CHECK(n_matched == n_hf, "%s: %d tensors matched, %s has %d", path, n_matched, st_path, n_hf);
        r1c_st_close(&s);
    }
    r1c_gguf_close(&g);
    CHECK(g_empty(&g), "%s: close left fields set", path);
}

static void test_golden(void) {
    size_t len;
    char *text = read_file("tests/data/dense-manifest.json", &len);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    CHECK(root != NULL, "cannot read tests/data/dense-manifest.json");
    if (!root) return;
    const cJSON *models = cJSON_GetObjectItem(root, "models");
    for (size_t m = 0; m < sizeof g_models / sizeof *g_models; m++) {
        const cJSON *model = cJSON_GetObjectItem(models, g_models[m]);
        CHECK(model != NULL, "manifest lacks %s", g_models[m]);
        if (!model) continue;
        test_golden_file(model, g_models[m], 0, (int)(m & 1));
        test_golden_file(model, g_models[m], 1, (int)!(m & 1));
    }
    /* the whole file in memory through r1c_gguf_parse: the same result as r1c_gguf_open */
    const char *path = "tests/data/qwen2_tiny/model-f32.gguf";
    uint8_t *buf = read_file(path, &len);
    r1c_gguf a, b;
    CHECK(buf && r1c_gguf_parse(path, buf, len, &a) == R1C_OK, "parse %s: %s", path, r1c_last_error());
    CHECK(r1c_gguf_open(path, 1, &b) == R1C_OK, "open %s: %s", path, r1c_last_error());
    CHECK(a.n_kv == b.n_kv && a.n_tensors == b.n_tensors && a.data_start == b.data_start && a.blob.data == NULL,
          "%s: parse and open disagree", path);
    for (uint64_t i = 0; i < a.n_tensors && i < b.n_tensors; i++)
        CHECK(a.tensors[i].offset == b.tensors[i].offset && a.tensors[i].data == buf + a.data_start + a.tensors[i].offset &&
                  !memcmp(a.tensors[i].data, b.tensors[i].data, (size_t)a.tensors[i].nbytes),
              "%s: tensor %llu differs between parse and open", path, (ull)i);
    r1c_gguf_close(&a);
    r1c_gguf_close(&b);
    free(buf);
    cJSON_Delete(root);
}

/* ========================================================= 2. round trip */

typedef struct lit {
    const char *p;
    uint64_t n;
} lit;
#define LIT(s) {s, sizeof s - 1}

static const uint8_t a_u8[] = {0, 1, 127, 128, 255};
static const int8_t a_i8[] = {-128, -1, 0, 127};
static const uint16_t a_u16[] = {0, 0xbeef, 0xffff};
static const int16_t a_i16[] = {-32768, -1, 0, 32767};
static const uint32_t a_u32[] = {0, 1, 0xdeadbeefu, 0xffffffffu};
static const int32_t a_i32[] = {INT32_MIN, -1, 0, INT32_MAX};
static const float a_f32[] = {0.0f, -0.0f, 1.5f, -3.25e-20f, INFINITY, 3.4028235e38f, 1e-45f};
static const uint64_t a_u64[] = {0, 1ull << 63, UINT64_MAX};
static const int64_t a_i64[] = {INT64_MIN, -1, INT64_MAX};
static const double a_f64[] = {0.1, -1e300, 4.9e-324, -INFINITY};
static const uint8_t a_bool[] = {0, 1, 1, 0, 1};
static const lit a_str[] = {
    LIT("alpha"), LIT(""), LIT("nul\0inside\0"), LIT("\xff\xfe bad utf-8 \xc3\x28 \xed\xa0\x80"),
    LIT("\xe2\x82\xac \xf0\x9f\x98\x80 ok"), LIT("\0"),
};

/* scalars */
static const uint8_t s_u8 = 0xab;
static const int8_t s_i8 = -100;
static const uint16_t s_u16 = 0xbeef;
static const int16_t s_i16 = -30000;
static const uint32_t s_u32 = 0xdeadbeefu;
static const int32_t s_i32 = INT32_MIN;
static const float s_f32 = -1.5e-7f, s_f32_neg0 = -0.0f, s_f32_inf = INFINITY;
static const uint8_t s_true = 1, s_false = 0;
static const uint64_t s_u64 = UINT64_MAX;
static const int64_t s_i64 = INT64_MIN;
static const double s_f64 = 1e300, s_f64_small = 0.25;

typedef enum { K_SCALAR, K_STR, K_ARR, K_ARR_STR } kv_kind;

typedef struct kv_spec {
    const char *key;
    kv_kind kind;
    r1c_gguf_type type; /* scalar type or element type */
    const void *val;    /* scalar: the element; array: n elements; string: bytes */
    uint64_t n;         /* array length / string bytes */
} kv_spec;

#define SC(key, t, v) {key, K_SCALAR, t, &(v), 1}
#define AR(key, t, a) {key, K_ARR, t, a, sizeof a / sizeof *a}

static const kv_spec g_kvs[] = {
    SC("t.u8", R1C_GGUF_UINT8, s_u8),
    SC("t.i8", R1C_GGUF_INT8, s_i8),
    SC("t.u16", R1C_GGUF_UINT16, s_u16),
    SC("t.i16", R1C_GGUF_INT16, s_i16),
    SC("t.u32", R1C_GGUF_UINT32, s_u32),
    SC("t.i32", R1C_GGUF_INT32, s_i32),
    SC("t.f32", R1C_GGUF_FLOAT32, s_f32),
    SC("t.f32.neg0", R1C_GGUF_FLOAT32, s_f32_neg0),
    SC("t.f32.inf", R1C_GGUF_FLOAT32, s_f32_inf),
    SC("t.bool1", R1C_GGUF_BOOL, s_true),
    SC("t.bool0", R1C_GGUF_BOOL, s_false),
    {"t.str", K_STR, R1C_GGUF_STRING, "hello, world", 12},
    {"t.str.empty", K_STR, R1C_GGUF_STRING, "", 0},
    {"t.str.bad-utf8", K_STR, R1C_GGUF_STRING, "\xff\xc0\x80 \xed\xa0\x80 x", 9},
    SC("t.u64", R1C_GGUF_UINT64, s_u64),
    SC("t.i64", R1C_GGUF_INT64, s_i64),
    SC("t.f64", R1C_GGUF_FLOAT64, s_f64),
    SC("t.f64.small", R1C_GGUF_FLOAT64, s_f64_small),
    AR("a.u8", R1C_GGUF_UINT8, a_u8),
    AR("a.i8", R1C_GGUF_INT8, a_i8),
    AR("a.u16", R1C_GGUF_UINT16, a_u16),
    AR("a.i16", R1C_GGUF_INT16, a_i16),
    AR("a.u32", R1C_GGUF_UINT32, a_u32),
    AR("a.i32", R1C_GGUF_INT32, a_i32),
    AR("a.f32", R1C_GGUF_FLOAT32, a_f32),
    AR("a.bool", R1C_GGUF_BOOL, a_bool),
    AR("a.u64", R1C_GGUF_UINT64, a_u64),
    AR("a.i64", R1C_GGUF_INT64, a_i64),
    AR("a.f64", R1C_GGUF_FLOAT64, a_f64),
    {"a.str", K_ARR_STR, R1C_GGUF_STRING, a_str, sizeof a_str / sizeof *a_str},
    {"a.u32.empty", K_ARR, R1C_GGUF_UINT32, a_u32, 0},
    {"a.bool.empty", K_ARR, R1C_GGUF_BOOL, a_bool, 0},
    {"a.f64.empty", K_ARR, R1C_GGUF_FLOAT64, a_f64, 0},
    {"a.str.empty", K_ARR_STR, R1C_GGUF_STRING, a_str, 0},
    {"\xe2\x82\xac.key with spaces/and:punct", K_STR, R1C_GGUF_STRING, "v", 1},
};
#define N_KVS (sizeof g_kvs / sizeof *g_kvs)

static const int g_esz[R1C_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct t_spec {
    const char *name;
    r1c_dtype dtype;
    int n_dims;
    uint64_t ne[4];
} t_spec;

static const t_spec g_ts[] = {
    {"f32.1d", R1C_F32, 1, {7, 1, 1, 1}},
    {"empty.first", R1C_BF16, 3, {0, 4, 2, 1}},
    {"f16.2d", R1C_F16, 2, {5, 3, 1, 1}},
    {"bf16.3d", R1C_BF16, 3, {4, 3, 2, 1}},
    {"q8_0.4d", R1C_Q8_0, 4, {64, 2, 1, 3}},
    {"empty", R1C_F32, 2, {16, 0, 1, 1}},
    {"q4_0.2d", R1C_Q4_0, 2, {32, 3, 1, 1}},
    {"q4_k.2d", R1C_Q4_K, 2, {256, 2, 1, 1}},
    {"q6_k.1d", R1C_Q6_K, 1, {512, 1, 1, 1}},
    {"f32.4d", R1C_F32, 4, {2, 3, 4, 5}},
    {"q8_0.empty.4d", R1C_Q8_0, 4, {32, 1, 0, 2}},
    {"blk.0.attn_q.weight", R1C_F16, 2, {8, 1, 1, 1}},
};
#define N_TS (sizeof g_ts / sizeof *g_ts)

static uint64_t spec_nbytes(const t_spec *t) {
    return r1c_dtype_row_bytes(t->dtype, t->ne[0]) * t->ne[1] * t->ne[2] * t->ne[3];
}

/* the bytes of tensor i (deterministic) */
static uint8_t *spec_data(size_t i) {
    uint64_t n = spec_nbytes(&g_ts[i]), s = 0x9e3779b97f4a7c15ull ^ (i + 1);
    uint8_t *p = xmalloc((size_t)n);
    for (uint64_t k = 0; k < n; k++) p[k] = (uint8_t)test_rand(&s);
    return p;
}

static r1c_status add_spec(r1c_gguf_writer *w, const kv_spec *k, int use_typed) {
    switch (k->kind) {
    case K_SCALAR:
        if (use_typed) { /* the typed helpers where one exists */
            switch (k->type) {
            case R1C_GGUF_UINT32: return r1c_gguf_add_u32(w, k->key, *(const uint32_t *)k->val);
            case R1C_GGUF_INT32: return r1c_gguf_add_i32(w, k->key, *(const int32_t *)k->val);
            case R1C_GGUF_UINT64: return r1c_gguf_add_u64(w, k->key, *(const uint64_t *)k->val);
            case R1C_GGUF_FLOAT32: return r1c_gguf_add_f32(w, k->key, *(const float *)k->val);
            case R1C_GGUF_BOOL: return r1c_gguf_add_bool(w, k->key, *(const uint8_t *)k->val);
            default: break;
            }
        }
        return r1c_gguf_add_scalar(w, k->key, k->type, k->val);
    case K_STR: return r1c_gguf_add_str(w, k->key, (const char *)k->val);
    case K_ARR: return r1c_gguf_add_arr(w, k->key, k->type, k->val, k->n);
    case K_ARR_STR: {
        const lit *l = k->val;
        const char *ptrs[16];
        uint64_t lens[16];
        for (uint64_t i = 0; i < k->n; i++) ptrs[i] = l[i].p, lens[i] = l[i].n;
        return r1c_gguf_add_arr_str(w, k->key, ptrs, lens, k->n);
    }
    }
    return R1C_ERR_INVALID_ARG;
}

static int same_scalar(const r1c_gguf_kv *kv, r1c_gguf_type t, const void *val) {
    switch (t) {
    case R1C_GGUF_UINT8: return kv->v.u == *(const uint8_t *)val;
    case R1C_GGUF_INT8: return kv->v.i == *(const int8_t *)val;
    case R1C_GGUF_UINT16: return kv->v.u == *(const uint16_t *)val;
    case R1C_GGUF_INT16: return kv->v.i == *(const int16_t *)val;
    case R1C_GGUF_UINT32: return kv->v.u == *(const uint32_t *)val;
    case R1C_GGUF_INT32: return kv->v.i == *(const int32_t *)val;
    case R1C_GGUF_UINT64: return kv->v.u == *(const uint64_t *)val;
    case R1C_GGUF_INT64: return kv->v.i == *(const int64_t *)val;
    case R1C_GGUF_BOOL: return kv->v.b == *(const uint8_t *)val;
    case R1C_GGUF_FLOAT32: { /* bit for bit (-0.0 stays -0.0) */
        float f = (float)kv->v.f;
        return !memcmp(&f, val, 4);
    }
    case R1C_GGUF_FLOAT64: return !memcmp(&kv->v.f, val, 8);
    default: return 0;
    }
}

/* The long key and tensor name at the limits (65535 and 65536 bytes) of one variant. */
static char *g_long_key, *g_long_name;

typedef struct variant {
    uint32_t alignment;  /* 0: no general.alignment key (default 32) */
    int align_first;     /* the key first (else last) */
    int long_names;
} variant;

/* Writes the round-trip file; returns 1 on success. */
static int write_roundtrip(const char *path, const variant *v, uint8_t **data) {
    r1c_gguf_writer *w;
    CHECK(r1c_gguf_writer_new(path, &w) == R1C_OK, "writer_new: %s", r1c_last_error());
    int ok = 1;
    if (v->alignment && v->align_first) ok &= r1c_gguf_add_u32(w, "general.alignment", v->alignment) == R1C_OK;
    for (size_t i = 0; i < N_KVS; i++) {
        r1c_status st = add_spec(w, &g_kvs[i], (int)(i & 1));
        CHECK(st == R1C_OK, "add %s: %s", g_kvs[i].key, r1c_last_error());
        ok &= st == R1C_OK;
    }
    if (v->long_names) ok &= r1c_gguf_add_str(w, g_long_key, "long") == R1C_OK;
    if (v->alignment && !v->align_first) ok &= r1c_gguf_add_u32(w, "general.alignment", v->alignment) == R1C_OK;
    for (size_t i = 0; i < N_TS; i++) {
        r1c_status st = r1c_gguf_add_tensor(w, g_ts[i].name, g_ts[i].dtype, g_ts[i].n_dims, g_ts[i].ne, data[i]);
        CHECK(st == R1C_OK, "add tensor %s: %s", g_ts[i].name, r1c_last_error());
        ok &= st == R1C_OK;
    }
    if (v->long_names) ok &= r1c_gguf_add_tensor(w, g_long_name, R1C_F32, 1, NE(3), data[0]) == R1C_OK;
    r1c_status st = r1c_gguf_writer_finish(w);
    CHECK(st == R1C_OK, "finish %s: %s", path, r1c_last_error());
    r1c_gguf_writer_free(w);
    return ok && st == R1C_OK;
}

/* Everything of the round-trip file, as read back (base: where the file's byte 0 is). */
static void check_roundtrip(const char *how, const r1c_gguf *g, const variant *v, const uint8_t *base,
                            size_t size, uint8_t **data) {
    const uint64_t A = v->alignment ? v->alignment : 32;
    const uint64_t n_kv = N_KVS + (v->alignment != 0) + (v->long_names != 0);
    CHECK(g->version == 3 && g->alignment == A && g->n_kv == n_kv && g->n_tensors == N_TS + (v->long_names != 0),
          "%s: version %u alignment %llu n_kv %llu n_tensors %llu", how, g->version, (ull)g->alignment,
          (ull)g->n_kv, (ull)g->n_tensors);
    if (g->n_kv != n_kv || g->n_tensors != N_TS + (v->long_names != 0)) return;
    uint64_t k0 = v->alignment && v->align_first;
    if (v->alignment) {
        const r1c_gguf_kv *al = &g->kv[v->align_first ? 0 : n_kv - 1];
        CHECK(al == r1c_gguf_find(g, "general.alignment") && al->type == R1C_GGUF_UINT32 && al->v.u == A,
              "%s: general.alignment", how);
    }
    for (size_t i = 0; i < N_KVS; i++) {
        const kv_spec *s = &g_kvs[i];
        const r1c_gguf_kv *kv = &g->kv[k0 + i];
        CHECK(kv->key.n == strlen(s->key) && !memcmp(kv->key.p, s->key, kv->key.n), "%s: key %zu is '%.*s', want %s",
              how, i, (int)kv->key.n, kv->key.p, s->key);
        CHECK(r1c_gguf_find(g, s->key) == kv, "%s: find(%s)", how, s->key);
        switch (s->kind) {
        case K_SCALAR:
            CHECK(kv->type == s->type && same_scalar(kv, s->type, s->val), "%s: %s: type %s, value differs", how,
                  s->key, r1c_gguf_type_name(kv->type));
            break;
        case K_STR:
            CHECK(kv->type == R1C_GGUF_STRING && kv->v.s.n == s->n && !memcmp(kv->v.s.p, s->val, (size_t)s->n),
                  "%s: %s: string differs", how, s->key);
            break;
        case K_ARR:
            CHECK(kv->type == R1C_GGUF_ARRAY && kv->arr_type == s->type && kv->arr_n == s->n &&
                      (s->n == 0 || !memcmp(kv->arr, s->val, (size_t)s->n * (size_t)g_esz[s->type])),
                  "%s: %s: array of %s[%llu] differs", how, s->key, r1c_gguf_type_name(kv->arr_type), (ull)kv->arr_n);
            break;
        case K_ARR_STR: {
            const lit *l = s->val;
            int ok = kv->type == R1C_GGUF_ARRAY && kv->arr_type == R1C_GGUF_STRING && kv->arr_n == s->n;
            if (ok && s->n == 0) ok = kv->arr_str == NULL;
            for (uint64_t e = 0; ok && e < s->n; e++)
                ok = kv->arr_str[e].n == l[e].n && !memcmp(kv->arr_str[e].p, l[e].p, (size_t)l[e].n);
            CHECK(ok, "%s: %s: string array differs", how, s->key);
            break;
        }
        }
    }
    if (v->long_names) {
        const r1c_gguf_kv *kv = r1c_gguf_find(g, g_long_key);
        CHECK(kv && kv->key.n == 65535 && kv->type == R1C_GGUF_STRING, "%s: the 65535-byte key", how);
        const r1c_gguf_tensor *t = r1c_gguf_find_tensor(g, g_long_name);
        CHECK(t && t->name.n == 65536 && t->nbytes == 12, "%s: the 65536-byte tensor name", how);
    }
    /* tensors: in order, packed as the writer lays them out */
    CHECK(g->data_start % A == 0, "%s: data_start %llu not aligned to %llu", how, (ull)g->data_start, (ull)A);
    uint64_t off = 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        const r1c_gguf_tensor *t = &g->tensors[i];
        const t_spec *s = i < N_TS ? &g_ts[i] : NULL;
        const uint64_t nb = s ? spec_nbytes(s) : 12;
        if (s) {
            int ok = t->name.n == strlen(s->name) && !memcmp(t->name.p, s->name, t->name.n) && t->n_dims == s->n_dims &&
                     t->dtype == s->dtype && (int)t->ggml_type == r1c_gguf_ggml_type_of(s->dtype);
            for (int d = 0; ok && d < 4; d++) ok = t->ne[d] == s->ne[d];
            CHECK(ok, "%s: tensor %zu ('%.*s') differs from %s", how, i, (int)t->name.n, t->name.p, s->name);
            CHECK(r1c_gguf_find_tensor(g, s->name) == t, "%s: find_tensor(%s)", how, s->name);
        }
        CHECK(t->nbytes == nb && t->offset == off && t->offset % A == 0, "%s: tensor %zu: %llu bytes at %llu, want %llu at %llu",
              how, i, (ull)t->nbytes, (ull)t->offset, (ull)nb, (ull)off);
        CHECK(t->data == base + g->data_start + t->offset, "%s: tensor %zu data pointer", how, i);
        if (nb && t->nbytes == nb)
            CHECK(!memcmp(t->data, s ? data[i] : data[0], (size_t)nb), "%s: tensor %zu data differs", how, i);
        off += (nb + A - 1) / A * A;
    }
    CHECK(size == g->data_start + off, "%s: file of %zu bytes, layout says %llu", how, size, (ull)(g->data_start + off));
    CHECK(!r1c_gguf_find(g, "no.such.key") && !r1c_gguf_find_tensor(g, "no.such.tensor") && !r1c_gguf_find(g, "t.u") &&
              !r1c_gguf_find(g, "t.u8x"),
          "%s: absent names found", how);
}

static void test_getters(const r1c_gguf *g) {
    const char *p = g->path;
    uint32_t u = 0;
    int64_t i = 0;
    float f = 0;
    int b = -1;
    r1c_gguf_str s = {0};
    CHECK(r1c_gguf_get_u32(g, "t.u8", &u) == R1C_OK && u == 0xab, "get_u32(u8) %u", u);
    CHECK(r1c_gguf_get_u32(g, "t.u16", &u) == R1C_OK && u == 0xbeef, "get_u32(u16) %u", u);
    CHECK(r1c_gguf_get_u32(g, "t.u32", &u) == R1C_OK && u == 0xdeadbeefu, "get_u32(u32) %u", u);
    check_error(__LINE__, "get_u32(i8 -100)", r1c_gguf_get_u32(g, "t.i8", &u), R1C_ERR_FORMAT, p, SUBS("t.i8", "-100", "does not fit"));
    check_error(__LINE__, "get_u32(u64 max)", r1c_gguf_get_u32(g, "t.u64", &u), R1C_ERR_FORMAT, p, SUBS("t.u64", "does not fit"));
    check_error(__LINE__, "get_u32(f32)", r1c_gguf_get_u32(g, "t.f32", &u), R1C_ERR_FORMAT, p, SUBS("t.f32", "f32", "u32"));
    check_error(__LINE__, "get_u32(array)", r1c_gguf_get_u32(g, "a.u32", &u), R1C_ERR_FORMAT, p, SUBS("a.u32", "array of u32"));
    check_error(__LINE__, "get_u32(absent)", r1c_gguf_get_u32(g, "no.such.key", &u), R1C_ERR_MISSING, p, SUBS("no.such.key", "missing"));
    CHECK(r1c_gguf_get_i64(g, "t.i64", &i) == R1C_OK && i == INT64_MIN, "get_i64(i64) %lld", (long long)i);
    CHECK(r1c_gguf_get_i64(g, "t.i16", &i) == R1C_OK && i == -30000, "get_i64(i16) %lld", (long long)i);
    CHECK(r1c_gguf_get_i64(g, "t.i32", &i) == R1C_OK && i == INT32_MIN, "get_i64(i32) %lld", (long long)i);
    CHECK(r1c_gguf_get_i64(g, "t.u32", &i) == R1C_OK && i == 0xdeadbeefll, "get_i64(u32) %lld", (long long)i);
    check_error(__LINE__, "get_i64(u64 max)", r1c_gguf_get_i64(g, "t.u64", &i), R1C_ERR_FORMAT, p, SUBS("t.u64", "does not fit"));
    check_error(__LINE__, "get_i64(bool)", r1c_gguf_get_i64(g, "t.bool1", &i), R1C_ERR_FORMAT, p, SUBS("t.bool1", "bool"));
    CHECK(r1c_gguf_get_f32(g, "t.f32", &f) == R1C_OK && f == s_f32, "get_f32(f32) %g", f);
    CHECK(r1c_gguf_get_f32(g, "t.f64.small", &f) == R1C_OK && f == 0.25f, "get_f32(f64) %g", f);
    CHECK(r1c_gguf_get_f32(g, "t.f32.inf", &f) == R1C_OK && isinf(f), "get_f32(inf) %g", f);
    check_error(__LINE__, "get_f32(f64 1e300)", r1c_gguf_get_f32(g, "t.f64", &f), R1C_ERR_FORMAT, p, SUBS("t.f64", "does not fit"));
    check_error(__LINE__, "get_f32(u32)", r1c_gguf_get_f32(g, "t.u32", &f), R1C_ERR_FORMAT, p, SUBS("t.u32", "u32", "f32"));
    CHECK(r1c_gguf_get_bool(g, "t.bool1", &b) == R1C_OK && b == 1, "get_bool %d", b);
    CHECK(r1c_gguf_get_bool(g, "t.bool0", &b) == R1C_OK && b == 0, "get_bool %d", b);
    check_error(__LINE__, "get_bool(u8)", r1c_gguf_get_bool(g, "t.u8", &b), R1C_ERR_FORMAT, p, SUBS("t.u8", "u8", "bool"));
    CHECK(r1c_gguf_get_str(g, "t.str", &s) == R1C_OK && s.n == 12 && !memcmp(s.p, "hello, world", 12), "get_str");
    check_error(__LINE__, "get_str(array)", r1c_gguf_get_str(g, "a.str", &s), R1C_ERR_FORMAT, p, SUBS("a.str", "array of string"));
    check_error(__LINE__, "get_bool(absent)", r1c_gguf_get_bool(g, "t.bool", &b), R1C_ERR_MISSING, p, SUBS("'t.bool'"));
    CHECK(!strcmp(r1c_gguf_type_name(R1C_GGUF_FLOAT64), "f64") && !strcmp(r1c_gguf_type_name((r1c_gguf_type)13), "?"),
          "type names");
    CHECK(!strcmp(r1c_gguf_ggml_type_name(12), "Q4_K") && !strcmp(r1c_gguf_ggml_type_name(30), "BF16") &&
              r1c_gguf_ggml_type_name(4) == NULL && r1c_gguf_ggml_type_name(1000) == NULL,
          "ggml type names");
    CHECK(r1c_gguf_ggml_type_of(R1C_F64) == -1 && r1c_gguf_ggml_type_of(R1C_Q6_K) == 14, "ggml_type_of");
}

/* The writer refuses what the reader would refuse, and a refusal leaves the writer usable. */
static void test_writer_refusals(void) {
    const char *path = tmp_path("refusals.gguf");
    r1c_gguf_writer *w;
    CHECK(r1c_gguf_writer_new(path, &w) == R1C_OK, "writer_new");
    float data[64] = {0};
    uint8_t two = 2, bools[3] = {1, 0, 2};
    uint32_t one = 1;
    CHECK(r1c_gguf_add_u32(w, "k", 1) == R1C_OK, "add k");
    check_error(__LINE__, "empty key", r1c_gguf_add_u32(w, "", 1), R1C_ERR_INVALID_ARG, path, SUBS("empty key"));
    check_error(__LINE__, "duplicate key", r1c_gguf_add_str(w, "k", "x"), R1C_ERR_INVALID_ARG, path, SUBS("'k'", "twice"));
    check_error(__LINE__, "alignment 0", r1c_gguf_add_u32(w, "general.alignment", 0), R1C_ERR_INVALID_ARG, path,
                SUBS("general.alignment"));
    check_error(__LINE__, "alignment 3", r1c_gguf_add_u32(w, "general.alignment", 3), R1C_ERR_INVALID_ARG, path,
                SUBS("general.alignment"));
    check_error(__LINE__, "alignment u64", r1c_gguf_add_u64(w, "general.alignment", 64), R1C_ERR_INVALID_ARG, path,
                SUBS("general.alignment"));
    check_error(__LINE__, "alignment string", r1c_gguf_add_str(w, "general.alignment", "64"), R1C_ERR_INVALID_ARG, path,
                SUBS("general.alignment"));
    check_error(__LINE__, "bool 2", r1c_gguf_add_scalar(w, "b", R1C_GGUF_BOOL, &two), R1C_ERR_INVALID_ARG, path,
                SUBS("'b'", "bool value 2"));
    check_error(__LINE__, "scalar string", r1c_gguf_add_scalar(w, "s", R1C_GGUF_STRING, &one), R1C_ERR_INVALID_ARG, path,
                SUBS("'s'"));
    check_error(__LINE__, "scalar type 13", r1c_gguf_add_scalar(w, "s", (r1c_gguf_type)13, &one), R1C_ERR_INVALID_ARG,
                path, SUBS("'s'"));
    check_error(__LINE__, "array of arrays", r1c_gguf_add_arr(w, "aa", R1C_GGUF_ARRAY, data, 1), R1C_ERR_INVALID_ARG,
                path, SUBS("'aa'"));
    check_error(__LINE__, "array of strings via add_arr", r1c_gguf_add_arr(w, "as", R1C_GGUF_STRING, data, 1),
                R1C_ERR_INVALID_ARG, path, SUBS("'as'"));
    check_error(__LINE__, "bool element 2", r1c_gguf_add_arr(w, "ab", R1C_GGUF_BOOL, bools, 3), R1C_ERR_INVALID_ARG,
                path, SUBS("'ab'", "element 2"));
    char *key = xmalloc(65537);
    memset(key, 'k', 65536);
    key[65536] = 0;
    check_error(__LINE__, "key of 65536 bytes", r1c_gguf_add_u32(w, key, 1), R1C_ERR_INVALID_ARG, path, SUBS("65536"));
    key[65535] = 0; /* at the limit: fine */
    CHECK(r1c_gguf_add_u32(w, key, 7) == R1C_OK, "a 65535-byte key: %s", r1c_last_error());
    free(key);
    CHECK(r1c_gguf_add_tensor(w, "t", R1C_F32, 1, NE(4), data) == R1C_OK, "add t");
    check_error(__LINE__, "empty name", r1c_gguf_add_tensor(w, "", R1C_F32, 1, NE(4), data), R1C_ERR_INVALID_ARG, path,
                SUBS("empty name"));
    check_error(__LINE__, "duplicate tensor", r1c_gguf_add_tensor(w, "t", R1C_F32, 1, NE(4), data), R1C_ERR_INVALID_ARG,
                path, SUBS("'t'", "twice"));
    check_error(__LINE__, "F64 tensor", r1c_gguf_add_tensor(w, "f64", R1C_F64, 1, NE(4), data), R1C_ERR_UNSUPPORTED, path,
                SUBS("'f64'", "F64"));
    check_error(__LINE__, "Q8_K tensor", r1c_gguf_add_tensor(w, "q8k", R1C_Q8_K, 1, NE(256), data), R1C_ERR_UNSUPPORTED,
                path, SUBS("'q8k'"));
    check_error(__LINE__, "n_dims 0", r1c_gguf_add_tensor(w, "d0", R1C_F32, 0, NE(4), data), R1C_ERR_INVALID_ARG, path,
                SUBS("'d0'", "n_dims 0"));
    check_error(__LINE__, "n_dims 5", r1c_gguf_add_tensor(w, "d5", R1C_F32, 5, NE(1, 1, 1, 1, 1), data),
                R1C_ERR_INVALID_ARG, path, SUBS("'d5'", "n_dims 5"));
    check_error(__LINE__, "Q8_0 row of 33", r1c_gguf_add_tensor(w, "q", R1C_Q8_0, 2, NE(33, 1), data), R1C_ERR_INVALID_ARG,
                path, SUBS("'q'", "block size 32"));
    check_error(__LINE__, "Q4_K row of 32", r1c_gguf_add_tensor(w, "q", R1C_Q4_K, 1, NE(32), data), R1C_ERR_INVALID_ARG,
                path, SUBS("'q'", "block size 256"));
    check_error(__LINE__, "ne overflow", r1c_gguf_add_tensor(w, "big", R1C_F32, 2, NE(1ull << 32, 1ull << 32), data),
                R1C_ERR_INVALID_ARG, path, SUBS("'big'"));
    check_error(__LINE__, "bytes overflow", r1c_gguf_add_tensor(w, "big", R1C_F32, 1, NE(1ull << 62), data),
                R1C_ERR_INVALID_ARG, path, SUBS("'big'"));
    check_error(__LINE__, "no data", r1c_gguf_add_tensor(w, "nodata", R1C_F32, 1, NE(4), NULL), R1C_ERR_INVALID_ARG, path,
                SUBS("'nodata'"));
    CHECK(r1c_gguf_add_tensor(w, "empty.nodata", R1C_F32, 2, NE(4, 0), NULL) == R1C_OK, "empty tensor without data: %s",
          r1c_last_error());
    CHECK(r1c_gguf_writer_finish(w) == R1C_OK, "finish: %s", r1c_last_error());
    r1c_gguf_writer_free(w);
    r1c_gguf g;
    CHECK(r1c_gguf_open(path, 0, &g) == R1C_OK, "open %s: %s", path, r1c_last_error());
    CHECK(g.n_kv == 2 && g.n_tensors == 2 && r1c_gguf_find(&g, "k") && r1c_gguf_find_tensor(&g, "t") &&
              r1c_gguf_find_tensor(&g, "empty.nodata") && g.alignment == 32,
          "after refusals: %llu keys, %llu tensors", (ull)g.n_kv, (ull)g.n_tensors);
    r1c_gguf_close(&g);

    /* a file that cannot be created: an error naming it, and no file */
    const char *bad = tmp_path("no/such/dir/x.gguf");
    CHECK(r1c_gguf_writer_new(bad, &w) == R1C_OK, "writer_new");
    check_error(__LINE__, "finish into a missing dir", r1c_gguf_writer_finish(w), R1C_ERR_IO, bad, SUBS("cannot create"));
    r1c_gguf_writer_free(w);
    r1c_gguf_writer_free(NULL);
}

static void test_roundtrip(void) {
    uint8_t *data[N_TS];
    for (size_t i = 0; i < N_TS; i++) data[i] = spec_data(i);
    g_long_key = xmalloc(65536);
    memset(g_long_key, 'K', 65535);
    g_long_key[65535] = 0;
    g_long_name = xmalloc(65537);
    memset(g_long_name, 'N', 65536);
    g_long_name[65536] = 0;
    static const variant vars[] = {{0, 0, 0}, {32, 1, 0}, {64, 0, 0}, {128, 1, 1}, {1, 0, 0}, {256, 0, 0}};
    for (size_t vi = 0; vi < sizeof vars / sizeof *vars; vi++) {
        const variant *v = &vars[vi];
        char name[64], how[96];
        snprintf(name, sizeof name, "roundtrip_%u.gguf", v->alignment);
        const char *path = tmp_path(name);
        if (!write_roundtrip(path, v, data)) continue;
        size_t len = 0;
        uint8_t *buf = read_file(path, &len);
        r1c_gguf g;
        snprintf(how, sizeof how, "align %u, parse", v->alignment);
        r1c_status st = r1c_gguf_parse(path, buf, len, &g);
        CHECK(st == R1C_OK, "%s: %s", how, r1c_last_error());
        if (st == R1C_OK) {
            check_roundtrip(how, &g, v, buf, len, data);
            touch_all(&g, buf, len, how, 1);
            if (vi == 1) test_getters(&g);
            r1c_gguf_close(&g);
        }
        for (int mm = 0; mm < 2; mm++) {
            snprintf(how, sizeof how, "align %u, open %s", v->alignment, mm ? "mapped" : "read");
            st = r1c_gguf_open(path, mm, &g);
            CHECK(st == R1C_OK, "%s: %s", how, r1c_last_error());
            if (st != R1C_OK) continue;
            check_roundtrip(how, &g, v, g.blob.data, g.blob.size, data);
            const uint64_t want = mm ? g.alignment : (g.alignment < 64 ? g.alignment : 64);
            for (uint64_t i = 0; i < g.n_tensors; i++)
                CHECK((uintptr_t)g.tensors[i].data % want == 0, "%s: tensor %llu at %p", how, (ull)i,
                      (const void *)g.tensors[i].data);
            r1c_gguf_close(&g);
        }
        /* version 2 is laid out the same: accepted */
        buf[4] = 2;
        st = r1c_gguf_parse(path, buf, len, &g);
        CHECK(st == R1C_OK && g.version == 2, "align %u, version 2: %s", v->alignment, r1c_last_error());
        r1c_gguf_close(&g);
        free(buf);
    }
    /* no metadata, no tensors: the 24-byte header alone */
    const char *path = tmp_path("empty.gguf");
    r1c_gguf_writer *w;
    r1c_gguf g;
    CHECK(r1c_gguf_writer_new(path, &w) == R1C_OK && r1c_gguf_writer_finish(w) == R1C_OK, "empty file: %s", r1c_last_error());
    r1c_gguf_writer_free(w);
    CHECK(r1c_gguf_open(path, 0, &g) == R1C_OK && g.n_kv == 0 && g.n_tensors == 0 && g.blob.size == 32,
          "empty file: %s", r1c_last_error());
    r1c_gguf_close(&g);
    for (size_t i = 0; i < N_TS; i++) free(data[i]);
    free(g_long_key);
    free(g_long_name);
    test_writer_refusals();
}

/* ===================================================== 3. hostile files */

/* Refused from memory (path "mem.gguf") and from a file (read and mapped), with the status
 * and phrases; the output left empty. */
static void expect_bad(int line, const uint8_t *p, size_t n, r1c_status want, const char *const *subs) {
    r1c_gguf g;
    memset(&g, 0x5a, sizeof g);
    r1c_status st = r1c_gguf_parse("mem.gguf", p, n, &g);
    check_error(line, "parse", st, want, "mem.gguf", subs);
    if (st == R1C_OK) r1c_gguf_close(&g);
    CHECK(g_empty(&g), "line %d: output not cleared after failure", line);
    char name[64];
    snprintf(name, sizeof name, "bad_%d.gguf", line);
    const char *path = tmp_path(name);
    CHECK(write_file(path, p, n), "write %s", path);
    for (int mm = 0; mm < 2; mm++) {
        memset(&g, 0x5a, sizeof g);
        st = r1c_gguf_open(path, mm, &g);
        check_error(line, mm ? "open mapped" : "open read", st, want, path, subs);
        if (st == R1C_OK) r1c_gguf_close(&g);
        CHECK(g_empty(&g), "line %d: output not cleared after failure", line);
    }
}

static void expect_good(int line, const uint8_t *p, size_t n, uint64_t n_kv, uint64_t n_tensors) {
    r1c_gguf g;
    r1c_status st = r1c_gguf_parse("mem.gguf", p, n, &g);
    CHECK(st == R1C_OK, "line %d: rejected: %s", line, r1c_last_error());
    if (st != R1C_OK) return;
    CHECK(g.n_kv == n_kv && g.n_tensors == n_tensors, "line %d: %llu keys, %llu tensors", line, (ull)g.n_kv,
          (ull)g.n_tensors);
    touch_all(&g, p, n, "expect_good", 1);
    r1c_gguf_close(&g);
}

#define BAD(b, want, ...)                                               \
    do {                                                                \
        expect_bad(__LINE__, (b).p, (b).n, want, SUBS(__VA_ARGS__));    \
        free((b).p);                                                    \
        (b) = (bytes){0};                                               \
    } while (0)
#define GOOD(b, n_kv, n_t)                                              \
    do {                                                                \
        expect_good(__LINE__, (b).p, (b).n, n_kv, n_t);                 \
        free((b).p);                                                    \
        (b) = (bytes){0};                                               \
    } while (0)

/* header + one key + one tensor record + padding + data */
static void one_tensor(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                       uint64_t offset, size_t data_len) {
    header(b, 3, 1, 1);
    kv_str(b, "general.architecture", "llama");
    tensor_rec(b, name, n_dims, ne, type, offset);
    pad_to(b, 32);
    data_bytes(b, data_len);
}

static void test_hostile_header(void) {
    bytes b = {0};
    /* framing */
    BAD(b, R1C_ERR_FORMAT, "0 bytes", "too short");
    put(&b, "GGU", 3);
    BAD(b, R1C_ERR_FORMAT, "3 bytes", "too short");
    header(&b, 3, 0, 0);
    b.p[3] = 'X';
    BAD(b, R1C_ERR_FORMAT, "bad magic", "GGUX");
    put(&b, "\x89PNG\r\n\x1a\n", 8);
    BAD(b, R1C_ERR_FORMAT, "bad magic", "\\x89PNG");
    header(&b, 3, 0, 0);
    b.n = 20;
    BAD(b, R1C_ERR_FORMAT, "20 bytes", "too short");
    header(&b, 1, 0, 0);
    BAD(b, R1C_ERR_UNSUPPORTED, "version 1");
    header(&b, 4, 0, 0);
    BAD(b, R1C_ERR_UNSUPPORTED, "version 4");
    header(&b, 0x03000000u, 0, 0); /* a big-endian version 3 */
    BAD(b, R1C_ERR_UNSUPPORTED, "version 50331648", "big-endian");
    header(&b, 0, 0, 0);
    BAD(b, R1C_ERR_UNSUPPORTED, "version 0");
    header(&b, 3, 0, 0);
    GOOD(b, 0, 0);
    header(&b, 2, 0, 0);
    GOOD(b, 0, 0);

    /* counts against the file */
    header(&b, 3, 0, 1000);
    kv_u32(&b, "a", 1);
    BAD(b, R1C_ERR_FORMAT, "n_kv 1000", "cannot fit");
    header(&b, 3, 0, UINT64_MAX);
    BAD(b, R1C_ERR_FORMAT, "n_kv 18446744073709551615");
    header(&b, 3, 0, 1ull << 60);
    data_bytes(&b, 4096);
    BAD(b, R1C_ERR_FORMAT, "n_kv 1152921504606846976");
    header(&b, 3, 1000, 0);
    tensor_rec(&b, "w", 1, NE(8), 0, 0);
    BAD(b, R1C_ERR_FORMAT, "n_tensors 1000", "cannot fit");
    header(&b, 3, UINT64_MAX, 1);
    kv_u32(&b, "a", 1);
    BAD(b, R1C_ERR_FORMAT, "n_tensors 18446744073709551615");
    header(&b, 3, 0, 2); /* fits the minimum size, but the second pair is not there */
    kv_u32(&b, "a", 1);
    data_bytes(&b, 14);
    BAD(b, R1C_ERR_FORMAT, "key 1", "string length");

    /* strings */
    header(&b, 3, 0, 1);
    put_u64(&b, 1000000); /* key length past the end */
    put(&b, "abcdefghijklmn", 14);
    BAD(b, R1C_ERR_FORMAT, "key 0", "string length 1000000", "past the end");
    header(&b, 3, 0, 1);
    put_u64(&b, UINT64_MAX);
    put(&b, "abcdefghijklmn", 14);
    BAD(b, R1C_ERR_FORMAT, "key 0", "string length 18446744073709551615");
    header(&b, 3, 0, 1);
    key_type(&b, "general.name", R1C_GGUF_STRING);
    put_u64(&b, 1ull << 40);
    put(&b, "tiny", 4);
    BAD(b, R1C_ERR_FORMAT, "general.name", "string length 1099511627776");
    header(&b, 3, 0, 1);
    key_type(&b, "general.name", R1C_GGUF_STRING);
    put_u64(&b, 5);
    put(&b, "tiny", 4); /* one byte short, at the very end */
    BAD(b, R1C_ERR_FORMAT, "general.name", "string length 5");
    header(&b, 3, 0, 1);
    key_type(&b, "general.name", R1C_GGUF_STRING);
    put_strn(&b, "a\0b\xff", 4); /* a string value may hold any bytes */
    GOOD(b, 1, 0);
    header(&b, 3, 0, 1);
    key_type(&b, "k", R1C_GGUF_UINT64);
    put_u32(&b, 7); /* value cut short */
    put(&b, "\0\0", 2);
    BAD(b, R1C_ERR_FORMAT, "'k'", "u64");

    /* keys */
    header(&b, 3, 0, 2);
    kv_u32(&b, "a", 1);
    put_u64(&b, 0);
    put_u32(&b, R1C_GGUF_UINT32);
    put_u32(&b, 1);
    BAD(b, R1C_ERR_FORMAT, "key 1 is empty");
    header(&b, 3, 0, 1);
    put_strn(&b, "gen\0eral", 8);
    put_u32(&b, R1C_GGUF_UINT8);
    put_u8(&b, 1);
    BAD(b, R1C_ERR_FORMAT, "key 0", "gen\\x00eral", "NUL");
    header(&b, 3, 0, 3);
    kv_u32(&b, "a.b", 1);
    kv_str(&b, "c", "x");
    kv_u32(&b, "a.b", 2);
    BAD(b, R1C_ERR_FORMAT, "'a.b'", "appears twice", "keys 0 and 2");
    {
        char *k = xmalloc(65537);
        memset(k, 'x', 65536);
        k[65536] = 0;
        header(&b, 3, 0, 1);
        kv_u32(&b, k, 1);
        BAD(b, R1C_ERR_FORMAT, "key 0", "65536 bytes");
        free(k);
    }
    header(&b, 3, 0, 1);
    key_type(&b, "weird.type", 13);
    put_u64(&b, 0);
    BAD(b, R1C_ERR_FORMAT, "'weird.type'", "unknown value type 13");
    header(&b, 3, 0, 1);
    key_type(&b, "weird.type", 0xffffffffu);
    put_u64(&b, 0);
    BAD(b, R1C_ERR_FORMAT, "'weird.type'", "unknown value type 4294967295");
    header(&b, 3, 0, 1);
    key_type(&b, "flag", R1C_GGUF_BOOL);
    put_u8(&b, 2);
    BAD(b, R1C_ERR_FORMAT, "'flag'", "bool value 2");
    header(&b, 3, 0, 1);
    key_type(&b, "flag", R1C_GGUF_BOOL);
    put_u8(&b, 0xff);
    BAD(b, R1C_ERR_FORMAT, "'flag'", "bool value 255");
    header(&b, 3, 0, 1);
    key_type(&b, "\x01\xff.key\\", R1C_GGUF_BOOL); /* a key shown escaped */
    put_u8(&b, 7);
    BAD(b, R1C_ERR_FORMAT, "'\\x01\\xff.key\\x5c'", "bool value 7");

    /* arrays */
    header(&b, 3, 0, 1);
    key_type(&b, "arr", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_ARRAY);
    put_u64(&b, 1);
    put_u32(&b, R1C_GGUF_UINT8);
    put_u64(&b, 1);
    put_u8(&b, 1);
    BAD(b, R1C_ERR_UNSUPPORTED, "'arr'", "arrays of arrays");
    header(&b, 3, 0, 1);
    key_type(&b, "arr", R1C_GGUF_ARRAY);
    put_u32(&b, 99);
    put_u64(&b, 0);
    BAD(b, R1C_ERR_FORMAT, "'arr'", "unknown array element type 99");
    header(&b, 3, 0, 1);
    key_type(&b, "arr", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_UINT32);
    put_u64(&b, 1ull << 61); /* * 4 wraps to 0 in 64 bits */
    put_u32(&b, 1);
    BAD(b, R1C_ERR_FORMAT, "'arr'", "array of 2305843009213693952 u32");
    header(&b, 3, 0, 1);
    key_type(&b, "arr", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_UINT64);
    put_u64(&b, UINT64_MAX);
    BAD(b, R1C_ERR_FORMAT, "'arr'", "array of 18446744073709551615 u64");
    header(&b, 3, 0, 1);
    key_type(&b, "arr", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_INT16);
    put_u64(&b, 3);
    put_le(&b, 1, 2);
    put_le(&b, 2, 2);
    put_u8(&b, 0); /* half an element */
    BAD(b, R1C_ERR_FORMAT, "'arr'", "array of 3 i16");
    header(&b, 3, 0, 1);
    key_type(&b, "tokenizer.ggml.tokens", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_STRING);
    put_u64(&b, 1ull << 60);
    put_str(&b, "a");
    BAD(b, R1C_ERR_FORMAT, "'tokenizer.ggml.tokens'", "array of 1152921504606846976 strings");
    header(&b, 3, 0, 1);
    key_type(&b, "tokenizer.ggml.tokens", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_STRING);
    put_u64(&b, 3);
    put_str(&b, "a");
    put_str(&b, "bb");
    put_u64(&b, 100); /* the third string runs off the end */
    put(&b, "ccc", 3);
    BAD(b, R1C_ERR_FORMAT, "'tokenizer.ggml.tokens'", "string 2", "string length 100");
    header(&b, 3, 0, 1);
    key_type(&b, "flags", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_BOOL);
    put_u64(&b, 3);
    put(&b, "\1\0\2", 3);
    BAD(b, R1C_ERR_FORMAT, "'flags'", "bool element 2 is 2");
    header(&b, 3, 0, 2);
    key_type(&b, "empty", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_STRING);
    put_u64(&b, 0);
    key_type(&b, "empty2", R1C_GGUF_ARRAY);
    put_u32(&b, R1C_GGUF_FLOAT64);
    put_u64(&b, 0);
    GOOD(b, 2, 0);

    /* general.alignment */
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    BAD(b, R1C_ERR_FORMAT, "general.alignment", "= 0", "power of two");
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 3);
    BAD(b, R1C_ERR_FORMAT, "general.alignment", "= 3", "power of two");
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0x80000001u);
    BAD(b, R1C_ERR_FORMAT, "general.alignment", "power of two");
    header(&b, 3, 0, 1);
    key_type(&b, "general.alignment", R1C_GGUF_UINT64);
    put_u64(&b, 64);
    BAD(b, R1C_ERR_FORMAT, "general.alignment", "must be u32", "u64");
    header(&b, 3, 0, 1);
    key_type(&b, "general.alignment", R1C_GGUF_INT32);
    put_u32(&b, 32);
    BAD(b, R1C_ERR_FORMAT, "general.alignment", "i32");
    header(&b, 3, 0, 1);
    kv_str(&b, "general.alignment", "32");
    BAD(b, R1C_ERR_FORMAT, "general.alignment", "string");
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0x80000000u); /* huge but a power of two, no tensors */
    GOOD(b, 1, 0);
}

static void test_hostile_tensors(void) {
    bytes b = {0};
    one_tensor(&b, "w", 1, NE(8), 0, 0, 32);
    GOOD(b, 1, 1);
    /* names */
    header(&b, 3, 2, 0);
    tensor_rec(&b, "blk.0.attn_q.weight", 1, NE(8), 0, 0);
    tensor_rec(&b, "blk.0.attn_q.weight", 1, NE(8), 0, 32);
    pad_to(&b, 32);
    data_bytes(&b, 64);
    BAD(b, R1C_ERR_FORMAT, "'blk.0.attn_q.weight'", "appears twice", "tensors 0 and 1");
    one_tensor(&b, "", 1, NE(8), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "tensor 0 has an empty name");
    header(&b, 3, 1, 0);
    put_strn(&b, "bad\0name", 8);
    put_u32(&b, 1);
    put_u64(&b, 8);
    put_u32(&b, 0);
    put_u64(&b, 0);
    pad_to(&b, 32);
    data_bytes(&b, 32);
    BAD(b, R1C_ERR_FORMAT, "tensor 0", "bad\\x00name", "NUL");
    header(&b, 3, 1, 0);
    put_u64(&b, 1u << 20); /* name length past the end */
    put(&b, "w", 1);
    data_bytes(&b, 40);
    BAD(b, R1C_ERR_FORMAT, "tensor 0", "string length 1048576");
    {
        char *nm = xmalloc(65538);
        memset(nm, 'n', 65537);
        nm[65537] = 0;
        one_tensor(&b, nm, 1, NE(8), 0, 0, 32);
        BAD(b, R1C_ERR_FORMAT, "tensor 0", "65537 bytes");
        free(nm);
    }
    /* dims */
    one_tensor(&b, "token_embd.weight", 0, NE(8), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'token_embd.weight'", "n_dims 0");
    one_tensor(&b, "token_embd.weight", 5, NE(8, 1, 1, 1, 1), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'token_embd.weight'", "n_dims 5");
    one_tensor(&b, "token_embd.weight", 0xffffffffu, NE(8, 1, 1, 1, 1), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'token_embd.weight'", "n_dims 4294967295");
    one_tensor(&b, "huge", 2, NE(1ull << 32, 1ull << 32), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'huge'", "2^63");
    one_tensor(&b, "huge", 4, NE(1ull << 20, 1ull << 20, 1ull << 20, 1ull << 20), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'huge'", "2^63");
    one_tensor(&b, "huge", 1, NE(1ull << 63), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'huge'", "ne[0]", "negative");
    one_tensor(&b, "huge", 2, NE(4, UINT64_MAX), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'huge'", "ne[1]", "negative");
    one_tensor(&b, "huge", 1, NE((1ull << 62) + 8), 0, 0, 32); /* elements fit, bytes (x4) do not */
    BAD(b, R1C_ERR_FORMAT, "'huge'");
    /* a 0 dim makes the tensor empty, but the other dims still may not multiply past 2^63 */
    one_tensor(&b, "huge.zero", 3, NE(1ull << 40, 0, 1ull << 40), 0, 0, 0);
    BAD(b, R1C_ERR_FORMAT, "'huge.zero'", "2^63");
    one_tensor(&b, "big.zero", 3, NE(1ull << 30, 0, 1ull << 30), 0, 0, 0);
    GOOD(b, 1, 1);
    one_tensor(&b, "cut", 2, NE(8, 4), 0, 0, 0);
    b.n -= 40; /* inside the shape */
    BAD(b, R1C_ERR_FORMAT, "'cut'");
    /* types */
    one_tensor(&b, "w", 1, NE(32), 4, 0, 128); /* ggml dropped types 4 and 5 */
    BAD(b, R1C_ERR_FORMAT, "'w'", "unknown ggml type 4");
    one_tensor(&b, "w", 1, NE(32), 1000, 0, 128);
    BAD(b, R1C_ERR_FORMAT, "'w'", "unknown ggml type 1000");
    one_tensor(&b, "w", 1, NE(32), 3, 0, 128);
    BAD(b, R1C_ERR_UNSUPPORTED, "'w'", "Q4_1", "not supported");
    one_tensor(&b, "w", 1, NE(256), 13, 0, 256);
    BAD(b, R1C_ERR_UNSUPPORTED, "'w'", "Q5_K");
    one_tensor(&b, "blk.3.ffn_up.weight", 2, NE(33, 2), 8, 0, 128);
    BAD(b, R1C_ERR_FORMAT, "'blk.3.ffn_up.weight'", "Q8_0", "33", "block size 32");
    one_tensor(&b, "w", 1, NE(288), 12, 0, 512);
    BAD(b, R1C_ERR_FORMAT, "'w'", "Q4_K", "288", "block size 256");
    one_tensor(&b, "w", 1, NE(128), 14, 0, 512);
    BAD(b, R1C_ERR_FORMAT, "'w'", "Q6_K", "block size 256");
    one_tensor(&b, "w", 2, NE(16, 3), 2, 0, 128);
    BAD(b, R1C_ERR_FORMAT, "'w'", "Q4_0", "block size 32");
    /* offsets */
    one_tensor(&b, "output.weight", 1, NE(8), 0, 8, 64);
    BAD(b, R1C_ERR_FORMAT, "'output.weight'", "offset 8", "alignment 32");
    header(&b, 3, 1, 1);
    kv_u32(&b, "general.alignment", 64);
    tensor_rec(&b, "w", 1, NE(8), 0, 32);
    pad_to(&b, 64);
    data_bytes(&b, 128);
    BAD(b, R1C_ERR_FORMAT, "'w'", "offset 32", "alignment 64");
    header(&b, 3, 1, 1); /* alignment 1: any offset */
    kv_u32(&b, "general.alignment", 1);
    tensor_rec(&b, "w", 1, NE(8), 0, 3);
    data_bytes(&b, 35);
    GOOD(b, 1, 1);
    one_tensor(&b, "w", 1, NE(16), 0, 0, 63); /* 64 bytes, 63 there */
    BAD(b, R1C_ERR_FORMAT, "'w'", "64 bytes at offset 0", "outside the data section");
    one_tensor(&b, "w", 1, NE(8), 0, 32, 32);
    BAD(b, R1C_ERR_FORMAT, "'w'", "offset 32", "outside the data section");
    one_tensor(&b, "w", 1, NE(8), 0, UINT64_MAX - 31, 32); /* offset + size wraps */
    BAD(b, R1C_ERR_FORMAT, "'w'", "outside the data section");
    one_tensor(&b, "w", 1, NE(1ull << 61), 0, 0, 32);
    BAD(b, R1C_ERR_FORMAT, "'w'");
    one_tensor(&b, "w", 1, NE(8), 0, 0, 32);
    b.n -= 32 + 8; /* the header ends unpadded at the end of the file */
    BAD(b, R1C_ERR_FORMAT, "data section", "past the end");
    one_tensor(&b, "w", 1, NE(8), 0, 0, 32);
    b.n -= 32 + 26 + 4; /* cut inside the offset (the header ends at 102, padded to 128) */
    BAD(b, R1C_ERR_FORMAT, "'w'", "offset");
    one_tensor(&b, "w", 1, NE(8), 0, 0, 32);
    data_bytes(&b, 100); /* bytes after the last tensor: allowed */
    GOOD(b, 1, 1);
    /* empty tensors: no bytes, but the offset is still checked */
    one_tensor(&b, "e", 2, NE(8, 0), 0, 0, 0);
    GOOD(b, 1, 1);
    one_tensor(&b, "e", 2, NE(8, 0), 0, 4, 32);
    BAD(b, R1C_ERR_FORMAT, "'e'", "offset 4");
    one_tensor(&b, "e", 2, NE(8, 0), 0, 64, 32);
    BAD(b, R1C_ERR_FORMAT, "'e'", "outside the data section");
    /* overlaps */
    header(&b, 3, 2, 0);
    tensor_rec(&b, "blk.0.a", 1, NE(16), 0, 0);
    tensor_rec(&b, "blk.0.b", 1, NE(16), 0, 32);
    pad_to(&b, 32);
    data_bytes(&b, 96);
    BAD(b, R1C_ERR_FORMAT, "overlaps", "'blk.0.a'", "'blk.0.b'");
    header(&b, 3, 3, 0); /* listed out of order: b [64, 96) overlaps a [32, 96) */
    tensor_rec(&b, "c", 1, NE(8), 0, 0);
    tensor_rec(&b, "b", 1, NE(8), 0, 64);
    tensor_rec(&b, "a", 1, NE(16), 0, 32);
    pad_to(&b, 32);
    data_bytes(&b, 96);
    BAD(b, R1C_ERR_FORMAT, "overlaps", "'a'", "'b'");
    header(&b, 3, 2, 0);
    tensor_rec(&b, "x", 1, NE(8), 0, 0);
    tensor_rec(&b, "y", 1, NE(8), 0, 0);
    pad_to(&b, 32);
    data_bytes(&b, 32);
    BAD(b, R1C_ERR_FORMAT, "overlaps", "'x'", "'y'");
    header(&b, 3, 3, 0); /* empty tensors overlap nothing; two tensors back to back are fine */
    tensor_rec(&b, "x", 1, NE(8), 0, 0);
    tensor_rec(&b, "e", 2, NE(8, 0), 0, 0);
    tensor_rec(&b, "y", 1, NE(8), 0, 32);
    pad_to(&b, 32);
    data_bytes(&b, 64);
    GOOD(b, 0, 3);
}

/* A small valid file with every kind of value and a few tensors (the writer's). */
static uint8_t *small_file(size_t *len) {
    const char *path = tmp_path("small.gguf");
    r1c_gguf_writer *w;
    CHECK(r1c_gguf_writer_new(path, &w) == R1C_OK, "writer_new");
    for (size_t i = 0; i < N_KVS; i++) add_spec(w, &g_kvs[i], 0);
    r1c_gguf_add_u32(w, "general.alignment", 64);
    static uint8_t d[4096];
    for (size_t i = 0; i < sizeof d; i++) d[i] = (uint8_t)(i * 13 + 1);
    r1c_gguf_add_tensor(w, "a", R1C_F32, 2, NE(4, 3), d);
    r1c_gguf_add_tensor(w, "e", R1C_F16, 2, NE(4, 0), NULL);
    r1c_gguf_add_tensor(w, "q", R1C_Q8_0, 1, NE(64), d);
    r1c_gguf_add_tensor(w, "k", R1C_Q6_K, 1, NE(256), d);
    r1c_gguf_add_tensor(w, "h", R1C_BF16, 3, NE(2, 2, 8), d); /* 64 bytes: no padding at the end */
    CHECK(r1c_gguf_writer_finish(w) == R1C_OK, "finish: %s", r1c_last_error());
    r1c_gguf_writer_free(w);
    return read_file(path, len);
}

static void test_truncation_and_flips(void) {
    size_t len;
    uint8_t *full = small_file(&len);
    CHECK(full != NULL, "small file");
    if (!full) return;
    r1c_gguf g;
    CHECK(r1c_gguf_parse("mem.gguf", full, len, &g) == R1C_OK, "small file: %s", r1c_last_error());
    uint64_t header_end = g.data_start, need = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++)
        if (g.tensors[i].offset + g.tensors[i].nbytes > need) need = g.tensors[i].offset + g.tensors[i].nbytes;
    need += g.data_start;
    CHECK(need == len, "small file: the last tensor ends at %llu of %zu", (ull)need, len);
    r1c_gguf_close(&g);

    /* every prefix: refused with a one-line message, output empty; files: every 5th */
    uint8_t *cut = xmalloc(len);
    int n_bad = 0;
    for (size_t n = 0; n < len; n++) {
        memcpy(cut, full, n); /* a fresh buffer of exactly n bytes for ASan */
        uint8_t *exact = xmalloc(n);
        memcpy(exact, full, n);
        memset(&g, 0x5a, sizeof g);
        r1c_status st = r1c_gguf_parse("mem.gguf", exact, n, &g);
        const char *msg = r1c_last_error();
        if (st != R1C_ERR_FORMAT || !contains(msg, "mem.gguf") || strchr(msg, '\n') || !g_empty(&g)) {
            if (n_bad++ < 5)
                CHECK(0, "prefix of %zu of %zu bytes: %s: %s", n, len, r1c_status_string(st), msg);
        }
        if (st == R1C_OK) r1c_gguf_close(&g);
        if (n % 5 == 0 || n + 8 > header_end) {
            if (n + 8 > header_end && n % 7 && n + 1 != len && n > header_end + 16) {
                free(exact);
                continue;
            }
            const char *path = tmp_path("cut.gguf");
            write_file(path, exact, n);
            st = r1c_gguf_open(path, (int)(n & 1), &g);
            if (st != R1C_ERR_FORMAT || !contains(r1c_last_error(), path) || !g_empty(&g)) {
                if (n_bad++ < 5)
                    CHECK(0, "file cut to %zu of %zu bytes: %s: %s", n, len, r1c_status_string(st), r1c_last_error());
            }
            if (st == R1C_OK) r1c_gguf_close(&g);
        }
        free(exact);
    }
    CHECK(n_bad == 0, "%d truncations misbehaved", n_bad);
    free(cut);

    /* single-byte changes: every header byte to 0, 0xff, +1, ^0x80; random ones anywhere. An
     * accepted file must keep every promise (touch_all), a refused one leave a message. */
    uint8_t *m = xmalloc(len);
    int n_ok = 0, n_refused = 0, n_silent = 0;
    static const int kinds = 4;
    for (size_t pos = 0; pos < header_end; pos++) {
        for (int k = 0; k < kinds; k++) {
            memcpy(m, full, len);
            m[pos] = k == 0 ? 0 : k == 1 ? 0xff : k == 2 ? (uint8_t)(full[pos] + 1) : (uint8_t)(full[pos] ^ 0x80);
            if (m[pos] == full[pos]) continue;
            r1c_status st = r1c_gguf_parse("mem.gguf", m, len, &g);
            if (st == R1C_OK) {
                touch_all(&g, m, len, "header byte change", pos % 16 == 0);
                r1c_gguf_close(&g);
                n_ok++;
            } else {
                n_refused++;
                n_silent += !r1c_last_error()[0] || strchr(r1c_last_error(), '\n') != NULL;
            }
        }
    }
    uint64_t seed = 12345;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, full, len);
        size_t pos = (size_t)(test_rand(&seed) % len);
        m[pos] = (uint8_t)test_rand(&seed);
        if (it % 3 == 0) m[test_rand(&seed) % len] ^= (uint8_t)(1u << (test_rand(&seed) % 8));
        r1c_status st = r1c_gguf_parse("mem.gguf", m, len, &g);
        if (st == R1C_OK) {
            touch_all(&g, m, len, "random byte change", it % 16 == 0);
            r1c_gguf_close(&g);
            n_ok++;
        } else {
            n_refused++;
            n_silent += !r1c_last_error()[0] || strchr(r1c_last_error(), '\n') != NULL;
        }
    }
    CHECK(n_silent == 0, "%d refusals without a one-line message", n_silent);
    CHECK(n_ok > 0 && n_refused > 0, "byte changes: %d accepted, %d refused", n_ok, n_refused);
    free(m);
    free(full);
}

/* A header over 1 MiB: r1c_gguf_open validates it from a growing prefix before it loads the
 * file; errors found past the first prefix must still come out right. */
static void test_big_header(void) {
    const char *path = tmp_path("big.gguf");
    enum { NTOK = 90000 };
    char **toks = xmalloc(sizeof *toks * NTOK);
    char *pool = xmalloc((size_t)NTOK * 12);
    for (int i = 0; i < NTOK; i++) {
        toks[i] = pool + (size_t)i * 12;
        snprintf(toks[i], 12, "tok%07d", i); /* 10 bytes: 18 per entry, 1.6 MB */
    }
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    r1c_gguf_writer *wr;
    CHECK(r1c_gguf_writer_new(path, &wr) == R1C_OK, "writer_new");
    CHECK(r1c_gguf_add_arr_str(wr, "big.tokens", (const char *const *)toks, NULL, NTOK) == R1C_OK, "add tokens");
    CHECK(r1c_gguf_add_bool(wr, "after", 1) == R1C_OK, "add after");
    CHECK(r1c_gguf_add_tensor(wr, "w", R1C_F32, 1, NE(8), w) == R1C_OK, "add w");
    CHECK(r1c_gguf_writer_finish(wr) == R1C_OK, "finish: %s", r1c_last_error());
    r1c_gguf_writer_free(wr);
    size_t len;
    uint8_t *buf = read_file(path, &len);
    CHECK(buf && len > (1u << 20) + 100000, "big file of %zu bytes", len);
    r1c_gguf g;
    for (int mm = 0; mm < 2; mm++) {
        r1c_status st = r1c_gguf_open(path, mm, &g);
        CHECK(st == R1C_OK, "open big (%d): %s", mm, r1c_last_error());
        if (st != R1C_OK) continue;
        const r1c_gguf_kv *kv = r1c_gguf_find(&g, "big.tokens");
        CHECK(kv && kv->arr_n == NTOK && kv->arr_str[NTOK - 1].n == 10 && !memcmp(kv->arr_str[NTOK - 1].p, toks[NTOK - 1], 10),
              "big.tokens");
        int b = 0;
        CHECK(r1c_gguf_get_bool(&g, "after", &b) == R1C_OK && b == 1, "after");
        const r1c_gguf_tensor *t = r1c_gguf_find_tensor(&g, "w");
        CHECK(t && t->nbytes == 32 && !memcmp(t->data, w, 32), "w");
        r1c_gguf_close(&g);
    }
    /* the bool after the array set to 2: found only after the prefix has grown */
    CHECK(r1c_gguf_parse(path, buf, len, &g) == R1C_OK, "parse big");
    const r1c_gguf_kv *kv = r1c_gguf_find(&g, "big.tokens");
    size_t end_arr = (size_t)((const uint8_t *)kv->arr_str[NTOK - 1].p + 10 - buf);
    size_t bool_at = end_arr + 8 + 5 + 4;
    r1c_gguf_close(&g);
    CHECK(bool_at > (1u << 20) && buf[bool_at] == 1, "the bool is at %zu", bool_at);
    buf[bool_at] = 2;
    const char *bad = tmp_path("big_bad.gguf");
    write_file(bad, buf, len);
    for (int mm = 0; mm < 2; mm++) {
        r1c_status st = r1c_gguf_open(bad, mm, &g);
        check_error(__LINE__, "big header, bad bool", st, R1C_ERR_FORMAT, bad, SUBS("'after'", "bool value 2"));
        CHECK(g_empty(&g), "output not cleared");
    }
    buf[bool_at] = 1;
    /* cut inside the array, past the first 1 MiB */
    write_file(bad, buf, (1u << 20) + 4321);
    r1c_status st = r1c_gguf_open(bad, 0, &g);
    check_error(__LINE__, "big header cut", st, R1C_ERR_FORMAT, bad, SUBS("'big.tokens'", "string"));
    free(buf);
    free(toks);
    free(pool);
}

/* ============================================================ 4. models */

typedef struct copy_opts {
    int no_tokenizer; /* leave out tokenizer.* (the model then loads without one, faster) */
    const char *drop_key, *drop_tensor;
    const char *set_key; /* replaced by a u32 (added as a new key if absent) */
    uint32_t set_val;
} copy_opts;

static char *cstr(r1c_gguf_str s) {
    char *p = xmalloc((size_t)s.n + 1);
    memcpy(p, s.p, (size_t)s.n);
    p[s.n] = 0;
    return p;
}

/* Copies a parsed file through the writer: every key (in order) and tensor but the dropped. */
static int copy_gguf(const r1c_gguf *g, const char *dst, const copy_opts *o) {
    r1c_gguf_writer *w;
    if (r1c_gguf_writer_new(dst, &w) != R1C_OK) return 0;
    int ok = 1, set_done = 0;
    for (uint64_t i = 0; ok && i < g->n_kv; i++) {
        const r1c_gguf_kv *kv = &g->kv[i];
        char *key = cstr(kv->key);
        r1c_status st = R1C_OK;
        if (o && ((o->drop_key && !strcmp(key, o->drop_key)) || (o->no_tokenizer && !strncmp(key, "tokenizer.", 10)))) {
            free(key);
            continue;
        }
        if (o && o->set_key && !strcmp(key, o->set_key)) {
            st = r1c_gguf_add_u32(w, key, o->set_val);
            set_done = 1;
        } else if (kv->type == R1C_GGUF_STRING) {
            char *v = cstr(kv->v.s);
            st = r1c_gguf_add_str(w, key, v);
            free(v);
        } else if (kv->type == R1C_GGUF_ARRAY && kv->arr_type == R1C_GGUF_STRING) {
            const char **p = xmalloc(sizeof *p * (size_t)(kv->arr_n + 1));
            uint64_t *l = xmalloc(sizeof *l * (size_t)(kv->arr_n + 1));
            for (uint64_t e = 0; e < kv->arr_n; e++) p[e] = kv->arr_str[e].p, l[e] = kv->arr_str[e].n;
            st = r1c_gguf_add_arr_str(w, key, p, l, kv->arr_n);
            free(p);
            free(l);
        } else if (kv->type == R1C_GGUF_ARRAY) {
            st = r1c_gguf_add_arr(w, key, kv->arr_type, kv->arr, kv->arr_n); /* little-endian host */
        } else {
            uint8_t v[8];
            float f = (float)kv->v.f;
            uint8_t b = (uint8_t)kv->v.b;
            switch (kv->type) {
            case R1C_GGUF_FLOAT32: memcpy(v, &f, 4); break;
            case R1C_GGUF_FLOAT64: memcpy(v, &kv->v.f, 8); break;
            case R1C_GGUF_BOOL: v[0] = b; break;
            default: memcpy(v, &kv->v.u, 8); break; /* low bytes first: any integer */
            }
            st = r1c_gguf_add_scalar(w, key, kv->type, v);
        }
        free(key);
        ok = st == R1C_OK;
    }
    if (ok && o && o->set_key && !set_done) ok = r1c_gguf_add_u32(w, o->set_key, o->set_val) == R1C_OK;
    for (uint64_t i = 0; ok && i < g->n_tensors; i++) {
        const r1c_gguf_tensor *t = &g->tensors[i];
        char *name = cstr(t->name);
        if (!(o && o->drop_tensor && !strcmp(name, o->drop_tensor)))
            ok = r1c_gguf_add_tensor(w, name, t->dtype, t->n_dims, t->ne, t->data) == R1C_OK;
        free(name);
    }
    ok = ok && r1c_gguf_writer_finish(w) == R1C_OK;
    CHECK(ok, "copy to %s: %s", dst, r1c_last_error());
    r1c_gguf_writer_free(w);
    return ok;
}

typedef struct child_result {
    int crashed; /* signal number, or 1000 + exit status */
    r1c_status st;
    char msg[1024];
} child_result;

/* r1c_model_load in a child process: a crash there is a failed check here. */
static child_result load_in_child(const char *path) {
    child_result r = {0};
    int fds[2];
    if (pipe(fds) != 0) {
        r.crashed = -1;
        return r;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(60);
        r1c_model *m = NULL;
        child_result c = {0};
        c.st = r1c_model_load(path, NULL, &m);
        snprintf(c.msg, sizeof c.msg, "%s", c.st == R1C_OK ? "" : r1c_last_error());
        r1c_model_free(m);
        ssize_t wn = write(fds[1], &c, sizeof c);
        _exit(wn == (ssize_t)sizeof c ? 0 : 3);
    }
    close(fds[1]);
    size_t got = 0;
    while (pid > 0 && got < sizeof r) {
        ssize_t k = read(fds[0], (char *)&r + got, sizeof r - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        r.crashed = -1;
        return r;
    }
    if (WIFSIGNALED(status)) r.crashed = WTERMSIG(status);
    else if (WEXITSTATUS(status) != 0 || got != sizeof r) r.crashed = 1000 + WEXITSTATUS(status);
    return r;
}

static void test_models(void) {
    const char *src = "tests/data/qwen2_tiny/model-f32.gguf";
    r1c_model *m = NULL;
    r1c_status st = r1c_model_load(src, NULL, &m);
    CHECK(st == R1C_OK, "load %s: %s", src, r1c_last_error());
    if (st == R1C_OK) {
        r1c_model_info in;
        r1c_model_get_info(m, &in);
        CHECK(!strcmp(in.model_type, "qwen2") && in.n_vocab == 512 && in.n_embd == 64 && in.n_layer == 3 &&
                  in.n_head == 4 && in.n_head_kv == 2 && in.head_dim == 16 && in.n_ff == 160 && !in.tied_embeddings &&
                  in.bos_id == 508 && in.n_eos >= 1 && in.eos_ids[0] == 509 && in.max_position == 128,
              "%s: info %s vocab %d embd %d layers %d heads %d/%d hd %d ff %d tied %d bos %d", src, in.model_type,
              in.n_vocab, in.n_embd, in.n_layer, in.n_head, in.n_head_kv, in.head_dim, in.n_ff, in.tied_embeddings,
              in.bos_id);
        CHECK(r1c_model_tokenizer(m) != NULL, "%s: no tokenizer from the metadata", src);
        r1c_model_free(m);
    }

    r1c_gguf g;
    st = r1c_gguf_open(src, 1, &g);
    CHECK(st == R1C_OK, "open %s: %s", src, r1c_last_error());
    if (st != R1C_OK) return;

    /* reader + writer reproduce llama.cpp's file byte for byte */
    const char *copy = tmp_path("copy.gguf");
    if (copy_gguf(&g, copy, NULL)) {
        size_t a_len, b_len;
        uint8_t *a = read_file(src, &a_len), *b = read_file(copy, &b_len);
        size_t diff = 0;
        while (a && b && diff < a_len && diff < b_len && a[diff] == b[diff]) diff++;
        CHECK(a && b && a_len == b_len && diff == a_len, "copy of %s: %zu vs %zu bytes, first difference at %zu", src,
              a_len, b_len, diff);
        free(a);
        free(b);
    }

    /* a required key dropped */
    static const char *const req_keys[] = {"general.architecture", "qwen2.embedding_length", "qwen2.block_count",
                                           "qwen2.attention.head_count"};
    for (size_t i = 0; i < sizeof req_keys / sizeof *req_keys; i++) {
        const char *p = tmp_path("nokey.gguf");
        copy_opts o = {.no_tokenizer = 1, .drop_key = req_keys[i]};
        if (!copy_gguf(&g, p, &o)) continue;
        child_result r = load_in_child(p);
        CHECK(!r.crashed, "without %s: the load crashed (%d)", req_keys[i], r.crashed);
        CHECK(r.st == R1C_ERR_MISSING && contains(r.msg, req_keys[i]) && contains(r.msg, p) && !strchr(r.msg, '\n'),
              "without %s: %s: %s", req_keys[i], r1c_status_string(r.st), r.msg);
    }
    /* the tokenizer's arrays dropped: a message naming them */
    static const char *const tok_keys[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"};
    for (size_t i = 0; i < 2; i++) {
        const char *p = tmp_path("nokey.gguf");
        copy_opts o = {.drop_key = tok_keys[i]};
        if (!copy_gguf(&g, p, &o)) continue;
        child_result r = load_in_child(p);
        CHECK(!r.crashed && r.st != R1C_OK && contains(r.msg, tok_keys[i]) && !strchr(r.msg, '\n'),
              "without %s: crashed %d, %s: %s", tok_keys[i], r.crashed, r1c_status_string(r.st), r.msg);
    }
    /* a tensor dropped: the message names the tensor as the file would (the GGUF name) */
    static const char *const req_tensors[] = {"token_embd.weight", "blk.1.attn_q.weight", "blk.2.ffn_down.weight",
                                              "output_norm.weight", "blk.0.attn_k.bias"};
    for (size_t i = 0; i < sizeof req_tensors / sizeof *req_tensors; i++) {
        const char *p = tmp_path("notensor.gguf");
        copy_opts o = {.no_tokenizer = 1, .drop_tensor = req_tensors[i]};
        if (!copy_gguf(&g, p, &o)) continue;
        child_result r = load_in_child(p);
        CHECK(!r.crashed, "without %s: the load crashed (%d)", req_tensors[i], r.crashed);
        CHECK(r.st == R1C_ERR_MISSING && contains(r.msg, p) && !strchr(r.msg, '\n'), "without %s: %s: %s",
              req_tensors[i], r1c_status_string(r.st), r.msg);
        CHECK(contains(r.msg, req_tensors[i]), "without %s: the message does not name it: %s", req_tensors[i], r.msg);
    }
    /* output.weight dropped: a tied model, as llama.cpp reads it */
    {
        const char *p = tmp_path("tied.gguf");
        copy_opts o = {.no_tokenizer = 1, .drop_tensor = "output.weight"};
        if (copy_gguf(&g, p, &o)) {
            st = r1c_model_load(p, NULL, &m);
            CHECK(st == R1C_OK, "without output.weight: %s", r1c_last_error());
            if (st == R1C_OK) {
                r1c_model_info in;
                r1c_model_get_info(m, &in);
                CHECK(in.tied_embeddings == 1, "without output.weight: not tied");
                r1c_model_free(m);
            }
        }
    }
    /* hostile values in the config keys: a clean refusal, never a crash */
    static const struct {
        const char *key;
        uint32_t val;
    } hostile[] = {
        {"qwen2.attention.head_count", 0},     {"qwen2.attention.head_count_kv", 0},
        {"qwen2.attention.head_count_kv", 3},  {"qwen2.embedding_length", 0},
        {"qwen2.block_count", 0xffffffffu},    {"qwen2.block_count", 0},
        {"qwen2.attention.head_count", 64},    {"qwen2.attention.key_length", 15},
        {"qwen2.attention.head_count", 0x80000000u}, {"qwen2.feed_forward_length", 0},
        {"qwen2.context_length", 0},           {"tokenizer.ggml.bos_token_id", 0xffffffffu},
    };
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        const char *p = tmp_path("hostile.gguf");
        copy_opts o = {.no_tokenizer = strncmp(hostile[i].key, "tokenizer.", 10) != 0, .set_key = hostile[i].key,
                       .set_val = hostile[i].val};
        if (!copy_gguf(&g, p, &o)) continue;
        child_result r = load_in_child(p);
        CHECK(!r.crashed, "%s = %u: the load crashed (signal / status %d)", hostile[i].key, hostile[i].val, r.crashed);
        CHECK(r.crashed || (r.st != R1C_OK && r.msg[0] && !strchr(r.msg, '\n')), "%s = %u: %s: %s", hostile[i].key,
              hostile[i].val, r1c_status_string(r.st), r.msg);
    }
    r1c_gguf_close(&g);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", test_tmpdir("gguf"));
    test_golden();
    test_roundtrip();
    test_hostile_header();
    test_hostile_tensors();
    test_truncation_and_flips();
    test_big_header();
    test_models();
    return test_summary("test_gguf");
}
