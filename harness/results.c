/* harness/results.c — results.csv and steps.csv: a fixed header checked on append (read back with
 * reports/csvread.h), one flushed row per call (strings quoted by libcsv, numbers bare). */
#include "results.h"

#include "../engine/file.h"
#include "../engine/fmt.h"
#include "../reports/csvread.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The names are literals so the table is a constant; test_results checks them against
 * mb_mem_cat_name/mb_phase_name. A new category or phase inserts columns mid-row, which breaks the
 * append-only rule: it needs a new MB_RESULTS_SCHEMA as well as new names here. */
_Static_assert(MB_MEM_NCAT == 8 && MB_PHASE_N == 7,
               "mb_results_columns has 8 categories and 7 phases: update it and MB_RESULTS_SCHEMA");

const char *const mb_results_columns[] = {
    "schema_version",
    "suite",
    "target",
    "backend",
    "model",
    "method_stack",
    "method_params",
    "task",
    "batch_size",
    "seq_len",
    "precision",
    "repeat",
    "seed",
    "status",
    "reason",
    "tracked_peak_bytes",
    "reserved_peak_bytes",
    "device_peak_bytes",
    "runtime_baseline_bytes",
    "memory_cap_bytes",
    /* breakdown at the tracked peak, per mb_mem_cat */
    "peak_weights_bytes",
    "peak_grads_bytes",
    "peak_optimizer_bytes",
    "peak_activations_bytes",
    "peak_kv_cache_bytes",
    "peak_workspace_bytes",
    "peak_comm_bytes",
    "peak_other_bytes",
    /* predict_bytes, per mb_mem_cat */
    "pred_weights_bytes",
    "pred_grads_bytes",
    "pred_optimizer_bytes",
    "pred_activations_bytes",
    "pred_kv_cache_bytes",
    "pred_workspace_bytes",
    "pred_comm_bytes",
    "pred_other_bytes",
    "pred_total_bytes",
    /* per mb_phase */
    "phase_load_peak_bytes",
    "phase_forward_peak_bytes",
    "phase_backward_peak_bytes",
    "phase_optimizer_peak_bytes",
    "phase_eval_peak_bytes",
    "phase_prefill_peak_bytes",
    "phase_decode_peak_bytes",
    "steps",
    "warmup_steps",
    "timed_steps",
    "step_ms_median",
    "step_ms_p10",
    "step_ms_p90",
    "tokens_per_s",
    "mfu",
    "metric",
    "metric_value",
    "metric_stderr",
    "final_train_loss",
    "git_sha",
    "git_dirty",
    "config_hash",
    "device_name",
    "device_uuid",
    "driver_version",
    "cuda_runtime",
    "cublas_version",
    "host",
    "started_at",
    "wall_s",
    "search",
    "threads",
    "label",
    "baseline",
    "attention",
    NULL,
};

static const char *const mb_steps_columns[] = {
    "config_hash", "repeat",  "step",          "phase",      "loss",
    "lr",          "step_ms", "tracked_bytes", "peak_bytes", NULL,
};

/* ---------------------------------------------------------------------------------------------
 * Writing */

/* Writes one row field by field; the first failure's errno is kept for the message. */
typedef struct rowout {
    FILE *fp;
    int nfields;
    int bad, err_no;
} rowout;

static void out_raw(rowout *o, const char *s) {
    if (o->bad) return;
    if ((o->nfields++ && fputc(',', o->fp) == EOF) || fputs(s, o->fp) == EOF) {
        o->bad = 1;
        o->err_no = errno;
    }
}

/* Strings always go through libcsv's quoting so commas, quotes and newlines survive; NULL is "". */
static void out_str(rowout *o, const char *s) {
    if (o->bad) return;
    if (!s) s = "";
    if ((o->nfields++ && fputc(',', o->fp) == EOF) || csv_fwrite(o->fp, s, strlen(s)) != 0) {
        o->bad = 1;
        o->err_no = errno;
    }
}

