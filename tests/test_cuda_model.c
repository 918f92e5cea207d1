/* tests/test_cuda_model.c — whole-model parity of the CUDA backend (gpu label; exits 77 without a
 * GPU): loss and every gradient of GPT models against the CPU fp32 path and of LLaMA models (GQA,
 * MQA) against CPU fp64, per precision; bitwise-identical training runs; LoRA, Cut Cross-Entropy,
 * Mesa and flash attention against the plain step, their memory equal to the prediction. */
#include <stdlib.h>

#include "../engine/train.h"
#include "../methods/flash/flash_kernels.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_adamw;
extern const mb_method mb_method_lora;
extern const mb_method mb_method_cce;
extern const mb_method mb_method_mesa;
extern const mb_method mb_method_flash;

/* Declared tolerances: loss |dl|/|l|, and per tensor max|g_gpu - g_cpu| / max|g_cpu|. fp32 differs
 * from the CPU only in summation order; TF32 GEMMs keep 10 mantissa bits; bf16 stores every
 * activation and gradient with 8. Seen on an H100 (2026-11-23), worst of the two models: fp32 loss
 * 2.4e-8, gradients 1.5e-6; tf32 1.4e-6 and 1.1e-3; bf16 1.2e-5 and 1.2e-2. */
typedef struct prec_tol {
    const mb_backend *be;
    double loss, grad;
} prec_tol;

/* 4 layers, d=256; an odd vocabulary: padded logits */
static const mb_model_config mid = {
    .layers = 4, .d_model = 256, .heads = 4, .seq_len = 64, .vocab = 509, .classes = 0};
/* 2 layers, d=64, an 8,001-entry head that outweighs the rest, as GPT-2's does (cce) */
static const mb_model_config wide = {
    .layers = 2, .d_model = 64, .heads = 4, .seq_len = 64, .vocab = 8001, .classes = 0};
/* 1,024 positions and head size 64: flash attention over several tiles, the last one partial */
static const mb_model_config longseq = {
    .layers = 2, .d_model = 128, .heads = 2, .seq_len = 1024, .vocab = 509, .classes = 0};
/* LLaMA with one kv head for 4 query heads (multi-query), head size 32 (flash has a kernel), an odd
 * vocabulary, 300 positions: attention in two query chunks */
static const mb_model_config llama_mqa = {.arch = MB_ARCH_LLAMA,
                                          .layers = 2,
                                          .d_model = 128,
                                          .heads = 4,
                                          .kv_heads = 1,
                                          .d_ff = 352,
                                          .seq_len = 300,
                                          .vocab = 509};

/* Loss and every gradient of one step on be against the reference backend ref (cpu-f32 for GPT,
 * cpu-f64 for LLaMA) from the same weights; GPT's activation bytes equal to its formula. */
