/* fuzz_oai.c — libFuzzer target for OpenAI request bodies (src/serve/oai.c).
 *
 * Every input is read both as a chat and as a completion request. Accepted: the normalised
 * messages are one JSON object with n_messages entries whose strings are UTF-8, the prompt or
 * its ids are there, the numbers are in their ranges. Refused: a 400 with a message. Anything
 * else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "serve/oai.h"
#include "tokenizer/utf8.h"

static int utf8(const char *s) { return r1c_utf8_check(s, strlen(s)) == strlen(s); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int k = 0; k < 2; k++) {
        r1c_oai_req r;
        r1c_oai_error e;
        if (r1c_oai_parse(k ? R1C_OAI_COMPLETION : R1C_OAI_CHAT, (const char *)data, size, &r, &e) != 0) {
            if (e.http_status != 400 || !e.message[0] || r.messages_json || r.prompt || r.prompt_ids) abort();
            char *j = r1c_oai_error_json(&e);
            cJSON *v = j ? r1c_json_parse(j, strlen(j)) : NULL;
            if (!v) abort();
            cJSON_Delete(v);
            free(j);
            continue;
        }
        if (r.max_tokens != -1 && r.max_tokens < 1) abort();
        if (!(r.temperature >= 0 && r.temperature <= 2) || !(r.top_p >= 0 && r.top_p <= 1)) abort();
        if (r.n_stop < 0 || r.n_stop > R1C_OAI_MAX_STOP) abort();
        for (int i = 0; i < r.n_stop; i++)
            if (!r.stop[i][0] || !utf8(r.stop[i])) abort();
        if (k == 0) {
            cJSON *m = r1c_json_parse(r.messages_json, strlen(r.messages_json));
            const cJSON *arr = cJSON_GetObjectItemCaseSensitive(m, "messages");
            if (!m || cJSON_GetArraySize(arr) != r.n_messages || r.n_messages < 1) abort();
            for (const cJSON *it = arr->child; it; it = it->next) {
                const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role"), *c = cJSON_GetObjectItemCaseSensitive(it, "content");
                if (!cJSON_IsString(role) || !cJSON_IsString(c) || !utf8(c->valuestring)) abort();
            }
            cJSON_Delete(m);
        } else if (!(r.prompt ? utf8(r.prompt) : r.n_prompt_ids > 0)) {
            abort();
        }
        r1c_oai_req_free(&r);
    }
    return 0;
}
