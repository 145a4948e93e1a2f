/* cmd_train.c — `r1c train --config train.json [--resume]`: pretraining (or continued training)
 * of a dense model on JSON Lines texts, with AdamW, warmup + cosine learning rate, gradient
 * accumulation, a progress line, a CSV log, a loss plot (SVG) and checkpoints that `r1c run`
 * loads. --resume continues from the output directory's last checkpoint exactly: the same
 * weights, optimiser moments, step and data position give the same bits as an uninterrupted run.
 *
 * train.json:
 *   {"model": {config.json fields: model_type llama|qwen2, hidden_size, ...; vocab_size defaults
 *              to the tokenizer's},
 *    "init_from": DIR (optional: start from a checkpoint's weights instead of random ones),
 *    "tokenizer": DIR, the training data as one of
 *      "data": [FILE.jsonl, ...] ("field": "text"; tokenized at start, shuffled per epoch; with
 *        "prompt_field": "prompt" each line is a prompt, context only, and the completion in
 *        "field" that the loss is taken on),
 *      "dataset": DIR (token shards from `r1c data shard`, streamed with prefetch), or
 *      "stages": [{"name", "steps", "mix": {NAME: weight}}], "datasets": {NAME: DIR} (a
 *        curriculum over shard datasets; stage steps are optimiser steps; "steps" defaults to
 *        their sum),
 *    "eval_data": [FILE.jsonl, ...],
 *    "batch_size": 8, "seq_len": 128, "grad_accum": 1, "steps": 1000,
 *    "lr": 3e-3, "min_lr": 3e-4, "warmup": 50, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
 *    "weight_decay": 0.1, "clip": 1.0, "seed": 1, "threads": 0,
 *    "out": DIR, "log_every": 10, "eval_every": 100, "eval_batches": 4, "save_every": 0,
 *    "peak_gflops": 428, "moe_bias_speed": 0.001, "moe_seq_aux": 0, "document_mask": true, "compute": "f32"}
 * compute "bf16": the GEMMs round their operands to bf16 and sum in f32 (AVX-512 BF16 where the
 * CPU has it); weights, gradients and optimiser state stay f32.
 * document_mask: rows pack several documents (each BOS ... EOS); with it, a token attends only to
 * its own document and RoPE positions restart at each BOS, as when the document runs alone.
 * MoE models (model_type deepseek_v3 / deepseek_v2) balance their experts without an auxiliary
 * loss (each step the routing bias of under-loaded experts rises by moe_bias_speed, of
 * over-loaded ones falls) and log each step's tokens per expert to expert_load.csv; moe_seq_aux > 0
 * adds V3's sequence-wise balance loss with that weight (V3 used 1e-4). 
 * Paths are relative to the config file's directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "io/hf_config.h"
#include "io/json.h"
#include "train/trainer.h"
#include "train/loader.h"
#include "train/plot.h"

static const char *USAGE = "usage: r1c train --config train.json [--resume] [--steps N] [--stop-after N]\n"
                            "  --steps N: the run's length (the learning-rate schedule spans it)\n"
                            "  --stop-after N: checkpoint and stop at step N, as an interruption would (--resume goes on)\n";
static const char *C = "train";

typedef struct {
    char base[2048]; /* the config's directory */
    char tokenizer[2048], out[2048], init_from[2048], field[64], prompt_field[64];
    char **data, **eval;
    int n_data, n_eval;
    char dataset[2048];      /* "dataset": one shard dataset */
    r1c_curriculum cur;      /* "stages" */
    int has_cur, has_steps;
    int B, T, accum, log_every, eval_every, eval_batches, save_every, threads;
    long steps;
    double lr, min_lr, warmup, beta1, beta2, eps, wd, clip, peak_gflops, bias_speed, seq_aux;
    uint64_t seed;
    int doc_mask;            /* "document_mask": packed documents do not see each other (default true) */
    int bf16;                /* "compute": "bf16" (GEMM operands in bf16, f32 sums) or "f32" (default) */
    char base_model[2048];   /* "base_model": config, weights and (by default) tokenizer from there */
    int lora_r, lora_rslora; /* "lora": {"r", "alpha", "dropout", "targets", "use_rslora"}; r 0: no LoRA */
    double lora_alpha, lora_dropout;
    char **lora_targets;
    int n_lora_targets;
} train_cfg;

/* ------------------------------------------------------------------ config */

static void resolve(const train_cfg *tc, const char *p, char *out, size_t n) {
    if (p[0] == '/' || !tc->base[0]) snprintf(out, n, "%s", p);
    else snprintf(out, n, "%s/%s", tc->base, p);
}

static int num(const cJSON *root, const char *key, double def, double lo, double hi, double *out, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) {
        *out = def;
        return 1;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        cli_fail(C, "%s: \"%s\" must be a number in [%g, %g]", path, key, lo, hi);
        return 0;
    }
    *out = v->valuedouble;
    return 1;
}

static int str(const cJSON *root, const char *key, int required, char *out, size_t n, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v && !required) return 1;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        cli_fail(C, "%s: \"%s\" must be a non-empty string", path, key);
        return 0;
    }
    snprintf(out, n, "%s", v->valuestring);
    return 1;
}

static int files(const train_cfg *tc, const cJSON *root, const char *key, int required, char ***out, int *n, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = NULL, *n = 0;
    if (!v && !required) return 1;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        cli_fail(C, "%s: \"%s\" must be a non-empty array of file names", path, key);
        return 0;
    }
    *out = calloc((size_t)cJSON_GetArraySize(v), sizeof(char *));
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) {
            cli_fail(C, "%s: \"%s\"[%d] must be a string", path, key, *n);
            return 0;
        }
        char p[4096];
        resolve(tc, e->valuestring, p, sizeof p);
        (*out)[(*n)++] = strdup(p);
    }
    return 1;
}

static int config_from_json(cJSON *root, const char *path, train_cfg *tc, cJSON **model_out);

