/* engine/safetensors.c — safetensors reader and writer, with a small JSON parser of our own that
 * accepts only what the header needs: objects, arrays, strings (all escapes) and integers. */
#include "safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "file.h"

#define MB_ST_MAX_DEPTH 64 /* nesting allowed inside values we skip (unknown keys) */
#define MB_ST_SHOW 160     /* longest name quoted in full in an error message */
#define MB_ST_SHOW_BUF (MB_ST_SHOW + 8)

static const struct {
    const char *name;
    size_t size;
} mb_st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},     {"U32", 4},
    {"F32", 4},  {"I64", 8}, {"U64", 8}, {"F64", 8},     {"C64", 8},
};

size_t mb_st_dtype_size(const char *dtype) {
    if (!dtype) return 0;
    for (size_t i = 0; i < sizeof mb_st_dtypes / sizeof mb_st_dtypes[0]; i++)
        if (strcmp(dtype, mb_st_dtypes[i].name) == 0) return mb_st_dtypes[i].size;
    return 0;
}

static bool mb_st_host_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes available), 0 if invalid. */
static size_t mb_st_utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static bool mb_st_utf8_valid(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = mb_st_utf8_seq(u + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* A copy of s fit for an error message: control bytes become '?', long names are cut with "...". */
static const char *mb_st_show(char buf[MB_ST_SHOW_BUF], const char *s) {
    size_t n = strlen(s), k = n;
    if (k > MB_ST_SHOW) {
        k = MB_ST_SHOW;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--; /* do not split a character */
    }
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (k < n) {
        memcpy(buf + k, "...", 4);
    } else {
        buf[k] = '\0';
    }
    return buf;
}

static void mb_st_fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* product(shape) into *numel; false on overflow (dims must be >= 0). */
static bool mb_st_numel(const int64_t *shape, int ndim, uint64_t *numel) {
    uint64_t p = 1;
    bool over = false;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d == 0) {
            *numel = 0;
            return true;
        }
        if (p > UINT64_MAX / d)
            over = true;
        else
            p *= d;
    }
    *numel = p;
    return !over;
}

/* ---------------------------------------------------------------------------------------------
 * JSON parser: recursive descent over a byte buffer; every error names the byte offset. */

typedef struct mb_st_jp {
    mb_ctx *ctx;
    const char *path;   /* the file named in messages */
    const char *what;   /* "JSON header" or "metadata JSON" */
    const char *tensor; /* display form of the tensor being parsed, or NULL */
    const unsigned char *s;
    size_t len, pos;
} mb_st_jp;

