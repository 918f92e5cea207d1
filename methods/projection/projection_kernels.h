/* methods/projection/projection_kernels.h — The shared half of GaLore and APOLLO's kernel table,
 * one per backend: projection_cpu.c (cpu-f32, cpu-f64) and projection.cu (cuda-f32, also
 * cuda-tf32's, and cuda-bf16). Semantics as in engine/backend.h: every kernel takes the context
 * first and is asynchronous on a GPU. */
#ifndef MB_PROJECTION_KERNELS_H
#define MB_PROJECTION_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_projection_kernels {
    /* Hugging Face AdamW's direction over n elements, every operand in sdtype:
     * m = b1*m + (1-b1)*x; v = b2*v + (1-b2)*x*x; out = m / (sqrt(v) + eps) (no bias correction).
     * out may be x. */
    void (*adam_dir)(struct mb_ctx *ctx, const void *x, void *out, void *m, void *v, size_t n,
                     double b1, double b2, double eps);
} mb_projection_kernels;

extern const mb_projection_kernels mb_projection_cpu_f32;
extern const mb_projection_kernels mb_projection_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_projection_kernels mb_projection_cuda_f32;
extern const mb_projection_kernels mb_projection_cuda_bf16;
#endif

/* The table for backend be (projection.c); NULL where it has none. */
const mb_projection_kernels *mb_projection_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
