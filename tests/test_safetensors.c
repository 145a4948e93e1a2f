/* test_safetensors.c — the safetensors reader against hostile and broken files.
 *
 * Files are built byte by byte here (8-byte little-endian header length, JSON, data) so that
 * each one is broken in exactly one way. Every rejection must carry the right status and a
 * message that names the file, the tensor (when one is involved) and the problem: that line
 * is all a user gets when a multi-gigabyte download is damaged. */
#include <stdarg.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "r1c.h"
#include "test_util.h"

static char g_dir[1024];

/* ------------------------------------------------------------------ helpers */

#define JSON_LEN UINT64_MAX

/* A file image: `declared` as the header length (JSON_LEN: the JSON's own length), the JSON
 * text, then data_len bytes of data (0, 1, 2, ... mod 251 so misplaced reads show). */
static uint8_t *image(uint64_t declared, const char *json, size_t data_len, size_t *len) {
    size_t jl = strlen(json);
    uint64_t n = declared == JSON_LEN ? jl : declared;
    *len = 8 + jl + data_len;
    uint8_t *p = malloc(*len ? *len : 1);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(n >> (8 * i));
    memcpy(p + 8, json, jl);
    for (size_t i = 0; i < data_len; i++) p[8 + jl + i] = (uint8_t)(i % 251);
    return p;
}

static const char *path_in(const char *sub, const char *name) {
    static char buf[4][1200];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s%s%s/%s", g_dir, sub[0] ? "/" : "", sub, name);
    return p;
}

static const char *subdir(const char *name) {
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    mkdir(p, 0755);
    return p;
}

/* The error of the last call holds the file, the status is right, and every phrase is there. */
static void check_error(int line, const char *how, r1c_status got, r1c_status want,
                        const char *file, const char *const *subs) {
    const char *msg = r1c_last_error();
    CHECK(got == want, "line %d (%s): status %s, want %s; message: %s", line, how,
          r1c_status_string(got), r1c_status_string(want), msg);
    if (got == R1C_OK) return;
    CHECK(contains(msg, file), "line %d (%s): message does not name %s: %s", line, how, file, msg);
    for (int i = 0; subs[i]; i++)
        CHECK(contains(msg, subs[i]), "line %d (%s): message lacks \"%s\": %s", line, how,
              subs[i], msg);
    CHECK(!strchr(msg, '\n'), "line %d (%s): message is not one line", line, how);
}

/* Feeds a bad image to r1c_st_parse (in memory) and to r1c_st_open_file (read and mapped). */
static void expect_bad(int line, const uint8_t *bytes, size_t len, r1c_status want,
                       const char *const *subs) {
    r1c_st_header h;
    r1c_status st = r1c_st_parse("mem.safetensors", bytes, len, len, &h);
    check_error(line, "parse", st, want, "mem.safetensors", subs);
    if (st == R1C_OK) r1c_st_header_free(&h);
    CHECK(h.entries == NULL && h.n == 0, "line %d: header not cleared after failure", line);

    char name[64];
    snprintf(name, sizeof name, "bad_%d.safetensors", line);
    const char *path = path_in("", name);
    CHECK(write_file(path, bytes, len), "write %s", path);
    for (int mm = 0; mm < 2; mm++) {
        r1c_st_set s;
        st = r1c_st_open_file(path, mm, &s);
        check_error(line, mm ? "open mmap" : "open read", st, want, path, subs);
        r1c_st_close(&s);
    }
}

#define SUBS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* BAD(status, header JSON, data bytes, phrases...) */
#define BAD(want, json, data_len, ...)                                                  \
    do {                                                                                \
        size_t len_;                                                                    \
        uint8_t *img_ = image(JSON_LEN, json, data_len, &len_);                         \
        expect_bad(__LINE__, img_, len_, want, SUBS(__VA_ARGS__));                      \
        free(img_);                                                                     \
    } while (0)

/* Parses a good image; returns the number of tensors (-1 on failure). */
static int expect_good(int line, const char *json, size_t data_len) {
    size_t len;
    uint8_t *img = image(JSON_LEN, json, data_len, &len);
    r1c_st_header h;
    r1c_status st = r1c_st_parse("mem.safetensors", img, len, len, &h);
    CHECK(st == R1C_OK, "line %d: rejected: %s", line, r1c_last_error());
    int n = st == R1C_OK ? h.n : -1;
    if (st == R1C_OK) {
        CHECK(h.data_start == 8 + strlen(json) && h.data_size == data_len,
              "line %d: data area [%llu, +%llu)", line, (unsigned long long)h.data_start,
              (unsigned long long)h.data_size);
        r1c_st_header_free(&h);
    }
    free(img);
    return n;
}

/* A one-tensor header: name w, the given fields spliced in verbatim. */
static const char *one(const char *fields) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "{\"w\": {%s}}", fields);
    return buf;
}

/* ------------------------------------------------------------- the header */