/* "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "targets": ["q_proj", "v_proj"], "use_rslora": false} */
static int lora_config(const cJSON *lo, train_cfg *tc, const char *path) {
    if (!lo) return 1;
    double r, alpha, drop;
    if (!cJSON_IsObject(lo)) return cli_fail(C, "%s: \"lora\" must be an object", path), 0;
    if (!num(lo, "r", 16, 1, 4096, &r, path) || !num(lo, "alpha", 2 * (int)r, 1e-6, 1e6, &alpha, path) ||
        !num(lo, "dropout", 0.05, 0, 0.95, &drop, path))
        return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(lo, "targets"), *rs = cJSON_GetObjectItemCaseSensitive(lo, "use_rslora");
    if (rs && !cJSON_IsBool(rs)) return cli_fail(C, "%s: lora \"use_rslora\" must be true or false", path), 0;
    if (!t) { /* PEFT's default for Llama-like models */
        tc->lora_targets = calloc(2, sizeof(char *));
        if (!tc->lora_targets) return cli_fail(C, "out of memory"), 0;
        tc->lora_targets[0] = strdup("q_proj"), tc->lora_targets[1] = strdup("v_proj"), tc->n_lora_targets = 2;
    } else {
        if (!cJSON_IsArray(t) || !cJSON_GetArraySize(t)) return cli_fail(C, "%s: lora \"targets\" must be a non-empty list of module names", path), 0;
        tc->lora_targets = calloc((size_t)cJSON_GetArraySize(t), sizeof(char *));
        if (!tc->lora_targets) return cli_fail(C, "out of memory"), 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, t) {
            if (!cJSON_IsString(e) || !e->valuestring[0]) return cli_fail(C, "%s: lora \"targets\" must hold module names", path), 0;
            tc->lora_targets[tc->n_lora_targets++] = strdup(e->valuestring);
        }
    }
    tc->lora_r = (int)r, tc->lora_alpha = alpha, tc->lora_dropout = drop, tc->lora_rslora = cJSON_IsTrue(rs);
    return 1;
}

static int load_config(const char *path, train_cfg *tc, cJSON **model_out) {
    memset(tc, 0, sizeof *tc);
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(tc->base, sizeof tc->base, "%.*s", (int)(slash - path), path);
    size_t len;
    char *text = cli_read_file(path, &len);
    if (!text) return cli_fail(C, "%s: cannot read", path), 0;
    cJSON *root = r1c_json_parse(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cli_fail(C, "%s: not a JSON object", path), 0;
    }
    return config_from_json(root, path, tc, model_out);
}

/* the config's fields (root is consumed); path names it in messages */
static int config_from_json(cJSON *root, const char *path, train_cfg *tc, cJSON **model_out) {
    char tok[2048] = "", out[2048] = "", init[2048] = "", basem[2048] = "";
    double v[22];
    int ok = str(root, "base_model", 0, basem, sizeof basem, path);
    if (ok && basem[0]) { /* the base model's directory: weights, and the tokenizer unless one is named */
        resolve(tc, basem, tc->base_model, sizeof tc->base_model);
        snprintf(tok, sizeof tok, "%s", tc->base_model);
        snprintf(init, sizeof init, "%s", tc->base_model);
    }
    ok = ok && str(root, "tokenizer", !basem[0], tok, sizeof tok, path) && str(root, "out", 1, out, sizeof out, path) &&
             str(root, "init_from", 0, init, sizeof init, path) &&
             files(tc, root, "data", 0, &tc->data, &tc->n_data, path) &&
             files(tc, root, "eval_data", 0, &tc->eval, &tc->n_eval, path) &&
             num(root, "batch_size", 8, 1, 4096, &v[0], path) && num(root, "seq_len", 128, 2, 8192, &v[1], path) &&
             num(root, "grad_accum", 1, 1, 1024, &v[2], path) && num(root, "steps", 1000, 1, 1e9, &v[3], path) &&
             num(root, "lr", 3e-3, 0, 10, &v[4], path) && num(root, "min_lr", -1, -1, 10, &v[5], path) &&
             num(root, "warmup", 0, 0, 1e9, &v[6], path) && num(root, "beta1", 0.9, 0, 1, &v[7], path) &&
             num(root, "beta2", 0.95, 0, 1, &v[8], path) && num(root, "eps", 1e-8, 0, 1, &v[9], path) &&
             num(root, "weight_decay", 0.1, 0, 10, &v[10], path) && num(root, "clip", 1.0, 0, 1e9, &v[11], path) &&
             num(root, "seed", 1, 0, 9007199254740991.0, &v[12], path) && num(root, "threads", 0, 0, 512, &v[13], path) &&
             num(root, "log_every", 10, 1, 1e9, &v[14], path) && num(root, "eval_every", 100, 0, 1e9, &v[15], path) &&
             num(root, "eval_batches", 4, 1, 1e6, &v[16], path) && num(root, "save_every", 0, 0, 1e9, &v[17], path) &&
             num(root, "peak_gflops", 428, 1e-3, 1e9, &v[18], path) && num(root, "moe_bias_speed", 1e-3, 0, 1, &v[19], path) &&
             num(root, "moe_seq_aux", 0, 0, 10, &v[20], path);
    if (ok) {
        resolve(tc, tok, tc->tokenizer, sizeof tc->tokenizer);
        resolve(tc, out, tc->out, sizeof tc->out);
        if (init[0]) resolve(tc, init, tc->init_from, sizeof tc->init_from);
        if (tc->base_model[0] && strcmp(tc->init_from, tc->base_model))
            ok = (cli_fail(C, "%s: give \"base_model\" or \"init_from\", not both", path), 0);
        tc->B = (int)v[0], tc->T = (int)v[1], tc->accum = (int)v[2], tc->steps = (long)v[3];
        tc->lr = v[4], tc->min_lr = v[5] < 0 ? v[4] / 10 : v[5], tc->warmup = v[6];
        tc->beta1 = v[7], tc->beta2 = v[8], tc->eps = v[9], tc->wd = v[10], tc->clip = v[11];
        tc->seed = (uint64_t)v[12], tc->threads = (int)v[13], tc->log_every = (int)v[14], tc->eval_every = (int)v[15];
        tc->eval_batches = (int)v[16], tc->save_every = (int)v[17], tc->peak_gflops = v[18], tc->bias_speed = v[19], tc->seq_aux = v[20];
        snprintf(tc->field, sizeof tc->field, "text");
        ok = str(root, "field", 0, tc->field, sizeof tc->field, path) &&
             str(root, "prompt_field", 0, tc->prompt_field, sizeof tc->prompt_field, path);
    }
    /* the data: JSON Lines, one shard dataset, or a curriculum of them */
    char ds[2048] = "";
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (ok) ok = str(root, "dataset", 0, ds, sizeof ds, path);
    if (ok && (!!tc->n_data + !!ds[0] + !!stages) != 1)
        ok = (cli_fail(C, "%s: give the data as one of \"data\" (JSON Lines), \"dataset\" (shards) or \"stages\" (a curriculum)", path), 0);
    if (ok && ds[0]) resolve(tc, ds, tc->dataset, sizeof tc->dataset);
    if (ok && stages) {
        if (r1c_curriculum_parse(stages, cJSON_GetObjectItemCaseSensitive(root, "datasets"), tc->base[0] ? tc->base : NULL, &tc->cur) !=
            R1C_OK)
            ok = (cli_fail(C, "%s: %s", path, r1c_last_error()), 0);
        else tc->has_cur = 1;
    }
    tc->has_steps = cJSON_GetObjectItemCaseSensitive(root, "steps") != NULL;
    if (ok) ok = lora_config(cJSON_GetObjectItemCaseSensitive(root, "lora"), tc, path);
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(root, "document_mask");
    if (ok && dm && !cJSON_IsBool(dm)) ok = (cli_fail(C, "%s: \"document_mask\" must be true or false", path), 0);
    tc->doc_mask = !dm || cJSON_IsTrue(dm);
    char compute[16] = "f32";
    if (ok) ok = str(root, "compute", 0, compute, sizeof compute, path);
    if (ok && strcmp(compute, "f32") && strcmp(compute, "bf16"))
        ok = (cli_fail(C, "%s: \"compute\" must be \"f32\" or \"bf16\", not \"%s\"", path, compute), 0);
    tc->bf16 = !strcmp(compute, "bf16");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (ok && tc->base_model[0] && model) ok = (cli_fail(C, "%s: \"model\" comes from \"base_model\"'s config.json; give one", path), 0);
    if (ok && !tc->base_model[0] && !cJSON_IsObject(model))
        ok = (cli_fail(C, "%s: \"model\" must be an object of config.json fields (or give \"base_model\")", path), 0);
    if (ok && tc->lora_r && !tc->init_from[0]) ok = (cli_fail(C, "%s: LoRA adapts a trained model: give \"base_model\"", path), 0);
    *model_out = ok && model ? cJSON_DetachItemFromObjectCaseSensitive(root, "model") : NULL;
    cJSON_Delete(root);
    return ok;
}

