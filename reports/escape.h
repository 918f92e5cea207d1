/* reports/escape.h — names and messages from results files as the files membench writes need
 * them: always valid UTF-8 (U+FFFD for what is not), Markdown prose and code spans that nothing in
 * a name can end early, XML and HTML text. Used by report (reports/) and compare (harness/). */
#ifndef MB_RP_ESCAPE_H
#define MB_RP_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

#include "text.h"

/* The character of s at *i, and *i moved past it: its code point, or U+FFFD for a byte that starts
 * no valid UTF-8 sequence (an overlong form, a surrogate, past U+10FFFF, a stray continuation
 * byte: one byte is consumed) and for the noncharacters U+FFFE and U+FFFF, which XML forbids.
 * Returns 0 at the end of s. */
int mb_esc_utf8_next(const char *s, size_t *i, uint32_t *cp);
/* Appends code point cp as UTF-8. */
void mb_text_add_cp(mb_text *b, uint32_t cp);

/* One line of plain text: valid UTF-8, control characters as spaces. */
void mb_esc_plain(mb_text *b, const char *s);
/* Markdown prose (in a table cell or not): the ASCII punctuation that could format, link, open
 * HTML or split a cell gets a backslash; control characters become spaces. */
void mb_esc_md_text(mb_text *b, const char *s);
/* A name shown literally in Markdown: a code span fenced by one backtick more than the longest run
 * inside (no length limit, so no name can close it early), padded with a space where the name
 * begins or ends with a backtick or with a space at both ends (CommonMark strips one such pair);
 * '|' gets its backslash (a GFM table splits cells before it looks for spans); control characters
 * become spaces. */
void mb_esc_md_code(mb_text *b, const char *s);
/* XML 1.0 character data or attribute value, and HTML text: & < > " ' as entities (&apos; in XML,
 * &#39; in HTML); in XML tab, newline and CR as character references (a parser would fold them in
 * an attribute), in HTML as spaces; the other control characters, which XML 1.0 cannot hold even
 * as references, as their Unicode control pictures (U+2401 for 0x01, U+2421 for DEL). */
void mb_esc_xml(mb_text *b, const char *s, int html);

#endif
