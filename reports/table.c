/* reports/table.c — the report's text built once from the model: what it was made from, the
 * summary (table_summary.c), the "Beside the peers", "Cells" and "Not plotted" tables, and the
 * notes. */
#include "table.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beside.h"

#define DASH "\u2013"

void mb_rp_span_add(mb_rp_doc *d, mb_rp_spans *v, mb_rp_kind kind, const char *fmt, ...) {
    if (d->oom) return;
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 8;
        mb_rp_span *m = realloc(v->v, (size_t)cap * sizeof *m);
        if (!m) {
            d->oom = 1;
            return;
        }
        v->v = m;
        v->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s) {
        d->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    v->v[v->n++] = (mb_rp_span){.kind = kind, .text = s};
}

/* A number cell: `fmt` of v, or an en dash when v is not finite. */
static void num_add(mb_rp_doc *d, mb_rp_section *s, const char *fmt, double v) {
    if (isfinite(v))
        mb_rp_span_add(d, &s->cells, MB_RP_NUM, fmt, v);
    else
        mb_rp_span_add(d, &s->cells, MB_RP_NUM, DASH);
}

mb_rp_section *mb_rp_section_add(mb_rp_doc *d, const char *title, const mb_rp_col *cols,
                                 int ncols) {
    mb_rp_section *s = &d->sec[d->nsec++];
    s->title = title;
    s->cols = cols;
    s->ncols = ncols;
    return s;
}

/* Starts a table row; its ncols cells follow. */
void mb_rp_row_add(mb_rp_doc *d, mb_rp_section *s, int bad) {
    if (d->oom) return;
    unsigned char *b = realloc(s->bad, (size_t)s->nrows + 1);
    if (!b) {
        d->oom = 1;
        return;
    }
    s->bad = b;
    s->bad[s->nrows++] = (unsigned char)bad;
}

static const mb_rp_col peers_cols[] = {
    {.name = "configuration"},        {.name = "who"},    {.name = "step ms", .right = 1},
    {.name = "peak MiB", .right = 1}, {.name = "source"},
};

/* membench's ok cells on each configuration of the peers file beside the peers, with sources. */
static void section_peers(mb_rp_doc *d, const mb_report *R) {
    if (!R->npeers) return;
    mb_rp_side *side = calloc((size_t)(R->ncells + R->npeers) + 1, sizeof *side);
    if (!side) {
        d->oom = 1;
        return;
    }
    int n = mb_rp_side_by_side(R, side);
    mb_rp_section *s = mb_rp_section_add(d, "Beside the peers", peers_cols, 5);
    mb_rp_span_add(d, &s->intro, MB_RP_TEXT,
                   "membench's rows are measured here; the peers' are the figures they published, "
                   "from ");
    mb_rp_span_add(d, &s->intro, MB_RP_CODE, "%s", R->peers_path);
    mb_rp_span_add(d, &s->intro, MB_RP_TEXT, ".");
    for (int i = 0; i < n; i++) {
        mb_text c = {0}, w = {0};
        mb_rp_side_config(&c, &R->peers[side[i].group]);
        mb_rp_side_who(&w, R, &side[i]);
        if (c.oom || w.oom) d->oom = 1;
        mb_rp_row_add(d, s, 0);
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s", mb_text_str(&c));
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s", mb_text_str(&w));
        num_add(d, s, "%.1f", side[i].ms);
        num_add(d, s, "%.1f", side[i].mib);
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s",
                       side[i].peer >= 0 ? R->peers[side[i].peer].source : "this report");
        mb_text_free(&c);
        mb_text_free(&w);
    }
    if (!n) {
        mb_rp_row_add(d, s, 0);
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "-");
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "no row has a step time");
        mb_rp_span_add(d, &s->cells, MB_RP_NUM, "-");
        mb_rp_span_add(d, &s->cells, MB_RP_NUM, "-");
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "-");
    }
    free(side);
}

static const mb_rp_col cells_cols[] = {
    {.name = "cell"},
    {.name = "status"},
    {.name = "runs", .right = 1},
    {.name = "peak MiB", .right = 1},
    {.name = "predicted MiB", .right = 1},
    {.name = "step ms median [p10" DASH "p90]", .right = 1},
    {.name = "tokens/s", .right = 1},
    {.name = "val loss", .right = 1},
};

/* One line per cell (the trials of a search are left to the non-ok table and their result row):
 * numbers only from its ok rows. */
