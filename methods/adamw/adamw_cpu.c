/* methods/adamw/adamw_cpu.c — AdamW on the CPU: the cpu-f32 and cpu-f64 tables. The kernel text
 * (after #else) is compiled once per element type, with REAL and SFX defined (engine/cpu/real.h).
 */
#ifndef REAL
#include "../../engine/cpu/real.h"
#include "adamw_kernels.h"

#define REAL float
#define SFX(name) name##_f32
#include __FILE__
#undef REAL
#undef SFX
#define REAL double
#define SFX(name) name##_f64
#include __FILE__
#undef REAL
#undef SFX

const mb_adamw_kernels mb_adamw_cpu_f32 = {.adamw = adamw_f32, .adamw_many = adamw_many_f32};
const mb_adamw_kernels mb_adamw_cpu_f64 = {.adamw = adamw_f64, .adamw_many = adamw_many_f64};

#else

static void SFX(adamw)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_, void *m_, void *v_,
                       void *master MB_UNUSED, size_t n, double lr, double beta1, double beta2,
                       double eps, double wd, double bc1, double bc2) {
    REAL *p = p_, *m = m_, *v = v_;
    const REAL *g = g_;
    REAL decay = (REAL)(1.0 - lr * wd), w1 = (REAL)(1.0 - beta1), b2 = (REAL)beta2,
         w2 = (REAL)(1.0 - beta2), step = (REAL)(lr / bc1), bc2s = (REAL)sqrt(bc2), e = (REAL)eps;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] += w1 * (g[i] - m[i]);
        v[i] = v[i] * b2 + w2 * g[i] * g[i];
        REAL denom = SFX(sqrt)(v[i]) / bc2s + e;
        p[i] -= step * (m[i] / denom);
    }
}

/* One tensor at a time: the bits of n adamw calls. */
static void SFX(adamw_many)(struct mb_ctx *ctx, const mb_adamw_tensor *t, int n, double lr,
                            double beta1, double beta2, double eps, double wd) {
    for (int i = 0; i < n; i++) {
        const mb_adamw_tensor *x = &t[i];
        (SFX(adamw))(ctx, x->p, x->g, x->m, x->v, x->master, x->n, lr, beta1, beta2, eps, wd,
                     x->bc1, x->bc2);
    }
}

#endif
