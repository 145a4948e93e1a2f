/* sgemm.c — r1c_sgemm: a packed, cache-blocked f32 GEMM (the GotoBLAS / BLIS loop structure),
 * written for training's shapes (K and N in the hundreds, M = tokens in the thousands).
 *
 * Loops, outermost first:
 *   jc: N in blocks of nc (<= SG_NC) columns        the packed B block (kc x nc) stays in L2
 *   pc: K in blocks of kc (<= SG_KC)                 (256 x 512 floats = 512 KiB; Zen 5: 1 MiB)
 *       pack B[pc.., jc..] into NR-column panels (threads share the buffer, split the panels)
 *       ip: M in MR-row panels, split across threads (static: contiguous runs of rows)
 *           pack A[ip.., pc..] into an MR x kc panel (14 KiB at kc 256: stays in L1)
 *           jr: the nc/NR B panels: micro-kernel on the MR x NR tile of C
 * The first K block applies beta to C, the later ones add to it (beta 1), so each element of C
 * is sum over the K blocks in order, each block summed k by k in one register: a fixed order
 * that depends only on K (and the kernel), and each element belongs to one thread (threads
 * split M panels, never K). Hence 1 vs N threads bit-identical.
 *
 * Packing also makes the transposes free: op(A) and op(B) are read through their strides once
 * per block, and the micro-kernel always sees the same contiguous layout. */
#include "sgemm.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "sgemm_kernel.h"

#define SG_KC 256 /* K block: the A panel (MR x kc) in L1, B block (kc x nc) in L2 */
#define SG_NC 512 /* N block */

/* ------------------------------------------------------------------ kernel choice */

static int g_force_portable;
#if defined(__x86_64__)
static int g_cpu_avx512 = -1; /* -1: not asked yet (a benign race: every thread finds the same) */
#endif

void r1c_sgemm_force_portable(int on) { __atomic_store_n(&g_force_portable, on ? 1 : 0, __ATOMIC_RELAXED); }

#if defined(__x86_64__)
static int cpu_avx512(void) {
    int v = __atomic_load_n(&g_cpu_avx512, __ATOMIC_RELAXED);
    if (v >= 0) return v;
    v = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    /* the same override the inference kernels honour (kernels.c): R1C_ISA=generic|avx2|... */
    const char *isa = getenv("R1C_ISA");
    if (isa && *isa && strncmp(isa, "avx512", 6) != 0) v = 0;
#endif
    __atomic_store_n(&g_cpu_avx512, v, __ATOMIC_RELAXED);
    return v;
}
#endif

static sg_ukr_fn pick_ukr(void) {
#if defined(__x86_64__)
    if (!__atomic_load_n(&g_force_portable, __ATOMIC_RELAXED) && cpu_avx512()) return sg_ukr_avx512;
#endif
    return sg_ukr_portable;
}

const char *r1c_sgemm_kernel_name(void) { return pick_ukr() == sg_ukr_portable ? "portable" : "avx512"; }

/* ------------------------------------------------------------------ portable micro-kernel */

/* The same contract as the AVX-512 kernel: one accumulator per element, k in order. Written so
 * the compiler can vectorise the j loop (NR contiguous floats). */
void sg_ukr_portable(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, float alpha, float beta,
                     int mr, int nr) {
    float acc[SG_MR][SG_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++) {
        const float *a = Ap + k * SG_MR, *b = Bp + k * SG_NR;
        for (int r = 0; r < SG_MR; r++) {
            const float ar = a[r];
            for (int j = 0; j < SG_NR; j++) acc[r][j] += ar * b[j];
        }
    }
    for (int r = 0; r < mr; r++) {
        float *c = C + (int64_t)r * ldc;
        for (int j = 0; j < nr; j++) {
            const float t = alpha * acc[r][j];
            c[j] = beta == 0.0f ? t : beta == 1.0f ? c[j] + t : beta * c[j] + t;
        }
    }
}

/* ------------------------------------------------------------------ packing */

/* op(A)[i0 .. i0+mr)[k0 .. k0+kc) into Ap[k][r] (k-major, MR per k), rows mr..MR zero so the
 * kernel can always run the full tile (their results are never stored). */
static void pack_a(int transA, const float *A, int64_t lda, int64_t i0, int mr, int64_t k0, int64_t kc, float *Ap) {
    if (transA) { /* op(A)[i][k] = A[k][i]: each k's MR values are contiguous in A */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = A + (k0 + k) * lda + i0;
            float *dst = Ap + k * SG_MR;
            int r = 0;
            for (; r < mr; r++) dst[r] = src[r];
            for (; r < SG_MR; r++) dst[r] = 0.0f;
        }
    } else { /* rows of A are contiguous along k: read each row once, write with stride MR */
        for (int r = 0; r < mr; r++) {
            const float *src = A + (i0 + r) * lda + k0;
            for (int64_t k = 0; k < kc; k++) Ap[k * SG_MR + r] = src[k];
        }
        for (int r = mr; r < SG_MR; r++)
            for (int64_t k = 0; k < kc; k++) Ap[k * SG_MR + r] = 0.0f;
    }
}

