/* sgemm.h — f32 GEMM for training (BLAS semantics, row-major).
 *
 *   C = alpha * op(A) op(B) + beta * C,   op(A): M x K, op(B): K x N, C: M x N
 *
 * op(X) = X when trans == 0, X^T when trans != 0. Row-major: element (i, k) of A is A[i*lda + k]
 * (transA == 0) or A[k*lda + i] (transA != 0); likewise B with ldb; C(i, j) is C[i*ldc + j].
 * beta == 0: C is written without being read (NaN garbage there does not matter).
 *
 * Unlike r1c_matmul (the inference GEMM, whose per-output reduction order is fixed by
 * kernels.h), this is a packed, cache-blocked GEMM: each C element's K sum runs k = 0..K-1 in
 * blocks whose boundaries depend only on K; every element is computed by one thread (threads
 * split M, never K). So the result depends on (M, N, K, transposes, the kernel: AVX-512 or
 * portable) but never on ex->n_threads: 1 and N threads are bit-identical.
 *
 * Memory for the packed panels is allocated per call; when that fails, a plain triple loop
 * computes the same product (correct, slower, and the only case where the order differs).
 *
 * ex->gemm_bf16 != 0 (training's bf16 compute option): every element of op(A) and op(B) is
 * rounded to bf16 (round to nearest even, NaN stays NaN: r1c_f32_to_bf16) as it is packed, and
 * the products, exact in f32, are summed in f32 two k at a time, as AVX-512 BF16's vdpbf16ps
 * does; alpha, beta and C stay f32. The error against the exact product is then about
 * 2 * 2^-8 sum_k |a_k b_k| (each operand's rounding), on top of the f32 summation's. The same
 * blocking and thread split, so 1 and N threads are still bit-identical. Kernels: AVX-512 BF16
 * when the CPU has it, else portable C on the same panels, which makes the roundings the Intel
 * SDM gives for vdpbf16ps in the same order, so on normal numbers the two agree bit for bit
 * (test_sgemm reports whether the CPU it runs on does). Where they may part, in the last bits:
 * vdpbf16ps flushes subnormal inputs, products and partial sums (below 2^-126) to zero, the
 * portable kernel keeps them; and a CPU whose vdpbf16ps strays from the SDM's pseudocode. */
#ifndef R1C_TRAIN_SGEMM_H
#define R1C_TRAIN_SGEMM_H

#include <stdint.h>

#include "../tensor/ops.h"

void r1c_sgemm(const r1c_exec *ex, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* Tests: force the portable C micro-kernels, f32 and bf16 (1), or let the CPU decide again (0).
 * Also R1C_ISA=generic in the environment selects the portable kernels. */
void r1c_sgemm_force_portable(int on);

/* "avx512" or "portable": the f32 micro-kernel r1c_sgemm uses now. */
const char *r1c_sgemm_kernel_name(void);

/* The micro-kernel r1c_sgemm(ex, ...) uses now: "avx512-bf16" or "portable-bf16" when
 * ex->gemm_bf16, else the same as r1c_sgemm_kernel_name() (ex may be NULL). */
const char *r1c_sgemm_kernel_name_ex(const r1c_exec *ex);

#endif
