/* tests/textcheck.h — checks on text a report or compare wrote: valid UTF-8 (and no character XML
 * forbids), and Markdown whose code spans hold everything that could be raw HTML. */
#ifndef MB_TEST_TEXTCHECK_H
#define MB_TEST_TEXTCHECK_H

#include <stddef.h>
#include <string.h>

/* 0 when s is valid UTF-8 (no overlong form, no surrogate, nothing past U+10FFFF) and holds no
 * character XML 1.0 forbids (C0 controls but tab, LF, CR; U+FFFE, U+FFFF); else the 1-based offset
 * of the first bad byte. */
static inline size_t bad_utf8_at(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; s[i];) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return i + 1;
            i++;
            continue;
        }
        int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
        if (!n || c > 0xf4) return i + 1;
        unsigned cp = c & (0x3f >> (n - 1));
        for (int k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i + 1;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
            return i + 1;
        i += (size_t)n;
    }
    return 0;
}

/* 0 when every '<' of the Markdown text is inside a code span (a run of n backticks up to the next
 * run of exactly n on the same line and, in a table row, in the same cell: GFM splits a row at
 * each '|' without a backslash before it looks for spans) or backslash-escaped, so no raw HTML gets
 * through; else the 1-based offset of the first one that is not. */
static inline size_t md_raw_html_at(const char *s) {
    int table = s[0] == '|';
    for (size_t i = 0; s[i];) {
        if (s[i] == '\n') {
            table = s[i + 1] == '|';
            i++;
            continue;
        }
        if (s[i] == '\\' && s[i + 1]) {
            i += 2;
            continue;
        }
        if (s[i] == '<') return i + 1;
        if (s[i] != '`') {
            i++;
            continue;
        }
        size_t n = 0;
        while (s[i + n] == '`') n++;
        size_t j = i + n, close = 0;
        while (s[j] && s[j] != '\n' && !close) {
            if (table && s[j] == '|' && s[j - 1] != '\\') break;
            if (s[j] != '`') {
                j++;
                continue;
            }
            size_t m = 0;
            while (s[j + m] == '`') m++;
            if (m == n) close = j;
            j += m;
        }
        /* an unclosed run is literal backticks; the text after it is read as usual */
        i = close ? close + n : i + n;
    }
    return 0;
}

#endif
