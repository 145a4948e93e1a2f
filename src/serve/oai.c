/* oai.c — see oai.h. */
#include "oai.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/json.h"
#include "../tokenizer/utf8.h"

void r1c_oai_error_set(r1c_oai_error *e, int http_status, const char *type, const char *param, const char *fmt, ...) {
    e->http_status = http_status;
    e->type = type;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

char *r1c_oai_error_json(const r1c_oai_error *e) {
    cJSON *root = cJSON_CreateObject(), *o = cJSON_CreateObject();
    if (!root || !o) {
        cJSON_Delete(root), cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(root, "error", o);
    cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddStringToObject(o, "type", e->type ? e->type : "invalid_request_error");
    if (e->param[0]) cJSON_AddStringToObject(o, "param", e->param);
    else cJSON_AddNullToObject(o, "param");
    cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static int bad(r1c_oai_error *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(r1c_oai_error *e, const char *param, const char *fmt, ...) {
    char msg[sizeof e->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r1c_oai_error_set(e, 400, "invalid_request_error", param, "%s", msg);
    return -1;
}

static int type_error(r1c_oai_error *e, const char *param, const char *want, const cJSON *v) {
    return bad(e, param, "'%s' must be %s, got %s", param, want, r1c_json_type_name(v));
}

/* a string field's text, checked to be UTF-8 */
static int get_text(const cJSON *v, const char *param, const char **out, r1c_oai_error *e) {
    if (!cJSON_IsString(v)) return type_error(e, param, "a string", v);
    const size_t n = strlen(v->valuestring), at = r1c_utf8_check(v->valuestring, n);
    if (at != n) return bad(e, param, "'%s' is not valid UTF-8 (byte %zu)", param, at);
    *out = v->valuestring;
    return 0;
}

/* an integral number in [lo, hi] */
static int get_int(const cJSON *v, const char *param, double lo, double hi, int64_t *out, r1c_oai_error *e) {
    if (!cJSON_IsNumber(v)) return type_error(e, param, "an integer", v);
    const double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) return bad(e, param, "'%s' must be an integer, got %g", param, d);
    if (d < lo || d > hi) return bad(e, param, "'%s' must be between %.0f and %.0f, got %.0f", param, lo, hi, d);
    *out = (int64_t)d;
    return 0;
}

static int get_num(const cJSON *v, const char *param, double lo, double hi, double *out, r1c_oai_error *e) {
    if (!cJSON_IsNumber(v)) return type_error(e, param, "a number", v);
    const double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi) return bad(e, param, "'%s' must be between %g and %g, got %g", param, lo, hi, d);
    *out = d;
    return 0;
}

static int get_bool(const cJSON *v, const char *param, int *out, r1c_oai_error *e) {
    if (!cJSON_IsBool(v)) return type_error(e, param, "a boolean", v);
    *out = cJSON_IsTrue(v);
    return 0;
}

static char *dup_text(const char *s, r1c_oai_error *e) {
    char *d = strdup(s);
    if (!d) r1c_oai_error_set(e, 500, "server_error", NULL, "out of memory");
    return d;
}

/* A message's content: a string, null (an assistant turn with tool calls), or an array of parts of
 * which only {"type": "text", "text": ...} are supported; parts are joined. Appended to the
 * normalised message as a string. */
static int content_text(const cJSON *c, int i, cJSON *msg, r1c_oai_error *e) {
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (!c || cJSON_IsNull(c)) return cJSON_AddStringToObject(msg, "content", "") ? 0 : bad(e, param, "out of memory");
    if (cJSON_IsString(c)) {
        const char *t;
        if (get_text(c, param, &t, e)) return -1;
        return cJSON_AddStringToObject(msg, "content", t) ? 0 : bad(e, param, "out of memory");
    }
    if (!cJSON_IsArray(c)) return type_error(e, param, "a string or an array of content parts", c);
    size_t cap = 64, len = 0;
    char *buf = malloc(cap);
    if (!buf) return bad(e, param, "out of memory");
    buf[0] = 0;
    int j = 0;
    for (const cJSON *part = c->child; part; part = part->next, j++) {
        char pp[64];
        snprintf(pp, sizeof pp, "messages[%d].content[%d]", i, j);
        if (!cJSON_IsObject(part)) {
            free(buf);
            return type_error(e, pp, "an object", part);
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        char tp[80];
        snprintf(tp, sizeof tp, "%s.type", pp);
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0) {
            free(buf);
            if (!cJSON_IsString(type)) return type_error(e, tp, "a string", type);
            return bad(e, tp, "content parts of type '%.40s' are not supported (text only)", type->valuestring);
        }
        const char *t;
        snprintf(tp, sizeof tp, "%s.text", pp);
        if (get_text(cJSON_GetObjectItemCaseSensitive(part, "text"), tp, &t, e)) {
            free(buf);
            return -1;
        }
        const size_t n = strlen(t);
        if (len + n + 1 > cap) {
            while (len + n + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return bad(e, param, "out of memory");
            }
            buf = nb;
        }
        memcpy(buf + len, t, n + 1);
        len += n;
    }
    const int ok = cJSON_AddStringToObject(msg, "content", buf) != NULL;
    free(buf);
    return ok ? 0 : bad(e, param, "out of memory");
}

static int parse_messages(const cJSON *msgs, r1c_oai_req *r, r1c_oai_error *e) {
    if (!msgs) return bad(e, "messages", "'messages' is required");
    if (!cJSON_IsArray(msgs)) return type_error(e, "messages", "an array", msgs);
    if (!msgs->child) return bad(e, "messages", "'messages' must not be empty");
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "messages");
    if (!root || !arr) {
        cJSON_Delete(root);
        return bad(e, "messages", "out of memory");
    }
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        char param[64];
        snprintf(param, sizeof param, "messages[%d]", i);
        if (!cJSON_IsObject(m)) {
            cJSON_Delete(root);
            return type_error(e, param, "an object", m);
        }
        snprintf(param, sizeof param, "messages[%d].role", i);
        const char *role;
        if (get_text(cJSON_GetObjectItemCaseSensitive(m, "role"), param, &role, e)) {
            cJSON_Delete(root);
            return -1;
        }
        /* "developer" is OpenAI's newer name for the system turn */
        const char *as = !strcmp(role, "developer") ? "system" : role;
        if (strcmp(as, "system") && strcmp(as, "user") && strcmp(as, "assistant") && strcmp(as, "tool")) {
            cJSON_Delete(root);
            return bad(e, param, "'%s' must be one of system, developer, user, assistant, tool; got '%.40s'", param, role);
        }
        cJSON *out = cJSON_CreateObject();
        if (!out || !cJSON_AddStringToObject(out, "role", as)) {
            cJSON_Delete(out), cJSON_Delete(root);
            return bad(e, "messages", "out of memory");
        }
        cJSON_AddItemToArray(arr, out);
        /* (an assistant's reasoning_content sent back is ignored: R1's template drops earlier
         * turns' reasoning anyway) */
        if (content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), i, out, e)) {
            cJSON_Delete(root);
            return -1;
        }
    }
    r->n_messages = i;
    r->messages_json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return r->messages_json ? 0 : bad(e, "messages", "out of memory");
}

