/* harness/runner.c — the cell loop: set up a context on the target, train, evaluate, measure, write. */
#include "runner.h"

#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../engine/train.h"
#include "json.h"
#include "table.h"

#define UNSET INT64_MIN /* a measurement that does not apply: written as an empty field */

extern const mb_method mb_method_adamw; /* the implicit optimizer */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mb_quantile(double *v, int n, double q) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

static mb_status mkdirs(mb_ctx *ctx, const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return mb_error(ctx, MB_EIO, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return mb_error(ctx, MB_EIO, "cannot create %s: %s", buf, strerror(errno));
    return MB_OK;
}

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* run.json: the resolved suite, the environment and the planned cells; rewritten atomically. */
static mb_status write_run_json(mb_ctx *ctx, const mb_runner *r, int complete) {
    char path[4096], tmp[4200], now[32];
    snprintf(path, sizeof path, "%s/run.json", r->out_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) return mb_error(ctx, MB_EIO, "cannot write %s: %s", tmp, strerror(errno));
    const mb_suite *s = r->suite;
    const mb_env *e = &r->env;
    mb_json j;
    mb_json_begin(&j, fp);
    mb_json_int(&j, "schema_version", MB_RESULTS_SCHEMA);
    utc_now(now, sizeof now);
    mb_json_str(&j, complete ? "finished_at" : "written_at", now);
    mb_json_bool(&j, "complete", complete);
    mb_json_bool(&j, "interrupted", r->interrupted != 0);
    if (r->interrupted)
        mb_json_str(&j, "signal", r->interrupted == SIGTERM ? "SIGTERM"
                                  : r->interrupted == SIGINT ? "SIGINT"
                                                             : "signal");
    mb_json_int(&j, "resumed_cells", r->nskipped);
    mb_json_key_obj(&j, "suite");
    mb_json_str(&j, "name", s->name);
    mb_json_str(&j, "path", s->path);
    mb_json_int(&j, "seed", (int64_t)s->seed);
    mb_json_int(&j, "repeat", s->repeat);
    mb_json_int(&j, "steps", s->steps);
    mb_json_int(&j, "warmup_steps", s->warmup_steps);
    mb_json_int(&j, "eval_every", s->eval_every);
    mb_json_int(&j, "eval_batches", s->eval_batches);
    mb_json_str(&j, "data", r->data_ok ? r->data.desc : r->data_err);
    mb_json_close(&j);
    mb_json_key_obj(&j, "environment");
    mb_json_str(&j, "version", e->version);
    mb_json_str(&j, "git_sha", e->git_sha);
    mb_json_int(&j, "git_dirty", e->git_dirty);
    mb_json_str(&j, "compiler", e->compiler);
    mb_json_str(&j, "build_type", e->build_type);
    mb_json_str(&j, "host", e->host);
    mb_json_str(&j, "os", e->os);
    mb_json_str(&j, "cpu", e->cpu);
    mb_json_int(&j, "cpus", e->cpus);
    mb_json_int(&j, "omp_threads", e->omp_threads);
    mb_json_close(&j);
    mb_json_key_arr(&j, "cells");
    for (int i = 0; i < r->plan->n; i++) {
        const mb_cell *c = &r->plan->cells[i];
        mb_json_obj(&j);
        mb_json_int(&j, "index", c->index);
        mb_json_str(&j, "label", c->label);
        mb_json_str(&j, "config_hash", c->hash);
        mb_json_str(&j, "config", c->config);
        if (r->summary && r->summary[i].status[0]) mb_json_str(&j, "status", r->summary[i].status);
        mb_json_close(&j);
    }
    mb_json_close(&j);
    mb_json_end(&j);
    int bad = j.err || ferror(fp);
    if (fclose(fp) != 0 || bad) {
        remove(tmp);
        return mb_error(ctx, MB_EIO, "cannot write %s", tmp);
    }
    if (rename(tmp, path) != 0)
        return mb_error(ctx, MB_EIO, "cannot rename %s: %s", tmp, strerror(errno));
    return MB_OK;
}

/* The summary line of a cell from its results.csv row (a resumed run prints every cell). */
static void summary_from_row(mb_cell_summary *sm, const mb_table *t, int row) {
    snprintf(sm->status, sizeof sm->status, "%s", mb_table_get(t, row, mb_table_col(t, "status")));
    sm->peak_bytes = mb_table_num(t, row, mb_table_col(t, "tracked_peak_bytes"));
    sm->step_ms = mb_table_num(t, row, mb_table_col(t, "step_ms_median"));
    sm->p10 = mb_table_num(t, row, mb_table_col(t, "step_ms_p10"));
    sm->p90 = mb_table_num(t, row, mb_table_col(t, "step_ms_p90"));
    sm->tokens_per_s = mb_table_num(t, row, mb_table_col(t, "tokens_per_s"));
    sm->val_loss = mb_table_num(t, row, mb_table_col(t, "metric_value"));
    if (isnan(sm->peak_bytes)) sm->peak_bytes = 0;
}

static int has_hash(const mb_table *t, int col, const char *hash, size_t n) {
    for (int i = 0; i < t->nrows; i++) {
        const char *h = mb_table_get(t, i, col);
        if (strlen(h) == n && !memcmp(h, hash, n)) return 1;
    }
    return 0;
}

/* Keeps steps.csv's header and the rows whose config hash has a results.csv row; rewritten
 * through a temporary file and rename so a crash here leaves the old file. Steps rows are one line
 * each (the hash is hex, the phase a word, the rest numbers), so they are filtered line by line. */
static mb_status keep_steps_of(mb_ctx *ctx, mb_runner *r, const char *path, const mb_table *t,
                               int col) {
    FILE *in = fopen(path, "rb");
    if (!in) return MB_OK; /* none yet */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return mb_error(ctx, MB_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int bad = 0;
    while ((n = getline(&line, &cap, in)) > 0) {
        int keep = lineno++ == 0; /* the header */
        if (!keep) {
            const char *h = line + (line[0] == '"');
            size_t len = strcspn(h, "\",\r\n");
            keep = has_hash(t, col, h, len);
        }
        if (keep) bad |= fwrite(line, 1, (size_t)n, out) != (size_t)n;
        else r->dropped_step_rows++;
    }
    bad |= ferror(in);
    free(line);
    fclose(in);
    if (fclose(out) != 0 || bad) {
        remove(tmp);
        return mb_error(ctx, MB_EIO, "cannot rewrite %s", path);
    }
    if (rename(tmp, path) != 0)
        return mb_error(ctx, MB_EIO, "cannot rename %s: %s", tmp, strerror(errno));
    return MB_OK;
}

static mb_status prepare_resume(mb_ctx *ctx, mb_runner *r) {
    char res[4096], steps[4096];
    snprintf(res, sizeof res, "%s/results.csv", r->out_dir);
    snprintf(steps, sizeof steps, "%s/steps.csv", r->out_dir);
    MB_TRY(mb_results_drop_partial(ctx, res, &r->dropped_results));
    MB_TRY(mb_results_drop_partial(ctx, steps, &r->dropped_steps));
    struct stat sb;
    if (stat(res, &sb) != 0 || sb.st_size == 0) return MB_OK; /* nothing to resume from */
    mb_table t;
    MB_TRY(mb_table_load(ctx, res, &t));
    int col = mb_table_col(&t, "config_hash");
    mb_status st = MB_OK;
    if (col < 0) st = mb_error(ctx, MB_EFORMAT, "%s: no config_hash column to resume from", res);
    for (int i = 0; st == MB_OK && i < r->plan->n; i++) {
        const char *h = r->plan->cells[i].hash;
        for (int k = 0; k < t.nrows && !r->done[i]; k++) {
            if (strcmp(mb_table_get(&t, k, col), h)) continue;
            r->done[i] = 1;
            r->nskipped++;
            summary_from_row(&r->summary[i], &t, k);
            if (!strcmp(r->summary[i].status, "error")) r->nerror++;
        }
    }
    if (st == MB_OK) st = keep_steps_of(ctx, r, steps, &t, col);
    mb_table_free(&t);
    return st;
}

mb_status mb_runner_open(mb_ctx *ctx, mb_runner *r, const mb_suite *s, const mb_plan *p,
                         const char *out_dir, int quiet, int resume) {
    memset(r, 0, sizeof *r);
    r->suite = s;
    r->plan = p;
    mb_env_read(&r->env);
    r->out_dir = strdup(out_dir);
    r->summary = calloc((size_t)(p->n ? p->n : 1), sizeof *r->summary);
    r->done = calloc((size_t)(p->n ? p->n : 1), 1);
    if (!r->out_dir || !r->summary || !r->done)
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    /* The data set is shared by every cell: a suite whose data cannot load is invalid input. */
    mb_status ds;
    if (s->data.kind == MB_DATA_FILE)
        ds = mb_data_text_file(ctx, &r->data, s->data.path, s->data.val_fraction);
    else
        ds = mb_data_synthetic(ctx, &r->data, s->data.vocab, 4, (size_t)1 << 18, s->seed,
                               s->data.val_fraction);
    if (ds != MB_OK) return mb_error_prefix(ctx, ds, "%s: data", s->path);
    r->data_ok = 1;
    MB_TRY(mkdirs(ctx, out_dir));
    if (resume) MB_TRY(prepare_resume(ctx, r));
    char path[4096];
    snprintf(path, sizeof path, "%s/results.csv", out_dir);
    MB_TRY(mb_results_open(ctx, &r->results, path));
    snprintf(path, sizeof path, "%s/steps.csv", out_dir);
    MB_TRY(mb_steps_open(ctx, &r->steps, path));
    MB_TRY(write_run_json(ctx, r, 0));
    mb_progress_init(&r->progress, p->n - r->nskipped, quiet);
    return MB_OK;
}

void mb_runner_close(mb_runner *r) {
    mb_results_close(&r->results);
    mb_results_close(&r->steps);
    mb_data_free(&r->data);
    free(r->summary);
    free(r->done);
    free(r->out_dir);
    memset(r, 0, sizeof *r);
}

/* The learning rate the stack's optimizer declares, for steps.csv (NaN when none declares one). */
static double stack_lr(const mb_train *tr) {
    for (int i = 0; i < tr->n; i++) {
        int k = mb_method_param_index(tr->methods[i], "lr");
        if (k >= 0 && (tr->methods[i]->optimizer_step || tr->methods[i]->train_step))
            return tr->vals[i][k].num;
    }
    return NAN;
}

/* Mean validation loss over the suite's eval batches (fixed batch indices, so evals compare). */
static mb_status evaluate(mb_train *tr, const mb_runner *r, const mb_cell *c, double *mean,
                          double *stderr_out) {
    int B = c->batch_size, T = c->seq_len, n = r->suite->eval_batches;
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    double sum = 0, sq = 0;
    mb_status s = (x && y) ? MB_OK : mb_error(tr->ctx, MB_ENOMEM, "host batch");
    for (int k = 0; k < n && s == MB_OK; k++) {
        double l = 0;
        s = mb_data_batch(tr->ctx, &r->data, MB_SPLIT_VAL, c->seed, (uint64_t)k, B, T, x, y);
        if (s == MB_OK) s = mb_train_eval(tr, x, y, B, T, &l);
        sum += l;
        sq += l * l;
    }
    free(x);
    free(y);
    if (s != MB_OK) return s;
    *mean = sum / n;
    double var = n > 1 ? (sq - sum * sum / n) / (n - 1) : 0;
    *stderr_out = n > 1 ? sqrt(var > 0 ? var : 0) / sqrt((double)n) : NAN;
    return MB_OK;
}

typedef struct cell_run {
    mb_row row;
    double *ms;
    int nms;
    double final_loss, val, val_se;
} cell_run;

/* Trains and measures one cell in `ctx`; the row's status is decided by the caller. */
static mb_status train_cell(mb_ctx *ctx, mb_runner *r, const mb_cell *c, cell_run *cr) {
    const mb_suite *s = r->suite;
    mb_gpt model;
    mb_train tr;
    memset(&model, 0, sizeof model);
    memset(&tr, 0, sizeof tr);
    int B = c->batch_size, T = c->seq_len;
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    cr->ms = calloc((size_t)s->steps, sizeof *cr->ms);
    mb_status st = (x && y && cr->ms) ? MB_OK : mb_error(ctx, MB_ENOMEM, "host batch");
    mb_mem_set_phase(&ctx->mem, MB_PHASE_LOAD);
    if (st == MB_OK) st = mb_gpt_create(ctx, &c->model->shape, &model);
    if (st == MB_OK) st = mb_gpt_init_weights(ctx, &model, c->seed);
    const mb_method *ms[MB_MAX_STACK];
    const mb_pvalue *vs[MB_MAX_STACK];
    for (int i = 0; i < c->stack->n && i < MB_MAX_STACK; i++) {
        ms[i] = c->stack->items[i].method;
        vs[i] = c->stack->items[i].vals;
    }
    if (st == MB_OK)
        st = mb_train_init(&tr, ctx, &model, ms, vs, c->stack->n, &mb_method_adamw, c->seed);
    if (st == MB_OK) {
        mb_predict pred;
        mb_train_predict(&tr, B, T, &pred);
        cr->row.pred_total = 0;
        for (int k = 0; k < MB_MEM_NCAT; k++) {
            cr->row.pred_by_cat[k] = pred.bytes[k];
            cr->row.pred_total += pred.bytes[k];
        }
    }
    double lr = st == MB_OK ? stack_lr(&tr) : NAN;
    for (int step = 0; step < s->steps && st == MB_OK; step++) {
        if (r->stop) { /* checked per step so a long cell stops promptly */
            st = mb_error(ctx, MB_EINTERRUPTED, "interrupted at step %d", step);
            break;
        }
        mb_progress_step(&r->progress, c->label, step, s->steps);
        st = mb_data_batch(ctx, &r->data, MB_SPLIT_TRAIN, c->seed, (uint64_t)step, B, T, x, y);
        if (st != MB_OK) break;
        double t0 = mb_now(), loss = 0;
        st = mb_train_step(&tr, x, y, B, T, &loss);
        double dt = (mb_now() - t0) * 1e3;
        if (st != MB_OK) break;
        if (!isfinite(loss)) {
            st = mb_error(ctx, MB_EINVAL, "training diverged: the loss is %g at step %d", loss,
                          step);
            break;
        }
        if (step >= s->warmup_steps) cr->ms[cr->nms++] = dt;
        cr->final_loss = loss;
        mb_step_row sr = {c->hash, "train", c->repeat, step, loss, lr, dt,
                          (int64_t)ctx->mem.cur_total, (int64_t)ctx->mem.peak_total};
        mb_status ws = mb_steps_write(ctx, &r->steps, &sr);
        if (ws != MB_OK) {
            st = ws;
            break;
        }
        int last = step + 1 == s->steps;
        if (last || (s->eval_every > 0 && (step + 1) % s->eval_every == 0)) {
            st = evaluate(&tr, r, c, &cr->val, &cr->val_se);
            if (st != MB_OK) break;
            mb_step_row er = {c->hash, "eval", c->repeat, step, cr->val, lr, NAN,
                              (int64_t)ctx->mem.cur_total, (int64_t)ctx->mem.peak_total};
            st = mb_steps_write(ctx, &r->steps, &er);
        }
    }
    mb_progress_step(&r->progress, c->label, s->steps, s->steps);
    mb_train_fini(&tr);
    mb_gpt_destroy(ctx, &model);
    free(x);
    free(y);
    return st;
}

static const mb_backend *cell_backend(const mb_cell *c, char *why, size_t n) {
    if (c->target->backend == MB_TARGET_CUDA) {
        snprintf(why, n, "target %s asks for the cuda backend, which this build does not have",
                 c->target->name);
        return NULL;
    }
    if (c->precision == MB_PREC_FP32) return &mb_backend_cpu_f32;
    if (c->precision == MB_PREC_FP64) return &mb_backend_cpu_f64;
    snprintf(why, n, "precision %s needs the cuda backend; the cpu backend runs fp32 and fp64",
             mb_precision_name(c->precision));
    return NULL;
}

static void fill_identity(const mb_runner *r, const mb_cell *c, mb_row *row, char *started) {
    row->suite = r->suite->name;
    row->target = c->target->name;
    row->backend = c->target->backend == MB_TARGET_CUDA ? "cuda" : "cpu";
    row->model = c->model->name;
    row->method_stack = c->stack->label;
    row->method_params = c->params;
    row->task = "train";
    row->batch_size = c->batch_size;
    row->seq_len = c->seq_len;
    row->precision = mb_precision_name(c->precision);
    row->repeat = c->repeat;
    row->seed = c->seed;
    row->steps = r->suite->steps;
    row->warmup_steps = r->suite->warmup_steps;
    row->memory_cap = (int64_t)c->target->memory_cap;
    row->git_sha = r->env.git_sha;
    row->git_dirty = r->env.git_dirty;
    row->config_hash = c->hash;
    row->device_name = c->target->backend == MB_TARGET_CPU ? r->env.cpu : NULL;
    row->host = r->env.host;
    row->started_at = started;
    row->reserved_peak = row->device_peak = UNSET;
    row->tracked_peak = row->runtime_baseline = 0;
    row->step_ms_median = row->step_ms_p10 = row->step_ms_p90 = row->tokens_per_s = row->mfu = NAN;
    row->metric = "val_loss";
    row->metric_value = row->metric_stderr = row->final_train_loss = NAN;
    for (int k = 0; k < MB_MEM_NCAT; k++) row->pred_by_cat[k] = UNSET;
    row->pred_total = UNSET;
}

/* Returns MB_EINTERRUPTED when `stop` cut the cell short (no row is written then). */
static mb_status run_one(mb_runner *r, const mb_cell *c, cell_run *cr, char *reason,
                         size_t nreason) {
    mb_row *row = &cr->row;
    char why[512] = "";
    const mb_backend *be = cell_backend(c, why, sizeof why);
    const mb_gpt_config *g = &c->model->shape;
    if (!be) {
        row->status = c->target->backend == MB_TARGET_CUDA ? "skipped" : "invalid";
        snprintf(reason, nreason, "%s", why);
        return MB_OK;
    }
    if (c->seq_len > g->seq_len) {
        row->status = "invalid";
        snprintf(reason, nreason, "seq_len %d is longer than model %s's block of %d", c->seq_len,
                 c->model->name, g->seq_len);
        return MB_OK;
    }
    if (!r->data_ok) {
        row->status = "error";
        snprintf(reason, nreason, "data: %s", r->data_err);
        return MB_OK;
    }
    if (r->data.vocab > g->vocab) {
        row->status = "invalid";
        snprintf(reason, nreason, "the data's vocabulary (%d) is larger than model %s's (%d)",
                 r->data.vocab, c->model->name, g->vocab);
        return MB_OK;
    }
    mb_ctx cctx;
    mb_status st = mb_ctx_init(&cctx, be);
    if (st == MB_OK) {
        cctx.mem.cap = c->target->memory_cap;
        st = train_cell(&cctx, r, c, cr);
    }
    mb_mem *m = &cctx.mem;
    row->tracked_peak = (int64_t)m->peak_total;
    row->runtime_baseline = (int64_t)m->baseline;
    for (int k = 0; k < MB_MEM_NCAT; k++) row->peak_by_cat[k] = (int64_t)m->at_peak[k];
    for (int k = 0; k < MB_PHASE_N; k++) row->phase_peak[k] = (int64_t)m->phase_peak[k];
    if (st == MB_OK && m->live != 0) {
        st = MB_EINVAL;
        snprintf(cctx.err, sizeof cctx.err, "internal: %zu buffers still held after the cell",
                 m->live);
    }
    mb_ctx_fini(&cctx);
    if (st == MB_OK) {
        row->status = "ok";
        reason[0] = 0;
    } else {
        row->status = st == MB_ENOMEM ? "oom" : "error";
        snprintf(reason, nreason, "%s", cctx.err);
    }
    row->timed_steps = cr->nms;
    if (cr->nms > 0) {
        row->step_ms_p10 = mb_quantile(cr->ms, cr->nms, 0.10);
        row->step_ms_median = mb_quantile(cr->ms, cr->nms, 0.50);
        row->step_ms_p90 = mb_quantile(cr->ms, cr->nms, 0.90);
        row->tokens_per_s = (double)c->batch_size * c->seq_len / (row->step_ms_median * 1e-3);
    }
    if (st == MB_OK) {
        row->metric_value = cr->val;
        row->metric_stderr = cr->val_se;
        row->final_train_loss = cr->final_loss;
    }
    return st == MB_EINTERRUPTED ? st : MB_OK;
}

mb_status mb_runner_run(mb_ctx *ctx, mb_runner *r) {
    for (int i = 0; i < r->plan->n; i++) {
        const mb_cell *c = &r->plan->cells[i];
        if (r->done[i]) continue;
        if (r->stop) {
            r->interrupted = r->stop;
            break;
        }
        cell_run cr;
        memset(&cr, 0, sizeof cr);
        char started[32], reason[MB_ERRMSG_MAX + 64] = "";
        utc_now(started, sizeof started);
        double t0 = mb_now();
        fill_identity(r, c, &cr.row, started);
        if (run_one(r, c, &cr, reason, sizeof reason) == MB_EINTERRUPTED) {
            free(cr.ms);
            r->interrupted = r->stop;
            break;
        }
        cr.row.reason = reason;
        cr.row.wall_s = mb_now() - t0;
        mb_status ws = mb_results_write(ctx, &r->results, &cr.row);
        mb_cell_summary *sm = &r->summary[i];
        snprintf(sm->status, sizeof sm->status, "%s", cr.row.status);
        sm->peak_bytes = (double)cr.row.tracked_peak;
        sm->step_ms = cr.row.step_ms_median;
        sm->p10 = cr.row.step_ms_p10;
        sm->p90 = cr.row.step_ms_p90;
        sm->tokens_per_s = cr.row.tokens_per_s;
        sm->val_loss = cr.row.metric_value;
        free(cr.ms);
        if (!strcmp(cr.row.status, "error")) r->nerror++;
        char what[MB_ERRMSG_MAX + 128];
        if (!strcmp(cr.row.status, "ok"))
            snprintf(what, sizeof what, "ok, %.2f ms/step, peak %.2f MiB, val loss %.4f",
                     sm->step_ms, sm->peak_bytes / 1048576.0, sm->val_loss);
        else
            snprintf(what, sizeof what, "%s: %s", cr.row.status, reason);
        mb_progress_cell(&r->progress, c->label, what);
        if (ws != MB_OK) return ws;
    }
    mb_progress_end(&r->progress);
    return write_run_json(ctx, r, !r->interrupted);
}

void mb_runner_print_summary(const mb_runner *r, FILE *fp) {
    int w = 4;
    for (int i = 0; i < r->plan->n; i++) {
        int n = (int)strlen(r->plan->cells[i].label);
        if (n > w) w = n;
    }
    fprintf(fp, "%-*s  %-8s %10s %10s %17s %12s %9s\n", w, "cell", "status", "peak MiB",
            "step ms", "p10-p90 ms", "tokens/s", "val loss");
    for (int i = 0; i < r->plan->n; i++) {
        const mb_cell_summary *s = &r->summary[i];
        char range[40] = "", ms[24] = "", tps[24] = "", vl[24] = "";
        if (!isnan(s->step_ms)) {
            snprintf(ms, sizeof ms, "%.3f", s->step_ms);
            snprintf(range, sizeof range, "%.3f-%.3f", s->p10, s->p90);
            snprintf(tps, sizeof tps, "%.0f", s->tokens_per_s);
        }
        if (!isnan(s->val_loss)) snprintf(vl, sizeof vl, "%.4f", s->val_loss);
        fprintf(fp, "%-*s  %-8s %10.3f %10s %17s %12s %9s\n", w, r->plan->cells[i].label,
                s->status, s->peak_bytes / 1048576.0, ms, range, tps, vl);
    }
}
