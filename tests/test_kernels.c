/* test_kernels.c — the kernel tables, r1c_matmul and the dtype conversions.
 *
 * The contract under test (src/tensor/kernels.h): every table computes a dot product in the
 * one canonical order (16 lanes, fused multiply-add, fixed tree sum), so the tables agree bit
 * for bit with each other, the blocked GEMM (gemm_acc + lane_sums) agrees with the
 * matrix-vector kernel, and r1c_matmul gives the same bits for any thread count, any batch
 * size and any kernel table. Bit identity is
 * checked with memcmp; accuracy (against a double-precision loop) only for the generic table,
 * since the others are then equal to it.
 *
 * Buffers are sized exactly and most pointers are deliberately misaligned, so that under
 * AddressSanitizer a kernel reading or writing past a partial last group is caught. */
#include <float.h>
#include <math.h>

#include "r1c.h"
#include "tensor/dtype.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "test_util.h"

static const char *const TABLE_NAMES[] = {"generic", "avx2", "avx512", "neon", "neon_dotprod"};
#define N_TABLE_NAMES ((int)(sizeof TABLE_NAMES / sizeof TABLE_NAMES[0]))
static const r1c_kernels *g_tables[N_TABLE_NAMES];
static int g_n_tables;

static const int64_t KS[] = {1, 3, 15, 16, 17, 31, 33, 64, 100, 257, 1000, 4097};
#define N_KS ((int)(sizeof KS / sizeof KS[0]))
static const int64_t ROWS[] = {1, 3, 7, 8, 9, 17};
#define N_ROWS ((int)(sizeof ROWS / sizeof ROWS[0]))

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Random values spread over several binades: when two summation orders differ, values of
 * mixed magnitude make the difference show up in the low bits instead of cancelling out. */
static float rand_spread(uint64_t *s) {
    int e = (int)(test_rand(s) % 9) - 4;
    return ldexpf(test_randf(s), e);
}

/* ------------------------------------------------------------------ matvec */

enum { W_F32, W_BF16, W_F16 };
static const char *const WKIND[] = {"f32", "bf16", "f16"};

static void matvec(const r1c_kernels *K, int kind, const void *w, const float *x, float *y,
                   int64_t k, int64_t n) {
    if (kind == W_F32) K->matvec_f32(w, x, y, k, n);
    else if (kind == W_BF16) K->matvec_bf16(w, x, y, k, n);
    else K->matvec_f16(w, x, y, k, n);
}

static double weight_at(int kind, const void *w, int64_t i) {
    if (kind == W_F32) return ((const float *)w)[i];
    if (kind == W_BF16) return r1c_bf16_to_f32(((const uint16_t *)w)[i]);
    return r1c_f16_to_f32(((const uint16_t *)w)[i]);
}

