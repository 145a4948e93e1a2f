/* mem.h — aligned allocations: small ones from the heap, large ones as anonymous mappings
 * (huge pages where the kernel allows, pages touched only when used). */
#ifndef R1C_BASE_MEM_H
#define R1C_BASE_MEM_H

#include <stddef.h>

#define R1C_ALIGN 64

/* Zeroed, 64-byte aligned; NULL on failure (with r1c_error set). Free with r1c_free. */
void *r1c_alloc(size_t n);
void r1c_free(void *p);

/* Large region: page aligned, zero pages until written, MADV_HUGEPAGE requested.
 * Free with r1c_big_free(p, n). */
void *r1c_big_alloc(size_t n);
void r1c_big_free(void *p, size_t n);

#endif
