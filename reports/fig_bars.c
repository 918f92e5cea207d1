/* reports/fig_bars.c — the bar charts (memory by category, step time, largest batch): cells of
 * one kind side by side, a gap between groups, labels turned when they would not fit level. */
#include "figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Bar charts: cells of one kind side by side, a gap between groups */

typedef struct rp_bars {
    int n, ngroups;
    int *cell;
    double *x;
    mb_rp_agg *agg;
} rp_bars;

/* The cells of `kind` for which `keep` says the aggregate has what the figure needs, ordered by
 * group and then by first appearance (input order). */
static int bars_collect(const mb_report *R, int kind, int (*keep)(const mb_rp_agg *), rp_bars *b) {
    memset(b, 0, sizeof *b);
    b->cell = calloc((size_t)R->ncells + 1, sizeof *b->cell);
    b->x = calloc((size_t)R->ncells + 1, sizeof *b->x);
    b->agg = calloc((size_t)R->ncells + 1, sizeof *b->agg);
    if (!b->cell || !b->x || !b->agg) return -1;
    double x = 0;
    for (int g = 0; g < R->ngroups; g++) {
        if (R->groups[g].kind != kind) continue;
        int any = 0;
        for (int c = 0; c < R->ncells; c++) {
            if (R->cells[c].group != g) continue;
            mb_rp_agg a = mb_rp_aggregate(R, &R->cells[c]);
            if (!a.nok || !keep(&a)) continue;
            if (!any && b->n) x += 0.6; /* the gap between groups */
            any = 1;
            b->cell[b->n] = c;
            b->agg[b->n] = a;
            b->x[b->n++] = x;
            x += 1;
        }
        b->ngroups += any;
    }
    return b->n;
}

static void bars_free(rp_bars *b) {
    free(b->cell);
    free(b->x);
    free(b->agg);
}

/* The longest line of the bars' tic labels, in characters. */
static size_t bars_longest(const mb_report *R, const rp_bars *b) {
    size_t longest = 0;
    for (int i = 0; i < b->n; i++) {
        const mb_rp_cell *cl = &R->cells[b->cell[i]];
        size_t a = strlen(cl->method), gl = strlen(R->groups[cl->group].label);
        if (a > longest) longest = a;
        if (b->ngroups > 1 && gl > longest) longest = gl;
    }
    return longest;
}

/* How a bar chart is laid out: labels sit level under their bars unless that would make the
 * figure too wide to read (about 1800 px); then they are turned, on one line each (gnuplot turns
 * each line of a rotated label about its own anchor, so two lines would collide). */
typedef struct rp_layout {
    int w, h, rotate, key_px; /* h: 720, taller where turned labels need the room below */
    int lmargin_px;           /* a turned first label hangs left of its bar: room for it */
} rp_layout;

static void tic_label(mb_text *l, const mb_report *R, const rp_bars *b, int i, int rotate) {
    const mb_rp_cell *cl = &R->cells[b->cell[i]];
    if (b->ngroups > 1 && rotate)
        mb_text_add(l, "%s (%s)", cl->method, R->groups[cl->group].label);
    else
        mb_text_add(l, "%s", cl->method);
}

static rp_layout bars_layout(const mb_report *R, const rp_bars *b, int key_px) {
    rp_layout L = {.w = 0, .h = 720, .rotate = 0, .key_px = key_px, .lmargin_px = 80};
    double per = 8.5 * (double)bars_longest(R, b) + 14, slots = b->n + 0.6 * (b->ngroups - 1) + 1.6;
    if (per < 80) per = 80;
    L.rotate = L.lmargin_px + key_px + 60 + per * slots > 1800;
    if (L.rotate) per = 60;
    /* each turned label hangs left of its bar by cos 30 x its width, less its bar's distance from
     * the plot's left edge (x = -0.8): the longest reach over all of them, not the first's alone */
    for (int i = 0; L.rotate && i < b->n; i++) {
        mb_text l = {0};
        tic_label(&l, R, b, i, 1);
        double hang = 0.87 * 8.7 * (double)l.len - per * (b->x[i] + 0.8) + 40;
        /* sin 30 x its width below the axis; a 720 px figure leaves about 160 px for that */
        int drop = (int)(0.5 * 8.7 * (double)l.len) - 160;
        mb_text_free(&l);
        if (hang > L.lmargin_px) L.lmargin_px = (int)hang;
        if (drop > 0 && 720 + drop > L.h) L.h = 720 + drop > 1600 ? 1600 : 720 + drop;
    }
    L.w = L.lmargin_px + key_px + 60 + (int)(per * slots);
    L.w = L.w < 900 ? 900 : L.w > 5000 ? 5000 : L.w;
    return L;
}

