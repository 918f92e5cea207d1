/* reports/fig_scatter.c — the scatter plots of peak memory against throughput (with the Pareto
 * frontier) and against the quality metric: one labelled point per plain cell. */
#include "figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metric.h"

/* A scatter point: one plain cell. */
typedef struct rp_pt {
    double x, y;
    int cell, front;
} rp_pt;

static int cmp_pareto(const void *a, const void *b) {
    const rp_pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return (p->y < q->y) - (p->y > q->y); /* higher throughput first at equal memory */
}

static int n_plain_groups(const mb_report *R) {
    int n = 0;
    for (int g = 0; g < R->ngroups; g++) n += R->groups[g].kind == MB_RK_PLAIN;
    return n;
}

/* Point labels are `set label` commands, not a data column: the text is quoted by us, and a
 * gnuplot data file has no way to quote a label that holds quotes or tabs. Labels of points that
 * (nearly) coincide are stacked one line apart instead of printed over each other. */
static void scatter_labels(mb_text *g, const mb_report *R, const rp_pt *p, int n) {
    int groups = n_plain_groups(R) > 1;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        x0 = fmin(x0, p[i].x), x1 = fmax(x1, p[i].x);
        y0 = fmin(y0, p[i].y), y1 = fmax(y1, p[i].y);
    }
    double dx = (x1 - x0) * 0.15 + 1e-300, dy = (y1 - y0) * 0.02 + 1e-300;
    for (int i = 0; i < n; i++) {
        const mb_rp_cell *cl = &R->cells[p[i].cell];
        int below = 0;
        for (int j = 0; j < i; j++)
            below += fabs(p[j].x - p[i].x) < dx && fabs(p[j].y - p[i].y) < dy;
        mb_text_add(g, "set label %d ", i + 1);
        mb_text l = {0};
        mb_text_add(&l, "%s%s%s", cl->method, groups ? " " : "",
                    groups ? R->groups[cl->group].label : "");
        mb_rp_gp_quote(g, mb_text_str(&l), 0);
        mb_text_free(&l);
        mb_text_add(g, " at %.9g,%.9g offset char 0.8,%.1f font ',11' noenhanced front\n", p[i].x,
                    p[i].y, 0.6 - 1.1 * below);
    }
}

static int collect_points(const mb_report *R, int ycol, rp_pt *p) {
    int n = 0;
    for (int c = 0; c < R->ncells; c++) {
        if (R->cells[c].kind != MB_RK_PLAIN) continue;
        mb_rp_agg a = mb_rp_aggregate(R, &R->cells[c]);
        double y = ycol == MB_RC_TPS ? a.tps : a.metric;
        if (!a.nok || !isfinite(a.peak_mib) || !isfinite(y)) continue;
        p[n++] = (rp_pt){.x = a.peak_mib, .y = y, .cell = c, .front = 0};
    }
    return n;
}

/* An axis range from the plotted values: their span with a margin (`lo` and `hi` of it on either
 * side; room for the point labels on the right of x), never below 0 when no value is. A log axis
 * gets a factor instead. */
static void axis_range(mb_text *g, const char *axis, double v0, double v1, double lo, double hi,
                       int log) {
    if (log) {
        mb_text_add(g, "set %srange [%.9g:%.9g]\n", axis, v0 / pow(v1 / v0, lo),
                    v1 * pow(v1 / v0, hi));
        return;
    }
    double span = v1 - v0;
    if (!(span > 0)) span = fabs(v0) > 0 ? fabs(v0) : 1; /* one value: around it */
    double a = v0 - lo * span, b = v1 + hi * span;
    if (v0 >= 0 && a < 0) a = 0;
    mb_text_add(g, "set %srange [%.9g:%.9g]\n", axis, a, b);
}

/* The axes' ranges from the points (gnuplot's autoscale with offsets ran past zero, to negative
 * memory and throughput), x on a log scale when memory spans decades. */
static void scatter_axes(mb_text *g, const rp_pt *p, int n) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        x0 = fmin(x0, p[i].x), x1 = fmax(x1, p[i].x);
        y0 = fmin(y0, p[i].y), y1 = fmax(y1, p[i].y);
    }
    /* Decades of memory (tiny to large models) crush the small ones against the axis. */
    int log = x0 > 0 && x1 / x0 > 30;
    if (log) mb_text_add(g, "set logscale x 2\n");
    axis_range(g, "x", x0, x1, 0.08, 0.35, log);
    axis_range(g, "y", y0, y1, 0.1, 0.12, 0);
}

