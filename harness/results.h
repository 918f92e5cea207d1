/* harness/results.h — results.csv (one row per cell), steps.csv (one row per step) and run.json.
 * Fixed header with schema_version; columns are only ever appended. Rows are flushed as written.
 * They are read back with reports/csvread.h and reports/csvtable.h. */
#ifndef MB_RESULTS_H
#define MB_RESULTS_H

#include <stdint.h>
#include <stdio.h>

#include "../engine/ctx.h"

#define MB_RESULTS_SCHEMA 2 /* 2: the baseline and attention columns */

/* One results.csv row. Strings may be NULL (written empty); doubles that are NaN and integers that
 * are INT64_MIN are written empty (a measurement that does not apply, e.g. MFU or the allocator's
 * reserved bytes on the CPU). */
typedef struct mb_row {
    /* identity */
    const char *suite, *target, *backend, *model, *method_stack, *method_params, *task;
    int64_t batch_size, seq_len;
    const char *precision;
    int64_t repeat; /* 0-based repeat index */
    uint64_t seed;
    /* outcome */
    const char *status; /* ok | oom | error | timeout | invalid | skipped */
    const char *reason; /* empty when ok */
    /* memory, bytes */
    int64_t tracked_peak, reserved_peak, device_peak, runtime_baseline, memory_cap;
    int64_t peak_by_cat[MB_MEM_NCAT]; /* breakdown at the moment of the tracked peak */
    int64_t pred_by_cat[MB_MEM_NCAT]; /* predict_bytes, per category */
    int64_t pred_total;
    int64_t phase_peak[MB_PHASE_N];
    /* time */
    int64_t steps, warmup_steps, timed_steps;
    double step_ms_median, step_ms_p10, step_ms_p90, tokens_per_s, mfu;
    /* quality */
    const char *metric; /* "val_loss" */
    double metric_value, metric_stderr, final_train_loss;
    /* provenance */
    const char *git_sha;
    int git_dirty;
    const char *config_hash; /* SHA-256 hex of the resolved cell */
    const char *device_name, *device_uuid, *driver_version, *cuda_runtime, *cublas_version, *host;
    const char *started_at; /* UTC, ISO 8601 */
    double wall_s;
    /* empty for a plain cell; "trial" for a trial of a search; "max_batch_size" or "max_seq_len"
     * for the row that reports a search's result (its batch_size or seq_len is the answer) */
    const char *search;
    int64_t threads;   /* the OpenMP threads the cell's host work ran on */
    const char *label; /* the cell's label as run, --filter and compare show it (with /rN) */
    int64_t baseline;  /* 1 when the cell's stack is the suite's baseline stack, else 0 */
    /* the attention the cell ran: "flash" (named in its stack, or chosen by attention: auto or
     * flash), "naive" (the engine's), "" when it did not train */
    const char *attention;
} mb_row;

/* Appends rows to `path`, writing the header first when the file is new or empty; an existing
 * file's header must match this build's exactly (else MB_EFORMAT naming the first difference). */
typedef struct mb_results {
    FILE *fp;
    char *path;
} mb_results;
mb_status mb_results_open(mb_ctx *ctx, mb_results *r, const char *path);
mb_status mb_results_write(mb_ctx *ctx, mb_results *r, const mb_row *row); /* writes + fflush */
/* For --resume: when `path` does not end in '\n' (a row torn by a crash or a kill mid-write), cuts
 * it back to the end of its last complete line, so mb_results_open/mb_steps_open accept it again.
 * *dropped: the bytes removed (0 when the file was whole or does not exist). */
mb_status mb_results_drop_partial(mb_ctx *ctx, const char *path, size_t *dropped);
void mb_results_close(mb_results *r);
/* For --resume, before anything is changed: the headers of an existing results.csv and steps.csv
 * are this build's (a file of another tool or schema is refused, untouched). Missing files pass. */
mb_status mb_results_check_existing(mb_ctx *ctx, const char *results_path, const char *steps_path);

/* The header line's column names, in order, NULL-terminated. */
extern const char *const mb_results_columns[];

/* steps.csv: config_hash, repeat, step, phase (train|eval), loss, lr, step_ms, tracked_bytes,
 * peak_bytes. Same open/append/flush rules. */
typedef struct mb_step_row {
    const char *config_hash, *phase;
    int64_t repeat, step;
    double loss, lr, step_ms;
    int64_t tracked_bytes, peak_bytes;
} mb_step_row;
mb_status mb_steps_open(mb_ctx *ctx, mb_results *r, const char *path);
mb_status mb_steps_write(mb_ctx *ctx, mb_results *r, const mb_step_row *row);

#endif
