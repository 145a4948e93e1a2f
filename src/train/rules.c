/* rules.c — forbidden-pattern rules (see rules.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "train/rules.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct r1c_rules {
    int n;
    pcre2_code **re;
    char **src;
    pcre2_match_context *mc;
};

void r1c_rules_free(r1c_rules *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) pcre2_code_free(r->re[i]), free(r->src[i]);
    pcre2_match_context_free(r->mc);
    free(r->re), free(r->src), free(r);
}

r1c_status r1c_rules_new(const char *const *patterns, int n, const char *what, r1c_rules **out) {
    *out = NULL;
    if (n < 0) return r1c_error(R1C_ERR_INVALID_ARG, "%s: %d rules", what, n);
    r1c_rules *r = calloc(1, sizeof *r);
    if (r) r->re = calloc((size_t)n + 1, sizeof *r->re), r->src = calloc((size_t)n + 1, sizeof *r->src), r->mc = pcre2_match_context_create(NULL);
    if (!r || !r->re || !r->src || !r->mc) return r1c_rules_free(r), r1c_error(R1C_ERR_NOMEM, "%s: out of memory", what);
    /* a hostile pattern (nested quantifiers, back references) gives up instead of running for ever */
    pcre2_set_match_limit(r->mc, 1000000);
    pcre2_set_depth_limit(r->mc, 10000);
    for (int i = 0; i < n; i++) {
        int err;
        PCRE2_SIZE at;
        /* MATCH_INVALID_UTF: a model's output may hold broken UTF-8; it is matched, not refused */
        r->re[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err,
                                 &at, NULL);
        if (!r->re[i]) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            r1c_rules_free(r);
            return r1c_error(R1C_ERR_FORMAT, "%s: rule %d: bad pattern at offset %zu: %s", what, i + 1, (size_t)at, (char *)msg);
        }
        r->n = i + 1;
        pcre2_jit_compile(r->re[i], PCRE2_JIT_COMPLETE); /* (the interpreter if JIT is absent) */
        if (!(r->src[i] = strdup(patterns[i]))) return r1c_rules_free(r), r1c_error(R1C_ERR_NOMEM, "%s: out of memory", what);
    }
    *out = r;
    return R1C_OK;
}

r1c_status r1c_rules_load(const char *path, r1c_rules **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return r1c_error(R1C_ERR_IO, "%s: cannot open", path);
    char **pat = NULL, *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    int n = 0, cap = 0, lineno = 0;
    r1c_status st = R1C_OK;
    while (st == R1C_OK && (got = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (strlen(line) != len) {
            st = r1c_error(R1C_ERR_FORMAT, "%s: line %d: a NUL byte", path, lineno);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        if (n == cap) {
            char **p = realloc(pat, sizeof *p * (size_t)(cap = cap ? 2 * cap : 8));
            if (!p) {
                st = r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            pat = p;
        }
        if (!(pat[n] = strdup(line))) st = r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
        else n++;
    }
    free(line);
    if (st == R1C_OK && ferror(f)) st = r1c_error(R1C_ERR_IO, "%s: read error", path);
    fclose(f);
    if (st == R1C_OK) st = r1c_rules_new((const char *const *)pat, n, path, out);
    for (int i = 0; i < n; i++) free(pat[i]);
    free(pat);
    return st;
}

int r1c_rules_count(const r1c_rules *r) { return r ? r->n : 0; }

const char *r1c_rules_pattern(const r1c_rules *r, int i) { return r && i >= 0 && i < r->n ? r->src[i] : NULL; }

r1c_status r1c_rules_check(const r1c_rules *r, const char *text, size_t len, int *n_broken) {
    *n_broken = 0;
    for (int i = 0; r && i < r->n; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->re[i], NULL);
        if (!md) return r1c_error(R1C_ERR_NOMEM, "rules: out of memory");
        const int rc = pcre2_match(r->re[i], (PCRE2_SPTR)text, len, 0, 0, md, r->mc);
        pcre2_match_data_free(md);
        if (rc >= 0) ++*n_broken;
        else if (rc != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return r1c_error(R1C_ERR_FORMAT, "rule %d (%s): %s", i + 1, r->src[i], (char *)msg);
        }
    }
    return R1C_OK;
}
