/* cmd_logits.c — `r1c logits`: raw little-endian float32 logits, row-major [n_tokens x vocab],
 * no header. prefill = one batched forward over all ids; decode = one token at a time through
 * the KV cache. A stable interface: golden tests and debugging use it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *USAGE =
    "usage: r1c logits -m DIR --ids 1,2,3 --out FILE [--mode prefill|decode] [-t N] [--mmap] [--lora DIR]\n";

static int write_rows(FILE *f, const float *row, int n) {
    /* files are little-endian whatever the host */
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe == 1) return fwrite(row, sizeof(float), (size_t)n, f) == (size_t)n;
    for (int i = 0; i < n; i++) {
        uint8_t b[4];
        memcpy(b, &row[i], 4);
        uint8_t r[4] = {b[3], b[2], b[1], b[0]};
        if (fwrite(r, 1, 4, f) != 4) return 0;
    }
    return 1;
}

int cmd_logits(int argc, char **argv) {
    const char *C = "logits", *dir = NULL, *lora = NULL, *ids_s = NULL, *out = NULL, *mode = "prefill";
    long threads = 0;
    int use_mmap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--mmap")) {
            use_mmap = 1;
        } else if (!(v = cli_value(C, argc, argv, &i, "-m --model --ids --out -o --mode -t --lora"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            dir = v;
        } else if (!strcmp(a, "--lora")) {
            lora = v;
        } else if (!strcmp(a, "--ids")) {
            ids_s = v;
        } else if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            out = v;
        } else if (!strcmp(a, "--mode")) {
            mode = v;
        } else if (!strcmp(a, "-t")) {
            if (!cli_int(C, a, v, 1, 512, &threads)) return 2;
        } else {
            cli_fail(C, "unknown option '%s'", a);
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (!ids_s || !out) {
        fputs(USAGE, stderr);
        return 2;
    }
    int prefill = !strcmp(mode, "prefill");
    if (!prefill && strcmp(mode, "decode")) return cli_fail(C, "--mode must be prefill or decode, got '%s'", mode);
    int32_t *ids;
    int n;
    if (!cli_ids(C, "--ids", ids_s, &ids, &n)) return 2;
    r1c_model *m = cli_load_lora(C, dir, use_mmap, lora);
    if (!m) {
        free(ids);
        return 1;
    }
    int rc = 1, V = r1c_model_n_vocab(m);
    r1c_ctx *c = NULL;
    FILE *f = NULL;
    r1c_ctx_params cp = {.n_ctx = n, .n_threads = (int)threads, .n_batch = n};
    if (r1c_ctx_new(m, &cp, &c) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    if (!(f = fopen(out, "wb"))) {
        cli_fail(C, "%s: cannot create", out);
        goto done;
    }
    if (prefill) {
        if (r1c_eval(c, ids, n, 1) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
        for (int i = 0; i < n; i++)
            if (!write_rows(f, r1c_logits(c, i), V)) goto write_err;
    } else {
        for (int i = 0; i < n; i++) {
            if (r1c_eval(c, ids + i, 1, 0) != R1C_OK) {
                cli_fail(C, "%s", r1c_last_error());
                goto done;
            }
            if (!write_rows(f, r1c_logits(c, -1), V)) goto write_err;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto write_err;
    }
    f = NULL;
    rc = 0;
    goto done;
write_err:
    cli_fail(C, "%s: write failed", out);
done:
    if (f) fclose(f);
    free(ids);
    r1c_ctx_free(c);
    r1c_model_free(m);
    return rc;
}
