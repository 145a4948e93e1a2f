/* chat.c — chat templates: the tokenizer's template rendered with its special-token strings. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../base/error.h"
#include "../io/json.h"
#include "jinja.h"
#include "tokenizer.h"

int r1c_tokenizer_has_chat_template(const r1c_tokenizer *t) { return t && t->chat_template; }

/* Compiled once per tokenizer, on first use (a broken template must not stop tokenizing). */
static r1c_status compiled(const r1c_tokenizer *t, const r1c_jinja **out) {
    r1c_tokenizer *w = (r1c_tokenizer *)t; /* the lazily compiled template is a cache */
    if (!t->chat_template)
        return r1c_error(R1C_ERR_MISSING, "%s: tokenizer_config.json has no chat_template", t->dir);
    pthread_mutex_lock(&w->tmpl_lock);
    r1c_status st = R1C_OK;
    if (!w->tmpl && !w->tmpl_error) {
        r1c_jinja *j;
        st = r1c_jinja_compile(t->chat_template, strlen(t->chat_template), "chat_template", &j);
        if (st == R1C_OK) w->tmpl = j;
        else w->tmpl_error = strdup(r1c_last_error());
    }
    if (w->tmpl_error) st = r1c_error(R1C_ERR_FORMAT, "%s", w->tmpl_error);
    pthread_mutex_unlock(&w->tmpl_lock);
    *out = w->tmpl;
    return st;
}

r1c_status r1c_chat_render_json(const r1c_tokenizer *t, const char *ctx_json, char **out, size_t *out_len) {
    *out = NULL;
    const r1c_jinja *j = NULL;
    r1c_status st = compiled(t, &j);
    if (st != R1C_OK) return st;
    cJSON *ctx = ctx_json ? r1c_json_parse(ctx_json, strlen(ctx_json)) : cJSON_CreateObject();
    if (!cJSON_IsObject(ctx)) {
        cJSON_Delete(ctx);
        return r1c_error(R1C_ERR_INVALID_ARG, "chat template variables must be a JSON object");
    }
    /* the special-token strings, as transformers passes them, unless the caller set them */
    const char *names[] = {"bos_token", "eos_token", "pad_token"};
    const char *vals[] = {t->bos_str, t->eos_str, t->pad_str};
    for (int i = 0; i < 3; i++)
        if (vals[i] && !cJSON_GetObjectItemCaseSensitive(ctx, names[i])) cJSON_AddStringToObject(ctx, names[i], vals[i]);
    st = r1c_jinja_render(j, ctx, out, out_len);
    cJSON_Delete(ctx);
    return st;
}

r1c_status r1c_chat_render(const r1c_tokenizer *t, const r1c_chat_msg *msgs, int n, int add_generation_prompt,
                           const char *extra_json, char **out, size_t *out_len) {
    *out = NULL;
    cJSON *ctx = extra_json ? r1c_json_parse(extra_json, strlen(extra_json)) : cJSON_CreateObject();
    if (!cJSON_IsObject(ctx)) {
        cJSON_Delete(ctx);
        return r1c_error(R1C_ERR_INVALID_ARG, "extra chat template variables must be a JSON object");
    }
    cJSON *arr = cJSON_AddArrayToObject(ctx, "messages");
    for (int i = 0; arr && i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role ? msgs[i].role : "");
        cJSON_AddStringToObject(m, "content", msgs[i].content ? msgs[i].content : "");
        cJSON_AddItemToArray(arr, m);
    }
    cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt);
    char *js = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);
    if (!js) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    r1c_status st = r1c_chat_render_json(t, js, out, out_len);
    free(js);
    return st;
}

static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

int r1c_chat_wants_think(const r1c_tokenizer *t, const char *prompt, size_t len) {
    if (!t || !t->chat_template || !strstr(t->chat_template, "</think>")) return 0;
    return ends_with(prompt, len, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"); /* <｜Assistant｜> */
}

r1c_status r1c_chat_open_think(const r1c_tokenizer *t, char **text, size_t *len, int think, int *in_reasoning) {
    if (!text || !*text || !len) return r1c_error(R1C_ERR_INVALID_ARG, "r1c_chat_open_think: no prompt");
    const int open = think == 1 || (think == -1 && r1c_chat_wants_think(t, *text, *len));
    if (open && !ends_with(*text, *len, "<think>\n")) {
        char *grown = realloc(*text, *len + 9);
        if (!grown) return r1c_error(R1C_ERR_NOMEM, "out of memory");
        memcpy(grown + *len, "<think>\n", 9);
        *text = grown;
        *len += 8;
    }
    if (in_reasoning) *in_reasoning = ends_with(*text, *len, "<think>\n") || ends_with(*text, *len, "<think>");
    return R1C_OK;
}