mb_status mb_rp_fig_pareto(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_pt *p = calloc((size_t)R->ncells + 1, sizeof *p);
    if (!p) return mb_error(ctx, MB_ENOMEM, "host allocation");
    int n = collect_points(R, MB_RC_TPS, p);
    if (n == 0) {
        free(p);
        mb_text_add(&R->notes,
                    "pareto: no ok cell has both a peak and a throughput; figure left out\n");
        return MB_OK;
    }
    /* Frontier: less memory and more throughput are better; walking up the memory axis, a point is
     * on it when nothing at or below its memory has at least its throughput. */
    qsort(p, (size_t)n, sizeof *p, cmp_pareto);
    double best = -INFINITY;
    for (int i = 0; i < n; i++)
        if (p[i].y > best) {
            p[i].front = 1;
            best = p[i].y;
        }
    mb_text d = {0}, f = {0}, g = {0};
    mb_text_add(&d, "# pareto.dat - tracked peak memory (MiB) and throughput (tokens/s) per cell\n"
                    "# peak_mib\ttokens_per_s\ton_frontier\tlabel\n");
    mb_text_add(&f, "# pareto_frontier.dat - the cells no other cell beats on both memory and "
                    "throughput, by memory\n# peak_mib\ttokens_per_s\tlabel\n");
    for (int i = 0; i < n; i++) {
        const mb_rp_cell *cl = &R->cells[p[i].cell];
        mb_text_add(&d, "%.9g\t%.9g\t%d", p[i].x, p[i].y, p[i].front);
        mb_rp_dat_label(&d, cl->label);
        if (!p[i].front) continue;
        mb_text_add(&f, "%.9g\t%.9g", p[i].x, p[i].y);
        mb_rp_dat_label(&f, cl->label);
    }
    int w = 1200, h = 800;
    mb_rp_gp_begin(&g, R, "pareto", "peak memory against throughput, with the Pareto frontier", w,
                   h);
    mb_text_add(&g, "set title 'Memory against throughput (better: left and up); line: Pareto "
                    "frontier' noenhanced\n"
                    "set xlabel 'tracked peak memory (MiB)' noenhanced\n"
                    "set ylabel 'throughput (tokens/s)' noenhanced\n"
                    "set key bottom right noenhanced\n"
                    "set grid xtics ytics lc rgb '#dddddd'\n");
    scatter_axes(&g, p, n);
    scatter_labels(&g, R, p, n);
    mb_text_add(&g, "plot 'pareto.dat' using 1:2 with points pt 7 ps 1.3 lc rgb '#4c72b0' "
                    "title 'cells', \\\n"
                    "  'pareto_frontier.dat' using 1:2 with steps lw 2 lc rgb '#c44e52' "
                    "title 'Pareto frontier', \\\n"
                    "  'pareto_frontier.dat' using 1:2 with points pt 6 ps 2 lc rgb '#c44e52' "
                    "notitle\n");
    mb_rp_gp_end(&g, "pareto", w, h);
    mb_status s = mb_rp_draw(
        ctx, R, dir, "pareto", &d, &f, &g,
        "Tracked peak memory against throughput; the line is the Pareto frontier (no other "
        "cell has less memory and more throughput).");
    mb_text_free(&d);
    mb_text_free(&f);
    mb_text_free(&g);
    free(p);
    return s;
}

mb_status mb_rp_fig_quality(mb_ctx *ctx, mb_report *R, const char *dir) {
    rp_pt *p = calloc((size_t)R->ncells + 1, sizeof *p);
    if (!p) return mb_error(ctx, MB_ENOMEM, "host allocation");
    int n = collect_points(R, MB_RC_METRIC, p);
    if (n == 0) {
        free(p);
        mb_text_add(&R->notes,
                    "quality: no ok cell has both a peak and a metric value; figure left "
                    "out\n");
        return MB_OK;
    }
    /* The y axis says which metric (val_loss, accuracy): the name comes from the rows. */
    const char *metric = R->rows[R->cells[p[0].cell].rows[0]].s[MB_RC_METRIC_NAME];
    for (int i = 1; i < n; i++)
        if (strcmp(R->rows[R->cells[p[i].cell].rows[0]].s[MB_RC_METRIC_NAME], metric)) metric = "";
    if (!*metric) metric = "metric_value";
    mb_text d = {0}, g = {0};
    mb_text_add(&d, "# quality.dat - tracked peak memory (MiB) and ");
    mb_rp_plain_text(&d, metric);
    mb_text_add(&d, " per cell\n# peak_mib\tmetric_value\tlabel\n");
    for (int i = 0; i < n; i++) {
        mb_text_add(&d, "%.9g\t%.9g", p[i].x, p[i].y);
        mb_rp_dat_label(&d, R->cells[p[i].cell].label);
    }
    int w = 1200, h = 800;
    mb_rp_gp_begin(&g, R, "quality", "validation metric against peak memory", w, h);
    mb_text t = {0};
    const char *better = mb_metric_direction(metric);
    int higher = better && !strcmp(better, "higher");
    mb_text_add(&t, "%s against peak memory (%s and to the left is better)", metric,
                higher ? "higher" : "lower");
    mb_text_add(&g, "set title ");
    mb_rp_gp_quote(&g, mb_text_str(&t), 0);
    mb_text_add(&g, " noenhanced\nset ylabel ");
    mb_text_free(&t);
    mb_text_add(&t, "%s (%s is better)", metric, higher ? "higher" : "lower");
    mb_rp_gp_quote(&g, mb_text_str(&t), 0);
    mb_text_free(&t);
    mb_text_add(&g, " noenhanced\n"
                    "set xlabel 'tracked peak memory (MiB)' noenhanced\n"
                    "set grid xtics ytics lc rgb '#dddddd'\n"
                    "unset key\n");
    scatter_axes(&g, p, n);
    scatter_labels(&g, R, p, n);
    mb_text_add(&g, "plot 'quality.dat' using 1:2 with points pt 7 ps 1.3 lc rgb '#8172b2'\n");
    mb_rp_gp_end(&g, "quality", w, h);
    mb_status s = mb_rp_draw(ctx, R, dir, "quality", &d, NULL, &g,
                             "%s (%s is better) against tracked peak memory.", metric,
                             higher ? "higher" : "lower");
    mb_text_free(&d);
    mb_text_free(&g);
    free(p);
    return s;
}
