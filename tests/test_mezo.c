/* tests/test_mezo.c — MeZO: on a quadratic the SPSA estimate equals the exact directional
 * derivative up to rounding; on gpt-nano (fp64) a step moves theta exactly along -z by a projected
 * gradient that matches z . grad L from backprop within the central difference's eps^2 error; a
 * step's memory is an inference forward's, as predicted. */
#include <stdlib.h>
#include <string.h>

#include "../engine/rng.h"
#include "../engine/train.h"
#include "../methods/mezo/mezo_kernels.h"
#include "../methods/registry.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_mezo;

enum { B = 3, T = 32 };

/* f(theta) = 1/2 sum a_j theta_j^2 with a_j in [0.5, 1.5): central differences are exact for a
 * quadratic, so (f(theta + eps z) - f(theta - eps z)) / 2 eps = z . (a theta) up to rounding.
 * The probes go through the backend's zo_axpy, z through mb_rng_normal. */
static int check_quadratic(const mb_backend *be) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, be));
    const size_t n = 5000;
    const double eps = 1e-3;
    double *a = malloc(n * sizeof *a), *th = malloc(n * sizeof *th), *h = malloc(n * sizeof *h);
    MB_ASSERT(a && th && h);
    mb_rng_fill_normal(th, n, 4, 9, 0, 0.0, 1.0);
    for (size_t j = 0; j < n; j++) a[j] = 0.5 + mb_rng_uniform(4, 10, j);
    mb_buf p;
    CHECK_OK(&ctx, mb_alloc(&ctx, &p, n * mb_dtype_size(be->dtype), MB_MEM_WEIGHTS, "theta"));
    CHECK_OK(&ctx, mb_model_param_set(&ctx, &p, n, th));
    const uint64_t first = 12345; /* odd: the stream starts on a block's second normal */
    double f[2], exact = 0, fscale = 0;
    for (size_t j = 0; j < n; j++) {
        exact += mb_rng_normal(7, mb_rng_stream("mezo.z"), first + j) * a[j] * th[j];
        fscale += 0.5 * a[j] * th[j] * th[j];
    }
    for (int k = 0; k < 2; k++) {
        mb_mezo_kernels_of(be)->zo_axpy(&ctx, p.ptr, NULL, n, 7, mb_rng_stream("mezo.z"), first,
                                        k ? -2 * eps : eps, 1.0);
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &p, n, h));
        f[k] = 0;
        for (size_t j = 0; j < n; j++) f[k] += 0.5 * a[j] * h[j] * h[j];
    }
    /* theta +- eps z is stored rounded (unit roundoff u each: f moves by up to 2 u f) and f sums
     * n terms in fp64 on the host: |error of g| <= (2 u + n 2^-53) f / eps */
    double u = be->dtype == MB_F64 ? 0x1p-53 : 0x1p-24;
    double g = (f[0] - f[1]) / (2 * eps), tol = (2 * u + (double)n * 0x1p-53) * fscale / eps;
    CHECK(fabs(g - exact) <= tol, "%s: SPSA %.15g, exact %.15g, tolerance %.2g", be->name, g, exact,
          tol);
    printf("%s quadratic, n = %zu: SPSA estimate %.12f, exact z . grad f %.12f, difference %.1e "
           "(rounding bound %.1e)\n",
           be->name, n, g, exact, fabs(g - exact), tol);
    mb_free(&ctx, &p);
    free(a), free(th), free(h);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

/* z . grad L at the current weights, z regenerated for step `step` (mezo.c's index rule). */
static int directional(mb_ctx *ctx, mb_model *m, const int32_t *x, const int32_t *y, uint64_t seed,
                       int step, double *out) {
    CHECK_OK(ctx, mb_model_alloc_grads(ctx, m, NULL));
    mb_model_zero_grads(ctx, m);
    double l;
    const mb_model_hooks *keep = m->hooks;
    m->hooks = NULL; /* the plain model: mezo owns no model hook anyway */
    CHECK_OK(ctx, mb_model_forward(ctx, m, x, y, B, T, &l));
    CHECK_OK(ctx, mb_model_backward(ctx, m));
    m->hooks = keep;
    uint64_t off = (uint64_t)step << 36;
    double d = 0;
    for (int i = 0; i < m->nparams; i++) {
        size_t n = m->params[i].numel;
        double *g = malloc(n * sizeof *g);
        MB_ASSERT(g);
        CHECK_OK(ctx, mb_model_grad_get(ctx, m, i, g));
        for (size_t j = 0; j < n; j++)
            d += g[j] * mb_rng_normal(seed, mb_rng_stream("mezo.z"), off + j);
        off += n;
        free(g);
    }
    mb_model_free_grads(ctx, m);
    *out = d;
    return 0;
}

/* Weights of every parameter, concatenated. */
static double *weights(mb_ctx *ctx, const mb_model *m) {
    double *w = malloc(m->num_params * sizeof *w);
    MB_ASSERT(w);
    size_t off = 0;
    for (int i = 0; i < m->nparams; i++) {
        if (mb_model_param_get(ctx, &m->params[i].w, m->params[i].numel, w + off) != MB_OK) {
            free(w);
            return NULL;
        }
        off += m->params[i].numel;
    }
    return w;
}

