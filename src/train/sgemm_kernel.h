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

/* The bf16 path (r1c_exec.gemm_bf16): the same tile, its panels hold bf16 values two k at a
 * time, one uint32_t per (k pair, row) or (k pair, column) with the even k in the low half and
 * the odd k in the high half — on x86 (little-endian) that is exactly the pair of adjacent bf16
 * that vdpbf16ps multiplies. Ap: kp x MR words, Bp: kp x NR words (kp = ceil(kc / 2); an odd
 * kc's last pair has a zero high half in both, so it adds 0 * 0). Per element the sum runs over
 * the pairs in order, each pair adding its odd product, then its even one (vdpbf16ps's order in
 * the Intel SDM's pseudocode) to one f32 accumulator. bf16 x bf16 products are exact in f32 (8 +
 * 8 significand bits), so the only roundings are the additions. */
typedef void (*sg_ukr_bf16_fn)(int64_t kp, const uint32_t *Ap, const uint32_t *Bp, float *C, int64_t ldc, float alpha,
                               float beta, int mr, int nr);

/* What the bf16 path needs per ISA: the micro-kernel, and the rounding that packing does (f32
 * to bf16, round to nearest even, NaN kept quiet: r1c_f32_to_bf16 bit for bit in every version,
 * so the panels never depend on the ISA). Rounding is most of packing's cost, and packing is a
 * good part of the whole product's: done one scalar at a time it made the bf16 path slower than
 * f32 on the K = 2048 weight-gradient shapes.
 *   along:  dst[p * stride] = pair(src[2p], src[2p+1]) for p < ceil(n / 2); an odd n's last pair
 *           has 0 for its high half (a stored row running along k: of A when transA == 0, of B
 *           when transB != 0)
 *   across: dst[i] = pair(s0[i], s1[i]) for i < n (n <= 32); s1 NULL: high halves 0 (the stored
 *           rows k and k+1 across the tile: of A when transA != 0, of B when transB == 0) */
typedef struct {
    sg_ukr_bf16_fn ukr;
    void (*along)(const float *src, int64_t n, uint32_t *dst, int64_t stride);
    void (*across)(const float *s0, const float *s1, int n, uint32_t *dst);
    const char *name;
} sg_bf16_kernels;

extern const sg_bf16_kernels sg_bf16_portable;
/* The AVX-512 BF16 set (sgemm_bf16_avx512.c), or NULL where that file was compiled without
 * -mavx512bf16 (another architecture, or a compiler that lacks it). Whether the CPU has the
 * instructions is sgemm.c's question. */
const sg_bf16_kernels *sg_bf16_avx512_get(void);

#endif
