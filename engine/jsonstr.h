/* engine/jsonstr.h — reading JSON text in place, without building a tree: UTF-8 decoding, one
 * string's code points at a time (escapes and surrogate pairs decoded), skipping any value, a
 * whole string or number. Shared by the BPE, SpamAssassin and Hugging Face checkpoint readers. */
#ifndef MB_JSONSTR_H
#define MB_JSONSTR_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the UTF-8 character at s[*i] (n bytes in all) into *cp and steps past it; 0 when the
 * bytes there are not well-formed UTF-8 (overlong forms, surrogates and > U+10FFFF included). */
int mb_utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp);
/* Writes code point cp (<= U+10FFFF, not a surrogate) as UTF-8 into out; returns its length. */
size_t mb_utf8_put(uint32_t cp, unsigned char out[4]);

/* Steps *i past spaces, tabs, CR and LF. */
void mb_json_ws(const unsigned char *s, size_t n, size_t *i);
/* Inside a JSON string whose opening quote is already behind *i: 1 with the next code point in
 * *cp; 0 at the closing quote (stepped past); -1 on malformed text, with *why saying what was
 * wrong ("unterminated string", "unknown escape", ...) and *i at the fault (past a \u escape
 * whose surrogates do not pair). */
int mb_json_str_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp, const char **why);
/* Steps *i past one JSON value (object, array, string, number, true, false, null) and the
 * whitespace before it; -1 with *why on malformed text, else 0. Nesting deeper than 64 is an
 * error. */
int mb_json_skip(const unsigned char *s, size_t n, size_t *i, const char **why);

/* Inside a JSON string whose opening quote is already behind *i: the whole string decoded into a
 * fresh NUL-terminated UTF-8 buffer (*out, the caller frees), *i past the closing quote; -1 with
 * *why on malformed text, "\u0000 (NUL) in a string" or "out of memory". */
int mb_json_str_dup(const unsigned char *s, size_t n, size_t *i, char **out, const char **why);
/* A JSON number at s[*i] (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) as the nearest
 * double, *i past it; -1 with *why when the text there is not one or is out of double's range. */
int mb_json_number(const unsigned char *s, size_t n, size_t *i, double *out, const char **why);
/* Steps through an object, *count (0 before the first call) counting the members seen: the first
 * call steps past '{'. 1 with the next member's name (*key, the caller frees) and *i at its value;
 * 0 past the closing '}'; -1 with *why on malformed text. */
int mb_json_member(const unsigned char *s, size_t n, size_t *i, int *count, char **key,
                   const char **why);
/* The same for an array: 1 with *i at the next element, 0 past the closing ']'. */
int mb_json_element(const unsigned char *s, size_t n, size_t *i, int *count, const char **why);

#endif
