/* lora.c — PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors, checked against a
 * loaded model, applied unmerged through the executor's matmul hook, merged, and written.
 * Written from the format's description (PEFT's save/load semantics), not from its code. */
#include "lora.h"

#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../base/error.h"
#include "../base/file.h"
#include "../base/mem.h"
#include "../io/json.h"

#define PREFIX "base_model.model."
#define SUFFIX_A ".lora_A.weight"
#define SUFFIX_B ".lora_B.weight"

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* ------------------------------------------------------------ adapter_config.json */

/* Fields that change what the adapter computes and that r1c does not implement: present and
 * not "empty" (null, false, {}, []) means refuse, rather than run something else silently. */
static r1c_status refuse_if_set(const char *path, const cJSON *root, const char *field, const char *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return R1C_OK;
    if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child) return R1C_OK;
    return r1c_error(R1C_ERR_UNSUPPORTED, "%s: %s is not supported (%s)", path, field, why);
}

static r1c_status check_string(const char *path, const cJSON *root, const char *field, const char *want, int optional) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!v || cJSON_IsNull(v)) {
        if (optional) return R1C_OK;
        return r1c_error(R1C_ERR_MISSING, "%s: field '%s' is missing (want \"%s\")", path, field, want);
    }
    if (!cJSON_IsString(v))
        return r1c_error(R1C_ERR_FORMAT, "%s: field '%s' must be a string, got %s", path, field, r1c_json_type_name(v));
    if (strcmp(v->valuestring, want) != 0)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: %s \"%s\" is not supported (only \"%s\")", path, field, v->valuestring, want);
    return R1C_OK;
}

static r1c_status parse_fields(const char *path, cJSON *root, r1c_lora_config *out) {
    r1c_status st;
    if (!cJSON_IsObject(root)) return r1c_error(R1C_ERR_FORMAT, "%s: not a JSON object", path);
    if ((st = check_string(path, root, "peft_type", "LORA", 0)) != R1C_OK) return st;
    if ((st = check_string(path, root, "bias", "none", 1)) != R1C_OK) return st;
    if ((st = check_string(path, root, "task_type", "CAUSAL_LM", 1)) != R1C_OK) return st;
    if ((st = refuse_if_set(path, root, "fan_in_fan_out", "weights stored transposed")) != R1C_OK) return st;
    if ((st = refuse_if_set(path, root, "use_dora", "DoRA")) != R1C_OK) return st;
    if ((st = refuse_if_set(path, root, "modules_to_save", "fully trained extra modules")) != R1C_OK) return st;
    if ((st = refuse_if_set(path, root, "rank_pattern", "per-module ranks")) != R1C_OK) return st;
    if ((st = refuse_if_set(path, root, "alpha_pattern", "per-module alphas")) != R1C_OK) return st;
    if ((st = refuse_if_set(path, root, "layers_to_transform", "a subset of layers by index")) != R1C_OK) return st;

    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "r");
    if (!r) return r1c_error(R1C_ERR_MISSING, "%s: field 'r' is missing", path);
    if (!cJSON_IsNumber(r) || r->valuedouble != floor(r->valuedouble) || r->valuedouble < 1 || r->valuedouble > 65536)
        return r1c_error(R1C_ERR_FORMAT, "%s: field 'r' must be an integer in [1, 65536]", path);
    out->r = (int)r->valuedouble;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "lora_alpha");
    out->alpha = 8.0; /* PEFT's default when the field is absent */
    if (a && !cJSON_IsNumber(a))
        return r1c_error(R1C_ERR_FORMAT, "%s: field 'lora_alpha' must be a number, got %s", path, r1c_json_type_name(a));
    if (a) out->alpha = a->valuedouble;
    if (!isfinite(out->alpha)) return r1c_error(R1C_ERR_FORMAT, "%s: field 'lora_alpha' is not finite", path);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "use_rslora");
    if (rs && !cJSON_IsBool(rs) && !cJSON_IsNull(rs))
        return r1c_error(R1C_ERR_FORMAT, "%s: field 'use_rslora' must be true or false", path);
    out->use_rslora = rs && cJSON_IsTrue(rs);

    cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "target_modules");
    if (!t || cJSON_IsNull(t)) return r1c_error(R1C_ERR_MISSING, "%s: field 'target_modules' is missing", path);
    if (cJSON_IsArray(t)) {
        if (!t->child) return r1c_error(R1C_ERR_FORMAT, "%s: target_modules is empty", path);
        for (const cJSON *e = t->child; e; e = e->next)
            if (!cJSON_IsString(e) || !e->valuestring[0])
                return r1c_error(R1C_ERR_FORMAT, "%s: target_modules must hold non-empty strings", path);
    } else if (!cJSON_IsString(t)) {
        return r1c_error(R1C_ERR_FORMAT, "%s: target_modules must be a list of names or a regex string, got %s", path,
                         r1c_json_type_name(t));
    }
    out->targets = cJSON_DetachItemViaPointer(root, t);
    return R1C_OK;
}

