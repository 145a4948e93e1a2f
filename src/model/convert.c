/* convert.c — `r1c convert` and `r1c quantize` (see convert.h).
 *
 * Hugging Face -> GGUF follows llama.cpp's convert_hf_to_gguf.py (the commit the golden files in
 * tests/data were made with, c392e50, February 2025) for Qwen2ForCausalLM (arch qwen2),
 * LlamaForCausalLM (llama) and DeepseekV2/V3ForCausalLM (deepseek2):
 *  - tensors in the converter's order: the safetensors files by name, each file's tensors by
 *    name; llama3 rope scaling first, as the F32 tensor rope_freqs.weight; experts stacked into
 *    blk.N.ffn_{down,gate,up}_exps.weight [E][F][D] where the layer's last expert arrives;
 *  - llama: rows of attn_q / attn_k (weights and biases) permuted per head for adjacent-pair RoPE;
 *  - FP8 (F8_E4M3 + weight_scale_inv blocks) dequantised as f32(q) * scale, as r1c runs them;
 *  - types: 1-D tensors, *_norm.weight, ffn_gate_inp (the router) and biases F32; the other
 *    weights --outtype (Q8_0 falls back to F16 for rows not a multiple of 32, as the converter);
 *  - deepseek2 is written as the converter wrote it before MLA absorption (llama.cpp PR #12801,
 *    April 2025): attention.key_length = qk_nope + qk_rope, value_length = v_head_dim,
 *    head_count_kv = num_key_value_heads and attn_kv_b.weight whole (no attn_k_b / attn_v_b), which
 *    is the layout r1c's GGUF reader loads. Multi-token-prediction layers are skipped (as the
 *    converter does); expert_group_count / expert_group_used_count are written (r1c routes with
 *    them; later converters write them too).
 *  - metadata in the converter's order and types; general.size_label from the parameter count;
 *    tokenizer.ggml.pre from tokenizer.json's pre_tokenizer (the converter hashes the tokenizer's
 *    output on a test text instead; see derive_pre); tokens padded to vocab_size with [PADn]
 *    (UNUSED), added tokens CONTROL when special (or looking special), else USER_DEFINED.
 *
 * GGUF -> Hugging Face inverts it: names un-translated, experts unstacked, llama q/k rows
 * un-permuted, llama3 rope_scaling recovered from rope_freqs (low 1 / high 4 assumed, as Llama 3.1;
 * checked by recomputing the factors), block formats dequantised, config.json from the metadata as
 * r1c reads it (r1c_gguf_read_config) and the tokenizer files r1c synthesises from tokenizer.ggml.*.
 *
 * quantize follows llama.cpp's src/llama-quant.cpp for F32 F16 BF16 Q8_0 Q4_0 Q4_K_S Q4_K_M Q6_K;
 * see recipe_type() for the rules and where r1c differs (it has no Q5_0 / Q5_K). */
#include "convert.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "../base/error.h"
#include "../base/file.h"
#include "../base/parallel.h"
#include "../io/gguf.h"
#include "../io/hf_config.h"
#include "../io/json.h"
#include "../io/safetensors.h"
#include "../tensor/quant.h"
#include "model.h"

#define CHUNK_BYTES (16u << 20) /* output bytes produced per parallel step */

/* ------------------------------------------------------------------ small helpers */

typedef struct cv_ctx {
    const r1c_convert_params *p;
    int nt; /* threads */
    r1c_convert_stats stats;
} cv_ctx;

static void say(const cv_ctx *c, const char *fmt, ...) R1C_PRINTF(2, 3);
static void say(const cv_ctx *c, const char *fmt, ...) {
    if (!c->p || !c->p->log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->p->log(c->p->log_user, line);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static const char *ggml_name(r1c_dtype t) {
    int g = r1c_gguf_ggml_type_of(t);
    const char *n = g >= 0 ? r1c_gguf_ggml_type_name((uint32_t)g) : NULL;
    return n ? n : r1c_dtype_name(t);
}

static const struct {
    const char *name;
    r1c_ftype t;
    r1c_dtype base;
} FTYPES[] = {
    {"F32", R1C_FTYPE_F32, R1C_F32},       {"F16", R1C_FTYPE_F16, R1C_F16},       {"BF16", R1C_FTYPE_BF16, R1C_BF16},
    {"Q8_0", R1C_FTYPE_Q8_0, R1C_Q8_0},    {"Q4_0", R1C_FTYPE_Q4_0, R1C_Q4_0},    {"Q4_K_S", R1C_FTYPE_Q4_K_S, R1C_Q4_K},
    {"Q4_K_M", R1C_FTYPE_Q4_K_M, R1C_Q4_K}, {"Q6_K", R1C_FTYPE_Q6_K, R1C_Q6_K},
};

int r1c_ftype_parse(const char *s, r1c_ftype *out) {
    for (size_t i = 0; i < sizeof FTYPES / sizeof *FTYPES; i++)
        if (!strcasecmp(s, FTYPES[i].name)) {
            *out = FTYPES[i].t;
            return 1;
        }
    return 0;
}

const char *r1c_ftype_name(r1c_ftype t) {
    for (size_t i = 0; i < sizeof FTYPES / sizeof *FTYPES; i++)
        if (FTYPES[i].t == t) return FTYPES[i].name;
    return "?";
}

static r1c_dtype ftype_base(r1c_ftype t) {
    for (size_t i = 0; i < sizeof FTYPES / sizeof *FTYPES; i++)
        if (FTYPES[i].t == t) return FTYPES[i].base;
    return R1C_DTYPE_COUNT;
}

/* ------------------------------------------------------------------ tensors and their rows */

/* One stored tensor (or one expert of a stacked one) a converted tensor reads rows from. */
typedef struct cv_part {
    const uint8_t *data;
    r1c_dtype dtype;       /* F32 F16 BF16, F8_E4M3 (with scale) or a block format */
    const uint8_t *scale;  /* F8_E4M3: [ceil(rows / br)][scale_cols] of scale_dtype */
    r1c_dtype scale_dtype;
    int64_t br, bc, scale_cols;
    uint64_t nbytes;       /* bytes read (scales included) */
} cv_part;

typedef struct cv_tensor {
    char *name;        /* output name (GGUF or Hugging Face) */
    int n_dims;
    int64_t ne[4];     /* ggml order: ne[0] = row length, unused dims 1 */
    int n_parts;       /* > 1: stacked experts, part p holds rows [p * rows / n_parts, ...) */
    cv_part *parts;
    int perm;          /* llama q/k: +H rows permuted Hugging Face -> GGUF (H heads), -H back */
    float *owned;      /* generated F32 data (rope_freqs) */
    r1c_dtype natural; /* the type a copy would keep (GGUF input) or F32 (Hugging Face input) */
    r1c_dtype out;     /* the type written */
    int layer;         /* N of blk.N. (-1 for others): llama.cpp's order and recipes */
} cv_tensor;

typedef struct cv_list {
    cv_tensor *t;
    int n, cap;
} cv_list;

static int64_t t_rows(const cv_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }
static int64_t t_numel(const cv_tensor *t) { return t->ne[0] * t_rows(t); }

static void list_free(cv_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->t[i].name);
        free(l->t[i].parts);
        free(l->t[i].owned);
    }
    free(l->t);
    memset(l, 0, sizeof *l);
}

/* appends a tensor (taking name, parts and owned) */
static r1c_status list_add(cv_list *l, cv_tensor *t) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        cv_tensor *n = realloc(l->t, sizeof *n * (size_t)cap);
        if (!n) {
            free(t->name), free(t->parts), free(t->owned);
            return r1c_error(R1C_ERR_NOMEM, "out of memory");
        }
        l->t = n, l->cap = cap;
    }
    int nl = -1;
    if (sscanf(t->name, "blk.%d.", &nl) != 1) nl = -1;
    t->layer = nl;
    l->t[l->n++] = *t;
    return R1C_OK;
}

static float scale_value(const cv_part *p, int64_t i) {
    const uint8_t *s = p->scale;
    switch (p->scale_dtype) {
    case R1C_F32: {
        float f;
        memcpy(&f, s + 4 * i, 4);
        return f;
    }
    case R1C_BF16: {
        uint16_t h;
        memcpy(&h, s + 2 * i, 2);
        return r1c_bf16_to_f32(h);
    }
    default: {
        uint16_t h;
        memcpy(&h, s + 2 * i, 2);
        return r1c_f16_to_f32(h);
    }
    }
}

/* row r (of cols elements) of a part, widened to f32 */
static void part_row(const cv_part *p, int64_t r, int64_t cols, float *dst) {
    if (p->dtype == R1C_F8_E4M3) {
        const uint8_t *q = p->data + (uint64_t)r * (uint64_t)cols;
        const int64_t srow = (r / p->br) * p->scale_cols;
        for (int64_t c0 = 0; c0 < cols; c0 += p->bc) {
            const float s = scale_value(p, srow + c0 / p->bc);
            const int64_t c1 = c0 + p->bc < cols ? c0 + p->bc : cols;
            for (int64_t c = c0; c < c1; c++) dst[c] = r1c_fp8_to_f32(q[c]) * s; /* as r1c runs FP8 weights */
        }
        return;
    }
    const uint64_t rb = r1c_dtype_row_bytes(p->dtype, (uint64_t)cols);
    const uint8_t *src = p->data + (uint64_t)r * rb;
    if (r1c_dtype_is_quant(p->dtype)) r1c_dequantize_row(p->dtype, src, dst, cols);
    else r1c_to_f32(p->dtype, src, dst, cols);
}

/* llama's q/k row permutation: the source row of row i of a [heads * hd] block */
static int64_t perm_src(int64_t i, int64_t n, int perm) {
    const int64_t H = perm > 0 ? perm : -perm, hd = n / H, half = hd / 2, h = i / hd, k = i % hd;
    if (perm > 0) return h * hd + (k % 2) * half + k / 2; /* GGUF row 2j+p <- HF row p*half + j */
    return h * hd + 2 * (k % half) + k / half;            /* HF row p*half + j <- GGUF row 2j+p */
}

/* row r of the tensor as f32 (tmp: cols floats of scratch for permuted 1-D tensors) */
static void fetch_row(const cv_tensor *t, int64_t r, float *dst, float *tmp) {
    const int64_t cols = t->ne[0];
    if (t->owned) {
        memcpy(dst, t->owned + r * cols, sizeof(float) * (size_t)cols);
        return;
    }
    const int64_t rpp = t_rows(t) / t->n_parts;
    int64_t p = r / rpp, rr = r % rpp;
    if (t->perm && t->n_dims >= 2) rr = perm_src(rr, rpp, t->perm);
    if (t->perm && t->n_dims == 1) { /* a bias: the same permutation of its elements */
        part_row(&t->parts[p], rr, cols, tmp);
        for (int64_t i = 0; i < cols; i++) dst[i] = tmp[perm_src(i, cols, t->perm)];
        return;
    }
    part_row(&t->parts[p], rr, cols, dst);
}

/* ------------------------------------------------------------------ Q4_K / Q6_K, several sub-blocks at once
 *
 * llama.cpp's reference K-quant quantisers (quantize_row_q4_K_ref / q6_K_ref, which r1c_quantize_row
 * implements) search each sub-block's scale with many sequential float sums: scalar code, ~60 ns
 * per weight for Q4_K. Here the same computation runs with one sub-block per vector lane (8 lanes
 * with AVX2, 16 with AVX-512: Q4_K's sub-blocks of 32 of one or two blocks, Q6_K's 16 sub-blocks of
 * 16 in two steps or one; convert_kquant.inc, ~6x and ~4x faster). Every lane performs exactly the
 * reference's float operations in the reference's order (no reassociation, no contraction: the
 * build has -ffp-contract=off), and its branches become per-lane selects, so the bytes are those of
 * r1c_quantize_row (test_convert checks it on random and adversarial blocks). */

#if defined(__x86_64__) && defined(__GNUC__)
#define FASTQ 1 /* x86-64 with AVX-512 or AVX2 (checked at run time); elsewhere r1c_quantize_row */

/* scalar tails of the reference quantisers (per block, cheap) */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

