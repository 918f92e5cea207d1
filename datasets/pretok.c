/* datasets/pretok.c — GPT-2's and Llama 3's pre-tokenization patterns, alternative by alternative.
 * Each branch below names the alternative it stands for; what a greedy run gives back when the
 * rest of its alternative fails is worked out once (see the white space cases) instead of
 * searched for. */
#include "pretok.h"

#include <stdint.h>

#include "../engine/jsonstr.h"
#include "unicode.h"

const char mb_pretok_gpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char mb_pretok_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct mb_pt_char {
    uint32_t cp;
    int cls;    /* MB_UNI_* bits */
    size_t len; /* bytes */
} mb_pt_char;

/* The character at s[p] (p < n, valid UTF-8). */
static mb_pt_char mb_pt_at(const unsigned char *s, size_t n, size_t p) {
    size_t q = p;
    uint32_t cp = 0;
    if (!mb_utf8_next(s, n, &q, &cp)) q = p + 1, cp = s[p]; /* callers pass valid UTF-8 */
    return (mb_pt_char){cp, mb_unicode_class(cp), q - p};
}

static int mb_pt_other(int cls) { /* [^\s\p{L}\p{N}] */
    return !(cls & (MB_UNI_WS | MB_UNI_L | MB_UNI_N));
}

/* The end of the run of characters from p whose class has a bit of `bits` (or, with other set,
 * that are neither white space, letters nor numbers). */
static size_t mb_pt_run(const unsigned char *s, size_t n, size_t p, int bits, int other) {
    while (p < n) {
        mb_pt_char c = mb_pt_at(s, n, p);
        if (other ? !mb_pt_other(c.cls) : !(c.cls & bits)) break;
        p += c.len;
    }
    return p;
}

/* The letter a contraction's character stands for: ASCII lower case as it is; with caseless set,
 * upper case too and U+017F (long s), which simple case folding takes to 's' as (?i) does. */
static uint32_t mb_pt_fold(uint32_t cp, int caseless) {
    if (!caseless) return cp;
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    return cp == 0x17F ? 's' : cp;
}

/* 's|'t|'re|'ve|'m|'ll|'d at s[i] (an apostrophe): its length in bytes, or 0. */
static size_t mb_pt_contraction(const unsigned char *s, size_t n, size_t i, int caseless) {
    if (i + 1 >= n) return 0;
    mb_pt_char a = mb_pt_at(s, n, i + 1);
    uint32_t f = mb_pt_fold(a.cp, caseless);
    if (f == 's' || f == 't' || f == 'm' || f == 'd') return 1 + a.len;
    if (f != 'r' && f != 'v' && f != 'l') return 0;
    if (i + 1 + a.len >= n) return 0;
    mb_pt_char b = mb_pt_at(s, n, i + 1 + a.len);
    uint32_t g = mb_pt_fold(b.cp, caseless);
    return (f == 'l' ? g == 'l' : g == 'e') ? 1 + a.len + b.len : 0;
}

/* \s+(?!\S)|\s+ at white space s[i]: the run to its end when the text ends there; else the run
 * less its last character, which stays to lead the next pre-token (the lookahead holds before
 * it), unless that leaves nothing, when \s+ takes the one character. */
static size_t mb_pt_space(const unsigned char *s, size_t n, size_t i) {
    size_t j = i, last = i;
    while (j < n) {
        mb_pt_char c = mb_pt_at(s, n, j);
        if (!(c.cls & MB_UNI_WS)) break;
        last = j;
        j += c.len;
    }
    if (j == n || last == i) return j - i;
    return last - i;
}

static size_t mb_pt_gpt2(const unsigned char *s, size_t n, size_t i) {
    mb_pt_char c = mb_pt_at(s, n, i);
    size_t k;
    if (c.cp == '\'' && (k = mb_pt_contraction(s, n, i, 0))) return k;
    size_t p = i;
    if (c.cp == ' ' && i + 1 < n) { /* ' ?' before a letter, number or other character */
        mb_pt_char d = mb_pt_at(s, n, i + 1);
        if ((d.cls & (MB_UNI_L | MB_UNI_N)) || mb_pt_other(d.cls)) p = i + 1, c = d;
    }
    if (c.cls & MB_UNI_L) return mb_pt_run(s, n, p, MB_UNI_L, 0) - i; /*  ?\p{L}+ */
    if (c.cls & MB_UNI_N) return mb_pt_run(s, n, p, MB_UNI_N, 0) - i; /*  ?\p{N}+ */
    if (mb_pt_other(c.cls)) return mb_pt_run(s, n, p, 0, 1) - i;      /*  ?[^\s\p{L}\p{N}]+ */
    return mb_pt_space(s, n, i);
}

static size_t mb_pt_llama3(const unsigned char *s, size_t n, size_t i) {
    mb_pt_char c = mb_pt_at(s, n, i);
    size_t k;
    if (c.cp == '\'' && (k = mb_pt_contraction(s, n, i, 1))) return k; /* (?i:'s|...|'d) */
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c.cls & MB_UNI_L) return mb_pt_run(s, n, i, MB_UNI_L, 0) - i;
    if (c.cp != '\r' && c.cp != '\n' && !(c.cls & MB_UNI_N) && i + c.len < n &&
        (mb_pt_at(s, n, i + c.len).cls & MB_UNI_L))
        return mb_pt_run(s, n, i + c.len, MB_UNI_L, 0) - i;
    if (c.cls & MB_UNI_N) { /* \p{N}{1,3} */
        size_t p = i;
        for (int d = 0; d < 3 && p < n; d++) {
            mb_pt_char x = mb_pt_at(s, n, p);
            if (!(x.cls & MB_UNI_N)) break;
            p += x.len;
        }
        return p - i;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t p = i;
    if (c.cp == ' ' && i + 1 < n && mb_pt_other(mb_pt_at(s, n, i + 1).cls)) p = i + 1;
    if (mb_pt_other(mb_pt_at(s, n, p).cls)) {
        p = mb_pt_run(s, n, p, 0, 1);
        while (p < n && (s[p] == '\r' || s[p] == '\n')) p++;
        return p - i;
    }
    /* \s*[\r\n]+ at white space: \s* gives back down to the run's last CR or LF */
    size_t j = i, nl = n;
    while (j < n) {
        mb_pt_char x = mb_pt_at(s, n, j);
        if (!(x.cls & MB_UNI_WS)) break;
        if (x.cp == '\r' || x.cp == '\n') nl = j;
        j += x.len;
    }
    if (nl != n) return nl + 1 - i;
    return mb_pt_space(s, n, i); /* \s+(?!\S)|\s+ */
}

size_t mb_pretok_next(mb_pretok kind, const unsigned char *s, size_t n, size_t i) {
    return kind == MB_PRETOK_LLAMA3 ? mb_pt_llama3(s, n, i) : mb_pt_gpt2(s, n, i);
}
