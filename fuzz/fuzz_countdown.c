/* fuzz_countdown.c — libFuzzer target for the Countdown verifier (src/train/synth.c), which
 * GRPO rewards run on model output: any text must give 0 or 1 with a reason, never a crash,
 * a hang or a bad read. The first bytes choose the numbers and the target, the rest is the
 * expression. A valid verdict is re-checked: the same expression with one number dropped from
 * the list must then be refused (each number is used exactly once). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int n = data[0] % 7; /* 0..6 numbers */
    if (size < 2 + (size_t)n) return 0;
    int64_t nums[6];
    for (int i = 0; i < n; i++) nums[i] = data[2 + i] % 101;
    int64_t target = (int64_t)data[1] * 4 - 20;
    size_t off = 2 + (size_t)n, len = size - off;
    char *expr = malloc(len + 1);
    if (!expr) return 0;
    memcpy(expr, data + off, len);
    expr[len] = 0;
    char why[96];
    memset(why, 'x', sizeof why);
    int ok = r1c_synth_check_countdown(nums, n, target, expr, why, sizeof why);
    if (ok != 0 && ok != 1) abort();
    if (!memchr(why, 0, sizeof why) || !why[0]) abort(); /* a terminated, non-empty reason */
    if (ok && n > 0 && r1c_synth_check_countdown(nums, n - 1, target, expr, why, sizeof why) != 0) abort();
    /* the other checks on the same bytes */
    const char *a;
    size_t alen;
    if (r1c_synth_extract_answer(expr, &a, &alen) && (a < expr || a + alen > expr + len)) abort();
    (void)r1c_synth_check_arith(expr, "42");
    free(expr);
    return 0;
}