/* prompt: a string, an array of one string, an array of token ids, or an array of one such array */
static int parse_prompt(const cJSON *p, r1c_oai_req *r, r1c_oai_error *e) {
    if (!p) return bad(e, "prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && p->child && !p->child->next && (cJSON_IsString(p->child) || cJSON_IsArray(p->child)))
        p = p->child; /* n = 1 prompt */
    else if (cJSON_IsArray(p) && p->child && !cJSON_IsNumber(p->child))
        return bad(e, "prompt", "'prompt' may hold one prompt (several prompts in one request are not supported)");
    if (cJSON_IsString(p)) {
        const char *t;
        if (get_text(p, "prompt", &t, e)) return -1;
        return (r->prompt = dup_text(t, e)) ? 0 : -1;
    }
    if (!cJSON_IsArray(p)) return type_error(e, "prompt", "a string or an array of token ids", p);
    const int n = cJSON_GetArraySize(p);
    if (n == 0) return bad(e, "prompt", "'prompt' must not be empty");
    r->prompt_ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!r->prompt_ids) return bad(e, "prompt", "out of memory");
    int i = 0;
    for (const cJSON *v = p->child; v; v = v->next, i++) {
        char param[32];
        snprintf(param, sizeof param, "prompt[%d]", i);
        int64_t id;
        if (get_int(v, param, 0, 2147483647.0, &id, e)) return -1;
        r->prompt_ids[i] = (int32_t)id;
    }
    r->n_prompt_ids = n;
    return 0;
}

