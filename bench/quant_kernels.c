/* quant_kernels.c — benchmark and bit-identity check of the quantised matrix-vector kernels
 * (r1c_quant_kernels tables: generic, avx2, avxvnni, vnni).
 *
 *   bench_quant [--check] [--bench] [--reps N] [--table NAME] [--type NAME] [--seconds S]
 *               [--shape NxK ...]
 *
 * --bench (default): single thread, one matrix-vector product over a whole n x k matrix
 *   (1536 x 8960 and 8960 x 1536) of each type; prints the weight bytes streamed per second and
 *   the time per row (best of repeated calls, after a warm-up). --shape replaces the shapes:
 *   e.g. 64x1536 and 64x8960 (a chunk of rows as ops.c hands out in prefill, L2-resident).
 * --check: random weights (finite scales, and arbitrary bytes), activations from
 *   r1c_quantize_act and arbitrary activation bytes (Q8_0 values of -128, Q8_K bsums that do not
 *   match the quants), odd k and n, padded rows: every table's output compared with memcmp
 *   against r1c_quant_dot row by row. Exit status 1 on any difference. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/dtype.h"
#include "tensor/kernels.h"
#include "tensor/quant.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

typedef struct {
    const char *name;
    const r1c_quant_kernels *q;
} table;

static int cpu_vnni512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}
static int cpu_avx2(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    unsigned a, b, c, d;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __get_cpuid(1, &a, &b, &c, &d) &&
           (c & (1u << 29));
#else
    return 0;
#endif
}
static int cpu_avxvnni(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    return cpu_avx2() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
#else
    return 0;
#endif
}

static int tables(table *t) {
    int n = 0;
    t[n++] = (table){"generic", &r1c_quant_kernels_generic};
#if defined(__x86_64__)
    if (cpu_avx2()) t[n++] = (table){"avx2", &r1c_quant_kernels_avx2};
#if defined(R1C_HAVE_AVXVNNI_TABLE)
    if (cpu_avxvnni()) t[n++] = (table){"avxvnni", &r1c_quant_kernels_avxvnni};
#endif
    if (cpu_vnni512()) t[n++] = (table){"vnni", &r1c_quant_kernels_vnni};
#endif
    (void)cpu_avxvnni;
    return n;
}

static const r1c_dtype TYPES[] = {R1C_Q8_0, R1C_Q4_0, R1C_Q4_K, R1C_Q6_K};
static const char *const TYPE_NAMES[] = {"q8_0", "q4_0", "q4_K", "q6_K"};

static r1c_qmatvec_fn pick(const r1c_quant_kernels *q, r1c_dtype t) {
    return t == R1C_Q8_0 ? q->q8_0 : t == R1C_Q4_0 ? q->q4_0 : t == R1C_Q4_K ? q->q4_K : q->q6_K;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static float gauss(void) {
    double u1 = ((double)(rnd() >> 11) + 0.5) * 0x1.0p-53, u2 = (double)(rnd() >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a random finite f16 scale of magnitude about 2^-12 .. 2^2, either sign */
static uint16_t rand_scale(void) {
    uint16_t e = (uint16_t)(3 + rnd() % 15); /* exponent field 3..17 */
    return (uint16_t)((rnd() & 1) << 15 | e << 10 | (rnd() & 0x3ff));
}

/* Fill n rows of k elements of type t, row_bytes rb apart: mode 0 = random bytes with sane
 * scales, mode 1 = arbitrary bytes, mode 2 = llama.cpp's quantiser on N(0,1) values */
static void fill_weights(r1c_dtype t, uint8_t *w, size_t rb, int64_t n, int64_t k, int mode) {
    const int64_t nb = k / r1c_dtype_block(t);
    const int bb = r1c_dtype_block_bytes(t);
    float *tmp = mode == 2 ? malloc((size_t)k * sizeof(float)) : NULL;
    for (int64_t r = 0; r < n; r++) {
        uint8_t *row = w + (size_t)r * rb;
        for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rnd();
        if (mode == 2) {
            for (int64_t i = 0; i < k; i++) tmp[i] = gauss();
            r1c_quantize_row(t, tmp, row, k);
            continue;
        }
        if (mode == 1) continue;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *blk = row + b * bb;
            uint16_t s0 = rand_scale(), s1 = rand_scale();
            switch (t) {
            case R1C_Q8_0:
            case R1C_Q4_0: memcpy(blk, &s0, 2); break;
            case R1C_Q4_K:
                memcpy(blk, &s0, 2);
                memcpy(blk + 2, &s1, 2);
                break;
            case R1C_Q6_K: memcpy(blk + 208, &s0, 2); break;
            default: break;
            }
        }
    }
    free(tmp);
}

