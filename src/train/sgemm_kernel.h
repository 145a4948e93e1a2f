/* sgemm_kernel.h — what sgemm.c shares with its ISA-specific micro-kernels (internal). */
#ifndef R1C_TRAIN_SGEMM_KERNEL_H
#define R1C_TRAIN_SGEMM_KERNEL_H

#include <stdint.h>

/* Register tile: MR rows x NR columns of C. 14 x 32 fills AVX-512's 32 registers: 28
 * accumulators (14 rows x 2 vectors of 16), 2 for the B row, 1 for the broadcast A value; each
 * k step then does 28 FMAs for 2 vector loads and 14 broadcasts, enough to keep both FMA
 * pipes busy. The portable kernel uses the same tile so the packing is shared. */
#define SG_MR 14
#define SG_NR 32

/* One tile: C[0..mr)[0..nr) = alpha * sum_k Ap[k][.] Bp[k][.] + beta * C (beta == 0: C not
 * read). Ap: kc x MR (packed, zero-padded rows), Bp: kc x NR (packed, zero-padded columns).
 * The k sum runs 0..kc-1 in order into one accumulator per element. */
typedef void (*sg_ukr_fn)(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, float alpha, float beta,
                          int mr, int nr);

void sg_ukr_portable(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, float alpha, float beta,
                     int mr, int nr);
#if defined(__x86_64__)
void sg_ukr_avx512(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, float alpha, float beta,
                   int mr, int nr);
#endif

#endif
