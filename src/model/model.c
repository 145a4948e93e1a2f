/* model.c — loading a checkpoint directory: config, weight files, architecture binding. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>

#include "../base/error.h"
#include "../base/file.h"
#include "../base/mem.h"
#include "lora.h"
#include "../tensor/kernels.h"
#include "../tensor/quant.h"

static const r1c_arch *const g_archs[] = {&r1c_arch_qwen2, &r1c_arch_llama, &r1c_arch_deepseek_v2, &r1c_arch_deepseek_v3};

r1c_status r1c_model_own(r1c_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **n = realloc(m->owned, sizeof *n * (size_t)cap);
        if (!n) {
            r1c_free(p);
            return r1c_error(R1C_ERR_NOMEM, "out of memory");
        }
        m->owned = n;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return R1C_OK;
}

/* The table is sized before binding (views handed out must not move); callers check room. */
static r1c_tensor *add_bound(r1c_model *m, const r1c_tensor *v) {
    m->bound[m->n_bound] = *v;
    m->n_params += r1c_tensor_numel(v);
    m->weight_bytes += (int64_t)v->nbytes;
    return &m->bound[m->n_bound++];
}

/* Tensors by Hugging Face name, from safetensors or (translated) from a GGUF file. */
static int lookup(const r1c_model *m, const char *name, r1c_tensor *v, const char **file) {
    if (m->gguf) return r1c_gguf_model_lookup(m, name, v, file);
    return r1c_st_find(&m->files, name, v, file);
}

int r1c_model_has_tensor(const r1c_model *m, const char *name) { return lookup(m, name, NULL, NULL); }

static r1c_status find(r1c_model *m, const char *name, r1c_tensor *v, const char **file) {
    if (!lookup(m, name, v, file)) {
        char gname[160];
        if (m->gguf && r1c_gguf_model_name(name, gname, sizeof gname)) /* as the file names it */
            return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' is missing (%s, model_type %s)", m->dir, gname, name,
                             m->cfg.model_type);
        return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' is missing (model_type %s)", m->dir,
                         name, m->cfg.model_type);
    }
    if (m->gguf) { /* the view's name must outlive this call */
        char *copy = r1c_alloc(strlen(name) + 1);
        if (!copy || r1c_model_own(m, copy) != R1C_OK) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        memcpy(copy, name, strlen(name) + 1);
        v->name = copy;
    }
    return R1C_OK;
}

static r1c_status check_shape(const char *file, const r1c_tensor *v, int nd, const int64_t *want) {
    int ok = v->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = v->shape[i] == want[i];
    if (ok) return R1C_OK;
    char got[128] = "", exp[128] = "";
    for (int i = 0; i < v->n_dims; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)v->shape[i]);
    for (int i = 0; i < nd; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? ", " : "", (long long)want[i]);
    return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", file, v->name, got, exp);
}

/* FP8 weights come with "<name>_scale_inv": one scale per block (weight_block_size, 128x128 in
 * DeepSeek's checkpoints), w = f32(q) * scale. The grid must cover the matrix exactly. */
static r1c_status bind_fp8_scale(r1c_model *m, const char *name, const char *file, r1c_tensor *v) {
    char sname[512];
    snprintf(sname, sizeof sname, "%s_scale_inv", name);
    r1c_tensor s;
    const char *sfile;
    if (!lookup(m, sname, &s, &sfile))
        return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' is F8_E4M3 but its scale '%s' is missing", file, name, sname);
    const int64_t br = m->cfg.fp8_block[0] ? m->cfg.fp8_block[0] : 128, bk = m->cfg.fp8_block[1] ? m->cfg.fp8_block[1] : 128;
    if (bk % 16)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s/config.json: quantization_config.weight_block_size width %lld is not a multiple of 16",
                         m->dir, (long long)bk);
    const int64_t want[2] = {(v->shape[0] + br - 1) / br, (v->shape[1] + bk - 1) / bk};
    if (s.n_dims != 2 || s.shape[0] != want[0] || s.shape[1] != want[1]) {
        char got[128] = "";
        for (int i = 0; i < s.n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)s.shape[i]);
        return r1c_error(R1C_ERR_FORMAT, "%s: scale '%s' of '%s' has shape [%s], expected [%lld, %lld] for %lldx%lld blocks",
                         sfile, sname, name, got, (long long)want[0], (long long)want[1], (long long)br, (long long)bk);
    }
    if (!r1c_dtype_is_float_weight(s.dtype))
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: scale '%s' has dtype %s", sfile, sname, r1c_dtype_name(s.dtype));
    const float *scale = s.data;
    if (s.dtype != R1C_F32 || (uintptr_t)s.data % 4) { /* widened (or realigned) once: it is tiny */
        float *f = r1c_alloc(sizeof(float) * (size_t)(want[0] * want[1]));
        if (!f || r1c_model_own(m, f) != R1C_OK) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        r1c_to_f32(s.dtype, s.data, f, want[0] * want[1]);
        scale = f;
    }
    v->scale = scale;
    v->block[0] = br, v->block[1] = bk;
    v->scale_cols = want[1];
    v->nbytes += s.nbytes; /* the scales are read with the weights */
    return R1C_OK;
}

