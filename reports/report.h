/* reports/report.h — `membench report`: figures (a data file and a gnuplot script kept per
 * figure, rendered to PNG and SVG by gnuplot), report.md and index.html from results.csv files. */
#ifndef MB_REPORT_H
#define MB_REPORT_H

#include "../engine/ctx.h"

typedef struct mb_report mb_report;

/* Reads the results files and the steps files: `steps` when nsteps > 0, else the steps.csv beside
 * each results file where there is one. Errors are input errors: MB_EIO or MB_EFORMAT with the
 * table loader's "FILE:LINE: expected ..." message (MB_TABLE_STRICT: a malformed or cut-off file
 * is refused whole), "FILE:LINE: COLUMN: expected a number, found '...'" (reports/csvnum.h), or
 * "FILE: missing column 'NAME' ..." (MB_EFORMAT). */
mb_status mb_report_load(mb_ctx *ctx, const char *const *results, int nresults,
                         const char *const *steps, int nsteps, mb_report **out);

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
void mb_report_free(mb_report *rep);

#endif
