/* methods/mesa/mesa_kernels.h — Mesa's kernel table, the 8-bit activation codec, one per backend:
 * mesa_cpu.c (cpu-f32, cpu-f64) and mesa.cu (cuda-f32, also cuda-tf32's, and cuda-bf16). Semantics
 * as in engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_MESA_KERNELS_H
#define MB_MESA_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The arithmetic in methods/mesa/q8.h: element i of x[n] (dtype) is in group (i / inner) % G; st
 * (device, fp32) holds clip[G], shift[G], min[G], max[G]. With tri > 0 the entries above the
 * diagonals of x's tri x tri matrices (mb_q8_skip) are ignored, coded 0 and decoded as 0. */
typedef struct mb_mesa_kernels {
    /* Measures each group's min and max and moves [shift, shift + clip] toward them (mb_q8_ema);
     * min and max are left at +inf and -inf, where the next call starts. */
    void (*q8_range)(struct mb_ctx *ctx, float *st, const void *x, size_t n, size_t inner, int G,
                     size_t tri, float decay, int first);
    /* q[i] = mb_q8_code(x[i], shift, 255 / clip, u_i), u_i = mb_q8_uniform(seed, stream, first,
     * i): stochastic rounding with the Philox stream. */
    void (*q8_pack)(struct mb_ctx *ctx, uint8_t *q, const void *x, const float *st, size_t n,
                    size_t inner, int G, size_t tri, uint64_t seed, uint32_t stream,
                    uint64_t first);
    /* x[i] = mb_q8_value(q[i], shift, 255 / clip), rounded to dtype. */
    void (*q8_unpack)(struct mb_ctx *ctx, void *x, const uint8_t *q, const float *st, size_t n,
                      size_t inner, int G, size_t tri);
} mb_mesa_kernels;

extern const mb_mesa_kernels mb_mesa_cpu_f32;
extern const mb_mesa_kernels mb_mesa_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_mesa_kernels mb_mesa_cuda_f32;
extern const mb_mesa_kernels mb_mesa_cuda_bf16;
#endif

/* The table for backend be (mesa.c); NULL where it has none. */
const mb_mesa_kernels *mb_mesa_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
