/* methods/cce/cce_cpu.c — Cut Cross-Entropy's per-chunk kernels on the CPU: the online
 * log-sum-exp over vocabulary chunks and the chunk's logit gradient; the cpu-f32 and cpu-f64
 * tables. The kernel text (after #else) is compiled once per element type, with REAL and SFX
 * defined (engine/cpu/real.h). */
#ifndef REAL
#include <stdint.h>

#include "../../engine/cpu/real.h"
#include "cce_kernels.h"

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

#define MB_CCE_CPU_TABLE(sfx)                                                                      \
    {                                                                                              \
        .cce_lse_chunk = cce_lse_chunk_##sfx, .cce_lse_end = cce_lse_end_##sfx,                    \
        .cce_grad_chunk = cce_grad_chunk_##sfx,                                                    \
    }
const mb_cce_kernels mb_cce_cpu_f32 = MB_CCE_CPU_TABLE(f32);
const mb_cce_kernels mb_cce_cpu_f64 = MB_CCE_CPU_TABLE(f64);

#else

static void SFX(cce_lse_chunk)(struct mb_ctx *ctx MB_UNUSED, const void *z_, int N, int n, int ldz,
                               int v0, const int32_t *targets, void *mx_, void *sum_, void *losses_,
                               int first) {
    const REAL *z = z_;
    REAL *mx = mx_, *sum = sum_, *losses = losses_;
#pragma omp parallel for if ((size_t)N * n >= MB_PAR_MIN_WORK)
    for (int i = 0; i < N; i++) {
        const REAL *r = z + (size_t)i * ldz;
        REAL m = first ? -INFINITY : mx[i], s = first ? 0 : sum[i], cm = -INFINITY;
        for (int j = 0; j < n; j++) cm = SFX(fmax)(cm, r[j]);
        REAL nm = SFX(fmax)(m, cm), acc = 0;
        for (int j = 0; j < n; j++) acc += SFX(exp)(r[j] - nm);
        sum[i] = (first ? 0 : s * SFX(exp)(m - nm)) + acc;
        mx[i] = nm;
        int t = targets[i] - v0;
        if (t >= 0 && t < n) losses[i] = r[t];
    }
}

static void SFX(cce_lse_end)(struct mb_ctx *ctx MB_UNUSED, void *mx_, const void *sum_,
                             void *losses_, const int32_t *targets, int N) {
    REAL *mx = mx_, *losses = losses_;
    const REAL *sum = sum_;
    for (int i = 0; i < N; i++) {
        mx[i] += SFX(log)(sum[i]);
        losses[i] = targets[i] >= 0 ? mx[i] - losses[i] : 0;
    }
}

static void SFX(cce_grad_chunk)(struct mb_ctx *ctx MB_UNUSED, void *z_, int N, int n, int ldz,
                                int v0, const int32_t *targets, const void *lse_, double scale) {
    REAL *z = z_;
    const REAL *lse = lse_, sc = (REAL)scale;
#pragma omp parallel for if ((size_t)N * n >= MB_PAR_MIN_WORK)
    for (int i = 0; i < N; i++) {
        REAL *r = z + (size_t)i * ldz;
        if (targets[i] < 0) {
            for (int j = 0; j < n; j++) r[j] = 0;
            continue;
        }
        for (int j = 0; j < n; j++) {
            REAL p = SFX(exp)(r[j] - lse[i]);
            r[j] = (p - (REAL)(v0 + j == targets[i])) * sc;
        }
    }
}

#endif
