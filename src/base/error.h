/* error.h — status codes travel up; the message of the first failure is kept per thread. */
#ifndef R1C_BASE_ERROR_H
#define R1C_BASE_ERROR_H

#include "r1c.h"

#if defined(__GNUC__)
#define R1C_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define R1C_PRINTF(a, b)
#endif

/* Records a one-line message for r1c_last_error() and returns st, so callers write
 *     return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': ...", path, name);            */
r1c_status r1c_error(r1c_status st, const char *fmt, ...) R1C_PRINTF(2, 3);

/* Puts a prefix in front of the current message ("loading DIR: " + message). */
void r1c_error_prefix(const char *fmt, ...) R1C_PRINTF(1, 2);

void r1c_error_clear(void);

#endif
