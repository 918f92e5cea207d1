/* reports/escape.c — UTF-8 decoding with U+FFFD for bad bytes, and the escapers built on it for
 * plain text, Markdown prose and code spans, XML and HTML. */
#include "escape.h"

#include <string.h>

int mb_esc_utf8_next(const char *str, size_t *i, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str + *i;
    if (!s[0]) return 0;
    unsigned c = s[0];
    int n = c < 0x80                 ? 1
            : c >= 0xc2 && c <= 0xdf ? 2
            : c >= 0xe0 && c <= 0xef ? 3
            : c >= 0xf0 && c <= 0xf4 ? 4
                                     : 0;
    uint32_t v = n == 1 ? c : n ? c & (0x3fu >> (n - 1)) : 0;
    for (int k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80) { /* the NUL at the end stops here too */
            n = 0;
            break;
        }
        v = v << 6 | (s[k] & 0x3fu);
    }
    if (n == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) n = 0;
    if (n == 4 && (v < 0x10000 || v > 0x10ffff)) n = 0;
    if (!n || v == 0xfffe || v == 0xffff) {
        *i += n ? (size_t)n : 1;
        *cp = 0xfffd;
        return 1;
    }
    *i += (size_t)n;
    *cp = v;
    return 1;
}

void mb_text_add_cp(mb_text *b, uint32_t cp) {
    if (cp < 0x80)
        mb_text_add(b, "%c", (int)cp);
    else if (cp < 0x800)
        mb_text_add(b, "%c%c", (int)(0xc0 | cp >> 6), (int)(0x80 | (cp & 0x3f)));
    else if (cp < 0x10000)
        mb_text_add(b, "%c%c%c", (int)(0xe0 | cp >> 12), (int)(0x80 | (cp >> 6 & 0x3f)),
                    (int)(0x80 | (cp & 0x3f)));
    else
        mb_text_add(b, "%c%c%c%c", (int)(0xf0 | cp >> 18), (int)(0x80 | (cp >> 12 & 0x3f)),
                    (int)(0x80 | (cp >> 6 & 0x3f)), (int)(0x80 | (cp & 0x3f)));
}

static int is_control(uint32_t cp) {
    return cp < 0x20 || cp == 0x7f;
}

void mb_esc_plain(mb_text *b, const char *s) {
    size_t i = 0;
    uint32_t cp;
    while (mb_esc_utf8_next(s, &i, &cp)) mb_text_add_cp(b, is_control(cp) ? ' ' : cp);
}

void mb_esc_md_text(mb_text *b, const char *s) {
    size_t i = 0;
    uint32_t cp;
    while (mb_esc_utf8_next(s, &i, &cp)) {
        if (cp < 0x80 && cp && strchr("\\`*_[]<>|~&#!", (int)cp)) mb_text_add(b, "\\");
        mb_text_add_cp(b, is_control(cp) ? ' ' : cp);
    }
}

void mb_esc_md_code(mb_text *b, const char *s) {
    mb_text body = {0};
    size_t i = 0;
    uint32_t cp;
    while (mb_esc_utf8_next(s, &i, &cp)) {
        if (cp == '|') mb_text_add(&body, "\\");
        mb_text_add_cp(&body, is_control(cp) ? ' ' : cp);
    }
    if (body.oom) b->oom = 1;
    const char *t = mb_text_str(&body);
    size_t n = body.len, run = 0, longest = 0, spaces = strspn(t, " ");
    for (size_t k = 0; k < n; k++) {
        run = t[k] == '`' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    int pad =
        n && (t[0] == '`' || t[n - 1] == '`' || (t[0] == ' ' && t[n - 1] == ' ' && spaces < n));
    for (size_t k = 0; k <= longest; k++) mb_text_add(b, "`");
    mb_text_add(b, "%s%s%s", pad || !n ? " " : "", t, pad ? " " : "");
    for (size_t k = 0; k <= longest; k++) mb_text_add(b, "`");
    mb_text_free(&body);
}

void mb_esc_xml(mb_text *b, const char *s, int html) {
    size_t i = 0;
    uint32_t cp;
    while (mb_esc_utf8_next(s, &i, &cp)) {
        switch (cp) {
        case '&':
            mb_text_add(b, "&amp;");
            break;
        case '<':
            mb_text_add(b, "&lt;");
            break;
        case '>':
            mb_text_add(b, "&gt;");
            break;
        case '"':
            mb_text_add(b, "&quot;");
            break;
        case '\'':
            mb_text_add(b, html ? "&#39;" : "&apos;");
            break;
        case '\t':
        case '\n':
        case '\r':
            if (html)
                mb_text_add(b, " ");
            else
                mb_text_add(b, "&#%u;", (unsigned)cp);
            break;
        default:
            mb_text_add_cp(b, cp == 0x7f ? 0x2421 : cp < 0x20 ? 0x2400 + cp : cp);
        }
    }
}