/* activations for weights of type t: mode 0 = r1c_quantize_act of N(0,1) (some blocks scaled
 * to extremes), mode 1 = arbitrary bytes with sane scales (Q8_0 -128s, wrong bsums) */
static void fill_act(r1c_dtype t, uint8_t *x, int64_t k, int mode) {
    const r1c_dtype a = r1c_quant_act_type(t);
    const uint64_t xb = r1c_dtype_row_bytes(a, (uint64_t)k);
    if (mode == 0) {
        float *f = malloc((size_t)k * sizeof(float));
        for (int64_t i = 0; i < k; i++) f[i] = gauss() * (i % 97 == 0 ? 50.0f : 1.0f);
        if (k >= 64)
            for (int i = 0; i < 32; i++) f[32 + i] *= 1e-30f; /* a tiny block */
        r1c_quantize_act(a, f, x, k);
        free(f);
        return;
    }
    for (uint64_t i = 0; i < xb; i++) x[i] = (uint8_t)rnd();
    const int bs = r1c_dtype_block_bytes(a), nb = (int)(k / r1c_dtype_block(a));
    for (int b = 0; b < nb; b++) {
        uint8_t *blk = x + b * bs;
        if (a == R1C_Q8_0) {
            uint16_t s = rand_scale();
            memcpy(blk, &s, 2);
            if (b % 3 == 0) blk[2 + b % 32] = 0x80, blk[2 + (b + 7) % 32] = 0x80;
        } else {
            float d = ldexpf((float)(rnd() % 1000) / 1000.0f + 0.5f, -(int)(rnd() % 12)) * ((rnd() & 1) ? -1.0f : 1.0f);
            memcpy(blk, &d, 4);
            if (b % 2 == 0) memset(blk + 4, 0x80, 32); /* runs of -128 */
        }
    }
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static int check(const table *tb, int nt) {
    int bad = 0;
    long long compared = 0;
    for (int ti = 0; ti < 4; ti++) {
        const r1c_dtype t = TYPES[ti];
        const int blk = r1c_dtype_block(t);
        /* odd and even block counts, n not a multiple of 4 (or 8) */
        const int64_t ks_small[] = {1, 2, 3, 5, 7, 8, 9, 16, 33, 48, 71, 280};
        for (int ki = 0; ki < (int)(sizeof ks_small / sizeof ks_small[0]); ki++) {
            const int64_t k = ks_small[ki] * blk;
            if (k > 300 * 256) continue;
            const int64_t ns[] = {1, 3, 4, 7, 13, 37};
            for (int ni = 0; ni < 6; ni++) {
                const int64_t n = ns[ni];
                for (int mode = 0; mode < 6; mode++) {
                    const int wmode = mode % 3, amode = mode / 3;
                    const size_t rb = (size_t)r1c_dtype_row_bytes(t, (uint64_t)k) + (size_t)(rnd() % 3) * 7; /* padded rows */
                    const size_t off = rnd() % 5;                                                            /* unaligned */
                    uint8_t *wbuf = malloc(rb * (size_t)n + 64);
                    uint8_t *w = wbuf + off;
                    fill_weights(t, w, rb, n, k, wmode);
                    const uint64_t xb = r1c_dtype_row_bytes(r1c_quant_act_type(t), (uint64_t)k);
                    uint8_t *xbuf = malloc(xb + 64);
                    uint8_t *x = xbuf + rnd() % 7;
                    fill_act(t, x, k, amode);
                    float *ref = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)(n + 2) * sizeof(float));
                    for (int64_t r = 0; r < n; r++) ref[r] = r1c_quant_dot(t, w + (size_t)r * rb, x, k);
                    for (int i = 0; i < nt; i++) {
                        y[0] = y[n + 1] = 12345.0f;
                        pick(tb[i].q, t)(w, rb, x, y + 1, k, n);
                        if (y[0] != 12345.0f || y[n + 1] != 12345.0f) {
                            printf("FAIL %s %s k=%lld n=%lld: wrote outside y\n", tb[i].name, TYPE_NAMES[ti], (long long)k, (long long)n);
                            bad++;
                        }
                        for (int64_t r = 0; r < n; r++) {
                            compared++;
                            /* arbitrary bytes make NaN scales: NaN matches NaN (payloads aside) */
                            if (same_bits(y[1 + r], ref[r]) || (wmode == 1 && isnan(y[1 + r]) && isnan(ref[r]))) continue;
                            if (bad < 20 || getenv("VERBOSE"))
                                printf("FAIL %s %s k=%lld n=%lld row %lld wmode %d amode %d: %.9g vs ref %.9g\n", tb[i].name,
                                       TYPE_NAMES[ti], (long long)k, (long long)n, (long long)r, wmode, amode, y[1 + r], ref[r]);
                            bad++;
                        }
                    }
                    free(ref);
                    free(y);
                    free(wbuf);
                    free(xbuf);
                }
            }
        }
    }
    printf("check: %lld row results compared (%d tables incl. generic), %d differences\n", compared, nt, bad);
    return bad != 0;
}