/* ------------------------------------------------------------------ data */

/* Documents as token ids (BOS + text + EOS); each epoch visits them in a shuffled order,
 * packed back to back. The position (epoch, offset) is all a resume needs. */
typedef struct {
    int32_t *tok;
    int64_t n_tok, *doc, n_doc; /* doc[i]: start of document i; doc[n_doc] = n_tok */
    int32_t *stream;            /* this epoch's order */
    int64_t epoch, pos;
    uint64_t seed;
    int shuffle;
} corpus;

static int corpus_add(corpus *c, const int32_t *ids, int n, int32_t eos) {
    int32_t *t = realloc(c->tok, sizeof(int32_t) * (size_t)(c->n_tok + n + 1));
    int64_t *d = realloc(c->doc, sizeof(int64_t) * (size_t)(c->n_doc + 2));
    if (t) c->tok = t;
    if (d) c->doc = d;
    if (!t || !d) return 0;
    c->doc[c->n_doc++] = c->n_tok;
    memcpy(c->tok + c->n_tok, ids, sizeof(int32_t) * (size_t)n);
    c->n_tok += n;
    if (eos >= 0) c->tok[c->n_tok++] = eos;
    c->doc[c->n_doc] = c->n_tok;
    return 1;
}

/* One document per line: the string `field` (BOS + its tokens + EOS), or with prompt_field the
 * prompt (BOS + tokens, context only: stored as -(id + 1), never a target) then `field` as the
 * completion the loss is taken on (+ EOS) — supervised fine-tuning on answers alone. */
static int corpus_load(corpus *c, char **paths, int n, const char *field, const char *prompt_field, const r1c_tokenizer *tok) {
    const int32_t eos = r1c_tokenizer_eos(tok);
    for (int f = 0; f < n; f++) {
        size_t len;
        char *text = cli_read_file(paths[f], &len);
        if (!text) return cli_fail(C, "%s: cannot read", paths[f]), 0;
        int line = 0;
        for (char *p = text, *nl; p < text + len; p = nl + 1) {
            nl = memchr(p, '\n', (size_t)(text + len - p));
            if (!nl) nl = text + len;
            line++;
            if (nl == p) continue;
            cJSON *o = r1c_json_parse(p, (size_t)(nl - p));
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, field);
            const cJSON *ps = prompt_field ? cJSON_GetObjectItemCaseSensitive(o, prompt_field) : NULL;
            if (!cJSON_IsString(s) || (prompt_field && !cJSON_IsString(ps))) {
                cJSON_Delete(o);
                free(text);
                return cli_fail(C, "%s line %d: no string \"%s\"", paths[f], line, cJSON_IsString(s) ? prompt_field : field), 0;
            }
            int32_t *ids = NULL, *pids = NULL;
            int k = 0, pk = 0;
            if ((ps && r1c_tokenize(tok, ps->valuestring, strlen(ps->valuestring), R1C_TOK_ADD_SPECIAL, &pids, &pk) != R1C_OK) ||
                r1c_tokenize(tok, s->valuestring, strlen(s->valuestring), ps ? 0 : R1C_TOK_ADD_SPECIAL, &ids, &k) != R1C_OK) {
                free(pids);
                cJSON_Delete(o);
                free(text);
                return cli_fail(C, "%s line %d: %s", paths[f], line, r1c_last_error()), 0;
            }
            if (pk) { /* the prompt first, marked as context */
                int32_t *all = malloc(sizeof(int32_t) * (size_t)(pk + k + 1));
                if (!all) {
                    free(pids), free(ids), cJSON_Delete(o), free(text);
                    return cli_fail(C, "out of memory"), 0;
                }
                for (int i = 0; i < pk; i++) all[i] = -pids[i] - 1;
                memcpy(all + pk, ids, sizeof(int32_t) * (size_t)k);
                free(ids);
                ids = all, k += pk;
            }
            free(pids);
            const int ok = corpus_add(c, ids, k, eos);
            free(ids);
            cJSON_Delete(o);
            if (!ok) return free(text), cli_fail(C, "out of memory"), 0;
        }
        free(text);
    }
    if (c->n_tok < 2) return cli_fail(C, "%s: no text to train on", paths[0]), 0;
    return 1;
}

