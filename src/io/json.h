/* json.h — cJSON with the strictness of a JSON document. */
#ifndef R1C_IO_JSON_H
#define R1C_IO_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* cJSON stops after the first value and ignores what follows; a JSON document (and Python's
 * json.load) allows only whitespace there, so "{...} }" or two files pasted together are
 * rejected rather than half read. NULL if `text` is not exactly one JSON value. */
cJSON *r1c_json_parse(const char *text, size_t len);

/* "a string", "a number", ... for messages ("must be an integer, got a string"). */
const char *r1c_json_type_name(const cJSON *v);

#endif
