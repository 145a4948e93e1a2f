/* sgemm_bench.c — r1c_sgemm against r1c_matmul (the inference GEMM) on training's products.
 *
 *   make bench_sgemm && ./bench_sgemm [reps]
 *
 * For each (M, N, K, transposes): GFLOP/s (2MNK / best time of `reps` runs) of r1c_sgemm, of
 * its bf16 path (r1c_exec.gemm_bf16: operands rounded to bf16 as they are packed, f32 sums) and
 * of r1c_matmul computing the same product as Y = X W^T (X: M x K, W: N x K, the only form it
 * has; transposed copies the training code needs around it are not counted), at 1 and 2
 * threads. Also checks that r1c_sgemm's 1- and 2-thread results are bit-identical, f32 and bf16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/ops.h"
#include "train/sgemm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rnd(int64_t n, unsigned *s) {
    float *p = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        p[i] = (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return p;
}

typedef struct {
    int64_t M, N, K;
    int ta, tb;
    const char *what;
} shape;

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 5;
    const shape shapes[] = {
        {2048, 256, 256, 0, 1, "fwd q/o: x W^T"},   {2048, 704, 256, 0, 1, "fwd up: x W^T"},
        {2048, 256, 704, 0, 1, "fwd down: x W^T"},  {2048, 256, 256, 0, 0, "bwd dx: dy W"},
        {256, 256, 2048, 1, 0, "bwd dW: dy^T x"},    {704, 256, 2048, 1, 0, "bwd dW up: dy^T x"},
        {256, 256, 32, 0, 1, "attn S = Q K^T"},      {256, 32, 256, 0, 0, "attn O = P V"},
    };
    const r1c_exec ex16 = {.gemm_bf16 = 1};
    printf("kernels: %s, %s\n", r1c_sgemm_kernel_name(), r1c_sgemm_kernel_name_ex(&ex16));
    printf("%-20s %5s %5s %5s %2s %2s | %9s %9s %9s | %9s %9s %9s | %s\n", "product", "M", "N", "K", "tA", "tB",
           "sgemm 1T", "bf16 1T", "matmul 1T", "sgemm 2T", "bf16 2T", "matmul 2T", "1T==2T f32,bf16");
    unsigned seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape sh = shapes[s];
        const int64_t M = sh.M, N = sh.N, K = sh.K;
        float *A = rnd(M * K, &seed), *B = rnd(K * N, &seed), *C1 = malloc(sizeof(float) * (size_t)(M * N)),
              *C2 = malloc(sizeof(float) * (size_t)(M * N)), *H1 = malloc(sizeof(float) * (size_t)(M * N)),
              *H2 = malloc(sizeof(float) * (size_t)(M * N));
        /* sgemm's operands in their stored layouts: A is M x K (or K x M), B is K x N (or N x K) */
        const int64_t lda = sh.ta ? M : K, ldb = sh.tb ? K : N;
        double g_s[2] = {0}, g_h[2] = {0}, g_m[2] = {0};
        const double flops = 2.0 * (double)M * (double)N * (double)K;
        for (int nt = 1; nt <= 2; nt++) {
            float *scr[2];
            const size_t sf = r1c_exec_scratch_floats(0, 0);
            for (int i = 0; i < 2; i++) scr[i] = malloc(sizeof(float) * sf);
            r1c_exec ex = {.n_threads = nt, .scratch = scr, .scratch_floats = sf};
            r1c_exec exh = ex;
            exh.gemm_bf16 = 1;
            /* alternate the three so drift on a shared machine hits them alike */
            double best_s = 1e30, best_h = 1e30, best_m = 1e30;
            r1c_tensor w = {.name = "w", .dtype = R1C_F32, .n_dims = 2, .shape = {N, K}, .data = B};
            w.nbytes = sizeof(float) * (uint64_t)(N * K);
            const r1c_mm_job job = {.w = &w, .y = C2, .ldy = N};
            for (int r = 0; r < reps + 1; r++) {
                double t0 = now();
                r1c_sgemm(&ex, sh.ta, sh.tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, nt == 1 ? C1 : C2, N);
                double t1 = now();
                r1c_matmul(&ex, &job, 1, A, K, (int)M);
                double t2 = now();
                r1c_sgemm(&exh, sh.ta, sh.tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, nt == 1 ? H1 : H2, N);
                double t3 = now();
                if (r) { /* the first run warms caches and page tables */
                    if (t1 - t0 < best_s) best_s = t1 - t0;
                    if (t2 - t1 < best_m) best_m = t2 - t1;
                    if (t3 - t2 < best_h) best_h = t3 - t2;
                }
            }
            g_s[nt - 1] = flops / best_s * 1e-9;
            g_h[nt - 1] = flops / best_h * 1e-9;
            g_m[nt - 1] = flops / best_m * 1e-9;
            for (int i = 0; i < 2; i++) free(scr[i]);
        }
        /* C1 holds the 1-thread result; recompute 2 threads into C2 for the bit comparison
         * (r1c_matmul wrote C2 last); H1, H2: bf16 at 1 and 2 threads (only sgemm writes them) */
        {
            r1c_exec ex2 = {.n_threads = 2};
            r1c_sgemm(&ex2, sh.ta, sh.tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C2, N);
        }
        const int same = memcmp(C1, C2, sizeof(float) * (size_t)(M * N)) == 0;
        const int same_h = memcmp(H1, H2, sizeof(float) * (size_t)(M * N)) == 0;
        printf("%-20s %5lld %5lld %5lld %2d %2d | %9.1f %9.1f %9.1f | %9.1f %9.1f %9.1f | %s,%s\n", sh.what,
               (long long)M, (long long)N, (long long)K, sh.ta, sh.tb, g_s[0], g_h[0], g_m[0], g_s[1], g_h[1], g_m[1],
               same ? "yes" : "NO", same_h ? "yes" : "NO");
        free(A);
        free(B);
        free(C1);
        free(C2);
        free(H1);
        free(H2);
    }
    return 0;
}
