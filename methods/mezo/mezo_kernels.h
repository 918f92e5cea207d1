/* methods/mezo/mezo_kernels.h — MeZO's kernel table, one per backend: mezo_cpu.c (cpu-f32,
 * cpu-f64) and mezo.cu (cuda-f32, also cuda-tf32's, and cuda-bf16). Semantics as in
 * engine/backend.h: every kernel takes the context first and is asynchronous on a GPU. */
#ifndef MB_MEZO_KERNELS_H
#define MB_MEZO_KERNELS_H

#include "../../engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_mezo_kernels {
    /* w = w * decay + alpha * z_j over n elements, z_j the standard normal first + j of stream
     * `stream` under `seed` (mb_rng_normal's value, regenerated here from engine/philox.h, never
     * stored); the arithmetic in fp64, w rounded once. w = master when given (then p = w rounded
     * to dtype), else p. */
    void (*zo_axpy)(struct mb_ctx *ctx, void *p, void *master, size_t n, uint64_t seed,
                    uint32_t stream, uint64_t first, double alpha, double decay);
} mb_mezo_kernels;

extern const mb_mezo_kernels mb_mezo_cpu_f32;
extern const mb_mezo_kernels mb_mezo_cpu_f64;
#ifdef MB_HAVE_CUDA
extern const mb_mezo_kernels mb_mezo_cuda_f32;
extern const mb_mezo_kernels mb_mezo_cuda_bf16;
#endif

/* The table for backend be (mezo.c); NULL where it has none. */
const mb_mezo_kernels *mb_mezo_kernels_of(const mb_backend *be);

#ifdef __cplusplus
}
#endif

#endif
