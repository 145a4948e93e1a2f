/* test_fp8.c — FP8 e4m3 with block scales (DeepSeek's weight_scale_inv): the conversions, and
 * every kernel table's FP8 matrix-vector product bit-identical to the portable one, the
 * portable one within rounding of a double-precision dequantise-then-multiply, and matmul's
 * batched path equal to its one-token path for any thread count. */
#include <math.h>

#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "test_util.h"

/* e4m3fn from its definition: sign, 4 exponent bits (bias 7), 3 mantissa bits, no infinities */
static double e4m3_value(int q) {
    int s = q >> 7, e = (q >> 3) & 15, m = q & 7;
    double v = e ? ldexp(1.0 + m / 8.0, e - 7) : ldexp(m / 8.0, -6);
    return s ? -v : v;
}

static void test_conversions(void) {
    int bad = 0;
    for (int q = 0; q < 256; q++) {
        if ((q & 0x7f) == 0x7f) {
            bad += !isnan(r1c_fp8_to_f32((uint8_t)q));
            continue;
        }
        bad += (double)r1c_fp8_to_f32((uint8_t)q) != e4m3_value(q);
        /* the f16 route the kernels take: f16(bits) * 256 is the value */
        bad += r1c_f16_to_f32(r1c_fp8_to_f16_bits((uint8_t)q)) * 256.0f != r1c_fp8_to_f32((uint8_t)q);
        if ((q & 0x7f) != 0) bad += r1c_f32_to_fp8(r1c_fp8_to_f32((uint8_t)q)) != q;
    }
    CHECK(bad == 0, "%d conversion mismatches", bad);
    for (int q = 0; q < 0x7e; q++) { /* halfway between neighbours: the even code */
        float mid = (float)((e4m3_value(q) + e4m3_value(q + 1)) / 2);
        CHECK(r1c_f32_to_fp8(mid) == (q % 2 ? q + 1 : q), "midpoint after %d", q);
    }
    CHECK(r1c_f32_to_fp8(1e9f) == 0x7e && r1c_f32_to_fp8(-500.0f) == 0xfe && r1c_f32_to_fp8(NAN) == 0x7f, "saturation");
}

static uint8_t rand_fp8(uint64_t *s) {
    uint8_t q;
    do q = (uint8_t)test_rand(s);
    while ((q & 0x7f) == 0x7f);
    return q;
}

static void test_matvec(void) {
    const char *names[] = {"avx2", "avx512", "avx512vbmi", "neon", "neon_dotprod"};
    const r1c_kernels *G = r1c_kernels_by_name("generic");
    const int64_t ks[] = {1, 15, 16, 17, 127, 128, 129, 300, 1000};
    const int64_t ns[] = {1, 7, 8, 9, 17, 130};
    const int64_t blocks[][2] = {{128, 128}, {16, 16}, {3, 32}};
    uint64_t seed = 12345;
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (int bi = 0; bi < 3; bi++) {
                const int64_t k = ks[ki], n = ns[ni], br = blocks[bi][0], bk = blocks[bi][1], r0 = n > 8 ? 5 : 0;
                const int64_t rows = r0 + n, sc = (k + bk - 1) / bk, sr = (rows + br - 1) / br;
                uint8_t *w = xmalloc((size_t)(rows * k));
                float *scale = xmalloc(sizeof(float) * (size_t)(sr * sc)), *x = xmalloc(sizeof(float) * (size_t)k);
                float *yg = xmalloc(sizeof(float) * (size_t)n), *ys = xmalloc(sizeof(float) * (size_t)n);
                for (int64_t i = 0; i < rows * k; i++) w[i] = rand_fp8(&seed);
                for (int64_t i = 0; i < sr * sc; i++) scale[i] = ldexpf(1.0f + test_randf(&seed) * 0.5f, -9 + (int)(test_rand(&seed) % 6));
                for (int64_t i = 0; i < k; i++) x[i] = test_randf(&seed);
                G->matvec_fp8(w, scale, sc, br, bk, r0, x, yg, k, n);
                for (int64_t r = 0; r < n; r++) { /* dequantise in double, then the dot product */
                    double ref = 0, mag = 0;
                    for (int64_t c = 0; c < k; c++) {
                        double wv = (double)(float)(e4m3_value(w[(r0 + r) * k + c]) * scale[((r0 + r) / br) * sc + c / bk]);
                        ref += wv * x[c], mag += fabs(wv * x[c]);
                    }
                    double tol = ((double)((k + 15) / 16) + 4) * 1.2e-7 * mag + 1e-30;
                    CHECK(fabs(yg[r] - ref) <= tol, "generic k=%lld n=%lld block %lldx%lld row %lld: %g vs %g", (long long)k,
                          (long long)n, (long long)br, (long long)bk, (long long)r, yg[r], ref);
                }
                for (int t = 0; t < (int)(sizeof names / sizeof *names); t++) {
                    const r1c_kernels *K = r1c_kernels_by_name(names[t]);
                    if (!K) continue;
                    memset(ys, 0xff, sizeof(float) * (size_t)n);
                    K->matvec_fp8(w, scale, sc, br, bk, r0, x, ys, k, n);
                    CHECK(!memcmp(ys, yg, sizeof(float) * (size_t)n), "%s k=%lld n=%lld block %lldx%lld differs from generic",
                          names[t], (long long)k, (long long)n, (long long)br, (long long)bk);
                    float *d1 = xmalloc(sizeof(float) * (size_t)k), *d2 = xmalloc(sizeof(float) * (size_t)k);
                    G->fp8_to_f32(w, scale[0] * 256.0f, d1, k);
                    K->fp8_to_f32(w, scale[0] * 256.0f, d2, k);
                    CHECK(!memcmp(d1, d2, sizeof(float) * (size_t)k), "%s fp8_to_f32 k=%lld", names[t], (long long)k);
                    free(d1), free(d2);
                }
                free(w), free(scale), free(x), free(yg), free(ys);
            }
}