static void test_framing(void) {
    /* shorter than the length field itself */
    static const uint8_t five[5] = {2, 0, 0, 0, 0};
    expect_bad(__LINE__, five, sizeof five, R1C_ERR_FORMAT, SUBS("5 bytes", "too short"));
    expect_bad(__LINE__, five, 0, R1C_ERR_FORMAT, SUBS("0 bytes", "too short"));

    size_t len;
    uint8_t *img = image(100, "{}", 10, &len); /* claims 100 header bytes, has 12 */
    expect_bad(__LINE__, img, len, R1C_ERR_FORMAT, SUBS("header length 100", "past the end"));
    free(img);
    img = image(UINT64_MAX - 3, "{}", 0, &len); /* 8 + N would wrap */
    expect_bad(__LINE__, img, len, R1C_ERR_FORMAT, SUBS("over the", "limit"));
    free(img);
    img = image((uint64_t)R1C_ST_MAX_HEADER + 1, "{}", 0, &len);
    expect_bad(__LINE__, img, len, R1C_ERR_FORMAT, SUBS("header length 104857601", "limit"));
    free(img);
    img = image(1, "{", 0, &len); /* a header of one byte cannot be an object */
    expect_bad(__LINE__, img, len, R1C_ERR_FORMAT, SUBS("does not start with a JSON object"));
    free(img);
    img = image(0, "", 0, &len);
    expect_bad(__LINE__, img, len, R1C_ERR_FORMAT, SUBS("does not start with a JSON object"));
    free(img);
    /* the header length is honoured: JSON cut short by it is invalid */
    img = image(5, "{\"a\": {}}", 0, &len);
    expect_bad(__LINE__, img, len, R1C_ERR_FORMAT, SUBS("not valid JSON"));
    free(img);

    BAD(R1C_ERR_FORMAT, "[1, 2]", 0, "does not start with a JSON object"); /* root an array */
    BAD(R1C_ERR_FORMAT, " {}", 0, "does not start with a JSON object");
    BAD(R1C_ERR_FORMAT, "\"{}\"", 0, "does not start with a JSON object");
    BAD(R1C_ERR_FORMAT, "{\"w\": }", 0, "not valid JSON");
    BAD(R1C_ERR_FORMAT, "{\"w\": {\"dtype\": \"F32\"", 0, "not valid JSON");
    BAD(R1C_ERR_FORMAT, "{'w': 1}", 0, "not valid JSON");
    BAD(R1C_ERR_FORMAT, "{} x", 0, "trailing bytes");
    BAD(R1C_ERR_FORMAT, "{}{}", 0, "trailing bytes");
    BAD(R1C_ERR_FORMAT, "{}   }", 0, "trailing bytes");

    /* writers pad the header with spaces to a multiple of 8 */
    CHECK(expect_good(__LINE__, "{}", 0) == 0, "empty header");
    CHECK(expect_good(__LINE__, "{}      ", 0) == 0, "space padding");
    CHECK(expect_good(__LINE__, "{} \n\t\r ", 0) == 0, "whitespace padding");
    CHECK(expect_good(__LINE__, "{\"__metadata__\": {\"format\": \"pt\"}}   ", 3) == 0,
          "metadata only, data nobody uses");
}