r1c_status r1c_lora_parse_config(const char *path, const char *text, size_t len, r1c_lora_config *out) {
    memset(out, 0, sizeof *out);
    cJSON *root = r1c_json_parse(text, len);
    if (!root) return r1c_error(R1C_ERR_FORMAT, "%s: not valid JSON", path);
    r1c_status st = parse_fields(path, root, out);
    cJSON_Delete(root);
    if (st != R1C_OK) r1c_lora_config_free(out);
    return st;
}

void r1c_lora_config_free(r1c_lora_config *c) {
    cJSON_Delete(c->targets);
    c->targets = NULL;
}

/* ------------------------------------------------------------ target_modules */

typedef struct targets {
    const cJSON *list;  /* array of names, or NULL */
    pcre2_code *re;     /* the regex form, or NULL */
    pcre2_match_data *md;
} targets;

static r1c_status targets_init(const char *path, const cJSON *t, targets *out) {
    memset(out, 0, sizeof *out);
    if (cJSON_IsArray(t)) {
        out->list = t;
        return R1C_OK;
    }
    int err;
    PCRE2_SIZE at;
    out->re = pcre2_compile((PCRE2_SPTR)t->valuestring, PCRE2_ZERO_TERMINATED, 0, &err, &at, NULL);
    if (!out->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return r1c_error(R1C_ERR_FORMAT, "%s: target_modules regex '%s' at offset %zu: %s", path, t->valuestring,
                         (size_t)at, (const char *)msg);
    }
    out->md = pcre2_match_data_create_from_pattern(out->re, NULL);
    if (!out->md) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    return R1C_OK;
}

static void targets_free(targets *t) {
    pcre2_match_data_free(t->md);
    pcre2_code_free(t->re);
}

/* PEFT's rule: a list entry names a module when it equals the module's full name or is a
 * suffix of it after a '.'; a string is a regex the whole name must match. */
static int list_entry_matches(const char *target, const char *key) {
    size_t n = strlen(key), k = strlen(target);
    if (n == k) return strcmp(key, target) == 0;
    return n > k && key[n - k - 1] == '.' && strcmp(key + n - k, target) == 0;
}

static int targets_match(const targets *t, const char *key) {
    if (t->list) {
        for (const cJSON *e = t->list->child; e; e = e->next)
            if (list_entry_matches(e->valuestring, key)) return 1;
        return 0;
    }
    return pcre2_match(t->re, (PCRE2_SPTR)key, strlen(key), 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, t->md, NULL) >= 0;
}

/* ------------------------------------------------------------ the model's matrices */

static int by_name(const void *a, const void *b) {
    return strcmp((*(const r1c_tensor *const *)a)->name, (*(const r1c_tensor *const *)b)->name);
}

/* The model's bound 2-D weights inside model.layers, sorted by name (what an adapter may touch). */
static r1c_status layer_matrices(const r1c_model *m, const r1c_tensor ***out, int *n) {
    const r1c_tensor **v = malloc(sizeof *v * (size_t)(m->n_bound + 1));
    if (!v) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < m->n_bound; i++)
        if (m->bound[i].n_dims == 2 && strncmp(m->bound[i].name, "model.layers.", 13) == 0) v[k++] = &m->bound[i];
    qsort(v, (size_t)k, sizeof *v, by_name);
    *out = v, *n = k;
    return R1C_OK;
}

static const r1c_tensor *find_matrix(const r1c_tensor **v, int n, const char *name) {
    r1c_tensor key = {.name = name};
    const r1c_tensor *kp = &key;
    const r1c_tensor **hit = bsearch(&kp, v, (size_t)n, sizeof *v, by_name);
    return hit ? *hit : NULL;
}

/* ------------------------------------------------------------ loading */