static int parity(const mb_backend *be, const mb_backend *ref, const mb_model_config *cfg,
                  double ltol, double gtol, int B, int T) {
    mb_ctx g, c;
    CHECK_OK(&g, mb_ctx_init(&g, be));
    CHECK_OK(&c, mb_ctx_init(&c, ref));
    mb_model mg, mc;
    CHECK_OK(&g, mb_model_create(&g, cfg, &mg));
    CHECK_OK(&c, mb_model_create(&c, cfg, &mc));
    CHECK_OK(&g, mb_model_init_weights(&g, &mg, 77));
    /* the CPU gets exactly the GPU's (possibly bf16-rounded) weights */
    CHECK_OK(&c, fixture_copy_weights(&c, &mc, &g, &mg));
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    fixture_batch(x, y, B * T, cfg->vocab, 3);
    y[1] = -1; /* an ignored position */
    for (int i = 0; cfg->classes && i < B * T;
         i++) /* a classifier: one label per row, at its end */
        y[i] = i % T == T - 1 ? (i / T) % cfg->classes : -1;
    double lg, lc;
    CHECK_OK(&g, mb_model_alloc_grads(&g, &mg, NULL));
    CHECK_OK(&c, mb_model_alloc_grads(&c, &mc, NULL));
    mb_mem_set_phase(&g.mem, MB_PHASE_FORWARD);
    size_t before = g.mem.cur[MB_MEM_ACTIVATIONS];
    CHECK_OK(&g, mb_model_forward(&g, &mg, x, y, B, T, &lg));
    size_t act = g.mem.cur[MB_MEM_ACTIVATIONS] - before;
    if (cfg->arch == MB_ARCH_GPT) {
        size_t want =
            mb_gpt_act_bytes(cfg, B, T, mb_dtype_size(be->dtype), mb_dtype_size(be->sdtype),
                             mb_model_logits_ld(be, mb_model_head_rows(cfg)));
        CHECK_EQ_U(act, want);
    }
    CHECK_OK(&c, mb_model_forward(&c, &mc, x, y, B, T, &lc));
    CHECK_OK(&g, mb_model_backward(&g, &mg));
    CHECK_OK(&g, g.be->sync(&g));
    CHECK_OK(&c, mb_model_backward(&c, &mc));
    double lrel = fabs(lg - lc) / fabs(lc);
    CHECK(lrel <= ltol, "%s L%d C%d: loss %.9f vs cpu %.9f, rel %.3e > %.1e", be->name, cfg->layers,
          cfg->d_model, lg, lc, lrel, ltol);
    size_t maxn = 0;
    for (int i = 0; i < mg.nparams; i++)
        if (mg.params[i].numel > maxn) maxn = mg.params[i].numel;
    double *hg = malloc(maxn * sizeof *hg), *hc = malloc(maxn * sizeof *hc);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < mg.nparams; i++) {
        size_t n = mg.params[i].numel;
        CHECK_OK(&g, mb_model_grad_get(&g, &mg, i, hg));
        CHECK_OK(&c, mb_model_grad_get(&c, &mc, i, hc));
        double num = 0, den = 0;
        int finite = 1;
        for (size_t k = 0; k < n; k++) {
            if (!isfinite(hg[k])) finite = 0;
            double d = fabs(hg[k] - hc[k]);
            if (d > num) num = d;
            if (fabs(hc[k]) > den) den = fabs(hc[k]);
        }
        double rel = den > 0 ? num / den : num;
        CHECK(finite, "%s: gradient of %s has a non-finite value", be->name, mg.params[i].name);
        CHECK(rel <= gtol, "%s L%d C%d: gradient of %s rel %.3e > %.1e", be->name, cfg->layers,
              cfg->d_model, mg.params[i].name, rel, gtol);
        if (rel > worst) {
            worst = rel;
            worst_name = mg.params[i].name;
        }
    }
    printf("%-9s %s L%d C%-3d KV%d K%d B%d T%-3d loss %.7f %s %.7f rel %.2e (tol %.0e); worst "
           "gradient %s %.2e (tol %.0e); activations %zu bytes%s\n",
           be->name, cfg->arch == MB_ARCH_LLAMA ? "llama" : "gpt", cfg->layers, cfg->d_model,
           mg.cfg.kv_heads, cfg->classes, B, T, lg, ref->name, lc, lrel, ltol, worst_name, worst,
           gtol, act, cfg->arch == MB_ARCH_GPT ? " = formula" : "");
    free(hg);
    free(hc);
    free(x);
    free(y);
    mb_model_destroy(&g, &mg);
    mb_model_destroy(&c, &mc);
    mb_ctx_fini(&g);
    CHECK_EQ_U(g.mem.live, 0);
    return 0;
}

/* Ten AdamW steps on one batch from one seed in two fresh contexts: the loss curves must match bit
 * for bit, and the loss must fall (the model fits the batch). */
static int determinism(const mb_backend *be, const mb_model_config *cfg, int B, int T) {
    double curve[2][10];
    for (int run = 0; run < 2; run++) {
        mb_ctx g;
        CHECK_OK(&g, mb_ctx_init(&g, be));
        mb_model m;
        mb_train tr;
        CHECK_OK(&g, mb_model_create(&g, cfg, &m));
        CHECK_OK(&g, mb_model_init_weights(&g, &m, 5));
        CHECK_OK(&g, mb_train_init(&tr, &g, &m, NULL, NULL, 0, &mb_method_adamw, 5));
        int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
        fixture_batch(x, y, B * T, cfg->vocab, 100);
        for (int s = 0; s < 10; s++) {
            CHECK_OK(&g, mb_train_step(&tr, x, y, B, T, &curve[run][s]));
        }
        free(x);
        free(y);
        mb_train_fini(&tr);
        mb_model_destroy(&g, &m);
        mb_ctx_fini(&g);
        CHECK_EQ_U(g.mem.live, 0);
    }
    CHECK(memcmp(curve[0], curve[1], sizeof curve[0]) == 0,
          "%s: two runs of one seed differ (step 9: %.17g vs %.17g)", be->name, curve[0][9],
          curve[1][9]);
    CHECK(curve[0][9] < curve[0][0], "%s: loss did not fall (%.6f -> %.6f)", be->name, curve[0][0],
          curve[0][9]);
    printf("%-9s determinism: 10 AdamW steps twice, loss %.9f -> %.9f, bitwise identical\n",
           be->name, curve[0][0], curve[0][9]);
    return 0;
}

