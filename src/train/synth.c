/* synth.c — synthetic arithmetic and Countdown problems, their traces and their verifiers.
 * The level tables and formats are documented in synth.h. */
#include "train/synth.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"

/* ---------------------------------------------------------------- random numbers */


/* uniform in [lo, hi]; the multiply-shift bias (< range / 2^64) is far below anything visible */
static int64_t rand_range(uint64_t s[4], int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(((unsigned __int128)r1c_xoshiro(s) * span) >> 64);
}

static double rand_unit(uint64_t s[4]) { return (double)(r1c_xoshiro(s) >> 11) * 0x1.0p-53; }

static uint64_t pow10u(int d) {
    uint64_t p = 1;
    while (d-- > 0) p *= 10;
    return p;
}

/* a number with exactly d digits; 1-digit numbers start at lo1 (0 for + -, 2 for * /) */
static int64_t rand_digits(uint64_t s[4], int d, int64_t lo1) {
    if (d == 1) return rand_range(s, lo1, 9);
    return rand_range(s, (int64_t)pow10u(d - 1), (int64_t)pow10u(d) - 1);
}

/* FNV-1a, then a splitmix finaliser so that key % 100 is well mixed */
static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return r1c_splitmix64(&h);
}

r1c_synth_split r1c_synth_key_split(uint64_t key) {
    return key % 100 < R1C_SYNTH_TEST_PERCENT ? R1C_SYNTH_SPLIT_TEST : R1C_SYNTH_SPLIT_TRAIN;
}

/* ---------------------------------------------------------------- bounded text */

typedef struct sbuf {
    char *p;
    size_t cap, len; /* len counts what was asked for: past cap, the text was cut (sb_full) */
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) R1C_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
}

static int sb_full(const sbuf *b) { return b->len >= b->cap; }

/* ---------------------------------------------------------------- arithmetic */

typedef struct arith_spec {
    int add_digits;   /* both operands of + and - */
    int mul_a, mul_b; /* 0: no multiplication */
    int div_q, div_d; /* quotient and divisor digits; 0: no division */
} arith_spec;

static const arith_spec ARITH[R1C_SYNTH_MAX_LEVEL + 1] = {
    {0, 0, 0, 0, 0}, /* (no level 0) */
    {1, 0, 0, 0, 0}, {2, 0, 0, 0, 0}, {3, 1, 1, 0, 0}, {4, 2, 1, 1, 1},
    {5, 2, 2, 2, 1}, {6, 3, 2, 2, 2}, {7, 3, 3, 3, 2}, {8, 4, 3, 3, 3},
};

/* the digits of v (v >= 0), least significant first; returns their count */
static int digits_of(int64_t v, int d[20]) {
    int n = 0;
    do {
        d[n++] = (int)(v % 10);
        v /= 10;
    } while (v > 0);
    return n;
}

/* a + b column by column (a, b >= 0) */
static void trace_add(sbuf *b, int64_t x, int64_t y) {
    int dx[20], dy[20];
    int nx = digits_of(x, dx), ny = digits_of(y, dy), n = nx > ny ? nx : ny, carry = 0;
    sb_printf(b, "%lld + %lld, column by column from the right:\n", (long long)x, (long long)y);
    for (int i = 0; i < n; i++) {
        int u = i < nx ? dx[i] : 0, v = i < ny ? dy[i] : 0, s = u + v + carry;
        sb_printf(b, "%d + %d + %d = %d, write %d, carry %d\n", u, v, carry, s, s % 10, s / 10);
        carry = s / 10;
    }
    if (carry) sb_printf(b, "write the last carry 1\n");
    sb_printf(b, "%lld + %lld = %lld\n", (long long)x, (long long)y, (long long)(x + y));
}

/* x - y column by column with borrows (x >= y >= 0) */
static void trace_sub_cols(sbuf *b, int64_t x, int64_t y) {
    int dx[20], dy[20];
    int nx = digits_of(x, dx), ny = digits_of(y, dy), borrow = 0;
    sb_printf(b, "%lld - %lld, column by column from the right:\n", (long long)x, (long long)y);
    for (int i = 0; i < nx; i++) {
        int u = dx[i], v = i < ny ? dy[i] : 0, r = u - v - borrow;
        if (r < 0)
            sb_printf(b, "%d - %d - %d is negative: borrow 1, %d - %d - %d = %d\n", u, v, borrow, u + 10, v, borrow,
                      r + 10);
        else
            sb_printf(b, "%d - %d - %d = %d\n", u, v, borrow, r);
        borrow = r < 0;
    }
    sb_printf(b, "%lld - %lld = %lld\n", (long long)x, (long long)y, (long long)(x - y));
}

