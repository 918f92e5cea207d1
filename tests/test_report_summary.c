/* tests/test_report_summary.c — the report's summary on tests/fixtures/summary: medians over ok
 * repeats, the declared baseline and the first-stack fallback, exact ratios and savings as the
 * table shows them, the no-saving warnings, and two inputs side by side. argv: source dir. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../reports/summary.h"
#include "../reports/table.h"
#include "check.h"
#include "proc.h"

static char fx[512];

static mb_report *load(const char *const *files, int n, const char *const *names, int merge) {
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_report_in in = {
        .results = files, .nresults = n, .names = names, .nnames = names ? n : 0, .merge = merge};
    mb_report *R = NULL;
    mb_status s = mb_report_load(&ctx, &in, &R);
    CHECK(s == MB_OK, "mb_report_load: %s", ctx.err);
    mb_ctx_fini(&ctx);
    return R;
}

/* The summary line of `method` in the setting labelled `setting`, or NULL. */
static const mb_rp_sum_line *line_of(const mb_rp_summary *S, const char *setting,
                                     const char *method) {
    for (int i = 0; i < S->nlines; i++)
        if (!strcmp(S->setting_label[S->lines[i].setting], setting) &&
            !strcmp(S->lines[i].method, method))
            return &S->lines[i];
    return NULL;
}

/* The table's row whose method stack cell is `method` below the row that names `setting`: its
 * cells joined by " | " (as report.md shows them, less the code span). */
static char *table_row(const mb_rp_doc *d, const char *setting, const char *method) {
    const mb_rp_section *s = &d->sec[0];
    int in = 0;
    for (int r = 0; r < s->nrows; r++) {
        const mb_rp_span *c = &s->cells.v[r * s->ncols];
        if (*c[0].text) in = !strcmp(c[0].text, setting);
        if (!in || strcmp(c[1].text, method)) continue;
        mb_text t = {0};
        for (int k = 2; k < s->ncols; k++) mb_text_add(&t, "%s%s", k > 2 ? " | " : "", c[k].text);
        return mb_text_take(&t);
    }
    return NULL;
}

static void expect_row(const mb_rp_doc *d, const char *setting, const char *method,
                       const char *want) {
    char *got = table_row(d, setting, method);
    CHECK(got && !strcmp(got, want), "%s %s:\n got  %s\n want %s", setting, method,
          got ? got : "(no row)", want);
    free(got);
}

static mb_rp_doc build(mb_report *R) {
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_rp_doc d;
    CHECK(mb_rp_doc_build(&ctx, R, &d) == MB_OK, "doc: %s", ctx.err);
    mb_ctx_fini(&ctx);
    CHECK(d.ntop == 1 && !strcmp(d.sec[0].id, "summary"), "the summary is not first");
    return d;
}

#define S4 "s: t/m/bs=4/seq=8/fp32"
#define S8 "s: t/m/bs=8/seq=8/fp32"