static const char *shape_str(const r1c_tensor *t, char *buf, size_t cap) {
    buf[0] = 0;
    for (int i = 0; i < t->n_dims; i++) snprintf(buf + strlen(buf), cap - strlen(buf), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    return buf;
}

/* A factor widened to an owned f32 matrix of the shape wanted (rows x cols), times `scale`. */
static r1c_status take_factor(const char *file, const r1c_tensor *v, int64_t rows, int64_t cols, float scale, float **out,
                              r1c_tensor *view) {
    char got[96];
    if (v->n_dims != 2 || v->shape[0] != rows || v->shape[1] != cols)
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%lld, %lld]", file, v->name,
                         shape_str(v, got, sizeof got), (long long)rows, (long long)cols);
    if (!r1c_dtype_is_float_weight(v->dtype))
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, BF16, F16 supported)", file, v->name,
                         r1c_dtype_name(v->dtype));
    float *f = r1c_alloc(sizeof(float) * (size_t)(rows * cols));
    if (!f) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_to_f32(v->dtype, v->data, f, rows * cols);
    if (scale != 1.0f)
        for (int64_t i = 0; i < rows * cols; i++) f[i] *= scale;
    *out = f;
    *view = (r1c_tensor){.name = v->name, .dtype = R1C_F32, .n_dims = 2, .shape = {rows, cols}, .data = f,
                         .nbytes = sizeof(float) * (uint64_t)(rows * cols)};
    return R1C_OK;
}

/* Why r1c cannot apply an adapter to this matrix even though the model has it, or NULL. */
static const char *not_adaptable(const r1c_model *m, const char *name) {
    if (m->ds && ends_with(name, ".kv_b_proj.weight"))
        return "DeepSeek's kv_b_proj is read by the absorbed attention, not through a matmul";
    if (m->rope_interleaved && (ends_with(name, ".q_proj.weight") || ends_with(name, ".k_proj.weight")))
        return "this GGUF file's q_proj / k_proj rows are permuted for interleaved RoPE";
    return NULL;
}

typedef struct load_state {
    const r1c_model *m;
    const char *file;      /* adapter_model.safetensors path */
    r1c_st_set set;
    targets tg;
    const r1c_tensor **mats;
    int n_mats;
} load_state;

/* One A entry of the file: finds its B and the base matrix, checks them, stores the module. */
static r1c_status add_module(r1c_lora *a, load_state *s, const r1c_st_entry *e) {
    const size_t plen = strlen(PREFIX), n = strlen(e->name), slen = strlen(SUFFIX_A);
    char key[512], wname[520], bname[540];
    if (n - plen - slen >= sizeof key)
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor name '%s' is too long", s->file, e->name);
    memcpy(key, e->name + plen, n - plen - slen);
    key[n - plen - slen] = 0;
    snprintf(wname, sizeof wname, "%s.weight", key);
    snprintf(bname, sizeof bname, PREFIX "%s" SUFFIX_B, key);
    r1c_tensor va, vb;
    const char *f;
    r1c_st_find(&s->set, e->name, &va, &f);
    va.name = e->name;
    if (!r1c_st_find(&s->set, bname, &vb, &f))
        return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' has no matching '%s'", s->file, e->name, bname);
    vb.name = bname;
    if (!targets_match(&s->tg, key))
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': module '%s' is not in target_modules", s->file, e->name, key);
    const r1c_tensor *w = find_matrix(s->mats, s->n_mats, wname);
    if (!w)
        return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s': unknown target module '%s' (the model has no matrix '%s')",
                         s->file, e->name, key, wname);
    const char *why = not_adaptable(s->m, wname);
    if (why) return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s': cannot adapt '%s': %s", s->file, e->name, wname, why);
    r1c_lora_module *mod = &a->mods[a->n_mods];
    memset(mod, 0, sizeof *mod);
    mod->w = w;
    r1c_status st;
    if ((st = take_factor(s->file, &va, a->r, w->shape[1], 1.0f, &mod->a, &mod->A)) != R1C_OK) return st;
    a->n_mods++; /* from here on freed with the adapter */
    if ((st = take_factor(s->file, &vb, w->shape[0], a->r, a->scale, &mod->b, &mod->B)) != R1C_OK) return st;
    if (!(mod->name = strdup(wname))) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    mod->A.name = mod->B.name = mod->name;
    return R1C_OK;
}

