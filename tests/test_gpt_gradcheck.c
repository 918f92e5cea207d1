/* tests/test_gpt_gradcheck.c — every gpt-nano parameter gradient (fp64 path) against central finite
 * differences: >= 50 random entries per tensor (all entries of smaller ones), relative error < 1e-6. */
#include <stdlib.h>

#include "../engine/models/gpt.h"
#include "../engine/rng.h"
#include "check.h"
#include "gpt_fixture.h"

/* Fourth-order central difference: (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h. Its truncation
 * error is O(h^4), so h = 1e-3 keeps both truncation (~1e-13) and fp64 rounding (~1e-12 absolute)
 * far below the 1e-6 relative tolerance for any gradient entry above 1e-5 in magnitude. */
#define FD_H 1e-3
#define REL_TOL 1e-6
#define SAMPLES 50
/* Relative error is |fd - g| / max(|fd|, |g|). The key bias is the exception: its gradient is zero
 * by structure (softmax ignores a shift shared by all keys), so there both sides must be below
 * ZERO_ABS instead (analytic ~1e-17 and finite differences ~1e-12 are rounding noise). */
#define ZERO_ABS 1e-10

static double loss_at(mb_ctx *ctx, mb_gpt *m, const int32_t *x, const int32_t *y, int B, int T) {
    double l = 0;
    if (mb_gpt_forward(ctx, m, x, y, B, T, &l) != MB_OK) {
        fprintf(stderr, "forward failed: %s\n", ctx->err);
        exit(1);
    }
    mb_gpt_free_acts(ctx, m);
    return l;
}

int main(void) {
    mb_ctx ctx;
    mb_gpt_config cfg;
    mb_gpt m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f64, 7, &cfg, &m));
    /* Push every tensor away from initialisation (LayerNorms off 1 and 0, attention away from uniform)
     * so gradients are generic: at init many query/key gradients are ~1e-8, below what fp64
     * finite differences resolve to 1e-6 relative. */
    double *h = malloc(cfg.vocab * cfg.d_model * sizeof *h);
    for (int i = 0; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        CHECK_OK(&ctx, mb_gpt_param_get(&ctx, &p->w, p->numel, h));
        for (size_t j = 0; j < p->numel; j++) h[j] += 0.15 * mb_rng_normal(99, 5, (uint64_t)i * 4096 + j);
        CHECK_OK(&ctx, mb_gpt_param_set(&ctx, &p->w, p->numel, h));
    }
    int B = 1, T = cfg.seq_len;
    int32_t x[64], y[64];
    for (int i = 0; i < B * T; i++) {
        x[i] = (int32_t)(mb_rng_u32(3, 1, (uint64_t)i) % (uint32_t)cfg.vocab);
        y[i] = (int32_t)(mb_rng_u32(3, 2, (uint64_t)i) % (uint32_t)cfg.vocab);
    }
    CHECK_OK(&ctx, mb_gpt_alloc_grads(&ctx, &m, NULL));
    double loss;
    CHECK_OK(&ctx, mb_gpt_forward(&ctx, &m, x, y, B, T, &loss));
    CHECK_OK(&ctx, mb_gpt_backward(&ctx, &m));

    double *g = malloc(cfg.vocab * cfg.d_model * sizeof *g);
    int checked = 0, structural_zero = 0;
    double min_mag = INFINITY;
    double worst = 0;
    for (int i = 0; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        CHECK_OK(&ctx, mb_gpt_grad_get(&ctx, &m, i, g));
        CHECK_OK(&ctx, mb_gpt_param_get(&ctx, &p->w, p->numel, h));
        int n = p->numel < SAMPLES ? (int)p->numel : SAMPLES;
        double tensor_worst = 0;
        for (int k = 0; k < n; k++) {
            size_t j = p->numel <= SAMPLES ? (size_t)k
                                           : mb_rng_u32(11, (uint32_t)i, (uint64_t)k) % p->numel;
            double x0 = h[j], f[4];
            const double off[4] = {2 * FD_H, FD_H, -FD_H, -2 * FD_H};
            for (int e = 0; e < 4; e++) {
                h[j] = x0 + off[e];
                CHECK_OK(&ctx, mb_gpt_param_set(&ctx, &p->w, p->numel, h));
                f[e] = loss_at(&ctx, &m, x, y, B, T);
            }
            h[j] = x0;
            CHECK_OK(&ctx, mb_gpt_param_set(&ctx, &p->w, p->numel, h));
            double fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * FD_H);
            if (p->role == MB_ROLE_QKV_B && j >= (size_t)cfg.d_model &&
                j < 2 * (size_t)cfg.d_model) {
                CHECK(fabs(g[j]) < ZERO_ABS && fabs(fd) < ZERO_ABS,
                      "%s[%zu] (key bias): analytic %.3e, finite difference %.3e, both should be 0",
                      p->name, j, g[j], fd);
                structural_zero++;
                checked++;
                continue;
            }
            double den = fmax(fabs(fd), fabs(g[j]));
            double rel = den > 0 ? fabs(fd - g[j]) / den : 0;
            if (rel > tensor_worst) tensor_worst = rel;
            CHECK(rel < REL_TOL, "%s[%zu]: analytic %.12e, finite difference %.12e, rel %.3e",
                  p->name, j, g[j], fd, rel);
            if (den < min_mag) min_mag = den;
            checked++;
        }
        printf("%-28s %6d entries  max rel err %.3e\n", p->name, n, tensor_worst);
        if (tensor_worst > worst) worst = tensor_worst;
    }
    printf("loss %.10f; %d entries in %d tensors; worst rel err %.3e; smallest |grad| %.3e; "
           "%d key-bias entries zero as they must be\n",
           loss, checked, m.nparams, worst, min_mag, structural_zero);
    free(g);
    free(h);
    mb_gpt_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    CHECK(ctx.mem.live == 0, "%zu buffers still live", ctx.mem.live);
    CHECK_DONE();
}
