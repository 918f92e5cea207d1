/* tests/test_cli.c — the membench CLI end to end: help and listings, exit codes and exact messages
 * for bad input, the smoke suite (one row per cell, oom rows for the capped target), bitwise-
 * reproducible losses by seed, and out-of-tree plugins (loaded; refused on an ABI mismatch).
 * argv: membench binary, source dir, build dir. */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/method.h"
#include "../harness/results.h"
#include "../reports/csvread.h"
#include "../reports/csvtable.h"
#include "check.h"
#include "proc.h"

static const char *bin, *src, *build;
static char tmp[64];

/* Runs `membench ARGS` (ARGS is shell text) with stdout and stderr captured. */
static out mb(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static out mb(const char *fmt, ...) {
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", bin, args);
    return run_capture(src, tmp, cmd);
}

/* Whether the line of `text` that starts with `label` also holds the word `word`. */
static int line_has(const char *text, const char *label, const char *word) {
    const char *p = strstr(text, label);
    if (!p) return 0;
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)n, p);
    return strstr(line + strlen(label), word) != NULL;
}

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* results.csv reader: counts rows and statuses; keeps the status and reason columns. */
typedef struct rows {
    int n, ok, oom, status_col, reason_col, stack_col, target_col, reserved_col, pred_col;
    int bad_na;   /* a cpu row with a reserved-peak value (there is no pool on the cpu) */
    int bad_pred; /* an ok row whose predicted total is empty */
    int bad_oom;  /* an oom row outside the capped target, or without a reason */
    char first_status[16], first_reason[256]; /* the first row's */
} rows;

static int row_cb(void *u, int line, int nf, char **f) {
    rows *r = u;
    if (line == 1) {
        for (int i = 0; i < nf; i++) {
            if (!strcmp(f[i], "status")) r->status_col = i;
            if (!strcmp(f[i], "reason")) r->reason_col = i;
            if (!strcmp(f[i], "target")) r->target_col = i;
            if (!strcmp(f[i], "reserved_peak_bytes")) r->reserved_col = i;
            if (!strcmp(f[i], "pred_total_bytes")) r->pred_col = i;
        }
        return 0;
    }
    if (!r->n++) {
        snprintf(r->first_status, sizeof r->first_status, "%s", f[r->status_col]);
        snprintf(r->first_reason, sizeof r->first_reason, "%s", f[r->reason_col]);
    }
    if (!strcmp(f[r->status_col], "ok")) r->ok++;
    if (f[r->reserved_col][0]) r->bad_na++;
    if (!strcmp(f[r->status_col], "ok") && !f[r->pred_col][0]) r->bad_pred++;
    if (!strcmp(f[r->status_col], "oom")) {
        r->oom++;
        if (strcmp(f[r->target_col], "cpu-64k") || !strstr(f[r->reason_col], "out of memory"))
            r->bad_oom++;
    }
    return 0;
}