/* Every tensor of the file is an A or a B of a pair; every list entry names some matrix. */
static r1c_status add_modules(r1c_lora *a, load_state *s) {
    const r1c_st_header *h = &s->set.files[0].hdr;
    a->mods = calloc((size_t)(h->n + 1), sizeof *a->mods);
    if (!a->mods) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st;
    for (int i = 0; i < h->n; i++) {
        const char *name = h->entries[i].name;
        const int is_a = ends_with(name, SUFFIX_A), is_b = ends_with(name, SUFFIX_B);
        if (strncmp(name, PREFIX, strlen(PREFIX)) != 0 || (!is_a && !is_b) || strlen(name) <= strlen(PREFIX) + strlen(SUFFIX_A))
            return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' is not a LoRA weight (" PREFIX "<module>" SUFFIX_A " or " SUFFIX_B ")",
                             s->file, name);
        if (is_b) { /* its A must exist; the pair is handled there */
            char aname[540];
            snprintf(aname, sizeof aname, "%.*s" SUFFIX_A, (int)(strlen(name) - strlen(SUFFIX_B)), name);
            if (!r1c_st_find(&s->set, aname, NULL, NULL))
                return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' has no matching '%s'", s->file, name, aname);
            continue;
        }
        if ((st = add_module(a, s, &h->entries[i])) != R1C_OK) return st;
    }
    if (a->n_mods == 0) return r1c_error(R1C_ERR_MISSING, "%s: no LoRA tensors", s->file);
    if (s->tg.list)
        for (const cJSON *e = s->tg.list->child; e; e = e->next) {
            int hit = 0;
            for (int i = 0; i < s->n_mats && !hit; i++) {
                char key[512];
                snprintf(key, sizeof key, "%.*s", (int)(strlen(s->mats[i]->name) - 7), s->mats[i]->name);
                hit = list_entry_matches(e->valuestring, key);
            }
            if (!hit)
                return r1c_error(R1C_ERR_MISSING, "%s/adapter_config.json: target_modules: unknown target module '%s' (no matrix of the model matches)",
                                 a->dir, e->valuestring);
        }
    return R1C_OK;
}

static int by_weight(const void *x, const void *y) {
    const r1c_tensor *a = (*(const r1c_lora_module *const *)x)->w, *b = (*(const r1c_lora_module *const *)y)->w;
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

static r1c_status index_modules(r1c_lora *a) {
    a->by_w = malloc(sizeof *a->by_w * (size_t)a->n_mods);
    if (!a->by_w) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int i = 0; i < a->n_mods; i++) a->by_w[i] = &a->mods[i];
    qsort(a->by_w, (size_t)a->n_mods, sizeof *a->by_w, by_weight);
    return R1C_OK;
}

static r1c_status read_config(r1c_lora *a, r1c_lora_config *cfg) {
    char *path = r1c_path_join(a->dir, "adapter_config.json"), *text = NULL;
    size_t len = 0;
    if (!path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = r1c_read_small_file(path, 16u << 20, &text, &len);
    if (st == R1C_OK) st = r1c_lora_parse_config(path, text, len, cfg);
    free(text);
    free(path);
    if (st != R1C_OK) return st;
    a->r = cfg->r;
    a->use_rslora = cfg->use_rslora;
    a->alpha = (float)cfg->alpha;
    a->scale = (float)(cfg->use_rslora ? cfg->alpha / sqrt((double)cfg->r) : cfg->alpha / cfg->r);
    return R1C_OK;
}

static r1c_status load(r1c_lora *a, const r1c_model *m) {
    r1c_lora_config cfg;
    r1c_status st = read_config(a, &cfg);
    if (st != R1C_OK) return st;
    load_state s = {.m = m};
    char *file = r1c_path_join(a->dir, "adapter_model.safetensors");
    if (!file) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    s.file = file;
    if (st == R1C_OK) st = r1c_st_open_file(file, 0, &s.set);
    const int opened = st == R1C_OK;
    char *cpath = r1c_path_join(a->dir, "adapter_config.json");
    if (st == R1C_OK && !cpath) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st == R1C_OK) st = targets_init(cpath, cfg.targets, &s.tg);
    free(cpath);
    if (st == R1C_OK) st = layer_matrices(m, &s.mats, &s.n_mats);
    if (st == R1C_OK) st = add_modules(a, &s);
    if (st == R1C_OK) st = index_modules(a);
    free(s.mats);
    targets_free(&s.tg);
    if (opened) r1c_st_close(&s.set);
    free(file);
    r1c_lora_config_free(&cfg);
    return st;
}

