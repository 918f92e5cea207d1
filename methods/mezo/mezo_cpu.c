/* methods/mezo/mezo_cpu.c — MeZO's seeded update on the CPU: normals regenerated from the Philox
 * stream (engine/philox.h, the text the GPU runs), never stored; the cpu-f32 and cpu-f64 tables.
 * The kernel text (after #else) is compiled once per element type, with REAL and SFX defined
 * (engine/cpu/real.h). */
#ifndef REAL
#include <stdint.h>

#include "../../engine/cpu/real.h"
#include "../../engine/philox.h"
#include "mezo_kernels.h"

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

const mb_mezo_kernels mb_mezo_cpu_f32 = {.zo_axpy = zo_axpy_f32};
const mb_mezo_kernels mb_mezo_cpu_f64 = {.zo_axpy = zo_axpy_f64};

#else

static void SFX(zo_axpy)(struct mb_ctx *ctx MB_UNUSED, void *p_, void *master MB_UNUSED, size_t n,
                         uint64_t seed, uint32_t stream, uint64_t first, double alpha,
                         double decay) {
    REAL *p = p_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t j = 0; j < n; j++) {
        uint64_t idx = first + j;
        uint32_t w[4];
        double z[2];
        mb_philox_block(seed, stream, idx / 2, w);
        mb_philox_box_muller(w, &z[0], &z[1]);
        p[j] = (REAL)((double)p[j] * decay + alpha * z[idx % 2]);
    }
}

#endif