static void test_matvec(void) {
    uint64_t seed = 0x1234567887654321ull;
    for (int kind = W_F32; kind <= W_F16; kind++) {
        const size_t esz = kind == W_F32 ? 4 : 2;
        for (int ki = 0; ki < N_KS; ki++)
            for (int ni = 0; ni < N_ROWS; ni++) {
                const int64_t k = KS[ki], n = ROWS[ni];
                /* One element of offset: the pointers are not 16/32/64-byte aligned, and the
                 * data still ends exactly at the end of the allocation. */
                char *wbuf = xmalloc(esz * (size_t)(n * k + 1));
                float *xbuf = xmalloc(sizeof(float) * (size_t)(k + 1));
                void *w = wbuf + esz;
                float *x = xbuf + 1;
                for (int64_t i = 0; i < n * k; i++) {
                    float v = rand_spread(&seed);
                    if (kind == W_F32) ((float *)w)[i] = v;
                    else if (kind == W_BF16) ((uint16_t *)w)[i] = r1c_f32_to_bf16(v);
                    else ((uint16_t *)w)[i] = r1c_f32_to_f16(v);
                }
                for (int64_t i = 0; i < k; i++) x[i] = rand_spread(&seed);

                /* y[n] is a guard: no kernel may write past the last row */
                const float guard = float_of(0x7fc0beefu);
                float *ref = xmalloc(sizeof(float) * (size_t)(n + 1));
                float *y = xmalloc(sizeof(float) * (size_t)(n + 1));
                ref[n] = guard;
                matvec(g_tables[0], kind, w, x, ref, k, n);
                CHECK(bits_of(ref[n]) == bits_of(guard), "generic %s matvec wrote past row %lld",
                      WKIND[kind], (long long)n);

                /* generic vs a double loop: the canonical sum does ceil(k/16) fused steps per
                 * lane and 4 tree additions, each rounding once, so |err| <= m u sum|w x|
                 * (u = eps/2, m = ceil(k/16) + 4); m eps leaves a factor 2 of slack. */
                const double m = (double)((k + 15) / 16 + 4);
                for (int64_t r = 0; r < n; r++) {
                    double exact = 0, mag = 0;
                    for (int64_t i = 0; i < k; i++) {
                        double p = weight_at(kind, w, r * k + i) * x[i];
                        exact += p;
                        mag += fabs(p);
                    }
                    double err = fabs((double)ref[r] - exact), tol = m * FLT_EPSILON * mag;
                    CHECK(err <= tol, "generic %s matvec k=%lld n=%lld row %lld: |%.9g - %.9g| = %g > %g",
                          WKIND[kind], (long long)k, (long long)n, (long long)r, ref[r], exact, err, tol);
                }

                for (int t = 1; t < g_n_tables; t++) {
                    for (int64_t r = 0; r <= n; r++) y[r] = guard;
                    matvec(g_tables[t], kind, w, x, y, k, n);
                    CHECK(memcmp(y, ref, sizeof(float) * (size_t)n) == 0,
                          "%s %s matvec k=%lld n=%lld differs from generic", g_tables[t]->name,
                          WKIND[kind], (long long)k, (long long)n);
                    CHECK(bits_of(y[n]) == bits_of(guard), "%s %s matvec wrote past row %lld",
                          g_tables[t]->name, WKIND[kind], (long long)n);
                }
                free(wbuf), free(xbuf), free(ref), free(y);
            }
    }
}

/* ---------------------------------------------------------------- gemm_acc */

static void test_gemm_acc(void) {
    uint64_t seed = 0xfeedface12345ull;
    for (int ki = 0; ki < N_KS; ki++) {
        const int64_t k = KS[ki];
        /* Row strides other than k: the GEMM reads panels out of wider matrices. */
        const int64_t ldw = k + 3, ldx = k + 5;
        const size_t wn = (size_t)(3 * ldw + k), xn = (size_t)(5 * ldx + k);
        float *w = xmalloc(sizeof(float) * wn), *x = xmalloc(sizeof(float) * xn);
        for (size_t i = 0; i < wn; i++) w[i] = rand_spread(&seed);
        for (size_t i = 0; i < xn; i++) x[i] = rand_spread(&seed);

        for (int nt = 1; nt <= R1C_GEMM_MT; nt++)
            for (int nr = 1; nr <= R1C_GEMM_NR; nr++) {
                const size_t an = (size_t)nt * nr * R1C_LANES;
                float *gen = xmalloc(sizeof(float) * an);
                float *one = xmalloc(sizeof(float) * an), *blk = xmalloc(sizeof(float) * an);
                for (int ti = 0; ti < g_n_tables; ti++) {
                    const r1c_kernels *K = g_tables[ti];
                    /* Garbage in the accumulators: init must ignore it. */
                    for (size_t i = 0; i < an; i++) one[i] = blk[i] = float_of(0x7fc01234u);
                    K->gemm_acc(w, ldw, nr, x, ldx, nt, one, k, 1);
                    /* As r1c_matmul does: blocks of 512 (a multiple of 16, so every lane keeps
                     * its residue class of k) and a tail; the first block initialises. */
                    for (int64_t k0 = 0; k0 < k; k0 += 512) {
                        int64_t kl = k - k0 < 512 ? k - k0 : 512;
                        K->gemm_acc(w + k0, ldw, nr, x + k0, ldx, nt, blk, kl, k0 == 0);
                    }
                    if (ti == 0) memcpy(gen, one, sizeof(float) * an);
                    CHECK(memcmp(one, blk, sizeof(float) * an) == 0,
                          "%s gemm_acc nt=%d nr=%d k=%lld: blocked lanes differ from one pass",
                          K->name, nt, nr, (long long)k);
                    CHECK(memcmp(one, gen, sizeof(float) * an) == 0,
                          "%s gemm_acc nt=%d nr=%d k=%lld: lanes differ from generic", K->name, nt,
                          nr, (long long)k);
                    for (int t = 0; t < nt; t++)
                        for (int r = 0; r < nr; r++) {
                            float y;
                            K->matvec_f32(w + r * ldw, x + t * ldx, &y, k, 1);
                            const float *lanes = one + ((size_t)t * nr + r) * R1C_LANES;
                            float s1 = r1c_lane_sum(lanes);
                            float s2 = r1c_lane_sum(blk + ((size_t)t * nr + r) * R1C_LANES);
                            CHECK(bits_of(s1) == bits_of(y) && bits_of(s2) == bits_of(y),
                                  "%s gemm_acc nt=%d nr=%d k=%lld t=%d r=%d: %.9g / %.9g vs matvec %.9g",
                                  K->name, nt, nr, (long long)k, t, r, s1, s2, y);
                        }
                }
                free(gen), free(one), free(blk);
            }
        free(w), free(x);
    }
}

