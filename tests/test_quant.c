/* test_quant.c — llama.cpp's block formats (src/tensor/quant.h) and everything that computes
 * with them.
 *
 *  1. Layout: struct sizes, row sizes, and dequantisation of blocks whose bytes are written
 *     out by hand, against values worked out here from the format definitions (not through
 *     quant.c's helpers): every sub-block, the packed high bits of Q4_K's 6-bit scales, the
 *     extreme quants, negative Q6_K scales.
 *  2. Quantisation: hand-traced cases of llama.cpp's reference quantisers, structural
 *     invariants, rows that are representable exactly, all-zero rows, and the round-trip RMSE on
 *     N(0,1) rows (printed on stdout), with the K-quants beating a naive scale-without-search
 *     quantiser written here.
 *  3. Activations: the activation type of each weight type; Q8_K's block sums.
 *  4. r1c_quant_dot: within a few float roundings of a double-precision dot product of the
 *     dequantised rows, and bit-exact to the canonical order of quant.h recomputed step by step.
 *  5. Every kernel table's quantised matrix-vector kernels: bit-identical to r1c_quant_dot on
 *     random blocks (extreme nibbles, random finite f16 scales), odd shapes, padded and
 *     misaligned rows.
 *  6. ops: r1c_matmul over quantised weights is batch- and thread-invariant, equals
 *     r1c_matvec_rows and the canonical dot, under every kernel table; r1c_row_to_f32 of a
 *     quantised row is its dequantisation.
 *
 * Buffers given to the code under test are sized exactly, so that AddressSanitizer catches a
 * read or write past a row. */
#include <math.h>

#include "r1c.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/quant.h"
#include "test_util.h"

/* ================================================================ helpers (independent of quant.c) */

