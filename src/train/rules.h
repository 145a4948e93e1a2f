/* rules.h — forbidden-pattern rules: a list of PCRE2 regular expressions, any of which an output
 * must not match. `r1c rl` turns a match into a (negative) reward — the R1 paper's harmlessness
 * stage done by rule, at the scale of the synthetic tasks — and `r1c eval` reports the share of
 * completions that break a rule. */
#ifndef R1C_TRAIN_RULES_H
#define R1C_TRAIN_RULES_H

#include <stddef.h>

#include "r1c.h"

typedef struct r1c_rules r1c_rules;

/* Compiles n patterns (UTF-8; PCRE2 syntax, e.g. "(?m)^(.+)\n\1$" for a line said twice in a
 * row). what names the source in errors ("grpo.json: \"forbidden\""); a bad pattern is named
 * by its index and offset. */
r1c_status r1c_rules_new(const char *const *patterns, int n, const char *what, r1c_rules **out);
/* A rules file: one pattern per line; blank lines and lines starting with '#' are skipped. */
r1c_status r1c_rules_load(const char *path, r1c_rules **out);
int r1c_rules_count(const r1c_rules *r);
const char *r1c_rules_pattern(const r1c_rules *r, int i);
/* *n_broken = how many rules text[0..len) matches (invalid UTF-8 in the text is matched as
 * is, never an error). An error only for a pattern that runs past PCRE2's match limits. */
r1c_status r1c_rules_check(const r1c_rules *r, const char *text, size_t len, int *n_broken);
void r1c_rules_free(r1c_rules *r);

#endif
