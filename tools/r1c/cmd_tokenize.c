/* cmd_tokenize.c — `r1c tokenize`: text to ids, as Hugging Face's tokenizers would.
 *   r1c tokenize -m DIR TEXT              ids, then one line per token with its text
 *   r1c tokenize -m DIR --jsonl [--special]
 *       stdin: one {"text": "..."} per line; stdout: one {"ids": [...]} per line, in order
 *       (--special: add_special_tokens=True, e.g. DeepSeek's BOS from add_bos_token).
 * DIR needs only tokenizer.json (+ tokenizer_config.json). A stable interface: batch checks
 * against other tokenizers use it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tokenizer/tokenizer.h"

static const char *USAGE =
    "usage: r1c tokenize -m DIR [--special] [--no-parse-special] TEXT\n"
    "       r1c tokenize -m DIR --jsonl [--special] < lines.jsonl\n";

/* a token's bytes, printable: JSON-like escapes, invalid UTF-8 as \\xNN */
static void print_piece(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else if (c < 0x80) putchar(c);
        else {
            size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            int ok = k > 1 && i + k <= n;
            for (size_t j = 1; ok && j < k; j++) ok = ((unsigned char)s[i + j] & 0xc0) == 0x80;
            if (ok) {
                fwrite(s + i, 1, k, stdout);
                i += k - 1;
            } else {
                printf("\\x%02x", c);
            }
        }
    }
    putchar('"');
}

static int jsonl(const r1c_tokenizer *tok, int flags) {
    char *line = NULL, *text;
    size_t cap = 0, tl;
    ssize_t got;
    int rc = 0;
    long lineno = 0;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) got--;
        if (got == 0) continue;
        int32_t *ids;
        int n;
        if (r1c_json_object_string(line, (size_t)got, "text", &text, &tl) != R1C_OK ||
            r1c_tokenize(tok, text, tl, flags, &ids, &n) != R1C_OK) {
            if (text) free(text);
            /* one output line per input line, even for a bad one */
            printf("{\"error\": \"line %ld: ", lineno);
            for (const char *e = r1c_last_error(); *e; e++) printf(*e == '"' || *e == '\\' ? "\\%c" : "%c", *e);
            printf("\"}\n");
            rc = 1;
            continue;
        }
        fputs("{\"ids\": [", stdout);
        for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        fputs("]}\n", stdout);
        free(ids);
        free(text);
    }
    free(line);
    fflush(stdout);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *C = "tokenize", *dir = NULL, *text = NULL;
    int flags = 0, as_jsonl = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--jsonl")) {
            as_jsonl = 1;
        } else if (!strcmp(a, "--special")) {
            flags |= R1C_TOK_ADD_SPECIAL;
        } else if (!strcmp(a, "--no-parse-special")) {
            flags |= R1C_TOK_NO_PARSE_SPECIAL;
        } else if (a[0] != '-' && !text) {
            text = a;
        } else if (!(v = cli_value(C, argc, argv, &i, "-m --model"))) {
            return 2;
        } else {
            dir = v;
        }
    }
    if (!dir || (!as_jsonl && !text)) {
        fputs(USAGE, stderr);
        return 2;
    }
    r1c_tokenizer *tok;
    if (r1c_tokenizer_load(dir, &tok) != R1C_OK) return cli_fail(C, "%s", r1c_last_error());
    int rc = 0;
    if (as_jsonl) {
        rc = jsonl(tok, flags);
    } else {
        int32_t *ids;
        int n;
        if (r1c_tokenize(tok, text, strlen(text), flags, &ids, &n) != R1C_OK) {
            rc = cli_fail(C, "%s", r1c_last_error());
        } else {
            fputs("ids: [", stdout);
            for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
            printf("]\n%d tokens\n", n);
            for (int i = 0; i < n; i++) {
                size_t len;
                const char *b = r1c_token_bytes(tok, ids[i], &len);
                printf("%8d  ", ids[i]);
                print_piece(b, len);
                printf("%s\n", r1c_token_is_special(tok, ids[i]) ? "  (special)" : "");
            }
            free(ids);
        }
    }
    r1c_tokenizer_free(tok);
    return rc;
}