static double gauss(uint64_t *s) { /* Box-Muller, N(0, 1) */
    double u1 = ((double)(test_rand(s) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = (double)(test_rand(s) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Q4_K 12-byte packing, from the format definition: bytes 0..3 hold scales 0..3 in their low 6
 * bits, bytes 4..7 mins 0..3; scales/mins 4..7 keep their low 4 bits in bytes 8..11 (scale in
 * the low nibble, min in the high one) and their top 2 bits in the top 2 bits of bytes 0..3
 * (scales) / 4..7 (mins). */
static void k4_pack(const int sc[8], const int m[8], uint8_t out[12]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}
static void k4_unpack(const uint8_t in[12], int sc[8], int m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = in[j] & 63;
        m[j] = in[j + 4] & 63;
        sc[j + 4] = (in[j + 8] & 15) | ((in[j] >> 6) << 4);
        m[j + 4] = (in[j + 8] >> 4) | ((in[j + 4] >> 6) << 4);
    }
}
/* Q4_K quants: element 64k + l is the low nibble of qs[32k + l] (l < 32), 64k + 32 + l its high */
static void k4_qs_pack(const int q[256], uint8_t qs[128]) {
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 32; l++) qs[32 * k + l] = (uint8_t)(q[64 * k + l] | (q[64 * k + 32 + l] << 4));
}
/* Q6_K 6-bit quants (0..63): per 128-element half n, ql[64n + l] holds elements l (low nibble)
 * and l+64 (high), ql[64n + 32 + l] elements l+32 and l+96; qh[32n + l] the top 2 bits of
 * l, l+32, l+64, l+96 at bits 0, 2, 4, 6 (element indices relative to the half). */
static void k6_pack(const int q[256], uint8_t ql[128], uint8_t qh[64]) {
    for (int n = 0; n < 2; n++)
        for (int l = 0; l < 32; l++) {
            const int *e = q + 128 * n + l;
            ql[64 * n + l] = (uint8_t)((e[0] & 15) | ((e[64] & 15) << 4));
            ql[64 * n + 32 + l] = (uint8_t)((e[32] & 15) | ((e[96] & 15) << 4));
            qh[32 * n + l] = (uint8_t)((e[0] >> 4) | ((e[32] >> 4) << 2) | ((e[64] >> 4) << 4) | ((e[96] >> 4) << 6));
        }
}
static void k6_unpack(const uint8_t ql[128], const uint8_t qh[64], int q[256]) {
    for (int n = 0; n < 2; n++)
        for (int l = 0; l < 32; l++) {
            int *e = q + 128 * n + l;
            const int lo = ql[64 * n + l], hi = ql[64 * n + 32 + l], h = qh[32 * n + l];
            e[0] = (lo & 15) | ((h & 3) << 4);
            e[32] = (hi & 15) | (((h >> 2) & 3) << 4);
            e[64] = (lo >> 4) | (((h >> 4) & 3) << 4);
            e[96] = (hi >> 4) | (((h >> 6) & 3) << 4);
        }
}

static const r1c_dtype WTYPES[] = {R1C_Q8_0, R1C_Q4_0, R1C_Q4_K, R1C_Q6_K};
#define N_WTYPES 4

static int is_k(r1c_dtype t) { return t == R1C_Q4_K || t == R1C_Q6_K; }

/* ================================================================ 1. layout */

static void test_layout(void) {
    CHECK(sizeof(r1c_block_q8_0) == 34 && sizeof(r1c_block_q4_0) == 18 && sizeof(r1c_block_q4_K) == 144 &&
              sizeof(r1c_block_q6_K) == 210 && sizeof(r1c_block_q8_K) == 292,
          "block sizes %zu %zu %zu %zu %zu", sizeof(r1c_block_q8_0), sizeof(r1c_block_q4_0), sizeof(r1c_block_q4_K),
          sizeof(r1c_block_q6_K), sizeof(r1c_block_q8_K));
    static const struct {
        r1c_dtype t;
        int block, bytes;
    } G[] = {{R1C_Q8_0, 32, 34}, {R1C_Q4_0, 32, 18}, {R1C_Q4_K, 256, 144}, {R1C_Q6_K, 256, 210}, {R1C_Q8_K, 256, 292}};
    for (int i = 0; i < 5; i++) {
        CHECK(r1c_dtype_block(G[i].t) == G[i].block && r1c_dtype_block_bytes(G[i].t) == G[i].bytes,
              "%s: block %d of %d bytes", r1c_dtype_name(G[i].t), r1c_dtype_block(G[i].t), r1c_dtype_block_bytes(G[i].t));
        CHECK(r1c_dtype_size(G[i].t) == 0, "%s: per-element size %d, want 0", r1c_dtype_name(G[i].t),
              r1c_dtype_size(G[i].t));
        /* one block, 3 blocks, a 4096-wide row; and lengths that are not a multiple of the block */
        const uint64_t b = (uint64_t)G[i].block, by = (uint64_t)G[i].bytes;
        CHECK(r1c_dtype_row_bytes(G[i].t, b) == by && r1c_dtype_row_bytes(G[i].t, 3 * b) == 3 * by &&
                  r1c_dtype_row_bytes(G[i].t, 4096) == 4096 / b * by,
              "%s row bytes %llu %llu %llu", r1c_dtype_name(G[i].t), (unsigned long long)r1c_dtype_row_bytes(G[i].t, b),
              (unsigned long long)r1c_dtype_row_bytes(G[i].t, 3 * b), (unsigned long long)r1c_dtype_row_bytes(G[i].t, 4096));
        CHECK(r1c_dtype_row_bytes(G[i].t, b + 1) == 0 && r1c_dtype_row_bytes(G[i].t, b - 1) == 0,
              "%s: a row of %d or %d elements has no size", r1c_dtype_name(G[i].t), G[i].block + 1, G[i].block - 1);
    }
    /* the fields where llama.cpp has them */
    CHECK(offsetof(r1c_block_q4_K, scales) == 4 && offsetof(r1c_block_q4_K, qs) == 16 && offsetof(r1c_block_q6_K, qh) == 128 &&
              offsetof(r1c_block_q6_K, scales) == 192 && offsetof(r1c_block_q6_K, d) == 208 &&
              offsetof(r1c_block_q8_K, bsums) == 260,
          "field offsets");
}

static void test_dequant_hand(void) {
    { /* Q8_0, two blocks: d = 0.25 (f16 0x3400) with qs = -127 + 8j, and d = -2 (0xC000) with
       * qs = j - 16 except the extremes -128 (first) and 127 (last); value qs * d */
        uint8_t raw[2 * 34];
        memset(raw, 0, sizeof raw);
        raw[0] = 0x00, raw[1] = 0x34;   /* little-endian f16 0x3400 */
        raw[34] = 0x00, raw[35] = 0xC0; /* 0xC000 */
        int want_q[64];
        for (int j = 0; j < 32; j++) {
            want_q[j] = -127 + 8 * j;
            want_q[32 + j] = j == 0 ? -128 : j == 31 ? 127 : j - 16;
            raw[2 + j] = (uint8_t)(int8_t)want_q[j];
            raw[36 + j] = (uint8_t)(int8_t)want_q[32 + j];
        }
        float y[64];
        r1c_dequantize_row(R1C_Q8_0, raw, y, 64);
        int bad = 0;
        for (int j = 0; j < 64; j++) bad += (double)y[j] != want_q[j] * (j < 32 ? 0.25 : -2.0);
        CHECK(bad == 0, "Q8_0 hand block: %d wrong", bad);
        CHECK(y[0] == -31.75f && y[31] == 30.25f && y[32] == 256.0f && y[63] == -254.0f, "Q8_0 ends %g %g %g %g", y[0], y[31],
              y[32], y[63]);
    }
    { /* Q4_0: d = 0.5 (0x3800); qs[j] = j | (15 - j) << 4: element j (j < 16) is the low nibble
       * j, element 16 + j the high nibble 15 - j; value (q - 8) * 0.5, so -4 .. 3.5 */
        uint8_t raw[18];
        raw[0] = 0x00, raw[1] = 0x38;
        for (int j = 0; j < 16; j++) raw[2 + j] = (uint8_t)(j | ((15 - j) << 4));
        float y[32];
        r1c_dequantize_row(R1C_Q4_0, raw, y, 32);
        int bad = 0;
        for (int j = 0; j < 16; j++) bad += (double)y[j] != (j - 8) * 0.5 || (double)y[16 + j] != (7 - j) * 0.5;
        CHECK(bad == 0, "Q4_0 hand block: %d wrong", bad);
        CHECK(y[0] == -4.0f && y[15] == 3.5f && y[16] == 3.5f && y[31] == -4.0f, "Q4_0 ends %g %g %g %g", y[0], y[15], y[16],
              y[31]);
    }
    { /* Q4_K: d = 0.5 (0x3800), dmin = 0.25 (0x3400); 6-bit scales/mins, with values >= 16 (high
       * bits set) in both halves and the extremes 0 and 63:
       *   sc = {1, 2, 33, 63, 5, 40, 63, 17}, m = {0, 3, 47, 12, 35, 1, 63, 32}
       * packed by hand:
       *   byte0 = 1  | (5>>4)<<6  = 0x01   byte4 = 0  | (35>>4)<<6 = 0x80   byte8  = (5&15)  | (35&15)<<4 = 0x35
       *   byte1 = 2  | (40>>4)<<6 = 0x82   byte5 = 3  | (1>>4)<<6  = 0x03   byte9  = (40&15) | (1&15)<<4  = 0x18
       *   byte2 = 33 | (63>>4)<<6 = 0xE1   byte6 = 47 | (63>>4)<<6 = 0xEF   byte10 = (63&15) | (63&15)<<4 = 0xFF
       *   byte3 = 63 | (17>>4)<<6 = 0x7F   byte7 = 12 | (32>>4)<<6 = 0x8C   byte11 = (17&15) | (32&15)<<4 = 0x01
       * quants q[e] = (7e + e/32) % 16: every sub-block holds every value 0..15.
       * element e of sub-block s = e / 32: value 0.5 * sc[s] * q[e] - 0.25 * m[s] (exact in f32) */
        static const int sc[8] = {1, 2, 33, 63, 5, 40, 63, 17}, m[8] = {0, 3, 47, 12, 35, 1, 63, 32};
        static const uint8_t packed[12] = {0x01, 0x82, 0xE1, 0x7F, 0x80, 0x03, 0xEF, 0x8C, 0x35, 0x18, 0xFF, 0x01};
        uint8_t raw[144];
        raw[0] = 0x00, raw[1] = 0x38, raw[2] = 0x00, raw[3] = 0x34;
        memcpy(raw + 4, packed, 12);
        int q[256];
        for (int e = 0; e < 256; e++) q[e] = (e * 7 + e / 32) % 16;
        for (int g = 0; g < 4; g++) /* 64-element group g: 32 bytes, low nibbles first 32 elements */
            for (int l = 0; l < 32; l++) raw[16 + 32 * g + l] = (uint8_t)(q[64 * g + l] | (q[64 * g + 32 + l] << 4));
        float y[256];
        r1c_dequantize_row(R1C_Q4_K, raw, y, 256);
        int bad = 0;
        for (int e = 0; e < 256; e++) {
            const double want = 0.5 * sc[e / 32] * q[e] - 0.25 * m[e / 32];
            if ((double)y[e] != want) {
                if (bad < 4) fprintf(stderr, "Q4_K e=%d: %g, want %g\n", e, y[e], want);
                bad++;
            }
        }
        CHECK(bad == 0, "Q4_K hand block: %d wrong", bad);
        /* by hand: e = 37 is sub-block 1, the high nibble of qs[5]: q = (259 + 1) % 16 = 4
         *   -> 0.5*2*4 - 0.25*3 = 3.25;
         * e = 200 is sub-block 6 (scale and min 63 from 4 low bits + 2 packed high bits),
         *   q = (1400 + 6) % 16 = 14 -> 0.5*63*14 - 0.25*63 = 425.25;
         * e = 255 is sub-block 7, q = (1785 + 7) % 16 = 0 -> -0.25*32 = -8 */
        CHECK(y[37] == 3.25f && y[200] == 425.25f && y[255] == -8.0f, "Q4_K spots %g %g %g", y[37], y[200], y[255]);
        /* the test's packers agree with the hand packing (they build the blocks of later tests) */
        uint8_t p2[12], qs2[128];
        k4_pack(sc, m, p2);
        k4_qs_pack(q, qs2);
        CHECK(memcmp(p2, packed, 12) == 0 && memcmp(qs2, raw + 16, 128) == 0, "Q4_K: the test's packer differs");
        int sc2[8], m2[8];
        k4_unpack(packed, sc2, m2);
        CHECK(memcmp(sc2, sc, sizeof sc) == 0 && memcmp(m2, m, sizeof m) == 0, "Q4_K: the test's unpacker differs");
    }
    { /* Q6_K, bytes set one by one: d = 1 (0x3C00), every other byte 0 except
       *   ql[0] = 0xF3: element 0 low bits 3, element 64 low bits 15
       *   qh[0] = 0xE4 = 11 10 01 00b: high bits of elements 0, 32, 64, 96 = 0, 1, 2, 3
       *   ql[64 + 31] = ql[64 + 63] = qh[32 + 31] = 0xFF: elements 128+31, +63, +95, +127 are 63
       *   scales: [0] = 1, [2] = -1, [4] = 2, [6] = -128, [9] = 127, [11] = 5, [13] = -7, [15] = 63
       * so q(0) = 3, q(32) = 16, q(64) = 47, q(96) = 48; q(159, 191, 223, 255) = 63; all other q = 0.
       * value = 1 * scale[e / 16] * (q - 32) */
        uint8_t raw[210];
        memset(raw, 0, sizeof raw);
        raw[0] = 0xF3;
        raw[128 + 0] = 0xE4;
        raw[64 + 31] = raw[64 + 63] = raw[128 + 32 + 31] = 0xFF;
        int8_t scl[16] = {1, 0, -1, 0, 2, 0, -128, 0, 0, 127, 0, 5, 0, -7, 0, 63};
        memcpy(raw + 192, scl, 16);
        raw[208] = 0x00, raw[209] = 0x3C;
        float y[256];
        r1c_dequantize_row(R1C_Q6_K, raw, y, 256);
        int bad = 0;
        for (int e = 0; e < 256; e++) {
            int q = 0;
            if (e == 0) q = 3;
            if (e == 32) q = 16;
            if (e == 64) q = 47;
            if (e == 96) q = 48;
            if (e == 159 || e == 191 || e == 223 || e == 255) q = 63;
            bad += (double)y[e] != (double)scl[e / 16] * (q - 32);
        }
        CHECK(bad == 0, "Q6_K byte-by-byte block: %d wrong", bad);
        CHECK(y[0] == -29.0f && y[32] == 16.0f && y[64] == 30.0f && y[96] == -2048.0f && y[159] == 3937.0f &&
                  y[191] == 155.0f && y[223] == -217.0f && y[255] == 1953.0f && y[1] == -32.0f,
              "Q6_K spots %g %g %g %g %g %g %g %g %g", y[0], y[32], y[64], y[96], y[159], y[191], y[223], y[255], y[1]);
    }
    { /* Q6_K, a full block: d = 0.125 (0x3000), signed scales including -128, 127 and 0, quants
       * q = (37e + 11) % 64 (every 64 consecutive elements take every value 0..63);
       * value 0.125 * scale[e / 16] * (q - 32) */
        static const int8_t scl[16] = {-128, -3, 1, 7, 127, -64, 20, 0, 5, -1, 33, 100, -100, 2, 64, -7};
        r1c_block_q6_K b;
        b.d = 0x3000;
        memcpy(b.scales, scl, 16);
        int q[256];
        for (int e = 0; e < 256; e++) q[e] = (e * 37 + 11) % 64;
        k6_pack(q, b.ql, b.qh);
        float y[256];
        r1c_dequantize_row(R1C_Q6_K, &b, y, 256);
        int bad = 0;
        for (int e = 0; e < 256; e++) bad += (double)y[e] != 0.125 * scl[e / 16] * (q[e] - 32);
        CHECK(bad == 0, "Q6_K hand block: %d wrong", bad);
        /* by hand: e = 200 (second half, the l + 64 slot with l = 8): q = (7400 + 11) % 64 = 51,
         * scale[12] = -100 -> 0.125 * -100 * 19 = -237.5; its low bits are the high nibble of
         * ql[64 + 8], its high bits bits 4..5 of qh[32 + 8] */
        CHECK(y[200] == -237.5f, "Q6_K spot %g", y[200]);
        CHECK((b.ql[72] >> 4) == (51 & 15) && ((b.qh[40] >> 4) & 3) == (51 >> 4), "Q6_K packing of e = 200");
    }
    { /* Q8_K: f32 d, value d * qs */
        r1c_block_q8_K b;
        memset(&b, 0, sizeof b);
        b.d = -0.03125f;
        for (int j = 0; j < 256; j++) b.qs[j] = (int8_t)((j * 13) % 255 - 127);
        float y[256];
        r1c_dequantize_row(R1C_Q8_K, &b, y, 256);
        int bad = 0;
        for (int j = 0; j < 256; j++) bad += y[j] != -0.03125f * ((j * 13) % 255 - 127);
        CHECK(bad == 0, "Q8_K hand block: %d wrong", bad);
    }
    { /* f16 scales that are subnormal: 0x0001 = 2^-24, 0x83FF = -(1023 * 2^-24) */
        uint8_t raw[2 * 34];
        memset(raw, 0, sizeof raw);
        raw[0] = 0x01, raw[1] = 0x00, raw[34] = 0xFF, raw[35] = 0x83;
        raw[2] = 100, raw[36] = (uint8_t)(int8_t)-3;
        float y[64];
        r1c_dequantize_row(R1C_Q8_0, raw, y, 64);
        CHECK(y[0] == ldexpf(100, -24) && y[32] == ldexpf(3 * 1023, -24) && y[1] == 0, "subnormal f16 scales: %g %g", y[0],
              y[32]);
    }
    { /* rows at an odd address (the blocks are read with no alignment assumed) */
        uint8_t raw[1 + 3 * 34];
        for (int k = 0; k < 3; k++) {
            raw[1 + 34 * k] = 0x00, raw[2 + 34 * k] = 0x3C; /* 1.0 */
            for (int j = 0; j < 32; j++) raw[3 + 34 * k + j] = (uint8_t)(j + k);
        }
        float y[96];
        r1c_dequantize_row(R1C_Q8_0, raw + 1, y, 96);
        CHECK(y[0] == 0 && y[33] == 2 && y[95] == 33, "unaligned Q8_0 row: %g %g %g", y[0], y[33], y[95]);
    }
}

/* ================================================================ 2. quantisation */

static void test_q8_0_traced(void) {
    /* x = v / 64 with max |v| = 127: amax = 127/64, d = amax / 127 = 1/64 exactly (f16 0x2400),
     * id = 64, qs = roundf(v): halves go away from zero (roundf, not nearest_int's half-even). */
    static const float v[32] = {127, -126.5f, 2.5f, -2.5f, 0.5f, -0.5f, 1.49f, 0, 3.5f, -3.5f, 100.25f, -64, 16, 17, 18, 19,
                                20,  21,      22,   23,    24,   25,    26,    27, 28, 29, 30, 31, 32, 33, 34, -1};
    static const int8_t want[32] = {127, -127, 3, -3, 1, -1, 1, 0, 4, -4, 100, -64, 16, 17, 18, 19,
                                    20,  21,   22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, -1};
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = v[j] / 64;
    r1c_block_q8_0 b;
    r1c_quantize_row(R1C_Q8_0, x, &b, 32);
    CHECK(b.d == 0x2400, "Q8_0 traced d = %#x", b.d);
    CHECK(memcmp(b.qs, want, 32) == 0, "Q8_0 traced qs (qs[1] = %d, qs[2] = %d)", b.qs[1], b.qs[2]);
}

static void test_q4_0_traced(void) {
    /* amax = 4 at x[5] (first of the two magnitude-4 values), so max = +4, d = 4 / -8 = -0.5
     * (f16 0xB800), id = -2; q = MIN(15, (int8)(x * id + 8.5)):
     *   x = 4     -> -8 + 8.5 = 0.5   -> 0  (value (0 - 8) * -0.5 = 4)
     *   x = -4    ->  8 + 8.5 = 16.5  -> 16 -> 15 (value -3.5: llama.cpp's clamp of the far end)
     *   x = 1.25  -> -2.5 + 8.5 = 6   -> 6
     *   x = -1.25 ->  2.5 + 8.5 = 11  -> 11
     *   x = 1.3   -> -2.6 + 8.5 = 5.9 -> 5  (truncation)
     *   x = 0     -> 8.5              -> 8
     *   x = -0.2  ->  0.4 + 8.5 = 8.9 -> 8
     *   x = 0.3   -> -0.6 + 8.5 = 7.9 -> 7 */
    float x[32] = {0};
    x[5] = 4, x[20] = -4, x[1] = 1.25f, x[17] = -1.25f, x[2] = 1.3f, x[3] = -0.2f, x[18] = 0.3f;
    r1c_block_q4_0 b;
    r1c_quantize_row(R1C_Q4_0, x, &b, 32);
    CHECK(b.d == 0xB800, "Q4_0 traced d = %#x", b.d);
    int want[32];
    for (int j = 0; j < 32; j++) want[j] = 8;
    want[5] = 0, want[20] = 15, want[1] = 6, want[17] = 11, want[2] = 5, want[3] = 8, want[18] = 7;
    int bad = 0;
    for (int j = 0; j < 16; j++) bad += (b.qs[j] & 15) != want[j] || (b.qs[j] >> 4) != want[16 + j];
    CHECK(bad == 0, "Q4_0 traced: %d nibbles wrong", bad);
}

static void test_q8_K_traced(void) {
    /* max = +127/32 at j = 0 (first largest magnitude; x[1] = -127/32 ties in magnitude and loses):
     * iscale = -127 / max = -32, d = 1 / iscale = -0.03125, qs = MIN(127, nearest_int(-32 x)):
     * nearest_int rounds half to even: -2.5 -> -2, -3.5 -> -4, 0.5 -> 0, 1.5 -> 2, -1.5 -> -2 */
    float x[256];
    for (int j = 0; j < 256; j++) x[j] = (float)((j % 61) - 30) / 32; /* qs = -((j % 61) - 30) */
    x[0] = 127.0f / 32, x[1] = -127.0f / 32, x[2] = 2.5f / 32, x[3] = 3.5f / 32, x[4] = -0.5f / 32, x[5] = -1.5f / 32,
    x[6] = 1.5f / 32;
    r1c_block_q8_K b;
    r1c_quantize_act(R1C_Q8_K, x, &b, 256);
    CHECK(b.d == -0.03125f, "Q8_K traced d = %g", b.d);
    int want[256];
    for (int j = 0; j < 256; j++) want[j] = -((j % 61) - 30);
    want[0] = -127, want[1] = 127, want[2] = -2, want[3] = -4, want[4] = 0, want[5] = 2, want[6] = -2;
    int bad = 0, bsum_bad = 0;
    for (int j = 0; j < 256; j++) bad += b.qs[j] != want[j];
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int i = 0; i < 16; i++) s += want[16 * g + i];
        bsum_bad += b.bsums[g] != s;
    }
    CHECK(bad == 0, "Q8_K traced: %d qs wrong", bad);
    CHECK(bsum_bad == 0, "Q8_K traced: %d bsums wrong", bsum_bad);
}

