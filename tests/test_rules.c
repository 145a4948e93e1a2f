/* test_rules.c — forbidden-pattern rules (src/train/rules.h): how many rules a text breaks,
 * multi-line patterns with back references (a line said twice), invalid UTF-8 in a model's
 * output matched rather than refused, a catastrophic pattern stopped by the match limit, the
 * rules file (comments, blank lines, CRLF), and errors that name the file, rule and offset. */
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "train/rules.h"

static int broken(const r1c_rules *r, const char *text) {
    int n = -1;
    const r1c_status st = r1c_rules_check(r, text, strlen(text), &n);
    return st == R1C_OK ? n : -100;
}

int main(void) {
    const char *pat[] = {"(?m)^(.+)\\n\\1$", "(?i)\\bguess\\b", "é"};
    r1c_rules *r = NULL;
    CHECK(r1c_rules_new(pat, 3, "test", &r) == R1C_OK && r1c_rules_count(r) == 3, "compile: %s", r1c_last_error());
    CHECK(!strcmp(r1c_rules_pattern(r, 1), pat[1]) && !r1c_rules_pattern(r, 3), "patterns kept");
    CHECK(broken(r, "5 * 3 = 15\nAnswer: 15") == 0, "a clean trace");
    CHECK(broken(r, "5 * 3 = 10\n5 * 3 = 10\nAnswer: 10") == 1, "a line twice in a row");
    CHECK(broken(r, "a\nb\na") == 0, "a line repeated, not in a row");
    CHECK(broken(r, "x = 1\nx = 12") == 0, "a line that only starts like the one before");
    CHECK(broken(r, "I Guess 3\n3\n3") == 2, "two rules at once");
    CHECK(broken(r, "guesswork") == 0, "word boundaries");
    CHECK(broken(r, "caf\xc3\xa9") == 1 && broken(r, "caf\xe9 \xff\xfe guess") == 1, "UTF-8 patterns; invalid UTF-8 in the text is matched");
    r1c_rules_free(r);

    const char *slow[] = {"^(a+)+$"};
    char text[64];
    memset(text, 'a', 40), text[40] = 'b', text[41] = 0;
    CHECK(r1c_rules_new(slow, 1, "test", &r) == R1C_OK, "compile");
    int n = 0;
    const r1c_status st = r1c_rules_check(r, text, strlen(text), &n);
    CHECK(st == R1C_OK ? n == 0 : strstr(r1c_last_error(), "rule 1") != NULL, "catastrophic backtracking: no hang (%s)", r1c_last_error());
    r1c_rules_free(r);

    const char *bad[] = {"ok", "a(b"};
    r = (r1c_rules *)1;
    CHECK(r1c_rules_new(bad, 2, "cfg.json: \"forbidden\"", &r) == R1C_ERR_FORMAT && r == NULL, "a bad pattern is refused");
    CHECK(strstr(r1c_last_error(), "cfg.json: \"forbidden\": rule 2: bad pattern at offset 3") != NULL, "message: %s", r1c_last_error());

    const char *path = "/tmp/r1c_test_rules.txt";
    FILE *f = fopen(path, "wb");
    fputs("# forbidden\r\n\r\n(?m)^(.+)\\n\\1$\r\nguess\n", f);
    fclose(f);
    CHECK(r1c_rules_load(path, &r) == R1C_OK && r1c_rules_count(r) == 2, "file: %s", r1c_last_error());
    CHECK(r && !strcmp(r1c_rules_pattern(r, 1), "guess") && broken(r, "guess\nguess") == 2, "file rules");
    r1c_rules_free(r);
    f = fopen(path, "wb");
    fputs("fine\n[z-a]\n", f);
    fclose(f);
    CHECK(r1c_rules_load(path, &r) == R1C_ERR_FORMAT && strstr(r1c_last_error(), "r1c_test_rules.txt: rule 2: bad pattern"),
          "bad file: %s", r1c_last_error());
    f = fopen(path, "wb");
    fwrite("a\0b\n", 1, 4, f);
    fclose(f);
    CHECK(r1c_rules_load(path, &r) == R1C_ERR_FORMAT && strstr(r1c_last_error(), "line 1: a NUL byte"), "NUL: %s", r1c_last_error());
    CHECK(r1c_rules_load("/nonexistent/rules", &r) == R1C_ERR_IO && strstr(r1c_last_error(), "/nonexistent/rules: cannot open"),
          "missing file");
    remove(path);
    return test_summary("test_rules");
}
