/* tests/test_gpt_overfit.c — plain gradient descent (w -= lr * g) on one fixed batch drives gpt-nano's
 * loss below 10% of its starting value within 300 steps (fp32 CPU path). */
#include <stdlib.h>

#include "check.h"
#include "gpt_fixture.h"

#define LR 0.5
#define STEPS 300

int main(void) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 3, &cfg, &m));
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    int B = 4, T = cfg.seq_len;
    int32_t x[4 * 32], y[4 * 32];
    fixture_batch(x, y, B * T, cfg.vocab, 21);
    double first = 0, loss = 0;
    int step;
    for (step = 0; step < STEPS; step++) {
        mb_model_zero_grads(&ctx, &m);
        CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &loss));
        if (step == 0) first = loss;
        if (loss < 0.1 * first) break;
        CHECK_OK(&ctx, mb_model_backward(&ctx, &m));
        for (int i = 0; i < m.nparams; i++) {
            float *w = m.params[i].w.ptr;
            const float *g = m.params[i].g.ptr;
            for (size_t j = 0; j < m.params[i].numel; j++) w[j] -= (float)LR * g[j];
        }
        if (step % 50 == 0) printf("step %3d loss %.5f\n", step, loss);
    }
    printf("start %.5f, %.5f after %d steps (target below %.5f)\n", first, loss, step, 0.1 * first);
    CHECK(loss < 0.1 * first, "loss %.5f after %d steps, start %.5f", loss, step, first);
    mb_model_destroy(&ctx, &m);
    CHECK_DONE();
}