static void section_cells(mb_rp_doc *d, const mb_report *R) {
    mb_rp_section *s = mb_rp_section_add(d, "Cells", cells_cols, 8);
    int trials = 0;
    for (int i = 0; i < R->nrows; i++) trials += R->cells[R->rows[i].cell].kind == MB_RK_TRIAL;
    for (int c = 0; c < R->ncells; c++) {
        const mb_rp_cell *cl = &R->cells[c];
        if (cl->kind == MB_RK_TRIAL) continue;
        mb_rp_agg a = mb_rp_aggregate(R, cl);
        char status[96];
        if (a.nok == cl->n)
            snprintf(status, sizeof status, "ok");
        else if (a.nok)
            snprintf(status, sizeof status, "ok in %d of %d", a.nok, cl->n);
        else
            snprintf(status, sizeof status, "%s", R->rows[cl->rows[0]].s[MB_RC_STATUS]);
        mb_rp_row_add(d, s, strcmp(status, "ok") != 0);
        mb_rp_span_add(d, &s->cells, MB_RP_CODE, "%s", cl->label);
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s", status);
        mb_rp_span_add(d, &s->cells, MB_RP_NUM, "%d", cl->n);
        num_add(d, s, "%.3f", a.peak_mib);
        num_add(d, s, "%.3f", a.pred_mib);
        if (isfinite(a.ms))
            mb_rp_span_add(d, &s->cells, MB_RP_NUM, "%.3f [%.3f" DASH "%.3f]", a.ms, a.lo, a.hi);
        else
            mb_rp_span_add(d, &s->cells, MB_RP_NUM, DASH);
        num_add(d, s, "%.0f", a.tps);
        num_add(d, s, "%.4f", a.metric);
    }
    if (trials)
        mb_rp_span_add(
            d, &s->outro, MB_RP_TEXT,
            "%d trial rows of searches are not in this table or the figures; each search's "
            "answer is its max_batch_size row.",
            trials);
}

static const mb_rp_col not_ok_cols[] = {
    {.name = "cell"},
    {.name = "status"},
    {.name = "reason"},
};

/* Every row whose status is not ok, with its reason: none of them is plotted. */
static void section_not_ok(mb_rp_doc *d, const mb_report *R) {
    mb_rp_section *s = mb_rp_section_add(d, "Not plotted: status not ok", not_ok_cols, 3);
    s->empty = "Every row ended ok.";
    for (int i = 0; i < R->nrows; i++) {
        const mb_rp_row *r = &R->rows[i];
        if (mb_rp_is_ok(r)) continue;
        mb_rp_row_add(d, s, 0);
        mb_rp_span_add(d, &s->cells, MB_RP_CODE, "%s", r->label);
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s", r->s[MB_RC_STATUS]);
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s", r->s[MB_RC_REASON]);
    }
}

/* The notes (inputs without steps.csv, figures left out and why), one item per line. */
static void section_notes(mb_rp_doc *d, const mb_report *R) {
    if (!R->notes.len) return;
    mb_rp_section *s = mb_rp_section_add(d, "Notes", NULL, 0);
    for (const char *p = mb_text_str(&R->notes); *p;) {
        size_t n = strcspn(p, "\n");
        mb_rp_span_add(d, &s->items, MB_RP_TEXT, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

mb_status mb_rp_doc_build(mb_ctx *ctx, const mb_report *R, mb_rp_doc *d) {
    memset(d, 0, sizeof *d);
    mb_rp_span_add(d, &d->from, MB_RP_TEXT, "From");
    for (int i = 0; i < R->nres; i++) {
        mb_rp_span_add(d, &d->from, MB_RP_TEXT, "%s ", i ? "," : "");
        mb_rp_span_add(d, &d->from, MB_RP_CODE, "%s", R->res[i].path);
    }
    mb_rp_span_add(d, &d->from, MB_RP_TEXT, " (%d rows, %d cells).", R->nrows, R->ncells);
    d->figs = R->figs;
    d->nfigs = R->nfigs;
    mb_rp_section_summary(d, R);
    d->ntop = d->nsec;
    section_peers(d, R);
    section_cells(d, R);
    section_not_ok(d, R);
    section_notes(d, R);
    if (!d->oom) return MB_OK;
    mb_rp_doc_free(d);
    return mb_error(ctx, MB_ENOMEM, "host allocation");
}

static void spans_free(mb_rp_spans *v) {
    for (int i = 0; i < v->n; i++) free(v->v[i].text);
    free(v->v);
}

void mb_rp_doc_free(mb_rp_doc *d) {
    spans_free(&d->from);
    for (int i = 0; i < d->nsec; i++) {
        mb_rp_section *s = &d->sec[i];
        spans_free(&s->intro);
        spans_free(&s->cells);
        spans_free(&s->items);
        spans_free(&s->outro);
        free(s->bad);
        for (int c = 0; s->own_names && c < s->ncols; c++) free(s->own_names[c]);
        free(s->own_names);
        free(s->own);
    }
    memset(d, 0, sizeof *d);
}