r1c_status r1c_bind_matrix(r1c_model *m, const char *name, int64_t rows, int64_t cols,
                           const r1c_tensor **out) {
    r1c_tensor v;
    const char *file;
    r1c_status st = find(m, name, &v, &file);
    if (st != R1C_OK) return st;
    int64_t want[2] = {rows, cols};
    if ((st = check_shape(file, &v, 2, want)) != R1C_OK) return st;
    const int quant = r1c_dtype_is_quant(v.dtype) && v.dtype != R1C_Q8_K;
    if (!r1c_dtype_is_float_weight(v.dtype) && v.dtype != R1C_F8_E4M3 && !quant)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16, BF16, F8_E4M3, Q8_0, Q4_0, Q4_K, Q6_K supported)",
                         file, name, r1c_dtype_name(v.dtype));
    if (v.dtype == R1C_F8_E4M3 && (st = bind_fp8_scale(m, name, file, &v)) != R1C_OK) return st;
    /* reuse a binding (tied embeddings) */
    for (int i = 0; i < m->n_bound; i++)
        if (m->bound[i].data == v.data && strcmp(m->bound[i].name, v.name) == 0) {
            *out = &m->bound[i];
            return R1C_OK;
        }
    if (!quant && (uintptr_t)v.data % (uintptr_t)r1c_dtype_size(v.dtype)) { /* blocks are read bytewise */
        /* safetensors does not promise alignment; a misaligned tensor gets an aligned copy */
        void *copy = r1c_alloc(v.nbytes);
        if (!copy || r1c_model_own(m, copy) != R1C_OK) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        memcpy(copy, v.data, v.nbytes);
        v.data = copy;
    }
    if (m->n_bound == m->cap_bound) return r1c_error(R1C_ERR_INVALID_ARG, "internal: binding table full");
    r1c_tensor *b = add_bound(m, &v);
    *out = b;
    return R1C_OK;
}

r1c_status r1c_bind_vector(r1c_model *m, const char *name, int64_t n, const float **out) {
    r1c_tensor v;
    const char *file;
    r1c_status st = find(m, name, &v, &file);
    if (st != R1C_OK) return st;
    if ((st = check_shape(file, &v, 1, &n)) != R1C_OK) return st;
    if (!r1c_dtype_is_float_weight(v.dtype))
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16, BF16 supported)",
                         file, name, r1c_dtype_name(v.dtype));
    float *f = r1c_alloc(sizeof(float) * (size_t)n);
    if (!f || r1c_model_own(m, f) != R1C_OK) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_to_f32(v.dtype, v.data, f, n); /* byte-wise reads: no alignment needed */
    if (m->n_bound == m->cap_bound) return r1c_error(R1C_ERR_INVALID_ARG, "internal: binding table full");
    add_bound(m, &v);
    *out = f;
    return R1C_OK;
}

void r1c_model_matmul_only(const r1c_tensor *t) {
    if (t) ((r1c_tensor *)t)->packed = -1; /* a view in the model's own table (add_bound) */
}

static int by_data(const void *a, const void *b) {
    const r1c_tensor *x = *(const r1c_tensor *const *)a, *y = *(const r1c_tensor *const *)b;
    return (uintptr_t)x->data < (uintptr_t)y->data ? -1 : (uintptr_t)x->data > (uintptr_t)y->data;
}

/* The marked matrices, rewritten in place (the memory is the model's: read, not mapped), one
 * matrix per task on all threads. Bytes bound more than once are packed once, and only when
 * every view of them is marked (a tied embedding table is read by rows). */