static void test_entries(void) {
    BAD(R1C_ERR_FORMAT, "{\"w\": [1, 2]}", 0, "tensor 'w'", "expected an object, got an array");
    BAD(R1C_ERR_FORMAT, "{\"w\": \"F32\"}", 0, "tensor 'w'", "expected an object, got a string");
    BAD(R1C_ERR_FORMAT, "{\"w\": null}", 0, "tensor 'w'", "expected an object, got null");

    /* dtype */
    BAD(R1C_ERR_FORMAT, one("\"shape\": [1], \"data_offsets\": [0, 4]"), 4, "tensor 'w'",
        "'dtype' must be a string, got nothing");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]"), 4,
        "tensor 'w'", "'dtype' must be a string, got a number");
    BAD(R1C_ERR_UNSUPPORTED, one("\"dtype\": \"F7\", \"shape\": [1], \"data_offsets\": [0, 4]"),
        4, "tensor 'w'", "unknown dtype 'F7'");
    BAD(R1C_ERR_UNSUPPORTED, one("\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]"),
        4, "tensor 'w'", "unknown dtype 'f32'");

    /* shape */
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"data_offsets\": [0, 4]"), 4, "tensor 'w'",
        "'shape' must be an array, got nothing");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]"), 4,
        "tensor 'w'", "'shape' must be an array, got a number");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": {}, \"data_offsets\": [0, 4]"), 4,
        "tensor 'w'", "'shape' must be an array, got an object");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1, -1], \"data_offsets\": [0, 4]"),
        4, "tensor 'w'", "shape[1] is not a non-negative integer");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]"), 4,
        "tensor 'w'", "shape[0] is not a non-negative integer");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]"),
        4, "tensor 'w'", "shape[0] is not a non-negative integer");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1e300], \"data_offsets\": [0, 4]"),
        4, "tensor 'w'", "shape[0] is not a non-negative integer");
    /* 2^32 cubed does not fit 64 bits; neither does it times the element size */
    BAD(R1C_ERR_FORMAT,
        one("\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
            "\"data_offsets\": [0, 4]"),
        4, "tensor 'w'", "shape product overflows");
    BAD(R1C_ERR_FORMAT,
        one("\"dtype\": \"F64\", \"shape\": [4294967296, 1073741824], \"data_offsets\": [0, 8]"),
        8, "tensor 'w'", "needs");
    BAD(R1C_ERR_UNSUPPORTED,
        one("\"dtype\": \"U8\", \"shape\": [1, 1, 1, 1, 1, 1, 1, 1, 1], \"data_offsets\": [0, 1]"),
        1, "tensor 'w'", "9 dimensions");

    /* data_offsets */
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1]"), 4, "tensor 'w'",
        "'data_offsets' must be an array of two integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]"), 4,
        "tensor 'w'", "'data_offsets' must be an array of two integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]"),
        8, "tensor 'w'", "'data_offsets' must be an array of two integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": \"0-4\""), 4,
        "tensor 'w'", "'data_offsets' must be an array of two integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]"), 4,
        "tensor 'w'", "data_offsets are not non-negative integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.5]"), 8,
        "tensor 'w'", "data_offsets are not non-negative integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, null]"), 4,
        "tensor 'w'", "data_offsets are not non-negative integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]"), 8,
        "tensor 'w'", "[8, 4] run backwards");
    BAD(R1C_ERR_FORMAT,
        one("\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [18446744073709551612, "
            "18446744073709551616]"),
        8, "tensor 'w'", "not non-negative integers");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]"), 4,
        "tensor 'w'", "end outside the data area", "truncated");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [5, 5]"), 4,
        "tensor 'w'", "end outside the data area");

    /* the byte range must be exactly what dtype x shape needs */
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]"), 8,
        "tensor 'w'", "F32 shape of 3 elements needs 12 bytes, but data_offsets give 8");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [0, 16]"),
        16, "tensor 'w'", "BF16 shape of 4 elements needs 8 bytes, but data_offsets give 16");
    BAD(R1C_ERR_FORMAT, one("\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 0]"), 4,
        "tensor 'w'", "needs 4 bytes");

    /* the error names the tensor that is wrong, not its neighbour */
    BAD(R1C_ERR_FORMAT,
        "{\"good\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}, "
        "\"bad.one\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [2, 4]}}",
        4, "tensor 'bad.one'", "needs 3 bytes");
}

