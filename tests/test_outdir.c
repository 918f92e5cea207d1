/* tests/test_outdir.c — no result lost or mixed in a results folder: a second run into a locked
 * folder is refused; a used folder needs --resume or --force; an --isolate child dies with its
 * parent; a full disk stops the run with exit 4 and no row, and --resume completes it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../reports/csvtable.h"
#include "check.h"
#include "proc.h"

static const char *bin, *build;
static char tmp[64] = "/tmp/mb_test_outdir_XXXXXX";

/* A suite of `cells` adamw cells of `steps` steps on gpt-nano. */
static int write_suite(const char *path, const char *name, int cells, int steps) {
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "suite: %s\nseed: 3\n"
                     "defaults: {steps: %d, warmup_steps: 1, precision: fp32, eval: {every: 0, "
                     "batches: 1}}\n"
                     "targets: [{name: cpu, backend: cpu}]\n"
                     "models: [{name: gpt-nano, preset: gpt-nano}]\n"
                     "data: {name: synthetic, vocab: 256}\n"
                     "task: {kind: train, batch_size: 2}\nmethods:\n",
                     name, steps);
    for (int i = 0; i < cells; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "  - {name: adamw, lr: 0.00%d}\n", i + 1);
    return write_whole(path, text);
}

/* Starts `membench ARGS...` with stdout/stderr into tmp/NAME.so|se, under a file-size limit when
 * fsize > 0 (RLIMIT_FSIZE: a write past it fails with EFBIG, as on a full disk). */
static pid_t spawn(const char *name, long fsize, char *const args[]) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    char p[256];
    snprintf(p, sizeof p, "%s/%s.so", tmp, name);
    int fo = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    snprintf(p, sizeof p, "%s/%s.se", tmp, name);
    int fe = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fo < 0 || fe < 0) _exit(126);
    dup2(fo, 1);
    dup2(fe, 2);
    if (fsize > 0) {
        struct rlimit rl = {.rlim_cur = (rlim_t)fsize, .rlim_max = RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    char *argv[32] = {(char *)bin};
    int k = 1;
    for (int i = 0; args[i] && k < 31; i++) argv[k++] = args[i];
    argv[k] = NULL;
    execv(bin, argv);
    _exit(127);
}

static int wait_rc(pid_t pid) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(const char *name, long fsize, char *const args[]) {
    return wait_rc(spawn(name, fsize, args));
}

static char *output(const char *name, const char *which) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s.%s", tmp, name, which);
    char *s = slurp(p);
    return s ? s : strdup("");
}

static long count_lines(const char *path) {
    char *s = slurp(path);
    long n = 0;
    for (const char *c = s; c && *c; c++) n += *c == '\n';
    free(s);
    return n;
}

static long long size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Every row's config hash appears once and the header once; *rows gets the row count. */
static int well_formed(const char *dir, int *rows) {
    mb_table t;
    if (load_results(dir, &t)) return 1;
    int ch = mb_table_col(&t, "config_hash");
    CHECK(ch >= 0, "%s: no config_hash column", dir);
    for (int i = 0; i < t.nrows; i++) {
        CHECK(strcmp(mb_table_get(&t, i, 0), "schema_version") != 0, "%s: a second header", dir);
        for (int k = 0; k < i; k++)
            CHECK(strcmp(mb_table_get(&t, i, ch), mb_table_get(&t, k, ch)) != 0,
                  "%s: rows %d and %d are the same cell", dir, k, i);
    }
    *rows = t.nrows;
    mb_table_free(&t);
    return 0;
}

/* The deterministic columns of two runs' rows agree, cell by cell (matched by config hash). */
static int same_results(const char *a, const char *b) {
    static const char *const cols[] = {"status",           "metric_value",
                                       "final_train_loss", "tracked_peak_bytes",
                                       "pred_total_bytes", "timed_steps"};
    mb_table x, y;
    if (load_results(a, &x)) return 1;
    if (load_results(b, &y)) return 1;
    CHECK(x.nrows == y.nrows, "%s has %d rows, %s %d", a, x.nrows, b, y.nrows);
    int hx = mb_table_col(&x, "config_hash"), hy = mb_table_col(&y, "config_hash");
    for (int i = 0; i < x.nrows; i++) {
        int k = 0;
        while (k < y.nrows && strcmp(mb_table_get(&x, i, hx), mb_table_get(&y, k, hy))) k++;
        CHECK(k < y.nrows, "cell %s of %s is not in %s", mb_table_get(&x, i, hx), a, b);
        if (k == y.nrows) continue;
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            CHECK_STR(mb_table_get(&x, i, mb_table_col(&x, cols[c])),
                      mb_table_get(&y, k, mb_table_col(&y, cols[c])));
    }
    mb_table_free(&x);
    mb_table_free(&y);
    return 0;
}