/* lane_sums: the batched form of the canonical tree sum that r1c_matmul applies to the GEMM
 * accumulators; every table must give r1c_lane_sum's bits, for any count (full groups of 16
 * and a partial last group in the AVX-512 transposed version). */
static void test_lane_sums(void) {
    uint64_t seed = 0x1a2e5u;
    const float guard = float_of(0x7fc05a5au);
    for (int64_t n = 0; n <= 50; n += n < 34 ? 1 : 16) {
        float *acc = xmalloc(sizeof(float) * (size_t)(n * R1C_LANES));
        float *out = xmalloc(sizeof(float) * (size_t)(n + 1));
        for (int64_t i = 0; i < n * R1C_LANES; i++) acc[i] = rand_spread(&seed);
        for (int ti = 0; ti < g_n_tables; ti++) {
            for (int64_t i = 0; i <= n; i++) out[i] = guard;
            g_tables[ti]->lane_sums(acc, n, out);
            int bad = 0;
            for (int64_t i = 0; i < n; i++) bad += bits_of(out[i]) != bits_of(r1c_lane_sum(acc + i * R1C_LANES));
            CHECK(bad == 0, "%s lane_sums n=%lld: %d sums differ from r1c_lane_sum", g_tables[ti]->name,
                  (long long)n, bad);
            CHECK(bits_of(out[n]) == bits_of(guard), "%s lane_sums n=%lld wrote past the end",
                  g_tables[ti]->name, (long long)n);
        }
        free(acc), free(out);
    }
}

/* ------------------------------------------------------------------ matmul */

#define MAX_THREADS 4

typedef struct exec_buf {
    r1c_exec ex;
    float *scratch[MAX_THREADS];
} exec_buf;

static void exec_init(exec_buf *e) {
    e->ex = (r1c_exec){0}; /* no matmul hook (after_mm) */
    e->ex.scratch_floats = r1c_exec_scratch_floats(64, 0);
    for (int i = 0; i < MAX_THREADS; i++) {
        void *p = NULL;
        if (posix_memalign(&p, 64, sizeof(float) * e->ex.scratch_floats) != 0) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        e->scratch[i] = p;
    }
    e->ex.scratch = e->scratch;
    e->ex.n_threads = 1;
}

static void exec_free(exec_buf *e) {
    for (int i = 0; i < MAX_THREADS; i++) free(e->scratch[i]);
}

static const r1c_dtype MM_DTYPES[] = {R1C_F32, R1C_BF16, R1C_F16};

/* A [rows][K] weight of the given dtype over freshly allocated, random storage. */
static r1c_tensor make_weight(r1c_dtype dt, int64_t rows, int64_t K, uint64_t *seed) {
    r1c_tensor t = {.name = "w", .dtype = dt, .n_dims = 2, .shape = {rows, K}};
    size_t n = (size_t)(rows * K), esz = (size_t)r1c_dtype_size(dt);
    void *p = xmalloc(esz * n);
    for (size_t i = 0; i < n; i++) {
        float v = rand_spread(seed);
        if (dt == R1C_F32) ((float *)p)[i] = v;
        else if (dt == R1C_BF16) ((uint16_t *)p)[i] = r1c_f32_to_bf16(v);
        else ((uint16_t *)p)[i] = r1c_f32_to_f16(v);
    }
    t.data = p;
    t.nbytes = esz * n;
    return t;
}

/* a quiet NaN with a recognisable payload: no computed result has these bits */
#define SENTINEL 0x7fc0c0deu