/* One step of mezo (lr 1e-3, eps) on gpt-nano fp64 from seed 3's weights: *g is the projected
 * gradient read from theta's move, -(d . z) / (lr |z|^2); *off how far theta lands from the line
 * theta - lr g z (the probes must undo themselves); *exact z . grad L at the start, by backprop. */
static int mezo_once(double eps, double *g, double *off, double *exact) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f64, 3, &cfg, &m));
    mb_pvalue v[4];
    mb_method_defaults(&mb_method_mezo, v);
    const double lr = 1e-3;
    v[0].num = lr;
    v[1].num = eps;
    const mb_method *ms[1] = {&mb_method_mezo};
    const mb_pvalue *vs[1] = {v};
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, 1, NULL, 11));
    int32_t x[B * T], y[B * T];
    fixture_batch(x, y, B * T, cfg.vocab, 5);
    double *w0 = weights(&ctx, &m), loss, dz = 0, zz = 0;
    if (directional(&ctx, &m, x, y, 11, 0, exact)) return 1;
    CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &loss));
    double *w1 = weights(&ctx, &m);
    MB_ASSERT(w0 && w1);
    for (size_t j = 0; j < m.num_params; j++) {
        double z = mb_rng_normal(11, mb_rng_stream("mezo.z"), j);
        dz += (w1[j] - w0[j]) * z;
        zz += z * z;
    }
    *g = -dz / (lr * zz);
    *off = 0;
    for (size_t j = 0; j < m.num_params; j++) {
        double want = w0[j] - lr * *g * mb_rng_normal(11, mb_rng_stream("mezo.z"), j);
        *off = fmax(*off, fabs(w1[j] - want));
    }
    free(w0), free(w1);
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

/* gpt-nano fp64: theta moves exactly along -z, and the projected gradient matches z . grad L
 * within the central difference's error. That error is c eps^2 (|z| ~ 280 here, so eps z is not
 * small): Richardson's estimate from eps and eps/2, 4/3 (g(eps) - g(eps/2)), must account for
 * the actual error to 10%, and at eps = 1e-4 the error is under 1e-3 relative. */
static int check_gpt(void) {
    double g1, g2, o1, o2, exact;
    const double eps = 1e-4;
    if (mezo_once(eps, &g1, &o1, &exact) || mezo_once(eps / 2, &g2, &o2, &exact)) return 1;
    double err = g1 - exact, est = 4.0 / 3.0 * (g1 - g2);
    CHECK(o1 <= 1e-15 && o2 <= 1e-15, "theta moved off the line -lr g z by %g, %g", o1, o2);
    CHECK(fabs(err - est) <= 0.1 * fabs(est) + 1e-9 && fabs(err) <= 1e-3 * fabs(exact),
          "eps %g: projected gradient %.12g, z . grad L %.12g: error %.3g, estimated %.3g", eps, g1,
          exact, err, est);
    printf("gpt-nano fp64, eps %g: projected gradient %.10f, z . grad L %.10f: error %.2e, the "
           "central difference's estimated error %.2e; theta on the line -lr g z within %.1e\n",
           eps, g1, exact, err, est, o1);
    return 0;
}

/* fp32: a MeZO step's peak (total and activations) against a lean evaluation of the same batch on
 * a model with no method state: within 5% (here equal), every category as predicted. */
static int check_memory(void) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 3, &cfg, &m));
    int32_t x[B * T], y[B * T];
    fixture_batch(x, y, B * T, cfg.vocab, 6);
    mb_pvalue v[4];
    mb_method_defaults(&mb_method_mezo, v);
    const mb_method *ms[1] = {&mb_method_mezo};
    const mb_pvalue *vs[1] = {v};
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, 1, NULL, 11));
    double l;
    mb_mem_reset_peaks(&ctx.mem);
    CHECK_OK(&ctx, mb_train_eval(&tr, x, y, B, T, &l));
    size_t infer = ctx.mem.peak_total;
    mb_mem_reset_peaks(&ctx.mem);
    CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &l));
    size_t step = ctx.mem.peak_total;
    CHECK(step <= infer * 1.05 && step >= infer * 0.95, "mezo step peak %zu, inference %zu", step,
          infer);
    mb_predict pr;
    mb_train_predict(&tr, B, T, &pr);
    for (int k = 0; k < MB_MEM_NCAT; k++)
        CHECK(ctx.mem.peak[k] == (size_t)pr.bytes[k], "%s: measured %zu, predicted %lld",
              mb_mem_cat_name((mb_mem_cat)k), ctx.mem.peak[k], (long long)pr.bytes[k]);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_GRADS], 0);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_OPTIMIZER], 0);
    printf("fp32 memory: mezo step peak %zu bytes, inference forward %zu (ratio %.4f); activations "
           "%zu = prediction\n",
           step, infer, (double)step / (double)infer, ctx.mem.peak[MB_MEM_ACTIVATIONS]);
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

int main(void) {
    if (check_quadratic(&mb_backend_cpu_f64) || check_quadratic(&mb_backend_cpu_f32) ||
        check_gpt() || check_memory())
        return 1;
    CHECK_DONE();
}
