/* reports/text.h — growable text: every file the report writes (data files, gnuplot scripts,
 * report.md, index.html) is built in one and written whole into the output folder. */
#ifndef MB_RP_TEXT_H
#define MB_RP_TEXT_H

#include <stddef.h>

#include "../engine/ctx.h"

/* Zero-initialise ({0}); `oom` sticks once an allocation failed, and later adds do nothing. */
typedef struct mb_text {
    char *s;
    size_t len, cap;
    int oom;
} mb_text;

void mb_text_add(mb_text *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far ("" when nothing was added). */
const char *mb_text_str(const mb_text *b);
void mb_text_free(mb_text *b);
/* Hands over the string (free() it) and empties b; NULL when an allocation failed. */
char *mb_text_take(mb_text *b);
/* Writes b to DIR/NAME as a new file renamed over it (engine/file.h: a symlink at DIR/NAME is
 * replaced, never followed). MB_ENOMEM when b ran out of memory, MB_EIO when the file cannot be
 * written, MB_ESTORAGE when the disk is full. */
mb_status mb_text_write(mb_ctx *ctx, const char *dir, const char *name, const mb_text *b);

#endif