static r1c_status pack_marked(r1c_model *m) {
    const char *env = getenv("R1C_PACK");
    const r1c_quant_kernels *Q = r1c_kernels_get()->quant;
    const int on = !m->use_mmap && Q->q4_0_r16 && Q->q8_0_r16 && !(env && strcmp(env, "0") == 0);
    r1c_tensor **order = on ? malloc(sizeof *order * (size_t)(m->n_bound ? m->n_bound : 1)) : NULL;
    if (on && !order) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_bound; i++) {
        r1c_tensor *t = &m->bound[i];
        if (t->packed == -1)
            t->packed = on && t->n_dims == 2 && r1c_quant_packable(t->dtype, t->shape[0], t->shape[1]) &&
                                (t->dtype != R1C_Q6_K || Q->q6_K_r16) && (t->dtype != R1C_Q4_K || Q->q4_K_r16) ? 1 : 0;
        if (order) order[i] = t;
    }
    if (!on) return R1C_OK;
    qsort(order, (size_t)m->n_bound, sizeof *order, by_data);
    for (int i = 0, j; i < m->n_bound; i = j) { /* runs of views of the same bytes */
        int all = 1;
        for (j = i; j < m->n_bound && order[j]->data == order[i]->data; j++) all &= order[j]->packed == 1;
        for (int v = i; v < j; v++) order[v]->packed = !all ? 0 : v == i ? 1 : 2; /* 2: packed by view i */
    }
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int i = 0; i < m->n_bound; i++) {
        r1c_tensor *t = &m->bound[i];
        if (t->packed != 1) continue;
        const uint64_t rb = r1c_dtype_row_bytes(t->dtype, (uint64_t)t->shape[1]);
        void *tmp = malloc(R1C_PACK_ROWS * rb);
        if (!tmp) {
            failed = 1;
            continue;
        }
        r1c_quant_pack_rows(t->dtype, (void *)t->data, t->shape[0], t->shape[1], tmp);
        free(tmp);
    }
    for (int i = 0; i < m->n_bound; i++)
        if (m->bound[i].packed == 2) m->bound[i].packed = 1;
    free(order);
    return failed ? r1c_error(R1C_ERR_NOMEM, "%s: out of memory while laying out the weights", m->dir) : R1C_OK;
}

r1c_status r1c_model_load(const char *dir, const r1c_load_params *params, r1c_model **out) {
    *out = NULL;
    if (!dir) return r1c_error(R1C_ERR_INVALID_ARG, "no model directory given");
    r1c_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    m->use_mmap = params ? params->use_mmap : 0;
    const int gguf = r1c_is_gguf_file(dir); /* one .gguf file: config, tokenizer and weights in it */
    struct stat sb;
    r1c_status st = stat(dir, &sb) != 0 ? r1c_error(R1C_ERR_IO, "%s: cannot open: %s", dir, strerror(errno))
                    : gguf             ? r1c_gguf_model_open(m, dir)
                    : S_ISDIR(sb.st_mode)
                        ? r1c_hf_config_load(dir, &m->cfg)
                        : r1c_error(R1C_ERR_FORMAT, "%s: neither a model directory nor a GGUF file", dir);
    if (st == R1C_OK && !gguf) st = r1c_hf_generation_config_load(dir, &m->cfg);
    if (st == R1C_OK) {
        for (size_t i = 0; i < sizeof g_archs / sizeof *g_archs; i++)
            if (strcmp(g_archs[i]->model_type, m->cfg.model_type) == 0) m->arch = g_archs[i];
        if (!m->arch)
            st = r1c_error(R1C_ERR_UNSUPPORTED,
                           "%s%s: model_type '%s' is not supported (qwen2, llama, deepseek_v2, deepseek_v3)", dir,
                           gguf ? "" : "/config.json", m->cfg.model_type);
    }
    if (st == R1C_OK && strcmp(m->cfg.hidden_act, "silu") != 0)
        st = r1c_error(R1C_ERR_UNSUPPORTED, "%s%s: hidden_act '%s' is not supported (silu)",
                       dir, gguf ? "" : "/config.json", m->cfg.hidden_act);
    if (st == R1C_OK && !gguf) {
        char *tj = r1c_path_join(dir, "tokenizer.json");
        if (tj && r1c_file_exists(tj)) st = r1c_tokenizer_load(dir, &m->tokenizer);
        free(tj);
    }
    if (st == R1C_OK && !gguf) st = r1c_st_open_dir(dir, m->use_mmap, &m->files);
    if (st == R1C_OK) {
        /* the binding table is sized up front so views handed out stay put */
        int cap = 16 + (16 + 3 * m->cfg.n_routed_experts) * (m->cfg.num_hidden_layers + m->cfg.num_nextn_predict_layers);
        m->bound = calloc((size_t)cap, sizeof *m->bound);
        m->cap_bound = m->bound ? cap : 0;
        st = m->bound ? m->arch->bind(m) : r1c_error(R1C_ERR_NOMEM, "out of memory");
        if (st == R1C_OK) st = pack_marked(m);
    }
    if (st == R1C_OK && params && params->lora_dir) st = r1c_lora_load(m, params->lora_dir, &m->lora);
    if (st != R1C_OK) {
        r1c_model_free(m);
        return st;
    }
    *out = m;
    return R1C_OK;
}

