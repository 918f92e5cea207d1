/* methods/projection/projection_cpu.c — the Adam direction GaLore and APOLLO share, on the CPU: the
 * cpu-f32 and cpu-f64 tables. The kernel text (after #else) is compiled once per element type, with
 * REAL and SFX defined (engine/cpu/real.h). */
#ifndef REAL
#include "../../engine/cpu/real.h"
#include "projection_kernels.h"

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

const mb_projection_kernels mb_projection_cpu_f32 = {.adam_dir = adam_dir_f32};
const mb_projection_kernels mb_projection_cpu_f64 = {.adam_dir = adam_dir_f64};

#else

static void SFX(adam_dir)(struct mb_ctx *ctx MB_UNUSED, const void *x_, void *out_, void *m_,
                          void *v_, size_t n, double b1, double b2, double eps) {
    const REAL *x = x_;
    REAL *out = out_, *m = m_, *v = v_;
    const REAL rb1 = (REAL)b1, rb2 = (REAL)b2, w1 = (REAL)(1.0 - b1), w2 = (REAL)(1.0 - b2),
               e = (REAL)eps;
    for (size_t i = 0; i < n; i++) {
        REAL xi = x[i];
        m[i] = rb1 * m[i] + w1 * xi;
        v[i] = rb2 * v[i] + w2 * xi * xi;
        out[i] = m[i] / (SFX(sqrt)(v[i]) + e);
    }
}

#endif
