/* cmd_tokenizer.c — r1c tokenizer train: a byte-level BPE tokenizer from text files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/bpe_train.h"

static const char USAGE[] =
    "usage: r1c tokenizer train --vocab-size N --out DIR [--min-frequency 2] [--jsonl FIELD] FILE...\n"
    "\n"
    "Trains a byte-level BPE tokenizer (DeepSeek-R1's format: 256 byte tokens, the merges, then R1's\n"
    "special tokens and <think> </think> <answer> </answer>) and writes DIR/tokenizer.json and\n"
    "DIR/tokenizer_config.json with R1's chat template.\n"
    "\n"
    "  --vocab-size N       the whole vocabulary, added tokens included (at least 265)\n"
    "  --out DIR            where to write (created if missing; its parent must exist)\n"
    "  --min-frequency K    stop merging when the most frequent pair occurs fewer than K times (2)\n"
    "  --jsonl FIELD        the FILEs are JSON Lines; each line's string member FIELD is one text\n"
    "                       (default: each FILE is one plain UTF-8 text)\n";

static int train(int argc, char **argv) {
    const char *C = "tokenizer train", *out = NULL, *field = NULL;
    long vocab = -1, min_freq = 2;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    int n_files = 0;
    if (!files) return cli_fail(C, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            free(files);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            files[n_files++] = argv[i];
            continue;
        }
        if (!(v = cli_value(C, argc, argv, &i, "--vocab-size --out --min-frequency --jsonl")) ||
            (!strcmp(a, "--vocab-size") && !cli_int(C, a, v, 256 + R1C_BPE_N_ADDED, 1 << 24, &vocab)) ||
            (!strcmp(a, "--min-frequency") && !cli_int(C, a, v, 1, 1L << 30, &min_freq))) {
            free(files);
            return 2;
        }
        if (!strcmp(a, "--out")) out = v;
        if (!strcmp(a, "--jsonl")) field = v;
    }
    if (vocab < 0 || !out || !n_files) {
        cli_fail(C, "%s", vocab < 0 ? "--vocab-size N is required" : !out ? "--out DIR is required" : "no input FILE");
        fputs(USAGE, stderr);
        free(files);
        return 2;
    }
    double t0 = cli_now();
    r1c_bpe_trainer *tr = NULL;
    r1c_bpe_train_params p = {.vocab_size = (int)vocab, .min_frequency = (int)min_freq};
    r1c_status st = r1c_bpe_trainer_new(&tr);
    for (int i = 0; i < n_files && st == R1C_OK; i++) st = r1c_bpe_trainer_add_file(tr, files[i], field);
    if (st == R1C_OK) st = r1c_bpe_trainer_train(tr, &p);
    if (st == R1C_OK) st = r1c_bpe_trainer_save(tr, out);
    int rc = 0;
    if (st != R1C_OK) {
        rc = cli_fail(C, "%s", r1c_last_error());
    } else {
        r1c_bpe_train_stats s;
        r1c_bpe_trainer_stats(tr, &s);
        printf("trained on %llu texts (%llu bytes, %llu pieces, %llu distinct): %d merges learned, vocabulary %d "
               "(256 bytes + %d merged + %d added%s) in %.2f s; wrote %s/tokenizer.json and tokenizer_config.json\n",
               (unsigned long long)s.texts, (unsigned long long)s.bytes, (unsigned long long)s.pieces,
               (unsigned long long)s.words, s.merges, s.vocab_size, s.vocab_size - 256 - R1C_BPE_N_ADDED,
               R1C_BPE_N_ADDED, s.vocab_size < vocab ? "; fewer than asked: no pair left that is frequent enough" : "",
               cli_now() - t0, out);
    }
    r1c_bpe_trainer_free(tr);
    free(files);
    return rc;
}

int cmd_tokenizer(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return train(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(USAGE, stdout);
        return 0;
    }
    cli_fail("tokenizer", "%s", argc < 2 ? "which tokenizer command? (train)" : "unknown tokenizer command (train)");
    fputs(USAGE, stderr);
    return 2;
}
