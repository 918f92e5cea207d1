/* reports/table_summary.c — the summary table, first in the report: per setting, the baseline's
 * absolute figures, every other stack's as ratios to it and its bytes saved per category; one
 * column group per input side by side, with each input's figures over the first's. */
#include "table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"

#define DASH "\u2013"
#define TIMES "\u00d7"

/* The columns of one input: status, peak, step time, quality, then the shown categories. */
static int run_cols(const mb_rp_summary *S, int r) {
    int n = 4;
    for (int k = 0; k < MB_MEM_NCAT; k++) n += S->show_cat[k];
    return n + (r > 0 ? 3 : 0); /* and the same cell against the first input */
}

static void col_set(mb_rp_doc *d, mb_rp_section *s, int c, const char *group, int right,
                    const char *fmt, const char *a, const char *b) {
    mb_text t = {0};
    mb_text_add(&t, fmt, a, b);
    if (!(s->own_names[c] = mb_text_take(&t))) d->oom = 1;
    s->own[c] =
        (mb_rp_col){.name = s->own_names[c] ? s->own_names[c] : "", .right = right, .group = group};
}

/* The header; side by side every input's columns carry its name as their group. */
static void summary_cols(mb_rp_doc *d, mb_rp_section *s, const mb_report *R) {
    const mb_rp_summary *S = R->sum;
    int n = 2;
    for (int r = 0; r < S->nruns; r++) n += run_cols(S, r);
    s->own = calloc((size_t)n, sizeof *s->own);
    s->own_names = calloc((size_t)n, sizeof *s->own_names);
    if (!s->own || !s->own_names) {
        d->oom = 1;
        return;
    }
    s->cols = s->own;
    s->ncols = n;
    int c = 0;
    col_set(d, s, c++, NULL, 0, "%s%s", "setting", "");
    col_set(d, s, c++, NULL, 0, "%s%s", "method stack", "");
    for (int r = 0; r < S->nruns; r++) {
        const char *g = S->nruns > 1 ? R->run_names[r] : NULL;
        col_set(d, s, c++, g, 0, "%s%s", "status", "");
        col_set(d, s, c++, g, 1, "%s%s", "peak", "");
        col_set(d, s, c++, g, 1, "%s%s", "step time", "");
        col_set(d, s, c++, g, 1, "%s%s", "quality", "");
        for (int k = 0; k < MB_MEM_NCAT; k++)
            if (S->show_cat[k]) col_set(d, s, c++, g, 1, "%s%s", mb_mem_cat_name(k), " saved");
        if (r == 0) continue;
        col_set(d, s, c++, g, 1, "%s%s", "peak", " new/base");
        col_set(d, s, c++, g, 1, "%s%s", "step time", " new/base");
        col_set(d, s, c++, g, 1, "%s%s", "quality", " new/base");
    }
}

static void num(mb_rp_doc *d, mb_rp_section *s, const char *fmt, double v) {
    if (isfinite(v))
        mb_rp_span_add(d, &s->cells, MB_RP_NUM, fmt, v);
    else
        mb_rp_span_add(d, &s->cells, MB_RP_NUM, DASH);
}

static void dash(mb_rp_doc *d, mb_rp_section *s, int n) {
    for (int i = 0; i < n; i++) mb_rp_span_add(d, &s->cells, MB_RP_NUM, DASH);
}

/* One input's cells of a line: cell c against baseline b (c == b: the baseline's own figures). */
static void run_cells(mb_rp_doc *d, mb_rp_section *s, const mb_report *R, int c, int b,
                      int *no_base) {
    const mb_rp_summary *S = R->sum;
    int ncat = run_cols(S, 0) - 4;
    if (c < 0) {
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "not run");
        dash(d, s, 3 + ncat);
        return;
    }
    const mb_rp_stat *x = &S->stat[c];
    const mb_rp_row *first = &R->rows[R->cells[c].rows[0]];
    if (!x->nok) { /* status and reason instead of figures */
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s: %s", first->s[MB_RC_STATUS],
                       first->s[MB_RC_REASON]);
        dash(d, s, 3 + ncat);
        return;
    }
    if (x->nok < x->n)
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s in %d of %d", c == b ? "baseline" : "ok",
                       x->nok, x->n);
    else
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s", c == b ? "baseline" : "ok");
    if (c == b) {
        num(d, s, "%.2f MiB", x->peak / MB_RP_MIB);
        num(d, s, "%.3f ms", x->ms);
        if (isfinite(x->metric))
            /* text, not a number: the metric's name comes from the file (fuzz_report found
             * bytes there that are not UTF-8, and it could hold markup) */
            mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%.4f %s", x->metric,
                           first->s[MB_RC_METRIC_NAME]);
        else
            dash(d, s, 1);
        for (int k = 0; k < MB_MEM_NCAT; k++)
            if (S->show_cat[k]) num(d, s, "%.2f MiB", x->cat[k] / MB_RP_MIB);
        return;
    }
    const mb_rp_stat *y = b >= 0 && S->stat[b].nok ? &S->stat[b] : NULL;
    if (!y) {
        *no_base = 1;
        dash(d, s, 3 + ncat);
        return;
    }
    num(d, s, "%.3f" TIMES, mb_rp_ratio(x->peak, y->peak));
    num(d, s, "%.3f" TIMES, mb_rp_ratio(x->ms, y->ms));
    num(d, s, "%.4f" TIMES, mb_rp_ratio(x->metric, y->metric));
    for (int k = 0; k < MB_MEM_NCAT; k++) {
        if (!S->show_cat[k]) continue;
        double saved = (y->cat[k] - x->cat[k]) / MB_RP_MIB;
        if (!isfinite(saved))
            dash(d, s, 1);
        else if (saved == 0)
            mb_rp_span_add(d, &s->cells, MB_RP_NUM, "0");
        else if (y->cat[k] > 0)
            mb_rp_span_add(d, &s->cells, MB_RP_NUM, "%.2f MiB (%.1f%%)", saved,
                           100.0 * (y->cat[k] - x->cat[k]) / y->cat[k]);
        else
            mb_rp_span_add(d, &s->cells, MB_RP_NUM, "%.2f MiB", saved);
    }
}