static inline int nearest1(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* the rest of quantize_row_q4_K_ref for one block, given its sub-blocks' scales, mins and L */
static void q4_K_finish(const float *x, r1c_block_q4_K *y, const float *scales, const float *mins, uint8_t *L) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    memset(y, 0, sizeof *y);
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
        uint8_t ls = (uint8_t)nearest1(inv_scale * scales[j]), lm = (uint8_t)nearest1(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            y->scales[j] = ls;
            y->scales[j + 4] = lm;
        } else {
            y->scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            y->scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            y->scales[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    y->d = r1c_f32_to_f16(max_scale / 63.f);
    y->dmin = r1c_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, y->scales, &sc, &m);
        const float d = r1c_f16_to_f32(y->d) * sc;
        if (!d) continue;
        const float dm = r1c_f16_to_f32(y->dmin) * m;
        for (int i = 0; i < 32; ++i) {
            int l = nearest1((x[32 * j + i] + dm) / d);
            L[32 * j + i] = (uint8_t)(l < 0 ? 0 : l > 15 ? 15 : l);
        }
    }
    uint8_t *q = y->qs;
    for (int j = 0; j < R1C_QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

/* the rest of quantize_row_q6_K_ref for one block, given its sub-blocks' scales and L */
static void q6_K_finish(const float *x, r1c_block_q6_K *y, const float *scales, int8_t *L) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        const float a = fabsf(scales[ib]);
        if (a > max_abs_scale) {
            max_abs_scale = a;
            max_scale = scales[ib];
        }
    }
    memset(y, 0, sizeof *y);
    if (max_abs_scale < 1e-15f) {
        y->d = r1c_f32_to_f16(0.f);
        return;
    }
    const float iscale = -128.f / max_scale;
    y->d = r1c_f32_to_f16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib) {
        const int v = nearest1(iscale * scales[ib]);
        y->scales[ib] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < 16; ++j) {
        const float d = r1c_f16_to_f32(y->d) * y->scales[j];
        if (!d) continue;
        for (int i = 0; i < 16; ++i) {
            int l = nearest1(x[16 * j + i] / d);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            L[16 * j + i] = (int8_t)(l + 32);
        }
    }
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < R1C_QK_K; j += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
}

/* per-function targets: GCC's push_options / target pragmas; clang's attribute pragma */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi" /* static and inlined: no vector crosses an ABI boundary */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#define KQ_NL 8
#define KQ_SFX avx2
#include "convert_kquant.inc"
#undef KQ_NL
#undef KQ_SFX
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2")
#endif
#define KQ_NL 16
#define KQ_SFX avx512
#include "convert_kquant.inc"
#undef KQ_NL
#undef KQ_SFX
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#pragma GCC diagnostic pop
#endif

void r1c_convert_quantize_row_isa(int isa, r1c_dtype t, const float *src, void *dst, int64_t n) {
#ifdef FASTQ
    if (isa == 2 && (t == R1C_Q4_K || t == R1C_Q6_K)) {
        fast_rows_avx512(t, src, dst, n);
        return;
    }
    if (isa == 1 && (t == R1C_Q4_K || t == R1C_Q6_K)) {
        fast_rows_avx2(t, src, dst, n);
        return;
    }
#endif
    r1c_quantize_row(t, src, dst, n);
}

int r1c_convert_quant_isa(void) {
#ifdef FASTQ
    static int isa = -1; /* (a benign race: every thread stores the same) */
    if (isa < 0)
        isa = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl")
                  ? 2
              : __builtin_cpu_supports("avx2") ? 1
                                               : 0;
    return isa;
#else
    return 0;
#endif
}

void r1c_convert_quantize_row(r1c_dtype t, const float *src, void *dst, int64_t n) {
    r1c_convert_quantize_row_isa(r1c_convert_quant_isa(), t, src, dst, n);
}

