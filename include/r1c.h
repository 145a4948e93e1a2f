/*
 * r1c.h — the public C API of r1c, the DeepSeek-R1 model family in C.
 *
 * Everything a program needs to load a model, evaluate tokens and sample:
 *
 *     r1c_model *m;  r1c_ctx *c;  r1c_sampler *s;
 *     if (r1c_model_load("DeepSeek-R1-Distill-Qwen-1.5B", NULL, &m) != R1C_OK)
 *         fprintf(stderr, "%s\n", r1c_last_error());
 *     r1c_ctx_new(m, NULL, &c);
 *     r1c_eval(c, ids, n_ids, 0);                 // prefill the prompt
 *     r1c_sampler_new(NULL, 0, &s);               // R1 defaults: T 0.6, top-p 0.95
 *     int32_t next = r1c_sampler_sample(s, r1c_logits(c, -1), r1c_model_n_vocab(m));
 *
 * Conventions:
 *  - Handles are opaque; each `*_new`/`*_load` has a matching `*_free` (NULL is fine).
 *  - Functions that can fail return an r1c_status; on failure r1c_last_error() holds one line
 *    naming what was wrong (the file, the tensor, the config field). The message is per thread.
 *  - The library never calls exit() or abort() on bad input.
 *  - A model is read-only once loaded: many contexts (threads) can share one model.
 */
#ifndef R1C_H
#define R1C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define R1C_VERSION "0.1.0"

typedef enum r1c_status {
    R1C_OK = 0,
    R1C_ERR_INVALID_ARG = -1,  /* the caller passed something out of range */
    R1C_ERR_IO = -2,           /* a file could not be opened or read */
    R1C_ERR_FORMAT = -3,       /* a file is malformed (bad header, bad JSON, bad offsets) */
    R1C_ERR_UNSUPPORTED = -4,  /* well-formed but not something r1c runs (model_type, dtype) */
    R1C_ERR_NOMEM = -5,        /* out of memory */
    R1C_ERR_MISSING = -6,      /* a required tensor, file or field is absent */
    R1C_ERR_CONTEXT_FULL = -7, /* evaluating would run past the context length */
} r1c_status;

/* The last error message of the calling thread ("" if none). */
const char *r1c_last_error(void);
/* A short name for a status code ("format error", ...). */
const char *r1c_status_string(r1c_status st);
const char *r1c_version(void);

/* ---------------------------------------------------------------- model */

typedef struct r1c_model r1c_model;
typedef struct r1c_tokenizer r1c_tokenizer; /* see "tokenizer" below */

typedef struct r1c_load_params {
    int use_mmap; /* 0 (default): read weights into anonymous memory; 1: map the files */
    /* NULL, or a PEFT LoRA adapter directory (see "LoRA adapters" below) loaded with the model
     * and attached to every context made from it; the weights themselves are not changed */
    const char *lora_dir;
} r1c_load_params;

/* Loads a Hugging Face checkpoint directory (config.json + model.safetensors or
 * model.safetensors.index.json with its shards). params may be NULL for defaults. */
r1c_status r1c_model_load(const char *dir, const r1c_load_params *params, r1c_model **out);
void r1c_model_free(r1c_model *m);

typedef struct r1c_model_info {
    const char *model_type;  /* "qwen2", "llama" */
    int n_vocab;
    int n_embd;              /* hidden_size */
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;
    int n_ff;                /* intermediate_size */
    int max_position;        /* max_position_embeddings */
    float rope_theta;
    float rms_eps;
    const char *rope_scaling; /* "none", "llama3", "linear" */
    int tied_embeddings;
    int64_t n_params;        /* number of weights the forward pass uses */
    int64_t weight_bytes;    /* bytes of those weights as stored */
    int64_t decode_bytes;    /* bytes read per generated token: all but the embedding table and,
                                for MoE, only the experts one token uses */
    int64_t kv_bytes_per_token; /* KV cache bytes per token, all layers */
    int bos_id;              /* -1 if none */
    int n_eos;
    int eos_ids[8];
    int use_mmap;
    const char *file_type;   /* a GGUF file's general.file_type, named as llama.cpp names it
                                ("Q4_K - Medium"); NULL when not known */
    /* DeepSeek V2/V3 (mla = 1): the compressed cache, experts, multi-token prediction */
    int mla;
    int kv_lora_rank, qk_rope_head_dim;
    int64_t kv_bytes_per_token_bf16; /* latent + rope key, all layers, in bf16 */
    int64_t kv_bytes_expanded_bf16;  /* what full per-head K and V would take */
    int n_experts, n_experts_used, n_shared_experts;
    int n_mtp_layers, n_mtp_declared; /* loaded / in config.json */
    int fp8;                          /* block-scaled FP8 weights */
    int n_packed; /* Q8_0 / Q4_0 matrices stored row-interleaved at load for the kernels in use */
} r1c_model_info;

