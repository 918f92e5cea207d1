/* engine/jsonstr.c — in-place JSON reading: UTF-8, string code points with escapes, value
 * skipping (RFC 8259 grammar; a skipped number is checked for its characters only, one read with
 * mb_json_number for its full syntax), whole strings and numbers. */
#include "jsonstr.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int mb_utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp) {
    unsigned c = s[*i];
    size_t k;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        (*i)++;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        k = 1, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        k = 2, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 3, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n - *i <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
        unsigned d = s[*i + j];
        if ((d & 0xc0) != 0x80) return 0;
        v = v << 6 | (d & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    *i += k + 1;
    return 1;
}

size_t mb_utf8_put(uint32_t cp, unsigned char out[4]) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

void mb_json_ws(const unsigned char *s, size_t n, size_t *i) {
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r')) (*i)++;
}

static int hex4(const unsigned char *s, size_t avail, uint32_t *v) {
    if (avail < 4) return 0;
    *v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = s[k], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return 0;
        *v = *v << 4 | d;
    }
    return 1;
}

int mb_json_str_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp, const char **why) {
    if (*i >= n) {
        *why = "unterminated string";
        return -1;
    }
    unsigned c = s[*i];
    if (c == '"') {
        (*i)++;
        return 0;
    }
    if (c < 0x20) {
        *why = "control character inside a string";
        return -1;
    }
    if (c != '\\') {
        if (!mb_utf8_next(s, n, i, cp)) {
            *why = "invalid UTF-8";
            return -1;
        }
        return 1;
    }
    if (*i + 1 >= n) {
        *why = "unterminated escape";
        return -1;
    }
    static const char plain[] = "\"\\/bfnrt", value[] = "\"\\/\b\f\n\r\t";
    unsigned e = s[*i + 1];
    const char *k = e ? strchr(plain, (int)e) : NULL;
    if (k) {
        *cp = (unsigned char)value[k - plain];
        *i += 2;
        return 1;
    }
    if (e != 'u') {
        *why = "unknown escape";
        return -1;
    }
    uint32_t v, lo;
    if (!hex4(s + *i + 2, n - *i - 2, &v)) {
        *i += 2;
        *why = "\\u needs four hex digits";
        return -1;
    }
    if (v >= 0xdc00 && v <= 0xdfff) {
        *i += 6;
        *why = "low surrogate without a high one";
        return -1;
    }
    if (v >= 0xd800 && v <= 0xdbff) {
        size_t j = *i + 6;
        if (n - j < 6 || s[j] != '\\' || s[j + 1] != 'u' || !hex4(s + j + 2, n - j - 2, &lo) ||
            lo < 0xdc00 || lo > 0xdfff) {
            *i = j;
            *why = "high surrogate without a low one";
            return -1;
        }
        v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
        *i += 6;
    }
    *i += 6;
    *cp = v;
    return 1;
}

int mb_json_skip(const unsigned char *s, size_t n, size_t *i, const char **why) {
    char stack[64]; /* the closing bracket each open container waits for */
    int depth = 0;
    for (;;) {
        mb_json_ws(s, n, i);
        if (*i >= n) {
            *why = "unexpected end of the text";
            return -1;
        }
        unsigned c = s[*i];
        if (c == '{' || c == '[') { /* open; an empty container closes at once */
            if (depth == (int)sizeof stack) {
                *why = "nesting deeper than 64";
                return -1;
            }
            stack[depth++] = c == '{' ? '}' : ']';
            (*i)++;
            mb_json_ws(s, n, i);
            if (*i < n && s[*i] == (unsigned char)stack[depth - 1]) {
                (*i)++;
                depth--;
                goto after_value;
            }
            if (c == '[') continue;
            /* an object member: "key" : value */
        key:
            if (*i >= n || s[*i] != '"') {
                *why = "expected a member name (a string)";
                return -1;
            }
            (*i)++;
            uint32_t cp;
            int r;
            while ((r = mb_json_str_next(s, n, i, &cp, why)) == 1) {
            }
            if (r < 0) return -1;
            mb_json_ws(s, n, i);
            if (*i >= n || s[*i] != ':') {
                *why = "expected ':' after a member name";
                return -1;
            }
            (*i)++;
            continue;
        } else if (c == '"') {
            (*i)++;
            uint32_t cp;
            int r;
            while ((r = mb_json_str_next(s, n, i, &cp, why)) == 1) {
            }
            if (r < 0) return -1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            while (*i < n && strchr("+-.eE0123456789", s[*i]) && s[*i]) (*i)++;
        } else {
            static const char *const lit[] = {"true", "false", "null"};
            size_t k = 0;
            while (k < 3 && (n - *i < strlen(lit[k]) || memcmp(s + *i, lit[k], strlen(lit[k]))))
                k++;
            if (k == 3) {
                *why = "expected a value";
                return -1;
            }
            *i += strlen(lit[k]);
        }
    after_value:
        for (;;) { /* after a value: the end, a comma, or a closing bracket */
            if (depth == 0) return 0;
            mb_json_ws(s, n, i);
            if (*i < n && s[*i] == ',') {
                (*i)++;
                mb_json_ws(s, n, i);
                if (stack[depth - 1] == '}') goto key;
                break;
            }
            if (*i < n && s[*i] == (unsigned char)stack[depth - 1]) {
                (*i)++;
                depth--;
                continue;
            }
            *why = stack[depth - 1] == '}' ? "expected ',' or '}'" : "expected ',' or ']'";
            return -1;
        }
    }
}