/* A second run into a folder that a first run holds is refused, naming the holder. */
static int check_lock(void) {
    char suite[256], dir[256], plugin[256], msg[512];
    snprintf(suite, sizeof suite, "%s/hang.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/locked", tmp);
    snprintf(plugin, sizeof plugin, "%s/libmb_hang.so", build);
    if (write_whole(suite, "suite: hang\nseed: 1\n"
                           "defaults: {steps: 2, warmup_steps: 0, precision: fp32}\n"
                           "targets: [{name: cpu, backend: cpu}]\n"
                           "models: [{name: gpt-nano, preset: gpt-nano}]\n"
                           "data: {name: synthetic, vocab: 256}\n"
                           "task: {kind: train, batch_size: 2}\nmethods: [{name: hang}]\n"))
        return 1;
    /* the first holds the folder for 3 s: a cell that hangs until --cell-timeout kills it */
    pid_t a = spawn("lock_a", 0,
                    (char *[]){"run", "--quiet", "--cell-timeout", "3", "--plugin", plugin, "--out",
                               dir, suite, NULL});
    char lock[300];
    snprintf(lock, sizeof lock, "%s/.lock", dir);
    for (int i = 0; i < 200 && size_of(lock) <= 0; i++) usleep(10000);
    int rb = run(
        "lock_b", 0,
        (char *[]){"run", "--quiet", "--plugin", plugin, "--resume", "--out", dir, suite, NULL});
    int ra = wait_rc(a);
    char *se = output("lock_b", "se");
    snprintf(msg, sizeof msg,
             "membench run: %s is in use by another membench run (pid %ld): wait for it to end, "
             "or choose another --out folder\n",
             dir, (long)a);
    CHECK(rb == 2, "second run: exit %d, expected 2: %s", rb, se);
    CHECK_STR(se, msg);
    free(se);
    CHECK(ra == 1, "first run: exit %d, expected 1 (a timeout row)", ra);
    int rows = 0;
    if (well_formed(dir, &rows)) return 1;
    CHECK(rows == 1, "%d rows, expected the first run's 1", rows);
    /* the lock went with its holder: the folder can be resumed now */
    rb = run(
        "lock_c", 0,
        (char *[]){"run", "--quiet", "--plugin", plugin, "--resume", "--out", dir, suite, NULL});
    CHECK(rb == 1, "resume after the holder ended: exit %d", rb); /* the timeout row stays */
    return 0;
}

/* A used folder: refused without --resume or --force; another suite's folder refused; --force
 * starts over; --out "" and --resume --force are usage errors. */