r1c_status r1c_lora_load(const r1c_model *m, const char *dir, r1c_lora **out) {
    *out = NULL;
    if (!m || !dir) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_lora_load: no model or directory");
    r1c_lora *a = calloc(1, sizeof *a);
    if (!a || !(a->dir = strdup(dir))) {
        free(a);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    a->m = m;
    r1c_status st = load(a, m);
    if (st != R1C_OK) {
        r1c_lora_free(a);
        return st;
    }
    *out = a;
    return R1C_OK;
}

void r1c_lora_free(r1c_lora *a) {
    if (!a) return;
    for (int i = 0; i < a->n_mods; i++) {
        r1c_free(a->mods[i].a);
        r1c_free(a->mods[i].b);
        free(a->mods[i].name);
    }
    free(a->mods);
    free(a->by_w);
    free(a->dir);
    free(a);
}

int r1c_lora_n_modules(const r1c_lora *a) { return a ? a->n_mods : 0; }

/* ------------------------------------------------------------ application */

static const r1c_lora_module *module_of(const r1c_lora *a, const r1c_tensor *w) {
    r1c_lora_module key = {.w = w};
    const r1c_lora_module *kp = &key;
    r1c_lora_module *const *hit = bsearch(&kp, a->by_w, (size_t)a->n_mods, sizeof *a->by_w, by_weight);
    return hit ? *hit : NULL;
}

/* y += B (A x) for one job, through r1c_matmul itself (threads, kernels and the canonical
 * reduction order, so the result does not depend on T or the thread count). */
static void add_low_rank(const r1c_exec *ex, const r1c_lora_module *mod, const r1c_mm_job *job, const float *x, int64_t ldx,
                         int T) {
    const int64_t r = mod->A.shape[0], out = mod->B.shape[0];
    float *ax = malloc(sizeof(float) * (size_t)(T * r)), *d = malloc(sizeof(float) * (size_t)(T * out));
    if (!ax || !d) { /* no way to report from here: NaN, never silently the base model's numbers */
        for (int t = 0; t < T; t++)
            for (int64_t i = 0; i < out; i++) job->y[t * job->ldy + i] = __builtin_nanf("");
    } else {
        r1c_exec sub = *ex;
        sub.after_mm = NULL;
        r1c_mm_job ja = {.w = &mod->A, .y = ax, .ldy = r, .x = job->x};
        r1c_matmul(&sub, &ja, 1, x, ldx, T);
        r1c_mm_job jb = {.w = &mod->B, .y = d, .ldy = out};
        r1c_matmul(&sub, &jb, 1, ax, r, T);
        for (int t = 0; t < T; t++)
            for (int64_t i = 0; i < out; i++) job->y[t * job->ldy + i] += d[t * out + i];
    }
    free(ax);
    free(d);
}

static void after_mm(const r1c_exec *ex, const r1c_mm_job *jobs, int n_jobs, const float *x, int64_t ldx, int T) {
    const r1c_lora *a = ex->after_mm_user;
    for (int j = 0; j < n_jobs; j++) {
        const r1c_lora_module *mod = module_of(a, jobs[j].w);
        if (mod) add_low_rank(ex, mod, &jobs[j], x, ldx, T);
    }
}

void r1c_lora_attach(r1c_exec *ex, const r1c_lora *a) {
    ex->after_mm = a ? after_mm : NULL;
    ex->after_mm_user = a;
}

/* ------------------------------------------------------------ writing */

static r1c_status write_text(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return r1c_error(R1C_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(text, 1, len, f) == len;
    if (fclose(f) != 0) ok = 0;
    return ok ? R1C_OK : r1c_error(R1C_ERR_IO, "%s: write failed", path);
}

/* A float as its shortest decimal (0.05f is written 0.05, as Python would, not 0.0500000007) */
static double short_float(float f) {
    char buf[32];
    for (int p = 1; p < 10; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static cJSON *config_json(const r1c_lora_wconfig *c) {
    cJSON *o = cJSON_CreateObject(), *t = cJSON_CreateArray();
    if (!o || !t) {
        cJSON_Delete(o), cJSON_Delete(t);
        return NULL;
    }
    for (int i = 0; i < c->n_targets; i++) cJSON_AddItemToArray(t, cJSON_CreateString(c->target_modules[i]));
    cJSON_AddItemToObject(o, "alpha_pattern", cJSON_CreateObject());
    if (c->base_model) cJSON_AddStringToObject(o, "base_model_name_or_path", c->base_model);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    cJSON_AddStringToObject(o, "bias", "none");
    cJSON_AddFalseToObject(o, "fan_in_fan_out");
    cJSON_AddTrueToObject(o, "inference_mode");
    cJSON_AddTrueToObject(o, "init_lora_weights");
    cJSON_AddNullToObject(o, "layers_pattern");
    cJSON_AddNullToObject(o, "layers_to_transform");
    cJSON_AddNumberToObject(o, "lora_alpha", short_float(c->alpha));
    cJSON_AddNumberToObject(o, "lora_dropout", short_float(c->dropout));
    cJSON_AddNullToObject(o, "modules_to_save");
    cJSON_AddStringToObject(o, "peft_type", "LORA");
    cJSON_AddNumberToObject(o, "r", c->r);
    cJSON_AddItemToObject(o, "rank_pattern", cJSON_CreateObject());
    cJSON_AddNullToObject(o, "revision");
    cJSON_AddItemToObject(o, "target_modules", t);
    cJSON_AddStringToObject(o, "task_type", "CAUSAL_LM");
    cJSON_AddFalseToObject(o, "use_dora");
    if (c->use_rslora) cJSON_AddTrueToObject(o, "use_rslora");
    else cJSON_AddFalseToObject(o, "use_rslora");
    return o;
}

/* The JSON as PEFT writes it (Python's json.dumps, indent 2): "key": value, two-space indents. */
static char *pretty(const cJSON *o) {
    char *t = cJSON_Print(o);
    if (!t) return NULL;
    char *out = malloc(2 * strlen(t) + 2), *w = out;
    for (const char *p = t; out && *p; p++) {
        if (*p == '\t' && p > t && p[-1] == ':') *w++ = ' ';
        else if (*p == '\t') *w++ = ' ', *w++ = ' ';
        else *w++ = *p;
    }
    if (out) *w++ = '\n', *w = 0;
    free(t);
    return out;
}

static void store(r1c_dtype dt, const float *src, void *dst, int64_t n) {
    if (dt == R1C_F32) {
        memcpy(dst, src, sizeof(float) * (size_t)n);
        return;
    }
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = dt == R1C_BF16 ? r1c_f32_to_bf16(src[i]) : r1c_f32_to_f16(src[i]);
        memcpy(p + 2 * i, &h, 2); /* little-endian hosts only, as the rest of r1c */
    }
}

static r1c_status write_tensors(const char *path, const r1c_lora_wconfig *cfg, const r1c_lora_wmodule *mods, int n,
                                r1c_dtype dt) {
    r1c_st_wtensor *t = calloc((size_t)(2 * n), sizeof *t);
    char **names = calloc((size_t)(2 * n), sizeof *names);
    void **bufs = calloc((size_t)(2 * n), sizeof *bufs);
    r1c_status st = t && names && bufs ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int i = 0; st == R1C_OK && i < n; i++) {
        const r1c_lora_wmodule *md = &mods[i];
        if (!md->name || !ends_with(md->name, ".weight") || md->in <= 0 || md->out <= 0 || !md->A || !md->B) {
            st = r1c_error(R1C_ERR_INVALID_ARG, "r1c_lora_write: module %d ('%s') needs a name ending in .weight, sizes and A, B", i,
                           md->name ? md->name : "");
            break;
        }
        const int klen = (int)(strlen(md->name) - 7);
        for (int k = 0; k < 2 && st == R1C_OK; k++) {
            const int64_t rows = k ? md->out : cfg->r, cols = k ? cfg->r : md->in;
            const size_t len = strlen(PREFIX) + (size_t)klen + strlen(SUFFIX_A) + 1;
            names[2 * i + k] = malloc(len);
            bufs[2 * i + k] = malloc((size_t)(rows * cols) * (size_t)r1c_dtype_size(dt));
            if (!names[2 * i + k] || !bufs[2 * i + k]) {
                st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                break;
            }
            snprintf(names[2 * i + k], len, PREFIX "%.*s%s", klen, md->name, k ? SUFFIX_B : SUFFIX_A);
            store(dt, k ? md->B : md->A, bufs[2 * i + k], rows * cols);
            t[2 * i + k] = (r1c_st_wtensor){.name = names[2 * i + k], .dtype = dt, .n_dims = 2, .shape = {rows, cols},
                                            .data = bufs[2 * i + k]};
        }
    }
    static const char *const meta[] = {"format", "pt", NULL};
    if (st == R1C_OK) st = r1c_st_write(path, t, 2 * n, meta);
    for (int i = 0; names && bufs && i < 2 * n; i++) free(names[i]), free(bufs[i]);
    free(names), free(bufs), free(t);
    return st;
}

r1c_status r1c_lora_write(const char *dir, const r1c_lora_wconfig *cfg, const r1c_lora_wmodule *mods, int n,
                          r1c_dtype dtype) {
    if (!dir || !cfg || cfg->r < 1 || n < 1 || !mods || cfg->n_targets < 1 || !cfg->target_modules)
        return r1c_error(R1C_ERR_INVALID_ARG, "r1c_lora_write: needs a directory, r >= 1, modules and target_modules");
    if (dtype != R1C_F32 && dtype != R1C_BF16 && dtype != R1C_F16)
        return r1c_error(R1C_ERR_INVALID_ARG, "r1c_lora_write: dtype %s (F32, BF16 or F16)", r1c_dtype_name(dtype));
    cJSON *o = config_json(cfg);
    char *text = o ? pretty(o) : NULL;
    cJSON_Delete(o);
    char *cpath = r1c_path_join(dir, "adapter_config.json"), *tpath = r1c_path_join(dir, "adapter_model.safetensors");
    r1c_status st = text && cpath && tpath ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st == R1C_OK) st = write_text(cpath, text, strlen(text));
    if (st == R1C_OK) st = write_tensors(tpath, cfg, mods, n, dtype);
    free(text), free(cpath), free(tpath);
    return st;
}

/* ------------------------------------------------------------ merging */

typedef struct merge_state {
    const r1c_lora_module **mod; /* per written tensor: its module or NULL */
    const r1c_dtype *dtype;
    float *row, *delta;          /* [cols] */
} merge_state;

/* Row r of W + scale B A in f32: the low-rank sum first (k ascending), then added to W. */
static void merged_row(const r1c_lora_module *md, int64_t r, float *row, float *delta) {
    const int64_t cols = md->A.shape[1], rank = md->A.shape[0];
    r1c_row_to_f32(md->w, r, row);
    memset(delta, 0, sizeof(float) * (size_t)cols);
    for (int64_t k = 0; k < rank; k++) {
        const float b = md->b[r * rank + k], *ak = md->a + k * cols;
        for (int64_t c = 0; c < cols; c++) delta[c] = fmaf(b, ak[c], delta[c]);
    }
    for (int64_t c = 0; c < cols; c++) row[c] += delta[c];
}

/* r1c_st_write's chunk callback: the bytes [off, off + n) of a merged tensor (chunks start at
 * element boundaries: they are multiples of 8 MiB). */
static void merge_fill(void *user, int index, uint64_t off, void *dst, size_t n) {
    const merge_state *s = user;
    const r1c_lora_module *md = s->mod[index];
    const r1c_dtype dt = s->dtype[index];
    const int64_t es = r1c_dtype_size(dt), cols = md->A.shape[1];
    const int64_t e0 = (int64_t)off / es, e1 = e0 + (int64_t)n / es;
    for (int64_t e = e0; e < e1;) {
        const int64_t r = e / cols, c0 = e % cols, c1 = (e1 - r * cols) < cols ? e1 - r * cols : cols;
        merged_row(md, r, s->row, s->delta);
        store(dt, s->row + c0, (uint8_t *)dst + (e - e0) * es, c1 - c0);
        e += c1 - c0;
    }
}

static r1c_status copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char *src = r1c_path_join(from_dir, name), *dst = r1c_path_join(to_dir, name), *text = NULL;
    size_t len = 0;
    r1c_status st = src && dst ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st == R1C_OK && r1c_file_exists(src)) {
        st = r1c_read_small_file(src, 1u << 30, &text, &len);
        if (st == R1C_OK) st = write_text(dst, text, len);
    }
    free(text), free(src), free(dst);
    return st;
}

