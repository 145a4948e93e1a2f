/* test_synth.c — synthetic problems (src/train/synth.c): determinism, answers recomputed here,
 * Countdown solutions through the verifier, the verifier's refusals, trace share, level
 * growth, the train/test split and the answer extractor. */
#include <inttypes.h>

#include "test_util.h"
#include "train/synth.h"

#define N_EX 2000

static r1c_synth_params params(r1c_synth_task task, int lo, int hi, double share, r1c_synth_split split,
                               uint64_t seed) {
    return (r1c_synth_params){.task = task, .level_lo = lo, .level_hi = hi, .trace_share = share,
                              .split = split, .seed = seed};
}

/* all examples' texts, concatenated with '\n' between them; malloc'd */
static char *gen_texts(const r1c_synth_params *p, int n, size_t *len) {
    r1c_synth g;
    r1c_synth_example ex;
    static char buf[8192];
    size_t cap = 1 << 20, used = 0;
    char *all = xmalloc(cap);
    CHECK(r1c_synth_init(&g, p) == R1C_OK, "init: %s", r1c_last_error());
    for (int i = 0; i < n; i++) {
        CHECK(r1c_synth_next(&g, &ex) == R1C_OK, "next: %s", r1c_last_error());
        size_t k = r1c_synth_text(&ex, buf, sizeof buf);
        CHECK(k < sizeof buf, "text too long");
        while (used + k + 2 > cap) all = realloc(all, cap *= 2);
        memcpy(all + used, buf, k);
        used += k;
        all[used++] = '\n';
    }
    *len = used;
    return all;
}

static void test_determinism(void) {
    for (int task = 0; task < 2; task++) {
        r1c_synth_params p1 = params(task, 1, 8, 0.5, R1C_SYNTH_SPLIT_TRAIN, 1);
        r1c_synth_params p2 = params(task, 1, 8, 0.5, R1C_SYNTH_SPLIT_TRAIN, 2);
        size_t la, lb, lc;
        char *a = gen_texts(&p1, 300, &la), *b = gen_texts(&p1, 300, &lb), *c = gen_texts(&p2, 300, &lc);
        CHECK(la == lb && !memcmp(a, b, la), "task %d: same seed, different bytes", task);
        CHECK(la != lc || memcmp(a, c, la), "task %d: seeds 1 and 2 give the same bytes", task);
        free(a), free(b), free(c);
    }
}

/* the last line of a trace */
static const char *last_line(const char *s) {
    const char *nl = strrchr(s, '\n');
    return nl ? nl + 1 : s;
}

/* Every equation in a trace, "A op B [op C ...] = R" read left to right (the traces never mix
 * precedences; / is the integer quotient of long division), must be true. Returns the number
 * of equations checked, or -1 at the first false one (printed). */
static int check_equations(const char *t) {
    int checked = 0;
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9' || (p > t && p[-1] >= '0' && p[-1] <= '9')) continue;
        const char *q = p - 1; /* a chain starts after no operator: "8 + 4 + 0" not at "4" */
        while (q >= t && *q == ' ') q--;
        if (q >= t && strchr("+-*/", *q)) continue;
        char *e;
        long long v = strtoll(p, &e, 10);
        int ops = 0;
        for (;;) {
            const char *r = e;
            while (*r == ' ') r++;
            if (!strchr("+-*/", *r) || !*r) break;
            char op = *r++;
            while (*r == ' ') r++;
            if (*r < '0' || *r > '9') break;
            long long w = strtoll(r, &e, 10);
            v = op == '+' ? v + w : op == '-' ? v - w : op == '*' ? v * w : w ? v / w : 0;
            ops++;
        }
        if (!ops || strncmp(e, " = ", 3)) continue;
        long long r = strtoll(e + 3, NULL, 10);
        if (r != v) {
            fprintf(stderr, "false equation at '%.40s': %lld\n", p, v);
            return -1;
        }
        checked++;
    }
    return checked;
}

static int n_digits(long long v) {
    int n = 1;
    if (v < 0) v = -v;
    while (v >= 10) v /= 10, n++;
    return n;
}