static int check_used(void) {
    char suite[256], other[256], dir[256], msg[1024];
    snprintf(suite, sizeof suite, "%s/used.yaml", tmp);
    snprintf(other, sizeof other, "%s/other.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/used", tmp);
    if (write_suite(suite, "used", 2, 3) || write_suite(other, "other", 1, 3)) return 1;
    CHECK(run("used_1", 0, (char *[]){"run", "-q", "--out", dir, suite, NULL}) == 0, "first run");
    char res[300];
    snprintf(res, sizeof res, "%s/results.csv", dir);
    char *before = slurp(res);

    int rc = run("used_2", 0, (char *[]){"run", "-q", "--out", dir, suite, NULL});
    char *se = output("used_2", "se");
    snprintf(msg, sizeof msg,
             "membench run: %s already holds results of suite 'used': add --resume to finish that "
             "run, --force to delete them and start over, or choose another --out folder\n",
             dir);
    CHECK(rc == 2, "rerun without --resume: exit %d", rc);
    CHECK_STR(se, msg);
    free(se);

    rc = run("used_3", 0, (char *[]){"run", "-q", "--resume", "--out", dir, other, NULL});
    se = output("used_3", "se");
    snprintf(msg, sizeof msg,
             "membench run: %s holds the results of suite 'used', not 'other': choose another "
             "--out folder, or add --force to delete them and start over\n",
             dir);
    CHECK(rc == 2, "another suite with --resume: exit %d", rc);
    CHECK_STR(se, msg);
    free(se);
    char *after = slurp(res);
    CHECK(before && after && !strcmp(before, after), "a refused run changed results.csv");
    free(after);

    rc = run("used_4", 0, (char *[]){"run", "-q", "--force", "--out", dir, suite, NULL});
    se = output("used_4", "se");
    snprintf(msg, sizeof msg, "membench: --force: deleted the earlier results in %s\n", dir);
    CHECK(rc == 0, "--force: exit %d: %s", rc, se);
    /* first; a loaded machine may add noisy-timing warnings after it */
    CHECK(!strncmp(se, msg, strlen(msg)), "--force said:\n%s\nexpected first:\n%s", se, msg);
    free(se);
    int rows = 0;
    if (well_formed(dir, &rows)) return 1;
    CHECK(rows == 2, "after --force: %d rows, expected 2 (not appended to the old 2)", rows);
    after = slurp(res);
    /* same cells, same deterministic values; only started_at and wall_s may differ */
    CHECK(after && count_lines(res) == 3, "results.csv after --force");
    free(after);
    free(before);

    rc =
        run("used_5", 0, (char *[]){"run", "-q", "--force", "--resume", "--out", dir, suite, NULL});
    se = output("used_5", "se");
    CHECK(rc == 2, "--force --resume: exit %d", rc);
    CHECK_STR(se, "membench run: --resume and --force contradict each other: --resume finishes "
                  "the run in DIR, --force deletes it\n");
    free(se);
    rc = run("used_6", 0, (char *[]){"run", "-q", "--out", "", suite, NULL});
    se = output("used_6", "se");
    CHECK(rc == 2, "--out '': exit %d", rc);
    CHECK_STR(se, "membench run: --out needs a folder name, got ''\n");
    free(se);
    return 0;
}

/* --resume on a folder whose results.csv is not membench's (and has a torn last line) is refused
 * before anything is cut; with an empty results.csv, stale steps rows are dropped. */