static uint64_t mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* the stream of epoch e: documents in a Fisher-Yates order seeded by (seed, e) */
static int corpus_epoch(corpus *c, int64_t e) {
    int64_t *order = malloc(sizeof(int64_t) * (size_t)c->n_doc);
    if (!order || (!c->stream && !(c->stream = malloc(sizeof(int32_t) * (size_t)c->n_tok)))) return free(order), 0;
    for (int64_t i = 0; i < c->n_doc; i++) order[i] = i;
    uint64_t s = mix(c->seed * 0x9e3779b97f4a7c15ull + (uint64_t)e + 1);
    for (int64_t i = c->n_doc - 1; c->shuffle && i > 0; i--) {
        s = mix(s + 0x9e3779b97f4a7c15ull);
        const int64_t j = (int64_t)(s % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < c->n_doc; i++) {
        const int64_t a = c->doc[order[i]], b = c->doc[order[i] + 1];
        memcpy(c->stream + k, c->tok + a, sizeof(int32_t) * (size_t)(b - a));
        k += b - a;
    }
    free(order);
    c->epoch = e;
    return 1;
}

/* B rows of T inputs and their next tokens; a row that would run past the epoch's end starts
 * the next epoch */
static int corpus_batch(corpus *c, int B, int T, int32_t *in, int32_t *tg) {
    for (int b = 0; b < B; b++) {
        if (c->pos + T + 1 > c->n_tok) {
            if (!corpus_epoch(c, c->epoch + 1)) return 0;
            c->pos = 0;
        }
        const int32_t *s = c->stream + c->pos;
        for (int t = 0; t < T; t++) { /* (a prompt token, stored as -(id + 1), is an input but no target) */
            in[b * T + t] = s[t] < 0 ? -s[t] - 1 : s[t];
            tg[b * T + t] = s[t + 1] < 0 ? -1 : s[t + 1];
        }
        c->pos += T;
    }
    return 1;
}

static void corpus_free(corpus *c) { free(c->tok), free(c->doc), free(c->stream); }

/* Where batches come from: texts tokenized in memory (corpus) or the shard loader. */
typedef struct {
    corpus c;
    r1c_loader *L;
    int ended; /* the curriculum is over */
} source;

static int source_batch(source *s, int B, int T, int32_t *in, int32_t *tg) {
    if (!s->L) return corpus_batch(&s->c, B, T, in, tg) ? 1 : (cli_fail(C, "out of memory"), 0);
    const r1c_batch *b;
    if (r1c_loader_next(s->L, &b) != R1C_OK) return cli_fail(C, "%s", r1c_last_error()), 0;
    if (b->end) return s->ended = 1, 0;
    memcpy(in, b->inputs, sizeof(int32_t) * (size_t)(B * T));
    memcpy(tg, b->targets, sizeof(int32_t) * (size_t)(B * T));
    return 1;
}

/* ------------------------------------------------------------------ the loop */

static double lr_at(const train_cfg *tc, long step) { /* step counts from 0 */
    if (step < tc->warmup) return tc->lr * (double)(step + 1) / tc->warmup;
    const double span = (double)tc->steps - tc->warmup, p = span > 0 ? ((double)step - tc->warmup) / span : 1.0;
    return tc->min_lr + 0.5 * (tc->lr - tc->min_lr) * (1.0 + cos(M_PI * (p < 1 ? p : 1)));
}

static int save(const train_cfg *tc, r1c_trainer *m, const source *src, long step, double loss) {
    const corpus *c = &src->c;
    char p[4096], q[4096];
    if (r1c_trainer_save(m, tc->out) != R1C_OK || r1c_trainer_save_state(m, tc->out) != R1C_OK)
        return cli_fail(C, "%s", r1c_last_error()), 0;
    for (int i = 0; i < 2; i++) { /* the tokenizer, so the checkpoint runs as it is */
        const char *f = i ? "tokenizer_config.json" : "tokenizer.json";
        snprintf(p, sizeof p, "%s/%s", tc->tokenizer, f);
        snprintf(q, sizeof q, "%s/%s", tc->out, f);
        if (access(p, R_OK) == 0 && !cli_copy_file(p, q)) return cli_fail(C, "%s: cannot write", q), 0;
    }
    snprintf(p, sizeof p, "%s/trainer_state.json", tc->out);
    FILE *f = fopen(p, "w");
    if (!f) return cli_fail(C, "%s: cannot write", p), 0;
    char *ls = NULL;
    if (src->L) { /* the loader's position, exactly (64-bit values as hex strings) */
        r1c_loader_state st;
        r1c_loader_get_state(src->L, &st);
        cJSON *j = r1c_loader_state_to_json(&st);
        ls = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (!ls) return fclose(f), cli_fail(C, "out of memory"), 0;
    }
    fprintf(f, "{\"step\": %ld, \"epoch\": %lld, \"data_pos\": %lld, \"seed\": %llu, \"loss\": %.9g%s%s}\n", step,
            (long long)c->epoch, (long long)c->pos, (unsigned long long)tc->seed, loss, ls ? ", \"loader\": " : "", ls ? ls : "");
    free(ls);
    return fclose(f) == 0 ? 1 : (cli_fail(C, "%s: write failed", p), 0);
}

static int resume_state(const train_cfg *tc, r1c_trainer *m, source *src, long *step, r1c_loader_state *ls, int *have_ls) {
    corpus *c = &src->c;
    char p[4096];
    snprintf(p, sizeof p, "%s/trainer_state.json", tc->out);
    size_t n;
    char *t = cli_read_file(p, &n);
    if (!t) return cli_fail(C, "--resume: %s: cannot read (no checkpoint to resume)", p), 0;
    cJSON *o = r1c_json_parse(t, n);
    free(t);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step"), *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data_pos");
    const int ok = cJSON_IsNumber(s) && cJSON_IsNumber(e) && cJSON_IsNumber(d) && s->valuedouble >= 0 && e->valuedouble >= 0 &&
                   d->valuedouble >= 0 && (c->n_tok == 0 || d->valuedouble < (double)c->n_tok);
    const cJSON *lj = cJSON_GetObjectItemCaseSensitive(o, "loader");
    *have_ls = 0;
    if (ok && lj) {
        if (r1c_loader_state_from_json(lj, ls) != R1C_OK) {
            cli_fail(C, "%s: %s", p, r1c_last_error());
            cJSON_Delete(o);
            return 0;
        }
        *have_ls = 1;
    }
    if (!ok) {
        cJSON_Delete(o);
        return cli_fail(C, "%s: step, epoch and data_pos must be counts within the data", p), 0;
    }
    *step = (long)s->valuedouble;
    const int64_t epoch = (int64_t)e->valuedouble, pos = (int64_t)d->valuedouble;
    cJSON_Delete(o);
    if (r1c_trainer_load(m, tc->out, 1) != R1C_OK) return cli_fail(C, "--resume: %s", r1c_last_error()), 0;
    r1c_trainer_set_steps_done(m, *step);
    if (c->n_tok) {
        if (!corpus_epoch(c, epoch)) return cli_fail(C, "out of memory"), 0;
        c->pos = pos;
    }
    return 1;
}

static double eval_loss(const train_cfg *tc, r1c_trainer *m, corpus *ev, int32_t *in, int32_t *tg) {
    if (!ev->n_tok) return NAN;
    ev->pos = 0;
    if (!corpus_epoch(ev, 0)) return NAN;
    double s = 0;
    r1c_trainer_set_dropout(m, 0);
    for (int i = 0; i < tc->eval_batches; i++) {
        if (!corpus_batch(ev, tc->B, tc->T, in, tg)) return r1c_trainer_set_dropout(m, 1), NAN;
        s += r1c_trainer_forward(m, in, tg);
    }
    r1c_trainer_set_dropout(m, 1);
    return s / tc->eval_batches;
}

