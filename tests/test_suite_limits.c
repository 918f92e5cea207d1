/* tests/test_suite_limits.c — the suite loader and planner against inputs that used to cost or
 * lose: a plan too big to build, long lists with a late duplicate (timed), checkpoint names that
 * would overwrite results, a NUL that cut a value short, and a checkpoint that is a FIFO. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../harness/plan.h"
#include "../harness/suite.h"
#include "check.h"

/* The timed cases: the quadratic checks took 20 s and more on these lists. A case passes when it
 * takes under FAST_S, or (on a loaded machine or a sanitizer build) under SLOWER times what reading
 * the same text costs when the loader stops at its first key. */
#define FAST_S 1.0
#define SLOWER 3.0

#define HEAD "suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A growing text for generated suites; aborts the test on allocation failure. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

__attribute__((format(printf, 2, 3))) static void add(text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->cap + (size_t)n + 1) * 2;
        if (!(t->s = realloc(t->s, t->cap))) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* Column (1-based) of byte offset `off` on its line. */
static size_t col_of(const text *t, size_t off) {
    size_t c = 1;
    while (off > 0 && t->s[off - 1] != '\n') off--, c++;
    return c;
}

/* Loads `src` as t.yaml (a file of several suites when `many`), expects MB_EINVAL and exactly
 * `msg`; returns the seconds the load took. */
static double expect_fail(mb_ctx *ctx, const mb_registry *reg, const char *src, int many,
                          const char *msg, int line) {
    double t0 = now_s();
    mb_status st;
    if (many) {
        mb_suite_file f;
        st = mb_suite_file_load_string(ctx, reg, "t.yaml", src, &f);
        if (st == MB_OK) mb_suite_file_free(&f);
    } else {
        mb_suite s;
        st = mb_suite_load_string(ctx, reg, "t.yaml", src, &s);
        if (st == MB_OK) mb_suite_free(&s);
    }
    double dt = now_s() - t0;
    CHECK(st == MB_EINVAL, "case at line %d: status %s (%s)", line, mb_status_name(st),
          st == MB_OK ? "accepted" : ctx->err);
    CHECK_STR(ctx->err, msg);
    return dt;
}
#define BAD(src, msg) expect_fail(ctx, reg, (src), 0, (msg), __LINE__)

/* Seconds to load `src`, whatever the outcome. */
static double load_time(mb_ctx *ctx, const mb_registry *reg, const char *src) {
    double t0 = now_s();
    mb_suite_file f;
    if (mb_suite_file_load_string(ctx, reg, "t.yaml", src, &f) == MB_OK) mb_suite_file_free(&f);
    return now_s() - t0;
}

/* A timed case, `dt` seconds for `src`, against its limits (see FAST_S). What reading the text
 * costs: `base`, or else `src` after a "seed: x" line (refused at its first key). Over the limit,
 * both are timed once more (another job on the machine slows one run, not two alike). */
static void fast_enough(mb_ctx *ctx, const mb_registry *reg, const char *src, const char *base,
                        double dt, const char *what) {
    char *seeded = NULL;
    if (!base) {
        size_t n = strlen(src);
        if (!(seeded = malloc(n + 9))) return;
        memcpy(seeded, "seed: x\n", 8);
        memcpy(seeded + 8, src, n + 1);
        base = seeded;
    }
    double read = load_time(ctx, reg, base);
    if (!(dt < FAST_S || dt < SLOWER * read)) {
        double again = load_time(ctx, reg, src), read2 = load_time(ctx, reg, base);
        dt = again < dt ? again : dt;
        read = read2 > read ? read2 : read;
    }
    printf("%s: %.3f s (reading the text alone: %.3f s)\n", what, dt, read);
    CHECK(dt < FAST_S || dt < SLOWER * read, "%s took %.3f s, reading it %.3f s", what, dt, read);
    free(seeded);
}

/* 3000 x 3000 matrix values in a 30 KB suite: refused at load, before anything is planned, with
 * the factors named and the list that passes the limit pointed at; the planner refuses a suite
 * over the limit (changed after loading) before allocating a cell. */
