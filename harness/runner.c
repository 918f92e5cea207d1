/* harness/runner.c — the cell loop: set up a context on the target, train, evaluate, measure,
 * write. */
#include "cell.h"
#include "stats.h"

#include "../datasets/corpus.h"
#include "../datasets/fashion.h"
#include "../datasets/sha256.h"
#include "../datasets/spam.h"
#include "../methods/flash/flash_kernels.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../engine/train.h"
#include "../engine/file.h"
#include "../engine/models/hf.h"
#include "json.h"
#include "../reports/csvtable.h"

#define UNSET INT64_MIN /* a measurement that does not apply: written as an empty field */

extern const mb_method mb_method_adamw; /* the implicit optimizer */

void mb_utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* run.json's text on fp: the resolved suite, the environment and the planned cells, as of now or,
 * with sig != 0, as it should read if that signal stopped the run now. Returns the JSON writer's
 * error flag. */
static int render_run_json(FILE *fp, const mb_runner *r, int complete, int sig) {
    char now[32];
    const mb_suite *s = r->suite;
    const mb_env *e = &r->env;
    mb_json j;
    mb_json_begin(&j, fp);
    mb_json_int(&j, "schema_version", MB_RESULTS_SCHEMA);
    mb_utc_now(now, sizeof now);
    mb_json_str(&j, complete ? "finished_at" : "written_at", now);
    if (!sig) sig = r->interrupted;
    mb_json_bool(&j, "complete", complete);
    mb_json_bool(&j, "interrupted", sig != 0);
    if (sig)
        mb_json_str(&j, "signal", sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal");
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
    char bl[160];
    mb_stack_label(&s->stacks[s->baseline], bl, sizeof bl);
    mb_json_str(&j, "baseline", bl); /* the stack the others are measured against */
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
    if (r->slow_glob) { /* the timing test hook was on: these times are not the code's */
        mb_json_str(&j, "test_slow_cells", r->slow_glob);
        mb_json_num(&j, "test_slow_factor", r->slow_factor);
    }
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
    return j.err;
}

/* The texts a second Ctrl-C writes as run.json before the process ends (mb_runner_emergency):
 * rendered after each cell into the slot not in use, then published by flipping r->sig_slot. */
static void prerender_interrupted(mb_runner *r) {
    double t0 = mb_now();
    int slot = r->sig_slot == 0 ? 1 : 0;
    for (int k = 0; k < 2; k++) {
        mb_sig_text *t = &r->sig_text[slot][k];
        free(t->text);
        t->text = NULL;
        t->len = 0;
        FILE *fp = open_memstream(&t->text, &t->len);
        if (!fp) continue;
        int err = render_run_json(fp, r, 0, k == 0 ? SIGINT : SIGTERM);
        if (fclose(fp) != 0 || err) {
            free(t->text);
            t->text = NULL;
            t->len = 0;
        }
    }
    r->sig_slot = slot;
    r->sig_rendered_at = mb_now();
    r->sig_render_s = r->sig_rendered_at - t0;
}

/* After a cell: the prepared texts again, unless rendering them (all cells' configurations: tens of
 * MB for 100,000 cells) would cost more than a tenth of the time since the last rendering; a double
 * Ctrl-C then leaves run.json a few cells behind results.csv, which has every row. */
static void prerender_after_cell(mb_runner *r) {
    if (mb_now() - r->sig_rendered_at >= 10 * r->sig_render_s) prerender_interrupted(r);
}

static mb_status write_run_json(mb_ctx *ctx, mb_runner *r, int complete) {
    char path[4096];
    snprintf(path, sizeof path, "%s/run.json", r->out_dir);
    mb_file_out out;
    MB_TRY(mb_file_begin(ctx, &out, path));
    if (render_run_json(out.fp, r, complete, 0) && !ferror(out.fp)) {
        mb_file_abort(&out); /* a write the JSON writer saw fail: the commit names the reason */
        return mb_error(ctx, MB_EIO, "cannot write %s", path);
    }
    MB_TRY(mb_file_commit(ctx, &out));
    if (!complete) prerender_interrupted(r);
    return MB_OK;
}

void mb_runner_emergency(mb_runner *r, int sig) {
    int slot = r->sig_slot;
    if (slot < 0) return;
    const mb_sig_text *t = &r->sig_text[slot][sig == SIGTERM ? 1 : 0];
    if (!t->text) return;
    /* only async-signal-safe calls: open, write, close, rename */
    int fd = open(r->sig_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (off < t->len) {
        ssize_t n = write(fd, t->text + off, t->len - off);
        if (n <= 0) break;
        off += (size_t)n;
    }
    close(fd);
    if (off == t->len)
        rename(r->sig_tmp, r->sig_final);
    else
        unlink(r->sig_tmp);
}

/* The summary line of a cell from its results.csv row (a resumed run prints every cell). */
static void summary_from_row(mb_cell_summary *sm, const mb_table *t, int row) {
    const char *sk = mb_table_get(t, row, mb_table_col(t, "search"));
    sm->answer = -1;
    if (!strcmp(sk, "max_batch_size"))
        sm->answer = (int)mb_table_num(t, row, mb_table_col(t, "batch_size"));
    else if (!strcmp(sk, "max_seq_len"))
        sm->answer = (int)mb_table_num(t, row, mb_table_col(t, "seq_len"));
    snprintf(sm->status, sizeof sm->status, "%s", mb_table_get(t, row, mb_table_col(t, "status")));
    sm->peak_bytes = mb_table_num(t, row, mb_table_col(t, "tracked_peak_bytes"));
    sm->step_ms = mb_table_num(t, row, mb_table_col(t, "step_ms_median"));
    sm->p10 = mb_table_num(t, row, mb_table_col(t, "step_ms_p10"));
    sm->p90 = mb_table_num(t, row, mb_table_col(t, "step_ms_p90"));
    sm->tokens_per_s = mb_table_num(t, row, mb_table_col(t, "tokens_per_s"));
    sm->metric = mb_table_num(t, row, mb_table_col(t, "metric_value"));
    snprintf(sm->reason, sizeof sm->reason, "%s", mb_table_get(t, row, mb_table_col(t, "reason")));
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
 * through a temporary file and rename so a crash here leaves the old file. With no results.csv
 * rows (t NULL) only the header is kept. Steps rows are one line
 * each (the hash is hex, the phase a word, the rest numbers), so they are filtered line by line. */
static mb_status keep_steps_of(mb_ctx *ctx, mb_runner *r, const char *path, const mb_table *t,
                               int col) {
    FILE *in = fopen(path, "rb");
    if (!in) return MB_OK; /* none yet */
    mb_file_out fo;
    mb_status fs = mb_file_begin(ctx, &fo, path);
    if (fs != MB_OK) {
        fclose(in);
        return fs;
    }
    FILE *out = fo.fp;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, in)) > 0) {
        int keep = lineno++ == 0; /* the header */
        if (!keep) {
            const char *h = line + (line[0] == '"');
            size_t len = strcspn(h, "\",\r\n");
            keep = t && has_hash(t, col, h, len);
        }
        if (keep && fwrite(line, 1, (size_t)n, out) != (size_t)n)
            break; /* the stream's error flag is set: the commit reports it */
        if (!keep) r->dropped_step_rows++;
    }
    int rerr = ferror(in);
    free(line);
    fclose(in);
    if (rerr) {
        mb_file_abort(&fo);
        return mb_error(ctx, MB_EIO, "cannot read %s", path);
    }
    return mb_file_commit(ctx, &fo);
}