static void declared(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/results.csv", fx);
    const char *files[] = {path};
    mb_report *R = load(files, 1, NULL, 0);
    if (!R) return;
    const mb_rp_summary *S = R->sum;
    CHECK(S->nsettings == 2 && S->nlines == 6, "%d settings, %d lines", S->nsettings, S->nlines);
    /* the baseline line first in its setting although lora comes first in the file */
    CHECK(S->nlines == 6 && !strcmp(S->lines[0].method, "adamw") &&
              !strcmp(S->lines[1].method, "lora"),
          "the declared baseline is not the setting's first line");
    const mb_rp_sum_line *lora = line_of(S, S4, "lora"), *adam = line_of(S, S4, "adamw");
    CHECK(lora && adam, "no lora or adamw line at bs=4");
    if (!lora || !adam) return;
    CHECK(S->base[lora->setting] == adam->cell[0] && S->declared[lora->setting],
          "bs=4: adamw is not the declared baseline");
    const mb_rp_stat *l = &S->stat[lora->cell[0]], *a = &S->stat[adam->cell[0]];
    /* medians: odd count the middle value, even count the mean of the middle two */
    CHECK(l->nok == 3 && l->ms == 11.0 && fabs(l->metric - 2.1) < 1e-12, "lora: %d ok, %g ms, %g",
          l->nok, l->ms, l->metric);
    CHECK(a->nok == 2 && a->ms == 9.0 && a->metric == 2.0, "adamw: %d ok, %g ms", a->nok, a->ms);
    CHECK(mb_rp_ratio(l->peak, a->peak) == 0.5, "peak ratio %g", mb_rp_ratio(l->peak, a->peak));
    CHECK(fabs(mb_rp_ratio(l->ms, a->ms) - 11.0 / 9.0) < 1e-15, "time ratio");
    CHECK(a->cat[MB_MEM_GRADS] - l->cat[MB_MEM_GRADS] == 350.0 * MB_RP_MIB, "grads saved");
    CHECK(isnan(mb_rp_ratio(1, 0)) && isnan(mb_rp_ratio(NAN, 1)) && isnan(mb_rp_ratio(1, NAN)),
          "a ratio to nothing is not NaN");
    /* weights are the same everywhere: no column */
    CHECK(!S->show_cat[MB_MEM_WEIGHTS] && S->show_cat[MB_MEM_GRADS] &&
              S->show_cat[MB_MEM_OPTIMIZER] && S->show_cat[MB_MEM_ACTIVATIONS] &&
              !S->show_cat[MB_MEM_WORKSPACE],
          "the categories shown");
    mb_rp_doc d = build(R);
    const char *cols[] = {"setting",     "method stack",    "status",
                          "peak",        "step time",       "quality",
                          "grads saved", "optimizer saved", "activations saved"};
    CHECK(d.sec[0].ncols == 9, "%d columns", d.sec[0].ncols);
    for (int c = 0; c < 9 && c < d.sec[0].ncols; c++) CHECK_STR(d.sec[0].cols[c].name, cols[c]);
    expect_row(&d, S4, "adamw",
               "baseline | 1200.00 MiB | 9.000 ms | 2.0000 val_loss | 400.00 MiB | 300.00 MiB | "
               "100.00 MiB");
    expect_row(&d, S4, "lora",
               "ok | 0.500\u00d7 | 1.222\u00d7 | 1.0500\u00d7 | 350.00 MiB (87.5%) | 200.00 MiB "
               "(66.7%) | 50.00 MiB (50.0%)");
    expect_row(&d, S4, "galore", "ok | 1.000\u00d7 | 2.000\u00d7 | 1.0000\u00d7 | 0 | 0 | 0");
    expect_row(&d, S4, "mezo",
               "oom: out of memory: needs 9 bytes | \u2013 | \u2013 | \u2013 | \u2013 | \u2013 | "
               "\u2013");
    expect_row(&d, S8, "lora",
               "ok in 1 of 2 | 0.500\u00d7 | 1.250\u00d7 | 1.2000\u00d7 | 350.00 MiB (87.5%) | "
               "200.00 MiB (66.7%) | 474.00 MiB (50.0%)");
    CHECK(d.sec[0].nrows == 6 && d.sec[0].bad[3] && d.sec[0].bad[5] && !d.sec[0].bad[1],
          "the rows not ok are not set off");
    /* galore's peak equals the baseline's: the one warning, as the runner words it */
    CHECK_STR(mb_report_warnings(R),
              "t/m/galore/bs=4/seq=8/fp32 saves no memory against the suite's baseline adamw: "
              "tracked peak 1200.000 MiB, baseline 1200.000 MiB; check its settings (a rank at "
              "or above the matrix's smaller side, say)\n");
    CHECK(d.sec[0].items.n == 1 && !strncmp(d.sec[0].items.v[0].text, "warning: t/m/galore/", 20),
          "the warning is not under the table");
    mb_rp_doc_free(&d);
    mb_report_free(R);
}