static void test_q4_K_traced(void) {
    /* Each 32-element sub-block j holds two values, a_j = -m_j and b_j = a_j + 1.875 s_j (s_j a power
     * of 2). make_qkx2_quants(nmax 15): min = a_j, max = b_j, iscale = 15 / (1.875 s_j) = 8 / s_j
     * exactly, L = 0 for a_j and nearest_int(15) = 15 for b_j, scale = s_j / 8, and the error
     * sum w * (scale * L + min - x)^2 is exactly 0; no candidate of the search can go below 0, so
     * L stays, scales[j] = s_j / 8 and mins[j] = m_j.
     *   j:      0      1      2      3      4      5      6      7
     *   s_j:    1      0.5    0.25   1      1      0.5    0.25   0.5
     *   m_j:    1      0.5    0.25   0.25   0.5    1      0.125  0.0625
     * max_scale = 0.125, inv_scale = 63 / 0.125 = 504; ls = nearest_int(504 * s_j / 8):
     *   s = 1 -> 63, s = 0.5 -> 31.5 -> 32 (half to even), s = 0.25 -> 15.75 -> 16
     * max_min = 1, inv_min = 63; lm = nearest_int(63 m): 63, 32, 16, 16, 32, 63, 7.875 -> 8, 3.9375 -> 4
     *   ls = {63, 32, 16, 63, 63, 32, 16, 32}, lm = {63, 32, 16, 16, 32, 63, 8, 4}
     * packed: byte0 = 63 | (63>>4)<<6 = 0xFF, byte1 = 32 | (32>>4)<<6 = 0xA0, byte2 = 16 | (16>>4)<<6 = 0x50,
     *   byte3 = 63 | (32>>4)<<6 = 0xBF, byte4 = 63 | (32>>4)<<6 = 0xBF, byte5 = 32 | (63>>4)<<6 = 0xE0,
     *   byte6 = 16 | (8>>4)<<6 = 0x10, byte7 = 16 | (4>>4)<<6 = 0x10, byte8 = 15 | 0<<4 = 0x0F,
     *   byte9 = 0 | 15<<4 = 0xF0, byte10 = 0 | 8<<4 = 0x80, byte11 = 0 | 4<<4 = 0x40
     * d = f16(0.125 / 63) = f16(1/504): 2^-9 * 1.015873 -> mantissa 16.25 -> 16: 0x1810
     * dmin = f16(1 / 63): 2^-6 * 1.015873 -> 0x2410
     * Requantisation L = nearest_int((x + dmin*m) / (d*sc)) lands within 0.25 of 0 and 15 in every
     * sub-block (e.g. j = 5: (-0.0625 + 0.99976) / 0.063477 = 14.77 -> 15), so L is unchanged. */
    static const float s[8] = {1, 0.5f, 0.25f, 1, 1, 0.5f, 0.25f, 0.5f};
    static const float m[8] = {1, 0.5f, 0.25f, 0.25f, 0.5f, 1, 0.125f, 0.0625f};
    static const uint8_t want_scales[12] = {0xFF, 0xA0, 0x50, 0xBF, 0xBF, 0xE0, 0x10, 0x10, 0x0F, 0xF0, 0x80, 0x40};
    float x[256];
    int L[256];
    for (int e = 0; e < 256; e++) {
        const int j = e / 32, hi = (e + j) % 3 == 0;
        x[e] = hi ? -m[j] + 1.875f * s[j] : -m[j];
        L[e] = hi ? 15 : 0;
    }
    r1c_block_q4_K b;
    r1c_quantize_row(R1C_Q4_K, x, &b, 256);
    CHECK(b.d == 0x1810 && b.dmin == 0x2410, "Q4_K traced d = %#x, dmin = %#x", b.d, b.dmin);
    CHECK(memcmp(b.scales, want_scales, 12) == 0, "Q4_K traced scales %02x %02x %02x %02x ... %02x", b.scales[0],
          b.scales[1], b.scales[2], b.scales[3], b.scales[11]);
    uint8_t want_qs[128];
    k4_qs_pack(L, want_qs);
    CHECK(memcmp(b.qs, want_qs, 128) == 0, "Q4_K traced qs");
    int sc[8], mm[8];
    k4_unpack(b.scales, sc, mm);
    CHECK(sc[4] == 63 && mm[4] == 32 && sc[5] == 32 && mm[5] == 63, "Q4_K traced high-bit scales");
}

static void test_q6_K_traced(void) {
    /* Sub-block ib (16 elements) is x = k * u_ib with integers k in [-31, 32], exactly one k = 32 (the
     * value of largest magnitude, positive), a k = 1, |k| <= 16 elsewhere; u_ib = 2^-4 .. 2^-7.
     * make_qx_quants(nmax 32, rmse_type 1): max = 32 u, iscale = -32 / max = -1/u, l = -k (within
     * [-32, 31]), L = 32 - k; with w = x^2 the sums are exact (integers times powers of 2, below 2^24):
     * scale = sumlx / suml2 = -u exactly and best = u * sum(k^4 u^3). The search candidates
     * iscale = -(32 + 0.1 is) / max move c*k by at most 0.9, so only |k| >= 31 can change: for is > 0
     * the clamps give back l = -k (same sums: sumlx^2 > best*suml2 is false on equal values), for
     * is < 0 l is no longer proportional to k, which is strictly worse (Cauchy-Schwarz, relative gap
     * ~1e-4). So scales[ib] = -u_ib, L = 32 - k.
     * The last sub-block is all zero: make_qx_quants returns 0 with L = 0 (not 32), its 8-bit scale
     * is 0, and the requantisation skips it (d == 0), so its quants stay 0.
     * max_abs_scale = 1/16 with max_scale = -1/16: iscale = -128 / max_scale = 2048, d = f16(1/2048)
     * = 0x1000; scales = nearest_int(2048 * -u_ib) = -128, -64, -32, -16; requantisation:
     * d * scale = -u_ib, nearest_int(x / (-u)) = -k: L unchanged. Dequantised: 2^-11 * scale * -k
     * = k u: the input comes back exactly. */
    float x[256];
    int L[256];
    static const int8_t want_sc[16] = {-128, -64, -32, -16, -128, -64, -32, -16, -128, -64, -32, -16, -128, -64, -32, 0};
    for (int ib = 0; ib < 16; ib++) {
        const float u = ldexpf(1.0f, -4 - ib % 4);
        for (int i = 0; i < 16; i++) {
            int k = ((i * 5 + ib) % 33) - 16; /* -16..16 */
            if (k == 16 || k == -16) k = 3;
            if (i == (ib * 3) % 16) k = 32;
            if (i == (ib * 3 + 5) % 16) k = 1;
            if (i == (ib * 3 + 9) % 16) k = -31;
            if (ib == 15) k = 0;
            x[16 * ib + i] = (float)k * u;
            L[16 * ib + i] = ib == 15 ? 0 : 32 - k;
        }
    }
    r1c_block_q6_K b;
    r1c_quantize_row(R1C_Q6_K, x, &b, 256);
    CHECK(b.d == 0x1000, "Q6_K traced d = %#x", b.d);
    CHECK(memcmp(b.scales, want_sc, 16) == 0, "Q6_K traced scales %d %d %d %d .. %d", b.scales[0], b.scales[1],
          b.scales[2], b.scales[3], b.scales[15]);
    int got[256], bad = 0;
    k6_unpack(b.ql, b.qh, got);
    for (int e = 0; e < 256; e++) bad += got[e] != L[e];
    CHECK(bad == 0, "Q6_K traced: %d quants wrong", bad);
    float y[256];
    r1c_dequantize_row(R1C_Q6_K, &b, y, 256);
    bad = 0;
    for (int e = 0; e < 256; e++) bad += y[e] != x[e];
    CHECK(bad == 0, "Q6_K traced: %d values not back exactly", bad);
}

/* Rows that the format represents exactly come back exactly. */
static void test_exact_rows(void) {
    uint64_t seed = 0xE7AC7;
    { /* Q8_0: x = k * d, |k| <= 127, +-127 present, d a power of two (exact in f16 and its
       * inverse exact): d = amax / 127 = 2^-e exactly, qs = k, dequantised k * d = x */
        enum { NB = 12 };
        float x[NB * 32], y[NB * 32];
        for (int b = 0; b < NB; b++) {
            const float d = ldexpf(1.0f, 3 - b); /* 8 .. 2^-8 */
            for (int j = 0; j < 32; j++) x[32 * b + j] = (float)((int)(test_rand(&seed) % 255) - 127) * d;
            x[32 * b + (b * 7) % 32] = (b % 2 ? -127.0f : 127.0f) * d;
        }
        uint8_t q[NB * 34];
        r1c_quantize_row(R1C_Q8_0, x, q, NB * 32);
        r1c_dequantize_row(R1C_Q8_0, q, y, NB * 32);
        CHECK(memcmp(x, y, sizeof x) == 0, "Q8_0: a row of k * d (|k| <= 127) does not come back exactly");
    }
    { /* Q4_0: x = (q - 8) * d with q in 0..15, the value of largest magnitude -8 d (first one):
       * d(block) = (-8 d) / -8 = d, x * id + 8.5 = q + 0.5 -> q. d > 0 and d < 0 (then +8|d| is
       * the extreme, and the values are (q - 8) * d = -(q - 8) |d|). */
        enum { NB = 12 };
        float x[NB * 32], y[NB * 32];
        for (int b = 0; b < NB; b++) {
            const float d = ldexpf(b % 2 ? -1.0f : 1.0f, 2 - b);
            for (int j = 0; j < 32; j++) x[32 * b + j] = (float)((int)(test_rand(&seed) % 15) + 1 - 8) * d; /* q 1..15 */
            x[32 * b + (b * 5) % 32] = -8.0f * d;                                                         /* q = 0 */
        }
        uint8_t q[NB * 18];
        r1c_quantize_row(R1C_Q4_0, x, q, NB * 32);
        r1c_dequantize_row(R1C_Q4_0, q, y, NB * 32);
        CHECK(memcmp(x, y, sizeof x) == 0, "Q4_0: a row of (q - 8) * d does not come back exactly");
    }
    { /* Q8_K activations: x = k * 2^-5 with +-127 present -> exactly k and d = +-2^-5 */
        float x[512], y[512];
        for (int i = 0; i < 512; i++) x[i] = (float)((int)(test_rand(&seed) % 255) - 127) / 32;
        x[3] = -127.0f / 32, x[300] = 127.0f / 32;
        r1c_block_q8_K b[2];
        r1c_quantize_act(R1C_Q8_K, x, b, 512);
        r1c_dequantize_row(R1C_Q8_K, b, y, 512);
        CHECK(memcmp(x, y, sizeof x) == 0, "Q8_K: a row of k / 32 does not come back exactly");
    }
}

