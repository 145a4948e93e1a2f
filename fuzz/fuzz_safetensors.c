/* fuzz_safetensors.c — libFuzzer target for the safetensors header parser.
 *
 * The input is a whole file: r1c_st_parse sees all of it as both the head and the file, as it
 * would after reading a small file in full. Beyond "no crash", an accepted header must keep
 * its promises, so they are checked here: every tensor's bytes lie inside the input (read
 * them all, so ASan sees any lie), sizes agree with dtype x shape, and ranges do not overlap.
 * A rejection must leave a message. Any broken promise aborts, which libFuzzer reports. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "r1c.h"

static volatile uint8_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    r1c_st_header h;
    r1c_status st = r1c_st_parse("fuzz.safetensors", data, size, size, &h);
    if (st != R1C_OK) {
        if (!r1c_last_error()[0] || h.entries || h.n) abort();
        return 0;
    }
    if (h.data_start < 8 || h.data_start > size || h.data_start + h.data_size != size) abort();
    uint8_t acc = 0;
    for (int i = 0; i < h.n; i++) {
        const r1c_st_entry *e = &h.entries[i];
        if (!e->name || e->begin > e->end || e->end > h.data_size) abort();
        if (e->n_dims < 0 || e->n_dims > R1C_MAX_DIMS) abort();
        uint64_t numel = 1;
        for (int d = 0; d < e->n_dims; d++) {
            if (e->shape[d] < 0) abort();
            numel *= (uint64_t)e->shape[d]; /* cannot wrap: the parser checked the product */
        }
        if (numel * (uint64_t)r1c_dtype_size(e->dtype) != e->end - e->begin) abort();
        for (uint64_t b = e->begin; b < e->end; b++) acc ^= data[h.data_start + b];
        for (int j = 0; j < i; j++) {
            const r1c_st_entry *o = &h.entries[j];
            if (strcmp(o->name, e->name) == 0) abort();
            if (e->begin < e->end && o->begin < o->end && e->begin < o->end && o->begin < e->end)
                abort();
        }
    }
    g_sink = acc;
    r1c_st_header_free(&h);
    return 0;
}
