/* test_oai.c — OpenAI request bodies (src/serve/oai.c): what a client sends is read into the
 * engine's terms; every malformed or hostile body gets a 400 whose "param" names the field, and
 * nothing else (unknown fields ignored, as OpenAI does). */
#include <math.h>

#include "io/json.h"
#include "serve/oai.h"
#include "test_util.h"

static int parse(r1c_oai_kind k, const char *body, r1c_oai_req *r, r1c_oai_error *e) {
    return r1c_oai_parse(k, body, strlen(body), r, e);
}

/* the body is refused with a 400 naming param (NULL: none) and a message containing msg */
static void refused(r1c_oai_kind k, const char *body, const char *param, const char *msg) {
    r1c_oai_req r;
    r1c_oai_error e;
    memset(&e, 0, sizeof e);
    const int rc = parse(k, body, &r, &e);
    CHECK(rc == -1 && e.http_status == 400 && !strcmp(e.type, "invalid_request_error"), "accepted: %.80s", body);
    if (rc != -1) {
        r1c_oai_req_free(&r);
        return;
    }
    CHECK(!strcmp(e.param, param ? param : ""), "%.60s: param '%s', want '%s'", body, e.param, param ? param : "");
    CHECK(contains(e.message, msg), "%.60s: message '%s' lacks '%s'", body, e.message, msg);
    CHECK(r.messages_json == NULL && r.prompt == NULL && r.n_stop == 0, "%.60s: a refused request keeps allocations", body);
}

static void test_chat_ok(void) {
    r1c_oai_req r;
    r1c_oai_error e;
    const char *body = "{\"model\":\"r1c\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is \"},{\"type\":\"text\",\"text\":\"2+2?\"}]},"
                       "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"hm\"},{\"role\":\"user\",\"content\":\"ok\"}],"
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":64,\"max_completion_tokens\":32,"
                       "\"temperature\":0.6,\"top_p\":0.95,\"seed\":-7,\"n\":1,\"stop\":[\"\\n\\n\",\"\",\"END\"],"
                       "\"frequency_penalty\":0,\"logprobs\":false,\"some_future_field\":{\"x\":[1,2]}}";
    CHECK(parse(R1C_OAI_CHAT, body, &r, &e) == 0, "full chat request refused: %s (%s)", e.message, e.param);
    CHECK(r.model && !strcmp(r.model, "r1c"), "model");
    CHECK(r.stream == 1 && r.include_usage == 1, "stream flags");
    CHECK(r.max_tokens == 32, "max_completion_tokens wins: %lld", (long long)r.max_tokens);
    CHECK(r.temperature == 0.6 && r.top_p == 0.95, "sampling");
    CHECK(r.has_seed && (int64_t)r.seed == -7, "seed");
    CHECK(r.n_stop == 2 && !strcmp(r.stop[0], "\n\n") && !strcmp(r.stop[1], "END"), "stop (empty dropped): %d", r.n_stop);
    CHECK(r.n_messages == 4, "messages: %d", r.n_messages);
    cJSON *m = r.messages_json ? r1c_json_parse(r.messages_json, strlen(r.messages_json)) : NULL;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(m, "messages");
    CHECK(cJSON_GetArraySize(arr) == 4, "normalised messages");
    const char *want[4][2] = {{"system", "Be brief."}, {"user", "What is 2+2?"}, {"assistant", ""}, {"user", "ok"}};
    for (int i = 0; i < 4 && cJSON_GetArraySize(arr) == 4; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role"), *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        CHECK(cJSON_IsString(role) && !strcmp(role->valuestring, want[i][0]), "message %d role", i);
        CHECK(cJSON_IsString(content) && !strcmp(content->valuestring, want[i][1]), "message %d content '%s'", i,
              cJSON_IsString(content) ? content->valuestring : "?");
        CHECK(!cJSON_GetObjectItemCaseSensitive(it, "reasoning_content"), "message %d keeps reasoning_content", i);
    }
    cJSON_Delete(m);
    r1c_oai_req_free(&r);

    /* defaults */
    CHECK(parse(R1C_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"seed\":null,\"stop\":null}", &r, &e) == 0,
          "minimal chat: %s", e.message);
    CHECK(r.max_tokens == -1 && r.temperature == 1.0 && r.top_p == 1.0 && !r.has_seed && !r.stream && !r.model && r.n_stop == 0,
          "defaults");
    r1c_oai_req_free(&r);
}

