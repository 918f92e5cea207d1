/* tests/test_safetensors.c — round trip through engine/safetensors.c and the exact texts of its
 * validation errors. Plain C, no framework: prints file:line on a failure and exits nonzero. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/ctx.h"
#include "../engine/safetensors.h"

typedef struct tenv {
    char dir[64];
    mb_ctx ctx;
} tenv;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* expr must return `status` and leave a message equal to `want` (exact) */
#define CHECK_ERR_EQ(env, expr, status, want)                                                      \
    do {                                                                                           \
        (env)->ctx.err[0] = '\0';                                                                  \
        mb_status got_ = (expr);                                                                   \
        if (got_ != (status) || strcmp((env)->ctx.err, (want)) != 0) {                             \
            fprintf(stderr,                                                                        \
                    "%s:%d: %s\n  want status %d, message: %s\n  got  status %d, message: %s\n",   \
                    __FILE__, __LINE__, #expr, (int)(status), (want), (int)got_, (env)->ctx.err);  \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* expr must return `status` and leave a message containing `phrase` */
#define CHECK_ERR_HAS(env, expr, status, phrase)                                                   \
    do {                                                                                           \
        (env)->ctx.err[0] = '\0';                                                                  \
        mb_status got_ = (expr);                                                                   \
        if (got_ != (status) || !strstr((env)->ctx.err, (phrase))) {                               \
            fprintf(stderr,                                                                        \
                    "%s:%d: %s\n  want status %d, message containing: %s\n"                        \
                    "  got  status %d, message: %s\n",                                             \
                    __FILE__, __LINE__, #expr, (int)(status), (phrase), (int)got_,                 \
                    (env)->ctx.err);                                                               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static void tpath(const tenv *env, char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", env->dir, name);
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Writes: u64 LE `declared` header length, `hdr` bytes, then `data_bytes` zero bytes. */
static int write_raw(const char *path, uint64_t declared, const char *hdr, size_t data_bytes) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(declared >> (8 * i));
    int ok = fwrite(lenb, 1, 8, fp) == 8;
    size_t hl = strlen(hdr);
    ok = ok && fwrite(hdr, 1, hl, fp) == hl;
    for (size_t i = 0; i < data_bytes && ok; i++) ok = fputc(0, fp) != EOF;
    ok = (fclose(fp) == 0) && ok;
    return ok ? 0 : -1;
}

/* A well-formed file whose header is `hdr` (its own length) and `data_bytes` zero bytes. */
static int write_hdr(const char *path, const char *hdr, size_t data_bytes) {
    return write_raw(path, strlen(hdr), hdr, data_bytes);
}

static int is_zeroed(const mb_st_file *f) {
    const unsigned char *b = (const unsigned char *)f;
    for (size_t i = 0; i < sizeof *f; i++)
        if (b[i]) return 0;
    return 1;
}

static int test_roundtrip(tenv *env) {
    char path[256], tmp[300];
    tpath(env, path, sizeof path, "rt.safetensors");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    float a[6] = {1.5f, -2.0f, 3.25f, 1e-30f, INFINITY, -0.0f};
    double b[4] = {0.1, -1e300, 4.9e-324, NAN};
    int32_t c[1] = {-123456789};
    mb_st_entry e[3] = {
        {.name = "layer.0.w",
         .dtype = "F32",
         .ndim = 2,
         .shape = {2, 3},
         .data = a,
         .bytes = sizeof a},
        {.name = "b", .dtype = "F64", .ndim = 1, .shape = {4}, .data = b, .bytes = sizeof b},
        {.name = "step", .dtype = "I32", .ndim = 1, .shape = {1}, .data = c, .bytes = sizeof c},
    };
    const char *meta =
        " {\"format\": \"pt\", \"note\": \"caf\\u00e9 \\\"q\\\"\\n\\ud83d\\ude00\"} ";
    CHECK(mb_st_write(&env->ctx, path, e, 3, meta) == MB_OK);
    CHECK(!file_exists(tmp));

    /* the raw header length: a multiple of 8, and the data follows right after it */
    FILE *fp = fopen(path, "rb");
    CHECK(fp);
    unsigned char lenb[8];
    CHECK(fread(lenb, 1, 8, fp) == 8);
    CHECK(fseek(fp, 0, SEEK_END) == 0);
    long fsize = ftell(fp);
    fclose(fp);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | lenb[i];
    CHECK(hl % 8 == 0);
    CHECK((uint64_t)fsize == 8 + hl + 24 + 32 + 4);

    mb_st_file f;
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK);
    CHECK(f.header_len == hl);
    CHECK(f.data_start == 8 + hl);
    CHECK(f.data_size == 60);
    CHECK(f.n == 3);
    CHECK(strcmp(f.path, path) == 0);

    const mb_st_tensor *t = mb_st_find(&f, "layer.0.w");
    CHECK(t && t == &f.t[0]);
    CHECK(strcmp(t->name, "layer.0.w") == 0 && strcmp(t->dtype, "F32") == 0);
    CHECK(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6);
    CHECK(t->begin == 0 && t->end == 24);
    float ra[6];
    CHECK(mb_st_read(&env->ctx, &f, t, ra, sizeof ra) == MB_OK);
    CHECK(memcmp(ra, a, sizeof a) == 0);

    t = mb_st_find(&f, "b");
    CHECK(t && t == &f.t[1]);
    CHECK(strcmp(t->dtype, "F64") == 0 && t->ndim == 1 && t->shape[0] == 4 && t->numel == 4);
    CHECK(t->begin == 24 && t->end == 56);
    double rb[4];
    CHECK(mb_st_read(&env->ctx, &f, t, rb, sizeof rb) == MB_OK);
    CHECK(memcmp(rb, b, sizeof b) == 0);

    t = mb_st_find(&f, "step");
    CHECK(t && t == &f.t[2]);
    CHECK(strcmp(t->dtype, "I32") == 0 && t->ndim == 1 && t->shape[0] == 1);
    CHECK(t->begin == 56 && t->end == 60);
    int32_t rc[1];
    CHECK(mb_st_read(&env->ctx, &f, t, rc, sizeof rc) == MB_OK);
    CHECK(memcmp(rc, c, sizeof c) == 0);

    CHECK(mb_st_find(&f, "nope") == NULL);
    CHECK(mb_st_find(&f, "") == NULL);

    CHECK(f.n_meta == 2);
    CHECK(strcmp(mb_st_meta_get(&f, "format"), "pt") == 0);
    CHECK(strcmp(mb_st_meta_get(&f, "note"), "caf\xc3\xa9 \"q\"\n\xf0\x9f\x98\x80") == 0);
    CHECK(mb_st_meta_get(&f, "missing") == NULL);

    char want[600];
    snprintf(want, sizeof want,
             "%s: tensor 'layer.0.w': destination is 20 bytes but the tensor holds 24", path);
    CHECK_ERR_EQ(env, mb_st_read(&env->ctx, &f, &f.t[0], ra, 20), MB_EINVAL, want);

    mb_st_tensor copy = f.t[0]; /* the struct only: its name dies with f */
    mb_st_close(&f);
    CHECK(is_zeroed(&f));
    mb_st_close(&f); /* twice is fine */
    CHECK(mb_st_find(&f, "b") == NULL);
    copy.name = NULL;
    CHECK_ERR_HAS(env, mb_st_read(&env->ctx, &f, &copy, ra, 24), MB_EINVAL, "not open");

    /* overwrite the same path: the rename replaces it; no metadata this time */
    CHECK(mb_st_write(&env->ctx, path, e + 1, 1, NULL) == MB_OK);
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK);
    CHECK(f.n == 1 && f.n_meta == 0 && f.t[0].begin == 0 && f.t[0].end == 32);
    CHECK(f.header_len % 8 == 0);
    mb_st_close(&f);
    return 0;
}

/* names that need escaping, scalars, empty tensors, every dtype size */
static int test_odd_entries(tenv *env) {
    char path[256];
    tpath(env, path, sizeof path, "odd.safetensors");
    uint16_t h[2] = {0x3c00, 0xc000};
    int64_t s = INT64_MIN;
    uint8_t u = 7;
    mb_st_entry e[4] = {
        {.name = "q\"uo\\te\n\t\x01 caf\xc3\xa9",
         .dtype = "BF16",
         .ndim = 1,
         .shape = {2},
         .data = h,
         .bytes = 4},
        {.name = "scalar", .dtype = "I64", .ndim = 0, .data = &s, .bytes = 8},
        {.name = "empty", .dtype = "F32", .ndim = 3, .shape = {4, 0, 5}, .data = NULL, .bytes = 0},
        {.name = "",
         .dtype = "U8",
         .ndim = 8,
         .shape = {1, 1, 1, 1, 1, 1, 1, 1},
         .data = &u,
         .bytes = 1},
    };
    CHECK(mb_st_write(&env->ctx, path, e, 4, "{}") == MB_OK);
    mb_st_file f;
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK);
    CHECK(f.n == 4 && f.n_meta == 0 && f.data_size == 13);
    const mb_st_tensor *t = mb_st_find(&f, e[0].name);
    CHECK(t && strcmp(t->dtype, "BF16") == 0 && t->begin == 0 && t->end == 4);
    uint16_t rh[2];
    CHECK(mb_st_read(&env->ctx, &f, t, rh, 4) == MB_OK && memcmp(rh, h, 4) == 0);
    t = mb_st_find(&f, "scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1 && t->begin == 4 && t->end == 12);
    int64_t rs;
    CHECK(mb_st_read(&env->ctx, &f, t, &rs, 8) == MB_OK && rs == INT64_MIN);
    t = mb_st_find(&f, "empty");
    CHECK(t && t->ndim == 3 && t->numel == 0 && t->begin == 12 && t->end == 12);
    CHECK(mb_st_read(&env->ctx, &f, t, NULL, 0) == MB_OK);
    t = mb_st_find(&f, "");
    CHECK(t && t->ndim == 8 && t->begin == 12 && t->end == 13);
    uint8_t ru = 0;
    CHECK(mb_st_read(&env->ctx, &f, t, &ru, 1) == MB_OK && ru == 7);
    mb_st_close(&f);

    CHECK(mb_st_dtype_size("F32") == 4 && mb_st_dtype_size("F64") == 8);
    CHECK(mb_st_dtype_size("F16") == 2 && mb_st_dtype_size("BF16") == 2);
    CHECK(mb_st_dtype_size("I32") == 4 && mb_st_dtype_size("I64") == 8);
    CHECK(mb_st_dtype_size("BOOL") == 1 && mb_st_dtype_size("F8_E4M3") == 1);
    CHECK(mb_st_dtype_size("f32") == 0 && mb_st_dtype_size("") == 0 && mb_st_dtype_size(NULL) == 0);
    return 0;
}

/* headers written by hand: accepted variations */
static int test_accepts(tenv *env) {
    char path[256];
    tpath(env, path, sizeof path, "acc.safetensors");
    mb_st_file f;

    /* out of offset order, extra keys ignored, whitespace and padding, escaped names */
    CHECK(
        write_hdr(path,
                  " {\n\t\"z\\u00e9\" : {\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                  " \"a\":{\"extra\":{\"x\":[1,-2,\"s\",{}],\"y\":[]},\"data_offsets\":[0,8],"
                  "\"shape\":[ 2 ],\"dtype\":\"F32\"}, \"__metadata__\":{}}     ",
                  12) == 0);
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK);
    CHECK(f.n == 2);
    CHECK(strcmp(f.t[0].name, "a") == 0 && strcmp(f.t[1].name, "z\xc3\xa9") == 0);
    CHECK(mb_st_find(&f, "z\xc3\xa9") == &f.t[1]);
    mb_st_close(&f);

    /* empty tensors share offsets with each other and sit inside others: no byte is shared */
    CHECK(write_hdr(path,
                    "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
                    "\"f\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[2,2]},"
                    "\"g\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
                    6) == 0);
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK);
    CHECK(f.n == 5);
    mb_st_close(&f);

    /* no tensors at all */
    CHECK(write_hdr(path, "{}", 0) == 0);
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK);
    CHECK(f.n == 0 && mb_st_find(&f, "a") == NULL);
    mb_st_close(&f);
    return 0;
}