/* Without the baseline column each setting's first stack is its baseline. */
static void first_stack(const char *tmp) {
    char path[600], out[600];
    snprintf(path, sizeof path, "%s/results.csv", fx);
    snprintf(out, sizeof out, "%s/nobase.csv", tmp);
    char *text = slurp(path);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text) return;
    /* drop the last column: every line ends ",baseline" or ",0"/",1" */
    mb_text t = {0};
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n'), *comma = NULL;
        for (char *q = p; q < nl; q++)
            if (*q == ',') comma = q;
        mb_text_add(&t, "%.*s\n", (int)(comma - p), p);
        p = nl + 1;
    }
    free(text);
    CHECK(!write_whole(out, mb_text_str(&t)), "cannot write %s", out);
    mb_text_free(&t);
    const char *files[] = {out};
    mb_report *R = load(files, 1, NULL, 0);
    if (!R) return;
    mb_rp_doc d = build(R);
    CHECK(!strcmp(R->sum->lines[0].method, "lora") && !R->sum->declared[0],
          "bs=4: lora, first in the file, is not the baseline");
    expect_row(&d, S4, "lora",
               "baseline | 600.00 MiB | 11.000 ms | 2.1000 val_loss | 50.00 MiB | 100.00 MiB | "
               "50.00 MiB");
    expect_row(&d, S4, "adamw",
               "ok | 2.000\u00d7 | 0.818\u00d7 | 0.9524\u00d7 | -350.00 MiB (-700.0%) | -200.00 "
               "MiB (-200.0%) | -50.00 MiB (-100.0%)");
    expect_row(&d, S8, "adamw",
               "baseline | 2048.00 MiB | 16.000 ms | 1.5000 val_loss | 400.00 MiB | 300.00 MiB | "
               "948.00 MiB");
    /* adamw and galore both hold more than lora */
    const char *w = mb_report_warnings(R);
    CHECK(strstr(w, "t/m/adamw/bs=4/seq=8/fp32 saves no memory against its group's baseline "
                    "lora: tracked peak 1200.000 MiB, baseline 600.000 MiB") &&
              strstr(w, "t/m/galore/bs=4/seq=8/fp32 saves no memory") && !strstr(w, "bs=8"),
          "warnings:\n%s", w);
    mb_rp_doc_free(&d);
    mb_report_free(R);
}

/* Two inputs side by side: a column group each, the second's figures over the first's; --merge
 * pools them instead (the same repeats twice: the same medians). */
static void side_by_side(const char *tmp) {
    char path[600], other[600];
    snprintf(path, sizeof path, "%s/results.csv", fx);
    snprintf(other, sizeof other, "%s/nobase.csv", tmp);
    const char *files[] = {path, other}, *names[] = {"old", "new"};
    mb_report *R = load(files, 2, names, 0);
    if (!R) return;
    mb_rp_doc d = build(R);
    const mb_rp_section *s = &d.sec[0];
    CHECK(R->sum->nruns == 2 && s->ncols == 2 + 7 + 10, "%d columns", s->ncols);
    if (s->ncols == 19) {
        CHECK(s->cols[2].group && !strcmp(s->cols[2].group, "old") && s->cols[9].group &&
                  !strcmp(s->cols[9].group, "new") && !strcmp(s->cols[16].name, "peak new/base"),
              "column groups");
        /* lora at bs=4: the baseline in "new", 0.5x in "old"; its own figures the same in both */
        expect_row(
            &d, S4, "lora",
            "ok | 0.500\u00d7 | 1.222\u00d7 | 1.0500\u00d7 | 350.00 MiB (87.5%) | 200.00 MiB "
            "(66.7%) | 50.00 MiB (50.0%) | baseline | 600.00 MiB | 11.000 ms | 2.1000 "
            "val_loss | 50.00 MiB | 100.00 MiB | 50.00 MiB | 1.000\u00d7 | 1.000\u00d7 | "
            "1.0000\u00d7");
    }
    mb_rp_doc_free(&d);
    mb_report_free(R);
    /* default names: the file names; --merge: one run */
    const char *same[] = {path, path};
    R = load(same, 2, NULL, 1);
    if (R) {
        const mb_rp_sum_line *l = line_of(R->sum, S4, "lora");
        CHECK(R->sum->nruns == 1 && l && R->sum->stat[l->cell[0]].nok == 6 &&
                  R->sum->stat[l->cell[0]].ms == 11.0,
              "--merge does not pool the repeats");
        mb_report_free(R);
    }
    R = load(files, 2, NULL, 0);
    if (R) {
        CHECK(!strcmp(R->run_names[0], "results.csv") && !strcmp(R->run_names[1], "nobase.csv"),
              "run names %s, %s", R->run_names[0], R->run_names[1]);
        mb_report_free(R);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_report_summary SOURCE_DIR\n");
        return 2;
    }
    snprintf(fx, sizeof fx, "%s/tests/fixtures/summary", argv[1]);
    char tmp[] = "/tmp/mbsummary.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    declared();
    first_stack(tmp);
    side_by_side(tmp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    CHECK_DONE();
}