/* INT64_MIN marks a byte count that does not apply (the CPU has no pool to report as "reserved"):
 * an empty field, like NaN for doubles. */
static void out_i64(rowout *o, int64_t v) {
    char b[32] = "";
    if (v != INT64_MIN) snprintf(b, sizeof b, "%" PRId64, v);
    out_raw(o, b);
}

static void out_u64(rowout *o, uint64_t v) {
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, v);
    out_raw(o, b);
}

/* NaN is an empty field (does not apply); infinities are "inf"/"-inf", which strtod and pandas
 * read back. */
static void out_f64(rowout *o, double v) {
    char b[40] = "";
    if (!isnan(v)) mb_fmt_double(b, sizeof b, v);
    out_raw(o, b);
}

static mb_status out_end(mb_ctx *ctx, rowout *o, const char *path) {
    if (!o->bad && fputc('\n', o->fp) == EOF) {
        o->bad = 1;
        o->err_no = errno;
    }
    /* Flushed per row so a crash loses at most the row in flight (DESIGN.md, Results). */
    if (!o->bad && fflush(o->fp) != 0) {
        o->bad = 1;
        o->err_no = errno;
    }
    if (o->bad)
        return mb_error(ctx, mb_file_errno_is_storage(o->err_no) ? MB_ESTORAGE : MB_EIO,
                        "%s: cannot write: %s", path, strerror(o->err_no));
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Opening */

typedef struct header_cmp {
    const char *const *cols;
    char what[600]; /* how the first differing column differs */
    int col;        /* 1-based first differing column; 0 when the header matches */
    int seen;
} header_cmp;

static int on_header(void *user, int line, int nf, char **f) {
    (void)line;
    header_cmp *h = user;
    h->seen = 1;
    int i = 0;
    for (; h->cols[i] && i < nf; i++)
        if (strcmp(f[i], h->cols[i]) != 0) break;
    if (h->cols[i] || i < nf) {
        h->col = i + 1;
        if (i < nf && h->cols[i])
            snprintf(h->what, sizeof h->what, "file has '%.250s', expected '%s'", f[i], h->cols[i]);
        else if (i < nf) /* a newer build's file: more columns than we know */
            snprintf(h->what, sizeof h->what, "file has '%.250s', expected the header to end",
                     f[i]);
        else /* an older build's file: columns were appended since */
            snprintf(h->what, sizeof h->what, "file's header ends, expected '%s'", h->cols[i]);
    }
    return 1; /* only the first record matters */
}

/* Checks the header of an open, non-empty file that ends in '\n' against `cols`; reads from the
 * start and leaves the position anywhere. */
static mb_status check_header(mb_ctx *ctx, FILE *fp, const char *path, const char *const *cols) {
    rewind(fp);
    header_cmp h = {.cols = cols};
    mb_csv_stop stop;
    MB_TRY(mb_csv_scan(ctx, fp, path, on_header, &h, &stop));
    if (!h.seen) { /* only blank lines */
        h.col = 1;
        snprintf(h.what, sizeof h.what, "file has no header, expected '%s'", cols[0]);
    }
    if (h.col)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: header differs from this build's at column %d: %s (written by "
                        "another schema version? use a new --out folder)",
                        path, h.col, h.what);
    return MB_OK;
}

