/* tests/test_results.c — results.csv/steps.csv: column table, rows written, appended and read
 * back exactly (quotes, commas, newlines, NaN, doubles), header mismatch and malformed-CSV
 * messages with their line, and the JSON writer's exact output. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../engine/ctx.h"
#include "../harness/json.h"
#include "../harness/results.h"
#include "../reports/csvread.h"
#include "check.h"

/* Records read back, deep-copied. */
typedef struct recs {
    int n, line[16], nf[16];
    char **f[16];
    int stop_at; /* return 7 from the record starting on this line (0: never) */
} recs;

static int collect(void *u, int line, int nf, char **f) {
    recs *r = u;
    if (r->stop_at && line == r->stop_at) return 7;
    if (r->n == 16) return 1;
    r->line[r->n] = line;
    r->nf[r->n] = nf;
    r->f[r->n] = calloc((size_t)nf + 1, sizeof(char *));
    for (int i = 0; i < nf; i++) r->f[r->n][i] = strdup(f[i]);
    r->n++;
    return 0;
}

static void recs_free(recs *r) {
    for (int i = 0; i < r->n; i++) {
        for (int k = 0; k < r->nf[i]; k++) free(r->f[i][k]);
        free(r->f[i]);
    }
    memset(r, 0, sizeof *r);
}

static int col(const char *name) {
    for (int i = 0; mb_results_columns[i]; i++)
        if (!strcmp(mb_results_columns[i], name)) return i;
    fprintf(stderr, "no column %s\n", name);
    exit(1);
}

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fputs(text, fp) == EOF || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static char *read_text(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

/* The header line this build must write, joined from the column table. */
static void header_line(char *out, size_t n, const char *replace_col21, const char *extra,
                        int upto) {
    size_t len = 0;
    for (int i = 0; mb_results_columns[i] && (upto <= 0 || i < upto); i++) {
        const char *c = (i == 20 && replace_col21) ? replace_col21 : mb_results_columns[i];
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "", c);
    }
    if (extra) len += (size_t)snprintf(out + len, n - len, ",%s", extra);
    snprintf(out + len, n - len, "\n");
}

static int check_columns(void) {
    /* Independent statement of the order: fixed names, names built from mem.h, fixed names. */
    static const char *const head[] = {"schema_version",
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
                                       "memory_cap_bytes"};
    static const char *const tail[] = {
        "steps",       "warmup_steps",   "timed_steps",   "step_ms_median",
        "step_ms_p10", "step_ms_p90",    "tokens_per_s",  "mfu",
        "metric",      "metric_value",   "metric_stderr", "final_train_loss",
        "git_sha",     "git_dirty",      "config_hash",   "device_name",
        "device_uuid", "driver_version", "cuda_runtime",  "cublas_version",
        "host",        "started_at",     "wall_s",        "search",
        "threads",     "label",          "baseline",      "attention"};
    char want[80][48];
    int n = 0;
    for (size_t i = 0; i < sizeof head / sizeof *head; i++) snprintf(want[n++], 48, "%s", head[i]);
    for (int c = 0; c < MB_MEM_NCAT; c++)
        snprintf(want[n++], 48, "peak_%s_bytes", mb_mem_cat_name((mb_mem_cat)c));
    for (int c = 0; c < MB_MEM_NCAT; c++)
        snprintf(want[n++], 48, "pred_%s_bytes", mb_mem_cat_name((mb_mem_cat)c));
    snprintf(want[n++], 48, "pred_total_bytes");
    for (int p = 0; p < MB_PHASE_N; p++)
        snprintf(want[n++], 48, "phase_%s_peak_bytes", mb_phase_name((mb_phase)p));
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) snprintf(want[n++], 48, "%s", tail[i]);
    int have = 0;
    while (mb_results_columns[have]) have++;
    CHECK(have == n && n == 72, "%d columns, expected %d (72)", have, n);
    for (int i = 0; i < n && i < have; i++) CHECK_STR(mb_results_columns[i], want[i]);
    return 0;
}