/* One bad header: open must fail with `status`, the exact message "<path>: <want>", and a zeroed
 * out. */
static int expect_open_fail(tenv *env, const char *path, mb_status status, const char *want,
                            int line) {
    mb_st_file f;
    memset(&f, 0xAB, sizeof f);
    char full[1024];
    snprintf(full, sizeof full, "%s: %s", path, want);
    env->ctx.err[0] = '\0';
    mb_status st = mb_st_open(&env->ctx, path, &f);
    if (st != status || strcmp(env->ctx.err, full) != 0) {
        fprintf(stderr,
                "%s:%d: mb_st_open\n  want status %d, message: %s\n  got  status %d, message: %s\n",
                __FILE__, line, (int)status, full, (int)st, env->ctx.err);
        if (st == MB_OK) mb_st_close(&f);
        return 1;
    }
    if (!is_zeroed(&f)) {
        fprintf(stderr, "%s:%d: mb_st_open failed but left *out not zeroed\n", __FILE__, line);
        return 1;
    }
    return 0;
}

/* header text hdr (own length) with data_bytes of data, must fail with MB_EFORMAT and `want` */
#define BAD_HDR(hdr, data_bytes, want)                                                             \
    do {                                                                                           \
        CHECK(write_hdr(path, (hdr), (data_bytes)) == 0);                                          \
        if (expect_open_fail(env, path, MB_EFORMAT, (want), __LINE__)) return 1;                   \
    } while (0)