/* Input r's figures of cell c over the first input's cell c0. */
static void vs_first(mb_rp_doc *d, mb_rp_section *s, const mb_rp_summary *S, int c, int c0) {
    if (c < 0 || c0 < 0 || !S->stat[c].nok || !S->stat[c0].nok) {
        dash(d, s, 3);
        return;
    }
    num(d, s, "%.3f" TIMES, mb_rp_ratio(S->stat[c].peak, S->stat[c0].peak));
    num(d, s, "%.3f" TIMES, mb_rp_ratio(S->stat[c].ms, S->stat[c0].ms));
    num(d, s, "%.4f" TIMES, mb_rp_ratio(S->stat[c].metric, S->stat[c0].metric));
}

void mb_rp_section_summary(mb_rp_doc *d, const mb_report *R) {
    const mb_rp_summary *S = R->sum;
    if (!S || !S->nlines) return;
    mb_rp_section *s =
        mb_rp_section_add(d, "Summary: each method stack against its baseline", NULL, 0);
    s->id = "summary";
    summary_cols(d, s, R);
    if (d->oom) return;
    mb_rp_span_add(
        d, &s->intro, MB_RP_TEXT,
        "Per setting, the baseline stack's own figures (medians over its ok repeats: tracked "
        "peak, step time, the metric, and bytes per category at the peak), then every other "
        "stack's as ratios to them (below 1" TIMES " is less) and the bytes it saves per category "
        "(negative: it holds more). The baseline is the suite's declared one where the results "
        "have a baseline column, else the setting's first stack in the file.");
    int hidden = 0;
    for (int k = 0; k < MB_MEM_NCAT; k++) {
        if (!S->held_cat[k] || S->show_cat[k]) continue;
        mb_rp_span_add(d, &s->intro, MB_RP_TEXT, "%s%s",
                       hidden++ ? ", " : " Left out: ", mb_mem_cat_name(k));
    }
    if (hidden) mb_rp_span_add(d, &s->intro, MB_RP_TEXT, " (no stack saves or adds bytes there).");
    if (S->nruns > 1) {
        mb_rp_span_add(d, &s->intro, MB_RP_TEXT,
                       " Each input is a column group; in each after the first, new/base is a "
                       "cell's figure there over the same cell's in ");
        mb_rp_span_add(d, &s->intro, MB_RP_CODE, "%s", R->run_names[0]);
        mb_rp_span_add(d, &s->intro, MB_RP_TEXT, ".");
    }
    int no_base = 0;
    for (int i = 0; i < S->nlines; i++) {
        const mb_rp_sum_line *l = &S->lines[i];
        int bad = 0;
        for (int r = 0; r < S->nruns; r++)
            bad |= l->cell[r] >= 0 && S->stat[l->cell[r]].nok < S->stat[l->cell[r]].n;
        mb_rp_row_add(d, s, bad);
        int head = i == 0 || S->lines[i - 1].setting != l->setting;
        mb_rp_span_add(d, &s->cells, MB_RP_TEXT, "%s", head ? S->setting_label[l->setting] : "");
        mb_rp_span_add(d, &s->cells, MB_RP_CODE, "%s", l->method);
        for (int r = 0; r < S->nruns; r++) {
            run_cells(d, s, R, l->cell[r], S->base[l->setting * S->nruns + r], &no_base);
            if (r > 0) vs_first(d, s, S, l->cell[r], l->cell[0]);
        }
    }
    if (no_base)
        mb_rp_span_add(d, &s->outro, MB_RP_TEXT,
                       "A stack whose baseline has no ok run shows no ratios.");
    for (const char *p = mb_text_str(&R->warnings); *p;) {
        size_t n = strcspn(p, "\n");
        mb_rp_span_add(d, &s->items, MB_RP_TEXT, "warning: %.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
}
