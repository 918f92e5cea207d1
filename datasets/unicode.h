/* datasets/unicode.h — the Unicode classes the pre-tokenizer patterns need (letters, numbers,
 * White_Space), looked up in a table generated from Unicode data (scripts/gen_unicode_table.py). */
#ifndef MB_UNICODE_H
#define MB_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { MB_UNI_L = 1, MB_UNI_N = 2, MB_UNI_WS = 4 }; /* \p{L}, \p{N}, \s (White_Space) */

typedef struct mb_unicode_range {
    uint32_t lo, hi; /* inclusive */
    uint8_t cls;     /* MB_UNI_* bits */
} mb_unicode_range;

extern const char mb_unicode_version[]; /* the Unicode version the table was made from */
extern const mb_unicode_range mb_unicode_ranges[];
extern const size_t mb_unicode_nranges;

/* The MB_UNI_* bits of code point cp (0 for everything else, and for cp > U+10FFFF). */
int mb_unicode_class(uint32_t cp);

#endif
