/* gguf.h — llama.cpp's GGUF container (versions 2 and 3): read with full validation, and write.
 *
 * File layout (all numbers little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x  { string key, u32 value type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }
 *   zero padding to general.alignment (default 32), then the data section; tensor offsets are
 *   relative to its start and multiples of the alignment.
 * A string is a u64 byte count and that many bytes (no NUL); an array value is a u32 element
 * type, a u64 element count and the elements. Version 2 and 3 are laid out the same (3 only
 * added big-endian files, which are refused here); version 1 had 32-bit counts and is refused.
 *
 * What the reader checks (each failure is one line naming the file and the key or tensor):
 *   - magic, version 2 or 3;
 *   - n_kv and n_tensors against the bytes left in the file, before anything is allocated
 *     (a key-value pair takes at least 14 bytes, a tensor record at least 33);
 *   - every string and array length against the bytes left (uint64, overflow-checked);
 *     arrays of strings are scanned before their index is allocated;
 *   - keys: non-empty, at most 65535 bytes, no NUL byte, unique; value types 0..12;
 *     bools 0 or 1; arrays of arrays are REFUSED (llama.cpp refuses them as well);
 *   - general.alignment: type u32, a non-zero power of two;
 *   - tensors: names non-empty, at most 65536 bytes, no NUL byte, unique; n_dims 1..4;
 *     each ne below 2^63, and the product of the non-zero ne below 2^63 too; ne of 0 is
 *     ALLOWED (as llama.cpp does: the tensor is empty, takes no bytes and overlaps nothing,
 *     but its offset is still checked; its other dims still may not multiply past 2^63, so
 *     no partial product a consumer forms can overflow); the ggml type is one r1c runs (F32,
 *     F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K: others are R1C_ERR_UNSUPPORTED naming the type,
 *     numbers ggml never had R1C_ERR_FORMAT), ne[0] a multiple of its block size; nbytes
 *     below 2^64; offset a multiple of the alignment; offset + nbytes inside the data section
 *     (overflow-checked); no two tensors' bytes overlap.
 * Bytes after the last tensor are allowed, and so is a file that ends before its data section
 * when it needs no data (no tensors, or only empty ones). Offsets need not be in order nor
 * contiguous (llama.cpp's reader insists on both; its writer produces them). The reader never
 * writes to the file's bytes. */
#ifndef R1C_IO_GGUF_H
#define R1C_IO_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "../base/file.h"
#include "../tensor/dtype.h"
#include "r1c.h"

#define R1C_GGUF_DEFAULT_ALIGNMENT 32
#define R1C_GGUF_MAX_KEY 65535u        /* the spec's limit on key length */
#define R1C_GGUF_MAX_NAME 65536u       /* r1c's limit on tensor names (llama.cpp: < 64) */
#define R1C_GGUF_MAX_DIMS 4

typedef enum {
    R1C_GGUF_UINT8 = 0,
    R1C_GGUF_INT8,
    R1C_GGUF_UINT16,
    R1C_GGUF_INT16,
    R1C_GGUF_UINT32,
    R1C_GGUF_INT32,
    R1C_GGUF_FLOAT32,
    R1C_GGUF_BOOL,
    R1C_GGUF_STRING,
    R1C_GGUF_ARRAY,
    R1C_GGUF_UINT64,
    R1C_GGUF_INT64,
    R1C_GGUF_FLOAT64,
    R1C_GGUF_TYPE_COUNT
} r1c_gguf_type;

/* Points into the file; not NUL-terminated. */
typedef struct r1c_gguf_str {
    const char *p;
    uint64_t n;
} r1c_gguf_str;

typedef struct r1c_gguf_kv {
    r1c_gguf_str key;
    r1c_gguf_type type;
    union {
        uint64_t u;     /* UINT8, UINT16, UINT32, UINT64 */
        int64_t i;      /* INT8, INT16, INT32, INT64 */
        double f;       /* FLOAT32, FLOAT64 */
        int b;          /* BOOL: 0 or 1 */
        r1c_gguf_str s; /* STRING */
    } v;
    /* type == R1C_GGUF_ARRAY: */
    r1c_gguf_type arr_type; /* never ARRAY */
    uint64_t arr_n;
    const uint8_t *arr;     /* numbers / bools: the raw little-endian elements in the file */
    r1c_gguf_str *arr_str;  /* strings: arr_n entries (allocated; NULL when arr_n is 0) */
} r1c_gguf_kv;

typedef struct r1c_gguf_tensor {
    r1c_gguf_str name;
    int n_dims;
    uint64_t ne[4];     /* ne[0] = innermost (ggml order); unused dims are 1 */
    uint32_t ggml_type; /* as in the file */
    r1c_dtype dtype;    /* F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K */
    uint64_t offset;    /* in the data section */
    uint64_t nbytes;
    const uint8_t *data; /* points into the loaded file */
} r1c_gguf_tensor;

typedef struct r1c_gguf {
    char *path;
    r1c_blob blob; /* what r1c_gguf_open loaded (empty after r1c_gguf_parse) */
    uint32_t version;
    uint64_t alignment;  /* general.alignment or 32 */
    uint64_t data_start; /* file offset of the data section */
    r1c_gguf_kv *kv;
    uint64_t n_kv;
    r1c_gguf_tensor *tensors;
    uint64_t n_tensors;
    /* name indexes, open addressing: slot holds index + 1, 0 = empty */
    uint64_t *kv_slots, *tensor_slots;
    uint64_t n_kv_slots, n_tensor_slots; /* powers of two */
} r1c_gguf;

