/* jinja.h — a Jinja2-subset template interpreter for Hugging Face chat templates.
 *
 * Renders chat templates byte for byte as transformers' apply_chat_template does: jinja2's
 * ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension
 * (break/continue), HF's {% generation %} block, and HF's globals and filters: raise_exception(msg),
 * strftime_now(fmt), and tojson = json.dumps(x, ensure_ascii=False, indent=..., separators=...,
 * sort_keys=...).
 *
 *     r1c_jinja *t;
 *     if (r1c_jinja_compile(src, len, "chat_template", &t) != R1C_OK) ... r1c_last_error()
 *     char *text; size_t n;
 *     if (r1c_jinja_render(t, ctx, &text, &n) == R1C_OK) { ...; free(text); }
 *     r1c_jinja_free(t);
 *
 * Errors (syntax, unknown filter or test, type errors, raise_exception) return R1C_ERR_FORMAT,
 * features of Jinja that are not implemented (extends, include, import, ...) R1C_ERR_UNSUPPORTED;
 * the message names the template and the line: "chat_template:3: unknown filter 'frobnicate'".
 * Hostile templates and contexts get an error, never a crash or a hang: nesting depth, output
 * size, memory and the number of evaluation steps are capped.
 *
 * A compiled template is read-only: several threads may render it at once.
 */
#ifndef R1C_TOKENIZER_JINJA_H
#define R1C_TOKENIZER_JINJA_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "r1c.h"

typedef struct r1c_jinja r1c_jinja; /* a compiled template */

/* Compiles src[0..len) (need not be NUL-terminated). name ("chat_template") is used in messages. */
r1c_status r1c_jinja_compile(const char *src, size_t len, const char *name, r1c_jinja **out);

/* Renders with the members of the JSON object ctx as the template's variables (messages,
 * add_generation_prompt, bos_token, tools, ...; ctx may be NULL). JSON maps to Jinja values:
 * string, number (an int when integral), true/false, null = none, array = list,
 * object = dict (key order kept); names absent from ctx are undefined.
 * *out is malloc'd and NUL-terminated; *out_len (may be NULL) excludes the NUL. */
r1c_status r1c_jinja_render(const r1c_jinja *t, const cJSON *ctx, char **out, size_t *out_len);

void r1c_jinja_free(r1c_jinja *t);

#endif