static int check_resume_edges(void) {
    char suite[256], dir[300], res[320], steps[320], msg[1024];
    snprintf(suite, sizeof suite, "%s/edge.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/foreign", tmp);
    if (write_suite(suite, "edge", 1, 3)) return 1;
    mkdir(dir, 0755);
    snprintf(res, sizeof res, "%s/results.csv", dir);
    const char *foreign = "name,score\nalice,3\nbob,4"; /* no newline at the end */
    if (write_whole(res, foreign)) return 1;
    int rc = run("edge_1", 0, (char *[]){"run", "-q", "--resume", "--out", dir, suite, NULL});
    char *se = output("edge_1", "se");
    snprintf(msg, sizeof msg,
             "membench run: %s: header differs from this build's at column 1: file has 'name', "
             "expected 'schema_version' (written by another schema version? use a new --out "
             "folder)\n",
             res);
    CHECK(rc == 2, "--resume on a foreign file: exit %d", rc);
    CHECK_STR(se, msg);
    free(se);
    char *back = slurp(res);
    CHECK(back && !strcmp(back, foreign), "the foreign file was changed: '%s'", back);
    free(back);

    snprintf(dir, sizeof dir, "%s/emptyres", tmp);
    CHECK(run("edge_2", 0, (char *[]){"run", "-q", "--out", dir, suite, NULL}) == 0, "edge run");
    snprintf(res, sizeof res, "%s/results.csv", dir);
    snprintf(steps, sizeof steps, "%s/steps.csv", dir);
    long lines = count_lines(steps);
    CHECK(lines == 5, "steps.csv: %ld lines, expected a header, 3 train rows, 1 eval", lines);
    CHECK(truncate(res, 0) == 0, "truncate");
    rc = run("edge_3", 0, (char *[]){"run", "-q", "--resume", "--out", dir, suite, NULL});
    CHECK(rc == 0, "--resume with an empty results.csv: exit %d", rc);
    CHECK(count_lines(steps) == 5,
          "steps.csv: %ld lines after --resume, expected 5 (stale rows "
          "kept?)",
          count_lines(steps));

    /* symbolic links planted where temporary files were once named: their targets untouched */
    char victim[320], link[320];
    snprintf(victim, sizeof victim, "%s/victim.txt", tmp);
    if (write_whole(victim, "precious\n")) return 1;
    snprintf(dir, sizeof dir, "%s/planted", tmp);
    mkdir(dir, 0755);
    static const char *const names[] = {"run.json.tmp", "steps.csv.tmp", "run.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(link, sizeof link, "%s/%s", dir, names[i]);
        CHECK(symlink(victim, link) == 0, "symlink %s", link);
    }
    rc = run("edge_4", 0, (char *[]){"run", "-q", "--force", "--out", dir, suite, NULL});
    CHECK(rc == 0, "run beside planted links: exit %d", rc);
    back = slurp(victim);
    CHECK(back && !strcmp(back, "precious\n"), "a planted link's target was written: '%s'", back);
    free(back);
    /* --force deletes a link among the results files (never its target) and starts over */
    snprintf(link, sizeof link, "%s/steps.csv", dir);
    unlink(link);
    CHECK(symlink(victim, link) == 0, "symlink steps.csv");
    rc = run("edge_5", 0, (char *[]){"run", "-q", "--force", "--out", dir, suite, NULL});
    se = output("edge_5", "se");
    CHECK(rc == 0, "steps.csv as a link with --force: exit %d: %s", rc, se);
    free(se);
    back = slurp(victim);
    CHECK(back && !strcmp(back, "precious\n"), "steps.csv's link target was written: '%s'", back);
    free(back);
    /* a link as steps.csv is never written through, nor cut by --resume */
    snprintf(dir, sizeof dir, "%s/linked", tmp);
    mkdir(dir, 0755);
    snprintf(link, sizeof link, "%s/steps.csv", dir);
    if (write_whole(victim, "precious, no newline")) return 1;
    CHECK(symlink(victim, link) == 0, "symlink steps.csv");
    rc = run("edge_6", 0, (char *[]){"run", "-q", "--out", dir, suite, NULL});
    se = output("edge_6", "se");
    snprintf(msg, sizeof msg, "membench run: cannot write %s: it is a symbolic link (refused)\n",
             link);
    CHECK(rc == 2, "steps.csv as a link: exit %d", rc);
    CHECK_STR(se, msg);
    free(se);
    rc = run("edge_7", 0, (char *[]){"run", "-q", "--resume", "--out", dir, suite, NULL});
    se = output("edge_7", "se");
    snprintf(msg, sizeof msg, "membench run: cannot use %s: it is a symbolic link (refused)\n",
             link);
    CHECK(rc == 2, "steps.csv as a link with --resume: exit %d", rc);
    CHECK_STR(se, msg);
    free(se);
    back = slurp(victim);
    CHECK(back && !strcmp(back, "precious, no newline"), "the link's target was changed: '%s'",
          back);
    free(back);
    return 0;
}

/* --isolate: the parent SIGKILLed mid-cell takes the child with it; --resume then leaves exactly
 * one row per cell and one set of steps per cell. */
static int check_isolate_parent_killed(void) {
    char suite[256], dir[256], steps[300];
    snprintf(suite, sizeof suite, "%s/orphan.yaml", tmp);
    snprintf(dir, sizeof dir, "%s/orphan", tmp);
    snprintf(steps, sizeof steps, "%s/steps.csv", dir);
    const int nsteps = 150;
    if (write_suite(suite, "orphan", 2, nsteps)) return 1;
    pid_t a = spawn("orphan_1", 0, (char *[]){"run", "-q", "--isolate", "--out", dir, suite, NULL});
    for (int i = 0; i < 3000 && count_lines(steps) < 20; i++) usleep(10000);
    CHECK(count_lines(steps) >= 20, "the first cell never got going");
    kill(a, SIGKILL);
    wait_rc(a);
    /* at once: an orphaned child that kept training would append its row after these rows */
    int rc = run("orphan_2", 0, (char *[]){"run", "-q", "--resume", "--out", dir, suite, NULL});
    char *se = output("orphan_2", "se");
    CHECK(rc == 0, "--resume after the parent was killed: exit %d: %s", rc, se);
    free(se);
    usleep(300000); /* time for a surviving child to write, were there one */
    int rows = 0;
    if (well_formed(dir, &rows)) return 1;
    CHECK(rows == 2, "%d rows for 2 cells", rows);
    long lines = count_lines(steps);
    CHECK(lines == 1 + 2 * (nsteps + 1), "steps.csv: %ld lines, expected %d", lines,
          1 + 2 * (nsteps + 1));
    return 0;
}