static void test_invariants(void) {
    uint64_t seed = 0x1234567ULL;
    enum { N = 4096 };
    float *x = xmalloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = (float)gauss(&seed) * (i % 512 < 256 ? 1.0f : 0.01f);
    { /* Q8_0: |qs| <= 127 and some |qs| == 127 in every non-zero block; d = f16(amax / 127) */
        r1c_block_q8_0 *b = xmalloc(N / 32 * sizeof *b);
        r1c_quantize_row(R1C_Q8_0, x, b, N);
        int bad = 0;
        for (int k = 0; k < N / 32; k++) {
            int has127 = 0;
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                bad += b[k].qs[j] < -127;
                has127 |= b[k].qs[j] == 127 || b[k].qs[j] == -127;
                amax = fmaxf(amax, fabsf(x[32 * k + j]));
            }
            bad += !has127 || b[k].d != r1c_f32_to_f16(amax / 127);
        }
        CHECK(bad == 0, "Q8_0 invariants: %d violations", bad);
        free(b);
    }
    { /* Q4_0: the element of largest magnitude (first one) gets q = 0 (value -8 d), d = f16(max / -8) */
        r1c_block_q4_0 *b = xmalloc(N / 32 * sizeof *b);
        r1c_quantize_row(R1C_Q4_0, x, b, N);
        int bad = 0;
        for (int k = 0; k < N / 32; k++) {
            int jm = 0;
            for (int j = 1; j < 32; j++)
                if (fabsf(x[32 * k + j]) > fabsf(x[32 * k + jm])) jm = j;
            const int q = jm < 16 ? b[k].qs[jm] & 15 : b[k].qs[jm - 16] >> 4;
            bad += q != 0 || b[k].d != r1c_f32_to_f16(x[32 * k + jm] / -8);
        }
        CHECK(bad == 0, "Q4_0 invariants: %d violations", bad);
        free(b);
    }
    { /* Q4_K: the largest sub-block scale and the largest min both map to 63 */
        r1c_block_q4_K *b = xmalloc(N / 256 * sizeof *b);
        r1c_quantize_row(R1C_Q4_K, x, b, N);
        int bad = 0;
        for (int k = 0; k < N / 256; k++) {
            int sc[8], m[8], msc = 0, mm = 0;
            k4_unpack(b[k].scales, sc, m);
            for (int j = 0; j < 8; j++) msc = sc[j] > msc ? sc[j] : msc, mm = m[j] > mm ? m[j] : mm;
            bad += msc != 63 || mm != 63;
        }
        CHECK(bad == 0, "Q4_K invariants: %d violations", bad);
        free(b);
    }
    { /* Q6_K: the sub-block scale of largest magnitude maps to -128 */
        r1c_block_q6_K *b = xmalloc(N / 256 * sizeof *b);
        r1c_quantize_row(R1C_Q6_K, x, b, N);
        int bad = 0;
        for (int k = 0; k < N / 256; k++) {
            int has = 0;
            for (int j = 0; j < 16; j++) has |= b[k].scales[j] == -128;
            bad += !has;
        }
        CHECK(bad == 0, "Q6_K invariants: %d violations", bad);
        free(b);
    }
    free(x);
}

/* All-zero rows: a zero scale (Q4_0's is -0: llama.cpp's d = max / -8 with max = 0) and an
 * all-zero output with no NaN, for every format; Q8_K's block sums zero too. */
static void test_zero_rows(void) {
    static const r1c_dtype ts[] = {R1C_Q8_0, R1C_Q4_0, R1C_Q4_K, R1C_Q6_K, R1C_Q8_K};
    float z[512] = {0}, y[512];
    uint8_t buf[2 * 292];
    for (size_t t = 0; t < sizeof ts / sizeof ts[0]; t++) {
        memset(buf, 0xA5, sizeof buf); /* garbage that the quantiser must overwrite */
        r1c_quantize_row(ts[t], z, buf, 512);
        r1c_dequantize_row(ts[t], buf, y, 512);
        int nz = 0;
        for (int i = 0; i < 512; i++) nz += !(y[i] == 0); /* counts NaN too */
        uint16_t d16 = 0;
        int dz = 1;
        const int bb = r1c_dtype_block_bytes(ts[t]), nb = 512 / r1c_dtype_block(ts[t]);
        for (int b = 0; b < nb; b++) {
            const uint8_t *p = buf + b * bb;
            switch (ts[t]) {
            case R1C_Q8_0:
            case R1C_Q4_0: memcpy(&d16, p, 2), dz &= (d16 & 0x7fff) == 0; break;
            case R1C_Q4_K: {
                uint16_t dm;
                memcpy(&d16, p, 2), memcpy(&dm, p + 2, 2);
                dz &= (d16 & 0x7fff) == 0 && (dm & 0x7fff) == 0;
                break;
            }
            case R1C_Q6_K: memcpy(&d16, p + 208, 2), dz &= (d16 & 0x7fff) == 0; break;
            default: {
                float d32;
                int16_t bs[16];
                memcpy(&d32, p, 4);
                memcpy(bs, p + 260, 32);
                dz &= d32 == 0;
                for (int g = 0; g < 16; g++) dz &= bs[g] == 0;
            }
            }
        }
        CHECK(nz == 0 && dz, "%s all-zero row: %d non-zero outputs, scales zero %d", r1c_dtype_name(ts[t]), nz, dz);
    }
}

/* Naive 4-bit and 6-bit quantisers with no scale search, in double with unquantised scales:
 * Q4_K-like: per 32 elements, min = min(x, 0), scale = (max - min) / 15, q = round((x - min) / scale);
 * Q6_K-like: per 16 elements, scale = max|x| / 31, q = round(x / scale) in -32..31.
 * Returns the sum of squared errors. */
static double naive4_sq(const float *x, int n) {
    double s = 0;
    for (int b = 0; b < n / 32; b++) {
        const float *v = x + 32 * b;
        double mn = v[0], mx = v[0];
        for (int j = 0; j < 32; j++) mn = v[j] < mn ? v[j] : mn, mx = v[j] > mx ? v[j] : mx;
        if (mn > 0) mn = 0;
        const double d = (mx - mn) / 15;
        for (int j = 0; j < 32; j++) {
            double q = d > 0 ? nearbyint((v[j] - mn) / d) : 0;
            q = q < 0 ? 0 : q > 15 ? 15 : q;
            const double e = mn + d * q - v[j];
            s += e * e;
        }
    }
    return s;
}
static double naive6_sq(const float *x, int n) {
    double s = 0;
    for (int b = 0; b < n / 16; b++) {
        const float *v = x + 16 * b;
        double amax = 0;
        for (int j = 0; j < 16; j++) amax = fabs(v[j]) > amax ? fabs(v[j]) : amax;
        const double d = amax / 31;
        for (int j = 0; j < 16; j++) {
            double q = d > 0 ? nearbyint(v[j] / d) : 0;
            q = q < -32 ? -32 : q > 31 ? 31 : q;
            const double e = d * q - v[j];
            s += e * e;
        }
    }
    return s;
}

static void test_roundtrip_rmse(void) {
    enum { ROWS = 32, N = 4096 };
    /* measured on these rows: Q8_0 0.00536, Q4_0 0.0861, Q4_K 0.0713, Q6_K 0.0178 (sigma = 1); bounds ~15 % above */
    static const double bound[N_WTYPES] = {0.0062, 0.099, 0.082, 0.0205};
    uint64_t seed = 0x5eed;
    float *x = xmalloc(sizeof(float) * ROWS * N), *y = xmalloc(sizeof(float) * N);
    for (int i = 0; i < ROWS * N; i++) x[i] = (float)gauss(&seed);
    double naive4 = 0, naive6 = 0;
    for (int r = 0; r < ROWS; r++) naive4 += naive4_sq(x + r * N, N), naive6 += naive6_sq(x + r * N, N);
    for (int t = 0; t < N_WTYPES; t++) {
        const size_t rb = r1c_dtype_row_bytes(WTYPES[t], N);
        uint8_t *q = xmalloc(rb + 1);
        double sq = 0;
        int nonfinite = 0;
        for (int r = 0; r < ROWS; r++) {
            r1c_quantize_row(WTYPES[t], x + r * N, q + 1, N); /* at an odd address */
            r1c_dequantize_row(WTYPES[t], q + 1, y, N);
            for (int i = 0; i < N; i++) {
                const double e = (double)y[i] - x[r * N + i];
                sq += e * e;
                nonfinite += !isfinite(y[i]);
            }
        }
        free(q);
        const double rmse = sqrt(sq / (ROWS * N));
        printf("quant rmse %s %.5f\n", r1c_dtype_name(WTYPES[t]), rmse);
        CHECK(nonfinite == 0 && rmse < bound[t], "%s round trip rmse %.5f (bound %.4f), %d non-finite",
              r1c_dtype_name(WTYPES[t]), rmse, bound[t], nonfinite);
        /* the K-quants search their scales: clearly better than the naive quantisers, although
         * those keep their scales in double and the K-quants store 6- / 8-bit ones */
        if (WTYPES[t] == R1C_Q4_K || WTYPES[t] == R1C_Q6_K) {
            const double naive = sqrt((WTYPES[t] == R1C_Q4_K ? naive4 : naive6) / (ROWS * N));
            printf("quant rmse %s naive (no scale search) %.5f\n", r1c_dtype_name(WTYPES[t]), naive);
            CHECK(rmse < 0.96 * naive, "%s rmse %.5f is not clearly below the naive quantiser's %.5f",
                  r1c_dtype_name(WTYPES[t]), rmse, naive);
        }
    }
    free(x), free(y);
}

/* ================================================================ 3. activations */

static void test_activations(void) {
    CHECK(r1c_quant_act_type(R1C_Q8_0) == R1C_Q8_0 && r1c_quant_act_type(R1C_Q4_0) == R1C_Q8_0, "act type of Q8_0/Q4_0");
    CHECK(r1c_quant_act_type(R1C_Q4_K) == R1C_Q8_K && r1c_quant_act_type(R1C_Q6_K) == R1C_Q8_K, "act type of Q4_K/Q6_K");
    CHECK(!r1c_dtype_is_quant(r1c_quant_act_type(R1C_F32)) && !r1c_dtype_is_quant(r1c_quant_act_type(R1C_BF16)),
          "float weights have no quantised activation type");
    uint64_t seed = 7;
    enum { N = 1024 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)gauss(&seed) * 3;
    r1c_block_q8_K b[N / 256];
    r1c_quantize_act(R1C_Q8_K, x, b, N);
    int bad = 0, has127 = 0, range = 0;
    for (int k = 0; k < N / 256; k++) {
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++) s += b[k].qs[16 * g + i];
            bad += b[k].bsums[g] != s;
        }
        for (int i = 0; i < 256; i++) has127 += b[k].qs[i] == 127 || b[k].qs[i] == -127, range += b[k].qs[i] == -128;
    }
    CHECK(bad == 0, "Q8_K bsums: %d wrong", bad);
    CHECK(has127 >= N / 256 && range == 0, "Q8_K: the largest magnitude maps to +-127 (%d), none to -128 (%d)", has127,
          range);
    /* Q8_0 activations are the Q8_0 reference quantiser */
    r1c_block_q8_0 a[N / 32], w[N / 32];
    r1c_quantize_act(R1C_Q8_0, x, a, N);
    r1c_quantize_row(R1C_Q8_0, x, w, N);
    CHECK(memcmp(a, w, sizeof a) == 0, "Q8_0 activations differ from the Q8_0 quantiser");
}