/* x tics: the method label, and the group (second line, or in parentheses when turned) when
 * there is more than one group. */
static void bars_xtics(mb_text *g, const mb_report *R, const rp_bars *b, const rp_layout *L) {
    mb_text_add(g, "set xtics (");
    for (int i = 0; i < b->n; i++) {
        const mb_rp_cell *cl = &R->cells[b->cell[i]];
        mb_text l = {0};
        tic_label(&l, R, b, i, L->rotate);
        mb_text_add(g, "%s", i ? ", " : "");
        mb_rp_gp_quote(g, mb_text_str(&l), 1);
        mb_text_free(&l);
        if (b->ngroups > 1 && !L->rotate) {
            mb_text_add(g, ".\"\\n\".");
            mb_rp_gp_quote(g, R->groups[cl->group].label, 1);
        }
        mb_text_add(g, " %g", b->x[i]);
    }
    mb_text_add(g, ") noenhanced%s\n", L->rotate ? " rotate by 30 right" : "");
    /* gnuplot sizes the bottom margin for one line of tic labels; make room for the second. */
    if (b->ngroups > 1 && !L->rotate) mb_text_add(g, "set bmargin 5\n");
    if (L->rotate) {
        /* Fixed margins: gnuplot's own reserve room on both sides for turned labels. */
        mb_text_add(g, "set lmargin at screen %.4f\n", (double)L->lmargin_px / L->w);
        mb_text_add(g, "set rmargin at screen %.4f\n", 1.0 - (double)(L->key_px + 30) / L->w);
    }
    mb_text_add(g, "set xrange [%g:%g]\n", -0.8, b->n ? b->x[b->n - 1] + 0.8 : 1.0);
}

/* ---------------------------------------------------------------------------------------------
 * Figures. Each returns MB_OK without drawing when it has nothing to show (a note says so). */

/* The bars of a figure, or, when no cell has any (*none set, b freed), a note saying the figure
 * is left out. */