void r1c_model_get_info(const r1c_model *m, r1c_model_info *info);
int r1c_model_n_vocab(const r1c_model *m);
/* The tokenizer from the model's directory (tokenizer.json), or NULL if it has none. */
const r1c_tokenizer *r1c_model_tokenizer(const r1c_model *m);
int r1c_model_is_eos(const r1c_model *m, int32_t id);

/* The tensors the model bound, in load order (for `r1c info`). */
int r1c_model_n_tensors(const r1c_model *m);
/* name, dtype name ("BF16"), shape (up to 8 dims); returns the number of dims or -1. */
int r1c_model_tensor(const r1c_model *m, int i, const char **name, const char **dtype,
                     int64_t shape[8]);

/* -------------------------------------------------------- LoRA adapters */

/* A LoRA adapter in Hugging Face PEFT's format: a directory with adapter_config.json
 * (peft_type "LORA", r, lora_alpha, target_modules as a list or a regex, use_rslora) and
 * adapter_model.safetensors (base_model.model.<module>.lora_A.weight [r][in] and
 * .lora_B.weight [out][r], F32/BF16/F16). Applied unmerged: an adapted matrix W computes
 * W x + scale * B (A x), scale = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora), in f32
 * beside the base weights, which may be of any dtype r1c runs (quantised included) and stay
 * untouched: one model can serve contexts with different adapters, or none.
 * Refused (one line naming the file and field or tensor): bias other than "none",
 * fan_in_fan_out, use_dora, modules_to_save, rank_pattern / alpha_pattern, layers_to_transform,
 * a module the model does not have or that is not a matrix inside model.layers, a shape that
 * does not match, DeepSeek's kv_b_proj (read by the absorbed attention, not through a matmul)
 * and q_proj / k_proj of a llama GGUF file (rows permuted by the converter). */
typedef struct r1c_lora r1c_lora;

/* Reads and checks an adapter against model m. The adapter refers to m: free it first. */
r1c_status r1c_lora_load(const r1c_model *m, const char *dir, r1c_lora **out);
void r1c_lora_free(r1c_lora *a);
int r1c_lora_n_modules(const r1c_lora *a); /* adapted matrices */
/* Writes OUT_DIR (created; its parent must exist) as a plain model: BASE_DIR's safetensors with
 * W' = W + scale * B A for every adapted matrix, computed in f32 and stored in W's dtype (BF16:
 * rounded to nearest even), every other tensor copied bit for bit into one model.safetensors,
 * plus config.json, generation_config.json and the tokenizer files. The base must be a Hugging
 * Face directory of F32 / BF16 / F16 matrices (GGUF, quantised or FP8 bases are refused:
 * convert them first). */
r1c_status r1c_lora_merge(const char *base_dir, const char *lora_dir, const char *out_dir);

/* -------------------------------------------------------------- context */

typedef struct r1c_ctx r1c_ctx;

typedef struct r1c_ctx_params {
    int n_ctx;     /* KV cache length in tokens; 0: min(max_position_embeddings, 4096) */
    int n_threads; /* 0: number of online cores */
    int n_batch;   /* most tokens per forward pass; 0: 512 */
} r1c_ctx_params;

r1c_status r1c_ctx_new(const r1c_model *m, const r1c_ctx_params *params, r1c_ctx **out);
void r1c_ctx_free(r1c_ctx *c);
int r1c_ctx_n_ctx(const r1c_ctx *c);
int r1c_ctx_n_past(const r1c_ctx *c);  /* tokens in the cache */
void r1c_ctx_set_threads(r1c_ctx *c, int n_threads);
/* Attaches a LoRA adapter of the context's model (NULL: run the base model) for the following
 * evaluations; the adapter must outlive that use. A context starts with the adapter of
 * r1c_load_params.lora_dir, if any. r1c_eval_batch needs every sequence on the same adapter. */
r1c_status r1c_ctx_set_lora(r1c_ctx *c, const r1c_lora *a);
/* Drops cached tokens from position n_keep on (0 clears the cache). */
r1c_status r1c_ctx_truncate(r1c_ctx *c, int n_keep);

/* Appends n tokens at positions n_past .. n_past+n-1 and runs the model over them.
 * all_logits != 0 keeps the logits of every token, else only of the last.
 * The results are bit-identical for every thread count, and equal whether the tokens are
 * evaluated in one call or one per call. */
