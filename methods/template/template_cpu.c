/* methods/template/template_cpu.c — signSGD on the CPU: the cpu-f32 and cpu-f64 tables. The kernel
 * text (after #else) is compiled once per element type with REAL and SFX set (engine/cpu/real.h).
 */
#ifndef REAL
#include "../../engine/cpu/real.h"
#include "template_kernels.h"

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

const mb_template_kernels mb_template_cpu_f32 = {.sign_step = sign_step_f32};
const mb_template_kernels mb_template_cpu_f64 = {.sign_step = sign_step_f64};

#else

static void SFX(sign_step)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_,
                           void *master MB_UNUSED, size_t n, double lr) {
    REAL *p = p_, a = (REAL)lr;
    const REAL *g = g_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) p[i] -= a * (REAL)((g[i] > 0) - (g[i] < 0));
}

#endif
