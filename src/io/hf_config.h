/* hf_config.h — config.json (Hugging Face names) and generation_config.json. */
#ifndef R1C_IO_HF_CONFIG_H
#define R1C_IO_HF_CONFIG_H

#include <stddef.h>

#include "r1c.h"

enum { R1C_ROPE_NONE = 0, R1C_ROPE_LLAMA3, R1C_ROPE_LINEAR, R1C_ROPE_YARN };
enum { R1C_SCORE_SOFTMAX = 0, R1C_SCORE_SIGMOID };
enum { R1C_TOPK_GREEDY = 0, R1C_TOPK_GROUP_LIMITED, R1C_TOPK_NOAUX_TC };

#define R1C_MAX_EOS 8

typedef struct r1c_hf_config {
    char model_type[32];
    char architecture[64];   /* architectures[0], "" if absent */
    char torch_dtype[16];
    char hidden_act[16];
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int num_key_value_heads;
    int head_dim;
    int max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    int tie_word_embeddings;
    int attention_bias;      /* q/k/v (and o for llama) biases */
    int qkv_bias;            /* q/k/v biases present */
    int o_bias;
    int mlp_bias;
    struct {
        int type;            /* R1C_ROPE_* */
        double factor, low_freq_factor, high_freq_factor;
        double original_max_position_embeddings;
        double beta_fast, beta_slow, mscale, mscale_all_dim; /* yarn */
    } rope_scaling;
    /* DeepSeek V2 / V3 (MLA + DeepSeekMoE); zero for dense models */
    int is_deepseek;
    int q_lora_rank;           /* 0: no q compression (q_proj) */
    int kv_lora_rank;
    int qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    int n_routed_experts, n_shared_experts, num_experts_per_tok;
    int moe_intermediate_size;
    int first_k_dense_replace, moe_layer_freq;
    int n_group, topk_group;
    int topk_method;           /* R1C_TOPK_* */
    int scoring_func;          /* R1C_SCORE_* */
    int norm_topk_prob;
    double routed_scaling_factor;
    int num_nextn_predict_layers;
    int fp8_block[2];          /* quantization_config.weight_block_size; 0 if not FP8 */
    int bos_token_id;        /* -1 if none */
    int n_eos;
    int eos_token_id[R1C_MAX_EOS];
} r1c_hf_config;

/* Parses config.json text; `path` names the file in messages. */
r1c_status r1c_hf_config_parse(const char *json, size_t len, const char *path, r1c_hf_config *out);
r1c_status r1c_hf_config_load(const char *dir, r1c_hf_config *out);
/* Adds eos_token_id (int or list) from DIR/generation_config.json when present. */
r1c_status r1c_hf_generation_config_load(const char *dir, r1c_hf_config *cfg);

#endif
