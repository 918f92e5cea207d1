/* datasets/pretok.h — the two pre-tokenization patterns membench knows, GPT-2's and Llama 3's,
 * matched by hand over the generated Unicode classes (datasets/unicode.h) with the regex's meaning:
 * the first alternative that matches at a position wins, greedy runs give back as the regex does.
 */
#ifndef MB_PRETOK_H
#define MB_PRETOK_H

#include <stddef.h>

typedef enum mb_pretok { MB_PRETOK_GPT2, MB_PRETOK_LLAMA3 } mb_pretok;

/* The patterns as tokenizer.json spells them (Split's pattern.Regex; ByteLevel's use_regex uses
 * GPT-2's). \s is Unicode White_Space, \p{L} and \p{N} the general categories L and N. */
extern const char mb_pretok_gpt2[];
extern const char mb_pretok_llama3[];

/* The length in bytes of the pre-token that starts at s[i] (i < n) in the valid UTF-8 text
 * s[0..n): always at least one character, since every character starts a match of both patterns.
 * Matching from where the last pre-token ended, as a regex finditer does, cuts the whole text. */
size_t mb_pretok_next(mb_pretok kind, const unsigned char *s, size_t n, size_t i);

#endif
