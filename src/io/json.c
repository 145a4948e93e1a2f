/* json.c — see json.h. */
#include "json.h"

cJSON *r1c_json_parse(const char *text, size_t len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    while (root && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (root && end != text + len) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