static void test_completion_ok(void) {
    r1c_oai_req r;
    r1c_oai_error e;
    CHECK(parse(R1C_OAI_COMPLETION, "{\"prompt\":\"Once\",\"max_tokens\":5,\"stop\":\"\\n\"}", &r, &e) == 0, "%s", e.message);
    CHECK(r.prompt && !strcmp(r.prompt, "Once") && r.max_tokens == 5 && r.n_stop == 1, "string prompt");
    r1c_oai_req_free(&r);
    CHECK(parse(R1C_OAI_COMPLETION, "{\"prompt\":[\"Twice\"]}", &r, &e) == 0 && r.prompt && !strcmp(r.prompt, "Twice"),
          "[string] prompt");
    r1c_oai_req_free(&r);
    CHECK(parse(R1C_OAI_COMPLETION, "{\"prompt\":[1,2,300000]}", &r, &e) == 0 && r.n_prompt_ids == 3 && r.prompt_ids[2] == 300000,
          "token-id prompt");
    r1c_oai_req_free(&r);
    CHECK(parse(R1C_OAI_COMPLETION, "{\"prompt\":[[5,6]]}", &r, &e) == 0 && r.n_prompt_ids == 2 && r.prompt_ids[0] == 5,
          "[[ids]] prompt");
    r1c_oai_req_free(&r);
}

static void test_refused(void) {
    const r1c_oai_kind C = R1C_OAI_CHAT, P = R1C_OAI_COMPLETION;
    /* not JSON, not an object */
    refused(C, "", NULL, "not valid JSON");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]", NULL, "not valid JSON"); /* truncated */
    refused(C, "{\"messages\":[]} {}", NULL, "not valid JSON");                                   /* two values */
    refused(C, "[1,2]", "body", "must be a JSON object");
    refused(C, "\"hi\"", "body", "must be a JSON object");
    /* messages */
    refused(C, "{}", "messages", "is required");
    refused(C, "{\"messages\":{}}", "messages", "must be an array");
    refused(C, "{\"messages\":[]}", "messages", "must not be empty");
    refused(C, "{\"messages\":[\"hi\"]}", "messages[0]", "must be an object");
    refused(C, "{\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role", "must be a string, got nothing");
    refused(C, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", "messages[0].role", "must be one of");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content", "a string or an array");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
            "messages[0].content[0].type", "not supported");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "messages[0].content[0].text",
            "must be a string");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":[7]}]}", "messages[0].content[0]", "must be an object");
    /* invalid UTF-8 (an overlong '/', a lone continuation byte, a truncated 3-byte character) */
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\xC0\xAF\"}]}", "messages[0].content", "not valid UTF-8");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"\x80\"}]}",
            "messages[1].content", "not valid UTF-8");
    refused(C, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":\"\xE2\x82\"}", "stop", "not valid UTF-8");
    /* wrong types and ranges */
    const char *M = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    char b[512];
#define R(field, param, msg)                                        \
    snprintf(b, sizeof b, "{%s,%s}", M, field);                     \
    refused(C, b, param, msg)
    R("\"max_tokens\":-1", "max_tokens", "between 1 and");
    R("\"max_tokens\":0", "max_tokens", "between 1 and");
    R("\"max_tokens\":2.5", "max_tokens", "must be an integer");
    R("\"max_tokens\":1e300", "max_tokens", "between 1 and");
    R("\"max_tokens\":\"10\"", "max_tokens", "must be an integer, got a string");
    R("\"max_completion_tokens\":true", "max_completion_tokens", "got a boolean");
    R("\"temperature\":\"hot\"", "temperature", "must be a number, got a string");
    R("\"temperature\":2.5", "temperature", "between 0 and 2");
    R("\"top_p\":-0.1", "top_p", "between 0 and 1");
    R("\"seed\":1.5", "seed", "must be an integer");
    R("\"seed\":1e30", "seed", "between");
    R("\"n\":2", "n", "must be 1");
    R("\"n\":\"1\"", "n", "got a string");
    R("\"stream\":\"yes\"", "stream", "must be a boolean");
    R("\"stream_options\":[]", "stream_options", "must be an object");
    R("\"stream_options\":{\"include_usage\":1}", "stream_options.include_usage", "must be a boolean");
    R("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop", "at most 4");
    R("\"stop\":[\"a\",3]", "stop[1]", "must be a string");
    R("\"stop\":{}", "stop", "a string or an array");
    R("\"model\":7", "model", "must be a string");
