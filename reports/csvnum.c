/* reports/csvnum.c — the numeric columns of results.csv and steps.csv by name, and the check that
 * every cell of them is empty or a number of the column's kind. */
#include "csvnum.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct named_kind {
    const char *name;
    mb_num_kind kind;
} named_kind;

/* Every byte count ends in "_bytes" (tracked_peak_bytes, peak_<category>_bytes, pred_...,
 * phase_..., tracked_bytes); these are the other numbers harness/results.c writes. */
static const named_kind results_nums[] = {
    {.name = "schema_version", .kind = MB_NUM_INT},
    {.name = "batch_size", .kind = MB_NUM_INT},
    {.name = "seq_len", .kind = MB_NUM_INT},
    {.name = "repeat", .kind = MB_NUM_INT},
    {.name = "seed", .kind = MB_NUM_INT},
    {.name = "steps", .kind = MB_NUM_INT},
    {.name = "warmup_steps", .kind = MB_NUM_INT},
    {.name = "timed_steps", .kind = MB_NUM_INT},
    {.name = "git_dirty", .kind = MB_NUM_INT},
    {.name = "step_ms_median", .kind = MB_NUM_REAL},
    {.name = "step_ms_p10", .kind = MB_NUM_REAL},
    {.name = "step_ms_p90", .kind = MB_NUM_REAL},
    {.name = "tokens_per_s", .kind = MB_NUM_REAL},
    {.name = "mfu", .kind = MB_NUM_REAL},
    {.name = "metric_value", .kind = MB_NUM_REAL},
    {.name = "metric_stderr", .kind = MB_NUM_REAL},
    {.name = "final_train_loss", .kind = MB_NUM_REAL},
    {.name = "wall_s", .kind = MB_NUM_REAL},
    {.name = "threads", .kind = MB_NUM_INT},
    {.name = "baseline", .kind = MB_NUM_INT},
};

static const named_kind steps_nums[] = {
    {.name = "repeat", .kind = MB_NUM_INT},   {.name = "step", .kind = MB_NUM_INT},
    {.name = "loss", .kind = MB_NUM_REAL},    {.name = "lr", .kind = MB_NUM_REAL},
    {.name = "step_ms", .kind = MB_NUM_REAL},
};

static mb_num_kind lookup(const named_kind *v, size_t n, const char *col) {
    size_t len = strlen(col);
    if (len > 6 && !strcmp(col + len - 6, "_bytes")) return MB_NUM_BYTES;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, col)) return v[i].kind;
    return MB_NUM_NONE;
}

mb_num_kind mb_results_num_kind(const char *col) {
    return lookup(results_nums, sizeof results_nums / sizeof *results_nums, col);
}

mb_num_kind mb_steps_num_kind(const char *col) {
    return lookup(steps_nums, sizeof steps_nums / sizeof *steps_nums, col);
}

/* Whether non-empty s is a number of `kind`. strtod and strtoll skip leading blanks and take a
 * leading '+': neither is what the writer writes, so both are refused here. */
static int is_number(const char *s, mb_num_kind kind) {
    if (isspace((unsigned char)s[0]) || s[0] == '+') return 0;
    char *end;
    errno = 0;
    if (kind == MB_NUM_REAL) {
        double v = strtod(s, &end);
        return end != s && !*end && v == v; /* NaN is written as an empty cell */
    }
    if (s[0] == '-') {
        if (kind == MB_NUM_BYTES) return 0;
        (void)strtoll(s, &end, 10);
    } else {
        (void)strtoull(s, &end, 10);
    }
    if (end == s || *end || errno) return 0;
    for (const char *p = s[0] == '-' ? s + 1 : s; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    return kind != MB_NUM_BYTES || strtoull(s, NULL, 10) <= (unsigned long long)INT64_MAX;
}

mb_status mb_table_check_numbers(mb_ctx *ctx, const mb_table *t,
                                 mb_num_kind (*kind_of)(const char *col)) {
    mb_num_kind *kind = calloc((size_t)t->ncols + 1, sizeof *kind);
    if (!kind) return mb_error(ctx, MB_ENOMEM, "host allocation");
    for (int c = 0; c < t->ncols; c++) kind[c] = kind_of(t->cols[c]);
    mb_status s = MB_OK;
    for (int r = 0; r < t->nrows && s == MB_OK; r++)
        for (int c = 0; c < t->ncols && s == MB_OK; c++) {
            const char *v = t->rows[r][c];
            if (kind[c] == MB_NUM_NONE || !*v || is_number(v, kind[c])) continue;
            s = mb_error(ctx, MB_EFORMAT, "%s:%d: %s: expected %s, found '%.80s'", t->path,
                         t->lines[r], t->cols[c],
                         kind[c] == MB_NUM_BYTES ? "a whole number of bytes"
                         : kind[c] == MB_NUM_INT ? "a whole number"
                                                 : "a number",
                         v);
        }
    free(kind);
    return s;
}