static void fill_ok(mb_row *r) {
    memset(r, 0, sizeof *r);
    r->suite = "smoke";
    r->target = "cpu";
    r->backend = "cpu-f32";
    r->model = "gpt-nano";
    r->method_stack = "adamw";
    r->method_params = "lr=0.003,betas=(0.9, 0.95)";
    r->task = "lm";
    r->batch_size = 4;
    r->seq_len = 32;
    r->precision = "fp32";
    r->repeat = 0;
    r->seed = 1234;
    r->status = "ok";
    r->reason = "";
    r->tracked_peak = 123456789012;
    r->reserved_peak = -1;
    r->device_peak = 0;
    r->runtime_baseline = 1 << 20;
    r->memory_cap = 0;
    for (int c = 0; c < MB_MEM_NCAT; c++) {
        r->peak_by_cat[c] = 1000 + c;
        r->pred_by_cat[c] = 2000 + c;
    }
    r->pred_total = 16028;
    r->baseline = 1;
    r->attention = "flash";
    for (int p = 0; p < MB_PHASE_N; p++) r->phase_peak[p] = 3000 + p;
    r->steps = 10;
    r->warmup_steps = 2;
    r->timed_steps = 8;
    r->step_ms_median = 12.5;
    r->step_ms_p10 = 0.1;
    r->step_ms_p90 = 1.0 / 3.0;
    r->tokens_per_s = 123456.789;
    r->mfu = NAN; /* no MFU on the CPU */
    r->metric = "val_loss";
    r->metric_value = 0.1 + 0.2; /* needs all 17 digits */
    r->metric_stderr = 1e-300;
    r->final_train_loss = 5e-324; /* the smallest subnormal */
    r->git_sha = "0123abcd";
    r->git_dirty = 1;
    r->config_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    r->device_name = "CPU";
    r->device_uuid = NULL; /* written empty */
    r->driver_version = "";
    r->cuda_runtime = "";
    r->cublas_version = "";
    r->host = "h\xc3\xa9te"; /* UTF-8 passes through */
    r->started_at = "2024-01-02T03:04:05Z";
    r->wall_s = 1.25;
}

static const char *tricky = "out of memory: \"weights\", tag h.0\nat step 3";

