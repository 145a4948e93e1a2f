/* cmd_convert.c — `r1c convert` (Hugging Face directory <-> GGUF file, as llama.cpp's
 * convert_hf_to_gguf.py writes them) and `r1c quantize` (llama-quantize's recipes). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "model/convert.h"

static const char *CONVERT_USAGE =
    "usage: r1c convert IN OUT [--outtype f32|f16|bf16|q8_0|auto] [--name NAME] [--pre NAME] [-t N] [-v]\n"
    "  IN a Hugging Face directory (Qwen2 / Llama / DeepSeek-V2/V3, FP8 included) -> OUT a .gguf file\n"
    "     (--outtype: the >= 2-D weights; default auto = bf16, or f16 for an f16 checkpoint;\n"
    "      --name: general.name; --pre: tokenizer.ggml.pre instead of the one derived from tokenizer.json)\n"
    "  IN a .gguf file -> OUT a Hugging Face directory (--outtype f32|f16|bf16 for every tensor;\n"
    "     default: F32/F16/BF16 tensors kept, block formats dequantised to bf16)\n";

static const char *QUANTIZE_USAGE =
    "usage: r1c quantize IN OUT TYPE [-t N] [-v]\n"
    "  IN a Hugging Face directory or a .gguf file -> OUT a .gguf file\n"
    "  TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_K_S Q4_K_M Q6_K (llama.cpp's llama-quantize recipes)\n";

static void log_line(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "%s\n", line);
}

static void summary(const char *out, const r1c_convert_stats *s) {
    printf("wrote %s: %d tensors, %.1f MB -> %.1f MB in %.2f s\n", out, s->n_tensors, (double)s->in_bytes / 1e6,
           (double)s->out_bytes / 1e6, s->seconds);
}

/* the options both commands share; returns 0 (handled), 1 (not ours), -1 (bad: message printed) */
static int common_opt(const char *cmd, int argc, char **argv, int *i, r1c_convert_params *p) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
        p->verbose = 1;
        return 0;
    }
    if (strcmp(a, "-t") && strcmp(a, "--threads")) return 1;
    if (!(v = cli_value(cmd, argc, argv, i, "-t --threads"))) return -1;
    long t;
    if (!cli_int(cmd, a, v, 1, 1024, &t)) return -1;
    p->n_threads = (int)t;
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *C = "convert", *pos[2] = {NULL, NULL};
    int n_pos = 0;
    r1c_convert_params p = {.outtype = R1C_DTYPE_COUNT, .log = log_line};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(CONVERT_USAGE, stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (n_pos == 2) {
                cli_fail(C, "unexpected argument '%s'", a);
                fputs(CONVERT_USAGE, stderr);
                return 2;
            }
            pos[n_pos++] = a;
            continue;
        }
        int r = common_opt(C, argc, argv, &i, &p);
        if (r < 0) return 2;
        if (r == 0) continue;
        if (!(v = cli_value(C, argc, argv, &i, "--outtype --name --pre"))) return 2;
        if (!strcmp(a, "--outtype")) {
            if (!strcasecmp(v, "f32")) p.outtype = R1C_F32;
            else if (!strcasecmp(v, "f16")) p.outtype = R1C_F16;
            else if (!strcasecmp(v, "bf16")) p.outtype = R1C_BF16;
            else if (!strcasecmp(v, "q8_0")) p.outtype = R1C_Q8_0;
            else if (!strcasecmp(v, "auto")) p.outtype = R1C_DTYPE_COUNT;
            else {
                cli_fail(C, "--outtype must be f32, f16, bf16, q8_0 or auto, got '%s'", v);
                return 2;
            }
        } else if (!strcmp(a, "--name")) {
            p.name = v;
        } else {
            p.tokenizer_pre = v;
        }
    }
    if (n_pos != 2) {
        fputs(CONVERT_USAGE, stderr);
        return 2;
    }
    r1c_convert_stats s;
    if (r1c_convert(pos[0], pos[1], &p, &s) != R1C_OK) return cli_fail(C, "%s", r1c_last_error());
    summary(pos[1], &s);
    return 0;
}

int cmd_quantize(int argc, char **argv) {
    const char *C = "quantize", *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0;
    r1c_convert_params p = {.outtype = R1C_DTYPE_COUNT, .log = log_line};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(QUANTIZE_USAGE, stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (n_pos == 3) {
                cli_fail(C, "unexpected argument '%s'", a);
                fputs(QUANTIZE_USAGE, stderr);
                return 2;
            }
            pos[n_pos++] = a;
            continue;
        }
        int r = common_opt(C, argc, argv, &i, &p);
        if (r < 0) return 2;
        if (r > 0) {
            cli_fail(C, "unknown option '%s'", a);
            fputs(QUANTIZE_USAGE, stderr);
            return 2;
        }
    }
    if (n_pos != 3) {
        fputs(QUANTIZE_USAGE, stderr);
        return 2;
    }
    r1c_ftype t;
    if (!r1c_ftype_parse(pos[2], &t)) {
        cli_fail(C, "unknown type '%s' (F32 F16 BF16 Q8_0 Q4_0 Q4_K_S Q4_K_M Q6_K)", pos[2]);
        return 2;
    }
    r1c_convert_stats s;
    if (r1c_quantize_model(pos[0], pos[1], t, &p, &s) != R1C_OK) return cli_fail(C, "%s", r1c_last_error());
    summary(pos[1], &s);
    return 0;
}
