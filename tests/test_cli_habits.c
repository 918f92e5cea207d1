/* tests/test_cli_habits.c — the CLI conventions of git and cargo: options after the suite file,
 * --filter repeated (any pattern) and --out twice (refused), `membench help CMD`, `membench
 * version`, "did you mean" for a mistyped command, the program name in getopt's errors; a run in
 * which no cell ran fails with its reasons (also with --quiet); an interrupt prints the finished
 * cells; a second Ctrl-C leaves run.json marked interrupted; repeats run in rounds and each row
 * records its threads. argv: membench binary, source dir, build dir. */
#include <signal.h>
#include <unistd.h>

#include "../reports/csvtable.h"
#include "check.h"
#include "proc.h"

/* Runs cmd and expects it refused: exit 2 with exactly `err` on stderr. */
static void expect_refused(const char *src, const char *tmp, const char *cmd, const char *err) {
    out o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 2, "%s: exit %d", cmd, o.rc);
    CHECK_STR(o.se, err);
    drop(&o);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_cli_habits MEMBENCH SOURCE_DIR BUILD_DIR\n");
        return 2;
    }
    const char *bin = argv[1], *src = argv[2], *build = argv[3];
    setenv("OMP_NUM_THREADS", "1", 0);
    char tmp[64] = "/tmp/mb_test_cli_habits_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char cmd[4096], p[512];

    /* options after the suite file */
    snprintf(cmd, sizeof cmd, "%s run suites/smoke.yaml --out %s/after -q", bin, tmp);
    out o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "options after the file: exit %d: %s", o.rc, o.se);
    CHECK(strstr(o.so, "cpu/gpt-nano/adamw"), "no summary: %s", o.so);
    drop(&o);

    /* --filter repeated: the cells any pattern matches, in suite order; --out twice: refused */
    snprintf(cmd, sizeof cmd,
             "%s run -n -f '*/sgd*' -f 'cpu/gpt-mini/adamw(lr=0.003)/*' suites/quickstart.yaml",
             bin);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "two filters: exit %d: %s", o.rc, o.se);
    {
        static const char *const want[] = {
            "  cpu/gpt-nano/sgd(lr=0.1,momentum=0.9,nesterov=true)/bs=8/seq=32/fp32/r0\n",
            "  cpu/gpt-mini/adamw(lr=0.003)/bs=8/seq=64/fp32/r0\n",
            "  cpu/gpt-mini/sgd(lr=0.1,momentum=0.9,nesterov=true)/bs=8/seq=64/fp32/r0\n"};
        const char *at = o.so;
        for (int i = 0; i < 3; i++) {
            const char *hit = at ? strstr(at, want[i]) : NULL;
            CHECK(hit, "two filters: no %s in order in:\n%s", want[i], o.so);
            at = hit ? hit + strlen(want[i]) : NULL;
        }
        int lines = 0;
        for (const char *c = o.so; *c; c++) lines += *c == '\n';
        CHECK(lines == 3, "two filters: %d cells, want 3:\n%s", lines, o.so);
    }
    drop(&o);
    snprintf(cmd, sizeof cmd, "%s run -n -f '*/nope/*' -f '*/none/*' suites/quickstart.yaml", bin);
    expect_refused(src, tmp, cmd,
                   "membench run: no cell of suites/quickstart.yaml matches --filter '*/nope/*' "
                   "or '*/none/*'\n");
    snprintf(cmd, sizeof cmd, "%s run -n -o a --out b suites/quickstart.yaml", bin);
    expect_refused(src, tmp, cmd, "membench run: --out given twice ('a' and 'b'); give one\n");

    /* help CMD, version, did you mean, the program's name in getopt's messages */
    snprintf(cmd, sizeof cmd, "%s help run", bin);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0 && !strncmp(o.so, "usage: membench run [OPTIONS] SUITE.yaml\n\n", 42),
          "help run: exit %d: %.80s", o.rc, o.so);
    drop(&o);
    snprintf(cmd, sizeof cmd, "%s version", bin);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0 && !strncmp(o.so, "membench 0.", 11) && strstr(o.so, "(git "),
          "version: exit %d: %s", o.rc, o.so);
    drop(&o);
    snprintf(cmd, sizeof cmd, "%s runn", bin);
    expect_refused(src, tmp, cmd,
                   "membench: unknown command 'runn'; did you mean 'run'?\n"
                   "Try 'membench help'.\n");
    snprintf(cmd, sizeof cmd, "%s help compar", bin);
    expect_refused(src, tmp, cmd,
                   "membench: unknown command 'compar'; did you mean 'compare'?\n"
                   "Try 'membench help'.\n");
    snprintf(cmd, sizeof cmd, "%s run --bogus suites/smoke.yaml", bin);
    expect_refused(src, tmp, cmd,
                   "membench run: unrecognized option '--bogus'\nTry 'membench run --help'.\n");

    /* every cell invalid (bf16 on the CPU): exit 1 with the reason, also under --quiet */
    snprintf(p, sizeof p, "%s/invalid.yaml", tmp);
    if (write_whole(p, "suite: invalid\nseed: 1\n"
                       "defaults: {steps: 2, warmup_steps: 0, precision: bf16}\n"
                       "targets: [{name: cpu, backend: cpu}]\n"
                       "models: [{name: gpt-nano, preset: gpt-nano}]\n"
                       "data: {name: synthetic, vocab: 256}\n"
                       "task: {kind: train, batch_size: 2}\n"
                       "methods: [{name: adamw}, {name: sgd}]\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "%s run --quiet --out %s/inv %s", bin, tmp, p);
    o = run_capture(src, tmp, cmd);
    char want[2048];
    snprintf(want, sizeof want,
             "membench run: no cell of %s/inv ran: 2 invalid, 0 skipped\n"
             "  cpu/gpt-nano/adamw/bs=2/seq=32/bf16/r0: invalid: ",
             tmp);
    CHECK(o.rc == 1, "all invalid: exit %d, expected 1: %s", o.rc, o.se);
    CHECK(!strncmp(o.se, want, strlen(want)), "all invalid:\n%s\nexpected to start\n%s", o.se,
          want);
    CHECK(strstr(o.se, "bf16") && strstr(o.se, "membench run: --allow-invalid accepts a run in "
                                               "which no cell ran\n"),
          "all invalid: %s", o.se);
    drop(&o);
    snprintf(cmd, sizeof cmd, "%s run --quiet --allow-invalid --out %s/inv2 %s", bin, tmp, p);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "--allow-invalid: exit %d: %s", o.rc, o.se);
    CHECK(strstr(o.se, "ran: 2 invalid, 0 skipped") && !strstr(o.se, "--allow-invalid accepts"),
          "--allow-invalid: %s", o.se);
    drop(&o);

    /* repeats run in rounds (r0 of every cell, then r1); threads recorded per row: a target's
     * own setting, else OMP_NUM_THREADS (1 here) */
    snprintf(p, sizeof p, "%s/rounds.yaml", tmp);
    if (write_whole(p,
                    "suite: rounds\nseed: 1\nrepeat: 2\n"
                    "defaults: {steps: 3, warmup_steps: 0, precision: fp32}\n"
                    "targets: [{name: cpu, backend: cpu}, {name: two, backend: cpu, threads: 2}]\n"
                    "models: [{name: gpt-nano, preset: gpt-nano}]\n"
                    "data: {name: synthetic, vocab: 256}\n"
                    "task: {kind: train, batch_size: 2}\n"
                    "methods: [{name: adamw}, {name: sgd, momentum: 0}]\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "%s run -q --out %s/rounds %s", bin, tmp, p);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "rounds: exit %d: %s", o.rc, o.se);
    drop(&o);
    char rdir[128];
    snprintf(rdir, sizeof rdir, "%s/rounds", tmp);
    mb_table t;
    if (load_results(rdir, &t)) return 1;
    static const char *const order[][3] = {
        {"cpu", "adamw", "0"}, {"cpu", "sgd", "0"}, {"two", "adamw", "0"}, {"two", "sgd", "0"},
        {"cpu", "adamw", "1"}, {"cpu", "sgd", "1"}, {"two", "adamw", "1"}, {"two", "sgd", "1"},
    };
    CHECK(t.nrows == 8, "rounds: %d rows", t.nrows);
    for (int i = 0; i < t.nrows && i < 8; i++) {
        CHECK_STR(mb_table_get(&t, i, mb_table_col(&t, "target")), order[i][0]);
        CHECK_STR(mb_table_get(&t, i, mb_table_col(&t, "method_stack")), order[i][1]);
        CHECK_STR(mb_table_get(&t, i, mb_table_col(&t, "repeat")), order[i][2]);
        CHECK_STR(mb_table_get(&t, i, mb_table_col(&t, "threads")),
                  !strcmp(order[i][0], "two") ? "2" : "1");
    }
    mb_table_free(&t);

    /* one label everywhere: compare prints the run's label (a parameter set to its default is
     * shown), and that label pasted into --filter selects exactly that cell's repeats */
    snprintf(cmd, sizeof cmd, "%s compare %s/results.csv %s/results.csv", bin, rdir, rdir);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "compare: exit %d: %s", o.rc, o.se);
    const char *want_label = "two/gpt-nano/sgd(momentum=0)/bs=2/seq=32/fp32";
    char line[512];
    snprintf(line, sizeof line, "ok            %s  ", want_label);
    CHECK(strstr(o.so, line), "compare's label for the sgd cell: %s", o.so);
    drop(&o);
    snprintf(cmd, sizeof cmd, "%s run --dry-run --filter '%s' %s/rounds.yaml", bin, want_label,
             tmp);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "--filter with compare's label: exit %d: %s", o.rc, o.se);
    int nl = 0;
    for (const char *q = o.so; *q; q++) nl += *q == '\n';
    CHECK(nl == 2 && strstr(o.so, "  two/gpt-nano/sgd(momentum=0)/bs=2/seq=32/fp32/r0\n") &&
              strstr(o.so, "  two/gpt-nano/sgd(momentum=0)/bs=2/seq=32/fp32/r1\n"),
          "--filter '%s' planned:\n%s", want_label, o.so);
    drop(&o);

    /* a method that saves nothing against the suite's baseline is warned about, also with -q */
    snprintf(p, sizeof p, "%s/nosave.yaml", tmp);
    if (write_whole(p, "suite: nosave\nseed: 1\n"
                       "defaults: {steps: 3, warmup_steps: 0, precision: fp32}\n"
                       "targets: [{name: cpu, backend: cpu}]\n"
                       "models: [{name: gpt-nano, preset: gpt-nano}]\n"
                       "data: {name: synthetic, vocab: 256}\n"
                       "task: {kind: train, batch_size: 2}\n"
                       "methods: [{name: adamw}, {name: galore, rank: 128}, "
                       "{name: galore, rank: 8}]\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "%s run -q --out %s/nosave %s", bin, tmp, p);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "nosave: exit %d: %s", o.rc, o.se);
    CHECK(strstr(o.se, "membench: warning: cpu/gpt-nano/galore(rank=128)/bs=2/seq=32/fp32/r0 saves "
                       "no memory against the suite's baseline adamw: tracked peak 2.610 MiB, "
                       "baseline 2.485 MiB; check its settings (a rank at or above the matrix's "
                       "smaller side, say)\n") &&
              !strstr(o.se, "galore(rank=8)/bs=2/seq=32/fp32/r0 saves"),
          "nosave: %s", o.se);
    drop(&o);

    /* Ctrl-C in the second of two cells: the finished cell's summary on stdout */
    snprintf(p, sizeof p, "%s/two.yaml", tmp);
    if (write_whole(p,
                    "suite: two\nseed: 1\n"
                    "defaults: {steps: 100, warmup_steps: 0, precision: fp32}\n"
                    "targets: [{name: cpu, backend: cpu}]\n"
                    "models: [{name: small, preset: gpt-nano},\n"
                    "         {name: big, preset: gpt-nano, layers: 6, d_model: 256, heads: 4}]\n"
                    "data: {name: synthetic, vocab: 256}\n"
                    "task: {kind: train, batch_size: 2}\n"
                    "methods: [{name: adamw}]\n"))
        return 1;
    snprintf(cmd, sizeof cmd,
             "(%s run -q --out %s/int %s & pid=$!; "
             "while [ \"$(cat %s/int/results.csv 2>/dev/null | wc -l)\" -lt 2 ]; do sleep 0.05; "
             "done; sleep 0.3; kill -INT $pid; wait $pid)",
             bin, tmp, p, tmp);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 130, "Ctrl-C: exit %d, expected 130: %s", o.rc, o.se);
    CHECK(!strncmp(o.so, "cell ", 5) && strstr(o.so, "cpu/small/adamw/bs=2/seq=32/fp32/r0  ok ") &&
              !strstr(o.so, "cpu/big/"),
          "the summary of the finished cell: %s", o.so);
    CHECK(strstr(o.se, "membench run: interrupted by SIGINT: 1 of 2 cells are in "), "Ctrl-C: %s",
          o.se);
    drop(&o);

    /* a second Ctrl-C while a cell ignores the first (it hangs): the process ends at once and
     * run.json says interrupted */
    snprintf(p, sizeof p, "%s/hang.yaml", tmp);
    if (write_whole(p, "suite: hang\nseed: 1\n"
                       "defaults: {steps: 2, warmup_steps: 0, precision: fp32}\n"
                       "targets: [{name: cpu, backend: cpu}]\n"
                       "models: [{name: gpt-nano, preset: gpt-nano}]\n"
                       "data: {name: synthetic, vocab: 256}\n"
                       "task: {kind: train, batch_size: 2}\n"
                       "methods: [{name: adamw, lr: 0.001}, {name: hang}]\n"))
        return 1;
    snprintf(cmd, sizeof cmd,
             "(%s run --plugin %s/libmb_hang.so --out %s/twice %s & pid=$!; "
             "while [ \"$(cat %s/twice/results.csv 2>/dev/null | wc -l)\" -lt 2 ]; do sleep 0.05; "
             "done; sleep 0.5; kill -INT $pid; sleep 0.3; kill -INT $pid; wait $pid)",
             bin, build, tmp, p, tmp);
    o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 130, "double Ctrl-C: exit %d, expected 130: %s", o.rc, o.se);
    drop(&o);
    snprintf(p, sizeof p, "%s/twice/run.json", tmp);
    char *js = slurp(p);
    CHECK(js && strstr(js, "\"complete\": false") && strstr(js, "\"interrupted\": true") &&
              strstr(js, "\"signal\": \"SIGINT\"") && strstr(js, "\"status\": \"ok\""),
          "run.json after a double Ctrl-C: %s", js ? js : "(none)");
    free(js);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    CHECK_DONE();
}
