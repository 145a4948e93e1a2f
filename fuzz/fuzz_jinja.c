/* fuzz_jinja.c — libFuzzer target for the chat template interpreter.
 *
 * Input: template source, a NUL byte, then a JSON context (no NUL: the whole input is the
 * template, rendered with an empty context). A template that compiles is rendered when the
 * context is a JSON object. Any failure must leave a message; a crash, leak, hang or unbounded
 * memory is what the fuzzer looks for. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "r1c.h"
#include "tokenizer/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t src_len = nul ? (size_t)(nul - data) : size;
    r1c_jinja *t;
    if (r1c_jinja_compile(src, src_len, "fuzz", &t) != R1C_OK) {
        if (!r1c_last_error()[0]) abort();
        return 0;
    }
    cJSON *ctx = NULL;
    if (nul) {
        ctx = cJSON_ParseWithLength((const char *)nul + 1, size - src_len - 1);
        if (!cJSON_IsObject(ctx)) {
            cJSON_Delete(ctx);
            r1c_jinja_free(t);
            return 0;
        }
    }
    char *out = NULL;
    size_t n = 0;
    r1c_error_clear();
    r1c_status st = r1c_jinja_render(t, ctx, &out, &n);
    if (st == R1C_OK && (!out || out[n] != 0)) abort();
    if (st != R1C_OK && (out || !r1c_last_error()[0])) abort();
    free(out);
    cJSON_Delete(ctx);
    r1c_jinja_free(t);
    return 0;
}
