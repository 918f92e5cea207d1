/* methods/apollo/apollo_kernels.h — APOLLO's (and APOLLO-Mini's)'s kernel table, one per backend:
 * apollo_cpu.c (cpu-f32, cpu-f64) and apollo.cu (cuda-f32, also cuda-tf32's, and cuda-bf16).
 * Semantics as in engine/backend.h: every kernel takes the context first and is asynchronous on a
 * GPU. */
#ifndef MB_APOLLO_KERNELS_H
#define MB_APOLLO_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_apollo_kernels {
    /* APOLLO's update of p[m,n] (dtype; master as the core table's axpy_decay: the fp32 copy
     * under mixed precision) from its raw gradient g (dtype) and R, N [rows, cols] (sdtype): the
     * projected gradient and its Adam direction. The scaling factor s:
     * axis 1: s_i = |N[i,:]| / (|R[i,:]| + 1e-8) per row (rows == m: g's row i is scaled by s_i);
     * axis 0: per column (cols == n: g's column j by s_j); axis -1: one s = |N|_F / (|R|_F + 1e-8).
     * u = g * s * (front ? k : 1). Norm-growth limiter when lim_state is not NULL (one sdtype
     * value, negative before the first step): a = |u|; with a previous value q,
     * lim = max(a / (q + 1e-8), 1.01) / 1.01, else lim = 1; lim_state = a / lim. Then
     * w = (w - step * (front ? 1 : k) / lim * u) * decay. Norms are fp64 sums in a fixed order;
     * s_scratch holds max(rows, cols) sdtype. */
    void (*apollo_update)(struct mb_ctx *ctx, void *p, const void *g, void *master, const void *R,
                          const void *N, size_t m, size_t n, size_t rows, size_t cols, int axis,
                          int front, double k, void *lim_state, double step, double decay,
                          void *s_scratch);
} mb_apollo_kernels;

extern const mb_apollo_kernels mb_apollo_cpu_f32;
extern const mb_apollo_kernels mb_apollo_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_apollo_kernels mb_apollo_cuda_f32;
extern const mb_apollo_kernels mb_apollo_cuda_bf16;
#endif

/* The table for backend be (apollo.c); NULL where it has none. */
const mb_apollo_kernels *mb_apollo_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
