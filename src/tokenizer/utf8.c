/* utf8.c — see utf8.h. Well-formed sequences per Unicode Table 3-7. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* Expected length of a sequence led by b (0: not a lead byte) and the range of its 2nd byte. */
static int lead(unsigned char b, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80, *hi = 0xbf;
    if (b < 0x80) return 1;
    if (b >= 0xc2 && b <= 0xdf) return 2;
    if (b == 0xe0) { *lo = 0xa0; return 3; }
    if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) return 3;
    if (b == 0xed) { *hi = 0x9f; return 3; }
    if (b == 0xf0) { *lo = 0x90; return 4; }
    if (b >= 0xf1 && b <= 0xf3) return 4;
    if (b == 0xf4) { *hi = 0x8f; return 4; }
    return 0;
}

/* How many bytes at s are a valid prefix of one character (up to its full length); *full is
 * the character's length (0 for an invalid lead). */
static size_t valid_prefix(const unsigned char *s, size_t n, int *full) {
    unsigned char lo, hi;
    *full = lead(s[0], &lo, &hi);
    if (*full == 0) return 0;
    size_t k = 1;
    while (k < (size_t)*full && k < n) {
        unsigned char c = s[k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xbf)) break;
        k++;
    }
    return k;
}

int r1c_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    if (n == 0) return -1;
    const unsigned char *u = (const unsigned char *)s;
    int full;
    size_t k = valid_prefix(u, n, &full);
    if (full == 0 || k < (size_t)full) return -1;
    switch (full) {
    case 1: *cp = u[0]; break;
    case 2: *cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f); break;
    case 3: *cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f); break;
    default: *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 | (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
    }
    return full;
}

size_t r1c_utf8_check(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { /* ASCII runs: the common case */
            i++;
            continue;
        }
        int full;
        size_t k = valid_prefix(u + i, n - i, &full);
        if (full == 0 || k < (size_t)full) return i;
        i += k;
    }
    return n;
}

char *r1c_utf8_lossy(const char *s, size_t n, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    char *o = malloc(3 * n + 1);
    if (!o) return NULL;
    size_t w = 0, i = 0;
    while (i < n) {
        int full;
        size_t k = valid_prefix(u + i, n - i, &full);
        if (full > 0 && k == (size_t)full) {
            memcpy(o + w, u + i, k);
            w += k, i += k;
        } else { /* a maximal subpart (at least one byte) becomes one U+FFFD */
            memcpy(o + w, "\xef\xbf\xbd", 3);
            w += 3, i += k ? k : 1;
        }
    }
    o[w] = 0;
    *out_len = w;
    return o;
}

size_t r1c_utf8_incomplete_tail(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = u[n - back];
        if (c >= 0x80 && c <= 0xbf) continue; /* a continuation byte: look further back */
        int full;
        size_t k = valid_prefix(u + n - back, back, &full);
        return (full > (int)back && k == back) ? back : 0;
    }
    return 0;
}