static void trace_sub(sbuf *b, int64_t x, int64_t y) {
    if (x >= y) {
        trace_sub_cols(b, x, y);
        return;
    }
    sb_printf(b, "%lld < %lld, so compute %lld - %lld and negate.\n", (long long)x, (long long)y, (long long)y,
              (long long)x);
    trace_sub_cols(b, y, x);
    sb_printf(b, "%lld - %lld = %lld\n", (long long)x, (long long)y, (long long)(x - y));
}

/* one partial product per digit of y, then their running sum */
static void trace_mul(sbuf *b, int64_t x, int64_t y) {
    int dy[20], ny = digits_of(y, dy);
    int64_t sum = 0, place = 1;
    sb_printf(b, "%lld * %lld, one partial product per digit of %lld:\n", (long long)x, (long long)y, (long long)y);
    for (int i = 0; i < ny; i++, place *= 10) {
        int64_t part = x * dy[i] * place;
        sb_printf(b, "%lld * %lld = %lld\n", (long long)x, (long long)(dy[i] * place), (long long)part);
        if (i > 0) sb_printf(b, "%lld + %lld = %lld\n", (long long)sum, (long long)part, (long long)(sum + part));
        sum += part;
    }
    sb_printf(b, "%lld * %lld = %lld\n", (long long)x, (long long)y, (long long)sum);
}

/* long division of x by y (exact), one line per digit brought down */
static void trace_div(sbuf *b, int64_t x, int64_t y) {
    int dx[20], nx = digits_of(x, dx);
    int64_t cur = 0, q = 0;
    int started = 0;
    sb_printf(b, "%lld / %lld by long division:\n", (long long)x, (long long)y);
    for (int i = nx - 1; i >= 0; i--) {
        cur = cur * 10 + dx[i];
        /* leading digits smaller than the divisor give leading zeros of the quotient: skipped */
        if (!started && cur < y && i > 0) continue;
        int64_t qd = cur / y, r = cur - qd * y;
        if (started) sb_printf(b, "bring down %d: ", dx[i]);
        sb_printf(b, "%lld / %lld = %lld, %lld * %lld = %lld, %lld - %lld = %lld\n", (long long)cur, (long long)y,
                  (long long)qd, (long long)qd, (long long)y, (long long)(qd * y), (long long)cur,
                  (long long)(qd * y), (long long)r);
        started = 1;
        q = q * 10 + qd;
        cur = r;
    }
    sb_printf(b, "%lld / %lld = %lld\n", (long long)x, (long long)y, (long long)q);
}

typedef struct arith_prob {
    int64_t a, b;
    char op;
} arith_prob;

static void make_arith(uint64_t s[4], int level, r1c_synth_example *ex, arith_prob *pr) {
    const arith_spec *sp = &ARITH[level];
    char ops[4];
    int n_ops = 0;
    ops[n_ops++] = '+', ops[n_ops++] = '-';
    if (sp->mul_a) ops[n_ops++] = '*';
    if (sp->div_q) ops[n_ops++] = '/';
    char op = ops[rand_range(s, 0, n_ops - 1)];
    int64_t a, b, r;
    if (op == '+' || op == '-') {
        a = rand_digits(s, sp->add_digits, 0);
        b = rand_digits(s, sp->add_digits, 0);
        r = op == '+' ? a + b : a - b;
    } else if (op == '*') {
        a = rand_digits(s, sp->mul_a, 2);
        b = rand_digits(s, sp->mul_b, 2);
        r = a * b;
    } else {
        int64_t q = rand_digits(s, sp->div_q, 2);
        b = rand_digits(s, sp->div_d, 2);
        a = q * b;
        r = q;
    }
    snprintf(ex->prompt, sizeof ex->prompt, "What is %lld %c %lld?", (long long)a, op, (long long)b);
    snprintf(ex->answer, sizeof ex->answer, "%lld", (long long)r);
    char canon[64];
    snprintf(canon, sizeof canon, "%lld %c %lld", (long long)a, op, (long long)b);
    ex->key = hash_str(canon);
    *pr = (arith_prob){a, b, op};
}

