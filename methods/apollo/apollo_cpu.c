/* methods/apollo/apollo_cpu.c — APOLLO's scaled update on the CPU (channel norms, norm-growth
 * limiter; sums in a fixed order): the cpu-f32 and cpu-f64 tables. The kernel text (after #else) is
 * compiled once per element type, with REAL and SFX defined (engine/cpu/real.h). */
#ifndef REAL
#include "../../engine/cpu/real.h"
#include "apollo_kernels.h"

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

const mb_apollo_kernels mb_apollo_cpu_f32 = {.apollo_update = apollo_update_f32};
const mb_apollo_kernels mb_apollo_cpu_f64 = {.apollo_update = apollo_update_f64};

#else

static void SFX(apollo_update)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_,
                               void *master MB_UNUSED, const void *R_, const void *N_, size_t m,
                               size_t n, size_t rows, size_t cols, int axis, int front, double k,
                               void *lim_state, double step, double decay, void *s_scratch) {
    REAL *p = p_, *sc = s_scratch, *q = lim_state;
    const REAL *g = g_, *R = R_, *N = N_;
    size_t ns = axis == 1 ? rows : axis == 0 ? cols : 1;
    for (size_t c = 0; c < ns; c++) {
        double nn = 0, rr = 0;
        size_t len = axis == 1 ? cols : axis == 0 ? rows : rows * cols;
        size_t at = axis == 1 ? c * cols : c, st = axis == 0 ? cols : 1;
        for (size_t e = 0; e < len; e++) {
            double a = N[at + e * st], b = R[at + e * st];
            nn += a * a;
            rr += b * b;
        }
        sc[c] = (REAL)(sqrt(nn) / (sqrt(rr) + 1e-8));
    }
    double front_k = front ? k : 1.0, uu = 0;
    for (size_t i = 0; i < m * n; i++) {
        double s = sc[axis == 1 ? i / n : axis == 0 ? i % n : 0];
        double u = (double)g[i] * s * front_k;
        uu += u * u;
    }
    double lim = 1.0;
    if (q) {
        double a = sqrt(uu);
        if (*q >= 0) lim = fmax(a / ((double)*q + 1e-8), 1.01) / 1.01;
        *q = (REAL)(a / lim);
    }
    const double f = step * (front ? 1.0 : k) / lim * front_k;
    for (size_t i = 0; i < m * n; i++) {
        double s = sc[axis == 1 ? i / n : axis == 0 ? i % n : 0];
        p[i] = (REAL)(((double)p[i] - f * ((double)g[i] * s)) * decay);
    }
}

#endif
