/* tests/test_optim.c — adamw and sgd against independent fp64 implementations of their update rules
 * (3 steps on random gradients; max abs error < 1e-6), and predict_bytes against measured optimizer
 * bytes (adamw: 8 bytes per trainable fp32 parameter; sgd: 4 with momentum, 0 without). */
#include <stdlib.h>

#include "../engine/train.h"
#include "check.h"
#include "gpt_fixture.h"

extern const mb_method mb_method_adamw, mb_method_sgd;

#define TOL 1e-6
#define STEPS 3

/* fp64 AdamW exactly as the paper's Algorithm 2 with PyTorch's placement of eps:
 * p <- p - lr*wd*p;  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
 * p <- p - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)                 */
static void ref_adamw(double *p, double *m, double *v, const double *g, size_t n, int t, double lr,
                      double b1, double b2, double eps, double wd) {
    for (size_t i = 0; i < n; i++) {
        p[i] -= lr * wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mh = m[i] / (1 - pow(b1, t)), vh = v[i] / (1 - pow(b2, t));
        p[i] -= lr * mh / (sqrt(vh) + eps);
    }
}

/* fp64 SGD with momentum mu, dampening d, L2 weight decay wd, Nesterov look-ahead. */
static void ref_sgd(double *p, double *buf, const double *g, size_t n, int t, double lr, double mu,
                    double damp, double wd, int nesterov) {
    for (size_t i = 0; i < n; i++) {
        double d = g[i] + wd * p[i];
        if (mu > 0) {
            buf[i] = t == 1 ? d : mu * buf[i] + (1 - damp) * d;
            d = nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

typedef struct opt_case {
    const mb_method *method;
    double v[5]; /* parameter values in declaration order */
    int64_t state_bytes_per_param;
} opt_case;

static int run_case(const opt_case *oc) {
    mb_ctx ctx;
    mb_gpt_config cfg;
    mb_gpt m;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f32, 4, &cfg, &m));
    CHECK_OK(&ctx, mb_gpt_alloc_grads(&ctx, &m, NULL));
    mb_pvalue vals[5];
    for (int i = 0; i < oc->method->nparams; i++) vals[i].num = oc->v[i];
    const mb_method *ms[1] = {oc->method};
    const mb_pvalue *vs[1] = {vals};
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, 1, NULL, 1));
    size_t P = m.num_params;
    double *p = malloc(P * sizeof *p), *s1 = calloc(P, sizeof *s1), *s2 = calloc(P, sizeof *s2);
    double *g = malloc(P * sizeof *g), *got = malloc(P * sizeof *got);
    size_t off = 0;
    for (int i = 0; i < m.nparams; i++) {
        CHECK_OK(&ctx, mb_gpt_param_get(&ctx, &m.params[i].w, m.params[i].numel, p + off));
        off += m.params[i].numel;
    }
    for (int t = 1; t <= STEPS; t++) {
        off = 0;
        for (int i = 0; i < m.nparams; i++) {
            mb_param *pr = &m.params[i];
            double *gi = g + off;
            mb_rng_fill_normal(gi, pr->numel, 77, (uint32_t)(t * 1000 + i), 0, 0.0, 0.1);
            for (size_t j = 0; j < pr->numel; j++) gi[j] = (float)gi[j]; /* what the kernel sees */
            CHECK_OK(&ctx, mb_gpt_param_set(&ctx, &pr->g, pr->numel, gi));
            CHECK_OK(&ctx, oc->method->optimizer_step(tr.priv[0], &tr, pr));
            off += pr->numel;
        }
        if (oc->method == &mb_method_adamw)
            ref_adamw(p, s1, s2, g, P, t, oc->v[0], oc->v[1], oc->v[2], oc->v[3], oc->v[4]);
        else
            ref_sgd(p, s1, g, P, t, oc->v[0], oc->v[1], oc->v[2], oc->v[3], oc->v[4] != 0);
    }
    off = 0;
    double worst = 0;
    for (int i = 0; i < m.nparams; i++) {
        CHECK_OK(&ctx, mb_gpt_param_get(&ctx, &m.params[i].w, m.params[i].numel, got + off));
        off += m.params[i].numel;
    }
    for (size_t j = 0; j < P; j++) worst = fmax(worst, fabs(got[j] - p[j]));
    printf("%s: max abs error after %d steps %.3e over %zu parameters\n", oc->method->name, STEPS,
           worst, P);
    CHECK(worst < TOL, "%s: max abs error %.3e", oc->method->name, worst);
    mb_predict pred;
    mb_train_predict(&tr, 1, 1, &pred);
    CHECK_EQ_U(pred.bytes[MB_MEM_OPTIMIZER], oc->state_bytes_per_param * (int64_t)P);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_OPTIMIZER], oc->state_bytes_per_param * (int64_t)P);
    free(p);
    free(s1);
    free(s2);
    free(g);
    free(got);
    mb_train_fini(&tr);
    mb_gpt_destroy(&ctx, &m);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

int main(void) {
    const opt_case cases[] = {
        {&mb_method_adamw, {3e-4, 0.9, 0.999, 1e-8, 0.0}, 8},   /* the defaults */
        {&mb_method_adamw, {1e-2, 0.8, 0.99, 1e-6, 0.1}, 8},    /* decay and large steps */
        {&mb_method_sgd, {0.1, 0.0, 0.0, 0.0, 0}, 0},           /* plain */
        {&mb_method_sgd, {0.1, 0.9, 0.1, 0.01, 0}, 4},          /* momentum, dampening, decay */
        {&mb_method_sgd, {0.05, 0.9, 0.0, 0.0, 1}, 4},          /* Nesterov */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (run_case(&cases[i])) return 1;
    /* The defaults declared by adamw are the issue's: lr 3e-4, betas 0.9/0.999, eps 1e-8, wd 0. */
    mb_pvalue d[5];
    mb_method_defaults(&mb_method_adamw, d);
    CHECK(d[0].num == 3e-4 && d[1].num == 0.9 && d[2].num == 0.999 && d[3].num == 1e-8 &&
              d[4].num == 0.0,
          "adamw defaults");
    CHECK_DONE();
}