/* ================================================================ 4. r1c_quant_dot */

static void test_dot_reference(void) {
    uint64_t seed = 99;
    float w[1280], x[1280], wd[1280], xd[1280];
    static uint8_t wq[5 * 210], xq[5 * 292];
    double worst = 0;
    for (int t = 0; t < N_WTYPES; t++) {
        const r1c_dtype wt = WTYPES[t], at = r1c_quant_act_type(wt);
        const int blk = is_k(wt) ? 256 : 32;
        static const int NBK[] = {1, 2, 3, 5};
        for (int ni = 0; ni < 4; ni++) {
            const int n = NBK[ni] * blk;
            for (int rep = 0; rep < 12; rep++) {
                for (int i = 0; i < n; i++) w[i] = (float)gauss(&seed), x[i] = (float)gauss(&seed) * (rep % 2 ? 5 : 1);
                if (rep == 3)
                    for (int i = 0; i < n; i++) w[i] -= 1.5f; /* an offset row: large Q4_K mins */
                r1c_quantize_row(wt, w, wq, n);
                r1c_quantize_act(at, x, xq, n);
                r1c_dequantize_row(wt, wq, wd, n);
                r1c_dequantize_row(at, xq, xd, n);
                const float got = r1c_quant_dot(wt, wq, xq, n);
                double ref = 0, mag = 0;
                for (int i = 0; i < n; i++) ref += (double)wd[i] * xd[i], mag += fabs((double)wd[i] * xd[i]);
                const double rel = fabs(got - ref) / (mag > 0 ? mag : 1);
                worst = rel > worst ? rel : worst;
                CHECK(rel < 1e-5, "%s n=%d: dot %.9g vs dequantised %.9g: error %.3g of sum|w x|", r1c_dtype_name(wt), n, got,
                      ref, rel);
            }
        }
    }
    printf("quant dot: worst error %.3g of sum|w x| (bound 1e-5)\n", worst);
}

/* The canonical order, step by step on hand-made blocks whose float steps all round. */
static void test_dot_canonical(void) {
    uint64_t seed = 2024;
    /* Q8_0 x Q8_0 and Q4_0 x Q8_0, 3 blocks: per block the exact integer sum s over its 32
     * elements, d = f32(w.d) * f32(x.d), acc = fmaf((float)s, d, acc); d = f16 of values whose
     * products round */
    static const float wdv[3] = {0.1f, -0.37f, 0.0123f}, xdv[3] = {0.77f, 0.013f, -1.9f};
    for (int isq4 = 0; isq4 < 2; isq4++) {
        int qw[96], qx[96];
        r1c_block_q8_0 wb8[3], xb[3];
        r1c_block_q4_0 wb4[3];
        for (int b = 0; b < 3; b++) {
            wb8[b].d = wb4[b].d = r1c_f32_to_f16(wdv[b]);
            xb[b].d = r1c_f32_to_f16(xdv[b]);
            for (int i = 0; i < 32; i++) {
                qw[32 * b + i] = isq4 ? (int)(test_rand(&seed) % 16) - 8 : (int)(test_rand(&seed) % 256) - 128;
                qx[32 * b + i] = (int)(test_rand(&seed) % 255) - 127;
                wb8[b].qs[i] = (int8_t)qw[32 * b + i];
                xb[b].qs[i] = (int8_t)qx[32 * b + i];
            }
            for (int i = 0; i < 16; i++) /* (meaningful for the Q4_0 pass only) */
                wb4[b].qs[i] = (uint8_t)(((qw[32 * b + i] + 8) & 15) | (((qw[32 * b + 16 + i] + 8) & 15) << 4));
        }
        float acc = 0, acc1 = 0;
        for (int b = 0; b < 3; b++) {
            int s = 0;
            for (int i = 0; i < 32; i++) s += qw[32 * b + i] * qx[32 * b + i];
            acc = fmaf((float)s, r1c_f16_to_f32(wb8[b].d) * r1c_f16_to_f32(xb[b].d), acc);
            if (b == 0) acc1 = acc;
        }
        const float got = isq4 ? r1c_quant_dot(R1C_Q4_0, wb4, xb, 96) : r1c_quant_dot(R1C_Q8_0, wb8, xb, 96);
        CHECK(memcmp(&got, &acc, 4) == 0, "%s canonical: %.9g vs %.9g", isq4 ? "Q4_0" : "Q8_0", got, acc);
        const float got1 = isq4 ? r1c_quant_dot(R1C_Q4_0, wb4, xb, 32) : r1c_quant_dot(R1C_Q8_0, wb8, xb, 32);
        CHECK(memcmp(&got1, &acc1, 4) == 0, "%s canonical, 1 block: %.9g vs %.9g", isq4 ? "Q4_0" : "Q8_0", got1, acc1);
    }
    { /* Q4_K x Q8_K, 2 super-blocks: c = fmaf(a, sumi, -(b * summ)), acc = acc + c */
        r1c_block_q4_K wb[2];
        r1c_block_q8_K xb[2];
        int q[2][256], qx[2][256], sc[2][8], m[2][8];
        static const float dv[2] = {0.0173f, 0.0031f}, dmv[2] = {0.0091f, 0.0257f}, xd[2] = {0.0123f, -0.0457f};
        for (int B = 0; B < 2; B++) {
            wb[B].d = r1c_f32_to_f16(dv[B]);
            wb[B].dmin = r1c_f32_to_f16(dmv[B]);
            for (int s = 0; s < 8; s++) sc[B][s] = (int)(test_rand(&seed) % 64), m[B][s] = (int)(test_rand(&seed) % 64);
            k4_pack(sc[B], m[B], wb[B].scales);
            for (int i = 0; i < 256; i++) q[B][i] = (int)(test_rand(&seed) % 16), qx[B][i] = (int)(test_rand(&seed) % 255) - 127;
            k4_qs_pack(q[B], wb[B].qs);
            xb[B].d = xd[B];
            for (int i = 0; i < 256; i++) xb[B].qs[i] = (int8_t)qx[B][i];
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int i = 0; i < 16; i++) s += qx[B][16 * g + i];
                xb[B].bsums[g] = (int16_t)s;
            }
        }
        float acc = 0;
        for (int B = 0; B < 2; B++) {
            int sumi = 0, summ = 0;
            for (int s = 0; s < 8; s++) {
                int a = 0, bx = 0;
                for (int i = 32 * s; i < 32 * s + 32; i++) a += q[B][i] * qx[B][i], bx += qx[B][i];
                sumi += sc[B][s] * a;
                summ += m[B][s] * bx;
            }
            const float a = r1c_f16_to_f32(wb[B].d) * xb[B].d, b = r1c_f16_to_f32(wb[B].dmin) * xb[B].d;
            acc = acc + fmaf(a, (float)sumi, -(b * (float)summ));
        }
        const float got = r1c_quant_dot(R1C_Q4_K, wb, xb, 512);
        CHECK(memcmp(&got, &acc, 4) == 0, "Q4_K canonical: %.9g vs %.9g", got, acc);
    }
    { /* Q6_K x Q8_K, 2 super-blocks: acc = acc + a * (float)sumi */
        r1c_block_q6_K wb[2];
        r1c_block_q8_K xb[2];
        int q[2][256], qx[2][256];
        static const float dv[2] = {0.00731f, 0.0419f}, xd[2] = {-0.0213f, 0.0077f};
        for (int B = 0; B < 2; B++) {
            wb[B].d = r1c_f32_to_f16(dv[B]);
            for (int s = 0; s < 16; s++) wb[B].scales[s] = (int8_t)((int)(test_rand(&seed) % 256) - 128);
            for (int i = 0; i < 256; i++) q[B][i] = (int)(test_rand(&seed) % 64), qx[B][i] = (int)(test_rand(&seed) % 255) - 127;
            k6_pack(q[B], wb[B].ql, wb[B].qh);
            memset(&xb[B], 0, sizeof xb[B]);
            xb[B].d = xd[B];
            for (int i = 0; i < 256; i++) xb[B].qs[i] = (int8_t)qx[B][i];
        }
        float acc = 0;
        for (int B = 0; B < 2; B++) {
            int sumi = 0;
            for (int s = 0; s < 16; s++) {
                int a = 0;
                for (int i = 16 * s; i < 16 * s + 16; i++) a += (q[B][i] - 32) * qx[B][i];
                sumi += wb[B].scales[s] * a;
            }
            const float a = r1c_f16_to_f32(wb[B].d) * xb[B].d;
            acc = acc + a * (float)sumi;
        }
        const float got = r1c_quant_dot(R1C_Q6_K, wb, xb, 512);
        CHECK(memcmp(&got, &acc, 4) == 0, "Q6_K canonical: %.9g vs %.9g", got, acc);
    }
}

/* ================================================================ 5. kernel tables */

static const char *const ISA_NAMES[] = {"generic", "avx2", "avx512", "avx512vbmi", "neon", "neon_dotprod"};
#define N_ISA 6

/* a finite f16 with a random sign, exponent 0..22 (zero, subnormals, up to 2^7) and mantissa */
static uint16_t rand_f16(uint64_t *s) {
    const uint64_t r = test_rand(s);
    return (uint16_t)(((r & 1) << 15) | (((r >> 1) % 23) << 10) | ((r >> 8) & 0x3ff));
}

/* nb random weight blocks of type t at p (no alignment): random bytes, or (one block in two)
 * a pattern of extreme quants: all 0x00, all 0xFF, 0x0F/0xF0, or for Q8_0 -128/127 */
static void fill_weight_blocks(r1c_dtype t, uint8_t *p, int64_t nb, uint64_t *s) {
    const int bb = r1c_dtype_block_bytes(t);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t blk[210];
        for (int i = 0; i < bb; i++) blk[i] = (uint8_t)test_rand(s);
        const int pat = (int)(test_rand(s) % 8);
        /* the quant bytes of each format (the scales stay random) */
        const int q0 = t == R1C_Q8_0 || t == R1C_Q4_0 ? 2 : t == R1C_Q4_K ? 16 : 0;
        const int q1 = t == R1C_Q6_K ? 192 : bb;
        for (int i = q0; i < q1 && pat < 4; i++)
            blk[i] = pat == 0 ? 0x00 : pat == 1 ? 0xFF : pat == 2 ? (i % 2 ? 0x0F : 0xF0) : t == R1C_Q8_0 ? (i % 2 ? 0x7F : 0x80) : 0x88;
        uint16_t d = rand_f16(s);
        if (test_rand(s) % 16 == 0) d = 0;
        if (t == R1C_Q6_K) {
            memcpy(blk + 208, &d, 2);
            if (pat == 5)
                for (int j = 0; j < 16; j++) blk[192 + j] = j % 2 ? 0x80 : 0x7F; /* scales -128 / 127 */
        } else {
            memcpy(blk, &d, 2);
            if (t == R1C_Q4_K) {
                uint16_t dm = rand_f16(s);
                memcpy(blk + 2, &dm, 2);
                if (pat == 5) memset(blk + 4, 0xFF, 12); /* every scale and min 63 */
            }
        }
        memcpy(p + b * bb, blk, (size_t)bb);
    }
}

/* a row of activation blocks as r1c_quantize_act makes them: qs in -127..127, Q8_K with its
 * block sums; scales random (Q8_0: finite f16; Q8_K: +-2^-14 .. 2^-1) */
