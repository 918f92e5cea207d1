/* reports/fig_loss.c — loss curves from steps.csv: per ok cell a line of training losses and
 * points of validation losses, in one colour. */
#include "figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One loss curve: the rows of one config hash in one steps file. Only the first contiguous run of
 * a hash is used: a suite re-run into the same folder appends its steps again, and joining the
 * two runs would draw one zigzag line. */
typedef struct rp_series {
    const char *hash;
    int row, table, first, end; /* results row; steps table and its rows [first, end) */
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
                *e = (rp_series){.hash = h, .row = f->row, .table = t, .first = r, .end = end};
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

mb_status mb_rp_fig_loss(mb_ctx *ctx, mb_report *R, const char *dir) {
    if (R->nsteps == 0) {
        mb_text_add(&R->notes, "loss: no steps.csv; figure left out\n");
        return MB_OK;
    }
    rp_series *sr;
    int n;
    MB_TRY(collect_series(ctx, R, &sr, &n));
    /* Blocks in loss.dat: gnuplot's `index` counts blocks split by two blank lines; empty blocks
     * are not written, so their numbers are kept here. */
    mb_text d = {0}, g = {0}, plot = {0};
    mb_text_add(&d,
                "# loss.dat - loss against step from steps.csv: per cell a block of training "
                "losses, then a block of validation losses (loss.gp names the index of each)\n");
    int block = 0, drawn = 0;
    for (int k = 0; k < n; k++) {
        if (!sr[k].ntrain && !sr[k].neval) continue;
        const char *label = R->rows[sr[k].row].label;
        const mb_table *st = &R->steps[sr[k].table];
        const mb_rp_steps_cols *c = &R->scols[sr[k].table];
        for (int phase = 0; phase < 2; phase++) {
            if (!(phase ? sr[k].neval : sr[k].ntrain)) continue;
            mb_text_add(&d, "%s# %s: ", block ? "\n\n" : "", phase ? "eval" : "train");
            mb_rp_plain_text(&d, label);
            mb_text_add(&d, "\n# step\tloss\n");
            for (int r = sr[k].first; r < sr[k].end; r++) {
                double step, loss;
                int is_eval = !strcmp(mb_table_get(st, r, c->phase), "eval");
                if (is_eval == phase && steps_point(st, c, r, &step, &loss))
                    mb_text_add(&d, "%.9g\t%.9g\n", step, loss);
            }
            /* One colour per cell (and a dash pattern once the 8 colours run out); its validation
             * points in the same colour, without a legend entry of their own. */
            mb_text_add(&plot, "%s \\\n  'loss.dat' index %d using 1:2 ", block ? "," : "", block);
            if (phase)
                mb_text_add(&plot, "with points pt 7 ps 1.1 lc %d notitle", drawn % 8 + 1);
            else {
                mb_text_add(&plot, "with lines lw 1.6 lc %d dt %d title ", drawn % 8 + 1,
                            drawn / 8 % 5 + 1);
                mb_rp_gp_quote(&plot, label, 0);
                mb_text_add(&plot, " noenhanced");
            }
            block++;
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
        int w = 1300, h = 700 + 18 * (drawn > MAX_KEY ? 0 : drawn);
        mb_rp_gp_begin(&g, R, "loss", "loss curves from steps.csv, one line per cell", w, h);
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
            "Training loss per step (lines) and validation loss (points), one colour per "
            "cell, from steps.csv.");
    }
    mb_text_free(&d);
    mb_text_free(&g);
    mb_text_free(&plot);
    free(sr);
    return s;
}
