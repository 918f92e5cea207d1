/* tests/test_optim.c — adamw and sgd against independent fp64 implementations of their update rules
 * (3 steps on random gradients; max abs error < 1e-6), and predict_bytes against measured optimizer
 * bytes (adamw: 8 bytes per trainable fp32 parameter; sgd: 4 with momentum, 0 without); adafactor
 * likewise over 5 steps against torch.optim.Adafactor's formulas, per tensor; lomo against SGD done
 * by hand, with its gradient peak. */
#include <stdlib.h>

#include "../engine/train.h"
#include "check.h"
#include "opt_fixture.h"

extern const mb_method mb_method_adamw, mb_method_sgd, mb_method_adafactor, mb_method_lomo,
    mb_method_adam_mini;

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

/* fp64 Adafactor on one tensor of rows x cols (cols 1: a vector), torch's _single_tensor_adafactor:
 * rho = min(lr, t^-1/2); alpha = max(eps2, RMS(p)) rho; p *= 1 - lr wd;
 * matrix: R = lerp(R, rowmean(g^2), t^decay), C = lerp(C, colmean(g^2), t^decay),
 *         V = R C^T / max(mean(R), eps1);  vector: V = lerp(V, g^2, t^decay);
 * U = g / sqrt(max(V, eps1^2)); p -= alpha / max(1, RMS(U)/d) U. */
static void ref_adafactor(double *p, double *R, double *C, const double *g, size_t rows,
                          size_t cols, int t, const double *v) {
    double lr = v[0], decay = v[1], eps1 = v[2] > 0 ? v[2] : 0x1p-23, eps2 = v[3], d = v[4],
           wd = v[5], n = (double)(rows * cols), w = pow(t, decay);
    double rho = fmin(lr, 1 / sqrt((double)t)), sp = 0;
    for (size_t i = 0; i < rows * cols; i++) sp += p[i] * p[i];
    double alpha = fmax(eps2, sqrt(sp / n)) * rho;
    for (size_t i = 0; i < rows * cols; i++) p[i] *= 1 - lr * wd;
    double *V = malloc(rows * cols * sizeof *V), su = 0;
    if (cols > 1) {
        double rm = 0;
        for (size_t r = 0; r < rows; r++) {
            double a = 0;
            for (size_t c = 0; c < cols; c++) a += g[r * cols + c] * g[r * cols + c];
            R[r] = R[r] + w * (a / cols - R[r]);
            rm += R[r] / rows;
        }
        for (size_t c = 0; c < cols; c++) {
            double a = 0;
            for (size_t r = 0; r < rows; r++) a += g[r * cols + c] * g[r * cols + c];
            C[c] = C[c] + w * (a / rows - C[c]);
        }
        for (size_t i = 0; i < rows * cols; i++) V[i] = R[i / cols] * C[i % cols] / fmax(rm, eps1);
    } else {
        for (size_t i = 0; i < rows; i++) V[i] = R[i] = R[i] + w * (g[i] * g[i] - R[i]);
    }
    for (size_t i = 0; i < rows * cols; i++) {
        V[i] = g[i] / sqrt(fmax(V[i], eps1 * eps1));
        su += V[i] * V[i];
    }
    double den = fmax(1.0, sqrt(su / n) / d);
    for (size_t i = 0; i < rows * cols; i++) p[i] -= alpha / den * V[i];
    free(V);
}

/* 5 Adafactor steps on gpt-nano with random gradients against ref_adafactor; optimizer bytes
 * measured = predicted = 4 (rows + cols) per matrix + 4 numel per vector. */