static int test_cell_limit(mb_ctx *ctx, const mb_registry *reg) {
    text t = {0};
    add(&t, HEAD "matrix:\n  batch_size: [");
    for (int i = 1; i <= 3000; i++) add(&t, "%s%d", i > 1 ? ", " : "", i);
    add(&t, "]\n  seq_len: [");
    for (int i = 1; i <= 3000; i++) add(&t, "%s%d", i > 1 ? ", " : "", i);
    add(&t, "]\n");
    CHECK(t.len < 40000, "the suite is %zu bytes", t.len);
    double dt =
        BAD(t.s, "t.yaml:6:12: error: the suite plans 9000000 cells (targets 1 x models 1 x "
                 "methods 1 x matrix.batch_size 3000 x matrix.seq_len 3000 x repeat 1), "
                 "more than the limit of 100000; split it into several suites or shorten "
                 "its lists");
    fast_enough(ctx, reg, t.s, NULL, dt, "a 3000 x 3000 matrix, refused");

    /* the list that passes the limit, in plan order (targets, models, methods, matrix, repeat) */
    BAD(HEAD "repeat: 1000\nmatrix: {precision: [fp32, bf16], batch_size: [1, 2, 3, 4, 5, 6, 7, "
             "8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, "
             "29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, "
             "50, 51]}\n",
        "t.yaml:4:9: error: the suite plans 102000 cells (targets 1 x models 1 x methods 1 x "
        "matrix.precision 2 x matrix.batch_size 51 x repeat 1000), more than the limit of "
        "100000; split it into several suites or shorten its lists");
    /* at the limit: loaded */
    mb_suite s;
    free(t.s);
    t = (text){0};
    add(&t, HEAD "repeat: 500\nmatrix: {batch_size: [");
    for (int i = 1; i <= 200; i++) add(&t, "%s%d", i > 1 ? ", " : "", i);
    add(&t, "]}\n");
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml", t.s, &s));
    /* over it after loading (a suite changed or built in code): the planner refuses it first */
    s.repeat = 501;
    mb_plan p;
    memset(&p, 0xA5, sizeof p);
    double t0 = now_s();
    mb_status st = mb_plan_build(ctx, &s, NULL, &p);
    dt = now_s() - t0;
    CHECK(st == MB_EINVAL, "planned %s", mb_status_name(st));
    CHECK_STR(ctx->err, "t.yaml: error: the suite plans 100200 cells (targets 1 x models 1 x "
                        "methods 1 x matrix.batch_size 200 x repeat 501), more than the limit of "
                        "100000; split it into several suites or shorten its lists");
    CHECK(p.n == 0 && p.cells == NULL, "a refused plan is empty");
    CHECK(dt < 0.5, "refusing the plan took %.3f s", dt);
    if (st == MB_OK) mb_plan_free(&p);
    /* at the limit it plans (a filter keeps 200 of the 100,000 cells, so the test stays short) */
    s.repeat = 500;
    mb_filter last = {.n = 1, .pat = {"*/r499"}};
    CHECK_OK(ctx, mb_plan_build(ctx, &s, &last, &p));
    CHECK(p.n == 200 && p.cells[199].repeat == 499, "%d cells", p.n);
    mb_plan_free(&p);
    mb_suite_free(&s);
    free(t.s);
    return 0;
}

/* Long lists with their duplicate last: found in linear time, with the message the short lists
 * give. Matrix values (300,000), keys of a method entry, model and target names, documents. */
