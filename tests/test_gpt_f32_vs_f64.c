/* tests/test_gpt_f32_vs_f64.c — the fp32 CPU path against the fp64 reference on the same weights:
 * loss within 1e-5 relative, and per tensor max|g32 - g64| <= 1e-4 * max|g64| for every gradient. */
#include <stdlib.h>

#include "check.h"
#include "gpt_fixture.h"

#define LOSS_TOL 1e-5
#define GRAD_TOL 1e-4

int main(void) {
    mb_ctx c32, c64;
    CHECK_OK(&c32, mb_ctx_init(&c32, &mb_backend_cpu_f32));
    CHECK_OK(&c64, mb_ctx_init(&c64, &mb_backend_cpu_f64));
    mb_model_config cfg;
    CHECK_OK(&c32, mb_model_preset(&c32, "gpt-nano", &cfg));
    mb_model m32, m64;
    CHECK_OK(&c32, mb_model_create(&c32, &cfg, &m32));
    CHECK_OK(&c64, mb_model_create(&c64, &cfg, &m64));
    CHECK_OK(&c32, mb_model_init_weights(&c32, &m32, 1234));
    /* fp64 gets exactly the fp32 values, so only the arithmetic differs. */
    CHECK_OK(&c64, fixture_copy_weights(&c64, &m64, &c32, &m32));
    int B = 4, T = cfg.seq_len;
    int32_t x[4 * 32], y[4 * 32];
    fixture_batch(x, y, B * T, cfg.vocab, 5);
    double l32, l64;
    CHECK_OK(&c32, mb_model_alloc_grads(&c32, &m32, NULL));
    CHECK_OK(&c64, mb_model_alloc_grads(&c64, &m64, NULL));
    CHECK_OK(&c32, mb_model_forward(&c32, &m32, x, y, B, T, &l32));
    CHECK_OK(&c64, mb_model_forward(&c64, &m64, x, y, B, T, &l64));
    CHECK_OK(&c32, mb_model_backward(&c32, &m32));
    CHECK_OK(&c64, mb_model_backward(&c64, &m64));
    double lrel = fabs(l32 - l64) / fabs(l64);
    printf("loss fp32 %.9f fp64 %.12f rel %.3e\n", l32, l64, lrel);
    CHECK(lrel < LOSS_TOL, "loss rel err %.3e", lrel);
    double *g32 = malloc((size_t)cfg.vocab * cfg.d_model * sizeof(double));
    double *g64 = malloc((size_t)cfg.vocab * cfg.d_model * sizeof(double));
    double worst = 0;
    for (int i = 0; i < m32.nparams; i++) {
        size_t n = m32.params[i].numel;
        CHECK_OK(&c32, mb_model_grad_get(&c32, &m32, i, g32));
        CHECK_OK(&c64, mb_model_grad_get(&c64, &m64, i, g64));
        double dmax = 0, gmax = 0;
        for (size_t j = 0; j < n; j++) {
            dmax = fmax(dmax, fabs(g32[j] - g64[j]));
            gmax = fmax(gmax, fabs(g64[j]));
        }
        double rel = dmax / gmax;
        worst = fmax(worst, rel);
        CHECK(gmax > 0, "%s: gradient is all zero", m32.params[i].name);
        CHECK(rel <= GRAD_TOL, "%s: max|g32-g64| / max|g64| = %.3e", m32.params[i].name, rel);
    }
    printf("worst per-tensor gradient error %.3e (tolerance %.0e)\n", worst, GRAD_TOL);
    free(g32);
    free(g64);
    mb_model_destroy(&c32, &m32);
    mb_model_destroy(&c64, &m64);
    CHECK_DONE();
}
