/* reports/csvtable.h — a CSV file (results.csv, steps.csv, peers.csv) loaded whole into memory as
 * strings, with columns found by name: what report, compare and --resume read. */
#ifndef MB_CSVTABLE_H
#define MB_CSVTABLE_H

#include "../engine/ctx.h"

typedef struct mb_table {
    char *path;
    int ncols;
    char **cols; /* header names */
    int nrows;
    char ***rows;  /* rows[r][c]; every row has exactly ncols fields */
    int *lines;    /* 1-based line where each row starts */
    int torn_line; /* MB_TABLE_TORN_LAST: line of the cut-off last row left out; 0 when none */
} mb_table;

/* What a file must be to load. Every mode refuses (MB_EFORMAT, "PATH:LINE: expected ...") a row
 * with more or fewer fields than the header, a row that repeats the header, a column name the
 * header holds twice, and malformed CSV; a blank line is skipped. They differ in the last row: */
typedef enum mb_table_mode {
    MB_TABLE_STRICT,    /* a file membench wrote, to judge (compare, report): the last row must
                         * end with a newline, so a file cut off mid-row is refused, never padded */
    MB_TABLE_TORN_LAST, /* a file membench is appending to (--resume): a last row cut off by a crash
                         * mid-write (no newline after it) is left out, and t->torn_line says so */
    MB_TABLE_TEXT,      /* a hand-written file (peers.csv): a last line without its newline is
                         * fine when it holds every field */
} mb_table_mode;

/* Loads `path` (first record = header) in `mode`. Errors: MB_EIO (cannot open), MB_EFORMAT
 * ("PATH:LINE: ..." saying what was expected, or "PATH:1: the file is empty"). */
mb_status mb_table_load_mode(mb_ctx *ctx, const char *path, mb_table_mode mode, mb_table *t);
/* mb_table_load_mode with MB_TABLE_STRICT. */
mb_status mb_table_load(mb_ctx *ctx, const char *path, mb_table *t);
void mb_table_free(mb_table *t);
/* Column index by name, -1 when absent. */
int mb_table_col(const mb_table *t, const char *name);
/* Cell text ("" when the column is absent). */
const char *mb_table_get(const mb_table *t, int row, int col);
/* Cell as a double: NaN when empty, absent or not a number. */
double mb_table_num(const mb_table *t, int row, int col);

#endif