static mb_status open_csv(mb_ctx *ctx, mb_results *r, const char *path, const char *const *cols) {
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    if (!r->path) return mb_error(ctx, MB_ENOMEM, "%s: no memory for the path", path);
    /* Append mode: every write lands at the end; the '+' lets us read the existing header first.
     * Never through a symbolic link, never into anything but a regular file. */
    FILE *fp = NULL;
    mb_status st = mb_file_append(ctx, path, "a+b", &fp);
    if (st != MB_OK) goto fail;
    long size;
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0) {
        st = mb_error(ctx, MB_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (size > 0) {
        /* Appending after a torn last row would glue the next row onto it: refuse instead. */
        if (fseek(fp, -1, SEEK_END) != 0 || fgetc(fp) != '\n') {
            st = mb_error(ctx, MB_EFORMAT,
                          "%s: the last row is incomplete (an interrupted write?): rerun with "
                          "--resume to drop it, or use a new --out folder",
                          path);
            goto fail;
        }
        st = check_header(ctx, fp, path, cols);
        if (st != MB_OK) goto fail;
        if (fseek(fp, 0, SEEK_END) != 0) { /* C requires a seek between reading and writing */
            st = mb_error(ctx, MB_EIO, "%s: cannot seek: %s", path, strerror(errno));
            goto fail;
        }
    } else {
        /* New or empty file: the header, written bare (the names need no quoting). */
        rowout o = {.fp = fp};
        for (int i = 0; cols[i]; i++) out_raw(&o, cols[i]);
        st = out_end(ctx, &o, path);
        if (st != MB_OK) goto fail;
    }
    r->fp = fp;
    return MB_OK;
fail:
    if (fp) fclose(fp);
    free(r->path);
    r->path = NULL;
    return st;
}

/* The header of an existing results.csv or steps.csv, checked before --resume changes anything in
 * it (a torn last row does not matter here). A missing or empty file passes. */
static mb_status check_existing(mb_ctx *ctx, const char *path, const char *const *cols) {
    FILE *fp = NULL;
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT) return MB_OK;
    if (S_ISLNK(sb.st_mode))
        return mb_error(ctx, MB_EINVAL, "cannot use %s: it is a symbolic link (refused)", path);
    MB_TRY(mb_file_open_read(ctx, path, "results file", 0, &fp, NULL));
    mb_status st = MB_OK;
    int c = fgetc(fp);
    if (c != EOF) st = check_header(ctx, fp, path, cols); /* it rewinds */
    fclose(fp);
    return st;
}

mb_status mb_results_check_existing(mb_ctx *ctx, const char *results_path, const char *steps_path) {
    MB_TRY(check_existing(ctx, results_path, mb_results_columns));
    return check_existing(ctx, steps_path, mb_steps_columns);
}