static void fill_act_blocks(r1c_dtype at, uint8_t *p, int64_t nb, uint64_t *s) {
    for (int64_t b = 0; b < nb; b++) {
        const int extreme = test_rand(s) % 4 == 0;
        if (at == R1C_Q8_0) {
            r1c_block_q8_0 x;
            x.d = rand_f16(s);
            for (int i = 0; i < 32; i++) x.qs[i] = (int8_t)(extreme ? (i % 2 ? 127 : -127) : (int)(test_rand(s) % 255) - 127);
            memcpy(p + b * 34, &x, 34);
        } else {
            r1c_block_q8_K x;
            x.d = ldexpf((float)(1 + test_rand(s) % 1024) / 1024, -(int)(test_rand(s) % 14)) * (test_rand(s) % 2 ? -1 : 1);
            for (int i = 0; i < 256; i++) x.qs[i] = (int8_t)(extreme ? (i % 3 ? 127 : -127) : (int)(test_rand(s) % 255) - 127);
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += x.qs[16 * g + i];
                x.bsums[g] = (int16_t)sum;
            }
            memcpy(p + b * 292, &x, 292);
        }
    }
}

static r1c_qmatvec_fn qfn(const r1c_quant_kernels *Q, r1c_dtype t) {
    return t == R1C_Q8_0 ? Q->q8_0 : t == R1C_Q4_0 ? Q->q4_0 : t == R1C_Q4_K ? Q->q4_K : Q->q6_K;
}

/* odd == 0: rows 2-byte aligned (as in any GGUF file: the data is 32-byte aligned and every
 * block size is even), at offsets that are not 4-, 16- or 64-byte aligned; odd == 1: rows at odd
 * addresses. */
static void test_kernel_tables(int odd) {
    const r1c_kernels *tabs[N_ISA];
    char ran[128] = "", skipped[128] = "";
    for (int i = 0; i < N_ISA; i++) {
        tabs[i] = r1c_kernels_by_name(ISA_NAMES[i]);
        strcat(tabs[i] ? ran : skipped, " ");
        strcat(tabs[i] ? ran : skipped, ISA_NAMES[i]);
        if (tabs[i]) CHECK(tabs[i]->quant && tabs[i]->quant->q8_0 && tabs[i]->quant->q4_0 && tabs[i]->quant->q4_K &&
                               tabs[i]->quant->q6_K,
                           "table %s has no quantised kernels", ISA_NAMES[i]);
    }
    if (!odd) printf("quant kernels: ran%s; not available:%s\n", ran, skipped);
    CHECK(tabs[0] != NULL, "no generic table");

    static const int KM0[] = {1, 2, 3, 7, 33}, KMK[] = {1, 2, 3, 5};
    static const int NS[] = {1, 2, 3, 7, 8, 9, 17, 33};
    /* (extra bytes between rows, offset of the first row from a 16-byte aligned address) */
    static const int LAYOUTS[2][4][2] = {{{0, 0}, {6, 2}, {0, 2}, {2, 0}}, {{5, 1}, {0, 1}, {1, 0}, {3, 3}}};
    const int(*LAYOUT)[2] = LAYOUTS[odd];
    uint64_t seed = 0xC0FFEE;
    int cases = 0;
    for (int t = 0; t < N_WTYPES; t++) {
        const r1c_dtype wt = WTYPES[t], at = r1c_quant_act_type(wt);
        const int nk = is_k(wt) ? 4 : 5;
        for (int ki = 0; ki < nk; ki++) {
            const int64_t k = is_k(wt) ? 256 * KMK[ki] : 32 * KM0[ki];
            const int64_t nbw = k / r1c_dtype_block(wt), nba = k / r1c_dtype_block(at);
            const size_t rb = (size_t)r1c_dtype_row_bytes(wt, (uint64_t)k);
            uint8_t *xq = xmalloc((size_t)r1c_dtype_row_bytes(at, (uint64_t)k));
            for (int ni = 0; ni < 8; ni++)
                for (int li = 0; li < 4; li++) {
                    const int64_t n = NS[ni];
                    const size_t stride = rb + (size_t)LAYOUT[li][0], off = (size_t)LAYOUT[li][1];
                    const size_t total = off + (size_t)(n - 1) * stride + rb; /* the last row ends the buffer */
                    uint8_t *buf = xmalloc(total);
                    memset(buf, 0xA5, total);
                    uint8_t *w = buf + off;
                    for (int64_t r = 0; r < n; r++) fill_weight_blocks(wt, w + (size_t)r * stride, nbw, &seed);
                    fill_act_blocks(at, xq, nba, &seed);
                    float *ref = xmalloc(sizeof(float) * (size_t)n);
                    for (int64_t r = 0; r < n; r++) ref[r] = r1c_quant_dot(wt, w + (size_t)r * stride, xq, k);
                    for (int i = 0; i < N_ISA; i++) {
                        if (!tabs[i] || !tabs[i]->quant) continue;
                        float *y = xmalloc(sizeof(float) * (size_t)n);
                        for (int64_t r = 0; r < n; r++) y[r] = float_of(0x7fc0c0deu);
                        qfn(tabs[i]->quant, wt)(w, stride, xq, y, k, n);
                        int64_t bad = -1;
                        for (int64_t r = 0; r < n && bad < 0; r++)
                            if (bits_of(y[r]) != bits_of(ref[r])) bad = r;
                        CHECK(bad < 0, "%s %s k=%lld n=%lld stride=%zu offset=%zu: row %lld = %.9g (%08x), canonical %.9g (%08x)",
                              ISA_NAMES[i], r1c_dtype_name(wt), (long long)k, (long long)n, stride, off, (long long)bad,
                              bad >= 0 ? y[bad] : 0.0f, bad >= 0 ? bits_of(y[bad]) : 0u, bad >= 0 ? ref[bad] : 0.0f,
                              bad >= 0 ? bits_of(ref[bad]) : 0u);
                        free(y);
                    }
                    int nonfinite = 0;
                    for (int64_t r = 0; r < n; r++) nonfinite += !isfinite(ref[r]);
                    CHECK(nonfinite == 0, "%s k=%lld: %d non-finite canonical dots from finite blocks", r1c_dtype_name(wt),
                          (long long)k, nonfinite);
                    free(ref), free(buf);
                    cases++;
                }
            free(xq);
        }
    }
    printf("quant kernels: %d shapes x layouts (%s rows) compared bit for bit\n", cases, odd ? "odd-address" : "2-byte aligned");
}

/* ================================================================ 6. ops */

typedef struct exec2 {
    r1c_exec ex;
    float *scratch[2];
} exec2;

static void exec2_init(exec2 *e) {
    e->ex = (r1c_exec){0}; /* no matmul hook (after_mm) */
    e->ex.scratch_floats = r1c_exec_scratch_floats(64, 0);
    for (int i = 0; i < 2; i++) {
        void *p = NULL;
        if (posix_memalign(&p, 64, sizeof(float) * e->ex.scratch_floats) != 0) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        e->scratch[i] = p;
    }
    e->ex.scratch = e->scratch;
    e->ex.n_threads = 1;
}

/* a [rows][K] quantised weight: N(0,1) rows through r1c_quantize_row (F32: copied) */
static r1c_tensor make_qweight(r1c_dtype t, int64_t rows, int64_t K, uint64_t *seed) {
    r1c_tensor w = {.name = "w", .dtype = t, .n_dims = 2, .shape = {rows, K}};
    const size_t rb = t == R1C_F32 ? sizeof(float) * (size_t)K : (size_t)r1c_dtype_row_bytes(t, (uint64_t)K);
    uint8_t *p = xmalloc(rb * (size_t)rows);
    float *row = xmalloc(sizeof(float) * (size_t)K);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < K; i++) row[i] = (float)gauss(seed) * (r % 3 == 2 ? 0.01f : 1.0f);
        if (t == R1C_F32) memcpy(p + (size_t)r * rb, row, rb);
        else r1c_quantize_row(t, row, p + (size_t)r * rb, K);
    }
    free(row);
    w.data = p;
    w.nbytes = rb * (size_t)rows;
    return w;
}

#define SENTINEL 0x7fc0c0deu

