/* test_util.h — a minimal test harness: CHECK records a failure and goes on; main returns
 * test_summary(), non-zero if anything failed. Header-only, one per test program. */
#ifndef R1C_TEST_UTIL_H
#define R1C_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int g_checks, g_failures;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        g_checks++;                                                               \
        if (!(cond)) {                                                            \
            g_failures++;                                                         \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

/* message contains every given substring */
static inline int contains(const char *msg, const char *sub) { return msg && strstr(msg, sub) != NULL; }

static inline int test_summary(const char *name) {
    fprintf(stderr, "%s: %d checks, %d failures\n", name, g_checks, g_failures);
    return g_failures ? 1 : 0;
}

/* A scratch directory for this test (R1C_TMP from CTest, else /tmp), created if needed. */
static inline const char *test_tmpdir(const char *name) {
    static char path[1024];
    const char *base = getenv("R1C_TMP");
    if (!base) base = "/tmp";
    mkdir(base, 0755);
    snprintf(path, sizeof path, "%s/%s", base, name);
    mkdir(path, 0755);
    return path;
}

/* malloc that ends the test program when memory runs out (tests may exit; the library not) */
static inline void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Whole file into malloc'd memory; NULL if unreadable. */
static inline void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)(n > 0 ? n : 0) + 1); /* NUL-terminated: text files can be used as strings */
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    if (p) p[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}

static inline int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = len == 0 || fwrite(data, 1, len, f) == len; /* (fwrite may not take NULL) */
    return (fclose(f) == 0) && ok;
}

/* xorshift for test data */
static inline uint64_t test_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static inline float test_randf(uint64_t *s) { /* uniform [-1, 1) */
    return (float)((double)(test_rand(s) >> 11) * 0x1.0p-52 - 1.0);
}

#endif
