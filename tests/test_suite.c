/* tests/test_suite.c — the suite loader: every resolved field of a full suite, the defaults, and
 * the exact FILE:LINE:COL message of each kind of mistake. argv[1]: the folder of tests/suites. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness/plan.h"
#include "../harness/suite.h"
#include "check.h"

/* A method with an INT, an ENUM and a linear slot, handed to the registry as a plugin would be, so
 * the loader's other parameter types and a two-method stack can be tested with the built-ins. */
static mb_status probe_linear(void *priv, struct mb_train *tr, const mb_linear_call *c) {
    (void)priv;
    (void)tr;
    (void)c;
    return MB_OK;
}
static const mb_param_decl probe_params[] = {
    {.name = "rank",
     .type = MB_PT_INT,
     .def = 8,
     .min = 1,
     .max = 4096,
     .choices = NULL,
     .help = "adapter rank"},
    {.name = "mode",
     .type = MB_PT_ENUM,
     .def = 0,
     .min = 0,
     .max = 0,
     .choices = "fast|exact|lazy",
     .help = "how to compute"},
};
static const mb_method probe = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "probe",
    .paper = "none",
    .summary = "test method",
    .params = probe_params,
    .nparams = 2,
    .linear_forward = probe_linear,
};

static int is_zero(const mb_suite *s) {
    mb_suite z;
    memset(&z, 0, sizeof z);
    return !memcmp(s, &z, sizeof z);
}

/* Loads `text` as t.yaml and expects status `want`, exactly `msg`, and a zeroed suite. */
static void expect(mb_ctx *ctx, const mb_registry *reg, const char *text, mb_status want,
                   const char *msg, int line) {
    mb_suite s;
    memset(&s, 0xA5, sizeof s); /* the loader must zero it, not rely on the caller */
    mb_status st = mb_suite_load_string(ctx, reg, "t.yaml", text, &s);
    CHECK(st == want, "case at line %d: status %s, expected %s (%s)", line, mb_status_name(st),
          mb_status_name(want), ctx->err);
    CHECK_STR(ctx->err, msg);
    CHECK(is_zero(&s), "case at line %d: the suite is not zeroed after a failure", line);
    if (st == MB_OK) mb_suite_free(&s);
}
#define EXPECT(text, want, msg) expect(&ctx, &reg, (text), (want), (msg), __LINE__)
#define BAD(text, msg) EXPECT((text), MB_EINVAL, (msg))

/* The three required keys; the case's own lines start at line 4. */
#define HEAD "suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"

static int test_valid_file(mb_ctx *ctx, const mb_registry *reg, const char *dir) {
    char path[1024], want[1100];
    snprintf(path, sizeof path, "%s/valid.yaml", dir);
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load(ctx, reg, path, &s));
    CHECK_STR(s.path, path);
    CHECK_STR(s.name, "optimizers-gpt");
    CHECK_EQ_U(s.seed, 1234);
    CHECK(s.repeat == 3, "repeat %d", s.repeat);
    CHECK(s.steps == 200 && s.warmup_steps == 10, "steps %d warmup %d", s.steps, s.warmup_steps);
    CHECK(s.precision == MB_PREC_BF16, "precision %s", mb_precision_name(s.precision));
    CHECK(s.eval_every == 50 && s.eval_batches == 20, "eval %d %d", s.eval_every, s.eval_batches);
    CHECK(s.batch_size == 8 && s.seq_len == 128, "task %d %d", s.batch_size, s.seq_len);

    CHECK(s.ntargets == 3, "%d targets", s.ntargets);
    CHECK_STR(s.targets[0].name, "cpu");
    CHECK(s.targets[0].backend == MB_TARGET_CPU && s.targets[0].device == 0, "cpu target");
    CHECK_EQ_U(s.targets[0].memory_cap, 0);
    CHECK_STR(s.targets[1].name, "h100");
    CHECK(s.targets[1].backend == MB_TARGET_CUDA && s.targets[1].device == 1, "h100 target");
    CHECK_STR(s.targets[2].name, "24gb-card");
    CHECK_EQ_U(s.targets[2].memory_cap, 25769803776ull); /* 24 GiB */

    CHECK(s.nmodels == 3, "%d models", s.nmodels);
    CHECK_STR(s.models[0].name, "gpt2-124m");
    CHECK_STR(s.models[0].preset, "gpt2-124m");
    mb_model_config g = s.models[0].shape;
    CHECK(g.layers == 12 && g.d_model == 768 && g.heads == 12 && g.seq_len == 1024 &&
              g.vocab == 50257,
          "gpt2-124m shape");
    CHECK_STR(s.models[1].preset, "gpt-nano");
    g = s.models[1].shape; /* gpt-nano with seq_len overridden */
    CHECK(g.layers == 2 && g.d_model == 64 && g.heads == 4 && g.seq_len == 64 && g.vocab == 256,
          "nano-long shape %d %d %d %d %d", g.layers, g.d_model, g.heads, g.seq_len, g.vocab);
    CHECK(s.models[2].preset == NULL, "tiny has no preset");
    g = s.models[2].shape;
    CHECK(g.layers == 4 && g.d_model == 256 && g.heads == 4 && g.seq_len == 256 && g.vocab == 256,
          "tiny shape");

    CHECK(s.data.kind == MB_DATA_FILE && s.data.vocab == 256, "data kind");
    snprintf(want, sizeof want, "%s/../../README.md", dir); /* relative to the suite's folder */
    CHECK_STR(s.data.path, want);
    CHECK(s.data.val_fraction == 0.05, "val_fraction %g", s.data.val_fraction);

    CHECK(s.nstacks == 4, "%d stacks", s.nstacks);
    const mb_stack_cfg *st = s.stacks;
    CHECK_STR(st[0].label, "adamw");
    CHECK(st[0].n == 1 && !strcmp(st[0].items[0].method->name, "adamw"), "stack 0");
    CHECK(st[0].items[0].vals[0].num == 3e-4 && st[0].items[0].vals[4].num == 0, "adamw defaults");
    CHECK_STR(st[1].label, "adamw");
    const mb_pvalue *v = st[1].items[0].vals; /* lr beta1 beta2 eps weight_decay */
    CHECK(v[0].num == 0.001 && v[1].num == 0.9 && v[2].num == 0.999 && v[3].num == 1e-8 &&
              v[4].num == 0.1,
          "adamw params");
    CHECK_STR(st[2].label, "sgd");
    v = st[2].items[0].vals; /* lr momentum dampening weight_decay nesterov */
    CHECK(v[0].num == 0.05 && v[1].num == 0.9 && v[2].num == 0 && v[3].num == 0 && v[4].num == 1,
          "sgd params");
    CHECK_STR(st[3].label, "sgd");
    v = st[3].items[0].vals; /* the stack form; lr through a YAML alias */
    CHECK(v[0].num == 0.05 && v[1].num == 0 && v[2].num == 0.5 && v[4].num == 0, "stack params");

    CHECK(s.naxes == 2, "%d axes", s.naxes);
    CHECK_STR(s.axes[0].key, "batch_size");
    CHECK(s.axes[0].n == 3 && s.axes[0].ints[0] == 4 && s.axes[0].ints[1] == 8 &&
              s.axes[0].ints[2] == 16 && !s.axes[0].precs,
          "batch_size axis");
    CHECK_STR(s.axes[1].key, "precision");
    CHECK(s.axes[1].n == 2 && s.axes[1].precs[0] == MB_PREC_FP32 &&
              s.axes[1].precs[1] == MB_PREC_BF16 && !s.axes[1].ints,
          "precision axis");

    mb_suite_free(&s);
    CHECK(is_zero(&s), "mb_suite_free leaves a zeroed suite");
    mb_suite_free(&s); /* and a second free is harmless */
    return 0;
}

