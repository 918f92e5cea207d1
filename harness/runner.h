/* harness/runner.h — runs a planned suite cell by cell on its target, measures time, memory and
 * quality, and appends results.csv / steps.csv rows as each cell ends (a crash loses one cell). */
#ifndef MB_RUNNER_H
#define MB_RUNNER_H

#include "../datasets/data.h"
#include "env.h"
#include "plan.h"
#include "progress.h"
#include "results.h"

typedef struct mb_cell_summary {
    char status[16];
    double peak_bytes, step_ms, p10, p90, tokens_per_s, val_loss;
} mb_cell_summary;

typedef struct mb_runner {
    const mb_suite *suite;
    const mb_plan *plan;
    mb_env env;
    char *out_dir;
    mb_results results, steps;
    mb_dataset data;
    int data_ok;
    char data_err[MB_ERRMSG_MAX];
    mb_progress progress;
    mb_cell_summary *summary; /* [plan->n] */
    int nerror;               /* cells that ended with status error */
} mb_runner;

/* Creates out_dir (and parents), opens results.csv and steps.csv for appending, writes run.json,
 * loads the data set. */
mb_status mb_runner_open(mb_ctx *ctx, mb_runner *r, const mb_suite *s, const mb_plan *p,
                         const char *out_dir, int quiet);
/* Runs every cell; each ends as a row whatever happens inside it. Fails only when a row cannot be
 * written. */
mb_status mb_runner_run(mb_ctx *ctx, mb_runner *r);
/* The summary table on `fp`. */
void mb_runner_print_summary(const mb_runner *r, FILE *fp);
void mb_runner_close(mb_runner *r);

/* Order statistics with linear interpolation (numpy's default): q in [0, 1]; sorts v in place. */
double mb_quantile(double *v, int n, double q);

#endif