/* One [lora (rank 8, alpha 16), adamw] step on both backends from the same weights and adapters
 * (B drawn non-zero so A's gradient is not 0): the loss and every adapter gradient within the
 * parity tolerances, no gradient buffer on a base tensor, and the GPU's measured weights, grads,
 * optimizer and activation peaks equal to the prediction. */
static int lora_parity(const mb_backend *be, const mb_model_config *cfg, double ltol, double gtol,
                       int B, int T) {
    mb_ctx g, c;
    CHECK_OK(&g, mb_ctx_init(&g, be));
    CHECK_OK(&c, mb_ctx_init(&c, &mb_backend_cpu_f32));
    mb_model mg, mc;
    mb_train tg, tc;
    CHECK_OK(&g, mb_model_create(&g, cfg, &mg));
    CHECK_OK(&c, mb_model_create(&c, cfg, &mc));
    CHECK_OK(&g, mb_model_init_weights(&g, &mg, 77));
    mb_pvalue lv[8], av[8];
    mb_method_defaults(&mb_method_lora, lv);
    mb_method_defaults(&mb_method_adamw, av);
    lv[1].num = 16; /* alpha */
    const mb_method *ms[2] = {&mb_method_lora, &mb_method_adamw};
    const mb_pvalue *vs[2] = {lv, av};
    CHECK_OK(&g, mb_train_init(&tg, &g, &mg, ms, vs, 2, NULL, 9));
    CHECK_OK(&c, mb_train_init(&tc, &c, &mc, ms, vs, 2, NULL, 9));
    size_t maxn = 0;
    for (int i = 0; i < mg.nparams; i++)
        if (mg.params[i].numel > maxn) maxn = mg.params[i].numel;
    double *hg = malloc(maxn * sizeof *hg), *hc = malloc(maxn * sizeof *hc);
    MB_ASSERT(hg && hc);
    for (int i = mg.nbase; i < mg.nparams; i++)
        if (strstr(mg.params[i].name, "lora_B")) {
            mb_rng_fill_normal(hg, mg.params[i].numel, 99, 7, (uint64_t)i * 100000, 0.0, 0.05);
            CHECK_OK(&g, mb_model_param_set(&g, &mg.params[i].w, mg.params[i].numel, hg));
        }
    CHECK_OK(&c, fixture_copy_weights(&c, &mc, &g, &mg));
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    fixture_batch(x, y, B * T, cfg->vocab, 3);
    double lg, lc;
    CHECK_OK(&g, mb_train_step(&tg, x, y, B, T, &lg));
    CHECK_OK(&c, mb_train_step(&tc, x, y, B, T, &lc));
    double lrel = fabs(lg - lc) / fabs(lc), worst = 0;
    CHECK(lrel <= ltol, "%s lora: loss %.9f vs cpu %.9f", be->name, lg, lc);
    for (int i = 0; i < mg.nparams; i++) {
        const mb_param *p = &mg.params[i];
        if (i < mg.nbase) {
            CHECK(p->g.ptr == NULL, "%s lora: frozen %s has a gradient", be->name, p->name);
            continue;
        }
        CHECK_OK(&g, mb_model_grad_get(&g, &mg, i, hg));
        CHECK_OK(&c, mb_model_grad_get(&c, &mc, i, hc));
        double num = 0, den = 0;
        for (size_t k = 0; k < p->numel; k++) {
            num = fmax(num, fabs(hg[k] - hc[k]));
            den = fmax(den, fabs(hc[k]));
        }
        double rel = den > 0 ? num / den : num;
        CHECK(den > 0 && rel <= gtol, "%s lora: gradient of %s rel %.3e (max %g)", be->name,
              p->name, rel, den);
        worst = fmax(worst, rel);
    }
    mb_predict pr;
    mb_train_predict(&tg, B, T, &pr);
    const mb_mem_cat cats[4] = {MB_MEM_WEIGHTS, MB_MEM_GRADS, MB_MEM_OPTIMIZER, MB_MEM_ACTIVATIONS};
    for (int k = 0; k < 4; k++)
        CHECK(g.mem.peak[cats[k]] == (size_t)pr.bytes[cats[k]],
              "%s lora %s: measured %zu, predicted %lld", be->name, mb_mem_cat_name(cats[k]),
              g.mem.peak[cats[k]], (long long)pr.bytes[cats[k]]);
    printf("%-9s lora r8: loss %.7f cpu %.7f rel %.2e; worst adapter gradient %.2e (tol %.0e); "
           "grads %zu, optimizer %zu bytes = prediction\n",
           be->name, lg, lc, lrel, worst, gtol, g.mem.peak[MB_MEM_GRADS],
           g.mem.peak[MB_MEM_OPTIMIZER]);
    free(hg), free(hc), free(x), free(y);
    mb_train_fini(&tg);
    mb_train_fini(&tc);
    mb_model_destroy(&g, &mg);
    mb_model_destroy(&c, &mc);
    mb_ctx_fini(&g);
    CHECK_EQ_U(g.mem.live, 0);
    return 0;
}