static mb_status prepare_resume(mb_ctx *ctx, mb_runner *r) {
    char res[4096], steps[4096];
    snprintf(res, sizeof res, "%s/results.csv", r->out_dir);
    snprintf(steps, sizeof steps, "%s/steps.csv", r->out_dir);
    /* Nothing is changed before both files are known to be this build's results. */
    MB_TRY(mb_results_check_existing(ctx, res, steps));
    MB_TRY(mb_results_drop_partial(ctx, res, &r->dropped_results));
    MB_TRY(mb_results_drop_partial(ctx, steps, &r->dropped_steps));
    struct stat sb;
    if (stat(res, &sb) != 0 || sb.st_size == 0) /* no cell finished: no step row belongs */
        return keep_steps_of(ctx, r, steps, NULL, -1);
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
            if (!strcmp(r->summary[i].status, "error") || !strcmp(r->summary[i].status, "timeout"))
                r->nerror++;
        }
    }
    if (st == MB_OK) st = keep_steps_of(ctx, r, steps, &t, col);
    if (st == MB_OK) {
        r->prior = t; /* kept for the trials of searches; freed by mb_runner_close */
        r->have_prior = 1;
    } else {
        mb_table_free(&t);
    }
    return st;
}

mb_status mb_runner_open(mb_ctx *ctx, mb_runner *r, const mb_suite *s, const mb_plan *p,
                         const char *out_dir, int quiet, mb_out_mode mode) {
    memset(r, 0, sizeof *r);
    r->outdir.lock_fd = -1;
    r->sig_slot = -1;
    snprintf(r->sig_final, sizeof r->sig_final, "%s/run.json", out_dir);
    snprintf(r->sig_tmp, sizeof r->sig_tmp, "%s/run.json.%ld.interrupted", out_dir, (long)getpid());
    r->suite = s;
    r->plan = p;
    mb_env_read(&r->env);
    r->out_dir = strdup(out_dir);
    r->summary = calloc((size_t)(p->n ? p->n : 1), sizeof *r->summary);
    r->done = calloc((size_t)(p->n ? p->n : 1), 1);
    if (!r->out_dir || !r->summary || !r->done) return mb_error(ctx, MB_ENOMEM, "host allocation");
    /* The data set is shared by every cell: a suite whose data cannot load is invalid input. */
    _Static_assert(MB_DATA_TOK_FILE == MB_TOK_FILE, "suite.h and corpus.h name one tokenizer");
    mb_status ds;
    if (s->data.kind == MB_DATA_FILE)
        ds = mb_data_text_file(ctx, &r->data, s->data.path, s->data.val_fraction);
    else if ((s->data.kind == MB_DATA_SOTU || s->data.kind == MB_DATA_MOBY_DICK) &&
             s->data.tokenizer == MB_DATA_TOK_FILE)
        ds = mb_data_corpus_hf(ctx, &r->data, s->data.kind == MB_DATA_SOTU ? "sotu" : "moby-dick",
                               s->data.tokenizer_file, s->data.val_fraction);
    else if (s->data.kind == MB_DATA_SOTU || s->data.kind == MB_DATA_MOBY_DICK)
        ds = mb_data_corpus(ctx, &r->data, s->data.kind == MB_DATA_SOTU ? "sotu" : "moby-dick",
                            (mb_tokenizer)s->data.tokenizer, s->data.val_fraction);
    else if (s->data.kind == MB_DATA_SPAM)
        ds = mb_data_spam(ctx, &r->data, (mb_tokenizer)s->data.tokenizer, s->data.val_fraction);
    else if (s->data.kind == MB_DATA_FASHION_MNIST)
        ds = mb_data_fashion_mnist(ctx, &r->data);
    else
        ds = mb_data_synthetic(ctx, &r->data, s->data.vocab, 4, (size_t)1 << 18, s->seed,
                               s->data.val_fraction);
    if (ds != MB_OK) return mb_error_prefix(ctx, ds, "%s: data", s->path);
    r->data_ok = 1;
    if (s->init_checkpoint && access(s->init_checkpoint, R_OK) != 0)
        return mb_error(ctx, MB_EIO,
                        "%s: init.checkpoint %s: %s (a suite with save: {checkpoint: ...} writes "
                        "one)",
                        s->path, s->init_checkpoint, strerror(errno));
    MB_TRY(mb_outdir_open(ctx, &r->outdir, out_dir, s->name, mode));
    if (mode == MB_OUT_RESUME) MB_TRY(prepare_resume(ctx, r));
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
    if (r->have_prior) mb_table_free(&r->prior);
    mb_results_close(&r->results);
    mb_results_close(&r->steps);
    mb_data_free(&r->data);
    mb_outdir_close(&r->outdir);
    r->sig_slot = -1;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++) free(r->sig_text[i][k].text);
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