static void trace_arith(const arith_prob *pr, sbuf *b) {
    int64_t x = pr->a, y = pr->b;
    switch (pr->op) {
    case '+': trace_add(b, x, y); break;
    case '-': trace_sub(b, x, y); break;
    case '*': trace_mul(b, x, y); break;
    default: trace_div(b, x, y); break;
    }
}

/* ---------------------------------------------------------------- Countdown */

typedef struct cd_spec {
    int n, hi;
} cd_spec;

static const cd_spec COUNTDOWN[R1C_SYNTH_MAX_LEVEL + 1] = {
    {0, 0}, {3, 10}, {3, 25}, {4, 10}, {4, 25}, {4, 100}, {5, 25}, {5, 100}, {6, 100},
};

#define CD_MAX_VALUE 1000000
#define CD_MAX_TARGET 999

/* One value of a tree being built: its number, its text and the precedence of its top
 * operator (3 for a literal, 2 for * /, 1 for + -), which decides the parentheses. */
typedef struct cd_node {
    int64_t v;
    int prec;
    char op; /* top operator, 0 for a literal */
    char text[120];
} cd_node;

typedef struct cd_step {
    int64_t a, b, r;
    char op;
} cd_step;

static int prec_of(char op) { return op == '+' || op == '-' ? 1 : 2; }

/* a op b as text with the fewest parentheses: a side binds looser than op, or the right side
 * of - and / binds as loosely as op (a-(b-c) is not a-b-c) */
static void join_text(const cd_node *a, const cd_node *b, char op, cd_node *out) {
    int p = prec_of(op);
    int pa = a->prec < p, pb = b->prec < p || (b->prec == p && (op == '-' || op == '/'));
    snprintf(out->text, sizeof out->text, "%s%s%s%c%s%s%s", pa ? "(" : "", a->text, pa ? ")" : "", op, pb ? "(" : "",
             b->text, pb ? ")" : "");
    out->prec = p;
    out->op = op;
}

/* Combines the n values into one by random steps; each step keeps integer, non-negative
 * values below CD_MAX_VALUE (the order of - and / is chosen so). 0 when a step cannot. */
static int random_tree(uint64_t s[4], const int64_t *nums, int n, cd_node *out, cd_step *steps) {
    cd_node pool[R1C_SYNTH_MAX_NUMBERS];
    for (int i = 0; i < n; i++) {
        pool[i] = (cd_node){.v = nums[i], .prec = 3};
        snprintf(pool[i].text, sizeof pool[i].text, "%lld", (long long)nums[i]);
    }
    for (int k = n, st = 0; k > 1; k--, st++) {
        int i = (int)rand_range(s, 0, k - 1), j = (int)rand_range(s, 0, k - 2);
        if (j >= i) j++;
        cd_node *a = &pool[i], *b = &pool[j];
        char op = "+-*/"[rand_range(s, 0, 3)];
        if ((op == '-' || op == '/') && a->v < b->v) {
            cd_node *t = a;
            a = b, b = t;
        }
        int64_t r;
        if (op == '+') r = a->v + b->v;
        else if (op == '-') r = a->v - b->v;
        else if (op == '*') r = a->v * b->v;
        else if (b->v == 0 || a->v % b->v) return 0;
        else r = a->v / b->v;
        if (r > CD_MAX_VALUE) return 0;
        cd_node c = {.v = r};
        join_text(a, b, op, &c);
        steps[st] = (cd_step){a->v, b->v, r, op};
        /* the result replaces pool[min(i,j)], the last node fills the other slot */
        int lo = i < j ? i : j, hi = i < j ? j : i;
        pool[lo] = c;
        pool[hi] = pool[k - 1];
    }
    *out = pool[0];
    return 1;
}

static void sort_i64(int64_t *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
}

static uint64_t countdown_key(const int64_t *nums, int n, int64_t target) {
    int64_t sorted[R1C_SYNTH_MAX_NUMBERS];
    memcpy(sorted, nums, sizeof *nums * (size_t)n);
    sort_i64(sorted, n);
    char canon[128];
    sbuf b = {canon, sizeof canon, 0};
    for (int i = 0; i < n; i++) sb_printf(&b, "%s%lld", i ? "," : "", (long long)sorted[i]);
    sb_printf(&b, ":%lld", (long long)target);
    return hash_str(canon);
}

