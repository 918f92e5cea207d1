/* reports/csvtable.h — a CSV file (results.csv, steps.csv) loaded whole into memory as strings,
 * with columns found by name: what report, compare and --resume read. */
#ifndef MB_CSVTABLE_H
#define MB_CSVTABLE_H

#include "../engine/ctx.h"

typedef struct mb_table {
    char *path;
    int ncols;
    char **cols; /* header names */
    int nrows;
    char ***rows; /* rows[r][c]; a row shorter than the header is padded with "" */
    int *lines;   /* 1-based line where each row starts */
} mb_table;

/* Loads `path` (first record = header). Errors: MB_EIO (cannot open), MB_EFORMAT ("PATH:LINE: ..."
 * for malformed CSV, an empty file, or a row longer than the header). */
mb_status mb_table_load(mb_ctx *ctx, const char *path, mb_table *t);
void mb_table_free(mb_table *t);
/* Column index by name, -1 when absent. */
int mb_table_col(const mb_table *t, const char *name);
/* Cell text ("" when the column is absent). */
const char *mb_table_get(const mb_table *t, int row, int col);
/* Cell as a double: NaN when empty, absent or not a number. */
double mb_table_num(const mb_table *t, int row, int col);

#endif
