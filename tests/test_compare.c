/* tests/test_compare.c — `membench compare` end to end on synthetic results.csv files: exit codes
 * (0 pass, 1 regression, 2 bad input, 3 inconclusive) and exact messages for each gate, matching by
 * column name, and the Markdown and JUnit files. argv: the membench binary. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness/results.h"
#include "../reports/csvtable.h"
#include "check.h"
#include "proc.h"
#include "textcheck.h"

static const char *bin;
static char tmp[64];

/* Runs `membench compare ARGS` (shell text, run in the temp folder) capturing stdout and stderr. */
static out cmp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static out cmp(const char *fmt, ...) {
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s compare %s", bin, args);
    return run_capture(tmp, tmp, cmd);
}

#define HAS(text, needle)                                                                          \
    CHECK(strstr((text), (needle)) != NULL, "missing \"%s\" in:\n%s", needle, text)
#define HASNT(text, needle)                                                                        \
    CHECK(strstr((text), (needle)) == NULL, "unexpected \"%s\" in:\n%s", needle, text)
#define RC(o, want)                                                                                \
    CHECK((o).rc == (want), "exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", (o).rc, want,        \
          (o).so, (o).se)

/* ---------------------------------------------------------------------------------------------
 * Synthetic results: a few cells, each written as `nrep` rows through the real results writer. */

#define MAXREP 16

typedef struct cell {
    const char *target, *model, *stack, *params, *status, *reason;
    int64_t bs;
    int64_t peak[MB_MEM_NCAT];
    int nrep;
    double ms[MAXREP];
    double val;
    int steps;        /* 0: 12 */
    const char *hash; /* the config hash; NULL: "0" */
} cell;

/* gpt-nano, batch 4 x 32, fp32: the README's numbers (tracked peak 5,256,192 B). */
static cell nano(const char *stack, const char *params, int nrep, double ms0, double step) {
    cell c = {.target = "cpu",
              .model = "gpt-nano",
              .stack = stack,
              .params = params,
              .status = "ok",
              .reason = "",
              .bs = 4,
              .peak = {474112, 474112, 948224, 3357696, 0, 0, 0, 2048},
              .nrep = nrep,
              .val = 3.39};
    for (int r = 0; r < nrep; r++) c.ms[r] = ms0 + r * step;
    return c;
}

static int64_t total(const cell *c) {
    int64_t t = 0;
    for (int k = 0; k < MB_MEM_NCAT; k++) t += c->peak[k];
    return t;
}

static int write_cells(mb_ctx *ctx, const char *name, const cell *cells, int n) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    unlink(path);
    mb_results r;
    CHECK_OK(ctx, mb_results_open(ctx, &r, path));
    for (int i = 0; i < n; i++) {
        const cell *c = &cells[i];
        for (int rep = 0; rep < c->nrep; rep++) {
            int ok = !strcmp(c->status, "ok");
            mb_row row;
            memset(&row, 0, sizeof row);
            row.suite = "cmp";
            row.target = c->target;
            row.backend = "cpu";
            row.model = c->model;
            row.method_stack = c->stack;
            row.method_params = c->params;
            row.task = "train";
            row.batch_size = c->bs;
            row.seq_len = 32;
            row.precision = "fp32";
            row.repeat = rep;
            row.seed = 1 + (uint64_t)rep;
            row.status = c->status;
            row.reason = c->reason;
            row.tracked_peak = ok ? total(c) : 65536;
            row.reserved_peak = row.device_peak = INT64_MIN;
            for (int k = 0; k < MB_MEM_NCAT; k++) row.peak_by_cat[k] = ok ? c->peak[k] : 0;
            row.steps = c->steps ? c->steps : 12;
            row.timed_steps = 10;
            /* the gate reads p10; the median differs so a gate reading it would show */
            row.step_ms_p10 = ok ? c->ms[rep] : NAN;
            row.step_ms_median = ok ? 1.5 * c->ms[rep] + rep : NAN;
            row.step_ms_p90 = row.tokens_per_s = row.mfu = NAN;
            row.metric = "val_loss";
            row.metric_value = ok ? c->val : NAN;
            row.metric_stderr = row.final_train_loss = NAN;
            row.config_hash = c->hash ? c->hash : "0";
            row.wall_s = 0.1;
            CHECK_OK(ctx, mb_results_write(ctx, &r, &row));
        }
    }
    mb_results_close(&r);
    return 0;
}

/* Rewrites results file `from` as `to` with its rows and its columns in reverse order and an
 * extra column "note" in the middle: compare must match by name, not position. */