/* through r1c_matmul: T tokens at once == each alone, for 1..3 threads */
static void test_matmul(void) {
    const int64_t rows = 300, k = 520, br = 128, bk = 128, sc = (k + bk - 1) / bk, sr = (rows + br - 1) / br;
    uint64_t seed = 777;
    uint8_t *w = xmalloc((size_t)(rows * k));
    float *scale = xmalloc(sizeof(float) * (size_t)(sr * sc));
    for (int64_t i = 0; i < rows * k; i++) w[i] = rand_fp8(&seed);
    for (int64_t i = 0; i < sr * sc; i++) scale[i] = 0.001f * (1 + (float)(i % 7));
    r1c_tensor t = {.name = "w", .dtype = R1C_F8_E4M3, .n_dims = 2, .shape = {rows, k}, .data = w, .nbytes = (uint64_t)(rows * k),
                    .scale = scale, .block = {br, bk}, .scale_cols = sc};
    const int T = 13;
    float *x = xmalloc(sizeof(float) * (size_t)(T * k)), *y1 = xmalloc(sizeof(float) * (size_t)(T * rows));
    float *yb = xmalloc(sizeof(float) * (size_t)(T * rows));
    for (int64_t i = 0; i < T * k; i++) x[i] = test_randf(&seed);
    float *scratch[4];
    for (int i = 0; i < 4; i++) scratch[i] = xmalloc(sizeof(float) * r1c_exec_scratch_floats(64, 0));
    for (int threads = 1; threads <= 3; threads++) {
        r1c_exec ex = {.n_threads = threads, .scratch = scratch, .scratch_floats = r1c_exec_scratch_floats(64, 0)};
        for (int tok = 0; tok < T; tok++) {
            r1c_mm_job j = {.w = &t, .y = y1 + tok * rows, .ldy = rows};
            r1c_matmul(&ex, &j, 1, x + tok * k, k, 1);
        }
        r1c_mm_job j = {.w = &t, .y = yb, .ldy = rows};
        r1c_matmul(&ex, &j, 1, x, k, T);
        CHECK(!memcmp(y1, yb, sizeof(float) * (size_t)(T * rows)), "FP8 batch != one by one (threads %d)", threads);
    }
    for (int i = 0; i < 4; i++) free(scratch[i]);
    free(w), free(scale), free(x), free(y1), free(yb);
}

int main(void) {
    test_conversions();
    test_matvec();
    test_matmul();
    return test_summary("test_fp8");
}