mb_status mb_results_drop_partial(mb_ctx *ctx, const char *path, size_t *dropped) {
    *dropped = 0;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    FILE *fp = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!fp) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (e == ENOENT) return MB_OK; /* nothing written yet */
        return mb_error(ctx, MB_EIO, "%s: cannot open: %s", path,
                        e == ELOOP ? "it is a symbolic link (refused)" : strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return mb_error(ctx, MB_EIO, "%s: not a regular file", path);
    }
    /* Scan backwards in chunks for the last '\n'; a torn row is at most a few KiB. */
    char buf[4096];
    long size = 0, keep = 0;
    mb_status st = MB_OK;
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0) {
        size = 0;
        st = mb_error(ctx, MB_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    keep = size;
    if (size == 0) goto done;
    for (long end = size; end > 0;) {
        long start = end > (long)sizeof buf ? end - (long)sizeof buf : 0;
        size_t n = (size_t)(end - start);
        if (fseek(fp, start, SEEK_SET) != 0 || fread(buf, 1, n, fp) != n) {
            st = mb_error(ctx, MB_EIO, "%s: cannot read: %s", path, strerror(errno));
            goto done;
        }
        size_t i = n;
        while (i > 0 && buf[i - 1] != '\n') i--;
        if (i > 0 || start == 0) {
            keep = start + (long)i; /* just after the last '\n'; 0 when there is none */
            break;
        }
        end = start;
    }
done:
    if (st == MB_OK && keep != size && ftruncate(fd, (off_t)keep) != 0)
        st = mb_error(ctx, MB_EIO, "%s: cannot truncate: %s", path, strerror(errno));
    fclose(fp);
    if (st != MB_OK || keep == size) return st;
    *dropped = (size_t)(size - keep);
    return MB_OK;
}

mb_status mb_results_open(mb_ctx *ctx, mb_results *r, const char *path) {
    return open_csv(ctx, r, path, mb_results_columns);
}

mb_status mb_steps_open(mb_ctx *ctx, mb_results *r, const char *path) {
    return open_csv(ctx, r, path, mb_steps_columns);
}

void mb_results_close(mb_results *r) {
    if (r->fp) fclose(r->fp); /* every row was flushed and checked already */
    free(r->path);
    r->fp = NULL;
    r->path = NULL;
}

/* The order below must follow mb_results_columns; test_results reads a row back by column name. */
mb_status mb_results_write(mb_ctx *ctx, mb_results *r, const mb_row *row) {
    if (!r->fp) return mb_error(ctx, MB_EINVAL, "results file is not open");
    rowout o = {.fp = r->fp};
    out_i64(&o, MB_RESULTS_SCHEMA);
    out_str(&o, row->suite);
    out_str(&o, row->target);
    out_str(&o, row->backend);
    out_str(&o, row->model);
    out_str(&o, row->method_stack);
    out_str(&o, row->method_params);
    out_str(&o, row->task);
    out_i64(&o, row->batch_size);
    out_i64(&o, row->seq_len);
    out_str(&o, row->precision);
    out_i64(&o, row->repeat);
    out_u64(&o, row->seed);
    out_str(&o, row->status);
    out_str(&o, row->reason);
    out_i64(&o, row->tracked_peak);
    out_i64(&o, row->reserved_peak);
    out_i64(&o, row->device_peak);
    out_i64(&o, row->runtime_baseline);
    out_i64(&o, row->memory_cap);
    for (int c = 0; c < MB_MEM_NCAT; c++) out_i64(&o, row->peak_by_cat[c]);
    for (int c = 0; c < MB_MEM_NCAT; c++) out_i64(&o, row->pred_by_cat[c]);
    out_i64(&o, row->pred_total);
    for (int p = 0; p < MB_PHASE_N; p++) out_i64(&o, row->phase_peak[p]);
    out_i64(&o, row->steps);
    out_i64(&o, row->warmup_steps);
    out_i64(&o, row->timed_steps);
    out_f64(&o, row->step_ms_median);
    out_f64(&o, row->step_ms_p10);
    out_f64(&o, row->step_ms_p90);
    out_f64(&o, row->tokens_per_s);
    out_f64(&o, row->mfu);
    out_str(&o, row->metric);
    out_f64(&o, row->metric_value);
    out_f64(&o, row->metric_stderr);
    out_f64(&o, row->final_train_loss);
    out_str(&o, row->git_sha);
    out_i64(&o, row->git_dirty);
    out_str(&o, row->config_hash);
    out_str(&o, row->device_name);
    out_str(&o, row->device_uuid);
    out_str(&o, row->driver_version);
    out_str(&o, row->cuda_runtime);
    out_str(&o, row->cublas_version);
    out_str(&o, row->host);
    out_str(&o, row->started_at);
    out_f64(&o, row->wall_s);
    out_str(&o, row->search);
    out_i64(&o, row->threads);
    out_str(&o, row->label);
    out_i64(&o, row->baseline);
    out_str(&o, row->attention);
    return out_end(ctx, &o, r->path);
}

mb_status mb_steps_write(mb_ctx *ctx, mb_results *r, const mb_step_row *row) {
    if (!r->fp) return mb_error(ctx, MB_EINVAL, "steps file is not open");
    rowout o = {.fp = r->fp};
    out_str(&o, row->config_hash);
    out_i64(&o, row->repeat);
    out_i64(&o, row->step);
    out_str(&o, row->phase);
    out_f64(&o, row->loss);
    out_f64(&o, row->lr);
    out_f64(&o, row->step_ms);
    out_i64(&o, row->tracked_bytes);
    out_i64(&o, row->peak_bytes);
    return out_end(ctx, &o, r->path);
}
