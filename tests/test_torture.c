/* tests/test_torture.c — allocation-failure torture (curl's "torture" tests): a gpt-nano cell trained
 * 2 steps with adamw, then evaluated, is rerun with its k-th tracked allocation failed, for every k.
 * Each run must end with MB_ENOMEM and hand back every byte (mem.live, cur_total 0; no leak under
 * the asan preset's LeakSanitizer). */
#include <stdlib.h>

#include "../engine/train.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_adamw;

enum { B = 2, STEPS = 2 };

/* The whole cell on a fresh context with fail_at = k (0: none). *nallocs gets the allocations it
 * made; *live and *cur what the tracker still held after everything was released. */
static mb_status run_cell(uint64_t k, uint64_t *nallocs, size_t *live, size_t *cur) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model model;
    mb_train tr;
    memset(&model, 0, sizeof model);
    memset(&tr, 0, sizeof tr);
    mb_status st = mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    if (st != MB_OK) return st;
    uint64_t base = ctx.mem.n_allocs; /* counted from here, so k indexes the cell's allocations */
    ctx.mem.fail_at = k ? base + k : 0;
    /* The same order of calls as the runner's train_cell: load, init, steps, eval. */
    st = mb_model_preset(&ctx, "gpt-nano", &cfg);
    if (st == MB_OK) st = mb_model_create(&ctx, &cfg, &model);
    if (st == MB_OK) st = mb_model_init_weights(&ctx, &model, 42);
    /* No stack: adamw comes in as the implicit optimizer with its defaults, as in the runner. */
    if (st == MB_OK) st = mb_train_init(&tr, &ctx, &model, NULL, NULL, 0, &mb_method_adamw, 42);
    int T = cfg.seq_len;
    int32_t x[B * 64], y[B * 64];
    MB_ASSERT(T <= 64);
    double loss = 0;
    for (int s = 0; s < STEPS && st == MB_OK; s++) {
        fixture_batch(x, y, B * T, cfg.vocab, 7 + (uint64_t)s);
        st = mb_train_step(&tr, x, y, B, T, &loss);
    }
    if (st == MB_OK) st = mb_train_eval(&tr, x, y, B, T, &loss);
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &model);
    *nallocs = ctx.mem.n_allocs - base;
    *live = ctx.mem.live;
    *cur = ctx.mem.cur_total;
    mb_ctx_fini(&ctx);
    return st;
}

int main(void) {
    uint64_t n = 0, got = 0;
    size_t live = 0, cur = 0;
    mb_status st = run_cell(0, &n, &live, &cur);
    CHECK(st == MB_OK, "clean run: %s", mb_status_name(st));
    CHECK(live == 0 && cur == 0, "clean run holds %zu buffers, %zu bytes", live, cur);
    CHECK(n > 10, "clean run made only %llu allocations", (unsigned long long)n);
    for (uint64_t k = 1; k <= n; k++) {
        st = run_cell(k, &got, &live, &cur);
        CHECK(st == MB_ENOMEM, "allocation %llu of %llu failed: status %s, expected MB_ENOMEM",
              (unsigned long long)k, (unsigned long long)n, mb_status_name(st));
        CHECK(live == 0 && cur == 0, "allocation %llu failed: %zu buffers, %zu bytes still held",
              (unsigned long long)k, live, cur);
        CHECK(got == k, "allocation %llu failed, yet %llu were attempted", (unsigned long long)k,
              (unsigned long long)got);
    }
    printf("%llu allocations, each failed in turn\n", (unsigned long long)n);
    CHECK_DONE();
}