static int parse_stop(const cJSON *s, r1c_oai_req *r, r1c_oai_error *e) {
    if (!s || cJSON_IsNull(s)) return 0;
    if (cJSON_IsString(s)) {
        const char *t;
        if (get_text(s, "stop", &t, e)) return -1;
        if (!*t) return 0; /* an empty stop string matches nothing */
        return (r->stop[r->n_stop++] = dup_text(t, e)) ? 0 : -1;
    }
    if (!cJSON_IsArray(s)) return type_error(e, "stop", "a string or an array of strings", s);
    if (cJSON_GetArraySize(s) > R1C_OAI_MAX_STOP) return bad(e, "stop", "'stop' may hold at most %d sequences", R1C_OAI_MAX_STOP);
    int i = 0;
    for (const cJSON *v = s->child; v; v = v->next, i++) {
        char param[32];
        snprintf(param, sizeof param, "stop[%d]", i);
        const char *t;
        if (get_text(v, param, &t, e)) return -1;
        if (*t && !(r->stop[r->n_stop++] = dup_text(t, e))) return -1;
    }
    return 0;
}

int r1c_oai_parse(r1c_oai_kind kind, const char *body, size_t len, r1c_oai_req *r, r1c_oai_error *e) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->max_tokens = -1;
    r->temperature = 1.0;
    r->top_p = 1.0;
    cJSON *root = r1c_json_parse(body, len);
    if (!root) return bad(e, NULL, "the request body is not valid JSON");
    int rc = -1;
    const cJSON *v;
    if (!cJSON_IsObject(root)) {
        type_error(e, "body", "a JSON object", root);
        goto done;
    }
#define FIELD(name) (v = cJSON_GetObjectItemCaseSensitive(root, name)) != NULL && !cJSON_IsNull(v)
    if (FIELD("model")) {
        const char *t;
        if (get_text(v, "model", &t, e) || !(r->model = dup_text(t, e))) goto done;
    }
    if (kind == R1C_OAI_CHAT ? parse_messages(cJSON_GetObjectItemCaseSensitive(root, "messages"), r, e)
                             : parse_prompt(cJSON_GetObjectItemCaseSensitive(root, "prompt"), r, e))
        goto done;
    if (FIELD("stream") && get_bool(v, "stream", &r->stream, e)) goto done;
    if (FIELD("stream_options")) {
        if (!cJSON_IsObject(v)) {
            type_error(e, "stream_options", "an object", v);
            goto done;
        }
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(v, "include_usage");
        if (u && !cJSON_IsNull(u) && get_bool(u, "stream_options.include_usage", &r->include_usage, e)) goto done;
    }
    if (FIELD("max_tokens") && get_int(v, "max_tokens", 1, 2147483647.0, &r->max_tokens, e)) goto done;
    if (FIELD("max_completion_tokens") && get_int(v, "max_completion_tokens", 1, 2147483647.0, &r->max_tokens, e)) goto done;
    if (FIELD("temperature") && get_num(v, "temperature", 0, 2, &r->temperature, e)) goto done;
    if (FIELD("top_p") && get_num(v, "top_p", 0, 1, &r->top_p, e)) goto done;
    if (FIELD("seed")) {
        int64_t s;
        /* OpenAI takes any 64-bit integer; a double holds them exactly up to 2^53 */
        if (get_int(v, "seed", -9007199254740992.0, 9007199254740992.0, &s, e)) goto done;
        r->has_seed = 1;
        r->seed = (uint64_t)s;
    }
    if (FIELD("n")) {
        int64_t n;
        if (get_int(v, "n", 1, 128, &n, e)) goto done;
        if (n != 1) {
            bad(e, "n", "'n' must be 1 (one choice per request)");
            goto done;
        }
    }
    if (parse_stop(cJSON_GetObjectItemCaseSensitive(root, "stop"), r, e)) goto done;
#undef FIELD
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc) r1c_oai_req_free(r);
    return rc;
}

void r1c_oai_req_free(r1c_oai_req *r) {
    if (!r) return;
    free(r->model);
    cJSON_free(r->messages_json);
    free(r->prompt);
    free(r->prompt_ids);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    const r1c_oai_kind k = r->kind;
    memset(r, 0, sizeof *r);
    r->kind = k;
    r->max_tokens = -1;
}
