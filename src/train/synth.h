/* synth.h — synthetic reasoning problems with verifiable answers (arithmetic, Countdown).
 *
 * For pretraining a tiny R1-style model and, later, for GRPO rewards (R1-Zero at tiny scale, as
 * TinyZero does with Countdown). Everything is deterministic from a seed (xoshiro256** seeded by
 * splitmix64; the C library's rand() is never used), so a data set is named by its options.
 *
 * ARITHMETIC levels (operands drawn uniformly with exactly the given number of digits; 1-digit
 * operands are 0..9 for + and -, 2..9 for * and for a divisor). Each level draws its operator
 * uniformly from those it lists. Subtraction may go negative. Division is exact by
 * construction: the divisor and the quotient are drawn, the dividend is their product.
 *
 *   level  + and -      *            / (quotient digits, divisor digits)
 *     1    1 and 1      -            -
 *     2    2 and 2      -            -
 *     3    3 and 3      1 x 1        -
 *     4    4 and 4      2 x 1        1, 1
 *     5    5 and 5      2 x 2        2, 1
 *     6    6 and 6      3 x 2        2, 2
 *     7    7 and 7      3 x 3        3, 2
 *     8    8 and 8      4 x 3        3, 3
 *
 * Every value stays below 10^9, so int64 can never overflow (by construction, not by checks).
 * Prompt: "What is 347 * 29?"; answer: the integer in decimal ("-12" for a negative result).
 *
 * COUNTDOWN levels: N numbers drawn from a range; the target is reachable with + - * / using
 * every number exactly once (TinyZero's rule). A random expression tree over the drawn numbers
 * is built (so one solution is known); a tree whose intermediate results are not integers
 * (division only when exact), are negative, exceed 10^6, or whose result is outside 1..999 is
 * drawn again.
 *
 *   level  numbers  range
 *     1       3     1..10
 *     2       3     1..25
 *     3       4     1..10
 *     4       4     1..25
 *     5       4     1..100
 *     6       5     1..25
 *     7       5     1..100
 *     8       6     1..100
 *
 * Prompt: "Using the numbers [25, 4, 3, 7], make 97. Each number once; + - * / allowed.";
 * answer: the known solution as an expression with the fewest parentheses ("(25-7)*4+3").
 *
 * TRACES: with probability trace_share an example carries a worked <think> trace, else none.
 * Every trace's last line is "Answer: ANSWER".
 *   addition / subtraction: column by column from the right, with carries / borrows;
 *   multiplication: one partial product per digit of the second operand, then their running sum;
 *   division: long division, one line per digit brought down;
 *   Countdown: from level 3 on, one (levels 3-5) or two (6-8) random attempts that miss the
 *     target ("dead ends"), then the steps of the known solution, one "a op b = c" per step.
 *
 * SPLIT: every problem has a key, a 64-bit hash of its canonical form (arithmetic: "a op b";
 * Countdown: the numbers sorted ascending and the target, "3,4,7,25:97"). A problem belongs to
 * the test split when key % 100 < 5, to train otherwise. The generator draws again until the
 * problem is in the asked-for split, so test problems never appear in training data, whatever
 * the seeds (the same problem drawn under another seed has the same key).
 */
#ifndef R1C_TRAIN_SYNTH_H
#define R1C_TRAIN_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "r1c.h"

typedef enum { R1C_SYNTH_ARITH = 0, R1C_SYNTH_COUNTDOWN = 1 } r1c_synth_task;
typedef enum { R1C_SYNTH_SPLIT_ANY = 0, R1C_SYNTH_SPLIT_TRAIN = 1, R1C_SYNTH_SPLIT_TEST = 2 } r1c_synth_split;

#define R1C_SYNTH_MIN_LEVEL 1
#define R1C_SYNTH_MAX_LEVEL 8
#define R1C_SYNTH_MAX_NUMBERS 6
#define R1C_SYNTH_TEST_PERCENT 5 /* key % 100 < this: the test split */

typedef struct r1c_synth_params {
    r1c_synth_task task;
    int level_lo, level_hi; /* 1..8, lo <= hi; example i has level lo + i % (hi - lo + 1) */
    double trace_share;     /* 0..1: the probability that an example has a <think> trace */
    r1c_synth_split split;
    uint64_t seed;
} r1c_synth_params;

