/* test_tokenizer.c — r1c's tokenizer against the Hugging Face reference ids.
 *
 * tests/data/tokenizer/<name>/expected_<name>.jsonl (from ../shared/golden/tokenizer): for the
 * DeepSeek-V3, Qwen3 and Llama-3.1 tokenizers and all 367 corpus texts, every id equal
 * (ids_onig where the JS reference diverges from the Rust library), the special-token variant
 * (ids_special_hf for DeepSeek: transformers' BOS from add_bos_token), and decoding back to the
 * text (decoded_raw; decoded with clean_up_tokenization_spaces). */
#include <cjson/cJSON.h>

#include "r1c.h"
#include "test_util.h"

/* The value of "key" in a JSON line as raw bytes: cJSON cannot hold U+0000, which the corpus has. */
static char *json_str(const char *line, const char *key, size_t *len) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (!p) return NULL;
    p += strlen(pat);
    char *o = malloc(strlen(p) + 1);
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p != '\\') {
            o[n++] = *p++;
            continue;
        }
        p++;
        char c = *p++;
        if (c == 'u') {
            unsigned cp = (unsigned)strtoul((char[5]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = (unsigned)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            if (cp < 0x80) o[n++] = (char)cp;
            else if (cp < 0x800) o[n++] = (char)(0xc0 | cp >> 6), o[n++] = (char)(0x80 | (cp & 63));
            else if (cp < 0x10000) o[n++] = (char)(0xe0 | cp >> 12), o[n++] = (char)(0x80 | ((cp >> 6) & 63)), o[n++] = (char)(0x80 | (cp & 63));
            else o[n++] = (char)(0xf0 | cp >> 18), o[n++] = (char)(0x80 | ((cp >> 12) & 63)), o[n++] = (char)(0x80 | ((cp >> 6) & 63)), o[n++] = (char)(0x80 | (cp & 63));
        } else {
            o[n++] = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
        }
    }
    o[n] = 0;
    *len = n;
    return o;
}

static int ids_equal(const int32_t *got, int n, const cJSON *want, int *first_diff) {
    int m = cJSON_GetArraySize(want), i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, want) {
        if (i >= n || got[i] != (int32_t)v->valuedouble) break;
        i++;
    }
    *first_diff = i;
    return i == m && i == n;
}