void r1c_model_free(r1c_model *m) {
    if (!m) return;
    r1c_lora_free(m->lora);
    if (m->arch && m->arch->free) m->arch->free(m);
    for (int i = 0; i < m->n_owned; i++) r1c_free(m->owned[i]);
    free(m->owned);
    free(m->bound);
    free(m->layers);
    r1c_st_close(&m->files);
    r1c_gguf_model_close(m);
    r1c_tokenizer_free(m->tokenizer);
    free(m->dir);
    free(m);
}

static const char *rope_name(int t) {
    return t == R1C_ROPE_LLAMA3 ? "llama3" : t == R1C_ROPE_LINEAR ? "linear" : "none";
}

void r1c_model_get_info(const r1c_model *m, r1c_model_info *info) {
    memset(info, 0, sizeof *info);
    const r1c_hf_config *c = &m->cfg;
    info->model_type = c->model_type;
    info->n_vocab = c->vocab_size;
    info->n_embd = c->hidden_size;
    info->n_layer = c->num_hidden_layers;
    info->n_head = c->num_attention_heads;
    info->n_head_kv = c->num_key_value_heads;
    info->head_dim = c->head_dim;
    info->n_ff = c->intermediate_size;
    info->max_position = c->max_position_embeddings;
    info->rope_theta = (float)c->rope_theta;
    info->rms_eps = (float)c->rms_norm_eps;
    info->rope_scaling = m->rope_factors ? "llama3 (GGUF rope_freqs)" : rope_name(c->rope_scaling.type);
    info->tied_embeddings = c->tie_word_embeddings;
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
    info->decode_bytes = m->decode_bytes;
    info->kv_bytes_per_token = (m->arch->kv_floats_per_token(m) + m->arch->v_floats_per_token(m)) * 4 * c->num_hidden_layers;
    info->bos_id = c->bos_token_id;
    info->n_eos = c->n_eos;
    for (int i = 0; i < c->n_eos && i < 8; i++) info->eos_ids[i] = c->eos_token_id[i];
    info->use_mmap = m->use_mmap;
    info->file_type = m->file_type;
    for (int i = 0; i < m->n_bound; i++) info->n_packed += m->bound[i].packed == 1;
    if (c->is_deepseek) {
        const int64_t L = c->num_hidden_layers, H = c->num_attention_heads;
        info->mla = 1;
        info->kv_lora_rank = c->kv_lora_rank;
        info->qk_rope_head_dim = c->qk_rope_head_dim;
        info->kv_bytes_per_token_bf16 = (int64_t)(c->kv_lora_rank + c->qk_rope_head_dim) * 2 * L;
        info->kv_bytes_expanded_bf16 = H * (c->qk_nope_head_dim + c->qk_rope_head_dim + c->v_head_dim) * 2 * L;
        info->n_experts = c->n_routed_experts;
        info->n_experts_used = c->num_experts_per_tok;
        info->n_shared_experts = c->n_shared_experts;
        info->n_mtp_layers = m->arch->free ? r1c_ds_mtp_layers(m) : 0;
        info->n_mtp_declared = c->num_nextn_predict_layers;
        info->fp8 = c->fp8_block[0] > 0;
    }
}

int r1c_model_n_vocab(const r1c_model *m) { return m->cfg.vocab_size; }

const r1c_tokenizer *r1c_model_tokenizer(const r1c_model *m) { return m->tokenizer; }

int r1c_model_is_eos(const r1c_model *m, int32_t id) {
    for (int i = 0; i < m->cfg.n_eos; i++)
        if (m->cfg.eos_token_id[i] == id) return 1;
    return 0;
}

int r1c_model_n_tensors(const r1c_model *m) { return m->n_bound; }

int r1c_model_tensor(const r1c_model *m, int i, const char **name, const char **dtype, int64_t shape[8]) {
    if (i < 0 || i >= m->n_bound) return -1;
    const r1c_tensor *t = &m->bound[i];
    if (name) *name = t->name;
    if (dtype) *dtype = r1c_dtype_name(t->dtype);
    if (shape)
        for (int d = 0; d < 8; d++) shape[d] = d < t->n_dims ? t->shape[d] : 0;
    return t->n_dims;
}
