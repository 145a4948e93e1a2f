/* fuzz_hf_config.c — libFuzzer target for config.json parsing.
 *
 * An accepted config must satisfy what the model code relies on without checking again
 * (positive sizes, even head_dim, heads divisible by KV heads, terminated strings, at most
 * R1C_MAX_EOS distinct ids); a rejected one must leave a message. Anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/hf_config.h"
#include "r1c.h"

static int terminated(const char *s, size_t cap) { return memchr(s, 0, cap) != NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    r1c_hf_config c;
    r1c_status st = r1c_hf_config_parse((const char *)data, size, "config.json", &c);
    if (st != R1C_OK) {
        if (!r1c_last_error()[0]) abort();
        return 0;
    }
    /* strings may be empty ("model_type": "" is for the model loader to refuse) */
    if (!terminated(c.model_type, sizeof c.model_type) ||
        !terminated(c.architecture, sizeof c.architecture) ||
        !terminated(c.torch_dtype, sizeof c.torch_dtype) ||
        !terminated(c.hidden_act, sizeof c.hidden_act))
        abort();
    if (c.vocab_size < 1 || c.hidden_size < 1 || c.intermediate_size < 1 ||
        c.num_hidden_layers < 1 || c.num_attention_heads < 1 || c.num_key_value_heads < 1 ||
        c.max_position_embeddings < 1)
        abort();
    if (c.head_dim < 2 || c.head_dim % 2 || c.num_attention_heads % c.num_key_value_heads) abort();
    if (!(c.rms_norm_eps >= 0) || !(c.rope_theta > 0)) abort();
    if (c.n_eos < 0 || c.n_eos > R1C_MAX_EOS) abort();
    for (int i = 0; i < c.n_eos; i++) {
        if (c.eos_token_id[i] < 0) abort();
        for (int j = 0; j < i; j++)
            if (c.eos_token_id[i] == c.eos_token_id[j]) abort();
    }
    if (c.rope_scaling.type == R1C_ROPE_LLAMA3 &&
        !(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor &&
          c.rope_scaling.low_freq_factor > 0 && c.rope_scaling.factor > 0 &&
          c.rope_scaling.original_max_position_embeddings >= 1))
        abort();
    if (c.rope_scaling.type == R1C_ROPE_LINEAR && !(c.rope_scaling.factor > 0)) abort();
    return 0;
}
