/* test_sgemm.c — r1c_sgemm (src/train/sgemm.h) against a double-precision reference: the four
 * transpose combinations, alpha/beta cases, odd sizes, leading dimensions larger than the rows,
 * both micro-kernels (portable forced, and the CPU's), and 1 vs 2 threads bit-identical; all of
 * it for the f32 path and again for the bf16 path (r1c_exec.gemm_bf16). */
#include <float.h>
#include <math.h>

#include "tensor/dtype.h"

#include "test_util.h"
#include "train/sgemm.h"

static unsigned g_seed = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)((g_seed >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* Error bound. Each C element is s = sum_k a_k b_k in float (one accumulator, products rounded
 * or fused), then t = alpha s and c = beta c0 + t. Standard floating-point analysis (Higham,
 * Accuracy and Stability, 3.1): a recursive sum of K products has
 *   |fl(s) - s| <= gamma_K sum_k |a_k b_k|,  gamma_K = K u / (1 - K u),  u = FLT_EPSILON / 2,
 * and the K blocks only regroup the same recursive sum (adding a block's partial to C is one
 * more addition). The final scale and add cost at most 3 more roundings on |alpha| sum|ab| +
 * |beta c0|. So |c - ref| <= (K + 3) u / (1 - (K+3) u) (|alpha| sum|a b| + |beta c0|); we allow
 * (K + 4) FLT_EPSILON times that sum, twice the bound (the reference itself is exact enough in
 * double: its error is ~1e-16 relative). */
/*
 * The bf16 path (bf16 != 0) is checked twice per element.
 *
 * 1. Against the double reference of the bf16-ROUNDED inputs a' = bf16(a), b' = bf16(b), with
 *    the same bound as above. Why it still holds: a bf16 x bf16 product is exact in f32 (8 + 8
 *    significand bits <= 24), and vdpbf16ps adds a pair's two products to the accumulator one
 *    after the other, each addition rounded once (the portable kernel does the same), so each
 *    element is again a recursive f32 sum of its K exact products, merely taken odd k before
 *    even k within each pair; the zero padding of an odd K adds exact zeros. Higham's gamma_K
 *    does not care about the order of the terms, so |c - ref'| <= (K+4) eps mag' as before,
 *    mag' = |alpha| sum|a'b'| + |beta c0|. vdpbf16ps also flushes subnormals to zero; none
 *    occur here: frand's values are multiples of 2^-23, and so are their bf16 roundings, so every
 *    product and partial sum is 0 or at least 2^-46 in magnitude.
 * 2. Against the double reference of the unrounded inputs. bf16 keeps 8 significand bits, so
 *    u = 2^-8 and a' = a(1 + d), |d| <= u; then |a'b' - ab| <= (2u + u^2)|ab|, and
 *    |c - ref| <= (2u + u^2) |alpha| sum|ab| + (K+4) eps mag'  (check 1's bound on top).
 * And the flag must do something: with alpha != 0 and K > 0, the bf16 result differs from the
 * f32 path's somewhere (frand's 24-bit values are almost never bf16 already).
 */
static int check_case_x(int bf16, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                        int64_t pad, int threads, const char *tag) {
    const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const int64_t arows = ta ? K : M, brows = tb ? N : K;
    float *A = xmalloc(sizeof(float) * (size_t)(arows * lda));
    float *B = xmalloc(sizeof(float) * (size_t)(brows * ldb));
    float *C = xmalloc(sizeof(float) * (size_t)(M * ldc)), *C0 = xmalloc(sizeof(float) * (size_t)(M * ldc));
    for (int64_t i = 0; i < arows * lda; i++) A[i] = frand();
    for (int64_t i = 0; i < brows * ldb; i++) B[i] = frand();
    for (int64_t i = 0; i < M * ldc; i++) C0[i] = beta == 0.0f ? NAN : frand(); /* beta 0: garbage not read */
    memcpy(C, C0, sizeof(float) * (size_t)(M * ldc));
    const r1c_exec ex = {.n_threads = threads, .gemm_bf16 = bf16};
    r1c_sgemm(&ex, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    /* the bf16 path: the same product through the f32 path, to see that they differ */
    float *C32 = NULL;
    if (bf16) {
        C32 = xmalloc(sizeof(float) * (size_t)(M * ldc));
        memcpy(C32, C0, sizeof(float) * (size_t)(M * ldc));
        const r1c_exec ex32 = {.n_threads = threads};
        r1c_sgemm(&ex32, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C32, ldc);
    }
    int bad = 0;
    int64_t n_diff = 0; /* elements where the bf16 and f32 paths differ */
    for (int64_t i = 0; i < M && bad < 3; i++)
        for (int64_t j = 0; j < ldc && bad < 3; j++) {
            const float c = C[i * ldc + j];
            if (j >= N) { /* the padding past N is never touched */
                const float o = C0[i * ldc + j];
                if (memcmp(&c, &o, sizeof c) != 0) {
                    bad++;
                    CHECK(0, "%s: wrote padding (%lld,%lld)", tag, (long long)i, (long long)j);
                }
                continue;
            }
            if (C32 && memcmp(&c, &C32[i * ldc + j], sizeof c) != 0) n_diff++;
            /* ref, mag: of the inputs as given; ref1, mag1: of the values the kernel multiplies
             * (bf16-rounded on the bf16 path, the same as ref, mag on the f32 path) */
            double ref = 0, mag = 0, ref1 = 0, mag1 = 0;
            for (int64_t k = 0; k < K; k++) {
                const float af = ta ? A[k * lda + i] : A[i * lda + k], bf = tb ? B[j * ldb + k] : B[k * ldb + j];
                const double a = af, b = bf;
                const double a1 = bf16 ? r1c_bf16_to_f32(r1c_f32_to_bf16(af)) : a;
                const double b1 = bf16 ? r1c_bf16_to_f32(r1c_f32_to_bf16(bf)) : b;
                ref += a * b;
                mag += fabs(a * b);
                ref1 += a1 * b1;
                mag1 += fabs(a1 * b1);
            }
            ref *= alpha;
            mag *= fabs(alpha);
            ref1 *= alpha;
            mag1 *= fabs(alpha);
            if (beta != 0.0f) {
                const double bc = (double)beta * C0[i * ldc + j];
                ref += bc;
                ref1 += bc;
                mag1 += fabs(bc);
            }
            const double tol = (double)(K + 4) * FLT_EPSILON * mag1 + 1e-30;
            if (!(fabs(c - ref1) <= tol)) {
                bad++;
                CHECK(0, "%s tA%d tB%d M%lld N%lld K%lld alpha %g beta %g pad %lld: C(%lld,%lld) = %.9g, ref %.9g, tol %.3g",
                      tag, ta, tb, (long long)M, (long long)N, (long long)K, alpha, beta, (long long)pad, (long long)i,
                      (long long)j, c, ref1, tol);
            }
            if (bf16) { /* bound 2: the rounding of the operands on top of the f32 sum */
                const double u = 0x1p-8, tol_x = (2 * u + u * u) * mag + tol;
                if (!(fabs(c - ref) <= tol_x)) {
                    bad++;
                    CHECK(0,
                          "%s (vs unrounded) tA%d tB%d M%lld N%lld K%lld alpha %g beta %g: C(%lld,%lld) = %.9g, "
                          "ref %.9g, tol %.3g",
                          tag, ta, tb, (long long)M, (long long)N, (long long)K, alpha, beta, (long long)i, (long long)j,
                          c, ref, tol_x);
                }
            }
        }
    if (bf16 && alpha != 0.0f && K > 0)
        CHECK(n_diff > 0, "%s tA%d tB%d M%lld N%lld K%lld: the bf16 path gave the f32 path's bits everywhere", tag, ta,
              tb, (long long)M, (long long)N, (long long)K);
    g_checks++;
    free(A);
    free(B);
    free(C);
    free(C0);
    free(C32);
    return bad == 0;
}

static int g_bf16; /* run_all's path: check_case and check_threads read it */

static int check_case(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, int64_t pad,
                      int threads, const char *tag) {
    return check_case_x(g_bf16, ta, tb, M, N, K, alpha, beta, pad, threads, tag);
}

/* 1 and 2 threads give the same bits (the K order does not depend on the thread count) */
static void check_threads(int ta, int tb, int64_t M, int64_t N, int64_t K, const char *tag) {
    const int64_t lda = ta ? M : K, ldb = tb ? K : N;
    float *A = xmalloc(sizeof(float) * (size_t)(M * K)), *B = xmalloc(sizeof(float) * (size_t)(K * N));
    float *C1 = xmalloc(sizeof(float) * (size_t)(M * N)), *C2 = xmalloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M * K; i++) A[i] = frand();
    for (int64_t i = 0; i < K * N; i++) B[i] = frand();
    for (int64_t i = 0; i < M * N; i++) C1[i] = C2[i] = frand();
    const r1c_exec e1 = {.n_threads = 1, .gemm_bf16 = g_bf16}, e2 = {.n_threads = 2, .gemm_bf16 = g_bf16};
    r1c_sgemm(&e1, ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 1.0f, C1, N);
    r1c_sgemm(&e2, ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 1.0f, C2, N);
    CHECK(memcmp(C1, C2, sizeof(float) * (size_t)(M * N)) == 0, "%s: 1 vs 2 threads differ (tA%d tB%d %lldx%lldx%lld)",
          tag, ta, tb, (long long)M, (long long)N, (long long)K);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

static void run_all(const char *tag, int bf16) {
    g_bf16 = bf16;
    static const int64_t dims[] = {1, 3, 13, 31, 33, 65, 257};
    const int nd = (int)(sizeof dims / sizeof dims[0]);
    /* every transpose pair over a sweep of odd sizes: each dim takes each value at least once
     * (a full cube would be 343 x 4 cases; this walks the three dims through shifted orders) */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int a = 0; a < nd; a++)
                for (int b = 0; b < nd; b++) {
                    const int64_t M = dims[a], N = dims[b], K = dims[(a + 2 * b + ta + tb) % nd];
                    if (M * N * K > 2000000) continue;
                    check_case(ta, tb, M, N, K, 1.0f, 0.0f, 0, (a + b) % 2 + 1, tag);
                }
    /* K = 1, K just past the K block (256), and K over several blocks, not a multiple */
    static const int64_t ks[] = {1, 2, 255, 256, 257, 513, 700};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) check_case(ta, tb, 29, 47, ks[i], 1.0f, 0.0f, 0, 2, tag);
    /* alpha/beta: beta 0 over NaN, beta 1 accumulates, general values; leading dims > rows */
    const float ab[][2] = {{1, 0}, {1, 1}, {-0.5f, 1}, {2, 0.25f}, {0.3f, -1.5f}, {0, 0.5f}, {0, 0}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++) {
                check_case(ta, tb, 37, 45, 300, ab[i][0], ab[i][1], 7, 2, tag);
                check_case(ta, tb, 14, 32, 64, ab[i][0], ab[i][1], 3, 1, tag); /* exactly one tile */
            }
    /* a wider N than the N block (512) and M over many panels, with padding */
    check_case(0, 1, 130, 1100, 70, 1.0f, 1.0f, 5, 2, tag);
    check_case(1, 0, 300, 600, 520, 1.0f, 0.0f, 1, 2, tag);
    /* K = 0: C = beta C */
    check_case(0, 0, 5, 7, 0, 1.0f, 0.5f, 0, 1, tag);
    check_case(0, 0, 5, 7, 0, 1.0f, 0.0f, 0, 1, tag);
    /* thread-count independence on training-like shapes */
    check_threads(0, 1, 512, 256, 256, tag);
    check_threads(0, 0, 300, 257, 600, tag);
    check_threads(1, 0, 256, 704, 600, tag);
    check_threads(1, 1, 97, 1030, 130, tag);
}

/* bf16: NaN and infinity pass through the rounding (a NaN operand makes its row NaN, an
 * infinite one its row infinite when the rest is finite), and a value that is bf16 already is
 * not changed (an exact product gives an exact result). */
static void check_bf16_special(const char *tag) {
    enum { M = 3, N = 33, K = 5 };
    float A[M * K], B[K * N], C[M * N];
    for (int i = 0; i < M * K; i++) A[i] = (float)(i % 7) - 3.0f; /* small integers: exact in bf16 */
    for (int i = 0; i < K * N; i++) B[i] = (float)(i % 5) * 0.25f;
    A[0 * K + 2] = NAN;
    A[1 * K + 4] = INFINITY;
    const r1c_exec ex = {.n_threads = 1, .gemm_bf16 = 1};
    r1c_sgemm(&ex, 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    for (int j = 0; j < N; j++) {
        CHECK(isnan(C[0 * N + j]), "%s: NaN in A, C(0,%d) = %g", tag, j, C[j]);
        /* inf times a positive B is +inf (the row's other terms are finite); times 0, NaN */
        if (B[4 * N + j] > 0.0f)
            CHECK(isinf(C[1 * N + j]) && C[1 * N + j] > 0, "%s: inf in A, C(1,%d) = %g", tag, j, C[N + j]);
        double ref = 0;
        for (int k = 0; k < K; k++) ref += (double)A[2 * K + k] * B[k * N + j];
        CHECK(C[2 * N + j] == (float)ref, "%s: exact row, C(2,%d) = %g, ref %g", tag, j, C[2 * N + j], ref);
    }
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The rounding packing does, exactly: C = X I (or I X) with I the identity is X's bf16 rounding
 * with no summation error (every other term is a zero), for each packing route (a row along k,
 * two rows across the tile; A and B; sizes past one and two vectors with odd tails). The values:
 * random, ties (to even, both ways), just under a tie, carries into the exponent, negatives,
 * the smallest normal (subnormals are left out: vdpbf16ps flushes them). Then overflow to
 * infinity, and a NaN whose payload sits only in the low 16 bits (rounding it like a number
 * would give infinity). */
static void check_bf16_rounding(const char *tag) {
    enum { M = 37, K = 45 };
    static const uint32_t special[] = {0x3F808000u, 0x3F818000u, 0x3F807FFFu, 0x3F80FFFFu, 0x3FFFFFFFu, 0xBF808000u,
                                       0xBF818000u, 0x00800000u, 0x80800000u, 0x3F800000u, 0x7F7F7FFFu, 0x00FFFFFFu};
    const int ns = (int)(sizeof special / sizeof special[0]);
    float *X = xmalloc(sizeof(float) * M * K), *I = xmalloc(sizeof(float) * K * K);
    float *C = xmalloc(sizeof(float) * M * K);
    for (int i = 0; i < M * K; i++) X[i] = i % 3 == 0 ? from_bits(special[(i / 3) % ns]) : frand() * 100.0f;
    for (int i = 0; i < K * K; i++) I[i] = i % (K + 1) == 0 ? 1.0f : 0.0f;
    const r1c_exec ex = {.n_threads = 1, .gemm_bf16 = 1};
    for (int t = 0; t < 4; t++) {
        const int tx = t & 1, xa = t >> 1; /* tx: X stored transposed; xa: X is the A operand */
        /* X stored as M x K (ld K) or K x M (ld M); as op(A) it is M x K, as op(B) its transpose */
        float *Xs = xmalloc(sizeof(float) * M * K);
        for (int i = 0; i < M; i++)
            for (int k = 0; k < K; k++) Xs[tx ? k * M + i : i * K + k] = X[i * K + k];
        int bad = 0;
        if (xa) { /* C (M x K) = op(A) I, op(A) = X */
            r1c_sgemm(&ex, tx, 0, M, K, K, 1.0f, Xs, tx ? M : K, I, K, 0.0f, C, K);
        } else { /* C^T: C (K x M) = I op(B), op(B) = X^T: stored X is B^T (tB 1) or B (tB 0) */
            r1c_sgemm(&ex, 0, !tx, K, M, K, 1.0f, I, K, Xs, tx ? M : K, 0.0f, C, M);
        }
        for (int i = 0; i < M && bad < 3; i++)
            for (int k = 0; k < K && bad < 3; k++) {
                const float got = xa ? C[i * K + k] : C[k * M + i];
                const float want = r1c_bf16_to_f32(r1c_f32_to_bf16(X[i * K + k]));
                if (memcmp(&got, &want, sizeof got) != 0) {
                    bad++;
                    CHECK(0, "%s: bf16 rounding (X %s, %s): %a gave %a, want %a", tag, xa ? "A" : "B",
                          tx ? "transposed" : "as is", X[i * K + k], got, want);
                }
            }
        g_checks++;
        free(Xs);
    }
    /* one product each: FLT_MAX rounds up to infinity (either sign); the low-payload NaN stays NaN */
    const float one = 1.0f, fmax = FLT_MAX, nfmax = -FLT_MAX, snan = from_bits(0x7F800001u);
    float c = 0;
    r1c_sgemm(&ex, 0, 0, 1, 1, 1, 1.0f, &fmax, 1, &one, 1, 0.0f, &c, 1);
    CHECK(isinf(c) && c > 0, "%s: bf16(FLT_MAX) = %g", tag, c);
    r1c_sgemm(&ex, 0, 0, 1, 1, 1, 1.0f, &one, 1, &nfmax, 1, 0.0f, &c, 1);
    CHECK(isinf(c) && c < 0, "%s: bf16(-FLT_MAX) = %g", tag, c);
    r1c_sgemm(&ex, 0, 0, 1, 1, 1, 1.0f, &snan, 1, &one, 1, 0.0f, &c, 1);
    CHECK(isnan(c), "%s: bf16(NaN 0x7F800001) = %g", tag, c);
    r1c_sgemm(&ex, 0, 0, 1, 1, 1, 1.0f, &one, 1, &snan, 1, 0.0f, &c, 1);
    CHECK(isnan(c), "%s: bf16(NaN 0x7F800001) as B = %g", tag, c);
    free(X);
    free(I);
    free(C);
}

/* The two bf16 kernels on the same data (normal numbers only): by construction they make the
 * same roundings in the same order, so they should agree bit for bit. sgemm.h promises only
 * "the last bits" (another CPU's vdpbf16ps might round differently), so this reports, it does
 * not fail. */
static void compare_bf16_kernels(void) {
    const int64_t M = 100, N = 77, K = 301;
    float *A = xmalloc(sizeof(float) * (size_t)(M * K)), *B = xmalloc(sizeof(float) * (size_t)(K * N));
    float *Cp = xmalloc(sizeof(float) * (size_t)(M * N)), *Ch = xmalloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M * K; i++) A[i] = frand();
    for (int64_t i = 0; i < K * N; i++) B[i] = frand();
    const r1c_exec ex = {.n_threads = 1, .gemm_bf16 = 1};
    r1c_sgemm_force_portable(1);
    r1c_sgemm(&ex, 0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, Cp, N);
    r1c_sgemm_force_portable(0);
    r1c_sgemm(&ex, 0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, Ch, N);
    int64_t nd = 0;
    for (int64_t i = 0; i < M * N; i++) nd += memcmp(&Cp[i], &Ch[i], sizeof(float)) != 0;
    fprintf(stderr, "bf16 kernels portable vs %s: %lld of %lld elements differ\n", r1c_sgemm_kernel_name_ex(&ex),
            (long long)nd, (long long)(M * N));
    free(A);
    free(B);
    free(Cp);
    free(Ch);
}

int main(void) {
    const r1c_exec ex16 = {.n_threads = 1, .gemm_bf16 = 1}, ex32 = {.n_threads = 1};
    r1c_sgemm_force_portable(1);
    CHECK(strcmp(r1c_sgemm_kernel_name(), "portable") == 0, "forced portable: %s", r1c_sgemm_kernel_name());
    CHECK(strcmp(r1c_sgemm_kernel_name_ex(&ex16), "portable-bf16") == 0, "forced portable: %s",
          r1c_sgemm_kernel_name_ex(&ex16));
    CHECK(strcmp(r1c_sgemm_kernel_name_ex(&ex32), "portable") == 0, "forced portable: %s", r1c_sgemm_kernel_name_ex(&ex32));
    CHECK(strcmp(r1c_sgemm_kernel_name_ex(NULL), "portable") == 0, "forced portable: %s", r1c_sgemm_kernel_name_ex(NULL));
    run_all("portable", 0);
    run_all("portable-bf16", 1);
    check_bf16_special("portable-bf16");
    check_bf16_rounding("portable-bf16");
    r1c_sgemm_force_portable(0);
    fprintf(stderr, "CPU kernels: %s, %s\n", r1c_sgemm_kernel_name(), r1c_sgemm_kernel_name_ex(&ex16));
    CHECK(strcmp(r1c_sgemm_kernel_name_ex(&ex32), r1c_sgemm_kernel_name()) == 0, "f32 name: %s",
          r1c_sgemm_kernel_name_ex(&ex32));
    run_all(r1c_sgemm_kernel_name(), 0);
    run_all(r1c_sgemm_kernel_name_ex(&ex16), 1);
    check_bf16_special(r1c_sgemm_kernel_name_ex(&ex16));
    check_bf16_rounding(r1c_sgemm_kernel_name_ex(&ex16));
    compare_bf16_kernels();
    return test_summary("test_sgemm");
}