/* Y = W X through r1c_matmul; the padding columns of Y (ldy > rows) must stay untouched. */
static float *run_matmul(exec_buf *e, int n_threads, const r1c_tensor *w, const float *x,
                         int64_t ldx, int T, int64_t ldy) {
    size_t n = (size_t)T * (size_t)ldy;
    float *y = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) y[i] = float_of(SENTINEL);
    e->ex.n_threads = n_threads;
    r1c_mm_job job = {.w = w, .y = y, .ldy = ldy};
    r1c_matmul(&e->ex, &job, 1, x, ldx, T);
    return y;
}

static int padding_intact(const float *y, int T, int64_t rows, int64_t ldy) {
    for (int t = 0; t < T; t++)
        for (int64_t r = rows; r < ldy; r++)
            if (bits_of(y[(int64_t)t * ldy + r]) != SENTINEL) return 0;
    return 1;
}

/* (a) the same bits for 1..MAX_THREADS threads, (b) every row of a batch equal to that token
 * alone (T = 1 takes the matrix-vector path, T > 1 the blocked GEMM). */
static void matmul_case(exec_buf *e, r1c_dtype dt, int64_t rows, int64_t K, const int *Ts, int nT,
                        uint64_t *seed) {
    int maxT = 0;
    for (int i = 0; i < nT; i++) maxT = Ts[i] > maxT ? Ts[i] : maxT;
    r1c_tensor w = make_weight(dt, rows, K, seed);
    const int64_t ldx = K + 3, ldy = rows + 2;
    float *x = xmalloc(sizeof(float) * (size_t)(maxT * ldx));
    for (int64_t i = 0; i < maxT * ldx; i++) x[i] = rand_spread(seed);
    float *single = xmalloc(sizeof(float) * (size_t)(maxT * rows));
    for (int t = 0; t < maxT; t++) {
        float *y1 = run_matmul(e, 1, &w, x + t * ldx, ldx, 1, rows);
        memcpy(single + t * rows, y1, sizeof(float) * (size_t)rows);
        free(y1);
    }
    for (int ti = 0; ti < nT; ti++) {
        const int T = Ts[ti];
        float *y1 = run_matmul(e, 1, &w, x, ldx, T, ldy);
        CHECK(padding_intact(y1, T, rows, ldy), "matmul %s rows=%lld K=%lld T=%d wrote into the padding of Y",
              r1c_dtype_name(dt), (long long)rows, (long long)K, T);
        for (int nth = 2; nth <= MAX_THREADS; nth++) {
            float *yn = run_matmul(e, nth, &w, x, ldx, T, ldy);
            CHECK(memcmp(yn, y1, sizeof(float) * (size_t)(T * ldy)) == 0,
                  "matmul %s rows=%lld K=%lld T=%d: %d threads differ from 1", r1c_dtype_name(dt),
                  (long long)rows, (long long)K, T, nth);
            free(yn);
        }
        int same = 1;
        for (int t = 0; t < T; t++)
            same &= memcmp(y1 + t * ldy, single + t * rows, sizeof(float) * (size_t)rows) == 0;
        CHECK(same, "matmul %s rows=%lld K=%lld T=%d: a row differs from the T=1 result", r1c_dtype_name(dt),
              (long long)rows, (long long)K, T);
        free(y1);
    }
    free(single), free(x), free((void *)w.data);
}