/* op(B)[k0 .. k0+kc)[j0 .. j0+nr) into Bp[k][j] (NR per k), columns nr..NR zero */
static void pack_b(int transB, const float *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int nr, float *Bp) {
    if (!transB) { /* op(B) = B: each k is a contiguous run of columns */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = B + (k0 + k) * ldb + j0;
            float *dst = Bp + k * SG_NR;
            memcpy(dst, src, sizeof(float) * (size_t)nr);
            if (nr < SG_NR) memset(dst + nr, 0, sizeof(float) * (size_t)(SG_NR - nr));
        }
    } else { /* op(B)[k][j] = B[j][k]: read each row of B along k, write with stride NR */
        for (int j = 0; j < nr; j++) {
            const float *src = B + (j0 + j) * ldb + k0;
            for (int64_t k = 0; k < kc; k++) Bp[k * SG_NR + j] = src[k];
        }
        for (int j = nr; j < SG_NR; j++)
            for (int64_t k = 0; k < kc; k++) Bp[k * SG_NR + j] = 0.0f;
    }
}

/* ------------------------------------------------------------------ fallbacks */

static float get_a(int t, const float *A, int64_t lda, int64_t i, int64_t k) { return t ? A[k * lda + i] : A[i * lda + k]; }

/* When the panel buffers cannot be allocated: the plain loop, still one thread per row. */
static void sgemm_simple(int nt, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += get_a(transA, A, lda, i, k) * get_a(!transB, B, ldb, j, k);
            const float t = alpha * s;
            float *c = C + i * ldc + j;
            *c = beta == 0.0f ? t : beta == 1.0f ? *c + t : beta * *c + t;
        }
}

/* K == 0 or alpha == 0: C = beta * C (beta 0: zeros, C not read) */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

/* ------------------------------------------------------------------ driver */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

void r1c_sgemm(const r1c_exec *ex, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const sg_ukr_fn ukr = pick_ukr();

    /* Blocks of equal size (K = 257 is two blocks of 129, not 256 + 1): the sizes depend only
     * on K and N, never on the thread count, so neither does the summation order. */
    const int64_t nkb = cdiv(K, SG_KC), kcb = cdiv(K, nkb);
    const int64_t nnb = cdiv(N, SG_NC), ncb = cdiv(cdiv(N, nnb), SG_NR) * SG_NR;
    const int64_t n_mp = cdiv(M, SG_MR);

    /* Threads: only M panels are split. Small products run on one thread (the parallel
     * region's start costs more than they do); the result is the same either way. */
    int nt = ex && ex->n_threads > 1 ? ex->n_threads : 1;
    if ((double)M * (double)N * (double)K < 262144.0) nt = 1;
    if (nt > n_mp) nt = (int)n_mp;

    const size_t b_floats = (size_t)(kcb * ncb), a_floats = (size_t)(SG_MR * kcb);
    /* aligned_alloc wants a size that is a multiple of the alignment (C11 7.22.3.1) */
    float *Bp = aligned_alloc(64, (sizeof(float) * b_floats + 63) / 64 * 64);
    float *Ap = aligned_alloc(64, (sizeof(float) * a_floats * (size_t)nt + 63) / 64 * 64);
    if (!Bp || !Ap) {
        free(Bp);
        free(Ap);
        sgemm_simple(nt, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }

#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        float *ap = Ap + a_floats * (size_t)omp_get_thread_num();
#else
        float *ap = Ap;
#endif
        for (int64_t jc = 0; jc < N; jc += ncb) {
            const int64_t nc = N - jc < ncb ? N - jc : ncb, n_np = cdiv(nc, SG_NR);
            for (int64_t pc = 0; pc < K; pc += kcb) {
                const int64_t kc = K - pc < kcb ? K - pc : kcb;
                const float bet = pc == 0 ? beta : 1.0f;
                /* every thread packs some B panels; the loop's barrier publishes them all */
#pragma omp for schedule(static)
                for (int64_t q = 0; q < n_np; q++) {
                    const int64_t j0 = jc + q * SG_NR;
                    const int nr = (int)(N - j0 < SG_NR ? N - j0 : SG_NR);
                    pack_b(transB, B, ldb, pc, kc, j0, nr, Bp + q * kc * SG_NR);
                }
                /* and the loop's end barrier keeps B until every thread is done with it */
#pragma omp for schedule(static)
                for (int64_t p = 0; p < n_mp; p++) {
                    const int64_t i0 = p * SG_MR;
                    const int mr = (int)(M - i0 < SG_MR ? M - i0 : SG_MR);
                    pack_a(transA, A, lda, i0, mr, pc, kc, ap);
                    for (int64_t q = 0; q < n_np; q++) {
                        const int64_t j0 = jc + q * SG_NR;
                        const int nr = (int)(N - j0 < SG_NR ? N - j0 : SG_NR);
                        ukr(kc, ap, Bp + q * kc * SG_NR, C + i0 * ldc + j0, ldc, alpha, bet, mr, nr);
                    }
                }
            }
        }
    }
    free(Bp);
    free(Ap);
}