static void test_ops(void) {
    exec2 e;
    exec2_init(&e);
    uint64_t seed = 0x0b5;
    const char *isa0 = r1c_kernel_isa();
    char isa_default[32];
    snprintf(isa_default, sizeof isa_default, "%s", isa0);

    /* one call, four jobs: Q4_K, Q8_0 (odd block count) and F32 on the call's x, Q6_K and Q4_0 on
     * their own x; K = 768 for the K-quants, 480 (15 blocks) for the others: jobs of different K
     * need different x, so K is 768 everywhere except in the jobs with their own x */
    enum { T = 19, NJ = 5 }; /* 19 tokens: two full 8-token GEMM tiles and a partial one */
    const int64_t K = 768, K0 = 480;
    r1c_tensor W[NJ] = {make_qweight(R1C_Q4_K, 37, K, &seed), make_qweight(R1C_Q8_0, 21, K, &seed),
                        make_qweight(R1C_F32, 9, K, &seed), make_qweight(R1C_Q6_K, 13, K, &seed),
                        make_qweight(R1C_Q4_0, 19, K0, &seed)};
    const int own[NJ] = {0, 0, 0, 1, 2}; /* which x: the call's, x2, x3 */
    const int64_t ldx = K + 3;
    float *xs[3];
    for (int i = 0; i < 3; i++) {
        xs[i] = xmalloc(sizeof(float) * (size_t)(T * ldx));
        for (int64_t j = 0; j < T * ldx; j++) xs[i][j] = (float)gauss(&seed) * (i == 1 ? 4.0f : 1.0f);
    }
    int64_t ldy[NJ];
    float *Y[NJ], *Y1[NJ], *ref[NJ];
    for (int j = 0; j < NJ; j++) {
        ldy[j] = W[j].shape[0] + 2;
        Y[j] = xmalloc(sizeof(float) * (size_t)(T * ldy[j]));
        Y1[j] = xmalloc(sizeof(float) * (size_t)(T * ldy[j]));
        ref[j] = xmalloc(sizeof(float) * (size_t)(T * W[j].shape[0]));
    }
    /* the canonical dot of each quantised row with each quantised token row */
    for (int j = 0; j < NJ; j++) {
        if (!r1c_dtype_is_quant(W[j].dtype)) continue;
        const int64_t k = W[j].shape[1];
        const r1c_dtype at = r1c_quant_act_type(W[j].dtype);
        const size_t rb = (size_t)r1c_dtype_row_bytes(W[j].dtype, (uint64_t)k);
        uint8_t *xq = xmalloc((size_t)r1c_dtype_row_bytes(at, (uint64_t)k));
        for (int t = 0; t < T; t++) {
            r1c_quantize_act(at, xs[own[j]] + t * ldx, xq, k);
            for (int64_t r = 0; r < W[j].shape[0]; r++)
                ref[j][t * W[j].shape[0] + r] = r1c_quant_dot(W[j].dtype, (const uint8_t *)W[j].data + (size_t)r * rb, xq, k);
        }
        free(xq);
    }

    int tables = 0;
    float *f32_first = NULL; /* the F32 job's output under the first table, 1 thread */
    for (int i = 0; i < N_ISA; i++) {
        if (!r1c_kernels_by_name(ISA_NAMES[i])) continue;
        CHECK(r1c_force_kernel_isa(ISA_NAMES[i]) == R1C_OK, "cannot select %s", ISA_NAMES[i]);
        tables++;
        for (int nt = 1; nt <= 2; nt++) {
            e.ex.n_threads = nt;
            r1c_mm_job jobs[NJ];
            for (int j = 0; j < NJ; j++) {
                for (int64_t q = 0; q < T * ldy[j]; q++) Y[j][q] = Y1[j][q] = float_of(SENTINEL);
                jobs[j] = (r1c_mm_job){.w = &W[j], .y = Y[j], .ldy = ldy[j], .x = own[j] ? xs[own[j]] : NULL};
            }
            r1c_matmul(&e.ex, jobs, NJ, xs[0], ldx, T); /* the batch */
            for (int t = 0; t < T; t++) {                /* token by token */
                r1c_mm_job j1[NJ];
                for (int j = 0; j < NJ; j++)
                    j1[j] = (r1c_mm_job){.w = &W[j], .y = Y1[j] + t * ldy[j], .ldy = ldy[j], .x = own[j] ? xs[own[j]] + t * ldx : NULL};
                r1c_matmul(&e.ex, j1, NJ, xs[0] + t * ldx, ldx, 1);
            }
            for (int j = 0; j < NJ; j++) {
                const int64_t rows = W[j].shape[0];
                CHECK(memcmp(Y[j], Y1[j], sizeof(float) * (size_t)(T * ldy[j])) == 0,
                      "%s, %d threads, job %d (%s): a batch of %d differs from its tokens one by one", ISA_NAMES[i], nt, j,
                      r1c_dtype_name(W[j].dtype), T);
                int pad = 0, canon = 0;
                for (int t = 0; t < T; t++)
                    for (int64_t r = 0; r < ldy[j]; r++) {
                        const float v = Y[j][t * ldy[j] + r];
                        if (r >= rows) pad += bits_of(v) != SENTINEL;
                        else if (r1c_dtype_is_quant(W[j].dtype)) canon += bits_of(v) != bits_of(ref[j][t * rows + r]);
                    }
                CHECK(pad == 0, "%s job %d: %d writes into the padding of Y", ISA_NAMES[i], j, pad);
                CHECK(canon == 0, "%s, %d threads, job %d (%s): %d outputs differ from the canonical dot", ISA_NAMES[i], nt, j,
                      r1c_dtype_name(W[j].dtype), canon);
                if (W[j].dtype == R1C_F32 && nt == 1 && !f32_first) {
                    f32_first = xmalloc(sizeof(float) * (size_t)(T * ldy[j]));
                    memcpy(f32_first, Y[j], sizeof(float) * (size_t)(T * ldy[j]));
                } else if (W[j].dtype == R1C_F32)
                    CHECK(memcmp(f32_first, Y[j], sizeof(float) * (size_t)(T * ldy[j])) == 0,
                          "%s, %d threads: the F32 job next to quantised ones differs", ISA_NAMES[i], nt);
            }
        }
        /* r1c_matvec_rows: whole matrices and a middle range, each token */
        for (int j = 0; j < NJ; j++) {
            if (!r1c_dtype_is_quant(W[j].dtype)) continue;
            const int64_t rows = W[j].shape[0];
            float *y = xmalloc(sizeof(float) * (size_t)rows);
            int bad = 0;
            for (int t = 0; t < T; t++) {
                const float *x = xs[own[j]] + t * ldx;
                r1c_matvec_rows(&W[j], x, y, 0, rows);
                bad += memcmp(y, ref[j] + t * rows, sizeof(float) * (size_t)rows) != 0;
                r1c_matvec_rows(&W[j], x, y, 3, rows - 2);
                bad += memcmp(y, ref[j] + t * rows + 3, sizeof(float) * (size_t)(rows - 5)) != 0;
            }
            CHECK(bad == 0, "%s: r1c_matvec_rows on %s differs from the canonical dot (%d calls)", ISA_NAMES[i],
                  r1c_dtype_name(W[j].dtype), bad);
            free(y);
        }
    }
    printf("quant ops: r1c_matmul / r1c_matvec_rows checked under %d kernel tables, 1 and 2 threads\n", tables);
    CHECK(r1c_force_kernel_isa(isa_default) == R1C_OK, "cannot restore %s", isa_default);

    /* r1c_row_to_f32 of a quantised row is its dequantisation */
    for (int j = 0; j < NJ; j++) {
        if (!r1c_dtype_is_quant(W[j].dtype)) continue;
        const int64_t rows = W[j].shape[0], k = W[j].shape[1];
        const size_t rb = (size_t)r1c_dtype_row_bytes(W[j].dtype, (uint64_t)k);
        float *a = xmalloc(sizeof(float) * (size_t)k), *b = xmalloc(sizeof(float) * (size_t)k);
        int bad = 0;
        for (int64_t r = 0; r < rows; r += rows / 3) {
            r1c_row_to_f32(&W[j], r, a);
            r1c_dequantize_row(W[j].dtype, (const uint8_t *)W[j].data + (size_t)r * rb, b, k);
            bad += memcmp(a, b, sizeof(float) * (size_t)k) != 0;
        }
        r1c_row_to_f32(&W[j], rows - 1, a);
        r1c_dequantize_row(W[j].dtype, (const uint8_t *)W[j].data + (size_t)(rows - 1) * rb, b, k);
        bad += memcmp(a, b, sizeof(float) * (size_t)k) != 0;
        CHECK(bad == 0, "r1c_row_to_f32 on %s differs from r1c_dequantize_row (%d rows)", r1c_dtype_name(W[j].dtype), bad);
        free(a), free(b);
    }

    for (int j = 0; j < NJ; j++) free((void *)W[j].data), free(Y[j]), free(Y1[j]), free(ref[j]);
    for (int i = 0; i < 3; i++) free(xs[i]);
    free(f32_first);
    free(e.scratch[0]), free(e.scratch[1]);
}

/* Row-interleaved Q8_0 / Q4_0 / Q6_K / Q4_K (quant.h's R16 layout): packing then unpacking gives every row's
 * bytes back; each table's R16 kernels (and the portable path ops.c takes for tables without them,
 * or for row ranges that split a group of 16) give the canonical dot of the plain rows bit for bit:
 * the matrix-vector kernel directly on group counts that exercise its multi-stream and single-group
 * paths and its heap path (k > 32768), the K-quants' GEMM directly (token counts on both sides of its
 * panel threshold), and r1c_matmul (the GEMM: 19 tokens, two full tiles and a partial one;
 * decode) beside a plain job whose 21 rows shift the packed jobs off the 16-row grid. */
static void test_packed(void) {
    uint64_t seed = 0x9ac4ed;
    static const int64_t KS[] = {32, 96, 1056, 33792}, KS6[] = {256, 768, 1536, 33792}, NS[] = {16, 48, 64, 80, 208};
    int direct = 0;
    for (int ti = 0; ti < 4; ti++) { /* Q8_0, Q4_0, Q6_K, Q4_K */
        const r1c_dtype wt = ti == 3 ? R1C_Q4_K : ti == 2 ? R1C_Q6_K : ti ? R1C_Q4_0 : R1C_Q8_0, at = r1c_quant_act_type(wt);
        const int kq = ti >= 2; /* a K-quant: 256-element super-blocks, Q8_K activations */
        const int64_t blk = kq ? 256 : 32;
        for (int ki = 0; ki < 4; ki++)
            for (int ni = 0; ni < 5; ni++) {
                const int64_t k = kq ? KS6[ki] : KS[ki], n = NS[ni], nb = k / blk;
                if (k > 2000 && n > 64) continue;
                const size_t rb = (size_t)r1c_dtype_row_bytes(wt, (uint64_t)k), xrb = (size_t)r1c_dtype_row_bytes(at, (uint64_t)k);
                enum { XT = 19 }; /* tokens for the Q6_K GEMM */
                uint8_t *w = xmalloc(rb * (size_t)n), *pk = xmalloc(rb * (size_t)n), *tmp = xmalloc(16 * rb), *row = xmalloc(rb);
                uint8_t *xq = xmalloc(xrb * XT);
                for (int64_t r = 0; r < n; r++) fill_weight_blocks(wt, w + (size_t)r * rb, nb, &seed);
                fill_act_blocks(at, xq, nb * XT, &seed);
                memcpy(pk, w, rb * (size_t)n);
                r1c_quant_pack_rows(wt, pk, n, k, tmp);
                CHECK(r1c_quant_packable(wt, n, k) && (n == 16 || memcmp(pk, w, rb * (size_t)n) != 0), "%s: packing changed nothing",
                      r1c_dtype_name(wt));
                int back = 0;
                for (int64_t r = 0; r < n; r++) {
                    r1c_quant_unpack_row(wt, pk, k, r, row);
                    back += memcmp(row, w + (size_t)r * rb, rb) != 0;
                }
                CHECK(back == 0, "%s k=%lld n=%lld: %d rows differ after pack + unpack", r1c_dtype_name(wt), (long long)k, (long long)n,
                      back);
                float *ref = xmalloc(sizeof(float) * (size_t)n * XT), *y = xmalloc(sizeof(float) * (size_t)n * XT);
                for (int t = 0; t < XT; t++)
                    for (int64_t r = 0; r < n; r++) ref[t * n + r] = r1c_quant_dot(wt, w + (size_t)r * rb, xq + (size_t)t * xrb, k);
                for (int i = 0; i < N_ISA; i++) {
                    const r1c_kernels *K = r1c_kernels_by_name(ISA_NAMES[i]);
                    const r1c_quant_kernels *QK = K ? K->quant : NULL;
                    r1c_qmatvec_fn f = !QK ? NULL : ti == 3 ? QK->q4_K_r16 : ti == 2 ? QK->q6_K_r16 : ti ? QK->q4_0_r16 : QK->q8_0_r16;
                    r1c_qgemm_k_fn gk = !QK ? NULL : ti == 3 ? QK->gemm_q4_K_r16 : ti == 2 ? QK->gemm_q6_K_r16 : NULL;
                    if (!f) continue;
                    for (int64_t r = 0; r < n; r++) y[r] = float_of(SENTINEL);
                    f(pk, rb, xq, y, k, n);
                    int bad = 0;
                    for (int64_t r = 0; r < n; r++) bad += bits_of(y[r]) != bits_of(ref[r]);
                    CHECK(bad == 0, "%s %s R16 k=%lld n=%lld: %d rows differ from the canonical dot", ISA_NAMES[i], r1c_dtype_name(wt),
                          (long long)k, (long long)n, bad);
                    direct++;
                    /* the K-quants' GEMM: 1..8 tokens (one tile), 12, 16 (straight from the layout), 19 (a panel per group) */
                    static const int TS[] = {1, 3, 8, 12, 16, 19};
                    for (int ts = 0; gk && ts < 6 && k <= 2000; ts++) {
                        const int T = TS[ts];
                        for (int64_t q = 0; q < n * XT; q++) y[q] = float_of(SENTINEL);
                        gk(pk, rb, xq, xrb, T, k, y, n, n);
                        bad = 0;
                        for (int64_t q = 0; q < n * XT; q++) bad += bits_of(y[q]) != bits_of(q < n * T ? ref[q] : float_of(SENTINEL));
                        CHECK(bad == 0, "%s %s R16 GEMM T=%d k=%lld n=%lld: %d outputs differ from the canonical dot", ISA_NAMES[i], r1c_dtype_name(wt), T,
                              (long long)k, (long long)n, bad);
                        direct++;
                    }
                }
                free(w), free(pk), free(tmp), free(row), free(xq), free(ref), free(y);
            }
    }

    exec2 e;
    exec2_init(&e);
    char isa_default[32];
    snprintf(isa_default, sizeof isa_default, "%s", r1c_kernel_isa());
    enum { T = 19, NJ = 5 };
    const int64_t K = 512;
    r1c_tensor W[NJ] = {make_qweight(R1C_Q8_0, 21, K, &seed), make_qweight(R1C_Q4_0, 64, K, &seed),
                        make_qweight(R1C_Q8_0, 320, K, &seed), make_qweight(R1C_Q6_K, 96, K, &seed), make_qweight(R1C_Q4_K, 48, K, &seed)};
    float *ref[NJ], *Y[NJ];
    float *x = xmalloc(sizeof(float) * (size_t)(T * K));
    for (int64_t j = 0; j < T * K; j++) x[j] = (float)gauss(&seed);
    uint8_t *xq = xmalloc((size_t)r1c_dtype_row_bytes(R1C_Q8_K, (uint64_t)K));
    for (int j = 0; j < NJ; j++) {
        const int64_t rows = W[j].shape[0];
        const size_t rb = (size_t)r1c_dtype_row_bytes(W[j].dtype, (uint64_t)K);
        ref[j] = xmalloc(sizeof(float) * (size_t)(T * rows));
        Y[j] = xmalloc(sizeof(float) * (size_t)(T * rows));
        for (int t = 0; t < T; t++) {
            r1c_quantize_act(r1c_quant_act_type(W[j].dtype), x + t * K, xq, K);
            for (int64_t r = 0; r < rows; r++) ref[j][t * rows + r] = r1c_quant_dot(W[j].dtype, (const uint8_t *)W[j].data + (size_t)r * rb, xq, K);
        }
    }
    /* row_to_f32 of a packed row: the plain row's dequantisation */
    float *plain = xmalloc(sizeof(float) * (size_t)K), *got = xmalloc(sizeof(float) * (size_t)K);
    const size_t rb1 = (size_t)r1c_dtype_row_bytes(R1C_Q4_0, (uint64_t)K);
    r1c_dequantize_row(R1C_Q4_0, (const uint8_t *)W[1].data + 37 * rb1, plain, K);
    float *plain6 = xmalloc(sizeof(float) * (size_t)K);
    r1c_dequantize_row(R1C_Q6_K, (const uint8_t *)W[3].data + 53 * (size_t)r1c_dtype_row_bytes(R1C_Q6_K, (uint64_t)K), plain6, K);
    for (int j = 1; j < NJ; j++) {
        void *tmp = xmalloc(16 * (size_t)r1c_dtype_row_bytes(W[j].dtype, (uint64_t)K));
        r1c_quant_pack_rows(W[j].dtype, (void *)W[j].data, W[j].shape[0], K, tmp);
        W[j].packed = 1;
        free(tmp);
    }
    r1c_row_to_f32(&W[1], 37, got);
    CHECK(memcmp(plain, got, sizeof(float) * (size_t)K) == 0, "r1c_row_to_f32 of a packed Q4_0 row differs");
    r1c_row_to_f32(&W[3], 53, got);
    CHECK(memcmp(plain6, got, sizeof(float) * (size_t)K) == 0, "r1c_row_to_f32 of a packed Q6_K row differs");
    free(plain6);
    int tables = 0;
    for (int i = 0; i < N_ISA; i++) {
        if (!r1c_kernels_by_name(ISA_NAMES[i])) continue;
        CHECK(r1c_force_kernel_isa(ISA_NAMES[i]) == R1C_OK, "cannot select %s", ISA_NAMES[i]);
        tables++;
        for (int nt = 1; nt <= 2; nt++)
            for (int mode = 0; mode < 2; mode++) { /* the batch; token by token */
                e.ex.n_threads = nt;
                for (int j = 0; j < NJ; j++)
                    for (int64_t q = 0; q < T * W[j].shape[0]; q++) Y[j][q] = float_of(SENTINEL);
                for (int t = 0; t < (mode ? T : 1); t++) {
                    r1c_mm_job jobs[NJ];
                    for (int j = 0; j < NJ; j++)
                        jobs[j] = (r1c_mm_job){.w = &W[j], .y = Y[j] + (mode ? t * W[j].shape[0] : 0), .ldy = W[j].shape[0]};
                    r1c_matmul(&e.ex, jobs, NJ, x + (mode ? t * K : 0), K, mode ? 1 : T);
                }
                for (int j = 0; j < NJ; j++) {
                    int bad = 0;
                    for (int64_t q = 0; q < T * W[j].shape[0]; q++) bad += bits_of(Y[j][q]) != bits_of(ref[j][q]);
                    CHECK(bad == 0, "%s, %d threads, %s: packed job %d (%s): %d outputs differ from the canonical dot", ISA_NAMES[i], nt,
                          mode ? "token by token" : "batch", j, r1c_dtype_name(W[j].dtype), bad);
                }
            }
        float *y = xmalloc(sizeof(float) * 64);
        r1c_matvec_rows(&W[1], x + 5 * K, y, 3, 62);
        CHECK(memcmp(y, ref[1] + 5 * 64 + 3, sizeof(float) * 59) == 0, "%s: r1c_matvec_rows on packed rows 3..61 differs", ISA_NAMES[i]);
        free(y);
    }
    CHECK(r1c_force_kernel_isa(isa_default) == R1C_OK, "cannot restore %s", isa_default);
    printf("packed Q8_0/Q4_0/Q6_K/Q4_K: %d direct kernel runs, r1c_matmul under %d tables, compared bit for bit\n", direct, tables);
    for (int j = 0; j < NJ; j++) free((void *)W[j].data), free(ref[j]), free(Y[j]);
    free(x), free(xq), free(plain), free(got);
    free(e.scratch[0]), free(e.scratch[1]);
}

