/* tests/test_hf_suite.c — `models: [{name: N, hf: DIR}]` in a suite: the shape from DIR's
 * config.json, the path resolved against the suite's folder, the checkpoint's own line in the
 * cell's config, and each mistake's exact FILE:LINE:COL message (a shape key beside hf, a missing
 * folder, an unsupported config, a shard the index names that is not there). */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/file.h"
#include "../engine/models/hf.h"
#include "../harness/plan.h"
#include "../harness/suite.h"
#include "check.h"

static char root[] = "/tmp/mbhfs.XXXXXX";

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Writes root/NAME.yaml holding `text` and loads it; its status, the suite in *s when MB_OK. */
static mb_status load(mb_ctx *ctx, const mb_registry *reg, const char *name, const char *text,
                      mb_suite *s, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s.yaml", root, name);
    if (!write_text(path, text)) return MB_EIO;
    return mb_suite_load(ctx, reg, path, s);
}

static void expect(mb_ctx *ctx, const mb_registry *reg, const char *name, const char *text,
                   const char *fmt_tail, const char *arg) {
    char path[512], want[1400], tail[800];
    mb_suite s;
    mb_status st = load(ctx, reg, name, text, &s, path, sizeof path);
    CHECK(st == MB_EINVAL, "%s: got %s", name, mb_status_name(st));
    if (st == MB_OK) mb_suite_free(&s);
    snprintf(tail, sizeof tail, fmt_tail, arg);
    snprintf(want, sizeof want, "%s:%s", path, tail);
    CHECK_STR(ctx->err, want);
}

int main(void) {
    if (!mkdtemp(root)) return 1;
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_registry reg;
    mb_registry_init(&reg);
    char dir[256], p[320];

    /* a GPT checkpoint folder: config.json and model.safetensors */
    snprintf(dir, sizeof dir, "%s/mine", root);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK(write_text(p, "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
                        "\"n_positions\": 32, \"vocab_size\": 256}"),
          "config");
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 3));
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK_OK(&ctx, mb_model_save(&ctx, &m, p));
    mb_model_destroy(&ctx, &m);

    char path[512];
    mb_suite s;
    CHECK_OK(&ctx, load(&ctx, &reg, "ok",
                        "suite: x\nmodels: [{name: mine, hf: mine, batch_size: 2}]\n"
                        "methods: [adamw]\n",
                        &s, path, sizeof path));
    CHECK_STR(s.models[0].hf, dir);
    CHECK(s.models[0].preset == NULL && s.models[0].batch_size == 2, "preset or batch_size");
    mb_model_config g = s.models[0].shape;
    CHECK(g.arch == MB_ARCH_GPT && g.layers == 2 && g.d_model == 64 && g.heads == 4 &&
              g.seq_len == 32 && g.vocab == 256 && g.tie == 1 && g.d_ff == 256,
          "shape from config.json");
    mb_plan plan;
    CHECK_OK(&ctx, mb_plan_build(&ctx, &s, NULL, &plan));
    char line[400];
    snprintf(line, sizeof line,
             "\nhf=%s arch=gpt kv_heads=4 d_ff=256 tie=1 rope_theta=0 "
             "norm_eps=0\n",
             dir);
    CHECK(plan.n == 1 && strstr(plan.cells[0].config, line), "the cell's config: %s",
          plan.n ? plan.cells[0].config : "(none)");
    mb_plan_free(&plan);
    mb_suite_free(&s);

    expect(&ctx, &reg, "e-key",
           "suite: x\nmodels: [{name: mine, hf: mine, layers: 3}]\nmethods: [adamw]\n",
           "2:33: error: models[0]: 'layers' cannot be given with hf (the shape comes from the "
           "checkpoint's config.json)%s",
           "");
    expect(&ctx, &reg, "e-preset",
           "suite: x\nmodels:\n  - {name: mine, preset: gpt-nano, hf: mine}\nmethods: [adamw]\n",
           "3:18: error: models[0]: 'preset' cannot be given with hf (the shape comes from the "
           "checkpoint's config.json)%s",
           "");
    char miss[300];
    snprintf(miss, sizeof miss, "%s/nowhere", root);
    expect(&ctx, &reg, "e-missing",
           "suite: x\nmodels: [{name: m, hf: nowhere}]\nmethods: [adamw]\n",
           "2:24: error: models[0].hf '%s': No such file or directory", miss);

    /* an unsupported setting in config.json */
    snprintf(dir, sizeof dir, "%s/scaled", root);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK(write_text(p,
                     "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
                     "\"num_attention_heads\": 4, \"intermediate_size\": 176, "
                     "\"max_position_embeddings\": 32, \"vocab_size\": 256, "
                     "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}}"),
          "config");
    expect(&ctx, &reg, "e-scaled", "suite: x\nmodels: [{name: m, hf: scaled}]\nmethods: [adamw]\n",
           "2:24: error: models[0].hf: %s/config.json: \"rope_scaling\" is not supported: "
           "membench's rotary embedding has no scaling (null expected, got an object)",
           dir);
    /* an index naming a shard that is not there */
    snprintf(dir, sizeof dir, "%s/gone", root);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK(write_text(p, "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
                        "\"n_positions\": 32, \"vocab_size\": 256}"),
          "config");
    snprintf(p, sizeof p, "%s/%s", dir, MB_HF_INDEX);
    CHECK(write_text(p, "{\"weight_map\": {\"wte.weight\": \"model-1.safetensors\"}}"), "index");
    char sub[1100];
    snprintf(p, sizeof p, "%s/model-1.safetensors", dir);
    CHECK(mb_file_check_regular(&ctx, p, "checkpoint shard", 0) != MB_OK, "shard exists");
    snprintf(sub, sizeof sub, "2:24: error: models[0].hf: %s", ctx.err);
    char path2[512], want[1700];
    snprintf(path2, sizeof path2, "%s/e-gone.yaml", root);
    CHECK(write_text(path2, "suite: x\nmodels: [{name: m, hf: gone}]\nmethods: [adamw]\n"),
          "write");
    CHECK(mb_suite_load(&ctx, &reg, path2, &s) == MB_EINVAL, "missing shard accepted");
    snprintf(want, sizeof want, "%s:%s", path2, sub);
    CHECK_STR(ctx.err, want);

    mb_registry_fini(&reg);
    mb_ctx_fini(&ctx);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (mb_check_failures == 0 && system(cmd) != 0) return 1;
    CHECK_DONE();
}