r1c_status r1c_eval(r1c_ctx *c, const int32_t *ids, int n, int all_logits);
/* n tokens of several sequences (contexts of one model, each its own cache) in one forward pass:
 * the weights are read once for all of them. Token i belongs to seqs[i]; a sequence may give
 * several tokens (a piece of a prompt), which take its next positions in batch order. Each
 * context then holds the logits of its last token in the batch (r1c_logits(ctx, -1)),
 * bit-identical to evaluating its tokens alone. seqs[0]'s buffers and threads do the work
 * (n <= its n_batch). Every architecture r1c runs supports it (R1C_ERR_UNSUPPORTED for one
 * that would run one sequence at a time). */
r1c_status r1c_eval_batch(r1c_ctx *const *seqs, const int32_t *ids, int n);
/* 1 when r1c_eval_batch runs this model's sequences together */
int r1c_model_batches_sequences(const r1c_model *m);
/* Logits row i of the last r1c_eval (i = -1: the last token); NULL if not kept. */
const float *r1c_logits(const r1c_ctx *c, int i);

/* -------------------------------------------------------------- sampler */

typedef struct r1c_sampler r1c_sampler;

typedef struct r1c_sampler_params {
    float temperature; /* 0: greedy (argmax; lowest id on ties) */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off. Keeps the smallest set of most likely tokens reaching top_p */
    float min_p;       /* 0: off. Keeps tokens with p >= min_p * p_max */
    uint64_t seed;
} r1c_sampler_params;

/* DeepSeek's recommendation for R1: temperature 0.6, top-p 0.95, seed 0. */
r1c_sampler_params r1c_sampler_default_params(void);
r1c_status r1c_sampler_new(const r1c_sampler_params *params, int n_vocab, r1c_sampler **out);
void r1c_sampler_free(r1c_sampler *s);
/* Picks the next token from one row of logits (n_vocab floats). */
int32_t r1c_sampler_sample(r1c_sampler *s, const float *logits);

/* ------------------------------------------------------------ tokenizer */

/* A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json): byte-level BPE as used by
 * DeepSeek-V3/R1, Qwen2/2.5/3 (R1-Distill-Qwen) and Llama 3 (R1-Distill-Llama). Read-only once
 * loaded: any number of threads may encode and decode with one tokenizer. */
r1c_status r1c_tokenizer_load(const char *dir, r1c_tokenizer **out);
void r1c_tokenizer_free(r1c_tokenizer *t);

enum {
    R1C_TOK_ADD_SPECIAL = 1,      /* add BOS/EOS as the post-processor says (add_special_tokens) */
    R1C_TOK_REPLACE_INVALID = 2,  /* invalid UTF-8 becomes U+FFFD instead of an error */
    R1C_TOK_NO_PARSE_SPECIAL = 4, /* special-token text in the input stays text */
};
/* Encodes len bytes of UTF-8; *ids is malloc'd (free()). */
r1c_status r1c_tokenize(const r1c_tokenizer *t, const char *text, size_t len, int flags,
                        int32_t **ids, int *n_ids);

enum {
    R1C_DETOK_SKIP_SPECIAL = 1, /* leave out special tokens */
    R1C_DETOK_CLEAN_UP = 2,     /* transformers' clean_up_tokenization_spaces (" ." -> ".") */
};
/* Decodes ids to UTF-8 (a malformed byte sequence becomes U+FFFD); *out is malloc'd. */
r1c_status r1c_detokenize(const r1c_tokenizer *t, const int32_t *ids, int n, int flags,
                          char **out, size_t *out_len);

int r1c_tokenizer_n_vocab(const r1c_tokenizer *t);
/* The bytes a token stands for (not NUL-terminated; may be part of a character). */
const char *r1c_token_bytes(const r1c_tokenizer *t, int32_t id, size_t *len);
int r1c_token_is_special(const r1c_tokenizer *t, int32_t id);
/* Id of an added token or vocabulary entry given its text ("<think>"), or -1. */
int32_t r1c_token_id(const r1c_tokenizer *t, const char *text);
int32_t r1c_tokenizer_bos(const r1c_tokenizer *t); /* from tokenizer_config.json; -1 if none */
int32_t r1c_tokenizer_eos(const r1c_tokenizer *t);

/* Streaming decode: text comes out as tokens arrive, but a character split across tokens is
 * held back until it is whole. */