static void encode_row(r1c_dtype out, const float *src, uint8_t *dst, int64_t cols) {
    switch (out) {
    case R1C_F32: memcpy(dst, src, sizeof(float) * (size_t)cols); break;
    case R1C_F16:
        for (int64_t i = 0; i < cols; i++) {
            uint16_t h = r1c_f32_to_f16(src[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
        break;
    case R1C_BF16:
        for (int64_t i = 0; i < cols; i++) {
            uint16_t h = r1c_f32_to_bf16(src[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
        break;
    default: r1c_convert_quantize_row(out, src, dst, cols); break;
    }
}

/* the tensor's bytes are its parts' bytes as stored */
static int is_copy(const cv_tensor *t) {
    if (t->owned || t->perm) return 0;
    for (int p = 0; p < t->n_parts; p++)
        if (t->parts[p].dtype != t->out) return 0;
    return 1;
}

/* rows [r0, r0 + n) in the output type into dst; 0 on out of memory */
static int produce_rows(const cv_tensor *t, int64_t r0, int64_t n, uint8_t *dst, int nt) {
    const int64_t cols = t->ne[0];
    const uint64_t rb = r1c_dtype_row_bytes(t->out, (uint64_t)cols);
    if (is_copy(t)) {
        const int64_t rpp = t_rows(t) / t->n_parts;
        for (int64_t r = r0; r < r0 + n;) { /* runs of rows within one part */
            const int64_t p = r / rpp, rr = r % rpp, k = rpp - rr < r0 + n - r ? rpp - rr : r0 + n - r;
            memcpy(dst + (uint64_t)(r - r0) * rb, t->parts[p].data + (uint64_t)rr * rb, (size_t)((uint64_t)k * rb));
            r += k;
        }
        return 1;
    }
    int ok = 1;
#pragma omp parallel num_threads(n > 1 ? nt : 1)
    {
        float *row = malloc(sizeof(float) * 2 * (size_t)cols);
        if (!row) {
#pragma omp atomic write
            ok = 0;
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < n; i++) {
            if (!row) continue;
            fetch_row(t, r0 + i, row, row + cols);
            encode_row(t->out, row, dst + (uint64_t)i * rb, cols);
        }
        free(row);
    }
    return ok;
}

static uint64_t t_in_bytes(const cv_tensor *t) {
    if (t->owned) return sizeof(float) * (uint64_t)t_numel(t);
    uint64_t b = 0;
    for (int p = 0; p < t->n_parts; p++) b += t->parts[p].nbytes;
    return b;
}

/* "[4096, 151936]" (ggml order) */
static void shape_str(const cv_tensor *t, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "[");
    for (int d = 0; d < t->n_dims && k > 0 && (size_t)k < cap; d++)
        k += snprintf(buf + k, cap - (size_t)k, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (k > 0 && (size_t)k < cap) snprintf(buf + k, cap - (size_t)k, "]");
}

/* ------------------------------------------------------------------ llama.cpp's quantization recipe */

int r1c_quant_use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

enum { CAT_TOKEN_EMBD, CAT_ATTN_Q, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_QKV, CAT_ATTN_KV_B, CAT_ATTN_OUTPUT, CAT_FFN_UP,
       CAT_FFN_GATE, CAT_FFN_DOWN, CAT_OUTPUT, CAT_OTHER };

static int category(const char *n) {
    if (!strcmp(n, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(n, "token_embd.weight")) return CAT_TOKEN_EMBD;
    if (strstr(n, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(n, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (strstr(n, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(n, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(n, "attn_q.weight")) return CAT_ATTN_Q;
    if (strstr(n, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (strstr(n, "ffn_up")) return CAT_FFN_UP;
    if (strstr(n, "ffn_gate")) return CAT_FFN_GATE;
    if (strstr(n, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}
static int is_attn_v(int cat) { return cat == CAT_ATTN_V || cat == CAT_ATTN_QKV || cat == CAT_ATTN_KV_B; }

/* ggml_n_dims: trailing dimensions of 1 do not count */
static int real_dims(int n_dims, const int64_t *ne) {
    int d = n_dims;
    while (d > 1 && ne[d - 1] == 1) d--;
    return d;
}

/* llama.cpp's tensor_allows_quantization (the parts that can apply to these architectures) */
static int allows_quantization(const char *name, int n_dims, const int64_t *ne) {
    if (real_dims(n_dims, ne) < 2) return 0;
    if (!ends_with(name, "weight")) return 0;
    if (strstr(name, "_norm.weight")) return 0;
    if (strstr(name, "ffn_gate_inp.weight")) return 0;
    return 1;
}

typedef struct recipe_state {
    int n_attention_wv, i_attention_wv, i_ffn_down, n_layer, tied, n_fallback;
} recipe_state;

/* r1c has no Q5_K: where llama.cpp picks it, r1c takes Q6_K (more bits, never fewer) */
#define Q5_K_SUBST R1C_Q6_K

/* llama_tensor_get_type_impl for the file types r1c writes, then tensor_type_fallback */
static r1c_dtype recipe_type(recipe_state *qs, const r1c_quant_model *m, r1c_ftype ft, const r1c_quant_tensor *t) {
    r1c_dtype nt = ftype_base(ft);
    const int cat = category(t->name), n_expert = m->n_expert > 1 ? m->n_expert : 1;
    const int is_70b = !strcmp(m->arch, "llama") && m->n_layer == 80 && m->n_head != m->n_head_kv;
    if (cat == CAT_OUTPUT || (qs->tied && cat == CAT_TOKEN_EMBD)) {
        if (t->ne[0] % r1c_dtype_block(nt) != 0) nt = R1C_Q8_0;
        else if (nt != R1C_Q8_0) nt = R1C_Q6_K;
    } else if (cat == CAT_TOKEN_EMBD) {
        /* the base type for every file type here */
    } else if (is_attn_v(cat)) {
        if (ft == R1C_FTYPE_Q4_K_M && r1c_quant_use_more_bits(qs->i_attention_wv, qs->n_attention_wv)) nt = R1C_Q6_K;
        else if (ft == R1C_FTYPE_Q4_K_S && qs->i_attention_wv < 4) nt = Q5_K_SUBST;
        if (is_70b && nt == R1C_Q4_K) nt = Q5_K_SUBST; /* 8 heads share attn_v */
        if (n_expert == 8) nt = R1C_Q8_0;
        qs->i_attention_wv++;
    } else if (cat == CAT_ATTN_K) {
        if (n_expert == 8) nt = R1C_Q8_0;
    } else if (cat == CAT_FFN_DOWN) {
        int i_layer = qs->i_ffn_down, n_layer = qs->n_layer;
        if (n_expert > 1) { /* experts: the layer from the name */
            int l;
            if (sscanf(t->name, "blk.%d.", &l) == 1) i_layer = l;
        }
        if (ft == R1C_FTYPE_Q4_K_M && r1c_quant_use_more_bits(i_layer, n_layer)) nt = R1C_Q6_K;
        else if (ft == R1C_FTYPE_Q4_K_S && i_layer < n_layer / 8) nt = Q5_K_SUBST;
        qs->i_ffn_down++;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (n_expert == 8 && (ft == R1C_FTYPE_Q4_K_S || ft == R1C_FTYPE_Q4_K_M)) nt = Q5_K_SUBST;
    }
    /* fallback for rows that do not fit the block: llama.cpp takes Q4_K -> Q5_0 and Q6_K -> Q8_0;
     * r1c has no Q5_0 and takes Q8_0 for both. llama.cpp refuses such a row for Q4_0 / Q8_0
     * (no fallback defined); r1c takes F16, as llama.cpp does when the fallback does not fit. */
    if (t->ne[0] % r1c_dtype_block(nt) != 0) {
        qs->n_fallback++;
        nt = (nt == R1C_Q4_K || nt == R1C_Q6_K) ? R1C_Q8_0 : R1C_F16;
        if (t->ne[0] % r1c_dtype_block(nt) != 0) nt = R1C_F16;
    }
    return nt;
}

/* llama.cpp's order: by layer (blk.N; other tensors first), then by name */
static int order_cmp(const char *a, const char *b) {
    int la = -1, lb = -1;
    if (sscanf(a, "blk.%d.", &la) != 1) la = -1;
    if (sscanf(b, "blk.%d.", &lb) != 1) lb = -1;
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static int cmp_qt_index(const void *a, const void *b, void *t) {
    const r1c_quant_tensor *q = t;
    return order_cmp(q[*(const int *)a].name, q[*(const int *)b].name);
}

int r1c_quant_recipe(r1c_ftype type, const r1c_quant_model *m, r1c_quant_tensor *t, int n) {
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!idx) return -1;
    for (int i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_qt_index, t);
    recipe_state qs = {0};
    qs.n_layer = m->n_layer;
    qs.tied = 1;
    for (int i = 0; i < n; i++) {
        const int cat = category(t[i].name);
        if (is_attn_v(cat)) qs.n_attention_wv++;
        if (cat == CAT_OUTPUT) qs.tied = 0;
    }
    const r1c_dtype base = ftype_base(type);
    for (int k = 0; k < n; k++) {
        r1c_quant_tensor *q = &t[idx[k]];
        if (!allows_quantization(q->name, q->n_dims, q->ne)) continue; /* keeps its type */
        q->type = r1c_dtype_is_quant(base) ? recipe_type(&qs, m, type, q) : base;
    }
    free(idx);
    return qs.n_fallback;
}

/* ------------------------------------------------------------------ JSON helpers */

static r1c_status read_json(const char *path, size_t max, cJSON **out) {
    char *text;
    size_t len;
    *out = NULL;
    r1c_status st = r1c_read_small_file(path, max, &text, &len);
    if (st != R1C_OK) return st;
    *out = r1c_json_parse(text, len);
    free(text);
    if (!*out) return r1c_error(R1C_ERR_FORMAT, "%s: not valid JSON", path);
    return R1C_OK;
}

static const cJSON *jget(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
}
static int jnum(const cJSON *o, const char *k, double *v) {
    const cJSON *x = jget(o, k);
    if (!x) return 0;
    if (cJSON_IsBool(x)) { /* Python: True is 1 */
        *v = cJSON_IsTrue(x);
        return 1;
    }
    if (!cJSON_IsNumber(x)) return 0;
    *v = x->valuedouble;
    return 1;
}
static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *x = jget(o, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* ------------------------------------------------------------------ writing metadata */

typedef struct meta_w {
    r1c_gguf_writer *w;
    const char *arch;
    r1c_status st;
} meta_w;

static void m_u32(meta_w *m, const char *suffix, uint32_t v) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", m->arch, suffix);
    if (m->st == R1C_OK) m->st = r1c_gguf_add_u32(m->w, k, v);
}
static void m_f32(meta_w *m, const char *suffix, float v) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", m->arch, suffix);
    if (m->st == R1C_OK) m->st = r1c_gguf_add_f32(m->w, k, v);
}
static void m_bool(meta_w *m, const char *suffix, int v) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", m->arch, suffix);
    if (m->st == R1C_OK) m->st = r1c_gguf_add_bool(m->w, k, v);
}
static void m_str(meta_w *m, const char *key, const char *v) {
    if (m->st == R1C_OK) m->st = r1c_gguf_add_str(m->w, key, v);
}

/* gguf-py's model_weight_count_rounded_notation (min_digits 2) */
static void rounded_notation(uint64_t n, char *buf, size_t cap) {
    double x;
    const char *suf;
    if ((double)n > 1e12) x = (double)n * 1e-12, suf = "T";
    else if ((double)n > 1e9) x = (double)n * 1e-9, suf = "B";
    else if ((double)n > 1e6) x = (double)n * 1e-6, suf = "M";
    else x = (double)n * 1e-3, suf = "K";
    char digits[64];
    snprintf(digits, sizeof digits, "%.0f", nearbyint(x)); /* Python's round(): ties to even */
    const char *d = digits;
    while (*d == '0') d++;
    int fix = 2 - (int)strlen(d);
    if (fix < 0) fix = 0;
    snprintf(buf, cap, "%.*f%s", fix, x, suf);
}

/* gguf-py's size_label from the tensors written (experts: "<E>x<per-expert model>") */
static void size_label(const cv_list *l, char *buf, size_t cap) {
    uint64_t total = 0, shared = 0, expert = 0, esum = 0, n_exp = 0;
    for (int i = 0; i < l->n; i++) {
        const cv_tensor *t = &l->t[i];
        const uint64_t size = (uint64_t)t_numel(t);
        if (strstr(t->name, "_exps.") && t->n_dims >= 3) {
            const uint64_t e = (uint64_t)t->ne[2];
            expert += size / e, esum += e, n_exp++;
        } else {
            shared += size;
        }
        total += size;
    }
    const uint64_t ec = n_exp ? esum / n_exp : 0;
    if (ec) {
        char r[48];
        rounded_notation(shared + expert, r, sizeof r);
        snprintf(buf, cap, "%llux%s", (unsigned long long)ec, r);
    } else {
        rounded_notation(total, buf, cap);
    }
}

/* ------------------------------------------------------------------ Hugging Face input */

typedef struct hf_src {
    char *dir;
    cJSON *config, *tok, *tok_cfg; /* tok / tok_cfg NULL when absent */
    r1c_hf_config cfg;
    r1c_st_set st;
    const char *arch; /* "qwen2", "llama", "deepseek2" */
    cv_list list;
} hf_src;

static void hf_free(hf_src *s) {
    free(s->dir);
    cJSON_Delete(s->config);
    cJSON_Delete(s->tok);
    cJSON_Delete(s->tok_cfg);
    r1c_st_close(&s->st);
    list_free(&s->list);
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* llama3 rope scaling as the converter computes it (LlamaModel.generate_extra_tensors): float32
 * torch arithmetic, the original length from the top-level original_max_position_embeddings */
static void llama3_factors(double base, int dim, double factor, double lo, double hi, double orig, float *out) {
    const float lw = (float)(orig / lo), hw = (float)(orig / hi);
    for (int j = 0; j < dim / 2; j++) {
        const float e = (float)(2 * j) / (float)dim;
        const float freq = 1.0f / powf((float)base, e);
        const float wavelen = (1.0f / freq) * (float)(2 * M_PI); /* torch: scalar / t = t.reciprocal() * scalar */
        if (wavelen < hw) out[j] = 1.0f;
        else if (wavelen > lw) out[j] = (float)factor;
        else {
            const float smooth = ((1.0f / wavelen) * (float)orig - (float)lo) / (float)(hi - lo);
            out[j] = 1.0f / ((1.0f - smooth) / (float)factor + smooth);
        }
    }
}

/* one tensor of the checkpoint as a part (FP8: with its scale grid) */
static r1c_status hf_part(hf_src *s, const char *name, cv_part *p, int64_t shape[2], int *n_dims) {
    r1c_tensor v;
    const char *file;
    if (!r1c_st_find(&s->st, name, &v, &file)) return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' is missing", s->dir, name);
    if (v.n_dims < 1 || v.n_dims > 2)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (1 or 2 expected)", file, name, v.n_dims);
    if (!r1c_dtype_is_float_weight(v.dtype) && v.dtype != R1C_F8_E4M3)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, F16, BF16, F8_E4M3 supported)", file, name,
                         r1c_dtype_name(v.dtype));
    memset(p, 0, sizeof *p);
    p->data = v.data;
    p->dtype = v.dtype;
    p->nbytes = v.nbytes;
    *n_dims = v.n_dims;
    shape[0] = v.shape[0], shape[1] = v.n_dims == 2 ? v.shape[1] : 1;
    if (v.dtype == R1C_F8_E4M3) {
        char sname[512];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        r1c_tensor sv;
        const char *sfile;
        if (v.n_dims != 2) return r1c_error(R1C_ERR_UNSUPPORTED, "%s: F8_E4M3 tensor '%s' is not a matrix", file, name);
        if (!r1c_st_find(&s->st, sname, &sv, &sfile))
            return r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' is F8_E4M3 but its scale '%s' is missing", file, name, sname);
        p->br = s->cfg.fp8_block[0] ? s->cfg.fp8_block[0] : 128;
        p->bc = s->cfg.fp8_block[1] ? s->cfg.fp8_block[1] : 128;
        const int64_t want0 = (shape[0] + p->br - 1) / p->br, want1 = (shape[1] + p->bc - 1) / p->bc;
        if (sv.n_dims != 2 || sv.shape[0] != want0 || sv.shape[1] != want1 || !r1c_dtype_is_float_weight(sv.dtype))
            return r1c_error(R1C_ERR_FORMAT, "%s: scale '%s' must be F32/BF16/F16 [%lld, %lld] for %lldx%lld blocks", sfile, sname,
                             (long long)want0, (long long)want1, (long long)p->br, (long long)p->bc);
        p->scale = sv.data;
        p->scale_dtype = sv.dtype;
        p->scale_cols = want1;
        p->nbytes += sv.nbytes;
    }
    return R1C_OK;
}

typedef struct pending_layer {
    cv_part *parts; /* [3][E]: down, gate, up */
    int64_t shape[3][2];
    int have[3];
    int count;
    char **names; /* [3][E] source names (for messages) */
} pending_layer;

static const char *const PROJ[3] = {"down", "gate", "up"}; /* the converter stacks in this order */

static r1c_status hf_add_simple(hf_src *s, const char *hf, const char *gname) {
    cv_tensor t = {0};
    int64_t shape[2];
    int nd;
    t.parts = calloc(1, sizeof *t.parts);
    if (!t.parts) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = hf_part(s, hf, t.parts, shape, &nd);
    if (st != R1C_OK) {
        free(t.parts);
        return st;
    }
    t.n_parts = 1;
    t.n_dims = nd;
    t.ne[0] = nd == 2 ? shape[1] : shape[0];
    t.ne[1] = nd == 2 ? shape[0] : 1;
    t.ne[2] = t.ne[3] = 1;
    t.natural = R1C_F32;
    if (!strcmp(s->arch, "llama")) { /* the converter's LlamaModel.permute */
        const int H = s->cfg.num_attention_heads, KVH = s->cfg.num_key_value_heads;
        if (ends_with(gname, ".attn_q.weight") || ends_with(gname, ".attn_q.bias")) t.perm = H;
        if (ends_with(gname, ".attn_k.weight") || ends_with(gname, ".attn_k.bias")) t.perm = KVH;
        const int64_t rows = nd == 2 ? t.ne[1] : t.ne[0];
        if (t.perm && (rows % t.perm || (rows / t.perm) % 2)) {
            free(t.parts);
            return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' has %lld rows, not heads x an even head size (%d heads)", s->dir, hf,
                             (long long)rows, t.perm);
        }
    }
    if (!(t.name = xstrdup(gname))) {
        free(t.parts);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    return list_add(&s->list, &t);
}

static r1c_status hf_tensors(hf_src *s, const cv_ctx *c) {
    r1c_status st = R1C_OK;
    const r1c_hf_config *cfg = &s->cfg;
    /* llama3 rope scaling -> rope_freqs.weight, first (the converter's generate_extra_tensors) */
    const cJSON *rs = jget(s->config, "rope_scaling");
    const char *rtype = rs ? jstr(rs, "rope_type") : NULL;
    if (!rtype && rs) rtype = jstr(rs, "type");
    if (!strcmp(s->arch, "llama") && rtype && !strcasecmp(rtype, "llama3")) {
        double base = 10000, factor = 8, lo = 1, hi = 4, orig = 8192, ro;
        jnum(s->config, "rope_theta", &base);
        jnum(rs, "factor", &factor);
        jnum(rs, "low_freq_factor", &lo);
        jnum(rs, "high_freq_factor", &hi);
        jnum(s->config, "original_max_position_embeddings", &orig);
        if (jnum(rs, "original_max_position_embeddings", &ro) && ro != orig)
            say(c, "warning: rope_freqs uses the top-level original_max_position_embeddings %g (as llama.cpp's converter), "
                   "not rope_scaling's %g", orig, ro);
        cv_tensor t = {0};
        const int dim = cfg->head_dim;
        t.name = xstrdup("rope_freqs.weight");
        t.owned = malloc(sizeof(float) * (size_t)(dim / 2));
        if (!t.name || !t.owned) {
            free(t.name), free(t.owned);
            return r1c_error(R1C_ERR_NOMEM, "out of memory");
        }
        llama3_factors(base, dim, factor, lo, hi, orig, t.owned);
        t.n_dims = 1, t.ne[0] = dim / 2, t.ne[1] = t.ne[2] = t.ne[3] = 1, t.n_parts = 0, t.natural = R1C_F32;
        if ((st = list_add(&s->list, &t)) != R1C_OK) return st;
    }
    /* the files by name, each file's tensors by name */
    const int nf = s->st.n_files;
    int *forder = malloc(sizeof(int) * (size_t)(nf ? nf : 1));
    if (!forder) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int i = 0; i < nf; i++) forder[i] = i;
    for (int i = 1; i < nf; i++) /* insertion sort by path */
        for (int j = i; j > 0 && strcmp(s->st.files[forder[j - 1]].path, s->st.files[forder[j]].path) > 0; j--) {
            int x = forder[j];
            forder[j] = forder[j - 1], forder[j - 1] = x;
        }
    const int L = cfg->num_hidden_layers, E = cfg->n_routed_experts;
    pending_layer *pend = E ? calloc((size_t)L, sizeof *pend) : NULL;
    if (E && !pend) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    for (int fi = 0; st == R1C_OK && fi < nf; fi++) {
        const r1c_st_file *f = &s->st.files[forder[fi]];
        const char **names = malloc(sizeof(char *) * (size_t)(f->hdr.n ? f->hdr.n : 1));
        if (!names) {
            st = r1c_error(R1C_ERR_NOMEM, "out of memory");
            break;
        }
        for (int i = 0; i < f->hdr.n; i++) names[i] = f->hdr.entries[i].name;
        qsort(names, (size_t)f->hdr.n, sizeof *names, cmp_str_ptr);
        for (int i = 0; st == R1C_OK && i < f->hdr.n; i++) {
            const char *name = names[i];
            if (ends_with(name, "_scale_inv") || strstr(name, "rotary_emb.inv_freq")) continue; /* scales: read with their weight */
            int layer = -1, n = 0;
            if (sscanf(name, "model.layers.%d.%n", &layer, &n) == 1 && n > 0 && layer >= L) continue; /* MTP layers */
            char gname[256];
            int expert;
            if (!r1c_gguf_name_from_hf(name, gname, sizeof gname, &expert)) {
                st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has no GGUF name (architecture %s)", f->path, name, s->arch);
                break;
            }
            if (expert < 0) {
                st = hf_add_simple(s, name, gname);
                continue;
            }
            /* one expert's matrix: gathered until the layer has all 3 x E */
            int proj = ends_with(gname, "ffn_down_exps.weight") ? 0 : ends_with(gname, "ffn_gate_exps.weight") ? 1 : 2;
            if (!E || expert >= E || layer < 0) {
                st = r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': expert %d is outside n_routed_experts = %d", f->path, name, expert, E);
                break;
            }
            pending_layer *pl = &pend[layer];
            if (!pl->parts) {
                pl->parts = calloc((size_t)(3 * E), sizeof *pl->parts);
                pl->names = calloc((size_t)(3 * E), sizeof *pl->names);
                if (!pl->parts || !pl->names) {
                    st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                    break;
                }
            }
            cv_part *p = &pl->parts[proj * E + expert];
            if (pl->names[proj * E + expert]) {
                st = r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, name);
                break;
            }
            int64_t shape[2];
            int nd;
            if ((st = hf_part(s, name, p, shape, &nd)) != R1C_OK) break;
            if (nd != 2) {
                st = r1c_error(R1C_ERR_FORMAT, "%s: expert tensor '%s' is not a matrix", f->path, name);
                break;
            }
            if (pl->have[proj] && (pl->shape[proj][0] != shape[0] || pl->shape[proj][1] != shape[1])) {
                st = r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld], other experts [%lld, %lld]", f->path, name,
                               (long long)shape[0], (long long)shape[1], (long long)pl->shape[proj][0], (long long)pl->shape[proj][1]);
                break;
            }
            pl->have[proj] = 1;
            pl->shape[proj][0] = shape[0], pl->shape[proj][1] = shape[1];
            pl->names[proj * E + expert] = (char *)name;
            if (++pl->count < 3 * E) continue;
            for (int k = 0; st == R1C_OK && k < 3; k++) { /* the layer is complete: stack */
                cv_tensor t = {0};
                char sn[128];
                snprintf(sn, sizeof sn, "blk.%d.ffn_%s_exps.weight", layer, PROJ[k]);
                t.name = xstrdup(sn);
                t.parts = malloc(sizeof *t.parts * (size_t)E);
                if (!t.name || !t.parts) {
                    free(t.name), free(t.parts);
                    st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                    break;
                }
                memcpy(t.parts, pl->parts + k * E, sizeof *t.parts * (size_t)E);
                t.n_parts = E, t.n_dims = 3;
                t.ne[0] = pl->shape[k][1], t.ne[1] = pl->shape[k][0], t.ne[2] = E, t.ne[3] = 1;
                t.natural = R1C_F32;
                st = list_add(&s->list, &t);
            }
            free(pl->parts), free(pl->names);
            pl->parts = NULL, pl->names = NULL;
            pl->count = -1000000; /* done */
        }
        free(names);
    }
    for (int l = 0; pend && l < L; l++) {
        if (st == R1C_OK && pend[l].count > 0)
            st = r1c_error(R1C_ERR_MISSING, "%s: layer %d has %d of its %d expert matrices", s->dir, l, pend[l].count, 3 * E);
        free(pend[l].parts), free(pend[l].names);
    }
    free(pend);
    free(forder);
    if (st == R1C_OK && s->list.n == 0) st = r1c_error(R1C_ERR_MISSING, "%s: no tensors", s->dir);
    return st;
}

static r1c_status hf_open(hf_src *s, const char *dir, const cv_ctx *c) {
    memset(s, 0, sizeof *s);
    struct stat sb;
    if (stat(dir, &sb) != 0) return r1c_error(R1C_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return r1c_error(R1C_ERR_FORMAT, "%s: neither a model directory nor a GGUF file", dir);
    if (!(s->dir = xstrdup(dir))) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = r1c_hf_config_load(dir, &s->cfg);
    if (st != R1C_OK) return st;
    char *path = r1c_path_join(dir, "config.json");
    if (!path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    st = read_json(path, 16u << 20, &s->config);
    if (st == R1C_OK) {
        const cJSON *a = jget(s->config, "architectures");
        const char *arch = cJSON_IsArray(a) && cJSON_IsString(cJSON_GetArrayItem(a, 0)) ? cJSON_GetArrayItem(a, 0)->valuestring : "";
        if (!strcmp(arch, "Qwen2ForCausalLM")) s->arch = "qwen2";
        else if (!strcmp(arch, "LlamaForCausalLM")) s->arch = "llama";
        else if (!strcmp(arch, "DeepseekV2ForCausalLM") || !strcmp(arch, "DeepseekV3ForCausalLM")) s->arch = "deepseek2";
        else
            st = r1c_error(R1C_ERR_UNSUPPORTED,
                           "%s: architecture '%s' is not supported (Qwen2ForCausalLM, LlamaForCausalLM, DeepseekV2ForCausalLM, "
                           "DeepseekV3ForCausalLM)", path, arch);
    }
    free(path);
    if (st != R1C_OK) return st;
    if (!strcmp(s->arch, "deepseek2") && !s->cfg.is_deepseek)
        return r1c_error(R1C_ERR_FORMAT, "%s/config.json: a DeepSeek architecture needs model_type deepseek_v2 or deepseek_v3", dir);
    /* tokenizer (optional: without it the file has no tokenizer.ggml.* keys) */
    char *tj = r1c_path_join(dir, "tokenizer.json"), *tc = r1c_path_join(dir, "tokenizer_config.json");
    if (!tj || !tc) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st == R1C_OK && r1c_file_exists(tj)) st = read_json(tj, 1u << 30, &s->tok);
    if (st == R1C_OK && s->tok && r1c_file_exists(tc)) st = read_json(tc, 64u << 20, &s->tok_cfg);
    free(tj), free(tc);
    if (st != R1C_OK) return st;
    if (!s->tok) say(c, "warning: %s has no tokenizer.json: the GGUF file gets no tokenizer", dir);
    if ((st = r1c_st_open_dir(dir, 1, &s->st)) != R1C_OK) return st;
    return hf_tensors(s, c);
}

/* --- the tokenizer: tokenizer.ggml.* as the converter's _set_vocab_gpt2 + SpecialVocab write them */

/* the list of Split regexes of a pre_tokenizer and whether it ends in a regex-using ByteLevel */
typedef struct pretok_sig {
    const char *re[8];
    int n_re, bytelevel_regex, ok;
} pretok_sig;

static void pretok_walk(const cJSON *p, pretok_sig *s) {
    const char *type = jstr(p, "type");
    if (!type) {
        s->ok = 0;
        return;
    }
    if (!strcmp(type, "Sequence")) {
        const cJSON *x;
        cJSON_ArrayForEach(x, jget(p, "pretokenizers")) pretok_walk(x, s);
    } else if (!strcmp(type, "Split")) {
        const char *re = jstr(jget(p, "pattern"), "Regex");
        if (!re || s->n_re == 8) s->ok = 0;
        else s->re[s->n_re++] = re;
    } else if (!strcmp(type, "ByteLevel")) {
        const cJSON *u = jget(p, "use_regex");
        s->bytelevel_regex = !u || cJSON_IsTrue(u);
    } else {
        s->ok = 0; /* Digits, Metaspace, ...: not a tokenizer r1c's names cover */
    }
}

static int pretok_same(const cJSON *a, const cJSON *b) {
    pretok_sig x = {.ok = 1}, y = {.ok = 1};
    pretok_walk(a, &x);
    pretok_walk(b, &y);
    if (!x.ok || !y.ok || x.n_re != y.n_re || x.bytelevel_regex != y.bytelevel_regex) return 0;
    for (int i = 0; i < x.n_re; i++)
        if (strcmp(x.re[i], y.re[i])) return 0;
    return 1;
}

/* tokenizer.ggml.pre: llama.cpp names a pre-tokenizer by hashing the token ids the tokenizer gives
 * for a fixed text; here the name is the one whose pre-tokenizer (as r1c synthesises it back from
 * the name) equals tokenizer.json's. Qwen2's regex with a BOS added is DeepSeek-R1-Distill-Qwen's
 * tokenizer ("deepseek-r1-qwen"), without it "qwen2". Others: "default" (with a warning). */
static const char *derive_pre(const hf_src *s, const cv_ctx *c) {
    static const char *const CANDIDATES[] = {"llama-bpe", "qwen2", "deepseek-v3", "gpt-2"};
    const cJSON *pt = jget(s->tok, "pre_tokenizer");
    for (size_t i = 0; pt && i < sizeof CANDIDATES / sizeof *CANDIDATES; i++) {
        const char *norm, *js = r1c_gguf_pre_tokenizer(CANDIDATES[i], &norm);
        cJSON *ref = js ? cJSON_Parse(js) : NULL;
        const int same = ref && pretok_same(pt, ref);
        cJSON_Delete(ref);
        if (!same) continue;
        if (!strcmp(CANDIDATES[i], "qwen2")) {
            const cJSON *ab = jget(s->tok_cfg, "add_bos_token");
            return cJSON_IsTrue(ab) ? "deepseek-r1-qwen" : "qwen2";
        }
        return CANDIDATES[i];
    }
    say(c, "warning: tokenizer.json's pre_tokenizer is not one r1c names (llama-bpe, qwen2, deepseek-r1-qwen, deepseek-v3, "
           "gpt-2): tokenizer.ggml.pre = \"default\"");
    return "default";
}

/* transformers' does_token_look_special, as the converter uses it */
static int looks_special(const char *t) {
    static const char *const EXACT[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof EXACT / sizeof *EXACT; i++)
        if (!strcmp(t, EXACT[i])) return 1;
    size_t n = strlen(t);
    if (n >= 4 && !strncmp(t, "<|", 2) && ends_with(t, "|>")) return 1;
    if (!strncmp(t, "<\xef\xbd\x9c", 4) && ends_with(t, "\xef\xbd\x9c>")) return 1; /* <｜ ... ｜> */
    if (!strncmp(t, "<unused", 7) && ends_with(t, ">")) return 1;
    return 0;
}

/* "a▁b" -> "a b" (the converter pre-normalises user-defined tokens' spaces) */
static void spaces_from_meta(char *t) {
    char *w = t;
    for (const char *r = t; *r;) {
        if (!strncmp(r, "\xe2\x96\x81", 3)) *w++ = ' ', r += 3;
        else *w++ = *r++;
    }
    *w = 0;
}

typedef struct strs {
    char **v;
    int n;
} strs;
static void strs_free(strs *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL, s->n = 0;
}

static r1c_status hf_tokenizer_meta(const hf_src *s, meta_w *m, const cv_ctx *c) {
    const char *tpath = "tokenizer.json";
    const cJSON *model = jget(s->tok, "model"), *vocab = jget(model, "vocab"), *added = jget(s->tok, "added_tokens");
    const char *mtype = jstr(model, "type");
    if (!cJSON_IsObject(vocab) || (mtype && strcmp(mtype, "BPE")))
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s/%s: only byte-level BPE tokenizers (model.type BPE with a vocab) are supported", s->dir,
                         tpath);
    int n_vocab = s->cfg.vocab_size; /* the converter pads to config.json's vocab_size */
    strs toks = {calloc((size_t)n_vocab, sizeof(char *)), n_vocab};
    int32_t *types = calloc((size_t)n_vocab, sizeof(int32_t));
    strs merges = {0};
    r1c_status st = toks.v && types ? R1C_OK : r1c_error(R1C_ERR_NOMEM, "out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (st != R1C_OK) break;
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= n_vocab || e->valuedouble != (double)(int)e->valuedouble) {
            st = r1c_error(R1C_ERR_FORMAT, "%s/%s: token '%s' has id %g, outside vocab_size %d of config.json", s->dir, tpath, e->string,
                           cJSON_IsNumber(e) ? e->valuedouble : -1.0, n_vocab);
            break;
        }
        int id = (int)e->valuedouble;
        free(toks.v[id]);
        if (!(toks.v[id] = xstrdup(e->string))) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
        types[id] = 1; /* NORMAL */
    }
    cJSON_ArrayForEach(e, added) {
        if (st != R1C_OK) break;
        double idd;
        const char *content = jstr(e, "content");
        if (!jnum(e, "id", &idd) || !content || idd < 0 || idd >= n_vocab) {
            st = r1c_error(R1C_ERR_FORMAT, "%s/%s: an added token has no content or an id outside vocab_size %d", s->dir, tpath, n_vocab);
            break;
        }
        int id = (int)idd;
        free(toks.v[id]);
        if (!(toks.v[id] = xstrdup(content))) {
            st = r1c_error(R1C_ERR_NOMEM, "out of memory");
            break;
        }
        if (cJSON_IsTrue(jget(e, "special")) || looks_special(content)) {
            types[id] = 3; /* CONTROL */
        } else {
            spaces_from_meta(toks.v[id]);
            types[id] = 4; /* USER_DEFINED */
        }
    }
    for (int i = 0; st == R1C_OK && i < n_vocab; i++)
        if (!toks.v[i]) { /* ids without a token */
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", i);
            if (!(toks.v[i] = xstrdup(pad))) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
            types[i] = 5; /* UNUSED */
        }
    /* merges: "a b", or ["a", "b"] (spaces inside a part encoded as U+0120) */
    const cJSON *mj = jget(model, "merges");
    int nm = cJSON_IsArray(mj) ? cJSON_GetArraySize(mj) : 0;
    if (st == R1C_OK && nm) {
        merges.v = calloc((size_t)nm, sizeof(char *));
        if (!merges.v) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    for (e = nm ? mj->child : NULL; e; e = e->next) {
        if (st != R1C_OK) break;
        char *out = NULL;
        if (cJSON_IsString(e)) {
            out = xstrdup(e->valuestring);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
            out = malloc(2 * (strlen(a) + strlen(b)) + 2);
            if (out) {
                char *w = out;
                for (int part = 0; part < 2; part++) {
                    for (const char *r = part ? b : a; *r; r++) {
                        if (*r == ' ') *w++ = (char)0xc4, *w++ = (char)0xa0;
                        else *w++ = *r;
                    }
                    if (!part) *w++ = ' ';
                }
                *w = 0;
            }
        } else {
            st = r1c_error(R1C_ERR_FORMAT, "%s/%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", s->dir, tpath, merges.n);
            break;
        }
        if (!out) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
        else merges.v[merges.n++] = out;
    }
    const char *pre = c->p && c->p->tokenizer_pre ? c->p->tokenizer_pre : derive_pre(s, c);
    m_str(m, "tokenizer.ggml.model", "gpt2");
    m_str(m, "tokenizer.ggml.pre", pre);
    if (st == R1C_OK && m->st == R1C_OK) m->st = r1c_gguf_add_arr_str(m->w, "tokenizer.ggml.tokens", (const char *const *)toks.v, NULL, (uint64_t)n_vocab);
    if (st == R1C_OK && m->st == R1C_OK) m->st = r1c_gguf_add_arr(m->w, "tokenizer.ggml.token_type", R1C_GGUF_INT32, types, (uint64_t)n_vocab);
    if (st == R1C_OK && m->st == R1C_OK && merges.n)
        m->st = r1c_gguf_add_arr_str(m->w, "tokenizer.ggml.merges", (const char *const *)merges.v, NULL, (uint64_t)merges.n);
    /* special token ids: tokenizer_config.json's <typ>_token strings found among the added tokens,
     * then config.json's <typ>_token_id; add_bos / add_eos; the chat template */
    static const char *const TYP[7] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
    static const char *const KEY[7] = {"bos_token_id", "eos_token_id", "unknown_token_id", "seperator_token_id", "padding_token_id",
                                       "cls_token_id", "mask_token_id"};
    int ids[7], order[7], n_order = 0;
    for (int k = 0; k < 7; k++) ids[k] = -1;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < 7; k++) {
            if (ids[k] >= 0) continue;
            char key[32];
            double v = -1;
            if (pass == 0) {
                snprintf(key, sizeof key, "%s_token", TYP[k]);
                const cJSON *ent = jget(s->tok_cfg, key);
                const char *content = cJSON_IsString(ent) ? ent->valuestring : jstr(ent, "content");
                if (!content) continue;
                cJSON_ArrayForEach(e, added) {
                    const char *ct = jstr(e, "content");
                    if (ct && !strcmp(ct, content) && jnum(e, "id", &v)) break;
                }
                if (!e) continue;
            } else {
                snprintf(key, sizeof key, "%s_token_id", TYP[k]);
                const cJSON *x = jget(s->config, key);
                if (!cJSON_IsNumber(x)) continue; /* (a list of ids is not an id) */
                v = x->valuedouble;
            }
            if (v < 0 || v >= n_vocab || v != (double)(int)v) {
                say(c, "warning: special token %s id %g is outside the vocabulary: skipped", TYP[k], v);
                continue;
            }
            ids[k] = (int)v;
            order[n_order++] = k;
        }
    for (int i = 0; i < n_order; i++) {
        char key[64];
        snprintf(key, sizeof key, "tokenizer.ggml.%s", KEY[order[i]]);
        if (m->st == R1C_OK) m->st = r1c_gguf_add_u32(m->w, key, (uint32_t)ids[order[i]]);
    }
    /* add_bos / add_eos: tokenizer_config.json's, else what tokenizer.json's TemplateProcessing adds
     * around a single sequence (Llama 3's tokenizer has no add_bos_token) */
    const cJSON *tp = jget(s->tok, "post_processor");
    if (jstr(tp, "type") && !strcmp(jstr(tp, "type"), "Sequence")) {
        const cJSON *q = NULL;
        cJSON_ArrayForEach(q, jget(tp, "processors")) if (jstr(q, "type") && !strcmp(jstr(q, "type"), "TemplateProcessing")) break;
        tp = q;
    }
    const cJSON *single = jstr(tp, "type") && !strcmp(jstr(tp, "type"), "TemplateProcessing") ? jget(tp, "single") : NULL;
    const int n_single = cJSON_IsArray(single) ? cJSON_GetArraySize(single) : 0;
    for (int k = 0; k < 2; k++) {
        char key[64];
        snprintf(key, sizeof key, "add_%s_token", TYP[k]);
        const cJSON *x = jget(s->tok_cfg, key);
        snprintf(key, sizeof key, "tokenizer.ggml.add_%s_token", TYP[k]);
        int v = -1;
        if (cJSON_IsBool(x)) v = cJSON_IsTrue(x);
        else if (n_single) v = jget(cJSON_GetArrayItem(single, k ? n_single - 1 : 0), "SpecialToken") != NULL;
        if (v >= 0 && m->st == R1C_OK) m->st = r1c_gguf_add_bool(m->w, key, v);
    }
    const cJSON *tmpl = jget(s->tok_cfg, "chat_template");
    const char *tmpl_s = cJSON_IsString(tmpl) ? tmpl->valuestring : NULL;
    if (cJSON_IsArray(tmpl)) { /* named templates: the default one */
        cJSON_ArrayForEach(e, tmpl) if (jstr(e, "name") && !strcmp(jstr(e, "name"), "default")) tmpl_s = jstr(e, "template");
    }
    if (!tmpl_s) { /* newer checkpoints keep it in chat_template.jinja */
        char *path = r1c_path_join(s->dir, "chat_template.jinja"), *text = NULL;
        size_t len;
        if (path && r1c_file_exists(path) && r1c_read_small_file(path, 16u << 20, &text, &len) == R1C_OK && m->st == R1C_OK)
            m->st = r1c_gguf_add_str(m->w, "tokenizer.chat_template", text);
        free(text);
        free(path);
    } else if (m->st == R1C_OK) {
        m->st = r1c_gguf_add_str(m->w, "tokenizer.chat_template", tmpl_s);
    }
    strs_free(&toks);
    strs_free(&merges);
    free(types);
    return st != R1C_OK ? st : m->st;
}

/* the converter's metadata for a Hugging Face checkpoint (file_type: general.file_type) */
static r1c_status hf_metadata(const hf_src *s, r1c_gguf_writer *w, uint32_t file_type, const cv_ctx *c) {
    meta_w m = {w, s->arch, R1C_OK};
    const cJSON *h = s->config;
    double v;
    char base[512], label[64];
    const char *name = c->p && c->p->name ? c->p->name : NULL;
    if (!name) { /* the directory's name */
        snprintf(base, sizeof base, "%s", s->dir);
        size_t n = strlen(base);
        while (n > 1 && base[n - 1] == '/') base[--n] = 0;
        const char *sl = strrchr(base, '/');
        name = sl ? sl + 1 : base;
    }
    size_label(&s->list, label, sizeof label);
    m_str(&m, "general.architecture", s->arch);
    m_str(&m, "general.type", "model");
    m_str(&m, "general.name", name);
    m_str(&m, "general.size_label", label);
    /* TextModel.set_gguf_parameters */
    m_u32(&m, "block_count", (uint32_t)s->cfg.num_hidden_layers);
    if (jnum(h, "max_position_embeddings", &v)) m_u32(&m, "context_length", (uint32_t)v);
    if (jnum(h, "hidden_size", &v)) m_u32(&m, "embedding_length", (uint32_t)v);
    if (jnum(h, "intermediate_size", &v)) m_u32(&m, "feed_forward_length", (uint32_t)v);
    if (jnum(h, "num_attention_heads", &v)) m_u32(&m, "attention.head_count", (uint32_t)v);
    if (jnum(h, "num_key_value_heads", &v)) m_u32(&m, "attention.head_count_kv", (uint32_t)v);
    if (jnum(h, "rope_theta", &v)) m_f32(&m, "rope.freq_base", (float)v);
    if (jnum(h, "rms_norm_eps", &v)) m_f32(&m, "attention.layer_norm_rms_epsilon", (float)v);
    if (jnum(h, "num_experts_per_tok", &v)) m_u32(&m, "expert_used_count", (uint32_t)v);
    if (jnum(h, "head_dim", &v)) {
        m_u32(&m, "attention.key_length", (uint32_t)v);
        m_u32(&m, "attention.value_length", (uint32_t)v);
    }
    if (m.st == R1C_OK) m.st = r1c_gguf_add_u32(w, "general.file_type", file_type);
    const cJSON *rs = jget(h, "rope_scaling");
    const char *rtype = rs ? jstr(rs, "rope_type") : NULL;
    if (!rtype && rs) rtype = jstr(rs, "type");
    double factor = 0;
    const int has_factor = rs && jnum(rs, "factor", &factor);
    if (!strcmp(s->arch, "llama")) {
        m_u32(&m, "vocab_size", (uint32_t)s->cfg.vocab_size);
        m_u32(&m, "rope.dimension_count", (uint32_t)s->cfg.head_dim);
        if (has_factor && rtype && !strcmp(rtype, "linear")) {
            m_str(&m, "llama.rope.scaling.type", "linear");
            m_f32(&m, "rope.scaling.factor", (float)factor);
        }
    } else if (!strcmp(s->arch, "qwen2")) {
        if (has_factor && rtype && !strcmp(rtype, "yarn")) {
            m_str(&m, "qwen2.rope.scaling.type", "yarn");
            m_f32(&m, "rope.scaling.factor", (float)factor);
            if (jnum(rs, "original_max_position_embeddings", &v)) m_u32(&m, "rope.scaling.original_context_length", (uint32_t)v);
        }
    } else { /* deepseek2 */
        const r1c_hf_config *cf = &s->cfg;
        m_u32(&m, "leading_dense_block_count", (uint32_t)cf->first_k_dense_replace);
        m_u32(&m, "vocab_size", (uint32_t)cf->vocab_size);
        if (jnum(h, "q_lora_rank", &v)) m_u32(&m, "attention.q_lora_rank", (uint32_t)v);
        m_u32(&m, "attention.kv_lora_rank", (uint32_t)cf->kv_lora_rank);
        m_u32(&m, "attention.key_length", (uint32_t)(cf->qk_nope_head_dim + cf->qk_rope_head_dim));
        m_u32(&m, "attention.value_length", (uint32_t)cf->v_head_dim);
        m_u32(&m, "expert_feed_forward_length", (uint32_t)cf->moe_intermediate_size);
        m_u32(&m, "expert_count", (uint32_t)cf->n_routed_experts);
        m_u32(&m, "expert_shared_count", (uint32_t)cf->n_shared_experts);
        m_f32(&m, "expert_weights_scale", (float)cf->routed_scaling_factor);
        m_bool(&m, "expert_weights_norm", cf->norm_topk_prob);
        m_u32(&m, "expert_gating_func", cf->scoring_func == R1C_SCORE_SIGMOID ? 2u : 1u);
        if (jget(h, "n_group")) m_u32(&m, "expert_group_count", (uint32_t)cf->n_group);
        if (jget(h, "topk_group")) m_u32(&m, "expert_group_used_count", (uint32_t)cf->topk_group);
        m_u32(&m, "rope.dimension_count", (uint32_t)cf->qk_rope_head_dim);
        if (has_factor && rtype && !strcmp(rtype, "yarn")) {
            double orig = 4096, msad = 0;
            jnum(rs, "original_max_position_embeddings", &orig);
            jnum(rs, "mscale_all_dim", &msad);
            m_str(&m, "deepseek2.rope.scaling.type", "yarn");
            m_f32(&m, "rope.scaling.factor", (float)factor);
            m_u32(&m, "rope.scaling.original_context_length", (uint32_t)orig);
            m_f32(&m, "rope.scaling.yarn_log_multiplier", (float)(0.1 * msad));
        }
    }
    if (m.st != R1C_OK) return m.st;
    if (s->tok) {
        r1c_status st = hf_tokenizer_meta(s, &m, c);
        if (st != R1C_OK) return st;
    }
    return r1c_gguf_add_u32(w, "general.quantization_version", 2);
}

/* convert's type for a Hugging Face tensor (prepare_tensors) */
static r1c_dtype convert_type(const cv_tensor *t, r1c_dtype outtype) {
    if (real_dims(t->n_dims, t->ne) <= 1 || ends_with(t->name, "_norm.weight")) return R1C_F32;
    if (strstr(t->name, "ffn_gate_inp.weight") || !ends_with(t->name, ".weight")) return R1C_F32;
    if (r1c_dtype_is_quant(outtype) && t->ne[0] % r1c_dtype_block(outtype)) return R1C_F16; /* QuantError -> F16 */
    return outtype;
}

/* ------------------------------------------------------------------ GGUF input */

typedef struct gguf_src {
    r1c_gguf g;
    int open;
    r1c_hf_config cfg;
    char arch[32];
    cv_list list;
} gguf_src;

static void gguf_src_free(gguf_src *s) {
    if (s->open) r1c_gguf_close(&s->g);
    list_free(&s->list);
}

static r1c_status gguf_src_open(gguf_src *s, const char *path) {
    memset(s, 0, sizeof *s);
    r1c_status st = r1c_gguf_open(path, 1, &s->g);
    if (st != R1C_OK) return st;
    s->open = 1;
    r1c_gguf_str a;
    if ((st = r1c_gguf_get_str(&s->g, "general.architecture", &a)) != R1C_OK) return st;
    snprintf(s->arch, sizeof s->arch, "%.*s", (int)(a.n < 31 ? a.n : 31), a.p);
    return r1c_gguf_read_config(&s->g, &s->cfg);
}

/* every tensor as it is (quantize) */
static r1c_status gguf_tensors_as_is(gguf_src *s) {
    for (uint64_t i = 0; i < s->g.n_tensors; i++) {
        const r1c_gguf_tensor *gt = &s->g.tensors[i];
        cv_tensor t = {0};
        t.name = malloc(gt->name.n + 1);
        t.parts = calloc(1, sizeof *t.parts);
        if (!t.name || !t.parts) {
            free(t.name), free(t.parts);
            return r1c_error(R1C_ERR_NOMEM, "out of memory");
        }
        memcpy(t.name, gt->name.p, gt->name.n);
        t.name[gt->name.n] = 0;
        t.n_parts = 1;
        t.parts[0].data = gt->data, t.parts[0].dtype = gt->dtype, t.parts[0].nbytes = gt->nbytes;
        t.n_dims = gt->n_dims;
        for (int d = 0; d < 4; d++) t.ne[d] = (int64_t)gt->ne[d];
        t.natural = gt->dtype;
        r1c_status st = list_add(&s->list, &t);
        if (st != R1C_OK) return st;
    }
    return R1C_OK;
}

/* copies the input's metadata (llama-quantize: general.quantization_version and general.file_type
 * set last; split.* dropped) */
static r1c_status copy_metadata(const r1c_gguf *g, r1c_gguf_writer *w, uint32_t file_type) {
    r1c_status st = R1C_OK;
    for (uint64_t i = 0; st == R1C_OK && i < g->n_kv; i++) {
        const r1c_gguf_kv *kv = &g->kv[i];
        char *key = malloc(kv->key.n + 1);
        if (!key) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        memcpy(key, kv->key.p, kv->key.n);
        key[kv->key.n] = 0;
        if (!strcmp(key, "general.quantization_version") || !strcmp(key, "general.file_type") || !strcmp(key, "general.alignment") ||
            !strncmp(key, "split.", 6)) {
            free(key);
            continue;
        }
        switch (kv->type) {
        case R1C_GGUF_STRING: {
            char *v = malloc(kv->v.s.n + 1);
            if (!v) {
                st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(v, kv->v.s.p, kv->v.s.n);
            v[kv->v.s.n] = 0;
            st = r1c_gguf_add_str(w, key, v);
            free(v);
            break;
        }
        case R1C_GGUF_ARRAY:
            if (kv->arr_type == R1C_GGUF_STRING) {
                const char **p = malloc(sizeof(char *) * (size_t)(kv->arr_n ? kv->arr_n : 1));
                uint64_t *n = malloc(sizeof(uint64_t) * (size_t)(kv->arr_n ? kv->arr_n : 1));
                if (!p || !n) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                for (uint64_t k = 0; st == R1C_OK && k < kv->arr_n; k++) p[k] = kv->arr_str[k].p, n[k] = kv->arr_str[k].n;
                if (st == R1C_OK) st = r1c_gguf_add_arr_str(w, key, p, n, kv->arr_n);
                free(p), free(n);
            } else { /* the file's little-endian elements are the host's (r1c runs on little-endian hosts) */
                st = r1c_gguf_add_arr(w, key, kv->arr_type, kv->arr, kv->arr_n);
            }
            break;
        default: {
            uint8_t buf[8];
            switch (kv->type) {
            case R1C_GGUF_UINT8: buf[0] = (uint8_t)kv->v.u; break;
            case R1C_GGUF_INT8: buf[0] = (uint8_t)(int8_t)kv->v.i; break;
            case R1C_GGUF_BOOL: buf[0] = (uint8_t)kv->v.b; break;
            case R1C_GGUF_UINT16: { uint16_t x = (uint16_t)kv->v.u; memcpy(buf, &x, 2); break; }
            case R1C_GGUF_INT16: { int16_t x = (int16_t)kv->v.i; memcpy(buf, &x, 2); break; }
            case R1C_GGUF_UINT32: { uint32_t x = (uint32_t)kv->v.u; memcpy(buf, &x, 4); break; }
            case R1C_GGUF_INT32: { int32_t x = (int32_t)kv->v.i; memcpy(buf, &x, 4); break; }
            case R1C_GGUF_FLOAT32: { float x = (float)kv->v.f; memcpy(buf, &x, 4); break; }
            case R1C_GGUF_UINT64: memcpy(buf, &kv->v.u, 8); break;
            case R1C_GGUF_INT64: memcpy(buf, &kv->v.i, 8); break;
            default: memcpy(buf, &kv->v.f, 8); break; /* FLOAT64 */
            }
            st = r1c_gguf_add_scalar(w, key, kv->type, buf);
        }
        }
        free(key);
    }
    if (st == R1C_OK) st = r1c_gguf_add_u32(w, "general.quantization_version", 2);
    if (st == R1C_OK) st = r1c_gguf_add_u32(w, "general.file_type", file_type);
    return st;
}

/* ------------------------------------------------------------------ writing GGUF */

static r1c_status write_gguf(cv_list *l, const char *out, r1c_status (*meta)(void *, r1c_gguf_writer *), void *meta_user,
                             cv_ctx *c) {
    r1c_gguf_writer *w;
    r1c_status st = r1c_gguf_writer_new(out, &w);
    if (st != R1C_OK) return st;
    if ((st = meta(meta_user, w)) != R1C_OK) goto done;
    for (int i = 0; st == R1C_OK && i < l->n; i++) {
        const cv_tensor *t = &l->t[i];
        uint64_t ne[4];
        for (int d = 0; d < 4; d++) ne[d] = (uint64_t)t->ne[d];
        if (t->ne[0] % r1c_dtype_block(t->out))
            st = r1c_error(R1C_ERR_INVALID_ARG, "%s: tensor '%s': row length %lld is not a multiple of %s's block (%d)", out, t->name,
                           (long long)t->ne[0], ggml_name(t->out), r1c_dtype_block(t->out));
        else st = r1c_gguf_add_tensor_info(w, t->name, t->out, t->n_dims, ne);
    }
    if (st == R1C_OK) st = r1c_gguf_writer_begin(w);
    uint8_t *buf = NULL;
    for (int i = 0; st == R1C_OK && i < l->n; i++) {
        const cv_tensor *t = &l->t[i];
        const int64_t rows = t_rows(t);
        const uint64_t rb = r1c_dtype_row_bytes(t->out, (uint64_t)t->ne[0]);
        int64_t chunk = rb ? (int64_t)(CHUNK_BYTES / rb) : 1;
        if (chunk < 1) chunk = 1;
        if (chunk > rows) chunk = rows;
        free(buf);
        buf = rows ? malloc((size_t)((uint64_t)chunk * rb)) : NULL;
        if (rows && !buf) {
            st = r1c_error(R1C_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
            break;
        }
        for (int64_t r0 = 0; st == R1C_OK && r0 < rows; r0 += chunk) {
            const int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
            if (!produce_rows(t, r0, n, buf, c->nt)) st = r1c_error(R1C_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
            else st = r1c_gguf_writer_write(w, buf, (size_t)((uint64_t)n * rb));
        }
        if (st == R1C_OK && c->p && c->p->verbose) {
            char sh[96];
            shape_str(t, sh, sizeof sh);
            say(c, "[%4d/%4d] %-40s %-20s %s -> %s", i + 1, l->n, t->name, sh,
                t->owned ? "F32" : ggml_name(t->parts[0].dtype), ggml_name(t->out));
        }
        c->stats.in_bytes += t_in_bytes(t);
        c->stats.out_bytes += (uint64_t)rows * rb;
    }
    free(buf);
    if (st == R1C_OK) st = r1c_gguf_writer_end(w);
    c->stats.n_tensors = l->n;
done:
    r1c_gguf_writer_free(w);
    return st;
}

typedef struct hf_meta_arg {
    const hf_src *s;
    uint32_t file_type;
    const cv_ctx *c;
} hf_meta_arg;
static r1c_status hf_meta_cb(void *u, r1c_gguf_writer *w) {
    const hf_meta_arg *a = u;
    return hf_metadata(a->s, w, a->file_type, a->c);
}
typedef struct gguf_meta_arg {
    const r1c_gguf *g;
    uint32_t file_type;
} gguf_meta_arg;
static r1c_status gguf_meta_cb(void *u, r1c_gguf_writer *w) {
    const gguf_meta_arg *a = u;
    return copy_metadata(a->g, w, a->file_type);
}

/* ------------------------------------------------------------------ writing a Hugging Face directory */

typedef struct hf_out {
    cv_list list;
    char **hf_names;
    int oom;
    int nt;
} hf_out;

/* llama3 rope_scaling from rope_freqs (Llama 3.1's low_freq_factor 1 and high_freq_factor 4
 * assumed; the original length solved from the blended frequencies, checked by recomputing) */
static int recover_llama3(const float *f, int n, double theta, int dim, double *factor, double *orig) {
    float mx = 1;
    for (int j = 0; j < n; j++) mx = f[j] > mx ? f[j] : mx;
    if (mx <= 1) return 0;
    *factor = mx;
    const double lo = 1, hi = 4;
    double est = -1, lo_b = 1, hi_b = 1e9; /* bounds from the unblended entries */
    for (int j = 0; j < n; j++) {
        const double freq = 1.0 / pow(theta, (2.0 * j) / dim), wl = 2 * M_PI / freq;
        if (f[j] > 1 && f[j] < mx && est < 0) {
            const double s = (1.0 / f[j] - 1.0 / mx) / (1.0 - 1.0 / mx);
            est = wl * (s * (hi - lo) + lo);
        } else if (f[j] == 1) {
            lo_b = fmax(lo_b, wl * hi); /* wl < orig / hi */
        } else if (f[j] == mx) {
            hi_b = fmin(hi_b, wl * lo); /* wl > orig / lo */
        }
    }
    double cand[3] = {est >= 0 ? nearbyint(est) : 8192, est >= 0 ? est : nearbyint((lo_b + hi_b) / 2), 8192};
    float *g = malloc(sizeof(float) * (size_t)n);
    if (!g) return 0;
    int ok = 0;
    for (int k = 0; k < 3 && !ok; k++) {
        llama3_factors(theta, dim, mx, lo, hi, cand[k], g);
        ok = 1;
        for (int j = 0; j < n && ok; j++) ok = fabsf(g[j] - f[j]) <= 1e-5f * f[j];
        if (ok) *orig = cand[k];
    }
    if (!ok) *orig = cand[0];
    free(g);
    return ok ? 1 : -1;
}

static void fill_cb(void *user, int index, uint64_t off, void *dst, size_t n) {
    hf_out *h = user;
    const cv_tensor *t = &h->list.t[index];
    const uint64_t es = (uint64_t)r1c_dtype_size(t->out), rb = (uint64_t)t->ne[0] * es;
    uint8_t *d = dst;
    int64_t r = (int64_t)(off / rb);
    uint64_t skip = off % rb, left = n;
    uint8_t *tmp = NULL;
    while (left) {
        if (skip || left < rb) { /* a partial row (the writer's chunks need not end on rows) */
            if (!tmp) tmp = malloc(rb);
            if (!tmp) {
                memset(d, 0, left);
                h->oom = 1;
                return;
            }
            if (!produce_rows(t, r, 1, tmp, 1)) h->oom = 1;
            uint64_t k = rb - skip < left ? rb - skip : left;
            memcpy(d, tmp + skip, (size_t)k);
            d += k, left -= k, skip = 0, r++;
            continue;
        }
        const int64_t nr = (int64_t)(left / rb);
        if (!produce_rows(t, r, nr, d, h->nt)) h->oom = 1;
        d += (uint64_t)nr * rb, left -= (uint64_t)nr * rb, r += nr;
    }
    free(tmp);
}

static int cmp_hf_index(const void *a, const void *b, void *names) {
    char **n = names;
    return strcmp(n[*(const int *)a], n[*(const int *)b]);
}

static void json_add_f32(cJSON *o, const char *k, float f) { /* the shortest decimal that reads back as f */
    char b[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, (double)f);
        if (strtof(b, NULL) == f) break;
    }
    cJSON_AddNumberToObject(o, k, strtod(b, NULL));
}

static r1c_status write_text_file(const char *dir, const char *name, const char *text, size_t len) {
    char *path = r1c_path_join(dir, name);
    if (!path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    r1c_status st = ok ? R1C_OK : r1c_error(R1C_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    free(path);
    return st;
}

static r1c_status write_json_file(const char *dir, const char *name, cJSON *j) {
    char *text = cJSON_Print(j);
    if (!text) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    size_t n = strlen(text);
    char *t2 = realloc(text, n + 2);
    if (t2) text = t2, text[n++] = '\n', text[n] = 0;
    r1c_status st = write_text_file(dir, name, text, n);
    free(text);
    return st;
}

static const char *torch_name(r1c_dtype t) { return t == R1C_BF16 ? "bfloat16" : t == R1C_F16 ? "float16" : "float32"; }

static r1c_status gguf_to_hf(const char *in, const char *out, cv_ctx *c) {
    gguf_src s;
    hf_out h = {0};
    cJSON *cfg = NULL, *gen = NULL;
    char *tj = NULL, *cj = NULL;
    r1c_st_wtensor *wt = NULL;
    int *order = NULL;
    r1c_status st = gguf_src_open(&s, in);
    if (st != R1C_OK) goto done;
    const int llama = !strcmp(s.arch, "llama");
    const r1c_hf_config *hc = &s.cfg;
    const r1c_dtype want = c->p ? c->p->outtype : R1C_DTYPE_COUNT;
    if (want != R1C_DTYPE_COUNT && want != R1C_F32 && want != R1C_F16 && want != R1C_BF16) {
        st = r1c_error(R1C_ERR_INVALID_ARG, "GGUF -> Hugging Face: --outtype must be f32, f16 or bf16 (got %s)", ggml_name(want));
        goto done;
    }
    const float *rope_freqs = NULL;
    int n_rope = 0;
    r1c_dtype main_type = R1C_F32;
    for (uint64_t i = 0; st == R1C_OK && i < s.g.n_tensors; i++) {
        const r1c_gguf_tensor *gt = &s.g.tensors[i];
        char gname[256];
        snprintf(gname, sizeof gname, "%.*s", (int)(gt->name.n < 255 ? gt->name.n : 255), gt->name.p);
        if (!strcmp(gname, "rope_freqs.weight")) {
            if (gt->dtype == R1C_F32 && gt->n_dims == 1) rope_freqs = (const float *)gt->data, n_rope = (int)gt->ne[0];
            continue;
        }
        const int exps = strstr(gname, "_exps.weight") != NULL;
        const int ne_ = exps ? (int)gt->ne[2] : 1;
        if (exps && gt->n_dims != 3) {
            st = r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' must be [experts, rows, cols]", in, gname);
            break;
        }
        if (!exps && gt->n_dims > 2) {
            st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions", in, gname, gt->n_dims);
            break;
        }
        const r1c_dtype out_t = want != R1C_DTYPE_COUNT ? want : r1c_dtype_is_float_weight(gt->dtype) ? gt->dtype : R1C_BF16;
        if (gt->n_dims >= 2 && out_t != R1C_F32) main_type = out_t;
        for (int e = 0; e < ne_; e++) {
            char hf[256];
            if (!r1c_gguf_name_to_hf(gname, exps ? e : -1, hf, sizeof hf)) {
                st = r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s' has no Hugging Face name (architecture %s)", in, gname, s.arch);
                break;
            }
            cv_tensor t = {0};
            t.name = xstrdup(hf);
            t.parts = calloc(1, sizeof *t.parts);
            if (!t.name || !t.parts) {
                free(t.name), free(t.parts);
                st = r1c_error(R1C_ERR_NOMEM, "out of memory");
                break;
            }
            const uint64_t per = exps ? gt->nbytes / gt->ne[2] : gt->nbytes;
            t.parts[0].data = gt->data + (uint64_t)e * per, t.parts[0].dtype = gt->dtype, t.parts[0].nbytes = per;
            t.n_parts = 1;
            t.n_dims = exps ? 2 : gt->n_dims;
            t.ne[0] = (int64_t)gt->ne[0], t.ne[1] = t.n_dims >= 2 ? (int64_t)gt->ne[1] : 1, t.ne[2] = t.ne[3] = 1;
            t.out = out_t;
            if (llama && (ends_with(gname, ".attn_q.weight") || ends_with(gname, ".attn_q.bias"))) t.perm = -hc->num_attention_heads;
            if (llama && (ends_with(gname, ".attn_k.weight") || ends_with(gname, ".attn_k.bias"))) t.perm = -hc->num_key_value_heads;
            if ((st = list_add(&h.list, &t)) != R1C_OK) break;
        }
    }
    if (st != R1C_OK) goto done;
    /* config.json: what r1c reads from the metadata, in Hugging Face's names */
    cfg = cJSON_CreateObject();
    gen = cJSON_CreateObject();
    if (!cfg || !gen) {
        st = r1c_error(R1C_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *mt = hc->model_type, *archname = !strcmp(mt, "qwen2") ? "Qwen2ForCausalLM"
                                              : !strcmp(mt, "llama") ? "LlamaForCausalLM"
                                              : !strcmp(mt, "deepseek_v2") ? "DeepseekV2ForCausalLM" : "DeepseekV3ForCausalLM";
    cJSON *arr = cJSON_AddArrayToObject(cfg, "architectures");
    cJSON_AddItemToArray(arr, cJSON_CreateString(archname));
    cJSON_AddStringToObject(cfg, "model_type", mt);
    cJSON_AddStringToObject(cfg, "torch_dtype", torch_name(main_type));
    cJSON_AddStringToObject(cfg, "hidden_act", "silu");
    cJSON_AddNumberToObject(cfg, "vocab_size", hc->vocab_size);
    cJSON_AddNumberToObject(cfg, "hidden_size", hc->hidden_size);
    cJSON_AddNumberToObject(cfg, "intermediate_size", hc->intermediate_size);
    cJSON_AddNumberToObject(cfg, "num_hidden_layers", hc->num_hidden_layers);
    cJSON_AddNumberToObject(cfg, "num_attention_heads", hc->num_attention_heads);
    cJSON_AddNumberToObject(cfg, "num_key_value_heads", hc->num_key_value_heads);
    cJSON_AddNumberToObject(cfg, "max_position_embeddings", hc->max_position_embeddings);
    json_add_f32(cfg, "rms_norm_eps", (float)hc->rms_norm_eps); /* r1c computes with the float */
    cJSON_AddNumberToObject(cfg, "rope_theta", hc->rope_theta);
    cJSON_AddBoolToObject(cfg, "tie_word_embeddings", hc->tie_word_embeddings);
    if (hc->bos_token_id >= 0) {
        cJSON_AddNumberToObject(cfg, "bos_token_id", hc->bos_token_id);
        cJSON_AddNumberToObject(gen, "bos_token_id", hc->bos_token_id);
    }
    if (hc->n_eos) {
        cJSON_AddNumberToObject(cfg, "eos_token_id", hc->eos_token_id[0]);
        if (hc->n_eos == 1) cJSON_AddNumberToObject(gen, "eos_token_id", hc->eos_token_id[0]);
        else cJSON_AddItemToObject(gen, "eos_token_id", cJSON_CreateIntArray(hc->eos_token_id, hc->n_eos));
    }
    if (!strcmp(mt, "qwen2")) {
        cJSON_AddBoolToObject(cfg, "use_sliding_window", 0);
    } else if (llama) {
        cJSON_AddNumberToObject(cfg, "head_dim", hc->head_dim);
        cJSON_AddBoolToObject(cfg, "attention_bias", hc->qkv_bias);
        cJSON_AddBoolToObject(cfg, "mlp_bias", 0);
        if (rope_freqs && n_rope == hc->head_dim / 2) {
            double factor = 1, orig = 8192;
            int ok = recover_llama3(rope_freqs, n_rope, hc->rope_theta, hc->head_dim, &factor, &orig);
            if (ok < 0)
                say(c, "warning: %s: rope_freqs is not llama3 scaling with low_freq_factor 1 and high_freq_factor 4; config.json "
                       "gets the nearest (factor %g, original_max_position_embeddings %g)", in, factor, orig);
            if (ok) {
                cJSON *r = cJSON_AddObjectToObject(cfg, "rope_scaling");
                cJSON_AddStringToObject(r, "rope_type", "llama3");
                cJSON_AddNumberToObject(r, "factor", factor);
                cJSON_AddNumberToObject(r, "low_freq_factor", 1);
                cJSON_AddNumberToObject(r, "high_freq_factor", 4);
                cJSON_AddNumberToObject(r, "original_max_position_embeddings", orig);
                /* llama.cpp's converter reads this top-level key (default 8192), so the
                 * round trip back to GGUF gives the same rope_freqs */
                cJSON_AddNumberToObject(cfg, "original_max_position_embeddings", orig);
            }
        }
    } else { /* deepseek */
        if (hc->q_lora_rank) cJSON_AddNumberToObject(cfg, "q_lora_rank", hc->q_lora_rank);
        else cJSON_AddNullToObject(cfg, "q_lora_rank");
        cJSON_AddNumberToObject(cfg, "kv_lora_rank", hc->kv_lora_rank);
        cJSON_AddNumberToObject(cfg, "qk_nope_head_dim", hc->qk_nope_head_dim);
        cJSON_AddNumberToObject(cfg, "qk_rope_head_dim", hc->qk_rope_head_dim);
        cJSON_AddNumberToObject(cfg, "v_head_dim", hc->v_head_dim);
        cJSON_AddNumberToObject(cfg, "n_routed_experts", hc->n_routed_experts);
        cJSON_AddNumberToObject(cfg, "n_shared_experts", hc->n_shared_experts);
        cJSON_AddNumberToObject(cfg, "num_experts_per_tok", hc->num_experts_per_tok);
        cJSON_AddNumberToObject(cfg, "moe_intermediate_size", hc->moe_intermediate_size);
        cJSON_AddNumberToObject(cfg, "first_k_dense_replace", hc->first_k_dense_replace);
        cJSON_AddNumberToObject(cfg, "moe_layer_freq", 1);
        cJSON_AddNumberToObject(cfg, "n_group", hc->n_group);
        cJSON_AddNumberToObject(cfg, "topk_group", hc->topk_group);
        static const char *const METHODS[] = {"greedy", "group_limited_greedy", "noaux_tc"};
        cJSON_AddStringToObject(cfg, "topk_method", METHODS[hc->topk_method]);
        cJSON_AddStringToObject(cfg, "scoring_func", hc->scoring_func == R1C_SCORE_SIGMOID ? "sigmoid" : "softmax");
        cJSON_AddBoolToObject(cfg, "norm_topk_prob", hc->norm_topk_prob);
        json_add_f32(cfg, "routed_scaling_factor", (float)hc->routed_scaling_factor); /* used as a float */
        cJSON_AddNumberToObject(cfg, "num_nextn_predict_layers", 0);
        cJSON_AddBoolToObject(cfg, "attention_bias", 0);
        if (hc->rope_scaling.type == R1C_ROPE_YARN) {
            cJSON *r = cJSON_AddObjectToObject(cfg, "rope_scaling");
            cJSON_AddStringToObject(r, "type", "yarn");
            cJSON_AddNumberToObject(r, "factor", hc->rope_scaling.factor);
            cJSON_AddNumberToObject(r, "original_max_position_embeddings", hc->rope_scaling.original_max_position_embeddings);
            cJSON_AddNumberToObject(r, "beta_fast", hc->rope_scaling.beta_fast);
            cJSON_AddNumberToObject(r, "beta_slow", hc->rope_scaling.beta_slow);
            cJSON_AddNumberToObject(r, "mscale", hc->rope_scaling.mscale);
            cJSON_AddNumberToObject(r, "mscale_all_dim", hc->rope_scaling.mscale_all_dim);
        }
    }
    mkdir(out, 0755);
    struct stat sb;
    if (stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        st = r1c_error(R1C_ERR_IO, "%s: cannot create the output directory", out);
        goto done;
    }
    if ((st = write_json_file(out, "config.json", cfg)) != R1C_OK || (st = write_json_file(out, "generation_config.json", gen)) != R1C_OK)
        goto done;
    if (r1c_gguf_find(&s.g, "tokenizer.ggml.model")) {
        size_t tn, cn;
        if ((st = r1c_gguf_tokenizer_files(&s.g, 1, &tj, &tn, &cj, &cn)) != R1C_OK) goto done;
        if ((st = write_text_file(out, "tokenizer.json", tj, tn)) != R1C_OK ||
            (st = write_text_file(out, "tokenizer_config.json", cj, cn)) != R1C_OK)
            goto done;
    } else {
        say(c, "warning: %s has no tokenizer: the directory gets no tokenizer.json", in);
    }
    /* model.safetensors, tensors by name */
    const int n = h.list.n;
    order = malloc(sizeof(int) * (size_t)(n ? n : 1));
    wt = calloc((size_t)(n ? n : 1), sizeof *wt);
    char **names = malloc(sizeof(char *) * (size_t)(n ? n : 1));
    if (!order || !wt || !names) {
        free(names);
        st = r1c_error(R1C_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) order[i] = i, names[i] = h.list.t[i].name;
    qsort_r(order, (size_t)n, sizeof *order, cmp_hf_index, names);
    free(names);
    cv_list sorted = {malloc(sizeof(cv_tensor) * (size_t)(n ? n : 1)), n, n};
    if (!sorted.t) {
        st = r1c_error(R1C_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) sorted.t[i] = h.list.t[order[i]];
    free(h.list.t);
    h.list = sorted;
    h.nt = c->nt;
    for (int i = 0; i < n; i++) {
        const cv_tensor *t = &h.list.t[i];
        wt[i].name = t->name;
        wt[i].dtype = t->out;
        wt[i].n_dims = t->n_dims;
        for (int d = 0; d < t->n_dims; d++) wt[i].shape[d] = t->ne[t->n_dims - 1 - d];
        wt[i].fill = fill_cb;
        wt[i].user = &h;
        c->stats.in_bytes += t_in_bytes(t);
        c->stats.out_bytes += (uint64_t)t_numel(t) * (uint64_t)r1c_dtype_size(t->out);
        if (c->p && c->p->verbose) {
            char sh[96];
            shape_str(t, sh, sizeof sh);
            say(c, "[%4d/%4d] %-52s %-16s %s -> %s", i + 1, n, t->name, sh, ggml_name(t->parts[0].dtype), r1c_dtype_name(t->out));
        }
    }
    char *path = r1c_path_join(out, "model.safetensors");
    static const char *const META[] = {"format", "pt", NULL};
    st = path ? r1c_st_write(path, wt, n, META) : r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (st == R1C_OK && h.oom) {
        remove(path);
        st = r1c_error(R1C_ERR_NOMEM, "out of memory writing %s", path);
    }
    free(path);
    c->stats.n_tensors = n;
done:
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    free(tj), free(cj);
    free(wt), free(order);
    list_free(&h.list);
    gguf_src_free(&s);
    return st;
}

/* ------------------------------------------------------------------ the commands */

/* an output that is the input would be truncated while it is read */
static r1c_status check_distinct(const char *in, const char *out) {
    struct stat a, b;
    if (stat(in, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: the output is the input", out);
    return R1C_OK;
}

static void ctx_init(cv_ctx *c, const r1c_convert_params *p) {
    memset(c, 0, sizeof *c);
    c->p = p;
    c->nt = p && p->n_threads > 0 ? p->n_threads : 1;
#ifdef _OPENMP
    if (!p || p->n_threads <= 0) c->nt = omp_get_max_threads();
#endif
}

r1c_status r1c_convert(const char *in, const char *out, const r1c_convert_params *p, r1c_convert_stats *stats) {
    cv_ctx c;
    ctx_init(&c, p);
    const double t0 = now_s();
    if (!in || !out) return r1c_error(R1C_ERR_INVALID_ARG, "convert: input and output must be given");
    r1c_status st = check_distinct(in, out);
    if (st != R1C_OK) return st;
    if (r1c_is_gguf_file(in)) {
        st = gguf_to_hf(in, out, &c);
    } else {
        r1c_dtype ot = p ? p->outtype : R1C_DTYPE_COUNT;
        if (ot != R1C_DTYPE_COUNT && ot != R1C_F32 && ot != R1C_F16 && ot != R1C_BF16 && ot != R1C_Q8_0)
            return r1c_error(R1C_ERR_INVALID_ARG, "convert: --outtype must be f32, f16, bf16 or q8_0");
        hf_src s;
        st = hf_open(&s, in, &c);
        if (st == R1C_OK && ot == R1C_DTYPE_COUNT) { /* auto: F16 if the first tensor is F16, else BF16 */
            ot = R1C_BF16;
            for (int i = 0; i < s.list.n; i++)
                if (s.list.t[i].n_parts) {
                    ot = s.list.t[i].parts[0].dtype == R1C_F16 ? R1C_F16 : R1C_BF16;
                    break;
                }
        }
        if (st == R1C_OK) {
            for (int i = 0; i < s.list.n; i++) s.list.t[i].out = convert_type(&s.list.t[i], ot);
            const uint32_t ft = ot == R1C_F32 ? 0 : ot == R1C_F16 ? 1 : ot == R1C_BF16 ? 32 : 7;
            hf_meta_arg a = {&s, ft, &c};
            st = write_gguf(&s.list, out, hf_meta_cb, &a, &c);
        }
        hf_free(&s);
    }
    c.stats.seconds = now_s() - t0;
    if (stats) *stats = c.stats;
    return st;
}

static int cmp_list_index(const void *a, const void *b, void *l) {
    const cv_list *x = l;
    return order_cmp(x->t[*(const int *)a].name, x->t[*(const int *)b].name);
}

/* sorts the list into llama.cpp's order and applies the recipe */
static r1c_status apply_recipe(cv_list *l, r1c_ftype type, const r1c_quant_model *qm, cv_ctx *c) {
    const int n = l->n;
    int *idx = malloc(sizeof(int) * (size_t)(n ? n : 1));
    cv_tensor *sorted = malloc(sizeof(cv_tensor) * (size_t)(n ? n : 1));
    r1c_quant_tensor *q = malloc(sizeof *q * (size_t)(n ? n : 1));
    if (!idx || !sorted || !q) {
        free(idx), free(sorted), free(q);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_list_index, l);
    for (int i = 0; i < n; i++) sorted[i] = l->t[idx[i]];
    free(l->t);
    l->t = sorted, l->cap = n;
    for (int i = 0; i < n; i++) {
        q[i].name = l->t[i].name;
        q[i].n_dims = l->t[i].n_dims;
        memcpy(q[i].ne, l->t[i].ne, sizeof q[i].ne);
        q[i].type = l->t[i].natural;
    }
    c->stats.n_fallback = r1c_quant_recipe(type, qm, q, n);
    for (int i = 0; i < n; i++) l->t[i].out = q[i].type;
    if (c->stats.n_fallback > 0)
        say(c, "%d tensor(s) have rows that do not fit the block size and got a fallback type", c->stats.n_fallback);
    free(idx), free(q);
    return R1C_OK;
}

r1c_status r1c_quantize_model(const char *in, const char *out, r1c_ftype type, const r1c_convert_params *p,
                              r1c_convert_stats *stats) {
    cv_ctx c;
    ctx_init(&c, p);
    const double t0 = now_s();
    if (!in || !out) return r1c_error(R1C_ERR_INVALID_ARG, "quantize: input and output must be given");
    if (ftype_base(type) == R1C_DTYPE_COUNT) return r1c_error(R1C_ERR_INVALID_ARG, "quantize: unknown file type %d", (int)type);
    r1c_status st = check_distinct(in, out);
    if (st != R1C_OK) return st;
    if (r1c_is_gguf_file(in)) {
        gguf_src s;
        st = gguf_src_open(&s, in);
        if (st == R1C_OK) st = gguf_tensors_as_is(&s);
        if (st == R1C_OK) {
            r1c_quant_model qm = {s.arch, s.cfg.num_hidden_layers, s.cfg.num_attention_heads, s.cfg.num_key_value_heads,
                                  s.cfg.n_routed_experts};
            st = apply_recipe(&s.list, type, &qm, &c);
        }
        if (st == R1C_OK) {
            gguf_meta_arg a = {&s.g, (uint32_t)type};
            st = write_gguf(&s.list, out, gguf_meta_cb, &a, &c);
        }
        gguf_src_free(&s);
    } else {
        hf_src s;
        st = hf_open(&s, in, &c);
        if (st == R1C_OK) {
            r1c_quant_model qm = {s.arch, s.cfg.num_hidden_layers, s.cfg.num_attention_heads, s.cfg.num_key_value_heads,
                                  s.cfg.n_routed_experts};
            st = apply_recipe(&s.list, type, &qm, &c);
        }
        if (st == R1C_OK) {
            hf_meta_arg a = {&s, (uint32_t)type, &c};
            st = write_gguf(&s.list, out, hf_meta_cb, &a, &c);
        }
        hf_free(&s);
    }
    c.stats.seconds = now_s() - t0;
    if (stats) *stats = c.stats;
    return st;
}
