/* cli.c — option parsing and messages shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>
#include "base/file.h"

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "r1c %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_fail(cmd, "%s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        cli_fail(cmd, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        cli_fail(cmd, "%s expects a non-negative integer, got '%s'", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_int_list(const char *cmd, const char *opt, const char *s, long lo, long hi, int **vals, int *n) {
    *vals = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',' || *p == ' '; /* (the separators strtok_r splits on) */
    int *v = malloc(sizeof *v * cap);
    char *copy = strdup(s);
    if (!v || !copy) {
        free(v), free(copy);
        cli_fail(cmd, "out of memory");
        return 0;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        long x;
        if (!cli_int(cmd, opt, tok, lo, hi, &x)) {
            free(v), free(copy);
            return 0;
        }
        v[(*n)++] = (int)x;
    }
    free(copy);
    if (*n == 0) {
        free(v);
        cli_fail(cmd, "%s expects a comma-separated list, got '%s'", opt, s);
        return 0;
    }
    *vals = v;
    return 1;
}

int cli_ids(const char *cmd, const char *opt, const char *s, int32_t **ids, int *n) {
    int *v;
    if (!cli_int_list(cmd, opt, s, 0, INT32_MAX, &v, n)) return 0;
    *ids = (int32_t *)v; /* int and int32_t are the same width on every platform r1c builds for */
    return 1;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i, const char *valued) {
    const char *a = argv[*i];
    size_t n = strlen(a);
    int known = 0;
    for (const char *p = valued; n && (p = strstr(p, a)); p += n)
        if ((p == valued || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) known = 1;
    if (!known) {
        cli_fail(cmd, "unknown option '%s' (see r1c %s --help)", a, cmd);
        return NULL;
    }
    if (*i + 1 >= argc) {
        cli_fail(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

r1c_model *cli_load(const char *cmd, const char *dir, int use_mmap) { return cli_load_lora(cmd, dir, use_mmap, NULL); }

/* The model used without -m: $R1C_MODEL, else the one shipped in the repo (models/, found next to
 * the source tree this binary was built from, or next to the binary: ../models, ../../models). */
const char *cli_default_model(void) {
    static char path[4096];
    const char *env = getenv("R1C_MODEL");
    if (env && *env) return env;
#ifdef R1C_SOURCE_DIR
    snprintf(path, sizeof path, "%s/models/%s", R1C_SOURCE_DIR, R1C_DEFAULT_MODEL_FILE);
    if (access(path, R_OK) == 0) return path;
#endif
    char exe[2048];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        static const char *up[] = {"..", "../.."};
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/%s/models/%s", exe, up[i], R1C_DEFAULT_MODEL_FILE);
            if (access(path, R_OK) == 0) return path;
        }
    }
    return NULL;
}

r1c_model *cli_load_lora(const char *cmd, const char *dir, int use_mmap, const char *lora_dir) {
    if (!dir && !(dir = cli_default_model())) {
        cli_fail(cmd, "no model: pass -m DIR (a Hugging Face directory or a .gguf file), or set R1C_MODEL "
                      "(the repo's default, models/%s, was not found)", R1C_DEFAULT_MODEL_FILE);
        return NULL;
    }
    r1c_load_params lp = {.use_mmap = use_mmap, .lora_dir = lora_dir};
    r1c_model *m = NULL;
    if (r1c_model_load(dir, &lp, &m) != R1C_OK) {
        cli_fail(cmd, "%s", r1c_last_error());
        return NULL;
    }
    return m;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int32_t *cli_prompt_ids(const char *cmd, const r1c_tokenizer *tok, const r1c_chat_msg *msgs, int n, int raw,
                        int think, int *n_ids, int *in_reasoning, int verbose) {
    char *text = NULL;
    size_t len = 0;
    int flags = 0;
    *in_reasoning = 0;
    if (!raw && !r1c_tokenizer_has_chat_template(tok)) {
        if (verbose) fprintf(stderr, "r1c %s: the tokenizer has no chat template: the prompt is used as it is\n", cmd);
        raw = 1;
    }
    if (raw) {
        const char *last = n > 0 ? msgs[n - 1].content : "";
        text = strdup(last);
        len = strlen(last);
        flags = R1C_TOK_ADD_SPECIAL;
    } else if (r1c_chat_render(tok, msgs, n, 1, NULL, &text, &len) != R1C_OK) {
        cli_fail(cmd, "chat template: %s", r1c_last_error());
        return NULL;
    }
    if (!text) {
        cli_fail(cmd, "out of memory");
        return NULL;
    }
    if (r1c_chat_open_think(tok, &text, &len, raw && think == -1 ? 0 : think, in_reasoning) != R1C_OK) {
        cli_fail(cmd, "%s", r1c_last_error());
        free(text);
        return NULL;
    }
    int32_t *ids;
    if (r1c_tokenize(tok, text, len, flags, &ids, n_ids) != R1C_OK) {
        cli_fail(cmd, "%s", r1c_last_error());
        ids = NULL;
    }
    free(text);
    return ids;
}

int cli_copy_file(const char *from, const char *to) {
    size_t n;
    char *d = cli_read_file(from, &n);
    if (!d) return 0;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(d, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    free(d);
    return ok;
}

char *cli_read_file(const char *path, size_t *len) {
    char *out = NULL;
    return r1c_read_small_file(path, (size_t)1 << 40, &out, len) == R1C_OK ? out : NULL;
}