static mb_status mb_st_jfail(mb_st_jp *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static mb_status mb_st_jfail(mb_st_jp *p, const char *fmt, ...) {
    char msg[MB_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->tensor)
        return mb_error(p->ctx, MB_EFORMAT, "%s: bad %s at byte %zu in tensor '%s': %s", p->path,
                        p->what, p->pos, p->tensor, msg);
    return mb_error(p->ctx, MB_EFORMAT, "%s: bad %s at byte %zu: %s", p->path, p->what, p->pos,
                    msg);
}

/* "expected <exp>, found <what is at pos>" */
static mb_status mb_st_jexpect(mb_st_jp *p, const char *exp) {
    char found[32];
    if (p->pos >= p->len) {
        snprintf(found, sizeof found, "end of input");
    } else {
        unsigned c = p->s[p->pos];
        if (c >= 0x20 && c < 0x7F)
            snprintf(found, sizeof found, "'%c'", (char)c);
        else
            snprintf(found, sizeof found, "byte 0x%02X", c);
    }
    return mb_st_jfail(p, "expected %s, found %s", exp, found);
}

static void mb_st_jws(mb_st_jp *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static bool mb_st_jpeek(mb_st_jp *p, char c) {
    mb_st_jws(p);
    return p->pos < p->len && p->s[p->pos] == (unsigned char)c;
}

static mb_status mb_st_jchar(mb_st_jp *p, char c, const char *exp) {
    if (!mb_st_jpeek(p, c)) return mb_st_jexpect(p, exp);
    p->pos++;
    return MB_OK;
}

static int mb_st_hex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 4 hex digits at s[i..i+3] (i+4 <= stop checked by the caller) into *v; false if not hex. */
static bool mb_st_hex4(const unsigned char *s, size_t i, uint32_t *v) {
    uint32_t r = 0;
    for (size_t k = 0; k < 4; k++) {
        int h = mb_st_hex(s[i + k]);
        if (h < 0) return false;
        r = (r << 4) | (uint32_t)h;
    }
    *v = r;
    return true;
}

static size_t mb_st_put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string at pos into a fresh NUL-terminated buffer (*out, caller frees; NULL when only
 * validating). `exp` says what a string was expected as, for the message when none is there. */
static mb_status mb_st_jstring(mb_st_jp *p, char **out, const char *exp) {
    if (out) *out = NULL;
    if (!mb_st_jpeek(p, '"')) return mb_st_jexpect(p, exp);
    const size_t open = p->pos, start = open + 1;
    size_t stop = start;
    for (;;) { /* find the closing quote; escapes shrink when decoded, so stop-start bounds the size
                */
        if (stop >= p->len) {
            p->pos = open;
            return mb_st_jfail(p, "unterminated string (expected a closing '\"')");
        }
        if (p->s[stop] == '"') break;
        stop += p->s[stop] == '\\' ? 2 : 1;
    }
    char *o = malloc(stop - start + 1);
    if (!o)
        return mb_error(p->ctx, MB_ENOMEM, "%s: out of memory parsing the %s", p->path, p->what);
    size_t k = 0, i = start;
    mb_status st = MB_OK;
    while (i < stop) {
        unsigned c = p->s[i];
        if (c == '\\') { /* i + 1 < stop: the scan above stepped over the escaped byte */
            unsigned e = p->s[i + 1];
            static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
            const char *simple = e ? strchr(esc_in, (int)e) : NULL;
            if (simple) {
                o[k++] = esc_out[simple - esc_in];
                i += 2;
                continue;
            }
            if (e != 'u') {
                p->pos = i;
                st = (e >= 0x20 && e < 0x7F)
                         ? mb_st_jfail(p, "invalid escape '\\%c' in string", (char)e)
                         : mb_st_jfail(p, "invalid escape (backslash then byte 0x%02X) in string",
                                       e);
                break;
            }
            uint32_t cp;
            if (i + 6 > stop || !mb_st_hex4(p->s, i + 2, &cp)) {
                p->pos = i;
                st = mb_st_jfail(p, "expected 4 hex digits after '\\u'");
                break;
            }
            size_t used = 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (i + 12 > stop || p->s[i + 6] != '\\' || p->s[i + 7] != 'u' ||
                    !mb_st_hex4(p->s, i + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    p->pos = i;
                    st = mb_st_jfail(p, "high surrogate \\u%04X not followed by a low surrogate",
                                     (unsigned)cp);
                    break;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                used = 12;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                p->pos = i;
                st = mb_st_jfail(p, "lone low surrogate \\u%04X", (unsigned)cp);
                break;
            } else if (cp == 0) {
                p->pos = i;
                st = mb_st_jfail(p, "\\u0000 (NUL) in a string is not supported");
                break;
            }
            k += mb_st_put_utf8(o + k, cp);
            i += used;
        } else if (c < 0x20) {
            p->pos = i;
            st = mb_st_jfail(p, "control character 0x%02X in a string must be escaped", c);
            break;
        } else {
            size_t n = mb_st_utf8_seq(p->s + i, stop - i);
            if (!n) {
                p->pos = i;
                st = mb_st_jfail(p, "invalid UTF-8 in string");
                break;
            }
            memcpy(o + k, p->s + i, n);
            k += n;
            i += n;
        }
    }
    if (st != MB_OK) {
        free(o);
        return st;
    }
    o[k] = '\0';
    p->pos = stop + 1;
    if (out)
        *out = o;
    else
        free(o);
    return MB_OK;
}

/* Parses a JSON integer (no fraction, no exponent) that fits in int64_t. */
static mb_status mb_st_jint(mb_st_jp *p, int64_t *out, const char *exp) {
    mb_st_jws(p);
    const size_t start = p->pos;
    size_t i = start;
    bool neg = false;
    if (i < p->len && p->s[i] == '-') neg = true, i++;
    if (i >= p->len || p->s[i] < '0' || p->s[i] > '9') return mb_st_jexpect(p, exp);
    if (p->s[i] == '0' && i + 1 < p->len && p->s[i + 1] >= '0' && p->s[i + 1] <= '9')
        return mb_st_jfail(p, "expected %s, found a number with a leading zero", exp);
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < p->len && p->s[i] >= '0' && p->s[i] <= '9'; i++) {
        unsigned d = p->s[i] - '0';
        if (v > (limit - d) / 10) return mb_st_jfail(p, "integer out of the 64-bit range");
        v = v * 10 + d;
    }
    if (i < p->len && (p->s[i] == '.' || p->s[i] == 'e' || p->s[i] == 'E'))
        return mb_st_jfail(p, "expected %s, found a non-integer number (not supported)", exp);
    if (!neg)
        *out = (int64_t)v;
    else
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    p->pos = i;
    return MB_OK;
}

/* Parses and discards any value we accept (for keys the format does not define). */
static mb_status mb_st_jskip(mb_st_jp *p, int depth) {
    mb_st_jws(p);
    if (depth > MB_ST_MAX_DEPTH)
        return mb_st_jfail(p, "nesting deeper than %d levels is not supported", MB_ST_MAX_DEPTH);
    if (p->pos >= p->len) return mb_st_jexpect(p, "a value");
    unsigned char c = p->s[p->pos];
    if (c == '"') return mb_st_jstring(p, NULL, "a string");
    if (c == '-' || (c >= '0' && c <= '9')) {
        int64_t v;
        return mb_st_jint(p, &v, "an integer");
    }
    if (c == '{' || c == '[') {
        const char close = c == '{' ? '}' : ']';
        p->pos++;
        if (mb_st_jpeek(p, close)) {
            p->pos++;
            return MB_OK;
        }
        for (;;) {
            if (c == '{') {
                MB_TRY(mb_st_jstring(p, NULL, "an object key (a string)"));
                MB_TRY(mb_st_jchar(p, ':', "':' after an object key"));
            }
            MB_TRY(mb_st_jskip(p, depth + 1));
            if (mb_st_jpeek(p, ',')) {
                p->pos++;
                continue;
            }
            return mb_st_jchar(p, close,
                               c == '{' ? "',' or '}' in an object" : "',' or ']' in an array");
        }
    }
    if (c == 't' || c == 'f' || c == 'n')
        return mb_st_jfail(p,
                           "expected a string, integer, object or array, found '%c' "
                           "(true, false and null are not supported)",
                           (char)c);
    return mb_st_jexpect(p, "a value (string, integer, object or array)");
}

static int mb_st_cmp_meta(const void *a, const void *b) {
    const mb_st_meta *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

static void mb_st_free_meta(mb_st_meta *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(m[i].key);
        free(m[i].value);
    }
    free(m);
}

/* Parses an object of string -> string into a fresh array (*out, *n); rejects duplicate keys. */
static mb_status mb_st_jmeta(mb_st_jp *p, mb_st_meta **out, size_t *n) {
    mb_st_meta *m = NULL;
    size_t cnt = 0, cap = 0;
    mb_status st = mb_st_jchar(p, '{', "'{' to start the \"__metadata__\" object");
    if (st == MB_OK && mb_st_jpeek(p, '}')) {
        p->pos++;
    } else {
        while (st == MB_OK) {
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 8;
                mb_st_meta *g = realloc(m, nc * sizeof *m);
                if (!g) {
                    st = mb_error(p->ctx, MB_ENOMEM, "%s: out of memory parsing the %s", p->path,
                                  p->what);
                    break;
                }
                m = g, cap = nc;
            }
            m[cnt].key = m[cnt].value = NULL;
            cnt++;
            st = mb_st_jstring(p, &m[cnt - 1].key, "a \"__metadata__\" key (a string)");
            if (st == MB_OK) st = mb_st_jchar(p, ':', "':' after a \"__metadata__\" key");
            if (st == MB_OK)
                st = mb_st_jstring(p, &m[cnt - 1].value,
                                   "a string value in \"__metadata__\" (values must be strings)");
            if (st != MB_OK) break;
            if (mb_st_jpeek(p, ',')) {
                p->pos++;
                continue;
            }
            st = mb_st_jchar(p, '}', "',' or '}' in the \"__metadata__\" object");
            break;
        }
    }
    if (st == MB_OK && cnt > 1) { /* duplicate keys: sort pointers, compare neighbours */
        const mb_st_meta **idx = malloc(cnt * sizeof *idx);
        if (!idx) {
            st = mb_error(p->ctx, MB_ENOMEM, "%s: out of memory parsing the %s", p->path, p->what);
        } else {
            for (size_t i = 0; i < cnt; i++) idx[i] = &m[i];
            qsort(idx, cnt, sizeof *idx, mb_st_cmp_meta);
            for (size_t i = 1; i < cnt && st == MB_OK; i++) {
                if (strcmp(idx[i - 1]->key, idx[i]->key) == 0) {
                    char kb[MB_ST_SHOW_BUF];
                    st = mb_error(p->ctx, MB_EFORMAT, "%s: duplicate key '%s' in \"__metadata__\"",
                                  p->path, mb_st_show(kb, idx[i]->key));
                }
            }
            free(idx);
        }
    }
    if (st != MB_OK) {
        mb_st_free_meta(m, cnt);
        return st;
    }
    *out = m;
    *n = cnt;
    return MB_OK;
}

/* Parses one tensor entry {"dtype", "shape", "data_offsets", ignored extra keys} into t (whose name
 * is set) and validates it against the data section's size. */
static mb_status mb_st_jtensor(mb_st_jp *p, mb_st_tensor *t, uint64_t data_size) {
    char nb[MB_ST_SHOW_BUF];
    const char *name = mb_st_show(nb, t->name);
    bool has_dtype = false, has_shape = false, has_offsets = false;
    char dtype[MB_ST_SHOW_BUF] = "";
    int ndim = 0;
    int64_t off[2] = {0, 0};
    p->tensor = name;
    MB_TRY(mb_st_jchar(p, '{', "'{' to start the tensor's entry"));
    if (mb_st_jpeek(p, '}')) {
        p->pos++;
    } else {
        for (;;) {
            char *key;
            const size_t key_pos = (mb_st_jws(p), p->pos);
            MB_TRY(mb_st_jstring(p, &key, "a key (a string)"));
            bool *seen = strcmp(key, "dtype") == 0          ? &has_dtype
                         : strcmp(key, "shape") == 0        ? &has_shape
                         : strcmp(key, "data_offsets") == 0 ? &has_offsets
                                                            : NULL;
            if (seen && *seen) {
                p->pos = key_pos;
                mb_status st = mb_st_jfail(p, "duplicate key \"%s\"", key);
                free(key);
                return st;
            }
            free(key);
            MB_TRY(mb_st_jchar(p, ':', "':' after a key"));
            if (seen == &has_dtype) {
                char *d;
                MB_TRY(mb_st_jstring(p, &d, "a string for \"dtype\""));
                mb_st_show(dtype, d);
                free(d);
            } else if (seen == &has_shape) {
                MB_TRY(mb_st_jchar(p, '[', "'[' to start \"shape\""));
                if (mb_st_jpeek(p, ']')) {
                    p->pos++;
                } else {
                    for (;;) {
                        int64_t d;
                        MB_TRY(mb_st_jint(p, &d, "an integer in \"shape\""));
                        if (ndim < MB_ST_MAX_DIMS) t->shape[ndim] = d;
                        ndim++; /* keeps counting past the limit, for the message */
                        if (mb_st_jpeek(p, ',')) {
                            p->pos++;
                            continue;
                        }
                        MB_TRY(mb_st_jchar(p, ']', "',' or ']' in \"shape\""));
                        break;
                    }
                }
            } else if (seen == &has_offsets) {
                MB_TRY(mb_st_jchar(p, '[', "'[' to start \"data_offsets\""));
                MB_TRY(mb_st_jint(p, &off[0], "an integer (begin) in \"data_offsets\""));
                MB_TRY(mb_st_jchar(p, ',', "',' then the end offset in \"data_offsets\""));
                MB_TRY(mb_st_jint(p, &off[1], "an integer (end) in \"data_offsets\""));
                MB_TRY(mb_st_jchar(p, ']', "']' after the two \"data_offsets\" values"));
            } else {
                MB_TRY(mb_st_jskip(p, 1));
            }
            if (seen) *seen = true;
            if (mb_st_jpeek(p, ',')) {
                p->pos++;
                continue;
            }
            MB_TRY(mb_st_jchar(p, '}', "',' or '}' in the tensor's entry"));
            break;
        }
    }
    p->tensor = NULL;

    /* the entry parsed; now check what it says */
    mb_ctx *ctx = p->ctx;
    const char *path = p->path;
    const char *missing = !has_dtype     ? "dtype"
                          : !has_shape   ? "shape"
                          : !has_offsets ? "data_offsets"
                                         : NULL;
    if (missing)
        return mb_error(ctx, MB_EFORMAT, "%s: tensor '%s': missing \"%s\"", path, name, missing);
    size_t esize = strlen(dtype) < sizeof t->dtype ? mb_st_dtype_size(dtype) : 0;
    if (!esize)
        return mb_error(ctx, MB_EFORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                        dtype);
    memcpy(t->dtype, dtype, strlen(dtype) + 1);
    if (ndim > MB_ST_MAX_DIMS)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: tensor '%s': shape has %d dimensions, more than the %d supported",
                        path, name, ndim, MB_ST_MAX_DIMS);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] < 0)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: tensor '%s': negative dimension %" PRId64 " at shape[%d]", path,
                            name, t->shape[i], i);
    for (int i = 0; i < 2; i++)
        if (off[i] < 0)
            return mb_error(ctx, MB_EFORMAT,
                            "%s: tensor '%s': negative value %" PRId64 " in data_offsets", path,
                            name, off[i]);
    t->begin = (uint64_t)off[0];
    t->end = (uint64_t)off[1];
    if (t->end < t->begin)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: tensor '%s': data_offsets end %" PRIu64 " is before begin %" PRIu64,
                        path, name, t->end, t->begin);
    char sh[256];
    mb_st_fmt_shape(sh, sizeof sh, t->shape, t->ndim);
    if (!mb_st_numel(t->shape, t->ndim, &t->numel) || t->numel > UINT64_MAX / esize)
        return mb_error(ctx, MB_EFORMAT, "%s: tensor '%s': shape %s is too large", path, name, sh);
    const uint64_t need = t->numel * esize, have = t->end - t->begin;
    if (have != need)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                        " bytes, but shape %s of %s needs %" PRIu64,
                        path, name, t->begin, t->end, have, sh, t->dtype, need);
    if (t->end > data_size)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: tensor '%s': data_offsets end %" PRIu64
                        " is past the end of the data section (%" PRIu64 " bytes)",
                        path, name, t->end, data_size);
    return MB_OK;
}

