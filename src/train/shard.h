/* shard.h — token shards on disk: the training data format, its writer and its checked reader.
 *
 * A DATASET is a directory:
 *     dataset.json           the manifest (below)
 *     shard-00000.tok ...    token shards, documents never split across two shards
 *
 * A SHARD FILE (version 1; every integer little-endian):
 *
 *   offset  size  field
 *        0     8  magic "R1CTOK\0\0"
 *        8     4  version (1)
 *       12     4  token width in bytes: 2 (uint16, when vocab_size <= 65536) or 4 (uint32)
 *       16     4  vocab_size: every token id is < vocab_size
 *       20     4  reserved, 0
 *       24     8  n_docs  (>= 1)
 *       32     8  n_tokens
 *       40     8  checksum: FNV-1a 64 over every byte after the header (tokens, then index)
 *       48    16  reserved, 0
 *       64        tokens: n_tokens ids of `width` bytes
 *        ...      index: n_docs + 1 uint64 token offsets; document i is tokens
 *                 [index[i], index[i+1]); index[0] = 0, strictly increasing (no empty
 *                 document), index[n_docs] = n_tokens
 *
 * The file size is exactly 64 + n_tokens * width + (n_docs + 1) * 8; anything else is refused.
 * Keeping the index inside the shard means one file to copy, checksum and mmap.
 *
 * Each document is BOS + tokenize(text) + EOS (BOS / EOS left out when the tokenizer has none);
 * the text is encoded with special-token parsing on, so "<think>" in the text is one token.
 *
 * THE MANIFEST dataset.json:
 *     {"format": "r1c-dataset", "version": 1, "name": "arith", "vocab_size": 512,
 *      "bos_id": 0, "eos_id": 1, "token_width": 2, "documents": 1000, "tokens": 123456,
 *      "shards": [{"file": "shard-00000.tok", "documents": 1000, "tokens": 123456}]}
 * bos_id / eos_id are -1 when the tokenizer has none. The reader checks every shard against
 * its manifest entry (documents, tokens, vocab_size). */
#ifndef R1C_TRAIN_SHARD_H
#define R1C_TRAIN_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "r1c.h"

#define R1C_SHARD_MAGIC "R1CTOK\0\0"
#define R1C_SHARD_VERSION 1
#define R1C_SHARD_HEADER_SIZE 64

/* FNV-1a 64-bit, continued from h (start with R1C_FNV1A_INIT). */
#define R1C_FNV1A_INIT 0xcbf29ce484222325ULL
uint64_t r1c_fnv1a64(uint64_t h, const void *data, size_t n);

/* A parsed, fully checked shard: views into the caller's bytes (nothing is copied). */
typedef struct r1c_shard_view {
    int width;              /* 2 or 4 */
    uint32_t vocab_size;
    uint64_t n_docs, n_tokens;
    const uint8_t *tokens;  /* n_tokens * width bytes, little-endian */
    const uint8_t *index;   /* (n_docs + 1) little-endian uint64 */
} r1c_shard_view;

/* Checks everything (size, magic, version, width, checksum, index, token ids < vocab_size)
 * and fills *out. Errors (R1C_ERR_FORMAT) name `name` and what is wrong. */
r1c_status r1c_shard_parse(const uint8_t *data, size_t size, const char *name, r1c_shard_view *out);

/* Token i / document boundary i of a checked shard. */
static inline uint32_t r1c_shard_token(const r1c_shard_view *s, uint64_t i) {
    const uint8_t *p = s->tokens + i * (uint64_t)s->width;
    return s->width == 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8
                         : (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t r1c_shard_doc_start(const r1c_shard_view *s, uint64_t i) {
    const uint8_t *p = s->index + i * 8;
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

/* ------------------------------------------------------------ writing a dataset */

typedef struct r1c_dataset_writer r1c_dataset_writer;

typedef struct r1c_dataset_stats {
    uint64_t documents, tokens, shards;
} r1c_dataset_stats;

/* Creates dir (its parent must exist) and writes shards of about shard_tokens tokens each
 * (a shard is closed before the document that would overflow it; a longer document gets a
 * shard of its own). bos / eos: -1 for none. */
r1c_status r1c_dataset_writer_new(const char *dir, const char *name, uint32_t vocab_size, int32_t bos,
                                  int32_t eos, uint64_t shard_tokens, r1c_dataset_writer **out);
/* One document, exactly these ids (the caller adds BOS / EOS); empty documents are skipped. */
r1c_status r1c_dataset_writer_add_ids(r1c_dataset_writer *w, const int32_t *ids, size_t n);
/* One document: BOS + tokenize(text) + EOS. */
r1c_status r1c_dataset_writer_add_text(r1c_dataset_writer *w, const r1c_tokenizer *tok, const char *text,
                                       size_t len);
/* Flushes the last shard and writes dataset.json. */
r1c_status r1c_dataset_writer_finish(r1c_dataset_writer *w, r1c_dataset_stats *stats);
void r1c_dataset_writer_free(r1c_dataset_writer *w);

/* ------------------------------------------------------------ reading a dataset */

typedef struct r1c_dataset r1c_dataset;

/* Reads dataset.json and every shard (mapped read-only), checking each completely. */
r1c_status r1c_dataset_open(const char *dir, r1c_dataset **out);
void r1c_dataset_close(r1c_dataset *d);

const char *r1c_dataset_name(const r1c_dataset *d);
uint32_t r1c_dataset_vocab(const r1c_dataset *d);
int32_t r1c_dataset_bos(const r1c_dataset *d);
int32_t r1c_dataset_eos(const r1c_dataset *d);
uint64_t r1c_dataset_n_docs(const r1c_dataset *d);
uint64_t r1c_dataset_n_tokens(const r1c_dataset *d);
int r1c_dataset_n_shards(const r1c_dataset *d);
/* Document i (0 .. n_docs-1 over all shards in order): its length, and tokens into dst. */
uint64_t r1c_dataset_doc_len(const r1c_dataset *d, uint64_t i);
/* Copies n tokens of document i starting at token off (off + n <= doc_len). */
void r1c_dataset_doc_read(const r1c_dataset *d, uint64_t i, uint64_t off, uint64_t n, int32_t *dst);

#endif
