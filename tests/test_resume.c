/* tests/test_resume.c — surviving faults: a run killed with SIGKILL mid-cell (plus a torn row
 * appended, as if the kill had hit a write) and finished with --resume equals an uninterrupted run
 * in every deterministic column; SIGINT stops after the cell in flight with exit 130.
 * argv: membench binary, source dir. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../reports/csvtable.h"
#include "check.h"
#include "proc.h"

static const char *bin, *src;
static char tmp[64];

/* 6 cells of 200 steps: seconds in all, so a signal after the first row lands mid-run. */
static const char *suite_text =
    "suite: resume\n"
    "seed: 7\n"
    "defaults: {steps: 200, warmup_steps: 2, precision: fp32, eval: {every: 100, batches: 2}}\n"
    "targets: [{name: cpu, backend: cpu}]\n"
    "models: [{name: gpt-nano, preset: gpt-nano}]\n"
    "data: {name: synthetic, vocab: 256}\n"
    "task: {kind: train, batch_size: 4}\n"
    "methods:\n"
    "  - {name: adamw, lr: 0.003}\n"
    "  - {name: sgd, lr: 0.1, momentum: 0.9}\n"
    "matrix: {batch_size: [2, 4, 8]}\n";
enum { NCELLS = 6 };

/* Columns that differ from run to run: timing, and the provenance of when and where. */
static int timing_col(const char *name) {
    static const char *const skip[] = {"step_ms_median", "step_ms_p10", "step_ms_p90",
                                       "tokens_per_s",   "wall_s",      "started_at",
                                       "git_sha",        "git_dirty",   "host",
                                       "device_name",    "step_ms",     NULL};
    for (int i = 0; skip[i]; i++)
        if (!strcmp(name, skip[i])) return 1;
    return 0;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

/* Starts `membench run --quiet --out DIR SUITE` with stdout/stderr into DIR.so/DIR.se. */
static pid_t start_run(const char *dir, const char *suite) {
    char so[256], se[256];
    snprintf(so, sizeof so, "%s.so", dir);
    snprintf(se, sizeof se, "%s.se", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(so, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(se, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(127);
        execl(bin, bin, "run", "--quiet", "--out", dir, suite, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits until DIR/results.csv holds the header and at least one row, or the run ended (-1). */
static int wait_first_row(pid_t pid, const char *dir) {
    char res[256];
    snprintf(res, sizeof res, "%s/results.csv", dir);
    for (int i = 0; i < 120000; i++) { /* 10 minutes at most */
        if (count_lines(res) >= 2) return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return -1;
}

/* Every row of `got` has a row of `ref` with its config hash, equal in every deterministic column;
 * and no hash appears twice in `got`. */
static int same_rows(const mb_table *ref, const mb_table *got, const char *what) {
    int hr = mb_table_col(ref, "config_hash"), hg = mb_table_col(got, "config_hash");
    CHECK(hr >= 0 && hg >= 0 && ref->ncols == got->ncols, "%s: columns", what);
    for (int i = 0; i < got->nrows; i++) {
        const char *h = mb_table_get(got, i, hg);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(h, mb_table_get(got, j, hg)), "%s: cell %s written twice", what, h);
        int k = 0;
        while (k < ref->nrows && strcmp(mb_table_get(ref, k, hr), h)) k++;
        if (k == ref->nrows) {
            CHECK(0, "%s: cell %s is not in the uninterrupted run", what, h);
            return 1;
        }
        for (int c = 0; c < got->ncols; c++) {
            if (timing_col(got->cols[c])) continue;
            CHECK(!strcmp(got->cols[c], ref->cols[c]), "%s: column %d", what, c);
            CHECK_STR(mb_table_get(got, i, c), mb_table_get(ref, k, c));
        }
    }
    return 0;
}

/* steps.csv: the same rows in the same order, step_ms aside. */
static int same_steps(const char *a, const char *b) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_table ta, tb;
    CHECK_OK(&ctx, mb_table_load(&ctx, a, &ta));
    CHECK_OK(&ctx, mb_table_load(&ctx, b, &tb));
    CHECK(ta.nrows == tb.nrows && ta.ncols == tb.ncols, "steps.csv: %d rows, expected %d",
          tb.nrows, ta.nrows);
    for (int r = 0; r < ta.nrows && r < tb.nrows; r++)
        for (int c = 0; c < ta.ncols; c++)
            if (!timing_col(ta.cols[c])) CHECK_STR(mb_table_get(&tb, r, c), mb_table_get(&ta, r, c));
    mb_table_free(&ta);
    mb_table_free(&tb);
    mb_ctx_fini(&ctx);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_resume MEMBENCH SOURCE_DIR\n");
        return 2;
    }
    bin = argv[1];
    src = argv[2]; /* the folder commands run in, as in test_cli */
    snprintf(tmp, sizeof tmp, "/tmp/mb_test_resume_XXXXXX");
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char suite[256], a[256], b[256], c[256], p[512], cmd[2048];
    snprintf(suite, sizeof suite, "%s/resume.yaml", tmp);
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    snprintf(c, sizeof c, "%s/c", tmp);
    FILE *f = fopen(suite, "w");
    CHECK(f && fputs(suite_text, f) >= 0 && fclose(f) == 0, "cannot write %s", suite);

    /* A: uninterrupted. */
    snprintf(cmd, sizeof cmd, "%s run --quiet --out %s %s", bin, a, suite);
    out o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "uninterrupted run: exit %d: %s", o.rc, o.se);
    drop(&o);
    mb_table ta, tb;
    if (load_results(a, &ta)) return 1;
    CHECK(ta.nrows == NCELLS, "uninterrupted run: %d rows", ta.nrows);

    /* B: SIGKILL after the first row, a torn row appended, then --resume. */
    pid_t pid = start_run(b, suite);
    CHECK(wait_first_row(pid, b) == 0, "the run into %s ended before its first row", b);
    kill(pid, SIGKILL);
    int ws = 0;
    waitpid(pid, &ws, 0);
    snprintf(p, sizeof p, "%s/results.csv", b);
    int before = count_lines(p) - 1;
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL && before < NCELLS,
          "the run ended (%d rows) before SIGKILL: make the suite longer", before);
    f = fopen(p, "ab");
    const char *torn = "1,\"resume\",\"cpu\",\"cp";
    CHECK(f && fputs(torn, f) >= 0 && fclose(f) == 0, "append torn row");
    snprintf(cmd, sizeof cmd, "%s run --quiet --resume --out %s %s", bin, b, suite);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "resumed run: exit %d: %s", o.rc, o.se);
    snprintf(p, sizeof p,
             "membench: --resume: dropped a truncated last row (%zu bytes) from %s/results.csv\n",
             strlen(torn), b);
    CHECK(strstr(o.se, p), "resumed run's stderr lacks '%s': %s", p, o.se);
    snprintf(p, sizeof p,
             "membench: --resume: skipping %d of %d cells already in %s/results.csv\n", before,
             NCELLS, b);
    CHECK(strstr(o.se, p), "resumed run's stderr lacks '%s': %s", p, o.se);
    drop(&o);
    if (load_results(b, &tb)) return 1;
    CHECK(tb.nrows == NCELLS, "resumed run: %d rows, expected one per cell", tb.nrows);
    if (same_rows(&ta, &tb, "resumed run")) return 1;
    char sa[512], sb[512];
    snprintf(sa, sizeof sa, "%s/steps.csv", a);
    snprintf(sb, sizeof sb, "%s/steps.csv", b);
    if (same_steps(sa, sb)) return 1;
    snprintf(p, sizeof p, "%s/run.json", b);
    char *js = slurp(p);
    CHECK(js && strstr(js, "\"complete\": true") && strstr(js, "\"interrupted\": false"),
          "resumed run.json: %s", js ? js : "(none)");
    free(js);
    mb_table_free(&tb);

    /* C: SIGINT after the first row: exit 130, complete rows only, run.json incomplete. */
    pid = start_run(c, suite);
    CHECK(wait_first_row(pid, c) == 0, "the run into %s ended before its first row", c);
    kill(pid, SIGINT);
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 130, "SIGINT: wait status %#x, expected exit 130",
          ws);
    snprintf(p, sizeof p, "%s/run.json", c);
    js = slurp(p);
    CHECK(js && strstr(js, "\"complete\": false") && strstr(js, "\"interrupted\": true") &&
              strstr(js, "\"signal\": \"SIGINT\""),
          "interrupted run.json: %s", js ? js : "(none)");
    free(js);
    snprintf(p, sizeof p, "%s.se", c);
    char *se = slurp(p);
    CHECK(se && strstr(se, "membench run: interrupted by SIGINT: ") &&
              strstr(se, "rerun with --resume to finish\n"),
          "SIGINT stderr: %s", se ? se : "(none)");
    free(se);
    snprintf(p, sizeof p, "%s/results.csv", c);
    char *rc = slurp(p);
    CHECK(rc && rc[0] && rc[strlen(rc) - 1] == '\n', "interrupted results.csv ends mid-row");
    free(rc);
    mb_table tc;
    if (load_results(c, &tc)) return 1;
    CHECK(tc.nrows >= 1 && tc.nrows < NCELLS, "interrupted run: %d rows", tc.nrows);
    if (same_rows(&ta, &tc, "interrupted run")) return 1;
    mb_table_free(&tc);
    mb_table_free(&ta);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    CHECK_DONE();
}
