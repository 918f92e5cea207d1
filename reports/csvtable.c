/* reports/csvtable.c — a CSV file into memory through mb_csv_read (libcsv). */
#include "csvtable.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"

typedef struct loader {
    mb_table *t;
    mb_ctx *ctx;
    int cap;
    mb_status err;
    char msg[MB_ERRMSG_MAX]; /* our own message, which mb_csv_read would overwrite */
} loader;

static char *dup_or_null(const char *s) {
    return strdup(s ? s : "");
}

static int on_row(void *u, int line, int nf, char **f) {
    loader *L = u;
    mb_table *t = L->t;
    if (!t->cols) {
        t->cols = calloc((size_t)(nf ? nf : 1), sizeof *t->cols);
        if (!t->cols) return L->err = MB_ENOMEM, 1;
        for (int i = 0; i < nf; i++)
            if (!(t->cols[t->ncols++] = dup_or_null(f[i]))) return L->err = MB_ENOMEM, 1;
        return 0;
    }
    if (nf == 1 && !f[0][0]) return 0; /* a blank line */
    if (nf > t->ncols) {
        L->err = MB_EFORMAT;
        snprintf(L->msg, sizeof L->msg, "%s:%d: %d fields, but the header has %d", t->path, line,
                 nf, t->ncols);
        return 1;
    }
    if (t->nrows == L->cap) {
        int cap = L->cap ? 2 * L->cap : 64;
        char ***rows = realloc(t->rows, (size_t)cap * sizeof *rows);
        int *lines = realloc(t->lines, (size_t)cap * sizeof *lines);
        if (rows) t->rows = rows;
        if (lines) t->lines = lines;
        if (!rows || !lines) return L->err = MB_ENOMEM, 1;
        L->cap = cap;
    }
    char **row = calloc((size_t)t->ncols, sizeof *row);
    if (!row) return L->err = MB_ENOMEM, 1;
    t->rows[t->nrows] = row;
    t->lines[t->nrows++] = line;
    for (int i = 0; i < t->ncols; i++)
        if (!(row[i] = dup_or_null(i < nf ? f[i] : ""))) return L->err = MB_ENOMEM, 1;
    return 0;
}

mb_status mb_table_load(mb_ctx *ctx, const char *path, mb_table *t) {
    memset(t, 0, sizeof *t);
    if (!(t->path = strdup(path))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    loader L = {.t = t, .ctx = ctx, .err = MB_OK};
    mb_status s = mb_csv_read(ctx, path, on_row, &L);
    if (L.err == MB_ENOMEM)
        s = mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
    else if (L.err != MB_OK)
        s = mb_error(ctx, L.err, "%s", L.msg);
    if (s == MB_OK && !t->cols) s = mb_error(ctx, MB_EFORMAT, "%s:1: the file is empty", path);
    if (s != MB_OK) mb_table_free(t);
    return s;
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
