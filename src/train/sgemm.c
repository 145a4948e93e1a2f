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
 * per block, and the micro-kernel always sees the same contiguous layout.
 *
 * The bf16 path (ex->gemm_bf16) runs the same loops; packing rounds each value to bf16 and lays
 * k out in pairs (the vdpbf16ps layout, sgemm_kernel.h), which also halves the panels' bytes. */
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

#if defined(__x86_64__)
static int g_cpu_avx512_bf16 = -1;

/* AVX512_BF16 on top of the AVX-512 set above (which also carries the R1C_ISA override) */
static int cpu_avx512_bf16(void) {
    int v = __atomic_load_n(&g_cpu_avx512_bf16, __ATOMIC_RELAXED);
    if (v >= 0) return v;
    v = 0;
#if defined(__GNUC__)
    v = cpu_avx512() && __builtin_cpu_supports("avx512bf16");
#endif
    __atomic_store_n(&g_cpu_avx512_bf16, v, __ATOMIC_RELAXED);
    return v;
}
#endif

static const sg_bf16_kernels *pick_bf16(void) {
#if defined(__x86_64__)
    const sg_bf16_kernels *hw = sg_bf16_avx512_get(); /* NULL when the compiler could not build it */
    if (hw && !__atomic_load_n(&g_force_portable, __ATOMIC_RELAXED) && cpu_avx512_bf16()) return hw;
#endif
    return &sg_bf16_portable;
}

const char *r1c_sgemm_kernel_name(void) { return pick_ukr() == sg_ukr_portable ? "portable" : "avx512"; }

const char *r1c_sgemm_kernel_name_ex(const r1c_exec *ex) {
    return ex && ex->gemm_bf16 ? pick_bf16()->name : r1c_sgemm_kernel_name();
}

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

/* The bf16 tile in plain C: each pair's bf16 halves widened to f32 (exact), multiplied (exact:
 * 8 x 8 significand bits fit in f32's 24), added odd product first, then even, as vdpbf16ps
 * does. With normal numbers that is every rounding the AVX-512 BF16 kernel makes, in the same
 * order, so the two agree bit for bit; they part where vdpbf16ps flushes subnormal inputs,
 * products and sums to zero (it ignores MXCSR) and this code keeps them. */