static int64_t shapes[8][2] = {{1536, 8960}, {8960, 1536}}; /* n rows x k */
static int n_shapes = 2, shapes_given = 0;

static void bench(const table *tb, int nt, const char *only_table, const char *only_type, double seconds, int reps) {
    printf("%-8s %-5s %5s x %-5s %10s %10s %10s\n", "table", "type", "n", "k", "GB/s", "ns/row", "ms/call");
    for (int ti = 0; ti < 4; ti++) {
        if (only_type && strcmp(only_type, TYPE_NAMES[ti])) continue;
        const r1c_dtype t = TYPES[ti];
        for (int si = 0; si < n_shapes; si++) {
            const int64_t n = shapes[si][0], k = shapes[si][1];
            const size_t rb = (size_t)r1c_dtype_row_bytes(t, (uint64_t)k);
            uint8_t *w = aligned_alloc(64, (rb * (size_t)n + 63) & ~(size_t)63);
            fill_weights(t, w, rb, n, k, 0);
            const uint64_t xb = r1c_dtype_row_bytes(r1c_quant_act_type(t), (uint64_t)k);
            uint8_t *x = malloc(xb);
            fill_act(t, x, k, 0);
            float *y = malloc((size_t)n * sizeof(float));
            for (int i = 0; i < nt; i++) {
                if (only_table && strcmp(only_table, tb[i].name)) continue;
                r1c_qmatvec_fn f = pick(tb[i].q, t);
                for (int rep = 0; rep < reps; rep++) {
                    f(w, rb, x, y, k, n); /* warm-up */
                    double best = 1e30, t0 = now();
                    int calls = 0;
                    do {
                        double a = now();
                        f(w, rb, x, y, k, n);
                        double e = now() - a;
                        if (e < best) best = e;
                        calls++;
                    } while (now() - t0 < seconds || calls < 3);
                    printf("%-8s %-5s %5lld x %-5lld %10.2f %10.1f %10.3f\n", tb[i].name, TYPE_NAMES[ti], (long long)n,
                           (long long)k, (double)(rb * (size_t)n) / best * 1e-9, best / (double)n * 1e9, best * 1e3);
                    fflush(stdout);
                }
            }
            free(w);
            free(x);
            free(y);
        }
    }
}

int main(int argc, char **argv) {
    int do_check = 0, do_bench = 0, reps = 1;
    const char *only_table = NULL, *only_type = NULL;
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check")) do_check = 1;
        else if (!strcmp(argv[i], "--bench")) do_bench = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--table") && i + 1 < argc) only_table = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) only_type = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) { /* NxK, repeatable (at most 8) */
            long long a, b;
            if (sscanf(argv[++i], "%lldx%lld", &a, &b) != 2 || a < 1 || b < 1) return 2;
            if (!shapes_given) n_shapes = 0, shapes_given = 1;
            if (n_shapes < 8) shapes[n_shapes][0] = a, shapes[n_shapes][1] = b, n_shapes++;
        }
        else {
            fprintf(stderr, "usage: %s [--check] [--bench] [--reps N] [--table NAME] [--type NAME] [--seconds S] [--shape NxK]\n", argv[0]);
            return 2;
        }
    }
    if (!do_check && !do_bench) do_bench = 1;
    table tb[8];
    const int nt = tables(tb);
    printf("tables:");
    for (int i = 0; i < nt; i++) printf(" %s", tb[i].name);
    printf("\n");
    int rc = 0;
    if (do_check) rc |= check(tb, nt);
    if (do_bench) bench(tb, nt, only_table, only_type, seconds, reps);
    return rc;
}
