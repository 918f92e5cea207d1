/* reports/csvtable.c — a CSV file into memory through mb_csv_read_records (libcsv), refusing
 * what is not a table: rows of the wrong width, a repeated header, a repeated column name. */
#include "csvtable.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"

typedef struct loader {
    mb_table *t;
    mb_table_mode mode;
    int cap;
    mb_status err;
    char msg[MB_ERRMSG_MAX]; /* our own message, which mb_csv_read_records would overwrite */
} loader;

static char *dup_or_null(const char *s) {
    return strdup(s ? s : "");
}

#define CUT_OFF "the file ends mid-row (an interrupted write?)"

__attribute__((format(printf, 3, 4))) static int refuse(loader *L, int line, const char *fmt, ...) {
    int n = snprintf(L->msg, sizeof L->msg, "%s:%d: ", L->t->path, line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof L->msg)
        vsnprintf(L->msg + n, sizeof L->msg - (size_t)n, fmt, ap);
    va_end(ap);
    L->err = MB_EFORMAT;
    return 1;
}

static int on_header(loader *L, const mb_csv_rec *r) {
    mb_table *t = L->t;
    if (r->end == MB_CSV_OPEN_QUOTE || (r->end == MB_CSV_NO_NEWLINE && L->mode == MB_TABLE_STRICT))
        return refuse(L, r->line, "expected a whole header line; %s", CUT_OFF);
    for (int i = 0; i < r->nfields; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(r->fields[i], r->fields[j]))
                return refuse(L, r->line,
                              "expected each column name once, found '%.200s' as columns %d and %d",
                              r->fields[i], j + 1, i + 1);
    t->cols = calloc(r->nfields > 0 ? (size_t)r->nfields : 1, sizeof *t->cols);
    if (!t->cols) return L->err = MB_ENOMEM, 1;
    for (int i = 0; i < r->nfields; i++)
        if (!(t->cols[t->ncols++] = dup_or_null(r->fields[i]))) return L->err = MB_ENOMEM, 1;
    return 0;
}

static int is_header(const mb_table *t, const mb_csv_rec *r) {
    if (r->nfields != t->ncols) return 0;
    for (int i = 0; i < r->nfields; i++)
        if (strcmp(r->fields[i], t->cols[i])) return 0;
    return 1;
}

static int on_rec(void *u, const mb_csv_rec *r) {
    loader *L = u;
    mb_table *t = L->t;
    if (L->mode == MB_TABLE_TORN_LAST && r->end != MB_CSV_WHOLE) {
        t->torn_line = r->line; /* only the input's last record can be cut off */
        return 0;
    }
    if (!t->cols) return on_header(L, r);
    if (r->nfields == 1 && !r->fields[0][0] && r->end != MB_CSV_OPEN_QUOTE) return 0; /* blank */
    if (r->end == MB_CSV_OPEN_QUOTE)
        return refuse(L, r->line,
                      "expected a closing quote; the file ends inside a quoted field "
                      "(an interrupted write?)");
    if (r->nfields != t->ncols)
        return refuse(L, r->line, "expected %d fields as in the header, found %d%s", t->ncols,
                      r->nfields, r->end == MB_CSV_WHOLE ? "" : "; " CUT_OFF);
    if (r->end == MB_CSV_NO_NEWLINE && L->mode == MB_TABLE_STRICT)
        return refuse(L, r->line, "expected a newline at the end of the last row; " CUT_OFF);
    if (is_header(t, r))
        return refuse(L, r->line,
                      "expected a data row, found the header again (two files "
                      "joined?)");
    if (t->nrows == L->cap) {
        int cap = L->cap ? 2 * L->cap : 64;
        char ***rows = realloc(t->rows, (size_t)cap * sizeof *rows);
        if (rows) t->rows = rows;
        int *lines = rows ? realloc(t->lines, (size_t)cap * sizeof *lines) : NULL;
        if (lines) t->lines = lines;
        if (!rows || !lines) return L->err = MB_ENOMEM, 1;
        L->cap = cap;
    }
    char **row = calloc(t->ncols > 0 ? (size_t)t->ncols : 1, sizeof *row);
    if (!row) return L->err = MB_ENOMEM, 1;
    t->rows[t->nrows] = row;
    t->lines[t->nrows++] = r->line;
    for (int i = 0; i < t->ncols; i++)
        if (!(row[i] = dup_or_null(r->fields[i]))) return L->err = MB_ENOMEM, 1;
    return 0;
}

mb_status mb_table_load_mode(mb_ctx *ctx, const char *path, mb_table_mode mode, mb_table *t) {
    memset(t, 0, sizeof *t);
    if (!(t->path = strdup(path))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    loader L = {.t = t, .mode = mode, .err = MB_OK};
    mb_status s = mb_csv_read_records(ctx, path, on_rec, &L);
    if (L.err == MB_ENOMEM)
        s = mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
    else if (L.err != MB_OK)
        s = mb_error(ctx, L.err, "%s", L.msg);
    if (s == MB_OK && !t->cols) s = mb_error(ctx, MB_EFORMAT, "%s:1: the file is empty", path);
    if (s != MB_OK) mb_table_free(t);
    return s;
}

mb_status mb_table_load(mb_ctx *ctx, const char *path, mb_table *t) {
    return mb_table_load_mode(ctx, path, MB_TABLE_STRICT, t);
}

void mb_table_free(mb_table *t) {
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) free(t->rows[r][c]);
        free(t->rows[r]);
    }
    for (int c = 0; c < t->ncols; c++) free(t->cols[c]);
    free(t->cols);
    free(t->rows);
    free(t->lines);
    free(t->path);
    memset(t, 0, sizeof *t);
}

int mb_table_col(const mb_table *t, const char *name) {
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], name)) return c;
    return -1;
}

const char *mb_table_get(const mb_table *t, int row, int col) {
    if (row < 0 || row >= t->nrows || col < 0 || col >= t->ncols) return "";
    return t->rows[row][col];
}

double mb_table_num(const mb_table *t, int row, int col) {
    const char *s = mb_table_get(t, row, col);
    if (!*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}
