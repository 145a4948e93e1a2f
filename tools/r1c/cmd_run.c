/* cmd_run.c — `r1c run`: a prompt in, text streamed out. The prompt goes through the model's
 * chat template (R1: "<｜User｜>...<｜Assistant｜>" then "<think>\n", as DeepSeek advises);
 * the reasoning is shown apart from the answer. --ids runs token ids in and out instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "stream.h"

static const char *USAGE =
    "usage: r1c run [-m MODEL] [PROMPT | -p PROMPT | --ids 1,2,3] [-n N] [--temp T] [--top-p P] [--top-k K]\n"
    "               [--min-p P] [--seed S] [-t THREADS] [-c CTX] [--system TEXT] [--raw]\n"
    "               [--think | --no-think] [--hide-reasoning] [--mmap] [--quiet] [--lora DIR]\n"
    "  -m MODEL     a Hugging Face directory (config.json + safetensors + tokenizer.json) or a .gguf file;\n"
    "               default: $R1C_MODEL, else the repo's models/r1c-tiny.gguf (r1c's own tiny reasoner)\n"
    "  PROMPT, -p   the user's message (rendered with the model's chat template)\n"
    "  --ids LIST   prompt token ids instead of text; the output is ids too\n"
    "  --system T   a system message before the prompt\n"
    "  --raw        no chat template: the prompt text is tokenized as it is\n"
    "  --think      always open the reasoning with <think>\\n; --no-think: never (default: for R1's template)\n"
    "  --hide-reasoning  print the answer only\n"
    "  -n N         most tokens to generate (default 128)\n"
    "  --temp T     temperature (default 0.6, DeepSeek's advice for R1; 0 = greedy)\n"
    "  --top-p P    nucleus sampling (default 0.95)\n"
    "  --top-k K    keep the K most likely tokens (default 0 = off)\n"
    "  --min-p P    keep tokens with p >= P * p_max (default 0 = off)\n"
    "  --seed S     sampling seed (default: random, printed at the end)\n"
    "  -t N         threads (default: all cores)\n"
    "  -c N         context length (default min(max_position_embeddings, 4096))\n"
    "  --mmap       map the weight files instead of reading them into memory\n"
    "  --quiet      no statistics on stderr\n"
    "  --lora DIR   apply a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors), unmerged\n";

typedef struct {
    int count;
} stream_state;

static int on_token(int32_t tok, void *user) {
    stream_state *s = user;
    printf("%s%d", s->count++ ? " " : "", tok);
    fflush(stdout);
    return 0;
}

int cmd_run(int argc, char **argv) {
    const char *C = "run", *dir = NULL, *lora = NULL, *ids_s = NULL, *text = NULL, *system = NULL;
    int raw = 0, think = -1, show_reasoning = 1;
    long n_new = 128, threads = 0, n_ctx = 0;
    r1c_sampler_params sp = r1c_sampler_default_params();
    int use_mmap = 0, quiet = 0, have_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        double d;
        long l;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--mmap")) {
            use_mmap = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--raw")) {
            raw = 1;
        } else if (!strcmp(a, "--think")) {
            think = 1;
        } else if (!strcmp(a, "--no-think")) {
            think = 0;
        } else if (!strcmp(a, "--hide-reasoning")) {
            show_reasoning = 0;
        } else if (a[0] != '-' && !text) {
            text = a;
        } else if (!(v = cli_value(C, argc, argv, &i, "-m --model --ids -p --prompt -n -t -c --temp --top-p --min-p --top-k --seed --system --lora"))) {
            return 2;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            dir = v;
        } else if (!strcmp(a, "--lora")) {
            lora = v;
        } else if (!strcmp(a, "--ids")) {
            ids_s = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            text = v;
        } else if (!strcmp(a, "--system")) {
            system = v;
        } else if (!strcmp(a, "-n")) {
            if (!cli_int(C, a, v, 0, 1 << 30, &n_new)) return 2;
        } else if (!strcmp(a, "-t")) {
            if (!cli_int(C, a, v, 1, 512, &threads)) return 2;
        } else if (!strcmp(a, "-c")) {
            if (!cli_int(C, a, v, 1, 1 << 30, &n_ctx)) return 2;
        } else if (!strcmp(a, "--temp")) {
            if (!cli_float(C, a, v, 0, 100, &d)) return 2;
            sp.temperature = (float)d;
        } else if (!strcmp(a, "--top-p")) {
            if (!cli_float(C, a, v, 1e-9, 1, &d)) return 2;
            sp.top_p = (float)d;
        } else if (!strcmp(a, "--min-p")) {
            if (!cli_float(C, a, v, 0, 1, &d)) return 2;
            sp.min_p = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            if (!cli_int(C, a, v, 0, 1 << 30, &l)) return 2;
            sp.top_k = (int)l;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_u64(C, a, v, &sp.seed)) return 2;
            have_seed = 1;
        } else {
            cli_fail(C, "unknown option '%s'", a);
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (text && ids_s) return cli_fail(C, "give a text prompt or --ids, not both");
    if (!have_seed && getrandom(&sp.seed, sizeof sp.seed, 0) != (ssize_t)sizeof sp.seed) sp.seed = (uint64_t)getpid();

    if (!dir) dir = cli_default_model(); /* (NULL: cli_load_lora says what to do) */
    r1c_model *m = cli_load_lora(C, dir, use_mmap, lora);
    if (!m) return 1;
    int32_t *ids = NULL;
    int n_ids = 0, rc = 1;
    r1c_ctx *c = NULL;
    r1c_sampler *s = NULL;
    r1c_model_info info;
    r1c_model_get_info(m, &info);
    const r1c_tokenizer *tok = r1c_model_tokenizer(m);
    int in_reasoning = 0;
    if (text && !tok) {
        cli_fail(C, "%s has no tokenizer.json: text prompts need one (or pass token ids with --ids)", dir);
        goto out;
    }
    if (text) {
        r1c_chat_msg msgs[2] = {{"system", system}, {"user", text}};
        int off = system ? 0 : 1;
        if (!(ids = cli_prompt_ids(C, tok, msgs + off, 2 - off, raw, think, &n_ids, &in_reasoning, !quiet))) goto out;
    } else if (ids_s) {
        if (!cli_ids(C, "--ids", ids_s, &ids, &n_ids)) goto out;
    } else if (info.bos_id >= 0) {
        ids = malloc(sizeof *ids);
        ids[0] = info.bos_id;
        n_ids = 1;
    } else {
        cli_fail(C, "the model has no bos_token_id: give a prompt with --ids");
        goto out;
    }
    r1c_ctx_params cp = {.n_ctx = (int)n_ctx, .n_threads = (int)threads};
    if (r1c_ctx_new(m, &cp, &c) != R1C_OK || r1c_sampler_new(&sp, info.n_vocab, &s) != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto out;
    }
    stream_state ss = {0};
    printer pr;
    int as_text = text != NULL;
    if (as_text && !printer_init(&pr, m, tok, stdout, in_reasoning, show_reasoning)) {
        cli_fail(C, "%s", r1c_last_error());
        goto out;
    }
    r1c_gen_stats st;
    r1c_status gst = as_text ? r1c_generate(c, s, ids, n_ids, (int)n_new, printer_token, &pr, &st)
                             : r1c_generate(c, s, ids, n_ids, (int)n_new, on_token, &ss, &st);
    if (as_text) {
        printer_finish(&pr);
        printer_free(&pr);
    } else {
        putchar('\n');
    }
    if (gst != R1C_OK) {
        cli_fail(C, "%s", r1c_last_error());
        goto out;
    }
    if (!quiet)
        fprintf(stderr,
                "\nr1c run: prompt %d tokens in %.3f s (%.1f t/s); generated %d tokens in %.3f s "
                "(%.1f t/s)%s%s; seed %llu; %s kernels, %d threads\n",
                st.n_prompt, st.prompt_seconds, st.prompt_seconds > 0 ? st.n_prompt / st.prompt_seconds : 0.0,
                st.n_gen, st.gen_seconds, st.gen_seconds > 0 ? (st.n_gen > 1 ? st.n_gen - 1 : 0) / st.gen_seconds : 0.0,
                st.stopped_by_eos ? "; stopped at EOS" : "", st.stopped_by_context ? "; context full" : "",
                (unsigned long long)sp.seed, r1c_kernel_isa(), threads ? (int)threads : r1c_default_threads());
    rc = 0;
out:
    free(ids);
    r1c_sampler_free(s);
    r1c_ctx_free(c);
    r1c_model_free(m);
    return rc;
}