static void test_arithmetic(void) {
    r1c_synth g;
    r1c_synth_example ex;
    r1c_synth_params p = params(R1C_SYNTH_ARITH, 1, 8, 0.5, R1C_SYNTH_SPLIT_ANY, 7);
    int max_digits[R1C_SYNTH_MAX_LEVEL + 1] = {0}, ops_seen[R1C_SYNTH_MAX_LEVEL + 1][4] = {{0}};
    CHECK(r1c_synth_init(&g, &p) == R1C_OK, "init");
    for (int i = 0; i < N_EX * 2; i++) {
        CHECK(r1c_synth_next(&g, &ex) == R1C_OK, "next: %s", r1c_last_error());
        long long a, b;
        char op, q;
        CHECK(sscanf(ex.prompt, "What is %lld %c %lld%c", &a, &op, &b, &q) == 4 && q == '?', "prompt '%s'", ex.prompt);
        __int128 r = op == '+' ? (__int128)a + b : op == '-' ? (__int128)a - b : op == '*' ? (__int128)a * b : 0;
        if (op == '/') {
            CHECK(b != 0 && a % b == 0, "division %lld / %lld not exact", a, b);
            r = b ? a / b : 0;
        }
        char want[64];
        snprintf(want, sizeof want, "%lld", (long long)r);
        CHECK(!strcmp(ex.answer, want), "%s: answer %s, want %s", ex.prompt, ex.answer, want);
        CHECK(r1c_synth_check_arith(ex.answer, want), "check_arith(%s, %s)", ex.answer, want);
        if (ex.has_think) {
            char line[80];
            snprintf(line, sizeof line, "Answer: %s", want);
            CHECK(!strcmp(last_line(ex.think), line), "trace ends '%s'", last_line(ex.think));
            /* the line before states the whole operation */
            char whole[96];
            snprintf(whole, sizeof whole, "%lld %c %lld = %s\nAnswer", a, op, b, want);
            CHECK(strstr(ex.think, whole) != NULL, "trace of %s lacks '%s'", ex.prompt, whole);
            CHECK(check_equations(ex.think) > 0, "trace of %s:\n%s", ex.prompt, ex.think);
        } else {
            CHECK(ex.think[0] == 0, "untraced example has a trace");
        }
        int d = n_digits(a) > n_digits(b) ? n_digits(a) : n_digits(b);
        if (d > max_digits[ex.level]) max_digits[ex.level] = d;
        ops_seen[ex.level][op == '+' ? 0 : op == '-' ? 1 : op == '*' ? 2 : 3] = 1;
    }
    for (int l = 2; l <= R1C_SYNTH_MAX_LEVEL; l++)
        CHECK(max_digits[l] >= max_digits[l - 1], "level %d: %d digits < level %d: %d", l, max_digits[l], l - 1,
              max_digits[l - 1]);
    CHECK(max_digits[8] > max_digits[1] + 4, "levels 1 and 8: %d and %d digits", max_digits[1], max_digits[8]);
    CHECK(ops_seen[1][0] && ops_seen[1][1] && !ops_seen[1][2] && !ops_seen[1][3], "level 1: + and - only");
    CHECK(ops_seen[8][0] && ops_seen[8][1] && ops_seen[8][2] && ops_seen[8][3], "level 8: all four operators");
}

