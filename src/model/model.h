/* model.h — what a loaded model is inside r1c: its config, the files its weights live in, named
 * views of those weights, and the architecture that runs them. */
#ifndef R1C_MODEL_MODEL_H
#define R1C_MODEL_MODEL_H

#include "../io/hf_config.h"
#include "../io/safetensors.h"
#include "../tensor/tensor.h"
#include "r1c.h"

struct r1c_ctx;

/* An architecture family: binds weights by name and runs the forward pass. */
typedef struct r1c_arch {
    const char *model_type;
    r1c_status (*bind)(r1c_model *m);
    /* Runs T tokens at positions c->n_past .. c->n_past+T-1 (the caller checked the range and
     * the ids), appends them to the cache, and writes logits: every token's rows when
     * all_logits, else only the last token's row. */
    r1c_status (*forward)(struct r1c_ctx *c, const int32_t *ids, int T, float *logits, int all_logits);
    /* cache floats per token per layer: keys (MLA: latent + rope key) and values (MLA: 0) */
    int64_t (*kv_floats_per_token)(const r1c_model *m);
    int64_t (*v_floats_per_token)(const r1c_model *m);
    /* per-thread scratch floats the attention needs (r1c_attention's and the architecture's own
     * buffers; none grows with the context); may be NULL */
    size_t (*scratch_extra)(const r1c_model *m);
    /* frees what bind allocated beyond the model's own lists (may be NULL) */
    void (*free)(r1c_model *m);
    /* 1: forward runs a batch of tokens from several sequences (ctx->seqs, r1c_eval_batch) */
    int batch_sequences;
} r1c_arch;

typedef struct r1c_dense_layer {
    const r1c_tensor *wq, *wk, *wv, *wo, *wgate, *wup, *wdown;
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv, *bo; /* NULL when the config has no such bias */
} r1c_dense_layer;

struct r1c_model {
    char *dir;
    r1c_hf_config cfg;
    r1c_st_set files;
    int use_mmap;
    const r1c_arch *arch;

    /* every weight the forward pass reads, in binding order (owned views) */
    r1c_tensor *bound;
    int n_bound, cap_bound;
    /* f32 copies (norms, biases) and realigned tensors, freed with the model */
    void **owned;
    int n_owned, cap_owned;

    /* dense (qwen2, llama) */
    r1c_dense_layer *layers;
    const r1c_tensor *embed, *lm_head;
    const float *final_norm;
    float *rope_inv_freq; /* head_dim / 2 */

    int64_t n_params, weight_bytes, decode_bytes;
    r1c_tokenizer *tokenizer; /* NULL if the directory has no tokenizer.json */
    struct r1c_ds_model *ds;  /* DeepSeek V2/V3 layers (deepseek.c) */
    struct r1c_gguf *gguf;    /* set when the model came from one .gguf file (gguf_model.c) */
    int rope_interleaved;     /* dense: adjacent-pair RoPE (llama GGUF files: rows permuted by the converter) */
    const float *rope_factors; /* dense: per-frequency divisors (llama3 scaling from GGUF's rope_freqs) */
    const char *file_type;     /* GGUF general.file_type as llama.cpp names it ("Q4_K - Medium"), or NULL */
    int64_t active_bytes;     /* MoE: weight bytes one token reads (active experts only) */
    int64_t n_params_active;
    struct r1c_lora *lora;    /* r1c_load_params.lora_dir's adapter: every new context starts with it */
};

/* Binding helpers for architectures. */
/* A matrix [rows][cols] of a float dtype, used in place. */
r1c_status r1c_bind_matrix(r1c_model *m, const char *name, int64_t rows, int64_t cols,
                           const r1c_tensor **out);
/* A vector of n, widened to an owned f32 array. */
r1c_status r1c_bind_vector(r1c_model *m, const char *name, int64_t n, const float **out);
int r1c_model_has_tensor(const r1c_model *m, const char *name);
/* Marks a bound matrix the forward pass reads only through r1c_matmul (never row by row): after
 * binding, such Q8_0 / Q4_0 matrices are stored row-interleaved (quant.h) when the kernels in
 * use have kernels for that layout and the weights were read into memory (a mapped file is left
 * as it is; R1C_PACK=0 turns it off, to compare). */
void r1c_model_matmul_only(const r1c_tensor *t);
/* Hands an r1c_alloc'd buffer to the model, freed with it (frees p on failure). */
r1c_status r1c_model_own(r1c_model *m, void *p);

extern const r1c_arch r1c_arch_qwen2;
extern const r1c_arch r1c_arch_llama;
extern const r1c_arch r1c_arch_deepseek_v2;
extern const r1c_arch r1c_arch_deepseek_v3;
int r1c_ds_mtp_layers(const r1c_model *m);

/* gguf_model.c */
int r1c_is_gguf_file(const char *path);
r1c_status r1c_gguf_model_open(r1c_model *m, const char *path);
/* the GGUF name of a Hugging Face tensor name (experts: the stacked tensor and ", expert E") */
int r1c_gguf_model_name(const char *hf_name, char *out, size_t cap);
int r1c_gguf_model_lookup(const r1c_model *m, const char *hf_name, r1c_tensor *v, const char **file);
void r1c_gguf_model_close(r1c_model *m);

/* For the converter (convert.c). The llama.cpp name of a Hugging Face tensor name (1), with the
 * expert's index in *expert for a slice of a stacked [E][F][D] tensor (else -1); 0 if unknown. */
int r1c_gguf_name_from_hf(const char *hf_name, char *out, size_t cap, int *expert);
/* The reverse: the Hugging Face name of a llama.cpp tensor name (for blk.N.ffn_*_exps.weight, of
 * expert `expert`); 0 if it has none. */
int r1c_gguf_name_to_hf(const char *gguf_name, int expert, char *out, size_t cap);
/* The config r1c reads from a GGUF file's metadata (what a model loaded from it runs with). */
r1c_status r1c_gguf_read_config(const struct r1c_gguf *g, r1c_hf_config *cfg);
/* tokenizer.json and tokenizer_config.json (malloc'd, NUL-terminated) for the file's
 * tokenizer.ggml.* metadata; hf_complete adds the fields r1c ignores and Hugging Face's
 * loader expects (truncation, padding, per-token flags, BPE options). */
r1c_status r1c_gguf_tokenizer_files(const struct r1c_gguf *g, int hf_complete, char **tok_json, size_t *tok_len,
                                    char **cfg_json, size_t *cfg_len);
/* The tokenizer.json pre_tokenizer (JSON text) r1c uses for a tokenizer.ggml.pre name, and its
 * normalizer ("null" or JSON); NULL for a name r1c does not know. */
const char *r1c_gguf_pre_tokenizer(const char *pre, const char **normalizer);

/* DeepSeekMoE routing of one token (deepseek.c): from the router's logits and the optional
 * correction bias, the k chosen experts (ids) and their weights (w); work: 2 E floats. The
 * trainer routes with the same function. */
void r1c_ds_route(const r1c_hf_config *c, const float *logit, const float *bias, float *work, int32_t *ids, float *w);

#endif
