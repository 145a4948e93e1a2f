/* test_sgemm.c — r1c_sgemm (src/train/sgemm.h) against a double-precision reference: the four
 * transpose combinations, alpha/beta cases, odd sizes, leading dimensions larger than the rows,
 * both micro-kernels (portable forced, and the CPU's), and 1 vs 2 threads bit-identical. */
#include <float.h>
#include <math.h>

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
static int check_case(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, int64_t pad,
                      int threads, const char *tag) {
    const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const int64_t arows = ta ? K : M, brows = tb ? N : K;
    float *A = xmalloc(sizeof(float) * (size_t)(arows * lda));
    float *B = xmalloc(sizeof(float) * (size_t)(brows * ldb));
    float *C = xmalloc(sizeof(float) * (size_t)(M * ldc)), *C0 = xmalloc(sizeof(float) * (size_t)(M * ldc));
    for (int64_t i = 0; i < arows * lda; i++) A[i] = frand();
    for (int64_t i = 0; i < brows * ldb; i++) B[i] = frand();
    for (int64_t i = 0; i < M * ldc; i++) C0[i] = beta == 0.0f ? NAN : frand(); /* beta 0: garbage not read */
    memcpy(C, C0, sizeof(float) * (size_t)(M * ldc));
    const r1c_exec ex = {.n_threads = threads};
    r1c_sgemm(&ex, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int bad = 0;
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
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                const double a = ta ? A[k * lda + i] : A[i * lda + k], b = tb ? B[j * ldb + k] : B[k * ldb + j];
                ref += a * b;
                mag += fabs(a * b);
            }
            ref *= alpha;
            mag *= fabs(alpha);
            if (beta != 0.0f) {
                ref += (double)beta * C0[i * ldc + j];
                mag += fabs((double)beta * C0[i * ldc + j]);
            }
            const double tol = (double)(K + 4) * FLT_EPSILON * mag + 1e-30;
            if (!(fabs(c - ref) <= tol)) {
                bad++;
                CHECK(0, "%s tA%d tB%d M%lld N%lld K%lld alpha %g beta %g pad %lld: C(%lld,%lld) = %.9g, ref %.9g, tol %.3g",
                      tag, ta, tb, (long long)M, (long long)N, (long long)K, alpha, beta, (long long)pad, (long long)i,
                      (long long)j, c, ref, tol);
            }
        }
    g_checks++;
    free(A);
    free(B);
    free(C);
    free(C0);
    return bad == 0;
}

/* 1 and 2 threads give the same bits (the K order does not depend on the thread count) */
static void check_threads(int ta, int tb, int64_t M, int64_t N, int64_t K, const char *tag) {
    const int64_t lda = ta ? M : K, ldb = tb ? K : N;
    float *A = xmalloc(sizeof(float) * (size_t)(M * K)), *B = xmalloc(sizeof(float) * (size_t)(K * N));
    float *C1 = xmalloc(sizeof(float) * (size_t)(M * N)), *C2 = xmalloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M * K; i++) A[i] = frand();
    for (int64_t i = 0; i < K * N; i++) B[i] = frand();
    for (int64_t i = 0; i < M * N; i++) C1[i] = C2[i] = frand();
    const r1c_exec e1 = {.n_threads = 1}, e2 = {.n_threads = 2};
    r1c_sgemm(&e1, ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 1.0f, C1, N);
    r1c_sgemm(&e2, ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 1.0f, C2, N);
    CHECK(memcmp(C1, C2, sizeof(float) * (size_t)(M * N)) == 0, "%s: 1 vs 2 threads differ (tA%d tB%d %lldx%lldx%lld)",
          tag, ta, tb, (long long)M, (long long)N, (long long)K);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

static void run_all(const char *tag) {
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

int main(void) {
    r1c_sgemm_force_portable(1);
    CHECK(strcmp(r1c_sgemm_kernel_name(), "portable") == 0, "forced portable: %s", r1c_sgemm_kernel_name());
    run_all("portable");
    r1c_sgemm_force_portable(0);
    fprintf(stderr, "CPU kernel: %s\n", r1c_sgemm_kernel_name());
    run_all(r1c_sgemm_kernel_name());
    return test_summary("test_sgemm");
}
