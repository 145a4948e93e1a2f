/* cmd_lora.c — `r1c lora merge`: a PEFT LoRA adapter folded into a copy of its base model. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: r1c lora merge -m BASE --lora DIR --out OUT\n"
    "  Writes OUT (created; its parent must exist) as a plain model: W + scale * B A for every\n"
    "  matrix the adapter adapts, in the base's dtype, all else copied, with config.json,\n"
    "  generation_config.json and the tokenizer files. BASE must be a Hugging Face directory of\n"
    "  F32 / BF16 / F16 weights (a GGUF file or quantised weights: apply with --lora instead).\n"
    "  To run an adapter unmerged: r1c run|chat|serve|logits -m BASE --lora DIR\n";

static int merge(int argc, char **argv) {
    const char *C = "lora merge", *base = NULL, *lora = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!(v = cli_value(C, argc, argv, &i, "-m --model --lora --out -o"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            base = v;
        } else if (!strcmp(a, "--lora")) {
            lora = v;
        } else {
            out = v;
        }
    }
    if (!base || !lora || !out) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (r1c_lora_merge(base, lora, out) != R1C_OK) return cli_fail(C, "%s", r1c_last_error());
    fprintf(stderr, "r1c %s: wrote %s\n", C, out);
    return 0;
}

int cmd_lora(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "merge")) return merge(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    return 2;
}