/* A problem with a known solution: the numbers, the target, the solution's text in ex and its
 * steps in steps[0..n-2] (for the trace). 0 if no tree met the bounds in many draws. */
static int make_countdown(uint64_t s[4], int level, r1c_synth_example *ex, cd_step *steps) {
    const cd_spec *sp = &COUNTDOWN[level];
    for (int attempt = 0; attempt < 10000; attempt++) {
        for (int i = 0; i < sp->n; i++) ex->numbers[i] = rand_range(s, 1, sp->hi);
        cd_node root;
        if (!random_tree(s, ex->numbers, sp->n, &root, steps)) continue;
        if (root.v < 1 || root.v > CD_MAX_TARGET) continue;
        ex->n_numbers = sp->n;
        ex->target = root.v;
        snprintf(ex->answer, sizeof ex->answer, "%s", root.text);
        sbuf b = {ex->prompt, sizeof ex->prompt, 0};
        sb_printf(&b, "Using the numbers [");
        for (int i = 0; i < sp->n; i++) sb_printf(&b, "%s%lld", i ? ", " : "", (long long)ex->numbers[i]);
        sb_printf(&b, "], make %lld. Each number once; + - * / allowed.", (long long)root.v);
        ex->key = countdown_key(ex->numbers, sp->n, root.v);
        return 1;
    }
    return 0;
}

static void print_steps(sbuf *b, const cd_step *st, int n) {
    for (int i = 0; i < n; i++)
        sb_printf(b, "%s%lld %c %lld = %lld", i ? ", " : "", (long long)st[i].a, st[i].op, (long long)st[i].b,
                  (long long)st[i].r);
}

/* dead ends (random attempts that miss), then the known solution's steps */
static void trace_countdown(uint64_t s[4], const r1c_synth_example *ex, const cd_step *sol, sbuf *b) {
    int dead = ex->level >= 6 ? 2 : ex->level >= 3 ? 1 : 0;
    sb_printf(b, "Numbers [");
    for (int i = 0; i < ex->n_numbers; i++) sb_printf(b, "%s%lld", i ? ", " : "", (long long)ex->numbers[i]);
    sb_printf(b, "], target %lld.\n", (long long)ex->target);
    for (int d = 0, tries = 0; d < dead && tries < 100; tries++) {
        cd_node root;
        cd_step st[R1C_SYNTH_MAX_NUMBERS];
        if (!random_tree(s, ex->numbers, ex->n_numbers, &root, st) || root.v == ex->target) continue;
        sb_printf(b, "Try ");
        print_steps(b, st, ex->n_numbers - 1);
        sb_printf(b, ". %lld is not %lld, a dead end.\n", (long long)root.v, (long long)ex->target);
        d++;
    }
    sb_printf(b, "Try ");
    print_steps(b, sol, ex->n_numbers - 1);
    sb_printf(b, ". That is %lld.\n", (long long)ex->target);
}

/* ---------------------------------------------------------------- the generator */

r1c_status r1c_synth_init(r1c_synth *g, const r1c_synth_params *p) {
    if (!g || !p) return r1c_error(R1C_ERR_INVALID_ARG, "synth: no generator or parameters");
    if (p->task != R1C_SYNTH_ARITH && p->task != R1C_SYNTH_COUNTDOWN)
        return r1c_error(R1C_ERR_INVALID_ARG, "synth: unknown task %d", (int)p->task);
    if (p->level_lo < R1C_SYNTH_MIN_LEVEL || p->level_hi > R1C_SYNTH_MAX_LEVEL || p->level_lo > p->level_hi)
        return r1c_error(R1C_ERR_INVALID_ARG, "synth: levels %d-%d are not within 1-8", p->level_lo, p->level_hi);
    if (!(p->trace_share >= 0 && p->trace_share <= 1))
        return r1c_error(R1C_ERR_INVALID_ARG, "synth: trace share %g is not within 0..1", p->trace_share);
    if (p->split < R1C_SYNTH_SPLIT_ANY || p->split > R1C_SYNTH_SPLIT_TEST)
        return r1c_error(R1C_ERR_INVALID_ARG, "synth: unknown split %d", (int)p->split);
    memset(g, 0, sizeof *g);
    g->p = *p;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) g->rng[i] = r1c_splitmix64(&x);
    return R1C_OK;
}

