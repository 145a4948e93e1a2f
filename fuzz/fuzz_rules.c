/* fuzz_rules.c — libFuzzer target for the forbidden-pattern rules (src/train/rules.c), which
 * `r1c rl` and `r1c eval` run on model output with patterns from a config or rules file: any
 * pattern must compile or be refused with a message, and any text (invalid UTF-8 included) must
 * give a count in [0, rules] or a match-limit error — never a crash, a hang or a bad read. The
 * input's bytes before the first NUL are the patterns, one per line (at most 4), the rest the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    const size_t plen = nul ? (size_t)(nul - data) : size;
    char *pats = malloc(plen + 1), *text = NULL;
    if (!pats) return 0;
    memcpy(pats, data, plen);
    pats[plen] = 0;
    const char *list[4];
    int n = 0;
    for (char *p = pats; n < 4;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        list[n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    r1c_rules *r = NULL;
    if (r1c_rules_new(list, n, "fuzz", &r) == R1C_OK) {
        if (r1c_rules_count(r) != n) abort();
        const size_t tlen = nul ? size - plen - 1 : 0;
        if ((text = malloc(tlen + 1))) {
            memcpy(text, nul ? nul + 1 : data, tlen);
            text[tlen] = 0;
            int broken = -1;
            if (r1c_rules_check(r, text, tlen, &broken) == R1C_OK && (broken < 0 || broken > n)) abort();
        }
    } else if (r) abort(); /* a refused set leaves no rules behind */
    r1c_rules_free(r);
    free(text), free(pats);
    return 0;
}