/* Mean validation loss over the suite's eval batches (fixed batch indices, so evals compare). A
 * classifier is scored on its whole validation split instead: *mean is the accuracy, *stderr_out
 * its binomial standard error sqrt(p (1 - p) / n), and *loss the mean cross-entropy. */
static mb_status evaluate(mb_train *tr, const mb_runner *r, const mb_cell *c, double *mean,
                          double *stderr_out, double *loss) {
    int B = c->batch_size, T = c->seq_len, n = r->suite->eval_batches;
    int classify = r->suite->classify;
    uint64_t nb = classify ? mb_data_pass_batches(&r->data, MB_SPLIT_VAL, B) : (uint64_t)n;
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    double sum = 0, sq = 0, nll = 0;
    long correct = 0, counted = 0;
    mb_status s = (x && y) ? MB_OK : mb_error(tr->ctx, MB_ENOMEM, "host batch");
    for (uint64_t k = 0; k < nb && s == MB_OK; k++) {
        double l = 0;
        s = mb_data_batch(tr->ctx, &r->data, MB_SPLIT_VAL, c->seed, k, B, T, x, y);
        if (s != MB_OK) break;
        if (classify) {
            s = mb_train_eval_labels(tr, x, y, B, T, &nll, &correct, &counted);
            continue;
        }
        s = mb_train_eval(tr, x, y, B, T, &l);
        sum += l;
        sq += l * l;
    }
    free(x);
    free(y);
    if (s != MB_OK) return s;
    if (classify) {
        double p = counted ? (double)correct / (double)counted : NAN;
        *mean = p;
        *stderr_out = counted ? sqrt(p * (1 - p) / (double)counted) : NAN;
        *loss = counted ? nll / (double)counted : NAN;
        return MB_OK;
    }
    *mean = sum / n;
    double var = n > 1 ? (sq - sum * sum / n) / (n - 1) : 0;
    *stderr_out = n > 1 ? sqrt(var > 0 ? var : 0) / sqrt((double)n) : NAN;
    *loss = *mean;
    return MB_OK;
}

typedef struct cell_run {
    mb_row row;
    double *ms;
    int nms;
    double final_loss, val, val_se;
    size_t device_peak; /* highest device-used reading (GPU backends), sampled after each step */
    mb_dev_info info;   /* the device, for the provenance columns */
} cell_run;

/* Reads the device's memory after a step (outside the timed region) and keeps the highest. */
static mb_status sample_device(mb_ctx *ctx, cell_run *cr) {
    if (!ctx->be->mem_info) return MB_OK;
    mb_dev_mem dm;
    MB_TRY(ctx->be->mem_info(ctx, &dm));
    if (dm.device_used > cr->device_peak) cr->device_peak = dm.device_used;
    return MB_OK;
}

/* One steps.csv row: a training step or an evaluation, with the tracker's current and peak
 * totals. */
static mb_status step_row(mb_ctx *ctx, mb_runner *r, const mb_cell *c, const char *kind, int step,
                          double loss, double lr, double ms) {
    mb_step_row row = {c->hash,
                       kind,
                       c->repeat,
                       step,
                       loss,
                       lr,
                       ms,
                       (int64_t)ctx->mem.cur_total,
                       (int64_t)ctx->mem.peak_total};
    return mb_steps_write(ctx, &r->steps, &row);
}

/* Trains and measures one cell in `ctx`; the row's status is decided by the caller. */
/* The test hook's slowdown: a busy wait (a sleep would leave the core to the background load)
 * until the step, begun at t0 and measured at dt ms, has lasted factor times dt; returns that. */
static double slow_down(double t0, double dt, double factor) {
    double until = t0 + factor * dt * 1e-3, now;
    while ((now = mb_now()) < until) {
    }
    return (now - t0) * 1e3;
}

/* The cell's attention (suite.h, mb_attention_mode): FlashAttention put first in the stack for
 * `flash`, and for `auto` where it has a kernel for the model on this backend (cuda-bf16 only: on
 * the CPU the engine's is the faster) and the stack takes it (no method that replaces or codes the
 * attention); *ran says which runs. A stack that names flash runs it, but not under `naive`. */
static mb_status choose_attention(mb_ctx *ctx, const mb_model_config *cfg, const mb_method **ms,
                                  const mb_pvalue **vs, int *n, mb_attention_mode att,
                                  const char **ran) {
    *ran = "naive";
    for (int i = 0; i < *n; i++)
        if (ms[i] == &mb_method_flash) {
            if (att == MB_ATTN_NAIVE)
                return mb_error(ctx, MB_EUNSUPPORTED,
                                "attention: naive, but the method stack names flash; drop one");
            *ran = "flash";
            return MB_OK;
        }
    if (att == MB_ATTN_NAIVE || (att != MB_ATTN_FLASH && ctx->be->id != MB_BE_CUDA_BF16))
        return MB_OK;
    if (*n + 1 >= MB_MAX_STACK) { /* the stack is full: flash cannot join */
        if (att != MB_ATTN_FLASH) return MB_OK;
        return mb_error(ctx, MB_EUNSUPPORTED,
                        "attention: flash, but the stack already holds %d methods", *n);
    }
    const mb_method *cand[MB_MAX_STACK];
    const mb_pvalue *cv[MB_MAX_STACK];
    cand[0] = &mb_method_flash;
    cv[0] = NULL;
    for (int i = 0; i < *n; i++) {
        cand[i + 1] = ms[i];
        cv[i + 1] = vs[i];
    }
    mb_status st = mb_flash_supports(ctx, ctx->be, cfg);
    if (st == MB_OK) st = mb_stack_check(ctx, cand, *n + 1);
    if (st == MB_OK) st = mb_stack_check_model(ctx, cand, cv, *n + 1, cfg);
    if (st != MB_OK) {
        if (att == MB_ATTN_FLASH) return mb_error_prefix(ctx, st, "attention: flash");
        return MB_OK; /* auto: the engine's attention */
    }
    for (int i = 0; i <= *n; i++) {
        ms[i] = cand[i];
        vs[i] = cv[i];
    }
    (*n)++;
    *ran = "flash";
    return MB_OK;
}