static int shuffle_file(mb_ctx *ctx, const char *from, const char *to) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, from);
    mb_table t;
    CHECK_OK(ctx, mb_table_load(ctx, p, &t));
    snprintf(p, sizeof p, "%s/%s", tmp, to);
    FILE *f = fopen(p, "w");
    for (int r = -1; r < t.nrows; r++) {
        int rr = r < 0 ? -1 : t.nrows - 1 - r;
        for (int c = t.ncols - 1; c >= 0; c--) {
            if (c == t.ncols / 2) fprintf(f, "\"%s\",", rr < 0 ? "note" : "a, \"\"quoted\"\" note");
            const char *v = rr < 0 ? t.cols[c] : t.rows[rr][c];
            fputc('"', f);
            for (; *v; v++) {
                if (*v == '"') fputc('"', f);
                fputc(*v, f);
            }
            fprintf(f, "\"%s", c ? "," : "\n");
        }
    }
    fclose(f);
    mb_table_free(&t);
    return 0;
}

/* Copies `from` to `to` without the column `drop_col`. */
static int drop_column(mb_ctx *ctx, const char *from, const char *to, const char *drop_col) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, from);
    mb_table t;
    CHECK_OK(ctx, mb_table_load(ctx, p, &t));
    int skip = mb_table_col(&t, drop_col);
    snprintf(p, sizeof p, "%s/%s", tmp, to);
    FILE *f = fopen(p, "w");
    for (int r = -1; r < t.nrows; r++) {
        int first = 1;
        for (int c = 0; c < t.ncols; c++) {
            if (c == skip) continue;
            fprintf(f, "%s\"%s\"", first ? "" : ",", r < 0 ? t.cols[c] : t.rows[r][c]);
            first = 0;
        }
        fputc('\n', f);
    }
    fclose(f);
    mb_table_free(&t);
    return 0;
}

static void write_text(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* The first n bytes of text as tmp/name. */
static void write_text_n(const char *name, const char *text, size_t n) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "wb");
    fwrite(text, 1, n, f);
    fclose(f);
}

static char *read_tmp(const char *name) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    return slurp(p);
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

#define ADAMW "adamw.lr=0.003;adamw.weight_decay=0"
#define SGD "sgd.lr=0.1;sgd.momentum=0.9"
#define A_LABEL "cpu/gpt-nano/adamw/bs=4/seq=32/fp32"
#define S_LABEL "cpu/gpt-nano/sgd/bs=4/seq=32/fp32"
#define OOM_LABEL "cpu-64k/gpt-nano/adamw/bs=4/seq=32/fp32"

/* ---------------------------------------------------------------------------------------------
 * Blocked time: five cells run in 7 rounds; the machine's speed in round r is f[r] (the same for
 * every cell of the round), each value with a small jitter of its own. */

#define NB 5
static const char *const b_stack[NB] = {"sgd", "lomo", "adafactor", "adam-mini", "adamw"};
static const double b_ms[NB] = {8, 9, 10, 11, 14}; /* adamw the slowest: the round's median is 10 */

static void blocked_cells(cell *c, const double f[7], double adamw_factor) {
    for (int k = 0; k < NB; k++) {
        c[k] = nano(b_stack[k], "", 7, 0, 0);
        for (int r = 0; r < 7; r++)
            c[k].ms[r] = b_ms[k] * f[r] * (1 + 0.004 * ((3 * r + 2 * k) % 5 - 2)) *
                         (k == NB - 1 ? adamw_factor : 1);
    }
}

#define B_LABEL "cpu/gpt-nano/adamw/bs=4/seq=32/fp32"

