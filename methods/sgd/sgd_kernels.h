/* methods/sgd/sgd_kernels.h — SGD's kernel table, one per backend: sgd_cpu.c (cpu-f32, cpu-f64)
 * and sgd.cu (cuda-f32, also cuda-tf32's, and cuda-bf16). lomo updates with it too. Semantics as
 * in engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_SGD_KERNELS_H
#define MB_SGD_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_sgd_kernels {
    /* SGD as torch.optim.SGD: d = g + wd*p; with momentum, buf = d on the first step, else
     * buf = momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf; p -= lr*d.
     * p and g in dtype, buf and master in sdtype; buf may be NULL when momentum == 0. master is
     * NULL unless dtype != sdtype; then the update runs on master and p gets master rounded. */
    void (*sgd)(struct mb_ctx *ctx, void *p, const void *g, void *buf, void *master, size_t n,
                double lr, double momentum, double dampening, double wd, int nesterov, int first);
} mb_sgd_kernels;

extern const mb_sgd_kernels mb_sgd_cpu_f32;
extern const mb_sgd_kernels mb_sgd_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_sgd_kernels mb_sgd_cuda_f32;
extern const mb_sgd_kernels mb_sgd_cuda_bf16;
#endif

/* The table for backend be (sgd.c); NULL where it has none. */
const mb_sgd_kernels *mb_sgd_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