static void test_layout(void) {
    /* overlapping byte ranges, whichever is listed first */
    BAD(R1C_ERR_FORMAT,
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
        "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
        12, "'a'", "'b'", "overlaps");
    BAD(R1C_ERR_FORMAT,
        "{\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}, "
        "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
        12, "'a'", "'b'", "overlaps");
    /* the same range twice, and one tensor inside another */
    BAD(R1C_ERR_FORMAT,
        "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
        "\"y\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]}}",
        8, "'x'", "'y'", "overlaps");
    BAD(R1C_ERR_FORMAT,
        "{\"outer\": {\"dtype\": \"U8\", \"shape\": [16], \"data_offsets\": [0, 16]}, "
        "\"inner\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [4, 6]}, "
        "\"after\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [16, 18]}}",
        18, "'outer'", "'inner'", "overlaps");
    /* duplicate names (JSON allows them; a checkpoint must not) */
    BAD(R1C_ERR_FORMAT,
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
        "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
        8, "tensor 'a' appears twice");

    /* __metadata__: an object of strings, once */
    BAD(R1C_ERR_FORMAT, "{\"__metadata__\": {\"format\": 1}}", 0, "__metadata__ 'format'",
        "must be a string, got a number");
    BAD(R1C_ERR_FORMAT, "{\"__metadata__\": {\"a\": \"b\", \"nested\": {}}}", 0,
        "__metadata__ 'nested'", "must be a string, got an object");
    BAD(R1C_ERR_FORMAT, "{\"__metadata__\": [\"pt\"]}", 0,
        "'__metadata__' must be an object, got an array");
    BAD(R1C_ERR_FORMAT, "{\"__metadata__\": {}, \"__metadata__\": {}}", 0,
        "duplicate '__metadata__'");

    /* empty and 0-dim tensors are legal; empty ones may share an offset with anything */
    const char *ok =
        "{\"__metadata__\": {\"format\": \"pt\"}, "
        "\"empty\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [0, 0]}, "
        "\"scalar\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [0, 2]}, "
        "\"empty2\": {\"dtype\": \"F16\", \"shape\": [5, 0], \"data_offsets\": [1, 1]}, "
        "\"v\": {\"dtype\": \"I16\", \"shape\": [3], \"data_offsets\": [2, 8]}, "
        "\"at_end\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [8, 8]}}  ";
    CHECK(expect_good(__LINE__, ok, 8) == 5, "zero-size and scalar tensors");

    size_t len;
    uint8_t *img = image(JSON_LEN, ok, 8, &len);
    const char *path = path_in("", "zero_size.safetensors");
    CHECK(write_file(path, img, len), "write %s", path);
    for (int mm = 0; mm < 2; mm++) {
        r1c_st_set s;
        if (r1c_st_open_file(path, mm, &s) != R1C_OK) {
            CHECK(0, "open %s (mmap %d): %s", path, mm, r1c_last_error());
            continue;
        }
        r1c_tensor t;
        const char *file = NULL;
        CHECK(r1c_st_find(&s, "scalar", &t, &file) && t.n_dims == 0 && t.nbytes == 2 &&
                  t.dtype == R1C_BF16 && r1c_tensor_numel(&t) == 1,
              "scalar: %d dims, %llu bytes", t.n_dims, (unsigned long long)t.nbytes);
        CHECK(file && strcmp(file, path) == 0, "scalar comes from %s", file ? file : "(null)");
        CHECK(memcmp(t.data, img + len - 8, 2) == 0, "scalar bytes");
        CHECK(r1c_st_find(&s, "empty", &t, NULL) && t.n_dims == 2 && t.shape[0] == 0 &&
                  t.shape[1] == 4 && t.nbytes == 0 && r1c_tensor_numel(&t) == 0,
              "empty tensor");
        CHECK(r1c_st_find(&s, "v", &t, NULL) && t.nbytes == 6 && memcmp(t.data, img + len - 6, 6) == 0,
              "v bytes");
        CHECK(r1c_st_find(&s, "at_end", &t, NULL) && t.nbytes == 0, "empty tensor at the end");
        CHECK(!r1c_st_find(&s, "__metadata__", NULL, NULL), "metadata is not a tensor");
        CHECK(!r1c_st_find(&s, "missing", NULL, NULL), "absent tensor found");
        r1c_st_close(&s);
    }
    free(img);
}

/* A valid file, then the same bytes with the tail cut off: offsets now point past EOF. */
static void test_truncated(void) {
    const char *json =
        "{\"first\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, "
        "\"last\": {\"dtype\": \"F16\", \"shape\": [6], \"data_offsets\": [16, 28]}}";
    CHECK(expect_good(__LINE__, json, 28) == 2, "the untruncated file");
    size_t len;
    uint8_t *img = image(JSON_LEN, json, 28, &len);
    expect_bad(__LINE__, img, len - 1, R1C_ERR_FORMAT,
               SUBS("tensor 'last'", "[16, 28]", "end outside the data area (27 bytes",
                    "truncated"));
    expect_bad(__LINE__, img, len - 20, R1C_ERR_FORMAT,
               SUBS("end outside the data area (8 bytes", "truncated"));
    expect_bad(__LINE__, img, len - 28, R1C_ERR_FORMAT, SUBS("end outside the data area (0 bytes"));
    expect_bad(__LINE__, img, len - 30, R1C_ERR_FORMAT, SUBS("past the end of the file"));
    expect_bad(__LINE__, img, 7, R1C_ERR_FORMAT, SUBS("too short"));
    /* r1c_st_parse also insists on holding the whole header */
    r1c_st_header h;
    CHECK(r1c_st_parse("mem", img, 20, len, &h) == R1C_ERR_INVALID_ARG,
          "partial header accepted: %s", r1c_last_error());
    free(img);
}

/* ------------------------------------------------------------ round trip */

static void fill_pattern(void *user, int index, uint64_t off, void *dst, size_t n) {
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)((off + i) * 7 + (uint64_t)index);
}