static void test_countdown(void) {
    static const int want_n[R1C_SYNTH_MAX_LEVEL + 1] = {0, 3, 3, 4, 4, 4, 5, 5, 6}; /* the header's table */
    r1c_synth g;
    r1c_synth_example ex;
    r1c_synth_params p = params(R1C_SYNTH_COUNTDOWN, 1, 8, 0.5, R1C_SYNTH_SPLIT_ANY, 11);
    int per_level[R1C_SYNTH_MAX_LEVEL + 1] = {0};
    CHECK(r1c_synth_init(&g, &p) == R1C_OK, "init");
    for (int i = 0; i < N_EX; i++) {
        CHECK(r1c_synth_next(&g, &ex) == R1C_OK, "next: %s", r1c_last_error());
        char why[128];
        CHECK(r1c_synth_check_countdown(ex.numbers, ex.n_numbers, ex.target, ex.answer, why, sizeof why),
              "solution '%s' of '%s' rejected: %s", ex.answer, ex.prompt, why);
        CHECK(ex.target >= 1 && ex.target <= 999, "target %" PRId64, ex.target);
        CHECK(ex.n_numbers == want_n[ex.level], "level %d: %d numbers", ex.level, ex.n_numbers);
        /* the prompt shows exactly these numbers and target */
        char shown[256] = "Using the numbers [";
        for (int k = 0; k < ex.n_numbers; k++)
            snprintf(shown + strlen(shown), sizeof shown - strlen(shown), "%s%" PRId64, k ? ", " : "", ex.numbers[k]);
        snprintf(shown + strlen(shown), sizeof shown - strlen(shown), "], make %" PRId64 ".", ex.target);
        CHECK(!strncmp(ex.prompt, shown, strlen(shown)), "prompt '%s' vs '%s'", ex.prompt, shown);
        if (ex.has_think) {
            char line[160];
            snprintf(line, sizeof line, "Answer: %s", ex.answer);
            CHECK(!strcmp(last_line(ex.think), line), "trace ends '%s'", last_line(ex.think));
            int dead = 0;
            for (const char *s = ex.think; (s = strstr(s, "dead end")); s++) dead++;
            CHECK(dead == (ex.level >= 6 ? 2 : ex.level >= 3 ? 1 : 0), "level %d: %d dead ends", ex.level, dead);
            CHECK(check_equations(ex.think) >= ex.n_numbers - 1, "trace of %s:\n%s", ex.prompt, ex.think);
        }
        per_level[ex.level]++;
    }
    for (int l = 1; l <= R1C_SYNTH_MAX_LEVEL; l++)
        CHECK(per_level[l] == N_EX / 8, "level %d: %d examples of %d", l, per_level[l], N_EX);
}

static void reject(const int64_t *nums, int n, int64_t target, const char *expr, const char *reason) {
    char why[128] = "";
    int ok = r1c_synth_check_countdown(nums, n, target, expr, why, sizeof why);
    CHECK(ok == 0, "'%s' accepted", expr);
    CHECK(contains(why, reason), "'%s': reason '%s', want '%s'", expr, why, reason);
}

static void accept(const int64_t *nums, int n, int64_t target, const char *expr) {
    char why[128] = "";
    CHECK(r1c_synth_check_countdown(nums, n, target, expr, why, sizeof why) == 1, "'%s' rejected: %s", expr, why);
}

static void test_verifier(void) {
    const int64_t n4[] = {25, 4, 3, 7};
    reject(n4, 4, 97, "25*4-3", "7 is not used");
    accept(n4, 4, 96, "25*4 - 7 + 3");
    accept(n4, 4, 96, " ( 25 * 4 ) - (7 - 3) ");
    accept(n4, 4, 96, "(((25)))*4-7+3");
    reject(n4, 4, 96, "25*4-7+3+3", "3 is used more often than given");
    reject(n4, 4, 100, "25*4+7-3+5", "5 is not one of the numbers");
    reject(n4, 4, 97, "25*4-7+3", "the result is 96, not 97");
    reject(n4, 4, 96, "25*4-7+3=96", "syntax");
    reject(n4, 4, 96, "(25*4-7+3", "expected ')'");
    reject(n4, 4, 96, "25*4)-7+3", "unbalanced ')'");
    reject(n4, 4, 96, "-25*4+7+3", "unary sign");
    reject(n4, 4, 96, "hello", "syntax");
    reject(n4, 4, 96, "", "syntax");
    reject(n4, 4, 96, "25 4 3 7", "syntax");
    reject(n4, 4, 96, "25**4-7+3", "syntax");
    const int64_t z[] = {3, 7, 7};
    reject(z, 3, 3, "3/(7-7)", "division by zero");
    /* exact rationals: 7/2*2 is 7 (no integer truncation); 7/2 is not 3 */
    const int64_t h[] = {7, 2, 2};
    accept(h, 3, 7, "7/2*2");
    const int64_t h1[] = {7, 2, 1};
    reject(h1, 3, 3, "7/2*1", "7/2, not 3");
    const int64_t q[] = {1, 3, 3};
    accept(q, 3, 10, "3*3+1");
    accept(q, 3, 1, "1/3*3"); /* a fraction on the way */
    /* overflow: a literal beyond int64 and an intermediate beyond it */
    const int64_t big[] = {4000000000LL, 4000000000LL, 4000000000LL};
    reject(big, 3, 1, "99999999999999999999", "too large");
    reject(big, 3, 1, "4000000000*4000000000*4000000000", "overflows");
    /* a duplicated number counts twice */
    const int64_t d[] = {5, 5, 2};
    accept(d, 3, 12, "5+5+2");
    reject(d, 3, 7, "5+2", "5 is not used");
    /* deep nesting is refused, not a stack overflow */
    char deep[400];
    memset(deep, '(', 200);
    strcpy(deep + 200, "5");
    reject(d, 3, 5, deep, "nested too deep");
    CHECK(r1c_synth_check_countdown(d, 3, 12, NULL, NULL, 0) == 0, "NULL expression");
}

