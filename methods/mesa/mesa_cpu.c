/* methods/mesa/mesa_cpu.c — the 8-bit activation codec (Mesa) on the CPU, with methods/mesa/q8.h's
 * arithmetic (the text the GPU runs); st holds clip[G], shift[G], min[G], max[G] as floats
 * (mesa_kernels.h). The cpu-f32 and cpu-f64 tables: the kernel text (after #else) is compiled once
 * per element type, with REAL and SFX defined (engine/cpu/real.h). */
#ifndef REAL
#include <stdint.h>

#include "../../engine/cpu/real.h"
#include "q8.h"
#include "mesa_kernels.h"

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

#define MB_MESA_CPU_TABLE(sfx)                                                                     \
    { .q8_range = q8_range_##sfx, .q8_pack = q8_pack_##sfx, .q8_unpack = q8_unpack_##sfx }
const mb_mesa_kernels mb_mesa_cpu_f32 = MB_MESA_CPU_TABLE(f32);
const mb_mesa_kernels mb_mesa_cpu_f64 = MB_MESA_CPU_TABLE(f64);

#else

static void SFX(q8_range)(struct mb_ctx *ctx MB_UNUSED, float *st, const void *x_, size_t n,
                          size_t inner, int G, size_t tri, float decay, int first) {
    const REAL *x = x_;
    float *clip = st, *shift = st + G, *mn = st + 2 * G, *mx = st + 3 * G;
    for (size_t i = 0; i < n; i++) {
        if (mb_q8_skip(i, tri)) continue;
        int g = mb_q8_group(i, inner, G);
        float v = (float)x[i] + 0.0f; /* -0 as +0, as the GPU's atomics see it */
        if (v < mn[g]) mn[g] = v;
        if (v > mx[g]) mx[g] = v;
    }
    for (int g = 0; g < G; g++) {
        mb_q8_ema(&clip[g], &shift[g], mn[g], mx[g], decay, first);
        mn[g] = INFINITY;
        mx[g] = -INFINITY;
    }
}

static void SFX(q8_pack)(struct mb_ctx *ctx MB_UNUSED, uint8_t *q, const void *x_, const float *st,
                         size_t n, size_t inner, int G, size_t tri, uint64_t seed, uint32_t stream,
                         uint64_t first) {
    const REAL *x = x_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        int g = mb_q8_group(i, inner, G);
        if (mb_q8_skip(i, tri)) {
            q[i] = 0;
            continue;
        }
        q[i] = mb_q8_code((float)x[i], st[G + g], mb_q8_scale(st[g]),
                          mb_q8_uniform(seed, stream, first, i));
    }
}

static void SFX(q8_unpack)(struct mb_ctx *ctx MB_UNUSED, void *x_, const uint8_t *q,
                           const float *st, size_t n, size_t inner, int G, size_t tri) {
    REAL *x = x_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t i = 0; i < n; i++) {
        int g = mb_q8_group(i, inner, G);
        x[i] = mb_q8_skip(i, tri) ? 0 : (REAL)mb_q8_value(q[i], st[G + g], mb_q8_step(st[g]));
    }
}

#endif
