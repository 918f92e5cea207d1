/* reports/model.h — the report's data model, built once from the results files: rows (the
 * columns it reads), cells (a row's identity without the repeat), groups (the cells a bar chart
 * puts side by side), their labels, and aggregates over a cell's ok rows. */
#ifndef MB_RP_MODEL_H
#define MB_RP_MODEL_H

#include "../engine/ctx.h"
#include "csvtable.h"
#include "peers.h"
#include "report.h"
#include "text.h"

#define MB_RP_MIB 1048576.0

/* Columns the report reads. Text columns come first; MB_RC_TRACKED and after are numbers. */
enum {
    MB_RC_SUITE,
    MB_RC_TARGET,
    MB_RC_MODEL,
    MB_RC_STACK,
    MB_RC_PARAMS,
    MB_RC_TASK,
    MB_RC_BS,
    MB_RC_SEQ,
    MB_RC_PREC,
    MB_RC_SEARCH,
    MB_RC_REPEAT,
    MB_RC_STATUS,
    MB_RC_REASON,
    MB_RC_HASH,
    MB_RC_METRIC_NAME,
    MB_RC_LABEL,    /* the run's label (with /rN); absent from files written before it */
    MB_RC_BASELINE, /* "1" on the suite's declared baseline stack; absent from older files */
    MB_RC_TRACKED,
    MB_RC_PRED,
    MB_RC_MED,
    MB_RC_P10,
    MB_RC_P90,
    MB_RC_TPS,
    MB_RC_METRIC,
    MB_RC_BSNUM,
    MB_RC_PEAK, /* MB_RC_PEAK + k: peak_<category k>_bytes */
    MB_RC_N = MB_RC_PEAK + MB_MEM_NCAT
};
#define MB_RC_N_IDENTITY (MB_RC_SEARCH + 1) /* a cell is these columns; repeats share them */
#define MB_RC_N_TEXT MB_RC_TRACKED

/* What a cell is, from its `search` column. */
enum { MB_RK_PLAIN, MB_RK_MAXBATCH, MB_RK_SEARCH_OTHER, MB_RK_TRIAL };

typedef struct mb_rp_row {
    int file, line, cell;
    int run; /* the input it belongs to when inputs are compared side by side; else 0 */
    unsigned long long idh;      /* hash of the identity columns: most comparisons stop there */
    const char *s[MB_RC_N_TEXT]; /* text (points into the loaded table) */
    double v[MB_RC_N - MB_RC_TRACKED]; /* numbers; NaN when empty */
    char *label;                       /* the cell's label plus /rREPEAT */
} mb_rp_row;
#define MB_RP_NUM(row, c) ((row)->v[(c)-MB_RC_TRACKED])

/* Group dimensions; a bar chart puts cells of one group side by side. */
enum {
    MB_RG_RUN, /* the input's name, side by side; "" when the inputs are one run */
    MB_RG_MODEL,
    MB_RG_TARGET,
    MB_RG_BS,
    MB_RG_SEQ,
    MB_RG_PREC,
    MB_RG_TASK,
    MB_RG_SUITE,
    MB_RG_N
};

typedef struct mb_rp_cell {
    int kind, group;
    int *rows, n; /* every row of this identity (any status), in input order */
    char *method; /* method_stack plus the parameters that tell it apart from same-named stacks */
    char *label;  /* [suite:]target/model/method/bs=B/seq=T/precision[ [search]] */
} mb_rp_cell;

typedef struct mb_rp_group {
    int kind, has_ok;
    const char *d[MB_RG_N];
    char *label; /* the dimensions that vary between groups of its kind, "" when only one group */
} mb_rp_group;

typedef struct mb_rp_steps_cols {
    int hash, phase, step, loss;
} mb_rp_steps_cols;

/* A figure drawn by the last mb_report_write, as report.md and index.html show it. */
typedef struct mb_rp_fig {
    const char *name;
    char caption[256];
    int frontier; /* writes pareto_frontier.dat too */
} mb_rp_fig;

#define MB_RP_MAX_FIGS 8

typedef struct mb_rp_summary mb_rp_summary; /* summary.h */

struct mb_report {
    mb_table *res, *steps;
    int nres, nsteps;
    mb_rp_steps_cols *scols;
    mb_rp_row *rows;
    int nrows;
    mb_rp_cell *cells;
    int ncells;
    mb_rp_group *groups;
    int ngroups;
    int many_suites, many_tasks;
    int nruns;          /* 1, or one per results file side by side */
    char **run_names;   /* nruns names ("" for a single run), shown as column groups and prefixes */
    mb_rp_summary *sum; /* the summary table's numbers (summary.h) */
    mb_text warnings;   /* one line per stack that saves no memory against its baseline */
    mb_text notes;
    mb_rp_fig figs[MB_RP_MAX_FIGS];
    int nfigs;
    double *scratch; /* 3 x nrows, for the medians over a cell's repeats */
    mb_peer *peers;  /* --peers: other tools' published figures */
    int npeers;
    char *peers_path;
};

/* Appends the rows of results table R->res[fi]. MB_EFORMAT when a column the report reads is
 * missing ("FILE: missing column 'NAME' ..."). */
mb_status mb_rp_add_results(mb_ctx *ctx, mb_report *R, int fi);
/* Loads `path` as R->steps[R->nsteps] (room is the caller's) and finds its columns. */
mb_status mb_rp_load_steps(mb_ctx *ctx, mb_report *R, const char *path);
/* Groups the rows into cells and groups and labels them; once, after the last rows are added and
 * R->nruns and R->run_names are set (a row's run is its file when nruns > 1). */
mb_status mb_rp_build(mb_ctx *ctx, mb_report *R);

int mb_rp_is_ok(const mb_rp_row *r);

/* Aggregates over a cell's ok rows (repeats). */
typedef struct mb_rp_agg {
    int nok;
    double peak_mib;   /* largest tracked peak: the memory a run of this cell needs */
    int peak_row;      /* the row with that peak and the whole breakdown, -1 if none */
    double pred_mib;   /* predicted total (deterministic, so the first one) */
    double ms, lo, hi; /* median of the medians, lowest p10, highest p90 (rows with all three) */
    double tps, metric, bs_min;
} mb_rp_agg;
mb_rp_agg mb_rp_aggregate(const mb_report *R, const mb_rp_cell *cl);

#endif
