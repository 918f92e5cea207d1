/* tests/test_gpt_init.c — presets and initialisation: parameter counts (gpt2-124m has 124,439,808 with
 * the tied head), init statistics (std 0.02, residual projections 0.02/sqrt(2L)), loss at init within
 * 2% of ln(vocab), and reproducibility by seed. */
#include <stdlib.h>

#include "check.h"
#include "gpt_fixture.h"

int main(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_model_config cfg;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt2-124m", &cfg));
    CHECK_EQ_U(mb_model_num_params(&cfg), 124439808);
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt2-350m", &cfg));
    CHECK_EQ_U(mb_model_num_params(&cfg), 354823168);
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt2-774m", &cfg));
    CHECK_EQ_U(mb_model_num_params(&cfg), 774030080);
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt2-1.5b", &cfg));
    CHECK_EQ_U(mb_model_num_params(&cfg), 1557611200);
    CHECK(mb_model_preset(&ctx, "gpt2-125m", &cfg) == MB_ENOTFOUND, "unknown preset");
    CHECK_STR(ctx.err, "unknown model preset 'gpt2-125m' (known: gpt-nano, gpt2-124m, gpt2-350m, "
                       "gpt2-774m, gpt2-1.5b, llama-nano, llama-60m, llama-130m, llama-350m, "
                       "llama-1b)");
    mb_model_config bad = {.layers = 2, .d_model = 65, .heads = 4, .seq_len = 32, .vocab = 256, .classes = 0};
    CHECK(mb_model_config_check(&ctx, &bad) == MB_EINVAL, "65 channels over 4 heads");
    CHECK_STR(ctx.err, "d_model 65 is not divisible by heads 4");

    /* Descriptors of a 12-layer shape built from parameters, not a preset. */
    mb_model_config shape = {.layers = 12, .d_model = 96, .heads = 6, .seq_len = 64, .vocab = 300, .classes = 0};
    mb_model s;
    CHECK_OK(&ctx, mb_model_create(&ctx, &shape, &s));
    CHECK_EQ_U(s.nparams, 4 + 12 * 12);
    CHECK_EQ_U(s.num_params, mb_model_num_params(&shape));
    mb_param *qkv = &s.params[2 + 5 * 12 + 2];
    CHECK_STR(qkv->name, "h.5.attn.c_attn.weight");
    CHECK(qkv->layer == 5 && qkv->role == MB_ROLE_ATTN_QKV && qkv->is_linear && qkv->heads == 6 &&
              qkv->nsplits == 3 && qkv->splits[1] == 96 && qkv->shape[0] == 288 &&
              qkv->shape[1] == 96,
          "qkv descriptor");
    CHECK_STR(s.params[0].tied_with, "lm_head");
    CHECK_STR(mb_role_name(s.params[2 + 12 * 12].role), "norm");
    CHECK_STR(s.params[2 + 12 * 12].name, "ln_f.weight");
    CHECK(s.params[2 + 12 * 12].layer == -1, "ln_f is outside the blocks");

    /* Init statistics on that model: std 0.02 and 0.02/sqrt(24) within 3%; LN 1 and 0. */
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &s, 99));
    double *h = malloc(4 * 96 * 96 * sizeof *h);
    int ids[3] = {2 + 5 * 12 + 2, 2 + 5 * 12 + 4, 2 + 7 * 12 + 10};
    double want[3] = {0.02, 0.02 / sqrt(24.0), 0.02 / sqrt(24.0)};
    for (int k = 0; k < 3; k++) {
        mb_param *p = &s.params[ids[k]];
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &p->w, p->numel, h));
        double sq = 0;
        for (size_t j = 0; j < p->numel; j++) sq += h[j] * h[j];
        double sd = sqrt(sq / p->numel);
        CHECK(fabs(sd / want[k] - 1) < 0.03, "%s std %.5f, expected %.5f", p->name, sd, want[k]);
    }
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &s.params[2].w, 96, h));
    CHECK(h[0] == 1.0 && h[95] == 1.0, "ln_1.weight is 1");
    CHECK_OK(&ctx, mb_model_param_get(&ctx, &s.params[3].w, 96, h));
    CHECK(h[0] == 0.0 && h[95] == 0.0, "ln_1.bias is 0");
    mb_model_destroy(&ctx, &s);

    /* Loss at init of gpt-nano within 2% of ln(256); same seed, same loss; other seed, other loss. */
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    double loss[3];
    uint64_t seeds[3] = {1, 1, 2};
    int32_t x[8 * 32], y[8 * 32];
    fixture_batch(x, y, 8 * 32, cfg.vocab, 77);
    for (int k = 0; k < 3; k++) {
        mb_model m;
        CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
        CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, seeds[k]));
        CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, 8, 32, &loss[k]));
        mb_model_destroy(&ctx, &m);
    }
    double lnv = log(256.0);
    printf("loss at init %.6f, ln(256) = %.6f, off by %.3f%%\n", loss[0], lnv,
           100 * fabs(loss[0] / lnv - 1));
    CHECK(fabs(loss[0] / lnv - 1) < 0.02, "loss %.6f vs ln(256) %.6f", loss[0], lnv);
    CHECK(loss[0] == loss[1], "same seed: %.17g vs %.17g", loss[0], loss[1]);
    CHECK(loss[0] != loss[2], "different seed gives the same loss");
    free(h);
    CHECK_EQ_U(ctx.mem.live, 0);
    CHECK_DONE();
}