/* The whole header: one object of tensor name -> entry, plus an optional "__metadata__". */
static mb_status mb_st_jheader(mb_st_jp *p, mb_st_file *f) {
    size_t cap = 0;
    bool seen_meta = false;
    MB_TRY(mb_st_jchar(p, '{', "'{' at the start of the header"));
    if (mb_st_jpeek(p, '}')) {
        p->pos++;
    } else {
        for (;;) {
            char *key;
            const size_t key_pos = (mb_st_jws(p), p->pos);
            MB_TRY(mb_st_jstring(p, &key, "a tensor name (a string)"));
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                if (seen_meta) {
                    p->pos = key_pos;
                    return mb_st_jfail(p, "duplicate key \"__metadata__\"");
                }
                seen_meta = true;
                MB_TRY(mb_st_jchar(p, ':', "':' after \"__metadata__\""));
                MB_TRY(mb_st_jmeta(p, &f->meta, &f->n_meta));
            } else {
                if (f->n == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    mb_st_tensor *g = realloc(f->t, nc * sizeof *g);
                    if (!g) {
                        free(key);
                        return mb_error(p->ctx, MB_ENOMEM, "%s: out of memory parsing the header",
                                        p->path);
                    }
                    f->t = g, cap = nc;
                }
                mb_st_tensor *t = &f->t[f->n++];
                memset(t, 0, sizeof *t);
                t->name = key; /* owned by f from here on, freed by mb_st_close */
                MB_TRY(mb_st_jchar(p, ':', "':' after a tensor name"));
                const mb_status st = mb_st_jtensor(p, t, f->data_size);
                p->tensor = NULL; /* pointed into mb_st_jtensor's frame */
                MB_TRY(st);
            }
            if (mb_st_jpeek(p, ',')) {
                p->pos++;
                continue;
            }
            MB_TRY(mb_st_jchar(p, '}', "',' or '}' after a tensor entry"));
            break;
        }
    }
    mb_st_jws(p);
    if (p->pos != p->len)
        return mb_st_jexpect(p, "the end of the header after the top-level object");
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reading */