static int check_rows(mb_ctx *ctx, const char *dir) {
    char path[512], exp[8192];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    mb_results r;
    mb_row row;
    CHECK_OK(ctx, mb_results_open(ctx, &r, path));
    fill_ok(&row);
    CHECK_OK(ctx, mb_results_write(ctx, &r, &row));
    fill_ok(&row);
    row.status = "oom";
    row.reason = tricky;
    row.seed = UINT64_MAX;
    row.memory_cap = 65536;
    row.step_ms_median = row.step_ms_p10 = row.step_ms_p90 = row.tokens_per_s = NAN;
    row.metric_value = row.metric_stderr = row.final_train_loss = row.wall_s = NAN;
    CHECK_OK(ctx, mb_results_write(ctx, &r, &row));
    mb_results_close(&r);

    /* Reopened for append: the header is checked, not written again. */
    CHECK_OK(ctx, mb_results_open(ctx, &r, path));
    fill_ok(&row);
    row.repeat = 1;
    row.tokens_per_s = INFINITY;
    row.step_ms_median = -0.0;
    CHECK_OK(ctx, mb_results_write(ctx, &r, &row));
    mb_results_close(&r);

    const char *text = read_text(path);
    CHECK(text != NULL, "cannot read %s back", path);
    if (!text) return 1;
    header_line(exp, sizeof exp, NULL, NULL, 0);
    CHECK(!strncmp(text, exp, strlen(exp)), "header line:\n%.*s", (int)strlen(exp), text);
    CHECK(strstr(text, ",\"out of memory: \"\"weights\"\", tag h.0\nat step 3\",") != NULL,
          "reason quoted by libcsv:\n%s", text);

    recs rc = {0};
    CHECK_OK(ctx, mb_csv_read(ctx, path, collect, &rc));
    CHECK(rc.n == 4, "%d records", rc.n);
    if (rc.n != 4) return 1;
    /* Lines where each record starts: the oom row's reason spans lines 3 and 4. */
    CHECK(rc.line[0] == 1 && rc.line[1] == 2 && rc.line[2] == 3 && rc.line[3] == 5,
          "record lines %d %d %d %d", rc.line[0], rc.line[1], rc.line[2], rc.line[3]);
    for (int i = 0; i < 4; i++) CHECK(rc.nf[i] == 72, "record %d has %d fields", i, rc.nf[i]);
    for (int i = 0; i < 72 && i < rc.nf[0]; i++) CHECK_STR(rc.f[0][i], mb_results_columns[i]);

    char **ok = rc.f[1], **oom = rc.f[2], **third = rc.f[3];
    CHECK_STR(ok[col("schema_version")], "2");
    CHECK_STR(ok[col("baseline")], "1");
    CHECK_STR(ok[col("attention")], "flash");
    CHECK_STR(ok[col("method_params")], "lr=0.003,betas=(0.9, 0.95)");
    CHECK_STR(ok[col("tracked_peak_bytes")], "123456789012");
    CHECK_STR(ok[col("reserved_peak_bytes")], "-1");
    CHECK_STR(ok[col("peak_kv_cache_bytes")], "1004");
    CHECK_STR(ok[col("pred_other_bytes")], "2007");
    CHECK_STR(ok[col("pred_total_bytes")], "16028");
    CHECK_STR(ok[col("phase_decode_peak_bytes")], "3006");
    CHECK_STR(ok[col("reason")], "");
    CHECK_STR(ok[col("device_uuid")], "");
    CHECK_STR(ok[col("host")], "h\xc3\xa9te");
    CHECK_STR(ok[col("git_dirty")], "1");
    CHECK_STR(ok[col("seed")], "1234");
    /* Doubles: the shortest of %.15g/%.16g/%.17g that reads back exactly. */
    CHECK_STR(ok[col("step_ms_median")], "12.5");
    CHECK_STR(ok[col("step_ms_p10")], "0.1");
    CHECK_STR(ok[col("step_ms_p90")], "0.3333333333333333");
    CHECK_STR(ok[col("tokens_per_s")], "123456.789");
    CHECK_STR(ok[col("mfu")], "");
    CHECK_STR(ok[col("metric_value")], "0.30000000000000004");
    CHECK_STR(ok[col("metric_stderr")], "1e-300");
    CHECK_STR(ok[col("final_train_loss")], "4.94065645841247e-324");
    CHECK_STR(ok[col("wall_s")], "1.25");
    mb_row want;
    fill_ok(&want);
    const struct {
        const char *name;
        double v;
    } dbl[] = {{"step_ms_median", want.step_ms_median},     {"step_ms_p10", want.step_ms_p10},
               {"step_ms_p90", want.step_ms_p90},           {"tokens_per_s", want.tokens_per_s},
               {"metric_value", want.metric_value},         {"metric_stderr", want.metric_stderr},
               {"final_train_loss", want.final_train_loss}, {"wall_s", want.wall_s}};
    for (size_t i = 0; i < sizeof dbl / sizeof *dbl; i++) {
        double back = strtod(ok[col(dbl[i].name)], NULL);
        CHECK(back == dbl[i].v, "%s: wrote %.17g, read back %.17g", dbl[i].name, dbl[i].v, back);
    }

    CHECK_STR(oom[col("status")], "oom");
    CHECK_STR(oom[col("reason")], tricky);
    CHECK_STR(oom[col("seed")], "18446744073709551615");
    CHECK_STR(oom[col("memory_cap_bytes")], "65536");
    const char *nan_cols[] = {
        "step_ms_median", "step_ms_p10",   "step_ms_p90",      "tokens_per_s", "mfu",
        "metric_value",   "metric_stderr", "final_train_loss", "wall_s"};
    for (size_t i = 0; i < sizeof nan_cols / sizeof *nan_cols; i++)
        CHECK(!strcmp(oom[col(nan_cols[i])], ""), "%s = '%s', expected empty for NaN", nan_cols[i],
              oom[col(nan_cols[i])]);
    CHECK_STR(oom[col("config_hash")], want.config_hash);

    CHECK_STR(third[col("repeat")], "1");
    CHECK_STR(third[col("tokens_per_s")], "inf");
    CHECK_STR(third[col("step_ms_median")], "-0");
    CHECK(isinf(strtod(third[col("tokens_per_s")], NULL)), "inf reads back");
    CHECK_STR(third[col("started_at")], "2024-01-02T03:04:05Z");
    recs_free(&rc);

    /* An existing empty file gets the header. */
    snprintf(path, sizeof path, "%s/empty.csv", dir);
    write_text(path, "");
    CHECK_OK(ctx, mb_results_open(ctx, &r, path));
    mb_results_close(&r);
    header_line(exp, sizeof exp, NULL, NULL, 0);
    CHECK_STR(read_text(path), exp);
    return 0;
}