static void test_matmul(void) {
    static const int64_t MROWS[] = {1, 5, 16, 17, 33, 100};
    static const int64_t MK[] = {1, 17, 64, 513, 1100};
    static const int MT[] = {1, 2, 5, 6, 7, 48, 49, 100};
    uint64_t seed = 0xabcdef0011223344ull;
    exec_buf e;
    exec_init(&e);

    for (int di = 0; di < 3; di++)
        for (int ri = 0; ri < 6; ri++)
            for (int ki = 0; ki < 5; ki++) matmul_case(&e, MM_DTYPES[di], MROWS[ri], MK[ki], MT, 8, &seed);
    /* Enough rows for several work chunks per thread, with a partial last chunk, and batches
     * past one token block of the GEMM. */
    static const int BIG_T[] = {1, 7, 97, 200};
    for (int di = 0; di < 3; di++) matmul_case(&e, MM_DTYPES[di], 333, 129, BIG_T, 4, &seed);

    /* (c) Two jobs in one call, as the fused q/k/v or gate/up projections: the threads split
     * the concatenated rows, so a thread's range can start in one job and end in the next.
     * Mixed dtypes, since the jobs only share X. */
    static const int64_t PAIRS[][2] = {{17, 33}, {5, 100}, {16, 1}, {60, 40}, {100, 130}};
    static const int64_t CK[] = {64, 1100};
    static const int CT[] = {1, 7, 49};
    for (int pi = 0; pi < 5; pi++)
        for (int ki = 0; ki < 2; ki++)
            for (int ti = 0; ti < 3; ti++) {
                const int64_t ra = PAIRS[pi][0], rb = PAIRS[pi][1], K = CK[ki];
                const int T = CT[ti];
                r1c_tensor wa = make_weight(MM_DTYPES[pi % 3], ra, K, &seed);
                r1c_tensor wb = make_weight(MM_DTYPES[(pi + 1) % 3], rb, K, &seed);
                float *x = xmalloc(sizeof(float) * (size_t)(T * K));
                for (int64_t i = 0; i < T * K; i++) x[i] = rand_spread(&seed);
                float *sa = run_matmul(&e, 1, &wa, x, K, T, ra);
                float *sb = run_matmul(&e, 1, &wb, x, K, T, rb);
                for (int nth = 1; nth <= MAX_THREADS; nth++) {
                    float *ya = xmalloc(sizeof(float) * (size_t)(T * ra));
                    float *yb = xmalloc(sizeof(float) * (size_t)(T * rb));
                    r1c_mm_job jobs[2] = {{.w = &wa, .y = ya, .ldy = ra}, {.w = &wb, .y = yb, .ldy = rb}};
                    e.ex.n_threads = nth;
                    r1c_matmul(&e.ex, jobs, 2, x, K, T);
                    CHECK(memcmp(ya, sa, sizeof(float) * (size_t)(T * ra)) == 0 &&
                              memcmp(yb, sb, sizeof(float) * (size_t)(T * rb)) == 0,
                          "two jobs (%lld, %lld rows) K=%lld T=%d %d threads differ from separate calls",
                          (long long)ra, (long long)rb, (long long)K, T, nth);
                    free(ya), free(yb);
                }
                free(sa), free(sb), free(x), free((void *)wa.data), free((void *)wb.data);
            }

    /* The same matmul under every kernel table gives the same bits (the model-level
     * invariant the golden test relies on), here on shapes with GEMM edge tiles. */
    const char *active = r1c_kernel_isa();
    for (int di = 0; di < 3; di++) {
        r1c_tensor w = make_weight(MM_DTYPES[di], 33, 1100, &seed);
        float *x = xmalloc(sizeof(float) * 49 * 1100);
        for (int i = 0; i < 49 * 1100; i++) x[i] = rand_spread(&seed);
        float *ref[2] = {NULL, NULL};
        static const int TT[2] = {1, 49};
        for (int ti = 0; ti < g_n_tables; ti++) {
            CHECK(r1c_force_kernel_isa(g_tables[ti]->name) == R1C_OK, "force %s: %s",
                  g_tables[ti]->name, r1c_last_error());
            for (int j = 0; j < 2; j++) {
                float *y = run_matmul(&e, 3, &w, x, 1100, TT[j], 33);
                if (!ref[j]) ref[j] = y;
                else {
                    CHECK(memcmp(y, ref[j], sizeof(float) * 33 * (size_t)TT[j]) == 0,
                          "matmul %s T=%d under %s differs from generic", r1c_dtype_name(w.dtype),
                          TT[j], g_tables[ti]->name);
                    free(y);
                }
            }
        }
        free(ref[0]), free(ref[1]), free(x), free((void *)w.data);
    }
    CHECK(r1c_force_kernel_isa(active) == R1C_OK, "restore %s", active);
    exec_free(&e);
}

/* ------------------------------------------------------------------ dtypes */