r1c_status r1c_synth_next(r1c_synth *g, r1c_synth_example *ex) {
    const int n_levels = g->p.level_hi - g->p.level_lo + 1;
    const int level = g->p.level_lo + (int)(g->count % (uint64_t)n_levels);
    cd_step sol[R1C_SYNTH_MAX_NUMBERS];
    arith_prob pr = {0, 0, '+'};
    /* The trace decision is drawn first, so the share does not depend on which problems the
     * split rejects. */
    const int traced = rand_unit(g->rng) < g->p.trace_share;
    for (int draw = 0;; draw++) {
        if (draw == 100000)
            return r1c_error(R1C_ERR_UNSUPPORTED, "synth: no problem of the asked split at level %d", level);
        memset(ex, 0, sizeof *ex);
        ex->task = g->p.task;
        ex->level = level;
        if (g->p.task == R1C_SYNTH_ARITH) make_arith(g->rng, level, ex, &pr);
        else if (!make_countdown(g->rng, level, ex, sol))
            return r1c_error(R1C_ERR_UNSUPPORTED, "synth: no Countdown problem found at level %d", level);
        if (g->p.split == R1C_SYNTH_SPLIT_ANY || r1c_synth_key_split(ex->key) == g->p.split) break;
    }
    if (traced) {
        sbuf b = {ex->think, sizeof ex->think, 0};
        if (ex->task == R1C_SYNTH_ARITH) trace_arith(&pr, &b);
        else trace_countdown(g->rng, ex, sol, &b);
        sb_printf(&b, "Answer: %s", ex->answer);
        if (sb_full(&b)) return r1c_error(R1C_ERR_UNSUPPORTED, "synth: a level %d trace is too long", level);
        ex->has_think = 1;
    }
    g->count++;
    return R1C_OK;
}

size_t r1c_synth_text(const r1c_synth_example *ex, char *buf, size_t cap) {
    sbuf b = {buf, cap, 0};
    if (cap) buf[0] = 0;
    sb_printf(&b, "%s\n", ex->prompt);
    if (ex->has_think) sb_printf(&b, "<think>\n%s\n</think>\n", ex->think);
    sb_printf(&b, "<answer>%s</answer>", ex->answer);
    return b.len;
}

/* ---------------------------------------------------------------- answer checks */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* "  -0070 " -> sign and the digits without leading zeros; 0 if not an integer */
static int norm_int(const char *s, int *neg, const char **digits, size_t *n) {
    if (!s) return 0;
    while (is_space(*s)) s++;
    *neg = 0;
    if (*s == '+' || *s == '-') *neg = *s++ == '-';
    const char *d = s;
    while (*s >= '0' && *s <= '9') s++;
    if (s == d) return 0;
    const char *end = s;
    while (is_space(*s)) s++;
    if (*s) return 0;
    while (d + 1 < end && *d == '0') d++;
    if (end - d == 1 && *d == '0') *neg = 0; /* -0 is 0 */
    *digits = d;
    *n = (size_t)(end - d);
    return 1;
}

int r1c_synth_check_arith(const char *response_answer, const char *expected) {
    int na, ne;
    const char *da, *de;
    size_t la, le;
    if (!norm_int(response_answer, &na, &da, &la) || !norm_int(expected, &ne, &de, &le)) return 0;
    return na == ne && la == le && memcmp(da, de, la) == 0;
}

static const char *find_last(const char *s, const char *end, const char *needle) {
    size_t n = strlen(needle);
    const char *last = NULL;
    for (const char *p = s; p + n <= end; p++)
        if (!memcmp(p, needle, n)) last = p;
    return last;
}

int r1c_synth_extract_answer(const char *response, const char **ans, size_t *len) {
    if (!response) return 0;
    const char *end = response + strlen(response), *a, *b;
    const char *open = find_last(response, end, "<answer>");
    if (open) {
        a = open + 8;
        const char *close = strstr(a, "</answer>");
        b = close ? close : end;
    } else {
        const char *think = find_last(response, end, "</think>");
        if (!think) return 0;
        a = think + 8;
        b = end;
    }
    while (a < b && is_space(*a)) a++;
    while (b > a && is_space(b[-1])) b--;
    *ans = a;
    *len = (size_t)(b - a);
    return 1;
}

/* ---------------------------------------------------------------- the Countdown verifier */

#define CD_MAX_DEPTH 64
#define CD_MAX_LITERALS 64

