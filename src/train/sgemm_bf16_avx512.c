/* sgemm_bf16_avx512.c — the AVX-512 BF16 14 x 32 micro-kernel of r1c_sgemm's bf16 path
 * (r1c_exec.gemm_bf16), and the f32 -> bf16 rounding its packing uses (sgemm.c packs).
 * Compiled with -mavx512bf16 ... on x86_64 only (CMakeLists.txt) and called only when the CPU
 * reports AVX512_BF16. The file is globbed on every architecture: elsewhere, or with a compiler
 * that lacks -mavx512bf16, it compiles to a getter that answers NULL, so sgemm.c never names
 * code that was not built. */
#include "sgemm_kernel.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BF16__)
#include <immintrin.h>

#include "sgemm_avx512_store.h"

/* Per k pair: two vectors of the packed B panel (16 columns x 2 bf16 each), then for each of
 * the 14 rows one 32-bit broadcast of the row's bf16 pair (folded into vdpbf16ps as a {1to16}
 * memory operand) and two vdpbf16ps, each of which adds both products of the pair to the 16
 * accumulators. Same register plan as the f32 kernel (28 accumulators, 2 B vectors, 1 A),
 * twice the multiply-adds per instruction. The vector casts only relabel the 512 bits. */
#define SG_ROW_BF16(r)                                                                  \
    do {                                                                                \
        const __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[r]);                     \
        c##r##0 = _mm512_dpbf16_ps(c##r##0, a, b0);                                     \
        c##r##1 = _mm512_dpbf16_ps(c##r##1, a, b1);                                     \
    } while (0)

static void sg_ukr_bf16_avx512(int64_t kp, const uint32_t *Ap, const uint32_t *Bp, float *C, int64_t ldc, float alpha,
                               float beta, int mr, int nr) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
    __m512 c120 = c00, c121 = c00, c130 = c00, c131 = c00;
    const uint32_t *ap = Ap, *bp = Bp;
    for (int64_t p = 0; p < kp; p++) {
        /* one pair of the B panel is 128 bytes, like one k of the f32 kernel's: the same
         * prefetch distance (8 steps) covers 16 k here */
        _mm_prefetch((const char *)(bp + 8 * SG_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + 8 * SG_NR + 16), _MM_HINT_T0);
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp), b1 = (__m512bh)_mm512_loadu_si512(bp + 16);
        SG_ROW_BF16(0);
        SG_ROW_BF16(1);
        SG_ROW_BF16(2);
        SG_ROW_BF16(3);
        SG_ROW_BF16(4);
        SG_ROW_BF16(5);
        SG_ROW_BF16(6);
        SG_ROW_BF16(7);
        SG_ROW_BF16(8);
        SG_ROW_BF16(9);
        SG_ROW_BF16(10);
        SG_ROW_BF16(11);
        SG_ROW_BF16(12);
        SG_ROW_BF16(13);
        ap += SG_MR;
        bp += SG_NR;
    }
    SG_STORE_SETUP;
    SG_STORE_TILE;
}

/* 16 f32 to bf16 in the low half of each 32-bit lane (high half 0), exactly r1c_f32_to_bf16:
 * add 0x7FFF plus the kept part's lowest bit (ties to even) and keep the top 16 bits; NaN (the
 * magnitude above infinity's) keeps its top bits with the quiet bit set. Integer arithmetic
 * rather than vcvtneps2bf16, which treats subnormal inputs as zero: the panels must not depend
 * on which set packed them. */
static inline __m512i bf16_round16(__m512 x) {
    const __m512i u = _mm512_castps_si512(x), top = _mm512_srli_epi32(u, 16);
    const __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), _mm512_and_si512(top, _mm512_set1_epi32(1)));
    const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
    const __mmask16 nan =
        _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    return _mm512_mask_or_epi32(r, nan, top, _mm512_set1_epi32(0x40));
}

/* 32 consecutive floats (masked: missing ones read as 0) as 16 pair words */
static inline __m512i bf16_pairs32(const float *src, __mmask16 m0, __mmask16 m1) {
    const __m512i r0 = bf16_round16(_mm512_maskz_loadu_ps(m0, src));
    const __m512i r1 = bf16_round16(_mm512_maskz_loadu_ps(m1, src + 16));
    /* each lane's low 16 bits, in order: lanes 2q and 2q+1 become word q's two halves */
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(r0)), _mm512_cvtepi32_epi16(r1), 1);
}

static __mmask16 mask16(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u); }

/* sg_bf16_kernels.along: the words go to a strided column of the panel, so they are rounded 16
 * at a time and then stored one by one (half the stores the f32 packing makes per value). */
static void bf16_along_avx512(const float *src, int64_t n, uint32_t *dst, int64_t stride) {
    uint32_t w[16];
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_si512(w, bf16_pairs32(src + i, 0xFFFF, 0xFFFF));
        uint32_t *d = dst + (i / 2) * stride;
        for (int q = 0; q < 16; q++) d[q * stride] = w[q];
    }
    if (i < n) { /* the last 1..31 values; an odd count's missing high half reads as 0 */
        const int64_t rest = n - i, nw = (rest + 1) / 2;
        _mm512_storeu_si512(w, bf16_pairs32(src + i, mask16(rest), mask16(rest - 16)));
        uint32_t *d = dst + (i / 2) * stride;
        for (int64_t q = 0; q < nw; q++) d[q * stride] = w[q];
    }
}

/* sg_bf16_kernels.across: n <= 32 contiguous words, two 16-lane halves */
static void bf16_across_avx512(const float *s0, const float *s1, int n, uint32_t *dst) {
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = mask16(n - i);
        const __m512i lo = bf16_round16(_mm512_maskz_loadu_ps(m, s0 + i));
        const __m512i hi = s1 ? bf16_round16(_mm512_maskz_loadu_ps(m, s1 + i)) : _mm512_setzero_si512();
        _mm512_mask_storeu_epi32(dst + i, m, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
}

static const sg_bf16_kernels g_avx512_bf16 = {sg_ukr_bf16_avx512, bf16_along_avx512, bf16_across_avx512,
                                              "avx512-bf16"};

const sg_bf16_kernels *sg_bf16_avx512_get(void) { return &g_avx512_bf16; }

#else
const sg_bf16_kernels *sg_bf16_avx512_get(void) { return 0; }
#endif