typedef struct r1c_detok_stream r1c_detok_stream;
r1c_status r1c_detok_stream_new(const r1c_tokenizer *t, int flags, r1c_detok_stream **out);
/* The text completed by this token (valid UTF-8, *len bytes, valid until the next call). */
const char *r1c_detok_stream_push(r1c_detok_stream *s, int32_t id, size_t *len);
/* What is held back, at the end (an unfinished character becomes U+FFFD). */
const char *r1c_detok_stream_flush(r1c_detok_stream *s, size_t *len);
void r1c_detok_stream_free(r1c_detok_stream *s);

/* ---------------------------------------------------------- chat template */

typedef struct r1c_chat_msg {
    const char *role;    /* "system", "user", "assistant", "tool" */
    const char *content;
} r1c_chat_msg;

/* Renders the tokenizer's chat_template (tokenizer_config.json) for messages, as transformers'
 * apply_chat_template does (bos_token / eos_token / pad_token from the config). extra_json:
 * NULL or a JSON object with more template variables ({"enable_thinking": false}, tools).
 * *out is malloc'd. R1C_ERR_MISSING if the tokenizer has no chat template. */
r1c_status r1c_chat_render(const r1c_tokenizer *t, const r1c_chat_msg *msgs, int n,
                           int add_generation_prompt, const char *extra_json, char **out,
                           size_t *out_len);
/* The general form: ctx_json is the whole variable object ({"messages": [...], ...}; messages
 * may carry tool_calls, reasoning_content, ...). */
r1c_status r1c_chat_render_json(const r1c_tokenizer *t, const char *ctx_json, char **out,
                                size_t *out_len);
int r1c_tokenizer_has_chat_template(const r1c_tokenizer *t);
/* 1 when a rendered generation prompt should get "<think>\n" appended, as DeepSeek advises for
 * R1: the template is R1's (it strips earlier turns' reasoning at </think>) and the prompt
 * ends at the assistant tag without opening the reasoning itself. */
int r1c_chat_wants_think(const r1c_tokenizer *t, const char *prompt, size_t len);
/* A rendered prompt (malloc'ed *text of *len bytes) made ready to generate from: "<think>\n" is
 * appended when think is 1, or when think is -1 and r1c_chat_wants_think says so (the prompt may
 * be reallocated). *in_reasoning (may be NULL): the prompt ends inside an open <think>, so the
 * model's first tokens are reasoning. */
r1c_status r1c_chat_open_think(const r1c_tokenizer *t, char **text, size_t *len, int think, int *in_reasoning);

/* -------------------------------------------------------------- reasoning */

/* Splits R1's output into reasoning (between <think> and </think>) and answer, on streamed
 * text: tags may arrive cut across chunks; the tags themselves are dropped. Start with
 * in_reasoning = 1 when the prompt already opened <think> (as r1c does for R1). */
typedef enum { R1C_TEXT_REASONING = 1, R1C_TEXT_ANSWER = 2 } r1c_text_kind;
typedef void (*r1c_text_cb)(r1c_text_kind kind, const char *text, size_t len, void *user);
typedef struct r1c_think_split r1c_think_split;
r1c_status r1c_think_split_new(int in_reasoning, r1c_think_split **out);
void r1c_think_split_feed(r1c_think_split *s, const char *text, size_t len, r1c_text_cb cb, void *user);
void r1c_think_split_flush(r1c_think_split *s, r1c_text_cb cb, void *user);
void r1c_think_split_free(r1c_think_split *s);

/* ----------------------------------------------------------- generation */

/* Called with each generated token; return non-zero to stop. */
typedef int (*r1c_token_cb)(int32_t token, void *user);

typedef struct r1c_gen_stats {
    int n_prompt, n_gen;
    double prompt_seconds, gen_seconds;
    int stopped_by_eos;
    int stopped_by_context; /* the context filled up before max_new */
} r1c_gen_stats;

/* Evaluates the prompt, then samples up to max_new tokens, stopping at an EOS id (which is
 * passed to the callback too), when the callback returns non-zero, or when the context is
 * full (stats->stopped_by_context; still R1C_OK). stats may be NULL. */
r1c_status r1c_generate(r1c_ctx *c, r1c_sampler *s, const int32_t *prompt, int n_prompt,
                        int max_new, r1c_token_cb cb, void *user, r1c_gen_stats *stats);

/* ---------------------------------------------------------------- misc */

/* The kernel set picked for this CPU ("avx512", "avx2", "generic"). */
const char *r1c_kernel_isa(void);
/* Forces a kernel set by name (tests and benchmarks); returns R1C_ERR_UNSUPPORTED if this
 * CPU cannot run it. Not thread-safe: call before creating contexts. */
r1c_status r1c_force_kernel_isa(const char *name);
int r1c_default_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* R1C_H */
