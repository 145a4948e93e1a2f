/* loader.h — training batches from token datasets (shard.h): packing, shuffling, curriculum,
 * a background prefetch thread, and exact resume.
 *
 *     r1c_curriculum cur;
 *     r1c_curriculum_parse(cJSON_GetObjectItem(train, "stages"), cJSON_GetObjectItem(train, "datasets"),
 *                          "data", &cur);
 *     r1c_loader_params p = {.batch = 8, .seq_len = 256, .seed = 1, .curriculum = &cur};
 *     r1c_loader *L;
 *     r1c_loader_open(&p, have_ckpt ? &saved_state : NULL, &L);
 *     const r1c_batch *b;
 *     while (r1c_loader_next(L, &b) == R1C_OK && !b->end) {
 *         train_step(b->inputs, b->targets);           // B x T each
 *         if (want_ckpt) r1c_loader_get_state(L, &saved_state);   // then save it with the weights
 *     }
 *     r1c_loader_close(L);
 *     r1c_curriculum_free(&cur);
 *
 * PACKING. Each dataset is one endless token stream: its documents (BOS text EOS) back to back,
 * in an order shuffled per epoch, epoch after epoch. A batch row takes the next T+1 tokens of
 * its dataset's stream: inputs are the first T, targets the last T (shifted by one). Rows are
 * disjoint pieces of the stream (no token is shared between two rows), so a document may begin
 * in one row and continue in the next row taken from that dataset, and when the epoch's token
 * count is a multiple of T+1, one epoch's rows hold every token of the dataset exactly once.
 * An epoch boundary may fall inside a row (the row continues with the next epoch's order).
 *
 * SHUFFLING. The document order of epoch e of dataset d is a Fisher-Yates permutation drawn from
 * a generator seeded by (seed, d, e) alone, so it can be rebuilt from the state on resume.
 *
 * CURRICULUM. Stages in order, each a mix {dataset: weight} and a step count. Batch number s
 * (counting from 0) belongs to the stage whose step range holds s. Within a stage each row picks
 * its dataset at random with probability weight / sum of weights, from one seeded generator
 * (xoshiro256**) that is part of the state. After the last stage r1c_loader_next returns batches
 * with end = 1. Without a curriculum (p.dataset_dir) there is one endless stage.
 *
 * RESUME. r1c_loader_state is plain fixed-width data (save it as bytes; it is
 * host-endian: little-endian on every machine r1c builds for). Opening with a saved state gives
 * exactly the batches that would have followed it.
 *
 * PREFETCH. A thread fills a ring of `prefetch` batches ahead of the trainer; batches are made
 * strictly in order by that one thread, so what comes out does not depend on timing. */
#ifndef R1C_TRAIN_LOADER_H
#define R1C_TRAIN_LOADER_H

#include <stdint.h>

#include "r1c.h"

struct cJSON;

#define R1C_LOADER_MAX_DATASETS 16
#define R1C_LOADER_MAX_STAGES 64

typedef struct r1c_stage {
    char *name;                               /* "stage N" unless given */
    uint64_t steps;                           /* batches in this stage */
    double weight[R1C_LOADER_MAX_DATASETS];   /* by curriculum dataset index; 0 = not in the mix */
} r1c_stage;

typedef struct r1c_curriculum {
    int n_datasets;
    char *names[R1C_LOADER_MAX_DATASETS];     /* dataset names, in order of first appearance */
    char *dirs[R1C_LOADER_MAX_DATASETS];      /* their directories */
    int n_stages;
    r1c_stage stages[R1C_LOADER_MAX_STAGES];
} r1c_curriculum;

/* Parses train.json's "stages" member:
 *     [{"name": "easy", "steps": 1000, "mix": {"arith": 0.7, "countdown": 0.3}}, ...]
 * Each name in a mix is a dataset; its directory is datasets[name] when the optional
 * `datasets` object ({"arith": "data/arith"}) has it, else the name itself; a relative
 * directory is taken relative to base_dir (NULL: the current directory). Errors name the field
 * ("stages[1].mix.arith: not a number"). Weights are >= 0 with a positive sum per stage. */
r1c_status r1c_curriculum_parse(const struct cJSON *stages, const struct cJSON *datasets, const char *base_dir,
                                r1c_curriculum *out);
void r1c_curriculum_free(r1c_curriculum *c);
/* Total steps of all stages. */
uint64_t r1c_curriculum_steps(const r1c_curriculum *c);

typedef struct r1c_loader_params {
    int batch;                         /* B rows */
    int seq_len;                       /* T: each row holds T+1 tokens */
    uint64_t seed;
    int prefetch;                      /* ring size; 0 means 4 */
    const r1c_curriculum *curriculum;  /* either this ... */
    const char *dataset_dir;           /* ... or one dataset, forever */
} r1c_loader_params;

typedef struct r1c_loader_cursor {
    uint64_t epoch; /* epochs finished */
    uint64_t doc;   /* position in this epoch's document order */
    uint64_t tok;   /* tokens of that document already taken */
} r1c_loader_cursor;

#define R1C_LOADER_STATE_VERSION 1
typedef struct r1c_loader_state {
    uint32_t version;   /* R1C_LOADER_STATE_VERSION */
    uint32_t n_datasets;
    uint64_t seed;
    uint64_t step;      /* batches handed out so far */
    uint64_t rng[4];    /* the row-mix generator */
    r1c_loader_cursor cur[R1C_LOADER_MAX_DATASETS];
} r1c_loader_state;

/* The state as JSON, for a checkpoint's trainer_state.json: every 64-bit value a string of 16
 * hex digits (JSON numbers are doubles and would lose bits):
 *     {"version": 1, "seed": "...", "step": "...", "rng": ["...", x4],
 *      "cursors": [{"epoch": "...", "doc": "...", "tok": "..."}, ...]}
 * to_json: NULL when out of memory. from_json: errors name the member ("loader_state.rng[2]"). */
struct cJSON *r1c_loader_state_to_json(const r1c_loader_state *st);
r1c_status r1c_loader_state_from_json(const struct cJSON *j, r1c_loader_state *st);

typedef struct r1c_batch {
    int end;                 /* 1: the curriculum is over; nothing else is set */
    int batch, seq_len;      /* B, T */
    uint64_t step;           /* this batch's number, from 0 */
    int stage;               /* its curriculum stage */
    const int32_t *tokens;   /* B x (T+1): the packed rows */
    const int32_t *inputs;   /* B x T: tokens[r][0..T-1] */
    const int32_t *targets;  /* B x T: tokens[r][1..T] */
    const uint8_t *source;   /* B: the dataset index each row came from */
} r1c_batch;

typedef struct r1c_loader r1c_loader;

/* Opens the datasets (checked completely: see r1c_dataset_open; all must share one vocab
 * size), and starts the prefetch thread. resume: a state from r1c_loader_get_state, or NULL. */
r1c_status r1c_loader_open(const r1c_loader_params *p, const r1c_loader_state *resume, r1c_loader **out);
/* The next batch; valid until the next call or close. */
r1c_status r1c_loader_next(r1c_loader *L, const r1c_batch **out);
/* The state after the last batch returned by next (before the first: the starting state). */
void r1c_loader_get_state(const r1c_loader *L, r1c_loader_state *st);
/* Stops the thread and frees everything. */
void r1c_loader_close(r1c_loader *L);

/* Dataset index i of the loader: its size (for progress and tests). */
uint64_t r1c_loader_dataset_tokens(const r1c_loader *L, int i);
uint32_t r1c_loader_vocab(const r1c_loader *L);

#endif