static mb_status bars_begin(mb_ctx *ctx, mb_report *R, int kind, int (*keep)(const mb_rp_agg *),
                            const char *note, rp_bars *b, int *none) {
    *none = 0;
    if (bars_collect(R, kind, keep, b) < 0) {
        bars_free(b);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    if (b->n == 0) {
        bars_free(b);
        mb_text_add(&R->notes, "%s", note);
        *none = 1;
    }
    return MB_OK;
}

static int keep_memory(const mb_rp_agg *a) {
    return a->peak_row >= 0;
}
static int keep_time(const mb_rp_agg *a) {
    return isfinite(a->ms);
}
static int keep_maxbatch(const mb_rp_agg *a) {
    return isfinite(a->bs_min);
}

mb_status mb_rp_fig_memory(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_bars b;
    int none = 0;
    MB_TRY(bars_begin(ctx, R, MB_RK_PLAIN, keep_memory,
                      "memory: no ok cell has a memory breakdown; figure left out\n", &b, &none));
    if (none) return MB_OK;
    mb_text d = {0}, g = {0};
    int shown[MB_MEM_NCAT] = {0};
    mb_text_add(&d,
                "# memory.dat - peak memory at the tracked peak, by category (MiB), per cell\n# x");
    for (int k = 0; k < MB_MEM_NCAT; k++) mb_text_add(&d, "\t%s", mb_mem_cat_name(k));
    mb_text_add(&d, "\ttracked_total\tpredicted_total\tlabel\n");
    for (int i = 0; i < b.n; i++) {
        const mb_rp_row *r = &R->rows[b.agg[i].peak_row];
        mb_text_add(&d, "%g", b.x[i]);
        for (int k = 0; k < MB_MEM_NCAT; k++) {
            double v = MB_RP_NUM(r, MB_RC_PEAK + k) / MB_RP_MIB;
            if (v > 0) shown[k] = 1;
            mb_text_add(&d, "\t");
            mb_rp_fmt_num(&d, v);
        }
        mb_text_add(&d, "\t");
        mb_rp_fmt_num(&d, MB_RP_NUM(r, MB_RC_TRACKED) / MB_RP_MIB);
        mb_text_add(&d, "\t");
        mb_rp_fmt_num(&d, b.agg[i].pred_mib);
        const mb_rp_cell *cl = &R->cells[b.cell[i]];
        mb_text l = {0};
        mb_text_add(&l, "%s%s%s", cl->method, b.ngroups > 1 ? " " : "",
                    b.ngroups > 1 ? R->groups[cl->group].label : "");
        mb_rp_dat_label(&d, mb_text_str(&l));
        mb_text_free(&l);
    }
    rp_layout L = bars_layout(R, &b, 160);
    int w = L.w;
    mb_rp_gp_begin(&g, R, "memory", "peak memory by category, stacked, per cell", w, L.h);
    mb_text_add(&g,
                "set title 'Peak memory by category at the tracked peak (points: predicted total)' "
                "noenhanced\n"
                "set ylabel 'MiB' noenhanced\n"
                "set yrange [0:*]\n"
                "set style fill solid 0.85 border -1\n"
                "set boxwidth 0.8 absolute\n"
                "set key outside right top noenhanced\n");
    bars_xtics(&g, R, &b, &L);
    /* Stacked by overdrawing: the sum of all categories first, then ever shorter sums, so each
     * visible band is one category and the legend reads top to bottom like the bars. */
    mb_text_add(&g, "plot");
    int first = 1;
    for (int k = MB_MEM_NCAT - 1; k >= 0; k--) {
        if (!shown[k]) continue;
        mb_text_add(&g, "%s \\\n  'memory.dat' using 1:(", first ? "" : ",");
        for (int j = 0; j <= k; j++) mb_text_add(&g, "%s$%d", j ? "+" : "", j + 2);
        mb_text_add(&g, ") with boxes title '%s'", mb_mem_cat_name(k));
        first = 0;
    }
    mb_text_add(&g,
                "%s \\\n  'memory.dat' using 1:%d with points pt 7 ps 1.4 lc rgb 'black' "
                "title 'predicted total'\n",
                first ? "" : ",", MB_MEM_NCAT + 3);
    mb_rp_gp_end(&g, "memory", w, L.h);
    mb_status s =
        mb_rp_draw(ctx, R, dir, "memory", &d, NULL, &g,
                   "Peak memory of each cell by category at the moment of the tracked peak (MiB); "
                   "points: the predicted total.");
    mb_text_free(&d);
    mb_text_free(&g);
    bars_free(&b);
    return s;
}

mb_status mb_rp_fig_time(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_bars b;
    int none = 0;
    MB_TRY(bars_begin(ctx, R, MB_RK_PLAIN, keep_time,
                      "time: no ok cell has step times; figure left out\n", &b, &none));
    if (none) return MB_OK;
    mb_text d = {0}, g = {0};
    int repeats = 0;
    mb_text_add(&d,
                "# time.dat - step time per cell (ms): median of the runs' medians, lowest p10, "
                "highest p90\n# x\tmedian_ms\tp10_ms\tp90_ms\truns\tlabel\n");
    for (int i = 0; i < b.n; i++) {
        const mb_rp_cell *cl = &R->cells[b.cell[i]];
        mb_text_add(&d, "%g\t", b.x[i]);
        mb_rp_fmt_num(&d, b.agg[i].ms);
        mb_text_add(&d, "\t");
        mb_rp_fmt_num(&d, b.agg[i].lo);
        mb_text_add(&d, "\t");
        mb_rp_fmt_num(&d, b.agg[i].hi);
        mb_text_add(&d, "\t%d", b.agg[i].nok);
        if (b.agg[i].nok > 1) repeats = 1;
        mb_text l = {0};
        mb_text_add(&l, "%s%s%s", cl->method, b.ngroups > 1 ? " " : "",
                    b.ngroups > 1 ? R->groups[cl->group].label : "");
        mb_rp_dat_label(&d, mb_text_str(&l));
        mb_text_free(&l);
    }
    rp_layout L = bars_layout(R, &b, 0);
    int w = L.w;
    mb_rp_gp_begin(&g, R, "time", "median step time with p10-p90 bars, per cell", w, L.h);
    mb_text_add(&g, "set title ");
    mb_rp_gp_quote(&g,
                   repeats
                       ? "Step time: median (of the repeats' medians), bars from the lowest p10 to "
                         "the highest p90"
                       : "Step time: median, bars from p10 to p90",
                   0);
    mb_text_add(&g, " noenhanced\n");
    mb_text_add(&g, "set ylabel 'ms per step' noenhanced\n"
                    "set yrange [0:*]\n"
                    "set style fill solid 0.75 border -1\n"
                    "set boxwidth 0.8 absolute\n"
                    "set key top left noenhanced\n");
    bars_xtics(&g, R, &b, &L);
    mb_text_add(&g, "plot 'time.dat' using 1:2 with boxes lc rgb '#4c72b0' title 'median', \\\n"
                    "  'time.dat' using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.4 lw 1.5 "
                    "title 'p10 to p90'\n");
    mb_rp_gp_end(&g, "time", w, L.h);
    mb_status s = mb_rp_draw(
        ctx, R, dir, "time", &d, NULL, &g,
        "Median step time with p10 to p90 bars (cells with repeats: median of the medians, "
        "lowest p10 to highest p90).");
    mb_text_free(&d);
    mb_text_free(&g);
    bars_free(&b);
    return s;
}

mb_status mb_rp_fig_maxbatch(mb_ctx *ctx, mb_report *R, const char *dir) {
    int any = 0;
    for (int c = 0; c < R->ncells && !any; c++) any = R->cells[c].kind == MB_RK_MAXBATCH;
    if (!any) return MB_OK; /* no search in these results: not a figure to miss */
    rp_bars b;
    int none = 0;
    MB_TRY(bars_begin(ctx, R, MB_RK_MAXBATCH, keep_maxbatch,
                      "maxbatch: no max_batch_size row is ok; figure left out\n", &b, &none));
    if (none) return MB_OK;
    mb_text d = {0}, g = {0};
    mb_text_add(&d,
                "# maxbatch.dat - the largest batch size that fits (search max_batch_size), per "
                "method\n# x\tbatch_size\tlabel\n");
    for (int i = 0; i < b.n; i++) {
        const mb_rp_cell *cl = &R->cells[b.cell[i]];
        mb_text_add(&d, "%g\t%.0f", b.x[i], b.agg[i].bs_min);
        mb_text l = {0};
        mb_text_add(&l, "%s%s%s", cl->method, b.ngroups > 1 ? " " : "",
                    b.ngroups > 1 ? R->groups[cl->group].label : "");
        mb_rp_dat_label(&d, mb_text_str(&l));
        mb_text_free(&l);
    }
    rp_layout L = bars_layout(R, &b, 0);
    int w = L.w;
    mb_rp_gp_begin(&g, R, "maxbatch", "largest batch size that fits, per method", w, L.h);
    mb_text_add(&g, "set title 'Largest batch size that fits (search: max_batch_size)' noenhanced\n"
                    "set ylabel 'batch size' noenhanced\n"
                    "set yrange [0:*]\n"
                    "set offsets 0, 0, graph 0.08, 0\n"
                    "set style fill solid 0.75 border -1\n"
                    "set boxwidth 0.8 absolute\n"
                    "unset key\n");
    bars_xtics(&g, R, &b, &L);
    mb_text_add(&g,
                "plot 'maxbatch.dat' using 1:2 with boxes lc rgb '#55a868', \\\n"
                "  'maxbatch.dat' using 1:2:(sprintf('%%d', int($2))) with labels offset 0,0.8\n");
    mb_rp_gp_end(&g, "maxbatch", w, L.h);
    mb_status s =
        mb_rp_draw(ctx, R, dir, "maxbatch", &d, NULL, &g,
                   "The largest batch size that fits, found by the max_batch_size search, per "
                   "method.");
    mb_text_free(&d);
    mb_text_free(&g);
    bars_free(&b);
    return s;
}