static int test_defaults(mb_ctx *ctx, const mb_registry *reg) {
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "min.yaml", HEAD, &s));
    CHECK_STR(s.path, "min.yaml");
    CHECK_STR(s.name, "x");
    CHECK(s.seed == 0 && s.repeat == 1, "seed %llu repeat %d", (unsigned long long)s.seed,
          s.repeat);
    CHECK(s.steps == 20 && s.warmup_steps == 2 && s.precision == MB_PREC_FP32, "defaults");
    CHECK(s.eval_every == 0 && s.eval_batches == 4, "eval defaults");
    CHECK(s.batch_size == 4 && s.seq_len == 0, "task defaults");
    CHECK(s.data.kind == MB_DATA_SYNTHETIC && s.data.path == NULL && s.data.vocab == 256 &&
              s.data.val_fraction == 0.1,
          "data defaults");
    CHECK(s.ntargets == 1 && !strcmp(s.targets[0].name, "cpu") &&
              s.targets[0].backend == MB_TARGET_CPU && s.targets[0].device == 0 &&
              s.targets[0].memory_cap == 0,
          "the default target");
    CHECK(s.nmodels == 1 && s.nstacks == 1 && s.naxes == 0, "counts");
    mb_suite_free(&s);

    /* a one-step run: the default warm-up shrinks instead of failing on a key not written */
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml", HEAD "defaults: {steps: 1}\n", &s));
    CHECK(s.steps == 1 && s.warmup_steps == 0, "warmup %d", s.warmup_steps);
    mb_suite_free(&s);

    /* memory sizes */
    static const struct {
        const char *text;
        unsigned long long bytes;
    } sizes[] = {{"65536", 65536},          {"512B", 512},
                 {"64KiB", 65536},          {"512MiB", 536870912},
                 {"24GiB", 25769803776ull}, {"1TiB", 1099511627776ull},
                 {"8GB", 8000000000ull},    {"1.5 GiB", 1610612736},
                 {"100 KB", 100000},        {"'24GiB'", 25769803776ull}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, HEAD "targets: [{name: t, memory_cap: %s}]\n", sizes[i].text);
        CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml", text, &s));
        CHECK(s.targets[0].memory_cap == sizes[i].bytes, "%s: %zu", sizes[i].text,
              s.targets[0].memory_cap);
        mb_suite_free(&s);
    }

    /* data paths of a suite given as a string stay as written (relative to the working directory)
     */
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "suites/t.yaml",
                                       HEAD "data: {name: file, path: corpus/a.txt}\n", &s));
    CHECK_STR(s.data.path, "corpus/a.txt");
    mb_suite_free(&s);
    return 0;
}

/* A two-method stack, with the INT and ENUM parameter types, through a stand-in plugin. */
static int test_stack(mb_ctx *ctx, mb_registry *reg) {
    reg->plugin[0] = &probe;
    reg->nplugins = 1;
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml",
                                       "suite: x\nmodels: [{name: m, preset: gpt-nano}]\n"
                                       "methods:\n"
                                       "  - {stack: [probe, adamw], probe: {rank: 16, mode: lazy}, "
                                       "adamw: {lr: 0.01}}\n"
                                       "  - {name: probe}\n",
                                       &s));
    CHECK(s.nstacks == 2, "%d stacks", s.nstacks);
    CHECK_STR(s.stacks[0].label, "probe+adamw");
    CHECK(s.stacks[0].n == 2 && s.stacks[0].items[0].method == &probe, "stack order");
    CHECK(s.stacks[0].items[0].vals[0].num == 16 && s.stacks[0].items[0].vals[1].num == 2,
          "probe params");
    CHECK(s.stacks[0].items[1].vals[0].num == 0.01, "adamw lr in a stack");
    CHECK(s.stacks[1].items[0].vals[0].num == 8 && s.stacks[1].items[0].vals[1].num == 0,
          "probe defaults");
    mb_suite_free(&s);
    return 0;
}

