/* file.h — whole files in memory: read into anonymous memory (default) or mapped. */
#ifndef R1C_BASE_FILE_H
#define R1C_BASE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "r1c.h"

typedef struct r1c_blob {
    uint8_t *data;   /* file byte 0 */
    size_t size;     /* file size */
    void *region;    /* what to unmap */
    size_t region_size;
    int mapped;      /* 1: data is a read-only file mapping */
} r1c_blob;

/* Loads path. With use_mmap = 0 the bytes are read into a fresh anonymous region (huge pages
 * where allowed), placed so that file offset `align_at` lands on a 64-byte boundary; with
 * use_mmap = 1 the file is mapped read-only (align_at ignored). */
r1c_status r1c_blob_load(const char *path, int use_mmap, size_t align_at, r1c_blob *out);
void r1c_blob_free(r1c_blob *b);

/* Reads up to max bytes of a small file (config, JSON) into a NUL-terminated heap buffer. */
r1c_status r1c_read_small_file(const char *path, size_t max, char **out, size_t *len);

/* Reads exactly n bytes at offset off. */
r1c_status r1c_pread_exact(int fd, void *buf, size_t n, uint64_t off, const char *path);

int r1c_file_exists(const char *path);
/* dir + "/" + name into a new heap string (free with free()). */
char *r1c_path_join(const char *dir, const char *name);

#endif