/* The two steps a method's parity compares, from the same GPU weights (seed 77) on batch 3: k = 0
 * the plain [adamw(lr 0)], k = 1 [method(values mv), adamw(lr 0)] (lr 0: the gradients are the
 * product). With skip_one, target 1 is ignored (-1). Each run's loss, activation peak (checked
 * equal to its prediction) and gradients. */
typedef struct run_pair {
    double loss[2];
    size_t peak[2];
    double *grads[2];
} run_pair;

static int run_both(const mb_backend *be, const mb_model_config *cfg, const mb_method *meth,
                    const mb_pvalue *mv, int B, int T, int skip_one, run_pair *o) {
    for (int k = 0; k < 2; k++) {
        mb_ctx g;
        CHECK_OK(&g, mb_ctx_init(&g, be));
        mb_model m;
        mb_train tr;
        CHECK_OK(&g, mb_model_create(&g, cfg, &m));
        CHECK_OK(&g, mb_model_init_weights(&g, &m, 77));
        mb_pvalue av[8];
        mb_method_defaults(&mb_method_adamw, av);
        av[0].num = 0;
        const mb_method *ms[2] = {meth, &mb_method_adamw};
        const mb_pvalue *vs[2] = {mv, av};
        CHECK_OK(&g,
                 mb_train_init(&tr, &g, &m, ms + (k == 0), vs + (k == 0), 2 - (k == 0), NULL, 9));
        int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
        fixture_batch(x, y, B * T, cfg->vocab, 3);
        if (skip_one) y[1] = -1;
        CHECK_OK(&g, mb_train_step(&tr, x, y, B, T, &o->loss[k]));
        o->peak[k] = g.mem.peak[MB_MEM_ACTIVATIONS];
        mb_predict pr;
        mb_train_predict(&tr, B, T, &pr);
        CHECK(o->peak[k] == (size_t)pr.bytes[MB_MEM_ACTIVATIONS],
              "%s %s: activation peak %zu, predicted %lld", be->name, k ? meth->name : "plain",
              o->peak[k], (long long)pr.bytes[MB_MEM_ACTIVATIONS]);
        o->grads[k] = malloc(m.num_params * sizeof *o->grads[k]);
        size_t off = 0;
        for (int i = 0; i < m.nparams; i++) {
            CHECK_OK(&g, mb_model_grad_get(&g, &m, i, o->grads[k] + off));
            off += m.params[i].numel;
        }
        free(x), free(y);
        mb_train_fini(&tr);
        mb_model_destroy(&g, &m);
        mb_ctx_fini(&g);
        CHECK_EQ_U(g.mem.live, 0);
    }
    return 0;
}