static void expect_err(mb_ctx *ctx, mb_status got, mb_status want, const char *msg, int line) {
    CHECK(got == want, "line %d: status %s, expected %s (%s)", line, mb_status_name(got),
          mb_status_name(want), ctx->err);
    CHECK(!strcmp(ctx->err, msg), "line %d: message\n  \"%s\"\nexpected\n  \"%s\"", line, ctx->err,
          msg);
}

static int check_refusals(mb_ctx *ctx, const char *dir) {
    char path[512], text[8192], msg[2048];
    mb_results r;
    const char *hint = "(written by another schema version? use a new --out folder)";

    snprintf(path, sizeof path, "%s/other.csv", dir);
    header_line(text, sizeof text, "foo", NULL, 0);
    write_text(path, text);
    snprintf(msg, sizeof msg,
             "%s: header differs from this build's at column 21: file has 'foo', expected "
             "'peak_weights_bytes' %s",
             path, hint);
    expect_err(ctx, mb_results_open(ctx, &r, path), MB_EFORMAT, msg, __LINE__);
    CHECK(r.fp == NULL && r.path == NULL, "nothing held after a refusal");

    snprintf(path, sizeof path, "%s/older.csv", dir);
    header_line(text, sizeof text, NULL, NULL, 20);
    write_text(path, text);
    snprintf(msg, sizeof msg,
             "%s: header differs from this build's at column 21: file's header ends, expected "
             "'peak_weights_bytes' %s",
             path, hint);
    expect_err(ctx, mb_results_open(ctx, &r, path), MB_EFORMAT, msg, __LINE__);

    snprintf(path, sizeof path, "%s/newer.csv", dir);
    header_line(text, sizeof text, NULL, "energy_j", 0);
    write_text(path, text);
    snprintf(msg, sizeof msg,
             "%s: header differs from this build's at column 73: file has 'energy_j', expected "
             "the header to end %s",
             path, hint);
    expect_err(ctx, mb_results_open(ctx, &r, path), MB_EFORMAT, msg, __LINE__);

    snprintf(path, sizeof path, "%s/steps_other.csv", dir);
    write_text(path, "config_hash,repeat,step,phase,loss,lr,ms,tracked_bytes,peak_bytes\n");
    snprintf(msg, sizeof msg,
             "%s: header differs from this build's at column 7: file has 'ms', expected 'step_ms' "
             "%s",
             path, hint);
    expect_err(ctx, mb_steps_open(ctx, &r, path), MB_EFORMAT, msg, __LINE__);

    snprintf(path, sizeof path, "%s/torn.csv", dir);
    header_line(text, sizeof text, NULL, NULL, 0);
    strcat(text, "1,\"smoke\",\"cp");
    write_text(path, text);
    snprintf(msg, sizeof msg,
             "%s: the last row is incomplete (an interrupted write?): rerun with --resume to "
             "drop it, or use a new --out folder",
             path);
    expect_err(ctx, mb_results_open(ctx, &r, path), MB_EFORMAT, msg, __LINE__);

    /* --resume's repair: the torn row goes, the header and the complete rows stay, and the file
     * then opens; a whole file and a missing one are left as they are. */
    size_t dropped = 99, whole = strlen(text) - strlen("1,\"smoke\",\"cp");
    CHECK_OK(ctx, mb_results_drop_partial(ctx, path, &dropped));
    CHECK_EQ_U(dropped, strlen("1,\"smoke\",\"cp"));
    const char *back = read_text(path); /* a static buffer */
    CHECK(back && strlen(back) == whole && !strncmp(back, text, whole), "torn row dropped");
    CHECK_OK(ctx, mb_results_drop_partial(ctx, path, &dropped));
    CHECK_EQ_U(dropped, 0);
    CHECK_OK(ctx, mb_results_open(ctx, &r, path));
    mb_results_close(&r);
    snprintf(path, sizeof path, "%s/torn2.csv", dir);
    write_text(path, "no newline at all"); /* a header torn before its end: nothing is kept */
    CHECK_OK(ctx, mb_results_drop_partial(ctx, path, &dropped));
    CHECK_EQ_U(dropped, 17);
    back = read_text(path);
    CHECK(back && !*back, "torn header dropped");
    snprintf(path, sizeof path, "%s/absent.csv", dir);
    CHECK_OK(ctx, mb_results_drop_partial(ctx, path, &dropped));
    CHECK_EQ_U(dropped, 0);

    snprintf(path, sizeof path, "%s/missing_dir/results.csv", dir);
    snprintf(msg, sizeof msg, "cannot write %s: No such file or directory", path);
    expect_err(ctx, mb_results_open(ctx, &r, path), MB_EIO, msg, __LINE__);

    /* a symbolic link planted at the results file's name is refused, its target untouched */
    char target[4096];
    snprintf(target, sizeof target, "%s/victim.txt", dir);
    write_text(target, "precious\n");
    snprintf(path, sizeof path, "%s/linked.csv", dir);
    CHECK(symlink(target, path) == 0, "symlink");
    snprintf(msg, sizeof msg, "cannot write %s: it is a symbolic link (refused)", path);
    expect_err(ctx, mb_results_open(ctx, &r, path), MB_EIO, msg, __LINE__);
    back = read_text(target);
    CHECK(back && !strcmp(back, "precious\n"), "the link's target is untouched");
    /* nor does --resume's cut of a torn row follow one */
    write_text(target, "precious, torn");
    snprintf(msg, sizeof msg, "%s: cannot open: it is a symbolic link (refused)", path);
    expect_err(ctx, mb_results_drop_partial(ctx, path, &dropped), MB_EIO, msg, __LINE__);
    back = read_text(target);
    CHECK(back && !strcmp(back, "precious, torn"), "the link's target is not cut");
    return 0;
}