static void test_roundtrip(void) {
    uint64_t seed = 42;
    float f32[12];
    for (int i = 0; i < 12; i++) f32[i] = test_randf(&seed);
    uint16_t bf16[5] = {0x3f80, 0xbf80, 0x0000, 0x7f80, 0x4049};
    int8_t i8[6] = {-128, -1, 0, 1, 2, 127};
    uint8_t u8 = 0xab;
    double f64[2] = {3.25, -1e300};
    uint8_t *filled = malloc(4000);
    fill_pattern(NULL, 5, 0, filled, 4000);
    const r1c_st_wtensor t[] = {
        {.name = "model.f32", .dtype = R1C_F32, .n_dims = 2, .shape = {3, 4}, .data = f32},
        {.name = "bf16", .dtype = R1C_BF16, .n_dims = 1, .shape = {5}, .data = bf16},
        {.name = "i8.3d", .dtype = R1C_I8, .n_dims = 3, .shape = {2, 3, 1}, .data = i8},
        {.name = "scalar", .dtype = R1C_U8, .n_dims = 0, .data = &u8},
        {.name = "empty", .dtype = R1C_F16, .n_dims = 2, .shape = {0, 7}, .data = f32},
        {.name = "filled", .dtype = R1C_I32, .n_dims = 1, .shape = {1000}, .fill = fill_pattern},
        {.name = "f64 with spaces \"and quotes\"", .dtype = R1C_F64, .n_dims = 1, .shape = {2},
         .data = f64},
    };
    const int n = (int)(sizeof t / sizeof *t);
    const void *want[] = {f32, bf16, i8, &u8, f32, filled, f64};
    const uint64_t bytes[] = {48, 10, 6, 1, 0, 4000, 16};
    const char *meta[] = {"format", "pt", "note", "r1c test", NULL};
    const char *path = path_in("", "roundtrip.safetensors");
    CHECK(r1c_st_write(path, t, n, meta) == R1C_OK, "write: %s", r1c_last_error());

    size_t len;
    uint8_t *img = read_file(path, &len);
    CHECK(img && len >= 8, "read back %s", path);
    if (!img) {
        free(filled);
        return;
    }
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = hn << 8 | img[i];
    CHECK(hn % 8 == 0, "header length %llu is not padded to 8", (unsigned long long)hn);
    r1c_st_header h;
    CHECK(r1c_st_parse(path, img, len, len, &h) == R1C_OK, "parse: %s", r1c_last_error());
    CHECK(h.n == n && h.data_size == 48 + 10 + 6 + 1 + 4000 + 16, "%d tensors, %llu data bytes",
          h.n, (unsigned long long)h.data_size);
    r1c_st_header_free(&h);

    for (int mm = 0; mm < 2; mm++) {
        r1c_st_set s;
        if (r1c_st_open_file(path, mm, &s) != R1C_OK) {
            CHECK(0, "open %s (mmap %d): %s", path, mm, r1c_last_error());
            continue;
        }
        for (int i = 0; i < n; i++) {
            r1c_tensor v;
            const char *file = NULL;
            if (!r1c_st_find(&s, t[i].name, &v, &file)) {
                CHECK(0, "'%s' not found after round trip", t[i].name);
                continue;
            }
            int same = v.dtype == t[i].dtype && v.n_dims == t[i].n_dims && v.nbytes == bytes[i] &&
                       strcmp(v.name, t[i].name) == 0 && strcmp(file, path) == 0;
            for (int d = 0; same && d < v.n_dims; d++) same = v.shape[d] == t[i].shape[d];
            CHECK(same, "'%s' (mmap %d): dtype %s, %d dims, %llu bytes", t[i].name, mm,
                  r1c_dtype_name(v.dtype), v.n_dims, (unsigned long long)v.nbytes);
            CHECK(bytes[i] == 0 || memcmp(v.data, want[i], (size_t)bytes[i]) == 0,
                  "'%s' (mmap %d): bytes differ", t[i].name, mm);
        }
        r1c_st_close(&s);
    }
    free(img);
    free(filled);

    /* a file nobody can open */
    r1c_st_set s;
    const char *nope = path_in("", "does-not-exist.safetensors");
    check_error(__LINE__, "open missing", r1c_st_open_file(nope, 0, &s), R1C_ERR_MISSING, nope,
                SUBS("cannot open"));
    r1c_st_close(&s);
    check_error(__LINE__, "open a directory", r1c_st_open_file(g_dir, 0, &s), R1C_ERR_IO, g_dir,
                SUBS("not a regular file"));
    r1c_st_close(&s);
}

/* ---------------------------------------------------------------- shards */

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

static const float g_a[4] = {1, 2, 3, 4};
static const uint16_t g_b[6] = {0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0, 0x40c0};
static const int32_t g_c[3] = {-7, 0, 7};
static const float g_d = 0.5f;

static const r1c_st_wtensor g_shard1[] = {
    {.name = "a", .dtype = R1C_F32, .n_dims = 1, .shape = {4}, .data = g_a},
    {.name = "b", .dtype = R1C_BF16, .n_dims = 2, .shape = {2, 3}, .data = g_b},
};
static const r1c_st_wtensor g_shard2[] = {
    {.name = "c", .dtype = R1C_I32, .n_dims = 1, .shape = {3}, .data = g_c},
    {.name = "d", .dtype = R1C_F32, .n_dims = 0, .data = &g_d},
};

/* A fresh checkpoint directory: shard 1 and (if shard2 > 0) shard 2 with `extra2` tensors of
 * shard 1 appended, and an index with the given weight_map text (NULL: no index). */
