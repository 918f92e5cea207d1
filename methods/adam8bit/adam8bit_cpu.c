/* methods/adam8bit/adam8bit_cpu.c — 8-bit Adam on the CPU, the codes found with dynmap.h (the text
 * the GPU runs): the cpu-f32 and cpu-f64 tables. The kernel text (after #else) is compiled once
 * per element type, with REAL and SFX defined (engine/cpu/real.h). */
#ifndef REAL
#include <float.h>
#include <stdint.h>

#include "../../engine/cpu/real.h"
#include "../../engine/dynmap.h"
#include "adam8bit_kernels.h"

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

const mb_adam8bit_kernels mb_adam8bit_cpu_f32 = {.adam8bit = adam8bit_f32};
const mb_adam8bit_kernels mb_adam8bit_cpu_f64 = {.adam8bit = adam8bit_f64};

#else

static void SFX(adam8bit)(struct mb_ctx *ctx MB_UNUSED, void *p_, const void *g_, void *s1_,
                          void *s2_, float *absmax1, float *absmax2, void *master MB_UNUSED,
                          size_t n, const float *map1, const float *map2, double lr, double beta1,
                          double beta2, double eps, double wd, double c1, double c2) {
    REAL *p = p_;
    const REAL *g = g_;
    /* bitsandbytes' float expressions: 1 - beta in the state type, not in double */
    const REAL b1 = (REAL)beta1, b2 = (REAL)beta2, w1 = (REAL)1 - b1, w2 = (REAL)1 - b2,
               cc2 = (REAL)c2, e = (REAL)eps, lrr = (REAL)lr;
    const REAL step = -lrr * cc2 / (REAL)c1, decay = (REAL)1 - lrr * (REAL)wd;
    if (!absmax1) { /* 32-bit states */
        REAL *m = s1_, *v = s2_;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(g[i])) {
                m[i] = v[i] = 0;
                continue;
            }
            m[i] = m[i] * b1 + w1 * g[i];
            v[i] = v[i] * b2 + w2 * g[i] * g[i];
            p[i] = p[i] + step * (m[i] / (SFX(sqrt)(v[i]) + e * cc2));
            if (wd > 0) p[i] = p[i] * decay;
        }
        return;
    }
    uint8_t *q1 = s1_, *q2 = s2_;
    size_t nb = (n + MB_ADAM8_BLOCK - 1) / MB_ADAM8_BLOCK;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t b = 0; b < nb; b++) {
        REAL m[MB_ADAM8_BLOCK], v[MB_ADAM8_BLOCK];
        size_t i0 = b * MB_ADAM8_BLOCK, cnt = n - i0 < MB_ADAM8_BLOCK ? n - i0 : MB_ADAM8_BLOCK;
        REAL a1 = -FLT_MAX, a2 = -FLT_MAX;
        for (size_t j = 0; j < cnt; j++) {
            REAL gi = g[i0 + j];
            if (isfinite(gi)) {
                v[j] = (REAL)map2[q2[i0 + j]] * (REAL)absmax2[b];
                v[j] = v[j] * b2 + w2 * gi * gi;
                m[j] = (REAL)map1[q1[i0 + j]] * (REAL)absmax1[b];
                m[j] = m[j] * b1 + w1 * gi;
            } else {
                m[j] = v[j] = 0;
            }
            a1 = SFX(fmax)(a1, SFX(fabs)(m[j]));
            a2 = SFX(fmax)(a2, SFX(fabs)(v[j]));
        }
        absmax1[b] = (float)a1;
        absmax2[b] = (float)a2;
        for (size_t j = 0; j < cnt; j++) {
            size_t i = i0 + j;
            if (!isfinite(g[i])) continue;
            p[i] = p[i] + step * (m[j] / (SFX(sqrt)(v[j]) + cc2 * e));
            if (wd > 0) p[i] = p[i] * decay;
        }
        for (size_t j = 0; j < cnt; j++) {
            size_t i = i0 + j;
            uint8_t c = mb_dynmap_code(map1, 1, (float)(m[j] / a1));
            if (!signbit(map1[c]) != !signbit(m[j])) c = (uint8_t)(m[j] > 0 ? c + 1 : c - 1);
            q1[i] = c;
            q2[i] = mb_dynmap_code(map2, 0, (float)(v[j] / a2));
        }
    }
}

#endif