static r1c_status check_mergeable(const r1c_model *m, const r1c_lora *a) {
    if (m->gguf)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: lora merge needs a Hugging Face safetensors base (F32, BF16, F16), not a GGUF file",
                         m->dir);
    for (int i = 0; i < a->n_mods; i++) {
        const r1c_tensor *w = a->mods[i].w;
        if (!r1c_dtype_is_float_weight(w->dtype))
            return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' is %s: lora merge needs F32, BF16 or F16 weights", m->dir,
                             w->name, r1c_dtype_name(w->dtype));
    }
    return R1C_OK;
}

/* Every tensor of the base's files, in file order, into OUT/model.safetensors. */
static r1c_status write_merged(const r1c_model *m, const r1c_lora *a, const char *out_path) {
    int n = 0;
    for (int f = 0; f < m->files.n_files; f++) n += m->files.files[f].hdr.n;
    r1c_st_wtensor *t = calloc((size_t)n + 1, sizeof *t);
    const r1c_lora_module **mod = calloc((size_t)n + 1, sizeof *mod);
    r1c_dtype *dt = calloc((size_t)n + 1, sizeof *dt);
    int64_t max_cols = 1;
    for (int i = 0; i < a->n_mods; i++) max_cols = a->mods[i].A.shape[1] > max_cols ? a->mods[i].A.shape[1] : max_cols;
    merge_state s = {mod, dt, malloc(sizeof(float) * (size_t)max_cols), malloc(sizeof(float) * (size_t)max_cols)};
    r1c_status st = t && mod && dt && s.row && s.delta ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int f = 0, k = 0; st == R1C_OK && f < m->files.n_files; f++) {
        const r1c_st_file *F = &m->files.files[f];
        for (int e = 0; e < F->hdr.n; e++, k++) {
            const r1c_st_entry *E = &F->hdr.entries[e];
            t[k] = (r1c_st_wtensor){.name = E->name, .dtype = E->dtype, .n_dims = E->n_dims,
                                    .data = F->blob.data + F->hdr.data_start + E->begin};
            memcpy(t[k].shape, E->shape, sizeof E->shape);
            dt[k] = E->dtype;
            for (int i = 0; i < a->n_mods; i++)
                if (strcmp(a->mods[i].name, E->name) == 0) mod[k] = &a->mods[i];
            if (mod[k]) t[k].data = NULL, t[k].fill = merge_fill, t[k].user = &s;
        }
    }
    static const char *const meta[] = {"format", "pt", NULL};
    if (st == R1C_OK) st = r1c_st_write(out_path, t, n, meta);
    free(t), free(mod), free(dt), free(s.row), free(s.delta);
    return st;
}

