/* cli.h — shared helpers of the r1c subcommands. */
#ifndef R1C_CLI_H
#define R1C_CLI_H

#include <stdint.h>

#include "r1c.h"

/* Each subcommand: returns the process exit status. */
int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_dev(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_rl(int argc, char **argv);
int cmd_lora(int argc, char **argv);

/* Prints "r1c <cmd>: <message>" to stderr; returns 1 (the exit status of a failed command). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option values: on failure they print a message naming the option and return 0. */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* "1,2,3" -> malloc'd list */
int cli_ids(const char *cmd, const char *opt, const char *s, int32_t **ids, int *n);
int cli_int_list(const char *cmd, const char *opt, const char *s, long lo, long hi, int **vals, int *n);

/* The value after option argv[*i], advancing *i. `valued` lists the command's options that
 * take a value ("-m --model -n"); an option not in it is reported as unknown. NULL (with a
 * message) on an unknown option or a missing value. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i, const char *valued);

/* The file name of the model that ships in the repo's models/ (r1c's own trained reasoner). */
#define R1C_DEFAULT_MODEL_FILE "r1c-tiny.gguf"
/* The model commands use without -m: $R1C_MODEL, else models/R1C_DEFAULT_MODEL_FILE of the source
 * tree or next to the binary; NULL when there is none. */
const char *cli_default_model(void);

/* Loads a model (dir NULL: cli_default_model()), printing the library's message on failure. */
r1c_model *cli_load(const char *cmd, const char *dir, int use_mmap);
/* The same with a PEFT LoRA adapter directory (--lora; NULL: none) attached to the model. */
r1c_model *cli_load_lora(const char *cmd, const char *dir, int use_mmap, const char *lora_dir);

double cli_now(void);
/* A whole file, NUL-terminated (*len without the NUL); NULL if it cannot be read. */
char *cli_read_file(const char *path, size_t *len);
/* Copies a whole file; 0 when it cannot be read or written. */
int cli_copy_file(const char *from, const char *to);

/* The prompt for a conversation: the chat template with the generation prompt, then "<think>\n"
 * when think is 1, or when think is -1 (auto) and the template is R1's (r1c_chat_wants_think).
 * Without a chat template (or with raw) the last message's text is used as is.
 * Returns malloc'd ids (BOS from the template text; with raw, as the tokenizer adds it) or NULL
 * after printing a message. *in_reasoning: the prompt ends inside <think>. */
int32_t *cli_prompt_ids(const char *cmd, const r1c_tokenizer *tok, const r1c_chat_msg *msgs, int n, int raw,
                        int think, int *n_ids, int *in_reasoning, int verbose);

/* A completion: up to max_new tokens, ending at EOS (kept in ids, not in text) or right after
 * "</answer>". */
typedef struct cli_completion {
    char *text; /* NUL-terminated */
    size_t len, cap;
    int32_t *ids;
    int n_ids;
} cli_completion;
/* n completions decoded together (tools/r1c/gen_batch.c): sequence i continues prompt[i]
 * (n_prompt[i] ids) drawing with s[i] (the same sampler may serve several). Each result depends
 * only on its prompt and sampler, not on the batch. out[0..n-1] are filled (free each, also on
 * failure). */
r1c_status cli_complete_many(const r1c_model *m, int n, int32_t *const *prompt, const int *n_prompt, r1c_sampler *const *s,
                             int max_new, int n_threads, cli_completion *out);
void cli_completion_free(cli_completion *o);

/* A task problem's prompt for `eval` and `rl`: tmpl "raw" (the problem and a newline), "chat" (the
 * chat template, R1's generation prompt: *in_reasoning 1 when it opens <think>) or "zero" (the
 * R1-Zero template). malloc'd ids with BOS, or NULL after a message. */
int32_t *cli_task_prompt(const char *cmd, const r1c_tokenizer *tok, const char *problem, const char *tmpl, int *n_ids,
                         int *in_reasoning);

/* The options `r1c eval` and `r1c data distill` share (cmd_eval.c). Set the defaults, then for
 * each argv[*i]: cli_task_option returns 1 (taken, with its value), 0 (not one of them) or -1
 * (a bad value, after a message); then cli_task_check checks the task, levels and template. */
typedef struct cli_task_opts {
    const char *model, *task_s, *levels_s, *tmpl, *out, *rules;
    long n, k, max_tokens, threads;
    double temp, top_p;
    uint64_t seed;
    int task, lo, hi; /* set by cli_task_check */
} cli_task_opts;
int cli_task_option(const char *cmd, int argc, char **argv, int *i, cli_task_opts *o);
int cli_task_check(const char *cmd, cli_task_opts *o);

/* `r1c eval`'s measurement of one level (cmd_eval.c), also run by `r1c rl` as it trains. */
struct cJSON;
struct r1c_rules;
typedef struct cli_eval_spec {
    int task; /* r1c_synth_task */
    int n, k, max_tokens, threads;
    double temp, top_p;
    const char *tmpl; /* raw | chat | zero */
    uint64_t seed;
    const struct r1c_rules *rules; /* NULL: none */
} cli_eval_spec;
typedef struct cli_level_result {
    int problems;
    double greedy, pass1, format, tagged; /* shares; format and tagged of the greedy completions */
    double tokens;                        /* mean completion length */
    double violations, violations_greedy; /* shares breaking a rule: of all completions, of the greedy ones */
} cli_level_result;
int cli_eval_level(const char *cmd, const r1c_model *m, const cli_eval_spec *e, int level, struct cJSON *probs,
                   cli_level_result *res);

#endif