/* Target presets: backend and cap in GiB (binary), named after the preset unless a name is given,
 * and any key beside the preset overriding it. */
static int test_target_presets(mb_ctx *ctx, mb_registry *reg) {
    static const struct {
        const char *preset;
        mb_backend_kind backend;
        uint64_t cap;
    } want[] = {{"h100-80g", MB_TARGET_CUDA, 85899345920ull},
                {"a100-40g", MB_TARGET_CUDA, 42949672960ull},
                {"rtx4090-24g", MB_TARGET_CUDA, 25769803776ull},
                {"l4-24g", MB_TARGET_CUDA, 25769803776ull},
                {"jetson-orin-8g", MB_TARGET_CUDA, 8589934592ull},
                {"cpu", MB_TARGET_CPU, 0}};
    char text[512];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        mb_suite s;
        snprintf(text, sizeof text, HEAD "targets: [{preset: %s}]\n", want[i].preset);
        CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml", text, &s));
        CHECK(s.ntargets == 1, "%s: %d targets", want[i].preset, s.ntargets);
        CHECK_STR(s.targets[0].name, want[i].preset);
        CHECK(s.targets[0].backend == want[i].backend, "%s: backend", want[i].preset);
        CHECK(s.targets[0].device == 0, "%s: device", want[i].preset);
        CHECK_EQ_U(s.targets[0].memory_cap, want[i].cap);
        mb_suite_free(&s);
    }
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml",
                                       HEAD "targets:\n"
                                            "  - {name: small-4090, preset: rtx4090-24g, "
                                            "memory_cap: 1GiB, device: 2}\n"
                                            "  - {preset: h100-80g, backend: cpu}\n"
                                            "  - {name: plain, backend: cpu}\n",
                                       &s));
    CHECK(s.ntargets == 3, "%d targets", s.ntargets);
    CHECK_STR(s.targets[0].name, "small-4090");
    CHECK(s.targets[0].backend == MB_TARGET_CUDA && s.targets[0].device == 2, "override device");
    CHECK_EQ_U(s.targets[0].memory_cap, 1073741824ull);
    CHECK_STR(s.targets[1].name, "h100-80g");
    CHECK(s.targets[1].backend == MB_TARGET_CPU, "override backend");
    CHECK_EQ_U(s.targets[1].memory_cap, 85899345920ull);
    CHECK_STR(s.targets[2].name, "plain");
    CHECK_EQ_U(s.targets[2].memory_cap, 0);
    mb_suite_free(&s);
    return 0;
}

/* A model's batch_size overrides the task's for its cells; a matrix batch_size axis overrides both.
 */
static int test_model_batch(mb_ctx *ctx, mb_registry *reg) {
    mb_suite s;
    mb_plan p;
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml",
                                       "suite: x\nmethods: [adamw]\ntask: {batch_size: 8}\n"
                                       "models: [{name: a, preset: gpt-nano},\n"
                                       "         {name: b, preset: gpt-nano, batch_size: 4}]\n",
                                       &s));
    CHECK(s.models[0].batch_size == 0 && s.models[1].batch_size == 4, "model batch sizes %d %d",
          s.models[0].batch_size, s.models[1].batch_size);
    CHECK_OK(ctx, mb_plan_build(ctx, &s, NULL, &p));
    CHECK(p.n == 2 && p.cells[0].batch_size == 8 && p.cells[1].batch_size == 4,
          "cells: %d, batch %d and %d", p.n, p.cells[0].batch_size, p.cells[1].batch_size);
    mb_plan_free(&p);
    mb_suite_free(&s);
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml",
                                       "suite: x\nmethods: [adamw]\nmatrix: {batch_size: [2]}\n"
                                       "models: [{name: b, preset: gpt-nano, batch_size: 4}]\n",
                                       &s));
    CHECK_OK(ctx, mb_plan_build(ctx, &s, NULL, &p));
    CHECK(p.n == 1 && p.cells[0].batch_size == 2, "matrix wins: batch %d", p.cells[0].batch_size);
    mb_plan_free(&p);
    mb_suite_free(&s);
    expect(ctx, reg,
           "suite: x\nmethods: [adamw]\nmodels: [{name: b, preset: gpt-nano, "
           "batch_size: 0}]\n",
           MB_EINVAL, "t.yaml:3:50: error: models[0].batch_size must be in [1, 1048576], got 0",
           __LINE__);
    return 0;
}

/* The corpora: GPT-2 tokens by default (vocabulary 50257), bytes on request (256). */
static int test_data_corpus(mb_ctx *ctx, mb_registry *reg) {
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml",
                                       HEAD "data: {name: sotu, val_fraction: 0.05}\n", &s));
    CHECK(s.data.kind == MB_DATA_SOTU && s.data.tokenizer == 0 && s.data.vocab == 50257,
          "sotu: kind %d tokenizer %d vocab %d", s.data.kind, s.data.tokenizer, s.data.vocab);
    CHECK(s.data.val_fraction == 0.05, "val_fraction %g", s.data.val_fraction);
    mb_suite_free(&s);
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml",
                                       HEAD "data: {name: moby-dick, tokenizer: bytes}\n", &s));
    CHECK(s.data.kind == MB_DATA_MOBY_DICK && s.data.tokenizer == 1 && s.data.vocab == 256,
          "moby-dick bytes: kind %d tokenizer %d vocab %d", s.data.kind, s.data.tokenizer,
          s.data.vocab);
    mb_suite_free(&s);
    return 0;
}

/* data.tokenizer: FILE.json, a tokenizer.json for the corpora: read at load time, its vocabulary
 * the data's; one membench cannot encode is an error at the tokenizer key with the file's own
 * FILE:LINE:COL and JSON path. */
