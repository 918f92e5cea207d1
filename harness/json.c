/* harness/json.c — streaming JSON writer for run.json: 2-space indentation, RFC 8259 escapes,
 * numbers in %.17g (exact round trip), NaN/inf as null. Failures set j->err; nothing aborts. */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* json.h gives one int per depth; it holds two flags so close() knows which bracket to write
 * without a second stack in the public struct. */
enum { MB_JSON_EMPTY = 1, MB_JSON_ARRAY = 2 };
#define MB_JSON_MAXDEPTH ((int)(sizeof(((mb_json *)0)->first) / sizeof(int)))

static void put(mb_json *j, const char *s) {
    if (!j->err && fputs(s, j->fp) == EOF) j->err = 1;
}

static void putch(mb_json *j, char c) {
    if (!j->err && fputc(c, j->fp) == EOF) j->err = 1;
}

static void indent(mb_json *j) {
    putch(j, '\n');
    for (int i = 0; i < j->depth; i++) put(j, "  ");
}

/* Escapes what RFC 8259 requires (quote, backslash, U+0000..U+001F); bytes >= 0x80 pass through,
 * so UTF-8 stays UTF-8 (run.json is meant to be read by people too). */
static void string(mb_json *j, const char *s) {
    putch(j, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': put(j, "\\\""); break;
        case '\\': put(j, "\\\\"); break;
        case '\n': put(j, "\\n"); break;
        case '\t': put(j, "\\t"); break;
        case '\r': put(j, "\\r"); break;
        case '\b': put(j, "\\b"); break;
        case '\f': put(j, "\\f"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
                put(j, esc);
            } else {
                putch(j, (char)*p);
            }
        }
    }
    putch(j, '"');
}

/* Starts a member or element: comma after the previous one, new line, the key in objects. */
static void member(mb_json *j, const char *key) {
    if (j->depth < 1) { /* nothing open: begin() missing or too many closes */
        j->err = 1;
        return;
    }
    int *f = &j->first[j->depth];
    if (!(*f & MB_JSON_EMPTY)) putch(j, ',');
    *f &= ~MB_JSON_EMPTY;
    indent(j);
    if (*f & MB_JSON_ARRAY) return; /* elements have no key; one given by mistake is dropped */
    if (!key) {                      /* an object member needs a key: record the misuse */
        j->err = 1;
        key = "";
    }
    string(j, key);
    put(j, ": ");
}

static void push(mb_json *j, int array) {
    if (j->depth + 1 >= MB_JSON_MAXDEPTH) { /* run.json nests 3 deep; this is a caller bug */
        j->err = 1;
        return;
    }
    putch(j, array ? '[' : '{');
    j->depth++;
    j->first[j->depth] = MB_JSON_EMPTY | (array ? MB_JSON_ARRAY : 0);
}

void mb_json_begin(mb_json *j, FILE *fp) {
    memset(j, 0, sizeof *j);
    j->fp = fp;
    push(j, 0);
}

void mb_json_close(mb_json *j) {
    if (j->depth < 1) {
        j->err = 1;
        return;
    }
    int f = j->first[j->depth];
    j->depth--;
    if (!(f & MB_JSON_EMPTY)) indent(j); /* an empty container stays on one line: {} or [] */
    putch(j, (f & MB_JSON_ARRAY) ? ']' : '}');
}

void mb_json_end(mb_json *j) {
    if (j->depth != 1) j->err = 1; /* unbalanced: still close everything so the file parses */
    while (j->depth > 0) mb_json_close(j);
    putch(j, '\n');
    if (!j->err && (fflush(j->fp) != 0 || ferror(j->fp))) j->err = 1;
}

void mb_json_key_obj(mb_json *j, const char *key) {
    member(j, key);
    push(j, 0);
}

void mb_json_key_arr(mb_json *j, const char *key) {
    member(j, key);
    push(j, 1);
}

void mb_json_obj(mb_json *j) {
    member(j, NULL);
    push(j, 0);
}

void mb_json_str(mb_json *j, const char *key, const char *v) {
    member(j, key);
    if (v)
        string(j, v);
    else
        put(j, "null");
}

void mb_json_int(mb_json *j, const char *key, int64_t v) {
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    member(j, key);
    put(j, b);
}

void mb_json_num(mb_json *j, const char *key, double v) {
    char b[40];
    member(j, key);
    if (!isfinite(v)) { /* JSON has no NaN or infinity; null is what readers expect instead */
        put(j, "null");
        return;
    }
    /* 17 significant digits read back to the same double. membench never calls setlocale, so
     * printf runs in the C locale; a ',' could only be a locale's decimal point, so map it back. */
    snprintf(b, sizeof b, "%.17g", v);
    for (char *p = b; *p; p++)
        if (*p == ',') *p = '.';
    put(j, b);
}

void mb_json_bool(mb_json *j, const char *key, int v) {
    member(j, key);
    put(j, v ? "true" : "false");
}
