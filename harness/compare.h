/* harness/compare.h — `membench compare`: matches the cells of two results.csv files and gates
 * memory exactly, time statistically (ratio and Mann-Whitney U), quality and status. */
#ifndef MB_COMPARE_H
#define MB_COMPARE_H

#include <stdint.h>
#include <stdio.h>

#include "../engine/ctx.h"

typedef struct mb_compare_opts {
    /* Memory growth allowed per figure (tracked peak and each category at the peak): the larger of
     * these two, so 0 and 0 means exact. */
    int64_t mem_tol_bytes;
    double mem_tol_frac; /* of the base value: 0.01 = 1% */
    /* Time is a regression when median(new)/median(base) > time_ratio AND the one-sided
     * Mann-Whitney U test (new slower than base) gives p < alpha; past the ratio without that
     * significance the cell is inconclusive. With MB_ROUNDS_MIN_CELLS shared cells or more, the
     * figure is each run's step time over its round's median cell (harness/rounds.h), so a slow
     * phase of the machine cancels; a change of the whole suite is judged on the raw times, and
     * only where the rounds of both files stayed within time_ratio of each other (else
     * inconclusive). */
    double time_ratio;
    double alpha;
    int ignore_time;    /* time is shown but gates nothing */
    double quality_tol; /* relative worsening of the metric's median allowed: 0.01 = 1% */
} mb_compare_opts;

#define MB_COMPARE_TIME_RATIO 1.10
#define MB_COMPARE_ALPHA 0.05
#define MB_COMPARE_QUALITY_TOL 0.01

/* The runs a side `compare` advises for gating time (its messages and --help say this one number):
 * enough that the U test reaches alpha with one run out of order, at least 7. */
int mb_compare_runs_advised(double alpha);

/* The defaults: exact memory, time ratio 1.10, alpha 0.05, quality tolerance 1%. */
void mb_compare_opts_default(mb_compare_opts *o);

/* A cell's verdict, worst last. A "missing" cell (in base only) fails the comparison like a
 * regression; a "new" one (in new only) does not. A "differs" cell ran with another configuration
 * on each side (no config hash in common: other steps, seed, data, ...): it is listed with the
 * fields that differ, not gated, and makes the comparison inconclusive. */
typedef enum mb_verdict {
    MB_VERDICT_OK,
    MB_VERDICT_IMPROVED,
    MB_VERDICT_NEW,
    MB_VERDICT_DIFFERS,
    MB_VERDICT_INCONCLUSIVE,
    MB_VERDICT_MISSING,
    MB_VERDICT_REGRESSION,
} mb_verdict;
const char *mb_verdict_name(mb_verdict v); /* "ok", "improved", ..., "REGRESSION" */

typedef struct mb_compare mb_compare;

typedef struct mb_compare_counts {
    int cells, ok, improved, new_cells, differs, inconclusive, missing, regressions;
    int findings_regression, findings_inconclusive; /* messages, several per cell at most */
} mb_compare_counts;

/* Loads both files (reports/csvtable.h, MB_TABLE_STRICT) and compares them. Errors are input
 * errors, the message naming the file: MB_EIO (cannot open), MB_EFORMAT (the table loader's
 * "FILE:LINE: expected ..." for malformed CSV, a row of the wrong width or a cut-off last row,
 * "FILE:LINE: COLUMN: expected a number, found 'TEXT'" for any row's number column that holds
 * something else (reports/csvnum.h), "FILE: missing column 'NAME' ..." for a required column that
 * is absent, "FILE:LINE: COLUMN: 'TEXT' is not a number" for a gated value out of range),
 * MB_ENOMEM.
 */
mb_status mb_compare_run(mb_ctx *ctx, const char *base_path, const char *new_path,
                         const mb_compare_opts *o, mb_compare **out);

/* Everything the comparison decided; the exit code is a function of it. */
void mb_compare_count(const mb_compare *c, mb_compare_counts *n);
/* The worst verdict over all cells (MB_VERDICT_OK for no cells). */
mb_verdict mb_compare_verdict(const mb_compare *c);

/* The console report: one line per cell, then the findings grouped (regressions, inconclusive,
 * improvements, notes), then a summary line. */
void mb_compare_print(const mb_compare *c, FILE *fp);
/* A Markdown summary for a pull-request comment, written as a new file renamed over `path`
 * (engine/file.h: a symlink there is replaced, never followed). MB_EIO when the file cannot be
 * written, MB_ESTORAGE when the disk is full. */
mb_status mb_compare_write_markdown(mb_ctx *ctx, const mb_compare *c, const char *path);
/* JUnit XML: one testsuite, one testcase per cell; <failure> for a regression or a missing cell,
 * <skipped> for an inconclusive one. Written and failing as mb_compare_write_markdown. */
mb_status mb_compare_write_junit(mb_ctx *ctx, const mb_compare *c, const char *path);

void mb_compare_free(mb_compare *c);

#endif
