/* methods/adam_mini/adam_mini_kernels.h — Adam-mini's kernel table, one per backend:
 * adam_mini_cpu.c (cpu-f32, cpu-f64) and adam_mini.cu (cuda-f32, also cuda-tf32's, and cuda-bf16).
 * Semantics as in engine/backend.h: every kernel takes the context first and is asynchronous on a
 * GPU. */
#ifndef MB_ADAM_MINI_KERNELS_H
#define MB_ADAM_MINI_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_adam_mini_kernels {
    /* Adam-mini (zyushun/Adam-mini): n elements in consecutive blocks of `block` (n % block == 0),
     * one second moment per block. p *= 1 - lr*wd; m = lerp(m, g, 1-b1) per element;
     * v[k] = b2*v[k] + (1-b2)*mean(g^2 over block k) (the mean in fp64);
     * p -= (lr/bc1) * m / (sqrt(v[k])/sqrt(bc2) + eps). p and g in dtype; m, v and master in
     * sdtype (master: NULL unless dtype != sdtype; then the update runs on master and p gets
     * master rounded). */
    void (*adam_mini)(struct mb_ctx *ctx, void *p, const void *g, void *m, void *v, void *master,
                      size_t n, size_t block, double lr, double beta1, double beta2, double eps,
                      double wd, double bc1, double bc2);
} mb_adam_mini_kernels;

extern const mb_adam_mini_kernels mb_adam_mini_cpu_f32;
extern const mb_adam_mini_kernels mb_adam_mini_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_adam_mini_kernels mb_adam_mini_cuda_f32;
extern const mb_adam_mini_kernels mb_adam_mini_cuda_bf16;
#endif

/* The table for backend be (adam_mini.c); NULL where it has none. */
const mb_adam_mini_kernels *mb_adam_mini_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