/* Independent of the bit fiddling in dtype.c: the value an f16 pattern denotes. */
static double f16_value(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    double v;
    if (exp == 0) v = ldexp(man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexp(1024 + man, exp - 25);
    return sign ? -v : v;
}

static void test_bf16_scalar(void) {
    static const struct {
        uint32_t f;
        uint16_t want;
    } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1 */
        {0x3f808000u, 0x3f80}, /* 1 + 2^-8: halfway, 0x3f80 is even */
        {0x3f818000u, 0x3f82}, /* 1 + 3*2^-8: halfway between 0x3f81 and 0x3f82 (even) */
        {0x3f808001u, 0x3f81}, /* just above halfway */
        {0x3f817fffu, 0x3f81}, /* just below halfway */
        {0xbf808000u, 0xbf80}, /* negative: halfway rounds to even magnitude */
        {0xbf818000u, 0xbf82},
        {0x00008000u, 0x0000}, /* subnormal halfway down to zero (even) */
        {0x00018000u, 0x0002}, /* subnormal halfway up to even */
        {0x007fffffu, 0x0080}, /* largest subnormal rounds up to the smallest normal */
        {0x7f7f7fffu, 0x7f7f}, /* below the halfway point past the largest bf16 */
        {0x7f7f8000u, 0x7f80}, /* halfway between 0x7f7f (odd) and inf: rounds to inf */
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX overflows to inf */
        {0x7f800000u, 0x7f80}, /* inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x80000000u, 0x8000}, /* -0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = r1c_f32_to_bf16(float_of(cases[i].f));
        CHECK(got == cases[i].want, "f32_to_bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, got,
              cases[i].want);
    }
    /* NaN stays NaN, also when the payload sits only in the bits that truncation drops
     * (naive rounding would turn 0x7f800001 into inf). */
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fffffffu, 0xff80ffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = r1c_f32_to_bf16(float_of(nans[i]));
        CHECK((h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0, "f32_to_bf16(NaN 0x%08x) = 0x%04x", nans[i], h);
        CHECK((h & 0x8000) == ((nans[i] >> 16) & 0x8000), "f32_to_bf16(0x%08x) lost the sign", nans[i]);
    }
    /* every bf16 value converts exactly and back */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = r1c_bf16_to_f32((uint16_t)h);
        if (bits_of(f) != h << 16) bad++;
        if (!isnan(f) && r1c_f32_to_bf16(f) != h) bad++;
        if (isnan(f) && !isnan(r1c_bf16_to_f32(r1c_f32_to_bf16(f)))) bad++;
    }
    CHECK(bad == 0, "%d bf16 patterns do not round-trip", bad);
}

static void test_f16_scalar(void) {
    /* all 65536 patterns: the value, and the way back */
    int bad_val = 0, bad_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = r1c_f16_to_f32((uint16_t)h);
        double want = f16_value((uint16_t)h);
        if (isnan(want)) {
            if (!isnan(f)) bad_val++;
            uint16_t back = r1c_f32_to_f16(f);
            if ((back & 0x7c00) != 0x7c00 || (back & 0x3ff) == 0 || (back & 0x8000) != (h & 0x8000)) bad_trip++;
        } else {
            if ((double)f != want || !!signbit(f) != (int)(h >> 15)) bad_val++;
            if (r1c_f32_to_f16(f) != h) bad_trip++;
        }
    }
    CHECK(bad_val == 0, "%d f16 patterns widen to the wrong value", bad_val);
    CHECK(bad_trip == 0, "%d f16 patterns do not round-trip", bad_trip);

    static const struct {
        float f;
        uint16_t want;
    } cases[] = {
        {65504.0f, 0x7bff},          /* largest finite */
        {65519.0f, 0x7bff},          /* below the halfway point to 65536 */
        {65520.0f, 0x7c00},          /* halfway, 0x7bff is odd: rounds to inf */
        {-65520.0f, 0xfc00},
        {1e10f, 0x7c00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {0x1p-14f, 0x0400},          /* smallest normal */
        {0x1p-24f, 0x0001},          /* smallest subnormal */
        {0x3p-24f, 0x0003},
        {0x1p-25f, 0x0000},          /* half the smallest subnormal: ties to even (zero) */
        {0x1.000002p-25f, 0x0001},   /* just above that */
        {0x3p-25f, 0x0002},          /* 1.5 x smallest: halfway between 1 and 2, to even */
        {0x5p-25f, 0x0002},          /* 2.5 x smallest: to even */
        {0x7ffp-25f, 0x0400},        /* largest subnormal + half: up to the smallest normal */
        {0x1p-26f, 0x0000},
        {-0x1p-24f, 0x8001},
        {-0.0f, 0x8000},
        {1.0f + 0x1p-11f, 0x3c00},   /* halfway above 1: even */
        {1.0f + 0x3p-11f, 0x3c02},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = r1c_f32_to_f16(cases[i].f);
        CHECK(got == cases[i].want, "f32_to_f16(%a) = 0x%04x, want 0x%04x", cases[i].f, got, cases[i].want);
    }
    CHECK(isnan(r1c_f16_to_f32(r1c_f32_to_f16(NAN))), "NaN -> f16 -> f32 is not NaN");

    /* Every rounding boundary: the midpoint between two neighbouring positive f16 values
     * (exact in f32) goes to the even one, and one f32 ulp either side to the nearer one. */
    int bad_mid = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float mid = (float)((f16_value((uint16_t)h) + f16_value((uint16_t)(h + 1))) / 2);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        if (r1c_f32_to_f16(mid) != even) bad_mid++;
        if (r1c_f32_to_f16(nextafterf(mid, 0)) != h) bad_mid++;
        if (r1c_f32_to_f16(nextafterf(mid, INFINITY)) != h + 1) bad_mid++;
        if (r1c_f32_to_f16(-mid) != (even | 0x8000)) bad_mid++;
    }
    CHECK(bad_mid == 0, "%d f16 rounding boundaries wrong", bad_mid);
}