static mb_status train_cell(mb_ctx *ctx, mb_runner *r, const mb_cell *c, cell_run *cr) {
    const mb_suite *s = r->suite;
    mb_model model;
    mb_train tr;
    memset(&model, 0, sizeof model);
    memset(&tr, 0, sizeof tr);
    int B = c->batch_size, T = c->seq_len;
    /* a trial of a search trains a few steps, times all but the first, and is not evaluated */
    int steps = c->trial_steps ? c->trial_steps : s->steps;
    int warmup = c->trial_steps ? (c->trial_steps > 1) : s->warmup_steps;
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    cr->ms = calloc((size_t)steps, sizeof *cr->ms);
    mb_status st = (x && y && cr->ms) ? MB_OK : mb_error(ctx, MB_ENOMEM, "host batch");
    mb_mem_set_phase(&ctx->mem, MB_PHASE_LOAD);
    mb_model_config shape = c->model->shape;
    if (s->classify) shape.classes = r->data.classes; /* the class head replaces the LM head */
    /* A method that refuses this model (the suite holds others it fits): invalid before the model
     * is built or a checkpoint read, and whatever the attention setting. */
    if (st == MB_OK) {
        st = mb_stack_refusal(ctx, c->stack, c->model);
        if (st != MB_OK && st != MB_ENOMEM) st = MB_EUNSUPPORTED;
    }
    if (st == MB_OK) st = mb_model_create(ctx, &shape, &model);
    if (st == MB_OK) st = mb_model_init_weights(ctx, &model, c->seed);
    if (st == MB_OK && c->model->hf) st = mb_hf_load(ctx, &model, c->model->hf);
    if (st == MB_OK && s->init_checkpoint) st = mb_model_load(ctx, &model, s->init_checkpoint);
    const mb_method *ms[MB_MAX_STACK];
    const mb_pvalue *vs[MB_MAX_STACK];
    int nm = 0;
    for (int i = 0; i < c->stack->n && i < MB_MAX_STACK; i++, nm++) {
        ms[i] = c->stack->items[i].method;
        vs[i] = c->stack->items[i].vals;
    }
    mb_attention_mode att = c->model->attention ? c->model->attention : c->target->attention;
    if (st == MB_OK) st = choose_attention(ctx, &model.cfg, ms, vs, &nm, att, &cr->row.attention);
    if (st == MB_OK) st = mb_train_init(&tr, ctx, &model, ms, vs, nm, &mb_method_adamw, c->seed);
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
    int slow = r->slow_glob && !ctx->be->timer && mb_plan_label_matches(r->slow_glob, c->label);
    for (int step = 0; step < steps && st == MB_OK; step++) {
        if (r->stop) { /* checked per step so a long cell stops promptly */
            st = mb_error(ctx, MB_EINTERRUPTED, "interrupted at step %d", step);
            break;
        }
        mb_progress_step(&r->progress, c->label, step, steps);
        st = mb_data_batch(ctx, &r->data, MB_SPLIT_TRAIN, c->seed, (uint64_t)step, B, T, x, y);
        if (st != MB_OK) break;
        /* GPU: CUDA events on the work's stream around the step, which ends synchronized */
        double t0 = mb_now(), loss = 0, dt = 0;
        if (ctx->be->timer) st = ctx->be->timer(ctx, 0, NULL);
        if (st == MB_OK) st = mb_train_step(&tr, x, y, B, T, &loss);
        if (st == MB_OK && ctx->be->timer)
            st = ctx->be->timer(ctx, 1, &dt);
        else
            dt = (mb_now() - t0) * 1e3;
        if (st == MB_OK && slow) dt = slow_down(t0, dt, r->slow_factor);
        if (st == MB_OK) st = sample_device(ctx, cr);
        if (st != MB_OK) break;
        if (!isfinite(loss)) {
            st = mb_error(ctx, MB_EINVAL, "training diverged: the loss is %g at step %d", loss,
                          step);
            break;
        }
        if (step >= warmup) cr->ms[cr->nms++] = dt;
        cr->final_loss = loss;
        st = step_row(ctx, r, c, "train", step, loss, lr, dt);
        if (st != MB_OK) break;
        int last = step + 1 == steps;
        if (!c->trial_steps && (last || (s->eval_every > 0 && (step + 1) % s->eval_every == 0))) {
            double vloss = NAN;
            if (last) st = mb_train_finish(&tr); /* LoRA merges before the final evaluation */
            if (st != MB_OK) break;
            st = evaluate(&tr, r, c, &cr->val, &cr->val_se, &vloss);
            if (st != MB_OK) break;
            /* steps.csv's eval rows hold the validation loss (a classifier's too) */
            st = step_row(ctx, r, c, "eval", step, vloss, lr, NAN);
        }
    }
    mb_progress_step(&r->progress, c->label, steps, steps);
    if (st == MB_OK && s->save_checkpoint && !c->trial_steps) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", r->out_dir, s->save_checkpoint);
        st = mb_model_save(ctx, &model, path);
    }
    mb_train_fini(&tr);
    mb_model_destroy(ctx, &model);
    free(x);
    free(y);
    return st;
}

static const mb_backend *cell_backend(const mb_cell *c, char *why, size_t n) {
    if (c->target->backend == MB_TARGET_CUDA) {
#ifdef MB_HAVE_CUDA
        if (c->precision == MB_PREC_FP32) return &mb_backend_cuda_f32;
        if (c->precision == MB_PREC_TF32) return &mb_backend_cuda_tf32;
        if (c->precision == MB_PREC_BF16) return &mb_backend_cuda_bf16;
        snprintf(why, n,
                 "precision %s runs on the cpu backend; the cuda backend runs fp32, tf32 "
                 "and bf16",
                 mb_precision_name(c->precision));
#else
        snprintf(why, n, "target %s asks for the cuda backend, which this build does not have",
                 c->target->name);
#endif
        return NULL;
    }
    if (c->precision == MB_PREC_FP32) return &mb_backend_cpu_f32;
    if (c->precision == MB_PREC_FP64) return &mb_backend_cpu_f64;
    snprintf(why, n, "precision %s needs the cuda backend; the cpu backend runs fp32 and fp64",
             mb_precision_name(c->precision));
    return NULL;
}

