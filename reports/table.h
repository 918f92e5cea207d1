/* reports/table.h — the text of report.md and index.html as one model, built once from the
 * results (table.c, the summary in table_summary.c) and rendered alike by markdown.c and html.c:
 * paragraphs of spans, and sections that hold a table of columns and rows of cells. */
#ifndef MB_RP_TABLE_H
#define MB_RP_TABLE_H

#include "model.h"

/* How a span of text is shown; each renderer escapes TEXT and CODE for its format. */
typedef enum mb_rp_kind {
    MB_RP_TEXT, /* prose, which may hold names and messages from the results */
    MB_RP_CODE, /* a name shown literally: a code span */
    MB_RP_NUM,  /* a formatted number (digits, '.', '[', ']', en dashes): written as is */
} mb_rp_kind;

typedef struct mb_rp_span {
    mb_rp_kind kind;
    char *text;
} mb_rp_span;

/* Spans in order: a paragraph, a table's cells (row by row) or a list (one item each). */
typedef struct mb_rp_spans {
    mb_rp_span *v;
    int n, cap;
} mb_rp_spans;

typedef struct mb_rp_col {
    const char *name;  /* header text: plain, written as is */
    int right;         /* right-aligned (numbers) */
    const char *group; /* a heading over the columns that share it (an input side by side), or NULL;
                        * text from the results: escaped by each renderer */
} mb_rp_col;

/* A section: its heading, then each part it has, in this order. */
typedef struct mb_rp_section {
    const char *title;
    const char *id;        /* the HTML table's id, or NULL */
    mb_rp_spans intro;     /* a paragraph */
    const mb_rp_col *cols; /* a table of ncols columns (none when 0) */
    int ncols, nrows;
    mb_rp_spans cells;  /* nrows x ncols, row by row */
    unsigned char *bad; /* per row: set off as a cell that did not end ok */
    const char *empty;  /* the paragraph written instead of a table without rows */
    mb_rp_spans items;  /* a bulleted list */
    mb_rp_spans outro;  /* a closing paragraph */
    mb_rp_col *own;     /* columns built for this report (cols points here), freed with it */
    char **own_names;   /* their names, ncols of them */
} mb_rp_section;

#define MB_RP_MAX_SECTIONS 5

typedef struct mb_rp_doc {
    mb_rp_spans from;      /* "From FILE, FILE (N rows, M cells)." */
    const mb_rp_fig *figs; /* the figures drawn, in order (R's) */
    int nfigs;
    mb_rp_section sec[MB_RP_MAX_SECTIONS];
    int nsec, ntop; /* the first ntop sections come before the figures (the summary) */
    int oom;        /* an allocation failed while building */
} mb_rp_doc;

/* Builds the document from R once its figures are drawn (their notes are part of it): the summary
 * (summary.h) before the figures, then beside the peers (with --peers), cells, rows not plotted,
 * notes. MB_ENOMEM when memory runs out (doc is
 * freed then); else free it with mb_rp_doc_free. */
mb_status mb_rp_doc_build(mb_ctx *ctx, const mb_report *R, mb_rp_doc *doc);
void mb_rp_doc_free(mb_rp_doc *doc);

/* What table.c and table_summary.c share to fill a section. */
void mb_rp_span_add(mb_rp_doc *d, mb_rp_spans *v, mb_rp_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
mb_rp_section *mb_rp_section_add(mb_rp_doc *d, const char *title, const mb_rp_col *cols, int ncols);
void mb_rp_row_add(mb_rp_doc *d, mb_rp_section *s, int bad); /* its ncols cells follow */
/* The summary section (table_summary.c). */
void mb_rp_section_summary(mb_rp_doc *d, const mb_report *R);

/* The renderers: DIR/report.md (markdown.c) and DIR/index.html (html.c). */
mb_status mb_rp_write_markdown(mb_ctx *ctx, const mb_rp_doc *doc, const char *dir);
mb_status mb_rp_write_html(mb_ctx *ctx, const mb_rp_doc *doc, const char *dir);

#endif