static int test_fast_duplicates(mb_ctx *ctx, const mb_registry *reg) {
    enum { NVALUES = 300000, NNAMES = 100000, NDOCS = 30000 };
    char msg[256];
    text t = {0};
    double dt;

    add(&t, HEAD "matrix: {batch_size: [");
    size_t first = t.len;
    for (int i = 1; i <= NVALUES; i++) add(&t, "%s%d", i > 1 ? ", " : "", i);
    add(&t, ", ");
    size_t again = t.len;
    add(&t, "1]}\n");
    snprintf(msg, sizeof msg,
             "t.yaml:4:%zu: error: matrix.batch_size lists 1 twice (first at line 4, column %zu)",
             col_of(&t, again), col_of(&t, first));
    dt = BAD(t.s, msg);
    fast_enough(ctx, reg, t.s, NULL, dt, "300,001 matrix values, the last a duplicate");

    /* 300,000 distinct values: no duplicate, and too many cells */
    t.len = again - 2;
    add(&t, "]}\n");
    dt = BAD(t.s, "t.yaml:4:22: error: the suite plans 300000 cells (targets 1 x models 1 x "
                  "methods 1 x matrix.batch_size 300000 x repeat 1), more than the limit of "
                  "100000; split it into several suites or shorten its lists");
    fast_enough(ctx, reg, t.s, NULL, dt, "300,000 distinct matrix values");

    /* the keys of a method entry (any key may be a method's name, so they are only checked for
     * duplicates before the stack is read) */
    t.len = 0;
    add(&t, "suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods:\n  - stack: [adamw]\n");
    for (int i = 0; i < NNAMES; i++) add(&t, "    k%d: 1\n", i);
    add(&t, "    k0: 2\n");
    snprintf(msg, sizeof msg, "t.yaml:%d:5: error: duplicate key 'k0' (first at line 5)",
             NNAMES + 5);
    dt = BAD(t.s, msg);
    fast_enough(ctx, reg, t.s, NULL, dt, "100,001 keys of a method entry, the last a duplicate");

    t.len = 0;
    add(&t, "suite: x\nmethods: [adamw]\nmodels:\n");
    for (int i = 0; i < NNAMES; i++) add(&t, "  - {name: m%d, preset: gpt-nano}\n", i);
    add(&t, "  - {name: m0, preset: gpt-nano}\n");
    snprintf(msg, sizeof msg, "t.yaml:%d:12: error: duplicate model name 'm0' (first at line 4)",
             NNAMES + 4);
    dt = BAD(t.s, msg);
    fast_enough(ctx, reg, t.s, NULL, dt, "100,001 models, the last a duplicate name");

    t.len = 0;
    add(&t, HEAD "targets:\n");
    for (int i = 0; i < NNAMES; i++) add(&t, "  - {name: t%d}\n", i);
    add(&t, "  - {name: t0}\n");
    snprintf(msg, sizeof msg, "t.yaml:%d:12: error: duplicate target name 't0' (first at line 5)",
             NNAMES + 5);
    dt = BAD(t.s, msg);
    fast_enough(ctx, reg, t.s, NULL, dt, "100,001 targets, the last a duplicate name");

    /* documents: the baseline reads them all and stops at the last one's first key */
    t.len = 0;
    for (int i = 0; i < NDOCS; i++)
        add(&t, "suite: s%d\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n---\n", i);
    size_t last = t.len;
    add(&t, "seed: x\nsuite: s0\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n");
    char *base = strdup(t.s);
    t.len = last;
    add(&t, "suite: s0\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n");
    snprintf(msg, sizeof msg,
             "t.yaml:%d:8: error: suite s0 is the name of an earlier document of this file",
             4 * NDOCS + 1);
    dt = expect_fail(ctx, reg, t.s, 1, msg, __LINE__);
    if (base)
        fast_enough(ctx, reg, t.s, base, dt, "30,001 documents, the last a duplicate suite name");
    free(base);

    /* two method entries the same: every cell of one would be a cell of the other */
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\n"
        "methods: [adamw, {name: adamw, lr: 0.0003}]\n",
        "t.yaml:3:18: error: duplicate method stack 'adamw' with the same parameters (first at "
        "line 3, column 11)");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods:\n"
        "  - {stack: [lora, adamw], lora: {rank: 4}}\n  - sgd\n"
        "  - {stack: [lora, adamw], adamw: {lr: 0.0003}, lora: {rank: 4}}\n",
        "t.yaml:6:5: error: duplicate method stack 'lora+adamw' with the same parameters (first "
        "at line 4)");
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml",
                                       "suite: x\nmodels: [{name: m, preset: gpt-nano}]\n"
                                       "methods: [adamw, {name: adamw, lr: 0.001}]\n",
                                       &s));
    /* the planner still refuses two cells of one configuration (a suite changed in code) */
    s.stacks[1].items[0].vals[0] = s.stacks[0].items[0].vals[0];
    mb_plan p;
    CHECK(mb_plan_build(ctx, &s, NULL, &p) == MB_EINVAL, "two cells of one configuration");
    CHECK_STR(ctx->err, "t.yaml: error: cells 0 and 1 have the same configuration "
                        "(cpu/m/adamw(lr=0.0003)/bs=4/seq=32/fp32/r0); their results would mix");
    mb_suite_free(&s);
    free(t.s);
    return 0;
}

/* save: {checkpoint: NAME}: a plain name ending in .safetensors, never a file membench writes. */
static int test_save_names(mb_ctx *ctx, const mb_registry *reg) {
    static const char *const reserved[] = {"results.csv", "steps.csv",  "run.json",
                                           "report.md",   "index.html", "memory.svg"};
    char src[256], msg[512];
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        snprintf(src, sizeof src, HEAD "save: {checkpoint: %s}\n", reserved[i]);
        snprintf(msg, sizeof msg,
                 "t.yaml:4:20: error: save.checkpoint '%s' is the name of a file membench writes "
                 "into the results folder; name the checkpoint NAME.safetensors",
                 reserved[i]);
        BAD(src, msg);
    }
    static const char *const not_plain[] = {".",
                                            "..",
                                            ".lock",
                                            ".w.safetensors",
                                            "out/w.safetensors",
                                            "'../w.safetensors'",
                                            "/tmp/w.safetensors"};
    for (size_t i = 0; i < sizeof not_plain / sizeof not_plain[0]; i++) {
        const char *v = not_plain[i];
        size_t n = strlen(v);
        snprintf(src, sizeof src, HEAD "save: {checkpoint: %s}\n", v);
        snprintf(msg, sizeof msg,
                 "t.yaml:4:20: error: save.checkpoint must be a plain file name (no '/', not "
                 "starting with '.'), written into the results folder; got '%.*s'",
                 v[0] == '\'' ? (int)n - 2 : (int)n, v + (v[0] == '\''));
        BAD(src, msg);
    }
    BAD(HEAD "save: {checkpoint: w.st}\n",
        "t.yaml:4:20: error: save.checkpoint must end in .safetensors, got 'w.st'");
    BAD(HEAD "save: {checkpoint: ''}\n", "t.yaml:4:20: error: save.checkpoint must not be empty");
    mb_suite s;
    CHECK_OK(ctx,
             mb_suite_load_string(ctx, reg, "t.yaml",
                                  HEAD "save: {checkpoint: gpt-small-sotu.safetensors}\n", &s));
    CHECK_STR(s.save_checkpoint, "gpt-small-sotu.safetensors");
    mb_suite_free(&s);
    return 0;
}