static int check_reader(mb_ctx *ctx, const char *dir) {
    char path[512], msg[1024];
    const char *strict = "error parsing data while strict checking enabled";
    recs rc = {0};

    /* An unterminated quote at EOF: reported where its record starts (line 2), not at EOF. */
    snprintf(path, sizeof path, "%s/m1.csv", dir);
    write_text(path, "a,b\nc,\"d\n\ne\n");
    snprintf(msg, sizeof msg, "%s:2: %s", path, strict);
    expect_err(ctx, mb_csv_read(ctx, path, collect, &rc), MB_EFORMAT, msg, __LINE__);
    CHECK(rc.n == 1 && rc.line[0] == 1, "records before the error: %d", rc.n);
    recs_free(&rc);

    /* A quote inside an unquoted field, after a multi-line record and blank lines. */
    snprintf(path, sizeof path, "%s/m2.csv", dir);
    write_text(path, "h\n\"x\ny\",z\n\n  \nok,bad\"q\n");
    snprintf(msg, sizeof msg, "%s:6: %s", path, strict);
    expect_err(ctx, mb_csv_read(ctx, path, collect, &rc), MB_EFORMAT, msg, __LINE__);
    CHECK(rc.n == 2 && rc.line[0] == 1 && rc.line[1] == 2, "records before the error: %d", rc.n);
    if (rc.n == 2) CHECK_STR(rc.f[1][0], "x\ny");
    recs_free(&rc);

    /* Text after a closing quote. */
    snprintf(path, sizeof path, "%s/m3.csv", dir);
    write_text(path, "\"a\"b,c\n");
    snprintf(msg, sizeof msg, "%s:1: %s", path, strict);
    expect_err(ctx, mb_csv_read(ctx, path, collect, &rc), MB_EFORMAT, msg, __LINE__);
    recs_free(&rc);

    /* CRLF line ends, blank lines and no newline at the end are fine. */
    snprintf(path, sizeof path, "%s/crlf.csv", dir);
    write_text(path, "a,b\r\n\r\n\"c\r\nd\",\r\nlast,\"\"");
    CHECK_OK(ctx, mb_csv_read(ctx, path, collect, &rc));
    CHECK(rc.n == 3 && rc.line[0] == 1 && rc.line[1] == 3 && rc.line[2] == 5,
          "crlf: %d records, lines %d %d %d", rc.n, rc.line[0], rc.line[1], rc.line[2]);
    if (rc.n == 3) {
        CHECK_STR(rc.f[1][0], "c\r\nd");
        CHECK(rc.nf[1] == 2 && !strcmp(rc.f[1][1], ""), "empty last field");
        CHECK(rc.nf[2] == 2 && !strcmp(rc.f[2][0], "last") && !strcmp(rc.f[2][1], ""),
              "last record without a newline");
    }
    recs_free(&rc);

    /* A non-zero return from the callback stops reading: MB_EINVAL. */
    rc.stop_at = 3;
    snprintf(msg, sizeof msg, "%s:3: reading stopped by the row callback (it returned 7)", path);
    expect_err(ctx, mb_csv_read(ctx, path, collect, &rc), MB_EINVAL, msg, __LINE__);
    CHECK(rc.n == 1, "one record before the stop, got %d", rc.n);
    recs_free(&rc);

    snprintf(path, sizeof path, "%s/nope.csv", dir);
    snprintf(msg, sizeof msg, "%s: cannot open: No such file or directory", path);
    expect_err(ctx, mb_csv_read(ctx, path, collect, &rc), MB_EIO, msg, __LINE__);
    return 0;
}

