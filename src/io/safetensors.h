/* safetensors.h — the Hugging Face safetensors format: read (single file or sharded through
 * model.safetensors.index.json) with full validation, and write.
 *
 * File layout: u64 little-endian N, N bytes of JSON header
 *   {"NAME": {"dtype": "BF16", "shape": [..], "data_offsets": [BEGIN, END]}, ...,
 *    "__metadata__": {"k": "v"}}
 * then the data area; offsets are relative to its start. */
#ifndef R1C_IO_SAFETENSORS_H
#define R1C_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/file.h"
#include "../tensor/tensor.h"
#include "r1c.h"

#define R1C_ST_MAX_HEADER (100u << 20) /* as the reference implementation: 100 MB */

typedef struct r1c_st_entry {
    char *name;
    r1c_dtype dtype;
    int n_dims;
    int64_t shape[R1C_MAX_DIMS];
    uint64_t begin, end; /* in the data area */
} r1c_st_entry;

typedef struct r1c_st_header {
    r1c_st_entry *entries;
    int n;
    uint64_t data_start; /* 8 + N */
    uint64_t data_size;  /* file size - data_start */
} r1c_st_header;

/* Validates a header. `head` holds at least the first min(file_size, 8 + N) bytes of the
 * file (the fuzzer passes a whole file); `path` only names the file in messages. */
r1c_status r1c_st_parse(const char *path, const uint8_t *head, size_t head_len,
                        uint64_t file_size, r1c_st_header *out);
void r1c_st_header_free(r1c_st_header *h);

/* A checkpoint: one file or several shards, loaded into memory (read or mapped). */
typedef struct r1c_st_file {
    char *path;
    r1c_blob blob;
    r1c_st_header hdr;
} r1c_st_file;

typedef struct r1c_st_set {
    r1c_st_file *files;
    int n_files;
    /* name -> (file, entry), open addressing */
    int32_t *slot_file, *slot_entry;
    uint32_t n_slots;
    uint64_t total_bytes;
} r1c_st_set;

/* Opens DIR/model.safetensors.index.json (sharded) or else DIR/model.safetensors. */
r1c_status r1c_st_open_dir(const char *dir, int use_mmap, r1c_st_set *out);
/* Opens one file (path) as a set of one. */
r1c_status r1c_st_open_file(const char *path, int use_mmap, r1c_st_set *out);
void r1c_st_close(r1c_st_set *s);

/* Looks a tensor up by name; fills a view (data points into the loaded file). Returns 0 if
 * absent. *file receives the path of the file holding it. */
int r1c_st_find(const r1c_st_set *s, const char *name, r1c_tensor *view, const char **file);

/* ---- writing ---- */
typedef struct r1c_st_wtensor {
    const char *name;
    r1c_dtype dtype;
    int n_dims;
    int64_t shape[R1C_MAX_DIMS];
    const void *data; /* bytes as stored, or NULL to use fill */
    /* fill(user, index, byte offset in the tensor, dst, bytes): produces data in chunks */
    void (*fill)(void *user, int index, uint64_t off, void *dst, size_t n);
    void *user;
} r1c_st_wtensor;

/* Writes tensors in the given order; metadata: NULL or a flat list of key, value strings
 * ending with NULL. The header is padded with spaces to a multiple of 8 bytes. */
r1c_status r1c_st_write(const char *path, const r1c_st_wtensor *t, int n, const char *const *metadata);

#endif
