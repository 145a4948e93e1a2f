/* error.c — thread-local last-error message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define R1C_ERRMSG_MAX 1024

static _Thread_local char g_msg[R1C_ERRMSG_MAX];

/* Messages are one line: control characters (from file names or hostile input) become '?'. */
static void sanitize(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

r1c_status r1c_error(r1c_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    sanitize(g_msg);
    return st;
}

void r1c_error_prefix(const char *fmt, ...) {
    char pre[R1C_ERRMSG_MAX], old[R1C_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t n = strlen(pre);
    if (n >= sizeof g_msg) n = sizeof g_msg - 1;
    memcpy(g_msg, pre, n);
    size_t m = strlen(old);
    if (m > sizeof g_msg - 1 - n) m = sizeof g_msg - 1 - n;
    memcpy(g_msg + n, old, m);
    g_msg[n + m] = 0;
    sanitize(g_msg);
}

void r1c_error_clear(void) { g_msg[0] = 0; }

const char *r1c_last_error(void) { return g_msg; }

const char *r1c_status_string(r1c_status st) {
    switch (st) {
    case R1C_OK: return "ok";
    case R1C_ERR_INVALID_ARG: return "invalid argument";
    case R1C_ERR_IO: return "I/O error";
    case R1C_ERR_FORMAT: return "format error";
    case R1C_ERR_UNSUPPORTED: return "unsupported";
    case R1C_ERR_NOMEM: return "out of memory";
    case R1C_ERR_MISSING: return "missing";
    case R1C_ERR_CONTEXT_FULL: return "context full";
    }
    return "unknown status";
}

const char *r1c_version(void) { return R1C_VERSION; }
