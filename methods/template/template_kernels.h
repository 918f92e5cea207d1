/* methods/template/template_kernels.h — the template's kernel table, one per backend it supports:
 * template_cpu.c (cpu-f32, cpu-f64) and, where nvcc is found, template.cu (cuda-f32, cuda-bf16). */
#ifndef MB_TEMPLATE_KERNELS_H
#define MB_TEMPLATE_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_template_kernels {
    /* signSGD over n elements: w -= lr * sign(g), sign(0) = 0. p and g in dtype; master (sdtype)
     * is NULL unless the backend is mixed precision, then the update runs on master and p gets it
     * rounded. */
    void (*sign_step)(struct mb_ctx *ctx, void *p, const void *g, void *master, size_t n,
                      double lr);
} mb_template_kernels;

extern const mb_template_kernels mb_template_cpu_f32;
extern const mb_template_kernels mb_template_cpu_f64;
#ifdef MB_TEMPLATE_CUDA
extern const mb_template_kernels mb_template_cuda_f32;
extern const mb_template_kernels mb_template_cuda_bf16;
#endif

#ifdef __cplusplus
}
#endif

#endif
