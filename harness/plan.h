/* harness/plan.h — a suite expanded into cells: target x model x method stack x matrix values x
 * repeat, each with a canonical description and its SHA-256 (the config hash). */
#ifndef MB_PLAN_H
#define MB_PLAN_H

#include "suite.h"

typedef struct mb_cell {
    int index;
    const mb_target_cfg *target;
    const mb_model_cfg *model;
    const mb_stack_cfg *stack;
    int batch_size, seq_len; /* seq_len resolved: task.seq_len or the model's; 0 for the dimension
                              * a search cell looks for */
    mb_search_kind search;   /* not NONE: this cell is a search (on the suite's search target) whose
                              * trials the runner runs and whose answer is its result row */
    int trial_steps;         /* > 0: a trial of a search, trained this many steps, not evaluated */
    const char *row_search;  /* the results' `search` column: "", "trial", "max_batch_size", ... */
    mb_precision precision;
    int repeat;
    uint64_t seed;   /* suite seed + repeat: repeats are independent runs */
    char label[256]; /* target/model/stack/bs=B/seq=T/precision/rN, for --filter and logs */
    char *config;    /* canonical resolved description (what the hash covers) */
    char *params;    /* "adamw.lr=0.0003;adamw.beta1=0.9;..." */
    char hash[65];
} mb_cell;

typedef struct mb_plan {
    int n;
    mb_cell *cells;
} mb_plan;

/* --filter, given once or more: a cell is kept when any pattern matches its label. */
#define MB_MAX_FILTERS 16
typedef struct mb_filter {
    int n;
    const char *pat[MB_MAX_FILTERS];
} mb_filter;
int mb_filter_matches(const mb_filter *f, const char *label);

/* Expands the suite; `filter` (NULL or no pattern = all) keeps a subset. */
mb_status mb_plan_build(mb_ctx *ctx, const mb_suite *s, const mb_filter *filter, mb_plan *out);
void mb_plan_free(mb_plan *p);
/* --filter: `pattern` (fnmatch) matches the label, or the label without its "/rN" (the cell as
 * compare and report name it, so a name pasted from them selects every repeat of that cell). */
int mb_plan_label_matches(const char *pattern, const char *label);

#endif
