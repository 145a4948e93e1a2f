/* utf8.h — UTF-8 checks and the lossy conversion of from_utf8_lossy (maximal subparts). */
#ifndef R1C_TOKENIZER_UTF8_H
#define R1C_TOKENIZER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one well-formed character at s: its length (1-4), or -1 if s does not start one. */
int r1c_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Offset of the first byte that is not part of a well-formed character, or n if all are. */
size_t r1c_utf8_check(const char *s, size_t n);
/* A copy with each maximal ill-formed subpart replaced by U+FFFD (Unicode 3.9, W3C), NUL-ended. */
char *r1c_utf8_lossy(const char *s, size_t n, size_t *out_len);
/* Length of a trailing incomplete-but-valid-so-far character (0-3): bytes to hold back. */
size_t r1c_utf8_incomplete_tail(const char *s, size_t n);

#endif
