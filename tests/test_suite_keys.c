/* tests/test_suite_keys.c — the suite's baseline: key (its forms and exact errors), the results'
 * baseline column and run.json's baseline on a tiny CPU run, what --dry-run refuses before any cell
 * (a data set not fetched, a stack every model refuses) or marks invalid (a stack one model
 * refuses, whose run gives that cell an invalid row), and compare on an older schema's CSV.
 * argv: membench binary, source dir. */
#include <sys/stat.h>
#include <unistd.h>

#include "../harness/suite.h"
#include "check.h"
#include "proc.h"

static const char head[] = "suite: s\n"
                           "models: [{name: n, preset: gpt-nano}]\n"
                           "methods:\n"
                           "  - {name: adamw, lr: 0.003}\n"
                           "  - {name: adamw, lr: 0.003, weight_decay: 0.1}\n"
                           "  - {stack: [checkpointing, adamw]}\n"
                           "  - &s {name: sgd, lr: 0.1}\n";

/* Loads head + `tail`; returns the baseline's index, or -1 with the error in err. */
static int baseline_of(mb_ctx *ctx, const mb_registry *reg, const char *tail, char *err, size_t n) {
    char text[1024];
    snprintf(text, sizeof text, "%s%s", head, tail);
    mb_suite s;
    if (mb_suite_load_string(ctx, reg, "t.yaml", text, &s) != MB_OK) {
        snprintf(err, n, "%s", ctx->err);
        return -1;
    }
    int b = s.baseline;
    mb_suite_free(&s);
    err[0] = 0;
    return b;
}

static void check_baseline_key(mb_ctx *ctx, const mb_registry *reg) {
    static const struct {
        const char *tail;
        int want;
    } ok[] = {
        {"", 0}, /* default: the first stack */
        {"baseline: 'adamw(lr=0.003)'\n", 0},
        {"baseline: adamw(lr=0.003,weight_decay=0.1)\n", 1},
        {"baseline: [checkpointing, adamw]\n", 2},
        {"baseline: checkpointing+adamw\n", 2},
        {"baseline: sgd\n", 3},
        {"baseline: sgd(lr=0.1)\n", 3},
        {"baseline: *s\n", 3},
        {"baseline: {name: sgd, lr: 0.1}\n", 3},
        {"baseline: {stack: [checkpointing, adamw]}\n", 2},
    };
    char err[1024];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int b = baseline_of(ctx, reg, ok[i].tail, err, sizeof err);
        CHECK(b == ok[i].want, "%s: baseline %d, expected %d (%s)", ok[i].tail, b, ok[i].want, err);
    }
    /* the key may come before the methods it names */
    mb_suite s;
    CHECK(mb_suite_load_string(ctx, reg, "t.yaml",
                               "suite: s\nbaseline: sgd\nmodels: [{name: n, preset: gpt-nano}]\n"
                               "methods: [adamw, sgd]\n",
                               &s) == MB_OK &&
              s.baseline == 1,
          "baseline before methods: %s", ctx->err);
    mb_suite_free(&s);

    static const struct {
        const char *tail, *msg;
    } bad[] = {
        {"baseline: adamq\n", "t.yaml:8:11: error: baseline 'adamq' names no method stack of this "
                              "suite (did you mean 'adamw(lr=0.003)'?)"},
        {"baseline: [checkpointing, adamq]\n",
         "t.yaml:8:11: error: baseline 'checkpointing+adamq' names no method stack of this suite "
         "(did you mean 'checkpointing+adamw'?)"},
        {"baseline: sgq\n", "t.yaml:8:11: error: baseline 'sgq' names no method stack of this "
                            "suite (did you mean 'sgd'?)"},
        {"baseline: {name: sgd, lr: 0.2}\n",
         "t.yaml:8:11: error: baseline 'sgd(lr=0.2)' names no method stack of this suite (did you "
         "mean 'sgd(lr=0.1)'?)"},
        {"baseline: lomo\n",
         "t.yaml:8:11: error: baseline 'lomo' names no method stack of this suite; its stacks: "
         "adamw(lr=0.003), adamw(lr=0.003,weight_decay=0.1), checkpointing+adamw, sgd(lr=0.1)"},
        {"baseline: adamw\n",
         "t.yaml:8:11: error: baseline 'adamw' matches 2 method stacks ('adamw(lr=0.003)', "
         "'adamw(lr=0.003,weight_decay=0.1)'); name one by its label as the cells show it"},
        {"baseline: []\n", "t.yaml:8:11: error: baseline must name a method stack, got an empty "
                           "list"},
        {"baseline: [sgd, [adamw]]\n",
         "t.yaml:8:17: error: baseline[1] must be a method name, got a list"},
        {"baseline: {name: adamx}\n",
         "t.yaml:8:18: error: unknown method 'adamx' (did you mean 'adamw'?)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int b = baseline_of(ctx, reg, bad[i].tail, err, sizeof err);
        CHECK(b == -1, "%s: accepted (%d)", bad[i].tail, b);
        CHECK_STR(err, bad[i].msg);
    }
}