static int check_steps(mb_ctx *ctx, const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/steps.csv", dir);
    mb_results s;
    CHECK_OK(ctx, mb_steps_open(ctx, &s, path));
    mb_step_row a = {"abc", "train", 0, 7, 2.5, 3e-4, 1.25, 4096, 8192};
    mb_step_row b = {"abc", "eval", 1, 7, (double)3.1f, 3e-4, NAN, 4096, 9000};
    CHECK_OK(ctx, mb_steps_write(ctx, &s, &a));
    mb_results_close(&s);
    CHECK_OK(ctx, mb_steps_open(ctx, &s, path));
    CHECK_OK(ctx, mb_steps_write(ctx, &s, &b));
    mb_results_close(&s);
    CHECK_STR(read_text(path),
              "config_hash,repeat,step,phase,loss,lr,step_ms,tracked_bytes,peak_bytes\n"
              "\"abc\",0,7,\"train\",2.5,0.0003,1.25,4096,8192\n"
              "\"abc\",1,7,\"eval\",3.0999999046325684,0.0003,,4096,9000\n");
    recs rc = {0};
    CHECK_OK(ctx, mb_csv_read(ctx, path, collect, &rc));
    CHECK(rc.n == 3 && rc.nf[2] == 9, "steps: %d records", rc.n);
    if (rc.n == 3) {
        CHECK(strtod(rc.f[2][4], NULL) == (double)3.1f, "loss round trip");
        CHECK_STR(rc.f[2][6], "");
        CHECK_STR(rc.f[2][3], "eval");
    }
    recs_free(&rc);
    return 0;
}