static int run_adafactor(const double *v) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    mb_train tr;
    mb_pvalue vals[6];
    if (opt_setup(&ctx, &cfg, &m, &tr, &mb_method_adafactor, v, 6, vals)) return 1;
    double worst = 0;
    int64_t state = 0;
    for (int i = 0; i < m.nparams; i++) {
        mb_param *pr = &m.params[i];
        size_t rows = pr->ndim == 2 ? pr->shape[0] : pr->numel,
               cols = pr->ndim == 2 ? pr->shape[1] : 1;
        state += 4 * (int64_t)(rows + (cols > 1 ? cols : 0));
        double *p = malloc(pr->numel * sizeof *p), *g = malloc(pr->numel * sizeof *g);
        double *got = malloc(pr->numel * sizeof *got);
        double *R = calloc(rows, sizeof *R), *C = calloc(cols, sizeof *C);
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, pr->numel, p));
        for (int t = 1; t <= 5; t++) {
            mb_rng_fill_normal(g, pr->numel, 78, (uint32_t)(t * 1000 + i), 0, 0.0, 0.1);
            for (size_t j = 0; j < pr->numel; j++) g[j] = (float)g[j];
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &pr->g, pr->numel, g));
            CHECK_OK(&ctx, mb_method_adafactor.optimizer_step(tr.priv[0], &tr, pr));
            ref_adafactor(p, R, C, g, rows, cols, t, v);
        }
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, pr->numel, got));
        for (size_t j = 0; j < pr->numel; j++) worst = fmax(worst, fabs(got[j] - p[j]));
        free(p);
        free(g);
        free(got);
        free(R);
        free(C);
    }
    printf("adafactor (lr %g, decay %g, eps1 %g, eps2 %g, d %g, wd %g): max abs error after 5 "
           "steps %.3e; state %lld bytes\n",
           v[0], v[1], v[2], v[3], v[4], v[5], worst, (long long)state);
    CHECK(worst < TOL, "adafactor: max abs error %.3e", worst);
    return opt_finish(&ctx, &m, &tr, state);
}

/* LOMO on gpt-nano in fp64: 5 steps against a second model trained by the test itself (plain
 * forward/backward with every gradient, then p -= lr g on the host); the gradient peak is the
 * tensors in flight: the tied wte's V*C plus the MLP's weight and bias 4C^2 + 4C, not the model. */
static int run_lomo(void) {
    const double lr = 0.05;
    mb_ctx ctx, rctx;
    mb_model_config cfg;
    mb_model m, r;
    CHECK_OK(&ctx, fixture_nano(&ctx, &mb_backend_cpu_f64, 9, &cfg, &m));
    CHECK_OK(&rctx, fixture_nano(&rctx, &mb_backend_cpu_f64, 9, &cfg, &r));
    CHECK_OK(&rctx, mb_model_alloc_grads(&rctx, &r, NULL));
    mb_pvalue vals[1] = {{lr}};
    const mb_method *ms[1] = {&mb_method_lomo};
    const mb_pvalue *vs[1] = {vals};
    mb_train tr;
    CHECK_OK(&ctx, mb_train_init(&tr, &ctx, &m, ms, vs, 1, NULL, 1));
    int B = 4, T = cfg.seq_len;
    int32_t x[4 * 32], y[4 * 32];
    double *h = malloc(cfg.vocab * cfg.d_model * sizeof *h),
           *g = malloc(cfg.vocab * cfg.d_model * sizeof *g);
    double worst = 0, loss, rloss;
    for (int t = 0; t < 5; t++) {
        fixture_batch(x, y, B * T, cfg.vocab, 50 + (uint64_t)t);
        CHECK_OK(&ctx, mb_train_step(&tr, x, y, B, T, &loss));
        mb_model_zero_grads(&rctx, &r);
        CHECK_OK(&rctx, mb_model_forward(&rctx, &r, x, y, B, T, &rloss));
        CHECK_OK(&rctx, mb_model_backward(&rctx, &r));
        CHECK(loss == rloss, "step %d: loss %.17g, reference %.17g", t, loss, rloss);
        for (int i = 0; i < r.nparams; i++) {
            mb_param *p = &r.params[i];
            CHECK_OK(&rctx, mb_model_param_get(&rctx, &p->w, p->numel, h));
            CHECK_OK(&rctx, mb_model_grad_get(&rctx, &r, i, g));
            for (size_t j = 0; j < p->numel; j++) h[j] -= lr * g[j];
            CHECK_OK(&rctx, mb_model_param_set(&rctx, &p->w, p->numel, h));
        }
    }
    for (int i = 0; i < m.nparams; i++) {
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].w, m.params[i].numel, h));
        CHECK_OK(&rctx, mb_model_param_get(&rctx, &r.params[i].w, r.params[i].numel, g));
        for (size_t j = 0; j < m.params[i].numel; j++) worst = fmax(worst, fabs(h[j] - g[j]));
    }
    size_t C = (size_t)cfg.d_model, in_flight = 8 * ((size_t)cfg.vocab * C + 4 * C * C + 4 * C);
    mb_predict pred;
    mb_train_predict(&tr, B, T, &pred);
    printf("lomo: max abs difference from the reference after 5 steps %.3e; gradient peak %zu "
           "bytes (all gradients: %zu); optimizer state %zu bytes\n",
           worst, ctx.mem.peak[MB_MEM_GRADS], 8 * m.num_params, ctx.mem.peak[MB_MEM_OPTIMIZER]);
    CHECK(worst < 1e-12, "lomo: max abs difference %.3e", worst);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_GRADS], in_flight);
    CHECK_EQ_U(pred.bytes[MB_MEM_GRADS], in_flight);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_OPTIMIZER], 0);
    CHECK_EQ_U(ctx.mem.cur[MB_MEM_GRADS], 0);
    free(h);
    free(g);
    mb_train_fini(&tr);
    mb_model_destroy(&ctx, &m);
    mb_model_destroy(&rctx, &r);
    CHECK_EQ_U(ctx.mem.live, 0);
    return 0;
}