/* The largest gradient difference over the largest plain gradient. */
static double grads_rel(const run_pair *o, const mb_model_config *cfg) {
    double d = 0, r = 0;
    for (size_t i = 0; i < mb_model_num_params(cfg); i++) {
        d = fmax(d, fabs(o->grads[1][i] - o->grads[0][i]));
        r = fmax(r, fabs(o->grads[0][i]));
    }
    return d / r;
}

/* [cce(chunk), adamw] against [adamw]: loss and every gradient within the parity tolerances, the
 * peaks equal to the predictions, cce's below the plain step's when the chunk is under the
 * vocabulary. */
static int cce_parity(const mb_backend *be, const mb_model_config *cfg, int chunk, double ltol,
                      double gtol, int B, int T) {
    mb_pvalue cv[2];
    mb_method_defaults(&mb_method_cce, cv);
    cv[0].num = chunk;
    run_pair o;
    if (run_both(be, cfg, &mb_method_cce, cv, B, T, 1, &o)) return 1;
    double lrel = fabs(o.loss[1] - o.loss[0]) / o.loss[0], g = grads_rel(&o, cfg);
    CHECK(lrel <= ltol && g <= gtol, "%s cce chunk %d: loss %.9f vs %.9f, gradients rel %.2e",
          be->name, chunk, o.loss[1], o.loss[0], g);
    /* a chunk under the vocabulary holds less than the logits (one of V rounded up is as large) */
    CHECK(chunk >= cfg->vocab || o.peak[1] < o.peak[0], "%s cce: activation peak %zu, plain %zu",
          be->name, o.peak[1], o.peak[0]);
    printf("%-9s cce chunk %d, V %d: loss %.7f plain %.7f rel %.2e; gradients rel %.2e (tol %.0e); "
           "activation peak %zu against %zu bytes = prediction\n",
           be->name, chunk, cfg->vocab, o.loss[1], o.loss[0], lrel, g, gtol, o.peak[1], o.peak[0]);
    free(o.grads[0]), free(o.grads[1]);
    return 0;
}

/* [mesa, adamw] against [adamw]: the loss bit for bit (forward computes with the exact values),
 * each tensor's gradient within 5% (relative L2) of the plain one and not equal to it (the 8-bit
 * codes are used), the peaks equal to the predictions, mesa's below the plain step's. */
static int mesa_parity(const mb_backend *be, const mb_model_config *cfg, int B, int T) {
    mb_pvalue mv[2];
    mb_method_defaults(&mb_method_mesa, mv);
    run_pair o;
    if (run_both(be, cfg, &mb_method_mesa, mv, B, T, 0, &o)) return 1;
    CHECK(memcmp(&o.loss[0], &o.loss[1], sizeof o.loss[0]) == 0, "%s mesa: loss %.9g, plain %.9g",
          be->name, o.loss[1], o.loss[0]);
    mb_ctx h;
    mb_model m;
    CHECK_OK(&h, mb_ctx_init(&h, &mb_backend_cpu_f32));
    CHECK_OK(&h, mb_model_create(&h, cfg, &m)); /* descriptors: the tensors' sizes and names */
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0, off = 0; i < m.nparams; off += (int)m.params[i].numel, i++) {
        double d = 0, n = 0;
        for (size_t j = 0; j < m.params[i].numel; j++) {
            double e = o.grads[1][off + j] - o.grads[0][off + j];
            d += e * e, n += o.grads[0][off + j] * o.grads[0][off + j];
        }
        if (sqrt(d / n) > worst) worst = sqrt(d / n), worst_name = m.params[i].name;
    }
    CHECK(worst < 0.05 && worst > 1e-4, "%s mesa: worst gradient error %.3g (%s)", be->name, worst,
          worst_name);
    CHECK(o.peak[1] < o.peak[0], "%s mesa: activation peak %zu, plain %zu", be->name, o.peak[1],
          o.peak[0]);
    printf("%-9s mesa: loss %.7f = plain; worst gradient error %.2e (%s; tol 5e-2); activation "
           "peak %zu against %zu bytes = prediction\n",
           be->name, o.loss[1], worst, worst_name, o.peak[1], o.peak[0]);
    mb_model_destroy(&h, &m);
    mb_ctx_fini(&h);
    free(o.grads[0]), free(o.grads[1]);
    return 0;
}

