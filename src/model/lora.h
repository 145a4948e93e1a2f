/* lora.h — LoRA adapters in Hugging Face PEFT's file format: read (checked against a loaded
 * model), applied at inference without merging, merged into a new model directory, written.
 *
 * An adapter directory holds
 *   adapter_config.json        peft_type "LORA", r, lora_alpha, target_modules, use_rslora, ...
 *   adapter_model.safetensors  base_model.model.<module>.lora_A.weight [r][in]
 *                              base_model.model.<module>.lora_B.weight [out][r]
 * where <module>.weight is the name of a matrix of the base model ("model.layers.0.self_attn.q_proj").
 * An adapted matrix W then computes W x + scale * B (A x), scale = lora_alpha / r
 * (lora_alpha / sqrt(r) with use_rslora). */
#ifndef R1C_MODEL_LORA_H
#define R1C_MODEL_LORA_H

#include "../tensor/ops.h"
#include "model.h"

/* One adapted matrix: A [r][in] and B [out][r], both f32, B already multiplied by the scale. */
typedef struct r1c_lora_module {
    char *name;           /* the base weight's name, "model.layers.0.self_attn.q_proj.weight" */
    const r1c_tensor *w;  /* the base model's bound matrix */
    r1c_tensor A, B;      /* views of a, b */
    float *a, *b;
} r1c_lora_module;

struct r1c_lora {
    const r1c_model *m;
    char *dir;
    int r;
    float alpha, scale;
    int use_rslora;
    r1c_lora_module *mods;
    int n_mods;
    /* mods sorted by base weight pointer: the matmul hook looks a job's weight up here */
    r1c_lora_module **by_w;
};

/* Attaches an adapter to an executor (NULL detaches): r1c_matmul then adds the adapter's term
 * for every job whose weight it adapts. */
void r1c_lora_attach(r1c_exec *ex, const struct r1c_lora *a);

/* ---- writing (the training side produces A and B; this stores them as PEFT does) ---- */
typedef struct r1c_lora_wconfig {
    int r;
    float alpha;
    float dropout;
    int use_rslora;
    const char *base_model;            /* base_model_name_or_path; NULL: null */
    const char *const *target_modules; /* short names ("q_proj") */
    int n_targets;
} r1c_lora_wconfig;

typedef struct r1c_lora_wmodule {
    const char *name;     /* the base weight's name, "model.layers.0.self_attn.q_proj.weight" */
    int64_t in, out;
    const float *A;       /* [r][in], unscaled */
    const float *B;       /* [out][r], unscaled */
} r1c_lora_wmodule;

/* Writes DIR/adapter_config.json and DIR/adapter_model.safetensors (tensors in `dtype`: F32,
 * BF16 (rounded to nearest even) or F16). DIR must exist. */
r1c_status r1c_lora_write(const char *dir, const r1c_lora_wconfig *cfg, const r1c_lora_wmodule *mods, int n,
                          r1c_dtype dtype);

/* Parses adapter_config.json text (`path` names it in messages); used by the loader and the
 * fuzzer. Fills r, alpha, use_rslora; *targets receives the cJSON target_modules (a list of
 * strings or a string regex) detached from the document, for the caller to cJSON_Delete. */
typedef struct r1c_lora_config {
    int r;
    double alpha;
    int use_rslora;
    void *targets; /* cJSON *, owned */
} r1c_lora_config;
r1c_status r1c_lora_parse_config(const char *path, const char *text, size_t len, r1c_lora_config *out);
void r1c_lora_config_free(r1c_lora_config *c);

#endif