/* steps.csv losses as one string, for bitwise comparison. */
typedef struct losses {
    char text[65536];
    size_t len;
} losses;
static int loss_cb(void *u, int line, int nf, char **f) {
    losses *l = u;
    if (line == 1 || nf < 5) return 0;
    l->len +=
        (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s %s %s\n", f[2], f[3], f[4]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_cli MEMBENCH SRC_DIR BUILD_DIR\n");
        return 2;
    }
    bin = argv[1];
    src = argv[2];
    build = argv[3];
    snprintf(tmp, sizeof tmp, "/tmp/mbcli.XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    char cache[128];
    snprintf(cache, sizeof cache, "%s/empty-cache", tmp); /* no data set is fetched here */
    setenv("MEMBENCH_DATA", cache, 1);
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);

    out o = mb("--help");
    CHECK(o.rc == 0 && strstr(o.so, "usage: membench COMMAND"), "--help: rc %d", o.rc);
    drop(&o);
    o = mb("frobnicate");
    CHECK(o.rc == 2, "unknown command rc %d", o.rc);
    CHECK_STR(o.se, "membench: unknown command 'frobnicate'\nTry 'membench help'.\n");
    drop(&o);
    o = mb("run --help");
    CHECK(o.rc == 0 && strstr(o.so, "--filter GLOB"), "run --help");
    drop(&o);

    /* methods: the table, and every adamw parameter with its default and help */
    o = mb("methods");
    CHECK(o.rc == 0, "methods rc %d", o.rc);
    CHECK(strstr(o.so, "adamw          optimizer_step                                    Adam "
                       "with decoupled weight decay") != NULL,
          "methods table:\n%s", o.so);
    CHECK(strstr(o.so, "\nsgd ") != NULL, "sgd listed");
    CHECK(strstr(o.so, "\ncheckpointing  act_policy ") != NULL, "checkpointing listed");
    drop(&o);
    o = mb("methods show adamw");
    CHECK(o.rc == 0, "show rc %d", o.rc);
    const char *want[] = {
        "paper: Ilya Loshchilov and Frank Hutter. Decoupled Weight Decay Regularization. ICLR "
        "2019.",
        "  lr             float  0.0003     [0, 10]                learning rate",
        "  beta1          float  0.9        [0, 0.999999]          first-moment decay",
        "  beta2          float  0.999      [0, 0.999999]          second-moment decay",
        "  eps            float  1e-08      [0, 1]                 added to sqrt(v_hat)",
        "  weight_decay   float  0          [0, 10]                decoupled decay",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(strstr(o.so, want[i]) != NULL, "missing line '%s' in:\n%s", want[i], o.so);
    drop(&o);
    o = mb("methods show adamv");
    CHECK(o.rc == 2, "show unknown rc %d", o.rc);
    CHECK_STR(o.se, "membench methods: unknown method 'adamv' (did you mean 'adamw'?)\n");
    drop(&o);
    o = mb("models");
    CHECK(o.rc == 0 &&
              strstr(o.so, "gpt2-124m  gpt       12     768    12       12  3072    1024   50257 "
                           "      124439808") &&
              strstr(o.so, "llama-60m  llama      8     512     8        8  1376    1024   32000 "
                           "       58073600"),
          "models:\n%s", o.so);
    drop(&o);

    /* bad input: exit 2 and the loader's exact message */
    write_file("bad1.yaml",
               "suite: x\nmodels:\n  - {name: m, preset: gpt-nano}\nmethods: [adamww]\n");
    o = mb("run %s/bad1.yaml", tmp);
    CHECK(o.rc == 2, "unknown method rc %d", o.rc);
    char exp[512];
    snprintf(exp, sizeof exp,
             "%s/bad1.yaml:4:11: error: unknown method 'adamww' (did you mean "
             "'adamw'?)\n",
             tmp);
    CHECK_STR(o.se, exp);
    drop(&o);
    o = mb("run %s/missing.yaml", tmp);
    CHECK(o.rc == 2, "missing file rc %d", o.rc);
    snprintf(exp, sizeof exp, "%s/missing.yaml: error: cannot open: No such file or directory\n",
             tmp);
    CHECK_STR(o.se, exp);
    drop(&o);
    o = mb("run");
    CHECK(o.rc == 2 && strstr(o.se, "expected one suite file"), "no suite rc %d", o.rc);
    drop(&o);
    o = mb("run --bogus suites/smoke.yaml");
    CHECK(o.rc == 2, "unknown option rc %d", o.rc);
    drop(&o);

    /* the smoke suite: 16 cells, 8 of them oom on the 64 KiB target, exit 0 */
    o = mb("run -q --out %s/smoke suites/smoke.yaml", tmp);
    CHECK(o.rc == 0, "smoke rc %d\n%s", o.rc, o.se);
    CHECK(line_has(o.so, "cpu-64k/gpt-nano/adamw(lr=0.003)/bs=2/seq=32/fp32/r0", " oom "),
          "summary:\n%s", o.so);
    CHECK(line_has(o.so, "cpu/gpt-nano/sgd(lr=0.1,momentum=0.9)/bs=4/seq=32/fp32/r0", " ok "),
          "summary:\n%s", o.so);
    drop(&o);
    char path[256];
    snprintf(path, sizeof path, "%s/smoke/results.csv", tmp);
    rows r = {0};
    CHECK_OK(&ctx, mb_csv_read(&ctx, path, row_cb, &r));
    CHECK(r.n == 16 && r.ok == 8 && r.oom == 8 && r.bad_oom == 0, "rows %d ok %d oom %d bad %d",
          r.n, r.ok, r.oom, r.bad_oom);
    CHECK(r.bad_na == 0 && r.bad_pred == 0,
          "reserved written on cpu %d, ok rows without a "
          "prediction %d",
          r.bad_na, r.bad_pred);
    o = mb("run -n suites/smoke.yaml");
    int lines = 0;
    for (const char *p = o.so; *p; p++) lines += *p == '\n';
    CHECK(o.rc == 0 && lines == 16, "dry run: rc %d, %d lines", o.rc, lines);
    drop(&o);

    /* determinism: same seed, same losses bit for bit; another seed, other losses */
    const char *det = "suite: det\nseed: %d\ndefaults: {steps: 8, warmup_steps: 1, eval: {every: "
                      "4, batches: 2}}\nmodels: [{name: n, preset: gpt-nano}]\ntask: {batch_size: "
                      "2}\nmethods: [adamw, {name: sgd, lr: 0.05, momentum: 0.9}]\n";
    char text[512];
    losses L[3];
    for (int k = 0; k < 3; k++) {
        snprintf(text, sizeof text, det, k == 2 ? 8 : 7);
        char name[32];
        snprintf(name, sizeof name, "det%d.yaml", k);
        write_file(name, text);
        o = mb("run -q --out %s/det%d %s/%s", tmp, k, tmp, name);
        CHECK(o.rc == 0, "det run %d rc %d: %s", k, o.rc, o.se);
        drop(&o);
        snprintf(path, sizeof path, "%s/det%d/steps.csv", tmp, k);
        L[k].len = 0;
        L[k].text[0] = 0;
        CHECK_OK(&ctx, mb_csv_read(&ctx, path, loss_cb, &L[k]));
    }
    CHECK(L[0].len > 100 && !strcmp(L[0].text, L[1].text), "same seed, different losses");
    CHECK(strcmp(L[0].text, L[2].text) != 0, "different seeds, same losses");

    /* a stack a method refuses (mesa codes the probabilities flash never makes) is refused when
     * the suite loads, at the stack's entry, before any cell runs (--dry-run included) */
    write_file("refused.yaml",
               "suite: refused\ndefaults: {steps: 2, warmup_steps: 0}\nmodels: [{name: n, "
               "preset: gpt-nano}]\nmethods: [{stack: [flash, mesa, sgd]}, sgd]\n");
    for (int dry = 0; dry < 2; dry++) {
        o = mb("run -q %s--out %s/refused %s/refused.yaml", dry ? "--dry-run " : "", tmp, tmp);
        snprintf(exp, sizeof exp,
                 "%s/refused.yaml:4:11: error: mesa: the attention probabilities it codes do not "
                 "exist under flash: the two do not stack yet (model 'n')\n",
                 tmp);
        CHECK(o.rc == 2, "refused stack%s: rc %d", dry ? " (dry run)" : "", o.rc);
        CHECK_STR(o.se, exp);
        CHECK(!o.so[0], "refused stack: stdout %s", o.so);
        drop(&o);
    }

    /* plugins: the template method runs; a future ABI is refused */
    write_file("plug.yaml",
               "suite: plug\ndefaults: {steps: 4, warmup_steps: 1}\nmodels: [{name: n, "
               "preset: gpt-nano}]\nmethods: [{name: template, lr: 0.001}]\n");
    o = mb("run -q --plugin %s/libmb_template.so --out %s/plug %s/plug.yaml", build, tmp, tmp);
    CHECK(o.rc == 0 && line_has(o.so, "cpu/n/template(lr=0.001)/bs=4/seq=32/fp32/r0", " ok "),
          "template plugin: rc %d\n%s%s", o.rc, o.so, o.se);
    drop(&o);
    o = mb("methods --plugin %s/libmb_template.so show template", build);
    CHECK(o.rc == 0 && strstr(o.so, "signSGD"), "methods show template");
    drop(&o);
    o = mb("run --plugin %s/libmb_bad_abi.so %s/plug.yaml", build, tmp);
    CHECK(o.rc == 2, "bad abi rc %d", o.rc);
    snprintf(exp, sizeof exp,
             "membench run: plugin %s/libmb_bad_abi.so was built for method ABI version %u, this "
             "membench has version %u: rebuild it against this methods/method.h\n",
             build, MB_METHOD_ABI_VERSION + 1, MB_METHOD_ABI_VERSION);
    CHECK_STR(o.se, exp);
    drop(&o);
    o = mb("run --plugin %s/libmb_old_abi.so %s/plug.yaml", build, tmp);
    CHECK(o.rc == 2, "old abi rc %d", o.rc);
    snprintf(exp, sizeof exp,
             "membench run: plugin %s/libmb_old_abi.so was built for method ABI version %u, this "
             "membench has version %u: rebuild it against this methods/method.h\n",
             build, MB_METHOD_ABI_VERSION - 1, MB_METHOD_ABI_VERSION);
    CHECK_STR(o.se, exp);
    drop(&o);

    /* a suite naming a corpus that is not fetched: exit 2 and the exact command that fetches it */
    write_file("sotu.yaml", "suite: s\nmodels: [{name: m, preset: gpt-nano, vocab: 50257}]\n"
                            "methods: [adamw]\ndata: {name: sotu, tokenizer: gpt2}\n");
    o = mb("run -q -o %s/sotu-out %s/sotu.yaml", tmp, tmp);
    CHECK(o.rc == 2, "unfetched data rc %d", o.rc);
    snprintf(exp, sizeof exp,
             "%s/sotu.yaml:4:14: error: data set 'sotu' needs sotu gpt2-bpe, which are not "
             "fetched (looked in %s): run `membench data fetch sotu gpt2-bpe`\n",
             tmp, cache);
    CHECK_STR(o.se, exp);
    drop(&o);

    /* a checkpoint saved by one suite starts another: with lr 0 its evaluation (same seed, same
     * validation batches) gives the saving run's final validation loss to the last digit */
    write_file("pre.yaml",
               "suite: pre\nseed: 3\ndefaults: {steps: 12, warmup_steps: 1, eval: "
               "{batches: 2}}\nmodels: [{name: m, preset: gpt-nano}]\n"
               "methods: [{name: adamw, lr: 0.01}]\nsave: {checkpoint: pre.safetensors}\n");
    write_file("ft.yaml",
               "suite: ft\nseed: 3\ndefaults: {steps: 1, warmup_steps: 0, eval: "
               "{batches: 2}}\nmodels: [{name: m, preset: gpt-nano}]\n"
               "methods: [{name: sgd, lr: 0}]\ninit: {checkpoint: pre-out/pre.safetensors}\n");
    o = mb("run -q -o %s/ft-out %s/ft.yaml", tmp, tmp);
    snprintf(
        exp, sizeof exp,
        "membench run: %s/ft.yaml: init.checkpoint %s/pre-out/pre.safetensors: No such file or "
        "directory (a suite with save: {checkpoint: ...} writes one)\n",
        tmp, tmp);
    CHECK(o.rc == 2, "missing checkpoint rc %d", o.rc);
    CHECK_STR(o.se, exp);
    drop(&o);
    o = mb("run -q -o %s/pre-out %s/pre.yaml", tmp, tmp);
    CHECK(o.rc == 0, "pre rc %d: %s", o.rc, o.se);
    drop(&o);
    o = mb("run -q -o %s/ft-out %s/ft.yaml", tmp, tmp);
    CHECK(o.rc == 0, "ft rc %d: %s", o.rc, o.se);
    drop(&o);
    char vals[2][64] = {"", ""};
    for (int k = 0; k < 2; k++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s/results.csv", tmp, k ? "ft-out" : "pre-out");
        mb_table t;
        CHECK_OK(&ctx, mb_table_load(&ctx, p, &t));
        int col = mb_table_col(&t, "metric_value");
        if (col >= 0 && t.nrows == 1)
            snprintf(vals[k], sizeof vals[k], "%s", mb_table_get(&t, 0, col));
        mb_table_free(&t);
    }
    CHECK(vals[0][0] && !strcmp(vals[0], vals[1]),
          "validation loss %s after saving, %s from the loaded checkpoint", vals[0], vals[1]);
    printf("checkpoint round trip: validation loss %s when saved, %s when loaded\n", vals[0],
           vals[1]);

    /* the same as one file of two suites: the second starts from the first's checkpoint */
    write_file("pipe.yaml",
               "suite: pre\nseed: 3\ndefaults: {steps: 12, warmup_steps: 1, eval: "
               "{batches: 2}}\nmodels: [{name: m, preset: gpt-nano}]\n"
               "methods: [{name: adamw, lr: 0.01}]\nsave: {checkpoint: pre.safetensors}\n"
               "---\nsuite: ft\nseed: 3\ndefaults: {steps: 1, warmup_steps: 0, "
               "eval: {batches: 2}}\nmodels: [{name: m, preset: gpt-nano}]\n"
               "methods: [{name: sgd, lr: 0}]\ninit: {suite: pre}\n");
    o = mb("run -q -o %s/pipe %s/pipe.yaml", tmp, tmp);
    CHECK(o.rc == 0, "pipeline rc %d: %s", o.rc, o.se);
    drop(&o);
    for (int k = 0; k < 2; k++) {
        char p[256], v[64] = "";
        snprintf(p, sizeof p, "%s/pipe/%s/results.csv", tmp, k ? "ft" : "pre");
        mb_table t;
        CHECK_OK(&ctx, mb_table_load(&ctx, p, &t));
        int col = mb_table_col(&t, "metric_value");
        if (col >= 0 && t.nrows == 1) snprintf(v, sizeof v, "%s", mb_table_get(&t, 0, col));
        mb_table_free(&t);
        CHECK(!strcmp(v, vals[0]), "pipeline %s: validation loss %s, expected %s", k ? "ft" : "pre",
              v, vals[0]);
    }

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    CHECK_DONE();
}