static int mb_st_cmp_offset(const void *a, const void *b) {
    const mb_st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int mb_st_cmp_name(const void *a, const void *b) {
    const mb_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Reads exactly n bytes at offset off; MB_EIO naming the file on error or early end of file. */
static mb_status mb_st_pread(mb_ctx *ctx, int fd, const char *path, void *buf, size_t n,
                             uint64_t off) {
    unsigned char *b = buf;
    if (off > (uint64_t)INT64_MAX || n > (uint64_t)INT64_MAX - off)
        return mb_error(ctx, MB_EIO, "%s: read at offset %" PRIu64 " is out of range", path, off);
    while (n > 0) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return mb_error(ctx, MB_EIO, "%s: read failed at offset %" PRIu64 ": %s", path, off,
                            strerror(errno));
        if (r == 0)
            return mb_error(ctx, MB_EIO, "%s: unexpected end of file at offset %" PRIu64, path,
                            off);
        b += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return MB_OK;
}

void mb_st_close(mb_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    mb_st_free_meta(f->meta, f->n_meta);
    free(f->by_name);
    free(f->path);
    if (f->fp) fclose(f->fp);
    memset(f, 0, sizeof *f);
}

mb_status mb_st_open(mb_ctx *ctx, const char *path, mb_st_file *out) {
    memset(out, 0, sizeof *out);
    if (!mb_st_host_le())
        return mb_error(ctx, MB_EUNSUPPORTED, "%s: safetensors needs a little-endian host", path);
    mb_st_file f;
    memset(&f, 0, sizeof f);
    mb_status st = MB_OK;
    unsigned char *hdr = NULL;
    f.path = strdup(path);
    if (!f.path) return mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
    f.fp = fopen(path, "rb");
    if (!f.fp) {
        st = mb_error(ctx, MB_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    const int fd = fileno(f.fp);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = mb_error(ctx, MB_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = mb_error(ctx, MB_EIO, "%s: not a regular file", path);
        goto fail;
    }
    const uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        st = mb_error(ctx, MB_EFORMAT,
                      "%s: file is %" PRIu64 " bytes, too short for the 8-byte header length", path,
                      size);
        goto fail;
    }
    unsigned char lenb[8];
    if ((st = mb_st_pread(ctx, fd, path, lenb, 8, 0)) != MB_OK) goto fail;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | lenb[i];
    if (n > size - 8) {
        st = mb_error(ctx, MB_EFORMAT,
                      "%s: header length %" PRIu64 " goes past the end of the file (%" PRIu64
                      " bytes)",
                      path, n, size);
        goto fail;
    }
    if (n > MB_ST_MAX_HEADER) {
        st = mb_error(ctx, MB_EFORMAT,
                      "%s: header length %" PRIu64 " exceeds the limit of %llu bytes", path, n,
                      MB_ST_MAX_HEADER);
        goto fail;
    }
    f.header_len = n;
    f.data_start = 8 + n;
    f.data_size = size - f.data_start;
    hdr = malloc(n ? (size_t)n : 1);
    if (!hdr) {
        st = mb_error(ctx, MB_ENOMEM, "%s: out of memory for a %" PRIu64 "-byte header", path, n);
        goto fail;
    }
    if ((st = mb_st_pread(ctx, fd, path, hdr, (size_t)n, 8)) != MB_OK) goto fail;

    mb_st_jp p = {.ctx = ctx, .path = path, .what = "JSON header", .s = hdr, .len = (size_t)n};
    if ((st = mb_st_jheader(&p, &f)) != MB_OK) goto fail;
    free(hdr);
    hdr = NULL;

    if (f.n > 1) qsort(f.t, f.n, sizeof *f.t, mb_st_cmp_offset);
    f.by_name = malloc((f.n ? f.n : 1) * sizeof *f.by_name);
    if (!f.by_name) {
        st = mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < f.n; i++) f.by_name[i] = &f.t[i];
    if (f.n > 1) qsort(f.by_name, f.n, sizeof *f.by_name, mb_st_cmp_name);
    for (size_t i = 1; i < f.n; i++) {
        if (strcmp(f.by_name[i - 1]->name, f.by_name[i]->name) == 0) {
            char nb[MB_ST_SHOW_BUF];
            st = mb_error(ctx, MB_EFORMAT, "%s: duplicate tensor name '%s'", path,
                          mb_st_show(nb, f.by_name[i]->name));
            goto fail;
        }
    }
    /* No byte belongs to two tensors: aliased data would make a write to one change the other,
     * and a loader that trusts offsets would read one tensor's bytes as another's. Sorted by begin,
     * a tensor overlaps an earlier one exactly when it begins before the furthest end so far; empty
     * tensors hold no bytes, so they may sit anywhere. */
    size_t far = SIZE_MAX; /* the non-empty tensor reaching furthest so far */
    for (size_t i = 0; i < f.n; i++) {
        const mb_st_tensor *t = &f.t[i];
        if (t->end == t->begin) continue;
        if (far != SIZE_MAX && f.t[far].end > t->begin) {
            char nb[MB_ST_SHOW_BUF], ob[MB_ST_SHOW_BUF];
            st = mb_error(ctx, MB_EFORMAT,
                          "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] overlap those of tensor '%s' [%" PRIu64 ", %" PRIu64 "]",
                          path, mb_st_show(nb, t->name), t->begin, t->end,
                          mb_st_show(ob, f.t[far].name), f.t[far].begin, f.t[far].end);
            goto fail;
        }
        if (far == SIZE_MAX || t->end > f.t[far].end) far = i;
    }
    *out = f;
    return MB_OK;

fail:
    free(hdr);
    mb_st_close(&f);
    return st;
}

const mb_st_tensor *mb_st_find(const mb_st_file *f, const char *name) {
    if (!f || !f->by_name || !name) return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *mb_st_meta_get(const mb_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

mb_status mb_st_read(mb_ctx *ctx, const mb_st_file *f, const mb_st_tensor *t, void *dst,
                     size_t dst_bytes) {
    if (!f || !f->fp || !t)
        return mb_error(ctx, MB_EINVAL, "safetensors: read from a file that is not open");
    char nb[MB_ST_SHOW_BUF];
    const char *name = mb_st_show(nb, t->name ? t->name : "");
    if (t->end < t->begin || t->end > f->data_size)
        return mb_error(ctx, MB_EINVAL, "%s: tensor '%s': offsets outside the data section",
                        f->path, name);
    const uint64_t have = t->end - t->begin;
    if ((uint64_t)dst_bytes != have)
        return mb_error(ctx, MB_EINVAL,
                        "%s: tensor '%s': destination is %zu bytes but the tensor holds %" PRIu64,
                        f->path, name, dst_bytes, have);
    if (!dst_bytes) return MB_OK;
    mb_status st =
        mb_st_pread(ctx, fileno(f->fp), f->path, dst, dst_bytes, f->data_start + t->begin);
    if (st != MB_OK) return mb_error_prefix(ctx, st, "reading tensor '%s'", name);
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Writing */

typedef struct mb_st_sb {
    char *p;
    size_t len, cap;
    bool oom;
} mb_st_sb;

static void mb_st_put(mb_st_sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *g = realloc(b->p, nc);
        if (!g) {
            b->oom = true;
            return;
        }
        b->p = g, b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void mb_st_puts(mb_st_sb *b, const char *s) {
    mb_st_put(b, s, strlen(s));
}

static void mb_st_putu(mb_st_sb *b, uint64_t v) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    mb_st_put(b, tmp, (size_t)k);
}

/* A JSON string literal for s (valid UTF-8): quotes, backslashes and control bytes escaped. */
static void mb_st_putjs(mb_st_sb *b, const char *s) {
    mb_st_put(b, "\"", 1);
    for (const char *c = s; *c; c++) {
        unsigned char u = (unsigned char)*c;
        char e[8];
        switch (u) {
        case '"':
            mb_st_put(b, "\\\"", 2);
            break;
        case '\\':
            mb_st_put(b, "\\\\", 2);
            break;
        case '\n':
            mb_st_put(b, "\\n", 2);
            break;
        case '\r':
            mb_st_put(b, "\\r", 2);
            break;
        case '\t':
            mb_st_put(b, "\\t", 2);
            break;
        default:
            if (u < 0x20) {
                snprintf(e, sizeof e, "\\u%04x", u);
                mb_st_put(b, e, 6);
            } else {
                mb_st_put(b, c, 1);
            }
        }
    }
    mb_st_put(b, "\"", 1);
}

static int mb_st_cmp_entry(const void *a, const void *b) {
    const mb_st_entry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Checks the entries (MB_EINVAL naming the first bad one) and returns the total data size. */
static mb_status mb_st_check_entries(mb_ctx *ctx, const char *path, const mb_st_entry *e, size_t n,
                                     uint64_t *total) {
    uint64_t sum = 0;
    char nb[MB_ST_SHOW_BUF], db[MB_ST_SHOW_BUF], sh[256];
    for (size_t i = 0; i < n; i++) {
        if (!e[i].name) return mb_error(ctx, MB_EINVAL, "%s: entry %zu has no name", path, i);
        const char *name = mb_st_show(nb, e[i].name);
        if (!mb_st_utf8_valid(e[i].name))
            return mb_error(ctx, MB_EINVAL, "%s: tensor '%s': name is not valid UTF-8", path, name);
        if (strcmp(e[i].name, "__metadata__") == 0)
            return mb_error(ctx, MB_EINVAL, "%s: \"__metadata__\" cannot be a tensor name", path);
        const size_t esize = mb_st_dtype_size(e[i].dtype);
        if (!esize)
            return mb_error(ctx, MB_EINVAL, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                            e[i].dtype ? mb_st_show(db, e[i].dtype) : "(null)");
        if (e[i].ndim < 0 || e[i].ndim > MB_ST_MAX_DIMS)
            return mb_error(ctx, MB_EINVAL, "%s: tensor '%s': ndim %d is outside 0..%d", path, name,
                            e[i].ndim, MB_ST_MAX_DIMS);
        for (int d = 0; d < e[i].ndim; d++)
            if (e[i].shape[d] < 0)
                return mb_error(ctx, MB_EINVAL,
                                "%s: tensor '%s': negative dimension %" PRId64 " at shape[%d]",
                                path, name, e[i].shape[d], d);
        mb_st_fmt_shape(sh, sizeof sh, e[i].shape, e[i].ndim);
        uint64_t numel;
        if (!mb_st_numel(e[i].shape, e[i].ndim, &numel) || numel > UINT64_MAX / esize)
            return mb_error(ctx, MB_EINVAL, "%s: tensor '%s': shape %s is too large", path, name,
                            sh);
        if ((uint64_t)e[i].bytes != numel * esize)
            return mb_error(ctx, MB_EINVAL,
                            "%s: tensor '%s': %zu bytes given, but shape %s of %s needs %" PRIu64,
                            path, name, e[i].bytes, sh, e[i].dtype, numel * esize);
        if (e[i].bytes && !e[i].data)
            return mb_error(ctx, MB_EINVAL, "%s: tensor '%s': data is NULL", path, name);
        if (e[i].bytes > UINT64_MAX - sum)
            return mb_error(ctx, MB_EINVAL, "%s: total data size overflows", path);
        sum += e[i].bytes;
    }
    if (n > 1) {
        const mb_st_entry **idx = malloc(n * sizeof *idx);
        if (!idx) return mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
        for (size_t i = 0; i < n; i++) idx[i] = &e[i];
        qsort(idx, n, sizeof *idx, mb_st_cmp_entry);
        mb_status st = MB_OK;
        for (size_t i = 1; i < n && st == MB_OK; i++)
            if (strcmp(idx[i - 1]->name, idx[i]->name) == 0)
                st = mb_error(ctx, MB_EINVAL, "%s: duplicate tensor name '%s'", path,
                              mb_st_show(nb, idx[i]->name));
        free(idx);
        MB_TRY(st);
    }
    *total = sum;
    return MB_OK;
}

/* Builds the padded header text into b. */
static mb_status mb_st_build_header(mb_ctx *ctx, const char *path, const mb_st_entry *e, size_t n,
                                    const char *metadata_json, mb_st_sb *b) {
    mb_st_puts(b, "{");
    bool first = true;
    if (metadata_json) {
        mb_st_meta *m = NULL;
        size_t nm = 0;
        mb_st_jp p = {.ctx = ctx,
                      .path = path,
                      .what = "metadata JSON",
                      .s = (const unsigned char *)metadata_json,
                      .len = strlen(metadata_json)};
        mb_status st = mb_st_jmeta(&p, &m, &nm);
        if (st == MB_OK) {
            mb_st_jws(&p);
            if (p.pos != p.len) {
                st = mb_st_jexpect(&p, "the end of input after the metadata object");
                mb_st_free_meta(m, nm);
            }
        }
        if (st != MB_OK) return st == MB_EFORMAT ? MB_EINVAL : st;
        mb_st_puts(b, "\"__metadata__\":{");
        for (size_t i = 0; i < nm; i++) {
            if (i) mb_st_puts(b, ",");
            mb_st_putjs(b, m[i].key);
            mb_st_puts(b, ":");
            mb_st_putjs(b, m[i].value);
        }
        mb_st_puts(b, "}");
        mb_st_free_meta(m, nm);
        first = false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!first) mb_st_puts(b, ",");
        first = false;
        mb_st_putjs(b, e[i].name);
        mb_st_puts(b, ":{\"dtype\":");
        mb_st_putjs(b, e[i].dtype);
        mb_st_puts(b, ",\"shape\":[");
        for (int d = 0; d < e[i].ndim; d++) {
            if (d) mb_st_puts(b, ",");
            mb_st_putu(b, (uint64_t)e[i].shape[d]);
        }
        mb_st_puts(b, "],\"data_offsets\":[");
        mb_st_putu(b, off);
        mb_st_puts(b, ",");
        off += e[i].bytes;
        mb_st_putu(b, off);
        mb_st_puts(b, "]}");
    }
    mb_st_puts(b, "}");
    while (!b->oom && b->len % 8 != 0) mb_st_puts(b, " ");
    if (b->oom) return mb_error(ctx, MB_ENOMEM, "%s: out of memory building the header", path);
    return MB_OK;
}

static const char *mb_st_errstr(int e) {
    return e ? strerror(e) : "short write";
}

mb_status mb_st_write(mb_ctx *ctx, const char *path, const mb_st_entry *e, size_t n,
                      const char *metadata_json) {
    if (!path) return mb_error(ctx, MB_EINVAL, "safetensors: no output path");
    if (!mb_st_host_le())
        return mb_error(ctx, MB_EUNSUPPORTED, "%s: safetensors needs a little-endian host", path);
    if (n && !e) return mb_error(ctx, MB_EINVAL, "%s: %zu tensors but no entries", path, n);
    uint64_t total;
    MB_TRY(mb_st_check_entries(ctx, path, e, n, &total));

    mb_st_sb hb = {0};
    mb_status st = mb_st_build_header(ctx, path, e, n, metadata_json, &hb);
    if (st != MB_OK) {
        free(hb.p);
        return st;
    }

    /* A new file beside `path` (mkstemp: never through a symlink planted anywhere), renamed over it
     * once complete and synced: a crash leaves the old file or the new one, never half of one. */
    mb_file_out out;
    st = mb_file_begin(ctx, &out, path);
    if (st != MB_OK) {
        free(hb.p);
        return st;
    }
    FILE *fp = out.fp;
    unsigned char lenb[8];
    const uint64_t hl = hb.len;
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(hl >> (8 * i));
    errno = 0;
    if (fwrite(lenb, 1, 8, fp) != 8 || fwrite(hb.p, 1, hb.len, fp) != hb.len)
        st = mb_error(ctx, mb_file_errno_is_storage(errno) ? MB_ESTORAGE : MB_EIO,
                      "%s: write failed: %s", path, mb_st_errstr(errno));
    for (size_t i = 0; i < n && st == MB_OK; i++) {
        errno = 0;
        if (e[i].bytes && fwrite(e[i].data, 1, e[i].bytes, fp) != e[i].bytes) {
            char nb[MB_ST_SHOW_BUF];
            st = mb_error(ctx, mb_file_errno_is_storage(errno) ? MB_ESTORAGE : MB_EIO,
                          "%s: write failed in tensor '%s': %s", path, mb_st_show(nb, e[i].name),
                          mb_st_errstr(errno));
        }
    }
    free(hb.p);
    if (st == MB_OK)
        st = mb_file_commit(ctx, &out); /* flush, fsync, close, rename; removes it on failure */
    else
        mb_file_abort(&out);
    (void)total;
    return st;
}
