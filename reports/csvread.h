/* reports/csvread.h — an RFC 4180 reader (libcsv) that tracks lines: what reads results.csv,
 * steps.csv and peers.csv back (the report, `membench compare`, --resume, the header check). */
#ifndef MB_CSVREAD_H
#define MB_CSVREAD_H

#include <stdio.h>

#include "../engine/ctx.h"

/* Called once per record with its fields (NUL-terminated copies, valid during the call) and the
 * 1-based line where the record starts; a non-zero return stops the reading. */
typedef int (*mb_csv_row_fn)(void *user, int line, int nfields, char **fields);

/* Reads `path` record by record. A non-zero return from `row` stops reading and is returned as
 * MB_EINVAL. Malformed input: MB_EFORMAT, "FILE:LINE: <libcsv's message>"; MB_EIO when the file
 * cannot be opened or read. */
mb_status mb_csv_read(mb_ctx *ctx, const char *path, mb_csv_row_fn row, void *user);

/* Where and why the row callback stopped mb_csv_scan. */
typedef struct mb_csv_stop {
    int stopped, ret, line;
} mb_csv_stop;

/* The same on an open stream from its position (`path` names it in messages): parses to the end,
 * or until `row` returns non-zero, which is not an error here (*stop says so and MB_OK returns). */
mb_status mb_csv_scan(mb_ctx *ctx, FILE *fp, const char *path, mb_csv_row_fn row, void *user,
                      mb_csv_stop *stop);

#endif