/* bitwise equal, or both NaN (the hardware converters may quiet a signalling NaN) */
static int same_or_both_nan(float a, float b) {
    return bits_of(a) == bits_of(b) || (isnan(a) && isnan(b));
}

static void test_vector_converters(void) {
    static const int64_t NS[] = {0, 1, 7, 8, 15, 16, 17, 100};
    uint64_t seed = 0x5eed5eedull;
    const float guard = float_of(0x7fc0f00du);
    for (int ti = 0; ti < g_n_tables; ti++) {
        const r1c_kernels *K = g_tables[ti];
        for (int ni = 0; ni < 8; ni++) {
            const int64_t n = NS[ni];
            uint16_t *src = xmalloc(2 * (size_t)n);
            float *dst = xmalloc(sizeof(float) * (size_t)(n + 1));
            for (int fmt = 0; fmt < 2; fmt++) {
                /* random bit patterns: subnormals, infinities and NaNs included */
                for (int64_t i = 0; i < n; i++) src[i] = (uint16_t)test_rand(&seed);
                dst[n] = guard;
                if (fmt == 0) K->bf16_to_f32(src, dst, n);
                else K->f16_to_f32(src, dst, n);
                int bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    float want = fmt == 0 ? r1c_bf16_to_f32(src[i]) : r1c_f16_to_f32(src[i]);
                    bad += !same_or_both_nan(dst[i], want);
                }
                CHECK(bad == 0, "%s %s_to_f32 n=%lld: %d elements differ from the scalar conversion",
                      K->name, fmt ? "f16" : "bf16", (long long)n, bad);
                CHECK(bits_of(dst[n]) == bits_of(guard), "%s %s_to_f32 n=%lld wrote past the end",
                      K->name, fmt ? "f16" : "bf16", (long long)n);
            }
            free(src), free(dst);
        }
        /* and all 65536 patterns in one call (the vector body, not only the tail) */
        uint16_t *all = xmalloc(2 * 65536);
        float *dst = xmalloc(sizeof(float) * 65536);
        for (uint32_t h = 0; h < 65536; h++) all[h] = (uint16_t)h;
        int bad16 = 0, badb = 0, nan_bits = 0;
        K->f16_to_f32(all, dst, 65536);
        for (uint32_t h = 0; h < 65536; h++) {
            float want = r1c_f16_to_f32((uint16_t)h);
            bad16 += !same_or_both_nan(dst[h], want);
            nan_bits += isnan(want) && bits_of(dst[h]) != bits_of(want);
        }
        K->bf16_to_f32(all, dst, 65536);
        for (uint32_t h = 0; h < 65536; h++) badb += bits_of(dst[h]) != bits_of(r1c_bf16_to_f32((uint16_t)h));
        CHECK(bad16 == 0, "%s f16_to_f32: %d of 65536 patterns differ from the scalar conversion", K->name, bad16);
        CHECK(badb == 0, "%s bf16_to_f32: %d of 65536 patterns differ from the scalar conversion", K->name, badb);
        if (nan_bits)
            fprintf(stderr, "note: %s f16_to_f32 gives other NaN bits than the scalar conversion for "
                            "%d NaN patterns (signalling NaNs quieted)\n", K->name, nan_bits);
        free(all), free(dst);
    }
}

