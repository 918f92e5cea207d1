/* reports/summary.h — the report's answer: per setting (suite, target, model, batch, sequence,
 * precision, task), each method stack's medians over its ok repeats beside the setting's baseline
 * stack, per run when inputs are compared side by side. */
#ifndef MB_RP_SUMMARY_H
#define MB_RP_SUMMARY_H

#include "model.h"

/* Medians over a cell's ok rows (repeats); NaN where no ok row has the figure. */
typedef struct mb_rp_stat {
    int n, nok;              /* rows, ok rows */
    double peak, ms, metric; /* tracked peak bytes, step time (median of the medians), metric */
    double cat[MB_MEM_NCAT]; /* bytes per category at the peak */
} mb_rp_stat;

/* A line of the summary: one method stack (a cell's method label) of one setting, with its cell
 * in each run (-1 where that run lacks it). */
typedef struct mb_rp_sum_line {
    int setting;
    const char *method; /* the cell's method label (R's) */
    int *cell;          /* nruns cells */
} mb_rp_sum_line;

struct mb_rp_summary {
    int nruns, nsettings, nlines;
    char **setting_label;      /* "suite: target/model/bs=B/seq=T/precision[/task]" */
    int *base;                 /* nsettings x nruns: the baseline cell, -1 when none */
    int *declared;             /* nsettings x nruns: the baseline came from the `baseline` column */
    mb_rp_sum_line *lines;     /* by setting in input order; a setting's baseline line first */
    int *cells;                /* nlines x nruns, what lines[i].cell points into */
    mb_rp_stat *stat;          /* per cell of R (plain cells only are filled) */
    int held_cat[MB_MEM_NCAT]; /* a category some cell of the summary holds bytes in */
    int show_cat[MB_MEM_NCAT]; /* ... and some stack saves bytes in (or adds) against its baseline
                                */
};

/* v / base; NaN unless both are finite and base > 0. */
double mb_rp_ratio(double v, double base);
/* Builds R->sum from R's plain cells (after mb_rp_build) and adds a line to R->warnings for each
 * ok stack whose tracked peak is at or above its ok baseline's. MB_ENOMEM. */
mb_status mb_rp_summary_build(mb_ctx *ctx, mb_report *R);
void mb_rp_summary_free(mb_rp_summary *S);

#endif
