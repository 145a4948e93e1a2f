/* rng.h — the two small generators r1c uses wherever it needs reproducible randomness
 * (sampling, synthetic data, data shuffles, initialisation): splitmix64 to expand a seed and
 * xoshiro256** for streams (Blackman and Vigna's public-domain definitions). */
#ifndef R1C_BASE_RNG_H
#define R1C_BASE_RNG_H

#include <stdint.h>

/* the next value of the splitmix64 sequence at *x (which advances) */
static inline uint64_t r1c_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t r1c_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**: the next output of state s (which advances) */
static inline uint64_t r1c_xoshiro(uint64_t s[4]) {
    const uint64_t r = r1c_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = r1c_rotl64(s[3], 45);
    return r;
}

/* a xoshiro state from one 64-bit seed (four splitmix64 outputs) */
static inline void r1c_xoshiro_seed(uint64_t s[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) s[i] = r1c_splitmix64(&seed);
}

/* uniform in [0, 1) with 53 random bits */
static inline double r1c_xoshiro_unit(uint64_t s[4]) { return (double)(r1c_xoshiro(s) >> 11) * 0x1.0p-53; }

#endif