/* Parses a whole file image in memory. buf stays owned by the caller and must outlive *out
 * (strings, arrays and tensor data point into it); path only names the file in messages.
 * On failure *out is left empty (r1c_gguf_close on it is harmless). */
r1c_status r1c_gguf_parse(const char *path, const uint8_t *buf, size_t len, r1c_gguf *out);
/* Checks the header against the file first (reading only the header), then loads the file
 * (use_mmap 0: into memory with the data section 64-byte aligned; 1: mapped) and parses it. */
r1c_status r1c_gguf_open(const char *path, int use_mmap, r1c_gguf *out);
void r1c_gguf_close(r1c_gguf *g);

/* NULL if absent. */
const r1c_gguf_kv *r1c_gguf_find(const r1c_gguf *g, const char *key);
const r1c_gguf_tensor *r1c_gguf_find_tensor(const r1c_gguf *g, const char *name);

/* "u32", "string", "array", ... ("?" if out of range). */
const char *r1c_gguf_type_name(r1c_gguf_type t);
/* ggml's name of a tensor type number ("Q5_K"), or NULL if ggml has none. */
const char *r1c_gguf_ggml_type_name(uint32_t ggml_type);
/* The ggml type number of a dtype r1c writes to GGUF; -1 for others. */
int r1c_gguf_ggml_type_of(r1c_dtype dtype);

/* Typed getters: R1C_OK; R1C_ERR_MISSING if the key is absent (the message names it);
 * R1C_ERR_FORMAT if its type does not fit (the message names the key and both types).
 * Integer getters take any integer type whose value fits; get_f32 takes f32 or f64. */
r1c_status r1c_gguf_get_u32(const r1c_gguf *g, const char *key, uint32_t *out);
r1c_status r1c_gguf_get_i64(const r1c_gguf *g, const char *key, int64_t *out);
r1c_status r1c_gguf_get_f32(const r1c_gguf *g, const char *key, float *out);
r1c_status r1c_gguf_get_bool(const r1c_gguf *g, const char *key, int *out);
r1c_status r1c_gguf_get_str(const r1c_gguf *g, const char *key, r1c_gguf_str *out);

/* ---- writing ----
 * Add metadata and tensors, then finish: header (version 3), key-value pairs in the order
 * added, tensor records, zero padding to general.alignment (default 32; set it with
 * r1c_gguf_add_u32), then each tensor's data padded to the alignment. Metadata is copied at
 * once; tensor data is referenced and must stay valid until r1c_gguf_writer_finish. Keys and
 * tensor names are checked as the reader checks them (duplicates are refused). */
typedef struct r1c_gguf_writer r1c_gguf_writer;

r1c_status r1c_gguf_writer_new(const char *path, r1c_gguf_writer **out);
r1c_status r1c_gguf_add_u32(r1c_gguf_writer *w, const char *key, uint32_t v);
r1c_status r1c_gguf_add_i32(r1c_gguf_writer *w, const char *key, int32_t v);
r1c_status r1c_gguf_add_u64(r1c_gguf_writer *w, const char *key, uint64_t v);
r1c_status r1c_gguf_add_f32(r1c_gguf_writer *w, const char *key, float v);
r1c_status r1c_gguf_add_bool(r1c_gguf_writer *w, const char *key, int v);
r1c_status r1c_gguf_add_str(r1c_gguf_writer *w, const char *key, const char *v);
/* Any scalar type (numbers, bool): value holds the element as in an array of that type. */
r1c_status r1c_gguf_add_scalar(r1c_gguf_writer *w, const char *key, r1c_gguf_type type,
                               const void *value);
/* lens may be NULL (strlen of each); a string may hold any bytes when lens is given. */
r1c_status r1c_gguf_add_arr_str(r1c_gguf_writer *w, const char *key, const char *const *strs,
                                const uint64_t *lens, uint64_t n);
/* Numbers or bools: n host-order elements of elem_type (bools one byte each, 0 or 1). */
r1c_status r1c_gguf_add_arr(r1c_gguf_writer *w, const char *key, r1c_gguf_type elem_type,
                            const void *elems, uint64_t n);
/* ne in ggml order (ne[0] innermost); nbytes from r1c_dtype_row_bytes. data may be NULL only
 * for an empty tensor. */
r1c_status r1c_gguf_add_tensor(r1c_gguf_writer *w, const char *name, r1c_dtype dtype,
                               int n_dims, const uint64_t *ne, const void *data);
r1c_status r1c_gguf_writer_finish(r1c_gguf_writer *w);
void r1c_gguf_writer_free(r1c_gguf_writer *w);

/* Streaming, for files larger than memory: add every tensor with r1c_gguf_add_tensor_info (shape
 * and type, no data), then r1c_gguf_writer_begin writes the header (metadata and tensor records,
 * offsets known from the sizes), r1c_gguf_writer_write appends data bytes — each tensor's
 * nbytes, in the order added, in any number of calls; alignment padding goes in between by
 * itself — and r1c_gguf_writer_end checks that every byte came and closes the file. A writer
 * freed between begin and end removes its unfinished file. Do not mix with add_tensor/finish. */
r1c_status r1c_gguf_add_tensor_info(r1c_gguf_writer *w, const char *name, r1c_dtype dtype,
                                    int n_dims, const uint64_t *ne);
/* nbytes of tensor i as added (0 if out of range). */
uint64_t r1c_gguf_writer_tensor_bytes(const r1c_gguf_writer *w, uint64_t i);
r1c_status r1c_gguf_writer_begin(r1c_gguf_writer *w);
r1c_status r1c_gguf_writer_write(r1c_gguf_writer *w, const void *data, size_t n);
r1c_status r1c_gguf_writer_end(r1c_gguf_writer *w);

#endif