static int test_data_tokenizer_file(mb_ctx *ctx, mb_registry *reg, const char *dir) {
    char text[1400], msg[1400], fix[1024], bad[] = "/tmp/mbsuitetok.XXXXXX";
    snprintf(fix, sizeof fix, "%s/../fixtures/hftok/llama3.json", dir);
    snprintf(text, sizeof text, HEAD "data: {name: sotu, tokenizer: %s}\n", fix);
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load_string(ctx, reg, "t.yaml", text, &s));
    CHECK(s.data.kind == MB_DATA_SOTU && s.data.tokenizer == MB_DATA_TOK_FILE &&
              s.data.vocab == 266 && s.data.tokenizer_file && !strcmp(s.data.tokenizer_file, fix),
          "sotu with llama3.json: tokenizer %d vocab %d", s.data.tokenizer, s.data.vocab);
    mb_suite_free(&s);
    int fd = mkstemp(bad);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return 1;
    const char wp[] = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}";
    CHECK(write(fd, wp, sizeof wp - 1) == (ssize_t)(sizeof wp - 1), "write");
    close(fd);
    char json[1100];
    snprintf(json, sizeof json, "%s.json", bad);
    CHECK(rename(bad, json) == 0, "rename");
    snprintf(text, sizeof text, HEAD "data: {name: moby-dick, tokenizer: %s}\n", json);
    snprintf(msg, sizeof msg,
             "t.yaml:4:36: error: data.tokenizer: %s:1:20: model.type: \"WordPiece\" is not "
             "supported (membench reads BPE models)",
             json);
    expect(ctx, reg, text, MB_EINVAL, msg, __LINE__);
    snprintf(text, sizeof text,
             HEAD "data: {name: spam-assassin, tokenizer: %s}\n"
                  "task: {kind: classify}\n",
             fix);
    expect(ctx, reg, text, MB_EINVAL,
           "t.yaml:4:40: error: data.tokenizer: a tokenizer.json applies to sotu and moby-dick "
           "(spam-assassin takes gpt2 or bytes)",
           __LINE__);
    unlink(json);
    return 0;
}

/* A file of several suites: loaded in order; init: {suite: NAME} must name an earlier document
 * that saves; names are unique; the one-suite loader refuses such a file. */
static int check_pipeline(mb_ctx *ctx, const mb_registry *reg) {
    const char *two =
        "suite: pre\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"
        "save: {checkpoint: w.safetensors}\n---\nsuite: ft\nmodels: [{name: m, preset: "
        "gpt-nano}]\nmethods: [lora, sgd]\ninit: {suite: pre}\n---\n";
    mb_suite_file f;
    CHECK_OK(ctx, mb_suite_file_load_string(ctx, reg, "p.yaml", two, &f));
    CHECK(f.n == 2 && !strcmp(f.docs[0].name, "pre") && !strcmp(f.docs[1].init_suite, "pre") &&
              !strcmp(f.docs[0].save_checkpoint, "w.safetensors") && f.docs[1].index == 1,
          "two documents read wrong");
    mb_suite_file_free(&f);
    mb_suite one;
    CHECK(mb_suite_load_string(ctx, reg, "p.yaml", two, &one) == MB_EINVAL, "one-suite loader");
    CHECK_STR(ctx->err, "p.yaml: error: it holds 2 suites; load it as a suite file");
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"suite: a\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\ninit: {suite: b}\n",
         "p.yaml:4:15: error: no earlier document of this file is suite 'b' (init.suite names one "
         "that runs before, in the same file)"},
        {"suite: a\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n---\nsuite: b\n"
         "models: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\ninit: {suite: a}\n",
         "p.yaml:8:15: error: suite 'a' saves no checkpoint (it has no save: {checkpoint: "
         "NAME})"},
        {"suite: a\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n---\nsuite: a\n"
         "models: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n",
         "p.yaml:5:8: error: suite a is the name of an earlier document of this file"},
        {"suite: a\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"
         "init: {suite: a, checkpoint: w.st}\n",
         "p.yaml:4:15: error: init takes checkpoint or suite, not both"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CHECK(mb_suite_file_load_string(ctx, reg, "p.yaml", bad[k].text, &f) == MB_EINVAL,
              "case %zu accepted", k);
        CHECK_STR(ctx->err, bad[k].msg);
    }
    return 0;
}

/* A preset with keys overridden: the derived fields follow the overridden shape (GPT's kv_heads and
 * d_ff from heads and d_model), a LLaMA preset's kv_heads too unless given. */
