/* engine/file.h — files written safely and read only when they are what they claim: a new file is
 * made with mkstemp beside its final name and renamed over it when complete (never through a
 * symlink, never half-written), and a file to read is refused unless it is a regular file within a
 * size limit. */
#ifndef MB_FILE_H
#define MB_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "ctx.h"

#define MB_FILE_PATH_MAX 4096

/* A file being written: `fp` writes to `tmp`, created with mkstemp (O_EXCL: a planted symlink or
 * file at that name is never followed) next to `path`; mb_file_commit renames it over `path`. */
typedef struct mb_file_out {
    FILE *fp;
    char path[MB_FILE_PATH_MAX];
    char tmp[MB_FILE_PATH_MAX + 16];
} mb_file_out;

/* Creates the temporary file for `path` (mode 0644 less the umask). MB_EIO names the reason. */
mb_status mb_file_begin(mb_ctx *ctx, mb_file_out *f, const char *path);
/* Flushes, fsyncs, closes and renames the temporary file over `path`; on any failure (a full disk
 * included) the temporary file is removed, `path` is untouched, and MB_EIO says what failed and
 * why. */
mb_status mb_file_commit(mb_ctx *ctx, mb_file_out *f);
/* Closes and removes the temporary file (after a failure); safe to call twice. */
void mb_file_abort(mb_file_out *f);

/* Opens `path` for appending without following a symlink (O_NOFOLLOW) and refuses anything but a
 * regular file; created if missing. `mode` is fopen's ("ab" or "a+b"). */
mb_status mb_file_append(mb_ctx *ctx, const char *path, const char *mode, FILE **out);

/* Opens `path` for reading when it is a regular file of at most `max_bytes` bytes (0: no limit);
 * a FIFO, device, socket or directory is refused before anything blocks on it. `what` names the
 * file's role in messages ("data.path", "checkpoint"). *size_out gets the size when not NULL. */
mb_status mb_file_open_read(mb_ctx *ctx, const char *path, const char *what, uint64_t max_bytes,
                            FILE **out, uint64_t *size_out);
/* Reads all of `f` (opened as `path`) into a growing malloc'd buffer of at most `max_bytes` bytes
 * (a file that grows past the limit after it was checked is refused too), NUL-terminated; *len
 * excludes the NUL. */
mb_status mb_file_read_stream(mb_ctx *ctx, FILE *f, const char *path, uint64_t max_bytes,
                              unsigned char **out, size_t *len);
/* mb_file_open_read, then mb_file_read_stream: a whole regular file into memory. */
mb_status mb_file_read_all(mb_ctx *ctx, const char *path, const char *what, uint64_t max_bytes,
                           char **out, size_t *len);
/* The same check without opening: MB_OK for a regular file within the limit, else MB_EINVAL
 * (wrong kind or too large) or MB_EIO (missing, unreadable) with the reason. */
mb_status mb_file_check_regular(mb_ctx *ctx, const char *path, const char *what,
                                uint64_t max_bytes);

/* 1 when errno `e` is an error a full or failing disk gives (ENOSPC, EDQUOT, EIO, EROFS, EFBIG). */
int mb_file_errno_is_storage(int e);

#endif