static void fill_identity(const mb_runner *r, const mb_cell *c, mb_row *row, const char *started) {
    row->suite = r->suite->name;
    row->target = c->target->name;
    row->backend = c->target->backend == MB_TARGET_CUDA ? "cuda" : "cpu";
    row->model = c->model->name;
    row->method_stack = c->stack->label;
    row->method_params = c->params;
    row->task = r->suite->classify ? "classify" : "train";
    row->batch_size = c->batch_size;
    row->seq_len = c->seq_len;
    row->precision = mb_precision_name(c->precision);
    row->repeat = c->repeat;
    row->seed = c->seed;
    row->steps = c->trial_steps ? c->trial_steps : r->suite->steps;
    row->warmup_steps = c->trial_steps ? (c->trial_steps > 1) : r->suite->warmup_steps;
    row->search = c->row_search ? c->row_search : "";
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
    row->metric = r->suite->classify ? "accuracy" : "val_loss";
    row->metric_value = row->metric_stderr = row->final_train_loss = NAN;
    for (int k = 0; k < MB_MEM_NCAT; k++) row->pred_by_cat[k] = UNSET;
    row->pred_total = UNSET;
    row->threads = c->target->threads ? c->target->threads : mb_default_threads();
    row->label = c->label;
    row->attention = "";
    row->baseline = c->stack == &r->suite->stacks[r->suite->baseline];
}