static void ukr_bf16_portable(int64_t kp, const uint32_t *Ap, const uint32_t *Bp, float *C, int64_t ldc, float alpha,
                              float beta, int mr, int nr) {
    float acc[SG_MR][SG_NR];
    float blo[SG_NR], bhi[SG_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < kp; p++) {
        const uint32_t *a = Ap + p * SG_MR, *b = Bp + p * SG_NR;
        for (int j = 0; j < SG_NR; j++) { /* widen B's pair once, for all 14 rows */
            blo[j] = r1c_bf16_to_f32((uint16_t)(b[j] & 0xFFFFu));
            bhi[j] = r1c_bf16_to_f32((uint16_t)(b[j] >> 16));
        }
        for (int r = 0; r < SG_MR; r++) {
            const float alo = r1c_bf16_to_f32((uint16_t)(a[r] & 0xFFFFu));
            const float ahi = r1c_bf16_to_f32((uint16_t)(a[r] >> 16));
            for (int j = 0; j < SG_NR; j++) acc[r][j] = (acc[r][j] + ahi * bhi[j]) + alo * blo[j];
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

/* Two f32 as the bf16 pair word of the bf16 panels: k even in the low half, odd in the high. */
static inline uint32_t bf16_pair(float even, float odd) {
    return (uint32_t)r1c_f32_to_bf16(even) | (uint32_t)r1c_f32_to_bf16(odd) << 16;
}

/* the portable versions of sg_bf16_kernels' along / across (their contract: sgemm_kernel.h) */
static void bf16_along_portable(const float *src, int64_t n, uint32_t *dst, int64_t stride) {
    const int64_t np = n / 2;
    for (int64_t p = 0; p < np; p++) dst[p * stride] = bf16_pair(src[2 * p], src[2 * p + 1]);
    if (n & 1) dst[np * stride] = bf16_pair(src[n - 1], 0.0f);
}

static void bf16_across_portable(const float *s0, const float *s1, int n, uint32_t *dst) {
    if (s1)
        for (int i = 0; i < n; i++) dst[i] = bf16_pair(s0[i], s1[i]);
    else
        for (int i = 0; i < n; i++) dst[i] = bf16_pair(s0[i], 0.0f);
}

const sg_bf16_kernels sg_bf16_portable = {ukr_bf16_portable, bf16_along_portable, bf16_across_portable,
                                          "portable-bf16"};

/* op(A)[i0 .. i0+mr)[k0 .. k0+kc) rounded to bf16 into Ap[p][r] (p = k pair, MR words per
 * pair); rows mr..MR zero, and an odd kc's last pair has 0 for its missing odd k. */
static void pack_a_bf16(const sg_bf16_kernels *kr, int transA, const float *A, int64_t lda, int64_t i0, int mr,
                        int64_t k0, int64_t kc, uint32_t *Ap) {
    const int64_t kw = (kc + 1) / 2;
    if (transA) { /* op(A)[i][k] = A[k][i]: a pair is two rows of A, each with mr contiguous values */
        for (int64_t p = 0; p < kw; p++) {
            const float *s0 = A + (k0 + 2 * p) * lda + i0;
            uint32_t *dst = Ap + p * SG_MR;
            kr->across(s0, 2 * p + 1 < kc ? s0 + lda : NULL, mr, dst);
            for (int r = mr; r < SG_MR; r++) dst[r] = 0;
        }
    } else { /* a row of A runs along k: each pair is two adjacent values of it */
        for (int r = 0; r < mr; r++) kr->along(A + (i0 + r) * lda + k0, kc, Ap + r, SG_MR);
        for (int r = mr; r < SG_MR; r++)
            for (int64_t p = 0; p < kw; p++) Ap[p * SG_MR + r] = 0;
    }
}

/* op(B)[k0 .. k0+kc)[j0 .. j0+nr) rounded to bf16 into Bp[p][j] (NR words per pair); columns
 * nr..NR zero, an odd kc's last pair padded with 0 */
static void pack_b_bf16(const sg_bf16_kernels *kr, int transB, const float *B, int64_t ldb, int64_t k0, int64_t kc,
                        int64_t j0, int nr, uint32_t *Bp) {
    const int64_t kw = (kc + 1) / 2;
    if (!transB) { /* a pair is two rows of B, each a contiguous run of columns */
        for (int64_t p = 0; p < kw; p++) {
            const float *s0 = B + (k0 + 2 * p) * ldb + j0;
            uint32_t *dst = Bp + p * SG_NR;
            kr->across(s0, 2 * p + 1 < kc ? s0 + ldb : NULL, nr, dst);
            for (int j = nr; j < SG_NR; j++) dst[j] = 0;
        }
    } else { /* op(B)[k][j] = B[j][k]: a row of B runs along k, each pair two adjacent values */
        for (int j = 0; j < nr; j++) kr->along(B + (j0 + j) * ldb + k0, kc, Bp + j, SG_NR);
        for (int j = nr; j < SG_NR; j++)
            for (int64_t p = 0; p < kw; p++) Bp[p * SG_NR + j] = 0;
    }
}

/* ------------------------------------------------------------------ fallbacks */

static float get_a(int t, const float *A, int64_t lda, int64_t i, int64_t k) { return t ? A[k * lda + i] : A[i * lda + k]; }

/* the value the bf16 path multiplies: x itself, or x rounded to bf16 */
static float as_operand(int bf16, float x) { return bf16 ? r1c_bf16_to_f32(r1c_f32_to_bf16(x)) : x; }

/* When the panel buffers cannot be allocated: the plain loop, still one thread per row. */
static void sgemm_simple(int nt, int bf16, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += as_operand(bf16, get_a(transA, A, lda, i, k)) * as_operand(bf16, get_a(!transB, B, ldb, j, k));
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
    /* One driver for both paths: they differ in the panels' words (a float, or a bf16 pair
     * covering two k), in the packing and in the micro-kernel, never in the loops. */
    const int bf16 = ex && ex->gemm_bf16;
    const sg_ukr_fn ukr = bf16 ? 0 : pick_ukr();
    const sg_bf16_kernels *kr16 = bf16 ? pick_bf16() : 0;

    /* Blocks of equal size (K = 257 is two blocks of 129, not 256 + 1): the sizes depend only
     * on K and N, never on the thread count, so neither does the summation order. The bf16
     * path rounds the block up to even (257: 130 + 127) so that every block but the last holds
     * whole pairs, and only the very end of K can need a zero-padded half pair. */
    const int64_t nkb = cdiv(K, SG_KC);
    int64_t kcb = cdiv(K, nkb);
    if (bf16) kcb += kcb & 1;
    const int64_t nnb = cdiv(N, SG_NC), ncb = cdiv(cdiv(N, nnb), SG_NR) * SG_NR;
    const int64_t n_mp = cdiv(M, SG_MR);

    /* Threads: only M panels are split. Small products run on one thread (the parallel
     * region's start costs more than they do); the result is the same either way. */
    int nt = ex && ex->n_threads > 1 ? ex->n_threads : 1;
    if ((double)M * (double)N * (double)K < 262144.0) nt = 1;
    if (nt > n_mp) nt = (int)n_mp;

    /* panel words (4 bytes each) per row of A / column of B over one K block */
    const int64_t kwb = bf16 ? cdiv(kcb, 2) : kcb;
    const size_t b_words = (size_t)(kwb * ncb), a_words = (size_t)(SG_MR * kwb);
    /* aligned_alloc wants a size that is a multiple of the alignment (C11 7.22.3.1) */
    void *Bp = aligned_alloc(64, (4 * b_words + 63) / 64 * 64);
    void *Ap = aligned_alloc(64, (4 * a_words * (size_t)nt + 63) / 64 * 64);
    if (!Bp || !Ap) {
        free(Bp);
        free(Ap);
        sgemm_simple(nt, bf16, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }

#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const size_t a_off = a_words * (size_t)omp_get_thread_num();
#else
        const size_t a_off = 0;
#endif
        float *ap = (float *)Ap + a_off, *bp = Bp;
        uint32_t *ap16 = (uint32_t *)Ap + a_off, *bp16 = Bp;
        for (int64_t jc = 0; jc < N; jc += ncb) {
            const int64_t nc = N - jc < ncb ? N - jc : ncb, n_np = cdiv(nc, SG_NR);
            for (int64_t pc = 0; pc < K; pc += kcb) {
                const int64_t kc = K - pc < kcb ? K - pc : kcb, kw = bf16 ? cdiv(kc, 2) : kc;
                const float bet = pc == 0 ? beta : 1.0f;
                /* every thread packs some B panels; the loop's barrier publishes them all */
#pragma omp for schedule(static)
                for (int64_t q = 0; q < n_np; q++) {
                    const int64_t j0 = jc + q * SG_NR;
                    const int nr = (int)(N - j0 < SG_NR ? N - j0 : SG_NR);
                    if (bf16)
                        pack_b_bf16(kr16, transB, B, ldb, pc, kc, j0, nr, bp16 + q * kw * SG_NR);
                    else
                        pack_b(transB, B, ldb, pc, kc, j0, nr, bp + q * kw * SG_NR);
                }
                /* and the loop's end barrier keeps B until every thread is done with it */
#pragma omp for schedule(static)
                for (int64_t p = 0; p < n_mp; p++) {
                    const int64_t i0 = p * SG_MR;
                    const int mr = (int)(M - i0 < SG_MR ? M - i0 : SG_MR);
                    if (bf16)
                        pack_a_bf16(kr16, transA, A, lda, i0, mr, pc, kc, ap16);
                    else
                        pack_a(transA, A, lda, i0, mr, pc, kc, ap);
                    for (int64_t q = 0; q < n_np; q++) {
                        const int64_t j0 = jc + q * SG_NR;
                        const int nr = (int)(N - j0 < SG_NR ? N - j0 : SG_NR);
                        float *c = C + i0 * ldc + j0;
                        if (bf16)
                            kr16->ukr(kw, ap16, bp16 + q * kw * SG_NR, c, ldc, alpha, bet, mr, nr);
                        else
                            ukr(kc, ap, bp + q * kw * SG_NR, c, ldc, alpha, bet, mr, nr);
                    }
                }
            }
        }
    }
    free(Bp);
    free(Ap);
}