static int test_errors(tenv *env) {
    char path[256];
    tpath(env, path, sizeof path, "bad.safetensors");

    /* file-level */
    {
        char missing[256];
        tpath(env, missing, sizeof missing, "does-not-exist.safetensors");
        if (expect_open_fail(env, missing, MB_EIO, "cannot open: No such file or directory",
                             __LINE__))
            return 1;
        if (expect_open_fail(env, env->dir, MB_EIO, "not a regular file", __LINE__)) return 1;
    }
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite("\x02\0\0\0\0", 1, 5, fp) == 5 && fclose(fp) == 0);
    if (expect_open_fail(env, path, MB_EFORMAT,
                         "file is 5 bytes, too short for the 8-byte header length", __LINE__))
        return 1;
    CHECK(write_raw(path, 1000, "{}", 0) == 0);
    if (expect_open_fail(env, path, MB_EFORMAT,
                         "header length 1000 goes past the end of the file (10 bytes)", __LINE__))
        return 1;
    CHECK(write_raw(path, UINT64_MAX, "{}", 0) == 0);
    if (expect_open_fail(
            env, path, MB_EFORMAT,
            "header length 18446744073709551615 goes past the end of the file (10 bytes)",
            __LINE__))
        return 1;
    CHECK(write_raw(path, 200000000, "{}", 0) == 0);
    CHECK(truncate(path, 200000100) == 0); /* sparse: the length fits the file, not the limit */
    if (expect_open_fail(env, path, MB_EFORMAT,
                         "header length 200000000 exceeds the limit of 100000000 bytes", __LINE__))
        return 1;
    CHECK(truncate(path, 0) == 0);

    /* malformed JSON: byte offset and what was expected */
    BAD_HDR(
        "", 0,
        "bad JSON header at byte 0: expected '{' at the start of the header, found end of input");
    BAD_HDR("[]", 0,
            "bad JSON header at byte 0: expected '{' at the start of the header, found '['");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\" \"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "bad JSON header at byte 20 in tensor 'a': expected ',' or '}' in the tensor's entry, "
            "found '\"'");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4,
            "bad JSON header at byte 54: expected a tensor name (a string), found '}'");
    BAD_HDR("{\"a\" {}}", 0,
            "bad JSON header at byte 5: expected ':' after a tensor name, found '{'");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
            "bad JSON header at byte 29 in tensor 'a': expected an integer in \"shape\", found a "
            "non-integer number (not supported)");
    BAD_HDR(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
        "bad JSON header at byte 29 in tensor 'a': expected an integer in \"shape\", found '\"'");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4,
            "bad JSON header at byte 29 in tensor 'a': expected an integer in \"shape\", found a "
            "number with a leading zero");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}",
            4, "bad JSON header at byte 29 in tensor 'a': integer out of the 64-bit range");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
            "bad JSON header at byte 51 in tensor 'a': expected ']' after the two \"data_offsets\" "
            "values, found ','");
    BAD_HDR(
        "{\"a\":{\"x\":true}}", 0,
        "bad JSON header at byte 10 in tensor 'a': expected a string, integer, object or array, "
        "found 't' (true, false and null are not supported)");
    BAD_HDR("{\"a\\q\":{}}", 0, "bad JSON header at byte 3: invalid escape '\\q' in string");
    BAD_HDR("{\"a\\u12G4\":{}}", 0, "bad JSON header at byte 3: expected 4 hex digits after '\\u'");
    BAD_HDR("{\"a\\ud800x\":{}}", 0,
            "bad JSON header at byte 3: high surrogate \\uD800 not followed by a low surrogate");
    BAD_HDR("{\"a\\udc00\":{}}", 0, "bad JSON header at byte 3: lone low surrogate \\uDC00");
    BAD_HDR("{\"a\\u0000\":{}}", 0,
            "bad JSON header at byte 3: \\u0000 (NUL) in a string is not supported");
    BAD_HDR("{\"a\xc3(\":{}}", 0, "bad JSON header at byte 3: invalid UTF-8 in string");
    BAD_HDR("{\"a\tb\":{}}", 0,
            "bad JSON header at byte 3: control character 0x09 in a string must be escaped");
    BAD_HDR("{\"abc", 0,
            "bad JSON header at byte 1: unterminated string (expected a closing '\"')");
    BAD_HDR("{} x", 0,
            "bad JSON header at byte 3: expected the end of the header after the top-level object, "
            "found 'x'");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", 0,
            "bad JSON header at byte 20 in tensor 'a': duplicate key \"dtype\"");
    BAD_HDR(
        "{\"__metadata__\":{\"k\":1}}", 0,
        "bad JSON header at byte 21: expected a string value in \"__metadata__\" (values must be "
        "strings), found '1'");
    BAD_HDR("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
            "duplicate key 'k' in \"__metadata__\"");
    BAD_HDR("{\"__metadata__\":{},\"__metadata__\":{}}", 0,
            "bad JSON header at byte 19: duplicate key \"__metadata__\"");

    /* semantic checks */
    BAD_HDR("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing \"dtype\"");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
            "tensor 'a': missing \"shape\"");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a': missing \"data_offsets\"");
    BAD_HDR("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "tensor 'a': unknown dtype \"F33\"");
    BAD_HDR("{\"a\":{\"dtype\":\"FLOAT32_LONG\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "tensor 'a': unknown dtype \"FLOAT32_LONG\"");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
            "tensor 'a': data_offsets [0, 20] span 20 bytes, but shape [2, 3] of F32 needs 24");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24,
            "tensor 'a': negative dimension -3 at shape[1]");
    BAD_HDR("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
            "tensor 'a': shape has 9 dimensions, more than the 8 supported");
    BAD_HDR("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", 4,
            "tensor 'a': data_offsets end 2 is before begin 4");
    BAD_HDR("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", 4,
            "tensor 'a': negative value -4 in data_offsets");
    BAD_HDR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 6,
            "tensor 'a': data_offsets end 8 is past the end of the data section (6 bytes)");
    BAD_HDR("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
            0, "tensor 'a': shape [4294967296, 4294967296] is too large");
    BAD_HDR("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
            "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}",
            3, "duplicate tensor name 'a'");
    BAD_HDR("{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
            "tensor 'a?b': unknown dtype \"X\"");
    /* one name spelled twice (an escape decodes to the same name) */
    BAD_HDR("{\"ab\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
            "\"\\u0061b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
            2, "duplicate tensor name 'ab'");
    /* two tensors over the same bytes: a write to one would change the other */
    BAD_HDR("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
            4, "tensor 'b': data_offsets [2, 4] overlap those of tensor 'a' [0, 4]");
    BAD_HDR("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            8, "tensor 'w': data_offsets [0, 8] overlap those of tensor 'v' [0, 8]");
    BAD_HDR("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
            "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[3,3]},"
            "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]},"
            "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[7,9]}}",
            9, "tensor 'c': data_offsets [7, 9] overlap those of tensor 'a' [0, 8]");
    return 0;
}