typedef struct rat {
    int64_t num, den; /* den > 0, lowest terms */
} rat;

typedef struct cd_parser {
    const char *start, *p;
    int depth;
    int64_t lits[CD_MAX_LITERALS];
    int n_lits;
    char syntax[96]; /* the first syntax error */
    char eval[96];   /* the first evaluation error (overflow, division by zero) */
} cd_parser;

static int64_t gcd64(int64_t a, int64_t b) {
    if (a < 0) a = -a; /* callers never pass INT64_MIN: see rat_make */
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

/* num/den in lowest terms with den > 0; 0 on overflow (INT64_MIN cannot be negated) */
static int rat_make(int64_t num, int64_t den, rat *out) {
    if (num == INT64_MIN || den == INT64_MIN) return 0;
    if (den < 0) num = -num, den = -den;
    int64_t g = gcd64(num, den);
    if (g > 1) num /= g, den /= g;
    out->num = num, out->den = den;
    return 1;
}

/* a op b; 0 with a reason in p->eval on overflow or division by zero */
static rat rat_apply(cd_parser *ps, rat a, rat b, char op) {
    int64_t x, y, n, d;
    rat r = {0, 1};
    int ovf = 0;
    if (op == '+' || op == '-') {
        ovf |= __builtin_mul_overflow(a.num, b.den, &x);
        ovf |= __builtin_mul_overflow(b.num, a.den, &y);
        ovf |= op == '+' ? __builtin_add_overflow(x, y, &n) : __builtin_sub_overflow(x, y, &n);
        ovf |= __builtin_mul_overflow(a.den, b.den, &d);
    } else if (op == '*') {
        ovf |= __builtin_mul_overflow(a.num, b.num, &n);
        ovf |= __builtin_mul_overflow(a.den, b.den, &d);
    } else {
        if (b.num == 0) {
            if (!ps->eval[0]) snprintf(ps->eval, sizeof ps->eval, "division by zero");
            return r;
        }
        ovf |= __builtin_mul_overflow(a.num, b.den, &n);
        ovf |= __builtin_mul_overflow(a.den, b.num, &d);
    }
    if (ovf || !rat_make(n, d, &r)) {
        if (!ps->eval[0]) snprintf(ps->eval, sizeof ps->eval, "an intermediate result overflows");
        return (rat){0, 1};
    }
    return r;
}

static void skip_spaces(cd_parser *ps) {
    while (is_space(*ps->p)) ps->p++;
}

static void syntax_error(cd_parser *ps, const char *what) {
    if (ps->syntax[0]) return;
    unsigned char c = (unsigned char)*ps->p;
    int at = (int)(ps->p - ps->start);
    if (c > 32 && c < 127)
        snprintf(ps->syntax, sizeof ps->syntax, "%s at '%c' (offset %d)", what, c, at);
    else if (c)
        snprintf(ps->syntax, sizeof ps->syntax, "%s at byte 0x%02x (offset %d)", what, c, at);
    else
        snprintf(ps->syntax, sizeof ps->syntax, "%s at the end", what);
}

static rat parse_expr(cd_parser *ps);

static rat parse_number(cd_parser *ps) {
    int64_t v = 0;
    int big = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *ps->p - '0', &v)) big = 1;
        ps->p++;
    }
    if (big) {
        if (!ps->syntax[0]) snprintf(ps->syntax, sizeof ps->syntax, "a number is too large");
        return (rat){0, 1};
    }
    if (ps->n_lits == CD_MAX_LITERALS) {
        if (!ps->syntax[0]) snprintf(ps->syntax, sizeof ps->syntax, "more than %d numbers", CD_MAX_LITERALS);
        return (rat){0, 1};
    }
    ps->lits[ps->n_lits++] = v;
    return (rat){v, 1};
}

static rat parse_factor(cd_parser *ps) {
    skip_spaces(ps);
    if (*ps->p >= '0' && *ps->p <= '9') return parse_number(ps);
    if (*ps->p == '(') {
        if (++ps->depth > CD_MAX_DEPTH) {
            syntax_error(ps, "parentheses nested too deep");
            return (rat){0, 1};
        }
        ps->p++;
        rat v = parse_expr(ps);
        skip_spaces(ps);
        if (*ps->p == ')') ps->p++;
        else syntax_error(ps, "expected ')'");
        ps->depth--;
        return v;
    }
    if (*ps->p == '-' || *ps->p == '+') syntax_error(ps, "unary sign not allowed");
    else syntax_error(ps, "expected a number or '('");
    return (rat){0, 1};
}

