/* methods/adam_mini/adam_mini_cpu.c — Adam-mini on the CPU: the cpu-f32 and cpu-f64 tables. The
 * kernel text (after #else) is compiled once per element type, with REAL and SFX defined
 * (engine/cpu/real.h). */
#ifndef REAL
#include "../../engine/cpu/real.h"
#include "adam_mini_kernels.h"

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

const mb_adam_mini_kernels mb_adam_mini_cpu_f32 = {.adam_mini = adam_mini_f32};
const mb_adam_mini_kernels mb_adam_mini_cpu_f64 = {.adam_mini = adam_mini_f64};

#else

static void SFX(adam_mini)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_, void *m_,
                           void *v_, void *master MB_UNUSED, size_t n, size_t block, double lr,
                           double beta1, double beta2, double eps, double wd, double bc1,
                           double bc2) {
    REAL *p = p_, *m = m_, *v = v_;
    const REAL *g = g_;
    REAL decay = (REAL)(1.0 - lr * wd), w1 = (REAL)(1.0 - beta1), step = (REAL)(lr / bc1),
         bc2s = (REAL)sqrt(bc2), e = (REAL)eps;
    size_t nb = n / block;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t k = 0; k < nb; k++) {
        const REAL *gk = g + k * block;
        double a = 0;
        for (size_t i = 0; i < block; i++) a += (double)gk[i] * gk[i];
        v[k] = (REAL)(beta2 * v[k] + (1.0 - beta2) * (a / (double)block));
        REAL denom = SFX(sqrt)(v[k]) / bc2s + e;
        for (size_t i = k * block; i < (k + 1) * block; i++) {
            p[i] *= decay;
            m[i] += w1 * (g[i] - m[i]);
            p[i] -= step * (m[i] / denom);
        }
    }
}

#endif