/* What a method refuses on every model is a load error at the stack's entry, naming the first. */
static void check_refusals(mb_ctx *ctx, const mb_registry *reg) {
    static const struct {
        const char *methods, *msg;
    } bad[] = {
        {"[adamw, {name: lisa, layers: 3}]",
         "t.yaml:3:18: error: lisa: layers 3 is more than the model's 2 blocks (model 'n'; the "
         "suite's other models refuse it too)"},
        {"[{stack: [mesa, sgd], mesa: {groups: 3}}]",
         "t.yaml:3:11: error: mesa: groups 3 does not divide the model's 4 heads (a range must "
         "cover whole heads) (model 'n'; the suite's other models refuse it too)"},
        {"[{name: sgd, nesterov: true}]", "t.yaml:3:11: error: sgd: nesterov needs momentum > 0 "
                                          "and dampening 0 (model 'n'; the suite's "
                                          "other models refuse it too)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "suite: s\nmodels: [{name: n, preset: gpt-nano}, {name: l, preset: "
                 "llama-nano}]\nmethods: %s\n",
                 bad[i].methods);
        mb_suite s;
        CHECK(mb_suite_load_string(ctx, reg, "t.yaml", text, &s) != MB_OK, "%s: accepted",
              bad[i].methods);
        CHECK_STR(ctx->err, bad[i].msg);
    }
}

/* Refused by one model of two: the suite loads, --dry-run marks that model's cell, and the run
 * gives it an `invalid` row with the method's reason while the other model's cell runs. */
static int check_partial_refusal(const char *bin, const char *tmp) {
    char p[512], cmd[2048];
    snprintf(p, sizeof p, "%s/partial.yaml", tmp);
    if (write_whole(p, "suite: partial\nseed: 1\n"
                       "defaults: {steps: 2, warmup_steps: 0, eval: {batches: 1}}\n"
                       "models: [{name: n, preset: gpt-nano}, {name: g4, arch: gpt, layers: 4, "
                       "d_model: 64, heads: 4, seq_len: 32, vocab: 256}]\n"
                       "data: {name: synthetic, vocab: 256}\n"
                       "task: {kind: train, batch_size: 2}\n"
                       "methods: [{name: lisa, layers: 3}]\n"))
        return 1;
    static const char why[] = "lisa: layers 3 is more than the model's 2 blocks";
    snprintf(cmd, sizeof cmd, "%s run --dry-run %s", bin, p);
    out o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0, "partial dry run: exit %d: %s", o.rc, o.se);
    CHECK(strstr(o.so, "  cpu/n/lisa(layers=3)/bs=2/seq=32/fp32/r0  (invalid: lisa: layers 3 "
                       "is more than the model's 2 blocks)\n") &&
              strstr(o.so, "  cpu/g4/lisa(layers=3)/bs=2/seq=32/fp32/r0\n"),
          "dry run does not mark the refused cell alone:\n%s", o.so);
    drop(&o);
    snprintf(cmd, sizeof cmd, "%s run -q --out %s/partial %s", bin, tmp, p);
    o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0, "partial run: exit %d: %s", o.rc, o.se);
    drop(&o);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/partial", tmp);
    mb_table t;
    if (load_results(dir, &t)) return 1;
    int lc = mb_table_col(&t, "label"), sc = mb_table_col(&t, "status"),
        rc = mb_table_col(&t, "reason");
    CHECK(lc >= 0 && sc >= 0 && rc >= 0 && t.nrows == 2, "columns %d %d %d, %d rows", lc, sc, rc,
          t.nrows);
    for (int r = 0; lc >= 0 && sc >= 0 && rc >= 0 && r < t.nrows && r < 2; r++) {
        int refused = !strncmp(mb_table_get(&t, r, lc), "cpu/n/", 6);
        CHECK_STR(mb_table_get(&t, r, sc), refused ? "invalid" : "ok");
        CHECK_STR(mb_table_get(&t, r, rc), refused ? why : "");
    }
    mb_table_free(&t);
    /* the same refusal inside a max-batch search: the search's row is invalid too, not an error */
    snprintf(p, sizeof p, "%s/partial-search.yaml", tmp);
    if (write_whole(p, "suite: partial-search\nseed: 1\n"
                       "defaults: {steps: 2, warmup_steps: 0, eval: {batches: 1}}\n"
                       "targets: [{name: cap, backend: cpu, memory_cap: 64MiB}]\n"
                       "models: [{name: n, preset: gpt-nano}, {name: g4, arch: gpt, layers: 4, "
                       "d_model: 64, heads: 4, seq_len: 32, vocab: 256}]\n"
                       "data: {name: synthetic, vocab: 256}\n"
                       "task: {kind: train, batch_size: 2}\n"
                       "methods: [{name: lisa, layers: 3}]\n"
                       "search: {max_batch_size: {start: 1, max: 2, trial_steps: 2}}\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "%s run -q --out %s/partial-search %s", bin, tmp, p);
    o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0, "partial search: exit %d: %s", o.rc, o.se);
    drop(&o);
    snprintf(dir, sizeof dir, "%s/partial-search", tmp);
    if (load_results(dir, &t)) return 1;
    lc = mb_table_col(&t, "label"), sc = mb_table_col(&t, "status"),
    rc = mb_table_col(&t, "reason");
    int found = 0;
    for (int r = 0; lc >= 0 && sc >= 0 && rc >= 0 && r < t.nrows; r++)
        if (!strcmp(mb_table_get(&t, r, lc), "cap/n/lisa(layers=3)/bs=max/seq=32/fp32/r0")) {
            found = 1;
            CHECK_STR(mb_table_get(&t, r, sc), "invalid");
            CHECK_STR(mb_table_get(&t, r, rc),
                      "the trial at batch 1 ended invalid: lisa: layers 3 is more than the "
                      "model's 2 blocks (trials: 1 invalid)");
        }
    CHECK(found, "no search row for the refused model (%d rows)", t.nrows);
    mb_table_free(&t);
    return 0;
}

/* A tiny run whose baseline is its second stack: 1 on that stack's row, 0 on the others. */
static int check_column(const char *bin, const char *tmp) {
    char p[512], cmd[2048];
    snprintf(p, sizeof p, "%s/tiny.yaml", tmp);
    if (write_whole(p, "suite: tiny\nseed: 1\n"
                       "defaults: {steps: 2, warmup_steps: 0, eval: {batches: 1}}\n"
                       "models: [{name: gpt-nano, preset: gpt-nano}]\n"
                       "data: {name: synthetic, vocab: 256}\n"
                       "task: {kind: train, batch_size: 2}\n"
                       "methods: [adamw, {name: sgd, lr: 0.1}, {stack: [checkpointing, sgd], "
                       "sgd: {lr: 0.1}}]\n"
                       "baseline: sgd\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "%s run -q --out %s/tiny %s", bin, tmp, p);
    out o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0, "tiny run: exit %d: %s", o.rc, o.se);
    /* adamw's peak is above sgd's: warned once sgd has run, though adamw ran first */
    CHECK(strstr(o.se, "membench: warning: cpu/gpt-nano/adamw/bs=2/seq=32/fp32/r0 saves no memory "
                       "against the suite's baseline sgd(lr=0.1): "),
          "no warning against the baseline: %s", o.se);
    drop(&o);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/tiny", tmp);
    mb_table t;
    if (load_results(dir, &t)) return 1;
    int lc = mb_table_col(&t, "label"), bc = mb_table_col(&t, "baseline"),
        vc = mb_table_col(&t, "schema_version");
    CHECK(lc >= 0 && bc >= 0 && vc >= 0 && t.nrows == 3, "columns %d %d %d, %d rows", lc, bc, vc,
          t.nrows);
    static const char *const want[][2] = {
        {"cpu/gpt-nano/adamw/bs=2/seq=32/fp32/r0", "0"},
        {"cpu/gpt-nano/sgd(lr=0.1)/bs=2/seq=32/fp32/r0", "1"},
        {"cpu/gpt-nano/checkpointing+sgd(lr=0.1)/bs=2/seq=32/fp32/r0", "0"},
    };
    for (int r = 0; lc >= 0 && bc >= 0 && r < t.nrows && r < 3; r++) {
        CHECK_STR(mb_table_get(&t, r, lc), want[r][0]);
        CHECK_STR(mb_table_get(&t, r, bc), want[r][1]);
        CHECK_STR(mb_table_get(&t, r, vc), "2");
    }
    mb_table_free(&t);
    snprintf(p, sizeof p, "%s/tiny/run.json", tmp);
    char *json = slurp(p);
    CHECK(json && strstr(json, "\n    \"baseline\": \"sgd(lr=0.1)\"\n"), "run.json: %s",
          json ? json : "(unreadable)");
    free(json);
    /* the new file against itself: the baseline column is not part of a cell's identity */
    snprintf(cmd, sizeof cmd, "%s compare %s/tiny/results.csv %s/tiny/results.csv --ignore-time",
             bin, tmp, tmp);
    o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0 && strstr(o.so, "3 cells: 3 ok,"), "compare tiny: exit %d: %s%s", o.rc, o.so,
          o.se);
    drop(&o);
    return 0;
}

/* --dry-run refuses a data set that is not fetched, at the data key, exit 2, nothing planned. */
static int check_dry_run_data(const char *bin, const char *tmp) {
    char p[512], cmd[2048], cache[512], want[2048];
    snprintf(cache, sizeof cache, "%s/empty-cache", tmp);
    if (mkdir(cache, 0755) != 0) return 1;
    snprintf(p, sizeof p, "%s/moby.yaml", tmp);
    if (write_whole(p, "suite: moby\n"
                       "models: [{name: n, preset: gpt-nano}]\n"
                       "data: {name: moby-dick, tokenizer: bytes}\n"
                       "methods: [adamw]\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "MEMBENCH_DATA=%s %s run --dry-run %s", cache, bin, p);
    out o = run_capture(tmp, tmp, cmd);
    snprintf(want, sizeof want,
             "%s:3:14: error: data set 'moby-dick' is not fetched (looked in %s/moby-dick): run "
             "`membench data fetch moby-dick`\n",
             p, cache);
    CHECK(o.rc == 2, "dry run without the data: exit %d", o.rc);
    CHECK_STR(o.se, want);
    CHECK_STR(o.so, "");
    drop(&o);
    return 0;
}

/* Files of schema 1 (no threads, label or baseline columns) still compare. */
static void check_old_schema(const char *bin, const char *src, const char *tmp) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s compare baselines/h100/optimizers-gpt2.csv baselines/h100/optimizers-gpt2.csv",
             bin);
    out o = run_capture(src, tmp, cmd);
    CHECK(o.rc == 0, "compare of an old-schema file: exit %d: %s", o.rc, o.se);
    CHECK(strstr(o.so, "\n10 cells: 10 ok, 0 regressions, 0 inconclusive, 0 improved, 0 new, 0 "
                       "missing\nresult: OK\n"),
          "compare of an old-schema file:\n%s", o.so);
    drop(&o);
}

/* `attention:` on a model or a target: on the CPU auto keeps the engine's attention, flash puts
 * FlashAttention first in the stack (the same bytes as naming it), naive refuses a stack naming
 * flash; what ran is in the attention column, and a refused cell has none. */
static int check_attention(mb_ctx *ctx, const mb_registry *reg, const char *bin, const char *tmp) {
    char p[512], cmd[2048];
    mb_suite s;
    CHECK(mb_suite_load_string(ctx, reg, "t.yaml",
                               "suite: s\nmodels: [{name: n, preset: gpt-nano, attention: fast}]\n"
                               "methods: [adamw]\n",
                               &s) != MB_OK,
          "attention: fast accepted");
    CHECK_STR(ctx->err, "t.yaml:2:49: error: models[0].attention must be one of auto, naive, "
                        "flash, got 'fast'");
    snprintf(p, sizeof p, "%s/att.yaml", tmp);
    if (write_whole(p, "suite: att\nseed: 1\n"
                       "defaults: {steps: 2, warmup_steps: 0, eval: {batches: 1}}\n"
                       "targets: [{name: cpu, backend: cpu, attention: flash}]\n"
                       "models: [{name: auto, preset: gpt-nano, attention: auto},\n"
                       "         {name: tflash, preset: gpt-nano},\n"
                       "         {name: naive, preset: gpt-nano, attention: naive}]\n"
                       "data: {name: synthetic, vocab: 256}\n"
                       "task: {kind: train, batch_size: 2}\n"
                       "methods: [adamw, {stack: [flash, adamw]}, {stack: [mesa, adamw]}]\n"))
        return 1;
    snprintf(cmd, sizeof cmd, "%s run -q --out %s/att %s", bin, tmp, p);
    out o = run_capture(tmp, tmp, cmd);
    CHECK(o.rc == 0, "attention run: exit %d: %s", o.rc, o.se);
    drop(&o);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/att", tmp);
    mb_table t;
    if (load_results(dir, &t)) return 1;
    int ac = mb_table_col(&t, "attention"), sc = mb_table_col(&t, "status"),
        rc = mb_table_col(&t, "reason"), pc = mb_table_col(&t, "tracked_peak_bytes");
    CHECK(ac >= 0 && sc >= 0 && rc >= 0 && pc >= 0 && t.nrows == 9, "columns, %d rows", t.nrows);
    /* model x stack, in plan order: auto (the model's, over the target's flash), the target's
     * flash, naive */
    static const char *const want[9][3] = {
        {"ok", "naive", ""},
        {"ok", "flash", ""},
        {"ok", "naive", ""},
        {"ok", "flash", ""},
        {"ok", "flash", ""},
        {"invalid", "",
         "attention: flash: mesa: the attention probabilities it codes do not exist under flash"},
        {"ok", "naive", ""},
        {"invalid", "", "attention: naive, but the method stack names flash; drop one"},
        {"ok", "naive", ""},
    };
    for (int r = 0; t.nrows == 9 && r < 9; r++) {
        CHECK_STR(mb_table_get(&t, r, sc), want[r][0]);
        CHECK_STR(mb_table_get(&t, r, ac), want[r][1]);
        CHECK(!strncmp(mb_table_get(&t, r, rc), want[r][2], strlen(want[r][2])), "row %d: %s", r,
              mb_table_get(&t, r, rc));
    }
    /* flash chosen by the setting holds what naming it holds, less than the engine's attention */
    if (t.nrows == 9) {
        CHECK_STR(mb_table_get(&t, 3, pc), mb_table_get(&t, 1, pc));
        CHECK(atoll(mb_table_get(&t, 1, pc)) < atoll(mb_table_get(&t, 0, pc)), "flash saves");
    }
    mb_table_free(&t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_suite_keys MEMBENCH SOURCE_DIR\n");
        return 2;
    }
    const char *bin = argv[1], *src = argv[2];
    setenv("OMP_NUM_THREADS", "1", 0);
    char tmp[64] = "/tmp/mb_test_suite_keys_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_registry reg;
    mb_registry_init(&reg);
    check_baseline_key(&ctx, &reg);
    check_refusals(&ctx, &reg);
    if (check_column(bin, tmp) || check_dry_run_data(bin, tmp) || check_partial_refusal(bin, tmp))
        return 1;
    check_old_schema(bin, src, tmp);
    if (check_attention(&ctx, &reg, bin, tmp)) return 1;
    mb_registry_fini(&reg);
    mb_ctx_fini(&ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!mb_check_failures && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    CHECK_DONE();
}
