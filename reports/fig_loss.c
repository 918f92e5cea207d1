/* reports/fig_loss.c — loss curves from steps.csv: per ok cell the median of its repeats' training
 * losses (a band from their lowest to highest) and validation losses, a colour per method stack. */
#include "figures.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One loss curve: the rows of one config hash in one steps file. Only the first contiguous run of
 * a hash is used: a suite re-run into the same folder appends its steps again, and joining the
 * two runs would draw one zigzag line. */
typedef struct rp_series {
    const char *hash;
    int row, table, first, end; /* results row; steps table and its rows [first, end) */
    int cell, seq;              /* the row's cell; the series' place in the steps files */
    int ntrain, neval;
} rp_series;

/* The config hashes of the ok plain rows, sorted, for bsearch: steps of failed cells are never
 * drawn, and each hash gets one line (`taken`) even when several steps files have it. */
typedef struct rp_hashed {
    const char *hash;
    int row, taken;
} rp_hashed;

static int cmp_hashed(const void *a, const void *b) {
    const rp_hashed *x = a, *y = b;
    int c = strcmp(x->hash, y->hash);
    return c ? c : (x->row > y->row) - (x->row < y->row); /* the first row of a duplicate wins */
}

static int steps_point(const mb_table *st, const mb_rp_steps_cols *c, int r, double *step,
                       double *loss) {
    *loss = mb_table_num(st, r, c->loss);
    *step = mb_table_num(st, r, c->step);
    return isfinite(*loss) && isfinite(*step);
}