#undef R
    /* completions */
    refused(P, "{}", "prompt", "is required");
    refused(P, "{\"prompt\":[]}", "prompt", "must not be empty");
    refused(P, "{\"prompt\":[\"a\",\"b\"]}", "prompt", "one prompt");
    refused(P, "{\"prompt\":[1,-2]}", "prompt[1]", "between 0 and");
    refused(P, "{\"prompt\":[1,\"x\"]}", "prompt[1]", "must be an integer");
    refused(P, "{\"prompt\":{}}", "prompt", "a string or an array of token ids");
}

/* hostile shapes: deep nesting (cJSON's limit is 1000 levels: refused, not a stack overflow),
 * 10,000 messages (accepted: the context check is the engine's), a 1 MB string */
static void test_hostile(void) {
    const int depth = 5000;
    char *deep = xmalloc((size_t)depth * 2 + 64);
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"messages\":");
    for (int i = 0; i < depth; i++) deep[n++] = '[';
    for (int i = 0; i < depth; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = 0;
    refused(R1C_OAI_CHAT, deep, NULL, "not valid JSON");
    free(deep);

    const int nm = 10000;
    char *many = xmalloc((size_t)nm * 40 + 64);
    n = (size_t)sprintf(many, "{\"messages\":[");
    for (int i = 0; i < nm; i++) n += (size_t)sprintf(many + n, "%s{\"role\":\"user\",\"content\":\"m%d\"}", i ? "," : "", i);
    n += (size_t)sprintf(many + n, "]}");
    r1c_oai_req r;
    r1c_oai_error e;
    CHECK(r1c_oai_parse(R1C_OAI_CHAT, many, n, &r, &e) == 0 && r.n_messages == nm, "10000 messages: %s", e.message);
    r1c_oai_req_free(&r);
    free(many);

    const size_t big = 1 << 20;
    char *s = xmalloc(big + 64);
    n = (size_t)sprintf(s, "{\"prompt\":\"");
    memset(s + n, 'a', big);
    n += big;
    n += (size_t)sprintf(s + n, "\"}");
    CHECK(r1c_oai_parse(R1C_OAI_COMPLETION, s, n, &r, &e) == 0 && r.prompt && strlen(r.prompt) == big, "1 MB prompt");
    r1c_oai_req_free(&r);
    /* an embedded NUL ends the text for cJSON's C strings: the body length is what counts */
    CHECK(r1c_oai_parse(R1C_OAI_COMPLETION, "{\"prompt\":\"a\"}\0garbage", 23, &r, &e) == -1, "bytes after a NUL are read");
    free(s);
}

static void test_error_json(void) {
    r1c_oai_error e;
    r1c_oai_error_set(&e, 400, "invalid_request_error", "max_tokens", "'max_tokens' must be between 1 and %d, got %d", 10, -1);
    char *j = r1c_oai_error_json(&e);
    cJSON *v = j ? r1c_json_parse(j, strlen(j)) : NULL;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(v, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message"), *type = cJSON_GetObjectItemCaseSensitive(o, "type"),
                *param = cJSON_GetObjectItemCaseSensitive(o, "param"), *code = cJSON_GetObjectItemCaseSensitive(o, "code");
    CHECK(cJSON_IsString(msg) && !strcmp(msg->valuestring, "'max_tokens' must be between 1 and 10, got -1"), "error message");
    CHECK(cJSON_IsString(type) && !strcmp(type->valuestring, "invalid_request_error"), "error type");
    CHECK(cJSON_IsString(param) && !strcmp(param->valuestring, "max_tokens") && cJSON_IsNull(code), "param / code");
    cJSON_Delete(v);
    free(j);
    r1c_oai_error_set(&e, 400, "invalid_request_error", NULL, "bad \"quote\"\n");
    j = r1c_oai_error_json(&e);
    v = j ? r1c_json_parse(j, strlen(j)) : NULL;
    o = cJSON_GetObjectItemCaseSensitive(v, "error");
    CHECK(o && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "param")) &&
              !strcmp(cJSON_GetObjectItemCaseSensitive(o, "message")->valuestring, "bad \"quote\"\n"),
          "no param: null; message escaped");
    cJSON_Delete(v);
    free(j);
}

int main(void) {
    test_chat_ok();
    test_completion_ok();
    test_refused();
    test_hostile();
    test_error_json();
    return test_summary("test_oai");
}