typedef struct r1c_synth_example {
    r1c_synth_task task;
    int level;
    char prompt[256];
    char answer[128];   /* arithmetic: the integer; Countdown: a solution expression */
    int has_think;
    char think[4096];   /* the trace without the <think> tags, when has_think ("" otherwise) */
    int n_numbers;      /* Countdown: the numbers in the order shown, and the target */
    int64_t numbers[R1C_SYNTH_MAX_NUMBERS];
    int64_t target;
    uint64_t key;       /* hash of the canonical form: the split */
} r1c_synth_example;

typedef struct r1c_synth {
    r1c_synth_params p;
    uint64_t rng[4]; /* xoshiro256** state */
    uint64_t count;  /* examples made so far (the level rotation) */
} r1c_synth;

/* R1C_ERR_INVALID_ARG for a task, level range or share out of range. */
r1c_status r1c_synth_init(r1c_synth *g, const r1c_synth_params *p);

/* The next example. Fails only if no problem of the split turns up in many draws
 * (R1C_ERR_UNSUPPORTED; does not happen with the tables above). */
r1c_status r1c_synth_next(r1c_synth *g, r1c_synth_example *ex);

/* The pretraining text of an example, into buf (NUL-terminated):
 *     PROMPT "\n" ["<think>\n" TRACE "\n</think>\n"] "<answer>" ANSWER "</answer>"
 * Returns the length, or the length it would need (>= cap: truncated), as snprintf does. */
size_t r1c_synth_text(const r1c_synth_example *ex, char *buf, size_t cap);

/* The split of a key: R1C_SYNTH_SPLIT_TEST or R1C_SYNTH_SPLIT_TRAIN. */
r1c_synth_split r1c_synth_key_split(uint64_t key);

/* ---- verifiers (for rewards) ---- */

/* 1 if response_answer is the integer `expected`, else 0. Both are read the same way: spaces,
 * tabs and newlines around the number are ignored; an optional '+' or '-' sign; then decimal
 * digits only (no inner spaces, commas, decimal points). Leading zeros are allowed and
 * ignored ("007" is 7), and "-0" is 0. Any number of digits (compared as text, never overflows).
 * NULL or anything else is 0. */
int r1c_synth_check_arith(const char *response_answer, const char *expected);

/* 1 if expr is a valid Countdown solution: it uses each of numbers[0..n) exactly once (as a
 * multiset) and evaluates to target; else 0, with the reason in why (when why_len > 0).
 * Grammar: integer literals (decimal digits; leading zeros allowed, "07" is the number 7),
 * + - * /, parentheses, spaces; the usual precedence, left to right. Unary minus (or plus) is
 * not allowed, nor is '=' or anything else. Evaluation is in exact rationals (int64
 * numerator/denominator): "7/2*2" is 7, as in TinyZero's Python eval but without rounding; a
 * literal or intermediate that overflows int64 makes the expression invalid, as does a
 * division by zero. Parentheses nest at most 64 deep and at most 64 literals are read. */
int r1c_synth_check_countdown(const int64_t *numbers, int n, int64_t target, const char *expr, char *why,
                              size_t why_len);

/* The answer in a model's full response: the text inside the last "<answer>" ... "</answer>"
 * (an unclosed last "<answer>" runs to the end), or, with no "<answer>", the text after the last
 * "</think>". Surrounding whitespace is trimmed. Returns 1 and the span (*ans points into
 * response, *len bytes), or 0 when the response has neither tag. */
int r1c_synth_extract_answer(const char *response, const char **ans, size_t *len);

/* The rule-based rewards of a model's completion of ex's prompt (R1's accuracy and format
 * rewards): *right 1 when its answer (r1c_synth_extract_answer) checks out (the integer; the
 * Countdown expression); *format 1 when it reasons in <think> ... </think> and then answers in
 * <answer> ... </answer> (prompt_opens_think: the prompt already opened <think>); *tagged 1
 * when any <answer> tag is there. Any of the outputs may be NULL. */
void r1c_synth_grade(const r1c_synth_example *ex, const char *completion, int prompt_opens_think, int *right, int *format,
                     int *tagged);

#endif