static int test_write_errors(tenv *env) {
    char path[256], want[600];
    tpath(env, path, sizeof path, "w.safetensors");
    float a[6] = {0};
    mb_st_entry ok = {
        .name = "a", .dtype = "F32", .ndim = 2, .shape = {2, 3}, .data = a, .bytes = 24};
    mb_st_entry e[2] = {ok, ok};

    e[0].dtype = "F33";
    snprintf(want, sizeof want, "%s: tensor 'a': unknown dtype \"F33\"", path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 1, NULL), MB_EINVAL, want);
    e[0] = ok;
    e[0].bytes = 20;
    snprintf(want, sizeof want, "%s: tensor 'a': 20 bytes given, but shape [2, 3] of F32 needs 24",
             path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 1, NULL), MB_EINVAL, want);
    e[0] = ok;
    e[0].ndim = 9;
    snprintf(want, sizeof want, "%s: tensor 'a': ndim 9 is outside 0..8", path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 1, NULL), MB_EINVAL, want);
    e[0] = ok;
    e[0].shape[0] = -2;
    snprintf(want, sizeof want, "%s: tensor 'a': negative dimension -2 at shape[0]", path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 1, NULL), MB_EINVAL, want);
    e[0] = ok;
    e[0].name = "__metadata__";
    snprintf(want, sizeof want, "%s: \"__metadata__\" cannot be a tensor name", path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 1, NULL), MB_EINVAL, want);
    e[0] = ok;
    e[0].name = "bad\xff";
    snprintf(want, sizeof want, "%s: tensor 'bad\xff': name is not valid UTF-8", path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 1, NULL), MB_EINVAL, want);
    e[0] = ok;
    snprintf(want, sizeof want, "%s: duplicate tensor name 'a'", path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 2, NULL), MB_EINVAL, want);
    e[1].name = "b";
    snprintf(want, sizeof want,
             "%s: bad metadata JSON at byte 5: expected a string value in \"__metadata__\" (values "
             "must be strings), found '1'",
             path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 2, "{\"k\":1}"), MB_EINVAL, want);
    snprintf(
        want, sizeof want,
        "%s: bad metadata JSON at byte 9: expected the end of input after the metadata object, "
        "found '{'",
        path);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, path, e, 2, "{\"k\":\"v\"}{"), MB_EINVAL, want);
    CHECK(!file_exists(path));

    /* a file that exists stays as it was when a later write fails */
    CHECK(mb_st_write(&env->ctx, path, e, 2, NULL) == MB_OK);
    e[1].dtype = "nope";
    CHECK(mb_st_write(&env->ctx, path, e, 2, NULL) == MB_EINVAL);
    mb_st_file f;
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK && f.n == 2);
    mb_st_close(&f);

    /* unwritable location */
    char nodir[256];
    tpath(env, nodir, sizeof nodir, "no/such/dir.safetensors");
    snprintf(want, sizeof want, "cannot create a temporary file for %s: No such file or directory",
             nodir);
    CHECK_ERR_EQ(env, mb_st_write(&env->ctx, nodir, &ok, 1, NULL), MB_EIO, want);
    return 0;
}

