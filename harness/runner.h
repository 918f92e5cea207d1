/* harness/runner.h — runs a planned suite cell by cell on its target, measures time, memory and
 * quality, and appends results.csv / steps.csv rows as each cell ends (a crash loses one cell). */
#ifndef MB_RUNNER_H
#define MB_RUNNER_H

#include <signal.h>

#include "../datasets/data.h"
#include "../reports/csvtable.h"
#include "env.h"
#include "outdir.h"
#include "plan.h"
#include "progress.h"
#include "results.h"

typedef struct mb_cell_summary {
    char status[16];
    double peak_bytes, step_ms, p10, p90, tokens_per_s, metric; /* val loss or accuracy */
    int answer;       /* a search cell: the largest size that fits (0: none); -1 for other cells */
    char reason[200]; /* why a cell did not end ok (cut to fit) */
} mb_cell_summary;

/* run.json as a second Ctrl-C must leave it, ready to be written from a signal handler. */
typedef struct mb_sig_text {
    char *text;
    size_t len;
} mb_sig_text;

typedef struct mb_runner {
    const mb_suite *suite;
    const mb_plan *plan;
    mb_env env;
    char *out_dir;
    mb_outdir outdir; /* its lock, held from mb_runner_open to mb_runner_close */
    mb_results results, steps;
    mb_dataset data;
    int data_ok;
    char data_err[MB_ERRMSG_MAX];
    mb_progress progress;
    mb_cell_summary *summary; /* [plan->n] */
    int nerror;               /* cells that ended with status error or timeout */
    int noisy;                /* ok cells whose step times spread widely (warned about) */
    /* --isolate: each cell runs in a forked child, so a crash or a hang in a method costs one
     * cell's row, not the suite. cell_timeout > 0 (seconds; implies isolate) kills a cell that runs
     * longer. Set by the caller after mb_runner_open. */
    int isolate;
    double cell_timeout;
    /* The timing test hook (MEMBENCH_TEST_SLOW=GLOB:FACTOR, README "Gating CI"): each timed step of
     * a cell whose label matches slow_glob busy-waits until it has lasted slow_factor times its own
     * time. CPU backends only; NULL: off. Set by the caller after mb_runner_open. */
    const char *slow_glob;
    double slow_factor;
    /* Set to a signal number (SIGINT, SIGTERM) by the caller's signal handler: the run stops
     * before the next cell or step. A cell stopped mid-way writes no row (--resume reruns it). */
    volatile sig_atomic_t stop;
    int interrupted; /* the signal that stopped the run before its last cell; 0 if none */
    /* --resume */
    unsigned char *done; /* [plan->n]: the cell's row was already in results.csv */
    int nskipped;        /* cells skipped because of that */
    size_t dropped_results, dropped_steps; /* bytes of torn last rows cut from the two files */
    long dropped_step_rows;                /* steps.csv rows of cells that had no results.csv row */
    /* run.json for SIGINT [0] and SIGTERM [1], in two slots: sig_slot (-1: none) is the one a
     * handler may read; the other is rewritten after each cell, then the index flips */
    mb_sig_text sig_text[2][2];
    volatile sig_atomic_t sig_slot;
    double sig_rendered_at,
        sig_render_s; /* when the texts were last rendered, and how long it took */
    char sig_tmp[4200], sig_final[4200];
    mb_table prior; /* results.csv as it was before resuming (a search reuses the rows of
                     * its trials instead of running them again) */
    int have_prior;
} mb_runner;

/* Loads the data set, creates and locks out_dir (mb_outdir_open: a folder holding results is
 * refused unless `mode` resumes this suite's run or forces a new one), opens results.csv and
 * steps.csv for appending and writes run.json. MB_OUT_RESUME first checks both files' headers,
 * cuts a torn last row, marks the cells whose config hash already has a results.csv row as done,
 * and drops the steps.csv rows of cells with no results.csv row (a cell interrupted mid-way), so
 * each cell's steps appear once. */
mb_status mb_runner_open(mb_ctx *ctx, mb_runner *r, const mb_suite *s, const mb_plan *p,
                         const char *out_dir, int quiet, mb_out_mode mode);
/* Runs every cell not done; each ends as a row whatever happens inside it, except one stopped by
 * `stop` (then r->interrupted is set, run.json says complete false, and MB_OK returns). Fails only
 * when a row cannot be written. */
mb_status mb_runner_run(mb_ctx *ctx, mb_runner *r);
/* The summary table on `fp`; finished_only leaves out the cells with no result (an interrupted
 * run). */
void mb_runner_print_summary(const mb_runner *r, FILE *fp, int finished_only);
/* From a signal handler, when a second stop signal ends the process at once: writes the run.json
 * prepared for `sig` (interrupted, complete false, the finished cells' statuses) with
 * async-signal-safe calls only. */
void mb_runner_emergency(mb_runner *r, int sig);
void mb_runner_close(mb_runner *r);

#endif