/* r1c_matvec_t (W^T x, as MLA's absorbed decode uses kv_b): under every table, the bits of one
 * axpy per widened row, rows in order; K = 480 (15 blocks: a partial group of four), 128 rows. */
static void test_matvec_t(void) {
    uint64_t seed = 0x7a7a;
    const int64_t K = 480, R = 128;
    char isa_default[32];
    snprintf(isa_default, sizeof isa_default, "%s", r1c_kernel_isa());
    float *x = xmalloc(sizeof(float) * R), *ref = xmalloc(sizeof(float) * K), *got = xmalloc(sizeof(float) * K),
          *row = xmalloc(sizeof(float) * K);
    for (int64_t i = 0; i < R; i++) x[i] = (float)gauss(&seed);
    int runs = 0;
    for (int ti = 0; ti < 2; ti++) {
        r1c_tensor w = make_qweight(ti ? R1C_Q4_0 : R1C_Q8_0, R, K, &seed);
        const size_t rb = (size_t)r1c_dtype_row_bytes(w.dtype, (uint64_t)K);
        for (int64_t c = 0; c < K; c++) ref[c] = 0.0f;
        for (int64_t r = 5; r < R; r++) {
            r1c_dequantize_row(w.dtype, (const uint8_t *)w.data + (size_t)r * rb, row, K);
            for (int64_t c = 0; c < K; c++) ref[c] = fmaf(x[r - 5], row[c], ref[c]);
        }
        for (int i = 0; i < N_ISA; i++) {
            if (!r1c_kernels_by_name(ISA_NAMES[i])) continue;
            CHECK(r1c_force_kernel_isa(ISA_NAMES[i]) == R1C_OK, "cannot select %s", ISA_NAMES[i]);
            r1c_matvec_t(&w, 5, R, x, got, row);
            CHECK(!memcmp(got, ref, sizeof(float) * (size_t)K), "%s: r1c_matvec_t on %s differs from axpy per row", ISA_NAMES[i],
                  r1c_dtype_name(w.dtype));
            runs++;
        }
        free((void *)w.data);
    }
    CHECK(r1c_force_kernel_isa(isa_default) == R1C_OK, "cannot restore %s", isa_default);
    printf("r1c_matvec_t: %d runs bit-equal to an axpy per row\n", runs);
    free(x), free(ref), free(got), free(row);
}

/* Each table's activation quantiser (r1c_quant_kernels.act_q8_0) against r1c_quantize_row, byte
 * for byte: random rows, exact ties (x / d = k + 0.5), zeros, subnormals, NaN and infinities. */
static void test_act_tables(void) {
    uint64_t seed = 77;
    enum { N = 32 * 41 };
    float *x = xmalloc(sizeof(float) * N);
    uint8_t ref[34 * (N / 32)], got[34 * (N / 32)];
    int ran = 0;
    for (int i = 0; i < N_ISA; i++) {
        const r1c_kernels *K = r1c_kernels_by_name(ISA_NAMES[i]);
        if (!K || !K->quant->act_q8_0) continue;
        ran++;
        for (int round = 0; round < 200; round++) {
            for (int j = 0; j < N; j++) x[j] = (float)gauss(&seed) * (round % 7 == 0 ? 1e-3f : 3.0f);
            for (int b = 0; b < N / 32; b++) {
                float *xb = x + 32 * b;
                switch ((b + round) % 9) {
                case 0: /* ties: amax 127 -> d = 1, values k + 0.5 */
                    for (int j = 0; j < 32; j++) xb[j] = (float)((int)(test_rand(&seed) % 253) - 126) + 0.5f;
                    xb[5] = 127.0f;
                    break;
                case 1: for (int j = 0; j < 32; j++) xb[j] = 0.0f; break;
                case 2: for (int j = 0; j < 32; j++) xb[j] *= 1e-41f; break; /* subnormal */
                case 3: xb[test_rand(&seed) % 32] = __builtin_nanf(""); break;
                case 4: xb[test_rand(&seed) % 32] = (round & 1) ? -__builtin_inff() : __builtin_inff(); break;
                case 5: xb[test_rand(&seed) % 32] = -1e30f; break;
                default: break;
                }
            }
            r1c_quantize_row(R1C_Q8_0, x, ref, N);
            memset(got, 0xa5, sizeof got);
            K->quant->act_q8_0(x, got, N);
            int bad = -1;
            for (int j = 0; j < (int)sizeof ref && bad < 0; j++)
                if (ref[j] != got[j]) bad = j;
            CHECK(bad < 0, "%s act_q8_0 round %d: byte %d (block %d) = %02x, reference %02x", ISA_NAMES[i], round, bad,
                  bad / 34, bad >= 0 ? got[bad] : 0, bad >= 0 ? ref[bad] : 0);
            if (bad >= 0) break;
        }
    }
    printf("quant activations: %d table quantisers compared byte for byte\n", ran);
    free(x);
    /* the tables' dequantisers against r1c_dequantize_row: random bytes (every q, every f16
     * scale pattern in time: NaN, infinities, subnormals included) */
    int deq = 0;
    for (int i = 0; i < N_ISA; i++) {
        const r1c_kernels *K = r1c_kernels_by_name(ISA_NAMES[i]);
        if (!K) continue;
        for (int type = 0; type < 2; type++) {
            void (*f)(const void *, float *, int64_t) = type ? K->quant->dequant_q4_0 : K->quant->dequant_q8_0;
            if (!f) continue;
            deq++;
            const r1c_dtype t = type ? R1C_Q4_0 : R1C_Q8_0;
            enum { NB = 64 };
            uint8_t blocks[NB * 34];
            float a[NB * 32], b[NB * 32];
            for (int round = 0; round < 1100; round++) {
                for (size_t j = 0; j < sizeof blocks; j++) blocks[j] = (uint8_t)test_rand(&seed);
                r1c_dequantize_row(t, blocks, a, NB * 32);
                f(blocks, b, NB * 32);
                CHECK(memcmp(a, b, sizeof a) == 0, "%s dequant %s round %d differs from r1c_dequantize_row", ISA_NAMES[i],
                      r1c_dtype_name(t), round);
                if (memcmp(a, b, sizeof a)) break;
            }
        }
    }
    printf("quant dequantisers: %d table kernels compared bit for bit\n", deq);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines out before a sanitizer stops the program */
    /* 1 */
    test_layout();
    test_dequant_hand();
    /* 2 */
    test_q8_0_traced();
    test_q4_0_traced();
    test_q8_K_traced();
    test_q4_K_traced();
    test_q6_K_traced();
    test_exact_rows();
    test_invariants();
    test_zero_rows();
    test_roundtrip_rmse();
    /* 3 */
    test_activations();
    /* 4 */
    test_dot_reference();
    test_dot_canonical();
    /* 5 */
    test_kernel_tables(0);
    test_act_tables();
    test_packed();
    test_matvec_t();
    /* 6 */
    test_ops();
    /* 5, rows at odd addresses: last, since a kernel that reads block fields through misaligned
     * struct pointers stops an UndefinedBehaviorSanitizer build here */
    test_kernel_tables(1);
    fflush(stdout);
    return test_summary("test_quant");
}
