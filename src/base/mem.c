/* mem.c — see mem.h. */
#include "mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"

void *r1c_alloc(size_t n) {
    void *p = NULL;
    if (n == 0) n = R1C_ALIGN;
    /* round up so that vector loops may read a whole last vector */
    size_t rounded = (n + R1C_ALIGN - 1) / R1C_ALIGN * R1C_ALIGN;
    if (rounded < n || posix_memalign(&p, R1C_ALIGN, rounded) != 0) {
        r1c_error(R1C_ERR_NOMEM, "out of memory allocating %zu bytes", n);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

void r1c_free(void *p) { free(p); }

void *r1c_big_alloc(size_t n) {
    if (n == 0) n = 1;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        r1c_error(R1C_ERR_NOMEM, "out of memory mapping %zu bytes", n);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE); /* a hint: fewer TLB misses when streaming weights */
#endif
    return p;
}

void r1c_big_free(void *p, size_t n) {
    if (p) munmap(p, n ? n : 1);
}
