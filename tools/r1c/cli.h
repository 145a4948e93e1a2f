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

/* One sampled completion of a prompt already evaluated in c (n_prompt tokens; last_logits its last
 * row, kept by the caller so several completions can start from it): up to max_new tokens, ending
 * at EOS (kept in ids, not in text) or right after "</answer>". */
typedef struct cli_completion {
    char *text; /* NUL-terminated */
    size_t len, cap;
    int32_t *ids;
    int n_ids;
} cli_completion;
r1c_status cli_complete(r1c_ctx *c, r1c_sampler *s, const r1c_model *m, const float *last_logits, int n_prompt, int max_new,
                        cli_completion *out);
void cli_completion_free(cli_completion *o);

/* A task problem's prompt for `eval` and `rl`: tmpl "raw" (the problem and a newline), "chat" (the
 * chat template, R1's generation prompt: *in_reasoning 1 when it opens <think>) or "zero" (the
 * R1-Zero template). malloc'd ids with BOS, or NULL after a message. */
int32_t *cli_task_prompt(const char *cmd, const r1c_tokenizer *tok, const char *problem, const char *tmpl, int *n_ids,
                         int *in_reasoning);

#endif
