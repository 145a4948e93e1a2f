/* bpe_train.h — training a byte-level BPE tokenizer, written as a Hugging Face tokenizer.json
 * + tokenizer_config.json that r1c_tokenizer_load (and transformers) read unchanged.
 *
 *     r1c_bpe_trainer *tr;
 *     r1c_bpe_trainer_new(&tr);
 *     r1c_bpe_trainer_add_file(tr, "corpus.txt", NULL);        // or add_text, or JSONL
 *     r1c_bpe_train_params p = {.vocab_size = 4096, .min_frequency = 2};
 *     r1c_bpe_trainer_train(tr, &p);
 *     r1c_bpe_trainer_save(tr, "out_dir");
 *     r1c_bpe_trainer_free(tr);
 *
 * The format is DeepSeek-V3/R1's (and Qwen2's) byte-level BPE: no normalizer; pre-tokenizer
 * Split(Qwen2's regex: every digit its own piece) then ByteLevel; ids 0..255 are the 256 bytes
 * in byte order, then one id per merge result in training order, then R1's added tokens
 * (BOS, EOS, pad, <｜User｜>, <｜Assistant｜>, <think>, </think>, <answer>, </answer>).
 *
 * Training: texts are split by the regex, equal pieces ("words") counted, then the most
 * frequent adjacent pair of symbols is merged, again and again. Ties: of pairs with the same
 * count, the one with the smaller left id wins, then the smaller right id (ids are byte values
 * and merge order, so the rule depends on nothing but the input). Same input -> same files. */
#ifndef R1C_TRAIN_BPE_TRAIN_H
#define R1C_TRAIN_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "r1c.h"

typedef struct r1c_bpe_train_params {
    int vocab_size;    /* everything: 256 bytes + merges + R1C_BPE_N_ADDED added tokens */
    int min_frequency; /* stop when the best pair occurs fewer times (0 means the default, 2) */
} r1c_bpe_train_params;

/* The added tokens every trained tokenizer ends with. */
#define R1C_BPE_N_ADDED 9

typedef struct r1c_bpe_train_stats {
    uint64_t texts;  /* texts added */
    uint64_t bytes;  /* their bytes */
    uint64_t words;  /* distinct pre-tokenized pieces */
    uint64_t pieces; /* all pre-tokenized pieces */
    int merges;      /* merges learned */
    int vocab_size;  /* final size: smaller than asked when pairs ran out or got too rare */
} r1c_bpe_train_stats;

typedef struct r1c_bpe_trainer r1c_bpe_trainer;

r1c_status r1c_bpe_trainer_new(r1c_bpe_trainer **out);
void r1c_bpe_trainer_free(r1c_bpe_trainer *tr);

/* One text (UTF-8; anything else is an error naming `name` and the byte offset). */
r1c_status r1c_bpe_trainer_add_text(r1c_bpe_trainer *tr, const char *text, size_t len, const char *name);
/* A whole file as one text, or with jsonl_field a JSON Lines file: each non-blank line an
 * object whose string member jsonl_field is one text. */
r1c_status r1c_bpe_trainer_add_file(r1c_bpe_trainer *tr, const char *path, const char *jsonl_field);

/* Learns the merges from everything added so far. Once per trainer. */
r1c_status r1c_bpe_trainer_train(r1c_bpe_trainer *tr, const r1c_bpe_train_params *params);

/* Writes dir/tokenizer.json and dir/tokenizer_config.json (dir is created if missing; its
 * parent must exist). */
r1c_status r1c_bpe_trainer_save(const r1c_bpe_trainer *tr, const char *dir);

void r1c_bpe_trainer_stats(const r1c_bpe_trainer *tr, r1c_bpe_train_stats *out);

#endif