static void test_check_arith(void) {
    CHECK(r1c_synth_check_arith("42", "42"), "42");
    CHECK(r1c_synth_check_arith("  +042 \n", "42"), "+042");
    CHECK(r1c_synth_check_arith("-0", "0"), "-0");
    CHECK(r1c_synth_check_arith("-17", "-17"), "-17");
    CHECK(r1c_synth_check_arith("123456789012345678901234567890", "123456789012345678901234567890"), "long");
    CHECK(!r1c_synth_check_arith("17", "-17"), "sign");
    CHECK(!r1c_synth_check_arith("4 2", "42"), "inner space");
    CHECK(!r1c_synth_check_arith("42.0", "42"), "decimal point");
    CHECK(!r1c_synth_check_arith("", "0"), "empty");
    CHECK(!r1c_synth_check_arith("1,000", "1000"), "comma");
    CHECK(!r1c_synth_check_arith(NULL, "1"), "NULL");
    CHECK(!r1c_synth_check_arith("43", "42"), "wrong");
}

static int extract(const char *resp, const char *want) {
    const char *a;
    size_t n;
    int got = r1c_synth_extract_answer(resp, &a, &n);
    if (!want) return got == 0;
    return got == 1 && n == strlen(want) && !memcmp(a, want, n);
}

static void test_extract(void) {
    CHECK(extract("<think>\n2+2\n</think>\n<answer> 4 </answer>", "4"), "plain");
    CHECK(extract("<answer>1</answer> then <answer>2</answer>", "2"), "last answer");
    CHECK(extract("<think>x</think> <answer>5", "5"), "unclosed answer");
    CHECK(extract("<think>a</think>b</think>\n  12 \n", "12"), "after the last </think>");
    CHECK(extract("<think>thinking forever", NULL), "no tags");
    CHECK(extract("<answer></answer>", ""), "empty answer");
    CHECK(extract(NULL, NULL), "NULL");
}

static void test_trace_share(void) {
    const double shares[] = {0.0, 0.3, 1.0};
    for (int s = 0; s < 3; s++) {
        r1c_synth g;
        r1c_synth_example ex;
        r1c_synth_params p = params(s % 2 ? R1C_SYNTH_COUNTDOWN : R1C_SYNTH_ARITH, 1, 8, shares[s],
                                    R1C_SYNTH_SPLIT_TRAIN, 3);
        int traced = 0;
        CHECK(r1c_synth_init(&g, &p) == R1C_OK, "init");
        for (int i = 0; i < N_EX; i++) {
            CHECK(r1c_synth_next(&g, &ex) == R1C_OK, "next");
            traced += ex.has_think;
        }
        double got = (double)traced / N_EX;
        CHECK(got >= shares[s] - 0.035 && got <= shares[s] + 0.035, "share %g: %g traced", shares[s], got);
    }
}

static int has_key(const uint64_t *keys, int n, uint64_t k) {
    for (int i = 0; i < n; i++)
        if (keys[i] == k) return 1;
    return 0;
}