static const char *make_set(const char *name, int shard2, int extra2, const char *index) {
    const char *dir = subdir(name);
    unlink(path_in(name, SHARD1));
    unlink(path_in(name, SHARD2));
    unlink(path_in(name, "model.safetensors.index.json"));
    unlink(path_in(name, "model.safetensors"));
    CHECK(r1c_st_write(path_in(name, SHARD1), g_shard1, 2, NULL) == R1C_OK, "%s", r1c_last_error());
    if (shard2) {
        r1c_st_wtensor t[4] = {g_shard2[0], g_shard2[1]};
        for (int i = 0; i < extra2; i++) t[2 + i] = g_shard1[i];
        CHECK(r1c_st_write(path_in(name, SHARD2), t, 2 + extra2, NULL) == R1C_OK, "%s",
              r1c_last_error());
    }
    if (index) {
        const char *p = path_in(name, "model.safetensors.index.json");
        CHECK(write_file(p, index, strlen(index)), "write %s", p);
    }
    return dir;
}

#define GOOD_MAP                                                                      \
    "\"a\": \"" SHARD1 "\", \"b\": \"" SHARD1 "\", \"c\": \"" SHARD2 "\", \"d\": \"" SHARD2 "\""
#define INDEX(map) "{\"metadata\": {\"total_size\": 48}, \"weight_map\": {" map "}}"

static void expect_dir_bad(int line, const char *dir, r1c_status want, const char *file,
                           const char *const *subs) {
    for (int mm = 0; mm < 2; mm++) {
        r1c_st_set s;
        r1c_status st = r1c_st_open_dir(dir, mm, &s);
        check_error(line, mm ? "open dir mmap" : "open dir read", st, want, file, subs);
        r1c_st_close(&s);
    }
}

