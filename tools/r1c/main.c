/* main.c — r1c, the command-line tool: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "r1c %s — DeepSeek-R1 models in C\n"
            "\n"
            "usage: r1c COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run       generate from a model:  r1c run -m DIR \"Why is the sky blue?\" [-n N] [--temp T]\n"
            "  chat      a multi-turn conversation that keeps the KV cache:  r1c chat -m DIR\n"
            "  serve     an OpenAI-compatible HTTP server with a chat page:  r1c serve -m DIR --port 8080\n"
            "  tokenize  text to ids and pieces:  r1c tokenize -m DIR TEXT  (or --jsonl on stdin)\n"
            "  tokenizer train a byte-level BPE tokenizer:  r1c tokenizer train --vocab-size N --out DIR FILE...\n"
            "  info      architecture, config, parameters, tensors, memory:  r1c info -m DIR\n"
            "  logits    raw float32 logits for a token sequence:  r1c logits -m DIR --ids ... --out FILE\n"
            "  bench     prompt and generation speed (llama-bench fields):  r1c bench -m DIR -p 512 -n 128\n"
            "  perplexity  perplexity of a text file (llama-perplexity's protocol):  r1c perplexity -m DIR -f FILE [-c 512]\n"
            "  convert   Hugging Face directory <-> GGUF file (llama.cpp's converter):  r1c convert IN OUT [--outtype bf16]\n"
            "  quantize  a model to a GGUF file of one type (llama-quantize's recipes):  r1c quantize IN OUT Q4_K_M\n"
            "  data      synthetic reasoning data with verifiable answers:  r1c data gen --task countdown --n 1000 --out F.jsonl\n"
            "  train     train a model (AdamW, checkpoints r1c runs, exact --resume):  r1c train --config train.json\n"
            "  finetune  fine-tune a model, or train a LoRA adapter:  r1c finetune -m BASE --data F.jsonl --out DIR --lora-r 16\n"
            "  eval      held-out accuracy by level (greedy, pass@1):  r1c eval -m DIR --task arithmetic --levels 1-8\n"
            "  rl        GRPO with rule-based rewards (R1-Zero):  r1c rl --config grpo.json\n"
            "  lora      merge a PEFT LoRA adapter into a model:  r1c lora merge -m BASE --lora DIR --out OUT\n"
            "  dev       developer tools (make-model: random weights of real shapes)\n"
            "\n"
            "Run `r1c COMMAND --help` for the options of one command.\n",
            r1c_version());
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("r1c %s (kernels: %s)\n", r1c_version(), r1c_kernel_isa());
        return 0;
    }
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "logits")) return cmd_logits(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenizer")) return cmd_tokenizer(argc - 1, argv + 1);
    if (!strcmp(cmd, "dev")) return cmd_dev(argc - 1, argv + 1);
    if (!strcmp(cmd, "data")) return cmd_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "finetune")) return cmd_finetune(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "rl")) return cmd_rl(argc - 1, argv + 1);
    if (!strcmp(cmd, "lora")) return cmd_lora(argc - 1, argv + 1);
    fprintf(stderr, "r1c: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