static r1c_status make_dir(const char *dir) {
    struct stat sb;
    if (mkdir(dir, 0777) == 0) return R1C_OK;
    if (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return R1C_OK;
    return r1c_error(R1C_ERR_IO, "%s: cannot create the directory: %s", dir, strerror(errno));
}

r1c_status r1c_lora_merge(const char *base_dir, const char *lora_dir, const char *out_dir) {
    if (!base_dir || !lora_dir || !out_dir) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_lora_merge: missing directory");
    if (r1c_is_gguf_file(base_dir))
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: lora merge needs a Hugging Face safetensors base (F32, BF16, F16), not a GGUF file",
                         base_dir);
    struct stat sb, so;
    if (stat(base_dir, &sb) == 0 && stat(out_dir, &so) == 0 && sb.st_dev == so.st_dev && sb.st_ino == so.st_ino)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: the output directory must not be the base model's", out_dir);
    r1c_load_params lp = {.use_mmap = 1};
    r1c_model *m = NULL;
    r1c_lora *a = NULL;
    r1c_status st = r1c_model_load(base_dir, &lp, &m);
    if (st == R1C_OK) st = r1c_lora_load(m, lora_dir, &a);
    if (st == R1C_OK) st = check_mergeable(m, a);
    if (st == R1C_OK) st = make_dir(out_dir);
    char *out_path = st == R1C_OK ? r1c_path_join(out_dir, "model.safetensors") : NULL;
    if (st == R1C_OK && !out_path) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st == R1C_OK) st = write_merged(m, a, out_path);
    static const char *const copied[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                         "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model"};
    for (size_t i = 0; st == R1C_OK && i < sizeof copied / sizeof *copied; i++) st = copy_file(base_dir, out_dir, copied[i]);
    free(out_path);
    r1c_lora_free(a);
    r1c_model_free(m);
    return st;
}
