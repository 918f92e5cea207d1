/* reports/report.h — `membench report`: a summary against each setting's baseline stack, figures
 * (a data file and a gnuplot script kept per figure, rendered to PNG and SVG by gnuplot), report.md
 * and index.html from results.csv files, one run or several side by side. */
#ifndef MB_REPORT_H
#define MB_REPORT_H

#include "../engine/ctx.h"

typedef struct mb_report mb_report;

/* What `membench report` reads. Several results files are runs side by side (one column group of
 * the summary each, named by `names` or else by the shortest trailing part of their paths that
 * tells them apart), unless `merge` pools their rows as one run. */
typedef struct mb_report_in {
    const char *const *results;
    int nresults;
    const char *const *steps; /* nsteps > 0: these; else the steps.csv beside each results file */
    int nsteps;
    const char *const *names; /* nnames == 0, or a distinct name per results file */
    int nnames;
    int merge;
} mb_report_in;

/* Reads the results files and the steps files. Errors are input errors: MB_EIO or MB_EFORMAT with
 * the table loader's "FILE:LINE: expected ..." message (MB_TABLE_STRICT: a malformed or cut-off
 * file is refused whole), "FILE:LINE: COLUMN: expected a number, found '...'" (reports/csvnum.h),
 * or "FILE: missing column 'NAME' ..." (MB_EFORMAT); MB_EINVAL for names that are not one per
 * file, or that repeat one. */
mb_status mb_report_load(mb_ctx *ctx, const mb_report_in *in, mb_report **out);

/* Adds a peers file (reports/peers.h) to draw beside the rows: the figure "peers" and report.md's
 * "Beside the peers" table. Errors are mb_peers_load's. */
mb_status mb_report_peers(mb_ctx *ctx, mb_report *rep, const char *path);

/* Writes into `dir` (created with its parents): for each figure that has data NAME.dat (and
 * pareto_frontier.dat) and NAME.gp, rendered to NAME.png and NAME.svg by `gnuplot NAME.gp` run in
 * `dir`; then report.md and index.html. MB_ENOTFOUND when gnuplot is not on PATH (checked before
 * anything is written); MB_EIO when a file cannot be written or gnuplot fails. */
mb_status mb_report_write(mb_ctx *ctx, mb_report *rep, const char *dir);

/* The figures the last mb_report_write drew, in order ("memory", "time", ...); returns how many. */
int mb_report_figures(const mb_report *rep, const char **names, int max);
/* Lines worth telling the user (inputs without steps.csv, figures left out and why); "" if none. */
const char *mb_report_notes(const mb_report *rep);
/* One line per method stack that saves no memory against its baseline (tracked peak at or above
 * the baseline's), worded as `membench run` warns; "" if none. Set by mb_report_load. */
const char *mb_report_warnings(const mb_report *rep);
void mb_report_free(mb_report *rep);

#endif