static int check_json(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    CHECK(fp != NULL, "open_memstream");
    if (!fp) return 1;
    mb_json j;
    mb_json_begin(&j, fp);
    mb_json_int(&j, "schema_version", 1);
    mb_json_str(&j, "text", "q\"b\\s/\n\t\r\b\f\x01\x1f h\xc3\xa9 \x7f");
    mb_json_num(&j, "nan", NAN);
    mb_json_num(&j, "inf", -INFINITY);
    mb_json_num(&j, "tenth", 0.1);
    mb_json_num(&j, "big", 1e300);
    mb_json_num(&j, "whole", 3.0);
    mb_json_int(&j, "min", INT64_MIN);
    mb_json_bool(&j, "yes", 1);
    mb_json_bool(&j, "no", 0);
    mb_json_str(&j, "none", NULL);
    mb_json_key_obj(&j, "empty");
    mb_json_close(&j);
    mb_json_key_arr(&j, "list");
    mb_json_int(&j, NULL, -5);
    mb_json_obj(&j);
    mb_json_str(&j, "k", "v");
    mb_json_key_arr(&j, "e");
    mb_json_close(&j);
    mb_json_close(&j);
    mb_json_num(&j, NULL, 2.5);
    mb_json_str(&j, NULL, "s");
    mb_json_close(&j);
    mb_json_end(&j);
    CHECK(j.err == 0, "no error");
    fclose(fp);
    CHECK_STR(buf, "{\n"
                   "  \"schema_version\": 1,\n"
                   "  \"text\": \"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0001\\u001f h\xc3\xa9 \x7f\",\n"
                   "  \"nan\": null,\n"
                   "  \"inf\": null,\n"
                   "  \"tenth\": 0.10000000000000001,\n"
                   "  \"big\": 1.0000000000000001e+300,\n"
                   "  \"whole\": 3,\n"
                   "  \"min\": -9223372036854775808,\n"
                   "  \"yes\": true,\n"
                   "  \"no\": false,\n"
                   "  \"none\": null,\n"
                   "  \"empty\": {},\n"
                   "  \"list\": [\n"
                   "    -5,\n"
                   "    {\n"
                   "      \"k\": \"v\",\n"
                   "      \"e\": []\n"
                   "    },\n"
                   "    2.5,\n"
                   "    \"s\"\n"
                   "  ]\n"
                   "}\n");
    free(buf);

    /* Misuse is recorded, not fatal: a member without a key, an unbalanced end. */
    buf = NULL;
    fp = open_memstream(&buf, &len);
    if (!fp) return 1;
    mb_json_begin(&j, fp);
    mb_json_key_arr(&j, "a");
    mb_json_end(&j);
    CHECK(j.err == 1, "unbalanced end flagged");
    mb_json_begin(&j, fp);
    mb_json_int(&j, NULL, 1);
    CHECK(j.err == 1, "keyless member flagged");
    fclose(fp);
    free(buf);
    return 0;
}

int main(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    char dir[] = "/tmp/mb_test_results_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    if (check_columns() || check_rows(&ctx, dir) || check_refusals(&ctx, dir) ||
        check_reader(&ctx, dir) || check_steps(&ctx, dir) || check_json())
        mb_check_failures++;
    static const char *const files[] = {"results.csv", "empty.csv",       "other.csv", "older.csv",
                                        "newer.csv",   "steps_other.csv", "torn.csv",  "torn2.csv",
                                        "m1.csv",      "m2.csv",          "m3.csv",    "crlf.csv",
                                        "steps.csv"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    rmdir(dir);
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