static rat parse_term(cd_parser *ps) {
    rat v = parse_factor(ps);
    for (;;) {
        if (ps->syntax[0]) return v;
        skip_spaces(ps);
        char op = *ps->p;
        if (op != '*' && op != '/') return v;
        ps->p++;
        rat w = parse_factor(ps);
        v = rat_apply(ps, v, w, op);
    }
}

static rat parse_expr(cd_parser *ps) {
    rat v = parse_term(ps);
    for (;;) {
        if (ps->syntax[0]) return v;
        skip_spaces(ps);
        char op = *ps->p;
        if (op != '+' && op != '-') return v;
        ps->p++;
        rat w = parse_term(ps);
        v = rat_apply(ps, v, w, op);
    }
}

static int say(char *why, size_t why_len, const char *fmt, ...) R1C_PRINTF(3, 4);
static int say(char *why, size_t why_len, const char *fmt, ...) {
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return 0;
}

/* every literal matches a distinct given number, and every given number is matched */
static int check_multiset(const int64_t *numbers, int n, const cd_parser *ps, char *why, size_t why_len) {
    int used[CD_MAX_LITERALS] = {0};
    if (n > CD_MAX_LITERALS) return say(why, why_len, "too many numbers given (%d)", n);
    for (int k = 0; k < ps->n_lits; k++) {
        int found = -1, given = 0;
        for (int i = 0; i < n; i++) {
            if (numbers[i] != ps->lits[k]) continue;
            given = 1;
            if (!used[i]) {
                found = i;
                break;
            }
        }
        if (found < 0)
            return given ? say(why, why_len, "%lld is used more often than given", (long long)ps->lits[k])
                         : say(why, why_len, "%lld is not one of the numbers", (long long)ps->lits[k]);
        used[found] = 1;
    }
    for (int i = 0; i < n; i++)
        if (!used[i]) return say(why, why_len, "%lld is not used", (long long)numbers[i]);
    return 1;
}

int r1c_synth_check_countdown(const int64_t *numbers, int n, int64_t target, const char *expr, char *why,
                              size_t why_len) {
    if (why && why_len) why[0] = 0;
    if (!expr || (n > 0 && !numbers) || n < 0) return say(why, why_len, "no expression or numbers");
    cd_parser ps = {.start = expr, .p = expr};
    rat v = parse_expr(&ps);
    skip_spaces(&ps);
    if (!ps.syntax[0] && *ps.p) syntax_error(&ps, *ps.p == ')' ? "unbalanced ')'" : "unexpected character");
    if (ps.syntax[0]) return say(why, why_len, "syntax: %s", ps.syntax);
    if (!check_multiset(numbers, n, &ps, why, why_len)) return 0;
    if (ps.eval[0]) return say(why, why_len, "%s", ps.eval);
    if (v.den != 1) return say(why, why_len, "the result is %lld/%lld, not %lld", (long long)v.num, (long long)v.den,
                               (long long)target);
    if (v.num != target) return say(why, why_len, "the result is %lld, not %lld", (long long)v.num, (long long)target);
    say(why, why_len, "ok: %lld", (long long)target);
    return 1;
}

void r1c_synth_grade(const r1c_synth_example *ex, const char *text, int prompt_opens_think, int *right, int *format,
                     int *tagged) {
    const char *ts = strstr(text, "<think>"), *te = strstr(text, "</think>");
    const char *ao = te ? strstr(te, "<answer>") : NULL;
    if (tagged) *tagged = strstr(text, "<answer>") != NULL;
    if (format) *format = te && ao && strstr(ao, "</answer>") && (ts || prompt_opens_think) && (!ts || ts < te);
    if (!right) return;
    *right = 0;
    const char *ans;
    size_t len;
    if (!r1c_synth_extract_answer(text, &ans, &len)) return;
    char a[512];
    snprintf(a, sizeof a, "%.*s", (int)(len < sizeof a - 1 ? len : sizeof a - 1), ans);
    *right = ex->task == R1C_SYNTH_ARITH ? r1c_synth_check_arith(a, ex->answer)
                                         : r1c_synth_check_countdown(ex->numbers, ex->n_numbers, ex->target, a, NULL, 0);
}