static void test_shards(void) {
    const char *dir = make_set("shards_ok", 1, 0, INDEX(GOOD_MAP));
    for (int mm = 0; mm < 2; mm++) {
        r1c_st_set s;
        if (r1c_st_open_dir(dir, mm, &s) != R1C_OK) {
            CHECK(0, "open %s: %s", dir, r1c_last_error());
            continue;
        }
        CHECK(s.n_files == 2, "%d files", s.n_files);
        struct {
            const char *name, *shard;
            const void *data;
            size_t bytes;
        } want[] = {{"a", SHARD1, g_a, 16}, {"b", SHARD1, g_b, 12},
                    {"c", SHARD2, g_c, 12}, {"d", SHARD2, &g_d, 4}};
        for (int i = 0; i < 4; i++) {
            r1c_tensor v;
            const char *file = NULL;
            int found = r1c_st_find(&s, want[i].name, &v, &file);
            CHECK(found, "'%s' not found", want[i].name);
            if (!found) continue;
            const char *base = strrchr(file, '/');
            CHECK(base && strcmp(base + 1, want[i].shard) == 0, "'%s' found in %s, want %s",
                  want[i].name, file, want[i].shard);
            CHECK(v.nbytes == want[i].bytes && memcmp(v.data, want[i].data, want[i].bytes) == 0,
                  "'%s' bytes", want[i].name);
        }
        CHECK(!r1c_st_find(&s, "e", NULL, NULL), "absent tensor found");
        r1c_st_close(&s);
    }

    /* the index wins over a stray single file, and names a shard that is not there */
    dir = make_set("shards_missing_file", 0, 0, INDEX(GOOD_MAP));
    CHECK(write_file(path_in("shards_missing_file", "model.safetensors"), "", 0), "stray file");
    expect_dir_bad(__LINE__, dir, R1C_ERR_MISSING, path_in("shards_missing_file", SHARD2),
                   SUBS("cannot open"));

    /* a tensor the index promises is in no shard */
    dir = make_set("shards_not_in_shard", 1, 0, INDEX(GOOD_MAP ", \"e\": \"" SHARD1 "\""));
    expect_dir_bad(__LINE__, dir, R1C_ERR_MISSING,
                   path_in("shards_not_in_shard", "model.safetensors.index.json"),
                   SUBS("tensor 'e'", SHARD1, "not in it"));

    /* a tensor that is in a different shard than the index says */
    dir = make_set("shards_wrong_shard", 1, 0,
                   INDEX("\"a\": \"" SHARD1 "\", \"b\": \"" SHARD1 "\", \"c\": \"" SHARD1
                         "\", \"d\": \"" SHARD2 "\""));
    expect_dir_bad(__LINE__, dir, R1C_ERR_FORMAT,
                   path_in("shards_wrong_shard", "model.safetensors.index.json"),
                   SUBS("tensor 'c'", "listed for " SHARD1, "found in " SHARD2));

    /* the same tensor stored in two shards */
    dir = make_set("shards_twice", 1, 1, INDEX(GOOD_MAP));
    expect_dir_bad(__LINE__, dir, R1C_ERR_FORMAT, path_in("shards_twice", SHARD1),
                   SUBS("tensor 'a'", "in both", SHARD2));

    /* shard names must stay inside the directory */
    static const char *const escapes[] = {
        "../" SHARD1, "/etc/passwd", "..", ".", "", "sub/" SHARD1, "..\\\\" SHARD1,
    };
    for (size_t i = 0; i < sizeof escapes / sizeof *escapes; i++) {
        char index[512];
        snprintf(index, sizeof index,
                 "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"b\": \"%s\"}}", escapes[i]);
        dir = make_set("shards_escape", 1, 0, index);
        expect_dir_bad(__LINE__, dir, R1C_ERR_FORMAT,
                       path_in("shards_escape", "model.safetensors.index.json"),
                       SUBS("weight_map 'b'", "must name a file in the directory"));
    }
    dir = make_set("shards_escape", 1, 0, "{\"weight_map\": {\"a\": 1}}");
    expect_dir_bad(__LINE__, dir, R1C_ERR_FORMAT,
                   path_in("shards_escape", "model.safetensors.index.json"),
                   SUBS("weight_map 'a'", "must name a file in the directory"));

    /* the index itself */
    static const char *const bad_index[][2] = {
        {"{\"weight_map\": [\"" SHARD1 "\"]}", "'weight_map' must be an object"},
        {"{\"weight_map\": \"" SHARD1 "\"}", "'weight_map' must be an object"},
        {"{\"metadata\": {}}", "'weight_map' must be an object"},
        {"[1, 2]", "'weight_map' must be an object"},
        {"{\"weight_map\": {}}", "weight_map is empty"},
        {"{\"weight_map\": {\"a\": ", "not valid JSON"},
        {"", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad_index / sizeof *bad_index; i++) {
        dir = make_set("shards_bad_index", 1, 0, bad_index[i][0]);
        expect_dir_bad(__LINE__, dir, R1C_ERR_FORMAT,
                       path_in("shards_bad_index", "model.safetensors.index.json"),
                       SUBS(bad_index[i][1]));
    }

    /* a damaged shard is named */
    dir = make_set("shards_truncated", 1, 0, INDEX(GOOD_MAP));
    {
        const char *p = path_in("shards_truncated", SHARD2);
        size_t len;
        uint8_t *img = read_file(p, &len);
        CHECK(img && write_file(p, img, len - 2), "truncate %s", p);
        free(img);
        expect_dir_bad(__LINE__, dir, R1C_ERR_FORMAT, p, SUBS("tensor 'd'", "truncated"));
    }

    /* nothing to open */
    dir = subdir("shards_empty_dir");
    expect_dir_bad(__LINE__, dir, R1C_ERR_MISSING, dir,
                   SUBS("no model.safetensors or model.safetensors.index.json"));
}

/* ---------------------------------------------------------------- models */

#define TINY "tests/data/qwen2_tiny"
#define VICTIM "model.layers.1.mlp.up_proj.weight"

typedef struct {
    r1c_st_set src;
    r1c_st_wtensor *t;
    int n;
    uint8_t *config;
    size_t config_len;
} tiny_model;

static int tiny_open(tiny_model *tm) {
    memset(tm, 0, sizeof *tm);
    if (r1c_st_open_file(TINY "/model.safetensors", 0, &tm->src) != R1C_OK) {
        CHECK(0, "open %s: %s", TINY, r1c_last_error());
        return 0;
    }
    tm->config = read_file(TINY "/config.json", &tm->config_len);
    CHECK(tm->config != NULL, "read %s/config.json", TINY);
    const r1c_st_header *h = &tm->src.files[0].hdr;
    tm->t = calloc((size_t)h->n, sizeof *tm->t);
    for (int i = 0; i < h->n; i++) {
        r1c_tensor v;
        r1c_st_find(&tm->src, h->entries[i].name, &v, NULL);
        tm->t[i] = (r1c_st_wtensor){.name = v.name, .dtype = v.dtype, .n_dims = v.n_dims,
                                    .data = v.data};
        memcpy(tm->t[i].shape, v.shape, sizeof v.shape);
    }
    tm->n = h->n;
    return tm->config != NULL;
}

static void tiny_close(tiny_model *tm) {
    r1c_st_close(&tm->src);
    free(tm->t);
    free(tm->config);
}

/* A model directory: the tiny config and its tensors with `edit` applied to `victim`:
 * 'd' drop it, 's' reverse its shape, 'i' call it I32 (same byte size as F32). */
static const char *write_variant(tiny_model *tm, const char *name, const char *victim, char edit) {
    const char *dir = subdir(name);
    CHECK(write_file(path_in(name, "config.json"), tm->config, tm->config_len), "config");
    r1c_st_wtensor *t = malloc(sizeof *t * (size_t)tm->n);
    int k = 0, hit = 0;
    for (int i = 0; i < tm->n; i++) {
        r1c_st_wtensor w = tm->t[i];
        if (victim && strcmp(w.name, victim) == 0) {
            hit = 1;
            if (edit == 'd') continue;
            if (edit == 's')
                for (int d = 0; d < w.n_dims / 2; d++) {
                    int64_t x = w.shape[d];
                    w.shape[d] = w.shape[w.n_dims - 1 - d];
                    w.shape[w.n_dims - 1 - d] = x;
                }
            if (edit == 'i') w.dtype = R1C_I32;
        }
        t[k++] = w;
    }
    CHECK(!victim || hit, "no tensor %s in %s", victim, TINY);
    CHECK(r1c_st_write(path_in(name, "model.safetensors"), t, k, NULL) == R1C_OK, "write: %s",
          r1c_last_error());
    free(t);
    return dir;
}

static void expect_load(int line, const char *dir, r1c_status want, const char *file,
                        const char *const *subs) {
    for (int mm = 0; mm < 2; mm++) {
        r1c_load_params lp = {.use_mmap = mm};
        r1c_model *m = (r1c_model *)&lp; /* must be reset to NULL on failure */
        r1c_status st = r1c_model_load(dir, &lp, &m);
        check_error(line, mm ? "load mmap" : "load read", st, want, file, subs);
        if (st == R1C_OK) r1c_model_free(m);
        else CHECK(m == NULL, "line %d: *out not NULL after failure", line);
    }
}

static void test_models(void) {
    tiny_model tm;
    if (!tiny_open(&tm)) {
        tiny_close(&tm);
        return;
    }
    /* the rewritten checkpoint itself is fine */
    const char *dir = write_variant(&tm, "model_ok", NULL, 0);
    expect_load(__LINE__, dir, R1C_OK, dir, SUBS(""));

    dir = write_variant(&tm, "model_missing", VICTIM, 'd');
    expect_load(__LINE__, dir, R1C_ERR_MISSING, dir, SUBS("tensor '" VICTIM "'", "missing"));

    dir = write_variant(&tm, "model_shape", VICTIM, 's');
    expect_load(__LINE__, dir, R1C_ERR_FORMAT, path_in("model_shape", "model.safetensors"),
                SUBS("tensor '" VICTIM "'", "[64, 160]", "expected [160, 64]"));
    {
        /* a vector of the wrong length: k_proj.bias given as [64] (q's size) */
        const char *name = "model_shape_vec";
        subdir(name);
        CHECK(write_file(path_in(name, "config.json"), tm.config, tm.config_len), "config");
        r1c_st_wtensor *t = malloc(sizeof *t * (size_t)tm.n);
        memcpy(t, tm.t, sizeof *t * (size_t)tm.n);
        const void *q_bias = NULL;
        for (int i = 0; i < tm.n; i++)
            if (strcmp(t[i].name, "model.layers.0.self_attn.q_proj.bias") == 0) q_bias = t[i].data;
        for (int i = 0; i < tm.n; i++)
            if (strcmp(t[i].name, "model.layers.0.self_attn.k_proj.bias") == 0) {
                t[i].shape[0] = 64;
                t[i].data = q_bias;
            }
        CHECK(r1c_st_write(path_in(name, "model.safetensors"), t, tm.n, NULL) == R1C_OK, "%s",
              r1c_last_error());
        free(t);
        expect_load(__LINE__, subdir(name), R1C_ERR_FORMAT, path_in(name, "model.safetensors"),
                    SUBS("tensor 'model.layers.0.self_attn.k_proj.bias'", "[64]", "expected [32]"));
    }

    dir = write_variant(&tm, "model_i32", VICTIM, 'i');
    expect_load(__LINE__, dir, R1C_ERR_UNSUPPORTED, path_in("model_i32", "model.safetensors"),
                SUBS("tensor '" VICTIM "'", "dtype I32"));
    dir = write_variant(&tm, "model_i32_vec", "model.norm.weight", 'i');
    expect_load(__LINE__, dir, R1C_ERR_UNSUPPORTED, path_in("model_i32_vec", "model.safetensors"),
                SUBS("tensor 'model.norm.weight'", "dtype I32"));

    /* a download cut short */
    dir = write_variant(&tm, "model_truncated", NULL, 0);
    {
        const char *p = path_in("model_truncated", "model.safetensors");
        size_t len;
        uint8_t *img = read_file(p, &len);
        CHECK(img && write_file(p, img, len - 100), "truncate %s", p);
        free(img);
        expect_load(__LINE__, dir, R1C_ERR_FORMAT, p,
                    SUBS("tensor 'model.norm.weight'", "end outside the data area", "truncated"));
    }

    /* config but no weights */
    dir = subdir("model_no_weights");
    CHECK(write_file(path_in("model_no_weights", "config.json"), tm.config, tm.config_len), "config");
    expect_load(__LINE__, dir, R1C_ERR_MISSING, dir, SUBS("no model.safetensors"));
    tiny_close(&tm);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", test_tmpdir("safetensors"));
    test_framing();
    test_entries();
    test_layout();
    test_truncated();
    test_roundtrip();
    test_shards();
    test_models();
    return test_summary("test_safetensors");
}