static void fmt_time(double s, char *out, size_t n) {
    if (s < 90) snprintf(out, n, "%.0fs", s);
    else if (s < 5400) snprintf(out, n, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(out, n, "%.0fh%02.0fm", floor(s / 3600), fmod(s / 60, 60));
}

static int train_run(train_cfg *tc_, cJSON *model, const char *cfg_path, int resume, long steps_override, long stop_after);

int cmd_train(int argc, char **argv) {
    const char *cfg_path = NULL;
    int resume = 0;
    long steps_override = 0, stop_after = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(USAGE, stdout), 0;
        if (!strcmp(a, "--resume")) resume = 1;
        else if (!(v = cli_value(C, argc, argv, &i, "--config --steps --stop-after"))) return 2;
        else if (!strcmp(a, "--config")) cfg_path = v;
        else if (!strcmp(a, "--steps")) {
            if (!cli_int(C, a, v, 1, 1000000000, &steps_override)) return 2;
        } else if (!strcmp(a, "--stop-after")) {
            if (!cli_int(C, a, v, 1, 1000000000, &stop_after)) return 2;
        } else return cli_fail(C, "unknown option '%s'", a), fputs(USAGE, stderr), 2;
    }
    if (!cfg_path) return cli_fail(C, "--config FILE is required"), fputs(USAGE, stderr), 2;
    train_cfg tc;
    cJSON *model = NULL;
    if (!load_config(cfg_path, &tc, &model)) return 1;
    return train_run(&tc, model, cfg_path, resume, steps_override, stop_after);
}