/* A disk that fills mid-cell: exit 4, a message with the reason, no row for the cell in flight;
 * --resume with space completes with the same deterministic values as an uninterrupted run.
 * Real ENOSPC on a small tmpfs when the test may mount one (root), else a file-size limit. */
static int check_full_disk(void) {
    char suite[256], ref[256], dir[256], p[320];
    snprintf(suite, sizeof suite, "%s/full.yaml", tmp);
    snprintf(ref, sizeof ref, "%s/full_ref", tmp);
    if (write_suite(suite, "full", 3, 40)) return 1;
    CHECK(run("full_ref", 0, (char *[]){"run", "-q", "--out", ref, suite, NULL}) == 0, "ref run");
    snprintf(p, sizeof p, "%s/steps.csv", ref);
    long long ssize = size_of(p);
    snprintf(p, sizeof p, "%s/run.json", ref);
    long long jsize = size_of(p);
    snprintf(dir, sizeof dir, "%s/mnt", tmp);
    mkdir(dir, 0755);
    int mounted = geteuid() == 0 && !getenv("MB_TEST_NO_TMPFS") &&
                  mount("tmpfs", dir, "tmpfs", 0, "size=16k") == 0;
    long limit = 0;
    const char *reason = "No space left on device";
    if (!mounted) { /* EFBIG past the limit: between run.json's size and steps.csv's */
        limit = (long)(jsize + 2048 < ssize ? jsize + 2048 : ssize / 2);
        reason = "File too large";
    }
    fprintf(stderr, "full disk by %s\n", mounted ? "a 16 KiB tmpfs" : "RLIMIT_FSIZE");
    char out_dir[300];
    snprintf(out_dir, sizeof out_dir, "%s/run", dir);
    int rc = run("full_1", limit, (char *[]){"run", "-q", "--out", out_dir, suite, NULL});
    char *se = output("full_1", "se");
    CHECK(rc == 4, "full disk: exit %d, expected 4: %s", rc, se);
    CHECK(strstr(se, reason) && strstr(se, "the cell in flight left no row; free space and rerun "
                                           "with --resume to finish"),
          "full disk message: %s", se);
    free(se);
    int rows = -1;
    if (well_formed(out_dir, &rows)) return 1;
    CHECK(rows >= 0 && rows < 3, "full disk: %d rows, expected fewer than 3", rows);
    if (mounted) CHECK(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=4m") == 0, "remount");
    rc = run("full_2", 0, (char *[]){"run", "-q", "--resume", "--out", out_dir, suite, NULL});
    se = output("full_2", "se");
    CHECK(rc == 0, "--resume with space: exit %d: %s", rc, se);
    free(se);
    if (well_formed(out_dir, &rows)) return 1;
    CHECK(rows == 3, "after --resume: %d rows", rows);
    if (same_results(ref, out_dir)) return 1;
    snprintf(p, sizeof p, "%s/steps.csv", out_dir);
    CHECK(count_lines(p) == 1 + 3 * 41, "steps.csv after --resume: %ld lines", count_lines(p));

    /* full from the start: exit 4 too, not 2 */
    if (mounted) /* a new one-page file system: the lock file takes the page */
        CHECK(umount(dir) == 0 && mount("tmpfs", dir, "tmpfs", 0, "size=4k") == 0, "remount");
    snprintf(out_dir, sizeof out_dir, "%s/run2", dir);
    rc = run("full_3", mounted ? 0 : 100, (char *[]){"run", "-q", "--out", out_dir, suite, NULL});
    se = output("full_3", "se");
    CHECK(rc == 4, "full at the start: exit %d, expected 4: %s", rc, se);
    CHECK(strstr(se, reason), "full at the start: %s", se);
    free(se);
    if (mounted) umount(dir);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_outdir MEMBENCH BUILD_DIR\n");
        return 2;
    }
    bin = argv[1];
    build = argv[2];
    setenv("OMP_NUM_THREADS", "1", 0);
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    if (check_lock() || check_used() || check_resume_edges() || check_isolate_parent_killed() ||
        check_full_disk())
        fprintf(stderr, "stopped at the first failed check; files kept in %s\n", tmp);
    else {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    }
    CHECK_DONE();
}
