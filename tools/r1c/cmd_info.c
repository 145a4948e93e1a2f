/* cmd_info.c — `r1c info`: what a checkpoint is and what running it costs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *USAGE = "usage: r1c info -m DIR [-c CTX] [--mmap] [--no-tensors]\n";

static void human(char *buf, size_t n, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) bytes /= 1024, i++;
    snprintf(buf, n, "%.2f %s", bytes, u[i]);
}

int cmd_info(int argc, char **argv) {
    const char *C = "info", *dir = NULL;
    int use_mmap = 0, tensors = 1;
    long n_ctx = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--mmap")) {
            use_mmap = 1;
        } else if (!strcmp(a, "--no-tensors")) {
            tensors = 0;
        } else if (!(v = cli_value(C, argc, argv, &i, "-m --model -c"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            dir = v;
        } else if (!strcmp(a, "-c")) {
            if (!cli_int(C, a, v, 1, 1 << 30, &n_ctx)) return 2;
        } else {
            cli_fail(C, "unknown option '%s'", a);
            return 2;
        }
    }
    r1c_model *m = cli_load(C, dir, use_mmap);
    if (!m) return 1;
    r1c_model_info in;
    r1c_model_get_info(m, &in);
    if (n_ctx == 0) n_ctx = in.max_position < 4096 ? in.max_position : 4096;
    char b1[32], b2[32], b3[32], b4[32];
    printf("model         %s\n", dir);
    printf("architecture  %s\n", in.model_type);
    printf("layers        %d\n", in.n_layer);
    printf("hidden        %d\n", in.n_embd);
    printf("ffn           %d\n", in.n_ff);
    printf("heads         %d (kv %d, head_dim %d)\n", in.n_head, in.n_head_kv, in.head_dim);
    printf("vocab         %d\n", in.n_vocab);
    printf("context       %d (max_position_embeddings)\n", in.max_position);
    printf("rope          theta %g, scaling %s\n", in.rope_theta, in.rope_scaling);
    printf("rms_norm_eps  %g\n", in.rms_eps);
    printf("embeddings    %s\n", in.tied_embeddings ? "tied (lm_head = embed_tokens)" : "untied");
    printf("bos / eos     %d /", in.bos_id);
    for (int i = 0; i < in.n_eos; i++) printf(" %d", in.eos_ids[i]);
    printf("\n");
    printf("parameters    %lld (%.3f B)\n", (long long)in.n_params, in.n_params / 1e9);
    human(b1, sizeof b1, (double)in.weight_bytes);
    human(b2, sizeof b2, (double)in.decode_bytes);
    human(b3, sizeof b3, (double)in.kv_bytes_per_token);
    human(b4, sizeof b4, (double)in.kv_bytes_per_token * (double)n_ctx);
    printf("weights       %s (%lld bytes), %s read per generated token\n", b1, (long long)in.weight_bytes, b2);
    printf("kv cache      %s per token (f32), %s for %ld tokens\n", b3, b4, n_ctx);
    if (in.mla) {
        char c1[32], c2[32];
        human(c1, sizeof c1, (double)in.kv_bytes_per_token_bf16);
        human(c2, sizeof c2, (double)in.kv_bytes_expanded_bf16);
        printf("attention     MLA: the cache keeps the latent (kv_lora_rank %d) + the rope key (%d) per token and layer:\n"
               "              %s per token in bf16, against %s for the %d heads' full keys and values\n",
               in.kv_lora_rank, in.qk_rope_head_dim, c1, c2, in.n_head);
        if (in.n_experts)
            printf("experts       %d routed (%d per token) + %d shared\n", in.n_experts, in.n_experts_used, in.n_shared_experts);
        printf("mtp           %d next-token-prediction layer(s) in config.json, %d loaded\n", in.n_mtp_declared, in.n_mtp_layers);
        if (in.fp8) printf("weights dtype FP8 e4m3 with block scales (weight_scale_inv)\n");
    }
    human(b4, sizeof b4, (double)in.weight_bytes + (double)in.kv_bytes_per_token * (double)n_ctx);
    printf("memory need   %s + activations (weights + cache at %ld tokens; loaded with %s)\n", b4, n_ctx,
           in.use_mmap ? "mmap" : "read into anonymous memory");
    printf("kernels       %s\n", r1c_kernel_isa());
    if (in.n_packed) printf("layout        %d Q8_0/Q4_0/Q4_K/Q6_K matrices rows interleaved by 16 at load (R1C_PACK=0: as stored)\n", in.n_packed);
    if (tensors) {
        printf("\n%-5s %-56s %-5s %s\n", "#", "tensor", "dtype", "shape");
        for (int i = 0; i < r1c_model_n_tensors(m); i++) {
            const char *name, *dt;
            int64_t sh[8];
            int nd = r1c_model_tensor(m, i, &name, &dt, sh);
            printf("%-5d %-56s %-5s [", i, name, dt);
            for (int d = 0; d < nd; d++) printf("%s%lld", d ? ", " : "", (long long)sh[d]);
            printf("]\n");
        }
    }
    r1c_model_free(m);
    return 0;
}
