/* tests/test_gpt_gradcheck.c — every gpt-nano parameter gradient (fp64 path) against central finite
 * differences: >= 50 random entries per tensor (all entries of smaller ones), relative error < 1e-6;
 * the language model, then a 3-class classifier (score head, labels at one position per row). */
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

static double loss_at(mb_ctx *ctx, mb_model *m, const int32_t *x, const int32_t *y, int B, int T) {
    double l = 0;
    if (mb_model_forward(ctx, m, x, y, B, T, &l) != MB_OK) {
        fprintf(stderr, "forward failed: %s\n", ctx->err);
        exit(1);
    }
    mb_model_free_acts(ctx, m);
    return l;
}

static int check_model(int classes) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f64));
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    cfg.classes = classes;
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 7));
    CHECK(m.num_params == mb_model_num_params(&cfg), "num_params %zu, formula %zu", m.num_params,
          mb_model_num_params(&cfg));
    /* Push every tensor away from initialisation (LayerNorms off 1 and 0, attention away from uniform)
     * so gradients are generic: at init many query/key gradients are ~1e-8, below what fp64
     * finite differences resolve to 1e-6 relative. */
    double *h = malloc(cfg.vocab * cfg.d_model * sizeof *h);
    for (int i = 0; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &p->w, p->numel, h));
        for (size_t j = 0; j < p->numel; j++) h[j] += 0.15 * mb_rng_normal(99, 5, (uint64_t)i * 4096 + j);
        CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
    }
    /* a classifier sees two rows, labelled at their last token and in the middle (a shorter
     * example: the positions after it must not matter, which the causal mask guarantees) */
    int B = classes ? 2 : 1, T = cfg.seq_len;
    int32_t x[64], y[64];
    for (int i = 0; i < B * T; i++) {
        x[i] = (int32_t)(mb_rng_u32(3, 1, (uint64_t)i) % (uint32_t)cfg.vocab);
        y[i] = (int32_t)(mb_rng_u32(3, 2, (uint64_t)i) % (uint32_t)cfg.vocab);
        if (classes) y[i] = i == T - 1 ? 2 : i == T + T / 2 ? 1 : -1;
    }
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    double loss;
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &loss));
    CHECK_OK(&ctx, mb_model_backward(&ctx, &m));

    double *g = malloc(cfg.vocab * cfg.d_model * sizeof *g);
    int checked = 0, structural_zero = 0;
    double min_mag = INFINITY;
    double worst = 0;
    for (int i = 0; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        CHECK_OK(&ctx, mb_model_grad_get(&ctx, &m, i, g));
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &p->w, p->numel, h));
        int n = p->numel < SAMPLES ? (int)p->numel : SAMPLES;
        double tensor_worst = 0;
        for (int k = 0; k < n; k++) {
            size_t j = p->numel <= SAMPLES ? (size_t)k
                                           : mb_rng_u32(11, (uint32_t)i, (uint64_t)k) % p->numel;
            double x0 = h[j], f[4];
            const double off[4] = {2 * FD_H, FD_H, -FD_H, -2 * FD_H};
            for (int e = 0; e < 4; e++) {
                h[j] = x0 + off[e];
                CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
                f[e] = loss_at(&ctx, &m, x, y, B, T);
            }
            h[j] = x0;
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
            double fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * FD_H);
            if (p->role == MB_ROLE_ATTN_QKV_BIAS && j >= (size_t)cfg.d_model &&
                j < 2 * (size_t)cfg.d_model) {
                CHECK(fabs(g[j]) < ZERO_ABS && fabs(fd) < ZERO_ABS,
                      "%s[%zu] (key bias): analytic %.3e, finite difference %.3e, both should be 0",
                      p->name, j, g[j], fd);
                structural_zero++;
                checked++;
                continue;
            }
            /* a classifier's wte row of a token that no labelled position sees: row 0's label is
             * at its end, row 1's in its middle, and causal attention hides what comes after */
            int absent = 1;
            for (int t = 0; classes && p->role == MB_ROLE_EMBED && t < B * T; t++)
                if ((size_t)x[t] == j / (size_t)cfg.d_model && (t < T || t <= T + T / 2))
                    absent = 0;
            if (classes && p->role == MB_ROLE_EMBED && absent) {
                CHECK(g[j] == 0 && fabs(fd) < ZERO_ABS,
                      "%s[%zu] (token no label sees): analytic %.3e, finite difference "
                      "%.3e, both should be 0", p->name, j, g[j], fd);
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
    printf("%s: loss %.10f; %d entries in %d tensors; worst rel err %.3e; smallest |grad| "
           "%.3e; %d entries zero as they must be (key bias; rows of tokens no label sees)\n",
           classes ? "classifier" : "language model", loss, checked, m.nparams, worst, min_mag,
           structural_zero);
    CHECK(!classes || m.params[m.nparams - 1].role == MB_ROLE_SCORE, "the last tensor is %s",
          m.params[m.nparams - 1].name);
    free(g);
    free(h);
    mb_model_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    CHECK(ctx.mem.live == 0, "%zu buffers still live", ctx.mem.live);
    return 0;
}

int main(void) {
    if (check_model(0) || check_model(3)) return 1;
    CHECK_DONE();
}