/* the run itself (train and finetune); takes model (config.json fields, or NULL with base_model) */
static int train_run(train_cfg *tc_, cJSON *model, const char *cfg_path, int resume, long steps_override, long stop_after) {
    train_cfg tc = *tc_;
    if (steps_override) tc.steps = steps_override;
    int rc = 1;
    r1c_tokenizer *tok = NULL;
    r1c_trainer *m = NULL;
    source src = {.c = {.seed = tc.seed, .shuffle = 1}};
    corpus ev = {.seed = 0, .shuffle = 0};
    int32_t *in = NULL, *tg = NULL;
    double *xs = NULL, *ys = NULL, *exs = NULL, *eys = NULL;
    FILE *csv = NULL, *lcsv = NULL;
    int32_t *loads = NULL;
    if (r1c_tokenizer_load(tc.tokenizer, &tok) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    r1c_hf_config mc;
    if (tc.base_model[0]) { /* fine-tuning: the base model's own config */
        if (r1c_hf_config_load(tc.base_model, &mc) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
    } else {
        if (!cJSON_GetObjectItemCaseSensitive(model, "vocab_size")) cJSON_AddNumberToObject(model, "vocab_size", r1c_tokenizer_n_vocab(tok));
        if (!cJSON_GetObjectItemCaseSensitive(model, "bos_token_id")) cJSON_AddNumberToObject(model, "bos_token_id", r1c_tokenizer_bos(tok));
        if (!cJSON_GetObjectItemCaseSensitive(model, "eos_token_id")) cJSON_AddNumberToObject(model, "eos_token_id", r1c_tokenizer_eos(tok));
        if (!cJSON_GetObjectItemCaseSensitive(model, "max_position_embeddings")) cJSON_AddNumberToObject(model, "max_position_embeddings", tc.T);
        char *mj = cJSON_PrintUnformatted(model);
        char where[2100];
        snprintf(where, sizeof where, "%s: model", cfg_path);
        const r1c_status cs = mj ? r1c_hf_config_parse(mj, strlen(mj), where, &mc) : R1C_ERR_NOMEM;
        free(mj);
        if (cs != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
    }
    if (mc.vocab_size < r1c_tokenizer_n_vocab(tok)) {
        cli_fail(C, "%s: model vocab_size %d < the tokenizer's %d", cfg_path, mc.vocab_size, r1c_tokenizer_n_vocab(tok));
        goto done;
    }
    r1c_train_shape shape = {.B = tc.B, .T = tc.T, .n_threads = tc.threads, .seed = tc.seed};
    if (r1c_trainer_new(&mc, &shape, &m) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    r1c_trainer_set_seq_aux(m, (float)tc.seq_aux);
    if (tc.doc_mask) r1c_trainer_set_doc_mask(m, r1c_tokenizer_bos(tok)); /* (no BOS in the vocabulary: -1, off) */
    r1c_trainer_set_bf16(m, tc.bf16);
    /* the starting weights (a resumed full run finds its own in out/; LoRA's base is always loaded) */
    if (tc.init_from[0] && (!resume || tc.lora_r) && r1c_trainer_load(m, tc.init_from, 0) != R1C_OK) {
        cli_fail(C, "%s: %s", tc.base_model[0] ? "base_model" : "init_from", r1c_last_error());
        goto done;
    }
    if (tc.lora_r) {
        const r1c_trainer_lora lc = {.r = tc.lora_r, .alpha = (float)tc.lora_alpha, .dropout = (float)tc.lora_dropout,
                                     .use_rslora = tc.lora_rslora, .targets = (const char *const *)tc.lora_targets,
                                     .n_targets = tc.n_lora_targets, .seed = tc.seed, .base_model = tc.base_model};
        if (r1c_trainer_add_lora(m, &lc) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
    }
    /* PEFT's print_trainable_parameters line */
    const int64_t n_train = r1c_trainer_trainable(m), n_total = r1c_trainer_numel(m);
    fprintf(stderr, "trainable params: %lld || all params: %lld || trainable%%: %.4f\n", (long long)n_train, (long long)n_total,
            100.0 * (double)n_train / (double)n_total);
    const char *pf = tc.prompt_field[0] ? tc.prompt_field : NULL;
    if ((tc.n_data && !corpus_load(&src.c, tc.data, tc.n_data, tc.field, pf, tok)) ||
        (tc.n_eval && !corpus_load(&ev, tc.eval, tc.n_eval, tc.field, pf, tok)))
        goto done;
    if (tc.n_data && !corpus_epoch(&src.c, 0)) goto done;
    if (tc.has_cur) { /* stage steps are optimiser steps: the loader counts micro-batches */
        for (int i = 0; i < tc.cur.n_stages; i++) tc.cur.stages[i].steps *= (uint64_t)tc.accum;
        if (!tc.has_steps && !steps_override) tc.steps = (long)(r1c_curriculum_steps(&tc.cur) / (uint64_t)tc.accum);
    }
    mkdir(tc.out, 0755);
    long step = 0;
    r1c_loader_state ls;
    int have_ls = 0;
    if (resume && !resume_state(&tc, m, &src, &step, &ls, &have_ls)) goto done;
    if (tc.has_cur || tc.dataset[0]) {
        const r1c_loader_params lp = {.batch = tc.B, .seq_len = tc.T, .seed = tc.seed, .curriculum = tc.has_cur ? &tc.cur : NULL,
                                      .dataset_dir = tc.has_cur ? NULL : tc.dataset};
        if (r1c_loader_open(&lp, have_ls ? &ls : NULL, &src.L) != R1C_OK) {
            cli_fail(C, "%s", r1c_last_error());
            goto done;
        }
    }
    char csv_path[4096];
    snprintf(csv_path, sizeof csv_path, "%s/train_log.csv", tc.out);
    csv = fopen(csv_path, resume ? "a" : "w");
    if (!csv) {
        cli_fail(C, "%s: cannot write", csv_path);
        goto done;
    }
    if (!resume) fprintf(csv, "step,loss,lr,grad_norm,tokens_per_s,eval_loss\n");
    const int n_exp = r1c_trainer_n_experts(m);
    if (n_exp > 0) {
        char lp[4096];
        snprintf(lp, sizeof lp, "%s/expert_load.csv", tc.out);
        loads = calloc((size_t)n_exp * (size_t)mc.num_hidden_layers, sizeof(int32_t));
        if (!loads || !(lcsv = fopen(lp, resume ? "a" : "w"))) {
            cli_fail(C, "%s: cannot write", lp);
            goto done;
        }
        if (!resume) {
            fprintf(lcsv, "step,layer");
            for (int e = 0; e < n_exp; e++) fprintf(lcsv, ",expert_%d", e);
            fputc('\n', lcsv);
        }
    }
    const int N = tc.B * tc.T;
    in = malloc(sizeof(int32_t) * (size_t)N), tg = malloc(sizeof(int32_t) * (size_t)N);
    xs = calloc((size_t)tc.steps + 1, sizeof(double)), ys = calloc((size_t)tc.steps + 1, sizeof(double));
    exs = calloc((size_t)tc.steps + 1, sizeof(double)), eys = calloc((size_t)tc.steps + 1, sizeof(double));
    if (!in || !tg || !xs || !ys || !exs || !eys) {
        cli_fail(C, "out of memory");
        goto done;
    }
    /* FLOPs per trained token, PaLM's count: 6 per weight (forward 2, backward 4) for the matrices
     * tokens pass through (not the embedding lookup, not the experts they skip), plus attention's
     * 12 L H hd T (MLA: hd the mean of the key and value widths) */
    const int64_t n_all = r1c_trainer_numel(m) - (tc.lora_r ? n_train : 0), n_embed = (int64_t)mc.vocab_size * mc.hidden_size;
    /* MoE: a token passes through k of the E routed experts only */
    const int64_t n_idle = mc.is_deepseek && mc.n_routed_experts > 0
                               ? (int64_t)(mc.num_hidden_layers - mc.first_k_dense_replace) * (mc.n_routed_experts - mc.num_experts_per_tok) *
                                     3 * (int64_t)mc.hidden_size * mc.moe_intermediate_size
                               : 0;
    const int hd = mc.is_deepseek ? (mc.qk_nope_head_dim + mc.qk_rope_head_dim + mc.v_head_dim) / 2
                   : mc.head_dim ? mc.head_dim : mc.hidden_size / mc.num_attention_heads;
    /* (LoRA: the frozen weights' own gradients are not computed, 4 per weight; the adapters' few are left out) */
    const double flops_tok = (tc.lora_r ? 4.0 : 6.0) * (double)(n_all - n_idle - (mc.tie_word_embeddings ? 0 : n_embed)) +
                             12.0 * mc.num_hidden_layers * mc.num_attention_heads * hd * (double)tc.T;
    const int tty = isatty(2);
    char what[96];
    if (src.L) snprintf(what, sizeof what, tc.has_cur ? "%d stages over %d datasets" : "one shard dataset", tc.cur.n_stages, tc.cur.n_datasets);
    else snprintf(what, sizeof what, "%lld tokens of text", (long long)src.c.n_tok);
    fprintf(stderr, "r1c %s: %s %.2fM parameters (%d layers, width %d), %s, batch %d x %d x %d, %ld steps, %s GEMMs%s\n", C,
            mc.model_type, r1c_trainer_numel(m) / 1e6, mc.num_hidden_layers, mc.hidden_size, what, tc.B, tc.T, tc.accum, tc.steps,
            r1c_trainer_gemm_kernel(m), resume ? " (resumed)" : "");
    int n_pts = 0, n_ev = 0;
    double loss = NAN, t_start = cli_now(), t_mark = t_start, tok_mark = 0, tok_done = 0;
    const long last = stop_after && stop_after < tc.steps ? stop_after : tc.steps;
    for (; step < last; step++) {
        loss = 0;
        for (int a = 0; a < tc.accum; a++) {
            if (!source_batch(&src, tc.B, tc.T, in, tg)) {
                if (!src.ended) goto done;
                break;
            }
            loss += r1c_trainer_forward(m, in, tg) / tc.accum;
            r1c_trainer_backward(m, 1.0f / (float)tc.accum);
        }
        if (src.ended) { /* the curriculum ran out before "steps" */
            fprintf(stderr, "r1c train: the curriculum's stages are done after %ld steps\n", step);
            loss = ys[n_pts - 1 > 0 ? n_pts - 1 : 0];
            break;
        }
        const double lr = lr_at(&tc, step);
        const r1c_adamw opt = {.beta1 = (float)tc.beta1, .beta2 = (float)tc.beta2, .eps = (float)tc.eps, .weight_decay = (float)tc.wd,
                               .clip = (float)tc.clip};
        const double norm = r1c_trainer_step(m, &opt, (float)lr);
        if (loads) { /* MoE: balance the experts, log their loads */
            r1c_trainer_balance(m, (float)tc.bias_speed, loads);
            for (int l = 0; l < mc.num_hidden_layers; l++) {
                if (l < mc.first_k_dense_replace) continue;
                fprintf(lcsv, "%ld,%d", step + 1, l);
                for (int e = 0; e < n_exp; e++) fprintf(lcsv, ",%d", loads[(int64_t)l * n_exp + e]);
                fputc('\n', lcsv);
            }
        }
        tok_done += (double)N * tc.accum;
        xs[n_pts] = (double)step + 1, ys[n_pts++] = loss;
        if (!isfinite(loss)) {
            cli_fail(C, "step %ld: the loss is %g (lower the learning rate?)", step + 1, loss);
            goto done;
        }
        double evl = NAN;
        if (tc.n_eval && tc.eval_every && ((step + 1) % tc.eval_every == 0 || step + 1 == tc.steps)) {
            evl = eval_loss(&tc, m, &ev, in, tg);
            exs[n_ev] = (double)step + 1, eys[n_ev++] = evl;
        }
        const double now = cli_now(), tps = (tok_done - tok_mark) / fmax(now - t_mark, 1e-9);
        fprintf(csv, "%ld,%.9g,%.6g,%.6g,%.1f,%s%.6g\n", step + 1, loss, lr, norm, tps, "", evl);
        if ((step + 1) % tc.log_every == 0 || step + 1 == tc.steps || !isnan(evl)) {
            char eta[32], ev_s[48] = "";
            fmt_time((now - t_start) / (double)(step + 1 - (resume ? 0 : 0)) * (double)(tc.steps - step - 1), eta, sizeof eta);
            if (!isnan(evl)) snprintf(ev_s, sizeof ev_s, " | eval %.4f", evl);
            const double mfu = tps * flops_tok / (tc.peak_gflops * 1e9);
            if (tty) {
                const int w = 24, fill = (int)((double)(step + 1) / tc.steps * w);
                fprintf(stderr, "\r[%.*s%*s] %ld/%ld | loss %.4f%s | lr %.2e | %.0f tok/s | MFU %.1f%% | ETA %s   ", fill,
                        "########################", w - fill, "", step + 1, tc.steps, loss, ev_s, lr, tps, 100 * mfu, eta);
                if (step + 1 == tc.steps) fputc('\n', stderr);
            } else {
                fprintf(stderr, "step %ld/%ld | loss %.4f%s | lr %.2e | norm %.3f | %.0f tok/s | MFU %.1f%% | ETA %s\n", step + 1,
                        tc.steps, loss, ev_s, lr, norm, tps, 100 * mfu, eta);
            }
            t_mark = now, tok_mark = tok_done;
        }
        if (tc.save_every && (step + 1) % tc.save_every == 0 && step + 1 < tc.steps && !save(&tc, m, &src, step + 1, loss)) goto done;
    }
    if (!save(&tc, m, &src, step, loss)) goto done;
    fflush(csv);
    const double secs = cli_now() - t_start;
    const double tps = tok_done / fmax(secs, 1e-9);
    char svg[4096];
    snprintf(svg, sizeof svg, "%s/loss.svg", tc.out);
    const r1c_plot_series s[2] = {{"train loss", xs, ys, n_pts}, {"eval loss", exs, eys, n_ev}};
    if (r1c_plot_svg(svg, "r1c train: loss", "step", "cross-entropy (nats)", s, n_ev ? 2 : 1, 0) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto done;
    }
    printf("trained %ld steps in %.1f s: %.0f tokens/s, %.1f GFLOP/s (MFU %.1f%% of %.0f GFLOP/s), final loss %.4f; wrote %s (log %s, plot %s)\n",
           step, secs, tps, tps * flops_tok / 1e9, 100 * tps * flops_tok / (tc.peak_gflops * 1e9), tc.peak_gflops,
           loss, tc.out, csv_path, svg);
    rc = 0;
done:
    if (csv) fclose(csv);
    if (lcsv) fclose(lcsv);
    free(loads);
    cJSON_Delete(model);
    r1c_trainer_free(m);
    r1c_tokenizer_free(tok);
    if (src.L) r1c_loader_close(src.L);
    corpus_free(&src.c), corpus_free(&ev);
    if (tc.has_cur) r1c_curriculum_free(&tc.cur);
    free(in), free(tg), free(xs), free(ys), free(exs), free(eys);
    for (int i = 0; i < tc.n_data; i++) free(tc.data[i]);
    for (int i = 0; i < tc.n_eval; i++) free(tc.eval[i]);
    for (int i = 0; i < tc.n_lora_targets; i++) free(tc.lora_targets[i]);
    free(tc.data), free(tc.eval), free(tc.lora_targets);
    return rc;
}

/* ------------------------------------------------------------------ r1c finetune */

static const char *FT_USAGE =
    "usage: r1c finetune -m BASE --data FILE.jsonl [--data ...] --out DIR [options]\n"
    "  Fine-tunes the model in BASE (a directory r1c run loads: config.json, model.safetensors,\n"
    "  tokenizer) on JSON Lines texts; with --lora-r, trains a LoRA adapter instead of the weights and\n"
    "  writes it as PEFT does (adapter_config.json + adapter_model.safetensors) for `r1c run --lora DIR`\n"
    "  or `r1c lora merge`.\n"
    "  --lora-r R            LoRA rank (off: full fine-tuning)\n"
    "  --lora-alpha A        scale numerator, default 2R (scale A/R)\n"
    "  --lora-dropout P      dropout on the adapters' input, default 0.05\n"
    "  --lora-targets LIST   modules, comma-separated: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj\n"
    "                        (DeepSeek: q_a_proj,q_b_proj,kv_a_proj_with_mqa,...), default q_proj,v_proj\n"
    "  --rslora              scale A/sqrt(R) (rank-stabilised LoRA)\n"
    "  --field NAME          the JSON field with the text (default text)\n"
    "  --prompt-field NAME   SFT: each line's prompt (context, no loss) in NAME, the completion in --field\n"
    "  --eval FILE.jsonl     held-out texts: eval loss every --eval-every steps\n"
    "  --steps N (200)  --lr X (LoRA 2e-4, full 5e-5)  --min-lr X  --warmup N (10)  --batch B (8)  --seq-len T (256)\n"
    "  --grad-accum N (1)  --weight-decay X (0)  --clip X (1)  --seed N (1)  --threads N  --log-every N  --eval-every N\n"
    "  --save-every N  --resume  --stop-after N  --compute bf16|f32 (GEMM operands in bf16, f32 sums; default f32)\n"
    "  --config FILE         a train.json (with \"base_model\") whose fields the options above override\n";

int cmd_finetune(int argc, char **argv) {
    C = "finetune";
    cJSON *root = NULL, *data = cJSON_CreateArray(), *evals = cJSON_CreateArray(), *lora = cJSON_CreateObject();
    const char *cfg_path = NULL;
    int resume = 0, have_lora = 0;
    long stop_after = 0;
    /* options as (JSON key, kind): n number, s string */
    static const struct { const char *opt, *key; char kind; } MAP[] = {
        {"--steps", "steps", 'n'}, {"--lr", "lr", 'n'}, {"--min-lr", "min_lr", 'n'}, {"--warmup", "warmup", 'n'},
        {"--batch", "batch_size", 'n'}, {"--seq-len", "seq_len", 'n'}, {"--grad-accum", "grad_accum", 'n'},
        {"--weight-decay", "weight_decay", 'n'}, {"--clip", "clip", 'n'}, {"--seed", "seed", 'n'}, {"--threads", "threads", 'n'},
        {"--log-every", "log_every", 'n'}, {"--eval-every", "eval_every", 'n'}, {"--save-every", "save_every", 'n'},
        {"--out", "out", 's'}, {"-m", "base_model", 's'}, {"--model", "base_model", 's'}, {"--field", "field", 's'},
        {"--tokenizer", "tokenizer", 's'}, {"--compute", "compute", 's'}, {"--prompt-field", "prompt_field", 's'}};
    cJSON *set = cJSON_CreateObject();
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(FT_USAGE, stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "--resume")) { resume = 1; continue; }
        if (!strcmp(a, "--rslora")) { cJSON_AddBoolToObject(lora, "use_rslora", 1); continue; }
        if (!(v = cli_value(C, argc, argv, &i,
                            "--steps --lr --min-lr --warmup --batch --seq-len --grad-accum --weight-decay --clip --seed --threads "
                            "--log-every --eval-every --save-every --out -m --model --field --prompt-field --tokenizer --compute --data --eval --config "
                            "--lora-r --lora-alpha --lora-dropout --lora-targets --stop-after")))
            goto out;
        int done = 0;
        for (size_t k = 0; k < sizeof MAP / sizeof MAP[0] && !done; k++) {
            if (strcmp(a, MAP[k].opt)) continue;
            done = 1;
            cJSON_DeleteItemFromObjectCaseSensitive(set, MAP[k].key);
            if (MAP[k].kind == 's') {
                cJSON_AddStringToObject(set, MAP[k].key, v);
            } else {
                char *end;
                const double x = strtod(v, &end);
                if (end == v || *end || !isfinite(x)) {
                    cli_fail(C, "%s: '%s' is not a number", a, v);
                    goto out;
                }
                cJSON_AddNumberToObject(set, MAP[k].key, x);
            }
        }
        if (done) continue;
        if (!strcmp(a, "--data")) cJSON_AddItemToArray(data, cJSON_CreateString(v));
        else if (!strcmp(a, "--eval")) cJSON_AddItemToArray(evals, cJSON_CreateString(v));
        else if (!strcmp(a, "--config")) cfg_path = v;
        else if (!strcmp(a, "--stop-after")) {
            if (!cli_int(C, a, v, 1, 1000000000, &stop_after)) goto out;
        } else if (!strcmp(a, "--lora-targets")) {
            cJSON *t = cJSON_CreateArray();
            char *list = strdup(v), *save = NULL;
            for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
                if (*tok) cJSON_AddItemToArray(t, cJSON_CreateString(tok));
            free(list);
            cJSON_DeleteItemFromObjectCaseSensitive(lora, "targets");
            cJSON_AddItemToObject(lora, "targets", t);
        } else { /* --lora-r, --lora-alpha, --lora-dropout */
            char *end;
            const double x = strtod(v, &end);
            if (end == v || *end || !isfinite(x)) {
                cli_fail(C, "%s: '%s' is not a number", a, v);
                goto out;
            }
            const char *key = !strcmp(a, "--lora-r") ? "r" : !strcmp(a, "--lora-alpha") ? "alpha" : "dropout";
            cJSON_DeleteItemFromObjectCaseSensitive(lora, key);
            cJSON_AddNumberToObject(lora, key, x);
            have_lora |= !strcmp(key, "r");
        }
    }
    if (cfg_path) { /* a config file underneath, the options on top */
        size_t len;
        char *text = cli_read_file(cfg_path, &len);
        if (!text) {
            cli_fail(C, "%s: cannot read", cfg_path);
            rc = 1;
            goto out;
        }
        root = r1c_json_parse(text, len);
        free(text);
        if (!cJSON_IsObject(root)) {
            cli_fail(C, "%s: not a JSON object", cfg_path);
            rc = 1;
            goto out;
        }
    } else {
        root = cJSON_CreateObject();
    }
    const int file_lora = cJSON_GetObjectItemCaseSensitive(root, "lora") != NULL;
    if (!have_lora && cJSON_GetArraySize(lora) > 0 && !file_lora) {
        cli_fail(C, "--lora-alpha, --lora-dropout, --lora-targets and --rslora need --lora-r");
        goto out;
    }
    cJSON *item;
    while ((item = set->child)) cJSON_AddItemToObject(root, item->string, cJSON_DetachItemViaPointer(set, item));
    if (cJSON_GetArraySize(data)) cJSON_DeleteItemFromObjectCaseSensitive(root, "data"), cJSON_AddItemToObject(root, "data", data), data = NULL;
    if (cJSON_GetArraySize(evals))
        cJSON_DeleteItemFromObjectCaseSensitive(root, "eval_data"), cJSON_AddItemToObject(root, "eval_data", evals), evals = NULL;
    if (have_lora || (file_lora && cJSON_GetArraySize(lora) > 0)) {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(root, "lora");
        if (cJSON_IsObject(old)) /* the file's LoRA fields the options leave alone */
            for (cJSON *f = old->child; f; f = f->next)
                if (!cJSON_GetObjectItemCaseSensitive(lora, f->string)) cJSON_AddItemToObject(lora, f->string, cJSON_Duplicate(f, 1));
        cJSON_DeleteItemFromObjectCaseSensitive(root, "lora");
        cJSON_AddItemToObject(root, "lora", lora), lora = NULL;
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "base_model")) {
        cli_fail(C, "-m BASE (the model to fine-tune) is required");
        fputs(FT_USAGE, stderr);
        goto out;
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "data") && !cJSON_GetObjectItemCaseSensitive(root, "dataset") &&
        !cJSON_GetObjectItemCaseSensitive(root, "stages")) {
        cli_fail(C, "--data FILE.jsonl is required");
        goto out;
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "out")) {
        cli_fail(C, "--out DIR is required");
        goto out;
    }
    /* fine-tuning's defaults where neither the file nor the options say */
    const int is_lora = cJSON_GetObjectItemCaseSensitive(root, "lora") != NULL;
    static const struct { const char *key; double v; } DEF[] = {{"steps", 200}, {"warmup", 10}, {"seq_len", 256}, {"weight_decay", 0}};
    for (size_t k = 0; k < sizeof DEF / sizeof DEF[0]; k++)
        if (!cJSON_GetObjectItemCaseSensitive(root, DEF[k].key)) cJSON_AddNumberToObject(root, DEF[k].key, DEF[k].v);
    if (!cJSON_GetObjectItemCaseSensitive(root, "lr")) cJSON_AddNumberToObject(root, "lr", is_lora ? 2e-4 : 5e-5);
    train_cfg tc;
    memset(&tc, 0, sizeof tc);
    if (cfg_path) {
        const char *slash = strrchr(cfg_path, '/');
        if (slash) snprintf(tc.base, sizeof tc.base, "%.*s", (int)(slash - cfg_path), cfg_path);
    }
    cJSON *model = NULL;
    cJSON *r = root;
    root = NULL;
    if (!config_from_json(r, cfg_path ? cfg_path : "finetune", &tc, &model)) {
        rc = 1;
        goto out;
    }
    rc = train_run(&tc, model, cfg_path ? cfg_path : "finetune", resume, 0, stop_after);
out:
    cJSON_Delete(root), cJSON_Delete(set), cJSON_Delete(data), cJSON_Delete(evals), cJSON_Delete(lora);
    return rc;
}