static int test_preset_overrides(mb_ctx *ctx, const mb_registry *reg) {
    mb_suite s;
    CHECK_OK(ctx, mb_suite_load_string(
                      ctx, reg, "t.yaml",
                      "suite: x\nmethods: [adamw]\nmodels:\n"
                      "  - {name: a, preset: gpt2-124m, layers: 6, d_model: 384, heads: 6}\n"
                      "  - {name: b, preset: llama-60m, heads: 16}\n"
                      "  - {name: c, preset: llama-60m, heads: 16, kv_heads: 4}\n",
                      &s));
    const mb_model_config *a = &s.models[0].shape, *b = &s.models[1].shape, *c = &s.models[2].shape;
    CHECK(a->arch == MB_ARCH_GPT && a->kv_heads == 6 && a->d_ff == 1536 && a->tie == 1,
          "gpt2-124m at d 384, 6 heads: kv_heads %d, d_ff %d, tie %d", a->kv_heads, a->d_ff,
          a->tie);
    CHECK(b->arch == MB_ARCH_LLAMA && b->heads == 16 && b->kv_heads == 16 && b->d_ff == 1376 &&
              b->tie == -1,
          "llama-60m with 16 heads: kv_heads %d, d_ff %d, tie %d", b->kv_heads, b->d_ff, b->tie);
    CHECK(c->kv_heads == 4, "llama-60m with kv_heads 4: %d", c->kv_heads);
    mb_suite_free(&s);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/suites";
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_registry reg;
    mb_registry_init(&reg);

    if (test_valid_file(&ctx, &reg, dir)) return 1;
    if (test_defaults(&ctx, &reg)) return 1;
    if (check_pipeline(&ctx, &reg)) return 1;
    if (test_preset_overrides(&ctx, &reg)) return 1;

    /* files: missing, and indented with a tab */
    char path[1024], want[1200];
    mb_suite s;
    snprintf(path, sizeof path, "%s/no-such-suite.yaml", dir);
    CHECK(mb_suite_load(&ctx, &reg, path, &s) == MB_EIO, "a missing file is MB_EIO");
    snprintf(want, sizeof want, "%s: error: cannot open: No such file or directory", path);
    CHECK_STR(ctx.err, want);
    CHECK(is_zero(&s), "zeroed after a missing file");
    snprintf(path, sizeof path, "%s/tab_indent.yaml", dir);
    CHECK(mb_suite_load(&ctx, &reg, path, &s) == MB_EFORMAT, "a tab is a syntax error");
    snprintf(want, sizeof want,
             "%s:4:1: error: a tab indents this line; YAML cannot be indented with tabs, use "
             "spaces",
             path);
    CHECK_STR(ctx.err, want);
    CHECK(is_zero(&s), "zeroed after a syntax error");

    /* YAML syntax */
    EXPECT("suite: x\nmodels: [1, 2\nseed: 3\n", MB_EFORMAT,
           "t.yaml:3:5: error: invalid YAML: did not find expected ',' or ']' while parsing a "
           "flow sequence that started at line 2, column 9");
    EXPECT("suite: \"x\n", MB_EFORMAT,
           "t.yaml:2:1: error: invalid YAML: found unexpected end of stream while scanning a "
           "quoted scalar that started at line 1, column 8");
    EXPECT("suite: x\n  seed: 1\n", MB_EFORMAT,
           "t.yaml:2:7: error: invalid YAML: mapping values are not allowed in this context");
    EXPECT("suite: x\nmodels: *m\n", MB_EFORMAT,
           "t.yaml:2:9: error: invalid YAML: found undefined alias");
    EXPECT("suite: x\n\tseed: 1\n", MB_EFORMAT,
           "t.yaml:2:1: error: a tab indents this line; YAML cannot be indented with tabs, use "
           "spaces");
    EXPECT("suite: x\nseed: \x01\n", MB_EFORMAT,
           "t.yaml:2:7: error: invalid YAML: control characters are not allowed (U+0001)");
    EXPECT("suite: \xff\n", MB_EFORMAT,
           "t.yaml:1:8: error: invalid YAML: invalid leading UTF-8 octet (byte 0xFF); a suite "
           "must be UTF-8 text");

    /* the document's shape */
    const char *empty_msg =
        "t.yaml: error: the suite is empty: expected a mapping with suite, models and methods";
    BAD("", empty_msg);
    BAD("# only a comment\n\n", empty_msg);
    BAD("---\n...\n", empty_msg);
    BAD("~\n", empty_msg);
    BAD("- suite: x\n", "t.yaml:1:1: error: the suite must be a mapping of keys, found a list");
    BAD("just words\n",
        "t.yaml:1:1: error: the suite must be a mapping of keys, found 'just words'");
    /* a second document is a suite of its own */
    BAD(HEAD "---\nsuite: y\n", "t.yaml:5:1: error: missing required key 'models'");
    BAD("suite: x\nmethods: [adamw]\n", "t.yaml:1:1: error: missing required key 'models'");
    BAD("seed: 1\nmodels: []\n", "t.yaml:1:1: error: missing required key 'suite'");
    BAD("suite: x\nseed: 1\nseed: 2\n",
        "t.yaml:3:1: error: duplicate key 'seed' (first at line 2)");
    BAD(HEAD "defaults: {steps: 5, steps: 6}\n",
        "t.yaml:4:22: error: duplicate key 'steps' (first at line 4, column 12)");
    BAD(HEAD "? [a, b]\n: 1\n", "t.yaml:4:3: error: a key must be a name, got a list");
    BAD(HEAD "x: &a [1, *a]\n",
        "t.yaml:4:4: error: an alias refers to a node that contains it; a suite cannot be "
        "recursive");
    {
        char deep[512] = HEAD "defaults: ";
        for (int i = 0; i < 70; i++) strcat(deep, "[");
        for (int i = 0; i < 70; i++) strcat(deep, "]");
        BAD(deep, "t.yaml:4:74: error: the suite nests more than 64 levels deep");
    }

    /* unknown names, with the nearest valid one or the list */
    BAD(HEAD "sede: 1\n", "t.yaml:4:1: error: unknown top-level key 'sede' (did you mean 'seed'?)");
    BAD(HEAD "defaults: {setps: 10}\n",
        "t.yaml:4:12: error: unknown key 'setps' in defaults (did you mean 'steps'?)");
    BAD(HEAD "defaults: {foo: 1}\n",
        "t.yaml:4:12: error: unknown key 'foo' in defaults (valid: steps, warmup_steps, "
        "precision, eval)");
    BAD(HEAD "defaults: {eval: {evry: 5}}\n",
        "t.yaml:4:19: error: unknown key 'evry' in defaults.eval (did you mean 'every'?)");
    BAD(HEAD "targets: [{name: g, bakend: cuda}]\n",
        "t.yaml:4:21: error: unknown key 'bakend' in targets[0] (did you mean 'backend'?)");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamww]\n",
        "t.yaml:3:11: error: unknown method 'adamww' (did you mean 'adamw'?)");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw, sgd]\n"
        "save: {checkpoint: w.safetensors}\n",
        "t.yaml:4:7: error: a suite that saves a checkpoint runs one cell (one target, model and "
        "method stack, no matrix, repeat 1, no search); this one has 2");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"
        "save: {checkpoint: out/w.safetensors}\n",
        "t.yaml:4:20: error: save.checkpoint must be a plain file name (no '/', not starting with "
        "'.'), written into the results folder; got 'out/w.safetensors'");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n"
        "init: {checkpont: w.st}\n",
        "t.yaml:4:8: error: unknown key 'checkpont' in init (did you mean 'checkpoint'?)");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [shampoo]\n",
        "t.yaml:3:11: error: unknown method 'shampoo' (valid: adamw, sgd, adafactor, adam-mini, "
        "adam8bit, galore, apollo, apollo-mini, lomo, checkpointing, lora, cce, mezo, lisa, mesa, "
        "flash)");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [{name: adamw, betas: 1}]\n",
        "t.yaml:3:25: error: unknown parameter 'betas' for method adamw (did you mean 'beta1'?)");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [{name: sgd, zzz: 1}]\n",
        "t.yaml:3:23: error: unknown parameter 'zzz' for method sgd (valid: lr, momentum, "
        "dampening, weight_decay, nesterov)");
    BAD("suite: x\nmodels: [{name: m, preset: gpt2-125m}]\nmethods: [adamw]\n",
        "t.yaml:2:28: error: unknown preset 'gpt2-125m' (did you mean 'gpt2-124m'?)");
    BAD("suite: x\nmodels: [{name: m, preset: llama}]\nmethods: [adamw]\n",
        "t.yaml:2:28: error: unknown preset 'llama' (valid: gpt-nano, gpt2-124m, gpt2-350m, "
        "gpt2-774m, gpt2-1.5b, llama-nano, llama-60m, llama-130m, llama-350m, llama-1b)");
    BAD("suite: x\nmodels: [{name: m, preset: llama-60m, arch: gpt}]\nmethods: [adamw]\n",
        "t.yaml:2:45: error: models[0]: preset 'llama-60m' is a llama model, not gpt");
    BAD("suite: x\nmodels: [{name: m, arch: llama, layers: 2, d_model: 64, heads: 4, seq_len: 8, "
        "vocab: 16, kv_heads: 3}]\nmethods: [adamw]\n",
        "t.yaml:2:10: error: models[0]: kv_heads 3 must divide heads 4");

    BAD(HEAD "targets: [{preset: rtx4090-24gb}]\n",
        "t.yaml:4:20: error: unknown preset 'rtx4090-24gb' (did you mean 'rtx4090-24g'?)");
    BAD(HEAD "targets: [{preset: h100-80gb}]\n",
        "t.yaml:4:20: error: unknown preset 'h100-80gb' (did you mean 'h100-80g'?)");
    BAD(HEAD "targets: [{preset: tpu}]\n",
        "t.yaml:4:20: error: unknown preset 'tpu' (did you mean 'cpu'?)");
    BAD(HEAD "targets: [{preset: v100}]\n",
        "t.yaml:4:20: error: unknown preset 'v100' (valid: h100-80g, a100-40g, rtx4090-24g, "
        "l4-24g, jetson-orin-8g, cpu)");
    BAD(HEAD "targets: [{prest: cpu}]\n",
        "t.yaml:4:12: error: unknown key 'prest' in targets[0] (did you mean 'preset'?)");
    BAD(HEAD "targets: [{backend: cpu}]\n",
        "t.yaml:4:11: error: missing required key 'name' in targets[0] (or a preset)");
    BAD(HEAD "targets: [{preset: cpu}, {name: cpu}]\n",
        "t.yaml:4:33: error: duplicate target name 'cpu' (first at line 4, column 20)");
    BAD(HEAD "targets: [{preset: l4-24g}, {preset: l4-24g}]\n",
        "t.yaml:4:38: error: duplicate target name 'l4-24g' (first at line 4, column 20)");
    BAD(HEAD "targets: [{preset: [cpu]}]\n",
        "t.yaml:4:20: error: targets[0].preset must be a string, got a list");

    /* wrong types */
    BAD(HEAD "seed: abc\n", "t.yaml:4:7: error: seed must be an integer, got 'abc'");
    BAD(HEAD "seed: 1.5\n", "t.yaml:4:7: error: seed must be an integer, got '1.5'");
    BAD(HEAD "seed: \"12\"\n",
        "t.yaml:4:7: error: seed must be an integer, got the quoted string '12' (remove the "
        "quotes)");
    BAD(HEAD "seed:\n", "t.yaml:4:6: error: seed must be an integer, got an empty value");
    BAD(HEAD "seed: 99999999999999999999\n",
        "t.yaml:4:7: error: seed is out of range, got '99999999999999999999'");
    BAD(HEAD "defaults: 50\n", "t.yaml:4:11: error: defaults must be a mapping, got '50'");
    BAD(HEAD "defaults: [1]\n", "t.yaml:4:11: error: defaults must be a mapping, got a list");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: adamw\n",
        "t.yaml:3:10: error: methods must be a list, got 'adamw'");
    BAD("suite: [x]\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n",
        "t.yaml:1:8: error: suite must be a string, got a list");
    BAD("suite: results/x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [adamw]\n",
        "t.yaml:1:8: error: suite must be a name of letters, digits, '.', '_' and '-' (not "
        "starting with '.' or '-'), got 'results/x'");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [{name: adamw, lr: fast}]\n",
        "t.yaml:3:29: error: adamw.lr must be a number, got 'fast'");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [{name: sgd, nesterov: yes}]\n",
        "t.yaml:3:33: error: sgd.nesterov must be true or false, got 'yes'");
    BAD(HEAD "defaults: {precision: fp16}\n",
        "t.yaml:4:23: error: defaults.precision must be one of fp32, fp64, tf32, bf16, got 'fp16'");
    BAD(HEAD "targets: [{name: g, backend: rocm}]\n",
        "t.yaml:4:30: error: targets[0].backend must be one of cpu, cuda, got 'rocm'");
    BAD(HEAD "targets: [{name: g, memory_cap: 24 gigs}]\n",
        "t.yaml:4:33: error: targets[0].memory_cap must be a size like 24GiB or 512MiB, got '24 "
        "gigs'");
    BAD(HEAD "targets: [{name: g, memory_cap: -1GiB}]\n",
        "t.yaml:4:33: error: targets[0].memory_cap must be a size like 24GiB or 512MiB, got "
        "'-1GiB'");
    BAD(HEAD "targets: [cpu]\n", "t.yaml:4:11: error: targets[0] must be a mapping, got 'cpu'");
    BAD(HEAD "task: {kind: infer}\n",
        "t.yaml:4:14: error: task.kind must be one of train, classify, got 'infer'");

    /* ranges */
    BAD(HEAD "task: {batch_size: 0}\n", "t.yaml:4:20: error: task.batch_size must be >= 1, got 0");
    BAD(HEAD "matrix: {batch_size: [4, 0]}\n",
        "t.yaml:4:26: error: matrix.batch_size[1] must be >= 1, got 0");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods: [{name: adamw, lr: 20}]\n",
        "t.yaml:3:29: error: adamw.lr must be in [0, 10], got 20");
    BAD(HEAD "repeat: 0\n", "t.yaml:4:9: error: repeat must be in [1, 1000], got 0");
    BAD(HEAD "seed: -1\n", "t.yaml:4:7: error: seed must be >= 0, got -1");
    BAD(HEAD "defaults: {steps: 10, warmup_steps: 10}\n",
        "t.yaml:4:37: error: defaults.warmup_steps must be less than defaults.steps (10), got 10");
    BAD(HEAD "data: {val_fraction: 0.6}\n",
        "t.yaml:4:22: error: data.val_fraction must be in [0, 0.5], got 0.6");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano, layers: 0}]\nmethods: [adamw]\n",
        "t.yaml:2:46: error: models[0].layers must be in [1, 1024], got 0");

    /* the rest of the schema */
    BAD("suite: x\nmodels: [{name: m, arch: gpt, layers: 2}]\nmethods: [adamw]\n",
        "t.yaml:2:10: error: missing required key 'd_model' in models[0] (a model without a "
        "preset gives layers, d_model, heads, seq_len and vocab)");
    BAD("suite: x\nmodels: [{name: m, layers: 2}]\nmethods: [adamw]\n",
        "t.yaml:2:10: error: models[0] needs a preset, hf: a Hugging Face checkpoint folder, or "
        "arch: gpt or llama with layers, d_model, heads, seq_len and vocab");
    BAD("suite: x\nmodels: [{preset: gpt-nano}]\nmethods: [adamw]\n",
        "t.yaml:2:10: error: missing required key 'name' in models[0]");
    BAD("suite: x\nmodels: [{name: m, preset: gpt-nano, heads: 3}]\nmethods: [adamw]\n",
        "t.yaml:2:45: error: models[0]: d_model 64 is not divisible by heads 3");
    BAD("suite: x\nmodels:\n  - {name: m, preset: gpt-nano}\n  - {name: m, preset: gpt2-124m}\n"
        "methods: [adamw]\n",
        "t.yaml:4:12: error: duplicate model name 'm' (first at line 3)");
    BAD("suite: x\nmodels: []\nmethods: [adamw]\n",
        "t.yaml:2:9: error: models must list at least one model");
    BAD(HEAD "data: {name: file}\n",
        "t.yaml:4:7: error: missing required key 'path' in data (data.name is file)");
    BAD(HEAD "data: {path: a.txt}\n",
        "t.yaml:4:14: error: data.path applies only to data.name: file");
    BAD(HEAD "data: {name: file, path: a.txt, vocab: 50257}\n",
        "t.yaml:4:40: error: data.vocab applies only to synthetic data (file data is bytes: vocab "
        "256)");
    BAD(HEAD "data: {name: stou}\n",
        "t.yaml:4:14: error: unknown data set 'stou' (did you mean 'sotu'?); available: "
        "synthetic, file, sotu, moby-dick, spam-assassin, fashion-mnist (fetch corpora with "
        "`membench data fetch NAME`)");
    BAD(HEAD "data: {name: imagenet}\n",
        "t.yaml:4:14: error: unknown data set 'imagenet'; available: synthetic, file, sotu, "
        "moby-dick, spam-assassin, fashion-mnist (fetch corpora with `membench data fetch NAME`)");
    BAD(HEAD "data: {name: spam-asassin}\n",
        "t.yaml:4:14: error: unknown data set 'spam-asassin' (did you mean 'spam-assassin'?); "
        "available: synthetic, file, sotu, moby-dick, spam-assassin, fashion-mnist (fetch corpora "
        "with `membench data fetch NAME`)");
    BAD(HEAD "data: {name: synthetic, tokenizer: gpt2}\n",
        "t.yaml:4:36: error: data.tokenizer applies only to the text sets (sotu, moby-dick, "
        "spam-assassin)");
    BAD(HEAD "data: {name: spam-assassin}\n",
        "t.yaml:4:14: error: data set spam-assassin is labelled: it needs `task: {kind: "
        "classify}`");
    BAD(HEAD "data: {name: sotu}\ntask: {kind: classify}\n",
        "t.yaml:5:14: error: task kind classify needs labelled data (data.name spam-assassin or "
        "fashion-mnist)");
    BAD(HEAD "task: {kind: classfy}\n",
        "t.yaml:4:14: error: task.kind must be one of train, classify, got 'classfy' (did you "
        "mean 'classify'?)");
    BAD(HEAD "data: {name: spam-assassin, val_fraction: 0}\ntask: {kind: classify}\n",
        "t.yaml:4:43: error: data.val_fraction must be above 0 for spam-assassin: the classifier "
        "is scored on the validation split");
    BAD(HEAD "data: {name: fashion-mnist, val_fraction: 0.2}\ntask: {kind: classify}\n",
        "t.yaml:4:43: error: data.val_fraction does not apply to fashion-mnist (16 gray levels as "
        "tokens; its own 10,000 test images are the validation split)");
    BAD(HEAD "data: {name: sotu, tokenizer: bpe}\n",
        "t.yaml:4:31: error: data.tokenizer must be one of gpt2, bytes, got 'bpe'");
    BAD(HEAD "data: {name: moby-dick, vocab: 100}\n",
        "t.yaml:4:32: error: data.vocab does not apply to the moby-dick data (its vocabulary is "
        "the tokenizer's)");
    BAD(HEAD "search: {max_batch_size: {}}\n",
        "t.yaml:4:26: error: search.max_batch_size needs a target: no target has a memory_cap to "
        "search under");
    BAD(HEAD "search: {max_batch_size: {target: cpu}}\n",
        "t.yaml:4:35: error: search.max_batch_size.target 'cpu' has no memory_cap to search under "
        "(give it one, or a preset such as rtx4090-24g)");
    BAD(HEAD
        "targets: [{name: card, memory_cap: 1MiB}]\nsearch: {max_batch_size: {target: crad}}\n",
        "t.yaml:5:35: error: search.max_batch_size.target 'crad' is not a target of this suite "
        "(did you mean 'card'?); targets: card");
    BAD(HEAD "search: {max_batchsize: {}}\n",
        "t.yaml:4:10: error: unknown search kind 'max_batchsize' (did you mean 'max_batch_size'?)");
    BAD(HEAD "targets: [{name: a, memory_cap: 1MiB}]\n"
             "search: {max_batch_size: {start: 8, max: 4}}\n",
        "t.yaml:5:42: error: search.max_batch_size.max (4) is below its start (8)");
    BAD(HEAD "targets: [{name: a, memory_cap: 1MiB}]\n"
             "search: {max_batch_size: {}, max_seq_len: {}}\n",
        "t.yaml:5:9: error: search takes one of max_batch_size or max_seq_len, got 2 keys");
    BAD(HEAD "matrix: {batch_size: []}\n",
        "t.yaml:4:22: error: matrix.batch_size must list at least one value");
    BAD(HEAD "matrix: {batch_size: [4, 8, 4]}\n",
        "t.yaml:4:29: error: matrix.batch_size lists 4 twice (first at line 4, column 23)");
    BAD(HEAD "matrix: {precision: [fp32, fp8]}\n",
        "t.yaml:4:28: error: matrix.precision[1] must be one of fp32, fp64, tf32, bf16, got 'fp8'");

    /* method entries and stacks */
    const char *mh = "suite: x\nmodels: [{name: m, preset: gpt-nano}]\nmethods:\n";
    char text[512];
