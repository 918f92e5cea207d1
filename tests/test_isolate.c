/* tests/test_isolate.c — --isolate and --cell-timeout: a method that segfaults costs its own cell
 * an `error` row naming the signal and the next cells still run; a method that hangs is killed
 * and gets a `timeout` row, promptly. argv: membench binary, source dir, build dir. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../reports/csvtable.h"
#include "check.h"
#include "proc.h"

static const char *const head =
    "seed: 3\n"
    "defaults: {steps: 4, warmup_steps: 1, precision: fp32, eval: {every: 4, batches: 1}}\n"
    "targets: [{name: cpu, backend: cpu}]\n"
    "models: [{name: gpt-nano, preset: gpt-nano}]\n"
    "data: {name: synthetic, vocab: 256}\n"
    "task: {kind: train, batch_size: 2}\n";

static int write_suite(const char *path, const char *name, const char *methods) {
    FILE *f = fopen(path, "w");
    CHECK(f && fprintf(f, "suite: %s\n%smethods:\n%s", name, head, methods) > 0 && fclose(f) == 0,
          "cannot write %s", path);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_isolate MEMBENCH SOURCE_DIR BUILD_DIR\n");
        return 2;
    }
    const char *bin = argv[1], *src = argv[2], *build = argv[3];
    char tmp[64] = "/tmp/mb_test_isolate_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char suite[256], dir[256], cmd[2048];

    /* A segfault in the middle cell: an error row naming the signal; the cells around it ok. */
    snprintf(suite, sizeof suite, "%s/segv.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/segv", tmp);
    if (write_suite(suite, "segv",
                    "  - {name: adamw, lr: 0.003}\n"
                    "  - {name: segv}\n"
                    "  - {name: adamw, lr: 0.001}\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "%s run --isolate --plugin %s/libmb_segv.so --out %s %s", bin,
             build, dir, suite);
    out o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 1, "segv run: exit %d, expected 1: %s", o.rc, o.se);
    const char *reason = "the cell's process was killed by signal 11 (SIGSEGV)";
    CHECK(strstr(o.se, reason), "segv run's progress lacks '%s': %s", reason, o.se);
    /* The summary table: printed once (stdio flushed before each fork), every cell in it. */
    const char *first = strstr(o.so, "cell ");
    CHECK(first && !strstr(first + 1, "\ncell ") && strstr(o.so, "/segv/") &&
              strstr(o.so, " error "),
          "the summary is missing or printed twice: %s", o.so);
    drop(&o);
    mb_table t;
    if (load_results(dir, &t)) return 1;
    int cs = mb_table_col(&t, "status"), cr = mb_table_col(&t, "reason"),
        cm = mb_table_col(&t, "method_stack"), cp = mb_table_col(&t, "method_params");
    CHECK(t.nrows == 3, "segv run: %d rows, expected 3", t.nrows);
    for (int i = 0; i < t.nrows && i < 3; i++) {
        const char *m = mb_table_get(&t, i, cm), *st = mb_table_get(&t, i, cs);
        if (i == 1) {
            CHECK_STR(m, "segv");
            CHECK_STR(st, "error");
            CHECK_STR(mb_table_get(&t, i, cr), reason);
        } else {
            CHECK_STR(m, "adamw");
            CHECK_STR(st, "ok");
            CHECK(strstr(mb_table_get(&t, i, cp), i == 0 ? "0.003" : "0.001"), "row %d: %s", i,
                  mb_table_get(&t, i, cp));
        }
    }
    mb_table_free(&t);
    snprintf(cmd, sizeof cmd, "%s/run.json", dir);
    char *js = slurp(cmd);
    CHECK(js && strstr(js, "\"complete\": true") && strstr(js, "\"status\": \"error\"") &&
              strstr(js, "\"status\": \"ok\""),
          "run.json: %s", js ? js : "(none)");
    free(js);

    /* A hang: killed after --cell-timeout 2, a timeout row, well under 30 s in all. */
    snprintf(suite, sizeof suite, "%s/hang.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/hang", tmp);
    if (write_suite(suite, "hang", "  - {name: hang}\n")) return 1;
    snprintf(cmd, sizeof cmd, "%s run --quiet --cell-timeout 2 --plugin %s/libmb_hang.so --out %s %s",
             bin, build, dir, suite);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    o = run_capture(src, tmp, cmd);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    CHECK(o.rc == 1, "hang run: exit %d, expected 1: %s", o.rc, o.se);
    CHECK(secs >= 2 && secs < 15, "hang run took %.1f s", secs);
    drop(&o);
    if (load_results(dir, &t)) return 1;
    CHECK(t.nrows == 1, "hang run: %d rows, expected 1", t.nrows);
    if (t.nrows == 1) {
        CHECK_STR(mb_table_get(&t, 0, mb_table_col(&t, "status")), "timeout");
        CHECK_STR(mb_table_get(&t, 0, mb_table_col(&t, "reason")),
                  "the cell ran past --cell-timeout 2 s and was killed");
    }
    mb_table_free(&t);

    /* A bad --cell-timeout is a usage error. */
    snprintf(cmd, sizeof cmd, "%s run --cell-timeout 0 %s", bin, suite);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 2 && strstr(o.se, "--cell-timeout takes a number of seconds > 0, got '0'"),
          "--cell-timeout 0: exit %d: %s", o.rc, o.se);
    drop(&o);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    CHECK_DONE();
}