/* The test's own Adam-mini block size for element j of parameter p (zyushun/Adam-mini's GPT-2
 * partition): wte and the output-neuron matrices by row, q and k by head, v by row, biases per
 * element, everything else whole. */
static size_t mini_block(const mb_model_config *c, const mb_param *p, size_t j) {
    size_t C = (size_t)c->d_model;
    switch (p->role) {
    case MB_ROLE_EMBED:
    case MB_ROLE_ATTN_OUT:
    case MB_ROLE_MLP_UP:
    case MB_ROLE_MLP_DOWN:
        return p->shape[1];
    case MB_ROLE_ATTN_QKV:
        return j < 2 * C * C ? C * C / (size_t)c->heads : C;
    case MB_ROLE_NORM_BIAS:
    case MB_ROLE_ATTN_QKV_BIAS:
    case MB_ROLE_ATTN_OUT_BIAS:
    case MB_ROLE_MLP_UP_BIAS:
    case MB_ROLE_MLP_DOWN_BIAS:
        return 1;
    default:
        return p->numel;
    }
}

/* 5 Adam-mini steps per tensor against an fp64 reference: vb = b2 vb + (1-b2) mean_block(g^2);
 * p -= lr wd p (weights and embeddings only); m = b1 m + (1-b1) g;
 * p -= lr (m/(1-b1^t)) / (sqrt(vb/(1-b2^t)) + eps). State bytes = 4 (numel + blocks). */
static int run_adam_mini(const double *v) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    mb_train tr;
    mb_pvalue vals[5];
    if (opt_setup(&ctx, &cfg, &m, &tr, &mb_method_adam_mini, v, 5, vals)) return 1;
    double lr = v[0], b1 = v[1], b2 = v[2], eps = v[3], worst = 0;
    int64_t state = 0;
    for (int i = 0; i < m.nparams; i++) {
        mb_param *pr = &m.params[i];
        size_t n = pr->numel;
        double *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g),
               *got = malloc(n * sizeof *got);
        double *mm = calloc(n, sizeof *mm),
               *vb = calloc(n, sizeof *vb); /* vb per element's block */
        int wd_on =
            pr->role == MB_ROLE_EMBED || pr->role == MB_ROLE_POS_EMBED || (pr->is_linear && pr->ndim == 2);
        size_t blocks = 0;
        for (size_t j = 0; j < n; j += mini_block(&cfg, pr, j)) blocks++;
        state += 4 * (int64_t)(n + blocks);
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, n, p));
        for (int t = 1; t <= 5; t++) {
            mb_rng_fill_normal(g, n, 79, (uint32_t)(t * 1000 + i), 0, 0.0, 0.1);
            for (size_t j = 0; j < n; j++) g[j] = (float)g[j];
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &pr->g, n, g));
            CHECK_OK(&ctx, mb_method_adam_mini.optimizer_step(tr.priv[0], &tr, pr));
            for (size_t j = 0; j < n;) {
                size_t bs = mini_block(&cfg, pr, j);
                double a = 0;
                for (size_t k = j; k < j + bs; k++) a += g[k] * g[k];
                double vnew = b2 * vb[j] + (1 - b2) * a / bs;
                for (size_t k = j; k < j + bs; k++) {
                    vb[k] = vnew;
                    if (wd_on) p[k] -= lr * v[4] * p[k];
                    mm[k] = b1 * mm[k] + (1 - b1) * g[k];
                    p[k] -= lr * (mm[k] / (1 - pow(b1, t))) / (sqrt(vnew / (1 - pow(b2, t))) + eps);
                }
                j += bs;
            }
        }
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &pr->w, n, got));
        for (size_t j = 0; j < n; j++) worst = fmax(worst, fabs(got[j] - p[j]));
        free(p);
        free(g);
        free(got);
        free(mm);
        free(vb);
    }
    printf("adam-mini (lr %g, betas %g %g, eps %g, wd %g): max abs error after 5 steps %.3e; state "
           "%lld bytes\n",
           v[0], v[1], v[2], v[3], v[4], worst, (long long)state);
    CHECK(worst < TOL, "adam-mini: max abs error %.3e", worst);
    return opt_finish(&ctx, &m, &tr, state);
}

