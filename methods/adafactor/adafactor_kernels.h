/* methods/adafactor/adafactor_kernels.h — Adafactor's kernel table, one per backend:
 * adafactor_cpu.c (cpu-f32, cpu-f64) and adafactor.cu (cuda-f32, also cuda-tf32's, and cuda-bf16).
 * Semantics as in engine/backend.h: every kernel takes the context first and is asynchronous on a
 * GPU. */
#ifndef MB_ADAFACTOR_KERNELS_H
#define MB_ADAFACTOR_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_adafactor_kernels {
    /* Adafactor as torch.optim.Adafactor (_single_tensor_adafactor) computes it, p viewed as
     * rows x cols. cols > 1: row[rows] and col[cols] are EMAs of the mean of g^2 along each row
     * and each column (lerp weight w = t^beta2_decay), Vhat = row (x) col / max(mean(row), eps1);
     * cols == 1: row[rows] is the EMA of g^2 itself and Vhat = row (col unused). Then
     * alpha = max(eps2, RMS(p)) * rho with p before the decay; p *= 1 - lr*wd;
     * U = g * rsqrt(max(Vhat, eps1^2)); p -= alpha / max(1, RMS(U)/d) * U. Reductions run in fp64
     * in a fixed order. p and g in dtype; row, col and master in sdtype (master: NULL unless
     * dtype != sdtype; then the update runs on master and p gets master rounded). */
    void (*adafactor)(struct mb_ctx *ctx, void *p, const void *g, void *row, void *col,
                      void *master, size_t rows, size_t cols, double w, double rho, double eps1,
                      double eps2, double d, double lr, double wd);
} mb_adafactor_kernels;

extern const mb_adafactor_kernels mb_adafactor_cpu_f32;
extern const mb_adafactor_kernels mb_adafactor_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_adafactor_kernels mb_adafactor_cuda_f32;
extern const mb_adafactor_kernels mb_adafactor_cuda_bf16;
#endif

/* The table for backend be (adafactor.c); NULL where it has none. */
const mb_adafactor_kernels *mb_adafactor_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