static void corpus(const char *name) {
    char dir[512], path[512];
    const char *base = getenv("R1C_TOKDATA");
    snprintf(dir, sizeof dir, "%s/%s", base ? base : "build/tests/tokdata", name);
    r1c_tokenizer *t;
    if (r1c_tokenizer_load(dir, &t) != R1C_OK) {
        CHECK(0, "load %s: %s", dir, r1c_last_error());
        return;
    }
    snprintf(path, sizeof path, "tests/data/tokenizer/%s/expected_%s.jsonl", name, name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0, bad_ids = 0, bad_special = 0, bad_dec = 0, bad_clean = 0;
    while (f && getline(&line, &cap, f) > 0) {
        cJSON *e = cJSON_Parse(line);
        if (!e) continue;
        lines++;
        const char *id = cJSON_GetObjectItem(e, "id")->valuestring;
        size_t len, raw_len, clean_len;
        char *text = json_str(line, "text", &len);
        char *raw = json_str(line, "decoded_raw", &raw_len), *clean = json_str(line, "decoded", &clean_len);
        const cJSON *want = cJSON_GetObjectItem(e, "ids_onig");
        if (!want) want = cJSON_GetObjectItem(e, "ids");
        int32_t *ids;
        int n, d;
        if (r1c_tokenize(t, text, len, 0, &ids, &n) != R1C_OK) {
            CHECK(0, "%s %s: %s", name, id, r1c_last_error());
            cJSON_Delete(e);
            continue;
        }
        if (!ids_equal(ids, n, want, &d)) {
            if (bad_ids++ < 5)
                fprintf(stderr, "%s %s: ids differ at %d (got %d, want %d; %d vs %d ids)\n", name, id, d,
                        d < n ? ids[d] : -1, d < cJSON_GetArraySize(want) ? cJSON_GetArrayItem(want, d)->valueint : -1,
                        n, cJSON_GetArraySize(want));
        }
        const cJSON *wsp = cJSON_GetObjectItem(e, "ids_special_hf");
        if (!wsp) wsp = cJSON_GetObjectItem(e, "ids_special");
        int32_t *sids;
        int sn;
        if (wsp && !cJSON_GetObjectItem(e, "ids_onig") &&
            r1c_tokenize(t, text, len, R1C_TOK_ADD_SPECIAL, &sids, &sn) == R1C_OK) {
            if (!ids_equal(sids, sn, wsp, &d) && bad_special++ < 5) fprintf(stderr, "%s %s: special ids differ at %d\n", name, id, d);
            free(sids);
        }
        /* decode the reference ids */
        int wn = cJSON_GetArraySize(want), k = 0;
        int32_t *wids = malloc(sizeof(int32_t) * (size_t)(wn + 1));
        const cJSON *v;
        cJSON_ArrayForEach(v, want) wids[k++] = (int32_t)v->valuedouble;
        char *out;
        size_t ol;
        if (r1c_detokenize(t, wids, wn, 0, &out, &ol) == R1C_OK) {
            if ((ol != raw_len || memcmp(out, raw, ol) != 0) && bad_dec++ < 5) fprintf(stderr, "%s %s: decode differs\n", name, id);
            free(out);
        }
        /* "decoded" applies clean_up_tokenization_spaces where tokenizer_config sets it (Llama) */
        int clean_flag = strcmp(name, "llama3_1") == 0 ? R1C_DETOK_CLEAN_UP : 0;
        if (r1c_detokenize(t, wids, wn, clean_flag, &out, &ol) == R1C_OK) {
            if ((ol != clean_len || memcmp(out, clean, ol) != 0) && bad_clean++ < 5) fprintf(stderr, "%s %s: clean-up decode differs\n", name, id);
            free(out);
        }
        free(wids);
        free(text), free(raw), free(clean);
        free(ids);
        cJSON_Delete(e);
    }
    free(line);
    if (f) fclose(f);
    CHECK(lines == 367, "%s: %d corpus lines", name, lines);
    CHECK(bad_ids == 0, "%s: %d of %d texts encode differently", name, bad_ids, lines);
    CHECK(bad_special == 0, "%s: %d texts differ with special tokens", name, bad_special);
    CHECK(bad_dec == 0, "%s: %d texts decode differently", name, bad_dec);
    CHECK(bad_clean == 0, "%s: %d texts decode differently with clean-up", name, bad_clean);
    fprintf(stderr, "%s: %d texts checked\n", name, lines);
    r1c_tokenizer_free(t);
}

/* chat_<name>.jsonl: the rendered chats encode to the reference ids; and for the tokenizer's own
 * template ("default"), rendering through r1c_chat_render_json gives the same string too. */
static void chats(const char *name) {
    char dir[512], path[512];
    const char *base = getenv("R1C_TOKDATA");
    snprintf(dir, sizeof dir, "%s/%s", base ? base : "build/tests/tokdata", name);
    r1c_tokenizer *t;
    if (r1c_tokenizer_load(dir, &t) != R1C_OK) {
        CHECK(0, "load %s: %s", dir, r1c_last_error());
        return;
    }
    snprintf(path, sizeof path, "tests/data/tokenizer/%s/chat_%s.jsonl", name, name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int n_lines = 0, n_rendered = 0;
    while (f && getline(&line, &cap, f) > 0) {
        cJSON *e = cJSON_Parse(line);
        if (!e) continue;
        n_lines++;
        const char *id = cJSON_GetObjectItem(e, "id")->valuestring;
        const char *tmpl = cJSON_GetObjectItem(e, "template")->valuestring;
        const char *rendered = cJSON_GetObjectItem(e, "rendered")->valuestring;
        int32_t *ids;
        int n, d;
        CHECK(r1c_tokenize(t, rendered, strlen(rendered), 0, &ids, &n) == R1C_OK, "%s %s", name, id);
        CHECK(ids_equal(ids, n, cJSON_GetObjectItem(e, "ids"), &d), "%s %s (%s): chat ids differ at %d", name, id, tmpl, d);
        free(ids);
        if (!strcmp(tmpl, "default")) {
            /* the variables of the line, as apply_chat_template gets them */
            cJSON *ctx = cJSON_CreateObject();
            const cJSON *kv;
            const cJSON *kw;
            cJSON_ArrayForEach(kw, cJSON_GetObjectItem(e, "kwargs")) /* apply_chat_template(**kwargs) */
                cJSON_AddItemToObject(ctx, kw->string, cJSON_Duplicate(kw, 1));
            cJSON_ArrayForEach(kv, e) {
                if (strcmp(kv->string, "kwargs") && strcmp(kv->string, "id") && strcmp(kv->string, "template") && strcmp(kv->string, "rendered") &&
                    strcmp(kv->string, "ids"))
                    cJSON_AddItemToObject(ctx, kv->string, cJSON_Duplicate(kv, 1));
            }
            char *js = cJSON_PrintUnformatted(ctx), *out = NULL;
            size_t ol;
            r1c_status st = r1c_chat_render_json(t, js, &out, &ol);
            CHECK(st == R1C_OK && ol == strlen(rendered) && !memcmp(out, rendered, ol), "%s %s: rendered chat differs: %s",
                  name, id, st == R1C_OK ? out : r1c_last_error());
            n_rendered++;
            free(out), free(js);
            cJSON_Delete(ctx);
        }
        cJSON_Delete(e);
    }
    free(line);
    if (f) fclose(f);
    CHECK(n_lines > 5 && n_rendered > 3, "%s: %d chats, %d rendered", name, n_lines, n_rendered);
    fprintf(stderr, "%s: %d chats checked (%d rendered with the tokenizer's template)\n", name, n_lines, n_rendered);
    r1c_tokenizer_free(t);
}

int main(void) {
    corpus("deepseek_v3");
    corpus("qwen3");
    corpus("llama3_1");
    chats("deepseek_v3");
    chats("qwen3");
    chats("llama3_1");
    return test_summary("test_tokenizer");
}