static int blocked_tests(mb_ctx *ctx) {
    static const double phases_a[7] = {1, 1.8, 1, 1.8, 1, 1, 1.8},
                        phases_b[7] = {1.8, 1, 1.8, 1, 1.8, 1.8, 1},
                        steady[7] = {1, 1, 1, 1, 1, 1, 1},
                        steady_slow[7] = {1.25, 1.25, 1.25, 1.25, 1.25, 1.25, 1.25};
    cell a[NB], b[NB];
    /* A/A across machine phases: each cell keeps its place in its rounds; the raw medians moved
     * 1.8x with the machine, which the rounds show: inconclusive (3), never a regression */
    blocked_cells(a, phases_a, 1);
    blocked_cells(b, phases_b, 1);
    if (write_cells(ctx, "ph_a.csv", a, NB) || write_cells(ctx, "ph_b.csv", b, NB)) return 1;
    out o = cmp("ph_a.csv ph_b.csv");
    RC(o, 3);
    HAS(o.so, "gates: memory exact; time: each cell over its rounds' median cell, ratio > 1.10 and "
              "Mann-Whitney U p < 0.05; quality tolerance 1%\n"
              "rounds: 7 in BASE, 7 in NEW; the machine's speed moved 1.82x and 1.81x between "
              "them; the whole suite's median cell 1.79x\n");
    HAS(o.so, "with the whole suite (its median cell 1.79x), while the machine's speed moved 1.82x "
              "between rounds in BASE and 1.81x in NEW: a change that slows every cell cannot be "
              "told from the machine; rerun both on a quiet machine\n");
    HASNT(o.so, "REGRESSION");
    CHECK(count(o.so, "\ninconclusive  ") == NB, "every cell inconclusive:\n%s", o.so);
    drop(&o);
    /* A/B across the same phases: adamw made 1.3x slower is caught against its rounds */
    blocked_cells(b, phases_b, 1.3);
    if (write_cells(ctx, "ph_slow.csv", b, NB)) return 1;
    o = cmp("ph_a.csv ph_slow.csv");
    RC(o, 1);
    HAS(o.so, "\nregressions (1):\n  time: " B_LABEL ": 1.30x slower against the median cell of "
              "its rounds (raw median p10 step ");
    HAS(o.so, "REGRESSION    " B_LABEL "      ok             7:7             0 B    1.30x    "
              "0.00103");
    drop(&o);
    /* a steady machine on both sides and every cell 1.25x slower: a change of the whole suite */
    blocked_cells(a, steady, 1);
    blocked_cells(b, steady_slow, 1);
    if (write_cells(ctx, "st_a.csv", a, NB) || write_cells(ctx, "st_b.csv", b, NB)) return 1;
    o = cmp("st_a.csv st_b.csv");
    RC(o, 1);
    CHECK(count(o.so, "\nREGRESSION    ") == NB, "every cell a regression:\n%s", o.so);
    HAS(o.so, "  time: " B_LABEL
              ": 1.25x slower (median p10 step 14 -> 17.5 ms over 7 vs 7 runs) with the "
              "whole suite (its median cell 1.25x), the machine steady (rounds within 1.02x and "
              "1.02x), Mann-Whitney U p = 0.00103 < alpha 0.05\n");
    HAS(o.so, "REGRESSION    " B_LABEL "      ok             7:7             0 B    1.25x    "
              "0.00103");
    drop(&o);
    /* and faster, an improvement counted */
    o = cmp("st_b.csv st_a.csv");
    RC(o, 0);
    HAS(o.so, "5 cells: 0 ok, 0 regressions, 0 inconclusive, 5 improved, 0 new, 0 missing\n");
    drop(&o);
    /* slower in four rounds of seven only: past the ratio, but the middle half of its runs spans
     * as much, so it is the machine's noise: inconclusive */
    blocked_cells(b, steady, 1);
    for (int r = 0; r < 7; r += 2) b[NB - 1].ms[r] *= 1.3;
    if (write_cells(ctx, "st_noisy.csv", b, NB)) return 1;
    o = cmp("st_a.csv st_noisy.csv");
    RC(o, 3);
    HAS(o.so, "inconclusive  " B_LABEL);
    HAS(o.so, "within the noise: the middle half of a side's runs spans 1.3");
    drop(&o);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_compare MEMBENCH\n");
        return 2;
    }
    bin = argv[1];
    if (bin[0] != '/') { /* the commands run in the temp folder */
        static char abs_bin[4096];
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd)) return 1;
        snprintf(abs_bin, sizeof abs_bin, "%s/%s", cwd, bin);
        bin = abs_bin;
    }
    snprintf(tmp, sizeof tmp, "/tmp/mbcmp.XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);

    /* The base: adamw and sgd with 9 runs each (10.0 .. 10.8 ms and 8.0 .. 8.8 ms), and a cell
     * that runs out of memory on a capped target. */
    cell base[3] = {nano("adamw", ADAMW, 9, 10.0, 0.1), nano("sgd", SGD, 9, 8.0, 0.1),
                    nano("adamw", ADAMW, 9, 0, 0)};
    base[1].peak[MB_MEM_OPTIMIZER] = 474112;
    base[2].target = "cpu-64k";
    base[2].status = "oom";
    base[2].reason = "out of memory: activations 'ln1' needs 16384 B over the 64 KiB cap";
    if (write_cells(&ctx, "base.csv", base, 3)) return 1;
    cell nw[4];

    /* help and usage */
    out o = cmp("--help");
    RC(o, 0);
    HAS(o.so, "usage: membench compare [OPTIONS] BASE.csv NEW.csv");
    HAS(o.so, "--time-ratio R     the slowdown that counts (default 1.10");
    HAS(o.so, "--alpha A          significance level of the U test (default 0.05");
    HAS(o.so, "(default\n                     0.01 = 1%");
    drop(&o);
    o = cmp("base.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: expected two results files (BASE.csv NEW.csv), got 1 "
                    "arguments\nTry 'membench compare --help'.\n");
    drop(&o);
    o = cmp("base.csv base.csv --alpha 2");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: --alpha: '2' is not a probability between 0 and 1\n"
                    "Try 'membench compare --help'.\n");
    drop(&o);
    o = cmp("base.csv base.csv --mem-tol 1.5");
    RC(o, 2);
    HAS(o.se, "--mem-tol: '1.5' is not a byte count");
    drop(&o);
    o = cmp("base.csv nothere.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: nothere.csv: cannot open: No such file or directory\n");
    drop(&o);

    /* identical */
    o = cmp("base.csv base.csv");
    RC(o, 0);
    HAS(o.so, "base: base.csv\nnew:  base.csv\ngates: memory exact; time: ratio > 1.10 and "
              "Mann-Whitney U p < 0.05; quality tolerance 1%\n\n"
              "verdict       cell                                     status        runs         "
              " memory     time          p  quality\n");
    HAS(o.so, "ok            " A_LABEL "      ok             9:9             0 B    1.00x");
    HAS(o.so, "ok            " OOM_LABEL "  oom            9:9               -        -");
    HAS(o.so, "3 cells: 3 ok, 0 regressions, 0 inconclusive, 0 improved, 0 new, 0 missing\n"
              "result: OK\n");
    drop(&o);

    /* reordered rows, reversed columns, an extra column: still the same cells */
    if (shuffle_file(&ctx, "base.csv", "shuffled.csv")) return 1;
    o = cmp("base.csv shuffled.csv");
    RC(o, 0);
    HAS(o.so, "3 cells: 3 ok, 0 regressions");
    drop(&o);
    o = cmp("shuffled.csv base.csv");
    RC(o, 0);
    drop(&o);

    /* one byte more activations in one cell: exit 1 naming the cell and the category */
    memcpy(nw, base, sizeof base);
    nw[0].peak[MB_MEM_ACTIVATIONS]++;
    if (write_cells(&ctx, "mem.csv", nw, 3)) return 1;
    o = cmp("base.csv mem.csv --markdown mem.md --junit mem.xml");
    RC(o, 1);
    HAS(o.so, "\nregressions (2):\n"
              "  memory: " A_LABEL ": tracked peak +1 B (5256192 -> 5256193)\n"
              "  memory: " A_LABEL ": activations +1 B (3357696 -> 3357697)\n");
    HAS(o.so, "REGRESSION    " A_LABEL "      ok             9:9            +1 B");
    HAS(o.so, "3 cells: 2 ok, 1 regression, 0 inconclusive, 0 improved, 0 new, 0 missing\n"
              "result: REGRESSION\n");
    char *md = read_tmp("mem.md");
    HAS(md, "## membench compare: REGRESSION\n");
    HAS(md, "### Regressions (2)\n\n"
            "- **memory** `" A_LABEL "`: tracked peak +1 B (5256192 -\\> 5256193)\n"
            "- **memory** `" A_LABEL "`: activations +1 B (3357696 -\\> 3357697)\n");
    HAS(md,
        "| REGRESSION | `" A_LABEL "` | ok | 9:9 | +1 B | 1.00x | 0.518 | val\\_loss +0.00% |\n");
    HAS(md, "</details>\n");
    free(md);
    char *xml = read_tmp("mem.xml");
    CHECK(!strncmp(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39), "xml declaration");
    HAS(xml, "<testsuite name=\"membench compare\" tests=\"3\" failures=\"1\" errors=\"0\" "
             "skipped=\"0\">\n");
    HAS(xml, "  <testcase classname=\"cmp\" name=\"" A_LABEL "\">\n"
             "    <failure message=\"memory: " A_LABEL ": tracked peak +1 B (5256192 -&gt; "
             "5256193) (and 1 more)\" type=\"regression\">memory: " A_LABEL
             ": tracked peak +1 B (5256192 -&gt; 5256193)&#10;memory: " A_LABEL
             ": activations +1 B (3357696 -&gt; 3357697)&#10;</failure>\n  </testcase>\n");
    HAS(xml, "  <testcase classname=\"cmp\" name=\"" S_LABEL "\">\n  </testcase>\n");
    CHECK(count(xml, "<testcase ") == 3 && count(xml, "</testcase>") == 3, "testcases");
    CHECK(strlen(xml) > 13 && !strcmp(xml + strlen(xml) - 13, "</testsuite>\n"), "xml ends");
    free(xml);
    drop(&o);
    /* within a tolerance it passes, and says so */
    o = cmp("base.csv mem.csv --mem-tol 1");
    RC(o, 0);
    HAS(o.so, "notes (2):\n  memory: " A_LABEL ": tracked peak +1 B (5256192 -> 5256193), within "
              "the tolerance of 1 B\n");
    drop(&o);
    o = cmp("base.csv mem.csv --mem-tol 0.001%%");
    RC(o, 0);
    HAS(o.so, "activations +1 B (3357696 -> 3357697), within the tolerance of 33 B (0.001% of "
              "3357696)\n");
    drop(&o);
    /* a decrease is an improvement, not a failure */
    o = cmp("mem.csv base.csv");
    RC(o, 0);
    HAS(o.so,
        "\nimprovements (2):\n  memory: " A_LABEL ": tracked peak -1 B (5256193 -> 5256192)\n");
    HAS(o.so, "improved      " A_LABEL);
    drop(&o);

    /* 20% slower, 9 runs a side, fully separated: p = 1/C(18,9) = 1/48620 */
    memcpy(nw, base, sizeof base);
    for (int r = 0; r < 9; r++) nw[0].ms[r] = 12.0 + 0.12 * r;
    if (write_cells(&ctx, "slow9.csv", nw, 3)) return 1;
    o = cmp("base.csv slow9.csv");
    RC(o, 1);
    HAS(o.so,
        "\nregressions (1):\n  time: " A_LABEL ": 1.20x slower (median p10 step 10.4 -> 12.48 ms "
        "over 9 vs 9 runs), Mann-Whitney U p = 2.06e-05 < alpha 0.05\n");
    HAS(o.so, "REGRESSION    " A_LABEL "      ok             9:9             0 B    1.20x   "
              "2.06e-05  val_loss +0.00%\n");
    drop(&o);
    o = cmp("base.csv slow9.csv --ignore-time");
    RC(o, 0);
    HAS(o.so, "ok            " A_LABEL "      ok             9:9             0 B   1.20x*");
    HAS(o.so, "* --ignore-time: time gates nothing\n");
    drop(&o);
    o = cmp("base.csv slow9.csv --time-ratio 1.25");
    RC(o, 0);
    drop(&o);
    /* faster is an improvement */
    o = cmp("slow9.csv base.csv");
    RC(o, 0);
    HAS(o.so,
        "  time: " A_LABEL ": 1.20x faster (median p10 step 12.48 -> 10.4 ms over 9 vs 9 runs), "
        "Mann-Whitney U p = 2.06e-05\n");
    drop(&o);

    /* the same slowdown with 2 runs a side can never be significant (smallest p 1/6): exit 3 */
    cell b2[2] = {nano("adamw", ADAMW, 2, 10.0, 0.1), nano("sgd", SGD, 2, 8.0, 0.1)};
    if (write_cells(&ctx, "base2.csv", b2, 2)) return 1;
    memcpy(nw, b2, sizeof b2);
    nw[0].ms[0] = 12.0, nw[0].ms[1] = 12.12;
    if (write_cells(&ctx, "slow2.csv", nw, 2)) return 1;
    o = cmp("base2.csv slow2.csv --junit slow2.xml --markdown slow2.md");
    RC(o, 3);
    HAS(o.so, "\ninconclusive (too noisy: rerun) (1):\n  time: " A_LABEL
              ": 1.20x slower (median p10 step "
              "10.05 -> 12.06 ms over 2 vs 2 runs), but not significant: Mann-Whitney U p = 0.167 "
              ">= alpha 0.05; 2 vs 2 runs cannot give p below 0.167: rerun with repeat: 7 or "
              "more\n");
    HAS(o.so, "result: INCONCLUSIVE (too noisy: rerun with more repeats)\n");
    xml = read_tmp("slow2.xml");
    HAS(xml, "tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"1\">");
    HAS(xml, "    <skipped message=\"time: " A_LABEL
             ": 1.20x slower (median p10 step 10.05 -&gt; 12.06 ms "
             "over 2 vs 2 runs), but not significant: Mann-Whitney U p = 0.167 &gt;= alpha 0.05; "
             "2 vs 2 runs cannot give p below 0.167: rerun with repeat: 7 or more\">");
    free(xml);
    md = read_tmp("slow2.md");
    HAS(md, "## membench compare: inconclusive (too noisy: rerun)\n");
    HAS(md, "### Inconclusive (too noisy: rerun) (1)\n");
    free(md);
    drop(&o);
    /* an inconclusive cell does not hide a regression elsewhere: exit 1 */
    nw[1].peak[MB_MEM_GRADS] += 4;
    if (write_cells(&ctx, "slow2mem.csv", nw, 2)) return 1;
    o = cmp("base2.csv slow2mem.csv");
    RC(o, 1);
    HAS(o.so, "  memory: " S_LABEL ": grads +4 B (474112 -> 474116)\n");
    HAS(o.so, "1 regression, 1 inconclusive");
    drop(&o);

    /* status ok -> oom is a regression; oom -> ok an improvement */
    memcpy(nw, base, sizeof base);
    nw[0].status = "oom";
    nw[0].reason = "out of memory: optimizer 'adamw.m' needs 474112 B over the 4 MiB cap";
    if (write_cells(&ctx, "oom.csv", nw, 3)) return 1;
    o = cmp("base.csv oom.csv");
    RC(o, 1);
    HAS(o.so, "  status: " A_LABEL ": ok -> oom in 9 of 9 runs (out of memory: optimizer "
              "'adamw.m' needs 474112 B over the 4 MiB cap)\n");
    HAS(o.so, "REGRESSION    " A_LABEL "      ok->oom        9:9               -        -");
    drop(&o);
    o = cmp("oom.csv base.csv");
    RC(o, 0);
    HAS(o.so, "  status: " A_LABEL ": oom -> ok\n");
    drop(&o);

    /* a cell only in BASE is missing (exit 1); one only in NEW is new (listed, exit 0) */
    if (write_cells(&ctx, "missing.csv", base, 2)) return 1; /* no oom cell */
    o = cmp("base.csv missing.csv");
    RC(o, 1);
    HAS(o.so, "\nregressions (1):\n  missing: " OOM_LABEL ": in BASE (9 runs), not in NEW\n");
    HAS(o.so, "missing       " OOM_LABEL "  oom            9:0");
    drop(&o);
    memcpy(nw, base, sizeof base);
    nw[3] = nano("adamw", ADAMW, 1, 3.0, 0);
    nw[3].model = "gpt-micro";
    if (write_cells(&ctx, "newcell.csv", nw, 4)) return 1;
    o = cmp("base.csv newcell.csv --junit new.xml");
    RC(o, 0);
    HAS(o.so, "\nnotes (1):\n  new: cpu/gpt-micro/adamw/bs=4/seq=32/fp32: only in NEW (1 run, "
              "ok)\n");
    HAS(o.so, "new           cpu/gpt-micro/adamw/bs=4/seq=32/fp32");
    HAS(o.so, "4 cells: 3 ok, 0 regressions, 0 inconclusive, 0 improved, 1 new, 0 missing\n");
    xml = read_tmp("new.xml");
    HAS(xml, "<system-out>new: cpu/gpt-micro/adamw/bs=4/seq=32/fp32: only in NEW (1 run, "
             "ok)&#10;</system-out>");
    free(xml);
    drop(&o);

    /* quality: val_loss 2% worse fails the 1% tolerance, 0.5% does not */
    memcpy(nw, base, sizeof base);
    nw[1].val = 3.39 * 1.02;
    if (write_cells(&ctx, "quality.csv", nw, 3)) return 1;
    o = cmp("base.csv quality.csv");
    RC(o, 1);
    HAS(o.so, "  quality: " S_LABEL ": val_loss 3.39 -> 3.4578 (+2.00%, lower is better; "
              "tolerance 1%)\n");
    drop(&o);
    o = cmp("base.csv quality.csv --quality-tol 3%%");
    RC(o, 0);
    drop(&o);

    /* two settings of one method read apart by the parameters that differ; XML-escaped */
    memcpy(nw, base, sizeof base);
    nw[3] = nano("adamw", "adamw.lr=0.003;adamw.weight_decay=<0.1&\"'>", 1, 3.0, 0);
    if (write_cells(&ctx, "params.csv", nw, 4)) return 1;
    o = cmp("params.csv params.csv --junit params.xml --markdown params.md");
    RC(o, 0);
    HAS(o.so, "ok            cpu/gpt-nano/adamw(weight_decay=0)/bs=4/seq=32/fp32 ");
    HAS(o.so, "ok            cpu/gpt-nano/adamw(weight_decay=<0.1&\"'>)/bs=4/seq=32/fp32 ");
    xml = read_tmp("params.xml");
    HAS(xml, "name=\"cpu/gpt-nano/adamw(weight_decay=&lt;0.1&amp;&quot;&apos;&gt;)/bs=4/seq=32/"
             "fp32\"");
    free(xml);
    drop(&o);

    /* bad input: malformed CSV (file and line), a required column missing (file and column), a
     * value that is not a number */
    write_text("bad.csv", "schema_version,suite\n1,\"smoke\n");
    o = cmp("base.csv bad.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: bad.csv:2: expected a closing quote; the file ends inside "
                    "a quoted field (an interrupted write?)\n");
    drop(&o);
    if (drop_column(&ctx, "base.csv", "nocol.csv", "peak_activations_bytes")) return 1;
    o = cmp("nocol.csv base.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: nocol.csv: missing column 'peak_activations_bytes' (is "
                    "this a membench results.csv?)\n");
    drop(&o);
    char *text = read_tmp("base.csv");
    char *p = strstr(text, ",3357696,");
    memcpy(p, ",3357x96,", 9);
    write_text("nan.csv", text);
    free(text);
    o = cmp("base.csv nan.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: nan.csv:2: peak_activations_bytes: expected a whole number "
                    "of bytes, found '3357x96'\n");
    drop(&o);

    /* --markdown and --junit never write through a symlink planted at their names: the link is
     * replaced by the file, its target keeps its bytes. */
    write_text("victim.txt", "precious\n");
    char lp[256], vp[256];
    snprintf(vp, sizeof vp, "%s/victim.txt", tmp);
    snprintf(lp, sizeof lp, "%s/link.md", tmp);
    CHECK(symlink(vp, lp) == 0, "symlink %s", lp);
    snprintf(lp, sizeof lp, "%s/link.xml", tmp);
    CHECK(symlink(vp, lp) == 0, "symlink %s", lp);
    o = cmp("base.csv base.csv --markdown link.md --junit link.xml");
    RC(o, 0);
    drop(&o);
    char *victim = read_tmp("victim.txt");
    CHECK_STR(victim, "precious\n");
    free(victim);
    struct stat lsb;
    CHECK(lstat(lp, &lsb) == 0 && S_ISREG(lsb.st_mode), "%s is not a regular file", lp);
    xml = read_tmp("link.xml");
    HAS(xml, "<testsuite name=\"membench compare\" tests=\"3\"");
    free(xml);
    md = read_tmp("link.md");
    HAS(md, "## membench compare: OK\n");
    free(md);

    /* Names are shown as they are, whatever they hold: bytes that are not UTF-8 and control
     * characters never reach junit.xml (they made it invalid XML), and 15 backticks before HTML
     * stay inside the Markdown code span (a longer fence, not backticks turned into quotes). */
    cell odd[2] = {nano("ad\xff\xc3(\x01m", "", 1, 10.0, 0),
                   nano("```````````````<img src=x onerror=alert(1)>|", "", 1, 8.0, 0)};
    if (write_cells(&ctx, "odd.csv", odd, 2)) return 1;
    o = cmp("odd.csv odd.csv --junit odd.xml --markdown odd.md");
    RC(o, 0);
    drop(&o);
    xml = read_tmp("odd.xml");
    size_t bad = bad_utf8_at(xml);
    CHECK(!bad, "odd.xml: not valid UTF-8 (or a character XML forbids) at byte %zu", bad);
    HAS(xml, "name=\"cpu/gpt-nano/ad\xef\xbf\xbd\xef\xbf\xbd(\xe2\x90\x81m/bs=4/seq=32/fp32\"");
    HAS(xml, "name=\"cpu/gpt-nano/```````````````&lt;img src=x onerror=alert(1)&gt;|/bs=4/seq=32/"
             "fp32\"");
    free(xml);
    md = read_tmp("odd.md");
    bad = bad_utf8_at(md);
    CHECK(!bad, "odd.md: not valid UTF-8 at byte %zu", bad);
    HAS(md, "| ok | ````````````````cpu/gpt-nano/```````````````<img src=x onerror=alert(1)>\\|/"
            "bs=4/seq=32/fp32```````````````` |");
    HAS(md, "| ok | `cpu/gpt-nano/ad\xef\xbf\xbd\xef\xbf\xbd( m/bs=4/seq=32/fp32` |");
    char *p2 = strstr(md, "<details><summary>All 2 cells</summary>");
    CHECK(p2 != NULL, "no <details> in odd.md");
    if (p2) memset(p2, ' ', strlen("<details><summary>All 2 cells</summary>"));
    if ((p2 = strstr(md, "</details>"))) memset(p2, ' ', strlen("</details>"));
    bad = md_raw_html_at(md);
    CHECK(!bad, "odd.md lets HTML out of a code span at byte %zu:\n%s", bad, md);
    free(md);

    /* Malformed CSV never passes the gate: each of these used to compare (a cut last row padded
     * with empty fields read as a smaller peak, "improved"; a garbage line or a second header a
     * "new" cell; a word where a number belongs unread). Exit 2, FILE:LINE and what was expected.
     */
    cell one[2] = {nano("adamw", ADAMW, 1, 10.0, 0), nano("sgd", SGD, 1, 8.0, 0)};
    if (write_cells(&ctx, "one.csv", one, 2)) return 1;
    text = read_tmp("one.csv");
    size_t len = strlen(text);
    const char *row3 = strchr(strchr(text, '\n') + 1, '\n') + 1;
    const char *peak = strstr(row3, "\"ok\",\"\",5256192,");
    CHECK(peak != NULL, "no tracked peak in the last row of one.csv:\n%s", text);
    if (!peak) return 1;
    write_text_n("cut.csv", text, (size_t)(peak - text) + strlen("\"ok\",\"\",52"));
    o = cmp("one.csv cut.csv");
    RC(o, 2);
    int ncols = 0; /* the header's field count: every column this build writes */
    while (mb_results_columns[ncols]) ncols++;
    char want[256];
    snprintf(want, sizeof want,
             "membench compare: cut.csv:3: expected %d fields as in the header, found 16; the "
             "file ends mid-row (an interrupted write?)\n",
             ncols);
    CHECK_STR(o.se, want);
    CHECK_STR(o.so, "");
    drop(&o);
    write_text_n("nonl.csv", text, len - 1);
    o = cmp("one.csv nonl.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: nonl.csv:3: expected a newline at the end of the last row; "
                    "the file ends mid-row (an interrupted write?)\n");
    drop(&o);
    char *bigger = malloc(2 * len + 64);
    snprintf(bigger, 2 * len + 64, "%sgarbage\n", text);
    write_text("garbage.csv", bigger);
    o = cmp("one.csv garbage.csv");
    RC(o, 2);
    snprintf(want, sizeof want,
             "membench compare: garbage.csv:4: expected %d fields as in the header, found 1\n",
             ncols);
    CHECK_STR(o.se, want);
    drop(&o);
    snprintf(bigger, 2 * len + 64, "%s%s", text, text);
    write_text("twice.csv", bigger);
    o = cmp("twice.csv one.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: twice.csv:4: expected a data row, found the header again "
                    "(two files joined?)\n");
    drop(&o);
    snprintf(bigger, 2 * len + 64, "%s", text);
    p = strstr(bigger, ",12,0,10,");
    CHECK(p != NULL, "no steps in one.csv");
    if (!p) return 1;
    memmove(p + 10, p + 9, strlen(p + 9) + 1);
    memcpy(p, ",12,0,ten,", 10);
    write_text("words.csv", bigger);
    o = cmp("one.csv words.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: words.csv:2: timed_steps: expected a whole number, found "
                    "'ten'\n");
    drop(&o);
    snprintf(bigger, 2 * len + 64, "%s", text);
    p = strstr(bigger, ",reason,");
    memcpy(p, ",status,", 8);
    write_text("dupcol.csv", bigger);
    o = cmp("one.csv dupcol.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: dupcol.csv:1: expected each column name once, found "
                    "'status' as columns 14 and 15\n");
    drop(&o);
    write_text("quote.csv", "schema_version,suite\n1,sm\"oke\n");
    o = cmp("one.csv quote.csv");
    RC(o, 2);
    CHECK_STR(o.se, "membench compare: quote.csv:2: malformed CSV: expected a quote only around a "
                    "whole field, and doubled inside one (libcsv: error parsing data while strict "
                    "checking enabled)\n");
    drop(&o);
    free(bigger);
    free(text);

    /* Cells with no config hash in common are listed with what differs, not gated: exit 3 */
    cell same[2] = {nano("adamw", ADAMW, 3, 10.0, 0.1), nano("sgd", SGD, 3, 8.0, 0.1)};
    cell other[2] = {nano("adamw", ADAMW, 3, 30.0, 0.1), nano("sgd", SGD, 3, 8.0, 0.1)};
    other[0].steps = 30; /* three times the steps: three times slower, not a regression */
    other[0].hash = "1";
    other[1].hash = "2"; /* only the hash differs: another data set, say */
    other[1].val = 9.9;
    if (write_cells(&ctx, "cfg_base.csv", same, 2) || write_cells(&ctx, "cfg_new.csv", other, 2))
        return 1;
    o = cmp("--ignore-time cfg_base.csv cfg_new.csv");
    RC(o, 3);
    HAS(o.so, "not comparable (the configurations differ: rerun BASE, or update it) (2):\n"
              "  config: cpu/gpt-nano/adamw/bs=4/seq=32/fp32: not comparable, not gated: steps 12 "
              "in BASE, 30 in NEW\n"
              "  config: cpu/gpt-nano/sgd/bs=4/seq=32/fp32: not comparable, not gated: config_hash "
              "differs, the columns alike: the data, the model's shape or the evaluation differ "
              "(see each run.json)\n");
    HAS(o.so, "2 cells: 0 ok, 0 regressions, 0 inconclusive, 0 improved, 0 new, 0 missing, 2 not "
              "comparable (configurations differ)\nresult: INCONCLUSIVE (cells ran with other "
              "configurations: rerun BASE with this suite)\n");
    CHECK(!strstr(o.so, "REGRESSION"), "a cell of another configuration was gated:\n%s", o.so);
    drop(&o);
    /* one run in common is enough to compare */
    other[0].hash = "0";
    other[0].steps = 0;
    other[0].ms[0] = 10.0;
    other[1].hash = "0";
    other[1].val = 3.39;
    if (write_cells(&ctx, "cfg_new2.csv", other, 2)) return 1;
    o = cmp("--ignore-time cfg_base.csv cfg_new2.csv");
    RC(o, 0);
    CHECK(!strstr(o.so, "not comparable"), "%s", o.so);
    drop(&o);

    if (blocked_tests(&ctx)) return 1;

    mb_ctx_fini(&ctx);
    if (!mb_check_failures) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    }
    CHECK_DONE();
}
