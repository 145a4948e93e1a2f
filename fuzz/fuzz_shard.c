/* fuzz_shard.c — libFuzzer target for the token shard reader (src/train/shard.c), which the
 * training loader runs on files from disk: any bytes must be accepted or refused with a
 * message, never a crash or a bad read. Each input is parsed twice: as it is, and with its
 * checksum made right (else almost every mutation would stop at the checksum and the index and
 * token checks behind it would go unfuzzed). An accepted shard is walked completely and must
 * keep the promises r1c_shard_parse makes (index increasing, ending at n_tokens, ids < vocab). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "train/shard.h"

static void walk(const r1c_shard_view *v) {
    if (r1c_shard_doc_start(v, 0) != 0 || r1c_shard_doc_start(v, v->n_docs) != v->n_tokens) abort();
    for (uint64_t i = 0; i < v->n_docs; i++)
        if (r1c_shard_doc_start(v, i + 1) <= r1c_shard_doc_start(v, i)) abort();
    for (uint64_t i = 0; i < v->n_tokens; i++)
        if (r1c_shard_token(v, i) >= v->vocab_size) abort();
}

static void check(const uint8_t *data, size_t size) {
    r1c_shard_view v;
    r1c_status st = r1c_shard_parse(data, size, "fuzz.tok", &v);
    if (st == R1C_OK) walk(&v);
    else if (st != R1C_ERR_FORMAT || !r1c_last_error()[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    check(copy, size);
    if (size >= R1C_SHARD_HEADER_SIZE) {
        uint64_t h = r1c_fnv1a64(R1C_FNV1A_INIT, copy + R1C_SHARD_HEADER_SIZE, size - R1C_SHARD_HEADER_SIZE);
        for (int k = 0; k < 8; k++) copy[40 + k] = (uint8_t)(h >> 8 * k);
        check(copy, size);
    }
    free(copy);
    return 0;
}