static void test_split(void) {
    for (int task = 0; task < 2; task++) {
        static uint64_t train[N_EX];
        r1c_synth g;
        r1c_synth_example ex;
        /* different seeds on purpose: the split must hold across them */
        r1c_synth_params ptr = params(task, 1, 3, 0, R1C_SYNTH_SPLIT_TRAIN, 21);
        r1c_synth_params pte = params(task, 1, 3, 0, R1C_SYNTH_SPLIT_TEST, 22);
        CHECK(r1c_synth_init(&g, &ptr) == R1C_OK, "init");
        for (int i = 0; i < N_EX; i++) {
            CHECK(r1c_synth_next(&g, &ex) == R1C_OK, "next");
            train[i] = ex.key;
            CHECK(ex.key % 100 >= R1C_SYNTH_TEST_PERCENT, "train key in test range");
        }
        CHECK(r1c_synth_init(&g, &pte) == R1C_OK, "init");
        int overlap = 0;
        for (int i = 0; i < 400; i++) {
            CHECK(r1c_synth_next(&g, &ex) == R1C_OK, "next: %s", r1c_last_error());
            CHECK(r1c_synth_key_split(ex.key) == R1C_SYNTH_SPLIT_TEST, "test key in train range");
            overlap += has_key(train, N_EX, ex.key);
        }
        CHECK(overlap == 0, "task %d: %d test problems in train", task, overlap);
        /* the split is a property of the problem: an unsplit stream sends ~5% to test */
        r1c_synth_params pany = params(task, 1, 8, 0, R1C_SYNTH_SPLIT_ANY, 23);
        CHECK(r1c_synth_init(&g, &pany) == R1C_OK, "init");
        int in_test = 0;
        for (int i = 0; i < N_EX; i++) {
            CHECK(r1c_synth_next(&g, &ex) == R1C_OK, "next");
            in_test += r1c_synth_key_split(ex.key) == R1C_SYNTH_SPLIT_TEST;
        }
        CHECK(in_test > N_EX * 2 / 100 && in_test < N_EX * 9 / 100, "task %d: %d of %d in test", task, in_test, N_EX);
    }
}

static void test_bad_params(void) {
    r1c_synth g;
    r1c_synth_params p = params(R1C_SYNTH_ARITH, 0, 3, 0.5, R1C_SYNTH_SPLIT_ANY, 1);
    CHECK(r1c_synth_init(&g, &p) == R1C_ERR_INVALID_ARG && contains(r1c_last_error(), "levels"), "level 0");
    p = params(R1C_SYNTH_ARITH, 5, 3, 0.5, R1C_SYNTH_SPLIT_ANY, 1);
    CHECK(r1c_synth_init(&g, &p) == R1C_ERR_INVALID_ARG, "lo > hi");
    p = params(R1C_SYNTH_ARITH, 1, 9, 0.5, R1C_SYNTH_SPLIT_ANY, 1);
    CHECK(r1c_synth_init(&g, &p) == R1C_ERR_INVALID_ARG, "level 9");
    p = params(R1C_SYNTH_COUNTDOWN, 1, 3, 1.5, R1C_SYNTH_SPLIT_ANY, 1);
    CHECK(r1c_synth_init(&g, &p) == R1C_ERR_INVALID_ARG && contains(r1c_last_error(), "share"), "share");
    p = params((r1c_synth_task)7, 1, 3, 0.5, R1C_SYNTH_SPLIT_ANY, 1);
    CHECK(r1c_synth_init(&g, &p) == R1C_ERR_INVALID_ARG, "task");
}

static void test_text_format(void) {
    r1c_synth_example ex = {.task = R1C_SYNTH_ARITH, .level = 1, .prompt = "What is 1 + 2?", .answer = "3"};
    char buf[256];
    r1c_synth_text(&ex, buf, sizeof buf);
    CHECK(!strcmp(buf, "What is 1 + 2?\n<answer>3</answer>"), "'%s'", buf);
    ex.has_think = 1;
    strcpy(ex.think, "1 + 2 = 3\nAnswer: 3");
    size_t n = r1c_synth_text(&ex, buf, sizeof buf);
    CHECK(!strcmp(buf, "What is 1 + 2?\n<think>\n1 + 2 = 3\nAnswer: 3\n</think>\n<answer>3</answer>"), "'%s'", buf);
    CHECK(n == strlen(buf), "length %zu", n);
    char small[8];
    CHECK(r1c_synth_text(&ex, small, sizeof small) == n && strlen(small) == 7, "truncation");
}

int main(void) {
    test_determinism();
    test_arithmetic();
    test_countdown();
    test_verifier();
    test_check_arith();
    test_extract();
    test_trace_share();
    test_split();
    test_bad_params();
    test_text_format();
    return test_summary("test_synth");
}
