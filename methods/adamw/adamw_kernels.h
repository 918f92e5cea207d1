/* methods/adamw/adamw_kernels.h — AdamW's kernel table, one per backend: adamw_cpu.c (cpu-f32,
 * cpu-f64) and adamw.cu (cuda-f32, also cuda-tf32's, and cuda-bf16). Semantics as in
 * engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_ADAMW_KERNELS_H
#define MB_ADAMW_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor of a multi-tensor AdamW update (adamw_many): buffers as adamw's, with this tensor's
 * own bias corrections (parameters may have taken different numbers of updates). */
typedef struct mb_adamw_tensor {
    void *p;
    const void *g;
    void *m, *v, *master;
    size_t n;
    double bc1, bc2;
} mb_adamw_tensor;

/* p and g in dtype; m, v and master in sdtype. master is NULL unless dtype != sdtype; then the
 * update runs on master and p gets master rounded. */
typedef struct mb_adamw_kernels {
    /* AdamW as torch.optim.AdamW (foreach=False) computes it: p *= 1 - lr*wd; m = lerp(m, g, 1-b1);
     * v = b2*v + (1-b2)*g*g; p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps), bc_i = 1 - b_i^t. */
    void (*adamw)(struct mb_ctx *ctx, void *p, const void *g, void *m, void *v, void *master,
                  size_t n, double lr, double beta1, double beta2, double eps, double wd,
                  double bc1, double bc2);
    /* adamw on each of n tensors, as n calls of adamw would (the same arithmetic per element); on
     * CUDA up to 224 tensors a launch */
    void (*adamw_many)(struct mb_ctx *ctx, const mb_adamw_tensor *t, int n, double lr, double beta1,
                       double beta2, double eps, double wd);
} mb_adamw_kernels;

extern const mb_adamw_kernels mb_adamw_cpu_f32;
extern const mb_adamw_kernels mb_adamw_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_adamw_kernels mb_adamw_cuda_f32;
extern const mb_adamw_kernels mb_adamw_cuda_bf16;
#endif

/* The table for backend be (adamw.c); NULL where it has none. galore and apollo take it too. */
const mb_adamw_kernels *mb_adamw_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
