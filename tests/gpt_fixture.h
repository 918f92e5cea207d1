/* tests/gpt_fixture.h — shared set-up for the GPT tests: a model on a backend and a random batch. */
#ifndef MB_GPT_FIXTURE_H
#define MB_GPT_FIXTURE_H

#include "../engine/models/gpt.h"
#include "../engine/rng.h"

/* Tokens and next-token targets drawn from Philox stream (seed, 1) and (seed, 2). */
static inline void fixture_batch(int32_t *x, int32_t *y, int n, int vocab, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        x[i] = (int32_t)(mb_rng_u32(seed, 1, (uint64_t)i) % (uint32_t)vocab);
        y[i] = (int32_t)(mb_rng_u32(seed, 2, (uint64_t)i) % (uint32_t)vocab);
    }
}

/* A context on `be` and an initialised gpt-nano model on it (the set-up most tests start from). */
static inline mb_status fixture_nano(mb_ctx *ctx, const mb_backend *be, uint64_t seed,
                                     mb_model_config *cfg, mb_model *m) {
    mb_status s = mb_ctx_init(ctx, be);
    if (s == MB_OK) s = mb_model_preset(ctx, "gpt-nano", cfg);
    if (s == MB_OK) s = mb_model_create(ctx, cfg, m);
    if (s == MB_OK) s = mb_model_init_weights(ctx, m, seed);
    return s;
}

/* Copies every weight of `src` (on its context) into `dst` (on another), through fp64. */
static inline mb_status fixture_copy_weights(mb_ctx *dctx, mb_model *dst, mb_ctx *sctx, const mb_model *src) {
    for (int i = 0; i < src->nparams; i++) {
        size_t n = src->params[i].numel;
        double *h = malloc(n * sizeof *h);
        if (!h) return MB_ENOMEM;
        mb_status s = mb_model_param_get(sctx, &src->params[i].w, n, h);
        if (s == MB_OK) s = mb_model_param_set(dctx, &dst->params[i].w, n, h);
        free(h);
        if (s != MB_OK) return s;
    }
    return MB_OK;
}

#endif