/* "\0" in a double-quoted scalar: refused where it is, not cut short to a valid value. */
static int test_nul(mb_ctx *ctx, const mb_registry *reg) {
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [\"adamw\\0junk\"]\n",
        "t.yaml:3:11: error: a value must not contain a NUL character (\\0); this one has one "
        "after 'adamw'");
    BAD(HEAD "\"see\\0d\": 1\n",
        "t.yaml:4:1: error: a value must not contain a NUL character (\\0); this one has one "
        "after 'see'");
    BAD("suite: \"\\0\"\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n",
        "t.yaml:1:8: error: a value must not contain a NUL character (\\0); this one has one "
        "after ''");
    return 0;
}

/* init: {checkpoint: FILE} that exists must be a regular file: a FIFO would block the run for
 * ever, a directory fail late. Missing is left to the runner (a later run may write it). */
static int test_checkpoint_kind(mb_ctx *ctx, const mb_registry *reg) {
    char dir[] = "/tmp/mb-limits-XXXXXX", fifo[256], sub[256], reg_file[256], src[1024], msg[1024];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(fifo, sizeof fifo, "%s/ck.safetensors", dir);
    snprintf(sub, sizeof sub, "%s/d.safetensors", dir);
    snprintf(reg_file, sizeof reg_file, "%s/r.safetensors", dir);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    CHECK(mkdir(sub, 0700) == 0, "mkdir: %s", strerror(errno));
    FILE *f = fopen(reg_file, "wb");
    CHECK(f && fclose(f) == 0, "cannot write %s", reg_file);

    snprintf(src, sizeof src, HEAD "init: {checkpoint: %s}\n", fifo);
    snprintf(msg, sizeof msg,
             "t.yaml:4:20: error: init.checkpoint %s is a FIFO; expected a regular file", fifo);
    BAD(src, msg);
    snprintf(src, sizeof src, HEAD "init: {checkpoint: %s}\n", sub);
    snprintf(msg, sizeof msg,
             "t.yaml:4:20: error: init.checkpoint %s is a directory; expected a regular file", sub);
    BAD(src, msg);
    BAD(HEAD "init: {checkpoint: /dev/null}\n",
        "t.yaml:4:20: error: init.checkpoint /dev/null is a character device; expected a regular "
        "file");

    /* missing, or regular: loaded */
    mb_suite s;
    snprintf(src, sizeof src, HEAD "init: {checkpoint: %s/none.safetensors}\n", dir);
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml", src, &s));
    mb_suite_free(&s);
    snprintf(src, sizeof src, HEAD "init: {checkpoint: %s}\n", reg_file);
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml", src, &s));
    /* a FIFO by the time the run plans (replaced after loading, or an earlier document's output
     * resolved by `membench run`): refused before the runner opens it */
    mb_plan p;
    CHECK_OK(ctx, mb_plan_build(ctx, &s, NULL, &p));
    mb_plan_free(&p);
    free(s.init_checkpoint);
    s.init_checkpoint = strdup(fifo);
    CHECK(mb_plan_build(ctx, &s, NULL, &p) == MB_EINVAL, "a FIFO checkpoint planned");
    snprintf(msg, sizeof msg,
             "t.yaml: error: init.checkpoint %s is a FIFO; expected a regular file", fifo);
    CHECK_STR(ctx->err, msg);
    mb_suite_free(&s);

    unlink(fifo);
    rmdir(sub);
    unlink(reg_file);
    rmdir(dir);
    return 0;
}

int main(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_registry reg;
    mb_registry_init(&reg);
    if (test_cell_limit(&ctx, &reg)) return 1;
    if (test_fast_duplicates(&ctx, &reg)) return 1;
    if (test_save_names(&ctx, &reg)) return 1;
    if (test_nul(&ctx, &reg)) return 1;
    if (test_checkpoint_kind(&ctx, &reg)) return 1;
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