/* The series of every steps file, in file order; *out is owned by the caller (NULL on error). */
static mb_status collect_series(mb_ctx *ctx, const mb_report *R, rp_series **out, int *nout) {
    int cap = 16, n = 0, nh = 0;
    rp_series *sr = malloc((size_t)cap * sizeof *sr);
    rp_hashed *idx = malloc(((size_t)R->nrows + 1) * sizeof *idx);
    *out = NULL;
    *nout = 0;
    if (!sr || !idx) {
        free(sr);
        free(idx);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    for (int i = 0; i < R->nrows; i++) {
        const mb_rp_row *r = &R->rows[i];
        if (mb_rp_is_ok(r) && R->cells[r->cell].kind == MB_RK_PLAIN)
            idx[nh++] = (rp_hashed){.hash = r->s[MB_RC_HASH], .row = i, .taken = 0};
    }
    qsort(idx, (size_t)nh, sizeof *idx, cmp_hashed);
    for (int t = 0; t < R->nsteps; t++) {
        const mb_table *st = &R->steps[t];
        const mb_rp_steps_cols *c = &R->scols[t];
        for (int r = 0; r < st->nrows;) {
            const char *h = mb_table_get(st, r, c->hash);
            int end = r + 1;
            while (end < st->nrows && !strcmp(mb_table_get(st, end, c->hash), h)) end++;
            /* lower bound: row -1 sorts before every row with this hash, so this lands on
             * the first of them (the row a duplicate hash maps to) */
            rp_hashed key = {.hash = h, .row = -1, .taken = 0}, *f = NULL;
            int lo = 0, hi = nh;
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (cmp_hashed(&idx[mid], &key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < nh && !strcmp(idx[lo].hash, h)) f = &idx[lo];
            if (f && !f->taken) {
                f->taken = 1;
                if (n == cap) {
                    rp_series *m = realloc(sr, (size_t)(cap *= 2) * sizeof *sr);
                    if (!m) {
                        free(sr);
                        free(idx);
                        return mb_error(ctx, MB_ENOMEM, "host allocation");
                    }
                    sr = m;
                }
                rp_series *e = &sr[n++];
                *e = (rp_series){.hash = h,
                                 .row = f->row,
                                 .table = t,
                                 .first = r,
                                 .end = end,
                                 .cell = R->rows[f->row].cell,
                                 .seq = n - 1};
                for (int i = r; i < end; i++) {
                    double step, loss;
                    if (!steps_point(st, c, i, &step, &loss)) continue;
                    if (!strcmp(mb_table_get(st, i, c->phase), "eval"))
                        e->neval++;
                    else
                        e->ntrain++;
                }
            }
            r = end;
        }
    }
    free(idx);
    *out = sr;
    *nout = n;
    return MB_OK;
}

/* A (step, loss) point of one repeat, gathered per cell and phase before aggregating. */
typedef struct rp_sl {
    double step, loss;
} rp_sl;

static int cmp_sl(const void *a, const void *b) {
    const rp_sl *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return (x->loss > y->loss) - (x->loss < y->loss);
}

/* The points of `phase` (0 train, 1 eval) of every series in sr[k0, k1) (one cell's repeats), as
 * one line per step: its median over the repeats that have it, their lowest and highest. Returns
 * how many steps; `pts` has room for every point of those series. */
static int aggregate_phase(const mb_report *R, const rp_series *sr, int k0, int k1, int phase,
                           rp_sl *pts, mb_text *d) {
    int n = 0, steps = 0;
    for (int k = k0; k < k1; k++) {
        const mb_table *st = &R->steps[sr[k].table];
        const mb_rp_steps_cols *c = &R->scols[sr[k].table];
        for (int r = sr[k].first; r < sr[k].end; r++) {
            double step, loss;
            int is_eval = !strcmp(mb_table_get(st, r, c->phase), "eval");
            if (is_eval == phase && steps_point(st, c, r, &step, &loss))
                pts[n++] = (rp_sl){.step = step, .loss = loss};
        }
    }
    qsort(pts, (size_t)n, sizeof *pts, cmp_sl); /* by step, then loss: each step's run sorted */
    for (int i = 0, j; i < n; i = j, steps++) {
        for (j = i; j < n && pts[j].step == pts[i].step; j++) {
        }
        int m = j - i;
        double med =
            m % 2 ? pts[i + m / 2].loss : 0.5 * (pts[i + m / 2 - 1].loss + pts[i + m / 2].loss);
        mb_text_add(d, "%.9g\t%.9g\t%.9g\t%.9g\n", pts[i].step, med, pts[i].loss, pts[j - 1].loss);
    }
    return steps;
}

static int cmp_by_cell(const void *a, const void *b) {
    const rp_series *x = a, *y = b;
    if (x->cell != y->cell) return x->cell < y->cell ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Colours for the method stacks (Tableau 10): a colour per stack, the same in every setting. */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPALETTE ((int)(sizeof palette / sizeof palette[0]))

mb_status mb_rp_fig_loss(mb_ctx *ctx, mb_report *R, const char *dir) {
    if (R->nsteps == 0) {
        mb_text_add(&R->notes, "loss: no steps.csv; figure left out\n");
        return MB_OK;
    }
    rp_series *sr;
    int n;
    MB_TRY(collect_series(ctx, R, &sr, &n));
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    int *slot = malloc(cap * sizeof *slot), *color = NULL, *dash = NULL;
    size_t npts = 0;
    for (int k = 0; k < n; k++) npts += (size_t)(sr[k].end - sr[k].first);
    rp_sl *pts = malloc((npts + 1) * sizeof *pts);
    rp_series *by = malloc(((size_t)n + 1) * sizeof *by);
    color = calloc((size_t)R->ncells + 1, sizeof *color);
    dash = calloc((size_t)R->ngroups + 1, sizeof *dash);
    if (!slot || !pts || !by || !color || !dash) {
        free(slot), free(pts), free(by), free(color), free(dash), free(sr);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    /* A cell's repeats next to each other: cells in input order, then the steps files' order. */
    int nby = 0;
    for (int k = 0; k < n; k++)
        if (sr[k].ntrain || sr[k].neval) by[nby++] = sr[k];
    qsort(by, (size_t)nby, sizeof *by, cmp_by_cell);
    /* Colours by method label in order of appearance, dash patterns by group. */
    int ncolors = 0, ndash = 0;
    for (int c = 0; c < R->ncells; c++) color[c] = -1;
    for (int g = 0; g < R->ngroups; g++) dash[g] = -1;
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int k = 0; k < nby; k++) {
        int c = by[k].cell, g = R->cells[c].group;
        if (color[c] < 0) { /* the colour of the first cell with this method label */
            uint64_t h = 14695981039346656037u;
            for (const unsigned char *p = (const unsigned char *)R->cells[c].method; *p; p++)
                h = (h ^ *p) * 1099511628211u;
            size_t at = (size_t)h & (cap - 1);
            while (slot[at] >= 0 && strcmp(R->cells[slot[at]].method, R->cells[c].method))
                at = (at + 1) & (cap - 1);
            if (slot[at] < 0) {
                slot[at] = c;
                color[c] = ncolors++;
            } else {
                color[c] = color[slot[at]];
            }
        }
        if (g >= 0 && dash[g] < 0) dash[g] = ndash++;
    }
    /* Blocks in loss.dat: gnuplot's `index` counts blocks split by two blank lines. */
    mb_text d = {0}, g = {0}, plot = {0};
    mb_text_add(&d, "# loss.dat - loss against step from steps.csv: per cell a block of training "
                    "losses, then a block of validation losses, each step's median over the "
                    "cell's repeats with their lowest and highest (loss.gp names the index of "
                    "each)\n");
    int block = 0, drawn = 0;
    for (int k0 = 0, k1; k0 < nby; k0 = k1) {
        int c = by[k0].cell;
        for (k1 = k0; k1 < nby && by[k1].cell == c; k1++) {
        }
        const mb_rp_cell *cl = &R->cells[c];
        int reps = k1 - k0, gi = cl->group >= 0 ? dash[cl->group] : 0;
        const char *rgb = palette[color[c] % NPALETTE];
        int dt = (gi + color[c] / NPALETTE) % 5 + 1;
        for (int phase = 0; phase < 2; phase++) {
            mb_text head = {0};
            mb_text_add(&head, "%s# %s: ", block ? "\n\n" : "", phase ? "eval" : "train");
            mb_rp_plain_text(&head, cl->label);
            mb_text_add(&head, " (%d repeat%s)\n# step\tmedian\tmin\tmax\n", reps,
                        reps == 1 ? "" : "s");
            mb_text body = {0};
            int steps = aggregate_phase(R, by, k0, k1, phase, pts, &body);
            if (steps) {
                mb_text_add(&d, "%s%s", mb_text_str(&head), mb_text_str(&body));
                /* the band first, so the median line is drawn over it */
                if (reps > 1 && !phase)
                    mb_text_add(&plot,
                                "%s \\\n  'loss.dat' index %d using 1:3:4 with filledcurves "
                                "lc rgb '%s' fs transparent solid 0.18 noborder notitle",
                                block || drawn ? "," : "", block, rgb);
                mb_text_add(&plot, "%s \\\n  'loss.dat' index %d ", block || drawn ? "," : "",
                            block);
                if (phase) {
                    mb_text_add(&plot, "using 1:2%s with %s pt 7 ps 1.2 lc rgb '%s' notitle",
                                reps > 1 ? ":3:4" : "", reps > 1 ? "yerrorbars" : "points", rgb);
                } else {
                    mb_text l = {0};
                    mb_text_add(&l, "%s", cl->label);
                    if (reps > 1) mb_text_add(&l, " (median of %d, band: min-max)", reps);
                    mb_text_add(&plot, "using 1:2 with lines lw 2 lc rgb '%s' dt %d title ", rgb,
                                dt);
                    mb_rp_gp_quote(&plot, mb_text_str(&l), 0);
                    mb_text_add(&plot, " noenhanced");
                    mb_text_free(&l);
                }
                block++;
            }
            mb_text_free(&head);
            mb_text_free(&body);
        }
        drawn++;
    }
    mb_status s = MB_OK;
    if (drawn == 0) {
        mb_text_add(&R->notes, "loss: no ok cell has rows in steps.csv; figure left out\n");
    } else {
        /* A legend of more lines than this would be taller than the plot and unreadable (and
         * Cairo refuses canvases tens of thousands of pixels high). */
        enum { MAX_KEY = 40 };
        int w = 1300, h = 700 + 22 * (drawn > MAX_KEY ? 0 : drawn);
        mb_rp_gp_begin(&g, R, "loss",
                       "loss curves from steps.csv: a colour per method stack, a line per cell "
                       "(the median over its repeats, a band from their lowest to highest)",
                       w, h);
        mb_text_add(&g,
                    "set title 'Loss: lines are training loss, points are validation loss' "
                    "noenhanced\n"
                    "set xlabel 'step' noenhanced\n"
                    "set ylabel 'loss' noenhanced\n"
                    "%s\n"
                    "plot%s\n",
                    drawn > MAX_KEY ? "unset key"
                                    : "set key outside below left vertical maxcols 1 noenhanced",
                    mb_text_str(&plot));
        if (drawn > MAX_KEY)
            mb_text_add(&R->notes,
                        "loss: %d lines, too many for a legend; loss.gp and loss.dat name "
                        "each\n",
                        drawn);
        mb_rp_gp_end(&g, "loss", w, h);
        s = mb_rp_draw(
            ctx, R, dir, "loss", &d, NULL, &g,
            "Training loss per step (lines) and validation loss (points) from steps.csv: a colour "
            "per method stack, a dash pattern per setting; a cell with repeats is their median, "
            "the band (and bars) from their lowest to highest.");
    }
    mb_text_free(&d);
    mb_text_free(&g);
    mb_text_free(&plot);
    free(slot);
    free(pts);
    free(by);
    free(color);
    free(dash);
    free(sr);
    return s;
}