/* -------------------------------------------------------------------- axpy */

static void test_axpy(void) {
    static const int64_t NS[] = {1, 3, 7, 9, 15, 17, 31, 33, 101, 1001};
    uint64_t seed = 0xa0a0a0a0a0ull;
    const float guard = float_of(0x7fc0aaaau);
    for (int ni = 0; ni < 10; ni++) {
        const int64_t n = NS[ni];
        float *xb = xmalloc(sizeof(float) * (size_t)(n + 1)), *x = xb + 1;
        float *y0 = xmalloc(sizeof(float) * (size_t)(n + 1));
        float *ref = xmalloc(sizeof(float) * (size_t)(n + 1)), *yb = xmalloc(sizeof(float) * (size_t)(n + 2));
        float *y = yb + 1;
        for (int64_t i = 0; i < n; i++) x[i] = rand_spread(&seed), y0[i] = rand_spread(&seed);
        const float a = rand_spread(&seed);
        memcpy(ref, y0, sizeof(float) * (size_t)n);
        g_tables[0]->axpy(a, x, ref, n);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) bad += bits_of(ref[i]) != bits_of(fmaf(a, x[i], y0[i]));
        CHECK(bad == 0, "generic axpy n=%lld is not fmaf", (long long)n);
        for (int ti = 1; ti < g_n_tables; ti++) {
            memcpy(y, y0, sizeof(float) * (size_t)n);
            y[n] = guard;
            g_tables[ti]->axpy(a, x, y, n);
            CHECK(memcmp(y, ref, sizeof(float) * (size_t)n) == 0, "%s axpy n=%lld differs from generic",
                  g_tables[ti]->name, (long long)n);
            CHECK(bits_of(y[n]) == bits_of(guard), "%s axpy n=%lld wrote past the end", g_tables[ti]->name,
                  (long long)n);
        }
        free(xb), free(y0), free(ref), free(yb);
    }
}

/* ------------------------------------------------------------ kernel picking */

static void test_force(void) {
    const char *before = r1c_kernel_isa();
    r1c_status st = r1c_force_kernel_isa("nonexistent");
    CHECK(st == R1C_ERR_UNSUPPORTED, "force nonexistent returned %d", (int)st);
    CHECK(contains(r1c_last_error(), "nonexistent"), "message does not name the set: '%s'", r1c_last_error());
    CHECK(strcmp(r1c_kernel_isa(), before) == 0, "a failed force changed the set to %s", r1c_kernel_isa());
    for (int ti = 0; ti < g_n_tables; ti++) {
        CHECK(r1c_force_kernel_isa(g_tables[ti]->name) == R1C_OK, "force %s", g_tables[ti]->name);
        CHECK(strcmp(r1c_kernel_isa(), g_tables[ti]->name) == 0, "active is %s after forcing %s",
              r1c_kernel_isa(), g_tables[ti]->name);
        CHECK(r1c_kernels_get() == g_tables[ti], "r1c_kernels_get is not the forced table");
    }
    CHECK(r1c_force_kernel_isa(before) == R1C_OK, "restore %s", before);
}

int main(void) {
    for (int i = 0; i < N_TABLE_NAMES; i++) {
        const r1c_kernels *K = r1c_kernels_by_name(TABLE_NAMES[i]);
        if (!K) {
            fprintf(stderr, "test_kernels: table '%s' not available on this CPU, skipped\n", TABLE_NAMES[i]);
            continue;
        }
        CHECK(strcmp(K->name, TABLE_NAMES[i]) == 0, "table %s is named %s", TABLE_NAMES[i], K->name);
        g_tables[g_n_tables++] = K;
    }
    CHECK(g_n_tables >= 1 && g_tables[0] == &r1c_kernels_generic, "no generic table");
    fprintf(stderr, "test_kernels: tables:");
    for (int i = 0; i < g_n_tables; i++) fprintf(stderr, " %s", g_tables[i]->name);
    fprintf(stderr, " (active: %s)\n", r1c_kernel_isa());

    test_matvec();
    test_gemm_acc();
    test_lane_sums();
    test_matmul();
    test_bf16_scalar();
    test_f16_scalar();
    test_vector_converters();
    test_axpy();
    test_force();
    return test_summary("test_kernels");
}