typedef struct opt_case {
    const mb_method *method;
    double v[5]; /* parameter values in declaration order */
    int64_t state_bytes_per_param;
} opt_case;

static int run_case(const opt_case *oc) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    mb_train tr;
    mb_pvalue vals[5];
    if (opt_setup(&ctx, &cfg, &m, &tr, oc->method, oc->v, oc->method->nparams, vals)) return 1;
    size_t P = m.num_params;
    double *p = malloc(P * sizeof *p), *s1 = calloc(P, sizeof *s1), *s2 = calloc(P, sizeof *s2);
    double *g = malloc(P * sizeof *g), *got = malloc(P * sizeof *got);
    size_t off = 0;
    for (int i = 0; i < m.nparams; i++) {
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].w, m.params[i].numel, p + off));
        off += m.params[i].numel;
    }
    for (int t = 1; t <= STEPS; t++) {
        off = 0;
        for (int i = 0; i < m.nparams; i++) {
            mb_param *pr = &m.params[i];
            double *gi = g + off;
            mb_rng_fill_normal(gi, pr->numel, 77, (uint32_t)(t * 1000 + i), 0, 0.0, 0.1);
            for (size_t j = 0; j < pr->numel; j++) gi[j] = (float)gi[j]; /* what the kernel sees */
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &pr->g, pr->numel, gi));
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
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &m.params[i].w, m.params[i].numel, got + off));
        off += m.params[i].numel;
    }
    for (size_t j = 0; j < P; j++) worst = fmax(worst, fabs(got[j] - p[j]));
    printf("%s: max abs error after %d steps %.3e over %zu parameters\n", oc->method->name, STEPS,
           worst, P);
    CHECK(worst < TOL, "%s: max abs error %.3e", oc->method->name, worst);
    free(p);
    free(s1);
    free(s2);
    free(g);
    free(got);
    return opt_finish(&ctx, &m, &tr, oc->state_bytes_per_param * (int64_t)P);
}

int main(void) {
    const opt_case cases[] = {
        {&mb_method_adamw, {3e-4, 0.9, 0.999, 1e-8, 0.0}, 8}, /* the defaults */
        {&mb_method_adamw, {1e-2, 0.8, 0.99, 1e-6, 0.1}, 8},  /* decay and large steps */
        {&mb_method_sgd, {0.1, 0.0, 0.0, 0.0, 0}, 0},         /* plain */
        {&mb_method_sgd, {0.1, 0.9, 0.1, 0.01, 0}, 4},        /* momentum, dampening, decay */
        {&mb_method_sgd, {0.05, 0.9, 0.0, 0.0, 1}, 4},        /* Nesterov */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (run_case(&cases[i])) return 1;
    const double af[][6] = {
        {1e-2, -0.8, 0, 1e-3, 1.0, 0.0},     /* torch's defaults */
        {5e-2, -0.5, 1e-30, 1e-2, 2.0, 0.1}, /* decay, a looser clip, the paper's eps1 */
    };
    for (size_t i = 0; i < sizeof af / sizeof af[0]; i++)
        if (run_adafactor(af[i])) return 1;
    if (run_lomo()) return 1;
    const double am[][5] = {{1e-3, 0.9, 0.999, 1e-8, 0.0}, {6e-4, 0.9, 0.95, 1e-8, 0.1}};
    for (size_t i = 0; i < sizeof am / sizeof am[0]; i++)
        if (run_adam_mini(am[i])) return 1;
    mb_pvalue da[6];
    mb_method_defaults(&mb_method_adafactor, da);
    CHECK(da[0].num == 1e-2 && da[1].num == -0.8 && da[2].num == 0 && da[3].num == 1e-3 &&
              da[4].num == 1.0 && da[5].num == 0.0,
          "adafactor defaults are torch.optim.Adafactor's");
    /* The defaults declared by adamw are the issue's: lr 3e-4, betas 0.9/0.999, eps 1e-8, wd 0. */
    mb_pvalue d[5];
    mb_method_defaults(&mb_method_adamw, d);
    CHECK(d[0].num == 3e-4 && d[1].num == 0.9 && d[2].num == 0.999 && d[3].num == 1e-8 &&
              d[4].num == 0.0,
          "adamw defaults");
    CHECK_DONE();
}
