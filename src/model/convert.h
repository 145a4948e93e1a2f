/* convert.h — GGUF interop: `r1c convert` (Hugging Face checkpoint <-> one .gguf file, as
 * llama.cpp's convert_hf_to_gguf.py writes it) and `r1c quantize` (llama.cpp's llama-quantize
 * recipes for the block formats r1c runs).
 *
 * Both stream: tensors are produced in chunks of rows (converted / quantised in parallel with
 * OpenMP) and written as they come, so a model larger than memory converts; inputs are mapped. */
#ifndef R1C_MODEL_CONVERT_H
#define R1C_MODEL_CONVERT_H

#include <stdint.h>

#include "../tensor/dtype.h"
#include "r1c.h"

/* llama.cpp's llama_ftype numbers (general.file_type) for the file types r1c writes */
typedef enum r1c_ftype {
    R1C_FTYPE_F32 = 0,
    R1C_FTYPE_F16 = 1,
    R1C_FTYPE_Q4_0 = 2,
    R1C_FTYPE_Q8_0 = 7,
    R1C_FTYPE_Q4_K_S = 14,
    R1C_FTYPE_Q4_K_M = 15,
    R1C_FTYPE_Q6_K = 18,
    R1C_FTYPE_BF16 = 32,
} r1c_ftype;

/* "Q4_K_M", "q8_0", "bf16" ... (case-insensitive); 0 if unknown. */
int r1c_ftype_parse(const char *s, r1c_ftype *out);
const char *r1c_ftype_name(r1c_ftype t);

typedef struct r1c_convert_params {
    /* convert, HF -> GGUF: F32, F16, BF16 or Q8_0 for the >= 2-D weights (1-D tensors, norms,
     * the MoE router and biases are F32 as llama.cpp writes them); R1C_DTYPE_COUNT = auto (F16
     * when the first tensor is F16, else BF16, as the converter's --outtype auto).
     * convert, GGUF -> HF: F32, F16 or BF16 for every tensor; R1C_DTYPE_COUNT = keep F32 / F16 /
     * BF16 tensors as they are and dequantise block formats to BF16. Unused by quantize. */
    r1c_dtype outtype;
    int n_threads;             /* 0: all cores */
    const char *name;          /* general.name (NULL: the input directory's name) */
    const char *tokenizer_pre; /* tokenizer.ggml.pre (NULL: derived from tokenizer.json) */
    /* progress and warnings, one line each without '\n' (NULL: silent); verbose adds a line
     * per tensor (name, shape, type) */
    void (*log)(void *user, const char *line);
    void *log_user;
    int verbose;
} r1c_convert_params;

typedef struct r1c_convert_stats {
    int n_tensors;
    int n_fallback;     /* quantize: tensors whose row length did not fit the block size */
    uint64_t in_bytes;  /* tensor bytes read */
    uint64_t out_bytes; /* tensor bytes written */
    double seconds;
} r1c_convert_stats;

/* in: a Hugging Face directory (config.json + safetensors + tokenizer) -> out: a .gguf file;
 * or in: a .gguf file -> out: a directory (config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json, model.safetensors). params and stats may be NULL. */
r1c_status r1c_convert(const char *in, const char *out, const r1c_convert_params *params, r1c_convert_stats *stats);

/* in: a Hugging Face directory or a .gguf file of any type r1c reads (FP8 included) -> out:
 * a .gguf file of file type `type`, tensor types chosen by llama.cpp's rules (below). */
r1c_status r1c_quantize_model(const char *in, const char *out, r1c_ftype type, const r1c_convert_params *params,
                              r1c_convert_stats *stats);

/* The recipe alone: llama-quantize's choice of type for each tensor of a model (tensors in any
 * order; they are visited in llama.cpp's order, by layer then name). `type` holds each
 * tensor's current type on entry (what a tensor that is not quantised keeps) and its new
 * type on return. arch: general.architecture ("llama", "qwen2", "deepseek2"). */
typedef struct r1c_quant_tensor {
    const char *name; /* llama.cpp name */
    int n_dims;
    int64_t ne[4];    /* ggml order */
    r1c_dtype type;
} r1c_quant_tensor;

typedef struct r1c_quant_model {
    const char *arch;
    int n_layer, n_head, n_head_kv, n_expert;
} r1c_quant_model;

/* Returns the number of tensors that needed a fallback type (row length vs block size). */
int r1c_quant_recipe(r1c_ftype type, const r1c_quant_model *model, r1c_quant_tensor *t, int n);
/* r1c_quantize_row's bytes (llama.cpp's reference quantisers), computed several sub-blocks at a
 * time for Q4_K and Q6_K (the other types: r1c_quantize_row itself). */
void r1c_convert_quantize_row(r1c_dtype t, const float *src, void *dst, int64_t n);
/* For tests: the vector code this CPU runs (0 none: r1c_quantize_row, 1 AVX2, 2 AVX-512), and
 * r1c_convert_quantize_row with a given one (which the CPU must have). */
int r1c_convert_quant_isa(void);
void r1c_convert_quantize_row_isa(int isa, r1c_dtype t, const float *src, void *dst, int64_t n);

/* llama.cpp's use_more_bits(i, n): the layers Q4_K_M gives 6 bits (attn_v, ffn_down) */
int r1c_quant_use_more_bits(int i, int n);

#endif