#define METHOD(entry, msg)                                                                         \
    do {                                                                                           \
        snprintf(text, sizeof text, "%s  - %s\n", mh, entry);                                      \
        BAD(text, msg);                                                                            \
    } while (0)
    METHOD("{stack: [adamw, sgd]}",
           "t.yaml:4:13: error: methods 'adamw' and 'sgd' both fill the optimizer_step slot, "
           "which takes one owner");
    METHOD("{stack: [flash, mesa, cce, lisa, galore, adam8bit]}",
           "t.yaml:4:13: error: methods 'galore' and 'adam8bit' both fill the optimizer_step "
           "slot, which takes one owner");
    METHOD("{stack: [adamw, lora]}",
           "t.yaml:4:13: error: 'lora' adds parameters to the model, so it must come before "
           "'adamw' in the stack (write [lora, adamw])");
    METHOD("{stack: [adamw, adamw]}",
           "t.yaml:4:21: error: method 'adamw' appears twice in this stack");
    METHOD("{stack: []}", "t.yaml:4:13: error: methods[0].stack must list at least one method");
    METHOD("{stack: [adamw], sgd: {lr: 1}}",
           "t.yaml:4:22: error: method 'sgd' is not in this stack; list it under stack: to set "
           "its parameters");
    METHOD("{stack: [adamw], adam: {lr: 1}}",
           "t.yaml:4:22: error: unknown key 'adam' in methods[0] (did you mean 'adamw'?)");
    METHOD("{stack: [adamw], adamw: 3}",
           "t.yaml:4:29: error: methods[0].adamw must be a mapping of adamw's parameters, got '3'");
    METHOD("{stack: [adamw], adamw: {lr: -1}}",
           "t.yaml:4:34: error: adamw.lr must be in [0, 10], got -1");
    METHOD("{name: adamw, stack: [sgd]}",
           "t.yaml:4:5: error: methods[0] has both name and stack; give one method by name, or a "
           "stack with its methods' parameters under their names");
    METHOD("{lr: 1}",
           "t.yaml:4:5: error: methods[0] needs a name (one method) or a stack (a list of "
           "methods)");
    METHOD("[adamw]",
           "t.yaml:4:5: error: methods[0] must be a method name or a mapping, got a list");
    METHOD("", "t.yaml:4:4: error: methods[0] must be a method name, got an empty value");

    /* plugin-style parameters: INT and ENUM, and a two-method stack */
    if (test_stack(&ctx, &reg)) return 1;
    if (test_target_presets(&ctx, &reg)) return 1;
    if (test_model_batch(&ctx, &reg)) return 1;
    if (test_data_corpus(&ctx, &reg)) return 1;
    if (test_data_tokenizer_file(&ctx, &reg, dir)) return 1;
    METHOD("{name: probe, rank: 0}", "t.yaml:4:25: error: probe.rank must be in [1, 4096], got 0");
    METHOD("{name: probe, rank: 2.5}",
           "t.yaml:4:25: error: probe.rank must be an integer, got '2.5'");
    METHOD("{name: probe, mode: slow}",
           "t.yaml:4:25: error: probe.mode must be one of fast, exact, lazy, got 'slow'");
    METHOD("{stack: [probe, adamw], probe: {rnak: 4}}",
           "t.yaml:4:37: error: unknown parameter 'rnak' for method probe (did you mean 'rank'?)");
    mb_registry_init(&reg); /* forget the stand-in before the context goes */

    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