/* A symlink planted at the file's name or at the temporary name the writer once used (PATH.tmp) is
 * never written through: the new file replaces the link at PATH, the target keeps its bytes. */
static int test_write_symlinks(tenv *env) {
    char path[256], old_tmp[300], victim[256];
    tpath(env, path, sizeof path, "sym.safetensors");
    snprintf(old_tmp, sizeof old_tmp, "%s.tmp", path);
    tpath(env, victim, sizeof victim, "victim.txt");
    FILE *v = fopen(victim, "wb");
    CHECK(v && fputs("precious\n", v) >= 0 && fclose(v) == 0);
    CHECK(symlink(victim, path) == 0 && symlink(victim, old_tmp) == 0);
    float a[2] = {1.0f, 2.0f};
    mb_st_entry e = {.name = "a", .dtype = "F32", .ndim = 1, .shape = {2}, .data = a, .bytes = 8};
    CHECK(mb_st_write(&env->ctx, path, &e, 1, NULL) == MB_OK);
    char got[64] = "";
    v = fopen(victim, "rb");
    CHECK(v && fread(got, 1, sizeof got - 1, v) == 9 && fclose(v) == 0);
    CHECK(strcmp(got, "precious\n") == 0);
    struct stat sb;
    CHECK(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode));
    mb_st_file f;
    CHECK(mb_st_open(&env->ctx, path, &f) == MB_OK && f.n == 1);
    mb_st_close(&f);
    return 0;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

int main(void) {
    tenv env;
    memset(&env, 0, sizeof env);
    snprintf(env.dir, sizeof env.dir, "/tmp/mbst.XXXXXX");
    if (!mkdtemp(env.dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (mb_ctx_init(&env.ctx, &mb_backend_cpu_f32) != MB_OK) {
        fprintf(stderr, "%s:%d: mb_ctx_init failed\n", __FILE__, __LINE__);
        rmdir(env.dir);
        return 1;
    }
    int fails = 0;
    fails += test_roundtrip(&env);
    fails += test_odd_entries(&env);
    fails += test_accepts(&env);
    fails += test_errors(&env);
    fails += test_write_errors(&env);
    fails += test_write_symlinks(&env);
    mb_ctx_fini(&env.ctx);
    remove_dir(env.dir);
    if (fails) {
        fprintf(stderr, "test_safetensors: %d test group(s) failed\n", fails);
        return 1;
    }
    printf("test_safetensors: ok\n");
    return 0;
}
