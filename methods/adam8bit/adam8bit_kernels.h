/* methods/adam8bit/adam8bit_kernels.h — 8-bit Adam's kernel table, one per backend: adam8bit_cpu.c
 * (cpu-f32, cpu-f64) and adam8bit.cu (cuda-f32, also cuda-tf32's, and cuda-bf16). Semantics as in
 * engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_ADAM8BIT_KERNELS_H
#define MB_ADAM8BIT_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_ADAM8_BLOCK 256 /* elements per absmax in adam8bit (bitsandbytes' BLOCKSIZE_2STATE) */

typedef struct mb_adam8bit_kernels {
    /* Adam as bitsandbytes' Adam8bit computes it (kOptimizerStatic8bit2StateBlockwise, blocks of
     * MB_ADAM8_BLOCK). With absmax1/absmax2: s1 and s2 are uint8 codes into map1 (signed) and map2
     * (unsigned), one absmax per block. Per element with a finite g: m = map1[s1]*absmax1,
     * v = map2[s2]*absmax2; v = v*b2 + (1-b2)*g*g; m = m*b1 + (1-b1)*g; p += step * m/(sqrt(v) +
     * c2*eps) with step = -lr*c2/c1; then p *= 1 - lr*wd when wd > 0 (a non-finite g zeroes m and
     * v and leaves p). absmax becomes the block's max |m|, |v|; codes are re-found by
     * mb_dynmap_code on m/absmax1, v/absmax2, and an m code whose value has the wrong sign moves
     * one step toward m's. Without absmax (NULL): s1, s2 are sdtype m and v (bitsandbytes' 32-bit
     * path for small tensors), same update. c1 = 1 - b1^t, c2 = sqrt(1 - b2^t). p and g in dtype,
     * master in sdtype (NULL unless dtype != sdtype; then the update runs on master and p gets
     * master rounded). */
    void (*adam8bit)(struct mb_ctx *ctx, void *p, const void *g, void *s1, void *s2, float *absmax1,
                     float *absmax2, void *master, size_t n, const float *map1, const float *map2,
                     double lr, double beta1, double beta2, double eps, double wd, double c1,
                     double c2);
} mb_adam8bit_kernels;

extern const mb_adam8bit_kernels mb_adam8bit_cpu_f32;
extern const mb_adam8bit_kernels mb_adam8bit_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_adam8bit_kernels mb_adam8bit_cuda_f32;
extern const mb_adam8bit_kernels mb_adam8bit_cuda_bf16;
#endif

/* The table for backend be (adam8bit.c); NULL where it has none. */
const mb_adam8bit_kernels *mb_adam8bit_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