/* [flash, adamw] against [adamw] (bf16: the table with flash kernels): loss and gradients within
 * the parity tolerances, the peaks equal to the predictions, flash's below the plain step's. */
static int flash_parity(const mb_backend *be, const mb_model_config *cfg, double ltol, double gtol,
                        int B, int T) {
    run_pair o;
    if (run_both(be, cfg, &mb_method_flash, NULL, B, T, 0, &o)) return 1;
    double lrel = fabs(o.loss[1] - o.loss[0]) / o.loss[0], g = grads_rel(&o, cfg);
    CHECK(lrel <= ltol && g <= gtol, "%s flash: loss %.9f vs %.9f, gradients rel %.2e", be->name,
          o.loss[1], o.loss[0], g);
    CHECK(o.peak[1] < o.peak[0], "%s flash: activation peak %zu, plain %zu", be->name, o.peak[1],
          o.peak[0]);
    printf("%-9s flash T=%d: loss %.7f plain %.7f rel %.2e; gradients rel %.2e (tol %.0e); "
           "activation peak %zu against %zu bytes = prediction\n",
           be->name, T, o.loss[1], o.loss[0], lrel, g, gtol, o.peak[1], o.peak[0]);
    free(o.grads[0]), free(o.grads[1]);
    return 0;
}

int main(void) {
    mb_ctx probe;
    mb_status s = mb_ctx_init(&probe, &mb_backend_cuda_f32);
    if (s != MB_OK) {
        printf("skipped: %s\n", probe.err);
        return 77;
    }
    mb_ctx_fini(&probe);
    mb_model_config nano, nano_cls, lnano;
    CHECK_OK(&probe, mb_model_preset(&probe, "gpt-nano", &nano));
    CHECK_OK(&probe, mb_model_preset(&probe, "llama-nano", &lnano)); /* GQA: 4 heads over 2 */
    nano_cls = nano;
    nano_cls.classes = 3; /* the classifier head: 3 rows, logits padded to 64 on the GPU */
    const prec_tol tols[] = {
        {&mb_backend_cuda_f32, 1e-6, 1e-4},
        {&mb_backend_cuda_tf32, 1e-4, 1e-2},
        {&mb_backend_cuda_bf16, 1e-3, 5e-2},
    };
    for (size_t i = 0; i < sizeof tols / sizeof tols[0]; i++) {
        const mb_backend *f32 = &mb_backend_cpu_f32, *f64 = &mb_backend_cpu_f64;
        if (parity(tols[i].be, f32, &nano, tols[i].loss, tols[i].grad, 4, 32)) return 1;
        if (parity(tols[i].be, f32, &nano_cls, tols[i].loss, tols[i].grad, 4, 32)) return 1;
        if (parity(tols[i].be, f32, &mid, tols[i].loss, tols[i].grad, 2, 64)) return 1;
        if (parity(tols[i].be, f64, &lnano, tols[i].loss, tols[i].grad, 4, 32)) return 1;
        if (parity(tols[i].be, f64, &llama_mqa, tols[i].loss, tols[i].grad, 2, 300)) return 1;
        if (determinism(tols[i].be, &lnano, 4, 32)) return 1;
        if (determinism(tols[i].be, &mid, 2, 64)) return 1;
        if (lora_parity(tols[i].be, &mid, tols[i].loss, tols[i].grad, 2, 64)) return 1;
        if (cce_parity(tols[i].be, &wide, 1024, tols[i].loss, tols[i].grad, 2, 64)) return 1;
        if (cce_parity(tols[i].be, &wide, 3008, tols[i].loss, tols[i].grad, 2, 64)) return 1;
        if (cce_parity(tols[i].be, &wide, 8192, tols[i].loss, tols[i].grad, 2, 64)) return 1;
        if (mesa_parity(tols[i].be, &mid, 2, 64)) return 1;
        if (mb_flash_kernels_of(tols[i].be) &&
            (flash_parity(tols[i].be, &mid, tols[i].loss, tols[i].grad, 2, 64) ||
             flash_parity(tols[i].be, &longseq, tols[i].loss, tols[i].grad, 1, 1000) ||
             flash_parity(tols[i].be, &llama_mqa, tols[i].loss, tols[i].grad, 2, 300)))
            return 1;
    }
    CHECK_DONE();
}
