/* methods/sgd/sgd_cpu.c — SGD on the CPU: the cpu-f32 and cpu-f64 tables. The kernel text (after
 * #else) is compiled once per element type, with REAL and SFX defined (engine/cpu/real.h). */
#ifndef REAL
#include "../../engine/cpu/real.h"
#include "sgd_kernels.h"

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

const mb_sgd_kernels mb_sgd_cpu_f32 = {.sgd = sgd_f32};
const mb_sgd_kernels mb_sgd_cpu_f64 = {.sgd = sgd_f64};

#else

static void SFX(sgd)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_, void *buf_,
                     void *master MB_UNUSED, size_t n, double lr, double momentum, double dampening,
                     double wd, int nesterov, int first) {
    REAL *p = p_, *buf = buf_;
    const REAL *g = g_;
    REAL mu = (REAL)momentum, damp = (REAL)(1.0 - dampening), w = (REAL)wd, a = (REAL)lr;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        REAL d = g[i];
        if (w != 0) d += w * p[i];
        if (buf) {
            buf[i] = first ? d : mu * buf[i] + damp * d;
            d = nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= a * d;
    }
}

#endif