int mb_json_str_dup(const unsigned char *s, size_t n, size_t *i, char **out, const char **why) {
    *out = NULL;
    size_t cap = 16, len = 0, start = *i;
    char *b = malloc(cap);
    if (!b) {
        *why = "out of memory";
        return -1;
    }
    for (;;) {
        uint32_t cp;
        int r = mb_json_str_next(s, n, i, &cp, why);
        if (r < 0) break;
        if (r == 0) {
            b[len] = 0;
            *out = b;
            return 0;
        }
        if (cp == 0) {
            *i = start;
            *why = "\\u0000 (NUL) in a string";
            break;
        }
        if (len + 5 > cap) {
            char *g = realloc(b, cap * 2);
            if (!g) {
                *why = "out of memory";
                break;
            }
            b = g;
            cap *= 2;
        }
        len += mb_utf8_put(cp, (unsigned char *)b + len);
    }
    free(b);
    return -1;
}

static size_t digits(const unsigned char *s, size_t n, size_t i) {
    size_t k = i;
    while (k < n && s[k] >= '0' && s[k] <= '9') k++;
    return k - i;
}

int mb_json_number(const unsigned char *s, size_t n, size_t *i, double *out, const char **why) {
    size_t k = *i, d;
    if (k < n && s[k] == '-') k++;
    if (!(d = digits(s, n, k))) {
        *why = "expected a number";
        return -1;
    }
    if (s[k] == '0' && d > 1) {
        *why = "a number with a leading zero";
        return -1;
    }
    k += d;
    if (k < n && s[k] == '.') {
        if (!(d = digits(s, n, k + 1))) {
            *why = "expected digits after the decimal point";
            return -1;
        }
        k += 1 + d;
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (!(d = digits(s, n, k))) {
            *why = "expected digits in the exponent";
            return -1;
        }
        k += d;
    }
    char buf[64]; /* longer numbers are not written by any tool membench reads */
    if (k - *i >= sizeof buf) {
        *why = "a number longer than 63 characters";
        return -1;
    }
    memcpy(buf, s + *i, k - *i);
    buf[k - *i] = 0;
    errno = 0;
    double v = strtod(buf, NULL);
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) {
        *why = "a number beyond double's range";
        return -1;
    }
    *out = v;
    *i = k;
    return 0;
}

/* The opening bracket on the first call, else a comma or the closing bracket; 1 when an item
 * follows, 0 at the end. */
static int next_item(const unsigned char *s, size_t n, size_t *i, int *count, char open,
                     const char **why) {
    static const char *const want[2][2] = {{"expected '['", "expected ',' or ']'"},
                                           {"expected '{'", "expected ',' or '}'"}};
    const char close = open == '[' ? ']' : '}';
    const int obj = open == '{';
    mb_json_ws(s, n, i);
    if (*count == 0) {
        if (*i >= n || s[*i] != (unsigned char)open) {
            *why = want[obj][0];
            return -1;
        }
        (*i)++;
        mb_json_ws(s, n, i);
        if (*i < n && s[*i] == (unsigned char)close) {
            (*i)++;
            return 0;
        }
    } else if (*i < n && s[*i] == ',') {
        (*i)++;
        mb_json_ws(s, n, i);
    } else if (*i < n && s[*i] == (unsigned char)close) {
        (*i)++;
        return 0;
    } else {
        *why = want[obj][1];
        return -1;
    }
    (*count)++;
    return 1;
}

int mb_json_member(const unsigned char *s, size_t n, size_t *i, int *count, char **key,
                   const char **why) {
    *key = NULL;
    int r = next_item(s, n, i, count, '{', why);
    if (r <= 0) return r;
    if (*i >= n || s[*i] != '"') {
        *why = "expected a member name (a string)";
        return -1;
    }
    (*i)++;
    if (mb_json_str_dup(s, n, i, key, why)) return -1;
    mb_json_ws(s, n, i);
    if (*i >= n || s[*i] != ':') {
        free(*key);
        *key = NULL;
        *why = "expected ':' after a member name";
        return -1;
    }
    (*i)++;
    mb_json_ws(s, n, i);
    return 1;
}

int mb_json_element(const unsigned char *s, size_t n, size_t *i, int *count, const char **why) {
    return next_item(s, n, i, count, '[', why);
}