/* Returns MB_EINTERRUPTED when `stop` cut the cell short (no row is written then). */
static mb_status run_one(mb_runner *r, const mb_cell *c, cell_run *cr, char *reason,
                         size_t nreason) {
    mb_row *row = &cr->row;
    char why[512] = "";
    const mb_backend *be = cell_backend(c, why, sizeof why);
    const mb_model_config *g = &c->model->shape;
    if (!be) {
#ifdef MB_HAVE_CUDA
        row->status = "invalid";
#else
        row->status = c->target->backend == MB_TARGET_CUDA ? "skipped" : "invalid";
#endif
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
    omp_set_num_threads((int)row->threads);
    mb_ctx cctx;
    mb_status st = mb_ctx_init_on(&cctx, be, c->target->device);
    if (st == MB_EUNSUPPORTED) { /* a CUDA build on a machine with no GPU */
        row->status = "skipped";
        snprintf(reason, nreason, "%s", cctx.err);
        return MB_OK;
    }
    if (st == MB_OK) {
        cctx.mem.cap = c->target->memory_cap;
        if (be->describe) {
            be->describe(&cctx, &cr->info);
            row->device_name = cr->info.name;
            row->device_uuid = cr->info.uuid;
            row->driver_version = cr->info.driver;
            row->cuda_runtime = cr->info.runtime;
            row->cublas_version = cr->info.blas;
        }
        st = train_cell(&cctx, r, c, cr);
    }
    if (st == MB_OK && be->mem_info) {
        mb_dev_mem dm;
        st = be->mem_info(&cctx, &dm);
        if (st == MB_OK) {
            row->reserved_peak = (int64_t)dm.reserved_peak;
            if (dm.device_used > cr->device_peak) cr->device_peak = dm.device_used;
            row->device_peak = (int64_t)cr->device_peak;
        }
    }
    mb_mem *m = &cctx.mem;
    row->tracked_peak = (int64_t)m->peak_total;
    row->runtime_baseline = (int64_t)m->baseline;
    for (int k = 0; k < MB_MEM_NCAT; k++) row->peak_by_cat[k] = (int64_t)m->at_peak[k];
    for (int k = 0; k < MB_PHASE_N; k++) row->phase_peak[k] = (int64_t)m->phase_peak[k];
    mb_ctx_fini(&cctx); /* frees the backend's own buffers (cuBLAS workspace, scratch) */
    if (st == MB_OK && m->live != 0) {
        st = MB_EINVAL;
        snprintf(cctx.err, sizeof cctx.err, "internal: %zu buffers still held after the cell",
                 m->live);
    }
    if (st == MB_OK) {
        row->status = "ok";
        reason[0] = 0;
    } else {
        /* a method (or backend) that has no way to run this configuration refused it: a
         * property of the cell, like a sequence longer than the model's block */
        row->status = st == MB_ENOMEM ? "oom" : st == MB_EUNSUPPORTED ? "invalid" : "error";
        snprintf(reason, nreason, "%s", cctx.err);
        if (st == MB_EUNSUPPORTED) row->attention = ""; /* refused: no attention ran */
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
    return st == MB_EINTERRUPTED || st == MB_ESTORAGE ? st : MB_OK;
}

static void summary_from(mb_cell_summary *sm, const mb_row *row) {
    sm->answer = -1;
    snprintf(sm->status, sizeof sm->status, "%s", row->status);
    sm->peak_bytes = (double)row->tracked_peak;
    sm->step_ms = row->step_ms_median;
    sm->p10 = row->step_ms_p10;
    sm->p90 = row->step_ms_p90;
    sm->tokens_per_s = row->tokens_per_s;
    sm->metric = row->metric_value;
}

mb_status mb_cell_run(mb_ctx *ctx, mb_runner *r, const mb_cell *c, mb_cell_outcome *o) {
    cell_run cr;
    memset(&cr, 0, sizeof cr);
    memset(o, 0, sizeof *o);
    char started[32];
    mb_utc_now(started, sizeof started);
    double t0 = mb_now();
    fill_identity(r, c, &cr.row, started);
    mb_status st = run_one(r, c, &cr, o->reason, sizeof o->reason);
    if (st == MB_EINTERRUPTED) {
        free(cr.ms);
        return MB_EINTERRUPTED;
    }
    if (st == MB_ESTORAGE) { /* not the cell's result: no row, --resume reruns it */
        o->ws = MB_ESTORAGE;
        snprintf(o->err, sizeof o->err, "%.1000s", o->reason);
        free(cr.ms);
        return MB_OK;
    }
    cr.row.reason = o->reason;
    cr.row.wall_s = mb_now() - t0;
    o->ws = mb_results_write(ctx, &r->results, &cr.row);
    if (o->ws != MB_OK) snprintf(o->err, sizeof o->err, "%s", ctx->err);
    summary_from(&o->sm, &cr.row);
    free(cr.ms);
    return MB_OK;
}

void mb_cell_write_failed(mb_ctx *ctx, mb_runner *r, const mb_cell *c, const char *status,
                          const char *started, double wall_s, mb_cell_outcome *o) {
    cell_run cr;
    memset(&cr, 0, sizeof cr);
    fill_identity(r, c, &cr.row, started);
    cr.row.status = status;
    cr.row.reason = o->reason;
    cr.row.wall_s = wall_s;
    o->ws = mb_results_write(ctx, &r->results, &cr.row);
    if (o->ws != MB_OK) snprintf(o->err, sizeof o->err, "%s", ctx->err);
    summary_from(&o->sm, &cr.row);
}

/* One trial of search cell `c` at `size`: a row of its own (search "trial", hash over the search's
 * description and the size), or, under --resume, the row an earlier run wrote for it. */
static mb_status run_trial(mb_ctx *ctx, mb_runner *r, const mb_cell *c, int size, int isolate,
                           mb_cell_outcome *o) {
    mb_cell tc = *c;
    int batch = c->search == MB_SEARCH_MAX_BATCH;
    tc.search = MB_SEARCH_NONE;
    tc.row_search = "trial";
    tc.trial_steps = r->suite->search.trial_steps;
    if (batch)
        tc.batch_size = size;
    else
        tc.seq_len = size;
    size_t n = strlen(c->config) + 64;
    if (!(tc.config = malloc(n))) return mb_error(ctx, MB_ENOMEM, "host allocation");
    snprintf(tc.config, n, "%strial %s=%d\n", c->config, batch ? "batch_size" : "seq_len", size);
    mb_sha256_hex(tc.config, tc.hash);
    char *slash = strstr(tc.label, batch ? "/bs=max/" : "/seq=max/");
    if (slash) { /* the label names the size tried */
        char rest[256];
        snprintf(rest, sizeof rest, "%s", slash + (batch ? 7 : 8));
        snprintf(slash, sizeof tc.label - (size_t)(slash - tc.label), "/%s=%d%s",
                 batch ? "bs" : "seq", size, rest);
    }
    mb_status st = MB_OK;
    int reused = 0;
    if (r->have_prior) {
        int col = mb_table_col(&r->prior, "config_hash");
        for (int k = 0; col >= 0 && k < r->prior.nrows && !reused; k++)
            if (!strcmp(mb_table_get(&r->prior, k, col), tc.hash)) {
                memset(o, 0, sizeof *o);
                summary_from_row(&o->sm, &r->prior, k);
                snprintf(o->reason, sizeof o->reason, "%s",
                         mb_table_get(&r->prior, k, mb_table_col(&r->prior, "reason")));
                reused = 1;
            }
    }
    if (!reused) st = isolate ? mb_cell_run_isolated(ctx, r, &tc, o) : mb_cell_run(ctx, r, &tc, o);
    if (st == MB_OK && o->ws == MB_OK)
        mb_progress_note(&r->progress, tc.label,
                         !strcmp(o->sm.status, "ok")    ? "trial: fits"
                         : !strcmp(o->sm.status, "oom") ? "trial: oom"
                                                        : o->sm.status);
    free(tc.config);
    return st;
}

/* A search cell: sizes start, 2 start, 4 start ... up to the first that does not fit (or max),
 * then bisection between the largest that fit and the smallest that did not. A size at or above
 * one known not to fit is never tried (memory grows with batch and sequence). Every trial writes
 * its row; then one row with search = max_batch_size | max_seq_len holds the answer in its
 * batch_size / seq_len column, the best trial's measurements, and the trials in its reason. */
static mb_status run_search(mb_ctx *ctx, mb_runner *r, const mb_cell *c, int isolate,
                            mb_cell_outcome *o) {
    const mb_search_cfg *q = &r->suite->search;
    int batch = c->search == MB_SEARCH_MAX_BATCH;
    int max = q->max ? q->max : c->model->shape.seq_len;
    if (!batch && max > c->model->shape.seq_len) max = c->model->shape.seq_len;
    int lo = 0, hi = max + 1, ntrials = 0; /* lo fits (0: none yet), hi does not */
    char log[640] = "";
    size_t used = 0;
    mb_cell_outcome best, t;
    memset(&best, 0, sizeof best);
    const char *fail = NULL; /* a trial that ended neither ok nor oom */
    char failwhy[768] = "";
    int size = q->start <= max ? q->start : max, expo = 1;
    while (hi - lo > 1) {
        if (!expo) size = lo + (hi - lo) / 2;
        mb_status st = run_trial(ctx, r, c, size, isolate, &t);
        if (st != MB_OK) return st; /* interrupted: no result row, --resume finishes the search */
        if (t.ws != MB_OK) {
            *o = t;
            return MB_OK;
        }
        ntrials++;
        int fits = !strcmp(t.sm.status, "ok");
        if (used < sizeof log)
            used += (size_t)snprintf(log + used, sizeof log - used, "%s%d %s",
                                     ntrials > 1 ? ", " : "", size, fits ? "ok" : t.sm.status);
        if (!fits && strcmp(t.sm.status, "oom")) {
            fail = t.sm.status;
            snprintf(failwhy, sizeof failwhy, "the trial at %s %d ended %s: %.600s",
                     batch ? "batch" : "seq_len", size, t.sm.status, t.reason);
            break;
        }
        if (fits) {
            lo = size;
            best = t;
        } else {
            hi = size;
        }
        if (expo && (!fits || size >= max))
            expo = 0;
        else if (expo)
            size = size > max / 2 ? max : 2 * size;
    }
    /* the result row */
    cell_run cr;
    memset(&cr, 0, sizeof cr);
    memset(o, 0, sizeof *o);
    char started[32];
    mb_utc_now(started, sizeof started);
    fill_identity(r, c, &cr.row, started);
    mb_row *row = &cr.row;
    if (batch)
        row->batch_size = lo;
    else
        row->seq_len = lo;
    double cap_mib = (double)c->target->memory_cap / 1048576.0;
    if (fail) {
        /* a refused trial (a method that cannot run this model or target) refuses the search */
        row->status = !strcmp(fail, "invalid") || !strcmp(fail, "skipped") ? fail : "error";
        snprintf(o->reason, sizeof o->reason, "%s (trials: %.200s)", failwhy, log);
    } else if (lo == 0) {
        row->status = "oom";
        snprintf(o->reason, sizeof o->reason, "no %s fits under the cap of %.1f MiB; %d trials: %s",
                 batch ? "batch size" : "sequence length", cap_mib, ntrials, log);
    } else {
        row->status = "ok";
        snprintf(o->reason, sizeof o->reason, "%d trials under the cap of %.1f MiB: %s", ntrials,
                 cap_mib, log);
        row->tracked_peak = (int64_t)best.sm.peak_bytes;
        row->step_ms_median = best.sm.step_ms;
        row->step_ms_p10 = best.sm.p10;
        row->step_ms_p90 = best.sm.p90;
        row->tokens_per_s = best.sm.tokens_per_s;
    }
    row->metric = ""; /* a search measures memory, not quality */
    row->reason = o->reason;
    o->ws = mb_results_write(ctx, &r->results, row);
    if (o->ws != MB_OK) snprintf(o->err, sizeof o->err, "%s", ctx->err);
    summary_from(&o->sm, row);
    o->sm.answer = lo;
    return MB_OK;
}

/* Repeats run in rounds: every cell's repeat 0, then every cell's repeat 1, ... so a burst of load
 * on the machine falls on different cells' repeats instead of on all repeats of one cell (the
 * U test in `compare` assumes independent samples). Within a round, the plan's order. */
static int by_round(const void *x, const void *y) {
    const int *a = x, *b = y; /* {repeat, index} pairs */
    return a[0] != b[0] ? (a[0] > b[0]) - (a[0] < b[0]) : (a[1] > b[1]) - (a[1] < b[1]);
}

static int *run_order(const mb_plan *p) {
    int n = p->n ? p->n : 1;
    int(*key)[2] = malloc((size_t)n * sizeof *key);
    int *ord = malloc((size_t)n * sizeof *ord);
    if (!key || !ord) {
        free(key);
        free(ord);
        return NULL;
    }
    for (int i = 0; i < p->n; i++) {
        key[i][0] = p->cells[i].repeat;
        key[i][1] = i;
    }
    qsort(key, (size_t)p->n, sizeof *key, by_round);
    for (int i = 0; i < p->n; i++) ord[i] = key[i][1];
    free(key);
    return ord;
}

/* The cell a method is measured against: the suite's baseline stack (`baseline:`, else its first)
 * on the same target, model, batch, sequence, precision and repeat. */
static int same_setting(const mb_cell *a, const mb_cell *b) {
    return a->target == b->target && a->model == b->model && a->batch_size == b->batch_size &&
           a->seq_len == b->seq_len && a->precision == b->precision && a->repeat == b->repeat;
}

static uint64_t setting_hash(const mb_cell *c) {
    uint64_t h = 1469598103934665603u;
    uint64_t v[] = {(uint64_t)(uintptr_t)c->target, (uint64_t)(uintptr_t)c->model,
                    (uint64_t)c->batch_size,        (uint64_t)c->seq_len,
                    (uint64_t)c->precision,         (uint64_t)c->repeat};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) h = (h ^ v[i]) * 1099511628211u;
    return h;
}

/* base[i]: the index of cell i's baseline cell, or -1 (it is one, a search, or has none); one pass
 * through a hash table of the baseline cells, so 100,000 cells cost no more than planning them. */
static int *baseline_of(const mb_runner *r) {
    const mb_plan *p = r->plan;
    int n = p->n, cap = 16;
    while (cap < 2 * n) cap *= 2;
    int *base = malloc((size_t)(n ? n : 1) * sizeof *base),
        *slot = malloc((size_t)cap * sizeof *slot);
    if (!base || !slot) {
        free(base);
        free(slot);
        return NULL;
    }
    for (int k = 0; k < cap; k++) slot[k] = -1;
    const mb_stack_cfg *bl = &r->suite->stacks[r->suite->baseline];
    for (int i = 0; i < n; i++) {
        const mb_cell *c = &p->cells[i];
        if (c->stack != bl || c->search) continue;
        int k = (int)(setting_hash(c) & (uint64_t)(cap - 1));
        while (slot[k] >= 0) k = (k + 1) & (cap - 1);
        slot[k] = i;
    }
    for (int i = 0; i < n; i++) {
        const mb_cell *c = &p->cells[i];
        base[i] = -1;
        if (c->stack == bl || c->search) continue;
        for (int k = (int)(setting_hash(c) & (uint64_t)(cap - 1)); slot[k] >= 0;
             k = (k + 1) & (cap - 1))
            if (same_setting(&p->cells[slot[k]], c)) {
                base[i] = slot[k];
                break;
            }
    }
    free(slot);
    return base;
}

/* A method that saves nothing against its baseline cell (a stack of other methods than the
 * baseline's): a setting such as a rank at or above the matrix's smaller side. Said on stderr (even
 * with --quiet); the cell's row stands as measured. */
static void warn_no_saving(const mb_runner *r, int i, int base) {
    const mb_cell_summary *sc = &r->summary[i];
    if (base < 0 || strcmp(sc->status, "ok") || strcmp(r->summary[base].status, "ok")) return;
    const mb_cell_summary *sb = &r->summary[base];
    if (sc->peak_bytes < sb->peak_bytes) return;
    /* the baseline's own methods with other settings (a learning rate) are not meant to save */
    const mb_stack_cfg *st = r->plan->cells[i].stack, *bs = r->plan->cells[base].stack;
    int same = st->n == bs->n;
    for (int k = 0; same && k < st->n; k++) same = st->items[k].method == bs->items[k].method;
    if (same) return;
    char bl[160];
    mb_stack_label(r->plan->cells[base].stack, bl, sizeof bl);
    fprintf(stderr,
            "membench: warning: %s saves no memory against the suite's baseline %s: tracked peak "
            "%.3f MiB, baseline %.3f MiB; check its settings (a rank at or above the matrix's "
            "smaller side, say)\n",
            r->plan->cells[i].label, bl, sc->peak_bytes / 1048576.0, sb->peak_bytes / 1048576.0);
}

/* The cells measured against each baseline cell, base[] inverted: those of cell b are
 * dep[first[b] .. first[b + 1]), so a baseline cell that runs after them (`baseline:` need not be
 * the first stack) still warns for each. NULL when out of memory. */
static int *dependents_of(const int *base, int n, int **first) {
    int *f = calloc((size_t)n + 1, sizeof *f), *dep = malloc((size_t)(n ? n : 1) * sizeof *dep);
    if (!f || !dep) {
        free(f);
        free(dep);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (base[i] >= 0) f[base[i] + 1]++;
    for (int b = 0; b < n; b++) f[b + 1] += f[b];
    int *at = malloc((size_t)(n ? n : 1) * sizeof *at);
    if (!at) {
        free(f);
        free(dep);
        return NULL;
    }
    memcpy(at, f, (size_t)n * sizeof *at);
    for (int i = 0; i < n; i++)
        if (base[i] >= 0) dep[at[base[i]]++] = i;
    free(at);
    *first = f;
    return dep;
}

/* Timing a gate can trust needs a quiet machine: a spread (p10 to p90) over this fraction of the
 * median says something else ran. */
#define MB_NOISE_SPREAD 0.5

mb_status mb_runner_run(mb_ctx *ctx, mb_runner *r) {
    int isolate = r->isolate || r->cell_timeout > 0;
    int *order = run_order(r->plan), *base = baseline_of(r), *first = NULL;
    int *dep = base ? dependents_of(base, r->plan->n, &first) : NULL;
    if (!order || !base || !dep) {
        free(order);
        free(base);
        return mb_error(ctx, MB_ENOMEM, "host allocation");
    }
    mb_status result = MB_OK;
    for (int oi = 0; oi < r->plan->n; oi++) {
        int i = order[oi];
        const mb_cell *c = &r->plan->cells[i];
        if (r->done[i]) continue;
        if (r->stop) {
            r->interrupted = r->stop;
            break;
        }
        mb_cell_outcome o;
        mb_status st = c->search ? run_search(ctx, r, c, isolate, &o)
                       : isolate ? mb_cell_run_isolated(ctx, r, c, &o)
                                 : mb_cell_run(ctx, r, c, &o);
        if (st == MB_EINTERRUPTED) {
            r->interrupted = r->stop;
            break;
        }
        if (o.ws != MB_OK) { /* the row (or the cell's steps) could not be written: stop here */
            mb_progress_end(&r->progress);
            (void)write_run_json(ctx, r, 0); /* best effort: the disk may still be full */
            result = mb_error(ctx, o.ws, "%s", o.err);
            break;
        }
        mb_cell_summary *sm = &r->summary[i];
        *sm = o.sm;
        snprintf(sm->reason, sizeof sm->reason, "%.*s", (int)sizeof sm->reason - 1, o.reason);
        if (!strcmp(sm->status, "error") || !strcmp(sm->status, "timeout")) r->nerror++;
        char what[MB_ERRMSG_MAX + 128];
        if (c->search && !strcmp(sm->status, "ok"))
            snprintf(what, sizeof what, "ok, largest %s that fits: %d (%s)",
                     c->search == MB_SEARCH_MAX_BATCH ? "batch" : "seq_len", sm->answer, o.reason);
        else if (!strcmp(sm->status, "ok"))
            snprintf(what, sizeof what, "ok, %.2f ms/step, peak %.2f MiB, %s %.4f", sm->step_ms,
                     sm->peak_bytes / 1048576.0, r->suite->classify ? "accuracy" : "val loss",
                     sm->metric);
        else
            snprintf(what, sizeof what, "%s: %s", sm->status, o.reason);
        mb_progress_cell(&r->progress, c->label, what);
        if (!strcmp(sm->status, "ok") && sm->step_ms > 0 &&
            (sm->p90 - sm->p10) > MB_NOISE_SPREAD * sm->step_ms) {
            /* said even with --quiet: the cell's time is not to be trusted */
            fprintf(stderr,
                    "membench: warning: %s: noisy timing: p10-p90 %.3f-%.3f ms around a median of "
                    "%.3f ms (spread over %.0f%%); is something else running? (threads: %d)\n",
                    c->label, sm->p10, sm->p90, sm->step_ms, MB_NOISE_SPREAD * 100,
                    c->target->threads ? c->target->threads : mb_default_threads());
            r->noisy++;
        }
        /* a cell after its baseline, or a baseline after its cells */
        warn_no_saving(r, i, base[i]);
        for (int k = first[i]; k < first[i + 1]; k++)
            if (r->summary[dep[k]].status[0]) warn_no_saving(r, dep[k], i);
        prerender_after_cell(r);
    }
    free(order);
    free(base);
    free(dep);
    free(first);
    if (result != MB_OK) return result;
    mb_progress_end(&r->progress);
    return write_run_json(ctx, r, !r->interrupted);
}

void mb_runner_print_summary(const mb_runner *r, FILE *fp, int finished_only) {
    int w = 4;
    for (int i = 0; i < r->plan->n; i++) {
        int n = (int)strlen(r->plan->cells[i].label);
        if (n > w) w = n;
    }
    fprintf(fp, "%-*s  %-8s %10s %10s %17s %12s %9s\n", w, "cell", "status", "peak MiB", "step ms",
            "p10-p90 ms", "tokens/s", r->suite->classify ? "accuracy" : "val loss");
    for (int i = 0; i < r->plan->n; i++) {
        const mb_cell_summary *s = &r->summary[i];
        if (finished_only && !s->status[0]) continue;
        char range[40] = "", ms[24] = "", tps[24] = "", vl[24] = "";
        if (!isnan(s->step_ms)) {
            snprintf(ms, sizeof ms, "%.3f", s->step_ms);
            snprintf(range, sizeof range, "%.3f-%.3f", s->p10, s->p90);
            snprintf(tps, sizeof tps, "%.0f", s->tokens_per_s);
        }
        if (r->plan->cells[i].search && s->status[0]) /* a search: its answer */
            snprintf(vl, sizeof vl, "max=%d", s->answer);
        else if (!isnan(s->metric))
            snprintf(vl, sizeof vl, "%.4f", s->metric);
        fprintf(fp, "%-*s  %-8s %10.3f %10s %17s %12s %9s\n", w, r->plan->cells[i].label, s->status,
                s->peak_bytes / 1048576.0, ms, range, tps, vl);
    }
}
