/* tests/opt_fixture.h — shared set-up and ending of the optimizer tests: one method on gpt-nano in
 * fp32 on the CPU, and the check that its optimizer bytes equal both the prediction and the
 * measurement before everything is freed. */
#ifndef MB_OPT_FIXTURE_H
#define MB_OPT_FIXTURE_H

#include "../engine/train.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

/* gpt-nano on backend `be` with every gradient allocated, and a trainer whose only method is
 * `method` with parameter values v[0..nv) (the rest at their defaults). */
static inline int opt_setup_on(const mb_backend *be, mb_ctx *ctx, mb_model_config *cfg, mb_model *m,
                               mb_train *tr, const mb_method *method, const double *v, int nv,
                               mb_pvalue *vals) {
    CHECK_OK(ctx, fixture_nano(ctx, be, 4, cfg, m));
    CHECK_OK(ctx, mb_model_alloc_grads(ctx, m, NULL));
    mb_method_defaults(method, vals);
    for (int i = 0; i < nv; i++) vals[i].num = v[i];
    const mb_method *ms[1] = {method};
    const mb_pvalue *vs[1] = {vals};
    CHECK_OK(ctx, mb_train_init(tr, ctx, m, ms, vs, 1, NULL, 1));
    return 0;
}

/* The same on the fp32 CPU. */
static inline int opt_setup(mb_ctx *ctx, mb_model_config *cfg, mb_model *m, mb_train *tr,
                            const mb_method *method, const double *v, int nv, mb_pvalue *vals) {
    return opt_setup_on(&mb_backend_cpu_f32, ctx, cfg, m, tr, method, v, nv, vals);
}

/* Predicted and measured optimizer bytes are `state`; then the trainer and model are freed and
 * nothing is left. */
static inline int opt_finish(mb_ctx *ctx, mb_model *m, mb_train *tr, int64_t state) {
    mb_predict pred;
    mb_train_predict(tr, 1, 1, &pred);
    CHECK_EQ_U(pred.bytes[MB_MEM_OPTIMIZER], state);
    CHECK_EQ_U(ctx->mem.peak[MB_MEM_OPTIMIZER], state);
    mb_train_fini(tr);
    mb_model_destroy(ctx, m);
    CHECK_EQ_U(ctx->mem.live, 0);
    return 0;
}

#endif
