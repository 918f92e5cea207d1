/* reports/text.c — growable text (doubling, with a sticky out-of-memory flag) and writing it to
 * a file safely (engine/file.h: a new file renamed into place, never through a symlink). */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/file.h"

void mb_text_add(mb_text *b, const char *fmt, ...) {
    while (!b->oom) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? 2 * b->cap : 1024;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            b->oom = 1;
        else {
            b->s = s;
            b->cap = cap;
        }
    }
}

const char *mb_text_str(const mb_text *b) {
    return b->s ? b->s : "";
}

void mb_text_free(mb_text *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

char *mb_text_take(mb_text *b) {
    if (b->oom) {
        mb_text_free(b);
        return NULL;
    }
    if (!b->s) mb_text_add(b, "%s", "");
    char *s = b->s;
    memset(b, 0, sizeof *b);
    return s;
}

mb_status mb_text_write(mb_ctx *ctx, const char *dir, const char *name, const mb_text *b) {
    if (b->oom) return mb_error(ctx, MB_ENOMEM, "host allocation while writing %s", name);
    char path[MB_FILE_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return mb_error(ctx, MB_EINVAL, "path too long: %.64s.../%s", dir, name);
    /* A new file renamed over `path` when complete: a symlink planted there is replaced, never
     * written through, and a reader never sees half a file. */
    mb_file_out f;
    MB_TRY(mb_file_begin(ctx, &f, path));
    if (b->len) (void)fwrite(mb_text_str(b), 1, b->len, f.fp); /* a short write sets ferror */
    return mb_file_commit(ctx, &f);
}
