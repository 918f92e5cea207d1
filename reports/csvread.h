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

/* How a record ended: whole (a newline after it), or cut off by the end of the input. */
typedef enum mb_csv_end {
    MB_CSV_WHOLE,      /* a line break ends it */
    MB_CSV_NO_NEWLINE, /* the input ends after its last field without a line break */
    MB_CSV_OPEN_QUOTE, /* the input ends inside a quoted field (not among the fields passed) */
} mb_csv_end;

typedef struct mb_csv_rec {
    int line, nfields; /* 1-based line where the record starts; fields passed */
    char **fields;     /* NUL-terminated copies, valid during the call */
    mb_csv_end end;    /* only the input's last record can be anything but MB_CSV_WHOLE */
} mb_csv_rec;
typedef int (*mb_csv_rec_fn)(void *user, const mb_csv_rec *rec);

/* Reads `path` as mb_csv_read does, but tells the callback how each record ended, so that a file
 * cut mid-row is the caller's to judge: its last record arrives with `end` set, where mb_csv_read
 * would pass it as if whole (no newline) or fail (an open quote). A parse error says what was
 * expected: "FILE:LINE: malformed CSV: expected a quote only around a whole field, ...". */
mb_status mb_csv_read_records(mb_ctx *ctx, const char *path, mb_csv_rec_fn fn, void *user);

#endif
